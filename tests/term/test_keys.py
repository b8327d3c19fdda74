"""Keys, pastes and mouse reports as an xterm sends them."""

from __future__ import annotations

import pytest

from hermes_tui.term.keys import encode_key, encode_mouse, encode_paste


@pytest.mark.parametrize(
    ("key", "character", "app_cursor", "expected"),
    [
        ("a", "a", False, b"a"),
        ("A", "A", False, b"A"),
        ("é", "é", False, "é".encode()),
        ("enter", "\r", False, b"\r"),
        ("tab", "\t", False, b"\t"),
        ("shift+tab", None, False, b"\x1b[Z"),
        ("backspace", "\x7f", False, b"\x7f"),
        ("escape", "\x1b", False, b"\x1b"),
        ("space", " ", False, b" "),
        ("up", None, False, b"\x1b[A"),
        ("up", None, True, b"\x1bOA"),
        ("left", None, True, b"\x1bOD"),
        ("ctrl+right", None, False, b"\x1b[1;5C"),
        ("shift+up", None, False, b"\x1b[1;2A"),
        ("alt+left", None, False, b"\x1b[1;3D"),
        ("home", None, False, b"\x1b[H"),
        ("end", None, False, b"\x1b[F"),
        ("pageup", None, False, b"\x1b[5~"),
        ("delete", None, False, b"\x1b[3~"),
        ("f1", None, False, b"\x1bOP"),
        ("f5", None, False, b"\x1b[15~"),
        ("f12", None, False, b"\x1b[24~"),
        ("ctrl+f5", None, False, b"\x1b[15;5~"),
        ("ctrl+c", None, False, b"\x03"),
        ("ctrl+a", None, False, b"\x01"),
        ("ctrl+z", None, False, b"\x1a"),
        ("ctrl+backslash", None, False, b"\x1c"),
        ("ctrl+space", None, False, b"\x00"),
        ("alt+x", "x", False, b"\x1bx"),
        ("alt+ctrl+a", None, False, b"\x1b\x01"),
    ],
)
def test_key_encoding(key: str, character: str | None, app_cursor: bool, expected: bytes) -> None:
    assert encode_key(key, character, app_cursor=app_cursor) == expected


def test_keys_a_terminal_cannot_send() -> None:
    assert encode_key("super+a", None) is None


def test_paste() -> None:
    assert encode_paste("one\ntwo", bracketed=False) == b"one\rtwo"
    assert encode_paste("x", bracketed=True) == b"\x1b[200~x\x1b[201~"


def test_mouse() -> None:
    assert encode_mouse(0, 4, 9, pressed=True) == b"\x1b[<0;5;10M"
    assert encode_mouse(0, 4, 9, pressed=False) == b"\x1b[<0;5;10m"


def test_one_parser_for_the_detach_key() -> None:
    import pytest

    from hermes_tui.term.keys import DetachKey

    assert DetachKey("ctrl+6") == DetachKey("ctrl+^") == DetachKey(" CTRL+^ ")
    key = DetachKey("ctrl+6")
    assert (key.spec, key.byte, key.textual) == ("ctrl+^", b"\x1e", "ctrl+circumflex_accent")
    assert DetachKey("ctrl+]").textual == "ctrl+right_square_bracket"
    assert DetachKey("ctrl+a").byte == b"\x01"
    for bad in ("ctrl+[", "ctrl+i", "ctrl+m", "ctrl+h", "f5", "ctrl+", "[@click=app.quit]"):
        with pytest.raises(ValueError, match="the detach key must be"):
            DetachKey(bad)
