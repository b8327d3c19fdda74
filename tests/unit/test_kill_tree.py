"""A kill leaves nothing behind, on the host and in a sandbox: descendants that called setsid,
the jobs of an interactive shell under a PTY, and what outlives the group's leader."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from registry import Process, ProcessRegistry, ProcessStatus
from tests.conftest import wait_for

SCAN = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done"


@pytest.fixture(params=["local", "docker"])
def where(
    request: pytest.FixtureRequest, tmp_path: Path, make_registry: Callable[..., ProcessRegistry]
) -> Iterator[tuple[ProcessRegistry, str]]:
    options: dict[str, dict[str, str]] = {}
    if request.param == "docker":
        options = {
            "docker": {
                "image": request.getfixturevalue("docker_image"),
                "key": f"tree-{tmp_path.name}",
            }
        }
    registry = make_registry(backend_options=options)
    yield registry, request.param
    if request.param == "docker":
        registry.backend("docker").cleanup()


def running(registry: ProcessRegistry, proc: Process, token: str) -> bool:
    """True while a process whose command line holds ``token`` runs where ``session`` runs."""
    backend = registry.backend(proc.backend, proc.owner)
    return token in backend.run(backend.shell_argv(SCAN)).output.decode(errors="replace")


def test_a_descendant_that_called_setsid_is_killed(where: tuple[ProcessRegistry, str]) -> None:
    registry, kind = where
    proc = registry.spawn("setsid sleep 777101 & sleep 300", backend=kind)
    wait_for(lambda: running(registry, proc, "sleep 777101"), what="the setsid child")
    registry.kill(proc.id, grace=1.0)
    assert not proc.is_running
    assert not running(registry, proc, "sleep 777101")
    assert proc.survivors == 0


def test_the_jobs_of_an_interactive_shell_are_killed(where: tuple[ProcessRegistry, str]) -> None:
    registry, kind = where
    shell = "bash -i" if kind == "local" else "sh -i"
    proc = registry.spawn(shell, backend=kind, pty=True)
    wait_for(lambda: running(registry, proc, shell), what="the shell")
    # Ignoring HUP (as nohup does): the job must not merely die of the terminal's hangup.
    registry.submit(proc.id, "sh -c 'trap \"\" HUP; exec sleep 777102' &")
    wait_for(lambda: running(registry, proc, "sleep 777102"), what="the background job")
    registry.kill(proc.id, grace=1.0)
    assert not proc.is_running
    assert not running(registry, proc, "sleep 777102")


def test_what_outlives_the_leader_is_reported_and_killed(
    where: tuple[ProcessRegistry, str],
) -> None:
    registry, kind = where
    proc = registry.spawn("sleep 777103 & sleep 777104 & exit 0", backend=kind)
    registry.wait(proc.id, 20)
    assert proc.status is ProcessStatus.EXITED
    assert proc.status_text == "exited 0, 2 still running"
    assert proc.describe()["still_running"] == 2
    registry.kill(proc.id, grace=1.0)
    assert not running(registry, proc, "sleep 77710")
    assert proc.status_text == "exited 0"


def test_a_signal_from_the_kill_menu_reports_what_survived_it(
    where: tuple[ProcessRegistry, str],
) -> None:
    import signal

    registry, kind = where
    proc = registry.spawn("sh -c 'trap \"\" TERM; exec sleep 777105' & sleep 300", backend=kind)
    wait_for(lambda: running(registry, proc, "sleep 777105"), what="the child")
    registry.send_signal(proc.id, signal.SIGTERM)
    wait_for(lambda: proc.survivors == 1, what="the survivor to be counted")
    assert proc.status_text == "killed -15, 1 still running"
    registry.kill(proc.id, grace=0.5)
    assert not running(registry, proc, "sleep 777105")
    assert proc.survivors == 0
