"""Pure helpers for MCP tools: Messages-API names, destructive flags, result text, hashes.

Nothing here touches the network: the pool (runtime/mcp.py) feeds these the `tools/list`
entries and `tools/call` results it receives.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Container, Iterable
from typing import Any

from mcp import types

MAX_NAME = 64  # the Messages API's tool-name pattern is ^[a-zA-Z0-9_-]{1,64}$
_INVALID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_HASH_LEN = 8

# A leading token that is one of these is the tool's verb: a "delete"/"remove" after it
# ("list_delete_requests") is an object, not the action.
_VERBS = frozenset(
    {"get", "list", "create", "update", "send", "add", "set", "import", "export", "search"}
    | {"find", "read", "fetch", "count", "check", "validate", "upsert", "schedule", "copy"}
    | {"move", "merge", "link", "unlink", "subscribe", "unsubscribe"}
)
_DESTRUCTIVE_VERBS = frozenset({"delete", "remove"})


def tool_name(prefix: str, original: str, taken: Container[str] = ()) -> str:
    """'brevo_contacts__create_contact': valid for the Messages API and not in `taken`.

    Invalid characters become '_'. A name over 64 characters, or one that collides
    after sanitizing, keeps its first 55 characters plus '_' and 8 hex digits of a
    hash of the unsanitized server and tool names, so it stays stable and unique.
    """
    name = _INVALID_CHARS.sub("_", f"{prefix}__{original}")
    if len(name) <= MAX_NAME and name not in taken:
        return name
    head = name[: MAX_NAME - _HASH_LEN - 1]
    for salt in range(100):  # a second collision needs a hash collision: bounded anyway
        seed = f"{prefix}\0{original}" + (f"\0{salt}" if salt else "")
        digest = hashlib.sha256(seed.encode()).hexdigest()[:_HASH_LEN]
        candidate = f"{head}_{digest}"
        if candidate not in taken:
            return candidate
    raise ValueError(f"Cannot find a unique name for tool '{original}' of '{prefix}'")


def looks_destructive(name: str) -> bool:
    """Whether the tool's action is delete/remove, after any module prefix.

    'delete_contact', 'contacts_delete_contact', 'bulk-removeContacts' are;
    'get_deleted_contacts' and 'list_delete_requests' are not.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    for token in re.split(r"[^a-z0-9]+", spaced):
        if token in _DESTRUCTIVE_VERBS:
            return True
        if token in _VERBS:
            return False
    return False


def is_destructive(spec: types.Tool, namespaced: str, extra: Container[str]) -> bool:
    """Destructive by name, by an explicit destructiveHint=True, or by the caller's list."""
    if spec.name in extra or namespaced in extra:
        return True
    if spec.annotations is not None and spec.annotations.destructive_hint is True:
        return True
    return looks_destructive(spec.name)


def render_result(result: types.CallToolResult) -> str:
    """The text the model sees: text blocks joined, other content described briefly.

    Structured content is given as JSON when the server sent no text alongside it
    (servers are asked to mirror it as text, and it would otherwise be said twice).
    """
    parts = [_render_block(block) for block in result.content]
    has_text = any(isinstance(b, types.TextContent) for b in result.content)
    if result.structured_content is not None and not has_text:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text = "\n".join(p for p in parts if p)
    if text:
        return text
    return "The tool reported an error without a message." if result.is_error else "(no content)"


def _render_block(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        kind = "image" if isinstance(block, types.ImageContent) else "audio"
        return f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes, not shown]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link {block.uri}" + (f" ({block.name})]" if block.name else "]")
    if isinstance(block, types.EmbeddedResource):
        res = block.resource
        if isinstance(res, types.TextResourceContents):
            return res.text
        return f"[resource {res.uri} {res.mime_type or 'binary'}, not shown]"
    return f"[{getattr(block, 'type', type(block).__name__)} content, not shown]"


def tool_list_hash(tools: Iterable[types.Tool]) -> str:
    """sha256 of the canonical JSON of the tools' names, descriptions and input schemas."""
    payload = [
        {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
        for t in sorted(tools, key=lambda t: t.name)
    ]
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
