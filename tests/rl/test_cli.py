"""``python -m hermes_tui.rl.<env> process|evaluate`` as Atropos's own CLI runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.fakes.openai_server import ScriptedModel
from tests.rl.conftest import DATA, jsonl, solve_with

ROOT = Path(__file__).resolve().parents[2]


def _run(
    args: list[str], server: ScriptedModel, tokenizer: str, state_dir: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HERMES_HOME": str(state_dir),
        "WANDB_MODE": "disabled",
        "HF_HUB_OFFLINE": "1",
        # the key comes from the environment: Atropos prints its server config
        "OPENAI_API_KEY": "sk-secret-test-key",
    }
    command = [
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
    return subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False
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
            ],
            server,
            tiny_tokenizer,
            state_dir,
        )
    assert run.returncode == 0, run.stderr[-3000:]
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
