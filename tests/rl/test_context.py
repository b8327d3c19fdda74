"""ToolContext: tools for reward functions, byte-exact transfers, cleanup."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest

from hermes_tui.rl.context import ToolContext
from registry import ProcessRegistry
from tests.waiting import pid_alive

FIVE_MB = 5 * 1024 * 1024


def _container_names() -> list[str]:
    import docker

    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True)]
    finally:
        client.close()


@pytest.fixture
def payload() -> bytes:
    """5 MB of random bytes: every byte value, NULs, invalid UTF-8, CRs."""
    return os.urandom(FIVE_MB)


def test_five_megabytes_round_trip_byte_exact_on_docker(
    rl_registry: ProcessRegistry, docker_image: str, payload: bytes, tmp_path: Path
) -> None:
    source = tmp_path / "blob.bin"
    source.write_bytes(payload)
    with ToolContext("rl-ctx-docker", backend="docker", image=docker_image, workdir="/data") as ctx:
        ctx.open()
        sent = ctx.upload_file(source, "in/blob.bin")
        assert sent == {"success": True, "path": "/data/in/blob.bin", "bytes": FIVE_MB}
        inside = ctx.terminal("sha256sum /data/in/blob.bin")
        assert inside["output"].split()[0] == hashlib.sha256(payload).hexdigest()
        got = ctx.download_file("/data/in/blob.bin", tmp_path / "back.bin")
        assert got["success"] and got["bytes"] == FIVE_MB
        assert (tmp_path / "back.bin").read_bytes() == payload
        name = f"hermes-{ctx.task_key}"
        assert name in _container_names()
    assert name not in _container_names()
    # the per-task image override went with the sandbox: the key can never reach it again
    assert ("docker", ctx.task_key) not in rl_registry._sandbox_options


def test_directories_round_trip_on_docker(
    rl_registry: ProcessRegistry, docker_image: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "top.txt").write_text("top\n")
    (tree / "a" / "b" / "deep.bin").write_bytes(bytes(range(256)) * 300)
    (tree / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (tree / "run.sh").chmod(0o755)
    with ToolContext("rl-ctx-dirs", backend="docker", image=docker_image) as ctx:
        ctx.open()
        sent = ctx.upload_dir(tree, "/srv/tree")
        assert sent == {"success": True, "files": 3, "bytes": 4 + 256 * 300 + 19}
        assert ctx.terminal("/srv/tree/run.sh")["output"] == "ran"
        back = ctx.download_dir("/srv/tree", tmp_path / "back")
        assert back["success"] and back["files"] == 3
    for relative in ("top.txt", "a/b/deep.bin", "run.sh"):
        assert (tmp_path / "back" / relative).read_bytes() == (tree / relative).read_bytes()


def test_missing_files_are_clear_errors(rl_registry: ProcessRegistry, tmp_path: Path) -> None:
    with ToolContext("rl-ctx-missing") as ctx:
        up = ctx.upload_file(tmp_path / "nope", "x")
        assert not up["success"] and "cannot read local file" in up["error"]
        down = ctx.download_file("does/not/exist", tmp_path / "x")
        assert not down["success"] and "does/not/exist" in down["error"]


def test_tools_and_cleanup_on_local(rl_registry: ProcessRegistry) -> None:
    ctx = ToolContext("rl-ctx-local")
    workdir = ctx.workdir
    assert workdir is not None and Path(workdir).is_dir()
    assert ctx.write_file("notes.txt", "alpha\nbeta\n")["bytes_written"] == 11
    assert "beta" in ctx.read_file("notes.txt")["content"]
    found = ctx.search_files("bet", path=workdir)
    assert found["total_count"] == 1
    assert ctx.terminal("cat notes.txt | wc -l")["output"].strip() == "2"
    assert json.loads(ctx.call_tool("no_such_tool", {}))["error"].startswith("unknown tool")
    started = json.loads(ctx.call_tool("terminal", {"command": "sleep 600", "background": True}))
    assert pid_alive(started["pid"])
    report = ctx.cleanup()
    assert report["killed"] == [started["session_id"]] and report["errors"] == []
    assert not pid_alive(started["pid"]) and not Path(workdir).exists()
    assert ctx.cleanup() == {"already_cleaned": True}


async def test_usable_from_inside_an_event_loop(rl_registry: ProcessRegistry) -> None:
    with ToolContext("rl-ctx-async") as ctx:
        assert ctx.terminal("echo inside")["output"] == "inside"
        result = await asyncio.to_thread(ctx.terminal, "echo threaded")
        assert result["output"] == "threaded"
