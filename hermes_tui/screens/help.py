"""The help screen: every key, by pane."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from registry.text import printable

# Lines stay within 72 columns: the dialog fits an 80x24 terminal without wrapping.
HELP_TEXT = """\
[b]Panes[/b]
  F2 / F3 / F4   focus chat / processes / terminal (Tab cycles)
  F5             zoom the focused pane, again to restore (also attached)
  F6             hide / show the chat: the terminal takes its width
  mouse          click selects a process, double-click attaches
  F1 this help    ctrl+p command palette    ctrl+q quit (asks if busy)

[b]Processes[/b] (in the list)
  Enter          attach: your keys go to the process
  {detach}detach (never reaches the process)
  k              kill menu: INT / TERM / HUP / KILL to its group
  r  restart (asks if running)    n  name it    l  lifetime keep/stop
  s  save the log as plain text   /  filter     o  sort
  x  clear finished rows          w  "while you were away" report
  ctrl+f         search every process's output, jump to the match

[b]Terminal[/b] (not attached)
  shift+PgUp/PgDn  scroll back    ctrl+f  search    Esc  back to live
  mouse wheel      scroll back (the border shows where)
  drag             select a region and copy it    c  copy selection/screen

[b]Chat[/b]
  !command       run a command and attach to it
  !!command      run it in the background (the keyboard stays here)
  Up / Down      earlier lines       Tab  take the completion
  tool blocks    Tab to one, Enter opens it (failed ones in red)
  /help /new /clear /sessions /switch KEY /theme NAME
  /backend NAME /toolsets NAMES
  Esc            interrupt the agent (stops a running wait)
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
                detach = escape(printable(self.detach_key).ljust(15))
                yield Static(Content.from_markup(HELP_TEXT.format(detach=detach)))
