"""Skipping plain text that scrolls off the screen gives the screen feeding all of it gives."""

from __future__ import annotations

import random

import pytest

from hermes_tui.term.emulator import Emulator, FeedScheduler
from registry import OutputBuffer


def state(emulator: Emulator) -> tuple[object, ...]:
    screen = emulator.screen
    cells = [[screen.buffer[y][x] for x in range(emulator.cols)] for y in range(emulator.rows)]
    return cells, screen.cursor.x, screen.cursor.y, screen.cursor.attrs


def plain_lines(rng: random.Random, count: int) -> bytes:
    words = ["alpha", "日本語", "tab\there", "back\x08space", "bell\x07", "x" * 130]
    words += ["\x1b[1;32mgreen", "\x1b[0m", "\x1b[38;5;208morange", "\x1b[m"]
    return b"".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))).encode() + b"\r\n"
        for _ in range(count)
    )


@pytest.mark.parametrize("seed", range(8))
def test_fast_forward_draws_the_screen_feeding_everything_draws(seed: int) -> None:
    rng = random.Random(seed)
    before = b"\x1b[2J\x1b[5;3H\x1b[1;31mred text\x1b[10;1Hlower line\x1b[3;7H"
    after = b"\x1b[32mgreen\x1b[0m tail\r\nlast line without end"
    data = plain_lines(rng, rng.randint(60, 400)) + after
    full, fast = Emulator(24, 80), Emulator(24, 80)
    for emulator in (full, fast):
        emulator.feed(before)
    full.feed(data)
    skip = fast.fast_forward(data)
    assert skip > 0
    fast.feed(data[skip:])
    assert state(fast) == state(full)


def test_text_that_does_more_than_print_is_fed_whole() -> None:
    lines = b"".join(b"line %d\r\n" % n for n in range(200))
    emulator = Emulator(24, 80)
    assert emulator.fast_forward(lines[:100] + b"\x1b[31m" + lines) > 0  # a colour is fine
    assert emulator.fast_forward(lines[:100] + b"\x1b[1A" + lines) == 0  # a cursor move is not
    assert emulator.fast_forward(lines.replace(b"\r\n", b"\n")) == 0  # bare line feeds
    assert emulator.fast_forward(b"\x0e" + lines) == 0  # a charset shift
    emulator.feed(b"\x1b[2;20r")  # scroll margins: lines outside them stay
    assert emulator.fast_forward(lines) == 0


def test_a_seq_flood_is_followed_in_a_few_lines_of_work() -> None:
    buffer = OutputBuffer()
    emulator = Emulator(46, 118)
    scheduler = FeedScheduler(emulator, buffer)
    buffer.append(b"".join(b"%d\r\n" % n for n in range(1, 20001)))
    assert scheduler.pump(0.5)
    assert scheduler.skipped > 100_000
    bottom = "".join(cell.data for cell in emulator.line(44).values()).strip()
    assert bottom == "20000"
