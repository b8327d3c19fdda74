"""File tools: ``read_file``, ``write_file``, ``patch`` and ``search_files``.

They act in the active backend through its byte-exact ``download`` / ``upload`` primitives
(the local file system today). Results are JSON-friendly dicts; problems raise ``ToolError``
with a message the model can act on.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path

from hermes_tui.tools.base import JSONDict, Tool, ToolContext, ToolError

MAX_READ_BYTES = 10 << 20
DEFAULT_READ_LINES = 500
MAX_LINE_CHARS = 2000
SEARCH_MAX_FILE_BYTES = 2 << 20
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache"})


def _resolve(path: str, ctx: ToolContext) -> str:
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        return expanded
    return os.path.join(ctx.workdir or os.getcwd(), expanded)


def _read_bytes(path: str, ctx: ToolContext) -> bytes:
    return ctx.registry.backend(ctx.backend, ctx.session_key).download(path)


def _decode(data: bytes) -> tuple[str, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return (
            data.decode("utf-8", errors="replace"),
            "the file is not valid UTF-8: undecodable bytes are shown as U+FFFD",
        )


def _is_binary(data: bytes) -> bool:
    return b"\x00" in data[:8192]


# -- read_file -------------------------------------------------------------------------------
def read_file(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Return numbered lines ``offset``.. of a text file."""
    path = _resolve(args["path"], ctx)
    if os.path.isdir(path):
        raise ToolError(f"{path} is a directory; use search_files with target='files'")
    size = os.path.getsize(path) if os.path.exists(path) else None
    if size is not None and size > MAX_READ_BYTES:
        raise ToolError(
            f"{path} is {size} bytes (over {MAX_READ_BYTES >> 20} MB); read parts "
            "with the terminal tool (head, tail, sed -n)"
        )
    data = _read_bytes(path, ctx)
    if _is_binary(data):
        raise ToolError(
            f"{path} is a binary file ({len(data)} bytes); inspect it with the "
            "terminal tool (file, xxd, hexdump)"
        )
    text, note = _decode(data)
    lines = text.splitlines()
    first = max(1, int(args.get("offset") or 1))
    limit = int(args.get("limit") or DEFAULT_READ_LINES)
    page = lines[first - 1 : first - 1 + limit]
    numbered = []
    for number, line in enumerate(page, start=first):
        if len(line) > MAX_LINE_CHARS:
            line = line[:MAX_LINE_CHARS] + f"... [{len(line) - MAX_LINE_CHARS} chars cut]"
        numbered.append(f"{number:6d}|{line}")
    result: JSONDict = {"path": path, "content": "\n".join(numbered), "total_lines": len(lines)}
    if page:
        result["showing"] = f"lines {first}-{first + len(page) - 1} of {len(lines)}"
    if first - 1 + len(page) < len(lines):
        result["truncated"] = True
        result["next_offset"] = first + len(page)
    if note:
        result["note"] = note
    return result


# -- write_file ------------------------------------------------------------------------------
def write_file(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Create or replace a file with ``content`` (UTF-8)."""
    path = _resolve(args["path"], ctx)
    if os.path.isdir(path):
        raise ToolError(f"{path} is a directory")
    existed = os.path.exists(path)
    data = args["content"].encode()
    ctx.registry.backend(ctx.backend, ctx.session_key).upload(data, path)
    return {"path": path, "bytes_written": len(data), "created": not existed}


# -- patch -----------------------------------------------------------------------------------
def patch(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Replace an exact string; fail clearly when it is missing or ambiguous."""
    path = _resolve(args["path"], ctx)
    old, new = args["old_string"], args["new_string"]
    if old == "":
        raise ToolError("old_string must not be empty; use write_file to create a file")
    if old == new:
        raise ToolError("old_string and new_string are the same; nothing to change")
    data = _read_bytes(path, ctx)
    if _is_binary(data):
        raise ToolError(f"{path} is a binary file; patch only edits text")
    text, note = _decode(data)
    if note:
        raise ToolError(f"{path} is not valid UTF-8; patching it would corrupt its bytes")
    count = text.count(old)
    if count == 0:
        hint = ""
        if old.strip() and old.strip() in text:
            hint = " (it does appear with different leading/trailing whitespace)"
        raise ToolError(
            f"old_string was not found in {path}{hint}; read the file again and "
            "copy the text exactly"
        )
    if count > 1 and not args.get("replace_all"):
        raise ToolError(
            f"old_string appears {count} times in {path}; include more "
            "surrounding lines to make it unique, or set replace_all=true"
        )
    updated = text.replace(old, new) if args.get("replace_all") else text.replace(old, new, 1)
    ctx.registry.backend(ctx.backend, ctx.session_key).upload(updated.encode(), path)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            updated.splitlines(keepends=True),
            fromfile=f"a/{os.path.basename(path)}",
            tofile=f"b/{os.path.basename(path)}",
        )
    )
    return {"path": path, "replacements": count if args.get("replace_all") else 1, "diff": diff}


# -- search_files ----------------------------------------------------------------------------
class _GitIgnore:
    """The common subset of .gitignore: globs, dir/ patterns, /anchored patterns, comments."""

    def __init__(self) -> None:
        self.rules: list[tuple[Path, str, bool, bool]] = []

    def load(self, directory: Path) -> None:
        try:
            lines = (directory / ".gitignore").read_text(errors="replace").splitlines()
        except OSError:
            return
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("#", "!")):
                continue
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = line.startswith("/") or "/" in line
            self.rules.append((directory, line.lstrip("/"), dir_only, anchored))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for base, pattern, dir_only, anchored in self.rules:
            if dir_only and not is_dir:
                continue
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            target = relative if anchored else path.name
            if fnmatch.fnmatch(target, pattern):
                return True
        return False


def _walk(root: Path) -> Iterator[Path]:
    ignore = _GitIgnore()
    stack = [root]
    while stack:
        directory = stack.pop()
        ignore.load(directory)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if (is_dir and entry.name in SKIP_DIRS) or ignore.ignored(path, is_dir):
                continue
            if is_dir:
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                yield path


def search_files(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Regex over file contents, or glob over file names (``.gitignore`` respected)."""
    if ctx.backend != "local":
        raise ToolError(
            f"search_files is not available on the {ctx.backend} backend yet; "
            "use the terminal tool (grep -rn, find)"
        )
    root = Path(_resolve(args.get("path") or ".", ctx))
    if not root.exists():
        raise ToolError(f"path not found: {root}")
    target = args.get("target") or "content"
    limit = int(args.get("limit") or 50)
    offset = int(args.get("offset") or 0)
    file_glob = args.get("file_glob")
    files = [root] if root.is_file() else _walk(root)
    if target == "files":
        names = [str(p) for p in files if fnmatch.fnmatch(p.name, args["pattern"])]
        return {
            "files": names[offset : offset + limit],
            "total_count": len(names),
            **({"truncated": True} if len(names) > offset + limit else {}),
        }
    try:
        regex = re.compile(args["pattern"])
    except re.error as exc:
        raise ToolError(f"invalid regular expression {args['pattern']!r}: {exc}") from None
    matches: list[JSONDict] = []
    total = 0
    for path in files:
        if file_glob and not fnmatch.fnmatch(path.name, file_glob):
            continue
        try:
            if path.stat().st_size > SEARCH_MAX_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if _is_binary(data):
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if regex.search(line):
                total += 1
                if offset < total <= offset + limit:
                    matches.append({"path": str(path), "line": number, "content": line[:500]})
    result: JSONDict = {"total_count": total, "matches": matches}
    if total > offset + limit:
        result["truncated"] = True
    return result


READ_TOOL = Tool(
    "read_file",
    "Read a text file: numbered lines from `offset` (1-based), at "
    f"most `limit` lines (default {DEFAULT_READ_LINES}). Refuses binary files.",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "offset": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1},
        },
        "required": ["path"],
    },
    read_file,
)
WRITE_TOOL = Tool(
    "write_file",
    "Create or replace a file with `content` (UTF-8); parent directories are created.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
    write_file,
)
PATCH_TOOL = Tool(
    "patch",
    "Replace the exact text `old_string` with `new_string` in a file and "
    "return a unified diff. Fails if the text is missing or appears more than "
    "once (unless replace_all=true).",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "old_string": {"type": "string"},
            "new_string": {"type": "string"},
            "replace_all": {"type": "boolean"},
        },
        "required": ["path", "old_string", "new_string"],
    },
    patch,
)
SEARCH_TOOL = Tool(
    "search_files",
    "Search file contents with a regex (target='content', "
    "default) or file names with a glob (target='files') under `path` "
    "(default: the working directory); .gitignore is respected.",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "target": {"type": "string", "enum": ["content", "files"]},
            "path": {"type": "string"},
            "file_glob": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        },
        "required": ["pattern"],
    },
    search_files,
)
TOOLS = (READ_TOOL, WRITE_TOOL, PATCH_TOOL, SEARCH_TOOL)
