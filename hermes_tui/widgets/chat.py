"""The chat pane: messages above, the input line below."""

from __future__ import annotations

import json
import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widgets import Collapsible, Input, Static

from hermes_tui.formatting import format_runtime
from hermes_tui.untrusted import DISPLAY_LIMIT, plain


def tool_failed(result: str) -> bool:
    """True when a tool's JSON result reports an error."""
    try:
        data = json.loads(result)
    except ValueError:
        return False
    return isinstance(data, dict) and bool(data.get("error"))


class ToolBlock(Collapsible):
    """A tool call: shown while it runs, then with its result; a failure in the error
    colour. Enter or a click opens it."""

    DEFAULT_CSS = """
    ToolBlock {
        border-left: thick $secondary;
        padding: 0;
        margin: 0 0 1 0;
    }
    ToolBlock.-running { border-left: thick $warning; }
    ToolBlock.-running CollapsibleTitle { color: $warning; }
    ToolBlock.-failed { border-left: thick $error; }
    ToolBlock.-failed CollapsibleTitle { color: $error; text-style: bold; }
    """

    def __init__(self, name: str, arguments: str, result: str | None) -> None:
        self.call = f"{name}({arguments[:60]})"
        self.arguments = arguments
        self.body = Static(plain(arguments, limit=DISPLAY_LIMIT))
        # Titles are Content (never markup): the call's arguments come from the model.
        super().__init__(
            self.body,
            title=plain(self.call),  # type: ignore[arg-type]
            collapsed=True,
        )
        if result is None:
            self.add_class("-running")
            self.title = plain(f"… {self.call}  running")  # type: ignore[assignment]
        else:
            self.finish(result)

    def finish(self, result: str) -> None:
        """Show the result (the call has ended)."""
        try:
            pretty = json.dumps(json.loads(result), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = result
        failed = tool_failed(result)
        self.remove_class("-running")
        self.set_class(failed, "-failed")
        mark = "✗" if failed else "✓"
        self.title = plain(  # type: ignore[assignment]
            f"{mark} {self.call}{'  failed' if failed else ''}"
        )
        self.body.update(plain(f"{self.arguments}\n→ {pretty}", limit=DISPLAY_LIMIT))


class ChatInput(Input):
    """The input line: Up/Down walk through what was sent, Tab accepts the completion."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, history: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history = history
        self._index: int | None = None
        self._draft = ""

    def action_history(self, step: int) -> None:
        """Show the previous (-1) or next (1) line sent; past the newest, the draft."""
        if not self.history:
            return
        if self._index is None:
            if step > 0:
                return
            self._draft = self.value
            index = len(self.history) - 1
        else:
            index = self._index + step
        if index >= len(self.history):
            self._index = None
            self.value = self._draft
        else:
            self._index = max(0, index)
            self.value = self.history[self._index]
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        """Take the suggested completion; without one, Tab moves the focus as usual."""
        if self._suggestion and len(self._suggestion) > len(self.value):
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()

    def forget_position(self) -> None:
        """A line was sent: the next Up starts from the newest again."""
        self._index = None
        self._draft = ""


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
        super().__init__(plain(text, limit=DISPLAY_LIMIT), classes=f"-{role}", markup=False)
        self.text = text
        self.role = role

    def append(self, chunk: str) -> None:
        """Add streamed text."""
        self.text += chunk
        self.update(plain(self.text, limit=DISPLAY_LIMIT))


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
    ChatPane > #chat-working {
        dock: bottom;
        height: 1;
        color: $warning;
        padding: 0 1;
        display: none;
    }
    ChatPane > #chat-working.-on { display: block; }
    ChatPane > #chat-input {
        dock: bottom;
        border: tall $panel;
    }
    ChatPane > #chat-input:focus {
        border: tall $primary;
    }
    """

    BINDINGS = [
        Binding("escape", "screen.interrupt", "Interrupt", show=False, id="interrupt"),
    ]

    class Submitted(Message):
        """The person sent a line (a chat message, ``!command`` or ``/command``)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[str] = []
        self._working: tuple[float, str] | None = None
        self._working_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="chat-log")
        yield ChatInput(
            self.history,
            placeholder="Message the agent · !cmd · !!cmd (background) · /help",
            id="chat-input",
        )
        yield Static("", id="chat-working")

    def set_working(self, what: str | None) -> None:
        """Show that the agent works (``what``: thinking, or the tool it runs) with the time
        since the turn began, or hide the indicator (None)."""
        line = self.query_one("#chat-working", Static)
        if what is None:
            self._working = None
            line.remove_class("-on")
            if self._working_timer is not None:
                self._working_timer.stop()
                self._working_timer = None
            return
        started = self._working[0] if self._working else time.monotonic()
        self._working = (started, what)
        line.add_class("-on")
        if self._working_timer is None:
            self._working_timer = self.set_interval(1.0, self._show_working)
        self._show_working()

    def _show_working(self) -> None:
        if self._working is None:
            return
        started, what = self._working
        elapsed = format_runtime(time.monotonic() - started)
        self.query_one("#chat-working", Static).update(
            plain(f"● agent working {elapsed} — {what}  (Esc interrupts)")
        )

    def prefill(self, text: str) -> None:
        """Put ``text`` in the input line with the cursor at its end, and focus it."""
        field = self.query_one("#chat-input", Input)
        field.value = text
        field.cursor_position = len(text)
        field.focus()

    def on_mount(self) -> None:
        self.border_title = "Chat"

    def set_completions(self, completions: list[str]) -> None:
        """What the input completes (``/theme dusk``...)."""
        self.query_one("#chat-input", Input).suggester = SuggestFromList(
            completions, case_sensitive=False
        )

    def focus_input(self) -> None:
        """Put the cursor in the input line."""
        self.query_one("#chat-input", Input).focus()

    def show_session(self, key: str, tool_errors: int) -> None:
        """Name the chat session in the border, and its failed tool calls."""
        self.border_title = plain(f"Chat — {key}")
        self.border_subtitle = f"{tool_errors} tool error(s)" if tool_errors else ""

    @property
    def log_view(self) -> VerticalScroll:
        """The scrolling list of messages."""
        return self.query_one("#chat-log", VerticalScroll)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        if isinstance(event.input, ChatInput):
            event.input.forget_position()
        if text:
            if not self.history or self.history[-1] != text:
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

    def add_tool_call(self, name: str, arguments: str, result: str | None) -> ToolBlock:
        """Add a collapsed block with a tool call and its JSON result (None: it runs; call
        the block's ``finish`` with the result)."""
        block = ToolBlock(name, arguments, result)
        self._mount(block)
        return block

    def clear(self) -> None:
        """Remove every message."""
        self.log_view.remove_children()
