"""The fake Modal control plane: apps, images, sandboxes, tags, auth tokens.

Only the RPCs ``modal`` 1.6.4 makes for sandboxes (default v2 path) are answered; every other
method of :class:`modal_proto.api_grpc.ModalClientBase` answers UNIMPLEMENTED and is recorded,
so an SDK upgrade that starts calling something new shows up in the request log.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from google.protobuf import empty_pb2  # type: ignore[import-untyped]
from grpclib import GRPCError, Status
from modal_proto import api_pb2
from modal_proto.api_grpc import ModalClientBase

from tests.fakes.modal_api.containers import FakeSandbox, start_container

if TYPE_CHECKING:
    from tests.fakes.modal_api import FakeModal

BUILDER_VERSION = "2026.10"
"""The newest image builder version ``modal`` 1.6.4 knows."""

GS = api_pb2.GenericResult


def image_tag(image: api_pb2.Image) -> str:
    """The registry tag of an ``Image.from_registry`` definition (its ``FROM`` line)."""
    for command in image.dockerfile_commands:
        if command.upper().startswith("FROM "):
            return str(command.split(None, 1)[1].strip())
    raise GRPCError(Status.INVALID_ARGUMENT, "the fake only knows Image.from_registry images")


def env_of(sources: Any) -> dict[str, str]:
    """Inline environment of ``secret_sources`` (how ``env=`` travels)."""
    env: dict[str, str] = {}
    for source in sources:
        if source.WhichOneof("source") == "env":
            env.update(source.env.contents)
    return env


class ControlPlane(ModalClientBase):
    """``ModalClient`` service of the fake (abstract methods filled in by the server)."""

    def __init__(self, fake: FakeModal) -> None:
        self.fake = fake

    async def _recv(self, stream: Any, name: str) -> Any:
        request = await stream.recv_message()
        self.fake.record(name, request)
        metadata = stream.metadata or {}
        if (metadata.get("x-modal-token-id"), metadata.get("x-modal-token-secret")) != (
            self.fake.token_id,
            self.fake.token_secret,
        ):
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid token id or secret")
        return request

    def _sandbox(self, sandbox_id: str) -> FakeSandbox:
        sandbox = self.fake.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise GRPCError(Status.NOT_FOUND, f"Sandbox {sandbox_id} not found")
        return sandbox

    # -- auth, environment, app, image ------------------------------------------------------
    async def AuthTokenGet(self, stream: Any) -> None:
        await self._recv(stream, "AuthTokenGet")
        await stream.send_message(api_pb2.AuthTokenGetResponse(token=self.fake.new_jwt()))

    async def ClientHello(self, stream: Any) -> None:
        await self._recv(stream, "ClientHello")
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def EnvironmentGetOrCreate(self, stream: Any) -> None:
        await self._recv(stream, "EnvironmentGetOrCreate")
        metadata = api_pb2.EnvironmentMetadata(name="main")
        metadata.settings.image_builder_version = BUILDER_VERSION
        await stream.send_message(
            api_pb2.EnvironmentGetOrCreateResponse(environment_id="en-fake", metadata=metadata)
        )

    async def AppGetOrCreate(self, stream: Any) -> None:
        request = await self._recv(stream, "AppGetOrCreate")
        app_id = self.fake.apps.setdefault(request.app_name, f"ap-{secrets.token_hex(8)}")
        await stream.send_message(api_pb2.AppGetOrCreateResponse(app_id=app_id))

    async def ImageGetOrCreate(self, stream: Any) -> None:
        request = await self._recv(stream, "ImageGetOrCreate")
        tag = image_tag(request.image)
        exists = await asyncio.to_thread(self.fake.image_exists, tag)
        image_id = f"im-{secrets.token_hex(8)}"
        self.fake.images[image_id] = tag
        result = (
            GS(status=GS.GENERIC_STATUS_SUCCESS)
            if exists
            else GS(
                status=GS.GENERIC_STATUS_FAILURE, exception=f"Image {tag} not found in the registry"
            )
        )
        await stream.send_message(
            api_pb2.ImageGetOrCreateResponse(image_id=image_id, result=result)
        )

    # -- sandboxes ------------------------------------------------------------------------
    async def SandboxCreateV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxCreateV2")
        definition = request.definition
        if definition.image_id not in self.fake.images:
            raise GRPCError(Status.NOT_FOUND, f"Image {definition.image_id} not found")
        sandbox = FakeSandbox(
            sandbox_id=f"sb-{secrets.token_hex(14)}",
            task_id=f"ta-{secrets.token_hex(10)}V",
            app_id=request.app_id,
            image=self.fake.images[definition.image_id],
            definition=definition,
            created_at=time.time(),
            tags={t.tag_name: t.tag_value for t in request.tags},
            env=env_of(request.secret_sources),
        )
        try:
            sandbox.container = await asyncio.to_thread(start_container, self.fake.docker, sandbox)
        except Exception as exc:
            raise GRPCError(Status.INTERNAL, f"cannot start the sandbox: {exc}") from None
        self.fake.sandboxes[sandbox.sandbox_id] = sandbox
        if definition.timeout_secs:
            asyncio.get_running_loop().call_later(
                definition.timeout_secs,
                lambda: asyncio.ensure_future(self.fake.finish(sandbox, GS.GENERIC_STATUS_TIMEOUT)),
            )
        response = api_pb2.SandboxCreateV2Response(
            sandbox_id=sandbox.sandbox_id,
            task_id=sandbox.task_id,
            metadata=api_pb2.SandboxHandleMetadata(app_id=sandbox.app_id),
        )
        response.command_router_access.CopyFrom(self.fake.router_access())
        await stream.send_message(response)

    async def SandboxWaitV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxWaitV2")
        sandbox = self._sandbox(request.sandbox_id)
        if sandbox.running and request.timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sandbox.ended.wait(), min(request.timeout, 50.0))
        response = api_pb2.SandboxWaitResponse(
            metadata=api_pb2.SandboxHandleMetadata(app_id=sandbox.app_id)
        )
        if sandbox.result is not None:
            response.result.CopyFrom(sandbox.result)
        await stream.send_message(response)

    async def SandboxGetTaskIdV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxGetTaskIdV2")
        sandbox = self._sandbox(request.sandbox_id)
        response = api_pb2.SandboxGetTaskIdResponse()
        if sandbox.running:
            response.task_id = sandbox.task_id
        else:
            assert sandbox.result is not None
            response.task_result.CopyFrom(sandbox.result)
        await stream.send_message(response)

    async def SandboxGetCommandRouterAccess(self, stream: Any) -> None:
        await self._recv(stream, "SandboxGetCommandRouterAccess")
        access = self.fake.router_access()
        await stream.send_message(
            api_pb2.SandboxGetCommandRouterAccessResponse(url=access.url, jwt=access.jwt)
        )

    async def SandboxTagsSetV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxTagsSetV2")
        self._sandbox(request.sandbox_id).tags = {t.tag_name: t.tag_value for t in request.tags}
        await stream.send_message(empty_pb2.Empty())

    async def SandboxTagsGetV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxTagsGetV2")
        tags = self._sandbox(request.sandbox_id).tags
        await stream.send_message(
            api_pb2.SandboxTagsGetResponse(
                tags=[api_pb2.SandboxTag(tag_name=k, tag_value=v) for k, v in tags.items()]
            )
        )

    async def SandboxListV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxListV2")
        wanted = {t.tag_name: t.tag_value for t in request.tags}
        found = [
            s
            for s in self.fake.sandboxes.values()
            if (not request.app_id or s.app_id == request.app_id)
            and (request.include_finished or s.running)
            and (not request.before_timestamp or s.created_at < request.before_timestamp)
            and all(s.tags.get(k) == v for k, v in wanted.items())
        ]
        found.sort(key=lambda s: s.created_at, reverse=True)
        await stream.send_message(
            api_pb2.SandboxListResponse(sandboxes=[s.info() for s in found[:10]])
        )

    async def SandboxTerminateV2(self, stream: Any) -> None:
        request = await self._recv(stream, "SandboxTerminateV2")
        sandbox = self._sandbox(request.sandbox_id)
        existing = sandbox.result
        await self.fake.finish(sandbox, GS.GENERIC_STATUS_TERMINATED)
        response = api_pb2.SandboxTerminateResponse()
        if existing is not None:
            response.existing_result.CopyFrom(existing)
        await stream.send_message(response)
