"""Replaying a process's buffer restores the terminal modes its program set (issue 13)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from hermes_tui.term.emulator import Emulator, FeedScheduler
from hermes_tui.term.view import TerminalView
from registry import OutputBuffer
from registry.buffer import scan_modes
from tests.app.pilot_helpers import until

# What a full-screen program (vim, htop, less) sends first: the alternate screen, a hidden
# cursor, application cursor keys, bracketed paste, SGR mouse reports; then it clears the
# screen, which is where a replay starts.
STARTUP = b"\x1b[?1049h\x1b[?25l\x1b[?1h\x1b[?2004h\x1b[?1000;1006h"
FRAME = b"\x1b[H\x1b[2J\x1b[1;1Hfull-screen title\x1b[5;1Hbody line"


def assert_full_screen_modes(emulator: Emulator) -> None:
    assert emulator.alternate_screen
    assert not emulator.cursor_visible
    assert emulator.application_cursor_keys
    assert emulator.bracketed_paste
    assert emulator.mouse_tracking and emulator.mouse_sgr


def test_a_replay_from_after_the_alt_screen_switch_keeps_the_modes() -> None:
    buffer = OutputBuffer()
    buffer.append(b"$ vim notes.txt\r\n" + STARTUP + FRAME)
    emulator = Emulator(24, 80)
    scheduler = FeedScheduler(emulator, buffer)
    scheduler.replay()
    assert_full_screen_modes(emulator)
    assert "".join(c.data for c in emulator.line(0).values()).startswith("full-screen title")
    # The program quits: the shell's screen comes back, with its cursor.
    buffer.append(b"\x1b[?1049l\x1b[?25h\x1b[?1l")
    scheduler.pump(1.0)
    assert not emulator.alternate_screen and emulator.cursor_visible
    assert not emulator.application_cursor_keys


def test_modes_set_in_output_the_buffer_dropped_are_still_restored() -> None:
    buffer = OutputBuffer(limit=4096)
    buffer.append(b"$ htop\r\n" + STARTUP)
    for n in range(200):  # long enough that the start-up sequences leave the buffer
        buffer.append(FRAME + b" %d" % n)
    assert b"\x1b[?1049h" not in buffer.snapshot()
    emulator = Emulator(24, 80)
    FeedScheduler(emulator, buffer).replay()
    assert_full_screen_modes(emulator)


def test_a_mode_sequence_cut_by_the_drop_is_not_lost() -> None:
    switch = b"\x1b[?1049h"
    for cut in range(1, len(switch) + 1):
        buffer = OutputBuffer(limit=100)
        buffer.append(b"x" * 50 + switch + b"y" * 42)
        buffer.append(b"z" * (50 + cut))  # drops the x's and `cut` bytes of the switch
        emulator = Emulator(24, 80)
        FeedScheduler(emulator, buffer).replay()
        assert emulator.alternate_screen, cut


def test_scan_modes_carries_an_unfinished_sequence() -> None:
    modes: dict[int, bool] = {}
    carry = scan_modes(modes, b"text\x1b[?10")
    assert carry == b"\x1b[?10" and modes == {}
    assert scan_modes(modes, carry + b"49h\x1b[?25l\x1b[0m") == b""
    assert modes == {1049: True, 25: False}
    assert scan_modes(modes, b"\x1b[?12345h") == b"" and 12345 not in modes


def test_a_flood_skipped_past_mode_changes_keeps_them() -> None:
    buffer = OutputBuffer(limit=64 * 1024)
    emulator = Emulator(24, 80)
    scheduler = FeedScheduler(emulator, buffer)
    buffer.append(b"log line\r\n" * 10)
    scheduler.pump(1.0)
    # More than the buffer holds arrives before the next feed: the switch is dropped.
    buffer.append(STARTUP + FRAME * 3000)
    scheduler.pump(1.0)
    assert scheduler.skipped > 0
    assert_full_screen_modes(emulator)


class TermApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(id="terminal")


async def test_the_pane_replays_a_full_screen_program_in_its_modes() -> None:
    buffer = OutputBuffer()
    buffer.append(b"$ vim\r\n" + STARTUP + FRAME)
    app = TermApp()
    async with app.run_test(size=(82, 26)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        await until(pilot, lambda: view.screen_text()[0].startswith("full-screen"), "replay")
        assert view.emulator is not None
        assert_full_screen_modes(view.emulator)
        sent: list[bytes] = []
        view.send = sent.append
        view.attached = True
        view.focus()
        await pilot.press("up")
        await pilot.pause()
        assert sent == [b"\x1bOA"]  # application cursor keys survived the replay


def test_a_buffer_refilled_after_a_restart_keeps_the_modes_of_what_came_before() -> None:
    buffer = OutputBuffer()
    buffer.preload(FRAME * 10, start_offset=5000, start_line=None, earlier=b"$ top\r\n" + STARTUP)
    emulator = Emulator(24, 80)
    FeedScheduler(emulator, buffer).replay()
    assert_full_screen_modes(emulator)
