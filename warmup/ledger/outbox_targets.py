"""The outbox's part in changes to what messages are queued to (mailboxes and pools): the lock a
removal and a queueing take turns on (:func:`target_lock`), the messages of a target
(:func:`of_target`), the refusals of a removal that would strand queued messages or forget one
that may have left (:func:`refuse_while_queued`, :func:`refuse_in_doubt`), a pool's revision tag
(:func:`bump_pools`) and the release of messages a change may let go sooner
(:func:`release_waiting`). Each runs in the caller's transaction, that of the change."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, TempFail
from warmup.ledger.outbox_fate import MAYBE_LEFT
from warmup.ledger.outbox_holds import end_holds
from warmup.ledger.schema import OUTBOX, POOL, POOL_MEMBER, SEND
from warmup.ledger.values import utc


def refuse_while_queued(
    conn: Connection, whose: sa.ColumnElement[bool], label: str, what: str, force: bool
) -> None:
    """Before a pool or a mailbox is removed: :class:`TempFail` while a worker sends one of the
    messages ``whose`` selects, :class:`DataError` while some are queued unless ``force``."""
    counts: dict[str, int] = dict(
        conn.execute(
            sa.select(OUTBOX.c.state, sa.func.count())
            .where(whose, OUTBOX.c.state.in_(("queued", "sending")))
            .group_by(OUTBOX.c.state)
        ).all()
    )
    if counts.get("sending"):
        raise TempFail(
            f"{label}: a worker is sending {counts['sending']} of its messages; try again "
            f"when 'warmup queue list --state sending' is empty (a worker that stopped while "
            f"sending leaves its message so until the next 'warmup run' settles it)"
        )
    queued = counts.get("queued", 0)
    if queued and not force:
        from warmup.words import plural

        them = "them" if queued > 1 else "it"
        raise DataError(
            f"{label} has {plural(queued, 'queued message')}; add --force to cancel {them} "
            f"and remove the {what}"
        )


def refuse_in_doubt(conn: Connection, mailbox_id: int, address: str) -> None:
    """Before a mailbox's history is deleted: :class:`DataError` while a message being sent
    (its worker gone) or ``unknown`` has a slot of it that may have left. That slot is the
    only record that the message may have reached its recipients: without it a dead worker's
    message was recovered as never sent and mailed again by another pool member, and
    ``queue mark ID sent`` queued an ``unknown`` one again."""
    doubt = sa.exists().where(
        SEND.c.message_id == OUTBOX.c.message_id,
        SEND.c.mailbox_id == mailbox_id,
        SEND.c.outcome.in_(MAYBE_LEFT),
    )
    rows = conn.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.state)
        .where(OUTBOX.c.state.in_(("sending", "unknown")), doubt)
        .order_by(OUTBOX.c.id)
        .limit(6)
    ).all()
    if not rows:
        return
    ids = [str(r.id) for r in rows[:5]]
    what = f"message {ids[0]}" if len(rows) == 1 else f"messages {', '.join(ids)}"
    what += " and more" if len(rows) > 5 else ""
    if rows[0].state == "sending":
        how = "its worker stopped while sending it"
        fix = "'warmup run --once' settles a stopped worker's message as unknown, then say"
    else:
        how, fix = "unknown", "say"
    raise DataError(
        f"mailbox {address}: {what} may have left from it ({how}); removing the mailbox would "
        f"forget that, and the message would be sent again: {fix} what became of it with "
        f"'warmup queue mark ID sent' (or unsent)"
    )


def target_lock(kind: str, target: int) -> str:
    """The name of the lock a removal of a pool or mailbox (``kind``) takes, exclusive, and a
    queueing to it shared, so they take turns (:meth:`OutboxStore.enqueue`)."""
    return f"outbox target {kind} {target}"


def of_target(mailbox_id: int | None, pool_id: int | None) -> sa.ColumnElement[bool]:
    """The messages queued to pool ``pool_id``, or (None) to mailbox ``mailbox_id`` itself."""
    if pool_id is not None:
        return OUTBOX.c.pool_id == pool_id
    return sa.and_(OUTBOX.c.mailbox_id == mailbox_id, OUTBOX.c.pool_id.is_(None))


def new_rev() -> int:
    """A fresh revision tag for a pool (see ``schema.POOL``): random, never 0 (a pool of a
    ledger older than the tags), within a signed 64-bit integer."""
    return secrets.randbits(62) + 1


def bump_pools(conn: Connection, where: sa.ColumnElement[bool]) -> None:
    """Move the revision tag of the pools ``where`` selects, in the caller's transaction (that
    of the change to them: a claim that sees the change sees the new tag)."""
    conn.execute(POOL.update().where(where).values(rev=new_rev()))


def release_waiting(conn: Connection, mailbox_ids: Sequence[int], now: dt.datetime) -> None:
    """Make the queued messages of these mailboxes, and of the pools they are members of, due
    ``now`` (none before its ``not_before``), in the caller's transaction: that of a change
    that may let them go sooner ('mailbox resume', 'mailbox set', 'policy set', a new pool
    member). The worker puts a message none of its mailboxes may send back until the plan's
    next slot, as the plan stood: the end of a pause, the next day once the quota is used.
    Without this, a mailbox resumed by hand from 'pause --until 3d' sent nothing for 3 days,
    and a raised quota or a new member nothing until the next day, the old reason shown.
    A message backing off after a recipient's 4xx (``backoff_until``) keeps its back-off."""
    if not mailbox_ids:
        return
    ids = list(mailbox_ids)
    end_holds(conn, ids)  # the holds of their targets (warmup.ledger.outbox_holds)
    pools = sa.select(POOL_MEMBER.c.pool_id).where(POOL_MEMBER.c.mailbox_id.in_(ids))
    conn.execute(
        OUTBOX.update()
        .where(
            OUTBOX.c.state == "queued",
            OUTBOX.c.next_attempt_at > utc(now),
            OUTBOX.c.not_before <= utc(now),
            # Not one a recipient's server deferred (a 4xx): its back-off is that server's,
            # which no change of ours shortens; asked again at once, a greylisting server
            # refused it again, each try a slot of the quota.
            sa.or_(OUTBOX.c.backoff_until.is_(None), OUTBOX.c.backoff_until <= utc(now)),
            sa.or_(
                OUTBOX.c.pool_id.in_(pools),
                sa.and_(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id.in_(ids)),
            ),
        )
        .values(next_attempt_at=utc(now))
    )
