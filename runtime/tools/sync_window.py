"""The cursor's overlap window: re-read the last seconds before the cursor, skip what was
already synced in exactly that version.

A source stamps changes to the second (WooCommerce does), so a record changed in the
cursor's own second after a run read the source would be lost by a strict "after the
cursor" filter, and a record whose change commits late is lost the same way. So the
read starts `overlap` seconds before the cursor, and every record synced in the last
`overlap` seconds before the new cursor is remembered with its fingerprint (a hash of
the source record) when the cursor is committed. A record of the window whose
fingerprint is remembered is skipped; any other is synced (idempotent sinks and the
event ledger absorb a re-read).

    window = Window(cursor="2026-05-01T10:00:00", overlap=60, marks=store.cursor_marks(...))
    window.outside(record_id, when)                  # the `after: cursor` filter
    known = window.note(record_id, when, source)     # each record past the filters;
                                                     # known: this version synced, skip
    window.advance(when_synced)                      # each record written
    marks = window.marks_at(new_cursor)              # committed with the cursor
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any


def fingerprint(source: Any) -> str:
    """A short stable hash of a source record's content."""
    text = json.dumps(source, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def moved_back(cursor: str | None, seconds: int) -> str | None:
    """The cursor `seconds` earlier, in its own format (a non-time cursor as it is)."""
    if cursor is None or seconds <= 0:
        return cursor
    try:
        when = datetime.fromisoformat(cursor.strip().replace("Z", "+00:00"))
    except ValueError:
        return cursor
    earlier = when - timedelta(seconds=seconds)
    if when.tzinfo is None:
        return earlier.strftime("%Y-%m-%dT%H:%M:%S")
    text = earlier.isoformat()
    return text.replace("+00:00", "Z") if cursor.endswith("Z") else text


class Window:
    """Decides records near the committed cursor and collects the marks of the next one.

    Only records that can still fall in the next cursor's window are remembered: the
    next cursor is at least the newest synced time fed to `advance` so far.
    """

    def __init__(self, cursor: datetime | None, overlap: int, marks: dict[str, str]) -> None:
        self._cursor, self._marks = cursor, marks
        self._overlap = timedelta(seconds=overlap)
        self._seen: dict[str, tuple[datetime, str]] = {}
        self._floor: datetime | None = None  # the next cursor is at least this

    def outside(self, record_id: str | None, when: datetime) -> bool:
        """Whether the `after: cursor` filter drops a record: older than the overlap, or
        at/before the cursor with no id to remember it by (strictly after, then)."""
        cursor = self._cursor
        if cursor is None or when > cursor:
            return False
        return when < cursor - self._overlap or record_id is None

    def note(self, record_id: str | None, when: datetime | None, source: Any) -> bool:
        """Remember a record that went past the filters, if it can be in the next window;
        whether this very version was synced by the committed run (skip it, then)."""
        cursor, floor = self._cursor, self._floor
        if record_id is None or when is None:
            return False
        near = False
        if cursor is not None and record_id in self._marks:
            near = cursor - self._overlap <= when <= cursor
        keep = floor is None or when >= floor - self._overlap
        if not (near or keep):
            return False
        mark = fingerprint(source)  # hashed once, for both uses
        if keep:
            self._seen[record_id] = (when, mark)
        return near and self._marks[record_id] == mark

    def advance(self, synced: datetime) -> None:
        """A record was synced at `synced` (clamped as the cursor will be)."""
        if self._floor is None or synced > self._floor:
            self._floor = synced
            if len(self._seen) > 1024:  # forget what can no longer be in the last window
                start = synced - self._overlap
                self._seen = {r: v for r, v in self._seen.items() if v[0] >= start}

    def marks_at(self, cursor: datetime) -> dict[str, str]:
        """The marks to commit with `cursor`: records seen in its last `overlap` seconds."""
        start = cursor - self._overlap
        return {rid: mark for rid, (when, mark) in self._seen.items() if start <= when <= cursor}
