"""``check_interval`` watchers: progress updates about a background process in its chat.

A watcher is one asyncio task per process. Every interval it posts the output that is new
since its last update (and nothing when nothing is new), and a final notice with the exit code
when the process ends; then it stops. What it posts follows its notification mode (upstream's
``background_process_notifications``): ``all`` (updates and the end), ``result`` (only the
end), ``error`` (only an end that is not a clean exit 0), ``off`` (nothing).

Watchers are remembered in ``<state dir>/watchers.json`` and their read position is the
registry's persisted poll cursor, so after the app restarts :meth:`WatcherManager.rearm`
starts them again and they go on from where they were. Quitting the app keeps them on file;
stopping one (chat reset) forgets it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.atomic import write_private
from registry import Process, ProcessRegistry, RegistryError
from registry.text import clean_output, tail_text

log = logging.getLogger(__name__)

Post = Callable[[str, str], None]
"""Called with (chat session key, text) on the event loop."""
MODES = ("all", "result", "error", "off")
MODE_ENV = "HERMES_BACKGROUND_NOTIFICATIONS"
"""Overrides the default mode, as upstream's environment variable did."""


def default_mode(configured: str | None = None) -> str:
    """The default notification mode: the environment, else ``configured``, else ``all``."""
    for value in (os.environ.get(MODE_ENV), configured):
        if value is not None:
            text = str(value).strip().lower()
            if text in ("false", "no", "0"):  # YAML/TOML false meant off upstream
                return "off"
            if text in MODES:
                return text
            log.warning("unknown notification mode %r; using 'all'", value)
    return "all"


def wants_final(mode: str, proc: Process) -> bool:
    """Whether an ended process's final notice is posted in ``mode``."""
    if mode in ("all", "result"):
        return True
    failed = proc.status.value != "exited" or proc.exit_code != 0
    return mode == "error" and failed


class WatcherManager:
    """Runs the watchers of one app."""

    def __init__(
        self,
        registry: ProcessRegistry,
        post: Post,
        *,
        min_interval: float = 30.0,
        state_file: Path | None = None,
        mode: str | None = None,
    ) -> None:
        self.registry = registry
        self.post = post
        self.min_interval = min_interval
        """The user-facing minimum is 30 s; tests may lower it."""
        self.mode = default_mode(mode)
        self.state_file = state_file or Path(registry.state_dir) / "watchers.json"
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}

    # -- the file ---------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.state_file.read_bytes())
        except (OSError, ValueError):
            return {}
        return (
            {str(k): v for k, v in data.items() if isinstance(v, dict)}
            if isinstance(data, dict)
            else {}
        )

    def _remember(self, proc_id: str, entry: dict[str, Any] | None) -> None:
        entries = self._load()
        if entry is None:
            if entries.pop(proc_id, None) is None:
                return
        else:
            entries[proc_id] = entry
        try:
            write_private(self.state_file, json.dumps(entries).encode())
        except OSError as exc:  # a full disk costs the re-arm after restart, nothing else
            log.warning("cannot save watchers to %s: %s", self.state_file, exc)

    # -- starting and stopping ------------------------------------------------------------------
    def start(
        self,
        proc: Process,
        interval: float,
        mode: str | None = None,
        *,
        skip_existing: bool = True,
    ) -> float:
        """Watch ``proc`` every ``interval`` seconds (raised to the minimum); on the loop.

        ``skip_existing``: updates cover only output printed after now.
        """
        interval = max(interval, self.min_interval)
        mode = mode if mode in MODES else self.mode
        self.stop(proc.id, forget=False)
        if skip_existing:
            self.registry.poll(proc.id, self._reader(proc))
        self._remember(proc.id, {"interval": interval, "mode": mode, "owner": proc.owner})
        task = asyncio.get_running_loop().create_task(self._watch(proc, interval, mode))
        self._tasks[proc.id] = (proc.owner, task)
        task.add_done_callback(lambda _: self._done(proc.id, task))
        return interval

    def _done(self, proc_id: str, task: asyncio.Task[None]) -> None:
        entry = self._tasks.get(proc_id)
        if entry is not None and entry[1] is task:
            del self._tasks[proc_id]

    def rearm(self) -> list[str]:
        """Start again the watchers that were running when the app last stopped (after
        crash recovery); returns the ids of the processes watched again."""
        armed = []
        for proc_id, entry in self._load().items():
            try:
                proc = self.registry.get(proc_id)
                interval = float(entry.get("interval", self.min_interval))
            except (RegistryError, TypeError, ValueError):
                self._remember(proc_id, None)
                continue
            if proc_id not in self._tasks:
                self.start(proc, interval, str(entry.get("mode")), skip_existing=False)
                armed.append(proc_id)
        return armed

    @property
    def active(self) -> list[str]:
        """Ids of the processes being watched."""
        return list(self._tasks)

    def stop(self, proc_id: str, *, forget: bool = True) -> None:
        """Stop watching one process (``forget``: not re-armed after a restart either)."""
        entry = self._tasks.pop(proc_id, None)
        if entry is not None:
            entry[1].cancel()
        if forget:
            self._remember(proc_id, None)

    def stop_session(self, owner: str) -> None:
        """Stop the watchers of one chat session (for good)."""
        for proc_id, (key, _) in list(self._tasks.items()):
            if key == owner:
                self.stop(proc_id)

    def stop_all(self) -> None:
        """Stop every watcher (the app quits); they are re-armed on the next start."""
        for proc_id in list(self._tasks):
            self.stop(proc_id, forget=False)

    # -- the watcher --------------------------------------------------------------------------
    @staticmethod
    def _reader(proc: Process) -> str:
        return f"watcher:{proc.id}"

    async def _watch(self, proc: Process, interval: float, mode: str) -> None:
        reader = self._reader(proc)
        while True:
            ended = await asyncio.to_thread(proc.ended.wait, interval)
            new = clean_output(self.registry.poll(proc.id, reader).new_output).strip()
            if ended:
                if wants_final(mode, proc):
                    code = proc.exit_code
                    text = (
                        f"[{proc.id} {proc.status.value}"
                        f"{'' if code is None else f' with exit code {code}'}]"
                    )
                    self.post(
                        proc.owner,
                        text + (f" Final output:\n{tail_text(new, 1000)}" if new else ""),
                    )
                self._remember(proc.id, None)
                return
            if new and mode == "all":
                self.post(
                    proc.owner,
                    f"[{proc.id} still running] New output:\n{tail_text(new, 500)}",
                )
