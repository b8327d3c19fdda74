"""The file tools on sandbox backends: paths resolve inside the sandbox (real dockerd, real
sshd on loopback), and search_files' upstream arguments everywhere."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.tools import ToolContext, run_tool
from registry import ProcessRegistry
from tests.docker_image import MARKER
from tests.sshd import SSHServer


def call(ctx: ToolContext, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(run_tool(name, json.dumps(args), ctx))
    return result


PROJECT = {
    "src/app.py": "import os\n\ndef main():\n    # TODO: parse args\n    return 1\n",
    "src/util.py": "# TODO one\n# TODO two\nVALUE = 3\n",
    "build/out.py": "# TODO generated, ignored\n",
    "notes.md": "nothing to do here\n",
    ".gitignore": "build/\n",
}


def make_project(ctx: ToolContext, root: str) -> None:
    for name, text in PROJECT.items():
        assert "error" not in call(ctx, "write_file", {"path": f"{root}/{name}", "content": text})


def check_search(ctx: ToolContext, root: str) -> None:
    found = call(ctx, "search_files", {"pattern": "TODO", "path": root})
    assert found["total_count"] == 3
    assert {(m["path"], m["line"]) for m in found["matches"]} == {
        (f"{root}/src/app.py", 4),
        (f"{root}/src/util.py", 1),
        (f"{root}/src/util.py", 2),
    }
    around = call(ctx, "search_files", {"pattern": "parse args", "path": root, "context": 1})
    (match,) = around["matches"]
    assert match["context_before"] == ["def main():"]
    assert match["context_after"] == ["    return 1"]
    files = call(
        ctx, "search_files", {"pattern": "TODO", "path": root, "output_mode": "files_only"}
    )
    assert sorted(files["files"]) == [f"{root}/src/app.py", f"{root}/src/util.py"]
    counts = call(ctx, "search_files", {"pattern": "TODO", "path": root, "output_mode": "count"})
    assert counts == {
        "total_count": 3,
        "counts": {f"{root}/src/app.py": 1, f"{root}/src/util.py": 2},
    }
    names = call(ctx, "search_files", {"pattern": "*.py", "target": "find", "path": root})
    assert sorted(names["files"]) == [f"{root}/src/app.py", f"{root}/src/util.py"]
    read = call(ctx, "read_file", {"path": f"{root}/src/util.py", "offset": 3})
    assert read["content"] == "     3|VALUE = 3"
    patched = call(
        ctx,
        "patch",
        {"path": f"{root}/src/util.py", "old_string": "VALUE = 3", "new_string": "VALUE = 4"},
    )
    assert "+VALUE = 4" in patched["diff"]
    assert (
        "not found" in call(ctx, "search_files", {"pattern": "x", "path": f"{root}/nope"})["error"]
    )


def test_search_output_modes_and_context_locally(registry: ProcessRegistry, tmp_path: Path) -> None:
    ctx = ToolContext(registry=registry)
    make_project(ctx, str(tmp_path))
    check_search(ctx, str(tmp_path))


@pytest.fixture
def docker_ctx(
    docker_image: str, make_registry: Callable[..., ProcessRegistry], tmp_path: Path
) -> Iterator[ToolContext]:
    registry = make_registry(backend_options={"docker": {"image": docker_image}})
    ctx = ToolContext(registry=registry, owner=f"files-{tmp_path.name}", backend="docker")
    yield ctx
    registry.backend("docker", ctx.owner).cleanup()


def test_file_tools_work_inside_a_docker_container(docker_ctx: ToolContext) -> None:
    assert not os.path.exists(MARKER)
    marker = call(docker_ctx, "read_file", {"path": MARKER})
    assert marker["content"] == "     1|only inside the test container"
    found = call(docker_ctx, "search_files", {"pattern": "inside", "path": "/etc"})
    assert [m["path"] for m in found["matches"]] == [MARKER]
    make_project(docker_ctx, "/tmp/project")
    check_search(docker_ctx, "/tmp/project")
    # Relative paths resolve where the container's commands start, never on the host.
    name = f"relative-{secrets.token_hex(4)}.txt"
    written = call(docker_ctx, "write_file", {"path": name, "content": "in the box\n"})
    pwd = call(docker_ctx, "terminal", {"command": "pwd"})["output"]
    assert written["path"] == f"{pwd.rstrip('/')}/{name}"
    assert not os.path.exists(name)
    assert call(docker_ctx, "terminal", {"command": f"cat {name}"})["output"] == "in the box"
    assert call(docker_ctx, "search_files", {"pattern": name, "target": "files", "path": "."})[
        "files"
    ] == [written["path"]]
    # Long output is saved inside the container, where the file tools can read it.
    long = call(docker_ctx, "terminal", {"command": "seq 1 100000"})
    assert long["output_total_bytes"] == len("".join(f"{i}\n" for i in range(1, 100001)))
    page = call(docker_ctx, "read_file", {"path": long["output_file"], "offset": 99999})
    assert page["content"] == " 99999|99999\n100000|100000"
    # The process log pages into the spool inside the container, past the memory window.
    sid = call(docker_ctx, "terminal", {"command": "seq 1 60000", "background": True})["session_id"]
    call(docker_ctx, "process", {"action": "wait", "session_id": sid, "timeout": 60})
    log = call(docker_ctx, "process", {"action": "log", "session_id": sid, "offset": 0, "limit": 2})
    assert log["output"] == "1\n2"
    assert log["total_lines"] == 60000


def test_file_tools_work_over_ssh(
    sshd: SSHServer, make_registry: Callable[..., ProcessRegistry], tmp_path: Path
) -> None:
    options = {"ssh": {**sshd.options(), "remote_root": str(tmp_path / "remote")}}
    ctx = ToolContext(registry=make_registry(backend_options=options), backend="ssh")
    make_project(ctx, str(tmp_path / "project"))
    check_search(ctx, str(tmp_path / "project"))
    home = call(ctx, "terminal", {"command": "pwd"})["output"]
    assert home != os.getcwd()
    name = f"hermes-relative-{secrets.token_hex(4)}.txt"
    try:
        written = call(ctx, "write_file", {"path": name, "content": "over ssh\n"})
        assert written["path"] == f"{home.rstrip('/')}/{name}"
        assert not os.path.exists(os.path.join(os.getcwd(), name))
        assert call(ctx, "read_file", {"path": f"~/{name}"})["content"] == "     1|over ssh"
    finally:
        call(ctx, "terminal", {"command": f"rm -f {name}"})
