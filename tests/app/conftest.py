"""Fixtures for app tests: a real registry on a private state dir, default config, themes.

Every app is built by the one factory, :func:`hermes_tui.launch.make_app`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app as build_app
from registry import ProcessRegistry, RecoveryReport


@pytest.fixture(autouse=True)
def no_model_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own API key must not change what the app shows in tests."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "config.toml"
    monkeypatch.setenv("HERMES_CONFIG", str(path))
    return path


@pytest.fixture
def make_app(make_registry: Callable[..., ProcessRegistry], config_path: Path
             ) -> Callable[..., HermesApp]:
    def make(registry: ProcessRegistry | None = None, report: RecoveryReport | None = None
             ) -> HermesApp:
        return build_app(registry=registry or make_registry(),
                         report=report or RecoveryReport(), config_path=config_path)

    return make
