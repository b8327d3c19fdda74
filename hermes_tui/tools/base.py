"""Agent tools: OpenAI function-calling schemas, argument checking, JSON results.

A tool is a plain function ``(args, ctx) -> dict``. :func:`call_tool` parses and checks the
model's JSON arguments against the tool's schema, runs it, and always returns a JSON string:
the result, or ``{"error": "..."}`` with a message the model can act on. It never raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends import BackendError
from registry import CancelToken, ProcessRegistry, ProcessSession, RegistryError

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Watcher = Callable[[ProcessSession, float], None]


class ToolError(Exception):
    """A problem with a tool call, reported to the model as ``{"error": message}``."""


@dataclass
class ToolContext:
    """What a tool call runs against: the registry, the owning chat session, the backend."""

    registry: ProcessRegistry
    session_key: str = "default"
    backend: str = "local"
    workdir: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    """Fired by Esc / ctrl+c in the chat: interrupts waits and foreground commands."""
    start_watcher: Watcher | None = None
    """Starts a ``check_interval`` watcher (provided by the app's agent loop)."""
    watcher_min_interval: float = 30.0
    max_foreground_timeout: float = 600.0


@dataclass(frozen=True)
class Tool:
    """One tool the model can call."""

    name: str
    description: str
    parameters: JSONDict
    """JSON schema of the arguments (an object)."""
    handler: Callable[[JSONDict, ToolContext], JSONDict]

    def schema(self) -> JSONDict:
        """The OpenAI ``tools`` entry for this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def parse_arguments(raw: str | Mapping[str, Any] | None) -> JSONDict:
    """Parse the model's arguments (a JSON object as text, or already a mapping).

    Raises:
        ToolError: when the text is not a JSON object.
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolError(f"arguments are not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise ToolError(f"arguments must be a JSON object, not {type(value).__name__}")
    return value


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
}


def _coerce(name: str, value: Any, prop: Mapping[str, Any]) -> Any:
    """Check one argument against its schema, accepting the harmless slips models make
    (an id sent as a number, a number sent as a string)."""
    kind = prop.get("type")
    if value is None:
        return None
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ToolError(f"'{name}' must be a string")
        value = str(value)
    elif kind in ("integer", "number"):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ToolError(f"'{name}' must be {_TYPE_NAMES[kind]}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolError(f"'{name}' must be {_TYPE_NAMES[kind]}")
        if kind == "integer":
            if value != int(value):
                raise ToolError(f"'{name}' must be a whole number, got {value}")
            value = int(value)
        if "minimum" in prop and value < prop["minimum"]:
            raise ToolError(f"'{name}' must be at least {prop['minimum']}, got {value}")
    elif kind == "boolean":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ToolError(f"'{name}' must be true or false")
    if "enum" in prop and value not in prop["enum"]:
        raise ToolError(
            f"'{name}' must be one of: {', '.join(map(str, prop['enum']))}; got {value!r}"
        )
    return value


def check_arguments(tool: Tool, args: Mapping[str, Any]) -> JSONDict:
    """Return the arguments checked and coerced against ``tool``'s schema.

    Raises:
        ToolError: for a missing required argument, an unknown one, or a wrong type.
    """
    props: Mapping[str, Any] = tool.parameters.get("properties", {})
    unknown = sorted(set(args) - set(props))
    if unknown:
        raise ToolError(
            f"unknown argument(s) for {tool.name}: {', '.join(unknown)}; "
            f"accepted: {', '.join(props)}"
        )
    checked = {name: _coerce(name, value, props[name]) for name, value in args.items()}
    for name in tool.parameters.get("required", []):
        if checked.get(name) is None:
            raise ToolError(f"missing required argument '{name}' for {tool.name}")
    return checked


def call_tool(tool: Tool, raw_args: str | Mapping[str, Any] | None, ctx: ToolContext) -> str:
    """Run one tool call the way the agent does; always returns a JSON string."""
    try:
        args = check_arguments(tool, parse_arguments(raw_args))
        result = tool.handler(args, ctx)
    except (ToolError, RegistryError, BackendError) as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # a bug must reach the model as an error, never a crash
        log.exception("tool %s failed", tool.name)
        result = {"error": f"internal error in {tool.name}: {type(exc).__name__}: {exc}"}
    return json.dumps(result, ensure_ascii=False)
