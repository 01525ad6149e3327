"""The walk's runs of ordinary days in one loop, over the day sums. Pure, no I/O; no numpy.

A year of a thousand mailboxes is 365,000 days. :class:`SummedWalk` is the same walk as
:class:`~warmup.policy.rules.Walk`, reading its windows from prefix sums over fixed day counts
(:class:`~warmup.policy.tables.DaySums`) in O(1); its :meth:`SummedWalk.run` walks a run of
ordinary days (judged ok, hold or unjudged; no event, no long idle gap) in one loop over day
numbers, with every rule the full step would apply on such a day, and hands the full step back
the day that needs it. Where the day sums came as numpy arrays (a report), the loop pauses at
each stretch of days whose quota does not depend on the warm-up day for
:mod:`warmup.policy.steady` to walk at once: such a walk is a generator that yields the stretch
and takes the day after it, run by :func:`drive` (one walk) or :func:`drive_all` (many, their
stretches walked together). ``tests/test_walk.py`` compares every path with the day-by-day walk
on random histories.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from warmup.policy.inputs import GROWTH_DAYS, DayCounts, current_pause, day_start, local
from warmup.policy.rules import Walk, reachable, slowest_share
from warmup.policy.tables import DayRows, DaySums, day_sums, day_tables

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec

# Days left from which a walk in its last stage, with the day sums as arrays, walks them a
# stretch at a time in numpy (warmup.policy.steady): below it numpy's cost per call is more.
STEADY_FROM = 32


@dataclass
class SummedWalk(Walk):
    """The same walk, with O(1) window sums from prefix sums over the (fixed) day counts.

    A year of a thousand mailboxes is 365,000 verdicts, each summing a trailing window and
    looking for the busiest of the last 7 days; doing either day by day was most of a report's
    time. ``hidden`` is a day whose counts the verdict must not see (its morning, before anything
    was sent). The counts are read from :attr:`days` (:class:`DaySums`), not from ``counts``.
    """

    hidden: dt.date | None = None
    days: DaySums = field(default_factory=DaySums)

    def sum_up(self, given: DaySums | None = None) -> None:
        """Take the day sums: ``given`` (computed by the caller from the same counts, for the
        health window of the walk's own policy), or computed here from ``counts``."""
        window = (self.current or self.spec).health.window_days
        self.days = given if given is not None else day_sums(self.counts, window)

    @property
    def origin(self) -> int:
        return self.days.origin

    @property
    def sums(self) -> Sequence[tuple[int, int, int]]:
        return self.days.sums

    @property
    def sent(self) -> list[int]:
        return self.days.sent

    def run(self, day: dt.date, today: dt.date, rows: DayRows | None) -> dt.date:
        """Walk the past days from ``day`` on as :func:`~warmup.policy.engine.walk_timeline`
        does, appending each to ``rows`` (None: only the state moves, as
        :func:`~warmup.policy.walk.replay` asks), while they are ordinary: judged ok, hold or
        unjudged, before the day of the next event not yet applied, and not after a gap of idle
        days that may step back or restart the ramp. An idle day (no sends: a weekend of a
        mailbox that sends on weekdays only) is ordinary too, as is the first active day after
        a shorter gap: the full step would only judge them and move nothing else. Returns the
        first day not walked (``today`` when none is left): a pause or a step back, an event's
        day, the day after a long gap (and, for ``rows``, each idle day of it from then on: a
        morning's verdict adjusts for the gap), a day after the last day with a count, which
        take the full step. Only when no day is hidden.

        Every rule is the one the full step applies (:meth:`verdict` and :meth:`close_day`
        with what they do on such a day), in one loop over day numbers, with the answers that
        depend only on the policy and the day from :class:`~warmup.policy.tables.DayTables`: a
        year of a thousand mailboxes is 365,000 days, and a method call per rule per day was
        most of the time. ``tests/test_walk.py`` compares it with the full step on random
        histories."""
        return drive(self.run_steps(day, today, rows))

    def run_steps(
        self, day: dt.date, today: dt.date, rows: DayRows | None
    ) -> Generator[Any, int, dt.date]:
        """:meth:`run`, paused at each stretch (see :func:`drive`)."""
        assert self.hidden is None
        if self.spec.health.window_days != (self.current or self.spec).health.window_days:
            # an earlier policy's window: the sums' windows are the current one's (full steps
            # sum any window from the prefix sums)
            return day
        if self.events_done < len(self.events):
            # the day of the next event: its row shows the event, the next day's full step
            # applies it
            due = local(self.events[self.events_done].at, self.hist.timezone).date()
            if due <= day:
                return day
            today = min(today, due)
        return (yield from _fast_days(self, day, today, rows))

    def count(self, day: dt.date) -> DayCounts:
        if day == self.hidden:
            return DayCounts(day)
        k = day.toordinal() - self.days.origin
        rows = self.days.rows
        return DayCounts(day, *rows[k]) if 0 <= k < len(rows) else DayCounts(day)

    def sent_on(self, day: dt.date) -> int:
        """What ``count(day).sent`` says, without building a :class:`DayCounts`."""
        k = day.toordinal() - self.origin
        return self.sent[k] if 0 <= k < len(self.sent) and day != self.hidden else 0

    def busiest(self, day: dt.date) -> int:
        o = day.toordinal() - self.origin
        lo, hi = max(o - GROWTH_DAYS, 0), min(o, len(self.sent))
        days = self.sent[lo:hi] if lo < hi else []
        if self.hidden is not None and lo <= self.hidden.toordinal() - self.origin < hi:
            days = list(days)
            days[self.hidden.toordinal() - self.origin - lo] = 0
        # days outside the counted range are days without sends: 0, like the base class's
        return max(days) if len(days) == GROWTH_DAYS else max([0, *days])

    def window_rates(self, first: dt.date, last: dt.date) -> tuple[int, int, int]:
        top = len(self.sums) - 1
        i = min(max(first.toordinal() - self.origin, 0), top)
        j = min(max(last.toordinal() - self.origin + 1, 0), top)
        if j <= i:
            return 0, 0, 0
        (s1, b1, c1), (s0, b0, c0) = self.sums[j], self.sums[i]
        sent, bounced, complaints = s1 - s0, b1 - b0, c1 - c0
        if self.hidden is not None and first <= self.hidden <= last:
            k = self.hidden.toordinal() - self.origin
            if 0 <= k < len(self.days.rows):
                n, hard, soft, block, complaint = self.days.rows[k]
                sent, bounced, complaints = (
                    sent - n,
                    bounced - hard - soft - block,
                    complaints - complaint,
                )
        return sent, bounced, complaints


_R = TypeVar("_R")


def drive(steps: Generator[Any, int, _R]) -> _R:
    """What a walk paused at each stretch (``*_steps``) returns, each stretch walked as it
    comes (:meth:`warmup.policy.steady.Stretches.run`)."""
    try:
        stretch, o, last, rows = next(steps)
        while True:
            stretch, o, last, rows = steps.send(stretch.run(o, last, rows))
    except StopIteration as done:
        return done.value


def drive_all(steps: Sequence[Generator[Any, int, _R]]) -> list[_R]:
    """What each of many walks paused at each stretch returns, the stretches they reach at
    the same point walked together (:meth:`warmup.policy.steady.Stretches.run_many`): a cold
    ``warmup quota`` of a thousand mailboxes paid numpy's cost per call per stretch, two
    stretches a mailbox. The same answers as :func:`drive` of each."""
    out: list[Any] = [None] * len(steps)
    waiting: list[tuple[int, Any]] = []

    def advance(k: int, value: int | None) -> None:
        try:
            asked = next(steps[k]) if value is None else steps[k].send(value)
        except StopIteration as done:
            out[k] = done.value
            return
        waiting.append((k, asked))

    for k in range(len(steps)):
        advance(k, None)
    while waiting:
        batch, waiting = waiting, []
        got = type(batch[0][1][0]).run_many([asked for _, asked in batch])
        for (k, _), value in zip(batch, got, strict=True):
            advance(k, value)
    return out


def idle_soonest(spec: PolicySpec) -> int | None:
    """The fewest idle days in a row that may step back or restart the ramp
    (:meth:`Walk.idle_adjust`), None if neither rule is on: the day after such a gap takes
    the full step. A shorter gap (a weekend, a week's holiday) changes nothing but the day
    last active, whatever days of it are off."""
    return min(
        (n for n in (spec.idle.restart_after_days, spec.idle.step_back_after_days) if n),
        default=None,
    )


def _gap_ahead(sums: DaySums, o: int, soonest: int | None) -> bool:
    """Whether one of the :data:`STEADY_FROM` days from ordinal ``o`` comes after ``soonest``
    idle days in a row, or they are not all counted (``sums`` with arrays). Such a day ends
    every stretch (``steady.Rules.ends``), so a run whose next one is closer holds no stretch
    worth walking in numpy (``Stretches.worth`` says no on each of its days) and none is set
    up for it. The idle days of shorter gaps (a weekend) are walked inside stretches."""
    k = o - sums.origin
    if k < 0 or sums.arrays is None or k + STEADY_FROM > len(sums.arrays[0]):
        return True
    if soonest is None:
        return False
    got = sums.gaps
    if got is None or got[0] != soonest:  # once per mailbox: a numpy call per run cost more
        idle = (sums.arrays[0] == 0).nonzero()[0].tolist()
        marks, begin = [], None
        for j, d in enumerate(idle):  # each gap of soonest days or more: the day after them
            if begin is None or d != idle[j - 1] + 1:
                begin = d
            if d - begin + 1 == soonest:
                marks.append(d + 1)
        got = sums.gaps = (soonest, marks)
    marks = got[1]
    j = bisect.bisect_left(marks, k)
    return j < len(marks) and marks[j] < k + STEADY_FROM


def _fast_days(
    walk: SummedWalk, day: dt.date, today: dt.date, rows: DayRows | None
) -> Generator[Any, int, dt.date]:
    """:meth:`SummedWalk.run`'s loop (see there), paused at each stretch walked in numpy: it
    yields ``(stretches, day ordinal, last active ordinal, rows)`` and takes the day after the
    stretch (:func:`drive`)."""
    spec, hist = walk.spec, walk.hist
    t = day_tables(spec, hist.timezone, hist.provider_min_interval)
    shut_on, fit_on, stage_of, needed_of = t.shut_on, t.fit_on, t.stage_of, t.needed_of
    shut_of, iso, needs = t.shut, t.iso, t.needed
    h = spec.health
    w = h.window_days
    sample = max(h.min_sample, 1)
    floor = spec.stages[0].daily_from
    growth_factor = spec.growth_factor
    limits = [x for x in (spec.ceiling, hist.provider_ceiling, walk.cap) if x is not None]
    limit = min(limits) if limits else None
    domain_cap = spec.domain_cap
    # what the domain's other mailboxes sent, by day ordinal (Walk.domain_left)
    others = (
        {d.toordinal(): n for d, n in hist.domain_days.items()}
        if domain_cap is not None and hist.domain_days
        else {}
    )
    rule = walk.rule
    sums = walk.days
    window, sent_of, origin = sums.window, sums.sent, sums.origin
    n_sent = len(sent_of)
    stages, fits_of = t.stage, t.fit
    events, tz = hist.events, hist.timezone
    # a window reaching back to the resume's day (health_cut) is cut up to this day
    cut_until = walk.health_cut.toordinal() + w if walk.health_cut is not None else None
    # rates at or below every line are ok whatever the cut (Walk.rule)
    ok_rate = min(h.hold_above, h.step_back_above, h.pause_above)
    ok_crate = min(h.complaint_hold_above, h.complaint_pause_above)
    o, stop = day.toordinal(), today.toordinal()
    last = walk.last_active.toordinal() if walk.last_active is not None else None
    add = rows.append if rows is not None else None
    # The walk's fields the loop moves, held in locals and stored back after it: no rule
    # reads them from the walk inside a run, and a pause (the only change to health_paused)
    # ends the run before the day is walked.
    eff, healthy, stepped_back = walk.eff, walk.last_healthy_quota, walk.stepped_back
    short_days, health_paused = walk.short_days, walk.health_paused
    # An idle gap of this many days or more may step back or restart the ramp: the day after
    # it takes the full step
    soonest = idle_soonest(spec)
    # Stretches whose quota does not depend on the warm-up day, walked a stretch at a time
    # when the sums are arrays (warmup.policy.steady): only while no health pause is on and no
    # provider back-off runs out on the way (a manual pause in force all along, or none, flags
    # every row alike). Set up at the first day of a run of active days with STEADY_FROM days
    # ahead before the day after a long idle gap (which ends every stretch; the idle days of
    # a shorter one are walked in stretches too).
    stretches = None
    ready = sums.stretches is not None and not health_paused
    first = o
    # the days' sends and window sums read STEADY_FROM days at a time (``at`` to ``end``): the
    # arrays' items one by one cost more than the rest of a day's rules
    at = end = 0
    sends: list[int] = []
    sums_of: list[tuple[int, int, int, int]] = []
    while o < stop:
        k = o - origin
        if not 0 <= k < n_sent:
            break  # after the last day with a count: no window sums kept for it
        if not at <= k < end:
            at, end = k, min(k + STEADY_FROM, n_sent)
            sends, sums_of = sent_of[at:end], window[at:end]
        sent = sends[k - at]
        if (
            sent
            and ready
            and stretches is None
            and (o == first or last is None or o - last > 1)
            and stop - o >= STEADY_FROM
            and not _gap_ahead(sums, o, soonest)
        ):
            pause = current_pause(events, day_start(dt.date.fromordinal(o), tz)) if events else None
            if pause is None or pause.kind == "pause" and pause.until is None:
                stretches = sums.stretches(walk, t, o, stop, pause is not None)
        if (
            stretches is not None
            and (cut_until is None or o > cut_until)
            and stretches.worth(o, eff, last)
        ):
            walk.eff, walk.last_healthy_quota, walk.stepped_back = eff, healthy, stepped_back
            walk.short_days = short_days
            o = yield stretches, o, last, rows
            eff, healthy, stepped_back = walk.eff, walk.last_healthy_quota, walk.stepped_back
            short_days = walk.short_days  # the stretch's last day may be idle
            last = walk.last_active.toordinal() if walk.last_active is not None else None
            continue
        if (
            last is not None
            and o - last > 1
            and eff
            and soonest is not None
            and o - last - 1 >= soonest
            and (sent or add is not None)
        ):
            # the first active day after a long gap adjusts for it (Walk.verdict), and so does
            # a report's row of an idle day in it (the morning's verdict, engine._step)
            break
        # the window k - w .. k - 1 and the busiest of the 7 days before (0 <= k < n_sent)
        wsent, bounced, complaints, busiest = sums_of[k - at]
        if wsent < sample:
            health, rate, crate = "unjudged", None, None
        else:
            rate = (bounced if bounced < wsent else wsent) / wsent
            crate = (complaints if complaints < wsent else wsent) / wsent
            if rate <= ok_rate and crate <= ok_crate:
                health = "ok"
            else:
                health, why = rule(rate, crate, cut_until is not None and o <= cut_until)
                if (health != "ok" and health != "hold") or why == "cut":
                    break  # a pause, a step back or the days after a resume: the full step
        # the day is walked from here on: nothing above changed the walk
        if health != "hold":
            stepped_back = False
        number, stage, quota = stages.get(eff) or stage_of(eff)
        grown = int(growth_factor * busiest)
        growth = floor if grown < floor else grown
        if growth < quota:
            quota = growth
        if limit is not None and limit < quota:
            quota = limit
        if health == "hold":
            held = healthy if healthy is not None else floor
            if held < quota:
                quota = held
        else:
            healthy = quota
        shut = shut_of[o] if o in shut_of else shut_on(o)
        if shut is not None:
            quota = 0
        if add is not None:
            paused = bool(health_paused) or (
                bool(events)
                and current_pause(events, day_start(dt.date.fromordinal(o), tz)) is not None
            )
            add(
                (
                    o,
                    eff + 1,
                    stage,
                    0 if paused else quota,
                    health,
                    rate,
                    crate,
                    paused,
                    False,
                    shut is not None,
                )
            )
        if not sent:  # an idle day: Walk.close_day closes nothing
            o += 1
            continue
        # close the day (Walk.close_day, Walk.qualifies)
        if shut is None and quota and sent >= (needs.get(quota) or needed_of(quota)):
            good = True
        else:
            could = 0
            if shut is None:
                if domain_cap is None:
                    most = quota
                else:
                    left = domain_cap - others.get(o, 0)
                    most = min(quota, left if left > 0 else 0)
                if not most:
                    fit = None
                elif (o, number) in fits_of:
                    fit = fits_of[(o, number)]
                else:
                    fit = fit_on(o, number, walk)
                could = most if fit is None else min(most, fit)
            need = needs.get(could) or needed_of(could)
            if could and could < most:  # the window binds (Walk.qualifies)
                need = min(need, reachable(could, slowest_share(spec.stages[number], hist)))
            good = bool(could) and sent >= need
            if not good:
                keep = iso.get(o - (GROWTH_DAYS - 1)) or t.iso_of(o - (GROWTH_DAYS - 1))
                short = short_days
                if short and short[0][0] < keep:  # oldest first: days are added as walked
                    short = short[bisect.bisect_left(short, (keep,)) :]
                short_days = (*short, (iso.get(o) or t.iso_of(o), sent, could))
        if good and health != "hold" and not health_paused:
            eff += 1
        last = o
        o += 1
    walk.eff, walk.last_healthy_quota, walk.stepped_back = eff, healthy, stepped_back
    walk.short_days = short_days
    if last is not None:
        walk.last_active = dt.date.fromordinal(last)
    return dt.date.fromordinal(o)
