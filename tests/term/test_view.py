"""The terminal pane in a tiny app: rendering, dirty-line updates, attached input."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.message import Message

from hermes_tui.term.view import TerminalView
from registry import OutputBuffer

DATA = Path(__file__).parents[1] / "app" / "data"


class TermApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(id="terminal")


async def test_shows_a_full_screen_program_and_follows_new_output() -> None:
    buffer = OutputBuffer()
    buffer.append((DATA / "fullscreen.bin").read_bytes())
    app = TermApp()
    async with app.run_test(size=(82, 26)) as pilot:  # 80x24 inside the border
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        await pilot.pause(0.1)
        lines = view.screen_text()
        assert lines[0].startswith(" hermes-top  load 0.42")
        assert "python3 -m http.server" in lines[8]
        assert lines[23].startswith("F1Help F10Quit")
        buffer.append(b"\x1b[9;1Hreplaced row\x1b[K")
        await pilot.pause(0.15)
        assert view.screen_text()[8].startswith("replaced row")


async def test_a_plain_process_is_shown_as_a_log() -> None:
    buffer = OutputBuffer()
    buffer.append(b"".join(b"\x1b[32mline %d\x1b[0m\n" % n for n in range(100)))
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=False)
        await pilot.pause(0.1)
        assert view.screen_text()[-1].strip() == "line 99"
        buffer.append(b"line 100\n")
        await pilot.pause(0.15)
        assert view.screen_text()[-1].strip() == "line 100"


async def test_attached_keys_go_to_the_process_and_the_detach_key_does_not() -> None:
    sent: list[bytes] = []
    messages: list[Message] = []
    buffer = OutputBuffer()
    app = TermApp()
    async with app.run_test(size=(40, 12), message_hook=messages.append) as pilot:
        view = app.query_one(TerminalView)
        view.send = sent.append
        view.show(buffer, pty=True)
        view.attached = True
        view.focus()
        await pilot.press("l", "s", "enter", "ctrl+c", "up", "tab")
        await pilot.press("ctrl+circumflex_accent")
        await pilot.pause()
        assert sent == [b"l", b"s", b"\r", b"\x03", b"\x1b[A", b"\t"]
        assert any(isinstance(m, TerminalView.DetachRequested) for m in messages)


async def test_application_cursor_mode_changes_arrow_keys() -> None:
    sent: list[bytes] = []
    buffer = OutputBuffer()
    buffer.append(b"\x1b[?1h")
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.send = sent.append
        view.show(buffer, pty=True)
        view.attached = True
        view.focus()
        await pilot.press("down")
        assert sent == [b"\x1bOB"]


async def test_scrollback_and_search() -> None:
    buffer = OutputBuffer()
    buffer.append(b"".join(b"entry %d\r\n" % n for n in range(300)))
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        view.focus()
        await pilot.pause(0.1)
        assert "entry 299" in "\n".join(view.screen_text())
        await pilot.press("pageup")
        assert view.scrolled_back
        assert "entry 299" not in "\n".join(view.screen_text())
        await pilot.press("escape")
        assert not view.scrolled_back
        assert view.search("entry 42")
        assert any(line.strip() == "entry 42" for line in view.screen_text())


async def test_resize_is_reported() -> None:
    messages: list[Message] = []
    app = TermApp()
    async with app.run_test(size=(60, 20), message_hook=messages.append) as pilot:
        view = app.query_one(TerminalView)
        view.show(OutputBuffer(), pty=True)
        await pilot.resize_terminal(70, 25)
        await pilot.pause()
        sizes = [(m.rows, m.cols) for m in messages if isinstance(m, TerminalView.Resized)]
        assert sizes[-1] == (23, 68)
        assert view.emulator is not None
        assert (view.emulator.rows, view.emulator.cols) == (23, 68)


async def test_mouse_is_reported_only_when_the_program_asks() -> None:
    sent: list[bytes] = []
    buffer = OutputBuffer()
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.send = sent.append
        view.show(buffer, pty=True)
        view.attached = True
        view.focus()
        await pilot.click(TerminalView, offset=(5, 3))
        assert sent == []
        buffer.append(b"\x1b[?1000h\x1b[?1006h")
        await pilot.pause(0.1)
        await pilot.click(TerminalView, offset=(5, 3))
        # The widget's border is one cell: offset (5, 3) is cell (4, 2), reported 1-based.
        assert sent == [b"\x1b[<0;5;3M", b"\x1b[<0;5;3m"]


async def test_copy_puts_the_screen_on_the_clipboard() -> None:
    buffer = OutputBuffer()
    buffer.append(b"first line\r\nsecond line\r\n")
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        view.focus()
        await pilot.pause(0.1)
        await pilot.press("c")
        assert app.clipboard == "first line\nsecond line"
