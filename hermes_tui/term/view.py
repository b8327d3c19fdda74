"""The terminal pane: an emulated terminal of the selected process, rendered line by line.

Reader threads only append to the process's :class:`~registry.OutputBuffer`. This widget
looks at the buffer on a ~30 Hz timer, and only while it is displayed: it feeds the emulator
for at most a few milliseconds per tick and repaints only the lines that changed (strips are
cached per line). A process without a PTY is shown as a coloured log instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from hermes_tui.term.emulator import (
    ANSI_NAMES,
    BASE16_HEX,
    Emulator,
    FeedScheduler,
)
from hermes_tui.term.keys import encode_key, encode_mouse, encode_paste
from registry import OutputBuffer

TICK = 1 / 30
FEED_BUDGET = 0.004
LOG_TAIL_BYTES = 64 * 1024
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
_DETACH_ALIASES = {
    "ctrl+^": "ctrl+circumflex_accent",
    "ctrl+6": "ctrl+circumflex_accent",
    "ctrl+]": "ctrl+right_square_bracket",
    "ctrl+\\": "ctrl+backslash",
}


class TerminalView(Widget, can_focus=True):
    """Shows a process's output as a terminal, and types into it while attached."""

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
        self.detach_key = "ctrl+^"
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
        self.frames = 0
        """Ticks that repainted something (for benchmarks)."""

    def on_mount(self) -> None:
        self.border_title = "Terminal"
        self.set_interval(TICK, self._tick)

    # -- what is shown ---------------------------------------------------------------------
    def show(self, buffer: OutputBuffer, *, pty: bool) -> None:
        """Show a process's output (replaying the end of what is buffered)."""
        self._buffer = buffer
        self._pty = pty
        self._scroll_lines = None
        self._strips.clear()
        self._log_total = -1
        if pty:
            rows, cols = max(self.size.height, 1), max(self.size.width, 1)
            self._emulator = Emulator(rows, cols)
            self._scheduler = FeedScheduler(self._emulator, buffer)
            self._scheduler.replay()
            self._emulator.take_dirty()
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
        self.border_title = (
            f"Terminal — ATTACHED ({self.detach_key} detaches)" if attached else "Terminal"
        )
        self.refresh_bindings()
        self._strips.clear()
        self.refresh()

    # -- the tick ----------------------------------------------------------------------
    def _tick(self) -> None:
        buffer = self._buffer
        if buffer is None or not self.display or self.size.area == 0:
            return
        if self._scheduler is None:
            if buffer.total != self._log_total:
                self._refresh_log()
                self.refresh()
                self.frames += 1
            return
        assert self._emulator is not None
        if self._scheduler.behind:
            self._scheduler.pump(FEED_BUDGET)
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
        self._log_lines = [Text.from_ansi(line) for line in lines[-height:]]

    def on_resize(self, event: events.Resize) -> None:
        rows, cols = self.size.height, self.size.width
        if rows <= 0 or cols <= 0:
            return
        self._strips.clear()
        if self._emulator is not None and (rows, cols) != (
            self._emulator.rows,
            self._emulator.cols,
        ):
            self._emulator.resize(rows, cols)
        elif self._scheduler is None and self._buffer is not None:
            self._refresh_log()
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

    def _emulated_line(self, y: int, width: int) -> Strip:
        emulator = self._emulator
        assert emulator is not None
        if y >= emulator.rows:
            return Strip.blank(width, Style(bgcolor=Color.parse(self._bg)))
        line = emulator.line(y)
        cursor_x, cursor_y = emulator.cursor
        show_cursor = (
            y == cursor_y and emulator.cursor_visible and (self.has_focus or self.attached)
        )
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
            self._scroll_lines = [Text.from_ansi(line.rsplit("\r", 1)[-1]) for line in lines]
            self._scroll_top = max(0, len(self._scroll_lines) - self.size.height)

    def action_scroll_back(self) -> None:
        """Scroll back through the buffered output (a page at a time)."""
        self._enter_scrollback()
        self._scroll_top = max(0, self._scroll_top - max(1, self.size.height - 1))
        self.refresh()

    def action_scroll_forward(self) -> None:
        """Scroll towards the end; past it, back to the live view."""
        if self._scroll_lines is None:
            return
        self._scroll_top += max(1, self.size.height - 1)
        if self._scroll_top + self.size.height >= len(self._scroll_lines):
            self.action_live()
        self.refresh()

    def action_live(self) -> None:
        """Leave scrollback and show the live terminal."""
        self._scroll_lines = None
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
                self.refresh()
                return True
        return False

    @property
    def scrolled_back(self) -> bool:
        """True while showing scrollback instead of the live terminal."""
        return self._scroll_lines is not None

    # -- input -------------------------------------------------------------------------
    def _is_detach(self, key: str) -> bool:
        wanted = self.detach_key.lower()
        return key in (wanted, _DETACH_ALIASES.get(wanted, wanted))

    async def on_key(self, event: events.Key) -> None:
        if not self.attached:
            return
        event.stop()
        event.prevent_default()
        if self._is_detach(event.key):
            self.post_message(self.DetachRequested())
            return
        app_cursor = self._emulator.application_cursor_keys if self._emulator else False
        data = encode_key(event.key, event.character, app_cursor=app_cursor)
        if data:
            self.send(data)

    def _forward_mouse(self, event: events.MouseEvent, button: int, pressed: bool) -> None:
        """Report the mouse to a program that asked for it (SGR or the legacy encoding)."""
        emulator = self._emulator
        if not (self.attached and emulator is not None and emulator.mouse_tracking):
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return  # on the border
        event.stop()
        x, y = offset.x, offset.y
        if emulator.mouse_sgr:
            self.send(encode_mouse(button, x, y, pressed=pressed))
        else:  # the legacy encoding: releases are button 3, coordinates + 33
            code = button if pressed or button >= 64 else 3
            self.send(bytes([0x1B, 0x5B, 0x4D, 32 + code, 33 + min(x, 222), 33 + min(y, 222)]))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._forward_mouse(event, max(event.button - 1, 0), True)

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._forward_mouse(event, max(event.button - 1, 0), False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._forward_mouse(event, 64, True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._forward_mouse(event, 65, True)

    def action_copy_screen(self) -> None:
        """Copy what the pane shows (the live screen or the scrollback page) as text."""
        text = "\n".join(line.rstrip() for line in self.screen_text()).strip("\n")
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text.splitlines())} line(s)", timeout=2)

    def on_paste(self, event: events.Paste) -> None:
        if self.attached:
            event.stop()
            bracketed = self._emulator.bracketed_paste if self._emulator else False
            self.send(encode_paste(event.text, bracketed=bracketed))
