"""The terminal pane: an emulated terminal of the selected process, rendered line by line.

Reader threads only append to the process's :class:`~registry.OutputBuffer`, then call
:meth:`TerminalView.output_arrived` (from their own thread). Only output of the shown buffer
wakes the pane, once until it has fed (a flood of appends is one message), so a key echoed by
the attached process is drawn at once and nothing runs at rest. A feed lasts at most a few
milliseconds; while output keeps coming faster than that, feeds follow each other at
:data:`FLOOD_INTERVAL` (the pane still reaches ~30 fps and the UI keeps answering keys). Only
the lines that changed are repainted (strips are cached per line). A process without a PTY
is shown as a coloured log instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget

from hermes_tui.term.emulator import (
    ANSI_NAMES,
    BASE16_HEX,
    Emulator,
    FeedScheduler,
)
from hermes_tui.term.keys import (
    DEFAULT_DETACH_KEY,
    DetachKey,
    encode_key,
    encode_mouse,
    encode_paste,
)
from hermes_tui.untrusted import ansi_text, plain
from registry import OutputBuffer

FLOOD_INTERVAL = 1 / 30
"""Between feeds while the emulator is behind (the output outruns a feed's budget)."""
MIN_INTERVAL = 1 / 60
"""At least this long between two feeds (one frame): a burst of small writes is one feed."""
FEED_BUDGET = 0.004
LOG_TAIL_BYTES = 64 * 1024
WHEEL_LINES = 3
"""Lines scrolled per wheel notch, as most terminals do."""
DEFAULT_PALETTE = ("#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc",
                   "#11a8cd", "#e5e5e5", "#666666", "#f14c4c", "#23d18b", "#f5f543",
                   "#3b8eea", "#d670d6", "#29b8db", "#ffffff")


class TerminalView(Widget, can_focus=True):
    """Shows a process's output as a terminal, and types into it while attached.

    The mouse: the wheel scrolls back through the output (the border shows where), a drag
    selects a region and copies it; both go to the program instead when it asked for the
    mouse while attached.
    """

    ALLOW_SELECT = False  # the pane selects emulated cells itself (see on_mouse_down)

    DEFAULT_CSS = """
    TerminalView {
        border: round $panel;
        border-title-color: $text-muted;
        background: $background;
        overflow: hidden hidden;
    }
    TerminalView:focus {
        border: round $primary;
    }
    TerminalView.-attached {
        border: heavy $accent;
        border-title-color: $accent;
    }
    """

    BINDINGS = [
        Binding("shift+pageup,pageup", "scroll_back", "Scroll back", show=False),
        Binding("shift+pagedown,pagedown", "scroll_forward", "Scroll forward", show=False),
        Binding("escape", "live", "Live view", show=False),
        Binding("c", "copy_screen", "Copy", id="copy"),
    ]

    attached: reactive[bool] = reactive(False)
    """True while keys go to the process."""

    class DetachRequested(Message):
        """The person pressed the detach key (it was not sent to the process)."""

    class Resized(Message):
        """The pane changed size; the process's PTY should follow."""

        def __init__(self, rows: int, cols: int) -> None:
            super().__init__()
            self.rows = rows
            self.cols = cols

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.send: Callable[[bytes], None] = lambda data: None
        """Where typed bytes go (set by the app)."""
        self.detach_key = DetachKey(DEFAULT_DETACH_KEY)
        self._buffer: OutputBuffer | None = None
        self._pty = True
        self._emulator: Emulator | None = None
        self._scheduler: FeedScheduler | None = None
        self._strips: dict[int, Strip] = {}
        self._styles: dict[tuple[Any, ...], Style] = {}
        self._palette: tuple[str, ...] = DEFAULT_PALETTE
        self._fg = "#d8dee9"
        self._bg = "#101318"
        self._log_lines: list[Text] = []
        self._log_total = -1
        self._scroll_lines: list[Text] | None = None
        self._scroll_top = 0
        self._select_anchor: Offset | None = None
        self._selection: tuple[Offset, Offset] | None = None
        """Selected region (start, end inclusive, in reading order), in pane cells."""
        self._wake_pending = False
        self._feed_timer: Timer | None = None
        self._last_feed = 0.0
        self.frames = 0
        """Feeds that repainted something (for benchmarks)."""

    class Output(Message, bubble=False):
        """The shown buffer grew (posted from a reader thread, at most one at a time)."""

    def on_mount(self) -> None:
        self.border_title = "Terminal"

    # -- what is shown ---------------------------------------------------------------------
    def output_arrived(self, buffer: OutputBuffer) -> None:
        """``buffer`` grew: wake the pane if it shows it. Safe to call from any thread.

        Only the first call after a feed posts a message; later ones are folded into it.
        """
        if buffer is self._buffer and not self._wake_pending:
            self._wake_pending = True
            self.post_message(self.Output())

    def on_terminal_view_output(self, message: Output) -> None:
        self._wake_pending = False  # before feeding: output appended from now on wakes again
        self._schedule_feed()

    def on_show(self) -> None:
        self._schedule_feed()  # output that came while hidden (a zoomed neighbour)

    def _schedule_feed(self) -> None:
        """Feed now, or at the end of the current frame when a feed just ran."""
        if self._feed_timer is not None:
            return  # a feed is already due
        wait = self._last_feed + MIN_INTERVAL - time.monotonic()
        if wait > 0:
            self._feed_timer = self.set_timer(wait, self._timed_feed)
        else:
            self._feed()

    def _timed_feed(self) -> None:
        self._feed_timer = None
        self._feed()

    def show(self, buffer: OutputBuffer, *, pty: bool) -> None:
        """Show a process's output (replaying the end of what is buffered)."""
        self._buffer = buffer
        self._pty = pty
        self._scroll_lines = None
        self._selection = None
        self.border_subtitle = ""
        self._strips.clear()
        self._log_total = -1
        if pty:
            rows, cols = max(self.size.height, 1), max(self.size.width, 1)
            self._emulator = Emulator(rows, cols)
            self._scheduler = FeedScheduler(self._emulator, buffer)
            self._scheduler.replay()
            self._emulator.take_dirty()
            self._schedule_feed()  # what arrived between the replay and now
        else:
            self._emulator = self._scheduler = None
            self._refresh_log()
        self.refresh()

    def clear(self) -> None:
        """Show nothing."""
        self._buffer = None
        self._emulator = self._scheduler = None
        self._strips.clear()
        self._log_lines = []
        self.refresh()

    @property
    def emulator(self) -> Emulator | None:
        """The emulator of the shown PTY process."""
        return self._emulator

    def screen_text(self) -> list[str]:
        """The visible lines as plain text (what a person sees)."""
        return [self.render_line(y).text for y in range(self.size.height)]

    def set_palette(self, ansi: Sequence[str], fg: str, bg: str) -> None:
        """Use a theme's terminal colours."""
        self._palette = tuple(ansi)
        self._fg, self._bg = fg, bg
        self._styles.clear()
        self._strips.clear()
        self.refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While attached, the pane's own keys belong to the process too."""
        return not self.attached

    def watch_attached(self, attached: bool) -> None:
        self.set_class(attached, "-attached")
        self._scroll_lines = None
        self.border_title = (plain(f"Terminal — ATTACHED ({self.detach_key.spec} detaches)")
                             if attached else "Terminal")
        self.refresh_bindings()
        self._strips.clear()
        self.refresh()

    # -- feeding ---------------------------------------------------------------------
    def _feed(self) -> None:
        buffer = self._buffer
        if buffer is None or not self.display or self.size.area == 0:
            return  # on_show / on_resize feed what came meanwhile
        self._last_feed = time.monotonic()
        if self._scheduler is None:
            if buffer.total != self._log_total:
                self._refresh_log()
                self.refresh()
                self.frames += 1
            return
        assert self._emulator is not None
        if self._scheduler.behind and not self._scheduler.pump(FEED_BUDGET):
            # Still behind: come back after a frame's pause whether or not more arrives.
            self._feed_timer = self.set_timer(FLOOD_INTERVAL, self._timed_feed)
        replies = self._emulator.take_replies()
        if replies and self.attached:
            self.send(replies)
        dirty = self._emulator.take_dirty()
        if not dirty or self._scroll_lines is not None:
            return
        self.frames += 1
        for y in dirty:
            self._strips.pop(y, None)
        cursor_row = self._emulator.cursor[1]
        self._strips.pop(cursor_row, None)
        if len(dirty) > 8:
            self.refresh()
        else:
            width = self.size.width
            self.refresh(*(Region(0, y, width, 1) for y in dirty | {cursor_row}))

    def _refresh_log(self) -> None:
        assert self._buffer is not None
        self._log_total = self._buffer.total
        data = self._buffer.tail(LOG_TAIL_BYTES)
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        height = max(self.size.height, 1)
        self._log_lines = [ansi_text(line) for line in lines[-height:]]

    def on_resize(self, event: events.Resize) -> None:
        rows, cols = self.size.height, self.size.width
        if rows <= 0 or cols <= 0:
            return
        self._strips.clear()
        if self._emulator is not None and (rows, cols) != (self._emulator.rows,
                                                           self._emulator.cols):
            self._emulator.resize(rows, cols)
        elif self._scheduler is None and self._buffer is not None:
            self._refresh_log()
        self._schedule_feed()
        self.post_message(self.Resized(rows, cols))

    # -- drawing -----------------------------------------------------------------------
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
        key = (cell.fg, cell.bg, cell.bold, cell.italics, cell.underscore,
               cell.strikethrough, cell.reverse != cursor)
        style = self._styles.get(key)
        if style is None:
            fg = self._color(cell.fg, self._fg)
            bg = self._color(cell.bg, self._bg)
            if key[-1]:
                fg, bg = bg, fg
            style = self._styles[key] = Style(color=fg, bgcolor=bg, bold=cell.bold,
                                              italic=cell.italics,
                                              underline=cell.underscore,
                                              strike=cell.strikethrough)
        return style

    def _emulated_line(self, y: int, width: int) -> Strip:
        emulator = self._emulator
        assert emulator is not None
        if y >= emulator.rows:
            return Strip.blank(width, Style(bgcolor=Color.parse(self._bg)))
        line = emulator.line(y)
        cursor_x, cursor_y = emulator.cursor
        show_cursor = (y == cursor_y and emulator.cursor_visible
                       and (self.has_focus or self.attached))
        segments: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        for x in range(min(width, emulator.cols)):
            cell = line[x]
            style = self._style(cell, cursor=show_cursor and x == cursor_x)
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(cell.data or (" " if cell.data == "" and x == 0 else cell.data))
        if run:
            segments.append(Segment("".join(run), run_style))
        return Strip(segments).adjust_cell_length(width, Style(bgcolor=Color.parse(self._bg)))

    def render_line(self, y: int) -> Strip:
        strip = self._render_plain_line(y)
        span = self._selected_span(y, strip.cell_length)
        if span is None:
            return strip
        start, end = span
        before, middle, after = strip.divide([start, end, strip.cell_length])
        return Strip.join([before, middle.apply_style(Style(reverse=True)), after])

    def _render_plain_line(self, y: int) -> Strip:
        width = self.size.width
        base = Style(color=Color.parse(self._fg), bgcolor=Color.parse(self._bg))
        if self._scroll_lines is not None:
            index = self._scroll_top + y
            if index >= len(self._scroll_lines):
                return Strip.blank(width, base)
            return self._text_strip(self._scroll_lines[index], width, base)
        if self._emulator is not None:
            strip = self._strips.get(y)
            if strip is None or strip.cell_length != width:
                strip = self._strips[y] = self._emulated_line(y, width)
            return strip
        if y < len(self._log_lines):
            return self._text_strip(self._log_lines[y], width, base)
        return Strip.blank(width, base)

    def _text_strip(self, text: Text, width: int, base: Style) -> Strip:
        segments = list(text.render(self.app.console))
        return Strip(segments).apply_style(base).adjust_cell_length(width, base)

    # -- scrollback and search ---------------------------------------------------------
    def _enter_scrollback(self) -> None:
        if self._scroll_lines is None and self._buffer is not None:
            text = self._buffer.snapshot().decode("utf-8", errors="replace")
            lines = text.replace("\r\n", "\n").split("\n")
            self._scroll_lines = [ansi_text(line.rsplit("\r", 1)[-1]) for line in lines]
            self._scroll_top = max(0, len(self._scroll_lines) - self.size.height)
            self._show_position()

    def scroll_lines(self, delta: int) -> None:
        """Scroll back (``delta`` < 0) or forward by lines; past the end, back to live."""
        if delta < 0:
            self._enter_scrollback()
        lines = self._scroll_lines
        if lines is None:
            return
        bottom = max(0, len(lines) - self.size.height)
        self._scroll_top = max(0, min(self._scroll_top + delta, bottom))
        if delta > 0 and self._scroll_top >= bottom:
            self.action_live()
            return
        self._selection = None
        self._show_position()
        self.refresh()

    def _show_position(self) -> None:
        """The position indicator on the border: which lines of how many, and the way back."""
        lines = self._scroll_lines
        if lines is None:
            self.border_subtitle = ""
            return
        total = max(len(lines), 1)
        last = min(self._scroll_top + self.size.height, total)
        self.border_subtitle = (f"scrollback {self._scroll_top + 1}-{last} of {total} "
                                f"({100 * last // total}%) · Esc: live")

    @property
    def scroll_position(self) -> tuple[int, int] | None:
        """(first shown line, line count) while scrolled back, else None."""
        if self._scroll_lines is None:
            return None
        return self._scroll_top, len(self._scroll_lines)

    def action_scroll_back(self) -> None:
        """Scroll back through the buffered output (a page at a time)."""
        self.scroll_lines(-max(1, self.size.height - 1))

    def action_scroll_forward(self) -> None:
        """Scroll towards the end; past it, back to the live view."""
        self.scroll_lines(max(1, self.size.height - 1))

    def action_live(self) -> None:
        """Leave scrollback and show the live terminal."""
        self._scroll_lines = None
        self._selection = None
        self.border_subtitle = ""
        self._strips.clear()
        self.refresh()

    def search(self, pattern: str) -> bool:
        """Scroll back to the last line containing ``pattern`` and highlight it."""
        self._enter_scrollback()
        if not self._scroll_lines or not pattern:
            return False
        needle = pattern.lower()
        for index in range(len(self._scroll_lines) - 1, -1, -1):
            line = self._scroll_lines[index]
            column = line.plain.lower().find(needle)
            if column >= 0:
                highlighted = line.copy()
                highlighted.stylize("reverse bold", column, column + len(pattern))
                self._scroll_lines[index] = highlighted
                self._scroll_top = max(0, index - self.size.height // 2)
                self._show_position()
                self.refresh()
                return True
        return False

    @property
    def scrolled_back(self) -> bool:
        """True while showing scrollback instead of the live terminal."""
        return self._scroll_lines is not None

    # -- input -------------------------------------------------------------------------
    def _is_detach(self, key: str) -> bool:
        return key == self.detach_key.textual

    async def on_key(self, event: events.Key) -> None:
        if not self.attached:
            return
        event.stop()
        event.prevent_default()
        if self._is_detach(event.key):
            self.post_message(self.DetachRequested())
            return
        if self._scroll_lines is not None:
            self.action_live()  # typing shows where the keys go, as terminals do
        app_cursor = self._emulator.application_cursor_keys if self._emulator else False
        data = encode_key(event.key, event.character, app_cursor=app_cursor)
        if data:
            self.send(data)

    def _forward_mouse(self, event: events.MouseEvent, button: int, pressed: bool) -> bool:
        """Report the mouse to a program that asked for it (SGR or the legacy encoding).

        Returns True when the event went to the program.
        """
        emulator = self._emulator
        if not (self.attached and emulator is not None and emulator.mouse_tracking):
            return False
        offset = event.get_content_offset(self)
        if offset is None:
            return True  # on the border: neither the program's nor ours
        event.stop()
        x, y = offset.x, offset.y
        if emulator.mouse_sgr:
            self.send(encode_mouse(button, x, y, pressed=pressed))
        else:  # the legacy encoding: releases are button 3, coordinates + 33
            code = button if pressed or button >= 64 else 3
            self.send(bytes([0x1B, 0x5B, 0x4D, 32 + code, 33 + min(x, 222), 33 + min(y, 222)]))
        return True

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._forward_mouse(event, max(event.button - 1, 0), True) or event.button != 1:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        self._select_anchor = offset
        if self._selection is not None:
            self._selection = None
            self.refresh()
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        anchor = self._select_anchor
        if anchor is None:
            return
        width, height = self.size
        here = event.get_content_offset_capture(self)
        here = Offset(max(0, min(here.x, width - 1)), max(0, min(here.y, height - 1)))
        start, end = sorted((anchor, here), key=lambda o: (o.y, o.x))
        if (start, end) != self._selection:
            self._selection = (start, end)
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._forward_mouse(event, max(event.button - 1, 0), False):
            return
        if self._select_anchor is None:
            return
        self._select_anchor = None
        self.release_mouse()
        if self._selection is not None and self._selection[0] != self._selection[1]:
            self.copy_selection()
        else:
            self._selection = None
            self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not self._forward_mouse(event, 64, True):
            event.stop()
            self.scroll_lines(-WHEEL_LINES)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if not self._forward_mouse(event, 65, True):
            event.stop()
            self.scroll_lines(WHEEL_LINES)

    # -- selection and copy ----------------------------------------------------------------
    def _selected_span(self, y: int, width: int) -> tuple[int, int] | None:
        """The selected columns [start, end) of line ``y``, or None."""
        if self._selection is None:
            return None
        start, end = self._selection
        if not start.y <= y <= end.y:
            return None
        first = start.x if y == start.y else 0
        last = end.x + 1 if y == end.y else width
        return (first, min(last, width)) if first < min(last, width) else None

    @property
    def selected_text(self) -> str:
        """The text of the selected region ('' without a selection)."""
        if self._selection is None:
            return ""
        start, end = self._selection
        lines = []
        for y in range(start.y, end.y + 1):
            text = self._render_plain_line(y).text
            span = self._selected_span(y, len(text))
            lines.append(text[span[0]:span[1]].rstrip() if span else "")
        return "\n".join(lines)

    def copy_selection(self) -> None:
        """Copy the selected region to the clipboard (the terminal's, through OSC 52)."""
        text = self.selected_text
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} character(s) ({len(text.splitlines())} line(s))",
                    timeout=2)

    def action_copy_screen(self) -> None:
        """Copy the selected region, else what the pane shows (live screen or scrollback)."""
        if self._selection is not None:
            self.copy_selection()
            return
        text = "\n".join(line.rstrip() for line in self.screen_text()).strip("\n")
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text.splitlines())} line(s)", timeout=2)

    def on_paste(self, event: events.Paste) -> None:
        if self.attached:
            event.stop()
            bracketed = self._emulator.bracketed_paste if self._emulator else False
            self.send(encode_paste(event.text, bracketed=bracketed))
