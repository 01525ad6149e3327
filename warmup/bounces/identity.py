"""What makes two bounce records the same bounce: a key from what the report says.

The same report can be read more than once: a folder deleted and recreated (new UIDVALIDITY,
so every message is read again), a copy in a second folder, a second sync of a ledger that
lost its position. Its bounces must be recorded once, so a bounce's key comes from the report
itself, never from where it was found (folder, UIDVALIDITY, UID):

- the report's own Message-ID with the recipient, when it has one (the form keys have always
  had, so ledgers that recorded bounces before this stay consistent);
- otherwise a digest of what it reports: the reporting MTA (the DSN's Reporting-MTA, else the
  report's From address), the time it was written (its Date, else the DSN's Arrival-Date), the
  original Message-ID, the recipient and the status, and whether it is a delay warning.

Two reports without a Message-ID that agree on all of these, to the second, are taken for one.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass

from warmup.words import printable

from .formats import addresses
from .record import Bounce

__all__ = ["Report", "bounce_key", "read_report", "report_key"]

_HEADER_BYTES = 65_536
_REPORTING_MTA = re.compile(rb"^Reporting-MTA:[ \t]*([^\r\n]{1,300})", re.IGNORECASE | re.MULTILINE)
_ARRIVAL = re.compile(rb"^Arrival-Date:[ \t]*([^\r\n]{1,100})", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Report:
    """The facts that identify a report (not its bounces)."""

    message_id: str  # its own Message-ID, "" if none
    reporter: str  # Reporting-MTA, else the From address, lower-cased
    date: dt.datetime | None  # when it was written (aware UTC), if it says
    date_text: str  # the same as text ("" if none): an unparseable date still identifies


def read_report(raw: bytes) -> Report:
    """The identifying facts of a report (its headers and delivery-status fields)."""
    head = raw[:_HEADER_BYTES].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
    # Printable: the key is stored, and PostgreSQL takes no NUL in text.
    own = printable(" ".join(str(msg.get("Message-ID", "")).split())[:300])
    mta = _REPORTING_MTA.search(raw)
    if mta:
        reporter = mta.group(1).decode("latin-1").strip().lower()
    else:
        senders = addresses(str(msg.get("From", ""))[:2000])
        reporter = senders[0] if senders else ""
    text = str(msg.get("Date", "")).strip()
    if not text:
        arrival = _ARRIVAL.search(raw)
        text = arrival.group(1).decode("latin-1").strip() if arrival else ""
    date = _utc(text)
    return Report(own, reporter, date, date.isoformat() if date else " ".join(text.split()))


def bounce_key(report: Report, bounce: Bounce, index: int) -> str:
    """The ledger key of ``bounce``, the ``index``-th bounce parsed from ``report``.

    ``index`` separates the bounces of one report that name no recipient (only they need it).
    """
    rcpt = bounce.recipient or ""
    if report.message_id:
        return f"dsn:{report.message_id}|{rcpt}" + (f"#{index}" if index and not rcpt else "")
    facts = [report.reporter, report.date_text, bounce.message_id, rcpt, bounce.status]
    if not rcpt:
        facts.append(str(index))
    if bounce.delayed:
        # A delay warning and the failure that follows often share all the rest (the time
        # being the Arrival-Date of the original, the status 4.4.1): one must not pass for the
        # other. Marked on the warning, so the failures' keys stay what they always were.
        facts.append("delayed")
    digest = hashlib.sha256("\x1f".join(facts).encode("utf-8", "replace")).hexdigest()[:32]
    return f"rpt:{digest}|{rcpt}"


def report_key(report: Report, raw: bytes) -> str:
    """What the ledger knows the bounces of one report by (``bounce.report``): its own
    Message-ID, else a digest of the message as read. A report is about one message (RFC
    3464), so its recipients count only for the sends of one message; the same report read
    again has the same key (and its bounces their keys: recorded once)."""
    if report.message_id:
        return f"dsn:{report.message_id}"
    return f"raw:{hashlib.sha256(raw).hexdigest()[:32]}"


def _utc(text: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:  # "31 Dec 9999 23:59 -0100" is past datetime's last year in UTC
        return None
