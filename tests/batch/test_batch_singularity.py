"""The batch runner on the singularity backend (through the stand-in apptainer CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hermes_tui.batch.runner import run_batch
from registry import ProcessRegistry
from tests.batch.scripted import prompt, scripted_server
from tests.batch.test_batch_local import options, results, write_prompts


def test_each_prompt_gets_an_instance_of_its_own_image_and_it_is_stopped(
    tmp_path: Path,
    fake_apptainer: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    registry = make_registry(backend_options={"singularity": {"image": "/images/default.sif"}})
    where = prompt(("terminal", {"command": "echo $HERMES_FAKE_INSTANCE"}))
    write_prompts(
        tmp_path / "prompts.jsonl",
        [
            {"id": "own", "prompt": where, "singularity_image": "/images/own.sif"},
            {"id": "docker", "prompt": where, "docker_image": "busybox:1"},
            {"id": "default", "prompt": where},
        ],
    )
    with scripted_server() as server:
        # One at a time: the stand-in CLI's instance list is not safe for concurrent starts.
        tally, _ = run_batch(
            options(tmp_path, server.url, backend="singularity", workers=1), registry=registry
        )
    assert tally.statuses == {"ok": 3}
    by_id = results(tmp_path / "results.jsonl")
    calls = [json.loads(line) for line in (fake_apptainer / "calls.log").read_text().splitlines()]
    started = {c[-1]: c[-2] for c in calls if c[:2] == ["instance", "start"]}
    stopped = [c[-1] for c in calls if c[:2] == ["instance", "stop"]]
    expected = {
        "own": "/images/own.sif",
        "docker": "docker://busybox:1",
        "default": "/images/default.sif",
    }
    for item_id, image in expected.items():
        record = by_id[item_id]
        instance = f"hermes-{record['task_key']}"
        assert record["final_answer"] == f"done: {instance}"
        assert started[instance] == image == record["image"]
        assert instance in stopped
    assert json.loads((fake_apptainer / "instances.json").read_text()) == {}
