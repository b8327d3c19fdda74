"""A fake of Daytona's control API and toolbox API on 127.0.0.1, for the unmodified SDK.

The control API lives under ``/api`` (``api_url``), the toolbox under ``/toolbox/{id}`` (the
sandbox DTO's ``toolboxProxyUrl``). Requests are parsed and every response is built through
the SDK's own generated models (``daytona_api_client.models``,
``daytona_toolbox_api_client.models``), so an SDK whose models changed fails this fake's own
test instead of passing against stale shapes. Each sandbox is a Docker container
(:mod:`tests.fakes.daytona_sandbox`) where commands run for real; ``requests`` logs every
request (method, path, and the create bodies) for assertions.

Usage::

    with FakeDaytona(image="hermes-tui-test:busybox") as fake:
        Daytona(DaytonaConfig(api_key=fake.api_key, api_url=fake.api_url))
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSCloseCode, web
from daytona_api_client.models.create_sandbox import CreateSandbox
from daytona_api_client.models.list_sandboxes_response import ListSandboxesResponse
from daytona_api_client.models.sandbox import Sandbox
from daytona_api_client.models.sandbox_list_item import SandboxListItem
from daytona_api_client.models.sandbox_state import SandboxState
from daytona_api_client.models.toolbox_proxy_url import ToolboxProxyUrl
from daytona_toolbox_api_client.models.command import Command
from daytona_toolbox_api_client.models.create_session_request import CreateSessionRequest
from daytona_toolbox_api_client.models.execute_request import ExecuteRequest
from daytona_toolbox_api_client.models.execute_response import ExecuteResponse
from daytona_toolbox_api_client.models.files_download_request import FilesDownloadRequest
from daytona_toolbox_api_client.models.session import Session
from daytona_toolbox_api_client.models.session_command_logs_response import (
    SessionCommandLogsResponse,
)
from daytona_toolbox_api_client.models.session_execute_request import SessionExecuteRequest
from daytona_toolbox_api_client.models.session_execute_response import SessionExecuteResponse
from daytona_toolbox_api_client.models.session_send_input_request import SessionSendInputRequest

from tests.fakes.daytona_sandbox import (
    CONTAINER_LABEL,
    FakeSandbox,
    FakeSession,
    docker,
    multipart_files,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOG = web.RequestKey("log", dict)
"""A request's entry in :attr:`FakeDaytona.requests` (a typed key: a string one warns)."""


def _json(model: Any, status: int = 200) -> web.Response:
    return web.Response(text=model.to_json(), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    # The generated clients cannot parse a plain-text error body: always a JSON object.
    return web.json_response(
        {"statusCode": status, "message": message, "error": message}, status=status
    )


class FakeDaytona:
    """The fake service, served from its own thread and event loop."""

    def __init__(self, image: str, api_key: str = "fake-daytona-key") -> None:
        self.image, self.api_key = image, api_key
        self.tag = secrets.token_hex(6)
        self.sandboxes: dict[str, FakeSandbox] = {}
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        """The fake's own failures (a test asserts there are none)."""
        self.break_log_streams = 0
        """That many following log websockets break (close 1011) after their first chunk."""
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-daytona", daemon=True)
        self.port = 0

    # -- for tests -----------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def calls(self, method: str, path_prefix: str = "") -> list[dict[str, Any]]:
        """Logged requests with this method whose path starts with ``path_prefix``."""
        return [
            r for r in self.requests if r["method"] == method and r["path"].startswith(path_prefix)
        ]

    def stop_sandbox(self, sandbox_id: str) -> None:
        """Stop a sandbox behind the client's back (as auto-stop would)."""
        self._run(self.sandboxes[sandbox_id].stop())

    def _run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(120)  # type: ignore[arg-type]

    def __enter__(self) -> FakeDaytona:
        self._thread.start()
        assert self._started.wait(30), "the fake Daytona API did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every container of this fake and stop serving."""

        async def shutdown() -> None:
            for sandbox in self.sandboxes.values():
                await sandbox.destroy()
            code, out, _ = await docker(
                "ps", "-aq", "--filter", f"label={CONTAINER_LABEL}={self.tag}"
            )
            if code == 0 and out.split():
                await docker("rm", "-f", *out.decode().split())
            await self._runner.cleanup()

        if self._thread.is_alive():
            self._run(shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # -- serving --------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 30)
        r = app.router
        r.add_post("/api/sandbox", self.create)
        r.add_get("/api/sandbox", self.list)
        r.add_get("/api/sandbox/{sid}", self.get)
        r.add_delete("/api/sandbox/{sid}", self.delete)
        r.add_post("/api/sandbox/{sid}/start", self.start)
        r.add_post("/api/sandbox/{sid}/stop", self.stop)
        r.add_post("/api/sandbox/{sid}/autostop/{interval}", self.autostop)
        r.add_get("/api/sandbox/{sid}/toolbox-proxy-url", self.proxy_url)
        t = "/toolbox/{sid}"
        r.add_post(f"{t}/process/execute", self.execute)
        r.add_post(f"{t}/process/session", self.create_session)
        r.add_get(f"{t}/process/session", self.list_sessions)
        r.add_get(f"{t}/process/session/{{sess}}", self.get_session)
        r.add_delete(f"{t}/process/session/{{sess}}", self.delete_session)
        r.add_post(f"{t}/process/session/{{sess}}/exec", self.session_exec)
        r.add_get(f"{t}/process/session/{{sess}}/command/{{cmd}}", self.get_command)
        r.add_post(f"{t}/process/session/{{sess}}/command/{{cmd}}/input", self.send_input)
        r.add_get(f"{t}/process/session/{{sess}}/command/{{cmd}}/logs", self.logs)
        r.add_post(f"{t}/files/bulk-upload", self.upload)
        r.add_post(f"{t}/files/bulk-download", self.download)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
        }
        self.requests.append(entry)
        request[LOG] = entry  # requests run concurrently: handlers add to their own entry
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Unauthorized: invalid API key")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _error(404, f"not found: {request.method} {request.path}")
        except _Refused as exc:
            return _error(exc.status, str(exc))
        except ConnectionResetError:  # the client went away (it exited, or gave up)
            return web.Response(status=499)
        except Exception as exc:  # a bug in the fake: keep it for the test to report
            self.errors.append(f"{request.method} {request.path}: {exc!r}")
            return _error(500, f"fake Daytona failed: {exc!r}")

    # -- control API ----------------------------------------------------------------------
    def _dto(self, sb: FakeSandbox) -> Sandbox:
        return Sandbox(
            id=sb.id,
            organization_id="fake-org",
            name=sb.name,
            user="root",
            env=sb.env,
            labels=sb.labels,
            public=False,
            network_block_all=False,
            kvm=False,
            target=str(sb.request.get("target") or "fake"),
            cpu=int(str(sb.request.get("cpu") or 1)),
            gpu=0,
            memory=int(str(sb.request.get("memory") or 1)),
            disk=int(str(sb.request.get("disk") or 3)),
            state=SandboxState(sb.state),
            auto_stop_interval=sb.auto_stop_interval,
            toolbox_proxy_url=f"http://127.0.0.1:{self.port}/toolbox",
        )

    def _find(self, request: web.Request) -> FakeSandbox | None:
        key = request.match_info["sid"]
        for sb in self.sandboxes.values():
            if key in (sb.id, sb.name) and sb.state != "destroyed":
                return sb
        return None

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        request[LOG]["body"] = body
        params = CreateSandbox.from_dict(body)
        assert params is not None
        image = self.image
        if params.build_info and params.build_info.dockerfile_content:
            first = params.build_info.dockerfile_content.strip().splitlines()[0]
            image = first.removeprefix("FROM ").strip()
        sandbox_id = str(uuid.uuid4())
        sb = FakeSandbox(
            sandbox_id,
            params.name or sandbox_id,
            image,
            params.labels or {},
            params.env or {},
            body,
        )
        try:
            await sb.create(self.tag)
        except RuntimeError as exc:
            return _error(400, f"cannot create the sandbox: {exc}")
        self.sandboxes[sandbox_id] = sb
        answer = self._dto(sb)  # "creating": the SDK waits by polling GET until "started"
        sb.state = "started"
        return _json(answer)

    async def list(self, request: web.Request) -> web.Response:
        wanted = json.loads(request.query.get("labels") or "{}")
        items = []
        for sb in self.sandboxes.values():
            if sb.state != "destroyed" and all(sb.labels.get(k) == v for k, v in wanted.items()):
                item = SandboxListItem.from_dict(self._dto(sb).to_dict())
                assert item is not None
                items.append(item)
        return _json(ListSandboxesResponse(items=items, next_cursor=None))

    async def get(self, request: web.Request) -> web.Response:
        sb = self._find(request)
        return _json(self._dto(sb)) if sb else _error(404, "Sandbox not found")

    async def delete(self, request: web.Request) -> web.Response:
        sb = self._find(request)
        if sb is None:
            return _error(404, "Sandbox not found")
        await sb.destroy()
        return _json(self._dto(sb))

    async def start(self, request: web.Request) -> web.Response:
        sb = self._find(request)
        if sb is None:
            return _error(404, "Sandbox not found")
        await sb.start()
        return _json(self._dto(sb))

    async def stop(self, request: web.Request) -> web.Response:
        sb = self._find(request)
        if sb is None:
            return _error(404, "Sandbox not found")
        await sb.stop()
        return _json(self._dto(sb))

    async def autostop(self, request: web.Request) -> web.Response:
        sb = self._find(request)
        if sb is None:
            return _error(404, "Sandbox not found")
        sb.auto_stop_interval = int(request.match_info["interval"])
        return _json(self._dto(sb))

    async def proxy_url(self, request: web.Request) -> web.Response:
        return _json(ToolboxProxyUrl(url=f"http://127.0.0.1:{self.port}/toolbox"))

    # -- toolbox API -------------------------------------------------------------------------
    def _live(self, request: web.Request) -> FakeSandbox:
        sb = self._find(request)
        if sb is None:
            raise web.HTTPNotFound()
        if sb.state != "started":
            raise _Refused(409, f"sandbox {sb.id} is not started (state: {sb.state})")
        return sb

    async def execute(self, request: web.Request) -> web.Response:
        sb = self._live(request)
        req = ExecuteRequest.from_dict(await request.json())
        assert req is not None
        result = await sb.execute(req.command, req.cwd, req.envs, req.timeout)
        if result is None:
            return _error(408, "command timed out")
        code, out = result
        # The real daemon answers text: invalid UTF-8 becomes U+FFFD (a trap for clients).
        return _json(ExecuteResponse(exit_code=code, result=out.decode(errors="replace")))

    async def create_session(self, request: web.Request) -> web.Response:
        sb = self._live(request)
        req = CreateSessionRequest.from_dict(await request.json())
        assert req is not None
        if req.session_id in sb.sessions:
            return _error(409, "session already exists")
        sb.sessions[req.session_id] = FakeSession(req.session_id)
        return web.Response(status=201)

    def _session_model(self, session: Any) -> Session:
        return Session(
            session_id=session.id,
            commands=[
                Command(id=c.id, command=c.command, exit_code=c.exit_code)
                for c in session.commands.values()
            ],
        )

    async def list_sessions(self, request: web.Request) -> web.Response:
        sb = self._live(request)
        body = json.dumps([self._session_model(s).to_dict() for s in sb.sessions.values()])
        return web.Response(text=body, content_type="application/json")

    def _session(self, request: web.Request) -> Any:
        session = self._live(request).sessions.get(request.match_info["sess"])
        if session is None:
            raise _Refused(404, "session not found")
        return session

    async def get_session(self, request: web.Request) -> web.Response:
        return _json(self._session_model(self._session(request)))

    async def delete_session(self, request: web.Request) -> web.Response:
        session = self._session(request)
        await self._live(request).delete_session(session.id)
        return web.Response(status=204)

    async def session_exec(self, request: web.Request) -> web.Response:
        sb, session = self._live(request), self._session(request)
        req = SessionExecuteRequest.from_dict(await request.json())
        assert req is not None
        cmd = await sb.run_session_command(session, req.command)
        if req.run_async or req.var_async:
            return _json(SessionExecuteResponse(cmd_id=cmd.id), status=202)
        async with cmd.changed:
            await cmd.changed.wait_for(lambda: cmd.exit_code is not None)
        return _json(
            SessionExecuteResponse(
                cmd_id=cmd.id,
                exit_code=cmd.exit_code,
                output=(cmd.stdout + cmd.stderr).decode(errors="replace"),
                stdout=cmd.stdout.decode(errors="replace"),
                stderr=cmd.stderr.decode(errors="replace"),
            )
        )

    def _command(self, request: web.Request) -> Any:
        cmd = self._session(request).commands.get(request.match_info["cmd"])
        if cmd is None:
            raise _Refused(404, "command not found")
        return cmd

    async def get_command(self, request: web.Request) -> web.Response:
        cmd = self._command(request)
        return _json(Command(id=cmd.id, command=cmd.command, exit_code=cmd.exit_code))

    async def send_input(self, request: web.Request) -> web.Response:
        sb, cmd = self._live(request), self._command(request)
        req = SessionSendInputRequest.from_dict(await request.json())
        assert req is not None
        try:
            await sb.send_input(cmd, req.data)
        except LookupError as exc:
            return _error(409, str(exc))
        return web.Response(status=204)

    async def logs(self, request: web.Request) -> web.StreamResponse:
        cmd = self._command(request)
        if request.query.get("follow") != "true":
            return _json(
                SessionCommandLogsResponse(
                    output=(cmd.stdout + cmd.stderr).decode(errors="replace"),
                    stdout=cmd.stdout.decode(errors="replace"),
                    stderr=cmd.stderr.decode(errors="replace"),
                )
            )
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sent = 0
        while not ws.closed:  # replay the whole log from byte 0, then follow, as the daemon
            async with cmd.changed:
                await cmd.changed.wait_for(
                    lambda n=sent: len(cmd.log) > n or cmd.exit_code is not None
                )
                chunk, done = bytes(cmd.log[sent:]), cmd.exit_code is not None
            if chunk:
                await ws.send_bytes(chunk)
                sent += len(chunk)
                if self.break_log_streams > 0:  # a network failure, for resume tests
                    self.break_log_streams -= 1
                    await ws.close(code=WSCloseCode.INTERNAL_ERROR)
                    return ws
            elif done:
                break
        await ws.close(code=WSCloseCode.OK)
        return ws

    async def upload(self, request: web.Request) -> web.Response:
        sb = self._live(request)
        reader = await request.multipart()
        paths: dict[str, str] = {}
        while (part := await reader.next()) is not None:
            name = getattr(part, "name", "") or ""
            data = await part.read()  # type: ignore[union-attr]
            index = name.split("]")[0]
            if name.endswith(".path"):
                paths[index] = bytes(data).decode()
            elif name.endswith(".file"):
                error = await sb.write_file(paths[index], bytes(data))
                if error:
                    return _error(400, f"cannot write {paths[index]}: {error}")
        return web.Response(status=200)

    async def download(self, request: web.Request) -> web.StreamResponse:
        sb = self._live(request)
        req = FilesDownloadRequest.from_dict(await request.json())
        assert req is not None
        files = {path: await sb.read_file(path) for path in req.paths}
        boundary = secrets.token_hex(12)
        return web.Response(
            body=multipart_files(files, boundary),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )


class _Refused(Exception):
    """An error answer raised from inside a handler (turned into JSON by the middleware)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
