"""Reading the run directory protocol of ``data/supervisor.sh`` (the table at its top).

The parsing is shared by every backend: the local backend reads the files directly, the
others read the same files through their shell.
"""

from __future__ import annotations

import ctypes
import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from backends.atomic import write_private
from backends.base import ExitStatus, ProcHandle

SUPERVISOR_PATH = Path(__file__).parent / "data" / "supervisor.sh"
CMD, WORKDIR, SIZE, INFO, IN, OUT = "cmd", "workdir", "size", "info.json", "in", "out"
PID, ERROR, EXIT, SIGNALLED, KILL = "pid", "error", "exit", "signalled", "kill"


@dataclass(frozen=True)
class PidRecord:
    """The ``pid`` file: who the command and its supervisor are."""

    pid: int
    ticks: int
    boot_id: str
    supervisor_pid: int
    supervisor_ticks: int

    def handle(
        self,
        proc_id: str,
        backend: str,
        run_dir: str,
        *,
        pty: bool,
        sandbox: dict[str, str] | None = None,
    ) -> ProcHandle:
        """The handle of the process this record names."""
        return ProcHandle(
            proc_id=proc_id,
            backend=backend,
            run_dir=run_dir,
            pid=self.pid,
            start_ticks=self.ticks,
            supervisor_pid=self.supervisor_pid,
            supervisor_start_ticks=self.supervisor_ticks,
            boot_id=self.boot_id,
            nonce="",
            pty=pty,
            sandbox=sandbox if sandbox is not None else {},
        )


def parse_pid(text: str) -> PidRecord | None:
    """Parse a ``pid`` line; None when it is not one."""
    fields = text.split()
    if len(fields) != 5 or not all(f.isdigit() for i, f in enumerate(fields) if i != 2):
        return None
    boot = "" if fields[2] == "unknown" else fields[2]
    return PidRecord(int(fields[0]), int(fields[1]), boot, int(fields[3]), int(fields[4]))


def command_text(argv: Sequence[str], shell: Sequence[str] = ("/bin/sh", "-c")) -> str:
    """The ``cmd`` file for ``argv``: a ``shell -c TEXT`` argv runs as TEXT itself, anything
    else is exec'd (so no extra shell stays between the supervisor and the command)."""
    if len(argv) == 3 and list(argv[:2]) == list(shell):
        return argv[2] + "\n"
    return f"exec {shlex.join(argv)}\n"


def signals_sent(text: str) -> set[int]:
    """The signal numbers listed in a ``signalled`` file."""
    return {int(n) for n in text.replace(",", "\n").split() if n.isdigit()}


def exit_status(
    code_text: str,
    signalled: Iterable[int] = (),
    kill_reason: str = "",
    ended_at: float | None = None,
) -> ExitStatus:
    """Turn the ``exit`` file (plus ``signalled`` and ``kill``) into an :class:`ExitStatus`.

    sh reports a death by signal N as 128+N; it is reported as ``-N`` when the app sent N.
    """
    text = code_text.strip()
    if not text.lstrip("-").isdigit():
        return ExitStatus(None, ended_at, kill_reason or None)
    code = int(text)
    if code > 128 and code - 128 in set(signalled):
        code = -(code - 128)
    return ExitStatus(code, ended_at, kill_reason or None)


def read_text(path: Path) -> str:
    """The text of a small protocol file; empty when it cannot be read."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def read_exit(run_dir: Path) -> ExitStatus | None:
    """Return the recorded exit of a local run directory, or None while it runs."""
    path = run_dir / EXIT
    try:
        with open(path, "rb") as f:
            code_text = f.read().decode(errors="replace")
            ended_at: float | None = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return ExitStatus(None)
    return exit_status(
        code_text,
        signals_sent(read_text(run_dir / SIGNALLED)),
        read_text(run_dir / KILL).strip(),
        ended_at,
    )


def note_signal(run_dir: Path, sig: int) -> None:
    """Append ``sig`` to the ``signalled`` file (before sending it)."""
    fd = os.open(run_dir / SIGNALLED, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{sig}\n".encode())
    finally:
        os.close(fd)


DROPPED = "dropped"
"""``BYTES LINES``: the first BYTES of ``out`` (holding LINES newlines) were dropped by the cap
(punched out: the file keeps its size, so offsets stay absolute)."""
PUNCH_ALIGN = 1 << 16


def read_dropped(run_dir: Path) -> tuple[int, int]:
    """The ``dropped`` record of a local run directory: (bytes, lines), (0, 0) if none."""
    fields = read_text(run_dir / DROPPED).split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[0]), int(fields[1])
    return 0, 0


def _punch_hole(fd: int, offset: int, length: int) -> None:
    """Free ``length`` bytes at ``offset`` of ``fd`` without changing the file's size."""
    libc = ctypes.CDLL(None, use_errno=True)
    fallocate = libc.fallocate
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    keep_size_punch_hole = 0x01 | 0x02
    if fallocate(fd, keep_size_punch_hole, offset, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def cap_spool(run_dir: Path, size: int, cap: int, dropped: tuple[int, int]) -> tuple[int, int]:
    """Keep about ``cap`` bytes of a local spool of ``size`` bytes: once it holds a quarter
    more, drop the oldest bytes down to ``cap``, counting their lines first. Returns the new
    ``dropped`` record."""
    held = size - dropped[0]
    if cap <= 0 or held <= cap + cap // 4:
        return dropped
    upto = (size - cap) // PUNCH_ALIGN * PUNCH_ALIGN
    if upto <= dropped[0]:
        return dropped
    lines = dropped[1]
    fd = os.open(run_dir / OUT, os.O_RDWR | os.O_CLOEXEC)
    try:
        position = dropped[0]
        while position < upto:
            chunk = os.pread(fd, min(1 << 20, upto - position), position)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            position += len(chunk)
        record = (upto, lines)
        # The record first: a hole nobody knows of would read as zeros.
        write_private(run_dir / DROPPED, f"{upto} {lines}\n".encode())
        _punch_hole(fd, dropped[0], upto - dropped[0])
    finally:
        os.close(fd)
    return record
