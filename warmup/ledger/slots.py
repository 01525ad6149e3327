"""Quota slots: reserve before the SMTP conversation, settle after it (Core statements only).

The gate calls these inside one :meth:`Ledger.write` transaction, which already holds the write
lock on SQLite (``BEGIN IMMEDIATE``). On PostgreSQL :func:`lock_mailbox` takes a row lock on the
mailbox (``SELECT ... FOR UPDATE``): reservations for one mailbox serialise across connections
and hosts while other mailboxes proceed in parallel. A row lock rather than an advisory lock
because it is released with the transaction whatever happens to the client, and it names the
exact thing being protected.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger import fastpath, pgpath
from warmup.ledger.store import SEND, MailboxRow, bump_day, local_day, utc


def lock_mailbox(conn: Connection, box: MailboxRow) -> None:
    """PostgreSQL: lock the mailbox's row until the transaction ends (SQLite: already locked)."""
    pg = pgpath.cursor(conn)
    if pg is not None:
        pgpath.lock_mailbox(pg, box.id)


_EXPIRE = SEND.update().where(
    SEND.c.mailbox_id == sa.bindparam("mid"), SEND.c.outcome == "reserved",
    SEND.c.at < sa.bindparam("before"),
).values(outcome="unknown", settled_at=sa.bindparam("now"))


def expire(conn: Connection, box: MailboxRow, before: dt.datetime, now: dt.datetime) -> int:
    """Reservations older than ``before`` whose process never settled them become ``unknown``.

    They stay counted: the message may have left before the process died.
    """
    return conn.execute(_EXPIRE, {"mid": box.id, "before": utc(before),
                                  "now": utc(now)}).rowcount


_INSERT_RESERVED = SEND.insert().values(
    mailbox_id=sa.bindparam("mailbox_id"), recipient=sa.bindparam("recipient"),
    message_id=sa.bindparam("message_id"), at=sa.bindparam("at"), day=sa.bindparam("day"),
    outcome="reserved", source=sa.bindparam("source"), key=sa.bindparam("key"),
).returning(SEND.c.id)


def insert_reserved(conn: Connection, box: MailboxRow, recipients: list[str], message_id: str,
                    now: dt.datetime, source: str = "gate") -> list[int]:
    """One reserved row per recipient, counted at once in the day's rollup."""
    day = local_day(now, box.timezone)
    cur = fastpath.cursor(conn)
    if cur is not None:
        return fastpath.insert_reserved(cur, box.id, recipients, message_id, now, day, source)
    pg = pgpath.cursor(conn)
    if pg is not None:
        return pgpath.insert_reserved(pg, box.id, recipients, message_id, now, day, source)
    keys = {f"{message_id}|{r}": r for r in recipients}
    seen = {r.key: r for r in conn.execute(sa.select(SEND.c.key, SEND.c.id, SEND.c.outcome).where(
        SEND.c.mailbox_id == box.id, SEND.c.key.in_(list(keys))))}
    for key, row in seen.items():
        if row.outcome != "released":
            raise fastpath.DuplicateSend(keys[key], message_id)
    ids = []
    for rcpt in recipients:
        if (old := seen.get(f"{message_id}|{rcpt}")) is not None:  # a released slot, retried
            conn.execute(SEND.update().where(SEND.c.id == old.id).values(
                outcome="reserved", at=utc(now), day=day, settled_at=None, source=source))
            ids.append(old.id)
            continue
        ids.append(conn.execute(_INSERT_RESERVED, {
            "mailbox_id": box.id, "recipient": rcpt, "message_id": message_id, "at": utc(now),
            "day": day, "source": source, "key": f"{message_id}|{rcpt}"}).scalar_one())
    bump_day(conn, box.id, day, "sent", len(ids))
    return ids


_SETTLE = SEND.update().where(
    SEND.c.id == sa.bindparam("sid"), SEND.c.outcome.in_(("reserved", "unknown")),
).values(outcome=sa.bindparam("outcome"), settled_at=sa.bindparam("settled"))


_DAY_OF = sa.select(SEND.c.day).where(SEND.c.id == sa.bindparam("sid"))


def settle(conn: Connection, box: MailboxRow, send_id: int, outcome: str,
           now: dt.datetime) -> bool:
    """Set a slot's outcome; a ``released`` slot stops counting. False if already settled."""
    day = conn.execute(_DAY_OF, {"sid": send_id}).scalar_one()
    done = conn.execute(_SETTLE, {"sid": send_id, "outcome": outcome,
                                  "settled": utc(now)}).rowcount
    if done and outcome == "released":
        bump_day(conn, box.id, day, "sent", -1)
    return bool(done)


def pending(conn: Connection, box: MailboxRow) -> int:
    """Slots reserved and not yet settled."""
    return conn.execute(sa.select(sa.func.count()).where(
        SEND.c.mailbox_id == box.id, SEND.c.outcome == "reserved")).scalar_one()


def settle_sent(conn: Connection, box: MailboxRow, items: list[tuple[int, dt.datetime]]) -> None:
    """Mark reserved slots sent (no rollup change: they were counted when reserved)."""
    cur = fastpath.cursor(conn)
    if cur is not None:
        fastpath.settle_sent(cur, items)
        return
    pg = pgpath.cursor(conn)
    if pg is not None:
        pgpath.settle_sent(pg, items)
        return
    for sid, at in items:
        settle(conn, box, sid, "sent", at)
