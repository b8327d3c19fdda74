"""The agent: the tool-calling loop, model endpoint settings, watchers and chat sessions."""
