"""The engines some tests need (dockerd, sshd): checked once before any test runs, so a missing
one is a single line that names it and says how to start it, not a failure per test."""

from __future__ import annotations

import os
import shutil
import socket

DOCKER_SOCKET = "/var/run/docker.sock"
HOW = "(or run scripts/test, which installs and starts everything)"


def dockerd_problem() -> str | None:
    """Why dockerd cannot be used, or None when it answers a ping."""
    host = os.environ.get("DOCKER_HOST", f"unix://{DOCKER_SOCKET}")
    if not host.startswith("unix://"):
        return None  # a remote engine: the docker SDK reports its own errors
    path = host.removeprefix("unix://")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            answer = sock.recv(4096)
    except OSError as exc:
        installed = "" if shutil.which("dockerd") else " (not installed: apt-get install docker.io)"
        return (
            f"dockerd is not running{installed}: cannot reach {path} ({exc.strerror or exc});"
            f" start it with 'sudo service docker start' or 'sudo dockerd &' {HOW}"
        )
    if b" 200 " not in answer.split(b"\r\n", 1)[0]:
        return f"dockerd at {path} does not answer its ping; restart it {HOW}"
    return None


def sshd_problem() -> str | None:
    """Why the tests cannot start their own sshd, or None."""
    from tests.sshd import SSHD

    for program in (SSHD, "ssh-keygen"):
        if not shutil.which(program):
            return (
                f"{program} is missing: install it with 'sudo apt-get install "
                f"openssh-server openssh-client' {HOW}"
            )
    return None
