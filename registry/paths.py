"""Where hermes-tui keeps its state: ``$HERMES_HOME``, else the platform's user state dir."""

from __future__ import annotations

import os
from pathlib import Path

from registry.errors import StateDirError


def state_dir() -> Path:
    """Return the state directory, created private (0700) if missing."""
    home = os.environ.get("HERMES_HOME")
    if home:
        path = Path(home).expanduser()
    else:
        import platformdirs

        path = platformdirs.user_state_path("hermes-tui")
    ensure_private_dir(path)
    return path


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed; the directory itself is made 0700.

    Raises:
        StateDirError: when the directory cannot be created or made private.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except OSError as exc:
        raise StateDirError(
            f"cannot use the directory {path}: {exc.strerror or exc} (set HERMES_HOME to a "
            "writable directory)"
        ) from None
