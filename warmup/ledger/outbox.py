"""The outbox (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core statements both
backends run): queueing, claiming, settling and recovering messages; pools are
:mod:`warmup.ledger.pools`, and a person's cancel, retry and mark
:mod:`warmup.ledger.outbox_edits`. What a message's gate slots make of it is
:mod:`warmup.ledger.outbox_fate`; what a change to a mailbox or pool does to the messages queued
to it, :mod:`warmup.ledger.outbox_targets`; the reads (``queue list``, ``queue status``, the next
message due), :class:`~warmup.ledger.outbox_views.OutboxViews`, which :class:`OutboxStore`
extends.

A queued message is one ``outbox`` row holding the whole message. Its life:

- ``queued`` -> ``sending``: :meth:`OutboxStore.claim`, one transaction that picks the first due
  message and stamps it with the worker's id and the time (SQLite: under ``BEGIN IMMEDIATE``;
  PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so workers on several hosts never wait on
  each other nor take the same message; the clause is not rendered on SQLite). On PostgreSQL
  the time is the server's clock (the host's plus :meth:`~warmup.ledger.Ledger.clock_offset`):
  a claim's age is judged by other hosts, whose clocks disagree with the claimer's.
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError
from warmup.ledger import outbox_holds
from warmup.ledger.holders import as_read
from warmup.ledger.outbox_fate import (
    CANCELLING,
    earlier_reply,
    fate,
    finally_refused,
    in_campaign,
    recovered_reply,
)
from warmup.ledger.outbox_targets import of_target, release_waiting, target_lock
from warmup.ledger.outbox_views import ROW_COLUMNS, OutboxViews, outbox_row
from warmup.ledger.schema import MAILBOX, OUTBOX, OUTBOX_HOLD, POOL, SEND
from warmup.ledger.values import (
    Ask,
    Enqueued,
    MailboxRow,
    OutboxIn,
    OutboxRow,
    Parsed,
    RowExists,
    Snapshot,
    utc,
)

_T = TypeVar("_T")

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


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


@functools.cache
def _target_statement(kind: str) -> sa.Select[Any]:
    """Pool (``kind`` "pool") or mailbox ``:target``, if it exists, and whether a row of
    ``outbox_hold`` names it (in force or not: a queueing ends it either way)."""
    table = POOL if kind == "pool" else MAILBOX
    hold = OUTBOX_HOLD.c
    held = sa.exists().where(hold.kind == kind, hold.target == table.c.id)
    return sa.select(table.c.id, held.label("held")).where(
        table.c.id == sa.bindparam("target", type_=table.c.id.type)
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


@functools.cache
def _claim_statement(
    of: str | None,
    bulk_only: bool = False,
    unheld: bool = False,
    filtered: bool = False,
    skip: tuple[int, ...] = (),
) -> sa.Update:
    """Pick, stamp and read back the first due message (of pool ``:pool``, ``of`` "pool", or
    mailbox ``:mailbox``, "mailbox"; ``bulk_only``: a bulk one) in one statement (the worker
    claims once per message); built once, with the instants, worker and target as
    parameters. ``unheld``: only while no hold is in force by ``:due`` (of any target; of
    pool ``:pool``, ``of`` "pool"), tested in the statement itself (:func:`_held`): as its
    LIMIT (0 while one is), or, ``filtered``, as a term of its WHERE (see
    :attr:`OutboxStore._hold_filtered`)."""
    if of is None:
        ready = sa.and_(
            outbox_holds.QUEUED,  # a constant: see outbox_holds.QUEUED
            OUTBOX.c.next_attempt_at <= sa.bindparam("due", type_=OUTBOX.c.next_attempt_at.type),
            OUTBOX.c.expires_at > sa.bindparam("now", type_=OUTBOX.c.expires_at.type),
        )
    else:
        ready = outbox_holds.due((of, sa.bindparam(of)), bulk_only)  # type: ignore[arg-type]
    if unheld and filtered:
        ready = sa.and_(ready, ~_held(of))
    if skip:  # rows whose time cannot be read (a hand edit's): never claimed
        ready = sa.and_(ready, OUTBOX.c.id.not_in(skip))
    pick = (
        sa.select(OUTBOX.c.id)
        .where(ready)
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(sa.case((_held(of), 0), else_=1) if unheld and not filtered else 1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    now = sa.bindparam("now", type_=OUTBOX.c.updated_at.type)
    return (
        OUTBOX.update()
        .where(OUTBOX.c.id == pick)
        .values(
            state="sending",
            claimed_by=sa.bindparam("worker"),
            claimed_at=sa.bindparam("claimed", type_=OUTBOX.c.claimed_at.type),
            updated_at=now,
        )
        .returning(*ROW_COLUMNS, OUTBOX.c.data, _POOL_REV, _HAS_SLOTS)
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


def _held(of: str | None) -> sa.Exists:
    """A hold in force by ``:due`` (``of`` "pool": of pool ``:pool``): the claim's LIMIT is 0
    while one is. As a LIMIT, it is evaluated once before the claim reads the outbox, and a
    claim finding a hold reads no message: as a term of its WHERE, SQLite (3.40) tested it at
    every due message in turn (20 ms over 200,000 of a held pool). A probe of the hold
    table's key for a pool; else its rows, one a target held since its last queueing."""
    h = OUTBOX_HOLD.c
    q = sa.exists().where(h.held_until > sa.bindparam("due", type_=h.held_until.type))
    if of == "pool":
        q = q.where(h.kind == "pool", h.target == sa.bindparam("pool", type_=h.target.type))
    return q


# A claim while no hold is in force: the hold's test is part of its statement. Should one be
# in force, it claims nothing, and OutboxStore.claim reads the holds and claims around them.
# By whether the test is in the WHERE (OutboxStore._hold_filtered), of every target or a pool.
_CLAIMS = {
    filtered: (
        _claim_statement(None, unheld=True, filtered=filtered),
        _claim_statement("pool", unheld=True, filtered=filtered),
    )
    for filtered in (False, True)
}

# The mailbox among some with the latest send to one of some recipients (a pool's message
# stays with it), or of one of some Message-IDs (a thread's), by column name. Built once: the
# statement built for each message of a pool cost more than SQLite took to run it.
_LAST_OF = {
    column.name: sa.select(SEND.c.mailbox_id)
    .where(
        column.in_(sa.bindparam("values", expanding=True)),
        SEND.c.mailbox_id.in_(sa.bindparam("ids", expanding=True)),
        SEND.c.outcome != "released",
    )
    .order_by(SEND.c.at.desc())
    .limit(1)
    for column in (SEND.c.recipient, SEND.c.message_id)
}


class OutboxStore(OutboxViews):
    """The outbox (see the module docstring)."""

    # Whether this ledger's last claim found a hold in force (see claim): which of its two
    # ways the next claim tries first. Either way claims the same message.
    _claim_held = False
    # Whether the claim tests the holds in its WHERE (an uncorrelated NOT EXISTS: PostgreSQL
    # evaluates it once, as a one-time filter, and plans the claim for its LIMIT 1) rather
    # than in its LIMIT (SQLite 3.40 tested such a term at every due message in turn: 20 ms
    # over 200,000 of a held pool). PostgreSQL cannot estimate a LIMIT that is a subquery:
    # it planned the claim for a tenth of the due messages, a scan and sort of all of them.
    _hold_filtered = False

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def _read_all(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _mailbox(self, conn: Connection, address: str) -> MailboxRow: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...
        def clock_offset(self) -> dt.timedelta | None: ...
        def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None: ...
        def _released(self, conn: Connection, box: MailboxRow, sid: int, day: dt.date) -> None: ...
        def _histories_on(
            self, conn: Connection, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
        ) -> list[Snapshot]: ...
        def _insert(self, table: sa.Table) -> Any: ...
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
            found = conn.execute(_target_statement(kind), {"target": tid}).first()
            if found is None:
                raise DataError(
                    f"the {kind} these messages are queued to was removed meanwhile; nothing "
                    f"was queued: see 'warmup {kind} list'"
                )
            # A new message ends its target's hold: the next pass asks the plan about it (and
            # holds the target again, one row) rather than passing over it without a word.
            # Whether it has one is read with the target: the DELETE only when it does.
            if found.held:
                outbox_holds.end_hold(conn, (kind, tid))
            checked.add((kind, tid))

    def enqueue(
        self,
        items: Iterable[OutboxIn],
        now: dt.datetime,
        committing: Callable[[], object] | None = None,
    ) -> Enqueued:
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
        messages pointing at nothing. ``committing``: called once they are written, before the
        COMMIT."""
        stamp = utc(now)

        def body(conn: Connection) -> Enqueued:
            out = self._enqueue(conn, items, stamp)
            if committing is not None:
                committing()
            return out

        try:
            if isinstance(items, Iterator):  # read once: never written twice, nor made again
                with self.write() as conn:
                    return body(conn)
            # Cut as it commits, a message queued unseen was queued again by the retry (the
            # relay's 451; 'queue add' run again on 75), under a new Message-ID where warmup
            # drew it: sent twice. Items read anew at each iteration are queued again only if
            # not: the ids it wrote, given to no other transaction, tell (no round trip more on
            # the relay's).
            return self.write_once(body, lambda conn, out: not out.ids or _exists(conn, out.ids[0]))
        except RowExists as exc:
            # Queued by another process (a host, a relay) between this one's look and its
            # insert: said as the look says it, nothing of this queueing written.
            if (exc.table, exc.column) != (OUTBOX.name, "message_id"):
                raise
            with self.read() as conn:
                found = conn.execute(
                    sa.select(OUTBOX.c.message_id, OUTBOX.c.id, OUTBOX.c.state).where(
                        OUTBOX.c.message_id == exc.value
                    )
                ).first()
            if found is None:  # gone again meanwhile (a removal): the server's words stand
                raise
            raise _queued_already(found) from None

    def _enqueue(self, conn: Connection, items: Iterable[OutboxIn], stamp: dt.datetime) -> Enqueued:
        """:meth:`enqueue`, in its transaction."""
        out = Enqueued()
        locked: set[tuple[str, int | None, int | None]] = set()
        checked: set[tuple[str, int]] = set()
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
                raise _queued_already(found)
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
                    sa.select(OUTBOX.c.message_id, OUTBOX.c.id).where(OUTBOX.c.message_id.in_(mids))
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
        # Cut (a pass's first write), ``run --once`` exited 75 and sent nothing: made again on
        # a new connection, or (cut in its COMMIT) asked of the server.
        return self.write_once(
            lambda conn: int(
                conn.execute(
                    OUTBOX.update()
                    .where(outbox_holds.QUEUED, OUTBOX.c.expires_at <= utc(now))
                    .values(state="expired", updated_at=utc(now))
                ).rowcount
            )
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
        A shared ledger's claim is stamped on its server's clock (``now`` plus
        :meth:`clock_offset`): the workers of other hosts judge its age (:meth:`claims`), and
        a host whose clock ran ahead took a live worker's message for a dead one's.
        ``settle``: the outcome of ``worker``'s previous message (:meth:`settle_message`),
        written in the same transaction (one commit a message fewer; kept whether or not a
        message is claimed)."""
        claimed = _on_server(utc(now), self.clock_offset())
        params = {
            "due": utc(due or now),
            "now": utc(now),
            "claimed": claimed,
            "worker": worker,
            "pool": pool_id,
        }

        def body(conn: Connection) -> OutboxRow | None:
            if settle is not None:
                conn.execute(*_settle_statement(worker, settle))
            skip = self._outbox_skip
            of = "pool" if pool_id is not None else None
            take = (
                _claim_statement(of, unheld=True, filtered=self._hold_filtered, skip=skip)
                if skip
                else _CLAIMS[self._hold_filtered][pool_id is not None]
            )
            return self._claim(conn, take, params, pool_id, due or now)

        def landed(conn: Connection, row: OutboxRow | None) -> bool:
            if row is not None:  # claimed: by this very claim (its stamp), or not at all
                return _holds(conn, row.id, worker, claimed)
            return settle is None or not _holds(conn, settle.message, worker)

        # A claim cut in its COMMIT's round trip and committed unseen left its message
        # "sending" for a worker that exited 75 (and the outcome it carried written or not).
        # A message whose time cannot be read (a hand edit's 'garbage') is left out, never sent:
        # when it is due no reader can tell (it was a traceback, the worker stopped).
        return self._tolerant(lambda _: self.write_once(body, landed))

    def _claim(
        self,
        conn: Connection,
        take: Any,
        params: dict[str, Any],
        pool_id: int | None,
        due: dt.datetime,
    ) -> OutboxRow | None:
        """:meth:`claim`'s claim, in its transaction."""
        tried = not self._claim_held
        if tried:  # one statement: the claim, which tests the holds itself
            row = conn.execute(take, params).first()
            if row is not None:
                return outbox_row(row, True)
        # None due, or a hold in force: the holds read (once a pass when none is), and the
        # claim made around them.
        held = outbox_holds.holds(conn, utc(due))
        if pool_id is not None:
            held = {t: h for t, h in held.items() if t == ("pool", pool_id)}
        # While a hold is in force, the next claim reads the holds first (the claim that
        # tests them would find one again and claim nothing: a statement for nothing).
        self._claim_held = bool(held)
        if held:
            row = _claim_around(conn, held, params, pool_id, self._outbox_skip)
        elif not tried:
            row = conn.execute(take, params).first()
        else:  # none due and none held: what the claim found (PostgreSQL: a hold ended
            row = None  # since the claim's snapshot ended after it, for this claim)
        return None if row is None else outbox_row(row, True)

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
        backoff: bool = False,
        fault: int = 0,
    ) -> bool:
        """The claimed message's outcome, written only if ``worker`` still holds the claim
        (whether it did). ``queued`` puts it back for ``next_attempt_at`` (``attempt``: this
        try counts towards the back-off), with the ``recipients`` still to deliver, and clears
        :meth:`via_overflow`'s mark (its next try may go from a member). ``backoff``: a
        recipient's server deferred it, and it backs off until ``next_attempt_at`` whatever
        changes meanwhile in its mailboxes' plan (:func:`release_waiting` leaves it).
        ``fault``: the exit code of the fault a person must fix that it waits for, every
        member having failed for one (:meth:`fault_holds`; 0: none)."""
        settle = Settle(
            message,
            state,
            now,
            reply,
            sent_by,
            next_attempt_at,
            attempt,
            recipients,
            backoff,
            fault,
        )
        return self.write_once(
            lambda conn: bool(conn.execute(*_settle_statement(worker, settle)).rowcount),
            lambda conn, held: not held or not _holds(conn, message, worker),
        )

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

    def claims(self) -> list[tuple[int, str, dt.datetime | None]]:
        """(message id, worker, claimed at) of every message being sent, claimed at on this
        host's clock (a shared ledger's stamp, on its server's, less :meth:`clock_offset`):
        a claim's age is ``now`` minus it, whatever the clock of the host that claimed it."""
        rows = self._read_all(
            sa.select(OUTBOX.c.id, OUTBOX.c.claimed_by, OUTBOX.c.claimed_at).where(
                outbox_holds.SENDING  # a constant, as the claim's: see outbox_holds.QUEUED
            )
        )
        off = (self.clock_offset() if rows else None) or dt.timedelta(0)
        return [
            (r.id, r.claimed_by or "", r.claimed_at if r.claimed_at is None else r.claimed_at - off)
            for r in rows
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
                "backoff_until": None,  # a back-off ends with the next try, this one
                "fault": None,  # and so does a wait for a fault
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
        """The ``(pool_id, None)`` of each pool, ``(None, mailbox_id)`` of each mailbox, with
        queued messages :meth:`claim` would take by ``due`` (of pool ``pool_id``): a held
        target is not (see :mod:`~warmup.ledger.outbox_holds`). One probe of an index a
        target, not a read of every due message."""
        with self.read() as conn:
            held = outbox_holds.holds(conn, due)
            if pool_id is None:
                targets = outbox_holds.first_due_each(conn, due, now, held)
                return outbox_holds.sorted_targets(targets)
            hold = held.get(("pool", pool_id))
            if hold is not None and hold.bulk:
                return []
            ready = outbox_holds.due(("pool", pool_id), hold is not None)
            q = sa.select(OUTBOX.c.id).where(ready).limit(1)
            found = conn.execute(q, {"due": utc(due), "now": utc(now)}).first()
            return [] if found is None else [(pool_id, None)]

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
    ) -> None:
        """Hold pool ``pool_id`` (or mailbox ``mailbox_id``) until ``until``, saying ``why``:
        none of its messages is claimed before (``keep_bulk``: but its bulk ones, which the
        pool's overflow channel may take). One row, whatever the backlog
        (:mod:`~warmup.ledger.outbox_holds`); the messages are not written, nor counted
        (:meth:`held_waiting` counts them, for a line that says how many wait). A message
        whose expiry comes first expires at the first pass past it, as it did. ``due``: the
        pass's instant (the messages due by it are the ones held now)."""
        target = outbox_holds.target_of(pool_id, mailbox_id)
        with self.write() as conn:
            insert = self._insert(OUTBOX_HOLD)
            outbox_holds.set_hold(conn, insert, target, until, why, not keep_bulk, now)

    def held_waiting(
        self,
        due: dt.datetime,
        *,
        pool_id: int | None = None,
        mailbox_id: int | None = None,
        keep_bulk: bool = False,
    ) -> int:
        """How many queued messages of pool ``pool_id`` (or mailbox ``mailbox_id``) due by
        ``due`` a hold holds (``keep_bulk``: its bulk ones left out): counted on the target's
        indexes alone, every due one (``ix_outbox_pool_due``, ``ix_outbox_box_due``) less the
        bulk ones (``ix_outbox_pool_bulk``; their rows were read for their mark), one that
        expired since ``due`` among them (the next pass expires it). The count reads the
        whole due backlog: it was made at every hold, and is now made only for a line or a
        caller that says how many wait."""
        target = outbox_holds.target_of(pool_id, mailbox_id)

        def count(bulk_only: bool) -> Any:
            ready = outbox_holds.due(target, bulk_only, counted=True)
            return sa.select(sa.func.count()).where(ready).scalar_subquery()

        q = sa.select(count(False) - count(True) if keep_bulk else count(False))
        ((held,),) = self._read_all(q, {"due": utc(due)})
        return int(held or 0)

    def queued_count(self, pool_id: int | None = None) -> int:
        """How many messages are queued (of pool ``pool_id``; None: of every pool and
        mailbox), whatever their time, held or not: what a worker serving them waits on. One
        count on an index alone (the queued messages' entries), read for a line a
        worker says, never per message."""
        q = sa.select(sa.func.count()).where(outbox_holds.QUEUED)
        if pool_id is not None:
            q = q.where(OUTBOX.c.pool_id == pool_id)
        ((n,),) = self._read_all(q)
        return int(n or 0)

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
            return self._last_on(conn, column.name, values, mailbox_ids)

    def _last_on(
        self, conn: Connection, column: str, values: list[str], mailbox_ids: Sequence[int]
    ) -> int | None:
        if not values or not mailbox_ids:
            return None
        return conn.execute(_LAST_OF[column], {"values": values, "ids": list(mailbox_ids)}).scalar()

    def pool_look(
        self,
        threads: list[str],
        recipients: list[str],
        mailbox_ids: Sequence[int],
        asks: Sequence[tuple[MailboxRow, Ask]] | None,
        as_of: dt.datetime,
        kept: Parsed | None = None,
    ) -> tuple[int | None, list[Snapshot] | None]:
        """The worker's look at a pool's members before a message, in one read transaction:
        the member among ``mailbox_ids`` the message stays with (:meth:`thread_sender` of
        ``threads``, else :meth:`last_sender` of ``recipients``), else None and, with ``asks``
        (the members with what their policies ask), their :meth:`histories` at ``as_of``.
        Asked in two transactions, a pool's message cost a fifth more CPU than in one. On
        SQLite it is one statement, in no transaction (:mod:`warmup.ledger.sqlite_look`);
        ``kept``: the members' snapshots kept between looks, as
        :func:`~warmup.ledger.sqlite_look.look_snapshots` takes them (one statement only)."""
        with self.read() as conn:
            stays = self._last_on(conn, "message_id", threads, mailbox_ids)
            if stays is None:
                stays = self._last_on(conn, "recipient", recipients, mailbox_ids)
            if stays is not None or asks is None:
                return stays, None
            return None, self._histories_on(conn, asks, as_of)

    # -- seeing it ---------------------------------------------------------------------------

    def release(self, mailbox: MailboxRow, now: dt.datetime) -> None:
        """Make the messages waiting for ``mailbox`` (queued to it, or to a pool it is in) due
        ``now``: after a change outside the ledger that may let them go (a login stored in the
        keyring), as :func:`release_waiting` does in a change's own transaction. Cut, made
        again on a new connection (``mailbox login`` exited 75 with the login stored)."""
        self.write_once(lambda conn: release_waiting(conn, [mailbox.id], now))


def _claim_around(
    conn: Connection,
    held: dict[tuple[str, int], outbox_holds.Hold],
    params: dict[str, Any],
    pool_id: int | None,
    skip: tuple[int, ...] = (),
) -> Any:
    """:meth:`OutboxStore.claim`'s row while some targets are held: of pool ``pool_id``
    unless it is held, else of the first target not held with a due message (each asked for
    its first one), the first one claimed within it (another worker may have taken its
    last: then the next target's)."""
    if pool_id is not None:
        hold = held.get(("pool", pool_id))
        if hold is not None and hold.bulk:
            return None
        take = _claim_statement("pool", hold is not None, skip=skip)
        return conn.execute(take, params).first()
    for kind, tid in outbox_holds.first_due_each(conn, params["due"], params["now"], held):
        only_bulk = ("pool", tid) in held and kind == "pool"
        take = _claim_statement(kind, only_bulk, skip=skip)
        row = conn.execute(take, {**params, kind: tid}).first()
        if row is not None:
            return row
    return None


def _queued_already(found: sa.Row[Any, Any, Any]) -> DataError:
    """The refusal of a message whose Message-ID the outbox has (``found``: its message_id,
    id and state)."""
    return DataError(
        f"message {found.message_id} is in the outbox already (message {found.id}, "
        f"{found.state}); a message is queued once: give it a new Message-ID"
    )


def _exists(conn: Connection, message: int) -> bool:
    """Whether the outbox has message ``message``."""
    return conn.execute(sa.select(OUTBOX.c.id).where(OUTBOX.c.id == message)).first() is not None


def _holds(conn: Connection, message: int, worker: str, claimed: dt.datetime | None = None) -> bool:
    """Whether ``worker`` holds the claim on ``message`` (made at ``claimed``, if given)."""
    o = OUTBOX.c
    stmt = sa.select(o.id).where(o.id == message, o.state == "sending", o.claimed_by == worker)
    if claimed is not None:
        stmt = stmt.where(o.claimed_at == claimed)
    return conn.execute(stmt).first() is not None


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
    backoff: bool = False  # a recipient's 4xx: backs off until next_attempt_at, released or not
    fault: int = 0  # queued for a fault a person must fix: its exit code (0: none)


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
    if s.fault and s.state == "queued" and s.next_attempt_at is not None:
        params["fault"] = s.fault
    optional = tuple(k for k in _SETTLE_OPTIONAL if k in params)
    backoff = s.backoff and s.state == "queued" and s.next_attempt_at is not None
    return _settle_shape(optional, s.state == "queued", s.attempt, backoff), params


def _on_server(now: dt.datetime, offset: dt.timedelta | None) -> dt.datetime:
    """``now`` (aware UTC) on the ledger server's clock. By arithmetic on a naive copy: a
    pendulum instant whose zone is the standard library's UTC (what :func:`utc` makes of one)
    came out of ``+ timedelta`` naive, and the claim was refused ("naive datetime")."""
    if not offset:
        return now
    return (now.replace(tzinfo=None) + offset).replace(tzinfo=dt.UTC)


_SETTLE_OPTIONAL = (
    "last_reply",
    "sent_by",
    "next_attempt_at",
    "recipients",
    "rcpt_count",
    "fault",
)


@functools.cache
def _settle_shape(
    optional: tuple[str, ...], queued: bool, attempt: bool, backoff: bool
) -> sa.Update:
    now = sa.bindparam("now", type_=OUTBOX.c.updated_at.type)
    values: dict[str, Any] = {
        "state": sa.bindparam("state"),
        "claimed_by": None,
        "claimed_at": None,
        "updated_at": now,
        # Written by every settlement, so that a back-off never outlives the try it followed,
        # nor a fault the wait it came with (a later wait for quota is no fault)
        "backoff_until": None,
        "fault": None,
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
    if backoff:
        values["backoff_until"] = values["next_attempt_at"]
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


def _chunks(items: Iterable[OutboxIn], size: int) -> Iterator[list[OutboxIn]]:
    chunk: list[OutboxIn] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
