"""Reports that reach the mailbox second-hand or cut short, synced from a real Dovecot on
loopback: a bounce a person forwarded as an attachment (and forwarded again), a read receipt
forwarded, a returned original cut in its Message-ID.

The messages are written from the formats' documents: RFC 3464 (delivery status
notifications), RFC 3798 (message disposition notifications: read receipts), RFC 2046 5.2.1
(message/rfc822, the attachment a mail client forwards with) and RFC 5322 3.6.4 (Message-ID).
"""

from __future__ import annotations

import email.utils
import json

import pytest

from tests import test_bounces_sync as kit
from tests.gatekit import cli
from tests.test_bounces_sync import BOX, bounce_rows, dsn, send_many
from warmup.bounces import parse_bounces

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL
# The sync tests' fixtures: the mailbox on the SMTP sink and Dovecot.
sink = kit.sink
box = kit.box


def forwarded(inner: bytes, n: int) -> bytes:
    """``inner`` forwarded as an attachment by a colleague, as mail clients do ("Forward as
    attachment": multipart/mixed, a note, then the message as message/rfc822)."""
    head = (
        f"From: Colleague {n} <colleague{n}@corp.example>\r\nTo: {BOX}\r\n"
        f"Subject: Fwd: Undelivered Mail Returned to Sender\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <fwd-{n}@corp.example>\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="fwd-{n}"\r\n\r\n'
        f"--fwd-{n}\r\nContent-Type: text/plain\r\n\r\nFYI, this one bounced.\r\n\r\n"
        f"--fwd-{n}\r\nContent-Type: message/rfc822\r\n\r\n"
    ).encode()
    return head + inner + f"\r\n--fwd-{n}--\r\n".encode()


def deep(inner: bytes, levels: int) -> bytes:
    for n in range(levels):
        inner = forwarded(inner, n)
    return inner


def qmail(original_id: str, rcpt: str) -> bytes:
    """A qmail failure notice (no MIME: the copy of the message follows a marker line)."""
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {BOX}\r\nSubject: failure notice\r\n"
        f"Date: {email.utils.formatdate()}\r\n\r\n"
        "Hi. This is the qmail-send program at mx.example.com.\r\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        f"<{rcpt}>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n\r\n"
        "--- Below this line is a copy of the message.\r\n\r\n"
        f"From: {BOX}\r\nTo: {rcpt}\r\nMessage-ID: {original_id}\r\nSubject: Hello\r\n\r\nHi\r\n"
    ).encode()


def read_receipt(original_id: str, rcpt: str) -> bytes:
    """An RFC 3798 disposition notification: the message was deleted unread. No bounce."""
    return (
        f"From: {rcpt}\r\nTo: {BOX}\r\nSubject: Not read: Hello\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <mdn-{rcpt}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=disposition-notification; "
        'boundary="mdn"\r\n\r\n'
        "--mdn\r\nContent-Type: text/plain\r\n\r\nYour message was deleted without being read."
        "\r\n\r\n--mdn\r\nContent-Type: message/disposition-notification\r\n\r\n"
        f"Reporting-UA: mail.example.com; Mail\r\nFinal-Recipient: rfc822; {rcpt}\r\n"
        f"Original-Message-ID: {original_id}\r\n"
        "Disposition: manual-action/MDN-sent-manually; deleted\r\n\r\n"
        f"--mdn\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {BOX}\r\nTo: {rcpt}\r\n"
        f"Message-ID: {original_id}\r\n\r\n--mdn--\r\n"
    ).encode()


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_a_bounce_forwarded_as_an_attachment_is_read_however_often_forwarded(levels: int) -> None:
    """Forwarded twice or more, a bounce was read as a notice of the forward itself: the one
    address it shows, the forward's To (the mailbox), taken for its failed recipient, a soft
    bounce, and the hard one inside lost."""
    report = dsn("<m1@corp.example>", "lead0@example.com", "5.1.1", "550 5.1.1 user unknown", 1)
    got = parse_bounces(deep(report, levels), mailbox=BOX)
    assert [(b.recipient, b.kind, b.status, b.message_id, b.original_from) for b in got] == [
        ("lead0@example.com", "hard", "5.1.1", "<m1@corp.example>", BOX)
    ]
    text = parse_bounces(deep(qmail("<m1@corp.example>", "lead0@example.com"), levels))
    assert [(b.recipient, b.kind, b.message_id) for b in text] == [
        ("lead0@example.com", "hard", "<m1@corp.example>")
    ]


def exchange_text_notice(rcpt: str) -> bytes:
    """An Exchange 5.5-style text notice ("did not reach some or all of the intended
    recipients") from an administrator's address, which names no MTA (no MAILER-DAEMON, no
    postmaster, no "Mail Delivery")."""
    return (
        f"From: Mail Administrator <admin@mail.client.example>\r\nTo: {BOX}\r\n"
        f"Subject: Undeliverable: Hello\r\nDate: {email.utils.formatdate()}\r\n\r\n"
        "Your message did not reach some or all of the intended recipients.\r\n\r\n"
        "      Subject:\tHello\r\n\r\n"
        "The following recipient(s) could not be reached:\r\n\r\n"
        f"      {rcpt} on 2 Nov 2026 10:00\r\n"
        "            The e-mail account does not exist at the organization this message was "
        "sent to.\r\n            <mail.client.example #5.1.1 smtp;550 5.1.1 User unknown>\r\n"
    ).encode()


def out_of_office(rcpt: str) -> bytes:
    """An RFC 3834 auto-reply whose Subject quotes ours, which says "delivery failure"."""
    return (
        f"From: Kim Lee <{rcpt}>\r\nTo: {BOX}\r\n"
        "Subject: Automatic reply: Delivery failure of your invoice\r\n"
        f"Auto-Submitted: auto-replied\r\nDate: {email.utils.formatdate()}\r\n\r\n"
        "I am out of the office until 9 November.\r\n"
    ).encode()


@pytest.mark.parametrize("levels", [1, 2])
def test_a_notice_of_no_mta_sender_forwarded_is_read_as_the_notice(levels: int) -> None:
    """A notice whose sender names no MTA, forwarded as an attachment, was read as the forward
    itself (its Subject, "Fwd: Undelivered Mail ...", says bounce): the forward's To, the
    mailbox, or the original's sender taken for the failed recipient, a soft bounce, and the
    hard one inside lost."""
    notice = exchange_text_notice("lead0@client.example")
    want = [("lead0@client.example", "hard", "userunknown")]
    assert [(b.recipient, b.kind, b.reason) for b in parse_bounces(notice)] == want
    got = parse_bounces(deep(notice, levels), mailbox=BOX)
    assert [(b.recipient, b.kind, b.reason) for b in got] == want


@pytest.mark.parametrize("levels", [1, 2])
def test_an_auto_reply_forwarded_is_no_bounce(levels: int) -> None:
    """An out-of-office reply forwarded: the forward's Subject ("Fwd: Undelivered Mail ...")
    made it read as a text notice, naming the mailbox itself as a failed recipient."""
    assert parse_bounces(out_of_office("lead0@client.example")) == []
    assert parse_bounces(deep(out_of_office("lead0@client.example"), levels), mailbox=BOX) == []


@pytest.mark.parametrize("levels", [1, 2])
def test_a_read_receipt_forwarded_is_no_bounce(levels: int) -> None:
    assert parse_bounces(read_receipt("<m1@corp.example>", "lead0@example.com")) == []
    assert parse_bounces(deep(read_receipt("<m1@corp.example>", "lead0@example.com"), levels)) == []


def test_forwarded_reports_answer_their_sends_and_forged_ones_answer_none(box, ledger_path):
    """Synced, a bounce forwarded three times counts against the send it answers and suppresses
    its address, as the report itself would; one forwarded whose original is another's counts
    for nothing; a forwarded read receipt records nothing; and the mailbox's own address is
    never taken for a failed recipient."""
    ids = send_many(4)
    leads = list(ids)
    forged = dsn("<x1@attacker.example>", leads[1], "5.1.1", "550 5.1.1 user unknown", 2)
    forged = forged.replace(f"From: {BOX}".encode(), b"From: x@attacker.example")
    box.append_many(
        "INBOX",
        [
            deep(dsn(ids[leads[0]], leads[0], "5.1.1", "550 5.1.1 user unknown", 1), 3),
            deep(forged, 2),
            deep(qmail(ids[leads[2]], leads[2]), 2),
            deep(read_receipt(ids[leads[3]], leads[3]), 2),
        ],
    )
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (4, 3, 2)
    assert report["unmatched"] == [leads[1]]
    assert [r[:3] for r in bounce_rows(ledger_path)] == [
        (leads[0], "hard", "5.1.1"),
        (leads[1], "hard", "5.1.1"),
        (leads[2], "hard", "5.1.1"),
    ]
    listed = {b["recipient"]: b for b in json.loads(cli("bounces", "list", "--json").stdout)}
    assert [listed[r]["counted"] for r in leads[:3]] == [True, False, True]
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in suppressed] == [leads[0], leads[2]]


def test_a_returned_original_cut_in_its_message_id_still_answers_its_send(box, ledger_path):
    """A returned original cut short (an MTA returning only so many bytes of it) ended in
    "Message-ID: <...@corp.exa": read as the Message-ID "<<...@corp.exa>", which no send has,
    so the report answered no send at all and its hard bounce counted for nothing."""
    ids = send_many(1)
    (lead,) = ids
    cut = ids[lead][: len(ids[lead]) // 2]
    raw = dsn(ids[lead], lead, "5.1.1", "550 5.1.1 user unknown", 1)
    raw = raw.replace(f"Message-ID: {ids[lead]}\r\n\r\n--dsn-1--".encode(), b"")
    raw = raw.rstrip(b"\r\n") + f"\r\nMessage-ID: {cut}".encode()  # the part cut, no end
    assert parse_bounces(raw, mailbox=BOX)[0].message_id == ""
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert [(r[0], r[1], r[3]) for r in bounce_rows(ledger_path)] == [(lead, "hard", lead)]
