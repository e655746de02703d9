"""POST /v3/contacts/import and GET /v3/processes/{id}: an asynchronous import, made deterministic.

An import is stored 'queued' and runs when its process is read (get_process), or at the
start of any later request once `delay` seconds have passed on the injected clock. Rows
are applied one by one; a bad row is skipped and recorded in the process report.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sandbox.brevo_contacts import create_contact, link_lists, require_lists
from sandbox.brevo_lists import create_list
from sandbox.brevo_rules import BrevoError, invalid, missing, not_found
from sandbox.brevo_store import Tx, dumps, iso, loads

IMPORT_NAME = "Import contacts"


def import_contacts(tx: Tx, request: Mapping[str, Any]) -> dict[str, Any]:
    """Queue an import; returns {'processId': N} (Brevo answers 202)."""
    sources = [key for key in ("jsonBody", "fileBody", "fileUrl") if request.get(key)]
    if len(sources) != 1:
        raise missing("Send exactly one of jsonBody, fileBody or fileUrl")
    if sources == ["fileUrl"]:
        raise invalid("fileUrl cannot be fetched by the sandbox: send jsonBody or fileBody")
    rows = _rows(request)
    list_ids = list(request.get("listIds") or [])
    new_list = request.get("newList")
    if not list_ids and not new_list:
        raise missing("listIds or newList is required")
    require_lists(tx, list_ids)
    if new_list:
        created = create_list(tx, str(new_list.get("listName") or ""), new_list.get("folderId"))
        list_ids.append(created["id"])
    job = {
        "rows": rows,
        "listIds": list_ids,
        "updateExistingContacts": request.get("updateExistingContacts", True),
        "emailBlacklist": bool(request.get("emailBlacklist")),
        "smsBlacklist": bool(request.get("smsBlacklist")),
    }
    process_id = tx.run(
        "INSERT INTO processes (name, status, request, created_at) VALUES (?, 'queued', ?, ?)",
        IMPORT_NAME, dumps(job), tx.stamp,
    )  # fmt: skip
    return {"processId": process_id}


def _rows(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    if request.get("jsonBody"):
        body = request["jsonBody"]
        if not isinstance(body, list) or not all(isinstance(row, Mapping) for row in body):
            raise invalid(
                "jsonBody should be a list of objects like {'email': ..., 'attributes': {...}}"
            )
        return [dict(row) for row in body]
    return _csv_rows(str(request["fileBody"]))


def _csv_rows(text: str) -> list[dict[str, Any]]:
    lines = text.strip().splitlines()
    if not lines:
        raise missing("fileBody is empty")
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    rows = []
    for record in reader:
        cells = {str(k).strip().upper(): (v or "").strip() for k, v in record.items() if k}
        row: dict[str, Any] = {"attributes": {}}
        for name, value in cells.items():
            if name == "EMAIL":
                row["email"] = value or None
            elif name == "EXT_ID":
                row["ext_id"] = value or None
            elif value:
                row["attributes"][name] = value
        rows.append(row)
    return rows


def _typed(tx: Tx, attributes: Mapping[str, Any]) -> dict[str, Any]:
    """CSV cells are text: convert them to the attribute's type (float, boolean)."""
    typed = dict(attributes)
    for name, value in attributes.items():
        kind = tx.scalar("SELECT type FROM attributes WHERE name = ?", str(name).upper())
        if not isinstance(value, str):
            continue
        if kind == "float":
            try:
                typed[name] = float(value)
            except ValueError:
                typed[name] = value  # rejected with Brevo's message by the contact rules
        elif kind == "boolean" and value.lower() in ("true", "false"):
            typed[name] = value.lower() == "true"
    return typed


def run_import(tx: Tx, process: Any) -> None:
    """Apply a queued import row by row and mark its process completed."""
    job = loads(process["request"])
    report: dict[str, Any] = {"created": 0, "updated": 0, "skipped": 0, "invalid": []}
    for index, row in enumerate(job["rows"]):
        request = dict(row) | {"attributes": _typed(tx, row.get("attributes") or {})}
        request |= {"updateEnabled": job["updateExistingContacts"], "listIds": job["listIds"]}
        if job["emailBlacklist"]:
            request["emailBlacklisted"] = True
        if job["smsBlacklist"]:
            request["smsBlacklisted"] = True
        try:
            with tx.savepoint():
                outcome = create_contact(tx, request)
        except BrevoError as exc:
            if exc.code == "duplicate_parameter" and not job["updateExistingContacts"]:
                _link_existing(tx, row, job["listIds"])
                report["skipped"] += 1
                continue
            report["invalid"].append({"row": index + 1, **exc.body()})
            continue
        report["updated" if outcome.get("updated") else "created"] += 1
    tx.run(
        "UPDATE processes SET status = 'completed', report = ?, completed_at = ? WHERE id = ?",
        dumps(report), tx.stamp, process["id"],
    )  # fmt: skip


def _link_existing(tx: Tx, row: Mapping[str, Any], list_ids: list[int]) -> None:
    email = str(row.get("email") or "").strip().lower()
    contact_id = tx.scalar("SELECT id FROM contacts WHERE email = ?", email) if email else None
    if contact_id is not None:
        link_lists(tx, contact_id, list_ids)


def settle_imports(tx: Tx, delay: float | None) -> None:
    """Run every queued import older than `delay` seconds (None: every queued import)."""
    due = "9999" if delay is None else iso(tx.now - timedelta(seconds=delay))
    queued = "SELECT * FROM processes WHERE status = 'queued' AND created_at <= ? ORDER BY id"
    for process in tx.all(queued, due):
        run_import(tx, process)


def get_process(tx: Tx, process_id: int) -> dict[str, Any]:
    """GET /processes/{id}: reading a queued import runs it first."""
    process = tx.one("SELECT * FROM processes WHERE id = ?", process_id)
    if process is None:
        raise not_found("Process does not exist")
    if process["status"] == "queued":
        run_import(tx, process)
        process = tx.one("SELECT * FROM processes WHERE id = ?", process_id)
    return process_view(process)


def process_view(row: Any) -> dict[str, Any]:
    """A process in Brevo's shape: id, status, name, export_url."""
    return {"id": row["id"], "status": row["status"], "name": row["name"], "export_url": None}


def process_details(row: Any) -> dict[str, Any]:
    """A process with the sandbox's import report (for tests, not Brevo's shape)."""
    return process_view(row) | {"report": loads(row["report"]), "completedAt": row["completed_at"]}
