"""Untrusted text is only text: the one way text from outside the app reaches the screen.

Commands, output, process names, paths, tool arguments and results, model replies, config
values and error messages from backends all come from outside hermes-tui's own code. Textual
parses plain ``str`` as markup in most places (labels, titles, notifications, table cells,
option prompts), where ``[@click=app.quit]`` plants an action and ``[x=`` raises, and it
passes ESC and C1 bytes through to the outer terminal, where an OSC 52 sequence writes the
clipboard. So every such string goes through :func:`plain` (a Textual ``Content``) or
:func:`plain_text` (a Rich ``Text``), which never parse markup and show control characters
as visible symbols.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.content import Content

DISPLAY_LIMIT = 20_000
"""Characters of one message or tool result drawn on screen; the rest is counted, not drawn
(a 1 MB line would otherwise take seconds to wrap)."""

# C0 controls (but tab and newline) become their Unicode "control pictures" (ESC -> ␛), DEL
# becomes ␡, C1 controls and bidirectional overrides become U+FFFD: each is visible and none
# can act on the outer terminal or reorder the text around it.
_TRANSLATE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_TRANSLATE[0x7F] = "\u2421"
_TRANSLATE.update({c: "\ufffd" for c in range(0x80, 0xA0)})
_TRANSLATE.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_SURROGATES = re.compile("[\ud800-\udfff]")
_SGR = re.compile(r"(\x1b\[[0-9;:]*m)")
_OTHER_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+][0-9A-Za-z]"
    r"|\x1b[@-Z\\-_=>78c]"
)


def printable(text: str, limit: int | None = None) -> str:
    """Return ``text`` with every control character made visible and nothing else changed.

    Args:
        text: Any string, including lone surrogates from undecodable bytes.
        limit: Keep at most this many characters, saying how many were left out.
    """
    omitted = 0
    if limit is not None and len(text) > limit:
        omitted = len(text) - limit
        text = text[:limit]
    text = text.replace("\r\n", "\n").translate(_TRANSLATE)
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    if omitted:
        text += f"\n… {omitted} more characters not shown"
    return text


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
        parts[i] = printable(_OTHER_ESCAPES.sub("", parts[i]))
    return Text.from_ansi("".join(parts))
