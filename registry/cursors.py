"""Poll cursors on disk: "output since the last poll" survives restarts and is shared.

One small JSON file per process (``<state dir>/cursors/<id>.json``: reader name -> absolute
byte offset), read and replaced under a lock on every poll, so the app, a restarted app and
the CLI's ``tool`` command continue from the same place instead of repeating output.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from backends.atomic import write_private
from registry.paths import ensure_private_dir

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class CursorStore:
    """Per-process, per-reader output offsets kept in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _path(self, proc_id: str) -> Path:
        if not _SAFE_ID.match(proc_id):
            raise ValueError(f"invalid process id {proc_id!r}")
        return self.directory / f"{proc_id}.json"

    @contextlib.contextmanager
    def _locked(self, proc_id: str) -> Iterator[Path]:
        ensure_private_dir(self.directory)
        path = self._path(proc_id)
        fd = os.open(
            self.directory / f"{proc_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(fd)

    @staticmethod
    def _read(path: Path) -> dict[str, int]:
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {
            str(k): int(v)
            for k, v in data.items()
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0
        }

    def get(self, proc_id: str, reader: str) -> int | None:
        """The saved offset of ``reader``, or None when it never polled."""
        try:
            return self._read(self._path(proc_id)).get(reader)
        except ValueError:
            return None

    def advance(
        self, proc_id: str, reader: str, step: Callable[[int], int], fallback: int = 0
    ) -> int:
        """Atomically replace ``reader``'s offset ``o`` with ``step(o)``; return the new one.

        ``fallback`` is the offset when nothing was saved (or the disk cannot be used: the
        poll still works, from memory). Offsets only move forward.
        """
        try:
            with self._locked(proc_id) as path:
                cursors = self._read(path)
                current = max(cursors.get(reader, fallback), fallback)
                new = max(current, step(current))
                if new != cursors.get(reader):
                    cursors[reader] = new
                    write_private(path, json.dumps(cursors).encode())
                return new
        except (OSError, ValueError):
            return max(fallback, step(fallback))

    def forget(self, proc_id: str) -> None:
        """Delete a process's cursors (when the process is forgotten)."""
        with contextlib.suppress(OSError, ValueError):
            self._path(proc_id).unlink(missing_ok=True)
            (self.directory / f"{proc_id}.lock").unlink(missing_ok=True)
