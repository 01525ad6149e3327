"""The ledger's value types: what goes in and comes out of :class:`warmup.ledger.Ledger`.

Plain values and small helpers, no SQL: mailboxes as rows, records of what happened (sends,
bounces, events), what recording them did, and the errors the ledger raises. The frozen values are
named tuples, not frozen dataclasses: every command imports this module, and making a frozen
dataclass (six generated methods, each compiled from source) cost ~0.5 ms at each start, ~7 ms for
the twelve; only the two a batch adds to (:class:`Recorded`, :class:`Enqueued`) are dataclasses.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from warmup import addresses
from warmup.errors import DataError, NotFound, TempFail
from warmup.instants import zone
from warmup.lazyre import compiled_later
from warmup.policy.walk import History

# How long before a bounce a send it answers by recipient and time (not by the send's own
# Message-ID, which answers whenever the report comes) may have been made: a bounce a person
# records or imports. A report read from a mailbox is anyone's to write, and one naming none of
# the mailbox's Message-IDs charged a bounce and a suppression to any send of the last 30 days;
# a real one comes within its MTA's queue lifetime (Postfix and Sendmail give up after 5 days,
# Exim 4, Exchange 2; RFC 5321 4.5.4.1: "at least 4-5 days"), so it looks back UNREFERENCED_WINDOW.
MATCH_WINDOW = dt.timedelta(days=30)
UNREFERENCED_WINDOW = dt.timedelta(days=7)
# A clock a little ahead on another host may stamp a send slightly in the future; a row further
# ahead than this is never "the last send" (it would pace the mailbox until then).
CLOCK_SKEW = dt.timedelta(minutes=5)
# A delivery report's Date has whole seconds and the reporting server's clock: one written the
# second its message was handed over, or by a server a little behind, is dated a moment "before"
# the send it answers; and the send is stamped by its host's clock, up to CLOCK_SKEW ahead (a
# report of a send refused at once was left unmatched, "never mailed", and never counted).
# Matched by time, it may answer a send this much after its Date.
REPORT_SKEW = dt.timedelta(minutes=2) + CLOCK_SKEW
# How near its send the Date of the original a report returns must be (the send at most this
# long before it, or after it): the sender's clock or zone may be off by hours, and a message
# written with its Date may wait in the outbox for quota. Further apart, it is another message.
RETURNED_DATE_BEFORE = dt.timedelta(days=1)
RETURNED_DATE_AFTER = dt.timedelta(days=14)
# Anyone can fill a mailbox with reports. Of those read from a mailbox that count nothing, a
# mailbox keeps at most UNMATCHED_KEPT answering no send (a stranger's, ~360 bytes a row) and a
# send at most PER_SEND_KEPT: a flood of 10,000 forged reports was 10,000 rows, for ever. The
# rest are read, said and not kept (``BounceResult.dropped``). A report that counts, or that
# suppresses an address not yet suppressed, is always kept: a flood crowds out no real bounce.
UNMATCHED_KEPT = 10_000
PER_SEND_KEPT = 10
# The setting holding the ledger's key for the Message-IDs warmup derives of a message's bytes
# (:func:`warmup.outgoing.derived_message_id`): random, made on first use, shared by every host;
# its value "HEX WHEN" (:class:`DeriveKey`).
DERIVE_KEY = "derive.message_id_key"
# The widest integer SQLite (INTEGER) and PostgreSQL (bigint) store: a row id or a LIMIT beyond
# it makes the driver raise OverflowError instead of finding nothing or everything.
SQL_INT_MAX = 2**63 - 1
# The widest row id: the id columns are INTEGER, 4 bytes in PostgreSQL (SQLite's would be 8),
# which refuses a wider value in a comparison ('integer out of range') instead of finding nothing.
ID_MAX = 2**31 - 1


def sql_limit(limit: int | None) -> int | None:
    """``limit`` as a SQL LIMIT takes it: None (all), or at most :data:`SQL_INT_MAX`."""
    return None if limit is None else min(limit, SQL_INT_MAX)


def mailbox_key(address: str) -> str:
    """The ledger's spelling of a mailbox address as a user gave it (pasted with a display
    name, in angle brackets, any case), or :class:`DataError` if it is no address at all: every
    lookup of a mailbox by address goes through here. Not the 64 octets before the '@': a
    ledger may hold a longer one (registering one is refused by :func:`warmup.api.add_mailbox`)."""
    return addresses.normalize(address, "mailbox address", limits=False)


class MailboxNotFound(NotFound):
    """No mailbox with this address (exit 64); :attr:`address` is the one asked for.

    ``known``: the ledger's addresses; one close to ``address`` (a typo) is offered instead of
    the hint to add a new mailbox."""

    def __init__(self, address: str, known: Iterable[str] = ()) -> None:
        import difflib  # only on the way to an error: the quota path imports this module

        close = difflib.get_close_matches(address.strip().lower(), list(known), n=1, cutoff=0.8)
        if close:
            hint = f"did you mean {close[0]!r}? ('warmup mailbox list' lists them)"
        else:
            hint = f"add it with 'warmup mailbox add {shlex.quote(address)} --provider exmail'"
        super().__init__(f"mailbox {address!r} not found; {hint}")
        self.address = address
        self.suggestion = close[0] if close else None


class MailboxRemoved(NotFound):
    """A mailbox removed (by another command or host) while a command that had read it ran
    (exit 64, as it is not found a moment later)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"mailbox {address!r} was removed meanwhile (by another command or host); nothing "
            f"was written for it: see 'warmup mailbox list'"
        )
        self.address = address


class MailboxExists(DataError):
    """A mailbox with this address is registered already (exit 65)."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"mailbox {address!r} exists already; change it with "
            f"'warmup mailbox set {shlex.quote(address)} ...'"
        )


class DuplicateSend(DataError):
    """This Message-ID already went (or may have gone) to this recipient: :attr:`outcome` is the
    earlier slot's (``sent``, ``reserved`` still in flight, ``unknown``, ``block``, ``hard``).
    :attr:`unsent`: the message's recipients it has not reached (no slot, or one released or
    soft-bounced), which the message would also have gone to."""

    def __init__(
        self, recipient: str, message_id: str, outcome: str, *, unsent: tuple[str, ...] = ()
    ) -> None:
        why = {
            "sent": "was already sent to",
            "reserved": "is being sent right now to",
            "unknown": "may already have reached",
        }.get(outcome, f"was refused ({outcome}) by")
        super().__init__(
            f"message {message_id} {why} {recipient}; warmup never sends it twice: "
            f"a resend needs a new Message-ID"
        )
        self.recipient, self.message_id, self.outcome = recipient, message_id, outcome
        self.unsent = unsent


class RowExists(DataError):
    """A row an insert met under its unique key (``table``; ``column`` and ``value`` from the
    server's words): another process wrote it between this transaction's look for it and its
    insert (PostgreSQL's READ COMMITTED; SQLite's write lock keeps that look and the insert
    together). Its transaction is rolled back."""

    def __init__(self, table: str, column: str, value: str) -> None:
        self.table, self.column, self.value = table, column, value
        super().__init__(
            f"{table} {column} {value} was written meanwhile by another process; try again"
        )


class Claim(NamedTuple):
    """The outbox claim a send is made for: message ``message`` as ``worker`` claimed it. A
    reservation made with one (:meth:`warmup.Gate.send`) is written only while the claim
    holds, checked in the reservation's own transaction: a worker whose claim was taken from
    it (its lease ran out, another worker recovered the message) never sends it again."""

    message: int
    worker: str


class ClaimLost(TempFail):
    """The worker no longer holds the claim on the message it was about to send (another
    worker recovered it): nothing was reserved, and the message is not this worker's to
    send."""

    def __init__(self, claim: Claim) -> None:
        super().__init__(
            f"outbox message {claim.message} is no longer claimed by worker {claim.worker} "
            f"(its claim expired and another worker took it over): not sent by this one"
        )
        self.claim = claim


class MailboxRow(NamedTuple):
    id: int
    address: str
    provider: str
    timezone: str
    policy: str
    cap: int | None
    started: dt.date | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str | None
    imap_host: str | None
    imap_port: int | None
    imap_security: str | None
    created_at: dt.datetime
    auth: str | None = None  # password | oauth; None: the provider's default

    def to_dict(self) -> dict[str, Any]:
        out = self._asdict()
        out["started"] = self.started.isoformat() if self.started else None
        out["created_at"] = self.created_at.isoformat()
        del out["id"]
        return out


class UnreadableMailbox(MailboxRow):
    """A mailbox row holding a value this warmup cannot read (a hand edit with sqlite3, another
    version's write): ``fault``, a :class:`DataError` naming the row, the column and the fix.
    Listed with its address, zone, provider and policy as stored, nothing else: a command about
    many mailboxes answers the others and names this one (exit 65), a command about it alone
    refuses it, and no gate sends from it."""

    fault: DataError


def mailbox_row(r: Any) -> MailboxRow:
    """A mailbox row as read (``MailboxRow``'s columns, its times as stored: SQLite's text,
    PostgreSQL's values), or an :class:`UnreadableMailbox` when one holds what no version
    writes (text in a number's or a date's column: SQLite keeps it), which every command
    reading the mailboxes died of (a traceback)."""
    try:
        created_at = instant(r[13])
    except (TypeError, ValueError):
        return unreadable_mailbox(r, "created_at", "a time", "'2026-01-01 00:00:00'")
    try:
        started = r[6] if r[6] is None or type(r[6]) is dt.date else dt.date.fromisoformat(r[6])
    except (TypeError, ValueError):
        return unreadable_mailbox(r, "started", "a date")
    for i, column in ((5, "cap"), (8, "smtp_port"), (11, "imap_port")):
        if r[i] is not None and type(r[i]) is not int:
            return unreadable_mailbox(r, column, "a whole number")
    return MailboxRow(
        r[0], r[1], r[2], r[3], r[4], r[5], started,
        r[7], r[8], r[9], r[10], r[11], r[12], created_at, r[14],
    )  # fmt: skip


def readable(box: MailboxRow) -> MailboxRow:
    """``box``, or its :class:`UnreadableMailbox` fault raised: a question about one mailbox
    alone gets that one line, never an answer from a row read wrong."""
    if isinstance(box, UnreadableMailbox):
        raise box.fault
    return box


def event_row(
    mailbox_id: int, id_: int, kind: str, at: Any, until: Any, reason: str | None
) -> tuple[int, int, str, dt.datetime, dt.datetime | None, str | None]:
    """An event row as the walk takes it, its times read as stored (SQLite's text, PostgreSQL's
    values); one a hand edit (or another version) left unreadable (``until = 'garbage'``) is a
    one-line :class:`DataError` naming the row and the fix: it was a traceback from every
    command reading the mailbox, the gate included. Not read past: no reader may guess how
    long a pause lasts."""
    try:
        return (mailbox_id, id_, kind, instant(at), _maybe_instant(until), reason)
    except (TypeError, ValueError):
        column, value = ("at", at) if _bad_instant(at) else ("until", until)
    raise DataError(
        f"event row {id_} (a {kind!r} of mailbox #{mailbox_id}): {column} {value!r} is not a "
        "time (written by hand or by another version?); correct the row, e.g. UPDATE event SET "
        f"{column} = '2026-01-01 00:00:00' WHERE id = {id_}, or remove it"
    )


def _maybe_instant(value: Any) -> dt.datetime | None:
    return None if value is None else instant(value)


def _bad_instant(value: Any) -> bool:
    try:
        instant(value)
    except (TypeError, ValueError):
        return True
    return False


def instant(value: Any) -> dt.datetime:
    """A stored UTC instant: SQLite's text (naive, UTC), or PostgreSQL's aware value."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.utcoffset() is None else value.astimezone(dt.UTC)


def unreadable_mailbox(r: Any, column: str, what: str, fix: str = "NULL") -> UnreadableMailbox:
    """``r`` (a mailbox row in ``MailboxRow``'s column order, as stored) whose ``column`` is
    not ``what``."""
    value = r[MailboxRow._fields.index(column)]
    box = UnreadableMailbox(
        r[0], str(r[1]), str(r[2]), str(r[3]), str(r[4]), None, None,
        None, None, None, None, None, None, dt.datetime(2000, 1, 1, tzinfo=dt.UTC), None,
    )  # fmt: skip
    box.fault = DataError(
        f"mailbox {box.address!r} (row {box.id} of table mailbox): {column} {value!r} is not "
        f"{what} (written by hand or by another version?): this warmup leaves the mailbox out; "
        f"correct the row, e.g. UPDATE mailbox SET {column} = {fix} WHERE id = {box.id}"
    )
    return box


class BounceIn(NamedTuple):
    """A bounce (or complaint) to record: who, what, when, and the key that makes it idempotent.

    ``send_id``: the send it answers when the caller knows it (an SMTP reply, an import row);
    otherwise the ledger matches it by ``message_id`` (the original's), else by recipient and
    time. ``trusted``: the caller vouches for it (a reply from our own SMTP session, a user's
    record or import): it suppresses the address even unmatched. A bounce read from a mailbox is
    not trusted: it suppresses only when it answers a send of this mailbox.
    """

    recipient: str
    kind: str
    at: dt.datetime
    key: str
    status: str | None = None
    reply: str | None = None
    diagnostic: str | None = None
    message_id: str | None = None
    source: str = "record"
    send_id: int | None = None
    trusted: bool = True
    # The address the original was sent to, when the report names a forwarded-to one as the
    # failed recipient (RFC 3464 Original-Recipient): matched instead when the mailbox never
    # mailed ``recipient`` but did mail this one.
    original_recipient: str | None = None
    # What the original the report returns says of itself (its From address or addresses,
    # comma-separated; its Date), when it shows them: it then answers only a send of this
    # mailbox made near that Date (else it is kept, unmatched, with why in ``unverified``).
    original_from: str | None = None
    original_date: dt.datetime | None = None
    # The report it came from (a mailbox's: its Message-ID, else a digest of it): one report
    # is about one message, so its recipients count only for the sends of one message.
    report: str | None = None
    # A complaint whose recipient the feedback loop redacted (RFC 6590; ``recipient`` ""):
    # it answers the send of this mailbox whose Message-ID it names, if that went to one
    # recipient.
    redacted: bool = False
    # Recorded by hand at no time given (``record bounce`` without ``--at``: now): one
    # repeating a bounce recorded by hand of the same send (or, answering none, the same
    # address), kind and status is that bounce again, not another report of its send.
    untimed: bool = False


class DeriveKey(NamedTuple):
    """The ledger's key for derived Message-IDs (:meth:`warmup.ledger.Ledger.message_id_key`)
    and when it was made: a message first tried before then carries the keyless form (2000 for
    a ledger made with its key: none does)."""

    key: bytes
    made: dt.datetime

    @classmethod
    def of(cls, value: str) -> DeriveKey:
        """Read from the setting's value, ``"HEX WHEN"`` (WHEN: ISO 8601 in UTC)."""
        key, _, made = value.partition(" ")
        return cls(bytes.fromhex(key), dt.datetime.fromisoformat(made))

    def value(self) -> str:
        return f"{self.key.hex()} {self.made.isoformat()}"


class BounceResult(NamedTuple):
    new: bool  # False: recorded before (same key), or not kept (``dropped``)
    matched: bool
    counted: bool
    recipient: str = ""
    # Read from a mailbox, new, counting nothing, and over UNMATCHED_KEPT or PER_SEND_KEPT:
    # not kept.
    dropped: bool = False


class SendIn(NamedTuple):
    """A send made outside the gate (a record, an import row), with its bounce if it had one."""

    recipient: str
    at: dt.datetime
    message_id: str | None = None
    source: str = "record"
    bounce: BounceIn | None = None


class EventIn(NamedTuple):
    kind: str  # pause | resume | throttle
    at: dt.datetime
    reason: str = ""
    until: dt.datetime | None = None


class SuppressCount(NamedTuple):
    """What a write of suppressions did (:meth:`warmup.ledger.Ledger.suppress_many`): the
    entries given, the distinct addresses among them, and those not suppressed already."""

    given: int
    distinct: int
    added: int


@dataclass
class Recorded:
    """What a batch added: new sends, bounces (and of those matched and counted), events;
    ``skipped``: an import's bounces not written, their sends having another already;
    ``already``: an import's rows whose send (or pause/resume event) was in the ledger before."""

    sends: int = 0
    bounces: int = 0
    matched: int = 0
    counted: int = 0
    events: int = 0
    mailboxes: int = 0
    results: list[BounceResult] = field(default_factory=list)
    skipped: int = 0
    already: int = 0

    def add(self, other: Recorded) -> None:
        for f in (
            "sends", "bounces", "matched", "counted", "events", "mailboxes", "skipped", "already"
        ):  # fmt: skip
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.results.extend(other.results)


class Ask(NamedTuple):
    """What :meth:`Questions.histories` needs to know of one mailbox's policy: the keyword
    arguments of :meth:`Questions.history`."""

    provider_ceiling: int | None = None
    provider_min_interval: float = 0.0
    domain_cap: bool = False
    memo: tuple[str, int] | None = None
    recipient_caps: bool = False


class Snapshot(NamedTuple):
    """A :class:`History` and the mailbox revision it was read at (for :meth:`Ledger.keep_memo`)."""

    history: History
    rev: int
    # Under a domain cap: the domain's other mailboxes and their revisions (:func:`stamped`),
    # part of the memo inputs this history's walk memo is kept and valid for.
    stamp: str | None = None


# What the worker's look keeps of each pool member's snapshot between looks, by mailbox id:
# the row and ask it was built for (the objects themselves), its local day, its rows in the
# look's statement, which of its back-offs were running at the cut, then the snapshot built and
# the first day its history holds (:func:`warmup.ledger.sqlite_look.look_snapshots`).
Parsed = dict[
    int, tuple["MailboxRow", "Ask", dt.date, list[Any], tuple[bool, ...], Snapshot, dt.date]
]


def opt_out(kind: str, diagnostic: str | None) -> bool:
    """Whether a complaint is a mail client's unsubscribe request (``warmup.bounces.parse``
    writes its diagnostic "unsubscribe: ..."): the person asking from their own address, which
    names no Message-ID, not a feedback loop's report returning the original. It answers the
    send to its sender by recipient and time, as a bounce does, and stops the mailing, but is
    never counted (:func:`warmup.ledger.reads.counts`)."""
    return kind == "complaint" and (diagnostic or "").startswith("unsubscribe:")


# The lengths of a hex digest (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512): the keyed
# hash RFC 6590 suggests a feedback loop put in place of a local part it redacts.
_DIGEST_LENGTHS = frozenset((32, 40, 56, 64, 96, 128))
_HEX = frozenset("0123456789abcdef")


def hashed_local(address: str | None) -> bool:
    """Whether ``address``'s local part is a hex digest, the form of a recipient a feedback
    loop redacted by hashing it (RFC 6590). A real address can have that form too: the ledger
    takes it as redacted only when the mailbox never mailed it (``Records.record``)."""
    local, at, _ = (address or "").lower().rpartition("@")
    return bool(at) and len(local) in _DIGEST_LENGTHS and set(local) <= _HEX


def named_only(kind: str, source: str, diagnostic: str | None) -> bool:
    """Whether a stored bounce answers only the send whose Message-ID it names: a complaint
    or a notice (a feedback report that is no complaint) read from a mailbox (``source``
    "imap"), not one a person recorded nor a mail client's unsubscribe request
    (:func:`opt_out`)."""
    return kind in ("complaint", "notice") and source == "imap" and not opt_out(kind, diagnostic)


def match_window(kind: str, source: str, diagnostic: str | None) -> dt.timedelta:
    """How long before a stored bounce a send it answers by recipient and time may have been
    made: :data:`UNREFERENCED_WINDOW` for a report read from a mailbox (``source`` "imap"), but
    a mail client's unsubscribe request (:func:`opt_out`: a person asks whenever they read the
    message, and it counts nothing); :data:`MATCH_WINDOW` for one a person recorded."""
    if source == "imap" and not opt_out(kind, diagnostic):
        return UNREFERENCED_WINDOW
    return MATCH_WINDOW


def utc(ts: dt.datetime) -> dt.datetime:
    """An aware instant in UTC, the storage form (naive datetimes are refused)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return ts.astimezone(dt.UTC)


def wall_clock() -> dt.datetime:
    """Now, aware UTC: every ledger's and gate's clock unless one is given (the same function,
    so a gate can tell that its clock is its ledger's: :meth:`SQLiteGate._write`)."""
    return dt.datetime.now(dt.UTC)


def local_day(ts: dt.datetime, tz: str) -> dt.date:
    """Local calendar day of an aware instant in zone ``tz``."""
    return ts.astimezone(zone(tz)).date()


def day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)


def seen_by(as_of: dt.datetime) -> dt.datetime:
    """The last instant a row stamped by a clock up to CLOCK_SKEW ahead may carry when made by
    ``as_of``: ``as_of`` + CLOCK_SKEW, a plain aware UTC datetime (pendulum's instants lose
    their zone in the sum)."""
    u = utc(as_of)
    return dt.datetime(*u.timetuple()[:6], u.microsecond, dt.UTC) + CLOCK_SKEW


class Live(dt.datetime):
    """This host's now, asked by a question about acting now (``warmup quota``, ``plan`` and
    ``report`` without ``--at``; :func:`live_now`), not about an instant: the gate, which acts
    now, counts today's whole rollup row, so a send another host (a clock more than
    CLOCK_SKEW ahead) or this one (before its clock moved back) stamped later TODAY counts, and
    so it must in the answer, or ``quota --check`` said "2 left" where the next send was refused
    "2 of 2 sent" (:func:`made_by`). An instant computed from it (a sum, a difference, another
    zone) is a plain datetime: only the question's own instant is live."""

    # typeshed says a subclass's sum is of the subclass (CPython's is since 3.8): not this
    # one's, on purpose
    def __add__(self, other: dt.timedelta) -> dt.datetime:  # type: ignore[override]
        return plain(super().__add__(other))

    __radd__ = __add__  # type: ignore[assignment]

    def __sub__(self, other: Any) -> Any:
        got = super().__sub__(other)
        return plain(got) if isinstance(got, dt.datetime) else got

    def astimezone(self, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
        return plain(self).astimezone(tz)  # not super()'s: it adds the offset by __add__


def plain(t: dt.datetime) -> dt.datetime:
    """``t`` as a plain datetime: a :class:`Live` one's arithmetic is Python's, too slow for
    the policy engine's many sums on its instant (only what is read of the ledger tells)."""
    if type(t) is dt.datetime:
        return t
    return dt.datetime(
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, t.tzinfo, fold=t.fold
    )


def live_now() -> Live:
    """Now, aware UTC, as a :class:`Live` instant."""
    return live(wall_clock())


def live(t: dt.datetime) -> Live:
    """``t``, a clock's now (the worker's, which tests pass in), as a :class:`Live` instant."""
    return Live(
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, t.tzinfo, fold=t.fold
    )


def made_by(as_of: dt.datetime, tz: str) -> tuple[dt.datetime, dt.datetime]:
    """``(today's, the last send's)``: the instants up to which a row counts as made by
    ``as_of`` in a mailbox of zone ``tz``. A host whose clock is ahead stamps what it sends
    (or records) up to CLOCK_SKEW after this one's now, and the gate counts it at once
    (today's row, the last send up to now + CLOCK_SKEW): so ``as_of`` + CLOCK_SKEW, today's
    counts kept within the local day (a send stamped after midnight is tomorrow's). Asked
    live (:class:`Live`), today's rows count to the end of the local day, as the gate counts
    them; the last send is still the last up to ``as_of`` + CLOCK_SKEW (one stamped far ahead
    must not pace the mailbox until then), and a later day's rows are not today's."""
    seen = seen_by(as_of)
    tomorrow = dt.date.fromordinal(local_day(as_of, tz).toordinal() + 1)
    end = day_start(tomorrow, tz) - dt.timedelta(microseconds=1)
    return (end if isinstance(as_of, Live) else min(seen, end)), seen


def id_forms(message_id: str) -> set[str]:
    """The spellings of ``message_id`` a send may be recorded under: one recorded by hand may
    lack its angle brackets."""
    bare = message_id.strip().strip("<>")
    return {message_id, bare, f"<{bare}>"}


def other_message_id(message_id: str) -> str:
    """The same Message-ID written the other way: bare if it has its angle brackets (as the
    header and the gate write it), with them if not (as logs and exports often write it)."""
    bare = message_id.strip().strip("<>")
    return bare if message_id.startswith("<") else f"<{bare}>"


def send_key(recipient: str, at: dt.datetime, message_id: str | None) -> str:
    if message_id:
        return f"{message_id}|{recipient}"
    return f"@{utc_text(at)}|{recipient}"


def utc_text(at: dt.datetime) -> str:
    """An aware instant as a send's key holds it: UTC ``YYYY-MM-DDTHH:MM:SS.ffffff``."""
    when = at if at.tzinfo is dt.UTC else utc(at)
    if when.year < 1000:  # strftime's %Y does not pad: keys already stored say "999-..."
        return f"{when:%Y-%m-%dT%H:%M:%S.%f}"
    # isoformat less its "+00:00": the same text as that format, at a fraction of its cost (an
    # import keys each row; its arguments by position: keywords cost a fifth more).
    return when.isoformat("T", "microseconds")[:26]


def from_utc_text(text: str) -> dt.datetime:
    """The aware UTC instant of :func:`utc_text`'s text (a year of four digits)."""
    return dt.datetime.fromisoformat(f"{text}+00:00")  # tzinfo: dt.UTC itself


# What a pool may be named (warmup.outbox.NAME, which 'pool add' checks).
_POOL_NAME = compiled_later(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class PoolNotFound(NotFound):
    """No pool with this name (exit 64)."""

    def __init__(self, name: str, other_case: str | None = None) -> None:
        undecoded = next((c for c in name if "\udc80" <= c <= "\udcff"), None)
        # argv's bytes that are not UTF-8, as bytes: '\xff', not Python's '\udcff'
        shown = re.sub(r"\\udc([89a-f][0-9a-f])", r"\\x\1", repr(name))
        if undecoded is not None:
            # 'create it with ...' sent the user to 'pool add', which refuses such a name
            why = (
                f"its name is not UTF-8 text (byte 0x{ord(undecoded) - 0xDC00:02x}), as no "
                f"pool's is: give it in UTF-8 (a GBK terminal or script: convert it, e.g. with "
                f"iconv -f GBK -t UTF-8); the pools are in 'warmup pool list'"
            )
        elif not _POOL_NAME.match(name):
            why = (
                "no pool has such a name (letters, digits, '.', '_' and '-'); the pools are "
                "in 'warmup pool list'"
            )
        elif other_case is not None:  # 'create it' made a second pool a case apart
            why = f"pool names are case-sensitive: did you mean {other_case!r}?"
        else:
            why = f"create it with 'warmup pool add {shlex.quote(name)} ADDRESS...'"
        super().__init__(f"pool {shown} not found; {why}")
        self.name = name


class Overflow(NamedTuple):
    """A pool's overflow channel: an ESP relay for its bulk messages once the members' quota
    is used (the password is in the keyring, never in the ledger)."""

    host: str
    port: int
    security: str  # ssl | starttls | none (loopback only)
    user: str | None = None


class PoolRow(NamedTuple):
    id: int
    name: str
    reply_to: bool  # the worker sets Reply-To to the sending member
    created_at: dt.datetime
    members: tuple[MailboxRow, ...]
    overflow: Overflow | None = None
    rev: int = 0  # the pool's revision tag when this copy was read (see schema.POOL)


class OutboxIn(NamedTuple):
    """A message to queue: its Message-ID, envelope recipients (normalized), the bytes, and where
    it goes out from (a mailbox or a pool)."""

    message_id: str
    recipients: tuple[str, ...]
    data: bytes
    not_before: dt.datetime
    expires_at: dt.datetime
    mailbox_id: int | None = None
    pool_id: int | None = None
    campaign: str | None = None
    bulk: bool = False  # may go through the pool's overflow channel
    # A template's row: its one recipient is queued once per campaign (skipped when the campaign
    # of this mailbox or pool has a message to it: see ``Ledger.enqueue``).
    once: bool = False
    # Another message's content key in a campaign (:mod:`warmup.outbox.content`): left out
    # when its campaign, of this mailbox or pool, has it already (``Ledger.enqueue``).
    content_key: str | None = None


@dataclass
class Enqueued:
    """What ``Ledger.enqueue`` wrote: the new outbox ids, the recipients of ``once`` messages
    left out because their campaign had a message to them already (in the order given), and
    the other messages left out because they were queued before: (the Message-ID given, the id
    of the outbox message that is the same one)."""

    ids: list[int] = field(default_factory=list)
    in_campaign: list[str] = field(default_factory=list)
    already: list[tuple[str, int]] = field(default_factory=list)


# An outbox message's states (the schema's check constraint; `queue list --state`'s choices).
OUTBOX_STATES = ("queued", "sending", "sent", "bounced", "unknown", "expired", "cancelled")


class FaultHold(NamedTuple):
    """The queued messages of one target (pool ``pool``, else mailbox ``mailbox``: names) that
    wait for a fault a person must fix (``outbox.fault``): how many, when the first of them is
    tried again (``until``), the highest of their faults' exit codes, and the first one's id
    and last reply (the fault in words; None when the ledger has none)."""

    pool: str | None
    mailbox: str | None
    messages: int
    until: dt.datetime
    code: int
    first: int
    why: str | None


class OutboxRow(NamedTuple):
    """A message of the outbox (``data`` is None when the listing did not load it)."""

    id: int
    message_id: str
    mailbox_id: int | None
    pool_id: int | None
    sent_by: int | None
    campaign: str | None
    recipients: tuple[str, ...]
    state: str
    attempts: int
    not_before: dt.datetime
    next_attempt_at: dt.datetime
    expires_at: dt.datetime
    last_reply: str | None
    claimed_by: str | None
    claimed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    data: bytes | None = None
    bulk: bool = False
    sent_via: str | None = None  # 'overflow': the pool's overflow channel (None: a member)
    pool_rev: int | None = None  # claimed: its pool's revision tag as the claim saw it
    has_slots: bool = True  # claimed: some gate slot names its Message-ID (True: not looked)
