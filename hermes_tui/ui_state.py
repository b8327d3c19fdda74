"""What the app remembers between runs, kept apart from the user's config file.

The config file is the person's: the app never writes it (comments, key order and integer
values stay as they were typed). What the app learns while it runs (the theme chosen with
``/theme``, when finished rows were cleared, when it last ran) goes to ``ui-state.json`` in
the state dir, 0600. A value remembered here gives way to the config file when the person
edits that key: the theme choice records the config's theme it overrode, and once the
config says something else, the config wins.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from backends.atomic import write_private
from registry.paths import ensure_private_dir

FILE_NAME = "ui-state.json"


@dataclass
class UiState:
    """The app's memory (see the module docstring)."""

    theme: str | None = None
    """The theme chosen in the app."""
    config_theme: str | None = None
    """The config file's theme when :attr:`theme` was chosen (a later edit of it wins)."""
    cleared_at: float = 0.0
    """Rows of processes that ended before this time are hidden ("clear finished")."""
    last_seen: float = 0.0
    """When the app last ran (written on quit and every minute): what ended after this,
    ended while the person was away."""

    def theme_for(self, config_theme: str) -> str:
        """The theme to use: the one chosen in the app, unless the config was edited since."""
        if self.theme and self.config_theme == config_theme:
            return self.theme
        return config_theme

    def choose_theme(self, theme: str, config_theme: str) -> None:
        """Remember a theme chosen in the app over the config file's ``config_theme``."""
        self.theme = theme
        self.config_theme = config_theme


def state_path(state_dir: Path) -> Path:
    """Where the state file lives."""
    return state_dir / FILE_NAME


def load_ui_state(state_dir: Path) -> UiState:
    """Read the state; a missing or broken file gives a fresh one (it is only a memory)."""
    try:
        data = json.loads(state_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UiState()
    state = UiState()
    if not isinstance(data, dict):
        return state
    for key, kind in (("theme", str), ("config_theme", str)):
        if isinstance(data.get(key), kind):
            setattr(state, key, data[key])
    for key in ("cleared_at", "last_seen"):
        value: Any = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            setattr(state, key, float(value))
    return state


def save_ui_state(state_dir: Path, state: UiState, *, seen: bool = True) -> None:
    """Write the state atomically (0600); ``seen`` stamps :attr:`UiState.last_seen` now.

    Raises:
        OSError: when the file cannot be written.
    """
    if seen:
        state.last_seen = time.time()
    ensure_private_dir(state_dir)
    write_private(state_path(state_dir), json.dumps(asdict(state), indent=1).encode())
