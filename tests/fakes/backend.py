"""An in-memory backend for UI tests: the test decides what each process prints and when it
ends, so app tests need no real processes and no waiting on them.

Install it with :func:`fake_registry` (or ``registry.use_backend(FakeBackend())``) and start
processes on backend ``"fake"``. Processes whose command is ``cat`` echo what is written to
them (with the CR->CRLF a terminal adds under a PTY), like a real ``cat`` under a PTY.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backends import (
    Backend,
    ExitStatus,
    OutputSink,
    Probe,
    ProcessGoneError,
    ProcHandle,
    RunResult,
    SpawnSpec,
    signal_name,
)
from registry import ProcessRegistry

_pids = itertools.count(40_000)


@dataclass
class FakeProcess:
    """One process of the fake backend, as the test sees it."""

    spec: SpawnSpec
    handle: ProcHandle
    output: bytearray = field(default_factory=bytearray)
    inputs: bytearray = field(default_factory=bytearray)
    line: bytearray = field(default_factory=bytearray)
    """What a ``cat`` under a PTY has been typed since the last Enter."""
    signals: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    exit: ExitStatus | None = None
    kill_reason: str | None = None
    sinks: list[OutputSink] = field(default_factory=list)


class _Subscription:
    def __init__(self, backend: FakeBackend, proc: FakeProcess, sink: OutputSink) -> None:
        self.backend, self.proc, self.sink = backend, proc, sink

    def close(self) -> None:
        with self.backend.lock:
            if self.sink in self.proc.sinks:
                self.proc.sinks.remove(self.sink)


class FakeBackend(Backend):
    """The Backend interface in memory, driven by the test."""

    kind = "fake"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.processes: dict[str, FakeProcess] = {}
        self.files: dict[str, bytes] = {}
        self.ran: list[Sequence[str]] = []

    # -- what the test does ---------------------------------------------------------------
    def process(self, proc_id: str) -> FakeProcess:
        """The fake process behind a registry id."""
        return self.processes[proc_id]

    def emit(self, proc_id: str, data: bytes) -> None:
        """The process prints ``data`` (delivered to followers at once, on this thread)."""
        with self.lock:
            proc = self.processes[proc_id]
            assert proc.exit is None, f"{proc_id} has ended"
            proc.output += data
            sinks = list(proc.sinks)
        for sink in sinks:
            sink.on_output(data)

    def end(self, proc_id: str, exit_code: int, killed_by: str | None = None) -> None:
        """The process ends with ``exit_code`` (negative: killed by that signal)."""
        with self.lock:
            proc = self.processes[proc_id]
            proc.exit = ExitStatus(exit_code, time.time(), killed_by)
            sinks = list(proc.sinks)
            proc.sinks.clear()
        for sink in sinks:
            sink.on_exit(proc.exit)

    # -- the Backend interface -------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        self.ran.append(list(argv))
        return RunResult(f"ran {' '.join(argv)}\n".encode(), 0)

    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        pid = next(_pids)
        handle = ProcHandle(
            spec.proc_id,
            self.kind,
            f"/fake/{spec.proc_id}",
            pid,
            pid,
            pid,
            pid,
            "fake-boot",
            f"nonce-{pid}",
            spec.pty,
        )
        with self.lock:
            self.processes[spec.proc_id] = FakeProcess(spec, handle)
        return handle

    def _proc(self, handle: ProcHandle) -> FakeProcess:
        proc = self.processes.get(handle.proc_id)
        if proc is None:
            raise ProcessGoneError(f"no fake process {handle.proc_id}")
        return proc

    def follow(self, handle: ProcHandle, offset: int, sink: OutputSink) -> _Subscription:
        with self.lock:
            proc = self._proc(handle)
            backlog, status = bytes(proc.output[offset:]), proc.exit
            if status is None:
                proc.sinks.append(sink)
        if backlog:
            sink.on_output(backlog)
        if status is not None:
            sink.on_exit(status)
        return _Subscription(self, proc, sink)

    def read_output(self, handle: ProcHandle, offset: int, max_bytes: int) -> bytes:
        with self.lock:
            return bytes(self._proc(handle).output[offset : offset + max_bytes])

    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        probes = []
        with self.lock:
            for handle in handles:
                proc = self.processes.get(handle.proc_id)
                if proc is None:
                    probes.append(Probe("lost", detail="not in the fake backend"))
                elif proc.exit is None:
                    probes.append(Probe("running", output_size=len(proc.output)))
                else:
                    probes.append(Probe("ended", proc.exit, len(proc.output)))
        return probes

    def write(self, handle: ProcHandle, data: bytes) -> int:
        with self.lock:
            proc = self._proc(handle)
            if proc.exit is not None:
                raise ProcessGoneError(f"{handle.proc_id} has ended")
            proc.inputs += data
            if proc.spec.argv[-1:] != ["cat"]:
                return len(data)
            out = bytearray()
            if not handle.pty:
                out += data
            else:  # the terminal echoes each key; cat prints each line when Enter comes
                for byte in data:
                    if byte in b"\r\n":
                        out += b"\r\n" + proc.line + b"\r\n"
                        proc.line.clear()
                    else:
                        out.append(byte)
                        proc.line.append(byte)
        self.emit(handle.proc_id, bytes(out))
        return len(data)

    def resize(self, handle: ProcHandle, rows: int, cols: int) -> None:
        with self.lock:
            self._proc(handle).sizes.append((rows, cols))

    def signal(self, handle: ProcHandle, sig: int) -> None:
        with self.lock:
            proc = self._proc(handle)
            proc.signals.append(sig)
            running, reason = proc.exit is None, proc.kill_reason
        if running:  # like a process without handlers: any of INT, TERM, HUP, KILL ends it
            self.end(handle.proc_id, -sig, reason or signal_name(sig))

    def record_kill(self, handle: ProcHandle, reason: str) -> None:
        with self.lock:
            self._proc(handle).kill_reason = reason

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        self.files[remote_path] = bytes(data)

    def download(self, remote_path: str) -> bytes:
        if remote_path not in self.files:
            raise FileNotFoundError(remote_path)
        return self.files[remote_path]

    def remove_run_dir(self, handle: ProcHandle) -> None:
        with self.lock:
            self.processes.pop(handle.proc_id, None)


def fake_registry(state_dir: Path) -> tuple[ProcessRegistry, FakeBackend]:
    """A registry whose ``"fake"`` backend is a new :class:`FakeBackend`."""
    registry = ProcessRegistry(state_dir)
    backend = FakeBackend()
    registry.use_backend(backend)
    return registry, backend
