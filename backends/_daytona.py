"""Helpers of the Daytona backend: settings checks, the exec wrapper's decoding, the exit gate.

Kept apart so ``backends/daytona.py`` reads as the backend itself; nothing here imports the SDK.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from backends.base import BackendError, BackendUnavailableError, ExitStatus, OutputSink

# Encodes stdin chunk by chunk: dd does one read per call (what the pipe has), so output is
# streamed as it arrives, one base64 line per chunk.
ENCODER = (
    "while :; do c=$(dd bs=65536 count=1 2>/dev/null | base64 | tr -d '\\n'); "
    '[ -n "$c" ] || break; echo "$c"; done'
)


class ExitGate:
    """Keeps SDK calls out of interpreter shutdown.

    Why: the SDK's generated clients run every call through pydantic-core (Rust). A daemon
    thread still inside such a call when the interpreter finalizes is ended by pthread_exit,
    whose unwinding through Rust frames aborts the whole process (exit 134, seen with
    ``hermes-tui run``). At exit, new calls are refused and those in flight get a moment to
    return; threads then wait in plain Python code, which finalization ends cleanly.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        with self._cond:
            if self._closed:
                raise BackendError("hermes-tui is exiting: no more daytona calls")
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.wait_for(lambda: self._busy == 0, timeout)


GATE = ExitGate()
atexit.register(GATE.close)


class ExitHook:
    """An output sink that also calls ``ended`` once the process has exited."""

    def __init__(self, sink: OutputSink, ended: Callable[[], None]) -> None:
        self.sink, self.ended = sink, ended

    def on_output(self, data: bytes) -> None:
        self.sink.on_output(data)

    def on_exit(self, status: ExitStatus) -> None:
        self.sink.on_exit(status)
        self.ended()


def check_settings(
    texts: Mapping[str, object], numbers: Mapping[str, object], labels: object
) -> None:
    """Settings come from a config file: a wrong type is one clear line, not a traceback."""

    def bad(name: str, what: str, value: object) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"invalid settings for the daytona backend: '{name}' must be {what}, got {value!r}"
        )

    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise bad(name, "a string", value if name != "api_key" else "...")
    for name, value in numbers.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise bad(name, "a whole number >= 0", value)
    if labels is not None and not (
        isinstance(labels, Mapping) and all(isinstance(v, str) for v in labels.values())
    ):
        raise bad("labels", "a table of strings", labels)


def state_of(sandbox: Any) -> str:
    state = getattr(sandbox, "state", None)
    return str(getattr(state, "value", state) or "unknown")


def reason(exc: BaseException) -> str:
    """The first line of an SDK error, without the SDK's call prefix noise."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def kill_tagged(tag: str) -> str:
    return (
        f"for p in /proc/[0-9]*; do grep -qs HERMES_EXEC={tag} $p/environ && "
        "kill -9 ${p#/proc/} 2>/dev/null; done; true"
    )


def decode_exec(response: Any) -> tuple[int, bytes]:
    """Undo the wrapper of :meth:`DaytonaBackend.exec`: base64 output, then ``exit:CODE``."""
    text = str(response.result or "")
    head, _, code = text.rstrip("\n").rpartition("\nexit:")
    if not code.strip().lstrip("-").isdigit():
        raise BackendError(f"unexpected answer from the daytona sandbox: {text[:200]!r}")
    try:
        return int(code), base64.b64decode(head.strip())
    except ValueError:
        raise BackendError(
            "unexpected answer from the daytona sandbox: output was not base64"
        ) from None
