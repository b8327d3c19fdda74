"""A scripted model for batch tests: each prompt carries its own script.

Prompts are JSON ``{"steps": [[tool, args], ...], "answer": "..."}``; the model calls the
steps' tools in order (one per model call, whatever the order in which prompts are served
across workers) and then answers with ``answer`` formatted with ``{output}``: the last tool
result's ``output``. ``{"fail": STATUS}`` makes the endpoint refuse that prompt.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.openai_server import Reply, ScriptedModel, tool_call


def prompt(*steps: tuple[str, dict[str, Any]], answer: str = "done: {output}") -> str:
    """The text of a scripted prompt."""
    return json.dumps({"steps": [list(s) for s in steps], "answer": answer})


def route(messages: list[dict[str, Any]]) -> Reply:
    """Answer a request from the script in its user message."""
    script = json.loads(next(m["content"] for m in messages if m["role"] == "user"))
    if "fail" in script:
        return Reply(status=int(script["fail"]), text="this prompt is refused by the test")
    results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
    steps = script["steps"]
    if len(results) < len(steps):
        name, args = steps[len(results)]
        return tool_call(name, args)
    output = str(results[-1].get("output", "")) if results else ""
    return Reply(text=script["answer"].replace("{output}", output))


def scripted_server(requests: int = 5000) -> ScriptedModel:
    """A server that routes up to ``requests`` calls by each prompt's own script."""
    return ScriptedModel([route] * requests)


def user_prompts(server: ScriptedModel) -> list[str]:
    """The user message of every request the server received."""
    return [
        next(m["content"] for m in r["body"]["messages"] if m["role"] == "user")
        for r in server.requests
    ]
