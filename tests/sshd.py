"""A real OpenSSH server on 127.0.0.1 for the SSH backend's tests (started per test session).

It gets its own generated host key and user key, a known_hosts file that trusts exactly its
host key, and a config that allows only that key. The tests need ``/usr/sbin/sshd``
(Debian's openssh-server, installed by ``.ci/run``); without it they fail, never skip.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from tests.waiting import poll_until

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class SSHServer:
    """Where the server listens and the files a client needs."""

    host: str
    port: int
    user: str
    key_file: str
    known_hosts: str

    def options(self) -> dict[str, object]:
        """Keyword arguments for ``create_backend("ssh", ...)``."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "key_file": self.key_file,
            "known_hosts": self.known_hosts,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sshd(directory: Path) -> Generator[SSHServer, None, None]:
    """Run sshd until the generator is closed."""
    assert os.path.exists(SSHD), "sshd is missing: apt-get install openssh-server"
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "user_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / name)], check=True
        )
    (directory / "authorized_keys").write_text((directory / "user_key.pub").read_text())
    port = _free_port()
    host_public = (directory / "host_key.pub").read_text().split()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {directory}/host_key\n"
        f"AuthorizedKeysFile {directory}/authorized_keys\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\n"
        f"PidFile {directory}/sshd.pid\nUsePAM no\nSubsystem sftp internal-sftp\n"
        "MaxSessions 100\nMaxStartups 100\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    server = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def listening() -> bool:
        if server.poll() is not None:
            raise RuntimeError("sshd did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    if not poll_until(listening, 10):
        raise RuntimeError("sshd did not start")
    try:
        yield SSHServer(
            "127.0.0.1",
            port,
            os.environ.get("USER") or "root",
            str(directory / "user_key"),
            str(known_hosts),
        )
    finally:
        server.terminate()
        server.wait(10)
