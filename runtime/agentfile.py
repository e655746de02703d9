"""Parse and validate agent Markdown files into a typed `AgentSpec`.

An agent file is YAML frontmatter (settings, tools, triggers, sources) and a Markdown
body (the system prompt). The body may pull in shared fragments from prompts/ with a
line of its own:

    <!-- include: woocommerce-api.md -->

The name is looked up in the `prompts/` folder beside the agents folder, then beside
the agent file. Errors name the file and line, the field, what was expected and what
was found; nothing here reads the environment (values stay as `${VAR}` until
`runtime.sources` resolves them).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import frontmatter
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from runtime.catalog import DEFAULT_MODEL, RETIRED
from runtime.errors import AgentFileError, Problem

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
SEMVER = r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"
INCLUDE = re.compile(r"^\s*<!--\s*include:\s*(\S+)\s*-->\s*$")
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)s?\s*$")
UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """At most `requests` per `per_seconds`."""

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse '25/10s', '10/s', '100/h', '600/min'."""
        m = RATE.match(text)
        if not m:
            raise ValueError(f"expected a rate such as '25/10s' or '100/h', found '{text}'")
        count = int(m.group(2) or 1)
        return cls(requests=int(m.group(1)), per_seconds=count * UNITS[m.group(3)])

    @property
    def interval(self) -> float:
        """Seconds between requests at the limit."""
        return self.per_seconds / self.requests


class AuthSpec(_Strict):
    """How the runtime authenticates to a source. Values are `${VAR}` references."""

    type: Literal["none", "basic", "query", "oauth1", "bearer", "header"]
    key: str | None = None  # basic user / query + oauth1 consumer key
    secret: str | None = None  # basic password / query + oauth1 consumer secret
    key_param: str = "consumer_key"
    secret_param: str = "consumer_secret"
    token: str | None = None  # bearer
    name: str | None = None  # header name
    value: str | None = None  # header value
    signature_method: Literal["HMAC-SHA256", "HMAC-SHA1"] = "HMAC-SHA256"

    @model_validator(mode="after")
    def _required(self) -> AuthSpec:
        need = {
            "basic": ("key", "secret"),
            "query": ("key", "secret"),
            "oauth1": ("key", "secret"),
            "bearer": ("token",),
            "header": ("name", "value"),
            "none": (),
        }[self.type]
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise ValueError(f"auth type '{self.type}' needs {', '.join(missing)}")
        return self

    def secret_fields(self) -> list[str]:
        """The values that are secrets (for redaction)."""
        names = {"basic": ["secret"], "query": ["key", "secret"], "oauth1": ["key", "secret"]}
        names |= {"bearer": ["token"], "header": ["value"], "none": []}
        return [v for n in names[self.type] if (v := getattr(self, n))]


class SourceSpec(_Strict):
    """A REST API the http_request tool may reach."""

    base_url: str
    auth: AuthSpec = AuthSpec(type="none")
    rate_limit: RateLimit | None = None
    write: bool = False
    allow_private: bool = False  # loopback/private addresses (the sandbox) allowed
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate(cls, v: Any) -> Any:
        return RateLimit.parse(v) if isinstance(v, str) else v

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^(https?://|\$\{)", v):
            raise ValueError(f"expected an http(s) URL or '${{VAR}}...', found '{v}'")
        return v


class ScheduleTrigger(_Strict):
    """Run on a cron schedule."""

    schedule: str
    timezone: str = "UTC"
    jitter_s: float = Field(default=0, ge=0)
    prompt: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"expected a cron expression such as '0 */6 * * *', found '{v}'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone such as 'Europe/Paris', found '{v}'"
            ) from None
        return v


class WebhookTrigger(_Strict):
    """Run when a request arrives at `webhook` (a path)."""

    webhook: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$")
    method: Literal["POST", "PUT", "GET"] = "POST"
    auth: Literal["woocommerce", "bearer", "none"] = "woocommerce"
    secret: str | None = None  # `${VAR}`: HMAC secret or bearer token
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    prompt: str | None = None

    @model_validator(mode="after")
    def _secret(self) -> WebhookTrigger:
        if self.auth != "none" and not self.secret:
            raise ValueError(f"webhook auth '{self.auth}' needs 'secret' (e.g. '${{MY_SECRET}}')")
        return self


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "@schedule" if "schedule" in value else "@webhook" if "webhook" in value else None
    return "@schedule" if isinstance(value, ScheduleTrigger) else "@webhook"


Trigger = Annotated[
    Annotated[ScheduleTrigger, Tag("@schedule")] | Annotated[WebhookTrigger, Tag("@webhook")],
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="each trigger needs 'schedule: \"CRON\"' or 'webhook: /path'",
    ),
]


class AgentSpec(_Strict):
    """A validated agent file."""

    name: str = Field(pattern=SLUG)
    description: str = Field(min_length=1)
    version: str = Field(default="0.1.0", pattern=SEMVER)
    model: str = DEFAULT_MODEL
    temperature: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int = Field(default=8192, gt=0, le=128_000)
    max_turns: int = Field(default=40, gt=0, le=1000)
    budget_usd: float | None = Field(default=None, gt=0)
    budget_tokens: int | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=1800, gt=0)
    task: str | None = None  # the default prompt of `agents run AGENT`
    tools: list[str] = []
    triggers: list[Trigger] = []
    sources: dict[str, SourceSpec] = {}
    allow_destructive: list[str] = []  # destructive tools headless runs may call
    destructive: list[str] = []  # extra tools to treat as destructive
    # Filled by the loader, not by the frontmatter:
    system_prompt: str = ""
    path: str = ""
    file_hash: str = ""

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v in RETIRED:
            raise ValueError(f"model '{v}' is retired; use e.g. '{DEFAULT_MODEL}'")
        return v

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, SourceSpec]) -> dict[str, SourceSpec]:
        for key in v:
            if not re.match(r"^[a-z][a-z0-9_]*$", key):
                raise ValueError(f"source names are lowercase identifiers, found '{key}'")
        return v


FRONTMATTER_FIELDS = [
    n for n in AgentSpec.model_fields if n not in ("system_prompt", "path", "file_hash")
]


def load_agent(path: str | Path) -> AgentSpec:
    """Read, validate and assemble the agent file at `path`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgentFileError([Problem(str(p), None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentFileError([Problem(str(p), None, f"cannot read the file: {exc}")]) from None
    return parse_agent(text, str(p))


def parse_agent(text: str, path: str = "<agent>") -> AgentSpec:
    """Validate agent file `text`; `path` is used in error messages and includes."""
    meta, lines, body, body_line = _split(text, path)
    unknown = [k for k in meta if k not in FRONTMATTER_FIELDS]
    problems = [_unknown_field(path, k, lines) for k in unknown]
    if not body.strip():
        problems.append(Problem(path, body_line + 1, "the body (the system prompt) is empty"))
    try:
        body = _expand_includes(body, Path(path), body_line)
    except AgentFileError as exc:
        problems.extend(exc.problems)
    known = {k: v for k, v in meta.items() if k in FRONTMATTER_FIELDS}
    try:
        spec = AgentSpec.model_validate(known)
    except ValidationError as exc:
        problems.extend(_problems(path, exc, lines))
        raise AgentFileError(problems) from None
    if problems:
        raise AgentFileError(problems)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    extra = {"system_prompt": body.strip(), "path": path, "file_hash": digest}
    return spec.model_copy(update=extra)


def _split(text: str, path: str) -> tuple[dict[str, Any], dict[tuple[Any, ...], int], str, int]:
    if not text.startswith("---"):
        raise AgentFileError([Problem(path, 1, "expected YAML frontmatter starting with '---'")])
    try:
        fm, body = frontmatter.YAMLHandler().split(text)
    except ValueError:
        problem = Problem(path, 1, "the frontmatter has no closing '---' line")
        raise AgentFileError([problem]) from None
    body_line = fm.count("\n") + 1
    try:
        node = yaml.compose(fm, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(fm)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AgentFileError([Problem(path, line, f"YAML syntax error: {what}")]) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise AgentFileError([Problem(path, 2, "the frontmatter must be a mapping of fields")])
    lines: dict[tuple[Any, ...], int] = {}
    _index(node, (), lines)
    return {str(k): v for k, v in meta.items()}, lines, body, body_line


def _index(node: yaml.Node | None, at: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    """Map each key path to its 1-based line (the frontmatter text starts on line 1)."""
    if node is None:
        return
    out.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*at, key.value)
            out[here] = key.start_mark.line + 1
            _index(value, here, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*at, i), out)


def _line_of(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for n in range(len(loc), -1, -1):
        if (key := tuple(loc[:n])) in lines:
            return lines[key]
    return None


def _unknown_field(path: str, key: str, lines: dict[tuple[Any, ...], int]) -> Problem:
    close = difflib.get_close_matches(key, FRONTMATTER_FIELDS, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return Problem(path, lines.get((key,)), f"unknown field{hint}", field=key)


def _problems(path: str, exc: ValidationError, lines: dict[tuple[Any, ...], int]) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x[:1] in "@["))
        field = ".".join(str(x) for x in loc) or None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = tuple(loc[:-1])
            msg = f"unknown field (allowed here: {_allowed_at(parent)})"
        elif "input" in err and err["type"] != "missing" and "found" not in msg:
            found = repr(err["input"])
            found = found if len(found) < 60 else found[:57] + "..."
            msg = f"{msg}; found {found}"
        out.append(Problem(path, _line_of(loc, lines), msg, field=field))
    return out


def _allowed_at(parent: tuple[Any, ...]) -> str:
    model: type[BaseModel] = AgentSpec
    if parent[:1] == ("sources",):
        model = AuthSpec if parent[2:3] == ("auth",) else SourceSpec
    elif parent[:1] == ("triggers",):
        return "schedule, timezone, jitter_s, prompt | webhook, method, auth, secret, ..."
    names = FRONTMATTER_FIELDS if model is AgentSpec else list(model.model_fields)
    return ", ".join(names)


def _expand_includes(body: str, agent_path: Path, first_line: int, depth: int = 0) -> str:
    out = []
    for n, line in enumerate(body.splitlines(), start=first_line):
        m = INCLUDE.match(line)
        if not m:
            out.append(line)
            continue
        name = m.group(1)
        found = _find_include(name, agent_path)
        if found is None or depth > 5:
            why = "include nested too deeply" if found else f"prompt fragment '{name}' not found"
            where = agent_path.parent.parent / "prompts"
            raise AgentFileError([Problem(str(agent_path), n, f"{why} (looked in {where})")])
        out.append(_expand_includes(found.read_text(encoding="utf-8"), found, 1, depth + 1))
    return "\n".join(out)


def _find_include(name: str, agent_path: Path) -> Path | None:
    if ".." in Path(name).parts or Path(name).is_absolute():
        return None
    base = agent_path.parent
    for folder in (base.parent / "prompts", base / "prompts", base):
        if (folder / name).is_file():
            return folder / name
    return None
