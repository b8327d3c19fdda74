"""Reading a process's output spool on disk: whole lines by number, whole UTF-8 characters.

The in-memory buffer keeps the last 200 KB; the spool holds everything the process printed,
so ``log`` can page to any line (the first error of a long build) and ``poll`` never hands out
half a character.
"""

from __future__ import annotations

from collections.abc import Callable

from registry.text import clean_output

SPOOL_CHUNK = 1 << 20
SPOOL_PAGE_MAX = 4 << 20
"""Most bytes one page read from the spool may hold (a few very long lines)."""

Reader = Callable[[int, int], bytes]
"""Reads (offset, max bytes) of the spool; returns b"" at its end."""


def spool_lines(
    read: Reader, first: int, limit: int, start: int = 0, start_line: int = 0
) -> tuple[int, list[str]] | None:
    """Return ``(n, lines)``: up to ``limit`` lines of the spool from line ``first`` (from 0),
    cleaned for reading, ``n`` being the number of the first one; None when the spool has
    fewer lines than ``first``.

    ``start`` and ``start_line`` say what the spool's cap dropped (its first readable byte and
    the newlines before it, see :class:`backends.Probe`): the bytes before ``start`` are holes,
    never read, and the line cut at ``start`` is skipped, so ``n`` is the first whole line
    still held when ``first`` is older than that.
    """
    pos, line = start, start_line
    if start > 0:  # the cap cut a line: begin after its end
        while True:
            data = read(pos, SPOOL_CHUNK)
            if not data:
                return None
            index = data.find(b"\n")
            if index >= 0:
                pos, line = pos + index + 1, line + 1
                break
            pos += len(data)
    first = max(first, line)
    while line < first:  # find the byte where line ``first`` begins
        data = read(pos, SPOOL_CHUNK)
        if not data:
            return None
        count = data.count(b"\n")
        if line + count < first:
            line, pos = line + count, pos + len(data)
            continue
        index = -1
        for _ in range(first - line):
            index = data.index(b"\n", index + 1)
        line, pos = first, pos + index + 1
    page = bytearray()
    while page.count(b"\n") < limit and len(page) < SPOOL_PAGE_MAX:
        data = read(pos, SPOOL_CHUNK)
        if not data:
            break
        page += data
        pos += len(data)
    lines = clean_output(bytes(page)).split("\n")
    if page.count(b"\n") < len(lines) and lines[-1] == "":
        lines.pop()
    return first, lines[:limit]


def continuation_prefix(data: bytes) -> int:
    """How many bytes at the start of ``data`` continue a character that began before it."""
    count = 0
    while count < min(3, len(data)) and data[count] & 0xC0 == 0x80:
        count += 1
    return count


def incomplete_suffix(data: bytes) -> int:
    """How many bytes at the end of ``data`` are an incomplete UTF-8 character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead byte
        if byte < 0xC0:
            return 0  # ASCII (or stray continuation bytes): nothing is waiting
        needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return back if needed > back else 0
    return 0
