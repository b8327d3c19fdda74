"""Between the registry (any thread) and the UI thread, both ways, never blocking the UI.

Events in: starts, ends and updates are rare: each becomes a :class:`ProcessChanged`
message, posted with ``post_message`` (thread-safe). Output can arrive thousands of times a
second, so it only marks the process as having new output (when it is ``watched``: a row
in the list; a hidden process costs a set lookup), and only the first mark since the UI
last took them posts an :class:`OutputMarked`: one message however many processes print.
Output is also handed to ``on_output`` (the terminal pane wakes itself when it is the buffer
it shows). Input out: keys typed into an attached process go to the registry from
one thread, in order (:class:`InputSender`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from textual.message import Message
from textual.message_pump import MessagePump

from hermes_tui.messages import ProcessChanged
from registry import OutputBuffer, ProcessOutput, ProcessRegistry, RegistryError, RegistryEvent


class OutputMarked(Message):
    """A watched process printed: :meth:`RegistryBridge.take_output_marks` has something."""


class RegistryBridge:
    """Subscribes to a registry on behalf of a message pump (the app)."""

    def __init__(
        self,
        registry: ProcessRegistry,
        target: MessagePump,
        on_output: Callable[[OutputBuffer], None] | None = None,
        watched: Callable[[str], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.target = target
        self.on_output = on_output
        """Called (in the reader's thread) with the buffer of every output event."""
        self.watched = watched
        """Whether a process's output is marked (called in the reader's thread; None: all)."""
        self._lock = threading.Lock()
        self._output_seen: set[str] = set()
        self._unsubscribe = registry.subscribe(self._on_event)

    def _on_event(self, event: RegistryEvent) -> None:
        if isinstance(event, ProcessOutput):
            if self.on_output is not None:
                self.on_output(event.proc.output)
            proc_id = event.proc.id
            if self.watched is not None and not self.watched(proc_id):
                return
            with self._lock:
                first = not self._output_seen
                self._output_seen.add(proc_id)
            if first:
                self.target.post_message(OutputMarked())
        else:
            self.target.post_message(ProcessChanged(event.proc))

    def take_output_marks(self) -> set[str]:
        """Return the ids of processes that printed since the last call."""
        with self._lock:
            marks, self._output_seen = self._output_seen, set()
        return marks

    def close(self) -> None:
        """Stop listening."""
        self._unsubscribe()


class InputSender:
    """Sends typed bytes to processes from one thread, in order, never blocking the UI."""

    def __init__(self, registry: ProcessRegistry, on_error: Callable[[str], None]) -> None:
        self.registry = registry
        self.on_error = on_error
        self._queue: queue.SimpleQueue[tuple[str, bytes] | threading.Event | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="hermes-input", daemon=True)
        self._thread.start()

    def send(self, proc_id: str, data: bytes) -> None:
        """Queue ``data`` for the process (returns at once)."""
        self._queue.put((proc_id, data))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been written; False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            proc_id, data = item
            try:
                self.registry.write(proc_id, data)
            except RegistryError as exc:
                self.on_error(str(exc))
