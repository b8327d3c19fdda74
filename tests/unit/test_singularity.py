"""The singularity backend through a stand-in apptainer CLI (see tests/fakes/bin/apptainer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backends import BackendError, BackendUnavailableError, create_backend


def test_a_missing_cli_is_reported_when_the_backend_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither apptainer nor singularity
    with pytest.raises(BackendUnavailableError, match="needs the apptainer"):
        create_backend("singularity", state_dir=tmp_path)


def test_commands_run_inside_the_instance(fake_apptainer: Path, tmp_path: Path) -> None:
    backend = create_backend(
        "singularity",
        state_dir=tmp_path,
        image="docker://busybox",
        instance="hermes-t1",
        remote_root=str(tmp_path / "runs"),
    )
    result = backend.run(["sh", "-c", "echo $HERMES_FAKE_INSTANCE"])
    assert result.output == b"hermes-t1\n"
    calls = [json.loads(line) for line in (fake_apptainer / "calls.log").read_text().splitlines()]
    assert calls[0][:3] == ["instance", "list", "--json"]
    assert calls[1] == ["instance", "start", "--writable-tmpfs", "docker://busybox", "hermes-t1"]
    assert all(c[:2] == ["exec", "instance://hermes-t1"] for c in calls[2:])
    # A second backend on the same instance reuses it.
    create_backend(
        "singularity", state_dir=tmp_path, instance="hermes-t1", remote_root=str(tmp_path / "runs")
    )
    starts = [
        c
        for c in (json.loads(x) for x in (fake_apptainer / "calls.log").read_text().splitlines())
        if c[:2] == ["instance", "start"]
    ]
    assert len(starts) == 1


def test_cleanup_stops_the_instance_but_never_with_running_processes(
    fake_apptainer: Path,
    tmp_path: Path,
) -> None:
    from backends import SpawnSpec

    backend = create_backend(
        "singularity", state_dir=tmp_path, instance="hermes-t2", remote_root=str(tmp_path / "runs")
    )
    handle = backend.spawn(SpawnSpec(proc_id="p1", argv=backend.shell_argv("sleep 30")))
    with pytest.raises(BackendError, match="still running"):
        backend.cleanup([handle])
    backend.signal(handle, 9)
    backend.cleanup([])
    listing = json.loads((fake_apptainer / "instances.json").read_text())
    assert "hermes-t2" not in listing
