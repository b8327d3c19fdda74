"""The live list of background processes."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable

from hermes_tui.formatting import format_runtime
from registry import ProcessSession, ProcessStatus
from registry.text import clean_output

# Most important first: on a narrow screen the table scrolls sideways and the end is hidden.
COLUMNS = ("id", "status", "runtime", "name", "backend", "output")
NAME_WIDTH = 24
SORT_KEYS = ("started", "status", "name")
STATUS_STYLES = {
    ProcessStatus.RUNNING: "bold $success",
    ProcessStatus.EXITED: "$text-muted",
    ProcessStatus.KILLED: "$warning",
    ProcessStatus.LOST: "bold $error",
}


def status_label(session: ProcessSession) -> str:
    """What the status column says: ``running``, ``exited 3``, ``killed``, ``lost``..."""
    label = session.status.value
    if session.status is ProcessStatus.EXITED and session.exit_code is not None:
        label = f"exited {session.exit_code}"
    elif session.status is ProcessStatus.KILLED and session.exit_code is not None:
        label = f"killed {session.exit_code}"
    if session.recovered:
        label += " (recovered)"
    return label


def last_line(session: ProcessSession) -> str:
    """The last non-empty line the process printed (escapes removed)."""
    text = clean_output(session.output.tail(2048)).rstrip()
    return text.rsplit("\n", 1)[-1][:48] if text else ""


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
        Binding("enter", "app.attach", "Attach", id="attach"),
        Binding("k", "app.kill_menu", "Kill…", id="kill"),
        Binding("r", "app.restart", "Restart", id="restart"),
        Binding("n", "app.rename", "Name", id="rename"),
        Binding("l", "app.toggle_lifetime", "Lifetime", id="lifetime"),
        Binding("s", "app.save_log", "Save log", id="save_log"),
        Binding("slash", "app.filter", "Filter", id="filter"),
        Binding("o", "cycle_sort", "Sort", id="sort"),
    ]

    filter_text: reactive[str] = reactive("", init=False)
    """Only processes whose id, name or command contain this text are shown."""
    sort_key: reactive[str] = reactive("started", init=False)
    """Row order: ``started``, ``status`` or ``name``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._sessions: dict[str, ProcessSession] = {}
        self._shown: dict[str, tuple[str, ...]] = {}

    def on_mount(self) -> None:
        self.border_title = "Processes"
        for key, label in zip(
            COLUMNS,
            ("ID", "Status", "Runtime", "Name / command", "Backend", "Last output"),
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

    def _row(self, session: ProcessSession, now: float) -> tuple[str, ...]:
        name = session.name or session.command
        if len(name) > NAME_WIDTH:
            name = name[: NAME_WIDTH - 1] + "…"
        return (
            session.id,
            status_label(session),
            format_runtime(session.runtime(now)),
            name,
            session.backend,
            last_line(session),
        )

    def _visible(self, session: ProcessSession) -> bool:
        needle = self.filter_text.lower()
        return not needle or any(
            needle in (field or "").lower() for field in (session.id, session.name, session.command)
        )

    def update_process(self, session: ProcessSession) -> None:
        """Add, update or (when filtered out) hide one process's row."""
        self._sessions[session.id] = session
        self._sync_row(session, time.time())

    def _sync_row(self, session: ProcessSession, now: float) -> None:
        if not self._visible(session):
            if session.id in self._shown:
                self.remove_row(session.id)
                del self._shown[session.id]
            return
        row = self._row(session, now)
        cells = [
            Text(c, style=STATUS_STYLES[session.status]) if key == "status" else c
            for key, c in zip(COLUMNS, row, strict=True)
        ]
        old = self._shown.get(session.id)
        if old is None:
            self.add_row(*cells, key=session.id)
            self._apply_sort()
        else:
            for key, value, before, cell in zip(COLUMNS, row, old, cells, strict=True):
                if value != before:
                    self.update_cell(session.id, key, cell)
        self._shown[session.id] = row

    def refresh_output(self, ids: Iterable[str]) -> None:
        """Update the last-output and runtime cells of processes that printed or run."""
        now = time.time()
        with self.app.batch_update():
            for proc_id in ids:
                session = self._sessions.get(proc_id)
                if session is not None:
                    self._sync_row(session, now)

    def tick_runtimes(self) -> None:
        """Refresh the runtime column of running processes (once a second)."""
        self.refresh_output(s.id for s in self._sessions.values() if s.is_running)

    def watch_filter_text(self) -> None:
        now = time.time()
        with self.app.batch_update():
            for session in self._sessions.values():
                self._sync_row(session, now)
        self.border_title = (
            f"Processes — filter: {self.filter_text}" if self.filter_text else "Processes"
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
                    self._sessions[str(pid)].started_at if str(pid) in self._sessions else 0.0
                ),
            )
