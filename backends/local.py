"""The local backend: commands run on this host, background ones under ``data/supervisor.sh``.

The supervisor and its run directory are the same as on every other backend (see the table at
the top of ``backends/data/supervisor.sh``); only the transport differs: the files are read and
written directly, and output is followed with inotify (``backends/_follow.py``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from backends import rundir, sweep
from backends._follow import get_follower
from backends.atomic import write_private
from backends.base import (
    Backend,
    BackendError,
    DuplicateIdError,
    OutputSink,
    Probe,
    ProcessGoneError,
    ProcHandle,
    RunResult,
    SpawnError,
    SpawnSpec,
    Subscription,
)
from backends.foreground import run_here
from backends.procinfo import controlling_tty, is_same_process
from backends.rundir import read_exit

WRITE_TIMEOUT = 5.0
LAUNCH_TIMEOUT = 30.0


def _runnable(program: str, workdir: str, env: Mapping[str, str]) -> bool:
    """True when ``program`` can be exec'd from ``workdir`` with ``env``'s PATH."""
    if "/" in program:
        path = os.path.join(workdir, os.path.expanduser(program))
        return os.path.isfile(path) and os.access(path, os.X_OK)
    return shutil.which(program, path=env.get("PATH", os.defpath)) is not None


def _launch(run_dir: Path, env: Mapping[str, str]) -> rundir.PidRecord:
    """Start the supervisor for ``run_dir``, detached, and return its ``pid`` record.

    ``setsid setsid``: the first becomes a group leader, so the second forks and its parent
    exits at once; the supervisor is re-parented and never becomes a zombie of the app.

    Raises:
        SpawnError: the command could not be started (the supervisor's message).
    """
    subprocess.run(
        ["setsid", "sh", str(rundir.SUPERVISOR_PATH), str(run_dir)],
        env=dict(env),
        cwd=run_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        check=False,
    )
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    pause = 0.001
    while True:
        with contextlib.suppress(FileNotFoundError):
            record = rundir.parse_pid((run_dir / rundir.PID).read_text())
            if record is not None:
                return record
        error = rundir.read_text(run_dir / rundir.ERROR).strip()
        if error or (run_dir / rundir.EXIT).exists() or time.monotonic() > deadline:
            break
        time.sleep(pause)
        pause = min(0.02, pause * 2)
    error = error or rundir.read_text(run_dir / rundir.OUT).strip()[-500:]
    raise SpawnError(error or "the process supervisor did not start the command")


class LocalBackend(Backend):
    """Runs commands on this host.

    Args:
        run_root: where run directories are created (``<state dir>/runs``).
        env: extra environment for every command, on top of this process's environment.
    """

    kind: ClassVar[str] = "local"

    def __init__(
        self,
        run_root: Path,
        env: Mapping[str, str] | None = None,
        shell: str | None = None,
        login_shell: bool | None = None,
    ) -> None:
        # Absolute: it is also the marker every process of a run carries (HERMES_RUN).
        self.run_root = Path(run_root).absolute()
        self.env = dict(env or {})
        self.shell = shell
        """The shell for command lines (default ``$SHELL``, else bash, else sh)."""
        self.login_shell = login_shell
        """Run it as a login shell (``-lc``), so profile PATH additions (nvm, pyenv, cargo)
        are there as in the person's own terminal. None: yes, unless ``$HERMES_LOGIN_SHELL``
        is ``0`` (the test suite, which kills commands mid-profile by the hundred)."""

    def environment(
        self, extra: Mapping[str, str] | None = None, *, pty: bool = False
    ) -> dict[str, str]:
        """Return the environment a command gets."""
        env = dict(os.environ)
        # Background output goes to a file, where Python would buffer it for minutes.
        env["PYTHONUNBUFFERED"] = "1"
        if pty:
            env["TERM"] = "xterm-256color"
            env.setdefault("COLORTERM", "truecolor")
        env.update(self.env)
        env.update(extra or {})
        return env

    def shell_argv(self, command: str) -> list[str]:
        shell = self.shell or os.environ.get("SHELL") or ""
        if not shell or not os.access(os.path.expanduser(shell), os.X_OK):
            shell = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
        login = self.login_shell
        if login is None:
            login = os.environ.get("HERMES_LOGIN_SHELL", "1").strip().lower() not in (
                "0",
                "false",
                "no",
                "off",
            )
        return [os.path.expanduser(shell), "-lc" if login else "-c", command]

    # -- foreground -------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        cwd = os.path.expanduser(workdir) if workdir else None
        if cwd and not os.path.isdir(cwd):
            raise BackendError(f"working directory does not exist: {cwd}")
        return run_here(
            argv,
            cwd=cwd,
            env=self.environment(env),
            timeout=timeout,
            cancel=cancel,
            outputs_dir=self.run_root.parent / "outputs",
        )

    # -- background -------------------------------------------------------------------------
    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        if not spec.argv:
            raise SpawnError("empty command")
        workdir = os.path.expanduser(spec.workdir) if spec.workdir else os.getcwd()
        if not os.path.isdir(workdir):
            raise SpawnError(f"working directory does not exist: {workdir}")
        env = self.environment(spec.env, pty=spec.pty)
        argv = list(spec.argv)
        if argv[:2] != self.shell_argv("")[:2] and not _runnable(argv[0], workdir, env):
            raise SpawnError(f"cannot run {argv[0]!r}: No such file or directory")
        if spec.pty and not shutil.which("script", path=env.get("PATH")):
            raise SpawnError("a terminal (pty) needs util-linux 'script', and it is missing")
        try:
            self.run_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SpawnError(f"cannot create {self.run_root}: {exc.strerror}") from None
        run_dir = self.run_root / spec.proc_id
        try:
            run_dir.mkdir(mode=0o700)
        except FileExistsError:
            raise DuplicateIdError(f"run directory already exists: {run_dir}") from None
        except OSError as exc:
            raise SpawnError(f"cannot create {run_dir}: {exc.strerror}") from None
        info = {**dict(spec.metadata), "argv": argv, "pty": spec.pty}
        try:
            # Only an sh command line runs as sh text; the person's (login) shell is exec'd
            # (no extra process stays either way), so bash syntax and profiles still apply.
            write_private(run_dir / rundir.CMD, rundir.command_text(argv).encode())
            write_private(run_dir / rundir.WORKDIR, workdir.encode())
            if spec.pty:
                write_private(run_dir / rundir.SIZE, f"{spec.rows} {spec.cols}\n".encode())
            write_private(run_dir / rundir.INFO, json.dumps(info).encode())
            record = _launch(run_dir, env)
        except OSError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise SpawnError(
                f"cannot start the process supervisor: {exc.strerror or exc}"
            ) from None
        except SpawnError:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return record.handle(spec.proc_id, self.kind, str(run_dir), pty=spec.pty)

    def scan(self) -> list[tuple[ProcHandle, dict[str, Any]]]:
        """Every run directory under :attr:`run_root` that started a command: its handle and
        its ``info.json`` (for recovery when the checkpoint lost it)."""
        found: list[tuple[ProcHandle, dict[str, Any]]] = []
        if not self.run_root.is_dir():
            return found
        for run_dir in sorted(self.run_root.iterdir()):
            try:
                record = rundir.parse_pid((run_dir / rundir.PID).read_text())
                info = json.loads((run_dir / rundir.INFO).read_text())
                workdir = (run_dir / rundir.WORKDIR).read_text()
            except (OSError, ValueError):
                continue  # never started, or not one of ours
            if record is None or not isinstance(info, dict):
                continue
            info.setdefault("workdir", workdir)
            handle = record.handle(run_dir.name, self.kind, str(run_dir), pty=bool(info.get("pty")))
            found.append((handle, info))
        return found

    def follow(self, handle: ProcHandle, offset: int, sink: OutputSink) -> Subscription:
        return get_follower().add(handle, offset, sink, self.spool_cap)

    def read_output(self, handle: ProcHandle, offset: int, max_bytes: int) -> bytes:
        try:
            with open(Path(handle.run_dir) / rundir.OUT, "rb") as f:
                f.seek(offset)
                return f.read(max_bytes)
        except FileNotFoundError:
            return b""

    def output_size(self, handle: ProcHandle) -> int:
        """Return the current size of the output spool."""
        try:
            return (Path(handle.run_dir) / rundir.OUT).stat().st_size
        except FileNotFoundError:
            return 0

    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        return [self._probe(h) for h in handles]

    def _probe(self, handle: ProcHandle) -> Probe:
        run_dir = Path(handle.run_dir)
        if not run_dir.is_dir():
            return Probe("lost", detail=f"its run directory {run_dir} is gone")
        size = self.output_size(handle)
        dropped, lines = rundir.read_dropped(run_dir)
        status = read_exit(run_dir)
        if status is None and self._alive(handle):
            return Probe("running", output_size=size, dropped=dropped, dropped_lines=lines)
        status = status or read_exit(run_dir)  # it may have ended between the two looks
        if status is not None:
            return Probe("ended", status, size, dropped=dropped, dropped_lines=lines)
        return Probe(
            "lost",
            output_size=size,
            dropped=dropped,
            dropped_lines=lines,
            detail="neither the process nor its supervisor is running, and no exit "
            "status was recorded",
        )

    def _alive(self, handle: ProcHandle) -> bool:
        return is_same_process(handle.pid, handle.start_ticks, handle.boot_id) or (
            is_same_process(handle.supervisor_pid, handle.supervisor_start_ticks, handle.boot_id)
        )

    def _check_running(self, handle: ProcHandle) -> None:
        if read_exit(Path(handle.run_dir)) is not None or not is_same_process(
            handle.pid, handle.start_ticks, handle.boot_id
        ):
            raise ProcessGoneError(f"process {handle.proc_id} is not running")

    def write(self, handle: ProcHandle, data: bytes) -> int:
        self._check_running(handle)
        try:
            fd = os.open(
                Path(handle.run_dir) / rundir.IN, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
            )
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                raise ProcessGoneError(f"process {handle.proc_id} has no stdin any more") from None
            raise BackendError(f"cannot open stdin of {handle.proc_id}: {exc.strerror}") from None
        try:
            view = memoryview(data)
            deadline = time.monotonic() + WRITE_TIMEOUT
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise BackendError(
                            f"process {handle.proc_id} is not reading its input; "
                            f"{len(data) - len(view)} of {len(data)} bytes written"
                        ) from None
                    select.select([], [fd], [], remaining)
                except BrokenPipeError:
                    raise ProcessGoneError(f"process {handle.proc_id} has ended") from None
        finally:
            os.close(fd)
        return len(data)

    def resize(self, handle: ProcHandle, rows: int, cols: int) -> None:
        if not handle.pty:
            raise BackendError(f"process {handle.proc_id} has no terminal to resize")
        self._check_running(handle)
        tty = controlling_tty(handle.pid)
        if tty is None:
            raise ProcessGoneError(f"process {handle.proc_id} has no terminal any more")
        try:
            fd = os.open(tty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise ProcessGoneError(f"cannot open the terminal of {handle.proc_id}: {exc}") from None
        try:
            # The kernel sends SIGWINCH to the terminal's foreground process group itself.
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        finally:
            os.close(fd)

    def signal(self, handle: ProcHandle, sig: int) -> None:
        self._check_running(handle)
        with contextlib.suppress(OSError):
            rundir.note_signal(Path(handle.run_dir), sig)
        try:
            os.killpg(handle.pid, sig)
        except ProcessLookupError:
            raise ProcessGoneError(f"process {handle.proc_id} has ended") from None

    def kill_tree(self, handle: ProcHandle, sig: int) -> int:
        with contextlib.suppress(OSError):
            rundir.note_signal(Path(handle.run_dir), sig)
        if is_same_process(handle.pid, handle.start_ticks, handle.boot_id):
            with contextlib.suppress(OSError):
                os.killpg(handle.pid, sig)
        return sweep.signal_marked(handle, sig)

    def descendants(self, handle: ProcHandle) -> int:
        return sum(1 for _ in sweep.marked(handle))

    def record_kill(self, handle: ProcHandle, reason: str) -> None:
        with contextlib.suppress(OSError):
            write_private(Path(handle.run_dir) / rundir.KILL, reason.encode())

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        path = Path(remote_path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            if mode is not None:
                path.chmod(mode)
        except OSError as exc:
            raise BackendError(f"cannot write {path}: {exc.strerror}") from None

    def download(self, remote_path: str) -> bytes:
        path = Path(remote_path).expanduser()
        try:
            return path.read_bytes()
        except OSError as exc:
            raise BackendError(f"cannot read {path}: {exc.strerror}") from None

    def remove_run_dir(self, handle: ProcHandle) -> None:
        shutil.rmtree(handle.run_dir, ignore_errors=True)
