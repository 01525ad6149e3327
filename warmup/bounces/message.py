"""A report message as the parser reads it, with bounded effort: the bytes made a message
(:func:`to_message`), its parts sorted and decoded (:class:`Parts`: text, delivery-status and
feedback parts, the returned original), and what the report and its returned original say
of the original message: its Message-ID (:func:`message_id_of`, :func:`replied_to`), its
From and Date (:func:`said`), whom it was sent to (:data:`ADDRESSEES`), and who reported it
(:func:`signature`). Addresses as a report writes them are read by :func:`clean_addr`.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import re
from dataclasses import replace
from email.message import Message
from typing import TYPE_CHECKING

from warmup.words import undeclared_text

from . import formats

if TYPE_CHECKING:
    from .record import Bounce

# What the parser reads of a message: everything a report says (headers, notification, delivery
# status, the original's headers) comes first, and the stdlib parser's cost grows with lines.
MAX_INPUT = 1_000_000
MAX_LINES = 20_000
MAX_PARTS = 200
MAX_TEXT = 200_000


def to_message(raw: bytes | str | Message) -> Message | None:
    if isinstance(raw, Message):
        return raw
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, (bytes, bytearray)):
        return None
    raw = formats.first_containers(_head(bytes(raw[:MAX_INPUT])))
    if b"\r" in raw:
        # The stdlib parser ends a line at CR, LF or CRLF, but keeps each line's own end in the
        # text it gives, and what reads that text looks for LF: a report of bare-CR lines was
        # read as one line (its recipients lost, or their statuses mixed up).
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return formats.message_from(raw)


# The stdlib parser ends a line at CR, LF or CRLF: 1 MB of lines ending in a bare CR, counted
# by their LF alone, was 300,000 lines parsed (~1 s) under a bound of 20,000.
_FIRST_LINES = re.compile(rb"(?:[^\r\n]*(?:\r\n?|\n)){%d}" % MAX_LINES)


def _head(raw: bytes) -> bytes:
    """``raw`` cut after its first :data:`MAX_LINES` lines, each ended as the parser ends one."""
    if _line_ends(raw) <= MAX_LINES:
        return raw
    found = _FIRST_LINES.match(raw)
    return raw[: found.end()] if found else raw


def _line_ends(raw: bytes) -> int:
    return raw.count(b"\n") + raw.count(b"\r") - raw.count(b"\r\n")


def read_in_part(raw: bytes) -> bool:
    """Whether the parser leaves the end of ``raw`` unread (:func:`read_up_to`)."""
    return read_up_to(raw) is not None


def read_up_to(raw: bytes) -> str | None:
    """Which bound the parser stops ``raw`` at, None when it reads it whole: ``"bytes"`` (longer
    than :data:`MAX_INPUT`), ``"lines"`` (more than :data:`MAX_LINES` lines in those bytes), or
    ``"boundaries"`` (the word "boundary" more than
    :data:`~warmup.bounces.formats.MAX_CONTAINERS` times: it stops before the line of the next,
    :func:`~warmup.bounces.formats.first_containers`)."""
    if len(raw) > MAX_INPUT:
        return "bytes"
    if _line_ends(raw) > MAX_LINES:
        return "lines"
    if len(formats.first_containers(raw)) < len(raw):
        return "boundaries"
    return None


_BLANK = re.compile(r"\s")  # what ends an address as written (a NBSP too)


def clean_addr(value: str) -> str:
    value = value.strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    m = formats.ADDR_RE.search(value)
    if m:
        # The address as written runs from blank to blank: one with a control character or
        # a bidi override in it (``x\x1b[31m@example.org``) is no send's, not its tail's.
        written = _BLANK.split(value[: m.start()])[-1] + _BLANK.split(value[m.start() :])[0]
        if not written.isprintable():
            return ""
        return m.group(1).lower().strip(".")
    value = value.strip().strip("<>").strip()
    # Not an address the pattern knows (an IDN one, say): kept as written if it could be one.
    # Control characters, bidi overrides or blanks in it are a hostile or broken report's, and
    # would reach the ledger and every listing: no recipient then.
    if "@" not in value or not value.isprintable() or any(c.isspace() for c in value):
        return ""
    return value.lower()


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    # decode=True gives bytes, or None for a multipart (typeshed's union is wider).
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        if not isinstance(inner, list):
            return inner if isinstance(inner, str) else ""
        blocks = [p for p in inner if isinstance(p, Message)]
        payload = _transfer_decoded(part, blocks)
        if payload is None:
            return "\n".join(_block_text(p) for p in blocks)
    declared = formats.mail_codec(part.get_content_charset())
    if declared is None:
        return undeclared_text(payload)
    for cs in (declared, "utf-8", "latin-1"):
        try:
            return payload.decode(cs)
        except UnicodeError:
            continue
    return payload.decode("latin-1", "replace")


# A line that begins as a header field does: its name (printable ASCII without blanks or colon,
# RFC 5322's ftext), then a colon. Base64 (no colon in its alphabet) never holds one.
_FIELD_LINE = re.compile(r"^[!-9;-~]+:", re.MULTILINE)


def _transfer_decoded(part: Message, blocks: list[Message]) -> bytes | None:
    """The bytes of a delivery-status part sent in base64 or quoted-printable (RFC 6533 allows
    it of a global one; MTAs do it of either), None if it is sent as written. The stdlib reads
    such a part's encoded text as header blocks whatever its encoding ("Final-Recipient: ...@ex="
    cut by a soft line break, the rest a body; base64, one block of body): their text as
    written, put back together, is decoded as the part's encoding says."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return None
    written = "\n".join(
        "".join(f"{k}: {v}\n" for k, v in block.raw_items())
        + (body if isinstance(body := block.get_payload(), str) else "")
        for block in blocks
    )
    written = written[:MAX_TEXT]
    if encoding == "base64" and _FIELD_LINE.search(written):
        # A part that claims base64 but is written plain ("Final-Recipient: rfc822; ..."): the
        # decoder would drop every colon, blank and "@" and read its records as garbage. (A
        # stray character in real base64 is skipped by the lenient decoder.)
        return None
    carrier = Message()
    carrier["Content-Transfer-Encoding"] = encoding
    carrier.set_payload(written)
    data = carrier.get_payload(decode=True)
    return data if isinstance(data, bytes) else None


def _block_text(msg: Message) -> str:
    # A delivery-status record is a header block: the generator's folding costs ~1 ms each.
    # Its body's bytes (a record of RFC 6533's global-delivery-status is one), as written.
    data = None if msg.is_multipart() else msg.get_payload(decode=True)
    body = undeclared_text(data) if isinstance(data, bytes) else ""
    head = "".join(f"{k}: {_raw_value(v)}\n" for k, v in msg.raw_items())
    return head + (f"\n{body}" if body else "")


def _raw_value(value: object) -> str:
    """A header value as written: 8-bit words (a Diagnostic-Code in UTF-8, as RFC 6533 allows,
    or in GBK) read from their bytes, where the stdlib gives U+FFFD for each byte."""
    if isinstance(value, str) and not value.isascii():
        return undeclared_text(value.encode("utf-8", "surrogateescape"))
    return str(value)


def _as_text(msg: Message) -> str:
    try:
        return msg.as_string()
    except Exception:
        return "\n".join(f"{k}: {v}" for k, v in msg.items())


def header_block(text: str) -> Message:
    return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text[:200_000])


# The original's headers that name whom it was sent to (a blind copy is named by none).
ADDRESSEES = ("To", "Cc")


# At most 20 part-header lines: unbounded, each of many "content-type" lines with no blank
# line after it would scan to the end of the text (quadratic).
_INLINE_DSN_RE = re.compile(
    r"^content-type:[ \t]*message/delivery-status[^\n]*\n(?:[^\n]+\n){0,20}?\n(.*?)"
    r"(?=^\s?--|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


# DSN fields pasted into the human-readable part ("Technical report:" in Amazon WorkMail).
_TEXT_DSN_RE = re.compile(r"^(?:Reporting-MTA|Final-Recipient):", re.IGNORECASE | re.MULTILINE)
_ACTION_RE = re.compile(r"^Action:", re.IGNORECASE | re.MULTILINE)
# "[^<>]": on a run of "<" each try stops at the next one (linear).
_HTML_TAG_RE = re.compile(r"<[^<>]{0,2000}>")
_NBSP_RE = re.compile(r"&nbsp;|&#160;")
_ANGLE_ID_RE = re.compile(r"<[^<>\s]+>")
# A Message-ID field of the original quoted on a line of a report's notice.
_QUOTED_ID_RE = re.compile(r"^[ \t]*message-id:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)


class Parts:
    """The interesting parts of a message, collected with bounded effort."""

    def __init__(self, msg: Message) -> None:
        self.texts: list[str] = []
        self.dsn: list[str] = []
        self.feedback: list[str] = []
        # Delivery-status fields found only in the text (no delivery-status part): a broken
        # MIME boundary's, or anybody's words (see :mod:`warmup.bounces.parse`).
        self.dsn_in_text = False
        self.original: Message | None = None
        self._original_text = ""
        # An attached original is rendered to text only when a format asks for it: the
        # generator's header folding costs about as much as parsing the whole report.
        self._unrendered: Message | None = None
        count = 0
        stack: list[Message] = [msg]
        while stack and count < MAX_PARTS:
            part = stack.pop(0)
            count += 1
            ctype = part.get_content_type()
            if ctype.startswith("multipart/"):
                sub = part.get_payload()
                if isinstance(sub, list):
                    stack[:0] = [p for p in sub if isinstance(p, Message)]
                elif isinstance(sub, str):
                    # Broken multipart (e.g. unfolded boundary parameter): keep the raw text.
                    self.texts.append(sub)
            elif ctype in ("message/delivery-status", "message/global-delivery-status"):
                self.dsn.append(_decode(part))
            elif ctype == "message/feedback-report":
                self.feedback.append(_decode(part))
            elif ctype in ("message/rfc822", "message/global", "message/partial"):
                self._set_original(part)
            elif ctype in ("text/rfc822-headers", "text/global-headers", "message/rfc822-headers"):
                if self.original is None:
                    self._original_text = _decode(part)
                    self.original = header_block(self._original_text)
            elif ctype.startswith("text/"):
                text = _decode(part)[:MAX_TEXT]
                if ctype == "text/html":
                    text = _HTML_TAG_RE.sub(" ", text)
                    text = _NBSP_RE.sub(" ", text)
                if part is msg or not self.texts or part.get_filename() is None:
                    self.texts.append(text)

        if not self.dsn:
            self.dsn_in_text = True
            # A delivery-status part hidden in text by a broken MIME boundary.
            for text in self.texts:
                m = _INLINE_DSN_RE.search(text[:200_000])
                if m:
                    self.dsn.append(m.group(1))
                    continue
                m = _TEXT_DSN_RE.search(text[:200_000])
                if m and _ACTION_RE.search(text[m.start() : 200_000]):
                    self.dsn.append(text[m.start() : 200_000])

    def _set_original(self, part: Message) -> None:
        if self.original is not None:
            return
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            self.original = self._unrendered = inner[0]
        else:
            self._original_text = _decode(part)
            self.original = header_block(self._original_text)

    @property
    def original_text(self) -> str:
        """The original message (or its headers) as text, "" if the report carries none."""
        if self._unrendered is not None:
            self._original_text = _as_text(self._unrendered)[:200_000]
            self._unrendered = None
        return self._original_text

    def has_original_text(self) -> bool:
        """``bool(self.original_text)``, without rendering an attached message that has headers
        (its text then has at least those)."""
        if self._unrendered is not None and len(self._unrendered):
            return True
        return bool(self.original_text)


def message_id_of(parts: Parts, msg: Message, fields: dict[str, str], returned: str) -> str:
    """The original's Message-ID: from its headers, the report's fields, else the first
    Message-ID header in ``returned`` (the returned copy; "": the original's text)."""
    for source in (
        parts.original.get("Message-ID") if parts.original is not None else None,
        fields.get("x-original-message-id"),
        fields.get("original-message-id"),
        msg.get("X-Original-Message-ID"),
        msg.get("Original-Message-ID"),
    ):
        if source:
            m = _ANGLE_ID_RE.search(str(source))
            if m:
                return m.group(0)
            value = str(source).strip()
            # "<id@hos": cut (a returned original truncated), no Message-ID any send had; read
            # as one, it kept the report from the send it answers (one naming another
            # Message-ID answers no send that has one).
            if value and " " not in value and not {"<", ">"} & set(value):
                return f"<{value}>"
    returned = returned or parts.original_text
    if returned:
        return formats.original_message_id(returned)
    return ""


def replied_to(msg: Message, parts: Parts, returned: str, notification: str) -> str:
    """The original's Message-ID as a report that returns no copy of it names it: among the
    original's header fields its notice quotes ("This report relates to a message you sent
    with the following header fields: Message-id: <...>", Oracle's Messaging Server, X.400
    gateways), else in its own In-Reply-To (else the last of its References), as Exchange's
    and Gmail's reports do; so one withholding the original still answers the send by its
    Message-ID. "" when the report returns an original (its headers name it, or its
    Message-ID is gone with it) or names only its own Message-ID."""
    if returned.strip() or parts.original is not None or parts.has_original_text():
        return ""
    own = _ANGLE_ID_RE.search(str(msg.get("Message-ID", ""))[:1000])
    named = [m.group(1) for m in _QUOTED_ID_RE.finditer(notification[:20_000])]
    for name in ("In-Reply-To", "References"):
        found = _ANGLE_ID_RE.findall(str(msg.get(name, ""))[:4000])
        named += found[-1:]
    return next((str(n) for n in named if own is None or n != own.group(0)), "")


def returned_head(parts: Parts, returned: str) -> Message | None:
    """The header of the original a report returns: attached, else the copy quoted in
    ``returned`` (the text after the report's "returned message" line) or the report's
    returned part, parsed; None (or an empty header) if there is none."""
    head = parts.original
    if not head and (returned or parts.has_original_text()):
        head = header_block(skip_marker(returned or parts.original_text))
    return head


def _returned(head: Message | None) -> tuple[str, str]:
    """(From, Date) of the original whose header is ``head`` (``Bounce.original_from``,
    ``Bounce.original_date``)."""
    if not head:
        return "", ""
    sender = formats.addresses(str(head.get("From", ""))[:2000])
    when = ""
    text = " ".join(str(head.get("Date", "")).split())[:200]
    if text:
        try:
            stamp = email.utils.parsedate_to_datetime(text)
            if stamp.tzinfo is not None:
                when = stamp.astimezone(dt.UTC).isoformat()
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    return ",".join(sender), when


def said(
    bounces: list[Bounce], parts: Parts, returned: str, head: Message | None = None
) -> list[Bounce]:
    """``bounces`` with what the original they return says of itself (:func:`_returned`).
    ``head``: :func:`returned_head` of ``parts`` and ``returned`` where the caller has it
    (a quoted copy's header parsed again cost as much as ~30 µs)."""
    if not bounces:
        return bounces
    sender, when = _returned(head if head is not None else returned_head(parts, returned))
    if not (sender or when):
        return bounces
    return [replace(b, original_from=sender, original_date=when) for b in bounces]


def skip_marker(returned: str) -> str:
    """The returned copy's header lines: after the marker line, up to the first blank line (the
    header parser stops there at the latest; the body would only cost it time). Blank lines
    between the marker line and the headers are skipped: Exim and qmail write one ("------ This is a
    copy of the message's headers. ------", then a blank line), which read as the end of an empty
    header. A copy that starts with a header line (a message/rfc822 part's) is kept whole; a
    marker line is no header ("Original message follows.", IMail's, has no field name)."""
    marked = returned[:1] in "-[" or not _FIELD_LINE.match(returned)
    text = returned.split("\n", 1)[-1].lstrip("\r\n") if marked else returned
    end = text.find("\n\n")
    return text if end < 0 else text[: end + 2]


# Exchange's NDR in its own words ("Diagnostic information for administrators:", the heading of
# its part for administrators; Microsoft Learn, Exchange Online NDRs), read in the notice's text
# where a report's own Diagnostic-Code, not that text, is what the classifier reads.
_EXCHANGE_NDR = re.compile(r"diagnostic information for administrators", re.IGNORECASE)


def signature(msg: Message, reporting_mta: str = "", notice: str = "") -> str:
    """Who reported the bounce, lower-cased: the Reporting-MTA, the notification's sender,
    mailer and mailing-list server (:mod:`warmup.bounces.vendors` reads it); Exchange's mark
    where its NDR says so in its header or in the notification's text ``notice``."""
    # A sender's name in RFC 2047 words ("=?gb2312?B?z7XNs7ncwO3UsQ==?=") as its words: what
    # --explain shows, and what a vendor's name would be matched in.
    sender = formats.encoded_words(str(msg.get("From", ""))[:2000])
    # Exchange marks its NDRs with an empty X-MS-Exchange-Message-Is-Ndr header, whatever the
    # sender's name, and titles its part for administrators (vendors.py reads the mark)
    is_ndr = msg.get("X-MS-Exchange-Message-Is-Ndr") is not None
    is_ndr = is_ndr or ("dministrators" in notice and bool(_EXCHANGE_NDR.search(notice)))
    ndr = "microsoft exchange ndr" if is_ndr else ""
    parts = (
        reporting_mta,
        sender,
        msg.get("X-Mailer", ""),
        msg.get("X-MLServer", ""),
        _yahoo(msg),
        ndr,
    )
    return " ".join(" ".join(str(p).split())[:200] for p in parts if p).lower()


def _yahoo(msg: Message) -> str:
    """Yahoo Mail's own failure notice, known by its form where its sender's domain is not
    Yahoo's (a gateway or an anonymised copy rewrote it): the "Failure Notice" subject under
    the X-YMailISG header Yahoo's servers stamp (sisimai's lhost/yahoo.rb knows the notice by
    that header, BSD-2). The subject too: the header alone may be stamped on another system's
    notice that reached a Yahoo mailbox."""
    if msg.get("X-YMailISG") is None:
        return ""
    subject = " ".join(formats.encoded_words(str(msg.get("Subject", ""))[:200]).split()).lower()
    return "yahoo failure notice (x-ymailisg)" if subject == "failure notice" else ""
