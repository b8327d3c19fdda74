"""``ToolContext``: what a reward function can do in the sandbox an episode's model used.

One context per episode, keyed by a task key that is never reused. It owns the episode's
sandbox: the per-task image override is set when it is created and removed when it closes, and
:meth:`ToolContext.cleanup` (which the environments run in ``finally``, whatever the episode
produced) kills the episode's background processes before removing the sandbox.

Files move through the backend's own byte-exact transfer (``upload`` / ``download``), never
through the terminal tool's text output, which is truncated, cleaned of control bytes and
masked for secrets: any bytes, any size, come back unchanged. This module does not need
``atroposlib``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import posixpath
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from backends import Backend, BackendError
from hermes_tui import tools
from registry import ProcessRegistry, RegistryError, get_registry

log = logging.getLogger(__name__)

IMAGE_BACKENDS = frozenset({"docker", "singularity", "modal", "daytona"})
"""Backends whose sandbox is built from an image (the per-item image override applies)."""

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="hermes-rl-tool")


class ToolCalls(Executor):
    """An episode's tool calls, run on a shared pool and counted, so that cleanup can wait
    for the ones still running: a call cut off by a timeout may be starting a process at
    that moment, which cleanup must see to kill it."""

    def __init__(self, pool: Executor | None = None) -> None:
        self._pool = pool or _POOL
        self._active = 0
        self._idle = threading.Condition()

    def _enter(self) -> None:
        with self._idle:
            self._active += 1

    def _exit(self, *_: object) -> None:
        with self._idle:
            self._active -= 1
            if self._active == 0:
                self._idle.notify_all()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn`` on the pool (what ``loop.run_in_executor`` calls)."""
        self._enter()
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._exit()
            raise
        future.add_done_callback(self._exit)  # also when cancelled before it started
        return future

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count a call made on the caller's own thread."""
        self._enter()
        try:
            yield
        finally:
            self._exit()

    def wait_idle(self, timeout: float) -> bool:
        """Block until no call is running (True) or ``timeout`` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)


class ToolContext:
    """Tool access for reward functions, in the episode's own sandbox.

    Args:
        task_key: the episode's unique key: its sandbox and its processes' owner.
        backend: where the episode runs (``local``, ``docker``, ``modal``...).
        image: the sandbox image for this episode (image backends only).
        workdir: the working directory inside the sandbox. On ``local`` a fresh private
            temporary directory is used when none is given, and removed by :meth:`cleanup`.
        registry: the process registry (default: the app process's shared one).
        terminal_timeout: the longest a single foreground command may run.
        sandbox_options: more settings of this episode's sandbox for its backend (docker:
            ``cpus``, ``memory``, ``env``...).
        pool: where the episode's synchronous tool calls run (default: a shared pool).
        drain_timeout: how long cleanup waits for tool calls still running.
    """

    def __init__(
        self,
        task_key: str,
        *,
        backend: str = "local",
        image: str | None = None,
        workdir: str | None = None,
        registry: ProcessRegistry | None = None,
        terminal_timeout: float = 180.0,
        sandbox_options: Mapping[str, Any] | None = None,
        pool: Executor | None = None,
        drain_timeout: float = 60.0,
    ) -> None:
        self.task_key = task_key
        self.calls = ToolCalls(pool)
        """Give it to the agent as its executor: cleanup then waits for its tool calls."""
        self.drain_timeout = drain_timeout
        self.backend_kind = backend
        self.image = image
        self.registry = registry if registry is not None else get_registry()
        self._owned_dir: str | None = None
        if workdir is None and backend == "local":
            workdir = self._owned_dir = tempfile.mkdtemp(prefix=f"hermes-rl-{task_key}-")
        self.workdir = workdir
        self.tools = tools.ToolContext(
            registry=self.registry,
            owner=task_key,
            backend=backend,
            workdir=workdir,
            max_foreground_timeout=terminal_timeout,
        )
        """The context the episode's agent runs its tools with (same sandbox, same key)."""
        options: dict[str, Any] = dict(sandbox_options or {})
        if image and backend in IMAGE_BACKENDS:
            options["image"] = image
        if workdir and backend == "docker":
            options["workdir"] = workdir  # docker creates it when the container starts
        if options:
            self.registry.set_sandbox_options(backend, task_key, options)
        self._closed = False
        self._lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    def open(self) -> None:
        """Create the sandbox now (so a missing image fails before any token is spent) and
        make sure the working directory exists.

        Raises:
            BackendError: when the sandbox cannot be created.
        """
        backend = self.backend()
        if self.workdir and self.backend_kind not in ("local", "docker"):
            result = backend.run(["mkdir", "-p", self.workdir], timeout=60)
            if result.exit_code != 0:
                raise BackendError(
                    f"cannot create {self.workdir}: "
                    f"{result.output.decode(errors='replace').strip()}"
                )

    def backend(self) -> Backend:
        """The episode's backend instance (its sandbox)."""
        try:
            return self.registry.backend(self.backend_kind, self.task_key)
        except BackendError:
            raise
        except RegistryError as exc:
            raise BackendError(str(exc)) from None

    def cleanup(self) -> dict[str, Any]:
        """Kill the episode's background processes, then remove its sandbox and options.

        Safe to call more than once and from any thread; every step is attempted even when
        an earlier one failed. Returns what was done.
        """
        with self._lock:
            if self._closed:
                return {"already_cleaned": True}
            self._closed = True
        report: dict[str, Any] = {"killed": [], "errors": []}
        self.tools.cancel.cancel()  # stops a foreground command or wait still in progress
        if not self.calls.wait_idle(self.drain_timeout):
            report["errors"].append(f"tool calls still running after {self.drain_timeout:g}s")
        try:
            report["killed"] = [
                s.id for s in self.registry.processes(self.task_key) if s.is_running
            ]
            self.registry.release_sandbox(self.backend_kind, self.task_key)
        except (RegistryError, BackendError) as exc:
            report["errors"].append(str(exc))
            log.warning("cleanup of %s: %s", self.task_key, exc)
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
        return report

    def __enter__(self) -> ToolContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- tools --------------------------------------------------------------------------------
    def _run(self, work: Callable[[], T]) -> T:
        with self.calls.running():
            return _off_loop(work)

    def call_tool(self, name: str, arguments: Mapping[str, Any] | str | None = None) -> str:
        """Run any agent tool by name in the episode's sandbox; returns its raw JSON string."""
        return self._run(lambda: tools.run_tool(name, arguments, self.tools))

    def _tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        raw = self.call_tool(name, {k: v for k, v in arguments.items() if v is not None})
        try:
            value = json.loads(raw)
        except ValueError:
            return {"error": f"{name} returned invalid JSON"}
        return value if isinstance(value, dict) else {"result": value}

    def terminal(
        self, command: str, timeout: float = 180, workdir: str | None = None
    ) -> dict[str, Any]:
        """Run a foreground command; returns the terminal tool's result
        (``output``, ``exit_code``, maybe ``error``)."""
        return self._tool(
            "terminal", {"command": command, "timeout": int(max(1, timeout)), "workdir": workdir}
        )

    def read_file(
        self, path: str, offset: int | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """The ``read_file`` tool's result (numbered lines)."""
        return self._tool("read_file", {"path": path, "offset": offset, "limit": limit})

    def write_file(self, path: str, content: str) -> dict[str, Any]:
        """The ``write_file`` tool's result (text; use :meth:`upload_file` for bytes)."""
        return self._tool("write_file", {"path": path, "content": content})

    def search_files(
        self, pattern: str, target: str = "content", path: str = ".", **options: Any
    ) -> dict[str, Any]:
        """The ``search_files`` tool's result."""
        return self._tool(
            "search_files", {"pattern": pattern, "target": target, "path": path, **options}
        )

    # -- byte-exact file transfer ---------------------------------------------------------
    def _remote(self, path: str) -> str:
        if posixpath.isabs(path) or self.workdir is None:
            return path
        return posixpath.join(self.workdir, path)

    def upload_file(self, local_path: str | os.PathLike[str], remote_path: str) -> dict[str, Any]:
        """Copy a host file into the sandbox, byte for byte, keeping its permission bits."""
        source = Path(local_path)
        try:
            data = source.read_bytes()
            mode = stat.S_IMODE(source.stat().st_mode)
        except OSError as exc:
            return {"success": False, "error": f"cannot read local file {source}: {exc.strerror}"}
        target = self._remote(remote_path)
        try:
            self._run(lambda: self.backend().upload(data, target, mode))
        except BackendError as exc:
            return {"success": False, "error": str(exc)}
        return {"success": True, "path": target, "bytes": len(data)}

    def upload_dir(self, local_dir: str | os.PathLike[str], remote_dir: str) -> dict[str, Any]:
        """Copy a host directory tree into the sandbox (files in sorted order)."""
        root = Path(local_dir)
        if not root.is_dir():
            return {"success": False, "error": f"not a local directory: {root}"}
        files, total = 0, 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root).as_posix()
            result = self.upload_file(path, posixpath.join(self._remote(remote_dir), relative))
            if not result["success"]:
                return {**result, "files": files, "bytes": total}
            files, total = files + 1, total + int(result["bytes"])
        return {"success": True, "files": files, "bytes": total}

    def download_file(self, remote_path: str, local_path: str | os.PathLike[str]) -> dict[str, Any]:
        """Copy a sandbox file to the host, byte for byte, at any size."""
        source = self._remote(remote_path)
        try:
            data = self._run(lambda: self.backend().download(source))
        except BackendError as exc:
            return {"success": False, "error": str(exc)}
        target = Path(local_path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            return {"success": False, "error": f"cannot write {target}: {exc.strerror}"}
        return {"success": True, "path": str(target), "bytes": len(data)}

    def download_dir(self, remote_dir: str, local_dir: str | os.PathLike[str]) -> dict[str, Any]:
        """Copy a sandbox directory tree to the host."""
        source = self._remote(remote_dir).rstrip("/") or "/"
        listing = self._run(
            lambda: self.backend().run(["find", source, "-type", "f", "-print0"], timeout=120)
        )
        if listing.exit_code != 0:
            return {
                "success": False,
                "error": f"cannot list {source}: "
                f"{listing.output.decode(errors='replace').strip()[:500]}",
            }
        root = Path(local_dir).resolve()
        files, total = 0, 0
        for raw in sorted(filter(None, listing.output.split(b"\0"))):
            remote = os.fsdecode(raw)
            relative = posixpath.relpath(remote, source)
            target = (root / relative).resolve()
            if relative.startswith("..") or not target.is_relative_to(root):
                return {
                    "success": False,
                    "error": f"refusing to write outside {root}: {relative!r}",
                }
            result = self.download_file(remote, target)
            if not result["success"]:
                return {**result, "files": files, "bytes": total}
            files, total = files + 1, total + int(result["bytes"])
        return {"success": True, "files": files, "bytes": total}


def _off_loop(work: Callable[[], T]) -> T:
    """Run blocking tool work in a worker thread when called on a thread that runs an event
    loop: tools may call ``asyncio.run()`` themselves, which fails inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="hermes-rl-ctx"
    ) as pool:
        return pool.submit(work).result()
