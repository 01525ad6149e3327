"""Today's count in a mailbox's history (what the worker asks of each member of a pool for each
message): read from the ``day_stat`` rollup, so a look late in a busy day costs what one in the
morning does, and the same count as the raw rows up to the instant asked about."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.conftest import SH, at, vm_steps
from warmup import api, open_ledger

pytest_plugins = ["tests.pgkit"]  # ledger_url: SQLite and PostgreSQL

BOX = "a@corp.example"
DAY = dt.date(2026, 11, 10)


def _send(ledger: Any, n: int, when: dt.datetime, tag: str) -> None:
    assert api.record_send(ledger, BOX, [f"{tag}{k}@example.com" for k in range(n)], when) == n


def _steps(ledger: Any, when: dt.datetime) -> tuple[int, int]:
    """(SQLite VM steps, sends today) of a warm look at the mailbox's allowance."""
    box = ledger.mailbox(BOX)
    api.quota_for(ledger, box, when)  # the walk memo kept: the next look is the warm one
    steps, allowance = vm_steps(ledger, lambda: api.quota_for(ledger, box, when))
    return steps, allowance.sent


def test_a_look_late_in_a_busy_day_costs_what_one_in_the_morning_does(ledger_path):
    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail", timezone=SH)
    _send(ledger, 20, at(DAY, 9), "early")
    morning, sent = _steps(ledger, at(DAY, 9, 30))
    assert sent == 20
    _send(ledger, 2000, at(DAY, 10), "busy")
    evening, sent = _steps(ledger, at(DAY, 18))
    assert sent == 2020
    # Counting today's rows read each of them (~10 steps a row: 20,000 more); the rollup's
    # row is one search whatever the day held.
    assert evening < morning + 500, (morning, evening)
    ledger.close()


def test_today_counts_the_sends_up_to_the_instant_asked_about(ledger_url):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", timezone=SH)
    _send(ledger, 3, at(DAY, 9), "nine")
    _send(ledger, 2, at(DAY, 11), "eleven")
    box = ledger.mailbox(BOX)
    # Inside the day (``--at``): the sends stamped later today are not counted yet.
    assert api.quota_for(ledger, box, at(DAY, 10)).sent == 3
    assert api.quota_for(ledger, box, at(DAY, 10, 54)).sent == 3
    # Stamped within the clock skew after the instant: made by then (a clock a little ahead).
    assert api.quota_for(ledger, box, at(DAY, 10, 55)).sent == 5
    assert api.quota_for(ledger, box, at(DAY, 12)).sent == 5
    # A send stamped just after midnight (a clock ahead) is tomorrow's, not today's; it is the
    # last send all the same.
    late = at(DAY, 23, 58)
    _send(ledger, 1, late + dt.timedelta(minutes=3), "midnight")
    a = api.quota_for(ledger, box, late)
    assert a.sent == 5
    assert a.next_send_at is None or a.next_send_at >= late
    assert api.quota_for(ledger, box, at(DAY + dt.timedelta(days=1), 9)).sent == 1
    ledger.close()
