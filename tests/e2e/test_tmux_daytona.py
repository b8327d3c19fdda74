"""End to end: the real ``hermes-tui --backend daytona`` in tmux, against the fake Daytona API.

The app runs in its own process (started by tmux) with the unmodified ``daytona`` SDK; the
fake serves it from this test process on 127.0.0.1 and runs every command in a container.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.tmux import Tmux, _ps
from tests.fakes.daytona_api import FakeDaytona


@pytest.fixture
def daytona_tmux(tmp_path: Path, state_dir: Path, fake_daytona: FakeDaytona) -> Iterator[Tmux]:
    env = {
        **os.environ,
        "HERMES_HOME": str(state_dir),
        "HERMES_CONFIG": str(tmp_path / "config.toml"),
        "TERM": "xterm-256color",
        "PYTHONPATH": os.getcwd(),
        "DAYTONA_API_KEY": fake_daytona.api_key,
        "DAYTONA_API_URL": fake_daytona.api_url,
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


def test_a_person_uses_a_daytona_sandbox(
    daytona_tmux: Tmux, state_dir: Path, fake_daytona: FakeDaytona
) -> None:
    tmux = daytona_tmux
    creates = len([r for r in fake_daytona.calls("POST") if r["path"] == "/api/sandbox"])
    tmux.start(f"exec {sys.executable} -m hermes_tui --backend daytona")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")

    # !cmd attaches; a file that exists only in the sandbox's image proves where it runs,
    # and typed lines reach cat through the sandbox's PTY and come back.
    tmux.type("!cat /etc/hermes-inside-container -")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "only inside the test container" in s, "output from the sandbox", 60)
    tmux.type("hello from a person")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: s.count("hello from a person") >= 2, "cat's echo", 30)
    tmux.keys("C-^")
    tmux.wait_for(lambda s: "Detached from" in s, "detach")
    running = [p for p in _ps(state_dir) if p["status"] == "running"]
    assert [p["backend"] for p in running] == ["daytona"]

    # Kill it from the list: k opens the menu, TERM is preselected.
    tmux.keys("F3")
    tmux.keys("k")
    tmux.wait_for(lambda s: "TERM" in s and "KILL" in s, "the kill menu")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "killed" in s, "the list to show it killed", 30)
    # The list shows the kill when the registry reports it; the checkpoint that `ps` reads
    # is written right after.
    wait_for(
        lambda: (
            next(p for p in _ps(state_dir) if p["id"] == running[0]["id"])["status"] == "killed"
        ),
        10,
        "ps to show it killed",
    )
    # One sandbox for the chat session, created once.
    assert len([r for r in fake_daytona.calls("POST") if r["path"] == "/api/sandbox"]) == (
        creates + 1
    )
    assert fake_daytona.errors == []


def test_missing_credentials_are_one_clear_line_and_nothing_runs_on_the_host(
    daytona_tmux: Tmux, state_dir: Path, tmp_path: Path
) -> None:
    tmux = daytona_tmux
    tmux.env.pop("DAYTONA_API_KEY")
    marker = tmp_path / "ran-on-the-host"
    tmux.start(f"exec {sys.executable} -m hermes_tui --backend daytona")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    tmux.type(f"!touch {marker}")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "DAYTONA_API_KEY" in s, "the error naming what to set", 30)
    assert not marker.exists()
    assert _ps(state_dir) == []
