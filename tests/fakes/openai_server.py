"""A scripted OpenAI-compatible chat completions server on 127.0.0.1, for agent tests.

It speaks the real wire protocol (JSON errors, server-sent event streams with text and tool
call deltas, or whole ``chat.completion`` objects when the request does not ask to stream, as
Atropos's servers do), so the real ``openai`` client does all the talking. Atropos's one-token
"hi" health checks are answered without using up the script. Each request takes the next
step of the script; a step is a :class:`Reply` or a function of the request's messages that
returns one (to use ids from earlier tool results). Every request body is kept for asserts.

Like real OpenAI-compatible servers, it rejects (400, without using a step) a history where an
assistant ``tool_calls`` message is not followed by a ``tool`` answer for each call, or where
a ``tool`` message answers no pending call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    text: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    """(name, arguments as the model would send them: a JSON string, maybe broken)."""
    status: int = 200
    chunk_delay: float = 0.0
    """Seconds between streamed chunks (to test interrupts)."""


Step = Reply | Callable[[list[dict[str, Any]]], Reply]


def tool_call(name: str, arguments: dict[str, Any] | str) -> Reply:
    """A reply that calls one tool."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Reply(tool_calls=[(name, raw)])


def last_tool_result(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON of the most recent tool message in a request."""
    for message in reversed(messages):
        if message.get("role") == "tool":
            result: dict[str, Any] = json.loads(message["content"])
            return result
    raise AssertionError("no tool result in the request")


def history_problem(messages: list[dict[str, Any]]) -> str | None:
    """What a real server would refuse in ``messages`` (None when the history is valid)."""
    pending: list[str] = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' (tool_call_id {call_id!r})"
                )
            pending.remove(call_id)
            continue
        if pending:
            break
        pending = [call["id"] for call in message.get("tool_calls") or []]
    if pending:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(pending)}"
        )
    return None


class ScriptedModel:
    """The server; use as a context manager."""

    def __init__(self, script: Sequence[Step]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        """Why invalid histories were refused (400)."""
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if _is_health_check(body):
                    self._send_json(200, _completion(body["model"], Reply(text="ok")))
                    return
                model.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                problem = history_problem(body["messages"])
                if problem:
                    model.rejected.append(problem)
                    self._error(Reply(status=400, text=problem))
                    return
                with model._lock:
                    step = (
                        model.script.pop(0)
                        if model.script
                        else Reply(status=500, text="the test script has no more steps")
                    )
                reply = step(body["messages"]) if callable(step) else step
                if reply.status != 200:
                    self._error(reply)
                elif not body.get("stream"):
                    self._send_json(200, _completion(body["model"], reply))
                else:
                    self._stream(body, reply)

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, reply: Reply) -> None:
                payload = json.dumps(
                    {
                        "error": {
                            "message": reply.text or f"status {reply.status}",
                            "type": "test_error",
                            "code": reply.status,
                        }
                    }
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                model_name = body["model"]
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    for delta, finish in _deltas(reply):
                        chunk = {
                            "id": "chatcmpl-test",
                            "object": "chat.completion.chunk",
                            "created": int(time.time()),
                            "model": model_name,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)  # a slow model, on purpose
                    if (body.get("stream_options") or {}).get("include_usage"):
                        # As OpenAI does: a last chunk without choices carries the counts.
                        usage = _usage(body["messages"], reply)
                        chunk = {
                            "id": "chatcmpl-test",
                            "object": "chat.completion.chunk",
                            "created": int(time.time()),
                            "model": model_name,
                            "choices": [],
                            "usage": usage,
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (an interrupt)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _is_health_check(body: dict[str, Any]) -> bool:
    return (
        body.get("max_tokens") == 1
        and not body.get("stream")
        and body.get("messages") == [{"role": "user", "content": "hi"}]
    )


def _completion(model_name: str, reply: Reply) -> dict[str, Any]:
    """A whole (non-streamed) ``chat.completion`` object for ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{name}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for index, (name, arguments) in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _deltas(reply: Reply) -> Iterator[tuple[dict[str, Any], str | None]]:
    yield {"role": "assistant", "content": ""}, None
    words = reply.text.split(" ")
    for i, word in enumerate(words):
        if word or i:
            yield {"content": word if i == 0 else " " + word}, None
    for index, (name, arguments) in enumerate(reply.tool_calls):
        half = len(arguments) // 2
        yield (
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": f"call_{index}_{name}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments[:half]},
                    }
                ]
            },
            None,
        )
        yield {"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}, None
    yield {}, "tool_calls" if reply.tool_calls else "stop"


def _usage(messages: list[dict[str, Any]], reply: Reply) -> dict[str, int]:
    """Deterministic token counts: one token per 4 characters, as a rough tokenizer would."""
    prompt = sum(len(json.dumps(m)) for m in messages) // 4 + 1
    completion = (len(reply.text) + sum(len(a) + len(n) for n, a in reply.tool_calls)) // 4 + 1
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
