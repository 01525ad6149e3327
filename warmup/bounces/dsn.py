"""Delivery status notifications (RFC 3464, and RFC 6533's global ones): each failed recipient
record of a report's delivery-status part (or of its text, when a broken MIME boundary hid the
part) read into a ``Bounce``, its diagnostic completed from the notice's own words about that
recipient. A report with no record is read as a plain-text notice (:mod:`warmup.bounces.notices`).
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message

from . import formats
from .classify import extract_reply, extract_status
from .message import ADDRESSEES, Parts, clean_addr, message_id_of, replied_to, said, signature
from .notices import parse_text, text_diagnostic
from .reasons import kind_of
from .record import MAX_RECIPIENTS, Bounce, make
from .stage import RCPT_STATED
from .vendors import reported_category

# A status of a subject alone (X.N.0: "5.5.0", what a relay writes for any 550): the remote
# reply's own enhanced code, if its Diagnostic-Code has one, says more.
_GENERIC_STATUS_RE = re.compile(r"[245]\.\d{1,3}\.0$")
# A status whose subject and detail both name something (not X.0.0, X.Y.0 with an unknown Y).
_SPECIFIC_STATUS_RE = re.compile(r"[245]\.(?!0\.)\d{1,3}\.(?!0$)\d{1,3}$")
# ... but a remote X.0.0 says less than a reporter's X.N.0: "5.1.0" (the address) is kept.
_SUBJECTLESS_STATUS_RE = re.compile(r"[245]\.0\.0$")
# A word in the diagnostic: three Latin letters, or two of another script ("空间不足").
_WORD_RE = re.compile(r"[A-Za-z]{3}|[^\x00-\x7f]{2}")
_DATA_STAGE_RE = re.compile(r"(?:in reply to|after) end of data", re.IGNORECASE)
_END_OF_DATA_RE = re.compile(r"end of data", re.IGNORECASE)
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


def _named(rec: dict[str, str]) -> tuple[str, str]:
    """(the recipient a DSN record names, its Original-Recipient): the Final-Recipient, else
    the Original-Recipient (a record that gives only the address of the RCPT TO), else
    X-Actual-Recipient; "" for a masked one."""
    recipient = clean_addr(rec.get("final-recipient", ""))
    original = clean_addr(rec.get("original-recipient", ""))
    original = "" if original and _masked(original) else original
    if recipient and _masked(recipient):
        recipient = ""
    return recipient or original or clean_addr(rec.get("x-actual-recipient", "")), original


def _postfix_own_note(diag: str, rec: dict[str, str]) -> bool:
    """Whether a DSN record's Diagnostic-Code is Postfix's own note about its own delivery
    ("X-Postfix; unknown user: ..."): no Remote-MTA named, no remote reply quoted."""
    return bool(
        _POSTFIX_NOTE.match(diag)
        and not rec.get("remote-mta", "").strip()
        and not _REMOTE_REPLY_RE.search(diag.split(";", 1)[1])
    )


def parse_dsn(msg: Message, parts: Parts) -> list[Bounce]:
    per_message, records = formats.dsn_records(parts.dsn, MAX_RECIPIENTS + 1)
    notice = "\n".join(parts.texts)
    notification, returned = formats.split_returned(notice)
    message_id = message_id_of(parts, msg, per_message, returned) or replied_to(
        msg, parts, returned, notification
    )
    text_blocks: dict[str, str] | None = None
    mta = signature(msg, per_message.get("reporting-mta", "").split(";")[-1], notification)
    names = [_named(r) for r in records]
    recipients = [recipient for recipient, _ in names]
    out: list[Bounce] = []
    seen: dict[str, int] = {}  # recipient -> its bounce's index in ``out``
    for rec, (recipient, original) in zip(records, names, strict=True):
        action = rec.get("action", "").lower().strip()
        status = rec.get("status", "").strip().split()[0] if rec.get("status", "").strip() else ""
        if any(action.startswith(a) for a in _SKIP_ACTIONS) or status.startswith("2"):
            continue
        if not recipient and len(records) == 1:
            text_blocks = text_blocks or _text_blocks(msg, notification)
            recipient = next(iter(text_blocks), "")
            # Else a Final-Recipient of no Internet address ("LOCAL;kim", "x400; /S=kim/", or
            # empty): the original's recipient, if it had only one (as a notice without a DSN).
            named = formats.header_addresses(parts.original, ADDRESSEES) if not recipient else ()
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
        if not diag and len(records) == 1 and not _SPECIFIC_STATUS_RE.match(status):
            # Neither a diagnostic, nor the address in the text, nor a status that names a
            # reason (Google Groups' refusal of a post names the group "(team)", under 5.0.0):
            # the notice's own words are all that explains its only recipient's failure.
            diag = text_diagnostic(notification)
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
        made = make(
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
        return parse_text(msg, parts, notice)
    return said(out, parts, returned)


def _text_blocks(msg: Message, notification: str, keep: set[str] | None = None) -> dict[str, str]:
    exclude = formats.header_addresses(msg, ("From", "To", "Return-Path", "Reply-To"))
    return formats.recipient_blocks(notification, exclude - (keep or set()), keep or set())
