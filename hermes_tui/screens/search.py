"""Search every process's output at once; choosing a match jumps to it in the terminal."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from hermes_tui.untrusted import plain
from registry import ProcessRegistry
from registry.text import clean_output

MAX_MATCHES = 500


@dataclass(frozen=True)
class Match:
    """One line of one process's output that contains the query."""

    proc_id: str
    line_number: int
    text: str


def search_outputs(registry: ProcessRegistry, query: str) -> list[Match]:
    """Find ``query`` (case-insensitive) in the retained output of every process."""
    needle = query.lower()
    matches: list[Match] = []
    if not needle:
        return matches
    for proc in registry.processes():
        lines = clean_output(registry.output(proc.id)).split("\n")
        first = proc.output.dropped_lines
        for number, line in enumerate(lines, start=first):
            if needle in line.lower():
                matches.append(Match(proc.id, number, line.strip()[:200]))
                if len(matches) >= MAX_MATCHES:
                    return matches
    return matches


class SearchScreen(ModalScreen[Match | None]):
    """Type a query, Enter searches, then pick a match."""

    DEFAULT_CSS = """
    SearchScreen {
        align: center middle;
    }
    SearchScreen > Vertical {
        width: 90%;
        height: 80%;
        border: thick $primary;
        background: $surface;
        padding: 1 2;
    }
    SearchScreen OptionList {
        height: 1fr;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, registry: ProcessRegistry, query: str = "") -> None:
        super().__init__()
        self.registry = registry
        self.query_text = query
        self.matches: list[Match] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Search the output of every process (Enter searches, then pick a line):")
            yield Input(value=self.query_text, placeholder="text to find", id="search-input")
            yield Label("", id="search-status")
            yield OptionList(id="search-results")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.matches = search_outputs(self.registry, event.value)
        results = self.query_one(OptionList)
        results.clear_options()
        results.add_options(
            Option(plain(f"{m.proc_id}:{m.line_number}  {m.text}"), id=str(i))
            for i, m in enumerate(self.matches)
        )
        count = len(self.matches)
        self.query_one("#search-status", Label).update(
            f"{count}{'+' if count >= MAX_MATCHES else ''} match(es)"
        )
        if self.matches:
            results.highlighted = 0
            results.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.matches[int(event.option.id or 0)])
