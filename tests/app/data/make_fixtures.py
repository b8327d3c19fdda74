"""Records the byte streams the snapshot tests show (run once; the .bin files are committed).

``fullscreen.bin`` is what a full-screen, cursor-addressing program (an htop-like monitor)
writes to an 80x24 terminal; ``build_log.bin`` is coloured compiler/test-runner output.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
ESC = "\x1b"


def fullscreen() -> bytes:
    out = [f"{ESC}[?1049h{ESC}[?25l{ESC}[H{ESC}[2J"]
    out.append(
        f"{ESC}[1;1H{ESC}[48;5;24m{ESC}[38;5;231m{ESC}[1m"
        + " hermes-top  load 0.42 0.37 0.30   tasks 12".ljust(80)
        + f"{ESC}[0m"
    )
    for cpu in range(4):
        filled = (cpu * 7 + 5) % 20 + 3
        out.append(
            f"{ESC}[{cpu + 3};2H{cpu} [{ESC}[32m"
            + "|" * filled
            + f"{ESC}[0m"
            + " " * (30 - filled)
            + f"] {filled * 3:3d}%"
        )
    out.append(f"{ESC}[8;1H{ESC}[7m  PID USER      CPU%  MEM%  COMMAND".ljust(84) + f"{ESC}[0m")
    rows: list[tuple[int, str, float, float, str]] = [
        (101, "root", 12.5, 1.2, "python3 -m http.server"),
        (202, "dev", 3.1, 0.4, "cat"),
        (303, "dev", 0.0, 2.8, "vim notes.md"),
        (404, "root", 48.9, 9.7, "make -j2"),
    ]
    for i, (pid, user, load, mem, cmd) in enumerate(rows):
        colour = "38;2;255;140;0" if load > 40 else "38;5;250"
        out.append(
            f"{ESC}[{9 + i};1H{ESC}[{colour}m{pid:5d} {user:<8} {load:5.1f} {mem:5.1f}"
            f"  {cmd}{ESC}[0m{ESC}[K"
        )
    out.append(f"{ESC}[24;1H{ESC}[30;46mF1{ESC}[0mHelp {ESC}[30;46mF10{ESC}[0mQuit")
    out.append(f"{ESC}[14;10H")
    return "".join(out).encode()


def build_log() -> bytes:
    lines = []
    for n in range(1, 31):
        if n % 10 == 0:
            lines.append(f"{ESC}[1;31merror{ESC}[0m: test_case_{n} failed: expected 3, got 4")
        elif n % 4 == 0:
            lines.append(f"{ESC}[33mwarning{ESC}[0m: unused variable `x{n}` in module_{n}.py")
        else:
            lines.append(
                f"{ESC}[32m PASS {ESC}[0m tests/test_module_{n:02d}.py::test_{n} "
                f"{ESC}[2m({n * 3} ms){ESC}[0m"
            )
    return ("\r\n".join(lines) + "\r\n").encode()


if __name__ == "__main__":
    (HERE / "fullscreen.bin").write_bytes(fullscreen())
    (HERE / "build_log.bin").write_bytes(build_log())
