"""The main screen: chat on the left, the process list and the terminal on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer

from hermes_tui.term.view import TerminalView
from hermes_tui.widgets.chat import ChatPane
from hermes_tui.widgets.process_list import ProcessList

PANES = ("chat", "processes", "terminal")


class MainScreen(Screen[None]):
    """Three panes; any of them can be zoomed to fill the screen."""

    DEFAULT_CSS = """
    MainScreen #panes {
        height: 1fr;
    }
    MainScreen #chat {
        width: 2fr;
        min-width: 30;
    }
    MainScreen #right {
        width: 3fr;
    }
    MainScreen #processes {
        height: 2fr;
        min-height: 5;
    }
    MainScreen #terminal {
        height: 3fr;
        min-height: 6;
    }
    MainScreen.-zoom-chat #right { display: none; }
    MainScreen.-zoom-processes #chat, MainScreen.-zoom-processes #terminal { display: none; }
    MainScreen.-zoom-terminal #chat, MainScreen.-zoom-terminal #processes { display: none; }
    """

    class Ready(Message):
        """The panes are mounted."""

    zoomed: reactive[str | None] = reactive(None)
    """The pane shown full-screen, or None for all three."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="panes"):
            yield ChatPane(id="chat")
            with Vertical(id="right"):
                yield ProcessList(id="processes")
                yield TerminalView(id="terminal")
        yield Footer()

    def on_mount(self) -> None:
        self.post_message(self.Ready())

    def watch_zoomed(self, old: str | None, new: str | None) -> None:
        if old:
            self.remove_class(f"-zoom-{old}")
        if new:
            self.add_class(f"-zoom-{new}")

    def pane_of_focus(self) -> str:
        """Which pane holds the focus (``chat`` when nothing is focused)."""
        focused = self.focused
        for pane in PANES:
            widget = self.query_one(f"#{pane}")
            node = focused
            while node is not None:
                if node is widget:
                    return pane
                node = node.parent  # type: ignore[assignment]
        return "chat"
