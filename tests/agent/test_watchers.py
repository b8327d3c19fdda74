"""check_interval watchers: silent when nothing is new, notification modes, re-armed after a
restart (driven directly on an event loop, with real processes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hermes_tui.agent.watchers import WatcherManager, default_mode
from registry import ProcessRegistry
from tests.conftest import wait_for

INTERVAL = 0.2


class Posts(list[tuple[str, str]]):
    def __call__(self, key: str, text: str) -> None:
        self.append((key, text))

    def texts(self) -> list[str]:
        return [text for _, text in self]


async def until_stopped(manager: WatcherManager, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while manager.active:
        assert time.monotonic() < deadline, "the watcher never stopped"
        await asyncio.sleep(0.02)


async def test_a_quiet_process_gives_no_updates_until_its_end(registry: ProcessRegistry) -> None:
    posts = Posts()
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn("sleep 1.5; echo done; exit 2", owner="chat-1")
    manager.start(proc, INTERVAL)
    await until_stopped(manager)
    assert posts == [("chat-1", f"[{proc.id} exited with exit code 2] Final output:\ndone")]


async def test_updates_carry_only_new_output(registry: ProcessRegistry) -> None:
    posts = Posts()
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn("echo before; read go; echo after; read go2", owner="c")
    await asyncio.to_thread(wait_for, lambda: b"before" in registry.output(proc.id))
    manager.start(proc, INTERVAL)
    registry.submit(proc.id, "")
    deadline = time.monotonic() + 10
    while not posts:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await asyncio.sleep(INTERVAL * 3)  # more intervals with nothing new: no more posts
    assert posts.texts() == [f"[{proc.id} still running] New output:\nafter"]
    registry.submit(proc.id, "")
    await until_stopped(manager)
    assert posts.texts()[-1] == f"[{proc.id} exited with exit code 0]"


@pytest.mark.parametrize(
    ("mode", "code", "expect_final"),
    [
        ("result", 0, True),
        ("error", 0, False),
        ("error", 3, True),
        ("off", 3, False),
    ],
)
async def test_notification_modes(
    registry: ProcessRegistry, mode: str, code: int, expect_final: bool
) -> None:
    posts = Posts()
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn(
        f"for i in 1 2 3 4 5; do echo tick $i; sleep 0.2; done; exit {code}", owner="c"
    )
    manager.start(proc, INTERVAL, mode)
    await until_stopped(manager)
    finals = [t for t in posts.texts() if "exit code" in t]
    assert len(finals) == (1 if expect_final else 0)
    assert not [t for t in posts.texts() if "still running" in t]


def test_the_default_mode_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_mode() == "all"
    assert default_mode("error") == "error"
    monkeypatch.setenv("HERMES_BACKGROUND_NOTIFICATIONS", "false")
    assert default_mode("all") == "off"
    monkeypatch.setenv("HERMES_BACKGROUND_NOTIFICATIONS", "bogus")
    assert default_mode() == "all"


async def test_watchers_are_rearmed_after_a_restart(
    make_registry: Callable[..., ProcessRegistry],
    state_dir: Path,
) -> None:
    first = make_registry()
    posts = Posts()
    manager = WatcherManager(first, posts, min_interval=INTERVAL)
    proc = first.spawn("echo start; read go; echo while-away; exit 4", owner="chat-1")
    await asyncio.to_thread(wait_for, lambda: b"start" in first.output(proc.id))
    manager.start(proc, INTERVAL, "result")
    manager.stop_all()  # the app quits
    first.close()
    assert (state_dir / "watchers.json").exists()

    second = make_registry()
    second.recover()
    second.submit(proc.id, "")
    again = Posts()
    restarted = WatcherManager(second, again, min_interval=INTERVAL)
    assert restarted.rearm() == [proc.id]
    await until_stopped(restarted)
    assert again == [("chat-1", f"[{proc.id} exited with exit code 4] Final output:\nwhile-away")]
    assert WatcherManager(second, Posts(), min_interval=INTERVAL).rearm() == []
