"""Helpers of the Modal backend: settings, event loops, reachability, error text, stored ids."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import re
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from backends.atomic import write_private
from backends.base import BackendUnavailableError

T = TypeVar("T")

CREDENTIALS_HINT = (
    "set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, or run `modal token new` (it stores them in "
    "~/.modal.toml), or put token_id / token_secret under [backends.modal]"
)


def memory_mib(value: int | str | None) -> int | None:
    """``2048``, ``"2048"``, ``"2g"`` or ``"512m"`` as MiB (Modal takes MiB)."""
    if value is None or isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mg]i?b?)?\s*", str(value).lower())
    if not match:
        raise BackendUnavailableError(
            f"invalid memory setting for the modal backend: {value!r} "
            "(use MiB, or a size like '2g')"
        )
    number = float(match.group(1))
    return int(number * 1024) if (match.group(2) or "m").startswith("g") else int(number)


def create_options(
    *,
    timeout: Any,
    idle_timeout: Any,
    cpu: Any,
    memory: int | str | None,
    workdir: str | None,
    env: Mapping[str, str] | None,
) -> dict[str, Any]:
    """``Sandbox.create`` keyword arguments from the settings (``None``: Modal's default).

    Raises:
        BackendUnavailableError: for a setting of the wrong kind, in one line.
    """
    try:
        options: dict[str, Any] = {
            "timeout": int(timeout),
            "idle_timeout": None if idle_timeout is None else int(idle_timeout),
            "cpu": None if cpu is None else float(cpu),
        }
    except (TypeError, ValueError):
        raise BackendUnavailableError(
            "invalid settings for the modal backend: timeout and idle_timeout are seconds, "
            "cpu a number of cores"
        ) from None
    options.update(memory=memory_mib(memory), workdir=workdir, env=dict(env or {}) or None)
    return {k: v for k, v in options.items() if v is not None}


def in_event_loop() -> bool:
    """True on a thread that runs an asyncio loop (the app's), where the SDK's blocking
    interface refuses to run."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def off_loop(call: Callable[[], T]) -> T:
    """``call()``, on a helper thread when this thread runs an event loop (it blocks, as
    every backend call does)."""
    if not in_event_loop():
        return call()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="modal-call") as pool:
        return pool.submit(call).result()


def read_until_cancelled(
    chunks: Iterable[bytes], cancel: threading.Event
) -> tuple[bytes, int | None, bool]:
    """Read ``chunks`` (a shell's output whose first line is its pid) on a helper thread, so a
    set ``cancel`` is seen at once even while nothing is printed.

    Returns the output without the pid line, the pid (None if not seen yet) and whether
    ``cancel`` stopped the reading. Raises what reading raised.
    """
    items: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()

    def pump() -> None:
        try:
            for chunk in chunks:
                items.put(chunk)
        except Exception as exc:
            items.put(exc)
        items.put(None)

    threading.Thread(target=pump, name="modal-exec", daemon=True).start()
    output, pid = bytearray(), None
    while True:
        try:
            item = items.get(timeout=0.05)
        except queue.Empty:
            item = b""
        if item is None:
            return bytes(output), pid, False
        if isinstance(item, BaseException):
            raise item
        output += item
        if pid is None and b"\n" in output:
            line, _, rest = bytes(output).partition(b"\n")
            pid, output = int(line), bytearray(rest)
        if cancel.is_set():
            return bytes(output), pid, True


def check_reachable(server_url: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when the API cannot be reached at all.

    The SDK retries a refused or silent connection for about a minute before it gives up; a
    plain TCP connect tells the user at once. Skipped when a proxy is in the way (the SDK
    reaches the API through it, we would not).
    """
    parsed = urllib.parse.urlparse(server_url)
    host = parsed.hostname or ""
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot reach the Modal API at {server_url} ({exc.strerror or exc}); check the "
            "network (and MODAL_SERVER_URL if you set it)"
        ) from None


def safe_name(text: str) -> str:
    """``text`` usable as part of a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:100] or "_"


def describe_error(modal: Any, exc: BaseException) -> str:
    """One line for a Modal SDK failure, naming what to check."""
    errors = modal.exception
    server = modal.config.config.get("server_url")
    if isinstance(exc, errors.AuthError):
        return f"Modal refused the credentials ({exc}); {CREDENTIALS_HINT}"
    if isinstance(
        exc,
        OSError | ConnectionError | TimeoutError | errors.ConnectionError | errors.TimeoutError,
    ) and not isinstance(exc, errors.ExecTimeoutError):
        return (
            f"cannot reach the Modal API at {server} ({type(exc).__name__}: {exc}); "
            "check the network (and MODAL_SERVER_URL if you set it)"
        )
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"modal: {text}"


def read_sandbox_id(state_file: Path) -> str | None:
    """The sandbox id stored for a sandbox key, or None."""
    try:
        data = json.loads(state_file.read_text())
        # Whatever image is configured now, the sandbox holding the processes is the one.
        return str(data["sandbox_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_sandbox_id(state_file: Path, sandbox_id: str, *, image: str, key: str) -> None:
    """Store the sandbox id of a sandbox key (private file in the state dir)."""
    state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(
        state_file,
        json.dumps({"sandbox_id": sandbox_id, "image": image, "key": key}).encode(),
    )
