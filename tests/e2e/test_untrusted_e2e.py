"""End to end in tmux: planted actions stay text, and a crash leaves a report, not a mess."""

from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

from tests.e2e.tmux import Tmux, _ps

HERE = Path(__file__).parent


def _find(screen: str, text: str) -> tuple[int, int]:
    for row, line in enumerate(screen.splitlines()):
        col = line.find(text)
        if col >= 0:
            return row, col
    raise AssertionError(f"{text!r} is not on the screen:\n{screen}")


def focus_chat(tmux: Tmux) -> None:
    """F2, then wait until the footer starts with the global keys: the chat input has the
    focus (with the list or the terminal focused, their own keys come first)."""
    tmux.keys("F2")
    tmux.wait_for(
        lambda s: s.splitlines()[-1].lstrip().startswith("f1 Help"), "the chat to have the focus"
    )


def test_a_click_on_a_planted_action_does_not_quit(tmux: Tmux, state_dir: Path) -> None:
    tmux.start(f"exec {sys.executable} -m hermes_tui")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    tmux.type("!printf '[@click=app.quit]CLICKME[/]\\n'; exec cat")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "detaches" in s, "attach")
    tmux.keys("C-^")
    screen = tmux.wait_for(
        lambda s: "Detached from" in s and "[@click=app.quit]CLICKME[/]" in s,
        "detached, the planted link shown as text",
    )
    # Click (SGR mouse reports, as a terminal sends them) on every character of it in the
    # terminal pane (the chat's copy is clicked in the Pilot tests).
    for row, line in enumerate(screen.splitlines()):
        col = line.find("CLICKME", 48)
        if col < 0:
            continue
        for x in range(col - 17, col + 10):
            tmux.type(f"\x1b[<0;{x + 1};{row + 1}M\x1b[<0;{x + 1};{row + 1}m")
    # The clicks focused the terminal pane (its footer offers Copy); the app is still there
    # and still answers.
    tmux.wait_for(lambda s: "Copy" in s.splitlines()[-1], "the clicks to focus the terminal")
    focus_chat(tmux)
    tmux.type("/help")
    tmux.wait_for(lambda s: "▊  /help" in s, "/help typed in the chat after the clicks")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "hermes-tui keys" in s, "the help screen")
    assert any(p["status"] == "running" for p in _ps(state_dir))


def test_a_crash_exits_non_zero_with_a_saved_report(tmux: Tmux, state_dir: Path) -> None:
    tmux.start(f"{sys.executable} {HERE / 'crashing_app.py'}; echo EXIT=$?; exec cat")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    tmux.type("!exec cat")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "detaches" in s, "attach")
    tmux.keys("C-^")
    tmux.wait_for(lambda s: "Detached from" in s, "detach")
    focus_chat(tmux)
    tmux.type("/boom")
    tmux.wait_for(lambda s: "▊  /boom" in s, "/boom typed in the chat")
    tmux.keys("Enter")
    screen = tmux.wait_for(lambda s: "EXIT=" in s, "the app to exit")
    assert "EXIT=1" in screen
    assert "Traceback" not in screen
    text = "".join(line.rstrip("\n") for line in screen.splitlines())  # unwrap
    assert "hermes-tui: crashed (RuntimeError: forced crash for the test [x= ␛]52;c;eA==␇)" in text
    assert "Background processes keep running" in text
    (report,) = (state_dir / "crashes").iterdir()
    assert f"report saved to {report}." in text
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert "forced crash for the test" in report.read_text()
    assert "Traceback" in report.read_text()
    # The terminal was restored (the shell prints normally after the app) and the
    # process started from the chat keeps running.
    (process,) = _ps(state_dir)
    assert process["status"] == "running"
    os.kill(int(str(process["pid"])), 0)


def test_the_chat_survives_a_sigkill_of_the_app(tmux: Tmux, state_dir: Path) -> None:
    app = f"exec {sys.executable} -m hermes_tui"
    tmux.start(app)
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    tmux.type("remember [b]this[/b] line")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "remember [b]this[/b] line" in s, "the message")
    os.kill(tmux.app_pid(), signal.SIGKILL)
    tmux.wait_for(lambda s: "Processes" not in s, "the app to die")
    tmux.kill_server()
    tmux.start(app)
    tmux.wait_for(lambda s: "remember [b]this[/b] line" in s, "the message after the restart")
