"""Bounce sync against a real Dovecot on loopback, end to end with gated sends."""

from __future__ import annotations

import base64
import datetime as dt
import email.header
import email.utils
import imaplib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest

from tests import forkcli
from tests import test_crash_points as crash
from tests.gatekit import cli, policy_file, warmup
from tests.peakrss import peak_mib
from tests.peers.dovecot import LoginFaultProxy
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.smtp import SmtpSink
from warmup import Gate, api
from warmup.ledger import open_ledger

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL

BOX = IMAP_USER
ENV = {"WARMUP_PASSWORD": IMAP_PASSWORD}


def dsn(original_id: str, rcpt: str, status: str, diag: str, n: int, own_id: bool = True) -> bytes:
    """A standard RFC 3464 delivery status notification, as Postfix writes them.

    ``own_id=False``: without a Message-ID of its own, as some MTAs send them.
    """
    boundary = f"dsn-{n}"
    own = f"Message-ID: <dsn-{n}@mx.example.com>\n" if own_id else ""
    return f"""From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
To: {BOX}
Subject: Undelivered Mail Returned to Sender
Date: {email.utils.formatdate()}
{own}MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"

--{boundary}
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--{boundary}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diag}

--{boundary}
Content-Type: text/rfc822-headers

From: {BOX}
To: {rcpt}
Subject: Hello
Message-ID: {original_id}

--{boundary}--
""".replace("\n", "\r\n").encode()


def plain(subject: str, n: int, extra: str = "") -> bytes:
    return (
        f"From: friend{n}@example.org\r\nTo: {BOX}\r\nSubject: {subject}\r\n{extra}"
        f"Message-ID: <plain-{n}@example.org>\r\n\r\nHello there.\r\n"
    ).encode()


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki) as s:
        yield s


@pytest.fixture
def box(request, sink, dovecot_clean, ssl_cert_env, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The mailbox on the sink and Dovecot, registered through the library (issue #11: the
    set-up is not what these tests are about), in a copy of a migrated SQLite ledger unless
    the test's ledger is PostgreSQL (``ledger_url``)."""
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    if not os.environ["WARMUP_DB"].startswith("postgresql"):
        request.getfixturevalue("migrated")
    policy = str(policy_file(tmp_path / "p.toml", 100))
    ledger = open_ledger()
    try:
        api.add_mailbox(
            ledger,
            BOX,
            "exmail",
            policy=policy,
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            imap_host="127.0.0.1",
            imap_port=dovecot_clean.port,
        )
    finally:
        ledger.close()
    return dovecot_clean


def send_many(n: int, now: dt.datetime | None = None) -> dict[str, str]:
    """n gated sends through the real sink; recipient -> Message-ID."""
    ids = {}
    with Gate(BOX) as gate:
        for i in range(n):
            msg = EmailMessage()
            msg["To"], msg["Subject"] = f"lead{i}@example.com", "Hello"
            msg.set_content("Hi")
            report = gate.send(msg, now=now)
            assert report.sent == [f"lead{i}@example.com"]
            ids[f"lead{i}@example.com"] = report.message_id
    return ids


def bounce_rows(db) -> list[tuple]:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT b.recipient, b.kind, b.status, s.recipient, s.message_id, "
            "b.message_id FROM bounce b LEFT JOIN send s ON s.id = b.send_id "
            "ORDER BY b.recipient"
        ).fetchall()
    finally:
        con.close()


def test_sync_records_exactly_the_three_dsns(box, sink, ledger_path):
    ids = send_many(40)
    assert len(sink.messages) == 40
    notes = [
        dsn(
            ids["lead3@example.com"],
            "lead3@example.com",
            "5.1.1",
            "550 5.1.1 <lead3@example.com>: Recipient address rejected: User unknown "
            "in local recipient table",
            1,
        ),
        dsn(ids["lead7@example.com"], "lead7@example.com", "4.2.2", "452 4.2.2 Mailbox full", 2),
        dsn(
            ids["lead9@example.com"],
            "lead9@example.com",
            "5.7.1",
            "550 5.7.1 Message rejected as spam by Content Filtering",
            3,
        ),
    ]
    box.append_many(
        "INBOX",
        [*notes, plain("Lunch?", 1), plain("Out of office", 2, "Auto-Submitted: auto-replied\r\n")],
    )

    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (5, 3, 3)
    got = bounce_rows(ledger_path)
    assert [(r[0], r[1], r[2]) for r in got] == [
        ("lead3@example.com", "hard", "5.1.1"),
        ("lead7@example.com", "soft", "4.2.2"),
        ("lead9@example.com", "block", "5.7.1"),
    ]
    for rcpt, _, _, matched_rcpt, send_mid, bounce_mid in got:
        assert matched_rcpt == rcpt and send_mid == ids[rcpt] == bounce_mid

    again = json.loads(cli("bounces", "sync", BOX, "--json").stdout)
    assert again["bounces"] == 0 and len(bounce_rows(ledger_path)) == 3
    assert all("\\Seen" not in flags for flags in box.flags("INBOX").values())
    assert len(box.flags("INBOX")) == 5  # nothing deleted

    # Hard bounce: suppressed, and refused before any SMTP connection.
    before = sink.connections
    refused = cli("send", BOX, "--to", "lead3@example.com", "--subject", "x", "--body", "y")
    assert refused.returncode == 65 and "suppressed" in refused.stderr
    assert sink.connections == before
    # Block bounce: not suppressed, but counted in the bounce rate.
    sup = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in sup] == ["lead3@example.com"]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["bounce_rate"] == pytest.approx(3 / 40)
    assert any("bounce rate 7.5% (3/40)" in r for r in q["reasons"])
    listed = json.loads(cli("bounces", "list", BOX, "--kind", "block", "--json").stdout)
    assert [b["recipient"] for b in listed] == ["lead9@example.com"]


def test_bounces_above_ten_percent_pause(box, ledger_path):
    ids = send_many(40)
    box.append_many(
        "INBOX",
        [
            dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            for n, rcpt in enumerate(list(ids)[:5], 1)
        ],
    )
    assert cli("bounces", "sync", BOX).returncode == 0
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert (q["status"], q["quota"]) == ("paused", 0)
    assert any("12.5%" in r and "10%" in r and "pauses" in r for r in q["reasons"])


def test_a_pause_by_the_bounces_a_sync_records_is_told_to_the_notify_command_once(
    box, ledger_path, tmp_path, monkeypatch
):
    monkeypatch.delenv("WARMUP_NOTIFY_WEBHOOK", raising=False)
    out = tmp_path / "events.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    assert cli("notify", "set", "--command", f"{sys.executable} {hook}").returncode == 0
    ids = send_many(40)
    box.append_many(
        "INBOX",
        [
            dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            for n, rcpt in enumerate(list(ids)[:5], 1)
        ],
    )
    assert cli("bounces", "sync", BOX).returncode == 0
    assert cli("bounces", "sync", BOX).returncode == 0  # nothing new: nothing told again
    (line,) = out.read_text().splitlines()
    event = json.loads(line)
    assert (event["event"], event["mailbox"], event["cause"]) == ("paused", BOX, "bounce_rate")
    assert "12.5%" in event["reason"] and "pauses" in event["reason"]


def test_unmatched_bounces_are_kept(box, ledger_path):
    box.append(
        "INBOX",
        dsn(
            "<never-sent@corp.example>",
            "stranger@example.net",
            "5.1.1",
            "550 5.1.1 user unknown",
            1,
        ),
    )
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    assert "Unmatched (kept, not linked to a send): 1 address: stranger@example.net" in res.stdout
    assert bounce_rows(ledger_path)[0][:2] == ("stranger@example.net", "hard")
    # Issue #10 item 1: a bounce read over IMAP that answers no send of the mailbox is listed
    # (matched: False) but neither counted in its rates nor suppresses its address.
    [listed] = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["recipient"], listed["matched"], listed["counted"]) == (
        "stranger@example.net",
        False,
        False,
    )
    assert json.loads(cli("suppress", "list", "--json").stdout) == []


def test_an_address_bounced_twice_is_one_unmatched_address(box):
    """A sync that read two reports about one address the mailbox never mailed (a block, then
    the hard verdict) said "3 addresses: stranger@..., stranger@..., other@...": a bounce
    counted as an address, the address named twice."""
    box.append_many(
        "INBOX",
        [
            dsn("<never-1@corp.example>", "stranger@example.net", "5.7.1", "550 5.7.1 no", 1),
            dsn("<never-1@corp.example>", "stranger@example.net", "5.1.1", "550 5.1.1 no", 2),
            dsn("<never-2@corp.example>", "other@example.net", "5.1.1", "550 5.1.1 no", 3),
        ],
    )
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    assert (
        "Unmatched (kept, not linked to a send): 2 addresses (3 bounces): "
        "stranger@example.net, other@example.net\n"
    ) in res.stdout, res.stdout


def test_escapes_in_a_report_never_reach_the_terminal(box, ledger_path):
    """A stranger's report whose "address" and diagnostic carry terminal escapes (set the
    window title, clear the screen): recorded without them, so neither the sync's list of
    unmatched addresses nor ``bounces list`` prints them."""
    box.append(
        "INBOX",
        dsn("<x@corp.example>", "pwned\x07@x\x1b[2J", "5.1.1", "550 \x1b]0;pwned\x07 unknown", 1),
    )
    box.append("INBOX", dsn("<y@corp.example>", "stranger@example.net", "5.1.1", "550 x", 2))
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    assert "Unmatched (kept, not linked to a send): 2 addresses" in res.stdout
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout, res.stdout
    listed = cli("bounces", "list", BOX)
    assert listed.returncode == 0 and "stranger@example.net" in listed.stdout
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout, listed.stdout
    rows = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert sorted(r["recipient"] for r in rows) == ["", "stranger@example.net"]
    assert all(r["diagnostic"] is None or r["diagnostic"].isprintable() for r in rows)


def test_a_complaint_about_a_message_to_two_suppresses_neither(box, sink, ledger_path):
    """One message to two recipients, a feedback report that does not say which complained:
    the first address alphabetically was suppressed and charged with the complaint."""
    msg = EmailMessage()
    msg["To"], msg["Subject"] = "zoe@example.net, amy@example.net", "Hello"
    msg.set_content("Hi")
    with Gate(BOX) as gate:
        sent = gate.send(msg)
    assert sorted(sent.sent) == ["amy@example.net", "zoe@example.net"]
    arf = (
        f"From: fbl@isp.example\r\nTo: {BOX}\r\nSubject: complaint\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <fbl-1@isp.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
        'boundary="F"\r\n\r\n--F\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n\r\n'
        "--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n\r\n"
        f"--F\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {BOX}\r\n"
        f"To: zoe@example.net, amy@example.net\r\nMessage-ID: {sent.message_id}\r\n\r\n--F--\r\n"
    )
    box.append("INBOX", arf.encode())
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["bounces"], report["matched"], report["unmatched"]) == (1, 0, ["(no recipient)"])
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    [listed] = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["kind"], listed["recipient"], listed["counted"]) == ("complaint", "", False)


def test_many_unmatched_bounces_are_counted_not_all_named(box):
    """Issue #16: 291 unmatched addresses printed on one line; ten are named, --verbose names
    them all, --quiet none."""

    def stray(batch: str, count: int) -> list[str]:
        rcpts = [f"{batch}{n:02d}@example.net" for n in range(count)]
        box.append_many(
            "INBOX",
            [
                dsn(f"<never-{rcpt}>", rcpt, "5.1.1", "550 5.1.1 no", n)
                for n, rcpt in enumerate(rcpts)
            ],
        )
        return rcpts

    since = ("--since", "2026-01-01")
    stray("a", 12)
    res = cli("bounces", "sync", BOX, *since)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("Unmatched"))
    assert "12 addresses: a00@example.net" in line and line.count("@example.net") == 10
    assert line.endswith("and 2 more (--verbose lists them all)")
    every = stray("b", 12)
    verbose = cli("--verbose", "bounces", "sync", BOX, *since).stdout
    assert all(r in verbose for r in every) and "more" not in verbose
    stray("c", 3)
    assert cli("--quiet", "bounces", "sync", BOX, *since).stdout == ""


def forged_ses(recipients: list[str]) -> bytes:
    """A stranger's message whose body is Amazon SES notification JSON about this mailbox."""
    notice = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [{"emailAddress": r, "status": "5.1.1"} for r in recipients],
        },
        "mail": {"source": BOX, "commonHeaders": {"from": [BOX]}},
    }
    return (
        f"From: anyone@attacker.example\r\nTo: {BOX}\r\nSubject: AWS Notification Message"
        f"\r\nMessage-ID: <forged@attacker.example>\r\n\r\n{json.dumps(notice)}\r\n"
    ).encode()


def recipientless(n: int, original_id: str) -> bytes:
    """Bounce-looking messages that name no recipient (one of them quotes a real send's ID)."""
    head = (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {BOX}\r\nMessage-ID: <junk-{n}@mx>\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
    )
    if n == 0:
        return (
            head + 'MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary="b"\r\n'
            "\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
            "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n"
            "\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: {BOX}\r\nMessage-ID: {original_id}\r\n\r\n--b--\r\n"
        ).encode()
    return (head + f"\r\nYour message could not be delivered ({n}): 550 rejected.\r\n").encode()


def test_forged_and_recipientless_reports_count_for_nothing(box, ledger_path):
    # Issue #10: a forged SES notification listing 300 addresses (25 of them real sends) and
    # four bounce-looking messages naming no recipient once paused the mailbox.
    ids = send_many(25)
    box.append_many(
        "INBOX",
        [
            forged_ses([f"lead{i}@example.com" for i in range(300)]),
            *(recipientless(n, ids["lead0@example.com"]) for n in range(4)),
        ],
    )
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (5, 4, 0)
    assert report["unmatched"] == ["(no recipient)"] * 4
    rows = bounce_rows(ledger_path)
    assert [(r[0], r[3]) for r in rows] == [("", None)] * 4  # kept, tied to no send
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    # and the mailbox's standing is untouched: not paused, no bounce rate
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["status"] != "paused" and quota["bounce_rate"] in (None, 0.0)
    listed = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert len(listed) == 4 and not any(b["counted"] for b in listed)


@pytest.mark.slow
def test_a_forged_unsubscribe_request_stops_the_mailing_but_charges_no_complaint(ledger_url, box):
    """A mail client's unsubscribe request is five header lines anyone can write in a lead's
    name (From is not checked, and it names no message): it was counted as a complaint, and one
    of them paused a mailbox of 25 sends (4% against a 0.3% pause line). It still stops the
    mailing (the address is suppressed), but no longer counts in the complaint rate, and
    'bounces list' says why."""
    send_many(25)
    forged = (
        f"From: lead3@example.com\r\nTo: {BOX}\r\nSubject: unsubscribe\r\n"
        f"Date: {email.utils.formatdate()}\r\nX-Apple-Unsubscribe: true\r\n\r\n"
        "Apple Mail sent this email to unsubscribe from the message.\r\n"
    )
    box.append("INBOX", forged.encode())
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert [(s["address"], s["kind"]) for s in suppressed] == [("lead3@example.com", "complaint")]
    [listed] = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["kind"], listed["matched"], listed["counted"]) == ("complaint", True, False)
    assert listed["not_counted"] == (
        "a mail client's unsubscribe request: it stops the mailing, but names no message and "
        "anyone can write one in a lead's name, so it is no complaint against the mailbox"
    )
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["status"] != "paused" and quota["complaint_rate"] in (None, 0.0), quota


def test_a_report_read_again_elsewhere_is_recorded_once(ledger_url, box):
    # Issue #10 item 13: 100 reports synced, the folder recreated with the same messages (new
    # UIDVALIDITY): the 30 without a Message-ID of their own were recorded a second time.
    reports = [
        dsn(
            f"<orig-{n}@corp.example>",
            f"gone{n}@example.net",
            "5.1.1",
            "550 5.1.1 user unknown",
            n,
            own_id=n >= 30,
        )
        for n in range(100)
    ]
    box.append_many("Bounces", reports)
    first = json.loads(cli("bounces", "sync", BOX, "--folder", "Bounces", "--json").stdout)
    assert first["bounces"] == 100
    before = box.uidvalidity("Bounces")
    box.delete("Bounces")
    box.append_many("Bounces", reports)
    assert box.uidvalidity("Bounces") != before
    box.append_many("Copy", reports[:40])  # the same reports in a second folder too
    res = cli("bounces", "sync", BOX, "--folder", "Bounces", "--folder", "Copy", "--json")
    assert res.returncode == 0, res.stderr
    again = json.loads(res.stdout)
    assert (again["scanned"], again["bounces"]) == (140, 0)
    assert len(json.loads(cli("bounces", "list", "--json").stdout)) == 100


def returning_report(original_id: str, rcpt: str, megabytes: float) -> bytes:
    """A DSN that returns the full original: a message with a ``megabytes`` attachment."""
    blob = base64.encodebytes(b"\x00" * int(megabytes * 750_000)).replace(b"\n", b"\r\n")
    head = dsn(original_id, rcpt, "5.1.1", "550 5.1.1 user unknown", 99).decode()
    head = head.replace("Message-ID: <dsn-99@", f"Message-ID: <dsn-{rcpt}@")
    report, _, _ = head.partition("--dsn-99\r\nContent-Type: text/rfc822-headers")
    return (
        (
            report + "--dsn-99\r\nContent-Type: message/rfc822\r\n\r\n"
            f"From: {BOX}\r\nTo: {rcpt}\r\nSubject: Offer\r\nMessage-ID: {original_id}\r\n"
            'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="att"\r\n\r\n'
            "--att\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--att\r\n"
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + blob
        + b"\r\n--att--\r\n\r\n--dsn-99--\r\n"
    )


def sync_peak_mib(*args: str) -> tuple[dict, float]:
    out, mib = peak_mib("bounces", "sync", BOX, "--json", *args, timeout=120)
    return json.loads(out), mib


@pytest.mark.slow
def test_twenty_megabyte_reports_are_recorded_in_bounded_memory(box, ledger_path):
    # Issue #10 item 14: a 20.5 MB report returning the full original was skipped silently
    # (MAX_MESSAGE, 10 MB): its hard bounce never recorded nor suppressed; and one 20 MB
    # message took 194 MB. Two of them now cost about what a small report does.
    ids = send_many(3)
    box.append(
        "INBOX",
        dsn(ids["lead0@example.com"], "lead0@example.com", "5.1.1", "550 5.1.1 user unknown", 1),
    )
    small, base = sync_peak_mib()
    assert small["bounces"] == 1
    box.append_many(
        "INBOX",
        [returning_report(ids[r], r, 20.5) for r in ("lead1@example.com", "lead2@example.com")],
    )
    big, peak = sync_peak_mib()
    print(f"\n[peak RSS] small report {base:.0f} MiB; two 20.5 MB reports {peak:.0f} MiB")
    assert (big["scanned"], big["bounces"], big["matched"]) == (2, 2, 2)
    assert [r[:3] for r in bounce_rows(ledger_path)] == [
        ("lead0@example.com", "hard", "5.1.1"),
        ("lead1@example.com", "hard", "5.1.1"),
        ("lead2@example.com", "hard", "5.1.1"),
    ]
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in suppressed] == [f"lead{i}@example.com" for i in range(3)]
    assert peak - base < 25, f"peak RSS {peak:.0f} MiB vs {base:.0f} MiB for a small report"


def test_a_report_read_only_in_part_is_listed(box, ledger_path):
    # Everything a report says normally comes first; when it does not (its failed recipient
    # after 1.5 MB of notification text, or after 25,000 lines of 0.1 MB: the parser reads
    # 20,000, in a notice without parts a server could give alone), the sync says so instead
    # of passing in silence.
    def notice(text: str, mx: str) -> bytes:
        return (
            f"From: MAILER-DAEMON@{mx}\r\nTo: {BOX}\r\nSubject: failure notice\r\n"
            f"\r\nHi. This is the qmail-send program at {mx}.\r\n"
            + text
            + "\r\n<stranger@example.net>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
        ).encode()

    uid = box.append("INBOX", notice("x" * 1_500_000, "mx.example.com"))
    lines = box.append("INBOX", notice("x\r\n" * 25_000, "mx2.example.com"))
    box.append("INBOX", b"From: a@example.org\r\nSubject: photos\r\n\r\n" + b"x" * 1_500_000)
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    assert "recorded 2 new bounces, 0 matched to their sends" in res.stdout  # "(no recipient)"
    assert (
        f"Read only the first 1 MB or 20,000 lines of these reports, and it names no failed "
        f"recipient; check them by hand: INBOX UID {uid} (1.5 MB), INBOX UID {lines} (0.1 MB)\n"
    ) in res.stdout


def slow_report(n: int) -> bytes:
    """A bounce-looking message with 199 HTML parts: ~0.1 s of parsing, one bounce."""
    parts = "".join(
        f"--h\r\nContent-Type: text/html\r\n\r\n<p>{'<' * 5000}\r\n" for _ in range(199)
    )
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {BOX}\r\nMessage-ID: <slow-{n}@mx>\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="h"\r\n\r\n{parts}--h--\r\n'
    ).encode()


def wide_report(n: int) -> bytes:
    """One DSN listing ``n`` failed recipients."""
    records = "".join(
        f"Final-Recipient: rfc822; gone{i}@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        for i in range(n)
    )
    raw = dsn("<wide@corp.example>", "gone0@example.net", "5.1.1", "550 5.1.1 unknown", 7)
    head, _, tail = raw.partition(b"Final-Recipient:")
    return head + records.encode() + b"--dsn-7" + tail.partition(b"--dsn-7")[2]


def test_a_wide_report_about_strangers_is_written_in_few_transactions(box, ledger_path):
    """A report anyone can write, listing 1,000 addresses the mailbox never mailed: no send can
    answer them, each costs one look-up, yet they were written 50 to a transaction as if each
    were matched, with a pause of 0.15 s between transactions for a waiting send: 20
    transactions and 3 s of pauses a report (five such reports, 650 KB, took 22 s to sync).
    They weigh a fifth of a bounce the mailbox's sends may answer; those are written as ever."""
    from sqlalchemy import event

    from warmup.api import endpoints
    from warmup.bounces.imap import sync
    from warmup.ledger import open_ledger

    ids = send_many(60)
    ours = dsn(ids["lead0@example.com"], "lead0@example.com", "5.1.1", "550 5.1.1 unknown", 8)
    records = "".join(
        f"Final-Recipient: rfc822; lead{i}@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        for i in range(60)
    )
    head, _, tail = ours.partition(b"Final-Recipient:")
    ours = head + records.encode() + b"--dsn-8" + tail.partition(b"--dsn-8")[2]
    box.append_many("INBOX", [wide_report(1000), ours])
    ledger = open_ledger()
    writes: list[str] = []
    event.listen(
        ledger.engine,
        "before_cursor_execute",
        lambda *a: writes.append(a[2]) if a[2] == "BEGIN IMMEDIATE" else None,
    )
    mb = ledger.mailbox(BOX)
    ep = endpoints(mb)
    report = sync(
        ledger, mb, hosts=ep.imap_hosts, port=ep.imap_port, security="ssl",
        password=IMAP_PASSWORD, folders=["INBOX"], since=dt.date(2026, 1, 1),
    )  # fmt: skip
    assert (report.scanned, report.bounces, report.matched) == (2, 1060, 1)
    # 1,000 strangers in four transactions, 60 leads in two (50 and 10)
    assert len(writes) == 4 + 2, len(writes)
    ledger.close()


@pytest.mark.slow
def test_sync_holds_the_write_lock_only_while_writing(box, ledger_path):
    # Issue #10 item 6: the sync parsed a whole batch inside its write transaction, and a
    # concurrent send waited 30 s for the lock and failed ("database is locked", exit 69).
    # Now it parses first, then writes at most 100 bounces per transaction.
    send_many(1)
    box.append_many("INBOX", [slow_report(n) for n in range(30)] + [wide_report(500)])
    began = time.monotonic()
    sync = subprocess.Popen(
        [*forkcli.command(), "bounces", "sync", BOX, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    probe = sqlite3.connect(ledger_path, timeout=60, isolation_level=None)
    longest, probes = 0.0, 0
    try:
        while sync.poll() is None:  # what a send would wait for the write lock, at any moment
            start = time.monotonic()
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            longest, probes = max(longest, time.monotonic() - start), probes + 1
            time.sleep(0.01)  # a probe every 10 ms, not a clock to wait on
    finally:
        probe.close()
        out, err = sync.communicate(timeout=180)
    took = time.monotonic() - began
    assert sync.returncode == 0, err
    assert json.loads(out)["bounces"] == 30 + 500
    # Holding the lock while parsing would make a writer wait most of the sync (~3 s of parsing
    # quiet); a loaded machine stretches each short write too, so the bound scales with the run.
    assert probes > 20 and longest < max(1.0, took / 5), (
        f"a writer waited {longest:.1f} s for the lock of a sync that took {took:.1f} s"
    )


@pytest.mark.slow
def test_dropped_connection_resumes_without_duplicates(box, ledger_path):
    from warmup.api import endpoints
    from warmup.bounces.imap import sync
    from warmup.ledger import open_ledger

    box.append_many(  # over one IMAP session, as the 120 reports would arrive
        "INBOX",
        [
            dsn(
                f"<orig-{n}@corp.example>",
                f"gone{n}@example.net",
                "5.1.1",
                "550 5.1.1 user unknown",
                n,
            )
            for n in range(120)
        ],
    )
    ledger = open_ledger()
    mb = ledger.mailbox(BOX)
    ep = endpoints(mb)
    kicked = []

    def kick_once(total: int, done: int) -> None:
        if not kicked:
            kicked.append(done)
            box.kick()  # the server drops every session mid-sync

    report = sync(
        ledger,
        mb,
        hosts=ep.imap_hosts,
        port=ep.imap_port,
        security="ssl",
        password=IMAP_PASSWORD,
        folders=["INBOX"],
        since=dt.date(2026, 1, 1),
        progress=kick_once,
    )
    assert kicked == [50] and report.reconnects == 1
    assert report.bounces == 120 and len(bounce_rows(ledger_path)) == 120


def test_a_connection_dropped_in_a_sync_since_a_date_goes_on_where_it_was(box, ledger_path):
    # With --since, a reconnect read the folder again from its first message (the saved
    # position does not apply to a since): "Scanned 170 messages" of a folder of 120, and a
    # large folder on a server that ends sessions every few minutes was never read to its end.
    from warmup.api import endpoints
    from warmup.bounces.imap import sync
    from warmup.ledger import open_ledger

    box.append_many(
        "INBOX",
        [
            dsn(f"<o-{n}@corp.example>", f"g{n}@example.net", "5.1.1", "550 5.1.1 no", n)
            for n in range(120)
        ],
    )
    ledger = open_ledger()
    mb = ledger.mailbox(BOX)
    ep = endpoints(mb)
    seen: list[tuple[int, int]] = []

    def kick_once(total: int, done: int) -> None:
        seen.append((total, done))
        if len(seen) == 1:
            box.kick()

    report = sync(
        ledger, mb, hosts=ep.imap_hosts, port=ep.imap_port, security="ssl",
        password=IMAP_PASSWORD, folders=["INBOX"], since=dt.date(2026, 1, 1), progress=kick_once,
    )  # fmt: skip
    assert report.reconnects == 1
    assert (report.scanned, report.bounces) == (120, 120)
    assert seen == [(120, 50), (70, 50), (70, 70)]  # the second connection read the other 70
    assert len(bounce_rows(ledger_path)) == 120


def imap_via(proxy: LoginFaultProxy) -> None:
    """Point the mailbox at the proxy, as primary (127.0.0.1) and backup host (localhost)."""
    res = cli(
        "mailbox", "set", BOX, "--imap-host", "127.0.0.1,localhost", "--imap-port", str(proxy.port)
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize(
    ("command", "answer", "said"),
    [
        ("STATUS", b"NO", "IMAP refused to read folder 'INBOX', which it lists"),
        ("EXAMINE", b"BAD", "the IMAP server refused a command of the sync (EXAMINE"),
        ("UID SEARCH", b"NO", "IMAP refused to search 'INBOX'"),
        ("UID FETCH", b"NO", "IMAP refused to read messages of 'INBOX'"),
    ],
)
def test_a_server_quoting_the_password_after_the_login_never_puts_it_in_the_error(
    box, command, answer, said
):
    """A server whose refusal of a command of the sync quotes the password back ("LOGIN pw is
    not a command"): its words went into the error as they came, the password with them,
    where the login's own refusals and the IDLE watcher's lines mask it."""
    box.append("INBOX", dsn("<a@corp.example>", "a@example.net", "5.1.1", "550 5.1.1 no", 1))
    evil = b"LOGIN " + IMAP_PASSWORD.encode() + b" is not a command"
    with LoginFaultProxy(
        box, ["pass"], refuse=command, refuse_with=answer, refuse_text=evil
    ) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 69, res.stderr
    assert said in res.stderr and "LOGIN *** is not a command" in res.stderr, res.stderr
    assert IMAP_PASSWORD not in res.stderr + res.stdout


@pytest.mark.parametrize("fault", ["cut", "stall"])
def test_imap_login_cut_or_stall_is_unavailable_after_trying_the_backup(box, fault):
    # Issue #10 item 15: a stall crashed with TimeoutError (exit 1); a cut exited 77 with the
    # password checklist and never tried the backup host.
    with LoginFaultProxy(box, [fault]) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--timeout", "1")
    assert res.returncode == 69, res.stderr
    assert proxy.logins == [fault, fault]  # the primary, then the backup host
    assert res.stderr.startswith("Error: cannot reach the IMAP server (127.0.0.1:")
    assert "localhost:" in res.stderr and "LOGIN" in res.stderr
    assert "Traceback" not in res.stderr and "Admin service scope" not in res.stderr


def test_imap_login_cut_fails_over_to_the_backup_host(box):
    box.append(
        "INBOX",
        dsn(
            "<never-sent@corp.example>",
            "stranger@example.net",
            "5.1.1",
            "550 5.1.1 user unknown",
            1,
        ),
    )
    with LoginFaultProxy(box, ["cut", "pass"]) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    assert proxy.logins == ["cut", "pass"]
    assert "127.0.0.1 unavailable (connection lost during LOGIN" in res.stderr
    assert "used the backup host localhost" in res.stderr
    assert "recorded 1 new bounce," in res.stdout


def test_imap_login_failure_and_unreachable(box, tmp_path):
    bad = cli("bounces", "sync", BOX, env={"WARMUP_PASSWORD": "wrong"})
    assert bad.returncode == 77
    assert "Admin service scope" in bad.stderr and "Traceback" not in bad.stderr
    with LoginFaultProxy(box, ["pass"]) as proxy:  # a real NO: the backup is not tried
        imap_via(proxy)
        refused = cli("bounces", "sync", BOX, env={"WARMUP_PASSWORD": "wrong"})
    assert refused.returncode == 77 and proxy.logins == ["pass"]
    assert cli("mailbox", "set", BOX, "--imap-host", "127.0.0.2,127.0.0.3").returncode == 0
    down = cli("bounces", "sync", BOX)
    assert down.returncode == 69 and "cannot reach the IMAP server" in down.stderr


def test_a_report_about_a_message_never_sent_counts_for_nothing(box, ledger_path):
    # A report that names a recipient this mailbox did mail, but quotes an original Message-ID
    # that no send of this mailbox carries (another mailbox's message, or a forgery by anyone
    # who knows whom the mailbox writes to, the recipient first), answers none of its sends:
    # matched by recipient and time alone, one such report per lead counted 5/40 and paused
    # the mailbox, and suppressed the leads.
    ids = send_many(40)
    box.append_many(
        "INBOX",
        [
            dsn(f"<other-{n}@elsewhere.example>", rcpt, "5.1.1", "550 5.1.1 no", n)
            for n, rcpt in enumerate(list(ids)[:5], 1)
        ],
    )
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["bounces"], report["matched"]) == (5, 0)
    assert [r[3] for r in bounce_rows(ledger_path)] == [None] * 5
    assert json.loads(cli("suppress", "list", "--json").stdout) == []
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["status"] != "paused" and quota["bounce_rate"] in (None, 0.0)


def test_move_to_a_folder_that_does_not_exist_is_refused_not_reported_done(box, ledger_path):
    # `--move-to Nowhere` printed "moved": 1 and exited 0 while the server refused every MOVE
    # (NO [TRYCREATE]): the reports stayed in INBOX, the sync said they had gone.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    before = bounce_rows(ledger_path)
    res = cli("bounces", "sync", BOX, "--move-to", "Nowhere", "--json")
    assert res.returncode == 64, res.stdout
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "'Nowhere'" in err and "--move-to" in err
    assert bounce_rows(ledger_path) == before  # refused before anything was read
    assert len(box.flags("INBOX")) == 1
    # With the folder there, the report is recorded and moved.
    box.append("Bounces", plain("seed", 1))
    res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["moved"], len(box.flags("INBOX"))) == (1, 0)
    assert len(box.flags("Bounces")) == 2


def test_a_report_dated_past_the_calendar_does_not_stop_the_sync(box, ledger_path):
    # "Date: Fri, 31 Dec 9999 23:59:00 -0100" is 10000-01-01 in UTC: converting it raised
    # OverflowError out of the sync, and since the folder's position never passed the message,
    # every later sync of the folder died on it: one stranger's message stopped bounce learning.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    raw = dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1)
    raw = re.sub(rb"^Date: [^\r]*", b"Date: Fri, 31 Dec 9999 23:59:00 -0100", raw, flags=re.M)
    assert b"9999" in raw
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert [r[0] for r in bounce_rows(ledger_path)] == [rcpt]
    # and one dated before 2000 (no time the ledger holds) is taken as read now, not in 1900
    old = raw.replace(b"9999 23:59:00 -0100", b"1900 00:00:00 +0000")
    box.append("INBOX", old.replace(b"<dsn-1@", b"<dsn-2@"))
    assert cli("bounces", "sync", BOX).returncode == 0
    listed = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert len(listed) == 2 and all(b["at"] >= "2000" for b in listed), listed


def test_folders_are_named_in_modified_utf7_and_control_characters_refused(box, ledger_path):
    # `--folder 退信` (how Exmail users file bounces) died with a UnicodeEncodeError traceback:
    # imaplib sends ASCII only, and IMAP names such folders in modified UTF-7 (RFC 3501 5.1.3).
    ids = send_many(3)
    rcpt = "lead1@example.com"
    box.append("&kABP4Q-", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    res = cli("bounces", "sync", BOX, "--folder", "退信", "--move-to", "Échecs", "--json")
    assert res.returncode == 64 and "'Échecs'" in res.stderr  # not there yet: refused
    box.append("&AMk-checs", plain("seed", 1))
    res = cli("bounces", "sync", BOX, "--folder", "退信", "--move-to", "Échecs", "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["matched"], json.loads(res.stdout)["moved"]) == (1, 1)
    assert len(box.flags("&AMk-checs")) == 2 and box.flags("&kABP4Q-") == {}
    # A CR LF in a name would end the IMAP command and start another: a usage error.
    for option in ("--folder", "--move-to"):
        res = cli("bounces", "sync", BOX, option, "INBOX\r\nA1 DELETE INBOX")
        err = res.stderr.strip()
        assert res.returncode == 64 and len(err.splitlines()) == 1 and option in err, err


def test_a_report_read_before_its_send_was_recorded_counts_once_the_send_is(box, ledger_path):
    # A send recorded after the sync that read its report (`warmup record send` or `import` of
    # a script's log, a late settlement) never got its bounce: the report was kept unmatched,
    # the folder's position moved past it, and recording it again is a no-op on its key. The
    # hard bounce stayed out of the rates and the dead address was mailed again and again.
    rcpt = "late@example.com"
    box.append("INBOX", dsn("<late-1@corp.example>", rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    stranger = "lead0@example.com"  # mailed below, but the report is about another message
    box.append("INBOX", dsn("<other@elsewhere.example>", stranger, "5.1.1", "550 5.1.1 no", 2))
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01", "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (2, 0)
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat(timespec="seconds")
    for to, mid in ((rcpt, "<late-1@corp.example>"), (stranger, "<mine@corp.example>")):
        done = cli("record", "send", BOX, "--to", to, "--message-id", mid, "--at", at)
        assert done.returncode == 0, done.stderr
    for _ in range(2):  # the next sync links it, once
        res = cli("bounces", "sync", BOX, "--json")
        assert res.returncode == 0, res.stderr
    listed = {b["recipient"]: b for b in json.loads(cli("bounces", "list", BOX, "--json").stdout)}
    assert (listed[rcpt]["matched"], listed[rcpt]["counted"]) == (True, True)
    assert (listed[stranger]["matched"], listed[stranger]["counted"]) == (False, False)
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [rcpt]
    con = sqlite3.connect(ledger_path)  # in the rollup the rates are read from, once
    try:
        assert con.execute("SELECT sum(sent), sum(hard) FROM day_stat").fetchone() == (2, 1)
    finally:
        con.close()


def test_move_to_a_folder_being_synced_is_refused(box, ledger_path):
    # `--move-to INBOX` (or a folder also given to --folder) moved each report onto itself:
    # under a new UID past the folder's position, so every sync read, recorded nothing and
    # moved the same reports again, for ever, and said "moved" each time.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    box.append("Bounces", plain("seed", 1))
    before = box.flags("INBOX")
    for args in (
        ("--move-to", "INBOX"),
        ("--move-to", "inbox"),  # INBOX is the one case-insensitive name (RFC 3501 5.1)
        ("--folder", "INBOX", "--folder", "Bounces", "--move-to", "Bounces"),
    ):
        res = cli("bounces", "sync", BOX, *args, "--json")
        err = res.stderr.strip()
        assert res.returncode == 64, (args, res.stdout, err)
        assert len(err.splitlines()) == 1 and "--move-to" in err and "Traceback" not in err
        assert bounce_rows(ledger_path) == [] and box.flags("INBOX") == before


def test_move_to_on_a_server_without_move(box, ledger_path):
    # MOVE is an extension (RFC 6851): `--move-to` sent UID MOVE anyway, a server's BAD
    # came out as an imaplib traceback (exit 1) after the bounces and the folder's position
    # were saved, so the reports stayed in INBOX and no later sync tried again.
    ids = send_many(3)
    box.append("Bounces", plain("seed", 1))
    box.append_many(
        "INBOX",
        [
            *(
                dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", n)
                for n, rcpt in enumerate(("lead0@example.com", "lead1@example.com"), 1)
            ),
            plain("hello", 2),
        ],
    )
    with LoginFaultProxy(box, ["pass"], hide=["MOVE", "UIDPLUS"]) as proxy:
        imap_via(proxy)  # no way to move only these reports: refused before reading
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "MOVE" in err and "--move-to" in err
    assert bounce_rows(ledger_path) == [] and len(box.flags("INBOX")) == 3
    with LoginFaultProxy(box, ["pass"], hide=["MOVE"]) as proxy:
        imap_via(proxy)  # COPY, then \Deleted and UID EXPUNGE of just these
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["matched"], json.loads(res.stdout)["moved"]) == (2, 2)
    assert len(box.flags("INBOX")) == 1 and len(box.flags("Bounces")) == 3


def test_an_earlier_since_reads_the_older_reports_a_first_sync_skipped(box, ledger_path):
    # A sync goes on from the folder's saved position, and --since only narrowed that search:
    # once a first sync had run (by default from the day before the first send), `--since` an
    # earlier date read nothing, silently, so the reports about a history imported later
    # (`record send --at`, `import`) could never be read.
    now = dt.datetime.now(dt.UTC)
    old, new = "old@example.com", "new@example.com"
    client = box.connect()
    try:  # the older report first, with the date it arrived
        for n, (rcpt, when) in enumerate(((old, now - dt.timedelta(days=20)), (new, now)), 1):
            raw = dsn(f"<{n}@corp.example>", rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            assert client.append("INBOX", None, imaplib.Time2Internaldate(when), raw)[0] == "OK"
    finally:
        client.logout()

    def record(rcpt: str, n: int, at: dt.datetime) -> None:
        done = cli("record", "send", BOX, "--to", rcpt, "--message-id", f"<{n}@corp.example>",
                   "--at", at.isoformat(timespec="seconds"))  # fmt: skip
        assert done.returncode == 0, done.stderr

    record(new, 2, now - dt.timedelta(hours=1))
    first = json.loads(cli("bounces", "sync", BOX, "--json").stdout)
    assert (first["scanned"], first["matched"]) == (1, 1)  # from the day before the first send
    record(old, 1, now - dt.timedelta(days=20, hours=1))  # the older history, imported
    since = (now - dt.timedelta(days=21)).date().isoformat()
    res = cli("bounces", "sync", BOX, "--since", since, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert sorted(r[0] for r in bounce_rows(ledger_path)) == [new, old]
    again = json.loads(cli("bounces", "sync", BOX, "--json").stdout)
    assert (again["scanned"], again["bounces"]) == (0, 0)  # the position did not go back


def test_a_folder_the_server_lacks_is_refused_before_any_is_read(box, ledger_path):
    # `--folder Bounces --folder Bonces` (a typo) recorded Bounces' reports and saved its
    # position, then failed on the second: bad input, and the ledger written all the same.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    box.append("Bounces", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    res = cli("bounces", "sync", BOX, "--folder", "Bounces", "--folder", "Bonces")
    err = res.stderr.strip()
    assert res.returncode == 64 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "'Bonces'" in err and "--folder" in err
    assert bounce_rows(ledger_path) == []
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT count(*) FROM sync_state").fetchone() == (0,)
    finally:
        con.close()


def test_a_report_naming_no_possible_address_names_no_recipient(box, ledger_path):
    # A stranger's report whose Final-Recipient was 100,000 characters (or whose original
    # Message-ID was) had them recorded as they were, listed in `unmatched` and printed in full
    # on the sync's one summary line. No send can have gone to an address over RFC 5321's 254
    # octets (every input refuses one), nor carried a Message-ID over a line's 998.
    huge = "a" * 100_000 + "@example.com"
    raw = dsn(f"<{'b' * 5000}@corp.example>", huge, "5.1.1", "550 5.1.1 user unknown", 1)
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["unmatched"] == ["(no recipient)"]
    assert [(r[0], r[5]) for r in bounce_rows(ledger_path)] == [("", None)]


def test_move_to_uses_move_where_the_server_offers_it(box, ledger_path):
    # The capabilities were read through the one-line error formatter, cut at 200 characters:
    # Dovecot names MOVE after that, so MOVE was never used, and a server offering MOVE but
    # not UIDPLUS had --move-to refused as if it could not move at all.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    box.append("Bounces", plain("seed", 1))
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    with LoginFaultProxy(box, ["pass"], hide=["UIDPLUS"]) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["moved"] == 1
    assert len(box.flags("INBOX")) == 0 and len(box.flags("Bounces")) == 2


def test_a_connection_cut_at_move_moves_the_reports_on_the_next_connection(box, ledger_path):
    # The folder's position was saved with the bounces, before the MOVE: a connection lost at
    # the MOVE reconnected after the reports, so they stayed in INBOX, "moved" left them out,
    # and no later sync moved them (exit 0, nothing said).
    ids = send_many(3)
    box.append("Bounces", plain("seed", 1))
    box.append_many(
        "INBOX",
        [
            dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            for n, rcpt in enumerate(("lead0@example.com", "lead1@example.com"), 1)
        ],
    )
    with LoginFaultProxy(box, ["pass"], cut_on="UID MOVE") as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
        assert proxy.cut_on is None, (res.stdout, res.stderr)  # the cut happened
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["bounces"], report["matched"], report["moved"]) == (2, 2, 2)
    assert len(box.flags("INBOX")) == 0 and len(box.flags("Bounces")) == 3
    assert len(bounce_rows(ledger_path)) == 2


@pytest.mark.slow
def test_a_script_in_another_locale_can_sync_since_a_date(box, tmp_path, monkeypatch):
    # SINCE was written with strftime's %b, the month in the process's locale: a script that
    # had called setlocale (German here) sent "SINCE 01-Mär-2026", which imaplib cannot even
    # encode (a UnicodeEncodeError out of sync); "01-Dez-2026" would be a BAD. IMAP's months
    # are English whatever the locale (RFC 3501 date-month).
    import locale
    import shutil

    from warmup.bounces.imap import sync

    if shutil.which("localedef") is None:
        pytest.skip("localedef (glibc) is needed to build a German locale")
    built = subprocess.run(
        ["localedef", "-i", "de_DE", "-f", "UTF-8", str(tmp_path / "de_DE.UTF-8")],
        capture_output=True,
    )
    if built.returncode not in (0, 1):  # 1: built, with warnings
        pytest.skip(f"cannot build de_DE.UTF-8: {built.stderr.decode()[:200]}")
    ids = send_many(1)
    rcpt = "lead0@example.com"
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    monkeypatch.setenv("LOCPATH", str(tmp_path))
    before = locale.setlocale(locale.LC_TIME)
    ledger = open_ledger()
    try:
        locale.setlocale(locale.LC_TIME, "de_DE.UTF-8")
        row = ledger.mailbox(BOX)
        ep = api.endpoints(row)
        report = sync(
            ledger,
            row,
            hosts=ep.imap_hosts,
            port=ep.imap_port,
            security=ep.imap_security,
            password=IMAP_PASSWORD,
            folders=["INBOX"],
            since=dt.date(2026, 3, 1),
        )
    finally:
        locale.setlocale(locale.LC_TIME, before)
        ledger.close()
    assert (report.bounces, report.matched) == (1, 1)


def test_a_server_naming_the_uid_after_the_message_loses_no_report(box, ledger_path):
    # The UID of a FETCH answer was looked for only before the message's literal; a server
    # that names it after (RFC 3501 sets no order) had every report read as an empty message:
    # nothing recorded, the folder's position moved past them, lost for good.
    ids = send_many(3)
    box.append_many(
        "INBOX",
        [
            dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            for n, rcpt in enumerate(("lead0@example.com", "lead1@example.com"), 1)
        ],
    )
    with LoginFaultProxy(box, ["pass"], uid_last=True) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (2, 2, 2)


def test_a_connection_cut_while_checking_the_folders_reconnects(box, ledger_path):
    # The checks before reading (the --move-to folder, the server's capabilities) ran outside
    # the reconnecting loop: a connection lost there came out as an imaplib traceback.
    ids = send_many(3)
    rcpt = "lead0@example.com"
    box.append("Bounces", plain("seed", 1))
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    with LoginFaultProxy(box, ["pass"], cut_on="STATUS") as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--move-to", "Bounces", "--json")
        assert proxy.cut_on is None  # the cut happened
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["matched"], json.loads(res.stdout)["moved"]) == (1, 1)


def test_a_search_the_server_refuses_is_one_line(box, ledger_path):
    # A NO to UID SEARCH was read as a list of UIDs: int(b"[SERVERBUG]") raised ValueError, a
    # traceback.
    box.append("INBOX", plain("hello", 1))
    with LoginFaultProxy(box, ["pass"], refuse="UID SEARCH") as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--json")
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "'INBOX'" in err and "Internal error" in err


def test_a_select_answer_without_uidvalidity_is_one_line_and_69(box, ledger_path):
    """RFC 3501 makes SELECT state the folder's UIDVALIDITY; without it a sync cannot tell a
    recreated folder from the one it read, so it refuses (no ``int(None)`` traceback) and
    records nothing."""
    box.append("INBOX", dsn("<x@corp.example>", "lead0@example.com", "5.1.1", "550 5.1.1 no", 1))
    with LoginFaultProxy(box, ["pass"], drop=b"* OK [UIDVALIDITY") as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX)
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err == (
        "Error: the IMAP server did not state the UIDVALIDITY of folder 'INBOX' when it was "
        "opened; a sync cannot tell which of its messages it has read without it (ask the "
        "server's administrator)"
    )
    assert bounce_rows(ledger_path) == []


def test_a_report_dated_in_the_second_of_its_send_is_matched(box, ledger_path):
    """A report that quotes no original Message-ID is matched by recipient and time, to a send
    at or before its Date. A Date has whole seconds, and the reporting server's clock is not
    ours: a report written the second the message was handed over (a recipient the provider
    refuses at once), or by a server a few seconds behind, came "before" its send by a
    fraction of a second, matched nothing, and its hard bounce neither counted nor
    suppressed the dead address (matching it again later changed nothing)."""
    ids = send_many(1)
    (rcpt,) = ids
    con = sqlite3.connect(ledger_path)
    try:
        (sent_at,) = con.execute("SELECT at FROM send").fetchone()
    finally:
        con.close()
    sent = dt.datetime.fromisoformat(str(sent_at)).replace(tzinfo=dt.UTC)
    written = email.utils.format_datetime(sent - dt.timedelta(seconds=2))
    report = dsn("", rcpt, "5.1.1", "550 5.1.1 user unknown", 1).decode()
    report = re.sub(r"Date: [^\r]*", f"Date: {written}", report).replace("Message-ID: \r\n", "")
    assert "Message-ID: <dsn-1@" in report and report.count("Message-ID") == 1
    box.append("INBOX", report.encode())
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    (listed,) = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["matched"], listed["counted"]) == (True, True)
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [rcpt]


def test_a_folder_whose_uids_fill_more_than_a_line_is_read_in_parts(
    box, ledger_path, run, monkeypatch
):
    """A folder read from its start (a first sync before any send, a --since, a folder
    recreated under a new UIDVALIDITY) was searched in one command, answered in one line of
    every UID, and imaplib refuses a line over 1 MB: a folder of ~100,000 messages made every
    such sync end in a traceback ("got more than 1000000 bytes"), for ever. Here the limit is
    made small instead of the folder large: 700 messages fill a line of ~2.7 KB."""
    import imaplib

    monkeypatch.setattr(imaplib, "_MAXLINE", 2000)
    ids = {f"lead{n}@example.com": f"<m{n}@corp.example>" for n in range(3)}
    box.append_many(
        "INBOX",
        [plain("Hello", n) for n in range(697)]
        + [
            dsn(mid, rcpt, "5.1.1", "550 5.1.1 user unknown", n)
            for n, (rcpt, mid) in enumerate(ids.items())
        ],
    )
    res = run("bounces", "sync", BOX, "--json")
    assert "Traceback" not in res.output
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"]) == (700, 3)
    assert sorted(report["unmatched"]) == sorted(ids)
    again = json.loads(run("bounces", "sync", BOX, "--json").stdout)
    assert (again["scanned"], again["bounces"]) == (0, 0)


def test_a_large_folder_on_a_server_without_uidnext_says_what_to_do(
    box, ledger_path, run, monkeypatch
):
    """Without the UIDNEXT it must state (RFC 3501), a folder too large for one search answer
    cannot be read in windows: the line limit was reported as "the IMAP server refused a
    command", which it had not. One line saying what happened and what to do."""
    import imaplib

    monkeypatch.setattr(imaplib, "_MAXLINE", 2000)
    box.append_many("INBOX", [plain("Hello", n) for n in range(700)])
    with LoginFaultProxy(box, ["pass"], drop=b"* OK [UIDNEXT") as proxy:
        imap_via(proxy)
        res = run("bounces", "sync", BOX, "--json")
    assert res.exit_code == 69, res.output
    (line,) = res.output.strip().splitlines()
    assert "refused" not in line and "longer than a line may be" in line, line
    assert "UIDNEXT" in line and "another folder" in line, line


@pytest.mark.parametrize("size", [10**12, 50_000_000])
def test_a_message_announced_larger_than_asked_is_refused_in_one_line(box, ledger_path, size):
    """The sync asks for the first READ_BYTES of each message; a server announcing far more
    (a literal of {1000000000000} bytes) had imaplib allocate it: a MemoryError traceback, or
    memory the size of what the server chose to send. The sync refuses it in one line (69),
    records nothing of that batch, and the next sync from a sane server reads it."""
    ids = send_many(1)
    (rcpt,) = ids
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    with LoginFaultProxy(box, ["pass"], literal=size) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--json", "--timeout", "5")
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"{size}" in err, err
    assert bounce_rows(ledger_path) == []
    back = ("--imap-host", "127.0.0.1", "--imap-port", str(box.port))
    assert cli("mailbox", "set", BOX, *back).returncode == 0
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)


def test_a_server_sending_whole_messages_for_first_parts_is_read(box, ledger_path):
    """A server that ignores the partial FETCH sends each message whole: a report carrying its
    2 MB original is a literal the size the server gave for it (RFC822.SIZE), read with all
    but its first part dropped as it comes. Refused as "larger than asked", the sync stopped at
    that message at every run, for ever."""
    ids = send_many(1)
    (rcpt,) = ids
    report = dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1)
    padding = b"\n".join([b"X" * 76] * 27_000)  # ~2 MB of a quoted original, after the report
    box.append("INBOX", report.rstrip(b"\n") + b"\n\n" + padding + b"\n")
    with LoginFaultProxy(box, ["pass"], whole=True) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--json", "--timeout", "20")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert len(bounce_rows(ledger_path)) == 1


def test_terminal_escapes_in_the_servers_words_never_reach_the_terminal(box, ledger_path):
    """An error quotes the IMAP server's words (why it refused a SEARCH, a STATUS, a MOVE, a
    LOGIN): escape sequences in them went to the terminal as they came (setting its title,
    clearing the screen, hiding the rest of the line)."""
    box.append("INBOX", plain("hello", 1))
    evil = b"Internal \x1b]0;owned\x07error\x1b[2J \xe2\x80\xae"
    with LoginFaultProxy(box, ["pass"], refuse="UID SEARCH", refuse_text=evil) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX)
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1, err
    assert "Internal" in err and "error" in err, err
    assert all(c.isprintable() for c in err), repr(err)


@pytest.mark.parametrize("command", ["UID FETCH", "UID SEARCH", "EXAMINE", "STATUS"])
def test_a_command_the_server_calls_bad_is_one_line(box, ledger_path, command):
    """A server that answers BAD (it does not understand the command: a partial FETCH an old
    server lacks, say) made imaplib raise an error no step caught: a traceback, exit 1."""
    box.append("INBOX", dsn("<x@corp.example>", "lead0@example.com", "5.1.1", "550 5.1.1 no", 1))
    with LoginFaultProxy(
        box, ["pass"], refuse=command, refuse_with=b"BAD", refuse_text=b"Error in IMAP command"
    ) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX)
    err = res.stderr.strip()
    assert res.returncode == 69 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "Error in IMAP command" in err, err
    assert bounce_rows(ledger_path) == []


def test_a_greeting_that_is_not_ascii_is_unavailable_in_one_line(box):
    """imaplib reads the CAPABILITY it asks for on connecting as ASCII: bytes that are not
    escaped connect() as a UnicodeDecodeError, a traceback (exit 1) here and the death of the
    IMAP IDLE watcher in ``warmup run``. It is a server garbling the session before LOGIN: the
    backup host is tried, then one line, exit 69."""
    with LoginFaultProxy(box, ["pass"], sessions=["garbled"]) as proxy:
        imap_via(proxy)
        res = cli("bounces", "sync", BOX, "--timeout", "5")
    err = res.stderr.strip()
    assert res.returncode == 69 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("Error: cannot reach the IMAP server (127.0.0.1:"), err
    assert "its answer before LOGIN is not ASCII" in err and "localhost:" in err, err
    assert proxy.logins == []  # refused before LOGIN: the password never went out


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_bounce_sync_killed_mid_batch_keeps_the_position_with_the_bounces_it_covers(
    box, sink, ledger_path, sig
):
    """120 reports, read 50 to a batch (each batch's bounces and the folder position reached
    written in one transaction), the sync killed inside its second batch's transaction: the
    first batch is recorded with the position after it, nothing of the second; the next sync
    records the other 70 and nothing twice."""
    ids = send_many(60)
    reports = [
        dsn(ids[f"lead{n}@example.com"], f"lead{n}@example.com", "5.1.1", "550 5.1.1 unknown", n)
        for n in range(60)
    ] + [
        dsn(f"<x{n}@corp.example>", f"stranger{n}@example.net", "5.1.1", "550 5.1.1 no", 100 + n)
        for n in range(60)
    ]
    box.append_many("INBOX", reports)
    uids = sorted(box.fetch("INBOX"))
    # the 55th suppression: the fifth hard bounce of the second batch, its transaction open
    res = crash.hooked(sig, "_suppress", 55, "bounces", "sync", BOX)
    if sig == "SIGKILL":
        assert res.returncode == -signal.SIGKILL, res.stderr
    else:  # 'timeout 60 warmup bounces sync': it said nothing, as if it had crashed
        assert (res.returncode, res.stderr.strip()) == crash.STOPPED[sig], res.stderr
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT last_uid FROM sync_state").fetchall() == [(uids[49],)]
    finally:
        con.close()
    after_kill = crash.consistent(str(ledger_path))
    assert (after_kill["bounce"], after_kill["suppression"]) == (50, 50)

    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["bounces"] == 70
    done = crash.consistent(str(ledger_path))
    assert (done["bounce"], done["suppression"], done["counted"]) == (120, 60, 60 + 60)
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT last_uid FROM sync_state").fetchall() == [(uids[-1],)]
        assert con.execute("SELECT sum(hard) FROM day_stat").fetchone() == (60,)
    finally:
        con.close()


def test_a_report_matched_to_a_slot_later_released_answers_no_slot(box, ledger_path):
    """A report naming no Message-ID matches the latest send to its recipient, and a slot
    still reserved (the SMTP conversation runs, or its "sent" is written with the next
    message) is one. When that slot was then given back (a throttle, a lost connection:
    nothing left) the bounce stayed matched to it and counted, and suppressed its address: a
    stranger's report moved the rates of a mailbox that had sent nothing (1 hard bounce for 0
    sends) and suppressed a lead. Released, the slot answers nothing: the report is matched
    again, to the send it may answer, else to none."""
    fresh, known = "fresh@example.com", "known@example.com"
    earlier = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).isoformat(timespec="seconds")
    done = cli("record", "send", BOX, "--to", known, "--at", earlier)
    assert done.returncode == 0, done.stderr
    with Gate(BOX) as gate:
        res = gate.reserve([fresh, known])
        box.append_many(
            "INBOX",
            [
                dsn("", fresh, "5.1.1", "550 5.1.1 user unknown", 1),
                dsn("", known, "5.1.1", "550 5.1.1 user unknown", 2),
            ],
        )
        synced = cli("bounces", "sync", BOX, "--json")
        assert synced.returncode == 0, synced.stderr
        assert json.loads(synced.stdout)["matched"] == 2  # both to the reserved slots
        res.settle("released")  # nothing left
    listed = {b["recipient"]: b for b in json.loads(cli("bounces", "list", BOX, "--json").stdout)}
    assert (listed[fresh]["matched"], listed[fresh]["counted"]) == (False, False)
    # The earlier send to ``known`` is the one its report answers.
    assert (listed[known]["matched"], listed[known]["counted"]) == (True, True)
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [known]
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT sum(sent), sum(hard) FROM day_stat").fetchone() == (1, 1)
        assert con.execute(
            "SELECT s.outcome FROM bounce b JOIN send s ON s.id = b.send_id"
        ).fetchall() == [("sent",)]
    finally:
        con.close()
    again = cli("bounces", "sync", BOX, "--json")  # and a later sync leaves it so
    assert again.returncode == 0 and json.loads(again.stdout)["linked"] == 0


def test_a_failure_after_a_delay_warning_of_a_report_without_id_or_date_is_recorded(
    box, ledger_path
):
    """A report without a Message-ID of its own is known by a digest of what it says; with no
    Date either, its time is the DSN's Arrival-Date: when the *original* arrived, the same in
    the delay warning and in the failure that follows, which carry the same status (4.4.1,
    the host timed out). The two had one key: the failure, read after the warning, was taken
    for it and dropped, and the send's bounce never counted."""
    ids = send_many(1)
    rcpt = "lead0@example.com"
    arrived = email.utils.formatdate()

    def report(action: str) -> bytes:
        return (
            "From: MAILER-DAEMON@mx.example.com\r\n"
            f"To: {BOX}\r\nSubject: Delivery status\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
            "--B\r\nContent-Type: text/plain\r\n\r\nStatus of your message.\r\n\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.com\r\n"
            f"Arrival-Date: {arrived}\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: {action}\r\nStatus: 4.4.1\r\n"
            "Diagnostic-Code: X-Postfix; connect to mx.far.example: Connection timed out\r\n\r\n"
            f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {BOX}\r\nTo: {rcpt}\r\n"
            f"Message-ID: {ids[rcpt]}\r\n\r\n--B--\r\n"
        ).encode()

    box.append("INBOX", report("delayed"))
    assert cli("bounces", "sync", BOX).returncode == 0
    box.append("INBOX", report("failed"))
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["delayed"]) == (1, 0)
    listed = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert sorted((b["kind"], b["counted"]) for b in listed) == [
        ("delayed", False),
        ("soft", True),
    ]
    con = sqlite3.connect(ledger_path)  # in the rollup the rates are read from
    try:
        assert con.execute("SELECT sum(sent), sum(soft) FROM day_stat").fetchone() == (1, 1)
    finally:
        con.close()


def linked_bounces(ledger_path) -> list[tuple[str, str, int, str]]:
    """Each bounce linked to a send: (its source, kind, counted, the send's outcome)."""
    con = sqlite3.connect(ledger_path)
    try:
        return con.execute(
            "SELECT b.source, b.kind, b.counted, s.outcome FROM bounce b "
            "JOIN send s ON s.id = b.send_id ORDER BY b.id"
        ).fetchall()
    finally:
        con.close()


def test_a_report_about_a_retried_message_answers_the_copy_that_was_accepted(
    box, sink, ledger_path
):
    """A message deferred at RCPT (450: greylisting, a 4xx soft bounce of its own) and sent
    again later with the same Message-ID has two slots with that Message-ID. A report about
    it can only be about the copy the server accepted, yet it was matched to whichever row
    came first: the deferred one, whose soft bounce was counted already, so the hard bounce
    of the copy that left never counted."""
    rcpt = "grey@example.com"
    msg = EmailMessage()
    msg["To"], msg["Subject"], msg["Message-ID"] = rcpt, "Hello", "<retry-1@corp.example>"
    msg.set_content("Hi")
    sink.reject_rcpt = {rcpt: (450, "4.2.0 Greylisted, try again later")}
    with Gate(BOX) as gate:
        first = gate.send(msg)
    assert first.results[rcpt].outcome == "soft"
    sink.reject_rcpt = {}
    with Gate(BOX) as gate:
        again = gate.send(msg)
    assert again.sent == [rcpt]
    box.append("INBOX", dsn("<retry-1@corp.example>", rcpt, "5.1.1", "550 5.1.1 no such user", 1))
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert linked_bounces(ledger_path) == [("smtp", "soft", 1, "soft"), ("imap", "hard", 1, "sent")]
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT sum(sent), sum(soft), sum(hard) FROM day_stat").fetchone() == (
            2,
            1,
            1,
        )
    finally:
        con.close()


def test_a_report_naming_no_message_answers_an_accepted_send_not_a_later_refused_one(
    box, sink, ledger_path
):
    """A report that names no Message-ID (Tencent's and NetEase's own notices) answers the
    latest send to its recipient; a later message the server refused at RCPT (450) never
    reached it, so the report cannot be about that one. It was matched to it all the same —
    a send whose own soft bounce counted already — and the hard bounce never counted."""
    rcpt = "lead@example.com"
    now = dt.datetime.now(dt.UTC)
    with Gate(BOX) as gate:
        msg = EmailMessage()
        msg["To"], msg["Subject"] = rcpt, "Hello"
        msg.set_content("Hi")
        assert gate.send(msg, now=now - dt.timedelta(days=2)).sent == [rcpt]
        sink.reject_rcpt = {rcpt: (450, "4.2.0 Greylisted, try again later")}
        msg = EmailMessage()
        msg["To"], msg["Subject"] = rcpt, "Following up"
        msg.set_content("Hi again")
        assert gate.send(msg, now=now - dt.timedelta(days=1)).results[rcpt].outcome == "soft"
    box.append("INBOX", dsn("", rcpt, "5.1.1", "550 5.1.1 no such user", 1))
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert linked_bounces(ledger_path) == [("smtp", "soft", 1, "soft"), ("imap", "hard", 1, "sent")]


def test_subjects_in_encoded_words_are_read_as_words(box, ledger_path):
    """Every non-ASCII subject travels as RFC 2047 encoded-words, and the subject patterns
    were matched against them undecoded: NetEase's "系统退信" in GBK (``=?gbk?b?...?=``)
    with wording the body patterns lack was no bounce at all (the dead address was mailed
    again), and an out-of-office whose "Automatic reply:" subject was encoded, and whose body
    says the message "could not be delivered" to its reader yet, was taken for one."""
    ids = send_many(1)
    rcpt = "lead0@example.com"
    body = (
        f"您发送的邮件未能成功投递到以下收件人：\r\n{rcpt}\r\n原因：550 User not found: {rcpt}\r\n"
        f"\r\n--- 原始邮件 ---\r\nFrom: {BOX}\r\nTo: {rcpt}\r\nMessage-ID: {ids[rcpt]}\r\n"
    )
    netease = (
        f"From: Postmaster@163.com\r\nTo: {BOX}\r\n"
        f"Subject: {email.header.Header('系统退信', 'gbk').encode()}\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <ntes-1@163.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=gbk\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(body.encode("gbk")).replace(b"\n", b"\r\n")
    away = (
        f"From: Lead <{rcpt}>\r\nTo: {BOX}\r\n"
        f"Subject: {email.header.Header('Automatic reply: Hello', 'utf-8').encode()}\r\n"
        f"Date: {email.utils.formatdate()}\r\nMessage-ID: <away-1@example.com>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "I am out of the office; your message could not be delivered to me in person. "
        "Mailbox unavailable until Monday.\r\n"
    ).encode()
    box.append_many("INBOX", [away, netease])
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (2, 1, 1)
    [listed] = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["recipient"], listed["kind"], listed["counted"]) == (rcpt, "hard", True)
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [rcpt]


def test_a_report_listing_a_recipient_delayed_then_failed_records_the_failure(box, ledger_path):
    """One report with two records for one recipient (an MTA's attempts at two of its
    hosts): "delayed", then "failed". The first of a recipient's records was kept, so the
    report was a delay warning: the hard bounce never counted nor suppressed."""
    ids = send_many(1)
    rcpt = "lead0@example.com"
    raw = dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1).replace(
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed".encode(),
        (
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
            "Diagnostic-Code: smtp; 451 4.4.1 no answer from mx1\r\n\r\n"
            f"Final-Recipient: rfc822; {rcpt}\r\nAction: failed"
        ).encode(),
    )
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["delayed"]) == (1, 0)
    [listed] = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    assert (listed["kind"], listed["status"], listed["counted"]) == ("hard", "5.1.1", True)
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [rcpt]


def test_move_to_says_what_it_moved(box, ledger_path):
    # Without --json, a sync with --move-to took the reports out of INBOX and never said so:
    # "recorded 0 new bounces" (a report read before) and an INBOX that emptied itself.
    ids = send_many(2)
    rcpt = "lead0@example.com"
    box.append("INBOX", dsn(ids[rcpt], rcpt, "5.1.1", "550 5.1.1 user unknown", 1))
    box.append("Bounces", plain("seed", 1))
    res = cli("bounces", "sync", BOX, "--move-to", "Bounces")
    assert res.returncode == 0, res.stderr
    assert "Moved 1 report to Bounces." in res.stdout.splitlines(), res.stdout
    assert (len(box.flags("INBOX")), len(box.flags("Bounces"))) == (0, 2)
    res = cli("bounces", "sync", BOX, "--move-to", "Bounces")  # nothing new: no line about it
    assert res.returncode == 0 and "Moved" not in res.stdout, res.stdout


def test_reports_moved_by_another_sync_meanwhile_are_no_failure(box, ledger_path):
    """Two syncs of one mailbox with --move-to (a cron job and a person, or a mail client's
    rule filing the reports): one read the reports, the other moved them before its MOVE. It
    said "IMAP refused to move 3 report(s) ... the reports stay where they were" and exited 69,
    though every report was recorded and where it was asked to be."""
    ids = send_many(3)
    box.append("Done", plain("seed", 1))
    box.append_many(
        "INBOX",
        [dsn(ids[f"lead{n}@example.com"], f"lead{n}@example.com", "5.1.1", "550 5.1.1 no", n)
         for n in range(3)],
    )  # fmt: skip
    args = ["bounces", "sync", BOX, "--move-to", "Done", "--json"]
    first = subprocess.Popen(
        [sys.executable, "-c", crash.HOOKED, "SIGSTOP", "_sync_folder>move", "1", *args],
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)  # stopped as it is about to move
        assert os.WIFSTOPPED(status)
        other = cli(*args)
        assert other.returncode == 0, other.stderr
        assert json.loads(other.stdout)["moved"] == 3
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert json.loads(out)["moved"] == 0
    assert len(box.flags("INBOX")) == 0 and len(box.flags("Done")) == 4
    assert len(bounce_rows(ledger_path)) == 3


# ``python -c MEANWHILE PORT N ACTION warmup-args...``: warmup, in which another IMAP session (a
# mail client's, a person's) acts on the mailbox after the sync's SEARCH and before its FETCH of
# the sizes of each of its first N batches of several messages: ACTION "expunge" expunges the
# batch's second message, "rename:OLD:NEW" renames folder OLD to NEW.
MEANWHILE = r"""
import imaplib, ssl, sys
port, batches, action = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
calls = [0]
def act(uid):
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ssl.create_default_context()) as c:
        c.login("bounces@corp.example", "b0unce-pass")
        if action.startswith("rename:"):
            c.rename(*action.split(":")[1:])
            return
        c.select("INBOX")
        c.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
        c.expunge()
def hook(frame, event, arg):
    if event != "call" or frame.f_code.co_name != "uid" or frame.f_locals["command"] != "FETCH":
        return
    uids, items = frame.f_locals["args"]
    if "RFC822.SIZE" in items and "," in uids:
        calls[0] += 1
        sys.setprofile(None)
        act(uids.split(",")[1])
        if calls[0] < batches:
            sys.setprofile(hook)
sys.setprofile(hook)
from warmup.cli import cli
cli(sys.argv[4:], prog_name="warmup")
"""


def meanwhile(box, batches: int, action: str, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """``warmup bounces sync BOX ARGS --json`` while another session acts (:data:`MEANWHILE`)."""
    return subprocess.run(
        [sys.executable, "-c", MEANWHILE, str(box.port), str(batches), action,
         "bounces", "sync", BOX, *args, "--json"],
        env={**os.environ, **ENV}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_messages_another_session_expunges_during_a_sync_cost_no_reconnect(box, ledger_path):
    """A mail client (or a person) deleting mail from the folder a sync reads: a message the
    sync listed and sized is gone when it asks for it (Dovecot then leaves it out of the FETCH
    and says EXPUNGE). Each was taken for a dropped connection: a new login, the batch read
    again, and the fourth in one folder stopped the sync, exit 69 "IMAP connection kept
    dropping (FETCH: no message for UID 52, which the server had just listed)". The server
    said the message is gone; the sync asks it, on the same connection, and goes on."""
    ids = send_many(1)
    (lead,) = ids
    mail = [plain("hello", n) for n in range(200)]
    mail.append(dsn(ids[lead], lead, "5.1.1", "550 5.1.1 user unknown", 1))
    box.append_many("INBOX", mail)
    before = len(box.logs())
    res = meanwhile(box, 4, "expunge", "--since", "2026-01-01")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (201 - 4, 1, 1)
    logins = box.logs()[before:].count(f"Login: user=<{BOX}>")
    assert logins == 1 + 4  # the sync's, and the other session's four
    assert len(box.flags("INBOX")) == 201 - 4


def test_a_folder_renamed_during_a_sync_is_named_as_gone_not_as_the_servers_trouble(
    box, ledger_path
):
    """A person renames a folder a sync is about to read: its SELECT is refused, and the sync
    said "IMAP refused to open folder 'Bounces' (Mailbox doesn't exist: Bounces); progress is
    saved, run the sync again later", exit 69, for a cron job to try again for ever (each
    next run then refused it as a --folder the server lacks, exit 64). Now the first says so:
    exit 64, with the server's folders, what the folders before it held recorded."""
    ids = send_many(1)
    (lead,) = ids
    box.append_many("INBOX", [plain("hello", 1), dsn(ids[lead], lead, "5.1.1", "550 5.1.1 no", 1)])
    box.append("Bounces", plain("hello", 2))
    res = meanwhile(box, 1, "rename:Bounces:Old", "--folder", "INBOX", "--folder", "Bounces")
    assert res.returncode == 64, res.stderr
    assert res.stderr.startswith("Error: IMAP folder 'Bounces' does not exist or cannot be read ")
    listed = res.stderr.partition("the server's folders: ")[2]
    assert sorted(listed.removesuffix("; check --folder\n").split(", ")) == ["'INBOX'", "'Old'"]
    assert [r[0] for r in bounce_rows(ledger_path)] == [lead]


def test_a_report_in_raw_gbk_is_recorded_as_the_hard_bounce_it_is(box, ledger_path):
    """A NetEase-style report with its Subject ("系统退信") in raw 8-bit GBK and a body in GBK
    with no charset: the sync skipped it as no report (its subject was U+FFFD), so the dead
    address was never counted nor suppressed."""
    rcpt = "lead0@example.com"
    send_many(1)
    body = f"您好，您发送的邮件无法投递。\r\n收件人：{rcpt}\r\n原因：收件人不存在\r\n"
    box.append(
        "INBOX",
        (
            f"From: postmaster@163.com\r\nTo: {BOX}\r\nSubject: 系统退信\r\n"
            f"Date: {email.utils.formatdate()}\r\nMessage-ID: <gbk-1@163.com>\r\n\r\n{body}"
        ).encode("gb18030"),
    )
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert [(r[0], r[1]) for r in bounce_rows(ledger_path)] == [(rcpt, "hard")]
    sup = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in sup] == [rcpt]


def test_mail_a_first_sync_passed_over_as_older_than_the_sends_stays_passed_over(box, ledger_path):
    # A first sync reads the mail since the day before the first send; it saved its position at
    # the last message it read (none here: 0), so the next sync, with a position and no date,
    # read the folder's whole history: 5 old reports scanned and recorded the second time.
    send_many(1)
    client = box.connect()
    try:
        for n in range(5):
            old = dsn(f"<old-{n}@corp.example>", f"old{n}@example.net", "5.1.1", "550 no", n)
            when = imaplib.Time2Internaldate(dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
            assert client.append("INBOX", None, when, old)[0] == "OK"
    finally:
        client.logout()
    first = cli("bounces", "sync", BOX, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["scanned"] == 0
    box.append("INBOX", dsn("<new@corp.example>", "new@example.net", "5.1.1", "550 no", 9))
    second = cli("bounces", "sync", BOX, "--json")
    assert second.returncode == 0, second.stderr
    assert (json.loads(second.stdout)["scanned"], json.loads(second.stdout)["bounces"]) == (1, 1)
    assert [r[0] for r in bounce_rows(ledger_path)] == ["new@example.net"]
    # Asked for, they are read.
    again = cli("bounces", "sync", BOX, "--since", "2025-01-01", "--json")
    assert json.loads(again.stdout)["bounces"] == 5


def test_mail_a_first_sync_passed_over_stays_passed_over_in_the_folder_made_again(box, ledger_path):
    """A folder deleted and made again (or moved to other storage) has a new UIDVALIDITY: its
    next sync read the folder's whole history, the old reports a first sync passed over as
    older than the sends recorded as new unmatched bounces. It is read as a first sync reads
    one, from the day before the first send."""
    send_many(1)
    old = [
        dsn(f"<old-{n}@corp.example>", f"old{n}@example.net", "5.1.1", "550 no", n)
        for n in range(5)
    ]
    when = imaplib.Time2Internaldate(dt.datetime(2025, 3, 1, tzinfo=dt.UTC))

    def put_old() -> None:
        client = box.connect()
        try:
            client.create("Bounces")
            for report in old:
                assert client.append("Bounces", None, when, report)[0] == "OK"
        finally:
            client.logout()

    put_old()
    first = cli("bounces", "sync", BOX, "--folder", "Bounces", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["scanned"] == 0
    before = box.uidvalidity("Bounces")
    box.delete("Bounces")
    put_old()
    box.append("Bounces", dsn("<new@corp.example>", "new@example.net", "5.1.1", "550 no", 9))
    assert box.uidvalidity("Bounces") != before
    again = cli("bounces", "sync", BOX, "--folder", "Bounces", "--json")
    assert again.returncode == 0, again.stderr
    assert (json.loads(again.stdout)["scanned"], json.loads(again.stdout)["bounces"]) == (1, 1)
    assert [r[0] for r in bounce_rows(ledger_path)] == ["new@example.net"]


def test_a_sync_since_a_date_still_reads_the_new_mail_dated_before_it(box, ledger_path):
    # A report filed into the folder since the last sync keeps the date it arrived (a server's
    # rule, a mail client moving it: INTERNALDATE is kept). A sync --since a later date read
    # only the mail since that date, yet moved the saved position past the new report, which
    # no sync read ever after.
    box.append("INBOX", plain("seed", 1))
    assert cli("bounces", "sync", BOX, "--json").returncode == 0  # a position, past the seed
    client = box.connect()
    try:
        moved = dsn("<moved@corp.example>", "moved@example.net", "5.1.1", "550 no", 2)
        when = imaplib.Time2Internaldate(dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
        assert client.append("INBOX", None, when, moved)[0] == "OK"
    finally:
        client.logout()
    box.append("INBOX", dsn("<fresh@corp.example>", "fresh@example.net", "5.1.1", "550 no", 3))
    res = cli("bounces", "sync", BOX, "--since", "2026-01-01", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["bounces"] == 2
    assert [r[0] for r in bounce_rows(ledger_path)] == ["fresh@example.net", "moved@example.net"]


def returning(rcpt: str, n: int, head: str) -> bytes:
    """A DSN (:func:`dsn`) naming no original Message-ID, whose returned headers are ``head``:
    anybody who knows whom the mailbox writes to can send one."""
    report = dsn("", rcpt, "5.1.1", "550 5.1.1 user unknown", n).decode()
    returned = f"From: {BOX}\r\nTo: {rcpt}\r\nSubject: Hello\r\nMessage-ID: \r\n"
    assert returned in report
    return report.replace(returned, head.replace("\n", "\r\n")).encode()


def test_a_forged_report_whose_original_is_not_the_send_counts_for_nothing(box, ledger_path):
    """A report naming no Message-ID answered the send to its recipient by time alone, even
    when the original it returns is from another address or dated weeks before the send: one
    forged report per lead counted, paused the mailbox and suppressed the leads. Now such a
    report is kept unmatched, with why; one returning the mailbox's original dated by its send,
    or returning no headers at all (many real reports), still answers it."""
    ids = send_many(4)
    leads = list(ids)
    old = email.utils.format_datetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    now = email.utils.formatdate()
    box.append_many(
        "INBOX",
        [
            returning(leads[0], 1, f"From: x@attacker.example\nTo: {leads[0]}\nDate: {now}\n"),
            returning(leads[1], 2, f"From: Sales <{BOX}>\nTo: {leads[1]}\nDate: {old}\n"),
            returning(leads[2], 3, f"From: {BOX}\nTo: {leads[2]}\nDate: {now}\n"),
            returning(leads[3], 4, "").replace(b"text/rfc822-headers", b"text/plain"),
        ],
    )
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (4, 2)
    listed = {b["recipient"]: b for b in json.loads(cli("bounces", "list", BOX, "--json").stdout)}
    assert [(listed[r]["matched"], listed[r]["counted"]) for r in leads] == [
        (False, False),
        (False, False),
        (True, True),
        (True, True),
    ]
    assert listed[leads[0]]["unverified"] == (
        f"its returned original is from x@attacker.example, not {BOX}"
    )
    assert listed[leads[1]]["unverified"].startswith("its returned original is dated ")
    assert listed[leads[2]]["unverified"] is None
    shown = cli("bounces", "list", BOX).stdout
    assert (
        f"Unverified, not counted: {leads[0]}: its returned original is from "
        f"x@attacker.example, not {BOX}"
    ) in shown
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert sorted(s["address"] for s in suppressed) == sorted(leads[2:])


def test_a_sync_since_a_date_after_today_is_refused_in_one_line(box, ledger_path):
    """``--since`` a day to come read nothing (IMAP SINCE finds no mail dated then) and said
    "0 bounces", as a mailbox without any would."""
    box.append("INBOX", dsn("<m@corp.example>", "lead0@example.com", "5.1.1", "550 no", 1))
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    res = cli("bounces", "sync", BOX, "--since", ahead)
    # a date that reads but is out of bounds: 65, as 'pause --until' in the past (it was 64)
    assert res.returncode == 65, res.stderr
    assert res.stderr.startswith(f"Error: --since {ahead} is after today (")
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    # said before a password is looked for: without one it was "no password", exit 78, first
    unset = cli("bounces", "sync", BOX, "--since", ahead, env={"WARMUP_PASSWORD": None})
    assert (unset.returncode, unset.stderr) == (65, res.stderr)
    assert bounce_rows(ledger_path) == []
    assert cli("bounces", "sync", BOX, "--since", "2026-01-01").returncode == 0
    assert len(bounce_rows(ledger_path)) == 1


def listing(n: int, uid: int) -> bytes:
    """A DSN (:func:`dsn`) listing ``n`` failed recipients: anybody can write one."""
    one = dsn("<m@corp.example>", "lead0@example.com", "5.1.1", "550 5.1.1 no", uid).decode()
    record = "Final-Recipient: rfc822; lead0@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    assert record in one
    many = "\r\n".join(record.replace("lead0@", f"x{i}@") for i in range(n))
    return one.replace(record, many).encode()


def test_a_report_listing_thousands_of_recipients_records_the_first_thousand_and_says_so(
    box, ledger_path
):
    """One report listing 15,000 addresses was cut silently at 999 rows, and a sync never said
    it had not read the rest."""
    box.append_many("INBOX", [listing(1_500, 1), listing(2, 2)])
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["bounces"] == 1_002 and len(report["capped"]) == 1
    assert re.fullmatch(r"INBOX UID \d+", report["capped"][0])
    assert len(bounce_rows(ledger_path)) == 1_002
    con = sqlite3.connect(ledger_path)
    try:
        kept = {r for (r,) in con.execute("SELECT recipient FROM bounce")}
    finally:
        con.close()
    assert {f"x{i}@example.com" for i in range(1_000)} <= kept and "x1000@example.com" not in kept
    box.append("INBOX", listing(1_001, 3))
    shown = cli("bounces", "sync", BOX).stdout
    assert re.search(
        r"^Recorded only the first 1,000 failed recipients of these reports, which list more: "
        r"INBOX UID \d+$",
        shown,
        re.MULTILINE,
    )


def test_a_folder_the_server_lacks_is_refused_naming_the_folders_it_has(box, ledger_path):
    """The refusal "IMAP folder 'Bonces' does not exist ...; check --folder" left the user to
    find the names elsewhere: nothing in warmup lists them, and Exmail's "退信" is "&kABP4Q-"
    on the wire. It names the server's folders, decoded, and the one a typo likely meant."""
    box.append("Bounces", plain("seed", 1))
    box.append("&kABP4Q-", plain("seed", 2))  # 退信
    res = cli("bounces", "sync", BOX, "--folder", "Bonces")
    err = res.stderr.strip()
    assert res.returncode == 64 and len(err.splitlines()) == 1, err
    assert err.startswith("Error: IMAP folder 'Bonces' does not exist or cannot be read ("), err
    assert "; did you mean 'Bounces'?; the server's folders: " in err, err
    assert "'INBOX'" in err and "'退信'" in err and "&kABP4Q-" not in err, err
    assert err.endswith("; check --folder"), err


def test_a_refusal_naming_the_servers_folders_stays_short_however_long_their_names(box):
    """The listing cut the count of folders to twelve but not the length of each name: a
    server's twelve folders of 200 characters made the one-line refusal 2,600 characters long
    (and the "did you mean" as long as the name it quoted)."""
    long = [f"Archive {i:02} " + "x" * 200 for i in range(13)]
    for i, name in enumerate(long):
        box.append(name, plain("seed", i))
    res = cli("bounces", "sync", BOX, "--folder", long[0][:-1])
    err = res.stderr.strip()
    assert res.returncode == 64 and len(err.splitlines()) == 1, err
    meant, _, listed = err.partition("; did you mean ")[2].partition("?; the server's folders: ")
    assert meant == repr("Archive 00 " + "x" * 46 + "..."), meant
    assert len(listed) < 900 and listed.endswith("... (14 folders); check --folder"), listed


@pytest.mark.slow
def test_a_sync_whose_disk_fills_between_batches_says_what_it_recorded(box, ledger_path, tmp_path):
    """The disk fills after some of a sync's batches were committed: the error said only
    "disk I/O error ..., then try again", as if nothing was recorded. Now the same line says
    how many new bounces were recorded and that the same sync reads on from there; it does."""
    from tests.test_faults import part_way
    from warmup.bounces.imap import BATCH

    reports = [
        dsn(f"<gone-{i}@corp.example>", f"nobody{i}@example.net", "5.1.1", "550 5.1.1 unknown", i)
        for i in range(3 * BATCH)
    ]
    box.append_many("INBOX", reports)
    count = "SELECT count(*) FROM bounce"
    res, recorded = part_way(["bounces", "sync", BOX], ledger_path, count, 0, 3 * BATCH)
    assert recorded in (BATCH, 2 * BATCH)  # whole batches, never part of one
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert res.returncode == 74, res.stderr
    assert lines[0].endswith(
        f"; bounces sync of {BOX}: recorded before it: {recorded} new bounces, 0 matched to "
        "their sends; the same sync again reads on from there (a bounce recorded is not "
        "recorded twice)"
    ), lines[0]
    again = json.loads(cli("bounces", "sync", BOX, "--json").stdout)
    assert again["bounces"] == 3 * BATCH - recorded
    assert len(bounce_rows(ledger_path)) == 3 * BATCH


def test_a_typed_password_command_wins_over_a_stale_warmup_password(box, tmp_path):
    """A stale WARMUP_PASSWORD exported in the shell beat the --password-command typed on the
    command line: 77 "login refused", though the command printed the right password. A typed
    flag wins over the environment, as everywhere in the CLI. The password is read from a
    file: it is in no argv, and never in the output."""
    secret = tmp_path / "pw"
    secret.write_text(IMAP_PASSWORD + "\n")
    secret.chmod(0o600)
    stale = {"WARMUP_PASSWORD": "stale-" + IMAP_PASSWORD}
    res = warmup("bounces", "sync", BOX, "--password-command", f"cat {secret}", env=stale)
    assert res.returncode == 0, res.stderr
    assert "recorded 0 new bounces" in res.stdout, res.stdout
    assert IMAP_PASSWORD not in res.stdout + res.stderr
    # From the environment (or the config file), the command still yields to WARMUP_PASSWORD.
    untyped = warmup(
        "bounces", "sync", BOX, env={**stale, "WARMUP_PASSWORD_COMMAND": f"cat {secret}"}
    )
    assert untyped.returncode == 77, untyped.stderr
    assert IMAP_PASSWORD not in untyped.stdout + untyped.stderr
