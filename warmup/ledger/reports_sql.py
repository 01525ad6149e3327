"""Aggregate queries for reports and notebooks (:mod:`warmup.reports` turns them into frames).

Every question here is answered by ``GROUP BY`` in SQL or by the ``day_stat`` rollup, so a report
over a year of a thousand mailboxes reads O(mailboxes x days) rows, never every send. Rows come
back as plain tuples (``exec_driver_sql`` where the row count is large: SQLAlchemy's per-row type
processing would cost more than the query), and days as ``datetime.date``.

``raw_day_counts`` is the deliberately slow twin of ``day_stats``: the same numbers straight from
the raw ``send`` and ``bounce`` rows, for checking that the rollup agrees with them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.store import (
    BOUNCE,
    BOUNCE_KINDS,
    COUNTED,
    EVENT,
    SEND,
    SUPPRESSION,
)
from warmup.policy.engine import MailboxEvent

ROLLUP_COLUMNS = ("sent", *BOUNCE_KINDS)


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _ids_clause(column: sa.ColumnElement[Any], ids: Sequence[int] | None) -> Any:
    return sa.true() if ids is None else column.in_(list(ids))


def day_stats(conn: Connection, mailbox_ids: Sequence[int] | None = None,
              until: dt.date | None = None) -> list[tuple[int, dt.date, int, int, int, int, int]]:
    """``(mailbox_id, day, sent, hard, soft, block, complaint)`` from the rollup, in order."""
    where, params = [], {}
    if mailbox_ids is not None:
        if not mailbox_ids:
            return []
        where.append(f"mailbox_id IN ({','.join(str(int(i)) for i in mailbox_ids)})")
    if until is not None:
        where.append("day <= :until")
        params["until"] = until if conn.dialect.name == "postgresql" else until.isoformat()
    sql = ("SELECT mailbox_id, day, sent, hard, soft, block, complaint FROM day_stat"
           + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY mailbox_id, day")
    if conn.dialect.name == "postgresql":  # exec_driver_sql takes the driver's paramstyle
        sql = sql.replace(":until", "%(until)s")
    rows = conn.exec_driver_sql(sql, params).fetchall() if params else \
        conn.exec_driver_sql(sql).fetchall()
    parse: dict[Any, dt.date] = {}  # a year of days repeats across mailboxes: parse each once
    out = []
    for m, d, *n in rows:
        day = parse.get(d)
        if day is None:
            day = parse[d] = _day(d)
        out.append((m, day, *n))
    return out


def raw_day_counts(conn: Connection, mailbox_ids: Sequence[int] | None = None,
                   ) -> list[tuple[int, dt.date, int, int, int, int, int]]:
    """The rollup's numbers recomputed by ``GROUP BY mailbox, day`` over the raw rows."""
    counts: dict[tuple[int, dt.date], dict[str, int]] = {}
    sends = sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count()).where(
        COUNTED, _ids_clause(SEND.c.mailbox_id, mailbox_ids)).group_by(
        SEND.c.mailbox_id, SEND.c.day)
    for m, d, n in conn.execute(sends):
        counts.setdefault((m, _day(d)), {})["sent"] = n
    bounces = sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, sa.func.count()).where(
        _ids_clause(BOUNCE.c.mailbox_id, mailbox_ids)).group_by(
        BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
    for m, d, kind, n in conn.execute(bounces):
        counts.setdefault((m, _day(d)), {})[kind] = n
    rows = [(m, d, *(v.get(c, 0) for c in ROLLUP_COLUMNS))
            for (m, d), v in sorted(counts.items())]
    # One count per ROLLUP_COLUMNS entry: a length the type checker cannot follow.
    return cast("list[tuple[int, dt.date, int, int, int, int, int]]", rows)


def events(conn: Connection, mailbox_ids: Sequence[int] | None = None,
           ) -> dict[int, tuple[MailboxEvent, ...]]:
    """Pauses, resumes and back-offs per mailbox, in time order."""
    out: dict[int, list[MailboxEvent]] = {}
    stmt = sa.select(EVENT).where(_ids_clause(EVENT.c.mailbox_id, mailbox_ids)).order_by(
        EVENT.c.mailbox_id, EVENT.c.at)
    for r in conn.execute(stmt):
        out.setdefault(r.mailbox_id, []).append(
            MailboxEvent(r.kind, r.at, r.until, r.reason or ""))
    return {k: tuple(v) for k, v in out.items()}


def _domain(conn: Connection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The part of an address after '@', in the backend's SQL."""
    find = "strpos" if conn.dialect.name == "postgresql" else "instr"
    return sa.func.lower(sa.func.substr(column, getattr(sa.func, find)(column, "@") + 1))


def bounces_by_domain(conn: Connection, mailbox_ids: Sequence[int] | None = None,
                      since: dt.date | None = None) -> list[tuple[int, str, str, int]]:
    """``(mailbox_id, recipient domain, kind, bounces)`` since a local day."""
    domain = _domain(conn, BOUNCE.c.recipient).label("domain")
    stmt = sa.select(BOUNCE.c.mailbox_id, domain, BOUNCE.c.kind, sa.func.count()).where(
        _ids_clause(BOUNCE.c.mailbox_id, mailbox_ids),
        sa.true() if since is None else BOUNCE.c.day >= since,
    ).group_by(BOUNCE.c.mailbox_id, domain, BOUNCE.c.kind)
    return [tuple(r) for r in conn.execute(stmt)]


def sends_by_domain(conn: Connection, mailbox_ids: Sequence[int] | None = None,
                    since: dt.date | None = None) -> list[tuple[int, str, int]]:
    """``(mailbox_id, recipient domain, sends)`` since a local day (the denominators)."""
    domain = _domain(conn, SEND.c.recipient).label("domain")
    stmt = sa.select(SEND.c.mailbox_id, domain, sa.func.count()).where(
        COUNTED, _ids_clause(SEND.c.mailbox_id, mailbox_ids),
        sa.true() if since is None else SEND.c.day >= since,
    ).group_by(SEND.c.mailbox_id, domain)
    return [tuple(r) for r in conn.execute(stmt)]


def bounces_by_kind(conn: Connection, mailbox_ids: Sequence[int] | None = None,
                    since: dt.date | None = None) -> list[tuple[int, dt.date, str, str, int]]:
    """``(mailbox_id, local day, kind, status, bounces)``; status '' when unknown."""
    status = sa.func.coalesce(BOUNCE.c.status, "").label("status")
    stmt = sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, status,
                     sa.func.count()).where(
        _ids_clause(BOUNCE.c.mailbox_id, mailbox_ids),
        sa.true() if since is None else BOUNCE.c.day >= since,
    ).group_by(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, status).order_by(
        BOUNCE.c.mailbox_id, BOUNCE.c.day)
    return [(m, _day(d), k, s, n) for m, d, k, s, n in conn.execute(stmt)]


def suppressions_by_day(conn: Connection) -> list[tuple[dt.date, str, int]]:
    """``(UTC day, kind, new suppressions)``: how the do-not-mail list grew."""
    day: sa.ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        day = sa.cast(sa.func.timezone("UTC", SUPPRESSION.c.created_at), sa.Date)
    else:  # stored as 'YYYY-MM-DD HH:MM:SS...' UTC text
        day = sa.func.substr(SUPPRESSION.c.created_at, 1, 10)
    day = day.label("day")
    stmt = sa.select(day, SUPPRESSION.c.kind, sa.func.count()).group_by(
        day, SUPPRESSION.c.kind).order_by(day)
    return [(_day(d), k, n) for d, k, n in conn.execute(stmt)]


def rollup_mismatches(conn: Connection, mailbox_ids: Iterable[int] | None = None,
                      ) -> list[tuple[Any, ...]]:
    """Rows where ``day_stat`` and the raw rows disagree: ``(key, rollup, raw)``; [] when sound."""
    ids = None if mailbox_ids is None else list(mailbox_ids)
    rolled = {(r[0], r[1]): r[2:] for r in day_stats(conn, ids)}
    raw = {(r[0], r[1]): r[2:] for r in raw_day_counts(conn, ids)}
    zero = (0,) * len(ROLLUP_COLUMNS)
    return [(k, rolled.get(k), raw.get(k)) for k in sorted(set(rolled) | set(raw))
            if rolled.get(k, zero) != raw.get(k, zero)]
