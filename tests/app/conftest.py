"""Fixtures for app tests: a registry on a private state dir whose processes run on the
in-memory fake backend (the test decides what they print and when they end), default config
and themes. Every app is built by the one factory, :func:`hermes_tui.launch.make_app`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app as build_app
from registry import ProcessRegistry, RecoveryReport
from tests.fakes.backend import FakeBackend


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
def fake() -> FakeBackend:
    """The fake backend ("fake") every app test's registry uses."""
    return FakeBackend()


@pytest.fixture
def registry(make_registry: Callable[..., ProcessRegistry], fake: FakeBackend) -> ProcessRegistry:
    """A registry on the test's state dir with the fake backend installed."""
    registry = make_registry()
    registry.use_backend(fake)
    return registry


@pytest.fixture
def make_app(registry: ProcessRegistry, config_path: Path) -> Callable[..., HermesApp]:
    """Build an app on the test's registry; ``!command`` runs on the fake backend."""

    def make(
        registry_: ProcessRegistry | None = None, report: RecoveryReport | None = None
    ) -> HermesApp:
        return build_app(
            registry=registry_ or registry,
            report=report or RecoveryReport(),
            config_path=config_path,
            backend="fake",
        )

    return make
