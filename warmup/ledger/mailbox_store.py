"""Mailboxes in the ledger (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core
statements both backends run): registering one, reading one or all (with the ``rev`` a gate
compares), changing its settings (a new time zone re-derives the local days of its history; a
new policy or cap is an event the walk judges by), how much history it holds, and removing it,
refused while the outbox or the gate may still need it (:mod:`warmup.ledger.outbox_targets`'
refusals, a reservation in flight, the last member of a pool with queued messages).
"""

from __future__ import annotations

import datetime as dt
import secrets
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, TempFail
from warmup.ledger import holders
from warmup.ledger.matching import send_day_of
from warmup.ledger.outbox_holds import end_holds
from warmup.ledger.outbox_targets import (
    bump_pools,
    refuse_in_doubt,
    refuse_while_queued,
    release_waiting,
    target_lock,
)
from warmup.ledger.schema import (
    BOUNCE,
    COUNTED,
    DAY_STAT,
    DOMAIN_DAY,
    EVENT,
    MAILBOX,
    OUTBOX,
    POLICY,
    POOL,
    POOL_MEMBER,
    RECORDED_KINDS,
    SEND,
    SYNC_STATE,
    TIMELINE_CACHE,
    WALK_MEMO,
)
from warmup.ledger.values import (
    EventIn,
    MailboxExists,
    MailboxNotFound,
    MailboxRemoved,
    MailboxRow,
    local_day,
    mailbox_key,
    mailbox_row,
    readable,
    seen_by,
    utc,
)
from warmup.policy.eras import cap_reason, policy_reason

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


# The times as stored, converted by values.mailbox_row: SQLAlchemy's own conversion of a date
# a hand edit left in SQLite ('notadate') was a traceback from every command reading mailboxes.
MAILBOX_COLUMNS = tuple(
    sa.type_coerce(MAILBOX.c[f], sa.String).label(f)
    if f in ("started", "created_at")
    else MAILBOX.c[f]
    for f in MailboxRow._fields
)


_B = sa.bindparam
_T = TypeVar("_T")


def new_mailbox_rev() -> int:
    """The ``rev`` a new mailbox starts at: random, not 0. Before m015 SQLite gave the id of a
    removed mailbox (the newest) to the next one, and what is kept by mailbox id and ``rev`` (a
    running worker's gates, a gate's kept rows, walk memos) would take the new mailbox for the
    removed one if both counted from 0 (a second guard since ids are never reused). Drawn above the small counts of the mailboxes of older ledgers
    (which start at 0) and below 2**30 + 2**24, so the +1 of each change stays within
    PostgreSQL's INTEGER for a billion changes: the chance that a new mailbox meets a removed
    one's rev is about one in a billion per id reused (the pools' tags, BIGINT, are 62 bits)."""
    return (1 << 24) + secrets.randbelow(1 << 30)


# How long a reservation not settled is taken for a message being sent (the gate's default
# expiry, warmup.gate.DEFAULT_EXPIRY): after it, for a process that died.
IN_FLIGHT = dt.timedelta(minutes=15)


def _history_counts(conn: Connection, mailbox_id: int) -> tuple[int, int]:
    """:meth:`Ledger.history_counts` in ``conn``'s transaction."""
    sends, bounces = (
        conn.execute(
            sa.select(sa.func.count()).select_from(t).where(t.c.mailbox_id == mailbox_id, *w)
        ).scalar_one()
        for t, w in ((SEND, (COUNTED,)), (BOUNCE, ()))
    )
    return int(sends), int(bounces)


class MailboxStore:
    """Mailboxes (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...
        def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None: ...
        def _event(self, conn: Connection, box: MailboxRow, e: EventIn, once: bool) -> bool: ...
        def _rebuild_rollup(self, conn: Connection, ids: Sequence[int]) -> None: ...
        def _removals_after_sends_deleted(self, conn: Connection) -> None: ...

    def add_mailbox(
        self,
        address: str,
        provider: str,
        timezone: str,
        policy: str = "default",
        *,
        created_at: dt.datetime | None = None,
        conn: Connection | None = None,
        **settings: Any,
    ) -> MailboxRow:
        """Register a mailbox (in ``conn``'s transaction when given, e.g. an import's)."""
        if conn is None:
            # Cut in its COMMIT's round trip, the mailbox may be in: asked of the server (before:
            # exit 75, and run again, "mailbox ... exists already" for the one it had added).
            return self.write_once(
                lambda c: self.add_mailbox(
                    address, provider, timezone, policy, created_at=created_at, conn=c, **settings
                )
            )
        # Hosts adding one address at once take turns: else both find it free and the second
        # insert dies of the unique constraint (SQLite's write lock already serialises them).
        self._lock_name(conn, f"mailbox {address}")
        if conn.execute(sa.select(MAILBOX.c.id).where(MAILBOX.c.address == address)).first():
            raise MailboxExists(address)
        conn.execute(
            MAILBOX.insert().values(
                address=address,
                provider=provider,
                timezone=timezone,
                policy=policy,
                created_at=utc(created_at or dt.datetime.now(dt.UTC)),
                rev=new_mailbox_rev(),
                **settings,
            )
        )
        return self._mailbox(conn, address)

    def _mailbox(self, conn: Connection, address: str) -> MailboxRow:
        key = mailbox_key(address)
        r = conn.execute(sa.select(*MAILBOX_COLUMNS).where(MAILBOX.c.address == key)).first()
        if r is None:
            raise MailboxNotFound(key, conn.execute(sa.select(MAILBOX.c.address)).scalars())
        return readable(mailbox_row(r))

    def _lock_present(self, conn: Connection, boxes: Iterable[MailboxRow]) -> None:
        """Lock these mailboxes' rows (:meth:`_lock_mailboxes`), then :class:`MailboxRemoved`
        for one that is gone: read before the lock (by this transaction, an import's earlier
        batch, a bounce sync's start), it may have been removed since by another command or
        host, and a row naming it died of the foreign key (a traceback, exit 1)."""
        wanted = {b.id: b for b in boxes}
        self._lock_mailboxes(conn, wanted)
        there = set(conn.execute(sa.select(MAILBOX.c.id).where(MAILBOX.c.id.in_(wanted))).scalars())
        for box_id in sorted(wanted.keys() - there):
            raise MailboxRemoved(wanted[box_id].address)

    def mailbox(self, address: str) -> MailboxRow:
        """The mailbox, or :class:`MailboxNotFound` saying how to add it."""
        with self.read() as conn:
            return self._mailbox(conn, address)

    def mailbox_rev(self, address: str) -> tuple[MailboxRow, int]:
        """The mailbox and its ``rev``, read together: ``rev`` goes up with every change to the
        mailbox or to the stored policy it names (and with other writes a walk memo depends
        on), so a gate that finds another rev in its reservation knows to look again."""
        key = mailbox_key(address)
        with self.read() as conn:
            r = conn.execute(
                sa.select(*MAILBOX_COLUMNS, MAILBOX.c.rev).where(MAILBOX.c.address == key)
            ).first()
            if r is None:
                raise MailboxNotFound(key, conn.execute(sa.select(MAILBOX.c.address)).scalars())
            return readable(mailbox_row(r[:-1])), int(r[-1])

    def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, by address."""
        with self.read() as conn:
            return [
                mailbox_row(r)
                for r in conn.execute(sa.select(*MAILBOX_COLUMNS).order_by(MAILBOX.c.address))
            ]

    def update_mailbox(self, address: str, **values: Any) -> MailboxRow:
        """Change settings; a new time zone re-derives the local days of the mailbox's history.

        Any change may change the walk, so the mailbox's memos stop being valid.
        """
        # Cut in its COMMIT's round trip, the change may be in: asked of the server (before:
        # exit 75, and run again, a cap's change marked twice in the mailbox's history).
        return self.write_once(lambda conn: self._update_mailbox(conn, address, values))

    def _update_mailbox(self, conn: Connection, address: str, values: dict[str, Any]) -> MailboxRow:
        """:meth:`update_mailbox`, in its transaction."""
        box = self._mailbox(conn, address)
        self._lock_mailboxes(conn, [box.id])
        conn.execute(
            MAILBOX.update().where(MAILBOX.c.id == box.id).values(rev=MAILBOX.c.rev + 1, **values)
        )
        release_waiting(conn, [box.id], dt.datetime.now(dt.UTC))  # on the new settings
        if values.get("policy", box.policy) != box.policy:
            # As 'policy set' does: reports show the day, running gates load the new one.
            # The walk judges the days before under the policy followed until now.
            name, was = values["policy"], box.policy
            newest = sa.select(sa.func.max(POLICY.c.version)).where(POLICY.c.name == _B("n"))
            version = conn.execute(newest, {"n": name}).scalar()
            before = conn.execute(newest, {"n": was}).scalar()
            why = policy_reason(name, version, (was, before))
            self._event(conn, box, EventIn("policy", dt.datetime.now(dt.UTC), why), False)
        if "cap" in values and values["cap"] != box.cap:
            # As a policy change: the days before keep the cap they were judged under.
            why = cap_reason(values["cap"], box.cap)
            self._event(conn, box, EventIn("cap", dt.datetime.now(dt.UTC), why), False)
        if "timezone" in values and values["timezone"] != box.timezone:
            for table in (SEND, BOUNCE):
                rows = conn.execute(
                    sa.select(table.c.id, table.c.at).where(table.c.mailbox_id == box.id)
                ).all()
                if rows:
                    conn.execute(
                        table.update().where(table.c.id == _B("rid")).values(day=_B("newday")),
                        [
                            {"rid": r.id, "newday": local_day(r.at, values["timezone"])}
                            for r in rows
                        ],
                    )
            conn.execute(  # the days of the sends its bounces answer moved with them
                BOUNCE.update()
                .where(BOUNCE.c.mailbox_id == box.id, BOUNCE.c.send_id.is_not(None))
                .values(send_day=send_day_of(BOUNCE.c.send_id))
            )
            self._rebuild_rollup(conn, [box.id])
        return self._mailbox(conn, address)

    def history_size(self, box: MailboxRow) -> int:
        """How many sends and bounces the mailbox's history holds."""
        return sum(self.history_counts(box))

    def history_counts(self, box: MailboxRow) -> tuple[int, int]:
        """The sends and the bounces the mailbox's history holds. A slot given back before
        anything left (``released``) is no send: it counts nowhere else either."""
        with self.read() as conn:
            return _history_counts(conn, box.id)

    def sends_ahead(self, box: MailboxRow, now: dt.datetime) -> tuple[int, dt.datetime | None]:
        """How many of the mailbox's sends are stamped after ``now`` + CLOCK_SKEW, and the
        latest of them (None: none): stamped by a clock ahead of ``now``'s, or ``now``'s is
        behind (a host set back). Later today they count at once; on a later local day they
        are that day's, so a host a day behind sends today's quota again."""
        with self.read() as conn:
            n, latest = conn.execute(
                sa.select(sa.func.count(), sa.func.max(SEND.c.at)).where(
                    SEND.c.mailbox_id == box.id, COUNTED, SEND.c.at > seen_by(now)
                )
            ).one()
        return int(n), None if latest is None else utc(latest)

    def unknown_kinds(self, box: MailboxRow) -> list[tuple[int, str, bool]]:
        """The mailbox's bounces of a kind this version lacks (a newer version's, a hand
        edit), by row id: ``(id, kind as stored, counted)``. A counted one is in the bounce
        rate as :func:`~warmup.ledger.reads.rate_kind` reads it, and nothing says so on the
        way: ``warmup doctor`` names them (every bounce of the mailbox read, once)."""
        b = BOUNCE.c
        with self.read() as conn:
            rows = conn.execute(
                sa.select(b.id, b.kind, b.counted)
                .where(b.mailbox_id == box.id, b.kind.not_in(RECORDED_KINDS))
                .order_by(b.id)
            ).all()
        return [(int(i), str(k), bool(c)) for i, k, c in rows]

    def _refuse_last_member(self, conn: Connection, box_id: int, address: str) -> None:
        """:class:`DataError` when the mailbox is the only member of a pool with queued
        messages: removed, it would leave them held with no one to send them."""
        other = POOL_MEMBER.alias("other")
        alone = (
            sa.select(POOL.c.id, POOL.c.name)
            .join(POOL_MEMBER, POOL_MEMBER.c.pool_id == POOL.c.id)
            .where(POOL_MEMBER.c.mailbox_id == box_id)
            .where(~sa.exists().where(other.c.pool_id == POOL.c.id, other.c.mailbox_id != box_id))
            .order_by(POOL.c.name)
        )
        row = None
        for pool_id, name in conn.execute(alone).all():
            n = conn.execute(
                sa.select(sa.func.count()).where(
                    OUTBOX.c.pool_id == pool_id, OUTBOX.c.state == "queued"
                )
            ).scalar_one()
            if n:
                row = (name, n)
                break
        if row is not None:
            from warmup.words import plural

            name = shlex.quote(row[0])
            raise DataError(
                f"mailbox {address} is the only member of pool {row[0]}, which has "
                f"{plural(row[1], 'queued message')}; add another member first "
                f"('warmup pool add {name} ADDRESS'), or add --force to remove it anyway (the "
                f"pool's messages then wait for a member)"
            )

    def remove_mailbox(self, address: str, force: bool = False, *, history: bool = True) -> int:
        """Delete the mailbox and its history (suppressions stay: they protect every mailbox),
        and take it out of its pools. Refused while messages queued to it alone wait, unless
        ``force``, which cancels them (how many it returns), as :meth:`remove_pool` does;
        refused while one of them is being sent. ``history`` False: refused while it has sends
        or bounces."""
        # Cut in its COMMIT's round trip, the mailbox may be gone: asked of the server (before:
        # exit 75, and run again, "mailbox ... not found" for the one it had removed).
        return self.write_once(lambda conn: self._remove_mailbox(conn, address, force, history))

    def _remove_mailbox(self, conn: Connection, address: str, force: bool, history: bool) -> int:
        """:meth:`remove_mailbox`, in its transaction."""
        box = self._mailbox(conn, address)
        # Removed while this waited for its row (another host's remove): said so, as a
        # second "Removed" removed nothing.
        self._lock_present(conn, [box])
        self._lock_name(conn, target_lock("mailbox", box.id))  # see enqueue
        sends, bounces = _history_counts(conn, box.id)
        if (sends or bounces) and not history:
            from warmup.words import plural

            held = " and ".join(
                plural(n, what) for n, what in ((sends, "send"), (bounces, "bounce")) if n
            )
            raise DataError(
                f"mailbox {box.address} has {held} in its history; add --force to delete them too"
            )
        refuse_while_queued(
            conn, OUTBOX.c.mailbox_id == box.id, f"mailbox {box.address}", "mailbox", force
        )
        if not force:  # a pool it is the last member of: its queue could go from no one
            self._refuse_last_member(conn, box.id, box.address)
        # A message the gate reserved a slot for and is sending now (warmup send, a script's
        # relay, a library caller): its settlement, a hard bounce included, would find no
        # row and be lost. A reservation older than the gate's expiry is a dead process's,
        # and so is one whose process is gone from this host (warmup.ledger.holders).
        since = dt.datetime.now(dt.UTC) - IN_FLIGHT
        reserved = (
            SEND.c.mailbox_id == box.id,
            SEND.c.outcome == "reserved",
            SEND.c.at >= since,
        )
        flying = conn.execute(sa.select(sa.func.count()).where(*reserved)).scalar_one()
        if flying:  # (the common case, none, reads no holder)
            s = SEND.c
            holding = sa.select(s.holder_host, s.holder_pid, s.holder_start).where(*reserved)
            flying = sum(not holders.dead(*h) for h in conn.execute(holding))
        if flying:
            from warmup.words import plural

            raise TempFail(
                f"mailbox {box.address}: the gate is sending {plural(flying, 'message')} "
                f"for it now (reserved in the last {IN_FLIGHT.seconds // 60} minutes, not "
                f"yet settled); try again once they are settled"
            )
        refuse_in_doubt(conn, box.id, box.address)  # a dead worker's, or unknown
        # Its pools change: a worker's copy of one must not offer it the next message.
        bump_pools(
            conn,
            POOL.c.id.in_(
                sa.select(POOL_MEMBER.c.pool_id).where(POOL_MEMBER.c.mailbox_id == box.id)
            ),
        )
        end_holds(conn, [box.id])  # its own, and its pools' (their members change)
        conn.execute(POOL_MEMBER.delete().where(POOL_MEMBER.c.mailbox_id == box.id))
        cancelled = conn.execute(
            OUTBOX.update()
            .where(OUTBOX.c.mailbox_id == box.id, OUTBOX.c.state == "queued")
            .values(
                state="cancelled",
                last_reply=f"mailbox {box.address} removed",
                updated_at=dt.datetime.now(dt.UTC),
            )
        ).rowcount
        sends = 0
        for table in (
            BOUNCE,
            SEND,
            EVENT,
            DAY_STAT,
            DOMAIN_DAY,
            SYNC_STATE,
            WALK_MEMO,
            TIMELINE_CACHE,
        ):
            gone = conn.execute(table.delete().where(table.c.mailbox_id == box.id)).rowcount
            sends += gone if table is SEND else 0
        if sends:  # else no removal's mark can be above the sends left
            self._removals_after_sends_deleted(conn)
        conn.execute(MAILBOX.delete().where(MAILBOX.c.id == box.id))
        return int(cancelled)
