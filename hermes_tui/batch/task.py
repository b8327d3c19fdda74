"""One prompt of a batch: its own task key and sandbox, the agent loop, then cleanup.

The order matters: the sandbox is created first (a missing image fails the prompt before a
single token is spent), the agent runs under a wall-clock deadline, and cleanup always runs
(background processes killed first, then the sandbox removed and the task's settings
dropped), whatever happened in between.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from backends import BackendError, backend_class
from hermes_tui.agent.loop import Agent, AgentError
from hermes_tui.batch.inputs import PromptItem
from hermes_tui.batch.output import to_sharegpt
from hermes_tui.batch.redact import Redactor
from hermes_tui.tools import Tool, ToolContext
from registry import ProcessRegistry, RegistryError

STOP_GRACE = 30.0
"""After a timeout or a second Ctrl-C, how long the interrupted turn gets to wind down
(tools see the cancel at once; this bounds a tool that does not)."""


@dataclass(frozen=True)
class BatchSettings:
    """What every prompt of one batch run shares."""

    run_id: str
    """Unique per run (``batch-<utc time>-<random>``): task keys never repeat across runs."""
    backend: str
    model: str
    client: Any
    """One ``openai.AsyncOpenAI`` client for the whole batch (a shared connection pool)."""
    tools: list[Tool]
    system_prompt: str
    max_iterations: int = 30
    timeout: float | None = None
    """Wall-clock seconds per prompt, sandbox creation and cleanup included."""
    sharegpt: bool = False
    redactor: Redactor = field(default_factory=Redactor)
    count_usage: bool = True
    """Ask the endpoint for token usage (``stream_options.include_usage``)."""
    tool_executor: Executor | None = None
    """Threads for the prompts' tool calls (one per worker, so no prompt waits for a thread)."""


class _Stopped(Exception):
    """The second Ctrl-C came while the sandbox was being created."""


class _Recorder:
    """The agent listener of a headless run: counts tool calls, keeps notices."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.notices: list[str] = []

    def on_text(self, delta: str) -> None:
        pass

    def on_tool_call(self, name: str, arguments: str) -> None:
        self.calls[name] += 1

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        pass

    def on_notice(self, text: str, level: str) -> None:
        self.notices.append(text)


def task_key(settings: BatchSettings, index: int) -> str:
    """The owner key of prompt ``index``'s processes and sandbox (a valid container name)."""
    return f"{settings.run_id}-{index}"


def sandbox_options(kind: str, item: PromptItem) -> tuple[dict[str, Any], str | None]:
    """The per-task settings of ``item`` on backend ``kind`` and the image it asks for."""
    image = item.image_for(kind)
    try:
        accepted = inspect.signature(backend_class(kind).__init__).parameters
    except BackendError:
        return {}, None
    options: dict[str, Any] = {}
    if image and "image" in accepted:
        options["image"] = image
    else:
        image = None  # this backend has no images (local, ssh): nothing was overridden
    if item.cwd and "workdir" in accepted:
        options["workdir"] = item.cwd
    return options, image


async def run_prompt(
    item: PromptItem,
    index: int,
    settings: BatchSettings,
    registry: ProcessRegistry,
    hard_stop: asyncio.Event,
) -> dict[str, Any]:
    """Run one prompt start to finish and return its result record (secrets masked)."""
    kind = settings.backend
    key = task_key(settings, index)
    started = time.time()
    deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
    options, image = sandbox_options(kind, item)
    record: dict[str, Any] = {
        "id": item.id,
        "status": "failed",
        "final_answer": None,
        "messages": [],
        "tool_stats": {},
        "tool_errors": [],
        "turns": 0,
        "usage": None,
        "backend": kind,
        "image": image,
        "sandbox": None,
        "task_key": key,
        "model": settings.model,
        "metadata": item.metadata,
        "error": None,
    }
    timings: dict[str, float] = {}
    recorder = _Recorder()
    agents: list[Agent] = []
    registry.set_sandbox_options(kind, key, options)
    try:
        await _attempt(
            item, key, settings, registry, record, timings, recorder, agents, deadline, hard_stop
        )
    finally:
        t0 = time.monotonic()
        try:
            await asyncio.to_thread(registry.release_sandbox, kind, key)
        except (RegistryError, BackendError) as exc:
            record["cleanup_error"] = str(exc)
        timings["cleanup_s"] = time.monotonic() - t0
        _fill(record, agents[0] if agents else None, recorder, settings, started, timings)
    return settings.redactor.value(record)  # type: ignore[no-any-return]


async def _attempt(
    item: PromptItem,
    key: str,
    settings: BatchSettings,
    registry: ProcessRegistry,
    record: dict[str, Any],
    timings: dict[str, float],
    recorder: _Recorder,
    agents: list[Agent],
    deadline: float | None,
    hard_stop: asyncio.Event,
) -> None:
    """Create the sandbox, then run the agent; the outcome goes into ``record``."""
    kind = settings.backend
    t0 = time.monotonic()
    try:
        backend = await _bounded(
            asyncio.to_thread(registry.backend, kind, key), deadline, hard_stop
        )
    except (BackendError, RegistryError) as exc:
        record["error"] = f"sandbox: {exc}"
        return
    except TimeoutError:
        record["status"], record["error"] = "timeout", "timed out creating the sandbox"
        return
    except _Stopped:
        record["status"], record["error"] = "interrupted", "interrupted (Ctrl-C)"
        return
    timings["sandbox_s"] = time.monotonic() - t0
    ref = getattr(backend, "sandbox_ref", None)
    if callable(ref):
        record["sandbox"] = ref()
        record["image"] = record["sandbox"].get("image", record["image"])
    ctx = ToolContext(registry=registry, owner=key, backend=kind, workdir=item.cwd)
    agent = Agent(
        settings.client,
        settings.model,
        settings.tools,
        ctx,
        system_prompt=item.system or settings.system_prompt,
        max_iterations=settings.max_iterations,
        stream_options={"include_usage": True} if settings.count_usage else None,
        executor=settings.tool_executor,
    )
    agents.append(agent)
    t0 = time.monotonic()
    status, answer, error = await _run_agent(
        agent, item.prompt, recorder, deadline, settings.timeout, hard_stop
    )
    timings["agent_s"] = time.monotonic() - t0
    record.update(status=status, final_answer=answer, error=error)


async def _bounded(work: Any, deadline: float | None, hard_stop: asyncio.Event) -> Any:
    """Await ``work``; TimeoutError at ``deadline``, :class:`_Stopped` on a hard stop.

    The thread behind ``work`` cannot be stopped; it finishes on its own and its sandbox
    is still removed by the cleanup that follows (the registry knows the task key).
    """
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(hard_stop.wait())
    try:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        await asyncio.wait({task, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        await asyncio.wait({task})  # let the sandbox exist fully, so cleanup finds it
        task.exception()  # a failure then no longer matters (and is not reported as lost)
        if stop.done():
            raise _Stopped
        raise TimeoutError
    finally:
        stop.cancel()


async def _run_agent(
    agent: Agent,
    prompt: str,
    recorder: _Recorder,
    deadline: float | None,
    limit: float | None,
    hard_stop: asyncio.Event,
) -> tuple[str, str | None, str | None]:
    """Run the turn; on the deadline or a hard stop, cancel it the way Esc does."""
    turn = asyncio.ensure_future(agent.run_turn(prompt, recorder))
    stop = asyncio.ensure_future(hard_stop.wait())
    try:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        await asyncio.wait({turn, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not turn.done():
            status = "interrupted" if stop.done() else "timeout"
            agent.ctx.cancel.cancel()
            await asyncio.wait({turn}, timeout=STOP_GRACE)
            if not turn.done():
                turn.cancel()
            if status == "interrupted":
                return status, None, "interrupted (Ctrl-C)"
            return status, None, f"timed out after {limit:g}s (--timeout)"
        try:
            answer = turn.result()
        except AgentError as exc:
            return "failed", None, str(exc)
        except Exception as exc:  # a bug must fail this prompt, never the batch
            return "failed", None, f"internal error: {type(exc).__name__}: {exc}"
        if not _finished(agent.messages):
            return (
                "failed",
                answer or None,
                (f"no final answer after {agent.max_iterations} model calls (--max-iterations)"),
            )
        return "ok", answer, None
    finally:
        stop.cancel()


def _finished(messages: list[dict[str, Any]]) -> bool:
    """True when the last message is the model answering without asking for tools."""
    last = messages[-1] if messages else {}
    return last.get("role") == "assistant" and not last.get("tool_calls")


def _fill(
    record: dict[str, Any],
    agent: Agent | None,
    recorder: _Recorder,
    settings: BatchSettings,
    started: float,
    timings: dict[str, float],
) -> None:
    """Add the trajectory, tool statistics, usage and timings to ``record``."""
    ended = time.time()
    record["timings"] = {
        "started_at": started,
        "ended_at": ended,
        "wall_s": round(ended - started, 3),
        **{k: round(v, 3) for k, v in timings.items()},
    }
    if agent is None:
        return
    messages = list(agent.messages)
    record["messages"] = messages
    record["turns"] = sum(1 for m in messages if m.get("role") == "assistant")
    errors: Counter[str] = Counter(e.tool for e in agent.tool_errors)
    record["tool_stats"] = {
        name: {"calls": recorder.calls[name], "errors": errors[name]}
        for name in sorted(set(recorder.calls) | set(errors))
    }
    record["tool_errors"] = [
        {"tool": e.tool, "turn": e.turn, "arguments": e.arguments, "error": e.error}
        for e in agent.tool_errors
    ]
    record["usage"] = dict(agent.usage) or None
    if recorder.notices:
        record["notices"] = recorder.notices
    if settings.sharegpt:
        record["conversations"] = to_sharegpt(messages)
