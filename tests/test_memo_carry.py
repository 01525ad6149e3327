"""A late write keeps the walk memos it cannot have changed (warmup.ledger.records, ``_touch``).

A memo holds a mailbox's walk at the start of its day (``upto``, yesterday when a question kept
it), from the days before. A bounce synced this morning for a send of yesterday lands on a day
the memo never read: the memo stays valid at the mailbox's new revision, so the next question
walks from it (two days) instead of the whole history. A write on a day the memo did read drops
it, also when it comes in the same transaction after one the memo could keep."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tests.conftest import SH
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import BounceIn, SendIn, open_ledger
from warmup.ledger.schema import MAILBOX, WALK_MEMO
from warmup.ledger.values import local_day

ADDRESS = "a@corp.example"


def _setup(url: str) -> tuple[object, object, dt.datetime, dt.date]:
    ledger = open_ledger(url)
    box = api.add_mailbox(ledger, ADDRESS, "exmail", timezone=SH)
    now = dt.datetime.now(dt.UTC)
    today = local_day(now, SH)
    sends = [
        SendIn(f"r{k}-{i}@example.com", _noon(today - dt.timedelta(days=k)), f"<m{k}-{i}@x>")
        for k in range(30, 0, -1)
        for i in range(40)
    ]
    ledger.record(box, sends=sends)
    return ledger, box, now, today


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.timezone(dt.timedelta(hours=8)))


def _memo(ledger) -> tuple[dt.date, int, int] | None:  # type: ignore[no-untyped-def]
    with ledger.engine.connect() as conn:
        row = conn.execute(
            sa.select(WALK_MEMO.c.upto, WALK_MEMO.c.rev, MAILBOX.c.rev).join(
                MAILBOX, MAILBOX.c.id == WALK_MEMO.c.mailbox_id
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


def _bounce(k: int, i: int, day: dt.date) -> BounceIn:
    return BounceIn(
        f"r{k}-{i}@example.com",
        "hard",
        _noon(day) + dt.timedelta(hours=1),
        f"late-{k}-{i}",
        status="5.1.1",
        message_id=f"<m{k}-{i}@x>",
    )


def _answer(ledger, box, now):  # type: ignore[no-untyped-def]
    return api.quotas(ledger, [box], now)[0]  # every field but the memo compares


def _cold_answer(ledger, box, now):  # type: ignore[no-untyped-def]
    with ledger.engine.begin() as conn:
        conn.execute(WALK_MEMO.delete())
    return _answer(ledger, box, now)


def test_a_bounce_of_yesterday_keeps_the_memo_of_yesterday(ledger_url):  # noqa: F811
    ledger, box, now, today = _setup(ledger_url)
    first = _answer(ledger, box, now)  # keeps the memo of yesterday
    before = _memo(ledger)
    assert before is not None and before[0] == today - dt.timedelta(days=1)
    assert before[1] == before[2]

    yesterday = today - dt.timedelta(days=1)
    got = ledger.record(box, bounces=[_bounce(1, i, yesterday) for i in range(3)])
    assert got.counted == 3
    after = _memo(ledger)
    assert after is not None
    assert after[2] == before[2] + 1, "the mailbox's rev moves: a gate must reopen"
    assert after[0] == before[0] and after[1] == after[2], "the memo is carried to it"

    warm = _answer(ledger, box, now)
    assert warm != first, "the bounces of yesterday change today's answer"
    assert warm == _cold_answer(ledger, box, now)


def test_a_bounce_on_a_day_the_memo_read_drops_it(ledger_url):  # noqa: F811
    ledger, box, now, today = _setup(ledger_url)
    _answer(ledger, box, now)
    before = _memo(ledger)
    assert before is not None

    earlier = today - dt.timedelta(days=3)
    ledger.record(box, bounces=[_bounce(3, i, earlier) for i in range(3)])
    after = _memo(ledger)
    assert after is None or after[1] != after[2]  # not valid any more
    assert _answer(ledger, box, now) == _cold_answer(ledger, box, now)


def test_an_earlier_day_later_in_the_same_transaction_drops_the_carried_memo(
    ledger_url,  # noqa: F811
):
    ledger, box, now, today = _setup(ledger_url)
    _answer(ledger, box, now)
    yesterday, earlier = today - dt.timedelta(days=1), today - dt.timedelta(days=4)
    ledger.record(box, bounces=[_bounce(1, 0, yesterday), _bounce(4, 0, earlier)])
    after = _memo(ledger)
    assert after is None or after[1] != after[2]
    assert _answer(ledger, box, now) == _cold_answer(ledger, box, now)
