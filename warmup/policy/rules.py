"""The rules of a warm-up policy, one day at a time: where every rule lives. Pure, no I/O.

:class:`Walk` is the walk's state as it goes from day to day (:mod:`warmup.policy.walk` drives
it): :meth:`Walk.verdict` judges a day (the warm-up day, the stage, the health verdict on the
trailing window, the quota the policy allowed then, and why), :meth:`Walk.close_day` counts it
once it is past, :meth:`Walk.apply_events` takes up pauses, resumes and policy changes. The
loop that walks runs of ordinary days at once (:mod:`warmup.policy.summed`) and the one that
walks stretches in numpy (:mod:`warmup.policy.steady`) apply these rules, and are checked
against them day by day (``tests/test_walk.py``).

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
- each day is judged under the policy and cap in force on it: a ``policy`` event (``policy
  set``, ``mailbox set --policy``) switches the walk to the new policy from the start of its day
  on, a ``cap`` event (``mailbox set --cap``) to the new cap, the days before keep what the old
  ones made of them (:mod:`warmup.policy.eras`).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from warmup.instants import zone
from warmup.policy import eras
from warmup.policy.calendar import closed, fits, off_between
from warmup.policy.inputs import (
    GROWTH_DAYS,
    ONE_DAY,
    STATE_FIELDS,
    DayCounts,
    History,
    MailboxEvent,
    WalkState,
    day_start,
    local,
)
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.policy.spec import Health, PolicySpec, Stage


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
    # Today's verdict whose health and rates are the window's including today (today's counts
    # decided them, and its words are the health's reason): see Walk.verdict_again
    by_today: bool = False
    why_at: int = -1  # where the health's reason is in ``reasons`` (-1: not explained)


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
    # The mailbox's cap on the day walked (warmup.policy.eras.cap_in_force; None: no cap), as
    # ``spec`` is its policy: set by take_up, ``hist.cap`` from the last ``cap`` event on.
    cap: int | None = None
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
        why_at = -1
        health, rate, crate, why = self.judge(
            day - dt.timedelta(days=w), day - ONE_DAY, words=explain
        )
        judged_to = day - ONE_DAY
        # The prior window plus today: only today's bounces can make it worse.
        # Its words only when it decides (the prior window's mostly do).
        decided = self.today_decides(day, health) if today else None
        if decided is not None:
            t_health, t_rate, t_crate, t_why = decided
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
            reasons.extend(self.short_reasons(day))
            why_at = len(reasons)
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
            (self.cap, "cap"),
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
        by_today = decided is not None
        return Verdict(
            quota,
            stage.name,
            self.eff + 1,
            health,
            rate,
            crate,
            reasons,
            shut,
            number,
            by_today,
            why_at,
        )

    def verdict_again(self, day: dt.date, v: Verdict) -> Verdict | None:
        """Today's (``day``'s) verdict :meth:`verdict` would give again, on the state it left
        ``v`` from, for other counts of ``day``: this walk is the one ``v`` left, those counts
        put in its ``counts``. None: ask :meth:`verdict` (on the state before it).

        Today's counts enter today's verdict in one place: the window including today, whose
        health replaces the prior window's when worse, or judged where that was not
        (:meth:`today_decides`); nothing else the verdict reads, nor the state it leaves, moves
        with them. So ``v`` is the answer again when that window still does not replace its
        health; and when it did (``by_today``) and still gives the same health word, ``ok`` or
        ``hold`` (neither moves the walk after its words: a step back or a pause would, and their
        reasons read it), ``v`` with that window's rates and the health's reason in its words."""
        if not v.by_today:
            return v if self.today_decides(day, v.health) is None else None
        if v.health not in ("ok", "hold"):
            return None
        health, rate, crate, why = self.judge(
            day - dt.timedelta(days=self.spec.health.window_days), day
        )
        if health != v.health:
            return None
        reasons = v.reasons
        if v.why_at >= 0:
            reasons = list(reasons)
            reasons[v.why_at] = why + " (including today)"
        return Verdict(
            v.quota,
            v.stage,
            v.day,
            health,
            rate,
            crate,
            reasons,
            v.closed,
            v.number,
            True,
            v.why_at,
        )

    def today_decides(
        self, day: dt.date, health: str
    ) -> tuple[str, float | None, float | None, str] | None:
        """:meth:`judge` of the window including ``day`` (today), without words, when it replaces
        ``health``, the prior window's: worse, or judged where that was not; else None."""
        w = self.spec.health.window_days
        judged = self.judge(day - dt.timedelta(days=w), day, words=False)
        t_health = judged[0]
        if SEVERITY[t_health] > SEVERITY[health] or (
            health == "unjudged" and t_health != "unjudged"
        ):
            return judged
        return None

    def short_reasons(self, day: dt.date) -> list[str]:
        """Which recent active days sent too little to count toward warm-up, and which sent on
        a day that could deliver nothing (a holiday, a pause: sends recorded or imported then),
        which no amount sent makes count: not "1 of 0 sent" among the days that sent too few."""
        since = (day - dt.timedelta(days=GROWTH_DAYS)).isoformat()
        recent = [d for d in self.short_days if since <= d[0] < day.isoformat()]
        reasons = []
        few = [d for d in recent if d[2]]
        if few:
            listed = ", ".join(f"{d} ({sent} of {could} sent)" for d, sent, could in few)
            reasons.append(
                f"too little sent to count toward warm-up on {listed}: a day counts when at "
                f"least {self.spec.qualify:.0%} of what it could deliver is sent"
            )
        nothing = [d for d in recent if not d[2]]
        if nothing:
            listed = ", ".join(f"{d} ({sent})" for d, sent, _ in nothing)
            one = len(nothing) == 1
            reasons.append(
                f"sent on {listed}, {'a day' if one else 'days'} that could deliver none "
                "(closed, paused or the domain cap used by the other mailboxes): such a day "
                "never counts toward warm-up"
            )
        return reasons

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
        for name in STATE_FIELDS:
            setattr(self, name, getattr(state, name))
        applied = day_start(state.upto - ONE_DAY, self.hist.timezone)
        self.events_done = sum(1 for e in self.events if e.at <= applied)

    def apply_events(self, upto: dt.datetime) -> None:
        """Replay events up to ``upto``: a resume clears a health pause and steps back a stage."""
        events = self.events
        while self.events_done < len(events) and events[self.events_done].at <= upto:
            ev = events[self.events_done]
            self.events_done += 1
            if ev.kind in eras.ERA_KINDS:
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
        """Walk on under the policy and cap in force once the events applied so far are (the
        walk's start or resumption, or a ``policy`` or ``cap`` event just applied):
        :func:`warmup.policy.eras.in_force` and :func:`~warmup.policy.eras.cap_in_force`, the
        walk's own policy and the mailbox's cap once no such event is left."""
        current = self.current or self.spec
        self.spec = eras.in_force(current, self.events, self.events_done, self.hist.policy_texts)
        self.cap = eras.cap_in_force(self.hist.cap, self.events, self.events_done)

    def memo(self, day: dt.date) -> WalkState | None:
        """The state at the start of ``day`` (:meth:`state`) as a memo worth keeping, or None:
        no active day before it, or a ``policy`` or ``cap`` event a walk resumed from it would
        replay (the days a memo's reads hold are the current policy's :func:`lookback`, not an
        older one's, and its events only those after it: the cap before a change would be
        unknown; a change from the day after on)."""
        if self.last_active is None:
            return None
        applied = day_start(day - ONE_DAY, self.hist.timezone)
        if any(e.kind in eras.ERA_KINDS and e.at > applied for e in self.events):
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


def _percent(rate: float, lines: tuple[float, ...], digits: int = 1) -> str:
    """``rate`` as a percentage with enough digits that it sits on the same side of each of
    ``lines`` as the rate itself: 5.05% is "5.05%", never "5.0%" next to "above 5%"."""
    for d in range(digits, 7):
        text = f"{rate * 100:.{d}f}"
        shown = float(text)
        if all((shown > round(t * 100, 9)) == (rate > t) for t in lines):
            break
    return f"{text}%"


# The health's words state the window's rates at every answer: the worker's look at a pool's
# members words again the member that sent before each message, two rates (~36k instructions,
# ~0.7% of a pool's message); most are the same few (0 before any bounce), kept by value.
percent = functools.lru_cache(maxsize=1024)(_percent)


def _line(threshold: float) -> str:
    """A threshold as written: 0.03 is "3%", 0.035 "3.5%", 0.001 "0.1%"."""
    return f"{round(threshold * 100, 9):g}%"


# Kept by value as percent is: the same few thresholds (a policy's), worded at every answer
line = functools.lru_cache(maxsize=256)(_line)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


_LIMITS = {
    "policy": "policy {} ceiling",
    "provider": "provider's daily limit",
    "cap": "mailbox cap",
}
