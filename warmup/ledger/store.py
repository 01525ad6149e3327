"""Domain questions and records over the ledger's tables (Core statements, no ORM sessions)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, fields
from functools import cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import ConfigError, DataError
from warmup.ledger import fastpath, pgpath
from warmup.ledger.db import Ledger
from warmup.policy.engine import DayCounts, History, MailboxEvent

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert


from warmup.ledger.tables import (
    BOUNCE,
    DAY_STAT,
    EVENT,
    MAILBOX,
    SEND,
    SUPPRESSION,
    SYNC_STATE,
)

BOUNCE_KINDS = ("hard", "soft", "block", "complaint")
COUNTED = sa.and_(SEND.c.outcome != "released")


@dataclass(frozen=True)
class MailboxRow:
    id: int
    address: str
    provider: str
    timezone: str
    policy: str
    cap: int | None
    started: dt.date | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str | None
    imap_host: str | None
    imap_port: int | None
    imap_security: str | None
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["started"] = self.started.isoformat() if self.started else None
        out["created_at"] = self.created_at.isoformat()
        del out["id"]
        return out


def utc(ts: dt.datetime) -> dt.datetime:
    """An aware instant in UTC, the storage form (SQLModel's UTCDateTime refuses naive ones)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return ts.astimezone(dt.UTC)


@cache
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local_day(ts: dt.datetime, tz: str) -> dt.date:
    """Local calendar day of an aware instant in zone ``tz``."""
    return ts.astimezone(_zone(tz)).date()


def _upsert(conn: Connection, table: sa.Table) -> PgInsert | SqliteInsert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@cache
def _bump_stmt(dialect: str, column: str) -> Any:
    insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    ins = insert(DAY_STAT).values(
        mailbox_id=sa.bindparam("mid"), day=sa.bindparam("day"),
        **{c: (sa.bindparam("by") if c == column else 0) for c in ("sent", *BOUNCE_KINDS)})
    return ins.on_conflict_do_update(index_elements=["mailbox_id", "day"],
                                     set_={column: DAY_STAT.c[column] + ins.excluded[column]})


def bump_day(conn: Connection, mailbox_id: int, day: dt.date, column: str, by: int = 1) -> None:
    """Add ``by`` to one count of the day's rollup row (created if missing)."""
    conn.execute(_bump_stmt(conn.dialect.name, column), {"mid": mailbox_id, "day": day, "by": by})


def send_key(recipient: str, at: dt.datetime, message_id: str | None) -> str:
    return f"{message_id}|{recipient}" if message_id else f"@{utc(at):%Y-%m-%dT%H:%M:%S.%f}|{recipient}"


# -- mailboxes ---------------------------------------------------------------------------------

def add_mailbox(ledger: Ledger, conn: Connection | None = None, **values: Any) -> MailboxRow:
    """Insert a mailbox (in ``conn``'s transaction when given, e.g. an import's)."""
    values["created_at"] = values.get("created_at") or utc(dt.datetime.now(dt.UTC))
    if conn is None:
        with ledger.write() as c:
            add_mailbox(ledger, c, **values)
        return get_mailbox(ledger, values["address"])
    if conn.execute(sa.select(MAILBOX.c.id).where(
            MAILBOX.c.address == values["address"])).first():
        raise DataError(f"mailbox {values['address']!r} exists already; change it with "
                        f"'warmup mailbox set {values['address']} ...'")
    conn.execute(MAILBOX.insert().values(**values))
    return get_mailbox(ledger, values["address"], conn)


def _row(r: Any) -> MailboxRow:
    return MailboxRow(**{f.name: getattr(r, f.name) for f in fields(MailboxRow)})


def get_mailbox(ledger: Ledger, address: str, conn: Connection | None = None) -> MailboxRow:
    """The mailbox, or :class:`ConfigError` saying how to add it."""
    stmt = sa.select(MAILBOX).where(MAILBOX.c.address == address.strip().lower())
    if conn is not None:
        r = conn.execute(stmt).first()
    else:
        with ledger.read() as c:
            r = c.execute(stmt).first()
    if r is None:
        raise ConfigError(f"mailbox {address!r} not found; add it with "
                          f"'warmup mailbox add {address} --provider exmail'")
    return _row(r)


def list_mailboxes(ledger: Ledger) -> list[MailboxRow]:
    with ledger.read() as conn:
        return [_row(r) for r in conn.execute(sa.select(MAILBOX).order_by(MAILBOX.c.address))]


def update_mailbox(ledger: Ledger, address: str, **values: Any) -> MailboxRow:
    """Change settings; a new time zone re-derives the local days of the mailbox's history."""
    with ledger.write() as conn:
        box = get_mailbox(ledger, address, conn)
        conn.execute(MAILBOX.update().where(MAILBOX.c.id == box.id).values(**values))
        if "timezone" in values and values["timezone"] != box.timezone:
            _redate(conn, box.id, values["timezone"])
    return get_mailbox(ledger, address)


def _redate(conn: Connection, mailbox_id: int, tz: str) -> None:
    for table in (SEND, BOUNCE):
        rows = conn.execute(sa.select(table.c.id, table.c.at).where(
            table.c.mailbox_id == mailbox_id)).all()
        if rows:
            conn.execute(table.update().where(table.c.id == sa.bindparam("rid")).values(
                day=sa.bindparam("newday")),
                [{"rid": r.id, "newday": local_day(r.at, tz)} for r in rows])
    rebuild_rollup(conn, [mailbox_id])


def count_history(ledger: Ledger, mailbox_id: int) -> int:
    with ledger.read() as conn:
        return sum(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.mailbox_id == mailbox_id)).scalar_one() for t in (SEND, BOUNCE))


def remove_mailbox(ledger: Ledger, address: str) -> None:
    with ledger.write() as conn:
        box = get_mailbox(ledger, address, conn)
        for table in (SEND, BOUNCE, EVENT, DAY_STAT, SYNC_STATE):
            conn.execute(table.delete().where(table.c.mailbox_id == box.id))
        conn.execute(MAILBOX.delete().where(MAILBOX.c.id == box.id))


def add_event(ledger: Ledger | None, mailbox_id: int, kind: str, at: dt.datetime,
              reason: str = "", until: dt.datetime | None = None,
              conn: Connection | None = None) -> None:
    values = dict(mailbox_id=mailbox_id, kind=kind, at=utc(at), reason=reason,
                  until=utc(until) if until else None)
    if conn is not None:
        conn.execute(EVENT.insert().values(**values))
        return
    assert ledger is not None, "add_event needs a ledger or a connection"
    with ledger.write() as c:
        c.execute(EVENT.insert().values(**values))


def add_event_once(conn: Connection, mailbox_id: int, kind: str, at: dt.datetime,
                   reason: str = "") -> bool:
    """Add an event unless the mailbox has one of this kind at this instant (idempotent imports)."""
    exists = conn.execute(sa.select(EVENT.c.id).where(
        EVENT.c.mailbox_id == mailbox_id, EVENT.c.kind == kind, EVENT.c.at == utc(at))).first()
    if exists:
        return False
    add_event(conn=conn, ledger=None, mailbox_id=mailbox_id, kind=kind, at=at, reason=reason)
    return True


# -- records -----------------------------------------------------------------------------------

def record_send(conn: Connection, box: MailboxRow, recipient: str, at: dt.datetime,
                message_id: str | None = None, source: str = "record",
                outcome: str = "sent", key: str | None = None) -> int | None:
    """Insert one send (idempotent on its key); its id, or None if it was recorded before."""
    day = local_day(at, box.timezone)
    ins = _upsert(conn, SEND).values(
        mailbox_id=box.id, recipient=recipient, message_id=message_id, at=utc(at), day=day,
        outcome=outcome, source=source, key=key or send_key(recipient, at, message_id),
        settled_at=None if outcome == "reserved" else utc(at),
    ).on_conflict_do_nothing(index_elements=["mailbox_id", "key"]).returning(SEND.c.id)
    new_id = conn.execute(ins).scalar()
    if new_id is not None and outcome != "released":
        bump_day(conn, box.id, day, "sent")
    return new_id


def record_bounce(conn: Connection, box: MailboxRow, recipient: str, kind: str,
                  at: dt.datetime, key: str, status: str | None = None,
                  reply: str | None = None, diagnostic: str | None = None,
                  message_id: str | None = None, source: str = "record",
                  send_id: int | None = None) -> int | None:
    """Insert one bounce (idempotent on ``key``), suppressing hard bounces and complaints."""
    if kind not in BOUNCE_KINDS:
        raise DataError(f"bounce kind {kind!r}: expected one of {', '.join(BOUNCE_KINDS)}")
    day = local_day(at, box.timezone)
    ins = _upsert(conn, BOUNCE).values(
        mailbox_id=box.id, send_id=send_id, recipient=recipient, kind=kind, status=status,
        reply=reply, diagnostic=diagnostic, message_id=message_id, at=utc(at), day=day,
        source=source, key=key,
    ).on_conflict_do_nothing(index_elements=["mailbox_id", "key"]).returning(BOUNCE.c.id)
    new_id = conn.execute(ins).scalar()
    if new_id is not None:
        bump_day(conn, box.id, day, kind)
        if kind in ("hard", "complaint") and recipient:
            suppress(conn, recipient, kind, f"{kind} bounce {status or ''}".strip(), box.id, at)
    return new_id


def rebuild_rollup(conn: Connection, mailbox_ids: Iterable[int]) -> None:
    """Recompute ``day_stat`` of these mailboxes from the raw rows (after bulk loads)."""
    ids = list(mailbox_ids)
    if not ids:
        return
    conn.execute(DAY_STAT.delete().where(DAY_STAT.c.mailbox_id.in_(ids)))
    sends = sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count().label("n")).where(
        SEND.c.mailbox_id.in_(ids), COUNTED).group_by(SEND.c.mailbox_id, SEND.c.day)
    rows: dict[tuple[int, dt.date], dict[str, Any]] = {}
    for r in conn.execute(sends):
        rows[(r.mailbox_id, r.day)] = {"sent": r.n}
    bounces = sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind,
                        sa.func.count().label("n")).where(BOUNCE.c.mailbox_id.in_(ids)).group_by(
        BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
    for r in conn.execute(bounces):
        rows.setdefault((r.mailbox_id, r.day), {})[r.kind] = r.n
    if rows:
        conn.execute(DAY_STAT.insert(), [
            {"mailbox_id": m, "day": d, **{c: v.get(c, 0) for c in ("sent", *BOUNCE_KINDS)}}
            for (m, d), v in rows.items()])


# -- suppression -------------------------------------------------------------------------------

def suppress(conn: Connection, address: str, kind: str, reason: str, mailbox_id: int | None,
             at: dt.datetime) -> bool:
    ins = _upsert(conn, SUPPRESSION).values(
        address=address, kind=kind, reason=reason, mailbox_id=mailbox_id, created_at=utc(at),
    ).on_conflict_do_nothing(index_elements=["address"]).returning(SUPPRESSION.c.id)
    # Not rowcount: on PostgreSQL SQLAlchemy adds RETURNING to fetch the new id, and rowcount
    # of "ON CONFLICT DO NOTHING RETURNING" is not the number of rows inserted there.
    return conn.execute(ins).scalar() is not None


_SUPPRESSED = sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind, SUPPRESSION.c.reason).where(
    SUPPRESSION.c.address.in_(sa.bindparam("addrs", expanding=True)))


def suppressed(conn: Connection, addresses: Iterable[str]) -> dict[str, str]:
    """Which of ``addresses`` are suppressed, with why."""
    addrs = list(addresses)
    if not addrs:
        return {}
    cur = fastpath.cursor(conn)
    if cur is not None:
        return fastpath.suppressed(cur, addrs)
    pg = pgpath.cursor(conn)
    if pg is not None:
        return pgpath.suppressed(pg, addrs)
    rows = conn.execute(_SUPPRESSED, {"addrs": addrs})
    return {r.address: f"{r.kind}: {r.reason}" if r.reason else r.kind for r in rows}


# -- history -----------------------------------------------------------------------------------

_B = sa.bindparam
_PAST_DAYS = (sa.select(DAY_STAT.c.day, DAY_STAT.c.sent, DAY_STAT.c.hard, DAY_STAT.c.soft,
                        DAY_STAT.c.block, DAY_STAT.c.complaint)
              .where(DAY_STAT.c.mailbox_id == _B("mid"), DAY_STAT.c.day < _B("today"))
              .order_by(DAY_STAT.c.day))
_TODAY_SENDS = sa.select(sa.func.count(), sa.func.max(SEND.c.at)).where(
    SEND.c.mailbox_id == _B("mid"), SEND.c.at >= _B("start"), SEND.c.at <= _B("cut"), COUNTED)
_LAST_SEND = sa.select(sa.func.max(SEND.c.at)).where(
    SEND.c.mailbox_id == _B("mid"), SEND.c.at <= _B("cut"), COUNTED)
_TODAY_BOUNCES = (sa.select(BOUNCE.c.kind, sa.func.count())
                  .where(BOUNCE.c.mailbox_id == _B("mid"), BOUNCE.c.day == _B("today"),
                         BOUNCE.c.at <= _B("cut")).group_by(BOUNCE.c.kind))
_EVENTS = (sa.select(EVENT.c.kind, EVENT.c.at, EVENT.c.until, EVENT.c.reason)
           .where(EVENT.c.mailbox_id == _B("mid"), EVENT.c.at <= _B("cut")).order_by(EVENT.c.at))
_FAR = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
_DAYS_TO_TODAY = (sa.select(DAY_STAT.c.day, DAY_STAT.c.sent, DAY_STAT.c.hard, DAY_STAT.c.soft,
                            DAY_STAT.c.block, DAY_STAT.c.complaint)
                  .where(DAY_STAT.c.mailbox_id == _B("mid"), DAY_STAT.c.day <= _B("today"))
                  .order_by(DAY_STAT.c.day))
_LAST_ANY = sa.select(sa.func.max(SEND.c.at)).where(SEND.c.mailbox_id == _B("mid"), COUNTED)
_ALL_EVENTS = (sa.select(EVENT.c.kind, EVENT.c.at, EVENT.c.until, EVENT.c.reason)
               .where(EVENT.c.mailbox_id == _B("mid")).order_by(EVENT.c.at))


def history(ledger: Ledger, box: MailboxRow, as_of: dt.datetime, *,
            provider_ceiling: int | None = None, provider_min_interval: float = 0.0,
            domain_cap: bool = False, conn: Connection | None = None,
            everything: bool = False, fast: bool = True) -> History:
    """Everything the policy engine needs about ``box`` as of ``as_of`` (aware).

    ``everything`` (the gate) counts every send recorded for today, even one stamped after
    ``as_of`` by a process whose clock ran ahead: a reservation must never miss another.
    Statements are built once at import: this runs for every gated message.
    """
    if conn is None:
        with ledger.read() as c:
            return history(ledger, box, as_of, provider_ceiling=provider_ceiling,
                           provider_min_interval=provider_min_interval, domain_cap=domain_cap,
                           conn=c, everything=everything, fast=fast)
    tz = box.timezone
    today = local_day(as_of, tz)
    start = dt.datetime.combine(today, dt.time(), _zone(tz))
    cut = _FAR if everything else utc(as_of)
    cur = fastpath.cursor(conn) if fast else None
    if everything:  # the gate: today from the rollup, so the cost does not grow with the day
        pg = pgpath.cursor(conn) if fast else None
        if cur is not None:
            rows, last, ev_rows = fastpath.gate_rows(cur, box.id, today)
        elif pg is not None:
            rows, last, ev_rows = pgpath.gate_rows(pg, box.id, today)
        else:
            p = {"mid": box.id, "today": today}
            rows = [tuple(r) for r in conn.execute(_DAYS_TO_TODAY, p)]
            last = conn.execute(_LAST_ANY, p).scalar()
            ev_rows = [tuple(r) for r in conn.execute(_ALL_EVENTS, p)]
        days = [DayCounts(*r) for r in rows]
        sent_today = 0
        kinds: dict[str, int] = {}
    elif cur is not None:
        past, sent_today, last, kinds, ev_rows = fastpath.history_rows(
            cur, box.id, today, start, cut)
        days = [DayCounts(*r) for r in past]
    else:
        p = {"mid": box.id, "today": today, "start": utc(start), "cut": cut}
        days = [DayCounts(*r) for r in conn.execute(_PAST_DAYS, p)]
        sent_today, last = conn.execute(_TODAY_SENDS, p).one()
        if not sent_today:  # the last send may be on an earlier day
            last = conn.execute(_LAST_SEND, p).scalar()
        kinds = dict(conn.execute(_TODAY_BOUNCES, p).all())
        ev_rows = [tuple(r) for r in conn.execute(_EVENTS, p)]
    if sent_today or kinds:
        days.append(DayCounts(today, sent_today, **{k: kinds.get(k, 0) for k in BOUNCE_KINDS}))
    events = tuple(MailboxEvent(k, a, u, r or "") for k, a, u, r in ev_rows)
    domain_sent = None
    if domain_cap:
        domain = box.address.rsplit("@", 1)[1]
        ids = sa.select(MAILBOX.c.id).where(MAILBOX.c.address.like(f"%@{domain}"))
        domain_sent = conn.execute(sa.select(sa.func.count()).where(
            SEND.c.mailbox_id.in_(ids), SEND.c.at >= utc(start), SEND.c.at <= cut,
            COUNTED)).scalar_one()
    return History(
        mailbox=box.address, timezone=tz, days=tuple(days), events=events,
        last_send_at=last, cap=box.cap, provider_ceiling=provider_ceiling,
        provider_min_interval=provider_min_interval, started=box.started,
        domain_sent_today=domain_sent,
    )
