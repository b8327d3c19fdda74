"""Live test against the real Daytona service: run it by hand with real credentials.

Deselected by the ``live`` marker in the pytest config, so CI never reaches it (it is not
skipped silently: selected without credentials, it fails and says what to set). Run it with
``DAYTONA_API_KEY=... pytest -m live tests/live/test_daytona_live.py`` (plus
``DAYTONA_API_URL`` / ``DAYTONA_TARGET`` when not the defaults, and ``HERMES_LIVE_IMAGE`` to
try an image instead of Daytona's default snapshot). It creates one sandbox and deletes it.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from pathlib import Path

import pytest

from backends import SpawnSpec, create_backend
from tests.unit.test_backend_contract import Collector

pytestmark = pytest.mark.live


def test_the_daytona_backend_against_the_real_service(tmp_path: Path) -> None:
    if not os.environ.get("DAYTONA_API_KEY"):
        pytest.fail(
            "the live Daytona test needs DAYTONA_API_KEY (and DAYTONA_API_URL if not "
            "app.daytona.io)"
        )
    options = (
        {"image": os.environ["HERMES_LIVE_IMAGE"]} if "HERMES_LIVE_IMAGE" in os.environ else {}
    )
    backend = create_backend(
        "daytona", state_dir=tmp_path, key=f"live-{secrets.token_hex(4)}", **options
    )
    try:
        every_byte = bytes(range(256))
        backend.upload(every_byte, "/tmp/hermes-live/bytes.bin", mode=0o600)
        assert backend.download("/tmp/hermes-live/bytes.bin") == every_byte
        assert backend.run(["cat", "/tmp/hermes-live/bytes.bin"]).output == every_byte
        assert backend.run(backend.shell_argv("cat; echo after")).output == b"after\n"
        result = backend.run(backend.shell_argv("sleep 30"), timeout=1)
        assert result.timed_out

        blob = os.urandom(5 << 20)
        backend.upload(blob, "/tmp/hermes-live/blob.bin")
        assert backend.download("/tmp/hermes-live/blob.bin") == blob

        handle = backend.spawn(
            SpawnSpec(proc_id="live1", argv=["cat", "/tmp/hermes-live/blob.bin"])
        )
        sink = Collector()
        backend.follow(handle, 0, sink)
        assert sink.done.wait(300), "no exit reported"
        assert bytes(sink.data) == blob

        tty = backend.spawn(
            SpawnSpec(
                proc_id="live2",
                argv=backend.shell_argv("stty size; read a; stty size; echo got:$a"),
                pty=True,
                rows=20,
                cols=70,
            )
        )
        sink = Collector()
        backend.follow(tty, 0, sink)
        deadline = time.monotonic() + 60
        while b"20 70" not in sink.data and time.monotonic() < deadline:
            time.sleep(0.1)
        backend.resize(tty, 50, 150)
        backend.write(tty, b"hi\r")
        assert sink.done.wait(60)
        assert b"50 150" in sink.data and b"got:hi" in sink.data

        sleeper = backend.spawn(SpawnSpec(proc_id="live3", argv=["sleep", "300"]))
        backend.signal(sleeper, signal.SIGTERM)
        assert backend.wait(sleeper, 30) is not None
    finally:
        backend.cleanup()
