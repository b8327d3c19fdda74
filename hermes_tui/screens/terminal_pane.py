"""What the terminal pane shows and who gets the keys: the selected process, attach and
detach, the process's terminal size, a jump to a search match. Mixed into the main screen,
which provides the registry, the panes and the selection; blocking registry calls run in
worker threads."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual import work

from hermes_tui.bridge import InputSender
from hermes_tui.screens.search import Match, SearchScreen
from registry import Process, ProcessRegistry, RegistryError

if TYPE_CHECKING:
    from textual.screen import Screen

    from hermes_tui.settings import Config
    from hermes_tui.term.view import TerminalView
    from hermes_tui.widgets.process_list import ProcessList

    _Base = Screen[None]
else:
    _Base = object


class TerminalPane(_Base):
    """The terminal pane's side of the main screen."""

    registry: ProcessRegistry
    config: Config
    process_list: ProcessList
    terminal: TerminalView
    input_sender: InputSender | None
    attached_id: str | None
    """The process that gets every key, or None."""
    _shown_id: str | None
    """The process the terminal pane shows."""

    def selected(self) -> Process | None:
        """The process under the list's cursor (the process actions provide it)."""
        raise NotImplementedError

    # -- what the pane shows -----------------------------------------------------------
    def _show_selected(self) -> None:
        """Show the selected process in the terminal pane (unless it is shown already)."""
        proc = self.selected()
        if proc is None or self.attached_id is not None or proc.id == self._shown_id:
            return
        self._shown_id = proc.id
        self.terminal.show(proc.output, pty=proc.pty)
        if not proc.output_loaded:
            self.run_worker(
                partial(self._load_output, proc.id),
                thread=True,
                group="spool-one",
                exit_on_error=False,
            )

    def _load_output(self, proc_id: str) -> None:
        """Read a finished process's output from its spool (in a worker thread)."""
        try:
            self.registry.output(proc_id)
        except RegistryError:
            return
        self.app.call_from_thread(self._output_loaded, proc_id)

    def _output_loaded(self, proc_id: str) -> None:
        try:
            proc = self.registry.get(proc_id)
        except RegistryError:
            return
        self.process_list.update_process(proc)
        if self._shown_id == proc_id and self.attached_id is None:
            self.terminal.show(proc.output, pty=proc.pty)

    def _terminal_resized(self, rows: int, cols: int) -> None:
        """The pane changed size: so does the attached (or shown) process's terminal."""
        proc = self.selected() if self.attached_id is None else None
        target = self.attached_id or (proc.id if proc and proc.pty else None)
        if target is not None:
            self._resize_process(target, rows, cols)

    @work(thread=True, group="resize", exit_on_error=False)
    def _resize_process(self, proc_id: str, rows: int, cols: int) -> None:
        try:
            proc = self.registry.get(proc_id)
            if proc.pty and proc.is_running:
                self.registry.resize(proc_id, rows, cols)
        except RegistryError:
            pass

    # -- attach ------------------------------------------------------------------------
    def _send_to_attached(self, data: bytes) -> None:
        if self.attached_id is not None and self.input_sender is not None:
            self.input_sender.send(self.attached_id, data)

    def action_attach(self) -> None:
        """Send every key to the selected process (until the detach key)."""
        proc = self.selected()
        if proc is None:
            self.notify("No process selected", severity="warning")
            return
        if not proc.is_running:
            self.notify(f"{proc.id} is not running", severity="warning")
            return
        self.attached_id = self._shown_id = proc.id
        terminal = self.terminal
        terminal.show(proc.output, pty=proc.pty)
        terminal.attached = True
        terminal.focus()
        self.app.refresh_bindings()
        rows, cols = terminal.size.height, terminal.size.width
        if proc.pty and rows > 0 and cols > 0:
            self._resize_process(proc.id, rows, cols)
        self.notify(f"Attached to {proc.id}: {self.config.detach_key} detaches", timeout=3)

    def action_detach(self) -> None:
        """Give the keyboard back to hermes-tui."""
        if self.attached_id is not None:
            self._end_attach(f"Detached from {self.attached_id}")

    def _end_attach(self, message: str) -> None:
        self.attached_id = None
        self.terminal.attached = False
        self.app.refresh_bindings()
        self.process_list.focus()
        self.notify(message, timeout=3)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While attached, every key but the detach and zoom keys belongs to the process."""
        if self.attached_id is not None:
            return action in ("detach", "zoom")
        return action != "detach"

    # -- search ------------------------------------------------------------------------
    def action_search(self) -> None:
        """Search every process's output."""
        self.app.push_screen(SearchScreen(self.registry), self._jump_to_match)

    def _jump_to_match(self, match: Match | None) -> None:
        if match is None:
            return
        table = self.process_list
        try:
            proc = self.registry.get(match.proc_id)
            row = table.get_row_index(match.proc_id)
        except Exception:
            self.notify(
                f"{match.proc_id} is not in the list (filtered or cleared)", severity="warning"
            )
            return
        # Shown before the cursor moves, so the row-highlighted event that follows finds it
        # shown and keeps the scroll position and highlight set here.
        self._shown_id = proc.id
        table.move_cursor(row=row)
        self.terminal.show(proc.output, pty=proc.pty)
        if not self.terminal.search(match.text):
            self.notify(f"The match is no longer in {proc.id}'s buffer", severity="warning")
        self.terminal.focus()
