"""Messages that cross the app (from the registry bridge to the screens)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from registry import Process


@dataclass
class ProcessChanged(Message):
    """A process started, ended, was re-adopted, renamed or had its lifetime changed."""

    proc: Process
    """The process; its fields are current."""
