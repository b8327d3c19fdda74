"""Idle cost: the registry with 200 idle background processes (100 plain, 100 under a PTY).

Measured for this process only (the registry and its follower thread): CPU over a 10 s window
after 2 s of settling, threads, and resident memory added by the 200 processes (readers and
buffers). The supervisors are separate processes; their total RSS is printed for the record.
Then every process prints one line a second, and the CPU is measured again.
Target: < 1% of a core idle, no polling timers, <= 50 MB for readers and buffers.
"""

from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from registry import ProcessRegistry

COUNT = 200
WINDOW = 10.0


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional memory of a process in MB (shared pages split between their users)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_percent(window: float) -> float:
    before, started = cpu_seconds(), time.perf_counter()
    time.sleep(window)
    return (cpu_seconds() - before) / (time.perf_counter() - started) * 100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = ProcessRegistry(Path(tmp) / "state")
        rss_before = rss_mb()
        threads_before = threading.active_count()
        started = time.perf_counter()
        procs = [registry.spawn("sleep 3600") for _ in range(COUNT // 2)]
        procs += [registry.spawn(["cat"], pty=True) for _ in range(COUNT // 2)]
        spawn_rate = COUNT / (time.perf_counter() - started)
        try:
            time.sleep(2)
            idle = cpu_percent(WINDOW)
            threads = threading.active_count() - threads_before
            added = rss_mb() - rss_before
            supervisors = sum(
                pss_mb(s.handle.supervisor_pid)
                for s in procs
                if s.handle and os.path.exists(f"/proc/{s.handle.supervisor_pid}")
            )
            for proc in procs[COUNT // 2 :]:
                registry.write(proc.id, b"")  # make sure each PTY is writable
            stop = threading.Event()

            def chatter() -> None:
                while not stop.is_set():
                    for proc in procs[COUNT // 2 :]:
                        registry.submit(proc.id, "one line of output, once a second")
                    stop.wait(1.0)

            writer = threading.Thread(target=chatter, daemon=True)
            writer.start()
            time.sleep(1)
            active = cpu_percent(WINDOW)
            stop.set()
            writer.join()
        finally:
            registry.cleanup("default")
            registry.close()
        print(f"spawn rate: {spawn_rate:.0f} processes/s ({COUNT} processes)")
        print(f"idle CPU of the registry: {idle:.2f}% of a core over {WINDOW:.0f} s")
        print(f"CPU with 100 PTY processes echoing one line/s (incl. the writer): {active:.2f}%")
        print(f"threads added: {threads}; memory added (RSS): {added:.1f} MB")
        print(
            f"supervisors (separate processes): {supervisors:.0f} MB PSS in total, "
            f"{supervisors / COUNT:.1f} MB each"
        )
        print(
            f"idle: {idle:.2f}% CPU, {added:.1f} MB, {threads} thread(s) "
            "(target < 1% of a core, <= 50 MB, no polling timers)"
        )


if __name__ == "__main__":
    main()
