"""The delivery of one claimed message, for the worker (:mod:`warmup.outbox.worker`): the member
of its pool that sends it (the plan's soonest, a thread's sender), through the gate kept for
that member, the SMTP conversation, and what its outcome makes of the message: ``sent``,
``bounced``, ``unknown``, queued again after a back-off (:func:`backoff`) or for the plan's next
slot, held for a fault of its configuration (every :data:`HOLD`), or sent by the pool's overflow
channel. The outcome is written with the worker's next claim (:attr:`Delivery.pending`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from warmup import notify
from warmup.bounces.classify import refuses_size
from warmup.credentials import NoPassword
from warmup.errors import (
    LEDGER_FAULTS,
    ConfigError,
    DataError,
    LedgerBusy,
    LedgerVanished,
    NewerLedger,
    PermissionFailure,
    Unavailable,
    WarmupError,
    restated,
)
from warmup.gate import DuplicateSend, Gate, NotAllowed, SendReport, Suppressed
from warmup.headers import thread_ids
from warmup.ledger import Claim, ClaimLost, Ledger, MailboxRow, OutboxRow, PoolRow
from warmup.ledger.outbox import Settle
from warmup.ledger.outbox_fate import RETRYABLE, fate, recovered_reply
from warmup.ledger.values import MailboxNotFound, live
from warmup.outbox.due import next_slot
from warmup.outbox.looks import Looks
from warmup.outbox.sentas import as_sent, overflow_sender
from warmup.policy import Allowance
from warmup.refusals import suppressed_refusal
from warmup.smtp import AuthUnoffered, LoginWanted, Outcome, RcptResult, TooBig, refused_sender
from warmup.stopwindow import StopWindow
from warmup.words import some

LEDGER_PATIENCE = 30.0  # seconds a sent message's record waits for an unavailable ledger
# Gates whose ledger connection is kept between messages, the most recently sent-from: the
# others give theirs back (SQLAlchemy's pool lends 15 at most, and waits 30 s for one more;
# the worker's own reads and writes need one or two). A pool of up to 8 keeps all of its own.
CONNECTED_GATES = 8
MIN_WAIT = dt.timedelta(seconds=5)  # a message that could not go now waits at least this
BACKOFF = dt.timedelta(minutes=5)  # first wait after a 4xx; doubles per attempt
MAX_BACKOFF = dt.timedelta(hours=6)
# A 4xx whose back-off ends past this long before the message's expiry is tried once more
# then, not given up: room for a pass to claim it and its SMTP conversation to end before
# the expiry, which the claim never takes it at or after.
LAST_TRY = dt.timedelta(minutes=5)
HOLD = dt.timedelta(minutes=5)  # a message held by a configuration fault is looked at this often
# Settings ``outbox.no_password.ID`` -> address: the mailboxes whose messages are held for a
# missing password, looked for again at the start of every pass (any worker's, any host's).
NO_PASSWORD = "outbox.no_password."


def backoff(attempts: int) -> dt.timedelta:
    """How long a message waits after its ``attempts``-th deferred try."""
    return min(BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


class Delivery:
    """The worker's delivery of the messages it claims, one at a time (:meth:`deliver`), with
    the gate of each mailbox kept for the worker's life (:meth:`gate`).

    What the worker reads after each message: :attr:`pending` (its outcome, written with the
    next claim: :meth:`flush` writes it alone), :attr:`fault` (the fault a person must fix
    when no member could send it) and :attr:`why` (why it waits). :attr:`broken` holds the
    mailboxes that could not send this pass, :attr:`seen` and :attr:`observed` the health
    last told per mailbox (None: no notification target) and the mailboxes told of this pass.
    ``sleep`` and ``stopping`` are the worker's, for the wait of a sent message's record.
    """

    def __init__(
        self,
        ledger: Ledger,
        worker: str,
        *,
        clock: Callable[[], dt.datetime],
        log: Callable[[str], object],
        note: Callable[[str], object],
        sleep: Callable[[float], object],
        stopping: Callable[[], bool],
        password_command: str | None,
        timeout: float | None,
        notifier: notify.Notifier,
    ) -> None:
        self.ledger = ledger
        self.id = worker
        self.clock = clock
        self.log = log
        self.note = note
        self._sleep = sleep
        self._stopping = stopping
        self._password_command = password_command
        self._timeout = timeout
        self.notifier = notifier
        self.no_password: set[int] = set()  # mailboxes noted as held for a missing password
        self.gates: dict[int, Gate] = {}
        self.looks = Looks(ledger)  # the previews of a pool's members, together
        self._connected: list[int] = []  # the gates that may hold a connection, newest last
        self.pools: dict[int, PoolRow] = {}  # kept while a claim reads the same tag (_members)
        self.seen: dict[str, str] | None = None
        self.observed: set[int] = set()
        self.pending: Settle | None = None  # the last message's outcome, not yet written
        self.pending_name = ""  # its '#id <Message-ID>'
        self.why = ""  # why the last message waits (state "waiting")
        # the fault (code, words) of the last message no member could send (the pass's faults)
        self.fault: tuple[int, str] = (0, "")
        self.broken: dict[int, WarmupError] = {}  # this pass: mailboxes that could not send
        # this pass: mailboxes whose server cut or stalled one message's envelope
        # (:func:`_dropped_for_this_message`)
        self.cut: set[int] = set()

    def close(self) -> None:
        """Close the kept gates: they write what they deferred and end their SMTP sessions."""
        for gate in self.gates.values():
            gate.close()
        self.gates.clear()

    def _wants_password(self, box: MailboxRow) -> None:
        """Note that ``box``'s messages are held for its missing password (once a process)."""
        if box.id not in self.no_password:
            self.no_password.add(box.id)
            self.ledger.set_settings({f"{NO_PASSWORD}{box.id}": box.address}, self.clock())

    def flush(self) -> None:
        """Write the last message's outcome if it is still waiting to ride on the next claim
        (kept while the ledger is unavailable: the pass after it writes it)."""
        if self.pending is not None:
            self.ledger.settle_message(worker=self.id, **vars(self.pending))
            self.pending = None

    def _members(
        self, msg: OutboxRow, at: dt.datetime, sticky: bool = True
    ) -> tuple[list[MailboxRow], PoolRow | None]:
        """The mailboxes that may send ``msg`` and its pool (None: a mailbox's message); of a
        pool, the member its thread or a recipient stays with when there is one (``sticky``),
        read with the members' histories at ``at`` (:meth:`Looks.stays`)."""
        if msg.pool_id is None:
            assert msg.mailbox_id is not None
            return [self.box(msg.mailbox_id)], None
        # Kept while the claim of each message reads the pool's tag unchanged (in the claim's
        # statement: no query of its own); any change to the pool or its members moves the tag
        # in its own transaction, so a message claimed after a member's removal committed is
        # never offered to it (the worker that kept its first look at the pool for good died
        # asking a removed member for its quota). Looked up afresh for every message, the pool
        # cost about a twentieth of the worker's CPU per message.
        pool = self.pools.get(msg.pool_id)
        if pool is None or msg.pool_rev is None or pool.rev != msg.pool_rev:
            self.pools.pop(msg.pool_id, None)
            pool = self.pools[msg.pool_id] = self.ledger.pool_by_id(msg.pool_id)
        members = list(pool.members)
        if len(members) > 1 and sticky:
            # Decided at send time, so a thread follows mail sent after this one was queued.
            threads = thread_ids(msg.data or b"")
            stays = self.looks.stays(members, threads, list(msg.recipients), at)
            if stays is not None:
                members = [m for m in members if m.id == stays]
        return members, pool

    def box(self, mailbox_id: int) -> MailboxRow:
        """Mailbox ``mailbox_id`` as its kept gate has it, else as the ledger does
        (:class:`WarmupError` when it was removed). A row a hand edit left unreadable is
        returned as listed (:class:`~warmup.ledger.values.UnreadableMailbox`): its gate names
        the fault, and its messages are held as a pool member's are, never cancelled as a
        removed mailbox's (they were, and `run --once` exited 0)."""
        gate = self.gates.get(mailbox_id)
        if gate is not None:  # kept current by its reservations (see gate)
            return gate.box
        address = self.ledger.mailbox_names().get(mailbox_id)
        if address is None:
            raise WarmupError(f"mailbox #{mailbox_id} was removed")
        try:
            return self.ledger.mailbox(address)
        except DataError:
            listed = [b for b in self.ledger.mailboxes() if b.id == mailbox_id]
            if not listed:
                raise
            return listed[0]

    def gate(self, box: MailboxRow) -> Gate:
        """The gate of ``box``, kept for the worker's life. A gate reads the mailbox's policy,
        zone and endpoints when it opens, and each reservation reads the mailbox's rev under
        its lock: when a change ('mailbox set', a new version of its policy) moved it, the
        gate opens again on the ledger's settings before it decides (:meth:`Gate.reserve`), so
        the next message follows them at no cost to the messages before (a look here for
        every message halved the worker's rate). Previews read the mailbox afresh."""
        gate = self.gates.get(box.id)
        if gate is not None and gate.box.address != box.address:
            # A removed mailbox's id given to a new one (SQLite reuses the newest id): the
            # pool's fresh look names the new mailbox; the kept gate is the removed one's.
            self.drop(gate)
            gate = None
        if gate is None:
            gate = self.gates[box.id] = Gate(
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
            old = self.gates.get(connected[0])
            if old is not None:
                # Off the list only once it gave its connection back: a release that failed
                # (the ledger away while it wrote the gate's deferred settlements) left the
                # gate holding one nobody would ask back, one more each outage, until the
                # pool had none to lend. Kept first in line, it is asked again next time.
                old.release()
            del connected[0]

    def drop(self, gate: Gate) -> None:
        """Let go of a kept gate whose mailbox is gone (the next look opens a new one)."""
        if self.gates.get(gate.box.id) is gate:
            del self.gates[gate.box.id]
        gate.close()

    def _settle(self, msg: OutboxRow, state: str, **kw: object) -> str:
        # Written with the next claim, in its transaction (or by flush when the pass ends):
        # a worker killed in between leaves the message "sending", and recovery decides it from
        # the gate's slots, as for a kill just before this write. Queued again when every
        # member failed for a fault a person must fix (:attr:`fault`): the row says so until
        # its next try, for 'run --once' to tell a cron job on every pass of the wait.
        if state == "queued" and self.fault[0]:
            kw["fault"] = self.fault[0]
        self.pending = Settle(msg.id, state, self.clock(), **kw)  # type: ignore[arg-type]
        self.pending_name = f"#{msg.id} {msg.message_id}"
        return state

    def vanished(self, exc: LedgerVanished) -> WarmupError:
        """``exc`` naming the message whose outcome was not written (the gate's record of it
        went into the removed file, on the connection it held): its number and Message-ID."""
        if self.pending is None:
            return exc
        return restated(
            exc,
            f"{exc}; among it the outcome of {self.pending_name}: {self.pending.state}",
        )

    def deliver(self, msg: OutboxRow, fresh: bool = False, sticky: bool = True) -> str:
        """Send one claimed message; the state it ends in (``waiting``: back in the queue for
        the plan's next slot).

        A message of one mailbox goes through the gate kept for its mailbox id (no look at the
        mailbox per message); when that gate finds its mailbox gone (removed, and its id given
        to a new mailbox: a new mailbox's rev is never the removed one's, so the reservation
        sees the change), the message is delivered once more (``fresh``) after a new look.
        ``sticky``: a pool's message goes from the member its thread or a recipient stays with
        (unless that member can never send it: then from any member)."""
        now = self.clock()
        # The look at a pool's members asks what each may send now: today counted as the
        # gate counts it (warmup.ledger.Live). Cut at now + 5 minutes, a member whose sends
        # were stamped 20 minutes ahead (another host's clock) had room, was given the
        # message, read its password and was refused "2 of 2 sent" before the next member.
        look = now if msg.pool_id is None else live(now)  # a mailbox's: its reservation decides
        rcpts = list(msg.recipients)
        try:
            members, pool = self._members(msg, look, sticky)
        except WarmupError as exc:  # its mailbox or pool is gone
            self.log(f"{stamp(now)} cancelled #{msg.id}: {exc}")
            return self._settle(msg, "cancelled", reply=str(exc))
        one_of_pool = pool is not None and len(members) < len(pool.members)  # stays with one
        # A slot of any mailbox (any send path) that says the message reached one of its
        # recipients decides: no member sends it again. Its own gate refuses only a Message-ID
        # that mailbox sent (DuplicateSend): a pool of one, or a mailbox's own message, went
        # out a second time after another mailbox had sent it.
        if msg.has_slots and self._may_have_left(msg):
            return self._from_slots(msg, earlier=True)
        faults: list[str] = []  # configuration faults of the members that cannot send
        fails: list[WarmupError] = []  # why each member that failed (not refused) failed
        gates = []
        for box in members:
            try:
                gates.append(self.gate(box))
            except WarmupError as exc:  # its policy or provider preset is unknown here
                faults.append(f"{box.address}: {exc}")
                # held as a fault of its configuration, whatever the class
                fails.append(ConfigError(f"{box.address}: {exc}"))
        choices: list[tuple[int, int, str, Gate]] = []
        # each member's answer the look just gave, for its gate's check before a first login
        allowed: dict[int, Allowance] = {}
        waits, whys = [], []
        refused: list[Allowance] = []
        if len(gates) == 1:  # no choice to make: the reservation itself says yes or when
            choices.append((0, 0, gates[0].box.address, gates[0]))
            self.observe(gates[0], now)
        # every member's at once; one by one when that cannot answer (None), as they say why
        looked = self.looks.previews(gates, rcpts, look) if len(gates) > 1 else None
        for k, gate in enumerate(gates if len(gates) > 1 else ()):
            try:
                a, refusal = looked[k] if looked is not None else gate.preview(rcpts, look)
            except MailboxNotFound:
                # Removed ('mailbox remove') after the claim read the pool's tag: the worker
                # died on it (exit 64), its message left 'sending'. The pool afresh, once.
                self.drop(gate)
                if pool is not None:
                    self.pools.pop(pool.id, None)
                if not fresh:
                    return self.deliver(msg, fresh=True, sticky=sticky)
                continue
            self.observe(gate, now, a)
            if refusal is None:
                choices.append((-a.remaining, a.sent, gate.box.address, gate))
                allowed[id(gate)] = a
            else:
                whys.append(refusal)
                refused.append(a)
                waits.append(next_slot(a.status, a.next_send_at, gate.box, now))
        report = None
        failed: tuple[MailboxRow, WarmupError] | None = None  # the last member that could not send
        temporary = False  # a member failed for something a wait may fix
        # A member tried this message (connected, or began its envelope): a try to count. A
        # member set aside before the message's turn did not: it backs off all the same.
        tried = False
        ordered = [gate for *_, gate in sorted(choices, key=lambda c: c[:3])]
        for gate in ordered:
            box = gate.box
            if box.id in self.broken:  # one wait for a dead server a pass, not one a message
                failed = (box, self.broken[box.id])
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
                    data,
                    rcpts,
                    message_id=msg.message_id,
                    claim=Claim(msg.id, self.id),
                    allowed=allowed.get(id(gate)),
                )
                took_none = _sender_refused(report)
                if took_none is None:
                    break
                # The server would take nothing from this member (MAIL FROM refused, the
                # connection lost before any recipient): the member failed, not the message.
                # As for an unreachable one: the next member, else a back-off that counts as
                # a try (a 5 s retry, not a try, mailed a disabled account's server every
                # message every 5 s until the messages expired). A 5xx to MAIL FROM is for
                # good, as a refused login is: a person must ask the provider (69 for --once).
                down = _member_down(box, report, took_none)
                failed, temporary, tried = (box, down), True, True
                fails.append(down)
                if _dropped_for_this_message(report) and box.id not in self.cut:
                    self.cut.add(box.id)
                else:
                    self.broken[box.id] = down
                report = None
                if gate is not ordered[-1]:
                    self.log(f"{stamp(now)} {box.address} could not send #{msg.id}: {down}")
                continue
            except ClaimLost as exc:  # recovered by another worker: no longer ours to send
                self.log(f"{stamp(now)} lost #{msg.id}: {exc}")
                return "lost"
            except NotAllowed as exc:  # another worker took the slot meanwhile: the next member
                a = exc.allowance
                self.observe(gate, now, a)
                whys.append(str(exc))
                refused.append(a)
                waits.append(next_slot(a.status, a.next_send_at, box, now))
                continue
            except Suppressed as exc:
                return self._suppressed(msg, rcpts, exc, now)
            except DuplicateSend:  # the gate refused it before any SMTP: sent before
                return self._from_slots(msg, earlier=True)
            except TooBig as exc:  # refused before MAIL FROM: final, as the 552 it avoids
                self.log(f"{stamp(now)} bounced #{msg.id}: {exc}")
                return self._settle(msg, "bounced", reply=str(exc)[:500], attempt=True)
            except NewerLedger:  # upgraded under a long pass: no member's fault, and no wait's
                self._from_slots(msg)  # nothing reserved: queued again
                raise  # the worker stops (78), as at the start of a pass
            except WarmupError as exc:  # unreachable, login refused or deferred: nothing left,
                if self._may_have_left(msg):  # unless a slot says otherwise (the ledger failed
                    # after the server took it): then never from another member
                    self.log(f"{stamp(now)} {box.address} failed after sending #{msg.id}: {exc}")
                    if isinstance(exc, LoginWanted):  # its slots settled: a login to fix (77)
                        return self._login_wanted(msg, box, rcpts, exc)
                    return self._from_slots(msg)
                if isinstance(exc, MailboxNotFound):  # removed: looked up afresh next time
                    self.drop(gate)
                    if pool is None and not fresh:  # its id may be a new mailbox's now
                        return self.deliver(msg, fresh=True, sticky=sticky)
                    # a name the queue holds, not one a user typed: the set-up's fault (78)
                    exc = ConfigError(str(exc))
                failed = (box, exc)  # so the next member may send it
                fails.append(exc)
                if isinstance(exc, ConfigError):
                    faults.append(str(exc))
                else:
                    temporary = tried = True
                if isinstance(exc, NoPassword):
                    self._wants_password(box)
                if isinstance(exc, Unavailable | PermissionFailure | ConfigError):
                    self.broken[box.id] = exc
                if gate is not ordered[-1]:
                    self.log(f"{stamp(now)} {box.address} could not send #{msg.id}: {exc}")
                continue
            except BaseException:
                self._from_slots(msg)
                raise
        if report is None and fails and len(fails) == len(members) and one_of_pool:
            # The member its thread or a recipient stays with cannot send at all (unreachable,
            # its login refused or missing): passed on to the others, as any message is (it
            # backed off from that member alone until it expired, the others idle).
            said = (str(fails[-1]).splitlines() or [""])[0]
            self.log(f"{stamp(now)} {members[0].address} could not send #{msg.id}: {said}")
            return self.deliver(msg, fresh, sticky=False)
        if report is None and members and len(fails) == len(members):
            # its first line: a refused login goes on with the provider's checklist (logged)
            self.fault = (_fault_code(fails), (str(fails[0]).splitlines() or [""])[0])
        if report is None and failed is not None and temporary:
            return self._retry(msg, failed[0], str(failed[1]), attempt=True, tried=tried)
        if report is None and faults:  # held until fixed: not a try, and no back-off
            # Each fault once: members without a keyring fail in the same words.
            why = "; ".join(dict.fromkeys([*whys, *faults]))[:500]
            self.log(f"{stamp(now)} held #{msg.id}: {why}")
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
            if never is not None and one_of_pool:
                # The member its thread or a recipient stays with can never send it (a cap
                # smaller than its recipients): it was bounced, never tried, though another
                # member, which let 'queue add' take it, could send it.
                return self.deliver(msg, fresh, sticky=False)
            if never is not None:
                bad = self.ledger.suppressed(rcpts)
                if bad:  # the gate leaves them out first: the rest may fit
                    return self._suppressed(msg, rcpts, suppressed_refusal(bad), now)
                self.log(f"{stamp(now)} bounced #{msg.id}: {never}")
                return self._settle(msg, "bounced", reply=never[:500])
            if not waits:  # a pool left without mailboxes (its last one removed)
                name = pool.name if pool is not None else "?"
                why = f"pool {name} has no mailbox; add one with 'warmup pool add {name} ADDRESS'"
                # no wait fixes it: a person must, so 'run --once' (cron) says so (78)
                self.fault = (78, why)
                waits, whys = [now + dt.timedelta(minutes=15)], [why]
            return self._wait(msg, min(waits), "; ".join(whys)[:500])
        self._record(gate, msg, box)  # the slots' "sent" now: the outbox never says more
        outcomes = _outcomes(report, rcpts)
        final = _too_big_is_final(report, outcomes)
        state, again = fate(final)
        reply = _reply(report)
        # Of unknown fate, it waits for a person: those whose server refused its size leave it
        # (their slots, released for its size, say so too: 'queue mark sent' and a recovery
        # read them as this does).
        kept = [r for r in rcpts if final[r] != "too big"] if state == "unknown" else []
        if report.error is not None and "unknown" in outcomes.values():
            # The connection broke under the data: this message waits for a person, and the
            # next one would too (a content filter that times out, a proxy cutting uploads
            # every time made each message of the pass 'unknown'). The member is set aside
            # for the pass, as an unreachable one is: the others send the rest.
            self.broken[box.id] = Unavailable(f"{box.address} could not send: {report.error}")
        if state == "queued":
            soft = any(outcomes[r] == "soft" for r in again)
            return self._retry(msg, box, reply, attempt=soft, recipients=list(again), backoff=soft)
        self._settled_line(state, outcomes)(
            f"{stamp(self.clock())} {state} #{msg.id} {msg.message_id} from {box.address} "
            f"to {some(rcpts)}: {reply}"
        )
        # A try made, this one included: TRIES of a message sent at once is 1, not 0.
        narrowed = kept if len(kept) < len(rcpts) else None
        return self._settle(
            msg, state, reply=reply, sent_by=box.id, attempt=True, recipients=narrowed
        )

    def _suppressed(
        self, msg: OutboxRow, rcpts: list[str], exc: Suppressed, now: dt.datetime
    ) -> str:
        """``msg`` without the recipients ``exc`` says are suppressed: queued to the rest,
        else cancelled."""
        left = [r for r in rcpts if r not in exc.recipients]
        self.log(f"{stamp(now)} suppressed #{msg.id}: {some(list(exc.recipients))}")
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
        from warmup.refusals import check_fits

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
        team server restarting, a fail-over) or busy (a lock held past its timeout): the server
        has the message, and a worker that gave up at once left it "sending", for the next
        worker to call unknown and a person to decide, though its reply was known. Past
        :data:`LEDGER_PATIENCE`, or when stopped: the error, after a line saying what left."""
        delay, waited = 1.0, 0.0
        while True:
            try:
                gate.flush()
                return
            except (Unavailable, LedgerBusy) as exc:
                # LedgerBusy: a team ledger's lock or statement timeout, a serialization
                # failure: the server answered, and the same write may pass in a moment (a
                # SQLite ledger's busy timeout is Unavailable). Given up at once, the message
                # stayed 'sending', for a person to decide, though its reply was known.
                if waited >= LEDGER_PATIENCE or self._stopping():
                    self._unrecorded(msg, box)
                    raise
                self.log(
                    f"{stamp(self.clock())} #{msg.id} left {box.address}; recording it: {exc}; "
                    f"trying again in {delay:g} s"
                )
                self._sleep(delay)
                waited += delay
                delay = min(delay * 2, 8.0)
            except WarmupError:  # a full disk, a ledger made read-only: no wait mends it
                self._unrecorded(msg, box)
                raise

    def _unrecorded(self, msg: OutboxRow, box: MailboxRow) -> None:
        """Say that ``msg`` left ``box`` though the ledger could not record it: the error
        that follows ("free space ..., then try again") alone made it look unsent."""
        self.log(
            f"{stamp(self.clock())} #{msg.id} {msg.message_id} left {box.address}, but the "
            f"ledger could not record it: it stays 'sending', counted as sent; the next worker "
            f"marks it unknown"
        )

    def _suppress_hard(
        self, pool: PoolRow, results: dict[str, RcptResult], now: dt.datetime
    ) -> None:
        """Suppress those the overflow channel refused for good at RCPT TO, as the gate does
        a member's hard bounce (``results``: an exception's, each recipient's outcome)."""
        hard = [r for r, v in results.items() if v.outcome == "hard"]
        if hard:
            said = results[hard[0]]
            why = f"hard bounce from the overflow channel of pool {pool.name}: {said.code} {said.text}"
            self.ledger.suppress(hard, "hard", why[:500], now)

    def _overflow(self, msg: OutboxRow, pool: PoolRow, rcpts: list[str]) -> str:
        """Send a bulk message through the pool's overflow channel (every member's quota is
        used); nothing goes to the gate's records, so the warm-up never counts it."""
        now = self.clock()
        bad = self.ledger.suppressed(rcpts)
        if bad:
            self.log(f"{stamp(now)} suppressed #{msg.id}: {some(sorted(bad))}")
            rcpts = [r for r in rcpts if r not in bad]
            if not rcpts:
                return self._settle(msg, "cancelled", reply="every recipient is suppressed")
        # Committed before the SMTP conversation: a crash from here on leaves it "unknown".
        if not self.ledger.via_overflow(msg.id, self.id, now):
            return "lost"  # another worker settled our claim: it is no longer ours to send
        # From the channel's reply to the message until its state is written, a stop waits
        # (warmup.stopwindow), as for a member's send: acted on between the two, it left a
        # message the channel had taken "unknown".
        with StopWindow() as window:
            state = self._via_channel(msg, pool, rcpts, bool(bad), now, window)
            if window.stopped:
                self._write_for_stop()
        return state

    def _via_channel(
        self,
        msg: OutboxRow,
        pool: PoolRow,
        rcpts: list[str],
        narrowed: bool,
        now: dt.datetime,
        window: StopWindow,
    ) -> str:
        """:meth:`_overflow`'s send through the channel and its outcome (``narrowed``: some
        recipients were left out as suppressed)."""
        from warmup.outbox import overflow

        data, sender = overflow_sender(msg.data or b"", pool, now)
        try:
            report = overflow.send(pool, sender, rcpts, data, self._timeout, window)
        except (ConfigError, PermissionFailure) as exc:
            # The channel's login refused or wanted (530), or its password missing: no wait
            # fixes it, so 'run --once' exits 77 (78) for it as for a member's login.
            line = (str(exc).splitlines() or [""])[0]
            where = f"overflow channel of pool {pool.name}"
            self.fault = (exc.exit_code, line if where in line else f"{where}: {line}")
            if not isinstance(exc, LoginWanted):
                return self._retry(msg, None, str(exc), attempt=True, recipients=rcpts)
            # A 530: with CHUNKING the data went with the envelope, and those the channel took
            # have the message; a 550 read before the 530 stands. Again to the others alone
            # (to all, each retry mailed those reached once more).
            outcomes = {
                r: exc.results[r].outcome if r in exc.results else "released" for r in rcpts
            }
            self._suppress_hard(pool, exc.results, now)
            state, again = fate(outcomes)
            if state == "queued":
                return self._retry(msg, None, str(exc), attempt=True, recipients=list(again))
            # As the end of the main path below: its final line, its recipients less those
            # suppressed (the row named them as mailed).
            self._settled_line(state, outcomes)(
                f"{stamp(self.clock())} {state} #{msg.id} {msg.message_id} via the overflow "
                f"channel of pool {pool.name} from {sender} to {some(rcpts)}: {exc}"
            )
            return self._settle(
                msg,
                state,
                reply=str(exc)[:500],
                recipients=rcpts if narrowed else None,
                attempt=True,
            )
        except TooBig as exc:  # its size refused, as by a member: final, nothing delivered
            self._suppress_hard(pool, exc.results, now)
            self.log(
                f"{stamp(now)} bounced #{msg.id} via the overflow channel of {pool.name}: {exc}"
            )
            return self._settle(
                msg,
                "bounced",
                reply=str(exc)[:500],
                recipients=rcpts if narrowed else None,
                attempt=True,
            )
        except WarmupError as exc:  # unreachable, login refused or deferred: nothing left
            return self._retry(msg, None, str(exc), attempt=True, recipients=rcpts)
        except BaseException:
            self._settle(
                msg, "unknown", reply="the worker stopped while sending via overflow", attempt=True
            )
            raise
        took_none = _sender_refused(report)
        if took_none is not None:  # the channel took nothing: a try, as a 4xx is
            refused = refused_sender(report)
            if refused is not None:  # for good, as a member's: 'run --once' exits 69 for it
                self.fault = (
                    SenderRefused.exit_code,
                    f"the overflow channel of pool {pool.name} refuses mail from {sender} "
                    f"(MAIL FROM: {refused[0]} {refused[1]}), and will refuse a retry alike: "
                    f"ask the channel's provider why (a sender or domain it has not verified?)",
                )
            return self._retry(msg, None, took_none, attempt=True, recipients=rcpts)
        outcomes = _outcomes(report, rcpts)
        reply = _reply(report)
        hard = [r for r in rcpts if outcomes[r] == "hard"]
        if hard:
            why = f"hard bounce from the overflow channel of pool {pool.name}: {reply}"
            self.ledger.suppress(hard, "hard", why[:500], now)
        state, again = fate(_too_big_is_final(report, outcomes))
        if state == "queued":
            soft = any(outcomes[r] == "soft" for r in again)
            return self._retry(msg, None, reply, attempt=soft, recipients=list(again), backoff=soft)
        self._settled_line(state, outcomes)(
            f"{stamp(self.clock())} {state} #{msg.id} {msg.message_id} via the overflow "
            f"channel of pool {pool.name} from {sender} to {some(rcpts)}: {reply}"
        )
        return self._settle(
            msg, state, reply=reply, recipients=rcpts if narrowed else None, attempt=True
        )

    def _write_for_stop(self) -> None:
        """The last message's state written now, before a stop held while it was settled acts
        (:mod:`warmup.stopwindow`); should the ledger fail, it waits for the flush at the end
        of the pass, as before."""
        try:
            self.flush()
        except LEDGER_FAULTS:
            pass

    def _settled_line(self, state: str, outcomes: dict[str, str]) -> Callable[[str], object]:
        """Where a settled message's line goes: one every recipient took only confirms
        (``note``: 'run -q' drops it); a 'sent' one a recipient refused for good is the only
        line naming that refusal, so it is said (``log``), as a bounced one is."""
        took = state == "sent" and all(o == "sent" for o in outcomes.values())
        return self.note if took else self.log

    def observe(self, gate: Gate, now: dt.datetime, a: Allowance | None = None) -> None:
        """Tell the notification targets of a change of ``gate``'s mailbox's health (see
        :func:`warmup.notify.observe`): with ``a`` whenever one is at hand, else evaluated once
        a pass (a single mailbox is not previewed)."""
        if self.seen is None:
            return
        if a is None:
            if gate.box.id in self.observed:
                return
            try:
                a = gate.allowance(now)
            except MailboxNotFound:  # a kept gate of a removed mailbox: its send says so
                return
        self.observed.add(gate.box.id)
        notify.observe(self.ledger, self.notifier, a, now, self.seen)

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
        self.broken[box.id] = exc
        self.fault = (exc.exit_code, (str(exc).splitlines() or [""])[0])
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
                f"{stamp(now)} lost #{msg.id} {msg.message_id}: its claim ran past the lease "
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
        self.log(f"{stamp(self.clock())} {state} #{msg.id} {msg.message_id}: {why}")
        return state

    def _wait(self, msg: OutboxRow, until: dt.datetime, why: str) -> str:
        until = max(until, self.clock() + MIN_WAIT)
        # Its mailboxes' next slot after its expiry: it waits until its expiry all the same
        # (expired there by the pass that finds it past it, never claimed then). Expired now,
        # it was given up hours before its time (a whole day when the quota was used early),
        # and a change that lets it go sooner ('mailbox resume', a raised cap) came too late.
        self._settle(msg, "queued", reply=why, next_attempt_at=min(until, msg.expires_at))
        self.why = why
        return "waiting"

    def _retry(
        self,
        msg: OutboxRow,
        box: MailboxRow | None,
        reply: str,
        attempt: bool,
        recipients: list[str] | None = None,
        backoff: bool = False,
        tried: bool = True,
    ) -> str:
        """Back in the queue for its next try; ``attempt``: it backs off as after a try;
        ``tried``: and the try was made, so it counts (not so a message deferred untried
        because every member it could go from was set aside for the pass before its turn: it
        waits as long as its next try would after one, but its tries stay as they were).
        ``backoff``: a recipient's server deferred it (a
        4xx), and no change to its mailboxes' plan makes it due before its back-off ends (a
        member's fault, a person's fix may end sooner: 'mailbox set', 'mailbox login')."""
        now = self.clock()
        until = retry_at(now, msg.attempts + 1 if attempt else 0, msg.expires_at)
        if until >= msg.expires_at:
            # No try fits before its expiry: it waits until then (its reply kept), and the
            # pass at that instant expires it. Expired now, it was given up up to 6 hours
            # early; 'queue retry' may still send it meanwhile.
            self.log(
                f"{stamp(now)} deferred #{msg.id} until its expiry at {stamp(until)}, when it "
                f"expires: no try fits before it: {reply}"
            )
        else:
            last = "; its last try before its expiry" if until == msg.expires_at - LAST_TRY else ""
            self.log(f"{stamp(now)} deferred #{msg.id} until {stamp(until)}{last}: {reply}")
        self._settle(  # with whom it never reached: an expiry, then a retry by hand, mails only them
            msg,
            "queued",
            reply=reply,
            sent_by=box.id if box else None,
            next_attempt_at=until,
            attempt=attempt and tried,
            recipients=recipients,
            backoff=backoff,
        )
        return "deferred"


def retry_at(now: dt.datetime, tries: int, expires_at: dt.datetime) -> dt.datetime:
    """When a message deferred at ``now`` after its ``tries``-th try (0: not a try, a
    recipient released) goes again: after its back-off (:func:`backoff`; :data:`MIN_WAIT`
    when not a try). A back-off that ends past its last try (:data:`LAST_TRY` before
    ``expires_at``) is cut to it, unless that comes sooner than the first back-off after
    ``now`` (sooner, a greylisting server refuses it again, and the try costs a slot of the
    quota): then no try fits, and it is ``expires_at``, when the message expires unsent."""
    until = now + (backoff(tries) if tries else MIN_WAIT)
    if not tries or until <= expires_at - LAST_TRY:
        return min(until, expires_at)
    last = expires_at - LAST_TRY
    return last if last >= now + BACKOFF else expires_at


def _quota_used(a: Allowance, recipients: int) -> bool:
    """Whether ``a`` refuses ``recipients`` because the day's quota is used (not a pause, a
    hold, the window, pacing or a recipient-domain cap)."""
    return a.status == "exhausted" or a.can_send and a.remaining < recipients


def _outcomes(report: SendReport | Outcome, rcpts: list[str]) -> dict[str, str]:
    """Each of ``rcpts``' outcome in ``report``; "unknown" for one it does not name (the
    connection broke before the server answered for it)."""
    return {r: report.results[r].outcome if r in report.results else "unknown" for r in rcpts}


def _reply(report: object) -> str:
    results = getattr(report, "results", {})
    parts = []
    for rcpt, r in results.items():
        # (a result without a reply code, one of unknown fate, had two spaces in its place)
        parts.append(" ".join(str(w) for w in (f"{rcpt}:", r.outcome, r.code, r.text) if w))
    error = getattr(report, "error", None)
    if error:
        parts.append(error)
    return "; ".join(parts)[:500]


def stamp(ts: dt.datetime) -> str:
    """``ts`` as the worker's lines say when: UTC, to the second."""
    return f"{ts.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


class SenderRefused(Unavailable):
    """The member's server refused it as sender for good (a 5xx to MAIL FROM that is no
    throttle and no size: a disabled or blocked account). Like a refused login, no wait fixes
    it: ``run --once`` exits 69 when no member of a message could send it for such a fault."""


class ServerBroken(Unavailable):
    """The member's server answered with no SMTP reply before the data (:class:`~warmup.smtp.
    BadReply`): broken, not busy. Set aside for the pass at once, and, as a sender refused for
    good, ``run --once`` exits 69 when no member of a message could send it for such a fault."""


# The faults no wait fixes, for :func:`_fault_code`.
_PERSON_MUST_FIX = (ConfigError, PermissionFailure, SenderRefused, AuthUnoffered, ServerBroken)


def _dropped_for_this_message(report: SendReport) -> bool:
    """Whether a member's connection was cut, or timed out waiting for a reply, under this
    message's envelope once the server took its MAIL FROM (at a RCPT TO, or DATA before the
    data left): a server that drops the session at one recipient (a blocklisted address, a
    filter), or stalls there until the client's timeout, does so for this message alone. Set
    aside for the pass as a dead server is, its member deferred every other message of the
    pass untried, and this one, due first again each pass, kept the rest of the queue from
    ever going until all expired. Lost before (connecting, the greeting, EHLO, STARTTLS, AUTH,
    MAIL FROM), a refusal or a 421 are the server's: those still set the member aside. So
    does a second cut or stall in the same pass (:attr:`Delivery.cut`): a server that cuts or
    stalls every envelope (a rate limiter dropping sessions, a server too busy to answer)
    would otherwise get a new connection and login for each queued message in one burst, the
    hammering a provider locks an account for, or one timeout a message."""
    if report.garbled:  # no SMTP reply: the server is broken, not this message
        return False
    return report.lost_at in ("RCPT TO", "DATA")


def _member_down(box: MailboxRow, report: SendReport, why: str) -> Unavailable:
    """Why ``box`` could send nothing (``why``: :func:`_sender_refused`'s words for
    ``report``): :class:`SenderRefused` when the server refused its MAIL FROM for good."""
    if report.garbled:
        return ServerBroken(f"{box.address} could not send: {why}")
    sender = refused_sender(report)
    if sender is None:  # a connection lost, a 421: it may pass by itself
        return Unavailable(f"{box.address} could not send: {why}")
    return SenderRefused(
        f"{report.host or 'the server'} refuses mail from {box.address} (MAIL FROM: "
        f"{sender[0]} {sender[1]}), and will refuse a retry alike: ask the provider why "
        f"(a disabled or blocked account?)"
    )


def _fault_code(fails: list[WarmupError]) -> int:
    """The exit code of a message every member failed for (``fails``, one per member): the
    highest of their codes when each is a fault a person must fix (configuration 78, login 77,
    the sender refused for good, AUTH mechanisms refused as advertised, a server answering with
    no SMTP reply 69), else 0 (a server down may come back by itself)."""
    if all(isinstance(e, _PERSON_MUST_FIX) for e in fails):
        return max(e.exit_code for e in fails)
    return 0


def _too_big_is_final(report: object, outcomes: dict[str, str]) -> dict[str, str]:
    """``outcomes`` with each recipient whose reply refused the message's size for good
    (:func:`~warmup.bounces.classify.refuses_size`) no longer to be retried: the message then
    ends for them as for a recipient refused for good (``bounced`` when nobody got it, else
    ``sent``). A soft bounce (not the recipient's fault, nothing to suppress), or, refused at
    RCPT TO (:func:`~warmup.smtp.size_refused`), no bounce at all; but the same message will
    never go: retried, it took a slot (or its upload) at every try until it expired."""
    results = getattr(report, "results", {})
    out = dict(outcomes)
    for r, o in outcomes.items():
        got = results.get(r)
        if got is None or o not in RETRYABLE or got.code is None:
            continue
        if refuses_size(got.code, got.text or ""):
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
