"""The Modal backend: one Modal sandbox per chat session or batch task, commands exec'd into it.

Modal has no RPC to signal an exec'd command, resize its terminal or replay its output after
the client is gone, so background processes run under the sandbox supervisor inside the
sandbox (output spooled there, signals by process group, resize with ``stty``); Modal's exec is
only the transport of :class:`~backends.shell.ShellBackend`'s four primitives. Files move
through exec too (``cat`` with stdin / stdout), which is byte-exact and needs nothing in the
image (the SDK's ``sandbox.filesystem`` needs a helper binary).

Sandboxes carry tags naming their key, and the sandbox id of each key is kept in the
state dir, so the next start re-adopts the same sandbox by id (tags as the fallback). The SDK
is imported lazily and always used through an explicit client built from the credentials,
never the process-wide cached one, and closed on cleanup.

This module is not called ``modal.py`` so that ``import modal`` always means the SDK.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from backends.atomic import write_private
from backends.base import (
    BackendError,
    BackendUnavailableError,
    Probe,
    ProcHandle,
    RunResult,
    SpawnSpec,
)
from backends.modal_support import (
    CREDENTIALS_HINT,
    check_reachable,
    create_options,
    in_event_loop,
    off_loop,
    read_until_cancelled,
    safe_name,
)
from backends.shell import ShellBackend

TAG_SESSION = "hermes-tui-session"
"""Tag holding the chat session / task key of a sandbox (the fallback way to find it)."""
TAG_HOST = "hermes-tui-host"
"""Tag naming the machine, so another machine's sandbox of the same key is never adopted."""
DAY = 24 * 3600
STDIN_CHUNK = 1 << 20
"""Stdin is sent in pieces this size (one RPC each), well under gRPC message limits."""


class ModalBackend(ShellBackend):
    """Commands run in a Modal sandbox.

    Args:
        run_root: hermes-tui's local run root; the sandbox id of each key is kept next to it.
        key: the chat session / task key: one sandbox each, found again by it.
        image: registry image of the sandbox (``modal_image`` per-task override).
        app_name: the Modal app the sandboxes belong to.
        timeout: the sandbox's lifetime in seconds (Modal's own default of 300 s would kill a
            workstation's processes after five minutes).
        idle_timeout: end the sandbox after this many idle seconds (default: never; note that
            background processes alone do not count as activity for Modal).
        cpu, memory: resources (fractional cores; MiB or a size like ``"2g"``).
        workdir, env: the sandbox's working directory and environment.
        token_id, token_secret: credentials (default ``MODAL_TOKEN_ID`` / ``MODAL_TOKEN_SECRET``).
        remote_root: run directories inside the sandbox.
    """

    kind: ClassVar[str] = "modal"

    def __init__(
        self,
        run_root: Path,
        *,
        key: str = "default",
        image: str = "debian:bookworm-slim",
        app_name: str = "hermes-tui",
        timeout: int = DAY,
        idle_timeout: int | None = None,
        cpu: float | None = None,
        memory: int | str | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        token_id: str | None = None,
        token_secret: str | None = None,
        remote_root: str = "/var/tmp/hermes-tui/runs",
    ) -> None:
        try:
            import modal
        except ImportError:
            raise BackendUnavailableError(
                "the modal backend needs the Modal SDK: pip install 'hermes-tui[modal]'"
            ) from None
        self._modal: Any = modal
        # The SDK's own lookup: MODAL_TOKEN_ID / _SECRET, else the profile `modal token new`
        # wrote to ~/.modal.toml.
        token_id = token_id or modal.config.config.get("token_id")
        token_secret = token_secret or modal.config.config.get("token_secret")
        if not (token_id and token_secret):
            raise BackendUnavailableError(
                f"the modal backend has no credentials: {CREDENTIALS_HINT}"
            )
        self.key, self.image, self.app_name = key, image, app_name
        self._tags = {TAG_SESSION: key, TAG_HOST: socket.gethostname()}
        self.run_root = remote_root
        self._create_options = create_options(
            timeout=timeout,
            idle_timeout=idle_timeout,
            cpu=cpu,
            memory=memory,
            workdir=workdir,
            env=env,
        )
        self._state_file = (
            Path(run_root).parent / "modal" / f"{safe_name(app_name)}--{safe_name(key)}.json"
        )
        self._lock = threading.Lock()
        self._ended = False
        self.client: Any = None
        check_reachable(str(modal.config.config.get("server_url")))
        try:
            off_loop(lambda: self._connect(token_id, token_secret))
        except BackendError as exc:
            self._close_client()
            raise BackendUnavailableError(str(exc)) from None
        except Exception as exc:
            self._close_client()
            raise BackendUnavailableError(self._describe(exc)) from None

    # -- the sandbox -------------------------------------------------------------------------
    def _connect(self, token_id: str, token_secret: str) -> None:
        modal = self._modal
        self.client = modal.Client.from_credentials(token_id, token_secret)
        self.app: Any = modal.App.lookup(self.app_name, create_if_missing=True, client=self.client)
        self.sandbox: Any = self._find_or_create()
        if not self._ended:
            root = shlex.quote(self.run_root)
            self._ok(f"mkdir -p {root} && chmod 700 {root}")

    def _describe(self, exc: BaseException) -> str:
        """One line for an SDK failure, naming what to check."""
        errors = self._modal.exception
        server = self._modal.config.config.get("server_url")
        if isinstance(exc, errors.AuthError):
            return f"Modal refused the credentials ({exc}); {CREDENTIALS_HINT}"
        if isinstance(
            exc,
            OSError | ConnectionError | TimeoutError | errors.ConnectionError | errors.TimeoutError,
        ) and not isinstance(exc, errors.ExecTimeoutError):
            return (
                f"cannot reach the Modal API at {server} ({type(exc).__name__}: {exc}); "
                "check the network (and MODAL_SERVER_URL if you set it)"
            )
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"modal: {text}"

    def _find_or_create(self) -> Any:
        """The key's sandbox: by the id we stored, else by tag, else a new one.

        When the stored sandbox has ended (its lifetime ran out while the app was away), no
        new one is made until new work needs it: recovering old owners must not start (and
        pay for) a sandbox each.
        """
        modal = self._modal
        stored = self._read_state()
        ended = None
        if stored:
            with contextlib.suppress(modal.exception.NotFoundError):
                sandbox = modal.Sandbox.from_id(stored, client=self.client)
                if sandbox.poll() is None:
                    return sandbox
                ended = sandbox
        for sandbox in modal.Sandbox.list(
            app_id=self.app.app_id, tags=self._tags, client=self.client
        ):
            if sandbox.poll() is None:
                self._write_state(sandbox.object_id)
                return sandbox
        if ended is not None:
            self._ended = True
            return ended
        return self._create()

    def _create(self) -> Any:
        modal = self._modal
        try:
            image = modal.Image.from_registry(self.image)
            sandbox = modal.Sandbox.create(
                app=self.app,
                image=image,
                tags=self._tags,
                client=self.client,
                **self._create_options,
            )
        except modal.exception.Error as exc:
            if "image" in type(exc).__name__.lower():
                raise BackendUnavailableError(
                    f"the Modal image {self.image!r} cannot be used: {self._describe(exc)}"
                ) from None
            raise
        self._write_state(sandbox.object_id)
        return sandbox

    def _read_state(self) -> str | None:
        try:
            data = json.loads(self._state_file.read_text())
            # Whatever image is configured now, the sandbox holding the processes is the one.
            return str(data["sandbox_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_state(self, sandbox_id: str) -> None:
        self._state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(
            self._state_file,
            json.dumps({"sandbox_id": sandbox_id, "image": self.image, "key": self.key}).encode(),
        )

    def _ensure_live(self) -> None:
        """After the sandbox ended (lifetime over, terminated), new work gets a new one."""
        with self._lock:
            if self._ended:
                old = self.sandbox
                try:
                    self.sandbox = off_loop(self._create)
                except BackendError:
                    raise
                except Exception as exc:
                    raise BackendError(self._describe(exc)) from None
                with contextlib.suppress(Exception):
                    off_loop(old.detach)
                self._supervisor_installed = ""
                self._ended = False
                self._ok(f"mkdir -p {shlex.quote(self.run_root)}")

    def _failed(self, exc: BaseException) -> BackendError:
        """Turn an SDK failure into a BackendError, noticing when the sandbox has ended."""
        with contextlib.suppress(Exception):
            if self.sandbox.poll() is not None:
                self._ended = True
                return BackendError(
                    f"the Modal sandbox {self.sandbox.object_id} has ended (its lifetime "
                    "`timeout` ran out, or it was terminated); its processes are gone"
                )
        return BackendError(self._describe(exc))

    def sandbox_ref(self) -> dict[str, str]:
        return {"sandbox": str(self.sandbox.object_id), "app": self.app_name, "image": self.image}

    @classmethod
    def sandbox_options(cls, key: str) -> dict[str, Any]:
        return {"key": key}

    # -- primitives --------------------------------------------------------------------
    def _start(self, script: str, stdin: bool, timeout: float | None) -> Any:
        # stderr joins stdout inside the sandbox so their order is kept.
        prelude = "exec 2>&1\n" if stdin else "exec 2>&1 </dev/null\n"
        try:
            return self.sandbox.exec(
                "sh",
                "-c",
                prelude + script,
                text=False,
                timeout=None if timeout is None else math.ceil(timeout),
            )
        except Exception as exc:
            raise self._failed(exc) from None

    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        if in_event_loop():
            return off_loop(lambda: self.exec(script, stdin=stdin, timeout=timeout, cancel=cancel))
        if cancel is not None:
            return self._exec_cancellable(script, timeout, cancel)
        proc = self._start(script, stdin is not None, timeout)
        output = bytearray()
        stdin_error: BaseException | None = None
        try:
            if stdin is not None:
                try:
                    for start in range(0, len(stdin), STDIN_CHUNK):
                        proc.stdin.write(stdin[start : start + STDIN_CHUNK])
                        proc.stdin.drain()
                    proc.stdin.write_eof()
                    proc.stdin.drain()
                except Exception as exc:  # the command may have ended without reading it
                    stdin_error = exc
            for chunk in proc.stdout:
                output += chunk
            code = self._exit_code(proc, timeout)
        except BackendError:
            raise
        except Exception as exc:
            raise self._failed(exc) from None
        if stdin_error is not None and code == 0:
            raise self._failed(stdin_error)
        return code, bytes(output)

    def _exit_code(self, proc: Any, timeout: float) -> int:
        try:
            code = int(proc.wait())
        except self._modal.exception.ExecTimeoutError:
            code = -1
        if code == -1:  # the SDK's answer when the exec deadline passed
            raise BackendError(f"modal: command timed out after {timeout:g}s")
        return code

    def _exec_cancellable(
        self, script: str, timeout: float, cancel: threading.Event
    ) -> tuple[int, bytes]:
        """Like :meth:`exec`, but a set ``cancel`` returns at once and kills the command's
        processes in the sandbox (Modal has no RPC to kill an exec'd command)."""
        # The shell's pid comes first on stdout, so the command's children can be found.
        proc = self._start('echo "$$"\n' + script, False, timeout)
        try:
            output, pid, cancelled = read_until_cancelled(proc.stdout, cancel)
        except Exception as exc:
            raise self._failed(exc) from None
        if cancelled:
            if pid is not None:
                self._kill_tree(pid)
            return 130, output
        try:
            return self._exit_code(proc, timeout), output
        except BackendError:
            raise
        except Exception as exc:
            raise self._failed(exc) from None

    def _kill_tree(self, pid: int) -> None:
        """SIGKILL shell ``pid`` and its children with their process groups."""
        with contextlib.suppress(BackendError):
            self.exec(
                f"for c in $(cat /proc/{pid}/task/{pid}/children 2>/dev/null); do "
                f"kill -9 -$c $c 2>/dev/null; done; kill -9 {pid} 2>/dev/null; true"
            )

    def stream(self, script: str) -> Iterator[bytes]:
        proc = self._start(script, False, None)
        try:
            yield from proc.stdout
        except Exception as exc:
            raise self._failed(exc) from None

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        self._ensure_live()
        q = shlex.quote
        path = Path(remote_path)
        chmod = f" && chmod {mode:o} {q(remote_path)}" if mode is not None else ""
        code, output = self.exec(
            f"mkdir -p {q(str(path.parent))} && cat > {q(remote_path)}{chmod}",
            stdin=data,
            timeout=600,
        )
        if code != 0:
            raise BackendError(
                f"cannot write {remote_path} in the Modal sandbox: "
                f"{output.decode(errors='replace').strip()}"
            )

    def download(self, remote_path: str) -> bytes:
        self._ensure_live()
        q = shlex.quote(remote_path)
        code, output = self.exec(
            f"[ -f {q} ] || {{ echo 'No such file'; exit 1; }}; cat {q}", timeout=600
        )
        if code != 0:
            raise BackendError(
                f"cannot read {remote_path} in the Modal sandbox: "
                f"{output.decode(errors='replace').strip()}"
            )
        return output

    # -- the interface, where the sandbox may have to be replaced -------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 180.0,
        cancel: threading.Event | None = None,
    ) -> RunResult:
        self._ensure_live()
        return super().run(argv, workdir=workdir, env=env, timeout=timeout, cancel=cancel)

    def spawn(self, spec: SpawnSpec) -> ProcHandle:
        self._ensure_live()
        return super().spawn(spec)

    def probe(self, handles: Sequence[ProcHandle]) -> list[Probe]:
        current = str(self.sandbox.object_id)
        gone = Probe("lost", detail="its Modal sandbox has ended, and its processes with it")
        results = [gone] * len(handles)
        # A handle from a sandbox that has since been replaced cannot be in this one.
        here = [
            i
            for i, h in enumerate(handles)
            if h.sandbox.get("sandbox", current) == current and not self._ended
        ]
        for index, probe in zip(here, super().probe([handles[i] for i in here]), strict=True):
            results[index] = probe
        return results

    def cleanup(self, active: Sequence[ProcHandle] = ()) -> None:
        """Terminate the sandbox, unless background processes still run in it."""
        if in_event_loop():
            return off_loop(lambda: self.cleanup(active))
        super().cleanup(active)
        if not self._ended:
            root = shlex.quote(self.run_root)
            try:
                code, output = self.exec(
                    f'n=0; for d in {root}/*/; do [ -f "$d"pid ] && [ ! -f "$d"exit ] && '
                    f'kill -0 "$(cut -d\' \' -f1 "$d"pid)" 2>/dev/null && n=$((n+1)); done; '
                    f"echo $n"
                )
            except BackendError:
                if not self._ended:
                    raise
                code, output = 0, b""  # it has ended already: only the client is left to close
            running = int(output.split()[-1]) if code == 0 and output.split() else 0
            if running:
                raise BackendError(
                    f"not terminating the Modal sandbox {self.sandbox.object_id}:"
                    f" {running} background process(es) still run in it"
                )
        try:
            self.sandbox.terminate()
        except Exception as exc:
            if not self._ended:
                raise BackendError(self._describe(exc)) from None
        finally:
            with contextlib.suppress(OSError):
                self._state_file.unlink()
            self._close_client()

    def _close_client(self) -> None:
        """Close the sandbox's command router connection, then the client."""
        sandbox = getattr(self, "sandbox", None)
        if sandbox is not None:
            with contextlib.suppress(Exception):
                sandbox.detach()
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()
