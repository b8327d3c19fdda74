"""``hermes-tui batch``: a JSONL file of prompts through the agent, N at a time.

Each prompt gets its own task key and sandbox (from its own image when it names one), the
full agent loop of the chat (:mod:`hermes_tui.agent.loop`, run headless), and a cleanup
that kills its background processes and removes its sandbox. Results are appended, one
JSON line per prompt, as they finish.

Modules: :mod:`~hermes_tui.batch.inputs` (the prompts file), :mod:`~hermes_tui.batch.task`
(one prompt), :mod:`~hermes_tui.batch.runner` (the whole run, Ctrl-C),
:mod:`~hermes_tui.batch.output` (results files, ShareGPT, resume),
:mod:`~hermes_tui.batch.report` (progress bar and summary), :mod:`~hermes_tui.batch.redact`.
"""

from __future__ import annotations

from hermes_tui.batch.runner import (
    BATCH_KEY_PREFIX,
    BatchError,
    BatchOptions,
    is_batch_key,
    main,
    run_batch,
)

__all__ = ["BATCH_KEY_PREFIX", "BatchError", "BatchOptions", "is_batch_key", "main", "run_batch"]
