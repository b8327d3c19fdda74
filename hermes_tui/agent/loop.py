"""The agent loop: OpenAI-compatible chat completions with tool calls, streamed.

One :class:`Agent` per chat session holds the conversation. A turn streams the model's text
to a listener token by token, runs the tool calls it asks for (synchronous tools in a thread
pool, so a tool that calls ``asyncio.run()`` inside cannot deadlock the event loop; async
tools on the loop), feeds the results back, and repeats until the model answers without tool
calls or the iteration limit is reached. Esc (the chat session's :class:`CancelToken`) stops the
stream and any blocked ``wait``.

The conversation always stays valid for the next request: every assistant ``tool_calls``
message gets a ``tool`` answer for each call. A new message while a turn runs (or the task
running the turn being cancelled) interrupts the running tool as Esc does, records
``{"status": "interrupted"}`` for it and for the calls not run, and only then starts the new
turn (see :meth:`Agent.run_turn` and :meth:`Agent.interrupt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from hermes_tui.tools import Tool, ToolContext
from hermes_tui.tools.base import call_tool
from hermes_tui.tools.redact import redact

SYSTEM_PROMPT = """You are Hermes, an agent working in a terminal workstation. You run commands \
with the `terminal` tool and manage long-running ones with the `process` tool.

Background workflow: start servers, watchers and long jobs with terminal(background=true); \
it returns a session_id at once. Then use process(action="poll") for new output, \
process(action="log") for pages of output, process(action="wait") to block until it ends \
(waits are capped; call again if it is still running), process(action="write"/"submit") to \
answer prompts, and process(action="kill") when it is no longer needed. Interactive programs \
need pty=true. The person can see and type into the same processes."""

_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hermes-tool")
SETTLE_TIMEOUT = 15.0
"""Longest a new turn waits for an interrupted tool's thread to finish before going on."""
INTERRUPTED = json.dumps(
    {"status": "interrupted", "note": "interrupted by the user (Esc or a new message)"}
)
NOT_RUN = json.dumps(
    {"status": "interrupted", "note": "not run: the user interrupted the turn before this call"}
)

Completer = Callable[
    [list[dict[str, Any]], list[dict[str, Any]]], Awaitable[tuple[str, list[tuple[str, str, str]]]]
]
"""One model call without streaming: ``(messages, tool schemas) -> (text, [(call id, tool
name, JSON arguments)])``. RL environments drive the model through Atropos with it."""


@dataclass(frozen=True)
class ToolError:
    """A tool call that failed, kept per chat session and shown in the UI."""

    tool: str
    arguments: str
    error: str
    turn: int


class AgentListener(Protocol):
    """Receives what happens during a turn (the chat pane implements it)."""

    def on_text(self, delta: str) -> None:
        """Streamed assistant text."""

    def on_tool_call(self, name: str, arguments: str) -> None:
        """The model asked for a tool call."""

    def on_tool_result(self, name: str, arguments: str, result: str) -> None:
        """A tool call finished with this JSON result."""

    def on_notice(self, text: str, level: str) -> None:
        """Something to tell the person (retries, errors, interruptions)."""


class AgentError(Exception):
    """The model could not be reached or refused the request; the message says why."""


@dataclass
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Agent:
    """A conversation with a model that can use tools."""

    client: Any
    """An ``openai.AsyncOpenAI`` client (created with ``max_retries=0``; we retry visibly)."""
    model: str
    tools: Sequence[Tool]
    ctx: ToolContext
    system_prompt: str = SYSTEM_PROMPT
    max_iterations: int = 30
    max_retries: int = 3
    backoff: float = 1.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    tool_errors: list[ToolError] = field(default_factory=list)
    turns: int = 0
    stream_options: dict[str, Any] | None = None
    """Sent with every request, e.g. ``{"include_usage": True}`` (headless runs count tokens;
    off by default because some endpoints reject the parameter)."""
    usage: dict[str, int] = field(default_factory=dict)
    """Token counts summed over the model calls, when the endpoint reports them."""
    executor: Executor | None = None
    """Where synchronous tools run (default: a shared pool of 32 threads)."""
    last_active: float = field(default_factory=time.time)
    completer: Completer | None = None
    """When set, model calls go through it instead of streaming from ``client``."""

    def __post_init__(self) -> None:
        if not self.messages:
            self.messages.append({"role": "system", "content": self.system_prompt})
        self._by_name = {tool.name: tool for tool in self.tools}
        self._turn_lock: asyncio.Lock | None = None
        self._inflight: Future[str] | None = None
        """The thread running the current (or an interrupted) synchronous tool."""

    @property
    def busy(self) -> bool:
        """True while a turn runs."""
        return self._turn_lock is not None and self._turn_lock.locked()

    async def interrupt(self) -> None:
        """Stop the running turn as Esc does and return once it has recorded its results
        (the interrupted tool's and ``{"status": "interrupted"}`` for calls not run)."""
        if not self.busy:
            return
        self.ctx.cancel.cancel()
        assert self._turn_lock is not None
        async with self._turn_lock:
            pass

    async def _settle(self) -> None:
        """Wait (bounded) for the thread of a tool cut off by task cancellation."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            with contextlib.suppress(Exception):  # its result was already replaced
                await asyncio.wait_for(asyncio.wrap_future(inflight), SETTLE_TIMEOUT)

    def set_tools(self, tools: Sequence[Tool]) -> None:
        """Change the tools offered from the next model call on."""
        self.tools = list(tools)
        self._by_name = {tool.name: tool for tool in self.tools}

    @property
    def cancelled(self) -> bool:
        """True when the person interrupted the current turn."""
        return self.ctx.cancel.cancelled

    async def run_turn(self, text: str, listener: AgentListener) -> str:
        """Answer one message; returns the final assistant text ('' when interrupted).

        A message sent while a turn is running interrupts that turn first (see
        :meth:`interrupt`), so the history stays valid.

        Raises:
            AgentError: when the model cannot be used (bad key, unknown model, unreachable).
        """
        if self._turn_lock is None:
            self._turn_lock = asyncio.Lock()
        if self._turn_lock.locked():
            self.ctx.cancel.cancel()
        async with self._turn_lock:
            await self._settle()
            return await self._turn(text, listener)

    async def _turn(self, text: str, listener: AgentListener) -> str:
        self.ctx.cancel.reset()
        self.turns += 1
        self.last_active = time.time()
        self.messages.append({"role": "user", "content": text})
        for _ in range(self.max_iterations):
            content, calls = await self._complete(listener)
            message: dict[str, Any] = {"role": "assistant", "content": content or None}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments},
                    }
                    for c in calls
                ]
            self.messages.append(message)
            if self.cancelled:
                listener.on_notice("Interrupted.", "warning")
                self._close_unanswered(calls)
                return ""
            if not calls:
                return content
            for index, call in enumerate(calls):
                if self.cancelled:
                    self._close_unanswered([call])
                    continue
                listener.on_tool_call(call.name, call.arguments)
                try:
                    result = await self._run_tool(call)
                except asyncio.CancelledError:
                    # The task running the turn was cancelled (the app took a new message):
                    # stop the tool's thread too, and answer every call before giving up.
                    self.ctx.cancel.cancel()
                    self.messages.append(
                        {"role": "tool", "tool_call_id": call.id, "content": INTERRUPTED}
                    )
                    self._close_unanswered(calls[index + 1 :])
                    raise
                listener.on_tool_result(call.name, call.arguments, result)
                self.messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
            if self.cancelled:
                listener.on_notice("Interrupted.", "warning")
                return ""
        listener.on_notice(
            f"Stopped after {self.max_iterations} model calls in one turn.", "warning"
        )
        return ""

    def _close_unanswered(self, calls: Sequence[_ToolCall]) -> None:
        """Every tool call needs an answer, or the next request is invalid."""
        for call in calls:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": NOT_RUN})

    async def _run_tool(self, call: _ToolCall) -> str:
        tool = self._by_name.get(call.name)
        if tool is None:
            result = json.dumps(
                {"error": f"unknown tool {call.name!r}; available: {', '.join(self._by_name)}"}
            )
        elif inspect.iscoroutinefunction(tool.handler):
            try:
                result = json.dumps(
                    redact(await tool.handler(json.loads(call.arguments or "{}"), self.ctx)),
                    ensure_ascii=False,
                )
            except Exception as exc:
                result = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        else:
            # A concurrent future, not the loop's wrapper: if this task is cancelled the
            # thread runs on, and the next turn waits for it (see _settle).
            self._inflight = (self.executor or _POOL).submit(
                call_tool, tool, call.arguments, self.ctx
            )
            result = await asyncio.wrap_future(self._inflight)
        try:
            error = json.loads(result).get("error")
        except (ValueError, AttributeError):
            error = None
        if error:
            self.tool_errors.append(
                ToolError(call.name, call.arguments[:200], str(error), self.turns)
            )
        return result

    async def _complete(self, listener: AgentListener) -> tuple[str, list[_ToolCall]]:
        """One streamed model call, retried on 429 / 5xx / timeouts with a notice."""
        import openai

        schemas = [tool.schema() for tool in self.tools]
        if self.completer is not None:
            content, raw_calls = await self.completer(self.messages, schemas)
            return content, [
                _ToolCall(call_id or f"call_{i}", name, arguments)
                for i, (call_id, name, arguments) in enumerate(raw_calls)
            ]
        for attempt in range(self.max_retries + 1):
            try:
                return await self._stream(schemas, listener)
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APIConnectionError,
            ) as exc:
                if attempt == self.max_retries:
                    raise AgentError(_describe(exc, self.client)) from None
                delay = self.backoff * 2**attempt
                listener.on_notice(
                    f"{_describe(exc, self.client)} Retrying in {delay:g}s "
                    f"({attempt + 1}/{self.max_retries}).",
                    "warning",
                )
                await asyncio.sleep(delay)
            except openai.APIStatusError as exc:
                raise AgentError(_describe(exc, self.client)) from None
        raise AgentError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _stream(
        self, schemas: list[dict[str, Any]], listener: AgentListener
    ) -> tuple[str, list[_ToolCall]]:
        extra: dict[str, Any] = {}
        if self.stream_options:
            extra["stream_options"] = self.stream_options
        stream = await self.client.chat.completions.create(
            model=self.model, messages=self.messages, tools=schemas or None, stream=True, **extra
        )
        content: list[str] = []
        calls: dict[int, _ToolCall] = {}
        iterator = stream.__aiter__()
        try:
            while True:
                next_chunk = asyncio.ensure_future(iterator.__anext__())
                while not next_chunk.done():
                    await asyncio.wait({next_chunk}, timeout=0.05)
                    if self.cancelled:
                        next_chunk.cancel()
                        return "".join(content), list(calls.values())
                try:
                    chunk = next_chunk.result()
                except StopAsyncIteration:
                    break
                self._count_usage(getattr(chunk, "usage", None))
                for choice in chunk.choices or []:
                    delta = choice.delta
                    if delta.content:
                        content.append(delta.content)
                        listener.on_text(delta.content)
                    for part in delta.tool_calls or []:
                        call = calls.setdefault(part.index, _ToolCall())
                        call.id = part.id or call.id
                        if part.function is not None:
                            call.name += part.function.name or ""
                            call.arguments += part.function.arguments or ""
        finally:
            await stream.close()
        for index, call in calls.items():
            call.id = call.id or f"call_{index}"
        return "".join(content), [calls[i] for i in sorted(calls)]

    def _count_usage(self, usage: Any) -> None:
        """Add a chunk's ``usage`` (sent in the last chunk when asked for) to the totals."""
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = getattr(usage, name, None)
            if isinstance(value, int):
                self.usage[name] = self.usage.get(name, 0) + value


def _describe(exc: Exception, client: Any) -> str:
    """A one-line, actionable description of an API failure."""
    import openai

    where = str(getattr(client, "base_url", "the endpoint"))
    if isinstance(exc, openai.AuthenticationError):
        return (
            f"The API key was rejected by {where} (401). Check the key in "
            "OPENAI_API_KEY (or the variable named by model.api_key_env)."
        )
    if isinstance(exc, openai.NotFoundError):
        return (
            f"{where} does not know that model or path (404). Check --model / "
            "model.name and --base-url."
        )
    if isinstance(exc, openai.RateLimitError):
        return f"{where} is rate limiting (429)."
    if isinstance(exc, openai.InternalServerError):
        return f"{where} had a server error ({exc.status_code})."
    if isinstance(exc, openai.APITimeoutError):
        return f"{where} did not answer in time."
    if isinstance(exc, openai.APIConnectionError):
        return f"Cannot reach {where}: is the endpoint running and the URL right?"
    if isinstance(exc, openai.APIStatusError):
        return f"{where} refused the request ({exc.status_code}): {exc.message}"
    return f"{type(exc).__name__}: {exc}"
