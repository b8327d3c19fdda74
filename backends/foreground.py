"""Foreground commands on this host, and where a too-long output of any backend is kept.

A foreground command's output goes to a temporary file, never a pipe: a backgrounded
grandchild that keeps a pipe open would make us wait for EOF long after the command itself
has finished. What does not fit in memory (:data:`MAX_RUN_OUTPUT`) is copied whole to a
private file among the newest :data:`KEEP_SAVED_OUTPUTS` in ``<state dir>/outputs``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from backends.base import BackendError, RunResult

MAX_RUN_OUTPUT = 4 << 20
"""Foreground output kept in memory: the first and last halves of this, the middle elided."""
KEEP_SAVED_OUTPUTS = 20
"""Saved outputs kept in a directory of saved outputs (the oldest are removed)."""
KILL_GRACE = 2.0
"""Seconds between TERM and KILL when a foreground command is stopped."""


def saved_output_name() -> str:
    """A new file name for a saved output: sortable by time, unique."""
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.log"


def make_room(directory: Path) -> None:
    """Create ``directory`` (0700) and remove its oldest saved outputs, so that one more
    keeps the count at :data:`KEEP_SAVED_OUTPUTS`.

    Raises:
        OSError: the directory cannot be created or read.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = sorted(directory.glob("run-*.log"), key=lambda p: p.stat().st_mtime)
    for stale in old[: max(0, len(old) - KEEP_SAVED_OUTPUTS + 1)]:
        stale.unlink(missing_ok=True)


def run_here(
    argv: Sequence[str],
    *,
    cwd: str | None,
    env: Mapping[str, str],
    timeout: float,
    cancel: threading.Event | None,
    outputs_dir: Path,
) -> RunResult:
    """Run ``argv`` on this host and wait for it (see :meth:`backends.Backend.run`).

    Raises:
        BackendError: the program cannot be started.
    """
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:
            raise BackendError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        timed_out, interrupted = _wait(proc, timeout, cancel)
        output, size = _read_capped(out)
        saved = _save(out, outputs_dir) if size > MAX_RUN_OUTPUT else None
    code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
    if timed_out:
        code = 124
    elif interrupted:
        code = 130
    return RunResult(
        output,
        code,
        timed_out=timed_out,
        interrupted=interrupted,
        total_bytes=size,
        saved_output=saved,
    )


def _wait(
    proc: subprocess.Popen[bytes], timeout: float, cancel: threading.Event | None
) -> tuple[bool, bool]:
    """Wait for ``proc``; stop it at the deadline or on ``cancel``.

    Returns:
        (timed out, interrupted)
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            proc.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            return False, False
        except subprocess.TimeoutExpired:
            pass
        if cancel is not None and cancel.is_set():
            _kill_group(proc)
            return False, True
        if time.monotonic() >= deadline:
            _kill_group(proc)
            return True, False


def _read_capped(f: IO[bytes]) -> tuple[bytes, int]:
    """Return the output (its middle elided past :data:`MAX_RUN_OUTPUT`) and its true size."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= MAX_RUN_OUTPUT:
        return f.read(), size
    half = MAX_RUN_OUTPUT // 2
    head = f.read(half)
    f.seek(size - half)
    omitted = size - 2 * half
    return head + f"\n[... {omitted} bytes omitted ...]\n".encode() + f.read(), size


def _save(f: IO[bytes], directory: Path) -> str | None:
    """Copy a too-big output to a private file in ``directory``; None when that fails."""
    try:
        make_room(directory)
        path = directory / saved_output_name()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as saved:
            f.seek(0)
            shutil.copyfileobj(f, saved, 1 << 20)
        return str(path)
    except OSError:
        return None  # a full disk must not fail the command itself


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """TERM the command's process group, then KILL it after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(KILL_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue
