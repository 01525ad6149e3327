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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

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
    EVENT,
    MAILBOX,
    SEND,
    SYNC_STATE,
    WALK_MEMO,
)
from warmup.ledger.values import (
    MATCH_WINDOW,
    Ask,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    day_start,
    id_forms,
    local_day,
    named_only,
    sql_limit,
    utc,
)
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
_TODAY = sa.select(sa.func.count(), sa.func.max(SEND.c.at)).where(
    SEND.c.mailbox_id == _P("box"), SEND.c.at >= _P("start"), SEND.c.at <= _P("cut"), COUNTED
)
_LAST = sa.select(sa.func.max(SEND.c.at)).where(
    SEND.c.mailbox_id == _P("box"), SEND.c.at <= _P("cut"), COUNTED
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
_EVENTS = (
    sa.select(_E.kind, _E.at, _E.until, _E.reason)
    .where(_E.mailbox_id == _P("box"), _E.at <= _P("cut"))
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
_ALL_TODAY = (
    sa.select(SEND.c.mailbox_id, sa.func.count(), sa.func.max(SEND.c.at))
    .where(SEND.c.mailbox_id.in_(_IDS), SEND.c.at >= _P("start"), SEND.c.at <= _P("cut"), COUNTED)
    .group_by(SEND.c.mailbox_id)
)
# A correlated subquery, so each mailbox's maximum is looked up on its index as _LAST does.
_ALL_LAST = sa.select(
    _M.id,
    sa.select(sa.func.max(SEND.c.at))
    .where(SEND.c.mailbox_id == _M.id, SEND.c.at <= _P("cut"), COUNTED)
    .scalar_subquery(),
).where(_M.id.in_(_IDS))
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
    .where(_E.mailbox_id.in_(_IDS), _E.at <= _P("cut"))
    .order_by(_E.mailbox_id, _E.at, _E.id)
)
# Bound parameters per statement stay far below SQLite's limit (32,766; 999 before 3.32).
_CHUNK = 500


class Questions:
    """What the engine and the listings ask (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def real_today(self, tz: str) -> dt.date: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def _sql_domain(self, column: Any) -> Any: ...

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
            params = {"box": box.id, "start": start, "cut": cut, "today": today}
            sent_today, last = conn.execute(_TODAY, params).one()
            if not sent_today:  # the last send may be on an earlier day
                last = conn.execute(_LAST, params).scalar()
            kinds: dict[str, int] = dict(conn.execute(_KINDS, params).all())
            events = self._events(conn, box, state, cut, cut)
            domain_sent = self._domain_sent(conn, box, start, cut) if domain_cap else None
            ddays = self._domain_days(conn, box, domain_since(state), today) if domain_cap else None
            per_domain = self._per_domain(conn, box, start, cut) if recipient_caps else {}
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
        cut = utc(as_of)
        today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
        zones: dict[str, list[int]] = {}
        for b, _ in asks:
            zones.setdefault(b.timezone, []).append(b.id)
        ids = list({b.id: None for b, _ in asks})
        with self.read() as conn:
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
            for tz, group in zones.items():
                today = today_of[tz]
                params = {"ids": group, "start": day_start(today, tz), "cut": cut, "today": today}
                for mailbox_id, n, at in conn.execute(_ALL_TODAY, params):
                    today_sent[mailbox_id] = (n, at)
                for mailbox_id, kind, n in conn.execute(_ALL_KINDS, params):
                    kinds[mailbox_id][kind] = n
            idle = [i for i in ids if not today_sent.get(i, (0, None))[0]]
            if idle:  # the last send may be on an earlier day
                for mailbox_id, at in conn.execute(_ALL_LAST, {"ids": idle, "cut": cut}):
                    today_sent[mailbox_id] = (0, at)
            events: dict[int, list[Any]] = {i: [] for i in ids}
            for row in conn.execute(_ALL_EVENTS, {"ids": ids, "cut": cut}):
                events[row[0]].append(row)
            domain_sent: dict[tuple[str, dt.datetime], int] = {}
            out = []
            for b, ask in asks:
                tz, state = b.timezone, states[b.id]
                today = today_of[tz]
                start = day_start(today, tz)
                dsent, ddays = None, None
                if ask.domain_cap:
                    key = (b.address.rsplit("@", 1)[1], start)
                    if key not in domain_sent:
                        domain_sent[key] = self._domain_sent(conn, b, start, cut)
                    dsent = domain_sent[key]
                    ddays = self._domain_days(conn, b, domain_since(state), today)
                per_domain = self._per_domain(conn, b, start, cut) if ask.recipient_caps else {}
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
        self, conn: Connection, box: MailboxRow, start: dt.datetime, cut: dt.datetime
    ) -> dict[str, int]:
        """Today's sends of ``box`` per recipient domain (a policy capping recipient domains)."""
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
        self, conn: Connection, box: MailboxRow, start: dt.datetime, cut: dt.datetime | None
    ) -> int:
        """Sends of every mailbox of ``box``'s domain since ``start`` (the policy's domain cap)."""
        domain = box.address.rsplit("@", 1)[1]
        ids = sa.select(MAILBOX.c.id).where(MAILBOX.c.address.like(f"%@{domain}"))
        stmt = sa.select(sa.func.count()).where(
            SEND.c.mailbox_id.in_(ids), SEND.c.at >= start, COUNTED
        )
        if cut is not None:
            stmt = stmt.where(SEND.c.at <= cut)
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

    def sync_position(self, box: MailboxRow, folder: str) -> tuple[int, int] | None:
        """``(UIDVALIDITY, last UID)`` bounce sync stopped at in ``folder``, if it ever ran."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(SYNC_STATE.c.uidvalidity, SYNC_STATE.c.last_uid).where(
                    SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder
                )
            ).first()
        return (int(row.uidvalidity), int(row.last_uid)) if row else None

    def bounces(
        self,
        mailbox: MailboxRow | None = None,
        kind: str | None = None,
        limit: int | None = 1000,
        since: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Recorded bounces, newest first, at most ``limit`` (None: all), at or after ``since``:
        ``matched`` (answers a send of the mailbox), ``counted`` (in its rates),
        ``unverified`` (why one answers no send although one fits it by recipient and time: its
        returned original is another's, or dated away from that send; else None) and
        ``not_counted`` (why it is not in the rates, for every bounce that is not: see
        :func:`_why_not_counted`; None for one that is)."""
        b = BOUNCE.c
        stmt = (
            sa.select(
                MAILBOX.c.address.label("mailbox"),
                b.mailbox_id,
                b.original_recipient,
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
                b.report,
                b.redacted,
            )
            .join(MAILBOX, MAILBOX.c.id == b.mailbox_id)
            .order_by(b.at.desc(), b.id.desc())
            .limit(sql_limit(limit))
        )
        if since is not None:
            stmt = stmt.where(b.at >= utc(since))
        if mailbox is not None:
            stmt = stmt.where(b.mailbox_id == mailbox.id)
        if kind:
            stmt = stmt.where(b.kind == kind)
        with self.read() as conn:
            rows = conn.execute(stmt).all()
            why = _why_not_counted(conn, rows)
        out = []
        for r in rows:
            row = r._asdict()
            del row["mailbox_id"], row["original_recipient"], row["report"], row["redacted"]
            row.update(
                counted=bool(r.counted),
                at=r.at.isoformat(),
                matched=r.send_id is not None,
                not_counted=why.get(id(r)),
            )
            out.append(row)
        return out


# Values per IN list of :func:`_why_not_counted`: a listing of every bounce (``--limit 0``)
# named more than PostgreSQL's protocol takes in one query (65,535) or SQLite's (250,000).
_IN_PART = 5000


def _parts(values: list[str]) -> Iterator[list[str]]:
    for k in range(0, len(values), _IN_PART):
        yield values[k : k + _IN_PART]


def _why_not_counted(conn: Connection, rows: Sequence[Any]) -> dict[int, str]:
    """Why each bounce of ``rows`` that is not counted is not (keyed by ``id(row)``), as the
    ledger stands now (a report read before its send was recorded is linked by a later sync).

    A delay warning never counts; a report matched to a send that another report already
    counted is a second report of one failure; one whose returned original disagrees says so
    (``unverified``); otherwise it answers no send of its mailbox because it names no failed
    recipient, because its recipient is redacted and its Message-ID is no send of the mailbox
    to one recipient, because its original's Message-ID is a send of another mailbox, because
    the mailbox never mailed that address, because another recipient of its report answers a
    send of another message (one report is about one message), because none of its sends to it
    is the message the report names, or because none was made in the :data:`MATCH_WINDOW`
    before the report. Four queries for all the rows (one more per :data:`_IN_PART` values in
    a list past the first)."""
    loose = [r for r in rows if r.send_id is None and not r.unverified and r.recipient]
    hidden = [r for r in rows if r.send_id is None and not r.unverified and r.redacted]
    mids = sorted({f for r in loose if r.message_id for f in id_forms(r.message_id)})
    owners: dict[str, tuple[int, str]] = {}
    for part in _parts(mids):
        for mid, box_id, address in conn.execute(
            sa.select(SEND.c.message_id, SEND.c.mailbox_id, MAILBOX.c.address)
            .join(MAILBOX, MAILBOX.c.id == SEND.c.mailbox_id)
            .where(SEND.c.message_id.in_(part), COUNTED)
        ):
            owners.setdefault(mid, (box_id, address))
    addresses = sorted({a for r in loose for a in (r.recipient, r.original_recipient) if a})
    boxes = sorted({r.mailbox_id for r in loose})
    mailed: dict[tuple[int, str], set[str | None]] = {}
    for part in _parts(addresses):
        for box_id, rcpt, mid in conn.execute(
            sa.select(SEND.c.mailbox_id, SEND.c.recipient, SEND.c.message_id).where(
                SEND.c.recipient.in_(part), SEND.c.mailbox_id.in_(boxes), COUNTED
            )
        ):
            mailed.setdefault((box_id, rcpt), set()).add(mid)
    reports = sorted({r.report for r in loose if r.report})
    answered: dict[tuple[int, str], str] = {}  # (mailbox, report) -> a recipient it answers
    for part in _parts(reports):
        for box_id, report, rcpt in conn.execute(
            sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.report, BOUNCE.c.recipient).where(
                BOUNCE.c.mailbox_id.in_(boxes),  # ix_bounce_report: (mailbox_id, report)
                BOUNCE.c.report.in_(part),
                BOUNCE.c.send_id.is_not(None),
            )
        ):
            answered.setdefault((box_id, report), rcpt)
    sent_to = _sent_to(conn, hidden)
    why: dict[int, str] = {}
    for r in rows:
        if r.counted:
            continue
        if r.kind == "delayed":
            why[id(r)] = "a delay warning: the server still tries, never counted"
        elif r.send_id is not None:
            why[id(r)] = "a second report of a send whose failure is already counted"
        elif r.unverified:
            why[id(r)] = r.unverified
        elif r.redacted:
            why[id(r)] = _redacted(r, sent_to)
        elif not r.recipient:
            why[id(r)] = "it names no failed recipient"
        else:
            why[id(r)] = _unmatched(r, owners, mailed, answered)
    return why


def _sent_to(conn: Connection, rows: Sequence[Any]) -> dict[tuple[int, str], set[str]]:
    """(mailbox, Message-ID as sent) -> the recipients of its sends, for the Message-IDs the
    redacted complaints ``rows`` name."""
    mids = sorted({f for r in rows if r.message_id for f in id_forms(r.message_id)})
    out: dict[tuple[int, str], set[str]] = {}
    for part in _parts(mids):
        for box_id, mid, rcpt in conn.execute(
            sa.select(SEND.c.mailbox_id, SEND.c.message_id, SEND.c.recipient).where(
                SEND.c.message_id.in_(part), COUNTED
            )
        ):
            out.setdefault((box_id, mid), set()).add(rcpt)
    return out


def _redacted(r: Any, sent_to: dict[tuple[int, str], set[str]]) -> str:
    """Why a complaint whose recipient the feedback loop redacted (RFC 6590) answers no send:
    only a Message-ID of its mailbox's, sent to one recipient, says whom it is about."""
    if not r.message_id:
        return "its recipient is redacted and it names no Message-ID: nothing says which send"
    rcpts = set().union(*(sent_to.get((r.mailbox_id, m), set()) for m in id_forms(r.message_id)))
    if len(rcpts) > 1:
        return (
            f"its recipient is redacted and {r.mailbox} sent {r.message_id} to "
            f"{len(rcpts)} recipients: which one complained is unknown"
        )
    return (
        f"its recipient is redacted and its original {r.message_id} is none of {r.mailbox}'s sends"
    )


def _unmatched(
    r: Any,
    owners: dict[str, tuple[int, str]],
    mailed: dict[tuple[int, str], set[str | None]],
    answered: dict[tuple[int, str], str],
) -> str:
    """Why the bounce ``r`` (which names a recipient) answers no send of its mailbox."""
    if r.message_id:
        for mid in sorted(id_forms(r.message_id)):
            if mid in owners and owners[mid][0] != r.mailbox_id:
                return f"its original {r.message_id} was sent by {owners[mid][1]}, not {r.mailbox}"
    sent = [mailed.get((r.mailbox_id, a)) for a in (r.recipient, r.original_recipient) if a]
    if not any(sent):
        return f"{r.mailbox} never mailed {r.recipient}"
    other = answered.get((r.mailbox_id, r.report)) if r.report else None
    if other is not None and other != r.recipient:
        return f"its report is about another message, to {other}: one report, one message"
    if named_only(r.kind, r.source, r.diagnostic):
        named = f"names {r.message_id}" if r.message_id else "names none"
        return f"a complaint from a mailbox answers only the send whose Message-ID it names: it {named}"
    ids = set().union(*(s for s in sent if s))
    if r.message_id and None not in ids and not ids & id_forms(r.message_id):
        return f"its original {r.message_id} is none of {r.mailbox}'s sends to {r.recipient}"
    return f"no send of {r.mailbox} to {r.recipient} in the {MATCH_WINDOW.days} days before it"
