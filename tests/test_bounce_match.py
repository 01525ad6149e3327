"""A report without the original's Message-ID answers the send to its recipient it follows.

Matched by recipient and time (``Matching._match``): the latest send at or before the report's
Date, and only when there is none a send at most ``REPORT_SKEW`` after it (a Date in whole
seconds, by a server's clock a little behind). A mailbox that mails one recipient twice within a
minute or two must not have the first report taken for the second send's: the second send's
own report would then be "a second bounce of one send" and not count.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.gatekit import ANY_DAY
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import BounceIn, SendIn, open_ledger
from warmup.ledger.schema import DAY_STAT
from warmup.ledger.values import MATCH_WINDOW, REPORT_SKEW

RCPT = "r@example.com"


def _setup(url: str):  # type: ignore[no-untyped-def]
    ledger = open_ledger(url)
    box = api.add_mailbox(ledger, "a@corp.example", "exmail", policy=str(ANY_DAY))  # gated now
    t = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
    return ledger, box, t


def _hard(t: dt.datetime, key: str) -> BounceIn:
    return BounceIn(RCPT, "hard", t, key, status="5.1.1", trusted=False)


def _hard_count(ledger) -> int:  # type: ignore[no-untyped-def]
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.sum(DAY_STAT.c.hard))).scalar() or 0)


def test_two_sends_to_one_recipient_a_minute_apart_each_have_their_report(
    ledger_url,  # noqa: F811
):
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn(RCPT, t), SendIn(RCPT, t + dt.timedelta(seconds=90))])
    first = ledger.record(box, bounces=[_hard(t + dt.timedelta(seconds=30), "dsn-1")])
    second = ledger.record(box, bounces=[_hard(t + dt.timedelta(seconds=120), "dsn-2")])
    assert (first.counted, second.counted) == (1, 1)
    assert _hard_count(ledger) == 2


def test_a_report_dated_just_before_its_send_answers_it(ledger_url):  # noqa: F811
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn(RCPT, t)])
    got = ledger.record(box, bounces=[_hard(t - dt.timedelta(seconds=2), "dsn-1")])
    assert (got.matched, got.counted) == (1, 1)


def test_a_report_dated_well_before_any_send_answers_nothing(ledger_url):  # noqa: F811
    """Well before: more than REPORT_SKEW (a server's clock, and the sender's up to CLOCK_SKEW
    ahead)."""
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn(RCPT, t)])
    got = ledger.record(box, bounces=[_hard(t - REPORT_SKEW - dt.timedelta(minutes=1), "dsn-1")])
    assert (got.matched, got.counted) == (0, 0)
    assert _hard_count(ledger) == 0


def test_a_report_matched_to_a_slot_then_released_is_matched_again(ledger_url):  # noqa: F811
    """The ledger side of ``test_bounces_sync``'s released-slot test, on each backend: a
    report naming no Message-ID matched to a reserved slot that is then given back moves to
    the earlier send it answers, and one with no other candidate stops counting and
    suppressing."""
    from warmup import Gate
    from warmup.ledger.schema import SUPPRESSION

    ledger, box, t = _setup(ledger_url)
    other = "fresh@example.com"
    ledger.record(box, sends=[SendIn(RCPT, t - dt.timedelta(days=1))])
    with Gate(box.address) as gate:
        res = gate.reserve([RCPT, other])
        now = dt.datetime.now(dt.UTC)
        got = ledger.record(
            box,
            bounces=[  # read from the mailbox: neither vouched for
                BounceIn(r, "hard", now, f"dsn-{r}", status="5.1.1", source="imap", trusted=False)
                for r in (RCPT, other)
            ],
        )
        assert (got.matched, got.counted) == (2, 2)
        res.settle("released")
    assert _hard_count(ledger) == 1
    with ledger.engine.connect() as conn:
        assert [r[0] for r in conn.execute(sa.select(SUPPRESSION.c.address))] == [RCPT]
    ledger.close()


def _statements(ledger):  # type: ignore[no-untyped-def]
    """A list that grows by one for each SQL statement ``ledger`` runs."""
    seen: list[str] = []
    sa.event.listen(ledger.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_reports_no_send_can_answer_cost_a_later_sync_no_query_each(ledger_url):  # noqa: F811
    """Every sync first links the reports read before their send (``match_late``), trying
    each unmatched report whose recipient the mailbox has mailed. A stranger's reports naming
    those recipients with a Message-ID the mailbox never sent (or dated years away from any
    send) stay unmatched for ever: they were matched again, three queries each, by every
    sync (ten forged 1,000-recipient reports: 100 s before each sync read anything)."""
    ledger, box, t = _setup(ledger_url)
    leads = [f"lead{i}@example.com" for i in range(200)]
    ledger.record(box, sends=[SendIn(r, t, f"<m-{r}>") for r in leads])
    ledger.record(box, sends=[SendIn("plain@example.com", t)])  # no Message-ID
    forged = [
        BounceIn(r, "hard", t, f"forged-{r}", message_id="<never@corp.example>", trusted=False)
        for r in leads
    ]
    long_ago = t - 10 * MATCH_WINDOW
    forged += [
        BounceIn(r, "hard", long_ago, f"old-{r}", trusted=False)
        for r in (*leads, "plain@example.com")
    ]
    got = ledger.record(box, bounces=forged)
    assert (got.matched, got.counted) == (0, 0)
    # A report read before its send: the one late link to make.
    late = "late@example.com"
    ledger.record(
        box, bounces=[BounceIn(late, "hard", t, "real", message_id="<late-1>", trusted=False)]
    )
    ledger.record(box, sends=[SendIn(late, t - dt.timedelta(minutes=1), "late-1")])
    seen = _statements(ledger)
    assert ledger.match_late(box) == 1
    assert len(seen) < 20, len(seen)
    assert ledger.match_late(box) == 0
    assert _hard_count(ledger) == 1
    ledger.close()


def test_reports_whose_original_disagrees_cost_a_later_sync_no_query_each(
    ledger_url,  # noqa: F811
):
    """A stranger's report naming a recipient the mailbox mailed that week, no Message-ID, its
    returned original from another sender (or from the mailbox, dated weeks away from the
    send): kept unmatched, its reason said once. Every later sync still matched it again, two
    queries each, for ever: 10,000 such forged reports cost each sync (each IDLE wake-up of
    'warmup run') ~3 s before it read anything. Tried again only while a send could still
    answer it (one recorded later near its Date)."""
    ledger, box, t = _setup(ledger_url)
    leads = [f"lead{i}@example.com" for i in range(200)]
    ledger.record(box, sends=[SendIn(r, t, f"<m-{r}>") for r in leads])
    weeks = t + dt.timedelta(days=60)
    forged = [
        BounceIn(r, "hard", t, f"from-{r}", trusted=False, original_from="x@attacker.example")
        for r in leads
    ] + [
        BounceIn(r, "hard", t, f"dated-{r}", trusted=False, original_from=box.address,
                 original_date=weeks)
        for r in leads
    ]  # fmt: skip
    got = ledger.record(box, bounces=forged)
    assert (got.matched, got.counted) == (0, 0)
    with ledger.engine.connect() as conn:
        said = conn.execute(sa.text("SELECT count(*) FROM bounce WHERE unverified IS NOT NULL"))
        assert said.scalar() == 400
    seen = _statements(ledger)
    assert ledger.match_late(box) == 0
    assert len(seen) < 20, len(seen)
    # One dated away from the send it would answer, then the send it was about recorded (an
    # import): linked, as before.
    dated = t - dt.timedelta(days=16)
    ledger.record(box, sends=[SendIn("late@example.com", t)])
    early = BounceIn("late@example.com", "hard", t + dt.timedelta(hours=1), "early",
                     trusted=False, original_from=box.address, original_date=dated)  # fmt: skip
    assert ledger.record(box, bounces=[early]).matched == 0
    ledger.record(box, sends=[SendIn("late@example.com", t - dt.timedelta(days=5))])
    assert ledger.match_late(box) == 1
    assert _hard_count(ledger) == 1
    ledger.close()


def test_a_report_about_addresses_never_mailed_costs_one_look_up_each(ledger_url):  # noqa: F811
    """A stranger's report listing 1,000 addresses the mailbox never mailed (no MTA writes one;
    anyone can): each was matched as if it might answer a send, two to four queries (by its
    Message-ID, another mailbox's, then by time twice), ~1.5 s of a sync for nothing, 5 s with
    its write pauses, for 130 KB of forged mail. None can answer a send: one look-up says so."""
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn("lead@example.com", t, "<m-1@corp.example>")])
    strangers = [f"x{i}@example.net" for i in range(200)]
    forged = [
        BounceIn(r, "hard", t, f"f-{r}-{mid}", message_id=mid, trusted=False, report="dsn:<f@x>")
        for r in strangers
        for mid in ("<m-1@corp.example>", None)
    ]
    seen = _statements(ledger)
    got = ledger.record(box, bounces=forged)
    assert (len(got.results), got.matched, got.counted) == (400, 0, 0)
    assert len(seen) <= 2 * 400 + 10, len(seen)  # the insert and one look-up each
    # A mailed address is matched as ever.
    real = BounceIn(
        "lead@example.com", "hard", t, "r", message_id="<m-1@corp.example>", trusted=False
    )
    assert ledger.record(box, bounces=[real]).counted == 1
    ledger.close()


def test_a_report_about_another_mailboxs_message_answers_no_send_of_this_one(
    ledger_url,  # noqa: F811
):
    """A report naming a Message-ID of another mailbox's send (one bounce address for both, or
    a copy) is about that message: it was matched to this mailbox's send to the recipient
    recorded without a Message-ID, charging this mailbox's rate for the other's bounce."""
    ledger, box, t = _setup(ledger_url)
    other = api.add_mailbox(ledger, "b@corp.example", "exmail")
    ledger.record(box, sends=[SendIn(RCPT, t)])  # 'record send' without --message-id
    ledger.record(other, sends=[SendIn(RCPT, t, "<b-1@corp.example>")])
    report = BounceIn(
        RCPT, "hard", t + dt.timedelta(minutes=1), "dsn-b", message_id="<b-1@corp.example>",
        trusted=False,
    )  # fmt: skip
    got = ledger.record(box, bounces=[report])
    assert (got.matched, got.counted) == (0, 0)
    assert ledger.match_late(box) == 0
    # A Message-ID no mailbox of the ledger sent may still be the send recorded without one.
    stranger = BounceIn(
        RCPT, "hard", t + dt.timedelta(minutes=1), "dsn-x", message_id="<x-1@elsewhere>",
        trusted=False,
    )  # fmt: skip
    assert ledger.record(box, bounces=[stranger]).matched == 1
    ledger.close()


def _returned(t: dt.datetime, key: str, sender: str | None, dated: dt.datetime | None) -> BounceIn:
    """A report naming no Message-ID whose returned original says From ``sender``, Date
    ``dated``: what anyone who knows whom the mailbox mails can write."""
    return BounceIn(
        RCPT, "hard", t, key, status="5.1.1", trusted=False, original_from=sender,
        original_date=dated,
    )  # fmt: skip


def _unverified(ledger) -> list[tuple[str, bool, str | None]]:  # type: ignore[no-untyped-def]
    return [(b["recipient"], b["matched"], b["unverified"]) for b in ledger.bounces()]


def test_a_report_whose_returned_original_is_not_the_send_answers_nothing(
    ledger_url,  # noqa: F811
):
    """A report naming no Message-ID was matched by recipient and time even when the original it
    returns is plainly not the send: From another address, or dated weeks away from it. Anyone
    who knows a recipient could forge a counted hard bounce that suppressed the address."""
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn(RCPT, t, "<a-1@corp.example>")])
    later = t + dt.timedelta(minutes=1)
    forged = ledger.record(box, bounces=[_returned(later, "f-1", "x@attacker.example", t)])
    old = t - dt.timedelta(days=40)
    stale = ledger.record(box, bounces=[_returned(later, "f-2", "A@corp.example", old)])
    assert (forged.matched, forged.counted, stale.matched, stale.counted) == (0, 0, 0, 0)
    assert _hard_count(ledger) == 0 and ledger.suppressions() == []
    by_key = sorted(_unverified(ledger), key=lambda b: b[2] or "")
    assert by_key == [
        (
            RCPT,
            False,
            f"its returned original is dated {old:%Y-%m-%d %H:%M} UTC, the send to {RCPT} it "
            f"would answer was made {t:%Y-%m-%d %H:%M} UTC",
        ),
        (RCPT, False, "its returned original is from x@attacker.example, not a@corp.example"),
    ]
    assert ledger.match_late(box) == 0  # tried again by every sync, it stays unmatched
    # The mailbox's own original, dated by the send (a clock an hour off): counted, suppressing.
    own = ledger.record(
        box, bounces=[_returned(later, "r-1", "a@corp.example", t + dt.timedelta(hours=1))]
    )
    assert (own.matched, own.counted) == (1, 1)
    assert [s["address"] for s in ledger.suppressions()] == [RCPT]
    ledger.close()


def test_a_report_read_before_its_send_links_only_if_its_original_agrees(
    ledger_url,  # noqa: F811
):
    """Linked late (the send recorded after the report was read) under the same rule."""
    ledger, box, t = _setup(ledger_url)
    later = t + dt.timedelta(minutes=1)
    ledger.record(
        box,
        bounces=[
            _returned(later, "f-1", "x@attacker.example", t),
            _returned(later, "r-1", "a@corp.example", t),
        ],
    )
    ledger.record(box, sends=[SendIn(RCPT, t, "<a-1@corp.example>")])
    assert ledger.match_late(box) == 1
    matched = {b["key"]: b["matched"] for b in _keyed(ledger)}
    assert matched == {"f-1": False, "r-1": True}
    ledger.close()


def _keyed(ledger) -> list[dict]:  # type: ignore[no-untyped-def]
    from warmup.ledger.schema import BOUNCE

    with ledger.engine.connect() as conn:
        return [
            {"key": r.key, "matched": r.send_id is not None}
            for r in conn.execute(sa.select(BOUNCE.c.key, BOUNCE.c.send_id))
        ]


def test_a_report_naming_the_sends_message_id_answers_it_however_long_it_waited_to_go(
    ledger_url,  # noqa: F811
):
    """A message its author dated, queued for weeks of quota (a campaign at 30 a day), returns
    with that Date: the report names the send's own Message-ID, which no stranger can guess, and
    was kept unmatched ("dated away from the send"), never counted, suppressing nothing."""
    ledger, box, t = _setup(ledger_url)
    ledger.record(box, sends=[SendIn(RCPT, t, "<a-1@corp.example>")])
    written = t - dt.timedelta(days=40)
    report = BounceIn(
        RCPT, "hard", t + dt.timedelta(minutes=1), "dsn-1", status="5.1.1", trusted=False,
        message_id="<a-1@corp.example>", original_from="a@corp.example", original_date=written,
    )  # fmt: skip
    got = ledger.record(box, bounces=[report])
    assert (got.matched, got.counted) == (1, 1)
    assert [s["address"] for s in ledger.suppressions()] == [RCPT]
    ledger.close()


def test_a_report_read_before_its_send_and_refused_at_the_late_link_says_why(
    ledger_url,  # noqa: F811
):
    """Read before its send was recorded, a report whose returned original is not the send
    (another From, a Date weeks away) was refused at the late link and listed unmatched with no
    reason: read after the send, the same report says why ("unverified")."""
    ledger, box, t = _setup(ledger_url)
    later = t + dt.timedelta(minutes=1)
    old = t - dt.timedelta(days=40)
    ledger.record(
        box,
        bounces=[
            _returned(later, "f-1", "x@attacker.example", t),
            _returned(later, "f-2", "a@corp.example", old),
        ],
    )
    assert [b[2] for b in _unverified(ledger)] == [None, None]  # no send yet: nothing to say
    ledger.record(box, sends=[SendIn(RCPT, t, "<a-1@corp.example>")])
    assert ledger.match_late(box) == 0
    said = sorted(_unverified(ledger), key=lambda b: b[2] or "")
    assert said == [
        (
            RCPT,
            False,
            f"its returned original is dated {old:%Y-%m-%d %H:%M} UTC, the send to {RCPT} it "
            f"would answer was made {t:%Y-%m-%d %H:%M} UTC",
        ),
        (RCPT, False, "its returned original is from x@attacker.example, not a@corp.example"),
    ]
    assert (
        ledger.match_late(box) == 0
        and sorted(_unverified(ledger), key=lambda b: b[2] or "") == said
    )
    assert _hard_count(ledger) == 0 and ledger.suppressions() == []
    ledger.close()
