"""State of one sandbox of the fake Daytona API: a Docker container, its sessions and commands.

Every command runs for real inside the sandbox's container through the ``docker`` CLI.
``/process/execute`` feeds the command text to a shell's stdin as Daytona's daemon does (so the
command's stdin is its own script's pipe, the trap clients must wrap against). Session command
output is kept as the daemon's log is: chunks prefixed with ``\\x01\\x01\\x01`` (stdout)
or ``\\x02\\x02\\x02`` (stderr), replayed from the start to every log reader.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field

STDOUT = b"\x01\x01\x01"
STDERR = b"\x02\x02\x02"
CONTAINER_LABEL = "hermes-tui.fake-daytona"


async def docker(
    *args: str, stdin: bytes | None = None, timeout: float = 120
) -> tuple[int, bytes, bytes]:
    """Run the docker CLI; return its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        "docker",
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode or 0, out, err


@dataclass
class FakeCommand:
    """A session command: its process, log and exit code."""

    id: str
    command: str
    proc: asyncio.subprocess.Process | None = None
    log: bytearray = field(default_factory=bytearray)
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_code: int | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def append(self, marker: bytes, data: bytes) -> None:
        async with self.changed:
            self.log += marker + data
            (self.stdout if marker == STDOUT else self.stderr).extend(data)
            self.changed.notify_all()

    async def finish(self, code: int) -> None:
        async with self.changed:
            self.exit_code = code
            self.changed.notify_all()


@dataclass
class FakeSession:
    """A session: named, holding the commands run in it."""

    id: str
    commands: dict[str, FakeCommand] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: secrets.token_hex(8))


class FakeSandbox:
    """One sandbox: a container plus the toolbox daemon's in-memory sessions."""

    def __init__(
        self,
        sandbox_id: str,
        name: str,
        image: str,
        labels: dict[str, str],
        env: dict[str, str],
        request: dict[str, object],
    ) -> None:
        self.id, self.name, self.image = sandbox_id, name, image
        self.labels, self.env, self.request = labels, env, request
        self.state = "creating"
        self.container = f"fake-daytona-{sandbox_id}"
        self.sessions: dict[str, FakeSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.auto_stop_interval = int(str(request.get("autoStopInterval") or 15))

    # -- lifecycle --------------------------------------------------------------------------
    async def create(self, server_tag: str) -> None:
        if (await docker("image", "inspect", self.image))[0] != 0:
            self.state = "build_failed"  # no registry here: only local images exist
            raise RuntimeError(f"image {self.image} not found")
        code, _, err = await docker(
            "run",
            "-d",
            "--init",
            "--name",
            self.container,
            "--label",
            f"{CONTAINER_LABEL}={server_tag}",
            self.image,
            "sh",
            "-c",
            "while :; do sleep 3600; done",
        )
        if code != 0:
            self.state = "error"
            raise RuntimeError(err.decode(errors="replace").strip())

    async def stop(self) -> None:
        """Stopping kills every process and forgets the daemon's sessions, as on Daytona."""
        await self._drop_sessions()
        await docker("kill", self.container)
        self.state = "stopped"

    async def start(self) -> None:
        await docker("start", self.container)
        self.state = "started"

    async def destroy(self) -> None:
        await self._drop_sessions()
        await docker("rm", "-f", self.container)
        self.state = "destroyed"

    async def _drop_sessions(self) -> None:
        for session in list(self.sessions.values()):
            await self.delete_session(session.id)

    # -- toolbox ----------------------------------------------------------------------------
    def _exec_args(
        self,
        cwd: str | None = None,
        envs: dict[str, str] | None = None,
        tag: str | None = None,
        merge: bool = False,
    ) -> list[str]:
        args = ["exec", "-i"]
        if cwd:
            args += ["-w", cwd]
        for key, value in {**(envs or {}), **({"FAKE_DAYTONA_TAG": tag} if tag else {})}.items():
            args += ["-e", f"{key}={value}"]
        # merge: stdout and stderr become one stream inside the container, in write order.
        return [*args, self.container, *(["sh", "-c", "exec sh 2>&1"] if merge else ["sh"])]

    async def execute(
        self, command: str, cwd: str | None, envs: dict[str, str] | None, timeout: float | None
    ) -> tuple[int, bytes] | None:
        """``/process/execute``: the command text is the shell's stdin; output merged.
        Returns None on timeout (the real daemon answers 408)."""
        proc = await asyncio.create_subprocess_exec(
            "docker",
            *self._exec_args(cwd, envs, merge=True),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(
                proc.communicate(command.encode() + b"\n"), timeout or None
            )
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        return proc.returncode or 0, out

    async def run_session_command(self, session: FakeSession, command: str) -> FakeCommand:
        cmd = FakeCommand(id=secrets.token_hex(8), command=command)
        session.commands[cmd.id] = cmd  # exists before the request returns (input may follow)
        # The command is an argument, not read from the shell's stdin: input sent right after
        # it must reach the command, not sit in the shell's read-ahead buffer.
        cmd.proc = await asyncio.create_subprocess_exec(
            "docker",
            *self._exec_args(tag=session.tag)[:-1],
            "sh",
            "-c",
            command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        task = asyncio.get_running_loop().create_task(self._pump(cmd))
        self._tasks.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._tasks.discard)
        return cmd

    async def _pump(self, cmd: FakeCommand) -> None:
        assert cmd.proc is not None and cmd.proc.stdout and cmd.proc.stderr

        async def read(stream: asyncio.StreamReader, marker: bytes) -> None:
            while data := await stream.read(65536):
                await cmd.append(marker, data)

        await asyncio.gather(read(cmd.proc.stdout, STDOUT), read(cmd.proc.stderr, STDERR))
        await cmd.finish(await cmd.proc.wait())

    async def send_input(self, cmd: FakeCommand, data: str) -> None:
        if cmd.proc is None or cmd.proc.stdin is None or cmd.exit_code is not None:
            raise LookupError("command is not running")
        cmd.proc.stdin.write(data.encode())
        await cmd.proc.stdin.drain()

    async def delete_session(self, session_id: str) -> None:
        """Kills the session's shell and everything it started (found by an env tag: a
        killed ``docker exec`` client would leave the process in the container running)."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return  # deleted meanwhile (a stop, or a concurrent request)
        if self.state == "started":
            await docker(
                "exec",
                self.container,
                "sh",
                "-c",
                f"for p in /proc/[0-9]*; do grep -qs FAKE_DAYTONA_TAG={session.tag} "
                "$p/environ && kill -9 ${p#/proc/}; done; true",
            )
        for cmd in session.commands.values():
            if cmd.proc is not None and cmd.proc.returncode is None:
                try:
                    cmd.proc.kill()
                except ProcessLookupError:
                    pass

    async def write_file(self, path: str, data: bytes) -> str | None:
        """Writes a file; the parent directory must exist. Returns an error or None."""
        code, _, err = await docker(
            "exec", "-i", self.container, "sh", "-c", 'cat > "$1"', "sh", path, stdin=data
        )
        return err.decode(errors="replace").strip() or "write failed" if code else None

    async def read_file(self, path: str) -> bytes | None:
        code, out, _ = await docker(
            "exec", self.container, "sh", "-c", '[ -f "$1" ] && cat "$1"', "sh", path
        )
        return None if code else out


def multipart_files(files: dict[str, bytes | None], boundary: str) -> bytes:
    """The bulk-download answer: a ``file`` part per found path, an ``error`` part (JSON)
    per missing one. The filename is the literal requested path: the SDK looks it up
    verbatim (a percent-encoded one fails it)."""
    body = bytearray()
    for path, data in files.items():
        if data is None:
            error = {
                "message": f"file not found: {path}",
                "statusCode": 404,
                "code": "FILE_NOT_FOUND",
            }
            name, kind, data = "error", "application/json", json.dumps(error).encode()
        else:
            name, kind = "file", "application/octet-stream"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{path}"\r\nContent-Type: {kind}\r\n\r\n'
        )
        body += head.encode() + data + b"\r\n"
    return bytes(body + f"--{boundary}--\r\n".encode())
