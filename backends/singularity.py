"""The Singularity / Apptainer backend: an instance per owner, commands ``exec``'d into it.

The ``apptainer`` (or older ``singularity``) command line does all the work: ``instance
start`` from a ``.sif`` or ``docker://`` image, ``exec instance://NAME`` for every command.
Background processes run under the sandbox supervisor inside the instance, so they outlive
the app like everywhere else. A missing CLI is reported when the backend starts.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from backends.base import BackendError, BackendUnavailableError, ProcHandle
from backends.shell import ShellBackend


def find_cli() -> str:
    """The ``apptainer`` or ``singularity`` executable.

    Raises:
        BackendUnavailableError: when neither is on PATH.
    """
    for name in ("apptainer", "singularity"):
        path = shutil.which(name)
        if path:
            return path
    raise BackendUnavailableError(
        "the singularity backend needs the apptainer (or singularity) command on PATH; "
        "see https://apptainer.org/docs/admin/main/installation.html"
    )


class SingularityBackend(ShellBackend):
    """Commands run inside an Apptainer instance.

    Args:
        run_root: unused locally.
        image: a ``.sif`` file, a sandbox directory or ``docker://IMAGE``.
        instance: the instance name (reused when it already runs).
        remote_root: run directories inside the instance.
    """

    kind: ClassVar[str] = "singularity"

    def __init__(
        self,
        run_root: Path,
        *,
        image: str = "docker://debian:bookworm-slim",
        instance: str = "hermes-default",
        remote_root: str = "/tmp/hermes-tui/runs",
    ) -> None:
        self.cli = find_cli()
        self.image = image
        self.instance = instance
        self.run_root = remote_root
        if instance not in self._running_instances():
            self._cli(["instance", "start", "--writable-tmpfs", image, instance], timeout=600)
        self._ok(f"mkdir -p -m 700 {shlex.quote(self.run_root)}")

    def sandbox_ref(self) -> dict[str, str]:
        return {"instance": self.instance, "image": self.image}

    @classmethod
    def sandbox_options(cls, key: str) -> dict[str, Any]:
        return {"instance": f"hermes-{key}"}

    def _cli(self, args: list[str], timeout: float = 60.0) -> str:
        try:
            done = subprocess.run(
                [self.cli, *args], capture_output=True, text=True, timeout=timeout
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"{self.cli} {' '.join(args[:2])}: {exc}") from None
        if done.returncode != 0:
            raise BackendError(
                f"{self.cli} {' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def _running_instances(self) -> set[str]:
        try:
            listing = json.loads(self._cli(["instance", "list", "--json"]) or "{}")
        except (BackendError, ValueError):
            return set()
        return {str(i.get("instance")) for i in listing.get("instances", [])}

    def _argv(self, script: str) -> list[str]:
        return [self.cli, "exec", f"instance://{self.instance}", "sh", "-c", script]

    # -- primitives --------------------------------------------------------------------
    def exec(
        self,
        script: str,
        *,
        stdin: bytes | None = None,
        timeout: float = 60.0,
        cancel: threading.Event | None = None,
    ) -> tuple[int, bytes]:
        try:
            proc = subprocess.Popen(
                self._argv(script),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise BackendError(f"cannot run {self.cli}: {exc.strerror}") from None
        output: list[bytes] = []
        reader = threading.Thread(
            target=lambda: output.append(
                proc.stdout.read()  # type: ignore[union-attr]
            ),
            daemon=True,
        )
        reader.start()
        try:
            if stdin:
                proc.stdin.write(stdin)  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except BrokenPipeError:
            pass
        waited = 0.0
        while True:
            try:
                proc.wait(0.1)
                break
            except subprocess.TimeoutExpired:
                waited += 0.1
            if (cancel is not None and cancel.is_set()) or waited > timeout:
                os.killpg(proc.pid, 9)
                proc.wait()
                break
        reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]
        return proc.returncode, b"".join(output)

    def stream(self, script: str) -> Iterator[bytes]:
        proc = subprocess.Popen(
            self._argv(script),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                yield chunk
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
            proc.wait()
            proc.stdout.close()

    def upload(self, data: bytes, remote_path: str, mode: int | None = None) -> None:
        q = shlex.quote(remote_path)
        chmod = f" && chmod {mode:o} {q}" if mode is not None else ""
        code, output = self.exec(f'mkdir -p "$(dirname {q})" && cat > {q}{chmod}', stdin=data)
        if code != 0:
            raise BackendError(
                f"cannot write {remote_path} in {self.instance}: "
                f"{output.decode(errors='replace').strip()}"
            )

    def download(self, remote_path: str) -> bytes:
        q = shlex.quote(remote_path)
        code, output = self.exec(f"[ -f {q} ] || {{ echo 'No such file' >&2; exit 1; }}; cat {q}")
        if code != 0:
            raise BackendError(
                f"cannot read {remote_path} in {self.instance}: "
                f"{output.decode(errors='replace').strip()}"
            )
        return output

    def cleanup(self, active: Sequence[ProcHandle] = ()) -> None:
        super().cleanup(active)
        self._cli(["instance", "stop", self.instance])
