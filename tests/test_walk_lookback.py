"""The memo's lookback on policies whose health window is not 7 days."""

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_walk import PROPS, SPECS, TODAY, histories, instant, memo_view
from warmup.policy.engine import evaluate, walk_timeline
from warmup.policy.walk import lookback

WINDOWS = st.sampled_from([1, 2, 3, 5, 6, 8, 10, 14])


def _spec(name, w):
    spec = SPECS[name]
    return dataclasses.replace(spec, health=dataclasses.replace(spec.health, window_days=w))


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130), WINDOWS)
def test_evaluate_from_a_memo_any_window(case, back, w):
    name, hist, now = case
    spec = _spec(name, w)
    full = evaluate(spec, hist, now)
    view = memo_view(spec, hist, TODAY - dt.timedelta(days=back), now)
    if view is None:
        return
    resumed = evaluate(spec, view, now)
    assert resumed == full
    assert resumed.reasons == full.reasons
    assert resumed.memo == full.memo


WINDOWS_7 = st.sampled_from([1, 2, 3, 5, 6, 7, 7, 7, 8, 10, 14])


@pytest.mark.slow
@PROPS
@given(histories(), st.integers(1, 130), WINDOWS_7)
def test_timeline_from_a_memo_with_lookback_days_any_window(case, back, w):
    """As the report reads it (timeline_cache): the memo, every event, and only the days from
    lookback days before the memo's day."""
    name, hist, now = case
    spec = _spec(name, w)
    upto = TODAY - dt.timedelta(days=back)
    full, state = walk_timeline(spec, hist, now, explain=False)
    _, memo = walk_timeline(spec, hist, instant(upto, 0, hist.timezone), explain=False)
    if memo.last_active is None:
        return
    since = upto - dt.timedelta(days=lookback(spec))
    view = dataclasses.replace(hist, memo=memo, days=tuple(c for c in hist.days if c.day >= since))
    tail, tail_state = walk_timeline(spec, view, now, explain=False)
    assert tail == [d for d in full if d.date >= upto]
    assert tail_state == state
