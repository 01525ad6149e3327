"""``warmup bounces sync ADDRESS`` looks, after it records its bounces, for the addresses that
keep soft-bouncing for that mailbox (what ``suppress soft`` lists, the mailbox's sends only):
it says so, or with ``--suppress-soft`` (or ``[commands."bounces sync"] suppress_soft = true``)
suppresses them. Against the real Dovecot and SMTP sink of the sync tests, on SQLite and
PostgreSQL; the sends are made at given instants (the gate's ``now``), never waited for."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage

import pytest

from tests.gatekit import cli
from tests.test_bounces_sync import BOX, dsn
from tests.test_bounces_sync import box as box  # the fixtures
from tests.test_bounces_sync import sink as sink
from tests.test_config import cfg as cfg  # the config file the next command reads
from warmup import Gate

pytest_plugins = ["tests.pgkit"]  # ledger_url: each test runs on SQLite and PostgreSQL

OTHER = "support@corp.example"
FULL = "full@example.com"  # BOX's sends to it: mailbox full for eight days
BRIEF = "brief@example.com"  # full for two days: no streak
THEIRS = "theirs@example.com"  # OTHER's streak, recorded by hand

NOTHING_NEW = "Scanned 0 messages on 127.0.0.1: recorded 0 new bounces, 0 matched to their sends."
HINT = (
    "1 address keeps soft-bouncing (mailboxfull): 'warmup suppress soft' lists it, "
    "--apply suppresses it."
)


def ok(*args: str) -> str:
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    return res.stdout


def synced(*options: str) -> dict:
    return json.loads(ok("bounces", "sync", BOX, "--json", *options))


def suppressed() -> list[tuple[str, str]]:
    return [(r["address"], r["kind"]) for r in json.loads(ok("suppress", "list", "--json"))]


def listed() -> list[tuple[str, str]]:
    return [(r["mailbox"], r["address"]) for r in json.loads(ok("suppress", "soft", "--json"))]


def full_for_a_week(box) -> None:  # type: ignore[no-untyped-def]
    """BOX's sends through the sink over eight days (FULL) and two (BRIEF), each answered by a
    mailbox-full DSN in the Dovecot inbox; OTHER's own streak to THEIRS, recorded by hand."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=20)
    reports = []
    with Gate(BOX) as gate:
        for rcpt, days in ((FULL, (0, 4, 8)), (BRIEF, (10, 11, 12))):
            for day in days:
                msg = EmailMessage()
                msg["To"], msg["Subject"] = rcpt, "Hello"
                msg.set_content("Hi")
                report = gate.send(msg, now=start + dt.timedelta(days=day))
                assert report.sent == [rcpt]
                n = len(reports) + 1
                reports.append(dsn(report.message_id, rcpt, "4.2.2", "452 4.2.2 Mailbox full", n))
    box.append_many("INBOX", reports)
    ok("mailbox", "add", OTHER, "--provider", "exmail")
    for day in (0, 4, 8):
        when = (start + dt.timedelta(days=day)).isoformat()
        ok("record", "send", OTHER, "--to", THEIRS, "--at", when)
        ok("record", "bounce", OTHER, "--to", THEIRS, "--kind", "soft", "--status", "4.2.2",
           "--at", when)  # fmt: skip
    assert listed() == [(OTHER, THEIRS)]  # BOX's not yet: its bounces are in the inbox


def test_a_sync_names_its_mailboxs_streak_and_suppresses_only_on_request(ledger_url, box):
    full_for_a_week(box)
    first = synced()
    assert (first["bounces"], first["matched"]) == (6, 6)
    # Only BOX's streak: OTHER's (THEIRS) is not this mailbox's, BRIEF's is two days long.
    assert (first["soft_streaks"], first["soft_suppressed"]) == ([FULL], None)
    assert suppressed() == []  # said, not done
    assert listed() == [(BOX, FULL), (OTHER, THEIRS)]

    said = ok("bounces", "sync", BOX).splitlines()  # nothing new, the streak still there
    assert said == [NOTHING_NEW, HINT]
    assert ok("-q", "bounces", "sync", BOX) == ""

    applied = synced("--suppress-soft")
    assert (applied["soft_streaks"], applied["soft_suppressed"]) == ([FULL], 1)
    assert suppressed() == [(FULL, "soft")]  # not THEIRS: another mailbox's
    [row] = json.loads(ok("suppress", "list", FULL, "--json"))
    assert row["reason"].startswith(f"3 sends in a row from {BOX} soft-bounced (mailboxfull), ")
    assert listed() == [(OTHER, THEIRS)]

    again = synced("--suppress-soft")
    assert (again["soft_streaks"], again["soft_suppressed"]) == ([], 0)
    none_left = ok("bounces", "sync", BOX, "--suppress-soft")
    assert none_left == NOTHING_NEW + "\n"  # nothing said of streaks
    assert suppressed() == [(FULL, "soft")]


def test_suppress_soft_says_how_many_it_suppressed(ledger_url, box):
    full_for_a_week(box)
    said = ok("bounces", "sync", BOX, "--suppress-soft").splitlines()
    assert said[-1] == "Suppressed 1 address that kept soft-bouncing (mailboxfull)."
    assert suppressed() == [(FULL, "soft")]


def test_a_removal_is_not_undone_by_the_next_sync(ledger_url, box):
    """`suppress remove` of an address a sync suppressed for its streak: the next sync with
    --suppress-soft suppressed it again at once, from the same old sends (a removal left no
    record); now it neither names nor suppresses it, and `suppress soft` lists it no more."""
    full_for_a_week(box)
    assert synced("--suppress-soft")["soft_suppressed"] == 1
    assert ok("suppress", "remove", FULL) == f"{FULL} may be mailed again.\n"
    again = synced("--suppress-soft")
    assert (again["soft_streaks"], again["soft_suppressed"]) == ([], 0)
    assert suppressed() == []
    assert listed() == [(OTHER, THEIRS)]


def test_the_config_file_makes_suppressing_the_default_and_sets_the_measure(ledger_path, box, cfg):
    """``suppress_soft = true`` under [commands."bounces sync"] suppresses without the flag;
    ``suppress soft``'s own --sends in the config file is the measure a sync uses too, so the
    addresses it names are those that command lists."""
    full_for_a_week(box)
    cfg('[commands."suppress soft"]\nsends = 4\n')
    first = synced()
    assert (first["bounces"], first["soft_streaks"]) == (6, [])  # three sends are not four
    assert listed() == []

    cfg('[commands."bounces sync"]\nsuppress_soft = true\n')
    applied = synced()
    assert (applied["soft_streaks"], applied["soft_suppressed"]) == ([FULL], 1)
    assert suppressed() == [(FULL, "soft")]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("1", "sends: 1 is not in the range 2<=x<=1000."),
        ("true", "sends: expected a whole number, not true"),
    ],
)
def test_a_bad_measure_in_the_config_file_stops_the_sync_before_it_reads(
    ledger_path, box, cfg, value, said
):
    full_for_a_week(box)
    cfg(f'[commands."suppress soft"]\nsends = {value}\n')
    res = cli("bounces", "sync", BOX, "--suppress-soft")
    assert res.returncode == 78
    [line] = res.stderr.splitlines()
    assert line.endswith(f'[commands."suppress soft"] {said}'), line
    assert json.loads(ok("bounces", "list", BOX, "--json")) == []  # nothing recorded
    cfg("")  # (suppress list refuses it too)
    assert suppressed() == []
