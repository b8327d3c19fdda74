"""Helpers of the Daytona backend: settings checks, the exec wrapper's decoding, the exit gate.

Kept apart so ``backends/daytona.py`` reads as the backend itself; nothing here imports the SDK.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import shlex
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, cast

from backends.base import (
    BackendError,
    BackendUnavailableError,
    ExitStatus,
    OutputSink,
)
from backends.shell import ShellFollower


class StreamingShell(Protocol):
    """What the follower needs of :class:`backends.daytona.DaytonaBackend` beyond a shell
    backend (named by this protocol, not imported: that module imports this one)."""

    def stream_lines(self, command: str) -> Iterator[bytes]: ...


FOLLOW_CHUNK = 2 << 20
"""The most one follower line carries: big reads under a flood, few processes per MB."""

TRAILER = "echo ---"
"""Printed after every base64 line. Why: the SDK's log demux holds back a trailing piece shorter
than its 3-byte stream marker until more data arrives, so a line whose newline came in a
write of its own would wait for the next output (seen: 12 s). The trailer is one 4-byte write;
readers skip lines starting with ``-`` (not in the base64 alphabet)."""

# Encodes stdin chunk by chunk: dd does one read per call (what the pipe has), so output is
# streamed as it arrives, one base64 line per chunk.
ENCODER = (
    "while :; do c=$(dd bs=65536 count=1 2>/dev/null | base64 | tr -d '\\n'); "
    f'[ -n "$c" ] || break; echo "$c"; {TRAILER}; done'
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


class SpoolFollower(ShellFollower):
    """Follows a process's spool in the sandbox: one session command reads new bytes of
    ``out`` in ranges of up to :data:`FOLLOW_CHUNK` and prints each as a base64 line, until
    the process has ended and everything was sent; then the exit is reported.

    Why not ``tail -f`` into an encoder, as the generic shell follower does: a pipe hands
    over at most 64 KB per read, and encoding each piece in the sandbox costs a few
    processes, which capped a flood at a few MB/s. The rest (the spool's cap, resuming a
    dropped stream from the last offset delivered, retries, then lost with the reason) is
    the generic follower's.
    """

    def _script(self) -> str:
        size = "$(stat -c %s out 2>/dev/null || echo 0)"
        return (
            f"cd {shlex.quote(self.handle.run_dir)} || exit 0; o={self.offset}; while :; do "
            f's={size}; if [ "$s" -gt "$o" ]; then n=$((s-o)); '
            f'[ "$n" -gt {FOLLOW_CHUNK} ] && n={FOLLOW_CHUNK}; '
            "tail -c +$((o+1)) out | head -c $n | base64 | tr -d '\\n'; echo; "
            f"{TRAILER}; o=$((o+n)); "
            f"elif {self.backend._running_test(self.handle)}; then sleep 0.2; "
            f'elif [ "{size}" -le "$o" ]; then break; fi; done'
        )

    def _follow_to_the_end(self) -> None:
        streaming = cast(StreamingShell, self.backend)
        for chunk in streaming.stream_lines(self._script()):
            if self.closed:
                return
            self._deliver(chunk)
        for _ in range(50):  # the exit record is written a moment after the process ends
            if self.closed:
                return
            probe = self.backend.probe([self.handle])[0]
            if probe.state == "ended" and probe.exit is not None:
                self.sink.on_exit(probe.exit)
                return
            time.sleep(0.1)
        if not self.closed:
            self.sink.on_exit(ExitStatus(None, detail="it ended without an exit record"))
