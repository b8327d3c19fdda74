"""A fake of Modal's gRPC API on 127.0.0.1, driven by the real, unmodified ``modal`` SDK.

One grpclib server serves both of Modal's services: the control plane
(:class:`~tests.fakes.modal_api.control.ControlPlane`) and the task command router
(:class:`~tests.fakes.modal_api.router.CommandRouter`), each a subclass of the servicer base
shipped in the pinned ``modal_proto``. State is real: sandboxes are Docker containers (so a test
can prove nothing ran on the host), commands run in them with ``docker exec``, tags, exec
output and stdin are kept, and every request is logged for assertions.

Usage::

    with FakeModal(docker_image) as fake:
        monkeypatch.setenv("MODAL_SERVER_URL", fake.url)   # plus MODAL_TOKEN_ID/SECRET
        ...
        assert fake.calls("SandboxCreateV2") == 1
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from grpclib.server import Server
from modal_proto import api_pb2

from tests.fakes.modal_api.containers import LABEL, FakeSandbox
from tests.fakes.modal_api.control import ControlPlane
from tests.fakes.modal_api.router import CommandRouter


@dataclass(frozen=True)
class Request:
    """One logged RPC."""

    method: str
    message: Any
    at: float


def _unimplemented(name: str) -> Any:
    async def handler(self: Any, stream: Any) -> None:
        from grpclib import GRPCError, Status

        self.fake.record(name, None, unimplemented=True)
        raise GRPCError(Status.UNIMPLEMENTED, f"{name} is not implemented by the fake")

    handler.__name__ = name
    return handler


def complete_servicer(cls: type) -> type:
    """``cls`` with every abstract RPC answering UNIMPLEMENTED (and recording its name)."""
    missing = {name: _unimplemented(name) for name in getattr(cls, "__abstractmethods__", ())}
    return type(cls.__name__, (cls,), missing)


class FakeModal:
    """The fake service; a context manager that runs it on its own thread and event loop.

    Args:
        token_id, token_secret: the only credentials accepted.
    """

    def __init__(self, token_id: str = "ak-fake", token_secret: str = "as-fake") -> None:
        import docker

        self.token_id, self.token_secret = token_id, token_secret
        self.docker = docker.from_env()
        self.apps: dict[str, str] = {}
        self.images: dict[str, str] = {}
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.jwts: set[str] = set()
        self.requests: list[Request] = []
        self.unimplemented: list[str] = []
        self.commands: list[list[str]] = []
        """argv of every exec'd command, in order."""
        self.port = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._protocols: list[Any] = []
        self._server: Server | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-modal", daemon=True
        )

    @property
    def url(self) -> str:
        """The server URL to give the SDK (``MODAL_SERVER_URL``)."""
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeModal:
        """Listen on a free port of 127.0.0.1."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        server = Server(
            [complete_servicer(ControlPlane)(self), complete_servicer(CommandRouter)(self)]
        )
        make_protocol = server._protocol_factory

        def remember() -> Any:  # Server.close() leaves accepted connections open otherwise
            protocol = make_protocol()
            self._protocols.append(protocol)
            return protocol

        server._protocol_factory = remember  # type: ignore[method-assign]
        await server.start("127.0.0.1", 0)
        listening: Any = server._server
        self.port = int(listening.sockets[0].getsockname()[1])
        self._server = server

    def stop(self) -> None:
        """Stop serving, close every connection and remove every sandbox container."""
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        for container in self.docker.containers.list(all=True, filters={"label": LABEL}):
            if container.labels.get(LABEL) in self.sandboxes:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
        self.docker.close()

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for protocol in self._protocols:
            connection = getattr(protocol, "connection", None)
            transport = getattr(connection, "_transport", None)
            if transport is not None:
                transport.close()
        await self._server.wait_closed()

    def __enter__(self) -> FakeModal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state used by the servicers ---------------------------------------------------------
    def record(self, method: str, message: Any, unimplemented: bool = False) -> None:
        """Log one request."""
        with self._lock:
            self.requests.append(Request(method, message, time.time()))
            if unimplemented:
                self.unimplemented.append(method)

    def calls(self, method: str) -> int:
        """How many times ``method`` was called."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == method)

    def messages(self, method: str) -> list[Any]:
        """The requests of ``method``, in order."""
        with self._lock:
            return [r.message for r in self.requests if r.method == method]

    def new_jwt(self, lifetime: float = 3600.0) -> str:
        """A JWT-shaped token with an ``exp`` claim (the SDK parses it to plan refreshes)."""

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        token = ".".join(
            [
                b64(b'{"alg":"none","typ":"JWT"}'),
                b64(
                    json.dumps(
                        {"exp": int(time.time() + lifetime), "jti": secrets.token_hex(8)}
                    ).encode()
                ),
                b64(b"fake-signature"),
            ]
        )
        self.jwts.add(token)
        return token

    def router_access(self) -> api_pb2.CommandRouterAccess:
        """Where the command router is (this same server) and a fresh JWT for it."""
        return api_pb2.CommandRouterAccess(url=self.url, jwt=self.new_jwt())

    def image_exists(self, tag: str) -> bool:
        """True when the Docker engine has ``tag`` (nothing is ever pulled)."""
        import docker.errors

        try:
            self.docker.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False

    async def finish(self, sandbox: FakeSandbox, status: int) -> None:
        """End a sandbox (terminate or timeout): its container and every process go."""
        if not sandbox.running:
            return
        sandbox.result = api_pb2.GenericResult(status=status)  # type: ignore[arg-type]
        if sandbox.container is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(sandbox.container.remove, force=True)
        sandbox.ended.set()
        for proc in sandbox.execs.values():
            proc.changes.notify()

    def terminate(self, sandbox_id: str) -> None:
        """End a sandbox from outside, as Modal does when its lifetime runs out."""
        asyncio.run_coroutine_threadsafe(
            self.finish(self.sandboxes[sandbox_id], api_pb2.GenericResult.GENERIC_STATUS_TIMEOUT),
            self._loop,
        ).result(30)

    def running(self) -> list[FakeSandbox]:
        """The sandboxes still running."""
        return [s for s in self.sandboxes.values() if s.running]
