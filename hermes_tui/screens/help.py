"""The help screen: every key, by pane."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hermes_tui.untrusted import printable

HELP_TEXT = """\
[b]Panes[/b]
  F2 / F3 / F4      focus chat / processes / terminal      (Tab cycles)
  F5                zoom the focused pane full-screen, again to restore (also attached)
  F6                hide / show the chat: the terminal takes its width
  mouse             click selects a process, double-click attaches
  F1                this help          ctrl+p  command palette      ctrl+q  quit

[b]Processes[/b] (in the list)
  Enter             attach: your keys go to the process
  {detach} detach (never reaches the process; shown in the footer while attached)
  k                 kill menu: INT / TERM / HUP / KILL to the whole process group
  r                 restart          n  name it           l  lifetime (keep / stop on quit)
  s                 save its log     /  filter the list   o  sort (started, status, name)
  ctrl+f            search every process's output and jump to the match
  w                 "while you were away": what recovery found at start

[b]Terminal[/b] (not attached)
  shift+PgUp/PgDn   scroll back      ctrl+f  search      Esc  back to live
  mouse wheel       scroll back (the border shows where)
  drag              select a region and copy it         c  copy selection / screen

[b]Chat[/b]
  !command          run a command in the background and attach to it
  /help /new /clear /theme NAME /backend NAME /sessions /switch KEY /toolsets NAMES
  Esc               interrupt the agent (stops a running wait)
"""


class HelpScreen(ModalScreen[None]):
    """Lists every key."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 90;
        max-width: 100%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss(None)", "Close")]

    def __init__(self, detach_key: str) -> None:
        super().__init__()
        self.detach_key = detach_key

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]hermes-tui keys[/b]  (Esc closes)")
            with VerticalScroll():
                # The text is ours (markup); the key comes from the config: escaped.
                detach = escape(printable(self.detach_key).ljust(17))
                yield Static(Content.from_markup(HELP_TEXT.format(detach=detach)))
