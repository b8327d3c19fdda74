"""Terminal-test environment: small inline tasks, each checked by a verifier command.

A task is ``{"id", "prompt", "verify"}`` (plus optional ``image``, ``cwd``): the agent works in
its sandbox, then ``verify`` runs there (in the working directory); exit code 0 is reward 1.0,
anything else 0.0. Tasks come from ``--env.tasks_file`` (JSONL) or the built-in set.

    python -m hermes_tui.rl.terminal_test process --env.enabled_toolsets terminal ...
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from hermes_tui.rl.base import HermesAgentEnv, HermesAgentEnvConfig, Item
from hermes_tui.rl.context import ToolContext
from hermes_tui.rl.episode import AgentResult

BUILTIN_TASKS: list[Item] = [
    {
        "id": "greeting",
        "prompt": "Create a file named greeting.txt in the current directory that contains "
        "exactly one line: Hello from Hermes",
        "verify": "test \"$(cat greeting.txt)\" = 'Hello from Hermes'",
    },
    {
        "id": "script",
        "prompt": "Write an executable shell script hello.sh in the current directory that "
        "prints hi.",
        "verify": 'test -x hello.sh && test "$(./hello.sh)" = hi',
    },
    {
        "id": "count",
        "prompt": "Create a directory named data with exactly three empty files in it, then "
        "write the number of files in data into count.txt.",
        "verify": "test \"$(ls data | wc -l | tr -d ' ')\" = 3 && "
        "test \"$(tr -d ' \\n' < count.txt)\" = 3",
    },
]


class TerminalTestEnvConfig(HermesAgentEnvConfig):
    """Terminal-test settings."""

    tasks_file: str | None = Field(
        default=None,
        description="JSONL file of tasks {id, prompt, verify, image?, cwd?}; default: built-in.",
    )
    verify_timeout: float = Field(default=120.0, description="Seconds for a verifier.")
    shuffle: bool = Field(default=False, description="Shuffle the task order.")


def load_tasks(path: str | None) -> list[Item]:
    """The tasks of a JSONL file (or the built-in ones).

    Raises:
        ValueError: naming the file and line of a bad task.
    """
    if path is None:
        return [dict(task) for task in BUILTIN_TASKS]
    tasks: list[Item] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            task = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(task, dict) or not all(
            isinstance(task.get(k), str) for k in ("prompt", "verify")
        ):
            raise ValueError(f"{path}:{number}: a task needs string 'prompt' and 'verify'")
        task.setdefault("id", f"task-{number}")
        tasks.append(task)
    if not tasks:
        raise ValueError(f"{path}: no tasks")
    return tasks


class TerminalTestEnv(HermesAgentEnv):
    """Inline tasks with verifier commands."""

    name = "hermes-terminal-test"
    env_config_cls = TerminalTestEnvConfig

    def __init__(
        self,
        config: TerminalTestEnvConfig,
        server_configs: Any,
        slurm: bool = False,
        testing: bool = False,
    ) -> None:
        super().__init__(config, server_configs, slurm=slurm, testing=testing)
        self.config: TerminalTestEnvConfig = config
        self.tasks: list[Item] = []
        self._next = 0

    @classmethod
    def config_init(cls) -> tuple[TerminalTestEnvConfig, Any]:
        config, servers = super().config_init()
        config.enabled_toolsets = ["terminal", "file"]
        config.max_agent_turns = 10
        return config, servers

    async def setup(self) -> None:
        self.tasks = load_tasks(self.config.tasks_file)
        if self.config.shuffle:
            random.shuffle(self.tasks)

    async def get_next_item(self) -> Item:
        task = self.tasks[self._next % len(self.tasks)]
        self._next += 1
        return task

    def eval_items(self) -> Sequence[Item]:
        return self.tasks

    async def compute_reward(self, item: Item, result: AgentResult, ctx: ToolContext) -> float:
        check = await asyncio.to_thread(
            ctx.terminal, str(item["verify"]), self.config.verify_timeout
        )
        return 1.0 if check.get("exit_code") == 0 and "error" not in check else 0.0


if __name__ == "__main__":
    TerminalTestEnv.cli()
