"""Atropos RL environments whose rollouts are hermes-tui agent episodes (extra ``rl``).

``atroposlib`` is imported only when an environment class is used, so the rest of the app
(and :class:`ToolContext`, which reward code may use on its own) works without it::

    python -m hermes_tui.rl.terminal_test process|evaluate|serve ...
    python -m hermes_tui.rl.swe process|evaluate|serve ...
    python -m hermes_tui.rl.terminalbench process|evaluate|serve ...
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from hermes_tui.rl.context import ToolContext
from hermes_tui.rl.episode import AgentResult

_LAZY = {
    "HermesAgentEnv": "hermes_tui.rl.base",
    "HermesAgentEnvConfig": "hermes_tui.rl.base",
    "TerminalTestEnv": "hermes_tui.rl.terminal_test",
    "SweEnv": "hermes_tui.rl.swe",
    "TerminalBenchEnv": "hermes_tui.rl.terminalbench",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        try:
            return getattr(import_module(_LAZY[name]), name)
        except ImportError as exc:
            if exc.name and exc.name.split(".")[0] == "atroposlib":
                raise ImportError(
                    "the RL environments need atroposlib: pip install 'hermes-tui[rl]'"
                ) from None
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentResult",
    "HermesAgentEnv",
    "HermesAgentEnvConfig",
    "SweEnv",
    "TerminalBenchEnv",
    "TerminalTestEnv",
    "ToolContext",
]
