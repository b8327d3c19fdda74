"""The backends of a registry: one per kind, or one per sandbox key where a backend isolates
chat sessions (a container each), created on first use with the configured options."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backends import Backend, BackendError, backend_class, create_backend
from registry.errors import RegistryError
from registry.session import ProcessSession


class BackendPool:
    """The backend half of :class:`registry.ProcessRegistry` (a mixin)."""

    state_dir: Path
    _lock: threading.RLock

    def _init_backends(self, backend_options: Mapping[str, Mapping[str, Any]] | None) -> None:
        self._backend_options = {k: dict(v) for k, v in (backend_options or {}).items()}
        self._backends: dict[tuple[str, str], Backend] = {}
        self._sandbox_options: dict[tuple[str, str], dict[str, Any]] = {}

    def configure_backend(self, kind: str, options: Mapping[str, Any]) -> None:
        """Set a backend's options (from the config file) before its first use."""
        with self._lock:
            self._backend_options[kind] = {**self._backend_options.get(kind, {}), **options}

    def set_sandbox_options(self, kind: str, sandbox: str, options: Mapping[str, Any]) -> None:
        """Per chat session / task settings, e.g. the batch runner's per-prompt
        ``docker_image``: ``set_sandbox_options("docker", "task_7", {"image": ...})``."""
        with self._lock:
            self._sandbox_options[(kind, sandbox)] = dict(options)

    def backend(self, kind: str = "local", sandbox: str = "default") -> Backend:
        """Return the backend of ``kind`` for chat session / task ``sandbox``.

        Backends that isolate sessions (docker: a container each; singularity: an instance
        each) get one instance per sandbox key; the others are shared.

        Raises:
            BackendError: when the backend is unknown or unavailable.
        """
        per_sandbox = backend_class(kind).sandbox_options(sandbox)
        key = (kind, sandbox if per_sandbox else "")
        with self._lock:
            if key not in self._backends:
                options = {
                    **per_sandbox,
                    **self._backend_options.get(kind, {}),
                    **self._sandbox_options.get((kind, sandbox), {}),
                }
                self._backends[key] = create_backend(kind, state_dir=self.state_dir, **options)
            return self._backends[key]

    def _backend_for(self, session: ProcessSession) -> Backend:
        return self.backend(session.backend, session.session_key)

    def _backend_or_error(self, kind: str, sandbox: str = "default") -> Backend:
        try:
            return self.backend(kind, sandbox)
        except BackendError as exc:
            raise RegistryError(str(exc)) from None
