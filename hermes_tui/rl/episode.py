"""What an RL episode's agent loop produced, and the helpers that run it headless.

This module does not need ``atroposlib``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from hermes_tui.agent.loop import ToolError

log = logging.getLogger("hermes_tui.rl")


@dataclass
class AgentResult:
    """What an episode's agent loop produced."""

    messages: list[dict[str, Any]]
    """The whole trajectory as OpenAI messages (system, user, assistant, tool...)."""
    task_key: str = ""
    """The episode's key: its sandbox and its processes' owner (never reused)."""
    final_answer: str = ""
    turns_used: int = 0
    finished_naturally: bool = False
    """The model stopped calling tools by itself (not cut by max turns, a timeout or an error)."""
    tool_errors: list[ToolError] = field(default_factory=list)
    error: str | None = None
    """Why the loop ended early (timeout, model unreachable...), if it did."""


_TOOL_CALL_TEXT = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def parse_text_tool_calls(content: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Tool calls written as Hermes-format text (``<tool_call>{"name", "arguments"}
    </tool_call>``), for servers that return them unparsed. Returns the text without them."""
    calls: list[tuple[str, str, str]] = []
    for index, match in enumerate(_TOOL_CALL_TEXT.finditer(content)):
        try:
            payload = json.loads(match.group(1))
        except ValueError:
            continue
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            continue
        arguments = payload.get("arguments", {})
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        calls.append((f"call_text_{index}", payload["name"], raw))
    if not calls:
        return content, []
    return _TOOL_CALL_TEXT.sub("", content).strip(), calls


class QuietListener:
    """An AgentListener for headless episodes: notices go to the log."""

    def on_text(self, delta: str) -> None:
        pass

    def on_tool_call(self, name: str, arguments: str) -> None:
        pass

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        pass

    def on_notice(self, text: str, level: str) -> None:
        log.debug("agent notice (%s): %s", level, text)
