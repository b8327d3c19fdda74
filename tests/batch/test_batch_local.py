"""The batch runner on the local backend, in process, against the scripted server."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hermes_tui.batch import is_batch_key
from hermes_tui.batch.runner import BatchOptions, run_batch
from registry import ProcessRegistry
from tests.batch.scripted import prompt, scripted_server, user_prompts
from tests.waiting import pid_alive

SECRET = "supersecretvalue-4711"


def write_prompts(path: Path, rows: Sequence[dict[str, Any] | str]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def results(path: Path) -> dict[str, dict[str, Any]]:
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    by_id = {r["id"]: r for r in records}
    assert len(by_id) == len(records), "one line per prompt"
    return by_id


def options(tmp_path: Path, url: str, **kwargs: Any) -> BatchOptions:
    defaults: dict[str, Any] = {
        "prompts": tmp_path / "prompts.jsonl",
        "out": tmp_path / "results.jsonl",
        "backend": "local",
        "workers": 4,
        "model": "scripted",
        "base_url": url,
        "config": tmp_path / "no-config.toml",
        "progress": False,
    }
    return BatchOptions(**{**defaults, **kwargs})


def max_overlap(records: list[dict[str, Any]]) -> int:
    """The most prompts that were running at the same moment."""
    edges = sorted(
        [(r["timings"]["started_at"], 1) for r in records]
        + [(r["timings"]["ended_at"], -1) for r in records]
    )
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def test_twenty_prompts_with_four_workers(
    tmp_path: Path, registry: ProcessRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_TEST_TOKEN", SECRET)
    workdir = tmp_path / "work"
    workdir.mkdir()
    pidfile = tmp_path / "bg.pid"
    # The prompt that runs into the timeout comes first, so the others run meanwhile.
    rows: list[dict[str, Any] | str] = [
        {"id": "slow", "prompt": prompt(("terminal", {"command": "sleep 60"}))}
    ]
    rows += [
        {
            "id": f"echo-{i}",
            "prompt": prompt(("terminal", {"command": f"sleep 0.3; echo hi {i}"})),
            "metadata": {"n": i},
        }
        for i in range(15)
    ]
    rows += [
        "{this line is not json",
        {"id": "refused", "prompt": json.dumps({"fail": 400})},
        {
            "id": "bad-args",
            "prompt": prompt(
                ("terminal", {"cmd": "ls"}), ("terminal", {"command": "echo recovered"})
            ),
        },
        {
            "id": "background",
            "prompt": prompt(
                (
                    "terminal",
                    {"command": f"echo $$ > {pidfile}; exec sleep 300", "background": True},
                ),
                # The background shell writes the file when it gets to run: wait for it.
                (
                    "terminal",
                    {"command": f"until [ -s {pidfile} ]; do sleep 0.01; done; cat {pidfile}"},
                ),
            ),
        },
        {"id": "cwd", "prompt": prompt(("terminal", {"command": "pwd"})), "cwd": str(workdir)},
        {"id": "secret", "prompt": prompt(("terminal", {"command": "echo $BATCH_TEST_TOKEN"}))},
    ]
    write_prompts(tmp_path / "prompts.jsonl", rows)
    console = Console(file=open(os.devnull, "w"), force_terminal=True)  # noqa: SIM115
    with scripted_server() as server:
        tally, stopped = run_batch(
            options(tmp_path, server.url, timeout=6.0, progress=True, format="sharegpt"),
            registry=registry,
            console=console,
        )
    console.file.close()
    assert not stopped
    assert (tally.total, tally.bad_lines) == (21, 1)
    by_id = results(tmp_path / "results.jsonl")
    assert len(by_id) == 21
    statuses = {i: r["status"] for i, r in by_id.items() if r["status"] != "ok"}
    assert statuses == {"refused": "failed", "slow": "timeout"}
    for i in range(15):
        record = by_id[f"echo-{i}"]
        assert record["final_answer"] == f"done: hi {i}"
        assert record["metadata"] == {"n": i}
        assert [m["role"] for m in record["messages"]] == [
            "system",
            "user",
            "assistant",
            "tool",
            "assistant",
        ]
        assert record["tool_stats"] == {"terminal": {"calls": 1, "errors": 0}}
        assert record["turns"] == 2
        assert record["usage"]["total_tokens"] > 0
        assert [t["from"] for t in record["conversations"]] == [
            "system",
            "human",
            "gpt",
            "tool",
            "gpt",
        ]
        assert (record["backend"], record["image"]) == ("local", None)
    assert "400" in by_id["refused"]["error"] and by_id["refused"]["turns"] == 0
    assert by_id["slow"]["error"] == "timed out after 6s (--timeout)"
    assert by_id["slow"]["timings"]["wall_s"] < 6 + 5
    assert by_id["bad-args"]["status"] == "ok"
    assert by_id["bad-args"]["tool_stats"] == {"terminal": {"calls": 2, "errors": 1}}
    (tool_error,) = by_id["bad-args"]["tool_errors"]
    assert tool_error["tool"] == "terminal" and "command" in tool_error["error"]
    assert by_id["cwd"]["final_answer"] == f"done: {workdir}"
    assert by_id["secret"]["final_answer"] == "done: ***"
    assert SECRET not in (tmp_path / "results.jsonl").read_text()
    # The background process was killed at the end of its prompt.
    bg_pid = int(by_id["background"]["final_answer"].removeprefix("done: "))
    assert not pid_alive(bg_pid)
    # Own task keys, all of this run, nothing left behind in the registry.
    keys = [r["task_key"] for r in by_id.values()]
    assert len(set(keys)) == 21 and all(is_batch_key(k) for k in keys)
    assert len({k.rsplit("-", 1)[0] for k in keys}) == 1
    assert registry.processes() == []
    assert registry._sandbox_options == {}
    assert 2 <= max_overlap(list(by_id.values())) <= 4
    assert tally.statuses == {"ok": 19, "failed": 1, "timeout": 1}


def test_a_rerun_skips_finished_prompts(tmp_path: Path, registry: ProcessRegistry) -> None:
    def row(name: str) -> dict[str, Any]:
        return {"id": name, "prompt": prompt(("terminal", {"command": f"echo {name}"}))}

    refused = {"id": "c", "prompt": json.dumps({"fail": 400})}
    write_prompts(tmp_path / "prompts.jsonl", [row("a"), row("b"), refused])
    with scripted_server() as server:
        sharegpt = tmp_path / "sharegpt.jsonl"
        first, _ = run_batch(
            options(tmp_path, server.url, sharegpt_out=sharegpt), registry=registry
        )
        assert first.statuses == {"ok": 2, "failed": 1}
        conversations = {
            r["id"]: r["conversations"] for r in map(json.loads, sharegpt.read_text().splitlines())
        }
        assert sorted(conversations) == ["a", "b"]  # the ok ones
        assert conversations["a"][-1] == {"from": "gpt", "value": "done: a"}
        before = (tmp_path / "results.jsonl").read_text()
        write_prompts(tmp_path / "prompts.jsonl", [row("a"), row("b"), refused, row("d")])
        server.requests.clear()
        second, _ = run_batch(options(tmp_path, server.url), registry=registry)
        assert (second.total, second.skipped, second.statuses) == (1, 3, {"ok": 1})
        assert {json.loads(p)["steps"][0][1]["command"] for p in user_prompts(server)} == {"echo d"}
        after = (tmp_path / "results.jsonl").read_text()
        assert after.startswith(before)
        server.requests.clear()
        third, _ = run_batch(options(tmp_path, server.url, retry_failed=True), registry=registry)
        assert (third.total, third.statuses) == (1, {"failed": 1})
        assert user_prompts(server) == [refused["prompt"]]
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in lines][-2:] == [("d", "ok"), ("c", "failed")]
    runs = {r["task_key"].rsplit("-", 1)[0] for r in lines}
    assert len(runs) == 3, "every run has its own task keys"
