"""What the registry tells its subscribers (the UI turns these into Textual messages)."""

from __future__ import annotations

from dataclasses import dataclass

from registry.process import Process


@dataclass(frozen=True)
class ProcessStarted:
    """A process was started, or re-adopted after a restart."""

    proc: Process


@dataclass(frozen=True)
class ProcessOutput:
    """A process printed ``data``; ``end`` is the absolute offset just past it."""

    proc: Process
    data: bytes
    end: int


@dataclass(frozen=True)
class ProcessExited:
    """A process ended (its ``status`` and ``exit_code`` are final)."""

    proc: Process


@dataclass(frozen=True)
class ProcessUpdated:
    """A process's details changed (its name or lifetime)."""

    proc: Process


RegistryEvent = ProcessStarted | ProcessOutput | ProcessExited | ProcessUpdated
