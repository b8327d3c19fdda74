"""Recovery: time for a fresh registry to re-adopt 100 running processes on start.

100 processes are started (half of them print 1,000 lines first), the registry stops
following them (as if the app had died), and a new registry on the same state dir recovers:
reads the checkpoint and run directories, checks each pid's identity, refills each 200 KB
buffer from the spool and resumes following. Median of 3 runs. Target: under 1 s.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from registry import ProcessRegistry

COUNT = 100
RUNS = 3


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        owner = ProcessRegistry(state)
        for n in range(COUNT):
            owner.spawn("seq 1 1000; sleep 3600" if n % 2 else "sleep 3600")
        time.sleep(1)
        owner.close()
        timings = []
        adopted = 0
        try:
            for _ in range(RUNS):
                fresh = ProcessRegistry(state)
                started = time.perf_counter()
                report = fresh.recover()
                timings.append(time.perf_counter() - started)
                adopted = len(report.adopted)
                if adopted != COUNT:
                    print(f"FAIL: adopted {adopted} of {COUNT}")
                fresh.close()
        finally:
            survivor = ProcessRegistry(state)
            survivor.recover()
            survivor.cleanup("default")
        median = statistics.median(timings)
        print(f"runs (s): {', '.join(f'{t:.3f}' for t in timings)}")
        print(
            f"recovery: re-adopted {adopted} processes in {median:.3f} s "
            "(median of 3; target under 1 s)"
        )


if __name__ == "__main__":
    main()
