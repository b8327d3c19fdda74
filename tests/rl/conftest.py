"""RL fixtures: a tiny local tokenizer, a registry shared with the environments, env builders.

These tests need ``atroposlib`` (the ``rl`` extra, installed by ``.ci/run``): without it they
fail at import, they never skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registry import ProcessRegistry, set_registry
from tests.fakes.openai_server import Reply, ScriptedModel, Step, tool_call

DATA = Path(__file__).parent / "data"

# Offline: the tokenizer is a local directory and wandb records nowhere (read at import time
# by transformers and wandb, so set before they are imported).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

CHAT_TEMPLATE = (
    "{%- for m in messages -%}<|im_start|>{{ m['role'] }}\n{{ m['content'] or '' }}"
    "{%- if m.get('tool_calls') %}{%- for c in m['tool_calls'] %}<tool_call>"
    "{{ c['function']['name'] }} {{ c['function']['arguments'] }}</tool_call>"
    "{%- endfor %}{%- endif %}<|im_end|>\n{% endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


def build_tokenizer(directory: Path) -> str:
    """A byte-level tokenizer with a chat template, saved where ``from_pretrained`` finds it
    offline (built here because a tokenizer saved by another transformers may not load)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {char: index for index, char in enumerate(alphabet)}
    for special in ("<|im_start|>", "<|im_end|>", "<|pad|>"):
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(directory))
    return str(directory)


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The path of a tiny local tokenizer."""
    return build_tokenizer(tmp_path_factory.mktemp("tokenizer"))


@pytest.fixture
def rl_registry(registry: ProcessRegistry) -> Iterator[ProcessRegistry]:
    """The registry the environments and ToolContexts use (the shared one)."""
    set_registry(registry)
    yield registry
    set_registry(None)


def solve_with(command: str, final: str = "Done.") -> Step:
    """A stateless policy step: run ``command`` first, then answer. Safe for concurrent
    episodes (each request is judged by its own conversation)."""

    def step(messages: list[dict[str, Any]]) -> Reply:
        if any(m.get("role") == "tool" for m in messages):
            return Reply(text=final)
        return tool_call("terminal", {"command": command})

    return step


NOTHING = Reply(text="I will not do anything.")
"""A model that answers at once without touching anything."""


def make_env(env_cls: Any, server: ScriptedModel, tokenizer: str, **config: Any) -> Any:
    """An environment on the scripted server, offline (no wandb, no health pings)."""
    from atroposlib.envs.server_handling.server_baseline import APIServerConfig

    env_config, _ = env_cls.config_init()
    values = {
        **env_config.model_dump(),
        "tokenizer_name": tokenizer,
        "use_wandb": False,
        "group_size": 1,
        "include_messages": True,
        "ensure_scores_are_not_same": False,
        **config,
    }
    server_config = APIServerConfig(
        model_name="scripted",
        base_url=server.url,
        api_key="sk-test",
        health_check=False,
        timeout=60,
    )
    env = env_cls(env_cls.env_config_cls(**values), [server_config])
    env.max_token_len = 1 << 20  # a trainer would set it; unset, Atropos warns
    return env


EnvFactory = Callable[..., Any]


def jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
