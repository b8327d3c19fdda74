"""Steering processes: names, lifetimes, restarts, input, terminal size, signals, kills."""

from __future__ import annotations

import signal as _signal
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence

from backends import Backend, BackendError, ProcessGoneError, signal_name
from registry.errors import RegistryError
from registry.session import ProcessSession

KILL_GRACE = 3.0
ENDING_SIGNALS = frozenset(
    {_signal.SIGHUP, _signal.SIGINT, _signal.SIGQUIT, _signal.SIGTERM, _signal.SIGKILL}
)


class Steering:
    """The steering half of :class:`registry.ProcessRegistry` (a mixin: it provides the rest)."""

    @abstractmethod
    def get(self, proc_id: str) -> ProcessSession:
        """Return the process with this id."""

    @abstractmethod
    def processes(
        self, session_key: str | None = None, *, include_finished: bool = True
    ) -> list[ProcessSession]:
        """Return processes, oldest first."""

    @abstractmethod
    def _backend_or_error(self, kind: str, sandbox: str = "default") -> Backend:
        """Return a backend or raise :class:`RegistryError`."""

    @abstractmethod
    def _updated(self, session: ProcessSession) -> None:
        """Save a changed session and tell the subscribers."""

    @abstractmethod
    def _save(self, *sessions: ProcessSession) -> None:
        """Write sessions to the checkpoint."""

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
        session_key: str = "default",
        name: str | None = None,
        stop_on_quit: bool = False,
    ) -> ProcessSession:
        """Start a background process."""

    def rename(self, proc_id: str, name: str | None) -> ProcessSession:
        """Give a process a name (shown in lists, usable instead of its id)."""
        session = self.get(proc_id)
        name = (name or "").strip() or None
        if name is not None:
            taken = [s.id for s in self.processes() if s.name == name and s is not session]
            if taken:
                raise RegistryError(f"the name {name!r} is already used by {taken[0]}")
        session.name = name
        self._updated(session)
        return session

    def set_lifetime(self, proc_id: str, *, stop_on_quit: bool) -> ProcessSession:
        """Choose whether a process is killed when the app quits."""
        session = self.get(proc_id)
        session.stop_on_quit = stop_on_quit
        self._updated(session)
        return session

    def restart(self, proc_id: str) -> ProcessSession:
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
            session_key=old.session_key,
            name=name,
            stop_on_quit=old.stop_on_quit,
        )

    def _running(self, proc_id: str) -> tuple[ProcessSession, Backend]:
        session = self.get(proc_id)
        if not session.is_running or session.handle is None:
            raise RegistryError(f"process {session.id} is not running ({session.status.value})")
        return session, self._backend_or_error(session.backend, session.session_key)

    def write(self, proc_id: str, data: bytes | str) -> int:
        """Send ``data`` to the process's stdin (or PTY) as is."""
        session, backend = self._running(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        assert session.handle is not None
        try:
            return backend.write(session.handle, payload)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def submit(self, proc_id: str, data: bytes | str = "") -> int:
        """Send ``data`` then Enter: CR under a PTY (what a terminal sends), LF otherwise."""
        session = self.get(proc_id)
        payload = data.encode() if isinstance(data, str) else data
        return self.write(session.id, payload + (b"\r" if session.pty else b"\n"))

    def resize(self, proc_id: str, rows: int, cols: int) -> None:
        """Resize the process's PTY."""
        if rows < 1 or cols < 1:
            raise RegistryError("rows and cols must be positive")
        session, backend = self._running(proc_id)
        assert session.handle is not None
        try:
            backend.resize(session.handle, rows, cols)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def send_signal(self, proc_id: str, sig: int, *, by: str = "user") -> None:
        """Send ``sig`` to the process's whole process group.

        A signal meant to end the process (HUP, INT, QUIT, TERM, KILL) is recorded so that the
        process shows as killed, with the reason.
        """
        session, backend = self._running(proc_id)
        assert session.handle is not None
        try:
            if sig in ENDING_SIGNALS:
                backend.record_kill(session.handle, f"{signal_name(sig)} by {by}")
                # Every process it started, not only its group: setsid children, the jobs of
                # an interactive shell, whatever outlives the leader.
                backend.kill_tree(session.handle, sig)
            else:
                backend.signal(session.handle, sig)
        except ProcessGoneError:
            pass  # it ended on its own meanwhile; its exit arrives through the follower
        except BackendError as exc:
            raise RegistryError(str(exc)) from None

    def kill(self, proc_id: str, *, grace: float = KILL_GRACE, by: str = "user") -> ProcessSession:
        """Stop a process: TERM to its group and everything it started, then KILL whatever is
        still there after ``grace``. A process that has ended but left processes running
        (``survivors``) gets the same for those.

        Returns the session once it has ended (or after the KILL, if the end is slow to show).
        """
        session = self.get(proc_id)
        if session.is_running:
            self.send_signal(session.id, _signal.SIGTERM, by=by)
            if not session.ended.wait(grace) and session.is_running:
                try:
                    self.send_signal(session.id, _signal.SIGKILL, by=f"{by} (after SIGTERM)")
                except RegistryError:
                    pass
                session.ended.wait(KILL_GRACE)
        if not session.is_running and session.handle is not None:
            self._end_the_rest(session, grace)
        return session

    def _end_the_rest(self, session: ProcessSession, grace: float) -> None:
        """After the leader: TERM what it left running, KILL what is still there after
        ``grace``, and record how many remain (normally none)."""
        assert session.handle is not None
        try:
            backend = self._backend_or_error(session.backend, session.session_key)
            left = backend.descendants(session.handle)
            if left:
                backend.kill_tree(session.handle, _signal.SIGTERM)
                deadline = time.monotonic() + grace
                while left and time.monotonic() < deadline:
                    time.sleep(0.05)
                    left = backend.descendants(session.handle)
            if left:
                backend.kill_tree(session.handle, _signal.SIGKILL)
                deadline = time.monotonic() + KILL_GRACE
                while left and time.monotonic() < deadline:
                    time.sleep(0.05)
                    left = backend.descendants(session.handle)
        except (BackendError, RegistryError):
            return  # its environment is gone, and with it everything it started
        if left != session.survivors:
            session.survivors = left
            self._updated(session)

    def stop_on_quit(self) -> list[ProcessSession]:
        """Kill the running processes whose lifetime ends with the app; return them."""
        return self._kill_all(
            [s for s in self.processes() if s.is_running and s.stop_on_quit], by="quit"
        )

    def cleanup(self, session_key: str) -> list[ProcessSession]:
        """Kill every running process of a chat session (e.g. at the end of an RL episode)."""
        return self._kill_all(
            [s for s in self.processes(session_key) if s.is_running or s.survivors], by="cleanup"
        )

    def _kill_all(self, sessions: list[ProcessSession], by: str) -> list[ProcessSession]:
        """Kill ``sessions`` in parallel (each may take a grace period) and wait for all."""
        threads = [
            threading.Thread(target=self.kill, args=(s.id,), kwargs={"by": by}) for s in sessions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sessions
