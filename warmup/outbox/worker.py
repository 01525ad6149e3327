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
expires; 5xx -> ``bounced`` (a hard bounce suppresses the recipient, as the gate does for every
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
exists; elsewhere: its claim is older than :data:`LEASE`) and decides from the gate's slots
(:meth:`warmup.ledger.Ledger.recover`): no reservation was made, so nothing reached SMTP, and it is
queued again; a reservation exists, so it may have left, and it is ``unknown``. A message's
outcome is written in the transaction of the worker's next claim (or alone when the pass ends):
a worker killed in between leaves it ``sending``, decided the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from warmup import notify
from warmup.bounces.classify import refuses_size
from warmup.credentials import NoPassword
from warmup.errors import (
    ConfigError,
    DataError,
    LedgerBusy,
    PermissionFailure,
    Unavailable,
    WarmupError,
)
from warmup.gate import DuplicateSend, Gate, NotAllowed, Suppressed, suppressed_refusal
from warmup.gate import refusal as refusal_text
from warmup.headers import thread_ids
from warmup.instants import now_utc
from warmup.ledger import Claim, ClaimLost, Ledger, MailboxRow, OutboxRow, PoolRow
from warmup.ledger.outbox import RETRYABLE, Settle, fate, recovered_reply
from warmup.ledger.values import MailboxNotFound, PoolNotFound
from warmup.outbox.bounces import BounceSync
from warmup.outbox.due import next_due, next_slot
from warmup.outbox.sentas import as_sent, overflow_sender
from warmup.policy import Allowance
from warmup.smtp import LoginWanted, TooBig
from warmup.words import plural

LEASE = dt.timedelta(minutes=15)  # a claim older than this, from another host, is abandoned
POLL = 60.0  # seconds between looks at the outbox when nothing is due sooner
LEDGER_PATIENCE = 30.0  # seconds a sent message's record waits for an unavailable ledger
# Gates whose ledger connection is kept between messages, the most recently sent-from: the
# others give theirs back (SQLAlchemy's pool lends 15 at most, and waits 30 s for one more;
# the worker's own reads and writes need one or two). A pool of up to 8 keeps all of its own.
CONNECTED_GATES = 8
LEDGER_RETRY_MAX = 30.0  # longest wait of `run` between two passes the ledger was away for
MIN_WAIT = dt.timedelta(seconds=5)  # a message that could not go now waits at least this
BACKOFF = dt.timedelta(minutes=5)  # first wait after a 4xx; doubles per attempt
MAX_BACKOFF = dt.timedelta(hours=6)
HOLD = dt.timedelta(minutes=5)  # a message held by a configuration fault is looked at this often
# Settings ``outbox.no_password.ID`` -> address: the mailboxes whose messages are held for a
# missing password, looked for again at the start of every pass (any worker's, any host's).
NO_PASSWORD = "outbox.no_password."
HOST = socket.gethostname()  # shown to people; never trusted to tell two machines apart


def _place() -> str:
    """Where process ids mean the same thing as here: this boot of this kernel (its random
    boot id) and this PID namespace (a container's own). Hostnames do not tell machines apart
    (containers with host networking share the host's), nor pids containers. A short digest;
    without a boot id (not Linux), the host name stands in for it."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            machine = f.read().strip()
    except OSError:
        machine = f"host {HOST}"
    try:
        ns = os.stat("/proc/self/ns/pid")
        space = f"{ns.st_dev}:{ns.st_ino}"
    except OSError:
        space = ""
    return hashlib.blake2b(f"{machine}|{space}".encode(), digest_size=6).hexdigest()


PLACE = _place()
FINAL = ("sent", "bounced", "unknown", "expired", "cancelled")


def backoff(attempts: int) -> dt.timedelta:
    """How long a message waits after its ``attempts``-th deferred try."""
    return min(BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    # A zombie answers signal 0 too: a worker killed (kill -9, the OOM killer) under a parent
    # that has not reaped it yet (a script's Popen, a supervisor that waits only at its own
    # end) held its message 'sending' for the lease, 15 minutes, though it was dead.
    try:
        ours = os.readlink("/proc/self") == str(os.getpid())
    except OSError:  # no /proc (not Linux): as signal 0 said
        return True
    if not ours:
        # A /proc of another PID namespace ('unshare -p' without --mount-proc): its entry
        # under this pid is another process's, or none, and a live peer was taken for gone.
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:  # gone meanwhile
        return False
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] != b"Z"


@dataclass
class Pass:
    """What one pass over the due messages did: messages per outcome, why the ``waiting`` ones
    could not go (messages per reason), and when the next queued message can go (None: nothing
    queued) and why it waits (:func:`warmup.outbox.due.next_due`)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    waiting: Counter[str] = field(default_factory=Counter)
    next_due: dt.datetime | None = None
    next_why: str | None = None  # why the next message waits now: its members, else its reply
    # Messages no member could send because each one failed for a fault a person must fix
    # (its configuration, 78, or its login, 77), per sysexits code: see :attr:`fault_code`.
    faults: Counter[int] = field(default_factory=Counter)
    fault_why: str = ""  # the first such message's fault, in words (its mailbox's)

    @property
    def fault_code(self) -> int:
        """0, or the exit code of a pass in which some message could go from no member of its
        pool (or its mailbox) because every one of them was refused for a fault of its
        configuration (78) or its login (77): what a cron job must hear. A message that only
        waits for quota, pacing, a window or a pause is no fault. Both: 78, the configuration,
        whose fix comes first."""
        return max(self.faults, default=0)


class Worker:
    """Sends the outbox's due messages (all of them, or a pool's). One per process.

    ``clock`` and ``sleep`` are injectable: tests pass time in instead of waiting for it.
    ``log`` gets one line per event. ``sync_every``: sync the bounces of the worker's mailboxes
    over IMAP this often, and by IMAP IDLE while :meth:`run` runs (:mod:`warmup.outbox.bounces`;
    None, the default: no sync); ``idle_retry(n)``: the seconds an IDLE watcher waits after its
    n-th failure in a row (:func:`warmup.bounces.idle.backoff`).
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
    ) -> None:
        self.ledger = ledger
        self.pool: PoolRow | None = ledger.pool(pool) if pool is not None else None
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
        self.id = f"{HOST}:{os.getpid()}:{PLACE}:{secrets.token_hex(8)}"
        self._stop = False
        self._wake = threading.Event()  # set by stop() and wake(): ends the sleep between passes
        self._sleep = sleep or self._wake.wait
        self._password_command = password_command
        self._no_password: set[int] = set()  # mailboxes noted as held for a missing password
        self._timeout = timeout
        self._gates: dict[int, Gate] = {}
        self._connected: list[int] = []  # the gates that may hold a connection, newest last
        self._pools: dict[int, PoolRow] = {}  # kept while a claim reads the same tag (_members)
        self._seen: dict[str, str] | None = None
        self._observed: set[int] = set()
        self._pending: Settle | None = None  # the last message's outcome, not yet written
        self._interrupted = False  # the last pass ended in an unavailable ledger (see run)
        self._why = ""  # why the last message waits (state "waiting")
        # the fault (code, words) of the last message no member could send (Pass.faults)
        self._fault: tuple[int, str] = (0, "")
        self._broken: dict[int, WarmupError] = {}  # this pass: mailboxes that could not send
        self._own_notifier = notifier is None
        self.notifier = notifier or notify.notifier_for(ledger, log=log)
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

    def run(self) -> None:
        """Send what is due, sleep until the next message is due (or :data:`POLL`, or the next
        bounce sync, or :meth:`wake`), again, until :meth:`stop`. With a bounce sync, IMAP IDLE
        wakes it when a mailbox gets mail."""
        try:
            if self.bounces is not None:
                self.bounces.watch(self.wake)
            said: object = self  # what the last line about the queue's wait said: nothing yet
            away = 0.0  # the last wait for an unavailable ledger (0: it answered)
            while not self.stopping:
                self._wake.clear()
                try:
                    done = self.run_once()
                except (Unavailable, LedgerBusy) as exc:
                    # A team server restarting (or an administrator's pg_terminate_backend)
                    # under a pass, or out of connection slots: the worker exited 69, a service stopped until someone
                    # restarted it. Its claim is settled once the ledger is back (_resume).
                    away = min(max(away * 2, 1.0), LEDGER_RETRY_MAX)
                    self._interrupted = True
                    self.log(
                        f"{_stamp(self.clock())} pass cut off: {exc}; trying again in {away:g} s"
                    )
                    self._sleep(away)
                    continue
                if away:
                    self.note(f"{_stamp(self.clock())} the ledger is back: sending again")
                    away = 0.0
                if self.stopping:
                    break
                said = self._say_waiting(done, said)
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
        """One line when what the queue waits for changes (not once a pass): why its messages
        wait and when the next is due, or that nothing is queued. A worker whose members'
        quota was used said nothing until the next day, as a hung one would. Returns what it
        said (the key compared next time)."""
        now = self.clock()
        if done.next_due is None:
            key: object = None
            line = "nothing is queued: waiting for new messages (SIGTERM or Ctrl-C stops)."
        elif done.next_due > now:
            key = done.next_due
            due = f"next message due at {due_stamp(done.next_due)}"
            if done.waiting:  # held this pass: why is at hand
                why, _ = done.waiting.most_common(1)[0]
                n = sum(done.waiting.values())
                line = f"waiting: {plural(n, 'message')}: {why}; {due}."
            elif done.next_why:  # held by an earlier pass (or worker): its reason is kept
                line = f"waiting: {done.next_why}; {due}."
            else:
                line = f"waiting: {due}."
        else:
            return said
        if key != said:
            self.note(f"{_stamp(now)} {line}")
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
        for gate in self._gates.values():
            gate.close()
        self._gates.clear()
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
        when the next one is due."""
        done = Pass()
        self._broken = {}
        if self._interrupted:
            self._resume(done)
        if self.bounces is not None:
            self.bounces.run_due(self.clock())
        start = self.clock()
        self._passwords_found(start)
        # The health last told per mailbox, read once a pass (see warmup.notify.observe).
        self._seen = self.ledger.settings(notify.HEALTH_KEY) if self.notifier.active else None
        self._observed = set()
        pool_id = self._pool_now(start)
        for state in self.recover(start):
            done.outcomes[f"recovered {state}"] += 1
        expired = self.ledger.expire_messages(start)
        if expired:
            done.outcomes["expired"] += expired
            self.log(f"{_stamp(start)} expired {plural(expired, 'message')} past their expiry")
        if not self.stopping:
            self._hold_backlog(start, pool_id, done)
        # The pools (mailboxes) held or found able to send since their last message went.
        looked: set[tuple[int | None, int | None]] = set()
        try:
            while not self.stopping:
                msg = self.ledger.claim(
                    self.id, self.clock(), pool_id, due=start, settle=self._pending
                )
                self._pending = None  # written: a claim that failed rolled it back with it
                if msg is None:
                    break
                self._fault = (0, "")
                state = self._deliver(msg)
                done.outcomes[state] += 1
                if self._fault[0]:
                    done.faults[self._fault[0]] += 1
                    done.fault_why = done.fault_why or self._fault[1]
                target = (msg.pool_id, None if msg.pool_id is not None else msg.mailbox_id)
                if state == "waiting":
                    done.waiting[self._why] += 1
                    if target not in looked:  # once since its last send: it may be the last
                        looked.add(target)
                        self._hold(target, start, self.clock(), done)
                elif state == "sent":
                    looked.discard(target)
                if msg.campaign is not None and state in FINAL and self.notifier.active:
                    self._flush()
                    self._campaign_done(msg.campaign)
        finally:
            self._flush()
        # when it can really go: a 421 that paused every member until 14:40 deferred its message
        # 5 s, and "next message due at" said the 5 s, with the reply of a mailbox paused since
        upcoming = next_due(self.ledger, pool_id, self.clock())
        if upcoming is not None:
            done.next_due, done.next_why = upcoming.at, upcoming.why
        return done

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
                    f"{_stamp(now)} pool {self.pool.name} was removed: nothing to send until "
                    f"'warmup pool add {self.pool.name} ADDRESS...' makes it again"
                )
            return self.pool.id
        if self._pool_gone or pool.id != self.pool.id:
            self.note(f"{_stamp(now)} pool {pool.name} exists again: sending its messages")
        self._pool_gone = False
        self.pool = pool
        return pool.id

    def _wants_password(self, box: MailboxRow) -> None:
        """Note that ``box``'s messages are held for its missing password (once a process)."""
        if box.id not in self._no_password:
            self._no_password.add(box.id)
            self.ledger.set_settings({f"{NO_PASSWORD}{box.id}": box.address}, self.clock())

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
            self._no_password.discard(box.id)
            self.note(f"{_stamp(now)} found a password for {address}: its held messages are due")

    def _hold_backlog(self, start: dt.datetime, pool_id: int | None, done: Pass) -> None:
        """At the start of a pass: :meth:`_hold` each pool (or mailbox) with due messages."""
        targets = {
            (pid, None if pid is not None else mid)
            for pid, mid in self.ledger.due_targets(start, start, pool_id)
        }
        for target in sorted(targets, key=lambda t: (t[0] or 0, t[1] or 0)):
            self._hold(target, start, self.clock(), done)

    def _hold(
        self, target: tuple[int | None, int | None], due: dt.datetime, now: dt.datetime, done: Pass
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
        pid, mid = target
        try:
            if pid is not None:
                pool: PoolRow | None = self.ledger.pool_by_id(pid)
                assert pool is not None
                self._pools[pid] = pool  # tagged: good for the claims that read its tag
                members = list(pool.members)
            elif mid is not None:
                pool, members = None, [self._box(mid)]
            else:
                return
            gates = [self._gate(box) for box in members]
        except WarmupError:
            return
        if not gates:
            return
        waits, whys = [], []
        for gate in gates:
            try:
                a = gate.allowance(now)
            except MailboxNotFound:  # a kept gate of a removed mailbox: see _deliver
                self._drop(gate)
                return
            self._observe(gate, now, a)
            if a.can_send:
                return
            waits.append(next_slot(a.status, a.next_send_at, gate.box, now))
            whys.append(refusal_text(a, 1, gate.box.timezone))
        until = max(min(waits), now + MIN_WAIT)
        why = "; ".join(whys)[:500]
        waiting, expired = self.ledger.hold_messages(
            due,
            now,
            until,
            why,
            pool_id=pid,
            mailbox_id=mid,
            keep_bulk=pool is not None and pool.overflow is not None,
        )
        if expired:
            done.outcomes["expired"] += expired
            self.log(f"{_stamp(now)} expired {plural(expired, 'message')} waiting: {why}")
        if waiting:
            done.outcomes["waiting"] += waiting
            done.waiting[why] += waiting
            self._why = why

    def _flush(self) -> None:
        """Write the last message's outcome if it is still waiting to ride on the next claim
        (kept while the ledger is unavailable: the pass after it writes it)."""
        if self._pending is not None:
            self.ledger.settle_message(worker=self.id, **vars(self._pending))
            self._pending = None

    def _resume(self, done: Pass) -> None:
        """After a pass the ledger broke off (see :meth:`run`): write what the gates and the
        last message held back, then settle this worker's own claim left "sending" as a dead
        worker's is, from the gate's slots (queued again when nothing reached SMTP, else
        ``unknown``): between passes the worker holds no claim. Raises :class:`Unavailable`
        while the ledger still is away."""
        for gate in list(self._gates.values()):
            gate.flush()
        self._flush()
        now = self.clock()
        for message, worker, _ in self.ledger.claims():
            if worker != self.id:
                continue
            state = self.ledger.recover(message, worker, now, final=refuses_size)
            if state is not None:
                done.outcomes[f"recovered {state}"] += 1
                said = self._recovered_line(state)
                said(f"{_stamp(now)} {state} #{message}: its pass was cut off by the ledger")
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
                    f"{_stamp(now)} {state} #{message}: its worker {worker} is gone"
                )
        return states

    def _gone(self, worker: str, claimed_at: dt.datetime | None, now: dt.datetime) -> bool:
        """Whether ``worker`` (a :attr:`id`) will never settle its claim: its process is gone
        (asked only of a worker in this :data:`PLACE`: another machine's or container's pid
        says nothing here, whatever its host name), or its claim is older than the lease."""
        parts = worker.split(":")
        here = len(parts) == 4 and parts[2] == PLACE and parts[1].isdigit()
        if here and not _alive(int(parts[1])):
            return True
        return claimed_at is None or now - claimed_at > self.lease

    # -- one message ---------------------------------------------------------------------------

    def _members(self, msg: OutboxRow) -> tuple[list[MailboxRow], PoolRow | None]:
        if msg.pool_id is None:
            assert msg.mailbox_id is not None
            return [self._box(msg.mailbox_id)], None
        # Kept while the claim of each message reads the pool's tag unchanged (in the claim's
        # statement: no query of its own); any change to the pool or its members moves the tag
        # in its own transaction, so a message claimed after a member's removal committed is
        # never offered to it (the worker that kept its first look at the pool for good died
        # asking a removed member for its quota). Looked up afresh for every message, the pool
        # cost about a twentieth of the worker's CPU per message.
        pool = self._pools.get(msg.pool_id)
        if pool is None or msg.pool_rev is None or pool.rev != msg.pool_rev:
            self._pools.pop(msg.pool_id, None)
            pool = self._pools[msg.pool_id] = self.ledger.pool_by_id(msg.pool_id)
        members = list(pool.members)
        if len(members) > 1:
            # Decided at send time, so a thread follows mail sent after this one was queued.
            ids = [m.id for m in members]
            sticky = self.ledger.thread_sender(thread_ids(msg.data or b""), ids)
            if sticky is None:
                sticky = self.ledger.last_sender(msg.recipients, ids)
            if sticky is not None:
                members = [m for m in members if m.id == sticky]
        return members, pool

    def _box(self, mailbox_id: int) -> MailboxRow:
        gate = self._gates.get(mailbox_id)
        if gate is not None:  # kept current by its reservations (see _gate)
            return gate.box
        address = self.ledger.mailbox_names().get(mailbox_id)
        if address is None:
            raise WarmupError(f"mailbox #{mailbox_id} was removed")
        return self.ledger.mailbox(address)

    def _gate(self, box: MailboxRow) -> Gate:
        """The gate of ``box``, kept for the worker's life. A gate reads the mailbox's policy,
        zone and endpoints when it opens, and each reservation reads the mailbox's rev under
        its lock: when a change ('mailbox set', a new version of its policy) moved it, the
        gate opens again on the ledger's settings before it decides (:meth:`Gate.reserve`), so
        the next message follows them at no cost to the messages before (a look here for
        every message halved the worker's rate). Previews read the mailbox afresh."""
        gate = self._gates.get(box.id)
        if gate is not None and gate.box.address != box.address:
            # A removed mailbox's id given to a new one (SQLite reuses the newest id): the
            # pool's fresh look names the new mailbox; the kept gate is the removed one's.
            self._drop(gate)
            gate = None
        if gate is None:
            gate = self._gates[box.id] = Gate(
                box.address,
                ledger=self.ledger,
                clock=self.clock,
                password_command=self._password_command,
                timeout=self._timeout,
                notifier=self.notifier,
                settle_after=None,  # _record writes each message's slots once it went
            )
        return gate

    def _connect_only(self, gate: Gate) -> None:
        """``gate`` is about to reserve: the gates that sent longest ago past
        :data:`CONNECTED_GATES` give their ledger connection back. Each kept its own for the
        worker's life: a pool of more than 14 members on a team ledger waited 30 s for the
        15th and died in a traceback with that member's message taken by its SMTP server."""
        box_id = gate.box.id
        connected = self._connected
        if connected and connected[-1] == box_id and len(connected) <= CONNECTED_GATES:
            return
        if box_id in connected:
            connected.remove(box_id)
        connected.append(box_id)
        while len(connected) > CONNECTED_GATES:
            old = self._gates.get(connected[0])
            if old is not None:
                # Off the list only once it gave its connection back: a release that failed
                # (the ledger away while it wrote the gate's deferred settlements) left the
                # gate holding one nobody would ask back, one more each outage, until the
                # pool had none to lend. Kept first in line, it is asked again next time.
                old.release()
            del connected[0]

    def _drop(self, gate: Gate) -> None:
        """Let go of a kept gate whose mailbox is gone (the next look opens a new one)."""
        if self._gates.get(gate.box.id) is gate:
            del self._gates[gate.box.id]
        gate.close()

    def _settle(self, msg: OutboxRow, state: str, **kw: object) -> str:
        # Written with the next claim, in its transaction (or by _flush when the pass ends):
        # a worker killed in between leaves the message "sending", and recovery decides it from
        # the gate's slots, as for a kill just before this write.
        self._pending = Settle(msg.id, state, self.clock(), **kw)  # type: ignore[arg-type]
        return state

    def _deliver(self, msg: OutboxRow, fresh: bool = False) -> str:
        """Send one claimed message; the state it ends in (``waiting``: back in the queue for
        the plan's next slot).

        A message of one mailbox goes through the gate kept for its mailbox id (no look at the
        mailbox per message); when that gate finds its mailbox gone (removed, and its id given
        to a new mailbox: a new mailbox's rev is never the removed one's, so the reservation
        sees the change), the message is delivered once more (``fresh``) after a new look."""
        now = self.clock()
        rcpts = list(msg.recipients)
        try:
            members, pool = self._members(msg)
        except WarmupError as exc:  # its mailbox or pool is gone
            self.log(f"{_stamp(now)} cancelled #{msg.id}: {exc}")
            return self._settle(msg, "cancelled", reply=str(exc))
        # In a pool of several, a slot of another member (any send path) that says the message
        # reached one of its recipients decides: no member sends it again. A message of one
        # mailbox needs no look: its gate refuses a Message-ID it has sent (DuplicateSend).
        if pool is not None and len(pool.members) > 1 and self._may_have_left(msg):
            return self._from_slots(msg, earlier=True)
        faults: list[str] = []  # configuration faults of the members that cannot send
        fails: list[WarmupError] = []  # why each member that failed (not refused) failed
        gates = []
        for box in members:
            try:
                gates.append(self._gate(box))
            except WarmupError as exc:  # its policy or provider preset is unknown here
                faults.append(f"{box.address}: {exc}")
                # held as a fault of its configuration, whatever the class
                fails.append(ConfigError(f"{box.address}: {exc}"))
        choices: list[tuple[int, int, str, Gate]] = []
        waits, whys = [], []
        refused: list[Allowance] = []
        if len(gates) == 1:  # no choice to make: the reservation itself says yes or when
            choices.append((0, 0, gates[0].box.address, gates[0]))
            self._observe(gates[0], now)
        for gate in gates if len(gates) > 1 else ():
            try:
                a, refusal = gate.preview(rcpts)
            except MailboxNotFound:
                # Removed ('mailbox remove') after the claim read the pool's tag: the worker
                # died on it (exit 64), its message left 'sending'. The pool afresh, once.
                self._drop(gate)
                if pool is not None:
                    self._pools.pop(pool.id, None)
                if not fresh:
                    return self._deliver(msg, fresh=True)
                continue
            self._observe(gate, now, a)
            if refusal is None:
                choices.append((-a.remaining, a.sent, gate.box.address, gate))
            else:
                whys.append(refusal)
                refused.append(a)
                waits.append(next_slot(a.status, a.next_send_at, gate.box, now))
        report = None
        failed: tuple[MailboxRow, WarmupError] | None = None  # the last member that could not send
        temporary = False  # a member failed for something a wait may fix
        ordered = [gate for *_, gate in sorted(choices, key=lambda c: c[:3])]
        for gate in ordered:
            box = gate.box
            if box.id in self._broken:  # one wait for a dead server a pass, not one a message
                failed = (box, self._broken[box.id])
                fails.append(failed[1])
                if isinstance(failed[1], ConfigError):
                    faults.append(str(failed[1]))
                else:
                    temporary = True
                continue
            data = as_sent(msg.data or b"", box.address, pool is not None and pool.reply_to, now)
            self._connect_only(gate)
            try:
                report = gate.send(
                    data, rcpts, message_id=msg.message_id, claim=Claim(msg.id, self.id)
                )
                refused_sender = _sender_refused(report)
                if refused_sender is None:
                    break
                # The server would take nothing from this member (MAIL FROM refused, the
                # connection lost before any recipient): the member failed, not the message.
                # As for an unreachable one: the next member, else a back-off that counts as
                # a try (a 5 s retry, not a try, mailed a disabled account's server every
                # message every 5 s until the messages expired).
                report = None
                down = Unavailable(f"{box.address} could not send: {refused_sender}")
                failed, temporary = (box, down), True
                fails.append(down)
                self._broken[box.id] = down
                if gate is not ordered[-1]:
                    self.log(f"{_stamp(now)} {box.address} could not send #{msg.id}: {down}")
                continue
            except ClaimLost as exc:  # recovered by another worker: no longer ours to send
                self.log(f"{_stamp(now)} lost #{msg.id}: {exc}")
                return "lost"
            except NotAllowed as exc:  # another worker took the slot meanwhile: the next member
                a = exc.allowance
                self._observe(gate, now, a)
                whys.append(str(exc))
                refused.append(a)
                waits.append(next_slot(a.status, a.next_send_at, box, now))
                continue
            except Suppressed as exc:
                return self._suppressed(msg, rcpts, exc, now)
            except DuplicateSend:  # the gate refused it before any SMTP: sent before
                return self._from_slots(msg, earlier=True)
            except TooBig as exc:  # refused before MAIL FROM: final, as the 552 it avoids
                self.log(f"{_stamp(now)} bounced #{msg.id}: {exc}")
                return self._settle(msg, "bounced", reply=str(exc)[:500], attempt=True)
            except WarmupError as exc:  # unreachable, login refused or deferred: nothing left,
                if self._may_have_left(msg):  # unless a slot says otherwise (the ledger failed
                    # after the server took it): then never from another member
                    self.log(f"{_stamp(now)} {box.address} failed after sending #{msg.id}: {exc}")
                    if isinstance(exc, LoginWanted):  # its slots settled: a login to fix (77)
                        return self._login_wanted(msg, box, rcpts, exc)
                    return self._from_slots(msg)
                if isinstance(exc, MailboxNotFound):  # removed: looked up afresh next time
                    self._drop(gate)
                    if pool is None and not fresh:  # its id may be a new mailbox's now
                        return self._deliver(msg, fresh=True)
                    # a name the queue holds, not one a user typed: the set-up's fault (78)
                    exc = ConfigError(str(exc))
                failed = (box, exc)  # so the next member may send it
                fails.append(exc)
                if isinstance(exc, ConfigError):
                    faults.append(str(exc))
                else:
                    temporary = True
                if isinstance(exc, NoPassword):
                    self._wants_password(box)
                if isinstance(exc, Unavailable | PermissionFailure | ConfigError):
                    self._broken[box.id] = exc
                if gate is not ordered[-1]:
                    self.log(f"{_stamp(now)} {box.address} could not send #{msg.id}: {exc}")
                continue
            except BaseException:
                self._from_slots(msg)
                raise
        if report is None and members and len(fails) == len(members):
            # its first line: a refused login goes on with the provider's checklist (logged)
            self._fault = (_fault_code(fails), (str(fails[0]).splitlines() or [""])[0])
        if report is None and failed is not None and temporary:
            return self._retry(msg, failed[0], str(failed[1]), attempt=True)
        if report is None and faults:  # held until fixed: not a try, and no back-off
            # Each fault once: members without a keyring fail in the same words.
            why = "; ".join(dict.fromkeys([*whys, *faults]))[:500]
            self.log(f"{_stamp(now)} held #{msg.id}: {why}")
            return self._wait(msg, min([*waits, now + HOLD]), why)
        if report is None:
            if (
                msg.bulk
                and pool is not None
                and pool.overflow is not None
                and refused
                and all(_quota_used(a, len(rcpts)) for a in refused)
            ):
                return self._overflow(msg, pool, rcpts)
            # A bulk message of a pool with an overflow channel waits for it however many
            # recipients it has: the channel takes it once the members' quota is used.
            overflows = msg.bulk and pool is not None and pool.overflow is not None
            never = (
                self._never_fits(gates, rcpts) if refused and not fails and not overflows else None
            )
            if never is not None:
                bad = self.ledger.suppressed(rcpts)
                if bad:  # the gate leaves them out first: the rest may fit
                    return self._suppressed(msg, rcpts, suppressed_refusal(bad), now)
                self.log(f"{_stamp(now)} bounced #{msg.id}: {never}")
                return self._settle(msg, "bounced", reply=never[:500])
            if not waits:  # a pool left without mailboxes (its last one removed)
                name = pool.name if pool is not None else "?"
                why = f"pool {name} has no mailbox; add one with 'warmup pool add {name} ADDRESS'"
                # no wait fixes it: a person must, so 'run --once' (cron) says so (78)
                self._fault = (78, why)
                waits, whys = [now + dt.timedelta(minutes=15)], [why]
            return self._wait(msg, min(waits), "; ".join(whys)[:500])
        self._record(gate, msg, box)  # the slots' "sent" now: the outbox never says more
        outcomes = {
            r: report.results[r].outcome if r in report.results else "unknown" for r in rcpts
        }
        state, again = fate(_too_big_is_final(report, outcomes))
        reply = _reply(report)
        if report.error is not None and "unknown" in outcomes.values():
            # The connection broke under the data: this message waits for a person, and the
            # next one would too (a content filter that times out, a proxy cutting uploads
            # every time made each message of the pass 'unknown'). The member is set aside
            # for the pass, as an unreachable one is: the others send the rest.
            self._broken[box.id] = Unavailable(f"{box.address} could not send: {report.error}")
        if state == "queued":
            soft = any(outcomes[r] == "soft" for r in again)
            return self._retry(msg, box, reply, attempt=soft, recipients=list(again))
        self._settled_line(state, outcomes)(
            f"{_stamp(self.clock())} {state} #{msg.id} {msg.message_id} from {box.address} "
            f"to {', '.join(rcpts)}: {reply}"
        )
        # A try made, this one included: TRIES of a message sent at once is 1, not 0.
        return self._settle(msg, state, reply=reply, sent_by=box.id, attempt=True)

    def _suppressed(
        self, msg: OutboxRow, rcpts: list[str], exc: Suppressed, now: dt.datetime
    ) -> str:
        """``msg`` without the recipients ``exc`` says are suppressed: queued to the rest,
        else cancelled."""
        left = [r for r in rcpts if r not in exc.recipients]
        self.log(f"{_stamp(now)} suppressed #{msg.id}: {', '.join(exc.recipients)}")
        if left:
            # fewer recipients: due as it was, so this pass sends it to the others
            # (not the next cron run); else after the pass, never claimed in a loop
            due = min(now, msg.next_attempt_at) if len(left) < len(rcpts) else now
            return self._settle(msg, "queued", reply=str(exc), recipients=left, next_attempt_at=due)
        return self._settle(msg, "cancelled", reply=str(exc))

    def _never_fits(self, gates: list[Gate], rcpts: list[str]) -> str | None:
        """Why none of ``gates`` could send ``rcpts`` on any day (a cap, policy or pool changed
        since the message was queued, which 'queue add' would refuse now), or None. Such a
        message waited for "tomorrow" every day until it expired."""
        if len(rcpts) < 2 and not any(g.spec.recipient_domains for g in gates):
            return None  # every day's quota is 1 at least: no reads for the common message
        from warmup import policies
        from warmup.gate import check_fits

        whys = []
        for gate in gates:
            try:
                box = self.ledger.mailbox(gate.box.address)  # as it is now, not as opened
                check_fits(
                    rcpts, box, policies.policy_for(self.ledger, box), gate.provider.daily_limit
                )
            except DataError as exc:
                whys.append(str(exc))
            except WarmupError:  # cannot be asked: the one-by-one path says why
                return None
            else:
                return None
        return "; ".join(whys) or None

    def _record(self, gate: Gate, msg: OutboxRow, box: MailboxRow) -> None:
        """Write the gate's deferred "sent" slots, again while the ledger is unavailable (a
        team server restarting, a fail-over): the server has the message, and a worker that
        gave up at once left it "sending", for the next worker to call unknown and a person to
        decide, though its reply was known. Past :data:`LEDGER_PATIENCE`, or when stopped: the
        error, after a line saying what left."""
        delay, waited = 1.0, 0.0
        while True:
            try:
                gate.flush()
                return
            except Unavailable as exc:
                if waited >= LEDGER_PATIENCE or self.stopping:
                    self.log(
                        f"{_stamp(self.clock())} #{msg.id} {msg.message_id} left {box.address}, "
                        f"but the ledger could not record it: it stays 'sending', counted as "
                        f"sent; the next worker marks it unknown"
                    )
                    raise
                self.log(
                    f"{_stamp(self.clock())} #{msg.id} left {box.address}; recording it: {exc}; "
                    f"trying again in {delay:g} s"
                )
                self._sleep(delay)
                waited += delay
                delay = min(delay * 2, 8.0)

    def _overflow(self, msg: OutboxRow, pool: PoolRow, rcpts: list[str]) -> str:
        """Send a bulk message through the pool's overflow channel (every member's quota is
        used); nothing goes to the gate's records, so the warm-up never counts it."""
        from warmup.outbox import overflow

        now = self.clock()
        bad = self.ledger.suppressed(rcpts)
        if bad:
            self.log(f"{_stamp(now)} suppressed #{msg.id}: {', '.join(sorted(bad))}")
            rcpts = [r for r in rcpts if r not in bad]
            if not rcpts:
                return self._settle(msg, "cancelled", reply="every recipient is suppressed")
        # Committed before the SMTP conversation: a crash from here on leaves it "unknown".
        if not self.ledger.via_overflow(msg.id, self.id, now):
            return "lost"  # another worker settled our claim: it is no longer ours to send
        data, sender = overflow_sender(msg.data or b"", pool, now)
        try:
            report = overflow.send(pool, sender, rcpts, data, self._timeout)
        except (ConfigError, PermissionFailure) as exc:
            # The channel's login refused or wanted (530), or its password missing: no wait
            # fixes it, so 'run --once' exits 77 (78) for it as for a member's login.
            line = (str(exc).splitlines() or [""])[0]
            where = f"overflow channel of pool {pool.name}"
            self._fault = (exc.exit_code, line if where in line else f"{where}: {line}")
            if not isinstance(exc, LoginWanted):
                return self._retry(msg, None, str(exc), attempt=True, recipients=rcpts)
            # A 530: with CHUNKING the data went with the envelope, and those the channel took
            # have the message; a 550 read before the 530 stands. Again to the others alone
            # (to all, each retry mailed those reached once more).
            outcomes = {
                r: exc.results[r].outcome if r in exc.results else "released" for r in rcpts
            }
            hard = [r for r in rcpts if outcomes[r] == "hard"]
            if hard:
                said = exc.results[hard[0]]
                why = f"hard bounce from the overflow channel of pool {pool.name}: {said.code} {said.text}"
                self.ledger.suppress(hard, "hard", why[:500], now)
            state, again = fate(outcomes)
            if state == "queued":
                return self._retry(msg, None, str(exc), attempt=True, recipients=list(again))
            # As the end of the main path below: its final line, its recipients less those
            # suppressed (the row named them as mailed).
            self._settled_line(state, outcomes)(
                f"{_stamp(self.clock())} {state} #{msg.id} {msg.message_id} via the overflow "
                f"channel of pool {pool.name} from {sender} to {', '.join(rcpts)}: {exc}"
            )
            return self._settle(
                msg, state, reply=str(exc)[:500], recipients=rcpts if bad else None, attempt=True
            )
        except WarmupError as exc:  # unreachable, login refused or deferred: nothing left
            return self._retry(msg, None, str(exc), attempt=True, recipients=rcpts)
        except BaseException:
            self._settle(
                msg, "unknown", reply="the worker stopped while sending via overflow", attempt=True
            )
            raise
        refused_sender = _sender_refused(report)
        if refused_sender is not None:  # the channel took nothing: a try, as a 4xx is
            return self._retry(msg, None, refused_sender, attempt=True, recipients=rcpts)
        outcomes = {
            r: report.results[r].outcome if r in report.results else "unknown" for r in rcpts
        }
        reply = _reply(report)
        hard = [r for r in rcpts if outcomes[r] == "hard"]
        if hard:
            why = f"hard bounce from the overflow channel of pool {pool.name}: {reply}"
            self.ledger.suppress(hard, "hard", why[:500], now)
        state, again = fate(_too_big_is_final(report, outcomes))
        if state == "queued":
            soft = any(outcomes[r] == "soft" for r in again)
            return self._retry(msg, None, reply, attempt=soft, recipients=list(again))
        self._settled_line(state, outcomes)(
            f"{_stamp(self.clock())} {state} #{msg.id} {msg.message_id} via the overflow "
            f"channel of pool {pool.name} from {sender} to {', '.join(rcpts)}: {reply}"
        )
        return self._settle(
            msg, state, reply=reply, recipients=rcpts if bad else None, attempt=True
        )

    def _recovered_line(self, state: str) -> Callable[[str], object]:
        """Where the line of a claim recovered as ``state`` goes: queued again (nothing left)
        or sent, it ended well (``note``); ``unknown`` (it may have left) waits for a person,
        and ``bounced`` is said as a bounce is (``log``)."""
        return self.note if state in ("queued", "sent") else self.log

    def _settled_line(self, state: str, outcomes: dict[str, str]) -> Callable[[str], object]:
        """Where a settled message's line goes: one every recipient took only confirms
        (``note``: 'run -q' drops it); a 'sent' one a recipient refused for good is the only
        line naming that refusal, so it is said (``log``), as a bounced one is."""
        took = state == "sent" and all(o == "sent" for o in outcomes.values())
        return self.note if took else self.log

    def _observe(self, gate: Gate, now: dt.datetime, a: Allowance | None = None) -> None:
        """Tell the notification targets of a change of ``gate``'s mailbox's health (see
        :func:`warmup.notify.observe`): with ``a`` whenever one is at hand, else evaluated once
        a pass (a single mailbox is not previewed)."""
        if self._seen is None:
            return
        if a is None:
            if gate.box.id in self._observed:
                return
            try:
                a = gate.allowance(now)
            except MailboxNotFound:  # a kept gate of a removed mailbox: its send says so
                return
        self._observed.add(gate.box.id)
        notify.observe(self.ledger, self.notifier, a, now, self._seen)

    def _may_have_left(self, msg: OutboxRow) -> bool:
        """Whether a gate slot of ``msg``'s Message-ID for one of its recipients (any
        mailbox's, any send path's) says it may have reached a server.

        The gate refuses a second send of a Message-ID only from the same mailbox, so another
        member would send the message again: asked before a message is given to a member (it
        went out through 'warmup send' before it was queued, say) and when a member's send
        raised after the SMTP conversation (writing the outcome failed: the ledger busy or
        gone). Should this read fail too, the error stops the worker with the message
        ``sending``, and recovery decides it from the same slots."""
        outcomes = self.ledger.gate_outcomes(msg.message_id)
        return any(
            outcome not in RETRYABLE
            for rcpt, (outcome, _) in outcomes.items()
            if rcpt in msg.recipients
        )

    def _login_wanted(
        self, msg: OutboxRow, box: MailboxRow, rcpts: list[str], exc: LoginWanted
    ) -> str:
        """A 530 after the server took some recipients (CHUNKING) or refused one for good: the
        gate settled each, so the message goes on to the others alone (as :meth:`_from_slots`
        would), and the missing login is the fault it is (77 for
        ``run --once``; recovered as a stopped worker's, it was exit 0, "worker ... stopped
        before the message left"). The member is passed over for the rest of the pass."""
        self._broken[box.id] = exc
        self._fault = (exc.exit_code, (str(exc).splitlines() or [""])[0])
        outcomes = {r: exc.results[r].outcome if r in exc.results else "released" for r in rcpts}
        state, again = fate(outcomes)
        if state != "queued":
            return self._settle(msg, state, reply=str(exc)[:500], sent_by=box.id, attempt=True)
        return self._retry(msg, box, str(exc), attempt=True, recipients=list(again))

    def _from_slots(self, msg: OutboxRow, earlier: bool = False) -> str:
        """The message's state from the gate's slots (an exception interrupted it; or
        ``earlier``: its Message-ID was sent before this try, so it is not sent again)."""
        now = self.clock()
        state = self.ledger.recover(msg.id, self.id, now, now + MIN_WAIT, earlier)
        if state is None:  # the claim is gone: another worker recovered and settled it
            # It was said (and counted) "unknown ... 'warmup queue retry N' resends it",
            # whatever that worker had written: no longer this worker's to judge.
            self.log(
                f"{_stamp(now)} lost #{msg.id} {msg.message_id}: its claim ran past the lease "
                f"and another worker took it over; 'warmup queue show {msg.id}' says what "
                f"became of it"
            )
            return "lost"
        # What it says in the ledger, said here too: the line before "Aborted." is often the
        # only one a person stopping the worker reads ('unknown #38' alone named no way on).
        why = (
            self.ledger.message(msg.id).last_reply or state
            if earlier
            else recovered_reply(state, self.id, msg.id)
        )
        self.log(f"{_stamp(self.clock())} {state} #{msg.id} {msg.message_id}: {why}")
        return state

    def _wait(self, msg: OutboxRow, until: dt.datetime, why: str) -> str:
        until = max(until, self.clock() + MIN_WAIT)
        if until >= msg.expires_at:
            self.log(f"{_stamp(self.clock())} expired #{msg.id}: {why}")
            return self._settle(msg, "expired", reply=f"expired waiting: {why}")
        self._settle(msg, "queued", reply=why, next_attempt_at=until)
        self._why = why
        return "waiting"

    def _retry(
        self,
        msg: OutboxRow,
        box: MailboxRow | None,
        reply: str,
        attempt: bool,
        recipients: list[str] | None = None,
    ) -> str:
        now = self.clock()
        until = now + (backoff(msg.attempts + 1) if attempt else MIN_WAIT)
        if until >= msg.expires_at:
            self.log(f"{_stamp(now)} expired #{msg.id} after {msg.attempts + 1} tries: {reply}")
            return self._settle(  # with whom it never reached: a retry by hand mails only them
                msg,
                "expired",
                reply=reply,
                sent_by=box.id if box else None,
                attempt=attempt,
                recipients=recipients,
            )
        self.log(f"{_stamp(now)} deferred #{msg.id} until {_stamp(until)}: {reply}")
        self._settle(
            msg,
            "queued",
            reply=reply,
            sent_by=box.id if box else None,
            next_attempt_at=until,
            attempt=attempt,
            recipients=recipients,
        )
        return "deferred"


def _quota_used(a: Allowance, recipients: int) -> bool:
    """Whether ``a`` refuses ``recipients`` because the day's quota is used (not a pause, a
    hold, the window, pacing or a recipient-domain cap)."""
    return a.status == "exhausted" or a.can_send and a.remaining < recipients


def _reply(report: object) -> str:
    results = getattr(report, "results", {})
    parts = []
    for rcpt, r in results.items():
        parts.append(f"{rcpt}: {r.outcome} {r.code or ''} {r.text}".strip())
    error = getattr(report, "error", None)
    if error:
        parts.append(error)
    return "; ".join(parts)[:500]


def _stamp(ts: dt.datetime) -> str:
    return f"{ts.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


def due_stamp(ts: dt.datetime) -> str:
    """When a message is due, in UTC to the second, rounded up: a cron job woken at the second
    it was told (truncated: 06:47:21 for 06:47:21.76) found nothing due yet."""
    if ts.microsecond:
        ts = ts.replace(microsecond=0) + dt.timedelta(seconds=1)
    return _stamp(ts)


def _fault_code(fails: list[WarmupError]) -> int:
    """The exit code of a message every member failed for (``fails``, one per member): the
    highest of their codes when each is a fault a person must fix (configuration 78, login 77),
    else 0 (a server down or refusing the sender may come back by itself)."""
    if all(isinstance(e, ConfigError | PermissionFailure) for e in fails):
        return max(e.exit_code for e in fails)
    return 0


def _too_big_is_final(report: object, outcomes: dict[str, str]) -> dict[str, str]:
    """``outcomes`` with each soft recipient whose reply refused the message's size for good
    (:func:`~warmup.bounces.classify.refuses_size`) no longer to be retried: the message then
    ends as bounced for them. The bounce is soft (not the recipient's fault, nothing to
    suppress), but the same message will never go; retried, it took a slot at every try until
    it expired."""
    results = getattr(report, "results", {})
    out = dict(outcomes)
    for r, o in outcomes.items():
        got = results.get(r)
        if (
            o == "soft"
            and got is not None
            and got.code is not None
            and refuses_size(got.code, got.text or "")
        ):
            out[r] = "too big"  # not retryable: fate() calls the message bounced
    return out


def _sender_refused(report: object) -> str | None:
    """Why nothing of the message reached its recipients through this sender (the server
    refused MAIL FROM, the connection broke before any recipient was taken, or the server
    ended the session with a 421, to DATA or its end included), or None: a report without a
    throttle (which pauses the mailbox) whose every recipient was given back, for an error of
    the message as a whole or a 421 (the only reply that releases without one: it was a final
    reply, and the message came back every 5 s, not a try, from the same member)."""
    results = getattr(report, "results", {})
    error = getattr(report, "error", None)
    if getattr(report, "throttle", None) is not None or not results:
        return None
    if not all(r.outcome == "released" for r in results.values()):
        return None
    if error is not None:
        return str(error)
    ended = next((r for r in results.values() if r.code == 421), None)
    return None if ended is None else f"the server ended the session: 421 {ended.text}"
