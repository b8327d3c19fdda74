"""No work at rest: the app wakes only when something it shows changes (issue 13).

The CPU figures themselves are in ``benchmarks/key_latency.py --skip-echo``; these tests pin
the mechanisms: no timer but the minute one at rest, a list clock set only for what is due,
output marks only for rows the list shows, one-line repaints, inotify for other shells.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.timer import Timer

from backends.atomic import write_private
from hermes_tui.app import HermesApp
from hermes_tui.file_watch import watch_file
from hermes_tui.widgets.process_list import runtime_changes_in, runtime_label
from hermes_tui.widgets.quiet_table import QuietTable
from registry import Process, ProcessRegistry, ProcessStatus
from tests.app.pilot_helpers import until
from tests.fakes.backend import FakeBackend

SIZE = (140, 36)


def _proc(runtime: float, running: bool = True) -> Process:
    now = time.time()
    proc = Process(
        id="proc_1",
        command="sleep",
        argv=["sleep"],
        backend="fake",
        workdir="/",
        pty=False,
        owner="chat-1",
        started_at=now - runtime,
    )
    if not running:
        proc.status, proc.exit_code, proc.ended_at = ProcessStatus.EXITED, 0, now
    return proc


def test_runtime_label_is_coarse_while_running_and_exact_when_ended() -> None:
    cases = [
        (0.4, "0s", 0.6),
        (9.5, "9s", 0.5),
        (10.2, "10s", 9.8),
        (47.0, "40s", 3.0),
        (125.0, "2m", 55.0),
        (3599.0, "59m", 1.0),
        (7505.0, "2h05m", 55.0),
    ]
    for runtime, label, changes_in in cases:
        proc = _proc(runtime)
        now = proc.started_at + runtime
        assert runtime_label(proc, now) == label, runtime
        assert abs(runtime_changes_in(proc, now) - changes_in) < 1e-6, runtime
    ended = _proc(125.0, running=False)
    assert runtime_label(ended, time.time() + 600) == "2m05s"


def _running_timers(app: App[None]) -> list[Timer]:
    """Timers that can fire: not stopped and not paused (Textual's repaint timer waits
    paused until something is dirty)."""
    nodes = [app, *app.screen_stack, *app.screen.walk_children()]
    timers = [t for node in nodes for t in node._timers]
    return [t for t in timers if t._task is not None and t._active.is_set()]


async def test_nothing_running_leaves_only_the_minute_timer(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: not _running_timers(app)[1:], "startup timers to end")
        assert [t._interval for t in _running_timers(app)] == [60.0]
        assert app.main.process_list._clock is None


async def test_the_list_clock_runs_while_a_process_runs_and_stops_after(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry, fake: FakeBackend
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        listed = app.main.process_list
        await until(pilot, lambda: listed.row_count == 1, "the row")
        assert listed._clock is not None
        assert listed._clock_due == int(listed._clock_due)  # on a whole second
        assert listed._clock_due - time.time() <= 2
        fake.end(proc.id, 0)
        await until(pilot, lambda: listed._clock is None, "the clock to stop")


async def test_output_of_shown_rows_is_marked_and_shown_hidden_rows_cost_nothing(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry, fake: FakeBackend
) -> None:
    shown = registry.spawn("make", backend="fake")
    hidden = registry.spawn("other", backend="fake")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        listed = app.main.process_list
        await until(pilot, lambda: listed.row_count == 2, "the rows")
        listed.filter_text = "make"
        await until(pilot, lambda: listed.row_count == 1, "the filter")
        bridge = app.main._bridge
        assert bridge is not None
        fake.emit(hidden.id, b"not looked at\n")
        fake.emit(shown.id, b"compiling\n")
        assert bridge._output_seen == {shown.id}
        await until(
            pilot,
            lambda: str(listed.get_cell(shown.id, "output")) == "compiling",
            "the last output",
        )


class _Table(App[None]):
    def compose(self) -> ComposeResult:
        yield QuietTable[str]()

    def on_mount(self) -> None:
        table = self.query_one(QuietTable)
        table.add_column("a", key="a")
        table.add_column("runtime", key="runtime")
        for n in range(3):
            table.add_row(f"row{n}", "1s", key=f"r{n}")


async def test_set_cell_repaints_one_line_and_leaves_the_other_caches() -> None:
    app = _Table()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.query_one(QuietTable)
        await pilot.pause()
        other_line = table._render_line(1, 0, 40, table.rich_style)
        count = table._update_count
        assert table.set_cell("r1", "runtime", "2s")
        await pilot.pause()
        assert table._update_count == count  # no whole-table invalidation
        assert "2s" in table._render_line(2, 0, 40, table.rich_style).text
        assert table._render_line(1, 0, 40, table.rich_style) is other_line  # still cached
        assert not table.set_cell("r1", "runtime", "a value wider than the column")
        assert not table.set_cell("nope", "runtime", "1s")


def test_file_watch_calls_back_for_its_file_only(tmp_path: Path) -> None:
    path = tmp_path / "processes.json"
    calls: list[float] = []
    changed = threading.Event()

    def on_change() -> None:
        calls.append(time.monotonic())
        changed.set()

    watch = watch_file(path, on_change)
    assert watch is not None, "inotify is available on Linux"
    try:
        write_private(tmp_path / "other.json", b"{}")  # same directory, another file
        write_private(path, b"{}")  # temp file + rename, as the checkpoint is written
        assert changed.wait(10), "no call for the replaced file"
        assert len(calls) == 1  # events arrive in order: the other file's came first
    finally:
        watch.close()
    watch._thread.join(10)
    assert not watch._thread.is_alive()
