"""Themes: TOML data files (``themes/`` and the user's theme dir) -> Textual themes + ANSI palettes.

A theme file has ``name``, ``dark``, a ``[colors]`` table (Textual's theme colours) and an
``[ansi]`` table (``colors``: the 16 ANSI colours, plus terminal ``foreground`` and
``background``) used by the terminal pane. A broken file is skipped with a message.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.theme import Theme

import hermes_tui

COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)
_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class HermesTheme:
    """A Textual theme plus the terminal palette that goes with it."""

    theme: Theme
    ansi: tuple[str, ...]
    """The 16 ANSI colours, ``#rrggbb``."""
    fg: str
    bg: str

    @property
    def name(self) -> str:
        """The theme's name (what ``/theme`` takes)."""
        return self.theme.name


def builtin_theme_dirs() -> list[Path]:
    """Where the shipped themes are: inside the installed package, or the repo's ``themes/``."""
    package = Path(hermes_tui.__file__).parent
    return [p for p in (package / "_themes", package.parent / "themes") if p.is_dir()]


def user_theme_dir() -> Path:
    """``themes/`` next to the user's config file."""
    from hermes_tui.settings import config_path

    return config_path().parent / "themes"


def parse_theme(path: Path) -> HermesTheme:
    """Read one theme file.

    Raises:
        ValueError: with a message naming the file and the problem.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: 'name' must be a non-empty string")
    colors = data.get("colors", {})
    ansi = data.get("ansi", {})
    for key in COLOR_KEYS:
        if not _HEX.match(str(colors.get(key, ""))):
            raise ValueError(f"{path}: 'colors.{key}' must be a colour like #1a2b3c")
    palette = ansi.get("colors")
    if (
        not isinstance(palette, list)
        or len(palette) != 16
        or not all(_HEX.match(str(c)) for c in palette)
    ):
        raise ValueError(f"{path}: 'ansi.colors' must list 16 colours like #1a2b3c")
    for key in ("foreground", "background"):
        if not _HEX.match(str(ansi.get(key, ""))):
            raise ValueError(f"{path}: 'ansi.{key}' must be a colour like #1a2b3c")
    theme = Theme(
        name=name, dark=bool(data.get("dark", True)), **{key: colors[key] for key in COLOR_KEYS}
    )
    return HermesTheme(theme, tuple(palette), ansi["foreground"], ansi["background"])


def load_themes(extra_dirs: list[Path] | None = None) -> tuple[dict[str, HermesTheme], list[str]]:
    """Load the built-in themes, then the user's (which may replace them by name)."""
    themes: dict[str, HermesTheme] = {}
    problems: list[str] = []
    dirs = builtin_theme_dirs()[:1] + (extra_dirs if extra_dirs is not None else [user_theme_dir()])
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = parse_theme(path)
            except ValueError as exc:
                problems.append(f"theme skipped: {exc}")
                continue
            themes[theme.name] = theme
    return themes, problems
