"""``check_interval`` watchers: progress updates about a background process in its chat.

A watcher is one asyncio task per process. Every interval it posts the new output (or that
there is none), and a final notice with the exit code when the process ends; then it stops.
Nothing else keeps it alive: :meth:`WatcherManager.stop_session` and :meth:`stop_all` cancel
them (chat reset, app exit).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from registry import ProcessRegistry, ProcessSession
from registry.text import clean_output, tail_text

Post = Callable[[str, str], None]
"""Called with (chat session key, text) on the event loop."""


class WatcherManager:
    """Runs the watchers of one app."""

    def __init__(
        self, registry: ProcessRegistry, post: Post, *, min_interval: float = 30.0
    ) -> None:
        self.registry = registry
        self.post = post
        self.min_interval = min_interval
        """The user-facing minimum is 30 s; tests may lower it."""
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}

    def start(self, session: ProcessSession, interval: float) -> float:
        """Watch ``session`` every ``interval`` seconds (raised to the minimum); on the loop."""
        interval = max(interval, self.min_interval)
        self.stop(session.id)
        task = asyncio.get_running_loop().create_task(self._watch(session, interval))
        self._tasks[session.id] = (session.session_key, task)
        task.add_done_callback(lambda _: self._tasks.pop(session.id, None))
        return interval

    @property
    def active(self) -> list[str]:
        """Ids of the processes being watched."""
        return list(self._tasks)

    def stop(self, proc_id: str) -> None:
        """Stop watching one process."""
        entry = self._tasks.pop(proc_id, None)
        if entry is not None:
            entry[1].cancel()

    def stop_session(self, session_key: str) -> None:
        """Stop the watchers of one chat session."""
        for proc_id, (key, _) in list(self._tasks.items()):
            if key == session_key:
                self.stop(proc_id)

    def stop_all(self) -> None:
        """Stop every watcher."""
        for proc_id in list(self._tasks):
            self.stop(proc_id)

    async def _watch(self, session: ProcessSession, interval: float) -> None:
        reader = f"watcher:{session.id}"
        self.registry.poll(session.id, reader)  # updates cover what comes after the start
        while True:
            ended = await asyncio.to_thread(session.ended.wait, interval)
            new = clean_output(self.registry.poll(session.id, reader).new_output).strip()
            if ended:
                code = session.exit_code
                text = (
                    f"[{session.id} {session.status.value}"
                    f"{'' if code is None else f' with exit code {code}'}]"
                )
                self.post(
                    session.session_key,
                    text + (f" Final output:\n{tail_text(new, 1000)}" if new else ""),
                )
                return
            self.post(
                session.session_key,
                f"[{session.id} still running] New output:\n{tail_text(new, 500)}"
                if new
                else f"[{session.id} still running] No new output.",
            )
