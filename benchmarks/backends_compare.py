"""Spawn latency and output throughput of each backend, as ratios of the local backend.

Each backend runs for real on this machine: local; ssh against an sshd on 127.0.0.1 (the
tests' fixture); docker against the local engine with the tests' busybox image; singularity
through the tests' stand-in apptainer CLI. Spawn latency is the median time for
``registry.spawn`` to return a handle (5 spawns); throughput is 20 MB printed by
``head -c | tr`` until the registry's buffer has all of it. Run from the repository root:
``python benchmarks/backends_compare.py`` (needs sshd and dockerd as for the tests).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the tests' fixtures

from registry import ProcessRegistry
from tests.docker_image import ensure_image
from tests.sshd import start_sshd

FLOOD = 20_000_000


def measure(registry: ProcessRegistry, kind: str) -> tuple[float, float]:
    """Median spawn latency (s) and throughput (MB/s) of one backend."""
    registry.backend(kind)  # connect / create the sandbox outside the timings
    latencies = []
    for _ in range(5):
        started = time.perf_counter()
        session = registry.spawn("true", backend=kind)
        latencies.append(time.perf_counter() - started)
        registry.wait(session.id, 30)
    started = time.perf_counter()
    flood = registry.spawn(f"head -c {FLOOD} /dev/zero | tr '\\0' x", backend=kind)
    deadline = time.monotonic() + 120
    while flood.output.total < FLOOD and time.monotonic() < deadline:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    if flood.output.total != FLOOD:
        print(f"FAIL: {kind} delivered {flood.output.total} of {FLOOD} bytes")
    return statistics.median(latencies), FLOOD / elapsed / 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sshd: Generator[Any, None, None] = start_sshd(tmp / "sshd")
        server = next(sshd)
        os.environ["PATH"] = f"{Path(__file__).parents[1] / 'tests/fakes/bin'}:{os.environ['PATH']}"
        os.environ["FAKE_APPTAINER_STATE"] = str(tmp / "apptainer")
        options: dict[str, dict[str, Any]] = {
            "ssh": {**server.options(), "remote_root": str(tmp / "ssh-runs")},
            "docker": {"image": ensure_image(), "session": "bench"},
            "singularity": {"instance": "hermes-bench", "remote_root": str(tmp / "sif-runs")},
        }
        registry = ProcessRegistry(tmp / "state", backend_options=options)
        results: dict[str, tuple[float, float]] = {}
        try:
            for kind in ("local", "ssh", "docker", "singularity"):
                results[kind] = measure(registry, kind)
        finally:
            for kind in ("docker", "singularity"):
                try:
                    registry.cleanup("default")
                    registry.backend(kind).cleanup()
                except Exception as exc:
                    print(f"cleanup of {kind}: {exc}")
            sshd.close()
        base_latency, base_rate = results["local"]
        for kind, (latency, rate) in results.items():
            note = " (stand-in apptainer CLI)" if kind == "singularity" else ""
            print(
                f"{kind:12s} spawn {latency * 1000:6.1f} ms ({latency / base_latency:4.1f}x "
                f"local)  throughput {rate:7.1f} MB/s ({rate / base_rate:4.2f}x local){note}"
            )


if __name__ == "__main__":
    main()
