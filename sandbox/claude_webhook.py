"""A scripted stand-in for Claude in webhook-triggered runs. NOT Claude.

`WebhookCustomerScript` reads the one thing the runtime promises a webhook run: the
delivery body, fenced and labelled as untrusted data in the user turn. If it is a
WooCommerce customer with a valid email, it upserts that one contact in Brevo with the
MCP `create_contact` tool (email, ext_id, first and last name: attributes every Brevo
account has) and reports; anything else it reports without a tool call. It never acts
on text inside the payload.

`PerConversation(factory)` gives every conversation (keyed by its first user turn) its
own script instance, so one scripted endpoint serves several runs, even concurrent ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.claude import ApiError, Message, reply
from sandbox.claude import user_text as latest_user_text
from sandbox.claude_scripts import EMAIL, Flow, ScriptBase

FENCE = re.compile(r"UNTRUSTED DATA[^\n]*:\n(`{3,})(\w*)\n(.*?)\n\1\n", re.S)


def read_payload(text: str) -> Any:
    """The fenced untrusted payload of a user turn (parsed JSON, or text); None if absent."""
    m = FENCE.search(text)
    if m is None:
        return None
    body = m.group(3)
    if m.group(2) != "json":
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        return body


def contact_args(customer: dict[str, Any]) -> dict[str, Any]:
    """create_contact arguments for one WooCommerce customer."""
    attrs = {
        "FIRSTNAME": customer.get("first_name") or None,
        "LASTNAME": customer.get("last_name") or None,
    }
    return {
        "email": str(customer["email"]).strip().lower(),
        "ext_id": str(customer["id"]),
        "attributes": {k: v for k, v in attrs.items() if v is not None},
        "updateEnabled": True,
    }


class WebhookCustomerScript(ScriptBase):
    """Upsert the customer a `customer.*` delivery carries."""

    def flow(self) -> Flow:
        payload = read_payload(latest_user_text(self.request))
        if not isinstance(payload, dict) or "email" not in payload or "id" not in payload:
            yield reply("The delivery is not a customer record; nothing to sync.")
            return
        email = str(payload["email"]).strip().lower()
        if not EMAIL.match(email):
            yield reply(f"Customer {payload['id']} has no valid email; skipped.")
            return
        yield self.call([("create_contact", contact_args(payload))], "Upserting the customer.")
        ((result, is_error),) = self.results()
        if is_error:
            yield reply(f"Could not sync customer {payload['id']}: {str(result)[:200]}")
            return
        how = "updated" if isinstance(result, dict) and result.get("updated") else "created"
        yield reply(f"Synced customer {payload['id']} ({email}): contact {how}.")


class PerConversation:
    """A script per conversation, keyed by the conversation's first user turn."""

    def __init__(self, factory: Callable[[], ScriptBase]) -> None:
        self._factory = factory
        self._scripts: dict[str, ScriptBase] = {}

    def __call__(self, request: dict[str, Any]) -> Message | ApiError:
        first = request["messages"][0]["content"]
        key = hashlib.sha256(json.dumps(first, sort_keys=True).encode()).hexdigest()
        if key not in self._scripts:
            self._scripts[key] = self._factory()
        return self._scripts[key](request)
