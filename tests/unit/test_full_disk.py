"""A full disk: an ending process keeps its exit status, new processes get one clear error,
and the checkpoint stays intact. The state dir is a small tmpfs (mounting it needs root, as
in CI)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import ProcessRegistry, ProcessStatus, RegistryError
from tests.conftest import wait_for


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    assert os.geteuid() == 0, "this test mounts a 1 MB tmpfs and needs root (CI runs as root)"
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True
    )
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(directory: Path) -> None:
    """Write until the file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)


def test_an_ending_process_keeps_its_exit_status_on_a_full_disk(small_disk: Path) -> None:
    registry = ProcessRegistry(small_disk / "state")
    try:
        proc = registry.spawn("read x; exit 7")
        before = registry.checkpoint.path.read_bytes()
        fill(small_disk)
        with pytest.raises(OSError, match="No space left") as full:
            (small_disk / "probe").write_bytes(b"x" * 8192)
        assert full.value.errno == errno.ENOSPC
        registry.write(proc.id, "go\n")
        result = registry.wait(proc.id, 20)
        assert result.status == "exited", proc.note
        assert proc.exit_code == 7
        # The checkpoint could not be rewritten, and is intact.
        assert json.loads(registry.checkpoint.path.read_bytes()) == json.loads(before)
        with pytest.raises(RegistryError) as error:
            registry.spawn("echo never")
        assert "\n" not in str(error.value)
        assert "No space left" in str(error.value) or "disk" in str(error.value)
    finally:
        for s in registry.processes():
            if s.is_running:
                registry.kill(s.id, grace=0.5)
        registry.close()
    wait_for(lambda: proc.status is ProcessStatus.EXITED)
