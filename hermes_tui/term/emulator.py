"""Terminal emulation for the terminal pane, behind a small interface (pyte today).

Two rules, from measuring pyte under floods (``benchmarks/app_responsiveness.py``): it is fed
only from the UI's budgeted tick, never on the read path, and every feed is guarded because pyte
raises on some malformed sequences. ``FastScreen`` speeds up pyte's per-character ``draw``
for runs of plain ASCII (the common case in logs) with cell-for-cell identical results.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import pyte
from pyte import charsets, graphics
from pyte import modes as mo

from registry import OutputBuffer
from registry.buffer import TRACKED_MODES, scan_modes

ALT_SCREEN_MODES = frozenset({47, 1047, 1049})
MOUSE_MODES = frozenset({1000, 1002, 1003})
SLICE = 4 * 1024
"""Feed granularity: small enough that one slice never overruns the tick's budget."""
BACKLOG_LIMIT = 64 * 1024
"""More unfed output than this and the emulator skips to the tail (it cannot catch up)."""
REPLAY_BYTES = 48 * 1024
"""How much of the end of the buffer is replayed when a process is shown."""
SKIP_BYTES = 12 * 1024
"""How much of the end is fed after skipping: more than a screenful of a 200x50 pane."""
_RESYNC_MARKERS = (b"\x1bc", b"\x1b[2J", b"\x1b[?1049h", b"\x1b[H\x1b[2J")
_PRINTABLE = frozenset(range(0x20, 0x7F))
_NOT_PLAIN = re.compile(rb"[\x00-\x06\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
"""Bytes that do more than print, move along a line or feed lines: escape sequences (C0 and
C1), charset shifts, vertical tabs and form feeds."""
_SGR = re.compile(rb"\x1b\[[0-9;]*m")
"""Colours and attributes: they change how text is drawn, not where."""


class FastScreen(pyte.Screen):
    """``pyte.Screen`` with a fast ``draw`` for ASCII and the private modes pyte ignores."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.private_modes: set[int] = set()
        self.replies = bytearray()
        self._cells: dict[tuple[Any, str], Any] = {}
        self._saved_main: tuple[dict[int, dict[int, Any]], int, int] | None = None

    def draw(self, data: str) -> None:
        charset = self.g1_charset if self.charset else self.g0_charset
        if (
            charset is not charsets.LAT1_MAP
            or mo.IRM in self.mode
            or not data.isascii()
            or not data.isprintable()
        ):
            super().draw(data)
            return
        cursor = self.cursor
        columns = self.columns
        attrs = cursor.attrs
        cells = self._cells
        if len(cells) > 8192:
            cells.clear()
        start = 0
        while start < len(data):
            if cursor.x == columns:
                if mo.DECAWM in self.mode:
                    self.dirty.add(cursor.y)
                    self.carriage_return()
                    self.linefeed()
                else:
                    cursor.x -= 1
            run = data[start : start + (columns - cursor.x)]
            if not run:  # no autowrap: keep overwriting the last column
                run = data[start]
            line = self.buffer[cursor.y]
            x = cursor.x
            for char in run:
                cell = cells.get((attrs, char))
                if cell is None:
                    cell = cells[(attrs, char)] = attrs._replace(data=char)
                line[x] = cell
                x += 1
            cursor.x = min(x, columns)
            start += len(run)
        self.dirty.add(cursor.y)

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            self.private_modes.update(modes)
            if ALT_SCREEN_MODES & set(modes) and self._saved_main is None:
                self._saved_main = (
                    {y: dict(line) for y, line in self.buffer.items()},
                    self.cursor.x,
                    self.cursor.y,
                )
                self.erase_in_display(2)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            self.private_modes.difference_update(modes)
            if ALT_SCREEN_MODES & set(modes) and self._saved_main is not None:
                saved, x, y = self._saved_main
                self._saved_main = None
                self.buffer.clear()
                for row, line in saved.items():
                    if row < self.lines:
                        self.buffer[row].update(line)
                self.cursor_position(min(y, self.lines - 1) + 1, min(x, self.columns - 1) + 1)
                self.dirty.update(range(self.lines))
        super().reset_mode(*modes, **kwargs)

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize as terminals do: a shorter screen keeps the cursor's line.

        pyte drops every removed line from the top but leaves the cursor where it was, below
        the new last line: what the program prints next (a key's echo) lands on a line that is
        not shown until the pane grows again. Here lines go from the top only as far as the
        cursor's line needs, the rest from the bottom, and the cursor stays on the screen.
        """
        lines = lines or self.lines
        columns = columns or self.columns
        if lines < self.lines:
            top = max(0, self.cursor.y - (lines - 1))
            buffer = self.buffer
            for y in range(lines):
                if y + top < self.lines:
                    buffer[y] = buffer[y + top]
            for y in range(lines, self.lines):
                buffer.pop(y, None)
            self.cursor.y -= top
            self.lines = lines  # nothing left for pyte to drop
            self.dirty.update(range(lines))
            self.set_margins()
        super().resize(lines, columns)
        self.cursor.x = min(self.cursor.x, self.columns - 1)

    def write_process_input(self, data: str) -> None:
        self.replies += data.encode()


class Emulator:
    """A terminal screen fed with a process's raw output."""

    def __init__(self, rows: int, cols: int) -> None:
        self.screen = FastScreen(max(cols, 1), max(rows, 1))
        self.stream = pyte.ByteStream(self.screen)
        self.errors = 0
        """Feeds pyte rejected (each one reset the parser)."""

    @property
    def rows(self) -> int:
        """Screen height."""
        return int(self.screen.lines)

    @property
    def cols(self) -> int:
        """Screen width."""
        return int(self.screen.columns)

    def feed(self, data: bytes) -> None:
        """Interpret output; never raises (a malformed sequence resets the parser)."""
        try:
            self.stream.feed(data)
        except Exception:
            self.errors += 1
            self.stream = pyte.ByteStream(self.screen)

    def fast_forward(self, data: bytes) -> int:
        """Skip the part of ``data`` that cannot change the screen it ends on; return where
        feeding it should start.

        Plain text (no escape sequences but colours) scrolls every line it passes off a
        screen without scroll margins: what precedes the last ``rows`` line ends of a run of
        it is never seen. Emulating it costs a scroll of the whole screen per line (most of
        pyte's time in a flood such as ``seq``), so the emulator skips to there, with the
        cursor where that text leaves it (first column, bottom row) and the attributes its
        colour sequences leave.
        """
        rows = self.rows
        if self.screen.margins is not None or data.count(b"\n", 0, 1 << 20) <= 2 * rows:
            return 0
        cut = len(data)
        for _ in range(rows + 1):
            cut = data.rfind(b"\n", 0, cut)
        if cut <= 0 or data[cut - 1] != 0x0D:
            return 0  # a bare line feed keeps the column: not worth following
        skipped = data[:cut]
        colours = _SGR.findall(skipped) if b"\x1b" in skipped else []
        if colours:
            skipped = _SGR.sub(b"", skipped)
        if _NOT_PLAIN.search(skipped):
            return 0
        self.reset_parser()
        self.feed(b"\x1b[%dH" % rows + b"".join(colours))
        self.screen.dirty.update(range(rows))
        return cut + 1

    def reset_parser(self) -> None:
        """Forget a half-read escape sequence (after skipping bytes)."""
        self.stream = pyte.ByteStream(self.screen)

    def resize(self, rows: int, cols: int) -> None:
        """Change the screen size."""
        self.screen.resize(max(rows, 1), max(cols, 1))
        self.screen.dirty.update(range(self.rows))

    def take_dirty(self) -> set[int]:
        """Lines changed since the last call."""
        dirty = {y for y in self.screen.dirty if 0 <= y < self.rows}
        self.screen.dirty.clear()
        return dirty

    def take_replies(self) -> bytes:
        """Answers the program asked for (cursor position, device attributes)."""
        replies = bytes(self.screen.replies)
        self.screen.replies.clear()
        return replies

    def line(self, y: int) -> Any:
        """The cells of line ``y`` (a mapping of column to ``pyte.screens.Char``)."""
        return self.screen.buffer[y]

    @property
    def cursor(self) -> tuple[int, int]:
        """Cursor column and row."""
        return min(self.screen.cursor.x, self.cols - 1), self.screen.cursor.y

    @property
    def cursor_visible(self) -> bool:
        """False when the program hid the cursor."""
        return mo.DECTCEM in self.screen.mode and not self.screen.cursor.hidden

    @property
    def application_cursor_keys(self) -> bool:
        """Arrow keys are sent as ``ESC O A`` (DECCKM)."""
        return 1 in self.screen.private_modes  # DECCKM; pyte has no constant for it

    @property
    def bracketed_paste(self) -> bool:
        """The program wants pastes wrapped in ``ESC[200~ ... ESC[201~``."""
        return 2004 in self.screen.private_modes

    @property
    def mouse_tracking(self) -> bool:
        """The program asked for mouse reports."""
        return bool(MOUSE_MODES & self.screen.private_modes)

    @property
    def mouse_sgr(self) -> bool:
        """Mouse reports use the SGR encoding (mode 1006)."""
        return 1006 in self.screen.private_modes

    @property
    def alternate_screen(self) -> bool:
        """A full-screen program is showing its own screen."""
        return bool(ALT_SCREEN_MODES & self.screen.private_modes)

    def tracked_modes(self) -> dict[int, bool]:
        """The state of every mode a replay restores (see ``registry.buffer.TRACKED_MODES``)."""
        on = self.screen.private_modes
        modes = {mode: mode in on for mode in TRACKED_MODES}
        modes[7] = mo.DECAWM in self.screen.mode
        modes[25] = self.cursor_visible
        return modes


def mode_prelude(modes: Mapping[int, bool], current: Mapping[int, bool] | None = None) -> bytes:
    """The sequences that put an emulator in ``modes`` (those that differ from ``current``).

    The alternate screen comes first: switching to it clears the screen, not the modes.
    """
    current = current or {}
    changed = [mode for mode, on in modes.items() if current.get(mode) != on]
    changed.sort(key=lambda mode: (mode not in ALT_SCREEN_MODES, mode))
    return b"".join(b"\x1b[?%d%s" % (mode, b"h" if modes[mode] else b"l") for mode in changed)


def replay_start(data: bytes, tail: int = REPLAY_BYTES) -> int:
    """Where to start feeding ``data`` to show its end correctly without feeding it all:
    the last full-screen reset in the last ``tail`` bytes, else a line start near the end."""
    window = max(0, len(data) - tail)
    best = max((data.rfind(marker, window) for marker in _RESYNC_MARKERS), default=-1)
    if best >= 0:
        return best
    if window == 0:
        return 0
    newline = data.find(b"\n", window)
    return newline + 1 if newline >= 0 else window


class FeedScheduler:
    """Feeds an emulator from an output buffer within a time budget per call.

    When the process prints faster than the emulator can follow, unfed output beyond
    :data:`BACKLOG_LIMIT` is skipped: emulation resumes near the end, at a screen reset or a
    line start, with a fresh parser. The buffer itself keeps every byte.
    """

    def __init__(self, emulator: Emulator, buffer: OutputBuffer) -> None:
        self.emulator = emulator
        self.buffer = buffer
        self.offset = 0
        self.skipped = 0
        """Bytes never emulated: the emulator was behind, or they could not change the screen."""

    def replay(self) -> None:
        """Show the end of what the buffer holds (on attach / selection), in the modes the
        program had set (the alternate screen, a hidden cursor...), even those set in output
        that is not replayed."""
        data, modes, end = self.buffer.retained()
        start = replay_start(data)
        scan_modes(modes, data[:start])
        self.emulator.feed(mode_prelude(modes))
        start += self.emulator.fast_forward(data[start:])
        self.emulator.feed(data[start:])
        self.offset = end

    @property
    def behind(self) -> bool:
        """True when there is unfed output."""
        return self.buffer.total > self.offset

    def pump(self, budget: float) -> bool:
        """Feed for at most ``budget`` seconds; True when caught up."""
        if not self.behind:
            return True
        data, omitted = self.buffer.since(self.offset)
        end = self.offset + omitted + len(data)
        if omitted or len(data) > BACKLOG_LIMIT:
            current = self.emulator.tracked_modes()
            modes = dict(current)
            if omitted:  # the modes at the start of what the buffer still holds
                data, modes, end = self.buffer.retained()
                omitted = end - len(data) - self.offset
            start = replay_start(data, SKIP_BYTES)
            scan_modes(modes, data[:start])
            self.skipped += omitted + start
            data = data[start:]
            self.emulator.reset_parser()
            self.emulator.feed(mode_prelude(modes, current))
        skip = self.emulator.fast_forward(data)
        self.skipped += skip
        data = data[skip:]
        self.offset = end - len(data)
        deadline = time.perf_counter() + budget
        position = 0
        while position < len(data):
            piece = data[position : position + SLICE]
            self.emulator.feed(piece)
            position += len(piece)
            if time.perf_counter() >= deadline:
                break
        self.offset += position
        return self.offset >= end


# pyte turns 256-colour indexes 0-15 into fixed RGB; map them back to the theme's palette.
BASE16_HEX = {
    f"{r:02x}{g:02x}{b:02x}": index
    for index, (r, g, b) in enumerate(getattr(graphics, "_FG_BG_256", [])[:16])
}
ANSI_NAMES = {
    "black": 0,
    "red": 1,
    "green": 2,
    "brown": 3,
    "yellow": 3,
    "blue": 4,
    "magenta": 5,
    "cyan": 6,
    "white": 7,
    "brightblack": 8,
    "brightred": 9,
    "brightgreen": 10,
    "brightbrown": 11,
    "brightyellow": 11,
    "brightblue": 12,
    "brightmagenta": 13,
    "bfightmagenta": 13,
    "brightcyan": 14,
    "brightwhite": 15,
}
