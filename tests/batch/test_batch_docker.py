"""The batch runner on a real dockerd: a container per prompt, from the prompt's own image."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from registry import ProcessRegistry
from tests.batch.scripted import prompt, scripted_server, user_prompts
from tests.batch.test_batch_local import max_overlap, options, results, write_prompts
from tests.waiting import wait_for

ALT_IMAGE = "hermes-tui-test:batch-alt"
MISSING_IMAGE = "127.0.0.1:9/hermes-tui-missing:1"
"""A registry on a closed local port: pulling fails at once, without leaving the machine."""


@pytest.fixture(scope="module")
def alt_image(docker_image: str) -> Iterator[str]:
    """A second tag of the test image (``docker tag``), removed afterwards."""
    client = docker.from_env()
    repository, tag = ALT_IMAGE.split(":")
    client.images.get(docker_image).tag(repository, tag)
    yield ALT_IMAGE
    client.images.remove(ALT_IMAGE)  # only the tag: the image stays for the other tests
    client.close()


class CreatedContainers:
    """Watches dockerd's event stream (live: its history keeps only the last 256 events)
    and records, for every container created meanwhile, its name and image."""

    def __init__(self, client: Any) -> None:
        self.seen: dict[str, dict[str, str]] = {}
        self._stream = client.events(decode=True, filters={"type": "container", "event": "create"})
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                self.seen[event["id"]] = event["Actor"]["Attributes"]
        except Exception:
            pass  # closed

    def close(self) -> None:
        self._stream.close()


def test_twenty_prompts_each_in_a_container_of_its_own_image(
    tmp_path: Path,
    docker_image: str,
    alt_image: str,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    registry = make_registry(backend_options={"docker": {"image": docker_image}})
    hostname = ("terminal", {"command": "hostname"})
    rows: list[dict[str, Any]] = []
    for i in range(18):
        field = "image" if i % 6 == 5 else "docker_image"
        rows.append(
            {"id": f"p{i}", "prompt": prompt(hostname), field: docker_image if i % 2 else alt_image}
        )
    rows[3]["prompt"] = prompt(("terminal", {"command": "sleep 300", "background": True}), hostname)
    rows.append({"id": "default-image", "prompt": prompt(hostname), "cwd": "/srv/work"})
    rows.append(
        {
            "id": "missing-image",
            "prompt": prompt(("terminal", {"command": "echo no"})),
            "docker_image": MISSING_IMAGE,
        }
    )
    write_prompts(tmp_path / "prompts.jsonl", rows)
    client = docker.from_env()
    watcher = CreatedContainers(client)
    try:
        with scripted_server() as server:
            tally, _ = run_batch_docker(tmp_path, server.url, registry)
            asked = user_prompts(server)
        by_id = results(tmp_path / "results.jsonl")
        containers = [by_id[row["id"]]["sandbox"]["container"] for row in rows[:19]]
        wait_for(lambda: all(c in watcher.seen for c in containers), what="docker events")
        created = watcher.seen
        assert tally.statuses == {"ok": 19, "failed": 1}
        for row in rows[:19]:
            record = by_id[row["id"]]
            expected = row.get("docker_image") or row.get("image") or docker_image
            container = record["sandbox"]["container"]
            # The command ran in this container (its hostname is the container id)...
            assert container.startswith(record["final_answer"].removeprefix("done: "))
            # ...which dockerd created from the prompt's image, named after its task key.
            assert created[container]["image"] == expected == record["image"]
            assert created[container]["name"] == f"hermes-{record['task_key']}"
            assert record["backend"] == "docker"
        assert {by_id[f"p{i}"]["image"] for i in range(18)} == {docker_image, alt_image}
        missing = by_id["missing-image"]
        assert missing["status"] == "failed" and "not available" in missing["error"]
        assert missing["error"].startswith("sandbox: ") and missing["messages"] == []
        assert next(r["prompt"] for r in rows if r["id"] == "missing-image") not in asked
        assert 2 <= max_overlap(list(by_id.values())) <= 4
        leftovers = client.containers.list(all=True, filters={"name": "hermes-batch-"})
        run_ids = {r["task_key"].rsplit("-", 1)[0] for r in by_id.values()}
        assert [c.name for c in leftovers if any(r in c.name for r in run_ids)] == []
        assert registry.processes() == []
        assert registry._sandbox_options == {}, "per-task settings are gone afterwards"
        assert not [k for k in registry._backends if k[1].startswith("batch-")]
    finally:
        watcher.close()
        client.close()


def run_batch_docker(tmp_path: Path, url: str, registry: ProcessRegistry) -> Any:
    from hermes_tui.batch.runner import run_batch

    return run_batch(options(tmp_path, url, backend="docker", timeout=120.0), registry=registry)


def test_the_workdir_of_a_prompt_is_the_containers(
    tmp_path: Path, docker_image: str, make_registry: Callable[..., ProcessRegistry]
) -> None:
    registry = make_registry(backend_options={"docker": {"image": docker_image}})
    write_prompts(
        tmp_path / "prompts.jsonl",
        [{"id": "w", "prompt": prompt(("terminal", {"command": "pwd"})), "cwd": "/srv/w"}],
    )
    with scripted_server() as server:
        run_batch_docker(tmp_path, server.url, registry)
    assert json.loads((tmp_path / "results.jsonl").read_text())["final_answer"] == "done: /srv/w"


def test_an_image_that_cannot_start_fails_its_prompt_and_leaves_no_container(
    tmp_path: Path,
    docker_image: str,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    import io
    import tarfile

    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    client = docker.from_env()
    client.api.import_image_from_data(
        empty.getvalue(), repository="hermes-tui-test", tag="batch-no-shell"
    )
    try:
        registry = make_registry(backend_options={"docker": {"image": docker_image}})
        write_prompts(
            tmp_path / "prompts.jsonl",
            [
                {
                    "id": "no-shell",
                    "prompt": prompt(("terminal", {"command": "true"})),
                    "docker_image": "hermes-tui-test:batch-no-shell",
                }
            ],
        )
        with scripted_server() as server:
            run_batch_docker(tmp_path, server.url, registry)
            assert server.requests == []  # failed before any token
        record = json.loads((tmp_path / "results.jsonl").read_text())
        assert record["status"] == "failed" and record["error"].startswith("sandbox: docker:")
        name = f"hermes-{record['task_key']}"
        assert client.containers.list(all=True, filters={"name": name}) == []
    finally:
        client.images.remove("hermes-tui-test:batch-no-shell", force=True)
        client.close()
