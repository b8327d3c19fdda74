""" "While you were away": what crash recovery found when the app started."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from hermes_tui.untrusted import plain
from hermes_tui.widgets.last_output import last_lines
from hermes_tui.widgets.process_list import status_label
from registry import Process, RecoveryReport

LAST_LINES = 5
"""Lines of output shown under each process that ended or was re-adopted."""


def _lines(procs: list[Process], with_note: bool = False) -> str:
    rows = []
    for s in procs:
        rows.append(f"  {s.id}  {status_label(s)}  {s.name or s.command}")
        if with_note and s.note:
            rows.append(f"      {s.note}")
        rows.extend(f"    │ {line}" for line in last_lines(s, LAST_LINES))
    return "\n".join(rows)


def describe(report: RecoveryReport) -> str:
    """The report as plain text, section by section."""
    parts = []
    if report.ended:
        parts.append(
            "Ended while hermes-tui was not running (last lines of output):\n"
            + _lines(report.ended)
        )
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
        max-width: 100;
        height: 80%;
        min-height: 12;
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
