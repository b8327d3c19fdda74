"""The Daytona backend: the unmodified SDK against the fake API (a container per sandbox)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import Backend, BackendError, BackendUnavailableError, SpawnSpec, create_backend
from backends.shell import ShellBackend
from registry import ProcessRegistry, ProcessStatus, RegistryError
from tests.conftest import wait_for
from tests.docker_image import MARKER
from tests.fakes.daytona_api import FakeDaytona
from tests.unit.test_backend_contract import Collector


@pytest.fixture
def daytona_options(
    fake_daytona: FakeDaytona, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Settings that reach the fake; the key comes from the environment, like a user's."""
    monkeypatch.setenv("DAYTONA_API_KEY", fake_daytona.api_key)
    for name in ("DAYTONA_API_URL", "DAYTONA_TARGET"):
        monkeypatch.delenv(name, raising=False)
    return {"api_url": fake_daytona.api_url, "key": f"t-{tmp_path.name}"}


@pytest.fixture
def backend(daytona_options: dict[str, Any], tmp_path: Path) -> Iterator[Backend]:
    instance = create_backend("daytona", state_dir=tmp_path / "state", **daytona_options)
    yield instance
    try:
        instance.cleanup()
    except BackendError:
        pass  # the test deleted it already


def _creates(fake: FakeDaytona) -> list[dict[str, Any]]:
    return [r for r in fake.calls("POST") if r["path"] == "/api/sandbox"]


def test_commands_run_in_the_sandbox_and_cleanup_keeps_busy_sandboxes(
    backend: Backend, fake_daytona: FakeDaytona, daytona_options: dict[str, Any]
) -> None:
    assert not os.path.exists(MARKER)
    assert backend.run(["cat", MARKER]).output == b"only inside the test container\n"
    # A command reading stdin gets nothing (not the rest of its own script).
    assert backend.run(backend.shell_argv("cat; echo after")).output == b"after\n"
    create = _creates(fake_daytona)[-1]["body"]
    assert create["labels"]["hermes-tui.session"] == daytona_options["key"]
    assert create["labels"]["hermes-tui"] == "1"
    assert "buildInfo" not in create  # no image configured: Daytona's default snapshot

    handle = backend.spawn(SpawnSpec(proc_id="p1", argv=backend.shell_argv("sleep 30")))
    sandbox_id = handle.sandbox["sandbox"]
    with pytest.raises(BackendError, match="still running"):
        backend.cleanup([handle])
    assert not fake_daytona.calls("DELETE", f"/api/sandbox/{sandbox_id}")
    backend.signal(handle, signal.SIGKILL)
    backend.cleanup()
    assert fake_daytona.calls("DELETE", f"/api/sandbox/{sandbox_id}")


def test_non_utf8_output_and_a_5mb_file_are_byte_exact(backend: Backend) -> None:
    every_byte = bytes(range(256))
    backend.upload(every_byte, "/tmp/bytes.bin")
    assert backend.run(["cat", "/tmp/bytes.bin"]).output == every_byte
    assert isinstance(backend, ShellBackend)  # the generic streaming primitive, too
    assert b"".join(backend.stream("cat /tmp/bytes.bin; sleep 0.3; cat /tmp/bytes.bin")) == (
        every_byte * 2
    )
    blob = os.urandom(5 << 20)
    backend.upload(blob, "/tmp/blob.bin")
    assert backend.download("/tmp/blob.bin") == blob
    # Streamed through the follower (session log websocket), not only read back.
    handle = backend.spawn(SpawnSpec(proc_id="cat5", argv=["cat", "/tmp/blob.bin"]))
    sink = Collector()
    backend.follow(handle, 0, sink)
    assert sink.done.wait(60), "no exit reported"
    assert bytes(sink.data) == blob
    assert sink.exit is not None and sink.exit.exit_code == 0
    assert backend.read_output(handle, 1000, 256) == blob[1000:1256]


def test_settings_win_over_the_environment_and_errors_are_one_clear_line(
    fake_daytona: FakeDaytona, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.delenv("DAYTONA_API_KEY", raising=False)
    monkeypatch.setenv("DAYTONA_API_URL", "http://127.0.0.1:9/api")  # nothing listens there
    with pytest.raises(BackendUnavailableError, match="set DAYTONA_API_KEY") as missing:
        create_backend("daytona", state_dir=state)
    assert "\n" not in str(missing.value)
    with pytest.raises(BackendUnavailableError, match="'cpu' must be a whole number"):
        create_backend("daytona", state_dir=state, cpu="2")
    with pytest.raises(BackendUnavailableError, match="'labels' must be a table"):
        create_backend("daytona", state_dir=state, labels=["team"])
    monkeypatch.setenv("DAYTONA_API_KEY", "wrong-key")
    with pytest.raises(BackendUnavailableError, match="DAYTONA_API_URL") as unreachable:
        create_backend("daytona", state_dir=state)
    assert "127.0.0.1:9" in str(unreachable.value) and "\n" not in str(unreachable.value)
    # The explicit api_url wins over DAYTONA_API_URL; the key from the environment is used.
    with pytest.raises(BackendUnavailableError, match="rejected the API key"):
        create_backend("daytona", state_dir=state, api_url=fake_daytona.api_url)
    # An explicit key wins over DAYTONA_API_KEY; sandbox settings reach the API.
    backend = create_backend(
        "daytona",
        state_dir=state,
        api_key=fake_daytona.api_key,
        api_url=fake_daytona.api_url,
        image="hermes-tui-test:busybox",
        cpu=2,
        memory=4,
        disk=8,
        auto_stop_interval=30,
        labels={"team": "infra"},
        key=f"s-{tmp_path.name}",
    )
    try:
        body = _creates(fake_daytona)[-1]["body"]
        assert body["buildInfo"]["dockerfileContent"].startswith("FROM hermes-tui-test:busybox")
        assert (body["cpu"], body["memory"], body["disk"]) == (2, 4, 8)
        assert body["autoStopInterval"] == 30 and body["labels"]["team"] == "infra"
        # A stop kills every process in the sandbox: auto-stop is off while one runs.
        handle = backend.spawn(SpawnSpec(proc_id="p", argv=["sleep", "0.5"]))
        autostop = f"/api/sandbox/{handle.sandbox['sandbox']}/autostop/"
        assert [r["path"] for r in fake_daytona.calls("POST", autostop)] == [autostop + "0"]
        sink = Collector()
        backend.follow(handle, 0, sink)
        assert sink.done.wait(20)
        wait_for(lambda: len(fake_daytona.calls("POST", autostop)) == 2, what="auto-stop back")
        assert fake_daytona.calls("POST", autostop)[-1]["path"] == autostop + "30"
    finally:
        backend.cleanup()


def test_a_per_task_image_and_a_sandbox_per_session(
    daytona_options: dict[str, Any],
    fake_daytona: FakeDaytona,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    options = {k: v for k, v in daytona_options.items() if k != "key"}
    registry = make_registry(backend_options={"daytona": {**options, "image": "no-such:image"}})
    task = f"task-{tmp_path.name}"
    registry.set_sandbox_options("daytona", task, {"image": "hermes-tui-test:busybox"})
    one = registry.spawn(f"cat {MARKER}", backend="daytona", owner=task)
    registry.wait(one.id, 30)
    assert registry.output(one.id) == b"only inside the test container\n"
    body = _creates(fake_daytona)[-1]["body"]
    assert body["buildInfo"]["dockerfileContent"].startswith("FROM hermes-tui-test:busybox")
    assert body["labels"]["hermes-tui.session"] == task
    with pytest.raises(RegistryError, match="no-such:image"):
        registry.spawn("true", backend="daytona", owner=f"other-{tmp_path.name}")
    registry.backend("daytona", task).cleanup()


OWNER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from registry import ProcessRegistry

    options = json.loads(sys.argv[2])
    registry = ProcessRegistry(Path(sys.argv[1]), backend_options={"daytona": options})
    ticker = registry.spawn(
        "i=0; while :; do i=$((i+1)); printf 'tick %d \\\\377\\\\n' $i; sleep 0.05; done",
        backend="daytona", owner=sys.argv[3])
    print(json.dumps({"ticker": ticker.id, "sandbox": ticker.handle.sandbox["sandbox"]}),
          flush=True)
    time.sleep(3600)
""")


@pytest.fixture
def owner(
    daytona_options: dict[str, Any], state_dir: Path
) -> Iterator[Callable[[], dict[str, str]]]:
    """Starts an app stand-in (a registry in another process) that spawns a ticker in a
    Daytona sandbox, and kills it with SIGKILL; returns what it started."""
    options = {"api_url": daytona_options["api_url"]}
    started: list[subprocess.Popen[str]] = []

    def run() -> dict[str, str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                OWNER,
                str(state_dir),
                json.dumps(options),
                daytona_options["key"],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        started.append(proc)
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert line, f"the app stand-in failed: {proc.stderr.read()}"
        ids: dict[str, str] = json.loads(line)
        return ids

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _ticks(registry: ProcessRegistry, proc_id: str) -> list[bytes]:
    return registry.output(proc_id).split(b"\n")[:-1]


def test_sigkilled_app_readopts_sandbox_processes_byte_exact(
    owner: Callable[[], dict[str, str]],
    daytona_options: dict[str, Any],
    fake_daytona: FakeDaytona,
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    ids = owner()
    creates = len(_creates(fake_daytona))
    options = {"daytona": {"api_url": daytona_options["api_url"]}}
    registry = make_registry(backend_options=options)
    report = registry.recover()
    assert [s.id for s in report.adopted] == [ids["ticker"]] and report.warnings == []
    ticker = registry.get(ids["ticker"])
    assert ticker.is_running and ticker.recovered
    count = len(_ticks(registry, ticker.id))
    wait_for(lambda: len(_ticks(registry, ticker.id)) > count + 10, timeout=30, what="ticks")
    lines = _ticks(registry, ticker.id)
    assert lines == [b"tick %d \xff" % i for i in range(1, len(lines) + 1)]
    assert len(_creates(fake_daytona)) == creates  # the same sandbox, found by its labels
    # The API key is in no file hermes-tui wrote.
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert fake_daytona.api_key.encode() not in path.read_bytes(), path
    registry.kill(ticker.id)
    assert ticker.status is ProcessStatus.KILLED
    registry.backend("daytona", daytona_options["key"]).cleanup()


def test_a_sandbox_stopped_meanwhile_is_started_not_recreated(
    owner: Callable[[], dict[str, str]],
    daytona_options: dict[str, Any],
    fake_daytona: FakeDaytona,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    ids = owner()
    creates = len(_creates(fake_daytona))
    fake_daytona.stop_sandbox(ids["sandbox"])  # e.g. auto-stop while the app was down
    registry = make_registry(backend_options={"daytona": {"api_url": daytona_options["api_url"]}})
    report = registry.recover()
    assert fake_daytona.calls("POST", f"/api/sandbox/{ids['sandbox']}/start")
    assert len(_creates(fake_daytona)) == creates
    # A stop kills the sandbox's processes: the ticker is reported, never guessed running;
    # what it printed before is still in its spool on the sandbox's disk.
    (lost,) = report.lost
    assert lost.id == ids["ticker"] and lost.status is ProcessStatus.LOST
    backend = registry.backend("daytona", daytona_options["key"])
    assert lost.handle is not None
    assert backend.read_output(lost.handle, 0, 9) == b"tick 1 \xff\n"
    backend.cleanup()


def test_a_sandbox_stopped_under_a_running_app_is_started_again(
    backend: Backend, fake_daytona: FakeDaytona
) -> None:
    from backends.daytona import DaytonaBackend

    assert isinstance(backend, DaytonaBackend)
    backend.upload(b"kept", "/tmp/kept.txt")
    sandbox_id = backend.sandbox_ref()["sandbox"]
    fake_daytona.stop_sandbox(sandbox_id)
    assert backend.run(["cat", "/tmp/kept.txt"]).output == b"kept"
    assert fake_daytona.calls("POST", f"/api/sandbox/{sandbox_id}/start")


def test_an_interrupt_kills_the_command_and_never_the_sandbox(
    backend: Backend, fake_daytona: FakeDaytona
) -> None:
    import threading
    import time

    from backends.daytona import DaytonaBackend

    assert isinstance(backend, DaytonaBackend)
    count = backend.shell_argv(
        "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done | grep -c '^sleep 37 '"
    )
    cancel = threading.Event()
    seen: list[bytes] = []
    threading.Timer(1.0, cancel.set).start()
    threading.Timer(0.5, lambda: seen.append(backend.run(count).output)).start()
    started = time.monotonic()
    result = backend.run(backend.shell_argv("sleep 37; echo never"), cancel=cancel)
    assert result.interrupted and result.exit_code == 130
    assert time.monotonic() - started < 10
    assert seen == [b"1\n"]  # it was running in the sandbox...
    assert backend.run(count).output == b"0\n"  # ...and the interrupt killed it
    sandbox_id = backend.sandbox_ref()["sandbox"]
    assert not fake_daytona.calls("DELETE", f"/api/sandbox/{sandbox_id}")
    assert backend.run(["true"]).exit_code == 0


def test_the_cli_runs_in_the_sandbox_and_exits_cleanly(
    daytona_options: dict[str, Any], fake_daytona: FakeDaytona, state_dir: Path
) -> None:
    # A thread inside an SDK call at interpreter exit used to abort the process (exit 134).
    env = {**os.environ, "DAYTONA_API_URL": daytona_options["api_url"], "PYTHONPATH": os.getcwd()}

    def hermes(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "hermes_tui", *args], env=env, capture_output=True, timeout=60
        )

    started = hermes("run", "--backend", "daytona", "--", f"cat {MARKER}; printf '\\377\\n'")
    assert started.returncode == 0, started.stderr
    proc_id = started.stdout.decode().strip()
    waited = hermes("wait", proc_id)
    assert waited.returncode == 0, waited.stderr
    logs = hermes("logs", proc_id)
    assert (logs.returncode, logs.stdout) == (0, b"only inside the test container\n\xff\n")


def test_a_broken_log_stream_resumes_without_gaps_or_repeats(
    backend: Backend, fake_daytona: FakeDaytona
) -> None:
    handle = backend.spawn(
        SpawnSpec(
            proc_id="resume",
            argv=backend.shell_argv("for i in $(seq 1 60); do echo line $i; sleep 0.02; done"),
        )
    )
    fake_daytona.break_log_streams = 3
    sink = Collector()
    backend.follow(handle, 0, sink)
    assert sink.done.wait(60), "no exit reported"
    assert fake_daytona.break_log_streams == 0  # the streams did break
    assert bytes(sink.data) == b"".join(b"line %d\n" % i for i in range(1, 61))
    assert sink.exit is not None and sink.exit.exit_code == 0


def test_a_line_followed_by_silence_arrives_at_once(backend: Backend) -> None:
    # The SDK holds back a trailing piece shorter than its stream marker until more data
    # comes: a newline written on its own used to wait for the process's next output.
    handle = backend.spawn(
        SpawnSpec(proc_id="quiet", argv=backend.shell_argv("sleep 0.5; echo first; sleep 30"))
    )
    sink = Collector()
    backend.follow(handle, 0, sink)
    try:
        wait_for(lambda: bytes(sink.data) == b"first\n", timeout=5, what="the first line")
    finally:
        backend.signal(handle, signal.SIGKILL)
