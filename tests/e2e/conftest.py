"""Fixtures for the end-to-end tests: a private tmux server and state dir per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.tmux import Tmux, _ps


@pytest.fixture
def tmux(tmp_path: Path, state_dir: Path) -> Iterator[Tmux]:
    env = {
        **os.environ,
        "HERMES_HOME": str(state_dir),
        "HERMES_CONFIG": str(tmp_path / "config.toml"),
        "TERM": "xterm-256color",
    }
    env.pop("OPENAI_API_KEY", None)
    server = Tmux(tmp_path, env)
    yield server
    server.kill_server()
    for process in _ps(state_dir):
        if process["status"] == "running":
            subprocess.run(
                [sys.executable, "-m", "hermes_tui", "kill", str(process["id"])],
                env=env,
                capture_output=True,
            )
