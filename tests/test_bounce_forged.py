"""Reports from strangers (issue #14, part 2): a report that counts for nothing says why.

Anyone can put mail in a mailbox: a report about an address the mailbox never mailed, about
another mailbox's message, naming a Message-ID none of its sends has, or coming long after the
send. ``bounces list`` kept such reports (matched: no, counted: no) without saying why, so an
operator could not tell a stranger's forgery from a parser's mistake."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable
from typing import Any

from click.testing import Result

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounce_onereport import dsn, rows
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


ARF = """From: abuse@stranger.example
To: sales@corp.example
Subject: complaint
Date: {date}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

--arf
Content-Type: text/plain

This is an email abuse report.

--arf
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: {rcpt}
Original-Mail-From: sales@corp.example
{original}--arf--
"""


def test_a_complaint_read_from_a_mailbox_answers_only_the_message_it_names(
    ledger_url,  # noqa: F811
) -> None:
    """An ARF report naming no original (RFC 5965 requires the third part; every feedback loop
    returns the message) was matched by recipient and time: anyone who knows whom the mailbox
    wrote to could charge it a complaint — a rate that pauses it at a fraction of a percent —
    and have the lead suppressed. Now a complaint read from a mailbox answers only the send
    whose Message-ID it names; one a person records still matches by recipient and time."""
    from warmup.bounces import parse_bounces
    from warmup.bounces.imap import record_batch

    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        sent = now - dt.timedelta(hours=2)
        ledger.record(
            box,
            sends=[
                SendIn("lead1@client.example", sent, "<a1@corp.example>"),
                SendIn("lead2@client.example", sent, "<a2@corp.example>"),
                SendIn("lead3@client.example", sent),
            ],
        )
        date = email.utils.format_datetime(now - dt.timedelta(hours=1))
        returned = (
            "--arf\nContent-Type: text/rfc822-headers\n\nFrom: sales@corp.example\n"
            "To: lead2@client.example\nMessage-ID: <a2@corp.example>\n\n"
        )
        reports = [
            ARF.format(date=date, rcpt="lead1@client.example", original=""),
            ARF.format(date=date, rcpt="lead2@client.example", original=returned),
            ARF.format(date=date, rcpt="lead3@client.example", original=""),
        ]
        rows = [
            (f"k{i}", b, now - dt.timedelta(hours=1))
            for i, raw in enumerate(reports)
            for b in parse_bounces(raw.encode())
        ]
        assert [(b.recipient, b.kind) for _, b, _ in rows] == [
            (f"lead{i}@client.example", "complaint") for i in (1, 2, 3)
        ]
        got = record_batch(ledger, box, "INBOX", 1, 3, rows, now)
        assert [matched for _, matched, _ in got] == [False, True, False]
        listed = {r["recipient"]: r for r in ledger.bounces()}
        assert ledger.suppressed(["lead1@client.example", "lead2@client.example"]).keys() == {
            "lead2@client.example"
        }
        # one a person records (trusted) still matches by recipient and time
        mine = BounceIn("lead3@client.example", "complaint", now, "k-mine")
        assert ledger.record(box, bounces=[mine]).matched == 1
    finally:
        ledger.close()
    assert [(listed[r]["counted"], listed[r]["not_counted"]) for r in sorted(listed)] == [
        (
            False,
            "a complaint from a mailbox answers only the send whose Message-ID it names: "
            "it names none",
        ),
        (True, None),
        (
            False,
            "a complaint from a mailbox answers only the send whose Message-ID it names: "
            "it names none",
        ),
    ]


def _one_send(ledger: Any) -> tuple[Any, dt.datetime, dt.datetime]:
    """BOX, now, and the time of its one send, to lead1 two hours ago."""
    box = api.add_mailbox(ledger, BOX, "exmail")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sent = now - dt.timedelta(hours=2)
    ledger.record(box, sends=[SendIn("lead1@client.example", sent, "<a1@corp.example>")])
    return box, now, sent


def test_why_not_counted_reads_a_listing_of_any_length(ledger_url) -> None:  # noqa: F811
    """``bounces list --limit 0`` looked up the Message-IDs and addresses of every unmatched
    bounce in one IN list each: past 65,535 values PostgreSQL's protocol refused the query
    ("number of parameters must be between 0 and 65535"), reported as an unavailable ledger,
    and past 250,000 SQLite's did. The lists are read in chunks."""
    import sqlalchemy as sa

    from warmup.ledger.schema import BOUNCE

    ledger = open_ledger(ledger_url)
    try:
        box, now, sent = _one_send(ledger)
        n = 34_000  # two spellings of each Message-ID: 68,000 values
        rows = [
            {
                "mailbox_id": box.id,
                "recipient": f"x{i}@stranger.example",
                "kind": "hard",
                "message_id": f"<m{i}@stranger.example>",
                "at": now - dt.timedelta(seconds=i),
                "day": now.date(),
                "source": "imap",
                "key": f"k{i}",
                "counted": False,
            }
            for i in range(n)
        ]
        with ledger.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.insert(BOUNCE), rows)
        ledger.record(
            box, bounces=[_hard("lead1@client.example", now, "k-lead", "<a1@corp.example>")]
        )
        got = ledger.bounces(limit=None)
    finally:
        ledger.close()
    assert len(got) == n + 1
    why = {r["recipient"]: r["not_counted"] for r in got}
    assert why["lead1@client.example"] is None
    assert why["x0@stranger.example"] == f"{BOX} never mailed x0@stranger.example"
    assert why[f"x{n - 1}@stranger.example"] == f"{BOX} never mailed x{n - 1}@stranger.example"


UNSUBSCRIBE = (
    b"From: {rcpt}\nTo: sales+unsubscribe@corp.example\nSubject: unsubscribe\n"
    b"Auto-Submitted: auto-replied\nX-Apple-Unsubscribe: true\n\n"
    b"Apple Mail sent this email to unsubscribe from the message.\n"
)


def test_a_mail_clients_unsubscribe_request_still_answers_the_send_to_its_sender(
    ledger_url,  # noqa: F811
) -> None:
    """A mail client's unsubscribe request (Apple Mail's List-Unsubscribe mailto) is recorded
    as a complaint but names no Message-ID: the person asks from their own address, not a
    feedback loop returning the original. Matched only by a Message-ID like an ARF report, it
    answered nothing, so the address that asked to stop was mailed on; it answers the send to
    its sender by recipient and time, as before, also when the send is recorded after it."""
    from warmup.bounces import parse_bounces
    from warmup.bounces.imap import record_batch

    ledger = open_ledger(ledger_url)
    try:
        box, now, sent = _one_send(ledger)
        rows = [
            (f"k{i}", b, now - dt.timedelta(hours=1))
            for i, rcpt in enumerate(("lead1@client.example", "lead2@client.example"))
            for b in parse_bounces(UNSUBSCRIBE.replace(b"{rcpt}", rcpt.encode()))
        ]
        got = record_batch(ledger, box, "INBOX", 1, 2, rows, now)
        assert [matched for _, matched, _ in got] == [True, False]
        assert ledger.suppressed(["lead1@client.example"]).keys() == {"lead1@client.example"}
        # read before its send was recorded (an import of the day's log): linked later
        ledger.record(box, sends=[SendIn("lead2@client.example", sent, "<a2@corp.example>")])
        ledger.match_late(box)
        listed = {r["recipient"]: r for r in ledger.bounces()}
    finally:
        ledger.close()
    # it stops the mailing, but anyone can write one in a lead's name: never a complaint counted
    why = (
        "a mail client's unsubscribe request: it stops the mailing, but names no message and "
        "anyone can write one in a lead's name, so it is no complaint against the mailbox"
    )
    assert [(listed[r]["counted"], listed[r]["not_counted"]) for r in sorted(listed)] == [
        (False, why),
        (False, why),
    ]
    assert [listed[r]["send_id"] is not None for r in sorted(listed)] == [True, True]


def test_why_not_counted_reads_each_spelling_and_the_original_recipient(
    ledger_url,  # noqa: F811
) -> None:
    """The facts behind each reason are looked up in SQL with the listing: a Message-ID in any
    of its spellings (with or without angle brackets, with spaces around it), and the address
    the original was sent to when the report names a forwarded-to one, say what the lookups
    in Python said."""
    import sqlalchemy as sa

    from warmup.ledger.schema import BOUNCE

    ledger = open_ledger(ledger_url)
    try:
        box, now, sent = _one_send(ledger)  # lead1, <a1@corp.example>
        other = api.add_mailbox(ledger, OTHER, "exmail")
        ledger.record(other, sends=[SendIn("lead2@client.example", sent, "b1@corp.example")])
        ledger.record(box, sends=[SendIn("lead3@client.example", sent)])  # no Message-ID
        reports = {
            "k-theirs": ("lead2@client.example", None, "<b1@corp.example>"),
            "k-spaced": ("lead2@client.example", None, "  b1@corp.example "),
            "k-none-of": ("fwd@elsewhere.example", "lead1@client.example", "<zz@corp.example>"),
            "k-bare": ("fwd2@elsewhere.example", "lead1@client.example", "a1@corp.example"),
            "k-no-id": ("lead3@client.example", "", "<q@corp.example>"),
            "k-unnamed": ("lead1@client.example", "", None),
        }
        rows = [
            {
                "mailbox_id": box.id,
                "recipient": rcpt,
                "original_recipient": original,
                "kind": "hard",
                "message_id": mid,
                "at": now,
                "day": now.date(),
                "source": "imap",
                "key": key,
                "counted": False,
            }
            for key, (rcpt, original, mid) in reports.items()
        ]
        with ledger.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(sa.insert(BOUNCE), rows)
        why = {r["message_id"]: r["not_counted"] for r in ledger.bounces()}
    finally:
        ledger.close()
    window = "in the 7 days before it"  # read from a mailbox: UNREFERENCED_WINDOW
    assert why == {
        "<b1@corp.example>": f"its original <b1@corp.example> was sent by {OTHER}, not {BOX}",
        "  b1@corp.example ": f"its original   b1@corp.example  was sent by {OTHER}, not {BOX}",
        "<zz@corp.example>": (
            f"its original <zz@corp.example> is none of {BOX}'s sends to fwd@elsewhere.example"
        ),
        "a1@corp.example": f"no send of {BOX} to fwd2@elsewhere.example {window}",
        "<q@corp.example>": f"no send of {BOX} to lead3@client.example {window}",
        None: f"no send of {BOX} to lead1@client.example {window}",
    }


def test_a_report_naming_no_send_of_the_mailbox_answers_one_of_the_last_seven_days_only(
    ledger_url,  # noqa: F811
) -> None:
    """A report read from a mailbox that names no Message-ID of the send is matched by recipient
    and time alone: anyone who knows whom the mailbox wrote to can write one. It looked back 30
    days, so a forger could charge a bounce (and a suppression) to any send of the last month;
    real reports come within an MTA's queue lifetime (Postfix and Sendmail 5 days, Exim 4), so
    it answers a send of the 7 days before it, and is kept, counting nothing, otherwise. One that
    returns the send's Message-ID (no stranger's guess) answers it whenever it comes, and a
    bounce a person records still looks back 30 days."""
    from warmup.bounces.imap import record_batch
    from warmup.ledger.values import UNREFERENCED_WINDOW

    assert dt.timedelta(days=7) == UNREFERENCED_WINDOW
    day = dt.timedelta(days=1)
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        ledger.record(
            box,
            sends=[
                SendIn("lead6@client.example", now - 6 * day, "<m6@corp.example>"),
                SendIn("lead8@client.example", now - 8 * day, "<m8@corp.example>"),
                SendIn("lead20@client.example", now - 20 * day, "<m20@corp.example>"),
                SendIn("kept@client.example", now - 20 * day),
            ],
        )
        returned = f"From: {BOX}\nMessage-ID: <m20@corp.example>\n"
        reports = [
            dsn(["lead6@client.example"], "<r6@mx.example.net>", date=now),
            dsn(["lead8@client.example"], "<r8@mx.example.net>", date=now),
            dsn(["lead20@client.example"], "<r20@mx.example.net>", returned, date=now),
            # read before its send is recorded: a later sync's late link looks back as far
            dsn(["late@client.example"], "<r9@mx.example.net>", date=now),
        ]
        got = record_batch(
            ledger, box, "INBOX", 1, 4, [r for raw in reports for r in rows(raw, now)], now
        )
        assert [(rcpt, matched) for rcpt, matched, _ in got] == [
            ("lead6@client.example", True),
            ("lead8@client.example", False),
            ("lead20@client.example", True),
            ("late@client.example", False),
        ]
        ledger.record(
            box, sends=[SendIn("late@client.example", now - 9 * day, "<m9@corp.example>")]
        )
        assert ledger.match_late(box) == 0
        by_hand = api.record_bounce(ledger, BOX, "kept@client.example", at=now)
        assert (by_hand.matched, by_hand.counted) == (1, 1)
        listed = {r["recipient"]: (r["counted"], r["not_counted"]) for r in ledger.bounces()}
        suppressed = set(
            ledger.suppressed([f"{r}@client.example" for r in ("lead6", "lead8", "lead20", "late")])
        )
    finally:
        ledger.close()
    too_old = "no send of {} to {} in the 7 days before it"
    assert listed == {
        "lead6@client.example": (True, None),
        "lead8@client.example": (False, too_old.format(BOX, "lead8@client.example")),
        "lead20@client.example": (True, None),
        "late@client.example": (False, too_old.format(BOX, "late@client.example")),
        "kept@client.example": (True, None),
    }
    assert suppressed == {"lead6@client.example", "lead20@client.example"}
