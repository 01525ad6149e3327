"""Unit tests of the pure policy engine: histories are built by hand and ``now`` is passed in."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from tests.conftest import SH, at
from warmup.policy import DayCounts, History, MailboxEvent, evaluate, load_policy, project
from warmup.policy.spec import PolicySpec, parse_policy

BOX = "a@corp.example"
TODAY = dt.date(2026, 11, 16)  # a Monday
DEFAULT = load_policy("default")
# Any send advances warm-up, as before qualifying days: for tests about other rules.
ANY_SEND = dataclasses.replace(DEFAULT, qualify=0.0)


def day(k: int) -> dt.date:
    """``k`` days before TODAY (k > 0) or after (k < 0)."""
    return TODAY - dt.timedelta(days=k)


def hist(days: list[DayCounts] | tuple[DayCounts, ...] = (), **kw) -> History:
    return History(mailbox=BOX, timezone=SH, days=tuple(days), **kw)


def steady(first: int, last: int, sent: int, **counts: int) -> list[DayCounts]:
    """One DayCounts per day from ``first`` days ago to ``last`` days ago, all alike."""
    return [DayCounts(day(k), sent, **counts) for k in range(first, last - 1, -1)]


def full_quota_history(
    spec: PolicySpec, start: dt.date, n: int, base: History | None = None
) -> tuple[History, list]:
    """Send the full quota every day for ``n`` days from ``start``; the history and the allowances."""
    h = base or hist()
    seen = []
    for k in range(n):
        d = start + dt.timedelta(days=k)
        a = evaluate(spec, h, at(d, 8))
        seen.append((d, a))
        h = dataclasses.replace(h, days=(*h.days, DayCounts(d, a.quota)))
    return h, seen


# -- idle ----------------------------------------------------------------------------------------


def test_idle_14_days_steps_back_to_last_day_of_previous_stage():
    # 10 active days: warm-up day 11 is in "weeks 2-4" (days 8-28).
    days = steady(24, 15, 100)
    assert evaluate(DEFAULT, hist(days), at(day(1))).stage == "weeks 2-4"
    a = evaluate(DEFAULT, hist(days), at(TODAY))  # idle days 14..1 = 14 days
    assert (a.day, a.stage) == (7, "week 1")
    assert any("idle 14 days" in r and "stepped back" in r for r in a.reasons)


def test_idle_13_days_keeps_the_stage():
    days = steady(23, 14, 100)
    a = evaluate(DEFAULT, hist(days), at(TODAY))
    assert (a.day, a.stage) == (11, "weeks 2-4")
    assert not any("idle" in r for r in a.reasons)


def test_idle_step_back_from_stable_lands_on_day_28():
    days = steady(60, 21, 150)  # 40 active days: stable
    a = evaluate(DEFAULT, hist(days), at(TODAY))  # idle 20 days
    assert (a.day, a.stage) == (28, "weeks 2-4")


def test_idle_30_days_restarts_at_day_1():
    days = steady(70, 31, 150)  # 40 active days, then idle 30
    a = evaluate(DEFAULT, hist(days), at(TODAY))
    assert (a.day, a.stage, a.quota) == (1, "week 1", 50)
    assert any("starts over" in r for r in a.reasons)
    b = evaluate(DEFAULT, hist(steady(69, 30, 150)), at(TODAY))  # idle 29: only a step back
    assert (b.day, b.stage) == (28, "weeks 2-4")


# -- growth, ceilings ----------------------------------------------------------------------------


def test_growth_limit_twice_the_busiest_recent_day():
    days = steady(28, 1, 60)  # 28 active days at 60/day: warm-up day 29, stable (300)
    a = evaluate(DEFAULT, hist(days), at(TODAY))
    assert (a.day, a.stage, a.quota) == (29, "stable", 120)
    assert any("growth limit" in r and "(60)" in r for r in a.reasons)


def test_growth_limit_looks_at_the_busiest_of_seven_days_only():
    days = steady(28, 9, 60) + [DayCounts(day(8), 140)] + steady(7, 1, 60)
    assert evaluate(ANY_SEND, hist(days), at(TODAY)).quota == 120  # 140 is 8 days ago
    days = steady(28, 8, 60) + [DayCounts(day(7), 140)] + steady(6, 1, 60)
    assert evaluate(ANY_SEND, hist(days), at(TODAY)).quota == 280


def test_growth_limit_never_below_first_stage_volume():
    a = evaluate(ANY_SEND, hist(steady(28, 1, 10)), at(TODAY))
    assert (a.day, a.quota) == (29, 50)
    assert (
        "growth limit: 2x the busiest of the last 7 days (10) = 20, raised to 50, the first "
        "stage's daily volume, below which the limit never goes"
    ) in a.reasons


@pytest.mark.parametrize(
    ("cap", "ceiling", "expected", "why"),
    [
        (None, None, 300, None),
        (None, 250, 250, "provider's daily limit: 250"),
        (80, None, 80, "mailbox cap: 80"),
        (80, 250, 80, "mailbox cap: 80"),
        (280, 250, 250, "provider's daily limit: 250"),
        (0, None, 0, "mailbox cap: 0"),
    ],
)
def test_cap_and_provider_ceiling_bound_the_quota(cap, ceiling, expected, why):
    days = steady(30, 1, 200)
    a = evaluate(DEFAULT, hist(days, cap=cap, provider_ceiling=ceiling), at(TODAY))
    assert a.quota == expected
    assert a.remaining == expected
    if why:
        assert why in a.reasons


def test_policy_ceiling_bounds_a_custom_stage():
    spec = dataclasses.replace(DEFAULT, ceiling=120)
    assert evaluate(spec, hist(steady(30, 1, 200)), at(TODAY)).quota == 120


# -- health --------------------------------------------------------------------------------------


def _stable_week(complaints: int = 0, hard: int = 0) -> list[DayCounts]:
    """30 clean active days at 300, then 7 more with the given daily complaints/hard bounces."""
    return steady(37, 8, 300) + steady(7, 1, 300, complaint=complaints, hard=hard)


def test_clean_history_is_ok():
    a = evaluate(DEFAULT, hist(_stable_week()), at(TODAY))
    assert (a.status, a.quota, a.complaint_rate, a.bounce_rate) == ("ok", 300, 0.0, 0.0)


def test_complaint_rate_above_a_tenth_percent_holds():
    # 3/2100 = 0.14% over the week
    a = evaluate(
        DEFAULT, hist(steady(7, 1, 300)[:-1] + [DayCounts(day(1), 300, complaint=3)]), at(TODAY)
    )
    assert a.status == "hold" and a.can_send
    assert a.complaint_rate == pytest.approx(3 / 2100)
    assert any("complaint rate above 0.1% holds" in r for r in a.reasons)
    # Held: not the 100 that a clean 8th day would give.
    clean = evaluate(DEFAULT, hist(steady(7, 1, 300)), at(TODAY))
    assert a.quota < clean.quota


def test_complaint_rate_at_a_tenth_percent_does_not_hold():
    # Nothing has happened today yet, so today's verdict is that of the week before it
    # (invariant 3: today's quota depends only on history before today).
    a = evaluate(
        DEFAULT, hist(steady(7, 1, 300)[:-1] + [DayCounts(day(1), 300, complaint=2)]), at(TODAY)
    )  # 2/2100 = 0.095%
    assert a.status == "ok"


def test_complaint_rate_above_three_tenths_percent_pauses():
    a = evaluate(DEFAULT, hist(_stable_week(complaints=1)), at(TODAY))  # 7/2100 = 0.33%
    assert (a.status, a.quota, a.remaining, a.can_send) == ("paused", 0, 0, False)
    assert any("complaint rate above 0.3% pauses" in r for r in a.reasons)


def test_bounce_rate_between_step_back_and_pause_steps_back():
    # 6% of sends bounce hard over the last week.
    a = evaluate(DEFAULT, hist(_stable_week(hard=18)), at(TODAY))
    assert (a.status, a.can_send) == ("step_back", True)
    assert a.stage == "weeks 2-4"


def test_resume_clears_a_health_pause_that_began_on_an_earlier_day():
    days = steady(37, 9, 300) + steady(8, 2, 300, complaint=1)  # 7/2100: paused from day -1
    assert evaluate(DEFAULT, hist(days), at(day(1), 10)).status == "paused"
    assert evaluate(DEFAULT, hist(days), at(TODAY, 10)).status == "paused"
    resume = MailboxEvent("resume", at(TODAY, 9), reason="list cleaned")
    a = evaluate(DEFAULT, hist(days, events=(resume,)), at(TODAY, 10))
    # Resumed, but the days before the resume still hold the ramp until they leave the window.
    assert a.status == "hold" and a.quota > 0 and a.remaining == a.quota
    assert any("resumed on" in r for r in a.reasons)
    # The resume does not reach back: before it, the mailbox was still paused.
    assert evaluate(DEFAULT, hist(days, events=(resume,)), at(TODAY, 8)).status == "paused"


def test_resume_on_the_day_the_health_pause_began():
    # The pause first shows this morning (the window ending yesterday crosses 0.3%); the operator
    # cleans the list and resumes at 09:00, as the reason tells them to.
    days = _stable_week(complaints=1)
    assert evaluate(DEFAULT, hist(days), at(TODAY, 8)).status == "paused"
    resume = MailboxEvent("resume", at(TODAY, 9), reason="list cleaned")
    a = evaluate(DEFAULT, hist(days, events=(resume,)), at(TODAY, 10))
    assert a.status != "paused" and a.quota > 0, a.reasons


def test_resume_on_the_day_the_health_pause_began_through_the_library(ledger_path):
    from warmup import api, open_ledger
    from warmup.ledger import BounceIn, SendIn

    ledger = open_ledger()
    box = api.add_mailbox(ledger, BOX, "exmail")
    sends, bounces = [], []
    for k in range(7, 0, -1):
        for i in range(50):
            ts = at(day(k), 9).add(minutes=i)
            rcpt = f"r{k}-{i}@example.com"
            sends.append(SendIn(rcpt, ts))
            if k == 1 and i < 36:  # yesterday's bad list: 36/350 = 10.3% over the week
                bounces.append(BounceIn(rcpt, "hard", ts.add(hours=1), key=f"{k}-{i}"))
    recorded = ledger.record(box, sends=sends, bounces=bounces)
    assert (recorded.sends, recorded.counted) == (350, 36)  # each bounce answers its send
    assert api.quota(ledger, BOX, at(day(1), 8)).status == "ok"
    assert api.quota(ledger, BOX, at(TODAY, 8)).status == "paused"
    api.resume(ledger, BOX, at=at(TODAY, 9))
    a = api.quota(ledger, BOX, at(TODAY, 10))
    assert a.status != "paused" and a.quota > 0, a.reasons


def test_manual_pause_and_throttle():
    pause = MailboxEvent("pause", at(TODAY, 9), reason="list review")
    a = evaluate(DEFAULT, hist(steady(3, 1, 50), events=(pause,)), at(TODAY, 10))
    assert (a.status, a.quota, a.remaining, a.next_send_at) == ("paused", 0, 0, None)
    until = at(TODAY, 12)
    throttle = MailboxEvent("throttle", at(TODAY, 9), until=until, reason="421 too many")
    b = evaluate(DEFAULT, hist(steady(3, 1, 50), events=(throttle,)), at(TODAY, 10))
    assert (b.status, b.next_send_at) == ("paused", until)
    assert (
        evaluate(DEFAULT, hist(steady(3, 1, 50), events=(throttle,)), at(TODAY, 13)).status == "ok"
    )


@pytest.mark.parametrize(
    "past",
    [
        steady(7, 1, 300),
        _stable_week(),
        steady(20, 1, 100, hard=2),
        steady(5, 1, 50, soft=1),
    ],
)
@pytest.mark.parametrize(
    "today_bounces",
    [
        {},
        {"hard": 1},
        {"hard": 5},
        {"hard": 40},
        {"complaint": 2},
        {"block": 10, "soft": 10},
    ],
)
def test_bounces_today_only_lower_the_quota(past, today_bounces):
    without = hist([*past, DayCounts(TODAY, 40)], last_send_at=at(TODAY, 9))
    with_ = hist([*past, DayCounts(TODAY, 40, **today_bounces)], last_send_at=at(TODAY, 9))
    a, b = evaluate(DEFAULT, without, at(TODAY, 18)), evaluate(DEFAULT, with_, at(TODAY, 18))
    assert b.quota <= a.quota
    assert b.remaining <= a.remaining


def test_a_bounce_spike_today_pauses():
    past = steady(7, 1, 100)
    a = evaluate(DEFAULT, hist([*past, DayCounts(TODAY, 100, hard=90)]), at(TODAY, 18))
    assert a.status == "paused"
    assert any("including today" in r for r in a.reasons)


# -- started -------------------------------------------------------------------------------------


def test_started_ignores_history_before_it():
    old = steady(40, 3, 200, hard=40)  # an awful past: would pause
    assert evaluate(DEFAULT, hist(old), at(TODAY)).status == "paused"
    a = evaluate(DEFAULT, hist(old, started=day(2)), at(TODAY))
    assert (a.day, a.stage, a.quota, a.status) == (1, "week 1", 50, "ok")
    recent = [DayCounts(day(2), 50), DayCounts(day(1), 50)]
    b = evaluate(DEFAULT, hist(old + recent, started=day(2)), at(TODAY))
    c = evaluate(DEFAULT, hist(recent), at(TODAY))
    assert (b.day, b.quota, b.status) == (c.day, c.quota, c.status) == (3, 50, "ok")


# -- pacing and window ---------------------------------------------------------------------------


def test_pacing_is_deterministic_and_within_five_to_ten_minutes_in_week_one():
    gaps = set()
    for s in range(40):
        last = at(TODAY, 9).add(seconds=37 * s)
        h = hist([DayCounts(TODAY, 1 + s % 5)], last_send_at=last)
        a = evaluate(DEFAULT, h, last.add(seconds=1))
        assert a.status == "paced" and not a.can_send
        assert a == evaluate(DEFAULT, h, last.add(seconds=1))
        gap = (a.next_send_at - last).total_seconds()
        assert 300 <= gap <= 600
        gaps.add(round(gap))
        assert evaluate(DEFAULT, h, a.next_send_at).status == "ok"
    assert len(gaps) > 10  # randomised across sends, not a fixed gap


def _windowed() -> PolicySpec:
    import tomllib
    from importlib import resources

    data = tomllib.loads(
        (resources.files("warmup.policy") / "presets" / "default.toml").read_text()
    )
    data["window"] = {"hours": ["09:00", "18:00"]}
    return parse_policy(data, "windowed")


def test_window_before_opening_is_paced_until_nine_local():
    a = evaluate(_windowed(), hist(), at(TODAY, 7, 30))
    assert a.status == "paced"
    assert a.next_send_at == at(TODAY, 9)
    assert a.quota == 50 and a.remaining == 50
    assert evaluate(_windowed(), hist(), at(TODAY, 9)).status == "ok"
    late = evaluate(_windowed(), hist(), at(TODAY, 18, 0))
    assert (late.status, late.next_send_at) == ("paced", at(day(-1), 9))


def test_window_weekdays_skip_to_monday():
    spec = dataclasses.replace(
        _windowed(), window=dataclasses.replace(_windowed().window, weekdays=(0, 1, 2, 3, 4))
    )
    saturday = day(2)
    a = evaluate(spec, hist(), at(saturday, 10))
    assert (a.status, a.quota, a.next_send_at) == ("closed", 0, at(TODAY, 9))
    assert "closed: Saturday is not a sending day (window.weekdays): quota 0" in " ".join(a.reasons)


# -- project -------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["default", "gentle"])
def test_project_agrees_with_evaluate_day_by_day(preset):
    spec = load_policy(preset)
    start = day(40)
    _, seen = full_quota_history(spec, start, 35)
    plan = project(spec, hist(), at(start, 8), 35)
    assert [(p.date, p.day, p.stage, p.quota) for p in plan] == [
        (d, a.day, a.stage, a.quota) for d, a in seen
    ]
    assert plan[-1].cumulative == sum(a.quota for _, a in seen)


def test_project_from_the_middle_agrees_with_evaluate():
    start = day(40)
    h, _ = full_quota_history(DEFAULT, start, 10)
    resumed = start + dt.timedelta(days=10)
    _, seen = full_quota_history(DEFAULT, resumed, 25, base=h)
    plan = project(DEFAULT, h, at(resumed, 8), 25)
    assert [(p.day, p.quota) for p in plan] == [(a.day, a.quota) for _, a in seen]


def test_default_ramp_shape():
    _, seen = full_quota_history(DEFAULT, day(40), 30)
    quotas = [a.quota for _, a in seen]
    assert quotas[:7] == [50] * 7
    assert quotas[7] == 100 and quotas[27] == 200 and quotas[28] == 300
    assert quotas == sorted(quotas)


def test_a_next_send_time_fed_back_as_the_last_send_is_still_an_aware_time():
    """A script that sends at ``Allowance.next_send_at`` and records that instant as the last
    send: evaluate() returned a pendulum instant in ``datetime.UTC``, which pendulum turns naive
    in an addition, and the next evaluate() raised "can't compare offset-naive and
    offset-aware datetimes"."""
    spec = load_policy("default")
    day = dt.date(2026, 11, 16)
    now = at(day, 9)  # a pendulum instant, as a script using pendulum passes
    h = hist([DayCounts(day, 1)], last_send_at=now)
    first = evaluate(spec, h, now)
    assert first.status == "paced" and first.next_send_at is not None
    assert first.next_send_at.utcoffset() == dt.timedelta(0)
    t = first.next_send_at
    h = hist([DayCounts(day, 2)], last_send_at=t)
    second = evaluate(spec, h, t)
    assert second.status == "paced" and second.next_send_at is not None
    assert dt.timedelta(minutes=5) <= second.next_send_at - t <= dt.timedelta(minutes=10)


def test_a_healthy_mailbox_at_the_ramp_s_top_is_not_told_the_ramp_continues():
    # A stable mailbox (the last, open-ended stage) read "within 3%, the ramp continues":
    # there is no ramp left; its quota stands. Mid-ramp, the words stay.
    top = evaluate(DEFAULT, hist(steady(40, 1, 100)), at(TODAY))
    assert top.stage == "stable", top.stage
    [health] = [r for r in top.reasons if "bounce rate" in r]
    assert health.endswith(": within 3%, the quota stands (the ramp's top)"), health
    mid = evaluate(DEFAULT, hist(steady(10, 1, 100)), at(TODAY))
    assert mid.stage != "stable", mid.stage
    [health] = [r for r in mid.reasons if "bounce rate" in r]
    assert health.endswith(": within 3%, the ramp continues"), health


def test_no_interval_paces_nothing_even_after_a_send_stamped_a_moment_later():
    """A policy without pacing (interval 0s): a send another process stamped a moment after this
    one's clock read (three 'warmup send's at once; counted since rows stamped up to 5 minutes
    ahead count as made) refused the next with "pacing ( between sends)", exit 75."""
    from warmup.policy.spec import parse_policy_text

    flat = parse_policy_text(
        'name = "flat"\nceiling = 1000\ngrowth_factor = 2.0\n\n[[stage]]\nname = "flat"\ndays = 0\ndaily = 1000\n'
        'interval = "0s"\n',
        "flat.toml",
    )
    now = at(TODAY, 10)
    for last in (now - dt.timedelta(seconds=1), now + dt.timedelta(milliseconds=5)):
        a = evaluate(flat, hist([DayCounts(TODAY, 3)], last_send_at=last), now)
        assert a.status == "ok", (last, a.status, a.reasons)
