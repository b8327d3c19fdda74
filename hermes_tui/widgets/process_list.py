"""The live list of background processes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.reactive import reactive
from textual.widgets import DataTable

from hermes_tui.batch import is_batch_key
from hermes_tui.formatting import format_runtime
from hermes_tui.untrusted import plain, plain_text
from hermes_tui.widgets.last_output import LastOutput, last_line
from registry import Process, ProcessStatus

__all__ = ["ProcessList", "last_line", "lifetime_label", "status_label", "status_style"]

# Most important first: on a narrow screen the table scrolls sideways and the end is hidden.
COLUMNS = ("id", "status", "runtime", "quit", "name", "backend", "output")
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


def lifetime_label(proc: Process) -> str:
    """What quitting the app does to a running process: ``stop`` or ``keep``."""
    if not proc.is_running:
        return ""
    return "stop" if proc.stop_on_quit else "keep"


class ProcessList(DataTable[str | Text]):
    """Every process the registry knows, updated only where something changed.

    The app feeds it with :meth:`update_process` (from registry events) and
    :meth:`refresh_output` (on a timer, for processes that printed); it never polls backends.
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
            format_runtime(proc.runtime(now)),
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

    def update_process(self, proc: Process) -> None:
        """Add, update or (when filtered out) hide one process's row."""
        self._procs[proc.id] = proc
        self._sync_row(proc, time.time())

    def _sync_row(self, proc: Process, now: float) -> None:
        if not self._visible(proc):
            if proc.id in self._shown:
                self.remove_row(proc.id)
                del self._shown[proc.id]
            return
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
                if value != before:
                    # Status and output grow their column: "exit 3" is never cut to "exit".
                    self.update_cell(proc.id, key, cell, update_width=key in ("status", "output"))
        self._shown[proc.id] = row

    def refresh_output(self, ids: Iterable[str]) -> None:
        """Update the last-output and runtime cells of processes that printed or run."""
        now = time.time()
        with self.app.batch_update():
            for proc_id in ids:
                proc = self._procs.get(proc_id)
                if proc is not None:
                    self._sync_row(proc, now)

    def tick_runtimes(self) -> None:
        """Refresh the runtime column of running processes (once a second)."""
        self.refresh_output(self.running_ids())

    def running_ids(self) -> set[str]:
        """Ids of the running processes in the list."""
        return {s.id for s in self._procs.values() if s.is_running}

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
        now = time.time()
        with self.app.batch_update():
            for proc in self._procs.values():
                self._sync_row(proc, now)
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
