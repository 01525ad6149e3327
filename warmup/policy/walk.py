"""The policy's day-by-day walk: where every rule of a warm-up policy lives. Pure, no I/O.

A mailbox's standing is a function of its history: the walk starts on its first day with sends or
bounces (from its start day on) and goes day by day to today, deriving for each day the warm-up day, the stage, the health verdict on
the trailing window and the quota the policy allowed then. :func:`warmup.policy.engine.evaluate`
(today's allowance), :func:`~warmup.policy.engine.timeline` (every past day, for reports) and
:func:`~warmup.policy.engine.project` (the days ahead) all look at this one walk, so a report or a
plan cannot disagree with ``warmup quota``.

Rules (see README "The policy"):
- warm-up progress counts *qualifying* days: at least ``qualify`` (default half) of the day's
  quota sent, the quota being what the day could deliver (its window at the stage's mean gap,
  what the domain cap left it after the domain's other mailboxes: :meth:`Walk.domain_left`); a
  held or paused day does not count; an active day that does not qualify neither advances nor
  counts as idle;
- a day the window does not open on (a public holiday of the calendar, a weekday not in
  ``window.weekdays``, a non-working day with ``window.working_days``, a day the clocks jump
  over all its hours in the mailbox's zone) has quota 0;
- idle for ``idle.step_back_after_days`` steps back a stage, ``restart_after_days`` starts over;
  idle days are days the mailbox could have sent on and did not: closed days, and the
  non-working days of a holiday break, do not count;
- health is judged on the trailing ``health.window_days`` before a day once ``min_sample`` sends
  are in it: above ``hold_above`` the quota stays at the last healthy day's, above
  ``step_back_above`` the mailbox steps back a stage (once per episode), above ``pause_above`` it
  is paused until a ``resume`` event; complaints have their own hold/pause thresholds; a resume
  forgives the days up to it (they can only hold the ramp while in the window), not the days
  after it, which also pause or step back on their own once they are a sample;
- a bounce rate never exceeds 100%: more bounces than sends in a window count as one per send;
- the quota never exceeds ``growth_factor`` x the busiest of the last 7 days (never below the first
  stage's volume), the policy ceiling, the provider's ceiling or the mailbox's cap;
- today's quota comes from days before today; today's bounces can only lower it (a second health
  check on the window that includes today);
- each day is judged under the policy in force on it: a ``policy`` event (``policy set``,
  ``mailbox set --policy``) switches the walk to the new policy from the start of its day on,
  the days before keep what the old one made of them (:mod:`warmup.policy.eras`).

**Memos.** Days before yesterday never change without the ledger knowing (it bumps the mailbox's
revision when a write lands on a past day), so the walk's state at the start of a day
(:class:`WalkState`) can be kept and the walk resumed from it: :attr:`History.memo`. A walk that
resumes from a memo reads only the days its windows look back on (:func:`lookback` days before the
memo's day), so a mailbox with three years of history costs what one with a week does. A memo is
valid only for the inputs it was computed from (:func:`inputs_digest`); the answer with or without
it is the same (``tests/test_walk.py`` checks that on random histories).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from warmup.instants import zone
from warmup.policy import eras
from warmup.policy.calendar import closed, fits, off_between
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.policy.spec import Health, PolicySpec, Stage

GROWTH_DAYS = 7
# Part of every memo's inputs: bump it whenever a rule of the walk or WalkState's layout changes,
# so that no memo computed by older code is ever resumed.
CODE_VERSION = "walk-8"
ONE_DAY = dt.timedelta(days=1)
# Days to walk from which :func:`replay` takes the day sums and walks in runs: below it (a walk
# resumed from yesterday's memo, the gate's every message) the sums cost more than they save.
RUN_FROM = 8
# Days left from which a walk in its last stage, with the day sums as arrays, walks them a
# stretch at a time in numpy (warmup.policy.steady): below it numpy's cost per call is more.
STEADY_FROM = 32


class DayCounts(NamedTuple):
    """One local day of a mailbox: its sends and the bounces counted on it, by kind.

    A named tuple, not a dataclass: a mailbox asked about without a memo reads every day of its
    history, a year of a thousand mailboxes is 365,000 of them, and a frozen dataclass costs
    three times a tuple to build (~0.35 s of ``warmup quota``'s first answer)."""

    day: dt.date
    sent: int = 0
    hard: int = 0
    soft: int = 0
    block: int = 0
    complaint: int = 0

    @property
    def bounced(self) -> int:
        return self.hard + self.soft + self.block


def _counted(c: DayCounts) -> bool:
    """Whether a day holds anything the walk counts: sends, bounces or complaints."""
    return bool(c.sent or c.bounced or c.complaint)


@dataclass(frozen=True)
class MailboxEvent:
    kind: str  # "pause" | "resume" | "throttle" | "policy" (warmup.policy.eras)
    at: dt.datetime  # aware UTC
    until: dt.datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class WalkState:
    """The walk at the start of ``upto``: every day before it closed, no event of ``upto`` applied.

    Everything a walk carries from one day to the next; the day counts themselves are not here
    (the caller passes those the windows need in the :class:`History`). Computed with reasons
    (``health_paused`` holds the full sentence), as :func:`~warmup.policy.engine.evaluate` does.
    """

    upto: dt.date
    eff: int
    last_active: dt.date | None
    last_healthy_quota: int | None
    stepped_back: bool
    health_paused: str | None
    health_cut: dt.date | None
    # Active days of the last GROWTH_DAYS that sent too little to qualify: (ISO day, sent, what
    # the day could deliver). Only for the reasons.
    short_days: tuple[tuple[str, int, int], ...] = ()

    def to_json(self) -> str:
        # not asdict(): its deep copy was most of keeping a thousand memos
        data = {name: getattr(self, name) for name in _state_names()}
        for k in ("upto", "last_active", "health_cut"):
            data[k] = data[k].isoformat() if data[k] is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WalkState:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WalkState:
        """From :meth:`to_json`'s object, parsed (``data`` is changed)."""
        for k in ("upto", "last_active", "health_cut"):
            data[k] = dt.date.fromisoformat(data[k]) if data[k] is not None else None
        data["short_days"] = tuple(tuple(d) for d in data.get("short_days", ()))
        return cls(**data)


@functools.cache
def _state_names() -> tuple[str, ...]:
    """The names of :class:`WalkState`'s fields, in order (once: a thousand memos are kept at a
    time)."""
    return tuple(f.name for f in dataclasses.fields(WalkState))


_STATE_FIELDS = (
    "eff",
    "last_active",
    "last_healthy_quota",
    "stepped_back",
    "health_paused",
    "health_cut",
    "short_days",
)


@dataclass(frozen=True)
class History:
    """What the ledger knows of one mailbox, as of ``now``.

    ``memo``: the walk's state at the start of ``memo.upto`` (on or before today), computed for
    this mailbox's current :func:`inputs_digest`; with it, ``days`` need only reach back
    :func:`lookback` days before ``memo.upto``, and ``events`` need only hold those after the
    start of the day before ``memo.upto`` plus the ones still in force (the last pause or resume,
    back-offs not yet over).
    """

    mailbox: str
    timezone: str
    days: tuple[DayCounts, ...] = ()
    events: tuple[MailboxEvent, ...] = ()
    last_send_at: dt.datetime | None = None
    cap: int | None = None
    provider_ceiling: int | None = None
    provider_min_interval: float = 0.0
    started: dt.date | None = None
    domain_sent_today: int | None = None
    memo: WalkState | None = None
    # Sends of this mailbox today per recipient domain (lower-case): every domain for a question
    # about the mailbox, the domains of the message's recipients for a reservation.
    recipient_domains_today: Mapping[str, int] = field(default_factory=dict)
    # Without a memo: every day before today as day sums, given the health window's length
    # (the ledger read the days as arrays for a batch of mailboxes asked about at once:
    # warmup.policy.steady.array_sums); ``days`` then holds only the days today's verdict reads
    # (its windows, today). The walk before today reads the sums, never ``days``.
    sums: Callable[[int], DaySums] | None = field(default=None, compare=False, repr=False)
    # Under a domain cap: what the domain's other mailboxes sent on each day the walk closes
    # (local days, as the ledger's rollup keeps them), which the cap left this one less of.
    # Days the walk does not close (before the memo's day, today) may be missing.
    domain_days: Mapping[dt.date, int] = field(default_factory=dict)
    # The TOML texts of the stored policy versions the ``policy`` events name, by
    # :func:`warmup.policy.eras.ref` ("careful version 2"): the walk judges each day under the
    # policy in force then (warmup.policy.eras). Empty without such events.
    policy_texts: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def lookback(spec: PolicySpec) -> int:
    """How many days before a memo's day a walk resumed from it reads: the growth limit's
    :data:`GROWTH_DAYS`, or the health window and one day more. A memo's state has not applied
    the events of the day before it (:meth:`Walk.resume`); a resume on that day is applied by the
    resumed walk and judges what it forgives on the window before its day plus that day
    (:meth:`Walk.due_at_resume`), which begins ``window_days + 1`` days before the memo's day."""
    return max(spec.health.window_days + 1, GROWTH_DAYS)


def inputs_digest(spec: PolicySpec, hist: History) -> str:
    """SHA-256 over every input of a walk but the day counts and events: what a memo is valid for.

    The policy's content (``repr`` of the parsed spec: every number the walk reads, whatever its
    file or preset is called), the mailbox's zone, cap and start day, the provider's limits and
    :data:`CODE_VERSION` (and the holidays library's version when the policy has a calendar:
    a new version may correct a past holiday).
    """
    if spec.calendar:
        from warmup.policy.calendar import data_version

        calendar_data = data_version()
    else:
        calendar_data = None
    parts = [
        CODE_VERSION,
        hist.mailbox,
        hist.timezone,
        _spec_text(spec),
        hist.cap,
        hist.started.isoformat() if hist.started else None,
        hist.provider_ceiling,
        hist.provider_min_interval,
        calendar_data,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _spec_text(spec: PolicySpec) -> str:
    """``repr(spec)``, once per policy: ``warmup quota`` asks for a thousand mailboxes of one."""
    return _by_spec(_SPEC_TEXTS, spec, (), lambda: repr(spec))


_SPEC_TEXTS: dict[tuple[Any, ...], tuple[PolicySpec, Any]] = {}


def _by_spec(
    memo: dict[tuple[Any, ...], tuple[PolicySpec, Any]],
    spec: PolicySpec,
    key: tuple[Any, ...],
    make: Callable[[], Any],
) -> Any:
    """``make()`` kept in ``memo`` for this very ``spec`` object and ``key`` (at most 64).

    By identity, not by value: hashing a policy hashes each of its stages and rules, ~10 µs,
    and a cold ``warmup quota`` of a thousand mailboxes asked ~3,000 times (the spec is kept
    with the answer, so its id cannot be another object's while the entry lives)."""
    k = (id(spec), *key)
    got = memo.get(k)
    if got is None or got[0] is not spec:
        if len(memo) >= 64:
            memo.clear()
        got = memo[k] = (spec, make())
    return got[1]


@dataclass
class Verdict:
    """One day's verdict: the quota the policy allowed, the stage, the health and why."""

    quota: int
    stage: str
    day: int
    health: str  # ok | hold | step_back | pause | unjudged
    rate: float | None
    complaint_rate: float | None
    reasons: list[str] = field(default_factory=list)
    closed: str | None = None  # why the window stays shut all day (quota 0), or None
    number: int = 0  # the stage's index


@dataclass
class Walk:
    """The walk's state while it goes from day to day; see the module docstring."""

    spec: PolicySpec
    hist: History
    counts: dict[dt.date, DayCounts]
    eff: int = 0  # active days that count toward the ramp
    last_active: dt.date | None = None
    last_healthy_quota: int | None = None
    stepped_back: bool = False
    health_paused: str | None = None
    health_cut: dt.date | None = None  # days up to this one (a resume) can only hold
    short_days: tuple[tuple[str, int, int], ...] = ()
    events: list[MailboxEvent] = field(default_factory=list)
    events_done: int = 0
    # The mailbox's policy now, the one the walk was given: ``spec`` is the policy in force on
    # the day walked (warmup.policy.eras), this one from the last ``policy`` event on.
    current: PolicySpec | None = None
    # False: no reason strings (a report's year of verdicts never shows them, and building them
    # was most of a verdict's cost); every number, stage and health word is the same either way.
    explain: bool = True

    def count(self, day: dt.date) -> DayCounts:
        return self.counts.get(day) or DayCounts(day)

    def sent_on(self, day: dt.date) -> int:
        """What ``count(day).sent`` says, without building a :class:`DayCounts` (the gate asks
        for a few dozen days per message)."""
        c = self.counts.get(day)
        return c.sent if c is not None else 0

    def window_rates(self, first: dt.date, last: dt.date) -> tuple[int, int, int]:
        sent = bounced = complaints = 0
        get = self.counts.get
        d = first
        while d <= last:
            c = get(d)
            if c is not None:
                sent += c.sent
                bounced += c.hard + c.soft + c.block
                complaints += c.complaint
            d += ONE_DAY
        return sent, bounced, complaints

    def capped_rates(self, first: dt.date, last: dt.date) -> tuple[int, int, int]:
        """:meth:`window_rates` with bounces and complaints capped at the sends: late bounces of
        sends before the window can outnumber the window's sends, and a rate is a share of
        sends, never above 100%."""
        sent, bounced, complaints = self.window_rates(first, last)
        return sent, min(bounced, sent), min(complaints, sent)

    def judge(
        self, first: dt.date, last: dt.date, words: bool = True
    ) -> tuple[str, float | None, float | None, str]:
        """``(health, rate, complaint rate, why)`` over ``first..last``; ``why`` is the health word
        itself when the walk does not explain (still non-empty: ``health_paused`` stores it).

        ``words=False``: the caller shows no reasons; ``why`` is still the sentence for a pause
        (``health_paused`` keeps it), the health word otherwise."""
        h = self.spec.health
        sent, bounced, complaints = self.capped_rates(first, last)
        if sent < max(h.min_sample, 1):
            return (
                "unjudged",
                None,
                None,
                f"bounce rate not judged yet: {plural(sent, 'send')} in the last {h.window_days} days "
                f"(needs {h.min_sample})"
                if self.explain and words
                else "unjudged",
            )
        rate, crate = bounced / sent, complaints / sent
        cut = self.health_cut
        health, rule = self.rule(rate, crate, cut is not None and first <= cut)
        span = f"{h.window_days}-day"
        if rule == "cut" and cut is not None and cut < last:
            # The forgiven days (up to the resume) do not shield the days after it: those alone,
            # once they are a sample, pause or step back as any window would. The rates given
            # back stay the window's (reports plot the trailing window); the words say which.
            a_sent, a_bounced, a_complaints = self.capped_rates(cut + ONE_DAY, last)
            if a_sent >= max(h.min_sample, 1):
                a_health, a_rule = self.rule(a_bounced / a_sent, a_complaints / a_sent, False)
                if SEVERITY[a_health] > SEVERITY[health]:
                    health, rule = a_health, a_rule
                    sent, bounced, complaints = a_sent, a_bounced, a_complaints
                    span = f"since the resume on {cut}:"
        if not self.explain or not (words or health == "pause"):
            return health, rate, crate, health
        lines = (h.hold_above, h.step_back_above, h.pause_above)
        clines = (h.complaint_hold_above, h.complaint_pause_above)
        facts = (
            f"{span} bounce rate {percent(bounced / sent, lines)} ({bounced}/{sent}), "
            f"complaint rate {percent(complaints / sent, clines, 2)} ({complaints}/{sent})"
        )
        n, stage, _ = self.spec.stage_at(self.eff + 1)
        top = n == len(self.spec.stages) - 1 and stage.days == 0  # no stage after: no ramp
        return health, rate, crate, f"{facts}: {_why(rule, h, cut, top)}"

    def rule(self, rate: float, crate: float, cut: bool) -> tuple[str, str]:
        """``(health, rule)`` for a judged window with these rates; ``cut``: the window reaches
        back to the day of a resume (``health_cut``)."""
        h = self.spec.health
        if cut and (rate > h.step_back_above or crate > h.complaint_pause_above):
            # Resumed by hand: the days up to the resume cannot pause or step back again,
            # but they hold the ramp until they leave the window.
            return "hold", "cut"
        if rate > h.pause_above:
            return "pause", "pause"
        if crate > h.complaint_pause_above:
            return "pause", "complaint_pause"
        if rate > h.step_back_above:
            return "step_back", "step_back"
        if rate > h.hold_above:
            return "hold", "hold"
        if crate > h.complaint_hold_above:
            return "hold", "complaint_hold"
        return "ok", "ok"

    def small_sample_warning(self, first: dt.date, last: dt.date) -> str | None:
        """A warning when a window too small to judge already bounces (or draws complaints)
        above the hold lines: the status stays ok, but the list looks bad."""
        h = self.spec.health
        sent, bounced, complaints = self.capped_rates(first, last)
        if not sent:
            return None
        bad = []
        if bounced / sent > h.hold_above:
            bad.append(
                f"{bounced} bounce{_s(bounced)} in {sent} send{_s(sent)} "
                f"({percent(bounced / sent, (h.hold_above,))}, above {line(h.hold_above)})"
            )
        if complaints / sent > h.complaint_hold_above:
            bad.append(
                f"{complaints} complaint{_s(complaints)} in {sent} send{_s(sent)} "
                f"({percent(complaints / sent, (h.complaint_hold_above,), 2)}, "
                f"above {line(h.complaint_hold_above)})"
            )
        if not bad:
            return None
        return (
            f"warning: {' and '.join(bad)} in the last {h.window_days} days; too few sends to "
            f"judge yet (needs {h.min_sample}), so nothing is held, but check the list before "
            f"sending more"
        )

    def idle_days(self, last: dt.date, day: dt.date) -> tuple[int, int]:
        """``(idle, off)``: the days strictly between ``last`` and ``day`` the mailbox could have
        sent on, and those it could not (closed, or in a holiday break)."""
        gap = (day - last).days - 1
        spec = self.spec
        if gap <= 0:
            return 0, 0
        days_off = off_between(
            spec.window, spec.calendar, last + ONE_DAY, day - ONE_DAY, zone(self.hist.timezone)
        )
        return gap - days_off, days_off

    def idle_adjust(self, day: dt.date, reasons: list[str]) -> None:
        if self.last_active is None:
            return
        idle, days_off = self.idle_days(self.last_active, day)
        rules = self.spec.idle
        also = f", not counting {days_off} day{_s(days_off)} off" if days_off else ""
        if rules.restart_after_days and idle >= rules.restart_after_days and self.eff:
            if self.explain:
                reasons.append(
                    f"idle {idle} days{also} (>= {rules.restart_after_days}): warm-up starts over"
                )
            self.eff, self.stepped_back = 0, False
        elif rules.step_back_after_days and idle >= rules.step_back_after_days and self.eff:
            self.step_back()
            if self.explain:
                reasons.append(
                    f"idle {idle} days{also} (>= {rules.step_back_after_days}): "
                    f"stepped back to stage {self.stage_name()}"
                )
        elif days_off and self.explain:
            reasons.append(
                f"last sent on {self.last_active}: idle {idle} day{_s(idle)}; the {days_off} "
                f"day{_s(days_off)} off since (holidays, days the window does not open on) "
                f"do not count as idle"
            )
        self.last_active = day  # one adjustment per idle gap

    def step_back(self) -> None:
        """To the last day of the previous stage: the current stage restarts from its start."""
        number, _, _ = self.spec.stage_at(self.eff + 1)
        self.eff = max(self.spec.stage_start(number) - 1, 0)

    def stage_name(self) -> str:
        return self.spec.stage_at(self.eff + 1)[1].name

    def verdict(
        self, day: dt.date, today: bool, active: bool | None = None, quiet: bool = False
    ) -> Verdict:
        """``day``'s verdict, the walk's state moved past its start; ``quiet``: the caller
        discards the reasons (a past day on the way to today), so they are not built."""
        spec = self.spec
        reasons: list[str] = []
        if (self.sent_on(day) if active is None else active) or today:
            self.idle_adjust(day, reasons)
        w = spec.health.window_days
        explain = self.explain and not quiet
        health, rate, crate, why = self.judge(
            day - dt.timedelta(days=w), day - ONE_DAY, words=explain
        )
        judged_to = day - ONE_DAY
        if today:
            # The prior window plus today: only today's bounces can make it worse.
            # Its words only when it decides (the prior window's mostly do).
            t_health, t_rate, t_crate, t_why = self.judge(
                day - dt.timedelta(days=w), day, words=False
            )
            if SEVERITY[t_health] > SEVERITY[health] or (
                health == "unjudged" and t_health != "unjudged"
            ):
                if explain:
                    t_why = self.judge(day - dt.timedelta(days=w), day)[3]
                health, rate, crate = t_health, t_rate, t_crate
                why = t_why + " (including today)" if explain else t_why
                judged_to = day
        if health == "pause" and not self.health_paused:
            self.health_paused = why
        if health == "step_back" and not self.stepped_back:
            self.step_back()
            self.stepped_back = True
        elif health in ("ok", "unjudged"):
            self.stepped_back = False
        number, stage, index = spec.stage_at(self.eff + 1)
        volume = stage.volume(index)
        if explain:
            reasons.append(
                f"warm-up day {self.eff + 1}: {self.eff} qualifying day{_s(self.eff)} so far, "
                f"stage {stage.name} ({stage.describe_volume()}): {volume}"
            )
            short = self.short_reason(day)
            if short:
                reasons.append(short)
            reasons.append(why)
            if health == "unjudged":
                warning = self.small_sample_warning(day - dt.timedelta(days=w), judged_to)
                if warning:
                    reasons.append(warning)
        quota = volume
        floor = spec.stages[0].daily_from
        busiest = self.busiest(day)
        grown = int(spec.growth_factor * busiest)
        growth = max(floor, grown)
        if growth < quota:
            quota = growth
            if explain and grown >= floor:
                reasons.append(
                    f"growth limit: {spec.growth_factor:g}x the busiest of the last "
                    f"{GROWTH_DAYS} days ({busiest}) = {growth}"
                )
            elif explain:
                reasons.append(
                    f"growth limit: {spec.growth_factor:g}x the busiest of the last "
                    f"{GROWTH_DAYS} days ({busiest}) = {grown}, raised to {floor}, the first "
                    f"stage's daily volume, below which the limit never goes"
                )
        for limit, what in (
            (spec.ceiling, "policy"),
            (self.hist.provider_ceiling, "provider"),
            (self.hist.cap, "cap"),
        ):
            if limit is not None and limit < quota:
                quota = limit
                if explain:
                    reasons.append(f"{_LIMITS[what].format(spec.name)}: {limit}")
        if health in ("hold", "step_back"):
            held = self.last_healthy_quota if self.last_healthy_quota is not None else floor
            if held < quota:
                quota = held
                if explain:
                    reasons.append(f"held at the last healthy day's quota: {held}")
        elif health in ("ok", "unjudged"):
            self.last_healthy_quota = quota
        shut = closed(spec.window, spec.calendar, day, zone(self.hist.timezone))
        if self.hist.started is not None and day < self.hist.started:
            shut = f"not started until {self.hist.started}"  # a mailbox planned ahead
        if shut is not None:
            quota = 0
            if explain:
                reasons.append(f"closed: {shut}: quota 0, and the day does not count as idle")
        return Verdict(quota, stage.name, self.eff + 1, health, rate, crate, reasons, shut, number)

    def short_reason(self, day: dt.date) -> str | None:
        """Which recent active days sent too little to count toward warm-up."""
        since = (day - dt.timedelta(days=GROWTH_DAYS)).isoformat()
        short = [d for d in self.short_days if since <= d[0] < day.isoformat()]
        if not short:
            return None
        listed = ", ".join(f"{d} ({sent} of {could} sent)" for d, sent, could in short)
        return (
            f"too little sent to count toward warm-up on {listed}: a day counts when at least "
            f"{self.spec.qualify:.0%} of what it could deliver is sent"
        )

    def capacity(self, day: dt.date, stage: Stage) -> int | None:
        """How many sends fit in ``day``'s window at ``stage``'s mean gap (None: no pacing)."""
        return fits(self.spec.window, day, zone(self.hist.timezone), mean_gap(stage, self.hist))

    def domain_left(self, day: dt.date) -> int | None:
        """What the domain cap left this mailbox on ``day``: the cap less what the domain's other
        mailboxes sent that day (None: no domain cap). The gate shares the cap between them, so
        a mailbox that sent all it was left sent all it could."""
        cap = self.spec.domain_cap
        if cap is None:
            return None
        return max(cap - self.hist.domain_days.get(day, 0), 0)

    def deliverable(self, day: dt.date, v: Verdict) -> int:
        """What ``day`` could deliver: its quota, within its window at the mean gap and what
        the domain cap left it."""
        most = v.quota
        left = self.domain_left(day)
        if left is not None:
            most = min(most, left)
        fit = self.capacity(day, self.spec.stages[v.number]) if most else None
        return most if fit is None else min(most, fit)

    def qualifies(self, day: dt.date, v: Verdict, sent: int) -> bool:
        """Enough sent on ``day`` to count toward warm-up; a day that does not is remembered for
        the reasons."""
        if v.closed is None and v.quota and sent >= needed(self.spec.qualify, v.quota):
            return True  # enough of the whole quota: enough of any part of it
        could = 0 if v.closed is not None else self.deliverable(day, v)
        need = needed(self.spec.qualify, could)
        left = self.domain_left(day)
        if could and could < min(v.quota, v.quota if left is None else left):  # window binds
            need = min(need, reachable(could, slowest_share(self.spec.stages[v.number], self.hist)))
        if could and sent >= need:
            return True
        keep = (day - dt.timedelta(days=GROWTH_DAYS - 1)).isoformat()
        self.short_days = (
            *(d for d in self.short_days if d[0] >= keep),
            (day.isoformat(), sent, could),
        )
        return False

    def busiest(self, day: dt.date) -> int:
        """The most sent on one of the :data:`GROWTH_DAYS` days before ``day``."""
        return max(self.sent_on(day - dt.timedelta(days=k)) for k in range(1, GROWTH_DAYS + 1))

    def close_day(self, day: dt.date, v: Verdict) -> None:
        """After a past day: count it as progress if it qualified and was healthy."""
        sent = self.sent_on(day)
        if not sent:
            return
        # qualifies() first, always: it remembers a day that sent too little
        if (
            self.qualifies(day, v, sent)
            and v.health in ("ok", "unjudged")
            and not self.health_paused
        ):
            self.eff += 1
        self.last_active = day

    def state(self, upto: dt.date) -> WalkState:
        """The walk's state, as the state at the start of ``upto`` (the caller's position)."""
        return WalkState(
            upto,
            self.eff,
            self.last_active,
            self.last_healthy_quota,
            self.stepped_back,
            self.health_paused,
            self.health_cut,
            self.short_days,
        )

    def resume(self, state: WalkState) -> None:
        """Take up ``state`` (the walk at the start of ``state.upto``): the events before the
        start of the day before it are already applied in it."""
        for name in _STATE_FIELDS:
            setattr(self, name, getattr(state, name))
        applied = day_start(state.upto - ONE_DAY, self.hist.timezone)
        self.events_done = sum(1 for e in self.events if e.at <= applied)

    def apply_events(self, upto: dt.datetime) -> None:
        """Replay events up to ``upto``: a resume clears a health pause and steps back a stage."""
        events = self.events
        while self.events_done < len(events) and events[self.events_done].at <= upto:
            ev = events[self.events_done]
            self.events_done += 1
            if ev.kind == "policy":
                self.take_up()
            elif ev.kind == "resume":
                # Every resume forgives the days up to it (whether a health pause was on or
                # not: otherwise bounces that had paused the mailbox would earn it that grace
                # and a cleaner history would not, and more bounces could raise the quota).
                # What it forgives still costs what it would have cost: a pause (on, or due
                # from the resume's own day) a stage, a step back not yet taken a stage.
                day = local(ev.at, self.hist.timezone).date()
                due = self.due_at_resume(day)
                self.health_cut = day
                if self.health_paused or due == "pause":
                    self.health_paused = None
                    self.step_back()
                elif due == "step_back" and not self.stepped_back:
                    self.step_back()
                    self.stepped_back = True

    def take_up(self) -> None:
        """Walk on under the policy in force once the events applied so far are (the walk's
        start or resumption, or a ``policy`` event just applied): :func:`warmup.policy.eras.in_force`,
        the walk's own policy once no ``policy`` event is left."""
        current = self.current or self.spec
        self.spec = eras.in_force(current, self.events, self.events_done, self.hist.policy_texts)

    def memo(self, day: dt.date) -> WalkState | None:
        """The state at the start of ``day`` (:meth:`state`) as a memo worth keeping, or None:
        no active day before it, or a ``policy`` event a walk resumed from it would replay (the
        days a memo's reads hold are the current policy's :func:`lookback`, not an older one's;
        a change from the day after on)."""
        if self.last_active is None:
            return None
        applied = day_start(day - ONE_DAY, self.hist.timezone)
        if any(e.kind == "policy" and e.at > applied for e in self.events):
            return None
        return self.state(day)

    def due_at_resume(self, day: dt.date) -> str:
        """The health the window up to ``day`` (the resume's, included) would have without the
        grace of a resume: what the resume forgives."""
        h = self.spec.health
        sent, bounced, complaints = self.capped_rates(day - dt.timedelta(days=h.window_days), day)
        if sent < max(h.min_sample, 1):
            return "unjudged"
        return self.rule(bounced / sent, complaints / sent, False)[0]


def _why(rule: str, h: Health, cut: dt.date | None, top: bool = False) -> str:
    """The health rule that decided, in words (only the one that did is written out); ``top``:
    the mailbox is in its last, open-ended stage (there is no ramp left to continue)."""
    if rule == "cut":
        return f"resumed on {cut}, the ramp is held until the days before it leave the window"
    if rule == "pause":
        return f"bounce rate above {line(h.pause_above)} pauses"
    if rule == "complaint_pause":
        return f"complaint rate above {line(h.complaint_pause_above)} pauses"
    if rule == "step_back":
        return f"bounce rate above {line(h.step_back_above)} steps back a stage"
    if rule == "hold":
        return f"bounce rate above {line(h.hold_above)} holds the ramp"
    if rule == "complaint_hold":
        return f"complaint rate above {line(h.complaint_hold_above)} holds the ramp"
    if top:
        return f"within {line(h.hold_above)}, the quota stands (the ramp's top)"
    return f"within {line(h.hold_above)}, the ramp continues"


SEVERITY = {"unjudged": 0, "ok": 0, "hold": 1, "step_back": 2, "pause": 3}


def needed(qualify: float, could: int) -> int:
    """Sends a day that could deliver ``could`` needs to qualify (at least one)."""
    return max(1, math.ceil(qualify * could - 1e-9))


def slowest_share(stage: Stage, hist: History) -> float:
    """The share of the sends a window fits at the mean gap that still fit when every gap is
    the slowest of the stage's random interval: the gate's gaps are random, so a day may fit
    that few, and a day that sent all the gate let through must not fall short of qualifying
    (``qualify = 1`` with a window: 23 of 24 sent, the 24th never allowed)."""
    slow = max(stage.interval_max, hist.provider_min_interval)
    return 1.0 if slow <= 0 else min(mean_gap(stage, hist) / slow, 1.0)


def reachable(could: int, share: float) -> int:
    """The sends a window that fits ``could`` at the mean gap surely fits (at least one)."""
    return max(1, math.floor(could * share + 1e-9))


def mean_gap(stage: Stage, hist: History) -> float:
    """Seconds between two sends on average: the middle of the stage's random interval, never
    under the provider's per-minute limit."""
    return max((stage.interval_min + stage.interval_max) / 2, hist.provider_min_interval)


def percent(rate: float, lines: tuple[float, ...], digits: int = 1) -> str:
    """``rate`` as a percentage with enough digits that it sits on the same side of each of
    ``lines`` as the rate itself: 5.05% is "5.05%", never "5.0%" next to "above 5%"."""
    for d in range(digits, 7):
        text = f"{rate * 100:.{d}f}"
        shown = float(text)
        if all((shown > round(t * 100, 9)) == (rate > t) for t in lines):
            break
    return f"{text}%"


def line(threshold: float) -> str:
    """A threshold as written: 0.03 is "3%", 0.035 "3.5%", 0.001 "0.1%"."""
    return f"{round(threshold * 100, 9):g}%"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


_LIMITS = {
    "policy": "policy {} ceiling",
    "provider": "provider's daily limit",
    "cap": "mailbox cap",
}


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
    walk, memo = yield from replay_steps(spec, hist, today, checkpoint, runs)
    tz = hist.timezone
    walk.apply_events(day_start(today, tz))
    w = spec.health.window_days
    health, _, _, why = walk.judge(today - dt.timedelta(days=w), today - ONE_DAY, words=False)
    if health == "pause" and not walk.health_paused:
        walk.health_paused = why  # the pause stands from the start of today: a resume can lift it
    walk.apply_events(end_of)
    return walk, walk.verdict(today, today=True), memo


def current_pause(events: tuple[MailboxEvent, ...], now: dt.datetime) -> MailboxEvent | None:
    """The manual pause or provider back-off in force at ``now``, if any. A pause by hand with
    an ``until`` ('mailbox pause --until') ends then, as a back-off does; the last pause by hand
    replaces the one before it (a timed one ends an open-ended one). Both a pause by hand and
    a back-off in force: the one that ends later (an open-ended pause never ends by itself), as
    the mailbox sends again only when both have ended."""
    manual: MailboxEvent | None = None
    throttle: MailboxEvent | None = None
    for ev in sorted(events, key=lambda e: e.at):
        if ev.at > now:
            break
        if ev.kind == "pause":
            manual = ev if ev.until is None or ev.until > now else None
        elif ev.kind == "resume":
            manual = throttle = None
        elif ev.kind == "throttle" and ev.until is not None and ev.until > now:
            throttle = ev
    if manual is None or throttle is None:
        return manual or throttle
    if manual.until is None or throttle.until is None:
        return manual if manual.until is None else throttle
    return manual if manual.until >= throttle.until else throttle


def local(ts: dt.datetime, tz: str) -> dt.datetime:
    return ts.astimezone(zone(tz))


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """The instant (aware UTC) local ``day`` begins in zone ``tz``."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)


@dataclass
class DaySums:
    """A mailbox's day counts as dense per-day lists from day ``origin`` (an ordinal) on, and the
    sums a walk reads of them; what :meth:`SummedWalk.sum_up` derives from the counts, or what a
    caller that holds the counts as arrays computes itself (a report, with numpy) so that no
    :class:`DayCounts` is built for a day the walk does not look at.

    ``rows[k]``: the counts of day ``origin + k`` in :class:`DayCounts` field order (``sent``,
    ``hard``, ``soft``, ``block``, ``complaint``); ``sent[k]`` its sends; ``sums[k]``: (sent,
    bounced, complaints) of the days before ``origin + k`` (one more entry than days);
    ``window[k]``: (sent, bounced, complaints) of the health window before day ``origin + k``
    (``window_days`` days, cut at ``origin``) and the busiest of the :data:`GROWTH_DAYS` days
    before it. Days before ``hist.started`` are left out, as the walk leaves them out.

    ``rows`` and ``sums`` are read only on the days the full step walks (a few per mailbox in a
    report): any sequence of int tuples will do, e.g. one that converts a row when asked."""

    origin: int = 0
    rows: Sequence[tuple[int, ...]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    sums: Sequence[tuple[int, int, int]] = field(default_factory=lambda: [(0, 0, 0)])
    window: list[tuple[int, int, int, int]] = field(default_factory=list)
    # The same as numpy arrays, when the caller computed them so (a report): ``sent`` and the
    # window's sent, bounced, complaints and busiest as five int64 arrays by day. With them the
    # last stage is walked a stretch at a time (:mod:`warmup.policy.steady`).
    arrays: tuple[Any, ...] | None = None
    # What walks those stretches (warmup.policy.steady.Stretches), given with the arrays by
    # the caller that computed them: the walk itself never imports numpy.
    stretches: Any = None
    # With the arrays: the indices of the days after an idle gap of some length (the policy's
    # idle rules'), found when first asked for (_gap_ahead): (that length, the indices)
    gaps: tuple[int, list[int]] | None = field(default=None, compare=False, repr=False)

    def first_counted(self, before: int) -> int | None:
        """The ordinal of the first day with sends, bounces or complaints before ordinal
        ``before``, if any (:func:`start`'s first day): the first prefix sum that is not zero."""
        n = min(max(before - self.origin, 0), len(self.sums) - 1)
        k = bisect.bisect_left(range(n), True, key=lambda k: any(self.sums[k + 1]))
        return self.origin + k if k < n else None


def day_sums(counts: Mapping[dt.date, DayCounts], window_days: int) -> DaySums:
    """:class:`DaySums` of a walk's counts (pure Python; a report computes them with numpy)."""
    if not counts:
        return DaySums()
    by_ordinal = {d.toordinal(): c for d, c in counts.items()}
    origin = min(by_ordinal)
    rows: list[tuple[int, ...]] = [(0, 0, 0, 0, 0)] * (max(by_ordinal) - origin + 1)
    for o, c in by_ordinal.items():
        rows[o - origin] = (c.sent, c.hard, c.soft, c.block, c.complaint)
    sums = [(0, 0, 0)]
    sent = bounced = complaints = 0
    for n, hard, soft, block, complaint in rows:
        sent, bounced, complaints = sent + n, bounced + hard + soft + block, complaints + complaint
        sums.append((sent, bounced, complaints))
    days = [r[0] for r in rows]
    window = []
    for k in range(len(days)):
        (s1, b1, c1), (s0, b0, c0) = sums[k], sums[k - window_days if k > window_days else 0]
        busiest = max(days[k - GROWTH_DAYS : k]) if k >= GROWTH_DAYS else max(days[:k], default=0)
        window.append((s1 - s0, b1 - b0, c1 - c0, busiest))
    return DaySums(origin, rows, days, sums, window)


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
        does, appending each to ``rows`` (None: only the state moves, as :func:`replay` asks),
        while they are ordinary: judged ok, hold or unjudged, before the day of the next event
        not yet applied, and not after a gap of idle days that may step back or restart the
        ramp. An idle day (no sends: a weekend of a mailbox that sends on weekdays only) is
        ordinary too, as is the first active day after a shorter gap: the full step would
        only judge them and move nothing else. Returns the first day not walked (``today``
        when none is left): a pause or a step back, an event's day, the day after a long gap
        (and, for ``rows``, each idle day of it from then on: a morning's verdict adjusts for
        the gap), a day after the last day with a count, which take the full step. Only when
        no day is hidden.

        Every rule is the one the full step applies (:meth:`verdict` and :meth:`close_day`
        with what they do on such a day), in one loop over day numbers, with the answers that
        depend only on the policy and the day from :class:`DayTables`: a year of a thousand
        mailboxes is 365,000 days, and a method call per rule per day was most of the time.
        ``tests/test_walk.py`` compares it with the full step on random histories."""
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


DayRow = tuple[int, int, str, int, str, float | None, float | None, bool, bool, bool]


class DayRows:
    """Days of a walk, in order: ``(ordinal, warm-up day, stage, quota, health, rate, complaint
    rate, paused, resumed, closed)`` each, the fields of :class:`~warmup.policy.engine.DayVerdict`
    but the reasons (what a report reads, without an object per day); ``rate``/``complaint
    rate`` are None when the window was not judged.

    Held as :attr:`parts`: lists of such tuples (days walked one by one) and blocks of columns
    (a stretch walked at once by :mod:`warmup.policy.steady`: one numpy array per field, NaN
    for a rate not judged), which a report concatenates without a tuple per day; iterating
    gives every day as a tuple of plain Python values either way."""

    FIELDS = (
        "ordinal",
        "day",
        "stage",
        "quota",
        "health",
        "rate",
        "complaint_rate",
        "paused",
        "resumed",
        "closed",
    )

    def __init__(self) -> None:
        self.parts: list[list[DayRow] | dict[str, Any]] = []
        self._rows: list[DayRow] | None = None  # the last part, when it is a list

    def append(self, row: DayRow) -> None:
        if self._rows is None:
            self._rows = []
            self.parts.append(self._rows)
        self._rows.append(row)

    def add_columns(self, columns: dict[str, Any]) -> None:
        """A stretch of days as one array per field of :attr:`FIELDS`."""
        self.parts.append(columns)
        self._rows = None

    def __len__(self) -> int:
        return sum(len(p) if isinstance(p, list) else len(p["ordinal"]) for p in self.parts)

    def __iter__(self) -> Iterator[DayRow]:
        for part in self.parts:
            if isinstance(part, list):
                yield from part
                continue
            cols = [part[f].tolist() for f in self.FIELDS]
            for k in (5, 6):  # rates: NaN is "not judged"
                cols[k] = [None if r != r else r for r in cols[k]]
            yield from zip(*cols, strict=True)


_MISSING = object()


class DayTables:
    """Per-day answers that depend only on the policy, the zone and the provider's gap, never
    on a mailbox's history: whether the window opens (:func:`closed`), how many sends fit in it
    at a stage's mean gap, the stage of a warm-up day. Filled as asked, shared by every
    mailbox of one policy and zone (:func:`day_tables`): a year's report asks each of them
    365,000 times for a few hundred distinct answers."""

    def __init__(self, spec: PolicySpec, tz: str) -> None:
        self.spec = spec
        self.tz = zone(tz)
        self.shut: dict[int, str | None] = {}
        self.fit: dict[tuple[int, int], int | None] = {}
        self.stage: dict[int, tuple[int, str, int]] = {}
        self.iso: dict[int, str] = {}
        self.needed: dict[int, int] = {}
        # per-day answers as arrays over a range of ordinals (warmup.policy.steady)
        self.vectors: dict[Any, tuple[int, Any]] = {}
        self.spans: dict[int, tuple[int, str, int, int | None, bool]] = {}

    def shut_on(self, o: int) -> str | None:
        got = self.shut.get(o, _MISSING)
        if got is _MISSING:
            spec = self.spec
            day = dt.date.fromordinal(o)
            got = self.shut[o] = closed(spec.window, spec.calendar, day, self.tz)
        return got  # type: ignore[return-value]

    def fit_on(self, o: int, number: int, walk: Walk) -> int | None:
        """:meth:`Walk.capacity` (``walk`` of this zone and provider gap)."""
        got = self.fit.get((o, number), _MISSING)
        if got is _MISSING:
            got = walk.capacity(dt.date.fromordinal(o), self.spec.stages[number])
            self.fit[(o, number)] = got
        return got  # type: ignore[return-value]

    def stage_of(self, eff: int) -> tuple[int, str, int]:
        """``(stage number, stage name, volume)`` on the day after ``eff`` qualifying days."""
        got = self.stage.get(eff)
        if got is None:
            number, stage, index = self.spec.stage_at(eff + 1)
            got = self.stage[eff] = (number, stage.name, stage.volume(index))
        return got

    def iso_of(self, o: int) -> str:
        got = self.iso.get(o)
        if got is None:
            got = self.iso[o] = dt.date.fromordinal(o).isoformat()
        return got

    def needed_of(self, could: int) -> int:
        got = self.needed.get(could)
        if got is None:
            got = self.needed[could] = needed(self.spec.qualify, could)
        return got


def day_tables(spec: PolicySpec, tz: str, min_interval: float) -> DayTables:
    """The :class:`DayTables` of a policy, zone and provider gap (one per report's group)."""
    return _by_spec(_DAY_TABLES, spec, (tz, min_interval), lambda: DayTables(spec, tz))


_DAY_TABLES: dict[tuple[Any, ...], tuple[PolicySpec, Any]] = {}


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
    limits = [x for x in (spec.ceiling, hist.provider_ceiling, hist.cap) if x is not None]
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
