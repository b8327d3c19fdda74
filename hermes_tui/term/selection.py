"""A region of the terminal pane selected with the mouse: from where the button went down to
where it is, in reading order (like a terminal's selection, not a rectangle)."""

from __future__ import annotations

from collections.abc import Callable

from textual.geometry import Offset, Size


class Selection:
    """The anchor of a drag and the selected region, in pane cells."""

    def __init__(self) -> None:
        self.anchor: Offset | None = None
        """Where the button went down, while it is held."""
        self.region: tuple[Offset, Offset] | None = None
        """(start, end) inclusive, start first in reading order."""

    def start(self, at: Offset) -> bool:
        """The button went down at ``at``; True if a previous region was dropped."""
        self.anchor = at
        dropped = self.region is not None
        self.region = None
        return dropped

    def extend(self, to: Offset, size: Size) -> bool:
        """The mouse moved to ``to`` (clamped to the pane); True if the region changed."""
        if self.anchor is None:
            return False
        here = Offset(max(0, min(to.x, size.width - 1)), max(0, min(to.y, size.height - 1)))
        start, end = sorted((self.anchor, here), key=lambda o: (o.y, o.x))
        if (start, end) == self.region:
            return False
        self.region = (start, end)
        return True

    def finish(self) -> bool:
        """The button went up; True when a region of more than one cell is selected."""
        self.anchor = None
        if self.region is not None and self.region[0] != self.region[1]:
            return True
        self.region = None
        return False

    def clear(self) -> None:
        """Select nothing."""
        self.anchor = self.region = None

    def span(self, y: int, width: int) -> tuple[int, int] | None:
        """The selected columns [start, end) of line ``y``, or None."""
        if self.region is None:
            return None
        start, end = self.region
        if not start.y <= y <= end.y:
            return None
        first = start.x if y == start.y else 0
        last = min(end.x + 1 if y == end.y else width, width)
        return (first, last) if first < last else None

    def text(self, line_text: Callable[[int], str]) -> str:
        """The selected text, given each line's text; trailing blanks trimmed per line."""
        if self.region is None:
            return ""
        lines = []
        for y in range(self.region[0].y, self.region[1].y + 1):
            text = line_text(y)
            span = self.span(y, len(text))
            lines.append(text[span[0] : span[1]].rstrip() if span else "")
        return "\n".join(lines)
