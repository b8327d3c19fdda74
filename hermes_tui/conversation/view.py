"""What the conversation needs from the screen around it: the chat view and the host.

The main screen and its chat pane implement these; tests may provide their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from registry import Process


class RunningToolCall(Protocol):
    """A tool call on screen while it runs."""

    def finish(self, result: str) -> None:
        """Show its result."""


class StreamingMessage(Protocol):
    """A message on screen that grows as the model streams."""

    text: str

    def append(self, chunk: str) -> None:
        """Add streamed text."""


class ChatView(Protocol):
    """What the conversation needs from the chat pane."""

    def add(self, text: str, role: str = "notice") -> StreamingMessage:
        """Show a message."""

    def add_tool_call(self, name: str, arguments: str, result: str | None) -> RunningToolCall:
        """Show a tool call and its result (None while it runs)."""

    def set_working(self, what: str | None) -> None:
        """Show that the agent works on ``what`` (with the time it takes), or hide it."""

    def clear(self) -> None:
        """Remove every message."""

    def show_session(self, key: str, tool_errors: int) -> None:
        """Show which chat session this is and how many tool calls failed in it."""

    def set_completions(self, extra: list[str]) -> None:
        """What the input completes."""


class ConversationHost(Protocol):
    """What the conversation needs from the screen around it."""

    def show_help(self) -> None:
        """Show every key and command."""

    def theme_names(self) -> list[str]:
        """The themes that can be chosen."""

    def set_theme(self, name: str) -> None:
        """Switch the theme."""

    def confirm(self, question: str, on_yes: Callable[[], None]) -> None:
        """Ask a yes/no question; call ``on_yes`` if the answer is yes."""

    def pty_size(self) -> tuple[int, int]:
        """Rows and columns for a process started from the chat (the terminal pane's)."""

    def started_from_chat(self, proc: Process, attach: bool = True) -> None:
        """A ``!command`` started: select it and attach to it (``!!command``: don't)."""
