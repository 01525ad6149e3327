"""The walk memo: resuming the policy's walk from a kept state gives exactly the full walk's answer.

What the ledger keeps per mailbox (``walk_memo``, :attr:`warmup.policy.Allowance.memo`) and hands
back in :attr:`History.memo` with only the days and events after it must not change a single
answer of :func:`evaluate`, :func:`project` or :func:`walk_timeline`. Histories here are drawn to
hit every rule: bounce spikes that hold, step back and pause, resumes (on the day of the pause
too), manual pauses, provider back-offs, idle gaps that step back and restart, caps and a late
start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import WORKING_DAYS_POLICY, property_specs
from warmup.policy import (
    DayCounts,
    History,
    MailboxEvent,
    eras,
    evaluate,
    project,
    walk_timeline,
)
from warmup.policy.engine import timeline_checkpoint, timeline_rows
from warmup.policy.walk import (
    DayRows,
    SummedWalk,
    day_start,
    drive_all,
    lookback,
    replay,
    start,
    walk_to,
    walk_to_steps,
)

TODAY = dt.date(2026, 11, 16)
ZONES = ("Asia/Shanghai", "UTC", "America/Los_Angeles", "Pacific/Kiritimati")
SPECS = property_specs()
PROPS = settings(
    max_examples=int(os.environ.get("WARMUP_PROP_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def instant(day: dt.date, minute: int, tz: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(), ZoneInfo(tz)) + dt.timedelta(minutes=minute)
    return local.astimezone(dt.UTC)


# What a run of days is like: (idle days in ten, spread of sent above the fewest, spike days in
# ten, bounces on other days). Idle 10 is a gap with no day at all (long enough to step back or
# start over); idle 0 without spikes is a run of ordinary days, which SummedWalk.run walks in one
# loop. Bounces on days without a spike are up to a 60th of the sends of each kind: near the
# health lines.
KINDS = [
    (0, 0, 0, False),  # the same count every day, no bounce
    (0, 10, 1, True),  # steady, a little jitter, now and then a bounce spike
    (0, 320, 2, True),  # every day, any count (a tenth of days a handful), spikes
    (0, 320, 1, True),  # every day, now and then a bounce spike
    (2, 320, 1, True),  # idle days between, now and then a spike
    (2, 100, 3, True),
    (5, 320, 1, True),  # now and then
    (0, 320, 10, True),  # spikes every day
    (10, 0, 0, False),  # silence
    (10, 0, 0, False),
]
# The runs of a history, oldest first: (length, kind, fewest sent a day).
RUNS = st.lists(
    st.tuples(st.integers(1, 60), st.sampled_from(KINDS), st.integers(1, 320)),
    min_size=1,
    max_size=8,
)
# Policies a ``policy`` event may name (warmup.policy.eras): presets by name, and stored
# versions whose health windows are not the presets' 7 days (the day sums a report or a cold
# batch takes are the current policy's: the walk's runs must not read them under another).
ERA_TEXTS = {
    f"w{w} version 1": (
        Path(__file__).parent.parent / "warmup" / "policy" / "presets" / "default.toml"
    )
    .read_text()
    .replace("window_days = 7", f"window_days = {w}")
    .replace('name = "default"\n', "")
    for w in (2, 14)
}
ERA_REFS = st.sampled_from(["default", "gentle", "exmail", *ERA_TEXTS])
CAPS = st.none() | st.integers(1, 400)  # --cap 0 is refused
# An event: (kind, minutes before now, a throttle's hours, a policy event's policy after and
# before, a cap event's cap after and before); the minutes fall within the span.
EVENT = st.tuples(
    st.sampled_from(["pause", "resume", "resume", "throttle", "policy", "cap"]),
    st.integers(0, 60 * 24 * 122),
    st.integers(1, 72),
    ERA_REFS,
    ERA_REFS,
    CAPS,
    CAPS,
)
CEILINGS = st.none() | st.integers(50, 3000)
STARTED = st.none() | st.integers(0, 120)  # days before today, within the span (below)
SPEC_NAMES = st.sampled_from(sorted(SPECS))


def _days(
    span: int, runs: list[tuple[int, tuple[int, int, int, bool], int]], seed: int
) -> list[DayCounts]:
    """The days from ``span`` days ago to today, run after run (the last one goes on to today),
    each day's counts jittered by ``seed`` within its run's bounds."""
    rng = random.Random(seed)
    days = []
    first = span  # days before today
    for i, (length, (idle, spread, spikes, bounces), low) in enumerate(runs):
        end = -1 if i == len(runs) - 1 else max(first - length, -1)
        for k in range(first, end, -1):
            if rng.randrange(10) < idle:  # idle days, and whole idle gaps
                continue
            sent = min(low + rng.randint(0, spread), 320)
            if spread == 320 and rng.randrange(10) == 0:
                sent = rng.randint(1, 5)  # a handful: too few to judge, or to qualify
            spike = rng.randrange(10) < spikes
            top = max(sent // (3 if spike else 60), 1) if spike or bounces else 0
            hard, soft, block = (rng.randint(0, top) for _ in range(3))
            complaint = rng.randint(0, 2) if spike else 0
            days.append(DayCounts(TODAY - dt.timedelta(days=k), sent, hard, soft, block, complaint))
        first = end
        if first < 0:
            break
    return days


SPANS = st.integers(1, 120)  # days of history
# Long histories, mostly steady: the warm-up done within months, then a stretch in the last
# stage with now and then a spike, a hold, an idle gap (what a report walks in numpy).
LONG_RUNS = st.lists(
    st.tuples(
        st.integers(20, 240),
        st.sampled_from([KINDS[0], KINDS[1], KINDS[1], KINDS[3], KINDS[4], KINDS[8]]),
        st.integers(1, 320),
    ),
    min_size=1,
    max_size=5,
)


@st.composite
def histories(  # type: ignore[no-untyped-def]
    draw, spans=SPANS, runs=RUNS, zones=ZONES, names=SPEC_NAMES
) -> tuple[str, History, dt.datetime]:
    """A history drawn as a few runs of days (see :data:`RUNS`), expanded with per-day jitter
    from one drawn seed: few draws per example, and shrinking still shrinks the runs."""
    tz = draw(st.sampled_from(zones))
    span = draw(spans)
    days = _days(span, draw(runs), draw(st.integers(0, 2**32 - 1)))
    if days and draw(st.booleans()):  # a long silence before recent days
        cut, gap = draw(st.tuples(st.integers(0, 120), st.integers(0, 40)))
        cut, gap = cut % len(days), dt.timedelta(days=gap)
        days = [c._replace(day=c.day - gap) if i < cut else c for i, c in enumerate(days)]
    now = instant(TODAY, draw(st.integers(0, 24 * 60 - 1)), tz)
    name, started = draw(names), draw(STARTED)
    events = []
    n = draw(st.integers(0, 6))
    drawn = draw(st.lists(EVENT, min_size=n, max_size=n))
    for kind, minutes, hours, after, before, cap_after, cap_before in drawn:
        t = now - dt.timedelta(minutes=minutes % (60 * 24 * (span + 2) + 1))
        until = t + dt.timedelta(hours=hours) if kind == "throttle" else None
        why = f"policy {after} (was {before})" if kind == "policy" else kind
        if kind == "cap":
            why = eras.cap_reason(cap_after, cap_before)
        events.append(MailboxEvent(kind, t, until, why))
    hist = History(
        mailbox="a@corp.example",
        timezone=tz,
        days=tuple(sorted(days, key=lambda c: c.day)),
        events=tuple(sorted(events, key=lambda e: e.at)),
        last_send_at=now - dt.timedelta(minutes=draw(st.integers(0, 600))) if days else None,
        cap=draw(CAPS),
        provider_ceiling=draw(CEILINGS),
        started=None if started is None else TODAY - dt.timedelta(days=started % (span + 1)),
        policy_texts=ERA_TEXTS,
    )
    return name, hist, now


def kept_at(hist: History, day: dt.date) -> bool:
    """Whether a memo at ``day`` is kept: no ``policy`` or ``cap`` event on that day or later,
    which a walk resumed from it would replay (:meth:`warmup.policy.walk.Walk.memo`)."""
    zone = ZoneInfo(hist.timezone)
    return not any(
        e.kind in eras.ERA_KINDS and e.at.astimezone(zone).date() >= day for e in hist.events
    )


def memo_view(spec, hist: History, upto: dt.date, now: dt.datetime) -> History | None:  # type: ignore[no-untyped-def]
    """``hist`` as the ledger hands it over with a memo at ``upto``: the walk's state there, the
    days from ``lookback`` before it, the events the walk has not applied plus those in force."""
    _, state = replay(spec, hist, TODAY, checkpoint=upto)
    if state is None:
        return None
    since = upto - dt.timedelta(days=lookback(spec))
    applied = day_start(upto - dt.timedelta(days=1), hist.timezone)
    manual = [e for e in hist.events if e.kind in ("pause", "resume") and e.at <= applied][-1:]
    kept = [
        e
        for e in hist.events
        if e.at > applied or e in manual or (e.kind == "throttle" and e.until and e.until > now)
    ]
    return dataclasses.replace(
        hist, memo=state, days=tuple(c for c in hist.days if c.day >= since), events=tuple(kept)
    )


# Health windows other than the presets' 7 days (None: the policy's own): the memo's lookback
# is the window and one day, or the growth limit's 7 days, whichever is longer.
WINDOWS = st.sampled_from([None, None, 1, 2, 3, 5, 6, 8, 10, 14])


def with_hours(spec, hours):  # type: ignore[no-untyped-def]
    """``spec`` with its ``[window]``'s hours replaced (its weekdays kept)."""
    return dataclasses.replace(spec, window=dataclasses.replace(spec.window, ranges=hours))


def with_window(spec, w: int | None):  # type: ignore[no-untyped-def]
    if w is None:
        return spec
    return dataclasses.replace(spec, health=dataclasses.replace(spec.health, window_days=w))


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130), WINDOWS)
def test_evaluate_from_a_memo_equals_the_full_walk(case, back, w):
    name, hist, now = case
    spec = with_window(SPECS[name], w)
    full = evaluate(spec, hist, now)
    view = memo_view(spec, hist, TODAY - dt.timedelta(days=back), now)
    if view is None:
        return
    resumed = evaluate(spec, view, now)
    assert resumed == full
    assert resumed.reasons == full.reasons
    # The memo each answer offers to keep is the same state, however it was reached.
    assert resumed.memo == full.memo


@pytest.mark.slow
@PROPS
@given(histories())
def test_the_quiet_replay_reaches_the_explained_walks_state(case):
    """evaluate() walks the past days without building their reasons (issue #15): the state it
    offers to keep, a health pause's full sentence included, is the one a walk explaining every
    day (the report's timeline with reasons) reaches at the start of yesterday."""
    name, hist, now = case
    spec = SPECS[name]
    full = evaluate(spec, hist, now)
    if full.memo is None:
        return
    yesterday = now.astimezone(ZoneInfo(hist.timezone)).date() - dt.timedelta(days=1)
    _, state = walk_timeline(spec, hist, instant(yesterday, 0, hist.timezone), explain=True)
    assert full.memo == state


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130), st.integers(1, 40))
def test_plan_from_a_memo_equals_the_full_walk(case, back, ahead):
    name, hist, now = case
    spec = SPECS[name]
    view = memo_view(spec, hist, TODAY - dt.timedelta(days=back), now)
    if view is None:
        return
    assert project(spec, view, now, ahead) == project(spec, hist, now, ahead)


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130))
def test_timeline_from_a_memo_is_the_tail_of_the_full_one(case, back):
    name, hist, now = case
    spec = SPECS[name]
    upto = TODAY - dt.timedelta(days=back)
    full, state = walk_timeline(spec, hist, now, explain=False)
    # The report keeps its own memo, from the same walk without reasons.
    _, memo = walk_timeline(spec, hist, instant(upto, 0, hist.timezone), explain=False)
    if memo.last_active is None:
        return
    # Reports pass every event: the memo says which the walk has applied.
    tail, tail_state = walk_timeline(spec, dataclasses.replace(hist, memo=memo), now, explain=False)
    assert tail == [d for d in full if d.date >= upto]
    assert tail_state == state


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130), WINDOWS)
def test_timeline_from_a_memo_with_lookback_days_any_window(case, back, w):
    """As the report reads it (timeline_cache): the memo, every event, and only the days from
    lookback days before the memo's day."""
    name, hist, now = case
    spec = with_window(SPECS[name], w)
    upto = TODAY - dt.timedelta(days=back)
    full, state = walk_timeline(spec, hist, now, explain=False)
    _, memo = walk_timeline(spec, hist, instant(upto, 0, hist.timezone), explain=False)
    if memo.last_active is None:
        return
    if not kept_at(hist, upto):  # a report keeps none there: an older policy's windows
        return
    since = upto - dt.timedelta(days=lookback(spec))
    view = dataclasses.replace(hist, memo=memo, days=tuple(c for c in hist.days if c.day >= since))
    tail, tail_state = walk_timeline(spec, view, now, explain=False)
    assert tail == [d for d in full if d.date >= upto]
    assert tail_state == state


def test_a_resume_on_the_eve_of_the_memo_judges_the_window_the_memo_reads():
    """A memo holds the walk at the start of its day with the events of the day before not yet
    applied: a resume on that eve is applied by the walk resumed from the memo, and what it
    forgives is judged on the window before the resume's day plus that day, which begins
    ``window_days + 1`` days before the memo's day. Read one day less and the resume here forgives
    a step back (6 bounces in 70 sends, 8.6%) where the whole window holds only (6 in 170, 3.5%),
    and the mailbox drops a stage it never dropped (seen by test_gate_paths on seed 79)."""
    spec, tz = SPECS["default"], "Asia/Shanghai"
    memo_day = TODAY - dt.timedelta(days=1)
    eve = memo_day - dt.timedelta(days=1)
    w = spec.health.window_days
    first = eve - dt.timedelta(days=w)  # the resume's window's first day
    days = [
        DayCounts(TODAY - dt.timedelta(days=k), 40) for k in range(40, (TODAY - first).days, -1)
    ]
    days.append(DayCounts(first, 100))
    days += [DayCounts(first + dt.timedelta(days=k), 10) for k in range(1, w)]
    days.append(DayCounts(eve, 10, hard=6))
    now = instant(TODAY, 9 * 60, tz)
    hist = History(
        mailbox="a@corp.example",
        timezone=tz,
        days=tuple(days),
        events=(MailboxEvent("resume", instant(eve, 12 * 60, tz), None, "resume"),),
        last_send_at=instant(eve, 11 * 60, tz),
    )
    assert lookback(spec) == w + 1
    view = memo_view(spec, hist, memo_day, now)
    assert view is not None and view.days[0].day == first
    full, resumed = evaluate(spec, hist, now), evaluate(spec, view, now)
    assert resumed == full and resumed.reasons == full.reasons
    assert resumed.memo == full.memo
    # the day that decides: without it the resume forgives a step back and costs a stage
    short = evaluate(spec, dataclasses.replace(view, days=view.days[1:]), now)
    assert (short.day, short.stage) != (full.day, full.stage)


def as_rows(line) -> list[tuple]:  # type: ignore[no-untyped-def]
    """:func:`walk_timeline`'s days as :class:`DayRows` lists them."""
    return [
        (v.date.toordinal(), v.day, v.stage, v.quota, v.health, v.rate, v.complaint_rate)
        + (v.paused, v.resumed, v.closed)
        for v in line
    ]


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130))
def test_the_reports_walk_in_runs_is_the_day_by_day_walk(case, back):
    """The report's walk (:func:`timeline_rows`: runs of ordinary days in one loop, issue #15)
    lists every day as the day-by-day walk does, field for field, and reaches the same state;
    from a memo too."""
    name, hist, now = case
    spec = SPECS[name]
    views = [hist]
    upto = TODAY - dt.timedelta(days=back)
    _, memo = walk_timeline(spec, hist, instant(upto, 0, hist.timezone), explain=False)
    if memo.last_active is not None:
        views.append(dataclasses.replace(hist, memo=memo))
    for view in views:
        full, state = walk_timeline(spec, view, now, explain=False)
        # as quota/plan read it, then as a report does: the counts as arrays, sums in numpy
        for reads in ((view, now), as_report_reads(spec, view, now)):
            rows, rows_state = timeline_rows(spec, *reads)
            assert list(rows) == as_rows(full)
            assert rows_state == state


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(0, 130), st.integers(0, 40))
def test_the_reports_walk_keeps_its_state_at_the_checkpoint(case, back, since):
    """The report's walk takes the state at the start of a past day (its memo of yesterday,
    :func:`timeline_checkpoint`): the state the report's walk to that day ends in (None when
    there was no active day before it); from a memo too; its rows and final state unchanged."""
    name, hist, now = case
    spec = SPECS[name]
    today = now.astimezone(ZoneInfo(hist.timezone)).date()
    checkpoint = today - dt.timedelta(days=since)
    views = [hist]
    upto = TODAY - dt.timedelta(days=back)
    _, memo = walk_timeline(spec, hist, instant(upto, 0, hist.timezone), explain=False)
    if memo.last_active is not None and memo.upto <= checkpoint:
        views.append(dataclasses.replace(hist, memo=memo))
    for view in views:
        _, there = walk_timeline(spec, view, instant(checkpoint, 0, hist.timezone), explain=False)
        want = there if there.last_active is not None and kept_at(hist, checkpoint) else None
        full, state = walk_timeline(spec, view, now, explain=False)
        for reads in ((view, now), as_report_reads(spec, view, now)):
            rows, rows_state, got = timeline_checkpoint(spec, *reads, checkpoint=checkpoint)
            assert got == want
            assert list(rows) == as_rows(full)
            assert rows_state == state


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(0, 130))
def test_the_cold_replay_in_runs_is_the_day_by_day_walk(case, back):
    """Without a memo, :func:`replay` walks ordinary days in runs (``warmup quota`` cold, issue
    #15): at the checkpoint and at today it reaches the day-by-day walk's state exactly, and
    today's verdict and the memo :func:`evaluate` keeps are the same."""
    name, hist, now = case
    spec = SPECS[name]
    today = now.astimezone(ZoneInfo(hist.timezone)).date()
    checkpoint = today - dt.timedelta(days=back)
    by_runs, memo = replay(spec, hist, today, checkpoint)
    by_day, day_memo = replay(spec, hist, today, checkpoint, runs=False)
    assert memo == day_memo
    assert by_runs.state(today) == by_day.state(today)
    assert type(by_runs) is type(by_day)  # a plan extends its counts: a plain Walk
    yesterday = today - dt.timedelta(days=1)
    (walk, verdict, kept), (day_walk, day_verdict, day_kept) = (
        walk_to(spec, hist, today, now, checkpoint=yesterday, runs=runs) for runs in (True, False)
    )
    assert verdict == day_verdict
    assert verdict.reasons == day_verdict.reasons
    assert kept == day_kept
    assert walk.state(today) == day_walk.state(today)


def cold_in_one_batch(cases, specs=SPECS):  # type: ignore[no-untyped-def]
    """Walk each ``(policy name, history, now)`` of ``cases`` as a cold ``warmup quota`` of
    every mailbox does (the days before today of all of them as arrays in one
    :func:`~warmup.policy.steady.batch_sums`, their stretches walked in numpy with rules computed
    for the whole batch), all of them at once (their stretches walked together, as
    ``warmup quota``'s batch walks them: ``drive_all``) and day by day, and assert that today's
    verdict, its reasons, the memo kept and the state reached are the same. Returns the
    batch's day sums."""
    import numpy as np

    from warmup.policy.steady import batch_sums

    rows, starts, windows, todays = [], [], [], []
    for name, hist, now in cases:
        today = now.astimezone(ZoneInfo(hist.timezone)).date()
        before = [c for c in hist.days if c.day < today]  # as the ledger reads them
        ordinals = np.array([c.day.toordinal() for c in before], dtype=np.int64)
        counts = np.array(
            [(c.sent, c.hard, c.soft, c.block, c.complaint) for c in before], dtype=np.int64
        ).reshape(len(before), 5)
        rows.append((ordinals, counts))
        starts.append(hist.started)
        windows.append(specs[name].health.window_days)
        todays.append(today)
    made = batch_sums(rows, starts, windows)
    # ... and all of them at once, the stretches they reach together walked together
    # (drive_all, as warmup quota's batch does): the same again
    together = drive_all(
        [
            walk_to_steps(
                specs[name],
                dataclasses.replace(hist, sums=lambda w, sums=sums: sums),
                today,
                now,
                checkpoint=today - dt.timedelta(days=1),
            )
            for (name, hist, now), today, sums in zip(cases, todays, made, strict=True)
        ]
    )
    for (name, hist, now), today, sums, (t_walk, t_verdict, t_kept) in zip(
        cases, todays, made, together, strict=True
    ):
        spec = specs[name]
        yesterday = today - dt.timedelta(days=1)
        batched = dataclasses.replace(hist, sums=lambda w, sums=sums: sums)
        walk, verdict, kept = walk_to(spec, batched, today, now, checkpoint=yesterday)
        day_walk, day_verdict, day_kept = walk_to(
            spec, hist, today, now, checkpoint=yesterday, runs=False
        )
        for v, memo, w in ((verdict, kept, walk), (t_verdict, t_kept, t_walk)):
            assert v == day_verdict
            assert v.reasons == day_verdict.reasons
            assert memo == day_kept
            assert w.state(today) == day_walk.state(today)
    return made


@pytest.mark.parametrize("widths", [(7,), (1, 7, 14)])
def test_a_batch_of_day_sums_is_each_mailboxs_own(widths):
    """The day sums :func:`~warmup.policy.steady.batch_sums` computes for a batch of mailboxes at
    once (their days one after the other, windows and the busiest of the week before taken
    over all of them) are each mailbox's own (:func:`~warmup.policy.walk.day_sums`, pure
    Python): no look-back reaches into the mailbox before, whether every mailbox sends every
    day (the rows are the days) or some skip days, start late, or have one day or a few; and
    each mailbox in a batch of its own."""
    import numpy as np

    from warmup.policy.steady import batch_sums
    from warmup.policy.walk import day_sums

    rng = random.Random(len(widths))
    rows, starts, windows, expected = [], [], [], []
    for k in range(40):
        n = rng.choice((1, 2, 6, 7, 8, 30, 200))
        first = TODAY - dt.timedelta(days=n + rng.randrange(5))
        days = [
            DayCounts(first + dt.timedelta(days=d), rng.randrange(60), *(rng.randrange(3),) * 4)
            for d in range(n)
            if len(widths) == 1 or k % 3 or rng.random() < 0.7  # gaps where widths vary
        ]
        started = first + dt.timedelta(days=rng.randrange(n)) if k % 5 == 4 else None
        w = rng.choice(widths)
        rows.append(
            (
                np.array([c.day.toordinal() for c in days], dtype=np.int64),
                np.array([c[1:] for c in days], dtype=np.int64).reshape(len(days), 5),
            )
        )
        starts.append(started)
        windows.append(w)
        kept = {c.day: c for c in days if started is None or c.day >= started}
        expected.append(day_sums(kept, w))
    alone = [batch_sums([r], [s], [w])[0] for r, s, w in zip(rows, starts, windows, strict=True)]
    for got, want in zip([*batch_sums(rows, starts, windows), *alone], expected * 2, strict=True):
        assert got.origin == want.origin
        assert list(got.sent) == want.sent
        assert [got.window[k] for k in range(len(want.window))] == want.window
        assert list(got.sums[0 : len(want.sums)]) == list(want.sums)
        assert list(got.rows[0 : len(want.rows)]) == list(want.rows)


def assert_rules_shared(made, specs):  # type: ignore[no-untyped-def]
    """The batch's stretches took their rules (health, hold, cap, stop days) from one
    computation per policy over the whole batch (``steady.Shared``), not mailbox by mailbox."""
    shared = made[0].stretches.keywords["shared"]
    assert all(d.stretches.keywords["shared"] is shared for d in made)
    assert {id(spec) for spec, _ in shared.made.values()} == {id(s) for s in specs}


def test_stretches_walked_together_hold_at_each_ones_own_healthy_quota():
    """Walked together (``drive_all``), a stretch whose first day is held keeps its own walk's
    last healthy quota, not the last quota of the stretch before it in the set (another
    mailbox's). B sends 45 a day; A 40, with 10 bounces on its seventh day (3.6% of its week):
    its eighth day, the ramp's first and a stretch's first, holds at week 1's 50, and its 30
    sends qualify; held at B's 90 they would fall short."""
    spec = SPECS["default"]
    a, hard = [40] * 120, [0] * 120
    a[7], hard[6] = 30, 10
    tz = "UTC"
    now = instant(TODAY, 600, tz)
    cases = [
        ("default", History("b@corp.example", tz, tuple(daily([45] * 120))), now),
        ("default", History("a@corp.example", tz, tuple(daily(a, hard))), now),
    ]
    cold_in_one_batch(cases, {"default": spec})
    walk, _, _ = walk_to(spec, cases[1][1], TODAY, now, runs=False)
    assert walk.short_days == () and walk.eff > 28  # nothing fell short; past the ramp


@pytest.mark.slow
@PROPS
@given(st.lists(histories(st.integers(60, 400), LONG_RUNS), min_size=1, max_size=6))
def test_a_cold_batch_of_mailboxes_is_each_ones_day_by_day_walk(cases):
    """Long histories of several mailboxes (policies, zones, caps, ceilings, pauses, resumes,
    back-offs, spikes, idle gaps drawn for each) walked cold in one batch, as ``warmup quota``
    walks every mailbox of a ledger (issue #15): each one's answer is its day-by-day walk's."""
    cold_in_one_batch(cases)


# A stage of one volume that lasts (a stretch in it ends on the day the stage changes after):
# the working-days policy without its domain cap, its ramp one volume for 60 days.
LONG_STAGE_POLICY = (
    WORKING_DAYS_POLICY.replace('name = "working-days"', 'name = "long-stage"')
    .replace("domain_cap = 120\n", "")
    .replace("days = 14\ndaily = [80, 200]", "days = 60\ndaily = 120")
)
assert "domain_cap" not in LONG_STAGE_POLICY and "daily = 120" in LONG_STAGE_POLICY


def test_a_cold_batch_of_varied_mailboxes_is_each_ones_day_by_day_walk():
    """Years of mailboxes under every policy (and one with a long stage of one volume, one
    with ``qualify = 1`` and a short window), in two zones, with and without a cap, sending
    from a handful up to a drawn most a day (days that fall short of qualifying, a growth limit
    below the stage's volume), with spikes that hold the ramp (one ending yesterday), an idle
    day, a pause and its resume, walked cold in one batch: each is its day-by-day walk, and
    the stretches took their rules from one computation per policy for the whole batch."""
    import tomllib

    from warmup.policy.calendar import Window
    from warmup.policy.spec import parse_policy

    specs = dict(SPECS)
    specs["long-stage"] = parse_policy(tomllib.loads(LONG_STAGE_POLICY), "long-stage")
    specs["slow-gaps"] = dataclasses.replace(
        SPECS["default"], qualify=1.0, window=Window(ranges=((dt.time(9), dt.time(12)),))
    )
    rng = random.Random(15)
    cases = []
    for k, name in enumerate(sorted(specs)):
        for tz, cap in [("Asia/Shanghai", None), ("America/Los_Angeles", 120 + 7 * k)] * 3:
            h = specs[name].health
            rate = (2 * h.hold_above + min(h.step_back_above, h.pause_above)) / 3
            spikes = {rng.randrange(20, 300) for _ in range(6)} | {1 + rng.randrange(4)}
            most = rng.choice((100, 160, 320))
            days = []
            for d in range(365, 0, -1):
                sent = rng.choice((rng.randint(1, most // 2), rng.randint(most // 2, most)))
                hard = int(rate * sent * h.window_days) if d in spikes else int(d % 37 == 0)
                if d != 200:  # an idle day
                    days.append(DayCounts(TODAY - dt.timedelta(days=d), sent, hard=hard))
            now = instant(TODAY, 600, tz)
            pause = instant(TODAY - dt.timedelta(days=150), 700, tz)
            events = (
                MailboxEvent("pause", pause, None, "pause"),
                MailboxEvent("resume", pause + dt.timedelta(days=3), None, "resume"),
            )
            cases.append((name, History("a@corp.example", tz, tuple(days), events, cap=cap), now))
    made = cold_in_one_batch(cases, specs)
    assert_rules_shared(made, specs.values())


def test_a_cold_batch_pins_the_held_days_and_the_stage_change_of_a_stretch():
    """Two histories built to reach rules of a stretch walked cold in a batch that drawn ones
    seldom reach. Sending 100 a day in the last stage, a day of 140 with 3.9% of
    bounces in its window two days before today: the day after holds at the quota of the last
    day that did not (200, not its own 280), so its 100 qualify, and the memo keeps 200 as
    the last healthy quota. A stage of one volume (120 for 60 days): its stretch ends on the day
    the stage changes after; the next day is the last stage's (quota 200), where 70 fall
    short."""
    base = SPECS["default"]
    first, ramp, last = base.stages
    long_stage = dataclasses.replace(
        base, stages=(first, dataclasses.replace(ramp, days=60, daily_from=120, daily_to=120), last)
    )
    specs = {"default": base, "long-stage": long_stage}
    held = [100] * 300
    held[-3] = 140
    changed = [100] * 200
    changed[67] = 70  # the 68th active day: 7 + 60 qualifying days before it
    tz = "UTC"
    now = instant(TODAY, 600, tz)
    cases = [
        ("default", History("a@corp.example", tz, tuple(daily(held, [0] * 297 + [29, 0, 0]))), now),
        ("long-stage", History("b@corp.example", tz, tuple(daily(changed))), now),
    ]
    made = cold_in_one_batch(cases, specs)
    assert_rules_shared(made, specs.values())
    yesterday = TODAY - dt.timedelta(days=1)
    _, _, memo = walk_to(base, cases[0][1], TODAY, now, checkpoint=yesterday, runs=False)
    assert memo is not None and memo.last_healthy_quota == 200
    walk, _, _ = walk_to(long_stage, cases[1][1], TODAY, now, checkpoint=yesterday, runs=False)
    assert walk.eff == 199


@pytest.mark.slow
@PROPS
@given(histories(st.integers(100, 700), LONG_RUNS))
def test_the_reports_stretches_are_the_day_by_day_walk(case):
    """Long histories, most of them in the last stage: the report's walk, which takes the
    stretches whose quota does not depend on the warm-up day in numpy
    (:mod:`warmup.policy.steady`), lists every day as the day-by-day walk does and reaches
    the same state."""
    name, hist, now = case
    report_walk_is_day_walk(SPECS[name], hist, now)


def report_walk_is_day_walk(spec, hist, now):  # type: ignore[no-untyped-def]
    """Assert that the report's walk (sums as arrays, stretches in numpy) lists every day as the
    day-by-day walk does and reaches the same state; return its rows and that state."""
    full, state = walk_timeline(spec, hist, now, explain=False)
    rows, rows_state = timeline_rows(spec, *as_report_reads(spec, hist, now))
    assert list(rows) == as_rows(full)
    assert rows_state == state
    return rows, state


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_year_in_the_last_stage_is_walked_in_stretches(name):
    """A report's walk of a steady year, with a spike that holds the ramp for a week: most days
    are walked as arrays (blocks of columns, not a tuple per day), and the rows are the
    day-by-day walk's."""
    spec = SPECS[name]
    h = spec.health
    # bounces on day 90 before today: between the hold and the step-back lines of the window
    spike = int(
        (2 * h.hold_above + min(h.step_back_above, h.pause_above)) / 3 * 150 * h.window_days
    )
    days = tuple(
        DayCounts(
            TODAY - dt.timedelta(days=k),
            150 + (k * 7) % 30,
            hard=spike if k == 90 else int(k % 40 == 0),
        )
        for k in range(365, 0, -1)
    )
    tz = "Asia/Shanghai"
    hist = History("a@corp.example", tz, days=days)
    now = instant(TODAY, 600, tz)
    full, state = walk_timeline(spec, hist, now, explain=False)
    rows, rows_state = timeline_rows(spec, *as_report_reads(spec, hist, now))
    assert list(rows) == as_rows(full)
    assert rows_state == state
    in_blocks = sum(len(p["ordinal"]) for p in rows.parts if isinstance(p, dict))
    assert in_blocks >= 250, in_blocks
    assert "hold" in {r[4] for r in rows}


def as_report_reads(spec, hist, now):
    """``(hist without days, now, DaySums)`` as :func:`warmup.reports.daily` gives the walk: the
    rollup rows as day ordinals and a count matrix (every row, before ``started`` too)."""
    import numpy as np

    from warmup.policy.steady import array_sums

    ordinals = np.array([c.day.toordinal() for c in hist.days], dtype=np.int64)
    counts = np.array(
        [(c.sent, c.hard, c.soft, c.block, c.complaint) for c in hist.days], dtype=np.int64
    ).reshape(len(hist.days), 5)
    order = np.argsort(ordinals)
    sums = array_sums(ordinals[order], counts[order], hist.started, spec.health.window_days)
    return dataclasses.replace(hist, days=()), now, sums


def test_a_mailbox_idle_at_weekends_walks_its_weekends_in_stretches(monkeypatch):
    """A cold walk of a year sent on weekdays only walks most of its days in numpy stretches
    that span its weekends (issue #15: their idle days ended every stretch, and the Python
    loop walked each day of such mailboxes), as a mailbox that sends every day from mid-year
    on does its last months; a stretch stops at the day after an idle gap that may step
    back the ramp (17 days off in a row), whose full step follows. Each walk is the
    day-by-day walk's (:func:`cold_in_one_batch`)."""
    from warmup.policy import steady

    walked: dict[str, int] = {}  # days walked in stretches, by mailbox
    spans: dict[str, list[tuple[int, int]]] = {}  # each stretch's first day and the next
    together, alone = steady._run_together, steady.Stretches.run

    def counted(asked):  # type: ignore[no-untyped-def]
        got = together(asked)
        for (s, o, _, _), end in zip(asked, got, strict=True):
            walked[s.walk.hist.mailbox] = walked.get(s.walk.hist.mailbox, 0) + end - o
            spans.setdefault(s.walk.hist.mailbox, []).append((o, end))
        return got

    def counted_alone(self, o, last, rows):  # type: ignore[no-untyped-def]
        end = alone(self, o, last, rows)
        walked[self.walk.hist.mailbox] = walked.get(self.walk.hist.mailbox, 0) + end - o
        spans.setdefault(self.walk.hist.mailbox, []).append((o, end))
        return end

    monkeypatch.setattr(steady, "_run_together", counted)
    monkeypatch.setattr(steady.Stretches, "run", counted_alone)
    tz = "Asia/Shanghai"
    now = instant(TODAY, 600, tz)

    def year(daily_from: int, skip: range = range(0)) -> tuple[DayCounts, ...]:
        """Weekdays only, then every day for the last ``daily_from`` days, none ``skip``."""
        return tuple(
            DayCounts(TODAY - dt.timedelta(days=k), 150 + (k * 7) % 30, hard=int(k % 40 == 0))
            for k in range(365, 0, -1)
            if (k < daily_from or (TODAY - dt.timedelta(days=k)).weekday() < 5) and k not in skip
        )

    assert SPECS["default"].idle.step_back_after_days == 14
    cases = [
        ("default", History("weekdays@corp.example", tz, year(0)), now),
        ("default", History("later@corp.example", tz, year(150)), now),
        ("default", History("gap@corp.example", tz, year(0, skip=range(100, 117))), now),
    ]
    cold_in_one_batch(cases)
    # twice each (cold_in_one_batch walks the batch together, then each mailbox alone):
    # most of the year but the ramp's first weeks, weekends and all
    assert walked["weekdays@corp.example"] >= 2 * 250, walked
    assert walked["later@corp.example"] >= 2 * 250, walked
    assert walked["gap@corp.example"] >= 2 * 200, walked
    # the day after the gap's 14th idle day takes the loop's (then the full) step
    after = (TODAY - dt.timedelta(days=116 - 14)).toordinal()
    assert any(end == after for _, end in spans["gap@corp.example"]), spans
    assert not any(o <= after < end for o, end in spans["gap@corp.example"])


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/Los_Angeles"])
def test_a_steady_year_is_walked_in_one_run(name, tz):
    """Sending every day at a healthy rate, a mailbox's year is one run of
    :meth:`SummedWalk.run` (no day takes the full step), and it is the day-by-day walk."""
    spec = SPECS[name]
    days = tuple(
        DayCounts(TODAY - dt.timedelta(days=k), 20 + (k * 7) % 30, hard=int(k % 40 == 0))
        for k in range(365, 0, -1)
    )
    hist = History("a@corp.example", tz, days=days)
    walk, first = start(spec, hist, TODAY, cls=SummedWalk, explain=False)
    assert isinstance(walk, SummedWalk)
    walk.sum_up()
    rows = DayRows()
    assert walk.run(first, TODAY, rows) == TODAY
    full, state = walk_timeline(spec, hist, instant(TODAY, 600, tz), explain=False)
    assert list(rows) == as_rows(full)[:-1]
    assert walk.state(TODAY) == state
    assert {r[2] for r in rows} == {s.name for s in spec.stages}  # it went through every stage


def test_a_memo_after_the_day_asked_is_refused():
    spec = SPECS["default"]
    days = tuple(DayCounts(TODAY - dt.timedelta(days=k), 50) for k in range(1, 20))
    hist = History("a@corp.example", "UTC", days=days)
    _, memo = replay(spec, hist, TODAY, checkpoint=TODAY - dt.timedelta(days=1))
    assert memo is not None
    earlier = instant(TODAY - dt.timedelta(days=5), 600, "UTC")
    try:
        evaluate(spec, dataclasses.replace(hist, memo=memo), earlier)
    except ValueError as exc:
        assert "after the day asked" in str(exc)
    else:
        raise AssertionError("a memo from after the day asked about was used")


def test_rates_never_exceed_one_even_with_late_bounces():
    spec = SPECS["default"]
    # 25 sends a week ago, and more bounces than sends arriving since (late DSNs of older sends)
    days = (
        DayCounts(TODAY - dt.timedelta(days=9), 25),
        DayCounts(TODAY - dt.timedelta(days=3), 20, hard=30, soft=10),
    )
    a = evaluate(spec, History("a@corp.example", "UTC", days=days), instant(TODAY, 600, "UTC"))
    assert a.bounce_rate is not None and a.bounce_rate <= 1.0
    assert any("100.0% (20/20)" in r for r in a.reasons)


# -- the stretches' rules, one by one ---------------------------------------------------------
# The property tests draw their histories at random, and some rules of a stretch
# (warmup.policy.steady) only a few drawn days reach: mutating them left every property test
# passing. Each is pinned here on a history built to reach it: the report's walk against the
# day-by-day walk, and the rule's own effect on the rows (a history that stopped reaching the
# rule fails too).


def report_and_day_walk(spec, days, tz="UTC", **more):  # type: ignore[no-untyped-def]
    """The report's walk of ``days`` (sums as arrays, stretches in numpy) and the day-by-day
    walk, asserted equal; returns the rows, the final state and the days walked in stretches."""
    hist = History("a@corp.example", tz, days=tuple(days), **more)
    rows, state = report_walk_is_day_walk(spec, hist, instant(TODAY, 600, tz))
    in_blocks = sum(len(p["ordinal"]) for p in rows.parts if isinstance(p, dict))
    return {r[0]: r for r in rows}, state, in_blocks


def daily(sends: list[int], hard: list[int] | None = None) -> list[DayCounts]:
    """A day for each count but 0, the last one yesterday."""
    n = len(sends)
    return [
        DayCounts(TODAY - dt.timedelta(days=n - k), s, hard=hard[k] if hard else 0)
        for k, s in enumerate(sends)
        if s
    ]


def ordinal(k: int, n: int) -> int:
    """The day ordinal of item ``k`` of ``n`` given to :func:`daily`."""
    return (TODAY - dt.timedelta(days=n - k)).toordinal()


def test_a_stretch_qualifies_a_day_on_what_the_domain_cap_lets_it_deliver():
    """Quota 300 and a domain cap of 120: a day qualifies with half of 120 sent (60), not half
    of 300; 70 sent counts, 40 does not. Kills, in ``Stretches.run``: the second ``good |=``
    line dropped, the domain cap dropped from ``most``, what a day could deliver halved."""
    spec = dataclasses.replace(SPECS["default"], domain_cap=120)
    cycle = [150, 150, 70, 40, 150, 20]
    sends = [150] * 40 + [cycle[k % len(cycle)] for k in range(88)]
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends))
    assert in_blocks >= 60, in_blocks
    n, advanced = len(sends), 0
    for k in range(40, n - 1):
        row, after = rows[ordinal(k, n)], rows[ordinal(k + 1, n)]
        assert (row[2], row[3]) == ("stable", 300)
        assert after[1] - row[1] == (sends[k] >= 60), (k, sends[k])
        advanced += sends[k] == 70
    assert advanced >= 10
    # the days of the last 7 that sent too little, with what they could deliver
    short = [
        (dt.date.fromordinal(ordinal(k, n)).isoformat(), sends[k], 120) for k in range(n - 7, n)
    ]
    assert state.short_days == tuple(s for s in short if s[1] < 60)
    assert len(state.short_days) == 3


def test_a_stretch_qualifies_a_day_on_what_the_domain_s_others_left_it():
    """A domain cap of 120 shared with other mailboxes: a day the others sent 80 on left this
    one 40, and its 40 sent count (half of 40 is 20); a day they sent nothing on, its 40 do not
    (half of 120 is 60), nor do they when the others left 100 (50). The stretches of the
    report's walk (numpy) and the day-by-day walk (``Walk.qualifies``, ``_fast_days``) agree.
    Kills, in ``Stretches.run`` and the day walks: the others' sends ignored, or counted for
    the wrong day."""
    spec = dataclasses.replace(SPECS["default"], domain_cap=120)
    cycle = [(40, 80), (70, 0), (40, 0), (150, 0), (40, 20)]
    n = 128
    sends, others = [150] * 40, [0] * 40
    for k in range(n - 40):
        sends.append(cycle[k % len(cycle)][0])
        others.append(cycle[k % len(cycle)][1])
    domain_days = {dt.date.fromordinal(ordinal(k, n)): o for k, o in enumerate(others) if o}
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends), domain_days=domain_days)
    assert in_blocks >= 60, in_blocks
    advanced = 0
    for k in range(40, n - 1):
        row, after = rows[ordinal(k, n)], rows[ordinal(k + 1, n)]
        assert (row[2], row[3]) == ("stable", 300)
        left = 120 - others[k]
        assert after[1] - row[1] == (sends[k] >= min(60, (left + 1) // 2)), (k, sends[k])
        advanced += sends[k] == 40 and others[k] == 80
    assert advanced >= 10
    # what the short days could deliver is what the others left them
    assert {s[1:] for s in state.short_days} <= {(40, 120), (40, 100)}
    # the day-by-day walk without the runs (Walk.qualifies alone) says the same
    hist = History("a@corp.example", "UTC", days=tuple(daily(sends)), domain_days=domain_days)
    walked, _ = replay(spec, hist, TODAY, runs=False)
    fast, _ = replay(spec, hist, TODAY)
    assert walked.eff == fast.eff == state.eff


def test_a_stretch_qualifies_a_day_on_what_its_window_fits():
    """A provider allowing one send in 10 minutes: a day fits 144 of its quota of 300, and
    qualifies with 72 sent; 100 counts, 60 does not (kills, in ``Stretches.run``: the window's
    fit dropped from what a day could deliver, or taken for the quota)."""
    spec = SPECS["default"]
    cycle = [150, 100, 60]
    sends = [150] * 40 + [cycle[k % len(cycle)] for k in range(60)]
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends), provider_min_interval=600)
    assert in_blocks >= 50, in_blocks
    n = len(sends)
    for k in range(40, n - 1):
        row, after = rows[ordinal(k, n)], rows[ordinal(k + 1, n)]
        assert (row[2], row[3]) == ("stable", 300)
        assert after[1] - row[1] == (sends[k] >= 72), (k, sends[k])
    assert [s[1:] for s in state.short_days] == [(60, 144)] * 3


def test_a_stretch_keeps_the_short_days_of_its_last_seven():
    """Days that sent too little are remembered for 7 days: the one 7 days before the last is
    dropped, the one 6 days before kept (kills ``keep`` one day early in ``Stretches.run``)."""
    spec = SPECS["default"]
    sends = [150] * 60
    for k in (-8, -7, -1):
        sends[k] = 10
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends))
    assert in_blocks >= 25, in_blocks
    yesterday = TODAY - dt.timedelta(days=1)
    assert state.short_days == (
        ((yesterday - dt.timedelta(days=6)).isoformat(), 10, 300),
        (yesterday.isoformat(), 10, 300),
    )


def test_a_stretch_takes_the_busiest_of_the_seven_days_before():
    """The growth limit reads the busiest of the 7 days before: 7 days after a peak of 140 the
    quota is still 280, the next day 2 x 20 but never below the first stage's 50 (kills a
    6-day window in ``batch_sums``, the floor dropped from ``Stretches.cap``)."""
    spec = SPECS["default"]
    cycle = [140] + [20] * 7
    sends = [150] * 40 + [cycle[k % len(cycle)] for k in range(80)]
    rows, _, in_blocks = report_and_day_walk(spec, daily(sends))
    assert in_blocks >= 60, in_blocks
    n = len(sends)
    for k in range(48, n):
        assert rows[ordinal(k, n)][3] == (50 if k % 8 == 0 else 280), k


def test_a_hold_in_a_stretch_keeps_the_lower_of_its_quota_and_the_last_healthy_one():
    """A hold that starts after an idle day (the walk's last healthy quota, 300, carried into
    the stretch) and lasts while the sends fall to 60: a held day's quota is the lower of the
    day's own (2 x 60) and the last healthy day's. Kills, in ``Stretches.run``: a held day
    given the last healthy quota alone, or the first stage's volume before its first healthy
    day."""
    spec = SPECS["default"]
    sends = [150] * 40 + [150] * 6 + [0] + [150] * 4 + [60] * 14 + [60] * 30
    hard = [0] * 40 + [5] * 6 + [0] + [5] * 4 + [2] * 14 + [0] * 30
    rows, _, in_blocks = report_and_day_walk(spec, daily(sends, hard))
    assert in_blocks >= 40, in_blocks
    n = len(sends)
    held = [rows[ordinal(k, n)] for k in range(48, 65)]
    assert {r[4] for r in held} == {"hold"}
    assert [r[3] for r in held[:4]] == [300] * 4  # the 150s: 2 x 150, the last healthy 300
    assert {r[3] for r in held[10:]} == {120}  # 7 days of 60: 2 x 60


def test_a_stretch_ends_on_the_day_its_stage_changes_after():
    """25 sent a day: the growth limit keeps the quota at 50, below every volume of weeks 2-4,
    and the ramp is walked as one stretch, which must end on its 21st qualifying day: the next
    day is the stable stage's (kills ``>`` for ``>=`` in the stage change of
    ``Stretches.run``)."""
    spec = SPECS["default"]
    sends = [25] * 70
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends))
    assert in_blocks >= 50, in_blocks
    n = len(sends)
    stages = [rows[ordinal(k, n)][2] for k in range(n)]
    assert stages == ["week 1"] * 7 + ["weeks 2-4"] * 21 + ["stable"] * (n - 28)
    assert {rows[ordinal(k, n)][3] for k in range(n)} == {50}
    assert state.eff == n


def test_a_stretch_with_qualify_1_counts_what_the_slowest_gaps_still_fit():
    """``qualify = 1`` and a 09:00-12:00 window: at the stable stage's mean gap (90 s) it fits
    120 sends, at its slowest (2 min) 90. The gate's random gaps may let fewer than 120 through,
    so 90 or more counts, 85 does not, in the report's stretches as in the day-by-day walk
    (kills the slowest-gap floor dropped from ``Stretches.run`` or ``_fast_days``)."""
    from warmup.policy.calendar import Window

    spec = dataclasses.replace(
        SPECS["default"], qualify=1.0, window=Window(ranges=((dt.time(9), dt.time(12)),))
    )
    cycle = [150, 95, 85, 90]
    sends = [150] * 40 + [cycle[k % len(cycle)] for k in range(60)]
    rows, state, in_blocks = report_and_day_walk(spec, daily(sends))
    assert in_blocks >= 40, in_blocks
    n = len(sends)
    for k in range(40, n - 1):
        row, after = rows[ordinal(k, n)], rows[ordinal(k + 1, n)]
        assert row[2] == "stable"
        assert after[1] - row[1] == (sends[k] >= 90), (k, sends[k])
    assert [s[1:] for s in state.short_days] == [(85, 120)] * 2


# The days a mailbox that does not send every day sends on (Monday is 0): weekdays only (most
# business mailboxes), six days, two or three days a week.
SEND_DAYS = st.sampled_from(
    [(0, 1, 2, 3, 4), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5), (1, 3), (0, 2, 4)]
)
# A holiday: (days before today it begins, how many days): a long weekend, a week's break,
# gaps long enough to step back (14) or start over (30).
HOLIDAYS = st.lists(st.tuples(st.integers(1, 400), st.integers(1, 35)), max_size=3)
IDLE_SPANS = st.integers(60, 400)


@st.composite
def idle_histories(draw, spans=IDLE_SPANS):  # type: ignore[no-untyped-def]
    """:func:`histories` (long runs: zones with DST, pauses, resumes, back-offs, caps, a late
    start) sent on some weekdays only, with holidays, and bounces that land on idle days (a
    late bounce of the days before: the idle day's counts keep bounces and no sends)."""
    name, hist, now = draw(histories(spans, LONG_RUNS))
    weekdays = draw(SEND_DAYS)
    off = {
        TODAY - dt.timedelta(days=back - j)
        for back, length in draw(HOLIDAYS)
        for j in range(length)
    }
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    late = draw(st.sampled_from([0, 2, 5]))  # in ten idle days with bounces, those kept
    days = []
    for c in hist.days:
        if c.day.weekday() in weekdays and c.day not in off:
            days.append(c)
        elif c.bounced + c.complaint and rng.randrange(10) < late:
            days.append(c._replace(sent=0))
    return name, dataclasses.replace(hist, days=tuple(days)), now


@pytest.mark.slow
@PROPS
@given(st.lists(idle_histories(), min_size=1, max_size=5))
def test_a_cold_batch_of_mailboxes_idle_on_some_days_is_each_ones_day_by_day_walk(cases):
    """Mailboxes that send on weekdays only (or fewer days), with holidays, pauses and
    back-offs across idle days, bounces landing on idle days, in zones whose clocks change,
    walked cold in one batch as ``warmup quota`` walks them (their idle days in the run's loop,
    issue #15): each one's answer, reasons, memo and state are its day-by-day walk's."""
    cold_in_one_batch(cases)


@pytest.mark.slow
@PROPS
@given(idle_histories(), st.integers(0, 130))
def test_the_reports_walk_of_idle_days_is_the_day_by_day_walk(case, since):
    """The report's walk of such a mailbox (the counts as arrays, and as ``quota`` reads them)
    lists every day, idle ones (a morning's view) too, as the day-by-day walk does, reaches the
    same state and keeps the same memo at a past day."""
    name, hist, now = case
    spec = SPECS[name]
    full, state = walk_timeline(spec, hist, now, explain=False)
    today = now.astimezone(ZoneInfo(hist.timezone)).date()
    checkpoint = today - dt.timedelta(days=since)
    _, there = walk_timeline(spec, hist, instant(checkpoint, 0, hist.timezone), explain=False)
    for reads in ((hist, now), as_report_reads(spec, hist, now)):
        rows, rows_state, kept = timeline_checkpoint(spec, *reads, checkpoint=checkpoint)
        assert list(rows) == as_rows(full)
        assert rows_state == state
        assert kept == (
            there if there.last_active is not None and kept_at(hist, checkpoint) else None
        )


def weekday_year(tz: str, skip: range = range(0)) -> tuple[DayCounts, ...]:
    """A year sent Monday to Friday (150-179 a day, a hard bounce now and then), none on the
    days ``skip`` days before today; the hard bounces of a Friday in ten land on the Saturday."""
    days = []
    for k in range(365, 0, -1):
        day = TODAY - dt.timedelta(days=k)
        if k in skip:
            continue
        if day.weekday() < 5:
            days.append(DayCounts(day, 150 + (k * 7) % 30, hard=int(k % 40 == 0)))
        elif day.weekday() == 5 and k % 10 == 0:
            days.append(DayCounts(day, 0, hard=2, soft=1))
    return tuple(days)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_weekday_year_with_holidays_and_pauses_is_the_day_by_day_walk(name):
    """Years sent on weekdays, in zones whose clocks change (and one that does not), under
    every policy (a calendar's holidays, a window open on working days only): one plain, one
    with a week's break and a 16-day one (a step back) and a 31-day one (starting over),
    one with a bounce spike on a Friday (held or stepped back over the weekend), a provider
    back-off from Friday to Monday and a pause by hand resumed a weekend later. Walked cold
    in one batch and by a report, each is its day-by-day walk."""
    spec = SPECS[name]
    h = spec.health
    cases = []
    for tz in ("America/Los_Angeles", "Asia/Shanghai"):
        now = instant(TODAY, 600, tz)
        plain = weekday_year(tz)
        gaps = tuple(
            c
            for c in weekday_year(tz)
            if not 300 <= (TODAY - c.day).days < 307
            and not 200 <= (TODAY - c.day).days < 216
            and not 100 <= (TODAY - c.day).days < 131
        )
        friday = next(k for k in range(60, 70) if (TODAY - dt.timedelta(days=k)).weekday() == 4)
        rate = (h.step_back_above + h.pause_above) / 2
        spiked = tuple(
            c._replace(hard=int(rate * c.sent * h.window_days))
            if (TODAY - c.day).days == friday
            else c
            for c in plain
        )
        back_off = instant(TODAY - dt.timedelta(days=friday - 7), 16 * 60, tz)
        paused = instant(TODAY - dt.timedelta(days=friday - 21), 17 * 60, tz)
        events = (
            MailboxEvent("throttle", back_off, back_off + dt.timedelta(hours=64), "421"),
            MailboxEvent("pause", paused, None, "by hand"),
            MailboxEvent("resume", paused + dt.timedelta(days=10), None, "by hand"),
        )
        for hist in (
            History("plain@corp.example", tz, plain),
            History("gaps@corp.example", tz, gaps),
            History("spiked@corp.example", tz, spiked, events),
        ):
            cases.append((name, hist, now))
            full, state = walk_timeline(spec, hist, now, explain=False)
            rows, rows_state = timeline_rows(spec, *as_report_reads(spec, hist, now))
            assert list(rows) == as_rows(full)
            assert rows_state == state
    cold_in_one_batch(cases)


def test_a_weekday_years_idle_days_take_no_full_step(monkeypatch):
    """A cold walk of a year sent on weekdays only walks its weekends in the run's loop (issue
    #15: the full step on each Saturday, Sunday and Monday was 90% of a cold ``warmup quota``
    of such mailboxes): the full verdict is taken for today alone, and for no day of a
    report's year but today; the answers are the day-by-day walk's. A gap long enough to step
    back still takes the full step on the day after it (and a report on each of its days
    from the first one the step back shows)."""
    from warmup.policy import walk

    steps: list[dt.date] = []
    verdict = walk.Walk.verdict

    def counted(self, day, *args, **kwargs):  # type: ignore[no-untyped-def]
        steps.append(day)
        return verdict(self, day, *args, **kwargs)

    monkeypatch.setattr(walk.Walk, "verdict", counted)
    tz = "Asia/Shanghai"
    now = instant(TODAY, 600, tz)  # a Monday
    assert TODAY.weekday() == 0
    plain = History("plain@corp.example", tz, weekday_year(tz))
    gap = History("gap@corp.example", tz, weekday_year(tz, skip=range(100, 117)))
    spec = SPECS["default"]
    assert spec.idle.step_back_after_days == 14
    cases = [("default", plain, now), ("default", gap, now)]
    made = cold_in_one_batch(cases)
    steps.clear()
    drive_all(
        [
            walk_to_steps(
                spec,
                dataclasses.replace(hist, sums=lambda w, sums=sums: sums),
                TODAY,
                now,
                checkpoint=TODAY - dt.timedelta(days=1),
            )
            for (_, hist, _), sums in zip(cases, made, strict=True)
        ]
    )
    # today's of each, and the weekend before today (after the last day with a count); the
    # first day sent after the gap
    weekend = [TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)]
    back = min(c.day for c in gap.days if c.sent and c.day > TODAY - dt.timedelta(days=100))
    assert (back - max(c.day for c in gap.days if c.day < back)).days - 1 >= 14
    assert sorted(steps) == sorted([*weekend, *weekend, TODAY, TODAY, back])
    steps.clear()
    rows, _ = timeline_rows(spec, *as_report_reads(spec, plain, now))
    assert set(steps) == {*weekend, TODAY}
    assert len(rows) == (TODAY - plain.days[0].day).days + 1


# Zones whose clocks change within the long histories (from 2025 on), and policies whose windows
# the clocks jump over whole on a spring-forward day (closed that day: New York and Berlin at
# night, Havana at midnight) or cut (Lord Howe's half hour: open the real minutes left), and
# read twice on a fall-back day (Berlin's 02:00-03:00).
CLOCK_ZONES = ("America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Havana")
CLOCK_SPECS = {
    "night": with_hours(SPECS["default"], ((dt.time(2), dt.time(3)),)),
    "night-working": with_hours(
        SPECS["working-days"], ((dt.time(2), dt.time(2, 20)), (dt.time(2, 30), dt.time(2, 50)))
    ),
    "midnight": with_hours(SPECS["gentle"], ((dt.time(0), dt.time(0, 45)),)),
}
CLOCK_NAMES = st.sampled_from(sorted(CLOCK_SPECS))


def clock_histories():  # type: ignore[no-untyped-def]
    """Long histories in :data:`CLOCK_ZONES` under :data:`CLOCK_SPECS`: two years back or so,
    across both kinds of clock change."""
    return histories(st.integers(100, 700), LONG_RUNS, CLOCK_ZONES, CLOCK_NAMES)


@pytest.mark.slow
@PROPS
@given(clock_histories())
def test_the_reports_stretches_close_the_days_the_clocks_skip_the_window(case):
    """The report's walk in numpy (:mod:`warmup.policy.steady`) and the day-by-day walk agree
    on the days the clocks change: a window they jump over whole is closed that day in both."""
    name, hist, now = case
    report_walk_is_day_walk(CLOCK_SPECS[name], hist, now)


@pytest.mark.slow
@PROPS
@given(st.lists(clock_histories(), min_size=1, max_size=4), st.integers(1, 130))
def test_a_cold_batch_and_a_memo_walk_the_days_the_clocks_skip_the_window_alike(cases, back):
    """A cold ``warmup quota`` of several such mailboxes in one batch, each one's replay in
    runs and from a memo: each is its day-by-day walk."""
    cold_in_one_batch(cases, CLOCK_SPECS)
    for name, hist, now in cases:
        spec = CLOCK_SPECS[name]
        today = now.astimezone(ZoneInfo(hist.timezone)).date()
        by_runs, memo = replay(spec, hist, today, today - dt.timedelta(days=back))
        by_day, day_memo = replay(spec, hist, today, today - dt.timedelta(days=back), runs=False)
        assert memo == day_memo and by_runs.state(today) == by_day.state(today)
        view = memo_view(spec, hist, TODAY - dt.timedelta(days=back), now)
        if view is not None:
            assert evaluate(spec, view, now) == evaluate(spec, hist, now)


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin"])
def test_a_year_of_night_sends_closes_the_spring_forward_day_in_numpy_too(tz):
    """A year sent at night in a zone that changes its clocks, walked as a report walks it
    (stretches in numpy) and day by day: the same rows, the spring-forward day closed in both
    and not idle, the fall-back day open."""
    spring = {"America/New_York": dt.date(2026, 3, 8), "Europe/Berlin": dt.date(2026, 3, 29)}[tz]
    autumn = {"America/New_York": dt.date(2026, 11, 1), "Europe/Berlin": dt.date(2026, 10, 25)}[tz]
    days = [
        DayCounts(TODAY - dt.timedelta(days=k), 8, hard=int(k % 40 == 0))
        for k in range(365, 0, -1)
        if TODAY - dt.timedelta(days=k) != spring
    ]
    rows, _, in_blocks = report_and_day_walk(CLOCK_SPECS["night"], days, tz)
    assert in_blocks >= 250, in_blocks
    assert {dt.date.fromordinal(o) for o, r in rows.items() if r[9]} == {spring}  # closed
    assert rows[spring.toordinal()][3] == 0 and rows[autumn.toordinal()][3] > 0  # quota
