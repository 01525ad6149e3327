"""The ``Bounce`` record, and the one way one is made of what a report says about a recipient
(:func:`make`: its status, reply and words, the SMTP stage and the reporting MTA, decided by
:func:`warmup.bounces.classify.decide`). The report formats (:mod:`warmup.bounces.dsn`,
:mod:`warmup.bounces.complaints`, :mod:`warmup.bounces.notices`) build their bounces with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .classify import REMOTE_MARK, decide, extract_reply, extract_status
from .stage import smtp_stage

MAX_DIAG = 500
# The failed recipients of one report that are read: a report listing more (no MTA writes one
# of 15,000 addresses; anyone can) yields one more, so the caller can say it cut the list
# (:func:`warmup.bounces.parse.capped`).
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


def fold(text: str) -> str:
    """``text`` on one line, blanks collapsed, at most :data:`MAX_DIAG` characters."""
    return " ".join(text.split())[:MAX_DIAG]


_STATUS_CODE_RE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def make(
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
    diag = fold(diagnostic)
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
