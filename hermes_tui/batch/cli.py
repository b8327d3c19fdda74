"""The ``hermes-tui batch`` subcommand: its arguments and how they become batch options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from backends import BACKEND_KINDS


class CommandError(Exception):
    """A batch that cannot start; the CLI prints the message on one line."""


Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def add_batch_parser(add: Add) -> None:
    """Add ``batch`` and its options with the CLI's ``add(name, handler, help)``."""
    p = add(
        "batch",
        run_batch,
        "run a JSONL file of prompts through the agent, N at a time, "
        "each in its own sandbox; one JSON result line per prompt",
    )
    p.add_argument(
        "prompts",
        type=Path,
        metavar="PROMPTS.jsonl",
        help='one {"prompt": ..., "id"?, "system"?, "docker_image"?, "image"?, '
        '"cwd"?, "metadata"?} per line',
    )
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="RESULTS.jsonl",
        help="results are appended here; ids already finished are skipped",
    )
    p.add_argument(
        "--backend",
        dest="batch_backend",
        choices=BACKEND_KINDS,
        help="where the prompts' commands run (default: from config)",
    )
    p.add_argument(
        "--workers", type=int, default=4, metavar="N", help="prompts at a time (default 4)"
    )
    p.add_argument(
        "--toolsets",
        action="append",
        default=[],
        metavar="A,B",
        help="toolsets the agent may use: terminal, file, all (default all); "
        "comma-separated or repeated",
    )
    p.add_argument("--model", dest="batch_model", metavar="M", help="model name")
    p.add_argument(
        "--base-url", dest="batch_base_url", metavar="U", help="OpenAI-compatible endpoint"
    )
    p.add_argument(
        "--max-iterations",
        type=int,
        metavar="K",
        help="model calls allowed per prompt (default: from config, 30)",
    )
    p.add_argument(
        "--system-prompt",
        type=Path,
        metavar="FILE",
        help="system prompt for prompts without their own 'system'",
    )
    p.add_argument(
        "--format",
        choices=("openai", "sharegpt"),
        default="openai",
        help="sharegpt: result lines also carry 'conversations' (from/value)",
    )
    p.add_argument(
        "--sharegpt-out",
        type=Path,
        metavar="FILE",
        help="also write the ok prompts' conversations in ShareGPT form here",
    )
    p.add_argument(
        "--timeout", type=float, metavar="S", help="wall-clock seconds per prompt (default: none)"
    )
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="on a re-run, also retry prompts that failed or timed out",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-usage",
        action="store_true",
        help="do not ask for token usage (for endpoints that refuse stream_options)",
    )


def run_batch(args: argparse.Namespace) -> int:
    """``hermes-tui batch``: run a prompts file (see :mod:`hermes_tui.batch.runner`)."""
    from hermes_tui.batch.runner import BatchError, BatchOptions, main

    toolsets = [t.strip() for t in ",".join(args.toolsets).split(",") if t.strip()]
    options = BatchOptions(
        prompts=args.prompts,
        out=args.out,
        backend=args.batch_backend or args.app_backend,
        workers=args.workers,
        toolsets=toolsets or ["all"],
        model=args.batch_model or args.model,
        base_url=args.batch_base_url or args.base_url,
        max_iterations=args.max_iterations,
        system_prompt_file=args.system_prompt,
        format=args.format,
        sharegpt_out=args.sharegpt_out,
        timeout=args.timeout,
        retry_failed=args.retry_failed,
        config=args.config,
        progress=not args.no_progress,
        count_usage=not args.no_usage,
    )
    try:
        return main(options)
    except BatchError as exc:
        raise CommandError(str(exc)) from None
