"""What is running: background processes, their output, checkpoint and crash recovery.

No UI here: the registry is plain Python with an observer API (:meth:`ProcessRegistry.subscribe`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from registry.buffer import OutputBuffer
from registry.cancel import CancelToken
from registry.checkpoint import Checkpoint
from registry.errors import RegistryError, StateDirError
from registry.events import (
    ProcessExited,
    ProcessOutput,
    ProcessStarted,
    ProcessUpdated,
    RegistryEvent,
)
from registry.paths import state_dir
from registry.process import Process, ProcessStatus
from registry.recovery import RecoveryReport
from registry.registry import ProcessRegistry
from registry.results import LogResult, PollResult, UnknownProcessError, WaitResult

_shared: ProcessRegistry | None = None
_shared_report: RecoveryReport | None = None
_shared_lock = threading.Lock()


def get_registry(
    state: Path | None = None, backend_options: Mapping[str, Mapping[str, Any]] | None = None
) -> ProcessRegistry:
    """Return this app process's registry, creating it on first use.

    Creating it only reads what earlier runs left (:meth:`ProcessRegistry.load`: local
    processes are looked at, nothing is followed or written), so read-only commands stay
    cheap; the app and steering commands call :meth:`ProcessRegistry.recover` themselves.
    ``backend_options`` (from the config file) apply before anything needs the backends.
    """
    global _shared, _shared_report
    with _shared_lock:
        if _shared is None:
            _shared = ProcessRegistry(state or state_dir(), backend_options=backend_options)
            _shared_report = _shared.load()
        return _shared


def shared_registry() -> ProcessRegistry | None:
    """The shared registry if one was created (never creates it)."""
    return _shared


def startup_report() -> RecoveryReport | None:
    """What loading found when the shared registry was created (checkpoint warnings...)."""
    return _shared_report


def set_registry(registry: ProcessRegistry | None) -> None:
    """Replace the shared registry (tests, embedding)."""
    global _shared, _shared_report
    with _shared_lock:
        _shared = registry
        _shared_report = None


__all__ = [
    "CancelToken",
    "Checkpoint",
    "LogResult",
    "OutputBuffer",
    "PollResult",
    "Process",
    "ProcessExited",
    "ProcessOutput",
    "ProcessRegistry",
    "ProcessStarted",
    "ProcessStatus",
    "ProcessUpdated",
    "RecoveryReport",
    "RegistryError",
    "RegistryEvent",
    "StateDirError",
    "UnknownProcessError",
    "WaitResult",
    "get_registry",
    "set_registry",
    "shared_registry",
    "startup_report",
    "state_dir",
]
