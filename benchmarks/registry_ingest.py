"""Ingest: a process floods output through a PTY; how fast does the registry capture it?

Baseline, measured in the same run: reading the same bytes straight from a PTY master with
``os.read(fd, 65536)`` (the physical limit, about 100 MB/s on this machine). Then the same
program runs as a registry process: its supervisor reads the PTY into the spool and the
registry's follower thread reads the spool into the 200 KB buffer. Reported: MB/s of input
for both, and their ratio. Target: ratio >= 0.8 and never below 50 MB/s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bare_pty import time_bare_pty

from registry import ProcessRegistry

LINE = b"2026-11-24 12:00:00 INFO worker-3 processed item 123456 in 12 ms status=ok\n"
LINES = 500_000
SIZE = LINES * len(LINE)
RUNS = 3


def raw_pty(path: Path) -> float:
    """MB/s of input read straight from a PTY."""
    return SIZE / time_bare_pty(["cat", str(path)]) / 1e6


def through_registry(registry: ProcessRegistry, path: Path) -> float:
    """MB/s of input captured by the registry (until the last byte is in the buffer)."""
    expected = SIZE + LINES  # the PTY turns every LF into CRLF
    started = time.perf_counter()
    proc = registry.spawn(["cat", str(path)], pty=True)
    registry.wait(proc.id, 120)
    deadline = time.monotonic() + 60
    while proc.output.total < expected and time.monotonic() < deadline:
        time.sleep(0.001)
    if proc.output.total != expected:
        print(f"FAIL: captured {proc.output.total} bytes, expected {expected}")
    return SIZE / (time.perf_counter() - started) / 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flood.log"
        path.write_bytes(LINE * LINES)
        registry = ProcessRegistry(Path(tmp) / "state")
        raw, captured = [], []
        for _ in range(RUNS):
            raw.append(raw_pty(path))
            captured.append(through_registry(registry, path))
        raw_median, registry_median = statistics.median(raw), statistics.median(captured)
        print(f"raw PTY runs (MB/s):  {', '.join(f'{x:.1f}' for x in raw)}")
        print(f"registry runs (MB/s): {', '.join(f'{x:.1f}' for x in captured)}")
        print(
            f"ingest: raw PTY {raw_median:.1f} MB/s, registry {registry_median:.1f} MB/s, "
            f"ratio {registry_median / raw_median:.2f} (target >= 0.8, >= 50 MB/s)"
        )
        registry.close()


if __name__ == "__main__":
    main()
