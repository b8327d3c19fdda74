"""The full-screen app: wires the registry, the panes, themes and config together.

Layering: the app talks to the registry only; the registry talks to backends. Registry calls
that can block (spawn, kill, write, resize) run in worker threads; registry events reach the
UI through :class:`~hermes_tui.bridge.RegistryBridge`.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable

from backends import BACKEND_KINDS, signal_name
from hermes_tui.bridge import RegistryBridge
from hermes_tui.messages import ProcessChanged
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.help import HelpScreen
from hermes_tui.screens.main import MainScreen
from hermes_tui.screens.search import Match, SearchScreen
from hermes_tui.settings import Config, save_config
from hermes_tui.term.view import TerminalView
from hermes_tui.theming import HermesTheme
from hermes_tui.widgets.chat import ChatPane
from hermes_tui.widgets.process_list import ProcessList
from registry import CancelToken, ProcessRegistry, ProcessSession, RecoveryReport, RegistryError

CHAT_SESSION_KEY = "chat-1"
NO_AGENT_NOTICE = (
    "No agent is connected in this version: set OPENAI_API_KEY (and OPENAI_BASE_URL for "
    "another endpoint) once the agent arrives. Meanwhile, !command runs a command in the "
    "background and attaches to it; /help lists the commands."
)
_KEY_NAMES = {"^": "circumflex_accent", "]": "right_square_bracket", "\\": "backslash",
              "_": "underscore", "@": "at"}


def textual_key(spec: str) -> str:
    """Turn a config key like ``ctrl+^`` into Textual's key name."""
    prefix, _, char = spec.strip().lower().rpartition("+")
    name = _KEY_NAMES.get(char, char)
    return f"{prefix}+{name}" if prefix else name


class _InputSender:
    """Sends typed bytes to processes from one thread, in order, never blocking the UI."""

    def __init__(self, registry: ProcessRegistry, on_error: Callable[[str], None]) -> None:
        self.registry = registry
        self.on_error = on_error
        self._queue: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="hermes-input", daemon=True).start()

    def send(self, proc_id: str, data: bytes) -> None:
        self._queue.put((proc_id, data))

    def _run(self) -> None:
        while True:
            proc_id, data = self._queue.get()
            try:
                self.registry.write(proc_id, data)
            except RegistryError as exc:
                self.on_error(str(exc))


class HermesApp(App[None]):
    """hermes-tui: chat with the agent, a live process list and a terminal."""

    TITLE = "hermes-tui"
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("f2", "focus_pane('chat')", "Chat", id="focus_chat"),
        Binding("f3", "focus_pane('processes')", "Processes", id="focus_processes"),
        Binding("f4", "focus_pane('terminal')", "Terminal", id="focus_terminal"),
        Binding("f5", "zoom", "Zoom", id="zoom"),
        Binding("ctrl+f", "search", "Search", id="search"),
        Binding("w", "away", "Away report", show=False, id="away"),
        Binding("ctrl+circumflex_accent", "detach", "Detach", priority=True, id="detach"),
    ]

    def __init__(
        self,
        registry: ProcessRegistry,
        config: Config,
        themes: dict[str, HermesTheme],
        *,
        report: RecoveryReport | None = None,
        problems: Iterable[str] = (),
        config_path: Path | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.config = config
        self.hermes_themes = themes
        self.report = report
        self.problems = list(problems)
        self.config_path = config_path
        self.backend = backend or config.backend
        self.cancel = CancelToken()
        self.detach_key = textual_key(config.detach_key)
        self.attached_id: str | None = None
        self._bridge: RegistryBridge | None = None
        self._sender = _InputSender(registry, self._notify_from_thread)
        self._checkpoint_mtime = 0.0

    # -- start -----------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        """The main screen is the app's first screen (no extra frame before it)."""
        return MainScreen()

    def on_mount(self) -> None:
        for theme in self.hermes_themes.values():
            self.register_theme(theme.theme)
        if self.config.theme in self.hermes_themes:
            self.theme = self.config.theme
        else:
            self.problems.append(f"unknown theme {self.config.theme!r}; using the default")
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.set_keymap({**self.config.keys, "detach": self.detach_key})

    @on(MainScreen.Ready)
    def _on_main_ready(self) -> None:
        self._bridge = RegistryBridge(self.registry, self)
        for session in self.registry.processes():
            self.process_list.update_process(session)
        first = self.selected()
        if first is not None:
            self.terminal.show(first.output, pty=first.pty)
        self.chat.set_completions([*(f"/theme {name}" for name in sorted(self.hermes_themes)),
                                   *(f"/backend {kind}" for kind in BACKEND_KINDS)])
        self.terminal.send = self._send_to_attached
        self.terminal.detach_key = self.config.detach_key
        self._apply_palette()
        self.set_interval(0.25, self._refresh_output_marks)
        self.set_interval(1.0, self._tick)
        self._greet()
        self.chat.query_one("#chat-input").focus()

    def _greet(self) -> None:
        for problem in self.problems:
            self.chat.add(problem, "warning")
        report = self.report
        if report is not None and report.summary():
            self.chat.add(f"Recovered from the previous run: {report.summary()}. "
                          "Press w for details.", "notice")
            if report.ended or report.lost:
                self.push_screen(AwayScreen(report))
        for warning in report.warnings if report else []:
            self.chat.add(warning, "warning")
        self.chat.add(NO_AGENT_NOTICE, "notice")

    # -- handy accessors ----------------------------------------------------------------
    @property
    def main(self) -> MainScreen:
        """The main screen (also when a modal is on top)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        raise NoMatches("the main screen is not mounted")

    @property
    def process_list(self) -> ProcessList:
        """The process list pane."""
        return self.main.query_one(ProcessList)

    @property
    def terminal(self) -> TerminalView:
        """The terminal pane."""
        return self.main.query_one(TerminalView)

    @property
    def chat(self) -> ChatPane:
        """The chat pane."""
        return self.main.query_one(ChatPane)

    def selected(self) -> ProcessSession | None:
        """The process under the list's cursor."""
        proc_id = self.process_list.selected_id
        if proc_id is None:
            return None
        try:
            return self.registry.get(proc_id)
        except RegistryError:
            return None

    def _notify_from_thread(self, message: str) -> None:
        self.call_from_thread(self.notify, message, severity="error")

    # -- registry events and timers -------------------------------------------------------
    @on(ProcessChanged)
    def _on_process_changed(self, event: ProcessChanged) -> None:
        session = event.session
        try:
            self.process_list.update_process(session)
        except NoMatches:
            return  # the app is closing: the panes are already gone
        if not session.is_running and session.id == self.attached_id:
            self._end_attach(f"{session.id} {session.status.value}"
                         + ("" if session.exit_code is None else f" ({session.exit_code})"))

    def on_unmount(self) -> None:
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    def _refresh_output_marks(self) -> None:
        if self._bridge is not None:
            marks = self._bridge.take_output_marks()
            if marks:
                self.process_list.refresh_output(marks)

    def _tick(self) -> None:
        self.process_list.tick_runtimes()
        self._adopt_new_processes()

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
        self.registry.recover()  # new processes arrive as ProcessChanged messages

    # -- selection and the terminal ------------------------------------------------------
    @on(DataTable.RowHighlighted, "#processes")
    def _on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        session = self.selected()
        if session is not None and session.id != self.attached_id:
            self.terminal.show(session.output, pty=session.pty)

    def _send_to_attached(self, data: bytes) -> None:
        if self.attached_id is not None:
            self._sender.send(self.attached_id, data)

    @on(TerminalView.Resized)
    def _on_terminal_resized(self, event: TerminalView.Resized) -> None:
        session = self.selected() if self.attached_id is None else None
        target = self.attached_id or (session.id if session and session.pty else None)
        if target is not None:
            self._resize_process(target, event.rows, event.cols)

    @work(thread=True, group="resize", exit_on_error=False)
    def _resize_process(self, proc_id: str, rows: int, cols: int) -> None:
        try:
            session = self.registry.get(proc_id)
            if session.pty and session.is_running:
                self.registry.resize(proc_id, rows, cols)
        except RegistryError:
            pass

    @on(TerminalView.DetachRequested)
    def _on_detach_requested(self) -> None:
        self.action_detach()

    # -- actions: panes ----------------------------------------------------------------
    def action_focus_pane(self, pane: str) -> None:
        """Focus the chat, the process list or the terminal."""
        if pane == "chat":
            self.chat.query_one("#chat-input").focus()
        elif pane == "processes":
            self.process_list.focus()
        else:
            self.terminal.focus()

    def action_zoom(self) -> None:
        """Show the focused pane full-screen, or all three again."""
        main = self.main
        main.zoomed = None if main.zoomed else main.pane_of_focus()

    def action_help(self) -> None:
        """Show every key."""
        self.push_screen(HelpScreen(self.config.detach_key))

    def action_away(self) -> None:
        """Show what crash recovery found at start."""
        self.push_screen(AwayScreen(self.report or RecoveryReport()))

    def action_search(self) -> None:
        """Search every process's output."""
        self.push_screen(SearchScreen(self.registry), self._jump_to_match)

    def _jump_to_match(self, match: Match | None) -> None:
        if match is None:
            return
        table = self.process_list
        try:
            table.move_cursor(row=table.get_row_index(match.proc_id))
        except Exception:
            return
        session = self.registry.get(match.proc_id)
        self.terminal.show(session.output, pty=session.pty)
        self.terminal.search(match.text)
        self.terminal.focus()

    def action_filter(self) -> None:
        """Filter the process list by text."""
        def apply(text: str | None) -> None:
            if text is not None:
                self.process_list.filter_text = text.strip()

        self.push_screen(TextPrompt("Show processes containing (empty shows all):",
                                    self.process_list.filter_text), apply)

    # -- actions: processes -----------------------------------------------------------
    def action_attach(self) -> None:
        """Send every key to the selected process (until the detach key)."""
        session = self.selected()
        if session is None:
            self.notify("No process selected", severity="warning")
            return
        if not session.is_running:
            self.notify(f"{session.id} is not running", severity="warning")
            return
        self.attached_id = session.id
        terminal = self.terminal
        terminal.show(session.output, pty=session.pty)
        terminal.attached = True
        terminal.focus()
        self.refresh_bindings()
        rows, cols = terminal.size.height, terminal.size.width
        if session.pty and rows > 0 and cols > 0:
            self._resize_process(session.id, rows, cols)
        self.notify(f"Attached to {session.id}: {self.config.detach_key} detaches",
                    timeout=3)

    def action_detach(self) -> None:
        """Give the keyboard back to hermes-tui."""
        if self.attached_id is not None:
            self._end_attach(f"Detached from {self.attached_id}")

    def _end_attach(self, message: str) -> None:
        self.attached_id = None
        self.terminal.attached = False
        self.refresh_bindings()
        self.process_list.focus()
        self.notify(message, timeout=3)

    def action_kill_menu(self) -> None:
        """Choose a signal for the selected process (confirmation included)."""
        session = self.selected()
        if session is None or not session.is_running:
            self.notify("Select a running process first", severity="warning")
            return

        def chosen(sig: int | None) -> None:
            if sig is not None:
                self._kill(session.id, sig)

        self.push_screen(KillMenu(session.id), chosen)

    @work(thread=True, group="kill", exit_on_error=False)
    def _kill(self, proc_id: str, sig: int) -> None:
        try:
            if sig == signal.SIGTERM:
                self.registry.kill(proc_id)
            else:
                self.registry.send_signal(proc_id, sig)
            self.call_from_thread(self.notify, f"{signal_name(sig)} sent to {proc_id}")
        except RegistryError as exc:
            self._notify_from_thread(str(exc))

    @work(thread=True, group="restart", exit_on_error=False)
    def action_restart(self) -> None:
        """Run the selected process's command again."""
        session = self.call_from_thread(self.selected)
        if session is None:
            return
        try:
            new = self.registry.restart(session.id)
            self.call_from_thread(self.notify, f"Restarted {session.id} as {new.id}")
        except RegistryError as exc:
            self._notify_from_thread(str(exc))

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

        self.push_screen(TextPrompt(f"Name for {session.id}:", session.name or ""), apply)

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

        self.push_screen(TextPrompt(f"Save the output of {session.id} to:",
                                    f"{session.id}.log"), save)

    @work(thread=True, group="save", exit_on_error=False)
    def _save_log(self, proc_id: str, path: Path) -> None:
        try:
            with open(path, "wb") as f:
                offset = 0
                while chunk := self.registry.read_spool(proc_id, offset, 1 << 20):
                    f.write(chunk)
                    offset += len(chunk)
            self.call_from_thread(self.notify, f"Saved {offset} bytes to {path}")
        except (OSError, RegistryError) as exc:
            self._notify_from_thread(f"Could not save the log: {exc}")

    # -- chat -----------------------------------------------------------------------------
    @on(ChatPane.Submitted)
    def _on_chat_submitted(self, event: ChatPane.Submitted) -> None:
        text = event.text
        if text.startswith("!"):
            command = text[1:].strip()
            if command:
                self.chat.add(text, "user")
                self._run_shell(command)
        elif text.startswith("/"):
            self._slash_command(text)
        else:
            self.chat.add(text, "user")
            self.chat.add(NO_AGENT_NOTICE, "notice")

    @work(thread=True, group="spawn", exit_on_error=False)
    def _run_shell(self, command: str) -> None:
        size = self.terminal.size
        try:
            session = self.registry.spawn(
                command, backend=self.backend, pty=True, rows=max(size.height, 5),
                cols=max(size.width, 20), session_key=CHAT_SESSION_KEY,
            )
        except RegistryError as exc:
            self.call_from_thread(self.chat.add, f"Could not start {command!r}: {exc}", "error")
            return
        self.call_from_thread(self._started_from_chat, session)

    def _started_from_chat(self, session: ProcessSession) -> None:
        self.chat.add(f"Started {session.id}: {session.command} (attached; "
                      f"{self.config.detach_key} detaches)", "notice")
        self.process_list.update_process(session)
        self.process_list.move_cursor(row=self.process_list.get_row_index(session.id))
        self.action_attach()

    def _slash_command(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        argument = argument.strip()
        if name == "/help":
            self.action_help()
        elif name == "/clear":
            self.chat.clear()
        elif name == "/new":
            running = self.registry.has_active(CHAT_SESSION_KEY)
            self.chat.clear()
            self.chat.add("New chat session." + (" The processes of the previous one keep "
                                                 "running." if running else ""), "notice")
        elif name == "/theme":
            if argument in self.hermes_themes:
                self.theme = argument
            else:
                self.chat.add(f"Themes: {', '.join(sorted(self.hermes_themes))}", "notice")
        elif name == "/backend":
            if argument in BACKEND_KINDS:
                self.backend = argument
                self.chat.add(f"New processes start on the {argument} backend.", "notice")
            else:
                self.chat.add(f"Backend is {self.backend}; choose from: "
                              f"{', '.join(BACKEND_KINDS)}", "notice")
        else:
            self.chat.add(f"Unknown command {name}; try /help", "warning")

    def action_interrupt(self) -> None:
        """Stop the agent's current wait or command (Esc in the chat)."""
        self.cancel.cancel()
        self.cancel = CancelToken()

    # -- themes ---------------------------------------------------------------------------
    def _on_theme_changed(self, theme: Any) -> None:
        self._apply_palette()
        if self.config.theme != self.theme:
            self.config.theme = self.theme
            try:
                save_config(self.config, self.config_path)
            except OSError as exc:
                self.notify(f"Could not save the theme choice: {exc}", severity="warning")

    def _apply_palette(self) -> None:
        theme = self.hermes_themes.get(self.theme)
        if theme is None:
            return
        try:
            terminal = self.terminal
        except NoMatches:
            return  # not composed yet; on_mount applies it
        terminal.set_palette(theme.ansi, theme.fg, theme.bg)

    # -- attached mode and the palette -----------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While attached, every key but the detach key belongs to the process."""
        if self.attached_id is not None:
            return action == "detach"
        return action != "detach"

    def get_key_display(self, binding: Binding) -> str:
        """Show the detach key as the person configured it (``ctrl+^``), not as ``^^``."""
        if binding.action == "detach":
            return self.config.detach_key
        return super().get_key_display(binding)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands: list[tuple[str, str, Callable[[], Any]]] = [
            ("Attach to the selected process", "Keys go to the process", self.action_attach),
            ("Kill / send a signal", "INT, TERM, HUP or KILL", self.action_kill_menu),
            ("Restart the selected process", "Run its command again", self.action_restart),
            ("Name the selected process", "Shown in the list", self.action_rename),
            ("Toggle lifetime", "Keep running or stop on quit", self.action_toggle_lifetime),
            ("Save the log", "Write the whole output to a file", self.action_save_log),
            ("Filter processes", "Show only matching processes", self.action_filter),
            ("Search all output", "Find text in every process", self.action_search),
            ("Zoom pane", "Focused pane full-screen", self.action_zoom),
            ("Focus chat", "F2", partial(self.action_focus_pane, "chat")),
            ("Focus processes", "F3", partial(self.action_focus_pane, "processes")),
            ("Focus terminal", "F4", partial(self.action_focus_pane, "terminal")),
            ("While you were away", "What recovery found at start", self.action_away),
            ("Keys", "Every key binding", self.action_help),
        ]
        for title, help_text, callback in commands:
            yield SystemCommand(title, help_text, callback)

    # -- quit -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; processes keep running unless their lifetime says otherwise."""
        doomed = [s for s in self.registry.processes() if s.is_running and s.stop_on_quit]
        if doomed:
            self.notify(f"Stopping {len(doomed)} process(es) whose lifetime ends with the app")
            await self.run_in_thread_and_wait(self.registry.stop_on_quit)
        if self._bridge is not None:
            self._bridge.close()
        self.exit()

    async def run_in_thread_and_wait(self, func: Callable[[], object]) -> None:
        """Run a blocking call without freezing the UI."""
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, func)
