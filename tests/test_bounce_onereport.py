"""One report, one message: the recipients a report names count only for one message's sends.

A real delivery report is about ONE message (RFC 3464: one DSN per message; several recipients
only when that message went to several). Warmup sends one message per recipient, so a genuine
report of its mail names one. A forged report with no Message-ID and no returned original,
listing 800 of the leads the mailbox mailed, counted a hard bounce for each: anyone who knows
the recipient list could pause the mailbox and have its leads suppressed."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from typing import Any

import pytest

from tests.gatekit import cli
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounce_match import _hard_count, _statements
from tests.test_bounces_sync import BOX as SYNC_BOX
from tests.test_bounces_sync import box as box  # the fixtures
from tests.test_bounces_sync import send_many
from tests.test_bounces_sync import sink as sink
from warmup import api
from warmup.bounces import parse_bounces
from warmup.bounces.identity import bounce_key, read_report, report_key
from warmup.bounces.imap import record_batch
from warmup.ledger import BounceIn, SendIn, open_ledger

BOX = "sales@corp.example"
NOW = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
SENT = NOW - dt.timedelta(hours=2)
ONE_REPORT = "its report is about another message, to {}: one report, one message"


def dsn(
    recipients: list[str],
    own_id: str | None = None,
    original: str = "",
    date: dt.datetime = NOW - dt.timedelta(hours=1),
) -> bytes:
    """A multipart/report delivery status notification listing ``recipients`` as failed;
    ``own_id``: its own Message-ID (None: without one); ``original``: the returned headers;
    ``date``: when it was written."""
    own = f"Message-ID: {own_id}\n" if own_id else ""
    records = "".join(
        f"\nFinal-Recipient: rfc822; {r}\nAction: failed\nStatus: 5.1.1\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{r}>: user unknown\n"
        for r in recipients
    )
    returned = f"--b\nContent-Type: text/rfc822-headers\n\n{original}\n" if original else ""
    return (
        f"From: MAILER-DAEMON@mx.example.net\nTo: {BOX}\n"
        f"Subject: Undelivered Mail Returned to Sender\n"
        f"Date: {email.utils.format_datetime(date)}\n{own}"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        "\n--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n"
        f"{records}\n{returned}--b--\n"
    ).encode()


def rows(
    raw: bytes, at: dt.datetime = NOW - dt.timedelta(hours=1)
) -> list[tuple[str, Any, dt.datetime, str | None]]:
    """What a sync records of one message read from the mailbox (``imap._read``'s keys), dated
    ``at``."""
    facts = read_report(raw)
    found = parse_bounces(raw, mailbox=BOX)
    return [(bounce_key(facts, b, i), b, at, report_key(facts, raw)) for i, b in enumerate(found)]


def leads(n: int) -> list[str]:
    return [f"lead{i:03d}@client.example" for i in range(n)]


def mail_each(ledger: Any, box: Any, n: int) -> list[str]:
    """``n`` leads mailed by ``box``, one message each (as warmup sends), two hours ago."""
    rcpts = leads(n)
    ledger.record(box, sends=[SendIn(r, SENT, f"<m{i}@corp.example>") for i, r in enumerate(rcpts)])
    return rcpts


def listing(ledger: Any) -> dict[str, tuple[bool, bool, str | None]]:
    return {
        r["recipient"]: (r["matched"], r["counted"], r["not_counted"]) for r in ledger.bounces()
    }


def test_a_forged_report_of_800_leads_counts_for_one_message(ledger_url) -> None:  # noqa: F811
    """800 leads, one message each (as warmup sends); a report with no Message-ID and no
    returned original lists them all: the first one's message is the report's, the 799 others
    are listed as not counted with why, and only one address is suppressed. Written in 16
    transactions of 50 (``imap.WRITE_BOUNCES``), and again when read a second time."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = mail_each(ledger, box, 800)
        raw = dsn(rcpts)
        found = rows(raw)
        assert len(found) == 800
        for start in range(0, 800, 50):
            record_batch(ledger, box, "INBOX", 1, 1, found[start : start + 50], NOW)
        record_batch(ledger, box, "INBOX", 1, 2, rows(raw), NOW)  # the same report read again
        ledger.match_late(box)  # a later sync tries the unmatched again: still one message
        listed = listing(ledger)
        suppressed = ledger.suppressed(rcpts)
        counted = [r["recipient"] for r in ledger.bounces(limit=None) if r["counted"]]
    finally:
        ledger.close()
    assert counted == [rcpts[0]]
    assert suppressed.keys() == {rcpts[0]}
    assert listed[rcpts[0]] == (True, True, None)
    assert listed[rcpts[1]] == (False, False, ONE_REPORT.format(rcpts[0]))
    assert listed[rcpts[799]] == (False, False, ONE_REPORT.format(rcpts[0]))


def test_a_report_of_one_message_to_several_counts_for_each(ledger_url) -> None:  # noqa: F811
    """A message to three recipients (one Message-ID), and one recorded without a Message-ID
    to two at one instant (an imported log): a report naming its recipients counts for every
    one of them, as before; a report of one recipient is untouched."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        three, two, alone = (
            leads(3),
            ["x1@client.example", "x2@client.example"],
            "solo@client.example",
        )
        ledger.record(
            box,
            sends=[
                *(SendIn(r, SENT, "<one@corp.example>") for r in three),
                *(SendIn(r, SENT - dt.timedelta(minutes=5)) for r in two),
                SendIn(alone, SENT, "<solo@corp.example>"),
            ],
        )
        returned = f"From: {BOX}\nMessage-ID: <one@corp.example>\n"
        got = record_batch(ledger, box, "INBOX", 1, 1, rows(dsn(three, "<r1@mx>", returned)), NOW)
        got += record_batch(ledger, box, "INBOX", 1, 2, rows(dsn(two, "<r2@mx>")), NOW)
        got += record_batch(ledger, box, "INBOX", 1, 3, rows(dsn([alone])), NOW)
        listed = listing(ledger)
    finally:
        ledger.close()
    assert [matched for _, matched, _ in got] == [True] * 6
    assert all(listed[r] == (True, True, None) for r in [*three, *two, alone])


def test_a_report_read_before_its_sends_links_one_message(ledger_url) -> None:  # noqa: F811
    """Read before the sends were recorded (the day's log imported after the sync), a forged
    report's recipients are linked by the next sync's late match: for one message only."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = leads(5)
        record_batch(ledger, box, "INBOX", 1, 1, rows(dsn(rcpts)), NOW)
        mail_each(ledger, box, 5)
        linked = ledger.match_late(box)
        again = ledger.match_late(box)
        listed = listing(ledger)
        suppressed = ledger.suppressed(rcpts)
    finally:
        ledger.close()
    assert (linked, again) == (1, 0)
    assert suppressed.keys() == {rcpts[0]}
    assert [listed[r][:2] for r in rcpts] == [(True, True)] + [(False, False)] * 4
    assert listed[rcpts[4]][2] == ONE_REPORT.format(rcpts[0])


def test_bounces_recorded_without_a_report_are_judged_alone(ledger_url) -> None:  # noqa: F811
    """A bounce recorded before reports were kept (``report`` NULL, as the migration leaves
    every older row), or by a person, is judged alone, as before."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = mail_each(ledger, box, 3)
        at = NOW - dt.timedelta(hours=1)
        out = ledger.record(
            box,
            bounces=[BounceIn(r, "hard", at, f"k{i}", trusted=False) for i, r in enumerate(rcpts)],
        )
    finally:
        ledger.close()
    assert out.counted == 3


def test_a_forged_report_synced_from_dovecot_neither_pauses_nor_suppresses_the_leads(
    ledger_url: str,  # noqa: F811
    box: Any,
) -> None:
    """End to end: 60 gated sends through the real sink, then a forged report in the real
    Dovecot listing every one of them (no Message-ID, nothing returned: anyone who knows the
    recipient list can write it). It counted 60 hard bounces and paused the mailbox; now one
    (60 bounces cross a write transaction), and a second sync reading it again adds nothing."""
    ids = send_many(60)  # by the wall clock, as the gate sends
    rcpts = sorted(ids)
    forged = dsn(rcpts, date=dt.datetime.now(dt.UTC))
    box.append_many(
        "INBOX", [forged.replace(b"\n", b"\r\n").replace(BOX.encode(), SYNC_BOX.encode())]
    )
    first = json.loads(cli("bounces", "sync", SYNC_BOX, "--json").stdout)
    again = json.loads(cli("bounces", "sync", SYNC_BOX, "--since", "2026-01-01", "--json").stdout)
    assert (first["bounces"], first["matched"], again["bounces"]) == (60, 1, 0)
    suppressed = [s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout)]
    assert suppressed == [rcpts[0]]
    quota = json.loads(cli("quota", SYNC_BOX, "--json").stdout)[0]
    assert quota["status"] != "paused" and quota["bounce_rate"] == pytest.approx(1 / 60, abs=1e-5)
    listed = json.loads(cli("bounces", "list", SYNC_BOX, "--json").stdout)
    assert (
        sorted(r["not_counted"] or "" for r in listed) == [""] + [ONE_REPORT.format(rcpts[0])] * 59
    )


def test_a_forged_reports_other_recipients_cost_a_later_sync_no_query_each(
    ledger_url,  # noqa: F811
) -> None:
    """The recipients a report lists past the one whose message it is about, and complaints
    whose redacted recipient names a Message-ID this mailbox never sent, stay unmatched for
    ever: every sync's late match tried each again, four queries apiece (a forged report of
    200 leads: ~800 statements by every sync, before it read a message; ten of 1,000 on
    PostgreSQL, minutes). They are tried again only when a send could answer them."""
    from tests.test_bounce_redacted import JMRP, report  # it imports this module

    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = mail_each(ledger, box, 200)
        record_batch(ledger, box, "INBOX", 1, 1, rows(dsn(rcpts)), NOW)
        for i in range(20):
            forged = report(JMRP, f"<made-up-{i}@attacker.example>")
            record_batch(ledger, box, "INBOX", 1, 2 + i, rows(forged), NOW)
        seen = _statements(ledger)
        linked = ledger.match_late(box)
        listed = listing(ledger)
    finally:
        ledger.close()
    assert linked == 0
    assert len(seen) < 20, len(seen)
    assert listed[rcpts[1]] == (False, False, ONE_REPORT.format(rcpts[0]))


def test_a_recipient_mailed_again_since_keeps_the_reports_message(ledger_url) -> None:  # noqa: F811
    """One message to two recipients (``warmup send --to b --to c``: one Message-ID); C is
    mailed again half an hour later. A report returning no headers lists both: B answers the
    message, and C, matched by time to its latest send (the later message), was cut as
    "another message" — its real hard bounce not counted and the dead address mailed on. C
    answers the send of the report's message to it."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        b, c = "b@client.example", "c@client.example"
        ledger.record(
            box,
            sends=[
                SendIn(b, SENT, "<both@corp.example>"),
                SendIn(c, SENT, "<both@corp.example>"),
                SendIn(c, SENT + dt.timedelta(minutes=30), "<again@corp.example>"),
            ],
        )
        got = record_batch(ledger, box, "INBOX", 1, 1, rows(dsn([b, c])), NOW)
        listed = listing(ledger)
        suppressed = ledger.suppressed([b, c])
    finally:
        ledger.close()
    assert [matched for _, matched, _ in got] == [True, True]
    assert listed == {b: (True, True, None), c: (True, True, None)}
    assert suppressed.keys() == {b, c}


def linked_to(ledger: Any, box: Any) -> dict[str, tuple[str, bool]]:
    """recipient -> (the Message-ID of the send its bounce answers, counted), of ``box``."""
    import sqlalchemy as sa

    from warmup.ledger.schema import BOUNCE, SEND

    with ledger.engine.connect() as conn:
        return {
            r.recipient: (r.message_id, bool(r.counted))
            for r in conn.execute(
                sa.select(BOUNCE.c.recipient, SEND.c.message_id, BOUNCE.c.counted)
                .select_from(BOUNCE.join(SEND, SEND.c.id == BOUNCE.c.send_id))
                .where(BOUNCE.c.mailbox_id == box.id)
            )
        }


def test_a_reports_first_recipient_mailed_again_since_does_not_cut_the_others(
    ledger_url,  # noqa: F811
) -> None:
    """The same message to B and C, B (listed first) mailed again half an hour later: a report
    returning no headers matched B by time to the later message, which then passed for the
    report's, and C — the same message's other recipient — was cut: its hard bounce not
    counted, the dead address mailed on. The message that answers them all is the report's.
    Read before the sends were recorded (linked by a later sync), the same."""
    b, c = "b@client.example", "c@client.example"
    sends = [
        SendIn(b, SENT, "<both@corp.example>"),
        SendIn(c, SENT, "<both@corp.example>"),
        SendIn(b, SENT + dt.timedelta(minutes=30), "<again@corp.example>"),
    ]
    both = {b: ("<both@corp.example>", True), c: ("<both@corp.example>", True)}
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        ledger.record(box, sends=sends)
        got = record_batch(ledger, box, "INBOX", 1, 1, rows(dsn([b, c])), NOW)
        listed, linked_now = listing(ledger), linked_to(ledger, box)
        late = api.add_mailbox(ledger, "late@corp.example", "exmail")
        record_batch(ledger, late, "INBOX", 1, 1, rows(dsn([b, c])), NOW)
        ledger.record(late, sends=sends)
        linked = ledger.match_late(late)
        linked_late = linked_to(ledger, late)
        suppressed = ledger.suppressed([b, c])
        hard = _hard_count(ledger)
    finally:
        ledger.close()
    assert [matched for _, matched, _ in got] == [True, True]
    assert listed == {b: (True, True, None), c: (True, True, None)}
    assert linked_now == both
    assert (linked, linked_late) == (2, both)
    assert suppressed.keys() == {b, c}
    assert hard == 4  # two each mailbox: moved, never counted twice


def test_a_recipient_the_reports_message_never_went_to_says_so_not_one_report(
    ledger_url,  # noqa: F811
) -> None:
    """A report returning message m0 names lead000 (m0's recipient) and lead001 (mailed m1
    only): lead001 answers no send because m0 is none of its sends, whichever recipient of the
    report counted; the listing said "its report is about another message" for it, a reason
    it would not have matched without."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        rcpts = mail_each(ledger, box, 2)
        when = email.utils.format_datetime(SENT)
        original = f"From: {BOX}\nTo: {rcpts[0]}\nDate: {when}\nMessage-ID: <m0@corp.example>"
        record_batch(ledger, box, "INBOX", 1, 1, rows(dsn(rcpts, original=original)), NOW)
        listed = listing(ledger)
    finally:
        ledger.close()
    assert listed[rcpts[0]] == (True, True, None)
    assert listed[rcpts[1]] == (
        False,
        False,
        f"its original <m0@corp.example> is none of {BOX}'s sends to {rcpts[1]}",
    )
