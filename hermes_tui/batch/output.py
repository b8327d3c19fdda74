"""Results files: one JSON line per prompt, appended atomically; ShareGPT conversion; resume.

Each line is written with a single ``write`` of the whole line to a file opened with
``O_APPEND``, then flushed to disk (``fsync``), so a crash or Ctrl-C never leaves half a
line after a finished one, and a finished prompt's line is on disk before the next starts
counting on it. A torn last line (the machine lost power mid-write) is skipped on reading
and the next append starts on a fresh line.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

STATUSES = ("ok", "failed", "timeout", "interrupted")
RETRIED = frozenset({"interrupted"})
"""Statuses a re-run tries again; with ``--retry-failed`` also ``failed`` and ``timeout``."""


class ResultWriter:
    """Appends whole lines to a JSONL file (created 0600), holding an exclusive lock on it.

    Raises:
        OSError: when the file cannot be opened, or another writer holds it (``EBUSY``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # Two runs appending to one file would both run the prompts not yet finished.
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise OSError(errno.EBUSY, "another hermes-tui batch is writing it") from None
        self._needs_newline = _ends_mid_line(path)

    def write(self, record: dict[str, Any]) -> None:
        """Append ``record`` as one line and make it durable.

        Raises:
            OSError: when the disk refuses the write (the caller reports it).
        """
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            if self._needs_newline:
                data = b"\n" + data
                self._needs_newline = False
            written = os.write(self._fd, data)
            while written < len(data):  # only on a full disk or a signal; finish the line
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def _ends_mid_line(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:
        return False


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The last result line of each id in ``path`` (a later line supersedes an earlier one).

    A missing file is empty; unreadable lines (a torn last line) are skipped.
    """
    results: dict[str, dict[str, Any]] = {}
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return results
    with f:
        for raw in f:
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str):
                results[record["id"]] = record
    return results


def finished_ids(path: Path, *, retry_failed: bool = False) -> set[str]:
    """Ids a re-run skips: those whose latest line is final.

    ``interrupted`` is never final; ``failed`` and ``timeout`` are final unless
    ``retry_failed``.
    """
    retried = RETRIED | ({"failed", "timeout"} if retry_failed else set())
    return {
        item_id
        for item_id, record in read_results(path).items()
        if record.get("status") in STATUSES and record.get("status") not in retried
    }


def to_sharegpt(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """OpenAI chat messages as the ShareGPT ``from``/``value`` turns trainers read.

    Tool calls go into the ``gpt`` turn as ``<tool_call>{json}</tool_call>`` blocks and tool
    results become ``tool`` turns wrapped in ``<tool_response>`` (the Hermes format).
    """
    names: dict[str, str] = {}
    turns: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        if role == "system":
            turns.append({"from": "system", "value": content})
        elif role == "user":
            turns.append({"from": "human", "value": content})
        elif role == "assistant":
            parts = [content] if content else []
            for call in message.get("tool_calls") or []:
                function = call.get("function", {})
                names[call.get("id", "")] = function.get("name", "")
                parts.append(
                    "<tool_call>\n"
                    + json.dumps(
                        {"name": function.get("name"), "arguments": _arguments(function)},
                        ensure_ascii=False,
                    )
                    + "\n</tool_call>"
                )
            turns.append({"from": "gpt", "value": "\n".join(parts)})
        elif role == "tool":
            call_id = message.get("tool_call_id", "")
            body = json.dumps(
                {
                    "tool_call_id": call_id,
                    "name": names.get(call_id, ""),
                    "content": _maybe_json(content),
                },
                ensure_ascii=False,
            )
            turns.append({"from": "tool", "value": f"<tool_response>\n{body}\n</tool_response>"})
    return turns


def _arguments(function: dict[str, Any]) -> Any:
    return _maybe_json(function.get("arguments") or "{}")


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
