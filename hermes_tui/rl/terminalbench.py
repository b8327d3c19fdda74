"""TerminalBench 2.0 environment: Harbor task folders, verified in the agent's own sandbox.

Per task: the sandbox comes from the task's ``docker_image`` (or, on docker, an image built
from ``environment/Dockerfile``); the agent works in the Dockerfile's ``WORKDIR``; then the
task's ``tests/`` are copied to ``/tests`` byte for byte, ``/tests/test.sh`` runs there, and the
reward is ``/logs/verifier/reward.txt`` (or ``reward.json``), the script's exit code when it
wrote neither. ``--env.task_filter`` / ``--env.skip_tasks`` take names or globs;
``--env.task_timeout`` caps each task's agent time (default: the task's ``[agent]
timeout_sec``).

    python -m hermes_tui.rl.terminalbench evaluate --env.tasks_dir ./tasks \\
        --env.terminal_backend docker --env.data_dir_to_save_evals out ...
"""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import shutil
import tempfile
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from backends import BackendError
from hermes_tui.rl.base import (
    HermesAgentEnv,
    HermesAgentEnvConfig,
    Item,
    split_names,
)
from hermes_tui.rl.context import ToolContext
from hermes_tui.rl.episode import AgentResult
from hermes_tui.rl.harbor import HarborTask, TaskError, load_tasks, parse_reward, unpack_rows

VERIFIER_DIR = "/logs/verifier"
MODAL_SKIP = ("qemu-startup", "qemu-alpine-ssh", "crack-7z-hash")
"""Tasks known not to work in Modal sandboxes (nested virtualisation, CPU limits)."""


class TerminalBenchEnvConfig(HermesAgentEnvConfig):
    """TerminalBench settings."""

    tasks_file: str | None = Field(
        default=None,
        description="JSONL of flattened task rows (task_name, instruction, docker_image, "
        "tests_tar, environment_tar, test_sh), instead of tasks_dir.",
    )
    tasks_dir: str | None = Field(
        default=None, description="A Harbor task folder, or a folder of them."
    )
    task_filter: list[str] = Field(
        default_factory=list, description="Only these tasks (names or globs)."
    )
    skip_tasks: list[str] = Field(default_factory=list, description="Never these tasks.")
    task_timeout: float | None = Field(
        default=None,
        description="Agent seconds per task (default: the task's [agent] timeout_sec).",
    )
    verifier_timeout: float = Field(
        default=600.0, description="Seconds for tests/test.sh when the task sets none."
    )

    _split_tasks = field_validator("task_filter", "skip_tasks", mode="before")(split_names)


class TerminalBenchEnv(HermesAgentEnv):
    """TerminalBench 2.0 tasks on a sandbox backend."""

    name = "hermes-terminalbench"
    env_config_cls = TerminalBenchEnvConfig

    def __init__(
        self,
        config: TerminalBenchEnvConfig,
        server_configs: Any,
        slurm: bool = False,
        testing: bool = False,
    ) -> None:
        super().__init__(config, server_configs, slurm=slurm, testing=testing)
        self.config: TerminalBenchEnvConfig = config
        self.tasks: list[HarborTask] = []
        self._next = 0
        self._built: dict[str, str] = {}
        self._build_lock = threading.Lock()

    @classmethod
    def config_init(cls) -> tuple[TerminalBenchEnvConfig, Any]:
        config, servers = super().config_init()
        config.enabled_toolsets = ["terminal", "file"]
        config.terminal_backend = "docker"
        config.max_agent_turns = 60
        return config, servers

    async def setup(self) -> None:
        if not self.config.tasks_dir and not self.config.tasks_file:
            raise TaskError(
                "the TerminalBench environment needs --env.tasks_dir (task "
                "folders) or --env.tasks_file (JSONL rows)"
            )
        if self.config.terminal_backend == "local":
            raise TaskError(
                "TerminalBench tasks write to /tests and /logs: use a sandbox "
                "backend (docker, modal, daytona, singularity), not local"
            )
        skip = list(self.config.skip_tasks)
        if self.config.terminal_backend == "modal":
            skip.extend(MODAL_SKIP)
        root: str | Path
        if self.config.tasks_file:
            unpacked = tempfile.mkdtemp(prefix="hermes-tb-rows-")
            # removed with the environment (or at exit), whatever way it ends
            weakref.finalize(self, shutil.rmtree, unpacked, True)
            root = unpack_rows(self.config.tasks_file, Path(unpacked))
        else:
            root = str(self.config.tasks_dir)
        self.tasks = load_tasks(root, only=self.config.task_filter, skip=skip)

    def item_for(self, task: HarborTask) -> Item:
        """The Atropos item of a task."""
        return {"id": task.name, "task": task}

    async def get_next_item(self) -> Item:
        task = self.tasks[self._next % len(self.tasks)]
        self._next += 1
        return self.item_for(task)

    def eval_items(self) -> Sequence[Item]:
        return [self.item_for(task) for task in self.tasks]

    # -- per task ------------------------------------------------------------------------------
    def format_prompt(self, item: Item) -> str:
        task: HarborTask = item["task"]
        return task.instruction

    def item_workdir(self, item: Item) -> str | None:
        task: HarborTask = item["task"]
        return task.workdir

    def item_sandbox_options(self, item: Item) -> dict[str, Any]:
        """The task's ``[environment]`` limits and variables (docker applies them)."""
        task: HarborTask = item["task"]
        if self.config.terminal_backend != "docker":
            return {}
        options: dict[str, Any] = {}
        if task.cpus:
            options["cpus"] = task.cpus
        if task.memory_mb:
            options["memory"] = f"{task.memory_mb}m"
        if task.environment_env:
            options["env"] = dict(task.environment_env)
        return options

    def item_timeout(self, item: Item) -> float:
        task: HarborTask = item["task"]
        return float(self.config.task_timeout or task.agent_timeout or self.config.agent_timeout)

    async def resolve_image(self, item: Item) -> str | None:
        task: HarborTask = item["task"]
        if task.docker_image:
            return task.docker_image
        if task.dockerfile is not None and self.config.terminal_backend == "docker":
            return await asyncio.to_thread(self._build, task)
        if self.config.image:
            return self.config.image
        raise TaskError(
            f"task {task.name}: no [environment] docker_image, and building "
            f"environment/Dockerfile needs the docker backend"
        )

    def _build(self, task: HarborTask) -> str:
        """Build the task's environment image once (tagged by the folder's content)."""
        import docker
        import docker.errors

        digest = hashlib.sha256()
        for path in sorted(
            p
            for p in task.dockerfile.parent.rglob("*")  # type: ignore[union-attr]
            if p.is_file()
        ):
            digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
        tag = f"hermes-tb-{task.name.lower()}:{digest.hexdigest()[:12]}"
        with self._build_lock:
            if tag in self._built:
                return tag
            client = docker.from_env()
            try:
                try:
                    client.images.get(tag)
                except docker.errors.ImageNotFound:
                    client.images.build(
                        path=str(task.dockerfile.parent),  # type: ignore[union-attr]
                        tag=tag,
                        rm=True,
                    )
            except (docker.errors.BuildError, docker.errors.APIError) as exc:
                raise BackendError(
                    f"task {task.name}: building environment/Dockerfile failed: {exc}"
                ) from None
            finally:
                client.close()
            self._built[tag] = tag
        return tag

    async def compute_reward(self, item: Item, result: AgentResult, ctx: ToolContext) -> float:
        return await asyncio.to_thread(self.verify, item["task"], ctx)

    def verify(self, task: HarborTask, ctx: ToolContext) -> float:
        """Run the task's tests in the sandbox and read the reward (blocking)."""
        prepare = ctx.terminal(
            f"rm -rf /tests {VERIFIER_DIR} && mkdir -p /tests {VERIFIER_DIR}", 60
        )
        if prepare.get("exit_code") != 0:
            raise BackendError(f"cannot prepare /tests: {prepare.get('output', '')[:300]}")
        if task.tests_dir.is_dir():
            copied = ctx.upload_dir(task.tests_dir, "/tests")
            if not copied["success"]:
                raise BackendError(f"cannot copy the tests: {copied['error']}")
        script = f"/tests/{task.test_script.name}"
        copied = ctx.upload_file(task.test_script, script)
        if not copied["success"]:
            raise BackendError(f"cannot copy {script}: {copied['error']}")
        exports = "".join(
            f"export {k}={shlex.quote(v)}; "
            for k, v in task.verifier_env.items()
            if k.isidentifier()
        )
        q = shlex.quote(script)
        command = f"{exports}if command -v bash >/dev/null 2>&1; then bash {q}; else sh {q}; fi"
        timeout = task.verifier_timeout or self.config.verifier_timeout
        run = ctx.terminal(command, timeout, workdir=task.workdir)
        exit_code = run.get("exit_code") if "error" not in run else None
        backend = ctx.backend()
        return parse_reward(
            _read(backend, f"{VERIFIER_DIR}/reward.txt"),
            _read(backend, f"{VERIFIER_DIR}/reward.json"),
            exit_code,
        )


def _read(backend: Any, path: str) -> bytes | None:
    try:
        data: bytes = backend.download(path)
        return data
    except BackendError:
        return None


if __name__ == "__main__":
    TerminalBenchEnv.cli()
