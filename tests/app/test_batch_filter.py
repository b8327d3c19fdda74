"""Batch prompts' processes stay out of the workstation's list unless filtered for."""

from __future__ import annotations

from collections.abc import Callable

from hermes_tui.app import HermesApp
from registry import ProcessRegistry
from tests.app.test_app import SIZE


async def test_batch_processes_show_only_when_filtered_for(
    make_app: Callable[..., HermesApp],
    registry: ProcessRegistry,
) -> None:
    registry.spawn("sleep 60", name="mine", owner="chat-1", backend="fake")
    registry.spawn("sleep 61", owner="batch-20260101000000-abcdef-3", backend="fake")
    registry.spawn("sleep 62", owner="batch-20260101000000-abcdef-4", backend="fake")
    app = make_app(registry)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        assert app.main.process_list.row_count == 1
        app.main.process_list.filter_text = "batch-"
        await pilot.pause()
        assert app.main.process_list.row_count == 2
        app.main.process_list.filter_text = "chat-1"
        await pilot.pause()
        assert app.main.process_list.row_count == 1
        app.main.process_list.filter_text = ""
        await pilot.pause()
        assert app.main.process_list.row_count == 1
