"""The app under load: key latency, flood throughput, frame rate, attach time, cold start.

Everything runs for real: the app headless (``App.run_test``) with a real registry and real
PTY processes, keys posted from a thread the way Textual's input driver posts them, and the
time measured until the terminal pane's key handler hands the bytes on. Figures:

- key -> handler latency p50/p99/max with no flood, while a hidden process floods, and while
  the visible (attached) process floods (targets: p99 <= 10 ms hidden, <= 30 ms visible,
  max <= 60 ms);
- bytes read per second from the visible flooding process (target >= 50 MB/s) and the
  pane's frames per second (target >= 25);
- ``seq 1 3000000`` finished inside the app vs inside tmux, same run (target >= 3x faster);
- time until the last output is on screen after a flood stops (target <= 100 ms);
- a full-screen program repainting as fast as it can: pane frames per second (>= 20);
- attaching to a process with a full 200 KB buffer (target <= 100 ms);
- cold start of ``hermes-tui`` to its first frame under a PTY (target <= 500 ms).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from bare_pty import time_bare_pty
from textual import events

from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app
from registry import OutputBuffer, ProcessRegistry

SIZE = (160, 48)
LINE = b"2026-11-24 12:00:00 INFO worker-3 processed item 123456 in 12 ms status=ok\n"
FIXTURES = Path(__file__).parents[1] / "tests" / "app" / "data"


def percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms ({len(ordered)} keys)"
    )


async def key_latency(app: HermesApp, seconds: float) -> list[float]:
    """Post keys from a thread; measure until the terminal pane sends their bytes on."""
    latencies: list[float] = []
    pending: list[float] = []
    original = app.main.terminal.send

    def record(data: bytes) -> None:
        if pending:
            latencies.append(time.perf_counter() - pending.pop(0))
        original(data)

    app.main.terminal.send = record
    stop = threading.Event()
    loop = asyncio.get_running_loop()

    def typist() -> None:
        while not stop.is_set():
            pending.append(time.perf_counter())
            asyncio.run_coroutine_threadsafe(
                app.main.terminal._post_message(events.Key("x", "x")), loop
            )
            stop.wait(0.03 + (len(pending) % 5) * 0.01)

    thread = threading.Thread(target=typist, daemon=True)
    thread.start()
    await asyncio.sleep(seconds)
    stop.set()
    thread.join()
    await asyncio.sleep(0.1)
    app.main.terminal.send = original
    return latencies


def attach_to(app: HermesApp, proc_id: str) -> None:
    table = app.main.process_list
    table.move_cursor(row=table.get_row_index(proc_id))
    app.main.action_attach()


async def scenario_latency(tmp: Path) -> None:
    flood_file = tmp / "flood.log"
    flood_file.write_bytes(LINE * 300_000)
    registry = ProcessRegistry(tmp / "latency-state")
    app = make_app(registry=registry)
    async with app.run_test(size=SIZE) as pilot:
        quiet = registry.spawn(["cat"], pty=True)
        await pilot.pause(0.3)
        attach_to(app, quiet.id)
        await pilot.pause(0.3)
        print(f"key latency, no flood:          {percentiles(await key_latency(app, 4))}")

        hidden = registry.spawn(["sh", "-c", f"while :; do cat {flood_file}; done"], pty=True)
        await pilot.pause(0.5)
        before = hidden.output.total
        started = time.perf_counter()
        print(f"key latency, hidden flood:      {percentiles(await key_latency(app, 6))}")
        rate = (hidden.output.total - before) / (time.perf_counter() - started) / 1e6
        print(f"  hidden flood read at {rate:.1f} MB/s")
        registry.kill(hidden.id)

        app.main.action_detach()
        visible = registry.spawn(["sh", "-c", f"while :; do cat {flood_file}; done"], pty=True)
        await pilot.pause(0.3)
        attach_to(app, visible.id)
        await pilot.pause(0.5)
        frames, before = app.main.terminal.frames, visible.output.total
        started = time.perf_counter()
        print(f"key latency, visible flood:     {percentiles(await key_latency(app, 6))}")
        elapsed = time.perf_counter() - started
        rate = (visible.output.total - before) / elapsed / 1e6
        print(
            f"  visible flood read at {rate:.1f} MB/s (target >= 50); pane "
            f"{(app.main.terminal.frames - frames) / elapsed:.0f} fps (target >= 25)"
        )
        registry.kill(visible.id)
        app.main.action_detach()

        # The last output appears promptly once a flood stops.
        marker = "END-OF-FLOOD-MARKER"
        burst = registry.spawn(
            [
                "sh",
                "-c",
                f"for i in 1 2 3 4 5 6 7 8; do cat {flood_file}; done; echo {marker}; sleep 30",
            ],
            pty=True,
        )
        await pilot.pause(0.2)
        attach_to(app, burst.id)
        while marker.encode() not in burst.output.tail(200):
            await asyncio.sleep(0.005)
        arrived = time.perf_counter()
        while not any(marker in line for line in app.main.terminal.screen_text()):
            await asyncio.sleep(0.002)
        print(
            f"last output on screen {1000 * (time.perf_counter() - arrived):.0f} ms after "
            "it was read (target <= 100 ms)"
        )
        registry.kill(burst.id)
        app.main.action_detach()

        # A full-screen program repainting as fast as it can.
        frame_file = tmp / "frames.bin"
        frame_file.write_bytes((FIXTURES / "fullscreen.bin").read_bytes() * 200)
        painter = registry.spawn(["sh", "-c", f"while :; do cat {frame_file}; done"], pty=True)
        await pilot.pause(0.3)
        attach_to(app, painter.id)
        await pilot.pause(0.5)
        frames = app.main.terminal.frames
        await asyncio.sleep(4)
        print(
            f"full-screen repaint: pane {(app.main.terminal.frames - frames) / 4:.0f} fps "
            "(target >= 20)"
        )
        registry.kill(painter.id)
        registry.cleanup("default")


async def seq_in_app(tmp: Path) -> float:
    registry = ProcessRegistry(tmp / "seq-state")
    app = make_app(registry=registry)
    async with app.run_test(size=SIZE) as pilot:
        started = time.perf_counter()
        proc = registry.spawn(["seq", "1", "3000000"], pty=True, rows=46, cols=118)
        await pilot.pause(0.05)
        attach_to(app, proc.id)
        while proc.is_running:
            await asyncio.sleep(0.01)
        return time.perf_counter() - started


def seq_in_tmux(tmp: Path) -> float | None:
    """``seq`` in a tmux window with a client attached (as a person would watch it)."""
    tmux = shutil.which("tmux")
    if tmux is None:
        return None
    sock = str(tmp / "bench-tmux.sock")
    script = f"{tmux} -S {sock} wait-for go; seq 1 3000000; {tmux} -S {sock} wait-for -S done"
    subprocess.run(
        [tmux, "-S", sock, "new-session", "-d", "-x", "120", "-y", "48", script + "; sleep 30"],
        check=True,
    )
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(tmux, [tmux, "-S", sock, "attach"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 120, 0, 0))
    stop = threading.Event()

    def drain() -> None:  # the client's terminal: read everything it draws
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    os.read(fd, 65536)
                except OSError:
                    return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    time.sleep(0.5)
    started = time.perf_counter()
    subprocess.run([tmux, "-S", sock, "wait-for", "-S", "go"], check=True)
    subprocess.run([tmux, "-S", sock, "wait-for", "done"], check=True, timeout=300)
    elapsed = time.perf_counter() - started
    subprocess.run([tmux, "-S", sock, "kill-server"], check=False)
    stop.set()
    reader.join()
    os.waitpid(pid, 0)
    os.close(fd)
    return elapsed


def seq_raw_pty() -> float:
    """The physical limit: ``seq`` into a bare PTY read as fast as possible."""
    return time_bare_pty(["seq", "1", "3000000"], rows=46, cols=118)


def attach_time() -> float:
    buffer = OutputBuffer()
    data = b"".join(
        b"\x1b[3%dm%06d\x1b[0m log line with some words in it\r\n" % (n % 8, n) for n in range(5000)
    )
    buffer.append(data)
    from hermes_tui.term.emulator import Emulator, FeedScheduler

    started = time.perf_counter()
    scheduler = FeedScheduler(Emulator(46, 158), buffer)
    scheduler.replay()
    return time.perf_counter() - started


def cold_start(tmp: Path) -> float:
    env = {
        **os.environ,
        "HERMES_HOME": str(tmp / "cold-state"),
        "HERMES_CONFIG": str(tmp / "cold-config.toml"),
        "TERM": "xterm-256color",
    }
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(sys.executable, [sys.executable, "-m", "hermes_tui"], env)
    seen = b""
    try:
        while b"Processes" not in seen and time.perf_counter() - started < 20:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        return time.perf_counter() - started
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        asyncio.run(scenario_latency(tmp))
        in_app = asyncio.run(seq_in_app(tmp))
        in_tmux = seq_in_tmux(tmp)
        print(f"seq 1 3000000 into a bare PTY (the kernel's limit): {seq_raw_pty():.2f} s")
        if in_tmux is None:
            print(f"seq 1 3000000: app {in_app:.2f} s (tmux not installed)")
        else:
            print(
                f"seq 1 3000000: app {in_app:.2f} s, tmux {in_tmux:.2f} s, app is "
                f"{in_tmux / in_app:.1f}x faster (target >= 3x)"
            )
        print(f"attach to a full 200 KB buffer: {attach_time() * 1000:.0f} ms (target <= 100 ms)")
        starts = [cold_start(tmp) for _ in range(3)]
        print(
            f"cold start to first frame: {statistics.median(starts) * 1000:.0f} ms "
            "(median of 3; target <= 500 ms)"
        )


if __name__ == "__main__":
    main()
