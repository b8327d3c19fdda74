"""Shared fixtures: every test gets its own state dir, and every process it starts is killed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from registry import ProcessRegistry, RegistryError, set_registry
from tests.engines import dockerd_problem, sshd_problem
from tests.sshd import SSHServer, start_sshd

if TYPE_CHECKING:
    from tests.fakes.daytona_api import FakeDaytona
    from tests.fakes.modal_api import FakeModal

FAKE_APPTAINER_BIN = Path(__file__).parent / "fakes" / "bin"


@pytest.fixture
def fake_apptainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Put the stand-in ``apptainer`` first on PATH; yields its state dir."""
    state = tmp_path / "apptainer-state"
    monkeypatch.setenv("PATH", f"{FAKE_APPTAINER_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_APPTAINER_STATE", str(state))
    yield state
    instances = state / "instances.json"
    if instances.exists():
        import json
        import signal

        for entry in json.loads(instances.read_text()).values():
            try:
                os.kill(entry["pid"], signal.SIGKILL)
            except OSError:
                pass


ENGINES = {"docker": dockerd_problem, "ssh": sshd_problem}
"""What each engine-backed backend needs, checked before the tests that use it run."""
_ENGINE_FIXTURES = {"docker_image": "docker", "sshd": "ssh"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop with one line per missing engine instead of an error in every test using it."""
    needed: set[str] = set()
    for item in items:
        needed.update(
            _ENGINE_FIXTURES[name]
            for name in getattr(item, "fixturenames", ())
            if name in _ENGINE_FIXTURES
        )
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") in ENGINES:
            needed.add(callspec.params["backend"])
    problems = [problem for kind in sorted(needed) if (problem := ENGINES[kind]())]
    if problems:
        pytest.exit("\n".join(problems), returncode=1)


@pytest.fixture(scope="session")
def docker_image() -> str:
    """The Docker backend's test image (needs a running dockerd, started by .ci/run)."""
    from tests.docker_image import ensure_image

    return ensure_image()


@pytest.fixture(scope="session")
def fake_daytona(docker_image: str) -> Iterator[FakeDaytona]:
    """The fake Daytona API on 127.0.0.1 (a container per sandbox) for the test session."""
    from tests.fakes.daytona_api import FakeDaytona

    with FakeDaytona(image=docker_image) as fake:
        yield fake
    assert fake.errors == [], f"the fake Daytona API failed: {fake.errors}"


@pytest.fixture(scope="session")
def fake_modal_server(docker_image: str) -> Iterator[FakeModal]:
    """The fake Modal API on 127.0.0.1 for the whole test session (sandboxes are containers
    of the test image)."""
    from tests.fakes.modal_api import FakeModal

    with FakeModal() as fake:
        yield fake


@pytest.fixture
def fake_modal(fake_modal_server: FakeModal, monkeypatch: pytest.MonkeyPatch) -> FakeModal:
    """The fake Modal API, with the SDK pointed at it and its credentials in the environment."""
    monkeypatch.setenv("MODAL_SERVER_URL", fake_modal_server.url)
    monkeypatch.setenv("MODAL_TOKEN_ID", fake_modal_server.token_id)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", fake_modal_server.token_secret)
    return fake_modal_server


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1 for the whole test session."""
    yield from start_sshd(tmp_path_factory.mktemp("sshd"))


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private state dir, also exported as ``$HERMES_HOME`` for CLI subprocesses."""
    path = tmp_path / "state"
    monkeypatch.setenv("HERMES_HOME", str(path))
    return path


@pytest.fixture
def make_registry(state_dir: Path) -> Iterator[Callable[..., ProcessRegistry]]:
    """Create registries on the test's state dir; all their processes are killed afterwards."""
    created: list[ProcessRegistry] = []

    def make(**kwargs: object) -> ProcessRegistry:
        registry = ProcessRegistry(state_dir, **kwargs)  # type: ignore[arg-type]
        created.append(registry)
        return registry

    yield make
    for registry in created:
        for proc in registry.processes():
            if proc.is_running:
                try:
                    registry.kill(proc.id, grace=0.5)
                except RegistryError:
                    pass  # its sandbox is already gone
        registry.close()
    set_registry(None)


@pytest.fixture
def registry(make_registry: Callable[..., ProcessRegistry]) -> ProcessRegistry:
    """A registry on a fresh state dir."""
    return make_registry()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(autouse=True)
def _no_leaked_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must not depend on the developer's own hermes-tui state or debug settings.
    monkeypatch.delenv("HERMES_DEBUG", raising=False)
    # Profiles (pyenv's rehash lock, nvm) make login shells slow, and a command killed while
    # its profile runs can leave their locks behind; the login shell has its own tests.
    monkeypatch.setenv("HERMES_LOGIN_SHELL", "0")
    os.environ.setdefault("TERM", "xterm-256color")
