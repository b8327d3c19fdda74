"""``hermes-tui batch`` as a real command: Ctrl-C mid-run, then a re-run that finishes."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch.scripted import prompt, route
from tests.batch.test_batch_local import write_prompts
from tests.fakes.openai_server import Reply, ScriptedModel
from tests.waiting import wait_for

SLOW = "__SLOW__"
BACKGROUND = "sleep 3117"


class SwitchableModel(ScriptedModel):
    """The batch tests' model; while ``slow`` is set, ``__SLOW__`` in a command becomes a
    long sleep (prompts that are still running when Ctrl-C comes), else ``true``."""

    def __init__(self) -> None:
        self.slow = threading.Event()
        self.slow.set()
        super().__init__([self.route] * 1000)

    def __enter__(self) -> SwitchableModel:
        super().__enter__()
        return self

    def route(self, messages: list[dict[str, Any]]) -> Reply:
        reply = route(messages)
        command = "sleep 3118" if self.slow.is_set() else "true"
        reply.tool_calls = [(n, a.replace(SLOW, command)) for n, a in reply.tool_calls]
        return reply

    def waiting_on_slow_step(self) -> int:
        """How many prompts have been told to run their slow step."""
        return sum(
            1
            for r in self.requests
            if SLOW in r["body"]["messages"][1]["content"]
            and sum(m["role"] == "tool" for m in r["body"]["messages"]) == 1
        )


class Batch:
    """A running ``hermes-tui batch``, its stderr collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        executable = Path(sys.executable).with_name("hermes-tui")
        command = [str(executable)] if executable.exists() else [sys.executable, "-m", "hermes_tui"]
        self.proc = subprocess.Popen(
            [*command, "batch", *args],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.stderr)

    def finish(self, timeout: float = 90) -> int:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()
        code = self.proc.wait(timeout)
        self._reader.join(5)
        self.proc.stdout.close()
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code


def host_processes(marker: str) -> list[int]:
    """Pids on this machine whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


def batch_containers(run_id: str) -> list[str]:
    import docker

    client = docker.from_env()
    try:
        return [c.name for c in client.containers.list(all=True, filters={"name": run_id})]
    finally:
        client.close()


@pytest.fixture
def env(tmp_path: Path, state_dir: Path) -> Iterator[dict[str, str]]:
    config = tmp_path / "config.toml"
    yield {
        **os.environ,
        "HERMES_HOME": str(state_dir),
        "HERMES_CONFIG": str(config),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    for pid in host_processes(BACKGROUND) + host_processes("sleep 3118"):
        try:
            os.kill(pid, signal.SIGKILL)  # only after a failure: the test checks there are none
        except OSError:
            pass


@pytest.mark.parametrize("backend", ["local", "docker"])
def test_ctrl_c_loses_no_line_and_leaves_nothing_running(
    backend: str,
    tmp_path: Path,
    env: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    if backend == "docker":
        image = request.getfixturevalue("docker_image")
        Path(env["HERMES_CONFIG"]).write_text(f'[backends.docker]\nimage = "{image}"\n')
    rows: list[dict[str, Any] | str] = [
        {"id": f"quick-{i}", "prompt": prompt(("terminal", {"command": f"echo quick {i}"}))}
        for i in range(2)
    ]
    rows += [
        {
            "id": f"long-{i}",
            "prompt": prompt(
                ("terminal", {"command": BACKGROUND, "background": True}),
                ("terminal", {"command": f"{SLOW}; echo long {i}"}),
            ),
        }
        for i in range(6)
    ]
    write_prompts(tmp_path / "prompts.jsonl", rows)
    out = tmp_path / "results.jsonl"
    with SwitchableModel() as server:
        args = [
            str(tmp_path / "prompts.jsonl"),
            "--out",
            str(out),
            "--backend",
            backend,
            "--workers",
            "4",
            "--base-url",
            server.url,
            "--model",
            "scripted",
        ]
        batch = Batch(args, env)
        # Both quick prompts are written and four long ones are in their slow step.
        wait_for(
            lambda: (
                out.exists()
                and len(out.read_text().splitlines()) == 2
                and server.waiting_on_slow_step() == 4
            ),
            timeout=60,
            what="a busy batch",
        )
        run_id = next(line.split(":")[0] for line in batch.stderr if line.startswith("batch-"))
        if backend == "local":
            wait_for(lambda: len(host_processes(BACKGROUND)) == 4, what="background sleeps")
        else:
            assert len(batch_containers(run_id)) == 4
        batch.proc.send_signal(signal.SIGINT)
        wait_for(lambda: batch.said("no new prompts start"), timeout=30, what="the first Ctrl-C")
        batch.proc.send_signal(signal.SIGINT)
        assert batch.finish() == 130, "".join(batch.stderr)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted((r["id"], r["status"]) for r in lines) == [
            ("long-0", "interrupted"),
            ("long-1", "interrupted"),
            ("long-2", "interrupted"),
            ("long-3", "interrupted"),
            ("quick-0", "ok"),
            ("quick-1", "ok"),
        ]
        assert host_processes(BACKGROUND) == [] and host_processes("sleep 3118") == []
        if backend == "docker":
            assert batch_containers(run_id) == []
        # A re-run finishes the interrupted and the never-started prompts, and only them.
        server.slow.clear()
        server.requests.clear()
        rerun = Batch(args, env)
        assert rerun.finish() == 0, "".join(rerun.stderr)
        assert rerun.said("skipping 2 prompt(s) already finished")
        assert "batch summary" in rerun.stdout and "skipped (already finished)" in rerun.stdout
        asked = {
            next(m["content"] for m in r["body"]["messages"] if m["role"] == "user")
            for r in server.requests
        }
        assert asked == {row["prompt"] for row in rows[2:] if isinstance(row, dict)}
    final = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {i: r["status"] for i, r in final.items()} == {
        **{f"quick-{i}": "ok" for i in range(2)},
        **{f"long-{i}": "ok" for i in range(6)},
    }
    assert final["long-5"]["final_answer"] == "done: long 5"
    assert host_processes(BACKGROUND) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1"),
        (["--timeout", "-1"], "--timeout must be positive"),
        (["--toolsets", "nope"], "unknown toolset 'nope'"),
        (["--system-prompt", "/nonexistent/system.txt"], "cannot read /nonexistent/system.txt"),
    ],
)
def test_a_batch_that_cannot_start_says_why_in_one_line(
    tmp_path: Path,
    env: dict[str, str],
    extra: list[str],
    message: str,
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "hi"}\n')
    batch = Batch(
        [
            str(prompts),
            "--out",
            str(tmp_path / "out.jsonl"),
            "--base-url",
            "http://127.0.0.1:9/v1",
            *extra,
        ],
        env,
    )
    assert batch.finish() == 1
    (line,) = batch.stderr
    assert line.startswith("hermes-tui: error: ") and message in line


def test_a_missing_prompts_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    batch = Batch(
        [
            str(tmp_path / "nope.jsonl"),
            "--out",
            str(tmp_path / "out.jsonl"),
            "--base-url",
            "http://127.0.0.1:9/v1",
        ],
        env,
    )
    assert batch.finish() == 1
    assert batch.stderr == [
        f"hermes-tui: error: cannot read {tmp_path / 'nope.jsonl'}: No such file or directory\n"
    ]


def test_toolsets_system_prompt_and_iteration_limit(tmp_path: Path, env: dict[str, str]) -> None:
    system = tmp_path / "system.txt"
    system.write_text("You are a batch worker.")
    write_prompts(
        tmp_path / "prompts.jsonl",
        [
            {"id": "one-call", "prompt": prompt(("terminal", {"command": "echo a"}))},
            {"id": "own-system", "system": "Be brief.", "prompt": prompt(answer="no tools")},
        ],
    )
    out = tmp_path / "results.jsonl"
    with SwitchableModel() as server:
        batch = Batch(
            [
                str(tmp_path / "prompts.jsonl"),
                "--out",
                str(out),
                "--base-url",
                server.url,
                "--model",
                "scripted",
                "--toolsets",
                "terminal",
                "--system-prompt",
                str(system),
                "--max-iterations",
                "1",
                "--no-progress",
            ],
            env,
        )
        assert batch.finish() == 1  # one prompt failed
    by_id = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert by_id["one-call"]["status"] == "failed"
    assert by_id["one-call"]["error"] == ("no final answer after 1 model calls (--max-iterations)")
    assert by_id["one-call"]["messages"][0]["content"] == "You are a batch worker."
    assert by_id["own-system"]["status"] == "ok"
    assert by_id["own-system"]["messages"][0]["content"] == "Be brief."
    for request in server.requests:
        names = {tool["function"]["name"] for tool in request["body"]["tools"]}
        assert names == {"terminal", "process"}


def test_one_ctrl_c_lets_the_running_prompts_finish(tmp_path: Path, env: dict[str, str]) -> None:
    go = tmp_path / "go"  # the commands finish once it exists: after the Ctrl-C
    wait_for_go = f"until [ -e {shlex.quote(str(go))} ]; do sleep 0.02; done"
    write_prompts(
        tmp_path / "prompts.jsonl",
        [
            {"id": f"p{i}", "prompt": prompt(("terminal", {"command": f"{wait_for_go}; echo {i}"}))}
            for i in range(6)
        ],
    )
    out = tmp_path / "results.jsonl"
    with SwitchableModel() as server:
        batch = Batch(
            [
                str(tmp_path / "prompts.jsonl"),
                "--out",
                str(out),
                "--base-url",
                server.url,
                "--model",
                "scripted",
                "--workers",
                "2",
            ],
            env,
        )
        wait_for(lambda: len(server.requests) == 2, timeout=30, what="two prompts running")
        batch.proc.send_signal(signal.SIGINT)
        wait_for(lambda: batch.said("no new prompts start"), timeout=30, what="the Ctrl-C")
        go.touch()
        assert batch.finish() == 130
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["id"], r["status"], r["final_answer"]) for r in lines) == [
        ("p0", "ok", "done: 0"),
        ("p1", "ok", "done: 1"),
    ]
    assert len({r["body"]["messages"][1]["content"] for r in server.requests}) == 2
