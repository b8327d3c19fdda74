"""Looks: the main screen at 80x24 and 160x48 in two themes, with recorded byte streams.

The processes here are recorded fixtures (fixed ids, times and output) adopted into a real
registry, so the pictures do not change from run to run. Update with
``pytest tests/app/test_snapshots.py --snapshot-update`` and review the SVG diffs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.css.query import NoMatches

from hermes_tui.app import HermesApp
from hermes_tui.launch import make_app
from hermes_tui.settings import Config
from hermes_tui.theming import load_themes
from hermes_tui.widgets import process_list
from registry import Process, ProcessRegistry, ProcessStatus, RecoveryReport
from tests.app.pilot_helpers import until

DATA = Path(__file__).parent / "data"
T0 = 1_790_000_000.0


class _FrozenClock:
    @staticmethod
    def time() -> float:
        return T0 + 125


def _proc(proc_id: str, command: str, fixture: str, **fields: Any) -> Process:
    proc = Process(
        id=proc_id,
        command=command,
        argv=["/bin/sh", "-c", command],
        backend="local",
        workdir="/work",
        pty=True,
        owner="chat-1",
        started_at=T0,
        **fields,
    )
    proc.output.append((DATA / fixture).read_bytes())
    if not proc.is_running:
        proc.ended.set()
    return proc


def snapshot_app(state_dir: Path, theme: str) -> HermesApp:
    registry = ProcessRegistry(state_dir)
    for proc in (
        _proc("proc_a1b2c3", "hermes-top", "fullscreen.bin", name="monitor"),
        _proc(
            "proc_d4e5f6",
            "pytest -q tests/",
            "build_log.bin",
            status=ProcessStatus.EXITED,
            exit_code=1,
            ended_at=T0 + 42,
        ),
        _proc(
            "proc_778899",
            "python3 -m http.server 8000",
            "build_log.bin",
            status=ProcessStatus.KILLED,
            exit_code=-15,
            ended_at=T0 + 90,
            kill_reason="SIGTERM by user",
        ),
    ):
        registry.adopt(proc)
    themes, _ = load_themes([])
    return make_app(
        registry=registry,
        report=RecoveryReport(),
        config=Config(theme=theme),
        themes=themes,
        config_path=state_dir / "config.toml",
    )


def painted(app: HermesApp) -> bool:
    """The list has its rows and the terminal shows the selected monitor (its first rows are
    cut off in a pane shorter than the 24 rows it was recorded at)."""
    try:
        main = app.main
        return main.process_list.row_count == 3 and "45%" in "\n".join(main.terminal.screen_text())
    except (LookupError, NoMatches):
        return False  # not mounted yet


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process_list, "time", _FrozenClock)


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("theme", ["hermes-dark", "hermes-light"])
@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(
    snap_compare: Callable[..., bool], state_dir: Path, theme: str, size: tuple[int, int]
) -> None:
    async def settle(pilot: Any) -> None:
        if size[0] < 100:  # narrow: the chat and the processes take turns; show the latter
            await pilot.press("f3")
        await until(pilot, lambda: painted(pilot.app), "the panes to paint")

    assert snap_compare(snapshot_app(state_dir, theme), terminal_size=size, run_before=settle)


@pytest.mark.usefixtures("frozen_clock")
def test_attached_to_the_monitor(snap_compare: Callable[..., bool], state_dir: Path) -> None:
    async def attach(pilot: Any) -> None:
        await pilot.press("f3")
        pilot.app.main.attached_id = "proc_a1b2c3"  # attach without resizing a real PTY
        pilot.app.main.terminal.attached = True
        pilot.app.main.terminal.focus()
        pilot.app.refresh_bindings()
        await until(pilot, lambda: painted(pilot.app), "the panes to paint")

    assert snap_compare(
        snapshot_app(state_dir, "hermes-dark"), terminal_size=(120, 36), run_before=attach
    )
