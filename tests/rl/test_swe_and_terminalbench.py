"""The SWE and TerminalBench 2.0 environments end to end on docker."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.rl.harbor import TaskError, load_tasks, parse_reward, unpack_rows
from hermes_tui.rl.swe import SweEnv
from hermes_tui.rl.terminalbench import TerminalBenchEnv
from registry import ProcessRegistry, UnknownProcessError
from tests.fakes.openai_server import Reply, ScriptedModel, tool_call
from tests.rl.conftest import DATA, NOTHING, jsonl, make_env, solve_with

TB2 = DATA / "tb2"
LIMITS = (
    'echo "$TB_MARKER"; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null '
    "|| cat /sys/fs/cgroup/memory.max"
)


def _containers() -> list[str]:
    import docker

    client = docker.from_env()
    try:
        return [str(c.name) for c in client.containers.list(all=True)]
    finally:
        client.close()


def _keys(registry: ProcessRegistry) -> set[str]:
    return {s.owner for s in registry.processes()}


async def test_swe_fix_scores_one_and_nothing_scores_zero(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    fix = solve_with("sed -i 's/\\$1 - \\$2/$1 + $2/' add.sh && sh add.sh 2 3")
    with ScriptedModel([fix, fix, NOTHING]) as server:
        env = make_env(
            SweEnv,
            server,
            tiny_tokenizer,
            terminal_backend="docker",
            image=docker_image,
            dataset_file=str(DATA / "swe" / "tasks.jsonl"),
        )
        await env.setup()
        item = await env.get_next_item()
        fixed, fixed_reward = await env.run_episode(item)
        nothing, nothing_reward = await env.run_episode(item)
    assert (fixed_reward, nothing_reward) == (1.0, 0.0)
    assert json.loads(fixed.messages[3]["content"])["output"] == "5"
    assert "subtracts instead of adding" in fixed.messages[1]["content"]
    assert fixed.task_key != nothing.task_key
    left = set(_containers())
    assert {f"hermes-{fixed.task_key}", f"hermes-{nothing.task_key}"}.isdisjoint(left)


async def test_terminalbench_oracle_scores_one_and_nothing_scores_zero(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    solution = (TB2 / "write-greeting" / "solution" / "solve.sh").read_text()

    def oracle(messages: list[dict[str, Any]]) -> Reply:
        tools = [m for m in messages if m.get("role") == "tool"]
        if not tools:
            return tool_call("terminal", {"command": "sleep 600", "background": True})
        if len(tools) == 1:
            return tool_call("terminal", {"command": LIMITS})
        if len(tools) == 2:
            return tool_call("terminal", {"command": solution})
        return Reply(text="Done.")

    with ScriptedModel([oracle] * 4 + [NOTHING]) as server:
        env = make_env(
            TerminalBenchEnv,
            server,
            tiny_tokenizer,
            tasks_dir=str(TB2),
            task_filter=["write-*"],
        )
        await env.setup()
        assert [t.name for t in env.tasks] == ["write-greeting"]
        item = await env.get_next_item()
        solved, solved_reward = await env.run_episode(item)
        nothing, nothing_reward = await env.run_episode(item)
    assert (solved_reward, nothing_reward) == (1.0, 0.0)
    assert solved.messages[1]["content"].startswith("Create the file /app/greeting.txt")
    # the task's [environment] settings reached the container
    limits = json.loads(solved.messages[5]["content"])["output"].split()
    assert limits == ["from-task-toml", str(512 << 20)]
    background = json.loads(solved.messages[3]["content"])
    assert background["status"] == "running"
    # The episode's sandbox was released: its processes were killed and forgotten with it
    # (a forgotten process can never bring its container back).
    with pytest.raises(UnknownProcessError):
        rl_registry.get(background["session_id"])
    left = set(_containers())
    assert {f"hermes-{solved.task_key}", f"hermes-{nothing.task_key}"}.isdisjoint(left)
    assert _keys(rl_registry) == set()


async def test_terminalbench_builds_the_environment_and_falls_back_to_the_exit_code(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    solver = solve_with("sh -c 'touch done'")
    with ScriptedModel([solver, solver, NOTHING]) as server:
        env = make_env(
            TerminalBenchEnv,
            server,
            tiny_tokenizer,
            tasks_dir=str(TB2),
            skip_tasks=["write-greeting"],
            task_timeout=60,
        )
        await env.setup()
        item = await env.get_next_item()
        assert item["id"] == "exit-code-only" and env.item_timeout(item) == 60
        _, solved = await env.run_episode(item)
        _, nothing = await env.run_episode(item)
    assert (solved, nothing) == (1.0, 0.0)
    _remove_images(env._built)


def _remove_images(tags: dict[str, str]) -> None:
    """Remove the images this test built (never anyone else's)."""
    import docker

    client = docker.from_env()
    try:
        for tag in tags:
            client.images.remove(tag, force=True)
    finally:
        client.close()


async def test_terminalbench_evaluate_writes_metrics_and_samples(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str, tmp_path: Path
) -> None:
    with ScriptedModel([NOTHING]) as server:
        env = make_env(
            TerminalBenchEnv,
            server,
            tiny_tokenizer,
            tasks_dir=str(TB2 / "write-greeting"),
            data_dir_to_save_evals=str(tmp_path / "evals"),
        )
        await env.setup()
        metrics = await env.evaluate()
    assert metrics["eval/mean_reward"] == 0.0 and metrics["eval/items"] == 1.0
    saved = json.loads((tmp_path / "evals" / "metrics.json").read_text())
    assert saved["results"]["all"]["eval/items"] == 1.0
    (sample,) = jsonl(tmp_path / "evals" / "samples.jsonl")
    assert sample["id"] == "write-greeting" and sample["reward"] == 0.0


def test_task_folders_filters_and_errors(tmp_path: Path) -> None:
    tasks = load_tasks(TB2)
    assert [t.name for t in tasks] == ["exit-code-only", "write-greeting"]
    greeting = tasks[1]
    assert greeting.docker_image == "hermes-tui-test:busybox" and greeting.workdir == "/app"
    assert greeting.agent_timeout == 120.0 and greeting.verifier_timeout == 60.0
    assert tasks[0].docker_image is None and tasks[0].workdir == "/work"
    with pytest.raises(TaskError, match="no tasks left"):
        load_tasks(TB2, only=["nothing-*"])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "task.toml").write_text("version = \n")
    with pytest.raises(TaskError, match=r"task\.toml"):
        load_tasks(tmp_path)


async def test_terminalbench_refuses_the_local_backend(tiny_tokenizer: str) -> None:
    with ScriptedModel([]) as server:
        env = make_env(
            TerminalBenchEnv, server, tiny_tokenizer, tasks_dir=str(TB2), terminal_backend="local"
        )
        with pytest.raises(TaskError, match="sandbox backend"):
            await env.setup()


def test_reward_parsing() -> None:
    assert parse_reward(b"1\n", None, 1) == 1.0
    assert parse_reward(b"0.25", None, 0) == 0.25
    assert parse_reward(b"garbage", b'{"reward": 0.5}', 0) == 0.5
    assert parse_reward(None, b"0.75", 1) == 0.75
    assert parse_reward(None, None, 0) == 1.0
    assert parse_reward(None, None, 2) == 0.0
    assert parse_reward(None, None, None) == 0.0


def _tar(folder: Path) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return base64.b64encode(buffer.getvalue()).decode()


async def test_terminalbench_reads_flattened_dataset_rows(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str, tmp_path: Path
) -> None:
    task = TB2 / "write-greeting"
    row = {
        "task_name": "greeting-row",
        "instruction": (task / "instruction.md").read_text(),
        "docker_image": docker_image,
        "tests_tar": _tar(task / "tests"),
        "environment_tar": _tar(task / "environment"),
        "test_sh": (task / "tests" / "test.sh").read_text(),
    }
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(row) + "\n")
    solver = solve_with((task / "solution" / "solve.sh").read_text())
    with ScriptedModel([solver, solver]) as server:
        env = make_env(TerminalBenchEnv, server, tiny_tokenizer, tasks_file=str(rows))
        await env.setup()
        (loaded,) = env.tasks
        assert loaded.name == "greeting-row" and loaded.workdir == "/app"
        _, reward = await env.run_episode(await env.get_next_item())
    assert reward == 1.0


def test_bad_rows_are_clear_errors(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"task_name": "../escape", "instruction": "x"}) + "\n")
    with pytest.raises(TaskError, match=r"rows\.jsonl:1: task_name"):
        unpack_rows(rows, tmp_path / "out")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as archive:
        info = tarfile.TarInfo("../../outside.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    row = {
        "task_name": "evil",
        "instruction": "x",
        "tests_tar": base64.b64encode(evil.getvalue()).decode(),
    }
    rows.write_text(json.dumps(row) + "\n")
    with pytest.raises(TaskError, match="tests_tar"):
        unpack_rows(rows, tmp_path / "out")
    assert not (tmp_path / "outside.txt").exists()


def test_terminalbench_1x_task_folders(tmp_path: Path) -> None:
    task = tmp_path / "legacy"
    (task / "tests").mkdir(parents=True)
    (task / "task.yaml").write_text(
        "instruction: |\n  Make it work.\nmax_agent_timeout_sec: 300\nmax_test_timeout_sec: 90\n"
    )
    (task / "Dockerfile").write_text("FROM hermes-tui-test:busybox\nWORKDIR /srv\n")
    (task / "run-tests.sh").write_text("#!/bin/sh\nexit 0\n")
    (task / "solution.sh").write_text("#!/bin/sh\ntrue\n")
    (loaded,) = load_tasks(tmp_path)
    assert loaded.instruction == "Make it work.\n" and loaded.workdir == "/srv"
    assert (loaded.agent_timeout, loaded.verifier_timeout) == (300.0, 90.0)
    assert loaded.test_script.name == "run-tests.sh" and loaded.solution is not None


async def test_terminalbench_group_runs_episodes_side_by_side_in_their_own_containers(
    rl_registry: ProcessRegistry, tiny_tokenizer: str, docker_image: str
) -> None:
    solver = solve_with((TB2 / "write-greeting" / "solution" / "solve.sh").read_text())
    keys: list[str] = []

    class Recording(TerminalBenchEnv):
        async def run_episode(self, item: Any, split: str = "train") -> Any:
            result, reward = await super().run_episode(item, split)
            keys.append(result.task_key)
            return result, reward

    with ScriptedModel([solver] * 4) as server:
        env = make_env(
            Recording,
            server,
            tiny_tokenizer,
            tasks_dir=str(TB2 / "write-greeting"),
            group_size=2,
        )
        await env.setup()
        group, _ = await env.collect_trajectories(await env.get_next_item())
    assert group["scores"] == [1.0, 1.0] and len(group["messages"]) == 2
    assert len(set(keys)) == 2
    assert {f"hermes-{key}" for key in keys}.isdisjoint(_containers())
