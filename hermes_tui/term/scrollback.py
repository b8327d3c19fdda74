"""Scrollback: a process's buffered output as lines to page through, and where the view is.

Built from the raw buffer when the person scrolls (never kept up to date while live): each
line is what a terminal would leave after carriage returns, as safe styled text.
"""

from __future__ import annotations

from rich.text import Text

from hermes_tui.untrusted import ansi_text


class Scrollback:
    """The lines of some output and the first one shown in a pane ``height`` lines tall."""

    def __init__(self, data: bytes, height: int) -> None:
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        self.lines: list[Text] = [ansi_text(line.rsplit("\r", 1)[-1]) for line in text.split("\n")]
        self.top = self.bottom(height)
        """Index of the first line shown (starts at the end: the live screen's lines)."""

    def bottom(self, height: int) -> int:
        """The largest ``top``: the last page."""
        return max(0, len(self.lines) - height)

    def scroll(self, delta: int, height: int) -> bool:
        """Move by ``delta`` lines; True when moving forward reached the end."""
        bottom = self.bottom(height)
        self.top = max(0, min(self.top + delta, bottom))
        return delta > 0 and self.top >= bottom

    def find(self, pattern: str, height: int) -> bool:
        """Show the last line containing ``pattern`` (case-insensitive), highlighted."""
        needle = pattern.lower()
        for index in range(len(self.lines) - 1, -1, -1):
            column = self.lines[index].plain.lower().find(needle) if needle else -1
            if column >= 0:
                highlighted = self.lines[index].copy()
                highlighted.stylize("reverse bold", column, column + len(pattern))
                self.lines[index] = highlighted
                self.top = max(0, index - height // 2)
                return True
        return False

    def position(self, height: int) -> str:
        """The indicator: which lines of how many, how far, and the way back to live."""
        total = max(len(self.lines), 1)
        last = min(self.top + height, total)
        return f"scrollback {self.top + 1}-{last} of {total} ({100 * last // total}%) · Esc: live"
