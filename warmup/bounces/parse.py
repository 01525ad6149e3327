"""Parse bounce messages (DSNs, plain-text NDRs, ARF complaints) into ``Bounce`` records.

The entry point: which format a message is in (a DSN: :mod:`warmup.bounces.dsn`; a complaint:
:mod:`warmup.bounces.complaints`; a provider's notification: :mod:`warmup.bounces.notifications`;
a plain-text notice: :mod:`warmup.bounces.notices`; a forward of one, an auto-reply), and what of
a stranger's report is kept (:func:`_bounded`). Pure library: standard-library ``email`` only,
no I/O (``warmup bounces parse`` reads files with :mod:`warmup.bounces.reportfiles`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from warmup.addresses import normalize_domain
from warmup.errors import DataError
from warmup.words import printable

from . import formats, notifications
from .complaints import is_bare_jmrp, is_jmrp, parse_arf
from .dsn import parse_dsn
from .message import MAX_PARTS, Parts, clean_addr, to_message
from .notices import parse_text
from .record import MAX_RECIPIENTS, Bounce, fold, make

__all__ = ["capped", "parse_bounces"]

# What a mail client puts before the Subject of a forward: English, German (WG), French (TR),
# Spanish (RV), Portuguese (ENC), Chinese and Japanese.
_FORWARD_SUBJECT_RE = re.compile(r"\s*(?:fwd?|wg|tr|rv|enc|转发|轉寄|転送)\s*[:：]", re.IGNORECASE)
MAX_FORWARDS = 5  # attachments a forwarded report is looked for in (:func:`_forwarded_notice`)
# Longer is no address (RFC 5321 4.5.3.1.3; every input of a send refuses one) and no
# Message-ID (a header line's 998 octets, RFC 5322 2.1.1): nothing a send of ours can carry.
MAX_ADDRESS = 254
MAX_MESSAGE_ID = 998


def parse_bounces(raw: bytes | str | Message, *, mailbox: str | None = None) -> list[Bounce]:
    """Parse a bounce/complaint message into zero or more ``Bounce`` records.

    Returns ``[]`` for anything that is not a failure: auto-replies, successful delivery
    reports (delivered/relayed/expanded), ordinary mail, and unparseable input. Never raises.
    A bounce whose recipient could not be found has ``recipient == ""``: keep it for the
    record, never count it against a mailbox.

    At most :data:`~warmup.bounces.record.MAX_RECIPIENTS` bounces, and one more when the report
    lists more (:func:`capped` keeps the first ones and says whether it cut).

    ``mailbox``: the address whose bounces these are (``bounces sync`` passes it). A provider's
    own notification format (Amazon SES JSON) yields bounces only if the message claims to come
    from that provider and, given ``mailbox``, reports on mail that ``mailbox`` sent; otherwise
    nothing (see :mod:`warmup.bounces.notifications`). Without ``mailbox`` — ``warmup bounces
    parse FILE``, which records nothing — only the origin is checked: pass ``mailbox`` whenever
    the result will be recorded.
    """
    try:
        msg = to_message(raw)
        if msg is None:
            return []
        return [_bounded(b) for b in _parse(msg, mailbox=mailbox)]
    except Exception:
        return []


def capped(bounces: list[Bounce]) -> tuple[list[Bounce], bool]:
    """(the first :data:`~warmup.bounces.record.MAX_RECIPIENTS` of ``bounces``, whether the
    report listed more)."""
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
    # A space is the only blank a printable text holds (tests/test_bounce_parsefast.py checks
    # every code point): one search, not a test of each character.
    return recipient.isprintable() and " " not in recipient


def _parse(msg: Message, depth: int = 0, mailbox: str | None = None) -> list[Bounce]:
    parts = Parts(msg)
    if not msg.is_multipart() and depth < 2:
        reparsed = formats.reparse_inline_mime(msg, "\n".join(parts.texts))
        if reparsed is not None:
            # A boundary guessed wrong (a line of the text that only looked like one) finds
            # nothing: the message is then read as it came, its status fields in its text.
            found = _parse(reparsed, depth + 1, mailbox)
            if found:
                return found
    if parts.feedback or "feedback-report" in str(msg.get("Content-Type", "")).lower():
        return parse_arf(msg, parts)
    if is_jmrp(msg, parts):
        return parse_arf(msg, parts, "Microsoft's JMRP report (no ARF part)", "jmrp")
    if is_bare_jmrp(msg):
        # The report is the original itself: its body is the original's, no report's words.
        parts.original, parts.texts = msg, []
        return parse_arf(msg, parts, "Microsoft's JMRP report (the original itself)", "jmrp")
    if parts.dsn and parts.dsn_in_text and not _reports_itself(msg, "\n".join(parts.texts)):
        # "Final-Recipient: ... Action: failed" typed (or pasted) into a reply is no report:
        # anybody can write it, about any address the mailbox mails.
        parts.dsn = []
    if parts.dsn:
        return parse_dsn(msg, parts)
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
            attached = _attached_message(msg)
            if attached is not None:
                # ... or of a notice no MTA's sender names (a list's bounce handler, a
                # postmaster's hand-written reply): the attachment is read as a report. Its
                # Subject, quoted in the forward's ("Fwd: Returned mail"), made the forward read
                # as one: its failed address lost, the note's addresses taken for it.
                found = _parse(attached, depth + 1, mailbox)
                if found or _forwarded_back(msg, attached):
                    # A message the mailbox received, forwarded back to it, says what the
                    # attachment says: an auto-reply's forward is no bounce for its Subject.
                    return found
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
        diag = fold(f"unsubscribe: {body}")
        return [Bounce(unsubscribe, "complaint", "", "", diag, "", "feedback", "unsubscribe", why)]
    if (formats.is_autoreply(msg) or formats.is_challenge(msg, body)) and not msg.get(
        "X-Failed-Recipients"
    ):
        return []
    if not formats.looks_like_bounce(msg, body):
        return []
    return parse_text(msg, parts, body)


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


def _attached_message(msg: Message) -> Message | None:
    """The message a person attached to ``msg`` (RFC 2046 5.2.1, a mail client's "forward as
    attachment"): the first message/rfc822 part of its top multipart/mixed."""
    if msg.get_content_type() != "multipart/mixed":
        return None
    sub = msg.get_payload()
    for part in sub if isinstance(sub, list) else ():
        if isinstance(part, Message) and part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0]
    return None


def _forwarded_back(msg: Message, attached: Message) -> bool:
    """Whether ``msg`` is a person's forward of ``attached``, not a notice returning its
    recipient's own message: its Subject says so ("Fwd:", "WG:", "转发:"), or ``attached`` is
    mail ``msg``'s recipient received (addressed to it, not from it)."""
    if _FORWARD_SUBJECT_RE.match(formats.subject_of(msg)):
        return True
    to = formats.header_addresses(msg, ("To",))
    return bool(
        to & formats.header_addresses(attached, ("To", "Cc"))
        and not to & formats.header_addresses(attached, ("From",))
    )


def _reports_itself(msg: Message, body: str) -> bool:
    """Whether ``msg`` presents itself as a report (a multipart/report, an MTA's notice), so
    delivery-status fields in its text are read as its own. Not authentication (a forger
    writes these too): what does not even claim to be a report is not read as one."""
    return (
        msg.get_content_type() == "multipart/report"
        or formats.is_daemon_sender(msg)
        or formats.looks_like_bounce(msg, body)
    )


def _parse_ses(items: list[dict[str, str]]) -> list[Bounce]:
    out: list[Bounce] = []
    for item in items:
        recipient = clean_addr(item.get("recipient", ""))
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
        out.append(make(recipient, item.get("status", ""), "", diag or sub, message_id, kind))
    return out
