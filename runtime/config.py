"""mcp.json (Claude's `mcpServers` format) and agent sources, resolved from the environment.

    {"mcpServers": {
        "brevo_contacts": {"url": "${BREVO_MCP_BASE_URL:-https://mcp.brevo.com}/v1/brevo_contacts/mcp",
                           "headers": {"Authorization": "Bearer ${BREVO_MCP_TOKEN}"}},
        "local": {"command": "python", "args": ["server.py"], "env": {"KEY": "${KEY}"}}}}

The environment is passed in. Every value substituted from a variable, every header
value and every source credential lands in `Secrets`, which the transcript and the
logs use to redact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.agentfile import AgentSpec, AuthSpec, RateLimit, SourceSpec
from runtime.envvars import Expansion, MissingVariableError
from runtime.errors import ConfigError


@dataclass
class Secrets:
    """What is redacted as `${NAME}` wherever it would be written down.

    `values` are credentials: never shown to the model, a log, a transcript or an error.
    `variables` are every other value substituted from the environment (URLs, ports):
    the model may see them, transcripts and logs show the placeholder, which also
    keeps a transcript independent of the port a sandbox happened to get.
    """

    values: dict[str, str] = field(default_factory=dict)  # placeholder name -> value
    variables: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str | None) -> None:
        """Register a credential under a stable placeholder name."""
        if value and len(value) >= 4:
            self.values.setdefault(name, value)

    def add_variable(self, name: str, value: str | None) -> None:
        """Register a value that came from `${name}`."""
        if value and len(value) >= 4 and value not in self.values.values():
            self.variables.setdefault(name, value)

    def merge(self, other: Secrets) -> None:
        """Take every secret and variable of `other`."""
        for name, value in other.values.items():
            self.add(name, value)
        for name, value in other.variables.items():
            self.add_variable(name, value)

    def replacements(self) -> list[tuple[str, str]]:
        """(value, placeholder) pairs, longest value first so overlaps redact whole."""
        pairs = [(v, f"${{{k}}}") for k, v in {**self.variables, **self.values}.items()]
        return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


class ServerConfig(BaseModel):
    """One MCP server: remote (url) or local (command)."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    type: Literal["http", "streamable-http", "sse", "stdio"] | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    command: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    timeout_s: float = Field(default=30.0, gt=0)

    @property
    def transport(self) -> str:
        """'stdio', 'sse' or 'http' (streamable HTTP)."""
        if self.command:
            return "stdio"
        return "sse" if self.type == "sse" else "http"

    @property
    def module(self) -> str | None:
        """The module in the URL path: '.../v1/brevo_contacts/mcp' -> 'brevo_contacts'."""
        if not self.url:
            return None
        parts = [p for p in urlsplit(self.url).path.split("/") if p]
        if len(parts) >= 2 and parts[-1] in ("mcp", "sse"):
            return parts[-2]
        return parts[-1] if parts else None

    @property
    def display(self) -> str:
        """Where it is, without secrets: scheme, host and path only, or the command."""
        if self.url:
            u = urlsplit(self.url)
            host = u.hostname or ""
            port = f":{u.port}" if u.port else ""
            return f"{u.scheme}://{host}{port}{u.path}"
        return self.command or "?"


@dataclass
class McpConfig:
    """The servers of one mcp.json, expanded."""

    path: str
    servers: dict[str, ServerConfig]
    secrets: Secrets

    def resolve(self, name: str) -> ServerConfig:
        """The server an agent's `tools:` entry names, by key or by URL module."""
        if name in self.servers:
            return self.servers[name]
        for server in self.servers.values():
            if server.module == name:
                return server
        known = ", ".join(
            f"'{k}'" + (f" (module '{s.module}')" if s.module and s.module != k else "")
            for k, s in self.servers.items()
        )
        raise ConfigError(
            f"Tool server '{name}' is not in {self.path}. Configured: {known or 'none'}."
        )


def load_mcp_config(path: str | Path, env: Mapping[str, str]) -> McpConfig:
    """Read and expand an mcp.json file."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"No MCP config at '{p}'. Create one (see README) or pass --mcp-config PATH."
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read '{p}': {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("mcpServers"), dict):
        raise ConfigError(f"{p}: expected an object with 'mcpServers': {{NAME: {{...}}}}")
    secrets = Secrets()
    servers = {}
    for name, entry in raw["mcpServers"].items():
        servers[name] = _server(p, str(name), entry, env, secrets)
    return McpConfig(str(p), servers, secrets)


def _server(
    p: Path, name: str, entry: Any, env: Mapping[str, str], secrets: Secrets
) -> ServerConfig:
    if not isinstance(entry, dict):
        raise ConfigError(f"{p}: server '{name}' must be an object with 'url' or 'command'")
    exp = Expansion()
    try:
        expanded = _expand(entry, exp, env)
        server = ServerConfig.model_validate({**expanded, "name": name})
    except MissingVariableError as exc:
        raise ConfigError(
            f"{p}: server '{name}' uses ${{{exc.name}}}, which is not set. "
            f"Set it in the environment or in ./.env."
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{p}: server '{name}': '{where}': {first['msg']}") from None
    if bool(server.url) == bool(server.command):
        raise ConfigError(f"{p}: server '{name}' needs exactly one of 'url' or 'command'")
    for header, value in server.headers.items():
        cred = value.split(" ", 1)[-1]
        secrets.add(_var_named(cred, exp, f"{name}.{header}"), cred)
    for key, value in server.env.items():
        secrets.add(_var_named(value, exp, f"{name}.env.{key}"), value)
    for var, value in exp.values.items():
        secrets.add_variable(var, value)
    return server


def _var_named(value: str, exp: Expansion, fallback: str) -> str:
    """The variable `value` came from, else `fallback`: the placeholder's name."""
    return next((k for k, v in exp.values.items() if v == value), fallback)


def _expand(value: Any, exp: Expansion, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return exp.expand(value, env)
    if isinstance(value, list):
        return [_expand(v, exp, env) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, exp, env) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ResolvedSource:
    """A source with its variables expanded: what the http_request tool uses."""

    name: str
    base_url: str
    auth: AuthSpec
    rate_limit: RateLimit | None
    write: bool
    allow_private: bool
    timeout_s: float


def resolve_sources(
    spec: AgentSpec, env: Mapping[str, str], secrets: Secrets
) -> dict[str, ResolvedSource]:
    """Expand every `${VAR}` of the agent's sources; credentials go into `secrets`."""
    out = {}
    for name, src in spec.sources.items():
        out[name] = _resolve_source(spec, name, src, env, secrets)
    return out


def _resolve_source(
    spec: AgentSpec, name: str, src: SourceSpec, env: Mapping[str, str], secrets: Secrets
) -> ResolvedSource:
    exp = Expansion()
    try:
        base = exp.expand(src.base_url, env).rstrip("/")
        auth = src.auth.model_copy(
            update={
                k: exp.expand(v, env)
                for k, v in src.auth.model_dump().items()
                if isinstance(v, str) and k not in ("type", "signature_method")
            }
        )
    except MissingVariableError as exc:
        raise ConfigError(
            f"{spec.path}: source '{name}' uses ${{{exc.name}}}, which is not set. "
            f"Set it in the environment or ./.env ('agents sandbox' prints values for local use)."
        ) from None
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"{spec.path}: source '{name}' base_url must be http(s), found '{base}'")
    for i, value in enumerate(auth.secret_fields()):
        secrets.add(_var_named(value, exp, f"{name}.auth.{i}"), value)
    for var, value in exp.values.items():
        secrets.add_variable(var, value)
    return ResolvedSource(
        name, base, auth, src.rate_limit, src.write, src.allow_private, src.timeout_s
    )
