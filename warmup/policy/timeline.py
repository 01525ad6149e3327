"""The engine's walk, day by day: every past day as :func:`evaluate` saw it, and days ahead.

:func:`timeline` lists, for each local day from the first active day to today, what
:func:`~warmup.policy.engine.evaluate` answered at the start of that day; :func:`project` continues
the walk into the future as if the mailbox sent its full quota. Both are the replay of
:mod:`warmup.policy.engine` (the same ``_Walk``), looked at day by day, so a report or a plan cannot
disagree with ``warmup quota``.

A year's report walks 365,000 mailbox-days, so the walk here is built for speed without changing
an answer: ``explain=False`` skips the reason strings, window sums and the growth limit's busiest
day come from prefix arrays (:class:`_SummedWalk`), an active day's morning is not re-judged (it
cannot differ from the replay's verdict, see :func:`walk_timeline`), and a caller holding the
walk's state at some day (:class:`WalkState`, e.g. from the ledger's timeline cache) can go on
from there instead of from the first day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from warmup.policy.engine import (
    GROWTH_DAYS,
    DayCounts,
    History,
    PlanDay,
    _apply_events,
    _current_pause,
    _day_start,
    _Verdict,
    _Walk,
    _walk_to,
    _zone,
    evaluate,
)
from warmup.policy.spec import PolicySpec


@dataclass(frozen=True)
class DayVerdict:
    """One day of the policy's own walk: what it allowed that day, and why (see :func:`timeline`)."""

    date: dt.date
    day: int  # warm-up day (active days) the quota was computed for
    stage: str
    quota: int  # 0 while paused
    health: str  # ok | unjudged | hold | step_back | pause
    rate: float | None  # trailing-window bounce rate the day was judged on (None: too few sends)
    complaint_rate: float | None
    paused: bool  # paused when the day began (health pause, manual pause or provider back-off)
    resumed: bool  # ... and resumed during the day: quota and stage are the post-resume ones
    reasons: tuple[str, ...]  # () when the walk did not explain

    @property
    def status(self) -> str:
        """paused | resumed | hold | step_back | ok, the policy's word for the day."""
        if self.resumed:
            return "resumed"
        if self.paused:
            return "paused"
        return self.health if self.health in ("hold", "step_back") else "ok"


@dataclass(frozen=True)
class WalkState:
    """The walk at the start of ``upto``: every day before it closed, no event of ``upto`` applied.

    Everything a walk carries from one day to the next (the counts themselves are not here: the
    caller passes them in the :class:`History` again). Days before ``upto`` no longer matter to a
    walk that goes on from here except through this state and the window's trailing counts.
    """

    upto: dt.date
    eff: int
    last_active: dt.date | None
    last_healthy_quota: int | None
    stepped_back: bool
    health_paused: str | None
    health_cut: dt.date | None
    events_done: int


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(WalkState) if f.name != "upto")


def timeline(spec: PolicySpec, hist: History, now: dt.datetime, *,
             explain: bool = True) -> list[DayVerdict]:
    """Every local day from the first active day to today, from the walk :func:`evaluate` replays.

    Each past day carries what :func:`evaluate` answered at the start of that day (history before
    the day, events up to its start): the walk of ``_replay``, looked at each morning. A day that
    began paused and was resumed during the day carries the answer just after the resume
    (``resumed``). Today is :func:`evaluate`'s answer at ``now``. So a report built on this
    cannot disagree with what ``warmup quota`` said. ``explain=False``: the same days without
    reasons (much faster; a report table never shows them).
    """
    return walk_timeline(spec, hist, now, explain=explain)[0]


def walk_timeline(spec: PolicySpec, hist: History, now: dt.datetime, *, explain: bool = True,
                  resume: WalkState | None = None) -> tuple[list[DayVerdict], WalkState]:
    """:func:`timeline`'s days, and the walk's state at the start of today.

    ``resume``: a state this function returned for the same inputs at an earlier day; the days
    before ``resume.upto`` are then not walked again nor listed (the caller has them), and the
    result is what a full walk would give from that day on. ``hist`` must still hold the counts
    of the days the windows look back on (``health.window_days`` and ``GROWTH_DAYS`` before
    ``resume.upto``). A state with no active day before it is the initial state: ignored.
    """
    tz = hist.timezone
    local = now.astimezone(_zone(tz))
    today = dt.date(local.year, local.month, local.day)  # plain: pendulum's Date is slow to diff
    counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    walk = _SummedWalk(spec, hist, counts, events=sorted(hist.events, key=lambda e: e.at),
                       explain=explain)
    walk.sum_up()
    first = min((d for d, c in counts.items() if c.sent and d < today), default=today)
    day = first
    # last_active is set once the walk has closed an active day: before that, the state is the
    # initial one and the walk starts at the first active day, wherever that is.
    if resume is not None and resume.last_active is not None and resume.upto <= today:
        for name in _STATE_FIELDS:
            setattr(walk, name, getattr(resume, name))
        day = resume.upto
    out: list[DayVerdict] = []
    one = dt.timedelta(days=1)
    while day < today:
        start = _day_start(day, tz) if walk.events else None  # most mailboxes have no events
        if start is not None:
            _apply_events(walk, start, tz)
        pending = walk.events_done < len(walk.events)  # a resume may come during the day
        # On an active day the morning's verdict (today=True, the day's counts hidden) runs the
        # same steps on the same window as the replay's (the hidden day is outside the prior
        # window, and the window "including today" sums the same days), so one verdict serves
        # both. An idle day adjusts for idleness only in the morning's: look at it separately.
        entry = _morning(walk, day, start) if pending or not walk.sent_on(day) else None
        if entry is not None and entry.paused and pending:
            end = _day_start(day + one, tz)
            resumes = [e.at for e in walk.events[walk.events_done:]
                       if e.kind == "resume" and e.at < end]
            if resumes:
                later = dataclasses.replace(walk)
                _apply_events(later, resumes[-1], tz)
                after = _morning(later, day, resumes[-1])
                if not after.paused:
                    entry = dataclasses.replace(after, paused=True, resumed=True)
        v = walk.verdict(day, today=False)
        if entry is None:
            paused = bool(walk.health_paused) or (
                start is not None and _current_pause(hist.events, start) is not None)
            entry = _day_verdict(day, v, paused, False)
        out.append(entry)
        walk.close_day(day, v)
        day += one
    state = WalkState(today, **{n: getattr(walk, n) for n in _STATE_FIELDS})
    _apply_events(walk, now, tz)
    v = walk.verdict(today, today=True)
    paused = bool(walk.health_paused) or _current_pause(hist.events, now) is not None
    out.append(_day_verdict(today, v, paused, False))
    return out, state


def _morning(walk: _SummedWalk, day: dt.date, at: dt.datetime | None) -> DayVerdict:
    """What :func:`evaluate` says at ``at`` early on ``day`` (nothing sent yet), without moving
    the walk: its state is flat (counts and events are only read), so a shallow copy looks ahead.
    """
    look = dataclasses.replace(walk, hidden=day)  # the day's own sends come after the morning
    v = look.verdict(day, today=True)
    paused = bool(look.health_paused) or (
        at is not None and _current_pause(walk.hist.events, at) is not None)
    return _day_verdict(day, v, paused, False)


@dataclass
class _SummedWalk(_Walk):
    """The same walk, with O(1) window sums from prefix sums over the (fixed) day counts.

    A year of a thousand mailboxes is 365,000 verdicts, each summing a trailing window and
    looking for the busiest of the last 7 days; doing either day by day was most of a report's
    time. ``hidden`` is a day whose counts the verdict must not see (its morning, before anything
    was sent).
    """

    hidden: dt.date | None = None
    origin: int = 0  # ordinal of the first counted day
    sums: list[tuple[int, int, int]] = field(default_factory=list)  # sums[k]: days before origin+k
    sent: list[int] = field(default_factory=list)  # sent[k]: sent on day origin+k

    def sum_up(self) -> None:
        self.sums, self.sent = [(0, 0, 0)], []
        if not self.counts:
            return
        self.origin = min(self.counts).toordinal()
        sent = bounced = complaints = 0
        by_ordinal = {d.toordinal(): c for d, c in self.counts.items()}
        for o in range(self.origin, max(by_ordinal) + 1):
            c = by_ordinal.get(o)
            if c is not None:
                sent, bounced, complaints = (sent + c.sent, bounced + c.bounced,
                                             complaints + c.complaint)
            self.sent.append(0 if c is None else c.sent)
            self.sums.append((sent, bounced, complaints))

    def count(self, day: dt.date) -> DayCounts:
        if day == self.hidden:
            return DayCounts(day)
        return self.counts.get(day) or DayCounts(day)

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
            h = super().count(self.hidden)
            sent, bounced, complaints = (sent - h.sent, bounced - h.bounced,
                                         complaints - h.complaint)
        return sent, bounced, complaints


def _day_verdict(day: dt.date, v: _Verdict, paused: bool, resumed: bool) -> DayVerdict:
    return DayVerdict(day, v.day, v.stage, 0 if paused and not resumed else v.quota, v.health,
                      v.rate, v.complaint_rate, paused, resumed, tuple(v.reasons))


def project(spec: PolicySpec, hist: History, now: dt.datetime, days: int) -> list[PlanDay]:
    """Day-by-day stage and quota ahead if the mailbox sends its full quota healthily."""
    today = now.astimezone(_zone(hist.timezone)).date()
    first = evaluate(spec, hist, now)
    counts = {c.day: c for c in hist.days}
    total = first.remaining
    plan = [PlanDay(today, first.day, first.stage, first.quota, total)]
    counts[today] = dataclasses.replace(counts.get(today, DayCounts(today)),
                                        sent=max(first.quota, first.sent))
    # Past days are fixed; each future day follows from the full-quota days before it.
    walk, v = _walk_to(spec, dataclasses.replace(hist, days=tuple(counts.values())), today,
                       now, hist.timezone)
    walk.close_day(today, v)
    for k in range(1, days):
        day = today + dt.timedelta(days=k)
        noon = _day_noon(day, hist.timezone)
        _apply_events(walk, _day_start(day, hist.timezone), hist.timezone)
        v = walk.verdict(day, today=False, active=True)
        closed = day.weekday() not in spec.window.weekdays
        quota = 0 if walk.health_paused or closed or _current_pause(hist.events, noon) else v.quota
        walk.counts[day] = DayCounts(day, sent=quota)
        walk.close_day(day, v)
        total += quota
        plan.append(PlanDay(day, v.day, v.stage, quota, total))
    return plan


def _day_noon(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), _zone(tz)).astimezone(dt.UTC)
