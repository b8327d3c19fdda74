"""Masking secrets in what tools hand back to the model (and so in trajectories).

A secret is the value of an environment variable whose name looks like a credential
(``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``, and a few spellings of them). A command like
``env`` or ``cat .env`` would otherwise copy keys into the conversation, the provider's logs
and saved transcripts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|SECRET_KEY|ACCESS_KEY|PASSWORD)$", re.IGNORECASE
)
MIN_SECRET_LEN = 6
"""Shorter values ("1", "true") are too common in ordinary output to mask."""
MASK = "***"


def secret_values(*environments: Mapping[str, str]) -> list[str]:
    """The values to mask from ``environments`` (default: this process's), longest first."""
    sources: Iterable[Mapping[str, str]] = environments or (os.environ,)
    values = {
        value
        for env in sources
        for name, value in env.items()
        if SECRET_NAME.search(name) and len(value.strip()) >= MIN_SECRET_LEN
    }
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of every secret in ``text`` with :data:`MASK`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any, secrets: Iterable[str] | None = None) -> Any:
    """Return ``value`` (a JSON-like structure) with secrets masked in every string."""
    found = list(secrets) if secrets is not None else secret_values()
    if not found:
        return value
    if isinstance(value, str):
        return redact_text(value, found)
    if isinstance(value, dict):
        return {key: redact(item, found) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, found) for item in value]
    return value
