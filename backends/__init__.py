"""Where commands run: one interface (:class:`Backend`), one implementation per engine.

Backend modules (and their SDKs) are imported only when that backend is created.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from backends.base import (
    Backend,
    BackendError,
    BackendUnavailableError,
    CommandTimeoutError,
    DuplicateIdError,
    ExitStatus,
    OutputSink,
    Probe,
    ProbeState,
    ProcessGoneError,
    ProcHandle,
    RunResult,
    SpawnError,
    SpawnSpec,
    Subscription,
    signal_name,
    signal_number,
)

BACKEND_KINDS = ("local", "docker", "ssh", "modal", "daytona", "singularity")
"""Every backend hermes-tui knows, available or not."""

_IMPLEMENTED = {
    "local": ("backends.local", "LocalBackend"),
    "ssh": ("backends.ssh", "SSHBackend"),
    "singularity": ("backends.singularity", "SingularityBackend"),
    "docker": ("backends.docker", "DockerBackend"),
    "daytona": ("backends.daytona", "DaytonaBackend"),
    "modal": ("backends.modal_backend", "ModalBackend"),
}


def backend_class(kind: str) -> type[Backend]:
    """Import and return the class of backend ``kind``.

    Raises:
        BackendUnavailableError: for an unknown kind or one not built yet.
    """
    if kind not in BACKEND_KINDS:
        raise BackendUnavailableError(
            f"unknown backend {kind!r}; choose one of: {', '.join(BACKEND_KINDS)}"
        )
    if kind not in _IMPLEMENTED:
        raise BackendUnavailableError(f"the {kind} backend is not available in this version")
    module_name, class_name = _IMPLEMENTED[kind]
    cls: type[Backend] = getattr(import_module(module_name), class_name)
    return cls


def create_backend(kind: str, *, state_dir: Path, **options: Any) -> Backend:
    """Create a backend of ``kind``.

    Args:
        kind: one of :data:`BACKEND_KINDS`.
        state_dir: hermes-tui's state directory (run directories of local processes live here).
        options: backend-specific settings, plus ``spool_cap_mb`` for every backend (output
            kept on disk per process; 0 keeps everything).

    Raises:
        BackendUnavailableError: for an unknown kind or one that cannot be used here.
    """
    factory: Any = backend_class(kind)  # each backend's constructor takes its own settings
    cap = options.pop("spool_cap_mb", None)
    try:
        spool_cap = None if cap is None else int(float(cap) * (1 << 20))
        backend: Backend = factory(run_root=Path(state_dir) / "runs", **options)
    except (TypeError, ValueError) as exc:  # a missing, unknown or invalid setting
        raise BackendUnavailableError(f"invalid settings for the {kind} backend: {exc}") from None
    if spool_cap is not None:
        backend.spool_cap = max(0, spool_cap)
    return backend


__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "CommandTimeoutError",
    "DuplicateIdError",
    "ExitStatus",
    "OutputSink",
    "Probe",
    "ProbeState",
    "ProcHandle",
    "ProcessGoneError",
    "RunResult",
    "SpawnError",
    "SpawnSpec",
    "Subscription",
    "backend_class",
    "create_backend",
    "signal_name",
    "signal_number",
]
