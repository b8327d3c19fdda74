"""Crash recovery *finds*: records plus probes become verdicts and the report for the user.

Sources, merged: the checkpoint (``processes.json``) and the run directories the local backend
scans (so a lost or corrupt checkpoint loses no local process). Each process that was running
is probed through its backend (local: pid alive *and* the same start time and boot, so a
reused pid is never adopted). Nothing here changes any state: the registry applies the
verdicts (adopts, refills buffers from the spool, follows from the spool's end).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from backends import BackendError, Probe, ProcHandle
from registry.process import Process, ProcessStatus

Record = dict[str, Any]
Prober = Callable[[str, str, list[ProcHandle]], list[Probe]]
"""``(backend kind, sandbox key, handles) -> probes``, one round trip per backend."""
Action = Literal["history", "adopt", "ended", "lost", "unprobed"]


@dataclass
class RecoveryReport:
    """What crash recovery found on start."""

    adopted: list[Process] = field(default_factory=list)
    """Still running: re-adopted with their output."""
    ended: list[Process] = field(default_factory=list)
    """Were running when hermes-tui stopped, and ended meanwhile."""
    lost: list[Process] = field(default_factory=list)
    """Were running, and could not be found (never guessed)."""
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the user; empty when there was nothing to recover."""
        parts = []
        if self.adopted:
            parts.append(f"re-adopted {len(self.adopted)} running process(es)")
        if self.ended:
            parts.append(f"{len(self.ended)} ended while hermes-tui was not running")
        if self.lost:
            parts.append(f"{len(self.lost)} could not be found")
        return "; ".join(parts)


@dataclass(frozen=True)
class Verdict:
    """What to do with one recorded process."""

    proc: Process
    """Rebuilt from its record; for ``ended`` and ``lost`` already carrying its end."""
    action: Action
    """``history``: it had ended before; ``adopt``: running, follow it from the end of its spool;
    ``ended``/``lost``: it ended meanwhile / cannot be found; ``unprobed``: its backend could
    not be asked, keep it as last seen."""
    probe: Probe | None = None
    """What the backend found (``adopt``: where the spool ends, what its cap dropped)."""


def records_from_scan(found: Iterable[tuple[ProcHandle, Mapping[str, Any]]]) -> dict[str, Record]:
    """Checkpoint records rebuilt from scanned run directories (handle + ``info.json``)."""
    records: dict[str, Record] = {}
    for handle, info in found:
        argv = [str(a) for a in info.get("argv") or []]
        records[handle.proc_id] = {
            "id": handle.proc_id,
            "name": info.get("name"),
            "command": info.get("command") or " ".join(argv),
            "argv": argv,
            "backend": handle.backend,
            "workdir": info.get("workdir") or "",
            "pty": handle.pty,
            "owner": info.get("owner") or info.get("session_key") or "default",
            "started_at": info.get("started_at") or 0.0,
            "status": "running",
            "handle": handle.to_dict(),
        }
    return records


def find(
    records: Mapping[str, Record],
    probe: Prober,
    kinds: Collection[str] | None = None,
    *,
    after_restart: bool = True,
) -> tuple[list[Verdict], RecoveryReport]:
    """Judge every record, probing the running ones (only on backends of ``kinds``, if
    given: the others are kept as last seen). Probed processes are marked ``recovered``
    only ``after_restart``: one started from another shell while the app runs is not."""
    report = RecoveryReport()
    verdicts: list[Verdict] = []
    to_probe: dict[tuple[str, str], list[Process]] = {}
    for proc_id, record in records.items():
        try:
            proc = Process.from_record(record)
        except ValueError as exc:
            report.warnings.append(f"skipped checkpoint entry {proc_id}: {exc}")
            continue
        proc.output_loaded = False
        if not proc.is_running:
            verdicts.append(Verdict(proc, "history"))
        elif proc.handle is None:
            _lose(proc, "no handle was recorded for it")
            verdicts.append(Verdict(proc, "lost"))
            report.lost.append(proc)
        elif kinds is not None and proc.backend not in kinds:
            verdicts.append(Verdict(proc, "unprobed"))
        else:
            to_probe.setdefault((proc.backend, proc.owner), []).append(proc)
    for (kind, sandbox), procs in to_probe.items():
        handles = [s.handle for s in procs if s.handle is not None]
        try:
            probes: Sequence[Probe] = probe(kind, sandbox, handles)
        except BackendError as exc:
            report.warnings.append(
                f"could not look for {len(procs)} {kind} process(es): {exc}; "
                "they are listed as they were last seen"
            )
            verdicts.extend(Verdict(s, "unprobed") for s in procs)
            continue
        for proc, found in zip(procs, probes, strict=True):
            verdicts.append(judge(proc, found))
            proc.recovered = after_restart
            {"adopt": report.adopted, "ended": report.ended, "lost": report.lost}[
                verdicts[-1].action
            ].append(proc)
    return verdicts, report


def judge(proc: Process, probe: Probe) -> Verdict:
    """The verdict for a process that was running, from what its backend found."""
    if probe.state == "running":
        return Verdict(proc, "adopt", probe)
    if probe.state == "ended" and probe.exit is not None:
        proc.finish(probe.exit)
        return Verdict(proc, "ended", probe)
    _lose(proc, probe.detail or "it could not be found")
    return Verdict(proc, "lost", probe)


def _lose(proc: Process, why: str) -> None:
    proc.status = ProcessStatus.LOST
    proc.note = why
    proc.ended.set()
