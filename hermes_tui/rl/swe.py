"""SWE environment: fix an issue in a repository; the reward comes from its tests.

An item is ``{"id", "repo", "issue", "test"}`` (plus optional ``setup``, ``image``, ``cwd``):
``repo`` is a directory on this machine (copied into the sandbox byte for byte) or a git URL
(cloned inside the sandbox); ``issue`` is the problem statement; ``test`` is the command whose
exit code 0 means the issue is fixed (reward 1.0, else 0.0). Items come from a JSONL file.

    python -m hermes_tui.rl.swe process --env.dataset_file tasks.jsonl ...
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from hermes_tui.rl.base import HermesAgentEnv, HermesAgentEnvConfig, Item
from hermes_tui.rl.context import ToolContext
from hermes_tui.rl.episode import AgentResult

PROMPT = """You are working in a repository (the current directory). Fix this issue:

{issue}

Change the code so the issue is resolved; do not change the tests. When you are done, say \
what you changed."""


class SweEnvConfig(HermesAgentEnvConfig):
    """SWE settings."""

    dataset_file: str | None = Field(
        default=None,
        description="JSONL file of items {id, repo, issue, test, setup?, image?, cwd?}.",
    )
    test_timeout: float = Field(default=600.0, description="Seconds for the test command.")


def load_items(path: str) -> list[Item]:
    """The items of a JSONL file; relative local repo paths are relative to the file.

    Raises:
        ValueError: naming the file and line of a bad item.
    """
    items: list[Item] = []
    base = Path(path).resolve().parent
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{number}: an item must be a JSON object")
        item.setdefault("issue", item.get("problem_statement"))
        item.setdefault("test", item.get("test_command"))
        missing = [k for k in ("repo", "issue", "test") if not isinstance(item.get(k), str)]
        if missing:
            raise ValueError(f"{path}:{number}: missing {', '.join(missing)}")
        if "://" not in item["repo"] and not item["repo"].startswith("git@"):
            item["repo"] = str((base / item["repo"]).resolve())
        item.setdefault("id", f"item-{number}")
        items.append(item)
    if not items:
        raise ValueError(f"{path}: no items")
    return items


class SweEnv(HermesAgentEnv):
    """Repository + issue + test command."""

    name = "hermes-swe"
    env_config_cls = SweEnvConfig

    def __init__(
        self, config: SweEnvConfig, server_configs: Any, slurm: bool = False, testing: bool = False
    ) -> None:
        super().__init__(config, server_configs, slurm=slurm, testing=testing)
        self.config: SweEnvConfig = config
        self.items: list[Item] = []
        self._next = 0

    @classmethod
    def config_init(cls) -> tuple[SweEnvConfig, Any]:
        config, servers = super().config_init()
        config.enabled_toolsets = ["terminal", "file"]
        config.workdir = "/workspace"
        return config, servers

    async def setup(self) -> None:
        if not self.config.dataset_file:
            raise ValueError(
                "the SWE environment needs --env.dataset_file (JSONL of {id, repo, issue, test})"
            )
        self.items = load_items(self.config.dataset_file)

    async def get_next_item(self) -> Item:
        item = self.items[self._next % len(self.items)]
        self._next += 1
        return item

    def eval_items(self) -> Sequence[Item]:
        return self.items

    def item_workdir(self, item: Item) -> str | None:
        if self.config.terminal_backend == "local" and not item.get("cwd"):
            return None  # a fresh private directory per episode
        return super().item_workdir(item)

    def format_prompt(self, item: Item) -> str:
        return PROMPT.format(issue=item["issue"])

    async def prepare_episode(self, item: Item, ctx: ToolContext) -> None:
        repo = str(item["repo"])
        target = ctx.workdir or "."
        if Path(repo).is_dir():
            copied = await asyncio.to_thread(ctx.upload_dir, repo, target)
            if not copied["success"]:
                raise RuntimeError(f"cannot copy {repo} into the sandbox: {copied['error']}")
        else:
            cloned = await asyncio.to_thread(
                ctx.terminal, f"git clone --quiet {shlex.quote(repo)} .", 600
            )
            if cloned.get("exit_code") != 0:
                raise RuntimeError(f"cannot clone {repo}: {cloned.get('output', '')[-500:]}")
        if item.get("setup"):
            done = await asyncio.to_thread(ctx.terminal, str(item["setup"]), 600)
            if done.get("exit_code") != 0:
                raise RuntimeError(f"setup failed: {done.get('output', '')[-500:]}")

    async def compute_reward(self, item: Item, result: AgentResult, ctx: ToolContext) -> float:
        check = await asyncio.to_thread(ctx.terminal, str(item["test"]), self.config.test_timeout)
        return 1.0 if check.get("exit_code") == 0 and "error" not in check else 0.0


if __name__ == "__main__":
    SweEnv.cli()
