"""The one place tests wait: poll a condition until it holds (sync and async flavours).

Tests never pause for a fixed time; they wait for the thing they need (a file appears, an exit
is recorded, a process is gone). The only sleeps in ``tests/`` besides these polls are in fakes
that simulate time on purpose. No pytest import here, so fakes and the helper scripts tests
start can use it too; a timeout raises ``AssertionError``, which pytest reports as a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_INTERVAL = 0.002
"""The first pause between two looks: most conditions hold within a few milliseconds."""
MAX_INTERVAL = 0.05
"""Pauses double up to this, so a long wait costs little CPU and a short one little time."""


def _next(interval: float) -> float:
    return min(interval * 2, MAX_INTERVAL)


def poll_until(predicate: Callable[[], T], timeout: float = 10.0) -> T:
    """Call ``predicate`` until it returns something true or ``timeout`` seconds pass; return
    its last value (false on timeout: the caller decides what that means)."""
    deadline = time.monotonic() + timeout
    interval = FIRST_INTERVAL
    while not (value := predicate()) and time.monotonic() < deadline:
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = _next(interval)
    return value


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something true and return that; fail the test after
    ``timeout`` seconds. The predicate may raise (an ``assert`` that something is still
    alive) to stop the wait early."""
    value = poll_until(predicate, timeout)
    if not value:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return value


async def async_wait_for(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition"
) -> T:
    """:func:`wait_for` for coroutines: the event loop runs while it waits."""
    deadline = time.monotonic() + timeout
    interval = FIRST_INTERVAL
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)
        interval = _next(interval)
    return value


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
