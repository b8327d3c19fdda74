"""The ``terminal`` tool: run a command in the foreground, or start it in the background."""

from __future__ import annotations

from hermes_tui.tools.base import JSONDict, Tool, ToolContext
from registry.text import clean_output, truncate_middle

MAX_OUTPUT_CHARS = 50_000
DEFAULT_TIMEOUT = 180
PTY_ROWS, PTY_COLS = 30, 120

DESCRIPTION = """Run a shell command in the active backend.

Foreground (default): waits for the command and returns {"output", "exit_code"}. Use it for \
anything that finishes; `timeout` (seconds) kills it if it runs too long.

Background (background=true): starts the command and returns {"session_id", "pid", "status"} \
at once. Use it for servers, watchers and long jobs. Then:
- process(action="poll", session_id=...) for the status and the output since the last poll;
- process(action="log", ...) for pages of the output, process(action="wait", ...) to block \
until it ends;
- process(action="write"/"submit", data=...) to type into it (submit adds Enter);
- process(action="kill", ...) when it is no longer needed.
Interactive programs (REPLs, editors, CLIs that ask questions) need pty=true. \
check_interval=N (at least 30) posts progress updates into the chat every N seconds."""

PARAMETERS: JSONDict = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The shell command line to run."},
        "background": {
            "type": "boolean",
            "description": "Start in the background and return at once (default false).",
        },
        "timeout": {
            "type": "integer",
            "minimum": 1,
            "description": "Foreground only: seconds "
            f"before the command is killed (default {DEFAULT_TIMEOUT}).",
        },
        "workdir": {"type": "string", "description": "Working directory for this command."},
        "pty": {
            "type": "boolean",
            "description": "Run under a pseudo-terminal (interactive programs). Background only.",
        },
        "check_interval": {
            "type": "integer",
            "minimum": 1,
            "description": "Background only: post a progress update every N seconds (minimum 30).",
        },
    },
    "required": ["command"],
}


def terminal(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Run ``args["command"]`` (see :data:`DESCRIPTION`)."""
    command: str = args["command"]
    workdir = args.get("workdir") or ctx.workdir
    if args.get("background"):
        return _background(command, workdir, args, ctx)
    result: JSONDict = {}
    timeout = float(args.get("timeout") or DEFAULT_TIMEOUT)
    notes = []
    if timeout > ctx.max_foreground_timeout:
        notes.append(
            f"timeout {timeout:g}s was clamped to {ctx.max_foreground_timeout:g}s; "
            "use background=true for longer commands"
        )
        timeout = ctx.max_foreground_timeout
    if args.get("pty"):
        notes.append("pty applies to background processes; ran without a terminal")
    backend = ctx.registry.backend(ctx.backend, ctx.session_key)
    run = backend.run(
        backend.shell_argv(command), workdir=workdir, timeout=timeout, cancel=ctx.cancel.event
    )
    result["output"] = truncate_middle(clean_output(run.output).strip(), MAX_OUTPUT_CHARS)
    result["exit_code"] = run.exit_code
    if run.timed_out:
        result["error"] = f"Command timed out after {timeout:g} seconds"
    elif run.interrupted:
        result["error"] = "Command interrupted by the user"
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _background(command: str, workdir: str | None, args: JSONDict, ctx: ToolContext) -> JSONDict:
    session = ctx.registry.spawn(
        command,
        backend=ctx.backend,
        workdir=workdir,
        pty=bool(args.get("pty")),
        rows=PTY_ROWS,
        cols=PTY_COLS,
        session_key=ctx.session_key,
    )
    result: JSONDict = {"session_id": session.id, "pid": session.pid, "status": "running"}
    interval = args.get("check_interval")
    if interval is not None:
        effective = max(float(interval), ctx.watcher_min_interval)
        if effective != interval:
            result["check_interval_note"] = (
                f"Requested {interval}s raised to the minimum of {ctx.watcher_min_interval:g}s"
            )
        if ctx.start_watcher is None:
            result["check_interval_note"] = (
                "no progress updates here: watchers run inside the "
                "hermes-tui app; use process poll instead"
            )
        else:
            ctx.start_watcher(session, effective)
            result["check_interval"] = effective
    return result


TOOL = Tool("terminal", DESCRIPTION, PARAMETERS, terminal)
