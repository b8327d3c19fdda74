"""Knowing that a file changed without looking at it: inotify, no CPU while nothing changes.

The app learns of processes started from another shell (``hermes-tui run``) when the
registry's checkpoint file is replaced; looking at its mtime every second would wake the
app at rest, so a thread sleeps in ``select`` on an inotify descriptor instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class FileWatch:
    """Calls ``on_change`` (in a thread of its own) when a file is written or replaced."""

    def __init__(self, path: Path, on_change: Callable[[], None], inotify: Any, flags: Any) -> None:
        self.path = path
        self.on_change = on_change
        self._inotify = inotify
        # The directory, not the file: an atomic replace (temp file + rename) gives the
        # name a new inode, which a watch on the old one never sees.
        inotify.add_watch(str(path.parent), flags.MOVED_TO | flags.CLOSE_WRITE)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._closing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="hermes-file-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ, "stop")
        selector.register(self._inotify.fileno(), selectors.EVENT_READ, "inotify")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "stop":
                        return
                    events = self._inotify.read(timeout=0)
                    # wd -1: the queue overflowed, the change may be among the lost events.
                    if any(e.name == self.path.name or e.wd == -1 for e in events):
                        self.on_change()
        except Exception:  # the app keeps running; it only stops noticing other shells
            log.exception("watching %s failed", self.path)
        finally:
            selector.close()
            self._inotify.close()
            os.close(self._wake_r)

    def close(self) -> None:
        """Stop watching (the thread ends on its own, soon)."""
        with self._closing:
            if self._wake_w < 0:
                return
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
            os.close(self._wake_w)  # the read end stays readable (the byte, then EOF)
            self._wake_w = -1


def watch_file(path: Path, on_change: Callable[[], None]) -> FileWatch | None:
    """Call ``on_change`` from a thread whenever ``path`` is written or replaced; None where
    inotify is unavailable (not Linux, no watches left): then the caller looks itself."""
    try:
        import inotify_simple

        inotify = inotify_simple.INotify()
    except (ImportError, OSError) as exc:
        log.info("inotify unavailable (%s); looking at %s on a timer", exc, path)
        return None
    try:
        return FileWatch(path, on_change, inotify, inotify_simple.flags)
    except OSError as exc:
        inotify.close()
        log.info("cannot watch %s (%s); looking at it on a timer", path, exc)
        return None
