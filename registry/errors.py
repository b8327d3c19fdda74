"""The registry's errors (their messages are meant for the user or the model)."""

from __future__ import annotations


class RegistryError(Exception):
    """An error the user or the model should read (bad id, process gone, ...)."""


class StateDirError(RegistryError):
    """The state directory cannot be created or used."""
