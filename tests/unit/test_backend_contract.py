"""The contract every backend must meet, parametrized over backends (local for now)."""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backends import (
    Backend,
    BackendError,
    ExitStatus,
    ProcessGoneError,
    ProcHandle,
    SpawnError,
    SpawnSpec,
    create_backend,
)

BACKENDS = ["local", "ssh", "singularity", "docker", "daytona", "modal"]


class Collector:
    """An OutputSink that records what it is given."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.exit: ExitStatus | None = None
        self.done = threading.Event()
        self.calls_after_exit = 0

    def on_output(self, data: bytes) -> None:
        if self.done.is_set():
            self.calls_after_exit += 1
        self.data += data

    def on_exit(self, status: ExitStatus) -> None:
        self.exit = status
        self.done.set()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    options: dict[str, object] = {}
    if request.param == "ssh":
        options = {
            **request.getfixturevalue("sshd").options(),
            "remote_root": str(tmp_path / "remote-runs"),
        }
    elif request.param == "singularity":
        request.getfixturevalue("fake_apptainer")
        options = {
            "image": "docker://busybox",
            "instance": f"hermes-{tmp_path.name}",
            "remote_root": str(tmp_path / "instance-runs"),
        }
    elif request.param == "docker":
        options = {
            "image": request.getfixturevalue("docker_image"),
            "key": f"test-{tmp_path.name}",
        }
    elif request.param == "daytona":
        fake = request.getfixturevalue("fake_daytona")
        options = {
            "api_key": fake.api_key,
            "api_url": fake.api_url,
            "key": f"test-{tmp_path.name}",
        }
    elif request.param == "modal":
        request.getfixturevalue("fake_modal")
        options = {
            "image": request.getfixturevalue("docker_image"),
            "key": f"test-{tmp_path.name}",
        }
    instance = create_backend(request.param, state_dir=tmp_path / "state", **options)
    yield instance
    if request.param in ("docker", "daytona", "modal"):
        instance.cleanup()  # the container / sandbox goes with the test


@pytest.fixture
def spawned(backend: Backend) -> Iterator[list[ProcHandle]]:
    handles: list[ProcHandle] = []
    yield handles
    for handle in handles:
        try:
            backend.signal(handle, signal.SIGKILL)
        except BackendError:
            pass


def spawn(backend: Backend, handles: list[ProcHandle], command: str, **kw: object) -> ProcHandle:
    spec = SpawnSpec(proc_id=f"t_{secrets.token_hex(4)}", argv=backend.shell_argv(command), **kw)  # type: ignore[arg-type]
    handle = backend.spawn(spec)
    handles.append(handle)
    return handle


def follow_to_end(backend: Backend, handle: ProcHandle, timeout: float = 20) -> Collector:
    sink = Collector()
    backend.follow(handle, 0, sink)
    assert sink.done.wait(timeout), "no exit reported"
    return sink


def test_run_returns_merged_output_and_exit_code(backend: Backend, tmp_path: Path) -> None:
    workdir = str(tmp_path / "work")
    backend.upload(b"", f"{workdir}/.keep")  # creates the directory where commands run
    result = backend.run(
        backend.shell_argv("echo a; echo b >&2; echo $FOO; pwd; exit 9"),
        workdir=workdir,
        env={"FOO": "bar"},
    )
    assert result.output == f"a\nb\nbar\n{workdir}\n".encode()
    assert result.exit_code == 9


def test_run_timeout_kills_the_group(backend: Backend) -> None:
    started = time.monotonic()
    result = backend.run(backend.shell_argv("sleep 30 & sleep 30"), timeout=0.5)
    assert result.timed_out
    assert result.exit_code == 124
    assert time.monotonic() - started < 10


def test_run_does_not_wait_for_a_backgrounded_grandchild(backend: Backend) -> None:
    started = time.monotonic()
    result = backend.run(backend.shell_argv("sleep 5 & echo quick"), timeout=30)
    assert result.output == b"quick\n"
    assert time.monotonic() - started < 4


def test_spawn_streams_output_and_reports_the_exit(
    backend: Backend, spawned: list[ProcHandle]
) -> None:
    handle = spawn(backend, spawned, "for i in 1 2 3; do echo $i; sleep 0.05; done; exit 4")
    sink = follow_to_end(backend, handle)
    assert bytes(sink.data) == b"1\n2\n3\n"
    assert sink.exit is not None
    assert sink.exit.exit_code == 4
    assert sink.calls_after_exit == 0
    assert backend.poll(handle).state == "ended"
    assert backend.read_output(handle, 2, 4) == b"2\n3\n"


def test_follow_from_an_offset(backend: Backend, spawned: list[ProcHandle]) -> None:
    handle = spawn(backend, spawned, "echo 0123456789")
    follow_to_end(backend, handle)
    sink = Collector()
    backend.follow(handle, 5, sink)
    assert sink.done.wait(10)
    assert bytes(sink.data) == b"56789\n"


def test_pty_mode_write_and_resize(backend: Backend, spawned: list[ProcHandle]) -> None:
    handle = spawn(
        backend, spawned, "stty size; read a; stty size; echo got:$a", pty=True, rows=20, cols=70
    )
    sink = Collector()
    backend.follow(handle, 0, sink)
    deadline = time.monotonic() + 10
    while b"20 70" not in sink.data and time.monotonic() < deadline:
        time.sleep(0.02)
    backend.resize(handle, 50, 150)
    backend.write(handle, b"hi\r")
    assert sink.done.wait(10)
    assert b"20 70" in sink.data
    assert b"50 150" in sink.data
    assert b"got:hi" in sink.data


def test_signal_reaches_the_group_and_exit_is_negative(
    backend: Backend, spawned: list[ProcHandle]
) -> None:
    handle = spawn(backend, spawned, "sleep 30")
    sink = Collector()
    backend.follow(handle, 0, sink)
    assert backend.poll(handle).state == "running"
    backend.signal(handle, signal.SIGTERM)
    assert sink.done.wait(10)
    assert sink.exit is not None
    assert sink.exit.exit_code == -signal.SIGTERM
    with pytest.raises(ProcessGoneError):
        backend.signal(handle, signal.SIGTERM)
    with pytest.raises(ProcessGoneError):
        backend.write(handle, b"x")


def test_spawn_errors_are_clear(backend: Backend, spawned: list[ProcHandle]) -> None:
    with pytest.raises(SpawnError, match="cannot run 'definitely-not-a-program'"):
        backend.spawn(SpawnSpec(proc_id="t_missing", argv=["definitely-not-a-program"]))
    with pytest.raises(SpawnError, match="working directory does not exist"):
        backend.spawn(SpawnSpec(proc_id="t_nodir", argv=["true"], workdir="/no/such/dir"))


def test_probe_many(backend: Backend, spawned: list[ProcHandle]) -> None:
    running = spawn(backend, spawned, "sleep 30")
    ended = spawn(backend, spawned, "exit 2")
    follow_to_end(backend, ended)
    import dataclasses

    vanished = dataclasses.replace(ended, proc_id="t_gone", run_dir=ended.run_dir + "-gone")
    probes = backend.probe([running, vanished, ended])
    assert [p.state for p in probes] == ["running", "lost", "ended"]
    probes = [probes[0], probes[2]]
    assert probes[1].exit is not None
    assert probes[1].exit.exit_code == 2


@pytest.mark.parametrize("size", [0, 1, 256, 5 << 20])
def test_upload_download_round_trip_is_binary_safe(
    backend: Backend, tmp_path: Path, size: int
) -> None:
    data = bytes(range(256)) if size == 256 else os.urandom(size)
    target = str(tmp_path / "remote" / "sub" / "file.bin")
    backend.upload(data, target, mode=0o640)
    assert backend.download(target) == data
    with pytest.raises(BackendError, match="cannot read"):
        backend.download(str(tmp_path / "missing"))


def test_a_background_process_starts_where_foreground_commands_start(
    backend: Backend,
    spawned: list[ProcHandle],
) -> None:
    foreground = backend.run(backend.shell_argv("pwd")).output
    handle = spawn(backend, spawned, "pwd")
    assert bytes(follow_to_end(backend, handle).data) == foreground


@pytest.mark.parametrize("pty", [False, True])
def test_a_workdir_is_data_never_shell_text(
    backend: Backend, spawned: list[ProcHandle], tmp_path: Path, pty: bool
) -> None:
    workdir = str(tmp_path / "we\"ird $(touch pwned-1) `touch pwned-2` 'q'")
    backend.upload(b"", f"{workdir}/.keep")
    # An injection would have created pwned-* where the supervisor runs (or in the workdir).
    handle = spawn(
        backend, spawned, 'pwd; ls "$HERMES_RUN" . | grep pwned; true', workdir=workdir, pty=pty
    )
    sink = follow_to_end(backend, handle)
    assert sink.exit is not None and sink.exit.exit_code == 0
    assert bytes(sink.data).replace(b"\r\n", b"\n") == workdir.encode() + b"\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_pty_process_reports_the_signal(
    backend: Backend, spawned: list[ProcHandle], sig: int
) -> None:
    handle = spawn(backend, spawned, "sleep 30", pty=True)
    sink = Collector()
    backend.follow(handle, 0, sink)
    backend.signal(handle, sig)
    assert sink.done.wait(10)
    assert sink.exit is not None
    assert sink.exit.exit_code == -sig
