"""``processes.json``: the index of every process, shared by every hermes-tui on this state dir.

Each writer takes an exclusive lock (``processes.lock``), reads the current file, changes only
the records it owns the news about, and replaces the file atomically (temp file + rename), so
the TUI and CLI commands running at once never lose each other's updates. A corrupt file is
moved aside (never deleted) and recovery goes on from the run directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from backends.atomic import write_private

log = logging.getLogger(__name__)

VERSION = 1
Record = dict[str, Any]


class Checkpoint:
    """Reads and updates ``<state dir>/processes.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / "processes.json"
        self.lock_path = Path(state_dir) / "processes.lock"
        self.warnings: list[str] = []
        """Problems met while reading (corrupt file moved aside, ...), for the user."""
        self._writing = threading.Lock()

    def close(self) -> None:
        """Wait for a write in progress to finish (call before the process exits)."""
        with self._writing:
            pass

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the inter-process lock on the checkpoint."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def load(self) -> dict[str, Record]:
        """Return the records by process id; a corrupt file is set aside with a warning."""
        with self.locked():
            return self._read()

    def update(self, changes: Mapping[str, Record | None]) -> dict[str, Record]:
        """Apply ``changes`` (a record, or None to delete) and return the new content.

        Write failures (full disk, read-only dir) are logged and reported in :attr:`warnings`;
        the previous file stays intact.
        """
        with self._writing, self.locked():
            records = self._read()
            for proc_id, record in changes.items():
                if record is None:
                    records.pop(proc_id, None)
                else:
                    records[proc_id] = record
            try:
                self._write(records)
            except OSError as exc:
                message = f"could not write {self.path}: {exc.strerror or exc}"
                self.warnings.append(message)
            return records

    def _remove_stale_temporaries(self) -> None:
        """Remove ``processes.json.<pid>.tmp`` left by a writer that died mid-write (the
        caller holds the lock, so no live writer of ours is between create and rename)."""
        for tmp in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            pid = tmp.name[len(self.path.name) + 1 : -len(".tmp")]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def _read(self) -> dict[str, Record]:
        self._remove_stale_temporaries()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.warnings.append(f"could not read {self.path}: {exc.strerror}")
            return {}
        try:
            doc = json.loads(raw)
            records = doc["processes"]
            if not isinstance(records, dict) or not all(
                isinstance(r, dict) for r in records.values()
            ):
                raise ValueError("'processes' is not an object of records")
        except (ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_name(f"processes.json.corrupt-{int(time.time())}")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            message = (
                f"{self.path} was unreadable ({exc.__class__.__name__}: {exc}); "
                f"kept it as {aside.name} and recovered from the run directories"
            )
            self.warnings.append(message)
            return {}
        return records

    def _write(self, records: Mapping[str, Record]) -> None:
        write_private(
            self.path, json.dumps({"version": VERSION, "processes": records}, indent=1).encode()
        )
