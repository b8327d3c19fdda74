"""Driving the real ``hermes-tui`` in tmux: one tmux server per test, keys and screens."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")


class Tmux:
    """One tmux server (its own socket) running one session."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        assert TMUX is not None, "tmux is required (installed by .ci/run)"
        self.tmux: str = TMUX
        self.socket = str(tmp_path / "tmux.sock")
        self.env = env

    def run(self, *args: str) -> str:
        result = subprocess.run(
            [self.tmux, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return str(result.stdout)

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "e2e", "-x", "120", "-y", "36", command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "e2e", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "e2e", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "e2e")

    def wait_for(self, predicate: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; the screen was:\n{screen}")

    def app_pid(self) -> int:
        return int(self.run("display-message", "-p", "-t", "e2e", "#{pane_pid}").strip())

    def kill_server(self) -> None:
        self.run("kill-server")


def _ps(state_dir: Path) -> list[dict[str, object]]:
    env = {**os.environ, "HERMES_HOME": str(state_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "hermes_tui", "ps", "--all", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    processes: list[dict[str, object]] = json.loads(out)
    return processes
