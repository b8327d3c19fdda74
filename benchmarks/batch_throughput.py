"""``hermes-tui batch`` throughput: prompts per minute with N workers as a ratio of 1 worker,
on local and docker, and the orchestrator's own CPU and memory per running prompt.

The model is the tests' scripted OpenAI-compatible server (no sleeps: it answers at once),
run in a child process so its CPU is not counted as the orchestrator's. Every prompt makes
two model calls and one tool call (``echo``); on docker each prompt also creates and removes
its own container. A last phase keeps many prompts running at once (each waits 2 s in a
foreground command) to measure what one running prompt costs the orchestrator: CPU
(fraction of a core) and resident memory. Run from the repository root:
``python benchmarks/batch_throughput.py`` (needs dockerd, as the tests do); about 20 s.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for the tests' fixtures

from rich.console import Console

from hermes_tui.batch.runner import BatchOptions, run_batch
from registry import ProcessRegistry
from tests.batch.scripted import prompt
from tests.docker_image import ensure_image


def serve() -> None:
    """Child process: the scripted server; prints its URL, stops when stdin closes."""
    from tests.batch.scripted import scripted_server

    with scripted_server(1_000_000) as server:
        print(server.url, flush=True)
        sys.stdin.read()


def rss_mb() -> float:
    """This process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class Sampler:
    """Peak resident memory while a run goes on."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def run(
    tmp: Path,
    url: str,
    registry: ProcessRegistry,
    backend: str,
    workers: int,
    count: int,
    command: str,
    trace: bool = False,
) -> dict[str, Any]:
    """One batch; returns its rate, CPU and memory figures."""
    name = f"{backend}-{workers}-{time.monotonic_ns()}"
    prompts = tmp / f"{name}.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "prompt": prompt(("terminal", {"command": command}))}) + "\n"
            for i in range(count)
        )
    )
    out = tmp / f"{name}.out.jsonl"
    options = BatchOptions(
        prompts=prompts,
        out=out,
        backend=backend,
        workers=workers,
        model="scripted",
        base_url=url,
        config=tmp / "none.toml",
        progress=False,
    )
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed below
    if trace:
        tracemalloc.start()
    baseline = rss_mb()
    sampler = Sampler()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    tally, _ = run_batch(options, registry=registry, console=console)
    wall = time.perf_counter() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    peak = sampler.stop()
    heap = 0.0
    if trace:
        heap = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    console.file.close()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    if tally.statuses.get("ok") != count:
        print(f"FAIL: {backend} x{workers}: {dict(tally.statuses)}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    busy = sum(r["timings"]["wall_s"] for r in records)  # prompt-seconds of running prompts
    return {
        "rate": count / wall * 60,
        "cpu_per_prompt": cpu / count,
        "cores_per_running": cpu / busy if busy else 0.0,
        "mb_per_running": max(0.0, peak - baseline) / workers,
        "heap_per_running": heap / workers,
    }


def main() -> None:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            registry = ProcessRegistry(
                tmp / "state", backend_options={"docker": {"image": ensure_image()}}
            )
            run(tmp, url, registry, "local", 2, 4, "true")  # warm up imports and the client
            for backend, workers, count in (("local", 8, 40), ("docker", 4, 12)):
                one = run(tmp, url, registry, backend, 1, count // 2, "echo hi")
                many = run(tmp, url, registry, backend, workers, count, "echo hi")
                print(
                    f"{backend:7s} 1 worker {one['rate']:7.1f} prompts/min; {workers} workers "
                    f"{many['rate']:7.1f} prompts/min ({many['rate'] / one['rate']:4.2f}x); "
                    f"orchestrator CPU {many['cpu_per_prompt'] * 1000:5.1f} ms per prompt"
                )
            idle = run(tmp, url, registry, "local", 64, 64, "sleep 2")
            print(
                f"64 prompts running at once (each in a 2 s command): orchestrator "
                f"{idle['cores_per_running'] * 100:4.2f}% of a core and "
                f"{idle['mb_per_running']:4.2f} MB resident per running prompt"
            )
            traced = run(tmp, url, registry, "local", 64, 64, "sleep 2", trace=True)
            print(
                f"  Python heap at the peak (tracemalloc): "
                f"{traced['heap_per_running'] * 1000:5.0f} KB per running prompt"
            )
            registry.close()
    finally:
        server.stdin.close()
        server.wait(10)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        main()
