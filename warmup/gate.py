"""The gate: reserve -> send -> settle, so no message leaves beyond the plan.

    from warmup import Gate

    with Gate("sales@corp.example") as gate:
        report = gate.send(message)            # reserve, deliver over SMTP, settle
        with gate.reserve(["lead@example.com"]) as slot:   # or send it yourself
            my_smtp_send(...)
            slot.settle({"lead@example.com": "sent"})

A reservation is committed before any SMTP traffic, one slot per recipient, with quota, pacing,
suppression and pauses checked in the same transaction; a crash leaves it counted (``reserved``
and, after :attr:`Gate.expiry`, ``unknown``). Leaving a ``reserve`` block without settling settles
``sent``, or ``unknown`` if the block raised: the message may have left.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import TracebackType
from typing import TYPE_CHECKING, Any

from warmup import addresses
from warmup.errors import DataError, TempFail
from warmup.ledger import Ledger, open_ledger, pgpath, slots, store
from warmup.ledger.fastpath import DuplicateSend
from warmup.policy import Allowance, evaluate, load_policy
from warmup.policy.engine import DayCounts, History, MailboxEvent
from warmup.providers import checklist_text, get_provider

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from warmup.smtp import Session, Target

DEFAULT_EXPIRY = dt.timedelta(minutes=15)
THROTTLE_BACKOFF = dt.timedelta(minutes=30)
EXPIRE_EVERY = dt.timedelta(minutes=1)
_DAILY_WORDS = ("daily", "per day", "24 hour", "5.4.5", "quota exceeded", "sending limit")


class NotAllowed(TempFail):
    """The plan does not allow this message now (exit 75); :attr:`allowance` says why."""

    def __init__(self, message: str, allowance: Allowance) -> None:
        super().__init__(message)
        self.allowance = allowance


class Suppressed(DataError):
    """Some recipients are suppressed (exit 65); nothing was reserved."""

    def __init__(self, message: str, recipients: dict[str, str]) -> None:
        super().__init__(message)
        self.recipients = recipients


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refusal(allowance: Allowance, wanted: int = 1, tz: str = "UTC") -> str:
    """One line: why the mailbox cannot send now and when it can."""
    a = allowance
    when = ""
    if a.next_send_at is not None:
        import pendulum

        local = pendulum.instance(a.next_send_at).in_timezone(tz)
        when = f"; next allowed at {local.format('YYYY-MM-DD HH:mm:ss zz')}"
    if a.status == "paused":
        why = next((r for r in a.reasons if r.startswith("paused")), "paused")
        return f"{a.mailbox} is {why}"
    if a.status == "exhausted" or a.remaining < wanted:
        return (f"{a.mailbox}: today's quota is used ({a.sent} of {a.quota} sent, "
                f"{a.remaining} left, {wanted} wanted){when or '; try tomorrow'}")
    if a.status == "paced":
        why = next((r for r in reversed(a.reasons) if r.startswith(("pacing", "outside"))),
                   "paced")
        return f"{a.mailbox}: {why}"
    return f"{a.mailbox}: not allowed now ({a.status}){when}"


@dataclass
class SendReport:
    message_id: str
    host: str | None
    failed_hosts: list[tuple[str, str]]
    results: dict[str, object]
    throttle: tuple[int, str] | None = None
    error: str | None = None

    @property
    def sent(self) -> list[str]:
        return [r for r, v in self.results.items() if getattr(v, "outcome", v) == "sent"]


@dataclass
class Reservation:
    gate: Gate
    recipients: list[str]
    message_id: str
    ids: dict[str, int]
    at: dt.datetime
    settled: bool = field(default=False)

    def settle(self, outcomes: dict[str, object] | str, throttle: tuple[int, str] | None = None,
               now: dt.datetime | None = None) -> None:
        """Outcome per recipient (``sent``/``hard``/``soft``/``block``/``unknown``/``released``
        or a :class:`warmup.smtp.RcptResult`), or one outcome for all."""
        if isinstance(outcomes, str):
            outcomes = dict.fromkeys(self.recipients, outcomes)
        self.gate._settle(self, outcomes, throttle, now or _now())
        self.settled = True

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.settled:
            self.settle("unknown" if exc_type else "sent")


class Gate:
    """Gatekeeper for one mailbox; open one per process and reuse it for every message."""

    def __init__(self, address: str, *, ledger: Ledger | None = None, db: str | None = None,
                 password: str | None = None, password_command: str | None = None,
                 expiry: dt.timedelta = DEFAULT_EXPIRY, timeout: float | None = None) -> None:
        self.ledger = ledger or open_ledger(db)
        self._own_ledger = ledger is None
        self.box = store.get_mailbox(self.ledger, address)
        self.spec = load_policy(self.box.policy)
        self.provider = get_provider(self.box.provider)
        self.expiry = expiry
        self.timeout = timeout
        self._password = password
        self._password_command = password_command
        self._session: Session | None = None
        self.failed_hosts: list[tuple[str, str]] = []
        self._expired_at: dt.datetime | None = None
        self._walk_cache: dict[object, object] = {}
        self._deferred: list[tuple[int, dt.datetime]] = []
        self._conn: Connection | None = None  # one connection for this gate's transactions
        self._pg: Any = None  # PostgreSQL: the psycopg connection under it (Gate.reserve)

    # -- policy -------------------------------------------------------------------------------

    def allowance(self, now: dt.datetime | None = None) -> Allowance:
        return evaluate(self.spec, self._history(now or _now()), now or _now())

    def _history(self, now: dt.datetime, conn: Connection | None = None,
                 everything: bool = False) -> History:
        return store.history(self.ledger, self.box, now,
                             provider_ceiling=self.provider.daily_limit,
                             provider_min_interval=self.provider.min_interval,
                             domain_cap=self.spec.domain_cap is not None, conn=conn,
                             everything=everything)

    def check_suppressed(self, recipients: list[str]) -> dict[str, str]:
        with self.ledger.read() as conn:
            return store.suppressed(conn, recipients)

    def reserve(self, recipients: list[str], message_id: str | None = None,
                now: dt.datetime | None = None) -> Reservation:
        """Reserve one slot per recipient, or raise :class:`Suppressed` / :class:`NotAllowed`."""
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        if not rcpts:
            raise DataError("no recipients")
        if self.provider.max_recipients and len(rcpts) > self.provider.max_recipients:
            raise DataError(f"{len(rcpts)} recipients in one message; {self.provider.title} "
                            f"allows {self.provider.max_recipients}")
        message_id = message_id or new_message_id(self.box.address)
        if self._conn is None:
            self._conn = self.ledger.connect_for_writes()
            self._pg = pgpath.driver(self._conn)
        if self._pg is not None:
            return self._reserve_pg(rcpts, message_id, now)
        pending = list(self._deferred)
        refused: Exception | None = None
        with self.ledger.write(self._conn) as conn:
            # The mailbox lock first in every gate transaction: one lock order, no deadlocks.
            slots.lock_mailbox(conn, self.box)
            if pending:
                slots.settle_sent(conn, self.box, pending)
            now = now or _now()  # read under the lock, so reservations are stamped in order
            if self._expired_at is None or now - self._expired_at > EXPIRE_EVERY:
                # Expiry only relabels reserved -> unknown (both count): no need per message.
                slots.expire(conn, self.box, now - self.expiry, now)
                self._expired_at = now
            bad = store.suppressed(conn, rcpts)
            allowance = None if bad else evaluate(
                self.spec, self._history(now, conn, everything=True), now, self._walk_cache)
            if bad:
                listed = ", ".join(f"{r} ({why})" for r, why in bad.items())
                refused = Suppressed(f"suppressed recipient(s), not sent: {listed}; remove with "
                                     f"'warmup suppress remove ADDRESS' if this is wrong", bad)
            elif allowance is not None and (not allowance.can_send
                                            or allowance.remaining < len(rcpts)):
                refused = NotAllowed(refusal(allowance, len(rcpts), self.box.timezone), allowance)
            else:
                try:
                    ids = slots.insert_reserved(conn, self.box, rcpts, message_id, now)
                except DuplicateSend as exc:
                    refused = DataError(str(exc))
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[:len(pending)]
        if refused is not None:
            raise refused
        return Reservation(self, rcpts, message_id, dict(zip(rcpts, ids)), now)

    def _refusal(self, bad: dict[str, str], allowance: Allowance | None,
                 rcpts: list[str]) -> Exception | None:
        if bad:
            listed = ", ".join(f"{r} ({why})" for r, why in bad.items())
            return Suppressed(f"suppressed recipient(s), not sent: {listed}; remove with "
                              f"'warmup suppress remove ADDRESS' if this is wrong", bad)
        if allowance is not None and (not allowance.can_send or allowance.remaining < len(rcpts)):
            return NotAllowed(refusal(allowance, len(rcpts), self.box.timezone), allowance)
        return None

    def _reserve_pg(self, rcpts: list[str], message_id: str,
                    now: dt.datetime | None) -> Reservation:
        """:meth:`reserve` on PostgreSQL: the same transaction in two round trips, run on the
        psycopg connection (:mod:`warmup.ledger.pgpath`)."""
        import psycopg
        import sqlalchemy as sa

        pg, box, pending = self._pg, self.box, list(self._deferred)
        refused: Exception | None = None
        ids: list[int] = []
        with self.ledger._errors():  # the ledger's messages (Unavailable ...) for its errors
            try:
                if pg.isolation_level != psycopg.IsolationLevel.READ_COMMITTED:
                    pg.isolation_level = psycopg.IsolationLevel.READ_COMMITTED  # see Ledger.write
                # Lock the mailbox's row first (one lock order), write the deferred settlements,
                # read the history and the suppression list: one round trip.
                bad, rows, last, ev_rows = pgpath.gate_read(pg, box.id, rcpts, pending)
                now = now or _now()  # read under the lock, so reservations are stamped in order
                expire = self._expired_at is None or now - self._expired_at > EXPIRE_EVERY
                allowance = None if bad else evaluate(
                    self.spec, self._pg_history(pg, now, rows, last, ev_rows), now,
                    self._walk_cache)
                refused = self._refusal(bad, allowance, rcpts)
                try:
                    # Expire (reserved -> unknown: both count), reserve unless refused, COMMIT.
                    ids = pgpath.gate_write(
                        pg, box.id, now, expire_before=now - self.expiry if expire else None,
                        reserve=None if refused else (
                            rcpts, message_id, store.local_day(now, box.timezone), "gate"))
                except DuplicateSend as exc:  # committed, nothing reserved
                    refused = DataError(str(exc))
                if expire:
                    self._expired_at = now
            except psycopg.Error as exc:
                self._pg_abort()
                raise sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error) from exc
            except BaseException:
                self._pg_abort()
                raise
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[:len(pending)]
        if refused is not None:
            raise refused
        return Reservation(self, rcpts, message_id, dict(zip(rcpts, ids)), now)

    def _pg_history(self, pg: Any, now: dt.datetime, rows: list[tuple[Any, ...]],
                    last: dt.datetime | None, ev_rows: list[tuple[Any, ...]]) -> History:
        """What :func:`store.history` gives the gate (``everything=True``), from
        :func:`pgpath.gate_read`'s rows: every rollup day up to today, the last send, the
        events, and today's sends of the mailbox's domain when the policy caps it."""
        box, tz = self.box, self.box.timezone
        today = store.local_day(now, tz)
        domain_sent = None
        if self.spec.domain_cap is not None:
            start = dt.datetime.combine(today, dt.time(), store._zone(tz))
            domain_sent = pgpath.domain_sent(pg, box.address.rsplit("@", 1)[1], start,
                                             store._FAR)
        return History(
            mailbox=box.address, timezone=tz,
            days=tuple(DayCounts(*r) for r in rows if r[0] <= today),
            events=tuple(MailboxEvent(k, a, u, r or "") for k, a, u, r in ev_rows),
            last_send_at=last, cap=box.cap, provider_ceiling=self.provider.daily_limit,
            provider_min_interval=self.provider.min_interval, started=box.started,
            domain_sent_today=domain_sent)

    def _pg_abort(self) -> None:
        """After a failure inside :meth:`_reserve_pg`: roll back (releasing the lock), or drop a
        broken connection (the next reservation opens another)."""
        pg, conn = self._pg, self._conn
        try:
            if pg is not None and not pg.broken and not pg.closed:
                pg.rollback()
                return
        except Exception:
            pass
        self._conn = self._pg = None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    def _settle(self, res: Reservation, outcomes: dict[str, object],
                throttle: tuple[int, str] | None, now: dt.datetime) -> None:
        from warmup.bounces.classify import extract_status

        plain = [getattr(outcomes.get(r), "outcome", outcomes.get(r)) for r in res.ids]
        if throttle is None and all(o == "sent" for o in plain):
            # A reservation already counts as sent: writing "sent" can ride on the next
            # transaction (or close()) without a crash ever under-counting. Bounces, unknown
            # outcomes and throttling are written now.
            self._deferred.extend((sid, now) for sid in res.ids.values())
            return
        pending = len(self._deferred)
        with self.ledger.write() as conn:
            slots.lock_mailbox(conn, self.box)
            self._flush(conn)
            for rcpt, sid in res.ids.items():
                result = outcomes.get(rcpt, "unknown")
                outcome = getattr(result, "outcome", result)
                if not slots.settle(conn, self.box, sid, str(outcome), now):
                    continue
                if outcome in ("hard", "soft", "block"):
                    code, text = getattr(result, "code", None), getattr(result, "text", "")
                    store.record_bounce(
                        conn, self.box, rcpt, str(outcome), now, key=f"smtp:{sid}",
                        status=extract_status(text) or None, reply=str(code) if code else None,
                        diagnostic=text[:500] or None, message_id=res.message_id,
                        source="smtp", send_id=sid)
            if throttle is not None:
                code, text = throttle
                store.add_event(self.ledger, self.box.id, "throttle", now,
                                f"provider throttled: {code} {text}"[:500],
                                until=self._backoff_until(text, now), conn=conn)
        del self._deferred[:pending]

    def _flush(self, conn: Connection) -> None:
        """Write deferred settlements in ``conn``'s transaction (the caller clears them after)."""
        if self._deferred:
            slots.settle_sent(conn, self.box, self._deferred)

    def flush(self) -> None:
        """Write deferred "sent" settlements now."""
        if self._deferred:
            pending = len(self._deferred)
            with self.ledger.write() as conn:
                slots.lock_mailbox(conn, self.box)
                self._flush(conn)
            del self._deferred[:pending]

    def _backoff_until(self, text: str, now: dt.datetime) -> dt.datetime:
        if any(w in text.lower() for w in _DAILY_WORDS):
            import pendulum

            return pendulum.instance(now).in_timezone(self.box.timezone).start_of("day").add(
                days=1).in_timezone("UTC")
        return now + THROTTLE_BACKOFF

    # -- delivery -----------------------------------------------------------------------------

    def _target(self) -> Target:
        from warmup import api, credentials, smtp

        ep = api.endpoints(self.box)
        password = self._password or credentials.get_password(self.box.address,
                                                               self._password_command)
        return smtp.Target(ep.smtp_hosts, ep.smtp_port, ep.smtp_security, self.box.address,
                           password, self.timeout or smtp.DEFAULT_TIMEOUT)

    def session(self) -> Session:
        """The open SMTP session (connecting, with failover, on first use)."""
        from warmup import smtp

        if self._session is None or self._session.smtp is None:
            try:
                self._session = smtp.Session(self._target())
            except smtp.AuthFailed as exc:
                raise smtp.AuthFailed(f"{exc}\n{checklist_text(self.provider)}") from None
            self.failed_hosts = list(self._session.failed)
        return self._session

    def send(self, message: EmailMessage | bytes, recipients: list[str] | None = None,
             now: dt.datetime | None = None) -> SendReport:
        """Gate and deliver one message; recipients default to its To/Cc/Bcc."""
        msg = prepare(message, self.box.address)
        rcpts = recipients or recipients_of(msg)
        del msg["Bcc"]
        res = self.reserve(rcpts, msg["Message-ID"], now)
        try:
            session = self.session()
        except BaseException:
            res.settle("released")  # nothing left: the slots do not count
            raise
        try:
            outcome = session.send(self.box.address, res.recipients, msg.as_bytes(
                policy=email.policy.SMTP))
        except BaseException:
            res.settle("unknown")
            raise
        res.settle(dict(outcome.results), outcome.throttle)
        return SendReport(res.message_id, session.host, list(session.failed),
                          dict(outcome.results), outcome.throttle, outcome.error)

    def close(self) -> None:
        self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = self._pg = None
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._own_ledger:
            self.ledger.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_message_id(address: str) -> str:
    return email.utils.make_msgid(domain=addresses.domain_of(address))


def prepare(message: EmailMessage | bytes, mailbox: str) -> EmailMessage:
    """Parse if needed; make sure it has From (the mailbox), Date and a Message-ID."""
    if isinstance(message, bytes | bytearray):
        msg = email.message_from_bytes(bytes(message), policy=email.policy.default)
    else:
        msg = message
    assert isinstance(msg, EmailMessage)
    sender = email.utils.parseaddr(str(msg.get("From", "")))[1].lower()
    if not sender:
        msg["From"] = mailbox
    elif sender != mailbox:
        raise DataError(f"From {sender} is not the mailbox {mailbox}; warmup sends only as "
                        f"the mailbox it gates")
    if "Date" not in msg:
        msg["Date"] = email.utils.formatdate(localtime=False)
    if "Message-ID" not in msg:
        msg["Message-ID"] = new_message_id(mailbox)
    return msg


def recipients_of(msg: EmailMessage) -> list[str]:
    found = email.utils.getaddresses([str(v) for h in ("To", "Cc", "Bcc")
                                      for v in msg.get_all(h, [])])
    return [addr for _, addr in found if addr]
