"""Dependency direction: hermes_tui -> registry -> backends, and no UI below hermes_tui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UI_MODULES = {"textual", "rich", "pyte"}


def test_core_imports_without_ui_or_app_modules() -> None:
    code = (
        "import sys, registry, registry.recovery, backends, backends.local, backends._follow\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'textual', 'rich', 'pyte', 'hermes_tui'})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_upward_imports_anywhere() -> None:
    forbidden = {
        "backends": UI_MODULES | {"hermes_tui", "registry"},
        "registry": UI_MODULES | {"hermes_tui"},
    }
    for package, banned in forbidden.items():
        for path in (ROOT / package).rglob("*.py"):
            assert not _imports(path) & banned, f"{path} imports {_imports(path) & banned}"


def test_the_supervisor_is_plain_posix_sh() -> None:
    script = ROOT / "backends" / "data" / "supervisor.sh"
    subprocess.run(["sh", "-n", str(script)], check=True)
    assert script.read_text().startswith("#!/bin/sh\n")
