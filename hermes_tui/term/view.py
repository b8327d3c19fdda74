"""The terminal pane: an emulated terminal of the selected process, rendered line by line.

Reader threads only append to the process's :class:`~registry.OutputBuffer`, then call
:meth:`TerminalView.output_arrived` (from their own thread). Only output of the shown buffer
wakes the pane, once until it has fed (a flood of appends is one message), so a key echoed by
the attached process is drawn at once and nothing runs at rest. A feed lasts at most a few
milliseconds; while output keeps coming faster than that, feeds are paced
(:mod:`hermes_tui.term.pacing`). Only the lines that changed are repainted (strips are cached
per line). A process without a PTY is shown as a coloured log instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from hermes_tui.term.emulator import Emulator, FeedScheduler
from hermes_tui.term.keys import (
    DEFAULT_DETACH_KEY,
    DetachKey,
    encode_key,
    encode_mouse,
    encode_paste,
)
from hermes_tui.term.pacing import FeedPacer, paint_now
from hermes_tui.term.render import CellPainter, highlight
from hermes_tui.term.scrollback import Scrollback
from hermes_tui.term.selection import Selection
from hermes_tui.untrusted import ansi_text, plain
from registry import OutputBuffer

FEED_BUDGET = 0.004
LOG_TAIL_BYTES = 64 * 1024
WHEEL_LINES = 3
"""Lines scrolled per wheel notch, as most terminals do."""


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
        self._painter = CellPainter()
        self._log_lines: list[Text] = []
        self._log_total = -1
        self._scroll: Scrollback | None = None
        self._selection = Selection()
        self._wake_pending = False
        self._pacer = FeedPacer(self, self._feed)
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
        self._pacer.wake(output=True)

    def on_show(self) -> None:
        self._pacer.wake()  # output that came while hidden (a zoomed neighbour)

    def show(self, buffer: OutputBuffer, *, pty: bool) -> None:
        """Show a process's output (replaying the end of what is buffered)."""
        self._buffer = buffer
        self._pty = pty
        self._scroll = None
        self._selection.clear()
        self.border_subtitle = ""
        self._strips.clear()
        self._log_total = -1
        if pty:
            rows, cols = max(self.size.height, 1), max(self.size.width, 1)
            self._emulator = Emulator(rows, cols)
            self._scheduler = FeedScheduler(self._emulator, buffer)
            self._scheduler.replay()
            self._emulator.take_dirty()
            self._pacer.wake()  # what arrived between the replay and now
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
        self._painter.set_palette(ansi, fg, bg)
        self._strips.clear()
        self.refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While attached, the pane's own keys belong to the process too."""
        return not self.attached

    def watch_attached(self, attached: bool) -> None:
        self.set_class(attached, "-attached")
        self._scroll = None
        self.border_title = (
            plain(f"Terminal — ATTACHED ({self.detach_key.spec} detaches)")
            if attached
            else "Terminal"
        )
        self.refresh_bindings()
        self._strips.clear()
        self.refresh()

    # -- feeding ---------------------------------------------------------------------
    def _feed(self, quiet: bool = False) -> int:
        """Feed what arrived, repaint what changed; return the bytes of output consumed."""
        buffer = self._buffer
        if buffer is None or not self.display or self.size.area == 0:
            return 0  # on_show / on_resize feed what came meanwhile
        if self._scheduler is None:
            fed = buffer.total - self._log_total
            if fed:
                self._refresh_log()
                self.refresh()
                self.frames += 1
            return fed
        assert self._emulator is not None
        start = self._scheduler.offset
        if self._scheduler.behind and not self._scheduler.pump(FEED_BUDGET):
            self._pacer.behind()
            quiet = False
        fed = self._scheduler.offset - start
        replies = self._emulator.take_replies()
        if replies and self.attached:
            self.send(replies)
        dirty = self._emulator.take_dirty()
        if not dirty or self._scroll is not None:
            return fed
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
        if quiet:
            paint_now(self)  # a key echo: drawn now, not at the screen's next tick
        return fed

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
        emulator = self._emulator
        if emulator is not None and emulator.rows * emulator.cols <= 1 < rows * cols:
            # Shown while the pane had no size (hidden by the layout): replay at the real one.
            assert self._buffer is not None
            self.show(self._buffer, pty=True)
        elif emulator is not None and (rows, cols) != (emulator.rows, emulator.cols):
            emulator.resize(rows, cols)
        elif self._scheduler is None and self._buffer is not None:
            self._refresh_log()
        self._pacer.wake()
        self.post_message(self.Resized(rows, cols))

    # -- drawing -----------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        strip = self._render_plain_line(y)
        span = self._selection.span(y, strip.cell_length)
        return strip if span is None else highlight(strip, *span)

    def _render_plain_line(self, y: int) -> Strip:
        width = self.size.width
        painter = self._painter
        if self._scroll is not None:
            index = self._scroll.top + y
            if index >= len(self._scroll.lines):
                return Strip.blank(width, painter.base)
            return painter.text_line(self._scroll.lines[index], width, self.app.console)
        if self._emulator is not None:
            strip = self._strips.get(y)
            if strip is None or strip.cell_length != width:
                strip = self._strips[y] = painter.emulated_line(
                    self._emulator, y, width, cursor=self.has_focus or self.attached
                )
            return strip
        if y < len(self._log_lines):
            return painter.text_line(self._log_lines[y], width, self.app.console)
        return Strip.blank(width, painter.base)

    # -- scrollback and search ---------------------------------------------------------
    def _enter_scrollback(self) -> Scrollback | None:
        if self._scroll is None and self._buffer is not None:
            self._scroll = Scrollback(self._buffer.snapshot(), self.size.height)
        return self._scroll

    def scroll_lines(self, delta: int) -> None:
        """Scroll back (``delta`` < 0) or forward by lines; past the end, back to live."""
        scroll = self._enter_scrollback() if delta < 0 else self._scroll
        if scroll is None:
            return
        if scroll.scroll(delta, self.size.height):
            self.action_live()
            return
        self._selection.clear()
        self._show_scrollback()

    def _show_scrollback(self) -> None:
        if self._scroll is not None:
            self.border_subtitle = self._scroll.position(self.size.height)
        self.refresh()

    @property
    def scroll_position(self) -> tuple[int, int] | None:
        """(first shown line, line count) while scrolled back, else None."""
        return None if self._scroll is None else (self._scroll.top, len(self._scroll.lines))

    def action_scroll_back(self) -> None:
        """Scroll back through the buffered output (a page at a time)."""
        self.scroll_lines(-max(1, self.size.height - 1))

    def action_scroll_forward(self) -> None:
        """Scroll towards the end; past it, back to the live view."""
        self.scroll_lines(max(1, self.size.height - 1))

    def action_live(self) -> None:
        """Leave scrollback and show the live terminal."""
        self._scroll = None
        self._selection.clear()
        self.border_subtitle = ""
        self._strips.clear()
        self.refresh()

    def search(self, pattern: str) -> bool:
        """Scroll back to the last line containing ``pattern`` and highlight it."""
        scroll = self._enter_scrollback()
        found = scroll is not None and scroll.find(pattern, self.size.height)
        self._show_scrollback()
        return found

    @property
    def scrolled_back(self) -> bool:
        """True while showing scrollback instead of the live terminal."""
        return self._scroll is not None

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
        if self._scroll is not None:
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
        self.send(encode_mouse(button, offset.x, offset.y, pressed=pressed, sgr=emulator.mouse_sgr))
        return True

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._forward_mouse(event, max(event.button - 1, 0), True) or event.button != 1:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if self._selection.start(offset):
            self.refresh()
        self.capture_mouse()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._selection.extend(event.get_content_offset_capture(self), self.size):
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._forward_mouse(event, max(event.button - 1, 0), False):
            return
        if self._selection.anchor is None:
            return
        self.release_mouse()
        if self._selection.finish():
            self.copy_selection()
        else:
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
    @property
    def selected_text(self) -> str:
        """The text of the selected region ('' without a selection)."""
        return self._selection.text(lambda y: self._render_plain_line(y).text)

    def copy_selection(self) -> None:
        """Copy the selected region to the clipboard (the terminal's, through OSC 52)."""
        text = self.selected_text
        self.app.copy_to_clipboard(text)
        self.notify(
            f"Copied {len(text)} character(s) ({len(text.splitlines())} line(s))", timeout=2
        )

    def action_copy_screen(self) -> None:
        """Copy the selected region, else what the pane shows (live screen or scrollback)."""
        if self._selection.region is not None:
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
