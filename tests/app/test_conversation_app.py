"""The conversation in the app: history survives a restart, a new message interrupts a
running tool call cleanly, and the slash-command table drives completion."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Collapsible

from hermes_tui.conversation import commands
from registry import ProcessRegistry
from tests.app.pilot_helpers import until
from tests.app.test_agent_chat import SIZE, agent_app, messages, say
from tests.fakes.openai_server import Reply, ScriptedModel, tool_call

SECRET = "sk-test-do-not-write-me-0123456789"


def _answered(body: dict[str, Any]) -> bool:
    """Every assistant tool call in a request has its tool answer."""
    calls = {
        c["id"]
        for m in body["messages"]
        if m["role"] == "assistant"
        for c in m.get("tool_calls") or []
    }
    answers = {m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"}
    return calls <= answers


async def test_history_survives_a_restart_and_the_agent_continues(
    registry: ProcessRegistry,
    config_path: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOME_SERVICE_API_KEY", SECRET)
    script = [
        tool_call("terminal", {"command": f"echo remembered {SECRET}"}),
        Reply(text="First answer."),
        Reply(text="Second answer."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "first question")
            await until(
                pilot, lambda: "First answer." in messages(app, "assistant"), "the first answer"
            )
        (history,) = (state_dir / "chats").iterdir()
        assert stat.S_IMODE(history.stat().st_mode) == 0o600
        assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
        text = history.read_text()
        assert "first question" in text and "First answer." in text
        assert SECRET not in text  # the environment's key is masked

        again = agent_app(registry, server, config_path)
        async with again.run_test(size=SIZE) as pilot:
            await pilot.pause()
            shown = messages(again)
            assert "first question" in shown and "First answer." in shown
            assert len(again.main.chat.query(Collapsible)) == 1  # the tool block, not JSON
            await say(pilot, "second question")
            await until(
                pilot, lambda: "Second answer." in messages(again, "assistant"), "the second answer"
            )
    sent = server.requests[-1]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "first question",
        "second question",
    ]
    assert _answered(server.requests[-1]["body"])


async def test_a_new_message_during_a_tool_call_interrupts_it_cleanly(
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    process = registry.spawn("sleep 60", owner="chat-1")
    script = [
        tool_call("process", {"action": "wait", "session_id": process.id, "timeout": 60}),
        Reply(text="Answering the new message."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            await say(pilot, "wait for it")
            await until(
                pilot,
                lambda: len(server.requests) == 1 and app.main.conversation.turn_running(),
                "the wait to start",
            )
            await say(pilot, "actually, something else")
            await until(
                pilot,
                lambda: "Answering the new message." in messages(app, "assistant"),
                "the answer to the new message",
            )
    assert process.is_running  # an interrupted wait does not kill
    for request in server.requests:
        assert _answered(request["body"])
    last = server.requests[-1]["body"]["messages"]
    results = [json.loads(m["content"]) for m in last if m["role"] == "tool"]
    assert any("interrupt" in json.dumps(r) for r in results)
    assert last[-1] == {"role": "user", "content": "actually, something else"}


def test_one_table_drives_dispatch_help_and_completion() -> None:
    names = [c.name for c in commands.COMMANDS]
    assert len(names) == len(set(names))
    from hermes_tui.conversation import Conversation

    for command in commands.COMMANDS:  # every command has its handler
        assert callable(getattr(Conversation, "cmd_" + command.name[1:]))
    done = commands.completions({"/theme": ["dusk"]})
    assert "/theme " in done and "/theme dusk" in done and "/help" in done
    assert commands.parse("/switch chat-2")[1:] == ("/switch", "chat-2")
    assert commands.parse("/nope")[0] is None
