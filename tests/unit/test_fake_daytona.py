"""The fake Daytona API itself, driven by the unmodified pinned SDK.

Every answer of the fake is built through the SDK's generated models, so when an SDK upgrade
changes a model this test fails here (the fake reports its own failures in ``errors``), not
in production.
"""

from __future__ import annotations

import asyncio
import os
from importlib.metadata import version

import pytest

from tests.docker_image import MARKER
from tests.fakes.daytona_api import FakeDaytona


def test_the_sdk_drives_the_fake_end_to_end(fake_daytona: FakeDaytona) -> None:
    import daytona

    assert version("daytona") == "0.226.1", "re-check the fake against the new SDK's models"
    client = daytona.Daytona(
        daytona.DaytonaConfig(api_key=fake_daytona.api_key, api_url=fake_daytona.api_url)
    )
    labels = {"fake-test": os.urandom(4).hex()}
    sandbox = client.create(daytona.CreateSandboxFromSnapshotParams(labels=labels))
    try:
        assert sandbox.state == daytona.SandboxState.STARTED  # polled after "creating"
        # Commands run in the sandbox's container, never on the host.
        assert not os.path.exists(MARKER)
        answer = sandbox.process.exec(f"cat {MARKER}; echo err >&2; exit 3")
        assert (answer.exit_code, answer.result) == (3, "only inside the test container\nerr\n")
        # The daemon's traps are reproduced: text output (invalid UTF-8 is lost), and the
        # command's stdin is the pipe its script came through.
        assert sandbox.process.exec("printf '\\377'").result == "\ufffd"
        assert sandbox.process.exec("readlink /proc/self/fd/0").result.startswith("pipe:")

        sandbox.process.create_session("s1")
        request = daytona.SessionExecuteRequest(command="read a; echo got $a", run_async=True)
        cmd = sandbox.process.execute_session_command("s1", request)
        sandbox.process.send_session_command_input("s1", cmd.cmd_id, "typed\n")
        out: list[str] = []
        asyncio.run(
            sandbox.process.get_session_command_logs_async("s1", cmd.cmd_id, out.append, out.append)
        )
        assert "".join(out) == "got typed\n"
        assert sandbox.process.get_session_command("s1", cmd.cmd_id).exit_code == 0
        assert sandbox.process.get_session_command_logs("s1", cmd.cmd_id).stdout == "got typed\n"
        assert [s.session_id for s in sandbox.process.list_sessions()] == ["s1"]
        sandbox.process.delete_session("s1")

        data = bytes(range(256)) * 64
        sandbox.fs.upload_file(data, "/tmp/blob.bin")
        assert sandbox.fs.download_file("/tmp/blob.bin") == data
        with pytest.raises(daytona.DaytonaNotFoundError):
            sandbox.fs.download_file("/tmp/missing")

        query = daytona.ListSandboxesQuery(labels=labels)
        assert [s.id for s in client.list(query)] == [sandbox.id]
        again = client.get(sandbox.id)
        again.stop()
        assert client.get(sandbox.id).state == daytona.SandboxState.STOPPED
        again.start()
        assert sandbox.process.exec("cat /tmp/blob.bin | wc -c").result.strip() == "16384"
    finally:
        client.delete(sandbox)
    assert fake_daytona.errors == []
    assert [r["path"] for r in fake_daytona.calls("POST", f"/api/sandbox/{sandbox.id}/")] == [
        f"/api/sandbox/{sandbox.id}/stop",
        f"/api/sandbox/{sandbox.id}/start",
    ]
    assert fake_daytona.calls("DELETE", f"/api/sandbox/{sandbox.id}")


def test_a_wrong_key_is_refused(fake_daytona: FakeDaytona) -> None:
    import daytona

    client = daytona.Daytona(daytona.DaytonaConfig(api_key="wrong", api_url=fake_daytona.api_url))
    with pytest.raises(daytona.DaytonaError, match="Unauthorized"):
        list(client.list())
