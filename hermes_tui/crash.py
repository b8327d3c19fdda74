"""What an unexpected exception leaves behind: a private report file and one line.

The app restores the terminal, saves the report (traceback without local variables, which
could hold an API key) in the state dir and exits non-zero; background processes are not the
app's children, so they keep running.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path

from registry import state_dir
from registry.paths import ensure_private_dir
from registry.text import printable


def write_crash_report(error: BaseException, folder: Path | None = None) -> Path | None:
    """Save ``error`` with its traceback as ``<state dir>/crashes/crash-<time>-<pid>.txt``.

    Args:
        error: The exception.
        folder: The state dir (default: the shared one).

    Returns:
        The report's path, or None when it could not be written (the one-line message is
        still printed).
    """
    try:
        folder = (folder or state_dir()) / "crashes"
        ensure_private_dir(folder)
        path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        text = "".join(
            [
                f"hermes-tui crashed at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n",
                f"python {platform.python_version()} on {platform.platform()}\n",
                f"argv: {sys.argv[:1]} (arguments left out)\n\n",
                *traceback.format_exception(error),
            ]
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        return path
    except Exception:  # the report is best effort: a crash while crashing must not mask it
        return None


def crash_line(error: BaseException, report: Path | None) -> str:
    """The one line printed on stderr after a crash."""
    where = f"report saved to {report}" if report else "no report could be saved"
    summary = printable(f"{type(error).__name__}: {error}".splitlines()[0][:200])
    return (
        f"hermes-tui: crashed ({summary}); {where}. Background processes keep running; "
        "start hermes-tui again to re-adopt them."
    )
