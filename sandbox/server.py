"""Serve an ASGI app on real loopback HTTP (uvicorn) in a background thread."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class ServedApp:
    """`with ServedApp(app) as s: httpx.get(s.url + "/...")`: uvicorn on 127.0.0.1."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        # A short graceful shutdown: open SSE/GET streams (MCP) would otherwise hold it.
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServedApp:
        """Start serving; returns once the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.host}:{self.port} did not start")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
