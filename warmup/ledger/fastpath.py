"""SQLite fast path for the statements the gate runs for every message.

Plain ``sqlite3`` on the DBAPI connection that already holds the transaction, writing the same
formats SQLAlchemy does (naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, ISO dates), so rows are
indistinguishable from those written through Core. Measured on a 30-day ledger: history 480 us
through Core statements, ~60 us here. PostgreSQL keeps the Core statements (its round trip
dominates). ``tests/test_fastpath.py`` checks both paths give identical answers.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from sqlalchemy.engine import Connection


def cursor(conn: Connection) -> sqlite3.Cursor | None:
    """A raw cursor inside ``conn``'s transaction, or None when not on SQLite."""
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw.cursor()


def ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def parse_ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def gate_rows(cur: sqlite3.Cursor, mailbox_id: int, today: dt.date,
              ) -> tuple[list[tuple[Any, ...]], dt.datetime | None, list[tuple[Any, ...]]]:
    """For the gate: (day_stat rows up to and including today, last send, events).

    Today's counts come from the rollup, bumped when a slot is reserved: O(days) however many
    messages today has seen.
    """
    days = [(dt.date.fromisoformat(r[0]), *r[1:]) for r in cur.execute(
        "SELECT day, sent, hard, soft, block, complaint FROM day_stat "
        "WHERE mailbox_id = ? AND day <= ? ORDER BY day", (mailbox_id, today.isoformat()))]
    last = cur.execute("SELECT max(at) FROM send WHERE mailbox_id = ? AND outcome != 'released'",
                       (mailbox_id,)).fetchone()[0]
    events = [(k, parse_ts(a), parse_ts(u), r) for k, a, u, r in cur.execute(
        "SELECT kind, at, until, reason FROM event WHERE mailbox_id = ? ORDER BY at",
        (mailbox_id,))]
    return days, parse_ts(last), events


def history_rows(cur: sqlite3.Cursor, mailbox_id: int, today: dt.date, start: dt.datetime,
                 cut: dt.datetime) -> tuple[list[tuple[Any, ...]], int, dt.datetime | None,
                                            dict[str, int], list[tuple[Any, ...]]]:
    """(past day_stat rows, sends today, last send, bounces today by kind, events)."""
    t, s, c = today.isoformat(), ts(start), ts(cut)
    days = [(dt.date.fromisoformat(r[0]), *r[1:]) for r in cur.execute(
        "SELECT day, sent, hard, soft, block, complaint FROM day_stat "
        "WHERE mailbox_id = ? AND day < ? ORDER BY day", (mailbox_id, t))]
    sent, last = cur.execute(
        "SELECT count(*), max(at) FROM send WHERE mailbox_id = ? AND at >= ? AND at <= ? "
        "AND outcome != 'released'", (mailbox_id, s, c)).fetchone()
    if not sent:
        last = cur.execute("SELECT max(at) FROM send WHERE mailbox_id = ? AND at <= ? "
                           "AND outcome != 'released'", (mailbox_id, c)).fetchone()[0]
    kinds = dict(cur.execute(
        "SELECT kind, count(*) FROM bounce WHERE mailbox_id = ? AND day = ? AND at <= ? "
        "GROUP BY kind", (mailbox_id, t, c)).fetchall())
    events = [(k, parse_ts(a), parse_ts(u), r) for k, a, u, r in cur.execute(
        "SELECT kind, at, until, reason FROM event WHERE mailbox_id = ? AND at <= ? "
        "ORDER BY at", (mailbox_id, c))]
    return days, sent, parse_ts(last), kinds, events


def insert_reserved(cur: sqlite3.Cursor, mailbox_id: int, recipients: list[str],
                    message_id: str, now: dt.datetime, day: dt.date, source: str) -> list[int]:
    at, d = ts(now), day.isoformat()
    keys = [f"{message_id}|{rcpt}" for rcpt in recipients]
    marks = ",".join("?" * len(keys))
    seen = {k: (i, o, od) for k, i, o, od in cur.execute(
        f"SELECT key, id, outcome, day FROM send WHERE mailbox_id = ? AND key IN ({marks})",
        (mailbox_id, *keys))}
    for rcpt, key in zip(recipients, keys):  # all checked before anything is written
        if key in seen and seen[key][1] != "released":
            raise DuplicateSend(rcpt, message_id)
    ids = []
    for rcpt, key in zip(recipients, keys):
        if key in seen:
            sid = seen[key][0]
            cur.execute("UPDATE send SET outcome = 'reserved', at = ?, day = ?, settled_at = NULL, "
                        "source = ? WHERE id = ?", (at, d, source, sid))
            ids.append(int(sid))
            continue
        cur.execute("INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, "
                    "settled_at, source, key) VALUES (?, ?, ?, ?, ?, 'reserved', NULL, ?, ?)",
                    (mailbox_id, rcpt, message_id, at, d, source, key))
        ids.append(int(cur.lastrowid or 0))
    bump(cur, mailbox_id, day, "sent", len(ids))
    return ids


class DuplicateSend(Exception):
    """This Message-ID already went (or may have gone) to this recipient."""

    def __init__(self, recipient: str, message_id: str) -> None:
        super().__init__(f"message {message_id} was already sent to {recipient}; a retry of a "
                         f"refused message is fine, a resend needs a new Message-ID")


_COLUMNS = ("sent", "hard", "soft", "block", "complaint")


def bump(cur: sqlite3.Cursor, mailbox_id: int, day: dt.date, column: str, by: int) -> None:
    assert column in _COLUMNS
    values = [by if c == column else 0 for c in _COLUMNS]
    cur.execute(f"INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox_id, day) DO UPDATE SET "
                f"{column} = {column} + excluded.{column}", (mailbox_id, day.isoformat(), *values))


def settle_sent(cur: sqlite3.Cursor, items: list[tuple[int, dt.datetime]]) -> None:
    cur.executemany("UPDATE send SET outcome = 'sent', settled_at = ? WHERE id = ? "
                    "AND outcome IN ('reserved', 'unknown')", [(ts(at), sid) for sid, at in items])


def suppressed(cur: sqlite3.Cursor, addresses: list[str]) -> dict[str, str]:
    marks = ",".join("?" * len(addresses))
    return {a: f"{k}: {r}" if r else k for a, k, r in cur.execute(
        f"SELECT address, kind, reason FROM suppression WHERE address IN ({marks})", addresses)}
