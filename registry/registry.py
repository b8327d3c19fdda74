"""The process registry: every background process of this hermes-tui, on every backend."""

from __future__ import annotations

import logging
import os
import secrets
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from backends import (
    BackendError,
    DuplicateIdError,
    ExitStatus,
    SpawnSpec,
    Subscription,
    backend_class,
)
from registry.adoption import Adoption
from registry.buffer import DEFAULT_LIMIT, OutputBuffer
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
from registry.pool import BackendPool
from registry.process import Process
from registry.reading import OutputQueries
from registry.results import UnknownProcessError
from registry.steering import Steering

log = logging.getLogger(__name__)

DEFAULT_MAX_WAIT = 600.0
MAX_FINISHED = 200
"""Finished processes kept (with their run directories); older ones are forgotten."""

Subscriber = Callable[[RegistryEvent], None]


class _Sink:
    """Feeds one process's output into its buffer and tells the registry about its end."""

    def __init__(self, registry: ProcessRegistry, proc: Process) -> None:
        self.registry = registry
        self.proc = proc

    def on_output(self, data: bytes) -> None:
        end = self.proc.output.append(data)
        self.registry._emit(ProcessOutput(self.proc, data, end))

    def on_exit(self, status: ExitStatus) -> None:
        self.registry._on_exit(self.proc, status)


class ProcessRegistry(BackendPool, OutputQueries, Steering, Adoption):
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
        self._init_backends(backend_options)
        self._procs: dict[str, Process] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._unfollowed: set[str] = set()
        """Known only from a read-only :meth:`load`: :meth:`recover` judges them again."""
        self._subscribers: list[Subscriber] = []
        self._lock = threading.RLock()

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
        owner: str = "default",
        name: str | None = None,
        stop_on_quit: bool = False,
    ) -> Process:
        """Start a background process and follow its output.

        Args:
            command: a shell command line, or an argv list run without a shell.
            backend: where to run it.
            workdir: working directory (default: the backend's).
            env: extra environment variables (never written to disk).
            pty: run under a pseudo-terminal of ``rows`` x ``cols``.
            owner: the chat session (its key) or batch task (its id) that owns the process;
                the process runs in the owner's sandbox.
            name: a human name shown in lists.
            stop_on_quit: kill it when the app quits (default: it keeps running).

        Raises:
            RegistryError: when the process cannot be started.
        """
        target = self._backend_or_error(backend, owner)
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
            metadata = {
                "command": display,
                "owner": owner,
                "name": name,
                "started_at": started,
                "backend": backend,
            }
            spec = SpawnSpec(
                proc_id=proc_id,
                argv=argv,
                workdir=workdir,
                env=dict(env or {}),
                pty=pty,
                rows=rows,
                cols=cols,
                metadata=metadata,
            )
            try:
                handle = target.spawn(spec)
                break
            except DuplicateIdError:
                continue
            except BackendError as exc:
                raise RegistryError(str(exc)) from None
        else:
            raise RegistryError("could not find a free process id")
        proc = Process(
            id=proc_id,
            command=display,
            argv=argv,
            backend=backend,
            workdir=workdir or os.getcwd(),
            pty=pty,
            owner=owner,
            started_at=started,
            handle=handle,
            name=name,
            stop_on_quit=stop_on_quit,
            output=self._new_buffer(),
        )
        with self._lock:
            self._procs[proc_id] = proc
        self._save(proc)
        self._emit(ProcessStarted(proc))
        self._follow(proc, offset=0)
        return proc

    def _new_id(self) -> str:
        while True:
            proc_id = f"proc_{secrets.token_hex(3)}"
            with self._lock:
                if proc_id not in self._procs:
                    return proc_id

    def _new_buffer(self) -> OutputBuffer:
        return OutputBuffer(self.buffer_limit)

    def _follow(self, proc: Process, offset: int) -> None:
        assert proc.handle is not None
        subscription = self._backend_for(proc).follow(proc.handle, offset, _Sink(self, proc))
        with self._lock:
            self._subscriptions[proc.id] = subscription

    # -- the end of a process ---------------------------------------------------------------
    def _on_exit(self, proc: Process, status: ExitStatus) -> None:
        survivors = 0
        # A kill counts what is left itself, once its grace is over (counting now would catch
        # processes still dying of the same signal).
        if proc.handle is not None and not status.killed_by:
            try:  # what it started and left running (setsid, shell jobs, the rest of its group)
                survivors = self._backend_for(proc).descendants(proc.handle)
            except BackendError:
                pass
        with self._lock:
            self._subscriptions.pop(proc.id, None)
            if not proc.is_running:
                return
            proc.finish(status, notify=False)
            proc.survivors = survivors
        self._save(proc)  # before waking waiters: once wait() returns, the end is on disk
        if status.killed_by and proc.handle is not None:
            timer = threading.Timer(1.0, self._recount_survivors, args=(proc,))
            timer.daemon = True
            timer.start()
        proc.mark_ended()
        self._emit(ProcessExited(proc))
        self._prune()

    def _recount_survivors(self, proc: Process) -> None:
        """A moment after a kill (from the kill menu too): anything it left running?"""
        assert proc.handle is not None
        backend = self._open_backend(proc.backend, proc.owner)
        if backend is None or not self._tracked(proc):
            return  # forgotten meanwhile (a released sandbox): nothing to count or save
        try:
            left = backend.descendants(proc.handle)
        except BackendError:
            return
        if left != proc.survivors and self._tracked(proc):
            proc.survivors = left
            self._updated(proc)

    def _tracked(self, proc: Process) -> bool:
        with self._lock:
            return self._procs.get(proc.id) is proc

    def _save(self, *procs: Process) -> None:
        self.checkpoint.update({s.id: s.to_record() for s in procs})

    def _prune(self) -> None:
        """Forget the oldest finished processes beyond :data:`MAX_FINISHED`."""
        with self._lock:
            finished = sorted(
                (s for s in self._procs.values() if not s.is_running),
                key=lambda s: s.ended_at or s.started_at,
            )
            doomed = finished[: max(0, len(finished) - MAX_FINISHED)]
            for proc in doomed:
                del self._procs[proc.id]
        if not doomed:
            return
        self.checkpoint.update({s.id: None for s in doomed})
        for proc in doomed:
            self.cursors.forget(proc.id)
            if proc.handle is not None:
                try:
                    self._backend_for(proc).remove_run_dir(proc.handle)
                except BackendError:
                    pass

    # -- queries ----------------------------------------------------------------------------
    def get(self, proc_id: str) -> Process:
        """Return the process with this id (or a unique prefix of it, or its name).

        Raises:
            UnknownProcessError: when nothing matches, or several do.
        """
        proc_id = str(proc_id).strip()
        with self._lock:
            if proc_id in self._procs:
                return self._procs[proc_id]
            matches = [
                s
                for s in self._procs.values()
                if s.name == proc_id or (len(proc_id) >= 6 and s.id.startswith(proc_id))
            ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(sorted(s.id for s in matches))
            raise UnknownProcessError(f"{proc_id!r} matches several processes: {ids}")
        raise UnknownProcessError(
            f"no process with id {proc_id!r}; use the 'list' action (or 'hermes-tui ps --all') "
            "to see the ids"
        )

    def processes(
        self, owner: str | None = None, *, include_finished: bool = True
    ) -> list[Process]:
        """Return processes, oldest first, optionally only those of one chat session."""
        with self._lock:
            procs = sorted(self._procs.values(), key=lambda s: s.started_at)
        return [
            s
            for s in procs
            if (owner is None or s.owner == owner) and (include_finished or s.is_running)
        ]

    def has_active(self, owner: str) -> bool:
        """True when the chat session owns a running process (it must not be reset)."""
        return any(s.is_running for s in self.processes(owner))

    # -- steering ---------------------------------------------------------------------------
    def _updated(self, proc: Process) -> None:
        self._save(proc)
        self._emit(ProcessUpdated(proc))

    def release_sandbox(self, kind: str, sandbox: str) -> None:
        """End task / chat session ``sandbox`` for good (a batch prompt, an RL episode).

        Kills its running processes (and what they left running) first, then forgets them,
        their cursors and run directories, drops its per-task sandbox settings, and removes
        its own sandbox (container / instance) of backend ``kind``, so nothing of the task is
        left behind and nothing is recreated later for it (pruning a forgotten process would
        otherwise bring its container back).

        Raises:
            RegistryError: when a process would not die (its sandbox is then kept) or the
                sandbox cannot be removed.
        """
        owner = sandbox
        self.cleanup(owner)
        procs = self.processes(owner)
        alive = [s for s in procs if s.is_running]
        kinds = {kind, *(s.backend for s in procs)}
        owned = {k for k in kinds if backend_class(k).sandbox_options(owner)}
        for proc in procs:
            if proc.is_running:
                continue
            with self._lock:
                self._procs.pop(proc.id, None)
                self._unfollowed.discard(proc.id)
                subscription = self._subscriptions.pop(proc.id, None)
            if subscription is not None:
                subscription.close()
            self.cursors.forget(proc.id)
            if proc.handle is not None and proc.backend not in owned:
                # A shared backend (local, ssh) keeps run directories; an owned sandbox
                # takes them with it.
                try:
                    self.backend(proc.backend, owner).remove_run_dir(proc.handle)
                except BackendError:
                    pass
        self.checkpoint.update({s.id: None for s in procs if not s.is_running})
        with self._lock:
            for k in kinds:
                self._sandbox_options.pop((k, owner), None)
            doomed = (
                []
                if alive
                else [
                    (k, self._backends.pop((k, owner)))
                    for k in owned
                    if (k, owner) in self._backends
                ]
            )
        if alive:
            raise RegistryError(
                f"{len(alive)} process(es) of {owner} would not die; its sandbox is kept"
            )
        for k, backend in doomed:
            try:
                backend.cleanup()
            except BackendError as exc:
                raise RegistryError(f"cannot remove the {k} sandbox of {owner}: {exc}") from None

    def close(self) -> None:
        """Stop following output and writing the checkpoint (a write in progress finishes).
        Processes keep running (they are re-adopted next time)."""
        with self._lock:
            subscriptions = list(self._subscriptions.values())
            self._subscriptions.clear()
        for subscription in subscriptions:
            subscription.close()
        self.checkpoint.close()

    def adopt(self, proc: Process) -> None:
        """Track an existing process as it is, without probing or following it (embedding,
        tests)."""
        with self._lock:
            self._procs[proc.id] = proc

    def known(self, proc_id: str) -> bool:
        """True when this registry already tracks ``proc_id``."""
        with self._lock:
            return proc_id in self._procs
