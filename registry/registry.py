"""The process registry: every background process of this hermes-tui, on every backend."""

from __future__ import annotations

import logging
import math
import os
import secrets
import shlex
import signal as _signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends import (
    Backend,
    BackendError,
    DuplicateIdError,
    ExitStatus,
    ProcessGoneError,
    SpawnSpec,
    Subscription,
    backend_class,
    create_backend,
    signal_name,
)
from registry.buffer import DEFAULT_LIMIT, OutputBuffer
from registry.cancel import CancelToken
from registry.checkpoint import Checkpoint
from registry.cursors import CursorStore
from registry.errors import RegistryError
from registry.events import (
    ProcessExited,
    ProcessOutput,
    ProcessStarted,
    ProcessUpdated,
    RegistryEvent,
)
from registry.paths import ensure_private_dir
from registry.session import ProcessSession
from registry.spool import continuation_prefix, incomplete_suffix, spool_lines
from registry.text import clean_output

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 600.0
KILL_GRACE = 3.0
MAX_FINISHED = 200
"""Finished processes kept (with their run directories); older ones are forgotten."""
ENDING_SIGNALS = frozenset({_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM,
                            _signal.SIGKILL})

Subscriber = Callable[[RegistryEvent], None]



class UnknownProcessError(RegistryError, KeyError):
    """No process has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown process"


@dataclass(frozen=True)
class WaitResult:
    """Outcome of :meth:`ProcessRegistry.wait`."""

    session: ProcessSession
    status: str
    """``"exited"``, ``"killed"``, ``"lost"``, ``"timeout"`` or ``"interrupted"``."""
    waited: float
    note: str | None = None


@dataclass(frozen=True)
class LogResult:
    """A page of a process's output as lines."""

    lines: list[str]
    first_line: int
    """Absolute number (from 0) of ``lines[0]`` since the process started."""
    total_lines: int
    dropped_lines: int
    """Lines no longer held in memory (the buffer keeps the last 200 KB)."""
    from_spool: bool = False
    """The page was read from the output spool on disk (it is older than the buffer)."""


@dataclass(frozen=True)
class PollResult:
    """Output since the reader's previous poll."""

    session: ProcessSession
    new_output: bytes
    omitted: int
    """Bytes printed since the previous poll that were already dropped from the buffer."""


@dataclass
class RecoveryReport:
    """What crash recovery found on start."""

    adopted: list[ProcessSession] = field(default_factory=list)
    """Still running: re-adopted with their output."""
    ended: list[ProcessSession] = field(default_factory=list)
    """Were running when hermes-tui stopped, and ended meanwhile."""
    lost: list[ProcessSession] = field(default_factory=list)
    """Were running, and could not be found (never guessed)."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the user; empty when there was nothing to recover."""
        parts = []
        if self.adopted:
            parts.append(f"re-adopted {len(self.adopted)} running process(es)")
        if self.ended:
            parts.append(f"{len(self.ended)} ended while hermes-tui was not running")
        if self.lost:
            parts.append(f"{len(self.lost)} could not be found")
        return "; ".join(parts)


class _Sink:
    """Feeds one process's output into its buffer and tells the registry about its end."""

    def __init__(self, registry: ProcessRegistry, session: ProcessSession) -> None:
        self.registry = registry
        self.session = session

    def on_output(self, data: bytes) -> None:
        end = self.session.output.append(data)
        self.registry._emit(ProcessOutput(self.session, data, end))

    def on_exit(self, status: ExitStatus) -> None:
        self.registry._on_exit(self.session, status)


class ProcessRegistry:
    """Starts, tracks, steers and re-adopts background processes.

    One instance per app process (see :func:`registry.get_registry`); the chat agent, the UI,
    the CLI, the batch runner and the RL environments share it. Every method is thread-safe.

    Args:
        state_dir: where the checkpoint and local run directories live.
        backend_options: per backend kind, options passed to its constructor.
        max_wait: the longest a single :meth:`wait` blocks.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        backend_options: Mapping[str, Mapping[str, Any]] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        buffer_limit: int = DEFAULT_LIMIT,
    ) -> None:
        self.state_dir = Path(state_dir)
        ensure_private_dir(self.state_dir)
        self.checkpoint = Checkpoint(self.state_dir)
        self.cursors = CursorStore(self.state_dir / "cursors")
        self.max_wait = max_wait
        self.buffer_limit = buffer_limit
        self._backend_options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self._backends: dict[tuple[str, str], Backend] = {}
        self._installed: dict[str, Backend] = {}
        self._sandbox_options: dict[tuple[str, str], dict[str, Any]] = {}
        self._creating: dict[tuple[str, str], threading.Lock] = {}
        self._sessions: dict[str, ProcessSession] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()

    # -- backends ---------------------------------------------------------------------------
    def configure_backend(self, kind: str, options: Mapping[str, Any]) -> None:
        """Set a backend's options (from the config file) before its first use."""
        with self._lock:
            self._backend_options[kind] = {**self._backend_options.get(kind, {}), **options}

    def use_backend(self, backend: Backend) -> None:
        """Serve every request for ``backend.kind`` with this instance (a test double, or a
        backend built by an embedding program)."""
        with self._lock:
            self._installed[backend.kind] = backend

    def set_sandbox_options(self, kind: str, sandbox: str, options: Mapping[str, Any]) -> None:
        """Per chat session / task settings, e.g. the batch runner's per-prompt
        ``docker_image``: ``set_sandbox_options("docker", "task_7", {"image": ...})``."""
        with self._lock:
            self._sandbox_options[(kind, sandbox)] = dict(options)

    def backend(self, kind: str = "local", sandbox: str = "default") -> Backend:
        """Return the backend of ``kind`` for chat session / task ``sandbox``.

        Backends that isolate sessions (docker: a container each; singularity: an instance
        each) get one instance per sandbox key; the others are shared.

        Raises:
            BackendError: when the backend is unknown or unavailable.
        """
        with self._lock:
            if kind in self._installed:
                return self._installed[kind]
        per_sandbox = backend_class(kind).sandbox_options(sandbox)
        key = (kind, sandbox if per_sandbox else "")
        with self._lock:
            if key in self._backends:
                return self._backends[key]
            creating = self._creating.setdefault(key, threading.Lock())
            options = {**per_sandbox, **self._backend_options.get(kind, {}),
                       **self._sandbox_options.get((kind, sandbox), {})}
        # Created outside the registry lock: a sandbox can take seconds (a container, an
        # image pull) and the batch runner creates many at once.
        with creating:
            with self._lock:
                if key in self._backends:
                    return self._backends[key]
            try:
                backend = create_backend(kind, state_dir=self.state_dir, **options)
                with self._lock:
                    self._backends[key] = backend
            finally:
                with self._lock:
                    self._creating.pop(key, None)
            return backend

    def _backend_for(self, session: ProcessSession) -> Backend:
        return self.backend(session.backend, session.session_key)

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` for every event, from whichever thread produced it.

        Callbacks must return quickly (the UI posts a message and returns). Returns a function
        that unsubscribes.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: RegistryEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                log.exception("registry subscriber failed")

    # -- starting ---------------------------------------------------------------------------
    def spawn(
        self,
        command: str | Sequence[str],
        *,
        backend: str = "local",
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
        session_key: str = "default",
        name: str | None = None,
        stop_on_quit: bool = False,
    ) -> ProcessSession:
        """Start a background process and follow its output.

        Args:
            command: a shell command line, or an argv list run without a shell.
            backend: where to run it.
            workdir: working directory (default: the backend's).
            env: extra environment variables (never written to disk).
            pty: run under a pseudo-terminal of ``rows`` x ``cols``.
            session_key: the chat session that owns the process.
            name: a human name shown in lists.
            stop_on_quit: kill it when the app quits (default: it keeps running).

        Raises:
            RegistryError: when the process cannot be started.
        """
        target = self._backend_or_error(backend, session_key)
        if isinstance(command, str):
            if not command.strip():
                raise RegistryError("the command is empty")
            display, argv = command, target.shell_argv(command)
        else:
            argv = [str(a) for a in command]
            if not argv:
                raise RegistryError("the command is empty")
            display = shlex.join(argv)
        started = time.time()
        for _ in range(5):
            proc_id = self._new_id()
            metadata = {"command": display, "session_key": session_key, "name": name,
                        "started_at": started, "backend": backend}
            spec = SpawnSpec(proc_id=proc_id, argv=argv, workdir=workdir, env=dict(env or {}),
                             pty=pty, rows=rows, cols=cols, metadata=metadata)
            try:
                handle = target.spawn(spec)
                break
            except DuplicateIdError:
                continue
            except BackendError as exc:
                raise RegistryError(str(exc)) from None
        else:
            raise RegistryError("could not find a free process id")
        session = ProcessSession(
            id=proc_id, command=display, argv=argv, backend=backend,
            workdir=workdir or os.getcwd(), pty=pty, session_key=session_key,
            started_at=started, handle=handle, name=name, stop_on_quit=stop_on_quit,
            output=self._new_buffer(),
        )
        with self._lock:
            self._sessions[proc_id] = session
        self._save(session)
        self._emit(ProcessStarted(session))
        self._follow(session, offset=0)
        return session

    def _new_id(self) -> str:
        while True:
            proc_id = f"proc_{secrets.token_hex(3)}"
            with self._lock:
                if proc_id not in self._sessions:
                    return proc_id

    def _new_buffer(self) -> OutputBuffer:
        return OutputBuffer(self.buffer_limit)

    def _backend_or_error(self, kind: str, sandbox: str = "default") -> Backend:
        try:
            return self.backend(kind, sandbox)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def _follow(self, session: ProcessSession, offset: int) -> None:
        assert session.handle is not None
        subscription = self._backend_for(session).follow(
            session.handle, offset, _Sink(self, session)
        )
        with self._lock:
            self._subscriptions[session.id] = subscription

    # -- the end of a process ---------------------------------------------------------------
    def _on_exit(self, session: ProcessSession, status: ExitStatus) -> None:
        with self._lock:
            self._subscriptions.pop(session.id, None)
            if not session.is_running:
                return
            session.finish(status, notify=False)
        self._save(session)  # before waking waiters: once wait() returns, the end is on disk
        session.mark_ended()
        self._emit(ProcessExited(session))
        self._prune()

    def _save(self, *sessions: ProcessSession) -> None:
        self.checkpoint.update({s.id: s.to_record() for s in sessions})

    def _prune(self) -> None:
        """Forget the oldest finished processes beyond :data:`MAX_FINISHED`."""
        with self._lock:
            finished = sorted((s for s in self._sessions.values() if not s.is_running),
                              key=lambda s: s.ended_at or s.started_at)
            doomed = finished[: max(0, len(finished) - MAX_FINISHED)]
            for session in doomed:
                del self._sessions[session.id]
        if not doomed:
            return
        self.checkpoint.update({s.id: None for s in doomed})
        for session in doomed:
            self.cursors.forget(session.id)
            if session.handle is not None:
                try:
                    self._backend_for(session).remove_run_dir(session.handle)
                except BackendError:
                    pass

    # -- queries ----------------------------------------------------------------------------
    def get(self, proc_id: str) -> ProcessSession:
        """Return the process with this id (or a unique prefix of it, or its name).

        Raises:
            UnknownProcessError: when nothing matches, or several do.
        """
        proc_id = str(proc_id).strip()
        with self._lock:
            if proc_id in self._sessions:
                return self._sessions[proc_id]
            matches = [s for s in self._sessions.values()
                       if s.name == proc_id or (len(proc_id) >= 6 and s.id.startswith(proc_id))]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(sorted(s.id for s in matches))
            raise UnknownProcessError(f"{proc_id!r} matches several processes: {ids}")
        raise UnknownProcessError(
            f"no process with id {proc_id!r}; use the 'list' action (or 'hermes-tui ps --all') "
            "to see the ids"
        )

    def processes(self, session_key: str | None = None, *, include_finished: bool = True
             ) -> list[ProcessSession]:
        """Return processes, oldest first, optionally only those of one chat session."""
        with self._lock:
            sessions = sorted(self._sessions.values(), key=lambda s: s.started_at)
        return [s for s in sessions
                if (session_key is None or s.session_key == session_key)
                and (include_finished or s.is_running)]

    def has_active(self, session_key: str) -> bool:
        """True when the chat session owns a running process (it must not be reset)."""
        return any(s.is_running for s in self.processes(session_key))

    def output(self, proc_id: str) -> bytes:
        """Return the retained raw output of a process (the last 200 KB)."""
        return self._loaded(self.get(proc_id)).output.snapshot()

    def read_spool(self, proc_id: str, offset: int, max_bytes: int) -> bytes:
        """Read the process's full output spool (everything it ever printed) from ``offset``."""
        session = self.get(proc_id)
        if session.handle is None:
            return b""
        try:
            return self._backend_for(session).read_output(session.handle, offset, max_bytes)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def _loaded(self, session: ProcessSession) -> ProcessSession:
        """Make sure a recovered, finished process has its output read from its spool."""
        if session.output_loaded or session.handle is None:
            return session
        with self._lock:
            if not session.output_loaded:
                try:
                    backend = self._backend_for(session)
                    size = backend.probe([session.handle])[0].output_size
                    self._refill(session, backend, size)
                except BackendError as exc:
                    session.note = f"output unavailable: {exc}"
                session.output_loaded = True
        return session

    def _refill(self, session: ProcessSession, backend: Backend, size: int) -> None:
        assert session.handle is not None
        start = max(0, size - self.buffer_limit)
        data = backend.read_output(session.handle, start, size - start)
        start_line = None
        mid_line = False
        if start:
            mid_line = backend.read_output(session.handle, start - 1, 1) != b"\n"
            if start <= 16 << 20:  # numbering lines costs a read of everything before
                start_line = backend.read_output(session.handle, 0, start).count(b"\n")
        session.output.preload(data, start, start_line, mid_line)

    def poll(self, proc_id: str, reader: str = "agent") -> PollResult:
        """Return the output printed since ``reader``'s previous poll.

        The cursor is kept on disk per process (see :mod:`registry.cursors`), so it survives
        a restart and the CLI continues where the app stopped. Output never ends inside a
        UTF-8 character: an incomplete one waits for the next poll.
        """
        session = self._loaded(self.get(proc_id))
        taken: dict[str, Any] = {}

        def step(cursor: int) -> int:
            data, omitted = session.output.since(cursor)
            if omitted:  # the buffer dropped the start: begin at a whole character
                skip = continuation_prefix(data)
                data, omitted = data[skip:], omitted + skip
            if session.is_running:
                data = data[: len(data) - incomplete_suffix(data)]
            taken["data"], taken["omitted"] = data, omitted
            return cursor + omitted + len(data)

        with self._lock:
            fallback = session.cursors.get(reader, 0)
        new = self.cursors.advance(session.id, reader, step, fallback)
        with self._lock:
            session.cursors[reader] = new
        if "data" not in taken:  # the saved cursor was already past this output
            return PollResult(session, b"", 0)
        return PollResult(session, taken["data"], taken["omitted"])

    def log(self, proc_id: str, offset: int | None = None, limit: int = 200) -> LogResult:
        """Return ``limit`` lines of output from absolute line ``offset`` (default: the last).

        Line numbers count from the process's first line and do not shift as old output is
        dropped from memory; lines older than the buffer are read from the output spool on
        disk (when it cannot be read, the oldest retained lines are returned instead).
        """
        session = self._loaded(self.get(proc_id))
        limit = max(1, limit)
        dropped = session.output.dropped_lines
        text = clean_output(session.output.snapshot())
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if lines and session.output.starts_mid_line:
            # The start of the first line was dropped: show whole lines only.
            lines.pop(0)
            dropped += 1
        total = dropped + len(lines)
        if offset is None or offset < 0:
            first = max(dropped, total - limit)
        else:
            first = min(max(offset, dropped), total)
        if offset is not None and 0 <= offset < dropped and session.handle is not None:
            older = self._spool_lines(session, offset, limit)
            if older is not None:
                return LogResult(older, offset, total, dropped, from_spool=True)
        page = lines[first - dropped : first - dropped + limit]
        return LogResult(page, first, total, dropped)

    def _spool_lines(self, session: ProcessSession, first: int, limit: int
                     ) -> list[str] | None:
        """Lines ``first``.. of the whole output, from the spool; None if unreadable."""
        handle = session.handle
        assert handle is not None
        try:
            backend = self._backend_for(session)
            return spool_lines(lambda offset, size: backend.read_output(handle, offset, size),
                               first, limit)
        except BackendError:
            return None

    def wait(self, proc_id: str, timeout: float | None = None,
             cancel: CancelToken | None = None) -> WaitResult:
        """Block until the process ends, ``timeout`` passes, or ``cancel`` fires.

        ``timeout`` above :attr:`max_wait` (or None) is clamped to it, and the result's note
        says so.
        """
        session = self.get(proc_id)
        note = None
        effective = self.max_wait
        if timeout is not None and timeout < 0:
            raise RegistryError("timeout must not be negative")
        if timeout is not None and timeout <= self.max_wait:
            effective = timeout
        elif timeout is not None:
            note = (f"Requested wait of {timeout:g}s was clamped to the maximum of "
                    f"{self.max_wait:g}s")
        started = time.monotonic()
        waiter = threading.Event()
        with self._lock:
            session.waiters.add(waiter)
            if session.ended.is_set():
                waiter.set()
        if cancel is not None:
            cancel.register(waiter)
        try:
            waiter.wait(None if math.isinf(effective) else effective)
        finally:
            if cancel is not None:
                cancel.unregister(waiter)
            with self._lock:
                session.waiters.discard(waiter)
        waited = time.monotonic() - started
        if session.ended.is_set():
            return WaitResult(self._loaded(session), session.status.value, waited, note)
        if cancel is not None and cancel.cancelled:
            return WaitResult(session, "interrupted", waited,
                              "wait interrupted by the user; the process is still running")
        still = f"Waited {waited:.0f}s; the process is still running"
        return WaitResult(session, "timeout", waited, f"{note}. {still}" if note else still)

    # -- steering ---------------------------------------------------------------------------
    def _running(self, proc_id: str) -> tuple[ProcessSession, Backend]:
        session = self.get(proc_id)
        if not session.is_running or session.handle is None:
            raise RegistryError(f"process {session.id} is not running ({session.status.value})")
        return session, self._backend_or_error(session.backend, session.session_key)

    def write(self, proc_id: str, data: bytes | str) -> int:
        """Send ``data`` to the process's stdin (or PTY) as is."""
        session, backend = self._running(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        assert session.handle is not None
        try:
            return backend.write(session.handle, payload)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def submit(self, proc_id: str, data: bytes | str = "") -> int:
        """Send ``data`` then Enter: CR under a PTY (what a terminal sends), LF otherwise."""
        session = self.get(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        return self.write(session.id, payload + (b"\r" if session.pty else b"\n"))

    def resize(self, proc_id: str, rows: int, cols: int) -> None:
        """Resize the process's PTY."""
        if rows < 1 or cols < 1:
            raise RegistryError("rows and cols must be positive")
        session, backend = self._running(proc_id)
        assert session.handle is not None
        try:
            backend.resize(session.handle, rows, cols)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def send_signal(self, proc_id: str, sig: int, *, by: str = "user") -> None:
        """Send ``sig`` to the process's whole process group.

        A signal meant to end the process (HUP, INT, QUIT, TERM, KILL) is recorded so that the
        process shows as killed, with the reason.
        """
        session, backend = self._running(proc_id)
        assert session.handle is not None
        try:
            if sig in ENDING_SIGNALS:
                backend.record_kill(session.handle, f"{signal_name(sig)} by {by}")
            backend.signal(session.handle, sig)
        except ProcessGoneError:
            pass  # it ended on its own meanwhile; its exit arrives through the follower
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def kill(self, proc_id: str, *, grace: float = KILL_GRACE, by: str = "user"
             ) -> ProcessSession:
        """Stop a process: TERM to its group, then KILL if it is still there after ``grace``.

        Returns the session once it has ended (or after the KILL, if the end is slow to show).
        """
        session = self.get(proc_id)
        if not session.is_running:
            return session
        self.send_signal(session.id, _signal.SIGTERM, by=by)
        if not session.ended.wait(grace) and session.is_running:
            try:
                self.send_signal(session.id, _signal.SIGKILL, by=f"{by} (after SIGTERM)")
            except RegistryError:
                pass
            session.ended.wait(KILL_GRACE)
        return session

    def rename(self, proc_id: str, name: str | None) -> ProcessSession:
        """Give a process a name (shown in lists, usable instead of its id)."""
        session = self.get(proc_id)
        name = (name or "").strip() or None
        if name is not None:
            with self._lock:
                taken = [s.id for s in self._sessions.values()
                         if s.name == name and s is not session]
            if taken:
                raise RegistryError(f"the name {name!r} is already used by {taken[0]}")
        session.name = name
        self._save(session)
        self._emit(ProcessUpdated(session))
        return session

    def set_lifetime(self, proc_id: str, *, stop_on_quit: bool) -> ProcessSession:
        """Choose whether a process is killed when the app quits."""
        session = self.get(proc_id)
        session.stop_on_quit = stop_on_quit
        self._save(session)
        self._emit(ProcessUpdated(session))
        return session

    def restart(self, proc_id: str) -> ProcessSession:
        """Start the same command again (same backend, directory, terminal, owner, name).

        A still-running process is killed first; returns the new process.
        """
        old = self.get(proc_id)
        if old.is_running:
            self.kill(old.id, by="restart")
        ran_in_shell = old.argv[1:2] in (["-c"], ["-lc"]) and old.argv[2:] == [old.command]
        command: str | list[str] = old.command if ran_in_shell else old.argv
        name = old.name
        if name is not None:
            old.name = None
            self._save(old)
        return self.spawn(command, backend=old.backend, workdir=old.workdir or None,
                          pty=old.pty, session_key=old.session_key, name=name,
                          stop_on_quit=old.stop_on_quit)

    def stop_on_quit(self) -> list[ProcessSession]:
        """Kill the running processes whose lifetime ends with the app; return them."""
        return self._kill_all([s for s in self.processes() if s.is_running and s.stop_on_quit],
                              by="quit")

    def cleanup(self, session_key: str) -> list[ProcessSession]:
        """Kill every running process of a chat session (e.g. at the end of an RL episode)."""
        return self._kill_all([s for s in self.processes(session_key) if s.is_running],
                              by="cleanup")

    def release_sandbox(self, kind: str, sandbox: str) -> None:
        """End task / chat session ``sandbox`` for good (a batch prompt, an RL episode).

        Kills its running processes first, then forgets them and their run directories,
        drops its per-task sandbox settings, and removes its own sandbox (container /
        instance) of backend ``kind``, so nothing of the task is left behind and nothing is
        recreated later for it (pruning a forgotten process would otherwise bring its
        container back).

        Raises:
            RegistryError: when a process would not die (its sandbox is then kept) or the
                sandbox cannot be removed.
        """
        session_key = sandbox
        self.cleanup(session_key)
        sessions = self.processes(session_key)
        alive = [s for s in sessions if s.is_running]
        kinds = {kind, *(s.backend for s in sessions)}
        owned = {k for k in kinds if backend_class(k).sandbox_options(session_key)}
        for session in sessions:
            if session.is_running:
                continue
            with self._lock:
                self._sessions.pop(session.id, None)
                subscription = self._subscriptions.pop(session.id, None)
            if subscription is not None:
                subscription.close()
            if session.handle is not None and session.backend not in owned:
                # A shared backend (local, ssh) keeps run directories; an owned sandbox
                # takes them with it.
                try:
                    self.backend(session.backend, session_key).remove_run_dir(session.handle)
                except BackendError:
                    pass
        self.checkpoint.update({s.id: None for s in sessions if not s.is_running})
        with self._lock:
            for k in kinds:
                self._sandbox_options.pop((k, session_key), None)
            doomed = [] if alive else [
                (k, self._backends.pop((k, session_key))) for k in owned
                if (k, session_key) in self._backends]
        if alive:
            raise RegistryError(f"{len(alive)} process(es) of {session_key} would not die; "
                                "its sandbox is kept")
        for k, backend in doomed:
            try:
                backend.cleanup()
            except BackendError as exc:
                raise RegistryError(f"cannot remove the {k} sandbox of {session_key}: {exc}"
                                    ) from None

    def _kill_all(self, sessions: list[ProcessSession], by: str) -> list[ProcessSession]:
        """Kill ``sessions`` in parallel (each may take a grace period) and wait for all."""
        threads = [threading.Thread(target=self.kill, args=(s.id,), kwargs={"by": by})
                   for s in sessions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sessions

    def close(self) -> None:
        """Stop following output. Processes keep running (they are re-adopted next time)."""
        with self._lock:
            subscriptions = list(self._subscriptions.values())
            self._subscriptions.clear()
        for subscription in subscriptions:
            subscription.close()

    # -- crash recovery -----------------------------------------------------------------------
    def recover(self, *, after_restart: bool = True) -> RecoveryReport:
        """Re-adopt the processes of earlier runs (see :mod:`registry.recovery`); with
        ``after_restart=False``, pick up those started elsewhere since (not "recovered")."""
        from registry.recovery import recover

        return recover(self, after_restart=after_restart)

    def _adopt(self, session: ProcessSession) -> None:
        """Register a recovered session (called by recovery)."""
        with self._lock:
            self._sessions[session.id] = session

    def known(self, proc_id: str) -> bool:
        """True when this registry already tracks ``proc_id``."""
        with self._lock:
            return proc_id in self._sessions
