"""The engine's shortcuts for the worker's look at a pool's members (branches poolperf4 and
poolmargin) give the answers the plain code gave: the next opening compared in UTC, the window's
ranges kept by (window, day, zone), a history and an allowance built without the frozen
dataclass's ``__init__``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmup.policy.calendar import (
    SEARCH_DAYS,
    Calendar,
    Window,
    _ranges_on,
    closed,
    next_opening,
    ranges_on,
)
from warmup.policy.engine import Allowance, built_allowance
from warmup.policy.inputs import DayCounts, History, built_history
from warmup.policy.rules import _line, line

ZONES = ("UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe")
HOURS = [dt.time(h, m) for h in range(24) for m in (0, 30)]


def _opening_in_local(window: Window, calendar: Calendar, local: dt.datetime) -> dt.datetime | None:
    """next_opening as it was: each range compared with the local instant itself."""
    tz = local.tzinfo
    assert tz is not None
    day = local.date()
    for k in range(SEARCH_DAYS):
        d = day + dt.timedelta(days=k)
        if closed(window, calendar, d) is not None:
            continue
        for a, b in _ranges_on(window, d, tz):
            if k == 0 and a <= local < b:
                return None
            if a > local:
                return a
    return None


@st.composite
def windows(draw: st.DrawFn) -> Window:
    cuts = sorted(draw(st.sets(st.sampled_from(HOURS), min_size=1, max_size=4)))
    ends: list[dt.time | None] = [*cuts[1:], None]
    ranges = tuple(zip(cuts, ends, strict=True))[:: draw(st.sampled_from((1, 2)))]
    days = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    return Window(ranges=ranges, weekdays=tuple(sorted(days)))


@settings(max_examples=300, deadline=None)
@given(
    window=windows(),
    zone=st.sampled_from(ZONES),
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)),
)
def test_the_next_opening_compared_in_utc_is_the_one_compared_in_local_time(
    window: Window, zone: str, at: dt.datetime
) -> None:
    local = at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone))
    calendar = Calendar()
    assert next_opening(window, calendar, local) == _opening_in_local(window, calendar, local)


def test_the_next_opening_of_a_range_the_clocks_skip_is_the_one_compared_in_local_time() -> None:
    # New York's spring-forward day: 02:00-03:00 never opens, 02:30 local is 03:30 EDT
    window = Window(ranges=((dt.time(2), dt.time(3)), (dt.time(3), None)))
    ny = ZoneInfo("America/New_York")
    for minute in range(0, 24 * 60, 15):
        local = dt.datetime(2026, 3, 8, tzinfo=ny) + dt.timedelta(minutes=minute)
        assert next_opening(window, Calendar(), local) == _opening_in_local(
            window, Calendar(), local
        )


@settings(max_examples=100, deadline=None)
@given(window=windows(), zone=st.sampled_from(ZONES), day=st.dates(dt.date(2026, 1, 1)))
def test_the_ranges_kept_by_value_are_the_ranges_worked_out(
    window: Window, zone: str, day: dt.date
) -> None:
    tz = ZoneInfo(zone)
    assert ranges_on(window, day, tz) == _ranges_on(window, day, tz)
    assert ranges_on(window, day, tz) == _ranges_on(window, day, tz)  # kept now


@pytest.mark.parametrize("threshold", [0.0, 0.001, 0.03, 0.035, 0.05, 0.1, 1 / 3, 1.0])
def test_a_threshold_kept_by_value_is_worded_as_worked_out(threshold: float) -> None:
    assert line(threshold) == _line(threshold) == line(threshold)


def _values() -> dict[str, object]:
    return {
        "mailbox": "a@corp.example",
        "timezone": "Asia/Shanghai",
        "days": (DayCounts(dt.date(2026, 12, 6), 40, 1), DayCounts(dt.date(2026, 12, 7), 3)),
        "events": (),
        "last_send_at": dt.datetime(2026, 12, 7, 1, tzinfo=dt.UTC),
        "cap": 120,
        "provider_ceiling": 500,
        "provider_min_interval": 1.5,
        "started": dt.date(2026, 11, 1),
        "domain_sent_today": None,
        "memo": None,
        "recipient_domains_today": {"example.com": 2},
        "sums": None,
        "domain_days": {},
        "policy_texts": {},
    }


def test_a_history_built_from_its_fields_is_the_dataclass_built_from_them() -> None:
    built, made = built_history(_values()), History(**_values())  # type: ignore[arg-type]
    assert type(built) is History
    assert built == made and repr(built) == repr(made)
    assert vars(built) == vars(made)
    assert dataclasses.replace(built, cap=7) == dataclasses.replace(made, cap=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.cap = 7  # type: ignore[misc]


def test_a_history_missing_a_field_or_with_one_too_many_is_not_built() -> None:
    short = _values()
    del short["policy_texts"]
    with pytest.raises(TypeError, match="policy_texts"):
        built_history(short)
    with pytest.raises(TypeError):
        built_history({**_values(), "extra": 1})


def _allowance_values() -> dict[str, object]:
    return {
        "mailbox": "a@corp.example",
        "stage": "weeks 2-4",
        "day": 9,
        "quota": 105,
        "sent": 3,
        "remaining": 102,
        "status": "paced",
        "next_send_at": dt.datetime(2026, 12, 7, 1, 5, tzinfo=dt.UTC),
        "bounce_rate": 0.012,
        "complaint_rate": 0.0,
        "reasons": ("day 9 of warm-up", "pacing (random 2-4 min between sends)"),
        "memo": None,
        "steady": dt.datetime(2026, 12, 7, 1, 5, tzinfo=dt.UTC),
    }


def test_an_allowance_built_from_its_fields_is_the_dataclass_built_from_them() -> None:
    built, made = built_allowance(_allowance_values()), Allowance(**_allowance_values())  # type: ignore[arg-type]
    assert type(built) is Allowance
    assert built == made and repr(built) == repr(made) and built.to_dict() == made.to_dict()
    assert vars(built) == vars(made) and built.steady == made.steady
    assert built.can_send is made.can_send is False  # paced
    assert dataclasses.replace(built, sent=4) == dataclasses.replace(made, sent=4)
    assert hash(dataclasses.astuple(built)) == hash(dataclasses.astuple(made))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.sent = 4  # type: ignore[misc]


def test_an_allowance_missing_a_field_or_with_one_too_many_is_not_built() -> None:
    short = _allowance_values()
    del short["steady"]
    with pytest.raises(TypeError, match="steady"):
        built_allowance(short)
    with pytest.raises(TypeError):
        built_allowance({**_allowance_values(), "extra": 1})
