"""Connector agents: run Markdown-defined LLM agents that sync REST APIs into Brevo."""

__version__ = "0.1.0"
