"""One hold per target of the outbox (``outbox_hold``, m035), in the caller's transaction.

When none of a pool's members (or a mailbox queued to alone) may send now, the worker holds
the pool until the first of their next slots (:meth:`OutboxStore.hold_messages`). It used to
write every due message of the pool (``next_attempt_at``, ``last_reply``): at the end of the
hold all of them were due at once, the slot sent one a member, and the next message found
the pool unable to send again: a paced pool's backlog of 50,000 messages was written again
at every slot (0.44 s a slot on SQLite, 0.85 s on PostgreSQL). Now one row says it, and the
messages are not written: their own time (``next_attempt_at``) stays that of their queueing or
their last 4xx, the hold is a condition of the claim.

Why not spread the held messages over the members' coming slots (one row a slot): a follow-up
stays with the member that mailed its recipient, so the messages due at a slot were one
member's and the other sat idle (the pool's throughput halved), and a message that takes no
slot (suppressed, cancelled) left the later ones late.

The claim then must not read a held target's due messages to reach another's (they stay due
in ``ix_outbox_due``): with any hold in force, a worker serving every target asks each target
not held for its first due message (:func:`first_due_each`: one probe of
``ix_outbox_pool_due`` a pool, of ``ix_outbox_box_due`` a mailbox) and claims within the first
one's (the claim of that target, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, as before); a
``--pool`` worker whose pool is held claims nothing without reading the outbox. With none in
force (nearly every claim), the claim is one statement that tests the holds itself (its LIMIT
is 0 while one is in force: :meth:`~warmup.ledger.outbox.OutboxStore.claim`), and a queueing
deletes its target's hold only when the read of the target finds one.

A hold past its time holds nothing and is left to be written over (never read as in force). A
change that may let a target send sooner deletes its holds with the messages' own waits
(:func:`end_holds`, from ``release_waiting`` and the others), a removed pool or mailbox its own.
A message queued by hand again (``queue retry``) ends its target's hold: the next pass asks the
plan again, at the cost of one row."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.schema import MAILBOX, OUTBOX, OUTBOX_HOLD, POOL, POOL_MEMBER
from warmup.ledger.values import utc

H = OUTBOX_HOLD.c


@dataclass(frozen=True)
class Hold:
    """A target's hold: no message of it (``bulk`` False: none but its bulk ones) goes before
    ``until``, for ``why``."""

    until: dt.datetime
    why: str
    bulk: bool


def target_of(pool_id: int | None, mailbox_id: int | None) -> tuple[str, int]:
    """The hold's key of a message of pool ``pool_id`` (else of mailbox ``mailbox_id``)."""
    if pool_id is not None:
        return ("pool", pool_id)
    assert mailbox_id is not None
    return ("mailbox", mailbox_id)


def holds(conn: Connection, after: dt.datetime | None = None) -> dict[tuple[str, int], Hold]:
    """The holds (of those in force after ``after``), by target."""
    q = sa.select(H.kind, H.target, H.held_until, H.why, H.bulk)
    if after is not None:
        q = q.where(H.held_until > utc(after))
    return {(r.kind, r.target): Hold(r.held_until, r.why, bool(r.bulk)) for r in conn.execute(q)}


def applies(hold: Hold | None, bulk: bool) -> bool:
    """Whether ``hold`` holds a message (``bulk``: a bulk one)."""
    return hold is not None and (hold.bulk or not bulk)


def set_hold(
    conn: Connection,
    insert: Any,
    target: tuple[str, int],
    until: dt.datetime,
    why: str,
    bulk: bool,
    now: dt.datetime,
) -> None:
    """Write ``target``'s hold (one row, whatever it holds); ``insert``: the dialect's INSERT
    of ``outbox_hold``, with ``on_conflict_do_update``."""
    values = {"held_until": utc(until), "why": why[:500], "bulk": bulk, "set_at": utc(now)}
    conn.execute(
        insert.values(kind=target[0], target=target[1], **values).on_conflict_do_update(
            index_elements=[H.kind, H.target], set_=values
        )
    )


def end_holds(
    conn: Connection, mailbox_ids: Iterable[int] = (), pool_ids: Iterable[int] = ()
) -> None:
    """Delete the holds of these mailboxes, of the pools they are members of, and of these
    pools."""
    ids, pids = list(mailbox_ids), list(pool_ids)
    if not ids and not pids:
        return
    of_pools: sa.ColumnElement[bool] = H.target.in_(pids)
    if ids:
        member_of = sa.select(POOL_MEMBER.c.pool_id).where(POOL_MEMBER.c.mailbox_id.in_(ids))
        of_pools = sa.or_(of_pools, H.target.in_(member_of))
    conn.execute(
        OUTBOX_HOLD.delete().where(
            sa.or_(
                sa.and_(H.kind == "pool", of_pools),
                sa.and_(H.kind == "mailbox", H.target.in_(ids)),
            )
        )
    )


def end_hold(conn: Connection, target: tuple[str, int]) -> None:
    conn.execute(OUTBOX_HOLD.delete().where(H.kind == target[0], H.target == target[1]))


def due(
    target: tuple[str, int], bulk_only: bool = False, counted: bool = False
) -> sa.ColumnElement[bool]:
    """The messages of ``target`` the claim takes by ``:due`` (``bulk_only``: its bulk ones;
    ``counted``: whatever their expiry, on the target's index alone)."""
    kind, tid = target
    mine = (
        OUTBOX.c.pool_id == tid
        if kind == "pool"
        else sa.and_(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id == tid)
    )
    ready = sa.and_(mine, *(_READY[:2] if counted else _READY))
    return sa.and_(ready, BULK) if bulk_only else ready


# A bulk message, in the very words of ``ix_outbox_pool_bulk``'s condition (m039): SQLite takes
# a partial index only for a term written as its condition is (``bulk = 1``, what SQLAlchemy
# writes of ``== true()``, is not ``bulk = true`` to it), and PostgreSQL searches an index by
# ``bulk = true``, never by ``bulk IS true``.
BULK = OUTBOX.c.bulk == sa.literal_column("true")

# A queued message, its state written into the statement as a constant, not a parameter: SQLite
# (3.40) compares a parameter with the constant of each partial index's condition on that
# column (ix_outbox_waiting's ``state = 'queued' OR state = 'sending'``) and, whether or not the
# index serves, marks the statement to be compiled again whenever that parameter is bound, as
# it is at every run: the claim was compiled anew at each message (~0.75M instructions, 17%
# of the worker's message). A constant is compared with a constant when the statement is built.
QUEUED = OUTBOX.c.state == sa.literal_column("'queued'", OUTBOX.c.state.type)
SENDING = OUTBOX.c.state == sa.literal_column("'sending'", OUTBOX.c.state.type)

_READY = (
    QUEUED,
    OUTBOX.c.next_attempt_at <= sa.bindparam("due", type_=OUTBOX.c.next_attempt_at.type),
    OUTBOX.c.expires_at > sa.bindparam("now", type_=OUTBOX.c.expires_at.type),
)


@functools.cache
def _first_due_statement() -> sa.Select[Any]:
    def first(mine: sa.ColumnElement[bool], extra: sa.ColumnElement[bool], of: sa.Table) -> Any:
        return (
            sa.select(OUTBOX.c.id)
            .where(mine, *_READY, extra)
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(1)
            .correlate(of)
            .scalar_subquery()
        )

    # A pool held but for its bulk messages is asked for its first bulk one apart, by
    # ix_outbox_pool_bulk: asked with the others, it read past every other due message.
    # The list under two names: one expanding parameter in both an IN and a NOT IN wrote the
    # empty list of both as IN's (false) on PostgreSQL, and no pool was asked.
    whole = sa.select(
        sa.literal("pool").label("kind"),
        POOL.c.id.label("tid"),
        first(OUTBOX.c.pool_id == POOL.c.id, sa.true(), POOL).label("first"),
    ).where(
        POOL.c.id.not_in(sa.bindparam("held_pools", expanding=True)),
        POOL.c.id.not_in(sa.bindparam("not_bulk_pools", expanding=True)),
    )
    bulk = sa.select(
        sa.literal("pool").label("kind"),
        POOL.c.id.label("tid"),
        first(OUTBOX.c.pool_id == POOL.c.id, BULK, POOL).label("first"),
    ).where(POOL.c.id.in_(sa.bindparam("bulk_pools", expanding=True)))
    boxes = sa.select(
        sa.literal("mailbox").label("kind"),
        MAILBOX.c.id.label("tid"),
        first(
            sa.and_(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id == MAILBOX.c.id),
            sa.true(),
            MAILBOX,
        ).label("first"),
    ).where(MAILBOX.c.id.not_in(sa.bindparam("held_boxes", expanding=True)))
    each = sa.union_all(whole, bulk, boxes).subquery("each")
    f = OUTBOX.alias("f")
    return (
        sa.select(each.c.kind, each.c.tid)
        .select_from(each.join(f, f.c.id == each.c.first))
        .order_by(f.c.next_attempt_at, f.c.id)
    )


def first_due_each(
    conn: Connection, due_by: dt.datetime, now: dt.datetime, held: dict[tuple[str, int], Hold]
) -> list[tuple[str, int]]:
    """The targets with a message the claim takes by ``due_by`` that ``held`` (the holds in
    force) leaves free, in the order of their first such message (``next_attempt_at``, id):
    the order the claim takes them in. One probe of a target's index each."""
    full = [t for t, h in held.items() if h.bulk]
    params = {
        "due": utc(due_by),
        "now": utc(now),
        "held_pools": [tid for kind, tid in full if kind == "pool"],
        "held_boxes": [tid for kind, tid in full if kind == "mailbox"],
        "bulk_pools": [tid for (kind, tid), h in held.items() if kind == "pool" and not h.bulk],
    }
    params["not_bulk_pools"] = params["bulk_pools"]
    return [(r.kind, int(r.tid)) for r in conn.execute(_first_due_statement(), params)]


def sorted_targets(targets: Sequence[tuple[str, int]]) -> list[tuple[int | None, int | None]]:
    """``(pool_id, mailbox_id)`` of hold keys."""
    return [(tid, None) if kind == "pool" else (None, tid) for kind, tid in targets]
