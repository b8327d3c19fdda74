"""End to end: the real ``hermes-tui`` command in tmux, driven with send-keys like a person."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.tmux import TMUX, Tmux, _ps

pytestmark = pytest.mark.skipif(
    TMUX is None and not os.environ.get("CI"), reason="tmux is not installed (CI installs it)"
)


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
    wait_for(lambda: _ps(state_dir)[0]["status"] == "killed", 10, "ps to show it killed")

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
    assert "Recovered from the" in screen  # the chat is a quarter of the width: it wraps
