"""What the person can do to the selected process: kill, signal, restart, name, lifetime,
save its log, and filter the list. Mixed into the main screen, which provides the registry,
the list and the selection; blocking registry calls run in worker threads."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from backends import signal_name
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from registry import ProcessRegistry, ProcessSession, RegistryError

if TYPE_CHECKING:
    from textual.screen import Screen

    from hermes_tui.widgets.process_list import ProcessList

    _Base = Screen[None]
else:
    _Base = object


class ProcessActions(_Base):
    """Actions on the process under the list's cursor."""

    registry: ProcessRegistry
    process_list: ProcessList

    def selected(self) -> ProcessSession | None:
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
        session = self.selected()
        if session is None or not (session.is_running or session.survivors):
            self.notify("Select a running process first", severity="warning")
            return

        def chosen(sig: int | None) -> None:
            if sig is not None:
                self._kill(session.id, sig)

        self.app.push_screen(KillMenu(session.id), chosen)

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

    def action_restart(self) -> None:
        """Run the selected process's command again."""
        session = self.selected()
        if session is not None:
            self._restart(session.id)

    @work(thread=True, group="restart", exit_on_error=False)
    def _restart(self, proc_id: str) -> None:
        try:
            new = self.registry.restart(proc_id)
            self.app.call_from_thread(self.notify, f"Restarted {proc_id} as {new.id}")
        except RegistryError as exc:
            self._error_from_thread(str(exc))

    def action_rename(self) -> None:
        """Name the selected process."""
        session = self.selected()
        if session is None:
            return

        def apply(name: str | None) -> None:
            if name is not None:
                try:
                    self.registry.rename(session.id, name)
                except RegistryError as exc:
                    self.notify(str(exc), severity="error")

        self.app.push_screen(TextPrompt(f"Name for {session.id}:", session.name or ""), apply)

    def action_toggle_lifetime(self) -> None:
        """Keep the selected process running when the app quits, or stop it on quit."""
        session = self.selected()
        if session is None:
            return
        self.registry.set_lifetime(session.id, stop_on_quit=not session.stop_on_quit)
        self.notify(f"{session.id} will {'stop' if session.stop_on_quit else 'keep running'} "
                    "when hermes-tui quits")

    def action_save_log(self) -> None:
        """Save the selected process's whole output to a file."""
        session = self.selected()
        if session is None:
            return

        def save(path: str | None) -> None:
            if path:
                self._save_log(session.id, Path(path).expanduser())

        self.app.push_screen(TextPrompt(f"Save the output of {session.id} to:",
                                        f"{session.id}.log"), save)

    @work(thread=True, group="save", exit_on_error=False)
    def _save_log(self, proc_id: str, path: Path) -> None:
        try:
            with open(path, "wb") as f:
                offset = 0
                while chunk := self.registry.read_spool(proc_id, offset, 1 << 20):
                    f.write(chunk)
                    offset += len(chunk)
            self.app.call_from_thread(self.notify, f"Saved {offset} bytes to {path}")
        except (OSError, RegistryError) as exc:
            self._error_from_thread(f"Could not save the log: {exc}")

    def action_filter(self) -> None:
        """Filter the process list by text."""
        def apply(text: str | None) -> None:
            if text is not None:
                self.process_list.filter_text = text.strip()

        self.app.push_screen(TextPrompt("Show processes containing (empty shows all):",
                                        self.process_list.filter_text), apply)
