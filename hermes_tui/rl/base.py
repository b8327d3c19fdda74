"""``HermesAgentEnv``: an Atropos environment whose rollouts are hermes-tui agent episodes.

An episode is the chat's own agent loop (:class:`hermes_tui.agent.loop.Agent`, the same tool
dispatch, the same tools), driven headless through Atropos's ``self.server.chat_completion``,
in a sandbox of its own (a task key never reused, the item's image). Synchronous tools run in
a thread pool, so a tool that calls ``asyncio.run()`` cannot deadlock Atropos's event loop.
The reward comes from :meth:`HermesAgentEnv.compute_reward` with a :class:`ToolContext` on
the same sandbox; the context is cleaned up in ``finally`` whether the episode produced a
reward, nothing, an exception, or ran out of time.

Subclasses provide the items (``get_next_item`` / ``eval_items``), the prompt
(``format_prompt``), and the reward.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atroposlib.envs.base import APIServerConfig, BaseEnv, BaseEnvConfig, ScoredDataItem
from atroposlib.utils.tokenize_for_trainer import tokenize_for_trainer
from pydantic import Field, field_validator

from hermes_tui import tools as hermes_tools
from hermes_tui.agent.loop import SYSTEM_PROMPT, Agent, Completer, ToolError
from hermes_tui.rl.context import ToolContext
from hermes_tui.rl.episode import AgentResult, QuietListener, parse_text_tool_calls

log = logging.getLogger("hermes_tui.rl")

Item = dict[str, Any]


def split_names(value: Any) -> Any:
    """A list setting given on the command line: Atropos's flag parser keeps one value per
    flag, so ``a,b`` and a JSON list are accepted (``None`` means empty)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class HermesAgentEnvConfig(BaseEnvConfig):  # type: ignore[misc]  # atroposlib is untyped
    """Settings of every hermes-tui environment (``--env.NAME`` on the command line)."""

    enabled_toolsets: list[str] = Field(
        default_factory=list,
        description="Toolsets the agent gets, comma-separated (terminal, file, all). Empty "
        "loads every tool, with a warning.",
    )
    disabled_toolsets: list[str] = Field(
        default_factory=list, description="Toolsets removed from the selection."
    )
    system_prompt: str | None = Field(
        default=None, description="Replaces the agent's system prompt."
    )
    max_agent_turns: int = Field(default=30, description="Model calls per episode.")
    agent_temperature: float = Field(default=1.0, description="Sampling temperature.")
    max_tokens_per_turn: int | None = Field(
        default=None, description="max_tokens of each model call."
    )
    terminal_backend: str = Field(
        default="local",
        description="Where episodes run: local, docker, ssh, modal, daytona, singularity.",
    )
    image: str | None = Field(
        default=None,
        description="Sandbox image when the item names none (docker, modal, daytona, singularity).",
    )
    workdir: str | None = Field(
        default=None,
        description="Working directory in the sandbox "
        "(local: a fresh temporary directory per episode).",
    )
    terminal_timeout: float = Field(default=180.0, description="Longest foreground command.")
    agent_timeout: float = Field(
        default=1800.0, description="Wall-clock seconds per episode for the agent loop."
    )
    reward_timeout: float = Field(default=600.0, description="Seconds for computing a reward.")
    tool_pool_size: int = Field(default=128, description="Threads for synchronous tools.")
    train_on_all_assistant_turns: bool = Field(
        default=True, description="Train on every assistant turn, not only the last."
    )

    _split_toolsets = field_validator("enabled_toolsets", "disabled_toolsets", mode="before")(
        split_names
    )


class HermesAgentEnv(BaseEnv):  # type: ignore[misc]  # atroposlib is untyped
    """The hermes-tui agent as an Atropos environment (subclass it for a task family)."""

    name = "hermes-agent"
    env_config_cls = HermesAgentEnvConfig

    def __init__(
        self,
        config: HermesAgentEnvConfig,
        server_configs: Any,
        slurm: bool = False,
        testing: bool = False,
    ) -> None:
        super().__init__(config, server_configs, slurm=slurm, testing=testing)
        self.config: HermesAgentEnvConfig = config
        self.tools = self.select_tools()
        self._tool_pool = ThreadPoolExecutor(
            max_workers=max(1, config.tool_pool_size), thread_name_prefix="hermes-rl-tool"
        )
        self._tool_errors: list[dict[str, Any]] = []
        self.last_metrics: dict[str, Any] = {}
        """The metrics of the latest :meth:`wandb_log` call (also without wandb)."""

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def config_init(cls) -> tuple[HermesAgentEnvConfig, list[APIServerConfig]]:
        """Defaults: one OpenAI-compatible server (a list: a bare config would be ignored)."""
        server = APIServerConfig(
            model_name=os.environ.get("HERMES_RL_MODEL", "hermes"),
            base_url=os.environ.get("OPENAI_BASE_URL", "http://localhost:9004/v1"),
            api_key=None,  # the openai client reads OPENAI_API_KEY; never printed with config
            server_type="openai",
        )
        return cls.env_config_cls(), [server]

    def select_tools(self) -> list[hermes_tools.Tool]:
        """The tools of the chosen toolsets (all of them, with a warning, when none)."""
        chosen = self.config.enabled_toolsets
        if not chosen:
            log.warning(
                "%s: no toolsets chosen (enabled_toolsets), so every tool is loaded; "
                "pick the ones the task needs, e.g. --env.enabled_toolsets terminal",
                self.name,
            )
            chosen = ["all"]
        removed = {t.name for t in hermes_tools.tools_in(self.config.disabled_toolsets)}
        return [t for t in hermes_tools.tools_in(chosen) if t.name not in removed]

    async def setup(self) -> None:
        """Load items; subclasses extend it."""

    # -- what subclasses provide ----------------------------------------------------------
    def format_prompt(self, item: Item) -> str:
        """The user message of an episode."""
        return str(item["prompt"])

    def item_image(self, item: Item) -> str | None:
        """The sandbox image of an item (``<backend>_image``, ``image``, or the config's)."""
        own = item.get(f"{self.config.terminal_backend}_image") or item.get("image")
        return str(own) if own else self.config.image

    async def resolve_image(self, item: Item) -> str | None:
        """The image to create the item's sandbox from (subclasses may build it)."""
        return self.item_image(item)

    def item_workdir(self, item: Item) -> str | None:
        """The working directory of an item's episode."""
        own = item.get("cwd") or item.get("workdir")
        return str(own) if own else self.config.workdir

    def item_sandbox_options(self, item: Item) -> dict[str, Any]:
        """Backend settings of the item's sandbox (resource limits, environment...)."""
        return {}

    def item_timeout(self, item: Item) -> float:
        """Wall-clock seconds the agent loop gets for ``item``."""
        return float(self.config.agent_timeout)

    async def prepare_episode(self, item: Item, ctx: ToolContext) -> None:
        """Put what the task needs into the sandbox before the agent starts."""

    async def compute_reward(self, item: Item, result: AgentResult, ctx: ToolContext) -> float:
        """Score an episode using the sandbox it left behind."""
        raise NotImplementedError

    def eval_items(self) -> Sequence[Item]:
        """The items :meth:`evaluate` runs."""
        return []

    # -- an episode -------------------------------------------------------------------------
    def _completer(self, split: str) -> Completer:
        async def complete(
            messages: list[dict[str, Any]], schemas: list[dict[str, Any]]
        ) -> tuple[str, list[tuple[str, str, str]]]:
            kwargs: dict[str, Any] = {
                "messages": [dict(m) for m in messages],
                "n": 1,
                "temperature": self.config.agent_temperature,
                "split": split,
            }
            if schemas:
                kwargs["tools"] = schemas
            if self.config.max_tokens_per_turn:
                kwargs["max_tokens"] = self.config.max_tokens_per_turn
            response = await self.server.chat_completion(**kwargs)
            message = response.choices[0].message
            calls = [
                (c.id or "", c.function.name, c.function.arguments or "")
                for c in (message.tool_calls or [])
            ]
            content = message.content or ""
            if not calls:
                content, calls = parse_text_tool_calls(content)
            return content, calls

        return complete

    async def run_agent(self, item: Item, ctx: ToolContext, split: str = "train") -> AgentResult:
        """Run the agent loop on ``item`` in ``ctx``'s sandbox, within the item's timeout."""
        agent = Agent(
            client=None,
            model="atropos",
            tools=self.tools,
            ctx=ctx.tools,
            system_prompt=self.config.system_prompt or SYSTEM_PROMPT,
            max_iterations=self.config.max_agent_turns,
            completer=self._completer(split),
            executor=ctx.calls,
        )
        error: str | None = None
        final = ""
        timeout = self.item_timeout(item)
        try:
            final = await asyncio.wait_for(
                agent.run_turn(self.format_prompt(item), QuietListener()), timeout=timeout
            )
        except TimeoutError:
            ctx.tools.cancel.cancel()  # a tool still running in its thread stops too
            error = f"timeout ({timeout:g}s)"
        except Exception as exc:  # the model is unreachable, refused, or a server error
            error = f"{type(exc).__name__}: {exc}"
        last = agent.messages[-1]
        natural = error is None and last.get("role") == "assistant" and not last.get("tool_calls")
        turns = sum(1 for m in agent.messages if m.get("role") == "assistant")
        return AgentResult(
            messages=list(agent.messages),
            final_answer=final,
            turns_used=turns,
            finished_naturally=natural,
            tool_errors=list(agent.tool_errors),
            error=error,
        )

    _sigterm_installed = False

    def _stop_cleanly_on_sigterm(self) -> None:
        """Make SIGTERM behave like Ctrl-C: ``asyncio.run`` then cancels every task and waits
        for them, so each running episode's ``finally`` cleans its sandbox up (the default
        SIGTERM would end the process at once and leave them behind)."""
        if self._sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        self._sigterm_installed = True
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, signal.raise_signal, signal.SIGINT
            )

    async def run_episode(self, item: Item, split: str = "train") -> tuple[AgentResult, float]:
        """One whole episode: sandbox, agent, reward, and always cleanup."""
        self._stop_cleanly_on_sigterm()
        key = f"rl-{uuid.uuid4().hex[:12]}"  # never reused: no stale sandbox or override
        result = AgentResult(messages=[])
        reward = 0.0
        ctx: ToolContext | None = None
        try:
            image = await self.resolve_image(item)
            ctx = ToolContext(
                key,
                backend=self.config.terminal_backend,
                image=image,
                workdir=self.item_workdir(item),
                terminal_timeout=self.config.terminal_timeout,
                sandbox_options=self.item_sandbox_options(item),
                pool=self._tool_pool,
            )
            await asyncio.to_thread(ctx.open)
            await self.prepare_episode(item, ctx)
            result = await self.run_agent(item, ctx, split)
            if result.error is None or not result.error.startswith("timeout"):
                reward = float(
                    await asyncio.wait_for(
                        self.compute_reward(item, result, ctx), timeout=self.config.reward_timeout
                    )
                )
        except Exception as exc:
            log.warning("%s episode %s failed: %s: %s", self.name, key, type(exc).__name__, exc)
            result.error = result.error or f"{type(exc).__name__}: {exc}"
            reward = 0.0
        finally:
            if ctx is not None:
                # shielded: an Atropos worker timeout cancels us, the cleanup still finishes
                await asyncio.shield(asyncio.to_thread(ctx.cleanup))
        result.task_key = key
        self._record_tool_errors(key, result.tool_errors)
        return result, reward

    def _record_tool_errors(self, key: str, errors: Sequence[ToolError]) -> None:
        for error in errors:
            self._tool_errors.append(
                {
                    "task": key,
                    "tool": error.tool,
                    "arguments": error.arguments[:200],
                    "error": error.error[:500],
                    "turn": error.turn,
                }
            )

    def score_item(self, result: AgentResult, reward: float) -> ScoredDataItem:
        """Tokens, masks and score of an episode for the trainer."""
        messages = [{**m, "content": m.get("content") or ""} for m in result.messages]
        tokenized = tokenize_for_trainer(
            self.tokenizer,
            messages,
            train_on_all_assistant_turns=self.config.train_on_all_assistant_turns,
        )
        return ScoredDataItem(
            tokens=tokenized["tokens"],
            masks=tokenized["masks"],
            scores=reward,
            advantages=None,
            ref_logprobs=None,
            messages=result.messages if self.config.include_messages else None,
            group_overrides=None,
            overrides=None,
            images=None,
        )

    async def collect_trajectory(self, item: Item) -> tuple[ScoredDataItem, list[Item]]:
        """Atropos's rollout: one episode, scored."""
        result, reward = await self.run_episode(item)
        if not result.messages:
            result.messages = [
                {"role": "system", "content": self.config.system_prompt or SYSTEM_PROMPT},
                {"role": "user", "content": self.format_prompt(item)},
                {"role": "assistant", "content": ""},
            ]
        return self.score_item(result, reward), []

    # -- logging and evaluation ---------------------------------------------------------------
    async def wandb_log(self, wandb_metrics: dict[str, Any] | None = None) -> None:
        """Add the tool error statistics of this step, then log as Atropos does."""
        metrics = dict(wandb_metrics or {})
        errors, self._tool_errors = self._tool_errors, []
        metrics["train/tool_errors_count"] = len(errors)
        for error in errors:
            key = f"train/tool_errors/{error['tool']}"
            metrics[key] = metrics.get(key, 0) + 1
        if errors:
            log.info(
                "%s: %d tool error(s) this step: %s",
                self.name,
                len(errors),
                "; ".join(f"{e['tool']}: {e['error'][:120]}" for e in errors[:10]),
            )
            if self.config.use_wandb:
                import wandb

                table = wandb.Table(columns=["task", "turn", "tool", "arguments", "error"])
                for e in errors:
                    table.add_data(e["task"], e["turn"], e["tool"], e["arguments"], e["error"])
                metrics["train/tool_error_details"] = table
            else:
                metrics["train/tool_error_details"] = errors
        self.last_metrics = dict(metrics)
        await super().wandb_log(metrics)

    async def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """Run every eval item once; write ``metrics.json`` and ``samples.jsonl`` when
        ``data_dir_to_save_evals`` is set; return the metrics."""
        items = list(self.eval_items())
        limit = asyncio.Semaphore(max(1, self.config.max_eval_workers))
        start = time.time()

        async def one(item: Item) -> tuple[Item, AgentResult, float]:
            async with limit:
                result, reward = await self.run_episode(item, split="eval")
                return item, result, reward

        done = await asyncio.gather(*(one(item) for item in items))
        rewards = [reward for _, _, reward in done]
        metrics = {
            "eval/mean_reward": sum(rewards) / len(rewards) if rewards else 0.0,
            "eval/pass_rate": (
                sum(1 for r in rewards if r >= 1.0) / len(rewards) if rewards else 0.0
            ),
            "eval/items": float(len(rewards)),
        }
        samples = [
            {
                "id": item.get("id"),
                "reward": reward,
                "turns": result.turns_used,
                "finished_naturally": result.finished_naturally,
                "error": result.error,
                "messages": result.messages,
            }
            for item, result, reward in done
        ]
        await self.evaluate_log(
            metrics, start_time=start, end_time=time.time(), samples=samples, verbose=False
        )
        if self.config.use_wandb:
            import wandb

            if wandb.run is not None:
                wandb.log(metrics)
        return metrics
