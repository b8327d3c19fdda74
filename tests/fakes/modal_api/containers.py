"""The fake Modal's sandboxes: one real Docker container each, commands run with ``docker exec``.

Output of every exec'd command is kept whole, so a reader can ask for any offset (as Modal's
command router allows); stdin is written in order and closed on EOF. Everything the SDK sees
comes from real processes inside the container, never from the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modal_proto import api_pb2

from tests.waiting import poll_until

LABEL = "hermes-tui.fake-modal"
"""Label on every container the fake starts (tests remove them by it)."""


class Changes:
    """Wakes coroutines on the fake's event loop when an exec's state changes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waiters: list[asyncio.Future[None]] = []

    def notify(self) -> None:
        """Wake every waiter (call on the loop)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def notify_threadsafe(self) -> None:
        """Wake every waiter from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is gone at shutdown
            self.loop.call_soon_threadsafe(self.notify)

    async def wait(self) -> None:
        """Return at the next change."""
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append(waiter)
        await waiter


class ContainerExec:
    """A command exec'd into a sandbox's container.

    Args:
        api: the docker SDK's low-level client.
        container_id: where to run.
        argv, workdir, env: what to run and how.
        loop: the fake's event loop (waiters live there).
        timeout: seconds after which the command is killed (0: never).
        keep_stdout, keep_stderr: False for a DEVNULL stream.
    """

    def __init__(
        self,
        api: Any,
        container_id: str,
        argv: Sequence[str],
        *,
        workdir: str | None,
        env: Mapping[str, str],
        loop: asyncio.AbstractEventLoop,
        timeout: int = 0,
        keep_stdout: bool = True,
        keep_stderr: bool = True,
    ) -> None:
        from docker.utils.socket import frames_iter

        self.api, self.argv = api, list(argv)
        self.stdout, self.stderr = bytearray(), bytearray()
        self.keep = {1: keep_stdout, 2: keep_stderr}
        self.stdin_offset = 0
        self.stdin_closed = False
        self.exit_code: int | None = None
        self.changes = Changes(loop)
        self._stdin_lock = asyncio.Lock()
        created = api.exec_create(
            container_id,
            self.argv,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            workdir=workdir or None,
            environment=dict(env) or None,
        )
        self.exec_id = str(created["Id"])
        self._sock = api.exec_start(self.exec_id, socket=True, tty=False)
        self._raw: socket.socket = self._sock._sock
        self._frames = frames_iter(self._sock, tty=False)
        threading.Thread(
            target=self._pump, name=f"fake-modal-exec-{self.exec_id[:8]}", daemon=True
        ).start()
        if timeout:
            loop.call_later(
                timeout, lambda: threading.Thread(target=self.kill, daemon=True).start()
            )

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def _pump(self) -> None:
        try:
            for stream, data in self._frames:
                if self.keep.get(stream, False):
                    (self.stdout if stream == 1 else self.stderr).extend(data)
                    self.changes.notify_threadsafe()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self._sock.close()
                self._raw.close()
        ended = poll_until(self._exit_record, 2.0)
        self.exit_code = ended[0] if ended else 137
        self.changes.notify_threadsafe()

    def _exit_record(self) -> tuple[int] | None:
        """``(exit code,)`` once docker has it (a moment after the stream ends), ``(137,)``
        (what is left when the sandbox was removed under the command) once the container is
        gone; None while it runs (a tuple, so that code 0 counts as an answer)."""
        try:
            info = self.api.exec_inspect(self.exec_id)
        except Exception:
            return (137,)
        if info.get("Running"):
            return None
        return (int(info.get("ExitCode") or 0),)

    async def write_stdin(self, offset: int, data: bytes, eof: bool) -> None:
        """Write ``data`` found at stdin byte ``offset`` (repeats are skipped), then EOF."""
        async with self._stdin_lock:
            if offset > self.stdin_offset:
                raise ValueError(
                    f"stdin offset {offset} is past the {self.stdin_offset} bytes written so far"
                )
            data = data[self.stdin_offset - offset :]
            loop = asyncio.get_running_loop()
            if data and not self.stdin_closed:
                try:
                    await loop.run_in_executor(None, self._raw.sendall, data)
                except OSError:
                    pass  # the command has ended; like a closed pipe
                self.stdin_offset += len(data)
            if eof and not self.stdin_closed:
                self.stdin_closed = True
                with contextlib.suppress(OSError):
                    self._raw.shutdown(socket.SHUT_WR)

    def kill(self) -> None:
        """SIGKILL the command (its exec timeout ran out)."""
        with contextlib.suppress(Exception):
            pid = int(self.api.exec_inspect(self.exec_id).get("Pid") or 0)
            if pid > 0 and not self.done:
                os.kill(pid, signal.SIGKILL)


@dataclass
class FakeSandbox:
    """One sandbox: its Modal-side record and its container."""

    sandbox_id: str
    task_id: str
    app_id: str
    image: str
    definition: api_pb2.Sandbox
    tags: dict[str, str]
    created_at: float
    container: Any = None
    result: api_pb2.GenericResult | None = None
    execs: dict[str, ContainerExec] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return self.result is None

    def info(self) -> api_pb2.SandboxInfo:
        """The SandboxListV2 entry."""
        info = api_pb2.SandboxInfo(
            id=self.sandbox_id,
            created_at=self.created_at,
            app_id=self.app_id,
            tags=[api_pb2.SandboxTag(tag_name=k, tag_value=v) for k, v in self.tags.items()],
            timeout_secs=self.definition.timeout_secs,
            metadata=api_pb2.SandboxHandleMetadata(app_id=self.app_id),
        )
        info.task_info.id = self.task_id
        if self.result is not None:
            info.task_info.result.CopyFrom(self.result)
        return info


def start_container(client: Any, sandbox: FakeSandbox) -> Any:
    """Run the sandbox's container (the image's files, a shell that idles as PID 1)."""
    definition = sandbox.definition
    command = list(definition.entrypoint_args) or [
        "sh",
        "-c",
        "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done",
    ]
    options: dict[str, Any] = {
        "detach": True,
        "init": True,
        "environment": sandbox.env,
        "labels": {LABEL: sandbox.sandbox_id},
        "name": f"fake-modal-{sandbox.sandbox_id}",
    }
    if definition.HasField("workdir"):
        options["working_dir"] = definition.workdir
    return client.containers.run(sandbox.image, command, **options)
