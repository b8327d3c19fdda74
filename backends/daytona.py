"""The Daytona backend: one cloud sandbox per chat session or batch task, on the ``daytona`` SDK.

Background processes run under the sandbox supervisor (``data/supervisor.sh``) like on every
shell backend; Daytona's API is only the transport for the four primitives:

- short commands go through ``process.exec``. The daemon feeds the command text to a shell's
  stdin and answers text, so the script is wrapped as ``sh -c '...' </dev/null`` (a command
  reading stdin cannot swallow its own script), stdin bytes travel as an uploaded file, and the
  output comes back base64-encoded from inside the sandbox (non-UTF-8 bytes survive);
- streams are session commands followed over the log websocket, again base64 (one line per
  chunk, encoded in the sandbox);
- files move with ``fs.upload_file`` / ``fs.download_file`` (multipart bytes, binary-safe).

The sandbox carries labels (``hermes-tui`` and the session key) so a restarted app finds it
again; a stopped sandbox is started, never recreated. Cleanup deletes it unless background
processes still run. The SDK is imported only when this backend is created; the API key is
never stored anywhere but in the SDK's client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import queue
import secrets
import shlex
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from backends._daytona import (
    ENCODER,
    GATE,
    ExitHook,
    SpoolFollower,
    check_settings,
    decode_exec,
    kill_tagged,
    reason,
    state_of,
)
from backends.base import (
    BackendError,
    BackendUnavailableError,
    OutputSink,
    Probe,
    ProcHandle,
    SpawnSpec,
    Subscription,
)
from backends.shell import ShellBackend

log = logging.getLogger(__name__)
LABEL = "hermes-tui"
SESSION_LABEL = "hermes-tui.session"
DEFAULT_API_URL = "https://app.daytona.io/api"
_T = TypeVar("_T")


class DaytonaBackend(ShellBackend):
    """Commands run in a Daytona sandbox.

    Args:
        run_root: unused locally (run directories live in the sandbox).
        api_key, api_url, target: the Daytona account and region; each falls back to
            ``DAYTONA_API_KEY`` / ``DAYTONA_API_URL`` / ``DAYTONA_TARGET`` only when not set.
        image: the sandbox image (``daytona_image`` per task); none = Daytona's default
            snapshot.
        cpu, memory, disk: resources (memory and disk in GiB).
        auto_stop_interval: minutes of inactivity before Daytona stops the sandbox (Daytona's
            default 15 when unset); set to 0 once a background process starts, since a stop
            kills every process in the sandbox.
        labels: extra labels on the sandbox.
        key: the chat session / task key (one sandbox each).
        sandbox_id: adopt this sandbox instead of looking it up by labels.
        remote_root: run directories inside the sandbox.
    """

    kind: ClassVar[str] = "daytona"

    def __init__(
        self,
        run_root: Path,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        target: str | None = None,
        image: str | None = None,
        cpu: int | None = None,
        memory: int | None = None,
        disk: int | None = None,
        auto_stop_interval: int | None = None,
        labels: Mapping[str, str] | None = None,
        key: str = "default",
        sandbox_id: str | None = None,
        remote_root: str = "/var/tmp/hermes-tui/runs",
        timeout: float = 120,
    ) -> None:
        check_settings(
            {"api_key": api_key, "api_url": api_url, "target": target, "image": image},
            {"cpu": cpu, "memory": memory, "disk": disk, "auto_stop_interval": auto_stop_interval},
            labels,
        )
        api_key = api_key or os.environ.get("DAYTONA_API_KEY")
        if not api_key:
            raise BackendUnavailableError(
                "the daytona backend needs an API key: set DAYTONA_API_KEY (or api_key in "
                "[backends.daytona] of the config)"
            )
        try:
            import daytona
        except ImportError:
            raise BackendUnavailableError(
                "the daytona backend needs the daytona SDK: pip install 'hermes-tui[daytona]'"
            ) from None
        self.api_url = api_url or os.environ.get("DAYTONA_API_URL") or DEFAULT_API_URL
        self.target = target or os.environ.get("DAYTONA_TARGET") or None
        self.image, self.key, self.timeout = image, key, timeout
        self.auto_stop_interval = auto_stop_interval
        self.labels = {
            **{str(k): str(v) for k, v in (labels or {}).items()},
            LABEL: "1",
            SESSION_LABEL: key,
        }
        self.resources = {"cpu": cpu, "memory": memory, "disk": disk}
        self.run_root = remote_root
        self._sdk: Any = daytona
        self._dirs: set[str] = set()
        self._lock = threading.Lock()
        try:
            self.client = daytona.Daytona(
                daytona.DaytonaConfig(api_key=api_key, api_url=self.api_url, target=self.target)
            )
        except Exception as exc:
            raise BackendUnavailableError(f"daytona: {reason(exc)}") from None
        self.sandbox = self._control(lambda: self._find_or_create(sandbox_id))
        self.idle_auto_stop = 15 if auto_stop_interval is None else auto_stop_interval
        self._auto_stop_now = getattr(self.sandbox, "auto_stop_interval", None)
        self._live: set[str] = set()
        self._ok(f"mkdir -p {shlex.quote(self.run_root)} && chmod 700 {shlex.quote(self.run_root)}")

    # -- the sandbox ----------------------------------------------------------------------
    def _control(self, call: Callable[[], _T]) -> _T:
        """A control-API call; unreachable API or a rejected key become one clear line."""
        try:
            with GATE.open():
                return call()
        except BackendError:
            raise
        except Exception as exc:
            text = reason(exc)
            if "401" in text or "nauthori" in text:
                raise BackendUnavailableError(
                    f"Daytona at {self.api_url} rejected the API key: check DAYTONA_API_KEY "
                    "(or api_key in [backends.daytona])"
                ) from None
            if any(
                word in text
                for word in ("Connection", "connect", "resolve", "timed out", "Max retries")
            ):
                raise BackendUnavailableError(
                    f"cannot reach the Daytona API at {self.api_url}: set api_url in "
                    "[backends.daytona] or DAYTONA_API_URL to a reachable endpoint"
                ) from None
            raise BackendUnavailableError(f"daytona: {text}") from None

    def _find_or_create(self, sandbox_id: str | None) -> Any:
        sdk = self._sdk
        sandbox: Any = None
        if sandbox_id:
            sandbox = self.client.get(sandbox_id)
        else:
            query = sdk.ListSandboxesQuery(labels={LABEL: "1", SESSION_LABEL: self.key})
            found = [s for s in self.client.list(query) if str(state_of(s)) != "destroyed"]
            sandbox = found[0] if found else None
        if sandbox is not None:
            self._ensure_started(sandbox)
            return sandbox
        resources = {k: v for k, v in self.resources.items() if v is not None} or None
        common: dict[str, Any] = {"labels": dict(self.labels)}
        if self.auto_stop_interval is not None:
            common["auto_stop_interval"] = self.auto_stop_interval
        if self.image:
            params: Any = sdk.CreateSandboxFromImageParams(
                image=self.image,
                resources=sdk.Resources(**resources) if resources else None,
                **common,
            )
        else:
            params = sdk.CreateSandboxFromSnapshotParams(**common)
        return self.client.create(params, timeout=self.timeout)

    def _ensure_started(self, sandbox: Any) -> None:
        """A stopped (or auto-stopped, archived) sandbox is started again, never recreated:
        its files, and the spools of its processes, are still there."""
        state = state_of(sandbox)
        if state == "started":
            return
        if state in (
            "starting",
            "creating",
            "restoring",
            "pending_build",
            "building_snapshot",
            "pulling_snapshot",
        ):
            sandbox.wait_for_sandbox_start(timeout=self.timeout)
        elif state in ("stopped", "archived", "stopping"):
            if state == "stopping":
                sandbox.wait_for_sandbox_stop(timeout=self.timeout)
            sandbox.start(timeout=self.timeout)
        else:
            raise BackendUnavailableError(
                f"daytona sandbox {sandbox.id} is {state}"
                + (f": {sandbox.error_reason}" if getattr(sandbox, "error_reason", None) else "")
            )

    def _toolbox(self, call: Callable[[], _T]) -> _T:
        """A toolbox call; when the sandbox was stopped meanwhile (auto-stop), start it and
        try once more."""
        try:
            with GATE.open():
                return call()
        except BackendError:
            raise
        except Exception as exc:
            first = exc
        try:
            with self._lock, GATE.open():
                self.sandbox.refresh_data()
                if state_of(self.sandbox) == "started":
                    raise BackendError(f"daytona sandbox {self.sandbox.id}: {reason(first)}")
                self._ensure_started(self.sandbox)
            with GATE.open():
                return call()
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"daytona sandbox {self.sandbox.id}: {reason(exc)}") from None

    def sandbox_ref(self) -> dict[str, str]:
        return {"sandbox": str(self.sandbox.id), "key": self.key}

    @classmethod
    def sandbox_options(cls, key: str) -> dict[str, Any]:
        return {"key": key}

    # -- primitives --------------------------------------------------------------------
    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        tag = secrets.token_hex(8)
        source = "/dev/null"
        if stdin is not None:
            source = f"/tmp/.hermes-stdin-{tag}"
            self._upload(stdin, source)
        q = shlex.quote
        inner = (
            f"o=$(mktemp) || exit 125; HERMES_EXEC={tag} sh -c {q(script)} "
            f'<{q(source)} >"$o" 2>&1; c=$?; base64 "$o" | tr -d \'\\n\'; echo; '
            f'echo "exit:$c"; rm -f "$o"' + (f" {q(source)}" if stdin is not None else "")
        )
        command = f"sh -c {q(inner)} </dev/null"
        if cancel is None:
            return decode_exec(
                self._toolbox(
                    lambda: self.sandbox.process.exec(command, timeout=max(1, int(timeout) + 5))
                )
            )
        results: queue.Queue[Any] = queue.Queue()

        def call() -> None:
            try:
                results.put(
                    self._toolbox(
                        lambda: self.sandbox.process.exec(command, timeout=max(1, int(timeout) + 5))
                    )
                )
            except BaseException as exc:
                results.put(exc)

        threading.Thread(target=call, name="daytona-exec", daemon=True).start()
        while True:
            try:
                answer = results.get(timeout=0.1)
                break
            except queue.Empty:
                if cancel.is_set():  # kill what the script started, found by its tag
                    self._toolbox(
                        lambda: self.sandbox.process.exec(
                            f"sh -c {q(kill_tagged(tag))} </dev/null", timeout=30
                        )
                    )
                    return 130, b""
        if isinstance(answer, BaseException):
            raise answer
        return decode_exec(answer)

    def stream(self, script: str) -> Iterator[bytes]:
        return self.stream_lines(f"{{ {script}; }} 2>/dev/null | {ENCODER}")

    def stream_lines(self, command: str) -> Iterator[bytes]:
        """Run ``command`` (which prints one base64 line per chunk) as a session command and
        yield the decoded chunks from the log websocket until it ends. The session (and the
        command with it) is deleted when the stream ends, fails or is abandoned."""
        session_id = f"hermes-follow-{secrets.token_hex(8)}"
        process = self.sandbox.process
        self._toolbox(lambda: process.create_session(session_id))
        request = self._sdk.SessionExecuteRequest(
            command=f"sh -c {shlex.quote(command)} </dev/null", run_async=True
        )
        try:
            cmd_id = self._toolbox(
                lambda: process.execute_session_command(session_id, request)
            ).cmd_id
        except BackendError:
            with contextlib.suppress(Exception), GATE.open():
                process.delete_session(session_id)
            raise
        chunks: queue.Queue[bytes | BaseException | None] = queue.Queue()
        parts: list[str] = []  # the line being received (joined once: lines can be MBs)

        def on_stdout(text: str) -> None:
            while (end := text.find("\n")) >= 0:
                parts.append(text[:end])
                line, text = "".join(parts), text[end + 1 :]
                parts.clear()
                if line and not line.startswith("-"):  # "-": TRAILER lines
                    chunks.put(base64.b64decode(line))
            if text:
                parts.append(text)

        def follow() -> None:
            try:  # the SDK's log streaming is a coroutine even on the sync class
                asyncio.run(
                    process.get_session_command_logs_async(
                        session_id, cmd_id, on_stdout, lambda _text: None
                    )
                )
                on_stdout("\n")
                chunks.put(None)
            except Exception as exc:
                chunks.put(BackendError(f"daytona log stream: {reason(exc)}"))

        threading.Thread(target=follow, name=f"daytona-{session_id}", daemon=True).start()
        try:
            while (item := chunks.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            with contextlib.suppress(Exception), GATE.open():
                process.delete_session(session_id)

    def _upload(self, data: bytes, remote_path: str) -> None:
        self._toolbox(lambda: self.sandbox.fs.upload_file(data, remote_path))

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        parent = str(Path(remote_path).parent)
        if parent not in self._dirs:
            self._ok(f"mkdir -p {shlex.quote(parent)}")
            self._dirs.add(parent)
        try:
            self._upload(data, remote_path)
        except BackendError as exc:
            raise BackendError(
                f"cannot write {remote_path} in the daytona sandbox: {exc}"
            ) from None
        if mode is not None:
            self._ok(f"chmod {mode:o} {shlex.quote(remote_path)}")

    def download(self, remote_path: str) -> bytes:
        try:
            with GATE.open():
                data = self.sandbox.fs.download_file(remote_path)
        except BackendError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "DaytonaNotFoundError":
                raise BackendError(
                    f"cannot read {remote_path} in the daytona sandbox: No such file"
                ) from None
            try:
                data = self._toolbox(lambda: self.sandbox.fs.download_file(remote_path))
            except BackendError as again:
                raise BackendError(
                    f"cannot read {remote_path} in the daytona sandbox: {again}"
                ) from None
        return bytes(data or b"")

    # -- auto-stop: off while background processes run ------------------------------------
    def _running(self, proc_id: str, running: bool) -> None:
        """Track the processes followed here. A stop kills every process in the sandbox, so
        auto-stop is 0 while any runs, and back to the configured interval after the last."""
        with self._lock:
            (self._live.add if running else self._live.discard)(proc_id)
            want = 0 if self._live else self.idle_auto_stop
            if want == self._auto_stop_now:
                return
            self._auto_stop_now = want
        try:
            self._toolbox(lambda: self.sandbox.set_autostop_interval(want))
        except BackendError as exc:
            if running:
                raise
            log.warning("could not set the auto-stop interval of %s: %s", self.sandbox.id, exc)

    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        self._running(spec.proc_id, True)
        try:
            return super().spawn(spec)
        except BaseException:
            self._running(spec.proc_id, False)
            raise

    def follow(self, handle: ProcHandle, offset: int, sink: OutputSink) -> Subscription:
        self._running(handle.proc_id, True)
        return SpoolFollower(
            self, handle, offset, ExitHook(sink, lambda: self._running(handle.proc_id, False))
        )

    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        probes = super().probe(handles)
        if handles and not self._live and all(p.state != "running" for p in probes):
            self._running("", False)  # found idle after a restart: auto-stop comes back
        return probes

    def cleanup(self, active: Sequence[ProcHandle] = ()) -> None:
        super().cleanup(active)  # refuses while background processes run: keep the sandbox
        try:
            with GATE.open():
                self.client.delete(self.sandbox)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(
                f"cannot delete daytona sandbox {self.sandbox.id}: {reason(exc)}"
            ) from None
