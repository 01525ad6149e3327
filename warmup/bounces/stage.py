"""The SMTP stage a bounce's remote reply answered, and whether "user unknown" wording is
corroborated by it (sisimai's reading: user-unknown text refused after DATA, or with nothing
saying it came at RCPT, is a filter wearing that mask, not proof that the address is bad)."""

from __future__ import annotations

import re

__all__ = ["AFTER_DATA", "smtp_stage", "uncorroborated_unknown"]


def _p(block: str) -> re.Pattern[str]:
    return re.compile("|".join(ln.strip() for ln in block.strip().splitlines() if ln.strip()))


# The SMTP stage a remote reply answered. Sendmail's bare ">>> DATA" transcript line is not
# evidence either way: with pipelining, RCPT errors are printed after it.
AFTER_DATA = re.compile(
    r"(?:in reply to|after) end of data|in reply to data command|failed after i sent the message"
)
# RCPT-stage evidence: the stage named by Postfix/Exim/qmail/Yahoo/X3/Messaging Server, the
# server answering DATA with "Need RCPT"/"no valid recipients" (every RCPT had failed), a reply
# in Postfix's RCPT-restriction form ("550 5.1.1 <addr>: ..."), Exchange code 000C05A6.
_AT_RCPT = _p(r"""
    in reply to rcpt to|after rcpt to|rcpt to command|>>> rcpt to:?\s*<[^>]*>\s*<<<
    does not like recipient|\[rcpt_to\]|smtp:rcpt\b|has rejected address
    need rcpt|no valid recipients|recipient address rejected
    (?:^|[\s:;])[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?<[^<>\s]+@[^<>\s]+>:
    \(000c05a6\)
""")
# The reporting host did the final (local) delivery itself: no remote reply to mask a filter.
_LOCAL_DELIVERY = re.compile(r"\bfinal delivery\b")


def smtp_stage(text: str) -> str:
    """The SMTP command a remote reply answered, as stated in ``text``: "RCPT", "DATA" or ""."""
    low = " ".join((text or "").lower().split())
    if AFTER_DATA.search(low):
        return "DATA"
    return "RCPT" if _AT_RCPT.search(low) else ""


def uncorroborated_unknown(text: str, key: tuple[int, int] | None, stage: str | None) -> bool:
    """True if "user unknown" wording in ``text`` (lower-cased) is not backed by the status
    detail ``key`` or the SMTP ``stage`` (``None``: a live reply, trusted unless after DATA)."""
    if key == (1, 1) or (stage is not None and key is not None and key[0] == 1):
        return False  # X.1.x: the status itself says the address is bad
    if AFTER_DATA.search(text):
        return True
    if stage is None:
        return False
    # Without an address status only the RCPT stage (or a local delivery) makes the wording a
    # directory verdict; an X.2.x status even says the mailbox exists (RFC 3463).
    corroborated = stage == "RCPT" or (not stage and _AT_RCPT.search(text))
    return not (corroborated or _LOCAL_DELIVERY.search(text))
