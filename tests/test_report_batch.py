"""A report's walks of many mailboxes at once: their stretches walked together, rows and all.

:func:`warmup.reports.daily` walks every mailbox's past through
:func:`~warmup.policy.engine.timeline_checkpoint_steps`, driven together
(:func:`~warmup.policy.walk.drive_all`), so that the stretches many mailboxes reach at the same
point are walked in one numpy pass (:func:`warmup.policy.steady._run_together`) with each
one's report rows filled from it. Each mailbox's rows, its state at today and at the
checkpoint (the memo of yesterday) must be its own day-by-day walk's (issue #15).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.test_walk import (
    LONG_RUNS,
    PROPS,
    SPECS,
    TODAY,
    as_rows,
    histories,
    idle_histories,
    instant,
    kept_at,
    weekday_year,
)
from warmup.policy import DayCounts, History, MailboxEvent, walk_timeline
from warmup.policy.engine import timeline_checkpoint_steps
from warmup.policy.steady import batch_sums
from warmup.policy.walk import drive_all


def report_in_one_batch(cases, specs=SPECS):  # type: ignore[no-untyped-def]
    """Walk each ``(policy name, history, now)`` as :func:`warmup.reports.daily` does (every
    mailbox's rollup rows, today's too, as arrays in one :func:`batch_sums`; the walks driven
    together) and assert each one's rows, state and memo of yesterday are its day-by-day
    walk's. Returns each one's rows (:class:`~warmup.policy.walk.DayRows`)."""
    rows, starts, windows, checkpoints = [], [], [], []
    for name, hist, now in cases:
        today = now.astimezone(ZoneInfo(hist.timezone)).date()
        days = sorted(hist.days, key=lambda c: c.day)
        rows.append(
            (
                np.array([c.day.toordinal() for c in days], dtype=np.int64),
                np.array([c[1:] for c in days], dtype=np.int64).reshape(len(days), 5),
            )
        )
        starts.append(hist.started)
        windows.append(specs[name].health.window_days)
        checkpoints.append(today - dt.timedelta(days=1))
    made = batch_sums(rows, starts, windows)
    got = drive_all(
        [
            timeline_checkpoint_steps(
                specs[name], dataclasses.replace(hist, days=()), now, sums, checkpoint=checkpoint
            )
            for (name, hist, now), sums, checkpoint in zip(cases, made, checkpoints, strict=True)
        ]
    )
    for (name, hist, now), checkpoint, (line, state, kept) in zip(
        cases, checkpoints, got, strict=True
    ):
        spec = specs[name]
        full, want = walk_timeline(spec, hist, now, explain=False)
        assert list(line) == as_rows(full), hist.mailbox
        assert state == want
        _, there = walk_timeline(spec, hist, instant(checkpoint, 0, hist.timezone), explain=False)
        assert kept == (
            there if there.last_active is not None and kept_at(hist, checkpoint) else None
        )
    return [line for line, _, _ in got]


def counting_together(monkeypatch):  # type: ignore[no-untyped-def]
    """Count the days each mailbox's report walk took in stretches walked with others."""
    from warmup.policy import steady

    together = steady._run_together
    walked: dict[str, int] = {}

    def counted(asked):  # type: ignore[no-untyped-def]
        got = together(asked)
        for (s, o, _, rows), end in zip(asked, got, strict=True):
            assert rows is not None  # a report's walk asks for its rows
            walked[s.walk.hist.mailbox] = walked.get(s.walk.hist.mailbox, 0) + end - o
        return got

    monkeypatch.setattr(steady, "_run_together", counted)
    return walked


def test_a_reports_mailboxes_walk_their_stretches_together(monkeypatch):
    """Years of mailboxes under every policy (weekdays only, every day, a spike that holds,
    a pause and its resume, caps): a report walks most of each one's days in stretches
    walked together with the other mailboxes' (one numpy pass, not one per mailbox and
    stretch), and each one's rows, state and memo are its day-by-day walk's."""
    walked = counting_together(monkeypatch)
    cases = []
    for name in sorted(SPECS):
        if SPECS[name].domain_cap is not None:
            continue  # walked alone (the domain's other mailboxes' days): test_walk's
        h = SPECS[name].health
        for tz in ("Asia/Shanghai", "America/Los_Angeles"):
            now = instant(TODAY, 600, tz)
            rate = (2 * h.hold_above + min(h.step_back_above, h.pause_above)) / 3
            pause = instant(TODAY - dt.timedelta(days=150), 700, tz)
            events = (
                MailboxEvent("pause", pause, None, "pause"),
                MailboxEvent("resume", pause + dt.timedelta(days=3), None, "resume"),
            )
            # paused by hand for two months (sending all the same: a script not gated)
            held = instant(TODAY - dt.timedelta(days=250), 700, tz)
            long_pause = (
                MailboxEvent("pause", held, None, "pause"),
                MailboxEvent("resume", held + dt.timedelta(days=60), None, "resume"),
            )
            for k in range(2):  # two of each: mailboxes of one policy, zone and cap
                every = tuple(
                    DayCounts(
                        TODAY - dt.timedelta(days=d),
                        150 + (d * 7 + k) % 30,
                        hard=int(rate * 150 * h.window_days) if d == 90 else int(d % 40 == k),
                    )
                    for d in range(365, 0, -1)
                )
                for hist in (
                    History(f"every{k}-{name}@corp.example", tz, every, long_pause, cap=170),
                    History(f"weekdays{k}-{name}@corp.example", tz, weekday_year(tz), events),
                ):
                    cases.append((name, hist, now))
    lines = report_in_one_batch(cases)
    for (_, hist, _), line in zip(cases, lines, strict=True):
        assert walked.get(hist.mailbox, 0) >= 250, (hist.mailbox, walked)
        if hist.mailbox.startswith("every"):  # a stretch walked paused: its quota 0
            blocks = [p for p in line.parts if isinstance(p, dict) and p["paused"].all()]
            assert blocks and all((b["quota"] == 0).all() for b in blocks), hist.mailbox


@PROPS
@given(
    st.lists(
        st.one_of(histories(st.integers(100, 500), LONG_RUNS), idle_histories()),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 4),
    st.tuples(st.integers(1, 300), st.integers(0, 60), st.booleans()),
    st.integers(0, 2**32 - 1),
)
def test_a_reports_batch_of_mailboxes_is_each_ones_day_by_day_walk(cases, alike, shape, seed):
    """Long histories of several mailboxes (policies, zones, caps, ceilings, pauses, resumes,
    back-offs, spikes, idle days and gaps, bounces on idle days, a late start), walked by a
    report in one batch: each one's rows, state and memo of yesterday are its day-by-day
    walk's. With them ``alike`` mailboxes of the first one's policy, zone, limits, start and
    events that sent for a year (``shape``: the fewest a day, how many more at most, weekdays
    only), a day's bounces now and then up to a fifth of its sends: their stretches come at
    the same points and are walked together."""
    rng = random.Random(seed)
    name0, hist0, now0 = cases[0]
    low, spread, weekdays = shape
    for _ in range(alike):
        days = []
        for d in range(365, 0, -1):
            day = TODAY - dt.timedelta(days=d)
            if weekdays and day.weekday() >= 5:
                continue
            sent = low + rng.randint(0, spread)
            hard = rng.randint(0, sent // 5) if rng.randrange(40) == 0 else int(d % 50 == 0)
            days.append(DayCounts(day, sent, hard=hard))
        cases.append((name0, dataclasses.replace(hist0, days=tuple(days)), now0))
    cases = [
        (name, dataclasses.replace(hist, mailbox=f"m{k}@corp.example"), now)
        for k, (name, hist, now) in enumerate(cases)
    ]
    report_in_one_batch(cases)


def test_a_batch_with_back_offs_pauses_late_starts_and_an_empty_mailbox(monkeypatch):
    """Mailboxes of one policy and zone that started on different days (and one that never
    sent), with a provider back-off and a manual pause that begin and end inside what would be
    a stretch, reported as of a day in the past: each one's rows, state and memo are its
    day-by-day walk's, and the stretches between the events are walked together."""
    walked = counting_together(monkeypatch)
    tz = "Asia/Shanghai"
    now = instant(TODAY - dt.timedelta(days=30), 500, tz)
    cases = []
    for k in range(4):
        first = 300 - 60 * k  # days before TODAY
        days = tuple(
            DayCounts(TODAY - dt.timedelta(days=d), 150 + (d * 11 + k) % 25, hard=int(d % 45 == k))
            for d in range(first, 0, -1)
        )
        mid = instant(TODAY - dt.timedelta(days=first // 2), 610 + k, tz)
        events = (
            MailboxEvent("throttle", mid, mid + dt.timedelta(hours=30 + 24 * k), "421 slow down"),
            MailboxEvent("pause", mid + dt.timedelta(days=20), None, "pause"),
            MailboxEvent("resume", mid + dt.timedelta(days=23, hours=k), None, "resume"),
        )
        started = None if k % 2 else TODAY - dt.timedelta(days=first - 10)
        hist = History(f"m{k}@corp.example", tz, days, events, cap=170, started=started)
        cases.append(("default", hist, now))
    cases.append(("default", History("none@corp.example", tz, (), (), cap=170), now))
    report_in_one_batch(cases)
    assert len(walked) == 4 and min(walked.values()) >= 30, walked
