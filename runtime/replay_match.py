"""Comparing a replay with its transcript: declared normalisation rules and JSON diffs.

Volatile values are normalised by the rules below, declared here and nowhere else:
they are values a faithful replay may legitimately change (server-assigned ids whose
order depends on which concurrent call landed first, timestamps the servers stamp).
Everything else must match exactly.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

# (tool name pattern, JSON keys) whose values are replaced by "<volatile>" in results.
VOLATILE_RESULT_KEYS: list[tuple[str, frozenset[str]]] = [
    ("*", frozenset({"createdAt", "modifiedAt", "duration_s", "request_id"})),
    ("*__create_contact", frozenset({"id"})),
    ("*__update_contact", frozenset({"id"})),
    ("*__import_contacts", frozenset({"processId"})),
    ("*__get_process", frozenset({"id"})),
    ("*__get_contacts*", frozenset({"id"})),
    ("*__get_contact_info", frozenset({"id"})),
]
# (tool name pattern, key of a list, item key): lists whose order follows server ids, so
# it depends on which concurrent write landed first; compared sorted by the item key.
UNORDERED_LISTS: list[tuple[str, str, str]] = [("*__get_contacts*", "contacts", "email")]
PLACEHOLDER = "<volatile>"


@dataclass(frozen=True)
class Divergence:
    """The first place a replay differs from its transcript."""

    step: int  # 1-based index of the compared event
    line: int | None  # line of the transcript that was expected
    matcher: str  # model_request | tool_input | tool_result | tool_list | sequence
    path: str  # JSON path of the first difference
    recorded: Any
    actual: Any
    note: str = ""

    def __str__(self) -> str:
        where = f"step {self.step}" + (f" (transcript line {self.line})" if self.line else "")
        head = f"{where}: {self.matcher} differs at {self.path}"
        if self.note:
            head += f" ({self.note})"
        return f"{head}\n  recorded: {_short(self.recorded)}\n  actual:   {_short(self.actual)}"


def _short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_difference(recorded: Any, actual: Any, path: str = "$") -> tuple[str, Any, Any] | None:
    """The JSON path and values of the first difference, or None when equal."""
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for key in sorted(set(recorded) | set(actual)):
            if key not in recorded or key not in actual:
                return f"{path}.{key}", recorded.get(key, "<absent>"), actual.get(key, "<absent>")
            found = first_difference(recorded[key], actual[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(actual, list):
        for i, (a, b) in enumerate(zip(recorded, actual, strict=False)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(recorded) != len(actual):
            return f"{path}.length", len(recorded), len(actual)
        return None
    return None if recorded == actual else (path, recorded, actual)


def normalize_result(tool: str, content: Any) -> Any:
    """A tool result's content, parsed when JSON, with volatile keys replaced."""
    value = _parse(content)
    keys = frozenset().union(
        *(k for pat, k in VOLATILE_RESULT_KEYS if fnmatch.fnmatchcase(tool, pat))
    )
    value = _blank(value, keys)
    for pattern, key, by in UNORDERED_LISTS:
        if fnmatch.fnmatchcase(tool, pattern) and isinstance(value, dict):
            items = value.get(key)
            if isinstance(items, list) and all(isinstance(i, dict) for i in items):
                value[key] = sorted(items, key=lambda i: str(i.get(by)))
    return value


def normalize_request(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API body with tool results normalised like `normalize_result`."""
    names: dict[str, str] = {}
    messages = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if block.get("type") == "tool_use":
                    names[block["id"]] = block["name"]
            content = [_normalize_block(b, names) for b in content]
        messages.append({**message, "content": content})
    return {**body, "messages": messages}


def _normalize_block(block: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    if block.get("type") != "tool_result":
        return block
    tool = names.get(block.get("tool_use_id", ""), "*")
    return {**block, "content": normalize_result(tool, block.get("content"))}


def _parse(content: Any) -> Any:
    if isinstance(content, str):
        try:
            return json.loads(content)
        except json.JSONDecodeError:
            return content
    if isinstance(content, list):  # tool_result blocks as [{type: text, text}]
        return [_parse(b.get("text")) if isinstance(b, dict) else b for b in content]
    return content


def _blank(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: PLACEHOLDER if k in keys else _blank(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, keys) for v in value]
    return value
