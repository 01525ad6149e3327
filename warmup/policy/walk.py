"""The policy's day-by-day walk: one walk, from a mailbox's first day to today. Pure, no I/O.

A mailbox's standing is a function of its history: the walk starts on its first day with sends
or bounces (from its start day on) and goes day by day to today, deriving for each day the
warm-up day, the stage, the health verdict on the trailing window and the quota the policy
allowed then. :func:`warmup.policy.engine.evaluate` (today's allowance),
:func:`~warmup.policy.engine.timeline` (every past day, for reports) and
:func:`~warmup.policy.engine.project` (the days ahead) all look at this one walk, so a report or
a plan cannot disagree with ``warmup quota``.

Here the walk is started (:func:`start`: from the mailbox's first day, or resumed from its memo)
and driven to a day (:func:`replay`, :func:`walk_to`); its parts live in their own modules:

- :mod:`warmup.policy.inputs`: what the walk reads (:class:`History`, :class:`DayCounts`,
  :class:`MailboxEvent`) and the memo it leaves (:class:`WalkState`, valid for
  :func:`inputs_digest`; see "Memos" there);
- :mod:`warmup.policy.rules`: every rule, one day at a time (:class:`~warmup.policy.rules.Walk`);
- :mod:`warmup.policy.tables`: the days as dense tables (:class:`DaySums`, :class:`DayRows`,
  a policy's per-day answers);
- :mod:`warmup.policy.summed`: runs of ordinary days in one loop (:class:`SummedWalk`), and the
  drivers of walks paused at each stretch that :mod:`warmup.policy.steady` walks in numpy
  (:func:`drive_all`).

The names the rest of warmup imports from here (the ledger's history and memos, the gate's and
reports' drivers) are those modules' own, given again in ``__all__``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from warmup.policy import eras
from warmup.policy.inputs import (
    CODE_VERSION,
    GROWTH_DAYS,
    ONE_DAY,
    DayCounts,
    History,
    MailboxEvent,
    WalkState,
    day_start,
    inputs_digest,
    lookback,
)
from warmup.policy.rules import Verdict, Walk, percent
from warmup.policy.summed import SummedWalk, drive, drive_all
from warmup.policy.tables import DayRows, DaySums, day_sums

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec

__all__ = [
    "CODE_VERSION",
    "GROWTH_DAYS",
    "DayCounts",
    "DayRows",
    "DaySums",
    "History",
    "MailboxEvent",
    "SummedWalk",
    "Walk",
    "WalkState",
    "day_start",
    "day_sums",
    "drive_all",
    "inputs_digest",
    "lookback",
    "percent",
    "replay",
    "start",
    "walk_to",
    "walk_to_steps",
]

# Days to walk from which :func:`replay` takes the day sums and walks in runs: below it (a walk
# resumed from yesterday's memo, the gate's every message) the sums cost more than they save.
RUN_FROM = 8


def _counted(c: DayCounts) -> bool:
    """Whether a day holds anything the walk counts: sends, bounces or complaints."""
    return bool(c.sent or c.bounced or c.complaint)


def start(
    spec: PolicySpec, hist: History, today: dt.date, cls: type[Walk] = Walk, explain: bool = True
) -> tuple[Walk, dt.date]:
    """A walk for ``hist`` and the first day it has to walk: the day after the memo, if any, else
    the first day before ``today`` with sends or bounces counted (``today`` when there is
    none): a re-bound mailbox's bounces between its start day and its first send are in its
    health window, so a report's rows show the day they arrived."""
    counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    events = sorted(eras.from_day_start(hist.events, hist.timezone), key=lambda e: e.at)
    walk = cls(spec, hist, counts, events=events, explain=explain, current=spec)
    memo = hist.memo
    if memo is not None and memo.last_active is not None:
        if memo.upto > today:
            raise ValueError(f"memo of {memo.upto} is after the day asked for ({today})")
        walk.resume(memo)
        walk.take_up()
        return walk, memo.upto
    walk.take_up()
    if hist.sums is not None:
        sums = hist.sums(spec.health.window_days)
        walk = _as(SummedWalk, walk)
        walk.sum_up(sums)
        found = sums.first_counted(today.toordinal())
        return walk, today if found is None else dt.date.fromordinal(found)
    first = min((d for d, c in counts.items() if d < today and _counted(c)), default=today)
    return walk, first


def replay(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    checkpoint: dt.date | None = None,
    runs: bool = True,
) -> tuple[Walk, WalkState | None]:
    """The walk through every day before ``today``, each closed; and its state at the start of
    ``checkpoint`` if the walk went through that day and had an active day before it (a memo
    worth keeping), else None.

    A walk of :data:`RUN_FROM` days or more (a mailbox asked about without a memo) walks its
    runs of ordinary days in one loop, as a report does (:meth:`SummedWalk.run`): the same
    state, day for day; ``runs=False`` walks every day one by one (to compare)."""
    return drive(replay_steps(spec, hist, today, checkpoint, runs))


def replay_steps(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    checkpoint: dt.date | None = None,
    runs: bool = True,
) -> Generator[Any, int, tuple[Walk, WalkState | None]]:
    """:func:`replay`, paused at each stretch (see :func:`drive`)."""
    walk, day = start(spec, hist, today)
    if not isinstance(walk, SummedWalk) and runs and (today - day).days >= RUN_FROM:
        walk = summed(walk)
    tz = hist.timezone
    memo = None
    while day < today:
        if day == checkpoint:
            memo = walk.memo(day)
        walk.apply_events(day_start(day, tz))
        if isinstance(walk, SummedWalk):
            stop = checkpoint if checkpoint is not None and day < checkpoint < today else today
            after = yield from walk.run_steps(day, stop, None)
            if after > day:
                day = after
                continue
        walk.close_day(day, walk.verdict(day, today=False, quiet=True))
        day += ONE_DAY
    if day == checkpoint:
        memo = walk.memo(day)
    return _as(Walk, walk) if isinstance(walk, SummedWalk) else walk, memo


_W = TypeVar("_W", bound="Walk")


def summed(walk: Walk) -> SummedWalk:
    """``walk`` as a :class:`SummedWalk` in the same state, its day sums taken."""
    out = _as(SummedWalk, walk)
    out.sum_up()
    return out


def _as(cls: type[_W], walk: Walk) -> _W:
    """A ``cls`` walk in ``walk``'s state: a plain :class:`Walk` reads ``counts``, which a caller
    may extend (a plan adds the days ahead); a :class:`SummedWalk` reads its fixed sums."""
    return cls(**{name: getattr(walk, name) for name in _walk_fields()})


@functools.cache
def _walk_fields() -> tuple[str, ...]:
    """The names of :class:`Walk`'s fields (``dataclasses.fields`` builds its tuple anew on
    each call: a cold ``warmup quota`` asks twice per mailbox)."""
    return tuple(f.name for f in dataclasses.fields(Walk))


def walk_to(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    end_of: dt.datetime,
    checkpoint: dt.date | None = None,
    runs: bool = True,
) -> tuple[Walk, Verdict, WalkState | None]:
    """The walk to ``today`` (events up to ``end_of`` applied) and today's verdict, with the
    state at ``checkpoint`` as :func:`replay` gives it (``runs`` as there)."""
    return drive(walk_to_steps(spec, hist, today, end_of, checkpoint, runs))


def walk_to_steps(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    end_of: dt.datetime,
    checkpoint: dt.date | None = None,
    runs: bool = True,
) -> Generator[Any, int, tuple[Walk, Verdict, WalkState | None]]:
    """:func:`walk_to`, paused at each stretch (see :func:`drive`)."""
    walk, memo = yield from begin_today_steps(spec, hist, today, checkpoint, runs)
    return walk, finish_today(walk, today, end_of), memo


def begin_today_steps(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    checkpoint: dt.date | None = None,
    runs: bool = True,
) -> Generator[Any, int, tuple[Walk, WalkState | None]]:
    """The first part of :func:`walk_to_steps`: the walk to the start of ``today`` (the events
    up to it applied, the health of the days before it judged), and the state at
    ``checkpoint``. Nothing of today's own counts is read on the way: :func:`today_of` takes
    it for another history that differs only in them."""
    walk, memo = yield from replay_steps(spec, hist, today, checkpoint, runs)
    walk.apply_events(day_start(today, hist.timezone))
    w = spec.health.window_days
    health, _, _, why = walk.judge(today - dt.timedelta(days=w), today - ONE_DAY, words=False)
    if health == "pause" and not walk.health_paused:
        walk.health_paused = why  # the pause stands from the start of today: a resume can lift it
    return walk, memo


def finish_today(walk: Walk, today: dt.date, end_of: dt.datetime) -> Verdict:
    """The last part of :func:`walk_to_steps` on ``walk`` (as :func:`begin_today_steps` left
    it): the events up to ``end_of`` applied, and today's verdict."""
    walk.apply_events(end_of)
    return walk.verdict(today, today=True)


def today_of(walk: Walk, hist: History, today: dt.date) -> Walk:
    """A copy of ``walk`` (at the start of ``today``, as :func:`begin_today_steps` left it, the
    original untouched) for ``hist``, a history that may differ from the one walked only in
    today's counts (and what the walk never reads: the last send, today's domain counts)."""
    counts = dict(walk.counts)
    mine = None
    for c in reversed(hist.days):
        if c.day == today:
            mine = c
            break
    if mine is not None and (hist.started is None or today >= hist.started):
        counts[today] = mine
    else:
        counts.pop(today, None)
    # dataclasses.replace(walk, hist=hist, counts=counts), at a fifth of its cost (the worker
    # copies the sender's walk before each pool message): a Walk's __init__ only sets fields
    out = object.__new__(type(walk))
    out.__dict__.update(walk.__dict__, hist=hist, counts=counts)
    return out


def verdict_again(
    after: Walk, v: Verdict, begun: Walk, hist: History, today: dt.date, end_of: dt.datetime
) -> tuple[Walk, Verdict] | None:
    """What :func:`finish_today` gives (the walk it leaves, today's verdict) for ``hist`` at
    ``end_of`` on a :func:`today_of` copy of ``begun``, from ``after`` and ``v``, what it gave
    on another (for a history that may differ from ``hist`` only in today's counts, and what the
    walk never reads), when today's new counts leave the verdict as
    :meth:`Walk.verdict_again` says. None: ask :func:`finish_today`.

    The rest of today's verdict reads the days before today and the state at the day's start,
    as ``begun`` holds them, and the events applied since: there must be none, then and by
    ``end_of`` (a resume during the day weighs today's counts)."""
    done, events = begun.events_done, begun.events
    if after.events_done != done or done < len(events) and events[done].at <= end_of:
        return None
    walk = today_of(after, hist, today)
    again = walk.verdict_again(today, v)
    return None if again is None else (walk, again)
