"""The SSH backend: commands run on a remote host over paramiko.

The host key is checked against ``known_hosts`` (an unknown host is refused with a message
saying how to trust it; nothing is added silently). Background processes run under the
sandbox supervisor on the remote host, detached from the SSH connection, so a dropped
connection or an app crash does not touch them; the follower reconnects and resumes.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from backends.base import BackendError, BackendUnavailableError
from backends.shell import ShellBackend


class SSHBackend(ShellBackend):
    """A remote host reached with paramiko.

    Args:
        run_root: unused locally (run directories live on the remote host).
        host, port, user: where to connect.
        key_file: private key (default: the SSH agent and ``~/.ssh`` keys).
        known_hosts: file of trusted host keys (default ``~/.ssh/known_hosts``).
        remote_root: run directories on the remote host (default
            ``$HOME/.local/state/hermes-tui/runs``).
    """

    kind: ClassVar[str] = "ssh"

    def __init__(
        self,
        run_root: Path,
        *,
        host: str,
        port: int = 22,
        user: str | None = None,
        key_file: str | None = None,
        known_hosts: str | None = None,
        remote_root: str | None = None,
        keepalive: int = 30,
    ) -> None:
        try:
            import paramiko  # noqa: F401 - imported here so other backends never need it
        except ImportError:
            raise BackendUnavailableError(
                "the ssh backend needs paramiko: pip install 'hermes-tui[ssh]'"
            ) from None
        self.host, self.port, self.user = host, port, user
        self.key_file = str(Path(key_file).expanduser()) if key_file else None
        self.keepalive = keepalive
        self.known_hosts = str(Path(known_hosts or "~/.ssh/known_hosts").expanduser())
        self._lock = threading.Lock()
        self._client: Any = None
        self._connect()
        self.run_root = remote_root or self._home() + "/.local/state/hermes-tui/runs"
        self._ok(f"mkdir -p -m 700 {shlex.quote(self.run_root)}")

    def sandbox_ref(self) -> dict[str, str]:
        return {"host": self.host, "port": str(self.port), "user": self.user or ""}

    # -- the connection -------------------------------------------------------------------
    def _connect(self) -> Any:
        import paramiko

        client = paramiko.SSHClient()
        try:
            client.load_host_keys(self.known_hosts)
        except OSError:
            pass  # no known_hosts yet: every host is unknown
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                key_filename=self.key_file,
                look_for_keys=self.key_file is None,
                allow_agent=True,
                timeout=10,
                banner_timeout=10,
                auth_timeout=10,
            )
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise BackendUnavailableError(
                    f"the host key of {self.host}:{self.port} is not in {self.known_hosts}; "
                    f"if you trust it, add it with: ssh-keyscan -p {self.port} {self.host} >> "
                    f"{self.known_hosts}"
                ) from None
            raise BackendUnavailableError(
                f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from None
        except OSError as exc:
            raise BackendUnavailableError(
                f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
            ) from None
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(self.keepalive)
        self._client = client
        return client

    def _transport(self) -> Any:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                transport = self._connect().get_transport()  # reconnect after a drop
            return transport

    def _channel(self, script: str) -> Any:
        try:
            channel = self._transport().open_session()
            channel.set_combine_stderr(True)
            channel.exec_command(f"sh -c {shlex.quote(script)}")
            return channel
        except (OSError, EOFError) as exc:
            raise BackendError(f"ssh to {self.host}: {exc}") from None
        except Exception as exc:  # paramiko.SSHException and friends
            raise BackendError(f"ssh to {self.host}: {exc}") from None

    def _home(self) -> str:
        return self._ok('echo "$HOME"').decode().strip()

    # -- primitives --------------------------------------------------------------------
    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        channel = self._channel(script)
        try:
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            channel.settimeout(0.1)
            output = bytearray()
            deadline = time.monotonic() + timeout
            while True:
                try:
                    data = channel.recv(65536)
                    if not data:
                        break
                    output += data
                except TimeoutError:
                    pass
                if cancel is not None and cancel.is_set():
                    break
                if time.monotonic() > deadline:
                    raise BackendError(f"ssh command timed out after {timeout:g}s")
            return channel.recv_exit_status() if not (cancel and cancel.is_set()) else 130, bytes(
                output
            )
        except (OSError, EOFError) as exc:
            raise BackendError(f"ssh to {self.host}: {exc}") from None
        finally:
            channel.close()

    def stream(self, script: str) -> Iterator[bytes]:
        channel = self._channel(script)
        try:
            channel.shutdown_write()
            while True:
                try:
                    data = channel.recv(65536)
                except (OSError, EOFError) as exc:
                    raise BackendError(f"ssh to {self.host}: {exc}") from None
                if not data:
                    return
                yield data
        finally:
            channel.close()

    def _sftp(self) -> Any:
        try:
            return self._transport().open_sftp_client()
        except Exception as exc:
            raise BackendError(f"sftp to {self.host}: {exc}") from None

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        parent = str(Path(remote_path).parent)
        self._ok(f"mkdir -p {shlex.quote(parent)}")
        sftp = self._sftp()
        try:
            with sftp.open(remote_path, "wb") as f:
                f.write(data)
            if mode is not None:
                sftp.chmod(remote_path, mode)
        except OSError as exc:
            raise BackendError(f"cannot write {remote_path} on {self.host}: {exc}") from None
        finally:
            sftp.close()

    def download(self, remote_path: str) -> bytes:
        sftp = self._sftp()
        try:
            with sftp.open(remote_path, "rb") as f:
                return bytes(f.read())
        except OSError as exc:
            raise BackendError(
                f"cannot read {remote_path} on {self.host}: {exc.strerror or exc}"
            ) from None
        finally:
            sftp.close()
