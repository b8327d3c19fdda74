"""The agent at a glance: a working indicator with elapsed time, the tool block while the
call runs, failed calls in the error colour, and blocks (not JSON) after /switch."""

from __future__ import annotations

import re
from pathlib import Path

from hermes_tui.widgets.chat import ToolBlock
from registry import ProcessRegistry
from tests.app.pilot_helpers import until
from tests.app.test_agent_chat import SIZE, agent_app, messages, say
from tests.fakes.openai_server import Reply, ScriptedModel, tool_call


async def test_working_indicator_running_block_and_failed_block(
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    script = [
        tool_call("terminal", {"command": "sleep 4; echo slept"}),
        tool_call("process", {"action": "poll", "id": "no-such-process"}),
        Reply(text="Done."),
    ]
    with ScriptedModel(script) as server:
        app = agent_app(registry, server, config_path)
        async with app.run_test(size=SIZE) as pilot:
            chat = app.main.chat
            working = chat.query_one("#chat-working")
            await say(pilot, "sleep a bit")
            await until(
                pilot,
                lambda: any(b.has_class("-running") for b in chat.query(ToolBlock)),
                "the block of the running call",
            )
            assert working.display and working.has_class("-on")
            await until(
                pilot,
                lambda: (
                    re.search(r"agent working [1-9]\d*s — running terminal", str(working.render()))
                    is not None
                ),
                "the elapsed time",
            )
            await until(pilot, lambda: "Done." in messages(app, "assistant"), "the reply")
            ran, failed = chat.query(ToolBlock)
            assert not ran.has_class("-running") and not ran.has_class("-failed")
            assert failed.has_class("-failed") and "failed" in str(failed.title)
            # the turn ends just after its last words are drawn
            await until(pilot, lambda: not working.has_class("-on"), "the indicator to stop")
            await say(pilot, "/new")
            await until(pilot, lambda: not chat.query(ToolBlock), "the new session")
            await say(pilot, "/switch chat-1")
            await until(pilot, lambda: len(chat.query(ToolBlock)) == 2, "blocks again")
            ran, failed = chat.query(ToolBlock)
            assert failed.has_class("-failed") and not ran.has_class("-failed")
