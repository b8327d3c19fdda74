"""Reading a process: its retained output, its whole spool, polls, line pages, waiting."""

from __future__ import annotations

import math
import threading
import time
from abc import abstractmethod
from typing import cast

from backends import Backend, BackendError, Probe
from registry.cancel import CancelToken
from registry.errors import RegistryError
from registry.results import LogResult, PollResult, WaitResult, WaitStatus
from registry.session import ProcessSession
from registry.text import clean_output


class OutputQueries:
    """The reading half of :class:`registry.ProcessRegistry` (a mixin: it provides the rest)."""

    _lock: threading.RLock
    buffer_limit: int
    max_wait: float

    @abstractmethod
    def get(self, proc_id: str) -> ProcessSession:
        """Return the process with this id."""

    @abstractmethod
    def _backend_for(self, session: ProcessSession) -> Backend:
        """Return the backend a process runs on."""

    def output(self, proc_id: str) -> bytes:
        """Return the retained raw output of a process (the last 200 KB)."""
        return self._loaded(self.get(proc_id)).output.snapshot()

    def spool_dropped(self, proc_id: str) -> tuple[int, int]:
        """Bytes and lines dropped from the start of the process's spool by its cap."""
        session = self.get(proc_id)
        if session.handle is None:
            return 0, 0
        try:
            probe = self._backend_for(session).probe([session.handle])[0]
        except BackendError as exc:
            raise RegistryError(str(exc)) from None
        return probe.dropped, probe.dropped_lines

    def read_spool(self, proc_id: str, offset: int, max_bytes: int) -> bytes:
        """Read the process's full output spool (everything it ever printed) from ``offset``."""
        session = self.get(proc_id)
        if session.handle is None:
            return b""
        try:
            return self._backend_for(session).read_output(session.handle, offset, max_bytes)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def _loaded(self, session: ProcessSession) -> ProcessSession:
        """Make sure a recovered, finished process has its output read from its spool."""
        if session.output_loaded or session.handle is None:
            return session
        with self._lock:
            if not session.output_loaded:
                try:
                    backend = self._backend_for(session)
                    self._refill(session, backend, backend.probe([session.handle])[0])
                except BackendError as exc:
                    session.note = f"output unavailable: {exc}"
                session.output_loaded = True
        return session

    def _refill(self, session: ProcessSession, backend: Backend, probe: Probe) -> None:
        """Fill the buffer with the end of the spool; line numbers count from the first line
        ever printed, dropped ones (the spool's cap) included."""
        assert session.handle is not None
        size = probe.output_size
        start = max(0, probe.dropped, size - self.buffer_limit)
        data = backend.read_output(session.handle, start, size - start)
        start_line = None
        mid_line = False
        if start:
            mid_line = backend.read_output(session.handle, start - 1, 1) != b"\n"
            if start - probe.dropped <= 16 << 20:  # numbering lines reads what is before
                counted = backend.read_output(session.handle, probe.dropped, start - probe.dropped)
                start_line = probe.dropped_lines + counted.count(b"\n")
        session.output.preload(data, start, start_line, mid_line)

    def poll(self, proc_id: str, reader: str = "agent") -> PollResult:
        """Return the output printed since ``reader``'s previous poll."""
        session = self._loaded(self.get(proc_id))
        with self._lock:
            cursor = session.cursors.get(reader, 0)
            data, omitted = session.output.since(cursor)
            session.cursors[reader] = cursor + omitted + len(data)
        return PollResult(session, data, omitted)

    def log(self, proc_id: str, offset: int | None = None, limit: int = 200) -> LogResult:
        """Return ``limit`` lines of output from absolute line ``offset`` (default: the last).

        Line numbers count from the process's first line and do not shift as old output is
        dropped; asking for dropped lines returns the oldest retained ones.
        """
        session = self._loaded(self.get(proc_id))
        limit = max(1, limit)
        dropped = session.output.dropped_lines
        text = clean_output(session.output.snapshot())
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if lines and session.output.starts_mid_line:
            # The start of the first line was dropped: show whole lines only.
            lines.pop(0)
            dropped += 1
        total = dropped + len(lines)
        if offset is None or offset < 0:
            first = max(dropped, total - limit)
        else:
            first = min(max(offset, dropped), total)
        page = lines[first - dropped : first - dropped + limit]
        return LogResult(page, first, total, dropped)

    def wait(
        self, proc_id: str, timeout: float | None = None, cancel: CancelToken | None = None
    ) -> WaitResult:
        """Block until the process ends, ``timeout`` passes, or ``cancel`` fires.

        ``timeout`` above :attr:`max_wait` (or None) is clamped to it, and the result's note
        says so.
        """
        session = self.get(proc_id)
        note = None
        effective = self.max_wait
        if timeout is not None and timeout < 0:
            raise RegistryError("timeout must not be negative")
        if timeout is not None and timeout <= self.max_wait:
            effective = timeout
        elif timeout is not None:
            note = (
                f"Requested wait of {timeout:g}s was clamped to the maximum of {self.max_wait:g}s"
            )
        started = time.monotonic()
        waiter = threading.Event()
        with self._lock:
            session.waiters.add(waiter)
            if session.ended.is_set():
                waiter.set()
        if cancel is not None:
            cancel.register(waiter)
        try:
            waiter.wait(None if math.isinf(effective) else effective)
        finally:
            if cancel is not None:
                cancel.unregister(waiter)
            with self._lock:
                session.waiters.discard(waiter)
        waited = time.monotonic() - started
        if session.ended.is_set():
            return WaitResult(
                self._loaded(session), cast(WaitStatus, session.status.value), waited, note
            )
        if cancel is not None and cancel.cancelled:
            return WaitResult(
                session,
                "interrupted",
                waited,
                "wait interrupted by the user; the process is still running",
            )
        still = f"Waited {waited:.0f}s; the process is still running"
        return WaitResult(session, "timeout", waited, f"{note}. {still}" if note else still)
