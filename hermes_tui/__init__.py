"""hermes-tui: a terminal workstation for an LLM agent and the processes it starts."""

__version__ = "0.1.0"
