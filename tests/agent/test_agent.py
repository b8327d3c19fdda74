"""The agent loop against a scripted OpenAI-compatible server, through the real client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from hermes_tui.agent.endpoint import Endpoint, make_client, resolve_endpoint
from hermes_tui.agent.loop import Agent, AgentError
from hermes_tui.settings import Config
from hermes_tui.tools import Tool, ToolContext, tools_in
from registry import ProcessRegistry
from tests.conftest import wait_for
from tests.fakes.openai_server import (
    Reply,
    ScriptedModel,
    Step,
    history_problem,
    last_tool_result,
    tool_call,
)


@dataclass
class Recorder:
    """An AgentListener that keeps everything."""

    text: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)

    def on_text(self, delta: str) -> None:
        self.text.append(delta)

    def on_tool_call(self, name: str, arguments: str) -> None:
        self.calls.append((name, arguments))

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        self.results.append(json.loads(result))

    def on_notice(self, text: str, level: str) -> None:
        self.notices.append((level, text))


def make_agent(
    server: ScriptedModel,
    registry: ProcessRegistry,
    *,
    key: str = "sk-test",
    tools: list[Tool] | None = None,
) -> Agent:
    client = make_client(Endpoint(model="scripted", base_url=server.url, api_key=key))
    ctx = ToolContext(registry=registry, owner="chat-1")
    return Agent(
        client, "scripted", tools if tools is not None else tools_in(["all"]), ctx, backoff=0.05
    )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def test_a_session_starts_polls_writes_waits_and_kills_a_process(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    def sid(messages: list[dict[str, Any]]) -> str:
        for message in messages:
            if message.get("role") == "tool" and "session_id" in message["content"]:
                return str(json.loads(message["content"])["session_id"])
        raise AssertionError("no session id yet")

    def ready_then(messages: list[dict[str, Any]], reply: Reply) -> Reply:
        # The login shell takes a moment to start: poll once there is something to see.
        wait_for(lambda: b"ready" in registry.output(sid(messages)), what="ready")
        return reply

    script: list[Step] = [
        tool_call(
            "terminal",
            {"command": "echo ready; read line; echo got $line; sleep 60", "background": True},
        ),
        lambda m: ready_then(m, tool_call("process", {"action": "poll", "session_id": sid(m)})),
        lambda m: tool_call("process", {"action": "submit", "session_id": sid(m), "data": "hello"}),
        lambda m: tool_call("process", {"action": "wait", "session_id": sid(m), "timeout": 1}),
        lambda m: tool_call("process", {"action": "kill", "session_id": sid(m)}),
        Reply(text="All done: the process printed got hello."),
        Reply(text="You are welcome."),
    ]
    with ScriptedModel(script) as server:
        agent = make_agent(server, registry)
        answer = await agent.run_turn("run the thing", recorder)
        assert await agent.run_turn("thanks", Recorder()) == "You are welcome."
    assert answer == "All done: the process printed got hello."
    assert "".join(recorder.text) == answer
    assert [name for name, _ in recorder.calls] == [
        "terminal",
        "process",
        "process",
        "process",
        "process",
    ]
    started, polled, submitted, waited, killed = recorder.results
    assert "ready" in polled["new_output"]
    assert started["status"] == "running"
    assert submitted["status"] == "ok"
    assert waited["status"] == "timeout"
    assert "got hello" in waited["output"]
    assert killed["status"] == "killed"
    assert registry.get(started["session_id"]).owner == "chat-1"
    assert agent.tool_errors == []
    # The conversation the model saw: system, user, then assistant/tool pairs; the second
    # turn carries the whole history.
    first_turn = server.requests[-2]["body"]["messages"]
    assert [m["role"] for m in first_turn[:2]] == ["system", "user"]
    assert first_turn[-1]["role"] == "tool"
    second_turn = server.requests[-1]["body"]["messages"]
    assert second_turn[: len(first_turn)] == first_turn
    assert second_turn[-2:] == [
        {"role": "assistant", "content": "All done: the process printed got hello."},
        {"role": "user", "content": "thanks"},
    ]
    assert server.requests[0]["auth"] == "Bearer sk-test"
    assert {t["function"]["name"] for t in server.requests[0]["body"]["tools"]} >= {
        "terminal",
        "process",
        "read_file",
        "search_files",
    }


async def test_malformed_tool_arguments_become_an_error_the_model_sees(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    script = [
        tool_call("terminal", '{"command": "echo hi", '),
        tool_call("no_such_tool", {}),
        Reply(text="Sorry, fixed."),
    ]
    with ScriptedModel(script) as server:
        agent = make_agent(server, registry)
        assert await agent.run_turn("go", recorder) == "Sorry, fixed."
        second_request = server.requests[1]["body"]["messages"]
    assert "arguments are not valid JSON" in last_tool_result(second_request)["error"]
    assert [e.tool for e in agent.tool_errors] == ["terminal", "no_such_tool"]
    assert agent.tool_errors[0].turn == 1
    assert "unknown tool 'no_such_tool'" in agent.tool_errors[1].error


async def test_a_server_error_is_retried_with_a_notice(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    with ScriptedModel([Reply(status=500), Reply(status=429), Reply(text="ok now")]) as server:
        agent = make_agent(server, registry)
        assert await agent.run_turn("hi", recorder) == "ok now"
    assert len(server.requests) == 3
    assert [level for level, _ in recorder.notices] == ["warning", "warning"]
    assert "server error (500)" in recorder.notices[0][1]
    assert "Retrying in" in recorder.notices[0][1]
    assert "rate limiting (429)" in recorder.notices[1][1]


async def test_401_and_unknown_model_give_clear_messages(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    with ScriptedModel([Reply(status=401), Reply(status=404)]) as server:
        agent = make_agent(server, registry, key="sk-wrong")
        with pytest.raises(AgentError, match=r"API key was rejected .* \(401\)"):
            await agent.run_turn("hi", recorder)
        with pytest.raises(AgentError, match=r"does not know that model .* \(404\)"):
            await agent.run_turn("hi", recorder)
    assert len(server.requests) == 2  # no retries for these


async def test_unreachable_endpoint(registry: ProcessRegistry, recorder: Recorder) -> None:
    server = ScriptedModel([])
    url = server.url
    server.server.server_close()  # nothing listens there any more
    client = make_client(Endpoint(model="m", base_url=url, api_key="k"))
    agent = Agent(client, "m", [], ToolContext(registry=registry), backoff=0.01, max_retries=1)
    with pytest.raises(AgentError, match="Cannot reach"):
        await agent.run_turn("hi", recorder)
    assert len(recorder.notices) == 1


async def test_interrupt_during_a_stream(registry: ProcessRegistry, recorder: Recorder) -> None:
    slow = Reply(text=" ".join(f"word{i}" for i in range(200)), chunk_delay=0.05)
    with ScriptedModel([slow, Reply(text="next turn works")]) as server:
        agent = make_agent(server, registry)
        threading.Timer(0.4, agent.ctx.cancel.cancel).start()
        started = time.monotonic()
        assert await agent.run_turn("talk a lot", recorder) == ""
        assert time.monotonic() - started < 3
        assert recorder.notices[-1] == ("warning", "Interrupted.")
        assert 0 < len(recorder.text) < 200
        assert await agent.run_turn("again", Recorder()) == "next turn works"


async def test_interrupt_during_a_wait(registry: ProcessRegistry, recorder: Recorder) -> None:
    script: list[Step] = [
        tool_call("terminal", {"command": "sleep 60", "background": True}),
        lambda m: tool_call(
            "process",
            {"action": "wait", "timeout": 60, "session_id": last_tool_result(m)["session_id"]},
        ),
    ]
    with ScriptedModel(script) as server:
        agent = make_agent(server, registry)
        cancel_when_waiting = threading.Timer(1.0, agent.ctx.cancel.cancel)
        cancel_when_waiting.start()
        started = time.monotonic()
        assert await agent.run_turn("wait for it", recorder) == ""
    assert time.monotonic() - started < 10
    assert recorder.results[-1]["status"] == "interrupted"
    assert recorder.notices[-1] == ("warning", "Interrupted.")


async def test_a_sync_tool_that_calls_asyncio_run_does_not_deadlock(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    async def compute() -> int:
        await asyncio.sleep(0.01)
        return 42

    def uses_asyncio_run(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return {"value": asyncio.run(compute())}

    tool = Tool(
        "nested_loop",
        "runs its own event loop",
        {"type": "object", "properties": {}},
        uses_asyncio_run,
    )
    with ScriptedModel([tool_call("nested_loop", {}), Reply(text="done")]) as server:
        agent = make_agent(server, registry, tools=[tool])
        assert await asyncio.wait_for(agent.run_turn("go", recorder), 20) == "done"
    assert recorder.results == [{"value": 42}]


def test_endpoint_resolution_never_shows_the_key() -> None:
    config = Config()
    endpoint = resolve_endpoint(config, env={"OPENAI_API_KEY": "sk-secret"})
    assert endpoint.usable
    assert "sk-secret" not in repr(endpoint)
    assert endpoint.base_url is None
    router = resolve_endpoint(config, env={"OPENROUTER_API_KEY": "k"})
    assert router.base_url == "https://openrouter.ai/api/v1"
    local = resolve_endpoint(config, base_url="http://127.0.0.1:11434/v1", model="llama", env={})
    assert (local.usable, local.model, local.api_key) == (True, "llama", None)
    assert not resolve_endpoint(config, env={}).usable


def test_the_scripted_server_rejects_unanswered_tool_calls() -> None:
    call = {"id": "call_0", "type": "function", "function": {"name": "terminal", "arguments": "{}"}}
    unanswered: list[dict[str, Any]] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "new message"},
    ]
    assert history_problem(unanswered) is not None
    assert "call_0" in (history_problem(unanswered) or "")
    answer = {"role": "tool", "tool_call_id": "call_0", "content": "{}"}
    answered: list[dict[str, Any]] = [*unanswered[:2], answer, unanswered[2]]
    assert history_problem(answered) is None
    stray: list[dict[str, Any]] = [
        {"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "call_9", "content": "{}"},
    ]
    assert history_problem(stray) is not None


def _waiting(registry: ProcessRegistry) -> bool:
    return any(s.waiters for s in registry.processes())


@pytest.mark.parametrize("how", ["new message", "task cancelled"])
async def test_a_new_message_interrupts_a_running_wait_and_the_history_stays_valid(
    registry: ProcessRegistry,
    recorder: Recorder,
    how: str,
) -> None:
    script: list[Step] = [
        tool_call("terminal", {"command": "sleep 60", "background": True}),
        lambda m: Reply(
            tool_calls=[
                (
                    "process",
                    json.dumps(
                        {
                            "action": "wait",
                            "timeout": 600,
                            "session_id": last_tool_result(m)["session_id"],
                        }
                    ),
                ),
                ("process", json.dumps({"action": "list"})),
            ]
        ),
        Reply(text="Stopped waiting; what now?"),
    ]
    with ScriptedModel(script) as server:
        agent = make_agent(server, registry)
        first = asyncio.create_task(agent.run_turn("start and wait", recorder))
        deadline = time.monotonic() + 20
        while not _waiting(registry):
            assert time.monotonic() < deadline, "the wait never started"
            await asyncio.sleep(0.02)
        started = time.monotonic()
        if how == "task cancelled":  # what the app's exclusive worker does
            first.cancel()
        answer = await asyncio.wait_for(agent.run_turn("never mind, do this", Recorder()), 20)
        assert time.monotonic() - started < 10
        if how == "new message":
            assert await first == ""
        else:
            with pytest.raises(asyncio.CancelledError):
                await first
    assert answer == "Stopped waiting; what now?"
    assert server.rejected == []
    last = server.requests[-1]["body"]["messages"]
    assert history_problem(last) is None
    results = [json.loads(m["content"]) for m in last if m["role"] == "tool"]
    assert results[1]["status"] == "interrupted"  # the wait
    assert results[2]["status"] == "interrupted"  # the call never run
    assert last[-1] == {"role": "user", "content": "never mind, do this"}
    assert not _waiting(registry)


async def test_interrupt_returns_once_the_turn_has_answered_its_calls(
    registry: ProcessRegistry,
    recorder: Recorder,
) -> None:
    script: list[Step] = [tool_call("terminal", {"command": "sleep 30; echo late"})]
    with ScriptedModel(script) as server:
        agent = make_agent(server, registry)
        turn = asyncio.create_task(agent.run_turn("run it", recorder))
        deadline = time.monotonic() + 20
        while not recorder.calls:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.wait_for(agent.interrupt(), 10)
        assert not agent.busy
        assert await turn == ""
    result = json.loads(agent.messages[-1]["content"])
    assert result["status"] == "interrupted"
    assert result["exit_code"] == 130
    assert history_problem(agent.messages) is None
