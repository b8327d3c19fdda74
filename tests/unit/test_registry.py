"""The registry on the local backend: real processes, real PTYs."""

from __future__ import annotations

import signal
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest

from registry import (
    CancelToken,
    ProcessExited,
    ProcessOutput,
    ProcessRegistry,
    ProcessStarted,
    ProcessStatus,
    RegistryError,
    RegistryEvent,
    UnknownProcessError,
)
from tests.conftest import pid_alive, wait_for


def test_twenty_processes_with_and_without_pty_keep_output_in_order(
    registry: ProcessRegistry,
) -> None:
    procs = [
        registry.spawn(f"for i in $(seq 1 50); do echo p{n}-$i; done", pty=n % 2 == 0)
        for n in range(20)
    ]
    for n, proc in enumerate(procs):
        result = registry.wait(proc.id, 30)
        assert result.status == "exited", proc.id
        assert proc.exit_code == 0
        lines = registry.log(proc.id, 0, 1000).lines
        assert lines == [f"p{n}-{i}" for i in range(1, 51)]
        raw = registry.output(proc.id)
        assert (b"\r\n" in raw) == proc.pty  # a PTY turns LF into CRLF


def test_write_and_submit_reach_a_repl_under_a_pty(registry: ProcessRegistry) -> None:
    proc = registry.spawn(["python3", "-i", "-q"], pty=True)
    registry.submit(proc.id, "print(6 * 7)")
    wait_for(lambda: b"\n42" in registry.output(proc.id), what="42 from the REPL")
    registry.write(proc.id, "x = 'a' + 'b'\r")
    registry.submit(proc.id, "print(x * 3)")
    wait_for(lambda: b"ababab" in registry.output(proc.id), what="ababab")
    registry.submit(proc.id, "raise SystemExit(3)")
    assert registry.wait(proc.id, 10).status == "exited"
    assert proc.exit_code == 3


def test_write_reaches_stdin_without_a_pty(registry: ProcessRegistry) -> None:
    proc = registry.spawn('read a; read b; echo "got $a and $b"')
    registry.submit(proc.id, "one")
    registry.write(proc.id, b"two\n")
    assert registry.wait(proc.id, 10).status == "exited"
    assert registry.output(proc.id) == b"got one and two\n"


def test_resize_is_seen_by_the_child(registry: ProcessRegistry) -> None:
    proc = registry.spawn("stty size; read x; stty size", pty=True, rows=30, cols=100)
    wait_for(lambda: b"30 100" in registry.output(proc.id), what="initial size")
    registry.resize(proc.id, 40, 132)
    registry.submit(proc.id, "")
    registry.wait(proc.id, 10)
    assert b"40 132" in registry.output(proc.id)


def test_sigwinch_reaches_the_foreground_program(registry: ProcessRegistry) -> None:
    script = "trap 'echo winch $(stty size)' WINCH; echo ready; while :; do sleep 0.05; done"
    proc = registry.spawn(["bash", "-c", script], pty=True)
    wait_for(lambda: b"ready" in registry.output(proc.id))
    registry.resize(proc.id, 33, 77)
    wait_for(lambda: b"winch 33 77" in registry.output(proc.id), what="SIGWINCH")


def test_five_megabytes_of_output_keep_a_bounded_buffer(registry: ProcessRegistry) -> None:
    tracemalloc.start()
    try:
        proc = registry.spawn(
            'python3 -c "import sys\nfor i in range(70000): '
            "sys.stdout.write('line %06d ' % i + 'x' * 60 + '\\n')\""
        )
        registry.wait(proc.id, 60)
        wait_for(lambda: proc.output.total >= 70000 * 73)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert proc.output.total == 70000 * 73  # 5.1 MB, all of it seen
    page = registry.log(proc.id, limit=10**6)
    text = "\n".join(page.lines)
    assert len(text.encode()) <= 200_000
    assert page.lines[-1].startswith("line 069999 ")
    assert page.total_lines == 70000
    assert page.first_line == page.dropped_lines > 0
    assert page.lines[0].startswith(f"line {page.first_line:06d} ")
    assert len(registry.output(proc.id)) <= 200_000
    assert peak < 5_000_000  # the 5 MB never sat in memory at once
    # The spool on disk still has everything.
    assert registry.read_spool(proc.id, 0, 100).startswith(b"line 000000 ")


def test_log_offsets_are_absolute_line_numbers(registry: ProcessRegistry) -> None:
    proc = registry.spawn("seq 0 99")
    registry.wait(proc.id, 10)
    page = registry.log(proc.id, offset=10, limit=5)
    assert page.lines == ["10", "11", "12", "13", "14"]
    assert page.first_line == 10
    assert page.total_lines == 100
    assert registry.log(proc.id, limit=3).lines == ["97", "98", "99"]


def test_poll_returns_only_new_output(registry: ProcessRegistry) -> None:
    proc = registry.spawn("echo first; read x; echo second")
    wait_for(lambda: b"first" in registry.output(proc.id))
    assert registry.poll(proc.id).new_output == b"first\n"
    assert registry.poll(proc.id).new_output == b""
    registry.submit(proc.id, "")
    registry.wait(proc.id, 10)
    assert registry.poll(proc.id).new_output == b"second\n"
    # Another reader has its own cursor.
    assert registry.poll(proc.id, reader="ui").new_output == b"first\nsecond\n"


def test_wait_above_the_maximum_is_clamped_with_a_note(
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    registry = make_registry(max_wait=0.5)
    proc = registry.spawn("sleep 30")
    result = registry.wait(proc.id, 1000)
    assert result.status == "timeout"
    assert result.note is not None
    assert "clamped" in result.note and "0.5s" in result.note
    assert 0.4 < result.waited < 5


def test_wait_interrupted_from_another_thread_returns_promptly(
    registry: ProcessRegistry,
) -> None:
    proc = registry.spawn("sleep 30")
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    started = time.monotonic()
    result = registry.wait(proc.id, 60, cancel)
    assert result.status == "interrupted"
    assert result.note is not None and "interrupted" in result.note
    assert time.monotonic() - started < 5
    assert proc.is_running


def test_wait_returns_at_exit(registry: ProcessRegistry) -> None:
    proc = registry.spawn("sleep 0.3; exit 7")
    result = registry.wait(proc.id, 60)
    assert (result.status, proc.exit_code, result.note) == ("exited", 7, None)
    assert result.waited < 10


def test_kill_escalates_to_sigkill_for_a_process_that_ignores_term(
    registry: ProcessRegistry,
) -> None:
    proc = registry.spawn(["bash", "-c", "trap '' TERM; echo armed; sleep 60 & wait"])
    wait_for(lambda: b"armed" in registry.output(proc.id))
    child_pid = proc.pid
    assert child_pid is not None
    registry.kill(proc.id, grace=0.5)
    assert proc.status is ProcessStatus.KILLED
    assert proc.exit_code == -signal.SIGKILL
    assert proc.kill_reason is not None and "SIGKILL" in proc.kill_reason
    assert not pid_alive(child_pid)


def test_kill_reaches_the_whole_process_group(registry: ProcessRegistry) -> None:
    proc = registry.spawn("sleep 60 & echo $!; wait")
    wait_for(lambda: registry.output(proc.id).strip().isdigit())
    grandchild = int(registry.output(proc.id))
    registry.kill(proc.id)
    assert proc.status is ProcessStatus.KILLED
    wait_for(lambda: not pid_alive(grandchild), what="the background grandchild to die")


def test_signal_that_does_not_end_the_process(registry: ProcessRegistry) -> None:
    proc = registry.spawn(["bash", "-c", "trap 'echo usr1' USR1; while :; do sleep 0.05; done"])
    time.sleep(0.3)
    registry.send_signal(proc.id, signal.SIGUSR1)
    wait_for(lambda: b"usr1" in registry.output(proc.id))
    assert proc.is_running
    registry.send_signal(proc.id, signal.SIGINT)
    registry.wait(proc.id, 10)
    assert proc.status is ProcessStatus.KILLED
    assert proc.kill_reason == "SIGINT by user"


def test_cleanup_kills_only_that_sessions_processes(registry: ProcessRegistry) -> None:
    mine = [registry.spawn("sleep 60", owner="episode-1") for _ in range(3)]
    other = registry.spawn("sleep 60", owner="chat-2")
    assert registry.has_active("episode-1")
    killed = registry.cleanup("episode-1")
    assert {s.id for s in killed} == {s.id for s in mine}
    assert all(s.status is ProcessStatus.KILLED for s in mine)
    assert not registry.has_active("episode-1")
    assert other.is_running
    assert [s.id for s in registry.processes("chat-2")] == [other.id]


def test_events_report_start_output_and_exit_in_order(registry: ProcessRegistry) -> None:
    events: list[RegistryEvent] = []
    registry.subscribe(events.append)
    proc = registry.spawn("echo hello; exit 2")
    registry.wait(proc.id, 10)
    wait_for(lambda: any(isinstance(e, ProcessExited) for e in events))
    kinds = [type(e) for e in events if e.proc is proc]
    assert kinds[0] is ProcessStarted and kinds[-1] is ProcessExited
    output = b"".join(e.data for e in events if isinstance(e, ProcessOutput))
    assert output == b"hello\n"


def test_unknown_ids_and_dead_processes_give_clear_errors(registry: ProcessRegistry) -> None:
    with pytest.raises(UnknownProcessError, match="no process with id 'proc_nope'"):
        registry.get("proc_nope")
    proc = registry.spawn("true")
    registry.wait(proc.id, 10)
    with pytest.raises(RegistryError, match="not running"):
        registry.write(proc.id, "x")
    with pytest.raises(RegistryError, match="not running"):
        registry.resize(proc.id, 10, 10)
    with pytest.raises(RegistryError, match="empty"):
        registry.spawn("   ")
    with pytest.raises(RegistryError, match="working directory does not exist"):
        registry.spawn("true", workdir="/nonexistent/dir")
    with pytest.raises(RegistryError, match="cannot run 'no-such-program-xyz'"):
        registry.spawn(["no-such-program-xyz"])
    with pytest.raises(RegistryError, match="unknown backend"):
        registry.spawn("true", backend="vax")


def test_names_and_prefixes_find_processes(registry: ProcessRegistry) -> None:
    proc = registry.spawn("sleep 30", name="server")
    assert registry.get("server") is proc
    assert registry.get(proc.id[:8]) is proc


def test_state_files_are_private(registry: ProcessRegistry) -> None:
    proc = registry.spawn("echo hi")
    registry.wait(proc.id, 10)
    assert registry.state_dir.stat().st_mode & 0o777 == 0o700
    assert registry.checkpoint.path.stat().st_mode & 0o777 == 0o600
    assert proc.handle is not None
    from pathlib import Path

    run_dir = Path(proc.handle.run_dir)
    assert run_dir.stat().st_mode & 0o777 == 0o700
    for name in ("cmd", "workdir", "info.json", "pid", "out", "exit"):
        assert (run_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_secrets_in_the_environment_never_reach_disk(registry: ProcessRegistry) -> None:
    secret = "sk-test-very-secret-value-123"
    proc = registry.spawn("echo started", env={"OPENAI_API_KEY": secret})
    registry.wait(proc.id, 10)
    assert proc.handle is not None
    from pathlib import Path

    files = [registry.checkpoint.path, *Path(proc.handle.run_dir).iterdir()]
    for path in files:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_rename_lifetime_and_restart(registry: ProcessRegistry) -> None:
    events: list[RegistryEvent] = []
    registry.subscribe(events.append)
    proc = registry.spawn("echo run; sleep 60", name="web")
    registry.rename(proc.id, "server")
    assert registry.get("server") is proc
    other = registry.spawn("sleep 60")
    with pytest.raises(RegistryError, match="already used"):
        registry.rename(other.id, "server")
    registry.set_lifetime(proc.id, stop_on_quit=True)
    assert registry.checkpoint.load()[proc.id]["stop_on_quit"] is True
    restarted = registry.restart("server")
    assert proc.status is ProcessStatus.KILLED
    assert restarted.id != proc.id
    assert (restarted.name, restarted.command, restarted.stop_on_quit) == (
        "server",
        "echo run; sleep 60",
        True,
    )
    wait_for(lambda: b"run" in registry.output(restarted.id))
    assert registry.stop_on_quit() == [restarted]
    assert restarted.status is ProcessStatus.KILLED
    assert other.is_running
    from registry import ProcessUpdated

    assert sum(isinstance(e, ProcessUpdated) for e in events) == 2


def test_a_checkpoint_write_cut_short_leaves_no_temporary_file(
    registry: ProcessRegistry,
) -> None:
    import subprocess

    # A writer that died between creating its temporary file and renaming it.
    dead = subprocess.Popen(["true"])
    dead.wait()
    stray = registry.checkpoint.path.with_name(f"processes.json.{dead.pid}.tmp")
    stray.write_text("{")
    proc = registry.spawn("true")
    registry.wait(proc.id, 10)
    assert not stray.exists()
    assert list(registry.state_dir.glob("*.tmp")) == []


def test_close_waits_for_a_checkpoint_write_in_progress(
    registry: ProcessRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    from backends.atomic import write_private as real
    from registry import checkpoint as checkpoint_module

    writing = threading.Event()

    def slow_write(path: object, data: bytes) -> None:
        writing.set()
        time.sleep(0.3)
        real(path, data)  # type: ignore[arg-type]

    monkeypatch.setattr(checkpoint_module, "write_private", slow_write)
    writer = threading.Thread(target=registry.checkpoint.update, args=({"x": {"id": "x"}},))
    writer.start()
    assert writing.wait(5)
    registry.close()
    # Read without the lock: the write is complete when close() returns.
    assert '"x"' in registry.checkpoint.path.read_text()
    assert list(registry.state_dir.glob("*.tmp")) == []
    writer.join()
