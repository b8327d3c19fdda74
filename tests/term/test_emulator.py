"""The emulator: same screen as plain pyte, never raises, skips and resyncs under flood."""

from __future__ import annotations

import random
from pathlib import Path

import pyte
import pytest

from hermes_tui.term.emulator import BACKLOG_LIMIT, Emulator, FeedScheduler, replay_start
from registry import OutputBuffer

DATA = Path(__file__).parents[1] / "app" / "data"


def plain_screen(data: bytes, rows: int, cols: int) -> pyte.Screen:
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(data)
    return screen


def cells(screen: pyte.Screen) -> list[list[object]]:
    return [[screen.buffer[y][x] for x in range(screen.columns)] for y in range(screen.lines)]


STREAMS = {
    "fullscreen": (DATA / "fullscreen.bin").read_bytes(),
    "build_log": (DATA / "build_log.bin").read_bytes(),
    "wrapping": b"x" * 250 + b"\r\n" + b"abc " * 70 + b"\r\n",
    "wide": "日本語のテキスト and ascii ✓ mixed\r\n".encode() * 5,
    "no_autowrap": b"\x1b[?7l" + b"y" * 120 + b"\r\nnext\r\n",
    "insert_mode": b"hello\x1b[4h\x1b[1GXX\x1b[4l world\r\n",
    "graphics_charset": b"\x1b(0lqqk\x1b(B plain\r\n",
    "seq": b"".join(b"%d\r\n" % i for i in range(500)),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_fast_path_draws_the_same_screen_as_pyte(name: str) -> None:
    data = STREAMS[name]
    emulator = Emulator(24, 80)
    for start in range(0, len(data), 97):  # odd slices split escapes and characters
        emulator.feed(data[start : start + 97])
    expected = plain_screen(data, 24, 80)
    assert cells(emulator.screen) == cells(expected)
    assert (emulator.screen.cursor.x, emulator.screen.cursor.y) == (
        expected.cursor.x,
        expected.cursor.y,
    )


def test_malformed_sequences_never_raise() -> None:
    emulator = Emulator(24, 80)
    emulator.feed(b"\x1b[1;2;3;4;5;6K")  # pyte raises TypeError on this one
    rng = random.Random(1234)
    for _ in range(300):
        emulator.feed(bytes(rng.randrange(256) for _ in range(512)))
    emulator.feed(b"\x1b[2J\x1b[Hstill working")
    assert emulator.screen.display[0].startswith("still working")
    assert emulator.errors > 0


def test_device_status_report_is_answered() -> None:
    emulator = Emulator(24, 80)
    emulator.feed(b"\x1b[5;10H\x1b[6n")
    assert emulator.take_replies() == b"\x1b[5;10R"
    assert emulator.take_replies() == b""


def test_modes_are_tracked() -> None:
    emulator = Emulator(24, 80)
    emulator.feed(b"\x1b[?1h\x1b[?2004h\x1b[?1000h\x1b[?25l")
    assert emulator.application_cursor_keys
    assert emulator.bracketed_paste
    assert emulator.mouse_tracking
    assert not emulator.cursor_visible
    emulator.feed(b"\x1b[?1l\x1b[?2004l\x1b[?1000l\x1b[?25h")
    assert not (
        emulator.application_cursor_keys or emulator.bracketed_paste or emulator.mouse_tracking
    )
    assert emulator.cursor_visible


def test_alternate_screen_restores_the_main_screen() -> None:
    emulator = Emulator(5, 20)
    emulator.feed(b"shell prompt $ ")
    emulator.feed(b"\x1b[?1049h\x1b[Hfull-screen app")
    assert emulator.alternate_screen
    assert emulator.screen.display[0].startswith("full-screen app")
    emulator.feed(b"\x1b[?1049l")
    assert emulator.screen.display[0].startswith("shell prompt $")


def test_scheduler_skips_to_the_tail_and_resyncs() -> None:
    buffer = OutputBuffer(limit=400_000)
    buffer.append(b"old line\r\n" * 40_000)  # 400 KB backlog, far beyond what can be fed
    buffer.append(b"\x1b[2J\x1b[Hnewest screen\r\n")
    emulator = Emulator(24, 80)
    scheduler = FeedScheduler(emulator, buffer)
    assert buffer.total > BACKLOG_LIMIT
    assert scheduler.pump(1.0)
    assert scheduler.skipped > 0
    assert emulator.screen.display[0].startswith("newest screen")


def test_scheduler_feeds_in_order_without_skipping_when_it_keeps_up() -> None:
    buffer = OutputBuffer()
    emulator = Emulator(10, 40)
    scheduler = FeedScheduler(emulator, buffer)
    for n in range(5):
        buffer.append(b"line %d\r\n" % n)
        assert scheduler.pump(0.1)
    assert scheduler.skipped == 0
    assert [line.rstrip() for line in emulator.screen.display[:5]] == [
        f"line {n}" for n in range(5)
    ]


def test_replay_starts_at_the_last_screen_reset() -> None:
    data = b"a" * 1000 + b"\x1b[2J" + b"b" * 100
    assert replay_start(data) == 1000
    long = b"x\n" * 100_000
    start = replay_start(long)
    assert 0 < start < len(long)
    assert long[start - 1 : start] == b"\n"


def test_a_shorter_screen_keeps_the_cursor_line_and_what_is_typed_next_shows() -> None:
    emulator = Emulator(10, 20)
    emulator.feed(b"\r\n".join(b"line %d" % n for n in range(12)) + b"\r\nQ>ab")
    emulator.resize(9, 20)  # e.g. the process list above the pane gained a row
    emulator.feed(b"c")  # the echo of the next key
    assert emulator.cursor == (5, 8)
    rows = ["".join(cell.data for cell in emulator.line(y).values()) for y in range(9)]
    assert rows[0] == "line 4" and rows[8] == "Q>abc"
    assert 8 in emulator.take_dirty()
    emulator.resize(10, 20)
    assert "".join(cell.data for cell in emulator.line(9).values()).strip() == ""
    near_top = Emulator(10, 20)
    near_top.feed(b"top\r\nsecond")
    near_top.resize(5, 12)  # the lines below the cursor go first
    assert near_top.cursor == (6, 1)
    assert "".join(cell.data for cell in near_top.line(0).values()) == "top"
