"""Small modal dialogs: the kill menu and a one-line prompt."""

from __future__ import annotations

import signal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from hermes_tui.untrusted import plain

KILL_CHOICES = (
    (signal.SIGINT, "INT — interrupt, like ctrl+c"),
    (signal.SIGTERM, "TERM — ask it to stop (then KILL after 3 s)"),
    (signal.SIGHUP, "HUP — hang up / reload"),
    (signal.SIGKILL, "KILL — stop it now"),
)

DIALOG_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 60;
    max-width: 100%;
    height: auto;
    max-height: 80%;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}}
{name} Label {{
    width: 100%;  /* long questions (a full path) wrap inside the dialog */
    margin-bottom: 1;
}}
"""


class KillMenu(ModalScreen[int | None]):
    """Choose the signal to send to a process's whole group; Esc cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="KillMenu")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(f"Send a signal to {self.target} (its whole process group):"))
            yield OptionList(
                *(Option(text, id=str(int(sig))) for sig, text in KILL_CHOICES), id="signals"
            )

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 1  # TERM, the usual choice
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or signal.SIGTERM))


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text; Enter confirms, Esc cancels."""

    DEFAULT_CSS = DIALOG_CSS.format(name="TextPrompt")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.question))
            yield Input(value=self.value, placeholder=self.placeholder)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)
