"""Reading the prompts file: one JSON object per line; a bad line is reported, never fatal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_FIELDS = ("docker_image", "modal_image", "singularity_image", "daytona_image", "image")
_STRING_FIELDS = ("id", "prompt", "system", "cwd", *IMAGE_FIELDS)
KNOWN_FIELDS = frozenset({*_STRING_FIELDS, "metadata"})


@dataclass(frozen=True)
class PromptItem:
    """One prompt of the batch."""

    id: str
    """From the line's ``id``; else ``line-N`` (so it stays the same on a re-run)."""
    line: int
    prompt: str
    system: str | None = None
    images: dict[str, str] = field(default_factory=dict)
    """The line's image fields that were set (``docker_image``, ``image``...)."""
    cwd: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def image_for(self, kind: str) -> str | None:
        """The image this prompt asks for on backend ``kind`` (None: the configured one).

        ``<kind>_image`` wins, then ``image``; a ``docker_image`` also serves backends that
        run Docker images (Singularity as ``docker://...``, Modal, Daytona).
        """
        own = self.images.get(f"{kind}_image") or self.images.get("image")
        if own:
            return own
        docker = self.images.get("docker_image")
        if docker and kind == "singularity":
            return f"docker://{docker}"
        if docker and kind in ("modal", "daytona"):
            return docker
        return None


@dataclass(frozen=True)
class BadLine:
    """A line that could not be used, and why (shown as ``PROMPTS:N: reason``)."""

    line: int
    reason: str


def parse_line(text: str, line: int) -> PromptItem:
    """Parse one line of the prompts file.

    Raises:
        ValueError: with a one-line reason when the line is not a usable prompt.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(KNOWN_FIELDS))}"
        )
    for name in _STRING_FIELDS:
        value = data.get(name)
        if name == "id" and isinstance(value, int) and not isinstance(value, bool):
            data[name] = str(value)  # numeric ids are common in datasets
        elif value is not None and not isinstance(value, str):
            raise ValueError(f"'{name}' must be a string")
    prompt = data.get("prompt")
    if not prompt or not prompt.strip():
        raise ValueError("'prompt' is missing or empty")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError("'metadata' must be an object")
    item_id = data.get("id") or f"line-{line}"
    if not item_id.strip() or len(item_id) > 200:
        raise ValueError("'id' must be a non-empty string of at most 200 characters")
    images = {name: data[name] for name in IMAGE_FIELDS if data.get(name)}
    return PromptItem(
        id=item_id,
        line=line,
        prompt=prompt,
        system=data.get("system"),
        images=images,
        cwd=data.get("cwd") or None,
        metadata=metadata or {},
    )


def read_prompts(path: Path) -> tuple[list[PromptItem], list[BadLine]]:
    """Read every prompt of ``path``; blank lines are skipped, bad ones reported.

    A repeated id is a bad line (its first occurrence is kept), since results are matched
    to prompts by id.

    Raises:
        OSError: when the file cannot be read at all.
    """
    items: list[PromptItem] = []
    bad: list[BadLine] = []
    seen: dict[str, int] = {}
    for number, text in _lines(path):
        if text is None:
            bad.append(BadLine(number, "not UTF-8 text"))
            continue
        if not text.strip():
            continue
        try:
            item = parse_line(text, number)
        except ValueError as exc:
            bad.append(BadLine(number, str(exc)))
            continue
        if item.id in seen:
            bad.append(BadLine(number, f"id {item.id!r} was already used on line {seen[item.id]}"))
            continue
        seen[item.id] = number
        items.append(item)
    return items, bad


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """Numbered lines; None for one that is not UTF-8 (one bad line, not a bad file)."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None
