"""The walks the worker keeps between its looks at a pool's members
(:func:`warmup.policy.engine.evaluate_steps` with ``walks``): an answer from a kept walk is the
answer walked afresh, whatever changed in between, and a walk is kept only while its inputs
hold (the last send alone, which only the answer's last part reads, keeps it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import at
from tests.test_policy_engine import DEFAULT, day, hist, steady
from tests.test_properties import PROPS, TODAY, histories
from tests.test_steady import ALL
from warmup.policy import DayCounts, MailboxEvent, evaluate
from warmup.policy.engine import Walks, evaluate_steps
from warmup.policy.summed import drive
from warmup.policy.walk import walk_to

BOX = "a@corp.example"


def _kept(spec, h, now, walks: Walks):  # type: ignore[no-untyped-def]
    """The answer with ``walks``, which must be the answer walked afresh; and the walk kept."""
    got = drive(evaluate_steps(spec, h, now, walks))
    assert got == evaluate(spec, h, now)
    return got, walks[BOX][1][0]


def test_a_kept_walk_answers_as_a_fresh_one_and_is_walked_again_when_an_input_moves():
    walks: Walks = {}
    base = hist([*steady(9, 1, 60), DayCounts(TODAY, 12)], last_send_at=at(TODAY, 9, 50))
    first, walk = _kept(DEFAULT, base, at(TODAY, 10), walks)
    # Later, and another last send (the member that sent): the same walk, a new answer's tail
    later = dataclasses.replace(base, last_send_at=at(TODAY, 10, 1))
    a, again = _kept(DEFAULT, later, at(TODAY, 10, 2), walks)
    assert again is walk and a.status == "paced" and first.status == "ok"
    # Each of these moves one input of the walk from the one before: walked again, and
    # answered as afresh (kept, the answer would be the one before's)
    capped = dataclasses.replace(later, cap=5)
    bounced = dataclasses.replace(capped, days=(*later.days[:-1], DayCounts(TODAY, 12, hard=40)))
    resumed = dataclasses.replace(bounced, events=(MailboxEvent("resume", at(TODAY, 9)),))
    # as many events applied, another one: the walk does not forgive the bounces before it
    paused = dataclasses.replace(bounced, events=(MailboxEvent("pause", at(TODAY, 9)),))
    for h, now in (
        (capped, at(TODAY, 10, 3)),
        (bounced, at(TODAY, 10, 4)),
        (resumed, at(TODAY, 10, 5)),
        (paused, at(TODAY, 10, 6)),
        (resumed, at(TODAY, 10, 7)),
        (resumed, at(day(-1), 10)),  # the next day: today's sends are yesterday's
    ):
        answer, walked = _kept(DEFAULT, h, now, walks)
        assert walked is not walk and answer != a
        walk, a = walked, answer
    other = dataclasses.replace(DEFAULT, ceiling=3)  # another policy object: walked again
    answer, walked = _kept(other, resumed, at(day(-1), 10), walks)
    assert walked is not walk and answer.quota == 3 < a.quota


def test_an_event_that_comes_into_force_between_two_answers_walks_again():
    """A resume at 10:30 lifts a health pause for an answer at 10:40, not at 10:20: the same
    history, the walk applies one event more (kept from 10:20, the mailbox stayed paused)."""
    walks: Walks = {}
    resume = MailboxEvent("resume", at(TODAY, 10, 30))
    h = hist(steady(7, 1, 100, hard=20), events=(resume,))
    before, _ = _kept(DEFAULT, h, at(TODAY, 10, 20), walks)
    after, _ = _kept(DEFAULT, h, at(TODAY, 10, 40), walks)
    assert (before.status, after.status) == ("paused", "hold")
    # Asked again at 10:20 with a send today: the verdict kept from 10:40 (the resume applied)
    # is not the one at 10:20, though today's send alone would not change it
    sent = dataclasses.replace(h, days=(*h.days, DayCounts(TODAY, 1)))
    back, _ = _kept(DEFAULT, sent, at(TODAY, 10, 20), walks)
    assert back.status == "paused"


# Today's bounces: none in half the steps (sends alone, the kept verdict's own case)
BOUNCES = st.just(0) | st.integers(0, 40)


@PROPS
@given(
    st.sampled_from(sorted(ALL)),
    histories(),
    st.booleans(),
    st.lists(
        st.tuples(st.integers(0, 40), BOUNCES, BOUNCES, st.integers(0, 1), st.booleans()),
        max_size=6,
    ),
)
def test_a_walk_kept_to_the_start_of_today_answers_as_a_fresh_one_for_more_of_today(
    name, case, clean, steps
):
    """The member that sent, or got a bounce today: its walk to the day's start is the kept
    one, copied, and only today's verdict is worked out again (``walks[..][2]``, the walk to
    the day's start, is the same object throughout), or given again when today's new counts
    cannot change it (``walk.verdict_again``). On random histories and policies, each answer
    so is the one walked afresh: more sends today, bounces and complaints today (up to a
    health pause by today's own counts), a later last send, a later instant; and the kept
    verdict and the state it leaves the walk in are a fresh walk's. ``clean``: no bounce nor
    complaint in the history (a window judged clean, the most common case of a kept verdict)."""
    _, h, now = case
    if clean:
        h = dataclasses.replace(h, days=tuple(DayCounts(c.day, c.sent) for c in h.days))
    spec = ALL[name]
    walks: Walks = {}
    _kept(spec, h, now, walks)
    begun = walks[BOX][2]
    assert begun is not None
    for sent, hard, soft, complaint, later in steps:
        c = next((c for c in h.days if c.day == TODAY), DayCounts(TODAY))
        mine = c._replace(sent=c.sent + sent, hard=c.hard + hard, soft=c.soft + soft)
        mine = mine._replace(complaint=c.complaint + complaint)
        h = dataclasses.replace(
            h, days=(*(d for d in h.days if d.day != TODAY), mine), last_send_at=now
        )
        if later:
            now = min(now + dt.timedelta(minutes=7), _end_of_today(h.timezone))
        answer, walk = _kept(spec, h, now, walks)
        assert walks[BOX][2] is begun and walk is not begun[1]
        assert answer.memo == evaluate(spec, h, now).memo
        _fresh(spec, h, now, walks)


def _fresh(spec, h, now, walks: Walks) -> None:  # type: ignore[no-untyped-def]
    """The walk and today's verdict kept for ``h`` at ``now`` are those walked afresh: the
    verdict field for field, the walk's state, policy, cap and events applied."""
    walk, v, _ = walks[BOX][1]
    fresh, fresh_v, _ = walk_to(spec, h, TODAY, now, checkpoint=TODAY - dt.timedelta(days=1))
    assert v == fresh_v
    assert walk.state(TODAY) == fresh.state(TODAY)
    assert (walk.spec, walk.cap, walk.events_done) == (fresh.spec, fresh.cap, fresh.events_done)
    assert walk.count(TODAY) == fresh.count(TODAY)


def test_sends_that_cannot_change_todays_verdict_give_it_again():
    """The member that sent, its new sends not enough to move today's verdict: the kept
    verdict itself (its window judged on the days before today, clean), or (a mailbox new
    today, judged on today's own sends) the kept verdict with today's window's rates and
    words, its other reasons the kept ones' own strings: not worked out again. A bounce that
    holds the ramp today, and the sends that lift the hold again, are worked out."""
    walks: Walks = {}
    now = at(TODAY, 10)
    judged = hist([*steady(6, 1, 40), DayCounts(TODAY, 12)], last_send_at=now)
    _kept(DEFAULT, judged, now, walks)
    v = walks[BOX][1][1]
    assert not v.by_today and v.health == "ok"
    more = dataclasses.replace(judged, days=(*judged.days[:-1], DayCounts(TODAY, 13)))
    a, _ = _kept(DEFAULT, more, at(TODAY, 10, 1), walks)
    assert walks[BOX][1][1] is v and a.sent == 13
    _fresh(DEFAULT, more, at(TODAY, 10, 1), walks)

    walks = {}
    new = hist([DayCounts(TODAY, 30)], last_send_at=now)
    first, _ = _kept(DEFAULT, new, now, walks)
    v = walks[BOX][1][1]
    assert v.by_today and v.health == "ok" and "(0/30)" in v.reasons[v.why_at]
    for sent, hard, health in ((31, 0, "ok"), (32, 0, "ok"), (33, 1, "hold"), (34, 1, "ok")):
        h = dataclasses.replace(new, days=(DayCounts(TODAY, sent, hard=hard),))
        _kept(DEFAULT, h, now, walks)
        again = walks[BOX][1][1]
        assert again.health == health and f"({hard}/{sent})" in again.reasons[again.why_at]
        _fresh(DEFAULT, h, now, walks)
        # kept: the warm-up day's words are the same string; worked out again: an equal one
        assert (again.reasons[0] is v.reasons[0]) is (health == v.health)
        v = again


def _end_of_today(tz: str) -> dt.datetime:
    """The last microsecond of TODAY in ``tz`` (a later instant stays on the same day)."""
    start = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(), ZoneInfo(tz))
    return start.astimezone(dt.UTC) - dt.timedelta(microseconds=1)
