"""The backend interface: where commands run.

Every backend runs each background process under a small *supervisor* that lives where the
process runs and owns a run directory (see ``backends/data/supervisor.sh`` for the layout). The
supervisor, not the app, holds the process's PTY and stdin and appends everything it prints to
an output spool addressed by byte offset, so a process outlives the app and can be re-adopted
with its whole output. A backend therefore only has to move bytes between the app and that run
directory; the interface below is the same for all six backends (local, docker, ssh, modal,
daytona, singularity).

Backends are synchronous and thread-safe: the registry calls them from worker threads and the
output arrives on the backend's own follower thread through an :class:`OutputSink`.
"""

from __future__ import annotations

import signal as _signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol

DEFAULT_SPOOL_CAP = 64 << 20


class BackendError(Exception):
    """Root of every error a backend raises; the message is meant for the user."""


class BackendUnavailableError(BackendError):
    """The backend cannot be used here (missing SDK or CLI, unreachable engine)."""


class SpawnError(BackendError):
    """A background process could not be started."""


class DuplicateIdError(SpawnError):
    """A process with this id already exists in the environment; pick another id."""


class ProcessGoneError(BackendError):
    """The process (or its stdin / PTY) no longer exists."""


class CommandTimeoutError(BackendError, TimeoutError):
    """A foreground command ran past its timeout and was killed."""


@dataclass(frozen=True)
class RunResult:
    """Outcome of a foreground command."""

    output: bytes
    """stdout and stderr, interleaved as written."""
    exit_code: int
    """The exit code; ``-N`` when killed by signal N, 124 on timeout, 130 when interrupted."""
    timed_out: bool = False
    interrupted: bool = False
    total_bytes: int | None = None
    """Bytes the command printed, when more than ``output`` holds (its middle elided)."""
    saved_output: str | None = None
    """A file in the environment holding the whole output, when it was too big to return."""


@dataclass(frozen=True)
class SpawnSpec:
    """What to start in the background."""

    proc_id: str
    argv: Sequence[str]
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment on top of the backend's base environment. Never persisted."""
    pty: bool = False
    rows: int = 24
    cols: int = 80
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Free-form, JSON-serialisable details stored in the run directory (command, owner,
    name...) so a process can be described again even without the app's checkpoint."""


@dataclass(frozen=True)
class ProcHandle:
    """Everything needed to find a background process again, JSON-serialisable.

    Identity is ``pid`` plus ``start_ticks`` (the kernel's start time of that pid) plus
    ``boot_id``: a pid that was reused by another process never matches all three.
    """

    proc_id: str
    backend: str
    run_dir: str
    """The supervisor's run directory, as a path inside the execution environment."""
    pid: int
    """The process's pid (also its process group id) inside the execution environment."""
    start_ticks: int
    supervisor_pid: int
    supervisor_start_ticks: int
    boot_id: str
    nonce: str
    pty: bool
    tty: str | None = None
    sandbox: Mapping[str, str] = field(default_factory=dict)
    """Backend-specific reference to the sandbox (container id, host, ...); empty for local."""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form of the handle."""
        data = asdict(self)
        data["sandbox"] = dict(self.sandbox)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcHandle:
        """Rebuild a handle from :meth:`to_dict` output.

        Raises:
            ValueError: when a field is missing or of the wrong type.
        """
        try:
            return cls(
                proc_id=str(data["proc_id"]),
                backend=str(data["backend"]),
                run_dir=str(data["run_dir"]),
                pid=int(data["pid"]),
                start_ticks=int(data["start_ticks"]),
                supervisor_pid=int(data["supervisor_pid"]),
                supervisor_start_ticks=int(data["supervisor_start_ticks"]),
                boot_id=str(data["boot_id"]),
                nonce=str(data["nonce"]),
                pty=bool(data["pty"]),
                tty=None if data.get("tty") is None else str(data["tty"]),
                sandbox={str(k): str(v) for k, v in dict(data.get("sandbox") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid process handle: {exc!r}") from exc


@dataclass(frozen=True)
class ExitStatus:
    """How a process ended."""

    exit_code: int | None
    """The exit code; ``-N`` when killed by signal N; ``None`` when it could not be observed."""
    ended_at: float | None = None
    """Wall-clock time of the end, when known."""
    killed_by: str | None = None
    """Why the process was killed, when hermes-tui killed it (e.g. ``"SIGTERM by user"``)."""
    detail: str | None = None
    """Why the end could not be observed, when ``exit_code`` is None."""

    @property
    def signal(self) -> int | None:
        """The signal number that ended the process, if any."""
        return -self.exit_code if self.exit_code is not None and self.exit_code < 0 else None


ProbeState = Literal["running", "ended", "lost"]


@dataclass(frozen=True)
class Probe:
    """What a backend found when looking for a process from its handle."""

    state: ProbeState
    """Running, ended (``exit`` says how) or lost (no trace of it: never guessed)."""
    exit: ExitStatus | None = None
    output_size: int = 0
    detail: str = ""
    dropped: int = 0
    """Bytes at the start of the spool dropped by its cap (offsets stay absolute)."""
    dropped_lines: int = 0
    """Newlines in the dropped bytes (line numbers stay absolute)."""


class OutputSink(Protocol):
    """Receives a process's output and its end, on the backend's follower thread.

    Implementations must be quick and must not block: the same thread serves every process.
    """

    def on_output(self, data: bytes) -> None:
        """Called with output bytes, in order, without gaps or repeats."""

    def on_exit(self, status: ExitStatus) -> None:
        """Called once, after the last :meth:`on_output` call."""


class Subscription(Protocol):
    """A running :meth:`Backend.follow`."""

    def close(self) -> None:
        """Stop delivering output. Idempotent."""


def signal_number(sig: int | str) -> int:
    """Turn ``15``, ``"15"``, ``"TERM"`` or ``"SIGTERM"`` into a signal number.

    Raises:
        ValueError: for an unknown signal.
    """
    if isinstance(sig, int):
        return int(_signal.Signals(sig))
    text = sig.strip().upper()
    if text.isdigit():
        return int(_signal.Signals(int(text)))
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(_signal.Signals[text])
    except KeyError:
        raise ValueError(f"unknown signal: {sig!r}") from None


def signal_name(sig: int) -> str:
    """Return ``"SIGTERM"`` for 15, or ``"signal N"`` for a number without a name."""
    try:
        return _signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


class Backend(ABC):
    """One execution environment: the host, a container, a remote host or a sandbox.

    Subclasses implement the primitives; :meth:`kill` and :meth:`wait` are built on them.
    """

    kind: ClassVar[str]
    spool_cap: int = DEFAULT_SPOOL_CAP
    """Bytes of output kept on disk per process (0: everything). Older bytes are dropped (the
    spool keeps its size, so offsets and line numbers stay absolute) and counted. Set with the
    backend option ``spool_cap_mb``."""

    # -- foreground -------------------------------------------------------------------------
    @abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        """Run a command to completion and return its merged output and exit code.

        A timeout or a set ``cancel`` event kills the command's process group and returns
        exit code 124 or 130 respectively.
        """

    @classmethod
    def sandbox_options(cls, key: str) -> dict[str, Any]:
        """Options that give chat session / task ``key`` its own sandbox (none: shared)."""
        return {}

    def shell_argv(self, command: str) -> list[str]:
        """Return the argv that runs a shell command line in this environment."""
        return ["/bin/sh", "-c", command]

    # -- background -------------------------------------------------------------------------
    @abstractmethod
    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        """Start a background process under the supervisor and return its handle.

        Raises:
            SpawnError: when the command cannot be started (e.g. not found).
        """

    @abstractmethod
    def follow(self, handle: ProcHandle, offset: int, sink: OutputSink) -> Subscription:
        """Deliver output from byte ``offset`` of the spool onwards, then the exit status."""

    @abstractmethod
    def read_output(self, handle: ProcHandle, offset: int, max_bytes: int) -> bytes:
        """Read up to ``max_bytes`` of the spool from ``offset`` (for refilling buffers)."""

    @abstractmethod
    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        """Look at many processes in one round trip (used by crash recovery)."""

    @abstractmethod
    def write(self, handle: ProcHandle, data: bytes) -> int:
        """Send bytes to the process's stdin or PTY; return the count written.

        Raises:
            ProcessGoneError: when the process has ended.
        """

    @abstractmethod
    def resize(self, handle: ProcHandle, rows: int, cols: int) -> None:
        """Resize the process's PTY (the program receives SIGWINCH)."""

    @abstractmethod
    def signal(self, handle: ProcHandle, sig: int) -> None:
        """Send a signal to the process's whole process group.

        Raises:
            ProcessGoneError: when the process has ended or is not the one we started.
        """

    def kill_tree(self, handle: ProcHandle, sig: int) -> int:
        """Send ``sig`` to the process group and to every process it ever started, wherever
        it went (another session, an interactive shell's job, outliving the leader).

        Works after the leader has ended. Returns how many processes outside the group were
        found (the base implementation knows only the group).
        """
        try:
            self.signal(handle, sig)
        except ProcessGoneError:
            pass
        return 0

    def descendants(self, handle: ProcHandle) -> int:
        """How many processes the process started still run (the leader included while it
        runs); the base implementation cannot tell and says 0."""
        return 0

    @abstractmethod
    def record_kill(self, handle: ProcHandle, reason: str) -> None:
        """Note in the run directory why the process is being killed, for every reader."""

    @abstractmethod
    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        """Write ``data`` to ``remote_path`` in the environment, creating parent dirs."""

    @abstractmethod
    def download(self, remote_path: str) -> bytes:
        """Return the bytes of ``remote_path`` in the environment."""

    @abstractmethod
    def remove_run_dir(self, handle: ProcHandle) -> None:
        """Delete the run directory of an ended process."""

    def cleanup(self, active: Sequence[ProcHandle] = ()) -> None:
        """Tear down the environment; refused while it has active background processes.

        Raises:
            BackendError: when ``active`` is not empty.
        """
        if active:
            raise BackendError(
                f"not cleaning up the {self.kind} backend: {len(active)} background "
                "process(es) still running"
            )

    # -- built on the primitives ---------------------------------------------------------
    def poll(self, handle: ProcHandle) -> Probe:
        """Return the current state of one process."""
        return self.probe([handle])[0]

    def wait(self, handle: ProcHandle, timeout: float) -> ExitStatus | None:
        """Block until the process ends or ``timeout`` passes (polls; the registry waits on
        events instead)."""
        deadline = time.monotonic() + timeout
        while True:
            probe = self.poll(handle)
            if probe.state != "running":
                return probe.exit or ExitStatus(None)
            if time.monotonic() >= deadline:
                return None
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
