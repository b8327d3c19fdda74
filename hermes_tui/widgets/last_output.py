"""The "Last output" of a process: the last line a person would read.

For a program on a terminal (PTY) that is a line of its emulated screen, so cursor moves,
redraws and full-screen programs give what is on the screen, not escape-sequence garbage;
for a plain pipe it is the last non-empty line of the log. Kept per process and fed only
with what it printed since (a flood is skipped to its end, as the terminal pane does).
"""

from __future__ import annotations

import time

from hermes_tui.term.emulator import Emulator, replay_start
from registry import OutputBuffer, Process
from registry.text import clean_output

WIDTH = 120
"""Characters kept of the line (the column grows to fit it; the table scrolls sideways)."""
FEED_LIMIT = 4 << 10
"""More new output than this since the last look: start a fresh screen from its end
(emulating costs about 1.3 ms per KB on the UI thread)."""
FLOOD_INTERVAL = 1.0
"""A process printing more than that is looked at again at most this often (seconds)."""
_EARLY = 0.05
"""A look due a second later may come a hair early (timers): still count it as due."""
LOG_TAILS = (512, 4096)
"""Bytes of a plain log looked at for its last line: a short tail, then a longer one."""
REPORT_TAIL = 16 << 10
"""Output read for a one-off report (the away view): more than the list's, for a
full-screen program's header."""
ROWS, COLS = 24, 200
ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"


def _screen_lines(emulator: Emulator, count: int = 1) -> list[str]:
    lines = [
        "".join(emulator.line(y)[x].data for x in range(emulator.cols)).rstrip()
        for y in range(emulator.rows)
    ]
    if emulator.alternate_screen:
        # A full-screen program (top, vim, less): its first line is its title or header;
        # the bottom rows are key hints and status bars.
        shown = [line for line in lines if line.strip()]
        return shown[:count]
    # Up to the cursor first: below it is usually an erased or stale area.
    cursor_row = emulator.cursor[1]
    shown = [line for line in lines[: cursor_row + 1] if line.strip()]
    if not shown:
        shown = [line for line in lines if line.strip()]
    return shown[-count:]


def _screen_line(emulator: Emulator) -> str:
    lines = _screen_lines(emulator)
    return lines[-1].strip() if lines else ""


class LastOutput:
    """The last meaningful line of each process, recomputed only when it printed."""

    def __init__(self) -> None:
        self._screens: dict[str, tuple[Emulator, int]] = {}
        self._lines: dict[str, tuple[int, str]] = {}
        self._flood_checked: dict[str, float] = {}
        self.deferred: set[str] = set()
        """Processes whose line was not looked at (a flood): look again after
        ``FLOOD_INTERVAL``, or the line stays stale when the flood pauses."""

    def line(self, proc: Process) -> str:
        """The last meaningful line of ``proc``'s output (cached until it prints)."""
        buffer = proc.output
        total = buffer.total
        cached = self._lines.get(proc.id)
        if cached is not None and cached[0] == total:
            return cached[1]
        flooding = proc.pty and proc.is_running and total - (cached or (0, ""))[0] > FEED_LIMIT
        if cached is not None and flooding:
            # The line changes faster than anyone reads it: keep the UI thread for keys (the
            # list looks again when FLOOD_INTERVAL has passed, and once more when it ends).
            now = time.monotonic()
            if now - self._flood_checked.get(proc.id, 0.0) < FLOOD_INTERVAL - _EARLY:
                self.deferred.add(proc.id)
                return cached[1]
            self._flood_checked[proc.id] = now
        self.deferred.discard(proc.id)
        text = self._pty_line(proc) if proc.pty else _log_line(buffer)
        text = text[:WIDTH]
        self._lines[proc.id] = (total, text)
        return text

    def _pty_line(self, proc: Process) -> str:
        buffer = proc.output
        total = buffer.total
        emulator, offset = self._screens.get(proc.id, (None, 0))
        new = total - offset
        if emulator is None or new > FEED_LIMIT or new < 0:
            emulator = _fresh(buffer.tail(FEED_LIMIT))
        elif new:
            emulator.feed(buffer.tail(new))
        self._screens[proc.id] = (emulator, total)
        return _screen_line(emulator)

    def forget(self, proc_id: str) -> None:
        """Drop what is kept for a process (it was removed)."""
        self._screens.pop(proc_id, None)
        self._lines.pop(proc_id, None)
        self._flood_checked.pop(proc_id, None)
        self.deferred.discard(proc_id)


def _fresh(data: bytes) -> Emulator:
    """A screen showing the end of ``data`` (fed from a screen reset near its end)."""
    emulator = Emulator(ROWS, COLS)
    start = replay_start(data, len(data))
    # Starting after the switch to the alternate screen would lose that the program is
    # full-screen: say it again.
    if data.rfind(ALT_ON, 0, start) > data.rfind(ALT_OFF, 0, start):
        emulator.feed(ALT_ON)
    emulator.feed(data[start:])
    return emulator


def _log_line(buffer: OutputBuffer) -> str:
    """The last non-empty line of a plain log. Looked for in a short tail first (twenty
    processes printing a line a second ask twenty times a second): a line that starts after
    a newline there is whole; else (a long line, blank lines) in a longer one."""
    last = ""
    for size in LOG_TAILS:
        data = buffer.tail(size)
        text = clean_output(data).rstrip()
        _, newline, last = text.rpartition("\n")
        if newline or len(data) < size:
            break
    return last.strip()


def last_line(proc: Process) -> str:
    """The last meaningful line of a process's output, computed afresh."""
    return LastOutput().line(proc)


def last_lines(proc: Process, count: int = 5) -> list[str]:
    """The last ``count`` meaningful lines (of the emulated screen, or of the log)."""
    data = proc.output.tail(REPORT_TAIL)
    if proc.pty:
        lines = _screen_lines(_fresh(data), count)
    else:
        lines = [line for line in clean_output(data).split("\n") if line.strip()][-count:]
    return [line.rstrip()[:WIDTH] for line in lines]
