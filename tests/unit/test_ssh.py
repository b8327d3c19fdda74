"""The SSH backend against a real sshd on 127.0.0.1: host keys, recovery, dropped links."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backends import BackendUnavailableError, create_backend
from backends.ssh import SSHBackend
from registry import ProcessRegistry, ProcessStatus
from tests.conftest import wait_for
from tests.sshd import SSHServer


def test_an_unknown_host_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    options = {**sshd.options(), "known_hosts": str(empty)}
    with pytest.raises(BackendUnavailableError, match="ssh-keyscan -p"):
        create_backend("ssh", state_dir=tmp_path, **options)
    assert empty.read_text() == ""  # nothing was added silently


def test_processes_survive_the_app_and_are_readopted_over_ssh(
    sshd: SSHServer,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    options = {"ssh": {**sshd.options(), "remote_root": str(tmp_path / "remote")}}
    first = make_registry(backend_options=options)
    ticker = first.spawn(
        "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done", backend="ssh"
    )
    done = first.spawn("echo bye; exit 5", backend="ssh")
    first.wait(done.id, 20)
    assert (done.status, done.exit_code) == (ProcessStatus.EXITED, 5)
    wait_for(lambda: first.log(ticker.id, limit=10**6).total_lines > 5)
    first.close()
    backend = first.backend("ssh")
    assert isinstance(backend, SSHBackend)
    backend._client.close()  # the connection drops with the app

    second = make_registry(backend_options=options)
    report = second.recover()
    assert [s.id for s in report.adopted] == [ticker.id]
    adopted = second.get(ticker.id)
    count = second.log(ticker.id, limit=10**6).total_lines
    wait_for(lambda: second.log(ticker.id, limit=10**6).total_lines > count + 10, timeout=20)
    lines = second.log(ticker.id, 0, 10**6).lines
    assert lines == [f"tick {i}" for i in range(1, len(lines) + 1)]  # no gap, no repeat
    assert second.output(done.id) == b"bye\n"
    second.kill(adopted.id)
    assert adopted.status is ProcessStatus.KILLED


def test_a_dropped_connection_is_resumed_without_losing_output(
    sshd: SSHServer,
    tmp_path: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    options = {"ssh": {**sshd.options(), "remote_root": str(tmp_path / "remote")}}
    registry = make_registry(backend_options=options)
    proc = registry.spawn("for i in $(seq 1 60); do echo line $i; sleep 0.05; done", backend="ssh")
    wait_for(lambda: b"line 5\n" in registry.output(proc.id))
    backend = registry.backend("ssh")
    assert isinstance(backend, SSHBackend)
    transport = backend._client.get_transport()
    assert transport is not None
    transport.close()  # the network drops mid-stream
    registry.wait(proc.id, 30)
    assert proc.exit_code == 0
    assert registry.log(proc.id, 0, 1000).lines == [f"line {i}" for i in range(1, 61)]


def test_the_cli_uses_backend_settings_from_the_config(
    sshd: SSHServer, tmp_path: Path, state_dir: Path
) -> None:
    import json
    import os
    import subprocess
    import sys

    import tomli_w

    config = tmp_path / "config.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "backends": {
                    "ssh": {
                        **{k: v for k, v in sshd.options().items()},
                        "remote_root": str(tmp_path / "r"),
                    }
                }
            }
        )
    )
    env = {**os.environ, "HERMES_HOME": str(state_dir)}

    def hermes(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "hermes_tui", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout

    proc_id = hermes("run", "--backend", "ssh", "--", "echo over ssh; exit 2").strip()
    assert hermes("wait", proc_id, "--timeout", "30").strip() == f"{proc_id}: exited 2"
    assert hermes("logs", proc_id) == "over ssh\n"
    (entry,) = json.loads(hermes("ps", "--all", "--json"))
    assert entry["backend"] == "ssh"
