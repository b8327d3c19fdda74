"""Live test of the modal backend against real Modal (deselected unless run with ``-m live``).

Needs ``MODAL_TOKEN_ID`` / ``MODAL_TOKEN_SECRET``; without them it fails (it never skips).
``HERMES_LIVE_MODAL_IMAGE`` picks the image (default ``debian:bookworm-slim``). It creates
one sandbox in the app ``hermes-tui-live-test`` and terminates it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from backends.modal_backend import ModalBackend
from registry import ProcessRegistry, ProcessStatus
from tests.conftest import wait_for

pytestmark = pytest.mark.live


def test_the_modal_backend_on_real_modal(
    tmp_path: Path, make_registry: Callable[..., ProcessRegistry]
) -> None:
    if not (os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET")):
        pytest.fail("the live Modal test needs MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")
    image = os.environ.get("HERMES_LIVE_MODAL_IMAGE", "debian:bookworm-slim")
    options = {"modal": {"image": image, "app_name": "hermes-tui-live-test", "timeout": 1800}}
    key = f"live-{tmp_path.name}"
    first = make_registry(backend_options=options)
    backend = first.backend("modal", key)
    assert isinstance(backend, ModalBackend)
    backends = [backend]
    try:
        assert backend.run(["sh", "-c", "printf '\\377\\000ok'"]).output == b"\xff\x00ok"
        data = os.urandom(5 << 20)
        backend.upload(data, "/tmp/hermes-live.bin")
        assert backend.download("/tmp/hermes-live.bin") == data

        ticker = first.spawn(
            "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done",
            backend="modal",
            owner=key,
        )
        tty = first.spawn(
            "stty size; read a; stty size; echo got:$a",
            backend="modal",
            owner=key,
            pty=True,
            rows=20,
            cols=70,
        )
        wait_for(lambda: b"20 70" in first.output(tty.id), timeout=60, what="the pty")
        first.resize(tty.id, 40, 100)
        first.submit(tty.id, "hi")
        first.wait(tty.id, 60)
        assert b"40 100" in first.output(tty.id) and b"got:hi" in first.output(tty.id)
        wait_for(
            lambda: first.log(ticker.id, limit=10**6).total_lines > 5, timeout=60, what="ticks"
        )
        first.close()

        second = make_registry(backend_options=options)
        report = second.recover()
        assert ticker.id in {s.id for s in report.adopted}
        again = second.backend("modal", key)
        assert isinstance(again, ModalBackend)
        backends.append(again)
        assert again.sandbox_ref() == backend.sandbox_ref()
        count = second.log(ticker.id, limit=10**6).total_lines
        wait_for(
            lambda: second.log(ticker.id, limit=10**6).total_lines > count + 5,
            timeout=60,
            what="ticks after re-adoption",
        )
        lines = second.log(ticker.id, 0, 10**6).lines
        assert lines == [f"tick {i}" for i in range(1, len(lines) + 1)]
        second.kill(ticker.id)
        assert second.get(ticker.id).status is ProcessStatus.KILLED
    finally:
        for each in reversed(backends):  # the sandbox goes; every client is closed
            each.cleanup()
