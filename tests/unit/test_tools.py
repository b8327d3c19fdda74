"""The agent's terminal and process tools, through the same entry point the agent uses."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from hermes_tui.tools import TOOL_TO_TOOLSET, TOOLS, TOOLSETS, ToolContext, run_tool, tools_in
from registry import ProcessRegistry


def call(ctx: ToolContext, name: str, args: Any) -> dict[str, Any]:
    raw = args if isinstance(args, str) else json.dumps(args)
    result: dict[str, Any] = json.loads(run_tool(name, raw, ctx))
    return result


@pytest.fixture
def ctx(registry: ProcessRegistry) -> ToolContext:
    return ToolContext(registry=registry, owner="chat-1")


def test_every_tool_is_in_a_toolset_and_process_goes_with_terminal() -> None:
    assert set(TOOL_TO_TOOLSET) == set(TOOLS)
    for name, toolset in TOOL_TO_TOOLSET.items():
        assert name in TOOLSETS[toolset]
    for names in TOOLSETS.values():
        if "terminal" in names:
            assert "process" in names
    assert set(TOOLSETS["all"]) == set(TOOLS)
    assert "search" not in TOOLS


def test_schemas_are_valid_openai_function_tools() -> None:
    for tool in tools_in(["all"]):
        schema = tool.schema()
        assert schema["type"] == "function"
        function = schema["function"]
        assert function["name"] == tool.name
        assert function["parameters"]["type"] == "object"
        assert set(function["parameters"]["required"]) <= set(function["parameters"]["properties"])
        json.dumps(schema)
    assert "background" in TOOLS["terminal"].description
    process_actions = TOOLS["process"].parameters["properties"]["action"]["enum"]
    assert process_actions == ["list", "poll", "log", "wait", "kill", "write", "submit"]


def test_foreground_command(ctx: ToolContext, tmp_path: Any) -> None:
    result = call(
        ctx,
        "terminal",
        {"command": "echo out; echo err >&2; pwd; exit 3", "workdir": str(tmp_path)},
    )
    assert result == {"output": f"out\nerr\n{tmp_path}", "exit_code": 3}


def test_foreground_timeout_kills_the_command(ctx: ToolContext) -> None:
    started = time.monotonic()
    result = call(ctx, "terminal", {"command": "echo begun; sleep 30", "timeout": 1})
    assert time.monotonic() - started < 10
    assert result["exit_code"] == 124
    assert result["error"] == "Command timed out after 1 seconds"
    assert result["output"] == "begun"


def test_foreground_huge_output_is_truncated_with_a_note(ctx: ToolContext) -> None:
    result = call(ctx, "terminal", {"command": "seq 1 100000"})
    assert "OUTPUT TRUNCATED" in result["output"]
    assert result["output"].startswith("1\n2\n")
    assert result["output"].endswith("99999\n100000")
    assert len(result["output"]) < 51_000


def test_foreground_interrupt(ctx: ToolContext) -> None:
    threading.Timer(0.3, ctx.cancel.cancel).start()
    result = call(ctx, "terminal", {"command": "sleep 30"})
    assert result["exit_code"] == 130
    assert "interrupted" in result["error"]


def test_background_workflow(ctx: ToolContext) -> None:
    started = call(
        ctx,
        "terminal",
        {
            "command": "echo ready; read line; echo got $line; read again; exit 5",
            "background": True,
        },
    )
    assert started["status"] == "running"
    assert isinstance(started["pid"], int)
    sid = started["session_id"]
    listed = call(ctx, "process", {"action": "list"})["processes"]
    assert [p["session_id"] for p in listed] == [sid]
    deadline = time.monotonic() + 10
    seen = ""
    while "ready" not in seen and time.monotonic() < deadline:
        seen += call(ctx, "process", {"action": "poll", "session_id": sid})["new_output"]
    assert seen.strip() == "ready"
    assert call(ctx, "process", {"action": "submit", "session_id": sid, "data": "hello"}) == {
        "session_id": sid,
        "status": "ok",
        "bytes_written": 6,
    }
    call(ctx, "process", {"action": "write", "session_id": sid, "data": "x\n"})
    waited = call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 10})
    assert waited["status"] == "exited"
    assert waited["exit_code"] == 5
    assert waited["output"] == "ready\ngot hello\n"
    log = call(ctx, "process", {"action": "log", "session_id": sid, "offset": 1, "limit": 1})
    assert log["output"] == "got hello"
    assert log["total_lines"] == 2
    assert log["showing"] == "lines 1-1 of 2"
    # Other chat sessions do not see it in their list.
    other = ToolContext(registry=ctx.registry, owner="chat-2")
    assert call(other, "process", {"action": "list"}) == {"processes": []}


def test_kill_through_the_tool(ctx: ToolContext) -> None:
    sid = call(ctx, "terminal", {"command": "sleep 60", "background": True})["session_id"]
    result = call(ctx, "process", {"action": "kill", "session_id": sid})
    assert result["status"] == "killed"
    assert result["kill_reason"] == "SIGTERM by agent"
    again = call(ctx, "process", {"action": "kill", "session_id": sid})
    assert again["note"] == "the process had already ended"


def test_pty_background_process_gets_enter_as_cr(ctx: ToolContext) -> None:
    sid = call(ctx, "terminal", {"command": "python3 -q -i", "background": True, "pty": True})[
        "session_id"
    ]
    call(ctx, "process", {"action": "submit", "session_id": sid, "data": "print(2 ** 10)"})
    deadline = time.monotonic() + 10
    out = ""
    while "1024" not in out and time.monotonic() < deadline:
        out += call(ctx, "process", {"action": "poll", "session_id": sid})["new_output"]
        time.sleep(0.05)
    assert "\n1024" in out
    assert "\x1b" not in out  # escapes are stripped for the model


def test_wait_clamped_note(registry: ProcessRegistry) -> None:
    registry.max_wait = 0.5
    ctx = ToolContext(registry=registry)
    sid = call(ctx, "terminal", {"command": "sleep 30", "background": True})["session_id"]
    result = call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 3600})
    assert result["status"] == "timeout"
    assert "clamped" in result["note"]
    assert "still running" in result["note"]


def test_wait_interrupted(ctx: ToolContext) -> None:
    sid = call(ctx, "terminal", {"command": "sleep 30", "background": True})["session_id"]
    threading.Timer(0.3, ctx.cancel.cancel).start()
    result = call(ctx, "process", {"action": "wait", "session_id": sid, "timeout": 60})
    assert result["status"] == "interrupted"
    assert "interrupted" in result["note"]


def test_check_interval_is_clamped_and_handed_to_the_watcher(registry: ProcessRegistry) -> None:
    started: list[tuple[str, float]] = []
    ctx = ToolContext(registry=registry, start_watcher=lambda s, n, mode: started.append((s.id, n)))
    result = call(ctx, "terminal", {"command": "sleep 5", "background": True, "check_interval": 5})
    assert started == [(result["session_id"], 30.0)]
    assert result["check_interval"] == 30.0
    assert "raised to the minimum" in result["check_interval_note"]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("process", {"action": "poll", "session_id": "proc_nope"}, "no process with id"),
        ("process", {"action": "dance", "session_id": "x"}, "'action' must be one of"),
        ("process", {"action": "poll"}, "'session_id' is required for poll"),
        ("process", {}, "missing required argument 'action'"),
        ("terminal", {"command": "true", "timeout": "soon"}, "'timeout' must be a number"),
        ("terminal", {"command": "true", "timeout": 0}, "'timeout' must be more than 0"),
        ("terminal", {"command": "true", "timeout": -1}, "'timeout' must be at least 0"),
        ("terminal", '{"command": "true", "timeout": 1e400}', "'timeout' must be a finite"),
        ("terminal", {"command": "echo a\u0000b"}, "'command' must not contain a NUL"),
        ("terminal", {"command": "true", "workdir": "/tmp\u0000x"}, "'workdir' must not"),
        ("terminal", '{"command": "echo \\ud800"}', "'command' is not valid Unicode"),
        ("process", {"action": "log", "session_id": "x", "offset": 1e400}, "finite"),
        ("terminal", {"command": ["ls"]}, "'command' must be a string"),
        ("terminal", {"command": "  "}, "the command is empty"),
        ("terminal", {"command": "true", "background": "maybe"}, "must be true or false"),
        ("terminal", "{not json", "arguments are not valid JSON"),
        ("terminal", "[1, 2]", "arguments must be a JSON object"),
        ("nonexistent", {}, "unknown tool 'nonexistent'"),
        ("terminal", {"command": "true", "workdir": "/no/such/dir"}, "does not exist"),
    ],
)
def test_bad_calls_give_clear_json_errors(
    ctx: ToolContext, name: str, args: Any, message: str
) -> None:
    result = call(ctx, name, args)
    assert list(result) == ["error"]
    assert message in result["error"]
    assert "Traceback" not in result["error"]


def test_models_slips_are_accepted(ctx: ToolContext) -> None:
    result = call(ctx, "terminal", {"command": "echo 1", "timeout": "30", "background": "false"})
    assert result == {"output": "1", "exit_code": 0}


def test_write_to_an_ended_process(ctx: ToolContext) -> None:
    sid = call(ctx, "terminal", {"command": "true", "background": True})["session_id"]
    call(ctx, "process", {"action": "wait", "session_id": sid})
    result = call(ctx, "process", {"action": "write", "session_id": sid, "data": "x"})
    assert result["status"] == "already_exited"
    assert result["exit_code"] == 0
    assert result["error"] == "Process has already finished"
