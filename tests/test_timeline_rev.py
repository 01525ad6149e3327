"""The report's memo is valid while the mailbox's ``rev`` holds: every write path that changes a
day the memo covers moves it, on both backends.

Each change below touches only the rollup rows of a past day (no event, no setting: the
memo's fingerprint of its other inputs still matches), so only the ``rev`` can tell the memo
is stale. A memo is kept only of a day before the wall clock's yesterday: a report ``--at``
ahead of today keeps none, since a write on today moves no ``rev``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.conftest import at
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: sqlite, postgresql)
from tests.test_import import write
from tests.test_timeline_cache import AT, _day, _memos, filled, ledger  # noqa: F401
from warmup import Gate, api, reports
from warmup.ledger import open_ledger
from warmup.ledger.copy import copy_ledger
from warmup.ledger.schema import TIMELINE_CACHE

BOX = "a@corp.example"


def _past_send(led, tmp_path):  # type: ignore[no-untyped-def]
    api.record_send(led, BOX, ["late@example.com", "late2@example.com"], at(_day(10), 15))


def _past_bounce(led, tmp_path):  # type: ignore[no-untyped-def]
    api.record_bounce(led, BOX, "r3-5@example.com", "hard", at=at(_day(3), 15))


def _import(led, tmp_path):  # type: ignore[no-untyped-def]
    lines = [f"{BOX},imp{i}@example.com,{_day(12)}T16:{i:02d}:00+08:00,,,,,,," for i in range(5)]
    api.import_csv(led, write(tmp_path / "log.csv", *lines))


def _gate(led, tmp_path):  # type: ignore[no-untyped-def]
    """A gate's reservation on a past day (its clock a test's): the gate's own write path."""
    when = at(_day(20), 16)
    with Gate(BOX, ledger=led, password="x", clock=lambda: when) as gate:
        gate.reserve(["g1@example.com", "g2@example.com"]).settle("sent")


@pytest.mark.parametrize(
    "change",
    [_past_send, _past_bounce, _import, _gate],
    ids=["past-send", "past-bounce", "import", "gate"],
)
@pytest.mark.slow
def test_a_write_on_a_day_the_memo_covers_drops_it(ledger, change, tmp_path):  # noqa: F811
    reports.daily(ledger, at=AT)
    before = reports.daily(ledger, at=AT)
    assert {BOX, "b@corp.example"} <= set(_memos(ledger))
    change(ledger, tmp_path)
    assert BOX not in _memos(ledger)  # its rev moved
    assert "b@corp.example" in _memos(ledger)  # ... only this mailbox's
    after = reports.daily(ledger, at=AT)
    pd.testing.assert_frame_equal(after, reports.daily(ledger, at=AT, cache=False))
    mine = after[after["mailbox"] == BOX].reset_index(drop=True)
    assert not mine.equals(before[before["mailbox"] == BOX].reset_index(drop=True))
    assert BOX in _memos(ledger)  # kept again, at the new rev


def _kept(led) -> list[tuple[str, dt.date]]:  # type: ignore[no-untyped-def]
    with led.read() as conn:
        return [
            (str(m), upto)
            for m, upto in conn.execute(
                sa.select(TIMELINE_CACHE.c.mailbox_id, TIMELINE_CACHE.c.upto)
            )
        ]


@pytest.mark.slow
def test_a_report_ahead_of_today_keeps_no_memo_of_today(ledger):  # noqa: F811
    """A send today moves no rev: a memo covering today (kept by a report ``--at`` a few days
    ahead) would be used stale by the next such report."""
    now = dt.datetime.now(dt.UTC)
    ahead = now + dt.timedelta(days=3)
    reports.daily(ledger, at=ahead)
    today = ledger.real_today(ledger.mailbox(BOX).timezone)
    assert all(upto < today for _, upto in _kept(ledger))
    api.record_send(ledger, BOX, ["today@example.com"], now - dt.timedelta(minutes=1))
    pd.testing.assert_frame_equal(
        reports.daily(ledger, at=ahead), reports.daily(ledger, at=ahead, cache=False)
    )


@pytest.mark.slow
def test_db_copy_leaves_the_memos_behind(ledger, tmp_path):  # noqa: F811
    reports.daily(ledger, at=AT)
    assert _memos(ledger)
    target = open_ledger(str(tmp_path / "copy.db"))
    try:
        copy_ledger(ledger, target)
        assert _memos(target) == {}
        pd.testing.assert_frame_equal(
            reports.daily(target, at=AT), reports.daily(ledger, at=AT, cache=False)
        )
        assert set(_memos(target)) == {BOX, "b@corp.example"}
    finally:
        target.close()
