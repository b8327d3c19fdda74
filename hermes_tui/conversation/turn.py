"""What one agent turn shows while it runs: streamed text, tool calls, notices."""

from __future__ import annotations

from typing import Protocol

from hermes_tui.conversation.history import Entry
from hermes_tui.conversation.sessions import ChatSession, ChatSessions
from hermes_tui.conversation.view import ChatView, RunningToolCall, StreamingMessage


class TurnHost(Protocol):
    """What a turn needs of the conversation it belongs to."""

    @property
    def sessions(self) -> ChatSessions:
        """Every chat session; ``current`` is the one on screen."""

    @property
    def view(self) -> ChatView:
        """The chat pane."""

    @property
    def shown_generation(self) -> int:
        """Changes whenever the chat pane is cleared and filled again."""

    def add_entry(self, session: ChatSession, entry: Entry, *, show: bool = True) -> None:
        """Record ``entry`` in ``session`` (and show it when that session is on screen)."""

    def say(self, text: str, role: str, session: ChatSession | None = None) -> None:
        """Show and record a line from the app."""


class TurnListener:
    """Shows one agent turn: streamed text, tool calls, notices."""

    def __init__(self, conversation: TurnHost, session: ChatSession) -> None:
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
