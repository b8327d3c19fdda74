"""The user's config file: TOML, read with ``tomllib``, written with ``tomli_w``.

Invalid config never stops the app: every problem becomes one message naming the file, the key
and what is wrong, and that key keeps its default. API keys are never read from or written to
the file; the config names the environment variable that holds the key.

Example::

    theme = "hermes-light"
    backend = "local"
    detach_key = "ctrl+^"

    [keys]              # action id = key, e.g. move "zoom" from F5 to F6
    zoom = "f6"

    [model]
    name = "gpt-4.1-mini"
    base_url = "http://localhost:11434/v1"
    api_key_env = "OPENAI_API_KEY"
    max_iterations = 30

    [processes]
    max_wait = 600            # longest single wait of the agent's process tool, seconds
    idle_timeout_hours = 24   # chat sessions without running processes expire after this
    notifications = "all"     # check_interval watchers post: all | result | error | off
    bang = "attach"           # what !cmd does: attach | background (!!cmd does the other)

    [backends.ssh]            # options of each backend, passed to it as they are
    host = "build-box"
    user = "me"
    key_file = "~/.ssh/id_ed25519"

    [backends.docker]
    image = "python:3.11-slim"
    memory = "2g"
    cpus = 2
    network_mode = "none"

    [backends.daytona]        # the key: DAYTONA_API_KEY (or api_key here); set values win
    image = "python:3.11-slim"
    cpu = 2
    memory = 4                # GiB
    auto_stop_interval = 30   # minutes; 0 once a background process starts
    [backends.modal]          # token: MODAL_TOKEN_ID / MODAL_TOKEN_SECRET in the environment
    image = "python:3.11-slim"
    timeout = 86400           # sandbox lifetime, seconds (Modal's default is only 300)
    cpu = 2
    memory = "4g"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from backends import BACKEND_KINDS
from backends.atomic import write_private
from hermes_tui.term.keys import DEFAULT_DETACH_KEY, DetachKey
from registry.paths import ensure_private_dir


@dataclass
class ModelSettings:
    """Which model the agent talks to."""

    name: str | None = None
    """Model name (``--model`` overrides it)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint (``--base-url`` and ``OPENAI_BASE_URL`` override it)."""
    api_key_env: str = "OPENAI_API_KEY"
    """The environment variable holding the API key (the key itself never goes in the file)."""
    max_iterations: float = 30.0
    """Model calls allowed in one turn before the agent stops and says so."""


BANG_MODES = ("attach", "background")


@dataclass
class ProcessSettings:
    """Background process behaviour."""

    max_wait: float = 600.0
    """The longest a single ``process wait`` blocks, in seconds."""
    idle_timeout_hours: float = 24.0
    """Chat sessions without running processes expire after this many idle hours."""
    notifications: str = "all"
    """What ``check_interval`` watchers post by default: all, result, error or off
    (``$HERMES_BACKGROUND_NOTIFICATIONS`` overrides it)."""
    bang: str = "attach"
    """What ``!command`` in the chat does: ``attach`` to it, or start it in the
    ``background``; ``!!command`` does the other."""


@dataclass
class Config:
    """Everything in ``config.toml``."""

    theme: str = "hermes-dark"
    backend: str = "local"
    detach_key: str = "ctrl+^"
    keys: dict[str, str] = field(default_factory=dict)
    """Keybinding overrides: binding id -> key (e.g. ``zoom = "f6"``)."""
    model: ModelSettings = field(default_factory=ModelSettings)
    processes: ProcessSettings = field(default_factory=ProcessSettings)
    backends: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per backend kind, the options its constructor takes (``[backends.docker]``...)."""


def config_path() -> Path:
    """``$HERMES_CONFIG``, else ``config.toml`` in the platform's user config dir."""
    explicit = os.environ.get("HERMES_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return platformdirs.user_config_path("hermes-tui") / "config.toml"


def _check(
    value: Any, expected: type | tuple[type, ...], name: str, path: Path, problems: list[str]
) -> bool:
    if isinstance(value, bool) and expected in (int, float, (int, float)):
        ok = False
    else:
        ok = isinstance(value, expected)
    if not ok:
        kind = {str: "a string", bool: "true or false", dict: "a table"}.get(
            expected if isinstance(expected, type) else float, "a number"
        )
        problems.append(f"{path}: '{name}' must be {kind}, got {value!r}; using the default")
    return ok


def _load_section(
    target: Any, data: dict[str, Any], prefix: str, path: Path, problems: list[str]
) -> None:
    """Copy valid values from ``data`` onto the dataclass ``target``."""
    known = {f.name: f for f in fields(target)}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            problems.append(f"{path}: unknown key '{name}' (ignored)")
            continue
        default = getattr(target, key)
        if hasattr(default, "__dataclass_fields__"):
            if _check(value, dict, name, path, problems):
                _load_section(default, value, f"{name}.", path, problems)
        elif key == "backends":
            if _check(value, dict, name, path, problems):
                for kind, options in value.items():
                    if kind not in BACKEND_KINDS:
                        problems.append(
                            f"{path}: unknown backend 'backends.{kind}' (ignored); "
                            f"choose from {', '.join(BACKEND_KINDS)}"
                        )
                    elif _check(options, dict, f"backends.{kind}", path, problems):
                        target.backends[kind] = dict(options)
        elif key == "keys":
            if _check(value, dict, name, path, problems):
                for action, key_name in value.items():
                    if _check(key_name, str, f"keys.{action}", path, problems) and key_name:
                        target.keys[action] = key_name
        elif isinstance(default, float):
            if _check(value, (int, float), name, path, problems):
                if value <= 0:
                    problems.append(
                        f"{path}: '{name}' must be positive, got {value}; using {default:g}"
                    )
                else:
                    setattr(target, key, float(value))
        elif _check(value, str, name, path, problems):
            setattr(target, key, value)


def load_config(path: Path | None = None) -> tuple[Config, list[str]]:
    """Read the config; return it with the problems found (never raises).

    A missing file gives the defaults and no problems.
    """
    path = path or config_path()
    config = Config()
    problems: list[str] = []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config, problems
    except (OSError, UnicodeDecodeError) as exc:
        return config, [f"{path}: cannot be read ({exc}); using the defaults"]
    except tomllib.TOMLDecodeError as exc:
        return config, [f"{path}: invalid TOML ({exc}); using the defaults"]
    if "api_key" in data.get("model", {}):
        problems.append(
            f"{path}: 'model.api_key' is not read from the config file (it "
            "would sit there in clear text); put the key in the environment "
            "variable named by 'model.api_key_env' instead"
        )
        data["model"] = {k: v for k, v in data["model"].items() if k != "api_key"}
    _load_section(config, data, "", path, problems)
    try:
        config.detach_key = DetachKey(config.detach_key).spec
    except ValueError as exc:
        problems.append(f"{path}: 'detach_key': {exc}; using {DEFAULT_DETACH_KEY}")
        config.detach_key = DEFAULT_DETACH_KEY
    if config.processes.bang not in BANG_MODES:
        problems.append(
            f"{path}: 'processes.bang' must be one of {', '.join(BANG_MODES)}, "
            f"got {config.processes.bang!r}; using attach"
        )
        config.processes.bang = "attach"
    if config.backend not in BACKEND_KINDS:
        problems.append(
            f"{path}: 'backend' must be one of {', '.join(BACKEND_KINDS)}, "
            f"got {config.backend!r}; using local"
        )
        config.backend = "local"
    return config, problems


def save_config(config: Config, path: Path | None = None) -> None:
    """Write the config atomically (0600; the directory 0700), dropping ``None`` values."""
    path = path or config_path()
    ensure_private_dir(path.parent)

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        return value

    write_private(path, tomli_w.dumps(drop_none(asdict(config))).encode())
