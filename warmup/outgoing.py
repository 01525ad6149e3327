"""The message the gate sends: prepared for it (From the mailbox, a Date, a Message-ID: parsed by
:func:`prepare`, or as the client wrote its bytes by :func:`prepare_data` for the relay), the
Message-ID made or derived, and whether a message handed again is a retry of one the ledger
holds, and to whom it goes now (DESIGN invariant 9: a Message-ID is sent once)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import secrets
import time
from email.message import EmailMessage
from typing import TYPE_CHECKING

from warmup import addresses, headers
from warmup.errors import DataError
from warmup.ledger import DuplicateSend
from warmup.ledger.values import local_day

if TYPE_CHECKING:
    from collections.abc import Callable

    from warmup.ledger.gatepath import GateLedger
    from warmup.ledger.values import MailboxRow

# A Message-ID the header registry reads back unchanged (make_msgid's form among them).
_PLAIN_ID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+>")


def new_message_id(address: str) -> str:
    """A new Message-ID at the mailbox's domain, in ``email.utils.make_msgid``'s form (the time
    in hundredths of a second, the process, 64 random bits), without its layers: one is made for
    each reservation that is given none.

    The bits are the system's (``secrets``), not ``random``'s Mersenne Twister: a report naming
    a send's own Message-ID is believed whatever its Date, so the ID must be no one's guess,
    and 312 of the Twister's IDs (seen by the recipients of one worker's mail) foretell the
    rest, the other leads' among them."""
    stamp = int(time.time() * 100)
    return f"<{stamp}.{os.getpid()}.{secrets.randbits(64)}@{addresses.domain_of(address)}>"


def derived_message_id(
    address: str, recipients: list[str], raw: bytes, day: dt.date, key: bytes | None = None
) -> str:
    """The Message-ID given to a message that has none, the same for the same bytes to the same
    recipients from the same mailbox on the same (local) day: a script that retries what
    was partly deferred (sendmail's exit 75, an SMTP 4xx) hands the same message again, and
    the ledger knows whom it already reached (:func:`retry_of_derived`). A random one made
    the retry a new message, mailed again to those the first attempt reached.

    Keyed by the ledger's ``key`` (:meth:`warmup.ledger.Ledger.message_id_key`, an HMAC): a
    report naming a send's own Message-ID is believed whatever its Date, and an unkeyed hash of
    what each recipient receives let one of them take the added headers off their copy, put in
    another lead's address and compute that lead's ID. Without ``key``: the unkeyed form,
    which a message first tried before its ledger had a key carries (:func:`message_id_for`)."""
    import hashlib
    import hmac

    h = hmac.new(key, digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    for part in (address, *sorted(set(recipients)), day.isoformat()):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(raw)
    return f"<warmup.{h.hexdigest()[:32]}@{addresses.domain_of(address)}>"


def message_id_for(
    ledger: GateLedger, box: MailboxRow, recipients: list[str], raw: bytes, day: dt.date
) -> str:
    """The Message-ID :func:`derived_message_id` gives ``raw`` to ``recipients`` from ``box`` on
    ``day``, keyed by the ledger's key; on the local day that key was made (or before), the
    unkeyed form when the ledger holds a send of it already: a retry of a message first tried
    before the key was made, which must reach only those the first attempt did not."""
    found = ledger.message_id_key()
    keyed = derived_message_id(box.address, recipients, raw, day, found.key)
    if day <= local_day(found.made, box.timezone):
        unkeyed = derived_message_id(box.address, recipients, raw, day)
        if ledger.message_slots(box, unkeyed, recipients):
            return unkeyed
    return keyed


def retry_of_derived(exc: DuplicateSend) -> list[str] | None:
    """For a :func:`derived_message_id` the ledger already holds: the recipients to send it to
    now, or None to refuse as for any Message-ID (one still in flight, of unknown fate or
    refused: DESIGN invariant 9). Sent to some before: a retry, to those it has not reached
    (``exc.unsent``). Sent to all: the same text again, meant as a new message (the first
    attempt succeeded, so nothing retried it); it needs a new Message-ID (an empty list)."""
    if exc.outcome != "sent":
        return None
    return list(exc.unsent)


def retry_recipients(slots: dict[str, tuple[int, str]], recipients: list[str]) -> list[str] | None:
    """For a :func:`derived_message_id` message to ``recipients`` (normalized), whose slots the
    ledger holds as ``slots`` (:meth:`Ledger.message_slots`): when it is a retry, the recipients
    it goes to now (those not reached yet: no slot, or one released or deferred); None when it
    is not (no slot: a first attempt; one in flight or of unknown fate, which the gate refuses;
    none left to reach: :func:`retry_of_derived` decides). Narrowed before the gate: its quota
    counted those reached before ("3 wanted" where 1 goes out, until the next day made the
    retry a new message, mailed to all), and a recipient refused with a hard bounce, suppressed
    since, refused the whole retry, so those deferred were never mailed."""
    if any(outcome in ("reserved", "unknown") for _, outcome in slots.values()):
        return None
    answered = [r for r in recipients if r in slots and slots[r][1] in ("sent", "hard", "block")]
    rest = [r for r in recipients if r not in slots or slots[r][1] in ("released", "soft")]
    return list(dict.fromkeys(rest)) if answered and rest else None


def retry_of_own(slots: dict[str, tuple[int, str]], recipients: list[str]) -> list[str] | None:
    """As :func:`retry_recipients`, for a message carrying its sender's own Message-ID: a
    retry only when every one of ``recipients`` has a slot of it (the same message to the same
    people, tried again after a 4xx), so it goes to those not reached, never again to those
    reached or refused for good. A Message-ID that names someone it never went to is not this
    message retried (a script reusing one ID for other messages): None, and the gate refuses
    it as before (a new Message-ID), for what reached the others may not be this text."""
    if not recipients or not all(r in slots for r in recipients):
        return None
    return retry_recipients(slots, recipients)


def refused_before(slots: dict[str, tuple[int, str]], recipients: list[str]) -> list[str]:
    """Those of ``recipients`` a retry leaves out because the server refused them for good the
    first time (a hard bounce or a block): named to the sender, never silently dropped."""
    return [r for r in recipients if r in slots and slots[r][1] in ("hard", "block")]


def prepare(message: EmailMessage | bytes, mailbox: str) -> EmailMessage:
    """Parse if needed; make sure it has From (the mailbox), Date and a Message-ID.

    Date and Message-ID are added as raw text (parsed only if read): through the header
    registry they cost more than flattening the message."""
    message = headers.as_message(message)
    if isinstance(message, bytes):
        message = headers.header_section(message)
        msg = email.message_from_bytes(message, policy=email.policy.default)
    else:
        msg = message
    assert isinstance(msg, EmailMessage)
    headers.decode_utf8_fields(msg)
    headers.check_base64(msg)  # a base64 part of raw 8-bit bytes: no server may take it
    sender = headers.sender_of(msg).lower()
    if sender and sender != mailbox:
        raise DataError(
            f"From {sender} is not the mailbox {mailbox}; warmup sends only as the mailbox it gates"
        )
    # The first From's address is not all a recipient reads: a second From, another address in
    # the display name, a Sender or Resent-From go out too. Every one must name only the mailbox,
    # as the relay demands (an empty From is refused here, not doubled below).
    headers.check_sender(headers.sender_fields(msg), mailbox)
    headers.check_stamps((k.lower(), str(v)) for k, v in msg.raw_items())
    if "From" not in msg:
        msg["From"] = mailbox
    if "Date" not in msg:
        msg.set_raw("Date", headers.date_of(dt.datetime.now(dt.UTC)))
    if "Message-ID" not in msg:
        msg.set_raw("Message-ID", new_message_id(mailbox))
    return msg


def prepare_data(
    raw: bytes, mailbox: str, derive: Callable[[bytes], str] | None = None
) -> tuple[bytes, str, bool]:
    """The message as it goes upstream, its Message-ID, and whether that was derived here.

    A message without a Message-ID gets ``derive`` of the client's bytes when given (the relay:
    :func:`message_id_for` of them, the envelope's recipients and the mailbox's day, the same
    for a client's retry), else a random one.

    Missing From/Date/Message-ID headers are prepended rather than re-serialising the message,
    so the bytes the client wrote (and any signature over them) go out unchanged. Headers are
    read leniently (:mod:`warmup.headers`), as an upstream server may read them: a From,
    Sender or Resent-From/-Sender naming anyone but the mailbox, or a header line that is not
    ``Name: value``, is :class:`DataError`: the relay sends only as the mailbox. So is what
    is no message, or an undeclared body not in UTF-8 (:func:`warmup.headers.check_message`), a
    header in an 8-bit charset other than UTF-8 (:func:`warmup.headers.check_utf8`), in a
    MIME part's header too, a base64 part holding raw 8-bit bytes
    (:func:`warmup.headers.check_parts`), and a NUL byte anywhere. Lines ending CR CR LF end
    CR LF (:func:`warmup.headers.without_stray_cr`).
    """
    raw = headers.without_stray_cr(raw)
    try:
        found, end = headers.fields(raw)
    except headers.MalformedHeader:
        if not headers.body_only(raw):
            raise
        raw = b"\r\n" + raw  # an empty header section: what is added goes above it
        found, end = [], 0
    headers.check_message(raw, found, end)
    if not raw[:end].isascii():
        headers.check_utf8(raw, found)
    if not raw[end:].isascii():  # what no server without 8BITMIME could be sent
        headers.check_parts(raw)
    headers.check_nul(raw)  # after check_parts, which names a raw base64 part's NUL better
    headers.check_sender(found, mailbox)
    have = {f.name: f.value for f in reversed(found)}  # the first of each name wins
    headers.check_stamps((f.name, f.value) for f in found)
    added: list[tuple[str, str]] = []
    if "from" not in have:
        added.append(("From", mailbox))
    if not have.get("date"):
        added.append(("Date", headers.date_of(dt.datetime.now(dt.UTC))))
    message_id = " ".join(have.get("message-id", "").split())
    derived = not message_id and derive is not None
    if not message_id:
        message_id = derive(raw) if derive is not None else new_message_id(mailbox)
        added.append(("Message-ID", message_id))
    prefix = "".join(f"{name}: {value}\r\n" for name, value in added).encode()
    return prefix + raw, message_id, derived


def recipients_of(msg: EmailMessage) -> list[str]:
    """The recipients ``msg`` names, as sendmail -t reads them (:func:`headers.recipients_of`)."""
    return headers.recipients_of(msg)


def message_id_of(msg: EmailMessage) -> str:
    """The Message-ID header's value as :meth:`EmailMessage.get` would give it."""
    value = next((v for k, v in msg.raw_items() if k.lower() == "message-id"), None)
    if value is None or hasattr(value, "name") or _PLAIN_ID.fullmatch(value):
        return str(value)  # absent, parsed already, or what parsing would give back
    return str(msg["Message-ID"])
