"""The fake Modal task command router: exec, stdio by offset, stdin, poll and wait.

Requests must carry the JWT the control plane handed out (``authorization: Bearer``), as on
Modal's workers. Every other router method answers UNIMPLEMENTED and is recorded.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from grpclib import GRPCError, Status
from modal_proto import task_command_router_pb2 as sr_pb2
from modal_proto.task_command_router_grpc import TaskCommandRouterBase

from tests.fakes.modal_api.containers import ContainerExec, FakeSandbox
from tests.fakes.modal_api.control import env_of

if TYPE_CHECKING:
    from tests.fakes.modal_api import FakeModal

CHUNK = 256 * 1024
"""Largest stdio message sent (well under gRPC's usual 4 MiB message limit)."""


class CommandRouter(TaskCommandRouterBase):
    """``TaskCommandRouter`` service of the fake."""

    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake

    async def _recv(self, stream: Any, name: str) -> Any:
        request = await stream.recv_message()
        self.fake.record(name, request)
        bearer = (stream.metadata or {}).get("authorization", "")
        if not bearer.startswith("Bearer ") or bearer[7:] not in self.fake.jwts:
            raise GRPCError(Status.UNAUTHENTICATED, "invalid or missing JWT")
        return request

    def _task(self, task_id: str) -> FakeSandbox:
        for sandbox in self.fake.sandboxes.values():
            if sandbox.task_id == task_id:
                if not sandbox.running:
                    raise GRPCError(Status.NOT_FOUND, f"task {task_id} has finished")
                return sandbox
        raise GRPCError(Status.NOT_FOUND, f"task {task_id} not found")

    def _exec(self, task_id: str, exec_id: str) -> ContainerExec:
        sandbox = self._task(task_id)
        found = sandbox.execs.get(exec_id)
        if found is None:
            raise GRPCError(Status.NOT_FOUND, f"exec {exec_id} not found")
        return found

    async def TaskExecStart(self, stream: Any) -> None:
        request = await self._recv(stream, "TaskExecStart")
        sandbox = self._task(request.task_id)
        if request.exec_id not in sandbox.execs:  # the exec id doubles as an idempotency key
            if request.HasField("pty_info"):
                raise GRPCError(Status.UNIMPLEMENTED, "the fake runs no exec under a PTY")
            self.fake.commands.append(list(request.command_args))
            env = {**sandbox.env, **env_of(request.secret_sources)}
            workdir = (
                request.workdir
                if request.HasField("workdir")
                else (
                    sandbox.definition.workdir if sandbox.definition.HasField("workdir") else None
                )
            )
            loop = asyncio.get_running_loop()
            try:
                sandbox.execs[request.exec_id] = await asyncio.to_thread(
                    ContainerExec,
                    self.fake.docker.api,
                    sandbox.container.id,
                    request.command_args,
                    workdir=workdir,
                    env=env,
                    loop=loop,
                    timeout=request.timeout_secs if request.HasField("timeout_secs") else 0,
                    keep_stdout=request.stdout_config != sr_pb2.TASK_EXEC_STDOUT_CONFIG_DEVNULL,
                    keep_stderr=request.stderr_config != sr_pb2.TASK_EXEC_STDERR_CONFIG_DEVNULL,
                )
            except Exception as exc:
                raise GRPCError(Status.FAILED_PRECONDITION, f"exec failed: {exc}") from None
        await stream.send_message(sr_pb2.TaskExecStartResponse())

    async def TaskExecStdioRead(self, stream: Any) -> None:
        request = await self._recv(stream, "TaskExecStdioRead")
        proc = self._exec(request.task_id, request.exec_id)
        stdout = request.file_descriptor == sr_pb2.TASK_EXEC_STDIO_FILE_DESCRIPTOR_STDOUT
        offset = request.offset
        while True:
            buffer = proc.stdout if stdout else proc.stderr
            if offset < len(buffer):
                data = bytes(buffer[offset : offset + CHUNK])
                offset += len(data)
                await stream.send_message(sr_pb2.TaskExecStdioReadResponse(data=data))
                continue
            if proc.done:
                return
            await proc.changes.wait()

    async def TaskExecStdinWrite(self, stream: Any) -> None:
        request = await self._recv(stream, "TaskExecStdinWrite")
        proc = self._exec(request.task_id, request.exec_id)
        try:
            await proc.write_stdin(request.offset, request.data, request.eof)
        except ValueError as exc:
            raise GRPCError(Status.FAILED_PRECONDITION, str(exc)) from None
        await stream.send_message(sr_pb2.TaskExecStdinWriteResponse())

    async def TaskExecPoll(self, stream: Any) -> None:
        request = await self._recv(stream, "TaskExecPoll")
        proc = self._exec(request.task_id, request.exec_id)
        response = sr_pb2.TaskExecPollResponse()
        if proc.exit_code is not None:
            response.code = proc.exit_code
        await stream.send_message(response)

    async def TaskExecWait(self, stream: Any) -> None:
        request = await self._recv(stream, "TaskExecWait")
        proc = self._exec(request.task_id, request.exec_id)
        while proc.exit_code is None:
            await proc.changes.wait()
        await stream.send_message(sr_pb2.TaskExecWaitResponse(code=proc.exit_code))
