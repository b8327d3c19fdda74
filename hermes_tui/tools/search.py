"""The ``search_files`` tool: regex over file contents, or glob over file names.

Upstream's contract (``pattern``, ``target`` ``content|files``, ``path``, ``file_glob``,
``limit``, ``offset``, ``output_mode`` ``content|files_only|count``, ``context``) on every
backend: the tree is listed and read where the chat's commands run (see
:mod:`hermes_tui.tools.fs`), and matched here, so a regex means the same everywhere.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from typing import Any

from hermes_tui.tools.base import JSONDict, Tool, ToolContext, ToolError
from hermes_tui.tools.fs import filesystem

SEARCH_MAX_FILE_BYTES = 2 << 20
MAX_CONTEXT = 20
MATCH_CHARS = 500
TARGET_ALIASES = {"grep": "content", "find": "files", "content": "content", "files": "files"}
"""Upstream's legacy ``target`` values map to the current ones."""
OUTPUT_MODES = ("content", "files_only", "count")


def is_binary(data: bytes) -> bool:
    """True for data that looks like a binary file (a NUL in its first 8 KB)."""
    return b"\x00" in data[:8192]


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], bool]:
    return items[offset : offset + limit], len(items) > offset + limit


def _name_matches(path: str, pattern: str) -> bool:
    return fnmatch.fnmatch(posixpath.basename(path), pattern)


def search_files(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Regex over file contents, or glob over file names (``.gitignore`` respected)."""
    fs = filesystem(ctx)
    root = fs.resolve(args.get("path") or ".")
    entry = fs.stat(root)
    if entry.kind == "none":
        raise ToolError(f"path not found: {root}")
    target = TARGET_ALIASES.get(args.get("target") or "content")
    if target is None:
        raise ToolError(f"'target' must be one of: content, files; got {args['target']!r}")
    mode = args.get("output_mode") or "content"
    limit = int(args.get("limit") or 50)
    offset = int(args.get("offset") or 0)
    context = int(args.get("context") or 0)
    notes = []
    if context > MAX_CONTEXT:
        notes.append(f"context {context} lowered to {MAX_CONTEXT} lines")
        context = MAX_CONTEXT
    files = fs.files(root) if entry.kind == "dir" else [root]
    result: JSONDict
    if target == "files":
        names = [p for p in files if _name_matches(p, args["pattern"])]
        if mode == "count":
            result = {"total_count": len(names)}
        else:
            page, more = _page(names, offset, limit)
            result = {
                "files": page,
                "total_count": len(names),
                **({"truncated": True} if more else {}),
            }
    else:
        result = _search_contents(fs.read_many, files, args, mode, context, offset, limit)
    if notes:
        result["note"] = "; ".join(notes)
    return result


def _search_contents(
    read_many: Any,
    files: list[str],
    args: JSONDict,
    mode: str,
    context: int,
    offset: int,
    limit: int,
) -> JSONDict:
    try:
        regex = re.compile(args["pattern"])
    except re.error as exc:
        raise ToolError(f"invalid regular expression {args['pattern']!r}: {exc}") from None
    file_glob = args.get("file_glob")
    if file_glob:
        files = [p for p in files if _name_matches(p, file_glob)]
    matches: list[JSONDict] = []
    counts: dict[str, int] = {}
    total = 0
    for path, data in read_many(files, SEARCH_MAX_FILE_BYTES):
        if is_binary(data):
            continue
        lines = data.decode("utf-8", errors="replace").splitlines()
        for index, line in enumerate(lines):
            if not regex.search(line):
                continue
            total += 1
            counts[path] = counts.get(path, 0) + 1
            if mode == "content" and offset < total <= offset + limit:
                match: JSONDict = {"path": path, "line": index + 1, "content": line[:MATCH_CHARS]}
                if context:
                    match["context_before"] = [
                        text[:MATCH_CHARS] for text in lines[max(0, index - context) : index]
                    ]
                    match["context_after"] = [
                        text[:MATCH_CHARS] for text in lines[index + 1 : index + 1 + context]
                    ]
                matches.append(match)
    if mode == "count":
        return {"total_count": total, "counts": counts}
    if mode == "files_only":
        page, more = _page(list(counts), offset, limit)
        return {"total_count": len(counts), "files": page, **({"truncated": True} if more else {})}
    return {
        "total_count": total,
        "matches": matches,
        **({"truncated": True} if total > offset + limit else {}),
    }


SEARCH_TOOL = Tool(
    "search_files",
    "Search file contents with a regex (target='content', "
    "default) or file names with a glob (target='files') under `path` "
    "(default: the working directory); .gitignore is respected. output_mode: "
    "content (matching lines, with `context` lines around each), files_only "
    "(the files that match) or count (matches per file).",
    {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "target": {"type": "string", "enum": ["content", "files", "grep", "find"]},
            "path": {"type": "string"},
            "file_glob": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "output_mode": {"type": "string", "enum": list(OUTPUT_MODES)},
            "context": {"type": "integer", "minimum": 0},
        },
        "required": ["pattern"],
    },
    search_files,
)
