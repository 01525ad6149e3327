"""Reports whose parts are hard to find: the failed recipient after the first megabyte a sync
reads (one line of 20 MB before the delivery status), or a multipart/report without the
boundary that separates its parts. Synced from a real Dovecot on loopback, which gives a
message's MIME parts alone (RFC 3501 6.4.5: ``BODY[<section>]<<partial>>``, ``n.MIME``,
``HEADER.FIELDS``); the reports are RFC 3464's, the boundary RFC 2046 5.1.1's."""

from __future__ import annotations

import json

import pytest

from tests import test_bounces_sync as kit
from tests.gatekit import cli
from tests.test_bounces_sync import BOX, bounce_rows, dsn, send_many

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL
# The sync tests' fixtures: the mailbox on the SMTP sink and Dovecot.
sink = kit.sink
box = kit.box


@pytest.mark.parametrize(
    "where", ["notification", "preamble", "message/rfc822", "lines", "boundaries"]
)
def test_a_report_whose_status_comes_after_a_twenty_megabyte_line_is_still_read(
    box, ledger_path, where
):
    """One line of 20 MB before the delivery status (in the notification, or before the first
    part): the first 1 MB a sync reads held no failed recipient, so the report was listed for
    a person and its hard bounce never counted nor suppressed. The server knows the report's
    parts: the status and the original's headers are asked for alone, and read as ever.

    So with 25,000 short lines (0.1 MB) before the status: the parser reads 20,000 lines of a
    message, and a report under 1 MB was not taken as read in part: recorded as a bounce
    naming no one, its hard bounce lost, and nothing said; and so with the word "boundary"
    written 20 times in the notification, where the parser stops reading."""
    ids = send_many(1)
    (lead,) = ids
    raw = dsn(ids[lead], lead, "5.1.1", "550 5.1.1 user unknown", 1)
    line = b"x" * 20_000_000
    raw = {
        "notification": lambda: raw.replace(b"I'm sorry to have", line + b"\r\nI'm sorry"),
        "preamble": lambda: raw.replace(b"\r\n--dsn-1\r\n", b"\r\n" + line + b"\r\n--dsn-1\r\n", 1),
        # the original returned whole, as message/rfc822: only its header fields are asked for
        "message/rfc822": lambda: kit.returning_report(ids[lead], lead, 0.1).replace(
            b"I'm sorry to have", line + b"\r\nI'm sorry"
        ),
        "lines": lambda: raw.replace(b"I'm sorry to have", b"x\r\n" * 25_000 + b"I'm sorry"),
        # the word 17 times before the status: the parser reads at most 16 nested multiparts,
        # and cuts the message at the 17th "boundary" (formats.first_containers)
        "boundaries": lambda: raw.replace(
            b"I'm sorry to have", b"the boundary of the campaign\r\n" * 20 + b"I'm sorry"
        ),
    }[where]()
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"], report["matched"]) == (1, 1, 1)
    assert report["partial"] == []
    # matched by the original's Message-ID, read from its part
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in bounce_rows(ledger_path)] == [
        (lead, "hard", "5.1.1", lead, ids[lead])
    ]
    assert [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)] == [lead]


def test_a_forged_report_read_by_parts_is_checked_as_any(box, ledger_path):
    """Read part by part, a report's returned original is still read: one whose original is
    another's counts for nothing."""
    ids = send_many(1)
    (lead,) = ids
    raw = dsn("<x1@attacker.example>", lead, "5.1.1", "550 5.1.1 user unknown", 1)
    raw = raw.replace(f"From: {BOX}".encode(), b"From: x@attacker.example")
    raw = raw.replace(b"Message-ID: <x1@attacker.example>\r\n", b"")
    raw = raw.replace(b"I'm sorry to have", b"x" * 1_500_000 + b"\r\nI'm sorry")
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 0)
    listed = json.loads(cli("bounces", "list", "--json").stdout)
    assert [(b["recipient"], b["counted"], b["unverified"]) for b in listed] == [
        (lead, False, f"its returned original is from x@attacker.example, not {BOX}")
    ]
    assert json.loads(cli("suppress", "list", "--json").stdout) == []


def test_a_report_behind_a_header_of_twenty_megabytes_is_listed_not_passed_over(box, ledger_path):
    """A header line of 20 MB: the server too gives up on such a header (Dovecot then knows
    neither the report's Subject nor its parts), so nothing says who failed. The sync passed
    over it in silence (its first 1 MB showed no Subject or type of a report); a report from
    an MTA is now listed for a person to check."""
    raw = dsn("<m1@corp.example>", "lead0@example.com", "5.1.1", "550 5.1.1 user unknown", 1)
    raw = raw.replace(b"Subject: ", b"X-Filler: " + b"x" * 20_000_000 + b"\r\nSubject: ", 1)
    uid = box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["scanned"], report["bounces"]) == (1, 0)
    assert report["partial"] == [f"INBOX UID {uid} (20.0 MB)"]


@pytest.mark.parametrize("boundary", ['; boundary="elsewhere"', ""], ids=["wrong", "missing"])
def test_a_report_whose_boundary_is_missing_or_wrong_is_read_from_its_text(
    box, ledger_path, boundary
):
    """A multipart/report without its boundary parameter (or naming one its parts do not use)
    is read from its text: its boundary is guessed from a line that looks like one. A short
    boundary ("dsn-1") was guessed from the closing line "--dsn-1--", the report re-read as one
    text part found nothing, and that was the answer: the hard bounce was lost. A guess that
    finds nothing now leaves the report to be read as it came."""
    ids = send_many(1)
    (lead,) = ids
    raw = dsn(ids[lead], lead, "5.1.1", "550 5.1.1 user unknown", 1)
    raw = raw.replace(b'; boundary="dsn-1"', boundary.encode())
    box.append("INBOX", raw)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (1, 1)
    assert [(r[0], r[1], r[2], r[3], r[5]) for r in bounce_rows(ledger_path)] == [
        (lead, "hard", "5.1.1", lead, ids[lead])
    ]
