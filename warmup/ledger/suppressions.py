"""Suppression: the addresses no mailbox mails again (a hard bounce's, a complaint's, a list
given by a person), a mixin of :class:`warmup.ledger.Ledger` (through
:class:`~warmup.ledger.records.Records`), on SQLAlchemy Core statements both backends run.

A suppression taken back (:meth:`Suppressions.unsuppress`) is remembered (``suppression_removal``):
the sends to the address before it no longer make a soft streak (:meth:`soft_bounced_sends`).
The gate reads neither: a removal costs a send nothing.

"Before" is by the ledger's order, not by a clock: a removal keeps the highest send id the
ledger held (``last_send_id``), and the sends at or below it are set aside. ``removed_at`` is
stamped by the operator's host and a send's ``at`` by its sender's; compared, a sender's clock
two minutes ahead had the sends made before a removal counted after it (the next sync with
``--suppress-soft`` suppressed again the address just taken back), one behind set aside sends
made after it. Send ids grow with insertion on both backends (a PostgreSQL sequence; SQLite's
max(id) + 1, which is why :meth:`_removals_after_sends_deleted` keeps the mark at or below the
highest id present), and ``warmup db copy`` keeps them. A send recorded after a removal but not
made by the gate (``record send``, ``import``: a log's row, dated by that log) counts only when
also dated after it: an old log imported later is no news of the address since. A removal
made before m026 (no mark) is judged by ``removed_at``, as it was. A message's retry takes a
slot of its own (a new id), even where its earlier try's slot was given back unsent
(``released``): a retry after a removal counts after it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import ConnectionCut
from warmup.ledger.schema import (
    BOUNCE,
    COUNTED,
    MAILBOX,
    SEND,
    SUPPRESSION,
    SUPPRESSION_REMOVAL,
    UTCDateTime,
)
from warmup.ledger.values import SuppressCount, sql_limit, utc, wall_clock

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


# A send the gate made (as opposed to one recorded or imported, dated by its log).
_GATE_SOURCE = "gate"
_T = TypeVar("_T")
# What :meth:`Suppressions._staged` runs in its write transaction: a count of what it wrote.
_Write = Callable[[Connection], int]
# Entries per batch staged (:meth:`Suppressions.suppress_many`).
_SUPPRESS_BATCH = 10_000
# Taken by a removal (exclusive) and by a write of streaks read before it (shared): on
# PostgreSQL the streaks' check of the removals and their INSERT are one step to a removal
# (SQLite's write lock already makes them one).
_REMOVALS_LOCK = "suppression removals"

# Where :meth:`Suppressions.suppress_many` stages its entries: a TEMP table of its connection
# (no part of the ledger's schema, never migrated), ordered for its write once filled.
_STAGE = sa.Table(
    "suppression_stage",
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("address", sa.String, nullable=False),
    sa.Column("reason", sa.String),
    sa.Column("mailbox_id", sa.Integer),
    sa.Column("since", sa.Integer),  # the id of the first send of the streak read
    prefixes=["TEMPORARY"],
)
_STAGED = [c.name for c in _STAGE.columns]
# Covering: the write reads it alone, in its order (through an index of the address alone, it
# looked up each row in the table: four times as long under the lock).
_STAGE_ORDER = sa.Index(
    "ix_suppression_stage",
    _STAGE.c.address,
    _STAGE.c.seq,
    _STAGE.c.reason,
    _STAGE.c.mailbox_id,
    _STAGE.c.since,
)


class LastSend(NamedTuple):
    """One of a mailbox's last sends to a recipient (:meth:`Suppressions.soft_bounced_sends`), with
    what the ledger keeps of the bounce it counts for it (all ``None``: no bounce counts)."""

    mailbox_id: int
    mailbox: str
    timezone: str
    recipient: str
    send_id: int
    at: dt.datetime
    kind: str | None
    status: str | None
    reply: str | None
    diagnostic: str | None


class Suppressions:
    """Who is never mailed again (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _transaction_id(self, conn: Connection) -> int | None: ...
        def _committed(self, conn: Connection, xid: int | None) -> bool | None: ...
        def connection(self) -> AbstractContextManager[Connection]: ...
        def _write_conn(self, conn: Connection) -> Connection: ...
        def insert_rows(
            self,
            conn: Connection,
            table: sa.Table,
            columns: Sequence[str],
            rows: Sequence[Sequence[Any]],
        ) -> None: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def _order_staged(self, conn: Connection, index: sa.Index) -> None: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...

    def _suppress(
        self,
        conn: Connection,
        address: str,
        kind: str,
        reason: str,
        mailbox_id: int | None,
        at: dt.datetime,
    ) -> bool:
        # Not rowcount: on PostgreSQL "ON CONFLICT DO NOTHING RETURNING" counts differently.
        return (
            conn.execute(
                self._insert(SUPPRESSION)
                .values(
                    address=address,
                    kind=kind,
                    reason=reason,
                    mailbox_id=mailbox_id,
                    created_at=utc(at),
                )
                .on_conflict_do_nothing(index_elements=["address"])
                .returning(SUPPRESSION.c.id)
            ).scalar()
            is not None
        )

    def suppress(
        self,
        addresses: Iterable[str],
        kind: str,
        reason: str,
        at: dt.datetime | None = None,
    ) -> int:
        """Suppress addresses (never mailed again by any mailbox); how many were new."""
        return self.suppress_each(((a, reason, None) for a in addresses), kind, at)

    def suppress_each(
        self,
        entries: Iterable[tuple[str, str, int | None]],
        kind: str,
        at: dt.datetime | None = None,
        *,
        unless_taken_back: Mapping[str, int] | None = None,
    ) -> int:
        """Suppress each ``(address, reason, mailbox id)``; how many were new
        (:meth:`suppress_many`)."""
        return self.suppress_many(entries, kind, at, unless_taken_back=unless_taken_back).added

    def suppress_many(
        self,
        entries: Iterable[tuple[str, str, int | None]],
        kind: str,
        at: dt.datetime | None = None,
        *,
        unless_taken_back: Mapping[str, int] | None = None,
    ) -> SuppressCount:
        """Suppress each ``(address, reason, mailbox id)`` (the first of an address given
        twice), all or none: how many entries, distinct addresses and new suppressions.

        ``unless_taken_back``: address -> a send id (a streak's first); an address taken back
        (:meth:`unsuppress`) since that send was recorded is left out. A soft streak read before
        a removal counts the sends the removal set aside: written after it, it suppressed the
        address again at once.

        Staged: ``entries`` (an iterator is read once, as it comes: a file's four million
        addresses are never held at once) go to a TEMP table in batches, then one
        ``INSERT ... SELECT`` in one short write transaction. Written under the write lock,
        batch by batch, a list of four million held it ~58 s, and every send meanwhile waited
        or gave up; SQLite's TEMP tables are a file of their own, whose writes take no lock on
        the ledger (PostgreSQL's are the session's own; a batch goes there by COPY:
        :meth:`insert_rows`). An error while ``entries`` are read (a bad line of a file), or
        while a batch is staged, keeps nothing: the connection, its TEMP table with it, is
        closed.

        The server cutting the connection (:class:`ConnectionCut`) in the write's COMMIT: it is
        asked on a new connection whether the write committed. Cut before, the entries are
        staged and written again on a new one when they were one batch (a few addresses typed,
        a short file: held meanwhile); a longer list, read as it comes, is not held, and the
        cut is :class:`ConnectionCut` (a person runs it again: it adds nothing twice).
        """
        when = utc(at or dt.datetime.now(dt.UTC))
        since = unless_taken_back or {}
        kept: sa.ColumnElement[bool] = sa.true()
        if unless_taken_back:
            first_at = sa.select(SEND.c.at).where(SEND.c.id == _STAGE.c.since)
            kept = sa.or_(
                _STAGE.c.since.is_(None),
                ~sa.exists().where(
                    SUPPRESSION_REMOVAL.c.address == _STAGE.c.address,
                    _set_aside(_STAGE.c.since, first_at.scalar_subquery()),
                ),
            )
        # By address, then as given: the first entry of an address is inserted, the others
        # meet it as a conflict (the SELECT's WHERE also keeps SQLite from reading the
        # ON CONFLICT as a join's ON).
        rows_in = (
            sa.select(
                _STAGE.c.address,
                sa.literal(kind, sa.String),
                _STAGE.c.reason,
                _STAGE.c.mailbox_id,
                sa.literal(when, UTCDateTime()),
            )
            .where(kept)
            .order_by(_STAGE.c.address, _STAGE.c.seq)
        )
        insert = (
            self._insert(SUPPRESSION)
            .from_select(["address", "kind", "reason", "mailbox_id", "created_at"], rows_in)
            .on_conflict_do_nothing(index_elements=["address"])
            # the rows inserted, not the conflicts (SQLAlchemy keeps an INSERT's rowcount
            # only when asked)
            .execution_options(preserve_rowcount=True)
        )

        def write(tx: Connection) -> int:
            if unless_taken_back:
                self._lock_name(tx, _REMOVALS_LOCK, shared=True)
            return int(tx.execute(insert).rowcount)

        return self._staged(((a, r, m, since.get(a)) for a, r, m in entries), write)

    def _staged(
        self, entries: Iterable[tuple[str, str | None, int | None, int | None]], write: _Write
    ) -> SuppressCount:
        """``entries`` (address, reason, mailbox id, since) staged in :data:`_STAGE`, then
        ``write(tx)`` run in one write transaction on the same connection, which reads the
        stage: how many entries, distinct addresses, and what ``write`` counted
        (:meth:`suppress_many`, :meth:`unsuppress_many`; a cut connection is theirs too)."""
        chunks = iter(entries)
        first = list(islice(chunks, _SUPPRESS_BATCH + 1))
        tried: list[tuple[int | None, SuppressCount]] = []  # the write's id and count, once run
        try:
            return self._stage_and_write(chain(first, chunks), write, tried)
        except ConnectionCut:
            if tried:  # cut in the COMMIT's round trip: the server may have committed it
                xid, done = tried[0]
                with self.read() as conn:
                    committed = self._committed(conn, xid)
                if committed:
                    return done
                if committed is None:
                    raise
            if len(first) > _SUPPRESS_BATCH:
                raise
        return self._stage_and_write(iter(first), write, [])

    def _stage_and_write(
        self,
        chunks: Iterator[tuple[str, str | None, int | None, int | None]],
        write: _Write,
        tried: list[tuple[int | None, SuppressCount]],
    ) -> SuppressCount:
        """:meth:`_staged`'s staging and write on a connection of its own; ``tried`` given
        the write's transaction id and result as its body ends (before its COMMIT)."""
        given = 0
        with self.connection() as conn:
            with conn.begin():  # its index once filled (sa.Table.create would make it now)
                conn.execute(sa.schema.CreateTable(_STAGE))
            while batch := list(islice(chunks, _SUPPRESS_BATCH)):
                rows = [(given + i, *entry) for i, entry in enumerate(batch)]
                with conn.begin():
                    self.insert_rows(conn, _STAGE, _STAGED, rows)
                given += len(batch)
            if not given:
                with conn.begin():
                    _STAGE.drop(conn)
                return SuppressCount(0, 0, 0)
            with conn.begin():  # its order is the write's: no sort under the lock
                self._order_staged(conn, _STAGE_ORDER)
                # a subquery's DISTINCT reads the index; count(DISTINCT) built a B-tree of its own
                addresses = sa.select(_STAGE.c.address).distinct().subquery()
                distinct = conn.execute(
                    sa.select(sa.func.count()).select_from(addresses)
                ).scalar_one()
            with self.write(self._write_conn(conn)) as tx:
                xid = self._transaction_id(tx)
                done = write(tx)
                if given <= _SUPPRESS_BATCH:  # a few rows: the connection goes back to the pool
                    _STAGE.drop(tx)
                tried[:] = [(xid, SuppressCount(given, distinct, done))]
            if given > _SUPPRESS_BATCH:
                # closed: its TEMP table goes with it (dropped, a million rows took a third of
                # a second, under the write lock in the write's transaction)
                conn.invalidate()
        return SuppressCount(given, distinct, done)

    def soft_bounced_sends(self, sends: int, mailbox_id: int | None = None) -> list[LastSend]:
        """The last ``sends`` sends (released slots aside: nothing left) of each mailbox (or of
        the one ``mailbox_id``) to each recipient not suppressed that it has at least ``sends``
        counted soft bounces of, by mailbox, recipient and time, each with the bounce counted
        for it if any. A send made before the recipient's latest removal from the suppressions
        (:meth:`unsuppress`) is none of these: a person took the address back after them
        ("before" by the ledger's order, not a clock: see the module docstring).

        Bounded by the bounces: the sends of a recipient are read (through its index) only when
        a mailbox's bounces of it alone could make ``sends`` in a row. A counted bounce is
        a send's first (a second report of the same failure is not), so ``sends`` of them are
        as many sends. A send counts a bounce and a complaint apart: the complaint (which
        suppresses anyway) is not what answered it here.
        """
        answered = sa.and_(BOUNCE.c.counted, BOUNCE.c.kind != "complaint")
        suppressed = sa.exists().where(SUPPRESSION.c.address == SEND.c.recipient)
        # Set aside by none of the recipient's removals (ix_suppression_removal_address).
        since_removed = ~sa.exists().where(
            SUPPRESSION_REMOVAL.c.address == SEND.c.recipient,
            _set_aside(SEND.c.id, SEND.c.at, SEND.c.source),
        )
        # One mailbox's: its bounces alone (ix_bounce_mailbox_day), not every mailbox's history
        # (a counted bounce is of its send's mailbox; the send's is said too, to be sure).
        mine = (
            []
            if mailbox_id is None
            else [BOUNCE.c.mailbox_id == mailbox_id, SEND.c.mailbox_id == mailbox_id]
        )
        often = (
            sa.select(SEND.c.mailbox_id, SEND.c.recipient)
            .select_from(BOUNCE.join(SEND, SEND.c.id == BOUNCE.c.send_id))
            .where(answered, BOUNCE.c.kind == "soft", COUNTED, ~suppressed, since_removed, *mine)
            .group_by(SEND.c.mailbox_id, SEND.c.recipient)
            .having(sa.func.count() >= sends)
            .cte("often")
        )
        newest = sa.func.row_number().over(
            partition_by=(SEND.c.mailbox_id, SEND.c.recipient),
            order_by=(SEND.c.at.desc(), SEND.c.id.desc()),
        )
        # By recipient alone, so that its index is the one searched (joined on the mailbox too,
        # SQLite searched the mailbox's every send for each); another mailbox's sends to it are
        # ranked apart and left out below.
        last = (
            sa.select(SEND.c.id, SEND.c.mailbox_id, SEND.c.recipient, SEND.c.at, newest.label("n"))
            .where(SEND.c.recipient.in_(sa.select(often.c.recipient)), COUNTED, since_removed)
            .subquery("last")
        )
        query = (
            sa.select(
                MAILBOX.c.id,
                MAILBOX.c.address,
                MAILBOX.c.timezone,
                last.c.recipient,
                last.c.id,
                last.c.at,
                BOUNCE.c.kind,
                BOUNCE.c.status,
                BOUNCE.c.reply,
                BOUNCE.c.diagnostic,
            )
            .select_from(last)
            .join(
                often,
                sa.and_(
                    often.c.mailbox_id == last.c.mailbox_id, often.c.recipient == last.c.recipient
                ),
            )
            .join(MAILBOX, MAILBOX.c.id == last.c.mailbox_id)
            .outerjoin(BOUNCE, sa.and_(BOUNCE.c.send_id == last.c.id, answered))
            .where(last.c.n <= sends)
            .order_by(MAILBOX.c.address, last.c.recipient, last.c.at, last.c.id)
        )
        with self.read() as conn:
            return [LastSend._make(row) for row in conn.execute(query)]

    def first_send_ids(
        self, sends: Iterable[tuple[int, str, dt.datetime]]
    ) -> dict[tuple[int, str, dt.datetime], int]:
        """The id of each send named by its mailbox id, recipient and instant (a soft
        streak's first: what :meth:`suppress_many`'s ``unless_taken_back`` takes), the lowest
        of several at one instant; one the ledger no longer holds is left out."""
        wanted = {(m, r, utc(a)) for m, r, a in sends}
        if not wanted:
            return {}
        key = sa.tuple_(SEND.c.mailbox_id, SEND.c.recipient, SEND.c.at)
        query = (
            sa.select(SEND.c.mailbox_id, SEND.c.recipient, SEND.c.at, sa.func.min(SEND.c.id))
            .where(key.in_(sorted(wanted)), COUNTED)
            .group_by(SEND.c.mailbox_id, SEND.c.recipient, SEND.c.at)
        )
        with self.read() as conn:
            return {(m, r, a): i for m, r, a, i in conn.execute(query)}

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """Which of ``addresses`` are suppressed, with why."""
        addrs = list(addresses)
        if not addrs:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind, SUPPRESSION.c.reason).where(
                    SUPPRESSION.c.address.in_(addrs)
                )
            )
            return {a: f"{k}: {r}" if r else k for a, k, r in rows}

    def suppressions(
        self, match: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Suppressed addresses by address, at most ``limit``; ``match``: only this (normalized)
        address, or with ``@domain`` those of the domain."""
        query = sa.select(
            SUPPRESSION.c.address,
            SUPPRESSION.c.kind,
            SUPPRESSION.c.reason,
            SUPPRESSION.c.created_at,
        )
        with self.read() as conn:
            return [
                {**r._asdict(), "created_at": r.created_at.isoformat()}
                for r in conn.execute(
                    _matching(query, match).order_by(SUPPRESSION.c.address).limit(sql_limit(limit))
                )
            ]

    def suppression_count(self, match: str | None = None) -> int:
        """How many :meth:`suppressions` lists without a limit."""
        query = sa.select(sa.func.count()).select_from(SUPPRESSION)
        with self.read() as conn:
            return int(conn.execute(_matching(query, match)).scalar_one())

    def unsuppress(self, address: str, at: dt.datetime | None = None) -> bool:
        """Take ``address``'s suppression back (False: it had none, and nothing is written),
        remembered at ``at`` (default now) with the kind, reason, time and mailbox it had and
        the highest send id the ledger holds: a soft streak then counts only the sends recorded
        after it (:meth:`soft_bounced_sends`), whatever their clocks say, and the list's past
        size still counts the address (:meth:`suppression_spans`)."""
        when = utc(at or wall_clock())
        # Cut in its COMMIT's round trip, the removal may be in: asked of the server (before:
        # exit 75, and run again, "not suppressed" for the address it had taken back).
        return self.write_once(lambda conn: self._unsuppress(conn, address, when))

    def unsuppress_many(
        self, addresses: Iterable[str], at: dt.datetime | None = None
    ) -> SuppressCount:
        """:meth:`unsuppress` each of ``addresses``, all in one transaction: how many were
        given, how many distinct addresses, how many had a suppression to take back (``added``
        counts those; the rest: nothing written for them).

        Staged as :meth:`suppress_many` stages its entries: ``addresses`` (an iterator is read
        once, as it comes: a file's four million are never held at once) go to a TEMP table
        before the write lock is taken, then two statements take them back under it. An error
        while they are read (a bad line of a file) takes nothing back."""
        when = utc(at or wall_clock())
        return self._staged(
            ((a, None, None, None) for a in addresses),
            lambda tx: self._unsuppress_staged(tx, when),
        )

    def _unsuppress_staged(self, conn: Connection, when: dt.datetime) -> int:
        """:meth:`unsuppress_many`'s write, in its transaction: each staged address's
        suppression remembered as :meth:`_unsuppress` remembers one, then deleted; how many.

        The removals are written first, from the suppressions read (and, on PostgreSQL,
        locked: one a rematch deletes meanwhile is not read), then exactly those are deleted:
        a suppression another writer adds meanwhile for a staged address has no removal, and
        stays (the removals' lock keeps every other removal out: the ids above ``before``
        are these)."""
        self._lock_name(conn, _REMOVALS_LOCK)
        before = conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(SUPPRESSION_REMOVAL.c.id), 0))
        ).scalar_one()
        # Read in this transaction, as _unsuppress reads it.
        last = sa.func.coalesce(sa.select(sa.func.max(SEND.c.id)).scalar_subquery(), 0)
        staged = sa.select(_STAGE.c.address).distinct().subquery("staged")
        held = (
            sa.select(
                SUPPRESSION.c.address,
                SUPPRESSION.c.kind,
                SUPPRESSION.c.reason,
                sa.literal(when, UTCDateTime()),
                last,
                SUPPRESSION.c.created_at,
                SUPPRESSION.c.mailbox_id,
            )
            # The stage's addresses in its index's order, each looked up (an IN built a B-tree
            # of them under the lock: half as long again)
            .select_from(staged.join(SUPPRESSION, SUPPRESSION.c.address == staged.c.address))
            .with_for_update(of=SUPPRESSION)
        )
        columns = [
            "address",
            "kind",
            "reason",
            "removed_at",
            "last_send_id",
            "suppressed_at",
            "mailbox_id",
        ]
        removed = conn.execute(
            SUPPRESSION_REMOVAL.insert()
            .from_select(columns, held)
            .execution_options(preserve_rowcount=True)
        ).rowcount
        if removed:
            mine = sa.select(SUPPRESSION_REMOVAL.c.address).where(SUPPRESSION_REMOVAL.c.id > before)
            conn.execute(SUPPRESSION.delete().where(SUPPRESSION.c.address.in_(mine)))
        return int(removed)

    def _unsuppress(self, conn: Connection, address: str, when: dt.datetime) -> bool:
        """:meth:`unsuppress`, in its transaction."""
        self._lock_name(conn, _REMOVALS_LOCK)
        gone = conn.execute(
            SUPPRESSION.delete()
            .where(SUPPRESSION.c.address == address)
            .returning(
                SUPPRESSION.c.kind,
                SUPPRESSION.c.reason,
                SUPPRESSION.c.created_at,
                SUPPRESSION.c.mailbox_id,
            )
        ).first()
        if gone is None:
            return False
        # Read in this transaction: on SQLite under the write lock, every send is below or
        # above it; on PostgreSQL a send whose transaction commits meanwhile is on either
        # side (it is as old as the removal).
        last = conn.execute(sa.select(sa.func.max(SEND.c.id))).scalar()
        conn.execute(
            SUPPRESSION_REMOVAL.insert().values(
                address=address,
                kind=gone.kind,
                reason=gone.reason,
                removed_at=when,
                last_send_id=last or 0,
                suppressed_at=gone.created_at,
                mailbox_id=gone.mailbox_id,
            )
        )
        return True

    def _removals_after_sends_deleted(self, conn: Connection) -> None:
        """After sends were deleted (a mailbox removed with its history), in that transaction:
        each removal's mark lowered to the highest send id left. SQLite gives the next send
        max(id) + 1, which would be at or below a mark above it, and the sends made after the
        removal would be set aside until the ids passed it; the sends left are set aside as
        before (none was between). Under the removals' lock: a removal that read the highest id
        before the delete commits after this has read the marks."""
        self._lock_name(conn, _REMOVALS_LOCK)
        left = sa.func.coalesce(sa.select(sa.func.max(SEND.c.id)).scalar_subquery(), 0)
        conn.execute(
            SUPPRESSION_REMOVAL.update()
            .where(SUPPRESSION_REMOVAL.c.last_send_id > left)
            .values(last_send_id=left)
        )

    def last_removal(self, address: str) -> dict[str, Any] | None:
        """The latest time ``address``'s suppression was taken back (:meth:`unsuppress`): when,
        and the kind and reason it had; None if never."""
        query = (
            sa.select(
                SUPPRESSION_REMOVAL.c.kind,
                SUPPRESSION_REMOVAL.c.reason,
                SUPPRESSION_REMOVAL.c.removed_at,
            )
            .where(SUPPRESSION_REMOVAL.c.address == address)
            .order_by(SUPPRESSION_REMOVAL.c.id.desc())  # the latest made, whatever its clock
            .limit(1)
        )
        with self.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return {"kind": row.kind, "reason": row.reason, "removed_at": utc(row.removed_at)}


def _set_aside(send_id: Any, at: Any, source: Any = None) -> sa.ColumnElement[bool]:
    """Whether a removal (a row of ``suppression_removal`` in the query) sets aside the send
    of ``send_id``, dated ``at``, made by ``source``: one the ledger held when it was made; or,
    recorded after it but not by the gate (``source`` None: not asked), one dated at or before
    it; or, of a removal made before m026 (no mark), one dated at or before it."""
    removal = SUPPRESSION_REMOVAL.c
    dated = removal.removed_at >= at
    unmarked = removal.last_send_id.is_(None)
    by_date = unmarked if source is None else sa.or_(unmarked, source != _GATE_SOURCE)
    return sa.or_(removal.last_send_id >= send_id, sa.and_(by_date, dated))


def _matching(query: Any, match: str | None) -> Any:
    """``query`` over the suppressions ``match`` names (:meth:`Suppressions.suppressions`)."""
    if match is None:
        return query
    if match.startswith("@"):  # the domain's: a wildcard in it (_ is one) matches only itself
        escaped = match.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return query.where(SUPPRESSION.c.address.like(f"%{escaped}", escape="\\"))
    return query.where(SUPPRESSION.c.address == match)
