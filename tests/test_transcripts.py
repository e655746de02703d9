"""Every bundled transcript replays green in both modes; drift is caught and named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio
import pytest

from runtime.replay import replay
from runtime.transcript import TranscriptError, load_transcript

ROOT = Path(__file__).resolve().parent.parent
TRANSCRIPTS = sorted((ROOT / "tests" / "transcripts").glob("*.jsonl"))


def run(path: Path, **kw: bool):
    return anyio.run(lambda: replay(str(path), **kw))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
@pytest.mark.parametrize("offline", [False, True], ids=["default", "offline"])
def test_transcript_replays(path: Path, offline: bool) -> None:
    report = run(path, offline=offline)
    assert report.ok, str(report.divergences[0])
    assert report.steps > 3
    assert report.summary["status"] == "succeeded"


def test_bundled_transcripts_say_they_are_scripted() -> None:
    assert len(TRANSCRIPTS) >= 3
    for path in TRANSCRIPTS:
        header = load_transcript(path).header
        assert header["source"] == "scripted", path
        assert header["sandbox"]["seed"] == 7


def test_no_secret_in_bundled_transcripts() -> None:
    for path in TRANSCRIPTS:
        text = path.read_text()
        for marker in ("ck_", "cs_", "sandbox-mcp-", "xkeysib-", "sk-ant-", "127.0.0.1"):
            assert marker not in text, (path.name, marker)
        assert "${WOOCOMMERCE_URL}" in text


def _copy_repo_bits(tmp: Path) -> None:
    shutil.copytree(ROOT / "agents", tmp / "agents")
    shutil.copytree(ROOT / "prompts", tmp / "prompts")


def test_changed_agent_body_diverges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_repo_bits(tmp_path)
    agent = tmp_path / "agents" / "woocommerce-brevo-sync.md"
    agent.write_text(agent.read_text().replace("report it plainly", "report it in verse"))
    monkeypatch.chdir(tmp_path)
    report = run(TRANSCRIPTS[0])
    assert not report.ok
    d = report.divergences[0]
    assert (d.matcher, d.step) == ("model_request", 1)
    assert d.path == "$.system[0].text"
    assert "in verse" in d.actual and "plainly" in d.recorded


def test_changed_tool_schema_is_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox import brevo_tools_more

    doc = brevo_tools_more.ListsTools.get_lists.__doc__ or ""
    monkeypatch.setattr(brevo_tools_more.ListsTools.get_lists, "__doc__", doc + " Changed.")
    report = run(TRANSCRIPTS[0])
    assert not report.ok
    d = report.divergences[0]
    assert d.matcher == "tool_list" and "brevo_lists" in d.note
    assert d.path.startswith("$.tools[") and d.path.endswith(".description")
    assert "Changed." in str(d.actual)


def test_changed_sandbox_data_diverges_at_the_tool_result(tmp_path: Path) -> None:
    lines = TRANSCRIPTS[0].read_text().splitlines()
    header = json.loads(lines[0])
    header["sandbox"]["seed"] = 8
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    report = run(changed)
    assert not report.ok
    d = report.divergences[0]
    assert d.matcher == "tool_result"
    # Another store: the sync_records summary (counts) is the first thing that differs.
    assert d.path.startswith("$.content.") and d.recorded != d.actual
    assert "step" in str(d) and "transcript line" in str(d)


def test_update_rewrites_after_an_intended_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_repo_bits(tmp_path)
    agent = tmp_path / "agents" / "woocommerce-brevo-sync.md"
    agent.write_text(agent.read_text().replace("report it plainly", "report it briefly"))
    copy = tmp_path / "t.jsonl"
    shutil.copyfile(TRANSCRIPTS[0], copy)
    monkeypatch.chdir(tmp_path)
    assert not run(copy).ok
    assert run(copy, update=True).ok
    assert run(copy).ok  # green again after the update
    assert load_transcript(copy).header["source"] == "scripted"  # provenance kept


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json\n", ":1: not JSON"),
        ('{"type": "header", "format": 99, "source": "scripted"}\n', "format 99 not supported"),
        ('{"type": "header", "format": 1, "source": "claimed"}\n', "'source' must be"),
        ('{"type": "user", "content": "x"}\n', "first line must be the header"),
        (
            '{"type": "header", "format": 1, "source": "scripted"}\n{"type": "eval"}\n',
            ":2: expected an object",
        ),
        (
            '{"type": "header", "format": 1, "source": "scripted"}\n'
            '{"type": "model_request", "body": {"messages": []}, "prefix": 5}\n',
            ":2: malformed model_request",
        ),
    ],
)
def test_transcripts_are_untrusted_input(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(TranscriptError, match=message):
        load_transcript(path)
