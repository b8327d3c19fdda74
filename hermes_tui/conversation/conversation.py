"""The conversation: chat sessions, agent turns, watchers, ``!command`` and ``/command``.

Free of widgets: it shows things through a :class:`ChatView` (the chat pane) and asks its
:class:`ConversationHost` (the main screen) for what only the screen can do (dialogs, attach,
themes). Everything runs on the app's event loop; blocking registry calls go to threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from backends import BACKEND_KINDS, BackendError
from hermes_tui.agent.endpoint import HOW_TO_CONFIGURE, Endpoint, make_client
from hermes_tui.agent.loop import Agent, AgentError
from hermes_tui.agent.watchers import WatcherManager
from hermes_tui.conversation import commands
from hermes_tui.conversation.history import ChatStore, Entry, environment_secrets
from hermes_tui.conversation.sessions import ChatSession, ChatSessions
from hermes_tui.conversation.view import (
    ChatView,
    ConversationHost,
    RunningToolCall,
    StreamingMessage,
)
from hermes_tui.tools import TOOLSETS, ToolContext, ToolError, tools_in
from registry import Process, ProcessRegistry, RegistryError


class _TurnListener:
    """Shows one agent turn: streamed text, tool calls, notices."""

    def __init__(self, conversation: Conversation, session: ChatSession) -> None:
        self.conversation = conversation
        self.session = session
        self._entry: Entry | None = None
        self._message: StreamingMessage | None = None
        self._running: tuple[RunningToolCall, int] | None = None
        """The block of the call that runs, and the view's generation it was shown in."""

    def on_text(self, delta: str) -> None:
        if self._entry is None:
            self._entry = Entry("assistant", "")
            self.session.transcript.append(self._entry)
            if self.conversation.sessions.current is self.session:
                self._message = self.conversation.view.add("", "assistant")
        self._entry.text += delta
        if self._message is not None:
            self._message.append(delta)

    def _shown(self) -> bool:
        return self.conversation.sessions.current is self.session

    def on_tool_call(self, name: str, arguments: str) -> None:
        self._finish_text()
        if self._shown():
            # The block shows while the call runs (a wait can take minutes).
            block = self.conversation.view.add_tool_call(name, arguments, None)
            self._running = (block, self.conversation.shown_generation)
            self.conversation.view.set_working(f"running {name}")

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        entry = Entry("tool", result, name, arguments)
        running = self._running
        if running is not None and running[1] == self.conversation.shown_generation:
            running[0].finish(result)  # its block is still on screen
            self.conversation.add_entry(self.session, entry, show=False)
        else:
            self.conversation.add_entry(self.session, entry)
        self._running = None
        if self._shown():
            self.conversation.view.set_working("thinking")

    def on_notice(self, text: str, level: str) -> None:
        self._finish_text()
        self.conversation.say(text, level, self.session)

    def _finish_text(self) -> None:
        self._entry = self._message = None


class Conversation:
    """Every chat session of the app, and what is typed into the chat."""

    def __init__(
        self,
        registry: ProcessRegistry,
        view: ChatView,
        host: ConversationHost,
        *,
        endpoint: Endpoint | None,
        backend: str,
        max_iterations: int = 30,
        idle_timeout: float = 24 * 3600,
        watcher_min_interval: float = 30.0,
        history_dir: Path | None = None,
        notifications: str | None = None,
        bang_attaches: bool = True,
    ) -> None:
        self.registry = registry
        self.view = view
        self.host = host
        self.endpoint = endpoint
        self.backend = backend
        self.max_iterations = max_iterations
        self.bang_attaches = bang_attaches
        """``!command`` attaches (``!!command`` does not); False swaps the two."""
        self.sessions = ChatSessions(registry, idle_timeout=idle_timeout)
        self.watchers = WatcherManager(
            registry, self._watcher_update, min_interval=watcher_min_interval, mode=notifications
        )
        key = endpoint.api_key if endpoint and endpoint.api_key else ""
        self.store = ChatStore(
            history_dir or registry.state_dir / "chats", environment_secrets([key])
        )
        self._turns: dict[str, asyncio.Task[None]] = {}
        self._save_failed: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.shown_generation = 0
        """Counts redraws of the chat pane (a running tool call's block is gone after one)."""

    @property
    def agent_ready(self) -> bool:
        """True when a model is configured."""
        return self.endpoint is not None and self.endpoint.usable

    # -- start and stop --------------------------------------------------------------------
    def restore(self) -> list[str]:
        """Load the saved chat sessions and show the newest; return problems to report.

        Called once, on the app's event loop.
        """
        self._loop = asyncio.get_running_loop()
        saved, problems = self.store.load_all()
        self.sessions.restore(saved)
        self.show(self.sessions.current)
        self.refresh_completions()
        self.watchers.rearm()  # the watchers of the last run go on (processes were recovered)
        self._loop.create_task(self.check_backend(self.backend))
        return problems

    def close(self) -> None:
        """Stop watchers and turns (the app is quitting)."""
        self.watchers.stop_all()
        for task in self._turns.values():
            task.cancel()

    # -- what is shown --------------------------------------------------------------------
    def say(self, text: str, role: str, session: ChatSession | None = None) -> None:
        """Add a message to a chat session (shown at once when it is the current one)."""
        self.add_entry(session or self.sessions.current, Entry(role, text))

    def add_entry(self, session: ChatSession, entry: Entry, *, show: bool = True) -> None:
        """Record an entry, save the session, and show it if the session is on screen
        (``show=False``: it is on screen already)."""
        session.transcript.append(entry)
        session.touch()
        if session is self.sessions.current:
            if show:
                self._show_entry(entry)
            if entry.role == "tool":
                self._show_title()
        self.save(session)

    def _show_entry(self, entry: Entry) -> None:
        if entry.role == "tool":
            self.view.add_tool_call(entry.tool, entry.arguments, entry.text)
        else:
            self.view.add(entry.text, entry.role)

    def show(self, session: ChatSession) -> None:
        """Show a chat session's whole transcript (tool calls as blocks, as they ran)."""
        self.view.clear()
        self.shown_generation += 1
        for entry in session.transcript:
            self._show_entry(entry)
        self._show_title()
        self.view.set_working("thinking" if self.turn_running(session.key) else None)

    def _show_title(self) -> None:
        agent = self.sessions.current.agent
        self.view.show_session(self.sessions.current.key, len(agent.tool_errors) if agent else 0)

    def save(self, session: ChatSession) -> None:
        """Write a chat session's history; a failure is said once, never raised."""
        try:
            self.store.save(session.saved())
            self._save_failed.discard(session.key)
        except OSError as exc:
            if session.key not in self._save_failed:
                self._save_failed.add(session.key)
                self.view.add(f"Could not save the chat history: {exc}", "warning")

    def refresh_completions(self) -> None:
        """Complete command names and their values (themes, backends, sessions, toolsets)."""
        self.view.set_completions(
            commands.completions(
                {
                    "/theme": self.host.theme_names(),
                    "/backend": BACKEND_KINDS,
                    "/switch": list(self.sessions.sessions),
                    "/toolsets": list(TOOLSETS),
                }
            )
        )

    # -- input ----------------------------------------------------------------------------
    def submit(self, text: str) -> None:
        """Handle a line typed in the chat: ``!command``, ``/command`` or a message."""
        if text.startswith("!"):
            # "!cmd" attaches to the process, "!!cmd" leaves the keyboard in the chat (or the
            # other way round, as the config says).
            attach = text.startswith("!!") != self.bang_attaches
            command = text.lstrip("!").strip()
            if command:
                self.say(text, "user")
                asyncio.get_running_loop().create_task(self._run_shell(command, attach))
        elif text.startswith("/"):
            self.run_command(text)
        else:
            self.say(text, "user")
            if not self.agent_ready:
                self.say(HOW_TO_CONFIGURE, "notice")
            else:
                self._start_turn(self.sessions.current, text)

    async def _run_shell(self, command: str, attach: bool = True) -> None:
        rows, cols = self.host.pty_size()
        key = self.sessions.current.key
        try:
            session = await asyncio.to_thread(
                self.registry.spawn,
                command,
                backend=self.backend,
                pty=True,
                rows=rows,
                cols=cols,
                owner=key,
            )
        except RegistryError as exc:
            self.say(f"Could not start {command!r}: {exc}", "error")
            return
        how = "attached" if attach else "in the background; Enter on it attaches"
        self.say(f"Started {session.id}: {session.command} ({how})", "notice")
        self.host.started_from_chat(session, attach)

    def interrupt(self) -> None:
        """Stop the current session's turn: its stream, a running wait or command (Esc)."""
        self.sessions.current.cancel.cancel()

    async def check_backend(self, kind: str) -> None:
        """Reach a non-local backend once, so missing credentials or an unreachable service
        are one line in the chat at start (or after /backend), not a surprise later."""
        if kind == "local":
            return
        try:
            await asyncio.to_thread(self.registry.backend, kind, self.sessions.current.key)
        except BackendError as exc:
            self.say(
                f"The {kind} backend cannot be used: {exc}. Commands on it fail until "
                "this is fixed; nothing runs on this machine instead.",
                "error",
            )

    # -- the agent --------------------------------------------------------------------
    def _agent_for(self, session: ChatSession) -> Agent:
        if session.agent is None:
            assert self.endpoint is not None
            ctx = ToolContext(
                registry=self.registry,
                owner=session.key,
                backend=self.backend,
                cancel=session.cancel,
                start_watcher=self._start_watcher_from_thread,
                watcher_min_interval=self.watchers.min_interval,
                notifications=self.watchers.mode,
                max_foreground_timeout=self.registry.max_wait,
            )
            session.agent = Agent(
                make_client(self.endpoint),
                self.endpoint.model,
                tools_in(session.toolsets),
                ctx,
                messages=session.messages,
                max_iterations=self.max_iterations,
            )
        return session.agent

    def _start_turn(self, session: ChatSession, text: str) -> None:
        running = self._turns.get(session.key)
        task = asyncio.get_running_loop().create_task(self._turn(session, text, running))
        self._turns[session.key] = task
        task.add_done_callback(
            lambda t: self._turns.pop(session.key) if self._turns.get(session.key) is t else None
        )

    async def _turn(
        self, session: ChatSession, text: str, running: asyncio.Task[None] | None
    ) -> None:
        if running is not None and not running.done():
            # A new message while a turn runs: interrupt it as Esc does (a blocked tool call
            # gets an "interrupted" result, so the history stays valid), then answer this one.
            session.cancel.cancel()
            await asyncio.wait({running})
        agent = self._agent_for(session)
        if self.sessions.current is session:
            self.view.set_working("thinking")
        try:
            await agent.run_turn(text, _TurnListener(self, session))
        except AgentError as exc:
            self.say(str(exc), "error", session)
        finally:
            if self.sessions.current is session:
                self.view.set_working(None)
            session.touch()
            self.save(session)

    def turn_running(self, key: str | None = None) -> bool:
        """True while an agent turn runs in the (current) chat session."""
        task = self._turns.get(key or self.sessions.current.key)
        return task is not None and not task.done()

    def _start_watcher_from_thread(
        self, session: Process, interval: float, mode: str | None = None
    ) -> None:
        """Tools run in worker threads; watchers live on the event loop."""
        assert self._loop is not None, "restore() binds the loop before any turn"
        self._loop.call_soon_threadsafe(self.watchers.start, session, interval, mode)

    def _watcher_update(self, owner: str, text: str) -> None:
        # A watcher re-armed after a restart may belong to a chat session that expired.
        target = self.sessions.sessions.get(owner) or self.sessions.current
        self.say(text, "notice", target)

    def expire_idle(self) -> list[str]:
        """Drop idle chat sessions that own no running process; return their keys."""
        expired = self.sessions.expire_idle()
        for key in expired:
            self.watchers.stop_session(key)
            self.store.delete(key)
        if expired:
            self.refresh_completions()
        return expired

    # -- slash commands ---------------------------------------------------------------
    def run_command(self, text: str) -> None:
        """Run a ``/command`` from the table in :mod:`hermes_tui.conversation.commands`."""
        command, name, argument = commands.parse(text)
        if command is None:
            self.say(f"Unknown command {name}; try /help", "warning")
            return
        handler: Callable[[str], None] = getattr(self, "cmd_" + command.name[1:])
        handler(argument)

    def cmd_help(self, argument: str) -> None:
        """/help"""
        self.host.show_help()

    def cmd_clear(self, argument: str) -> None:
        """/clear"""
        self.sessions.current.transcript.clear()
        self.show(self.sessions.current)
        self.save(self.sessions.current)

    def cmd_new(self, argument: str) -> None:
        """/new: asks first when the current session owns running processes."""
        old = self.sessions.current
        running = self.sessions.running_processes(old.key)

        def start() -> None:
            new = self.sessions.new()
            self.show(new)
            self.say(
                f"New chat session {new.key}."
                + (
                    f" {old.key} keeps its {running} running process(es); "
                    f"/switch {old.key} to go back."
                    if running
                    else ""
                ),
                "notice",
            )
            self.refresh_completions()

        if running:
            self.host.confirm(
                f"Chat session {old.key} owns {running} running process(es). "
                "They keep running. Start a new chat session?",
                start,
            )
        else:
            start()

    def cmd_sessions(self, argument: str) -> None:
        """/sessions"""
        lines = [
            f"{'*' if s is self.sessions.current else ' '} {key}: "
            f"{self.sessions.running_processes(key)} running process(es)"
            for key, s in self.sessions.sessions.items()
        ]
        self.say("Chat sessions (/switch KEY):\n" + "\n".join(lines), "notice")

    def cmd_switch(self, argument: str) -> None:
        """/switch KEY"""
        if argument in self.sessions.sessions:
            self.show(self.sessions.switch(argument))
        else:
            self.say(f"No chat session {argument!r}; /sessions lists them", "warning")

    def cmd_toolsets(self, argument: str) -> None:
        """/toolsets NAMES"""
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

    def cmd_backend(self, argument: str) -> None:
        """/backend NAME"""
        if argument in BACKEND_KINDS:
            self.backend = argument
            for session in self.sessions.sessions.values():
                if session.agent is not None:
                    session.agent.ctx.backend = argument
            self.say(f"New processes start on the {argument} backend.", "notice")
            asyncio.get_running_loop().create_task(self.check_backend(argument))
        else:
            self.say(
                f"Backend is {self.backend}; choose from: {', '.join(BACKEND_KINDS)}", "notice"
            )

    def cmd_theme(self, argument: str) -> None:
        """/theme NAME"""
        names: Sequence[str] = self.host.theme_names()
        if argument in names:
            self.host.set_theme(argument)
        else:
            self.say(f"Themes: {', '.join(sorted(names))}", "notice")
