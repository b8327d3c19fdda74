"""Small text formatting shared by the command line and the app (no UI imports)."""

from __future__ import annotations


def format_runtime(seconds: float) -> str:
    """``42s``, ``3m07s``, ``2h05m``."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
