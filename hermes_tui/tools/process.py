"""The ``process`` tool: look at and steer background processes started with ``terminal``."""

from __future__ import annotations

from collections.abc import Callable

from hermes_tui.tools.base import JSONDict, Tool, ToolContext, ToolError
from registry import Process
from registry.process import iso
from registry.text import clean_output, tail_text

POLL_CHARS = 8_000
PREVIEW_CHARS = 1_000
"""``poll``'s ``output_preview``: the last characters of output, as upstream."""
LIST_PREVIEW_CHARS = 200
WAIT_CHARS = 2_000
LOG_LIMIT = 200
ACTIONS = ("list", "poll", "log", "wait", "kill", "write", "submit")

DESCRIPTION = """Manage background processes started with terminal(background=true).
Actions: list (this chat's processes), poll (status and output since the last poll), \
log (lines of output: offset = first line number, limit = how many; default the last 200; \
the whole output is kept on disk, so any line can be read), \
wait (block until it ends or `timeout` seconds pass; 0 = just check), kill (TERM, then KILL), \
write (send `data` to stdin as is), submit (send `data` then Enter, to answer a prompt)."""

PARAMETERS: JSONDict = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "session_id": {"type": "string", "description": "The process id (all actions but list)."},
        "data": {"type": "string", "description": "Text to send (write, submit)."},
        "timeout": {
            "type": "number",
            "minimum": 0,
            "description": "wait: seconds to block "
            "(capped by the configured maximum; 0 returns at once).",
        },
        "offset": {"type": "integer", "minimum": 0, "description": "log: first line number."},
        "limit": {"type": "integer", "minimum": 1, "description": "log: number of lines."},
    },
    "required": ["action"],
}


def _ended_fields(proc: Process) -> JSONDict:
    fields: JSONDict = {"status": proc.status.value}
    if not proc.is_running:
        fields["exit_code"] = proc.exit_code
    if proc.kill_reason:
        fields["kill_reason"] = proc.kill_reason
    if proc.note:
        fields["note"] = proc.note
    if not proc.is_running and proc.survivors:
        fields["still_running"] = proc.survivors
        fields["note"] = (
            f"it ended, but {proc.survivors} process(es) it started still run; 'kill' ends them"
        )
    return fields


def _preview(proc: Process, chars: int) -> str:
    return tail_text(clean_output(proc.output.tail(chars * 4 + 64)), chars).strip()


def _list(args: JSONDict, ctx: ToolContext) -> JSONDict:
    processes = []
    for proc in ctx.registry.processes(ctx.owner):
        entry: JSONDict = {
            "session_id": proc.id,
            "command": proc.command[:200],
            "cwd": proc.workdir,
            "pid": proc.pid,
            "started_at": iso(proc.started_at),
            "uptime_seconds": round(proc.runtime()),
            "pty": proc.pty,
        }
        if proc.name:
            entry["name"] = proc.name
        entry.update(_ended_fields(proc))
        entry["output_preview"] = _preview(proc, LIST_PREVIEW_CHARS)
        processes.append(entry)
    return {"processes": processes}


def _poll(args: JSONDict, ctx: ToolContext) -> JSONDict:
    result = ctx.registry.poll(args["session_id"])
    proc = result.proc
    text = tail_text(clean_output(result.new_output), POLL_CHARS)
    out: JSONDict = {
        "session_id": proc.id,
        "command": proc.command,
        "pid": proc.pid,
        "uptime_seconds": round(proc.runtime()),
        "new_output": text,
    }
    out.update(_ended_fields(proc))
    out["output_preview"] = _preview(proc, PREVIEW_CHARS)
    if result.omitted:
        out["omitted_bytes"] = result.omitted
    return out


def _log(args: JSONDict, ctx: ToolContext) -> JSONDict:
    page = ctx.registry.log(args["session_id"], args.get("offset"), args.get("limit") or LOG_LIMIT)
    proc = ctx.registry.get(args["session_id"])
    last = page.first_line + len(page.lines)
    out: JSONDict = {
        "session_id": proc.id,
        "output": "\n".join(page.lines),
        "total_lines": page.total_lines,
        "showing": f"lines {page.first_line}-{max(page.first_line, last - 1)} of {page.total_lines}"
        if page.lines
        else "no lines",
    }
    out.update(_ended_fields(proc))
    asked = args.get("offset")
    if page.gone_lines and asked is not None and asked < page.gone_lines:
        out["dropped_lines"] = page.gone_lines
        out["dropped_note"] = (
            f"lines {asked}-{page.gone_lines - 1} are gone (the output spool "
            "keeps its last spool_cap_mb); showing the oldest lines held"
        )
    elif page.dropped_lines and asked is not None and asked < page.first_line:
        # Only when the spool on disk could not be read: say exactly what is missing.
        out["dropped_lines"] = page.dropped_lines
        out["dropped_note"] = (
            f"lines {asked}-{page.first_line - 1} could not be read (the "
            "output spool is unavailable); showing the oldest lines held"
        )
    return out


def _wait(args: JSONDict, ctx: ToolContext) -> JSONDict:
    timeout = args.get("timeout")
    result = ctx.registry.wait(args["session_id"], timeout, ctx.cancel)
    proc = result.proc
    out: JSONDict = {
        "session_id": proc.id,
        "status": result.status,
        "waited_seconds": round(result.waited, 1),
    }
    if not proc.is_running:
        out["exit_code"] = proc.exit_code
    if proc.kill_reason:
        out["kill_reason"] = proc.kill_reason
    out["output"] = tail_text(clean_output(proc.output.tail(64_000)), WAIT_CHARS)
    limit = ctx.registry.max_wait
    if timeout is not None and timeout > limit:
        out["timeout_note"] = (
            f"Requested wait of {timeout:g}s was clamped to configured limit of {limit:g}s"
        )
    if result.note:
        out["note"] = result.note
    return out


def _already_exited(proc: Process, error: str | None = None) -> JSONDict:
    """Upstream's answer for acting on an ended process; ours adds how it ended."""
    out: JSONDict = {
        "session_id": proc.id,
        "status": "already_exited",
        "exit_code": proc.exit_code,
        "process_status": proc.status.value,
    }
    if proc.kill_reason:
        out["kill_reason"] = proc.kill_reason
    if error:
        out["error"] = error
    return out


def _kill(args: JSONDict, ctx: ToolContext) -> JSONDict:
    before = ctx.registry.get(args["session_id"])
    if not before.is_running and not before.survivors:
        return {**_already_exited(before), "note": "the process had already ended"}
    proc = ctx.registry.kill(before.id, by="agent")
    return {"session_id": proc.id, **_ended_fields(proc)}


def _write(args: JSONDict, ctx: ToolContext, enter: bool) -> JSONDict:
    data = args.get("data")
    if data is None and not enter:
        raise ToolError("'data' is required for write")
    proc = ctx.registry.get(args["session_id"])
    if not proc.is_running:
        return _already_exited(proc, "Process has already finished")
    send = ctx.registry.submit if enter else ctx.registry.write
    count = send(args["session_id"], data or "")
    return {
        "session_id": ctx.registry.get(args["session_id"]).id,
        "status": "ok",
        "bytes_written": count,
    }


_HANDLERS: dict[str, Callable[[JSONDict, ToolContext], JSONDict]] = {
    "list": _list,
    "poll": _poll,
    "log": _log,
    "wait": _wait,
    "kill": _kill,
    "write": lambda a, c: _write(a, c, enter=False),
    "submit": lambda a, c: _write(a, c, enter=True),
}


def process(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Dispatch one ``process`` action."""
    action = args["action"]
    if action != "list" and not args.get("session_id"):
        raise ToolError(f"'session_id' is required for {action}")
    return _HANDLERS[action](args, ctx)


TOOL = Tool(
    "process",
    DESCRIPTION,
    PARAMETERS,
    process,
    ignored={"task_id": "processes belong to the chat session"},
    binary_args=frozenset({"data"}),
)
