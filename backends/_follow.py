"""Following local run directories: one thread for every local process, no idle CPU.

The thread sleeps in ``select`` on an inotify descriptor (a write to any ``out`` spool, or the
atomic rename that creates ``exit``) and on a pidfd per supervisor (a supervisor that dies
without writing ``exit``). Without inotify (not Linux, or no watches left) it falls back to
looking at every spool four times a second.

Latency and floods: a write to a quiet spool is read as soon as inotify reports it (a key
echoed by an attached process). A process that was just read and is caught up waits
:data:`FLOOD_PAUSE` before it is read again, however often it writes: a flood is then read in
a few large pieces instead of thousands of 4 KB ones (each costs a wakeup, a read, a buffer
append and an event, all under the GIL the UI thread needs); other processes' events wait
that pause at most. A read never takes more than :data:`READ_BUDGET` before the other
processes get their turn, so a flooding sibling delays an echo by at most one such read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import ExitStatus, OutputSink, ProcHandle
from backends.procinfo import is_same_process
from backends.rundir import EXIT, OUT, cap_spool, read_dropped, read_exit

log = logging.getLogger(__name__)

READ_BUDGET = 256 * 1024
"""Bytes read for one process before the others get a turn (fairness under flood)."""
FLOOD_PAUSE = 0.002
"""After a read that caught up, how long a process waits before it is read again."""
POLL_SECONDS = 0.25


@dataclass(eq=False)
class _Followed:
    handle: ProcHandle
    run_dir: Path
    offset: int
    sink: OutputSink
    follower: LocalFollower
    fd: int | None = None
    wd: int | None = None
    pidfd: int | None = None
    supervisor_gone: bool = False
    maybe_ended: bool = True
    """Look for ``exit`` at the next service (its rename was seen, or not looked yet)."""
    polled: bool = False
    """Looked at on a timer: no inotify watch, or no supervisor left to report the end."""
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    cap: int = 0
    """Spool cap in bytes (0: none); the follower drops the oldest bytes beyond it."""
    dropped: tuple[int, int] = (0, 0)
    due: float = 0.0
    """Not read again before this ``time.monotonic()`` (see :data:`FLOOD_PAUSE`)."""

    def close(self) -> None:
        self.follower.remove(self)


class LocalFollower:
    """Delivers the output and the end of every followed local process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._followed: set[_Followed] = set()
        self._by_wd: dict[int, set[_Followed]] = {}
        self._pending: set[_Followed] = set()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._to_close: list[int] = []
        """Spool fds of removed processes; only the follower thread closes them, so a read in
        progress never sees its fd vanish."""
        self._inotify: Any = None
        try:
            import inotify_simple

            self._inotify = inotify_simple.INotify()
            self._flags = inotify_simple.flags
            self._selector.register(self._inotify.fileno(), selectors.EVENT_READ, "inotify")
        except (ImportError, OSError) as exc:
            log.info("inotify unavailable (%s); polling local output spools", exc)
        self._thread = threading.Thread(target=self._loop, name="hermes-local-follow", daemon=True)
        self._thread.start()

    # -- called from any thread ------------------------------------------------------------
    def add(self, handle: ProcHandle, offset: int, sink: OutputSink, cap: int = 0) -> _Followed:
        """Start following ``handle`` from byte ``offset``, capping its spool at ``cap``."""
        run_dir = Path(handle.run_dir)
        followed = _Followed(
            handle, run_dir, offset, sink, self, cap=cap, dropped=read_dropped(run_dir)
        )
        with self._lock:
            if self._inotify is not None:
                mask = self._flags.MODIFY | self._flags.MOVED_TO | self._flags.CLOSE_WRITE
                try:
                    followed.wd = self._inotify.add_watch(handle.run_dir, mask)
                    self._by_wd.setdefault(followed.wd, set()).add(followed)
                except OSError as exc:
                    log.warning("cannot watch %s (%s); polling it", handle.run_dir, exc)
            followed.polled = followed.wd is None
            followed.pidfd = _open_pidfd(handle)
            if followed.pidfd is not None:
                self._selector.register(followed.pidfd, selectors.EVENT_READ, followed)
            else:
                followed.supervisor_gone = not is_same_process(
                    handle.supervisor_pid, handle.supervisor_start_ticks, handle.boot_id
                )
            self._followed.add(followed)
            self._pending.add(followed)  # read what is already there, check for an exit
        self._wake()
        return followed

    def remove(self, followed: _Followed) -> None:
        """Stop following; the sink gets nothing more."""
        with self._lock:
            self._drop(followed)

    # -- follower thread ---------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def _drop(self, followed: _Followed) -> None:
        """Forget a followed process. Caller holds ``self._lock``."""
        with followed.lock:
            if followed.closed:
                return
            followed.closed = True
        self._followed.discard(followed)
        self._pending.discard(followed)
        if followed.wd is not None:
            watchers = self._by_wd.get(followed.wd, set())
            watchers.discard(followed)
            if not watchers:
                self._by_wd.pop(followed.wd, None)
                with contextlib.suppress(OSError):
                    self._inotify.rm_watch(followed.wd)
        if followed.pidfd is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(followed.pidfd)
            os.close(followed.pidfd)
            followed.pidfd = None
        if followed.fd is not None:
            self._to_close.append(followed.fd)
            followed.fd = None

    def _loop(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = min((f.due for f in self._pending), default=None)
                polling = any(f.polled for f in self._followed)
            if due is not None:
                # Every process with work waits out its pause: sleep through it rather than
                # wake for each of a flood's writes (thousands a second); events that come
                # meanwhile are read just after.
                if due > now:
                    time.sleep(due - now)
                timeout: float | None = 0
            else:
                timeout = POLL_SECONDS if polling else None
            for key, _ in self._selector.select(timeout):
                self._on_event(key.data)
            with self._lock:
                if polling:
                    self._pending.update(f for f in self._followed if f.polled)
                now = time.monotonic()
                work = [f for f in self._pending if f.due <= now]
                to_close, self._to_close = self._to_close, []
            for fd in to_close:
                os.close(fd)
            for followed in work:
                try:
                    self._service(followed)
                except Exception:  # one broken run dir must not stop the others
                    log.exception("following %s failed", followed.handle.proc_id)
                    with self._lock:
                        self._drop(followed)

    def _on_event(self, data: object) -> None:
        if data == "wake":
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
        elif data == "inotify":
            events = self._inotify.read(timeout=0)
            with self._lock:
                for event in events:
                    if event.wd == -1:  # queue overflow: look at everything
                        for followed in self._followed:
                            followed.maybe_ended = True
                        self._pending.update(self._followed)
                        continue
                    watchers = self._by_wd.get(event.wd, ())
                    if event.name == EXIT:
                        for followed in watchers:
                            followed.maybe_ended = True
                    self._pending.update(watchers)
        elif isinstance(data, _Followed):
            # A pidfd is readable: the supervisor has exited (normally or not).
            with self._lock:
                if data.pidfd is not None:
                    self._selector.unregister(data.pidfd)
                    os.close(data.pidfd)
                    data.pidfd = None
                data.supervisor_gone = True
                data.maybe_ended = True
                self._pending.add(data)

    def _read_some(self, followed: _Followed, budget: int) -> int:
        """Deliver up to ``budget`` new bytes; return how many were read."""
        fd = followed.fd
        if fd is None:
            try:
                fd = os.open(followed.run_dir / OUT, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return 0
            with self._lock:
                if followed.closed:
                    self._to_close.append(fd)
                    return 0
                followed.fd = fd
        total = 0
        while total < budget and not followed.closed:
            data = os.pread(fd, min(65536, budget - total), followed.offset)
            if not data:
                break
            followed.offset += len(data)
            total += len(data)
            followed.sink.on_output(data)
        if followed.cap and followed.offset - followed.dropped[0] > followed.cap * 5 // 4:
            try:
                followed.dropped = cap_spool(
                    followed.run_dir, followed.offset, followed.cap, followed.dropped
                )
            except OSError as exc:  # e.g. a file system without holes: keep it all
                log.warning("cannot cap the spool of %s: %s", followed.handle.proc_id, exc)
                followed.cap = 0
        return total

    def _service(self, followed: _Followed) -> None:
        if followed.closed:
            return
        read = self._read_some(followed, READ_BUDGET)
        if read >= READ_BUDGET:
            return  # more to read: stays pending, others get a turn first
        if read:  # caught up: let a flood gather before reading it again
            followed.due = time.monotonic() + FLOOD_PAUSE
        with self._lock:
            self._pending.discard(followed)
        if not (followed.maybe_ended or followed.polled or followed.supervisor_gone):
            return  # the common case under flood: output, and no sign of an end
        followed.maybe_ended = False
        status = read_exit(followed.run_dir)
        if status is None and followed.supervisor_gone:
            status = read_exit(followed.run_dir)
            if status is None and is_same_process(
                followed.handle.pid, followed.handle.start_ticks, followed.handle.boot_id
            ):
                # The supervisor was killed but the command lives on: keep following its
                # spool; its end can no longer be observed exactly, so poll for it.
                followed.polled = True
                return
            if status is None:
                status = ExitStatus(None)
        elif (
            status is None
            and followed.polled
            and not is_same_process(
                followed.handle.pid, followed.handle.start_ticks, followed.handle.boot_id
            )
            and not is_same_process(
                followed.handle.supervisor_pid,
                followed.handle.supervisor_start_ticks,
                followed.handle.boot_id,
            )
        ):
            status = read_exit(followed.run_dir) or ExitStatus(None)
        if status is None:
            return
        while self._read_some(followed, READ_BUDGET):  # the spool is complete once exit exists
            pass
        with self._lock:
            if followed.closed:
                return
            self._drop(followed)
        followed.sink.on_exit(status)


def _open_pidfd(handle: ProcHandle) -> int | None:
    """Open a pidfd for the supervisor, only if it is still the process we started."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        fd = os.pidfd_open(handle.supervisor_pid)
    except OSError:
        return None
    # Checked after opening: from here on the fd refers to this exact process.
    if not is_same_process(handle.supervisor_pid, handle.supervisor_start_ticks, handle.boot_id):
        os.close(fd)
        return None
    return fd


_follower: LocalFollower | None = None
_follower_lock = threading.Lock()


def get_follower() -> LocalFollower:
    """Return the process-wide follower, starting its thread on first use."""
    global _follower
    with _follower_lock:
        if _follower is None:
            _follower = LocalFollower()
        return _follower
