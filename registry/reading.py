"""Reading a process: its retained output, its whole spool, polls, line pages, waiting."""

from __future__ import annotations

import math
import threading
import time
from abc import abstractmethod
from typing import Any, cast

from backends import Backend, BackendError, Probe
from registry.cancel import CancelToken
from registry.cursors import CursorStore
from registry.errors import RegistryError
from registry.process import Process
from registry.results import LogResult, PollResult, WaitResult, WaitStatus
from registry.spool import continuation_prefix, incomplete_suffix, spool_lines
from registry.text import clean_output


class OutputQueries:
    """The reading half of :class:`registry.ProcessRegistry` (a mixin: it provides the rest)."""

    _lock: threading.RLock
    buffer_limit: int
    max_wait: float
    cursors: CursorStore

    @abstractmethod
    def get(self, proc_id: str) -> Process:
        """Return the process with this id."""

    @abstractmethod
    def _backend_for(self, proc: Process) -> Backend:
        """Return the backend a process runs on."""

    def output(self, proc_id: str) -> bytes:
        """Return the retained raw output of a process (the last 200 KB)."""
        return self._loaded(self.get(proc_id)).output.snapshot()

    def spool_dropped(self, proc_id: str) -> tuple[int, int]:
        """Bytes and lines dropped from the start of the process's spool by its cap."""
        proc = self.get(proc_id)
        if proc.handle is None:
            return 0, 0
        try:
            probe = self._backend_for(proc).probe([proc.handle])[0]
        except BackendError as exc:
            raise RegistryError(str(exc)) from None
        return probe.dropped, probe.dropped_lines

    def read_spool(self, proc_id: str, offset: int, max_bytes: int) -> bytes:
        """Read the process's full output spool (everything it ever printed) from ``offset``."""
        proc = self.get(proc_id)
        if proc.handle is None:
            return b""
        try:
            return self._backend_for(proc).read_output(proc.handle, offset, max_bytes)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def _loaded(self, proc: Process) -> Process:
        """Make sure a recovered, finished process has its output read from its spool."""
        if proc.output_loaded or proc.handle is None:
            return proc
        with self._lock:
            if not proc.output_loaded:
                try:
                    backend = self._backend_for(proc)
                    self._refill(proc, backend, backend.probe([proc.handle])[0])
                except BackendError as exc:
                    proc.note = f"output unavailable: {exc}"
                proc.output_loaded = True
        return proc

    def _refill(self, proc: Process, backend: Backend, probe: Probe) -> None:
        """Fill the buffer with the end of the spool; line numbers count from the first line
        ever printed, dropped ones (the spool's cap) included."""
        assert proc.handle is not None
        size = probe.output_size
        start = max(0, probe.dropped, size - self.buffer_limit)
        data = backend.read_output(proc.handle, start, size - start)
        start_line = None
        mid_line = False
        if start:
            mid_line = backend.read_output(proc.handle, start - 1, 1) != b"\n"
            if start - probe.dropped <= 16 << 20:  # numbering lines reads what is before
                counted = backend.read_output(proc.handle, probe.dropped, start - probe.dropped)
                start_line = probe.dropped_lines + counted.count(b"\n")
        proc.output.preload(data, start, start_line, mid_line)

    def poll(self, proc_id: str, reader: str = "agent") -> PollResult:
        """Return the output printed since ``reader``'s previous poll.

        The cursor is kept on disk per process (see :mod:`registry.cursors`), so it survives
        a restart and the CLI continues where the app stopped. Output never ends inside a
        UTF-8 character: an incomplete one waits for the next poll.
        """
        proc = self._loaded(self.get(proc_id))
        taken: dict[str, Any] = {}

        def step(cursor: int) -> int:
            data, omitted = proc.output.since(cursor)
            if omitted:  # the buffer dropped the start: begin at a whole character
                skip = continuation_prefix(data)
                data, omitted = data[skip:], omitted + skip
            if proc.is_running:
                data = data[: len(data) - incomplete_suffix(data)]
            taken["data"], taken["omitted"] = data, omitted
            return cursor + omitted + len(data)

        with self._lock:
            fallback = proc.cursors.get(reader, 0)
        new = self.cursors.advance(proc.id, reader, step, fallback)
        with self._lock:
            proc.cursors[reader] = new
        if "data" not in taken:  # the saved cursor was already past this output
            return PollResult(proc, b"", 0)
        return PollResult(proc, taken["data"], taken["omitted"])

    def log(self, proc_id: str, offset: int | None = None, limit: int = 200) -> LogResult:
        """Return ``limit`` lines of output from absolute line ``offset`` (default: the last).

        Line numbers count from the process's first line and do not shift as old output is
        dropped from memory; lines older than the buffer are read from the output spool on
        disk. Lines the spool's cap dropped too are reported in ``gone_lines`` (the page then
        starts at the oldest line held); when the spool cannot be read, the oldest retained
        lines are returned instead.
        """
        proc = self._loaded(self.get(proc_id))
        limit = max(1, limit)
        dropped = proc.output.dropped_lines
        text = clean_output(proc.output.snapshot())
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if lines and proc.output.starts_mid_line:
            # The start of the first line was dropped: show whole lines only.
            lines.pop(0)
            dropped += 1
        total = dropped + len(lines)
        if offset is None or offset < 0:
            first = max(dropped, total - limit)
        else:
            first = min(max(offset, dropped), total)
        gone = 0
        if offset is not None and 0 <= offset < dropped and proc.handle is not None:
            older = self._spool_lines(proc, offset, limit)
            if older is not None and older[0] < dropped:
                return LogResult(
                    older[1],
                    older[0],
                    total,
                    dropped,
                    from_spool=True,
                    gone_lines=older[0] if older[0] > offset else 0,
                )
            if older is not None:  # the cap dropped everything older than the buffer
                gone = dropped
        page = lines[first - dropped : first - dropped + limit]
        return LogResult(page, first, total, dropped, gone_lines=gone)

    def _spool_lines(self, proc: Process, first: int, limit: int) -> tuple[int, list[str]] | None:
        """Lines ``first``.. of the whole output, from the spool (past what its cap dropped):
        the number of the first line read and the lines; None if unreadable."""
        handle = proc.handle
        assert handle is not None
        try:
            backend = self._backend_for(proc)
            probe = backend.probe([handle])[0]
            return spool_lines(
                lambda offset, size: backend.read_output(handle, offset, size),
                first,
                limit,
                probe.dropped,
                probe.dropped_lines,
            )
        except BackendError:
            return None

    def wait(
        self, proc_id: str, timeout: float | None = None, cancel: CancelToken | None = None
    ) -> WaitResult:
        """Block until the process ends, ``timeout`` passes, or ``cancel`` fires.

        ``timeout`` above :attr:`max_wait` (or None) is clamped to it, and the result's note
        says so.
        """
        proc = self.get(proc_id)
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
            proc.waiters.add(waiter)
            if proc.ended.is_set():
                waiter.set()
        if cancel is not None:
            cancel.register(waiter)
        try:
            waiter.wait(None if math.isinf(effective) else effective)
        finally:
            if cancel is not None:
                cancel.unregister(waiter)
            with self._lock:
                proc.waiters.discard(waiter)
        waited = time.monotonic() - started
        if proc.ended.is_set():
            return WaitResult(self._loaded(proc), cast(WaitStatus, proc.status.value), waited, note)
        if cancel is not None and cancel.cancelled:
            return WaitResult(
                proc,
                "interrupted",
                waited,
                "wait interrupted by the user; the process is still running",
            )
        still = f"Waited {waited:.0f}s; the process is still running"
        return WaitResult(proc, "timeout", waited, f"{note}. {still}" if note else still)
