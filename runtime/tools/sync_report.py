"""The constant-size summary `sync_records` returns to the model (under 4 KB whatever N).

Counts, reasons by category (at most MAX_REASONS each, the rest as 'other'), a few
sample errors (at most MAX_ERRORS, each cut to ERROR_CHARS) and, on a dry run, a few
mapped records. Record data beyond those samples never enters the model's context.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 4000
MAX_REASONS = 8
MAX_ERRORS = 5
ERROR_CHARS = 240
SAMPLE_CHARS = 500


@dataclass
class SyncProgress:
    """What a progress bar shows: records read (of `total` when known) and written."""

    fetched: int
    total: int | None
    written: int
    failed: int
    done: bool = False


@dataclass
class Report:
    """Counters of one sync."""

    dry_run: bool = False
    pages: int = 0
    fetched: int = 0
    total: int | None = None
    to_sink: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    then: dict[str, Counter[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    sample: list[Any] = field(default_factory=list)
    existing: int | None = None
    cursor_staged: str | None = None
    cursor_note: str | None = None
    stopped: str | None = None
    calls: int = 0

    def error(self, text: str) -> None:
        """Keep a sample error (the first few distinct ones)."""
        text = text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."
        if len(self.errors) < MAX_ERRORS and text not in self.errors:
            self.errors.append(text)

    @property
    def failed(self) -> int:
        """Records whose write failed."""
        return self.outcomes["failed"]

    def progress(self, done: bool = False) -> SyncProgress:
        """The numbers for a progress bar."""
        written = sum(self.outcomes[k] for k in ("created", "updated", "written", "unchanged"))
        return SyncProgress(self.fetched, self.total, written, self.failed, done)

    def payload(self, duration_s: float) -> dict[str, Any]:
        """The summary as a dict."""
        o = self.outcomes
        out: dict[str, Any] = {"dry_run": True} if self.dry_run else {}
        out |= {
            "fetched": self.fetched,
            "pages": self.pages,
            "created": o["created"],
            "updated": o["updated"],
            "unchanged": o["unchanged"],
            "skipped": _top(self.skipped),
            "failed": o["failed"],
            "dead_lettered": sum(self.dead.values()),
            "dead_letter_reasons": _top(self.dead),
        }
        if o["written"] and self.dry_run:
            out["would_write"] = o["written"]  # created or updated: only a lookup can tell
        elif o["written"]:
            out["written_unclassified"] = o["written"]
        if self.total is not None:
            out["source_total"] = self.total
        if self.existing is not None:
            out["destination_existing"] = self.existing
        if self.notes:
            out["notes"] = _top(self.notes)
        if self.then:
            out["then"] = {k: dict(v) for k, v in list(self.then.items())[:6]}
        out |= {"cursor_staged": self.cursor_staged, "duration_s": round(duration_s, 3)}
        out["sink_calls"] = self.calls
        if self.cursor_note:
            out["cursor_note"] = self.cursor_note
        if self.stopped:
            out["stopped"] = self.stopped
        if self.errors:
            out["sample_errors"] = self.errors
        if self.sample:
            out["sample"] = self.sample
        if self.dry_run:
            out["note"] = "Dry run: nothing was written; created/updated are what would happen."
        return out

    def to_json(self, duration_s: float) -> str:
        """Compact JSON under MAX_BYTES: samples are dropped first, then errors cut."""
        payload = self.payload(duration_s)
        text = _dumps(payload)
        for key in ("sample", "sample_errors", "then", "notes"):
            if len(text.encode()) <= MAX_BYTES:
                break
            payload.pop(key, None)
            text = _dumps(payload)
        return text


def sample_of(record: Any) -> Any:
    """A mapped record for the dry-run sample, cut when large."""
    text = _dumps(record)
    return record if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 3] + "..."


def _top(counter: Counter[str]) -> dict[str, int]:
    items = counter.most_common()
    out = {k[:120]: v for k, v in items[:MAX_REASONS]}
    rest = sum(v for _, v in items[MAX_REASONS:])
    if rest:
        out["other"] = rest
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
