"""Helpers for Pilot tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import events
from textual.pilot import Pilot
from textual.widget import Widget


async def until(
    pilot: Pilot[None], predicate: Callable[[], bool], what: str, timeout: float = 15
) -> None:
    """Let the app run until ``predicate`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def wheel(
    pilot: Pilot[None],
    widget: Widget | type[Widget] | str,
    *,
    up: bool,
    offset: tuple[int, int] = (5, 5),
    notches: int = 1,
) -> None:
    """Turn the mouse wheel over ``widget`` (Pilot has no helper for the wheel)."""
    event = events.MouseScrollUp if up else events.MouseScrollDown
    for _ in range(notches):
        await pilot._post_mouse_events([event], widget=widget, offset=offset)
    await pilot.pause()
