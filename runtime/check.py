"""`agents check`: validate agent files against mcp.json and the environment.

Returns problems (errors, with file:line) and warnings; printing is the CLI's job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runtime.agentfile import AgentSpec, WebhookTrigger, load_agent
from runtime.catalog import temperature_refusal
from runtime.config import McpConfig, Secrets, load_mcp_config, resolve_sources
from runtime.envvars import variables_in
from runtime.errors import AgentFileError, ConfigError, Problem


@dataclass
class CheckResult:
    """What `agents check` found in one file."""

    path: str
    spec: AgentSpec | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    servers: dict[str, str] = field(default_factory=dict)  # tool name -> server display

    @property
    def ok(self) -> bool:
        return not self.problems


def check_agent(path: str, env: Mapping[str, str], mcp_path: str) -> CheckResult:
    """Validate one agent file: syntax, fields, variables, tool servers."""
    result = CheckResult(path)
    try:
        spec = load_agent(path)
    except AgentFileError as exc:
        result.problems = exc.problems
        return result
    result.spec = spec
    text = Path(path).read_text(encoding="utf-8")
    _check_sources(spec, text, env, result)
    _check_tools(spec, text, env, mcp_path, result)
    _check_warnings(spec, env, result)
    return result


def _check_sources(spec: AgentSpec, text: str, env: Mapping[str, str], out: CheckResult) -> None:
    try:
        resolve_sources(spec, env, Secrets())
    except ConfigError as exc:
        var = _missing_var(str(exc))
        line = _line_of(text, "${" + var) if var else None
        out.problems.append(Problem(spec.path, line, _after_path(str(exc), spec.path)))


def _check_tools(
    spec: AgentSpec, text: str, env: Mapping[str, str], mcp_path: str, out: CheckResult
) -> None:
    if not spec.tools:
        return
    try:
        config: McpConfig = load_mcp_config(mcp_path, env)
    except ConfigError as exc:
        line = _mcp_line(mcp_path, str(exc))
        out.problems.append(Problem(mcp_path, line, _after_path(str(exc), mcp_path)))
        return
    for name in spec.tools:
        try:
            out.servers[name] = config.resolve(name).display
        except ConfigError as exc:
            line = _line_of(text, f"- {name}")
            out.problems.append(Problem(spec.path, line, str(exc), field="tools"))


def _check_warnings(spec: AgentSpec, env: Mapping[str, str], out: CheckResult) -> None:
    if spec.temperature is not None and (why := temperature_refusal(spec.model)):
        out.warnings.append(f"temperature {spec.temperature} will not be sent: {why}.")
    for trig in spec.triggers:
        if isinstance(trig, WebhookTrigger) and trig.secret:
            unset = [v for v in variables_in(trig.secret) if v not in env]
            for var in unset:
                msg = f"webhook '{trig.webhook}' secret ${{{var}}} is not set"
                out.warnings.append(msg + "; 'agents serve' needs it.")


def _missing_var(message: str) -> str | None:
    m = re.search(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", message)
    return m.group(1) if m else None


def _after_path(message: str, path: str) -> str:
    return message.removeprefix(f"{path}: ")


def _line_of(text: str, needle: str) -> int | None:
    for n, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return n
    return None


def _mcp_line(mcp_path: str, message: str) -> int | None:
    var = _missing_var(message)
    if not var:
        return None
    try:
        return _line_of(Path(mcp_path).read_text(encoding="utf-8"), "${" + var)
    except OSError:
        return None
