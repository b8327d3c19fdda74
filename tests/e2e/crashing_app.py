"""A test build of hermes-tui that crashes on ``/boom`` (an unexpected exception in a handler)."""

from __future__ import annotations

import sys

from hermes_tui.cli import main
from hermes_tui.conversation import Conversation

_original = Conversation.run_command


def run_command(self: Conversation, text: str) -> None:
    if text == "/boom":
        raise RuntimeError("forced crash for the test [x= \x1b]52;c;eA==\x07")
    _original(self, text)


Conversation.run_command = run_command  # type: ignore[method-assign]
sys.exit(main([]))
