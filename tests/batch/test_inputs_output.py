"""The batch's files: the prompts file, results lines, resume, ShareGPT, secret masking."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from hermes_tui.batch.inputs import PromptItem, read_prompts
from hermes_tui.batch.output import ResultWriter, finished_ids, read_results, to_sharegpt
from hermes_tui.redact import Redactor


def test_bad_lines_are_reported_with_their_numbers_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                b'{"id": "a", "prompt": "one"}',
                b'{"prompt": "no id"',
                b"[1, 2]",
                b"",
                b'{"id": "b"}',
                b'{"id": "c", "prompt": "x", "colour": "red"}',
                b'{"id": "a", "prompt": "again"}',
                b"\xff\xfe not utf-8",
                b'{"id": 7, "prompt": "numeric id", "docker_image": "img:1", "cwd": "/w",'
                b' "metadata": {"k": 1}}',
                b'{"prompt": "no id", "system": "be brief"}',
                b'{"id": "d", "prompt": "x", "metadata": []}',
            ]
        )
        + b"\n"
    )
    items, bad = read_prompts(path)
    assert [(i.id, i.line) for i in items] == [("a", 1), ("7", 9), ("line-10", 10)]
    assert items[1] == PromptItem(
        id="7",
        line=9,
        prompt="numeric id",
        images={"docker_image": "img:1"},
        cwd="/w",
        metadata={"k": 1},
    )
    assert items[2].system == "be brief"
    reasons = {b.line: b.reason for b in bad}
    assert sorted(reasons) == [2, 3, 5, 6, 7, 8, 11]
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "expected a JSON object, got list"
    assert reasons[5] == "'prompt' is missing or empty"
    assert reasons[6].startswith("unknown field(s) colour")
    assert reasons[7] == "id 'a' was already used on line 1"
    assert reasons[8] == "not UTF-8 text"
    assert reasons[11] == "'metadata' must be an object"


def test_each_backend_takes_its_own_image_field_first() -> None:
    item = PromptItem(
        id="x", line=1, prompt="p", images={"docker_image": "d:1", "modal_image": "m:1"}
    )
    assert item.image_for("docker") == "d:1"
    assert item.image_for("modal") == "m:1"
    assert item.image_for("singularity") == "docker://d:1"
    assert item.image_for("daytona") == "d:1"
    generic = PromptItem(id="y", line=2, prompt="p", images={"image": "g:1"})
    assert generic.image_for("docker") == generic.image_for("singularity") == "g:1"
    assert PromptItem(id="z", line=3, prompt="p").image_for("docker") is None


def test_result_lines_are_whole_private_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    writer = ResultWriter(out)
    writer.write({"id": "a", "status": "ok"})
    writer.write({"id": "b", "status": "interrupted"})
    writer.close()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    with out.open("ab") as f:
        f.write(b'{"id": "c", "status": "o')  # a crash in the middle of a line
    writer = ResultWriter(out)
    writer.write({"id": "d", "status": "failed"})
    writer.write({"id": "e", "status": "timeout"})
    writer.write({"id": "b", "status": "ok"})  # a re-run finished it: the last line wins
    writer.close()
    lines = out.read_text().splitlines()
    assert lines[2] == '{"id": "c", "status": "o'
    assert json.loads(lines[3]) == {"id": "d", "status": "failed"}
    assert set(read_results(out)) == {"a", "b", "d", "e"}
    assert finished_ids(out) == {"a", "b", "d", "e"}
    assert finished_ids(out, retry_failed=True) == {"a", "b"}
    assert finished_ids(tmp_path / "missing.jsonl") == set()


def test_sharegpt_turns_carry_tool_calls_and_results() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "terminal", "arguments": '{"command": "ls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"output": "a b", "exit_code": 0}'},
        {"role": "assistant", "content": "a and b"},
    ]
    turns = to_sharegpt(messages)
    assert [t["from"] for t in turns] == ["system", "human", "gpt", "tool", "gpt"]
    assert turns[2]["value"] == (
        '<tool_call>\n{"name": "terminal", "arguments": {"command": "ls"}}\n</tool_call>'
    )
    body = turns[3]["value"].removeprefix("<tool_response>\n").removesuffix("\n</tool_response>")
    assert json.loads(body) == {
        "tool_call_id": "c1",
        "name": "terminal",
        "content": {"output": "a b", "exit_code": 0},
    }
    assert turns[4] == {"from": "gpt", "value": "a and b"}


def test_secrets_are_masked_in_every_string() -> None:
    redactor = Redactor(
        ["the-api-key-123"],
        env={
            "MY_TOKEN": "tok-abcdefgh",
            "SSH_AUTH_SOCK": "/tmp/agent.sock",
            "SHORT_KEY": "1",
            "GIT_AUTHOR_NAME": "Ada Lovelace",
            "APIKEY": "abcdefgh12345",
        },
    )
    record = {
        "messages": [
            {
                "content": "key the-api-key-123 and tok-abcdefgh; sock "
                "/tmp/agent.sock; gh ghp_" + "a" * 30
            }
        ],
        "n": 3,
        "nested": [
            "Authorization: Bearer abcdefghijklmnop",
            "sk-" + "x" * 40,
            "1 is fine",
            "by Ada Lovelace with abcdefgh12345",
        ],
    }
    masked = redactor.value(record)
    assert masked == {
        "messages": [{"content": "key *** and ***; sock /tmp/agent.sock; gh ***"}],
        "n": 3,
        "nested": ["Authorization: Bearer ***", "***", "1 is fine", "by Ada Lovelace with ***"],
    }


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    import errno

    import pytest

    first = ResultWriter(tmp_path / "results.jsonl")
    with pytest.raises(OSError, match="another hermes-tui batch is writing it") as caught:
        ResultWriter(tmp_path / "results.jsonl")
    assert caught.value.errno == errno.EBUSY
    first.close()
    ResultWriter(tmp_path / "results.jsonl").close()
