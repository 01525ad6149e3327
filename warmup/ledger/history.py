"""The engine's inputs and the ledger's listings (a mixin of :class:`warmup.ledger.Ledger`).

:meth:`Questions.history` reads what the policy engine needs about a mailbox as of an instant,
with the mailbox's walk memo when it is still valid (its ``rev`` unchanged): then only the days
the windows look back on and the events after the memo are read, so the cost does not grow with
the history. :meth:`Questions.keep_memo` stores a newer memo. :meth:`Questions.histories` asks
the same for many mailboxes with a handful of statements for all of them (``warmup quota`` for
every mailbox), and :meth:`Questions.keep_memos` stores their memos in one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError
from warmup.ledger.reads import (
    domain_since,
    events_of,
    memo_since,
    memo_valid,
    sibling_stamp,
    snapshot,
    stamped,
)
from warmup.ledger.schema import (
    BOUNCE,
    COUNT_COLUMNS,
    COUNTED,
    DAY_STAT,
    DELAYED,
    DOMAIN_DAY,
    EVENT,
    MAILBOX,
    NOTICE,
    SEND,
    SYNC_STATE,
    UNCOUNTED_KINDS,
    WALK_MEMO,
)
from warmup.ledger.values import (
    Ask,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    day_start,
    id_forms,
    instant,
    local_day,
    made_by,
    match_window,
    named_only,
    opt_out,
    sql_limit,
    utc,
)
from warmup.policy.eras import ERA_KINDS
from warmup.policy.walk import DayCounts, MailboxEvent, WalkState

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


# The statements history() runs, built once: building a Core statement costs more than SQLite
# takes to run it (``warmup quota`` asks them for every mailbox).
_P = sa.bindparam
_REV = sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == _P("box"))
_MEMO = sa.select(WALK_MEMO.c.upto, WALK_MEMO.c.rev, WALK_MEMO.c.inputs, WALK_MEMO.c.state).where(
    WALK_MEMO.c.mailbox_id == _P("box")
)
_DAYS = (
    sa.select(DAY_STAT.c.day, *(DAY_STAT.c[c] for c in COUNT_COLUMNS))
    .where(
        DAY_STAT.c.mailbox_id == _P("box"),
        DAY_STAT.c.day < _P("today"),
        DAY_STAT.c.day >= _P("since"),
    )
    .order_by(DAY_STAT.c.day)
)
_TODAY = sa.select(sa.func.count()).where(
    SEND.c.mailbox_id == _P("box"), SEND.c.at >= _P("start"), SEND.c.at <= _P("cut"), COUNTED
)


def _at(*where: Any, first: bool, box: Any = None) -> Any:
    """The stamp of the mailbox's (``box``, else the parameter ``box``) first (else last)
    counted send where ``where``, found on ix_send_mailbox_at by ``ORDER BY ... LIMIT 1``
    (max() with the outcome filter read every row of the range)."""
    order = SEND.c.at if first else SEND.c.at.desc()
    return (
        sa.select(SEND.c.at)
        .where(SEND.c.mailbox_id == (_P("box") if box is None else box), *where, COUNTED)
        .order_by(order)
        .limit(1)
        .scalar_subquery()
    )


# Today's sends from the rollup (bumped and given back in each slot's own transaction, as the
# gate counts them), the last send up to the skew's horizon, and the first one stamped later
# today than the cut: when there is one (``--at`` inside a day), today's count is _TODAY's.
# Counting today's rows was a range of the index and each row read for its outcome: the
# worker's look at each member of a pool for each message grew through the day.
_TODAY_LAST = sa.select(
    sa.select(DAY_STAT.c.sent)
    .where(DAY_STAT.c.mailbox_id == _P("box"), DAY_STAT.c.day == _P("today"))
    .scalar_subquery(),
    _at(SEND.c.at <= _P("seen"), first=False),
    _at(SEND.c.at > _P("cut"), SEND.c.at < _P("tomorrow"), first=True),
)
_KINDS = (
    sa.select(BOUNCE.c.kind, sa.func.count())
    .where(
        BOUNCE.c.mailbox_id == _P("box"),
        BOUNCE.c.day == _P("today"),
        BOUNCE.c.at <= _P("cut"),
        BOUNCE.c.counted,
    )
    .group_by(BOUNCE.c.kind)
)
_E = EVENT.c
# Events up to the cut, and every policy or cap change: a question about a past instant judges
# the days before a later change under the policy and cap in force then, as a report does
# (policy.eras)
_UP_TO_CUT = sa.or_(_E.at <= _P("cut"), _E.kind.in_(ERA_KINDS))
_EVENTS = (
    sa.select(_E.kind, _E.at, _E.until, _E.reason)
    .where(_E.mailbox_id == _P("box"), _UP_TO_CUT)
    .order_by(_E.at, _E.id)
)
# With a memo: the events the walk has not applied (after ``applied``), the back-offs still in
# force at ``now``, and the last pause or resume before ``applied`` (the one in force).
_LAST_MANUAL = (
    sa.select(_E.id)
    .where(
        _E.mailbox_id == _P("box"),
        _E.kind.in_(("pause", "resume")),
        _E.at <= _P("applied"),
    )
    .order_by(_E.at.desc(), _E.id.desc())
    .limit(1)
    .scalar_subquery()
)
_EVENTS_AFTER = _EVENTS.where(
    sa.or_(
        _E.at > _P("applied"),
        sa.and_(_E.kind == "throttle", _E.until > _P("now")),
        _E.id == _LAST_MANUAL,
    )
)

# The same questions for many mailboxes at once (:meth:`Questions.histories`): a handful of
# statements for all of them instead of ~7 each (``warmup quota`` with no address).
_IDS: sa.BindParameter[list[int]] = _P("ids", expanding=True)
_M, _W = MAILBOX.c, WALK_MEMO.c
_REVS_MEMOS = (
    sa.select(_M.id, _M.rev, _W.upto, _W.rev, _W.inputs, _W.state)
    .select_from(MAILBOX.outerjoin(WALK_MEMO, _W.mailbox_id == _M.id))
    .where(_M.id.in_(_IDS))
)
_ALL_DAYS = (
    sa.select(DAY_STAT.c.mailbox_id, DAY_STAT.c.day, *(DAY_STAT.c[c] for c in COUNT_COLUMNS))
    .where(
        DAY_STAT.c.mailbox_id.in_(_IDS),
        DAY_STAT.c.day < _P("today"),
        DAY_STAT.c.day >= _P("since"),
    )
    .order_by(DAY_STAT.c.mailbox_id, DAY_STAT.c.day)
)
# _TODAY_LAST for each mailbox (correlated subqueries: each looked up on its own index rows);
# _ALL_TODAY counts the rows of those with a send stamped later today than the cut.
_ALL_TODAY_LAST = sa.select(
    _M.id,
    sa.select(DAY_STAT.c.sent)
    .where(DAY_STAT.c.mailbox_id == _M.id, DAY_STAT.c.day == _P("today"))
    .scalar_subquery(),
    _at(SEND.c.at <= _P("seen"), first=False, box=_M.id),
    _at(SEND.c.at > _P("cut"), SEND.c.at < _P("tomorrow"), first=True, box=_M.id),
).where(_M.id.in_(_IDS))
_ALL_TODAY = (
    sa.select(SEND.c.mailbox_id, sa.func.count())
    .where(SEND.c.mailbox_id.in_(_IDS), SEND.c.at >= _P("start"), SEND.c.at <= _P("cut"), COUNTED)
    .group_by(SEND.c.mailbox_id)
)
_ALL_KINDS = (
    sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.kind, sa.func.count())
    .where(
        BOUNCE.c.mailbox_id.in_(_IDS),
        BOUNCE.c.day == _P("today"),
        BOUNCE.c.at <= _P("cut"),
        BOUNCE.c.counted,
    )
    .group_by(BOUNCE.c.mailbox_id, BOUNCE.c.kind)
)
_ALL_EVENTS = (
    sa.select(_E.mailbox_id, _E.id, _E.kind, _E.at, _E.until, _E.reason)
    .where(_E.mailbox_id.in_(_IDS), _UP_TO_CUT)
    .order_by(_E.mailbox_id, _E.at, _E.id)
)
# Bound parameters per statement stay far below SQLite's limit (32,766; 999 before 3.32).
_CHUNK = 500


class Questions:
    """What the engine and the listings ask (see the module docstring)."""

    # Why each bounce row the last :meth:`bounces` left out was (its time cannot be read)
    bounces_left_out: tuple[DataError, ...] = ()

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def real_today(self, tz: str) -> dt.date: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def _sql_domain(self, column: Any) -> Any: ...
        def _sql_by_code_point(self, column: Any) -> Any: ...

    def history(
        self,
        box: MailboxRow,
        as_of: dt.datetime,
        *,
        provider_ceiling: int | None = None,
        provider_min_interval: float = 0.0,
        domain_cap: bool = False,
        memo: tuple[str, int] | None = None,
        recipient_caps: bool = False,
    ) -> Snapshot:
        """Everything the policy engine needs about ``box`` as of ``as_of`` (aware): history
        before ``as_of`` only, so ``--at`` can cut a day at any instant.

        ``recipient_caps``: the policy caps recipient domains: count today's sends per domain.
        ``memo``: ``(inputs digest, lookback days)`` of the policy asking
        (:func:`warmup.policy.walk.inputs_digest`, :func:`~warmup.policy.walk.lookback`): a
        valid walk memo is then used and only the days and events after it are read.
        """
        tz = box.timezone
        today = local_day(as_of, tz)
        start, cut = day_start(today, tz), utc(as_of)
        made, seen = made_by(as_of, tz)  # rows a clock a little ahead stamped: made
        with self.read() as conn:
            rev = conn.execute(_REV, {"box": box.id}).scalar()
            if rev is None:
                raise MailboxNotFound(box.address)
            stamp = self._sibling_stamp(conn, box) if domain_cap else None
            state = self._valid_memo(conn, box.id, rev, today, memo, stamp)
            since = (
                dt.date.min
                if state is None
                else state.upto - dt.timedelta(days=memo[1] if memo else 0)
            )
            rows = conn.execute(_DAYS, {"box": box.id, "today": today, "since": since})
            days = [DayCounts(*r) for r in rows]
            params = {"box": box.id, "start": start, "cut": made, "today": today}
            tomorrow = day_start(today + dt.timedelta(days=1), tz)
            sent_today, last, later = conn.execute(
                _TODAY_LAST, {**params, "seen": seen, "tomorrow": tomorrow}
            ).one()
            if later is not None:  # sends stamped after the cut today: counted up to it
                sent_today = conn.execute(_TODAY, params).scalar()
            sent_today = sent_today or 0
            kinds: dict[str, int] = dict(conn.execute(_KINDS, params).all())
            events = self._events(conn, box, state, cut, cut)
            domain_sent = self._domain_sent(conn, box, start, made) if domain_cap else None
            ddays = self._domain_days(conn, box, domain_since(state), today) if domain_cap else None
            per_domain = (
                self._per_domain(conn, box, start, made, later is not None)
                if recipient_caps
                else {}
            )
        ask = Ask(provider_ceiling, provider_min_interval, domain_cap, memo, recipient_caps)
        return snapshot(
            box,
            ask,
            today,
            rev,
            state,
            days,
            (sent_today, last),
            kinds,
            events,
            domain_sent,
            per_domain,
            domain_days=ddays,
            stamp=stamp,
        )

    def histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        """:meth:`history` of each mailbox of ``asks`` (with what its policy asks), read with a
        handful of statements for all of them; the same answers, in the same order."""
        out: list[Snapshot] = []
        for k in range(0, len(asks), _CHUNK):
            out.extend(self._histories(asks[k : k + _CHUNK], as_of))
        return out

    def prepare(self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int:
        """How many of ``asks`` have no walk memo :meth:`histories` may resume from (each
        walked from its first day), read before forking children that read parts of them
        (:func:`warmup.api.quotas_each`); the SQLite backend also imports what their reads
        will. Only the memos' keys are compared."""
        today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
        cold = 0
        with self.read() as conn:
            for k in range(0, len(asks), _CHUNK):
                part = asks[k : k + _CHUNK]
                found = {
                    r[0]: r for r in conn.execute(_REVS_MEMOS, {"ids": [b.id for b, _ in part]})
                }
                for b, ask in part:
                    row = found.get(b.id)
                    if row is None:
                        continue  # histories() will say it is gone
                    stamp = self._sibling_stamp(conn, b) if ask.domain_cap else None
                    _, rev, upto, memo_rev, inputs, _ = row
                    today = today_of[b.timezone]
                    cold += not memo_valid(ask, upto, memo_rev, rev, inputs, today, stamp)
        return cold

    def _histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        with self.read() as conn:
            return self._histories_on(conn, asks, as_of)

    def _histories_on(
        self, conn: Connection, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        """:meth:`histories` in ``conn``'s read transaction."""
        out: list[Snapshot] = []
        for k in range(0, len(asks), _CHUNK):
            out.extend(self._chunk_histories(conn, asks[k : k + _CHUNK], as_of))
        return out

    def _chunk_histories(
        self, conn: Connection, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        cut = utc(as_of)
        today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
        zones: dict[str, list[int]] = {}
        for b, _ in asks:
            zones.setdefault(b.timezone, []).append(b.id)
        ids = list({b.id: None for b, _ in asks})
        found = {r[0]: r for r in conn.execute(_REVS_MEMOS, {"ids": ids})}
        stamps: dict[int, str] = {}
        for b, ask in asks:
            if ask.domain_cap and b.id not in stamps:
                stamps[b.id] = self._sibling_stamp(conn, b)
        revs: dict[int, int] = {}
        states: dict[int, WalkState | None] = {}
        since: dict[int, dt.date] = {}
        for b, ask in asks:
            row = found.get(b.id)
            if row is None:
                raise MailboxNotFound(b.address)
            _, rev, upto, memo_rev, inputs, text = row
            valid = memo_valid(
                ask, upto, memo_rev, rev, inputs, today_of[b.timezone], stamps.get(b.id)
            )
            state = WalkState.from_json(text) if valid else None
            revs[b.id], states[b.id] = rev, state
            since[b.id] = memo_since(state, ask)
        days: dict[int, list[DayCounts]] = {i: [] for i in ids}
        last_day = max(today_of.values())
        for group in (
            [i for i in ids if since[i] != dt.date.min],
            [i for i in ids if since[i] == dt.date.min],
        ):
            if not group:
                continue
            first = min(since[i] for i in group)
            params = {"ids": group, "today": last_day, "since": first}
            for mailbox_id, *counts in conn.execute(_ALL_DAYS, params):
                days[mailbox_id].append(DayCounts(*counts))
        today_sent: dict[int, tuple[int, dt.datetime | None]] = {}
        kinds: dict[int, dict[str, int]] = {i: {} for i in ids}
        recounted: set[int] = set()
        for tz, group in zones.items():
            recount = []
            today = today_of[tz]
            made, seen = made_by(as_of, tz)  # rows a clock a little ahead stamped: made
            tomorrow = day_start(today + dt.timedelta(days=1), tz)
            params = {"ids": group, "start": day_start(today, tz), "cut": made, "today": today}
            for mailbox_id, n, last, later in conn.execute(
                _ALL_TODAY_LAST, {**params, "seen": seen, "tomorrow": tomorrow}
            ):
                if later is not None:  # sends stamped after the cut today: up to it
                    n = 0
                    recount.append(mailbox_id)
                today_sent[mailbox_id] = (n or 0, last)
            if recount:
                for mailbox_id, n in conn.execute(_ALL_TODAY, {**params, "ids": recount}):
                    today_sent[mailbox_id] = (n, today_sent[mailbox_id][1])
                recounted.update(recount)
            for mailbox_id, kind, n in conn.execute(_ALL_KINDS, params):
                kinds[mailbox_id][kind] = n
        events: dict[int, list[Any]] = {i: [] for i in ids}
        for row in conn.execute(_ALL_EVENTS, {"ids": ids, "cut": cut}):
            events[row[0]].append(row)
        domain_sent: dict[tuple[str, dt.datetime], int] = {}
        out = []
        for b, ask in asks:
            tz, state = b.timezone, states[b.id]
            today = today_of[tz]
            start, made = day_start(today, tz), made_by(as_of, tz)[0]
            dsent, ddays = None, None
            if ask.domain_cap:
                key = (b.address.rsplit("@", 1)[1], start)
                if key not in domain_sent:
                    domain_sent[key] = self._domain_sent(conn, b, start, made)
                dsent = domain_sent[key]
                ddays = self._domain_days(conn, b, domain_since(state), today)
            per_domain = (
                self._per_domain(conn, b, start, made, b.id in recounted)
                if ask.recipient_caps
                else {}
            )
            box_days = [d for d in days[b.id] if since[b.id] <= d.day < today]
            out.append(
                snapshot(
                    b,
                    ask,
                    today,
                    revs[b.id],
                    state,
                    box_days,
                    today_sent.get(b.id, (0, None)),
                    kinds[b.id],
                    events_of(events[b.id], state, tz, cut),
                    dsent,
                    per_domain,
                    domain_days=ddays,
                    stamp=stamps.get(b.id),
                )
            )
        return out

    def _per_domain(
        self,
        conn: Connection,
        box: MailboxRow,
        start: dt.datetime,
        cut: dt.datetime,
        rows: bool,
    ) -> dict[str, int]:
        """Today's sends of ``box`` per recipient domain (a policy capping recipient domains)
        from its midnight ``start`` up to ``cut``: the ``domain_day`` rollup's, or with ``rows``
        (it has sends stamped after the cut today) counted from the rows."""
        if not rows:
            d = DOMAIN_DAY.c
            today = local_day(start, box.timezone)
            stmt = sa.select(d.domain, d.sent).where(
                d.mailbox_id == box.id, d.day == today, d.sent > 0
            )
            return {k: int(n) for k, n in conn.execute(stmt)}
        domain = self._sql_domain(SEND.c.recipient)
        return {
            d: n
            for d, n in conn.execute(
                sa.select(domain, sa.func.count())
                .where(
                    SEND.c.mailbox_id == box.id,
                    SEND.c.at >= start,
                    SEND.c.at <= cut,
                    COUNTED,
                )
                .group_by(domain)
            )
        }

    def _valid_memo(
        self,
        conn: Connection,
        mailbox_id: int,
        rev: int,
        today: dt.date,
        memo: tuple[str, int] | None,
        stamp: str | None = None,
    ) -> WalkState | None:
        if memo is None:
            return None
        row = conn.execute(_MEMO, {"box": mailbox_id}).first()
        if (
            row is None
            or row.rev != rev
            or row.inputs != stamped(memo[0], stamp)
            or row.upto > today
        ):
            return None
        return WalkState.from_json(row.state)

    def _events(
        self,
        conn: Connection,
        box: MailboxRow,
        memo: WalkState | None,
        cut: dt.datetime,
        now: dt.datetime,
    ) -> tuple[MailboxEvent, ...]:
        """Events up to ``cut``: all of them, or with a memo those the walk has not applied (after
        the start of the day before its day) and those still in force at ``now`` (the last pause
        or resume, back-offs not over)."""
        stmt, params = _EVENTS, {"box": box.id, "cut": cut}
        if memo is not None:
            applied = day_start(memo.upto - dt.timedelta(days=1), box.timezone)
            stmt, params = _EVENTS_AFTER, {**params, "applied": applied, "now": now}
        return tuple(MailboxEvent(k, a, u, r or "") for k, a, u, r in conn.execute(stmt, params))

    def _domain_sent(
        self, conn: Connection, box: MailboxRow, start: dt.datetime, cut: dt.datetime
    ) -> int:
        """Sends of every mailbox of ``box``'s domain from ``start`` (its local midnight) up to
        ``cut`` (the policy's domain cap): from the day_stat rollup when every mailbox of the
        domain keeps ``box``'s zone and none has a send stamped after ``cut`` today, else the
        rows (see :data:`warmup.ledger.sqlite_history.DOMAIN_SENT`)."""
        like = MAILBOX.c.address.like(f"%@{box.address.rsplit('@', 1)[1]}")
        ids = sa.select(MAILBOX.c.id).where(like)
        today = local_day(start, box.timezone)
        tomorrow = day_start(today + dt.timedelta(days=1), box.timezone)
        mixed = sa.exists().where(like, MAILBOX.c.timezone != box.timezone)
        later = sa.exists().where(
            SEND.c.mailbox_id.in_(ids), SEND.c.at > cut, SEND.c.at < tomorrow, COUNTED
        )
        rows = sa.select(sa.func.count()).where(
            SEND.c.mailbox_id.in_(ids), SEND.c.at >= start, SEND.c.at <= cut, COUNTED
        )
        rolled = sa.select(sa.func.coalesce(sa.func.sum(DAY_STAT.c.sent), 0)).where(
            DAY_STAT.c.mailbox_id.in_(ids), DAY_STAT.c.day == today
        )
        stmt = sa.select(
            sa.case((sa.or_(mixed, later), rows.scalar_subquery()), else_=rolled.scalar_subquery())
        )
        return int(conn.execute(stmt).scalar_one())

    def _sibling_stamp(self, conn: Connection, box: MailboxRow) -> str:
        """:func:`~warmup.ledger.reads.sibling_stamp` of ``box``'s domain."""
        domain = box.address.rsplit("@", 1)[1]
        m = MAILBOX.c
        return sibling_stamp(
            conn.execute(
                sa.select(m.id, m.rev)
                .where(m.address.like(f"%@{domain}"), m.id != box.id)
                .order_by(m.id)
            ).all()
        )

    def _domain_days(
        self, conn: Connection, box: MailboxRow, since: dt.date, today: dt.date
    ) -> dict[dt.date, int]:
        """What the other mailboxes of ``box``'s domain sent on each day from ``since`` to
        before ``today`` (:attr:`warmup.policy.walk.History.domain_days`)."""
        domain = box.address.rsplit("@", 1)[1]
        d = DAY_STAT.c
        ids = sa.select(MAILBOX.c.id).where(MAILBOX.c.address.like(f"%@{domain}"))
        stmt = (
            sa.select(d.day, sa.func.sum(d.sent))
            .where(
                d.mailbox_id.in_(ids),
                d.mailbox_id != box.id,
                d.day >= since,
                d.day < today,
                d.sent > 0,
            )
            .group_by(d.day)
        )
        return {day: int(n) for day, n in conn.execute(stmt)}

    def keep_memo(self, box: MailboxRow, state: WalkState | None, inputs: str, rev: int) -> bool:
        """Keep ``state`` (from :attr:`warmup.policy.Allowance.memo`, computed at revision
        ``rev`` for ``inputs``) as the mailbox's walk memo, if it may cover its days (before
        yesterday by this host's clock) and is newer than the one kept; True if stored."""
        if state is None or state.upto >= self.real_today(box.timezone):
            return False
        with self.write() as conn:
            return self._keep_memo(conn, box.id, state, inputs, rev)

    def keep_memos(self, memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]]) -> int:
        """:meth:`keep_memo` of each ``(box, state, inputs, rev)``, in one transaction; how many
        were stored."""
        keep = [
            (box, state, inputs, rev)
            for box, state, inputs, rev in memos
            if state is not None and state.upto < self.real_today(box.timezone)
        ]
        if not keep:
            return 0
        with self.write() as conn:
            return sum(
                self._keep_memo(conn, box.id, state, inputs, rev)
                for box, state, inputs, rev in keep
            )

    def _keep_memo(
        self, conn: Connection, mailbox_id: int, state: WalkState, inputs: str, rev: int
    ) -> bool:
        m = WALK_MEMO
        current = sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == mailbox_id).scalar_subquery()
        ins = self._insert(m).from_select(
            ["mailbox_id", "upto", "rev", "inputs", "state"],
            sa.select(
                sa.literal(mailbox_id),
                sa.literal(state.upto, sa.Date),
                sa.literal(rev),
                sa.literal(inputs),
                sa.literal(state.to_json()),
            ).where(current == rev),
        )
        ins = ins.on_conflict_do_update(
            index_elements=["mailbox_id"],
            set_={c: ins.excluded[c] for c in ("upto", "rev", "inputs", "state")},
            where=sa.or_(
                m.c.rev != ins.excluded.rev,
                m.c.inputs != ins.excluded.inputs,
                m.c.upto < ins.excluded.upto,
            ),
        )
        return bool(conn.execute(ins).rowcount)

    def first_send_at(self, box: MailboxRow) -> dt.datetime | None:
        with self.read() as conn:
            return conn.execute(
                sa.select(sa.func.min(SEND.c.at)).where(SEND.c.mailbox_id == box.id)
            ).scalar()

    def first_sends(self, ids: Sequence[int]) -> dict[int, dt.datetime]:
        """The earliest send of each mailbox of ``ids`` that has one (its history may start
        before the mailbox was added: an import, a send recorded ``--at`` a past time)."""
        out: dict[int, dt.datetime] = {}
        with self.read() as conn:
            for k in range(0, len(ids), _CHUNK):
                part = list(ids[k : k + _CHUNK])
                rows = conn.execute(
                    sa.select(SEND.c.mailbox_id, sa.func.min(SEND.c.at))
                    .where(SEND.c.mailbox_id.in_(part))
                    .group_by(SEND.c.mailbox_id)
                )
                out.update({i: utc(at) for i, at in rows if at is not None})
        return out

    def sync_position(self, box: MailboxRow, folder: str) -> tuple[int, int] | None:
        """``(UIDVALIDITY, last UID)`` bounce sync stopped at in ``folder``, if it ever ran."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(SYNC_STATE.c.uidvalidity, SYNC_STATE.c.last_uid).where(
                    SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder
                )
            ).first()
        return (int(row.uidvalidity), int(row.last_uid)) if row else None

    def bounce_status(self, mailbox: MailboxRow, key: str) -> tuple[bool, str | None]:
        """Whether ``mailbox`` has a bounce under ``key``, and its status: what a bounce
        recorded again under that key is told apart by (the same one, or another status)."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(BOUNCE.c.status).where(
                    BOUNCE.c.mailbox_id == mailbox.id, BOUNCE.c.key == key
                )
            ).first()
        return (False, None) if row is None else (True, row[0])

    def bounces(
        self,
        mailbox: MailboxRow | None = None,
        kind: str | None = None,
        limit: int | None = 1000,
        since: dt.datetime | None = None,
        leave_out: Sequence[int] = (),
    ) -> list[dict[str, Any]]:
        """Recorded bounces, newest first, at most ``limit`` (None: all), at or after ``since``,
        none of the mailboxes whose ids are in ``leave_out``:
        ``matched`` (answers a send of the mailbox), ``counted`` (in its rates),
        ``unverified`` (why one answers no send although one fits it by recipient and time: its
        returned original is another's, or dated away from that send; else None) and
        ``not_counted`` (why it is not in the rates, for every bounce that is not: see
        :func:`_why_not_counted`; None for one that is)."""
        b = BOUNCE.c
        listed = (
            sa.select(
                MAILBOX.c.address.label("mailbox"),
                b.recipient,
                b.kind,
                b.status,
                b.reply,
                b.at,
                b.source,
                b.message_id,
                b.send_id,
                b.diagnostic,
                b.counted,
                b.unverified,
                # what _why_not_counted needs besides
                b.id,
                b.mailbox_id,
                b.original_recipient,
                b.report,
                b.redacted,
            )
            .join(MAILBOX, MAILBOX.c.id == b.mailbox_id)
            .order_by(b.at.desc(), b.id.desc())
            .limit(sql_limit(limit))
        )
        if since is not None:
            listed = listed.where(b.at >= utc(since))
        if mailbox is not None:
            listed = listed.where(b.mailbox_id == mailbox.id)
        if kind:
            listed = listed.where(b.kind == kind)
        if leave_out:
            listed = listed.where(b.mailbox_id.not_in(list(leave_out)))
        self.bounces_left_out = ()
        try:
            return self._bounces(listed, limit)
        except (TypeError, ValueError) as exc:
            # A time a hand edit left unreadable ('garbage': SQLite keeps it) was a traceback
            # (SQLAlchemy converts it as it reads): only now are the times read as stored.
            with self.read() as conn:
                bad = _unreadable_bounces(conn)
            if not bad:
                raise exc from None
        self.bounces_left_out = tuple(bad.values())
        return self._bounces(listed.where(b.id.not_in(bad)), limit)

    def _bounces(self, listed: sa.Select[Any], limit: int | None) -> list[dict[str, Any]]:
        """:meth:`bounces`' rows of ``listed``."""
        out = []
        with self.read() as conn:
            rows = conn.execute(_with_facts(listed, limit is not None, self._sql_by_code_point))
            for r in rows:
                # unpacked: one attribute of a Row costs more than unpacking all of it
                box, rcpt, kind, status, reply, at, source, mid, sid, diag, counted, unv, *_ = r
                out.append(
                    {
                        "mailbox": box,
                        "recipient": rcpt,
                        "kind": kind,
                        "status": status,
                        "reply": reply,
                        "at": at.isoformat(),
                        "source": source,
                        "message_id": mid,
                        "send_id": sid,
                        "diagnostic": diag,
                        "counted": bool(counted),
                        "unverified": unv,
                        "matched": sid is not None,
                        "not_counted": None
                        if counted
                        else _why_not_counted(conn, r, self._sql_by_code_point),
                    }
                )
        return out


def _unreadable_bounces(conn: Connection) -> dict[int, DataError]:
    """The bounce rows whose time (``at``) is no time, as a hand edit with sqlite3 leaves one
    (PostgreSQL's timestamptz takes none), each with its one-line :class:`DataError` (row,
    column, value, an UPDATE that mends it). Only on the way to an error: every row's time is
    read as stored and checked here."""
    b = BOUNCE.c
    out = {}
    for id_, mailbox_id, at in conn.execute(
        sa.select(b.id, b.mailbox_id, sa.type_coerce(b.at, sa.String)).order_by(b.id)
    ):
        try:
            instant(at)
        except (TypeError, ValueError):
            out[id_] = DataError(
                f"bounce row {id_} (of mailbox #{mailbox_id}): at {at!r} is not a time (written "
                "by hand or by another version?): this warmup leaves the bounce out; correct "
                f"the row, e.g. UPDATE bounce SET at = day WHERE id = {id_}"
            )
    return out


# What a mailbox sent to the address a bounce names (:func:`_facts`), when it sent anything.
_NOT_NEAR, _NONE_OF = 1, 2


def _facts(
    box: Any, recipient: Any, original: Any, message_id: Any, forms: Sequence[Any], order: Any
) -> tuple[Any, Any]:
    """Two SQL expressions for a bounce of mailbox ``box`` naming ``recipient`` (and
    ``original``, the address it was sent to if another; None or "" if none) and
    ``message_id`` (None or "" if none; ``forms``: its spellings, :func:`id_forms`).

    The address of another mailbox that sent one of the forms (of the form first in Python's
    order, into which ``order`` puts a Message-ID column; of the first such send): a lookup of
    send by Message-ID. What ``box`` sent to either address: None (nothing), ``_NONE_OF`` (only
    messages with other Message-IDs than the one the bounce names) or ``_NOT_NEAR`` (a send
    without a Message-ID or with the one named, or any when it names none): a lookup of send
    by recipient."""
    theirs, whose = SEND.alias("theirs"), MAILBOX.alias("whose")
    owner = (
        sa.select(whose.c.address)
        .select_from(theirs.join(whose, whose.c.id == theirs.c.mailbox_id))
        .where(
            theirs.c.message_id.in_(forms),
            theirs.c.mailbox_id != box,
            theirs.c.outcome != "released",
        )
        .order_by(order(theirs.c.message_id), theirs.c.id)
        .limit(1)
        .scalar_subquery()
    )
    mine = SEND.alias("mine")
    named = sa.func.coalesce(message_id, "") != ""
    sent = (
        sa.select(
            sa.func.min(
                sa.case(
                    (~named | mine.c.message_id.is_(None), _NOT_NEAR),
                    (mine.c.message_id.in_(forms), _NOT_NEAR),
                    else_=_NONE_OF,
                )
            )
        )
        .where(
            # "+ 0": looked up by recipient (a few sends), not by mailbox (SQLite, which has
            # no statistics, would walk all of the mailbox's sends for each bounce)
            mine.c.mailbox_id + 0 == box,
            mine.c.recipient.in_((recipient, sa.func.nullif(original, ""))),
            mine.c.outcome != "released",
        )
        .scalar_subquery()
    )
    return sa.case((named, owner)), sent


def _report_facts(box: Any, report: Any, message_id: Any, forms: Sequence[Any]) -> tuple[Any, Any]:
    """Two more SQL expressions for that bounce: a recipient another bounce of its ``report``
    answers (of the first such bounce; ix_bounce_report), and how many recipients ``box``
    sent one of ``forms`` to (for a complaint whose recipient is redacted; ix_send_message_id).
    """
    sib = BOUNCE.alias("sibling")
    other = (
        sa.select(sib.c.recipient)
        .where(sib.c.mailbox_id == box, sib.c.report == report, sib.c.send_id.is_not(None))
        .order_by(sib.c.id)
        .limit(1)
        .scalar_subquery()
    )
    same = SEND.alias("same")
    rcpts = (
        sa.select(sa.func.count(sa.distinct(same.c.recipient)))
        .where(
            same.c.mailbox_id + 0 == box,  # by Message-ID, as in _facts
            same.c.message_id.in_(forms),
            same.c.outcome != "released",
        )
        .scalar_subquery()
    )
    named = sa.func.coalesce(message_id, "") != ""
    return sa.case((report.is_not(None), other)), sa.case((named, rcpts))


def _with_facts(listed: sa.Select[Any], limited: bool, order: Any) -> sa.Select[Any]:
    """The listing ``listed`` (of bounce columns, newest first) with the facts of
    :func:`_facts` (``order``: its) of each bounce that answers no send and is not counted for
    a reason of its own (None for the others), in one statement: looked up per listed row, on the indexes
    (a listing of every bounce named more values than PostgreSQL takes in one query when they
    were read in IN lists, and fetched every send of their recipients). A ``limited`` listing
    is cut first, so that only the rows shown are looked up."""
    if limited:
        sub = listed.subquery("listed")
        c: Any = sub.c
        listed = sa.select(sub).order_by(c.at.desc(), c.id.desc())
    else:
        c = BOUNCE.c
    bare = sa.func.trim(c.message_id, "<>")
    owner, sent = _facts(
        c.mailbox_id,
        c.recipient,
        c.original_recipient,
        c.message_id,
        (c.message_id, bare, "<" + bare + ">"),
        order,
    )
    forms = (c.message_id, bare, "<" + bare + ">")
    other, rcpts = _report_facts(c.mailbox_id, c.report, c.message_id, forms)
    open_ = sa.and_(
        ~c.counted,
        c.kind.not_in(UNCOUNTED_KINDS),
        c.send_id.is_(None),
        sa.func.coalesce(c.unverified, "") == "",
    )
    hidden = sa.and_(open_, c.redacted.is_(True))
    loose = sa.and_(open_, ~sa.func.coalesce(c.redacted, sa.false()), c.recipient != "")
    return listed.add_columns(
        sa.case((loose, owner)).label("owner"),
        sa.case((loose, sent)).label("sent"),
        sa.case((loose, other)).label("other"),
        sa.case((hidden, rcpts)).label("rcpts"),
    )


def _why_not_counted(conn: Connection, r: Any, order: Any) -> str:
    """Why the bounce ``r`` (a row of :func:`_with_facts`; ``order``: of :func:`_facts`),
    which is not counted, is not, as the ledger stands now (a report read before its send was
    recorded is linked by a later sync).

    A delay warning never counts, nor a feedback report that is no complaint (a notice); a report matched to a send that another report already
    counted is a second report of one failure; one whose returned original disagrees says so
    (``unverified``); otherwise it answers no send of its mailbox because its recipient is
    redacted (:func:`_redacted`), because it names no failed recipient, because its original's
    Message-ID is a send of another mailbox, because the mailbox never mailed that address,
    because it is a complaint read from a mailbox naming no send's Message-ID, because none
    of its sends to it is the message the report names, because another recipient of its
    report answers a send of another message (one report is about one message), or because
    none was made in the :func:`match_window` before the report. The facts are read
    with the listing; one whose Message-ID has spaces around it (SQL's ``trim`` would spell it
    otherwise than :func:`id_forms`) reads its own."""
    box, rcpt, kind, _, _, _, source, mid, sid, diag, _, why, _, box_id, original, *rest = r
    report, redacted, owner, sent, other, rcpts = rest
    if kind == DELAYED:
        return "a delay warning: the server still tries, never counted"
    if kind == NOTICE:
        return "a feedback report that is no complaint (auth-failure, not-spam): never counted"
    if sid is not None and opt_out(kind, diag):
        return (
            "a mail client's unsubscribe request: it stops the mailing, but names no message and "
            "anyone can write one in a lead's name, so it is no complaint against the mailbox"
        )
    if sid is not None:
        return "a second report of a send whose failure is already counted"
    if why:
        return str(why)
    if redacted:
        return _redacted(conn, r, order)
    if not rcpt:
        return "it names no failed recipient"
    if mid and mid != mid.strip():
        lit = sa.literal
        forms = [lit(f) for f in sorted(id_forms(mid))]
        facts = _facts(
            lit(box_id),
            lit(rcpt),
            lit(original, sa.String),
            lit(mid),
            forms,
            order,
        )
        owner, sent = conn.execute(sa.select(*facts)).one()
        other = conn.execute(
            sa.select(_report_facts(lit(box_id), lit(report, sa.String), lit(mid), forms)[0])
        ).scalar()
    if owner is not None:
        return f"its original {mid} was sent by {owner}, not {box}"
    if sent is None:
        return f"{box} never mailed {rcpt}"
    if named_only(kind, source, diag):
        named = f"names {mid}" if mid else "names none"
        return f"a complaint from a mailbox answers only the send whose Message-ID it names: it {named}"
    if sent == _NONE_OF:
        return f"its original {mid} is none of {box}'s sends to {rcpt}"
    # after the reasons that keep it from any send on their own: it would have matched
    if other is not None and other != rcpt:
        return f"its report is about another message, to {other}: one report, one message"
    days = match_window(kind, source, diag).days
    return f"no send of {box} to {rcpt} in the {days} days before it"


def _redacted(conn: Connection, r: Any, order: Any) -> str:
    """Why a complaint whose recipient the feedback loop redacted (RFC 6590) answers no send:
    only a Message-ID of its mailbox's, sent to one recipient, says whom it is about."""
    box, _, _, _, _, _, _, mid, *_, box_id, _, _, _, _, _, _, rcpts = r
    if not mid:
        return "its recipient is redacted and it names no Message-ID: nothing says which send"
    if mid != mid.strip():  # SQL's trim would spell it otherwise than id_forms
        lit = sa.literal
        forms = [lit(f) for f in sorted(id_forms(mid))]
        rcpts = conn.execute(
            sa.select(_report_facts(lit(box_id), lit(None, sa.String), lit(mid), forms)[1])
        ).scalar()
    if rcpts > 1:
        return (
            f"its recipient is redacted and {box} sent {mid} to "
            f"{rcpts} recipients: which one complained is unknown"
        )
    return f"its recipient is redacted and its original {mid} is none of {box}'s sends"
