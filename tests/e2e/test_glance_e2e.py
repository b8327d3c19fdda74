"""End to end in tmux (issue 13): a failed process shown as failed, quitting asks, the
away report with last lines (and a process killed from the CLI meanwhile), search that
lands on the match, and a hand-written config that /theme leaves untouched."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_untrusted_e2e import focus_chat
from tests.e2e.tmux import Tmux, _ps

APP = f"{sys.executable} -m hermes_tui"


def foreground(line: str, text: str) -> str | None:
    """The last foreground colour (SGR 38;...) set before ``text`` on a captured line."""
    colours = re.findall(r"\x1b\[(?:[0-9;]*;)?(38;[25];[0-9;]+?)m", line.split(text)[0])
    return colours[-1] if colours else None


def row_with(screen: str, *texts: str) -> bool:
    """True when one line of the screen holds all of ``texts`` (a row of the list)."""
    return any(all(text in line for text in texts) for line in screen.splitlines())


def cli(tmux: Tmux, *args: str) -> str:
    env = {**os.environ, **tmux.env}
    return subprocess.run(
        [sys.executable, "-m", "hermes_tui", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def start_app(tmux: Tmux) -> None:
    tmux.start(f"{APP}; echo APP-EXIT=$?; exec cat")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")


def restart_tmux(tmux: Tmux) -> None:
    """End the tmux server (the app has quit) and start the app in a new one."""
    tmux.kill_server()
    deadline = time.monotonic() + 10
    # new-session right after kill-server can race the old server's exit: retry until the
    # session exists.
    while "e2e" not in tmux.run("list-sessions", "-F", "#{session_name}"):
        assert time.monotonic() < deadline, "tmux did not start a new session"
        tmux.start(f"{APP}; echo APP-EXIT=$?; exec cat")
        time.sleep(0.05)
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")


def quit_app(tmux: Tmux) -> str:
    """ctrl+q; answer the question if one is asked; return the question's screen."""
    tmux.keys("C-q")
    screen = tmux.wait_for(
        lambda s: "y quit" in s or "APP-EXIT=" in s, "the quit question or the exit"
    )
    if "Quit hermes-tui?" in screen:
        tmux.keys("y")
    tmux.wait_for(lambda s: "APP-EXIT=0" in s, "the app to exit")
    return screen


def test_failed_process_is_shown_failed_and_quit_asks(tmux: Tmux, state_dir: Path) -> None:
    start_app(tmux)
    focus_chat(tmux)
    # (The chat echoes the command: it must not contain what the list is waited for.)
    tmux.type("!!sh -c 'echo about to fail; exit $((1 + 2))'")
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: row_with(s, "proc_", "exit 3"), "the failed process")
    # Its output, in the terminal pane beside the chat's echo of the command.
    assert screen.count("about to fail") >= 2
    colours = tmux.run("capture-pane", "-e", "-p", "-t", "e2e")
    failed_line = next(line for line in colours.splitlines() if "exit 3" in line)
    assert "exited" not in screen
    # Its own colour: not the colour of the row's other cells (the id before it).
    status_colour = foreground(failed_line, "exit 3")
    assert status_colour is not None
    assert status_colour != foreground(failed_line, "proc_")
    focus_chat(tmux)
    tmux.type("!!sleep 600")
    tmux.keys("Enter")
    tmux.wait_for(
        lambda s: row_with(s, "sleep 600", "running", "keep"), "the running process, kept on quit"
    )
    tmux.keys("C-q")
    question = tmux.wait_for(
        lambda s: "Quit hermes-tui?" in s and "Keep running" in s, "the quit question"
    )
    assert "sleep 600" in question and "y quit" in question
    tmux.keys("n")
    tmux.wait_for(lambda s: "Quit hermes-tui?" not in s, "the question to close")
    quit_app(tmux)
    assert [p["status"] for p in _ps(state_dir) if p["command"] == "sleep 600"] == ["running"]


def test_away_report_lists_last_lines_and_a_process_killed_from_the_cli(
    tmux: Tmux,
    state_dir: Path,
) -> None:
    server = cli(tmux, "run", "--name", "web", "echo serving on 8080; echo ready; sleep 600")
    start_app(tmux)
    tmux.wait_for(lambda s: "ready" in s, "the server's last output")
    question = quit_app(tmux)
    assert "web" in question
    cli(tmux, "kill", server)  # while the app is down
    restart_tmux(tmux)
    screen = tmux.wait_for(lambda s: "While you were away" in s, "the away report")
    text = "\n".join(line.strip() for line in screen.splitlines())
    assert server in text and "killed -15" in text
    assert "serving on 8080" in text and "ready" in text
    tmux.keys("Escape")
    # Finished, its output read from the spool: in the terminal pane, not an empty one.
    tmux.wait_for(
        lambda s: "While you were away" not in s and "serving on 8080" in s and "killed -15" in s,
        "the finished process's output in the pane",
    )


def test_search_lands_on_the_match(tmux: Tmux) -> None:
    cli(tmux, "run", "seq 1 400; echo the-needle-line; seq 500 900; sleep 600")
    start_app(tmux)
    tmux.wait_for(lambda s: "900" in s, "the output")
    tmux.keys("C-f")
    tmux.wait_for(lambda s: "Search the output" in s, "the search dialog")
    tmux.type("needle")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "1 match" in s, "the match")
    tmux.keys("Enter")
    screen = tmux.wait_for(
        lambda s: "Search the output" not in s and "the-needle-line" in s,
        "the terminal scrolled to the match",
    )
    colours = tmux.run("capture-pane", "-e", "-p", "-t", "e2e")
    line = next(line for line in colours.splitlines() if "the-needle-line" in line)
    assert "\x1b[7m" in line or ";7m" in line or "7;" in line  # highlighted (reverse)
    assert "900" not in screen.split("Terminal")[-1]  # the pane left the live end


HAND_WRITTEN = """# my config — comments, order and integer values are mine
theme = "hermes-dark"  # dark by default

[processes]
max_wait = 600         # seconds, an integer
"""


def test_theme_leaves_a_hand_written_config_untouched(tmux: Tmux, state_dir: Path) -> None:
    config = Path(tmux.env["HERMES_CONFIG"])
    config.write_text(HAND_WRITTEN)
    before = config.stat().st_mtime_ns
    start_app(tmux)
    focus_chat(tmux)
    tmux.type("/theme hermes-light")
    tmux.keys("Enter")
    state_file = state_dir / "ui-state.json"
    tmux.wait_for(
        lambda s: state_file.exists() and "hermes-light" in state_file.read_text(),
        "the theme choice to be remembered",
    )
    quit_app(tmux)
    assert config.read_text() == HAND_WRITTEN
    assert config.stat().st_mtime_ns == before
    state = json.loads((state_dir / "ui-state.json").read_text())
    assert state["theme"] == "hermes-light"  # remembered in the state file instead
    assert stat.S_IMODE((state_dir / "ui-state.json").stat().st_mode) == 0o600
    restart_tmux(tmux)
    quit_app(tmux)
    assert config.read_text() == HAND_WRITTEN
