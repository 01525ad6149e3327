"""The engine's inputs and the ledger's listings (a mixin of :class:`warmup.ledger.Ledger`).

:meth:`Questions.history` reads what the policy engine needs about a mailbox as of an instant,
with the mailbox's walk memo when it is still valid (its ``rev`` unchanged): then only the days
the windows look back on and the events after the memo are read, so the cost does not grow with
the history. :meth:`Questions.keep_memo` stores a newer memo.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.schema import (
    BOUNCE,
    BOUNCE_KINDS,
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
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    day_start,
    local_day,
    utc,
)
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


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
            rev = conn.execute(sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == box.id)).scalar()
            if rev is None:
                raise MailboxNotFound(box.address)
            state = self._valid_memo(conn, box.id, rev, today, memo)
            since = (
                None if state is None else state.upto - dt.timedelta(days=memo[1] if memo else 0)
            )
            d = DAY_STAT.c
            stmt = (
                sa.select(d.day, *(d[c] for c in COUNT_COLUMNS))
                .where(d.mailbox_id == box.id, d.day < today)
                .order_by(d.day)
            )
            if since is not None:
                stmt = stmt.where(d.day >= since)
            days = [DayCounts(*r) for r in conn.execute(stmt)]
            sent_today, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(SEND.c.at)).where(
                    SEND.c.mailbox_id == box.id, SEND.c.at >= start, SEND.c.at <= cut, COUNTED
                )
            ).one()
            if not sent_today:  # the last send may be on an earlier day
                last = conn.execute(
                    sa.select(sa.func.max(SEND.c.at)).where(
                        SEND.c.mailbox_id == box.id, SEND.c.at <= cut, COUNTED
                    )
                ).scalar()
            kinds: dict[str, int] = dict(
                conn.execute(
                    sa.select(BOUNCE.c.kind, sa.func.count())
                    .where(
                        BOUNCE.c.mailbox_id == box.id,
                        BOUNCE.c.day == today,
                        BOUNCE.c.at <= cut,
                        BOUNCE.c.counted,
                    )
                    .group_by(BOUNCE.c.kind)
                ).all()
            )
            events = self._events(conn, box, state, cut, cut)
            domain_sent = self._domain_sent(conn, box, start, cut) if domain_cap else None
            per_domain: dict[str, int] = {}
            if recipient_caps:
                domain = self._sql_domain(SEND.c.recipient)
                per_domain = {
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
        if sent_today or kinds:
            days.append(DayCounts(today, sent_today, **{k: kinds.get(k, 0) for k in BOUNCE_KINDS}))
        hist = History(
            mailbox=box.address,
            timezone=tz,
            days=tuple(days),
            events=events,
            last_send_at=last,
            cap=box.cap,
            provider_ceiling=provider_ceiling,
            provider_min_interval=provider_min_interval,
            started=box.started,
            domain_sent_today=domain_sent,
            memo=state,
            recipient_domains_today=per_domain,
        )
        return Snapshot(hist, rev)

    def _valid_memo(
        self,
        conn: Connection,
        mailbox_id: int,
        rev: int,
        today: dt.date,
        memo: tuple[str, int] | None,
    ) -> WalkState | None:
        if memo is None:
            return None
        row = conn.execute(
            sa.select(
                WALK_MEMO.c.upto, WALK_MEMO.c.rev, WALK_MEMO.c.inputs, WALK_MEMO.c.state
            ).where(WALK_MEMO.c.mailbox_id == mailbox_id)
        ).first()
        if row is None or row.rev != rev or row.inputs != memo[0] or row.upto > today:
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
        e = EVENT.c
        stmt = sa.select(e.kind, e.at, e.until, e.reason).where(e.mailbox_id == box.id, e.at <= cut)
        if memo is not None:
            applied = day_start(memo.upto - dt.timedelta(days=1), box.timezone)
            last_manual = (
                sa.select(e.id)
                .where(e.mailbox_id == box.id, e.kind.in_(("pause", "resume")), e.at <= applied)
                .order_by(e.at.desc(), e.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            stmt = stmt.where(
                sa.or_(
                    e.at > applied,
                    sa.and_(e.kind == "throttle", e.until > now),
                    e.id == last_manual,
                )
            )
        return tuple(
            MailboxEvent(k, a, u, r or "") for k, a, u, r in conn.execute(stmt.order_by(e.at, e.id))
        )

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

    def keep_memo(self, box: MailboxRow, state: WalkState | None, inputs: str, rev: int) -> bool:
        """Keep ``state`` (from :attr:`warmup.policy.Allowance.memo`, computed at revision
        ``rev`` for ``inputs``) as the mailbox's walk memo, if it may cover its days (before
        yesterday by this host's clock) and is newer than the one kept; True if stored."""
        if state is None or state.upto >= self.real_today(box.timezone):
            return False
        with self.write() as conn:
            return self._keep_memo(conn, box.id, state, inputs, rev)

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
        self, mailbox: MailboxRow | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Recorded bounces, newest first: ``matched`` (answers a send of the mailbox) and
        ``counted`` (in its rates)."""
        b = BOUNCE.c
        stmt = (
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
            )
            .join(MAILBOX, MAILBOX.c.id == b.mailbox_id)
            .order_by(b.at.desc(), b.id.desc())
            .limit(limit)
        )
        if mailbox is not None:
            stmt = stmt.where(b.mailbox_id == mailbox.id)
        if kind:
            stmt = stmt.where(b.kind == kind)
        with self.read() as conn:
            return [
                {
                    **r._asdict(),
                    "counted": bool(r.counted),
                    "at": r.at.isoformat(),
                    "matched": r.send_id is not None,
                }
                for r in conn.execute(stmt)
            ]
