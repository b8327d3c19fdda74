""" "Last output": the last line a person would read, for pipes and for terminals."""

from __future__ import annotations

from pathlib import Path

from hermes_tui.widgets.last_output import LastOutput, last_line, last_lines
from registry import Process, ProcessStatus

DATA = Path(__file__).parent.parent / "app" / "data"


def proc(data: bytes, pty: bool) -> Process:
    s = Process(
        id="proc_1",
        command="x",
        argv=["x"],
        backend="local",
        workdir="",
        pty=pty,
        owner="k",
        started_at=0.0,
    )
    s.output.append(data)
    return s


def test_pipe_gives_the_last_non_empty_line_whole() -> None:
    long = "word " * 20
    s = proc(f"first\n{long}\n\n".encode(), pty=False)
    assert last_line(s) == long.strip()  # not cut to a column's first width (48)
    assert last_lines(s, 2) == ["first", long.rstrip()]


def test_progress_bar_on_a_pipe_keeps_what_follows_the_last_carriage_return() -> None:
    assert last_line(proc(b"10%\r50%\r100% done\n", pty=False)) == "100% done"


def test_terminal_program_shows_its_screen_not_escape_garbage() -> None:
    s = proc(b"$ make\r\n\x1b[1;32mok\x1b[0m \x1b[2K\rbuilding 3/4\x1b[K", pty=True)
    assert last_line(s) == "building 3/4"


def test_full_screen_program_shows_its_title_line() -> None:
    s = proc((DATA / "fullscreen.bin").read_bytes(), pty=True)
    assert last_line(s).startswith("hermes-top  load 0.42")


def test_incremental_feeding_follows_new_output() -> None:
    s = proc(b"$ ", pty=True)
    cache = LastOutput()
    assert cache.line(s) == "$"
    s.output.append(b"echo hi\r\nhi\r\n$ ")
    assert cache.line(s) == "$"  # the prompt is on the cursor's line
    s.output.append(b"sleep 5")
    assert cache.line(s) == "$ sleep 5"
    s.output.append(b"x" * (40 << 10) + b"\r\nend of flood\r\n")
    assert cache.line(s) == "end of flood"


def test_a_flood_is_looked_at_once_a_second_while_it_runs_and_again_at_its_end() -> None:
    s = proc(b"start\r\n", pty=True)
    cache = LastOutput()
    assert cache.line(s) == "start"
    s.output.append(b"y" * (8 << 10) + b"\r\nfirst flood\r\n")
    assert cache.line(s) == "first flood"
    s.output.append(b"z" * (8 << 10) + b"\r\nsecond flood\r\n")
    assert cache.line(s) == "first flood"  # within a second of the last look: not again
    s.status = ProcessStatus.EXITED
    assert cache.line(s) == "second flood"  # ended: looked at at once
