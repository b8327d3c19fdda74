"""The ``hermes-tui`` command line. Every subcommand shares the registry and state dir.

Errors print one line on stderr and exit 1 (2 for usage errors); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from backends import BACKEND_KINDS, BackendError, signal_number
from hermes_tui import __version__
from hermes_tui.batch.cli import CommandError, add_batch_parser
from hermes_tui.formatting import format_runtime
from registry import (
    Process,
    ProcessExited,
    ProcessOutput,
    ProcessRegistry,
    RegistryError,
    get_registry,
)
from registry.events import RegistryEvent
from registry.text import printable

CLI_SESSION_KEY = "cli"
CHUNK = 1 << 20


class CliError(Exception):
    """Reported as ``hermes-tui: error: <message>`` with exit code 1."""


def _registry(config_path: Path | None = None, *, recover: bool = False) -> ProcessRegistry:
    """The shared registry, as loaded (read-only); ``recover`` also re-adopts everything."""
    from hermes_tui.settings import load_config
    from registry import startup_report

    config, problems = load_config(config_path)
    for problem in problems:
        print(f"hermes-tui: warning: {problem}", file=sys.stderr)
    registry = get_registry(backend_options=config.backends)
    registry.max_wait = float("inf")  # a person at a shell may wait as long as they like
    report = registry.recover() if recover else startup_report()
    for warning in report.warnings if report else []:
        print(f"hermes-tui: warning: {warning}", file=sys.stderr)
    return registry


def _backend(args: argparse.Namespace) -> str:
    """The backend for a new process: the subcommand's ``--backend``, else the top-level one.

    The top-level flag is never ignored: ``hermes-tui --backend ssh run CMD`` runs CMD on ssh.
    """
    top, own = getattr(args, "app_backend", None), getattr(args, "backend", None)
    if top and own and top != own:
        raise CliError(
            f"conflicting backends: --backend {top} before the subcommand and "
            f"--backend {own} after it"
        )
    return str(own or top or "local")


def _process(registry: ProcessRegistry, args: argparse.Namespace) -> Process:
    """The process ``args.id``, refused when a top-level ``--backend`` names another backend."""
    proc = registry.get(args.id)
    top = getattr(args, "app_backend", None)
    if top and proc.backend != top:
        raise CliError(
            f"process {proc.id} runs on the {proc.backend} backend, not on {top} (--backend {top})"
        )
    return proc


def _target(args: argparse.Namespace) -> tuple[ProcessRegistry, Process]:
    """The registry and the process ``args.id``, re-adopted (probed, followed) if it still
    runs: only the process a command steers is touched, never every backend."""
    registry = _registry(args.config)
    proc = _process(registry, args)
    if proc.is_running:
        for warning in registry.recover([proc.id]).warnings:
            print(f"hermes-tui: warning: {warning}", file=sys.stderr)
        proc = registry.get(proc.id)
    return registry, proc


def _status_text(proc: Process) -> str:
    return proc.status_text


# -- subcommands -----------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    command: str | list[str] = args.command[0] if len(args.command) == 1 else args.command
    backend = _backend(args)
    proc = _registry(args.config).spawn(
        command,
        backend=backend,
        workdir=args.workdir,
        pty=args.pty,
        rows=args.rows,
        cols=args.cols,
        owner=CLI_SESSION_KEY,
        name=args.name,
    )
    print(proc.id)
    return 0


def cmd_ps(args: argparse.Namespace) -> int:
    procs = _registry(args.config).processes(include_finished=args.all)
    if args.app_backend:  # hermes-tui --backend docker ps: that backend's processes only
        procs = [s for s in procs if s.backend == args.app_backend]
    if args.json:
        print(json.dumps([s.describe() for s in procs], indent=2))
        return 0
    if not procs:
        print("no processes" if args.all else "no running processes (--all shows finished ones)")
        return 0
    rows = [("ID", "STATUS", "PID", "BACKEND", "RUNTIME", "NAME", "COMMAND")]
    for s in procs:
        rows.append(
            (
                s.id,
                _status_text(s),
                str(s.pid or "-"),
                s.backend,
                format_runtime(s.runtime()),
                printable(s.name or "-"),
                printable(s.command).replace("\n", "\u2424"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for row in rows:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[6]
        )
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    if args.follow:
        registry, proc = _target(args)
    else:
        registry = _registry(args.config)
        proc = _process(registry, args)
    out = sys.stdout.buffer
    events: queue.SimpleQueue[RegistryEvent] = queue.SimpleQueue()
    if args.follow:
        registry.subscribe(lambda e: events.put(e) if e.proc is proc else None)
    # Only a followed process has a live buffer; otherwise the spool is read to its end.
    shown = proc.output.total if args.follow and proc.is_running else None
    if args.tail is not None:
        lines = registry.output(proc.id).splitlines(keepends=True)
        out.write(b"".join(lines[-args.tail :] if args.tail else []))
    else:
        offset, gone_lines = registry.spool_dropped(proc.id)
        if offset:
            print(
                f"hermes-tui: the first {offset} bytes ({gone_lines} lines) of its output were "
                "dropped (the spool's cap)",
                file=sys.stderr,
            )
        end = shown
        while end is None or offset < end:
            want = CHUNK if end is None else min(CHUNK, end - offset)
            chunk = registry.read_spool(proc.id, offset, want)
            if not chunk:
                break
            out.write(chunk)
            offset += len(chunk)
        shown = offset if shown is None else shown
    out.flush()
    if not args.follow or not proc.is_running:
        return 0
    assert shown is not None
    while True:
        event = events.get()
        if isinstance(event, ProcessOutput) and event.end > shown:
            out.write(event.data[max(0, len(event.data) - (event.end - shown)) :])
            out.flush()
            shown = event.end
        elif isinstance(event, ProcessExited):
            return 0


def cmd_kill(args: argparse.Namespace) -> int:
    registry, proc = _target(args)
    if not proc.is_running and not proc.survivors:
        raise CliError(f"process {proc.id} is not running ({_status_text(proc)})")
    if args.signal is None or not proc.is_running:
        proc = registry.kill(proc.id)
    else:
        try:
            sig = signal_number(args.signal)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        registry.send_signal(proc.id, sig)
        proc.ended.wait(1.0)
    if proc.is_running:
        print(f"{proc.id}: signal sent; still running")
    else:
        print(
            f"{proc.id}: {_status_text(proc)}"
            + (f" ({proc.kill_reason})" if proc.kill_reason else "")
        )
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    registry, proc = _target(args)
    result = registry.wait(proc.id, args.timeout)
    proc = result.proc
    if result.status == "timeout":
        raise CliError(f"{proc.id} still running after {result.waited:.0f}s")
    print(f"{proc.id}: {_status_text(proc)}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    registry, proc = _target(args)
    text = args.text
    count = registry.submit(proc.id, text) if args.enter else registry.write(proc.id, text)
    print(f"{count} bytes sent")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    from hermes_tui.attach import attach
    from hermes_tui.term.keys import DetachKey

    try:
        key = DetachKey(args.detach_key)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    registry, proc = _target(args)
    return attach(registry, proc, key)


def run_app(args: argparse.Namespace) -> int:
    """Start the full-screen app."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError("the app needs a terminal; the subcommands (see --help) work without one")
    from hermes_tui.launch import make_app

    app = make_app(
        config_path=args.config, backend=args.app_backend, model=args.model, base_url=args.base_url
    )
    app.run()
    if app.crash is not None:
        from hermes_tui.crash import crash_line

        print(crash_line(*app.crash), file=sys.stderr)
        return 1
    return app.return_code or 0


def cmd_tool(args: argparse.Namespace) -> int:
    from hermes_tui.tools import TOOLS, ToolContext, run_tool

    if args.name not in TOOLS:
        raise CliError(f"unknown tool {args.name!r}; available: {', '.join(TOOLS)}")
    try:
        json.loads(args.arguments)
    except json.JSONDecodeError as exc:
        raise CliError(f"arguments are not valid JSON: {exc.msg} at position {exc.pos}") from None
    registry = _registry(args.config, recover=True)
    registry.max_wait = 600.0  # the tool behaves exactly as it does for the agent
    ctx = ToolContext(registry=registry, owner=args.session, backend=_backend(args))
    result = run_tool(args.name, args.arguments, ctx)
    print(result)
    return 1 if json.loads(result).get("error") else 0  # upstream shapes carry "error": null


# -- parser ----------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"hermes-tui: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hermes-tui``."""
    parser = _Parser(
        prog="hermes-tui",
        description="A terminal workstation for an LLM agent and the processes it starts. "
        "Without a subcommand it will start the full-screen app; the subcommands manage "
        "background processes from any shell.",
    )
    parser.add_argument("--version", action="version", version=f"hermes-tui {__version__}")
    parser.add_argument(
        "--backend",
        dest="app_backend",
        choices=BACKEND_KINDS,
        help="backend for new processes in the app (default: from config) "
        "and for the subcommands (run, tool; the others refuse a process "
        "of another backend, ps lists only this backend's)",
    )
    parser.add_argument("--model", help="model name for the agent")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint for the agent")
    parser.add_argument("--config", type=Path, help="config file (default: the user config)")
    sub = parser.add_subparsers(dest="subcommand", parser_class=_Parser)

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "start a background process and print its id")
    p.add_argument("--pty", action="store_true", help="run under a pseudo-terminal")
    p.add_argument("--rows", type=int, default=24, help="PTY rows (default 24)")
    p.add_argument("--cols", type=int, default=80, help="PTY columns (default 80)")
    p.add_argument("--workdir", help="working directory")
    p.add_argument(
        "--backend",
        choices=BACKEND_KINDS,
        help="where to run it (default: the top-level --backend, else local)",
    )
    p.add_argument("--name", help="a name to show in lists and to use instead of the id")
    p.add_argument(
        "command",
        nargs="+",
        metavar="CMD",
        help="one argument is a shell command line; several are an argv",
    )

    p = add("ps", cmd_ps, "list background processes")
    p.add_argument("--all", action="store_true", help="include finished processes")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("logs", cmd_logs, "print a process's output (all of it, from its spool)")
    p.add_argument("id")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until it ends")

    p = add("kill", cmd_kill, "stop a process (TERM, then KILL), or send one signal")
    p.add_argument("id")
    p.add_argument("--signal", "-s", help="send only this signal (INT, HUP, USR1, 9, ...)")

    p = add("wait", cmd_wait, "wait until a process ends")
    p.add_argument("id")
    p.add_argument("--timeout", type=float, help="give up after this many seconds (exit 1)")

    p = add("send", cmd_send, "send text to a process's stdin")
    p.add_argument("id")
    p.add_argument("text")
    p.add_argument("--enter", action="store_true", help="then press Enter")

    p = add("attach", cmd_attach, "use this terminal as the process's terminal")
    p.add_argument("id")
    p.add_argument(
        "--detach-key",
        default="ctrl+^",
        help="the key that detaches (default ctrl+^, i.e. ctrl+6); it never reaches the process",
    )

    p = add("tool", cmd_tool, "run one agent tool call and print its JSON result")
    p.add_argument("name", help="tool name (terminal, process)")
    p.add_argument("arguments", help="the tool's arguments as a JSON object")
    p.add_argument("--session", default=CLI_SESSION_KEY, help="chat session key to act as")
    p.add_argument(
        "--backend",
        choices=BACKEND_KINDS,
        help="where commands run (default: the top-level --backend, else local)",
    )

    add_batch_parser(add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hermes-tui`` command."""
    logging.basicConfig(level=logging.WARNING, format="hermes-tui: %(levelname)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.subcommand is None:
            return run_app(args)
        return int(args.func(args))
    except KeyboardInterrupt:
        print("hermes-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CliError, CommandError, RegistryError, BackendError) as exc:
        print(f"hermes-tui: error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("HERMES_DEBUG"):
            raise
        print(
            f"hermes-tui: internal error: {type(exc).__name__}: {exc} "
            "(set HERMES_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _close_registry()


def _close_registry() -> None:
    """Stop the followers and let a checkpoint write in progress finish before exiting (a
    write cut short by the interpreter's exit would leave ``processes.json.<pid>.tmp``)."""
    from registry import shared_registry

    registry = shared_registry()
    if registry is not None:
        registry.close()
