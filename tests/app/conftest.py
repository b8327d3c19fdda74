"""Fixtures for app tests: a real registry on a private state dir, default config, themes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hermes_tui.app import HermesApp
from hermes_tui.settings import load_config
from hermes_tui.theming import load_themes
from registry import ProcessRegistry, RecoveryReport


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("HERMES_CONFIG", str(path))
    return path


@pytest.fixture
def make_app(
    make_registry: Callable[..., ProcessRegistry], config_path: Path
) -> Callable[..., HermesApp]:
    def make(
        registry: ProcessRegistry | None = None, report: RecoveryReport | None = None
    ) -> HermesApp:
        config, problems = load_config(config_path)
        themes, theme_problems = load_themes()
        return HermesApp(
            registry or make_registry(),
            config,
            themes,
            report=report,
            problems=[*problems, *theme_problems],
            config_path=config_path,
        )

    return make
