"""Config and themes: defaults, round trips, and clear messages for bad input."""

from __future__ import annotations

from pathlib import Path

from hermes_tui.settings import Config, load_config, save_config
from hermes_tui.theming import builtin_theme_dirs, load_themes, parse_theme


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config, problems = load_config(tmp_path / "none.toml")
    assert config == Config()
    assert problems == []


def test_round_trip_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    config = Config(theme="dusk", keys={"zoom": "f6"})
    config.model.name = "some-model"
    save_config(config, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    loaded, problems = load_config(path)
    assert problems == []
    assert loaded == config


def test_bad_values_name_the_file_and_key_and_keep_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'theme = "dusk"\nbackend = "vax"\ncolour = 1\n'
        '[processes]\nmax_wait = "ten"\nidle_timeout_hours = -1\n'
        '[model]\napi_key = "sk-secret"\nname = 7\n'
    )
    config, problems = load_config(path)
    assert config.theme == "dusk"
    assert config.backend == "local"
    assert config.processes.max_wait == 600.0
    assert config.processes.idle_timeout_hours == 24.0
    assert config.model.name is None
    text = "\n".join(problems)
    assert all(str(path) in p for p in problems)
    for key in (
        "'backend'",
        "'colour'",
        "'processes.max_wait'",
        "'processes.idle_timeout_hours'",
        "'model.api_key'",
        "'model.name'",
    ):
        assert key in text, key
    assert "sk-secret" not in text
    save_config(config, path)
    assert "sk-secret" not in path.read_text()


def test_backend_options(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[backends.docker]\nimage = "python:3.11-slim"\nmemory = "2g"\n'
        '[backends.vax]\nhost = "x"\n[backends]\nssh = 3\n'
    )
    config, problems = load_config(path)
    assert config.backends == {"docker": {"image": "python:3.11-slim", "memory": "2g"}}
    assert any("'backends.vax'" in p for p in problems)
    assert any("'backends.ssh'" in p for p in problems)


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("theme = \n")
    config, problems = load_config(path)
    assert config == Config()
    assert len(problems) == 1
    assert str(path) in problems[0]
    assert "invalid TOML" in problems[0]
    assert "line 1" in problems[0]


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_builtin_themes() -> None:
    themes, problems = load_themes([])
    assert problems == []
    assert {"hermes-dark", "hermes-light", "high-contrast", "dusk"} <= set(themes)
    for theme in themes.values():
        assert len(theme.ansi) == 16
    contrast = themes["high-contrast"]
    dark, light = sorted(
        (
            _luminance(contrast.theme.foreground or "#000000"),
            _luminance(contrast.theme.background or "#000000"),
        )
    )
    assert (light + 0.05) / (dark + 0.05) >= 7


def test_broken_user_theme_is_skipped_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "bad"\n[colors]\nprimary = "blue"\n')
    good = (builtin_theme_dirs()[0] / "dusk.toml").read_text().replace('"dusk"', '"mine"')
    (tmp_path / "mine.toml").write_text(good)
    themes, problems = load_themes([tmp_path])
    assert "mine" in themes
    assert "bad" not in themes
    assert len(problems) == 1
    assert "bad.toml" in problems[0]
    assert "colors.primary" in problems[0]
    assert parse_theme(tmp_path / "mine.toml").name == "mine"


def test_a_bad_detach_key_is_a_clear_problem_and_the_default_is_used(tmp_path: Path) -> None:
    from hermes_tui.settings import load_config

    path = tmp_path / "config.toml"
    path.write_text('detach_key = "[@click=app.quit]x"\n')
    config, problems = load_config(path)
    assert config.detach_key == "ctrl+^"
    assert len(problems) == 1 and "'detach_key'" in problems[0] and str(path) in problems[0]
