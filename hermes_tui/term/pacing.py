"""When the terminal pane feeds its emulator, and how soon what it fed is drawn.

Measured on the whole path of a key echo (``benchmarks/key_latency.py``): a quiet echo is
fed as soon as its output is woken for, and then painted at once, because Textual otherwise
draws at its screen's next 60 Hz tick (up to 16.7 ms later when anything else was drawn just
before). Bursts and floods are paced instead: at most one feed per frame
(:data:`MIN_INTERVAL`) after a small feed, :data:`FLOOD_INTERVAL` after a large one or while the
emulator is behind, so a flood is drawn at ~30 fps (not 60: each frame of a full pane costs
the CPU the flooding program and the others need) and the UI keeps answering keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.timer import Timer
from textual.widget import Widget

FLOOD_INTERVAL = 1 / 36
"""Between feeds during a flood: ~30 frames a second once timer and wake-up delays are added
(the target is 25 or more)."""
MIN_INTERVAL = 1 / 60
"""At least this long between two feeds (one frame): a burst of small writes is one feed."""
FLOOD_BYTES = 4096
"""A feed of this much output or more is a flood's: the next one waits :data:`FLOOD_INTERVAL`."""


class FeedPacer:
    """Runs a widget's ``feed(quiet)`` now, or later when a feed just ran.

    ``quiet`` is True for a feed of new output that ran as soon as it arrived (no other feed
    in the last frame): a key echo, a prompt, the first lines of a burst. ``feed`` returns how
    many bytes of output it consumed.
    """

    def __init__(self, widget: Widget, feed: Callable[[bool], int]) -> None:
        self._widget = widget
        self._feed = feed
        self._timer: Timer | None = None
        self._last = 0.0
        self._interval = MIN_INTERVAL

    def wake(self, output: bool = False) -> None:
        """Feed now, or at the end of the current frame when a feed just ran.

        ``output``: woken by new output (rather than a resize, a show...).
        """
        if self._timer is not None:
            return  # a feed is already due
        wait = self._last + self._interval - time.monotonic()
        if wait > 0:
            self._timer = self._widget.set_timer(wait, self._timed)
        else:
            self._run(quiet=output)

    def behind(self) -> None:
        """Feed again after a frame's pause, whether or not more output arrives."""
        if self._timer is None:
            self._timer = self._widget.set_timer(FLOOD_INTERVAL, self._timed)

    def _timed(self) -> None:
        self._timer = None
        self._run(quiet=False)

    def _run(self, quiet: bool) -> None:
        self._last = time.monotonic()
        fed = self._feed(quiet)
        self._interval = FLOOD_INTERVAL if fed >= FLOOD_BYTES else MIN_INTERVAL


def paint_now(widget: Widget) -> None:
    """Draw ``widget``'s refreshed regions now rather than at the screen's next update tick.

    Textual composes a screen on a timer (``MAX_FPS``, 60 Hz), which costs a key echo up to
    a frame. This does what that tick does, for a widget that has just called ``refresh``;
    on a Textual without the (private) hook, the tick draws it as usual.
    """
    screen = widget.screen
    update = getattr(screen, "_on_timer_update", None)
    dirty = getattr(screen, "_dirty_widgets", None)
    compositor = getattr(screen, "_compositor", None)
    if update is None or not isinstance(dirty, set) or compositor is None:
        return
    if widget not in compositor.visible_widgets:
        return
    dirty.add(widget)
    update()
