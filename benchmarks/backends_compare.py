"""Spawn latency and output throughput of each backend, as ratios of the local backend.

Each backend runs for real on this machine: local; ssh against an sshd on 127.0.0.1 (the
tests' fixture); docker against the local engine with the tests' busybox image; singularity
through the tests' stand-in apptainer CLI; daytona through the unmodified SDK against the
tests' fake Daytona API on 127.0.0.1 in its own process (a container per sandbox: it
measures the SDK's HTTP and websocket path and the base64 transport, not Daytona's network);
modal with the real SDK
against the tests' fake Modal API on 127.0.0.1 (sandboxes are containers of the busybox
image, so it measures the SDK, the gRPC hops and ``docker exec``, not Modal's service). Spawn
latency is the median time for ``registry.spawn`` to return a handle (5 spawns); throughput
is 20 MB printed by
``head -c | tr`` until the registry's buffer has all of it. Run from the repository root:
``python benchmarks/backends_compare.py`` (needs sshd and dockerd as for the tests).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the tests' fixtures

from registry import ProcessRegistry
from tests.docker_image import ensure_image
from tests.fakes.modal_api import FakeModal
from tests.sshd import start_sshd

FLOOD = 20_000_000


def measure(registry: ProcessRegistry, kind: str) -> tuple[float, float]:
    """Median spawn latency (s) and throughput (MB/s) of one backend."""
    registry.backend(kind)  # connect / create the sandbox outside the timings
    latencies = []
    for _ in range(5):
        started = time.perf_counter()
        proc = registry.spawn("true", backend=kind)
        latencies.append(time.perf_counter() - started)
        registry.wait(proc.id, 30)
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
        fake_modal = FakeModal().start()
        os.environ.update(
            MODAL_SERVER_URL=fake_modal.url,
            MODAL_TOKEN_ID=fake_modal.token_id,
            MODAL_TOKEN_SECRET=fake_modal.token_secret,
        )
        options: dict[str, dict[str, Any]] = {
            "ssh": {**server.options(), "remote_root": str(tmp / "ssh-runs")},
            "docker": {"image": ensure_image(), "key": "bench"},
            "singularity": {"instance": "hermes-bench", "remote_root": str(tmp / "sif-runs")},
            "modal": {"image": ensure_image(), "app_name": "hermes-bench"},
        }
        daytona = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.daytona_serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert daytona.stdout is not None and daytona.stdin is not None
        options["daytona"] = {**json.loads(daytona.stdout.readline()), "key": "bench"}
        registry = ProcessRegistry(tmp / "state", backend_options=options)
        results: dict[str, tuple[float, float]] = {}
        try:
            for kind in ("local", "ssh", "docker", "singularity", "daytona", "modal"):
                results[kind] = measure(registry, kind)
        finally:
            for kind in ("docker", "singularity", "daytona", "modal"):
                try:
                    registry.cleanup("default")
                    registry.backend(kind).cleanup()
                except Exception as exc:
                    print(f"cleanup of {kind}: {exc}")
            sshd.close()
            daytona.stdin.close()  # the fake removes its containers and exits
            daytona.wait(60)
            fake_modal.stop()
        base_latency, base_rate = results["local"]
        for kind, (latency, rate) in results.items():
            note = {
                "singularity": " (stand-in apptainer CLI)",
                "daytona": " (fake API on loopback)",
                "modal": " (fake Modal API)",
            }.get(kind, "")
            print(
                f"{kind:12s} spawn {latency * 1000:6.1f} ms ({latency / base_latency:4.1f}x "
                f"local)  throughput {rate:7.1f} MB/s ({rate / base_rate:4.2f}x local){note}"
            )


if __name__ == "__main__":
    main()
