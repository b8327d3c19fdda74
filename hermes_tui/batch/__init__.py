"""``hermes-tui batch``: a JSONL file of prompts through the agent, N at a time.

Each prompt gets its own task key and sandbox (from its own image when it names one), the
full agent loop of the chat (:mod:`hermes_tui.agent.loop`, run headless), and a cleanup
that kills its background processes and removes its sandbox. Results are appended, one
JSON line per prompt, as they finish.

Modules: :mod:`~hermes_tui.batch.inputs` (the prompts file), :mod:`~hermes_tui.batch.task`
(one prompt), :mod:`~hermes_tui.batch.runner` (the whole run, Ctrl-C),
:mod:`~hermes_tui.batch.output` (results files, ShareGPT, resume),
:mod:`~hermes_tui.batch.report` (progress bar and summary), :mod:`~hermes_tui.batch.redact`.
This module itself stays import-light: the app imports it to recognise batch processes.
"""

from __future__ import annotations

BATCH_KEY_PREFIX = "batch-"
"""Every batch task key starts with this (``batch-<UTC time>-<random>-<line>``)."""


def is_batch_key(owner: str) -> bool:
    """True for the owner key of a batch prompt's processes (the app hides them)."""
    return owner.startswith(BATCH_KEY_PREFIX)


__all__ = ["BATCH_KEY_PREFIX", "is_batch_key"]
