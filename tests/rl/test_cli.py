"""``python -m hermes_tui.rl.<env> process|evaluate|serve`` as Atropos's own CLI runs them."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from tests.fakes.openai_server import Reply, ScriptedModel, tool_call
from tests.rl.conftest import DATA, jsonl, solve_with
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _environment(state_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HERMES_HOME": str(state_dir),
        "WANDB_MODE": "disabled",
        "HF_HUB_OFFLINE": "1",
        # the key comes from the environment: Atropos prints its server config
        "OPENAI_API_KEY": "sk-secret-test-key",
    }


def _command(args: list[str], server: ScriptedModel, tokenizer: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        *args,
        "--env.use_wandb",
        "false",
        "--env.tokenizer_name",
        tokenizer,
        "--openai.base_url",
        server.url,
        "--openai.model_name",
        "scripted",
        "--openai.health_check",
        "false",
    ]


def _run(
    args: list[str], server: ScriptedModel, tokenizer: str, state_dir: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(args, server, tokenizer),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_environment(state_dir),
        timeout=120,
        check=False,
    )


def test_process_writes_its_groups_file_offline(
    tiny_tokenizer: str, state_dir: Path, tmp_path: Path
) -> None:
    solver = solve_with("echo 'Hello from Hermes' > greeting.txt")
    groups = tmp_path / "out" / "groups.jsonl"
    with ScriptedModel([solver] * 4) as server:
        run = _run(
            [
                "hermes_tui.rl.terminal_test",
                "process",
                "--env.data_path_to_save_groups",
                str(groups),
                "--env.total_steps",
                "1",
                "--env.group_size",
                "2",
                "--env.tasks_file",
                str(DATA / "terminal_tasks.jsonl"),
                "--env.enabled_toolsets",
                "terminal,file",
                "--env.disabled_toolsets",
                "file",
            ],
            server,
            tiny_tokenizer,
            state_dir,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    tools = {t["function"]["name"] for t in server.requests[0]["body"]["tools"]}
    assert tools == {"terminal", "process"}
    (group,) = jsonl(groups)
    assert group["scores"] == [1.0, 1.0]
    assert len(group["tokens"]) == len(group["masks"]) == 2
    assert [m["role"] for m in group["messages"][0]][:3] == ["system", "user", "assistant"]
    assert groups.with_suffix(".html").exists()
    assert server.requests[0]["auth"] == "Bearer sk-secret-test-key"
    for text in (run.stdout, run.stderr, groups.read_text()):
        assert "sk-secret-test-key" not in text


def test_evaluate_writes_metrics_offline(
    tiny_tokenizer: str, state_dir: Path, tmp_path: Path
) -> None:
    solver = solve_with("echo 'Hello from Hermes' > greeting.txt")
    with ScriptedModel([solver] * 2) as server:
        run = _run(
            [
                "hermes_tui.rl.terminal_test",
                "evaluate",
                "--env.data_dir_to_save_evals",
                str(tmp_path / "evals"),
                "--env.tasks_file",
                str(DATA / "terminal_tasks.jsonl"),
            ],
            server,
            tiny_tokenizer,
            state_dir,
        )
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "evals" / "metrics.json").exists()
    (sample,) = jsonl(tmp_path / "evals" / "samples.jsonl")
    assert sample["reward"] == 1.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _api(url: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class HeldPolicy:
    """Start a background process, solve, answer; once ``hold`` is set, answers wait until
    released, so episodes are surely in flight when the environment is stopped."""

    def __init__(self) -> None:
        self.sleep = f"sleep {random.randint(100_000, 999_999)}"  # this run's processes only
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()

    def __call__(self, messages: list[dict[str, Any]]) -> Reply:
        results = [m for m in messages if m.get("role") == "tool"]
        if not results:
            return tool_call("terminal", {"command": self.sleep, "background": True})
        if len(results) == 1:
            return tool_call("terminal", {"command": "echo 'Hello from Hermes' > greeting.txt"})
        if self.hold.is_set():
            self.holding.set()
            self.release.wait(60)
        return Reply(text="Done.")


def _running(command: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == command.split()]


def test_serve_sends_scored_groups_to_the_trainer_api(
    tiny_tokenizer: str, state_dir: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    api_url = f"http://127.0.0.1:{_free_port()}"
    port = api_url.rsplit(":", 1)[1]
    run_api = Path(sys.executable).with_name("run-api")
    api = subprocess.Popen(
        [str(run_api), "--host", "127.0.0.1", "--port", port],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    policy = HeldPolicy()
    serve: subprocess.Popen[bytes] | None = None
    try:

        def listening() -> bool:
            assert api.poll() is None, "run-api exited"
            try:
                _api(api_url + "/")
            except OSError:
                return False
            return True

        wait_for(listening, 60, "run-api to listen")
        # what a trainer does: register, then poll for batches
        registration = {
            "wandb_group": "g",
            "wandb_project": "p",
            "batch_size": 2,
            "max_token_len": 1 << 20,
            "checkpoint_dir": str(tmp_path / "ckpt"),
            "save_checkpoint_interval": -1,
            "starting_step": 0,
            "num_steps": 10,
        }
        _api(api_url + "/register", registration)
        assert _api(api_url + "/batch")["batch"] is None
        with ScriptedModel([policy] * 300) as server:
            args = ["hermes_tui.rl.terminal_test", "serve", "--env.rollout_server_url", api_url]
            args += ["--env.group_size", "2", "--env.wandb_name", "test"]
            args += ["--env.ensure_scores_are_not_same", "false"]
            args += ["--env.tasks_file", str(DATA / "terminal_tasks.jsonl")]
            serve = subprocess.Popen(
                _command(args, server, tiny_tokenizer),
                env={**_environment(state_dir), "TMPDIR": str(scratch)},
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

            def a_batch() -> Any:
                assert serve is not None and serve.poll() is None, "the environment exited"
                return _api(api_url + "/batch")["batch"]

            batch = wait_for(a_batch, 90, "a batch")
            policy.hold.set()
            # episodes in flight (Atropos may cancel some itself when it trims its workers:
            # those clean up too, and new ones take their place)
            wait_for(
                lambda: (
                    policy.holding.is_set() and _running(policy.sleep) and any(scratch.iterdir())
                ),
                60,
                "an episode in flight",
            )
            _stop(serve)  # SIGTERM with episodes in flight
            policy.release.set()
    finally:
        policy.release.set()
        if serve is not None and serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        _stop(api)
    (group,) = batch
    assert group["scores"] == [1.0, 1.0] and len(group["tokens"]) == 2
    # every episode in flight still cleaned up after itself
    assert serve.returncode != 0
    assert list(scratch.glob("hermes-rl-*")) == []
    assert _running(policy.sleep) == []
