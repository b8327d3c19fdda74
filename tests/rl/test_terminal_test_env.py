"""The terminal-test environment end to end against the scripted server."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.rl.episode import parse_text_tool_calls
from hermes_tui.rl.terminal_test import TerminalTestEnv
from hermes_tui.tools import Tool
from registry import ProcessRegistry, UnknownProcessError
from tests.conftest import pid_alive
from tests.fakes.openai_server import Reply, ScriptedModel, tool_call
from tests.rl.conftest import DATA, NOTHING, make_env, solve_with

GREETING = {
    "id": "greeting",
    "prompt": "Create greeting.txt containing: Hello from Hermes",
    "verify": "test \"$(cat greeting.txt)\" = 'Hello from Hermes'",
}


async def test_oracle_scores_one_and_nothing_scores_zero(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    solver = solve_with("echo 'Hello from Hermes' > greeting.txt")
    script = [solver, solver, NOTHING]
    with ScriptedModel(script) as server:
        env = make_env(
            TerminalTestEnv, server, tiny_tokenizer, tasks_file=str(DATA / "terminal_tasks.jsonl")
        )
        await env.setup()
        item = await env.get_next_item()
        solved, _ = await env.collect_trajectory(item)
        nothing, _ = await env.collect_trajectory(item)
    assert solved["scores"] == 1.0 and nothing["scores"] == 0.0
    assert server.script == [] and len(server.requests) == 3
    roles = [m["role"] for m in solved["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert len(solved["tokens"]) == len(solved["masks"]) > 0
    assert any(m != -100 for m in solved["masks"])
    request = server.requests[0]["body"]
    assert not request.get("stream") and request["model"] == "scripted"
    assert {t["function"]["name"] for t in request["tools"]} == {
        "terminal",
        "process",
        "read_file",
        "write_file",
        "patch",
        "search_files",
    }


def _background_then_answer(messages: list[dict[str, Any]]) -> Reply:
    """Start a long-running background process, then finish without stopping it."""
    if any(m.get("role") == "tool" for m in messages):
        return Reply(text="Started it.")
    return tool_call("terminal", {"command": "sleep 600", "background": True})


async def test_cleanup_kills_background_processes_and_removes_the_workdir(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    with ScriptedModel([_background_then_answer, _background_then_answer]) as server:
        env = make_env(TerminalTestEnv, server, tiny_tokenizer)
        await env.setup()
        result, reward = await env.run_episode(GREETING)
    assert reward == 0.0 and result.finished_naturally
    started = json.loads(result.messages[3]["content"])
    assert result.task_key.startswith("rl-")
    assert not pid_alive(started["pid"])
    # The episode's sandbox was released: its processes killed and forgotten, its private
    # working directory removed.
    with pytest.raises(UnknownProcessError):
        rl_registry.get(started["session_id"])
    assert not rl_registry.has_active(result.task_key)
    assert list(Path(tempfile.gettempdir()).glob(f"hermes-rl-{result.task_key}-*")) == []


async def test_cleanup_runs_when_the_reward_function_raises(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    class Broken(TerminalTestEnv):
        async def compute_reward(self, item: Any, result: Any, ctx: Any) -> float:
            raise RuntimeError("verifier crashed")

    with ScriptedModel([_background_then_answer, _background_then_answer]) as server:
        env = make_env(Broken, server, tiny_tokenizer)
        await env.setup()
        scored, _ = await env.collect_trajectory(GREETING)
    assert scored["scores"] == 0.0
    assert rl_registry.processes() == []  # killed and released with the episode


async def test_tool_errors_are_counted_per_step(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    def bad_then_answer(messages: list[dict[str, Any]]) -> Reply:
        if any(m.get("role") == "tool" for m in messages):
            return Reply(text="Gave up.")
        return tool_call("terminal", {"command": "echo a\u0000b", "no_such_argument": True})

    with ScriptedModel([bad_then_answer, bad_then_answer]) as server:
        env = make_env(TerminalTestEnv, server, tiny_tokenizer)
        await env.setup()
        result, _ = await env.run_episode(GREETING)
        await env.wandb_log({})
        assert env.last_metrics["train/tool_errors_count"] == 1
        assert env.last_metrics["train/tool_errors/terminal"] == 1
        (detail,) = env.last_metrics["train/tool_error_details"]
        assert detail["tool"] == "terminal" and "NUL" in detail["error"]
        await env.wandb_log({})  # the next step starts from zero
        assert env.last_metrics["train/tool_errors_count"] == 0
    assert len(result.tool_errors) == 1


async def test_no_toolsets_warns_that_every_tool_is_loaded(
    tiny_tokenizer: str, caplog: pytest.LogCaptureFixture
) -> None:
    with ScriptedModel([]) as server, caplog.at_level(logging.WARNING, "hermes_tui.rl"):
        env = make_env(TerminalTestEnv, server, tiny_tokenizer, enabled_toolsets=None)
        chosen = make_env(TerminalTestEnv, server, tiny_tokenizer, enabled_toolsets=["terminal"])
    assert any("no toolsets chosen" in r.getMessage() for r in caplog.records)
    assert {t.name for t in env.tools} == {
        "terminal",
        "process",
        "read_file",
        "write_file",
        "patch",
        "search_files",
    }
    assert {t.name for t in chosen.tools} == {"terminal", "process"}


async def test_a_tool_that_calls_asyncio_run_does_not_deadlock(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    async def inner() -> str:
        await asyncio.sleep(0)
        return "from a nested event loop"

    nested = Tool(
        "nested",
        "Runs its own event loop.",
        {"type": "object", "properties": {}},
        lambda args, ctx: {"value": asyncio.run(inner())},
    )

    class WithNested(TerminalTestEnv):
        def select_tools(self) -> list[Tool]:
            return [*super().select_tools(), nested]

    def call_nested(messages: list[dict[str, Any]]) -> Reply:
        if any(m.get("role") == "tool" for m in messages):
            return Reply(text="ok")
        return tool_call("nested", {})

    with ScriptedModel([call_nested, call_nested]) as server:
        env = make_env(WithNested, server, tiny_tokenizer)
        await env.setup()
        result, _ = await asyncio.wait_for(env.run_episode(GREETING), timeout=30)
    assert json.loads(result.messages[3]["content"]) == {"value": "from a nested event loop"}


async def test_the_agent_timeout_ends_the_episode_and_cleans_up(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    with ScriptedModel([tool_call("terminal", {"command": "sleep 60"})]) as server:
        env = make_env(TerminalTestEnv, server, tiny_tokenizer, agent_timeout=1.0)
        await env.setup()
        started = time.monotonic()
        result, reward = await env.run_episode(GREETING)
    assert reward == 0.0 and result.error == "timeout (1s)"
    assert time.monotonic() - started < 15


async def test_on_docker_the_container_is_gone_after_the_episode(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    import docker

    def solve(messages: list[dict[str, Any]]) -> Reply:
        done = [m for m in messages if m.get("role") == "tool"]
        if not done:
            return tool_call("terminal", {"command": "sleep 600", "background": True})
        if len(done) == 1:
            return tool_call("terminal", {"command": "echo 'Hello from Hermes' > greeting.txt"})
        return Reply(text="Done.")

    with ScriptedModel([solve] * 3) as server:
        env = make_env(
            TerminalTestEnv, server, tiny_tokenizer, terminal_backend="docker", workdir="/work"
        )
        await env.setup()
        item = {**GREETING, "image": docker_image}
        result, reward = await env.run_episode(item)
    assert reward == 1.0
    started = json.loads(result.messages[3]["content"])
    # released with its sandbox: forgotten, so nothing can recreate the sandbox to find it
    with pytest.raises(UnknownProcessError):
        rl_registry.get(started["session_id"])
    client = docker.from_env()
    try:
        names = [c.name for c in client.containers.list(all=True)]
    finally:
        client.close()
    assert f"hermes-{result.task_key}" not in names


async def test_a_missing_image_fails_the_episode_before_any_token(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    with ScriptedModel([]) as server:
        env = make_env(TerminalTestEnv, server, tiny_tokenizer, terminal_backend="docker")
        await env.setup()
        # a registry on a closed loopback port: the pull fails at once, offline
        item = {**GREETING, "docker_image": "127.0.0.1:1/hermes-missing:latest"}
        result, reward = await env.run_episode(item)
        scored, _ = await env.collect_trajectory(item)
    assert reward == 0.0 and scored["scores"] == 0.0
    assert result.error is not None and "hermes-missing" in result.error
    assert server.requests == []
    assert rl_registry._sandbox_options == {}


def test_tool_calls_written_as_text_are_understood() -> None:
    call = '{"name": "terminal", "arguments": {"command": "ls"}}'
    text = f"Let me look.\n<tool_call>\n{call}\n</tool_call>"
    content, calls = parse_text_tool_calls(text)
    assert content == "Let me look."
    assert calls == [("call_text_0", "terminal", '{"command": "ls"}')]
    assert parse_text_tool_calls("<tool_call>not json</tool_call>") == (
        "<tool_call>not json</tool_call>",
        [],
    )


async def test_max_turns_temperature_and_max_tokens_are_honoured(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    forever = tool_call("terminal", {"command": "echo again"})
    with ScriptedModel([forever] * 3) as server:
        env = make_env(
            TerminalTestEnv,
            server,
            tiny_tokenizer,
            max_agent_turns=2,
            agent_temperature=0.3,
            max_tokens_per_turn=64,
        )
        await env.setup()
        result, reward = await env.run_episode(GREETING)
    assert len(server.requests) == 2 and result.turns_used == 2
    assert not result.finished_naturally and reward == 0.0
    body = server.requests[0]["body"]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 64


async def test_tool_error_details_go_to_wandb_as_a_table(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    import wandb

    def bad_then_answer(messages: list[dict[str, Any]]) -> Reply:
        if any(m.get("role") == "tool" for m in messages):
            return Reply(text="Gave up.")
        return tool_call("process", {"action": "poll", "session_id": "proc_nope"})

    run = wandb.init(mode="disabled")  # the real wandb client, recording nowhere
    try:
        with ScriptedModel([bad_then_answer, bad_then_answer]) as server:
            env = make_env(TerminalTestEnv, server, tiny_tokenizer, use_wandb=True)
            await env.setup()
            await env.run_episode(GREETING)
            await env.wandb_log({})
    finally:
        run.finish()
    table = env.last_metrics["train/tool_error_details"]
    assert isinstance(table, wandb.Table) and table.columns[2] == "tool"
    assert [row[2] for row in table.data] == ["process"]
    assert env.last_metrics["train/tool_errors_count"] == 1


async def test_cleanup_waits_for_a_tool_call_still_starting_a_process(
    rl_registry: ProcessRegistry, tiny_tokenizer: str
) -> None:
    started: list[int] = []

    def slow_spawn(args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ctx.cancel.event.wait(30)  # still busy when the episode times out...
        proc = ctx.registry.spawn(  # ...then it starts a process
            "sleep 4243", backend=ctx.backend, owner=ctx.owner
        )
        started.append(proc.pid)
        return {"session_id": proc.id}

    tool = Tool("slow_spawn", "Starts a process slowly.", {"type": "object"}, slow_spawn)

    class WithSlowSpawn(TerminalTestEnv):
        def select_tools(self) -> list[Tool]:
            return [*super().select_tools(), tool]

    with ScriptedModel([tool_call("slow_spawn", {})]) as server:
        env = make_env(WithSlowSpawn, server, tiny_tokenizer, agent_timeout=1.0)
        await env.setup()
        result, _ = await env.run_episode(GREETING)
    assert result.error == "timeout (1s)"
    assert len(started) == 1 and not pid_alive(started[0])
    assert not rl_registry.has_active(result.task_key)
