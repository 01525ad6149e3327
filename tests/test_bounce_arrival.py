"""When a report counts: the day it reached the mailbox, as the IMAP server dates it
(INTERNALDATE, RFC 3501 2.3.3), not the day a sync happened to read it. Synced from a real
Dovecot on loopback, the reports appended with the arrival they are given."""

from __future__ import annotations

import datetime as dt
import imaplib
import json
import sqlite3
from zoneinfo import ZoneInfo

from tests import test_bounces_sync as kit
from tests.gatekit import cli
from tests.test_bounces_sync import BOX, dsn, send_many

pytest_plugins = ["tests.pgkit"]  # ledger_url: a test that runs on SQLite and PostgreSQL
# The sync tests' fixtures: the mailbox on the SMTP sink and Dovecot.
sink = kit.sink
box = kit.box


def arrived(box, raw: bytes, when: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    """APPEND ``raw`` to INBOX as a message that reached it at ``when`` (its INTERNALDATE)."""
    with box.connect() as client:
        typ, data = client.append("INBOX", None, imaplib.Time2Internaldate(when), raw)
        assert typ == "OK", data


def test_a_report_read_days_after_it_came_counts_on_the_day_it_came(box, ledger_path):
    """A worker stopped over a weekend: Monday's sync read Saturday's reports. One without a
    Date (an MTA may write none), or whose Date was ahead of the server's clock (the reporting
    MTA's runs fast), was taken as written when it was read, and counted on Monday, outside the
    days whose sends it answers. Now a report counts no later than it reached the mailbox."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    came = now - dt.timedelta(days=3)
    ids = send_many(3, now=now - dt.timedelta(days=4))
    leads = list(ids)
    undated = dsn(ids[leads[0]], leads[0], "5.1.1", "550 5.1.1 user unknown", 1)
    undated = b"".join(
        line for line in undated.splitlines(keepends=True) if not line.startswith(b"Date:")
    )
    ahead = dsn(ids[leads[1]], leads[1], "5.1.1", "550 5.1.1 user unknown", 2)  # dated now
    dated = dsn(ids[leads[2]], leads[2], "5.1.1", "550 5.1.1 user unknown", 3)
    written = came - dt.timedelta(hours=5)  # dated before it came: its Date stands
    dated = dated.replace(
        dated.split(b"Date: ", 1)[1].split(b"\r\n", 1)[0],
        written.strftime("%a, %d %b %Y %H:%M:%S +0000").encode(),
    )
    for raw in (undated, ahead, dated):
        arrived(box, raw, came)
    res = cli("bounces", "sync", BOX, "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["bounces"], json.loads(res.stdout)["matched"]) == (3, 3)
    listed = {b["recipient"]: b for b in json.loads(cli("bounces", "list", "--json").stdout)}
    assert [dt.datetime.fromisoformat(listed[r]["at"]) for r in leads] == [came, came, written]
    con = sqlite3.connect(ledger_path)
    try:
        days = con.execute("SELECT day FROM bounce ORDER BY recipient").fetchall()
        counted = con.execute("SELECT day, hard FROM day_stat WHERE hard > 0").fetchall()
    finally:
        con.close()
    zone = ZoneInfo(json.loads(cli("mailbox", "list", "--json").stdout)[0]["timezone"])
    assert [d for (d,) in days] == [str(t.astimezone(zone).date()) for t in (came, came, written)]
    assert sum(n for _, n in counted) == 3
    assert str(now.astimezone(zone).date()) not in {d for d, _ in counted}


def test_a_sync_since_a_day_reads_what_came_early_that_day_in_the_mailboxs_zone(box):
    """``--since DAY`` is a day of the mailbox's zone (a later one than its today is refused),
    but IMAP's SEARCH SINCE compares the day each message arrived in the server's zone: a
    report that came in the first hours of DAY for a mailbox east of the server (02:30 in
    Shanghai, 18:30 the day before in UTC) was not read, nor counted. What came the day before
    DAY in the mailbox's zone is still left out."""
    assert cli("mailbox", "set", BOX, "--timezone", "Pacific/Kiritimati").returncode == 0
    kiritimati = ZoneInfo("Pacific/Kiritimati")  # UTC+14: east of every server
    day = dt.datetime.now(kiritimati).date() - dt.timedelta(days=1)
    early = dt.datetime.combine(day, dt.time(1), kiritimati)  # DAY 01:00 here, DAY-1 in UTC
    before = early - dt.timedelta(hours=2)  # DAY-1 23:00 here
    arrived(box, dsn("<e@corp.example>", "early@example.net", "5.1.1", "550 no", 1), early)
    arrived(box, dsn("<b@corp.example>", "before@example.net", "5.1.1", "550 no", 2), before)
    res = cli("bounces", "sync", BOX, "--since", day.isoformat(), "--json")
    assert res.returncode == 0, res.stderr
    assert (json.loads(res.stdout)["scanned"], json.loads(res.stdout)["bounces"]) == (1, 1)
    listed = json.loads(cli("bounces", "list", "--json").stdout)
    assert [b["recipient"] for b in listed] == ["early@example.net"]
    # left out as a search leaves it: the position is not past it, the next sync reads it
    res = cli("bounces", "sync", BOX, "--json")
    assert (json.loads(res.stdout)["scanned"], json.loads(res.stdout)["bounces"]) == (1, 1)
