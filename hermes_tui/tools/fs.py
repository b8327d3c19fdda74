"""The file system the file tools act on: the host's for local, the sandbox's for the others.

Relative paths and ``~`` resolve where commands run: against the chat's working directory,
else the directory foreground commands start in (the host's cwd, the container's working
directory, the SSH user's home). A sandbox's files are never looked at on the host: they are
examined with short POSIX ``sh`` scripts (busybox is enough) run through the backend and moved
with its byte-exact ``upload`` / ``download``.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import secrets
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from backends import Backend, BackendError
from hermes_tui.tools.base import ToolContext, ToolError

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache"})
ARGV_BUDGET = 64_000
"""Bytes of paths passed to one sandbox command (well under every ARG_MAX)."""


@dataclass(frozen=True)
class Entry:
    """What is at a path."""

    kind: str
    """``file``, ``dir``, ``other`` or ``none``."""
    size: int = 0


class FileSystem(ABC):
    """Primitive file operations in one execution environment."""

    @abstractmethod
    def resolve(self, path: str) -> str:
        """Return ``path`` made absolute in the environment."""

    @abstractmethod
    def stat(self, path: str) -> Entry:
        """What is at an absolute path."""

    @abstractmethod
    def read(self, path: str) -> bytes:
        """The bytes of a file."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace a file (parents created)."""

    @abstractmethod
    def files(self, root: str) -> list[str]:
        """Every file under ``root`` that is not ignored (VCS dirs, ``.gitignore``), sorted."""

    @abstractmethod
    def read_many(self, paths: list[str], max_size: int) -> Iterator[tuple[str, bytes]]:
        """Yield (path, bytes) for the files of at most ``max_size`` bytes, in order."""


class GitIgnore:
    """The common subset of .gitignore: globs, dir/ patterns, /anchored patterns, comments."""

    def __init__(self) -> None:
        self.rules: list[tuple[PurePosixPath, str, bool, bool]] = []

    def add(self, directory: str, text: str) -> None:
        """Add the rules of ``directory``'s .gitignore."""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", "!")):
                continue
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = line.startswith("/") or "/" in line
            self.rules.append((PurePosixPath(directory), line.lstrip("/"), dir_only, anchored))

    def ignored(self, path: str, is_dir: bool) -> bool:
        """True when a rule matches ``path`` itself (callers skip ignored directories)."""
        pure = PurePosixPath(path)
        for base, pattern, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            try:
                relative = pure.relative_to(base).as_posix()
            except ValueError:
                continue
            if fnmatch.fnmatch(relative if anchored else pure.name, pattern):
                return True
        return False


class LocalFS(FileSystem):
    """The host's file system (the local backend)."""

    def __init__(self, workdir: str | None) -> None:
        self.workdir = workdir

    def resolve(self, path: str) -> str:
        expanded = os.path.expanduser(path)
        if os.path.isabs(expanded):
            return expanded
        return os.path.join(os.path.expanduser(self.workdir or os.getcwd()), expanded)

    def stat(self, path: str) -> Entry:
        try:
            info = os.stat(path)
        except OSError:
            return Entry("none")
        if os.path.isdir(path):
            return Entry("dir")
        return Entry("file" if os.path.isfile(path) else "other", info.st_size)

    def read(self, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ToolError(f"cannot read {path}: {exc.strerror}") from None

    def write(self, path: str, data: bytes) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_bytes(data)
        except OSError as exc:
            raise ToolError(f"cannot write {path}: {exc.strerror}") from None

    def files(self, root: str) -> list[str]:
        if not os.path.isdir(root):
            return [root]
        ignore = GitIgnore()
        found: list[str] = []
        stack = [root]
        while stack:  # depth first, pruning ignored directories before entering them
            directory = stack.pop()
            try:
                ignore.add(directory, Path(directory, ".gitignore").read_text(errors="replace"))
            except OSError:
                pass
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                is_dir = entry.is_dir(follow_symlinks=False)
                if (is_dir and entry.name in SKIP_DIRS) or ignore.ignored(entry.path, is_dir):
                    continue
                if is_dir:
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    found.append(entry.path)
        return sorted(found)

    def read_many(self, paths: list[str], max_size: int) -> Iterator[tuple[str, bytes]]:
        for path in paths:
            try:
                if os.path.getsize(path) > max_size:
                    continue
                yield path, Path(path).read_bytes()
            except OSError:
                continue


class SandboxFS(FileSystem):
    """A sandbox's file system, reached through its backend (docker, ssh, singularity...)."""

    _places: weakref.WeakKeyDictionary[Backend, tuple[str, str]] = weakref.WeakKeyDictionary()
    """Per backend instance: (directory commands start in, $HOME), asked once."""

    def __init__(self, backend: Backend, workdir: str | None) -> None:
        self.backend = backend
        self.workdir = workdir

    def _sh(self, script: str, *args: str, timeout: float = 120.0) -> bytes:
        try:
            result = self.backend.run(["sh", "-c", script, "sh", *args], timeout=timeout)
        except BackendError as exc:
            raise ToolError(f"in the {self.backend.kind} sandbox: {exc}") from None
        if result.exit_code != 0:
            text = result.output.decode(errors="replace").strip()
            raise ToolError(
                f"in the {self.backend.kind} sandbox: {text or f'exit code {result.exit_code}'}"
            )
        return result.output

    def _place(self) -> tuple[str, str]:
        key = self.backend
        if key not in self._places:
            lines = self._sh('pwd; printf "%s\\n" "$HOME"').decode(errors="replace").splitlines()
            self._places[key] = (
                lines[0] if lines else "/",
                lines[1] if len(lines) > 1 and lines[1] else "/",
            )
        return self._places[key]

    def resolve(self, path: str) -> str:
        if path == "~" or path.startswith("~/"):
            path = self._place()[1] + path[1:]
        if path.startswith("/"):
            return posixpath.normpath(path)
        base = self.workdir or self._place()[0]
        if base == "~" or base.startswith("~/"):
            base = self._place()[1] + base[1:]
        return posixpath.normpath(posixpath.join(base, path))

    def stat(self, path: str) -> Entry:
        out = (
            self._sh(
                'if [ -d "$1" ]; then echo dir; elif [ -f "$1" ]; then echo file; '
                'wc -c < "$1"; elif [ -e "$1" ]; then echo other; else echo none; fi',
                path,
            )
            .decode(errors="replace")
            .split()
        )
        kind = out[0] if out else "none"
        size = int(out[1]) if kind == "file" and len(out) > 1 and out[1].isdigit() else 0
        return Entry(kind, size)

    def read(self, path: str) -> bytes:
        try:
            return self.backend.download(path)
        except BackendError as exc:
            raise ToolError(str(exc)) from None

    def write(self, path: str, data: bytes) -> None:
        try:
            self.backend.upload(data, path)
        except BackendError as exc:
            raise ToolError(str(exc)) from None

    def files(self, root: str) -> list[str]:
        prune = " -o ".join(f"-name {name}" for name in sorted(SKIP_DIRS))
        listing = self._list(root, prune)
        dirs = {p[1:] for p in listing if p.startswith("d")}
        files = sorted(p[1:] for p in listing if p.startswith("f"))
        if not dirs:  # the root is a file
            return files
        ignore = GitIgnore()
        gitignores = [f for f in files if posixpath.basename(f) == ".gitignore"]
        for path, data in self.read_many(gitignores, 1 << 20):
            ignore.add(posixpath.dirname(path), data.decode(errors="replace"))
        ignored: set[str] = set()
        for directory in sorted(dirs, key=lambda d: d.count("/")):
            parent = posixpath.dirname(directory)
            if directory != root and (parent in ignored or ignore.ignored(directory, True)):
                ignored.add(directory)
        return [
            f for f in files if posixpath.dirname(f) not in ignored and not ignore.ignored(f, False)
        ]

    def _list(self, root: str, prune: str) -> list[str]:
        """``d<path>`` / ``f<path>`` for everything under ``root`` (NUL-separated names)."""
        out = b""
        for kind in ("d", "f"):
            found = self._sh(
                f'find "$1" \\( -type d \\( {prune} \\) -prune \\) -o -type {kind} -print0', root
            )
            out += b"".join(kind.encode() + p + b"\0" for p in found.split(b"\0") if p)
        return [p.decode(errors="surrogateescape") for p in out.split(b"\0") if p]

    def read_many(self, paths: list[str], max_size: int) -> Iterator[tuple[str, bytes]]:
        # Each file: its size on a line, exactly that many bytes, then a random trailer that
        # proves the stream is still in step (a file may change while it is read).
        trailer = f"--{secrets.token_hex(8)}--"
        script = (
            f'for f; do s=$(wc -c < "$f" 2>/dev/null) || s=-1; '
            f'if [ "$s" -lt 0 ] || [ "$s" -gt {max_size} ]; then echo -1; continue; fi; '
            f'echo $s; head -c "$s" "$f"; printf %s {trailer}; done'
        )
        for batch in _batches(paths):
            out = self._sh(script, *batch)
            pos = 0
            for path in batch:
                end = out.find(b"\n", pos)
                if end < 0:
                    break
                size = int(out[pos:end] or b"-1")
                pos = end + 1
                if size < 0:
                    continue
                data = out[pos : pos + size]
                pos += size
                if out[pos : pos + len(trailer)] != trailer.encode():
                    break  # out of step: skip the rest of this batch rather than misread
                pos += len(trailer)
                yield path, data


def _batches(paths: list[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    used = 0
    for path in paths:
        if batch and used + len(path) + 1 > ARGV_BUDGET:
            yield batch
            batch, used = [], 0
        batch.append(path)
        used += len(path.encode(errors="surrogateescape")) + 1
    if batch:
        yield batch


def filesystem(ctx: ToolContext) -> FileSystem:
    """The file system of the chat's backend (never the host's for a sandbox)."""
    if ctx.backend == "local":
        return LocalFS(ctx.workdir)
    return SandboxFS(ctx.registry.backend(ctx.backend, ctx.owner), ctx.workdir)
