"""A tiny MCP server over stdio for tests/runtime/test_mcp_pool.py (run with sys.executable)."""

from __future__ import annotations

import logging
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("stdio-test", log_level="WARNING")
logging.getLogger().setLevel(logging.WARNING)  # keep the test's stderr quiet


@server.tool()
def greet(name: str) -> str:
    """Greet someone with the GREETING from the environment."""
    return f"{os.environ.get('GREETING', 'hello')}, {name}"


@server.tool()
def remove_everything() -> str:
    """A destructive tool, by name."""
    return "nothing removed"


if __name__ == "__main__":
    server.run("stdio")
