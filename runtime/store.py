"""SQLite persistence: runs, sync cursors, the event ledger, dead letters, leases.

Numbered migrations (`m001_initial`, ...) run on open, as in Simon Willison's `llm`.
Every write is a short local transaction (WAL mode), so calling these from async code
costs well under a millisecond; time comes from the caller, never from this module.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

M001_INITIAL = """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, agent TEXT NOT NULL, trigger TEXT NOT NULL,
            prompt TEXT, status TEXT NOT NULL, stop_reason TEXT,
            started_at TEXT NOT NULL, ended_at TEXT, summary TEXT,
            transcript_path TEXT
        );
        CREATE INDEX runs_agent ON runs(agent, started_at);
        CREATE TABLE cursors (
            agent TEXT NOT NULL, stream TEXT NOT NULL, value TEXT NOT NULL,
            run_id TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (agent, stream)
        );
        CREATE TABLE ledger (
            source TEXT NOT NULL, record_id TEXT NOT NULL, event TEXT NOT NULL,
            status TEXT NOT NULL, run_id TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (source, record_id, event)
        );
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, agent TEXT NOT NULL,
            source TEXT NOT NULL, record_key TEXT, reason TEXT NOT NULL,
            record TEXT, created_at TEXT NOT NULL
        );
        CREATE TABLE leases (
            key TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL
        );
        CREATE TABLE deliveries (
            key TEXT PRIMARY KEY, received_at TEXT NOT NULL
        );
"""

M002_TRIGGER_FIRES = """
        CREATE TABLE trigger_fires (
            key TEXT PRIMARY KEY, agent TEXT NOT NULL, last_tick TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
"""

M003_CURSOR_MARKS = """
        CREATE TABLE cursor_marks (
            agent TEXT NOT NULL, stream TEXT NOT NULL, record_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL, PRIMARY KEY (agent, stream, record_id)
        );
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("m001_initial", M001_INITIAL),
    ("m002_trigger_fires", M002_TRIGGER_FIRES),
    ("m003_cursor_marks", M003_CURSOR_MARKS),
]


def agent_lease_key(agent: str) -> str:
    """The lease one run of `agent` holds, whoever starts it (run, serve, chat)."""
    return f"agent:{agent}"


@dataclass(frozen=True)
class RunRecord:
    """One row of the run history."""

    id: str
    agent: str
    trigger: str
    prompt: str | None
    status: str
    stop_reason: str | None
    started_at: str
    ended_at: str | None
    summary: dict[str, Any]
    transcript_path: str | None


class RunStore:
    """The project's SQLite file (or ':memory:')."""

    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)")
        done = {r[0] for r in self._db.execute("SELECT name FROM _migrations")}
        for name, sql in MIGRATIONS:
            if name not in done:  # one transaction per migration, recorded with it
                self._db.executescript(
                    f"BEGIN; {sql}; INSERT INTO _migrations VALUES ('{name}'); COMMIT;"
                )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------
    def start_run(
        self, run_id: str, agent: str, trigger: str, prompt: str | None, at: datetime
    ) -> None:
        """Record a run as running."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, agent, trigger, prompt, status, started_at, summary)"
                " VALUES (?, ?, ?, ?, 'running', ?, '{}')",
                (run_id, agent, trigger, prompt, at.isoformat()),
            )

    def finish_run(
        self,
        run_id: str,
        status: str,
        stop_reason: str | None,
        summary: dict[str, Any],
        at: datetime,
        transcript_path: str | None = None,
    ) -> None:
        """Record how a run ended."""
        with self._tx() as db:
            db.execute(
                "UPDATE runs SET status=?, stop_reason=?, summary=?, ended_at=?,"
                " transcript_path=COALESCE(?, transcript_path) WHERE id=?",
                (status, stop_reason, json.dumps(summary), at.isoformat(), transcript_path, run_id),
            )

    def runs(self, agent: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Recent runs, newest first."""
        sql = "SELECT * FROM runs" + (" WHERE agent=?" if agent else "")
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        args: tuple[Any, ...] = (agent, limit) if agent else (limit,)
        return [_run(r) for r in self._db.execute(sql, args)]

    def run(self, run_id: str) -> RunRecord | None:
        """One run by id (or unique id prefix)."""
        rows = self._db.execute(
            "SELECT * FROM runs WHERE id=? OR id LIKE ? LIMIT 2", (run_id, run_id + "%")
        ).fetchall()
        return _run(rows[0]) if len(rows) == 1 else None

    # -- cursors ------------------------------------------------------------
    def cursor(self, agent: str, stream: str) -> str | None:
        """The committed cursor of (agent, stream)."""
        row = self._db.execute(
            "SELECT value FROM cursors WHERE agent=? AND stream=?", (agent, stream)
        ).fetchone()
        return row[0] if row else None

    def cursors(self, agent: str) -> dict[str, str]:
        """Every committed cursor of an agent."""
        rows = self._db.execute("SELECT stream, value FROM cursors WHERE agent=?", (agent,))
        return {r[0]: r[1] for r in rows}

    def commit_cursor(
        self,
        agent: str,
        stream: str,
        expected: str | None,
        value: str,
        run_id: str,
        at: datetime,
        marks: dict[str, str] | None = None,
    ) -> bool:
        """Compare-and-set: move the cursor only if it still holds `expected`; `marks`
        (record id -> fingerprint of the version synced) replace the stream's marks in
        the same transaction."""
        with self._tx() as db:
            if self.cursor(agent, stream) != expected:
                return False
            db.execute(
                "INSERT INTO cursors VALUES (?, ?, ?, ?, ?) ON CONFLICT(agent, stream)"
                " DO UPDATE SET value=excluded.value, run_id=excluded.run_id,"
                " updated_at=excluded.updated_at",
                (agent, stream, value, run_id, at.isoformat()),
            )
            if marks is not None:
                db.execute("DELETE FROM cursor_marks WHERE agent=? AND stream=?", (agent, stream))
                db.executemany(
                    "INSERT INTO cursor_marks VALUES (?, ?, ?, ?)",
                    [(agent, stream, rid, fp) for rid, fp in sorted(marks.items())],
                )
        return True

    def cursor_marks(self, agent: str, stream: str) -> dict[str, str]:
        """Record id -> fingerprint of the records synced at (or just before) the cursor."""
        rows = self._db.execute(
            "SELECT record_id, fingerprint FROM cursor_marks WHERE agent=? AND stream=?",
            (agent, stream),
        )
        return {r[0]: r[1] for r in rows}

    # -- event ledger -------------------------------------------------------
    def ledger_status(self, source: str, record_id: str, event: str) -> str | None:
        """'pending', 'sent' or None for an event never attempted."""
        row = self._db.execute(
            "SELECT status FROM ledger WHERE source=? AND record_id=? AND event=?",
            (source, record_id, event),
        ).fetchone()
        return row[0] if row else None

    def ledger_entries(
        self, source: str, event: str, record_ids: list[str]
    ) -> dict[str, tuple[str, str | None, str]]:
        """Record id -> (status, run id, updated at) for those of `record_ids` in the ledger."""
        out: dict[str, tuple[str, str | None, str]] = {}
        for i in range(0, len(record_ids), 500):  # SQLite's bound-parameter limit
            chunk = record_ids[i : i + 500]
            rows = self._db.execute(
                "SELECT record_id, status, run_id, updated_at FROM ledger WHERE source=?"
                f" AND event=? AND record_id IN ({','.join('?' * len(chunk))})",
                (source, event, *chunk),
            )
            out |= {r[0]: (r[1], r[2], r[3]) for r in rows}
        return out

    def ledger_pending_since(self, source: str, event: str) -> str | None:
        """When the oldest 'pending' entry of `event` was marked (ISO 8601), if any."""
        row = self._db.execute(
            "SELECT MIN(updated_at) FROM ledger WHERE source=? AND event=? AND status='pending'",
            (source, event),
        ).fetchone()
        return row[0] if row else None

    def ledger_mark(
        self, source: str, record_id: str, event: str, status: str, run_id: str, at: datetime
    ) -> None:
        """Move an event to `status` ('pending' before sending, 'sent' after)."""
        self.ledger_mark_many(source, event, [record_id], status, run_id, at)

    def ledger_mark_many(
        self, source: str, event: str, record_ids: list[str], status: str, run_id: str,
        at: datetime,
    ) -> None:  # fmt: skip
        """Move several records' `event` to `status` in one transaction."""
        if not record_ids:
            return
        with self._tx() as db:
            db.executemany(
                "INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(source, record_id, event)"
                " DO UPDATE SET status=excluded.status, run_id=excluded.run_id,"
                " updated_at=excluded.updated_at",
                [(source, r, event, status, run_id, at.isoformat()) for r in record_ids],
            )

    # -- dead letters -------------------------------------------------------
    def dead_letter(
        self,
        run_id: str,
        agent: str,
        source: str,
        record_key: str | None,
        reason: str,
        record: Any,
        at: datetime,
    ) -> None:
        """Quarantine a record that could not be synced, with the reason."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO dead_letters (run_id, agent, source, record_key, reason, record,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, agent, source, record_key, reason, json.dumps(record), at.isoformat()),
            )

    def dead_letters(
        self, agent: str | None = None, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Quarantined records, oldest first."""
        sql, args = "SELECT * FROM dead_letters WHERE 1=1", list[str]()
        if agent:
            sql, args = sql + " AND agent=?", [*args, agent]
        if run_id:
            sql, args = sql + " AND run_id=?", [*args, run_id]
        return [dict(r) for r in self._db.execute(sql + " ORDER BY id", args)]

    # -- leases and deliveries ----------------------------------------------
    def acquire_lease(self, key: str, holder: str, at: datetime, ttl_s: float) -> bool:
        """Take the lease `key` unless another holder has it and it has not expired."""
        from datetime import timedelta

        expires = (at + timedelta(seconds=ttl_s)).isoformat()
        with self._tx() as db:
            row = db.execute("SELECT holder, expires_at FROM leases WHERE key=?", (key,)).fetchone()
            if row and row[0] != holder and row[1] > at.isoformat():
                return False
            db.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " holder=excluded.holder, expires_at=excluded.expires_at",
                (key, holder, expires),
            )
        return True

    def lease_holder(self, key: str, at: datetime) -> str | None:
        """Who holds `key` now (None when free or expired)."""
        row = self._db.execute("SELECT holder, expires_at FROM leases WHERE key=?", (key,))
        found = row.fetchone()
        return found[0] if found and found[1] > at.isoformat() else None

    def release_lease(self, key: str, holder: str) -> None:
        """Give the lease back (only its holder can)."""
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE key=? AND holder=?", (key, holder))

    def seen_delivery(self, key: str, at: datetime) -> bool:
        """Record a webhook delivery id; True if it was already seen."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?)", (key, at.isoformat())
            )
            return cur.rowcount == 0

    # -- cron triggers --------------------------------------------------------
    def last_fire(self, key: str) -> datetime | None:
        """The last tick handled for the cron trigger `key` (fired or skipped)."""
        row = self._db.execute("SELECT last_tick FROM trigger_fires WHERE key=?", (key,)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def record_fire(self, key: str, agent: str, tick: datetime, at: datetime) -> None:
        """Remember `tick` as the last tick handled for the cron trigger `key`."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO trigger_fires VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " last_tick=excluded.last_tick, updated_at=excluded.updated_at",
                (key, agent, tick.isoformat(), at.isoformat()),
            )


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        agent=row["agent"],
        trigger=row["trigger"],
        prompt=row["prompt"],
        status=row["status"],
        stop_reason=row["stop_reason"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        summary=json.loads(row["summary"] or "{}"),
        transcript_path=row["transcript_path"],
    )
