"""The worker behind ``warmup run``: sends queued messages when their mailbox may send them.

Each message is claimed (:meth:`warmup.ledger.Ledger.claim`: one worker, whatever the number of
workers and hosts), given to the member of its pool the plan allows soonest (a follow-up stays with
the member that sent the message its In-Reply-To/References names, else with the member that
last mailed one of its recipients; decided when it is sent, so mail sent after it was queued
counts), and sent through :class:`warmup.Gate` like any
other message: quotas, pacing, windows, calendars, recipient-domain caps and suppression hold
exactly as for ``warmup send``, and the gate's reservation, committed before the SMTP
conversation, is the durable record that the message may have left.

Outcomes: 2xx -> ``sent``; 4xx -> queued again after an exponential back-off, until the message
expires (a back-off past its expiry cut to a last try before it:
:func:`warmup.outbox.delivery.retry_at`); 5xx -> ``bounced`` (a hard bounce suppresses the recipient, as the gate does for every
send); not allowed now (quota, pacing, window) -> queued again for the plan's next slot, which is
not an attempt. A member that cannot send at all (unreachable, login refused, no password, its
sender refused by the server) passes
the message to the next member, as a refusal does; when none can, it is retried after the
back-off, unless each of them failed for a fault of its configuration (:class:`ConfigError`: no
password or OAuth login stored, a provider without the preset it needs; or a policy or provider
preset this warmup cannot read, as a ledger shared with a newer one may name), which no wait
fixes: then the message is held, not tried, and looked at again every :data:`HOLD` (it goes by
itself once the fault is fixed, and expires at its expiry as a waiting message does). A message
the connection broke on during DATA is ``unknown``: never re-sent automatically. A bulk message that every member refuses because its quota is used goes through
the pool's overflow channel instead (:mod:`warmup.outbox.overflow`), with the same outcomes.

Crash safety: a worker that dies (``kill -9``) leaves its message ``sending``. The next worker
finds it once the claimant is gone (in the same place, :data:`PLACE`: its process no longer
exists; elsewhere: its claim is older than :data:`LEASE`, on the shared ledger server's clock:
:meth:`warmup.ledger.Ledger.claims`) and decides from the gate's slots
(:meth:`warmup.ledger.Ledger.recover`): no reservation was made, so nothing reached SMTP, and it is
queued again; a reservation exists, so it may have left, and it is ``unknown``. A message's
outcome is written in the transaction of the worker's next claim (or alone when the pass ends):
a worker killed in between leaves it ``sending``, decided the same way.

The delivery of each claimed message (its member, the SMTP conversation, what its outcome makes
of it) is :mod:`warmup.outbox.delivery`'s; this module holds the worker's passes, its claims and
their recovery.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from warmup import notify
from warmup.bounces.classify import refuses_size
from warmup.errors import ConfigError, LedgerVanished, WarmupError
from warmup.instants import now_utc
from warmup.ledger import FaultHold, Ledger, MailboxRow, PoolRow, holders
from warmup.ledger.holders import HOST as HOST
from warmup.ledger.holders import PLACE as PLACE
from warmup.ledger.holders import alive
from warmup.ledger.values import CLOCK_SKEW, MailboxNotFound, PoolNotFound, live
from warmup.outbox.away import AWAY, cut_off, next_wait
from warmup.outbox.bounces import BounceSync
from warmup.outbox.delivery import CONNECTED_GATES as CONNECTED_GATES
from warmup.outbox.delivery import HOLD as HOLD
from warmup.outbox.delivery import MIN_WAIT, NO_PASSWORD, Delivery, stamp
from warmup.outbox.delivery import backoff as backoff
from warmup.outbox.due import next_due, next_slot
from warmup.policy import Allowance
from warmup.refusals import refusal as refusal_text
from warmup.words import clock_offset_said, plural

LEASE = dt.timedelta(minutes=15)  # a claim older than this, from another host, is abandoned
POLL = 60.0  # seconds between looks at the outbox when nothing is due sooner
FINAL = ("sent", "bounced", "unknown", "expired", "cancelled")


# When the next message is due if each of its mailboxes is paused without an end (a pause
# until resumed, a cap of 0): the line before says what to do
HELD_DUE = "next message due once a person lets one of its mailboxes send again"


@dataclass(frozen=True)
class _Held:
    """What a hold holds: the messages of pool ``pool_id`` (else mailbox ``mailbox_id``) due by
    ``due`` (``keep_bulk``: but its bulk ones), as :meth:`Ledger.held_waiting` counts them."""

    due: dt.datetime
    pool_id: int | None
    mailbox_id: int | None
    keep_bulk: bool


@dataclass
class Pass:
    """What one pass over the due messages did: messages per outcome, why the ``waiting`` ones
    could not go (messages per reason), and when the next queued message can go (None: nothing
    queued) and why it waits (:func:`warmup.outbox.due.next_due`)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    waiting: Counter[str] = field(default_factory=Counter)
    next_due: dt.datetime | None = None
    next_why: str | None = None  # why the next message waits now: its members, else its own
    # the next message waits for a person to resume a mailbox (next_due: when it looks again)
    next_held: bool = False
    # nothing queued can go before its expiry (next_due: when the first one expires)
    next_expires: bool = False
    # Messages no member could send because each one failed for a fault a person must fix
    # (its configuration, 78, its login, 77, or its sender refused for good at MAIL FROM, 69),
    # per sysexits code: see :attr:`fault_code`.
    faults: Counter[int] = field(default_factory=Counter)
    fault_why: str = ""  # the first such message's fault, in words (its mailbox's)
    # Why each outbox row the pass left out was: a time of it cannot be read (a hand edit's),
    # so no reader can tell when it is due, and it is never sent (``run --once``: exit 65).
    unreadable: list[str] = field(default_factory=list)

    @property
    def fault_code(self) -> int:
        """0, or the exit code of a pass in which some message could go from no member of its
        pool (or its mailbox) because every one of them was refused for a fault of its
        configuration (78), its login (77) or its sender refused at MAIL FROM for good (69):
        what a cron job must hear. A message that only waits for quota, pacing, a window or a
        pause is no fault. Several: the highest, 78, the configuration, whose fix comes first."""
        return max(self.faults, default=0)


class Worker:
    """Sends the outbox's due messages (all of them, or a pool's). One per process.

    ``clock`` and ``sleep`` are injectable: tests pass time in instead of waiting for it.
    ``log`` gets one line per event. ``sync_every``: sync the bounces of the worker's mailboxes
    over IMAP this often, and by IMAP IDLE while :meth:`run` runs (:mod:`warmup.outbox.bounces`;
    None, the default: no sync); ``idle_retry(n)``: the seconds an IDLE watcher waits after its
    n-th failure in a row (:func:`warmup.bounces.idle.backoff`). Each message claimed is
    delivered by :attr:`delivery` (:class:`~warmup.outbox.delivery.Delivery`).

    ``count_waiting``: count the messages a pool (mailbox) none of whose members can send
    leaves waiting when the worker holds it (``Pass.outcomes["waiting"]``, ``Pass.waiting``),
    and the messages queued for the targets it serves when :meth:`run` says what it waits for.
    A count reads the whole backlog counted (on an index alone: ~4 ms at 50,000 on SQLite);
    it is made after the pass, by :meth:`run_once` always, by :meth:`run` once a line it says
    (once what the queue waits for changes). False: never (``warmup run --quiet`` says none
    of them); the waiting messages of a hold are then left out of the figures.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        pool: str | None = None,
        clock: Callable[[], dt.datetime] = now_utc,
        sleep: Callable[[float], object] | None = None,
        log: Callable[[str], object] = lambda line: None,
        note: Callable[[str], object] | None = None,
        password_command: str | None = None,
        timeout: float | None = None,
        lease: dt.timedelta = LEASE,
        notifier: notify.Notifier | None = None,
        sync_every: dt.timedelta | None = None,
        idle_retry: Callable[[int], float] | None = None,
        soft: tuple[int, int] = (3, 7),
        suppress_soft: bool = False,
        count_waiting: bool = True,
    ) -> None:
        self.ledger = ledger
        self.count_waiting = count_waiting
        # The pass's waiting messages in the order they came: one claimed that could not go
        # (its reason, None), or a hold's (its reason, what to count): see _tally.
        self._waits: list[tuple[str, _Held | None]] = []
        self.pool: PoolRow | None = ledger.pool(pool) if pool is not None else None
        # The overflow channel's password from the environment, checked before anything is
        # claimed: its first use may be hours away (a bulk message past every member's quota).
        from warmup.outbox import overflow

        overflow.check_environment([self.pool] if self.pool is not None else ledger.pools())
        self._pool_gone = False  # the pool was found removed (said once, see _pool_now)
        self.clock = clock
        self.log = log
        # A line that only confirms (a message sent, what the worker waits for, a fault that
        # cleared: the ledger back, a password found, a claim queued again): `run -q` (cron)
        # drops these and keeps the rest (bounced, lost, expired, faults, an `unknown` claim).
        self.note = log if note is None else note
        self.lease = lease
        # Stored with each claim: unique per worker (the random token decides whose a claim
        # is); host and pid for people, and, with the place, a quick look at a crashed one.
        # Its start (PLACE.TICKS) where /proc tells it: a pid the kernel gives again to another
        # program after this one is gone is not this worker (:meth:`_gone`).
        self.id = f"{HOST}:{os.getpid()}:{holders.me().start or PLACE}:{secrets.token_hex(8)}"
        self._stop = False
        self._idle = False  # between passes: no message claimed, none in flight (see idle)
        self._wake = threading.Event()  # set by stop() and wake(): ends the sleep between passes
        self._sleep = sleep or self._wake.wait
        self._password_command = password_command
        self._interrupted = False  # the last pass ended in an unavailable ledger (see run)
        self._skew_said = False  # this host's clock was said to be off the ledger server's
        self._unreadable_said: set[str] = set()  # outbox rows left out, each logged once
        self._own_notifier = notifier is None
        self.notifier = notifier or notify.notifier_for(ledger, log=log)
        # Each claimed message's delivery; its sleep and stop are the worker's, as they are now
        # (a caller may replace ``_sleep``).
        self.delivery = Delivery(
            ledger,
            self.id,
            clock=clock,
            log=log,
            note=self.note,
            sleep=lambda seconds: self._sleep(seconds),
            stopping=lambda: self.stopping,
            password_command=password_command,
            timeout=timeout,
            notifier=self.notifier,
        )
        self.bounces: BounceSync | None = None
        if sync_every is not None:
            self.bounces = BounceSync(
                ledger,
                pool=self.pool,
                every=sync_every,
                clock=clock,
                log=log,
                password_command=password_command,
                timeout=timeout,
                notifier=self.notifier,
                idle_retry=idle_retry,
                soft=soft,
                suppress_soft=suppress_soft,
            )

    # -- control -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the message in flight, then stop (safe from a signal handler).

        A handler runs on the main thread between two of its bytecodes, possibly while that
        thread holds the lock inside ``Event.wait`` or ``Event.clear`` (not reentrant): setting
        an event there would wait for itself forever. So the wake-up event is set from a thread
        of its own, which takes the lock as soon as the main thread lets it go; the flag that
        :attr:`stopping` reads is a plain attribute, set at once."""
        self._stop = True
        threading.Thread(target=self._wake.set, name="warmup-stop", daemon=True).start()

    def wake(self) -> None:
        """End the sleep between passes now: something may be due (safe from any thread)."""
        self._wake.set()

    def wait(self, seconds: float) -> bool:
        """The sleep between passes: up to ``seconds``, True when :meth:`wake` or :meth:`stop`
        ended it early (a ``sleep`` passed in calls it to keep both working)."""
        return self._wake.wait(seconds)

    @property
    def stopping(self) -> bool:
        return self._stop

    @property
    def idle(self) -> bool:
        """Whether the worker is between passes (waiting for the next message due, or for
        new ones): nothing claimed, no message in flight. A stop now ends the wait at once."""
        return self._idle

    def run(self) -> None:
        """Send what is due, sleep until the next message is due (or :data:`POLL`, or the next
        bounce sync, or :meth:`wake`), again, until :meth:`stop`. With a bounce sync, IMAP IDLE
        wakes it when a mailbox gets mail."""
        try:
            said: object = self  # what the last line about the queue's wait said: nothing yet
            away = 0.0  # the last wait for an unavailable ledger (0: it answered)
            watching = self.bounces is None
            while not self.stopping:
                self._wake.clear()
                self._idle = False
                try:
                    if not watching:
                        # In the loop: the watch reads the worker's mailboxes, and a ledger
                        # away at that moment made the worker exit 69 before its first pass.
                        assert self.bounces is not None
                        self.bounces.watch(self.wake)
                        watching = True
                    done = self._pass()
                    self._idle = True  # its messages settled: until the next pass, none in flight
                    if away:
                        self.note(f"{stamp(self.clock())} the ledger is back: sending again")
                        away = 0.0
                    if self.stopping:
                        break
                    # In the try: the line that says how many wait counts them (a read)
                    said = self._say_waiting(done, said)
                except AWAY as exc:
                    # A team server restarting (or an administrator's pg_terminate_backend)
                    # under a pass, or out of connection slots: the worker exited 69, a service stopped until someone
                    # restarted it. Its claim is settled once the ledger is back (_resume).
                    away = next_wait(away)
                    self._interrupted = True
                    self.log(cut_off(self.clock(), "pass", exc, away))
                    self._sleep(away)
                    continue
                wait = POLL
                sync_due = self.bounces.next_at() if self.bounces is not None else None
                for due in (done.next_due, sync_due):
                    if due is not None:
                        wait = min(max((due - self.clock()).total_seconds(), 0.05), wait)
                self._sleep(wait)
        finally:
            if self.bounces is not None:
                self.bounces.close()
        self._stopped()

    def _say_waiting(self, done: Pass, said: object) -> object:
        """One line when what the queue waits for changes (not once a pass): how many messages
        wait, why and when the next is due, or that nothing is queued. A worker whose members'
        quota was used said nothing until the next day, as a hung one would. Returns what it
        said (the key compared next time). How many is every message queued for the targets it
        serves (``count_waiting``; one count, for a line said: a paused pool held again every
        look again, 15 min, was counted each time for a line said once); it was what this pass
        held and met alone, not those an earlier pass (or worker) held, nor those queued for
        later (``--not-before``, a retry's backoff)."""
        now = self.clock()
        if done.next_due is None:
            key: object = None
            line = "nothing is queued: waiting for new messages (SIGTERM or Ctrl-C stops)."
        elif done.next_due > now:
            # held: a line every look again (15 min) said a new, untrue, time
            key = ("held", done.next_why) if done.next_held else done.next_due
            if key == said:
                return said
            waits, self._waits = self._waits, []
            due = HELD_DUE if done.next_held else due_said(done.next_due, done.next_expires)
            pool_id = self.pool.id if self.pool else None
            n = self.ledger.queued_count(pool_id) if self.count_waiting else 0
            # held (or met) this pass: why is at hand, the reason of the most holds and
            # messages (the first met of a tie); else an earlier pass's (or worker's) reason
            why = Counter(w for w, _ in waits).most_common(1)[0][0] if waits else done.next_why
            parts = [plural(n, "message")] if n else []
            parts += [why] if why else []
            line = f"waiting: {': '.join(parts)}; {due}." if parts else f"waiting: {due}."
        else:
            return said
        if key != said:
            self.note(f"{stamp(now)} {line}")
        return key

    def _stopped(self) -> None:
        """Tell the notification targets when the worker stops with messages still queued."""
        if not self.notifier.active:
            return
        pool_id = self.pool.id if self.pool else None
        left = sum(
            int(c["messages"])
            for c in self.ledger.outbox_counts()
            if c["state"] in ("queued", "sending") and (pool_id is None or c["pool_id"] == pool_id)
        )
        if left:
            why = f"the worker {self.id} stopped with {plural(left, 'message')} queued"
            self.notifier.send(
                notify.event(
                    "worker_stopped",
                    None,
                    self.clock(),
                    why,
                    worker=self.id,
                    pool=self.pool.name if self.pool else None,
                    left=left,
                )
            )

    def close(self) -> None:
        """Write what the gates deferred, close their SMTP sessions and deliver the
        notifications still queued (for a bounded time)."""
        if self.bounces is not None:
            self.bounces.close()
        self.delivery.close()
        if self._own_notifier:
            self.notifier.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one pass ------------------------------------------------------------------------------

    def run_once(self) -> Pass:
        """Sync the bounces that are due, recover abandoned claims, expire what is past its
        time, and send every message due at the start of the pass (one at a time); then say
        when the next one is due, and (``count_waiting``) how many its holds left waiting."""
        done = self._pass()
        self._tally(done, self.count_waiting)
        return done

    def fault_holds(self, done: Pass) -> list[FaultHold]:
        """After :meth:`run_once`'s pass ``done``, when it sent nothing and met no fault
        itself: the messages that wait for a fault an earlier pass met (every member of their
        pool, or their mailbox, failed for one: :attr:`Pass.fault_code`), read from their own
        rows (:meth:`Ledger.fault_holds`), so that ``run --once`` tells a cron job on each pass
        of the wait, not on the first alone. A pass that sent something or met a fault said
        what it had to; :meth:`run` never asks: its passes pay nothing for this."""
        if done.fault_code or done.outcomes.get("sent"):
            return []
        return self.ledger.fault_holds(self.clock(), self.pool.id if self.pool else None)

    def _tally(self, done: Pass, count: bool) -> None:
        """``done``'s waiting messages, in the order the pass met them (the reason said
        first, of reasons given for as many messages, is the first met): each claimed
        message that could not go, and (``count``) each hold's (:meth:`Ledger.held_waiting`:
        a target held twice in a pass is counted once, its figure added twice as before).
        Counted after the pass, not at the hold: nothing of this worker changes a held
        target's waiting messages meanwhile (they are not claimed while it holds)."""
        waits, self._waits = self._waits, []
        counts: dict[_Held, int] = {}
        for why, held in waits:
            if held is None:
                done.waiting[why] += 1
                continue
            if not count:
                continue
            if held not in counts:
                counts[held] = self.ledger.held_waiting(
                    held.due,
                    pool_id=held.pool_id,
                    mailbox_id=held.mailbox_id,
                    keep_bulk=held.keep_bulk,
                )
            if counts[held]:
                done.outcomes["waiting"] += counts[held]
                done.waiting[why] += counts[held]

    def _pass(self) -> Pass:
        """:meth:`run_once`'s pass, its holds' waiting messages not counted yet (:meth:`_tally`)."""
        done = Pass()
        self._waits = []
        delivery = self.delivery
        delivery.broken = {}
        delivery.cut = set()
        if self._interrupted:
            self._resume(done)
        # A newer warmup may have upgraded the ledger since the last pass (a host upgraded
        # first): this worker's writes would miss what the newer schema keeps (an older
        # worker's sends never reached domain_day, the rollup recipient-domain caps read, and
        # over-sent them). Between passes nothing is in flight: it stops here, exit 78, as
        # every command of this version is refused on that ledger.
        self.ledger.pending_migrations()
        self.ledger.recheck_outbox()  # a row left out for a time mended since is sent again
        if self.bounces is not None:
            self.bounces.run_due(self.clock())
        start = self.clock()
        self._clock_skew(start)
        self._passwords_found(start)
        # The health last told per mailbox, read once a pass (see warmup.notify.observe).
        delivery.seen = self.ledger.settings(notify.HEALTH_KEY) if self.notifier.active else None
        delivery.observed = set()
        pool_id = self._pool_now(start)
        for state in self.recover(start):
            done.outcomes[f"recovered {state}"] += 1
        expired = self.ledger.expire_messages(start)
        if expired:
            done.outcomes["expired"] += expired
            self.log(f"{stamp(start)} expired {plural(expired, 'message')} past their expiry")
        if not self.stopping:
            self._hold_backlog(start, pool_id)
        # The pools (mailboxes) held or found able to send since their last message went.
        looked: set[tuple[int | None, int | None]] = set()
        try:
            self._claim_all(delivery, pool_id, start, looked, done)
        except LedgerVanished as exc:
            raise delivery.vanished(exc) from None
        # when it can really go: a 421 that paused every member until 14:40 deferred its message
        # 5 s, and "next message due at" said the 5 s, with the reply of a mailbox paused since
        with self.ledger.reading():  # its targets' and their members' questions: one transaction
            upcoming = next_due(self.ledger, pool_id, self.clock())
        if upcoming is not None:
            done.next_due, done.next_why = upcoming.at, upcoming.why
            done.next_held = upcoming.held
            done.next_expires = upcoming.expires
        done.unreadable = [str(e) for e in self.ledger.outbox_unreadable()]
        for why in done.unreadable:
            if why not in self._unreadable_said:  # once per run, not once a pass
                self.log(f"{stamp(start)} left out {why}")
        self._unreadable_said = set(done.unreadable)
        return done

    def _claim_all(
        self,
        delivery: Delivery,
        pool_id: int | None,
        start: dt.datetime,
        looked: set[tuple[int | None, int | None]],
        done: Pass,
    ) -> None:
        """Claim and deliver the due messages until none is left (or the worker stops), each
        outcome written with the next claim, the last one by the flush at the end."""
        try:
            while not self.stopping:
                msg = self.ledger.claim(
                    self.id, self.clock(), pool_id, due=start, settle=delivery.pending
                )
                delivery.pending = None  # written: a claim that failed rolled it back with it
                if msg is None:
                    break
                delivery.fault = (0, "")
                state = delivery.deliver(msg)
                done.outcomes[state] += 1
                if delivery.fault[0]:
                    done.faults[delivery.fault[0]] += 1
                    done.fault_why = done.fault_why or delivery.fault[1]
                target = (msg.pool_id, None if msg.pool_id is not None else msg.mailbox_id)
                if state == "waiting":
                    self._waits.append((delivery.why, None))
                    if target not in looked:  # once since its last send: it may be the last
                        looked.add(target)
                        self._hold(target, start, self.clock())
                elif state == "sent":
                    looked.discard(target)
                if msg.campaign is not None and state in FINAL and self.notifier.active:
                    delivery.flush()
                    self._campaign_done(msg.campaign)
        finally:
            delivery.flush()

    def _clock_skew(self, now: dt.datetime) -> None:
        """Once per worker: a line when this host's clock is more than :data:`CLOCK_SKEW` off
        the shared ledger server's (its claims are judged on the server's clock, but the
        sends it stamps, and a person reading its lines, go by this one's)."""
        if self._skew_said:
            return
        offset = self.ledger.clock_offset()
        if offset is not None and abs(offset) > CLOCK_SKEW:
            self._skew_said = True
            self.log(f"{stamp(now)} {clock_offset_said(offset)}: fix this host's time sync")

    def _pool_now(self, now: dt.datetime) -> int | None:
        """The id of the worker's pool (``--pool``) as the ledger has it at the start of a pass
        (None: every pool's messages). Looked up by name: a pool removed and made again under
        its name has a new id, and a worker that kept the id it started with never claimed the
        new pool's messages, saying "nothing is queued" while they waited. A removed pool: one
        line, then nothing to claim (its messages were cancelled with it) until it is made
        again."""
        if self.pool is None:
            return None
        try:
            pool = self.ledger.pool(self.pool.name)
        except PoolNotFound:
            if not self._pool_gone:
                self._pool_gone = True
                self.log(
                    f"{stamp(now)} pool {self.pool.name} was removed: nothing to send until "
                    f"'warmup pool add {self.pool.name} ADDRESS...' makes it again"
                )
            return self.pool.id
        if self._pool_gone or pool.id != self.pool.id:
            self.note(f"{stamp(now)} pool {pool.name} exists again: sending its messages")
        self._pool_gone = False
        self.pool = pool
        return pool.id

    def _passwords_found(self, now: dt.datetime) -> None:
        """At the start of a pass: make due ``now`` the messages held for a missing password
        that is there now (``$WARMUP_PASSWORD`` of this run, the keyring filled by other means
        than 'mailbox login', which does so itself): they waited out the hold after the fix."""
        from warmup.credentials import get_password

        for key, address in self.ledger.settings(NO_PASSWORD).items():
            try:
                get_password(address, self._password_command)
            except ConfigError:
                continue
            try:
                box = self.ledger.mailbox(address)
            except MailboxNotFound:  # removed since: nothing of it waits
                self.ledger.set_settings({key: None}, now)
                continue
            self.ledger.release(box, now)
            self.ledger.set_settings({key: None}, now)
            self.delivery.no_password.discard(box.id)
            self.note(f"{stamp(now)} found a password for {address}: its held messages are due")

    def _hold_backlog(self, start: dt.datetime, pool_id: int | None) -> None:
        """At the start of a pass: :meth:`_hold` each pool (or mailbox) with due messages. The
        targets and each one's look are read in one transaction (a server's BEGIN and COMMIT
        once): a hold written meanwhile changes none of what a look reads (the pools, their
        members' rows, policies and histories)."""
        with self.ledger.reading():
            targets = {
                (pid, None if pid is not None else mid)
                for pid, mid in self.ledger.due_targets(start, start, pool_id)
            }
            for target in sorted(targets, key=lambda t: (t[0] or 0, t[1] or 0)):
                self._hold(target, start, self.clock())

    def _hold(
        self, target: tuple[int | None, int | None], due: dt.datetime, now: dt.datetime
    ) -> None:
        """Put back at once the messages due by ``due`` of pool ``target[0]`` (or mailbox
        ``target[1]``) when none of its mailboxes can send ``now``, until the first of their
        next slots: one by one, a backlog of thousands cost a claim, every member's preview and
        a write each, every pass (a paced pool: after every slot, once its one message went).
        A member that can send (any message may then go), one that cannot be asked (its policy
        unknown, the pool gone) or a pool whose bulk messages may take its overflow channel
        leaves them (the bulk ones) to the one-by-one path, which says why. ``can_send`` False
        refuses any message, whatever its recipients, as the preview and the reservation
        would."""
        # One read transaction for the pool's and each member's questions (its row, policy,
        # eras and history: five a member apart, each a checkout, BEGIN and COMMIT).
        with self.ledger.reading():
            found = self._hold_found(target, now)
        if found is None:
            return
        pool, until, why = found
        pid, mid = target
        keep_bulk = pool is not None and pool.overflow is not None
        self.ledger.hold_messages(
            due, now, until, why, pool_id=pid, mailbox_id=mid, keep_bulk=keep_bulk
        )
        # Counted after the pass, if at all (_tally): the count reads the whole due backlog
        self._waits.append((why, _Held(due, pid, mid, keep_bulk)))

    def _hold_found(
        self, target: tuple[int | None, int | None], now: dt.datetime
    ) -> tuple[PoolRow | None, dt.datetime, str] | None:
        """:meth:`_hold`'s look at the target: its pool (None: a mailbox), until when and why
        none of its mailboxes can send ``now``; None when one can (or cannot be asked)."""
        pid, mid = target
        delivery = self.delivery
        try:
            if pid is not None:
                pool: PoolRow | None = self.ledger.pool_by_id(pid)
                assert pool is not None
                delivery.pools[pid] = pool  # tagged: good for the claims that read its tag
                members = list(pool.members)
            elif mid is not None:
                pool, members = None, [delivery.box(mid)]
            else:
                return None
            gates = [delivery.gate(box) for box in members]
        except WarmupError:
            return None
        if not gates:
            return None
        waits, whys = [], []
        look = live(now)  # what each may send now: today counted as the gate counts it
        together = _allowances(self.ledger, members, look) if pool is not None else None
        for k, gate in enumerate(gates):
            try:
                a = together[k] if together is not None else gate.allowance(look)
            except MailboxNotFound:  # a kept gate of a removed mailbox: see Delivery.deliver
                delivery.drop(gate)
                return None
            delivery.observe(gate, now, a)
            if a.can_send:
                return None
            waits.append(next_slot(a.status, a.next_send_at, gate.box, now))
            whys.append(refusal_text(a, 1, gate.box.timezone))
        return pool, max(min(waits), now + MIN_WAIT), "; ".join(whys)[:500]

    def _resume(self, done: Pass) -> None:
        """After a pass the ledger broke off (see :meth:`run`): write what the gates and the
        last message held back, then settle this worker's own claim left "sending" as a dead
        worker's is, from the gate's slots (queued again when nothing reached SMTP, else
        ``unknown``): between passes the worker holds no claim. Raises :class:`Unavailable`
        while the ledger still is away."""
        for gate in list(self.delivery.gates.values()):
            gate.flush()
        self.delivery.flush()
        now = self.clock()
        for message, worker, _ in self.ledger.claims():
            if worker != self.id:
                continue
            state = self.ledger.recover(message, worker, now, final=refuses_size)
            if state is not None:
                done.outcomes[f"recovered {state}"] += 1
                said = self._recovered_line(state)
                said(f"{stamp(now)} {state} #{message}: its pass was cut off by the ledger")
        self._interrupted = False

    def _campaign_done(self, campaign: str) -> None:
        for state in ("queued", "sending"):
            if self.ledger.messages(campaign=campaign, state=state, limit=1):
                return
        counts: Counter[str] = Counter()
        for c in self.ledger.outbox_counts():
            if c["campaign"] == campaign:
                counts[c["state"]] += int(c["messages"])
        summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
        self.notifier.send(
            notify.event(
                "campaign_finished",
                None,
                self.clock(),
                f"campaign {campaign} has no message left to send: {summary}",
                campaign=campaign,
                counts=dict(counts),
            )
        )

    def recover(self, now: dt.datetime) -> list[str]:
        """Settle the messages whose worker is gone (see the module docstring)."""
        states = []
        for message, worker, claimed_at in self.ledger.claims():
            if worker == self.id or not self._gone(worker, claimed_at, now):
                continue
            state = self.ledger.recover(message, worker, now, final=refuses_size)
            if state is not None:
                states.append(state)
                self._recovered_line(state)(
                    f"{stamp(now)} {state} #{message}: its worker {worker} is gone"
                )
        return states

    def _gone(self, worker: str, claimed_at: dt.datetime | None, now: dt.datetime) -> bool:
        """Whether ``worker`` (a :attr:`id`) will never settle its claim: its process is gone
        (asked only of a worker in this :data:`PLACE`: another machine's or container's pid
        says nothing here, whatever its host name), or its claim is older than the lease."""
        parts = worker.split(":")
        here = len(parts) == 4 and parts[2].partition(".")[0] == PLACE and parts[1].isdigit()
        if here and not alive(int(parts[1])):
            return True
        # A pid given again to another program since: its start says so (an id of a warmup
        # before 2026-12-07 names no start, and waits for the lease as it did).
        if here and "." in parts[2] and holders.gone(int(parts[1]), parts[2]):
            return True
        return claimed_at is None or now - claimed_at > self.lease

    def _recovered_line(self, state: str) -> Callable[[str], object]:
        """Where the line of a claim recovered as ``state`` goes: queued again (nothing left)
        or sent, it ended well (``note``); ``unknown`` (it may have left) waits for a person,
        and ``bounced`` is said as a bounce is (``log``)."""
        return self.note if state in ("queued", "sent") else self.log


def _allowances(
    ledger: Ledger, members: list[MailboxRow], now: dt.datetime
) -> list[Allowance] | None:
    """Each member's :meth:`~warmup.Gate.allowance` at ``now`` (the same answers: its row as
    read with its pool), read together (:func:`warmup.api.quotas_each`): a handful of
    statements for all of them instead of 9 each (its row, policy, past policies' caps, 6 of
    history), round trips to a server. None when one cannot be asked (removed, its policy
    unknown here): each gate then asks, and says why, as it did."""
    from warmup import api

    try:
        answers, refusals = api.quotas_each(ledger, members, now)
    except WarmupError:
        return None
    return None if refusals else [a for _, a in answers]


def due_said(at: dt.datetime, expires: bool) -> str:
    """What the next queued message waits for (:attr:`Pass.next_due`, ``expires``: its
    :attr:`Pass.next_expires`), in words that follow a "; " (``run``) or begin a sentence once
    capitalised (``run --once``)."""
    if expires:  # "due at" a time after its expiry, or at it, said it would go
        return (
            f"nothing queued can go before its expiry: the next message expires at {due_stamp(at)}"
        )
    return f"next message due at {due_stamp(at)}"


def due_stamp(ts: dt.datetime) -> str:
    """When a message is due, in UTC to the second, rounded up: a cron job woken at the second
    it was told (truncated: 06:47:21 for 06:47:21.76) found nothing due yet."""
    if ts.microsecond:
        ts = ts.replace(microsecond=0) + dt.timedelta(seconds=1)
    return stamp(ts)
