"""Chat sessions: protection of sessions that own processes, idle expiry."""

from __future__ import annotations

from hermes_tui.conversation.sessions import ChatSessions
from registry import ProcessRegistry


def test_idle_sessions_expire_unless_they_own_running_processes(
    registry: ProcessRegistry,
) -> None:
    now = [1000.0]
    sessions = ChatSessions(registry, idle_timeout=60, clock=lambda: now[0])
    first = sessions.current
    busy = sessions.new()
    registry.spawn("sleep 60", owner=busy.key)
    sessions.new()  # the one shown now
    now[0] += 30
    assert sessions.expire_idle() == []
    now[0] += 60
    assert sessions.expire_idle() == [first.key]
    assert busy.key in sessions.sessions  # protected by its running process
    registry.cleanup(busy.key)
    assert sessions.expire_idle() == [busy.key]
    assert list(sessions.sessions) == [sessions.current.key]


def test_running_processes_are_counted_per_session(registry: ProcessRegistry) -> None:
    sessions = ChatSessions(registry)
    registry.spawn("sleep 60", owner=sessions.current.key)
    registry.spawn("sleep 60", owner="other")
    assert sessions.running_processes(sessions.current.key) == 1
    second = sessions.new()
    assert sessions.running_processes(second.key) == 0
    assert sessions.switch("chat-1").key == "chat-1"
