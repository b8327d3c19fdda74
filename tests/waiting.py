"""The one place tests wait: poll a condition until it holds (sync and async flavours).

Tests never pause for a fixed time; they wait for the thing they need (a file appears, an exit
is recorded, a process is gone). The only sleeps in ``tests/`` besides these polls are in fakes
that simulate time on purpose. No pytest import here, so fakes and the helper scripts tests
start can use it too; a timeout raises ``AssertionError``, which pytest reports as a failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
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


def wait_for(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something true and return that; fail the test after
    ``timeout`` seconds. The predicate may raise (an ``assert`` that something is still
    alive) to stop the wait early."""
    value = poll_until(predicate, timeout)
    if not value:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
    return value


def do_when(
    predicate: Callable[[], object], action: Callable[[], object], timeout: float = 20.0
) -> threading.Thread:
    """Run ``action`` on a thread as soon as ``predicate`` holds: what a timer can only guess
    ("cancel once the command runs"). After ``timeout`` it runs anyway, so the test fails on
    its own assertions instead of hanging."""

    def run() -> None:
        poll_until(predicate, timeout)
        action()

    thread = threading.Thread(target=run, name="do-when", daemon=True)
    thread.start()
    return thread


async def async_wait_for(
    predicate: Callable[[], T | None], timeout: float = 10.0, what: str = "condition"
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


def pids_running(text: str, *, leading: bool = False) -> list[int]:
    """Pids of the processes whose command line (arguments joined by spaces) contains
    ``text`` (starts with it, if ``leading``: the command itself, not a shell running it),
    those in containers too (they share this kernel). Put a unique number in the command
    (``sleep 604713``) so other tests' processes do not count."""
    wanted = text.encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    line = f.read().replace(b"\0", b" ")
                    if line.startswith(wanted) if leading else wanted in line:
                        found.append(int(entry))
            except OSError:
                pass  # it ended meanwhile
    return found


def unique_seconds() -> int:
    """A sleep length no other test uses, to find that sleep with :func:`pids_running`."""
    return random.randint(100_000, 999_999)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
