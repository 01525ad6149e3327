"""An answer's ``steady`` (:attr:`warmup.policy.Allowance.steady`): the same history asked about
at any instant from the one asked until then gets the same answer. The worker gives a pool
member's kept answer again on that promise (:func:`warmup.api.recipient_checks`), so it is
checked against a fresh :func:`~warmup.policy.evaluate` at instants across it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib

from hypothesis import given
from hypothesis import strategies as st

from tests.test_morning import POLICY
from tests.test_properties import PROPS, SPECS, histories
from warmup.policy import History, evaluate
from warmup.policy.engine import evaluate_steps
from warmup.policy.spec import load_policy, parse_policy
from warmup.policy.summed import drive

BUSY = parse_policy(tomllib.loads(POLICY), "busy")  # two ranges a day, paced, capped
ALL = {
    **SPECS,
    "busy": BUSY,
    "windowed": dataclasses.replace(  # the same window, unpaced: the ranges' ends decide
        BUSY,
        stages=tuple(
            dataclasses.replace(s, interval_min=0.0, interval_max=0.0) for s in BUSY.stages
        ),
    ),
}


def _kept(spec, hist, now):  # type: ignore[no-untyped-def]
    return drive(evaluate_steps(spec, hist, now, {}))


@PROPS
@given(
    st.sampled_from(sorted(ALL)),
    histories(),
    st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=4),
)
def test_an_answer_is_the_same_at_every_instant_until_its_steady(name, case, shares):
    """On random histories (today's counts, pauses and back-offs with their ends, the last
    send, caps) and policies with windows, pacing, calendars and caps: evaluated at any
    instant in [asked, steady), the answer is the one given (every field, the memo too)."""
    _, hist, now = case
    spec = ALL[name]
    a = _kept(spec, hist, now)
    fresh = evaluate(spec, hist, now)
    assert a == fresh and a.memo == fresh.memo and fresh.steady is None
    if a.steady is None:
        return
    assert a.steady > now
    span = a.steady - now
    last = a.steady - dt.timedelta(microseconds=1)
    for at in [min(now + span * share, last) for share in shares] + [last]:
        b = evaluate(spec, hist, at)
        assert b == a, (at, a.steady)
        assert b.memo == a.memo


def test_a_plain_mailbox_answer_holds_until_the_next_local_day_and_a_paced_one_until_its_gap():
    """Asked at 10:00 in Shanghai, a flat policy without pacing or window answers the same
    until midnight there; the last send 2 min ago under a 5-10 min gap: until the gap's end, when
    the answer changes (paced, then ok)."""
    spec = load_policy("default")
    tz = "Asia/Shanghai"
    now = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)  # 10:00 there
    hist = History(mailbox="a@corp.example", timezone=tz)
    flat = dataclasses.replace(
        spec,
        stages=tuple(
            dataclasses.replace(s, interval_min=0.0, interval_max=0.0) for s in spec.stages
        ),
    )
    assert _kept(flat, hist, now).steady == dt.datetime(2026, 11, 16, 16, 0, tzinfo=dt.UTC)
    paced = dataclasses.replace(hist, last_send_at=now - dt.timedelta(minutes=2))
    a = _kept(spec, paced, now)
    assert a.status == "paced" and a.steady == a.next_send_at
    assert evaluate(spec, paced, a.next_send_at).status == "ok"


def test_an_answer_in_an_open_window_holds_until_its_range_ends_and_a_shut_one_until_it_opens():
    """The window 01:00-11:00 and 13:00-23:00 (unpaced): asked at 10:00 the answer holds
    until 11:00, when the window shuts; asked at 11:30, until 13:00, when it opens."""
    spec = ALL["windowed"]
    tz = "Asia/Shanghai"
    hist = History(mailbox="a@corp.example", timezone=tz)
    at_ten = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    a = _kept(spec, hist, at_ten)
    assert a.status == "ok" and a.steady == dt.datetime(2026, 11, 16, 3, 0, tzinfo=dt.UTC)
    assert evaluate(spec, hist, a.steady).status == "paced"
    b = _kept(spec, hist, at_ten + dt.timedelta(minutes=90))
    assert b.status == "paced" and b.steady == b.next_send_at
    assert b.steady == dt.datetime(2026, 11, 16, 5, 0, tzinfo=dt.UTC)
    assert evaluate(spec, hist, b.steady).status == "ok"
