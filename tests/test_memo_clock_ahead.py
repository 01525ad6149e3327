"""A walk memo kept by a host whose clock ran ahead never outlives the sends it did not see.

Memos are kept only for days before yesterday by the keeper's wall clock, and a write bumps the
mailbox's ``rev`` only when it lands before the writer's today: together, no write can land on
a day a memo closed. A host whose clock is days ahead breaks the first half: its ``warmup
quota`` keeps a memo of a day that is still ahead for everyone else. The sends made on the days
in between (today's, by a right clock) bumped nothing, so once that day came the memo was
resumed as if they had never been made: idle days where the mailbox sent its quota, a warm-up
day lost for each (the same ledger, policy and clock gave another answer than a walk without
the memo). A write now drops any memo that already closed the day it lands on."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tests.conftest import SH
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_memo_carry import _answer, _cold_answer, _memo, _noon
from warmup import api
from warmup.ledger import SendIn, open_ledger
from warmup.ledger.values import local_day

ADDRESS = "a@corp.example"
AHEAD = dt.timedelta(days=3)


def _setup(url: str):  # type: ignore[no-untyped-def]
    """A mailbox with 20 days of 40 sends, then a ``quota`` asked on a host 3 days ahead: it
    keeps the memo of the day before its (wrong) today."""
    ledger = open_ledger(url)
    box = api.add_mailbox(ledger, ADDRESS, "exmail", timezone=SH)
    now = dt.datetime.now(dt.UTC)
    today = local_day(now, SH)
    sends = [
        SendIn(f"r{k}-{i}@example.com", _noon(today - dt.timedelta(days=k)), f"<m{k}-{i}@x>")
        for k in range(20, 0, -1)
        for i in range(40)
    ]
    ledger.record(box, sends=sends)
    wall = ledger.clock
    ledger.clock = lambda: wall() + AHEAD
    _answer(ledger, box, now + AHEAD)
    ledger.clock = wall
    kept = _memo(ledger)
    assert kept is not None and kept[0] == today + AHEAD - dt.timedelta(days=1), kept
    return ledger, box, now, today


def _dropped_then_answered_ahead(ledger, box, now, today):  # type: ignore[no-untyped-def]
    """After today's write: no memo closes today or later without its sends, and the host 3
    days ahead, asking again, gets the answer worked out from nothing."""
    kept = _memo(ledger)
    assert kept is None or kept[0] <= today, "a memo that closed today without its sends"
    later = now + AHEAD
    wall = ledger.clock
    ledger.clock = lambda: wall() + AHEAD
    assert _answer(ledger, box, later) == _cold_answer(ledger, box, later)


def test_a_send_today_drops_a_memo_kept_by_a_clock_ahead(ledger_url):  # noqa: F811
    ledger, box, now, today = _setup(ledger_url)
    # today (a right clock): the day's sends, recorded as they go out
    start = max(now - dt.timedelta(hours=1), dt.datetime.combine(today, dt.time(), ZoneInfo(SH)))
    ledger.record(
        box,
        sends=[
            SendIn(f"t{i}@example.com", start + dt.timedelta(seconds=i), f"<t{i}@x>")
            for i in range(40)
        ],
    )
    _dropped_then_answered_ahead(ledger, box, now, today)


def test_a_gated_send_today_drops_a_memo_kept_by_a_clock_ahead(ledger_url):  # noqa: F811
    from warmup.gate import Gate
    from warmup.ledger.gatepath import Decision

    ledger, box, now, today = _setup(ledger_url)
    gate = Gate(ADDRESS, ledger=ledger)
    try:  # the gate's own path (warmup send, run): reserved slots, as the SMTP session begins
        for i in range(40):
            gate._db.reserve(
                [f"g{i}@example.com"], f"<g{i}@x>", lambda *a: Decision(None), lambda: now
            )
    finally:
        gate.close()
    _dropped_then_answered_ahead(ledger, box, now, today)


def test_an_import_of_today_drops_a_memo_kept_by_a_clock_ahead(ledger_url, tmp_path):  # noqa: F811
    from warmup.importcsv import import_csv

    ledger, box, now, today = _setup(ledger_url)
    start = max(now - dt.timedelta(hours=1), dt.datetime.combine(today, dt.time(), ZoneInfo(SH)))
    log = tmp_path / "today.csv"
    log.write_text(
        "mailbox,recipient,sent_at\n"
        + "".join(
            f"{ADDRESS},i{i}@example.com,{(start + dt.timedelta(seconds=i)).isoformat()}\n"
            for i in range(40)
        )
    )
    assert import_csv(ledger, log).sends == 40
    _dropped_then_answered_ahead(ledger, box, now, today)
