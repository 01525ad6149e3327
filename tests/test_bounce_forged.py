"""Reports from strangers (issue #14, part 2): a report that counts for nothing says why.

Anyone can put mail in a mailbox: a report about an address the mailbox never mailed, about
another mailbox's message, naming a Message-ID none of its sends has, or coming long after the
send. ``bounces list`` kept such reports (matched: no, counted: no) without saying why, so an
operator could not tell a stranger's forgery from a parser's mistake."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from click.testing import Result

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import BounceIn, SendIn, open_ledger

BOX, OTHER = "sales@corp.example", "other@corp.example"


def _hard(rcpt: str, at: dt.datetime, key: str, mid: str | None = None) -> BounceIn:
    return BounceIn(rcpt, "hard", at, key, status="5.1.1", message_id=mid, trusted=False)


def _record_reports(url: str | None) -> dt.datetime:
    """Two mailboxes' sends, and reports read from the first's that answer none of them."""
    ledger = open_ledger(url, create=True) if url else open_ledger(create=True)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        other = api.add_mailbox(ledger, OTHER, "exmail")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        ledger.record(
            box,
            sends=[
                SendIn("lead1@client.example", now - dt.timedelta(hours=2), "<a1@corp.example>"),
                SendIn("lead3@client.example", now - dt.timedelta(days=40)),
                SendIn("lead4@client.example", now - dt.timedelta(hours=2), "<a4@corp.example>"),
            ],
        )
        ledger.record(
            other,
            sends=[
                SendIn("lead2@client.example", now - dt.timedelta(hours=2), "<b1@corp.example>")
            ],
        )
        t = now - dt.timedelta(hours=1)
        ledger.record(
            box,
            bounces=[
                _hard("lead1@client.example", t, "k-counted", "<a1@corp.example>"),
                _hard("lead1@client.example", t, "k-second", "<a1@corp.example>"),
                BounceIn("lead1@client.example", "delayed", t, "k-delay", trusted=False),
                _hard("stranger@client.example", t, "k-stranger"),
                _hard("lead2@client.example", t, "k-theirs", "<b1@corp.example>"),
                _hard("lead3@client.example", t, "k-old"),
                _hard("lead4@client.example", t, "k-forged-id", "<forged@attacker.example>"),
                _hard("", t, "k-nobody"),
            ],
        )
    finally:
        ledger.close()
    return t


WHY = {
    "k-counted": None,
    "k-second": "a second report of a send whose failure is already counted",
    "k-delay": "a delay warning: the server still tries, never counted",
    "k-stranger": f"{BOX} never mailed stranger@client.example",
    "k-theirs": f"its original <b1@corp.example> was sent by {OTHER}, not {BOX}",
    "k-old": f"no send of {BOX} to lead3@client.example in the 30 days before it",
    "k-forged-id": (
        f"its original <forged@attacker.example> is none of {BOX}'s sends to lead4@client.example"
    ),
    "k-nobody": "it names no failed recipient",
}


def test_every_bounce_not_counted_says_why(ledger_url) -> None:  # noqa: F811
    _record_reports(ledger_url)
    ledger = open_ledger(ledger_url)
    try:
        rows = ledger.bounces()
    finally:
        ledger.close()
    got = {(r["recipient"], r["kind"], r["counted"]): r["not_counted"] for r in rows}
    assert got == {
        ("lead1@client.example", "hard", True): None,
        ("lead1@client.example", "hard", False): WHY["k-second"],
        ("lead1@client.example", "delayed", False): WHY["k-delay"],
        ("stranger@client.example", "hard", False): WHY["k-stranger"],
        ("lead2@client.example", "hard", False): WHY["k-theirs"],
        ("lead3@client.example", "hard", False): WHY["k-old"],
        ("lead4@client.example", "hard", False): WHY["k-forged-id"],
        ("", "hard", False): WHY["k-nobody"],
    }


def test_bounces_list_prints_why(run: Callable[..., Result]) -> None:
    _record_reports(None)
    result = run("bounces", "list", BOX)
    assert result.exit_code == 0, result.output
    for key, why in WHY.items():
        if why is not None and key != "k-nobody":
            assert f": {why}\n" in result.output, (key, result.output)
    assert "Not counted: (no recipient): it names no failed recipient\n" in result.output
    assert f"Not counted: stranger@client.example: {WHY['k-stranger']}\n" in result.output
    listed = json.loads(run("bounces", "list", BOX, "--json").output)
    assert sorted(r["not_counted"] or "" for r in listed) == sorted(w or "" for w in WHY.values())


def test_a_report_read_before_its_send_says_so_until_the_send_is_recorded(
    ledger_url,  # noqa: F811
) -> None:
    """Why is read as the ledger stands: 'never mailed' until the send is recorded, then the
    next sync's late link counts the report and the reason goes."""
    t = _record_reports(ledger_url)
    ledger = open_ledger(ledger_url)
    try:
        box = ledger.mailbox(BOX)
        ledger.record(box, sends=[SendIn("stranger@client.example", t - dt.timedelta(minutes=5))])
        ledger.match_late(box)
        rows = [r for r in ledger.bounces() if r["recipient"] == "stranger@client.example"]
    finally:
        ledger.close()
    assert [(r["matched"], r["counted"], r["not_counted"]) for r in rows] == [(True, True, None)]
