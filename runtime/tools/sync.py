"""`sync_records`: the bulk data plane. Records flow from a source to MCP tools without
passing through the model, which sends a declarative plan and reads a summary.

    plan (JSON) -> parse (sync_plan) -> check against the session (sync_check)
         -> run (sync_run: sync_source -> sync_map -> sync_sink -> sync_then)
         -> summary under 4 KB (sync_report)

A bad plan comes back as an error naming each field to fix, before anything is read
or written. The cursor is staged in the session's CursorStage, so it is committed only
when the whole run succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from runtime.clock import Clock
from runtime.config import ResolvedSource
from runtime.store import RunStore
from runtime.tools import Tool, ToolResult
from runtime.tools.state import CursorStage
from runtime.tools.sync_check import check_plan
from runtime.tools.sync_plan import PlanError, parse_plan
from runtime.tools.sync_report import SyncProgress
from runtime.tools.sync_run import SyncAborted, SyncContext, SyncRun
from runtime.tools.sync_source import JsonFetcher

Tools = Mapping[str, Tool] | Callable[[], Mapping[str, Tool]]


class SyncTool:
    """The `sync_records` tool (implements Tool)."""

    name = "sync_records"
    destructive = False

    def __init__(
        self,
        http: JsonFetcher,
        tools: Tools,
        store: RunStore,
        stage: CursorStage,
        agent: str,
        run_id: str,
        clock: Clock,
        progress: Callable[[SyncProgress], None] | None = None,
        *,
        sources: Mapping[str, ResolvedSource] | Sequence[str] = (),
    ) -> None:
        self._http, self._tools, self._store, self._stage = http, tools, store, stage
        self._agent, self._run_id, self._clock, self._progress = agent, run_id, clock, progress
        self._sources = list(sources)  # the declared sources (HttpTool's), by name

    @property
    def description(self) -> str:
        return DESCRIPTION

    @property
    def input_schema(self) -> dict[str, Any]:
        return INPUT_SCHEMA

    def _all_tools(self) -> Mapping[str, Tool]:
        return self._tools() if callable(self._tools) else self._tools

    def _lookup(self, name: str) -> Tool | None:
        return None if name == self.name else self._all_tools().get(name)

    async def call(self, arguments: dict[str, Any]) -> ToolResult:
        """Check the plan, run it, return the summary; plan errors come back as is_error."""
        started = self._clock.monotonic()
        names = [n for n in self._all_tools() if n != self.name]
        try:
            plan = parse_plan(arguments)
            exprs = check_plan(plan, self._sources, self._lookup, names)
            ctx = SyncContext(self._http, self._lookup, names, self._store, self._stage,
                              self._agent, self._run_id, self._clock, self._progress)  # fmt: skip
            report = await SyncRun(plan, exprs, ctx).execute()
        except (PlanError, SyncAborted) as exc:
            return ToolResult(str(exc), is_error=True, meta={"sync": "not started"})
        text = report.to_json(self._clock.monotonic() - started)
        meta = {"sync": json.loads(text)}
        return ToolResult(text, is_error=report.stopped is not None, meta=meta)


DESCRIPTION = """Sync records in bulk from a declared source into MCP tools (e.g. Brevo) without
reading them yourself: you send a plan, the runtime pages through the source under its
rate limit, filters, maps, validates, dedupes and writes, and returns a short summary
(counts, skipped and dead-lettered by reason, a few sample errors, the staged cursor).
Use it for any sync of more than a handful of records; keep the per-record tools for
small requests. A bad plan is refused before anything is written, naming the field.

Plan fields:
- source: {source, path, params, pagination: page|cursor|none, items (JMESPath to the
  records; default the body), id (JMESPath, default "id")}. "page" follows
  X-WP-TotalPages / Link; "cursor" sends the body's next_cursor back as 'cursor'.
- filter: [{field (JMESPath), after: ISO time | "cursor", if_no_cursor, before,
  equals, one_of, not_empty, valid_email}] -- client-side; "cursor" is the stream's
  committed cursor.
- map: {target path: JMESPath | {from, transform: [lower, trim, e164, date, float, int,
  bool, str], default, region, value}}. Targets with dots nest ("attributes.FIRSTNAME").
  e164 uses region, else default_region, else the record's billing.country; a phone it
  cannot make international is left out.
- validate: {email: mapped path (default "email"), phones, invalid_phone: drop|reject,
  required}: failures go to the dead-letter table and the sync carries on.
- dedupe: {key (mapped path, default "email", lower-cased), latest_by (source JMESPath)}.
- cursor: {stream, field (source JMESPath), overlap (seconds, default 60)}: the largest
  value synced is staged, and committed only if the run succeeds and nothing failed. The
  last `overlap` seconds before the cursor are read again (same-second and late
  changes); versions already synced there are skipped.
- sink: {tool, arguments (template: "$record", "$record.path", "$source.path"),
  concurrency, retry_without: [mapped paths dropped for one retry when an error names
  them], lookup: {tool, arguments ("$offset", "$limit"), items, key, compare} to tell
  new from existing (and skip unchanged), batch: {tool, arguments ({"contacts":
  "$batch"}), item, size} for existing records, import: {tool, arguments ("$batch",
  "$list_ids"), item, size, poll_tool, poll_arguments ("$process_id")} for new ones}.
- then: [{add_to_list: name or id, folder_id (create it there if missing), on:
  created|synced}, {event, tool, arguments, when (JMESPath on the source), on, confirm:
  {tool, arguments ("$event", "$since", "$until", "$limit", "$offset"), items, key
  (JMESPath on a listed event, compared with the record id)}}]; events go through the
  event ledger: at most once per record ever; with confirm, one a crash left unsure is
  looked up at the destination and sent only if it is not there.
- dry_run: true reports what would change (counts and a mapped sample), writing nothing.

Example (WooCommerce customers -> Brevo contacts):
{"source": {"source": "woocommerce", "path": "wc/v2/customers", "params": {"per_page": 100,
  "orderby": "id", "order": "asc"}},
 "filter": [{"field": "date_modified_gmt || date_created_gmt", "after": "cursor",
  "if_no_cursor": "2026-05-01T00:00:00"}],
 "map": {"email": {"from": "email", "transform": ["trim", "lower"]},
  "ext_id": {"from": "id", "transform": ["str"]}, "attributes.FIRSTNAME": "first_name",
  "attributes.SMS": {"from": "billing.phone", "transform": ["e164"]}},
 "dedupe": {"key": "email", "latest_by": "date_modified_gmt || date_created_gmt"},
 "cursor": {"stream": "customers", "field": "date_modified_gmt || date_created_gmt"},
 "sink": {"tool": "brevo_contacts__create_contact", "arguments": {"email": "$record.email",
  "ext_id": "$record.ext_id", "attributes": "$record.attributes", "updateEnabled": true}},
 "then": [{"add_to_list": "Welcome Series", "folder_id": 1}]}"""


def _object(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description}


INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "source": _object("{source, path, params, pagination, items, id}"),
        "filter": {"type": "array", "items": {"type": "object"}, "description": "Conditions."},
        "map": _object("Target path -> JMESPath or {from, transform, default, region, value}."),
        "validate": _object("{email, phones, invalid_phone, required}"),
        "dedupe": _object("{key, latest_by}"),
        "cursor": _object("{stream, field}"),
        "sink": _object("{tool, arguments, concurrency, retry_without, lookup, batch, import}"),
        "then": {"type": "array", "items": {"type": "object"}, "description": "List/event steps."},
        "default_region": {"type": "string", "description": "Phone region, e.g. FR."},
        "dry_run": {"type": "boolean", "description": "Report what would change; write nothing."},
        "sample": {"type": "integer", "description": "Mapped records shown on a dry run (0-5)."},
    },
    "required": ["source", "map", "sink"],
    "additionalProperties": False,
}
