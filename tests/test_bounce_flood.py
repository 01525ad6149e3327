"""A flood of forged reports: anyone can fill a mailbox with bounce reports that return no
original. Each was one row of the ledger, for ever (10,000 forged reports: 10,000 rows, 3.6 MB;
``bench/sync_flood.py``). Of the reports that count nothing, a mailbox now keeps at most
UNMATCHED_KEPT answering no send and PER_SEND_KEPT of one send; the rest are read, said, and
not kept. A report that counts, or suppresses an address not yet suppressed, is always kept."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from tests.gatekit import cli
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounces_sync import BOX, send_many
from tests.test_bounces_sync import box as box  # the fixtures
from tests.test_bounces_sync import sink as sink
from warmup import api
from warmup.ledger import BounceIn, SendIn, open_ledger
from warmup.ledger.values import PER_SEND_KEPT, UNMATCHED_KEPT

pytest_plugins = ["tests.pgkit"]


def forged(n: int, rcpt: str) -> bytes:
    """An RFC 3464 report naming ``rcpt`` that returns no original: nothing to check it by."""
    return f"""From: MAILER-DAEMON@mx{n}.example.net
To: {BOX}
Subject: Undelivered Mail Returned to Sender
Message-ID: <flood-{n}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="f{n}"

--f{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx{n}.example.net

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 user unknown

--f{n}--
""".replace("\n", "\r\n").encode()


def test_a_flood_of_forged_reports_about_one_send_keeps_a_few_rows(box, ledger_path):
    send_many(1)
    box.append_many("INBOX", [forged(n, "lead0@example.com") for n in range(PER_SEND_KEPT + 5)])
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    said = json.loads(res.stdout)
    assert (said["bounces"], said["matched"], said["not_kept"]) == (PER_SEND_KEPT, 10, 5)
    con = sqlite3.connect(ledger_path)
    try:
        rows = con.execute("SELECT count(*), sum(counted) FROM bounce").fetchone()
    finally:
        con.close()
    assert rows == (PER_SEND_KEPT, 1)  # the send's one counted bounce, and nine listed
    # read again (a folder re-read from a date): nothing recorded twice, the rest still not kept
    again = json.loads(cli("bounces", "sync", BOX, "--since", "2026-01-01", "--json").stdout)
    assert (again["bounces"], again["not_kept"]) == (0, 5)
    text = cli("bounces", "sync", BOX, "--since", "2026-01-01").stdout
    assert (
        f"Not kept: 5 bounces counting nothing, past the {UNMATCHED_KEPT:,} answering no send a "
        f"mailbox keeps or the {PER_SEND_KEPT} of one send (a flood of forged reports?): nothing "
        "of them counts or suppresses"
    ) in text


def test_a_flood_about_strangers_keeps_a_bounded_number_and_crowds_out_no_real_bounce(
    ledger_url,  # noqa: F811
) -> None:
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, "sales@corp.example", "exmail")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sent = now - dt.timedelta(hours=2)
        leads = [SendIn(f"lead{i}@client.example", sent, f"<a{i}@corp.example>") for i in (1, 2)]
        ledger.record(box, sends=leads)

        def stranger(n: int) -> BounceIn:
            return BounceIn(
                f"x{n}@stranger.example", "hard", now, f"k{n}", source="imap", trusted=False
            )

        got = ledger.record_synced(box, "INBOX", 1, 1, [stranger(n) for n in range(UNMATCHED_KEPT)])
        assert got.bounces == UNMATCHED_KEPT
        real = BounceIn(
            "lead1@client.example", "hard", now, "k-real", message_id="<a1@corp.example>",
            source="imap", trusted=False,
        )  # fmt: skip
        flood = [stranger(n) for n in range(UNMATCHED_KEPT, UNMATCHED_KEPT + 50)]
        replayed = stranger(7)
        got = ledger.record_synced(box, "INBOX", 1, 2, [*flood, real, replayed])
        assert [r.dropped for r in got.results] == [True] * 50 + [False, False]
        assert (got.bounces, got.matched, got.counted) == (1, 1, 1)  # the real one
        assert ledger.suppressed(["lead1@client.example", "x1@stranger.example"]).keys() == {
            "lead1@client.example"
        }
        # a bounce a person records vouches for itself: kept past the bound, and suppresses
        mine = BounceIn("y@stranger.example", "hard", now, "k-mine")
        assert ledger.record(box, bounces=[mine]).bounces == 1
        assert "y@stranger.example" in ledger.suppressed(["y@stranger.example"])
        # a report read before its send was recorded is one of those kept, and links once it is
        ledger.record(box, sends=[SendIn("x3@stranger.example", sent)])
        assert ledger.match_late(box) == 1
        # which leaves room for one more
        got = ledger.record_synced(box, "INBOX", 1, 3, flood[:2])
        assert [r.dropped for r in got.results] == [False, True]
    finally:
        ledger.close()
