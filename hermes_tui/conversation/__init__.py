"""The conversation with the agent, free of widgets: chat sessions, their history on disk,
agent turns, watchers and the slash commands."""

from hermes_tui.conversation.conversation import Conversation
from hermes_tui.conversation.view import ChatView, ConversationHost, StreamingMessage

__all__ = ["ChatView", "Conversation", "ConversationHost", "StreamingMessage"]
