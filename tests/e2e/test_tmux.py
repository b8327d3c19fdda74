"""End to end: the real ``hermes-tui`` command in tmux, driven with send-keys like a person."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None and not os.environ.get("CI"), reason="tmux is not installed (CI installs it)"
)


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


def test_a_person_runs_types_detaches_kills_and_recovers(tmux: Tmux, state_dir: Path) -> None:
    app = f"exec {sys.executable} -m hermes_tui"
    tmux.start(app)
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")

    # Start cat from the chat with !, which attaches to it.
    tmux.type("!cat")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "Attached to proc_" in s or "detaches" in s, "attach")
    tmux.type("hello from a person")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: s.count("hello from a person") >= 2, "cat's echo")

    # Detach with ctrl+^; the key never reaches cat.
    tmux.keys("C-^")
    tmux.wait_for(lambda s: "Detached from" in s, "detach")
    (cat,) = _ps(state_dir)
    assert cat["status"] == "running"

    # Kill it from the list: k opens the menu, TERM is preselected.
    tmux.keys("F3")
    tmux.keys("k")
    tmux.wait_for(lambda s: "TERM" in s and "KILL" in s, "the kill menu")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "killed" in s, "the list to show it killed")
    assert _ps(state_dir)[0]["status"] == "killed"

    # A second process keeps running while the app is killed with SIGKILL.
    tmux.keys("F2")
    tmux.type("!bash -c 'echo survivor; exec cat'")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "survivor" in s, "the survivor's output")
    tmux.keys("C-^")
    survivor = next(p for p in _ps(state_dir) if p["status"] == "running")
    os.kill(tmux.app_pid(), signal.SIGKILL)
    tmux.wait_for(lambda s: "Processes" not in s, "the app to die")
    assert next(p for p in _ps(state_dir) if p["id"] == survivor["id"])["status"] == "running"

    # Start again: the survivor is back, marked as recovered, and the chat says so.
    tmux.kill_server()
    tmux.start(app)
    screen = tmux.wait_for(lambda s: "recovered" in s, "the recovered process")
    assert str(survivor["id"]) in screen
    assert "Recovered from the previous run" in screen
