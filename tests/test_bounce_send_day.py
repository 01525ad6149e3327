"""``bounce.send_day``: the day of the send a bounce answers, kept on the bounce so that the
report rates each day's sends from the bounce table alone (``Ledger.bounced_by_send_day``).

It is only as good as every write that links a bounce to a send, or unlinks it, or moves the
send's day: each is checked here, on each backend, against the join the report read before (each
counted bounce joined to its send to read ``send.day``), on a bounce whose send was on another
day than the bounce itself (a stale or missing ``send_day`` moves or drops it)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.gatekit import ANY_DAY
from tests.pgkit import (
    ledger_url,  # noqa: F401  (the fixture: each backend)
    pg_url,  # noqa: F401
)
from tests.test_bounce_onereport import dsn, rows
from warmup import api, reports
from warmup.bounces.imap import record_batch
from warmup.ledger import BounceIn, SendIn, open_ledger
from warmup.ledger.schema import BOUNCE, SEND
from warmup.ledger.values import local_day

BOX = "a@corp.example"
SUNDAY = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC)
MONDAY = SUNDAY + dt.timedelta(days=1)
RCPT = "r@example.com"


def by_join(ledger: Any) -> list[tuple[int, dt.date, int]]:
    """The counted hard, soft and block bounces by the day of the send each answers, as the
    report read them before ``send_day``: joined to the send."""
    b = BOUNCE.c
    with ledger.read() as conn:
        got = conn.execute(
            sa.select(b.mailbox_id, SEND.c.day, sa.func.count())
            .select_from(BOUNCE.join(SEND, SEND.c.id == b.send_id))
            .where(b.counted, b.kind.in_(("hard", "soft", "block")))
            .group_by(b.mailbox_id, SEND.c.day)
        ).all()
    return sorted((m, d, n) for m, d, n in got)


def by_send_day(ledger: Any) -> list[tuple[int, dt.date, int]]:
    """The same, as the report reads it now."""
    boxes, days, counts = ledger.bounced_by_send_day([m.id for m in ledger.mailboxes()])
    return sorted(
        (m, dt.date.fromordinal(d), n)
        for m, d, n in zip(boxes.tolist(), days.tolist(), counts.tolist(), strict=True)
    )


def send_days(ledger: Any) -> list[tuple[int, dt.date | None, dt.date | None]]:
    """Every bounce: (id, its ``send_day``, the day of the send it answers); None unlinked."""
    with ledger.read() as conn:
        got = conn.execute(
            sa.select(BOUNCE.c.id, BOUNCE.c.send_day, SEND.c.day)
            .select_from(BOUNCE.outerjoin(SEND, SEND.c.id == BOUNCE.c.send_id))
            .order_by(BOUNCE.c.id)
        ).all()
    return [tuple(r) for r in got]


def assert_exact(ledger: Any, expected: dict[tuple[str, dt.date], int]) -> None:
    """The report's bounces by send day are the join's, and ``expected`` (mailbox address,
    send day -> bounces); every bounce's ``send_day`` is its send's day."""
    ids = {m.address: m.id for m in ledger.mailboxes()}
    want = sorted((ids[a], d, n) for (a, d), n in expected.items())
    assert by_join(ledger) == want
    assert by_send_day(ledger) == want
    assert all(mine == theirs for _, mine, theirs in send_days(ledger)), send_days(ledger)


def test_a_bounce_read_the_day_after_its_send_keeps_the_sends_day(ledger_url) -> None:  # noqa: F811
    """Recorded after its send (matched as it is inserted): counted on Sunday's sends."""
    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        api.record_send(ledger, BOX, [RCPT, "other@example.com"], SUNDAY)
        api.record_bounce(ledger, BOX, RCPT, "hard", "5.1.1", MONDAY)
        api.record_bounce(ledger, BOX, "stranger@example.com", "hard", "5.1.1", MONDAY)
        assert_exact(ledger, {(BOX, SUNDAY.date()): 1})
        frame = reports.daily(ledger, at=MONDAY + dt.timedelta(hours=1))
        assert frame["sends_bounced"].tolist() == [1, 0]
    finally:
        ledger.close()


def test_a_slot_the_gate_settles_as_a_bounce_has_its_day(ledger_url) -> None:  # noqa: F811
    """The gate names the send a 5xx answers (``BounceIn.send_id``)."""
    from warmup import Gate

    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail", policy=str(ANY_DAY))  # gated now
        with Gate(box.address) as gate:
            res = gate.reserve([RCPT, "fine@example.com"])
            res.settle({RCPT: "hard", "fine@example.com": "sent"})
        (day,) = {d for _, _, d in send_days(ledger)}
        assert_exact(ledger, {(BOX, day): 1})
    finally:
        ledger.close()


def test_a_bounce_read_before_its_send_gets_the_sends_day_when_linked(ledger_url) -> None:  # noqa: F811
    """Read before its send was recorded (an import or a late settlement wrote it), linked by
    ``match_late``: the send's day, not the day it was read."""
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        bounce = BounceIn(RCPT, "hard", MONDAY, "dsn-1", status="5.1.1", trusted=False)
        got = ledger.record(box, bounces=[bounce])
        assert got.matched == 0
        ledger.record(box, sends=[SendIn(RCPT, SUNDAY)])
        assert ledger.match_late(box) == 1
        assert_exact(ledger, {(BOX, SUNDAY.date()): 1})
    finally:
        ledger.close()


def test_a_bounce_moved_to_its_reports_message_takes_that_sends_day(ledger_url) -> None:  # noqa: F811
    """One message to B and C two days ago; B mailed again yesterday. A report returning no
    headers lists both: B is first linked by time to yesterday's send, then moved to the
    report's message (``Matching._moved``), two days ago, where C's bounce is too."""
    from tests.test_bounce_onereport import NOW

    b, c = "b@client.example", "c@client.example"
    first, again = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        api.record_send(ledger, BOX, [b, c], first, "<both@corp.example>")
        api.record_send(ledger, BOX, [b], again, "<again@corp.example>")
        got = record_batch(ledger, box, "INBOX", 1, 1, rows(dsn([b, c])), NOW)
        assert [matched for _, matched, _ in got] == [True, True]
        assert_exact(ledger, {(BOX, local_day(first, box.timezone)): 2})
    finally:
        ledger.close()


def test_a_bounce_of_a_slot_given_back_moves_to_the_send_it_answers(ledger_url) -> None:  # noqa: F811
    """Matched to a reserved slot that is then released (``Matching._unanswer``): linked again
    to yesterday's send to the recipient; the other recipient's, to nothing."""
    from warmup import Gate

    ledger = open_ledger(ledger_url)
    try:
        box = api.add_mailbox(ledger, BOX, "exmail", policy=str(ANY_DAY))  # gated now
        t = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
        yesterday = t - dt.timedelta(days=1)
        ledger.record(box, sends=[SendIn(RCPT, yesterday)])
        with Gate(box.address) as gate:
            res = gate.reserve([RCPT, "fresh@example.com"])
            now = dt.datetime.now(dt.UTC)
            got = ledger.record(
                box,
                bounces=[
                    BounceIn(
                        r, "hard", now, f"dsn-{r}", status="5.1.1", source="imap", trusted=False
                    )
                    for r in (RCPT, "fresh@example.com")
                ],
            )
            assert (got.matched, got.counted) == (2, 2)
            res.settle("released")
        assert_exact(ledger, {(BOX, local_day(yesterday, box.timezone)): 1})
        assert [mine for _, mine, _ in send_days(ledger)][1] is None
    finally:
        ledger.close()


def test_an_imported_bounce_has_the_day_of_its_send(ledger_url, run, tmp_path: Path) -> None:  # noqa: F811
    """An import's bounces (SQLite: the driver's executemany; PostgreSQL: SQLAlchemy's), of a
    send of the file and of one recorded before it."""
    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        saturday = SUNDAY - dt.timedelta(days=1)
        api.record_send(ledger, BOX, ["known@example.com"], saturday)
        log = tmp_path / "log.csv"
        with log.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["mailbox", "recipient", "sent_at", "bounce_kind", "bounce_status",
                          "bounced_at"])  # fmt: skip
            out.writerow([BOX, RCPT, SUNDAY.isoformat(), "hard", "5.1.1", MONDAY.isoformat()])
            out.writerow([BOX, "fine@example.com", SUNDAY.isoformat(), "", "", ""])
            out.writerow([BOX, "known@example.com", saturday.isoformat(), "soft", "4.2.2",
                          MONDAY.isoformat()])  # fmt: skip
        res = run("import", str(log), "--db", ledger_url)
        assert res.exit_code == 0, res.output
        assert_exact(ledger, {(BOX, SUNDAY.date()): 1, (BOX, saturday.date()): 1})
    finally:
        ledger.close()


def test_a_new_time_zone_moves_the_send_days_of_its_bounces(ledger_url) -> None:  # noqa: F811
    """A send at 23:30 UTC on Sunday is Monday in Shanghai: once the mailbox's zone is
    changed, its bounce counts on Monday's sends, as the send does."""
    ledger = open_ledger(ledger_url)
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        late = SUNDAY.replace(hour=23, minute=30)
        api.record_send(ledger, BOX, [RCPT], late)
        api.record_bounce(ledger, BOX, RCPT, "hard", "5.1.1", MONDAY + dt.timedelta(hours=2))
        assert_exact(ledger, {(BOX, SUNDAY.date()): 1})
        api.set_mailbox(ledger, BOX, timezone="Asia/Shanghai")
        assert_exact(ledger, {(BOX, MONDAY.date()): 1})
    finally:
        ledger.close()


def test_a_copy_to_postgresql_keeps_the_send_days(run, tmp_path: Path, pg_url) -> None:  # noqa: F811
    """``warmup db copy`` copies the column as it is (and verifies it by checksum)."""
    src = tmp_path / "solo.db"
    ledger = open_ledger(str(src))
    try:
        api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC")
        api.record_send(ledger, BOX, [RCPT], SUNDAY)
        api.record_bounce(ledger, BOX, RCPT, "hard", "5.1.1", MONDAY)
    finally:
        ledger.close()
    res = run("--db", str(src), "db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output
    target = open_ledger(pg_url)
    try:
        assert_exact(target, {(BOX, SUNDAY.date()): 1})
    finally:
        target.close()
