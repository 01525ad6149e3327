"""Parse bounce messages (DSNs, plain-text NDRs, ARF complaints) into ``Bounce`` records.

Pure library: standard-library ``email`` only, no I/O besides ``parse_report`` reading files.
"""

from __future__ import annotations

import datetime as dt
import email
import email.parser
import email.policy
import email.utils
import os
import re
import stat
from dataclasses import dataclass, field, replace
from email.message import Message

from warmup.addresses import normalize_domain
from warmup.errors import DataError
from warmup.words import printable, undeclared_text

from . import formats, notifications
from .classify import REMOTE_MARK, decide, extract_reply, extract_status, reason_of
from .reasons import kind_of
from .stage import RCPT_STATED, smtp_stage
from .vendors import reported_category

__all__ = ["Bounce", "parse_bounces", "parse_report"]

# What the parser reads of a message: everything a report says (headers, notification, delivery
# status, the original's headers) comes first, and the stdlib parser's cost grows with lines.
MAX_INPUT = 1_000_000
MAX_LINES = 20_000
MAX_PARTS = 200
MAX_FORWARDS = 5  # attachments a forwarded report is looked for in (:func:`_forwarded_notice`)
MAX_TEXT = 200_000
MAX_DIAG = 500
# Longer is no address (RFC 5321 4.5.3.1.3; every input of a send refuses one) and no
# Message-ID (a header line's 998 octets, RFC 5322 2.1.1): nothing a send of ours can carry.
MAX_ADDRESS = 254
MAX_MESSAGE_ID = 998
# The failed recipients of one report that are read: a report listing more (no MTA writes one
# of 15,000 addresses; anyone can) yields one more, so the caller can say it cut the list
# (:func:`capped`).
MAX_RECIPIENTS = 1_000


@dataclass(frozen=True, slots=True)
class Bounce:
    """One failed (or complained-about) recipient of one original message."""

    recipient: str
    kind: str
    status: str
    reply: str
    diagnostic: str
    message_id: str
    reason: str = ""
    rule: str = ""
    # How the reason was decided, one line per step (``warmup bounces parse --explain``).
    steps: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # A delay warning (RFC 3464 ``Action: delayed``): the MTA is still trying, the message may
    # yet arrive. Kept apart from the kind (the reference's reading of the words) because it
    # is no failure: it never counts in a rate nor suppresses the address.
    delayed: bool = False
    # The address the original was sent to when the report names another as the failed one
    # (``Original-Recipient`` vs ``Final-Recipient``: an alias forwarded it); "" otherwise.
    original_recipient: str = ""
    # What the original the report returns (its attached headers, or the copy quoted in its
    # text) says of itself: its From address(es, comma-separated) and its Date (ISO 8601, UTC);
    # "" when the report shows none. Anyone can write a report about any address: a sync
    # matches it only to a send these agree with (``warmup.ledger`` ``BounceIn``).
    original_from: str = ""
    original_date: str = ""
    # A complaint whose recipient the feedback loop redacted (RFC 6590: "redacted",
    # "[redacted]", "xxxxx@example.com"): ``recipient`` is "" (never the placeholder, which
    # is nobody's address), and a sync matches it by the Message-ID of its original alone.
    redacted: bool = False


def parse_bounces(raw: bytes | str | Message, *, mailbox: str | None = None) -> list[Bounce]:
    """Parse a bounce/complaint message into zero or more ``Bounce`` records.

    Returns ``[]`` for anything that is not a failure: auto-replies, successful delivery
    reports (delivered/relayed/expanded), ordinary mail, and unparseable input. Never raises.
    A bounce whose recipient could not be found has ``recipient == ""``: keep it for the
    record, never count it against a mailbox.

    At most :data:`MAX_RECIPIENTS` bounces, and one more when the report lists more
    (:func:`capped` keeps the first ones and says whether it cut).

    ``mailbox``: the address whose bounces these are (``bounces sync`` passes it). A provider's
    own notification format (Amazon SES JSON) yields bounces only if the message claims to come
    from that provider and, given ``mailbox``, reports on mail that ``mailbox`` sent; otherwise
    nothing (see :mod:`warmup.bounces.notifications`). Without ``mailbox`` — ``warmup bounces
    parse FILE``, which records nothing — only the origin is checked: pass ``mailbox`` whenever
    the result will be recorded.
    """
    try:
        msg = _to_message(raw)
        if msg is None:
            return []
        return [_bounded(b) for b in _parse(msg, mailbox=mailbox)]
    except Exception:
        return []


def capped(bounces: list[Bounce]) -> tuple[list[Bounce], bool]:
    """(the first :data:`MAX_RECIPIENTS` of ``bounces``, whether the report listed more)."""
    return bounces[:MAX_RECIPIENTS], len(bounces) > MAX_RECIPIENTS


def _bounded(b: Bounce) -> Bounce:
    """``b`` without a recipient or original Message-ID no send can have had (a stranger's
    100,000-character "address" would be recorded and listed as it came, one with a NUL or
    another control character is no send's either), and without control
    characters in what is printed: the recipient, diagnostic and steps are a stranger's words,
    shown by ``bounces parse`` and ``bounces list`` and the sync's list of unmatched addresses
    (an escape sequence there would set the operator's terminal title, or clear the screen)."""
    if not (b.recipient.isascii() and b.original_recipient.isascii()):
        b = replace(
            b,
            recipient=_ascii_domain(b.recipient),
            original_recipient=_ascii_domain(b.original_recipient),
        )
    recipient_ok = len(b.recipient) <= MAX_ADDRESS and _address_like(b.recipient)
    original_ok = len(b.original_recipient) <= MAX_ADDRESS and _address_like(b.original_recipient)
    # A NUL in any of them also stopped every sync on PostgreSQL (no NUL in its text).
    message_id_ok = len(b.message_id) <= MAX_MESSAGE_ID and _address_like(b.message_id)
    # A sender no send can have had still disagrees with every send: kept as such, not dropped.
    sender_ok = len(b.original_from) <= MAX_ADDRESS and _address_like(b.original_from)
    if (
        recipient_ok
        and original_ok
        and message_id_ok
        and sender_ok
        and b.diagnostic.isprintable()
        and all(step.isprintable() for step in b.steps)
    ):
        return b
    return replace(
        b,
        recipient=b.recipient if recipient_ok else "",
        original_recipient=b.original_recipient if original_ok else "",
        message_id=b.message_id if message_id_ok else "",
        original_from=b.original_from if sender_ok else "?",
        diagnostic=printable(b.diagnostic),
        steps=tuple(printable(step) for step in b.steps),
    )


def _ascii_domain(address: str) -> str:
    """``address`` with an international domain in its ASCII (``xn--``) form, as warmup records
    the sends to it (:func:`warmup.addresses.normalize_domain`): a report naming the recipient
    in Unicode (RFC 6533, or a notice's text) answered no send. As written when there is none
    (a domain IDNA 2003 would write as another one, a name before the '@' that is not ASCII)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not local.isascii() or domain.isascii():
        return address
    try:
        return local + normalize_domain("@" + domain)
    except DataError:
        return address


def _address_like(recipient: str) -> bool:
    return recipient.isprintable() and not any(c.isspace() for c in recipient)


def parse_report(paths: list[str], steps: bool = False) -> list[dict]:
    """Parse files for ``warmup bounces parse --json``: one object per file.

    Each bounce carries its ``reason`` and the ``rule`` that decided it, ``delayed`` (a delay
    warning: not a failure, recorded but never counted) and ``original_recipient`` (the address
    mailed, when the report names a forwarded-to one); ``steps=True`` adds the decision path
    (``--explain``).

    A file that cannot be read, or is no regular file (a named pipe would wait for a writer
    for ever, ``/dev/zero`` never ends), has no bounces and an ``error`` saying why; of a
    regular file only what the parser reads (:data:`MAX_INPUT` bytes) is read. A report that
    lists more than :data:`MAX_RECIPIENTS` failed recipients has the first ones and
    ``"capped": true``.
    """
    out: list[dict] = []
    for path in paths:
        raw, error = _read_file(path)
        order = (
            "recipient",
            "kind",
            "reason",
            "rule",
            "status",
            "reply",
            "message_id",
            "delayed",
            "original_recipient",
            "original_from",
            "original_date",
        )
        found, cut = capped(parse_bounces(raw))
        bounces = [
            {**{k: getattr(b, k) for k in order}, "diagnostic": b.diagnostic}
            | ({"redacted": True} if b.redacted else {})
            | ({"steps": [*b.steps, _returned_step(b)]} if steps else {})
            for b in found
        ]
        out.append(
            {"file": path, "bounces": bounces}
            | ({"error": error} if error else {})
            | ({"capped": True} if cut else {})
        )
    return out


def _returned_step(b: Bounce) -> str:
    """What a sync checks a report against before it counts, as a step of ``--explain``."""
    if not (b.original_from or b.original_date):
        return "no returned original's From or Date: a sync matches it by " + (
            "Message-ID" if b.message_id else "recipient and time alone"
        )
    # The Date is checked only where no send's own Message-ID decides (Matching._match).
    near = (
        " (or one sent without any, made near that Date)"
        if b.message_id
        else ", made near that Date"
    )
    said = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("From", b.original_from),
            ("Message-ID", b.message_id),
            ("Date", b.original_date),
        )
        if value
    )
    return (
        f"the returned original says {said}: a sync counts it only against a send from that "
        f"mailbox{', with that Message-ID' if b.message_id else ''}"
        f"{near if b.original_date else ''}"
    )


def _read_file(path: str) -> tuple[bytes, str]:
    """(the first :data:`MAX_INPUT` bytes of the regular file ``path``, or of standard input
    for ``-``, "") or (b"", why not)."""
    if path == "-":
        return _read_stdin()
    try:
        # Non-blocking: opening a named pipe would wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return b"", exc.strerror or "cannot be read"
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b"", "not a regular file"
        try:
            data = f.read(MAX_INPUT)
        except OSError as exc:
            return b"", exc.strerror or "cannot be read"
    return _unless_mbox(data)


def _unless_mbox(data: bytes) -> tuple[bytes, str]:
    if data.startswith(b"From ") and _MBOX_SEPARATOR.search(data):
        # Read as one message, all but the first of its reports would be silently left out.
        return b"", "an mbox of several messages; save each as a message file"
    return data, ""


def _read_stdin() -> tuple[bytes, str]:
    """:func:`_read_file` of standard input: as of a file, only its first :data:`MAX_INPUT`
    bytes (``< /dev/zero`` never ends)."""
    import sys

    if sys.stdin is None:  # closed ('<&-'): Python has no sys.stdin
        return b"", "standard input is closed; pipe the message in, or give its file"
    try:
        return _unless_mbox(sys.stdin.buffer.read(MAX_INPUT))
    except OSError as exc:
        return b"", exc.strerror or "cannot be read"


# A message of an mbox begins with a "From " line after a blank line ("From " at the start of
# a line of a body is written ">From ").
_MBOX_SEPARATOR = re.compile(rb"\n\r?\nFrom \S+ [^\n]*\d\d:\d\d")


# --------------------------------------------------------------------------- helpers


def _to_message(raw: bytes | str | Message) -> Message | None:
    if isinstance(raw, Message):
        return raw
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, (bytes, bytearray)):
        return None
    raw = formats.first_containers(_head(bytes(raw[:MAX_INPUT])))
    if b"\n" in raw and b"\r\n" in raw[:4096]:
        raw = raw.replace(b"\r\n", b"\n")
    return formats.message_from(raw)


def _head(raw: bytes) -> bytes:
    """``raw`` cut after its first :data:`MAX_LINES` lines."""
    if raw.count(b"\n") <= MAX_LINES:
        return raw
    pos = -1
    for _ in range(MAX_LINES):
        pos = raw.find(b"\n", pos + 1)
    return raw[: pos + 1]


def _fold(text: str) -> str:
    return " ".join(text.split())[:MAX_DIAG]


_BLANK = re.compile(r"\s")  # what ends an address as written (a NBSP too)
# What a feedback loop writes for a recipient it redacted (RFC 6590 section 4 leaves the form
# to it): "redacted" in the name before the '@' ("redacted", "[redacted]", "<redacted>",
# "redacted@example.com", "Redacted-1f3a@..."), or that name all x's or asterisks
# ("xxxxx@example.com", "*****@example.com").
_REDACTED = re.compile(r"redacted|^[x*]{3,}$", re.IGNORECASE)


def _is_redacted(value: str) -> bool:
    """Whether ``value`` (a header's or feedback field's address) is a redacted recipient."""
    text = value.strip()
    if ";" in text:  # "rfc822; redacted@example.com"
        text = text.split(";", 1)[1]
    local = text.strip().strip("<>[]").strip().rpartition("@")[0] or text.strip().strip("<>[]")
    return bool(_REDACTED.search(local.strip().strip("<>[]\"'")))


def _clean_addr(value: str) -> str:
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


# A "field: value" line, which base64 (no colon in its alphabet) never is.
_FIELD_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,76}:", re.MULTILINE)


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


def _header_block(text: str) -> Message:
    return email.parser.HeaderParser(policy=email.policy.compat32).parsestr(text[:200_000])


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields.setdefault(key, value.strip())
    return fields


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
_STATUS_CODE_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# A status of a subject alone (X.N.0: "5.5.0", what a relay writes for any 550): the remote
# reply's own enhanced code, if its Diagnostic-Code has one, says more.
_GENERIC_STATUS_RE = re.compile(r"[245]\.\d{1,3}\.0$")
# ... but a remote X.0.0 says less than a reporter's X.N.0: "5.1.0" (the address) is kept.
_SUBJECTLESS_STATUS_RE = re.compile(r"[245]\.0\.0$")
# A word in the diagnostic: three Latin letters, or two of another script ("空间不足").
_WORD_RE = re.compile(r"[A-Za-z]{3}|[^\x00-\x7f]{2}")
_TO_RE = re.compile(r"^To:\s*(.+)$", re.MULTILINE | re.IGNORECASE)
_DATA_STAGE_RE = re.compile(r"(?:in reply to|after) end of data", re.IGNORECASE)
_END_OF_DATA_RE = re.compile(r"end of data", re.IGNORECASE)


class _Parts:
    """The interesting parts of a message, collected with bounded effort."""

    def __init__(self, msg: Message) -> None:
        self.texts: list[str] = []
        self.dsn: list[str] = []
        self.feedback: list[str] = []
        # Delivery-status fields found only in the text (no delivery-status part): a broken
        # MIME boundary's, or anybody's words (see :func:`_parse`).
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
                    self.original = _header_block(self._original_text)
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
            self.original = _header_block(self._original_text)

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


def _message_id(parts: _Parts, msg: Message, fields: dict[str, str], returned: str) -> str:
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


def _replied_to(msg: Message, parts: _Parts, returned: str, notification: str) -> str:
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


def _returned(parts: _Parts, returned: str) -> tuple[str, str]:
    """(From, Date) of the original a report returns (:attr:`Bounce.original_from`,
    :attr:`Bounce.original_date`): from its attached headers, else the copy quoted in
    ``returned`` (the text after the report's "returned message" line)."""
    head = parts.original
    if not head and (returned or parts.has_original_text()):
        head = _header_block(_skip_marker(returned or parts.original_text))
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


def _said(bounces: list[Bounce], parts: _Parts, returned: str) -> list[Bounce]:
    """``bounces`` with what the original they return says of itself (:func:`_returned`)."""
    if not bounces:
        return bounces
    sender, when = _returned(parts, returned)
    if not (sender or when):
        return bounces
    return [replace(b, original_from=sender, original_date=when) for b in bounces]


def _make(
    recipient: str,
    status: str,
    reply: str,
    diagnostic: str,
    message_id: str,
    kind: str = "",
    context: str = "",
    stage_text: str = "",
    mta: str = "",
    delayed: bool = False,
    remote: str = "",
) -> Bounce:
    status = status if _STATUS_CODE_RE.fullmatch(status or "") else ""
    diag = _fold(diagnostic)
    status = status or extract_status(diag)
    reply = reply or extract_reply(diag)
    text = " ".join((context or diagnostic).split())[:4000]
    stage = smtp_stage(f"{text} {stage_text[:20_000]}")
    if remote:
        # the host that answered (a DSN's Remote-MTA): a receiving provider's own replies are
        # read by its table (warmup/bounces/providers.py)
        mta = f"{mta} {REMOTE_MARK} {remote}".strip()
    if recipient:
        mta = f"{mta} @{recipient.rpartition('@')[2]}".strip()
    # a delay warning's 4xx is retried (never hard), not the last reply of a delivery given up on
    verdict = decide(status, reply, text, stage=stage, mta=mta, delayed=delayed)
    steps = verdict.steps
    if kind and kind != verdict.kind:
        steps += (f"the report itself says {kind}: {kind}",)
    return Bounce(
        recipient=recipient,
        kind=kind or (verdict.kind if verdict.kind in ("hard", "block") else "soft"),
        status=status,
        reply=reply,
        diagnostic=diag,
        message_id=message_id,
        reason=verdict.reason,
        rule=verdict.rule if not kind or kind == verdict.kind else "report",
        steps=steps,
    )


# --------------------------------------------------------------------------- formats


def _parse(msg: Message, depth: int = 0, mailbox: str | None = None) -> list[Bounce]:
    parts = _Parts(msg)
    if not msg.is_multipart() and depth < 2:
        reparsed = formats.reparse_inline_mime(msg, "\n".join(parts.texts))
        if reparsed is not None:
            # A boundary guessed wrong (a line of the text that only looked like one) finds
            # nothing: the message is then read as it came, its status fields in its text.
            found = _parse(reparsed, depth + 1, mailbox)
            if found:
                return found
    if parts.feedback or "feedback-report" in str(msg.get("Content-Type", "")).lower():
        return _parse_arf(msg, parts)
    if _is_jmrp(msg, parts):
        return _parse_arf(msg, parts, "Microsoft's JMRP report (no ARF part)", "jmrp")
    if _is_bare_jmrp(msg):
        # The report is the original itself: its body is the original's, no report's words.
        parts.original, parts.texts = msg, []
        return _parse_arf(msg, parts, "Microsoft's JMRP report (the original itself)", "jmrp")
    if parts.dsn and parts.dsn_in_text and not _reports_itself(msg, "\n".join(parts.texts)):
        # "Final-Recipient: ... Action: failed" typed (or pasted) into a reply is no report:
        # anybody can write it, about any address the mailbox mails.
        parts.dsn = []
    if parts.dsn:
        return _parse_dsn(msg, parts)
    inner = parts.original
    if inner is not None and depth < 2:
        if formats.is_daemon_sender(msg):
            if inner.get_content_type() == "multipart/report":
                # A DSN wrapped inside another notification.
                found = _parse(inner, depth + 1, mailbox)
                if found:
                    return found
        else:
            notice = _forwarded_notice(msg)
            if notice is not None:
                # A person's forward of a notice: what the notice says, not the forward.
                return _parse(notice, depth + 1, mailbox)
    body = "\n".join(parts.texts)
    ses = notifications.ses_notice(body)
    if ses is not None:
        # Believed only from the provider and about this mailbox's mail; never read as text
        # either (its JSON would yield every address it lists).
        if not notifications.from_provider(msg, notifications.SES_DOMAINS):
            return []
        if mailbox is not None and not notifications.about(ses, mailbox):
            return []
        return _parse_ses(ses.items)
    unsubscribe = formats.unsubscribe_request(msg)
    if unsubscribe:
        # A one-click "unsubscribe" sent by the recipient's mail client: an opt-out, handled
        # like a complaint (stop mailing this address), although it is no ARF report.
        why = ("a mail client's unsubscribe request -> feedback -> complaint",)
        diag = _fold(f"unsubscribe: {body}")
        return [Bounce(unsubscribe, "complaint", "", "", diag, "", "feedback", "unsubscribe", why)]
    if (formats.is_autoreply(msg) or formats.is_challenge(msg, body)) and not msg.get(
        "X-Failed-Recipients"
    ):
        return []
    if not formats.looks_like_bounce(msg, body):
        return []
    return _parse_text(msg, parts, body)


def _forwarded_notice(msg: Message) -> Message | None:
    """The first notice (a multipart/report, or a message from an MTA) among the messages
    attached to ``msg``, to :data:`MAX_FORWARDS` attachments deep: a bounce forwarded as an
    attachment, and that forwarded again. Read as a notice itself, a forward of a forward
    (or of a text bounce, or of a read receipt) named the one address it shows, the forward's
    To (the mailbox), as its failed recipient, and the failure inside was lost. What is found
    is checked as any report is (its returned original's From, Message-ID, Date)."""
    todo: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while todo and seen < MAX_PARTS:
        part, level = todo.pop(0)
        seen += 1
        ctype = part.get_content_type()
        if level and (ctype == "multipart/report" or formats.is_daemon_sender(part)):
            return part
        sub = part.get_payload()
        level += ctype in ("message/rfc822", "message/global")
        if isinstance(sub, list) and level <= MAX_FORWARDS:
            todo[:0] = [(p, level) for p in sub if isinstance(p, Message)]
    return None


def _reports_itself(msg: Message, body: str) -> bool:
    """Whether ``msg`` presents itself as a report (a multipart/report, an MTA's notice), so
    delivery-status fields in its text are read as its own. Not authentication (a forger
    writes these too): what does not even claim to be a report is not read as one."""
    return (
        msg.get_content_type() == "multipart/report"
        or formats.is_daemon_sender(msg)
        or formats.looks_like_bounce(msg, body)
    )


# Microsoft's Junk Mail Reporting Program wrote its complaints in a format of its own before ARF
# (still read by feedback-loop tools; sisimai's ARF module reads it so, BSD-2): From
# staff@hotmail.com, "Subject: complaint about message from <IP>", a multipart/mixed whose
# attached original carries the complaining recipient in an X-HmXmrOriginalRecipient header.
# Amazon SES forwarded complaints the same way from complaints@email-abuse.amazonses.com. A
# complaint counts, as an ARF report's does, only for a send of the mailbox it names.
_JMRP_SENDERS = frozenset({"staff@hotmail.com", "complaints@email-abuse.amazonses.com"})
_JMRP_SUBJECT = re.compile(r"\s*complaint about message from\b", re.IGNORECASE)
_JMRP_RECIPIENT = "X-HmXmrOriginalRecipient"


def _is_jmrp(msg: Message, parts: _Parts) -> bool:
    """Whether ``msg`` is a complaint in Microsoft's pre-ARF JMRP form (see above)."""
    if parts.original is None or not _JMRP_SUBJECT.match(str(msg.get("Subject", ""))[:200]):
        return False
    senders = formats.header_addresses(msg, ("From",))
    return bool(senders) and senders <= _JMRP_SENDERS


def _is_bare_jmrp(msg: Message) -> bool:
    """Whether ``msg`` is JMRP's older form: the complained-of original itself, sent back by
    Hotmail's junk-mail reporting from staff@hotmail.com (its Return-Path, the envelope's
    sender) with the complainer added in an X-HmXmrOriginalRecipient header on top (form seen
    in PHP-Bounce-Handler's test messages, BSD-2). Its From and Message-ID are the original's:
    as any complaint, it counts only for a send of the mailbox with that Message-ID."""
    if msg.get(_JMRP_RECIPIENT) is None:
        return False
    senders = formats.header_addresses(msg, ("Return-Path",))
    return bool(senders) and senders <= _JMRP_SENDERS


def _parse_arf(
    msg: Message, parts: _Parts, form: str = "an ARF report", rule: str = "arf"
) -> list[Bounce]:
    fields = _fields("\n".join(parts.feedback))
    recipient = ""
    # A feedback loop that redacts the recipient (RFC 6590) writes a placeholder where it was:
    # nobody's address, never taken for one (it would be suppressed, or match nothing).
    redacted = False
    for key in ("original-rcpt-to", "removal-recipient"):
        if fields.get(key):
            if _is_redacted(fields[key]):
                redacted = True
                continue
            recipient = _clean_addr(fields[key])
            if recipient:
                break
    if not recipient and parts.original is not None:
        hmxmr = str(parts.original.get(_JMRP_RECIPIENT, ""))[:1000]
        redacted = redacted or _is_redacted(hmxmr)
        recipient = "" if redacted else _clean_addr(hmxmr)
    # Else the original's only recipient. Of a message to several, which one complained is
    # unknown: the first of them (alphabetically) was taken, suppressing an address that never
    # complained while the one that did was mailed on. No recipient: kept, never counted.
    # A copied (Cc) address is one of them as much as a To one.
    named = formats.header_addresses(parts.original, _ADDRESSEES) if not recipient else set()
    if any(_is_redacted(a) for a in named):
        redacted = True
        named = {a for a in named if not _is_redacted(a)}
    if len(named) == 1:
        recipient = next(iter(named))
    if not recipient and not named and parts.original_text:
        m = _TO_RE.search(parts.original_text)
        if m and _is_redacted(m.group(1)):
            redacted = True
        elif m and len(formats.addresses(m.group(1))) <= 1:
            recipient = _clean_addr(m.group(1))
    hidden = redacted and not recipient
    text = " ".join(parts.texts)
    feedback_type = fields.get("feedback-type", "abuse")
    diag = feedback_type + (": " + text if text else "")
    message_id = _message_id(parts, msg, fields, "")
    why = NOT_COMPLAINTS.get(feedback_type.strip().lower())
    made = [
        Bounce(
            recipient=recipient,
            kind="notice" if why else "complaint",
            status="",
            reply="",
            diagnostic=_fold(diag),
            message_id=message_id,
            reason="feedback",
            rule=f"{rule}.{feedback_type.strip().lower()}" if why else rule,
            steps=(
                f"{form}, Feedback-Type {feedback_type}"
                + (f" ({why}) -> feedback -> notice" if why else " -> feedback -> complaint"),
            )
            + (
                ("its recipient is redacted (RFC 6590): matched by its Message-ID",)
                if hidden
                else ()
            ),
            redacted=hidden,
        )
    ]
    return _said(made, parts, "")


# ARF feedback types that are no recipient's complaint (kind ``notice``: recorded and listed,
# never counted in the complaint rate, never suppressing the address). RFC 6591's auth-failure
# says a message claiming the domain failed SPF, DKIM or DMARC (a forger's as likely as ours:
# a matter for the domain's DNS, and the recipient complained of nothing); RFC 6430's not-spam
# says the opposite of a complaint (a message judged wanted).
NOT_COMPLAINTS = {
    "auth-failure": "RFC 6591: a message claiming the domain failed SPF/DKIM/DMARC, no complaint",
    "not-spam": "a message judged wanted: the opposite of a complaint",
}
# The original's headers that name whom it was sent to (a blind copy is named by none).
_ADDRESSEES = ("To", "Cc")
_SKIP_ACTIONS = ("delivered", "relayed", "expanded")
# A Diagnostic-Code the reporting host wrote about its own local delivery (RFC 3464 leaves
# the type open: "X-Local", Sendmail's "X-Unix" for its delivery programs), not a remote SMTP
# reply: its "no such user" is its own directory's verdict, and its numbers no SMTP reply.
_LOCAL_DIAGNOSTIC = re.compile(r"\s*x-(?:local|unix)\s*;", re.IGNORECASE)
# Postfix writes "X-Postfix;" for its own notes: its local(8)/virtual(8) delivery's "unknown
# user", a DNS failure, a loop; older releases also for a remote reply ("host ... said: 550").
# A note that quotes no remote reply, in a record naming no Remote-MTA, is the host's own.
_POSTFIX_NOTE = re.compile(r"\s*x-postfix\s*;", re.IGNORECASE)
# What shows a notice's explanation of a recipient quotes another server's reply: a reply or
# status code, a host named, its address. A DSN record with neither Diagnostic-Code nor
# Remote-MTA (RFC 3464: both name the remote MTA's part) whose notice says only "Unknown user"
# (Exim's router, a local alias file's :fail:) gives the reporting MTA's own verdict.
_REMOTE_REPLY_RE = re.compile(
    r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b|\b(?:host|said|remote|smtp|server)\b"
    r"|\[\d{1,3}(?:\.\d{1,3}){3}\]",
    re.IGNORECASE,
)


def _masked(address: str) -> bool:
    """Whether ``address`` is a mask where an address was ("****@****", as a report anonymised
    by its MTA or a privacy relay writes it): no letter or digit on one side of the '@'."""
    local, _, domain = address.rpartition("@")
    return not any(c.isalnum() for c in local) or not any(c.isalnum() for c in domain)


def _postfix_own_note(diag: str, rec: dict[str, str]) -> bool:
    """Whether a DSN record's Diagnostic-Code is Postfix's own note about its own delivery
    ("X-Postfix; unknown user: ..."): no Remote-MTA named, no remote reply quoted."""
    return bool(
        _POSTFIX_NOTE.match(diag)
        and not rec.get("remote-mta", "").strip()
        and not _REMOTE_REPLY_RE.search(diag.split(";", 1)[1])
    )


def _parse_dsn(msg: Message, parts: _Parts) -> list[Bounce]:
    per_message, records = formats.dsn_records(parts.dsn, MAX_RECIPIENTS + 1)
    notice = "\n".join(parts.texts)
    notification, returned = formats.split_returned(notice)
    message_id = _message_id(parts, msg, per_message, returned) or _replied_to(
        msg, parts, returned, notification
    )
    text_blocks: dict[str, str] | None = None
    mta = _signature(msg, per_message.get("reporting-mta", "").split(";")[-1])
    recipients = [_clean_addr(r.get("final-recipient", "")) for r in records]
    out: list[Bounce] = []
    seen: dict[str, int] = {}  # recipient -> its bounce's index in ``out``
    for rec in records:
        action = rec.get("action", "").lower().strip()
        status = rec.get("status", "").strip().split()[0] if rec.get("status", "").strip() else ""
        if any(action.startswith(a) for a in _SKIP_ACTIONS) or status.startswith("2"):
            continue
        recipient = _clean_addr(rec.get("final-recipient", ""))
        original = _clean_addr(rec.get("original-recipient", ""))
        original = "" if original and _masked(original) else original
        if recipient and _masked(recipient):
            recipient = ""
        if not recipient:
            recipient = original or _clean_addr(rec.get("x-actual-recipient", ""))
        if not recipient and len(records) == 1:
            text_blocks = text_blocks or _text_blocks(msg, notification)
            recipient = next(iter(text_blocks), "")
            # Else a Final-Recipient of no Internet address ("LOCAL;kim", "x400; /S=kim/", or
            # empty): the original's recipient, if it had only one (as a notice without a DSN).
            named = formats.header_addresses(parts.original, _ADDRESSEES) if not recipient else ()
            recipient = recipient or (next(iter(named)) if len(named) == 1 else "")
        diag = rec.get("diagnostic-code", "")
        local = bool(_LOCAL_DIAGNOSTIC.match(diag)) or _postfix_own_note(diag, rec)
        if ";" in diag[:12]:
            diag = diag.split(";", 1)[1]
        # "550 =?gb2312?b?...?=": a reply in Chinese some MTAs write as RFC 2047 words.
        diag = formats.encoded_words(diag.strip()).strip()
        if text_blocks is None:
            text_blocks = _text_blocks(msg, notification, {r for r in recipients if r})
        extra = text_blocks.get(recipient, "")
        if not diag or (not extract_status(diag) and not _WORD_RE.search(diag)):
            diag = extra or diag
        elif extra and len(diag) < 40 and extra not in diag:
            # Some MTAs put only a code in Diagnostic-Code; the human text explains it.
            diag = f"{diag} {extra}"
        if not diag and action.startswith("delayed"):
            diag = "delayed"
        reply = extract_reply(diag)
        if status and status[0] in "45" and _GENERIC_STATUS_RE.match(status):
            remote = extract_status(diag)
            if remote and (
                _SUBJECTLESS_STATUS_RE.match(status) or not _SUBJECTLESS_STATUS_RE.match(remote)
            ):
                status = remote
        key = recipient or f"#{len(out)}"
        # A recipient listed twice is one bounce: the first, unless it was a delay warning and
        # this is the failure (the failure counts; the warning, kept instead, never would).
        if key in seen and not (out[seen[key]].delayed and not action.startswith("delayed")):
            continue
        # The human-readable part often says which SMTP stage failed; use it as context.
        context = diag
        stage = _DATA_STAGE_RE.search(extra)
        if stage and not _END_OF_DATA_RE.search(diag):
            context = f"{diag} ({stage.group(0)})"
        elif len(records) == 1 and RCPT_STATED.search(" ".join(extra.lower().split())):
            # the notice states that its only recipient's reply answered RCPT TO
            context = f"{diag} (in reply to RCPT TO command)"
        own = local or (
            extra
            and not rec.get("diagnostic-code", "").strip()
            and not rec.get("remote-mta", "").strip()
            and not _REMOTE_REPLY_RE.search(extra)
        )
        if own:
            context = f"{context} (final delivery)"
        if len(records) == 1:
            # A mailbox state the notification states for its only recipient ("The user(s)
            # account is disabled.") outweighs the remote reply's wording.
            state = formats.mailbox_state(notification)
            if state and state not in context:
                context = f"{state} {context}"
        stage_text = f"{rec.get('status', '')} {extra}"
        made = _make(
            recipient,
            status,
            reply,
            diag,
            message_id,
            context=context,
            stage_text=stage_text,
            mta=mta,
            delayed=action.startswith("delayed"),
            remote=" ".join(rec.get("remote-mta", "").split(";")[-1].lower().split())[:200],
        )
        if own:
            why = "a local diagnostic" if local else "no Diagnostic-Code, no Remote-MTA"
            step = f"{why}: the reporting host's own delivery, not a relayed reply"
            made = replace(made, steps=(*made.steps[:1], step, *made.steps[1:]))
        category, by_category = reported_category(rec)
        if category and by_category != made.reason:
            # The reporting MTA classified the reply itself (PowerMTA's bounce categories).
            ckind = kind_of(by_category)
            made = replace(
                made,
                reason=by_category,
                kind=ckind if ckind in ("hard", "block") else "soft",
                rule="report.category",
                steps=(
                    *made.steps,
                    f"{category}: {rec[category].strip()} -> {by_category} -> {ckind}",
                ),
            )
        if action.startswith("delayed"):
            step = "Action: delayed: a delay warning, the MTA still tries: counts for nothing"
            made = replace(made, delayed=True, steps=(*made.steps, step))
        # An alias forwarded it: the address mailed is the Original-Recipient. (A quoted local
        # part written once with its quotes, once without, is one address.)
        if original and original.replace('"', "") != recipient.replace('"', ""):
            made = replace(made, original_recipient=original)
        if key in seen:
            out[seen[key]] = made
        else:
            seen[key] = len(out)
            out.append(made)
    if not records and not out:
        return _parse_text(msg, parts, notice)
    return _said(out, parts, returned)


def _text_blocks(msg: Message, notification: str, keep: set[str] | None = None) -> dict[str, str]:
    exclude = formats.header_addresses(msg, ("From", "To", "Return-Path", "Reply-To"))
    return formats.recipient_blocks(notification, exclude - (keep or set()), keep or set())


def _parse_ses(items: list[dict[str, str]]) -> list[Bounce]:
    out: list[Bounce] = []
    for item in items:
        recipient = _clean_addr(item.get("recipient", ""))
        msgid = item.get("message_id", "")
        message_id = f"<{msgid}>" if msgid else ""
        if item["kind"] == "complaint":
            why = ("an Amazon SES complaint notification -> feedback -> complaint",)
            out.append(
                Bounce(
                    recipient, "complaint", "", "", "complaint", message_id, "feedback", "ses", why
                )
            )
            continue
        diag = item.get("diagnostic", "")
        kind = ""
        if not diag and item.get("bounce_type") == "Transient":
            kind = "soft"
        sub = item.get("sub_type", "")
        out.append(_make(recipient, item.get("status", ""), "", diag or sub, message_id, kind))
    return out


def _parse_text(msg: Message, parts: _Parts, body: str) -> list[Bounce]:
    notification, returned = formats.split_returned(body)
    fields: dict[str, str] = {}
    message_id = _message_id(parts, msg, fields, returned)
    exclude = formats.header_addresses(
        msg,
        (
            "From",
            "To",
            "Return-Path",
            "Reply-To",
            "Sender",
            "Delivered-To",
            "X-Original-To",
            "Envelope-To",
            "Cc",
        ),
    )
    original_sender: set[str] = set()
    orig = parts.original
    if returned or parts.has_original_text():
        # ``parts.original`` can be falsy (no headers): then its text is what is read.
        orig = parts.original or _header_block(_skip_marker(returned or parts.original_text))
        original_sender = formats.header_addresses(
            orig, ("From", "Return-Path", "Sender", "Reply-To")
        )
    exclude |= original_sender
    if message_id:  # the original's Message-ID, quoted in the notice, names no recipient
        exclude.add(message_id.strip("<> ").lower())
    failed = formats.addresses(str(msg.get("X-Failed-Recipients", "")))
    blocks = formats.listed_blocks(notification, exclude) or formats.recipient_blocks(
        notification, exclude
    )
    if not blocks:
        blocks = formats.aol_screen_names(msg, notification)
    if not blocks:
        undisclosed, block = formats.undisclosed_block(notification)
        if undisclosed and undisclosed not in exclude:
            blocks = {undisclosed: block}
    # X-Failed-Recipients filters junk from the body scan; the body wins when they disagree.
    recipients = [a for a in blocks if a in failed] or list(blocks) or failed
    if not recipients:
        diag = _fold(notification)
        # The original's recipient, if it had only one (of several, which failed is unknown).
        named = formats.header_addresses(orig, _ADDRESSEES)
        recipient = next(iter(named)) if len(named) == 1 else ""
        text = _diag_from_text(notification)
        made = [_make(recipient, "", "", text, message_id, mta=_signature(msg))] if diag else []
        return _said(made, parts, returned)
    out: list[Bounce] = []
    delay = _is_delay(notification)
    for recipient in recipients[: MAX_RECIPIENTS + 1]:
        diag = blocks.get(recipient, "")
        if len(recipients) == 1 and reason_of("", "", diag) == "undefined":
            # Formats like "Error: ... / RCPT TO: addr" state the reason before the address.
            diag = f"{_diag_from_text(notification)} {diag}".strip()
        out.append(
            _make(
                recipient,
                "",
                "",
                _strip_recipient_line(diag, recipient),
                message_id,
                stage_text=diag,
                mta=_signature(msg),
                delayed=delay,
            )
        )
        if delay:
            step = "a delay warning in its words, the MTA still tries: counts for nothing"
            out[-1] = replace(out[-1], delayed=True, steps=(*out[-1].steps, step))
    return _said(out, parts, returned)


# A header field's first line: a name of printable ASCII without blanks or colon, then a colon.
_FIELD_LINE = re.compile(r"[!-9;-~]+:")


def _skip_marker(returned: str) -> str:
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


def _signature(msg: Message, reporting_mta: str = "") -> str:
    """Who reported the bounce, lower-cased: the Reporting-MTA, the notification's sender,
    mailer and mailing-list server (:mod:`warmup.bounces.vendors` reads it)."""
    # A sender's name in RFC 2047 words ("=?gb2312?B?z7XNs7ncwO3UsQ==?=") as its words: what
    # --explain shows, and what a vendor's name would be matched in.
    sender = formats.encoded_words(str(msg.get("From", ""))[:2000])
    parts = (reporting_mta, sender, msg.get("X-Mailer", ""), msg.get("X-MLServer", ""))
    return " ".join(" ".join(str(p).split())[:200] for p in parts if p).lower()


# A reply or status code: "(?<![\d.])[45]\d\d[ -]|(?<![\d.])[45]\.\d{1,3}\.\d{1,3}", the
# look-behind after the first digit (see classify._STATUS_RE).
_CODE_RE = re.compile(r"[45](?<![\d.][45])(?:\d\d[ -]|\.\d{1,3}\.\d{1,3})")

# A notice without a DSN part that says it is a delay warning, in the words MTAs use for it:
# sendmail, Postfix, Gmail and Exchange ("THIS IS A WARNING MESSAGE ONLY", "Gmail will retry for
# 47 more hours", "Message will be retried for 2 more day(s)"), Exim's warn_message ("has not
# yet been delivered ... Delivery attempts will continue"). Only such unambiguous wording: a
# failure taken for a delay would leave a dead address unsuppressed.
_DELAY_RE = re.compile(
    r"this is a warning (?:message )?only|you do not need to resend your message|"
    r"has not yet been delivered to one or more of its recipients|"
    r"delivery attempts will continue|will (?:be )?retr(?:y|ied) (?:for \d+ more|until)|"
    r"will continue (?:to )?(?:try|attempt)(?:ing)? (?:to deliver|delivery)|"
    r"delivery is delayed to these recipients|"
    # Chinese notices: "系统将继续尝试投递", "您无需重新发送", "延迟投递"
    r"继续尝试(?:投递|发送)|无需重新发送|延迟投递",
    re.IGNORECASE,
)
# ... unless it also says delivery failed for good
_FINAL_RE = re.compile(
    r"permanent(?:ly)? (?:error|failure|fatal)|failed permanently|will not be retried|"
    r"(?:has|have) (?:been )?given up|gave up|could not be delivered|不再(?:重试|尝试)|已放弃",
    re.IGNORECASE,
)
# A promise of further attempts ("We will continue to attempt delivery of this message for 5
# days", "Delivery attempts will continue to be made for 5 day(s)"; both words of _DELAY_RE;
# Postfix's "It will be retried until it is 5.0 days old" after its "THIS IS A WARNING ONLY"):
# a delay even where the notice says the message "could not be delivered" (so far: Postfix's
# "could not be delivered for 4.0 hours"), which _FINAL_RE reads as final ...
_RETRYING_RE = re.compile(
    r"will continue (?:to )?(?:try|attempt)(?:ing)? (?:to deliver|delivery)|"
    r"delivery attempts will continue|will be retried until|继续尝试(?:投递|发送)",
    re.IGNORECASE,
)
# ... unless it says it stopped trying
_GAVE_UP_RE = re.compile(
    r"permanent(?:ly)? (?:error|failure|fatal)|failed permanently|will not be retried|"
    r"(?:has|have) (?:been )?given up|gave up|不再(?:重试|尝试)|已放弃",
    re.IGNORECASE,
)


def _is_delay(notification: str) -> bool:
    """True if a notice without a DSN part says the MTA still tries (see :data:`_DELAY_RE`):
    in its words as read, not as wrapped ("a warning<LF>message only" says it as well)."""
    notification = " ".join(notification[:MAX_TEXT].split())
    # One scan of the notice in the common case (no delay wording at all): every
    # _RETRYING_RE match is a _DELAY_RE match.
    if not _DELAY_RE.search(notification):
        return False
    if not _FINAL_RE.search(notification):
        return True
    return bool(_RETRYING_RE.search(notification)) and not _GAVE_UP_RE.search(notification)


def _diag_from_text(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if _CODE_RE.search(line):
            return " ".join(lines[i : i + 4])
    return " ".join(lines[:12])


def _strip_recipient_line(diag: str, recipient: str) -> str:
    # The address itself carries no information; keep what follows it.
    return diag.replace(f"<{recipient}>", "<>").strip()
