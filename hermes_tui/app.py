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
from hermes_tui.agent.endpoint import HOW_TO_CONFIGURE, Endpoint, make_client
from hermes_tui.agent.loop import Agent, AgentError
from hermes_tui.agent.sessions import ChatSession, ChatSessions
from hermes_tui.agent.watchers import WatcherManager
from hermes_tui.bridge import RegistryBridge
from hermes_tui.messages import ProcessChanged
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.confirm import Confirm
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.help import HelpScreen
from hermes_tui.screens.main import MainScreen
from hermes_tui.screens.search import Match, SearchScreen
from hermes_tui.settings import Config, save_config
from hermes_tui.term.view import TerminalView
from hermes_tui.theming import HermesTheme
from hermes_tui.tools import TOOLSETS, ToolContext, ToolError, tools_in
from hermes_tui.widgets.chat import ChatPane
from hermes_tui.widgets.process_list import ProcessList
from registry import ProcessRegistry, ProcessSession, RecoveryReport, RegistryError

NO_AGENT_NOTICE = HOW_TO_CONFIGURE
_KEY_NAMES = {
    "^": "circumflex_accent",
    "]": "right_square_bracket",
    "\\": "backslash",
    "_": "underscore",
    "@": "at",
}


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


class _ChatListener:
    """Shows an agent turn in the chat: streamed text, tool calls, notices."""

    def __init__(self, app: HermesApp, session: ChatSession) -> None:
        self.app = app
        self.session = session
        self._message: Any = None

    def on_text(self, delta: str) -> None:
        if self.app.sessions.current is not self.session:
            return
        if self._message is None:
            self._message = self.app.chat.add("", "assistant")
        self._message.append(delta)
        self.app.chat.log_view.scroll_end(animate=False)

    def on_tool_call(self, name: str, arguments: str) -> None:
        self._finish_text()

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        self.session.transcript.append((f"{name}({arguments}) -> {result}", "notice"))
        if self.app.sessions.current is self.session:
            self.app.chat.add_tool_call(name, arguments, result)
        self.app.show_tool_errors()

    def on_notice(self, text: str, level: str) -> None:
        self._finish_text()
        self.app.say(text, level, self.session)

    def _finish_text(self) -> None:
        if self._message is not None:
            self.session.transcript.append((self._message.text, "assistant"))
            self._message = None

    def close(self) -> None:
        self._finish_text()


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
        endpoint: Endpoint | None = None,
        watcher_min_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.config = config
        self.hermes_themes = themes
        self.report = report
        self.problems = list(problems)
        self.config_path = config_path
        self.backend = backend or config.backend
        self.endpoint = endpoint
        self.sessions = ChatSessions(
            registry, idle_timeout=config.processes.idle_timeout_hours * 3600
        )
        self.watchers = WatcherManager(
            registry, self._post_watcher_update, min_interval=watcher_min_interval
        )
        self._ticks = 0
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
        self.chat.set_completions(
            [
                *(f"/theme {name}" for name in sorted(self.hermes_themes)),
                *(f"/backend {kind}" for kind in BACKEND_KINDS),
            ]
        )
        self.terminal.send = self._send_to_attached
        self.terminal.detach_key = self.config.detach_key
        self._apply_palette()
        self.set_interval(0.25, self._refresh_output_marks)
        self.set_interval(1.0, self._tick)
        self._greet()
        self.chat.query_one("#chat-input").focus()

    def _greet(self) -> None:
        for problem in self.problems:
            self.say(problem, "warning")
        report = self.report
        if report is not None and report.summary():
            self.say(
                f"Recovered from the previous run: {report.summary()}. Press w for details.",
                "notice",
            )
            if report.ended or report.lost:
                self.push_screen(AwayScreen(report))
        for warning in report.warnings if report else []:
            self.say(warning, "warning")
        if self.endpoint is not None and self.endpoint.usable:
            where = self.endpoint.base_url or "api.openai.com"
            self.say(f"Model {self.endpoint.model} at {where}. Esc interrupts the agent.", "notice")
        else:
            self.say(NO_AGENT_NOTICE, "notice")

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
            self._end_attach(
                f"{session.id} {session.status.value}"
                + ("" if session.exit_code is None else f" ({session.exit_code})")
            )

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
        self._ticks += 1
        if self._ticks % 60 == 0:
            for key in self.sessions.expire_idle():
                self.watchers.stop_session(key)
                self.notify(f"Chat session {key} expired after being idle", timeout=3)

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

        self.push_screen(
            TextPrompt(
                "Show processes containing (empty shows all):", self.process_list.filter_text
            ),
            apply,
        )

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
        self.notify(f"Attached to {session.id}: {self.config.detach_key} detaches", timeout=3)

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
        self.notify(
            f"{session.id} will {'stop' if session.stop_on_quit else 'keep running'} "
            "when hermes-tui quits"
        )

    def action_save_log(self) -> None:
        """Save the selected process's whole output to a file."""
        session = self.selected()
        if session is None:
            return

        def save(path: str | None) -> None:
            if path:
                self._save_log(session.id, Path(path).expanduser())

        self.push_screen(
            TextPrompt(f"Save the output of {session.id} to:", f"{session.id}.log"), save
        )

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
                self.say(text, "user")
                self._run_shell(command)
        elif text.startswith("/"):
            self._slash_command(text)
        else:
            self.say(text, "user")
            if self.endpoint is None or not self.endpoint.usable:
                self.say(NO_AGENT_NOTICE, "notice")
            else:
                self._agent_turn(self.sessions.current, text)

    @work(thread=True, group="spawn", exit_on_error=False)
    def _run_shell(self, command: str) -> None:
        size = self.terminal.size
        try:
            session = self.registry.spawn(
                command,
                backend=self.backend,
                pty=True,
                rows=max(size.height, 5),
                cols=max(size.width, 20),
                session_key=self.sessions.current.key,
            )
        except RegistryError as exc:
            self.call_from_thread(self.say, f"Could not start {command!r}: {exc}", "error")
            return
        self.call_from_thread(self._started_from_chat, session)

    def _started_from_chat(self, session: ProcessSession) -> None:
        self.say(
            f"Started {session.id}: {session.command} (attached; "
            f"{self.config.detach_key} detaches)",
            "notice",
        )
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
            self.sessions.current.transcript.clear()
        elif name == "/new":
            self._new_session()
        elif name == "/toolsets":
            self._set_toolsets(argument)
        elif name == "/sessions":
            lines = [
                f"{'*' if s is self.sessions.current else ' '} {key}: "
                f"{self.sessions.running_processes(key)} running process(es)"
                for key, s in self.sessions.sessions.items()
            ]
            self.say("Chat sessions (/switch KEY):\n" + "\n".join(lines), "notice")
        elif name == "/switch":
            if argument in self.sessions.sessions:
                self._show_session(self.sessions.switch(argument))
            else:
                self.say(f"No chat session {argument!r}; /sessions lists them", "warning")
        elif name == "/theme":
            if argument in self.hermes_themes:
                self.theme = argument
            else:
                self.say(f"Themes: {', '.join(sorted(self.hermes_themes))}", "notice")
        elif name == "/backend":
            if argument in BACKEND_KINDS:
                self.backend = argument
                self.say(f"New processes start on the {argument} backend.", "notice")
            else:
                self.say(
                    f"Backend is {self.backend}; choose from: {', '.join(BACKEND_KINDS)}", "notice"
                )
        else:
            self.say(f"Unknown command {name}; try /help", "warning")

    def action_interrupt(self) -> None:
        """Stop the agent's current turn: its stream, a running wait or command (Esc)."""
        self.sessions.current.cancel.cancel()

    # -- the agent ------------------------------------------------------------------------
    def say(self, text: str, role: str, session: ChatSession | None = None) -> None:
        """Add a message to a chat session (shown at once when it is the current one)."""
        session = session or self.sessions.current
        session.transcript.append((text, role))
        session.touch()
        if session is self.sessions.current:
            self.chat.add(text, role)

    def _agent_for(self, session: ChatSession) -> Agent:
        if session.agent is None:
            assert self.endpoint is not None
            ctx = ToolContext(
                registry=self.registry,
                session_key=session.key,
                backend=self.backend,
                cancel=session.cancel,
                start_watcher=self._start_watcher_from_thread,
                watcher_min_interval=self.watchers.min_interval,
                max_foreground_timeout=self.registry.max_wait,
            )
            session.agent = Agent(
                make_client(self.endpoint),
                self.endpoint.model,
                tools_in(session.toolsets),
                ctx,
                max_iterations=int(self.config.model.max_iterations),
            )
        return session.agent

    @work(exclusive=True, group="agent", exit_on_error=False)
    async def _agent_turn(self, session: ChatSession, text: str) -> None:
        agent = self._agent_for(session)
        listener = _ChatListener(self, session)
        try:
            await agent.run_turn(text, listener)
        except AgentError as exc:
            listener.close()
            self.say(str(exc), "error", session)
        finally:
            listener.close()
            session.touch()

    def _set_toolsets(self, argument: str) -> None:
        session = self.sessions.current
        names = [n.strip() for n in argument.replace(",", " ").split() if n.strip()]
        if not names:
            self.say(
                f"Toolsets of {session.key}: {', '.join(session.toolsets)}; choose from "
                f"{', '.join(TOOLSETS)}",
                "notice",
            )
            return
        try:
            tools = tools_in(names)
        except ToolError as exc:
            self.say(str(exc), "warning")
            return
        session.toolsets = names
        if session.agent is not None:
            session.agent.set_tools(tools)
        self.say(f"{session.key} now uses: {', '.join(t.name for t in tools)}", "notice")

    def show_tool_errors(self) -> None:
        """Show the current session's tool error count on the chat pane."""
        agent = self.sessions.current.agent
        count = len(agent.tool_errors) if agent else 0
        self.chat.border_subtitle = f"{count} tool error(s)" if count else ""

    def _start_watcher_from_thread(self, session: ProcessSession, interval: float) -> None:
        """Tools run in worker threads; watchers live on the event loop."""
        self.call_from_thread(self.watchers.start, session, interval)

    def _post_watcher_update(self, session_key: str, text: str) -> None:
        target = self.sessions.sessions.get(session_key)
        if target is not None:
            self.say(text, "notice", target)

    def _new_session(self) -> None:
        running = self.sessions.running_processes(self.sessions.current.key)

        def start(confirmed: bool | None) -> None:
            if not confirmed:
                return
            old = self.sessions.current
            self._show_session(self.sessions.new())
            self.say(
                f"New chat session {self.sessions.current.key}."
                + (
                    f" {old.key} keeps its {running} running process(es); "
                    f"/switch {old.key} to go back."
                    if running
                    else ""
                ),
                "notice",
            )

        if running:
            self.push_screen(
                Confirm(
                    f"Chat session {self.sessions.current.key} owns {running} "
                    "running process(es). They keep running. Start a new "
                    "chat session?"
                ),
                start,
            )
        else:
            start(True)

    def _show_session(self, session: ChatSession) -> None:
        self.chat.clear()
        for text, role in session.transcript:
            self.chat.add(text, role)  # replay: already in the transcript
        self.chat.border_title = f"Chat — {session.key}"
        self.show_tool_errors()

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
        self.watchers.stop_all()
        self.exit()

    async def run_in_thread_and_wait(self, func: Callable[[], object]) -> None:
        """Run a blocking call without freezing the UI."""
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, func)
