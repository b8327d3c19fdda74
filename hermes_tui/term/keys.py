"""What a real terminal (xterm) sends for each key, paste and mouse event."""

from __future__ import annotations

ESC = "\x1b"

_CSI_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE_KEYS = {
    "insert": 2,
    "delete": 3,
    "pageup": 5,
    "pagedown": 6,
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
}
_SS3_KEYS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE = {
    "enter": "\r",
    "tab": "\t",
    "escape": ESC,
    "backspace": "\x7f",
    "space": " ",
    "shift+tab": f"{ESC}[Z",
    "ctrl+space": "\x00",
    "ctrl+at": "\x00",
    "ctrl+left_square_bracket": ESC,
    "ctrl+backslash": "\x1c",
    "ctrl+right_square_bracket": "\x1d",
    "ctrl+circumflex_accent": "\x1e",
    "ctrl+underscore": "\x1f",
    "ctrl+h": "\x08",
    "ctrl+i": "\t",
    "ctrl+j": "\n",
    "ctrl+m": "\r",
}
_MODIFIER_CODES = {"shift": 1, "alt": 2, "ctrl": 4}


def _modifier_param(modifiers: list[str]) -> int:
    return 1 + sum(_MODIFIER_CODES[m] for m in modifiers)


def encode_key(key: str, character: str | None, *, app_cursor: bool = False) -> bytes | None:
    """Return the bytes for a Textual key event, or None for keys a terminal cannot send.

    Args:
        key: Textual's key name (``"ctrl+c"``, ``"shift+up"``, ``"f5"``, ``"a"``).
        character: the printable character of the event, if any.
        app_cursor: the program switched arrows to application mode (DECCKM).
    """
    if key in _SIMPLE:
        return _SIMPLE[key].encode()
    *modifiers, base = key.split("+")
    if any(m not in _MODIFIER_CODES for m in modifiers):
        return None
    if base in _CSI_KEYS:
        final = _CSI_KEYS[base]
        if modifiers:
            return f"{ESC}[1;{_modifier_param(modifiers)}{final}".encode()
        return f"{ESC}{'O' if app_cursor else '['}{final}".encode()
    if base in _SS3_KEYS:
        final = _SS3_KEYS[base]
        if modifiers:
            return f"{ESC}[1;{_modifier_param(modifiers)}{final}".encode()
        return f"{ESC}O{final}".encode()
    if base in _TILDE_KEYS:
        code = _TILDE_KEYS[base]
        if modifiers:
            return f"{ESC}[{code};{_modifier_param(modifiers)}~".encode()
        return f"{ESC}[{code}~".encode()
    if modifiers == ["ctrl"] and len(base) == 1 and base.isalpha():
        return bytes([ord(base.lower()) - 96])
    if modifiers and modifiers[0] == "alt":
        inner = encode_key("+".join([*modifiers[1:], base]), character, app_cursor=app_cursor)
        return None if inner is None else ESC.encode() + inner
    if base in ("backspace", "escape", "enter", "tab") and modifiers == ["shift"]:
        return encode_key(base, character, app_cursor=app_cursor)
    if character and character.isprintable():
        return character.encode()
    if len(base) == 1 and not modifiers:
        return base.encode()
    return None


def encode_paste(text: str, *, bracketed: bool) -> bytes:
    """A paste, with line breaks as Enter (CR); wrapped when the program asked for it."""
    body = text.replace("\r\n", "\r").replace("\n", "\r")
    if bracketed:
        return f"{ESC}[200~{body}{ESC}[201~".encode()
    return body.encode()


def encode_mouse(
    button: int, x: int, y: int, *, pressed: bool, motion: bool = False, sgr: bool = True
) -> bytes:
    """A mouse report, SGR (``ESC[<b;x;yM`` / ``m``) or legacy; x and y count from 0."""
    code = button + (32 if motion else 0)
    if sgr:
        return f"{ESC}[<{code};{x + 1};{y + 1}{'M' if pressed else 'm'}".encode()
    # The legacy encoding: releases are button 3, values + 32 in one byte each.
    code = code if pressed or button >= 64 else 3
    return bytes([0x1B, 0x5B, 0x4D, 32 + code, 33 + min(x, 222), 33 + min(y, 222)])


DEFAULT_DETACH_KEY = "ctrl+^"
"""Bound by neither readline, tmux (ctrl+b) nor zellij (ctrl+p, ctrl+o); ctrl+6 on most
keyboards."""
_CTRL_SYMBOLS = {
    "@": "at",
    "\\": "backslash",
    "]": "right_square_bracket",
    "^": "circumflex_accent",
    "_": "underscore",
}


class DetachKey:
    """The key that gives the keyboard back to hermes-tui; the one parser of its spelling.

    ``ctrl+^``, ``ctrl+6`` (the same key on most keyboards), ``ctrl+]``, ``ctrl+\\``,
    ``ctrl+_``, ``ctrl+@`` and ``ctrl+a`` to ``ctrl+z`` are accepted; ``ctrl+[`` (Escape),
    ``ctrl+i`` (Tab), ``ctrl+m`` (Enter) and ``ctrl+h`` (Backspace) are refused, since
    programs need those.
    """

    def __init__(self, spec: str) -> None:
        """Parse ``spec``.

        Raises:
            ValueError: with a message naming what is accepted.
        """
        text = spec.strip().lower()
        char = text[5:] if text.startswith("ctrl+") else ""
        char = "^" if char == "6" else char
        if len(char) != 1 or not ("a" <= char <= "z" or char in _CTRL_SYMBOLS) or char in "ihm":
            raise ValueError(
                f"the detach key must be ctrl+ and a letter or one of ^ ] \\ _ @ "
                f"(not Tab, Enter or Backspace), not {spec!r}"
            )
        self.spec = f"ctrl+{char}"
        """As shown to the person (``ctrl+^``)."""
        self.byte = bytes([ord(char.upper()) - 64])
        """What a terminal sends for it (``b"\\x1e"``)."""
        self.textual = f"ctrl+{_CTRL_SYMBOLS.get(char, char)}"
        """Textual's name of the key (``ctrl+circumflex_accent``)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DetachKey) and other.byte == self.byte

    def __hash__(self) -> int:
        return hash(self.byte)

    def __repr__(self) -> str:
        return f"DetachKey({self.spec!r})"
