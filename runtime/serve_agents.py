"""The agents `agents serve` runs: every valid agent file in a folder, with its secrets and hooks.

Invalid agent files are reported (`agent_invalid`, with file:line problems) and
skipped, so one broken file does not stop the others; loading fails only when no
agent is valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.agentfile import AgentSpec, ScheduleTrigger, WebhookTrigger
from runtime.check import check_agent
from runtime.config import Secrets, load_mcp_config, resolve_sources
from runtime.errors import AgentFileError, ConfigError, UsageError
from runtime.logs import EventLog
from runtime.triggers import CronSchedule
from runtime.webhooks import Hook, resolve_hook


@dataclass(frozen=True)
class LoadedAgent:
    """A valid agent, the secrets to redact from its logs, its webhook hooks."""

    spec: AgentSpec
    secrets: Secrets
    hooks: list[Hook]

    @property
    def name(self) -> str:
        """The agent's name."""
        return self.spec.name

    def schedules(self) -> list[CronSchedule]:
        """Its cron triggers."""
        return [
            CronSchedule(self.name, t) for t in self.spec.triggers if isinstance(t, ScheduleTrigger)
        ]


def load_agents(
    folder: str, env: Mapping[str, str], mcp_config: str, log: EventLog
) -> list[LoadedAgent]:
    """Every valid agent file in `folder`; invalid ones are logged and skipped."""
    paths = sorted(Path(folder).glob("*.md"))
    if not paths:
        raise UsageError(f"No agent files (*.md) in '{folder}'. Run 'agents serve AGENTS_DIR'.")
    agents: dict[str, LoadedAgent] = {}
    for path in paths:
        try:
            agent = load_one(str(path), env, mcp_config)
            if agent.name in agents:
                other = agents[agent.name].spec.path
                raise ConfigError(f"{path}: agent name '{agent.name}' is also used by {other}")
        except UsageError as exc:
            log.error("agent_invalid", path=str(path), problems=str(exc).splitlines())
            continue
        agents[agent.name] = agent
        log.info("agent_loaded", agent=agent.name, path=str(path), triggers=_describe(agent))
    if not agents:
        raise UsageError(f"No valid agent in '{folder}'. Run 'agents check {folder}/*.md'.")
    return list(agents.values())


def load_one(path: str, env: Mapping[str, str], mcp_config: str) -> LoadedAgent:
    """Validate one agent as `agents check` does, and resolve its secrets and hooks."""
    result = check_agent(path, env, mcp_config)
    if not result.ok or result.spec is None:
        raise AgentFileError(result.problems)
    spec, secrets = result.spec, Secrets()
    resolve_sources(spec, env, secrets)
    if spec.tools:
        secrets.merge(load_mcp_config(mcp_config, env).secrets)
    webhooks = [t for t in spec.triggers if isinstance(t, WebhookTrigger)]
    hooks = [resolve_hook(spec, t, env, secrets) for t in webhooks]
    return LoadedAgent(spec, secrets, hooks)


def all_secrets(agents: Sequence[LoadedAgent], env: Mapping[str, str]) -> Secrets:
    """Every secret of the agents, plus the Anthropic credentials in `env`."""
    secrets = Secrets()
    for a in agents:
        secrets.merge(a.secrets)
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        secrets.add(name, env.get(name))
    return secrets


def _describe(agent: LoadedAgent) -> list[str]:
    out = [f"schedule {s.trigger.schedule} ({s.trigger.timezone})" for s in agent.schedules()]
    return out + [f"{h.trigger.method} {h.trigger.webhook}" for h in agent.hooks]
