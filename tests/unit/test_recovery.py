"""Crash recovery: the owning process dies with SIGKILL, a fresh registry takes over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from registry import ProcessRegistry, ProcessStatus
from tests.conftest import pid_alive, wait_for

OWNER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from registry import ProcessRegistry

    registry = ProcessRegistry(Path(sys.argv[1]))
    ticker = registry.spawn(
        "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done", name="ticker")
    tty = registry.spawn("i=0; while :; do i=$((i+1)); echo pty $i; sleep 0.05; done",
                         pty=True)
    ends_7 = registry.spawn("sleep 0.5; echo bye; exit 7")
    ends_sig = registry.spawn("sleep 0.5; kill -USR1 $$")
    print(json.dumps({"ticker": ticker.id, "tty": tty.id, "ends_7": ends_7.id,
                      "ends_sig": ends_sig.id}), flush=True)
    time.sleep(3600)
""")


def _start_owner(state_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(state_dir)], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    ids: dict[str, str] = json.loads(owner.stdout.readline())
    return owner, ids


def test_processes_survive_sigkill_of_the_app_and_are_readopted(
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    owner, ids = _start_owner(state_dir)
    time.sleep(0.3)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert owner.stdout is not None
    owner.stdout.close()
    time.sleep(1.0)  # the short ones end while no hermes-tui is running

    registry = make_registry()
    report = registry.recover()
    assert {s.id for s in report.adopted} == {ids["ticker"], ids["tty"]}
    assert {s.id for s in report.ended} == {ids["ends_7"], ids["ends_sig"]}
    assert report.lost == [] and report.warnings == []

    ended_7 = registry.get(ids["ends_7"])
    assert (ended_7.status, ended_7.exit_code) == (ProcessStatus.EXITED, 7)
    assert registry.output(ended_7.id) == b"bye\n"
    ended_sig = registry.get(ids["ends_sig"])
    assert ended_sig.exit_code == -signal.SIGUSR1

    ticker = registry.get("ticker")
    assert ticker.is_running and ticker.recovered
    # Output keeps arriving after re-adoption, and nothing is missing or repeated.
    first = registry.log(ticker.id, limit=10**6).total_lines
    wait_for(lambda: registry.log(ticker.id, limit=10**6).total_lines > first + 20)
    lines = registry.log(ticker.id, 0, 10**6).lines
    assert lines == [f"tick {i}" for i in range(1, len(lines) + 1)]
    pty_lines = registry.log(ids["tty"], 0, 10**6).lines
    assert pty_lines == [f"pty {i}" for i in range(1, len(pty_lines) + 1)]

    # The re-adopted process can be steered like any other.
    registry.kill(ticker.id)
    assert ticker.status is ProcessStatus.KILLED
    registry.kill(ids["tty"])


def test_a_reused_pid_is_never_adopted(
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    first = make_registry()
    proc = first.spawn("sleep 60")
    assert proc.handle is not None
    first.close()
    # Make it look as if the process died and its pid went to an unrelated process: kill the
    # supervisor and the command without leaving an exit record, and point the record at a
    # live process of someone else (same pid would be reused; its start time differs).
    os.kill(proc.handle.supervisor_pid, signal.SIGKILL)
    os.kill(proc.handle.pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(proc.handle.pid))  # type: ignore[union-attr]
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        record = first.checkpoint.load()[proc.id]
        record["handle"]["pid"] = stranger.pid
        record["handle"]["supervisor_pid"] = stranger.pid
        first.checkpoint.update({proc.id: record})
        pid_path = Path(proc.handle.run_dir) / "pid"
        fields = pid_path.read_text().split()
        fields[0] = fields[3] = str(stranger.pid)
        pid_path.write_text(" ".join(fields) + "\n")

        second = make_registry()
        report = second.recover()
        assert [s.id for s in report.lost] == [proc.id]
        assert report.adopted == []
        lost = second.get(proc.id)
        assert lost.status is ProcessStatus.LOST
        assert lost.note and "no exit status" in lost.note
        assert stranger.poll() is None  # never signalled, never touched
    finally:
        stranger.kill()
        stranger.wait()


def test_corrupt_checkpoint_is_kept_aside_and_processes_still_recovered(
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    first = make_registry()
    running = first.spawn("echo alive; sleep 60", name="keeper")
    done = first.spawn("exit 4")
    first.wait(done.id, 10)
    wait_for(lambda: b"alive" in first.output(running.id))
    first.close()
    path = first.checkpoint.path
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated mid-write

    second = make_registry()
    report = second.recover()
    assert len(report.warnings) == 1 and "unreadable" in report.warnings[0]
    aside = list(state_dir.glob("processes.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].stat().st_size > 0
    assert [s.id for s in report.adopted] == [running.id]
    assert second.get("keeper").is_running
    assert b"alive" in second.output(running.id)
    assert second.get(done.id).exit_code == 4
    # A fresh, valid checkpoint was written.
    assert running.id in json.loads(path.read_text())["processes"]


def test_garbage_checkpoint_of_the_wrong_shape(
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "processes.json").write_text('{"processes": [1, 2, 3]}')
    registry = make_registry()
    report = registry.recover()
    assert report.warnings and "unreadable" in report.warnings[0]
    assert registry.processes() == []


def test_a_process_whose_supervisor_was_killed_is_reported_not_guessed(
    registry: ProcessRegistry,
) -> None:
    proc = registry.spawn("sleep 60")
    assert proc.handle is not None
    os.kill(proc.handle.supervisor_pid, signal.SIGKILL)
    time.sleep(0.3)
    assert proc.is_running  # the command itself lives on
    os.kill(proc.handle.pid, signal.SIGKILL)
    wait_for(lambda: not proc.is_running, what="the end to be noticed")
    assert proc.status is ProcessStatus.LOST
    assert proc.exit_code is None


def test_two_registries_on_one_state_dir_lose_no_updates(
    state_dir: Path,
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    one, two = make_registry(), make_registry()
    ids = []
    for n in range(10):
        ids.append((one if n % 2 else two).spawn("sleep 30").id)
    assert set(one.checkpoint.load()) == set(ids)


def test_cli_started_processes_outlive_the_command(state_dir: Path) -> None:
    env = {**os.environ, "HERMES_HOME": str(state_dir)}
    run = subprocess.run(
        [sys.executable, "-m", "hermes_tui", "run", "--", "sleep 30"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    proc_id = run.stdout.strip()
    record = json.loads((state_dir / "processes.json").read_text())["processes"][proc_id]
    assert pid_alive(record["handle"]["pid"])
    subprocess.run(
        [sys.executable, "-m", "hermes_tui", "kill", proc_id],
        env=env,
        check=True,
        capture_output=True,
    )
    assert not pid_alive(record["handle"]["pid"])
