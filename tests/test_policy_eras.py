"""A policy change judges the days after it, not the days already walked (warmup.policy.eras).

``warmup policy set`` re-judged every past day under the new version: raising week 1 from 50 to
100 a day turned ten days that qualified at 30 sends into ten that did not, and a mailbox on day
15 was back on day 1. Each day is now judged under the policy in force then, on both backends,
by ``warmup quota`` (one mailbox and many), the gate, reports, plans and resumed walks alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ledger_before, policy_changes_at
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.zonekit import kit_zone
from warmup import api, policies, reports
from warmup.gate import Gate, NotAllowed
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.ledger.values import local_day
from warmup.policy import History, eras, evaluate
from warmup.policy.engine import timeline_rows, walk_timeline
from warmup.policy.spec import parse_policy_text
from warmup.policy.walk import DayCounts, MailboxEvent

BOX = "sales@corp.example"
DAYS = 14  # days of history before today, 30 sends each
M024 = "m024_policy_events_say_what_was_in_force"


def text(week1: int = 50, growth: float = 2.0, window: int = 7, first: str = "week 1") -> str:
    return f"""ceiling = 300
growth_factor = {growth}

[[stage]]
name = "{first}"
days = 7
daily = {week1}
interval = "0s"

[[stage]]
name = "weeks 2-4"
days = 21
daily = [100, 200]
interval = "0s"

[[stage]]
name = "stable"
days = 0
daily = 300
interval = "0s"

[health]
window_days = {window}
min_sample = 20
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10
"""


def _file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ramped(ledger: Ledger, tmp_path: Path, address: str = BOX, policy: str = "p") -> dt.date:
    """``address`` on stored policy ``policy`` (week 1 at 50 a day), with 30 sends on each of
    the :data:`DAYS` days before today (in the test's :func:`~tests.zonekit.kit_zone`): warm-up day 15, in weeks 2-4. Today."""
    if policy not in ledger.policy_names():
        policies.add(ledger, policy, _file(tmp_path, policy, text()))
    today = local_day(_now(), kit_zone())
    first = today - dt.timedelta(days=DAYS)
    box = api.add_mailbox(
        ledger, address, "exmail", timezone=kit_zone(), policy=policy, started=first
    )
    sends = []
    for k in range(DAYS):
        day = first + dt.timedelta(days=k)
        noon = dt.datetime.combine(day, dt.time(12), eras_zone()).astimezone(dt.UTC)
        sends += [
            SendIn(f"r{k}-{i}@ex{i % 5}.example", noon + dt.timedelta(minutes=i)) for i in range(30)
        ]
    ledger.record(box, sends=sends)
    return today


def eras_zone() -> dt.tzinfo:
    """The mailboxes' zone: the test's midday one, not exmail's Shanghai. The tests read the
    wall clock a dozen times and ask about today at each: a run across Shanghai's midnight
    (16:00 UTC) counted the sends before it on one day and asked on the next (a report of 12
    days where 11 were looked for)."""
    from warmup.instants import zone

    return zone(kit_zone())


@pytest.fixture
def ramped(ledger_url, tmp_path):  # noqa: F811
    """A ledger (each backend) with :data:`BOX` on day 15 (:func:`_ramped`), and today."""
    ledger = open_ledger(ledger_url)
    try:
        yield ledger, _ramped(ledger, tmp_path)
    finally:
        ledger.close()


def _raise_week1(ledger: Ledger, tmp_path: Path, policy: str = "p") -> None:
    """Week 1 at 100 a day, and room to grow (10x the busiest day)."""
    policies.update(ledger, policy, _file(tmp_path, f"{policy}2", text(week1=100, growth=10)))


def test_a_new_version_keeps_the_warmup_days_already_walked(ramped, tmp_path):
    ledger, _ = ramped
    before = api.quota(ledger, BOX, _now())
    assert (before.day, before.stage) == (15, "weeks 2-4"), before.reasons
    _raise_week1(ledger, tmp_path)
    after = api.quota(ledger, BOX, _now())
    # the same 14 qualifying days; the new version's ramp and growth from today on
    assert (after.day, after.stage) == (15, "weeks 2-4"), after.reasons
    assert after.quota == 135, after.reasons  # 100 -> 200 over 21 days, day 8 of them
    # a memo kept by that answer gives the same one; so does the batch of every mailbox
    assert api.quota(ledger, BOX, _now()).quota == 135
    [batch] = api.quotas(ledger, ledger.mailboxes(), _now())
    assert (batch.day, batch.quota) == (15, 135)
    # the plan goes on from there: today as quota says it, then the new ramp, sending it
    ahead = api.plan(ledger, BOX, 3, _now())
    assert [(d.day, d.stage) for d in ahead] == [(n, "weeks 2-4") for n in (15, 16, 17)]
    assert ahead[0].quota == 135


def test_reports_show_each_day_under_the_policy_then(ramped, tmp_path):
    ledger, today = ramped
    _raise_week1(ledger, tmp_path)
    frame = reports.daily(ledger, [BOX], at=_now())
    rows = {dt.date.fromisoformat(str(r.date)[:10]): r for r in frame.itertuples()}
    first = today - dt.timedelta(days=DAYS)
    # week 1 under version 1 (50 a day), then growth-limited at 2x the busiest day (60)
    assert [int(rows[first + dt.timedelta(days=k)].quota) for k in range(DAYS)] == [
        *[50] * 7,
        *[60] * 7,
    ]
    assert [int(rows[first + dt.timedelta(days=k)].warmup_day) for k in range(DAYS)] == list(
        range(1, DAYS + 1)
    )
    assert int(rows[today].quota) == 135 and rows[today].stage == "weeks 2-4"
    # 'quota --at' a day before the change says what that day's row says: version 1's
    yesterday = today - dt.timedelta(days=1)
    then = dt.datetime.combine(yesterday, dt.time(8), eras_zone()).astimezone(dt.UTC)
    asked = api.quota(ledger, BOX, then)
    row = rows[yesterday]
    assert (asked.day, asked.stage, asked.quota) == (row.warmup_day, row.stage, row.quota)
    assert asked.quota == 60
    # the report's memos, kept by that run, give the same frame
    again = reports.daily(ledger, [BOX], at=_now())
    assert again[["quota", "warmup_day"]].equals(frame[["quota", "warmup_day"]])


def test_a_gate_lets_through_what_the_new_version_allows_on_the_day_reached(ramped, tmp_path):
    """Re-judged, the mailbox was on day 1 at 100 a day; on day 15 the new ramp allows 135."""
    ledger, _ = ramped
    with Gate(BOX, ledger=ledger, password="x") as gate:
        with pytest.raises(NotAllowed):  # 61 > 60 under version 1
            gate.reserve([f"a{i}@example.com" for i in range(61)], now=_now())
        _raise_week1(ledger, tmp_path)
        gate.reserve([f"b{i}@example.com" for i in range(120)], now=_now())


def test_a_move_to_another_policy_keeps_the_days_walked_and_a_move_back_too(ramped, tmp_path):
    ledger, _ = ramped
    policies.add(ledger, "q", _file(tmp_path, "q", text(week1=100, growth=10, first="q1")))
    api.set_mailbox(ledger, BOX, policy="q")
    moved = api.quota(ledger, BOX, _now())
    assert (moved.day, moved.stage, moved.quota) == (15, "weeks 2-4", 135), moved.reasons
    api.set_mailbox(ledger, BOX, policy="p")
    back = api.quota(ledger, BOX, _now())
    assert (back.day, back.stage, back.quota) == (15, "weeks 2-4", 60), back.reasons
    with ledger.read() as conn:
        why = [r for (r,) in conn.exec_driver_sql("SELECT reason FROM event ORDER BY id")]
    assert why == [
        "policy q version 1 (was p version 1)",
        "policy p version 1 (was q version 1)",
    ]
    api.set_mailbox(ledger, BOX, policy="gentle")  # a preset: named without a version
    with ledger.read() as conn:
        last = conn.exec_driver_sql("SELECT reason FROM event ORDER BY id DESC").first()
    assert last == ("policy gentle (was p version 1)",)


def test_the_walk_resumed_from_a_memo_or_in_runs_agrees_with_the_full_step(tmp_path):
    """Pure: two changes (the second to a shorter health window, which the day sums of the
    current policy do not hold for the days before it), walked day by day, in runs, with
    reports' columns and from a memo kept the day after: the same answers."""
    today = dt.date(2026, 11, 30)
    now = dt.datetime.combine(today, dt.time(12), eras_zone()).astimezone(dt.UTC)
    first = today - dt.timedelta(days=40)
    days = tuple(
        DayCounts(first + dt.timedelta(days=k), 30 + k % 7, hard=1 if k % 9 == 0 else 0)
        for k in range(40)
    )

    def event(k: int, reason: str) -> MailboxEvent:
        on = first + dt.timedelta(days=k)
        return MailboxEvent(
            "policy", dt.datetime.combine(on, dt.time(9), eras_zone()), None, reason
        )

    texts = {
        "p version 1": text(),
        "p version 2": text(week1=100, growth=3),
        "q version 1": text(week1=80, growth=4, window=3),
    }
    final = parse_policy_text(texts["q version 1"], "q", "q")
    hist = History(
        mailbox=BOX,
        timezone=kit_zone(),
        days=days,
        events=(
            event(12, "policy p version 2 (was p version 1)"),
            event(30, "policy q version 1 (was p version 2)"),
        ),
        started=first,
        policy_texts=texts,
    )
    got = evaluate(final, hist, now)
    naive = evaluate(final, dataclasses.replace(hist, events=(), policy_texts={}), now)
    assert (got.day, got.quota) != (naive.day, naive.quota)  # the eras change the answer
    # in runs (SummedWalk over day sums, as a batch without memos) vs day by day
    from warmup.policy.walk import replay

    stepped, _ = replay(final, hist, today, runs=False)
    ran, _ = replay(final, hist, today, runs=True)
    assert (stepped.eff, stepped.last_healthy_quota) == (ran.eff, ran.last_healthy_quota)
    assert stepped.spec is final and ran.spec is final
    # a report's columns (runs of days at once) and its day-by-day timeline: the same days
    rows, _ = timeline_rows(final, hist, now)
    steps = walk_timeline(final, hist, now, explain=False)[0]
    assert [r[:5] for r in rows] == [
        (v.date.toordinal(), v.day, v.stage, v.quota, v.health) for v in steps
    ]
    assert steps[-1].quota == got.quota and steps[0].stage == "week 1"
    assert {v.stage for v in steps} >= {"week 1", "weeks 2-4"}
    # the change ten days back: a memo of yesterday is kept, and resumes to the same answer
    assert got.memo is not None and got.memo.upto == today - dt.timedelta(days=1)
    resumed = evaluate(final, dataclasses.replace(hist, memo=got.memo), now)
    assert (resumed.day, resumed.quota, resumed.stage) == (got.day, got.quota, got.stage)
    # the day after a change, none is: a walk resumed from it would replay the change, with
    # only the days the current policy's windows read
    near = today - dt.timedelta(days=9)  # the day after the change to q
    at = dt.datetime.combine(near, dt.time(12), eras_zone()).astimezone(dt.UTC)
    short = dataclasses.replace(hist, days=tuple(c for c in days if c.day < near))
    assert evaluate(final, short, at).memo is None
    assert evaluate(final, short, at + dt.timedelta(days=2)).memo is not None


def test_reasons_read_back_as_written():
    assert eras.refs(eras.policy_reason("p", 3, ("p", 2))) == ("p version 3", "p version 2")
    assert eras.refs(eras.policy_reason("gentle", None, ("p", 2))) == ("gentle", "p version 2")
    assert eras.refs(eras.policy_reason("p", 1)) == ("p version 1", None)
    assert eras.refs("policy ./mine.toml") is None
    assert eras.stored(["policy p version 3 (was default)", "pause"]) == {("p", 3)}


def test_policy_events_from_before_say_what_was_in_force_once_migrated(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """m024: events written before said only the policy after; a ``policy set``'s (stamped with
    the new version's own instant) is given the version before, a later event the one its
    previous event named, a first move by ``mailbox set`` nothing (unknown)."""
    ledger = ledger_before(ledger_url, M024)
    try:
        _ramped(ledger, tmp_path)
        _ramped(ledger, tmp_path, "ops@corp.example")
        _raise_week1(ledger, tmp_path)  # both mailboxes: policy p version 2
        policies.add(ledger, "q", _file(tmp_path, "q", text(first="q1")))
        api.set_mailbox(ledger, "ops@corp.example", policy="q")
        _ramped(ledger, tmp_path, "new@corp.example")
        api.set_mailbox(ledger, "new@corp.example", policy="q")
        # what the writer before wrote: no "(was ...)"
        with ledger.write() as conn:
            rows = conn.exec_driver_sql("SELECT id, reason FROM event").fetchall()
            for i, reason in rows:
                conn.execute(
                    sa.text("UPDATE event SET reason = :r WHERE id = :i"),
                    {"r": reason.split(" (was ")[0], "i": i},
                )
        assert api.quota(ledger, BOX, _now()).day == 1  # the defect, as it was
        rev = ledger.mailbox_rev(BOX)[1]
    finally:
        ledger.close()
    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        with ledger.read() as conn:
            got = conn.exec_driver_sql(
                "SELECT m.address, e.reason FROM event e JOIN mailbox m ON m.id = e.mailbox_id "
                "ORDER BY e.id"
            ).fetchall()
        assert got == [
            (BOX, "policy p version 2 (was p version 1)"),
            ("ops@corp.example", "policy p version 2 (was p version 1)"),
            ("ops@corp.example", "policy q version 1 (was p version 2)"),
            ("new@corp.example", "policy q version 1"),
        ]
        assert api.quota(ledger, BOX, _now()).day == 15  # the memo of before is not used
        assert ledger.mailbox_rev(BOX)[1] > rev
        assert any("policy changes of 2 mailboxes" in w for w in ledger.warnings)
    finally:
        ledger.close()


def test_a_plan_asked_before_a_change_fits_today_in_the_window_then(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """'plan --at' yesterday morning, before today's version dropped the sending window: its
    first row is the day 'quota --at' judges under the version then, whose window (09:00-12:00,
    5 minutes between sends) fits 24 more of the 50; it planned all 50 under today's version."""
    ledger = open_ledger(ledger_url)
    try:
        paced = text().replace('interval = "0s"', 'interval = "5m"', 1)
        windowed = paced + '\n[window]\nhours = ["09:00", "12:00"]\n'
        policies.add(ledger, "w", _file(tmp_path, "w", windowed))
        today = local_day(_now(), kit_zone())
        api.add_mailbox(
            ledger,
            BOX,
            "exmail",
            timezone=kit_zone(),
            policy="w",
            started=today - dt.timedelta(days=3),
        )
        # today: no window, no pacing (paced, the rest of today fits fewer than 50 after
        # ~19:50 local; the test runs at midday in its zone)
        policies.update(ledger, "w", _file(tmp_path, "w2", text()))
        then = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(10), eras_zone())
        asked = api.quota(ledger, BOX, then.astimezone(dt.UTC))
        assert "fits about 24 more sends of the 50 left" in asked.reasons[-1], asked.reasons
        [first, *_] = api.plan(ledger, BOX, 2, then.astimezone(dt.UTC))
        assert (first.quota, first.planned) == (50, 24), first
        assert "window (09:00-12:00) fits about 24 sends" in first.notes[0], first.notes
        # today, under the version without a window nor pacing: all 50, at any hour
        [now_row] = api.plan(ledger, BOX, 1, _now())
        assert (now_row.quota, now_row.planned, now_row.notes) == (50, 50, ()), now_row
    finally:
        ledger.close()


def test_a_version_that_drops_the_domain_cap_keeps_the_days_it_capped(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Under version 1 (domain cap 45) a mailbox sending 10 a day beside one sending 30 could
    deliver 15 and qualified each day; version 2 (three days ago) drops the cap: those days keep
    their verdicts (days 8-10, under version 2, do not qualify at 10 of 50) for quota (cold, from its memo, in the batch), reports, plans and the gate;
    a later write on a capped day of the other mailbox is seen through the memos."""
    ledger = open_ledger(ledger_url)
    try:
        policies.add(ledger, "p", _file(tmp_path, "p", "domain_cap = 45\n" + text()))
        today = local_day(_now(), kit_zone())
        first = today - dt.timedelta(days=10)
        noon = [
            dt.datetime.combine(first + dt.timedelta(days=k), dt.time(12), eras_zone())
            for k in range(10)
        ]
        boxes = {}
        for address, n in ((BOX, 10), ("ops@corp.example", 30)):
            boxes[address] = api.add_mailbox(
                ledger, address, "exmail", timezone=kit_zone(), policy="p", started=first
            )
            ledger.record(
                boxes[address],
                sends=[
                    SendIn(f"r{k}-{i}@ex.example", at + dt.timedelta(minutes=i))
                    for k, at in enumerate(noon)
                    for i in range(n)
                ],
            )
        assert api.quota(ledger, BOX, _now()).day == 11
        policies.update(ledger, "p", _file(tmp_path, "p2", text()))
        policy_changes_at(ledger, noon[7])
        cold = api.quota(ledger, BOX, _now())
        # days 1-7 qualified under the cap; 10 of version 2's 50 do not qualify days 8-10
        assert (cold.day, cold.quota) == (8, 50), cold.reasons
        assert _memo_upto(ledger, BOX) == today - dt.timedelta(days=1)  # kept by that answer
        warm = api.quota(ledger, BOX, _now())
        assert (warm.day, warm.quota) == (cold.day, cold.quota)
        batch = {a.mailbox: a for a in api.quotas(ledger, ledger.mailboxes(), _now())}
        assert (batch[BOX].day, batch[BOX].quota) == (cold.day, cold.quota)
        frame = reports.daily(ledger, [BOX], at=_now())
        assert [int(d) for d in frame["warmup_day"]] == [*range(1, 9), 8, 8, 8]
        [ahead] = api.plan(ledger, BOX, 1, _now())
        assert (ahead.day, ahead.quota) == (cold.day, cold.quota)
        with Gate(BOX, ledger=ledger, password="x") as gate:
            assert gate.policy.domain_cap  # reads the domain's days for version 1's
            assert gate.preview(["a@example.com"], now=_now())[0].day == cold.day
        # the other mailbox's day 3 (capped) backfilled to 70: this one could deliver none of
        # it. The memo kept with the domain's stamp is dropped; a walk from the first day agrees.
        ledger.record(
            boxes["ops@corp.example"],
            sends=[
                SendIn(f"late{i}@ex.example", noon[2] + dt.timedelta(minutes=40 + i))
                for i in range(40)
            ],
        )
        again = api.quota(ledger, BOX, _now())
        with ledger.write() as conn:
            conn.exec_driver_sql("DELETE FROM walk_memo")
        fresh = api.quota(ledger, BOX, _now())
        assert (again.day, again.quota, again.stage) == (fresh.day, fresh.quota, fresh.stage)
        assert again.day != cold.day, again.reasons  # the backfill moved the verdict
    finally:
        ledger.close()


def _memo_upto(ledger: Ledger, address: str) -> dt.date | None:
    box = ledger.mailbox(address)
    with ledger.read() as conn:
        got = conn.execute(
            sa.text("SELECT upto FROM walk_memo WHERE mailbox_id = :i"), {"i": box.id}
        ).scalar()
    return None if got is None else dt.date.fromisoformat(str(got)[:10])
