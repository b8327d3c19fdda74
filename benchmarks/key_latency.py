"""Keys at terminal speed, no CPU at rest: the real ``hermes-tui`` beside tmux, same run.

Both programs run in a real 160x48 PTY that this script reads as a person's terminal would
(its output is fed to a pyte screen, so "drawn" means "visible on the outer screen"):

- **echo latency**: a ``cat`` is attached (``!cat`` in the app; the only window in tmux);
  keys are written to the outer terminal one at a time, 20-60 ms apart like typing, and
  the time until the character is drawn is recorded. Then again while a sibling process
  floods (the app: a detached ``!sh -c 'while :; do cat FILE; done'``; tmux: the same in a
  hidden window). Targets: p50 <= 5 ms and p95 <= 10 ms quiet, p95 <= 20 ms with the flood.
- **idle CPU** of the app process (utime + stime from ``/proc``), and the part on its UI
  thread: nothing running, then 20 processes printing a line a second (started with
  ``hermes-tui run`` before the app, so it adopts them). Targets: <= 0.2% and <= 2% of a
  core. tmux's server and client are measured beside it the same way. ``--skip-echo``
  measures only this.

Run: ``python benchmarks/key_latency.py [--runs N] [--keys N] [--idle SECONDS]``. The
machine is shared, so run it a few times and read the spread, not one figure.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pyte

COLS, ROWS = 160, 48
LINE = b"2026-11-24 12:00:00 INFO worker-3 processed item 123456 in 12 ms status=ok\n"
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PREFIX = "Q>"
PRINTER = "while :; do echo tick; sleep 1; done"
TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


class OuterTerminal:
    """A program in a PTY of its own, its output drawn on a pyte screen by a reader thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Condition()
        self._watch: tuple[str, float] | None = None
        self._seen_at: float | None = None
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                data = b""
            arrived = time.perf_counter()
            with self.lock:
                if not data:
                    self._watch = None
                    self.lock.notify_all()
                    return
                try:
                    self.stream.feed(data)
                except Exception:
                    self.stream = pyte.ByteStream(self.screen)
                if self._watch is not None and self._seen_at is None:
                    needle = self._watch[0]
                    rows = self.screen.dirty or range(ROWS)
                    if any(needle in self._row(y) for y in rows if 0 <= y < ROWS):
                        self._seen_at = arrived
                self.screen.dirty.clear()
                self.lock.notify_all()

    def _row(self, y: int) -> str:
        line = self.screen.buffer[y]
        return "".join(line[x].data for x in range(COLS))

    def text(self) -> str:
        """The whole outer screen as text."""
        with self.lock:
            return "\n".join(self._row(y) for y in range(ROWS))

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.text()):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}:\n{self.text()}")
            time.sleep(0.05)

    def type_and_time(self, key: str, needle: str, timeout: float = 5) -> float:
        """Write ``key``; seconds until ``needle`` is on one of the screen's rows."""
        with self.lock:
            self._watch, self._seen_at = (needle, 0.0), None
            started = time.perf_counter()
            self.write(key.encode())
            deadline = started + timeout
            while self._seen_at is None:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"{needle!r} was never drawn:\n{self.text()}")
                self.lock.wait(left)
            self._watch = None
            return self._seen_at - started

    def settle(self, quiet: float = 0.15, timeout: float = 10) -> None:
        """Wait until nothing has been drawn for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while time.monotonic() < deadline:
                if not self.lock.wait(quiet):
                    return

    def cpu_seconds(self, pid: int | None = None) -> float:
        fields = Path(f"/proc/{pid or self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def measure_echo(term: OuterTerminal, keys: int) -> list[float]:
    """Type ``keys`` characters into the attached ``cat``; the latency of each."""
    import random

    rng = random.Random(13)
    samples: list[float] = []
    typed = PREFIX
    term.write(PREFIX.encode())
    term.wait_for(lambda s: PREFIX in s, "the prefix")
    for n in range(keys):
        char = ALPHABET[len(typed) - len(PREFIX)]
        typed += char
        samples.append(term.type_and_time(char, typed))
        time.sleep(rng.uniform(0.02, 0.06))
        if len(typed) - len(PREFIX) == len(ALPHABET) and n < keys - 1:
            term.write(b"\x15")  # ctrl+u: the line discipline erases the line
            term.settle(0.1)
            typed = PREFIX
            term.write(PREFIX.encode())
            term.wait_for(
                lambda s: PREFIX + " " in s or s.rstrip().endswith(PREFIX) or PREFIX in s,
                "the prefix",
            )
            term.settle(0.05)
    term.write(b"\x15")
    return samples


def stat(pid: int, thread: int | None = None) -> Path:
    """The ``/proc`` stat file of a process (all its threads) or of one of its threads."""
    return Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")


def idle_cpu(stats: list[Path], seconds: float) -> list[float]:
    """Percent of one core used by each of ``stats`` (see :func:`stat`) over ``seconds``."""

    def used() -> list[float]:
        fields = [path.read_text().rsplit(")", 1)[1].split() for path in stats]
        return [(int(f[11]) + int(f[12])) / TICK for f in fields]

    before, started = used(), time.perf_counter()
    time.sleep(seconds)
    elapsed = time.perf_counter() - started
    return [(after - b) / elapsed * 100 for after, b in zip(used(), before, strict=True)]


def app_cpu(pid: int, seconds: float) -> tuple[float, float]:
    """The app's CPU and the part of it on the UI (main) thread; the rest is the output
    reader, Textual's input and output threads and the like."""
    total, ui = idle_cpu([stat(pid), stat(pid, pid)], seconds)
    return total, ui


def pct(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {statistics.median(ordered) * 1000:5.1f} ms, p95 {p95 * 1000:5.1f} ms, "
        f"max {ordered[-1] * 1000:5.1f} ms"
    )


# -- the app ------------------------------------------------------------------------------
def app_env(tmp: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "HERMES_HOME": str(tmp / "state"),
        "HERMES_CONFIG": str(tmp / "config.toml"),
        "TERM": "xterm-256color",
        "PYTHONPATH": str(ROOT),
    }
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENROUTER_API_KEY"):
        env.pop(name, None)
    return env


def start_app(env: dict[str, str]) -> OuterTerminal:
    term = OuterTerminal([sys.executable, "-m", "hermes_tui"], env)
    term.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    term.settle(0.3)
    return term


def bang(term: OuterTerminal, command: str) -> None:
    """Type ``!command`` into the chat (it attaches) and wait until attached."""
    term.write(b"\x1bOQ")  # F2: the chat
    term.settle(0.1)
    term.write(f"!{command}\r".encode())
    term.wait_for(lambda s: "ATTACHED" in s, "attach")


def app_echo(tmp: Path, keys: int, flood_file: Path) -> tuple[list[float], list[float]]:
    env = app_env(tmp)
    term = start_app(env)
    try:
        bang(term, "cat")
        term.wait_for(lambda s: "Attached to" not in s, "the toast to go", timeout=10)
        term.settle(0.3)
        quiet = measure_echo(term, keys)
        # The sibling is started from another shell: the app adopts it on its own, and the
        # keyboard stays with cat.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hermes_tui",
                "run",
                "--pty",
                f"while :; do cat {flood_file}; done",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        term.wait_for(lambda s: "while :" in s, "the flood in the list")
        time.sleep(1)
        flood = measure_echo(term, keys)
        return quiet, flood
    finally:
        term.close()
        kill_all(env)


def kill_all(env: dict[str, str]) -> None:
    """Stop every process the app's state dir knows (nothing outlives the benchmark)."""
    import json

    out = subprocess.run(
        [sys.executable, "-m", "hermes_tui", "ps", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    for process in json.loads(out or "[]"):
        subprocess.run(
            [sys.executable, "-m", "hermes_tui", "kill", str(process["id"])],
            env=env,
            capture_output=True,
            check=False,
        )


def app_idle(tmp: Path, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(total, UI thread) percent of a core: nothing running, then 20 printing."""
    env = app_env(tmp)
    term = start_app(env)
    try:
        time.sleep(2)
        nothing = app_cpu(term.pid, seconds)
    finally:
        term.close()
    for n in range(20):
        subprocess.run(
            [sys.executable, "-m", "hermes_tui", "run", "--name", f"tick{n}", PRINTER],
            env=env,
            capture_output=True,
            check=True,
        )
    term = start_app(env)
    try:
        term.wait_for(lambda s: "tick" in s, "the printers in the list")
        time.sleep(2)
        printing = app_cpu(term.pid, seconds)
    finally:
        term.close()
        kill_all(env)
    return nothing, printing


# -- tmux -----------------------------------------------------------------------------------
class TmuxServer:
    def __init__(self, tmp: Path) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise SystemExit("tmux is required for the comparison")
        self.tmux = tmux
        self.socket = str(tmp / "bench.sock")
        self.env = {**os.environ, "TERM": "xterm-256color"}

    def run(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            check=True,
            env=self.env,
        ).stdout

    def attach(self) -> OuterTerminal:
        term = OuterTerminal([self.tmux, "-S", self.socket, "attach", "-t", "bench"], self.env)
        term.wait_for(lambda s: "bench" in s, "tmux to draw")
        term.settle(0.3)
        return term

    def server_pid(self) -> int:
        return int(self.run("display-message", "-p", "#{pid}").strip())

    def kill(self) -> None:
        subprocess.run(
            [self.tmux, "-S", self.socket, "kill-server"], capture_output=True, check=False
        )


def tmux_echo(tmp: Path, keys: int, flood_file: Path) -> tuple[list[float], list[float]]:
    server = TmuxServer(tmp)
    server.run("new-session", "-d", "-s", "bench", "-x", str(COLS), "-y", str(ROWS), "cat")
    term = server.attach()
    try:
        quiet = measure_echo(term, keys)
        server.run("new-window", "-d", "-t", "bench", f"sh -c 'while :; do cat {flood_file}; done'")
        time.sleep(0.5)
        flood = measure_echo(term, keys)
        return quiet, flood
    finally:
        term.close()
        server.kill()


def tmux_idle(tmp: Path, seconds: float) -> tuple[float, float]:
    server = TmuxServer(tmp)
    server.run("new-session", "-d", "-s", "bench", "-x", str(COLS), "-y", str(ROWS), "sh")
    term = server.attach()
    try:
        time.sleep(2)
        nothing = sum(idle_cpu([stat(term.pid), stat(server.server_pid())], seconds))
        for n in range(20):
            server.run("new-window", "-d", "-t", "bench", "-n", f"tick{n}", PRINTER)
        time.sleep(2)
        printing = sum(idle_cpu([stat(term.pid), stat(server.server_pid())], seconds))
        return nothing, printing
    finally:
        term.close()
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--keys", type=int, default=150)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds per CPU window")
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-echo", action="store_true")
    args = parser.parse_args()
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            flood_file = tmp / "flood.log"
            flood_file.write_bytes(LINE * 300_000)
            print(f"run {run}:")
            if not args.skip_echo:
                app_quiet, app_flood = app_echo(tmp / "echo", args.keys, flood_file)
                tmux_quiet, tmux_flood = tmux_echo(tmp, args.keys, flood_file)
                print(
                    f"  echo, quiet:          app  {pct(app_quiet)}   (target p50 <= 5, p95 <= 10)"
                )
                print(f"                        tmux {pct(tmux_quiet)}")
                print(f"  echo, sibling floods: app  {pct(app_flood)}   (target p95 <= 20)")
                print(f"                        tmux {pct(tmux_flood)}")
            if not args.skip_idle:
                nothing, printing = app_idle(tmp / "idle", args.idle)
                tmux_nothing, tmux_printing = tmux_idle(tmp, args.idle)
                print(
                    f"  idle CPU, nothing running: app {nothing[0]:.2f}% "
                    f"(UI thread {nothing[1]:.2f}%; target <= 0.2), tmux {tmux_nothing:.2f}%"
                )
                print(
                    f"  idle CPU, 20 printing 1 line/s: app {printing[0]:.2f}% "
                    f"(UI thread {printing[1]:.2f}%; target <= 2), tmux {tmux_printing:.2f}%"
                )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
