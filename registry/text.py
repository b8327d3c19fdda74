"""Turning raw terminal output into text for the model and for line-based views."""

from __future__ import annotations

import re

# CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings, charset selection, other 2-byte ESCs.
TERMINAL_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[()*+][0-9A-Za-z]"
    r"|\x1b[@-Z\\-_=>78c]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_output(data: bytes) -> str:
    """Decode output and strip terminal escapes, keeping what a person would read.

    A carriage return that is not part of CRLF rewrites its line (progress bars), so only what
    follows the last one on each line is kept.
    """
    text = TERMINAL_ESCAPES.sub("", data.decode("utf-8", errors="replace"))
    text = text.replace("\r\n", "\n")
    if "\r" in text:
        text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    return _CONTROL.sub("", text)


def truncate_middle(text: str, limit: int) -> str:
    """Keep the first 40% and last 60% of ``limit`` characters, saying what was cut."""
    if len(text) <= limit:
        return text
    head = int(limit * 0.4)
    tail = limit - head
    omitted = len(text) - head - tail
    return (
        f"{text[:head]}\n\n... [OUTPUT TRUNCATED - {omitted} characters omitted out of "
        f"{len(text)} total] ...\n\n{text[-tail:]}"
    )


def tail_text(text: str, limit: int) -> str:
    """Keep the last ``limit`` characters, marking the cut at the front."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} earlier characters omitted ...]\n{text[-limit:]}"


# C0 controls (but tab and newline) become their Unicode "control pictures" (ESC -> ␛), DEL
# becomes ␡, C1 controls and bidirectional overrides become U+FFFD: each is visible and none
# can act on the outer terminal or reorder the text around it.
_TRANSLATE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)}
_TRANSLATE[0x7F] = "\u2421"
_TRANSLATE.update({c: "\ufffd" for c in range(0x80, 0xA0)})
_TRANSLATE.update({c: "\ufffd" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_SURROGATES = re.compile("[\ud800-\udfff]")


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
