"""Backends that reach their environment through a shell: the sandbox supervisor protocol.

Everything a background process needs is built on four primitives a subclass provides (an
SSH connection, a ``docker exec``, an ``apptainer exec``): run a short command, stream a
long-running command's stdout, and move files in and out. Every managed process runs under
``data/supervisor.sh`` inside the environment, which owns its PTY and stdin and spools its
output, so the app (or the connection) can die and the process goes on; reattaching is a
byte-range read plus a new follower.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shlex
import threading
import time
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence

from backends import rundir
from backends.base import (
    Backend,
    BackendError,
    DuplicateIdError,
    ExitStatus,
    OutputSink,
    Probe,
    ProcessGoneError,
    ProcHandle,
    RunResult,
    SpawnError,
    SpawnSpec,
    Subscription,
)

SUPERVISOR = rundir.SUPERVISOR_PATH.read_text()
FOLLOW_POLL = 0.2
FOLLOW_RETRIES = 8
"""A follower that cannot reach the environment this many times in a row (about 30 s with the
back-off) reports the process lost, with the error."""
FOLLOW_BACKOFF = 0.25


class ShellBackend(Backend):
    """The supervisor protocol over a subclass's shell primitives."""

    run_root: str
    """Where run directories live inside the environment."""

    # -- primitives ----------------------------------------------------------------------
    @abstractmethod
    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        """Run a ``sh`` script in the environment; return its exit code and merged output."""

    @abstractmethod
    def stream(self, script: str) -> Iterator[bytes]:
        """Run a ``sh`` script and yield its stdout as it arrives, until it ends."""

    # -- helpers -----------------------------------------------------------------------
    def _ok(self, script: str, **kwargs: object) -> bytes:
        code, output = self.exec(script, **kwargs)  # type: ignore[arg-type]
        if code != 0:
            raise BackendError(
                output.decode(errors="replace").strip() or f"command failed with exit code {code}"
            )
        return output

    def _install_supervisor(self) -> str:
        """Put the supervisor script in the environment (once per backend instance)."""
        path = f"{self.run_root}/supervisor.sh"
        if getattr(self, "_supervisor_installed", None) != path:
            self.upload(SUPERVISOR.encode(), path, mode=0o700)
            self._supervisor_installed = path
        return path

    # -- foreground --------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        q = shlex.quote
        exports = "".join(f"export {k}={q(v)}; " for k, v in (env or {}).items())
        cd = (
            (
                f"cd {q(workdir)} 2>/dev/null || {{ echo 'working directory does not exist: "
                f"{workdir}'; exit 126; }}; "
            )
            if workdir
            else ""
        )
        # Output goes to a file so a backgrounded grandchild cannot hold the channel open;
        # the command runs in its own session so a timeout kills its whole group.
        script = (
            f'{exports}{cd}f=$(mktemp); setsid {shlex.join(argv)} >"$f" 2>&1 '
            f"</dev/null & p=$!; ( sleep {timeout:g}; kill -9 -$p ) "
            f">/dev/null 2>&1 & w=$!; wait $p; c=$?; kill $w 2>/dev/null; "
            f'cat "$f"; rm -f "$f"; exit $c'
        )
        started = time.monotonic()
        code, output = self.exec(script, timeout=timeout + 10, cancel=cancel)
        if cancel is not None and cancel.is_set():
            return RunResult(output, 130, interrupted=True)
        if code == 137 and time.monotonic() - started >= timeout:
            return RunResult(output, 124, timed_out=True)
        if code == 126 and output.startswith(b"working directory does not exist"):
            raise BackendError(output.decode(errors="replace").strip())
        return RunResult(output, code)

    # -- background --------------------------------------------------------------------
    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        supervisor = self._install_supervisor()
        run_dir = f"{self.run_root}/{spec.proc_id}"
        q = shlex.quote
        # The environment goes into `cmd` (0600 in a 0700 directory): the exec primitives
        # carry no environment of their own.
        exports = "".join(f"export {k}={q(v)}\n" for k, v in spec.env.items())
        info = json.dumps({**dict(spec.metadata), "argv": list(spec.argv), "pty": spec.pty})
        checks = []
        if spec.workdir:
            checks.append(
                f"[ -d {q(spec.workdir)} ] || {{ echo 'working directory does not "
                f"exist: {spec.workdir}'; exit 126; }}"
            )
        if spec.pty:
            checks.append(
                'command -v script >/dev/null || { echo "a terminal (pty) needs '
                "util-linux 'script' in the environment, and it is missing\"; "
                "exit 126; }"
            )
        if list(spec.argv[:2]) != ["/bin/sh", "-c"]:
            checks.append(
                f'command -v {q(spec.argv[0])} >/dev/null || {{ echo "cannot run '
                f"'{spec.argv[0]}': No such file or directory\"; exit 126; }}"
            )
        files = [
            *checks,
            f"mkdir -m 700 {q(run_dir)} || exit 17",
            f"cd {q(run_dir)}",
            f"printf %s {q(exports + rundir.command_text(spec.argv))} > cmd",
            f"printf %s {q(info)} > info.json",
        ]
        if spec.workdir:
            files.append(f"printf %s {q(spec.workdir)} > workdir")
        if spec.pty:
            files.append(f"echo {spec.rows} {spec.cols} > size")
        # The supervisor starts where foreground commands start (`cd -`), so a process without
        # a workdir runs there too.
        launch = (
            f"cd - >/dev/null; setsid setsid sh {q(supervisor)} {q(run_dir)} </dev/null "
            f">/dev/null 2>&1; cd {q(run_dir)}; i=0; while [ ! -f pid ] && [ ! -s error ] "
            "&& [ ! -f exit ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; "
            "cat pid 2>/dev/null || { cat error; tail -c 500 out; exit 126; }"
        )
        code, output = self.exec("; ".join(files) + "; " + launch)
        text = output.decode(errors="replace").strip()
        if code == 126:
            raise SpawnError(text or "the process supervisor did not start the command")
        if code == 17:
            raise DuplicateIdError(f"run directory already exists: {run_dir}")
        record = rundir.parse_pid(text)
        if code != 0 or record is None:
            raise SpawnError(
                f"cannot start the supervisor in the {self.kind} environment: {text or code}"
            )
        return record.handle(
            spec.proc_id, self.kind, run_dir, pty=spec.pty, sandbox=self.sandbox_ref()
        )

    def sandbox_ref(self) -> dict[str, str]:
        """What identifies the environment in checkpoints (host, container id...)."""
        return {}

    def _alive_test(self, handle: ProcHandle) -> str:
        """Shell test that is true while the process is the one we started."""
        return (
            f"[ \"$(sed 's/^.*) //' /proc/{handle.pid}/stat 2>/dev/null | cut -d' ' -f20)\""
            f" = {handle.start_ticks} ]"
        )

    def _running_test(self, handle: ProcHandle) -> str:
        """Shell test that is true while the process or its supervisor runs (the supervisor
        outlives the command until its exit is recorded, e.g. on a full disk)."""
        supervisor = (
            f"[ \"$(sed 's/^.*) //' /proc/{handle.supervisor_pid}/stat 2>/dev/null "
            f"| cut -d' ' -f20)\" = {handle.supervisor_start_ticks} ]"
        )
        return f"{{ {self._alive_test(handle)} || {supervisor}; }}"

    def read_output(self, handle: ProcHandle, offset: int, max_bytes: int) -> bytes:
        if max_bytes <= 0:
            return b""
        script = (
            f"tail -c +{offset + 1} {shlex.quote(handle.run_dir)}/out 2>/dev/null "
            f"| head -c {max_bytes}"
        )
        return self.exec(script)[1]

    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        """One round trip for all handles: three lines each ("STATE SIZE CODE SIGNALS MTIME",
        the kill reason, the ``dropped`` record), so re-adopting many processes stays fast."""
        if not handles:
            return []
        parts = []
        for handle in handles:
            d = shlex.quote(handle.run_dir)
            parts.append(
                f"d={d}; if [ ! -d $d ]; then echo gone 0 - -; echo; echo; else "
                f"s=$(stat -c %s $d/out 2>/dev/null || echo 0); "
                f"g=$(cat $d/signalled 2>/dev/null | tr '\\n' , ); "
                f"if [ -f $d/exit ]; then echo ended $s $(cat $d/exit) ${{g:--}} "
                f"$(date -r $d/exit +%s 2>/dev/null); "
                f"elif {self._running_test(handle)}; then echo running $s - -; "
                f"else echo lost $s - -; fi; "
                f"cat $d/kill 2>/dev/null | tr -d '\\n'; echo; "
                f"echo $(cat $d/{rundir.DROPPED} 2>/dev/null); fi"
            )
        lines = self.exec("; ".join(parts))[1].decode(errors="replace").split("\n")
        lines += [""] * (3 * len(handles) - len(lines))
        probes = []
        for index in range(len(handles)):
            fields = lines[3 * index].split() + ["-"] * 5
            reason = lines[3 * index + 1].strip()
            dropped = [int(f) for f in lines[3 * index + 2].split() if f.isdigit()] + [0, 0]
            state, size = fields[0], int(fields[1]) if fields[1].isdigit() else 0
            probe = Probe(
                "lost",
                None,
                size,
                "neither the process nor an exit record was found",
                dropped[0],
                dropped[1],
            )
            if state == "ended" and fields[2].lstrip("-").isdigit():
                ended_at = float(fields[4]) if fields[4].isdigit() else time.time()
                status = rundir.exit_status(
                    fields[2], rundir.signals_sent(fields[3]), reason, ended_at
                )
                probe = dataclasses.replace(probe, state="ended", exit=status, detail="")
            elif state == "running":
                probe = dataclasses.replace(probe, state="running", detail="")
            probes.append(probe)
        return probes

    def follow(self, handle: ProcHandle, offset: int, sink: OutputSink) -> Subscription:
        return ShellFollower(self, handle, offset, sink)

    def write(self, handle: ProcHandle, data: bytes) -> int:
        d = shlex.quote(handle.run_dir)
        code, output = self.exec(f"{self._alive_test(handle)} || exit 3; cat > {d}/in", stdin=data)
        if code == 3:
            raise ProcessGoneError(f"process {handle.proc_id} is not running")
        if code != 0:
            raise BackendError(output.decode(errors="replace").strip())
        return len(data)

    def _pty_path(self, handle: ProcHandle) -> str:
        return f"$(readlink /proc/{handle.pid}/fd/0)"

    def resize(self, handle: ProcHandle, rows: int, cols: int) -> None:
        if not handle.pty:
            raise BackendError(f"process {handle.proc_id} has no terminal to resize")
        code, output = self.exec(
            f"{self._alive_test(handle)} || exit 3; "
            f"stty -F {self._pty_path(handle)} rows {rows} cols {cols}"
        )
        if code == 3:
            raise ProcessGoneError(f"process {handle.proc_id} is not running")
        if code != 0:
            raise BackendError(output.decode(errors="replace").strip())

    def signal(self, handle: ProcHandle, sig: int) -> None:
        # sh reports a death by signal N as exit 128+N; the note tells the two apart.
        note = f"echo {sig} >> {shlex.quote(handle.run_dir)}/signalled; "
        code, _ = self.exec(
            f"{self._alive_test(handle)} || exit 3; {note}kill -{sig} -{handle.pid}"
        )
        if code == 3:
            raise ProcessGoneError(f"process {handle.proc_id} has ended")

    def _sweep(self, handle: ProcHandle, action: str) -> str:
        """Shell text that runs ``action`` (with ``$p``) for every live process carrying the
        run's marker (``HERMES_RUN``, see ``backends/sweep.py``) except the supervisor and its
        helpers, and prints how many there were."""
        sup, run = handle.supervisor_pid, shlex.quote(handle.run_dir)
        return (
            f"n=0; for d in /proc/[0-9]*; do p=${{d#/proc/}}; [ $p = {sup} ] && continue; "
            f"tr '\\0' '\\n' < $d/environ 2>/dev/null | grep -qxF HERMES_RUN={run} "
            f"|| continue; set -- $(sed 's/^.*) //' $d/stat 2>/dev/null); "
            f'[ "${{1:-Z}}" = Z ] && continue; '
            f'[ "$2" = {sup} ] && [ $p != {handle.pid} ] && continue; '
            f"{action}; n=$((n+1)); done; echo $n"
        )

    def kill_tree(self, handle: ProcHandle, sig: int) -> int:
        note = f"echo {sig} >> {shlex.quote(handle.run_dir)}/signalled 2>/dev/null; "
        leader = f"{self._alive_test(handle)} && kill -{sig} -{handle.pid} 2>/dev/null; "
        output = self._ok(note + leader + self._sweep(handle, f"kill -{sig} $p 2>/dev/null"))
        return _last_number(output)

    def descendants(self, handle: ProcHandle) -> int:
        return _last_number(self._ok(self._sweep(handle, ":")))

    def record_kill(self, handle: ProcHandle, reason: str) -> None:
        with contextlib.suppress(BackendError):
            self.exec(f"printf %s {shlex.quote(reason)} > {shlex.quote(handle.run_dir)}/kill")

    def remove_run_dir(self, handle: ProcHandle) -> None:
        with contextlib.suppress(BackendError):
            self.exec(f"rm -rf {shlex.quote(handle.run_dir)}")


def _last_number(output: bytes) -> int:
    words = output.split()
    return int(words[-1]) if words and words[-1].isdigit() else 0


class ShellFollower:
    """Streams a spool with ``tail -f`` until the process dies, then catches up and
    reports the exit; a dropped connection resumes from the last offset. Keeps the spool
    under the backend's cap; a transport that keeps failing makes the process lost, with the
    reason. Backends with a faster stream override :meth:`_follow_to_the_end`."""

    def __init__(
        self, backend: ShellBackend, handle: ProcHandle, offset: int, sink: OutputSink
    ) -> None:
        self.backend, self.handle, self.offset, self.sink = backend, handle, offset, sink
        self.closed = False
        self.cap = backend.spool_cap
        self.dropped = (0, 0)
        self.dropped_known = False
        threading.Thread(target=self._run, name=f"follow-{handle.proc_id}", daemon=True).start()

    def close(self) -> None:
        self.closed = True

    def _deliver(self, data: bytes) -> None:
        if data and not self.closed:
            self.offset += len(data)
            self.sink.on_output(data)
            if self.cap and self.offset - self.dropped[0] > self.cap * 5 // 4:
                self._cap()

    def _cap(self) -> None:
        """Drop the oldest bytes of the spool beyond the cap (see ``rundir.cap_spool``), with
        util-linux ``fallocate`` in the environment; without it, everything is kept."""
        d = shlex.quote(self.handle.run_dir)
        if not self.dropped_known:
            words = self.backend.exec(f"cat {d}/{rundir.DROPPED} 2>/dev/null")[1].split()
            if len(words) == 2 and all(w.isdigit() for w in words):
                self.dropped = (int(words[0]), int(words[1]))
            self.dropped_known = True
        start, lines = self.dropped
        upto = (self.offset - self.cap) // rundir.PUNCH_ALIGN * rundir.PUNCH_ALIGN
        if upto <= start:
            return
        code, output = self.backend.exec(
            f"cd {d} && {{ command -v fallocate >/dev/null || exit 3; }}; "
            f"n=$(tail -c +{start + 1} out | head -c {upto - start} | tr -dc '\\n' | wc -c); "
            f"echo {upto} $(({lines} + n)) > {rundir.DROPPED}.tmp && "
            f"mv -f {rundir.DROPPED}.tmp {rundir.DROPPED} && "
            f"fallocate -p -o {start} -l {upto - start} out && cat {rundir.DROPPED}"
        )
        words = output.split()
        if code == 0 and len(words) == 2 and all(w.isdigit() for w in words):
            self.dropped = (int(words[0]), int(words[1]))
        else:
            self.cap = 0  # no fallocate or no holes here: keep everything

    def _run(self) -> None:
        failures = 0
        while not self.closed:
            try:
                self._follow_to_the_end()
                return
            except Exception as exc:  # any failure of the transport, not only BackendError
                failures += 1
                if failures > FOLLOW_RETRIES:
                    # Never "running" forever: lost, with the reason.
                    self.sink.on_exit(
                        ExitStatus(
                            None,
                            detail=(
                                f"following it failed {failures} times in a row; the last error: "
                                f"{exc}"
                            ),
                        )
                    )
                    return
                time.sleep(min(5.0, FOLLOW_BACKOFF * 2**failures))

    def _follow_to_the_end(self) -> None:
        """Stream, catch up, report the end; resumable from ``self.offset`` at every step.

        Raises:
            BackendError: the environment could not be reached (the caller retries).
        """
        h = self.handle
        d = shlex.quote(h.run_dir)
        script = (
            f"cd {d} || exit 0; tail -c +{self.offset + 1} -f out & t=$!; "
            f"while {self.backend._running_test(h)}; do sleep {FOLLOW_POLL}; done; "
            f"sleep {FOLLOW_POLL}; kill $t"
        )
        for chunk in self.backend.stream(script):
            if self.closed:
                return
            self._deliver(chunk)
        while not self.closed:  # catch up with whatever tail had not shown yet
            rest = self.backend.read_output(h, self.offset, 1 << 20)
            if not rest:
                break
            self._deliver(rest)
        for _ in range(50):
            if self.closed:
                return
            probe = self.backend.probe([h])[0]
            if probe.state == "ended" and probe.exit is not None:
                self.sink.on_exit(probe.exit)
                return
            time.sleep(0.1)
        if not self.closed:
            self.sink.on_exit(ExitStatus(None, detail="it ended without an exit record"))
