"""A slow reference of the gate's reservation on plain Core statements, to check the fast paths.

:class:`ReferenceGate` runs the steps of :mod:`warmup.ledger.gatepath` the obvious way: it reads
the whole history (every rollup day, every event: no walk memo), the last send and the slots with
SQLAlchemy Core, and writes with Core. Settling is the sessions' shared code. The backends' own
paths (:class:`~warmup.ledger.sqlite_gate.SQLiteGate`,
:class:`~warmup.ledger.postgres_gate.PostgresGate`) must give the same decisions and leave the same rows: ``tests/test_gate_paths.py``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from warmup.errors import WarmupError
from warmup.ledger import holders
from warmup.ledger.gatepath import Decide, GateRows, GateSession, recipient_domains
from warmup.ledger.schema import COUNT_COLUMNS, DAY_STAT, EVENT, MAILBOX, SEND, SUPPRESSION
from warmup.ledger.values import CLOCK_SKEW, day_start, local_day

B = sa.bindparam


class ReferenceGate(GateSession):
    """The gate's transaction on Core statements, reading everything every time."""

    def reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str = "gate",
    ) -> tuple[list[int], dt.datetime]:
        ledger, box = self.ledger, self.box
        pending = list(self._deferred)
        refusal: Exception | None = None
        ids: list[int] = []
        with ledger.write() as conn:
            ledger._lock_mailboxes(conn, [box.id])
            for sid, at in pending:
                conn.execute(
                    SEND.update()
                    .where(SEND.c.id == sid, SEND.c.outcome.in_(("reserved", "unknown")))
                    .values(outcome="sent", settled_at=at)
                )
            now = clock()
            if self._expire_due(now):
                self._expire(conn, now)
            rows = self._read(conn, recipients, message_id, now)
            decision = decide(self._history(rows, now), rows.suppressed, now, rows.rev)
            refusal = decision.refusal
            if refusal is None:
                try:
                    ids = self._write(conn, recipients, message_id, now, rows, source)
                except WarmupError as exc:
                    refusal = exc
        del self._deferred[: len(pending)]
        if refusal is not None:
            raise refusal
        return ids, now

    def expire(self, now: dt.datetime) -> None:
        with self.ledger.write() as conn:
            self.ledger._lock_mailboxes(conn, [self.box.id])
            self._expire(conn, now)

    def _expire(self, conn: sa.Connection, now: dt.datetime) -> None:
        """Step 3: past the expiry, or held by a process gone from this host
        (GateSession._gone)."""
        box = self.box
        held = conn.execute(
            sa.select(SEND.c.id, SEND.c.holder_pid, SEND.c.holder_start).where(
                SEND.c.mailbox_id == box.id,
                SEND.c.outcome == "reserved",
                SEND.c.holder_host == holders.me().host,
            )
        ).all()
        gone = self._gone(held)
        conn.execute(
            SEND.update()
            .where(
                SEND.c.mailbox_id == box.id,
                SEND.c.outcome == "reserved",
                sa.or_(SEND.c.at < now - self.expiry, SEND.c.id.in_(gone)),
            )
            .values(outcome="unknown", settled_at=now)
        )

    def _read(
        self, conn: sa.Connection, recipients: Sequence[str], message_id: str, now: dt.datetime
    ) -> GateRows:
        box = self.box
        rev, cap, started = conn.execute(
            sa.select(MAILBOX.c.rev, MAILBOX.c.cap, MAILBOX.c.started).where(MAILBOX.c.id == box.id)
        ).one()
        d = DAY_STAT.c
        days = [
            tuple(r)
            for r in conn.execute(
                sa.select(d.day, *(d[c] for c in COUNT_COLUMNS))
                .where(d.mailbox_id == box.id)
                .order_by(d.day)
            )
        ]
        last = conn.execute(
            sa.select(sa.func.max(SEND.c.at)).where(
                SEND.c.mailbox_id == box.id,
                SEND.c.outcome != "released",
                SEND.c.at <= now + CLOCK_SKEW,
            )
        ).scalar()
        events = [
            tuple(r)
            for r in conn.execute(
                sa.select(EVENT.c.kind, EVENT.c.at, EVENT.c.until, EVENT.c.reason)
                .where(EVENT.c.mailbox_id == box.id)
                .order_by(EVENT.c.at, EVENT.c.id)
            )
        ]
        bad = {
            a: f"{k}: {r}" if r else k
            for a, k, r in conn.execute(
                sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind, SUPPRESSION.c.reason).where(
                    SUPPRESSION.c.address.in_(list(recipients))
                )
            )
        }
        slots = {
            r: (i, o)
            for r, i, o in conn.execute(
                sa.select(SEND.c.recipient, SEND.c.id, SEND.c.outcome).where(
                    SEND.c.mailbox_id == box.id,
                    SEND.c.key.in_([f"{message_id}|{r}" for r in recipients]),
                )
            )
        }
        domain = None
        domain_days = None
        if self.policy.domain_cap:
            today = local_day(now, box.timezone)
            # the domain's rows since the mailbox's midnight, counted (the backends read rollups)
            like = MAILBOX.c.address.like("%@" + box.address.rsplit("@", 1)[1])
            domain = conn.execute(
                sa.select(sa.func.count()).where(
                    SEND.c.mailbox_id.in_(sa.select(MAILBOX.c.id).where(like)),
                    SEND.c.at >= day_start(today, box.timezone),
                    SEND.c.outcome != "released",
                )
            ).scalar_one()
            # every day before today of every other mailbox of the domain, summed here
            others = sa.select(MAILBOX.c.id).where(like, MAILBOX.c.id != box.id)
            domain_days = {}
            for day, n in conn.execute(
                sa.select(d.day, d.sent).where(d.mailbox_id.in_(others), d.day < today)
            ):
                domain_days[day] = domain_days.get(day, 0) + n
        per_domain = None
        if self.policy.recipient_caps:
            wanted = recipient_domains(recipients)
            per_domain = {}
            for (rcpt,) in conn.execute(
                sa.select(SEND.c.recipient).where(
                    SEND.c.mailbox_id == box.id,
                    SEND.c.at >= day_start(local_day(now, box.timezone), box.timezone),
                    SEND.c.outcome != "released",
                )
            ):
                d = rcpt.rsplit("@", 1)[-1].lower()
                if d in wanted:
                    per_domain[d] = per_domain.get(d, 0) + 1
        return GateRows(
            rev,
            cap,
            started,
            None,
            days,
            last,
            events,
            bad,
            slots,
            domain,
            per_domain,
            {k: v for k, v in domain_days.items() if v} if domain_days is not None else None,
        )

    def _write(
        self,
        conn: sa.Connection,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        rows: GateRows,
        source: str,
    ) -> list[int]:
        box = self.box
        aside = self._plan(recipients, message_id, rows.slots)
        for sid in aside:
            conn.execute(
                SEND.update()
                .where(SEND.c.id == sid)
                .values(key=SEND.c.key + "#" + sa.cast(SEND.c.id, sa.String))
            )
        day = local_day(now, box.timezone)
        me = holders.me()  # every reservation names its holder
        holder = {"holder_host": me.host, "holder_pid": me.pid, "holder_start": me.start}
        ids = []
        for rcpt in recipients:
            ids.append(
                conn.execute(
                    SEND.insert()
                    .values(
                        mailbox_id=box.id,
                        recipient=rcpt,
                        message_id=message_id,
                        at=now,
                        day=day,
                        outcome="reserved",
                        source=source,
                        key=f"{message_id}|{rcpt}",
                        **holder,
                    )
                    .returning(SEND.c.id)
                ).scalar_one()
            )
        self.ledger._bump(conn, box, day, "sent", len(ids))
        return ids
