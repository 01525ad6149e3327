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
