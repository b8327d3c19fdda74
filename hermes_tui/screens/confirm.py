"""A yes/no question."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from hermes_tui.screens.dialogs import DIALOG_CSS
from hermes_tui.untrusted import plain


class Confirm(ModalScreen[bool]):
    """y confirms, n or Esc declines."""

    DEFAULT_CSS = DIALOG_CSS.format(name="Confirm")
    BINDINGS = [Binding("y", "dismiss(True)", "Yes"), Binding("n,escape", "dismiss(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(plain(self.question))
            yield Label("[b]y[/b] yes   [b]n[/b] no")
