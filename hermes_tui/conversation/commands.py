"""The chat's slash commands: one table drives dispatch, help and completion."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SlashCommand:
    """One ``/command`` typed in the chat."""

    name: str
    """What is typed, with the slash (``/theme``)."""
    argument: str
    """What follows it, for help (``NAME``), or '' when it takes nothing."""
    summary: str
    """One line of help."""

    @property
    def usage(self) -> str:
        """``/theme NAME``."""
        return f"{self.name} {self.argument}".strip()


COMMANDS: tuple[SlashCommand, ...] = (
    SlashCommand("/help", "", "every key and command"),
    SlashCommand("/new", "", "start a new chat session (its processes keep running)"),
    SlashCommand("/clear", "", "clear this chat session's messages"),
    SlashCommand("/sessions", "", "list the chat sessions"),
    SlashCommand("/switch", "KEY", "show another chat session"),
    SlashCommand("/toolsets", "NAMES", "choose this session's tools (terminal, file, all)"),
    SlashCommand("/backend", "NAME", "where new processes run"),
    SlashCommand("/theme", "NAME", "switch the colour theme"),
)
BY_NAME = {command.name: command for command in COMMANDS}


def parse(text: str) -> tuple[SlashCommand | None, str, str]:
    """Split ``/name argument`` into the command (None if unknown), its name and argument."""
    name, _, argument = text.strip().partition(" ")
    return BY_NAME.get(name), name, argument.strip()


def completions(values: Mapping[str, Iterable[str]]) -> list[str]:
    """Every command, plus ``/name value`` for the values each command can take."""
    out = [c.name + (" " if c.argument else "") for c in COMMANDS]
    for name, options in values.items():
        out.extend(f"{name} {option}" for option in options)
    return out
