"""One background process as the registry knows it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from backends import ExitStatus, ProcHandle
from registry.buffer import OutputBuffer


class ProcessStatus(StrEnum):
    """Where a process is in its life."""

    RUNNING = "running"
    EXITED = "exited"
    KILLED = "killed"
    """Ended after hermes-tui (the agent or the person) asked it to stop."""
    LOST = "lost"
    """No trace of how it ended: neither it nor its supervisor nor an exit record was found."""


def iso(ts: float | None) -> str | None:
    """Format a wall-clock time as ISO 8601 in UTC."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(eq=False)
class Process:
    """A background process: what was run, where, by whom, and its output so far."""

    id: str
    command: str
    """The command as the user or agent wrote it (display form)."""
    argv: list[str]
    backend: str
    workdir: str
    pty: bool
    owner: str
    """Who owns it: a chat session's key or a batch task's id (one sandbox each)."""
    started_at: float
    handle: ProcHandle | None = None
    name: str | None = None
    status: ProcessStatus = ProcessStatus.RUNNING
    exit_code: int | None = None
    """Exit code; ``-N`` when ended by signal N; None while running or when unknown."""
    ended_at: float | None = None
    kill_reason: str | None = None
    recovered: bool = False
    """Re-adopted from the checkpoint after hermes-tui restarted."""
    stop_on_quit: bool = False
    """Lifetime: killed when the app quits (default: keeps running and is re-adopted)."""
    note: str | None = None
    """Why the status is what it is, when not obvious (e.g. why it is lost)."""
    survivors: int = 0
    """Processes it started that still ran when it ended (or at the last look since)."""
    output: OutputBuffer = field(default_factory=OutputBuffer)
    output_loaded: bool = True
    """False for a finished process whose output is read from its spool on first use."""
    ended: threading.Event = field(default_factory=threading.Event)
    cursors: dict[str, int] = field(default_factory=dict)
    """Per reader: absolute output offset read so far by ``poll``."""
    waiters: set[threading.Event] = field(default_factory=set)
    """Events set when the process ends (registered by blocked waits)."""

    @property
    def pid(self) -> int | None:
        """The process id in its execution environment."""
        return self.handle.pid if self.handle else None

    @property
    def is_running(self) -> bool:
        """True until the process is known to have ended."""
        return self.status is ProcessStatus.RUNNING

    @property
    def status_text(self) -> str:
        """``running``, ``exited 0``, ``killed -15``, ``exited 0, 2 still running``..."""
        text = self.status.value
        if not self.is_running and self.exit_code is not None:
            text += f" {self.exit_code}"
        if not self.is_running and self.survivors:
            text += f", {self.survivors} still running"
        return text

    def runtime(self, now: float | None = None) -> float:
        """Seconds the process has run (until now, or until it ended)."""
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def finish(self, status: ExitStatus, *, notify: bool = True) -> None:
        """Record how the process ended (the caller holds the registry lock)."""
        self.exit_code = status.exit_code
        self.ended_at = status.ended_at or time.time()
        if status.killed_by:
            self.status = ProcessStatus.KILLED
            self.kill_reason = status.killed_by
        elif status.exit_code is None:
            self.status = ProcessStatus.LOST
            self.note = status.detail or "its supervisor disappeared, so how it ended is unknown"
        else:
            self.status = ProcessStatus.EXITED
        if notify:
            self.mark_ended()

    def mark_ended(self) -> None:
        """Wake everything waiting for the end (after the end has been recorded)."""
        self.ended.set()
        for waiter in list(self.waiters):
            waiter.set()

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly summary (used by ``ps --json`` and the ``process list`` tool)."""
        return {
            "id": self.id,
            "name": self.name,
            "command": self.command,
            "backend": self.backend,
            "status": self.status.value,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "uptime_seconds": round(self.runtime(), 1),
            "pty": self.pty,
            "workdir": self.workdir,
            "owner": self.owner,
            "recovered": self.recovered,
            "kill_reason": self.kill_reason,
            "stop_on_quit": self.stop_on_quit,
            "still_running": self.survivors,
        }

    def to_record(self) -> dict[str, Any]:
        """The checkpoint record: everything recovery needs, and no secrets."""
        return {
            "id": self.id,
            "name": self.name,
            "command": self.command,
            "argv": self.argv,
            "backend": self.backend,
            "workdir": self.workdir,
            "pty": self.pty,
            "owner": self.owner,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "kill_reason": self.kill_reason,
            "note": self.note,
            "stop_on_quit": self.stop_on_quit,
            "survivors": self.survivors,
            "handle": self.handle.to_dict() if self.handle else None,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Process:
        """Rebuild a process (without output) from :meth:`to_record` output.

        Raises:
            ValueError: when the record is malformed.
        """
        try:
            handle = ProcHandle.from_dict(record["handle"]) if record.get("handle") else None
            proc = cls(
                id=str(record["id"]),
                command=str(record["command"]),
                argv=[str(a) for a in record.get("argv") or []],
                backend=str(record["backend"]),
                workdir=str(record.get("workdir") or ""),
                pty=bool(record.get("pty")),
                owner=str(record.get("owner") or record.get("session_key") or "default"),
                started_at=float(record["started_at"]),
                handle=handle,
                name=record.get("name"),
                status=ProcessStatus(record.get("status", "running")),
                exit_code=record.get("exit_code"),
                ended_at=record.get("ended_at"),
                kill_reason=record.get("kill_reason"),
                note=record.get("note"),
                stop_on_quit=bool(record.get("stop_on_quit")),
                survivors=int(record.get("survivors") or 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"invalid process record: {exc!r}") from exc
        if not proc.is_running:
            proc.ended.set()
        return proc
