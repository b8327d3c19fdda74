"""The Docker backend: one container per chat session or batch task, commands exec'd into it.

Docker cannot signal an exec or replay its output once the client is gone, so background
processes run under the sandbox supervisor inside the container (output spooled there, kill
by process group); execs are only the transport. Containers carry labels so they are found
again; cleanup removes the container unless it still runs background processes or is set
to persist.
"""

from __future__ import annotations

import io
import shlex
import socket
import tarfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from backends.base import BackendError, BackendUnavailableError, ProcHandle
from backends.shell import ShellBackend

LABEL = "hermes-tui.session"


class DockerBackend(ShellBackend):
    """Commands run in a container created from ``image``.

    Args:
        run_root: unused locally (run directories live in the container).
        image: the image (``docker_image`` per-call override in the batch runner).
        key: the owner (chat session or batch task) whose container this is: it is named
            ``hermes-<key>`` and labelled with the key (the label's name is kept from earlier
            versions, so their containers are found again).
        workdir, env: the container's working directory and environment.
        cpus, memory, network_mode: resource limits and network (``none`` to cut it off).
        persist: keep the container on cleanup.
    """

    kind: ClassVar[str] = "docker"

    def __init__(
        self,
        run_root: Path,
        *,
        image: str = "debian:bookworm-slim",
        key: str = "default",
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        cpus: float | None = None,
        memory: str | None = None,
        network_mode: str | None = None,
        persist: bool = False,
        remote_root: str = "/var/tmp/hermes-tui/runs",
    ) -> None:
        try:
            import docker
        except ImportError:
            raise BackendUnavailableError(
                "the docker backend needs the docker SDK: pip install 'hermes-tui[docker]'"
            ) from None
        try:
            self.client = docker.from_env()
            self.client.ping()
        except Exception as exc:
            raise BackendUnavailableError(f"cannot reach the Docker engine: {exc}") from None
        self.image, self.key, self.persist = image, key, persist
        self.run_root = remote_root
        self.name = f"hermes-{key}"
        self._created = False
        self.container = self._find_or_create(workdir, env or {}, cpus, memory, network_mode)
        try:
            self._ok(
                f"mkdir -p {shlex.quote(self.run_root)} && chmod 700 {shlex.quote(self.run_root)}"
            )
        except BackendError as exc:
            if self._created:  # ours and useless (no shell in the image...): do not leave it
                try:
                    self.container.remove(force=True)
                except Exception:
                    pass
            raise BackendUnavailableError(
                f"docker: a container of {image!r} cannot run commands ({exc})"
            ) from None

    def _find_or_create(
        self,
        workdir: str | None,
        env: Mapping[str, str],
        cpus: float | None,
        memory: str | None,
        network_mode: str | None,
    ) -> Any:
        import docker.errors

        try:
            container = self.client.containers.get(self.name)
            if container.status != "running":
                container.start()
            return container
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise BackendUnavailableError(f"docker: {exc.explanation or exc}") from None
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            try:
                self.client.images.pull(self.image)
            except docker.errors.APIError as exc:
                raise BackendUnavailableError(
                    f"docker image {self.image!r} is not available: it is not on this machine "
                    f"and pulling it failed ({exc.explanation or exc})"
                ) from None
        options: dict[str, Any] = {
            "labels": {LABEL: self.key},
            "detach": True,
            "init": True,
            "name": self.name,
            "environment": dict(env),
        }
        if workdir:
            options["working_dir"] = workdir
        if cpus:
            options["nano_cpus"] = int(cpus * 1e9)
        if memory:
            options["mem_limit"] = memory
        if network_mode:
            options["network_mode"] = network_mode
        self._created = True
        try:
            return self.client.containers.run(
                self.image, ["sh", "-c", "while :; do sleep 3600; done"], **options
            )
        except docker.errors.ImageNotFound:
            raise BackendUnavailableError(
                f"docker image {self.image!r} is not available (pull or build it first)"
            ) from None
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: someone else's container has this name
                # Created but could not start (no sh in the image...): do not leave it.
                try:
                    self.client.containers.get(self.name).remove(force=True)
                except docker.errors.DockerException:
                    pass
            raise BackendUnavailableError(f"docker: {exc.explanation or exc}") from None

    def sandbox_ref(self) -> dict[str, str]:
        return {"container": str(self.container.id), "image": self.image}

    @classmethod
    def sandbox_options(cls, key: str) -> dict[str, Any]:
        return {"key": key}

    # -- primitives --------------------------------------------------------------------
    def _exec_create(self, script: str, stdin: bool) -> str:
        try:
            created = self.client.api.exec_create(
                self.container.id, ["sh", "-c", script], stdin=stdin, tty=False
            )
        except Exception as exc:
            raise BackendError(f"docker exec in {self.name}: {exc}") from None
        return str(created["Id"])

    def _exec_start(self, exec_id: str) -> Any:
        try:
            return self.client.api.exec_start(exec_id, socket=True, tty=False)
        except Exception as exc:  # the container went away between create and start
            raise BackendError(f"docker exec in {self.name}: {exc}") from None

    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        exec_id = self._exec_create(script, stdin is not None)
        sock = self._exec_start(exec_id)
        raw: socket.socket = sock._sock  # the hijacked connection; only it can half-close
        try:
            if stdin is not None:
                raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)
            output = _read_frames(raw, timeout, cancel)
        except OSError as exc:
            raise BackendError(f"docker exec in {self.name}: {exc}") from None
        finally:
            sock.close()
            raw.close()
        for _ in range(50):  # the exit code is set a moment after the stream ends
            try:
                info = self.client.api.exec_inspect(exec_id)
            except Exception as exc:
                raise BackendError(f"docker exec in {self.name}: {exc}") from None
            if not info.get("Running"):
                return int(info.get("ExitCode") or 0), bytes(output)
            time.sleep(0.02)
        return 130 if cancel is not None and cancel.is_set() else -1, bytes(output)

    def stream(self, script: str) -> Iterator[bytes]:
        from docker.utils.socket import frames_iter

        exec_id = self._exec_create(script, False)
        sock = self._exec_start(exec_id)
        raw: socket.socket = sock._sock
        try:
            raw.shutdown(socket.SHUT_WR)
            for _stream, data in frames_iter(sock, tty=False):
                yield data
        except OSError as exc:
            raise BackendError(f"docker exec in {self.name}: {exc}") from None
        finally:
            sock.close()
            raw.close()

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        path = Path(remote_path)
        self._ok(f"mkdir -p {shlex.quote(str(path.parent))}")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = mode if mode is not None else 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
        try:
            self.container.put_archive(str(path.parent), archive.getvalue())
        except Exception as exc:
            raise BackendError(f"cannot write {remote_path} in {self.name}: {exc}") from None

    def download(self, remote_path: str) -> bytes:
        import docker.errors

        try:
            bits, _ = self.container.get_archive(remote_path)
        except docker.errors.NotFound:
            raise BackendError(f"cannot read {remote_path} in {self.name}: No such file") from None
        except Exception as exc:
            raise BackendError(f"cannot read {remote_path} in {self.name}: {exc}") from None
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits)), mode="r") as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member is not None else None
            if extracted is None:
                raise BackendError(f"cannot read {remote_path} in {self.name}: not a file")
            return extracted.read()

    def cleanup(self, active: Sequence[ProcHandle] = ()) -> None:
        super().cleanup(active)
        try:
            if not self.persist:
                self.container.remove(force=True)
        except Exception as exc:
            raise BackendError(f"cannot remove {self.name}: {exc}") from None
        finally:
            self.client.close()


def _read_frames(raw: socket.socket, timeout: float, cancel: threading.Event | None) -> bytes:
    """The payload of an exec's multiplexed stream (frames of an 8-byte header ending in
    the big-endian size, then the data) until it ends.

    ``cancel`` is checked every 0.1 s, not only when output arrives, so an interrupt stops
    the wait for a command that prints nothing.

    Raises:
        TimeoutError: when the stream lasts longer than ``timeout``.
    """
    deadline = time.monotonic() + timeout
    raw.settimeout(0.1 if cancel is not None else timeout)
    pending = bytearray()
    output = bytearray()
    while cancel is None or not cancel.is_set():
        try:
            chunk = raw.recv(1 << 16)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            continue
        if not chunk:
            break
        pending += chunk
        while len(pending) >= 8:
            size = int.from_bytes(pending[4:8], "big")
            if len(pending) < 8 + size:
                break
            output += pending[8 : 8 + size]
            del pending[: 8 + size]
    return bytes(output)
