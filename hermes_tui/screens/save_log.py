"""Writing a process's whole output (its spool, not only the buffer) to a file."""

from __future__ import annotations

from pathlib import Path

from registry import ProcessRegistry
from registry.text import clean_output

RAW_SUFFIX = ".raw"
"""A file name ending in this keeps the output as printed (escapes and all)."""
CHUNK = 1 << 20
CARRY_LIMIT = 4 << 20
"""A line longer than this is cleaned in pieces (an escape may then be cut in two)."""


def save_log(registry: ProcessRegistry, proc_id: str, path: Path, *, raw: bool = False) -> int:
    """Write everything ``proc_id`` printed to ``path``: plain text (escapes removed, CRLF
    made LF, progress-bar rewrites resolved) unless ``raw``. Returns the bytes written.

    Raises:
        OSError: when the file cannot be written.
        RegistryError: when the spool cannot be read.
    """
    written = 0
    offset = 0
    carry = b""
    with open(path, "wb") as out:
        while chunk := registry.read_spool(proc_id, offset, CHUNK):
            offset += len(chunk)
            if raw:
                out.write(chunk)
                written += len(chunk)
                continue
            # Clean whole lines only: an escape sequence or a UTF-8 character split across
            # two reads would otherwise leave garbage.
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < CARRY_LIMIT:
                carry = data
                continue
            if cut == 0:
                cut = len(data)
            written += out.write(clean_output(data[:cut]).encode())
            carry = data[cut:]
        if carry:
            written += out.write(clean_output(carry).encode())
    return written
