"""The per-process supervisor for the host (local backend). Standard library only.

The app starts it as ``python -I -S supervisor.py RUN_DIR`` in a new session with nothing of the
app's (no pipes, no PTY, no process group). It forks once more so it is nobody's child, starts
the command, reports readiness and then lives exactly as long as the command. Because it owns
the command's PTY and stdin and writes every output byte to a file, the app can crash or quit
and come back later without the command noticing.

Run directory layout (shared by every backend's supervisor; the app writes ``spec.json``):

=============  =================================================================================
``spec.json``  argv, workdir, pty, rows, cols, nonce, metadata (written by the app)
``meta.json``  pid (= pgid), start_ticks, supervisor_pid, supervisor_start_ticks, boot_id, tty,
               started_at (written atomically once the command runs)
``out``        everything the command printed (stdout and stderr), append-only, byte-addressed
``in``         FIFO: bytes written here reach the command's stdin (or PTY)
``exit.json``  exit_code (``-N`` for signal N) and ended_at, written atomically at the end
``kill.json``  who killed the process and how (written by the app before signalling)
=============  =================================================================================

The environment of the command is the supervisor's own environment (never written to disk).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import selectors
import signal
import struct
import sys
import termios
import time
from typing import Any

CHUNK = 65536
MAX_PENDING_INPUT = 1 << 20
DRAIN_IDLE_SECONDS = 0.2
DRAIN_MAX_SECONDS = 2.0


class StartError(Exception):
    """The command could not be started; the message is shown to the user."""


def _start_ticks(pid: int) -> int:
    # Duplicated from backends.procinfo on purpose: this file must run with no package imports.
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rfind(b")") + 2 :].split()[19])


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _write_json_atomic(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Spool:
    """The append-only output file. A full disk drops output but never blocks the command."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.dropped = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as exc:
                if not self.dropped:
                    print(f"supervisor: output dropped: {exc}", file=sys.stderr, flush=True)
                self.dropped += len(view)
                return
            view = view[n:]


def _reset_child_signals() -> None:
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                signal.SIGHUP, signal.SIGCHLD, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _exec_child(spec: dict[str, Any], in_path: str, spool: Spool, slave: int | None,
                err_w: int) -> None:
    """Runs in the forked child: becomes the command. Never returns."""
    try:
        _reset_child_signals()
        if slave is not None:
            os.login_tty(slave)  # new session, the PTY as controlling terminal, fds 0-2
        else:
            os.setsid()
            stdin = os.open(in_path, os.O_RDONLY | os.O_NONBLOCK)
            os.set_blocking(stdin, True)
            os.dup2(stdin, 0)
            os.dup2(spool.fd, 1)
            os.dup2(spool.fd, 2)
        workdir = spec.get("workdir")
        if workdir:
            try:
                os.chdir(workdir)
            except OSError as exc:
                raise StartError(
                    f"cannot use working directory {workdir!r}: {exc.strerror}"
                ) from None
        argv = spec["argv"]
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            raise StartError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
    except BaseException as exc:  # anything at all: report it, never return into the parent code
        message = str(exc) if isinstance(exc, StartError) else f"{type(exc).__name__}: {exc}"
        try:
            os.write(err_w, message.encode(errors="replace"))
        finally:
            os._exit(127)


def _read_all(fd: int) -> bytes:
    parts: list[bytes] = []
    while True:
        chunk = os.read(fd, CHUNK)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _status_to_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Supervisor:
    """Owns one command: starts it, pumps its PTY, records how it ended."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        with open(os.path.join(run_dir, "spec.json")) as f:
            self.spec: dict[str, Any] = json.load(f)
        self.in_path = os.path.join(run_dir, "in")
        self.spool = Spool(os.path.join(run_dir, "out"))
        self.child = 0
        self.master: int | None = None
        self.status: int | None = None

    def start(self) -> None:
        """Start the command and write ``meta.json``.

        Raises:
            StartError: the command could not be started.
        """
        # Holding the FIFO open read-write keeps a writer alive, so the command never sees EOF
        # on stdin just because no client is connected. Opening O_RDWR never blocks on Linux.
        self.stdin_holder = os.open(self.in_path, os.O_RDWR | os.O_CLOEXEC)
        slave = None
        tty = None
        if self.spec.get("pty"):
            self.master, slave = os.openpty()
            size = struct.pack("HHHH", int(self.spec.get("rows", 24)),
                               int(self.spec.get("cols", 80)), 0, 0)
            fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
            tty = os.ttyname(slave)
        # SIGCHLD must wake the PTY loop; set it up before the child can exit.
        self.wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            _exec_child(self.spec, self.in_path, self.spool, slave, err_w)
        os.close(err_w)
        if slave is not None:
            os.close(slave)
        error = _read_all(err_r).decode(errors="replace")
        os.close(err_r)
        if error:
            os.waitpid(pid, 0)
            raise StartError(error)
        self.child = pid
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._forward)
        _write_json_atomic(os.path.join(self.run_dir, "meta.json"), {
            "pid": pid,
            "start_ticks": _start_ticks(pid),
            "supervisor_pid": os.getpid(),
            "supervisor_start_ticks": _start_ticks(os.getpid()),
            "boot_id": _boot_id(),
            "tty": tty,
            "started_at": time.time(),
        })

    def _forward(self, sig: int, _frame: object) -> None:
        """A signal sent to the supervisor goes to the command's group, never kills us first."""
        try:
            os.killpg(self.child, sig)
        except OSError:
            pass

    def run(self) -> None:
        """Serve the command until it ends, then write ``exit.json``."""
        if self.master is None:
            _, status = os.waitpid(self.child, 0)
            self.status = status
        else:
            self._pump_pty(self.master)
        _write_json_atomic(os.path.join(self.run_dir, "exit.json"), {
            "exit_code": _status_to_code(self.status if self.status is not None else 0),
            "ended_at": time.time(),
            "output_dropped": self.spool.dropped,
        })

    def _reap(self) -> None:
        if self.status is None:
            pid, status = os.waitpid(self.child, os.WNOHANG)
            if pid:
                self.status = status

    def _read_master(self, master: int) -> bool:
        """Copy what the PTY has to the spool; False once the PTY is closed.

        A PTY hands out about 4 KiB per read, so read several times per wake-up.
        """
        for _ in range(32):
            try:
                data = os.read(master, CHUNK)
            except BlockingIOError:
                return True
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                return False
            if not data:
                return False
            self.spool.write(data)
        return True

    def _pump_pty(self, master: int) -> None:
        os.set_blocking(master, False)
        sel = selectors.DefaultSelector()
        sel.register(master, selectors.EVENT_READ)
        sel.register(self.stdin_holder, selectors.EVENT_READ)
        sel.register(self.wake_r, selectors.EVENT_READ)
        pending = bytearray()
        master_open = True
        drain_deadline: float | None = None
        while True:
            self._reap()
            if self.status is not None and drain_deadline is None:
                # The command ended; read what is left (a grandchild may still hold the PTY,
                # so this is bounded instead of waiting for EOF).
                drain_deadline = time.monotonic() + DRAIN_MAX_SECONDS
            if drain_deadline is not None:
                if not master_open or time.monotonic() >= drain_deadline:
                    return
                timeout: float | None = DRAIN_IDLE_SECONDS
            else:
                timeout = None
            events = sel.select(timeout)
            if not events and drain_deadline is not None:
                return
            for key, mask in events:
                if key.fd == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except BlockingIOError:
                        pass
                elif key.fd == self.stdin_holder:
                    pending += os.read(self.stdin_holder, CHUNK)
                    if len(pending) > MAX_PENDING_INPUT:
                        sel.unregister(self.stdin_holder)  # back-pressure on writers
                elif mask & selectors.EVENT_READ and not self._read_master(master):
                    # Every holder of the PTY's slave side is gone.
                    master_open = False
                    sel.unregister(master)
                    if self.status is None:
                        _, self.status = os.waitpid(self.child, 0)
                    return
            if pending and master_open:
                try:
                    n = os.write(master, pending)
                    del pending[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    pending.clear()
                wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
                sel.modify(master, wanted)
                if len(pending) <= MAX_PENDING_INPUT and self.stdin_holder not in sel.get_map():
                    sel.register(self.stdin_holder, selectors.EVENT_READ)


def main(argv: list[str]) -> int:
    """Entry point: ``supervisor.py RUN_DIR``. Exit 0 once the command runs, 1 if it cannot."""
    if len(argv) != 2:
        print("usage: supervisor.py RUN_DIR", file=sys.stderr)
        return 2
    run_dir = argv[1]
    os.mkfifo(os.path.join(run_dir, "in"), 0o600)
    ready_r, ready_w = os.pipe()
    if os.fork():
        # The short-lived first process: report whether the command started, then go away so
        # that the supervisor is re-parented and never becomes a zombie of the app.
        os.close(ready_w)
        message = _read_all(ready_r).decode(errors="replace")
        if message == "ok":
            return 0
        print(message or "the supervisor died while starting the command", file=sys.stderr)
        return 1
    os.close(ready_r)
    log = os.open(os.path.join(run_dir, "supervisor.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    os.close(log)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    supervisor = Supervisor(run_dir)
    try:
        supervisor.start()
    except StartError as exc:
        os.write(ready_w, str(exc).encode())
        os._exit(1)
    except BaseException as exc:
        os.write(ready_w, f"supervisor failed: {type(exc).__name__}: {exc}".encode())
        os._exit(1)
    os.write(ready_w, b"ok")
    os.close(ready_w)
    supervisor.run()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
