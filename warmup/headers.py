"""A message's headers as warmup checks, reads and writes them, before anything is reserved.

The raw header section is read by :mod:`warmup.headerlines` (the lenient reader the relay
uses); here are the checks of what is read (no message at all, text whose charset no reader can
tell, stamps given twice or empty, an oversized message or line, 8-bit data no server without
8BITMIME can take, a sender other than the mailbox), the fields a message is sent with (its
recipients, sender and thread), and the email package's side: raw UTF-8 fields decoded, a
message flattened with :data:`SMTP`, what a script gives read as an :class:`EmailMessage`
(:func:`as_message`).
"""

from __future__ import annotations

import email.errors
import email.policy
import email.utils
import functools
import re
import sys
from collections.abc import Iterable, Iterator
from email.message import EmailMessage, Message
from typing import Any, NamedTuple

from warmup.errors import DataError, UsageError
from warmup.headerlines import (
    EOL,
    Field,
    MalformedHeader,
    body_only,
    fields,
    line_start,
    quoted_start,
    without_from_line,
    without_stray_cr,
)
from warmup.headerlines import without as without  # warmup.headers.without, as before
from warmup.lazyre import compiled_later
from warmup.words import byte_size

# Anything that looks like an address, wherever it stands (display names and comments too):
# a run of these characters with an '@' inside it. Found as runs, then those with an '@'
# kept: one pattern "run@run" tried again from each character of a long run without an '@'
# (sendmail -F with 10,000 letters) took seconds, quadratic in the run's length.
_WORD = re.compile(r"[^\s<>()\[\],;:\"'\\]+")
SENDER_FIELDS = ("from", "sender", "resent-from", "resent-sender")
THREAD_FIELDS = ("in-reply-to", "references")
_MSG_ID = re.compile(r"<[^<>\s]+>")


def addresses_like(text: str) -> list[str]:
    """What looks like an address in ``text``, wherever it stands: what the sender check
    finds in a From header's display name, too."""
    return [word for word in _WORD.findall(text) if "@" in word[1:-1]]


def date_of(at: Any) -> str:
    """A Date field's value for the aware datetime ``at``, in UTC as ``+0000``: the instant is
    known. (``formatdate(localtime=False)`` writes ``-0000``, which RFC 5322 3.3 reserves for
    a time whose zone is unknown.)"""
    import datetime as dt

    return email.utils.format_datetime(at.astimezone(dt.UTC))


def header_section(raw: bytes) -> bytes:
    """``raw`` as the relay reads it, for a caller about to hand it to Python's parser:
    without a UTF-8 BOM (a Windows editor's .eml starts with one, as ``send --eml`` and text
    given to :meth:`warmup.Gate.send` drop it) and a first mbox ``From_`` line, its header
    lines checked by :func:`fields` (:class:`MalformedHeader`), and text with no header at all
    (:func:`body_only`) given an empty header section, and what is no message or holds an
    undeclared body in another charset than UTF-8 refused (:func:`check_message`). The parser
    drops a line it cannot read as a header (``: x``, a first line that begins with white
    space) with only a defect, and the message went without it. Lines ending CR CR LF end
    CR LF (:func:`without_stray_cr`)."""
    raw = without_from_line(without_stray_cr(raw.removeprefix(b"\xef\xbb\xbf")))
    if body_only(raw):
        eol = EOL.search(raw)
        raw = (eol[0] if eol else b"\r\n") + raw
        check_message(raw, [], 0)
        return raw
    check_message(raw, *fields(raw))
    return raw


# The fields a message has: RFC 5322 3.6 (with its trace and Resent- fields), MIME's (RFC 2045),
# and the families mail software writes (X-Mailer, List-Unsubscribe, ARC-Seal, DKIM-Signature).
MESSAGE_FIELDS = frozenset(
    {
        *("date", "from", "sender", "reply-to", "to", "cc", "bcc", "message-id", "subject"),
        *("in-reply-to", "references", "comments", "keywords", "return-path", "received"),
        "mime-version",
    }
)
_FIELD_FAMILIES = ("resent-", "content-", "x-", "list-", "arc-", "dkim-")


def check_message(raw: bytes, found: list[Field], end: int) -> None:
    """Refuse what is clearly no mail message, or whose text no reader can tell, before
    anything is reserved (``found``, ``end``: :func:`fields` of ``raw``; none and 0 for text
    with no header section at all, which is all body).

    A header section naming none of the fields a message has (:data:`MESSAGE_FIELDS`) is
    :class:`MalformedHeader`: a JSON object piped to ``send --eml - --to lead@...`` went out
    with ``{"to"`` as a header (RFC 5322 allows the name) and an empty body. A body of 8-bit
    text that is not UTF-8 in a message that declares no Content-Type (RFC 2045: read as
    us-ascii) is :class:`MalformedBody`: which charset it is cannot be told from the bytes, so
    it cannot be declared, and sent as it is every recipient read mojibake (a UTF-8 one is
    declared on the way out: :func:`warmup.downgrade.declared`)."""
    if found and not any(
        f.name in MESSAGE_FIELDS or f.name.startswith(_FIELD_FAMILIES) for f in found
    ):
        first = raw[found[0].start : found[0].end].rstrip(b"\r\n")
        raise MalformedHeader(
            f"this is not a mail message: its headers name none of the fields a message has "
            f"(From, To, Subject, Date, Message-ID, MIME-Version, Content-Type, ...); it begins "
            f"{quoted_start(first)}. Give headers, an empty line, then the body (begin with an "
            f"empty line to send the text as body alone)"
        )
    _check_multipart(raw, found, end)
    if raw[end:].isascii():
        return
    for text in undeclared_texts(raw, found, end):
        body = text.body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            what, where = ("the body", "message") if text.top else ("a MIME part's body", "part")
            raise MalformedBody(
                f"{what} is 8-bit text that is not UTF-8 (byte 0x{body[exc.start]:02x} at octet "
                f"{text.head_end + exc.start}: GBK? Latin-1?) and the {where} declares no "
                f"charset, so no reader can tell it; convert it to UTF-8 (iconv -t UTF-8), or "
                f"declare it (Content-Type: text/plain; charset=gbk)"
            ) from None


def _check_multipart(raw: bytes, found: list[Field], end: int) -> None:
    """Refuse a message declared multipart whose body is no multipart: a Content-Type naming no
    boundary, or one whose boundary no line of the body opens (a script's template that
    changed the boundary in one place only). Sent as it was, every reader showed an empty
    message (the preamble is not shown), and the lead got a blank mail from the mailbox."""
    field = next((f for f in found if f.name == "content-type"), None)
    if field is None or not field.value.lstrip()[:10].lower().startswith("multipart/"):
        return
    ctype, _, boundary = _content_type(field.value)
    if not ctype.startswith("multipart/"):
        return
    if not boundary:
        raise MalformedHeader(
            f"the message's Content-Type is {ctype}, but names no boundary, so no reader can "
            f'find its parts; name it (boundary="...", the text of its parts\' delimiter '
            f"lines), or make the Content-Type text/plain"
        )
    delimiter = rb"(?:\r\n|\n|\r)--" + re.escape(boundary.encode()) + rb"[ \t]*(?:\r\n|\n|\r|\Z)"
    if boundary.isascii() and re.compile(delimiter).search(raw, end) is None:
        raise MalformedBody(
            f"the message's Content-Type is {ctype}, but its body holds no part (no line "
            f"'--{boundary}' opens one), so readers show an empty message; fix the boundary "
            f"or the Content-Type"
        )


def check_flattened(raw: bytes) -> None:
    """:func:`check_message` of the bytes an :class:`EmailMessage` object flattened to, read as
    given bytes are (:func:`header_section`): an object a script built or parsed was never
    read so, and its 8-bit text in another charset than UTF-8, naming none, went out
    undeclared (:class:`MalformedBody` now, nothing reserved or queued)."""
    found, end = fields(raw)
    check_message(raw, found, end)


class Text(NamedTuple):
    """Text of a message that names no charset, so is read as us-ascii (RFC 2045 5.2): the
    message itself or one of its MIME parts, with no Content-Type (``field`` None: text/plain,
    but in a multipart/digest) or a ``text/*`` one without ``charset=`` (and, for text/html,
    none in a ``<meta>`` of its own). Offsets are the whole message's."""

    top: bool  # the message itself, not a part
    field: Field | None  # its Content-Type
    start: int  # where its header section begins
    head_end: int  # where its header section ends: the empty line's offset
    body: bytes  # from the empty line on, as it goes
    encoding: str  # its Content-Transfer-Encoding, lower case ('' for none)
    names: frozenset[str]  # the names of its header fields


_MAX_DEPTH = 20  # nested multiparts read; deeper ones are not looked into
_META_CHARSET = re.compile(rb"<meta[^>]+charset", re.IGNORECASE)


def undeclared_texts(raw: bytes, found: list[Field], end: int) -> Iterator[Text]:
    """The text of ``raw`` (``found``, ``end``: its :func:`fields`) that declares no charset,
    the message's own and its MIME parts', read from the bytes as they go: multipart bodies
    split at their boundaries, each part's header read by :func:`fields` (a part that is no
    header section is left out). Attached messages (message/rfc822) are not looked into."""
    return _texts(raw, 0, found, end, True, False, 0)


def _texts(
    raw: bytes, base: int, found: list[Field], end: int, top: bool, digest: bool, depth: int
) -> Iterator[Text]:
    field = next((f for f in found if f.name == "content-type"), None)
    cte = next((f.value.lower() for f in found if f.name == "content-transfer-encoding"), "")
    names = frozenset(f.name for f in found)
    if field is None:
        if not digest:  # a part of a digest is message/rfc822 by default (RFC 2046 5.1.5)
            yield Text(top, None, base, base + end, raw[end:], cte, names)
        return
    ctype, charset, boundary = _content_type(field.value)
    if ctype.startswith("multipart/") and boundary and depth < _MAX_DEPTH:
        for start, stop in _parts(raw, end, boundary):
            part = raw[start:stop]
            try:
                inner, inner_end = fields(part)
            except MalformedHeader:
                continue
            digest = ctype == "multipart/digest"
            yield from _texts(part, base + start, inner, inner_end, False, digest, depth + 1)
    elif ctype.startswith("text/") and not charset:
        body = raw[end:]
        if ctype == "text/html" and _META_CHARSET.search(body):
            return
        at = Field(field.name, field.value, base + field.start, base + field.end)
        yield Text(top, at, base, base + end, body, cte, names)


_TYPE = re.compile(r"\s*([!#-'*+.0-9A-Z^-~-]+/[!#-'*+.0-9A-Z^-~-]+)\s*(?:;|\Z)", re.IGNORECASE)
_CHARSET = re.compile(r";\s*charset\s*(?:\*[0-9]*\*?\s*)?=", re.IGNORECASE)  # RFC 2231's too
_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))', re.IGNORECASE)


def _content_type(value: str) -> tuple[str, bool, str | None]:
    """A Content-Type's type (lower case; '' when it is no ``type/subtype``: text/plain to a
    reader, but not the script's to have said), whether it names a charset, and its boundary
    (None when it names none). Read with a few patterns: the email package's parameter parser
    cost a relayed message more than the rest of its checks."""
    m = _TYPE.match(value)
    if m is None:
        return "", False, None
    boundary = _BOUNDARY.search(value, m.end() - 1)
    if boundary is None:
        found = None
    elif boundary[1] is not None:
        found = re.sub(r"\\(.)", r"\1", boundary[1])
    else:
        found = boundary[2]
    return m[1].lower(), _CHARSET.search(value, m.end() - 1) is not None, found


def _parts(raw: bytes, end: int, boundary: str) -> Iterator[tuple[int, int]]:
    """The spans of the parts of the multipart body ``raw[end:]`` (RFC 2046 5.1.1): from after
    a delimiter line to the line break before the next; none after the close delimiter."""
    if not boundary.isascii():
        return
    delimiter = re.compile(
        rb"(?:\r\n|\n|\r)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?=\r\n|\n|\r|\Z)"
    )
    start = None
    for m in delimiter.finditer(raw, end):
        if start is not None:
            yield start, m.start()
        if m.group(1):
            return
        eol = EOL.match(raw, m.end())
        start = eol.end() if eol else m.end()


# Fields RFC 5322 (3.6) allows once, and Gmail refuses a message holding two of ("not RFC
# 5322 compliant: duplicate headers", a 5.7.1 block counted against the mailbox). Bcc, also
# one, is not sent at all.
ONCE = {
    "date": "Date",
    "message-id": "Message-ID",
    "from": "From",
    "sender": "Sender",
    "reply-to": "Reply-To",
    "to": "To",
    "cc": "Cc",
    "subject": "Subject",
    "in-reply-to": "In-Reply-To",
    "references": "References",
}


def check_stamps(found: Iterable[tuple[str, str]]) -> None:
    """:class:`MalformedHeader` when a Date or Message-ID field is there but empty, or a
    field of :data:`ONCE` there twice (``found``: each field's lower-case name and value, in
    order). Adding a Date or Message-ID to an empty one would leave the message with two (RFC
    5322 allows one); keeping it sends an empty one, and the ledger would record an ID the
    message does not carry. Two went out as they came: the ledger kept the first ID, a
    recipient's client may thread by the other, and a bounce quoting it matched no send; two
    To (or Subject, From, ...) fields were sent, and Gmail blocks such a message."""
    seen: set[str] = set()
    for name, value in found:
        label = ONCE.get(name)
        if label is None:
            continue
        if name in seen:
            keep = (
                "keep one, or leave it out (warmup adds one)"
                if name in ("date", "message-id")
                else "keep one, naming every address, comma-separated (Gmail blocks a "
                "message with two)"
                if name in ("to", "cc", "reply-to")
                else "keep one (Gmail blocks a message with two)"
            )
            raise MalformedHeader(f"header {label} appears twice; a message has one: {keep}")
        seen.add(name)
        if name not in ("date", "message-id"):
            continue
        if not value.strip():
            raise MalformedHeader(
                f"header {label} is empty; give it a value or leave it out (warmup adds one)"
            )
        if name == "date" and email.utils.parsedate_tz(value) is None:
            # RFC 5322 3.3 (its obsolete forms too, as parsedate reads them): a Date no reader
            # can read is scored as spam (SpamAssassin's INVALID_DATE), and sorts anywhere
            shown = " ".join(value.split())
            raise MalformedHeader(
                f"header Date {shown[:80]!r} is not an RFC 5322 date (as 'Mon, 7 Dec 2026 "
                f"09:30:00 +0800'); fix it or leave it out (warmup adds one)"
            )
        if name == "message-id":
            check_message_id_length(value)
        if name == "message-id" and not _MSG_ID_SHAPE.fullmatch(_COMMENT.sub("", value).strip()):
            # Gmail refuses it ("550-5.7.1 ... missing a valid messageId header"): a block
            # recorded against the recipient; and the ledger keyed the send on that text.
            shown = " ".join(value.split())
            raise MalformedHeader(
                f"header Message-ID {shown!r} is not one <id@domain>; fix it or leave it out "
                f"(warmup adds one)"
            )


def check_message_id_length(value: str) -> None:
    """:class:`MalformedHeader` when the Message-ID ``value`` is over :data:`LINE_LIMIT` octets
    in UTF-8 (as ``warmup record`` and ``warmup import`` bound theirs). The ledger keys a send
    on it: PostgreSQL's index refused a row of some 2,700 octets ("index row size exceeds btree
    maximum"), reported as the ledger being unavailable (exit 69) rather than as bad data,
    and SQLite took what PostgreSQL refused."""
    octets = len(value.encode("utf-8", "surrogatepass"))
    if octets > LINE_LIMIT:
        shown = " ".join(value.split())[:60]
        raise MalformedHeader(
            f"Message-ID {shown!r}... is {octets} octets long; at most {LINE_LIMIT} (a header "
            f"line's length): give a shorter one or leave it out (warmup adds one)"
        )


# RFC 5322 3.6.4's msg-id, read loosely: what a new message's Message-ID must look like (the
# ids it names in In-Reply-To/References are read as any <...>: _MSG_ID)
_MSG_ID_SHAPE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_COMMENT = re.compile(r"\([^()]*\)")


LINE_LIMIT = 998  # octets of a line without its CRLF (RFC 5321 4.5.3.1.6, RFC 5322 2.1.1)
MESSAGE_LIMIT = 25 * 1024 * 1024  # octets of a message: what the big providers accept


def size_error(size: int | None = None) -> DataError:
    """:class:`DataError` for a message of ``size`` octets (None: not read to its end) over
    :data:`MESSAGE_LIMIT`."""
    what = f"is {byte_size(size)}, over" if size is not None else "is over"
    return DataError(
        f"the message {what} the {byte_size(MESSAGE_LIMIT)} providers accept; link large "
        f"files instead of attaching them"
    )


def check_size(raw: bytes) -> None:
    """:class:`DataError` when ``raw`` is larger than a provider takes: it would wait in the
    outbox only to be refused at the end of DATA (or, at a gigabyte, not fit in a ledger row)."""
    if len(raw) > MESSAGE_LIMIT:
        raise size_error(len(raw))


def check_line_length(raw: bytes) -> None:
    """:class:`DataError` naming the first line of ``raw`` over 998 octets: servers refuse the
    message at the end of DATA ('500 Line too long'), which reads as a retryable failure, and
    the relay refuses such a line from its client."""
    if len(raw) <= LINE_LIMIT:
        return
    lines = raw.splitlines()  # CRLF, LF or CR, as dot_stuff sends them; in C, ~2 us a KB
    if max(map(len, lines)) <= LINE_LIMIT:
        return
    line = next(x for x in lines if len(x) > LINE_LIMIT)
    shown = line_start(line[:20])  # not its number: From, Date, ... may have been added
    raise DataError(
        f"a line of the message is {len(line)} octets long ('{shown}...'); mail allows at most "
        f"{LINE_LIMIT} (RFC 5321): encode the body quoted-printable or base64 (as "
        f"EmailMessage.set_content does) or break the line"
    )


def thread_ids(raw: bytes) -> list[str]:
    """The Message-IDs (``<...>``, as stored) that ``raw``'s In-Reply-To and References name,
    In-Reply-To's first; only the header section is read, and a malformed one names none."""
    low = raw.lower()  # a field name is ASCII: its case folds as bytes.lower() folds it
    if b"in-reply-to" not in low and b"references" not in low:
        # No field can be named so: the worker asks this of every pool's message, and most
        # start no thread (the parse of their header section was ~2% of a pool's message;
        # a case-blind regex search, 13 us for 300 bytes, nearly as much as the parse).
        return []
    try:
        found, _ = fields(raw)
    except MalformedHeader:
        return []
    ids: dict[str, None] = {}
    for name in THREAD_FIELDS:
        for f in found:
            if f.name == name:
                ids.update(dict.fromkeys(_MSG_ID.findall(f.value)))
    return list(ids)


_UNFOLD = re.compile(r"\r\n|\n|\r")
_RAW_8BIT = re.compile("[\udc80-\udcff]")  # a byte >= 0x80 as Python's parser keeps it


def decode_utf8_fields(msg: EmailMessage, *, strict: bool = True) -> None:
    """Re-set as text, in place and in order, the header fields that hold raw UTF-8 (a script
    writing ``Subject: 中文`` to sendmail), so that writing the message folds them as RFC 2047
    ``=?utf-8?...?=`` words.

    Python's parser keeps such bytes as surrogates; a field it refolds on the way out (one
    over 78 characters, e.g. a subject of 24 Chinese characters) was written as
    ``=?unknown-8bit?b?...?=``, which mail clients do not decode, and a From display name in
    raw UTF-8 was refused as no plain address. Every part's fields too: an attachment's raw
    UTF-8 file name went out as ``filename*0*=unknown-8bit''...``.

    A field in another 8-bit charset (GBK from a Chinese Windows script) is
    :class:`MalformedHeader`: which charset it is cannot be told from the bytes, and kept as
    it came every recipient read mojibake. ``strict=False`` keeps it as it came (for messages
    queued before it was refused)."""
    for part in msg.walk():
        _decode_utf8_fields(part, part is msg, strict)


def _decode_utf8_fields(msg: Message, top: bool, strict: bool) -> None:
    items = list(msg.raw_items())
    fixed: list[tuple[str, Any]] = []
    changed = False
    for name, value in items:
        if isinstance(value, str) and not hasattr(value, "name") and _RAW_8BIT.search(value):
            field: Any = value
            try:
                text = value.encode("ascii", "surrogateescape").decode("utf-8")
            except UnicodeDecodeError:
                if strict:
                    raise _not_utf8(name, top) from None
            else:
                try:
                    field = msg.policy.header_factory(name, _UNFOLD.sub("", text))  # type: ignore[attr-defined]
                except _REGISTRY_FAILURES:
                    pass  # kept as it came
            changed = changed or field is not value
            fixed.append((name, field))
        else:
            fixed.append((name, value))
    if not changed:
        return
    for name in dict.fromkeys(n.lower() for n, _ in items):
        del msg[name]
    for name, value in fixed:
        msg.set_raw(name, value)


def check_utf8(raw: bytes, found: list[Field]) -> None:
    """:class:`MalformedHeader` for the first of ``found`` (:func:`fields` of ``raw``) whose
    bytes are 8-bit but not UTF-8, as :func:`decode_utf8_fields` refuses it."""
    for f in found:
        line = raw[f.start : f.end]
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                label = "-".join(p.capitalize() for p in f.name.split("-"))
                raise _not_utf8(label, True) from None


class MalformedBody(DataError):
    """A message body no server may be sent as it is (RFC 2045 / 6152)."""


def check_nul(raw: bytes) -> None:
    """:class:`MalformedBody` when ``raw`` holds a NUL byte outside a MIME part declared
    ``Content-Transfer-Encoding: binary``: no text may carry one (RFC 5322 text; RFC 2045 7bit
    and 8bit data), and a server refusing it at the end of DATA spends the slot. A part that
    says it is binary is re-encoded base64 for a server without 8BITMIME
    (:mod:`warmup.downgrade`), as before."""
    at = raw.find(b"\0")
    if at < 0:
        return
    if not _nul_only_in_binary_parts(raw):
        # Named by the text around it, not its octet: From, Date, Message-ID ... may have been
        # added before it ('octet 161' of a file whose NUL is its 54th), as check_line_length
        # names a line by its start, not its number.
        start = max(raw.rfind(b"\n", 0, at) + 1, at - 20)
        end = raw.find(b"\n", at)
        cut = "..." if start > 0 and raw[start - 1 : start] != b"\n" else ""
        shown = line_start(raw[start : end if end >= 0 else len(raw)].rstrip(b"\r"))
        raise MalformedBody(
            f"the message holds a NUL byte (in '{cut}{shown}'), which no mail may carry: is it "
            f"UTF-16 or binary? Send text as UTF-8, attach binary data base64-encoded"
        )


def _nul_only_in_binary_parts(raw: bytes) -> bool:
    """Whether every NUL of ``raw`` (which holds one) lies in the payload of a leaf MIME part
    declared ``binary``: none in a header section, a preamble or an epilogue."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    for part in msg.walk():
        if any("\0" in str(v) for v in part.values()):
            return False
        if part.is_multipart():
            if "\0" in (part.preamble or "") or "\0" in (part.epilogue or ""):
                return False
            continue
        payload = part.get_payload()
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if isinstance(payload, str) and "\0" in payload and cte != "binary":
            return False
    return True


def check_parts(raw: bytes) -> None:
    """Refuse the 8-bit data of ``raw``'s MIME parts that cannot be made 7-bit for a server
    without 8BITMIME (RFC 6152), before any slot is reserved: a part's header field in an
    8-bit charset other than UTF-8 (:class:`MalformedHeader`, as :func:`decode_utf8_fields`
    refuses it: which charset it is cannot be told, so it cannot be RFC 2047 encoded), and a
    base64 part holding 8-bit bytes (:func:`check_base64`). The top-level header section is
    :func:`check_utf8`'s."""
    if raw.isascii():
        return
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part is not msg:
            _decode_utf8_fields(part, False, True)  # a throwaway parse: only its error counts
    check_base64(msg)


def check_base64(msg: Message) -> None:
    """:class:`MalformedBody` for a part of ``msg`` declared base64 that holds raw 8-bit bytes:
    base64 data is the 65 characters of RFC 2045 6.8 and decoders drop any other byte, so its
    data was never encoded, and no re-encoding can tell what it was meant to be."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        payload = part.get_payload()
        if cte == "base64" and isinstance(payload, str) and not payload.isascii():
            raise MalformedBody(
                "a MIME part declared Content-Transfer-Encoding: base64 holds raw 8-bit bytes "
                "(its data was never encoded); encode it as base64, as mail libraries do"
            )


def _not_utf8(name: str, top: bool) -> MalformedHeader:
    where = "" if top else " of a MIME part"
    return MalformedHeader(
        f"header {name}{where} is not UTF-8 (8-bit bytes in another charset, e.g. GBK); "
        f"write it in UTF-8 or encode it as RFC 2047 (=?gbk?b?...?=, as mail libraries do)"
    )


def sender_fields(msg: EmailMessage) -> list[Field]:
    """``msg``'s From/Sender/Resent-From/Resent-Sender fields, unfolded, as :func:`check_sender`
    reads them."""
    return [
        Field(name.lower(), _UNFOLD.sub("", str(value)).strip(), 0, 0)
        for name, value in msg.raw_items()
        if name.lower() in SENDER_FIELDS
    ]


def check_sender(found: list[Field], mailbox: str) -> None:
    """:class:`DataError` unless every From/Sender/Resent-From/Resent-Sender names only
    ``mailbox``: one parseable address, and no other address anywhere in the field (a
    display name or comment that reads like another address counts)."""
    for f in found:
        if f.name in SENDER_FIELDS:
            # A script sends the same From every time: the stdlib parser runs once for it.
            check = _sender_problem if len(f.value) <= 998 else _sender_problem.__wrapped__
            problem = check(f.name, f.value, mailbox)
            if problem:
                raise DataError(problem)


def check_sender_among(found: list[Field], mailboxes: list[str], pool: str) -> None:
    """:func:`check_sender` for a pool: each sender field names one of ``mailboxes``."""
    for f in found:
        if f.name in SENDER_FIELDS:
            check = _sender_problem if len(f.value) <= 998 else _sender_problem.__wrapped__
            problems = [check(f.name, f.value, box) for box in mailboxes]
            if all(problems):
                label = "-".join(p.capitalize() for p in f.name.split("-"))
                raise DataError(
                    f"header {label} ({f.value[:80]!r}) does not name one member of pool "
                    f"{pool} ({', '.join(mailboxes)}); write it as a member, or leave From out "
                    f"(the sending member is set)"
                )


# What the header registry's parser raises on some headers its own writer folds (a group folded
# after an encoded comma: AttributeError 'Group' object has no attribute 'local_part').
_REGISTRY_FAILURES = (
    AttributeError,
    LookupError,
    TypeError,
    ValueError,
    email.errors.HeaderParseError,
)


def _unreadable(name: str, exc: Exception) -> DataError:
    return DataError(
        f"the message's {name} header cannot be read by Python's email parser "
        f"({type(exc).__name__}); rewrite it as plain addresses (Name <local@domain>, ...)"
    )


def flatten(msg: Message, policy: email.policy.Policy | None = None) -> bytes:
    """``msg``'s bytes as they go (``policy``: :data:`SMTP` by default). The registry folds
    some headers it cannot parse back (a group of a Resent-Bcc folded after an encoded comma):
    that header is the message's fault, a :class:`DataError` naming it (exit 65), not a
    traceback."""
    try:
        return msg.as_bytes(policy=policy or SMTP)
    except _REGISTRY_FAILURES as exc:
        for name, value in msg.raw_items():  # items() parses: it raises as well
            try:
                (policy or SMTP).fold_binary(name, value)
            except _REGISTRY_FAILURES:
                raise _unreadable(name, exc) from None
        raise _unwritable_text(msg) or _unreadable("one", exc) from None


def sendable(msg: Message, policy: email.policy.Policy | None = None) -> bytes:
    """``msg``'s bytes as :func:`flatten` writes them, refused (:class:`DataError`, before any
    slot is reserved) when no server would take them: over the size providers accept, a NUL
    byte, a line over 998 octets, 8-bit text undeclared (:func:`check_flattened`). The one
    check of the gate, the outbox and ``send --dry-run``, which said "Would send" of a message
    holding a NUL that the send itself refused."""
    data = flatten(msg, policy)
    check_size(data)
    check_nul(data)
    check_line_length(data)
    check_flattened(data)  # an object's text, as bytes' (header_section)
    return data


def _unwritable_text(msg: Message) -> MalformedBody | None:
    """:class:`MalformedBody` for the first text of ``msg`` no generator can write, None for
    none: a ``str`` body with characters beyond ASCII and no charset to encode them in
    (``set_payload(text)``: the generator writes it as ASCII and fails, a UnicodeEncodeError
    that read as a header's fault), or such a multipart preamble or epilogue. Text parsed from
    bytes keeps its 8-bit bytes as surrogates, which it writes back as they were."""
    for part in msg.walk():
        top = part is msg
        texts: list[tuple[object, str]] = [(part.get_payload(), "body")]
        if part.is_multipart():
            texts = [(part.preamble, "preamble"), (part.epilogue, "epilogue")]
        for text, what in texts:
            if not isinstance(text, str) or _writable(text):
                continue
            whose = "the message's" if top else "a MIME part's"
            if part.get_content_maintype() == "multipart":  # parsed bytes: no part found
                return MalformedBody(
                    f"{whose} Content-Type is {part.get_content_type()}, but its body holds no "
                    f"part (no line '--{part.get_boundary()}' opens one); fix the boundary or "
                    f"the Content-Type"
                )
            if what != "body":
                return MalformedBody(
                    f"{whose} {what} is text with non-ASCII characters, which mail cannot "
                    f"carry there; make it ASCII or leave it out"
                )
            return MalformedBody(
                f"{whose} body is text with non-ASCII characters but no charset to encode "
                f"them in (set_payload(text) with none); give it with set_content(text), "
                f"which encodes it as UTF-8, or name one: set_payload(text, charset='utf-8')"
            )
    return None


def _writable(text: str) -> bool:
    """Whether a generator writes ``text``: ASCII, but for 8-bit bytes kept as surrogates."""
    try:
        text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def addresses_of(msg: EmailMessage, names: tuple[str, ...] = ("To", "Cc", "Bcc")) -> list[str]:
    """The addresses of ``msg``'s ``names`` headers, read by the header registry.

    A header the registry cannot read is the message's fault, not ours: a :class:`DataError`
    naming it (exit 65), before anything is reserved or sent."""
    values: list[str] = []
    for name in names:
        try:
            values += [str(v) for v in msg.get_all(name, [])]
        except _REGISTRY_FAILURES as exc:
            raise _unreadable(name, exc) from None
    return [addr for _, addr in email.utils.getaddresses(values) if addr]


RESENT = ("Resent-To", "Resent-Cc", "Resent-Bcc")


def recipients_of(msg: EmailMessage) -> list[str]:
    """The recipients a message names, read as sendmail -t reads them: Resent-To/-Cc/-Bcc when
    it has any Resent-* field (it is being resent: sendmail's EF_RESENT, Postfix's cleanup take
    a Resent-From or Resent-Date alone as that mark), else To, Cc and Bcc. Read as To/Cc/Bcc
    (``warmup send --eml`` and the Python API did), a resent message went to its first
    recipients again and never to those it was resent to; a Resent-Bcc is removed like a Bcc,
    so its recipients were silently never mailed. More than :data:`MANY` are read from the
    raw text when their forms allow (:func:`raw_recipients`: the same addresses), not by the
    registry, which took minutes for 100,000 (``sendmail -t``)."""
    quick = raw_recipients(msg)
    if quick is not None and len(quick) > MANY:
        return quick
    if any(name.lower().startswith("resent-") for name in msg):
        return addresses_of(msg, RESENT)
    return addresses_of(msg)


# The forms of a To/Cc/Bcc read here from the raw text (RFC 5322 3.4), in ASCII: elements
# separated by commas, each 'local@domain', or a display name of words (atoms, quoted strings,
# RFC 2047 encoded words) before '<local@domain>', or a group of them ('Team: a@x, b@y;'), with
# spaces and (comments) between. The address itself is a dot-atom at a domain of letters,
# digits and hyphens, nothing quoted, commented or literal inside it: read so by every parser,
# the header registry's too. Anything else (an obsolete phrase 'J. Smith', a nested comment,
# 8-bit text) is left to the registry. What a display name or a comment says is not read: it
# names no recipient, however it decodes.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATEXT}(?:\.{_ATEXT})*"
_PLAIN_ADDR = rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_CFWS = r"(?:[ \t]|\([ \t!-'*-\[\]-~]*\))*"  # white space and unnested comments
# charset (RFC 2231 language), B or Q, text: Q text as a phrase's may hold it (RFC 2047
# 5(3): letters, digits, ! * + - / _ and =XX); the registry read a '<' or a bare '=' in one
# otherwise (hypothesis: '=?utf-8?q?<?= =?utf-8?q?=>?=:0@0;' is no group to it), so such a
# word is the registry's to read
_EW = (
    r"=\?[A-Za-z0-9_-]+(?:\*[A-Za-z0-9-]+)?\?"
    r"(?:[bB]\?(?:[A-Za-z0-9+/]+={0,2})?|[qQ]\?(?:[A-Za-z0-9!*+/_-]|=[0-9A-Fa-f]{2})*)\?="
)
_NAME_WORD = (
    rf"(?:{_EW}(?=[ \t(<:])"  # an encoded word, whole
    r'|"(?:[ \t!#-\[\]-~]|\\[ \t!-~])*"'  # a quoted string
    rf"|(?!=\?){_ATEXT}(?<!\?=)(?=[ \t(<:\"]))"  # an atom that is no encoded word's piece
)
_PHRASE = rf"{_NAME_WORD}(?:{_CFWS}{_NAME_WORD})*"
# One mailbox, its address in group 1 (after a display name) or 2 (bare), then what ends it.
_MAILBOX = compiled_later(
    rf"{_CFWS}(?:(?:{_PHRASE}{_CFWS})?<({_PLAIN_ADDR})>|({_PLAIN_ADDR})){_CFWS}"
)
_GROUP_START = compiled_later(rf"{_CFWS}{_PHRASE}{_CFWS}:")
_EMPTY = compiled_later(rf"{_CFWS}(?=,|;|\Z)")  # an element with no address: 'a@x,,b@y'
_GROUP_END = compiled_later(rf";{_CFWS}")
_LINE_BREAKS = compiled_later(r"[\r\n]")
_EW_ANYWHERE = compiled_later(_EW)


def _words_decode(value: str) -> bool:
    """Whether every encoded word of ``value`` (each '=?' it holds begins one) decodes as the
    registry decodes it (in a display name or a quoted string), to no line break: it refuses
    a display name holding one ('=?utf-8?b?Cg==?=' is LF: ValueError, the header unread)."""
    import importlib

    # the registry's own decoder (get_encoded_word's), a tenth of its cost with the tokens
    decode = importlib.import_module("email._encoded_words").decode
    if "=?" in _EW_ANYWHERE.sub("", value):
        return False
    for word in _EW_ANYWHERE.findall(value):
        try:
            text = decode(word)[0]
        except (LookupError, ValueError):  # KeyError is a LookupError
            return False
        if "\r" in text or "\n" in text:
            return False
    return True


def _listed(value: str) -> list[str] | None:
    """The addresses of the To/Cc/Bcc value ``value`` in the forms read from the raw text (see
    :data:`_MAILBOX`), in order; None when it holds another."""
    # The registry reads a field's value with its line breaks taken out (unfolded).
    value = _LINE_BREAKS.sub("", value)
    if "=?" in value and not _words_decode(value):
        return None
    found: list[str] = []
    pos, end, group, opened = 0, len(value), False, -1
    while True:
        if not group and (start := _GROUP_START.match(value, pos)) is not None:
            pos, group, opened = start.end(), True, start.end()
            continue
        if (box := _MAILBOX.match(value, pos)) is not None:
            found.append(box[1] or box[2])
            pos = box.end()
        elif (empty := _EMPTY.match(value, pos)) is not None:
            pos = empty.end()
        else:
            return None
        if group and (close := _GROUP_END.match(value, pos)) is not None:
            if pos == opened and close.end() > pos + 1:
                return None  # 'Team:; ' (nothing between : and ;, then space): the registry fails
            pos, group = close.end(), False
        if pos == end:
            return None if group else found
        if value[pos] != ",":
            return None
        pos += 1


def raw_recipients(msg: Message) -> list[str] | None:
    """The addresses of :func:`recipients_of`'s headers read from their raw text, when every
    one is in a form read so (:data:`_MAILBOX`: bare, after a display name of atoms, quoted
    strings or encoded words, in a group, with comments); None when one is not (or there are
    none). The registry takes ~150 µs an address, and more the longer the list: a To of 100,000
    took minutes to be refused as too many recipients; this reads them in about a second, to
    refuse such a message first. These are the addresses the registry reads."""
    names = RESENT if any(n.lower().startswith("resent-") for n in msg) else ("To", "Cc", "Bcc")
    wanted = {n.lower() for n in names}
    found: list[str] = []
    for name, value in msg.raw_items():
        if name.lower() not in wanted:
            continue
        if not isinstance(value, str) or not value.isascii():
            return None
        listed = _listed(value)
        if listed is None:
            return None
        found += listed
    return found or None


MANY = 1_000  # recipients past which a message's are read from the raw text before the registry


def many_recipients(msg: Message) -> list[str] | None:
    """:func:`raw_recipients` normalized, each once, when there are more than :data:`MANY`
    (a message to check against its mailbox's day before the registry reads them); None for
    fewer, for headers in a form not read so, and for an address :func:`warmup.addresses.normalize`
    refuses (left to the full reading, to be named as before). They are the recipients the
    registry reads, so a check these fail, the full one fails, with the same words."""
    from warmup import addresses

    quick = raw_recipients(msg)
    if quick is None or len(quick) <= MANY:
        return None
    try:
        return list(dict.fromkeys(addresses.normalize(r, "recipient") for r in quick))
    except DataError:
        return None


def sender_of(msg: EmailMessage) -> str:
    """The address of ``msg``'s (first) From header, ``""`` without one; :class:`DataError` when
    the header registry cannot read it."""
    try:
        value = str(msg.get("From", ""))
    except _REGISTRY_FAILURES as exc:
        raise _unreadable("From", exc) from None
    return email.utils.parseaddr(value)[1]


@functools.lru_cache(maxsize=64)
def _sender_problem(name: str, value: str, mailbox: str) -> str | None:
    label = "-".join(p.capitalize() for p in name.split("-"))
    try:
        parsed = email.policy.default.header_factory(label, value)
    except Exception:  # the stdlib parser's own failures: not a plain address either
        return (
            f"header {label} cannot be parsed ({value[:80]!r}); write it as {mailbox} or "
            f"Name <{mailbox}>"
        )
    named = {a.addr_spec.lower() for a in getattr(parsed, "addresses", ())}
    named |= {a.lower() for _, a in email.utils.getaddresses([value]) if a}
    named |= {a.lower() for a in addresses_like(f"{value} {parsed}")}
    if not named:
        return (
            f"header {label} names no address; give {mailbox} or leave the header out "
            f"(warmup adds From: {mailbox})"
        )
    others = sorted(named - {mailbox})
    if others:
        listed = ", ".join(o[:80] for o in others[:3]) + (", ..." if len(others) > 3 else "")
        return (
            f"header {label} names {listed}, not the mailbox {mailbox}; warmup sends "
            f"only as {mailbox}"
        )
    if parsed.defects:
        return (
            f"header {label} is not a plain address ({value[:80]!r}); write it as "
            f"{mailbox} or Name <{mailbox}>"
        )
    return None


class _QuickFold(email.policy.EmailPolicy):
    """:data:`email.policy.SMTP` with a short cut for the common header: one that fits on its
    line in plain ASCII is written as the stdlib's folding would write it, without walking
    its parse tree (which cost more than the rest of flattening a small message)."""

    def fold_binary(self, name: str, value: str) -> bytes:
        tree = getattr(value, "_parse_tree", None)
        if tree and not self.utf8 and tree.token_type not in ("ptext", "mime-parameters"):
            # headerregistry.BaseHeader.fold: "Name: " + the tree, which fits on the line.
            label = value.name  # type: ignore[attr-defined]
            text = str(tree)
            if (
                len(label) + 2 + len(text) <= (self.max_line_length or sys.maxsize)
                and text.isascii()
                and "\r" not in text
                and "\n" not in text
            ):
                return f"{label}: {text}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


SMTP = _QuickFold(linesep="\r\n")
"""Flatten with this policy for the same bytes as :data:`email.policy.SMTP`, sooner."""


def as_message(message: object, what: str = "message") -> EmailMessage | bytes:
    """What the gate and the outbox take, from what a script has at hand: an
    :class:`EmailMessage` or bytes as they are; text (``str``) and a message of the email
    package's older API (:class:`email.message.Message`: ``MIMEText``, ``MIMEMultipart``,
    ``message_from_string``'s) read into an :class:`EmailMessage`; anything else is
    :class:`UsageError`. Either was a bare ``AssertionError`` (or a ``TypeError``) before."""
    if isinstance(message, EmailMessage | bytes):
        return message
    if isinstance(message, bytearray | memoryview):
        return bytes(message)
    if isinstance(message, Message):
        try:
            return _parsed(message.as_bytes())
        except UnicodeEncodeError:
            # parsed from text with non-ASCII in it (message_from_string): read as that text,
            # which is taken as it is (its headers' RFC 2047 words, its body's UTF-8)
            message = message.as_string()
        except Exception as exc:  # the old API writes what the new one would refuse
            raise DataError(
                f"{what} cannot be written out ({type(exc).__name__}); build it as an "
                f"email.message.EmailMessage"
            ) from None
    if isinstance(message, str):
        try:
            data = message.removeprefix("\ufeff").encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(
                f"{what}: the text holds a lone surrogate, which is no UTF-8; give it as bytes"
            ) from None
        try:  # read as bytes are (the gate, the outbox): no line dropped by the parser
            return _parsed(header_section(data))
        except DataError as exc:
            raise DataError(f"{what}: {exc}") from None
    raise UsageError(
        f"{what}: expected an email.message.EmailMessage, bytes or text, not "
        f"{type(message).__name__}"
    )


def _parsed(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)  # the default policy's message_factory
    return parsed
