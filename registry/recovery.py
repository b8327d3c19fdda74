"""Crash recovery: find the processes of earlier runs and take them back.

Sources, merged: the checkpoint (``processes.json``) and, for the local backend, the run
directories themselves, so a lost or corrupt checkpoint loses no local process. Each process
is probed through its backend (local: pid alive *and* the same start time and boot, so a reused
pid is never adopted). Live ones are re-adopted with the last 200 KB of their output and
followed from the end of their spool, so nothing printed while hermes-tui was down is missed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backends import BackendError, ProcHandle
from registry.buffer import OutputBuffer
from registry.events import ProcessStarted
from registry.session import ProcessSession, ProcessStatus

if TYPE_CHECKING:
    from registry.registry import ProcessRegistry, RecoveryReport

log = logging.getLogger(__name__)


def recover(registry: ProcessRegistry, *, after_restart: bool = True) -> RecoveryReport:
    """Re-adopt every process recorded in ``registry``'s state dir that it does not know yet.

    ``after_restart=False`` picks up processes started elsewhere (another shell) while this
    registry runs: they are not marked ``recovered``, which means re-adopted after a restart.
    """
    from registry.registry import RecoveryReport

    report = RecoveryReport()
    records = registry.checkpoint.load()
    report.warnings.extend(registry.checkpoint.warnings)
    registry.checkpoint.warnings.clear()
    for proc_id, record in scan_local_runs(registry.state_dir / "runs").items():
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
            session.recovered = after_restart
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


def scan_local_runs(run_root: Path) -> dict[str, dict[str, Any]]:
    """Rebuild checkpoint records from local run directories (``spec.json`` + ``meta.json``)."""
    records: dict[str, dict[str, Any]] = {}
    if not run_root.is_dir():
        return records
    for run_dir in run_root.iterdir():
        try:
            spec = json.loads((run_dir / "spec.json").read_text())
            meta = json.loads((run_dir / "meta.json").read_text())
        except (OSError, ValueError):
            continue  # never started, or not one of ours
        info = spec.get("metadata") or {}
        try:
            handle = ProcHandle(
                proc_id=run_dir.name, backend="local", run_dir=str(run_dir), pid=meta["pid"],
                start_ticks=meta["start_ticks"], supervisor_pid=meta["supervisor_pid"],
                supervisor_start_ticks=meta["supervisor_start_ticks"],
                boot_id=meta["boot_id"], nonce=spec["nonce"], pty=bool(spec.get("pty")),
                tty=meta.get("tty"),
            )
        except (KeyError, TypeError):
            continue
        records[run_dir.name] = {
            "id": run_dir.name,
            "name": info.get("name"),
            "command": info.get("command") or " ".join(spec.get("argv", [])),
            "argv": spec.get("argv", []),
            "backend": "local",
            "workdir": spec.get("workdir") or "",
            "pty": bool(spec.get("pty")),
            "session_key": info.get("session_key") or "default",
            "started_at": info.get("started_at") or meta.get("started_at") or 0.0,
            "status": "running",
            "handle": handle.to_dict(),
        }
    return records
