"""What a queued message looks like as a pool member sends it: From (and, for a pool that asks,
Reply-To) set to the sending mailbox, so are any Sender, Resent-From and Resent-Sender, and dated
when it goes unless its author dated it; as the overflow channel sends it, its own sender kept.
The worker's (:mod:`warmup.outbox.worker`); pure, bytes in and out."""

from __future__ import annotations

import datetime as dt
import email.generator
import email.headerregistry
import email.message
import email.parser
import email.policy
import email.utils
import io
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
    others = all(
        _plainly_names(head.get_all(n, []), sender)
        for n in ("Sender", "Resent-From", "Resent-Sender")
        if n in head
    )
    if others and not reply_to and _plainly_names(head.get_all("From", []), sender):
        return data if "Date" in head else dated(data, now)
    if others:
        # From for another member, or a Reply-To (a pool's default): the fields written
        # into the raw bytes where the full parse would write the message back as it came
        # (a fifth of a pool's CPU a message went on the parse and the rewrite).
        done = _rewritten(data, head, sender, reply_to, now)
        if done is not None:
            return done
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
    out = io.BytesIO()
    _Writer(out, mangle_from_=False, policy=email.policy.SMTP).flatten(msg)
    return out.getvalue()


class _Writer(email.generator.BytesGenerator):
    """The bytes generator, but a part declared multipart in which the parser found no part
    (no opening boundary) and whose body holds 8-bit bytes is written as it came: the
    stdlib's writes such a body as :meth:`~email.message.Message.get_payload` decodes it,
    which it cannot encode (UnicodeEncodeError: a pool's message so was a traceback in the
    worker). An ASCII one it writes as it came already."""

    def _handle_multipart(self, msg: email.message.Message) -> None:
        text = msg.get_payload()
        if isinstance(text, str) and not text.isascii():
            self.write(msg._payload)  # type: ignore[attr-defined]  # the parsed text, 8-bit kept
        else:
            super()._handle_multipart(msg)  # type: ignore[misc]


# A header block :func:`as_sent_parsed` writes back byte for byte: CRLF lines of printable
# ASCII, each field "Name: value" (one space, then its value: the parse drops the blanks
# before it), no line over the 78 characters past which it refolds a field. Matched whole,
# each line with its CRLF (one call: line by line cost a pool's message ~30 calls).
_SAME_FIELDS = re.compile(
    rb"(?:(?=[^\r\n]{0,78}\r\n)(?:[!-9;-~]+: [!-~][ -~\t]*|[ \t]+[!-~][ -~\t]*)\r\n)+"
)
# The fields a pool member's message goes without (written anew), with their continuations
_DROPPED = {
    names: re.compile(
        rb"^(?:" + b"|".join(names) + rb"):[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", re.I | re.M
    )
    for names in ((b"from",), (b"reply-to",), (b"from", b"reply-to"))
}
# A message whose body a parse and write-back leave as they are: one part (a multipart's
# parts, or an attached message, are written again part by part).
_ONE_PART = re.compile(r"[ \t]*(?:text|application|image|audio|video)/", re.IGNORECASE)


def _rewritten(
    data: bytes, head: email.message.Message, sender: str, reply_to: bool, now: dt.datetime
) -> bytes | None:
    """:func:`as_sent_parsed`'s bytes for a message whose Sender, Resent-From and
    Resent-Sender plainly name ``sender`` (``head``: its raw fields), written without parsing
    it: its fields as they are but a From naming another (or none: ``sender``'s) and every
    Reply-To, a Date (if it has none), the new From and the Reply-To after them, each written
    as the full parse writes it; None when the full parse could write it otherwise (see
    :data:`_SAME_FIELDS`, :data:`_ONE_PART`; LF line ends, raw 8-bit fields)."""
    end = data.find(b"\r\n\r\n")
    ends = data.count(b"\r\n")
    if end < 0 or data.count(b"\n") != ends or data.count(b"\r") != ends:
        return None
    fields = data[: end + 2]
    if fields[:1] in (b" ", b"\t") or not _SAME_FIELDS.fullmatch(fields):
        return None
    kinds = head.get_all("Content-Type", [])
    if kinds and (len(kinds) > 1 or not _ONE_PART.match(str(kinds[0]))):
        return None
    froms = head.get_all("From", [])
    if len(froms) > 1 or (froms and not isinstance(froms[0], str)):
        return None
    added = [] if "Date" in head else [f"Date: {date_of(now)}\r\n"]
    names, shown = _from_field(froms, sender)
    if not names:
        added.append(_field("From", sender, shown))
    elif not reply_to:  # nothing to change: only dated, as the full parse leaves it
        return data if "Date" in head else dated(data, now)
    if reply_to:
        added.append(_field("Reply-To", sender))
    drop = (b"reply-to",) if names else (b"from", b"reply-to") if reply_to else (b"from",)
    kept = _DROPPED[drop].sub(b"", fields)
    return kept + "".join(added).encode("ascii", "surrogateescape") + data[end + 2 :]


def _from_field(froms: list[str], sender: str) -> tuple[bool, str]:
    """Whether the (one or no) raw From field ``froms`` names only ``sender`` as the full
    parse reads it (:func:`_names_only`), and its display name as the full parse takes it
    for the new From; told from the raw field when it is plain (:data:`_PLAIN_FIELD`)."""
    plain = _PLAIN_FIELD.fullmatch(froms[0]) if froms else None
    if plain is not None:
        shown = " ".join(froms[0].split("<", 1)[0].split()) if plain.group(1) else ""
        return (plain.group(1) or plain.group(2)).lower() == sender, shown
    parsed = [email.policy.SMTP.header_fetch_parse("From", v) for v in froms]
    return _names_only(parsed, sender), email.utils.parseaddr(str(parsed[0]))[0] if parsed else ""


# An address the header registry writes as it is: dot-atoms either side of the @.
_DOT_ATOMS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)
# A display name of plain words, which it writes as they are.
_WORDS = re.compile(r"[A-Za-z0-9!#$%&'*+/^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/^_`{|}~-]+)*")


def _field(name: str, address: str, shown: str = "") -> str:
    """The field ``name`` naming ``address`` (with the display name ``shown``) as the full
    parse writes it (through the header registry, unless that writes it as it reads)."""
    if _DOT_ATOMS.fullmatch(address) and (not shown or _WORDS.fullmatch(shown)):
        line = f"{name}: {shown} <{address}>" if shown else f"{name}: {address}"
        if len(line) <= 78:
            return line + "\r\n"
    policy = email.policy.SMTP
    value = email.headerregistry.Address(shown, addr_spec=address) if shown else address
    return policy.fold(name, policy.header_store_parse(name, value)[1])


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
