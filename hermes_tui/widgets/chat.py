"""The chat pane: messages above, the input line below."""

from __future__ import annotations

import json

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Collapsible, Input, Static

SLASH_COMMANDS = (
    "/help",
    "/new",
    "/clear",
    "/theme ",
    "/backend ",
    "/sessions",
    "/switch ",
    "/toolsets ",
)


class ChatMessage(Static):
    """One message; assistant messages grow as tokens stream in."""

    DEFAULT_CSS = """
    ChatMessage {
        padding: 0 1;
        margin: 0 0 1 0;
    }
    ChatMessage.-user {
        color: $text;
        background: $boost;
        border-left: thick $primary;
    }
    ChatMessage.-assistant {
        border-left: thick $secondary;
    }
    ChatMessage.-notice {
        color: $text-muted;
        border-left: thick $accent;
    }
    ChatMessage.-warning {
        color: $warning;
        border-left: thick $warning;
    }
    ChatMessage.-error {
        color: $error;
        border-left: thick $error;
    }
    """

    def __init__(self, text: str, role: str) -> None:
        super().__init__(escape(text), classes=f"-{role}", markup=True)
        self.text = text
        self.role = role

    def append(self, chunk: str) -> None:
        """Add streamed text."""
        self.text += chunk
        self.update(escape(self.text))


class ChatPane(Vertical):
    """The conversation with the agent, plus ``!command`` and ``/command`` input."""

    DEFAULT_CSS = """
    ChatPane {
        border: round $panel;
        border-title-color: $text-muted;
    }
    ChatPane:focus-within {
        border: round $primary;
    }
    ChatPane > #chat-log {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ChatPane > #chat-input {
        dock: bottom;
        border: tall $panel;
    }
    ChatPane > #chat-input:focus {
        border: tall $primary;
    }
    """

    BINDINGS = [
        Binding("escape", "app.interrupt", "Interrupt", show=False, id="interrupt"),
    ]

    class Submitted(Message):
        """The person sent a line (a chat message, ``!command`` or ``/command``)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[str] = []

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="chat-log")
        yield Input(
            placeholder="Message the agent, !command to run, /help",
            id="chat-input",
            suggester=SuggestFromList(SLASH_COMMANDS, case_sensitive=False),
        )

    def on_mount(self) -> None:
        self.border_title = "Chat"

    def set_completions(self, extra: list[str]) -> None:
        """Complete these too (e.g. ``/theme dusk``), besides the slash commands."""
        self.query_one("#chat-input", Input).suggester = SuggestFromList(
            [*SLASH_COMMANDS, *extra], case_sensitive=False
        )

    @property
    def log_view(self) -> VerticalScroll:
        """The scrolling list of messages."""
        return self.query_one("#chat-log", VerticalScroll)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        if text:
            self.history.append(text)
            self.post_message(self.Submitted(text))

    def _mount(self, widget: Static | Collapsible) -> None:
        log = self.log_view
        follow = log.max_scroll_y - log.scroll_y <= 2  # only follow when already at the end
        log.mount(widget)
        if follow:
            log.scroll_end(animate=False)

    def add(self, text: str, role: str = "notice") -> ChatMessage:
        """Add a message: role is user, assistant, notice, warning or error."""
        message = ChatMessage(text, role)
        self._mount(message)
        return message

    def add_tool_call(self, name: str, arguments: str, result: str) -> Collapsible:
        """Add a collapsed block with a tool call and its JSON result."""
        try:
            pretty = json.dumps(json.loads(result), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = result
        block = Collapsible(
            Static(escape(f"{arguments}\n→ {pretty}")),
            title=f"{name}({arguments[:60]})",
            collapsed=True,
        )
        self._mount(block)
        return block

    def clear(self) -> None:
        """Remove every message."""
        self.log_view.remove_children()
