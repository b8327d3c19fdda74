"""The one place secrets are masked: tool results (what the model reads, and so the
provider's logs and trajectories), chat history files and batch results.

A command like ``env`` or ``cat .env`` would otherwise copy keys into the conversation. Two
nets: the values of secret-looking environment variables (this process's and the ``env`` of
every configured backend) and the keys given explicitly (the endpoint's), wherever they
appear; and the shapes of common tokens (``sk-...``, ``ghp_...``, ``AKIA...``, bearer tokens,
private key blocks) whatever their source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS", "CREDENTIAL")
_MIN_SECRET_LEN = 8
"""Shorter values ("1", "true") would mask ordinary text."""
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{12,}"),
]


def _secret_name(name: str) -> bool:
    """``OPENAI_API_KEY``, ``GITHUB_TOKEN``, ``DB_PASSWORD``, ``APIKEY``, ``AUTH``... but
    not ``GIT_AUTHOR_NAME`` (whole words of the name, so ordinary values stay readable)."""
    words = name.upper().split("_")
    return "AUTH" in words or any(w.endswith(_SECRET_WORDS) for w in words)


class Redactor:
    """Replaces secrets in strings and in JSON-like values."""

    def __init__(
        self,
        secrets: Iterable[str | None] = (),
        env: Mapping[str, str] | None = None,
        more_envs: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Mask ``secrets``, and the secret-looking variables of ``env`` (default: this
        process's environment) and of ``more_envs`` (e.g. the backends' configured ``env``)."""
        self.secrets = tuple(v for v in secrets if v)
        """The values given explicitly."""
        values = set(self.secrets)
        for variables in (os.environ if env is None else env, *more_envs):
            # Paths (SSH_AUTH_SOCK, XAUTHORITY) are not secrets and would mask ordinary output.
            values |= {
                v
                for k, v in variables.items()
                if isinstance(v, str) and _secret_name(str(k)) and not v.startswith("/")
            }
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted(
            (v for v in values if len(v) >= _MIN_SECRET_LEN), key=len, reverse=True
        )

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``***``."""
        for secret in self._values:
            if secret in value:
                value = value.replace(secret, MASK)
        for pattern in _PATTERNS:
            value = pattern.sub(MASK, value)
        return value

    def value(self, data: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings...) with secrets masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {key: self.value(item) for key, item in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(item) for item in data]
        return data
