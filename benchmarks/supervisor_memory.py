"""Memory of supervision: 200 idle background processes, beside tmux holding 200 panes.

Both run the same idle command (``sleep 3600``) under a PTY, at the same time, so the
proportional set size (PSS: shared pages split between their users) is comparable. For
hermes-tui everything it adds per process is counted: the supervisor (``sh``) and, under a
PTY, util-linux ``script``; the commands themselves are not. The registry's own growth (its
buffers and the follower) is printed too. Then the same for 200 plain (no PTY) processes.
Target: <= 1 MB PSS of supervision per background process.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from registry import Process, ProcessRegistry

COUNT = 200


def pss_kb(pid: int) -> int:
    """Proportional memory of a process in KB; 0 when it has gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def rss_kb(pid: int | str = "self") -> int:
    """Resident memory of a process in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def parent(pid: int) -> int:
    """The parent pid of ``pid`` (0 when it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def supervision(procs: list[Process]) -> list[int]:
    """The pids hermes-tui added for ``sessions``: supervisors and the PTY's ``script``."""
    pids = []
    for proc in procs:
        handle = proc.handle
        assert handle is not None
        pids.append(handle.supervisor_pid)
        between = parent(handle.pid)
        if between and between != handle.supervisor_pid:
            pids.append(between)
    return pids


def tmux_server(socket: str) -> int:
    """Start a tmux server with ``COUNT`` panes running the idle command; return its pid."""
    base = ["tmux", "-L", socket, "-f", "/dev/null"]
    subprocess.run([*base, "new-session", "-d", "-x", "80", "-y", "24", "sleep 3600"], check=True)
    for _ in range(COUNT - 1):
        subprocess.run([*base, "new-window", "-d", "sleep 3600"], check=True)
    out = subprocess.run(
        [*base, "display-message", "-p", "#{pid}"], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def measure(registry: ProcessRegistry, pty: bool) -> tuple[float, float, float]:
    """Spawn ``COUNT`` idle processes; return (supervision MB, per process MB, app MB)."""
    rss_before = rss_kb()
    started = time.perf_counter()
    procs = [registry.spawn("sleep 3600", pty=pty) for _ in range(COUNT)]
    spawn_seconds = time.perf_counter() - started
    time.sleep(1.0)  # let every supervisor settle into its wait
    total = sum(pss_kb(pid) for pid in supervision(procs)) / 1024
    app = (rss_kb() - rss_before) / 1024
    print(f"  spawned {COUNT} in {spawn_seconds:.1f} s")
    for proc in procs:
        registry.kill(proc.id, grace=1.0)
    return total, total / COUNT, app


def main() -> None:
    socket = f"hermes-bench-{os.getpid()}"
    tmux_pid = tmux_server(socket)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            registry = ProcessRegistry(Path(tmp) / "state")
            for pty in (True, False):
                label = "PTY" if pty else "plain"
                total, each, app = measure(registry, pty)
                tmux = pss_kb(tmux_pid) / 1024
                print(
                    f"{COUNT} idle {label} processes: hermes-tui supervision {total:.1f} MB "
                    f"PSS ({each:.2f} MB each; target <= 1 MB), registry +{app:.1f} MB RSS; "
                    f"tmux with {COUNT} panes in the same run: {tmux:.1f} MB PSS "
                    f"({tmux / COUNT:.2f} MB each)"
                )
            registry.close()
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], check=False)


if __name__ == "__main__":
    main()
