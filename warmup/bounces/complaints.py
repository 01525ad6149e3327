"""Complaints: ARF feedback reports (RFC 5965), Microsoft's pre-ARF JMRP complaints, and the
redacted recipients of feedback loops (RFC 6590), read into ``Bounce`` records (kind
``complaint``, or ``notice`` for a feedback type that is no complaint: :data:`NOT_COMPLAINTS`).
"""

from __future__ import annotations

import re
from email.message import Message

from . import formats
from .message import ADDRESSEES, Parts, clean_addr, message_id_of, said
from .record import Bounce, fold

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


_TO_RE = re.compile(r"^To:\s*(.+)$", re.MULTILINE | re.IGNORECASE)


# Microsoft's Junk Mail Reporting Program wrote its complaints in a format of its own before ARF
# (still read by feedback-loop tools; sisimai's ARF module reads it so, BSD-2): From
# staff@hotmail.com, "Subject: complaint about message from <IP>", a multipart/mixed whose
# attached original carries the complaining recipient in an X-HmXmrOriginalRecipient header.
# Amazon SES forwarded complaints the same way from complaints@email-abuse.amazonses.com. A
# complaint counts, as an ARF report's does, only for a send of the mailbox it names.
_JMRP_SENDERS = frozenset({"staff@hotmail.com", "complaints@email-abuse.amazonses.com"})
_JMRP_SUBJECT = re.compile(r"\s*complaint about message from\b", re.IGNORECASE)
_JMRP_RECIPIENT = "X-HmXmrOriginalRecipient"


def is_jmrp(msg: Message, parts: Parts) -> bool:
    """Whether ``msg`` is a complaint in Microsoft's pre-ARF JMRP form (see above)."""
    if parts.original is None or not _JMRP_SUBJECT.match(str(msg.get("Subject", ""))[:200]):
        return False
    senders = formats.header_addresses(msg, ("From",))
    return bool(senders) and senders <= _JMRP_SENDERS


def is_bare_jmrp(msg: Message) -> bool:
    """Whether ``msg`` is JMRP's older form: the complained-of original itself, sent back by
    Hotmail's junk-mail reporting from staff@hotmail.com (its Return-Path, the envelope's
    sender) with the complainer added in an X-HmXmrOriginalRecipient header on top (form seen
    in PHP-Bounce-Handler's test messages, BSD-2). Its From and Message-ID are the original's:
    as any complaint, it counts only for a send of the mailbox with that Message-ID."""
    if msg.get(_JMRP_RECIPIENT) is None:
        return False
    senders = formats.header_addresses(msg, ("Return-Path",))
    return bool(senders) and senders <= _JMRP_SENDERS


def parse_arf(
    msg: Message, parts: Parts, form: str = "an ARF report", rule: str = "arf"
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
            recipient = clean_addr(fields[key])
            if recipient:
                break
    if not recipient and parts.original is not None:
        hmxmr = str(parts.original.get(_JMRP_RECIPIENT, ""))[:1000]
        redacted = redacted or _is_redacted(hmxmr)
        recipient = "" if redacted else clean_addr(hmxmr)
    # Else the original's only recipient. Of a message to several, which one complained is
    # unknown: the first of them (alphabetically) was taken, suppressing an address that never
    # complained while the one that did was mailed on. No recipient: kept, never counted.
    # A copied (Cc) address is one of them as much as a To one.
    named = formats.header_addresses(parts.original, ADDRESSEES) if not recipient else set()
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
            recipient = clean_addr(m.group(1))
    hidden = redacted and not recipient
    text = " ".join(parts.texts)
    feedback_type = fields.get("feedback-type", "abuse")
    diag = feedback_type + (": " + text if text else "")
    message_id = message_id_of(parts, msg, fields, "")
    why = NOT_COMPLAINTS.get(feedback_type.strip().lower())
    made = [
        Bounce(
            recipient=recipient,
            kind="notice" if why else "complaint",
            status="",
            reply="",
            diagnostic=fold(diag),
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
    return said(made, parts, "")


# ARF feedback types that are no recipient's complaint (kind ``notice``: recorded and listed,
# never counted in the complaint rate, never suppressing the address). RFC 6591's auth-failure
# says a message claiming the domain failed SPF, DKIM or DMARC (a forger's as likely as ours:
# a matter for the domain's DNS, and the recipient complained of nothing); RFC 6430's not-spam
# says the opposite of a complaint (a message judged wanted).
NOT_COMPLAINTS = {
    "auth-failure": "RFC 6591: a message claiming the domain failed SPF/DKIM/DMARC, no complaint",
    "not-spam": "a message judged wanted: the opposite of a complaint",
}
