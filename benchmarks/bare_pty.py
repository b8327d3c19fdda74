"""The baseline the benchmarks compare against: a command's output read from a bare PTY."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import time
from collections.abc import Sequence


def time_bare_pty(argv: Sequence[str], rows: int = 24, cols: int = 80) -> float:
    """Seconds to read everything ``argv`` prints into a fresh PTY, as fast as possible."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    started = time.perf_counter()
    child = subprocess.Popen(list(argv), stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    while True:
        try:
            if not os.read(master, 65536):
                break
        except OSError:  # EIO: every writer has closed the PTY
            break
    child.wait()
    elapsed = time.perf_counter() - started
    os.close(master)
    return elapsed
