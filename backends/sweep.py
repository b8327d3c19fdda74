"""Finding every process a background process ever started, on this host.

The supervisor puts ``HERMES_RUN=<run dir>`` in the command's environment, and every
descendant inherits it, including those that left the process group (``setsid``, the jobs of
an interactive shell under a PTY) or outlived the leader. A kill that must leave nothing
behind signals the group and then every process carrying the marker. Not covered: a process
that cleared its environment (``env -i``) after leaving the group.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from backends.base import ProcHandle

MARKER = "HERMES_RUN"


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1]) if len(fields) > 1 and fields[0] != b"Z" else 0


def marked(handle: ProcHandle) -> Iterator[int]:
    """Pids of the live processes carrying ``handle``'s marker, except its supervisor and the
    supervisor's helpers (util-linux ``script`` under a PTY): they end with the command."""
    needle = f"{MARKER}={handle.run_dir}".encode()
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in (me, handle.supervisor_pid):
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle not in environ.split(b"\0"):
            continue
        parent = _parent(pid)
        if parent == 0 or (parent == handle.supervisor_pid and pid != handle.pid):
            continue  # ended meanwhile, or the supervisor's own helper
        yield pid


def signal_marked(handle: ProcHandle, sig: int) -> int:
    """Send ``sig`` to every marked process (see :func:`marked`); return how many."""
    count = 0
    for pid in list(marked(handle)):
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
            count += 1
    return count
