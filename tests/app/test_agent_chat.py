"""The agent in the app: streamed replies, tool blocks, Esc, sessions, watchers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Collapsible

from hermes_tui.agent.endpoint import Endpoint
from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app
from hermes_tui.screens.confirm import Confirm
from hermes_tui.widgets.chat import ChatMessage
from registry import ProcessRegistry, RecoveryReport
from tests.app.pilot_helpers import until
from tests.fakes.openai_server import Reply, ScriptedModel, Step, tool_call

SIZE = (120, 36)


def agent_app(
    registry: ProcessRegistry,
    server: ScriptedModel,
    config_path: Path,
    watcher_min_interval: float = 30.0,
) -> HermesApp:
    endpoint = Endpoint(model="scripted", base_url=server.url, api_key="sk-test")
    return make_app(
        registry=registry,
        report=RecoveryReport(),
        config_path=config_path,
        endpoint=endpoint,
        watcher_min_interval=watcher_min_interval,
    )


async def say(pilot: Pilot[None], text: str) -> None:
    await pilot.press("f2")
    pilot.app.query_one("#chat-input").value = text  # type: ignore[attr-defined]
    await pilot.press("enter")


def messages(app: HermesApp, role: str | None = None) -> list[str]:
    return [m.text for m in app.main.chat.query(ChatMessage) if role is None or m.role == role]


async def test_reply_streams_into_the_chat_with_tool_blocks(
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    script = [
        tool_call("terminal", {"command": "echo from-the-tool"}),
        Reply(text="The command printed from-the-tool."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "run echo")
            await until(
                pilot,
                lambda: "The command printed from-the-tool." in messages(app, "assistant"),
                "the streamed reply",
            )
            blocks = list(app.main.chat.query(Collapsible))
            assert len(blocks) == 1
            assert "terminal" in str(blocks[0].title)
            assert messages(app, "user") == ["run echo"]
    assert server.requests[0]["body"]["messages"][-1] == {"role": "user", "content": "run echo"}


async def test_escape_interrupts_a_stream(registry: ProcessRegistry, config_path: Path) -> None:
    slow = Reply(text=" ".join(f"w{i}" for i in range(300)), chunk_delay=0.05)
    with ScriptedModel([slow]) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "talk")
            await until(pilot, lambda: bool(messages(app, "assistant")), "the first words")
            await pilot.press("escape")
            await until(
                pilot, lambda: "Interrupted." in messages(app, "warning"), "the interrupt notice"
            )
            assert len(messages(app, "assistant")[0].split()) < 300


async def test_api_errors_are_shown_not_raised(
    registry: ProcessRegistry, config_path: Path
) -> None:
    with ScriptedModel([Reply(status=401)]) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "hello")
            await until(pilot, lambda: bool(messages(app, "error")), "the error")
            assert "(401)" in messages(app, "error")[0]


async def test_new_session_asks_first_and_keeps_processes(
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    with ScriptedModel([]) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            key = app.main.conversation.sessions.current.key
            process = registry.spawn("sleep 60", owner=key)
            await say(pilot, "/new")
            assert isinstance(app.screen, Confirm)
            await pilot.press("n")
            assert app.main.conversation.sessions.current.key == "chat-1"
            await say(pilot, "/new")
            await pilot.press("y")
            assert app.main.conversation.sessions.current.key == "chat-2"
            assert process.is_running
            await say(pilot, "/switch chat-1")
            assert app.main.conversation.sessions.current.key == "chat-1"
            assert any("Model scripted" in t for t in messages(app))  # its transcript is back


async def test_watcher_posts_progress_and_the_end(
    registry: ProcessRegistry, config_path: Path
) -> None:
    script = [
        tool_call(
            "terminal",
            {
                "command": "for i in 1 2 3; do echo tick $i; sleep 0.7; done",
                "background": True,
                "check_interval": 1,
            },
        ),
        Reply(text="Watching it."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path, watcher_min_interval=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "start and watch")
            await until(
                pilot,
                lambda: any("still running] New output" in t for t in messages(app, "notice")),
                "an update",
            )
            await until(
                pilot,
                lambda: any("exited with exit code 0" in t for t in messages(app, "notice")),
                "the end",
            )
            watchers = app.main.conversation.watchers
            await until(pilot, lambda: watchers.active == [], "the watcher to stop")


async def test_tool_errors_are_counted_on_the_chat_pane(
    registry: ProcessRegistry, config_path: Path
) -> None:
    script = [
        tool_call("process", {"action": "poll", "session_id": "proc_missing"}),
        Reply(text="Could not find it."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "poll it")
            await until(pilot, lambda: bool(messages(app, "assistant")), "the reply")
            assert str(app.main.chat.border_subtitle) == "1 tool error(s)"


async def test_toolsets_are_chosen_per_session(
    registry: ProcessRegistry, config_path: Path
) -> None:
    with ScriptedModel([Reply(text="ok"), Reply(text="ok")]) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "/toolsets file")
            await say(pilot, "hi")
            await until(pilot, lambda: "ok" in messages(app, "assistant"), "a reply")
            await say(pilot, "/toolsets nonsense")
            assert "unknown toolset 'nonsense'" in messages(app, "warning")[-1]
    offered = {t["function"]["name"] for t in server.requests[0]["body"]["tools"]}
    assert offered == {"read_file", "write_file", "patch", "search_files"}


async def test_a_new_message_during_a_wait_interrupts_it_and_is_answered(
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    def wait_for_it(messages: list[dict[str, Any]]) -> Reply:
        started = json.loads(str(messages[-1]["content"]))
        return tool_call(
            "process", {"action": "wait", "session_id": started["session_id"], "timeout": 600}
        )

    script: list[Step] = [
        tool_call("terminal", {"command": "sleep 60", "background": True}),
        wait_for_it,
        Reply(text="Sure, doing that instead."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "start it and wait")
            await until(
                pilot, lambda: any(s.waiters for s in registry.processes()), "the wait to block"
            )
            await say(pilot, "stop waiting, do something else")
            await until(
                pilot,
                lambda: "Sure, doing that instead." in messages(app, "assistant"),
                "the answer to the new message",
            )
    assert server.rejected == []
    history = server.requests[-1]["body"]["messages"]
    waited = json.loads(history[-2]["content"])
    assert waited["status"] == "interrupted"
    assert history[-1] == {"role": "user", "content": "stop waiting, do something else"}
    assert not any(s.waiters for s in registry.processes())
