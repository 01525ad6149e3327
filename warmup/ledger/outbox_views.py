"""Reading the outbox (a mixin of :class:`warmup.ledger.Ledger` through
:class:`~warmup.ledger.outbox.OutboxStore`): its messages without their bytes
(:data:`ROW_COLUMNS`, :func:`outbox_row`), one with them, the next due, the counts per campaign
and state, and what waits, with its suppressed recipients, as ``queue list``, ``queue status``
and the worker's waits ask. Nothing here writes."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, NotFound
from warmup.ledger.outbox_holds import QUEUED
from warmup.ledger.schema import MAILBOX, OUTBOX, POOL, POOL_MEMBER, SEND, SUPPRESSION, UTCDateTime
from warmup.ledger.values import ID_MAX, FaultHold, OutboxRow, instant, sql_limit, utc

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


_LOOKUP_BATCH = 5_000  # addresses per IN list (SQLite takes 32,766 parameters at most)


ROW_COLUMNS = [
    c
    for c in OUTBOX.c
    if c.name not in ("data", "rcpt_count", "content_key", "backoff_until", "fault")
]
_ROW_NAMES = [c.name for c in ROW_COLUMNS]
_RCPT, _DATA = _ROW_NAMES.index("recipients"), OutboxRow._fields.index("data")
# a row of exactly ROW_COLUMNS is an OutboxRow's fields in order, ``data`` left out
assert [f for f in OutboxRow._fields if f not in ("data", "pool_rev", "has_slots")] == _ROW_NAMES
_PAGE = 1_000  # rows a listing holds at once (one fetch of PostgreSQL's server-side cursor)
_T = TypeVar("_T")

# The outbox's times, and what mends one a hand edit left unreadable (another time of the row).
_TIMES = [c for c in OUTBOX.c if isinstance(c.type, UTCDateTime)]
_MEND = {
    "not_before": "created_at",
    "next_attempt_at": "not_before",
    "expires_at": "datetime(not_before, '+3 days')",
    "created_at": "updated_at",
    "updated_at": "created_at",
}


def unreadable_rows(conn: Connection, ids: tuple[int, ...] | None = None) -> dict[int, DataError]:
    """The outbox rows (of ``ids``; None: every one) holding a time no version writes (text a
    hand edit with sqlite3 left, which SQLite keeps: PostgreSQL's timestamptz takes none), each
    with its one-line :class:`DataError` (row, column, value, an UPDATE that mends it). Only on
    the way to an error: the times are read as stored and checked here, one row at a time,
    after SQLAlchemy's own conversion failed on a read."""
    q = sa.select(OUTBOX.c.id, *(sa.type_coerce(c, sa.String) for c in _TIMES))
    if ids is not None:
        q = q.where(OUTBOX.c.id.in_(ids))
    out = {}
    for row in conn.execute(q.order_by(OUTBOX.c.id)):
        for column, value in zip(_TIMES, row[1:], strict=True):
            if value is None and column.nullable:
                continue
            try:
                instant(value)
            except (TypeError, ValueError):
                mend = _MEND.get(column.name, "NULL")
                out[row[0]] = DataError(
                    f"outbox row {row[0]}: {column.name} {value!r} is not a time (written by "
                    "hand or by another version?): this warmup leaves the message out; correct "
                    f"the row, e.g. UPDATE outbox SET {column.name} = {mend} WHERE id = {row[0]}"
                )
                break
    return out


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


def check_id(message: int) -> None:
    """An id no row can have (the driver would overflow on it) is a message that is not there."""
    if not 0 < message <= ID_MAX:
        raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")


def outbox_row(r: Any, with_data: bool = False) -> OutboxRow:
    m = r._mapping  # made once: each ``r._mapping`` is a new object
    values = {name: m[name] for name in _ROW_NAMES}
    values["recipients"] = tuple(values["recipients"].split(","))
    rev = m.get("pool_rev")
    return OutboxRow(
        **values,
        data=bytes(m["data"]) if with_data else None,
        pool_rev=None if rev is None else int(rev),
        has_slots=bool(m.get("has_slots", True)),
    )


def _listed_row(r: Any) -> OutboxRow:
    """A row of exactly :data:`ROW_COLUMNS` as an :class:`OutboxRow`, by position: three times
    as fast as :func:`outbox_row` by name (40 us a row, most of a long listing's reading)."""
    values = list(r)
    values[_RCPT] = tuple(values[_RCPT].split(","))
    values.insert(_DATA, None)
    return OutboxRow._make(values + [None, True])


class MessagePages:
    """The outbox's messages as :meth:`OutboxViews.message_pages` lists them, read from one
    snapshot as many times as asked, a page at a time (see there)."""

    def __init__(
        self,
        conn: Connection,
        query: sa.Select[Any] | None,
        page: int,
        skip: Callable[[Connection], tuple[int, ...] | None] | None = None,
    ) -> None:
        self._conn, self._query, self._page = conn, query, page
        self._reads: list[Generator[list[OutboxRow]]] = []
        # Asked when a row's time cannot be read: the rows to leave out (None: none is found,
        # the error is another's), which every read after that one leaves out.
        self._skip = skip
        self._left_out: tuple[int, ...] = ()

    def __iter__(self) -> Iterator[list[OutboxRow]]:
        """One read of them, oldest first: lists of at most ``page`` messages."""
        read = self._read()
        self._reads.append(read)
        return read

    def close(self) -> None:
        """End the reads left midway (their cursors closed) while the connection is open: a
        listing whose output failed under it ('queue list | head -1') left its read to the
        garbage collector, which closed the cursor after the connection, and SQLAlchemy printed
        'Error closing cursor' with a traceback."""
        for read in self._reads:
            read.close()
        self._reads.clear()

    def _read(self) -> Generator[list[OutboxRow]]:
        if self._query is None:
            return
        last = 0  # the last id given: a read begun again after a row left out goes on after it
        while True:
            # PostgreSQL: a server-side cursor (psycopg's client-side one would take every row
            # first); SQLite's cursor is stepped as the rows are asked for.
            result = self._conn.execute(
                self._listed(), execution_options={"stream_results": True, "yield_per": self._page}
            )
            try:
                for part in result.partitions():
                    rows = [_listed_row(r) for r in part]
                    rows = [r for r in rows if r.id > last]
                    if rows:
                        last = rows[-1].id
                        yield rows
                return
            except (TypeError, ValueError):
                if not self._left_out_more():
                    raise
            finally:
                result.close()

    def _listed(self) -> sa.Select[Any]:
        assert self._query is not None
        if not self._left_out:
            return self._query
        return self._query.where(OUTBOX.c.id.not_in(self._left_out))

    def _left_out_more(self) -> bool:
        """After a read failed on a time it could not convert: whether more rows are left out
        now (a hand edit's, named by :meth:`OutboxViews.outbox_unreadable`)."""
        found = None if self._skip is None else self._skip(self._conn)
        if found is None or set(found) <= set(self._left_out):
            return False
        self._left_out = found
        return True

    def more_than(self, count: int) -> bool:
        """Whether there are more than ``count`` of them (0: any)."""
        if self._query is None:
            return False
        while True:
            try:
                q = self._listed().offset(count).limit(1)
                return self._conn.execute(q).first() is not None
            except (TypeError, ValueError):
                if not self._left_out_more():
                    raise


def aware_utc(at: dt.datetime) -> dt.datetime:
    """An instant read back from the outbox, aware UTC (SQLite's come back naive)."""
    return utc(at) if at.tzinfo else at.replace(tzinfo=dt.UTC)


@functools.cache
def _first_each_statement(of_pool: bool, skip: tuple[int, ...] = ()) -> sa.Select[Any]:
    """Each mailbox's own queued messages (``of_pool``: only pool ``:pool``'s), then each
    pool's: its id (a pool's, else a mailbox's), its first queued message's time and its first
    expiry, each one probe of the target's index (``ix_outbox_box_due``, ``ix_outbox_pool_due``;
    ``ix_outbox_box_expiry``, ``ix_outbox_pool_expiry``); targets with none left out. In this
    order, as the GROUP BY it replaces gave them (ties of the result keep it)."""
    o = OUTBOX.c

    def first(column: Any, mine: sa.ColumnElement[bool], of: sa.Table) -> Any:
        return (
            sa.select(column)
            .where(mine, QUEUED, _kept(skip))  # a constant, as the claim's: see QUEUED
            .order_by(column)
            .limit(1)
            .correlate(of)
            .scalar_subquery()
        )

    def of_target(mine: sa.ColumnElement[bool], of: sa.Table) -> tuple[Any, Any]:
        return (
            first(o.next_attempt_at, mine, of).label("at"),
            first(o.expires_at, mine, of).label("ends"),
        )

    pools = sa.select(
        POOL.c.id.label("pid"),
        sa.cast(sa.null(), sa.Integer).label("mid"),
        *of_target(o.pool_id == POOL.c.id, POOL),
    )
    if of_pool:
        pools = pools.where(POOL.c.id == sa.bindparam("pool", type_=POOL.c.id.type))
        each = pools.subquery("each")
    else:
        own = sa.and_(o.pool_id.is_(None), o.mailbox_id == MAILBOX.c.id)
        boxes = sa.select(
            sa.cast(sa.null(), sa.Integer).label("pid"),
            MAILBOX.c.id.label("mid"),
            *of_target(own, MAILBOX),
        )
        each = sa.union_all(boxes, pools).subquery("each")
    return (
        sa.select(each.c.pid, each.c.mid, each.c.at, each.c.ends)
        .where(each.c.at.is_not(None))
        .order_by(each.c.pid.is_not(None), sa.func.coalesce(each.c.pid, each.c.mid))
    )


def _first_bulk(
    conn: Connection, pool_id: int | None, mailbox_id: int | None
) -> dt.datetime | None:
    """When a target's first queued bulk message is due (None: it has none): one probe of
    ``ix_outbox_pool_bulk`` for a pool (a mailbox's own are never held but for their bulk
    ones, their pool's overflow channel being a pool's)."""
    from warmup.ledger.outbox_holds import BULK

    o = OUTBOX.c
    mine = (
        o.pool_id == pool_id
        if pool_id is not None
        else sa.and_(o.pool_id.is_(None), o.mailbox_id == mailbox_id)
    )
    q = (
        sa.select(o.next_attempt_at)
        .where(mine, o.state == "queued", BULK)
        .order_by(o.next_attempt_at)
        .limit(1)
    )
    at = conn.execute(q).scalar()
    return None if at is None else aware_utc(at)


# The waiting messages (queued or sending) to one address (``several``: to several), in the
# very words of ``ix_outbox_waiting``'s (``ix_outbox_waiting_several``'s) condition, constants
# and all: a partial index serves a statement whose condition implies its own, which SQLite
# cannot tell of a bound parameter's value (it plans before it is bound).
def _waiting(several: bool) -> sa.ColumnElement[bool]:
    return sa.and_(
        sa.text("(outbox.state = 'queued' OR outbox.state = 'sending')"),
        sa.literal_column("outbox.rcpt_count") != sa.literal_column("1")
        if several
        else sa.literal_column("outbox.rcpt_count") == sa.literal_column("1"),
    )


_BOX = sa.case((OUTBOX.c.pool_id.is_(None), OUTBOX.c.mailbox_id), else_=sa.null()).label(
    "mailbox_id"
)
_NO_STAY = sa.cast(sa.null(), sa.Integer).label("stays")


def _kept(skip: tuple[int, ...]) -> sa.ColumnElement[bool]:
    """The outbox rows not in ``skip`` (:meth:`OutboxViews._tolerant`): every row when none is."""
    return OUTBOX.c.id.not_in(skip) if skip else sa.true()


@functools.cache
def _waiting_statement(skip: tuple[int, ...] = ()) -> sa.Select[Any]:
    """:meth:`OutboxViews.outbox_waiting`'s groups, one statement of two parts: the messages to
    one address grouped from ``ix_outbox_waiting`` alone, with the member that last mailed a
    pool's one (``stays``) and whether it is suppressed, each looked up by its address; those
    to several from ``ix_outbox_waiting_several`` (neither applies to them: no member, and
    their suppressed recipients are read apart); groups of the two with the same key added up,
    as one GROUP BY of every waiting row made them. ``several``: how many of a group's messages
    are to several addresses."""
    o = OUTBOX.c
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
    # Only an address something was sent to has a member that mailed it: asked first (nearly
    # every queued address was never mailed), the join above runs for the few that were
    # (at 200,000 waiting messages of pools, 0.9 s of the statement's 1.1 s on PostgreSQL).
    mailed = sa.exists().where(SEND.c.recipient == o.recipients)
    stays = sa.case((sa.and_(o.pool_id.is_not(None), mailed), last), else_=sa.null()).label("stays")
    gone = sa.exists().where(SUPPRESSION.c.address == o.recipients)
    keys = (o.campaign, o.pool_id, _BOX, o.next_attempt_at)
    one = (
        sa.select(
            *keys,
            stays,
            sa.func.max(o.id).label("last"),
            sa.func.count().label("messages"),
            sa.func.count().label("recipients"),
            sa.func.max(o.expires_at).label("expires"),
            sa.func.sum(sa.case((gone, 1), else_=0)).label("blocked"),
            sa.literal_column("0").label("several"),
        )
        .where(_waiting(several=False), _kept(skip))
        .group_by(*keys, stays)
    )
    several = (
        sa.select(
            *keys,
            _NO_STAY,
            sa.func.max(o.id).label("last"),
            sa.func.count().label("messages"),
            sa.func.sum(o.rcpt_count).label("recipients"),
            sa.func.max(o.expires_at).label("expires"),
            sa.literal_column("0").label("blocked"),
            sa.func.count().label("several"),
        )
        .where(_waiting(several=True), _kept(skip))
        .group_by(*keys)
    )
    u = sa.union_all(one, several).subquery("waiting")
    group = (u.c.campaign, u.c.pool_id, u.c.mailbox_id, u.c.next_attempt_at, u.c.stays)
    return sa.select(
        *group,
        sa.func.max(u.c.last).label("last"),
        sa.func.sum(u.c.messages).label("messages"),
        sa.func.sum(u.c.recipients).label("recipients"),
        sa.func.max(u.c.expires).label("expires"),
        sa.func.sum(u.c.blocked).label("blocked"),
        sa.func.sum(u.c.several).label("several"),
    ).group_by(*group)


class OutboxViews:
    """What the outbox holds (see the module docstring)."""

    # The outbox rows this ledger's reads leave out, a time of theirs unreadable (a hand edit:
    # :func:`unreadable_rows`), and why; found when a read fails on one, then left out of
    # every read that leaves them out (``skip``). Replaced, never changed in place.
    _outbox_skip: tuple[int, ...] = ()
    _outbox_bad: dict[int, DataError] = {}  # replaced, never changed

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...

    def outbox_unreadable(self) -> list[DataError]:
        """Why each outbox row this ledger's reads left out was left out (a time of it cannot
        be read), by id: a command that answered without them names them (exit 65)."""
        return [self._outbox_bad[i] for i in self._outbox_skip]

    def recheck_outbox(self) -> None:
        """Read again the rows left out (a long-lived reader, the worker, once a pass): one
        mended since is read again, as any other. And look for a queued message whose next
        try SQLite's text puts after every time ('garbage' sorts after '9999-...'), which no
        claim reaches, so no read fails on it: one probe of ``ix_outbox_due``."""
        with self.read() as conn:
            if self._outbox_skip:
                found = unreadable_rows(conn, self._outbox_skip)
                self._outbox_skip, self._outbox_bad = tuple(found), found
            after = OUTBOX.c.next_attempt_at > dt.datetime.max.replace(tzinfo=dt.UTC)
            probe = sa.select(OUTBOX.c.id).where(QUEUED, after, _kept(self._outbox_skip))
            if conn.execute(probe.limit(1)).first() is not None:
                self._skip_found(conn)

    def _skip_found(self, conn: Connection) -> tuple[int, ...] | None:
        """After a read of the outbox failed converting a time: the rows to leave out now,
        each one whose time cannot be read; None when none is new (the failure is another's)."""
        found = unreadable_rows(conn)
        if not set(found) - set(self._outbox_skip):
            return None
        self._outbox_bad = {**self._outbox_bad, **found}
        self._outbox_skip = tuple(sorted({*self._outbox_skip, *found}))
        return self._outbox_skip

    def _skipped(self, conn: Connection) -> tuple[int, ...]:
        """:meth:`_skip_found`'s rows left out, as many as before when none is new."""
        self._skip_found(conn)
        return self._outbox_skip

    def _tolerant(self, read: Callable[[tuple[int, ...]], _T]) -> _T:
        """``read(skip)``, the rows of ``skip`` left out of it; read again leaving out the rows
        whose time cannot be read once it fails on one (SQLAlchemy converts the times as it
        reads them: a hand edit's 'garbage' was a traceback). Nothing more on the way there."""
        try:
            return read(self._outbox_skip)
        except (TypeError, ValueError) as exc:
            with self.read() as conn:
                if self._skip_found(conn) is None:
                    raise exc from None
        return read(self._outbox_skip)

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
            sa.select(*ROW_COLUMNS)
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

        def read(skip: tuple[int, ...]) -> OutboxRow | None:
            with self.read() as conn:
                row = conn.execute(q.where(_kept(skip))).first()
            return None if row is None else outbox_row(row)

        return self._tolerant(read)

    def next_due_each(
        self, pool_id: int | None = None
    ) -> list[tuple[int | None, int | None, dt.datetime, dt.datetime, str | None]]:
        """Per target with queued messages (of ``pool_id``; None: all), its pool's id (else
        its mailbox's), when its first queued message is due (not before its target's hold,
        :mod:`~warmup.ledger.outbox_holds`), when its first one expires, and why it waits when
        a hold decides (else None).

        One probe of a target's index for each (:func:`_first_each`), not a read of every
        queued message (a GROUP BY of a 50,000-message backlog: 0.1 s at every slot of a paced
        pool). A hold decides when the first message it holds would go before it ends and no
        free one goes sooner (at the same time: the hold's reason). A hold that keeps its
        target's bulk messages free (a pool's overflow channel) and ends after its first
        message asks when its first bulk one is due (:func:`_first_bulk`, one probe more):
        they used to be grouped by their bulk mark, every queued message of the pool read."""
        return self._tolerant(lambda skip: self._next_due_each(pool_id, skip))

    def _next_due_each(
        self, pool_id: int | None, skip: tuple[int, ...]
    ) -> list[tuple[int | None, int | None, dt.datetime, dt.datetime, str | None]]:
        """:meth:`next_due_each`, the rows of ``skip`` left out."""
        from warmup.ledger.outbox_holds import holds, target_of

        first = {}
        with self.read() as conn:
            held = holds(conn)
            statement = _first_each_statement(pool_id is not None, skip)
            each = conn.execute(statement, {"pool": pool_id})
            for pid, mid, at, ends in each:
                hold = held.get(target_of(pid, mid))
                at, why = aware_utc(at), None
                if hold is not None and hold.until > at:
                    # Its first message waits for the hold's end, for its reason, unless a
                    # bulk one the hold leaves free is due before then (at the end itself,
                    # the hold's reason is said, as the groups it replaces said it)
                    free = None if hold.bulk else _first_bulk(conn, pid, mid)
                    if free is not None and free < hold.until:
                        at = free
                    else:
                        at, why = hold.until, hold.why
                first[(pid, mid)] = (at, aware_utc(ends), why)
        return [
            (pid, mid, *times)
            for (pid, mid), times in sorted(first.items(), key=lambda kv: kv[1][:2])
        ]

    def fault_holds(self, now: dt.datetime, pool_id: int | None = None) -> list[FaultHold]:
        """Per target (of ``pool_id``; None: all), its queued messages that wait past ``now``
        for a fault a person must fix, as the worker's last try of each found it (each
        settlement writes ``outbox.fault``, so a wait of any other kind is never one of
        these), the target whose first one is tried again first, first. Read by
        ``ix_outbox_fault``, which holds only such messages."""
        o = OUTBOX.c
        held = [QUEUED, o.fault.is_not(None), o.next_attempt_at > utc(now)]
        held.append(o.expires_at > utc(now))
        if pool_id is not None:
            held.append(o.pool_id == pool_id)
        box = sa.case((o.pool_id.is_(None), o.mailbox_id), else_=None)
        groups = (
            sa.select(
                o.pool_id,
                box.label("box"),
                sa.func.count().label("messages"),
                sa.func.min(o.next_attempt_at).label("until"),
                sa.func.max(o.fault).label("code"),
            )
            .where(*held)
            .group_by(o.pool_id, box)
        )
        out = []
        with self.read() as conn:
            for g in conn.execute(groups).all():
                mine = o.pool_id == g.pool_id if g.pool_id is not None else box == g.box
                first = conn.execute(
                    sa.select(o.id, o.last_reply)
                    .where(*held, mine)
                    .order_by(o.next_attempt_at, o.id)
                    .limit(1)
                ).first()
                if first is None:  # tried (or settled) between the two reads
                    continue
                pool = box_name = None
                if g.pool_id is not None:
                    name = sa.select(POOL.c.name).where(POOL.c.id == g.pool_id)
                    pool = conn.execute(name).scalar() or f"#{g.pool_id}"
                else:
                    addr = sa.select(MAILBOX.c.address).where(MAILBOX.c.id == g.box)
                    box_name = conn.execute(addr).scalar() or f"#{g.box}"
                until = aware_utc(g.until)
                out.append(FaultHold(pool, box_name, int(g.messages), until, int(g.code), *first))
        return sorted(out, key=lambda h: (h.until, h.first))

    def holds(self) -> dict[tuple[str, int], Any]:
        """Every target's hold (:func:`warmup.ledger.outbox_holds.holds`)."""
        from warmup.ledger.outbox_holds import holds

        with self.read() as conn:
            return holds(conn)

    def messages(
        self,
        campaign: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[OutboxRow]:
        """Outbox messages (without their bytes), oldest first."""
        with self.message_pages(campaign, state, limit) as pages:
            return [row for page in pages for row in page]

    @contextmanager
    def message_pages(
        self,
        campaign: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        page: int = _PAGE,
    ) -> Iterator[MessagePages]:
        """:meth:`messages` for a listing of any length (a million messages took 1.3 GiB held
        at once): a :class:`MessagePages` valid inside the ``with``, which reads them from one
        snapshot, as many times as it is iterated (a table's column widths, then its rows),
        ``page`` messages at a time; memory holds one page however many there are."""
        q = sa.select(*ROW_COLUMNS).order_by(OUTBOX.c.id)
        if campaign is not None:
            q = q.where(OUTBOX.c.campaign == campaign)
        if state is not None:
            q = q.where(OUTBOX.c.state == state)
        if limit is not None:
            q = q.limit(sql_limit(limit))
        # no campaign's name is other than ASCII (outbox.NAME); argv's bytes may be
        listed = q if campaign is None or campaign.isascii() else None
        with self.read() as conn:
            pages = MessagePages(conn, listed, page, self._skipped)
            pages._left_out = self._outbox_skip
            try:
                yield pages
            finally:
                pages.close()

    def check_campaign(self, campaign: str) -> None:
        """:class:`NotFound` unless some message of the outbox is of ``campaign``."""
        with self.read() as conn:
            check_campaign_of(conn, campaign)

    def message(self, message: int) -> OutboxRow:
        """One outbox message with its bytes, or :class:`NotFound`."""
        check_id(message)
        with self.read() as conn:
            try:
                r = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id == message)).first()
            except (TypeError, ValueError):  # a time of it cannot be read: it alone is refused
                fault = unreadable_rows(conn, (message,)).get(message)
                if fault is None:
                    raise
                raise fault from None
        if r is None:
            raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
        return outbox_row(r, True)

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

        def read(skip: tuple[int, ...]) -> list[dict[str, Any]]:
            with self.read() as conn:
                return [dict(r._mapping) for r in conn.execute(q.where(_kept(skip)))]

        return self._tolerant(read)

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
        here (:meth:`thread_sender` reads it when the worker sends the message).

        Read from ``ix_outbox_waiting`` (the messages to one address) and
        ``ix_outbox_waiting_several`` (to several) alone (m038), not from the table's rows
        (see :func:`_waiting_statement`)."""
        return self._tolerant(self._waiting)

    def _waiting(self, skip: tuple[int, ...]) -> list[dict[str, Any]]:
        """:meth:`outbox_waiting`, the rows of ``skip`` left out."""
        with self.read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(_waiting_statement(skip))]
            several = 0
            for r in rows:
                for name in ("last", "messages", "recipients"):
                    r[name] = int(r[name])
                r["blocked"] = r["suppressed"] = int(r["blocked"] or 0)
                several += int(r.pop("several"))
            if several:
                o = OUTBOX.c
                to = sa.select(
                    o.campaign, o.pool_id, _BOX, o.next_attempt_at, _NO_STAY, o.recipients
                )
                several_of = to.where(_waiting(several=True), _kept(skip))
                self._suppressed_of_several(conn, rows, several_of)
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
