"""TerminalBench task folders (Harbor layout, and the older 1.x layout), read from disk.

Harbor (TerminalBench 2.0)::

    <task>/task.toml            [environment] docker_image, [agent] / [verifier] timeout_sec,
                                [verifier.env]
    <task>/instruction.md       the prompt, verbatim
    <task>/environment/         Dockerfile (its WORKDIR is the agent's directory, default /app)
    <task>/tests/test.sh        the verifier: writes /logs/verifier/reward.txt (or reward.json)
    <task>/solution/solve.sh    the oracle (optional)

TerminalBench 1.x: ``task.yaml`` (``instruction``, ``max_agent_timeout_sec``,
``max_test_timeout_sec``), ``Dockerfile``, ``run-tests.sh`` + ``tests/``, ``solution.sh``.
Flattened dataset rows (JSONL: ``task_name``, ``instruction``, ``docker_image``, base64
``tests_tar`` / ``environment_tar``, ``test_sh``) are unpacked into task folders first.
This module does not need ``atroposlib``.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import io
import json
import re
import tarfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_WORKDIR = "/app"


class TaskError(ValueError):
    """A task folder that cannot be used; the message names the folder and the problem."""


@dataclass(frozen=True)
class HarborTask:
    """One task folder."""

    name: str
    path: Path
    instruction: str
    docker_image: str | None
    dockerfile: Path | None
    workdir: str
    tests_dir: Path
    test_script: Path
    """The verifier entry point on this machine (uploaded to ``/tests/<name>``)."""
    agent_timeout: float | None = None
    verifier_timeout: float | None = None
    verifier_env: dict[str, str] = field(default_factory=dict)
    solution: Path | None = None
    cpus: float | None = None
    memory_mb: int | None = None
    environment_env: dict[str, str] = field(default_factory=dict)
    """``[environment.env]``: the sandbox's environment variables."""


def _dockerfile_workdir(dockerfile: Path | None) -> str:
    if dockerfile is None or not dockerfile.is_file():
        return DEFAULT_WORKDIR
    workdir = DEFAULT_WORKDIR
    for line in dockerfile.read_text(errors="replace").splitlines():
        match = re.match(r"\s*WORKDIR\s+(\S+)", line, re.IGNORECASE)
        if match:
            workdir = match.group(1).strip("\"'")
    return workdir


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _memory_mb(environment: dict[str, Any]) -> int | None:
    """``memory_mb = 2048``, or the older ``memory = "2G"`` / ``"512M"``."""
    number = _number(environment.get("memory_mb"))
    if number is not None:
        return int(number)
    match = re.fullmatch(
        r"\s*(\d+(?:\.\d+)?)\s*([GgMm])[Bb]?\s*", str(environment.get("memory", ""))
    )
    if not match:
        return None
    return int(float(match.group(1)) * (1024 if match.group(2) in "Gg" else 1))


def load_task(path: Path) -> HarborTask:
    """Read one task folder.

    Raises:
        TaskError: when a required file is missing or unreadable.
    """
    if (path / "task.toml").is_file():
        return _load_harbor(path)
    if (path / "task.yaml").is_file():
        return _load_v1(path)
    raise TaskError(f"{path}: not a task folder (no task.toml or task.yaml)")


def _load_harbor(path: Path) -> HarborTask:
    try:
        config = tomllib.loads((path / "task.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TaskError(f"{path / 'task.toml'}: {exc}") from None
    instruction_file = path / "instruction.md"
    test_script = path / "tests" / "test.sh"
    for needed in (instruction_file, test_script):
        if not needed.is_file():
            raise TaskError(f"{path}: missing {needed.relative_to(path)}")
    environment = config.get("environment", {})
    verifier = config.get("verifier", {})
    dockerfile = path / "environment" / "Dockerfile"
    solution = path / "solution" / "solve.sh"
    return HarborTask(
        name=path.name,
        path=path,
        instruction=instruction_file.read_text(),
        docker_image=environment.get("docker_image") or None,
        dockerfile=dockerfile if dockerfile.is_file() else None,
        workdir=_dockerfile_workdir(dockerfile),
        tests_dir=path / "tests",
        test_script=test_script,
        agent_timeout=_number(config.get("agent", {}).get("timeout_sec")),
        verifier_timeout=_number(verifier.get("timeout_sec")),
        verifier_env={str(k): str(v) for k, v in verifier.get("env", {}).items()},
        solution=solution if solution.is_file() else None,
        cpus=_number(environment.get("cpus")),
        memory_mb=_memory_mb(environment),
        environment_env={str(k): str(v) for k, v in environment.get("env", {}).items()},
    )


def _load_v1(path: Path) -> HarborTask:
    import yaml  # installed with atroposlib; only TerminalBench 1.x tasks need it

    try:
        config = yaml.safe_load((path / "task.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TaskError(f"{path / 'task.yaml'}: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("instruction"), str):
        raise TaskError(f"{path / 'task.yaml'}: no instruction")
    test_script = path / "run-tests.sh"
    if not test_script.is_file():
        raise TaskError(f"{path}: missing run-tests.sh")
    dockerfile = path / "Dockerfile"
    solution = path / "solution.sh"
    return HarborTask(
        name=path.name,
        path=path,
        instruction=config["instruction"],
        docker_image=config.get("docker_image") or None,
        dockerfile=dockerfile if dockerfile.is_file() else None,
        workdir=_dockerfile_workdir(dockerfile),
        tests_dir=path / "tests",
        test_script=test_script,
        agent_timeout=_number(config.get("max_agent_timeout_sec")),
        verifier_timeout=_number(config.get("max_test_timeout_sec")),
        solution=solution if solution.is_file() else None,
    )


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def load_tasks(
    root: str | Path, *, only: Sequence[str] = (), skip: Sequence[str] = ()
) -> list[HarborTask]:
    """The tasks under ``root`` (itself a task folder, or a folder of them), sorted by name.

    ``only`` keeps the tasks whose name matches one of its patterns (globs allowed); ``skip``
    drops the matching ones.

    Raises:
        TaskError: when ``root`` does not exist, a task folder is broken, or nothing is left.
    """
    base = Path(root)
    if not base.is_dir():
        raise TaskError(f"{base}: no such directory")
    if (base / "task.toml").is_file() or (base / "task.yaml").is_file():
        folders = [base]
    else:
        folders = sorted(
            p for p in base.iterdir() if (p / "task.toml").is_file() or (p / "task.yaml").is_file()
        )
    tasks = [
        load_task(folder)
        for folder in folders
        if (not only or _matches(folder.name, only)) and not _matches(folder.name, skip)
    ]
    if not tasks:
        raise TaskError(
            f"{base}: no tasks left (found {len(folders)}, filter {list(only)}, skip {list(skip)})"
        )
    return tasks


def parse_reward(
    reward_txt: bytes | None, reward_json: bytes | None, exit_code: int | None
) -> float:
    """The verifier's reward: ``reward.txt`` (a number), else ``reward.json`` (a number or
    ``{"reward": n}``), else the test script's exit code (0 is 1.0)."""
    if reward_txt is not None:
        try:
            return float(reward_txt.decode(errors="replace").strip())
        except ValueError:
            pass
    if reward_json is not None:
        try:
            value = json.loads(reward_json)
        except ValueError:
            value = None
        if isinstance(value, dict):
            value = value.get("reward")
        number = _number(value)
        if number is not None:
            return number
    return 1.0 if exit_code == 0 else 0.0


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _unpack(encoded: str, target: Path, what: str) -> None:
    try:
        data = base64.b64decode(encoded, validate=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            # the "data" filter refuses absolute paths, links out of the tree, devices...
            archive.extractall(target, filter="data")
    except (binascii.Error, ValueError, tarfile.TarError, OSError) as exc:
        raise TaskError(f"{what}: not a base64 tar archive ({exc})") from None


def unpack_rows(path: str | Path, into: Path) -> Path:
    """Turn a JSONL file of flattened task rows into task folders under ``into``; returns it.

    Raises:
        TaskError: naming the line of a bad row.
    """
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise TaskError(f"{where}: not JSON ({exc})") from None
        name = row.get("task_name") if isinstance(row, dict) else None
        if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
            raise TaskError(f"{where}: task_name must be a plain name ([A-Za-z0-9._-])")
        if not isinstance(row.get("instruction"), str):
            raise TaskError(f"{where}: no instruction")
        folder = into / name
        (folder / "tests").mkdir(parents=True, exist_ok=False)
        (folder / "environment").mkdir()
        (folder / "instruction.md").write_text(row["instruction"])
        image = row.get("docker_image")
        config = f"[environment]\ndocker_image = {json.dumps(image)}\n" if image else ""
        (folder / "task.toml").write_text('version = "1.0"\n' + config)
        if row.get("tests_tar"):
            _unpack(str(row["tests_tar"]), folder / "tests", f"{where}: tests_tar")
        if row.get("environment_tar"):
            _unpack(
                str(row["environment_tar"]), folder / "environment", f"{where}: environment_tar"
            )
        if isinstance(row.get("test_sh"), str):
            (folder / "tests" / "test.sh").write_text(row["test_sh"])
    return into
