"""The live list of background processes."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.reactive import reactive
from textual.timer import Timer

from hermes_tui.batch import is_batch_key
from hermes_tui.formatting import format_runtime
from hermes_tui.untrusted import plain, plain_text
from hermes_tui.widgets.last_output import LastOutput, last_line
from hermes_tui.widgets.quiet_table import QuietTable
from registry import Process, ProcessStatus

__all__ = [
    "ProcessList",
    "last_line",
    "lifetime_label",
    "runtime_label",
    "status_label",
    "status_style",
]

# Most important first: on a narrow screen the table scrolls sideways and the end is hidden.
COLUMNS = ("id", "status", "runtime", "quit", "name", "backend", "output")
RUNTIME = COLUMNS.index("runtime")
NAME_WIDTH = 24
SORT_KEYS = ("started", "status", "name")
# Each outcome its own colour (theme variables): failures stand out, a clean exit recedes.
STATUS_STYLES = {
    ProcessStatus.RUNNING: "bold $success",
    ProcessStatus.EXITED: "$foreground-muted",
    ProcessStatus.KILLED: "$warning",
    ProcessStatus.LOST: "italic $error",
}
FAILED_STYLE = "bold $error"
_VARIABLE = re.compile(r"\$([\w-]+)")


def status_label(proc: Process) -> str:
    """What the status column says: ``running``, ``exit 0``, ``exit 3``, ``killed -15``,
    ``lost``; ``(recovered)`` only for a process re-adopted after the app's restart."""
    label = proc.status.value
    if proc.status is ProcessStatus.EXITED:
        label = "exit ?" if proc.exit_code is None else f"exit {proc.exit_code}"
    elif proc.status is ProcessStatus.KILLED and proc.exit_code is not None:
        label = f"killed {proc.exit_code}"
    if proc.recovered:
        label += " (recovered)"
    return label


def status_style(proc: Process) -> str:
    """The status column's colour: a non-zero exit is an error."""
    if proc.status is ProcessStatus.EXITED and proc.exit_code != 0:
        return FAILED_STYLE
    return STATUS_STYLES[proc.status]


def runtime_label(proc: Process, now: float) -> str:
    """The runtime column, as coarse as a glance needs while the process runs: seconds for
    the first ten (``7s``), then tens of seconds (``40s``), minutes (``3m``), hours and
    minutes (``2h05m``), each rounded down. A row's label changes at most every ten seconds
    after its first ten, so twenty running processes repaint a row or two a second, not the
    whole column. An ended process shows its exact runtime (``3m07s``): it no longer changes.
    """
    seconds = proc.runtime(now)
    if not proc.is_running or seconds >= 3600:
        return format_runtime(seconds)
    step = _runtime_step(seconds)
    shown = int(seconds) // step * step
    return f"{shown // 60}m" if step == 60 else f"{shown}s"


def _runtime_step(seconds: float) -> int:
    return 1 if seconds < 10 else 10 if seconds < 60 else 60


def runtime_changes_in(proc: Process, now: float) -> float:
    """Seconds until :func:`runtime_label` of a running process says something else."""
    seconds = proc.runtime(now)
    step = _runtime_step(seconds)
    return step - seconds % step


def lifetime_label(proc: Process) -> str:
    """What quitting the app does to a running process: ``stop`` or ``keep``."""
    if not proc.is_running:
        return ""
    return "stop" if proc.stop_on_quit else "keep"


class ProcessList(QuietTable[str | Text]):
    """Every process the registry knows, updated only where something changed.

    The app feeds it with :meth:`update_process` (from registry events) and
    :meth:`output_marked` (a shown process printed); it never polls backends. Its one clock
    wakes on whole seconds, and only when something shown is due to change: output that
    arrived (collected with :attr:`take_marks`, at most once a second however many
    processes print), a runtime label (see :func:`runtime_label`), a flood's line. A changed
    cell repaints its line only (:class:`QuietTable`). With nothing running and nothing
    printing it sleeps.
    """

    DEFAULT_CSS = """
    ProcessList {
        height: 1fr;
        border: round $panel;
        border-title-color: $text-muted;
    }
    ProcessList:focus {
        border: round $primary;
    }
    """

    BINDINGS = [
        Binding("enter", "screen.attach", "Attach", id="attach"),
        Binding("k", "screen.kill_menu", "Kill…", id="kill"),
        Binding("r", "screen.restart", "Restart", id="restart"),
        Binding("n", "screen.rename", "Name", id="rename"),
        Binding("l", "screen.toggle_lifetime", "Lifetime", id="lifetime"),
        Binding("s", "screen.save_log", "Save log", id="save_log"),
        Binding("slash", "screen.filter", "Filter", id="filter"),
        Binding("o", "cycle_sort", "Sort", id="sort"),
        Binding("x", "screen.clear_finished", "Clear finished", id="clear_finished"),
    ]

    filter_text: reactive[str] = reactive("", init=False)
    """Only processes whose id, name or command contain this text are shown."""
    sort_key: reactive[str] = reactive("started", init=False)
    """Row order: ``started``, ``status`` or ``name``."""

    def __init__(self, *, id: str | None = None) -> None:
        # The status keeps its colour on the selected row too (a failure stays red).
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=False, cursor_foreground_priority="renderable"
        )
        self._procs: dict[str, Process] = {}
        self._shown: dict[str, tuple[str, ...]] = {}
        self._last_output = LastOutput()
        self._styles: dict[str, str] = {}
        self.cleared_at = 0.0
        """Rows of processes that ended before this time are hidden ("clear finished")."""
        self.take_marks: Callable[[], set[str]] = set
        """Returns the ids of processes that printed since it was last called."""
        self._watched: set[str] = set()
        self._clock: Timer | None = None
        self._clock_due = math.inf

    def on_mount(self) -> None:
        self.border_title = "Processes"
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        for key, label in zip(
            COLUMNS,
            ("ID", "Status", "Runtime", "Quit", "Name / command", "Backend", "Last output"),
            strict=True,
        ):
            self.add_column(label, key=key)

    @property
    def selected_id(self) -> str | None:
        """The id of the process under the cursor."""
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def _row(self, proc: Process, now: float) -> tuple[str, ...]:
        name = proc.name or proc.command
        if len(name) > NAME_WIDTH:
            name = name[: NAME_WIDTH - 1] + "…"
        return (
            proc.id,
            status_label(proc),
            runtime_label(proc, now),
            lifetime_label(proc),
            name,
            proc.backend,
            self._last_output.line(proc),
        )

    def _style(self, style: str) -> str:
        """``style`` with theme variables made colours: a table cell is drawn by Rich,
        which knows nothing of ``$error``."""
        resolved = self._styles.get(style)
        if resolved is None:
            variables = self.app.get_css_variables()
            background = Color.parse(variables.get("background", "#000000"))

            def colour(match: re.Match[str]) -> str:
                try:  # blended over the background: Rich takes no alpha
                    return (background + Color.parse(variables[match.group(1)])).hex
                except (KeyError, ColorParseError):
                    return ""

            resolved = self._styles[style] = _VARIABLE.sub(colour, style).strip()
        return resolved

    def _on_theme_changed(self, theme: Any) -> None:
        self._styles.clear()
        for proc_id in self._shown:
            proc = self._procs[proc_id]
            self.update_cell(
                proc_id,
                "status",
                plain_text(status_label(proc), self._style(status_style(proc))),
            )

    def _visible(self, proc: Process) -> bool:
        if not proc.is_running and (proc.ended_at or 0.0) <= self.cleared_at:
            return False
        needle = self.filter_text.lower()
        if not needle:
            # A batch run starts hundreds of processes; they show only when filtered for
            # (by their task key, e.g. "batch-").
            return not is_batch_key(proc.owner)
        return any(
            needle in (field or "").lower()
            for field in (proc.id, proc.name, proc.command, proc.owner)
        )

    def is_shown(self, proc_id: str) -> bool:
        """Whether the process has (or is getting) a row; safe from any thread (one set
        lookup): the bridge asks it for every output chunk."""
        return proc_id in self._watched

    def update_process(self, proc: Process) -> None:
        """Add, update or (when filtered out) hide one process's row."""
        self._procs[proc.id] = proc
        self._sync([proc])

    def _sync(self, procs: Iterable[Process]) -> None:
        """Bring the rows of ``sessions`` up to date, then set the clock for what is due."""
        now = time.time()
        with self.app.batch_update():
            for proc in procs:
                self._sync_row(proc, now)
        self._set_clock(now)

    def _sync_row(self, proc: Process, now: float) -> None:
        if not self._visible(proc):
            self._watched.discard(proc.id)
            self._last_output.deferred.discard(proc.id)  # a hidden flood wakes nothing
            if proc.id in self._shown:
                self.remove_row(proc.id)
                del self._shown[proc.id]
            return
        # Watched before its output is read: output that lands after the read is marked.
        self._watched.add(proc.id)
        row = self._row(proc, now)
        cells = [
            plain_text(c, self._style(status_style(proc)) if key == "status" else "")
            for key, c in zip(COLUMNS, row, strict=True)
        ]
        old = self._shown.get(proc.id)
        if old is None:
            self.add_row(*cells, key=proc.id)
            self._apply_sort()
        else:
            for key, value, before, cell in zip(COLUMNS, row, old, cells, strict=True):
                if value != before and not self.set_cell(proc.id, key, cell):
                    # Wider than its column: status and output grow it ("exit 3" is never
                    # cut to "exit"); that re-lays (and repaints) the whole table.
                    self.update_cell(proc.id, key, cell, update_width=key in ("status", "output"))
        self._shown[proc.id] = row

    def refresh_output(self, ids: Iterable[str]) -> None:
        """Bring the rows of these processes up to date (they printed, or their runtime
        label changed)."""
        self._sync(s for pid in ids if (s := self._procs.get(pid)) is not None)

    def output_marked(self) -> None:
        """A shown process printed: look at :attr:`take_marks` on the next whole second."""
        self._set_clock(time.time(), output=True)

    def _set_clock(self, now: float, *, output: bool = False) -> None:
        """Wake on the whole second after the first shown change that is due (one wake
        repaints every row that changed by then)."""
        due = math.inf
        for proc_id in self._shown:
            proc = self._procs[proc_id]
            if proc.is_running:
                due = min(due, now + runtime_changes_in(proc, now))
        if output or self._last_output.deferred:
            due = now
        wake = math.floor(due) + 1.0 if due < math.inf else math.inf
        if wake >= self._clock_due:
            return
        if self._clock is not None:
            self._clock.stop()
        self._clock_due = wake
        self._clock = self.set_timer(wake - now, self._on_clock, name="process-list-clock")

    def _on_clock(self) -> None:
        self._clock, self._clock_due = None, math.inf
        now = time.time()
        due = set(self.take_marks()) | self._last_output.deferred
        for proc_id, row in self._shown.items():
            proc = self._procs[proc_id]
            if proc.is_running and runtime_label(proc, now) != row[RUNTIME]:
                due.add(proc_id)
        self.refresh_output(due)  # and sets the clock again

    async def on_click(self, event: events.Click) -> None:
        """A click selects the row (DataTable does that); a double-click attaches to it."""
        if event.chain == 2 and self.selected_id is not None:
            await self.run_action("screen.attach")

    def clear_finished(self, before: float) -> int:
        """Hide the rows of processes that ended before ``before``; return how many."""
        self.cleared_at = before
        hidden = [pid for pid in self._shown if not self._procs[pid].is_running]
        self.watch_filter_text()
        return len(hidden) - sum(1 for pid in hidden if pid in self._shown)

    def watch_filter_text(self) -> None:
        self._sync(list(self._procs.values()))
        self.border_title = (
            plain(f"Processes — filter: {self.filter_text}") if self.filter_text else "Processes"
        )

    def action_cycle_sort(self) -> None:
        """Switch to the next sort order."""
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.notify(f"Processes sorted by {self.sort_key}", timeout=2)

    def watch_sort_key(self) -> None:
        self._apply_sort()

    def _apply_sort(self) -> None:
        if self.sort_key == "name":
            self.sort("name", key=lambda name: str(name).lower())
        elif self.sort_key == "status":
            self.sort("status", "id", key=lambda cells: (str(cells[0]), str(cells[1])))
        else:
            self.sort(
                "id",
                key=lambda pid: (
                    self._procs[str(pid)].started_at if str(pid) in self._procs else 0.0
                ),
            )
