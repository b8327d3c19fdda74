"""Room to work: the layout follows the screen size, the chat folds away, F5 zooms while
attached, and the mouse selects, attaches and scrolls back."""

from __future__ import annotations

from collections.abc import Callable

from hermes_tui.app import HermesApp
from registry import ProcessRegistry
from tests.app.pilot_helpers import until, wheel
from tests.fakes.backend import FakeBackend


def _pty_cat(registry: ProcessRegistry) -> str:
    return registry.spawn(["cat"], pty=True, backend="fake").id


async def test_a_wide_screen_gives_the_terminal_most_of_the_width(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    _pty_cat(registry)
    app = make_app(registry)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        main = app.main
        assert main.chat.size.width + 2 <= 42  # a quarter, with its border
        assert main.terminal.size.width >= 116  # was 94
        # The list takes the rows it needs (one process), the terminal the rest.
        assert main.process_list.outer_size.height <= 6
        assert main.terminal.size.height >= 38


async def test_a_narrow_screen_shows_the_chat_or_the_processes_at_full_width(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc_id = _pty_cat(registry)
    app = make_app(registry)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.main
        assert main.has_class("-narrow")
        assert main.chat.display and not main.query_one("#right").display  # focus: chat
        assert main.chat.outer_size.width == 80
        await pilot.press("f3")
        assert not main.chat.display and main.query_one("#right").display
        assert main.process_list.outer_size.width == 80
        await pilot.press("enter")
        await until(pilot, lambda: main.attached_id == proc_id, "attach")
        # The attached shell gets the width and all but the list's few rows (was 12x46).
        assert main.terminal.size.width == 78
        assert main.terminal.size.height >= 16
        await until(
            pilot,
            lambda: fake.process(proc_id).sizes[-1:] == [(main.terminal.size.height, 78)],
            "the PTY to follow the pane",
        )
        await pilot.press("ctrl+circumflex_accent")
        await pilot.press("f2")
        assert main.chat.display and not main.query_one("#right").display


async def test_the_chat_folds_away_and_comes_back(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    _pty_cat(registry)
    app = make_app(registry)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        main = app.main
        width = main.terminal.size.width
        await pilot.press("f6")
        assert not main.chat.display
        assert main.pane_of_focus() == "processes"
        assert main.terminal.size.width == 158
        assert main.terminal.size.width > width
        await pilot.press("f6")
        assert main.chat.display and main.pane_of_focus() == "chat"
        await pilot.press("f6", "f2")  # F2 brings it back too
        assert main.chat.display and main.pane_of_focus() == "chat"


async def test_f5_zooms_the_attached_terminal_and_does_not_reach_the_process(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc_id = _pty_cat(registry)
    app = make_app(registry)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("f3", "enter")
        await until(pilot, lambda: app.main.attached_id == proc_id, "attach")
        await pilot.press("f5")
        assert app.main.zoomed == "terminal"
        assert app.main.terminal.size == (118, 33)  # the footer stays
        await until(
            pilot,
            lambda: fake.process(proc_id).sizes[-1:] == [(33, 118)],
            "the PTY to take the zoomed size",
        )
        await pilot.press("x", "f5")
        assert app.main.zoomed is None
        assert app.main.attached_id == proc_id
        sender = app.main.input_sender
        assert sender is not None
        await until(pilot, lambda: fake.process(proc_id).inputs == b"x", "the x")
        assert b"\x1b[15~" not in fake.process(proc_id).inputs


async def test_a_click_selects_a_process_and_a_double_click_attaches(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    first = _pty_cat(registry)
    second = _pty_cat(registry)
    fake.emit(second, b"second's output\r\n")
    app = make_app(registry)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        main = app.main
        assert main.process_list.selected_id == first
        row = 1 + 1 + main.process_list.get_row_index(second)  # border, header
        await pilot.click("#processes", offset=(4, row))
        assert main.process_list.selected_id == second
        assert main.attached_id is None
        await until(
            pilot,
            lambda: "second's output" in "\n".join(main.terminal.screen_text()),
            "the selected process's output",
        )
        await pilot.click("#processes", offset=(4, row), times=2)
        await until(pilot, lambda: main.attached_id == second, "attach")


async def test_the_wheel_scrolls_the_processes_output_back(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc_id = _pty_cat(registry)
    fake.emit(proc_id, b"".join(b"line %d\r\n" % n for n in range(200)))
    app = make_app(registry)
    async with app.run_test(size=(120, 36)) as pilot:
        terminal = app.main.terminal
        await until(pilot, lambda: "line 199" in "\n".join(terminal.screen_text()), "output")
        await wheel(pilot, "#terminal", up=True, notches=5)
        assert terminal.scrolled_back
        assert "scrollback" in str(terminal.border_subtitle)
        assert "line 199" not in "\n".join(terminal.screen_text())
        fake.emit(proc_id, b"while scrolled back\r\n")  # the view stays where it is
        await pilot.pause()
        assert terminal.scrolled_back
        await wheel(pilot, "#terminal", up=False, notches=5)
        assert not terminal.scrolled_back
        await until(
            pilot,
            lambda: "while scrolled back" in "\n".join(terminal.screen_text()),
            "the live view with the new line",
        )


async def test_output_while_the_terminal_is_zoomed_away_shows_when_it_comes_back(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc_id = _pty_cat(registry)
    app = make_app(registry)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        main = app.main
        await pilot.press("f2", "f5")  # the chat full-screen: the terminal is hidden
        assert main.zoomed == "chat" and not main.terminal.region.area
        fake.emit(proc_id, b"printed while hidden\r\n")
        await pilot.press("f5")
        await until(
            pilot,
            lambda: "printed while hidden" in "\n".join(main.terminal.screen_text()),
            "the output once the pane is back",
        )
