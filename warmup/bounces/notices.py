"""Plain-text failure notices (qmail, Exim, Exchange, Gmail, Sendmail ... without a
delivery-status part): the failed recipients found in the notice's words, each with what the
notice says of it, and whether the notice is only a delay warning.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from . import formats
from .classify import says_nothing
from .message import (
    ADDRESSEES,
    MAX_TEXT,
    Parts,
    message_id_of,
    returned_head,
    said,
    signature,
)
from .record import MAX_RECIPIENTS, Bounce, fold, make


def parse_text(msg: Message, parts: Parts, body: str) -> list[Bounce]:
    notification, returned = formats.split_returned(body)
    fields: dict[str, str] = {}
    message_id = message_id_of(parts, msg, fields, returned)
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
        orig = returned_head(parts, returned)
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
    if msg.get("X-MLServer") or msg.get("X-ML-Name"):
        # A list manager refusing a post (fml) names its own addresses in its notice, where to
        # send a command ("team-ctl@..."): the post failed at the list it was addressed to.
        named = formats.header_addresses(orig, ADDRESSEES)
        recipients = [a for a in recipients if a in named] or recipients
    if not recipients:
        diag = fold(notification)
        # The original's recipient, if it had only one (of several, which failed is unknown).
        named = formats.header_addresses(orig, ADDRESSEES)
        recipient = next(iter(named)) if len(named) == 1 else ""
        text = text_diagnostic(notification)
        made = [make(recipient, "", "", text, message_id, mta=signature(msg))] if diag else []
        return said(made, parts, returned, orig)
    out: list[Bounce] = []
    delay = _is_delay(notification)
    for recipient in recipients[: MAX_RECIPIENTS + 1]:
        diag = blocks.get(recipient, "")
        if len(recipients) == 1 and says_nothing(diag):
            # Formats like "Error: ... / RCPT TO: addr" state the reason before the address.
            diag = f"{text_diagnostic(notification)} {diag}".strip()
        out.append(
            make(
                recipient,
                "",
                "",
                _strip_recipient_line(diag, recipient),
                message_id,
                stage_text=diag,
                mta=signature(msg),
                delayed=delay,
            )
        )
        if delay:
            step = "a delay warning in its words, the MTA still tries: counts for nothing"
            out[-1] = replace(out[-1], delayed=True, steps=(*out[-1].steps, step))
    return said(out, parts, returned, orig)


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
    # ... and as Exchange words it in French, Spanish, Portuguese and German
    r"la remise est retardée pour ces destinataires|la entrega está retrasada para estos|"
    r"a entrega está atrasada para estes|zustellung an folgende empfänger oder gruppen verzögert|"
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


def text_diagnostic(text: str) -> str:
    """A notice's explanation in its own text: the line with the first reply or status code and
    the three after it, or (no code) its first twelve lines."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if _CODE_RE.search(line):
            return " ".join(lines[i : i + 4])
    return " ".join(lines[:12])


def _strip_recipient_line(diag: str, recipient: str) -> str:
    # The address itself carries no information; keep what follows it.
    return diag.replace(f"<{recipient}>", "<>").strip()
