"""The Modal backend: the real ``modal`` SDK against the fake Modal API (sandboxes are Docker
containers of the test image, so nothing here can run on the host)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backends import BackendError, BackendUnavailableError, ExitStatus, SpawnSpec, create_backend
from backends.modal_backend import TAG_HOST, TAG_SESSION, ModalBackend
from registry import ProcessRegistry, ProcessStatus, RegistryError
from tests.conftest import wait_for
from tests.docker_image import MARKER
from tests.fakes.modal_api import FakeModal


class Collector:
    """An OutputSink that keeps everything."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.exit: ExitStatus | None = None
        self.done = threading.Event()

    def on_output(self, data: bytes) -> None:
        self.data += data

    def on_exit(self, status: ExitStatus) -> None:
        self.exit = status
        self.done.set()


def modal(registry: ProcessRegistry, sandbox: str = "default") -> ModalBackend:
    """The registry's modal backend for ``sandbox``."""
    backend = registry.backend("modal", sandbox)
    assert isinstance(backend, ModalBackend)
    return backend


def make(tmp_path: Path, **kwargs: Any) -> ModalBackend:
    """A modal backend outside any registry."""
    backend = create_backend("modal", state_dir=tmp_path, **kwargs)
    assert isinstance(backend, ModalBackend)
    return backend


def options(image: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """Backend options with an app of this test's own (the fake lives for the whole session)."""
    return {"image": image, "app_name": f"test-{tmp_path.name}", **extra}


def test_commands_run_in_the_sandbox_and_cleanup_terminates_it(
    fake_modal: FakeModal, docker_image: str, tmp_path: Path
) -> None:
    creates = fake_modal.calls("SandboxCreateV2")
    backend = make(
        tmp_path / "state",
        key="chat-1",
        **options(
            docker_image,
            tmp_path,
            cpu=0.5,
            memory="1g",
            workdir="/srv",
            env={"GREETING": "hello from the sandbox env"},
        ),
    )
    assert fake_modal.calls("SandboxCreateV2") == creates + 1
    sandbox = fake_modal.sandboxes[backend.sandbox_ref()["sandbox"]]
    assert sandbox.tags == {TAG_SESSION: "chat-1", TAG_HOST: socket.gethostname()}
    definition = fake_modal.messages("SandboxCreateV2")[-1].definition
    assert definition.timeout_secs == 24 * 3600  # never Modal's default of 300 s
    assert (definition.resources.milli_cpu, definition.resources.memory_mb) == (500, 1024)

    assert not os.path.exists(MARKER)
    assert backend.run(["cat", MARKER]).output == b"only inside the test container\n"
    # The sandbox's env travels in secret_sources; its workdir is where commands start.
    assert backend.run(["sh", "-c", 'echo "$GREETING"; pwd']).output == (
        b"hello from the sandbox env\n/srv\n"
    )
    handle = backend.spawn(SpawnSpec(proc_id="p1", argv=backend.shell_argv("sleep 30")))
    assert handle.sandbox["sandbox"] == sandbox.sandbox_id
    # The registry may have forgotten it (active=[]): the sandbox itself still says no.
    with pytest.raises(BackendError, match="1 background process"):
        backend.cleanup()
    assert sandbox.running
    backend.signal(handle, signal.SIGKILL)
    wait_for(lambda: backend.poll(handle).state != "running")
    backend.cleanup()
    assert not sandbox.running
    assert not (tmp_path / "state" / "modal").exists() or not any(
        (tmp_path / "state" / "modal").iterdir()
    )
    assert fake_modal.unimplemented == []


def test_missing_credentials_are_one_clear_line_and_nothing_runs(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    monkeypatch.delenv("MODAL_TOKEN_ID")
    monkeypatch.delenv("MODAL_TOKEN_SECRET")
    requests = len(fake_modal.requests)
    with pytest.raises(BackendUnavailableError) as caught:
        create_backend("modal", state_dir=tmp_path, **options(docker_image, tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert "MODAL_TOKEN_ID" in message and "MODAL_TOKEN_SECRET" in message
    registry = make_registry(backend_options={"modal": options(docker_image, tmp_path)})
    for _ in range(2):  # every command keeps answering with the same error; no fallback
        with pytest.raises(RegistryError, match="MODAL_TOKEN_ID"):
            registry.spawn(f"touch {tmp_path / 'ran-on-host'}", backend="modal")
    assert not (tmp_path / "ran-on-host").exists()
    assert len(fake_modal.requests) == requests


def test_wrong_credentials_and_an_unreachable_api_are_clear(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "not-the-secret")
    with pytest.raises(BackendUnavailableError, match=r"refused the credentials.*MODAL_TOKEN_ID"):
        create_backend("modal", state_dir=tmp_path, **options(docker_image, tmp_path))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("MODAL_SERVER_URL", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(BackendUnavailableError, match="cannot reach the Modal API"):
        create_backend("modal", state_dir=tmp_path, **options(docker_image, tmp_path))


def test_a_sandbox_per_session_and_a_per_task_image(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    registry = make_registry(backend_options={"modal": options("no-such-image:never", tmp_path)})
    with pytest.raises(RegistryError, match="no-such-image:never"):
        registry.spawn("true", backend="modal", owner="plain")
    procs = []
    for task in ("task-1", "task-2"):  # what the batch runner's modal_image becomes
        registry.set_sandbox_options("modal", task, {"image": docker_image})
        procs.append(registry.spawn(f"cat {MARKER}", backend="modal", owner=task))
    sandboxes = []
    for proc in procs:
        registry.wait(proc.id, 30)
        assert registry.output(proc.id) == b"only inside the test container\n"
        assert proc.handle is not None
        sandboxes.append(fake_modal.sandboxes[proc.handle.sandbox["sandbox"]])
        registry.backend("modal", proc.owner).cleanup()
    assert [s.tags[TAG_SESSION] for s in sandboxes] == ["task-1", "task-2"]
    assert sandboxes[0].sandbox_id != sandboxes[1].sandbox_id


def test_binary_output_and_a_5_mb_file_are_byte_exact(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
) -> None:
    backend = create_backend("modal", state_dir=tmp_path, **options(docker_image, tmp_path))
    try:
        every_byte = bytes(range(256))
        result = backend.run(["sh", "-c", "printf \"$(printf '\\\\%03o' $(seq 0 255))\""])
        assert result.output == every_byte
        data = os.urandom(5 << 20)
        backend.upload(data, "/tmp/blob.bin")
        assert backend.download("/tmp/blob.bin") == data
        # The same bytes through a background process's spool and the streaming follower.
        handle = backend.spawn(SpawnSpec(proc_id="cat", argv=["cat", "/tmp/blob.bin"]))
        sink = Collector()
        backend.follow(handle, 0, sink)
        assert sink.done.wait(60)
        assert bytes(sink.data) == data
        assert backend.read_output(handle, 1000, 256) == data[1000:1256]
    finally:
        backend.cleanup()


def test_an_interrupted_command_returns_at_once_and_is_killed_in_the_sandbox(
    fake_modal: FakeModal, docker_image: str, tmp_path: Path
) -> None:
    backend = make(tmp_path, **options(docker_image, tmp_path))
    try:
        cancel = threading.Event()
        threading.Timer(0.5, cancel.set).start()
        started = time.monotonic()
        result = backend.run(["sh", "-c", "echo started; sleep 47; echo late"], cancel=cancel)
        assert result.interrupted and result.exit_code == 130
        assert time.monotonic() - started < 5
        assert b"sleep 47" not in backend.run(["ps", "-o", "args"]).output
    finally:
        backend.cleanup()


def test_recovery_after_the_sandbox_ended_starts_no_sandbox_until_new_work(
    fake_modal: FakeModal, docker_image: str, tmp_path: Path
) -> None:
    first = make(tmp_path, **options(docker_image, tmp_path))
    handle = first.spawn(SpawnSpec(proc_id="p1", argv=first.shell_argv("sleep 60")))
    fake_modal.terminate(handle.sandbox["sandbox"])  # while the app was away
    creates = fake_modal.calls("SandboxCreateV2")
    second = make(tmp_path, **options(docker_image, tmp_path))
    probe = second.poll(handle)
    assert probe.state == "lost" and "sandbox has ended" in probe.detail
    assert fake_modal.calls("SandboxCreateV2") == creates
    assert second.download("/etc/hostname")  # new work: a new sandbox
    assert fake_modal.calls("SandboxCreateV2") == creates + 1
    second.cleanup()
    first.cleanup()


def test_a_sandbox_that_ended_is_reported_and_replaced_for_new_work(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
) -> None:
    backend = make(tmp_path, **options(docker_image, tmp_path))
    handle = backend.spawn(SpawnSpec(proc_id="p1", argv=backend.shell_argv("sleep 60")))
    fake_modal.terminate(handle.sandbox["sandbox"])  # its lifetime ran out
    with pytest.raises(BackendError, match="has ended"):
        backend.write(handle, b"x")
    probe = backend.poll(handle)
    assert probe.state == "lost" and "sandbox has ended" in probe.detail
    creates = fake_modal.calls("SandboxCreateV2")
    assert backend.run(["echo", "again"]).output == b"again\n"
    assert fake_modal.calls("SandboxCreateV2") == creates + 1
    assert backend.sandbox_ref()["sandbox"] != handle.sandbox["sandbox"]
    fake_modal.terminate(backend.sandbox_ref()["sandbox"])
    with pytest.raises(BackendError, match="has ended"):
        backend.read_output(handle, 0, 10)
    backend.cleanup()  # an ended sandbox: only the client is left to close


OWNER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from registry import ProcessRegistry

    registry = ProcessRegistry(Path(sys.argv[1]), backend_options=json.loads(sys.argv[2]))
    ticker = registry.spawn("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done",
                            backend="modal")
    binary = registry.spawn("i=0; while :; do i=$((i+1)); printf 'b\\\\377\\\\000%d\\\\n' $i; "
                            "sleep 0.02; done", backend="modal")
    tty = registry.spawn("i=0; while :; do i=$((i+1)); echo pty $i; sleep 0.05; done",
                         backend="modal", pty=True)
    ends = registry.spawn("sleep 1; echo bye; exit 7", backend="modal")
    while registry.log(ticker.id, limit=10**6).total_lines < 5:
        time.sleep(0.02)
    print(json.dumps({"ticker": ticker.id, "binary": binary.id, "tty": tty.id,
                      "ends": ends.id, "sandbox": ticker.handle.sandbox["sandbox"]}), flush=True)
    time.sleep(3600)
""")


def test_sigkill_of_the_app_then_readoption_by_sandbox_id_with_byte_exact_output(
    fake_modal: FakeModal,
    docker_image: str,
    tmp_path: Path,
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    backend_options = {"modal": options(docker_image, tmp_path)}
    creates, lists = fake_modal.calls("SandboxCreateV2"), fake_modal.calls("SandboxListV2")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(state_dir), json.dumps(backend_options)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert owner.stdout is not None
    ids = json.loads(owner.stdout.readline())
    owner.send_signal(signal.SIGKILL)  # while every process is printing
    owner.wait()
    owner.stdout.close()

    registry = make_registry(backend_options=backend_options)
    report = registry.recover()
    assert {s.id for s in report.adopted} | {s.id for s in report.ended} == {
        ids["ticker"],
        ids["binary"],
        ids["tty"],
        ids["ends"],
    }
    assert {ids["ticker"], ids["binary"], ids["tty"]} <= {s.id for s in report.adopted}
    assert report.lost == [] and report.warnings == []
    # Found again by the id kept in the state dir: no second sandbox, no search by tag.
    assert fake_modal.calls("SandboxCreateV2") == creates + 1
    assert fake_modal.calls("SandboxListV2") == lists + 1
    assert modal(registry).sandbox_ref()["sandbox"] == ids["sandbox"]

    result = registry.wait(ids["ends"], 30)
    assert (result.proc.status, result.proc.exit_code) == (ProcessStatus.EXITED, 7)
    assert registry.output(ids["ends"]) == b"bye\n"
    count = registry.log(ids["ticker"], limit=10**6).total_lines
    wait_for(
        lambda: registry.log(ids["ticker"], limit=10**6).total_lines > count + 20,
        timeout=30,
        what="more ticks after re-adoption",
    )
    lines = registry.log(ids["ticker"], 0, 10**6).lines
    assert lines == [f"tick {i}" for i in range(1, len(lines) + 1)]
    spool = registry.read_spool(ids["binary"], 0, 1 << 20)
    records = spool.split(b"\n")[:-1]
    assert len(records) > 20
    assert records == [b"b\xff\x00%d" % i for i in range(1, len(records) + 1)]
    pty_lines = registry.log(ids["tty"], 0, 10**6).lines
    assert pty_lines == [f"pty {i}" for i in range(1, len(pty_lines) + 1)]

    for name in ("ticker", "binary", "tty"):
        registry.kill(ids[name])
        assert registry.get(ids[name]).status is ProcessStatus.KILLED
    registry.backend("modal").cleanup()
    assert fake_modal.unimplemented == []


async def test_it_works_when_called_from_a_thread_running_an_event_loop(
    fake_modal: FakeModal, docker_image: str, tmp_path: Path
) -> None:
    # The SDK's blocking interface refuses to run on such a thread; the backend hops off it.
    backend = make(tmp_path, **options(docker_image, tmp_path))
    assert backend.run(["echo", "from the loop"]).output == b"from the loop\n"
    backend.cleanup()


def test_the_command_line_runs_on_modal(
    fake_modal: FakeModal, docker_image: str, tmp_path: Path, state_dir: Path
) -> None:
    import tomli_w

    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps({"backends": {"modal": options(docker_image, tmp_path)}}))

    def hermes(*args: str) -> str:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "hermes_tui",
                "--config",
                str(config),
                "--backend",
                "modal",
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    proc_id = hermes("run", "--", f"cat {MARKER}; exit 3").strip()
    assert hermes("wait", proc_id, "--timeout", "60").strip() == f"{proc_id}: exited 3"
    assert hermes("logs", proc_id) == "only inside the test container\n"
    (entry,) = json.loads(hermes("ps", "--all", "--json"))
    assert entry["backend"] == "modal"
    result = json.loads(hermes("tool", "terminal", json.dumps({"command": f"cat {MARKER}"})))
    assert result["output"] == "only inside the test container"
    make(tmp_path / "state", key="cli", **options(docker_image, tmp_path)).cleanup()
