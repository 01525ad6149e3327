"""Which reports to believe (provider notifications) and when two are one (bounce identity).

Issue #10: a stranger's SES-style JSON once paused a mailbox; a report read again from a
recreated folder was recorded twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from warmup.bounces import parse_bounces
from warmup.bounces.identity import bounce_key, read_report

CORPUS = Path(__file__).parent / "corpus" / "dsn" / "eml"


# Provider notifications (issue #10): believed only from the provider, about this mailbox's mail.
BOX = "sales@corp.example"
SNS = "no-reply@sns.amazonaws.com"
SES_RETURN = "0101015-000000@us-west-2.amazonses.com"


def ses_message(sender: str, return_path: str | None, source: str, n: int) -> bytes:
    """An SNS e-mail notification of an SES bounce of ``n`` recipients of mail from ``source``."""
    notice = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": f"lead{i}@example.com",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
                for i in range(n)
            ],
        },
        "mail": {
            "source": source,
            "messageId": "0101-abc-000000",
            "commonHeaders": {"from": [f"Sales <{source}>"]},
        },
    }
    envelope = {"Type": "Notification", "Message": json.dumps(notice)}
    head = f"Return-Path: <{return_path}>\n" if return_path else ""
    return (
        f"{head}From: AWS Notifications <{sender}>\nTo: {BOX}\n"
        f"Subject: AWS Notification Message\n\n{json.dumps(envelope)}\n"
    ).encode()


def test_forged_ses_notification_yields_nothing() -> None:
    # The attack: a stranger's message whose body is SES JSON listing 300 addresses.
    raw = ses_message("anyone@attacker.example", "anyone@attacker.example", BOX, 300)
    assert parse_bounces(raw) == []  # not even its origin holds
    assert parse_bounces(raw, mailbox=BOX) == []
    # An SNS From is not enough when the envelope sender is someone else's.
    assert parse_bounces(ses_message(SNS, "anyone@attacker.example", BOX, 3), mailbox=BOX) == []
    assert parse_bounces(ses_message(SNS, "x@amazonses.com.attacker.example", BOX, 3)) == []


def test_ses_notification_must_be_about_the_mailbox() -> None:
    raw = ses_message(SNS, SES_RETURN, "other@corp.example", 2)
    assert parse_bounces(raw, mailbox=BOX) == []
    wanted = [("lead0@example.com", "hard"), ("lead1@example.com", "hard")]
    assert [
        (b.recipient, b.kind) for b in parse_bounces(raw, mailbox="Other@corp.example")
    ] == wanted
    # Without a mailbox (`warmup bounces parse FILE`, which records nothing): origin only.
    assert [(b.recipient, b.kind) for b in parse_bounces(raw)] == wanted
    assert len(parse_bounces(ses_message(SNS, None, BOX, 1), mailbox=BOX)) == 1


def test_ses_notification_lists_at_most_fifty_recipients() -> None:
    # SES takes at most 50 recipients per message: more is not a notification of one.
    assert len(parse_bounces(ses_message(SNS, SES_RETURN, BOX, 300), mailbox=BOX)) == 50


def test_real_ses_notification_is_checked_against_its_sender() -> None:
    raw = (CORPUS / "lhost-amazonses-10.eml").read_bytes()
    got = parse_bounces(raw, mailbox="kijitora@neko.example.org")
    assert [(b.recipient, b.kind) for b in got] == [("bounce@simulator.amazonses.com", "hard")]
    assert parse_bounces(raw, mailbox=BOX) == []


def test_ses_notification_names_the_original_by_its_header_not_by_the_ses_id() -> None:
    # mail.messageId is SES's own id, which no send carries: taken for the original's
    # Message-ID, it would tie the bounce to nothing once a bounce that names a Message-ID
    # matches only that message. commonHeaders.messageId is the original's header.
    raw = ses_message(SNS, SES_RETURN, BOX, 1)
    assert [b.message_id for b in parse_bounces(raw, mailbox=BOX)] == [""]
    with_header = raw.replace(
        b'\\"commonHeaders\\": {',
        b'\\"commonHeaders\\": {\\"messageId\\": \\"<m1@corp.example>\\", ',
    )
    assert with_header != raw
    assert [b.message_id for b in parse_bounces(with_header, mailbox=BOX)] == ["<m1@corp.example>"]


# Identity (issue #10 item 13): from what the report says, never from where it was found.
def _report(rcpt: str, date: str = "Mon, 30 Nov 2026 10:00:00 +0800", own: str = "") -> bytes:
    own_id = f"Message-ID: {own}\n" if own else ""
    return (
        f"From: MAILER-DAEMON@mx.example.com\nTo: {BOX}\nDate: {date}\n{own_id}"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nfailed\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {rcpt}\nAction: failed\nStatus: 5.1.1\n\n"
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <orig@corp.example>\n\n--b--\n"
    ).encode()


def _keys(raw: bytes) -> list[str]:
    report = read_report(raw)
    return [bounce_key(report, b, i) for i, b in enumerate(parse_bounces(raw))]


def test_bounce_key_comes_from_the_report() -> None:
    raw = _report("gone@example.net")
    (key,) = _keys(raw)
    assert key.startswith("rpt:") and key.endswith("|gone@example.net")
    assert _keys(raw.replace(b"\n", b"\r\n")) == [key]  # as IMAP serves it
    assert read_report(raw).reporter == "dns; mx.example.com"
    assert _keys(_report("other@example.net")) != [key]
    assert _keys(_report("gone@example.net", "Mon, 30 Nov 2026 10:00:01 +0800")) != [key]
    # Same instant in another zone: the same report.
    assert _keys(_report("gone@example.net", "Mon, 30 Nov 2026 02:00:00 +0000")) == [key]
    # With a Message-ID of its own: that, as ledgers have always keyed such reports.
    own = _report("gone@example.net", own="<dsn-1@mx.example.com>")
    assert _keys(own) == ["dsn:<dsn-1@mx.example.com>|gone@example.net"]


# Delivery-status fields in a message's text (no delivery-status part) are read as a report
# only from a message that presents itself as one.
PASTED_FIELDS = (
    "Final-Recipient: rfc822; colleague@client.example\n"
    "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n"
)


def test_delivery_status_fields_in_a_reply_are_no_report() -> None:
    # A recipient's reply pasting a bounce it got itself (or a stranger typing the fields) once
    # hard-bounced, counted and suppressed an address the mailbox mails.
    reply = (
        f"From: Lead <lead@client.example>\nTo: {BOX}\nSubject: Re: Offer\n"
        "In-Reply-To: <offer-1@corp.example>\nMessage-ID: <re-1@client.example>\n\n"
        f"Forwarding to my colleague failed, see:\n\n{PASTED_FIELDS}\n> your offer\n"
    ).encode()
    assert parse_bounces(reply, mailbox=BOX) == []


def test_delivery_status_fields_in_an_mta_notice_are_still_read() -> None:
    notice = (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.client.example>\nTo: {BOX}\n"
        "Subject: Undelivered Mail Returned to Sender\n\nTechnical report:\n\n"
        f"Reporting-MTA: dns; mx.client.example\n\n{PASTED_FIELDS}"
    ).encode()
    found = parse_bounces(notice, mailbox=BOX)
    assert [(b.recipient, b.kind) for b in found] == [("colleague@client.example", "hard")]


def test_a_persons_reply_saying_mail_could_not_be_delivered_is_no_report() -> None:
    # "could not be delivered to" is a notice's wording, and a person's too: their reply was
    # read as a plain-text bounce of every address it named (the new one as well).
    reply = (
        f"From: Lead <lead@client.example>\nTo: {BOX}\nSubject: Re: Offer\n"
        "In-Reply-To: <offer-1@corp.example>\n\n"
        "FYI your mail could not be delivered to bob@client.example, he left.\n"
        "Please write to carol@client.example instead.\n\n> Dear Bob\n"
    ).encode()
    assert parse_bounces(reply, mailbox=BOX) == []
    # The same words from an MTA, under a reply's subject, are still its notice.
    notice = reply.replace(b"Lead <lead@client.example>", b"MAILER-DAEMON@mx.client.example")
    assert [b.recipient for b in parse_bounces(notice, mailbox=BOX)][:1] == ["bob@client.example"]


# A report's returned original says whose message it was and when it was written: a sync
# matches a report naming no Message-ID by recipient and time only when these agree with the
# send; ``bounces parse`` shows them, and --explain says what a sync will check.
def _forged(returned: str) -> bytes:
    return _report("lead@example.net").replace(
        b"Message-ID: <orig@corp.example>\n", returned.encode()
    )


def test_parse_shows_what_the_returned_original_says_of_itself(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    forged = tmp_path / "forged.eml"
    forged.write_bytes(
        _forged("From: Someone <X@Attacker.example>\nDate: Thu, 01 Jan 2026 08:00:00 +0800\n")
    )
    bare = tmp_path / "bare.eml"
    bare.write_bytes(_forged(""))
    got = json.loads(run("bounces", "parse", "--json", str(forged), str(bare)).output)
    assert [(b["original_from"], b["original_date"]) for r in got for b in r["bounces"]] == [
        ("x@attacker.example", "2026-01-01T00:00:00+00:00"),
        ("", ""),
    ]
    explained = run("bounces", "parse", "--explain", str(forged), str(bare))
    assert explained.exit_code == 0, explained.output
    lines = explained.output.splitlines()
    assert (
        "    the returned original says From x@attacker.example, "
        "Date 2026-01-01T00:00:00+00:00: a sync counts it only against a send from that "
        "mailbox, made near that Date"
    ) in lines
    assert (
        "    no returned original's From or Date: a sync matches it by recipient and time alone"
        in lines
    )


def test_parse_says_when_a_report_lists_more_recipients_than_are_read(
    run: Callable[..., Result], tmp_path: Path
) -> None:
    record = b"Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n"
    many = b"\n".join(record.replace(b"gone@", b"x%d@" % i) for i in range(1_200))
    big = tmp_path / "big.eml"
    big.write_bytes(_report("gone@example.net").replace(record, many))
    (got,) = json.loads(run("bounces", "parse", "--json", str(big)).output)
    assert len(got["bounces"]) == 1_000 and got["capped"] is True
    assert got["bounces"][-1]["recipient"] == "x999@example.net"
    lines = run("bounces", "parse", str(big)).output.splitlines()
    assert lines[0] == f"{big}: lists more failed recipients than are read; the first 1,000:"
    assert len(lines) == 1_001


# (what fills the file before the status, what is said of it: standard input, a file)
CUTS = {
    "bytes": (b"x" * 1_500_000 + b"\n", "1 MB, which names", "1 MB of 1.5 MB, which names"),
    "lines": (b"x\n" * 25_000, "20,000 lines, which name", "20,000 lines, which name"),
    # the parser reads 16 nested multiparts at most: it stops at the 17th "boundary"
    "boundaries": (b"the boundary of the offer\n" * 20,)
    + (
        'up to where it says "boundary" a '
        "17th time (multiparts nested deeper are not read), which names",
    )
    * 2,
}


@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_parse_says_when_a_report_longer_than_what_is_read_names_no_one_in_it(
    run: Callable[..., Result], tmp_path: Path, stdin: bool, cut: str
) -> None:
    """A report whose delivery status comes after its first 1 MB (1.5 MB of notification
    first) showed one bounce naming no one, in silence: the rest of the file is never read,
    and a sync, which asks the server for the report's parts, records its hard bounce. It says
    what it read, as a sync lists such a report ("partial"); one whose first 1 MB names its
    recipient does not. So of a report of 0.1 MB whose status comes after 25,000 lines: the
    parser reads 20,000 lines, and only a file over 1 MB was said to be read in part."""
    filler, said_stdin, said_file = CUTS[cut]
    raw = _report("gone@example.net").replace(b"\nfailed\n", b"\n" + filler)
    big = tmp_path / "big.eml"
    big.write_bytes(raw)
    args = ["-"] if stdin else [str(big)]
    given = {"input": raw} if stdin else {}
    name = "standard input" if stdin else str(big)
    (got,) = json.loads(run("bounces", "parse", "--json", *args, **given).output)
    assert [b["recipient"] for b in got["bounces"]] == [""] and got["partial"] is True
    # standard input over 1 MB is not read to its end: its size is not known
    assert got["size"] == (None if stdin and cut == "bytes" else len(raw))
    assert got["cut"] == cut
    said = said_stdin if stdin else said_file
    said = said if cut == "boundaries" else f"its first {said}"
    assert run("bounces", "parse", *args, **given).output.splitlines()[-1] == (
        f"{name}: read only {said} no failed recipient; check the rest by hand"
    )
    whole = tmp_path / "whole.eml"
    whole.write_bytes(_report("gone@example.net") + filler)
    (got,) = json.loads(run("bounces", "parse", "--json", str(whole)).output)
    assert [b["recipient"] for b in got["bounces"]] == ["gone@example.net"]
    assert "partial" not in got


@pytest.mark.parametrize("n", [150, 1_200])
def test_a_text_report_s_recipients_are_cut_as_a_dsn_s_are_and_the_cut_is_said(
    run: Callable[..., Result], tmp_path: Path, n: int
) -> None:
    """A report in plain words (no DSN part) was cut at 100 recipients without a word: the
    others were neither recorded nor named. It is read as a DSN is: up to 1,000, and a report
    listing more says so ("capped"), as 'bounces sync' does."""
    lines = "".join(
        f"<x{i}@example.net>: host mx.example.net said: 550 5.1.1 no such user\n" for i in range(n)
    )
    text = tmp_path / "text.eml"
    text.write_text(
        "From: MAILER-DAEMON@mx.example.net\nTo: sales@corp.example\n"
        "Subject: Undelivered Mail Returned to Sender\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n" + lines
    )
    (got,) = json.loads(run("bounces", "parse", "--json", str(text)).output)
    kept = min(n, 1_000)
    assert len(got["bounces"]) == kept and got.get("capped", False) is (n > 1_000)
    assert got["bounces"][-1]["recipient"] == f"x{kept - 1}@example.net"
    assert {b["kind"] for b in got["bounces"]} == {"hard"}


@pytest.mark.parametrize(
    "marker",
    [
        "------ This is a copy of the message's headers. ------",  # Exim
        "--- Below this line is a copy of the message.",  # qmail-send
    ],
)
def test_a_copy_after_a_blank_line_shows_whose_message_it_is(marker: str) -> None:
    """Exim and qmail write a blank line between their "copy of the message" line and the
    original's headers: that blank line read as the end of an empty header, so the report
    showed no original From or Date, and a forged one about another sender's message was
    matched by recipient and time alone, as if it returned no headers."""
    raw = (
        "From: Mail Delivery System <Mailer-Daemon@mx.client.example>\n"
        "To: sales@corp.example\nSubject: Mail delivery failed: returning message to sender\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0000\n\n"
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  lead@client.example\n    550 No Such User Here\n\n"
        f"{marker}\n\n"
        "From: someone@attacker.example\nTo: lead@client.example\n"
        "Date: Tue, 01 Dec 2026 09:00:00 +0000\nSubject: hi\n\nhello\n"
    ).encode()
    (bounce,) = parse_bounces(raw)
    assert bounce.recipient == "lead@client.example"
    assert (bounce.original_from, bounce.original_date) == (
        "someone@attacker.example",
        "2026-12-01T09:00:00+00:00",
    )
