"""What the person can do to the selected process: kill, signal, restart, name, lifetime,
save its log, and filter the list. Mixed into the main screen, which provides the registry,
the list and the selection; blocking registry calls run in worker threads."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from backends import signal_name
from hermes_tui.screens.confirm import Confirm
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.save_log import RAW_SUFFIX, save_log
from registry import Process, ProcessRegistry, RegistryError

if TYPE_CHECKING:
    from textual.screen import Screen

    from hermes_tui.ui_state import UiState
    from hermes_tui.widgets.process_list import ProcessList

    _Base = Screen[None]
else:
    _Base = object


class ProcessActions(_Base):
    """Actions on the process under the list's cursor."""

    registry: ProcessRegistry
    process_list: ProcessList
    ui_state: UiState

    def remember(self) -> None:
        """Save what the app remembers (the main screen does it)."""

    def selected(self) -> Process | None:
        """The process under the list's cursor."""
        proc_id = self.process_list.selected_id
        if proc_id is None:
            return None
        try:
            return self.registry.get(proc_id)
        except RegistryError:
            return None

    def _error_from_thread(self, message: str) -> None:
        self.app.call_from_thread(self.notify, message, severity="error")

    def action_kill_menu(self) -> None:
        """Choose a signal for the selected process (confirmation included)."""
        proc = self.selected()
        if proc is None or not (proc.is_running or proc.survivors):
            self.notify("Select a running process first", severity="warning")
            return

        def chosen(sig: int | None) -> None:
            if sig is not None:
                self._kill(proc.id, sig)

        self.app.push_screen(KillMenu(proc.id), chosen)

    @work(thread=True, group="kill", exit_on_error=False)
    def _kill(self, proc_id: str, sig: int) -> None:
        try:
            if sig == signal.SIGTERM or not self.registry.get(proc_id).is_running:
                # kill() also ends what an ended process left running (its survivors).
                self.registry.kill(proc_id)
            else:
                self.registry.send_signal(proc_id, sig)
            self.app.call_from_thread(self.notify, f"{signal_name(sig)} sent to {proc_id}")
        except RegistryError as exc:
            self._error_from_thread(str(exc))

    def select_process(self, proc: Process) -> None:
        """Put the list's cursor on ``proc`` (adding its row if it is not there yet)."""
        self.process_list.update_process(proc)
        try:
            self.process_list.move_cursor(row=self.process_list.get_row_index(proc.id))
        except Exception:  # filtered out: the list shows what it was asked to
            pass

    def action_restart(self) -> None:
        """Run the selected process's command again (asking first if it still runs)."""
        proc = self.selected()
        if proc is None:
            return
        if not proc.is_running:
            self._restart(proc.id)
            return
        question = (
            f"Restart {proc.id}? It is running: it gets TERM (KILL after 3 s), "
            f"then {proc.name or proc.command} starts again under a new id."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._restart(proc.id)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="restart", exit_on_error=False)
    def _restart(self, proc_id: str) -> None:
        try:
            new = self.registry.restart(proc_id)
        except RegistryError as exc:
            self._error_from_thread(str(exc))
            return
        self.app.call_from_thread(self._restarted, proc_id, new)

    def _restarted(self, old_id: str, new: Process) -> None:
        self.select_process(new)  # the selection follows the command to its new id
        self.notify(f"Restarted {old_id} as {new.id}")

    def action_clear_finished(self) -> None:
        """Hide the rows of processes that have ended (the registry keeps them)."""
        now = time.time()
        hidden = self.process_list.clear_finished(now)
        self.ui_state.cleared_at = now
        self.remember()
        self.notify(
            f"Cleared {hidden} finished process(es) from the list "
            "('hermes-tui ps --all' still shows them)",
            timeout=3,
        )

    def action_rename(self) -> None:
        """Name the selected process."""
        proc = self.selected()
        if proc is None:
            return

        def apply(name: str | None) -> None:
            if name is not None:
                try:
                    self.registry.rename(proc.id, name)
                except RegistryError as exc:
                    self.notify(str(exc), severity="error")

        self.app.push_screen(TextPrompt(f"Name for {proc.id}:", proc.name or ""), apply)

    def action_toggle_lifetime(self) -> None:
        """Keep the selected process running when the app quits, or stop it on quit."""
        proc = self.selected()
        if proc is None:
            return
        self.registry.set_lifetime(proc.id, stop_on_quit=not proc.stop_on_quit)
        self.notify(
            f"{proc.id} will {'stop' if proc.stop_on_quit else 'keep running'} "
            "when hermes-tui quits"
        )

    def action_save_log(self) -> None:
        """Save the selected process's whole output to a file, as plain text."""
        proc = self.selected()
        if proc is None:
            return

        def save(path: str | None) -> None:
            if path:
                self._save_log(proc.id, Path(path).expanduser().absolute())

        default = Path.cwd() / f"{proc.id}.log"
        self.app.push_screen(
            TextPrompt(
                f"Save the output of {proc.id} as plain text to (a name ending in "
                f"{RAW_SUFFIX} keeps the terminal escapes):",
                str(default),
            ),
            save,
        )

    @work(thread=True, group="save", exit_on_error=False)
    def _save_log(self, proc_id: str, path: Path) -> None:
        try:
            size = save_log(self.registry, proc_id, path, raw=path.suffix == RAW_SUFFIX)
            self.app.call_from_thread(self.notify, f"Saved {size} bytes to {path}")
        except (OSError, RegistryError) as exc:
            self._error_from_thread(f"Could not save the log to {path}: {exc}")

    def action_filter(self) -> None:
        """Filter the process list by text."""

        def apply(text: str | None) -> None:
            if text is not None:
                self.process_list.filter_text = text.strip()

        self.app.push_screen(
            TextPrompt(
                "Show processes containing (empty shows all):", self.process_list.filter_text
            ),
            apply,
        )
