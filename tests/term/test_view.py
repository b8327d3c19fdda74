"""The terminal pane in a tiny app: rendering, dirty-line updates, attached input."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.message import Message

from hermes_tui.term.view import TerminalView
from registry import OutputBuffer
from tests.app.pilot_helpers import until, wheel

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
        await until(pilot, lambda: view.screen_text()[0].startswith(" hermes-top"), "paint")
        lines = view.screen_text()
        assert lines[0].startswith(" hermes-top  load 0.42")
        assert "python3 -m http.server" in lines[8]
        assert lines[23].startswith("F1Help F10Quit")
        buffer.append(b"\x1b[9;1Hreplaced row\x1b[K")
        view.output_arrived(buffer)  # what the registry bridge does
        await until(pilot, lambda: view.screen_text()[8].startswith("replaced row"), "update")


async def test_a_plain_process_is_shown_as_a_log() -> None:
    buffer = OutputBuffer()
    buffer.append(b"".join(b"\x1b[32mline %d\x1b[0m\n" % n for n in range(100)))
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=False)
        await until(pilot, lambda: view.screen_text()[-1].strip() == "line 99", "the log")
        buffer.append(b"line 100\n")
        view.output_arrived(buffer)  # what the registry bridge does
        await until(pilot, lambda: view.screen_text()[-1].strip() == "line 100", "new line")


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
        await until(pilot, lambda: "entry 299" in "\n".join(view.screen_text()), "paint")
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
        view.output_arrived(buffer)  # what the registry bridge does
        emulator = view.emulator
        assert emulator is not None
        await until(pilot, lambda: emulator.mouse_tracking, "mouse mode")
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
        await until(pilot, lambda: "second line" in "\n".join(view.screen_text()), "paint")
        await pilot.press("c")
        assert app.clipboard == "first line\nsecond line"


async def test_only_output_of_the_shown_buffer_wakes_the_pane_once_per_feed() -> None:
    messages: list[Message] = []
    shown, other = OutputBuffer(), OutputBuffer()
    app = TermApp()
    async with app.run_test(size=(40, 12), message_hook=messages.append) as pilot:
        view = app.query_one(TerminalView)
        view.show(shown, pty=True)
        await pilot.pause()
        assert not [t for t in view._timers if t._active.is_set()], "no timer runs at rest"
        other.append(b"not shown\r\n")
        view.output_arrived(other)
        for n in range(50):  # a burst of reads before the UI runs: one wake-up
            shown.append(b"line %d\r\n" % n)
            view.output_arrived(shown)
        await until(pilot, lambda: "line 49" in "\n".join(view.screen_text()), "the burst")
        assert sum(isinstance(m, TerminalView.Output) for m in messages) == 1
        assert "not shown" not in "\n".join(view.screen_text())
        shown.append(b"echo\r\n")
        view.output_arrived(shown)
        await until(pilot, lambda: "echo" in "\n".join(view.screen_text()), "the echo")
        assert sum(isinstance(m, TerminalView.Output) for m in messages) == 2


async def test_the_wheel_scrolls_back_with_a_position_and_forward_to_live() -> None:
    buffer = OutputBuffer()
    buffer.append(b"".join(b"entry %d\r\n" % n for n in range(300)))
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        await until(pilot, lambda: "entry 299" in "\n".join(view.screen_text()), "paint")
        assert view.border_subtitle == ""
        await wheel(pilot, TerminalView, up=True, notches=2)
        assert view.scroll_position == (301 - 10 - 6, 301)  # 300 lines and the empty last
        assert view.screen_text()[-1].strip() == "entry 294"
        assert str(view.border_subtitle) == "scrollback 286-295 of 301 (98%) · Esc: live"
        await wheel(pilot, TerminalView, up=False)
        assert view.screen_text()[-1].strip() == "entry 297"
        await wheel(pilot, TerminalView, up=False)
        assert not view.scrolled_back and view.border_subtitle == ""
        assert "entry 299" in "\n".join(view.screen_text())


async def test_the_wheel_goes_to_a_program_that_asked_for_the_mouse() -> None:
    sent: list[bytes] = []
    buffer = OutputBuffer()
    buffer.append(b"\x1b[?1000h\x1b[?1006h")
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.send = sent.append
        view.show(buffer, pty=True)
        view.attached = True
        await wheel(pilot, TerminalView, up=True, offset=(3, 2))
        assert sent == [b"\x1b[<64;3;2M"]
        assert not view.scrolled_back


async def test_a_drag_selects_a_region_and_copies_it() -> None:
    buffer = OutputBuffer()
    buffer.append(b"alpha beta gamma\r\ndelta epsilon\r\nzeta eta theta\r\n")
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.show(buffer, pty=True)
        await until(pilot, lambda: "theta" in "\n".join(view.screen_text()), "paint")
        # Offsets are from the widget's corner: the border is one cell.
        await pilot.mouse_down(TerminalView, offset=(7, 1))  # the b of beta
        await pilot.hover(TerminalView, offset=(5, 3))  # the a of zeta
        await pilot.mouse_up(TerminalView, offset=(5, 3))
        assert app.clipboard == "beta gamma\ndelta epsilon\nzeta"
        assert view.selected_text == "beta gamma\ndelta epsilon\nzeta"
        line = view.render_line(0)
        reversed_text = "".join(s.text for s in line if s.style and s.style.reverse)
        assert reversed_text.rstrip() == "beta gamma"  # to the end of the first line
        await pilot.press("c")  # c copies the selection while there is one
        assert app.clipboard == "beta gamma\ndelta epsilon\nzeta"
        await pilot.click(TerminalView, offset=(2, 2))  # a click clears it
        assert view.selected_text == ""


async def test_output_shown_while_the_pane_had_no_size_is_replayed_when_it_gets_one() -> None:
    buffer = OutputBuffer()
    buffer.append(b"\x1b[2J\x1b[Hfirst row\r\nsecond row\r\n")
    app = TermApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(TerminalView)
        view.display = False
        await pilot.pause()
        assert view.size.area == 0
        view.show(buffer, pty=True)  # as the app does when the layout hides the pane
        view.display = True
        await until(
            pilot,
            lambda: view.screen_text()[:2] == ["first row".ljust(38), "second row".ljust(38)],
            "the replay at the pane's size",
        )
