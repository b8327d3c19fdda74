"""The rolling output buffer: the last N bytes a process printed, cheap to append to."""

from __future__ import annotations

import threading
from collections import deque

DEFAULT_LIMIT = 200_000
SMALL = 4096


class OutputBuffer:
    """Keeps the last ``limit`` bytes of output; older bytes are dropped and counted.

    Appending costs a deque append (no copy of the retained bytes), so a reader can keep up
    with a PTY flood. Every byte has an absolute offset counted from the process's first byte,
    so readers can ask for "everything after offset N" and learn what they missed.
    Safe to read from any thread while another appends.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0
        self._dropped_lines = 0
        self._mid_line = False
        self._lock = threading.Lock()

    def append(self, data: bytes) -> int:
        """Add ``data``; return the absolute offset just past it."""
        with self._lock:
            if len(data) > self.limit:
                self._note_dropped_unlocked(data[: len(data) - self.limit])
                data = data[len(data) - self.limit :]
            if self._chunks and len(data) < SMALL and len(self._chunks[-1]) < SMALL:
                # Many tiny reads (a line each) would cost more in object overhead than in
                # content: keep small pieces together.
                self._chunks[-1] += data
            else:
                self._chunks.append(data)
            self._size += len(data)
            while self._size > self.limit:
                head = self._chunks[0]
                excess = self._size - self.limit
                if len(head) <= excess:
                    self._chunks.popleft()
                    self._size -= len(head)
                    self._note_dropped_unlocked(head)
                else:
                    self._chunks[0] = head[excess:]
                    self._size -= excess
                    self._note_dropped_unlocked(head[:excess])
            return self._dropped + self._size

    def _note_dropped_unlocked(self, data: bytes) -> None:
        self._dropped += len(data)
        self._dropped_lines += data.count(b"\n")
        if data:
            self._mid_line = not data.endswith(b"\n")

    def preload(
        self, data: bytes, start_offset: int, start_line: int | None, mid_line: bool = False
    ) -> None:
        """Fill an empty buffer with output that began at ``start_offset`` (after recovery).

        Args:
            data: the retained output.
            start_offset: absolute offset of ``data[0]``.
            start_line: absolute line number of ``data``'s first line, when known.
            mid_line: ``data`` begins in the middle of a line.
        """
        with self._lock:
            self._chunks.clear()
            self._size = 0
            self._dropped = start_offset
            self._dropped_lines = start_line or 0
            self._mid_line = mid_line
        self.append(data)

    @property
    def total(self) -> int:
        """Bytes ever appended (the absolute offset of the end of output)."""
        with self._lock:
            return self._dropped + self._size

    @property
    def dropped(self) -> int:
        """Bytes dropped from the front because the buffer was full."""
        with self._lock:
            return self._dropped

    @property
    def dropped_lines(self) -> int:
        """Newlines in the dropped bytes: the absolute number of the first retained line."""
        with self._lock:
            return self._dropped_lines

    @property
    def starts_mid_line(self) -> bool:
        """True when the retained bytes begin in the middle of a line (its start was dropped)."""
        with self._lock:
            return self._mid_line

    def snapshot(self) -> bytes:
        """Return the retained bytes."""
        with self._lock:
            return b"".join(self._chunks)

    def since(self, offset: int) -> tuple[bytes, int]:
        """Return the bytes after absolute ``offset`` and how many of them were dropped.

        Costs O(new bytes): chunks are walked from the newest back to ``offset``.
        """
        with self._lock:
            start = self._dropped
            end = start + self._size
            if offset < start:
                return b"".join(self._chunks), start - offset
            parts: list[bytes] = []
            position = end
            for chunk in reversed(self._chunks):
                if position <= offset:
                    break
                chunk_start = position - len(chunk)
                parts.append(chunk[max(0, offset - chunk_start) :])
                position = chunk_start
        parts.reverse()
        return b"".join(parts), 0

    def tail(self, max_bytes: int) -> bytes:
        """Return at most the last ``max_bytes`` retained bytes (costs O(max_bytes))."""
        if max_bytes <= 0:
            return b""
        return self.since(max(0, self.total - max_bytes))[0][-max_bytes:]
