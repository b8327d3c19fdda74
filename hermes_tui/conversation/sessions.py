"""Chat sessions: each owns its conversation and the processes its agent started.

A session that owns running processes is never reset or expired behind the person's back;
idle sessions without running processes expire after the configured timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hermes_tui.agent.loop import Agent
from hermes_tui.conversation.history import Entry, SavedChat
from registry import CancelToken, ProcessRegistry


@dataclass
class ChatSession:
    """One conversation."""

    key: str
    """Owner key of the processes its agent starts (``chat-1``, ``chat-2``...)."""
    agent: Agent | None = None
    transcript: list[Entry] = field(default_factory=list)
    """What the chat pane showed, to show it again on switching back or after a restart."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The conversation as the model sees it (the agent appends to this very list)."""
    cancel: CancelToken = field(default_factory=CancelToken)
    toolsets: list[str] = field(default_factory=lambda: ["all"])
    """The tools its agent may use (``/toolsets terminal,file``)."""
    last_active: float = field(default_factory=time.time)

    def touch(self) -> None:
        """Mark the session as used now."""
        self.last_active = time.time()

    def saved(self) -> SavedChat:
        """What is written to disk."""
        return SavedChat(self.key, self.transcript, self.messages, self.toolsets, self.last_active)


class ChatSessions:
    """All chat sessions of the app and which one is shown."""

    def __init__(
        self,
        registry: ProcessRegistry,
        *,
        idle_timeout: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.sessions: dict[str, ChatSession] = {}
        self._next = 1
        self.current = self.new()

    def restore(self, saved: list[SavedChat]) -> None:
        """Replace the sessions with saved ones (oldest first); the newest becomes current."""
        if not saved:
            return
        self.sessions = {}
        for chat in saved:
            self.sessions[chat.key] = ChatSession(
                chat.key,
                transcript=chat.transcript,
                messages=chat.messages,
                toolsets=chat.toolsets,
                last_active=chat.last_active or self.clock(),
            )
            number = chat.key.removeprefix("chat-")
            if number.isdigit():
                self._next = max(self._next, int(number) + 1)
        self.current = self.sessions[saved[-1].key]

    def new(self) -> ChatSession:
        """Create a session and make it the current one."""
        session = ChatSession(f"chat-{self._next}", last_active=self.clock())
        self._next += 1
        self.sessions[session.key] = session
        self.current = session
        return session

    def running_processes(self, key: str) -> int:
        """How many running processes the session owns."""
        return sum(1 for s in self.registry.processes(key) if s.is_running)

    def switch(self, key: str) -> ChatSession:
        """Show another session.

        Raises:
            KeyError: for an unknown key.
        """
        self.current = self.sessions[key]
        self.current.last_active = self.clock()
        return self.current

    def expire_idle(self) -> list[str]:
        """Drop sessions idle longer than the timeout, unless they own running processes
        or are shown; return their keys."""
        now = self.clock()
        expired = [
            key
            for key, s in self.sessions.items()
            if s is not self.current
            and now - s.last_active > self.idle_timeout
            and not self.registry.has_active(key)
        ]
        for key in expired:
            del self.sessions[key]
        return expired
