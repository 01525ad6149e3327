"""The policy's day-by-day walk: where every rule of a warm-up policy lives. Pure, no I/O.

A mailbox's standing is a function of its history: the walk starts on its first active day and
goes day by day to today, deriving for each day the warm-up day, the stage, the health verdict on
the trailing window and the quota the policy allowed then. :func:`warmup.policy.engine.evaluate`
(today's allowance), :func:`~warmup.policy.engine.timeline` (every past day, for reports) and
:func:`~warmup.policy.engine.project` (the days ahead) all look at this one walk, so a report or a
plan cannot disagree with ``warmup quota``.

Rules (see README "The policy"):
- warm-up progress counts *active* days (at least one send); a held or paused day does not count;
- idle for ``idle.step_back_after_days`` steps back a stage, ``restart_after_days`` starts over;
- health is judged on the trailing ``health.window_days`` before a day once ``min_sample`` sends
  are in it: above ``hold_above`` the quota stays at the last healthy day's, above
  ``step_back_above`` the mailbox steps back a stage (once per episode), above ``pause_above`` it
  is paused until a ``resume`` event; complaints have their own hold/pause thresholds;
- a bounce rate never exceeds 100%: more bounces than sends in a window count as one per send;
- the quota never exceeds ``growth_factor`` x the busiest of the last 7 days (never below the first
  stage's volume), the policy ceiling, the provider's ceiling or the mailbox's cap;
- today's quota comes from days before today; today's bounces can only lower it (a second health
  check on the window that includes today).

**Memos.** Days before yesterday never change without the ledger knowing (it bumps the mailbox's
revision when a write lands on a past day), so the walk's state at the start of a day
(:class:`WalkState`) can be kept and the walk resumed from it: :attr:`History.memo`. A walk that
resumes from a memo reads only the days its windows look back on (:func:`lookback` days before the
memo's day), so a mailbox with three years of history costs what one with a week does. A memo is
valid only for the inputs it was computed from (:func:`inputs_digest`); the answer with or without
it is the same (``tests/test_walk.py`` checks that on random histories).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from warmup.policy.spec import PolicySpec

GROWTH_DAYS = 7
# Part of every memo's inputs: bump it whenever a rule of the walk or WalkState's layout changes,
# so that no memo computed by older code is ever resumed.
CODE_VERSION = "walk-2"
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class DayCounts:
    day: dt.date
    sent: int = 0
    hard: int = 0
    soft: int = 0
    block: int = 0
    complaint: int = 0

    @property
    def bounced(self) -> int:
        return self.hard + self.soft + self.block


@dataclass(frozen=True)
class MailboxEvent:
    kind: str  # "pause" | "resume" | "throttle"
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

    def to_json(self) -> str:
        data = asdict(self)
        for k in ("upto", "last_active", "health_cut"):
            data[k] = data[k].isoformat() if data[k] is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WalkState:
        data = json.loads(text)
        for k in ("upto", "last_active", "health_cut"):
            data[k] = dt.date.fromisoformat(data[k]) if data[k] is not None else None
        return cls(**data)


_STATE_FIELDS = (
    "eff",
    "last_active",
    "last_healthy_quota",
    "stepped_back",
    "health_paused",
    "health_cut",
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


def lookback(spec: PolicySpec) -> int:
    """How many days before a day its verdict reads: the health window or the growth limit's."""
    return max(spec.health.window_days, GROWTH_DAYS)


def inputs_digest(spec: PolicySpec, hist: History) -> str:
    """SHA-256 over every input of a walk but the day counts and events: what a memo is valid for.

    The policy's content (``repr`` of the parsed spec: every number the walk reads, whatever its
    file or preset is called), the mailbox's zone, cap and start day, the provider's limits and
    :data:`CODE_VERSION`.
    """
    parts = [
        CODE_VERSION,
        hist.mailbox,
        hist.timezone,
        repr(spec),
        hist.cap,
        hist.started.isoformat() if hist.started else None,
        hist.provider_ceiling,
        hist.provider_min_interval,
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


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
    events: list[MailboxEvent] = field(default_factory=list)
    events_done: int = 0
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

    def judge(self, first: dt.date, last: dt.date) -> tuple[str, float | None, float | None, str]:
        """``(health, rate, complaint rate, why)`` over ``first..last``; ``why`` is the health word
        itself when the walk does not explain (still non-empty: ``health_paused`` stores it)."""
        h = self.spec.health
        sent, bounced, complaints = self.window_rates(first, last)
        if sent < max(h.min_sample, 1):
            return (
                "unjudged",
                None,
                None,
                f"bounce rate not judged yet: {sent} sends in the last {h.window_days} days "
                f"(needs {h.min_sample})"
                if self.explain
                else "unjudged",
            )
        # Late bounces of sends before the window can outnumber the window's sends: a rate is a
        # share of sends, never above 100%.
        bounced, complaints = min(bounced, sent), min(complaints, sent)
        rate, crate = bounced / sent, complaints / sent
        if (
            self.health_cut is not None
            and first <= self.health_cut
            and (rate > h.step_back_above or crate > h.complaint_pause_above)
        ):
            # Resumed by hand: the days before the resume cannot pause or step back again,
            # but they hold the ramp until they leave the window.
            health, rule = "hold", "cut"
        elif rate > h.pause_above:
            health, rule = "pause", "pause"
        elif crate > h.complaint_pause_above:
            health, rule = "pause", "complaint_pause"
        elif rate > h.step_back_above:
            health, rule = "step_back", "step_back"
        elif rate > h.hold_above:
            health, rule = "hold", "hold"
        elif crate > h.complaint_hold_above:
            health, rule = "hold", "complaint_hold"
        else:
            health, rule = "ok", "ok"
        if not self.explain:
            return health, rate, crate, health
        facts = (
            f"{h.window_days}-day bounce rate {rate:.1%} ({bounced}/{sent}), "
            f"complaint rate {crate:.2%} ({complaints}/{sent})"
        )
        why = {
            "cut": f"resumed on {self.health_cut}, the ramp is held until the days before it "
            f"leave the window",
            "pause": f"bounce rate above {h.pause_above:.0%} pauses",
            "complaint_pause": f"complaint rate above {h.complaint_pause_above:.1%} pauses",
            "step_back": f"bounce rate above {h.step_back_above:.0%} steps back a stage",
            "hold": f"bounce rate above {h.hold_above:.0%} holds the ramp",
            "complaint_hold": f"complaint rate above {h.complaint_hold_above:.1%} holds the ramp",
            "ok": f"within {h.hold_above:.0%}, the ramp continues",
        }[rule]
        return health, rate, crate, f"{facts}: {why}"

    def idle_adjust(self, day: dt.date, reasons: list[str]) -> None:
        if self.last_active is None:
            return
        idle = (day - self.last_active).days - 1
        rules = self.spec.idle
        if rules.restart_after_days and idle >= rules.restart_after_days and self.eff:
            if self.explain:
                reasons.append(
                    f"idle {idle} days (>= {rules.restart_after_days}): warm-up starts over"
                )
            self.eff, self.stepped_back = 0, False
        elif rules.step_back_after_days and idle >= rules.step_back_after_days and self.eff:
            self.step_back()
            if self.explain:
                reasons.append(
                    f"idle {idle} days (>= {rules.step_back_after_days}): "
                    f"stepped back to stage {self.stage_name()}"
                )
        self.last_active = day  # one adjustment per idle gap

    def step_back(self) -> None:
        """To the last day of the previous stage: the current stage restarts from its start."""
        number, _, _ = self.spec.stage_at(self.eff + 1)
        self.eff = max(self.spec.stage_start(number) - 1, 0)

    def stage_name(self) -> str:
        return self.spec.stage_at(self.eff + 1)[1].name

    def verdict(self, day: dt.date, today: bool, active: bool | None = None) -> Verdict:
        spec = self.spec
        reasons: list[str] = []
        if (self.sent_on(day) if active is None else active) or today:
            self.idle_adjust(day, reasons)
        w = spec.health.window_days
        health, rate, crate, why = self.judge(day - dt.timedelta(days=w), day - ONE_DAY)
        if today:
            # The prior window plus today: only today's bounces can make it worse.
            t_health, t_rate, t_crate, t_why = self.judge(day - dt.timedelta(days=w), day)
            if SEVERITY[t_health] > SEVERITY[health] or (
                health == "unjudged" and t_health != "unjudged"
            ):
                health, rate, crate = t_health, t_rate, t_crate
                why = t_why + " (including today)" if self.explain else t_why
        if health == "pause" and not self.health_paused:
            self.health_paused = why
        if health == "step_back" and not self.stepped_back:
            self.step_back()
            self.stepped_back = True
        elif health in ("ok", "unjudged"):
            self.stepped_back = False
        number, stage, index = spec.stage_at(self.eff + 1)
        volume = stage.volume(index)
        explain = self.explain
        if explain:
            reasons.append(
                f"warm-up day {self.eff + 1}, stage {stage.name} "
                f"({stage.describe_volume()}): {volume}"
            )
            reasons.append(why)
        quota = volume
        floor = spec.stages[0].daily_from
        busiest = self.busiest(day)
        growth = max(floor, int(spec.growth_factor * busiest))
        if growth < quota:
            quota = growth
            if explain:
                reasons.append(
                    f"growth limit: {spec.growth_factor:g}x the busiest of the last "
                    f"{GROWTH_DAYS} days ({busiest}) = {growth}"
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
        return Verdict(quota, stage.name, self.eff + 1, health, rate, crate, reasons)

    def busiest(self, day: dt.date) -> int:
        """The most sent on one of the :data:`GROWTH_DAYS` days before ``day``."""
        return max(self.sent_on(day - dt.timedelta(days=k)) for k in range(1, GROWTH_DAYS + 1))

    def close_day(self, day: dt.date, v: Verdict) -> None:
        """After a past day: count it as progress if it was active and healthy."""
        sent = self.sent_on(day)
        if sent and v.health in ("ok", "unjudged") and not self.health_paused:
            self.eff += 1
        if sent:
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
            if ev.kind == "resume" and self.health_paused:
                self.health_paused = None
                self.health_cut = local(ev.at, self.hist.timezone).date()
                self.step_back()


SEVERITY = {"unjudged": 0, "ok": 0, "hold": 1, "step_back": 2, "pause": 3}
_LIMITS = {
    "policy": "policy {} ceiling",
    "provider": "provider's daily limit",
    "cap": "mailbox cap",
}


def start(
    spec: PolicySpec, hist: History, today: dt.date, cls: type[Walk] = Walk, explain: bool = True
) -> tuple[Walk, dt.date]:
    """A walk for ``hist`` and the first day it has to walk: the day after the memo, if any, else
    the first active day before ``today`` (``today`` when there is none)."""
    counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    walk = cls(spec, hist, counts, events=sorted(hist.events, key=lambda e: e.at), explain=explain)
    memo = hist.memo
    if memo is not None and memo.last_active is not None:
        if memo.upto > today:
            raise ValueError(f"memo of {memo.upto} is after the day asked for ({today})")
        walk.resume(memo)
        return walk, memo.upto
    first = min((d for d, c in counts.items() if c.sent and d < today), default=today)
    return walk, first


def replay(
    spec: PolicySpec, hist: History, today: dt.date, checkpoint: dt.date | None = None
) -> tuple[Walk, WalkState | None]:
    """The walk through every day before ``today``, each closed; and its state at the start of
    ``checkpoint`` if the walk went through that day and had an active day before it (a memo
    worth keeping), else None."""
    walk, day = start(spec, hist, today)
    tz = hist.timezone
    memo = None
    while day < today:
        if day == checkpoint and walk.last_active is not None:
            memo = walk.state(day)
        walk.apply_events(day_start(day, tz))
        walk.close_day(day, walk.verdict(day, today=False))
        day += ONE_DAY
    if day == checkpoint and walk.last_active is not None:
        memo = walk.state(day)
    return walk, memo


def walk_to(
    spec: PolicySpec,
    hist: History,
    today: dt.date,
    end_of: dt.datetime,
    checkpoint: dt.date | None = None,
) -> tuple[Walk, Verdict, WalkState | None]:
    """The walk to ``today`` (events up to ``end_of`` applied) and today's verdict, with the
    state at ``checkpoint`` as :func:`replay` gives it."""
    walk, memo = replay(spec, hist, today, checkpoint)
    tz = hist.timezone
    walk.apply_events(day_start(today, tz))
    w = spec.health.window_days
    health, _, _, why = walk.judge(today - dt.timedelta(days=w), today - ONE_DAY)
    if health == "pause" and not walk.health_paused:
        walk.health_paused = why  # the pause stands from the start of today: a resume can lift it
    walk.apply_events(end_of)
    return walk, walk.verdict(today, today=True), memo


def current_pause(events: tuple[MailboxEvent, ...], now: dt.datetime) -> MailboxEvent | None:
    """The manual pause or provider back-off in force at ``now``, if any."""
    manual: MailboxEvent | None = None
    throttle: MailboxEvent | None = None
    for ev in sorted(events, key=lambda e: e.at):
        if ev.at > now:
            break
        if ev.kind == "pause":
            manual = ev
        elif ev.kind == "resume":
            manual = throttle = None
        elif ev.kind == "throttle" and ev.until is not None and ev.until > now:
            throttle = ev
    return manual or throttle


@functools.cache
def zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local(ts: dt.datetime, tz: str) -> dt.datetime:
    return ts.astimezone(zone(tz))


def day_start(day: dt.date, tz: str) -> dt.datetime:
    """The instant (aware UTC) local ``day`` begins in zone ``tz``."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)


@dataclass
class SummedWalk(Walk):
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
                sent, bounced, complaints = (
                    sent + c.sent,
                    bounced + c.bounced,
                    complaints + c.complaint,
                )
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
            sent, bounced, complaints = (
                sent - h.sent,
                bounced - h.bounced,
                complaints - h.complaint,
            )
        return sent, bounced, complaints
