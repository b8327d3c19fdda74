"""The spool on disk is capped: the oldest bytes are dropped (punched out, so offsets stay
absolute), counted in bytes and lines, and reading, recovery and line numbers still work."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from registry import ProcessRegistry

LINES = 400_000  # `seq` prints about 2.7 MB: over twice the cap
CAP_MB = 1.0


@pytest.fixture(params=["local", "ssh"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def options(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    if kind == "ssh":
        return {
            **request.getfixturevalue("sshd").options(),
            "remote_root": str(tmp_path / "remote-runs"),
            "spool_cap_mb": CAP_MB,
        }
    return {"spool_cap_mb": CAP_MB}


def test_a_flood_keeps_about_the_cap_on_disk_with_absolute_lines(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    backend_options = {kind: options(kind, request, tmp_path)}
    registry = make_registry(backend_options=backend_options)
    proc = registry.spawn(f"seq 1 {LINES}", backend=kind)
    assert registry.wait(proc.id, 60).status == "exited"
    assert proc.handle is not None
    out = Path(proc.handle.run_dir) / "out"  # ssh runs on this host: same file system
    content = "".join(f"{n}\n" for n in range(1, LINES + 1)).encode()
    total = len(content)
    assert out.stat().st_size == total  # offsets stay absolute
    on_disk = out.stat().st_blocks * 512
    assert on_disk <= CAP_MB * (1 << 20) * 1.25 + (1 << 17), f"{on_disk} bytes on disk"
    dropped, dropped_lines = registry.spool_dropped(proc.id)
    assert dropped >= total - CAP_MB * (1 << 20) * 1.25
    assert dropped_lines == content[:dropped].count(b"\n")
    # The kept part reads back exactly, from its absolute offset.
    tail = registry.read_spool(proc.id, total - 7, 100)
    assert tail == f"{LINES}\n".encode()[-7:]

    # A new registry (after a restart) numbers the lines from the first line ever printed.
    registry.close()
    second = make_registry(backend_options=backend_options)
    second.recover()
    page = second.log(proc.id, limit=1)
    assert page.lines == [str(LINES)]
    assert page.first_line == LINES - 1
    # Asking for the first lines pages into the spool past what the cap punched out (never
    # reading holes as text) and says which lines are gone.
    old = second.log(proc.id, offset=0, limit=2)
    assert old.from_spool
    assert old.gone_lines == old.first_line
    assert old.first_line in (dropped_lines, dropped_lines + 1)  # a line the cap cut is skipped
    assert old.lines == [str(old.first_line + 1), str(old.first_line + 2)]
    assert os.path.exists(out)


def test_the_log_tool_says_which_lines_the_cap_dropped(
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    import json

    from hermes_tui.tools import ToolContext, run_tool

    registry = make_registry(backend_options={"local": {"spool_cap_mb": CAP_MB}})
    proc = registry.spawn(f"seq 1 {LINES}")
    assert registry.wait(proc.id, 60).status == "exited"
    ctx = ToolContext(registry=registry)
    page = json.loads(
        run_tool(
            "process",
            json.dumps({"action": "log", "session_id": proc.id, "offset": 0, "limit": 1}),
            ctx,
        )
    )
    gone = page["dropped_lines"]
    assert gone > 0 and f"lines 0-{gone - 1} are gone" in page["dropped_note"]
    assert page["output"] == str(gone + 1)
    assert page["showing"].startswith(f"lines {gone}-{gone} of {LINES}")


def test_the_spool_reader_never_reads_what_the_cap_punched_out() -> None:
    from registry.spool import spool_lines

    spool = b"\0" * 10 + b"ne 2\nline 3\nline 4\n"  # bytes 0-9 punched: lines 0-1 counted

    def read(offset: int, size: int) -> bytes:
        assert offset >= 10, "read a hole"
        return spool[offset : offset + size]

    # Line 2 was cut by the cap: the oldest whole line held is line 3.
    assert spool_lines(read, 0, 5, start=10, start_line=2) == (3, ["line 3", "line 4"])
    assert spool_lines(read, 4, 1, start=10, start_line=2) == (4, ["line 4"])
    assert spool_lines(read, 9, 1, start=10, start_line=2) is None
    assert spool_lines(lambda o, s: b"a\nb\nc\n"[o : o + s], 1, 1) == (1, ["b"])
