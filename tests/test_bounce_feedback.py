"""ARF feedback reports that are no complaint: RFC 6591 ``auth-failure`` and RFC 6430
``not-spam``, synced from a real Dovecot on loopback (SQLite and PostgreSQL).

The reports are written as RFC 5965 documents them (section 2: a multipart/report of
report-type feedback-report, a human-readable part, the machine-readable
``message/feedback-report`` fields, then the original's headers), with RFC 6591's fields for
an authentication failure (``Auth-Failure``, ``Authentication-Results``, ``Reported-Domain``).

An auth-failure report says a message claiming the sending domain failed SPF, DKIM or DMARC
(a forger's as likely as ours); a not-spam report says a message was judged wanted. Neither is
the recipient complaining: both were counted in the complaint rate (which pauses a mailbox at a
fraction of a percent) and suppressed the recipient. They are recorded as kind ``notice``:
matched to the send whose Message-ID they name, listed with why, never counted, never
suppressing.
"""

from __future__ import annotations

import email.utils
import json

import pytest

from tests import test_bounces_sync as kit
from tests.gatekit import cli
from tests.test_bounces_sync import BOX, send_many
from warmup.bounces import parse_bounces

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL
# The sync tests' fixtures: the mailbox on the SMTP sink and Dovecot.
sink = kit.sink
box = kit.box

AUTH_FAILURE = """Auth-Failure: dmarc
Authentication-Results: mx.example.org; dmarc=fail header.from=corp.example
Reported-Domain: corp.example
Source-IP: 192.0.2.25
Delivery-Result: delivered
"""


def arf(feedback_type: str, original_id: str, rcpt: str, n: int, extra: str = "") -> bytes:
    """A feedback report as RFC 5965 section 2 and its appendix B show it."""
    boundary = f"arf-{n}"
    return f"""From: feedback@mx.example.org
To: {BOX}
Subject: FW: Hello
Date: {email.utils.formatdate()}
Message-ID: <feedback-{n}@mx.example.org>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"

--{boundary}
Content-Type: text/plain; charset="US-ASCII"

This is an email {feedback_type} report for a message received from 192.0.2.25.

--{boundary}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{BOX}>
Original-Rcpt-To: <{rcpt}>
Arrival-Date: {email.utils.formatdate()}
{extra}
--{boundary}
Content-Type: text/rfc822-headers

From: {BOX}
To: {rcpt}
Subject: Hello
Message-ID: {original_id}

--{boundary}--
""".replace("\n", "\r\n").encode()


@pytest.mark.parametrize(
    ("feedback_type", "extra", "kind", "rule"),
    [
        ("auth-failure", AUTH_FAILURE, "notice", "arf.auth-failure"),
        ("not-spam", "", "notice", "arf.not-spam"),
        ("Not-Spam", "", "notice", "arf.not-spam"),  # field values are case-insensitive
        # the recipient's complaints (RFC 5965's abuse, fraud, virus, other) still are
        ("abuse", "", "complaint", "arf"),
        ("fraud", "", "complaint", "arf"),
        ("other", "", "complaint", "arf"),
    ],
)
def test_feedback_types_that_are_no_complaint_are_notices(
    feedback_type: str, extra: str, kind: str, rule: str
) -> None:
    (bounce,) = parse_bounces(
        arf(feedback_type, "<m1@corp.example>", "kim@client.example", 1, extra)
    )
    assert (bounce.recipient, bounce.kind, bounce.reason, bounce.rule) == (
        "kim@client.example",
        kind,
        "feedback",
        rule,
    ), bounce.steps
    assert bounce.message_id == "<m1@corp.example>"


def test_parse_shows_a_notice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "auth.eml"
    path.write_bytes(
        arf("auth-failure", "<m1@corp.example>", "kim@client.example", 1, AUTH_FAILURE)
    )
    res = cli("bounces", "parse", "--explain", str(path))
    assert res.returncode == 0, res.stderr
    first, *steps = res.stdout.splitlines()
    assert first.split()[1:4] == ["notice", "feedback", "kim@client.example"], res.stdout
    assert "rule: arf.auth-failure" in [s.strip() for s in steps], res.stdout


def _listed() -> dict[tuple[str, str], dict]:
    rows = json.loads(cli("bounces", "list", BOX, "--json").stdout)
    return {(r["recipient"], r["kind"]): r for r in rows}


def test_notices_are_listed_never_counted_nor_suppressing(ledger_url, box):  # type: ignore[no-untyped-def]
    ids = send_many(20)
    forged, wanted, complained = "lead0@example.com", "lead1@example.com", "lead2@example.com"
    box.append("INBOX", arf("auth-failure", ids[forged], forged, 1, AUTH_FAILURE))
    box.append("INBOX", arf("not-spam", ids[wanted], wanted, 2))
    box.append("INBOX", arf("abuse", ids[complained], complained, 3))
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert (got["bounces"], got["matched"], got["notices"]) == (3, 3, 2), got
    rows = _listed()
    assert sorted(rows) == sorted(
        [(forged, "notice"), (wanted, "notice"), (complained, "complaint")]
    )
    for rcpt in (forged, wanted):
        row = rows[(rcpt, "notice")]
        assert (row["matched"], row["counted"], row["reason"]) == (True, False, "feedback"), row
        assert "no complaint" in row["not_counted"], row
    assert rows[(complained, "complaint")]["counted"] is True
    # only the complaint is in the rate and on the do-not-mail list
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["complaint_rate"] == 1 / 20, q
    suppressed = json.loads(cli("suppress", "list", "--json").stdout)
    assert [s["address"] for s in suppressed] == [complained]
    only = json.loads(cli("bounces", "list", BOX, "--kind", "notice", "--json").stdout)
    assert sorted(r["recipient"] for r in only) == [forged, wanted]
    by_reason = cli("report", BOX, "--by-reason")
    assert by_reason.returncode == 0, by_reason.stderr
    [line] = [ln for ln in by_reason.stdout.splitlines() if "notice" in ln]
    assert line.split()[1:] == ["feedback", "notice", "2", "no", "(feedback,", "no", "complaint)"]


def test_sync_says_how_many_of_the_new_bounces_are_notices(box):  # type: ignore[no-untyped-def]
    ids = send_many(3)
    box.append("INBOX", arf("auth-failure", ids["lead0@example.com"], "lead0@example.com", 1))
    box.append("INBOX", arf("abuse", ids["lead1@example.com"], "lead1@example.com", 2))
    res = cli("bounces", "sync", BOX)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[:2] == [
        "Scanned 2 messages on 127.0.0.1: recorded 2 new bounces, 2 matched to their sends.",
        "Of these, 1 notice (feedback that is no complaint, auth-failure or not-spam: kept, "
        "not counted, nothing suppressed).",
    ], res.stdout
