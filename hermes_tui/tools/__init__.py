"""The agent's tools and toolsets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hermes_tui.tools import files, process, terminal
from hermes_tui.tools.base import JSONDict, Tool, ToolContext, ToolError, call_tool

TOOLS: dict[str, Tool] = {tool.name: tool for tool in (terminal.TOOL, process.TOOL, *files.TOOLS)}
"""Every tool, by name."""

TOOLSETS: dict[str, tuple[str, ...]] = {
    "terminal": ("terminal", "process"),
    "file": ("read_file", "write_file", "patch", "search_files"),
    "all": tuple(TOOLS),
}
"""Named groups of tools. ``process`` is in every toolset that has ``terminal``."""

TOOL_TO_TOOLSET: dict[str, str] = {
    "terminal": "terminal",
    "process": "terminal",
    "read_file": "file",
    "write_file": "file",
    "patch": "file",
    "search_files": "file",
}
"""The toolset each tool belongs to (every tool is in exactly one besides ``all``)."""


def tools_in(toolsets: Iterable[str]) -> list[Tool]:
    """Return the tools of the named toolsets, in a stable order.

    Raises:
        ToolError: for an unknown toolset name.
    """
    names: list[str] = []
    for toolset in toolsets:
        if toolset not in TOOLSETS:
            raise ToolError(f"unknown toolset {toolset!r}; choose from: {', '.join(TOOLSETS)}")
        names.extend(n for n in TOOLSETS[toolset] if n not in names)
    return [TOOLS[n] for n in names]


def run_tool(name: str, raw_args: str | Mapping[str, Any] | None, ctx: ToolContext) -> str:
    """Run the tool ``name`` exactly as the agent would; always returns a JSON string."""
    tool = TOOLS.get(name)
    if tool is None:
        import json

        return json.dumps({"error": f"unknown tool {name!r}; available: {', '.join(TOOLS)}"})
    return call_tool(tool, raw_args, ctx)


__all__ = [
    "TOOLS",
    "TOOLSETS",
    "TOOL_TO_TOOLSET",
    "JSONDict",
    "Tool",
    "ToolContext",
    "ToolError",
    "run_tool",
    "tools_in",
]
