""" "While you were away": what crash recovery found when the app started."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hermes_tui.untrusted import plain
from hermes_tui.widgets.process_list import last_line, status_label
from registry import ProcessSession, RecoveryReport


def _lines(sessions: list[ProcessSession], with_note: bool = False) -> str:
    rows = []
    for s in sessions:
        detail = s.note if with_note and s.note else last_line(s)
        rows.append(
            f"  {s.id}  {status_label(s):<24} {s.name or s.command}"
            + (f"\n      {detail}" if detail else "")
        )
    return "\n".join(rows)


def describe(report: RecoveryReport) -> str:
    """The report as plain text, section by section."""
    parts = []
    if report.ended:
        parts.append("Ended while hermes-tui was not running:\n" + _lines(report.ended))
    if report.adopted:
        parts.append("Kept running (re-adopted, output caught up):\n" + _lines(report.adopted))
    if report.lost:
        parts.append("Could not be found (not guessed):\n" + _lines(report.lost, True))
    if report.warnings:
        parts.append("Warnings:\n" + "\n".join(f"  {w}" for w in report.warnings))
    return "\n\n".join(parts) or "Nothing to recover."


class AwayScreen(ModalScreen[None]):
    """One view of what ended, what kept running and what could not be found."""

    DEFAULT_CSS = """
    AwayScreen {
        align: center middle;
    }
    AwayScreen > Vertical {
        width: 90%;
        height: 80%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,enter,q", "dismiss(None)", "Close")]

    def __init__(self, report: RecoveryReport) -> None:
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]While you were away[/b]  (Esc closes)")
            with VerticalScroll():
                yield Static(plain(describe(self.report)), id="away-text")
