"""The main screen: chat on the left, the process list and the terminal on the right.

It owns what lives as long as it does: its panes, the registry subscription (opened on mount,
closed on unmount), the watch on the checkpoint, the selection and the conversation (the
terminal pane and attach are :mod:`hermes_tui.screens.terminal_pane`, the actions on a
process :mod:`hermes_tui.screens.process_actions`). Registry calls that can block run in
worker threads; registry events arrive through the bridge. Nothing runs at rest but a
once-a-minute save of "last seen": the process list wakes itself when something it shows
changes, and processes started elsewhere are noticed by inotify (see the benchmark in
``benchmarks/key_latency.py --skip-echo``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from hermes_tui.agent.endpoint import HOW_TO_CONFIGURE, Endpoint
from hermes_tui.bridge import InputSender, OutputMarked, RegistryBridge
from hermes_tui.conversation import Conversation
from hermes_tui.file_watch import FileWatch, watch_file
from hermes_tui.messages import ProcessChanged
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.confirm import Confirm
from hermes_tui.screens.help import HelpScreen
from hermes_tui.screens.layout import MAIN_SCREEN_CSS
from hermes_tui.screens.palette import binding_keys, palette_entries
from hermes_tui.screens.process_actions import ProcessActions
from hermes_tui.screens.terminal_pane import TerminalPane
from hermes_tui.settings import Config
from hermes_tui.term.keys import DetachKey
from hermes_tui.term.view import TerminalView
from hermes_tui.ui_state import UiState, save_ui_state
from hermes_tui.widgets.chat import ChatPane
from hermes_tui.widgets.process_list import ProcessList
from registry import Process, ProcessRegistry, RecoveryReport, RegistryError

PANES = ("chat", "processes", "terminal")
NARROW = 100
"""Below this many columns the chat and the right side take turns at the full width."""
MINUTE = 60.0
"""How often the app saves that it was running ("last seen") and expires idle chat
sessions: the one timer at rest."""
ADOPT_POLL = 1.0
"""Without inotify: how often the checkpoint's mtime is looked at (other shells' starts)."""


@dataclass
class Startup:
    """What the main screen is told at start."""

    endpoint: Endpoint | None = None
    backend: str = "local"
    report: RecoveryReport | None = None
    problems: list[str] = field(default_factory=list)
    watcher_min_interval: float = 30.0
    ui_state: UiState = field(default_factory=UiState)
    """What the app remembers between runs (shared with the app, saved by it)."""


class MainScreen(ProcessActions, TerminalPane, Screen[None]):
    """Three panes; any of them can be zoomed to fill the screen."""

    DEFAULT_CSS = MAIN_SCREEN_CSS

    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "focus_pane('chat')", "Chat", id="focus_chat"),
        Binding("f3", "focus_pane('processes')", "Processes", id="focus_processes"),
        Binding("f4", "focus_pane('terminal')", "Terminal", id="focus_terminal"),
        Binding("f5", "zoom", "Zoom", priority=True, id="zoom"),  # also while attached
        Binding("f6", "toggle_chat", "Chat on/off", id="toggle_chat"),
        Binding("ctrl+f", "search", "Search", id="search"),
        Binding("w", "away", "Away report", show=False, id="away"),
        Binding("ctrl+circumflex_accent", "detach", "Detach", priority=True, id="detach"),
    ]

    class Ready(Message):
        """The panes are mounted (the app applies the theme's terminal colours)."""

    class CheckpointChanged(Message):
        """The registry's checkpoint was replaced (maybe by ``hermes-tui run`` elsewhere)."""

    zoomed: reactive[str | None] = reactive(None)
    """The pane shown full-screen, or None for all three."""
    chat_collapsed: reactive[bool] = reactive(False)
    """The chat is hidden and the process list and terminal take the whole width."""

    chat = getters.query_one("#chat", ChatPane)
    process_list = getters.query_one("#processes", ProcessList)
    terminal = getters.query_one("#terminal", TerminalView)

    def __init__(self, registry: ProcessRegistry, config: Config, startup: Startup) -> None:
        super().__init__()
        self.registry = registry
        self.config = config
        self.startup = startup
        self.attached_id: str | None = None
        """The process that gets every key, or None."""
        self._conversation: Conversation | None = None
        self._bridge: RegistryBridge | None = None
        self.input_sender: InputSender | None = None
        """Writes typed keys to the attached process, in order, off the UI thread."""
        self._checkpoint_mtime = 0.0
        self._checkpoint_watch: FileWatch | None = None
        self._shown_id: str | None = None
        """The process the terminal pane shows."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield ChatPane(id="chat")
            with Vertical(id="right"):
                yield ProcessList(id="processes")
                yield TerminalView(id="terminal")
        yield Footer()

    # -- life ------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._bridge = RegistryBridge(
            self.registry,
            self,
            on_output=self.terminal.output_arrived,
            watched=self.process_list.is_shown,
        )
        self.process_list.take_marks = self._bridge.take_output_marks
        self.input_sender = InputSender(self.registry, self._error_from_thread)
        self.process_list.cleared_at = self.ui_state.cleared_at
        for proc in self.registry.processes():
            self.process_list.update_process(proc)
        # After the first layout: a PTY screen replayed at size 0 would be lost on resize.
        self.call_after_refresh(self._show_selected)
        self._load_finished_output()
        self.terminal.send = self._send_to_attached
        self.terminal.detach_key = DetachKey(self.config.detach_key)
        self._conversation = Conversation(
            self.registry,
            self.chat,
            self,
            endpoint=self.startup.endpoint,
            backend=self.startup.backend,
            max_iterations=int(self.config.model.max_iterations),
            idle_timeout=self.config.processes.idle_timeout_hours * 3600,
            watcher_min_interval=self.startup.watcher_min_interval,
            notifications=self.config.processes.notifications,
            bang_attaches=self.config.processes.bang == "attach",
        )
        problems = self._conversation.restore()
        self.set_interval(MINUTE, self._every_minute)
        self._watch_checkpoint()
        self._greet([*self.startup.problems, *problems])
        self.chat.focus_input()
        # A blinking cursor repaints twice a second for as long as the app is open: the
        # chat's cursor stays lit instead (idle is no CPU at all).
        self.chat.query_one("#chat-input", Input).cursor_blink = False
        self.post_message(self.Ready())

    @property
    def ui_state(self) -> UiState:  # type: ignore[override]
        """What the app remembers between runs."""
        return self.startup.ui_state

    @property
    def conversation(self) -> Conversation:
        """The conversation (chat sessions, the agent), from mount on."""
        if self._conversation is None:
            raise LookupError("the main screen is not mounted")
        return self._conversation

    def on_unmount(self) -> None:
        if self._checkpoint_watch is not None:
            self._checkpoint_watch.close()
        if self._bridge is not None:
            self._bridge.close()
        if self.input_sender is not None:
            self.input_sender.close()
        if self._conversation is not None:
            self._conversation.close()

    def _greet(self, problems: list[str]) -> None:
        say = self.conversation.say
        for problem in problems:
            say(problem, "warning")
        report = self.startup.report
        if report is not None and report.summary():
            say(
                f"Recovered from the previous run: {report.summary()}. Press w for details.",
                "notice",
            )
            if report.ended or report.lost:
                self.app.push_screen(AwayScreen(report))
        for warning in report.warnings if report else []:
            say(warning, "warning")
        endpoint = self.startup.endpoint
        if self.conversation.agent_ready and endpoint is not None:
            where = endpoint.base_url or "api.openai.com"
            say(f"Model {endpoint.model} at {where}. Esc interrupts the agent.", "notice")
        else:
            say(HOW_TO_CONFIGURE, "notice")

    # -- registry events and timers -------------------------------------------------------
    @on(ProcessChanged)
    def _on_process_changed(self, event: ProcessChanged) -> None:
        proc = event.proc
        self.process_list.update_process(proc)
        if not proc.is_running and proc.id == self.attached_id:
            self._end_attach(
                f"{proc.id} {proc.status.value}"
                + ("" if proc.exit_code is None else f" ({proc.exit_code})")
            )

    @on(OutputMarked)
    def _on_output_marked(self) -> None:
        self.process_list.output_marked()

    def _every_minute(self) -> None:
        self.remember()  # "last seen": what ends after this ended while you were away
        for key in self.conversation.expire_idle():
            self.notify(f"Chat session {key} expired after being idle", timeout=3)

    def remember(self) -> None:
        """Save what the app remembers (and that it was running now); failures are quiet:
        it is only a memory, and a full disk is reported elsewhere."""
        try:
            save_ui_state(self.registry.state_dir, self.ui_state)
        except (OSError, RegistryError):
            pass

    def _watch_checkpoint(self) -> None:
        """Adopt processes started elsewhere when the checkpoint changes (and once now:
        one may have started while the app did)."""
        path = self.registry.checkpoint.path
        self._checkpoint_watch = watch_file(path, self._checkpoint_changed)
        if self._checkpoint_watch is None:
            self.set_interval(ADOPT_POLL, self._adopt_new_processes)
        self._adopt_new_processes()

    def _checkpoint_changed(self) -> None:
        """(In the watch's thread.)"""
        self.post_message(self.CheckpointChanged())

    @on(CheckpointChanged)
    def _adopt_new_processes(self) -> None:
        """Pick up processes started elsewhere (``hermes-tui run`` in another shell)."""
        try:
            mtime = self.registry.checkpoint.path.stat().st_mtime
        except OSError:
            return
        if mtime != self._checkpoint_mtime:
            self._checkpoint_mtime = mtime
            self._recover_in_thread()

    @work(thread=True, exclusive=True, group="recover", exit_on_error=False)
    def _recover_in_thread(self) -> None:
        # Started from another shell while the app runs: picked up, not "recovered".
        self.registry.recover(after_restart=False)  # they arrive as ProcessChanged messages

    @work(thread=True, group="spool", exit_on_error=False)
    def _load_finished_output(self) -> None:
        """Finished processes of earlier runs: read their output from the spool, so the pane
        and "Last output" show it (off the UI thread, one process at a time). Only local
        spools at start: a remote read holds the registry's lock for a round trip each, so
        those are read when the process is selected."""
        for proc in self.registry.processes():
            if not proc.output_loaded and proc.backend == "local":
                self._load_output(proc.id)

    # -- selection, the terminal, attach ------------------------------------------------
    @on(DataTable.RowHighlighted, "#processes")
    def _on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected()

    @on(TerminalView.Resized)
    def _on_terminal_resized(self, event: TerminalView.Resized) -> None:
        self._terminal_resized(event.rows, event.cols)

    @on(TerminalView.DetachRequested)
    def _on_detach_requested(self) -> None:
        self.action_detach()

    # -- panes and views ------------------------------------------------------------------
    def action_focus_pane(self, pane: str) -> None:
        """Focus the chat, the process list or the terminal."""
        if pane == "chat":
            self.chat_collapsed = False
            self.chat.focus_input()
        elif pane == "processes":
            self.process_list.focus()
        else:
            self.terminal.focus()

    def action_zoom(self) -> None:
        """Show the focused pane full-screen, or all three again."""
        self.zoomed = None if self.zoomed else self.pane_of_focus()

    def watch_zoomed(self, old: str | None, new: str | None) -> None:
        if old:
            self.remove_class(f"-zoom-{old}")
        if new:
            self.add_class(f"-zoom-{new}")

    def action_toggle_chat(self) -> None:
        """Hide the chat (the terminal gets its width), or show it again."""
        self.chat_collapsed = not self.chat_collapsed
        if self.chat_collapsed and self.pane_of_focus() == "chat":
            self.process_list.focus()
        elif not self.chat_collapsed:
            self.chat.focus_input()

    def watch_chat_collapsed(self) -> None:
        self._apply_layout()

    def on_resize(self) -> None:
        self._apply_layout()

    def on_descendant_focus(self) -> None:
        self._apply_layout()

    def _apply_layout(self) -> None:
        """Narrow screens show the chat or the right side, whichever has the focus."""
        narrow = self.size.width < NARROW
        chat_hidden = self.chat_collapsed or (narrow and self.pane_of_focus() != "chat")
        self.set_class(narrow, "-narrow")
        self.set_class(chat_hidden, "-chat-hidden")
        self.set_class(narrow and not chat_hidden, "-right-hidden")

    def pane_of_focus(self) -> str:
        """Which pane holds the focus (``chat`` when nothing is focused)."""
        node = self.focused
        while node is not None:
            if node.id in PANES:
                return str(node.id)
            node = node.parent  # type: ignore[assignment]
        return "chat"

    def action_away(self) -> None:
        """Show what crash recovery found at start."""
        self.app.push_screen(AwayScreen(self.startup.report or RecoveryReport()))

    # -- the chat ---------------------------------------------------------------------------
    @on(ChatPane.Submitted)
    def _on_chat_submitted(self, event: ChatPane.Submitted) -> None:
        self.conversation.submit(event.text)

    def action_interrupt(self) -> None:
        """Stop the agent's current turn: its stream, a running wait or command (Esc)."""
        self.conversation.interrupt()

    # ConversationHost
    def show_help(self) -> None:
        """Show every key and command."""
        self.app.push_screen(HelpScreen(self.config.detach_key))

    action_help = show_help

    def theme_names(self) -> list[str]:
        """The themes the app knows."""
        return sorted(self.app.available_themes)  # the app lists only the hermes themes

    def set_theme(self, name: str) -> None:
        """Switch the theme."""
        self.app.theme = name

    def confirm(self, question: str, on_yes: Callable[[], None]) -> None:
        """Ask a yes/no question."""
        self.app.push_screen(Confirm(question), lambda yes: on_yes() if yes else None)

    def pty_size(self) -> tuple[int, int]:
        """The terminal pane's size (at least 5x20)."""
        size = self.terminal.size
        return max(size.height, 5), max(size.width, 20)

    def started_from_chat(self, proc: Process, attach: bool = True) -> None:
        """Select the process started with ``!command`` and attach to it (not for ``!!``)."""
        self.select_process(proc)
        if attach:
            self.action_attach()

    # -- the command palette -----------------------------------------------------------
    def palette_commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        """(title, help, callback) of every action, for the command palette; the help
        starts with the action's key, or the chat command that does it."""
        bindings = [*MainScreen.BINDINGS, *ProcessList.BINDINGS, *ChatPane.BINDINGS]
        keys = binding_keys(bindings, {**self.config.keys, "detach": self.config.detach_key})
        for title, help_text, action in palette_entries(keys):
            yield title, help_text, partial(self.run_action, action)

    def action_sort_processes(self) -> None:
        """Switch the list to the next sort order."""
        self.process_list.action_cycle_sort()

    def action_chat_command(self, text: str) -> None:
        """Run a chat command (``/sessions``)."""
        self.conversation.run_command(text)

    def action_prefill_chat(self, text: str) -> None:
        """Start a chat command for the person to finish (it takes an argument)."""
        self.chat.prefill(text)
