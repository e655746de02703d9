"""Agent files: the shipped ones are valid; broken ones give file:line errors, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.agentfile import RateLimit, WebhookTrigger, load_agent, parse_agent
from runtime.cli import main
from runtime.errors import AgentFileError

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    "WOOCOMMERCE_URL": "http://127.0.0.1:8081",
    "WOOCOMMERCE_CONSUMER_KEY": "ck_test_key_0000",
    "WOOCOMMERCE_CONSUMER_SECRET": "cs_test_secret_0000",
    "BREVO_MCP_TOKEN": "token-for-tests",
    "CRM_URL": "http://127.0.0.1:8083",
    "CRM_TOKEN": "crm-token-for-tests",
}

GOOD = """---
name: demo-agent
description: A test agent.
version: 1.2.3
tools:
  - brevo_contacts
triggers:
  - schedule: "*/5 * * * *"
sources:
  shop:
    base_url: ${WOOCOMMERCE_URL}/wp-json/wc/v3
    auth:
      type: basic
      key: ${WOOCOMMERCE_CONSUMER_KEY}
      secret: ${WOOCOMMERCE_CONSUMER_SECRET}
    rate_limit: 25/10s
---
You sync things.
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    agent = tmp_path / "agents" / "a.md"
    agent.parent.mkdir(exist_ok=True)
    agent.write_text(text)
    code = main(["check", str(agent), "--mcp-config", str(ROOT / "mcp.json")])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_shipped_agents_are_valid(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(str(p) for p in (ROOT / "agents").glob("*.md"))
    assert len(paths) >= 2
    code = main(["check", *paths, "--mcp-config", str(ROOT / "mcp.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "woocommerce-brevo-sync" in out and "rest-brevo-connector" in out
    # The module in the URL resolves a tools: name even when the key differs (brevo_email).
    assert "brevo_email_campaign_management -> https://mcp.brevo.com/v1/" in out


def test_flagship_agent_fields() -> None:
    spec = load_agent(ROOT / "agents" / "woocommerce-brevo-sync.md")
    assert spec.temperature == 0.1
    assert spec.tools == [
        "brevo_contacts",
        "brevo_attributes",
        "brevo_lists",
        "brevo_email_campaign_management",
        "brevo_events",
    ]
    hook = next(t for t in spec.triggers if isinstance(t, WebhookTrigger))
    assert (hook.webhook, hook.method) == ("/agents/woocommerce/sync", "POST")
    assert spec.sources["woocommerce"].rate_limit == RateLimit(requests=25, per_seconds=10)
    # Includes are expanded and the body carries the real-store corrections.
    assert "<!-- include" not in spec.system_prompt
    assert "ignores `modified_after`" in spec.system_prompt
    assert "dates_are_gmt=true" in spec.system_prompt
    assert "ORDER_COUNT" in spec.system_prompt and "CUSTOMER_SINCE" in spec.system_prompt


def test_temperature_warning(env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(
        tmp_path, GOOD.replace("version: 1.2.3", "version: 1.2.3\ntemperature: 0.1"), capsys
    )
    assert code == 0
    assert "temperature 0.1 will not be sent" in out


BROKEN = [
    # (name, edit, expected line, expected fragment)
    ("bad yaml", lambda t: t.replace("tools:\n", "tools: [\n"), 6, "YAML syntax error"),
    (
        "wrong type",
        lambda t: t.replace("version: 1.2.3", "version: 1.2.3\nmax_turns: many"),
        5,
        "'max_turns': Input should be a valid integer",
    ),
    (
        "unknown field",
        lambda t: t.replace("version: 1.2.3", "version: 1.2.3\ntemprature: 0.2"),
        5,
        "did you mean 'temperature'",
    ),
    ("bad cron", lambda t: t.replace("*/5 * * * *", "61 * * * *"), 8, "cron expression"),
    (
        "missing env var",
        lambda t: t.replace("${WOOCOMMERCE_URL}", "${NOT_SET_ANYWHERE}"),
        11,
        "${NOT_SET_ANYWHERE}, which is not set",
    ),
    (
        "temperature 3",
        lambda t: t.replace("version: 1.2.3", "version: 1.2.3\ntemperature: 3"),
        5,
        "less than or equal to 1",
    ),
    (
        "unresolved tool",
        lambda t: t.replace("- brevo_contacts", "- brevo_nope"),
        6,
        "Tool server 'brevo_nope' is not in",
    ),
    ("bad name", lambda t: t.replace("name: demo-agent", "name: Demo Agent"), 2, "'name'"),
    ("bad version", lambda t: t.replace("1.2.3", "1.2"), 4, "'version'"),
    ("bad rate", lambda t: t.replace("25/10s", "fast"), 16, "expected a rate such as '25/10s'"),
    (
        "auth without secret",
        lambda t: t.replace("      secret: ${WOOCOMMERCE_CONSUMER_SECRET}\n", ""),
        12,
        "auth type 'basic' needs secret",
    ),
    (
        "missing include",
        lambda t: t + "<!-- include: nowhere.md -->\n",
        19,
        "prompt fragment 'nowhere.md' not found",
    ),
    ("no closing fence", lambda t: t.replace("---\nYou", "You"), 1, "no closing '---'"),
    (
        "empty body",
        lambda t: t.replace("You sync things.\n", ""),
        18,
        "body (the system prompt) is empty",
    ),
    (
        "bad webhook",
        lambda t: t.replace('- schedule: "*/5 * * * *"', "- webhook: hooks/x\n    secret: ${S}"),
        8,
        "'triggers.0.webhook'",
    ),
    (
        "missing description",
        lambda t: t.replace("description: A test agent.\n", ""),
        None,
        "'description': Field required",
    ),
]


@pytest.mark.parametrize(("name", "edit", "line", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_agent_files(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, edit, line, fragment
) -> None:
    code, out = _check(tmp_path, edit(GOOD), capsys)
    assert code == 1, out
    assert fragment in out, out
    if line is not None:
        assert f"a.md:{line}:" in out or f"mcp.json:{line}:" in out, out
    assert "Traceback" not in out
    assert len(out.splitlines()) <= 24  # one screen


def test_check_without_traceback_in_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\nname: [unclosed\n---\nbody\n")
    proc = subprocess.run(
        [sys.executable, "-m", "runtime", "check", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 1
    assert f"{bad}:" in proc.stderr and "YAML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unknown_agent_name_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "no-such-agent"])
    assert code == 2
    assert "Agent 'no-such-agent' not found" in capsys.readouterr().err


def test_mcp_json_module_resolution(tmp_path: Path) -> None:
    from runtime.config import load_mcp_config

    cfg = load_mcp_config(ROOT / "mcp.json", {"BREVO_MCP_TOKEN": "tok-123456"})
    server = cfg.resolve("brevo_email_campaign_management")
    assert server.name == "brevo_email"
    assert server.headers["Authorization"] == "Bearer tok-123456"
    assert cfg.secrets.values["BREVO_MCP_TOKEN"] == "tok-123456"
    cfg2 = load_mcp_config(
        ROOT / "mcp.json",
        {"BREVO_MCP_TOKEN": "tok-123456", "BREVO_MCP_BASE_URL": "http://127.0.0.1:9"},
    )
    assert cfg2.resolve("brevo_contacts").url == "http://127.0.0.1:9/v1/brevo_contacts/mcp"


def test_mcp_json_errors(tmp_path: Path) -> None:
    from runtime.config import load_mcp_config
    from runtime.errors import ConfigError

    p = tmp_path / "mcp.json"
    p.write_text('{"mcpServers": {"x": {"url": "${NOPE}/mcp"}}}')
    with pytest.raises(ConfigError, match=r"server 'x' uses \$\{NOPE\}, which is not set"):
        load_mcp_config(p, {})
    p.write_text('{"mcpServers": {"x": {"url": "http://a/mcp", "command": "b"}}}')
    with pytest.raises(ConfigError, match="exactly one of 'url' or 'command'"):
        load_mcp_config(p, {})
    p.write_text('{"mcpServers": ')
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_mcp_config(p, {})
    p.write_text(json.dumps({"mcpServers": {"s": {"command": "x", "env": {"K": "${K:-dflt}"}}}}))
    assert load_mcp_config(p, {}).servers["s"].env == {"K": "dflt"}


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
fields = st.sampled_from(
    [
        "name",
        "description",
        "version",
        "model",
        "temperature",
        "max_tokens",
        "tools",
        "triggers",
        "sources",
        "max_turns",
        "allow_destructive",
        "task",
        "nonsense",
    ]
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(meta=st.dictionaries(fields, yaml_values, max_size=6), body=st.text(max_size=40))
def test_random_frontmatter_never_crashes(meta: dict, body: str) -> None:
    import yaml

    text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
    try:
        parse_agent(text, "fuzz.md")
    except AgentFileError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    try:
        parse_agent(text, "fuzz.md")
    except AgentFileError as exc:
        assert exc.problems


def test_help_is_lazy() -> None:
    """`agents --help` must stay fast: the CLI module imports no heavy library."""
    code = (
        "import sys, runtime.cli\n"
        "heavy = [m for m in ('anthropic', 'mcp', 'rich', 'httpx', 'pydantic', 'starlette')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from runtime.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "-h"])
        assert exc.value.code == 0
        assert "usage: agents " + name in capsys.readouterr().out
