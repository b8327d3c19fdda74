"""Which model to talk to: flags, then config, then environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hermes_tui.settings import Config

DEFAULT_MODEL = "gpt-4.1-mini"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
HOW_TO_CONFIGURE = (
    "No model is configured. Set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
    "OpenAI-compatible endpoint such as vLLM, Ollama or LM Studio), or OPENROUTER_API_KEY; "
    "or pass --base-url and --model. Meanwhile !command runs commands; /help lists the rest."
)


@dataclass(frozen=True)
class Endpoint:
    """Where the agent's requests go. ``repr`` never shows the key."""

    model: str
    base_url: str | None
    api_key: str | None

    def __repr__(self) -> str:
        return f"Endpoint(model={self.model!r}, base_url={self.base_url!r}, api_key=***)"

    @property
    def usable(self) -> bool:
        """A key, or an explicit endpoint (local servers often need no key)."""
        return bool(self.api_key or self.base_url)


def resolve_endpoint(
    config: Config,
    *,
    model: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    """Combine ``--model`` / ``--base-url``, the config and the environment."""
    env = os.environ if env is None else env
    key = (
        env.get(config.model.api_key_env)
        or env.get("OPENAI_API_KEY")
        or env.get("OPENROUTER_API_KEY")
    )
    url = base_url or config.model.base_url or env.get("OPENAI_BASE_URL")
    if url is None and env.get("OPENROUTER_API_KEY") and not env.get("OPENAI_API_KEY"):
        url = OPENROUTER_URL
    return Endpoint(model=model or config.model.name or DEFAULT_MODEL, base_url=url, api_key=key)


def make_client(endpoint: Endpoint, *, timeout: float = 120.0) -> Any:
    """An ``AsyncOpenAI`` client without built-in retries (the agent retries visibly)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        api_key=endpoint.api_key or "not-needed",
        base_url=endpoint.base_url,
        max_retries=0,
        timeout=timeout,
    )
