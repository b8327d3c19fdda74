"""Untrusted text is only text: a corpus of hostile strings through every place text appears.

Each string must be shown literally (control characters as visible symbols), never parsed as
markup, never run an action and never reach the outer terminal as an escape sequence.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Collapsible, Label, OptionList, Static

from hermes_tui.app import HermesApp
from hermes_tui.screens.away import AwayScreen
from hermes_tui.screens.confirm import Confirm
from hermes_tui.screens.dialogs import KillMenu, TextPrompt
from hermes_tui.screens.search import SearchScreen
from hermes_tui.untrusted import ansi_text, plain
from hermes_tui.widgets.chat import ChatMessage
from hermes_tui.widgets.process_list import COLUMNS
from registry import Process, ProcessRegistry, ProcessStatus, RecoveryReport
from registry.text import printable
from tests.app.pilot_helpers import until
from tests.fakes.backend import FakeBackend

SIZE = (160, 48)
CLICK = "[@click=app.quit]Q[/]"
HOSTILE = [
    f"[bold]B[/bold] {CLICK}",
    "[x=",
    "[/]",
    "[link=https://example.invalid]x[/link] [",
    "$name $(id) `id` {braces} %s",
    "\x1b]52;c;aGVsbG8=\x07 clipboard",
    "\x1b]0;pwned title\x07 title",
    "\x1b[31mred\x1b[0m \x1b[2J\x1b[H clear",
    "nul\x00 bell\x07 bs\x08 del\x7f cr\r",
    "c1 \x9b31m \x85 \x90dcs\x9c",
    b"bad utf8 \xff\xfe\xc3".decode("utf-8", "surrogateescape"),
    "wide 宽字符 \uff57\uff49\uff44\uff45, combining e\u0301\u0302",
    "rtl \u202eevil\u202c مرحبا עברית",
]
HUGE = "x" * 1_000_000
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: str) -> str:
    """What the corpus string must look like on screen (first 40 characters suffice)."""
    return printable(text)[:40]


def rendered_text(widget: Widget) -> str:
    """The plain text a widget draws (Static, Label, Collapsible title...)."""
    visual = widget.render()
    return str(getattr(visual, "plain", visual))


def assert_nothing_escapes(app: HermesApp) -> None:
    """No control character reaches the screen (so none reaches the outer terminal)."""
    svg = app.export_screenshot()
    bad = _FORBIDDEN.findall(svg.replace("\n", ""))
    assert not bad, f"control characters on screen: {bad[:5]!r}"


def test_printable_makes_every_control_visible() -> None:
    for text in [*HOSTILE, HUGE[:100]]:
        out = printable(text)
        assert not _FORBIDDEN.search(out.replace("\n", "").replace("\t", ""))
        assert "\u202e" not in out
        out.encode("utf-8")  # no lone surrogates left
    assert printable("a\x1bb") == "a\u241bb"
    assert printable("[bold]x[/]") == "[bold]x[/]"
    assert plain(CLICK).plain == CLICK  # not parsed
    assert ansi_text("\x1b[31mred\x1b]52;c;eA==\x07\x1b[0m").plain == "red"
    assert printable(HUGE, limit=10).endswith("999990 more characters not shown")


async def test_chat_messages_and_tool_blocks_show_hostile_text_literally(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for text in HOSTILE:
            for role in ("user", "assistant", "notice", "warning", "error"):
                app.main.conversation.say(text, role)
            app.main.chat.add_tool_call(text, '{"command": "' + text + '"}', text)
        app.main.conversation.say(HUGE, "assistant")
        streamed = app.main.chat.add("", "assistant")
        for text in HOSTILE:
            streamed.append(text)
        await pilot.pause()
        messages = list(app.main.chat.query(ChatMessage))
        for text in HOSTILE:
            assert any(shown(text) in rendered_text(m) for m in messages), text
        titles = [
            rendered_text(c.query_one("CollapsibleTitle")) for c in app.main.chat.query(Collapsible)
        ]
        for text in HOSTILE:
            assert any(shown(text)[:20] in t for t in titles), text
        for block in app.main.chat.query(Collapsible):
            block.collapsed = False
        await pilot.pause()
        assert_nothing_escapes(app)
        # a click on every cell of a message where a planted [@click] link would be
        app.main.chat.clear()
        target = app.main.chat.add(CLICK, "assistant")
        # Removing and mounting are asynchronous: the old messages may still be above it.
        await until(
            pilot,
            lambda: (
                list(app.main.chat.log_view.children) == [target]
                and target.region.height > 0
                and app.screen.region.contains_region(target.region)
            ),
            "the message alone on screen",
        )
        for x in range(len(CLICK) + 2):
            await pilot.click(target, offset=(x, 0))
        assert app.is_running
        (huge,) = [m for m in messages if m.text == HUGE]
        assert len(rendered_text(huge)) < 30_000  # drawn cut, kept whole


async def test_process_list_titles_dialogs_and_search_show_hostile_text_literally(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
    fake: FakeBackend,
) -> None:
    proc = registry.spawn(f"cat corpus # {CLICK} [x=", owner="chat-1", backend="fake")
    fake.emit(
        proc.id,
        "\n".join(HOSTILE).encode("utf-8", "surrogateescape")
        + b"\n"
        + b"[@click=app.quit]LAST[/]\n",
    )
    fake.end(proc.id, 0)
    registry.rename(proc.id, HOSTILE[0])
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.main.process_list.row_count == 1, "the row")
        row = [str(c) for c in app.main.process_list.get_row(proc.id)]
        assert row[COLUMNS.index("name")].startswith(printable(HOSTILE[0])[:10])
        assert "[@click=app.quit]LAST[/]" in row[COLUMNS.index("output")]
        # filtering by a hostile text puts it in the list's title
        app.main.process_list.filter_text = "[x="
        await pilot.pause()
        assert "[x=" in str(app.main.process_list.border_title)
        app.main.process_list.filter_text = ""
        await pilot.click(app.main.process_list)
        assert app.is_running
        assert_nothing_escapes(app)

        for text in HOSTILE:
            app.notify(text)
        await pilot.pause()
        assert_nothing_escapes(app)

        dialogs: list[tuple[ModalScreen[Any], str]] = [
            (TextPrompt(HOSTILE[0]), HOSTILE[0]),
            (Confirm(HOSTILE[1]), HOSTILE[1]),
            (KillMenu(HOSTILE[5]), HOSTILE[5]),
        ]
        for screen, text in dialogs:
            await app.push_screen(screen)
            await pilot.pause()
            labels = [rendered_text(w) for w in screen.query(Label)]
            assert any(shown(text) in t for t in labels), labels
            assert_nothing_escapes(app)
            screen.dismiss(None)
            await pilot.pause()

        search = SearchScreen(registry, "click")
        await app.push_screen(search)
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: bool(search.matches), "matches")
        options = search.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert any(CLICK in p for p in prompts)
        assert_nothing_escapes(app)
        search.dismiss(None)
        await pilot.pause()

        ended = Process(
            id="proc_bad",
            command=HOSTILE[6],
            argv=[],
            backend="local",
            workdir=HOSTILE[3],
            pty=False,
            owner="x",
            started_at=time.time(),
            name=HOSTILE[0],
            status=ProcessStatus.LOST,
            note=HOSTILE[5],
        )
        await app.push_screen(AwayScreen(RecoveryReport(lost=[ended], warnings=HOSTILE)))
        await pilot.pause()
        away = rendered_text(app.screen.query_one("#away-text", Static))
        assert "[bold]B[/bold]" in away and "[x=" in away
        assert_nothing_escapes(app)
    assert app.return_code in (0, None)


async def test_markup_typed_in_the_chat_does_not_crash_the_app(
    make_app: Callable[..., HermesApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f2")
        for char in "echo '[x=' done [@click=app.quit]Q[/]":
            await pilot.press(char if char != " " else "space")
        await pilot.press("enter")
        await pilot.pause()
        texts = [rendered_text(m) for m in app.main.chat.query(ChatMessage)]
        assert "echo '[x=' done [@click=app.quit]Q[/]" in texts
        app.main.chat.add_tool_call(
            "process", '{"action": "list"}', '{"processes": [{"command": "env FOO=bar sleep 120"}]}'
        )
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (0, None)
