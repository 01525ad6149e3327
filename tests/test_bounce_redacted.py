"""Complaints whose recipient the feedback loop redacted (RFC 6590).

Feedback loops (Microsoft JMRP, Yahoo CFL, many an ISP's) redact the recipient of the message
complained about: "redacted", "[redacted]", "xxxxx@example.com", the name before the '@'
replaced. Such a complaint matched nothing (listed as not counted, the person who complained
mailed on), and the placeholder "redacted@example.com" was taken for an address. It is matched
by the Message-ID of its original alone: a Message-ID of this mailbox's sends is no stranger's
guess (the report returns the message), and the recipient of that send is the one who
complained.

The reports below are written from the documented formats, not copied from a provider:
RFC 5965 (ARF) appendix B's complete example, its recipient redacted as RFC 6590 section 4
describes; Microsoft's JMRP reports (ARF, From staff@hotmail.com, User-Agent "Hotmail FBL",
Version 0.1, https://sendersupport.olc.protection.outlook.com/pm/junkmail.aspx) and Yahoo's CFL
reports (ARF, From feedback@arf.mail.yahoo.com, User-Agent "Yahoo!-Mail-Feedback/2.0",
https://senders.yahooinc.com/complaint-feedback-loop/), each with the recipient in a redacted
form. Only the shape matters here: a feedback-report part whose recipient is a placeholder, and
the original returned with this mailbox's From and Message-ID.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounce_onereport import BOX, NOW, SENT, rows
from warmup import api
from warmup.bounces import parse_bounces
from warmup.bounces.imap import record_batch
from warmup.ledger import SendIn, open_ledger

# RFC 5965 appendix B.2's complete report, about a message of BOX, Original-Rcpt-To and the
# original's To redacted (RFC 6590 section 4: the local-part replaced).
RFC6590 = """From: <abusedesk@example.com>
Date: {date}
Subject: FW: Earn money
To: <{box}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
     boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on {date}.  For more information
about this format please see http://www.mipassoc.org/arf/.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{box}>
Original-Rcpt-To: <redacted@example.com>
Arrival-Date: {date}
Reporting-MTA: dns; mail.example.com
Source-IP: 192.0.2.1
Reported-Domain: corp.example

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <{box}>
Received: from mailserver.corp.example (mailserver.corp.example
     [192.0.2.1]) by example.com with ESMTP id M63d4137594e46;
     {date}
To: <redacted@example.com>
Subject: Earn money
MIME-Version: 1.0
Content-type: text/plain
{mid}Date: {sent}

Spam Spam Spam
--part1_13d.2e68ed54_boundary--
"""

# Microsoft JMRP's shape: ARF version 0.1 from staff@hotmail.com, the recipient "[redacted]".
JMRP = """From: staff@hotmail.com
To: {box}
Subject: complaint about message from 192.0.2.1
Date: {date}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="jmrp"

--jmrp
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.1.

--jmrp
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Hotmail FBL
Version: 0.1
Source-IP: 192.0.2.1
Original-Mail-From: <{box}>
Original-Rcpt-To: [redacted]
Arrival-Date: {date}

--jmrp
Content-Type: message/rfc822

From: {box}
To: [redacted]
Subject: Hello
{mid}Date: {sent}

Hi
--jmrp--
"""

# Yahoo CFL's shape: ARF from feedback@arf.mail.yahoo.com, the local-part x'ed out.
YAHOO = """From: feedback@arf.mail.yahoo.com
To: {box}
Subject: FW: Hello
Date: {date}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="cfl"

--cfl
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--cfl
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 0.1
Original-Mail-From: <{box}>
Original-Rcpt-To: xxxxx@yahoo.com
Arrival-Date: {date}
Reported-Domain: corp.example
Authentication-Results: mta1000.mail.ne1.yahoo.com  from=corp.example; dkim=pass

--cfl
Content-Type: message/rfc822

From: {box}
To: xxxxx@yahoo.com
Subject: Hello
{mid}Date: {sent}

Hi
--cfl--
"""

FORMATS = {"rfc6590": RFC6590, "jmrp": JMRP, "yahoo": YAHOO}


def report(template: str, mid: str | None, at: dt.datetime = NOW) -> bytes:
    """The complaint ``template`` about BOX's message ``mid`` (None: the original has none)."""
    return template.format(
        box=BOX,
        date=email.utils.format_datetime(at - dt.timedelta(hours=1)),
        sent=email.utils.format_datetime(SENT),
        mid=f"Message-ID: {mid}\n" if mid else "",
    ).encode()


def test_a_redacted_recipient_is_no_address() -> None:
    """Every form names no recipient (never "redacted@example.com", an address to suppress
    or look for), says it is redacted, and keeps the original's Message-ID to match by."""
    for name, template in FORMATS.items():
        [b] = parse_bounces(report(template, "<a1@corp.example>"))
        assert (b.recipient, b.kind, b.redacted, b.message_id) == (
            "",
            "complaint",
            True,
            "<a1@corp.example>",
        ), name
    # an ARF report naming its recipient is as it was
    plain = report(RFC6590, "<a1@corp.example>").replace(
        b"redacted@example.com", b"ann@example.com"
    )
    [b] = parse_bounces(plain)
    assert (b.recipient, b.redacted) == ("ann@example.com", False)


def test_bounces_parse_json_says_redacted(tmp_path: Path, run: Callable[..., Result]) -> None:
    path = tmp_path / "jmrp.eml"
    path.write_bytes(report(JMRP, "<a1@corp.example>"))
    result = run("bounces", "parse", str(path), "--json")
    assert result.exit_code == 0, result.output
    [b] = json.loads(result.output)[0]["bounces"]
    assert (b["recipient"], b["kind"], b["redacted"]) == ("", "complaint", True)
    text = run("bounces", "parse", str(path)).output
    assert "(redacted)" in text


def test_a_redacted_complaint_counts_for_the_send_its_message_id_names(
    ledger_url,  # noqa: F811
) -> None:
    """Each format, about one of three sends of BOX: counted for that send, its recipient
    suppressed and listed; the placeholder is suppressed nowhere."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = [f"lead{i}@client.example" for i in range(3)]
        ledger.record(
            box, sends=[SendIn(r, SENT, f"<a{i}@corp.example>") for i, r in enumerate(rcpts)]
        )
        got = []
        for i, template in enumerate(FORMATS.values()):
            got += record_batch(
                ledger, box, "INBOX", 1, i + 1, rows(report(template, f"<a{i}@corp.example>")), NOW
            )
        listed = [
            (r["recipient"], r["kind"], r["counted"], r["not_counted"]) for r in ledger.bounces()
        ]
        suppressed = ledger.suppressed([*rcpts, "redacted@example.com", "xxxxx@yahoo.com"])
    finally:
        ledger.close()
    assert [matched for _, matched, _ in got] == [True, True, True]
    assert sorted(listed) == [(r, "complaint", True, None) for r in rcpts]
    assert sorted(suppressed) == rcpts


def test_a_redacted_complaint_without_this_mailboxs_message_id_is_not_counted(
    ledger_url,  # noqa: F811
) -> None:
    """No Message-ID, another's (or made up), or one this mailbox sent to two recipients
    (which of them complained is unknown): kept, not counted, suppressing nothing, and
    listed with why."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        ledger.record(
            box,
            sends=[
                SendIn("lead1@client.example", SENT, "<a1@corp.example>"),
                SendIn("ann@client.example", SENT, "<both@corp.example>"),
                SendIn("bob@client.example", SENT, "<both@corp.example>"),
            ],
        )
        for i, mid in enumerate((None, "<forged@attacker.example>", "<both@corp.example>")):
            record_batch(ledger, box, "INBOX", 1, i + 1, rows(report(JMRP, mid)), NOW)
        listed = sorted(
            (r["message_id"] or "", r["counted"], r["not_counted"]) for r in ledger.bounces()
        )
        suppressed = ledger.suppressed(
            ["lead1@client.example", "ann@client.example", "bob@client.example"]
        )
    finally:
        ledger.close()
    assert listed == [
        (
            "",
            False,
            "its recipient is redacted and it names no Message-ID: nothing says which send",
        ),
        (
            "<both@corp.example>",
            False,
            f"its recipient is redacted and {BOX} sent <both@corp.example> to 2 recipients: "
            "which one complained is unknown",
        ),
        (
            "<forged@attacker.example>",
            False,
            f"its recipient is redacted and its original <forged@attacker.example> is none of {BOX}'s sends",
        ),
    ]
    assert suppressed == {}


def test_a_redacted_complaint_read_before_its_send_is_linked_later(ledger_url) -> None:  # noqa: F811
    """Read before its send was recorded (an import after the sync): the next sync's late
    match links it by its Message-ID, counts it and suppresses the recipient."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        [(_, matched, _)] = record_batch(
            ledger, box, "INBOX", 1, 1, rows(report(YAHOO, "<a1@corp.example>")), NOW
        )
        ledger.record(box, sends=[SendIn("lead1@client.example", SENT, "<a1@corp.example>")])
        linked = ledger.match_late(box)
        [listed] = ledger.bounces()
        suppressed = ledger.suppressed(["lead1@client.example"])
    finally:
        ledger.close()
    assert (matched, linked) == (False, 1)
    assert (listed["recipient"], listed["counted"]) == ("lead1@client.example", True)
    assert suppressed.keys() == {"lead1@client.example"}


# RFC 6590's other form: the local part replaced by a keyed hash of it (here an HMAC-SHA-256 in
# hex, 64 digits), the same in the report's field and the returned original's To.
HASHED = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea@example.com"


def _one_complaint(url: str, raw: bytes, sends: list[SendIn], addresses: list[str]):
    """Record ``sends`` of BOX, then the complaint ``raw`` read from its mailbox: whether it
    matched, its listing, and which of ``addresses`` are suppressed."""
    ledger = open_ledger(url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        ledger.record(box, sends=sends)
        [(_, matched, _)] = record_batch(ledger, box, "INBOX", 1, 1, rows(raw), NOW)
        [listed] = ledger.bounces()
        return matched, listed, ledger.suppressed(addresses)
    finally:
        ledger.close()


def test_a_hashed_recipient_never_mailed_is_redacted(ledger_url) -> None:  # noqa: F811
    """A complaint naming an address whose local part is a hex digest, which the mailbox never
    mailed, was listed "never mailed" and the person who complained was mailed on: it is the
    hashed form of a redacted recipient, matched by its Message-ID like the others (counted,
    the send's recipient suppressed, the digest suppressed nowhere)."""
    raw = report(RFC6590, "<a1@corp.example>").replace(b"redacted@example.com", HASHED.encode())
    sends = [SendIn("lead1@client.example", SENT, "<a1@corp.example>")]
    matched, listed, suppressed = _one_complaint(
        ledger_url, raw, sends, ["lead1@client.example", HASHED]
    )
    assert matched
    assert (listed["recipient"], listed["counted"]) == ("lead1@client.example", True)
    assert suppressed.keys() == {"lead1@client.example"}


def test_a_hex_address_the_mailbox_mailed_is_an_address(ledger_url) -> None:  # noqa: F811
    """A real local part can be hex: when the mailbox mailed that address, it is the one who
    complained, matched as any address (and a message to two recipients, which a redacted
    complaint could not tell apart, still names its one)."""
    raw = report(RFC6590, "<both@corp.example>").replace(b"redacted@example.com", HASHED.encode())
    sends = [
        SendIn(HASHED, SENT, "<both@corp.example>"),
        SendIn("bob@client.example", SENT, "<both@corp.example>"),
    ]
    matched, listed, suppressed = _one_complaint(
        ledger_url, raw, sends, [HASHED, "bob@client.example"]
    )
    assert matched
    assert (listed["recipient"], listed["counted"]) == (HASHED, True)
    assert suppressed.keys() == {HASHED}
