"""File tools: ``read_file``, ``write_file``, ``patch`` and ``search_files``.

They act where the chat's commands run (see :mod:`hermes_tui.tools.fs`): the host for the
local backend, inside the sandbox for the others, with relative paths resolved there. Results
are JSON-friendly dicts; problems raise ``ToolError`` with a message the model can act on.
"""

from __future__ import annotations

import difflib
import os

from hermes_tui.tools.base import JSONDict, Tool, ToolContext, ToolError
from hermes_tui.tools.fs import filesystem
from hermes_tui.tools.search import SEARCH_TOOL, is_binary

MAX_READ_BYTES = 10 << 20
DEFAULT_READ_LINES = 500
MAX_LINE_CHARS = 2000


def _decode(data: bytes) -> tuple[str, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return (
            data.decode("utf-8", errors="replace"),
            "the file is not valid UTF-8: undecodable bytes are shown as U+FFFD",
        )


# -- read_file -------------------------------------------------------------------------------
def read_file(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Return numbered lines ``offset``.. of a text file."""
    fs = filesystem(ctx)
    path = fs.resolve(args["path"])
    entry = fs.stat(path)
    if entry.kind == "dir":
        raise ToolError(f"{path} is a directory; use search_files with target='files'")
    if entry.kind == "none":
        raise ToolError(f"{path} does not exist")
    if entry.size > MAX_READ_BYTES:
        raise ToolError(
            f"{path} is {entry.size} bytes (over {MAX_READ_BYTES >> 20} MB); read "
            "parts with the terminal tool (head, tail, sed -n)"
        )
    data = fs.read(path)
    if is_binary(data):
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
    fs = filesystem(ctx)
    path = fs.resolve(args["path"])
    kind = fs.stat(path).kind
    if kind == "dir":
        raise ToolError(f"{path} is a directory")
    data = args["content"].encode()
    fs.write(path, data)
    existed = kind != "none"
    return {"path": path, "bytes_written": len(data), "created": not existed}


# -- patch -----------------------------------------------------------------------------------
def patch(args: JSONDict, ctx: ToolContext) -> JSONDict:
    """Replace an exact string; fail clearly when it is missing or ambiguous."""
    fs = filesystem(ctx)
    path = fs.resolve(args["path"])
    old, new = args["old_string"], args["new_string"]
    if old == "":
        raise ToolError("old_string must not be empty; use write_file to create a file")
    if old == new:
        raise ToolError("old_string and new_string are the same; nothing to change")
    kind = fs.stat(path).kind
    if kind != "file":
        raise ToolError(f"{path} does not exist" if kind == "none" else f"{path} is not a file")
    data = fs.read(path)
    if is_binary(data):
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
    fs.write(path, updated.encode())
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            updated.splitlines(keepends=True),
            fromfile=f"a/{os.path.basename(path)}",
            tofile=f"b/{os.path.basename(path)}",
        )
    )
    return {"path": path, "replacements": count if args.get("replace_all") else 1, "diff": diff}


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
TOOLS = (READ_TOOL, WRITE_TOOL, PATCH_TOOL, SEARCH_TOOL)
