"""``ProcessRegistry.release_sandbox``: a task (batch prompt, RL episode) leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

from registry import ProcessRegistry
from tests.conftest import pid_alive, wait_for


def test_release_kills_forgets_and_drops_the_tasks_settings(
    registry: ProcessRegistry, state_dir: Path
) -> None:
    registry.set_sandbox_options("local", "task-1", {})
    running = registry.spawn("sleep 300", owner="task-1")
    done = registry.spawn("echo bye", owner="task-1")
    other = registry.spawn("sleep 301", owner="chat-1")
    registry.wait(done.id, 10)
    assert running.handle is not None and done.handle is not None
    run_dirs = [Path(running.handle.run_dir), Path(done.handle.run_dir)]
    assert all(d.exists() for d in run_dirs)
    registry.release_sandbox("local", "task-1")
    assert not pid_alive(running.pid or 0)
    assert [s.id for s in registry.processes()] == [other.id]
    assert registry.checkpoint.load().keys() == {other.id}
    assert not any(d.exists() for d in run_dirs)
    assert ("local", "task-1") not in registry._sandbox_options
    assert other.is_running
    registry.kill(other.id)
    wait_for(lambda: not other.is_running)
    assert os.path.isdir(state_dir)
