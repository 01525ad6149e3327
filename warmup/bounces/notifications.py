"""Provider notification formats (Amazon SES JSON) and when to believe one.

A DSN or an ARF report names the failed recipient and the original message, and the ledger
counts it only if it matches a send of the mailbox. A provider's own notification format is
different: it is a list of addresses in a body anybody can write. One forged message listing
300 addresses once paused a mailbox (issue #10), so a notification is believed only if:

1. it claims to come from the provider (:func:`from_provider`), and
2. it reports on mail that the mailbox being synced sent (:func:`about`).

Neither authenticates it: headers and JSON are written by whoever sent the message. They turn
away everything that does not even pretend, and what does pretend still needs a matching send to
count. Authenticating it would take DKIM (DNS lookups) or the SNS signature (fetching its
certificate), neither of which a read-only sync should depend on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message

from .formats import ADDR_RE, addresses

__all__ = ["SES_DOMAINS", "SesNotice", "about", "from_provider", "ses_notice"]

# Where SES notifications come from: SNS e-mail subscriptions are sent as
# "no-reply@sns.amazonaws.com" with a Return-Path at "<region>.amazonses.com".
SES_DOMAINS = ("amazonses.com", "amazonaws.com")
# SES accepts at most 50 recipients per message, so a notification never lists more.
MAX_RECIPIENTS = 50


@dataclass(frozen=True)
class SesNotice:
    """A decoded SES bounce or complaint notification."""

    items: list[dict[str, str]]
    # The original message's senders: mail.source (its envelope sender) and
    # mail.commonHeaders.from, lower-cased.
    senders: frozenset[str] = field(default_factory=frozenset)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _within(address: str, domains: tuple[str, ...]) -> bool:
    domain = _domain(address)
    return any(domain == d or domain.endswith("." + d) for d in domains)


def from_provider(msg: Message, domains: tuple[str, ...]) -> bool:
    """True if ``msg`` claims to come from a provider whose mail domains are ``domains``.

    Checked: every address in From, and the Return-Path (the envelope sender the receiving
    server recorded) when there is one, are in one of ``domains`` or below. Both are needed:
    From alone is free text to any sender, and a forger who writes a provider's From still
    sends from its own envelope address unless it also forges that, which SPF-checking
    receivers make harder. This rejects the plain forgery; it is not authentication (see the
    module docstring for what keeps a convincing forgery from counting).
    """
    senders = addresses(" ".join(str(v) for v in msg.get_all("From", []) or [])[:2000])
    if not senders or not all(_within(a, domains) for a in senders):
        return False
    return_path = addresses(str(msg.get("Return-Path", ""))[:2000])
    return all(_within(a, domains) for a in return_path)


def about(notice: SesNotice, mailbox: str) -> bool:
    """True if the notification reports on a message that ``mailbox`` sent."""
    return mailbox.strip().lower() in notice.senders


_WRAP_RE = re.compile(r"\r?\n ?")


def ses_notice(text: str) -> SesNotice | None:
    """Decode an Amazon SES (SNS) JSON notification body; None if it is not one."""
    start = text.find("{")
    if start < 0 or ("notificationType" not in text and "eventType" not in text):
        return None
    body = text[start : text.rfind("}") + 1]
    data = None
    # Notification bodies are often line-wrapped by mail gateways, even inside JSON strings.
    for candidate in (body, _WRAP_RE.sub("", body)):
        try:
            data = json.loads(candidate, strict=False)
            break
        except ValueError:
            continue
    if data is None:
        return None
    if isinstance(data, dict) and isinstance(data.get("Message"), str):
        try:
            data = json.loads(data["Message"], strict=False)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    ntype = str(data.get("notificationType") or data.get("eventType") or "")
    mail = data.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    # mail.messageId is SES's own id, not the original's Message-ID header (which
    # commonHeaders carries, when it does): a send is matched by that header, and without it
    # by recipient and time, never by an id no send of the mailbox can carry.
    common = mail.get("commonHeaders")
    header_id = common.get("messageId") if isinstance(common, dict) else None
    msgid = str(header_id).strip().strip("<>") if isinstance(header_id, str) else ""
    out: list[dict[str, str]] = []
    if ntype == "Bounce" and isinstance(data.get("bounce"), dict):
        bounce = data["bounce"]
        for r in _recipients(bounce.get("bouncedRecipients")):
            out.append(
                {
                    "kind": "bounce",
                    "recipient": str(r.get("emailAddress", "")),
                    "status": str(r.get("status", "") or ""),
                    "diagnostic": str(r.get("diagnosticCode", "") or ""),
                    "bounce_type": str(bounce.get("bounceType", "")),
                    "sub_type": str(bounce.get("bounceSubType", "")),
                    "message_id": msgid,
                }
            )
    elif ntype == "Complaint" and isinstance(data.get("complaint"), dict):
        for r in _recipients(data["complaint"].get("complainedRecipients")):
            out.append(
                {
                    "kind": "complaint",
                    "recipient": str(r.get("emailAddress", "")),
                    "message_id": msgid,
                }
            )
    return SesNotice(out, _senders(mail))


def _recipients(value: object) -> list[dict[str, object]]:
    if not isinstance(value, list):
        return []
    return [r for r in value if isinstance(r, dict)][:MAX_RECIPIENTS]


def _senders(mail: dict[str, object]) -> frozenset[str]:
    found = [str(mail.get("source", ""))]
    common = mail.get("commonHeaders")
    if isinstance(common, dict):
        value = common.get("from")
        found += [str(v) for v in value] if isinstance(value, list) else [str(value or "")]
    return frozenset(m.group(1).lower() for text in found for m in ADDR_RE.finditer(text[:2000]))
