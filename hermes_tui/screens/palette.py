"""The command palette's entries: every action of the main screen, each with its key (or
the chat command that does it), from one table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType
from textual.markup import escape

from registry.text import printable

PALETTE: tuple[tuple[str, str, str, str], ...] = (
    # title, binding id or "/command", help, the main screen's action
    ("Attach to the selected process", "attach", "Keys go to the process", "attach"),
    ("Detach", "detach", "Give the keyboard back to hermes-tui", "detach"),
    ("Kill / send a signal", "kill", "INT, TERM, HUP or KILL", "kill_menu"),
    ("Restart the selected process", "restart", "Run its command again", "restart"),
    ("Name the selected process", "rename", "Shown in the list", "rename"),
    ("Toggle lifetime", "lifetime", "Keep running or stop on quit", "toggle_lifetime"),
    ("Save the log", "save_log", "Write the output as plain text to a file", "save_log"),
    ("Filter processes", "filter", "Show only matching processes", "filter"),
    ("Sort processes", "sort", "By start, status or name", "sort_processes"),
    ("Clear finished processes", "clear_finished", "Hide the rows that ended", "clear_finished"),
    ("Search all output", "search", "Find text in every process", "search"),
    ("Zoom pane", "zoom", "Focused pane full-screen", "zoom"),
    ("Show or hide the chat", "toggle_chat", "The terminal takes its width", "toggle_chat"),
    ("Focus chat", "focus_chat", "The chat input", "focus_pane('chat')"),
    ("Focus processes", "focus_processes", "The process list", "focus_pane('processes')"),
    ("Focus terminal", "focus_terminal", "The terminal pane", "focus_pane('terminal')"),
    ("Interrupt the agent", "interrupt", "Stop its current turn", "interrupt"),
    ("While you were away", "away", "What recovery found at start", "away"),
    ("Help", "help", "Every key and chat command", "help"),
    ("Chat sessions", "/sessions", "List the chat sessions", "chat_command('/sessions')"),
    ("New chat session", "/new", "Its processes keep running", "chat_command('/new')"),
    ("Switch chat session", "/switch", "Show another chat session", "prefill_chat('/switch ')"),
    ("Clear the chat", "/clear", "Clear this chat session's messages", "chat_command('/clear')"),
    ("Backend", "/backend", "Where new processes run", "prefill_chat('/backend ')"),
    ("Toolsets", "/toolsets", "This chat session's tools", "prefill_chat('/toolsets ')"),
)


def binding_keys(bindings: Iterable[BindingType], overrides: Mapping[str, str]) -> dict[str, str]:
    """Binding id -> the key shown for it (the first of several; the person's overrides
    win), written as a person types it (``/``, ``ctrl+^``)."""
    keys = {b.id: b.key for b in bindings if isinstance(b, Binding) and b.id}
    keys.update(overrides)
    return {
        name: key.split(",")[0].replace("slash", "/").replace("circumflex_accent", "^")
        for name, key in keys.items()
    }


def palette_entries(keys: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(title, help starting with the key, action) of every palette entry.

    The palette parses help as markup, and keys come from the config: escaped.
    """
    entries = []
    for title, shortcut, help_text, action in PALETTE:
        key = shortcut if shortcut.startswith("/") else keys.get(shortcut)
        shown = f"{escape(printable(key))} — {help_text}" if key else help_text
        entries.append((title, shown, action))
    return entries
