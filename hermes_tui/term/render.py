"""Painting emulated cells and log lines as Textual strips, in the theme's terminal colours.

Styles are cached per cell attribute tuple, so a repaint costs a dictionary lookup per run
of equal cells, not a Style built per cell (which made a full repaint of a busy pane cost
more than a frame).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from hermes_tui.term.emulator import ANSI_NAMES, BASE16_HEX, Emulator

DEFAULT_PALETTE = (
    "#000000",
    "#cd3131",
    "#0dbc79",
    "#e5e510",
    "#2472c8",
    "#bc3fbc",
    "#11a8cd",
    "#e5e5e5",
    "#666666",
    "#f14c4c",
    "#23d18b",
    "#f5f543",
    "#3b8eea",
    "#d670d6",
    "#29b8db",
    "#ffffff",
)
_DATA = itemgetter(0)
_ATTRS = itemgetter(slice(1, None))
"""A pyte cell is (data, fg, bg, bold, italics, underscore, strikethrough, reverse, blink)."""


class CellPainter:
    """Turns emulator lines and log lines into strips, in one palette."""

    def __init__(self) -> None:
        self._styles: dict[tuple[Any, ...], Style] = {}
        self._palette: tuple[str, ...] = DEFAULT_PALETTE
        self._fg = "#d8dee9"
        self._bg = "#101318"
        self.base = Style(color=Color.parse(self._fg), bgcolor=Color.parse(self._bg))
        """Default colours: blank cells and log text without colours of its own."""

    def set_palette(self, ansi: Sequence[str], fg: str, bg: str) -> None:
        """Use a theme's 16 ANSI colours and its default foreground and background."""
        self._palette = tuple(ansi)
        self._fg, self._bg = fg, bg
        self._styles.clear()
        self.base = Style(color=Color.parse(fg), bgcolor=Color.parse(bg))

    def _color(self, name: str, default: str) -> Color:
        if name == "default":
            return Color.parse(default)
        index = ANSI_NAMES.get(name)
        if index is None:
            index = BASE16_HEX.get(name.lower())
        if index is not None:
            return Color.parse(self._palette[index])
        try:
            return Color.parse(f"#{name}")
        except Exception:
            return Color.parse(default)

    def _style(self, cell: Any, cursor: bool = False) -> Style:
        key = (
            cell.fg,
            cell.bg,
            cell.bold,
            cell.italics,
            cell.underscore,
            cell.strikethrough,
            cell.reverse != cursor,
        )
        style = self._styles.get(key)
        if style is None:
            fg = self._color(cell.fg, self._fg)
            bg = self._color(cell.bg, self._bg)
            if key[-1]:
                fg, bg = bg, fg
            style = self._styles[key] = Style(
                color=fg,
                bgcolor=bg,
                bold=cell.bold,
                italic=cell.italics,
                underline=cell.underscore,
                strike=cell.strikethrough,
            )
        return style

    def emulated_line(self, emulator: Emulator, y: int, width: int, *, cursor: bool) -> Strip:
        """Line ``y`` of the emulated screen; ``cursor``: draw the cursor if it is there.

        Cells are grouped into runs of equal attributes in C (``groupby``), and a style is
        looked up per run, not per cell: a flood repaints the whole pane ~30 times a second.
        """
        blank = Style(bgcolor=Color.parse(self._bg))
        if y >= emulator.rows:
            return Strip.blank(width, blank)
        line = emulator.line(y)
        cells = [line[x] for x in range(min(width, emulator.cols))]
        if cells and cells[0].data == "":  # the right half of a wide character, alone
            cells[0] = cells[0]._replace(data=" ")
        cursor_x, cursor_y = emulator.cursor
        segments: list[Segment] = []
        if cursor and y == cursor_y and emulator.cursor_visible and cursor_x < len(cells):
            self._add_runs(segments, cells[:cursor_x])
            self._add_runs(segments, cells[cursor_x : cursor_x + 1], cursor=True)
            self._add_runs(segments, cells[cursor_x + 1 :])
        else:
            self._add_runs(segments, cells)
        return Strip(segments).adjust_cell_length(width, blank)

    def _add_runs(
        self, segments: list[Segment], cells: Iterable[Any], cursor: bool = False
    ) -> None:
        for _, group in groupby(cells, _ATTRS):
            run = list(group)
            text = "".join(map(_DATA, run))
            style = self._style(run[0], cursor)
            if segments and segments[-1].style is style:
                segments[-1] = Segment(segments[-1].text + text, style)
            else:
                segments.append(Segment(text, style))

    def text_line(self, text: Text, width: int, console: Console) -> Strip:
        """A log or scrollback line (already made safe: see ``hermes_tui.untrusted``)."""
        segments = list(text.render(console))
        return Strip(segments).apply_style(self.base).adjust_cell_length(width, self.base)


def highlight(strip: Strip, start: int, end: int) -> Strip:
    """``strip`` with cells [start, end) in reverse video (a selection)."""
    before, middle, after = strip.divide([start, end, strip.cell_length])
    return Strip.join([before, middle.apply_style(Style(reverse=True)), after])
