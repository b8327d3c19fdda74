"""The rolling output buffer: the last N bytes a process printed, cheap to append to."""

from __future__ import annotations

import re
import threading
from collections import deque

DEFAULT_LIMIT = 200_000
SMALL = 4096
TRACKED_MODES = frozenset({1, 6, 7, 25, 47, 1000, 1002, 1003, 1006, 1047, 1049, 2004})
"""DEC private modes a replay must restore: cursor keys, origin, autowrap, cursor visibility,
the alternate screen, mouse reporting, bracketed paste."""
_MODE = re.compile(rb"\x1b\[\?([0-9;]*)([hl])")
_UNFINISHED = re.compile(rb"\x1b(\[(\?[0-9;]*)?)?")
_MAX_SEQUENCE = 64
"""Longer than any mode sequence worth tracking: a longer unfinished tail is not carried."""


def scan_modes(modes: dict[int, bool], data: bytes) -> bytes:
    """Apply the private mode changes (``ESC [ ? Pm h`` / ``l``) in ``data`` to ``modes``.

    Returns the unfinished sequence ``data`` ends with (to prepend to what follows), else b"".
    """
    if b"\x1b" not in data[-_MAX_SEQUENCE:] and b"\x1b[?" not in data:
        return b""
    for match in _MODE.finditer(data):
        on = match.group(2) == b"h"
        for number in match.group(1).split(b";"):
            if number.isdigit() and int(number) in TRACKED_MODES:
                modes[int(number)] = on
    last = data.rfind(b"\x1b", max(0, len(data) - _MAX_SEQUENCE))
    if last < 0 or _UNFINISHED.fullmatch(data, last) is None:
        return b""
    return data[last:]


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
        self._start_modes: dict[int, bool] = {}
        """The private modes in force before the first retained byte (see :meth:`retained`)."""
        self._start_carry = b""
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
            self._start_carry = scan_modes(self._start_modes, self._start_carry + data)

    def preload(
        self,
        data: bytes,
        start_offset: int,
        start_line: int | None,
        mid_line: bool = False,
        earlier: bytes = b"",
    ) -> None:
        """Fill an empty buffer with output that began at ``start_offset`` (after recovery).

        Args:
            data: the retained output.
            start_offset: absolute offset of ``data[0]``.
            start_line: absolute line number of ``data``'s first line, when known.
            mid_line: ``data`` begins in the middle of a line.
            earlier: output from before ``data``, when read: only the terminal modes it set
                are kept (see :meth:`retained`).
        """
        with self._lock:
            self._chunks.clear()
            self._size = 0
            self._dropped = start_offset
            self._dropped_lines = start_line or 0
            self._mid_line = mid_line
            self._start_modes = {}
            self._start_carry = scan_modes(self._start_modes, earlier)
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

    def retained(self) -> tuple[bytes, dict[int, bool], int]:
        """The retained bytes, the private modes in force at their start, and their end offset.

        Modes set by a program long ago (a full-screen program's alternate screen, a hidden
        cursor) are kept here after the bytes that set them were dropped, so a replay of the
        retained bytes can restore them (only :data:`TRACKED_MODES`; an unfinished sequence
        cut by the drop is applied too).
        """
        with self._lock:
            data = b"".join(self._chunks)
            modes = dict(self._start_modes)
            end = self._dropped + self._size
            carry = self._start_carry
        if carry:  # the sequence the drop cut in two
            match = _MODE.match(carry + data[:_MAX_SEQUENCE])
            if match:
                scan_modes(modes, match.group(0))
        return data, modes, end

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
