"""One place masks secrets: tool results, chat history files and batch results all use it,
and it covers the secrets set only in a backend's configured ``env``."""

from __future__ import annotations

import json
from pathlib import Path

from hermes_tui.conversation.history import ChatStore, Entry, SavedChat
from hermes_tui.redact import Redactor
from hermes_tui.tools import ToolContext, run_tool
from registry import ProcessRegistry

SECRET = "tok-configured-only-4f9a1c"


def test_a_secret_set_only_in_a_backends_config_never_reaches_the_model(
    registry: ProcessRegistry,
) -> None:
    registry.configure_backend("local", {"env": {"DEPLOY_TOKEN": SECRET, "COLOR": "blue-green"}})
    ctx = ToolContext(registry=registry, owner="chat-1", secrets=("sk-endpoint-key-123",))
    result = json.loads(
        run_tool(
            "terminal",
            json.dumps({"command": "echo $DEPLOY_TOKEN $COLOR; echo sk-endpoint-key-123"}),
            ctx,
        )
    )
    assert result["output"] == "*** blue-green\n***", result
    assert SECRET not in json.dumps(result)


def test_chat_history_masks_configured_secrets(registry: ProcessRegistry, tmp_path: Path) -> None:
    registry.configure_backend("docker", {"env": {"REGISTRY_PASSWORD": SECRET}})
    store = ChatStore(tmp_path, lambda: Redactor(more_envs=registry.configured_envs()))
    store.save(SavedChat("chat-1", [Entry("tool", f'{{"output": "{SECRET}"}}', "terminal")]))
    text = (tmp_path / "chat-1.json").read_text()
    assert SECRET not in text and "***" in text


def test_ordinary_values_and_paths_stay_readable() -> None:
    redactor = Redactor(
        env={"SSH_AUTH_SOCK": "/tmp/ssh-agent.sock", "GIT_AUTHOR_NAME": "Ada Lovelace"}
    )
    text = "agent at /tmp/ssh-agent.sock by Ada Lovelace"
    assert redactor.text(text) == text
