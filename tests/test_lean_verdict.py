"""The gate's lean decision (a reservation on the rows its last one left answered from today's
counts, no History built: :meth:`Morning.allows_today`,
:meth:`warmup.gateverdict.Verdicts.lean_decide`) gives the full path's verdict: on generated
histories for the engine alone, and reservation by reservation on a real gate, over time zones
(some turning their clocks at midnight), paused and resumed mailboxes, a domain cap, bounces
today and the morning's sending window."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import tempfile
import tomllib
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_morning import POLICY
from tests.test_morning import op as MORNING_OPS
from tests.test_properties import TODAYS, day_counts, histories
from warmup.ledger.gatepath import Decision
from warmup.policy import evaluate
from warmup.policy.engine import recipient_domain_refusal
from warmup.policy.morning import morning
from warmup.policy.spec import load_policy, parse_policy

SPECS = {
    **{name: load_policy(name) for name in ("default", "gentle", "exmail")},
    "busy": parse_policy(tomllib.loads(POLICY), "busy"),  # a domain cap, two windows a day
}


# Today's counts: any (mostly past the quota), or a few sends and bounces (mostly within it)
COUNTS = TODAYS | st.builds(
    day_counts, st.just(0), st.integers(0, 40), *[st.integers(0, 3)] * 3, st.integers(0, 1)
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(sorted(SPECS)),
    histories(),
    st.booleans(),
    COUNTS,
    st.none() | st.integers(0, 14),
    st.none() | st.integers(0, 900),
    st.integers(1, 4),
    st.integers(0, 8 * 3600),
)
def test_the_lean_answer_is_the_full_one(
    name, case, plain, counts, domain_sent, ago, wanted, later
):
    """For a morning that holds, today's counts, the last send and the domain's sends given
    alone answer as the History holding them: the same yes or no as :meth:`Morning.allows`,
    and a yes only where :func:`evaluate` lets ``wanted`` recipients go (``plain``: no events,
    the common day, where the morning answers at all)."""
    _, hist, now = case
    spec = SPECS[name]
    if plain:
        hist = dataclasses.replace(hist, events=())
    m = morning(spec, hist, now)
    past = tuple(c for c in hist.days if c.day < m.today)
    answers = Counter()
    for at in (now, now + dt.timedelta(seconds=later)):
        row = None if counts is None else counts._replace(day=m.today)
        last = None if ago is None else at - dt.timedelta(seconds=ago)
        full = dataclasses.replace(
            hist,
            days=(*past, row) if row is not None else past,
            last_send_at=last,
            domain_sent_today=domain_sent,
        )
        if not m.holds(spec, full, at):
            continue  # a new local day: another morning
        lean = m.allows_today(row, last, domain_sent, at, wanted)
        assert lean == m.allows(full, at, wanted)
        answers[lean] += 1
        if lean:
            a = evaluate(spec, full, at)
            assert a.can_send and a.remaining >= wanted, a
            assert m.memo == a.memo


# -- a real gate, reservation by reservation ----------------------------------------------------

# (zone, local day the run starts on): the usual four, and days whose clocks turn at midnight
# (Beirut goes back from 24:00 to 23:00 on 2026-10-25, Santiago on 2026-04-05; Havana and
# Asuncion's transitions around local midnight).
STARTS = [
    ("Asia/Shanghai", dt.date(2026, 11, 2)),
    ("UTC", dt.date(2026, 11, 2)),
    ("America/Los_Angeles", dt.date(2026, 11, 1)),
    ("Europe/Paris", dt.date(2026, 10, 24)),
    ("Asia/Beirut", dt.date(2026, 10, 24)),
    ("America/Santiago", dt.date(2026, 4, 4)),
    ("America/Havana", dt.date(2026, 11, 1)),
    ("America/Asuncion", dt.date(2026, 10, 4)),
]

# test_morning's steps (reservations, bounces, complaints, pauses, resumes, back-offs, new days,
# a second gate on the mailbox) and a sibling mailbox sending under the domain's cap
op = st.one_of(MORNING_OPS, st.tuples(st.just("sibling"), st.integers(1, 3)))

# The busy policy with room for a day of reservations: a domain cap, two windows a day, pacing
# of up to 90 s, a recipient domain's cap; a health window that judges today's bounces.
ROOMY = (
    POLICY.replace("ceiling = 12", "ceiling = 60")
    .replace("domain_cap = 10", "domain_cap = 45")
    .replace("daily = [4, 6]", "daily = [30, 40]")
    .replace('interval = ["1m", "6m"]', 'interval = ["0s", "90s"]')
    .replace("daily = 12", "daily = 60")
    .replace('"big.example" = 3', '"big.example" = 12')
)
_boxes = itertools.count()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One ledger and the busy and roomy policies for every example (fresh mailboxes each)."""
    from warmup.ledger import open_ledger

    tmp = tmp_path_factory.mktemp("lean")
    (tmp / "busy.toml").write_text(POLICY)
    (tmp / "roomy.toml").write_text(ROOMY)
    with tempfile.TemporaryDirectory() as db:
        ledger = open_ledger(str(Path(db) / "lean.db"))
        yield ledger, str(tmp / "busy.toml"), str(tmp / "roomy.toml")
        ledger.close()


def _verdict(d: Decision) -> tuple[object, ...]:
    r = d.refusal
    return (type(r), str(r) if r is not None else None, d.memo)


def _checked_reserve(gate, rcpts: list[str], mid: str, now: dt.datetime, seen: Counter) -> bool:
    """Reserve ``rcpts`` through the gate's transaction, every lean answer compared with the
    full path's on the History of the same kept rows; True when reserved."""

    def decide(hist, bad, at, rev):
        seen["full read"] += 1
        return gate._verdicts.decide(rcpts, hist, bad, at, rev)

    def lean(kept, bad, at, rev):
        known = gate._verdicts.lean is not None and gate._verdicts.lean[0] is kept
        got = gate._verdicts.lean_decide(rcpts, kept, bad, at, rev)
        hist = kept.history()
        want = gate._verdicts.decide(rcpts, hist, bad, at, rev)
        assert _verdict(got) == _verdict(want)
        # and a yes is evaluate's (its own reads, no morning)
        if rev == gate._verdicts.rev and not bad:
            a = evaluate(gate.spec, hist, at)
            yes = a.can_send and a.remaining >= len(rcpts)
            assert (got.refusal is None) == (
                yes and recipient_domain_refusal(gate.spec, hist, rcpts) is None
            ), a
        if known:
            # answered without the History: the morning it used holds for it
            assert gate._verdicts.morning.holds(gate.spec, hist, at)
            seen["lean yes" if got.refusal is None else "lean no"] += 1
        return got

    from warmup.errors import WarmupError
    from warmup.gateverdict import Changed

    for _ in range(2):
        try:
            gate._db.reserve(rcpts, mid, decide, lambda: now, lean=lean)
        except Changed as changed:  # as Gate.reserve: the rev as read, and once more
            assert not gate.stale()
            gate._verdicts.rev = changed.rev
            seen["rev"] += 1
            continue
        except WarmupError as exc:  # a refusal, raised once committed
            seen[type(exc).__name__] += 1
            return False
        return True
    raise AssertionError("the rev kept changing")


@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.slow
@given(
    st.sampled_from(STARTS),
    st.integers(0, 24 * 3600 - 1),
    st.sampled_from(["busy", "roomy"]),
    st.lists(op, max_size=40),
)
def test_every_lean_answer_of_a_gate_is_the_full_ones(shared, start, second, which, ops):
    """Reservations (paced, up to the quota, past the window), bounces and complaints today,
    pauses, resumes and back-offs, a second gate on the mailbox, a sibling mailbox using the
    domain's cap, new days: each reservation a gate answers from its kept rows gets the verdict
    the full path gives on their History."""
    from warmup import Gate, api
    from warmup.ledger import BounceIn, EventIn

    ledger, busy, roomy = shared
    policy = busy if which == "busy" else roomy
    tz, day = start
    k = next(_boxes)
    address, sibling = f"box@lean{k}.example", f"other@lean{k}.example"
    box = api.add_mailbox(ledger, address, "exmail", timezone=tz, policy=policy)
    api.add_mailbox(ledger, sibling, "exmail", timezone=tz, policy=policy)
    local = dt.datetime.combine(day, dt.time(), ZoneInfo(tz)) + dt.timedelta(seconds=second)
    now = local.astimezone(dt.UTC)
    # The wall clock is the test's: a reservation on what the real clock calls a past day
    # bumps the mailbox's rev, and the gate keeps no rows after it.
    wall, ledger.clock = ledger.clock, lambda: now
    gate = Gate(address, ledger=ledger, password="x")
    second = Gate(address, ledger=ledger, password="x")
    other = Gate(sibling, ledger=ledger, password="x")
    seen: Counter = Counter()
    taken: list[str] = []
    n = itertools.count()

    def reserve(g, many: int) -> None:
        rcpts = [
            f"r{k}-{next(n)}@{'big.example' if i % 2 else f'd{i}.example'}" for i in range(many)
        ]
        if _checked_reserve(g, rcpts, f"<m{k}.{next(n)}@x>", now, seen) and g is not other:
            taken.extend(rcpts)

    try:
        for step in ops:
            what = step[0]
            if what == "reserve":
                now += dt.timedelta(seconds=step[2])
                for _ in range(4):  # on the kept rows after the first, at times past the pacing
                    reserve(gate, step[1])
                    now += dt.timedelta(seconds=95)
            elif what == "other":
                reserve(second, step[1])
            elif what == "sibling":
                reserve(other, step[1])
            elif what == "bounce" and taken:
                rcpt = taken[-1 - step[2] % len(taken)]
                ledger.record(
                    box, bounces=[BounceIn(rcpt, step[1], now, key=f"b{next(n)}", trusted=True)]
                )
            elif what == "complaint" and taken:
                rcpt = taken[step[1] % len(taken)]
                ledger.record(box, bounces=[BounceIn(rcpt, "complaint", now, key=f"c{next(n)}")])
            elif what in ("pause", "resume"):
                ledger.add_event(box, what, now - dt.timedelta(seconds=step[1]), "test")
            elif what == "timed pause":
                begin = now - dt.timedelta(seconds=step[1])
                ledger.add_event(box, "pause", begin, "test", begin + dt.timedelta(seconds=step[2]))
            elif what == "throttle":
                until = now + dt.timedelta(seconds=step[1])
                ledger.record(box, events=[EventIn("throttle", now, "421 slow down", until)])
            elif what == "day":
                midnight = now.astimezone(ZoneInfo(tz)).replace(hour=0, minute=0, second=0)
                later = midnight.replace(tzinfo=None) + dt.timedelta(days=step[1])
                now = (
                    later.replace(tzinfo=ZoneInfo(tz)) + dt.timedelta(seconds=step[2])
                ).astimezone(dt.UTC)
            reserve(gate, 1)
    finally:
        for g in (gate, second, other):
            g.close()
        ledger.clock = wall


def test_a_plain_day_is_answered_lean(shared):
    """The common case takes the lean path: on a plain day, every reservation after the first
    two (the full read, then the History checked once on the kept rows) is answered from today's
    counts alone, and says yes until the quota is used, then no, as the full path does."""
    from warmup import Gate, api

    ledger, policy, _ = shared
    k = next(_boxes)
    address = f"box@lean{k}.example"
    api.add_mailbox(ledger, address, "exmail", timezone="Asia/Beirut", policy=policy)
    now = dt.datetime(2026, 10, 24, 6, 0, tzinfo=dt.UTC)  # 09:00 in Beirut, in the window
    wall, ledger.clock = ledger.clock, lambda: now
    gate = Gate(address, ledger=ledger, password="x")
    seen: Counter = Counter()
    try:
        for i in range(12):
            now += dt.timedelta(minutes=7)  # past the busy policy's first-stage pacing
            _checked_reserve(gate, [f"r{k}-{i}@d.example"], f"<p{k}.{i}@x>", now, seen)
    finally:
        gate.close()
        ledger.clock = wall
    # the first stage's quota is 4: reserved 4, refused 8 (the NotAllowed on the kept rows)
    assert seen["full read"] == 1 and seen["NotAllowed"] == 8
    assert seen["lean yes"] == 2 and seen["lean no"] == 8
