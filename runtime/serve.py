"""`agents serve`: the cron and webhook triggers of every agent in a folder, one process.

    agents = load_agents(folder, env, mcp_config, log)   invalid files: logged, skipped
    service = Service(agents, store=..., log=..., model_factory=...)
    service.app      /healthz, /runs and the webhook routes; its lifespan is
                     `service.running()`: the scheduler and the worker pool
    serve_forever(config, env)                           uvicorn + SIGTERM/SIGINT

Loading lives in runtime.serve_agents, the scheduler, worker pool, leases and drain in
runtime.serve_service; this module is the process: uvicorn, signals, `python -m
runtime.serve`. On SIGTERM/SIGINT: stop taking work (the listener closes; deliveries
still queued are dropped and logged), let running runs finish within the grace period,
cancel the rest. A second signal cancels the running runs at once.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from runtime.clock import Clock, SystemClock
from runtime.errors import UsageError
from runtime.logs import EventLog
from runtime.serve_agents import LoadedAgent, load_agents, load_one
from runtime.serve_service import ModelFactory, ServeConfig, Service
from runtime.store import RunStore

__all__ = [
    "LoadedAgent",
    "ServeConfig",
    "Service",
    "claude_models",
    "load_agents",
    "load_one",
    "main",
    "serve_forever",
]

DESCRIPTION = "Fire the cron and webhook triggers of every agent in a folder."
GRACEFUL_HTTP_S = 10  # open HTTP requests get this long to finish on shutdown


def claude_models(env: Mapping[str, str], clock: Clock, log: EventLog) -> ModelFactory:
    """A ClaudeModel per run, from ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL in `env`."""
    from runtime.model import ClaudeModel

    def make() -> ClaudeModel:
        return ClaudeModel(
            api_key=env.get("ANTHROPIC_API_KEY"),
            base_url=env.get("ANTHROPIC_BASE_URL"),
            clock=clock,
            notice=lambda message: log.warning("model_notice", message=message),
        )

    return make


def serve_forever(config: ServeConfig, env: Mapping[str, str], log: EventLog) -> int:
    """`agents serve`: load the agents, serve until SIGTERM/SIGINT, drain; exit code 0."""
    clock = SystemClock()
    store = RunStore(config.db_path)
    try:
        agents = load_agents(config.agents_dir, env, config.mcp_config, log)
        models = claude_models(env, clock, log)
        service = Service(
            agents, store=store, log=log, model_factory=models, clock=clock, env=env, config=config
        )
        anyio.run(_serve_http, service, _listen(config.host, config.port))
        service.log.info("serve_stopped")
    finally:
        store.close()
    return 0


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror}. Try --port.") from None


async def _serve_http(service: Service, sock: socket.socket) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        def capture_signals(self) -> Any:  # ours: see _on_signals
            return contextlib.nullcontext()

    config = uvicorn.Config(
        service.app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_HTTP_S,
    )
    server = Server(config)
    host, port = sock.getsockname()[:2]
    async with anyio.create_task_group() as tg:
        tg.start_soon(_on_signals, server, service)
        service.log.info("serve_listening", url=f"http://{host}:{port}", agents=len(service.agents))
        await server.serve(sockets=[sock])
        tg.cancel_scope.cancel()


async def _on_signals(server: Any, service: Service) -> None:
    """First SIGTERM/SIGINT: stop taking work, drain. Second: cancel running runs now."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not server.should_exit:
                service.log.info("shutdown_started", signal=name, grace_s=service.config.grace_s)
                service.begin_shutdown()
                server.should_exit = True
            else:
                service.log.warning("shutdown_forced", signal=name)
                service.cancel_runs()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m runtime.serve [AGENTS_DIR] ...`: the same as `agents serve`."""
    import argparse

    from runtime.cli_ops import build_serve, run_standalone

    parser = argparse.ArgumentParser(prog="agents serve", description=DESCRIPTION)
    build_serve(parser)
    return run_standalone(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
