"""The gate's per-message path through the ledger: reserve before the SMTP conversation, settle
after it. :meth:`warmup.ledger.Ledger.gate` gives a :class:`GateSession` for one mailbox.

A reservation is one transaction, run under the mailbox's write lock (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL the mailbox's row lock, taken first):

1. the deferred "sent" settlements of earlier messages are written (:meth:`GateSession.sent`);
2. ``now`` is read from the clock (under the lock, so reservations are stamped in order);
3. reservations older than the expiry, and those whose process is gone from this host (see
   :mod:`warmup.ledger.holders`), become ``unknown`` (still counted): once a minute, and when
   this Message-ID's own slots hold one (a retry of a message whose sender died is told "may
   already have reached" at once, not "is being sent right now" for 15 minutes);
4. what the decision needs is read, O(1) in the length of the history: the mailbox's walk memo
   (when valid), the rollup's days from the memo's window to today, the last send (never one
   stamped after now + :data:`~warmup.ledger.core.CLOCK_SKEW`), the events not in the
   memo, which recipients are suppressed, which already have a slot for this Message-ID;
5. the caller's ``decide`` (the policy engine, pure) says yes or why not; a send for an outbox
   message (a :class:`~warmup.ledger.values.Claim`) is refused unless its worker still holds
   the message's claim (PostgreSQL: the outbox row is locked ``FOR SHARE`` until COMMIT, so a
   recovery waits for this reservation and then sees its slots; SQLite: the write lock already
   serialises them), the fence that keeps a worker whose lease ran out from sending a message
   another worker took over;
6. on yes, one ``reserved`` row per recipient and the rollup's bump; a newer walk memo is kept;
7. COMMIT — deferred settlements included when the message is refused.

Each backend runs these steps on its driver (:class:`~warmup.ledger.sqlite_gate.SQLiteGate`: a
few statements on the raw ``sqlite3`` cursor, step 4's per-mailbox rows reused from its last
reservation while no other connection has committed;
:class:`~warmup.ledger.postgres_gate.PostgresGate`: two round trips of prepared statements), the
measured fast paths. Settling a bounce, an ``unknown`` outcome or a throttle is rare and runs here once, on
Core statements, for both.

Retries (DESIGN invariant 9): a recipient whose slot for this Message-ID was ``released``
(nothing left) or got a 4xx (``soft``: deferred, the slot was used) takes a new slot, the old one
set aside (its key renamed; a soft one still counted): each try has a slot of its own, and the
newest slot of a recipient, by id, is its latest try whichever member made it (a released slot
taken again kept its older id, and a pool's recovery read another member's older try as the
latest); any other earlier slot (``sent``, ``reserved`` in
flight, ``unknown``, refused) is :class:`~warmup.ledger.core.DuplicateSend`: never sent twice.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from warmup.ledger import holders
from warmup.ledger.reads import BOUNCE_KINDS, EARLIEST_ZONE, Reads
from warmup.ledger.values import (
    BounceIn,
    Claim,
    DeriveKey,
    DuplicateSend,
    EventIn,
    MailboxRow,
    Snapshot,
    local_day,
)
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from warmup.ledger.core import Ledger

EXPIRE_EVERY = dt.timedelta(minutes=1)
SETTLED = ("sent", "hard", "soft", "block", "unknown", "released")


class GatePolicy(NamedTuple):
    """What the reservation's reads depend on in the policy: constant for a gate's lifetime."""

    inputs: str  # warmup.policy.walk.inputs_digest of the policy and the mailbox's settings
    lookback: int  # warmup.policy.walk.lookback: days before the memo's day the windows read
    # a domain cap judged some day of the walk (the policy now, or one before it: eras): the
    # domain's other mailboxes' days are read, and their stamp is part of the memo's inputs
    domain_cap: bool
    provider_ceiling: int | None = None
    provider_min_interval: float = 0.0
    recipient_caps: bool = False  # the policy caps recipient domains: count today's per domain
    # the policy now caps the domain: a reservation locks the domain's mailboxes and counts
    # their sends today (None: as domain_cap). A mailbox whose cap is in the past locked them
    # all on every reservation, for nothing: its sends today are bound by no cap.
    domain_now: bool | None = None

    @property
    def caps_today(self) -> bool:
        """Whether a reservation counts (and, on PostgreSQL, locks) the domain's sends today."""
        return self.domain_cap if self.domain_now is None else self.domain_now


class Decision(NamedTuple):
    """The gate's answer to a reservation: ``refusal`` (raised once the transaction committed)
    or None, and a newer walk memo to keep (:attr:`warmup.policy.Allowance.memo`)."""

    refusal: Exception | None
    memo: WalkState | None = None


# (history, suppressed recipients, now, the mailbox's rev as the reservation read it under its lock)
Decide = Callable[[History, dict[str, str], dt.datetime, int], Decision]


class Kept(Protocol):
    """The rows a reservation reuses from the gate's last one (SQLite: no other connection has
    committed since, the same local day, see :class:`~warmup.ledger.sqlite_gate.SQLiteGate`).
    The same object for as long as what the history holds before today (the days, the events,
    the walk memo, the cap and start day) is what it kept: a decision found to hold for
    :meth:`history` once holds for every later reservation given the same object (compared by
    identity), which then reads only what changes within the day."""

    counts: DayCounts | None  # today's row of the rollup, as this gate's commits left it
    last: dt.datetime | None  # the last send
    domain_sent: int | None  # today's sends of the mailbox's domain (a domain cap)
    recipient_domains: dict[str, int] | None  # today's sends to this message's domains

    def history(self) -> History:
        """The engine's full view of these rows (as :meth:`GateSession._history` builds it)."""
        ...


# A reservation answered from kept rows: (the rows, suppressed recipients, now, rev) -> decision.
# Given, a backend that reuses rows asks it instead of building the History for ``decide``.
Lean = Callable[[Kept, dict[str, str], dt.datetime, int], Decision]


class Outcome(NamedTuple):
    """One recipient's settlement: ``sent``/``hard``/``soft``/``block``/``unknown``/``released``,
    with the SMTP reply when there was one, and why a ``released`` slot was given back when that
    decides what follows (``size``: the server refused the message's size, the same message never
    reaches this recipient; kept in the slot's ``release_reason``)."""

    outcome: str
    code: int | None = None
    text: str = ""
    status: str | None = None
    reason: str | None = None


class GateRows(NamedTuple):
    """Step 4's reads, as the backend found them (days up to and including today)."""

    rev: int
    cap: int | None
    started: dt.date | None
    memo: WalkState | None
    days: list[tuple[Any, ...]]  # (day, sent, hard, soft, block, complaint)
    last: dt.datetime | None
    events: list[tuple[Any, ...]]  # (kind, at, until, reason)
    suppressed: dict[str, str]
    slots: dict[str, tuple[int, str]]  # recipient -> (id, outcome) of a slot for this Message-ID
    domain_sent: int | None = None
    recipient_domains: dict[str, int] | None = None  # today's sends per recipients' domain
    # under a domain cap: what the domain's other mailboxes sent on each day the walk closes
    # (from the memo's day, or all days, to yesterday): History.domain_days
    domain_days: dict[dt.date, int] | None = None
    stamp: str | None = None  # under a domain cap: reads.sibling_stamp, part of the memo inputs


class GateLedger(Reads, Protocol):
    """What a :class:`warmup.gate.Gate` asks of a ledger (each documented on :class:`Ledger`):
    a :class:`Ledger` is one, and so is the SQLite backend's driver-level
    :class:`~warmup.ledger.sqlite_gate.SQLiteGateLedger`, whose :meth:`full` opens the full
    backend for everything else (a :class:`Ledger`'s is itself)."""

    clock: Callable[[], dt.datetime]  # the wall clock (real_today's), a test's own when set

    def history(
        self,
        box: MailboxRow,
        as_of: dt.datetime,
        *,
        provider_ceiling: int | None = ...,
        provider_min_interval: float = ...,
        domain_cap: bool = ...,
        memo: tuple[str, int] | None = ...,
        recipient_caps: bool = ...,
    ) -> Snapshot: ...
    def keep_memo(
        self, box: MailboxRow, state: WalkState | None, inputs: str, rev: int
    ) -> bool: ...
    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]: ...
    def message_slots(
        self, box: MailboxRow, message_id: str, recipients: Sequence[str]
    ) -> dict[str, tuple[int, str]]: ...
    def message_id_key(self) -> DeriveKey: ...
    def gate(
        self, box: MailboxRow, policy: GatePolicy | None = ..., expiry: dt.timedelta = ...
    ) -> GateSession: ...
    def mailbox_rev(self, address: str) -> tuple[MailboxRow, int]: ...
    def real_today(self, tz: str) -> dt.date: ...
    def check_schema(self) -> None: ...
    def full(self) -> Ledger: ...


class GateSession(ABC):
    """One mailbox's reservations and settlements. Open one per process and reuse it."""

    def __init__(
        self, ledger: GateLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        self.ledger = ledger
        self.box = box
        self.policy = policy
        self.expiry = expiry
        self._deferred: list[tuple[int, dt.datetime]] = []
        self._expired_at: dt.datetime | None = None
        self._past: tuple[tuple[Any, ...], tuple[DayCounts, ...]] = ((), ())
        self._events: tuple[tuple[Any, ...], tuple[MailboxEvent, ...]] = ((), ())

    @abstractmethod
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
        """Steps 1-7 of the module docstring: the new slots' ids in recipient order and the
        instant they were stamped; raises the decision's refusal, :class:`DuplicateSend` or,
        when ``claim`` no longer holds, :class:`~warmup.ledger.values.ClaimLost` (after
        committing). ``lean``: how to decide from rows the backend kept (:class:`Kept`), where
        it keeps them; ``decide`` otherwise."""

    @abstractmethod
    def expire(self, now: dt.datetime) -> None:
        """Step 3 alone, in a transaction of its own under the mailbox's lock: what the next
        reservation would settle ``unknown`` is settled now (its statement, its judge of dead
        holders, :meth:`_gone`). For the check before a reservation that reads a slot of a dead
        holder (:meth:`warmup.gate.Gate.check_resend`): the ledger says so at once."""

    def suppressed(self, addresses: Sequence[str]) -> dict[str, str]:
        """Which of ``addresses`` are suppressed, with why (what the ledger says)."""
        return self.ledger.suppressed(addresses)

    def close(self) -> None:
        """Write what is deferred and let go of the connection."""
        self.flush()

    def checkpoint_aside(self, fallback: Callable[[str], None]) -> bool:
        """Keep the ledger's upkeep of its write-ahead log off the thread that reserves (a
        SQLite ledger's checkpoints, on a thread of their own: see
        :mod:`warmup.ledger.checkpoints`), until :meth:`checkpoint_inline`; ``fallback`` is told
        once, why, if that stops working and the commits do it again. Whether anything was
        moved (no: a backend without such upkeep on the committing thread, PostgreSQL's)."""
        return False

    def checkpoint_inline(self) -> None:
        """End :meth:`checkpoint_aside`: what is deferred written, a last checkpoint, the
        commits doing their own again. Nothing may reserve meanwhile."""
        self.flush()

    # -- shared by the backends ----------------------------------------------------------------

    def _expire_due(self, now: dt.datetime) -> bool:
        """Expiry only relabels reserved -> unknown (both count): once a minute is enough."""
        if self._expired_at is None or now - self._expired_at > EXPIRE_EVERY:
            self._expired_at = now
            return True
        return False

    @staticmethod
    def _gone(held: Iterable[tuple[Any, Any, Any]]) -> list[int]:
        """Which of this host's reservations ``held`` (id, holder's pid, holder's start) were
        made by a process that is gone: step 3 settles them as it settles the expired ones."""
        host = holders.me().host
        return [int(sid) for sid, pid, start in held if holders.dead(host, pid, start)]

    def _history(self, rows: GateRows, now: dt.datetime, today: dt.date | None = None) -> History:
        """The engine's view of step 4's rows (today's counts from the rollup)."""
        today = today or local_day(now, self.box.timezone)
        p = self.policy
        # The days before today and the events rarely change between two reservations: the
        # same rows give the same objects, so the engine's morning key compares by identity.
        past_rows = tuple(r for r in rows.days if r[0] < today)
        if past_rows != self._past[0]:
            self._past = (past_rows, tuple(DayCounts(*r) for r in past_rows))
        event_rows = tuple(rows.events)
        if event_rows != self._events[0]:
            self._events = (
                event_rows,
                tuple(MailboxEvent(k, a, u, why or "") for k, a, u, why in event_rows),
            )
        now_rows = [DayCounts(*r) for r in rows.days if r[0] == today]
        return History(
            mailbox=self.box.address,
            timezone=self.box.timezone,
            days=(*self._past[1], *now_rows) if now_rows else self._past[1],
            events=self._events[1],
            last_send_at=rows.last,
            cap=rows.cap,
            provider_ceiling=p.provider_ceiling,
            provider_min_interval=p.provider_min_interval,
            started=rows.started,
            domain_sent_today=rows.domain_sent,
            memo=rows.memo,
            recipient_domains_today=rows.recipient_domains or {},
            domain_days=rows.domain_days or {},
        )

    @staticmethod
    def _plan(
        recipients: Sequence[str],
        message_id: str,
        slots: dict[str, tuple[int, str]],
    ) -> list[int]:
        """The earlier slots to set aside (released or soft) for these recipients, or
        :class:`DuplicateSend` for a recipient whose earlier slot forbids a resend: the first
        one still in flight, of unknown fate or refused, else the first one sent; it names the
        recipients the message has not reached (a relay must not answer "already sent" for a
        message that names new ones)."""
        aside, blocked = [], []
        for rcpt in recipients:
            if rcpt not in slots:
                continue
            sid, outcome = slots[rcpt]
            if outcome in ("released", "soft"):
                aside.append(sid)
            else:
                blocked.append((rcpt, outcome))
        if blocked:
            rcpt, outcome = next((b for b in blocked if b[1] != "sent"), blocked[0])
            done = {r for r, _ in blocked}
            unsent = tuple(dict.fromkeys(r for r in recipients if r not in done))
            raise DuplicateSend(rcpt, message_id, outcome, unsent=unsent)
        return aside

    def _memo_to_keep(self, decision: Decision, read: WalkState | None) -> WalkState | None:
        """The decision's walk memo when it is newer than the one the reservation ``read``
        and covers only days over everywhere it must."""
        m = decision.memo
        if m is None or (read is not None and read.upto >= m.upto):
            return None  # the common case first: the memo read is the decision's
        if m.upto >= self.ledger.real_today(self.box.timezone):
            return None
        if self.policy.domain_cap and m.upto > self.ledger.real_today(EARLIEST_ZONE):
            return None  # a day it covers is not over in every zone yet (EARLIEST_ZONE)
        return m

    @property
    def pending(self) -> bool:
        """Whether "sent" settlements wait to be written (:meth:`sent`)."""
        return bool(self._deferred)

    @property
    def pending_slots(self) -> int:
        """How many slots' "sent" settlements wait to be written (:meth:`sent`)."""
        return len(self._deferred)

    @property
    def pending_ids(self) -> set[int]:
        """The slots whose "sent" settlements wait to be written (:meth:`sent`)."""
        return {sid for sid, _ in list(self._deferred)}

    def sent(self, ids: Sequence[int], at: dt.datetime) -> None:
        """These slots went: written with the next transaction (they count already, so a crash
        before that never under-counts)."""
        self._deferred.extend((sid, at) for sid in ids)

    def flush(self) -> None:
        """Write deferred "sent" settlements now."""
        if self._deferred:
            self.settle({}, {}, "", None, dt.datetime.now(dt.UTC))

    def settle(
        self,
        ids: dict[str, int],
        outcomes: dict[str, Outcome],
        message_id: str,
        throttle: EventIn | None,
        now: dt.datetime,
    ) -> None:
        """Settle slots (``ids``: recipient -> slot) other than plainly sent, at once: bounces
        recorded (matched to their slot, counted, suppressing a hard bounce's address),
        ``released`` slots uncounted, a provider throttle's back-off recorded (rare: on Core
        statements, the full backend's, opened now if it was not)."""
        pending = len(self._deferred)
        with self.ledger.full().write() as conn:
            self._settle_in(conn, ids, outcomes, message_id, throttle, now)
        del self._deferred[:pending]

    def _settle_in(
        self,
        conn: Connection,
        ids: dict[str, int],
        outcomes: dict[str, Outcome],
        message_id: str,
        throttle: EventIn | None,
        now: dt.datetime,
    ) -> None:
        """:meth:`settle`'s statements, in the write transaction of ``conn``."""
        import sqlalchemy as sa

        from warmup.ledger.schema import SEND

        ledger, box = self.ledger.full(), self.box
        settle = _settle_statement()
        ledger._lock_mailboxes(conn, [box.id])
        if self._deferred:
            conn.execute(
                settle,
                [
                    {"sid": sid, "mid": box.id, "outcome": "sent", "settled": at, "why": None}
                    for sid, at in self._deferred
                ],
            )
        for rcpt, sid in ids.items():
            result = outcomes.get(rcpt, Outcome("unknown"))
            why = result.reason if result.outcome == "released" else None
            row = {"sid": sid, "mid": box.id, "outcome": result.outcome, "settled": now}
            if not conn.execute(settle, {**row, "why": why}).rowcount:
                continue  # settled before (e.g. expired, then settled by its process)
            if result.outcome == "released":
                day = conn.execute(sa.select(SEND.c.day).where(SEND.c.id == sid)).scalar_one()
                ledger._released(conn, box, sid, day)
            elif result.outcome in BOUNCE_KINDS:
                ledger._bounce(
                    conn,
                    box,
                    BounceIn(
                        rcpt,
                        result.outcome,
                        now,
                        key=f"smtp:{sid}",
                        status=result.status,
                        reply=str(result.code) if result.code else None,
                        diagnostic=result.text[:500] or None,
                        message_id=message_id,
                        source="smtp",
                        send_id=sid,
                    ),
                )
        if throttle is not None:
            ledger._event(conn, box, throttle, once=False)


def _settle_statement() -> Any:
    """UPDATE of one slot's outcome (built on first use: SQLAlchemy is imported only then)."""
    import sqlalchemy as sa

    from warmup.ledger.schema import SEND

    return (
        SEND.update()
        .where(  # no IN (...): it cannot run as an executemany
            SEND.c.id == sa.bindparam("sid"),
            # and its mailbox: a removed mailbox's gate never settles another's slot
            SEND.c.mailbox_id == sa.bindparam("mid"),
            sa.or_(SEND.c.outcome == "reserved", SEND.c.outcome == "unknown"),
        )
        .values(
            outcome=sa.bindparam("outcome"),
            settled_at=sa.bindparam("settled"),
            release_reason=sa.bindparam("why"),
        )
    )


def recipient_domains(recipients: Sequence[str]) -> list[str]:
    """The distinct (lower-case) domains of ``recipients``."""
    return sorted({r.rsplit("@", 1)[-1].lower() for r in recipients})


def check_resend(
    recipients: Sequence[str], message_id: str, slots: dict[str, tuple[int, str]]
) -> None:
    """:class:`DuplicateSend` as a reservation raises it for earlier ``slots`` of
    ``message_id`` (recipient -> (id, outcome)), nothing written: a dry run's answer."""
    GateSession._plan(recipients, message_id, slots)
