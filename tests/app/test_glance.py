"""The truth at a glance (issue 13): status, recovery, last output, search, quit, restart,
clear, the chat input and the palette, driven with Pilot on the fake backend."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Input, Label

from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app as build_app
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.palette import palette_entries
from hermes_tui.screens.quit import QuitConfirm
from hermes_tui.settings import load_config
from hermes_tui.ui_state import UiState, load_ui_state, save_ui_state
from hermes_tui.widgets.chat import ChatMessage
from hermes_tui.widgets.process_list import COLUMNS
from registry import ProcessRegistry
from tests.app.pilot_helpers import until
from tests.fakes.backend import FakeBackend

SIZE = (120, 36)


def cell(app: HermesApp, proc_id: str, column: str) -> str:
    return str(app.main.process_list.get_cell(proc_id, column))


def style(app: HermesApp, proc_id: str) -> str:
    value = app.main.process_list.get_cell(proc_id, "status")
    assert isinstance(value, Text)
    return str(value.style).lower()


async def type_in_chat(pilot: object, text: str) -> None:
    await pilot.press("f2")  # type: ignore[attr-defined]
    for char in text:
        await pilot.press(char if char != " " else "space")  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]


async def test_status_has_its_own_text_and_colour_and_is_never_cut(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    ok = registry.spawn("true", backend="fake")
    failed = registry.spawn("false", backend="fake")
    killed = registry.spawn("sleep 60", backend="fake")
    running = registry.spawn("sleep 60", backend="fake")
    registry.set_lifetime(running.id, stop_on_quit=True)
    keeps = registry.spawn("sleep 61", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main.process_list.row_count == 5, "the rows")
        # The status column is as wide as "running" now; later labels must not be cut.
        fake.end(ok.id, 0)
        fake.end(failed.id, 3)
        await pilot.pause()
        registry.kill(killed.id)
        await until(pilot, lambda: cell(app, killed.id, "status") == "killed -15", "killed")
        await until(pilot, lambda: cell(app, failed.id, "status") == "exit 3", "exit 3")
        assert cell(app, ok.id, "status") == "exit 0"
        assert cell(app, running.id, "status") == "running"
        colours = app.get_css_variables()
        assert colours["error"].lower() in style(app, failed.id)
        assert colours["error"].lower() not in style(app, ok.id)
        assert colours["success"].lower() in style(app, running.id)
        assert colours["warning"].lower() in style(app, killed.id)
        app.theme = "hermes-light"  # the colours follow the theme
        await pilot.pause()
        assert app.get_css_variables()["error"].lower() in style(app, failed.id)
        assert len({style(app, p.id) for p in (ok, failed, killed, running)}) == 4
        table = app.main.process_list
        column = next(c for c in table.columns.values() if c.key == "status")
        assert column.content_width >= len("killed -15")
        # The lifetime is visible: what quitting does to each running process.
        assert cell(app, running.id, "quit") == "stop"
        assert cell(app, keeps.id, "quit") == "keep"
        assert cell(app, ok.id, "quit") == ""


async def test_started_from_another_shell_is_not_recovered(
    make_app: Callable[..., HermesApp],
    make_registry: Callable[..., ProcessRegistry],
    fake: FakeBackend,
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        other = make_registry()  # `hermes-tui run` in another shell
        other.use_backend(fake)
        proc = other.spawn("sleep 60", backend="fake")
        await until(pilot, lambda: app.main.process_list.row_count == 1, "the new row", 10)
        assert cell(app, proc.id, "status") == "running"


def restart_app(
    make_registry: Callable[..., ProcessRegistry], fake: FakeBackend, config_path: Path
) -> tuple[HermesApp, ProcessRegistry]:
    """A new app on the same state dir: it recovers what the last one left."""
    registry = make_registry()
    registry.use_backend(fake)
    return build_app(registry=registry, config_path=config_path, backend="fake"), registry


async def test_after_a_restart_finished_processes_show_their_output(
    make_registry: Callable[..., ProcessRegistry],
    registry: ProcessRegistry,
    fake: FakeBackend,
    config_path: Path,
) -> None:
    proc = registry.spawn("make", backend="fake")
    fake.emit(proc.id, b"compiling\nall done: 42 files\n")
    fake.end(proc.id, 0)
    app, _ = restart_app(make_registry, fake, config_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: cell(app, proc.id, "output") == "all done: 42 files",
            "the last output, read from the spool",
        )
        await until(
            pilot,
            lambda: any("all done" in line for line in app.main.terminal.screen_text()),
            "the output in the pane",
        )


async def test_away_report_has_last_lines_and_a_process_killed_from_the_cli(
    make_registry: Callable[..., ProcessRegistry],
    registry: ProcessRegistry,
    fake: FakeBackend,
    config_path: Path,
    state_dir: Path,
) -> None:
    crashed = registry.spawn("build", backend="fake")
    fake.emit(crashed.id, b"step 1\nstep 2\nerror: disk full\n")
    victim = registry.spawn("server", backend="fake")
    fake.emit(victim.id, b"listening on 8080\n")
    state = UiState()
    save_ui_state(state_dir, state)  # the app ran until now, then went away
    state.last_seen -= 1.0  # (and ended a moment before what follows)
    save_ui_state(state_dir, state, seen=False)
    fake.end(crashed.id, 3)  # ended on its own while the app was down
    cli = make_registry()  # `hermes-tui kill` from another shell while the app was down
    cli.use_backend(fake)
    cli.recover()
    cli.kill(victim.id)
    assert cli.get(victim.id).status.value == "killed"
    app, _ = restart_app(make_registry, fake, config_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, AwayScreen), "the away report")
        text = str(app.screen.query_one("#away-text").render())
        assert "error: disk full" in text and "step 2" in text
        assert victim.id in text and "killed -15" in text and "listening on 8080" in text
        assert "exit 3" in text


async def test_search_selects_scrolls_to_and_highlights_the_match(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    other = registry.spawn("sleep 60", backend="fake")
    target = registry.spawn("sleep 60", backend="fake")
    fake.emit(other.id, b"nothing here\n")
    fake.emit(
        target.id,
        b"".join(b"line %d\n" % i for i in range(300))
        + b"the needle is here\n"
        + b"".join(b"after %d\n" % i for i in range(300)),
    )
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        for key in "needle":
            await pilot.press(key)
        await pilot.press("enter", "enter")
        await until(pilot, lambda: app.main.process_list.selected_id == target.id, "select")
        await pilot.pause()
        terminal = app.main.terminal
        assert terminal.scrolled_back
        rows = terminal.screen_text()
        assert any("the needle is here" in row for row in rows), rows
        row = next(y for y, text in enumerate(rows) if "the needle is here" in text)
        strip = terminal.render_line(row)
        assert any(seg.style and seg.style.reverse for seg in strip if "needle" in seg.text)


async def test_quit_asks_and_lists_what_keeps_running_and_what_stops(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    keeps = registry.spawn("server", backend="fake", name="web")
    stops = registry.spawn("watcher", backend="fake")
    registry.set_lifetime(stops.id, stop_on_quit=True)
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, QuitConfirm)
        text = str(app.screen.query_one("#quit-text").render())
        keep_part, stop_part = text.split("Stopped now")
        assert keeps.id in keep_part and "web" in keep_part
        assert stops.id in stop_part
        await pilot.press("n")
        assert not isinstance(app.screen, QuitConfirm)
        assert app.is_running
        await pilot.press("ctrl+q", "y")
        await until(pilot, lambda: not stops.is_running, "the stop-on-quit process stopped")
    assert keeps.is_running
    assert load_ui_state(registry.state_dir).last_seen > 0


async def test_quit_without_running_processes_does_not_ask(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitConfirm)


async def test_clear_finished_rows(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    done = registry.spawn("true", backend="fake")
    fake.end(done.id, 0)
    running = registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main.process_list.row_count == 2, "the rows")
        await pilot.press("f3", "x")
        assert app.main.process_list.row_count == 1
        assert app.main.process_list.selected_id == running.id
        fake.end(running.id, 1)  # ends after the clear: shown
        await pilot.pause()
        assert app.main.process_list.row_count == 1
    again = make_app(registry)  # remembered
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.main.process_list.row_count == 1


async def test_chat_history_and_tab_completion(make_app: Callable[..., HermesApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "first")
        await type_in_chat(pilot, "second")
        field = app.main.chat.query_one("#chat-input", Input)
        for key in "dra":
            await pilot.press(key)
        await pilot.press("up")
        assert field.value == "second"
        await pilot.press("up", "up")
        assert field.value == "first"
        await pilot.press("down")
        assert field.value == "second"
        await pilot.press("down")
        assert field.value == "dra"
        field.value = ""
        for key in "/the":
            await pilot.press(key)
        await until(pilot, lambda: bool(field._suggestion), "a suggestion")
        await pilot.press("tab")
        assert field.value == "/theme "
        assert field.has_focus


async def test_double_bang_starts_without_attaching(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "!!sleep 60")
        await until(pilot, lambda: len(registry.processes()) == 1, "the process")
        (proc,) = registry.processes()
        await until(pilot, lambda: app.main.process_list.selected_id == proc.id, "select")
        assert app.main.attached_id is None
        assert proc.command == "sleep 60"
        assert any("background" in m.text for m in app.main.chat.query(ChatMessage))


async def test_palette_lists_every_action_with_its_key_once(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert len(titles) == len(set(titles)), titles
        for title, key in (
            ("Sort processes", "o"),
            ("Detach", "ctrl+^"),
            ("Interrupt the agent", "escape"),
            ("Chat sessions", "/sessions"),
            ("Clear finished processes", "x"),
            ("Backend", "/backend"),
            ("Toolsets", "/toolsets"),
            ("Restart the selected process", "r"),
        ):
            assert commands[title].startswith(key), (title, commands[title])
        assert "Keys" not in commands
        assert sorted(app.available_themes) == sorted(app.hermes_themes)


async def test_kill_by_signal_shows_the_signal(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc = registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        registry.send_signal(proc.id, signal.SIGKILL)
        await until(pilot, lambda: cell(app, proc.id, "status") == "killed -9", "killed")
        assert COLUMNS.index("status") == 1


async def test_dialogs_fit_at_80x24(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    registry.spawn("sleep 60", backend="fake")
    app = make_app(registry)
    screen_region = Region(0, 0, 80, 24)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.main.process_list.row_count == 1, "the row")
        for keys in (["f1"], ["f3", "k"], ["f3", "s"], ["f3", "r"], ["ctrl+q"], ["ctrl+f"]):
            await pilot.press(*keys)
            await pilot.pause()
            dialog = app.screen.query_one(Vertical)
            assert screen_region.contains_region(dialog.region), (keys, dialog.region)
            for label in app.screen.query(Label):
                assert screen_region.contains_region(label.region), (keys, label.region)
            if keys == ["f1"]:  # the help text is not wrapped (every line fits)
                help_text = app.screen.query_one("VerticalScroll Static")
                assert help_text.region.width >= 72
            await pilot.press("escape")
            await pilot.pause()


async def test_palette_entries_run_their_actions(make_app: Callable[..., HermesApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        for key in "Sort processes":
            await pilot.press(key if key != " " else "space")
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: app.main.process_list.sort_key == "status", "the sort")
        await pilot.press("ctrl+p")
        for key in "Chat sessions":
            await pilot.press(key if key != " " else "space")
        await pilot.pause()
        await pilot.press("enter")
        await until(
            pilot,
            lambda: any(
                "Chat sessions (/switch KEY)" in m.text for m in app.main.chat.query(ChatMessage)
            ),
            "the /sessions list",
        )


async def test_a_setting_makes_bang_start_in_the_background(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    config_path: Path,
) -> None:
    config_path.parent.mkdir(parents=True)
    config_path.write_text('[processes]\nbang = "background"\n')
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await type_in_chat(pilot, "!sleep 60")
        await until(pilot, lambda: len(registry.processes()) == 1, "the process")
        await pilot.pause()
        assert app.main.attached_id is None
        await type_in_chat(pilot, "!!cat")
        await until(pilot, lambda: app.main.attached_id is not None, "attached to cat")
    config_path.write_text('[processes]\nbang = "sometimes"\n')
    config, problems = load_config(config_path)
    assert config.processes.bang == "attach"
    assert any("'processes.bang' must be one of attach, background" in p for p in problems)


def test_palette_keys_from_the_config_are_text_not_markup() -> None:
    planted = "[@click=app.quit]x[/]"
    entries = {title: help_text for title, help_text, _ in palette_entries({"zoom": planted})}
    assert Content.from_markup(entries["Zoom pane"]).plain.startswith(planted)
