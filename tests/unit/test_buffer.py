"""The rolling output buffer."""

from __future__ import annotations

import tracemalloc

from registry import OutputBuffer


def test_keeps_the_last_bytes_and_counts_what_it_dropped() -> None:
    buffer = OutputBuffer(limit=100)
    for n in range(50):
        buffer.append(b"line %02d\n" % n)  # 8 bytes each, 400 in all
    assert buffer.total == 400
    assert buffer.dropped == 300
    assert buffer.snapshot() == b"".join(b"line %02d\n" % n for n in range(37, 50))[-100:]
    assert buffer.dropped_lines == 37
    assert buffer.starts_mid_line
    data, omitted = buffer.since(250)
    assert omitted == 50
    assert data == buffer.snapshot()
    assert buffer.since(390) == (b"line 48\nline 49\n"[-10:], 0)


def test_one_huge_append_keeps_only_the_tail() -> None:
    buffer = OutputBuffer(limit=10)
    buffer.append(b"0123456789abcdef\n")
    assert buffer.snapshot() == b"789abcdef\n"[-10:]
    assert buffer.total == 17


def test_many_tiny_appends_stay_close_to_the_content_in_memory() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        buffers = [OutputBuffer() for _ in range(20)]
        for buffer in buffers:
            for n in range(7000):
                buffer.append(b"a short line of output number %05d\n" % n)  # ~36 bytes
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(len(b.snapshot()) == 200_000 for b in buffers)  # each one is full
    assert used < 20 * 200_000 * 1.15  # object overhead stays small


def test_reading_new_bytes_costs_what_is_new_not_the_whole_window() -> None:
    import tracemalloc

    buffer = OutputBuffer(200_000)
    for _ in range(50):
        buffer.append(b"x" * 4096 + b"\n")
    total = buffer.total
    buffer.append(b"new\n")
    assert buffer.since(total) == (b"new\n", 0)
    assert buffer.tail(4) == b"new\n"

    def peak_bytes(offset: int) -> int:
        """Memory a read allocates at its peak: what it copies (the same under any load,
        unlike a timing)."""
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            buffer.since(offset)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole, new = peak_bytes(buffer.dropped), peak_bytes(total)
    assert whole > 150_000  # the whole window is copied once
    assert new < 4_096, f"reading 4 new bytes allocated {new} bytes (the window: {whole})"
