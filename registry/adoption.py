"""Crash recovery *applied*: the verdicts of :mod:`registry.recovery` taken into the registry
(a read-only :meth:`~Adoption.load` for commands that only look, a full
:meth:`~Adoption.recover` for the app and the commands that steer)."""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Collection

from backends import Backend, BackendError, Probe, ProcHandle
from registry.buffer import OutputBuffer
from registry.checkpoint import Checkpoint
from registry.events import ProcessStarted, RegistryEvent
from registry.process import Process
from registry.recovery import Record, RecoveryReport, Verdict, find, records_from_scan


class Adoption:
    """The recovery half of :class:`registry.ProcessRegistry` (a mixin: it provides the rest)."""

    checkpoint: Checkpoint
    _lock: threading.RLock
    _procs: dict[str, Process]
    _unfollowed: set[str]

    @abstractmethod
    def backend(self, kind: str = "local", sandbox: str = "default") -> Backend:
        """Return the backend of ``kind`` for ``sandbox``."""

    @abstractmethod
    def _backend_for(self, proc: Process) -> Backend:
        """Return the backend a process runs on."""

    @abstractmethod
    def _new_buffer(self) -> OutputBuffer:
        """A fresh output buffer of the configured size."""

    @abstractmethod
    def _refill(self, proc: Process, backend: Backend, probe: Probe) -> None:
        """Fill the buffer from the end of the spool."""

    @abstractmethod
    def _follow(self, proc: Process, offset: int) -> None:
        """Follow the process's output from ``offset``."""

    @abstractmethod
    def _save(self, *procs: Process) -> None:
        """Write the processes to the checkpoint."""

    @abstractmethod
    def _emit(self, event: RegistryEvent) -> None:
        """Tell the subscribers."""

    def load(self) -> RecoveryReport:
        """Know the processes of earlier runs without touching them (read-only commands).

        Local processes are probed (reading ``/proc``: cheap, no side effect); the others are
        listed as last seen. Nothing is followed and nothing is written.
        """
        verdicts, report = find(self._unknown_records(), self._probe, kinds=("local",))
        self._apply(verdicts, report, follow=False)
        for verdict in verdicts:  # did what a local process left behind end since?
            proc = verdict.proc
            if proc.survivors and proc.backend == "local" and proc.handle:
                try:
                    proc.survivors = self.backend("local").descendants(proc.handle)
                except BackendError:
                    pass
        return report

    def recover(
        self, proc_ids: Collection[str] | None = None, *, after_restart: bool = True
    ) -> RecoveryReport:
        """Re-adopt the processes of earlier runs (or only ``proc_ids``): probe each on its
        backend, take back the running ones with their output and follow them, record the
        ends found (see :mod:`registry.recovery`). ``after_restart=False`` picks up processes
        started elsewhere (another shell) while this registry runs: not marked recovered."""
        records = self._unknown_records()
        if proc_ids is not None:
            records = {k: v for k, v in records.items() if k in proc_ids}
        verdicts, report = find(records, self._probe, after_restart=after_restart)
        self._apply(verdicts, report, follow=True)
        return report

    def _unknown_records(self) -> dict[str, Record]:
        """Records of processes not yet tracked (or tracked but not yet followed)."""
        records = self.checkpoint.load()
        try:
            local = self.backend("local")
            scan = getattr(local, "scan", None)
            found = scan() if callable(scan) else []
        except BackendError:
            found = []
        for proc_id, record in records_from_scan(found).items():
            records.setdefault(proc_id, record)
        with self._lock:
            return {
                k: v for k, v in records.items() if k not in self._procs or k in self._unfollowed
            }

    def _probe(self, kind: str, sandbox: str, handles: list[ProcHandle]) -> list[Probe]:
        return self.backend(kind, sandbox).probe(handles)

    def _apply(self, verdicts: list[Verdict], report: RecoveryReport, *, follow: bool) -> None:
        """Take the verdicts of :func:`registry.recovery.find` into the registry."""
        report.warnings[:0] = self.checkpoint.warnings
        self.checkpoint.warnings.clear()
        changed: list[Process] = []
        adopted: list[Process] = []
        for verdict in verdicts:
            proc = verdict.proc
            proc.output = self._new_buffer()
            if verdict.action == "adopt" and follow and verdict.probe is not None:
                try:
                    self._refill(proc, self._backend_for(proc), verdict.probe)
                    proc.output_loaded = True
                except BackendError as exc:
                    proc.note = f"output unavailable: {exc}"
            with self._lock:
                self._procs[proc.id] = proc
                if verdict.action != "history" and not follow:
                    self._unfollowed.add(proc.id)
                else:
                    self._unfollowed.discard(proc.id)
            if verdict.action == "adopt" and follow and verdict.probe is not None:
                self._follow(proc, offset=verdict.probe.output_size)
                adopted.append(proc)
            if verdict.action in ("adopt", "ended", "lost"):
                changed.append(proc)
        if changed and follow:  # a read-only load writes nothing
            self._save(*changed)
            report.warnings.extend(self.checkpoint.warnings)
            self.checkpoint.warnings.clear()
        for proc in adopted:
            self._emit(ProcessStarted(proc))
