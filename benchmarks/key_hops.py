"""Where a key echo's time goes: ``key_latency.py``'s echo run, with a timestamp at every hop.

The real ``hermes-tui`` runs in a real PTY as in ``key_latency.py``, but started through this
file (``--app``), which wraps a few functions of the app with a timestamp each
(``time.perf_counter``: CLOCK_MONOTONIC, the same clock in both processes):

==========  ============================================================================
``in``      Textual's input thread parses the key's bytes
``key``     the terminal pane's key handler runs (UI thread)
``w0/w1``   the backend writes the key to the process's stdin FIFO (input thread)
``arr``     the follower delivers the echo to the shown buffer (follower thread)
``msg``     the pane's wake-up message is handled (UI thread)
``tick``    Textual's screen update timer runs (when the echo waits for it)
``disp``    the frame is handed to Textual's writer thread (a quiet echo is fed and painted
            at once: ``msg->disp``)
``flush``   the writer thread has written it to the terminal
==========  ============================================================================

The outer terminal then sees it (``seen``). Printed: percentiles of each hop, quiet and while
a sibling floods. Run: ``python benchmarks/key_hops.py [--keys N]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOPS = ["in", "key", "w0", "w1", "arr", "msg", "tick", "disp", "flush"]


def traced_app() -> None:
    """Run the app with timestamps written to ``$HERMES_HOPS``."""
    out = os.open(os.environ["HERMES_HOPS"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def mark(name: str) -> None:
        os.write(out, f"{time.perf_counter():.6f} {name}\n".encode())

    def wrap(owner: Any, attr: str, before: str | None, after: str | None = None) -> None:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = original(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(owner, attr, timed)

    from textual._xterm_parser import XTermParser
    from textual.app import App
    from textual.drivers._writer_thread import WriterThread
    from textual.screen import Screen

    from backends.local import LocalBackend
    from hermes_tui.cli import main
    from hermes_tui.term.view import TerminalView

    wrap(XTermParser, "feed", "in")
    wrap(TerminalView, "on_key", "key")  # async: the mark is taken when it is called
    wrap(LocalBackend, "write", "w0", "w1")
    wrap(TerminalView, "on_terminal_view_output", "msg")
    wrap(Screen, "_on_timer_update", "tick")
    wrap(App, "_display", None, "disp")
    arrived = TerminalView.output_arrived

    def output_arrived(self: TerminalView, buffer: Any) -> None:
        if buffer is self._buffer:
            mark("arr")
        arrived(self, buffer)

    TerminalView.output_arrived = output_arrived  # type: ignore[method-assign]
    run = WriterThread.run

    def writer_run(self: WriterThread) -> None:
        file = self._file
        flush = file.flush

        def timed_flush() -> None:
            flush()
            mark("flush")

        file.flush = timed_flush  # type: ignore[method-assign]
        run(self)

    WriterThread.run = writer_run  # type: ignore[method-assign]
    sys.argv[1:] = []  # the app's own command line: no arguments
    sys.exit(main())


def hops(stamps: list[tuple[float, float]], events: list[tuple[float, str]], slow: float) -> None:
    """Print the percentiles of every hop over the keys typed between ``stamps``, and the
    events of every key slower than ``slow`` seconds."""
    found: dict[str, list[float]] = {}
    for sent, seen in stamps:
        first: dict[str, float] = {}
        window = [(at, name) for at, name in events if sent - 0.001 <= at <= seen + 0.001]
        for at, name in window:
            first.setdefault(name, at)
        if seen - sent > slow:
            marks = " ".join(f"{name}@{(at - sent) * 1000:.1f}" for at, name in window[:30])
            print(f"    slow key, seen after {(seen - sent) * 1000:.1f} ms: {marks}")
        previous, label = sent, "sent"
        for name in HOPS:
            if name in first and first[name] >= previous - 0.0005:
                found.setdefault(f"{label}->{name}", []).append(first[name] - previous)
                previous, label = first[name], name
        found.setdefault(f"{label}->seen", []).append(seen - previous)
    for hop, values in found.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(
            f"    {hop:12s} n={len(values):3d}  p50 {statistics.median(values) * 1000:6.2f}  "
            f"p95 {p95 * 1000:6.2f}  max {values[-1] * 1000:6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keys", type=int, default=60)
    parser.add_argument("--slow", type=float, default=100, help="show keys slower (ms)")
    parser.add_argument("--app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app:
        traced_app()
        return
    sys.path.insert(0, str(Path(__file__).parent))
    import key_latency as bench

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        log = tmp / "hops.log"
        stamps: list[tuple[float, float]] = []
        type_and_time: Callable[..., float] = bench.OuterTerminal.type_and_time

        def timed(self: bench.OuterTerminal, key: str, needle: str, timeout: float = 5) -> float:
            sent = time.perf_counter()
            took = type_and_time(self, key, needle, timeout)
            stamps.append((sent, sent + took))
            return took

        def start_app(env: dict[str, str]) -> bench.OuterTerminal:
            env = {**env, "HERMES_HOPS": str(log)}
            term = bench.OuterTerminal([sys.executable, __file__, "--app"], env)
            term.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
            term.settle(0.3)
            return term

        bench.OuterTerminal.type_and_time = timed  # type: ignore[method-assign]
        bench.start_app = start_app
        flood_file = tmp / "flood.log"
        flood_file.write_bytes(bench.LINE * 300_000)
        quiet, flood = bench.app_echo(tmp / "echo", args.keys, flood_file)
        events = []
        for line in log.read_text().splitlines():
            at, hop = line.split(maxsplit=1)
            events.append((float(at), hop))
    print(f"  echo, quiet:          {bench.pct(quiet)}")
    hops(stamps[: len(quiet)], events, args.slow / 1000)
    print(f"  echo, sibling floods: {bench.pct(flood)}")
    hops(stamps[len(quiet) :], events, args.slow / 1000)


if __name__ == "__main__":
    main()
