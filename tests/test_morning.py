"""A gate answers a reservation from the morning's walk and today's counters
(:mod:`warmup.policy.morning`): every answer must be the one a fresh ``evaluate`` gives."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_properties import ZONES, histories
from warmup.policy import DayCounts, MailboxEvent, evaluate
from warmup.policy.morning import morning
from warmup.policy.spec import load_policy, parse_policy

POLICY = """name = "busy"
ceiling = 12
growth_factor = 3.0
domain_cap = 10

[[stage]]
name = "first"
days = 2
daily = [4, 6]
interval = ["1m", "6m"]

[[stage]]
name = "then"
days = 0
daily = 12
interval = ["0s", "2m"]

[window]
hours = [["01:00", "11:00"], ["13:00", "23:00"]]

[health]
window_days = 3
min_sample = 4
hold_above = 0.1
step_back_above = 0.2
pause_above = 0.45
complaint_hold_above = 0.05
complaint_pause_above = 0.3

[recipient_domains]
"big.example" = 3
"""

_boxes = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One ledger and policy for every example (a fresh mailbox each)."""
    from warmup.ledger import open_ledger

    tmp = tmp_path_factory.mktemp("morning")
    (tmp / "busy.toml").write_text(POLICY)
    with tempfile.TemporaryDirectory() as db:
        ledger = open_ledger(str(Path(db) / "morning.db"))
        yield ledger, str(tmp / "busy.toml")
        ledger.close()


op = st.one_of(
    st.tuples(st.just("reserve"), st.integers(1, 3), st.integers(0, 3 * 3600)),
    st.tuples(st.just("reserve"), st.integers(1, 2), st.integers(0, 400)),
    st.tuples(st.just("reserve"), st.just(1), st.integers(0, 400)),
    st.tuples(st.just("bounce"), st.sampled_from(["hard", "soft", "block"]), st.integers(0, 9)),
    st.tuples(st.just("complaint"), st.integers(0, 9)),
    st.tuples(st.just("pause"), st.integers(0, 4 * 3600)),
    st.tuples(st.just("timed pause"), st.integers(0, 4 * 3600), st.integers(60, 7200)),
    st.tuples(st.just("resume"), st.integers(0, 3600)),
    st.tuples(st.just("throttle"), st.integers(60, 7200)),
    st.tuples(st.just("day"), st.integers(1, 3), st.integers(0, 23 * 3600)),
    st.tuples(st.just("other"), st.integers(1, 2)),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.slow
@given(st.sampled_from(ZONES), st.integers(0, 24 * 3600 - 1), st.lists(op, max_size=45))
def test_every_reservation_answers_as_a_fresh_evaluate(shared, tz, start, ops):
    """Sends, bounces, complaints, pauses, resumes, back-offs, a second writer, time jumps and
    new days: each reservation is refused exactly when ``evaluate`` (on the ledger's reference
    read path, :meth:`Gate.preview`) refuses, with the same words and the same next slot."""
    from warmup import Gate, NotAllowed, api
    from warmup.ledger import BounceIn, EventIn

    ledger, policy = shared
    k = next(_boxes)
    address = f"box@corp{k}.example"  # a domain each: the domain cap counts all
    box = api.add_mailbox(ledger, address, "exmail", timezone=tz, policy=policy)
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC) + dt.timedelta(seconds=start)
    gate = Gate(address, ledger=ledger, password="x")
    other = Gate(address, ledger=ledger, password="x")
    taken: list[tuple[str, object]] = []  # (recipient, reservation) in order
    n = itertools.count()

    def reserve(g, many: int) -> None:
        rcpts = [
            f"r{k}-{next(n)}@{'big.example' if i % 2 else f'd{i}.example'}" for i in range(many)
        ]
        ref, refusal = g.preview(rcpts, now)
        try:
            res = g.reserve(rcpts, now=now)
        except NotAllowed as exc:
            assert refusal is not None, f"refused, evaluate allows: {exc}"
            assert str(exc) == refusal
            # The gate counts today's sends to this message's recipient domains only (the
            # reference to every domain): that line of the reasons may differ, no other.
            assert _but_domains(exc.allowance) == _but_domains(ref)
        else:
            assert refusal is None, f"reserved, evaluate refuses: {refusal}"
            taken.extend((r, res) for r in rcpts)
            res.settle("sent", now=now)

    try:
        for step in ops:
            what = step[0]
            if what == "reserve":
                now += dt.timedelta(seconds=step[2])
                reserve(gate, step[1])
            elif what == "other":
                reserve(other, step[1])
            elif what == "bounce" and taken:
                rcpt, _ = taken[-1 - step[2] % len(taken)]
                ledger.record(
                    box, bounces=[BounceIn(rcpt, step[1], now, key=f"b{next(n)}", trusted=True)]
                )
            elif what == "complaint" and taken:
                rcpt, _ = taken[step[1] % len(taken)]
                ledger.record(box, bounces=[BounceIn(rcpt, "complaint", now, key=f"c{next(n)}")])
            elif what in ("pause", "resume"):
                ledger.add_event(box, what, now - dt.timedelta(seconds=step[1]), "test")
            elif what == "timed pause":  # pause --until: ends by itself
                begin = now - dt.timedelta(seconds=step[1])
                ledger.add_event(box, "pause", begin, "test", begin + dt.timedelta(seconds=step[2]))
            elif what == "throttle":
                ledger.record(
                    box,
                    events=[
                        EventIn(
                            "throttle", now, "421 slow down", now + dt.timedelta(seconds=step[1])
                        )
                    ],
                )
            elif what == "day":
                held = gate._verdicts.morning
                local = now.astimezone(held.zone if held else dt.UTC)
                midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
                now = (midnight + dt.timedelta(days=step[1], seconds=step[2])).astimezone(dt.UTC)
            # after each step, the gate's answer for one recipient at this instant
            reserve(gate, 1)
    finally:
        gate.close()
        other.close()


def _but_domains(a):
    kept = tuple(r for r in a.reasons if not r.startswith("recipient-domain caps:"))
    return dataclasses.replace(a, reasons=kept)


# -- the engine alone ---------------------------------------------------------------------------


SPECS = {name: load_policy(name) for name in ("default", "gentle", "exmail")}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(SPECS)),
    histories(),
    st.integers(1, 4),
    st.integers(0, 3 * 3600),
)
def test_the_morning_says_yes_only_when_evaluate_does(name, case, wanted, later):
    """On random histories (today's counts, events, the last send, caps), a morning's yes is
    evaluate's; and the same morning still holds, and still agrees, later the same day."""
    _, hist, now = case
    spec = SPECS[name]
    m = morning(spec, hist, now)
    assert m.holds(spec, hist, now)
    for at in (now, now + dt.timedelta(seconds=later)):
        if not m.holds(spec, hist, at):
            continue  # a new local day: another morning
        if m.allows(hist, at, wanted):
            a = evaluate(spec, hist, at)
            assert a.can_send and a.remaining >= wanted, a
            assert m.memo == a.memo


def test_the_morning_answers_a_usual_day_and_defers_what_it_cannot_know():
    """The quick answer is really taken on a plain day, and left to evaluate for each thing
    today can change: a bounce that worsens the health, the quota used, the pacing gap, an event
    during the day, the window shut."""
    spec = load_policy("default")
    tz = "Asia/Shanghai"
    today = dt.date(2026, 11, 16)
    days = tuple(DayCounts(today - dt.timedelta(days=k), 40) for k in range(1, 15))
    now = dt.datetime(2026, 11, 16, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai
    hist = dataclasses.replace(
        histories_base(tz), days=(*days, DayCounts(today, 5)), last_send_at=None
    )
    m = morning(spec, hist, now)
    a = evaluate(spec, hist, now)
    assert a.can_send and m.allows(hist, now, 1)
    assert not m.allows(hist, now, a.remaining + 1)  # more recipients than are left
    used = dataclasses.replace(hist, days=(*days, DayCounts(today, a.quota)))
    assert m.holds(spec, used, now) and not m.allows(used, now, 1)
    bounced = dataclasses.replace(hist, days=(*days, DayCounts(today, 5, hard=20)))
    assert evaluate(spec, bounced, now).status in ("hold", "step_back", "paused")
    assert not m.allows(bounced, now, 1)
    paced = dataclasses.replace(hist, last_send_at=now - dt.timedelta(seconds=1))
    assert evaluate(spec, paced, now).status == "paced" and not m.allows(paced, now, 1)
    pause = MailboxEvent("pause", now - dt.timedelta(minutes=5), reason="by hand")
    paused = dataclasses.replace(hist, events=(pause,))
    assert not m.holds(spec, paused, now)  # another input: another morning
    assert not morning(spec, paused, now).allows(paused, now, 1)
    busy = parse_policy(tomllib.loads(POLICY), "busy")
    noon = dt.datetime(2026, 11, 16, 4, 30, tzinfo=dt.UTC)  # 12:30: between the window's hours
    assert evaluate(busy, hist, noon).status == "paced"
    assert not morning(busy, hist, noon).allows(hist, noon, 1)
    ten = now - dt.timedelta(hours=1)
    assert morning(busy, hist, ten).allows(hist, ten, 1)


def histories_base(tz: str):
    from warmup.policy import History

    return History(mailbox="a@corp.example", timezone=tz)


@pytest.mark.parametrize("tz", ZONES[:1])
def test_a_new_local_day_is_another_morning(tz):
    spec = load_policy("default")
    hist = histories_base(tz)
    now = dt.datetime(2026, 11, 16, 3, 0, tzinfo=dt.UTC)
    m = morning(spec, hist, now)
    assert m.holds(spec, hist, now + dt.timedelta(hours=12))  # 23:00 local, same day
    assert not m.holds(spec, hist, now + dt.timedelta(hours=13))  # local midnight passed
