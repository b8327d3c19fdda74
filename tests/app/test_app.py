"""The app driven with Pilot: every action, asserting on state and posted messages."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

from textual.message import Message
from textual.pilot import Pilot

from hermes_tui.app import NO_AGENT_NOTICE, HermesApp
from hermes_tui.messages import ProcessChanged
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.help import HelpScreen
from hermes_tui.screens.search import SearchScreen
from hermes_tui.widgets.chat import ChatMessage
from registry import ProcessRegistry, ProcessStatus, RecoveryReport
from tests.app.pilot_helpers import until

SIZE = (120, 36)


async def type_in_chat(pilot: Pilot[None], text: str) -> None:
    await pilot.press("f2")
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")


def chat_texts(app: HermesApp) -> list[str]:
    return [m.text for m in app.chat.query(ChatMessage)]


async def test_starts_without_a_model_and_says_how_to_configure_one(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert NO_AGENT_NOTICE in chat_texts(app)
        assert app.process_list.row_count == 0
        await type_in_chat(pilot, "hello agent")
        assert chat_texts(app)[-2:] == ["hello agent", NO_AGENT_NOTICE]


async def test_bang_command_attaches_types_and_detaches(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    messages: list[Message] = []
    app = make_app(registry)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await type_in_chat(pilot, "!cat")
        await until(pilot, lambda: app.attached_id is not None, "attach")
        (session,) = registry.processes()
        assert session.pty
        assert app.attached_id == session.id
        assert app.terminal.attached
        assert app.focused is app.terminal
        assert any(isinstance(m, ProcessChanged) and m.session is session for m in messages)
        for key in ("h", "i", "enter", "ctrl+p", "f1"):  # app keys go to the process too
            await pilot.press(key)
        await until(pilot, lambda: b"hi\r\nhi\r\n" in registry.output(session.id), "echo")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+circumflex_accent")
        await until(pilot, lambda: app.attached_id is None, "detach")
        assert not app.terminal.attached
        await pilot.pause(0.2)
        assert b"\x1e" not in registry.output(session.id)
        assert session.is_running


async def test_kill_menu_sends_term_and_the_list_shows_it(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    session = registry.spawn("sleep 60")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.press("k")
        assert isinstance(app.screen, KillMenu)
        await pilot.press("enter")  # TERM is preselected
        await until(pilot, lambda: not session.is_running, "the kill")
        assert session.status is ProcessStatus.KILLED
        assert session.kill_reason == "SIGTERM by user"
        await until(
            pilot,
            lambda: "killed" in str(app.process_list.get_row(session.id)[1]),
            "the row to update",
        )


async def test_kill_menu_can_send_sigint(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    session = registry.spawn("sleep 60")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "k", "up", "enter")  # INT is above TERM
        await until(pilot, lambda: not session.is_running, "the signal")
        assert session.exit_code == -signal.SIGINT
        assert session.kill_reason == "SIGINT by user"


async def test_escape_cancels_the_kill_menu(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    session = registry.spawn("sleep 60")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "k", "escape")
        await pilot.pause(0.3)
        assert session.is_running
        assert not isinstance(app.screen, KillMenu)


async def test_filter_the_list(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry
) -> None:
    registry.spawn("sleep 60", name="web")
    registry.spawn("sleep 61", name="worker")
    registry.spawn("sleep 62", name="db")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert app.process_list.row_count == 3
        await pilot.press("slash")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press("w", "enter")
        assert app.process_list.filter_text == "w"
        assert app.process_list.row_count == 2
        await pilot.press("slash", "backspace", "enter")
        assert app.process_list.row_count == 3


async def test_theme_switch_is_remembered(
    make_app: Callable[..., HermesApp], config_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "/theme hermes-light")
        assert app.theme == "hermes-light"
    assert 'theme = "hermes-light"' in config_path.read_text()
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "hermes-light"


async def test_zoom_toggles_the_focused_pane(make_app: Callable[..., HermesApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "f5")
        assert app.main.zoomed == "processes"
        assert app.chat.display is False or not app.chat.region.area
        assert app.terminal.region.area == 0
        await pilot.press("f5")
        assert app.main.zoomed is None
        await pilot.press("f4", "f5")
        assert app.main.zoomed == "terminal"
        assert app.process_list.region.area == 0


async def test_processes_started_elsewhere_appear(
    make_app: Callable[..., HermesApp],
    make_registry: Callable[..., ProcessRegistry],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        other = make_registry()  # like `hermes-tui run` in another shell
        session = other.spawn("sleep 60")
        await until(pilot, lambda: app.process_list.row_count == 1, "the new row", 10)
        assert app.process_list.selected_id == session.id


async def test_recovery_report_is_shown(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry
) -> None:
    ended = registry.spawn("exit 3")
    registry.wait(ended.id, 10)
    report = RecoveryReport(ended=[ended])
    app = make_app(registry, report)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AwayScreen)
        assert "Ended while hermes-tui was not running" in str(
            app.screen.query_one("#away-text").render()
        )
        await pilot.press("escape")
        assert any("Recovered from the previous run" in t for t in chat_texts(app))


async def test_help_and_palette(make_app: Callable[..., HermesApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        commands = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Attach to the selected process",
            "Kill / send a signal",
            "Filter processes",
            "Search all output",
            "Zoom pane",
        ):
            assert title in commands


async def test_search_jumps_to_the_process(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry
) -> None:
    registry.spawn("echo nothing here; sleep 60")
    target = registry.spawn("echo the needle is here; sleep 60")
    await asyncio.sleep(0.3)
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        assert isinstance(app.screen, SearchScreen)
        for key in "needle":
            await pilot.press(key)
        await pilot.press("enter")
        await pilot.press("enter")
        assert app.process_list.selected_id == target.id


async def test_rename_lifetime_restart_and_save_log(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    tmp_path: Path,
) -> None:
    session = registry.spawn("echo logged; sleep 60")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "n")
        for key in "api":
            await pilot.press(key)
        await pilot.press("enter")
        assert session.name == "api"
        await pilot.press("l")
        assert session.stop_on_quit
        await pilot.press("s")
        prompt = app.screen
        assert isinstance(prompt, TextPrompt)
        prompt.query_one("Input").value = str(tmp_path / "api.log")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "api.log").exists(), "the saved log")
        assert (tmp_path / "api.log").read_bytes() == b"logged\n"
        await pilot.press("r")
        await until(
            pilot, lambda: not session.is_running and len(registry.processes()) == 2, "the restart"
        )
        new = registry.get("api")
        assert new is not session
        assert new.is_running


async def test_invalid_config_is_reported_and_key_overrides_apply(
    make_app: Callable[..., HermesApp],
    config_path: Path,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text('backend = "vax"\n[keys]\nzoom = "f6"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        warnings = [m.text for m in app.chat.query(ChatMessage) if m.role == "warning"]
        assert len(warnings) == 1
        assert str(config_path) in warnings[0]
        assert "'backend'" in warnings[0]
        await pilot.press("f3", "f6")
        assert app.main.zoomed == "processes"
        await pilot.press("f5")  # no longer bound to zoom
        assert app.main.zoomed == "processes"


async def test_slash_commands_complete_with_theme_names(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        for key in "/theme du":
            await pilot.press(key if key != " " else "space")
        await pilot.pause(0.2)
        await pilot.press("right")  # accept the suggestion
        assert app.chat.query_one("#chat-input").value == "/theme dusk"  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert app.theme == "dusk"
