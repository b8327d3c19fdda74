"""Process identity on Linux: pid + start time + boot id, so a reused pid is never adopted."""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc")


def boot_id() -> str:
    """Return this boot's random id (changes at every reboot), or ``""`` if unknown."""
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def start_ticks(pid: int) -> int | None:
    """Return the start time of ``pid`` in clock ticks since boot, or ``None``.

    ``None`` means there is no such process, or it is a zombie (it has ended).
    """
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if not fields or fields[0] == b"Z":
        return None
    return int(fields[19])


def is_same_process(pid: int, ticks: int, boot: str) -> bool:
    """Return True when ``pid`` is alive and is the process that started at ``ticks``."""
    if pid <= 0 or (boot and boot != boot_id()):
        return False
    return start_ticks(pid) == ticks


def controlling_tty(pid: int) -> str | None:
    """Return the path of ``pid``'s controlling terminal (a ``/dev/pts/N``), or ``None``."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if len(fields) < 5:
        return None
    tty_nr = int(fields[4])
    major = (tty_nr >> 8) & 0xFFF
    minor = (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if not 136 <= major <= 143:  # Unix98 PTY slaves
        return None
    return f"/dev/pts/{(major - 136) * 256 + minor}"
