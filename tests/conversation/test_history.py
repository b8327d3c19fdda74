"""Chat history files: private, atomic, secrets masked, bad files reported not fatal."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hermes_tui.conversation.history import ChatStore, Entry, SavedChat
from hermes_tui.redact import Redactor


def test_save_and_load_round_trip_with_masked_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secretvalue123")
    store = ChatStore(tmp_path / "chats", lambda: Redactor(["sk-explicit-key"]))
    chat = SavedChat(
        "chat-1",
        [
            Entry("user", "my token is ghp_secretvalue123"),
            Entry("tool", '{"output": "\\udcff"}', "terminal", "{}"),
        ],
        [{"role": "user", "content": "key sk-explicit-key"}],
        ["file"],
        5.0,
    )
    store.save(chat)
    path = tmp_path / "chats" / "chat-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "ghp_secretvalue123" not in path.read_text()
    assert "sk-explicit-key" not in path.read_text()
    (loaded,), problems = store.load_all()
    assert problems == []
    assert loaded.transcript[0].text == "my token is ***"
    assert loaded.transcript[1] == Entry("tool", '{"output": "\\udcff"}', "terminal", "{}")
    assert loaded.toolsets == ["file"] and loaded.last_active == 5.0
    assert list((tmp_path / "chats").iterdir()) == [path]  # no temp file left


def test_a_corrupt_file_is_reported_and_others_still_load(tmp_path: Path) -> None:
    store = ChatStore(tmp_path)
    store.save(SavedChat("chat-2", [Entry("user", "kept")], last_active=2.0))
    (tmp_path / "chat-1.json").write_text("{not json")
    (tmp_path / "chat-3.json").write_text('{"key": "../../etc/passwd"}')
    chats, problems = store.load_all()
    assert [c.key for c in chats] == ["chat-2"]
    assert len(problems) == 2 and all("could not read the chat history" in p for p in problems)
    with pytest.raises(ValueError, match="bad chat session key"):
        store.save(SavedChat("../escape"))
