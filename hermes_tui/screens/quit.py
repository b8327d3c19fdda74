"""Quitting while processes run: say which keep running and which stop, then ask."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hermes_tui.screens.dialogs import DIALOG_CSS
from hermes_tui.untrusted import plain
from registry import Process

SHOWN = 6
"""Processes named per group; the rest are counted (the dialog fits an 80x24 terminal)."""


def _group(title: str, procs: list[Process]) -> str:
    lines = [f"{title} ({len(procs)}):"]
    for s in procs[:SHOWN]:
        lines.append(f"  {s.id}  {(s.name or s.command)[:40]}")
    if len(procs) > SHOWN:
        lines.append(f"  … and {len(procs) - SHOWN} more")
    return "\n".join(lines)


def describe_quit(running: list[Process]) -> str:
    """What quitting does to each running process, as plain text."""
    keep = [s for s in running if not s.stop_on_quit]
    stop = [s for s in running if s.stop_on_quit]
    parts = []
    if keep:
        parts.append(_group("Keep running (re-adopted next start)", keep))
    if stop:
        parts.append(_group("Stopped now (lifetime: stop on quit)", stop))
    return "\n\n".join(parts)


class QuitConfirm(ModalScreen[bool]):
    """y (or ctrl+q again) quits, n or Esc stays."""

    DEFAULT_CSS = (
        DIALOG_CSS.format(name="QuitConfirm")
        + """
    QuitConfirm > Vertical { width: 72; max-width: 100%; max-height: 100%; }
    QuitConfirm VerticalScroll { height: auto; max-height: 14; }
    """
    )
    BINDINGS = [
        Binding("y,ctrl+q", "dismiss(True)", "Quit"),
        Binding("n,escape", "dismiss(False)", "Stay"),
    ]

    def __init__(self, running: list[Process]) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Quit hermes-tui? {len(self.running)} process(es) running.")
            with VerticalScroll():
                yield Static(plain(describe_quit(self.running)), id="quit-text")
            yield Label("[b]y[/b] quit   [b]n[/b] stay   (l on a process toggles its lifetime)")
