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
import dataclasses
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
        h = self.spec.health
        sent, bounced, complaints = self.window_rates(first, last)
        if sent < max(h.min_sample, 1):
            return ("unjudged", None, None,
                    f"bounce rate not judged yet: {sent} sends in the last {h.window_days} days "
                    f"(needs {h.min_sample})")
        rate, crate = bounced / sent, complaints / sent
        facts = (f"{h.window_days}-day bounce rate {rate:.1%} ({bounced}/{sent}), "
                 f"complaint rate {crate:.2%} ({complaints}/{sent})")
        if self.health_cut is not None and first <= self.health_cut and (
                rate > h.step_back_above or crate > h.complaint_pause_above):
            # Resumed by hand: the days before the resume cannot pause or step back again,
            # but they hold the ramp until they leave the window.
            return ("hold", rate, crate, f"{facts}: resumed on {self.health_cut}, the ramp is "
                                         f"held until the days before it leave the window")
        if rate > h.pause_above:
            return "pause", rate, crate, f"{facts}: bounce rate above {h.pause_above:.0%} pauses"
        if crate > h.complaint_pause_above:
            return ("pause", rate, crate,
                    f"{facts}: complaint rate above {h.complaint_pause_above:.1%} pauses")
        if rate > h.step_back_above:
            return ("step_back", rate, crate,
                    f"{facts}: bounce rate above {h.step_back_above:.0%} steps back a stage")
        if rate > h.hold_above:
            return "hold", rate, crate, f"{facts}: bounce rate above {h.hold_above:.0%} holds the ramp"
        if crate > h.complaint_hold_above:
            return ("hold", rate, crate,
                    f"{facts}: complaint rate above {h.complaint_hold_above:.1%} holds the ramp")
        return "ok", rate, crate, f"{facts}: within {h.hold_above:.0%}, the ramp continues"

    def idle_adjust(self, day: dt.date, reasons: list[str]) -> None:
        if self.last_active is None:
            return
        idle = (day - self.last_active).days - 1
        rules = self.spec.idle
        if rules.restart_after_days and idle >= rules.restart_after_days and self.eff:
            reasons.append(f"idle {idle} days (>= {rules.restart_after_days}): warm-up starts over")
            self.eff, self.stepped_back = 0, False
        elif rules.step_back_after_days and idle >= rules.step_back_after_days and self.eff:
            self.step_back()
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
        spec, reasons = self.spec, []
        if (self.count(day).sent if active is None else active) or today:
            self.idle_adjust(day, reasons)
        w = spec.health.window_days
        health, rate, crate, why = self.judge(day - dt.timedelta(days=w), day - dt.timedelta(days=1))
        if today:
            # The prior window plus today: only today's bounces can make it worse.
            t_health, t_rate, t_crate, t_why = self.judge(day - dt.timedelta(days=w), day)
            if _SEVERITY[t_health] > _SEVERITY[health] or (health == "unjudged"
                                                            and t_health != "unjudged"):
                health, rate, crate, why = t_health, t_rate, t_crate, t_why + " (including today)"
        if health == "pause" and not self.health_paused:
            self.health_paused = why
        if health == "step_back" and not self.stepped_back:
            self.step_back()
            self.stepped_back = True
        elif health in ("ok", "unjudged"):
            self.stepped_back = False
        number, stage, index = spec.stage_at(self.eff + 1)
        volume = stage.volume(index)
        reasons.append(f"warm-up day {self.eff + 1}, stage {stage.name} "
                       f"({stage.describe_volume()}): {volume}")
        reasons.append(why)
        quota = volume
        floor = spec.stages[0].daily_from
        busiest = max((self.count(day - dt.timedelta(days=k)).sent
                       for k in range(1, GROWTH_DAYS + 1)), default=0)
        growth = max(floor, int(spec.growth_factor * busiest))
        if growth < quota:
            quota = growth
            reasons.append(f"growth limit: {spec.growth_factor:g}x the busiest of the last "
                           f"{GROWTH_DAYS} days ({busiest}) = {growth}")
        for limit, what in ((spec.ceiling, f"policy {spec.name} ceiling"),
                            (self.hist.provider_ceiling, "provider's daily limit"),
                            (self.hist.cap, "mailbox cap")):
            if limit is not None and limit < quota:
                quota = limit
                reasons.append(f"{what}: {limit}")
        if health in ("hold", "step_back"):
            held = self.last_healthy_quota if self.last_healthy_quota is not None else floor
            if held < quota:
                quota = held
                reasons.append(f"held at the last healthy day's quota: {held}")
        elif health in ("ok", "unjudged"):
            self.last_healthy_quota = quota
        return _Verdict(quota, stage.name, self.eff + 1, health, rate, crate, reasons)

    def close_day(self, day: dt.date, v: _Verdict) -> None:
        """After a past day: count it as progress if it was active and healthy."""
        if self.count(day).sent and v.health in ("ok", "unjudged") and not self.health_paused:
            self.eff += 1
        if self.count(day).sent:
            self.last_active = day


_SEVERITY = {"unjudged": 0, "ok": 0, "hold": 1, "step_back": 2, "pause": 3}


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


@functools.cache
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), _zone(tz)).astimezone(dt.UTC)


def _day_noon(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), _zone(tz)).astimezone(dt.UTC)


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
    reasons: tuple[str, ...]

    @property
    def status(self) -> str:
        """paused | resumed | hold | step_back | ok, the policy's word for the day."""
        if self.resumed:
            return "resumed"
        if self.paused:
            return "paused"
        return self.health if self.health in ("hold", "step_back") else "ok"


def timeline(spec: PolicySpec, hist: History, now: dt.datetime) -> list[DayVerdict]:
    """Every local day from the first active day to today, from the walk :func:`evaluate` replays.

    Each past day carries what :func:`evaluate` answered at the start of that day (history before
    the day, events up to its start): the walk of :func:`_replay`, looked at each morning. A day
    that began paused and was resumed during the day carries the answer just after the resume
    (``resumed``). Today is :func:`evaluate`'s answer at ``now``. So a report built on this
    cannot disagree with what ``warmup quota`` said.
    """
    import pendulum

    tz = hist.timezone
    today = pendulum.instance(now).in_timezone(tz).date()
    counts = {c.day: c for c in hist.days if hist.started is None or c.day >= hist.started}
    walk = _SummedWalk(spec, hist, counts, events=sorted(hist.events, key=lambda e: e.at))
    walk.sum_up()
    active = sorted(d for d, c in counts.items() if c.sent and d < today)
    day = active[0] if active else today
    out: list[DayVerdict] = []
    one = dt.timedelta(days=1)
    while day < today:
        start = _day_start(day, tz) if walk.events else None  # most mailboxes have no events
        if start is not None:
            _apply_events(walk, start, tz)
        pending = walk.events_done < len(walk.events)  # a resume may come during the day
        entry = _morning(walk, day, start) if pending or _morning_differs(walk, day) else None
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
        if entry is None:  # the morning's answer is the replay's: one verdict serves both
            paused = bool(walk.health_paused) or (
                start is not None and _current_pause(hist.events, start) is not None)
            entry = _day_verdict(day, v, paused, False)
        out.append(entry)
        walk.close_day(day, v)
        day += one
    _apply_events(walk, now, tz)
    v = walk.verdict(today, today=True)
    paused = bool(walk.health_paused) or _current_pause(hist.events, now) is not None
    out.append(_day_verdict(today, v, paused, False))
    return out


def _morning_differs(walk: _SummedWalk, day: dt.date) -> bool:
    """Whether the morning's verdict (today=True, nothing sent yet) can differ from the replay's.

    They run the same steps on an active day unless the window that includes the (empty) day
    judges more severely; an idle day only adjusts for idleness in the morning's.
    """
    if not walk.count(day).sent:
        return True
    w = walk.spec.health.window_days
    before = walk.judge(day - dt.timedelta(days=w), day - dt.timedelta(days=1))[0]
    walk.hidden = day
    try:
        including = walk.judge(day - dt.timedelta(days=w - 1), day)[0]
    finally:
        walk.hidden = None
    return _SEVERITY[including] > _SEVERITY[before]


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

    A year of a thousand mailboxes is 365,000 verdicts, each summing a trailing window; summing
    it day by day was most of a report's time. ``hidden`` is a day whose counts the verdict must
    not see (its morning, before anything was sent).
    """

    hidden: dt.date | None = None
    origin: int = 0  # ordinal of the first counted day
    sums: list[tuple[int, int, int]] = field(default_factory=list)  # sums[k]: days before origin+k

    def sum_up(self) -> None:
        self.sums = [(0, 0, 0)]
        if not self.counts:
            return
        self.origin = min(self.counts).toordinal()
        sent = bounced = complaints = 0
        for o in range(self.origin, max(self.counts).toordinal() + 1):
            c = self.counts.get(dt.date.fromordinal(o))
            if c is not None:
                sent, bounced, complaints = (sent + c.sent, bounced + c.bounced,
                                             complaints + c.complaint)
            self.sums.append((sent, bounced, complaints))

    def count(self, day: dt.date) -> DayCounts:
        if day == self.hidden:
            return DayCounts(day)
        return self.counts.get(day) or DayCounts(day)

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
