"""``hermes-tui attach``: the current terminal becomes the process's terminal until detach."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import sys
import termios
import tty
from types import FrameType

from hermes_tui.term.keys import DetachKey
from registry import Process, ProcessExited, ProcessOutput, ProcessRegistry, RegistryError
from registry.events import RegistryEvent

REPLAY_BYTES = 16_384
# Leave the terminal as we found it, whatever the program switched on.
_RESET_MODES = b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[0m"


def _replay(data: bytes) -> bytes:
    """The tail of the output to show on attach, starting at a line boundary."""
    if len(data) <= REPLAY_BYTES:
        return data
    tail = data[-REPLAY_BYTES:]
    newline = tail.find(b"\n")
    return tail[newline + 1 :] if newline >= 0 else tail


def attach(registry: ProcessRegistry, proc: Process, detach_key: DetachKey) -> int:
    """Attach the controlling terminal to ``proc`` until the detach key or its end.

    Returns the exit status for the CLI (0 on detach or after the process ended).

    Raises:
        RegistryError: when the process cannot be attached to.
    """
    if not proc.pty:
        raise RegistryError(
            f"process {proc.id} has no terminal (it was not started with --pty); use "
            f"'hermes-tui logs -f {proc.id}' and 'hermes-tui send {proc.id} TEXT'"
        )
    if not proc.is_running:
        raise RegistryError(f"process {proc.id} is not running ({proc.status.value})")
    if not os.isatty(0) or not os.isatty(1):
        raise RegistryError("attach needs a terminal on stdin and stdout")

    events: queue.SimpleQueue[RegistryEvent] = queue.SimpleQueue()
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def on_event(event: RegistryEvent) -> None:
        if event.proc is proc:
            events.put(event)
            with contextlib.suppress(BlockingIOError):
                os.write(wake_w, b"e")

    def on_winch(_sig: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(wake_w, b"w")

    unsubscribe = registry.subscribe(on_event)
    shown = proc.output.total
    saved = termios.tcgetattr(0)
    old_winch = signal.signal(signal.SIGWINCH, on_winch)
    ended = False
    try:
        # Raw before the banner, and without flushing: keys typed as soon as the banner shows
        # are neither echoed by the line discipline nor discarded by a later TCSAFLUSH.
        tty.setraw(0, termios.TCSANOW)
        _resize_to_terminal(registry, proc)
        os.write(1, f"[attached to {proc.id}; {detach_key.spec} detaches]\r\n".encode())
        os.write(1, _replay(proc.output.snapshot()))
        while not ended:
            ready, _, _ = select.select([0, wake_r], [], [])
            if 0 in ready:
                data = os.read(0, 4096)
                if not data:
                    break
                before, hit, _ = data.partition(detach_key.byte)
                if before:
                    registry.write(proc.id, before)
                if hit:
                    break
            if wake_r in ready:
                marks = os.read(wake_r, 4096)
                if b"w" in marks:
                    _resize_to_terminal(registry, proc)
                while not events.empty():
                    event = events.get()
                    if isinstance(event, ProcessOutput) and event.end > shown:
                        os.write(1, event.data[max(0, len(event.data) - (event.end - shown)) :])
                        shown = event.end
                    elif isinstance(event, ProcessExited):
                        ended = True
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old_winch)
        unsubscribe()
        os.close(wake_r)
        os.close(wake_w)
        os.write(1, _RESET_MODES)
    if ended:
        code = proc.exit_code
        sys.stdout.write(
            f"\r\n[{proc.id} {proc.status.value}{'' if code is None else f' with code {code}'}]\r\n"
        )
    else:
        sys.stdout.write(f"\r\n[detached from {proc.id}; it keeps running]\r\n")
    sys.stdout.flush()
    return 0


def _resize_to_terminal(registry: ProcessRegistry, proc: Process) -> None:
    size = os.get_terminal_size(1)
    with contextlib.suppress(RegistryError):
        registry.resize(proc.id, size.lines, size.columns)
