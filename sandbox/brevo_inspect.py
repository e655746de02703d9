"""Whole-account reads for tests: every row in Brevo's shapes, and a canonical snapshot."""

from __future__ import annotations

from typing import Any

from sandbox.brevo_activity import campaign_view, event_view
from sandbox.brevo_contacts import contact_view
from sandbox.brevo_imports import process_details
from sandbox.brevo_lists import list_view
from sandbox.brevo_store import Tx

VOLATILE = ("createdAt", "modifiedAt", "completedAt")


def all_contacts(tx: Tx) -> list[dict[str, Any]]:
    """Every contact, by id."""
    return [contact_view(tx, row) for row in tx.all("SELECT * FROM contacts ORDER BY id")]


def all_lists(tx: Tx) -> list[dict[str, Any]]:
    """Every list, by id, with its creation time."""
    rows = tx.all("SELECT * FROM lists ORDER BY id")
    return [list_view(tx, row) | {"createdAt": row["created_at"]} for row in rows]


def all_folders(tx: Tx) -> list[dict[str, Any]]:
    """Every folder, by id."""
    return [dict(row) for row in tx.all("SELECT id, name FROM folders ORDER BY id")]


def all_attributes(tx: Tx) -> list[dict[str, Any]]:
    """Every contact attribute, in creation order."""
    rows = tx.all("SELECT name, category, type FROM attributes ORDER BY position")
    return [dict(row) for row in rows]


def all_events(tx: Tx) -> list[dict[str, Any]]:
    """Every event, oldest first."""
    return [event_view(row) for row in tx.all("SELECT * FROM events ORDER BY id")]


def all_campaigns(tx: Tx) -> list[dict[str, Any]]:
    """Every email campaign, by id."""
    return [campaign_view(row) for row in tx.all("SELECT * FROM campaigns ORDER BY id")]


def all_processes(tx: Tx) -> list[dict[str, Any]]:
    """Every process, with the sandbox's import report."""
    return [process_details(row) for row in tx.all("SELECT * FROM processes ORDER BY id")]


def all_test_emails(tx: Tx) -> list[dict[str, Any]]:
    """Every test email sent, in order."""
    rows = tx.all("SELECT campaign_id, email_to FROM test_emails ORDER BY id")
    return [{"campaignId": row["campaign_id"], "emailTo": row["email_to"]} for row in rows]


def _stable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k not in VOLATILE} for item in items]


def snapshot(tx: Tx) -> dict[str, Any]:
    """The whole account as plain data, without the times the sandbox stamped itself.

    Event dates stay only when the caller sent them.
    """
    events = [
        event_view(row) | {"event_date": row["event_date"]}
        for row in tx.all("SELECT * FROM events ORDER BY id")
    ]
    return {
        "folders": all_folders(tx),
        "lists": _stable(all_lists(tx)),
        "attributes": all_attributes(tx),
        "contacts": _stable(all_contacts(tx)),
        "events": events,
        "campaigns": _stable(all_campaigns(tx)),
        "processes": _stable(all_processes(tx)),
        "testEmails": all_test_emails(tx),
    }
