"""File tools on real files: text, binary, non-UTF-8, huge, and patch ambiguity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.tools import ToolContext, run_tool
from registry import ProcessRegistry


def call(ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run_tool(name, json.dumps(args), ctx))
    return result


@pytest.fixture
def ctx(registry: ProcessRegistry, tmp_path: Path) -> ToolContext:
    return ToolContext(registry=registry, workdir=str(tmp_path))


def test_write_then_read_with_line_numbers(ctx: ToolContext, tmp_path: Path) -> None:
    written = call(
        ctx, "write_file", {"path": "sub/dir/notes.txt", "content": "alpha\nbeta\ngamma\n"}
    )
    assert written == {
        "path": str(tmp_path / "sub/dir/notes.txt"),
        "bytes_written": 17,
        "created": True,
    }
    read = call(ctx, "read_file", {"path": "sub/dir/notes.txt", "offset": 2, "limit": 1})
    assert read["content"] == "     2|beta"
    assert read["total_lines"] == 3
    assert read["showing"] == "lines 2-2 of 3"
    assert read["next_offset"] == 3
    assert (
        call(ctx, "write_file", {"path": "sub/dir/notes.txt", "content": "x"})["created"] is False
    )


def test_binary_and_non_utf8_files(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 10)
    result = call(ctx, "read_file", {"path": "blob.bin"})
    assert "binary file (2560 bytes)" in result["error"]
    (tmp_path / "latin.txt").write_bytes("café\n".encode("latin-1"))
    result = call(ctx, "read_file", {"path": "latin.txt"})
    assert result["content"] == "     1|caf\ufffd"
    assert "not valid UTF-8" in result["note"]
    patched = call(ctx, "patch", {"path": "latin.txt", "old_string": "caf", "new_string": "tea"})
    assert "not valid UTF-8" in patched["error"]
    assert (tmp_path / "latin.txt").read_bytes() == "café\n".encode("latin-1")


def test_huge_files_are_refused_and_long_reads_are_paged(ctx: ToolContext, tmp_path: Path) -> None:
    with open(tmp_path / "huge.log", "wb") as f:
        f.truncate(11 << 20)
    assert "over 10 MB" in call(ctx, "read_file", {"path": "huge.log"})["error"]
    (tmp_path / "long.txt").write_text("".join(f"line {n}\n" for n in range(2000)))
    page = call(ctx, "read_file", {"path": "long.txt"})
    assert page["showing"] == "lines 1-500 of 2000"
    assert page["truncated"] is True


def test_patch_replaces_once_and_returns_a_diff(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def main():\n    return 1\n")
    result = call(
        ctx, "patch", {"path": "app.py", "old_string": "return 1", "new_string": "return 2"}
    )
    assert result["replacements"] == 1
    assert "-    return 1\n+    return 2\n" in result["diff"]
    assert (tmp_path / "app.py").read_text() == "def main():\n    return 2\n"


def test_patch_fails_clearly_when_missing_or_ambiguous(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "dup.txt").write_text("x = 1\nx = 1\n")
    ambiguous = call(
        ctx, "patch", {"path": "dup.txt", "old_string": "x = 1", "new_string": "x = 2"}
    )
    assert "appears 2 times" in ambiguous["error"]
    missing = call(ctx, "patch", {"path": "dup.txt", "old_string": "y = 1", "new_string": "y = 2"})
    assert "was not found" in missing["error"]
    assert (tmp_path / "dup.txt").read_text() == "x = 1\nx = 1\n"
    everything = call(
        ctx,
        "patch",
        {"path": "dup.txt", "old_string": "x = 1", "new_string": "x = 2", "replace_all": True},
    )
    assert everything["replacements"] == 2
    assert (tmp_path / "dup.txt").read_text() == "x = 2\nx = 2\n"


def test_search_contents_and_names_respecting_gitignore(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("build/\n*.log\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("import os\nTODO: fix me\n")
    (tmp_path / "src" / "b.txt").write_text("nothing\nTODO later\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "c.py").write_text("TODO: generated\n")
    (tmp_path / "debug.log").write_text("TODO in a log\n")
    (tmp_path / "image.bin").write_bytes(b"TODO\x00\x01")
    result = call(ctx, "search_files", {"pattern": r"TODO\b"})
    assert result["total_count"] == 2
    assert [(Path(m["path"]).name, m["line"]) for m in result["matches"]] == [
        ("a.py", 2),
        ("b.txt", 2),
    ]
    only_py = call(ctx, "search_files", {"pattern": "TODO", "file_glob": "*.py"})
    assert [Path(m["path"]).name for m in only_py["matches"]] == ["a.py"]
    names = call(ctx, "search_files", {"pattern": "*.py", "target": "files"})
    assert [Path(p).name for p in names["files"]] == ["a.py"]
    limited = call(ctx, "search_files", {"pattern": "TODO", "limit": 1})
    assert limited["truncated"] is True
    assert "invalid regular expression" in call(ctx, "search_files", {"pattern": "("})["error"]
    assert "path not found" in call(ctx, "search_files", {"pattern": "x", "path": "nope"})["error"]


def test_search_files_from_the_command_line(tmp_path: Path, state_dir: Path) -> None:
    (tmp_path / "notes.md").write_text("needle in a haystack\n")
    env = {**os.environ, "HERMES_HOME": str(state_dir)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "hermes_tui",
            "tool",
            "search_files",
            json.dumps({"pattern": "needle", "path": str(tmp_path)}),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    result = json.loads(out)
    assert result["total_count"] == 1
    assert result["matches"][0]["content"] == "needle in a haystack"
