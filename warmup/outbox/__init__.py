"""The durable outbox: messages queued in the ledger, sent by ``warmup run`` when the plan allows.

    from warmup import Outbox, open_ledger

    outbox = Outbox(open_ledger())
    outbox.add(message, pool="sales", campaign="december")   # an EmailMessage or bytes

A message goes out from one mailbox (``mailbox=``) or from whichever member of a pool the plan
allows soonest (``pool=``; :mod:`warmup.outbox.worker`). Queueing checks everything first and
writes a batch in one transaction: all of it or nothing. Suppressed recipients are dropped (and
counted); a message left with none is not queued. A template's row whose recipient an earlier
row names is skipped (and counted): a batch of rows mails each recipient once; so is one whose
recipient the campaign has queued or mailed already (a campaign queued again is completed, not
doubled), and any other message the campaign has already, the same content to the same
recipients (:mod:`warmup.outbox.content`): a script run again into its campaign queues only what
it had not. Every message gets a Message-ID here (kept if it has one), the key that makes its
delivery at most once.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import itertools
import os
import pickle
import re
import secrets
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from typing import IO, TYPE_CHECKING, Any

from warmup import addresses, headers
from warmup.errors import (
    ConfigError,
    DataError,
    InvalidField,
    InvalidFieldData,
    IOFailure,
    UsageError,
    WrongType,
    expect,
)
from warmup.instants import aware, check_query, duration_seconds, now_utc
from warmup.ledger import Ledger, OutboxIn, PoolRow
from warmup.ledger.values import MailboxRow
from warmup.outbox.content import content_key
from warmup.outbox.inputerrors import Collector, csv_path
from warmup.outbox.template import Rendered
from warmup.words import digits_fault

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec

DEFAULT_EXPIRY = dt.timedelta(hours=72)
MAX_EXPIRY = dt.timedelta(days=365)
NOT_BEFORE_REACH = dt.timedelta(days=3653)  # a --not-before further ahead is refused
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

__all__ = ["DEFAULT_EXPIRY", "Outbox", "Queued", "parse_expiry"]


def parse_expiry(text: str, field_name: str = "expires") -> dt.timedelta:
    """A duration like ``72h``, ``3d``, ``90m`` (or ``1h30m``): how long a message may wait,
    1 minute to 365 days (:func:`warmup.instants.duration_seconds`; the CLI's options parse it
    with :class:`warmup.cli.common.Duration`, which refuses alike)."""
    seconds = duration_seconds(text)
    if seconds is None:
        fault = digits_fault(text)
        raise InvalidField(
            field_name,
            "{field}: {text!r}: {fault}"
            if fault
            else "{field}: {text!r} is not a duration like 72h, 3d or 90m",
            text=text,
            fault=fault,
        ) from None
    if not 60 <= seconds <= MAX_EXPIRY.total_seconds():
        raise InvalidFieldData(
            field_name, "{field}: {text!r}: expected between 1 minute and 365 days", text=text
        )
    return dt.timedelta(seconds=seconds)


def check_expiry(expires: object) -> dt.timedelta:
    """``expires`` given to the library: what :func:`parse_expiry` lets through from the CLI
    (a timedelta of 1 minute to 365 days), so a script cannot queue a message born expired or
    one whose expiry is past what a date holds."""
    span: dt.timedelta = expect(expires, dt.timedelta, "expires")  # a TypeError, as others
    if not dt.timedelta(minutes=1) <= span <= MAX_EXPIRY:
        raise InvalidFieldData(
            "expires", "{field}: {text}: expected between 1 minute and 365 days", text=str(span)
        )
    return span


def check_name(value: str, field_name: str) -> str:
    """A pool or campaign name: letters, digits, ``.``, ``_``, ``-`` (at most 100); else
    :class:`InvalidField` (exit 64, as a policy's name: a name typed in a form warmup cannot
    take, not bad data)."""
    if not NAME.match(value or ""):
        raise InvalidField(
            field_name,
            "{field}: {value!r} is not a name: use letters, digits, '.', '_' and '-' "
            "(at most 100, starting with a letter or digit)",
            value=value,
        )
    return value


def check_bulk(bulk: bool, pool: object) -> None:
    """Refuse ``bulk`` for messages not queued to a pool (``pool`` None): only a pool has an
    overflow channel, and a bulk message to a mailbox would never take one."""
    if bulk and pool is None:
        raise InvalidField(
            "bulk",
            "{field}: only a pool has an overflow channel; queue bulk messages to a pool "
            "({pool} NAME), or leave out {field}",
            refs={"pool": "pool"},
        )


SPOOL_BATCH = 1000  # messages checked against the suppressions at a time


@dataclass
class Queued:
    """What a batch queued: the new outbox ids and the suppressed recipients left out
    (recipient -> why), with the messages dropped for having no recipient left, and the
    template rows skipped for naming a recipient an earlier row names ((recipient, where)) or
    one the campaign has queued or mailed already, and the other messages left out as queued
    already ((where, the id of the outbox message they are): :meth:`Outbox.add_many`)."""

    ids: list[int] = field(default_factory=list)
    suppressed: dict[str, str] = field(default_factory=dict)
    dropped: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    in_campaign: list[str] = field(default_factory=list)  # rows' recipients it had already
    already: list[tuple[str, int]] = field(default_factory=list)
    count: int = 0  # messages checked and kept, to be written


@dataclass(frozen=True)
class _Target:
    mailbox: MailboxRow | None
    pool: PoolRow | None

    def senders(self) -> list[MailboxRow]:
        """The mailbox, or the pool's members."""
        if self.mailbox is not None:
            return [self.mailbox]
        return list(self.pool.members) if self.pool else []

    @property
    def domain_of_ids(self) -> str:
        box = self.mailbox or (self.pool.members[0] if self.pool else None)
        return addresses.domain_of(box.address) if box else "localhost"


class Outbox:
    """Queue messages in the ledger's outbox (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        if isinstance(ledger, str | bytes | os.PathLike):  # Outbox("ledger.db"): not opened
            raise WrongType(
                f"ledger: expected an open ledger, got {type(ledger).__name__} {ledger!r}; "
                f"give Outbox(warmup.open_ledger({ledger!r}))"
            )
        self.ledger = ledger

    def _target(self, mailbox: str | None, pool: str | None) -> _Target:
        if (mailbox is None) == (pool is None):
            raise InvalidField(
                "mailbox", "give exactly one of {field} and {pool}", refs={"pool": "pool"}
            )
        if mailbox is not None:
            expect(mailbox, str, "mailbox")
            return _Target(self.ledger.mailbox(mailbox.strip().lower()), None)
        found = self.ledger.pool(expect(pool, str, "pool"))
        if not found.members:
            raise DataError(
                f"pool {found.name!r} has no mailbox; add one with "
                f"'warmup pool add {shlex.quote(found.name)} ADDRESS'"
            )
        return _Target(None, found)

    def senders(self, mailbox: str | None = None, pool: str | None = None) -> list[MailboxRow]:
        """The mailboxes a message queued to ``mailbox`` or ``pool`` may go out from (the
        mailbox, or the pool's members); the errors :meth:`add` would raise for them."""
        return self._target(mailbox, pool).senders()

    def add(
        self,
        message: EmailMessage | bytes,
        *,
        mailbox: str | None = None,
        pool: str | None = None,
        campaign: str | None = None,
        not_before: dt.datetime | None = None,
        expires: dt.timedelta = DEFAULT_EXPIRY,
        recipients: Sequence[str] | None = None,
        now: dt.datetime | None = None,
        bulk: bool = False,
    ) -> int | None:
        """Queue one message; its outbox id, or None when every recipient is suppressed. A
        message queued already (see :meth:`add_many`) is not queued again: the id is that of
        the message queued before. ``bulk``: once the members' quota of the day is used, it
        may go through the pool's overflow channel (:mod:`warmup.outbox.overflow`)."""
        got = self.add_many(
            [(message, recipients)],
            mailbox=mailbox,
            pool=pool,
            campaign=campaign,
            not_before=not_before,
            expires=expires,
            now=now,
            bulk=bulk,
        )
        if got.already:
            return got.already[0][1]
        return got.ids[0] if got.ids else None

    def add_many(
        self,
        messages: Iterable[
            tuple[EmailMessage | bytes | Rendered, Sequence[str] | None]
            | EmailMessage
            | bytes
            | DataError
        ],
        *,
        mailbox: str | None = None,
        pool: str | None = None,
        campaign: str | None = None,
        not_before: dt.datetime | None = None,
        expires: dt.timedelta = DEFAULT_EXPIRY,
        now: dt.datetime | None = None,
        where: Sequence[str] | Callable[[int], str] | None = None,
        bulk: bool = False,
        committing: Callable[[], object] | None = None,
    ) -> Queued:
        """Queue messages (each alone or paired with its envelope recipients, default
        To/Cc/Bcc: ``[msg, ...]`` or ``[(msg, ["a@x.com"]), ...]``): every one is
        checked first, then all are written in one transaction (all or none). ``where``: the
        name of message i in errors (a list, or a function of i); ``bulk``: as for :meth:`add`.
        Every bad message is found in one run (:mod:`warmup.outbox.inputerrors`: the first 20
        named, one line each, in one :class:`DataError`); an item that is a
        :class:`DataError` is an input the caller could not read, named with them.

        A template's row (:class:`warmup.outbox.template.Rendered`, its recipient the
        envelope) is written directly (:mod:`warmup.outbox.mime`) under a generated Message-ID.

        ``messages`` may be a generator of any length: each message is flattened as it comes
        and spooled to a temporary file, so memory stays flat in their number; the write lock
        is taken only once all of them are checked, and held only to insert them.

        A row whose recipient an earlier row of the batch names is checked, then skipped (in
        :attr:`Queued.duplicates`): a list of leads names someone twice by mistake, and mailing
        them twice in one campaign costs the sender's reputation. So is one whose recipient
        ``campaign`` (of the same mailbox or pool) has a message to (checked by
        :meth:`Ledger.enqueue` under the campaign's lock, one query a batch; in
        :attr:`Queued.in_campaign`): queueing a file again, after an
        interruption or by mistake, completes the campaign instead of doubling it.

        Any other message is left out (in :attr:`Queued.already`, with the id of the message it
        is) when ``campaign`` (of the same mailbox or pool) has it already, queued, being sent or
        done: the same content to the same recipients (:mod:`warmup.outbox.content`: the Date,
        the Message-ID and a multipart's boundary aside, which a library draws afresh each run)
        — a script run again after a crash, or twice, completes its campaign; a different
        message to the same lead (a follow-up) is queued. Without a campaign, nothing says a
        message sent again is not meant: each is queued. A message whose own Message-ID is
        queued already is refused (:class:`DataError`), unless the campaign has it (the same
        content, to the same recipients): then it is left out as well. ``committing``: called
        once they are written, before the COMMIT (the CLI holds stops from there)."""
        now = aware(now, "now") if now is not None else now_utc()
        check_expiry(expires)
        expect(bulk, bool, "bulk")
        target = self._target(mailbox, pool)
        check_bulk(bulk, target.pool)
        if campaign is not None:
            check_name(expect(campaign, str, "campaign"), "campaign")
        start = check_query(not_before, "not_before") if not_before else now
        if start + expires <= now:  # queued, it would only be expired by the next pass
            raise InvalidFieldData(
                "not_before",
                "{field} {at}: the messages would expire at {end} ({field} plus {expiry}), "
                "already past: give a later {field} or a longer {expiry}",
                refs={"expiry": "expires"},
                at=f"{start:%Y-%m-%dT%H:%M:%SZ}",
                end=f"{start + expires:%Y-%m-%dT%H:%M:%SZ}",
            )
        if start > now + NOT_BEFORE_REACH:  # 2062 for 2026: nothing can say when it goes
            raise InvalidFieldData(
                "not_before",
                "{field} {at}: more than 10 years ahead (a year typed wrong?): give a day "
                "within 10 years",
                at=f"{start:%Y-%m-%dT%H:%M:%SZ}",
            )
        # bulk: the pool's overflow channel may take what no member can; without one, the
        # worker bounces what the members never send, as it would any other message
        overflow = bulk and target.pool is not None and target.pool.overflow is not None
        fits = None if overflow else _Fits(self.ledger, target)
        seen: dict[str, str] = {}  # Message-ID -> the label of its message
        rows_to: set[str] = set()  # the template rows' recipients so far
        out = Queued()
        with _spool_file() as spool:
            pending: list[OutboxIn] = []

            def spill() -> None:
                kept: list[tuple[Any, ...]] = []
                bad = self.ledger.suppressed(sorted({r for i in pending for r in i.recipients}))
                out.suppressed.update(bad)
                for item in pending:
                    left = tuple(r for r in item.recipients if r not in bad)
                    if not left:
                        out.dropped += 1
                        continue
                    kept.append(
                        tuple(left if f == "recipients" else getattr(item, f) for f in _FIELDS)
                    )
                try:
                    pickle.dump(kept, spool, protocol=pickle.HIGHEST_PROTOCOL)
                except OSError as exc:
                    raise _spool_failure(exc, spool) from None
                out.count += len(kept)
                pending.clear()

            ids = _message_ids(target.domain_of_ids)
            bad = Collector()  # every bad message named in one run; then nothing is queued
            try:
                for i, item in enumerate(messages):
                    if isinstance(item, DataError):  # an input that could not be read
                        bad.add(str(item))
                        continue
                    try:
                        got = _checked(
                            item, i, target, ids, where, seen, rows_to, out, fits, campaign
                        )
                    except DataError as exc:
                        row = item[0] if isinstance(item, tuple) else item
                        bad.add(
                            str(exc), csv_path(row.where) if isinstance(row, Rendered) else None
                        )
                        continue
                    if got is None or bad:  # a duplicate row; or after a bad one, only checked
                        continue
                    pending.append(
                        OutboxIn(
                            got[0],
                            tuple(got[1]),
                            got[2],
                            start,
                            start + expires,
                            target.mailbox.id if target.mailbox else None,
                            target.pool.id if target.pool else None,
                            campaign,
                            bulk,
                            once=got[3],
                            content_key=got[4],
                        )
                    )
                    if len(pending) >= SPOOL_BATCH:
                        spill()
            except DataError as exc:  # the input's own finder (a CSV's bad rows)
                if not bad:
                    raise
                bad.merge(exc)
            bad.check()
            spill()
            try:
                spool.seek(0)  # which writes the last of its buffer
            except OSError as exc:
                raise _spool_failure(exc, spool) from None
            written = self.ledger.enqueue(_Spooled(spool, out.count), now, committing)
            out.ids, out.in_campaign = written.ids, written.in_campaign
            out.already = [(seen.get(mid, mid), i) for mid, i in written.already]
        return out


def _checked(
    item: Any,
    i: int,
    target: _Target,
    ids: Iterator[str],
    where: Sequence[str] | Callable[[int], str] | None,
    seen: dict[str, str],
    rows_to: set[str],
    out: Queued,
    fits: _Fits | None = None,
    campaign: str | None = None,
) -> tuple[str, list[str], bytes, bool, str | None] | None:
    """Message ``i`` of :meth:`Outbox.add_many` checked and written: its Message-ID,
    envelope, bytes, whether it is a template's row, and its content key in a ``campaign``
    (none for a row: its recipient is its key); None for a row whose recipient an earlier row
    names. A bad one is :class:`DataError` naming it."""
    message, rcpts = _paired(item)
    key = None
    if isinstance(message, Rendered):
        if message.rcpt in rows_to:
            out.duplicates.append((message.rcpt, message.where or f"message {i + 1}"))
            return None
        rows_to.add(message.rcpt)
        mid, envelope, data = _compose(message, target, next(ids))
        try:
            if fits is not None:
                fits.check(envelope)
            headers.check_size(data)
            headers.check_nul(data)
        except DataError as exc:
            raise DataError(f"{message.where or f'message {i + 1}'}: {exc}") from None
    else:
        label = where(i) if callable(where) else where[i] if where else f"message {i + 1}"
        msg, mid, envelope = _prepare(message, rcpts, target, label, fits)
        if mid in seen:  # named as the caller names them: the CLI, by file
            other = seen[mid]
            raise DataError(
                f"{label}: given twice (Message-ID {mid}); queue it once"
                if other == label
                else f"{label}: Message-ID {mid} is also {other}'s; give each "
                f"message its own Message-ID"
            )
        seen[mid] = label
        try:  # the gate would refuse it: refused now, it never waits in vain
            if fits is not None:
                fits.check(envelope)
            data = headers.sendable(msg, email.policy.SMTP)
        except DataError as exc:
            raise DataError(f"{label}: {exc}") from None
        if campaign is not None:  # without one, a message sent again may be meant
            key = content_key(msg, envelope)
    return mid, envelope, data, isinstance(message, Rendered), key


class _Fits:
    """Whether a message's recipients fit in a day of its mailbox, or of a member of its pool
    (:func:`warmup.refusals.check_fits`): more waited for the plan's next slot every day until
    they expired, where `send` refuses them. Policies are read once, at the first message; a
    member whose policy or provider cannot be used is left out (the worker says so).
    Suppressed recipients do not count: they are left out when queued. A message to one
    recipient fits any day (every quota is 1 at least) unless a policy never mails some
    domain (a recipient-domain cap of 0): then it is checked as any other."""

    def __init__(self, ledger: Ledger, target: _Target) -> None:
        self.ledger, self.target = ledger, target
        self.specs: list[tuple[MailboxRow, PolicySpec, int | None]] | None = None
        self.closed = False  # some policy has a recipient domain it never mails

    def check(self, rcpts: Sequence[str]) -> None:
        try:
            self._check(rcpts)
        except DataError:
            # read only for a message too big: the batch's suppressions are read at its spill
            bad = self.ledger.suppressed(sorted(set(rcpts)))
            if not bad:
                raise
            self._check([r for r in rcpts if r not in bad])

    def _check(self, rcpts: Sequence[str]) -> None:
        from warmup import policies
        from warmup.providers import get_provider
        from warmup.refusals import check_fits, day_top

        if self.specs is None:
            self.specs = []
            for box in self.target.senders():
                try:
                    spec = policies.policy_for(self.ledger, box)
                    limit = get_provider(box.provider, of=box.address).daily_limit
                except ConfigError:
                    continue
                self.specs.append((box, spec, limit))
                caps = spec.recipient_domains
                self.closed |= caps.default == 0 or any(cap == 0 for _, cap in caps.caps)
        if not self.specs or (len(rcpts) < 2 and not self.closed):
            return
        if self.target.pool is None:
            check_fits(rcpts, *self.specs[0])
            return
        refusals = []
        for box, spec, limit in self.specs:
            try:
                check_fits(rcpts, box, spec, limit)
                return
            except DataError as exc:
                refusals.append(str(exc))
        n = len(set(rcpts))
        top = max(day_top(box, spec, limit)[0] for box, spec, limit in self.specs)
        if n > top:
            raise DataError(
                f"{n} recipients in one message; no member of pool {self.target.pool.name} "
                f"sends to more than {top} a day: split it into messages of at most {top} "
                f"recipients"
            )
        raise DataError(f"no member of pool {self.target.pool.name} may send it: {refusals[0]}")


_FIELDS = OutboxIn._fields  # as spooled, in order


def _message_ids(domain: str) -> Iterator[str]:
    """Message-IDs unique by construction (time, process, 64 random bits, a counter):
    ``make_msgid``'s 5 random digits per 10 ms would collide at thousands of messages a second."""
    stem = f"{int(time.time() * 100)}.{os.getpid()}.{secrets.token_hex(8)}"
    return (f"<{stem}.{n}@{domain}>" for n in itertools.count(1))


def _compose(item: Rendered, target: _Target, mid: str) -> tuple[str, list[str], bytes]:
    """A template's message completed as :func:`_prepare` completes one (From for a
    mailbox, Message-ID; the worker dates it as it sends it) and written directly: its
    Message-ID, envelope and bytes."""
    from warmup.outbox.mime import compose

    head = [("To", item.rcpt), ("Subject", item.subject)]
    if target.mailbox is not None:
        head.append(("From", target.mailbox.address))
    head.append(("Message-ID", mid))
    return mid, [item.rcpt], compose(head, item.text, item.html)


def _spool_file() -> IO[bytes]:
    """The temporary file :meth:`Outbox.add_many` spools the checked messages to."""
    try:
        return tempfile.TemporaryFile(prefix="warmup-queue-")
    except OSError as exc:  # no temporary folder that can be written
        raise _spool_failure(exc) from None


def _spool_failure(exc: OSError, spool: IO[bytes] | None = None) -> IOFailure:
    """The spool could not be made or written (a full disk, RLIMIT_FSIZE): nothing is queued
    yet. Its bytes still in the buffer, closing it fails alike, as the ``with`` around it
    would, over this error: closed here, that error aside."""
    if spool is not None:
        try:
            spool.close()
        except OSError:
            pass
    try:
        folder = f"in {tempfile.gettempdir()}"
    except OSError:  # none of the candidates could be written to
        folder = "in any temporary folder"
    return IOFailure(
        f"queue: cannot write its temporary file {folder} ({exc.strerror or exc}); free "
        f"disk space there or point TMPDIR at a disk with room (nothing was queued)"
    )


class _Spooled:
    """The messages spooled, read from the spool's start at each iteration: a queueing cut
    (its transaction made again on a new connection) reads them anew."""

    def __init__(self, spool: IO[bytes], count: int) -> None:
        self.spool, self.count = spool, count

    def __iter__(self) -> Iterator[OutboxIn]:
        self.spool.seek(0)
        return _unspool(self.spool, self.count)


def _unspool(spool: IO[bytes], count: int) -> Iterator[OutboxIn]:
    """The messages spooled, a batch (a pickled list of tuples: cheaper than one object at a
    time) after another."""
    while count > 0:
        batch = pickle.load(spool)
        count -= len(batch)
        for fields in batch:
            yield OutboxIn(*fields)


def _paired(item: object) -> tuple[Any, Sequence[str] | None]:
    """An item of :meth:`Outbox.add_many`: ``(message, recipients)``, or a message alone
    (envelope from its To/Cc/Bcc, or Resent-To/-Cc/-Bcc when resent). An :class:`EmailMessage` is iterable (its header names),
    so a bare one was unpacked into a ValueError."""
    if isinstance(item, tuple) and len(item) == 2:
        message, rcpts = item
        if isinstance(rcpts, str | bytes):  # its letters would be taken for the recipients
            raise UsageError(
                f"recipients {rcpts!r}: give a list of addresses, e.g. ['a@example.com'], "
                f"not one string"
            )
        if rcpts is None:
            return message, None
        # any iterable of addresses (a pandas column, a generator, a dict's keys): a pair taken
        # for the message itself was refused as "not tuple", blaming a message that was fine
        if isinstance(rcpts, Iterable) and not isinstance(rcpts, Message):
            return message, list(rcpts)
        if not isinstance(rcpts, Message):
            raise WrongType(f"recipients: expected a list of addresses, got {type(rcpts).__name__}")
    return item, None


def _prepare(
    message: EmailMessage | bytes,
    rcpts: Sequence[str] | None,
    target: _Target,
    label: str,
    fits: _Fits | None = None,
) -> tuple[EmailMessage, str, list[str]]:
    """The message checked and completed (From for a mailbox, Message-ID), its
    Message-ID and its envelope. A message naming more than :data:`~warmup.headers.MANY` in
    To/Cc/Bcc is first checked against ``fits`` with those (:func:`_too_many`)."""
    from email.errors import MissingHeaderBodySeparatorDefect

    message = headers.as_message(message, label)
    if isinstance(message, bytes):
        try:  # read as the relay and the gate read it: a BOM dropped, no header line
            data = headers.header_section(message)
        except DataError as exc:
            raise DataError(f"{label}: {exc}") from None
        msg = email.message_from_bytes(data, policy=email.policy.default)
    else:
        msg = message
    assert isinstance(msg, EmailMessage)
    if rcpts is None and fits is not None:
        _too_many(msg, fits, label)
    # Raw UTF-8 headers: RFC 2047 words, never unknown-8bit; one in GBK is refused.
    _read(label, headers.decode_utf8_fields, msg)
    _read(label, headers.check_base64, msg)  # a base64 part of raw 8-bit bytes
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects):
        raise DataError(
            f"{label}: a header line is not 'Name: value'; fix its headers, with an empty "
            f"line before the body"
        )
    if target.mailbox is not None:
        box = target.mailbox.address
        sender = _read(label, headers.sender_of, msg).lower()
        if sender and sender != box:
            raise DataError(
                f"{label}: From {sender} is not the mailbox {box}; warmup sends only as the "
                f"mailbox (queue it to a pool to have From set to the sending member)"
            )
        # A second From, a Sender or a Resent-From naming anyone else would go out too (the
        # gate refuses them at send time: refused here, the message never waits in vain).
        _read(label, lambda m: headers.check_sender(headers.sender_fields(m), box), msg)
        if not sender:
            msg["From"] = box
    # An empty or doubled Date or Message-ID: refused as the gate and the relay refuse it (an
    # empty Message-ID would be queued under '').
    _read(label, lambda m: headers.check_stamps((k.lower(), str(v)) for k, v in m.raw_items()), msg)
    # No Date is added: a warm-up sends a campaign over days or weeks, and a Date of the day
    # it was queued showed days back in the recipient's inbox. The worker dates it when sent.
    if "Message-ID" not in msg:
        msg["Message-ID"] = email.utils.make_msgid(domain=target.domain_of_ids)
    mid = " ".join(str(msg["Message-ID"]).split())
    given = rcpts is not None
    if rcpts is None:
        rcpts = _read(label, headers.recipients_of, msg)
    try:
        envelope = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in rcpts))
    except DataError as exc:
        raise DataError(f"{label}: {exc}") from None
    if not envelope and given:
        # [] is no one (a script's list filtered empty), as for Gate.send: never the message's
        # To, which "no To, Cc or Bcc" blamed though it had one
        raise DataError(
            f"{label}: no recipients: an empty list of recipients was given; give at least "
            f"one, or omit them to send to the message's To, Cc and Bcc"
        )
    if not envelope:
        raise DataError(
            f"{label}: no recipient (no To, Cc or Bcc; Resent-To, -Cc or -Bcc when resent)"
        )
    return msg, mid, envelope


def _too_many(msg: EmailMessage, fits: _Fits, label: str) -> None:
    """:class:`DataError` for a message whose To/Cc/Bcc name more recipients than its
    mailbox (or any member of its pool) ever sends to in a day, read before the header registry
    reads them (:func:`warmup.headers.many_recipients`): a To of 100,000 addresses took
    minutes to be refused. Only what the full check refuses is refused here."""
    quick = headers.many_recipients(msg)
    if quick is None:
        return
    try:
        fits.check(quick)
    except DataError as exc:
        raise DataError(f"{label}: {exc}") from None


def _read(label: str, read: Callable[[EmailMessage], Any], msg: EmailMessage) -> Any:
    """``read(msg)``, its :class:`DataError` prefixed with the message's ``label``."""
    try:
        return read(msg)
    except DataError as exc:
        raise DataError(f"{label}: {exc}") from None


def retry(
    ledger: Ledger,
    message: int,
    expires: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Queue an ``unknown``, ``expired`` or ``cancelled`` message again by hand (due now, never
    before its ``not_before``, to expire ``expires`` after that, default 72 h), or make a
    ``queued`` one due now; its Message-ID now.

    An ``unknown`` message may have reached its recipients: the gate never sends a Message-ID
    twice, so it goes again under a new Message-ID (the user chose to risk a duplicate). An
    expired or cancelled one never left (for the recipients it still holds) and keeps its
    Message-ID: a cancel is undone in one command, not by queueing the message anew. A queued
    one backing off after a fault since fixed (a refused login: a new password in
    ``$WARMUP_PASSWORD``) is due now (not before its ``not_before``), its tries kept, and its
    expiry too unless ``expires`` is given: then it expires that long after it is due (one
    about to expire given more time).
    """
    now = aware(now, "now") if now is not None else now_utc()
    if expires is not None:
        check_expiry(expires)
    row = ledger.message(message)
    if row.state == "queued":
        ledger.make_due(message, now, expires)
        return row.message_id
    expires = DEFAULT_EXPIRY if expires is None else expires
    new = None
    if row.state == "unknown":
        msg = email.message_from_bytes(row.data or b"", policy=email.policy.default)
        # A pool's message has no From until a member sends it: the domain its first
        # Message-ID was given when it was queued (the pool's), not 'localhost'
        sender = headers.sender_of(msg) or row.message_id.strip("<>")
        del msg["Message-ID"]
        msg["Message-ID"] = email.utils.make_msgid(
            domain=addresses.domain_of(sender) if "@" in sender else "localhost"
        )
        new = (" ".join(str(msg["Message-ID"]).split()), msg.as_bytes(policy=email.policy.SMTP))
    ledger.requeue(message, now, expires, new)
    return new[0] if new else row.message_id


def mark(
    ledger: Ledger,
    went: bool,
    message: int | None = None,
    campaign: str | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[int, str]]:
    """A person's word on an ``unknown`` message (``message``), or on every one of
    ``campaign``: it ``went`` (checked in the Sent folder, a reply came), or it did not and is
    not to be sent. The (id, new state) of each message marked, in one transaction
    (:meth:`Ledger.decide_unknown <warmup.ledger.outbox_edits.OutboxEdits.decide_unknown>`).

    Went: the message is ``sent`` and its recipients' gate slots of unknown fate too, so bounces
    match and count them as sends (a bounce recorded already stays); the quota is unchanged, an
    unknown slot counted already. Recipients a 4xx deferred in that same try are queued again,
    as the worker does (the message ``queued``); not one whose server refused the message's
    size (:func:`~warmup.bounces.classify.refuses_size`): final, as the worker holds it. Did not go: ``cancelled`` (never tried again
    by itself; :func:`retry` still can), those slots ``released``: the quota given back.

    A message not ``unknown`` is refused (:class:`DataError`, naming its state), and so is one
    said not to have gone that a bounce naming its Message-ID answers; nothing is changed then.
    """
    now = aware(now, "now") if now is not None else now_utc()
    expect(went, bool, "went")
    if (message is None) == (campaign is None):
        raise InvalidField(
            "message", "give exactly one of {field} and {campaign}", refs={"campaign": "campaign"}
        )
    if message is not None:
        expect(message, int, "message")
    if campaign is not None:
        expect(campaign, str, "campaign")
    from warmup.bounces.classify import refuses_size

    return ledger.decide_unknown(went, now, message, campaign, final=refuses_size)
