"""The SQLite backend's gate on the ``sqlite3`` driver alone: the reservation's transaction
(:class:`SQLiteGate`), and :class:`SQLiteGateLedger`, which opens a ledger for ``warmup send``'s
one message without importing SQLAlchemy.

A ``warmup send`` is a new process per message: SQLAlchemy and the schema were most of its
start-up (bench/RESULTS.md). :class:`SQLiteGateLedger` answers what a :class:`~warmup.gate.Gate`
asks on its common path (the mailbox, its policy, the reservation, the "sent" settlement, the
``--dry-run`` preview) on the driver; the rare paths (a bounce or throttle reply to settle, a
notification) open the full :class:`~warmup.ledger.sqlite.SQLiteLedger` when they need it
(:meth:`SQLiteGateLedger.full`). The full backend runs the same gate (its subclass only says
where the connection comes from) and the same reads (:func:`read_suppressed`), so each statement
is written once. Rows are written in the formats SQLAlchemy writes (:func:`ts`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmup.errors import WarmupError
from warmup.ledger import holders
from warmup.ledger.checkpoints import Checkpointer
from warmup.ledger.gatepath import (
    Decide,
    GateLedger,
    GatePolicy,
    GateRows,
    GateSession,
    Lean,
    Outcome,
    recipient_domains,
)
from warmup.ledger.reads import newer_refusal, sibling_stamp, stamped
from warmup.ledger.sqlite_file import (
    ledger_fault,
    open_existing,
    parse_ts,
    setup_connection,
    storage_error,
    ts,
)
from warmup.ledger.sqlite_history import DOMAIN_DAYS, SIBLINGS, domain_sent_today, since_of
from warmup.ledger.sqlite_reads import SQLiteReads
from warmup.ledger.values import (
    CLOCK_SKEW,
    DERIVE_KEY,
    Ask,
    Claim,
    ClaimLost,
    DeriveKey,
    EventIn,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    zone,
)
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState, day_start

if TYPE_CHECKING:
    from warmup.ledger.core import Ledger


@contextmanager
def _errors(where: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if not ledger_fault(exc):
            raise
        raise storage_error(exc, where) from None


def read_suppressed(cur: sqlite3.Cursor, addresses: Sequence[str]) -> dict[str, str]:
    """Which of ``addresses`` are suppressed, with why."""
    out: dict[str, str] = {}
    for k in range(0, len(addresses), 500):
        part = addresses[k : k + 500]
        for a, kind, reason in cur.execute(
            "SELECT address, kind, reason FROM suppression "
            f"WHERE address IN ({','.join('?' * len(part))})",
            part,
        ):
            out[a] = f"{kind}: {reason}" if reason else kind
    return out


def _day_rows(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(dt.date.fromisoformat(r[0]), *r[1:]) for r in rows]


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


_MEMO = (
    "SELECT m.rev, m.cap, m.started, w.upto, w.rev, w.inputs, w.state, "
    "(SELECT upto FROM timeline_cache WHERE mailbox_id = m.id) FROM mailbox m "
    "LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id = ?"
)
# Memos that closed today or a later day: kept by a host whose clock ran ahead (Records._touch).
_AHEAD_MEMOS = (
    "DELETE FROM walk_memo WHERE mailbox_id = ? AND upto > ?",
    "DELETE FROM timeline_cache WHERE mailbox_id = ? AND upto > ?",
)
_DAYS = (
    "SELECT day, sent, hard, soft, block, complaint FROM day_stat "
    "WHERE mailbox_id = ? AND day >= ? ORDER BY day"
)
# ORDER BY ... LIMIT 1, not max(at): with the outcome filter, max() would read every row.
_LAST = (
    "SELECT at FROM send WHERE mailbox_id = ? AND at <= ? AND outcome != 'released' "
    "ORDER BY at DESC LIMIT 1"
)
# The last send and the first one stamped after the window (the kept last send holds until then).
_LAST_AND_NEXT = (
    f"SELECT ({_LAST}), (SELECT at FROM send WHERE mailbox_id = ? AND at > ? "
    f"AND outcome != 'released' ORDER BY at LIMIT 1)"
)
_ALL_EVENTS = "SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = ? ORDER BY at, id"
# Three index searches (an OR of them would read every event of the mailbox): the events after
# the memo's day, the back-offs still in force, the last pause or resume before.
_NEW_EVENTS = (
    "SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = ? AND at > ? "
    "UNION SELECT id, kind, at, until, reason FROM event "
    "WHERE mailbox_id = ? AND kind = 'throttle' AND until > ? "
    "UNION SELECT id, kind, at, until, reason FROM event WHERE id = (SELECT id FROM event "
    "WHERE mailbox_id = ? AND kind IN ('pause', 'resume') AND at <= ? ORDER BY at DESC, id DESC "
    "LIMIT 1) ORDER BY at, id"
)
# Step 3 (SQLiteGate._expire): reservations older than the expiry, and those of processes gone
# from this host (ids as ",1,2,"), become ``unknown``; _HELD_HERE reads this host's first.
_EXPIRE = (
    "UPDATE send SET outcome = 'unknown', settled_at = ? WHERE mailbox_id = ? "
    "AND outcome = 'reserved' AND (at < ? OR instr(?, ',' || id || ',') > 0)"
)
_HELD_HERE = (
    "SELECT id, holder_pid, holder_start FROM send WHERE mailbox_id = ? "
    "AND outcome = 'reserved' AND holder_host = ?"
)
# A slot is named by its id and its mailbox's: a gate whose mailbox was removed (its slots with
# it) must not settle a slot of another mailbox given one of those ids.
_SETTLE_SENT = (
    "UPDATE send SET outcome = 'sent', settled_at = ? WHERE id = ? AND mailbox_id = ? "
    "AND outcome IN ('reserved', 'unknown')"
)
_CLAIMED = "SELECT 1 FROM outbox WHERE id = ? AND state = 'sending' AND claimed_by = ?"
_INSERT = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, settled_at, "
    "source, key, holder_host, holder_pid, holder_start) "
    "VALUES (?, ?, ?, ?, ?, 'reserved', NULL, ?, ?, ?, ?, ?)"
)
_BUMP_SENT = (
    "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
    "VALUES (?, ?, ?, 0, 0, 0, 0) ON CONFLICT (mailbox_id, day) DO UPDATE SET "
    "sent = sent + excluded.sent"
)
# A counted send of the mailbox stamped from tomorrow's midnight on.
_TOMORROWS = "SELECT 1 FROM send WHERE mailbox_id = ? AND at >= ? AND outcome != 'released' LIMIT 1"
# The domain_day rollup's rows of the message's recipient domains (records._bump_domains's)
_BUMP_DOMAIN = (
    "INSERT INTO domain_day (mailbox_id, day, domain, sent) VALUES (?, ?, lower(?), ?) "
    "ON CONFLICT (mailbox_id, day, domain) DO UPDATE SET sent = sent + excluded.sent"
)
_KEEP_MEMO = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (mailbox_id) DO UPDATE SET upto = excluded.upto, rev = excluded.rev, "
    "inputs = excluded.inputs, state = excluded.state"
)


@dataclass
class _Seen:
    """The mailbox's rows as this gate's last committed reservation left them (its own slot,
    rollup bump and stamp included): still true while no other connection has committed
    (``PRAGMA data_version`` unchanged), so the next reservation reads only what depends on its
    message. Kept for the same local day, the clock not gone back, no throttle back-off among
    the events (which one applies depends on the instant), and the last send only until the
    window ``now`` + CLOCK_SKEW reaches a send stamped later (``horizon``). ``past`` and
    ``events`` are the engine's objects for the days before today and the events. Updated in
    place after each of our own commits, which data_version does not count: the same object
    while the rows before today hold, the :class:`~warmup.ledger.gatepath.Kept` a lean decision
    reads (``domain_sent`` and ``recipient_domains`` set for each reservation)."""

    version: int
    now: dt.datetime
    today: dt.date
    rows: GateRows
    past: tuple[DayCounts, ...]
    events: tuple[MailboxEvent, ...]
    counts: DayCounts | None  # today's row
    last: dt.datetime | None
    horizon: dt.datetime | None
    box: MailboxRow
    policy: GatePolicy
    domain_sent: int | None = None
    recipient_domains: dict[str, int] | None = None

    def holds(self, version: int, now: dt.datetime, today: dt.date) -> bool:
        return (
            version == self.version
            and now >= self.now
            and today == self.today
            and (self.horizon is None or now + CLOCK_SKEW < self.horizon)
        )

    def took(self, now: dt.datetime, taken: int) -> None:
        """Our own reservation committed at ``now`` with ``taken`` slots."""
        self.now = now
        if taken:
            if self.last is None or now > self.last:
                self.last = now
            c = self.counts
            if c is None:
                self.counts = DayCounts(self.today, taken)
            else:
                self.counts = DayCounts(c.day, c.sent + taken, c.hard, c.soft, c.block, c.complaint)

    def history(self) -> History:
        """The engine's view from the kept rows: the same objects for the days before today and
        the events, today's counts as this gate's commits left them."""
        p, box, r, c = self.policy, self.box, self.rows, self.counts
        return History(
            box.address,
            box.timezone,
            (*self.past, c) if c is not None else self.past,
            self.events,
            self.last,
            r.cap,
            p.provider_ceiling,
            p.provider_min_interval,
            r.started,
            self.domain_sent,
            r.memo,
            self.recipient_domains or {},
            domain_days=r.domain_days or {},
        )

    @classmethod
    def after(
        cls,
        version: int,
        now: dt.datetime,
        today: dt.date,
        rows: GateRows,
        hist: History,
        horizon: dt.datetime | None,
        taken: int,
        box: MailboxRow,
        policy: GatePolicy,
    ) -> _Seen | None:
        if any(kind == "throttle" for kind, *_ in rows.events):
            return None
        today_row = next((c for c in hist.days if c.day == today), None)
        past = tuple(c for c in hist.days if c.day < today)
        r = rows
        # The days live on as ``past`` and ``counts``, the last send as ``last``.
        kept = GateRows(
            r.rev,
            r.cap,
            r.started,
            r.memo,
            [],
            None,
            r.events,
            {},
            {},
            domain_days=r.domain_days,
            stamp=r.stamp,
        )
        seen = cls(
            version, now, today, kept, past, hist.events, today_row, r.last, horizon, box, policy
        )
        seen.took(now, taken)
        return seen


class SQLiteGate(GateSession):
    """The gate's transaction on a raw ``sqlite3`` connection (see :mod:`warmup.ledger.gatepath`);
    a backend says where the connection comes from (:meth:`_connect`, :meth:`_release`)."""

    def __init__(
        self, ledger: GateLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        super().__init__(ledger, box, policy, expiry)
        self._raw: sqlite3.Connection | None = None  # one connection for this gate's transactions
        self._cur: sqlite3.Cursor | None = None
        self._sql: dict[int, str] = {}  # _message_rows's statement by the number of recipients
        self._counts_domains = policy.caps_today or policy.recipient_caps
        self._zone = zone(box.timezone)
        self._fixed: tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None = None
        self._seen: _Seen | None = None
        self._bumped_rev = False
        # Only when every other connection is another sqlite3 connection (data_version counts
        # their commits; a shared in-memory connection would hide them).
        self._can_keep = True
        self._aside: Checkpointer | None = None  # see checkpoint_aside

    def _connect(self) -> sqlite3.Connection:
        """The connection this gate's transactions run on (set up, in autocommit mode)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Let go of the connection :meth:`_connect` gave."""

    def reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str = "gate",
        claim: Claim | None = None,
        lean: Lean | None = None,
    ) -> tuple[list[int], dt.datetime]:
        # The transaction runs on the sqlite3 connection itself, as the PostgreSQL path does on
        # psycopg's: SQLAlchemy's transaction bookkeeping cost more than the statements. One
        # cursor for the gate's life, errors mapped inline (a context manager per reservation
        # was a measurable share of its Python).
        try:
            self._open()
            return self._reserve(recipients, message_id, decide, clock, source, claim, lean)
        except sqlite3.DatabaseError as exc:
            if not ledger_fault(exc):
                raise
            raise storage_error(exc, self.ledger.where) from None

    def _open(self) -> tuple[sqlite3.Connection, sqlite3.Cursor]:
        """This gate's connection and cursor, opened on first use."""
        if self._raw is None:
            self._raw = self._connect()
            self._cur = self._raw.cursor()
            if self._aside is not None:
                self._aside.watch(self._raw)
        assert self._cur is not None
        return self._raw, self._cur

    def expire(self, now: dt.datetime) -> None:
        """See :meth:`GateSession.expire`."""
        with _errors(self.ledger.where):
            raw, cur = self._open()
            cur.execute("BEGIN IMMEDIATE")
            try:
                self._expire(cur, now)
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
            if self._aside is not None:
                self._aside.committed(raw)

    def _reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str,
        claim: Claim | None,
        lean: Lean | None,
    ) -> tuple[list[int], dt.datetime]:
        box = self.box
        pending = list(self._deferred)
        refusal: Exception | None = None
        ids: list[int] = []
        seen, self._seen = self._seen, None  # kept again only once this one commits
        self._bumped_rev = False
        raw, cur = self._raw, self._cur
        assert raw is not None and cur is not None
        keys = [f"{message_id}|{r}" for r in recipients]
        cur.execute("BEGIN IMMEDIATE")
        try:
            if pending:
                cur.executemany(_SETTLE_SENT, [(ts(at), sid, box.id) for sid, at in pending])
            now = clock()  # under the lock: reservations are stamped in order
            if self._expire_due(now):
                self._expire(cur, now)
            version, bad, slots = self._message_rows(cur, recipients, keys)  # slots as expired
            if any(o == "reserved" for _, o in slots.values()) and self._expire(cur, now):
                version, bad, slots = self._message_rows(cur, recipients, keys)
            today = now.astimezone(self._zone).date()  # local_day's, the zone looked up once
            domains = self._domains(cur, recipients, today) if self._counts_domains else None
            if seen is not None and seen.holds(version, now, today):
                # Nobody else committed: the kept rows and this message's own.
                rows = None
                memo, rev = seen.rows.memo, seen.rows.rev
                seen.domain_sent, seen.recipient_domains = domains or (None, None)
                if lean is not None:
                    decision = lean(seen, bad, now, rev)
                else:
                    decision = decide(seen.history(), bad, now, rev)
            else:
                seen = None
                rows, horizon = self._read(cur, bad, slots, domains, now, today)
                memo, rev = rows.memo, rows.rev
                hist = self._history(rows, now, today)
                decision = decide(hist, bad, now, rev)
            refusal = decision.refusal
            if refusal is None and claim is not None:
                held = cur.execute(_CLAIMED, (claim.message, claim.worker)).fetchone()
                if held is None:
                    refusal = ClaimLost(claim)
            if refusal is None:
                try:
                    ids = self._write(
                        cur, recipients, keys, message_id, now, slots, source, today, clock
                    )
                except Exception as exc:  # DuplicateSend: nothing was written
                    if not isinstance(exc, WarmupError):
                        raise
                    refusal = exc
            kept = self._memo_to_keep(decision, memo)
            if kept is not None:
                stamp = seen.rows.stamp if seen is not None else rows.stamp if rows else None
                cur.execute(
                    _KEEP_MEMO,
                    (
                        box.id,
                        kept.upto.isoformat(),
                        rev,
                        stamped(self.policy.inputs, stamp),
                        kept.to_json(),
                    ),
                )
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[: len(pending)]
        if self._aside is not None:
            self._aside.committed(raw)
        if kept is None and not self._bumped_rev and self._can_keep:
            if seen is not None:
                seen.took(now, len(ids))
                self._seen = seen
            elif rows is not None:
                self._seen = _Seen.after(
                    version, now, today, rows, hist, horizon, len(ids), box, self.policy
                )
        if refusal is not None:
            raise refusal
        return ids, now

    def _expire(self, cur: sqlite3.Cursor, now: dt.datetime) -> int:
        """Step 3: the mailbox's reservations past the expiry, and those of processes gone
        from this host, become ``unknown``; how many."""
        held = cur.execute(_HELD_HERE, (self.box.id, holders.me().host)).fetchall()
        gone = f",{','.join(map(str, self._gone(held)))},"
        cur.execute(_EXPIRE, (ts(now), self.box.id, ts(now - self.expiry), gone))
        return cur.rowcount

    def _message_rows(
        self, cur: sqlite3.Cursor, recipients: Sequence[str], keys: list[str]
    ) -> tuple[int, dict[str, str], dict[str, tuple[int, str]]]:
        """``PRAGMA data_version``, the suppressed recipients and the earlier slots for this
        Message-ID, in one statement (each statement is a measurable share of a reservation)."""
        version = 0
        bad: dict[str, str] = {}
        slots: dict[str, tuple[int, str]] = {}
        sql = self._sql.get(len(recipients))
        if sql is None:
            marks = ",".join("?" * len(recipients))
            sql = self._sql[len(recipients)] = (
                "SELECT 2, NULL, data_version, NULL FROM pragma_data_version "
                f"UNION ALL SELECT 0, address, kind, reason FROM suppression "
                f"WHERE address IN ({marks}) UNION ALL SELECT 1, recipient, id, outcome "
                f"FROM send WHERE mailbox_id = ? AND key IN ({marks})"
            )
        for which, rcpt, a, b in cur.execute(sql, (*recipients, self.box.id, *keys)):
            if which == 1:
                slots[rcpt] = (a, b)
            elif which == 0:
                bad[rcpt] = f"{a}: {b}" if b else a
            else:
                version = a
        return version, bad, slots

    def _read(
        self,
        cur: sqlite3.Cursor,
        bad: dict[str, str],
        slots: dict[str, tuple[int, str]],
        domains: tuple[int | None, dict[str, int] | None] | None,
        now: dt.datetime,
        today: dt.date,
    ) -> tuple[GateRows, dt.datetime | None]:
        """Step 4's rows (with this message's own, read by :meth:`_message_rows` and
        :meth:`_domains`), and the first send stamped after ``now`` + CLOCK_SKEW (None: none)."""
        box, p = self.box, self.policy
        tz = box.timezone
        row = cur.execute(_MEMO, (box.id,)).fetchone()
        if row is None:  # removed (by another process) since this gate opened
            raise MailboxNotFound(box.address)
        rev, cap, started, upto, mrev, inputs, state, report_upto = row
        day = today.isoformat()
        if max(upto or "", report_upto or "") > day:  # the reservation lands on a day they closed
            for sql in _AHEAD_MEMOS:
                cur.execute(sql, (box.id, day))
        stamp = None
        if p.domain_cap:  # the domain's other mailboxes at their revisions: part of the inputs
            domain = f"%@{box.address.rsplit('@', 1)[1]}"
            stamp = sibling_stamp(cur.execute(SIBLINGS, (domain, box.id)).fetchall())
        memo = None
        if (
            upto is not None
            and mrev == rev
            and inputs == stamped(p.inputs, stamp)
            and upto <= today.isoformat()
        ):
            memo = WalkState.from_json(state)
        since = (memo.upto - dt.timedelta(days=p.lookback)).isoformat() if memo else ""
        # Days before yesterday are fixed while the mailbox's rev holds (any write on a day
        # before the writer's today bumps it; yesterday may still take a write from a clock
        # a little behind): kept from the last reservation, only the last two days are read.
        fixed = (rev, since, today)
        settled = (today - dt.timedelta(days=1)).isoformat()
        if self._fixed is not None and self._fixed[0] == fixed:
            days = [*self._fixed[1], *_day_rows(cur.execute(_DAYS, (box.id, max(since, settled))))]
        else:
            days = _day_rows(cur.execute(_DAYS, (box.id, since)))
            self._fixed = (fixed, [d for d in days if d[0].isoformat() < settled])
        window = ts(now + CLOCK_SKEW)
        last, horizon = cur.execute(_LAST_AND_NEXT, (box.id, window, box.id, window)).fetchone()
        if memo is None:
            ev = cur.execute(_ALL_EVENTS, (box.id,))
        else:
            applied = ts(day_start(memo.upto - dt.timedelta(days=1), tz))
            ev = cur.execute(_NEW_EVENTS, (box.id, applied, box.id, ts(now), box.id, applied))
        events = [(k, parse_ts(a), parse_ts(u), r) for _, k, a, u, r in ev]
        rows = GateRows(
            rev,
            cap,
            _date(started),
            memo,
            days,
            parse_ts(last),
            events,
            bad,
            slots,
            *(domains or (None, None)),
            domain_days=self._domain_days(cur, memo, today) if p.domain_cap else None,
            stamp=stamp,
        )
        return rows, parse_ts(horizon)

    def _domain_days(
        self, cur: sqlite3.Cursor, memo: WalkState | None, today: dt.date
    ) -> dict[dt.date, int]:
        """What the domain's other mailboxes sent on each day the walk closes (a domain cap)."""
        box = self.box
        domain = f"%@{box.address.rsplit('@', 1)[1]}"
        return {
            dt.date.fromisoformat(d): n
            for d, n in cur.execute(
                DOMAIN_DAYS, (domain, box.id, since_of(memo), today.isoformat())
            )
        }

    def _domains(
        self, cur: sqlite3.Cursor, recipients: Sequence[str], today: dt.date
    ) -> tuple[int | None, dict[str, int] | None]:
        """Today's sends of the mailbox's domain and per recipient domain, when the policy caps
        them."""
        box, p, tz = self.box, self.policy, self.box.timezone
        domain = None
        if p.caps_today:
            domain = domain_sent_today(cur, box, today, None)
        per_domain = None
        if p.recipient_caps:
            domains = recipient_domains(recipients)
            marks = ",".join("?" * len(domains))
            start, tomorrow = day_start(today, tz), day_start(today + dt.timedelta(days=1), tz)
            # From the domain_day rollup unless the mailbox has a send stamped from tomorrow on
            # (a clock ahead): the gate counts the rows with no end, the rollup today's.
            if cur.execute(_TOMORROWS, (box.id, ts(tomorrow))).fetchone() is None:
                rows = cur.execute(
                    "SELECT domain, sent FROM domain_day WHERE mailbox_id = ? AND day = ? "
                    f"AND sent > 0 AND domain IN ({marks})",
                    (box.id, today.isoformat(), *domains),
                )
            else:
                rows = cur.execute(
                    "SELECT d, count(*) FROM (SELECT lower(substr(recipient, "
                    "instr(recipient, '@') + 1)) AS d FROM send WHERE mailbox_id = ? "
                    f"AND at >= ? AND outcome != 'released') WHERE d IN ({marks}) GROUP BY d",
                    (box.id, ts(start), *domains),
                )
            per_domain = dict(rows.fetchall())
        return domain, per_domain

    def _write(
        self,
        cur: sqlite3.Cursor,
        recipients: Sequence[str],
        keys: list[str],
        message_id: str,
        now: dt.datetime,
        slots: dict[str, tuple[int, str]],
        source: str,
        day: dt.date,
        clock: Callable[[], dt.datetime],
    ) -> list[int]:
        box = self.box
        aside = self._plan(recipients, message_id, slots) if slots else []
        at = ts(now)
        d = day.isoformat()
        if aside:  # the retry takes a new slot (a deferred one stays counted)
            cur.executemany(
                "UPDATE send SET key = key || '#' || id WHERE id = ?", [(sid,) for sid in aside]
            )
        ids = []
        me = holders.me()
        for rcpt, key in zip(recipients, keys, strict=True):
            cur.execute(_INSERT, (box.id, rcpt, message_id, at, d, source, key, *me))
            ids.append(int(cur.lastrowid or 0))
        cur.execute(_BUMP_SENT, (box.id, d, len(ids)))
        if len(recipients) == 1:  # the common message: execute() costs less than executemany()
            cur.execute(_BUMP_DOMAIN, (box.id, d, recipients[0].split("@", 1)[-1], 1))
        else:
            domains = Counter(r.split("@", 1)[-1] for r in recipients)
            cur.executemany(_BUMP_DOMAIN, [(box.id, d, dom, n) for dom, n in domains.items()])
        # A write on a past day (a test's clock). Stamped by the ledger's own wall clock, ``day``
        # is its today as read a moment ago: the same as asking again (a write a moment
        # before midnight, on what is yesterday by the time it commits, is one no rev counts).
        self._bumped_rev = clock is not self.ledger.clock and day < self.ledger.real_today(
            box.timezone
        )
        if self._bumped_rev:
            cur.execute("UPDATE mailbox SET rev = rev + 1 WHERE id = ?", (box.id,))
        return ids

    def suppressed(self, addresses: Sequence[str]) -> dict[str, str]:
        """On this gate's connection once a reservation has opened it: the relay asks for
        every RCPT TO, and checking a connection out of the ledger's pool cost more than the
        statement. Not in a transaction: the statement is its own snapshot."""
        if self._raw is None or not addresses:
            return super().suppressed(addresses)
        with _errors(self.ledger.where):
            return read_suppressed(self._raw.cursor(), addresses)

    def settle(
        self,
        ids: dict[str, int],
        outcomes: dict[str, Outcome],
        message_id: str,
        throttle: EventIn | None,
        now: dt.datetime,
    ) -> None:
        self._seen = None  # written on another connection, but drop the kept rows regardless
        super().settle(ids, outcomes, message_id, throttle, now)

    def flush(self) -> None:
        """Write deferred "sent" settlements now, on this gate's connection (no other
        statement: the common end of a message that went)."""
        pending = list(self._deferred)
        if not pending or self._raw is None:
            super().flush()
            return
        raw = self._raw
        with _errors(self.ledger.where):
            raw.execute("BEGIN IMMEDIATE")
            try:
                raw.executemany(_SETTLE_SENT, [(ts(at), sid, self.box.id) for sid, at in pending])
            except BaseException:
                if raw.in_transaction:  # a trigger's RAISE(ROLLBACK) has ended it already
                    raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            if self._aside is not None:
                self._aside.committed(raw)
        del self._deferred[: len(pending)]

    def checkpoint_aside(self, fallback: Callable[[str], None]) -> bool:
        """See :meth:`GateSession.checkpoint_aside`: a :class:`Checkpointer` for the connections
        this gate holds (each one's ``wal_autocheckpoint`` off while it holds it)."""
        if self._aside is None:
            aside = Checkpointer(self.ledger.where, fallback)
            if not aside.start():
                return False
            self._aside = aside
            if self._raw is not None:
                with _errors(self.ledger.where):
                    aside.watch(self._raw)
        return True

    def checkpoint_inline(self) -> None:
        """See :meth:`GateSession.checkpoint_inline`: the deferred settlements written, the
        checkpointer stopped after a last checkpoint, the connection on autocheckpoint again."""
        aside = self._aside
        if aside is None:
            return
        try:
            self.flush()
        finally:
            self._aside = None
            try:
                if self._raw is not None:
                    with _errors(self.ledger.where):
                        aside.unwatch(self._raw)
            finally:
                aside.stop()

    def close(self) -> None:
        super().close()
        # The next reservation may check out the very connection another write just committed
        # on, and data_version does not count a connection's own commits: forget the kept rows.
        self._seen = self._fixed = None
        if self._raw is not None:
            if self._aside is not None:  # back to a pool: its autocheckpoint as it was
                with _errors(self.ledger.where):
                    self._aside.unwatch(self._raw)
            self._release()
            self._raw = self._cur = None


class SQLiteGateLedger(SQLiteReads):
    """A SQLite ledger opened on the ``sqlite3`` driver alone, for a gate's common path
    (:class:`~warmup.ledger.gatepath.GateLedger`); anything else goes to the full backend,
    opened on first use (:meth:`full`). Use :meth:`open` (None: open the full backend)."""

    def __init__(self, raw: sqlite3.Connection, where: str, warnings: list[str]) -> None:
        super().__init__(raw, where, warnings)
        self._full: Ledger | None = None
        # Gates in several threads may share this ledger (one open_gate_ledger() for a script's
        # workers): the first to need the full backend opens it, the others wait for that one.
        self._opening = threading.Lock()
        self._derive_key: DeriveKey | None = None

    def full(self) -> Ledger:
        """The full :class:`~warmup.ledger.sqlite.SQLiteLedger` on the same file, opened once."""
        if self._full is None:
            with self._opening:
                if self._full is None:
                    from warmup.ledger import open_ledger, resolve_url

                    # the path, quoted
                    self._full = open_ledger(resolve_url(self.where), create=False)
        return self._full

    def check_schema(self) -> None:
        """See :meth:`warmup.ledger.Ledger.check_schema` (read here)."""
        with self._read() as cur:
            done = [name for (name,) in cur.execute("SELECT name FROM warmup_migrations")]
        refusal = newer_refusal(done, f"ledger {self.where}")
        if refusal is not None:
            raise refusal

    def message_id_key(self) -> DeriveKey:
        """See :meth:`warmup.ledger.Ledger.message_id_key` (read here; made by the full
        backend, once in the ledger's life)."""
        if self._derive_key is None:
            with self._read() as cur:
                row = cur.execute(
                    "SELECT value FROM setting WHERE key = ?", (DERIVE_KEY,)
                ).fetchone()
            self._derive_key = (
                DeriveKey.of(row[0]) if row is not None else self.full().message_id_key()
            )
        return self._derive_key

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """Which of ``addresses`` are suppressed, with why."""
        addrs = list(addresses)
        if not addrs:
            return {}
        with self._read() as cur:
            return read_suppressed(cur, addrs)

    def message_slots(
        self, box: MailboxRow, message_id: str, recipients: Sequence[str]
    ) -> dict[str, tuple[int, str]]:
        """Recipient -> (id, outcome) of ``box``'s slots for ``message_id`` (as a reservation
        reads them: see :meth:`warmup.ledger.Ledger.message_slots`)."""
        if not recipients:
            return {}
        marks = ",".join("?" * len(recipients))
        with self._read() as cur:
            return {
                r: (i, holders.as_read(o, *held))
                for r, i, o, *held in cur.execute(
                    f"SELECT recipient, id, outcome, holder_host, holder_pid, holder_start "
                    f"FROM send WHERE mailbox_id = ? AND key IN ({marks})",
                    (box.id, *(f"{message_id}|{r}" for r in recipients)),
                )
            }

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
        """See :meth:`warmup.ledger.Ledger.history` (the quota path's read, for one mailbox)."""
        ask = Ask(provider_ceiling, provider_min_interval, domain_cap, memo, recipient_caps)
        return self.histories([(box, ask)], as_of)[0]

    def keep_memo(self, box: MailboxRow, state: WalkState | None, inputs: str, rev: int) -> bool:
        """See :meth:`warmup.ledger.Ledger.keep_memo`."""
        return self.keep_memos([(box, state, inputs, rev)]) > 0

    def gate(
        self,
        box: MailboxRow,
        policy: GatePolicy | None = None,
        expiry: dt.timedelta = dt.timedelta(minutes=15),
    ) -> SQLiteGate:
        """The gate's per-message path for ``box``, on a connection of its own."""
        return _OwnConnectionGate(self, box, policy or GatePolicy("", 0, False), expiry)

    def close(self) -> None:
        if self._full is not None:
            self._full.close()
            self._full = None
        super().close()


class _OwnConnectionGate(SQLiteGate):
    """:class:`SQLiteGate` on a ``sqlite3`` connection it opens itself."""

    def _connect(self) -> sqlite3.Connection:
        with _errors(self.ledger.where):
            # Not the connecting thread's alone: a gate's settler thread writes its deferred
            # settlements on it (warmup.gate.Gate.settle_after), the gate's lock around both.
            raw = open_existing(self.ledger.where, check_same_thread=False)
            setup_connection(raw)
        return raw

    def _release(self) -> None:
        if self._raw is not None:
            self._raw.close()
