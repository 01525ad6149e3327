"""The pure policy engine: ``(policy spec, mailbox history, now) -> Allowance``.

No I/O. The engine replays the mailbox's daily counts from its first active day to today and
derives, for every day, the warm-up day, the stage and the quota the policy allowed then; today's
answer falls out of the same walk, and :func:`project` continues it into the future. Because the
walk is a function of the counts alone, the same ledger, policy and clock give the same answer.

Rules (see README "The policy"):
- warm-up progress counts *active* days (at least one send); a held or paused day does not count;
- idle for ``idle.step_back_after_days`` steps back a stage, ``restart_after_days`` starts over;
- health is judged on the trailing ``health.window_days`` before a day once ``min_sample`` sends
  are in it: above ``hold_above`` the quota stays at the last healthy day's, above
  ``step_back_above`` the mailbox steps back a stage (once per episode), above ``pause_above`` it
  is paused until a ``resume`` event; complaints have their own hold/pause thresholds;
- the quota never exceeds ``growth_factor`` x the busiest of the last 7 days (never below the first
  stage's volume), the policy ceiling, the provider's ceiling or the mailbox's cap;
- today's quota comes from days before today; today's bounces can only lower it (a second health
  check on the window that includes today).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from warmup.policy.spec import PolicySpec, Window

GROWTH_DAYS = 7


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
class History:
    """What the ledger knows of one mailbox, as of ``now``."""

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


@dataclass(frozen=True)
class Allowance:
    mailbox: str
    stage: str
    day: int
    quota: int
    sent: int
    remaining: int
    status: str  # ok | paced | exhausted | hold | paused
    next_send_at: dt.datetime | None
    bounce_rate: float | None
    complaint_rate: float | None
    reasons: tuple[str, ...]

    @property
    def can_send(self) -> bool:
        return self.status in ("ok", "hold")

    def to_dict(self) -> dict[str, object]:
        return {
            "mailbox": self.mailbox, "stage": self.stage, "day": self.day, "quota": self.quota,
            "sent": self.sent, "remaining": self.remaining, "status": self.status,
            "next_send_at": self.next_send_at.isoformat() if self.next_send_at else None,
            "bounce_rate": None if self.bounce_rate is None else round(self.bounce_rate, 6),
            "complaint_rate": None if self.complaint_rate is None else round(self.complaint_rate, 6),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class PlanDay:
    date: dt.date
    day: int
    stage: str
    quota: int
    cumulative: int


@dataclass
class _Verdict:
    quota: int
    stage: str
    day: int
    health: str  # ok | hold | step_back | pause | unjudged
    rate: float | None
    complaint_rate: float | None
    reasons: list[str] = field(default_factory=list)


@dataclass
class _Walk:
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

    def window_rates(self, first: dt.date, last: dt.date) -> tuple[int, int, int]:
        sent = bounced = complaints = 0
        d = first
        while d <= last:
            c = self.count(d)
            sent, bounced, complaints = sent + c.sent, bounced + c.bounced, complaints + c.complaint
            d += dt.timedelta(days=1)
        return sent, bounced, complaints

    def judge(self, first: dt.date, last: dt.date) -> tuple[str, float | None, float | None, str]:
        """``(health, rate, complaint rate, why)`` over ``first..last``; ``why`` is the health word
        itself when the walk does not explain (still non-empty: ``health_paused`` stores it)."""
        h = self.spec.health
        sent, bounced, complaints = self.window_rates(first, last)
        if sent < max(h.min_sample, 1):
            return ("unjudged", None, None,
                    f"bounce rate not judged yet: {sent} sends in the last {h.window_days} days "
                    f"(needs {h.min_sample})" if self.explain else "unjudged")
        rate, crate = bounced / sent, complaints / sent
        if self.health_cut is not None and first <= self.health_cut and (
                rate > h.step_back_above or crate > h.complaint_pause_above):
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
        facts = (f"{h.window_days}-day bounce rate {rate:.1%} ({bounced}/{sent}), "
                 f"complaint rate {crate:.2%} ({complaints}/{sent})")
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
                reasons.append(f"idle {idle} days (>= {rules.restart_after_days}): "
                               f"warm-up starts over")
            self.eff, self.stepped_back = 0, False
        elif rules.step_back_after_days and idle >= rules.step_back_after_days and self.eff:
            self.step_back()
            if self.explain:
                reasons.append(f"idle {idle} days (>= {rules.step_back_after_days}): "
                               f"stepped back to stage {self.stage_name()}")
        self.last_active = day  # one adjustment per idle gap

    def step_back(self) -> None:
        """To the last day of the previous stage: the current stage restarts from its start."""
        number, _, _ = self.spec.stage_at(self.eff + 1)
        self.eff = max(self.spec.stage_start(number) - 1, 0)

    def stage_name(self) -> str:
        return self.spec.stage_at(self.eff + 1)[1].name

    def verdict(self, day: dt.date, today: bool, active: bool | None = None) -> _Verdict:
        spec = self.spec
        reasons: list[str] = []
        if (self.count(day).sent if active is None else active) or today:
            self.idle_adjust(day, reasons)
        w = spec.health.window_days
        health, rate, crate, why = self.judge(day - dt.timedelta(days=w), day - dt.timedelta(days=1))
        if today:
            # The prior window plus today: only today's bounces can make it worse.
            t_health, t_rate, t_crate, t_why = self.judge(day - dt.timedelta(days=w), day)
            if _SEVERITY[t_health] > _SEVERITY[health] or (health == "unjudged"
                                                            and t_health != "unjudged"):
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
            reasons.append(f"warm-up day {self.eff + 1}, stage {stage.name} "
                           f"({stage.describe_volume()}): {volume}")
            reasons.append(why)
        quota = volume
        floor = spec.stages[0].daily_from
        busiest = self.busiest(day)
        growth = max(floor, int(spec.growth_factor * busiest))
        if growth < quota:
            quota = growth
            if explain:
                reasons.append(f"growth limit: {spec.growth_factor:g}x the busiest of the last "
                               f"{GROWTH_DAYS} days ({busiest}) = {growth}")
        for limit, what in ((spec.ceiling, "policy"), (self.hist.provider_ceiling, "provider"),
                            (self.hist.cap, "cap")):
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
        return _Verdict(quota, stage.name, self.eff + 1, health, rate, crate, reasons)

    def busiest(self, day: dt.date) -> int:
        """The most sent on one of the :data:`GROWTH_DAYS` days before ``day``."""
        return max((self.count(day - dt.timedelta(days=k)).sent
                    for k in range(1, GROWTH_DAYS + 1)), default=0)

    def close_day(self, day: dt.date, v: _Verdict) -> None:
        """After a past day: count it as progress if it was active and healthy."""
        if self.count(day).sent and v.health in ("ok", "unjudged") and not self.health_paused:
            self.eff += 1
        if self.count(day).sent:
            self.last_active = day


_SEVERITY = {"unjudged": 0, "ok": 0, "hold": 1, "step_back": 2, "pause": 3}
_LIMITS = {"policy": "policy {} ceiling", "provider": "provider's daily limit",
           "cap": "mailbox cap"}


def _local(ts: dt.datetime, tz: str) -> dt.datetime:
    return ts.astimezone(_zone(tz))


def _apply_events(walk: _Walk, upto: dt.datetime, tz: str) -> None:
    """Replay events up to ``upto``: a resume clears a health pause and steps back a stage."""
    events = walk.events
    while walk.events_done < len(events) and events[walk.events_done].at <= upto:
        ev = events[walk.events_done]
        walk.events_done += 1
        if ev.kind == "resume" and walk.health_paused:
            walk.health_paused = None
            walk.health_cut = _local(ev.at, tz).date()
            walk.step_back()


def _replay(spec: PolicySpec, hist: History, today: dt.date, tz: str) -> _Walk:
    """The walk through every day before ``today``, each closed."""
    counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    walk = _Walk(spec, hist, counts, events=sorted(hist.events, key=lambda e: e.at))
    active = sorted(d for d, c in counts.items() if c.sent and d < today)
    day = active[0] if active else today
    while day < today:
        _apply_events(walk, _day_start(day, tz), tz)
        walk.close_day(day, walk.verdict(day, today=False))
        day += dt.timedelta(days=1)
    return walk


def _replay_cached(spec: PolicySpec, hist: History, today: dt.date, tz: str,
                   cache: dict[object, object] | None) -> _Walk:
    """:func:`_replay`, reusing the caller's last replay when the past is identical.

    A gate evaluates the same mailbox for every message of a day; its past days and events do
    not change between messages, so the walk through them need not be repeated. The cache key
    holds everything the past walk depends on, so a hit gives exactly what a replay would.
    """
    if cache is None:
        return _replay(spec, hist, today, tz)
    start = _day_start(today, tz)
    key = (id(spec), today, tz, hist.started, hist.cap, hist.provider_ceiling,
           tuple(c for c in hist.days if c.day < today),
           tuple(e for e in hist.events if e.at <= start))
    snap = cache.get("walk") if cache.get("key") == key else None
    if snap is None:
        walk = _replay(spec, hist, today, tz)
        cache["key"], cache["walk"] = key, copy.copy(walk)
        return walk
    assert isinstance(snap, _Walk)
    walk = copy.copy(snap)
    walk.counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    walk.events = sorted(hist.events, key=lambda e: e.at)
    return walk


def _walk_to(spec: PolicySpec, hist: History, today: dt.date, end_of: dt.datetime,
             tz: str, cache: dict[object, object] | None = None) -> tuple[_Walk, _Verdict]:
    walk = _replay_cached(spec, hist, today, tz, cache)
    _apply_events(walk, _day_start(today, tz), tz)
    w = spec.health.window_days
    health, _, _, why = walk.judge(today - dt.timedelta(days=w), today - dt.timedelta(days=1))
    if health == "pause" and not walk.health_paused:
        walk.health_paused = why  # the pause stands from the start of today: a resume can lift it
    _apply_events(walk, end_of, tz)
    return walk, walk.verdict(today, today=True)


def _gap(spec: PolicySpec, hist: History, stage_number: int) -> tuple[float, str]:
    stage = spec.stages[stage_number]
    lo, hi = stage.interval_min, stage.interval_max
    if hist.last_send_at is None or hi <= 0 and hist.provider_min_interval <= 0:
        return max(lo, hist.provider_min_interval), ""
    seed = hashlib.blake2b(f"{hist.mailbox}|{hist.last_send_at.isoformat()}".encode(),
                           digest_size=8).digest()
    u = int.from_bytes(seed, "big") / 2**64
    gap = max(lo + (hi - lo) * u, hist.provider_min_interval)
    if lo == hi:
        span = _fmt_secs(lo)
    elif lo % 60 == 0 and hi % 60 == 0:
        span = f"random {lo / 60:g}-{hi / 60:g} min"
    else:
        span = f"random {_fmt_secs(lo)}-{_fmt_secs(hi)}"
    return gap, span


def _fmt_secs(s: float) -> str:
    return f"{s / 60:g} min" if s >= 60 and s % 60 == 0 else f"{s:g} s"


def _window_open(window: Window, local: dt.datetime) -> dt.datetime | None:
    """None if ``local`` is inside the sending window, else the next opening (local time)."""
    def inside(t: dt.datetime) -> bool:
        return (t.weekday() in window.weekdays and t.time() >= window.start
                and (window.end is None or t.time() < window.end))

    if inside(local):
        return None
    cand = local.replace(hour=window.start.hour, minute=window.start.minute, second=0,
                         microsecond=0)
    if cand <= local:
        cand += dt.timedelta(days=1)
    while cand.weekday() not in window.weekdays:
        cand += dt.timedelta(days=1)
    return cand


def evaluate(spec: PolicySpec, hist: History, now: dt.datetime,
             cache: dict[object, object] | None = None) -> Allowance:
    """Where the mailbox stands at ``now`` (aware), and what it may send today, with reasons.

    ``cache``: an empty dict the caller keeps between calls for one mailbox (the gate does) to
    skip re-walking unchanged past days; the answer is the same with or without it.
    """
    zone = _zone(hist.timezone)
    local_now = now.astimezone(zone)
    today = local_now.date()
    walk, v = _walk_to(spec, hist, today, now, hist.timezone, cache)
    reasons = list(v.reasons)
    sent = walk.count(today).sent
    quota = v.quota
    status, next_at = "hold" if v.health in ("hold", "step_back") else "ok", None
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone)

    pause = _current_pause(hist.events, now)
    if pause is not None:
        quota, status = 0, "paused"
        next_at = pause.until
        reasons.append(f"paused since {_fmt_local(pause.at, hist.timezone)}: {pause.reason}"
                       + (f"; resumes at {_fmt_local(pause.until, hist.timezone)}"
                          if pause.until else "; run 'warmup mailbox resume' to go on"))
    elif walk.health_paused:
        quota, status = 0, "paused"
        reasons.append(f"paused: {walk.health_paused}; run 'warmup mailbox resume "
                       f"{hist.mailbox}' once the cause is fixed")
    remaining = max(quota - sent, 0)
    if status != "paused" and spec.domain_cap is not None and hist.domain_sent_today is not None:
        domain_left = max(spec.domain_cap - hist.domain_sent_today, 0)
        if domain_left < remaining:
            remaining = domain_left
            reasons.append(f"domain cap {spec.domain_cap}/day shared by the domain's mailboxes: "
                           f"{hist.domain_sent_today} sent today")
    if status != "paused" and remaining == 0:
        status = "exhausted"
        next_at = _window_open(spec.window, tomorrow) or tomorrow
        reasons.append(f"sent {sent} of {quota} today: next send from "
                       f"{_fmt_local(next_at, hist.timezone)}")
    elif status != "paused":
        opening = _window_open(spec.window, local_now)
        number = spec.stage_at(v.day)[0]
        gap, span = _gap(spec, hist, number)
        paced_until = hist.last_send_at + dt.timedelta(seconds=gap) if hist.last_send_at else None
        if opening is not None:
            status, next_at = "paced", opening
            reasons.append(f"outside the sending window: opens {_fmt_local(opening, hist.timezone)}")
        elif paced_until is not None and paced_until > now:
            status, next_at = "paced", paced_until
            reasons.append(f"pacing ({span} between sends): next send at "
                           f"{_fmt_local(paced_until, hist.timezone)}")
    return Allowance(
        mailbox=hist.mailbox, stage=v.stage, day=v.day, quota=quota, sent=sent,
        remaining=remaining if status != "paused" else 0, status=status,
        next_send_at=None if next_at is None else next_at.astimezone(dt.UTC),
        bounce_rate=v.rate, complaint_rate=v.complaint_rate, reasons=tuple(reasons),
    )


def _current_pause(events: tuple[MailboxEvent, ...], now: dt.datetime) -> MailboxEvent | None:
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


def _fmt_local(ts: dt.datetime, tz: str) -> str:
    return _local(ts, tz).strftime("%Y-%m-%d %H:%M %Z")


@functools.cache
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), _zone(tz)).astimezone(dt.UTC)


def __getattr__(name: str) -> object:
    """``timeline``, ``DayVerdict`` and ``project`` (the day-by-day walks) live in
    :mod:`warmup.policy.timeline`; still importable from here, lazily (it imports this module)."""
    if name in ("timeline", "DayVerdict", "project"):
        from warmup.policy import timeline

        return getattr(timeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
