"""Steering processes: names, lifetimes, restarts, input, terminal size, signals, kills."""

from __future__ import annotations

import signal as _signal
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence

from backends import Backend, BackendError, ProcessGoneError, signal_name
from registry.errors import RegistryError
from registry.process import Process

KILL_GRACE = 3.0
ENDING_SIGNALS = frozenset(
    {_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM, _signal.SIGKILL}
)


class Steering:
    """The steering half of :class:`registry.ProcessRegistry` (a mixin: it provides the rest)."""

    @abstractmethod
    def get(self, proc_id: str) -> Process:
        """Return the process with this id."""

    @abstractmethod
    def processes(
        self, owner: str | None = None, *, include_finished: bool = True
    ) -> list[Process]:
        """Return processes, oldest first."""

    @abstractmethod
    def _backend_or_error(self, kind: str, sandbox: str = "default") -> Backend:
        """Return a backend or raise :class:`RegistryError`."""

    @abstractmethod
    def _updated(self, proc: Process) -> None:
        """Save a changed process and tell the subscribers."""

    @abstractmethod
    def _save(self, *procs: Process) -> None:
        """Write processes to the checkpoint."""

    @abstractmethod
    def spawn(
        self,
        command: str | Sequence[str],
        *,
        backend: str = "local",
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        pty: bool = False,
        rows: int = 24,
        cols: int = 80,
        owner: str = "default",
        name: str | None = None,
        stop_on_quit: bool = False,
    ) -> Process:
        """Start a background process."""

    def rename(self, proc_id: str, name: str | None) -> Process:
        """Give a process a name (shown in lists, usable instead of its id)."""
        proc = self.get(proc_id)
        name = (name or "").strip() or None
        if name is not None:
            taken = [s.id for s in self.processes() if s.name == name and s is not proc]
            if taken:
                raise RegistryError(f"the name {name!r} is already used by {taken[0]}")
        proc.name = name
        self._updated(proc)
        return proc

    def set_lifetime(self, proc_id: str, *, stop_on_quit: bool) -> Process:
        """Choose whether a process is killed when the app quits."""
        proc = self.get(proc_id)
        proc.stop_on_quit = stop_on_quit
        self._updated(proc)
        return proc

    def restart(self, proc_id: str) -> Process:
        """Start the same command again (same backend, directory, terminal, owner, name).

        A still-running process is killed first; returns the new process.
        """
        old = self.get(proc_id)
        if old.is_running:
            self.kill(old.id, by="restart")
        ran_in_shell = old.argv[1:2] in (["-c"], ["-lc"]) and old.argv[2:] == [old.command]
        command: str | list[str] = old.command if ran_in_shell else old.argv
        name = old.name
        if name is not None:
            old.name = None
            self._save(old)
        return self.spawn(
            command,
            backend=old.backend,
            workdir=old.workdir or None,
            pty=old.pty,
            owner=old.owner,
            name=name,
            stop_on_quit=old.stop_on_quit,
        )

    def _running(self, proc_id: str) -> tuple[Process, Backend]:
        proc = self.get(proc_id)
        if not proc.is_running or proc.handle is None:
            raise RegistryError(f"process {proc.id} is not running ({proc.status.value})")
        return proc, self._backend_or_error(proc.backend, proc.owner)

    def write(self, proc_id: str, data: bytes | str) -> int:
        """Send ``data`` to the process's stdin (or PTY) as is."""
        proc, backend = self._running(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        assert proc.handle is not None
        try:
            return backend.write(proc.handle, payload)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def submit(self, proc_id: str, data: bytes | str = "") -> int:
        """Send ``data`` then Enter: CR under a PTY (what a terminal sends), LF otherwise."""
        proc = self.get(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        return self.write(proc.id, payload + (b"\r" if proc.pty else b"\n"))

    def resize(self, proc_id: str, rows: int, cols: int) -> None:
        """Resize the process's PTY."""
        if rows < 1 or cols < 1:
            raise RegistryError("rows and cols must be positive")
        proc, backend = self._running(proc_id)
        assert proc.handle is not None
        try:
            backend.resize(proc.handle, rows, cols)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def send_signal(self, proc_id: str, sig: int, *, by: str = "user") -> None:
        """Send ``sig`` to the process's whole process group.

        A signal meant to end the process (HUP, INT, QUIT, TERM, KILL) is recorded so that the
        process shows as killed, with the reason.
        """
        proc, backend = self._running(proc_id)
        assert proc.handle is not None
        try:
            if sig in ENDING_SIGNALS:
                backend.record_kill(proc.handle, f"{signal_name(sig)} by {by}")
                # Every process it started, not only its group: setsid children, the jobs of
                # an interactive shell, whatever outlives the leader.
                backend.kill_tree(proc.handle, sig)
            else:
                backend.signal(proc.handle, sig)
        except ProcessGoneError:
            pass  # it ended on its own meanwhile; its exit arrives through the follower
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def kill(self, proc_id: str, *, grace: float = KILL_GRACE, by: str = "user") -> Process:
        """Stop a process: TERM to its group and everything it started, then KILL whatever is
        still there after ``grace``. A process that has ended but left processes running
        (``survivors``) gets the same for those.

        Returns the process once it has ended (or after the KILL, if the end is slow to show).
        """
        proc = self.get(proc_id)
        if proc.is_running:
            self.send_signal(proc.id, _signal.SIGTERM, by=by)
            if not proc.ended.wait(grace) and proc.is_running:
                try:
                    self.send_signal(proc.id, _signal.SIGKILL, by=f"{by} (after SIGTERM)")
                except RegistryError:
                    pass
                proc.ended.wait(KILL_GRACE)
        if not proc.is_running and proc.handle is not None:
            self._end_the_rest(proc, grace)
        return proc

    def _end_the_rest(self, proc: Process, grace: float) -> None:
        """After the leader: TERM what it left running, KILL what is still there after
        ``grace``, and record how many remain (normally none)."""
        assert proc.handle is not None
        try:
            backend = self._backend_or_error(proc.backend, proc.owner)
            left = backend.descendants(proc.handle)
            if left:
                backend.kill_tree(proc.handle, _signal.SIGTERM)
                deadline = time.monotonic() + grace
                while left and time.monotonic() < deadline:
                    time.sleep(0.05)
                    left = backend.descendants(proc.handle)
            if left:
                backend.kill_tree(proc.handle, _signal.SIGKILL)
                deadline = time.monotonic() + KILL_GRACE
                while left and time.monotonic() < deadline:
                    time.sleep(0.05)
                    left = backend.descendants(proc.handle)
        except (BackendError, RegistryError):
            return  # its environment is gone, and with it everything it started
        if left != proc.survivors:
            proc.survivors = left
            self._updated(proc)

    def stop_on_quit(self) -> list[Process]:
        """Kill the running processes whose lifetime ends with the app; return them."""
        return self._kill_all(
            [s for s in self.processes() if s.is_running and s.stop_on_quit], by="quit"
        )

    def cleanup(self, owner: str) -> list[Process]:
        """Kill every running process of a chat session (e.g. at the end of an RL episode)."""
        return self._kill_all(
            [s for s in self.processes(owner) if s.is_running or s.survivors], by="cleanup"
        )

    def _kill_all(self, procs: list[Process], by: str) -> list[Process]:
        """Kill ``procs`` in parallel (each may take a grace period) and wait for all."""
        threads = [
            threading.Thread(target=self.kill, args=(s.id,), kwargs={"by": by}) for s in procs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return procs
