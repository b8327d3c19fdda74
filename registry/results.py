"""What registry queries return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from registry.errors import RegistryError
from registry.process import Process

WaitStatus = Literal["exited", "killed", "lost", "timeout", "interrupted"]


class UnknownProcessError(RegistryError, KeyError):
    """No process has this id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown process"


@dataclass(frozen=True)
class WaitResult:
    """Outcome of :meth:`ProcessRegistry.wait`."""

    proc: Process
    status: WaitStatus
    """How the wait ended: the process's final status, ``"timeout"`` or ``"interrupted"``."""
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
    gone_lines: int = 0
    """When older lines were asked for: the first line still held anywhere (those before it
    were dropped by the spool's cap, see ``spool_cap_mb``); 0 when nothing asked for is gone."""


@dataclass(frozen=True)
class PollResult:
    """Output since the reader's previous poll."""

    proc: Process
    new_output: bytes
    omitted: int
    """Bytes printed since the previous poll that were already dropped from the buffer."""
