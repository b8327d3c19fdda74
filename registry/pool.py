"""The backends of a registry: one per kind, or one per sandbox key where a backend isolates
chat sessions (a container each), created on first use with the configured options."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends import Backend, BackendError, backend_class, create_backend
from registry.errors import RegistryError
from registry.process import Process


class BackendPool:
    """The backend half of :class:`registry.ProcessRegistry` (a mixin)."""

    state_dir: Path
    _lock: threading.RLock

    def _init_backends(self, backend_options: Mapping[str, Mapping[str, Any]] | None) -> None:
        self._backend_options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self._backends: dict[tuple[str, str], Backend] = {}
        self._installed: dict[str, Backend] = {}
        self._sandbox_options: dict[tuple[str, str], dict[str, Any]] = {}
        self._creating: dict[tuple[str, str], threading.Lock] = {}

    def configure_backend(self, kind: str, options: Mapping[str, Any]) -> None:
        """Set a backend's options (from the config file) before its first use."""
        with self._lock:
            self._backend_options[kind] = {**self._backend_options.get(kind, {}), **options}

    def use_backend(self, backend: Backend) -> None:
        """Serve every request for ``backend.kind`` with this instance (a test double, or a
        backend built by an embedding program)."""
        with self._lock:
            self._installed[backend.kind] = backend

    def set_sandbox_options(self, kind: str, sandbox: str, options: Mapping[str, Any]) -> None:
        """Per chat session / task settings, e.g. the batch runner's per-prompt
        ``docker_image``: ``set_sandbox_options("docker", "task_7", {"image": ...})``."""
        with self._lock:
            self._sandbox_options[(kind, sandbox)] = dict(options)

    def backend(self, kind: str = "local", sandbox: str = "default") -> Backend:
        """Return the backend of ``kind`` for chat session / task ``sandbox``.

        Backends that isolate owners (docker: a container each; singularity: an instance
        each) get one instance per sandbox key; the others are shared.

        Raises:
            BackendError: when the backend is unknown or unavailable.
        """
        with self._lock:
            if kind in self._installed:
                return self._installed[kind]
        per_sandbox = backend_class(kind).sandbox_options(sandbox)
        key = (kind, sandbox if per_sandbox else "")
        with self._lock:
            if key in self._backends:
                return self._backends[key]
            creating = self._creating.setdefault(key, threading.Lock())
            options = {
                **per_sandbox,
                **self._backend_options.get(kind, {}),
                **self._sandbox_options.get((kind, sandbox), {}),
            }
        # Created outside the registry lock: a sandbox can take seconds (a container, an
        # image pull) and the batch runner creates many at once; one creation per key.
        with creating:
            with self._lock:
                if key in self._backends:
                    return self._backends[key]
            try:
                backend = create_backend(kind, state_dir=self.state_dir, **options)
                with self._lock:
                    self._backends[key] = backend
            finally:
                with self._lock:
                    self._creating.pop(key, None)
            return backend

    def _open_backend(self, kind: str, sandbox: str) -> Backend | None:
        """The backend of ``kind`` for ``sandbox`` if it exists; never creates one (a released
        sandbox must not come back for a late look)."""
        with self._lock:
            if kind in self._installed:
                return self._installed[kind]
            for key in ((kind, sandbox), (kind, "")):
                if key in self._backends:
                    return self._backends[key]
        return None

    def _backend_for(self, proc: Process) -> Backend:
        return self.backend(proc.backend, proc.owner)

    def _backend_or_error(self, kind: str, sandbox: str = "default") -> Backend:
        try:
            return self.backend(kind, sandbox)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None
