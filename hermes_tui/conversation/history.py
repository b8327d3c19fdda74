"""Chat history on disk: each chat session in its own private file, secrets masked.

``<state dir>/chats/<key>.json`` holds what the pane showed (the transcript) and what the
model saw (the OpenAI messages), so a restart, after a quit or a crash, shows the
conversation again and the agent continues it. Files are written atomically and 0600.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hermes_tui.redact import Redactor
from registry.paths import ensure_private_dir

_KEY_FORMAT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Entry:
    """One thing the chat pane shows."""

    role: str
    """``user``, ``assistant``, ``notice``, ``warning``, ``error`` or ``tool``."""
    text: str
    """The message, or a tool call's JSON result."""
    tool: str = ""
    """For ``tool`` entries: the tool's name."""
    arguments: str = ""
    """For ``tool`` entries: the call's JSON arguments."""


@dataclass
class SavedChat:
    """What a chat session file holds."""

    key: str
    transcript: list[Entry] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    toolsets: list[str] = field(default_factory=lambda: ["all"])
    last_active: float = 0.0


class ChatStore:
    """Loads and saves chat sessions in one folder."""

    def __init__(self, folder: Path, redactor: Callable[[], Redactor] = Redactor) -> None:
        """Keep chats in ``folder``; ``redactor`` makes what masks secrets in each save (made
        anew each time, so a backend configured since is covered)."""
        self.folder = folder
        self.redactor = redactor

    def _path(self, key: str) -> Path:
        if not _KEY_FORMAT.match(key):
            raise ValueError(f"bad chat session key {key!r}")
        return self.folder / f"{key}.json"

    def save(self, chat: SavedChat) -> None:
        """Write one chat session atomically (temp file + rename), private.

        Raises:
            OSError: when the file cannot be written (full disk...); the old file is intact.
        """
        ensure_private_dir(self.folder)
        data = self.redactor().text(json.dumps({"version": 1, **asdict(chat)}))
        path = self._path(chat.key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def load_all(self) -> tuple[list[SavedChat], list[str]]:
        """Every saved chat session, oldest first, and a problem line per unreadable file."""
        chats: list[SavedChat] = []
        problems: list[str] = []
        if not self.folder.is_dir():
            return chats, problems
        for path in sorted(self.folder.glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self._path(str(raw["key"]))  # a key that would name another file is refused
                chats.append(
                    SavedChat(
                        key=str(raw["key"]),
                        transcript=[Entry(**e) for e in raw.get("transcript", [])],
                        messages=list(raw.get("messages", [])),
                        toolsets=[str(t) for t in raw.get("toolsets", ["all"])],
                        last_active=float(raw.get("last_active", 0.0)),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"could not read the chat history {path}: {exc}")
        chats.sort(key=lambda c: c.last_active)
        return chats, problems

    def delete(self, key: str) -> None:
        """Forget one chat session."""
        self._path(key).unlink(missing_ok=True)
