"""check_interval watchers: silent when nothing is new, notification modes, re-armed after a
restart (driven directly on an event loop, with real processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hermes_tui.agent.watchers import WatcherManager, default_mode
from registry import ProcessRegistry
from tests.waiting import async_wait_for, wait_for

INTERVAL = 0.2


class Posts(list[tuple[str, str]]):
    def __call__(self, key: str, text: str) -> None:
        self.append((key, text))

    def texts(self) -> list[str]:
        return [text for _, text in self]


async def until_stopped(manager: WatcherManager, timeout: float = 20) -> None:
    await async_wait_for(lambda: not manager.active, timeout, "the watcher to stop")


class Looks:
    """Counts the watchers' looks at the registry (each interval polls it once), so a test
    can wait for "N more intervals went by" instead of sleeping for them."""

    def __init__(self, registry: ProcessRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = registry.poll

        def poll(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            self.count += 1
            return result

        monkeypatch.setattr(registry, "poll", poll)

    async def more(self, n: int) -> None:
        target = self.count + n
        await async_wait_for(lambda: self.count >= target, 10, f"{n} more watcher looks")


async def test_a_quiet_process_gives_no_updates_until_its_end(
    registry: ProcessRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = Posts()
    looks = Looks(registry, monkeypatch)
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn("read go; echo done; exit 2", owner="chat-1")
    manager.start(proc, INTERVAL)
    await looks.more(3)  # three intervals of silence
    assert posts == []
    registry.submit(proc.id, "")
    await until_stopped(manager)
    assert posts == [("chat-1", f"[{proc.id} exited with exit code 2] Final output:\ndone")]


async def test_updates_carry_only_new_output(
    registry: ProcessRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = Posts()
    looks = Looks(registry, monkeypatch)
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn("echo before; read go; echo after; read go2", owner="c")
    await asyncio.to_thread(wait_for, lambda: b"before" in registry.output(proc.id))
    manager.start(proc, INTERVAL)
    registry.submit(proc.id, "")
    await async_wait_for(lambda: posts, 10, "the first update")
    await looks.more(3)  # more intervals with nothing new: no more posts
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
    registry: ProcessRegistry,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    code: int,
    expect_final: bool,
) -> None:
    posts = Posts()
    looks = Looks(registry, monkeypatch)
    manager = WatcherManager(registry, posts, min_interval=INTERVAL)
    proc = registry.spawn(f"echo tick 1; read a; echo tick 2; read b; exit {code}", owner="c")
    manager.start(proc, INTERVAL, mode)
    for tick in (b"tick 1", b"tick 2"):  # new output at two looks while it runs
        await asyncio.to_thread(wait_for, lambda t=tick: t in registry.output(proc.id))
        await looks.more(1)
        registry.submit(proc.id, "")
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
