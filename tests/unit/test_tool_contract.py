"""The upstream tool contract models were trained on: arguments, result shapes, cursors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.tools import ToolContext, run_tool
from registry import ProcessRegistry
from tests.conftest import wait_for


def call(ctx: ToolContext, name: str, args: Any) -> dict[str, Any]:
    raw = args if isinstance(args, str) else json.dumps(args)
    result: dict[str, Any] = json.loads(run_tool(name, raw, ctx))
    return result


def cli_tool(name: str, arguments: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERMES_HOME": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "hermes_tui", "tool", name, arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def ctx(registry: ProcessRegistry) -> ToolContext:
    return ToolContext(registry=registry, owner="chat-1")


def start(ctx: ToolContext, command: str, **extra: Any) -> str:
    result = call(ctx, "terminal", {"command": command, "background": True, **extra})
    assert "error" not in result or result["error"] is None, result
    return str(result["session_id"])


# -- arguments ---------------------------------------------------------------------------------
def test_upstream_only_arguments_are_accepted_with_a_note(ctx: ToolContext) -> None:
    result = call(ctx, "terminal", {"command": "echo hi", "task_id": "default", "made_up": 1})
    assert result["output"] == "hi"
    assert result["exit_code"] == 0
    assert "task_id" in result["note"] and "made_up" in result["note"]
    listed = call(ctx, "process", {"action": "list", "task_id": "default"})
    assert listed["processes"] == []
    assert "task_id" in listed["note"]


def test_float_timeouts(ctx: ToolContext) -> None:
    assert call(ctx, "terminal", {"command": "echo ok", "timeout": 2.5})["output"] == "ok"
    slow = call(ctx, "terminal", {"command": "sleep 20", "timeout": 0.5})
    assert slow["exit_code"] == 124
    assert slow["error"] == "Command timed out after 0.5 seconds"
    sid = start(ctx, "sleep 30")
    waited = call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 0.3})
    assert waited["status"] == "timeout"


@pytest.mark.parametrize(
    "arguments", ['{"command": "echo a\\u0000b"}', '{"command": "true", "timeout": 1e400}']
)
def test_bad_input_on_the_command_line_is_one_clear_line(arguments: str, state_dir: Path) -> None:
    result = cli_tool("terminal", arguments, state_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr == ""
    assert len(result.stdout.strip().splitlines()) == 1
    assert list(json.loads(result.stdout)) == ["error"]


# -- result shapes -----------------------------------------------------------------------------
def test_background_start_poll_list_kill_write_shapes(ctx: ToolContext, tmp_path: Path) -> None:
    started = call(
        ctx,
        "terminal",
        {"command": "echo hello; sleep 30", "background": True, "workdir": str(tmp_path)},
    )
    assert started["output"] == "Background process started"
    assert started["exit_code"] == 0
    assert started["error"] is None
    assert isinstance(started["pid"], int)
    sid = started["session_id"]
    wait_for(lambda: b"hello" in ctx.registry.output(sid), what="output")
    polled = call(ctx, "process", {"action": "poll", "session_id": sid})
    assert polled["pid"] == started["pid"]
    assert polled["new_output"].strip() == "hello"
    assert polled["output_preview"] == "hello"
    again = call(ctx, "process", {"action": "poll", "session_id": sid})
    assert again["new_output"] == "" and again["output_preview"] == "hello"
    (entry,) = call(ctx, "process", {"action": "list"})["processes"]
    assert entry["cwd"] == str(tmp_path)
    assert entry["started_at"].startswith(time.strftime("%Y-", time.gmtime()))
    assert entry["output_preview"] == "hello"
    assert call(ctx, "process", {"action": "kill", "session_id": sid})["status"] == "killed"
    killed_again = call(ctx, "process", {"action": "kill", "session_id": sid})
    assert killed_again["status"] == "already_exited"
    assert killed_again["exit_code"] == -15
    written = call(ctx, "process", {"action": "submit", "session_id": sid, "data": "x"})
    assert written["status"] == "already_exited"
    assert written["error"] == "Process has already finished"


def test_a_failed_background_start_has_the_upstream_shape(ctx: ToolContext) -> None:
    result = call(
        ctx, "terminal", {"command": "true", "background": True, "workdir": "/no/such/dir"}
    )
    assert result["output"] == "" and result["exit_code"] == -1
    assert result["error"].startswith("Failed to start background process: ")
    assert "does not exist" in result["error"]


def test_wait_reports_a_clamp_in_timeout_note(registry: ProcessRegistry) -> None:
    registry.max_wait = 0.5
    ctx = ToolContext(registry=registry)
    sid = start(ctx, "sleep 30")
    result = call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 3600})
    assert result["status"] == "timeout"
    assert result["timeout_note"] == (
        "Requested wait of 3600s was clamped to configured limit of 0.5s"
    )


# -- log and poll ------------------------------------------------------------------------------
def test_log_pages_into_the_whole_spool_beyond_the_memory_window(ctx: ToolContext) -> None:
    script = "for i in range(12000): print('line %06d ' % i + 'x' * 60)"
    sid = start(ctx, f'python3 -c "{script}"')
    call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 30})
    assert ctx.registry.get(sid).output.dropped > 0  # more than the 200 KB window
    first = call(ctx, "process", {"action": "log", "session_id": sid, "offset": 0, "limit": 3})
    assert first["output"].splitlines() == [f"line {i:06d} " + "x" * 60 for i in range(3)]
    assert first["showing"] == "lines 0-2 of 12000"
    assert "dropped_note" not in first
    middle = call(ctx, "process", {"action": "log", "session_id": sid, "offset": 5000, "limit": 2})
    assert middle["output"].splitlines()[0].startswith("line 005000 ")
    tail = call(ctx, "process", {"action": "log", "session_id": sid, "limit": 1})
    assert tail["output"].startswith("line 011999 ")


def test_poll_never_splits_a_multibyte_character(ctx: ToolContext) -> None:
    sid = start(ctx, "printf 'caf\\303'; read go; printf '\\251!\\n'; sleep 30")
    wait_for(lambda: ctx.registry.output(sid).endswith(b"\xc3"), what="half a character")
    first = call(ctx, "process", {"action": "poll", "session_id": sid})
    assert first["new_output"] == "caf"
    call(ctx, "process", {"action": "submit", "session_id": sid, "data": ""})
    wait_for(lambda: b"!" in ctx.registry.output(sid), what="the rest")
    second = call(ctx, "process", {"action": "poll", "session_id": sid})
    assert second["new_output"] == "é!\n"


def test_poll_cursor_survives_a_restart_and_is_shared_with_the_cli(
    make_registry: Callable[..., ProcessRegistry],
    state_dir: Path,
) -> None:
    first = make_registry()
    ctx = ToolContext(registry=first)
    sid = start(ctx, "echo one; read go; echo two; sleep 60")
    wait_for(lambda: b"one" in first.output(sid), what="one")
    assert call(ctx, "process", {"action": "poll", "session_id": sid})["new_output"] == "one\n"
    first.close()
    second = make_registry()
    second.recover()
    ctx2 = ToolContext(registry=second)
    assert call(ctx2, "process", {"action": "poll", "session_id": sid})["new_output"] == ""
    call(ctx2, "process", {"action": "submit", "session_id": sid, "data": ""})
    wait_for(lambda: b"two" in second.output(sid), what="two")
    polled = cli_tool("process", json.dumps({"action": "poll", "session_id": sid}), state_dir)
    assert json.loads(polled.stdout)["new_output"] == "two\n"
    assert call(ctx2, "process", {"action": "poll", "session_id": sid})["new_output"] == ""


# -- foreground output -------------------------------------------------------------------------
def test_huge_foreground_output_reports_its_true_size_and_is_saved(ctx: ToolContext) -> None:
    size = 5_000_000
    result = call(ctx, "terminal", {"command": f"head -c {size} /dev/zero | tr '\\0' a"})
    assert result["exit_code"] == 0
    assert result["output_total_bytes"] == size
    assert str(size) in result["note"]
    saved = Path(result["output_file"])
    assert saved.stat().st_size == size
    assert saved.stat().st_mode & 0o777 == 0o600
    assert len(result["output"]) < 51_000


def test_long_foreground_output_is_saved_whole(ctx: ToolContext) -> None:
    result = call(ctx, "terminal", {"command": "seq 1 100000"})
    assert "OUTPUT TRUNCATED" in result["output"]
    saved = Path(result["output_file"]).read_text()
    assert saved.splitlines() == [str(i) for i in range(1, 100001)]


# -- duplicates, secrets, the login shell ----------------------------------------------------
def test_duplicate_guard_returns_the_running_process(ctx: ToolContext, tmp_path: Path) -> None:
    first = start(ctx, "sleep 30", workdir=str(tmp_path))
    again = call(
        ctx, "terminal", {"command": "sleep 30", "background": True, "workdir": str(tmp_path)}
    )
    assert again["session_id"] == first
    assert "already running" in again["note"]
    elsewhere = start(ctx, "sleep 30")
    assert elsewhere != first
    forced = start(ctx, "sleep 30", workdir=str(tmp_path), force=True)
    assert forced not in (first, elsewhere)
    assert len([s for s in ctx.registry.processes() if s.is_running]) == 3


def test_secret_values_are_masked_in_tool_results(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_API_KEY", "sk-live-abcdef123456")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_tokenvalue999")
    monkeypatch.setenv("SHORT_TOKEN", "1")
    result = call(
        ctx,
        "terminal",
        {"command": "echo key=$SERVICE_API_KEY; echo gh=$GITHUB_TOKEN short=$SHORT_TOKEN"},
    )
    assert result["output"] == "key=***\ngh=*** short=1"
    sid = start(ctx, "echo $SERVICE_API_KEY; sleep 30")
    wait_for(lambda: b"sk-live" in ctx.registry.output(sid), what="output")
    polled = call(ctx, "process", {"action": "poll", "session_id": sid})
    assert "sk-live" not in json.dumps(polled)
    assert polled["new_output"] == "***\n"


def test_commands_run_through_the_login_shell(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    tools = home / "profile-bin"
    tools.mkdir(parents=True)
    probe = tools / "hermes-profile-probe"
    probe.write_text("#!/bin/sh\necho from-profile\n")
    probe.chmod(0o755)
    (home / ".profile").write_text(f'PATH="{tools}:$PATH"; export PATH\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("HERMES_LOGIN_SHELL", "1")  # the default outside the test suite
    result = call(ctx, "terminal", {"command": "hermes-profile-probe"})
    assert result == {"output": "from-profile", "exit_code": 0}
    sid = start(ctx, "hermes-profile-probe")
    assert call(ctx, "process", {"action": "wait", "session_id": sid})["output"] == (
        "from-profile\n"
    )
    plain = ProcessRegistry(
        ctx.registry.state_dir / "plain", backend_options={"local": {"login_shell": False}}
    )
    no_login = call(ToolContext(registry=plain), "terminal", {"command": "hermes-profile-probe"})
    assert no_login["exit_code"] == 127
