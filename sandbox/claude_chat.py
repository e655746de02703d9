"""A scripted chat partner for `agents chat` tests and demos (NOT Claude).

`ChatScript` answers a whole conversation. Each new user message picks a sub-flow
from its text; the flow's replies follow until its final answer:

- "sync ..."          WooSyncScript's flow: cursor, customers, upserts, list, report
- "delete EMAIL"      one delete_contact call (destructive: the REPL asks first), a report
- "slow ..."          waits for `gate` (a threading.Event) before answering, so a test
                      can interrupt a turn that is still waiting for the model
- anything else       a short Markdown answer saying what it can do

A message arriving while a flow still expects tool results (the user interrupted
it) simply starts a new flow. Tool ids stay unique across the whole chat.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from sandbox.claude import reply
from sandbox.claude import user_text as latest_user_text
from sandbox.claude_scripts import Flow, ScriptBase, WooSyncScript

SYNC = re.compile(r"^\s*(please\s+)?sync\b", re.I)
DELETE = re.compile(r"\b(?:delete|remove)\s+(?:contact\s+)?<?([^\s<>]+@[^\s<>]+?)>?[.!]?$", re.I)
SLOW = re.compile(r"^\s*slow\b", re.I)
HELP = (
    "I keep your **WooCommerce** customers in step with **Brevo**. Try:\n\n"
    "- `sync last week's customers` (new ones join the *Welcome Series* list)\n"
    "- `delete someone@example.com` (I will ask before deleting)\n"
)


class _Sync(WooSyncScript):
    """WooSyncScript numbering its tool ids from `first`."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self._ids = first

    @property
    def ids(self) -> int:
        """The last tool id used."""
        return self._ids


class ChatScript(ScriptBase):
    """Dispatches each user message of a chat to a scripted flow."""

    def __init__(self, gate: threading.Event | None = None, gate_timeout: float = 60.0) -> None:
        super().__init__()
        self.gate, self.gate_timeout = gate, gate_timeout
        self.waiting = threading.Event()  # set while a "slow" reply waits for the gate

    def flow(self) -> Flow:
        while True:
            text = latest_user_text(self.request)
            if SYNC.search(text):
                yield from self.sync()
            elif match := DELETE.search(text.split("\n\n(Current time")[0].strip()):
                yield from self.delete(match.group(1))
            elif SLOW.search(text):
                yield self.slow()
            else:
                yield reply(HELP)

    def sync(self) -> Flow:
        """WooSyncScript's replies, until its report or a new user message."""
        sub = _Sync(self._ids)
        answer = sub(self.request)
        while True:
            self._ids = sub.ids
            request = yield answer
            if not _answers_tools(request):
                return
            answer = sub(request)

    def delete(self, email: str) -> Flow:
        """Delete one contact, then say how it went."""
        request = yield self.call([("delete_contact", {"identifier": email})], f"Deleting {email}.")
        if not _answers_tools(request):
            return
        ((result, error),) = self.results()
        if error:
            yield reply(f"I did not delete **{email}**: {_text(result)}")
        else:
            yield reply(f"Deleted **{email}** from Brevo.")

    def slow(self) -> dict[str, Any]:
        """A reply that waits for the gate first (the endpoint thread blocks)."""
        self.waiting.set()
        if self.gate is not None:
            self.gate.wait(self.gate_timeout)
        self.waiting.clear()
        return reply("Sorry for the wait: that took a while.")


def _answers_tools(request: dict[str, Any]) -> bool:
    """Whether the request's last message carries tool results (not a new message)."""
    last = request["messages"][-1]
    content = last["content"]
    return (
        last["role"] == "user"
        and isinstance(content, list)
        and content != []
        and all(b.get("type") == "tool_result" for b in content)
    )


def _text(result: Any) -> str:
    if isinstance(result, dict):
        return str(result.get("message") or result)
    return str(result)[:200]
