"""What a queued message looks like as a pool member sends it: From (and, for a pool that asks,
Reply-To) set to the sending mailbox, so are any Sender, Resent-From and Resent-Sender, and dated
when it goes unless its author dated it; as the overflow channel sends it, its own sender kept.
The worker's (:mod:`warmup.outbox.worker`); pure, bytes in and out."""

from __future__ import annotations

import datetime as dt
import email.headerregistry
import email.message
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from warmup.headers import date_of, decode_utf8_fields, sender_of

if TYPE_CHECKING:
    from warmup.ledger import PoolRow


def as_sent(data: bytes, sender: str, reply_to: bool, now: dt.datetime) -> bytes:
    """The queued bytes with From (and, for a pool that asks for it, Reply-To) set to the
    sending mailbox, and so is any Sender, Resent-From or Resent-Sender (a pool's message may
    name any member in them when queued; the gate lets go only what names the sender), and
    dated ``now`` unless its author dated it (the outbox stores no Date of its own: one of
    the day it was queued showed days back in the recipient's inbox).

    A field is compared by its address: ``From: Sales <sender>`` is already right, and kept
    with its display name (comparing the whole value replaced it with the bare address, so
    every queued message lost the name its author gave). One naming another member keeps
    its display name too."""
    # Most messages already name only the sender (one mailbox's queue): told from the raw
    # fields, without the header registry, whose parse of them cost the worker a fifth of its
    # rate. Anything less plain is decided by the full parse below, as before.
    head = _RAW_HEADERS.parsebytes(data, headersonly=True)
    if not reply_to and all(
        _plainly_names(head.get_all(n, []), sender)
        for n in ("From", "Sender", "Resent-From", "Resent-Sender")
        if n == "From" or n in head
    ):
        return data if "Date" in head else dated(data, now)
    return as_sent_parsed(data, sender, reply_to, now)


def as_sent_parsed(data: bytes, sender: str, reply_to: bool, now: dt.datetime) -> bytes:
    """:func:`as_sent` through the header registry: every field read as a reader would."""
    head = email.parser.BytesParser(policy=email.policy.SMTP).parsebytes(data, headersonly=True)
    present = [n for n in ("Sender", "Resent-From", "Resent-Sender") if n in head]
    if (
        not reply_to
        and _names_only(head.get_all("From", []), sender)
        and all(_names_only(head.get_all(n, []), sender) for n in present)
    ):
        # already as it must go: no need to parse and flatten the whole message
        return data if "Date" in head else dated(data, now)
    msg = email.message_from_bytes(data, policy=email.policy.SMTP)
    if "Date" not in msg:
        msg.set_raw("Date", date_of(now))
    # Refolded below: raw UTF-8 would become unknown-8bit. Not strict: queue add refuses a
    # header in another charset, and one queued before it did goes as it did then.
    decode_utf8_fields(msg, strict=False)
    for name in ("From", *present):
        values = msg.get_all(name, [])
        if not _names_only(values, sender):
            shown = email.utils.parseaddr(str(values[0]))[0] if values else ""
            del msg[name]
            msg[name] = email.headerregistry.Address(shown, addr_spec=sender) if shown else sender
    if reply_to:
        del msg["Reply-To"]
        msg["Reply-To"] = sender
    return msg.as_bytes(policy=email.policy.SMTP)


def dated(data: bytes, now: dt.datetime) -> bytes:
    """``data`` with a Date header of ``now`` put first (its bytes otherwise as they are)."""
    return f"Date: {date_of(now)}\r\n".encode() + data


# The raw fields (compat32: no header registry); the same field names as the full parse finds.
_RAW_HEADERS = email.parser.BytesParser(policy=email.policy.compat32)
# A raw field value that can only name the address it shows: the address alone, or in angle
# brackets after a display name of plain words (no quotes, comments, encoded words, lists).
_PLAIN_FIELD = re.compile(
    r"[ \t]*(?:(?:[A-Za-z0-9!#$%&'*+/^_`{|}~-]+[ \t]+)*[A-Za-z0-9!#$%&'*+/^_`{|}~-]*[ \t]*"
    r"<([A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+)>|([A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]+))[ \t]*"
)


def _plainly_names(values: Sequence[object], sender: str) -> bool:
    """Whether the raw header ``values`` are one field plainly naming ``sender``: when so,
    :func:`_names_only` of their parsed form says so too (when not, it may still)."""
    if len(values) != 1 or not isinstance(values[0], str):  # not str: raw 8-bit bytes in it
        return False
    m = _PLAIN_FIELD.fullmatch(values[0])
    return m is not None and (m.group(1) or m.group(2)).lower() == sender


def _names_only(values: list[object], sender: str) -> bool:
    """Whether the header ``values`` are one field naming ``sender`` (with any display name)."""
    return len(values) == 1 and email.utils.parseaddr(str(values[0]))[1].lower() == sender


def overflow_sender(data: bytes, pool: PoolRow, now: dt.datetime) -> tuple[bytes, str]:
    """The message as the overflow channel sends it (dated ``now`` unless it is), and its
    sender: its own From, else the pool's first member (set as From)."""
    head = email.parser.BytesParser(policy=email.policy.SMTP).parsebytes(data, headersonly=True)
    sender = sender_of(head).lower()
    if sender:  # its own sender fields go as they are: only dated
        return (data if "Date" in head else dated(data, now)), sender
    sender = pool.members[0].address if pool.members else "postmaster@localhost"
    return as_sent(data, sender, False, now), sender
