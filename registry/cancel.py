"""Cancellation that reaches blocked waits in other threads (Esc / ctrl+c in the chat)."""

from __future__ import annotations

import threading


class CancelToken:
    """Set once to interrupt every wait that registered with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._waiters: set[threading.Event] = set()

    def cancel(self) -> None:
        """Interrupt current and future waits (until :meth:`reset`)."""
        with self._lock:
            self._cancelled.set()
            for waiter in self._waiters:
                waiter.set()

    def reset(self) -> None:
        """Allow waits again (at the start of a new turn)."""
        self._cancelled.clear()

    @property
    def cancelled(self) -> bool:
        """True after :meth:`cancel` until :meth:`reset`."""
        return self._cancelled.is_set()

    @property
    def event(self) -> threading.Event:
        """An event that is set while cancelled (for APIs that take an Event)."""
        return self._cancelled

    def register(self, waiter: threading.Event) -> None:
        """Set ``waiter`` when cancelled (immediately if already cancelled)."""
        with self._lock:
            self._waiters.add(waiter)
            if self._cancelled.is_set():
                waiter.set()

    def unregister(self, waiter: threading.Event) -> None:
        """Stop setting ``waiter``."""
        with self._lock:
            self._waiters.discard(waiter)
