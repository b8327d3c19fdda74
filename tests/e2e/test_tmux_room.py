"""End to end: the mouse wheel scrolls a process's output back in the real ``hermes-tui``.

tmux writes the wheel reports a terminal would send (SGR encoding, which Textual asks for)
to the app, so the whole path is real: the outer terminal's bytes, Textual's parser, the
terminal pane, and what is drawn.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from tests.e2e.tmux import TMUX, Tmux

pytestmark = pytest.mark.skipif(
    TMUX is None and not os.environ.get("CI"), reason="tmux is not installed (CI installs it)"
)


def wheel(tmux: Tmux, *, up: bool, x: int, y: int) -> None:
    """One notch of the wheel at screen cell (x, y), 0-based, as xterm reports it."""
    report = f"\x1b[<{64 if up else 65};{x + 1};{y + 1}M"
    tmux.run("send-keys", "-t", "e2e", "-H", *(f"{ord(c):02x}" for c in report))


def pane_numbers(screen: str) -> list[int]:
    """The numbers seq printed that the terminal pane shows (right of the chat's border)."""
    return [int(m.group(1)) for m in re.finditer(r"││(\d+) ", screen)]


def test_the_wheel_scrolls_the_output_back_and_forward_to_live(tmux: Tmux) -> None:
    tmux.start(f"exec {sys.executable} -m hermes_tui")
    tmux.wait_for(lambda s: "Processes" in s and "Chat" in s, "the app to start")
    tmux.type("!seq 1 500")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "exit 0" in s and "\n│" in s and "500" in s, "seq to finish")
    tmux.wait_for(lambda s: "proc_" not in s.splitlines()[-3], "the toast to go")
    screen = tmux.screen()
    assert "scrollback" not in screen
    # The terminal pane is the lower right part of the 120x36 screen.
    for _ in range(3):
        wheel(tmux, up=True, x=80, y=20)
    # 3 notches of 3 lines back from the last page (474-501), each drawn as it comes.
    screen = tmux.wait_for(lambda s: "scrollback 465-492 of 501" in s, "the position")
    assert "Esc: live" in screen
    assert pane_numbers(screen)[-1] == 492
    for _ in range(3):
        wheel(tmux, up=False, x=80, y=20)
    screen = tmux.wait_for(lambda s: "scrollback" not in s, "the live view")
    assert pane_numbers(screen)[-1] == 500
