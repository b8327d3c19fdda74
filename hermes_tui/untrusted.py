"""Untrusted text is only text: the one way text from outside the app reaches the screen.

Commands, output, process names, paths, tool arguments and results, model replies, config
values and error messages from backends all come from outside hermes-tui's own code. Textual
parses plain ``str`` as markup in most places (labels, titles, notifications, table cells,
option prompts), where ``[@click=app.quit]`` plants an action and ``[x=`` raises, and it
passes ESC and C1 bytes through to the outer terminal, where an OSC 52 sequence writes the
clipboard. So every such string goes through :func:`plain` (a Textual ``Content``) or
:func:`plain_text` (a Rich ``Text``), which never parse markup and show control characters
as visible symbols (:func:`registry.text.printable`, shared with the command line).
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.content import Content

from registry.text import TERMINAL_ESCAPES, printable

DISPLAY_LIMIT = 20_000
"""Characters of one message or tool result drawn on screen; the rest is counted, not drawn
(a 1 MB line would otherwise take seconds to wrap)."""

_SGR = re.compile(r"(\x1b\[[0-9;:]*m)")


def plain(text: str, style: str = "", limit: int | None = None) -> Content:
    """``text`` as Textual content that is drawn literally, never parsed as markup."""
    content = Content(printable(text, limit))
    return content.stylize(style) if style else content


def plain_text(text: str, style: str = "") -> Text:
    """``text`` as a Rich ``Text`` drawn literally (for table cells)."""
    return Text(printable(text), style=style, end="")


def ansi_text(line: str) -> Text:
    """One line of terminal output with its colours (SGR) kept and every other escape or
    control character removed or made visible."""
    parts = _SGR.split(line)
    for i in range(0, len(parts), 2):  # even parts are text between SGR sequences
        parts[i] = printable(TERMINAL_ESCAPES.sub("", parts[i]))
    return Text.from_ansi("".join(parts))
