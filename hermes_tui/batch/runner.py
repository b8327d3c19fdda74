"""Running a whole batch: N prompts at a time, results as they finish, Ctrl-C handling.

Ctrl-C once: no new prompt starts; the running ones finish and are written. Twice (or
SIGTERM): the running ones are interrupted the way Esc interrupts a chat turn, cleaned up
(their processes killed, their sandboxes removed) and written as ``interrupted``, which a
re-run tries again. Finished lines are on disk the moment they are written.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from backends import BackendError, backend_class
from hermes_tui.agent.endpoint import HOW_TO_CONFIGURE, make_client, resolve_endpoint
from hermes_tui.agent.loop import SYSTEM_PROMPT
from hermes_tui.batch import BATCH_KEY_PREFIX
from hermes_tui.batch.inputs import PromptItem, read_prompts
from hermes_tui.batch.output import ResultWriter, finished_ids, to_sharegpt
from hermes_tui.batch.report import Tally, make_progress, summary_table
from hermes_tui.batch.task import BatchSettings, run_prompt
from hermes_tui.redact import Redactor
from hermes_tui.settings import load_config
from hermes_tui.tools import ToolError, tools_in
from registry import ProcessRegistry, get_registry


class BatchError(Exception):
    """The batch cannot start (bad arguments, unreadable files, no model); one line."""


def new_run_id() -> str:
    """``batch-<UTC time>-<random>``: task keys never repeat across runs."""
    return (
        f"{BATCH_KEY_PREFIX}{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    )


@dataclass
class BatchOptions:
    """Everything ``hermes-tui batch`` takes."""

    prompts: Path
    out: Path
    backend: str | None = None
    """Default: the config's ``backend``."""
    workers: int = 4
    toolsets: list[str] = field(default_factory=lambda: ["all"])
    model: str | None = None
    base_url: str | None = None
    max_iterations: int | None = None
    system_prompt_file: Path | None = None
    format: str = "openai"
    """``sharegpt``: result lines also carry ``conversations`` in ShareGPT form."""
    sharegpt_out: Path | None = None
    """A second file with ``{"id", "conversations"}`` lines for the ``ok`` prompts."""
    timeout: float | None = None
    retry_failed: bool = False
    config: Path | None = None
    progress: bool = True
    count_usage: bool = True
    """Ask for token usage (off for endpoints that refuse ``stream_options``)."""


@dataclass
class _Plan:
    settings: BatchSettings
    registry: ProcessRegistry
    items: list[PromptItem]
    bad_lines: int
    messages: list[str]


def prepare(options: BatchOptions, registry: ProcessRegistry | None = None) -> _Plan:
    """Check the options, read the prompts and make the shared settings.

    Raises:
        BatchError: when the batch cannot start.
    """
    if options.workers < 1:
        raise BatchError("--workers must be at least 1")
    if options.timeout is not None and options.timeout <= 0:
        raise BatchError("--timeout must be positive")
    if options.format not in ("openai", "sharegpt"):
        raise BatchError("--format must be openai or sharegpt")
    config, messages = load_config(options.config)
    backend = options.backend or config.backend
    try:
        backend_class(backend)
    except BackendError as exc:
        raise BatchError(str(exc)) from None
    endpoint = resolve_endpoint(config, model=options.model, base_url=options.base_url)
    if not endpoint.usable:
        raise BatchError(HOW_TO_CONFIGURE.split(" Meanwhile")[0])
    try:
        tools = tools_in(options.toolsets)
    except ToolError as exc:
        raise BatchError(str(exc)) from None
    system_prompt = SYSTEM_PROMPT
    if options.system_prompt_file is not None:
        try:
            system_prompt = options.system_prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BatchError(f"cannot read {options.system_prompt_file}: {exc}") from None
    try:
        items, bad = read_prompts(options.prompts)
    except OSError as exc:
        raise BatchError(f"cannot read {options.prompts}: {exc.strerror or exc}") from None
    messages += [f"{options.prompts}:{b.line}: skipped: {b.reason}" for b in bad]
    if registry is None:
        registry = get_registry(backend_options=config.backends)
    registry.max_wait = config.processes.max_wait
    settings = BatchSettings(
        run_id=new_run_id(),
        backend=backend,
        model=endpoint.model,
        client=make_client(endpoint),
        tools=tools,
        system_prompt=system_prompt,
        max_iterations=options.max_iterations or int(config.model.max_iterations),
        timeout=options.timeout,
        sharegpt=options.format == "sharegpt",
        redactor=Redactor([endpoint.api_key], more_envs=registry.configured_envs()),
        count_usage=options.count_usage,
        tool_executor=ThreadPoolExecutor(
            max_workers=options.workers + 2, thread_name_prefix="hermes-batch-tool"
        ),
    )
    return _Plan(settings, registry, items, len(bad), messages)


def run_batch(
    options: BatchOptions,
    *,
    registry: ProcessRegistry | None = None,
    console: Console | None = None,
) -> tuple[Tally, bool]:
    """Run the batch; returns the tally and whether it was stopped by Ctrl-C / SIGTERM.

    Raises:
        BatchError: when the batch cannot start, or results could not be written.
    """
    console = console or Console(stderr=True)
    plan = prepare(options, registry)
    settings = plan.settings
    writers: list[ResultWriter] = []
    try:
        # Locked first, then read: another run cannot finish an id between the two.
        for path in (options.out, options.sharegpt_out):
            if path is not None:
                try:
                    writers.append(ResultWriter(path))
                except OSError as exc:
                    raise BatchError(f"cannot write {path}: {exc.strerror or exc}") from None
        done = finished_ids(options.out, retry_failed=options.retry_failed)
        todo = [item for item in plan.items if item.id not in done]
        tally = Tally(
            total=len(todo), skipped=len(plan.items) - len(todo), bad_lines=plan.bad_lines
        )
        if tally.skipped:
            plan.messages.append(
                f"skipping {tally.skipped} prompt(s) already finished in {options.out}"
            )
        plan.messages.append(
            f"{settings.run_id}: {tally.total} prompt(s) on "
            f"{settings.backend}, {options.workers} worker(s)"
        )
        for message in plan.messages:
            console.print(message, markup=False, highlight=False)
        second = writers[1] if len(writers) > 1 else None
        stopped = asyncio.run(
            _orchestrate(todo, settings, plan.registry, writers[0], second, tally, options, console)
        )
    finally:
        for writer in writers:
            writer.close()
        if settings.tool_executor is not None:
            settings.tool_executor.shutdown(wait=False, cancel_futures=True)
    tally.ended = time.monotonic()
    if tally.write_error:
        raise BatchError(tally.write_error)
    return tally, stopped


async def _orchestrate(
    todo: list[PromptItem],
    settings: BatchSettings,
    registry: ProcessRegistry,
    writer: ResultWriter,
    second: ResultWriter | None,
    tally: Tally,
    options: BatchOptions,
    console: Console,
) -> bool:
    loop = asyncio.get_running_loop()
    # Sandbox creation and cleanup block in threads: one each per worker at the same time.
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=2 * options.workers + 4, thread_name_prefix="hermes-batch")
    )
    soft_stop, hard_stop = asyncio.Event(), asyncio.Event()
    queue = list(reversed(todo))
    progress = make_progress(console)
    bar = progress.add_task("batch", total=len(todo), ok=0, failed=0)

    def on_interrupt() -> None:
        if not soft_stop.is_set():
            soft_stop.set()
            progress.console.print(
                "Ctrl-C: no new prompts start; the running ones finish "
                "(Ctrl-C again interrupts them)."
            )
        elif not hard_stop.is_set():
            hard_stop.set()
            progress.console.print("Ctrl-C: interrupting the running prompts and cleaning up.")
        else:
            progress.console.print("still cleaning up sandboxes and processes...")

    def on_terminate() -> None:
        soft_stop.set()
        hard_stop.set()

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        loop.add_signal_handler(signal.SIGTERM, on_terminate)
        handled = True
    except (ValueError, RuntimeError):  # not the main thread (embedded): no signal handling
        handled = False

    async def worker() -> None:
        while queue and not soft_stop.is_set():
            item = queue.pop()
            try:
                record = await run_prompt(item, item.line, settings, registry, hard_stop)
            except Exception as exc:  # a bug fails this prompt (its cleanup ran), not the batch
                record = {
                    "id": item.id,
                    "status": "failed",
                    "backend": settings.backend,
                    "error": f"internal error: {type(exc).__name__}: {exc}",
                }
            try:
                await asyncio.to_thread(_write, record, writer, second)
            except OSError as exc:
                # Without a place for results, running on would only lose them.
                tally.write_error = f"cannot write the results ({exc}); the batch stopped"
                soft_stop.set()
                hard_stop.set()
                continue
            tally.add(record)
            if record["status"] != "ok":
                progress.console.print(
                    f"{item.id}: {record['status']}: {record['error']}",
                    markup=False,
                    highlight=False,
                )
            failed = sum(n for s, n in tally.statuses.items() if s != "ok")
            progress.update(bar, advance=1, ok=tally.statuses["ok"], failed=failed)

    try:
        if options.progress:
            progress.start()
        await asyncio.gather(*(worker() for _ in range(min(options.workers, len(todo)))))
    finally:
        progress.stop()
        if handled:
            loop.remove_signal_handler(signal.SIGINT)
            loop.remove_signal_handler(signal.SIGTERM)
        await settings.client.close()
    return soft_stop.is_set()


def _write(record: dict[str, Any], writer: ResultWriter, second: ResultWriter | None) -> None:
    writer.write(record)
    if second is not None and record["status"] == "ok":
        conversations = record.get("conversations") or to_sharegpt(record["messages"])
        second.write({"id": record["id"], "conversations": conversations})


def main(options: BatchOptions) -> int:
    """``hermes-tui batch``: 0 when every prompt run is ok, 1 when some failed or timed out,
    130 when stopped by Ctrl-C.

    Raises:
        BatchError: when the batch cannot start.
    """
    console = Console(stderr=True)
    tally, stopped = run_batch(options, console=console)
    Console().print(summary_table(tally))
    if stopped:
        return 130
    return 1 if tally.statuses["failed"] or tally.statuses["timeout"] else 0
