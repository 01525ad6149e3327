"""PostgreSQL fast path for the gate: fewer round trips per reservation.

The twin of :mod:`warmup.ledger.fastpath` (SQLite). Through Core statements a reservation on
PostgreSQL took 11 round trips (lock, settle = look up the day + update, suppression, three
history reads, duplicate check, insert, rollup bump, commit), and on a loopback server the round
trips are the cost. Here, inside the same transaction, on the psycopg connection under it:

- the gate's history is one statement (the rollup, the last send and the events as arrays);
- the duplicate check, the insert (or the re-reservation of a released slot) and the rollup bump
  are one statement (data-modifying CTEs);
- deferred "sent" settlements are one ``executemany``;
- the row lock and the suppression check go straight to psycopg (no statement building).

These run after :func:`warmup.ledger.slots.lock_mailbox`; in READ COMMITTED each statement takes
a fresh snapshot, so each sees what the previous holder of the lock committed (a statement that
waited for the lock itself would not). ``tests/test_pg_contract.py`` runs the gate through this
path and ``tests/test_pg_concurrency.py`` races it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection


def cursor(conn: Connection) -> Any | None:
    """A psycopg cursor inside ``conn``'s transaction, or None when not on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def lock_mailbox(cur: Any, mailbox_id: int) -> None:
    """``SELECT ... FOR UPDATE`` on the mailbox's row: reservations for one mailbox queue here."""
    cur.execute("SELECT id FROM mailbox WHERE id = %s FOR UPDATE", (mailbox_id,))


def suppressed(cur: Any, addresses: list[str]) -> dict[str, str]:
    rows = cur.execute("SELECT address, kind, reason FROM suppression WHERE address = ANY(%s)",
                       (addresses,)).fetchall()
    return {a: f"{k}: {r}" if r else k for a, k, r in rows}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # psycopg returns timestamptz in the session's TimeZone: the ledger speaks UTC.
    return None if value is None else value.astimezone(dt.UTC)


_GATE_ROWS = """
SELECT d.days, d.sent, d.hard, d.soft, d.block, d.complaint,
       (SELECT max(at) FROM send WHERE mailbox_id = %(mid)s AND outcome <> 'released'),
       e.kinds, e.ats, e.untils, e.reasons
FROM (SELECT array_agg(day ORDER BY day) AS days, array_agg(sent ORDER BY day) AS sent,
             array_agg(hard ORDER BY day) AS hard, array_agg(soft ORDER BY day) AS soft,
             array_agg(block ORDER BY day) AS block,
             array_agg(complaint ORDER BY day) AS complaint
      FROM day_stat WHERE mailbox_id = %(mid)s AND day <= %(today)s) d,
     (SELECT array_agg(kind ORDER BY at, id) AS kinds, array_agg(at ORDER BY at, id) AS ats,
             array_agg(until ORDER BY at, id) AS untils,
             array_agg(reason ORDER BY at, id) AS reasons
      FROM event WHERE mailbox_id = %(mid)s) e
"""


def gate_rows(cur: Any, mailbox_id: int, today: dt.date,
              ) -> tuple[list[tuple[Any, ...]], dt.datetime | None, list[tuple[Any, ...]]]:
    """For the gate, in one round trip: (day_stat rows up to and including today, last send,
    events), as :func:`warmup.ledger.fastpath.gate_rows` returns them."""
    days, sent, hard, soft, block, complaint, last, kinds, ats, untils, reasons = cur.execute(
        _GATE_ROWS, {"mid": mailbox_id, "today": today}).fetchone()
    rows = list(zip(days, sent, hard, soft, block, complaint)) if days else []
    events = ([(k, _utc(a), _utc(u), r) for k, a, u, r in zip(kinds, ats, untils, reasons)]
              if kinds else [])
    return rows, _utc(last), events


# Nothing is written when any recipient already has a live (not released) slot for this
# Message-ID: the INSERT's SELECT is empty, so is the bump's count, and the caller raises.
_RESERVE = """
WITH dup AS (
    SELECT 1 FROM send WHERE mailbox_id = %(mid)s AND key = ANY(%(keys)s)
    AND outcome <> 'released' LIMIT 1
), ins AS (
    INSERT INTO send AS s (mailbox_id, recipient, message_id, at, day, outcome, settled_at,
                           source, key)
    SELECT %(mid)s, u.r, %(msgid)s, %(at)s, %(day)s, 'reserved', NULL, %(source)s, u.k
    FROM unnest(%(rcpts)s::text[], %(keys)s::text[]) WITH ORDINALITY AS u(r, k, n)
    WHERE NOT EXISTS (SELECT 1 FROM dup)
    ORDER BY u.n
    ON CONFLICT (mailbox_id, key) DO UPDATE
        SET outcome = 'reserved', at = EXCLUDED.at, day = EXCLUDED.day, settled_at = NULL,
            source = EXCLUDED.source
        WHERE s.outcome = 'released'
    RETURNING s.id, s.recipient
), bump AS (
    INSERT INTO day_stat AS d (mailbox_id, day, sent, hard, soft, block, complaint)
    SELECT %(mid)s, %(day)s, count(*), 0, 0, 0, 0 FROM ins HAVING count(*) > 0
    ON CONFLICT (mailbox_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent
)
SELECT id, recipient FROM ins
"""


def insert_reserved(cur: Any, mailbox_id: int, recipients: list[str], message_id: str,
                    now: dt.datetime, day: dt.date, source: str) -> list[int] | None:
    """One reserved row per recipient and the rollup bump, in one round trip; their ids in
    recipient order, or None (nothing written) if one of them was sent this Message-ID before."""
    keys = [f"{message_id}|{r}" for r in recipients]
    got = dict((r, i) for i, r in cur.execute(_RESERVE, {
        "mid": mailbox_id, "keys": keys, "rcpts": recipients, "msgid": message_id,
        "at": now.astimezone(dt.UTC), "day": day, "source": source}).fetchall())
    if len(got) != len(recipients):
        return None
    return [got[r] for r in recipients]


def live_duplicate(cur: Any, mailbox_id: int, recipients: list[str], message_id: str) -> str:
    """The first recipient that already has a live slot for ``message_id`` (the refusal path)."""
    keys = {f"{message_id}|{r}": r for r in recipients}
    row = cur.execute("SELECT key FROM send WHERE mailbox_id = %s AND key = ANY(%s) "
                      "AND outcome <> 'released' ORDER BY id LIMIT 1",
                      (mailbox_id, list(keys))).fetchone()
    return keys[row[0]] if row else recipients[0]


def settle_sent(cur: Any, items: list[tuple[int, dt.datetime]]) -> None:
    cur.executemany("UPDATE send SET outcome = 'sent', settled_at = %s WHERE id = %s "
                    "AND outcome IN ('reserved', 'unknown')",
                    [(at.astimezone(dt.UTC), sid) for sid, at in items])
