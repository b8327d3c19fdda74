"""Agent tools: OpenAI function-calling schemas, argument checking, JSON results.

A tool is a plain function ``(args, ctx) -> dict``. :func:`call_tool` parses and checks the
model's JSON arguments against the tool's schema, runs it, and always returns a JSON string:
the result, or ``{"error": "..."}`` with a message the model can act on. It never raises.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backends import BackendError
from hermes_tui.tools.redact import redact
from registry import CancelToken, Process, ProcessRegistry, RegistryError

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Watcher = Callable[[Process, float, str], None]
"""Starts a watcher: (process, interval in seconds, notification mode)."""
NOTIFY_MODES = ("all", "result", "error", "off")
"""Watcher notification modes (upstream's ``background_process_notifications``): every
update, only the final result, only a failed result, nothing."""


class ToolError(Exception):
    """A problem with a tool call, reported to the model as ``{"error": message}``."""


@dataclass
class ToolContext:
    """What a tool call runs against: the registry, the owning chat session, the backend."""

    registry: ProcessRegistry
    owner: str = "default"
    backend: str = "local"
    workdir: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    """Fired by Esc / ctrl+c in the chat: interrupts waits and foreground commands."""
    start_watcher: Watcher | None = None
    """Starts a ``check_interval`` watcher (provided by the app's agent loop)."""
    watcher_min_interval: float = 30.0
    notifications: str = "all"
    """Default watcher notification mode (one of :data:`NOTIFY_MODES`)."""
    max_foreground_timeout: float = 600.0
    output_dir: str | None = None
    """Where very large foreground output is saved (default: ``<state dir>/outputs``)."""


@dataclass(frozen=True)
class Tool:
    """One tool the model can call."""

    name: str
    description: str
    parameters: JSONDict
    """JSON schema of the arguments (an object)."""
    handler: Callable[[JSONDict, ToolContext], JSONDict]
    ignored: Mapping[str, str] = field(default_factory=dict)
    """Upstream arguments accepted but not used, with why (said in the result's note)."""
    binary_args: frozenset[str] = frozenset()
    """String arguments that may carry NUL characters (data sent to stdin, file content)."""

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


def _coerce(name: str, value: Any, prop: Mapping[str, Any], nul_ok: bool = False) -> Any:
    """Check one argument against its schema, accepting the harmless slips models make
    (an id sent as a number, a number sent as a string)."""
    kind = prop.get("type")
    if value is None:
        return None
    if kind == "string":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ToolError(f"'{name}' must be a string")
        value = str(value)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800" from the JSON
            raise ToolError(f"'{name}' is not valid Unicode text") from None
        if "\x00" in value and not nul_ok:
            # Paths and command lines cannot hold NUL: the OS would refuse them later.
            raise ToolError(f"'{name}' must not contain a NUL character (\\u0000)")
    elif kind in ("integer", "number"):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ToolError(f"'{name}' must be {_TYPE_NAMES[kind]}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ToolError(f"'{name}' must be {_TYPE_NAMES[kind]}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ToolError(f"'{name}' must be a finite number, got {value}")
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

    Arguments the schema does not know are dropped (see :func:`ignored_note`): models trained
    on the upstream tools send some (``task_id``...), and such a call must not fail.

    Raises:
        ToolError: for a missing required argument or a wrong type.
    """
    props: Mapping[str, Any] = tool.parameters.get("properties", {})
    checked = {
        name: _coerce(name, value, props[name], name in tool.binary_args)
        for name, value in args.items()
        if name in props
    }
    for name in tool.parameters.get("required", []):
        if checked.get(name) is None:
            raise ToolError(f"missing required argument '{name}' for {tool.name}")
    return checked


def ignored_note(tool: Tool, args: Mapping[str, Any]) -> str | None:
    """Say which arguments of the call were not used, and why."""
    props: Mapping[str, Any] = tool.parameters.get("properties", {})
    parts = []
    for name in sorted(set(args) - set(props)):
        reason = tool.ignored.get(name)
        parts.append(f"{name} ({reason})" if reason else name)
    if not parts:
        return None
    return f"ignored argument(s) not used by {tool.name}: {', '.join(parts)}"


def _add_note(result: JSONDict, note: str) -> None:
    result["note"] = f"{result['note']}; {note}" if result.get("note") else note


def call_tool(tool: Tool, raw_args: str | Mapping[str, Any] | None, ctx: ToolContext) -> str:
    """Run one tool call the way the agent does; always returns a JSON string.

    Values of secret-looking environment variables are masked in the result.
    """
    try:
        raw = parse_arguments(raw_args)
        args = check_arguments(tool, raw)
        result = tool.handler(args, ctx)
        note = ignored_note(tool, raw)
        if note:
            _add_note(result, note)
    except (ToolError, RegistryError, BackendError) as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # a bug must reach the model as an error, never a crash
        # One line on stderr (the CLI prints logs); the traceback only with debug logging.
        log.error(
            "tool %s failed: %s: %s",
            tool.name,
            type(exc).__name__,
            exc,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        result = {"error": f"internal error in {tool.name}: {type(exc).__name__}: {exc}"}
    return json.dumps(redact(result), ensure_ascii=False)
