"""The Docker backend against a real dockerd (started by .ci/run) and a locally built image."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from backends import BackendError, SpawnSpec, create_backend
from registry import ProcessRegistry, ProcessStatus
from tests.conftest import wait_for
from tests.docker_image import MARKER


def test_commands_run_inside_the_container_not_on_the_host(
    docker_image: str, tmp_path: Path
) -> None:
    assert not os.path.exists(MARKER)
    backend = create_backend(
        "docker", state_dir=tmp_path, image=docker_image, key=f"inside-{tmp_path.name}"
    )
    try:
        result = backend.run(["cat", MARKER])
        assert result.output == b"only inside the test container\n"
        handle = backend.spawn(
            SpawnSpec(proc_id="p1", argv=backend.shell_argv(f"cat {MARKER}; sleep 30"))
        )
        assert handle.sandbox["container"]
        with pytest.raises(BackendError, match="still running"):
            backend.cleanup([handle])
        backend.signal(handle, 9)
    finally:
        backend.cleanup()


def test_processes_are_readopted_after_an_app_restart(
    docker_image: str,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    options = {"docker": {"image": docker_image, "key": f"restart-{tmp_path.name}"}}
    first = make_registry(backend_options=options)
    ticker = first.spawn(
        "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done", backend="docker"
    )
    done = first.spawn("echo bye; exit 4", backend="docker")
    first.wait(done.id, 20)
    assert (done.status, done.exit_code) == (ProcessStatus.EXITED, 4)
    wait_for(lambda: first.log(ticker.id, limit=10**6).total_lines > 5)
    first.close()

    second = make_registry(backend_options=options)
    report = second.recover()
    assert [s.id for s in report.adopted] == [ticker.id]
    count = second.log(ticker.id, limit=10**6).total_lines
    wait_for(lambda: second.log(ticker.id, limit=10**6).total_lines > count + 10, timeout=20)
    lines = second.log(ticker.id, 0, 10**6).lines
    assert lines == [f"tick {i}" for i in range(1, len(lines) + 1)]
    second.kill(ticker.id)
    assert second.get(ticker.id).status is ProcessStatus.KILLED
    second.backend("docker").cleanup()


def test_each_chat_session_gets_its_own_container(
    docker_image: str,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    registry = make_registry(backend_options={"docker": {"image": docker_image}})
    one = registry.spawn("hostname; sleep 30", backend="docker", owner=f"a-{tmp_path.name}")
    two = registry.spawn("hostname; sleep 30", backend="docker", owner=f"b-{tmp_path.name}")
    assert one.handle is not None
    assert two.handle is not None
    assert one.handle.sandbox["container"] != two.handle.sandbox["container"]
    wait_for(lambda: registry.output(one.id) != b"" and registry.output(two.id) != b"")
    assert registry.output(one.id) != registry.output(two.id)  # different hostnames
    for proc in (one, two):
        registry.kill(proc.id)
        registry.backend("docker", proc.owner).cleanup()


def test_a_per_task_image_override(
    docker_image: str, tmp_path: Path, make_registry: Callable[..., ProcessRegistry]
) -> None:
    registry = make_registry(backend_options={"docker": {"image": "no-such-image:never"}})
    task = f"task-{tmp_path.name}"
    registry.set_sandbox_options("docker", task, {"image": docker_image})
    proc = registry.spawn(f"cat {MARKER}", backend="docker", owner=task)
    registry.wait(proc.id, 30)
    assert registry.output(proc.id) == b"only inside the test container\n"
    registry.backend("docker", task).cleanup()


def test_an_interrupt_stops_waiting_for_a_silent_command(docker_image: str, tmp_path: Path) -> None:
    import threading
    import time

    backend = create_backend(
        "docker", state_dir=tmp_path, image=docker_image, key=f"cancel-{tmp_path.name}"
    )
    try:
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        result = backend.run(["sleep", "60"], cancel=cancel)
        assert result.interrupted and result.exit_code == 130
        assert time.monotonic() - started < 10
    finally:
        backend.cleanup()


def test_a_follower_that_loses_its_sandbox_reports_lost_with_the_reason(
    docker_image: str,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import backends.shell

    monkeypatch.setattr(backends.shell, "FOLLOW_RETRIES", 2)
    monkeypatch.setattr(backends.shell, "FOLLOW_BACKOFF", 0.01)
    options = {"docker": {"image": docker_image, "key": f"gone-{tmp_path.name}"}}
    registry = make_registry(backend_options=options)
    proc = registry.spawn("sleep 300", backend="docker")
    import docker

    client = docker.from_env()
    try:  # the sandbox disappears under the follower's feet
        client.containers.get(f"hermes-gone-{tmp_path.name}").remove(force=True)
    finally:
        client.close()
    result = registry.wait(proc.id, 30)
    assert result.status == "lost"
    assert proc.note is not None and "following it failed" in proc.note
    assert "docker" in proc.note
