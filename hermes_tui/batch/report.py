"""What the person watching a batch sees: a progress bar while it runs, a table at the end."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from hermes_tui.batch.output import STATUSES


@dataclass
class Tally:
    """Counts of this run, updated as results come in."""

    total: int
    skipped: int = 0
    """Already finished in the results file (resume)."""
    bad_lines: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    tool_calls: int = 0
    tool_errors: int = 0
    turns: int = 0
    tokens: int = 0
    write_error: str | None = None
    """Set when a result line could not be written (the batch stops)."""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    @property
    def done(self) -> int:
        """Prompts with a result line from this run."""
        return sum(self.statuses.values())

    def add(self, record: dict[str, Any]) -> None:
        """Count one result."""
        self.statuses[record["status"]] += 1
        stats = record.get("tool_stats") or {}
        self.tool_calls += sum(s["calls"] for s in stats.values())
        self.tool_errors += sum(s["errors"] for s in stats.values())
        self.turns += int(record.get("turns") or 0)
        self.tokens += int((record.get("usage") or {}).get("total_tokens") or 0)

    @property
    def wall(self) -> float:
        """Seconds since the run started (until it ended)."""
        return (self.ended or time.monotonic()) - self.started


class _RateColumn(ProgressColumn):
    """Prompts per minute since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.completed / elapsed * 60 if elapsed > 0 else 0.0
        return Text(f"{rate:.1f}/min", style="progress.data.speed")


def make_progress(console: Console) -> Progress:
    """The bar: done of total, ok / failed counts, rate, elapsed and ETA."""
    return Progress(
        TextColumn("[bold]batch"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def summary_table(tally: Tally) -> Table:
    """Counts by status, tool calls, mean turns, tokens and wall time."""
    table = Table(title="batch summary", show_header=True)
    table.add_column("what")
    table.add_column("value", justify="right")
    for status in STATUSES:
        table.add_row(status, str(tally.statuses.get(status, 0)))
    if tally.skipped:
        table.add_row("skipped (already finished)", str(tally.skipped))
    if tally.bad_lines:
        table.add_row("bad input lines", str(tally.bad_lines))
    table.add_row("tool calls", str(tally.tool_calls))
    table.add_row("tool errors", str(tally.tool_errors))
    mean_turns = tally.turns / tally.done if tally.done else 0.0
    table.add_row("mean model calls per prompt", f"{mean_turns:.1f}")
    if tally.tokens:
        table.add_row("tokens", str(tally.tokens))
    table.add_row("wall time", f"{tally.wall:.1f}s")
    rate = tally.done / tally.wall * 60 if tally.wall > 0 else 0.0
    table.add_row("prompts per minute", f"{rate:.1f}")
    return table
