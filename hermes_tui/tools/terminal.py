"""The ``terminal`` tool: run a command in the foreground, or start it in the background."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from backends import Backend, BackendError
from backends.atomic import write_private
from hermes_tui.tools.base import NOTIFY_MODES, JSONDict, Tool, ToolContext, ToolError
from registry import Process, RegistryError
from registry.text import clean_output, truncate_middle

MAX_OUTPUT_CHARS = 50_000
KEEP_SAVED_OUTPUTS = 20
"""Saved long outputs kept per state dir (older ones are deleted)."""
DEFAULT_TIMEOUT = 180
PTY_ROWS, PTY_COLS = 30, 120

DESCRIPTION = """Run a shell command in the active backend.

Foreground (default): waits for the command and returns {"output", "exit_code"}. Use it for \
anything that finishes; `timeout` (seconds) kills it if it runs too long.

Commands run through your login shell, so profile PATH additions are there. Output over \
50,000 characters is cut in the middle; the whole of it is saved to `output_file`.

Background (background=true): starts the command and returns {"session_id", "pid", "status"} \
at once (the same command already running in the same directory is returned instead of \
started twice, unless force=true). Use it for servers, watchers and long jobs. Then:
- process(action="poll", session_id=...) for the status and the output since the last poll;
- process(action="log", ...) for pages of the output, process(action="wait", ...) to block \
until it ends;
- process(action="write"/"submit", data=...) to type into it (submit adds Enter);
- process(action="kill", ...) when it is no longer needed.
Interactive programs (REPLs, editors, CLIs that ask questions) need pty=true. \
check_interval=N (at least 30) posts progress updates into the chat every N seconds \
(notifications: all, result, error or off); notify_on_complete=true posts only the end."""

PARAMETERS: JSONDict = {
    "type": "object",
    "properties": {
        "command": {"type": "string", "description": "The shell command line to run."},
        "background": {
            "type": "boolean",
            "description": "Start in the background and return at once (default false).",
        },
        "timeout": {
            "type": "number",
            "minimum": 0,
            "description": "Foreground only: seconds before the command is killed "
            f"(default {DEFAULT_TIMEOUT}).",
        },
        "workdir": {"type": "string", "description": "Working directory for this command."},
        "pty": {
            "type": "boolean",
            "description": "Run under a pseudo-terminal (interactive programs). Background only.",
        },
        "check_interval": {
            "type": "number",
            "minimum": 1,
            "description": "Background only: post a progress update every N seconds (minimum 30).",
        },
        "notifications": {
            "type": "string",
            "enum": list(NOTIFY_MODES),
            "description": "Background only, with check_interval: which updates to post: all "
            "(default), result (only the end), error (only a failed end), off.",
        },
        "notify_on_complete": {
            "type": "boolean",
            "description": "Background only: post a notice in the chat when the process ends.",
        },
        "force": {
            "type": "boolean",
            "description": "Background only: start even if the same "
            "command is already running in the same directory.",
        },
    },
    "required": ["command"],
}

IGNORED = {
    "task_id": "processes belong to the chat session",
    "watch_patterns": "not supported; use check_interval, or poll",
}


def terminal(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Run ``args["command"]`` (see :data:`DESCRIPTION`)."""
    command: str = args["command"]
    if not command.strip():
        raise ToolError("the command is empty")
    workdir = args.get("workdir") or ctx.workdir
    if args.get("background"):
        return _background(command, workdir, args, ctx)
    result: JSONDict = {}
    timeout = float(DEFAULT_TIMEOUT if args.get("timeout") is None else args["timeout"])
    notes = []
    if timeout <= 0:
        raise ToolError("'timeout' must be more than 0 seconds")
    if timeout > ctx.max_foreground_timeout:
        notes.append(
            f"timeout {timeout:g}s was clamped to {ctx.max_foreground_timeout:g}s; "
            "use background=true for longer commands"
        )
        timeout = ctx.max_foreground_timeout
    if args.get("pty"):
        notes.append("pty applies to background processes; ran without a terminal")
    backend = ctx.registry.backend(ctx.backend, ctx.owner)
    run = backend.run(
        backend.shell_argv(command), workdir=workdir, timeout=timeout, cancel=ctx.cancel.event
    )
    text = clean_output(run.output).strip()
    total_bytes = max(run.total_bytes or 0, len(run.output))
    result["output"] = truncate_middle(text, MAX_OUTPUT_CHARS)
    if len(text) > MAX_OUTPUT_CHARS or total_bytes > len(run.output):
        result["output_total_bytes"] = total_bytes
        saved = run.saved_output or _save_output(run.output, backend, ctx)
        if saved:
            result["output_file"] = saved
        notes.append(
            f"the command printed {total_bytes} bytes in total; "
            + (
                f"all of it is in {saved} (page through it with read_file or search "
                "it with search_files)"
                if saved
                else "only its start and end are shown"
            )
        )
    result["exit_code"] = run.exit_code
    if run.timed_out:
        result["error"] = f"Command timed out after {timeout:g} seconds"
    elif run.interrupted:
        result["error"] = "Command interrupted by the user"
        result["status"] = "interrupted"
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _save_output(data: bytes, backend: Backend, ctx: ToolContext) -> str | None:
    """Keep a too-long output where the model can read it: the state dir for local
    commands, the sandbox's /tmp for the others (that is where its file tools look)."""
    name = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.log"
    if ctx.backend == "local":
        directory = Path(ctx.output_dir or ctx.registry.state_dir / "outputs")
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            old = sorted(directory.glob("run-*.log"), key=lambda p: p.stat().st_mtime)
            for stale in old[: max(0, len(old) - KEEP_SAVED_OUTPUTS + 1)]:
                stale.unlink(missing_ok=True)
            write_private(directory / name, data)
        except OSError:
            return None
        return str(directory / name)
    path = f"{ctx.output_dir or '/tmp/hermes-outputs'}/{name}"
    try:
        backend.upload(data, path, mode=0o600)
    except BackendError:
        return None
    return path


def _duplicate(command: str, workdir: str | None, ctx: ToolContext) -> Process | None:
    where = workdir or os.getcwd()  # what the registry records when no workdir is given
    for proc in ctx.registry.processes(ctx.owner, include_finished=False):
        if proc.command == command and proc.workdir == where and proc.backend == ctx.backend:
            return proc
    return None


def _background(command: str, workdir: str | None, args: JSONDict, ctx: ToolContext) -> JSONDict:
    notes = []
    if args.get("timeout") is not None:
        notes.append(
            "timeout applies to foreground commands; background processes run until "
            "they end or are killed"
        )
    running = None if args.get("force") else _duplicate(command, workdir, ctx)
    if running is not None:
        return {
            "output": "Already running",
            "session_id": running.id,
            "pid": running.pid,
            "exit_code": 0,
            "error": None,
            "status": "running",
            "duplicate": True,
            "note": f"the same command is already running in this directory as "
            f"{running.id}; returned it instead of starting a second copy "
            "(pass force=true to start another)",
        }
    try:
        proc = ctx.registry.spawn(
            command,
            backend=ctx.backend,
            workdir=workdir,
            pty=bool(args.get("pty")),
            rows=PTY_ROWS,
            cols=PTY_COLS,
            owner=ctx.owner,
        )
    except RegistryError as exc:  # upstream's failed-start shape
        return {
            "output": "",
            "exit_code": -1,
            "error": f"Failed to start background process: {exc}",
        }
    result: JSONDict = {
        "output": "Background process started",
        "session_id": proc.id,
        "pid": proc.pid,
        "exit_code": 0,
        "error": None,
        "status": "running",
    }
    interval = args.get("check_interval")
    mode = args.get("notifications") or ctx.notifications
    if interval is None and args.get("notify_on_complete"):
        interval, mode = ctx.watcher_min_interval, "result"
    elif args.get("notifications") and interval is None:
        notes.append("notifications applies with check_interval or notify_on_complete")
    if interval is not None:
        effective = max(float(interval), ctx.watcher_min_interval)
        if effective != interval and not args.get("notify_on_complete"):
            result["check_interval_note"] = (
                f"Requested {interval:g}s raised to the minimum of {ctx.watcher_min_interval:g}s"
            )
        if ctx.start_watcher is None:
            result["check_interval_note"] = (
                "no progress updates here: watchers run inside the "
                "hermes-tui app; use process poll instead"
            )
        else:
            ctx.start_watcher(proc, effective, mode)
            result["check_interval"] = effective
            result["notifications"] = mode
    if notes:
        result["note"] = "; ".join(notes)
    return result


TOOL = Tool("terminal", DESCRIPTION, PARAMETERS, terminal, ignored=IGNORED)
