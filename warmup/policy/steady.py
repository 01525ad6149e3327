"""The walk's ordinary days a stretch at a time, in numpy, where the quota does not depend on
the warm-up day. Pure, no I/O.

A day's quota is its stage's volume under the growth limit and the ceilings (then the last
healthy day's on a held day, 0 on a closed one). The volume depends on the warm-up day, which
counts the qualifying days before: a sequential walk. But on most days it does not matter: in
a stage of one volume (week 1's 50 a day, the open-ended last stage), or when the growth limit
and the ceilings already keep the quota at or below every volume the stage has left. On such
days every rule of :meth:`warmup.policy.summed.SummedWalk.run` reads only the day's own numbers (its
health window, the busiest of the 7 days before it, its sends, whether the window opens) and
two running values that prefix operations carry (the warm-up day: a cumulative sum; the last
healthy quota: a forward fill). A year of a thousand mailboxes is 365,000 days, and a Python
loop over them was most of a first report's time.

:class:`Stretches` finds those stretches in the days a run of ordinary days can cover and walks
them as that loop does: the same rows, the same state and the same day to stop at
(``tests/test_walk.py`` compares the two on random histories). A caller that computes the day
sums as arrays (a report, with numpy) hands it to the walk with them
(:attr:`~warmup.policy.tables.DaySums.stretches`); the walk never imports it, and the ``quota``
command's walk never imports numpy.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from warmup.policy.inputs import GROWTH_DAYS
from warmup.policy.rules import slowest_share
from warmup.policy.summed import STEADY_FROM, idle_soonest
from warmup.policy.tables import DayRows, DaySums

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec
    from warmup.policy.summed import SummedWalk
    from warmup.policy.tables import DayTables

# Health words by code, in the order the codes below are given.
_HEALTH = np.array(["ok", "unjudged", "hold"], dtype=object)
_OK, _UNJUDGED, _HOLD = 0, 1, 2


def _vector(tables: DayTables, key: Any, lo: int, hi: int, fill: Any, dtype: Any) -> np.ndarray:
    """``fill(o)`` for the ordinals ``lo..hi - 1`` as an array, kept on ``tables`` (shared by
    every mailbox of the policy and zone) over the widest range asked for so far."""
    have = tables.vectors.get(key)
    if have is not None:
        base, arr = have
        if base <= lo and hi <= base + len(arr):
            return arr[lo - base : hi - base]
        first, end = min(lo, base), max(hi, base + len(arr))
    else:
        first, end = lo, hi
    arr = np.fromiter((fill(d) for d in range(first, end)), dtype=dtype, count=end - first)
    tables.vectors[key] = (first, arr)
    return arr[lo - first : hi - first]


def _needed(qualify: float, could: np.ndarray) -> np.ndarray:
    """:func:`~warmup.policy.rules.needed` of each value, by the same float operations."""
    return np.maximum(np.ceil(qualify * could - 1e-9), 1).astype(np.int64)


def stage_span(tables: DayTables, eff: int) -> tuple[int, str, int, int | None, bool]:
    """After ``eff`` qualifying days: the stage's number and name, the smallest daily volume it
    has from there on, the qualifying days at which the stage next changes (None: never) and
    whether its volume stays the same until then. Kept on ``tables``."""
    got = tables.spans.get(eff)
    if got is None:
        spec = tables.spec
        number, name, volume = tables.stage_of(eff)
        start = 0
        for st in spec.stages:
            if st.days == 0:
                break
            start += st.days
        else:
            start = max(start - 1, 0)  # the last day of the last stage repeats for ever
        if eff >= start:  # the stage the mailbox stays in: one volume for ever
            got = (number, name, volume, None, True)
        else:
            end = spec.stage_start(number) + spec.stages[number].days
            if number == len(spec.stages) - 1:
                end = start  # its last day's volume is the one it keeps: no change there
            volumes = [tables.stage_of(e)[2] for e in range(eff, end)]
            got = (number, name, min(volumes), end, min(volumes) == max(volumes))
        tables.spans[eff] = got
    return got


class Stretches:
    """The days ``o..stop - 1`` of a walk's run (the walk in its state at ``o``: no health pause,
    every event applied, past any resume's cut), as arrays, and the stretches of them whose
    quota does not depend on the warm-up day; ``paused``: the rows' pause flag (a manual pause
    in force all along, or none)."""

    def __init__(
        self,
        walk: SummedWalk,
        tables: DayTables,
        o: int,
        stop: int,
        paused: bool,
        *,
        shared: Shared,
        at: int,
    ):
        self.walk, self.tables, self.paused = walk, tables, paused
        spec, hist = walk.spec, walk.hist
        a_sent = walk.days.arrays[0]  # type: ignore[index]
        k0 = max(o - walk.days.origin, 0)
        k1 = max(min(stop - walk.days.origin, len(a_sent)), k0)
        self.first = walk.days.origin + k0
        self.sent = a_sent[k0:k1]
        # the rules' arrays of every mailbox of the batch, computed once for all of them
        # (Shared.rules): this mailbox's days are at..at + len(a_sent) - 1 there
        limits = [x for x in (spec.ceiling, hist.provider_ceiling, walk.cap) if x is not None]
        rules = shared.rules(spec, min(limits) if limits else None)
        g0, g1 = at + k0, at + k1
        self.shared, self.rules, self.g0 = shared, rules, g0  # the batch's arrays from g0 on
        self.judged, self.rate, self.crate, self.hold, self.cap = (
            x[g0:g1] for x in (rules.judged, rules.rate, rules.crate, rules.hold, rules.cap)
        )
        self.ends = rules.within(rules.ends, g0, g1)
        self.above: dict[int, list[int]] = {}  # volume -> days whose cap is above it

    def sensitive(self, eff: int) -> list[int]:
        """The days (indices) whose quota would depend on the warm-up day after ``eff``
        qualifying days: those whose cap is above the smallest volume the stage has left."""
        _, _, vmin, _, constant = stage_span(self.tables, eff)
        if constant:
            return []
        above = self.above.get(vmin)
        if above is None:
            above = self.above[vmin] = np.flatnonzero(self.cap > vmin).tolist()
        return above

    def worth(self, o: int, eff: int, last: int | None) -> bool:
        """Whether a stretch of at least ``STEADY_FROM`` days starts at ``o`` after ``eff``
        qualifying days, ``last`` the last active day before it."""
        i = o - self.first
        if i < 0 or last is None or o - last > 1:
            return False
        change = stage_span(self.tables, eff)[3]
        if change is not None and change - eff <= GROWTH_DAYS:
            # a stage about to end (week 1) ends a stretch within days: numpy's cost per call
            # is more than the loop's for them
            return False
        above = self.sensitive(eff)
        end = len(self.sent)
        for marks in (self.ends, above):
            j = bisect.bisect_left(marks, i)
            if j < len(marks) and marks[j] < end:
                end = marks[j]
        return end - i >= STEADY_FROM

    @staticmethod
    def run_many(asked: Sequence[tuple[Stretches, int, int | None, DayRows | None]]) -> list[int]:
        """:meth:`run` of each ``(stretches, o, last, rows)`` (their walks each their own),
        those of one batch, policy and zone without a domain cap walked together
        (:func:`_run_together`), each one's rows filled as :meth:`run` fills them: the same
        walks, the same answers."""
        out: list[int | None] = [None] * len(asked)
        groups: dict[tuple[int, int, int], list[int]] = {}
        for k, (stretches, o, last, rows) in enumerate(asked):
            if stretches.walk.spec.domain_cap is not None:
                out[k] = stretches.run(o, last, rows)
            else:
                key = (id(stretches.shared), id(stretches.rules), id(stretches.tables))
                groups.setdefault(key, []).append(k)
        for members in groups.values():
            if len(members) == 1:
                stretches, o, last, rows = asked[members[0]]
                out[members[0]] = stretches.run(o, last, rows)
                continue
            got = _run_together([asked[k] for k in members])
            for k, o in zip(members, got, strict=True):
                out[k] = o
        return out  # type: ignore[return-value]

    def run(self, o: int, last: int | None, rows: DayRows | None) -> int:
        """Walk the stretch from ``o`` (which :meth:`worth` accepted, the walk in its state at
        ``o``) up to the first day that stops a run, whose cap is above the stage's volumes, or
        after which the stage changes; move the walk past it and return the first day not
        walked."""
        walk, tables = self.walk, self.tables
        spec = walk.spec
        number, stage, vmin, change, _ = stage_span(tables, walk.eff)
        i = o - self.first
        n = len(self.sent) - i
        for marks in (self.ends, self.sensitive(walk.eff)):
            j = bisect.bisect_left(marks, i)
            if j < len(marks):
                n = min(n, marks[j] - i)
        sl = slice(i, i + n)
        sent, judged, hold = self.sent[sl], self.judged[sl], self.hold[sl]
        base = np.minimum(self.cap[sl], vmin)
        if hold.any():
            healthy = walk.last_healthy_quota
            floor = spec.stages[0].daily_from
            # a held day keeps the quota of the last day that was not held (before the
            # stretch: the walk's last healthy quota, the first stage's volume if none)
            prior = np.maximum.accumulate(np.where(hold, -1, np.arange(n)))
            held = np.where(
                prior >= 0, base[np.maximum(prior, 0)], floor if healthy is None else healthy
            )
            quota = np.where(hold, np.minimum(base, held), base)
        else:
            quota = base.copy()
        shut = _vector(tables, "shut", o, o + n, lambda d: tables.shut_on(d) is not None, bool)
        if shut.any():
            quota[shut] = 0
        # Walk.qualifies: enough of the whole quota, or of what the day could deliver. What a
        # day could deliver is read for the days that fall short of both (none: every day
        # with sends sent enough of its quota; an idle day never qualifies, and Walk.close_day
        # closes nothing on it), and is the quota when no domain cap is below it and every
        # day's window fits it or sets no limit (-1): numpy's cost per call saved where the
        # answer is the same.
        active = sent > 0
        good = ~shut & (quota > 0) & (sent >= _needed(spec.qualify, quota))
        could = quota
        if not (good | ~active).all():
            fit = _vector(
                tables,
                ("fit", number),
                o,
                o + n,
                lambda d: -1 if (f := tables.fit_on(d, number, walk)) is None else f,
                np.int64,
            )
            top = int(quota.max())
            binding = (fit >= 0) & (fit < top)  # -1: the window sets no limit that day
            left = None
            if spec.domain_cap is not None:  # what the cap left it each day (Walk.domain_left)
                others = walk.hist.domain_days
                left = np.array(
                    [
                        max(spec.domain_cap - others.get(dt.date.fromordinal(d), 0), 0)
                        for d in range(o, o + n)
                    ]
                    if others
                    else np.full(n, spec.domain_cap),
                    dtype=np.int64,
                )
            if (left is not None and int(left.min()) < top) or bool(binding.any()):
                most = quota if left is None else np.minimum(quota, left)
                could = np.where(
                    shut | (most == 0), 0, np.where(fit < 0, most, np.minimum(most, fit))
                )
                need = _needed(spec.qualify, could)
                # where the window binds, what it surely fits at the slowest gaps is enough
                # (Walk.qualifies)
                share = slowest_share(spec.stages[number], walk.hist)
                sure = np.maximum(np.floor(could * share + 1e-9), 1).astype(np.int64)
                need = np.where((fit >= 0) & (could < most), np.minimum(need, sure), need)
                good |= (could > 0) & (sent >= need)
        counts = good & ~hold
        done = np.cumsum(counts)
        if change is not None:
            # the day the stage changes after is the stretch's last: the next is another stage
            at = np.flatnonzero(walk.eff + done >= change)
            if len(at):
                n = int(at[0]) + 1
                sent, judged, hold, quota = sent[:n], judged[:n], hold[:n], quota[:n]
                base, shut, good, counts = base[:n], shut[:n], good[:n], counts[:n]
                done = done[:n]
        if rows is not None:
            judged, rate, crate = judged[:n], self.rate[i : i + n], self.crate[i : i + n]
            paused = self.paused
            rows.add_columns(
                _row_columns(
                    np.arange(o, o + n, dtype=np.int64),
                    walk.eff + 1 + done - counts,
                    np.full(n, stage, dtype=object),
                    quota,
                    (hold, judged, rate, crate),
                    np.full(n, paused),
                    shut,
                )
            )
        walk.eff += int(done[-1])
        if not hold.all():
            walk.last_healthy_quota = int(base[~hold][-1])
            walk.stepped_back = False
        short = np.flatnonzero(~good & active[:n])
        if len(short):
            keep = o + int(short[-1]) - (GROWTH_DAYS - 1)  # as the last one added trims them
            kept = [s for s in walk.short_days if s[0] >= tables.iso_of(keep)]
            for k in short[short >= keep - o].tolist():
                kept.append((tables.iso_of(o + k), int(sent[k]), int(could[k])))
            walk.short_days = tuple(kept)
        sends = np.flatnonzero(active[:n])
        if len(sends):  # the stretch's idle days (a weekend) leave the day last active
            walk.last_active = dt.date.fromordinal(o + int(sends[-1]))
        return o + n


def _run_together(
    asked: Sequence[tuple[Stretches, int, int | None, DayRows | None]],
) -> list[int]:
    """:meth:`Stretches.run` of each ``(stretches, o, last, rows)`` (their walks each their
    own, no domain cap, one :class:`Shared`, :class:`Rules` and
    :class:`~warmup.policy.tables.DayTables` for all), the stretches' days one after the other
    in one set of arrays: every step of :meth:`Stretches.run`, each stretch's own values
    (its qualifying days, its last healthy quota, where the stage changes) taken per stretch
    from running sums and maxima over the whole set; the rows of those that ask for them (a
    report's) are slices of columns computed once for the whole set."""
    first = asked[0][0]
    shared, rules, tables, spec = first.shared, first.rules, first.tables, first.walk.spec
    spans, starts, ns, effs = [], [], [], []
    for stretches, o, _, _ in asked:
        walk = stretches.walk
        span = stage_span(tables, walk.eff)
        i = o - stretches.first
        n = len(stretches.sent) - i
        for marks in (stretches.ends, stretches.sensitive(walk.eff)):
            j = bisect.bisect_left(marks, i)
            if j < len(marks):
                n = min(n, marks[j] - i)
        spans.append(span)
        starts.append(stretches.g0 + i)
        ns.append(n)
        effs.append(walk.eff)
    count = len(asked)
    n_of = np.array(ns, dtype=np.int64)
    seg_at = np.zeros(count + 1, dtype=np.int64)  # where each stretch's days begin in the set
    np.cumsum(n_of, out=seg_at[1:])
    total = int(seg_at[-1])
    begin = seg_at[:-1]
    seg = np.repeat(np.arange(count), n_of)  # the stretch of each day of the set
    at = np.arange(total)
    pos = at - begin[seg]  # each day's index in its stretch
    g = np.repeat(np.array(starts, dtype=np.int64), n_of) + pos  # in the batch's arrays
    ords = np.array([o for _, o, _, _ in asked], dtype=np.int64)
    ordinal = ords[seg] + pos
    sent, hold = shared.arrays[0][g], rules.hold[g]
    vmin = np.array([sp[2] for sp in spans], dtype=np.int64)
    base = np.minimum(rules.cap[g], vmin[seg])
    # a held day keeps the quota of the last day of its stretch that was not held, before it
    # the walk's last healthy quota (the first stage's volume if none)
    floor = spec.stages[0].daily_from
    healthy = np.array(
        [
            floor if s.walk.last_healthy_quota is None else s.walk.last_healthy_quota
            for s, _, _, _ in asked
        ],
        dtype=np.int64,
    )
    prior = np.maximum.accumulate(np.where(hold, -1, at))
    held = np.where(prior >= begin[seg], base[np.maximum(prior, 0)], healthy[seg])
    quota = np.where(hold, np.minimum(base, held), base)
    lo, hi = int(ords.min()), int((ords + n_of).max())
    shut = _vector(tables, "shut", lo, hi, lambda d: tables.shut_on(d) is not None, bool)[
        ordinal - lo
    ]
    quota[shut] = 0
    # an idle day never qualifies (Stretches.run); with none in any stretch (every-day
    # senders'), the arrays that tell them apart are left out
    active = sent > 0
    every = bool(active.all())
    good = ~shut & (quota > 0) & (sent >= _needed(spec.qualify, quota))
    could = quota
    if not (good.all() if every else (good | ~active).all()):
        # Walk.qualifies where the window binds (Stretches.run): where it does not, or every
        # day of a stretch qualifies, what follows changes nothing
        number = np.array([sp[0] for sp in spans], dtype=np.int64)
        fit = np.empty(total, dtype=np.int64)
        share = np.empty(count, dtype=np.float64)
        for u in set(number.tolist()):
            walk = next(s.walk for (s, _, _, _), sp in zip(asked, spans) if sp[0] == u)
            vec = _vector(
                tables,
                ("fit", u),
                lo,
                hi,
                lambda d, u=u, walk=walk: -1 if (f := tables.fit_on(d, u, walk)) is None else f,
                np.int64,
            )
            mine = number[seg] == u
            fit[mine] = vec[ordinal[mine] - lo]
        for k, (s, _, _, _) in enumerate(asked):
            share[k] = slowest_share(spec.stages[int(number[k])], s.walk.hist)
        # where a day's window fits less than the most any stretch's quota is (a stretch's own
        # most, in Stretches.run: for a stretch whose window never binds, what follows gives
        # back its quota as what it could deliver, and its own days' verdicts)
        if bool(((fit >= 0) & (fit < int(quota.max()))).any()):
            most = quota
            could = np.where(shut | (most == 0), 0, np.where(fit < 0, most, np.minimum(most, fit)))
            need = _needed(spec.qualify, could)
            sure = np.maximum(np.floor(could * share[seg] + 1e-9), 1).astype(np.int64)
            need = np.where((fit >= 0) & (could < most), np.minimum(need, sure), need)
            good |= (could > 0) & (sent >= need)
    counts = good & ~hold
    running = np.cumsum(counts)
    before = np.concatenate(([0], running))[begin]  # qualifying days before each stretch
    done = running - before[seg]
    # the day the stage changes after is its stretch's last: the next is another stage
    change = np.array(
        [np.iinfo(np.int64).max if sp[3] is None else sp[3] for sp in spans], dtype=np.int64
    )
    eff = np.array(effs, dtype=np.int64)
    reached = np.flatnonzero(eff[seg] + done >= change[seg])
    end = seg_at[1:].copy()
    if len(reached):
        pos = np.searchsorted(reached, begin)
        inside = pos < len(reached)
        cut = reached[np.minimum(pos, len(reached) - 1)]
        inside &= cut < end
        end = np.where(inside, cut + 1, end)
    last = end - 1
    gained = done[last].tolist()
    unheld = prior[last]  # each stretch's last day not held, if in it
    kept_quota = base[np.maximum(unheld, 0)].tolist()
    unheld_in = (unheld >= begin).tolist()
    short_all = np.flatnonzero(~good if every else ~good & active)
    # each stretch's last day with sends, -1 if none (its idle days leave the day last active)
    if every:
        last_sent = last.tolist()
    else:
        sends_at = np.flatnonzero(active)
        if len(sends_at):
            before_end = np.searchsorted(sends_at, end) - 1
            last_sent = np.where(before_end >= 0, sends_at[np.maximum(before_end, 0)], -1).tolist()
        else:
            last_sent = [-1] * count
    # the short days each stretch keeps (Stretches.run): those from GROWTH_DAYS - 1 days before
    # its newest on; found for all stretches at once, read as Python values once (a cold
    # year's every-day senders short of their quota have some in nearly every stretch: a
    # numpy scalar per value read cost ~5 ms a part)
    short_to = np.searchsorted(short_all, end)
    short_from = np.searchsorted(short_all, begin)
    newest = short_all[np.maximum(short_to - 1, 0)] if len(short_all) else short_to
    keep_from = np.maximum(np.searchsorted(short_all, newest - (GROWTH_DAYS - 1)), short_from)
    kept_n = np.maximum(short_to - keep_from, 0)
    at_kept = np.cumsum(kept_n) - kept_n
    picked = short_all[np.arange(int(kept_n.sum())) - np.repeat(at_kept - keep_from, kept_n)]
    picked_day, picked_sent, picked_could = (
        picked.tolist(),
        sent[picked].tolist(),
        could[picked].tolist(),
    )
    kept_of, at_of, newest_of = kept_n.tolist(), at_kept.tolist(), newest.tolist()
    begins, ends = begin.tolist(), end.tolist()
    columns = None
    if any(rows is not None for _, _, _, rows in asked):  # Stretches.run's columns, for all
        judged = rules.judged[g]
        paused = np.array([s.paused for s, _, _, _ in asked], dtype=bool)[seg]
        columns = _row_columns(
            ordinal,
            eff[seg] + 1 + done - counts,
            np.array([sp[1] for sp in spans], dtype=object)[seg],
            quota,
            (hold, judged, rules.rate[g], rules.crate[g]),
            paused,
            shut,
        )
    out = []
    for k, (s, o, _, rows) in enumerate(asked):
        walk = s.walk
        b0 = begins[k]
        n = ends[k] - b0
        if rows is not None:
            assert columns is not None
            rows.add_columns({f: columns[f][b0 : b0 + n] for f in DayRows.FIELDS})
        walk.eff += gained[k]
        if unheld_in[k]:
            walk.last_healthy_quota = kept_quota[k]
            walk.stepped_back = False
        if kept_of[k]:
            oldest = tables.iso_of(o + newest_of[k] - b0 - (GROWTH_DAYS - 1))
            kept = [d for d in walk.short_days if d[0] >= oldest]
            for j in range(at_of[k], at_of[k] + kept_of[k]):
                kept.append(
                    (tables.iso_of(o + picked_day[j] - b0), picked_sent[j], picked_could[j])
                )
            walk.short_days = tuple(kept)
        if last_sent[k] >= b0:
            walk.last_active = dt.date.fromordinal(o + last_sent[k] - b0)
        out.append(o + n)
    return out


def _row_columns(
    ordinal: np.ndarray,
    day: np.ndarray,
    stage: np.ndarray,
    quota: np.ndarray,
    health: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    paused: np.ndarray,
    shut: np.ndarray,
) -> dict[str, np.ndarray]:
    """A stretch's report rows (:class:`~warmup.policy.tables.DayRows`' columns), of one stretch
    (:meth:`Stretches.run`) or of a set walked together (:func:`_run_together`): ``day`` the
    warm-up day (one past the qualifying days before), ``health`` the days' (hold, judged,
    bounce rate, complaint rate); a paused day's quota is 0."""
    hold, judged, rate, crate = health
    return {
        "ordinal": ordinal,
        "day": day,
        "stage": stage,
        "quota": np.where(paused, 0, quota) if paused.any() else quota,
        "health": _HEALTH[np.where(hold, _HOLD, np.where(judged, _OK, _UNJUDGED))],
        "rate": np.where(judged, rate, np.nan),
        "complaint_rate": np.where(judged, crate, np.nan),
        "paused": paused,
        "resumed": np.zeros(len(ordinal), dtype=bool),
        "closed": shut,
    }


class Rules:
    """What :class:`Stretches` reads of each day under one policy and limit, for every day of a
    batch (:class:`Shared`) at once: whether its health window is judged, its bounce and
    complaint rates, whether it holds, the quota but the stage's volume (``cap``), and the days
    a run stops at (``ends``: a pause, a step back, or the day after as many idle days in a row
    as may step back or restart the ramp: :func:`~warmup.policy.summed.idle_soonest`), as
    indices into the batch. Each is a function of the day's own numbers (and the days' before
    it: a gap seen across two mailboxes' days only ends a stretch where none starts, after
    a mailbox's first active day): a mailbox's are a slice of them. The idle days of shorter
    gaps (weekends) are walked in stretches like the others: the loop only judges them."""

    def __init__(self, shared: Shared, spec: PolicySpec, limit: int | None) -> None:
        sent, wsent, wbounced, wcomplaints, busiest = shared.arrays
        h = spec.health
        self.judged = judged = wsent >= max(h.min_sample, 1)
        over = np.where(judged, wsent, 1)
        self.rate = rate = np.minimum(wbounced, wsent) / over
        self.crate = crate = np.minimum(wcomplaints, wsent) / over
        # Walk.rule without a cut: pause, then step back, then hold, else ok
        pause = judged & ((rate > h.pause_above) | (crate > h.complaint_pause_above))
        step_back = judged & (rate > h.step_back_above)
        self.hold = judged & ((rate > h.hold_above) | (crate > h.complaint_hold_above))
        stop = pause | step_back
        soonest = idle_soonest(spec)
        if soonest is not None and len(sent) > soonest:
            # the day after ``soonest`` idle days in a row (Walk.idle_adjust may move the ramp)
            idle = np.zeros(len(sent) + 1, dtype=np.int64)
            np.cumsum(sent == 0, out=idle[1:])
            stop[soonest:] |= idle[soonest:-1] - idle[: -1 - soonest] == soonest
        self.ends = np.flatnonzero(stop).tolist()
        floor = spec.stages[0].daily_from
        # the quota but the stage's volume: the growth limit (never below the first stage's
        # volume) and the ceilings
        self.cap = np.maximum((spec.growth_factor * busiest).astype(np.int64), floor)
        if limit is not None:
            self.cap = np.minimum(self.cap, limit)

    @staticmethod
    def within(marks: list[int], g0: int, g1: int) -> list[int]:
        """The indices ``marks`` (sorted) from ``g0`` to before ``g1``, counted from ``g0``
        (lists and bisect: numpy's cost per call was more than the few marks cost)."""
        return [
            m - g0 for m in marks[bisect.bisect_left(marks, g0) : bisect.bisect_left(marks, g1)]
        ]


class Shared:
    """The day arrays of every mailbox of one :func:`batch_sums` (sends, the health window's
    sent, bounced and complaints, the busiest of the 7 days before), one after the other, and
    their :class:`Rules` by policy and limit: a cold ``warmup quota`` of a thousand mailboxes
    paid numpy's cost per call a dozen times per mailbox deriving them one mailbox at a time."""

    def __init__(self, arrays: tuple[np.ndarray, ...]) -> None:
        self.arrays = arrays
        self.made: dict[tuple[int, int | None], tuple[PolicySpec, Rules]] = {}

    def rules(self, spec: PolicySpec, limit: int | None) -> Rules:
        key = (id(spec), limit)  # the spec kept with its rules: its id stays its own
        got = self.made.get(key)
        if got is None or got[0] is not spec:
            got = self.made[key] = (spec, Rules(self, spec, limit))
        return got[1]


def array_sums(
    ordinals: np.ndarray, counts: np.ndarray, started: dt.date | None, window_days: int
) -> DaySums:
    """:func:`warmup.policy.tables.day_sums` of a mailbox's rollup rows (day ordinals, count
    matrix, in day order), in numpy: dense days, prefix sums, each day's health window and busiest of the
    :data:`GROWTH_DAYS` days before it (a sliding maximum). Days before ``started`` are left
    out, as the walk leaves them out."""
    return batch_sums([(ordinals, counts)], [started], [window_days])[0]


def batch_sums(
    rows: Sequence[tuple[np.ndarray, np.ndarray]],
    starts: Sequence[dt.date | None],
    windows: Sequence[int],
) -> list[DaySums]:
    """:func:`array_sums` of many mailboxes at once (the rollup rows, start day and health
    window's length of each): one numpy pass over all their days, each mailbox's
    :class:`DaySums` a view of it. A cold report of a thousand mailboxes paid numpy's cost per
    call a dozen times per mailbox in :func:`array_sums`."""
    kept = []
    for (ordinals, counts), started in zip(rows, starts, strict=True):
        if started is not None and len(ordinals) and ordinals[0] < started.toordinal():
            keep = ordinals >= started.toordinal()
            ordinals, counts = ordinals[keep], counts[keep]
        kept.append((ordinals, counts))
    full = [k for k, (o, _) in enumerate(kept) if len(o)]
    out = [DaySums() for _ in kept]
    if not full:
        return out
    firsts = np.array([kept[k][0][0] for k in full], dtype=np.int64)
    lasts = np.array([kept[k][0][-1] for k in full], dtype=np.int64)
    sizes = lasts - firsts + 1  # dense days per mailbox
    base = np.zeros(len(full) + 1, dtype=np.int64)  # where each mailbox's days begin
    np.cumsum(sizes, out=base[1:])
    total = int(base[-1])
    counts = np.concatenate([kept[k][1] for k in full])
    if len(counts) == total:  # no day missing in any mailbox's span: the rows are the days
        dense = counts
    else:
        lengths = np.array([len(kept[k][0]) for k in full], dtype=np.int64)
        box = np.repeat(np.arange(len(full)), lengths)
        ordinals = np.concatenate([kept[k][0] for k in full])
        dense = np.zeros((total, counts.shape[1]), dtype=np.int64)
        dense[base[box] + ordinals - firsts[box]] = counts
    sent = np.ascontiguousarray(dense[:, 0])
    bounced = dense[:, 1] + dense[:, 2]
    bounced += dense[:, 3]
    # prefix sums over every mailbox's days in turn: a mailbox's sums are these minus the
    # value at its first day; a column at a time (along the rows of a (days, 3) matrix, the
    # cumulative sum strode across it: four times the cost, ~6 ms of a cold year's part)
    sums = np.zeros((total + 1, 3), dtype=np.int64)
    for c, column in enumerate((sent, bounced, dense[:, 4])):
        np.cumsum(column, out=sums[1:, c])
    owner = np.repeat(np.arange(len(full)), sizes)  # the mailbox of each dense day
    begin = base[:-1][owner]
    pos = np.arange(total) - begin  # each day's index among its mailbox's days
    # each day's health window and the busiest of the GROWTH_DAYS days before it, side by
    # side (the walk reads them as one row); shifted slices over all the days at once, the
    # first days of each mailbox (whose look-back would reach into the mailbox before)
    # done again on their own: indexing every day was most of the batch's cost
    pairs = np.empty((total, 4), dtype=np.int64)
    window = pairs[:, :3]
    widths = {windows[k] for k in full}
    if len(widths) == 1:
        w = widths.pop()
        if total > w:
            np.subtract(sums[w:total], sums[: total - w], out=window[w:])
        early = np.flatnonzero(pos < w)
        window[early] = sums[early] - sums[begin[early]]
    else:
        width = np.array([windows[k] for k in full], dtype=np.int64)[owner]
        np.subtract(sums[:total], sums[np.maximum(pos - width, 0) + begin], out=window)
    busiest = np.zeros(total, dtype=np.int64)
    for back in range(1, GROWTH_DAYS + 1):
        np.maximum(busiest[back:], sent[:-back], out=busiest[back:])
    early = np.flatnonzero(pos < GROWTH_DAYS)
    first = np.zeros(len(early), dtype=np.int64)
    for back in range(1, GROWTH_DAYS + 1):
        np.maximum(
            first, np.where(pos[early] >= back, sent[np.maximum(early - back, 0)], 0), out=first
        )
    busiest[early] = first
    pairs[:, 3] = busiest
    w_sent, w_bounced, w_complaints = window[:, 0], window[:, 1], window[:, 2]
    shared = Shared((sent, w_sent, w_bounced, w_complaints, busiest))
    for i, k in enumerate(full):
        a, z = int(base[i]), int(base[i + 1])
        out[k] = DaySums(
            int(firsts[i]),
            rows=_Tuples(dense[a:z]),
            sent=_Ints(sent[a:z]),  # type: ignore[arg-type]
            sums=_Tuples(sums[a : z + 1], minus=sums[a]),
            window=_Tuples(pairs[a:z]),  # type: ignore[arg-type]
            arrays=(sent[a:z], w_sent[a:z], w_bounced[a:z], w_complaints[a:z], busiest[a:z]),
            stretches=functools.partial(Stretches, shared=shared, at=a),
        )
    return out


class _Ints(Sequence[int]):
    """An integer array's items as ints, each converted when read (the walk reads a few days
    of a year one by one, the others a stretch at a time as arrays)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, k: Any) -> Any:
        return self.array[k].tolist()


class _Tuples(Sequence[Any]):
    """The rows of an integer matrix as tuples of ints, each converted when read (the walk
    reads a few of a year's rows one by one: building all of them was a tenth of a cold
    report)."""

    def __init__(self, matrix: np.ndarray, minus: np.ndarray | None = None) -> None:
        self.matrix, self.minus = matrix, minus  # minus: subtracted from every row read

    def __len__(self) -> int:
        return len(self.matrix)

    def __getitem__(self, k: Any) -> Any:
        rows = self.matrix[k] if self.minus is None else self.matrix[k] - self.minus
        if isinstance(k, slice):
            return [tuple(r) for r in rows.tolist()]
        return tuple(rows.tolist())
