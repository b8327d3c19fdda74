"""From registry events (any thread) to the app (the UI thread), without flooding it.

Starts, ends and updates are rare: each becomes a :class:`ProcessChanged` message, posted
with ``post_message`` (thread-safe). Output can arrive thousands of times a second, so it only
marks the process as having new output; the UI collects the marks on its own timer.
"""

from __future__ import annotations

import threading

from textual.message_pump import MessagePump

from hermes_tui.messages import ProcessChanged
from registry import ProcessOutput, ProcessRegistry, RegistryEvent


class RegistryBridge:
    """Subscribes to a registry on behalf of a message pump (the app)."""

    def __init__(self, registry: ProcessRegistry, target: MessagePump) -> None:
        self.registry = registry
        self.target = target
        self._lock = threading.Lock()
        self._output_seen: set[str] = set()
        self._unsubscribe = registry.subscribe(self._on_event)

    def _on_event(self, event: RegistryEvent) -> None:
        if isinstance(event, ProcessOutput):
            with self._lock:
                self._output_seen.add(event.session.id)
        else:
            self.target.post_message(ProcessChanged(event.session))

    def take_output_marks(self) -> set[str]:
        """Return the ids of processes that printed since the last call."""
        with self._lock:
            marks, self._output_seen = self._output_seen, set()
        return marks

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()
