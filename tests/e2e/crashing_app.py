"""A test build of hermes-tui that crashes on ``/boom`` (an unexpected exception in a handler)."""

from __future__ import annotations

import sys

from hermes_tui import app as app_module
from hermes_tui.cli import main

_original = app_module.HermesApp._slash_command


def _slash_command(self: app_module.HermesApp, text: str) -> None:
    if text == "/boom":
        raise RuntimeError("forced crash for the test [x= \x1b]52;c;eA==\x07")
    _original(self, text)


app_module.HermesApp._slash_command = _slash_command  # type: ignore[method-assign]
sys.exit(main([]))
