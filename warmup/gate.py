"""The gate: reserve -> send -> settle, so no message leaves beyond the plan.

    from warmup import Gate

    with Gate("sales@corp.example") as gate:
        report = gate.send(message)            # reserve, deliver over SMTP, settle
        with gate.reserve(["lead@example.com"]) as slot:   # or send it yourself
            my_smtp_send(...)
            slot.settle({"lead@example.com": "sent"})

:meth:`Gate.send` is the one path that reserves, delivers and settles: ``warmup send``, the relay
behind ``warmup send ADDRESS -- COMMAND``, ``warmup sendmail`` and users' scripts all go through
it. A reservation is committed before any SMTP traffic, one slot per recipient, with quota,
pacing, suppression and pauses checked in the same transaction (:mod:`warmup.ledger.gatepath`); a
crash leaves it counted (``reserved`` and, after :attr:`Gate.expiry`, ``unknown``; at once on
this machine, once the process that reserved it is gone: :mod:`warmup.ledger.holders`). Leaving a
``reserve`` block without settling settles ``sent``, or ``unknown`` if the block raised: the
message may have left. The login and the SMTP session a gate keeps between messages are its
:class:`~warmup.gatelink.SmtpLink`'s; the thread that writes its deferred "sent" settlements
once it is idle, its :class:`~warmup.gatesettler.Settler`.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import TYPE_CHECKING

from warmup import addresses, gateprocess, headers, policies
from warmup.errors import (
    LEDGER_FAULTS,
    DataError,
    InvalidFieldData,
    IOFailure,
    NewerLedger,
    TempFail,
    Unavailable,
    UsageError,
    WarmupError,
    WrongType,
    expect,
)
from warmup.gatelink import SmtpLink
from warmup.gatesettler import Settler
from warmup.gateverdict import Changed, Verdicts
from warmup.instants import aware
from warmup.ledger import (
    Claim,
    ClaimLost,
    DuplicateSend,
    EventIn,
    MailboxNotFound,
    MailboxRow,
    open_ledger,
)
from warmup.ledger.gatepath import (
    Decision,
    GateLedger,
    GatePolicy,
    Kept,
    check_resend,
)
from warmup.ledger.values import live, wall_clock
from warmup.outgoing import (
    message_id_of,
    new_message_id,
    prepare,
    recipients_of,
)
from warmup.policy import Allowance, History
from warmup.policy.walk import inputs_digest, lookback
from warmup.providers import get_provider
from warmup.refusals import (
    NotAllowed,
    Suppressed,
    check_fits,
    day_top,
    refusal,
    suppressed_refusal,
)
from warmup.settlement import (
    SETTLE_OUTCOMES,
    TOO_BIG,
    SendReport,
    ledger_outcome,
    throttle_event,
    unrecorded,
    unwritten,
)
from warmup.stopwindow import StopWindow
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.notify import Notifier
    from warmup.smtp import Session

DEFAULT_EXPIRY = dt.timedelta(minutes=15)
# Seconds a gate stays idle after a message went before it writes the message's deferred "sent"
# settlement itself (:meth:`Gate.flush`); the relay waits as long on its loop (warmup.relay).
SETTLE_AFTER = 0.5

__all__ = ["DuplicateSend", "Gate", "NotAllowed", "Reservation", "SendReport", "Suppressed"]


_REOPENS = 4
# How often a gate asks whether a newer warmup upgraded its ledger since it opened (another
# host's, or this host's after an upgrade while the gate ran): a relay kept writing with its
# old view of the schema. One question a minute, none per message.
SCHEMA_EVERY = dt.timedelta(minutes=1)


class SchemaLook:
    """Whether a newer warmup upgraded a ledger this process keeps writing to since ``at`` (its
    schema checked as it was opened; None: at the first :meth:`check`), asked at most every
    :data:`SCHEMA_EVERY` by the instants :meth:`check` is given: a gate's, the queueing
    relay's."""

    def __init__(self, ledger: GateLedger, at: dt.datetime | None = None) -> None:
        self.ledger = ledger
        self.at = at  # when the schema was last found to be this version's
        self.newer: NewerLedger | None = None  # the refusal, said again to every check after it

    def check(self, at: dt.datetime) -> None:
        """:class:`NewerLedger` once a newer warmup's migration is recorded in the ledger."""
        if self.newer is not None:
            raise NewerLedger(str(self.newer))
        if self.at is not None:
            if self.at <= at < self.at + SCHEMA_EVERY:
                return
            try:
                self.ledger.check_schema()
            except NewerLedger as exc:
                self.newer = exc
                raise
        self.at = at


def _listed(recipients: object) -> list[str]:
    """A caller's ``recipients`` as a list: one string is one address (its characters were
    taken for recipients), a set or a generator its items; bytes or a number are
    :class:`WrongType`, naming the parameter."""
    if isinstance(recipients, str):
        return [recipients]
    if isinstance(recipients, bytes | bytearray) or not isinstance(recipients, Iterable):
        shown = repr(recipients)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise WrongType(
            f"recipients: expected a list of addresses (str), got "
            f"{type(recipients).__name__} {shown}"
        )
    return list(recipients)


def _recipient_key(rcpt: object) -> str | None:
    try:
        return addresses.normalize(str(rcpt), "recipient", limits=False)
    except DataError:
        return None


@dataclass
class Reservation:
    gate: Gate
    recipients: list[str]
    message_id: str
    ids: dict[str, int]
    at: dt.datetime
    settled: bool = field(default=False)
    # what it was settled with, by recipient (a str or a warmup.smtp.RcptResult each)
    outcomes: dict[str, object] = field(default_factory=dict)

    def settle(
        self,
        outcomes: dict[str, object] | str,
        throttle: tuple[int, str] | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """Outcome per recipient (``sent``/``hard``/``soft``/``block``/``unknown``/``released``
        or a :class:`warmup.smtp.RcptResult`), or one outcome for all.

        A recipient may be named as it was given to :meth:`Gate.reserve` (any case, in angle
        brackets); one the reservation does not hold, or an outcome not listed above, is
        :class:`DataError` and nothing is settled: a typo would otherwise have left a hard
        bounce ``unknown`` (never suppressed) or written an outcome no reader knows."""
        self.gate._usable()  # closed, its settler would have retried the write for ever
        if isinstance(outcomes, str):
            outcomes = dict.fromkeys(self.recipients, outcomes)
        else:
            outcomes = self._keyed(outcomes)
        for result in outcomes.values():
            outcome = result if isinstance(result, str) else getattr(result, "outcome", None)
            if outcome not in SETTLE_OUTCOMES:
                raise DataError(
                    f"cannot settle with outcome {outcome!r}: expected one of "
                    f"{', '.join(SETTLE_OUTCOMES)}"
                )
        self.gate._settle(self, outcomes, throttle, _now(now) or self.gate.clock())
        self.settled = True
        self.outcomes = dict(outcomes)

    def _keyed(self, outcomes: dict[str, object]) -> dict[str, object]:
        """``outcomes`` keyed by the reservation's own (normalized) recipients."""
        if all(r in self.ids for r in outcomes):
            return outcomes  # the gate's own paths: nothing to look up
        keyed: dict[str, object] = {}
        for rcpt, result in outcomes.items():
            key = rcpt if rcpt in self.ids else _recipient_key(rcpt)
            if key not in self.ids:
                raise DataError(
                    f"cannot settle {str(rcpt)[:80]!r}: not a recipient of this reservation "
                    f"(it holds {plural(len(self.ids), 'recipient')}); nothing was settled"
                )
            keyed[key] = result
        return keyed

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.settled:
            self.settle("unknown" if exc_type else "sent")


def _failed(res: Reservation, failed_hosts: list[tuple[str, str]], error: str) -> SendReport:
    """The report of a send whose delivery raised ``error`` after ``res`` was reserved: each
    recipient with what it was settled with (``unknown`` if it was not)."""
    from warmup.smtpreplies import RcptResult

    results: dict[str, RcptResult] = {}
    for rcpt in res.recipients:
        got = res.outcomes.get(rcpt, "unknown")
        results[rcpt] = (
            RcptResult(rcpt, got)
            if isinstance(got, str)
            else RcptResult(
                rcpt, getattr(got, "outcome", "unknown"), getattr(got, "code", None),
                getattr(got, "text", ""),
            )
        )  # fmt: skip
    return SendReport(res.message_id, None, list(failed_hosts), results, None, error)


class Gate:
    """Gatekeeper for one mailbox; open one per process and reuse it for every message.

    ``ledger``: a :class:`~warmup.ledger.Ledger`, or what :func:`warmup.ledger.open_gate_ledger`
    opens (``warmup send``: without SQLAlchemy on SQLite); the default opens the full one at
    ``db`` (see :func:`warmup.ledger.resolve_url`), which must exist: a missing one is
    :class:`~warmup.errors.NoLedger` and nothing is created.

    ``settle_after``: seconds of idleness after which a message that went is recorded ``sent``
    by a thread of the gate's (:meth:`flush`); None: by the next reservation, :meth:`flush` or
    :meth:`close` alone. A "sent" settlement rides on the next reservation's transaction (a
    burst costs no transaction more), but a script pacing its sends minutes apart left each
    message ``reserved`` all that time: lost as ``unknown`` by a crash meanwhile, and refused
    by ``mailbox remove`` as in flight. The gate's ledger work runs under one lock, so the
    thread never meets a reservation on the connection; it runs from a message that went until
    the gate has been idle that long, and holds no reference that keeps the gate alive."""

    def __init__(
        self,
        address: str,
        *,
        ledger: GateLedger | None = None,
        db: str | None = None,
        password: str | None = None,
        password_command: str | None = None,
        expiry: dt.timedelta = DEFAULT_EXPIRY,
        timeout: float | None = None,
        clock: Callable[[], dt.datetime] = wall_clock,
        notifier: Notifier | None = None,
        settle_after: float | None = SETTLE_AFTER,
    ) -> None:
        from warmup import smtp

        # A script's Gate(5) or expiry=3600, said at once naming the parameter (before a
        # ledger is opened, or created), not as the ledger's "mailbox address" or deep inside.
        expect(address, str, "address")
        expect(expiry, dt.timedelta, "expiry")
        for name, secret in (("password", password), ("password_command", password_command)):
            if secret is not None and not isinstance(secret, str):
                # not expect(): its message shows the value, and this one is a secret
                raise WrongType(f"{name}: expected a str, got {type(secret).__name__}")
        if timeout is not None:
            expect(timeout, (int, float), "timeout")
        if settle_after is not None:
            expect(settle_after, (int, float), "settle_after")
            if not 0 <= float(settle_after) < math.inf:  # NaN too
                # inf (or 1e10) for "never" ended its thread in a traceback (OverflowError,
                # the wait too long for the platform); None is what turns it off
                raise InvalidFieldData(
                    "settle_after",
                    "{field}: expected seconds, 0 or more, got {got}; None writes deferred "
                    "settlements only with the next reservation, flush() or close()",
                    got=repr(settle_after),
                )
        smtp.chunking_wanted()  # a bad switch is refused before a slot is taken, not after
        # Never created here: a mistyped ``db`` was a new, empty ledger whose history (once the
        # mailbox was added to it) began at zero. A gate sends; only a write starts a ledger.
        self.ledger: GateLedger = ledger or open_ledger(db, create=False)
        self._notifier = notifier
        self._own_notifier = False
        self._own_ledger = ledger is None
        self.expiry = expiry
        # seconds as a float: a Decimal's or a Fraction's arithmetic with floats is not a float's
        self.timeout = None if timeout is None else float(timeout)
        self.clock = clock
        # Settlements of messages the server has answered, held while the ledger could not
        # take them (a team server restarting): written before anything else (:meth:`_write_held`)
        self._held: list[tuple[Reservation, dict[str, object], tuple[int, str] | None, dt.datetime]]
        self._held = []
        self._closed = False
        self._pid = os.getpid()  # a forked child has the connections, not their use (_usable)
        self._reconnect = False  # the session's endpoints or login may have changed (_reopen)
        # Whether a newer warmup upgraded the ledger since (checked as it was opened)
        self._schema = SchemaLook(self.ledger)
        self.failed_hosts: list[tuple[str, str]] = []
        # The last send that failed once its slots were reserved (the server unreachable, the
        # login refused, ...), as a report: what each recipient was settled with, the error.
        # None after a send that returned, or one refused before a slot (see :meth:`send`).
        self.last_failure: SendReport | None = None
        self._aside: Callable[[str], None] | None = None  # checkpoint_aside's fallback
        # Held around the gate's use of its ledger session: its settler thread
        # (warmup.gatesettler) writes deferred settlements on it.
        self._lock = threading.RLock()
        after = None if settle_after is None else float(settle_after)
        self._settler = Settler(self._lock, after, self._waiting, self.flush)
        # Held by a send() from reservation to settlement: threads sharing the gate take turns
        # on its one SMTP session (their commands and replies interleaved on it before).
        self._sending = threading.RLock()
        gateprocess.renew_after_fork(self, Gate._fresh_lock)
        self._left = gateprocess.Left(self._lock)
        self._link = SmtpLink(password, password_command, self._left)
        self._open(address)
        # A gate never closed (dropped, or open at the interpreter's exit, where the settler, a
        # daemon thread, dies): its deferred "sent" written anyway, not left to turn "unknown".
        self._finalizer = weakref.finalize(self, gateprocess.write_left, self._left)

    def _open(self, address: str) -> None:
        """Read the mailbox, its policy and provider, and open the reservation path on them.
        Held until they change: see :meth:`stale`."""
        # rev with the row, before the policy: a change after this read bumps it past the rev
        self.box, rev = self.ledger.mailbox_rev(address)
        self.spec = policies.policy_for(self.ledger, self.box)
        self.provider = get_provider(self.box.provider, of=self.box.address)
        base = History(
            mailbox=self.box.address,
            timezone=self.box.timezone,
            cap=self.box.cap,
            provider_ceiling=self.provider.daily_limit,
            provider_min_interval=self.provider.min_interval,
            started=self.box.started,
        )
        capped_now = self.spec.domain_cap is not None
        self.policy = GatePolicy(
            inputs_digest(self.spec, base),
            lookback(self.spec),
            # under a domain cap now, or on days an earlier policy capped (warmup.policy.eras)
            capped_now or self.box.id in policies.capped_before(self.ledger, [self.box.id]),
            self.provider.daily_limit,
            self.provider.min_interval,
            bool(self.spec.recipient_domains),
            domain_now=capped_now,
        )
        self._db = self.ledger.gate(self.box, self.policy, self.expiry)
        self._left.db, self._left.address = self._db, self.box.address
        if self._aside is not None:
            self._db.checkpoint_aside(self._aside)
        self._verdicts = Verdicts(self.ledger, self.box, self.spec, rev)

    def stale(self) -> bool:
        """Whether the mailbox as the ledger has it now, or the policy it names, differ from what
        this gate opened with. A gate holds the policy, zone, provider and endpoints it read
        when it opened ('mailbox set' or 'policy set' while a worker or relay runs); its
        reservations would follow the old ones."""
        box = self._current_box()
        return box != self.box or policies.policy_for(self.ledger, box) != self.spec

    def _reopen(self) -> None:
        """Open again on the mailbox and policy as the ledger has them now (deferred "sent"
        settlements written first; a new SMTP session and secret: the endpoints or the way in
        may be what changed)."""
        self._write_held()
        self._db.checkpoint_inline()
        self._db.close()
        # Not disconnect() here, under the ledger's lock: it waits for another thread's send,
        # which may wait for that lock. The session is closed at its next use.
        self._reconnect = True
        self._link.forget()
        self._open(self.box.address)

    # -- policy -------------------------------------------------------------------------------

    def allowance(self, now: dt.datetime | None = None) -> Allowance:
        """What ``warmup quota`` says for this mailbox now (nothing reserved)."""
        self._usable()
        from warmup import api

        return api.quota_for(self.ledger, self._current_box(), _now(now) or live(self.clock()))

    def _current_box(self) -> MailboxRow:
        """The mailbox row as the ledger has it now: its cap and start day may have changed
        since this gate opened (``warmup mailbox`` while a worker or relay runs), and a
        reservation reads them from the ledger, so the previews must too."""
        return self.ledger.mailbox(self.box.address)

    def preview(
        self, recipients: list[str], now: dt.datetime | None = None
    ) -> tuple[Allowance, str | None]:
        """What :meth:`reserve` would decide for ``recipients`` now, reserving nothing: the
        allowance and the refusal (None: it would reserve). Suppression is
        :meth:`check_suppressed`'s."""
        self._usable()
        from warmup import api

        rcpts = list(
            dict.fromkeys(addresses.normalize(r, "recipient") for r in _listed(recipients))
        )
        # now, unless given: today counted as the reservation counts it (warmup.ledger.Live),
        # or a send whose quota sends stamped ahead used read the password, then was refused
        a, capped = api.recipient_check(
            self.ledger, self._current_box(), rcpts, _now(now) or live(self.clock())
        )
        return previewed(a, capped, len(rcpts), self.box.timezone)

    def check_fits(self, recipients: list[str]) -> None:
        """:class:`DataError` when ``recipients`` are more than any day's quota can be
        (:func:`check_fits`): refused as "try later" (exit 75), a script that
        retries on it retried for ever. Not in :meth:`reserve`: the worker sends a bulk
        message the members' quota cannot hold through the pool's overflow channel."""
        check_fits(recipients, self.box, self.spec, self.provider.daily_limit)

    def day_top(self) -> tuple[int, str]:
        """:func:`day_top` of this gate's mailbox."""
        return day_top(self.box, self.spec, self.provider.daily_limit)

    def check_resend(
        self, recipients: list[str], message_id: str, now: dt.datetime | None = None
    ) -> None:
        """:class:`DuplicateSend` when :meth:`reserve` would refuse ``message_id`` to these
        recipients (already sent, in flight, of unknown fate), reserving nothing: what
        ``--dry-run`` says must be what the send does. A slot read ``unknown`` may be a
        reservation whose process is gone (:func:`warmup.ledger.holders.as_read`): settled so
        now, as the reservation would (its step 3), not left ``reserved`` until another one."""
        self._usable()
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        slots = self.ledger.message_slots(self.box, message_id, rcpts)
        if any(o == "unknown" for _, o in slots.values()):
            with self._lock:
                self._db.expire(_now(now) or self.clock())
        check_resend(rcpts, message_id, slots)

    def check_refusals(
        self,
        recipients: list[str],
        message_id: str | None,
        now: dt.datetime | None = None,
        allowed: Allowance | None = None,
    ) -> Allowance:
        """Raise what :meth:`reserve` would for no recipients or too many, a suppressed one, a
        message sent already or the plan's refusal (quota used, paced, paused), reserving
        nothing; else the allowance. Before a password is read (a session's first send): a
        script retrying on 75 ran its password command (an unlock prompt) at each refused
        try, and a paused mailbox with a failing one said 78, not 75. ``--dry-run`` asks it
        too: what it says is what the send does.

        ``allowed``: this mailbox's answer (:meth:`preview`'s allowance, a recipient-domain
        cap found no refusal) for these recipients a moment ago, judged here in place of the
        plan asked again: the worker's look at a pool's members answered each of them just
        before the message, and a member's first send of a pass asked its plan a second time
        (~4M instructions a member: a pool of 3 paid it three times a pass). The reservation
        still decides on the history it reads under its lock."""
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        self._check_count(rcpts)
        bad = self.check_suppressed(rcpts)
        if bad:
            raise suppressed_refusal(bad)
        if message_id:
            self.check_resend(rcpts, message_id, now)
        if allowed is not None:
            allowance, why = previewed(allowed, None, len(rcpts), self.box.timezone)
        else:
            allowance, why = self.preview(rcpts, now)
        if why is not None:
            raise NotAllowed(why, allowance)
        return allowance

    def check_suppressed(self, recipients: list[str]) -> dict[str, str]:
        self._usable()
        with self._lock:
            return self._db.suppressed(recipients)

    def wait_for(
        self, exc: NotAllowed, limit: float | None = None, now: dt.datetime | None = None
    ) -> float | None:
        """Seconds to wait for the next slot the plan allows, or None when waiting makes no
        sense: not paced (quota used, paused), the slot is not today (local), or more than
        ``limit`` seconds away. A hair past the slot: waking early would only be refused again."""
        a = exc.allowance
        if a.status != "paced" or a.next_send_at is None:
            return None
        now = _now(now) or self.clock()
        tz = self.box.timezone
        from warmup.ledger import local_day

        if local_day(a.next_send_at, tz) != local_day(now, tz):
            return None
        delay = max((a.next_send_at - now).total_seconds(), 0.0) + 0.02
        return delay if limit is None or delay <= limit else None

    def reserve(
        self,
        recipients: Iterable[str] | str,
        message_id: str | None = None,
        now: dt.datetime | None = None,
        *,
        claim: Claim | None = None,
    ) -> Reservation:
        """Reserve one slot per recipient, or raise :class:`Suppressed` / :class:`NotAllowed` /
        :class:`DuplicateSend` (a retry of a 4xx-deferred or released slot is fine).

        ``claim``: the outbox claim this send is for; unless it still holds (checked in the
        reservation's transaction), nothing is reserved and
        :class:`~warmup.ledger.ClaimLost` is raised."""
        self._usable()
        now = _now(now)
        recipients = _listed(recipients)
        if len(recipients) == 1:  # the common message: no duplicates to drop
            rcpts = [addresses.normalize(recipients[0], "recipient")]
        else:
            rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        self._check_count(rcpts)
        if message_id:
            headers.check_message_id_length(message_id)
        message_id = message_id or new_message_id(self.box.address)
        with self._lock:
            return self._reserve(rcpts, message_id, now, claim)

    def _check_count(self, rcpts: list[str]) -> None:
        """:class:`DataError` for a message to no one, or to more than the provider takes."""
        if not rcpts:
            raise DataError("no recipients")
        if self.provider.max_recipients and len(rcpts) > self.provider.max_recipients:
            raise DataError(
                f"{len(rcpts)} recipients in one message; {self.provider.title} "
                f"allows {self.provider.max_recipients}"
            )

    def _reserve(
        self, rcpts: list[str], message_id: str, now: dt.datetime | None, claim: Claim | None
    ) -> Reservation:
        """:meth:`reserve` of normalized ``rcpts``, under the gate's lock."""
        self._check_schema(now)
        if self._held:
            self._write_held()

        # self._verdicts read at each call: a reopen (below) puts new ones in place
        def decide(hist: History, bad: dict[str, str], at: dt.datetime, rev: int) -> Decision:
            return self._verdicts.decide(rcpts, hist, bad, at, rev)

        def lean(kept: Kept, bad: dict[str, str], at: dt.datetime, rev: int) -> Decision:
            return self._verdicts.lean_decide(rcpts, kept, bad, at, rev)

        clock = (lambda: now) if now is not None else self.clock
        for _ in range(_REOPENS):
            try:
                ids, at = self._db.reserve(rcpts, message_id, decide, clock, claim=claim, lean=lean)
            except Changed as changed:
                # The reservation read another rev under its lock than this gate opened at
                # (nothing was reserved): open again if the mailbox or its policy changed, else
                # (a write that only bumps the rev) take the rev as it was read, and once more.
                if self.stale():
                    self._reopen()
                else:
                    self._verdicts.rev = changed.rev
                continue
            except MailboxNotFound:
                # Removed since this gate opened. Added again (a new id: to change its
                # provider, say), the gate opens on it as it is now; gone, it says so.
                if self.ledger.mailbox_rev(self.box.address)[0].id == self.box.id:
                    raise
                self._reopen()
                continue
            return Reservation(self, rcpts, message_id, dict(zip(rcpts, ids)), at)
        raise TempFail(
            f"{self.box.address}: its settings or policy kept changing while a message "
            f"was being reserved; try again"
        )

    def _check_schema(self, now: dt.datetime | None) -> None:
        """:class:`NewerLedger`, reserving nothing, once a newer warmup upgraded the ledger
        (asked :data:`SCHEMA_EVERY` at most, by the gate's clock): its reservations would
        miss what the newer schema keeps (a table a newer rollup reads), as a worker's did
        before it asked at each pass."""
        self._schema.check(now if now is not None else self.clock())

    def _settle(
        self,
        res: Reservation,
        outcomes: dict[str, object],
        throttle: tuple[int, str] | None,
        now: dt.datetime,
    ) -> None:
        plain = {r: ledger_outcome(outcomes.get(r, "unknown")) for r in res.ids}
        event = None if throttle is None else throttle_event(throttle, now, self.box.timezone)
        with self._lock:
            if event is None and all(o.outcome == "sent" for o in plain.values()):
                # A reservation already counts as sent: writing "sent" can ride on the next
                # transaction (or close(), or the gate's idle thread) without a crash ever
                # under-counting.
                self._db.sent(list(res.ids.values()), now)
                self._settler.soon()
                return
            self._db.settle(res.ids, plain, res.message_id, event, now)
            if event is not None:
                self._notify_throttle(event)

    def _notify_throttle(self, event: EventIn) -> None:
        """Tell the notification targets that a throttle reply paused the mailbox (the ledger
        is asked where they are only now: a gate that is never throttled never looks)."""
        from warmup import notify

        if self._notifier is None:
            self._notifier = notify.notifier_for(self.ledger.full())
            self._own_notifier = True
        body = notify.event(
            "paused", self.box.address, event.at, event.reason, cause="throttle", until=event.until
        )
        self._notifier.send(body)

    def flush(self) -> None:
        """Write deferred "sent" settlements now (and those held while the ledger was away)."""
        self._usable()
        with self._lock:
            self._write_held()
            self._db.flush()

    @property
    def settle_after(self) -> float | None:
        """Seconds of idleness after which the gate's thread writes a deferred "sent"
        settlement (see the class docstring); None: the next reservation, :meth:`flush` or
        :meth:`close` alone write it."""
        return self._settler.after

    @settle_after.setter
    def settle_after(self, after: float | None) -> None:
        self._settler.after = after

    def unwritten(self) -> set[int]:
        """The slots whose outcome the server gave and the ledger has not written yet (a
        deferred "sent", or what was held while the ledger could not take it): ``reserved`` in
        the ledger, but no longer of unknown fate; :meth:`close` writes them, or says it could
        not (74). Read without the gate's lock, which a write stuck on the ledger holds."""
        ids = self._db.pending_ids
        for res, *_ in list(self._held):
            ids.update(res.ids.values())
        return ids

    def _waiting(self) -> bool:
        """Whether a settlement waits to be written (the settler thread asks, under the lock)."""
        return bool(self._held or self._db.pending)

    def _fresh_lock(self) -> None:
        """In a forked child: the lock anew (the parent's settler thread may have held it at the
        fork, and is not in the child) and no settler."""
        self._lock = threading.RLock()
        self._settler.renew(self._lock)
        self._sending = threading.RLock()
        self._left.lock = self._lock

    def _write_held(self) -> None:
        """Write the settlements :meth:`send` held while the ledger was unavailable, oldest
        first (a throttle's pause before the next reservation reads it); raises
        :class:`Unavailable` while it still is."""
        with self._lock:
            while self._held:
                res, outcomes, throttle, at = self._held[0]
                self._settle(res, outcomes, throttle, at)
                del self._held[0]

    # -- delivery -----------------------------------------------------------------------------

    def session(self) -> Session:
        """The open SMTP session (connecting, with failover, on first use)."""
        if self._reconnect:
            self._reconnect = False
            self.disconnect()
        session = self._link.session
        if session is None or session.smtp is None:
            session = self._link.connect(self.box, self.provider, self.timeout, self.clock)
            self.failed_hosts = list(session.failed)
        return session

    def send(
        self,
        message: EmailMessage | bytes,
        recipients: Iterable[str] | str | None = None,
        now: dt.datetime | None = None,
        *,
        message_id: str | None = None,
        claim: Claim | None = None,
        allowed: Allowance | None = None,
    ) -> SendReport:
        """Gate and deliver one message: reserve, send over SMTP, settle.

        ``message``: an :class:`EmailMessage` (From checked, Date and Message-ID added, Bcc
        removed) or bytes already prepared by the caller with their ``message_id`` (the relay,
        which forwards the client's bytes unchanged). Recipients default to To/Cc/Bcc
        (Resent-To/-Cc/-Bcc for a resent message).
        ``claim``: the outbox claim it is sent for (see :meth:`reserve`). ``allowed``: the
        plan's answer for these recipients a moment ago, for a session's first send to judge
        before its login in place of asking again (see :meth:`check_refusals`). Text and the email
        package's older messages (``MIMEText``, ...) are read as an :class:`EmailMessage`.
        Threads sharing the gate take turns: one SMTP session carries one message at a time.
        On the main thread, a Ctrl-C, SIGTERM or SIGHUP that comes once the server has answered
        the message waits until its outcome is written, then acts; one before the data stops
        the message, what the server answered by then (a refusal at RCPT, a throttle) written
        first (:mod:`warmup.stopwindow`).
        """
        self._usable()
        with self._sending:
            return self._send(message, recipients, now, message_id, claim, allowed)

    def _send(
        self,
        message: EmailMessage | bytes,
        recipients: Iterable[str] | str | None,
        now: dt.datetime | None,
        message_id: str | None,
        claim: Claim | None,
        allowed: Allowance | None = None,
    ) -> SendReport:
        """:meth:`send`, its turn taken."""
        self.last_failure = None
        now = _now(now)
        message = headers.as_message(message)
        if isinstance(message, EmailMessage) or message_id is None:
            msg = prepare(message, self.box.address)
            # [] is no one (a list a script filtered empty), not "read To and Cc"
            rcpts = recipients_of(msg) if recipients is None else _listed(recipients)
            del msg["Bcc"]
            message_id = message_id_of(msg)
            # Before anything is reserved: it cannot go (the relay and the outbox refuse both).
            # An object's text, as bytes' (header_section): 8-bit and no UTF-8 with no charset
            # named went out undeclared, mojibake to every recipient (UTF-8 is declared).
            data = headers.sendable(msg)
        else:
            data, rcpts = bytes(message), [] if recipients is None else _listed(recipients)
        # The way in before a slot: a password command that failed or printed nothing left a
        # `released` slot for a message that could never leave, and one stopped mid-way
        # (SIGTERM, a hang up) a `reserved` one, counted as sent and pacing the next send.
        if not self._link.connected:
            # What the ledger alone refuses needs no password: a suppressed recipient, a message
            # sent already (65 as ever, not 78 for a password that was never needed).
            self.check_refusals(rcpts, message_id, now, allowed)
            secret = self._link.target(self.box, self.timeout, self.clock).password
            if not isinstance(secret, str):  # an OAuth mailbox: its stored login, at least
                secret.check_login()
        res = self.reserve(rcpts, message_id, now, claim=claim)
        # From the server's reply to the message until its outcome is written, a stop waits
        # (warmup.stopwindow): acted on between the two, it left a message the server had
        # taken "unknown".
        try:
            with StopWindow() as window:
                return self._deliver(res, data, window)
        except WarmupError as exc:
            self.last_failure = _failed(res, self.failed_hosts, str(exc))
            raise

    def _deliver(self, res: Reservation, data: bytes, window: StopWindow) -> SendReport:
        """:meth:`send` of the message ``data`` for reservation ``res``: deliver, settle.
        ``window``: the session's phases of it (see :meth:`send`)."""
        from warmup import smtp

        for attempt in (1, 2):
            try:
                session = self.session()
            except BaseException:
                res.settle("released")  # nothing left: the slots do not count
                raise
            try:
                outcome = session.send(self.box.address, res.recipients, data, window)
            except smtp.TooBig as exc:
                # Nothing delivered, the message's fault: no bounce; released for its size (it
                # would be refused again). A recipient refused at RCPT TO before a 552 at the
                # end of DATA keeps that refusal.
                res.settle({r: exc.results.get(r, TOO_BIG) for r in res.recipients})
                raise
            except smtp.LoginWanted as exc:
                # At MAIL or RCPT: released, but for a recipient refused for good before the
                # 530, and those a chunked message reached with its envelope.
                res.settle(dict(exc.results) or "released")
                raise
            except BaseException:
                res.settle("unknown")
                raise
            # An upstream server drops a connection left idle (e.g. while pacing): if it was
            # gone before anything left, reconnect once instead of failing the message. Not
            # one that answered with no SMTP reply: broken, not idle: it would only do it again.
            stale = (
                session.smtp is None
                and outcome.error is not None
                and not outcome.throttle
                and not outcome.garbled
                and all(r.outcome == "released" for r in outcome.results.values())
            )
            if not (stale and attempt == 1) or window.stopped:  # a stop cut it: not again
                break
        try:
            res.settle(dict(outcome.results), outcome.throttle)
        except (Unavailable, TempFail) as exc:  # the ledger down, or a lock held too long
            if isinstance(exc, ClaimLost):
                raise
            # The server has answered: a refusal now would have the sender try again, and mail
            # those reached twice. What it said is held, counted as reserved meanwhile, and
            # written before the next reservation (or at close); a crash loses it as a crash
            # between the reply and the record would.
            with self._lock:
                self._held.append((res, dict(outcome.results), outcome.throttle, self.clock()))
                self._settler.soon()
            res.settled = True
        if window.stopped:  # the stop acts next: what waits for the next reservation, now
            self._write_for_stop()
        return SendReport(
            res.message_id,
            session.host,
            list(session.failed),
            dict(outcome.results),
            outcome.throttle,
            outcome.error,
            outcome.lost_at,
            outcome.garbled,
        )

    def _write_for_stop(self) -> None:
        """Write the deferred "sent" settlements before a stop held while the message was
        settled acts (:mod:`warmup.stopwindow`): what the process says as it stops, and what
        the worker reads back of the message, is the ledger's "sent". Should the ledger fail
        now, they wait as before: :meth:`close` says it could not write them (74)."""
        try:
            with self._lock:
                self._write_held()
                self._db.flush()
        except LEDGER_FAULTS:
            pass

    def disconnect(self) -> None:
        """Close the SMTP session (the next :meth:`send` connects again); after the message
        another thread is sending."""
        with self._sending:
            self._link.close()

    def checkpoint_aside(self, fallback: Callable[[str], None]) -> bool:
        """Keep the ledger's checkpoints off the thread that sends, until
        :meth:`checkpoint_inline` (the relay's event loop: see
        :meth:`warmup.ledger.gatepath.GateSession.checkpoint_aside`); whether any were moved."""
        with self._lock:
            self._aside = fallback
            moved = self._db.checkpoint_aside(fallback)
            if not moved:
                self._aside = None
            return moved

    def checkpoint_inline(self) -> None:
        """End :meth:`checkpoint_aside` (deferred settlements written, a last checkpoint); not
        while a message is being sent."""
        with self._lock:
            self._aside = None
            self._db.checkpoint_inline()

    def release(self) -> None:
        """Give back the ledger connection the reservations hold (what they deferred written
        first); the gate stays open, and its next reservation checks one out again. For a
        process that keeps many gates (a worker for a large pool): one connection each ran
        past the connection pool's size."""
        with self._lock:
            self._db.close()

    def close(self) -> None:
        """Write what waits to be written, stop the settler thread, let go of the connections."""
        if self._closed:
            return
        if self._pid != os.getpid():
            # A forked child's copy: its connections are the parent's to write on and close
            # (a QUIT or a deferred settlement from here would cross the parent's own).
            self._closed = True
            self._finalizer.detach()
            return
        with self._sending:  # after the message another thread is sending, not under it
            self._close()

    def _close(self) -> None:
        """:meth:`close`, no message being sent."""
        if self._closed:
            return
        with self._lock:
            settler = self._settler.stop()
        if settler is not None and settler is not threading.current_thread():
            settler.join()  # outside the lock, which it takes to see it is told to end
        with self._lock:
            try:
                self._write_held()
            except (Unavailable, TempFail) as exc:
                # What the server answered (taken, refused for good) went unwritten: 74, as for
                # a "sent" the close cannot write below, not 69/75 ("not sent, try again").
                raise IOFailure(unrecorded(self.box.address, self._held, exc)) from None
            try:
                self.checkpoint_inline()  # a relay stopped first has
                self._db.close()
            except LEDGER_FAULTS as exc:
                slots = self._db.pending_slots  # none: written, and a later step failed
                if not slots:
                    raise
                # The message went: "free space ..., then try again" alone (a full disk), "ledger
                # ... is unavailable" (69: "server unreachable") or a lock timeout's 75 ("try
                # later") had a script send it again, to recipients who had it. 74, as for a
                # send whose output was lost: done, but not all of it written down.
                raise IOFailure(unwritten(self.box.address, slots, exc)) from None
        self.disconnect()
        if self._own_notifier and self._notifier is not None:
            self._notifier.close()
        if self._own_ledger:
            self.ledger.close()
        self._closed = True
        self._finalizer.detach()

    def _usable(self) -> None:
        """:class:`UsageError` for a gate closed (its use opened its connections again, for
        good), or opened by the process this one was forked from: the child's statements and
        SMTP commands crossed the parent's on the connections they share."""
        if self._closed:
            raise UsageError(
                f"the Gate of {self.box.address} is closed; open a new Gate to use it again"
            )
        if self._pid != os.getpid():
            raise UsageError(
                f"the Gate of {self.box.address} was opened by process {self._pid}, which this "
                f"one was forked from; open a Gate in this process (with multiprocessing: in "
                f"each worker)"
            )

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def previewed(
    allowance: Allowance, capped: str | None, wanted: int, tz: str
) -> tuple[Allowance, str | None]:
    """:meth:`Gate.preview`'s answer for ``wanted`` recipients from the allowance and why a
    recipient-domain cap refuses them (``capped``, or None); ``tz``: the gate's mailbox's zone,
    in which the refusal tells its times."""
    if not allowance.can_send or allowance.remaining < wanted:
        return allowance, refusal(allowance, wanted, tz)
    return allowance, capped


def _now(now: dt.datetime | None) -> dt.datetime | None:
    """A caller's ``now``, refused at the API's edge unless aware: a naive one failed deep in
    the policy walk as a bare "can't compare offset-naive and offset-aware datetimes"."""
    return aware(now, "now") if now is not None else None
