"""The app driven with Pilot: every action, asserting on state and posted messages."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input

from hermes_tui.agent.endpoint import HOW_TO_CONFIGURE as NO_AGENT_NOTICE
from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app as build_app
from hermes_tui.messages import ProcessChanged
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.confirm import Confirm
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.help import HelpScreen
from hermes_tui.screens.search import SearchScreen
from hermes_tui.widgets.chat import ChatMessage
from registry import ProcessRegistry, ProcessStatus, RecoveryReport
from tests.app.pilot_helpers import until
from tests.fakes.backend import FakeBackend

SIZE = (120, 36)


async def type_in_chat(pilot: Pilot[None], text: str) -> None:
    await pilot.press("f2")
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")


def chat_texts(app: HermesApp) -> list[str]:
    return [m.text for m in app.main.chat.query(ChatMessage)]


async def test_starts_without_a_model_and_says_how_to_configure_one(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert NO_AGENT_NOTICE in chat_texts(app)
        assert app.main.process_list.row_count == 0
        await type_in_chat(pilot, "hello agent")
        assert chat_texts(app)[-2:] == ["hello agent", NO_AGENT_NOTICE]


async def test_bang_command_attaches_types_and_detaches(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    messages: list[Message] = []
    app = make_app(registry)
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await type_in_chat(pilot, "!cat")
        await until(pilot, lambda: app.main.attached_id is not None, "attach")
        (proc,) = registry.processes()
        assert proc.pty
        assert app.main.attached_id == proc.id
        assert app.main.terminal.attached
        assert app.focused is app.main.terminal
        assert any(isinstance(m, ProcessChanged) and m.proc is proc for m in messages)
        for key in ("h", "i", "enter", "ctrl+p", "f1"):  # app keys go to the process too
            await pilot.press(key)
        await until(pilot, lambda: b"hi\r\nhi\r\n" in registry.output(proc.id), "echo")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+circumflex_accent")
        await until(pilot, lambda: app.main.attached_id is None, "detach")
        assert not app.main.terminal.attached
        # Keys reach the process in order through one queue: once it is flushed, the detach
        # key would have arrived.
        sender = app.main.input_sender
        assert sender is not None and await asyncio.to_thread(sender.flush)
        assert fake.process(proc.id).inputs == b"hi\r\x10\x1bOP"  # ctrl+p, F1 too
        assert b"\x1e" not in registry.output(proc.id)
        assert proc.is_running


async def test_kill_menu_sends_term_and_the_list_shows_it(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot.press("k")
        assert isinstance(app.screen, KillMenu)
        await pilot.press("enter")  # TERM is preselected
        await until(pilot, lambda: not proc.is_running, "the kill")
        assert proc.status is ProcessStatus.KILLED
        assert proc.kill_reason == "SIGTERM by user"
        await until(
            pilot,
            lambda: "killed" in str(app.main.process_list.get_row(proc.id)[1]),
            "the row to update",
        )


async def test_kill_menu_can_send_sigint(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "k", "up", "enter")  # INT is above TERM
        await until(pilot, lambda: not proc.is_running, "the signal")
        assert proc.exit_code == -signal.SIGINT
        assert proc.kill_reason == "SIGINT by user"


async def test_escape_cancels_the_kill_menu(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "k", "escape")
        await pilot.pause()
        assert fake.process(proc.id).signals == []  # Esc sends nothing
        assert proc.is_running
        assert not isinstance(app.screen, KillMenu)


async def test_filter_the_list(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry
) -> None:
    registry.spawn("sleep 60", name="web", backend="fake")
    registry.spawn("sleep 61", name="worker", backend="fake")
    registry.spawn("sleep 62", name="db", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert app.main.process_list.row_count == 3
        await pilot.press("slash")
        assert isinstance(app.screen, TextPrompt)
        await pilot.press("w", "enter")
        assert app.main.process_list.filter_text == "w"
        assert app.main.process_list.row_count == 2
        await pilot.press("slash", "backspace", "enter")
        assert app.main.process_list.row_count == 3


HAND_WRITTEN = b"""# my own config: comments, order and integers are mine
theme = "hermes-dark"   # dark at night

[processes]
max_wait = 600          # an integer, not 600.0
"""


async def test_theme_switch_is_remembered_without_touching_the_config(
    make_app: Callable[..., HermesApp],
    config_path: Path,
    registry: ProcessRegistry,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_bytes(HAND_WRITTEN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "/theme hermes-light")
        assert app.theme == "hermes-light"
    assert config_path.read_bytes() == HAND_WRITTEN
    state = registry.state_dir / "ui-state.json"
    assert state.stat().st_mode & 0o777 == 0o600
    again = make_app()
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "hermes-light"
    assert config_path.read_bytes() == HAND_WRITTEN


async def test_a_config_edit_made_while_the_app_ran_wins(
    make_app: Callable[..., HermesApp],
    config_path: Path,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_bytes(HAND_WRITTEN)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "/theme hermes-light")
        edited = HAND_WRITTEN.replace(
            b'"hermes-dark"',
            b'"hermes-dark" # still\ncolor = 1',
        ).replace(b"color = 1", b"")
        config_path.write_bytes(edited)  # the person edits the file meanwhile
        await type_in_chat(pilot, "/theme hermes-dark")
    assert config_path.read_bytes() == edited
    config_path.write_bytes(
        HAND_WRITTEN.replace(b'theme = "hermes-dark"', b'theme = "hermes-light"')
    )
    again = make_app()  # the config's theme changed since the app's choice: the config wins
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "hermes-light"


async def test_zoom_toggles_the_focused_pane(make_app: Callable[..., HermesApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "f5")
        assert app.main.zoomed == "processes"
        assert app.main.chat.display is False or not app.main.chat.region.area
        assert app.main.terminal.region.area == 0
        await pilot.press("f5")
        assert app.main.zoomed is None
        await pilot.press("f4", "f5")
        assert app.main.zoomed == "terminal"
        assert app.main.process_list.region.area == 0


async def test_processes_started_elsewhere_appear(
    make_app: Callable[..., HermesApp],
    make_registry: Callable[..., ProcessRegistry],
    fake: FakeBackend,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        other = make_registry()  # like `hermes-tui run` in another shell
        other.use_backend(fake)
        proc = other.spawn("sleep 60", backend="fake")
        await until(pilot, lambda: app.main.process_list.row_count == 1, "the new row", 10)
        assert app.main.process_list.selected_id == proc.id


async def test_recovery_report_is_shown(
    make_app: Callable[..., HermesApp], registry: ProcessRegistry, fake: FakeBackend
) -> None:
    ended = registry.spawn("exit 3", backend="fake")
    fake.end(ended.id, 3)
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
    make_app: Callable[..., HermesApp], registry: ProcessRegistry, fake: FakeBackend
) -> None:
    fake.emit(registry.spawn("sleep 60", backend="fake").id, b"nothing here\n")
    target = registry.spawn("sleep 60", backend="fake")
    fake.emit(target.id, b"the needle is here\n")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        assert isinstance(app.screen, SearchScreen)
        for key in "needle":
            await pilot.press(key)
        await pilot.press("enter")
        await pilot.press("enter")
        assert app.main.process_list.selected_id == target.id


async def test_rename_lifetime_restart_and_save_log(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
    tmp_path: Path,
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    fake.emit(proc.id, b"\x1b[31mlogged\x1b[0m\r\n")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "n")
        for key in "api":
            await pilot.press(key)
        await pilot.press("enter")
        assert proc.name == "api"
        await pilot.press("l")
        assert proc.stop_on_quit
        await pilot.press("s")
        prompt = app.screen
        assert isinstance(prompt, TextPrompt)
        prompt.query_one("Input").value = str(tmp_path / "api.log")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "api.log").exists(), "the saved log")
        assert (tmp_path / "api.log").read_bytes() == b"logged\n"  # plain text
        await pilot.press("s")
        assert isinstance(app.screen, TextPrompt)
        default = app.screen.query_one("Input").value  # type: ignore[attr-defined]
        assert default == str(Path.cwd() / f"{proc.id}.log")  # named in full
        app.screen.query_one("Input").value = str(tmp_path / "api.raw")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "api.raw").exists(), "the raw log")
        assert (tmp_path / "api.raw").read_bytes() == b"\x1b[31mlogged\x1b[0m\r\n"
        await pilot.press("r")
        assert isinstance(app.screen, Confirm)  # it runs: restarting kills it, so ask
        await pilot.press("y")
        fake.end(proc.id, 0)
        await until(pilot, lambda: len(registry.processes()) == 2, "the restart")
        new = registry.get("api")
        assert new is not proc
        assert new.is_running
        await until(
            pilot,
            lambda: app.main.process_list.selected_id == new.id,
            "the selection on the new process",
        )


async def test_invalid_config_is_reported_and_key_overrides_apply(
    make_app: Callable[..., HermesApp],
    config_path: Path,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text('backend = "vax"\n[keys]\nzoom = "f6"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        warnings = [m.text for m in app.main.chat.query(ChatMessage) if m.role == "warning"]
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
        chat_input = app.main.chat.query_one("#chat-input", Input)
        await until(pilot, lambda: chat_input._suggestion == "/theme dusk", "the suggestion")
        await pilot.press("right")  # accept the suggestion
        assert app.main.chat.query_one("#chat-input").value == "/theme dusk"  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert app.theme == "dusk"


async def test_an_unusable_backend_is_one_line_at_start(
    registry: ProcessRegistry,
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    config_path.parent.mkdir(parents=True)
    config_path.write_text('backend = "modal"\n')
    app = build_app(registry=registry, report=RecoveryReport(), config_path=config_path)
    async with app.run_test(size=SIZE) as pilot:

        def errors() -> list[str]:
            return [m.text for m in app.main.chat.query(ChatMessage) if m.role == "error"]

        await until(pilot, lambda: bool(errors()), "the backend's error line")
        (line,) = errors()
        assert "The modal backend cannot be used" in line and "MODAL_TOKEN_ID" in line
