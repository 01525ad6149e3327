"""PostgreSQL fast path for the gate: fewer round trips and less client CPU per reservation.

The twin of :mod:`warmup.ledger.fastpath` (SQLite). Through Core statements a reservation on
PostgreSQL took 11 round trips (lock, settle = look up the day + update, suppression, three
history reads, duplicate check, insert, rollup bump, commit), and on a loopback server the round
trips are the cost. :meth:`warmup.gate.Gate.reserve` runs its transaction straight on the psycopg
connection (no SQLAlchemy statement or transaction handling on the hot path) in two pipelined
round trips (psycopg pipeline mode: statements sent together, run in order, answered together):

1. :func:`gate_read`: ``BEGIN``; the mailbox's row lock; the deferred "sent" settlements (a
   primary-key ``UPDATE`` each); the history (the rollup, the last send and the events as arrays)
   and the suppression check, as one statement;
2. :func:`gate_write`: the expiry (once a minute); the duplicate check, the insert (or the
   re-reservation of a released slot) and the rollup bump, as one statement (data-modifying
   CTEs); ``COMMIT``.

The policy decision sits between the two, in Python, while the lock is held. The lock is a
statement of its own, first: in READ COMMITTED each later statement takes a fresh snapshot when
the server starts it, after the lock was granted, so it sees what the previous holder of the lock
committed (a statement that waited for the lock itself would read an older snapshot).
``tests/test_pg_contract.py`` runs the gate through this path and
``tests/test_pg_concurrency.py`` races it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Connection

from warmup.ledger.fastpath import DuplicateSend


def cursor(conn: Connection) -> Any | None:
    """A psycopg cursor inside ``conn``'s transaction, or None when not on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


_LOCK = "SELECT id FROM mailbox WHERE id = %s FOR UPDATE"


def lock_mailbox(cur: Any, mailbox_id: int) -> None:
    """``SELECT ... FOR UPDATE`` on the mailbox's row: reservations for one mailbox queue here."""
    cur.execute(_LOCK, (mailbox_id,))


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
# Message-ID: the INSERT's SELECT is empty, so is the bump's count; the statement then returns
# that slot's key (with a NULL id) and the caller raises.
_RESERVE = """
WITH u AS (
    SELECT t.r, %(msgid)s::text || '|' || t.r AS k, t.n
    FROM unnest(string_to_array(%(rcpts)s::text, ',')) WITH ORDINALITY AS t(r, n)
), dup AS (
    SELECT s.key FROM u JOIN send s ON s.mailbox_id = %(mid)s AND s.key = u.k
    WHERE s.outcome <> 'released' ORDER BY u.n LIMIT 1
), ins AS (
    INSERT INTO send AS s (mailbox_id, recipient, message_id, at, day, outcome, settled_at,
                           source, key)
    SELECT %(mid)s, u.r, %(msgid)s, %(at)s, %(day)s, 'reserved', NULL, %(source)s, u.k
    FROM u WHERE NOT EXISTS (SELECT 1 FROM dup)
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
UNION ALL
SELECT NULL, key FROM dup
"""


def _reserve_params(mailbox_id: int, recipients: list[str], message_id: str, now: dt.datetime,
                    day: dt.date, source: str) -> tuple[list[str], dict[str, Any]]:
    # Lists travel as one comma-separated string (psycopg's list dumper costs more client CPU
    # than the rest of the statement): a normalized address has no comma (warmup.addresses).
    keys = [f"{message_id}|{r}" for r in recipients]
    return keys, {"mid": mailbox_id, "rcpts": ",".join(recipients), "msgid": message_id,
                  "at": now.astimezone(dt.UTC), "day": day, "source": source}


def _reserved(rows: list[tuple[Any, ...]], recipients: list[str], keys: list[str],
              message_id: str) -> list[int]:
    """:data:`_RESERVE`'s ids in recipient order, or :class:`DuplicateSend`."""
    got = {}
    for sid, value in rows:
        if sid is None:  # a live slot for this Message-ID: nothing was written
            rcpt = recipients[keys.index(value)] if value in keys else recipients[0]
            raise DuplicateSend(rcpt, message_id)
        got[value] = sid
    return [got[r] for r in recipients]


def insert_reserved(cur: Any, mailbox_id: int, recipients: list[str], message_id: str,
                    now: dt.datetime, day: dt.date, source: str) -> list[int]:
    """One reserved row per recipient and the rollup bump, in one round trip; their ids in
    recipient order. :class:`DuplicateSend` (nothing written) if one of them already has a live
    slot for this Message-ID."""
    keys, params = _reserve_params(mailbox_id, recipients, message_id, now, day, source)
    return _reserved(cur.execute(_RESERVE, params).fetchall(), recipients, keys, message_id)


# One statement per slot: "WHERE id = ..." is always a primary-key lookup (an UPDATE ... FROM
# unnest(ids) may be planned as a scan of every reserved/unknown slot through ix_send_outcome).
_SETTLE_SENT = ("UPDATE send SET outcome = 'sent', settled_at = %s WHERE id = %s "
                "AND outcome IN ('reserved', 'unknown')")


def settle_sent(cur: Any, items: list[tuple[int, dt.datetime]]) -> None:
    """Mark reserved (or expired) slots sent (in pipeline mode: queued, one round trip)."""
    cur.executemany(_SETTLE_SENT, [(at.astimezone(dt.UTC), sid) for sid, at in items])


# -- the gate's transaction, pipelined (Gate.reserve) ---------------------------------------------

# _GATE_ROWS's history (every rollup day: the caller drops those after its "today", which it
# reads under the lock, once this has answered) and which of the recipients are suppressed.
_GATE_READ = f"""
SELECT g.*, s.* FROM ({_GATE_ROWS}) g,
    (SELECT array_agg(address) AS addrs, array_agg(kind) AS skinds,
            array_agg(reason) AS sreasons
     FROM suppression WHERE address = ANY(string_to_array(%(addrs)s::text, ','))) s
"""

# PostgreSQL plans _RESERVE afresh for every execution of its prepared statement (it never
# finds the generic plan cheaper than a custom one), ~0.3 ms of server CPU while the mailbox's
# lock is held; the generic plan (per-recipient index lookups) is as good. For this transaction
# only: the connection may go back to a pool.
_GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"

_EXPIRE = ("UPDATE send SET outcome = 'unknown', settled_at = %s WHERE mailbox_id = %s "
           "AND outcome = 'reserved' AND at < %s")

_DOMAIN_SENT = ("SELECT count(*) FROM send WHERE mailbox_id IN (SELECT id FROM mailbox WHERE "
                "address LIKE %s) AND at >= %s AND at <= %s AND outcome <> 'released'")


def driver(conn: Connection) -> Any | None:
    """The psycopg connection under ``conn``, or None when not on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.connection.driver_connection


def gate_read(pg: Any, mailbox_id: int, addresses: list[str],
              settle: list[tuple[int, dt.datetime]],
              ) -> tuple[dict[str, str], list[tuple[Any, ...]], dt.datetime | None,
                         list[tuple[Any, ...]]]:
    """Open the gate's transaction on ``pg`` (a psycopg connection: idle, READ COMMITTED) and in
    one round trip lock the mailbox's row, write the deferred "sent" settlements ``settle``, read
    the history and which of ``addresses`` are suppressed.

    (suppressed, every day_stat row, last send, events) as :func:`gate_rows` and
    :func:`suppressed` give them. The transaction stays open: :func:`gate_write` commits it.
    """
    cur = pg.cursor()
    with pg.pipeline():
        cur.execute(_LOCK, (mailbox_id,))  # first: the next statements start once it is granted
        cur.execute(_GENERIC)
        if settle:
            settle_sent(pg.cursor(), settle)
        cur.execute(_GATE_READ, {"mid": mailbox_id, "today": dt.date.max,
                                 "addrs": ",".join(addresses)})
    cur.nextset()  # past the lock's (empty) result and the SET's
    cur.nextset()
    (days, sent, hard, soft, block, complaint, last, kinds, ats, untils, reasons,
     addrs, skinds, sreasons) = cur.fetchone()
    rows = list(zip(days, sent, hard, soft, block, complaint)) if days else []
    events = ([(k, _utc(a), _utc(u), why) for k, a, u, why in zip(kinds, ats, untils, reasons)]
              if kinds else [])
    bad = ({a: f"{k}: {why}" if why else k for a, k, why in zip(addrs, skinds, sreasons)}
           if addrs else {})
    return bad, rows, _utc(last), events


def domain_sent(pg: Any, domain: str, start: dt.datetime, cut: dt.datetime) -> int:
    """Sends of every mailbox of ``domain`` from ``start`` to ``cut`` (the policy's domain cap),
    as :func:`warmup.ledger.store.history` counts them."""
    return int(pg.execute(_DOMAIN_SENT, (f"%@{domain}", start.astimezone(dt.UTC),
                                         cut.astimezone(dt.UTC))).fetchone()[0])


def gate_write(pg: Any, mailbox_id: int, now: dt.datetime, *,
               expire_before: dt.datetime | None = None,
               reserve: tuple[list[str], str, dt.date, str] | None = None) -> list[int]:
    """End the gate's transaction in one round trip: relabel reservations older than
    ``expire_before`` unknown (when given), reserve ``(recipients, message_id, day, source)``
    (when given; the rollup bumped), COMMIT.

    The new slots' ids in recipient order ([] when nothing was to be reserved), or
    :class:`DuplicateSend` once the rest is committed (nothing was reserved).
    """
    if reserve is None:
        with pg.pipeline():
            if expire_before is not None:
                pg.cursor().execute(_EXPIRE, (now.astimezone(dt.UTC), mailbox_id,
                                              expire_before.astimezone(dt.UTC)))
            pg.commit()
        return []
    recipients, message_id, day, source = reserve
    keys, params = _reserve_params(mailbox_id, recipients, message_id, now, day, source)
    cur = pg.cursor()
    with pg.pipeline():
        if expire_before is not None:
            cur.execute(_EXPIRE, (now.astimezone(dt.UTC), mailbox_id,
                                  expire_before.astimezone(dt.UTC)))
        cur.execute(_RESERVE, params)
        pg.commit()
    if expire_before is not None:
        cur.nextset()  # past the expiry's result
    return _reserved(cur.fetchall(), recipients, keys, message_id)
