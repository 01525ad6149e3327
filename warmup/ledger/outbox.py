"""The outbox (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core statements both
backends run): queueing, claiming, settling and recovering messages; pools are
:mod:`warmup.ledger.pools`, and a person's cancel, retry and mark
:mod:`warmup.ledger.outbox_edits`.

A queued message is one ``outbox`` row holding the whole message. Its life:

- ``queued`` -> ``sending``: :meth:`OutboxStore.claim`, one transaction that picks the first due
  message and stamps it with the worker's id and the time (SQLite: under ``BEGIN IMMEDIATE``;
  PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers on several hosts never wait on
  each other nor take the same message; the clause is not rendered on SQLite).
- The worker then sends it through the gate, whose reservation (``send`` rows keyed on the
  message's Message-ID) is committed before any SMTP traffic: the durable record that the message
  may have been handed to SMTP. The reservation is fenced on the claim
  (:class:`~warmup.ledger.values.Claim`): made only while the worker still holds it, checked in
  the reservation's transaction, so a worker whose claim :meth:`OutboxStore.recover` took away
  (its lease ran out while it lived) never sends the message from another pool member.
- ``sending`` -> the message's fate (:meth:`OutboxStore.settle_message`, only by the worker that
  claimed it), or, when that worker is gone, :meth:`OutboxStore.recover`: the gate's slots for
  the Message-ID decide (:func:`fate`). No slot, or only slots given back before anything left
  (``released``) or deferred (``soft``): nothing reached the server, the message is ``queued``
  again. A slot still ``reserved`` or ``unknown``: it may have left, the message is ``unknown``
  and is never re-sent automatically (DESIGN invariant 9).
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, NotFound, TempFail
from warmup.ledger.holders import as_read
from warmup.ledger.schema import BOUNCE, MAILBOX, OUTBOX, POOL, POOL_MEMBER, SEND, SUPPRESSION
from warmup.ledger.values import (
    ID_MAX,
    Enqueued,
    MailboxRow,
    OutboxIn,
    OutboxRow,
    sql_limit,
    utc,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

_LOOKUP_BATCH = 5_000  # addresses per IN list (SQLite takes 32,766 parameters at most)
_ROW = [c for c in OUTBOX.c if c.name not in ("data", "rcpt_count", "content_key")]
MAILBOX_COLUMNS = tuple(MAILBOX.c[f] for f in MailboxRow._fields)


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


def check_campaign_of(conn: Connection, campaign: str) -> None:
    """:class:`NotFound` unless some message is of ``campaign``, naming the campaign that
    differs only in case when there is one (names are compared exactly, as pools' are)."""
    if not campaign.isascii():  # no campaign's name is other (outbox.NAME)
        raise NotFound(f"no campaign {campaign!r} in the outbox; see 'warmup queue status'")
    named = sa.select(OUTBOX.c.campaign).where(OUTBOX.c.campaign == campaign).limit(1)
    if conn.execute(named).first() is not None:
        return
    other = conn.execute(
        sa.select(OUTBOX.c.campaign)
        .where(sa.func.lower(OUTBOX.c.campaign) == campaign.lower())
        .order_by(OUTBOX.c.campaign)
        .limit(1)
    ).scalar()
    hint = f" (there is {other!r}: names are case-sensitive)" if other else ""
    raise NotFound(f"no campaign {campaign!r} in the outbox{hint}; see 'warmup queue status'")


def target_lock(kind: str, target: int) -> str:
    """The name of the lock a removal of a pool or mailbox (``kind``) takes, exclusive, and a
    queueing to it shared, so they take turns (:meth:`OutboxStore.enqueue`)."""
    return f"outbox target {kind} {target}"


def of_target(mailbox_id: int | None, pool_id: int | None) -> sa.ColumnElement[bool]:
    """The messages queued to pool ``pool_id``, or (None) to mailbox ``mailbox_id`` itself."""
    if pool_id is not None:
        return OUTBOX.c.pool_id == pool_id
    return sa.and_(OUTBOX.c.mailbox_id == mailbox_id, OUTBOX.c.pool_id.is_(None))


@functools.cache
def _same_statement(of_pool: bool) -> sa.Select[Any]:
    """:meth:`OutboxStore._same_in_campaign`'s query, built once (building it cost more than
    running it: a queue relay asks it for every message of a campaign)."""
    target = (
        OUTBOX.c.pool_id == sa.bindparam("pool", type_=OUTBOX.c.pool_id.type)
        if of_pool
        else sa.and_(
            OUTBOX.c.mailbox_id == sa.bindparam("mailbox", type_=OUTBOX.c.mailbox_id.type),
            OUTBOX.c.pool_id.is_(None),
        )
    )
    return (
        sa.select(OUTBOX.c.content_key, sa.func.min(OUTBOX.c.id))
        .where(
            OUTBOX.c.content_key.in_(sa.bindparam("keys", expanding=True)),
            OUTBOX.c.campaign == sa.bindparam("campaign", type_=OUTBOX.c.campaign.type),
            in_campaign(),
            target,
        )
        .group_by(OUTBOX.c.content_key)
    )


def check_id(message: int) -> None:
    """An id no row can have (the driver would overflow on it) is a message that is not there."""
    if not 0 < message <= ID_MAX:
        raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")


# The last reply of a message cancelled by hand while a worker was sending it: the worker's
# outcome stands when the message went (or may have); "queued" becomes "cancelled".
CANCELLING = "cancelled by hand while it was being sent"


def recovered_reply(state: str, worker: str, message: int) -> str:
    """The last reply of message ``message`` settled as ``state`` from its gate slots after
    ``worker`` stopped while it held it (:meth:`OutboxStore.recover`): what became of it, and
    what a person may do."""
    if state == "cancelled":
        return CANCELLING
    return {
        "unknown": f"worker {worker} stopped while sending: it may have left; never re-sent "
        f"automatically ('warmup queue retry {message}' resends it)",
        "queued": f"worker {worker} stopped before the message left: queued again",
    }.get(state, f"worker {worker} stopped after the message was {state}")


def earlier_reply(state: str, message: int, message_id: str, again: Sequence[str] = ()) -> str:
    """The last reply of message ``message`` settled as ``state`` from gate slots its
    Message-ID ``message_id`` had before the worker tried it (sent by 'warmup send', another
    message or another mailbox): the gate never sends one Message-ID to a recipient twice."""
    if state == "cancelled":
        return CANCELLING
    return {
        "sent": f"not sent again: its Message-ID {message_id} had reached its recipients before "
        "this try (another 'warmup send', message or mailbox sent it); queue a message with a "
        "new Message-ID to send it again",
        "bounced": f"not sent again: its recipients refused its Message-ID {message_id} before "
        "this try (another 'warmup send', message or mailbox sent it)",
        "unknown": f"not sent again: its Message-ID {message_id} may have reached its recipients "
        f"before this try (an earlier send of it is of unknown fate); 'warmup queue retry "
        f"{message}' sends it again under a new Message-ID",
        "queued": f"queued again for {', '.join(again)} alone: its Message-ID {message_id} had "
        "reached the others before this try",
    }.get(state, f"its Message-ID {message_id} was sent before this try: {state}")


RETRYABLE = ("soft", "released")  # the gate's outcomes after which nothing reached the server
MAYBE_LEFT = ("reserved", "unknown")
# A message in one of these states counts as its campaign's for its recipient: queued, on its
# way, or done (cancelled and expired ones never left: see in_campaign for those that partly did).
IN_CAMPAIGN = ("queued", "sending", "sent", "bounced", "unknown")


def in_campaign() -> sa.ColumnElement[bool]:
    """The messages that count as their campaign's: in an :data:`IN_CAMPAIGN` state, or
    cancelled or expired after an earlier try reached some of their recipients (the worker
    queues a message again for those a 4xx deferred, alone: the rest had it). Queued anew by
    the campaign's script run again, such a message mailed those recipients a second time."""
    reached = sa.exists().where(
        SEND.c.message_id == OUTBOX.c.message_id, SEND.c.outcome.in_(("sent", *MAYBE_LEFT))
    )
    return sa.or_(
        OUTBOX.c.state.in_(IN_CAMPAIGN),
        sa.and_(OUTBOX.c.state.in_(("expired", "cancelled")), reached),
    )


# The columns enqueue writes: a message's own, then a fresh row's state, then the stamps.
_QUEUED = (
    "message_id",
    "mailbox_id",
    "pool_id",
    "campaign",
    "recipients",
    "rcpt_count",
    "data",
    "bulk",
    "not_before",
    "next_attempt_at",
    "expires_at",
    "content_key",
    "state",
    "attempts",
    "created_at",
    "updated_at",
)
_FRESH = ("queued", 0)


def fate(outcomes: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """A message's state from its recipients' last gate outcomes (missing: no slot taken), and
    the recipients still to deliver when it goes back to the queue.

    Any slot that may have left (``reserved``, ``unknown``) makes it ``unknown``; recipients
    deferred or given back are retried (``queued``); otherwise ``sent`` when a recipient got it,
    ``bounced`` when every one refused it.
    """
    values = list(outcomes.values())
    if any(o in MAYBE_LEFT for o in values):
        return "unknown", ()
    again = tuple(r for r, o in outcomes.items() if o in (*RETRYABLE, "none"))
    if again:
        return "queued", again
    if any(o == "sent" for o in values):
        return "sent", ()
    return "bounced", ()


def finally_refused(
    conn: Connection,
    message_id: str,
    outcomes: dict[str, str],
    final: Callable[[int, str], bool] | None,
) -> dict[str, str]:
    """``outcomes`` with each recipient the same message will never reach as ``too big``, which
    :func:`fate` neither retries nor counts sent, as the worker makes of such a reply: one
    whose latest slot was released for the message's size (its ``release_reason``), or a
    ``soft`` one whose SMTP reply (the bounce the gate recorded of it) ``final(code, text)``
    holds final."""
    if not any(o in RETRYABLE for o in outcomes.values()):
        return outcomes
    last: dict[str, tuple[str, str | None, str | None, str]] = {}
    for rcpt, outcome, why, reply, status, text in conn.execute(
        sa.select(
            SEND.c.recipient,
            SEND.c.outcome,
            SEND.c.release_reason,
            BOUNCE.c.reply,
            BOUNCE.c.status,
            BOUNCE.c.diagnostic,
        )
        .outerjoin(BOUNCE, sa.and_(BOUNCE.c.send_id == SEND.c.id, BOUNCE.c.source == "smtp"))
        .where(SEND.c.message_id == message_id)
        .order_by(SEND.c.id)
    ):
        last[rcpt] = (outcome, why, reply, f"{status or ''} {text or ''}")
    out = dict(outcomes)
    for rcpt, (outcome, why, reply, text) in last.items():
        if out.get(rcpt) != outcome:
            continue
        size = outcome == "released" and why == "size"
        if outcome == "soft" and final is not None and reply and reply.isdigit():
            size = final(int(reply), text)
        if size:
            out[rcpt] = "too big"
    return out


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
    and a raised quota or a new member nothing until the next day, the old reason shown."""
    if not mailbox_ids:
        return
    ids = list(mailbox_ids)
    pools = sa.select(POOL_MEMBER.c.pool_id).where(POOL_MEMBER.c.mailbox_id.in_(ids))
    conn.execute(
        OUTBOX.update()
        .where(
            OUTBOX.c.state == "queued",
            OUTBOX.c.next_attempt_at > utc(now),
            OUTBOX.c.not_before <= utc(now),
            sa.or_(
                OUTBOX.c.pool_id.in_(pools),
                sa.and_(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id.in_(ids)),
            ),
        )
        .values(next_attempt_at=utc(now))
    )


def _claim_statement(of_pool: bool) -> sa.Update:
    """Pick, stamp and read back the first due message in one statement (the worker claims once
    per message); built once, with the instants, worker and pool as parameters."""
    ready = sa.and_(
        OUTBOX.c.state == "queued",
        OUTBOX.c.next_attempt_at <= sa.bindparam("due", type_=OUTBOX.c.next_attempt_at.type),
        OUTBOX.c.expires_at > sa.bindparam("now", type_=OUTBOX.c.expires_at.type),
    )
    if of_pool:
        ready = sa.and_(ready, OUTBOX.c.pool_id == sa.bindparam("pool"))
    pick = (
        sa.select(OUTBOX.c.id)
        .where(ready)
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = sa.bindparam("now", type_=OUTBOX.c.claimed_at.type)
    return (
        OUTBOX.update()
        .where(OUTBOX.c.id == pick)
        .values(
            state="sending",
            claimed_by=sa.bindparam("worker"),
            claimed_at=now,
            updated_at=now,
        )
        .returning(*_ROW, OUTBOX.c.data, _POOL_REV, _HAS_SLOTS)
    )


# The claimed message's pool's tag, read in the claim's statement (no query of its own): the
# worker's copy of the pool is good while it is the same (NULL: no pool, or the pool is gone).
_POOL_REV = (
    sa.select(POOL.c.rev).where(POOL.c.id == OUTBOX.c.pool_id).scalar_subquery().label("pool_rev")
)


# Whether any gate slot names the claimed message's Message-ID, read in the claim's statement
# (by the index of slots per Message-ID): nearly every message has none, and the worker then
# needs no read of its own to know that no mailbox sent it before.
# The outbox's column named with its table: in RETURNING the statement's own columns are written
# bare, and a bare message_id inside the subquery would be the slot's own (always true). It is
# compared as a CAST (a no-op on a text column): SQLite searches no index by a column of the
# updated row in RETURNING, and read every slot's index entry for each claim instead.
_SLOT = SEND.alias("slot")
_HAS_SLOTS = (
    sa.exists()
    .where(_SLOT.c.message_id == sa.cast(sa.literal_column("outbox.message_id"), sa.String))
    .label("has_slots")
)


_CLAIM, _CLAIM_FROM_POOL = _claim_statement(False), _claim_statement(True)


def _row(r: Any, with_data: bool = False) -> OutboxRow:
    values = {c.name: r._mapping[c.name] for c in _ROW}
    values["recipients"] = tuple(values["recipients"].split(","))
    rev = r._mapping.get("pool_rev")
    return OutboxRow(
        **values,
        data=bytes(r._mapping["data"]) if with_data else None,
        pool_rev=None if rev is None else int(rev),
        has_slots=bool(r._mapping.get("has_slots", True)),
    )


class OutboxStore:
    """The outbox (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def _mailbox(self, conn: Connection, address: str) -> MailboxRow: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...
        def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None: ...
        def _released(self, conn: Connection, box: MailboxRow, sid: int, day: dt.date) -> None: ...
        def insert_rows(
            self,
            conn: Connection,
            table: sa.Table,
            columns: Sequence[str],
            rows: Sequence[Sequence[Any]],
        ) -> None: ...

    def _targets_exist(
        self, conn: Connection, chunk: Sequence[OutboxIn], checked: set[tuple[str, int]]
    ) -> None:
        """:class:`DataError` unless every mailbox and pool ``chunk`` is queued to still exists
        (each looked up once a transaction, under its target lock: see :meth:`enqueue`)."""
        wanted = {("pool", i.pool_id) for i in chunk if i.pool_id is not None}
        wanted |= {("mailbox", i.mailbox_id) for i in chunk if i.mailbox_id is not None}
        for kind, tid in sorted(wanted - checked):
            self._lock_name(conn, target_lock(kind, tid), shared=True)
            table = POOL if kind == "pool" else MAILBOX
            if conn.execute(sa.select(table.c.id).where(table.c.id == tid)).first() is None:
                raise DataError(
                    f"the {kind} these messages are queued to was removed meanwhile; nothing "
                    f"was queued: see 'warmup {kind} list'"
                )
            checked.add((kind, tid))

    def enqueue(self, items: Iterable[OutboxIn], now: dt.datetime) -> Enqueued:
        """Queue messages in one transaction (all or none), a thousand rows per statement, so
        an iterable of any length is written without being held; their ids. A Message-ID
        queued before is refused (:class:`DataError`): a message is queued once.

        A ``once`` message (a template's row) whose campaign, of the same mailbox or pool, has
        a message to its recipient (:meth:`_in_campaign`) is left out (in
        :attr:`Enqueued.in_campaign`); so is any other message of a campaign whose content key
        the campaign has (:meth:`_same_in_campaign`) or an earlier message given here has (in
        :attr:`Enqueued.already`): a script run again completes its campaign, and a new
        message to the same lead (a follow-up) is queued. The checks are made in this
        transaction, after taking the campaign's lock (:meth:`_lock_name`): two runs queueing
        one campaign at once take turns, and the second sees what the first queued instead of
        mailing everyone twice.

        Each message's mailbox or pool is looked up in this transaction too, under the
        target's lock that :meth:`remove_pool` and ``remove_mailbox`` take (shared here:
        queueings of one target do not wait on each other): a removal either sees these
        messages (and refuses, or cancels them) or makes this queueing fail, never leaving
        messages pointing at nothing."""
        out = Enqueued()
        stamp = utc(now)
        locked: set[tuple[str, int | None, int | None]] = set()
        checked: set[tuple[str, int]] = set()
        with self.write() as conn:
            for chunk in _chunks(items, 1000):
                once: dict[tuple[str, int | None, int | None], list[str]] = {}
                same: dict[tuple[str, int | None, int | None], list[str]] = {}
                for i in chunk:
                    if i.campaign is None:
                        continue
                    key = (i.campaign, i.mailbox_id, i.pool_id)
                    if i.once:
                        once.setdefault(key, []).append(i.recipients[0])
                    elif i.content_key is not None:
                        same.setdefault(key, []).append(i.content_key)
                had: set[tuple[str, int | None, int | None, str]] = set()
                have: dict[tuple[str, int | None, int | None, str], int] = {}
                for key in sorted(once.keys() | same.keys(), key=repr):
                    if key not in locked:
                        self._lock_name(conn, f"campaign {key!r}")
                        locked.add(key)
                    if key in once:
                        had.update((*key, r) for r in self._in_campaign(conn, *key, once[key]))
                    if key in same:
                        ids = self._same_in_campaign(conn, *key, same[key])
                        have.update(((*key, k), v) for k, v in ids.items())
                kept, repeats = [], []
                firsts: dict[tuple[str, int | None, int | None, str], str] = {}
                for i in chunk:
                    if i.once and (i.campaign, i.mailbox_id, i.pool_id, i.recipients[0]) in had:
                        out.in_campaign.append(i.recipients[0])
                        continue
                    if i.content_key is not None and i.campaign is not None:
                        mark = (i.campaign, i.mailbox_id, i.pool_id, i.content_key)
                        if mark in have:
                            out.already.append((i.message_id, have[mark]))
                            continue
                        if mark in firsts:  # as an earlier one of this chunk, written below
                            repeats.append((len(out.already), firsts[mark]))
                            out.already.append((i.message_id, 0))
                            continue
                        firsts[mark] = i.message_id
                    kept.append(i)
                chunk = kept
                if not chunk:
                    continue
                self._targets_exist(conn, chunk, checked)
                mids = [i.message_id for i in chunk]
                found = conn.execute(
                    sa.select(OUTBOX.c.message_id, OUTBOX.c.id, OUTBOX.c.state).where(
                        OUTBOX.c.message_id.in_(mids)
                    )
                ).first()
                if found is not None:  # its state too: "queued already" of a sent one misled
                    raise DataError(
                        f"message {found.message_id} is in the outbox already (message "
                        f"{found.id}, {found.state}); a message is queued once: give it a new "
                        f"Message-ID"
                    )
                rows = [
                    (
                        i.message_id,
                        i.mailbox_id,
                        i.pool_id,
                        i.campaign,
                        ",".join(i.recipients),
                        len(i.recipients),
                        i.data,
                        i.bulk,
                        utc(i.not_before),
                        utc(i.not_before),
                        utc(i.expires_at),
                        i.content_key,
                    )
                    for i in chunk
                ]
                self.insert_rows(conn, OUTBOX, _QUEUED, [(*r, *_FRESH, stamp, stamp) for r in rows])
                got = dict(
                    conn.execute(
                        sa.select(OUTBOX.c.message_id, OUTBOX.c.id).where(
                            OUTBOX.c.message_id.in_(mids)
                        )
                    ).all()
                )
                out.ids.extend(got[m] for m in mids)
                for at, first in repeats:
                    out.already[at] = (out.already[at][0], got[first])
        return out

    def _same_in_campaign(
        self,
        conn: Connection,
        campaign: str,
        mailbox_id: int | None,
        pool_id: int | None,
        keys: Sequence[str],
    ) -> dict[str, int]:
        """Content key -> id of the message with it among ``keys`` that campaign ``campaign`` of
        this mailbox or pool has, queued, being sent or done (as :meth:`_in_campaign`)."""
        of_pool = pool_id is not None
        params: dict[str, Any] = {"keys": sorted(set(keys)), "campaign": campaign}
        params["pool" if of_pool else "mailbox"] = pool_id if of_pool else mailbox_id
        return {r[0]: r[1] for r in conn.execute(_same_statement(of_pool), params)}

    def _in_campaign(
        self,
        conn: Connection,
        campaign: str,
        mailbox_id: int | None,
        pool_id: int | None,
        recipients: Sequence[str],
    ) -> set[str]:
        """Which of ``recipients`` campaign ``campaign`` of this mailbox or pool has a message
        to alone that is queued, being sent or done (sent, bounced, unknown: it may have left);
        one cancelled or expired never left. One query on the campaign's index."""
        if not recipients:
            return set()
        return set(
            conn.execute(
                sa.select(OUTBOX.c.recipients).where(
                    OUTBOX.c.campaign == campaign,
                    in_campaign(),
                    of_target(mailbox_id, pool_id),
                    OUTBOX.c.recipients.in_(sorted(set(recipients))),
                )
            ).scalars()
        )

    # -- the worker --------------------------------------------------------------------------

    def expire_messages(self, now: dt.datetime) -> int:
        """Queued messages past their expiry become ``expired``; how many."""
        with self.write() as conn:
            return int(
                conn.execute(
                    OUTBOX.update()
                    .where(OUTBOX.c.state == "queued", OUTBOX.c.expires_at <= utc(now))
                    .values(state="expired", updated_at=utc(now))
                ).rowcount
            )

    def claim(
        self,
        worker: str,
        now: dt.datetime,
        pool_id: int | None = None,
        due: dt.datetime | None = None,
        settle: Settle | None = None,
    ) -> OutboxRow | None:
        """Take the first queued message (of ``pool_id``) due by ``due`` (default ``now``) for
        ``worker``: ``sending``, stamped with the worker and ``now``; None when none is due.
        ``settle``: the outcome of ``worker``'s previous message (:meth:`settle_message`),
        written in the same transaction (one commit a message fewer; kept whether or not a
        message is claimed)."""
        params = {
            "due": utc(due or now),
            "now": utc(now),
            "worker": worker,
            "pool": pool_id,
        }
        with self.write() as conn:
            if settle is not None:
                conn.execute(*_settle_statement(worker, settle))
            take = _CLAIM_FROM_POOL if pool_id is not None else _CLAIM
            row = conn.execute(take, params).first()
            return None if row is None else _row(row, True)

    def settle_message(
        self,
        message: int,
        worker: str,
        state: str,
        now: dt.datetime,
        *,
        reply: str | None = None,
        sent_by: int | None = None,
        next_attempt_at: dt.datetime | None = None,
        attempt: bool = False,
        recipients: Sequence[str] | None = None,
    ) -> bool:
        """The claimed message's outcome, written only if ``worker`` still holds the claim
        (whether it did). ``queued`` puts it back for ``next_attempt_at`` (``attempt``: this
        try counts towards the back-off), with the ``recipients`` still to deliver, and clears
        :meth:`via_overflow`'s mark (its next try may go from a member)."""
        settle = Settle(message, state, now, reply, sent_by, next_attempt_at, attempt, recipients)
        with self.write() as conn:
            return bool(conn.execute(*_settle_statement(worker, settle)).rowcount)

    def via_overflow(self, message: int, worker: str, now: dt.datetime) -> bool:
        """Mark the claimed message as going through its pool's overflow channel, committed
        before the SMTP conversation (as the gate's reservation is for a member): should the
        worker die, :meth:`recover` knows it may have left. Whether ``worker`` holds the claim."""
        with self.write() as conn:
            return bool(
                conn.execute(
                    OUTBOX.update()
                    .where(
                        OUTBOX.c.id == message,
                        OUTBOX.c.state == "sending",
                        OUTBOX.c.claimed_by == worker,
                    )
                    .values(sent_via="overflow", updated_at=utc(now))
                ).rowcount
            )

    def claims(self) -> list[tuple[int, str, dt.datetime]]:
        """(message id, worker, claimed at) of every message being sent."""
        with self.read() as conn:
            return [
                (r.id, r.claimed_by or "", r.claimed_at)
                for r in conn.execute(
                    sa.select(OUTBOX.c.id, OUTBOX.c.claimed_by, OUTBOX.c.claimed_at).where(
                        OUTBOX.c.state == "sending"
                    )
                )
            ]

    def message_slots(
        self, box: MailboxRow, message_id: str, recipients: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        """Recipient -> (id, outcome) of ``box``'s slots for ``message_id`` among
        ``recipients`` (as a reservation reads them: a reservation of a process gone from
        this host is ``unknown``, :func:`warmup.ledger.holders.as_read`)."""
        s = SEND.c
        with self.read() as conn:
            return {
                r: (i, as_read(o, *held))
                for r, i, o, *held in conn.execute(
                    sa.select(
                        s.recipient, s.id, s.outcome, s.holder_host, s.holder_pid, s.holder_start
                    ).where(
                        s.mailbox_id == box.id,
                        s.message_id == message_id,
                        s.recipient.in_(list(recipients)),
                    )
                )
            }

    def gate_outcomes(self, message_id: str, conn: Connection | None = None) -> dict[str, Any]:
        """Recipient -> (outcome of its latest gate slot for this Message-ID, mailbox id)."""
        if conn is None:
            with self.read() as c:
                return self.gate_outcomes(message_id, c)
        out: dict[str, Any] = {}
        for rcpt, outcome, mailbox_id in conn.execute(
            sa.select(SEND.c.recipient, SEND.c.outcome, SEND.c.mailbox_id)
            .where(SEND.c.message_id == message_id)
            .order_by(SEND.c.id)
        ):
            out[rcpt] = (outcome, mailbox_id)
        return out

    def recover(
        self,
        message: int,
        worker: str,
        now: dt.datetime,
        retry_at: dt.datetime | None = None,
        earlier: bool = False,
        final: Callable[[int, str], bool] | None = None,
    ) -> str | None:
        """A message ``worker`` claimed and will never settle (it is gone): its state from the
        gate's slots (:func:`fate`), written at once (queued again: due at ``retry_at``, default
        ``now``); None if the claim changed meanwhile. ``earlier``: the slots are those of its
        Message-ID sent before the worker tried it (no try of its own: none counted).
        ``final(code, text)``: whether a recipient's soft refusal is final (the message's size),
        as :meth:`decide_unknown` takes it: not queued again for them, nor for one whose slot
        was released for the message's size (:func:`finally_refused`)."""
        with self.write() as conn:
            # Locked first (PostgreSQL): a reservation fenced on this claim either committed
            # before (its slots are read below) or waits and then finds the claim gone.
            row = conn.execute(
                sa.select(
                    OUTBOX.c.message_id,
                    OUTBOX.c.recipients,
                    OUTBOX.c.sent_via,
                    OUTBOX.c.last_reply,
                )
                .where(
                    OUTBOX.c.id == message,
                    OUTBOX.c.state == "sending",
                    OUTBOX.c.claimed_by == worker,
                )
                .with_for_update()
            ).first()
            if row is None:
                return None
            slots = self.gate_outcomes(row.message_id, conn)
            rcpts = row.recipients.split(",")
            again: tuple[str, ...] = ()
            if row.sent_via == "overflow":  # no slot to ask: it may have left by the channel
                state = "unknown"
            else:
                outcomes = {r: slots.get(r, ("none", None))[0] for r in rcpts}
                state, again = fate(finally_refused(conn, row.message_id, outcomes, final))
            by = next((m for _, m in slots.values()), None)
            if state == "queued" and row.last_reply == CANCELLING:
                state, again = "cancelled", ()
            why = (
                earlier_reply(state, message, row.message_id, again)
                if earlier
                else recovered_reply(state, worker, message)
            )
            values: dict[str, Any] = {
                "state": state,
                "claimed_by": None,
                "claimed_at": None,
                "updated_at": utc(now),
                "last_reply": why,
            }
            if by is not None:
                values["sent_by"] = by
            if not earlier and (by is not None or row.sent_via == "overflow"):  # a try
                values["attempts"] = OUTBOX.c.attempts + 1
            if again:
                values["recipients"] = ",".join(again)
                values["rcpt_count"] = len(again)
                values["next_attempt_at"] = utc(retry_at or now)
            conn.execute(OUTBOX.update().where(OUTBOX.c.id == message).values(**values))
            return state

    def due_targets(
        self, due: dt.datetime, now: dt.datetime, pool_id: int | None = None
    ) -> list[tuple[int | None, int | None]]:
        """The ``(pool_id, mailbox_id)`` of the queued messages :meth:`claim` would take by
        ``due`` (of ``pool_id``), each once."""
        q = (
            sa.select(OUTBOX.c.pool_id, OUTBOX.c.mailbox_id)
            .where(
                OUTBOX.c.state == "queued",
                OUTBOX.c.next_attempt_at <= utc(due),
                OUTBOX.c.expires_at > utc(now),
            )
            .distinct()
        )
        if pool_id is not None:
            q = q.where(OUTBOX.c.pool_id == pool_id)
        with self.read() as conn:
            return [(r[0], r[1]) for r in conn.execute(q)]

    def hold_messages(
        self,
        due: dt.datetime,
        now: dt.datetime,
        until: dt.datetime,
        why: str,
        *,
        pool_id: int | None = None,
        mailbox_id: int | None = None,
        keep_bulk: bool = False,
    ) -> int:
        """Put back every queued message of pool ``pool_id`` (or of mailbox ``mailbox_id``) due
        by ``due`` until ``until``, saying ``why``, as the worker does one by one with a message
        none of the mailboxes can send now; one whose expiry comes first waits until its expiry
        (the pass that finds it past it expires it: never before). ``keep_bulk``: leave the
        bulk messages alone (the pool's overflow channel may take them). How many wait."""
        target = (
            OUTBOX.c.pool_id == pool_id
            if pool_id is not None
            else sa.and_(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id == mailbox_id)
        )
        ready = sa.and_(
            target,
            OUTBOX.c.state == "queued",
            OUTBOX.c.next_attempt_at <= utc(due),
            OUTBOX.c.expires_at > utc(now),
        )
        if keep_bulk:
            ready = sa.and_(ready, OUTBOX.c.bulk.is_(False))
        later = sa.literal(utc(until), OUTBOX.c.next_attempt_at.type)
        with self.write() as conn:
            waiting = conn.execute(
                OUTBOX.update()
                .where(ready)
                .values(
                    next_attempt_at=sa.case(
                        (OUTBOX.c.expires_at < later, OUTBOX.c.expires_at), else_=later
                    ),
                    last_reply=why[:500],
                    sent_via=None,
                    updated_at=utc(now),
                )
            ).rowcount
        return int(waiting)

    def next_due(
        self,
        pool_id: int | None = None,
        mailbox_id: int | None = None,
        going_from: dt.datetime | None = None,
    ) -> OutboxRow | None:
        """The next queued message due (of ``pool_id``, or queued to mailbox ``mailbox_id``
        itself), without its data; None if none is queued. ``going_from``: only one that can
        still go when its mailboxes may send from then on: its own time before its expiry, and
        its expiry after then (the others wait until their expiry, and expire)."""
        q = (
            sa.select(*_ROW)
            .where(OUTBOX.c.state == "queued")
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(1)
        )
        if pool_id is not None:
            q = q.where(OUTBOX.c.pool_id == pool_id)
        elif mailbox_id is not None:
            q = q.where(OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id == mailbox_id)
        if going_from is not None:
            q = q.where(
                OUTBOX.c.next_attempt_at < OUTBOX.c.expires_at,
                OUTBOX.c.expires_at > utc(going_from),
            )
        with self.read() as conn:
            row = conn.execute(q).first()
        return None if row is None else _row(row)

    def next_due_each(
        self, pool_id: int | None = None
    ) -> list[tuple[int | None, int | None, dt.datetime, dt.datetime]]:
        """Per target with queued messages (of ``pool_id``; None: all), its pool's id (else
        its mailbox's), when its first queued message is due and when its first one expires."""
        o = OUTBOX.c
        q = (
            sa.select(
                o.pool_id, o.mailbox_id, sa.func.min(o.next_attempt_at), sa.func.min(o.expires_at)
            )
            .where(o.state == "queued")
            .group_by(o.pool_id, o.mailbox_id)
        )
        if pool_id is not None:
            q = q.where(o.pool_id == pool_id)
        first: dict[tuple[int | None, int | None], tuple[dt.datetime, dt.datetime]] = {}
        with self.read() as conn:
            for pid, mid, at, ends in conn.execute(q):
                target = (pid, None if pid is not None else mid)
                was = first.get(target, (aware_utc(at), aware_utc(ends)))
                first[target] = (min(was[0], aware_utc(at)), min(was[1], aware_utc(ends)))
        return [
            (pid, mid, *times) for (pid, mid), times in sorted(first.items(), key=lambda kv: kv[1])
        ]

    def last_sender(self, recipients: Iterable[str], mailbox_ids: Sequence[int]) -> int | None:
        """The mailbox among ``mailbox_ids`` that last mailed one of ``recipients`` (a follow-up
        stays with it), or None."""
        return self._last_of(SEND.c.recipient, list(recipients), mailbox_ids)

    def thread_sender(self, message_ids: Iterable[str], mailbox_ids: Sequence[int]) -> int | None:
        """The mailbox among ``mailbox_ids`` that last sent one of ``message_ids`` (the
        Message-IDs a reply names in In-Reply-To/References: the thread stays with it), or None.
        The ``send`` rows cover every send path (the outbox's worker, ``warmup send``, the relay,
        the Python API) and sends recorded with their Message-ID."""
        return self._last_of(SEND.c.message_id, list(message_ids), mailbox_ids)

    def _last_of(
        self, column: sa.Column[Any], values: list[str], mailbox_ids: Sequence[int]
    ) -> int | None:
        """The mailbox among ``mailbox_ids`` with the latest send whose ``column`` is one of
        ``values`` (a released slot never left: it does not count)."""
        if not values or not mailbox_ids:
            return None
        with self.read() as conn:
            return conn.execute(
                sa.select(SEND.c.mailbox_id)
                .where(
                    column.in_(values),
                    SEND.c.mailbox_id.in_(list(mailbox_ids)),
                    SEND.c.outcome != "released",
                )
                .order_by(SEND.c.at.desc())
                .limit(1)
            ).scalar()

    # -- seeing it ---------------------------------------------------------------------------

    def messages(
        self,
        campaign: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxRow]:
        """Outbox messages (without their bytes), oldest first."""
        q = sa.select(*_ROW).order_by(OUTBOX.c.id)
        if campaign is not None:
            if not campaign.isascii():  # no campaign's name is (outbox.NAME); argv's bytes
                return []
            q = q.where(OUTBOX.c.campaign == campaign)
        if state is not None:
            q = q.where(OUTBOX.c.state == state)
        if limit is not None:
            q = q.limit(sql_limit(limit))
        with self.read() as conn:
            return [_row(r) for r in conn.execute(q)]

    def check_campaign(self, campaign: str) -> None:
        """:class:`NotFound` unless some message of the outbox is of ``campaign``."""
        with self.read() as conn:
            check_campaign_of(conn, campaign)

    def message(self, message: int) -> OutboxRow:
        """One outbox message with its bytes, or :class:`NotFound`."""
        check_id(message)
        with self.read() as conn:
            r = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id == message)).first()
        if r is None:
            raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
        return _row(r, True)

    def outbox_counts(self) -> list[dict[str, Any]]:
        """Messages and recipients per campaign, target (pool or mailbox), sender, channel
        (``sent_via``) and state, with the latest ``next_attempt_at`` among them (``due``:
        none of them is sent before it)."""
        o = OUTBOX.c
        q = sa.select(
            o.campaign,
            o.pool_id,
            o.mailbox_id,
            o.sent_by,
            o.sent_via,
            o.state,
            sa.func.count().label("messages"),
            sa.func.sum(o.rcpt_count).label("recipients"),
            sa.func.max(o.next_attempt_at).label("due"),
        ).group_by(o.campaign, o.pool_id, o.mailbox_id, o.sent_by, o.sent_via, o.state)
        with self.read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def release(self, mailbox: MailboxRow, now: dt.datetime) -> None:
        """Make the messages waiting for ``mailbox`` (queued to it, or to a pool it is in) due
        ``now``: after a change outside the ledger that may let them go (a login stored in the
        keyring), as :func:`release_waiting` does in a change's own transaction."""
        with self.write() as conn:
            release_waiting(conn, [mailbox.id], now)

    def outbox_waiting(self) -> list[dict[str, Any]]:
        """The waiting (queued or sending) messages in groups of one campaign, target
        (``pool_id``, else ``mailbox_id``) and ``next_attempt_at``, with ``messages``,
        ``recipients``, the group's ``last`` id and its latest ``expires`` (``expires_at``):
        enough to tell what a target's queue holds ahead of a campaign's last message in the
        order workers claim them (``next_attempt_at``, then ``id``). A file queued at once is
        one group, however many rows it had.

        And what of them is suppressed (since they were queued: ``queue add`` leaves such
        recipients out), which the worker will not send: ``suppressed``, how many of the
        group's recipients are (the worker leaves them out), and ``blocked``, how many of its
        messages have every recipient suppressed (the worker cancels those). A message to one
        address (nearly all) is looked up in the same pass over the rows; the few to several
        are read again and split.

        ``stays``: of a pool's message to one address, the member that last mailed it (the
        worker sends a follow-up from it, :meth:`last_sender`), else None; a group holds the
        messages of one such member. Looked up in the same statement, by the index of sends per
        recipient. A thread named by In-Reply-To/References is in the message's bytes, not
        here (:meth:`thread_sender` reads it when the worker sends the message)."""
        o = OUTBOX.c
        box = sa.case((o.pool_id.is_(None), o.mailbox_id), else_=sa.null())
        last = (
            sa.select(SEND.c.mailbox_id)
            .join(POOL_MEMBER, POOL_MEMBER.c.mailbox_id == SEND.c.mailbox_id)
            .where(
                POOL_MEMBER.c.pool_id == o.pool_id,
                SEND.c.recipient == o.recipients,
                SEND.c.outcome != "released",
            )
            .order_by(SEND.c.at.desc())
            .limit(1)
            .scalar_subquery()
        )
        stays = sa.case(
            (sa.and_(o.pool_id.is_not(None), o.rcpt_count == 1), last), else_=sa.null()
        ).label("stays")
        waiting = o.state.in_(("queued", "sending"))
        gone = sa.and_(o.rcpt_count == 1, sa.exists().where(SUPPRESSION.c.address == o.recipients))
        q = (
            sa.select(
                o.campaign,
                o.pool_id,
                box.label("mailbox_id"),
                o.next_attempt_at,
                stays,
                sa.func.max(o.id).label("last"),
                sa.func.count().label("messages"),
                sa.func.sum(o.rcpt_count).label("recipients"),
                sa.func.max(o.expires_at).label("expires"),
                sa.func.sum(sa.case((gone, 1), else_=0)).label("blocked"),
                sa.func.max(o.rcpt_count).label("widest"),
            )
            .where(waiting)
            .group_by(o.campaign, o.pool_id, box, o.next_attempt_at, stays)
        )
        with self.read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(q)]
            for r in rows:
                r["blocked"] = r["suppressed"] = int(r["blocked"] or 0)
            if max((r.pop("widest") for r in rows), default=1) > 1:
                several = sa.select(
                    o.campaign, o.pool_id, box, o.next_attempt_at, stays, o.recipients
                )
                self._suppressed_of_several(conn, rows, several.where(waiting, o.rcpt_count > 1))
        return rows

    @staticmethod
    def _suppressed_of_several(
        conn: Connection, rows: list[dict[str, Any]], several: sa.Select[Any]
    ) -> None:
        """Add to ``rows`` (:meth:`outbox_waiting`'s groups) the suppressed recipients of the
        waiting messages to several addresses (``several``: each one's group key and
        recipients), and those of them that have none left."""
        to = [(tuple(r[:5]), r[5].split(",")) for r in conn.execute(several)]
        addresses = sorted({a for _, rcpts in to for a in rcpts})
        found: set[str] = set()
        for start in range(0, len(addresses), _LOOKUP_BATCH):
            chunk = addresses[start : start + _LOOKUP_BATCH]
            found.update(
                conn.execute(
                    sa.select(SUPPRESSION.c.address).where(SUPPRESSION.c.address.in_(chunk))
                ).scalars()
            )
        groups = {
            (r["campaign"], r["pool_id"], r["mailbox_id"], r["next_attempt_at"], r["stays"]): r
            for r in rows
        }
        for key, rcpts in to:
            n = sum(a in found for a in rcpts)
            group = groups.get(key)  # None: a worker moved it on between the two reads
            if n and group is not None:
                group["suppressed"] += n
                group["blocked"] += n == len(rcpts)

    def mailbox_names(self) -> dict[int, str]:
        """Mailbox id -> address; pool id -> name is :meth:`pools`."""
        with self.read() as conn:
            return dict(conn.execute(sa.select(MAILBOX.c.id, MAILBOX.c.address)).all())


@dataclass(frozen=True)
class Settle:
    """A claimed message's outcome, as :meth:`OutboxStore.settle_message` takes it."""

    message: int
    state: str
    now: dt.datetime
    reply: str | None = None
    sent_by: int | None = None
    next_attempt_at: dt.datetime | None = None
    attempt: bool = False
    recipients: Sequence[str] | None = None


def _settle_statement(worker: str, s: Settle) -> tuple[sa.Update, dict[str, Any]]:
    """The UPDATE writing ``s``, only while ``worker`` still holds the claim, and its
    parameters (the statement is built once per set of columns written)."""
    params: dict[str, Any] = {"message": s.message, "worker": worker, "state": s.state}
    params["now"] = utc(s.now)
    if s.reply is not None:
        params["last_reply"] = s.reply[:500]
    if s.sent_by is not None:
        params["sent_by"] = s.sent_by
    if s.next_attempt_at is not None:
        params["next_attempt_at"] = utc(s.next_attempt_at)
    if s.recipients:
        params["recipients"] = ",".join(s.recipients)
        params["rcpt_count"] = len(s.recipients)
    optional = tuple(k for k in _SETTLE_OPTIONAL if k in params)
    return _settle_shape(optional, s.state == "queued", s.attempt), params


_SETTLE_OPTIONAL = ("last_reply", "sent_by", "next_attempt_at", "recipients", "rcpt_count")


@functools.cache
def _settle_shape(optional: tuple[str, ...], queued: bool, attempt: bool) -> sa.Update:
    now = sa.bindparam("now", type_=OUTBOX.c.updated_at.type)
    values: dict[str, Any] = {
        "state": sa.bindparam("state"),
        "claimed_by": None,
        "claimed_at": None,
        "updated_at": now,
    }
    if queued:
        values["sent_via"] = None  # its next try may go from a member
    for name in optional:
        values[name] = sa.bindparam(name, type_=OUTBOX.c[name].type)
    if queued:  # cancelled by hand while it was being sent: not back in the queue
        cancelling = OUTBOX.c.last_reply == CANCELLING
        values["state"] = sa.case((cancelling, "cancelled"), else_=values["state"])
        if "last_reply" in values:
            values["last_reply"] = sa.case((cancelling, CANCELLING), else_=values["last_reply"])
    if attempt:
        values["attempts"] = OUTBOX.c.attempts + 1
    return (
        OUTBOX.update()
        .where(
            OUTBOX.c.id == sa.bindparam("message"),
            OUTBOX.c.state == "sending",
            OUTBOX.c.claimed_by == sa.bindparam("worker"),
        )
        .values(**values)
    )


# What a person may do with a message that is not ``unknown`` (``queue mark`` refuses it).
def _chunks(items: Iterable[OutboxIn], size: int) -> Iterator[list[OutboxIn]]:
    chunk: list[OutboxIn] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def aware_utc(at: dt.datetime) -> dt.datetime:
    """An instant read back from the outbox, aware UTC (SQLite's come back naive)."""
    return utc(at) if at.tzinfo else at.replace(tzinfo=dt.UTC)
