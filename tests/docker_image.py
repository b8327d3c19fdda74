"""A tiny test image for the Docker backend, built locally with ``docker import``.

No registry is reachable, so the image is a tarball made here: Debian's static busybox (sh
and the coreutils the supervisor uses) plus util-linux ``script`` and the C library it needs
(PTY mode), and a marker file that exists only inside the container.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

IMAGE = "hermes-tui-test:busybox"
MARKER = "/etc/hermes-inside-container"


def _add_file(tar: tarfile.TarFile, source: str, target: str, mode: int = 0o755) -> None:
    data = Path(source).read_bytes()
    info = tarfile.TarInfo(target.lstrip("/"))
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, target: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(target.lstrip("/"))
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _add_link(tar: tarfile.TarFile, target: str, points_to: str) -> None:
    info = tarfile.TarInfo(target.lstrip("/"))
    info.type, info.linkname = tarfile.SYMTYPE, points_to
    tar.addfile(info)


def build_rootfs() -> bytes:
    """The image's file system as a tar archive."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox is missing: apt-get install busybox-static"
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    loader = "/lib64/ld-linux-x86-64.so.2"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in (
            "/bin",
            "/usr",
            "/usr/bin",
            "/lib",
            "/lib/x86_64-linux-gnu",
            "/lib64",
            "/etc",
            "/root",
            "/var",
            "/var/tmp",
            "/proc",
            "/dev",
            "/sys",
        ):
            _add_dir(tar, directory)
        _add_dir(tar, "/tmp", 0o1777)
        _add_file(tar, busybox, "/bin/busybox")
        for applet in applets:
            if applet != "busybox":
                _add_link(tar, f"/bin/{applet}", "busybox")
        _add_file(tar, "/usr/bin/script", "/usr/bin/script")
        _add_file(tar, os.path.realpath(libc), libc, 0o644)
        _add_file(tar, os.path.realpath(loader), loader)
        for name, text in (
            ("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("/etc/group", "root:x:0:\n"),
            (MARKER, "only inside the test container\n"),
        ):
            data = text.encode()
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def ensure_image() -> str:
    """Import the test image into the local engine (once) and return its name."""
    import docker

    client = docker.from_env()
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        repository, tag = IMAGE.split(":")
        client.api.import_image_from_data(build_rootfs(), repository=repository, tag=tag)
    finally:
        client.close()
    return IMAGE
