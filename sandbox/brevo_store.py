"""The Brevo sandbox's state in SQLite: schema migrations, a fresh account, locked transactions.

One connection shared across threads (uvicorn serves in its own thread while tests read
from the main thread), every use under one lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

FIRST_FOLDER = "Your first folder"
# A fresh Brevo account's contact attributes (category normal), kept to the common ones.
DEFAULT_ATTRIBUTES = (
    ("LASTNAME", "text"),
    ("FIRSTNAME", "text"),
    ("SMS", "text"),
    ("EXT_ID", "text"),
    ("LANDLINE_NUMBER", "text"),
    ("WHATSAPP", "text"),
    ("JOB_TITLE", "text"),
)


def m001_initial(conn: sqlite3.Connection) -> None:
    """Tables for folders, lists, attributes, contacts, events, campaigns and processes."""
    script = """
        CREATE TABLE folders (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE lists (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL,
            folder_id INTEGER NOT NULL REFERENCES folders(id), created_at TEXT NOT NULL);
        CREATE TABLE attributes (
            name TEXT PRIMARY KEY, category TEXT NOT NULL, type TEXT NOT NULL,
            position INTEGER NOT NULL);
        CREATE TABLE contacts (
            id INTEGER PRIMARY KEY, email TEXT UNIQUE, ext_id TEXT UNIQUE, sms TEXT UNIQUE,
            attributes TEXT NOT NULL DEFAULT '{}',
            email_blacklisted INTEGER NOT NULL DEFAULT 0,
            sms_blacklisted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL, modified_at TEXT NOT NULL);
        CREATE TABLE memberships (
            list_id INTEGER NOT NULL REFERENCES lists(id),
            contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
            PRIMARY KEY (list_id, contact_id));
        CREATE TABLE events (
            id INTEGER PRIMARY KEY, event_name TEXT NOT NULL, contact_id INTEGER,
            identifiers TEXT NOT NULL, event_date TEXT,
            contact_properties TEXT, event_properties TEXT, received_at TEXT NOT NULL);
        CREATE TABLE campaigns (
            id INTEGER PRIMARY KEY, body TEXT NOT NULL,
            created_at TEXT NOT NULL, modified_at TEXT NOT NULL);
        CREATE TABLE test_emails (
            id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL, email_to TEXT NOT NULL,
            sent_at TEXT NOT NULL);
        CREATE TABLE processes (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
            request TEXT NOT NULL, report TEXT, created_at TEXT NOT NULL,
            completed_at TEXT);
        """
    # executescript() would commit the migration's transaction half-way: one at a time.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def m002_fresh_account(conn: sqlite3.Connection) -> None:
    """What a new Brevo account holds: one folder and the default attributes."""
    conn.execute("INSERT INTO folders (id, name) VALUES (1, ?)", (FIRST_FOLDER,))
    conn.executemany(
        "INSERT INTO attributes (name, category, type, position) VALUES (?, 'normal', ?, ?)",
        [(name, kind, i) for i, (name, kind) in enumerate(DEFAULT_ATTRIBUTES)],
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (m001_initial, m002_fresh_account)


def iso(moment: datetime) -> str:
    """Brevo's timestamp format: ISO-8601 with milliseconds and an offset."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    # Always UTC so stored stamps compare as strings (modifiedSince filters).
    return aware.astimezone(UTC).isoformat(timespec="milliseconds")


def loads(text: str | None) -> Any:
    """JSON column to Python (None stays None)."""
    return None if text is None else json.loads(text)


def dumps(value: Any) -> str:
    """Python to a JSON column, keys sorted so snapshots compare."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Tx:
    """One locked transaction: the connection and the request's time."""

    conn: sqlite3.Connection
    now: datetime

    @property
    def stamp(self) -> str:
        """The request time as a Brevo timestamp."""
        return iso(self.now)

    def one(self, sql: str, *params: Any) -> sqlite3.Row | None:
        """First row or None."""
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        """All rows."""
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, *params: Any) -> int:
        """Execute a statement; returns the last inserted row id."""
        return self.conn.execute(sql, params).lastrowid or 0

    def scalar(self, sql: str, *params: Any) -> Any:
        """The first column of the first row."""
        row = self.one(sql, *params)
        return None if row is None else row[0]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: undone alone if the body raises (one import row)."""
        self.conn.execute("SAVEPOINT item")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO item")
            self.conn.execute("RELEASE item")
            raise
        self.conn.execute("RELEASE item")


class BrevoStore:
    """A SQLite database (a file or ':memory:') guarded by one lock."""

    def __init__(self, path: str = ":memory:") -> None:
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            done = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            for number, migration in enumerate(MIGRATIONS[done:], start=done + 1):
                self._conn.execute("BEGIN IMMEDIATE")
                migration(self._conn)
                self._conn.execute(f"PRAGMA user_version = {number}")
                self._conn.execute("COMMIT")

    @contextmanager
    def transaction(self, now: datetime) -> Iterator[Tx]:
        """A locked transaction, rolled back if the body raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn, now)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock (for in-memory bookkeeping next to the database)."""
        with self._lock:
            yield

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
