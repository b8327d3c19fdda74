"""The hermes-tui command line, run as a real command in a subprocess."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import pid_alive, wait_for


def hermes(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "hermes_tui", *args], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(f"hermes-tui {' '.join(args)} failed: {result.stderr}")
    return result


def ps() -> list[dict[str, Any]]:
    processes: list[dict[str, Any]] = json.loads(hermes("ps", "--all", "--json").stdout)
    return processes


@pytest.fixture(autouse=True)
def _kill_everything(state_dir: Path) -> Any:
    yield
    for process in ps():
        if process["status"] == "running":
            hermes("kill", process["id"], check=False)


def test_run_ps_logs_wait(state_dir: Path) -> None:
    proc_id = hermes("run", "--name", "counter", "--", "seq 1 5; exit 3").stdout.strip()
    assert proc_id.startswith("proc_")
    assert hermes("wait", proc_id, "--timeout", "20").stdout.strip() == f"{proc_id}: exited 3"
    assert hermes("logs", "counter").stdout == "1\n2\n3\n4\n5\n"
    assert hermes("logs", proc_id, "--tail", "2").stdout == "4\n5\n"
    (entry,) = ps()
    assert {k: entry[k] for k in ("id", "name", "status", "exit_code", "backend", "pty")} == {
        "id": proc_id,
        "name": "counter",
        "status": "exited",
        "exit_code": 3,
        "backend": "local",
        "pty": False,
    }
    for key in ("command", "pid", "started_at", "ended_at"):
        assert entry[key]
    assert hermes("ps").stdout.startswith("no running processes")


def test_argv_form_runs_without_a_shell(state_dir: Path) -> None:
    proc_id = hermes("run", "--", "echo", "$HOME", "a;b").stdout.strip()
    hermes("wait", proc_id)
    assert hermes("logs", proc_id).stdout == "$HOME a;b\n"


def test_send_kill_and_signal(state_dir: Path) -> None:
    proc_id = hermes("run", "--pty", "--", "cat").stdout.strip()
    assert hermes("send", proc_id, "hello there", "--enter").stdout.strip() == "12 bytes sent"
    wait_for(lambda: "hello there" in hermes("logs", proc_id).stdout, what="the echo")
    assert "hello there\nhello there\n" in hermes("logs", proc_id).stdout  # echo, then cat
    assert hermes("kill", proc_id, "--signal", "INT").stdout.strip() == (
        f"{proc_id}: killed -2 (SIGINT by user)"
    )
    other = hermes("run", "--", "sleep 60").stdout.strip()
    assert hermes("kill", other).stdout.strip() == f"{other}: killed -15 (SIGTERM by user)"


def test_logs_follow_prints_until_the_end(state_dir: Path) -> None:
    proc_id = hermes("run", "--", "for i in 1 2 3; do echo $i; sleep 0.2; done").stdout.strip()
    assert hermes("logs", "-f", proc_id).stdout == "1\n2\n3\n"


def test_tool_command_behaves_like_the_agent(state_dir: Path) -> None:
    result = json.loads(hermes("tool", "terminal", '{"command": "echo hi"}').stdout)
    assert result == {"output": "hi", "exit_code": 0}
    started = json.loads(
        hermes("tool", "terminal", '{"command": "sleep 60", "background": true}').stdout
    )
    listed = json.loads(hermes("tool", "process", '{"action": "list"}').stdout)
    assert [p["session_id"] for p in listed["processes"]] == [started["session_id"]]
    killed = json.loads(
        hermes(
            "tool", "process", json.dumps({"action": "kill", "session_id": started["session_id"]})
        ).stdout
    )
    assert killed["status"] == "killed"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("tool", "process", "{bad json"), 1, "arguments are not valid JSON"),
        (("tool", "nope", "{}"), 1, "unknown tool 'nope'"),
        (("tool", "process", '{"action": "poll", "session_id": "proc_x"}'), 1, None),
        (("kill", "proc_missing"), 1, "no process with id 'proc_missing'"),
        (("logs", "proc_missing"), 1, "no process with id 'proc_missing'"),
        (("wait", "proc_missing"), 1, "no process with id 'proc_missing'"),
        (("send", "proc_missing", "x"), 1, "no process with id 'proc_missing'"),
        (("attach", "proc_missing"), 1, "no process with id 'proc_missing'"),
        (("run", "--backend", "modal", "--", "true"), 1, "MODAL_TOKEN_ID"),
        (("run", "--backend", "docker", "--", "true"), 1, "is not on this machine and pulling"),
        (("run", "--workdir", "/no/such", "--", "true"), 1, "working directory does not exist"),
        (("kill", "proc_x", "--bogus"), 2, "unrecognized arguments: --bogus"),
        (("kill",), 2, "the following arguments are required: id"),
        (("frobnicate",), 2, "invalid choice"),
    ],
)
def test_errors_are_one_clear_line(
    state_dir: Path, args: tuple[str, ...], code: int, message: str | None
) -> None:
    result = hermes(*args, check=False)
    assert result.returncode == code
    if message is None:  # a tool error: the JSON result on stdout, like the agent sees it
        assert "no process with id" in json.loads(result.stdout)["error"]
        return
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hermes-tui: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_the_top_level_backend_applies_to_every_subcommand(state_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran-on-host"
    # Not configured, ssh cannot start: the command must fail, never run on the host instead.
    result = hermes("--backend", "ssh", "run", "--", f"touch {marker}", check=False)
    assert result.returncode == 1 and "ssh backend" in result.stderr
    result = hermes(
        "--backend",
        "ssh",
        "tool",
        "terminal",
        json.dumps({"command": f"touch {marker}"}),
        check=False,
    )
    assert result.returncode == 1 and "ssh backend" in json.loads(result.stdout)["error"]
    assert not marker.exists()
    result = hermes("--backend", "ssh", "run", "--backend", "local", "--", "true", check=False)
    assert result.returncode == 1 and "conflicting backends" in result.stderr

    proc_id = hermes("--backend", "local", "run", "--", "echo hi").stdout.strip()
    assert hermes("--backend", "local", "wait", proc_id).stdout.strip() == f"{proc_id}: exited 0"
    assert [
        p["id"] for p in json.loads(hermes("--backend", "local", "ps", "--all", "--json").stdout)
    ] == [proc_id]
    assert json.loads(hermes("--backend", "docker", "ps", "--all", "--json").stdout) == []
    for args in (
        ("logs", proc_id),
        ("wait", proc_id),
        ("kill", proc_id),
        ("send", proc_id, "x"),
        ("attach", proc_id),
    ):
        result = hermes("--backend", "ssh", *args, check=False)
        assert result.returncode == 1
        assert f"process {proc_id} runs on the local backend, not on ssh" in result.stderr


def test_an_unusable_state_dir_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {**os.environ, "HERMES_HOME": str(blocker / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "hermes_tui", "ps"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"hermes-tui: error: cannot use the directory {blocker}")
    assert "HERMES_HOME" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_subcommand_without_a_terminal_says_so(state_dir: Path) -> None:
    result = hermes(check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "hermes-tui: error: the app needs a terminal; the subcommands (see --help) work without one"
    )
    assert "usage: hermes-tui" in hermes("--help").stdout


def test_corrupt_checkpoint_warns_and_keeps_the_file(state_dir: Path) -> None:
    proc_id = hermes("run", "--", "sleep 60").stdout.strip()
    (state_dir / "processes.json").write_text("{ this is not json")
    result = hermes("ps", "--json")
    assert "warning:" in result.stderr
    assert "processes.json" in result.stderr
    assert [p["id"] for p in json.loads(result.stdout)] == [proc_id]
    assert list(state_dir.glob("processes.json.corrupt-*"))


def _read_until(fd: int, needle: bytes, timeout: float = 10) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"{needle!r} not seen; got {seen[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_attach_types_into_the_process_and_detaches(state_dir: Path) -> None:
    proc_id = hermes("run", "--pty", "--", "cat").stdout.strip()
    master, slave = os.openpty()
    attach = subprocess.Popen(
        [sys.executable, "-m", "hermes_tui", "attach", proc_id],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        _read_until(master, b"ctrl+^ detaches")
        os.write(master, b"typed by a person\r")
        _read_until(master, b"typed by a person\r\ntyped by a person")
        os.write(master, b"\x1e")  # ctrl+^
        _read_until(master, b"detached from")
        assert attach.wait(10) == 0
    finally:
        attach.kill()
        attach.wait()
        os.close(master)
    # The process never saw the detach key and is still running.
    assert "typed by a person" in hermes("logs", proc_id).stdout
    assert "\x1e" not in hermes("logs", proc_id).stdout
    (entry,) = ps()
    assert entry["status"] == "running"
    assert pid_alive(entry["pid"])


def test_attach_refuses_a_process_without_a_terminal(state_dir: Path) -> None:
    proc_id = hermes("run", "--", "sleep 60").stdout.strip()
    result = hermes("attach", proc_id, check=False)
    assert result.returncode == 1
    assert "has no terminal" in result.stderr


def test_read_only_commands_touch_no_backend_and_write_nothing(state_dir: Path) -> None:
    # A process recorded on an SSH host that cannot be reached: `ps` and `logs` list it as last
    # seen, without connecting (no probe, no follower) and without rewriting the checkpoint.
    handle = {
        "proc_id": "proc_remote",
        "backend": "ssh",
        "run_dir": "/nowhere",
        "pid": 1,
        "start_ticks": 1,
        "supervisor_pid": 1,
        "supervisor_start_ticks": 1,
        "boot_id": "",
        "nonce": "",
        "pty": False,
        "sandbox": {"host": "127.0.0.1", "port": "1", "user": ""},
    }
    record = {
        "id": "proc_remote",
        "command": "make",
        "argv": ["make"],
        "backend": "ssh",
        "workdir": "",
        "pty": False,
        "session_key": "default",
        "started_at": 1.0,
        "status": "running",
        "handle": handle,
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = state_dir / "processes.json"
    checkpoint.write_text(json.dumps({"version": 1, "processes": {"proc_remote": record}}))
    before = checkpoint.read_bytes()
    listed = hermes("ps")
    assert "proc_remote" in listed.stdout and "running" in listed.stdout
    assert listed.stderr == ""  # no "could not look for 1 ssh process(es)": nothing was asked
    assert hermes("ps", "--all", "--json").stderr == ""
    assert checkpoint.read_bytes() == before
    record["status"] = "exited"
    checkpoint.write_text(json.dumps({"version": 1, "processes": {"proc_remote": record}}))
