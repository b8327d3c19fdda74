"""Crash recovery: find the processes of earlier runs and take them back.

Sources, merged: the checkpoint (``processes.json``) and, for the local backend, the run
directories themselves, so a lost or corrupt checkpoint loses no local process. Each process
is probed through its backend (local: pid alive *and* the same start time and boot, so a reused
pid is never adopted). Live ones are re-adopted with the last 200 KB of their output and
followed from the end of their spool, so nothing printed while hermes-tui was down is missed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from backends import BackendError
from registry.buffer import OutputBuffer
from registry.events import ProcessStarted
from registry.session import ProcessSession, ProcessStatus

if TYPE_CHECKING:
    from registry.registry import ProcessRegistry, RecoveryReport

log = logging.getLogger(__name__)


def recover(registry: ProcessRegistry) -> RecoveryReport:
    """Re-adopt every process recorded in ``registry``'s state dir that it does not know yet."""
    from registry.registry import RecoveryReport

    report = RecoveryReport()
    records = registry.checkpoint.load()
    report.warnings.extend(registry.checkpoint.warnings)
    registry.checkpoint.warnings.clear()
    for proc_id, record in scan_local_runs(registry).items():
        records.setdefault(proc_id, record)

    changed: list[ProcessSession] = []
    to_probe: dict[tuple[str, str], list[ProcessSession]] = {}
    for proc_id, record in records.items():
        if registry.known(proc_id):
            continue
        try:
            session = ProcessSession.from_record(record)
        except ValueError as exc:
            report.warnings.append(f"skipped checkpoint entry {proc_id}: {exc}")
            continue
        session.output = OutputBuffer(registry.buffer_limit)
        session.output_loaded = False
        if not session.is_running:
            registry._adopt(session)  # history: output is read from the spool when asked for
        elif session.handle is None:
            session.status = ProcessStatus.LOST
            session.note = "no handle was recorded for it"
            session.ended.set()
            registry._adopt(session)
            report.lost.append(session)
            changed.append(session)
        else:
            to_probe.setdefault((session.backend, session.session_key), []).append(session)

    for (kind, sandbox), sessions in to_probe.items():
        try:
            backend = registry.backend(kind, sandbox)
            probes = backend.probe([s.handle for s in sessions if s.handle is not None])
        except BackendError as exc:
            report.warnings.append(
                f"could not look for {len(sessions)} {kind} process(es): {exc}; "
                "they are listed as they were last seen"
            )
            for session in sessions:
                registry._adopt(session)
            continue
        for session, probe in zip(sessions, probes, strict=True):
            session.recovered = True
            if probe.state == "running":
                registry._refill(session, backend, probe.output_size)
                session.output_loaded = True
                registry._adopt(session)
                registry._follow(session, offset=probe.output_size)
                report.adopted.append(session)
            elif probe.state == "ended" and probe.exit is not None:
                session.finish(probe.exit)
                registry._adopt(session)
                report.ended.append(session)
            else:
                session.status = ProcessStatus.LOST
                session.note = probe.detail or "it could not be found"
                session.ended.set()
                registry._adopt(session)
                report.lost.append(session)
            changed.append(session)

    if changed:
        registry._save(*changed)
        report.warnings.extend(registry.checkpoint.warnings)
        registry.checkpoint.warnings.clear()
    for session in report.adopted:
        registry._emit(ProcessStarted(session))
    return report


def scan_local_runs(registry: ProcessRegistry) -> dict[str, dict[str, Any]]:
    """Rebuild checkpoint records from the local backend's run directories."""
    from backends.local import LocalBackend

    backend = registry.backend("local")
    if not isinstance(backend, LocalBackend):
        return {}
    records: dict[str, dict[str, Any]] = {}
    for handle, info in backend.scan():
        argv = [str(a) for a in info.get("argv") or []]
        records[handle.proc_id] = {
            "id": handle.proc_id,
            "name": info.get("name"),
            "command": info.get("command") or " ".join(argv),
            "argv": argv,
            "backend": "local",
            "workdir": info.get("workdir") or "",
            "pty": handle.pty,
            "session_key": info.get("session_key") or "default",
            "started_at": info.get("started_at") or 0.0,
            "status": "running",
            "handle": handle.to_dict(),
        }
    return records
