"""The app works without atroposlib; the RL environments say how to get it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_ATROPOSLIB = """
import importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "atroposlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_the_app_and_tool_context_import_without_atroposlib() -> None:
    run = _python(
        BLOCK_ATROPOSLIB
        + "import hermes_tui.cli, hermes_tui.app, hermes_tui.rl, hermes_tui.rl.harbor\n"
        + "from hermes_tui.rl import ToolContext\n"
        + "try:\n"
        + "    hermes_tui.rl.TerminalBenchEnv\n"
        + "except ImportError as exc:\n"
        + "    print(exc)\n"
    )
    assert run.returncode == 0, run.stderr
    assert "pip install 'hermes-tui[rl]'" in run.stdout


def test_importing_the_app_does_not_load_atroposlib() -> None:
    run = _python("import sys, hermes_tui.cli, hermes_tui.rl\nprint('atroposlib' in sys.modules)\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
