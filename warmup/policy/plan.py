"""The days ahead (``warmup plan``): the policy's own walk continued into the future. Pure, no I/O.

:func:`project` assumes the mailbox sends, each day, everything the gate would let through, with
no bounces: the day's quota, within the day's sending window at the stage's mean gap between two
sends (the middle of its random interval: what the gate lets through on an average day; the
real gaps are random, so a day may deliver a few more or fewer), within the domain cap, and
nothing on a closed or paused day. Each day's ``planned`` figure is that; ``quota`` is the
policy's own number for the day (what ``warmup quota`` will say that morning), and ``notes`` say
why the two differ. What the plan cannot know (the recipients' domains, the other mailboxes of
a shared domain cap) is said once in :func:`plan_notes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warmup.instants import aware, zone
from warmup.policy import eras
from warmup.policy.calendar import fits, ranges_on
from warmup.policy.engine import Allowance, evaluate, local_minute_text, pacing_text
from warmup.policy.inputs import (
    ONE_DAY,
    DayCounts,
    History,
    MailboxEvent,
    current_pause,
    day_start,
)
from warmup.policy.rules import Verdict, Walk, mean_gap
from warmup.policy.spec import PolicySpec
from warmup.policy.walk import replay, walk_to
from warmup.words import plural


@dataclass(frozen=True)
class PlanDay:
    """One day ahead: the policy's quota, what would go out (``planned``) and why they differ."""

    date: dt.date
    day: int  # warm-up day
    stage: str
    quota: int  # the policy's quota that day, as `warmup quota` will say it that morning
    cumulative: int  # planned recipients from now on, this day's still to go included (not
    # what was sent today before now: ``planned`` counts those)
    planned: int = 0  # what the gate would let through that day (today: sent + what still fits)
    # ok | hold | step_back | closed | paused; today's row: `warmup quota`'s status now, which
    # may also be paced (more goes out later today) or exhausted (nothing more today)
    status: str = "ok"
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "day": self.day,
            "stage": self.stage,
            "status": self.status,
            "quota": self.quota,
            "planned": self.planned,
            "cumulative": self.cumulative,
            "notes": list(self.notes),
        }


def project(
    spec: PolicySpec, hist: History, now: dt.datetime, days: int, until: int | None = None
) -> list[PlanDay]:
    """Day by day from today: stage, quota and what the gate would let through, if the mailbox
    sends all of it, healthily (see the module docstring). With ``until``, it stops after the
    first day by which it will have sent that many (the day a volume is reached)."""
    tz = zone(hist.timezone)
    today = aware(now, "now").astimezone(tz).date()
    first = evaluate(spec, hist, now)
    # today's window and pacing: the policy in force today, as ``first`` was judged under (an
    # instant asked before a change: the version then, not the mailbox's policy now)
    then = eras.on_day(spec, hist, today)
    left, notes = _today_left(then, hist, now, first)
    counts = {c.day: c for c in hist.days}
    counts[today] = counts.get(today, DayCounts(today))._replace(sent=first.sent + left)
    ahead = dataclasses.replace(hist, days=tuple(counts.values()))
    if hist.domain_sent_today is not None and hist.domain_sent_today > first.sent:
        # Read under a domain cap (now or on days before): tomorrow morning `warmup quota`
        # judges today on what the cap left this mailbox, less what the domain's other
        # mailboxes sent today (Walk.domain_left); those sent so far are known.
        others = {**hist.domain_days, today: hist.domain_sent_today - first.sent}
        ahead = dataclasses.replace(ahead, domain_days=others)
    # Past days are fixed; each future day follows from the full days before it.
    walk, v, _ = walk_to(spec, ahead, today, now)
    # Today's status is the one ``warmup quota`` gives now, word for word (``paced``,
    # ``exhausted`` too: one vocabulary): judged on what was sent so far, not on the sends still
    # planned (which can bring a small sample over ``min_sample`` and have today's bounces
    # judged early: "step_back" where quota says "ok").
    status = first.status
    if status == "paused":  # today's row says why, as every later day's does
        pause = current_pause(hist.events, now)
        notes = (_paused_note(walk.health_paused, pause, hist),)
        opens = None if walk.health_paused else _pause_ends(hist, pause, today)
        if opens is not None:
            # It sends again later today: what `warmup quota` will say then, from then on.
            left, more = _today_left(then, hist, opens, evaluate(spec, hist, opens))
            notes += more if left else ()
    elif status == "closed" and v.closed is not None:
        notes = (f"closed: {v.closed}",)
    if first.sent and not any(n.startswith(f"sent {first.sent} of") for n in notes):
        # PLANNED is the whole day; CUMULATIVE (and --volume) count what goes out from now on
        notes = (
            f"{plural(first.sent, 'recipient')} sent already today: in PLANNED, not in "
            f"CUMULATIVE (what goes out from now on)",
            *notes,
        )
    total = left
    plan = [
        PlanDay(today, first.day, first.stage, first.quota, total, first.sent + left, status, notes)
    ]
    # Tomorrow morning, `warmup quota` replays today as a past day: judged on the days before
    # it (today's own bounces left out), and what happened during it (a resume, stepping back a
    # stage) applied only after the day is closed. The plan goes on from that same walk, not
    # from today's verdict at `now`, or its days ahead could disagree with every later answer.
    walk = replay(spec, ahead, today + ONE_DAY)[0]
    for k in range(1, days if until is None or total < until else 0):
        day = today + dt.timedelta(days=k)
        walk.apply_events(day_start(day, hist.timezone))
        # What `warmup quota` says that morning (it counts the idle days up to it, a paused
        # or closed day's too), looked at on a copy: a day that sends nothing does not end an
        # idle gap in the walk a later morning replays.
        look = dataclasses.replace(walk)
        v = look.verdict(day, today=False, active=True)
        pause = current_pause(hist.events, day_start(day, hist.timezone))
        opens = _pause_ends(hist, pause, day)
        if look.health_paused or (pause is not None and opens is None):
            note = _paused_note(look.health_paused, pause, hist)
            planned, status, notes = 0, "paused", (note,)
        elif v.closed is not None:
            planned, status, notes = 0, "closed", (f"closed: {v.closed}",)
        else:
            planned, notes = _day_planned(look, day, v)
            status = _word(v)
            if opens is not None:  # a pause that ends during the day: it sends from then on
                planned, notes = _after_pause(look, day, v, planned, opens, pause)
                status = status if planned else "paused"  # ends after the window closes
        walk.counts[day] = DayCounts(day, sent=planned)
        if planned:
            walk = look
            walk.close_day(day, v)
        else:  # as the replay walks a day of no sends
            walk.close_day(day, walk.verdict(day, today=False, quiet=True))
        total += planned
        quota = 0 if status == "paused" else v.quota
        plan.append(PlanDay(day, v.day, v.stage, quota, total, planned, status, notes))
        if until is not None and total >= until:
            break
    return plan


def _pause_ends(hist: History, pause: MailboxEvent | None, day: dt.date) -> dt.datetime | None:
    """When ``pause`` (in force) ends during local ``day`` with nothing else pausing the mailbox
    then ('mailbox pause --until 13:00', a provider back-off); None if it does not."""
    until = None if pause is None else pause.until
    if until is None or until >= day_start(day + ONE_DAY, hist.timezone):
        return None
    return until if current_pause(hist.events, until) is None else None


def _after_pause(
    walk: Walk,
    day: dt.date,
    v: Verdict,
    planned: int,
    opens: dt.datetime,
    pause: MailboxEvent | None,
) -> tuple[int, tuple[str, ...]]:
    """What a day whose pause ends at ``opens`` delivers: what its window fits from then on.
    Judged at noon, such a day was planned whole (a pause ending at 02:00 of a 00:00-04:00
    window) or not at all (one ending at 13:00 of a day open until midnight)."""
    spec = walk.spec
    note = _paused_note(None, pause, walk.hist)
    gap = mean_gap(spec.stages[v.number], walk.hist)
    tz = zone(walk.hist.timezone)
    fit = fits(spec.window, day, tz, gap, opens)
    if fit is None and all(end <= opens for _, end in ranges_on(spec.window, day, tz)):
        fit = 0  # unpaced, but the window closed before the pause ends: nothing goes that day
    if fit is None or fit >= planned or fit == 0:
        return (planned if fit is None else min(fit, planned)), (note,)
    return fit, (
        f"{note}; from then, the window ({spec.window.describe()}) fits about "
        f"{plural(fit, 'send')} at {pacing_text(spec, walk.hist, v.number)} between sends",
    )


def _paused_note(health: str | None, pause: MailboxEvent | None, hist: History) -> str:
    """Why a day is paused: the bounce rate's pause, else the pause by hand or back-off, with
    its end when it has one ('mailbox pause --until', a throttle)."""
    if health or pause is None:
        return f"paused: {health or ''}"
    if pause.until is None:
        return f"paused: {pause.reason}"
    return f"paused until {local_minute_text(pause.until, hist.timezone)}: {pause.reason}"


def _word(v: Verdict) -> str:
    return v.health if v.health in ("hold", "step_back") else "ok"


def _today_left(
    spec: PolicySpec, hist: History, now: dt.datetime, first: Allowance
) -> tuple[int, tuple[str, ...]]:
    """What can still go out today, and why it is less than what is left of the quota."""
    remaining = first.remaining
    if first.status == "exhausted" and first.sent > first.quota:
        # sends the gate did not count against today's quota (recorded, imported, or before
        # the cap was lowered): PLANNED shows them above QUOTA, and says so
        return 0, (f"sent {first.sent} of {first.quota} today: nothing more goes out today",)
    if first.status in ("paused", "closed", "exhausted") or remaining <= 0:
        return 0, ()
    notes: list[str] = []
    if spec.domain_cap is not None and hist.domain_sent_today is None:
        # evaluate() applies the cap to the domain's sends, when the ledger gives them; a
        # history without them counts this mailbox's own
        mine = max(spec.domain_cap - first.sent, 0)
        if mine < remaining:
            remaining = mine
            notes.append(
                f"domain cap {spec.domain_cap}/day, shared by the domain's mailboxes: at most "
                f"{mine} more today"
            )
    tz = zone(hist.timezone)
    local_now = now.astimezone(tz)
    number = spec.stage_at(first.day)[0]
    nxt = first.next_send_at
    after = nxt if nxt is not None and nxt > now else now
    fit = fits(spec.window, local_now.date(), tz, mean_gap(spec.stages[number], hist), after)
    if fit is None or fit >= remaining:
        return remaining, tuple(notes)
    notes.append(
        f"the rest of today's window ({spec.window.describe()}) fits about "
        f"{plural(fit, 'send')} at {pacing_text(spec, hist, number)} between sends: "
        f"{fit} of the {remaining} left"
    )
    return fit, tuple(notes)


def _day_planned(walk: Walk, day: dt.date, v: Verdict) -> tuple[int, tuple[str, ...]]:
    """What the gate would let through on an open future day, and why it is under the quota."""
    spec = walk.spec
    planned = walk.deliverable(day, v)
    notes = []
    if spec.domain_cap is not None and spec.domain_cap < v.quota:
        notes.append(
            f"domain cap {spec.domain_cap}/day, shared by the domain's mailboxes: at most "
            f"{spec.domain_cap} of the {v.quota}"
        )
    fit = walk.capacity(day, spec.stages[v.number])
    if fit is not None and fit < min(v.quota, spec.domain_cap or v.quota):
        notes.append(
            f"the window ({spec.window.describe()}) fits about {plural(fit, 'send')} at "
            f"{pacing_text(spec, walk.hist, v.number)} between sends: {fit} of the {v.quota}"
        )
    return planned, tuple(notes)


def plan_notes(spec: PolicySpec, days: Sequence[PlanDay] = ()) -> tuple[str, ...]:
    """What a plan of a mailbox under ``spec`` (over ``days``) cannot know, said once."""
    notes = []
    calendar = spec.calendar
    if calendar.skip_holidays or spec.window.working_days:
        # A year past the announced schedules (China's is published each November) is the
        # library's guess: without this the plan's holidays look as certain as last year's.
        guessed = sorted(y for y in {d.date.year for d in days} if calendar.estimated(y))
        if guessed:  # said once, however many years a long plan reaches
            notes.append(f"calendar: {calendar.estimate_note(guessed[0], guessed[-1])}")
    caps = spec.recipient_domains
    if caps:
        named = [f"{d} {n}/day" for d, n in caps.caps]
        if caps.default is not None:
            named.append(f"any other domain {caps.default}/day")
        notes.append(
            f"recipient-domain caps ({', '.join(named)}) may lower what a day delivers: "
            f"the plan cannot know the recipients"
        )
    if spec.domain_cap is not None:
        notes.append(
            f"the domain cap ({spec.domain_cap}/day) is shared by every mailbox of the domain: "
            f"today counts what the others sent so far, the days ahead this mailbox alone"
        )
    return tuple(notes)


@dataclass(frozen=True)
class MailboxPlan:
    """One mailbox's days ahead, and what its plan cannot know."""

    mailbox: str
    policy: str
    days: tuple[PlanDay, ...]
    notes: tuple[str, ...] = ()
    domain_cap: int | None = None  # the policy's cap shared by the mailbox's domain

    @property
    def domain(self) -> str:
        return self.mailbox.rpartition("@")[2].lower()


@dataclass(frozen=True)
class Plan:
    """``warmup plan``'s answer: the mailboxes' days, and with a ``volume`` the first day on
    which they will have sent that many recipients between them (None: not within the days
    planned, ``within``; ``planned`` went out by then, and ``later`` is the day and its number
    found looking further, when the caller looked)."""

    mailboxes: tuple[MailboxPlan, ...]
    volume: int | None = None
    reached: dt.date | None = None
    reached_day: int | None = None
    within: int | None = None
    planned: int | None = None
    later: tuple[dt.date, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """One shape with or without a volume: ``{"mailboxes", "days", "volume"}``."""
        return {
            "mailboxes": [
                {"mailbox": m.mailbox, "policy": m.policy, "notes": list(m.notes)}
                for m in self.mailboxes
            ],
            "days": [{"mailbox": m.mailbox, **d.to_dict()} for m in self.mailboxes for d in m.days],
            "volume": None
            if self.volume is None
            else {
                "recipients": self.volume,
                "date": self.reached.isoformat() if self.reached else None,
                "days": self.reached_day,
                "within": self.within,
                "planned": self.planned,
                "later": None
                if self.later is None
                else {"date": self.later[0].isoformat(), "days": self.later[1]},
            },
        }


def combine(plans: Sequence[MailboxPlan], volume: int | None = None) -> Plan:
    """The mailboxes' plans together; with ``volume``, cut at the first date by which the
    mailboxes' cumulative planned recipients reach it.

    Each plan's days are its mailbox's own local dates, and mailboxes in different zones need
    not be on the same date (Shanghai's morning is the evening before in New York): they are
    added date by date, the first date being the earliest mailbox's today. Added row by row,
    the date a volume was reached depended on the order the mailboxes were named in."""
    if volume is None:
        return Plan(tuple(plans))
    plans = [p for p in plans if p.days]
    if not plans:
        return Plan((), volume)
    first = min(p.days[0].date for p in plans)
    last = min(p.days[-1].date for p in plans)  # beyond it, some plan has no days
    # Mailboxes of one domain under a domain cap share it: each plan counts its mailbox alone
    # (up to the cap), so together they would be counted at twice the cap or more a day, and
    # the volume reached days early. A group's day is at most its largest cap (a mailbox stops
    # once the domain's count reaches its own policy's cap), less what it already sent today.
    # A mailbox of such a domain whose own policy has no cap is not held by it, but the capped
    # ones' gates count its sends too: with more left, it goes first (as the worker takes them).
    capped = {p.domain for p in plans if p.domain_cap is not None}
    groups: dict[str, list[MailboxPlan]] = {}
    for p in plans:
        if p.domain in capped:
            groups.setdefault(p.domain, []).append(p)
    free = [p for p in plans if p.domain not in capped]
    total = 0
    day = first
    while day <= last:
        total += sum(added_on(p, day) for p in free)
        for domain, group in groups.items():
            room = {p.mailbox: added_on(p, day) for p in group}
            cap_of = {p.mailbox: domain for p in group if p.domain_cap is not None}
            total += take_turns(
                sum(room.values()),
                list(room),
                room,
                {domain: cap_left(group, day)},
                cap_of,
                dict.fromkeys(room, domain),
            )
        if total >= volume:
            cut = tuple(
                dataclasses.replace(p, days=tuple(d for d in p.days if d.date <= day))
                for p in plans
            )
            return Plan(cut, volume, day, (day - first).days + 1, planned=total)
        day += ONE_DAY
    return Plan(tuple(plans), volume, planned=total)


def cap_left(group: Sequence[MailboxPlan], day: dt.date) -> int:
    """What the domain cap of ``group`` (the plans of one domain's mailboxes; their largest cap,
    when their policies differ) leaves on ``day``: a member's today counts its sends so far."""
    cap = max(p.domain_cap or 0 for p in group)
    sent = sum(p.days[0].planned - p.days[0].cumulative for p in group if p.days[0].date == day)
    return max(cap - sent, 0)


def take_turns(
    n: int,
    members: list[str],
    room: dict[str, int],
    shared: dict[str, int],
    cap_of: dict[str, str],
    counted: dict[str, str],
) -> int:
    """Take up to ``n`` from ``members``' ``room``, each from the member with the most left
    (as the worker picks one message at a time), a domain's ``shared`` cap counted too: it
    bounds the members whose policy caps the domain (``cap_of``) and what every member of a
    capped domain takes comes off it (``counted``); how many were taken.

    Taken a run at a time, in turns among the members tied for the most left: a run as long
    as the order of the one-at-a-time picks would not change within it. Where a member of a
    capped domain has no cap of its own, each send of it leaves the capped ones less: one
    held by the cap (not its room) drops with the domain's every send."""
    taken = 0
    while taken < n:
        left = {m: min(room[m], shared[cap_of[m]] if m in cap_of else room[m]) for m in members}
        open_ = [m for m in members if left[m] > 0]
        if not open_:
            break
        top = max(left[m] for m in open_)
        tied = [m for m in open_ if left[m] == top]
        turns: dict[str, int] = {}  # capped domain: how many of the tied count toward its cap
        for m in tied:
            if m in counted:
                turns[counted[m]] = turns.get(counted[m], 0) + 1
        mixed = {
            d
            for d in turns
            if any(m not in cap_of for m in open_ if counted.get(m) == d)
            and any(m in cap_of for m in open_ if counted.get(m) == d)
        }
        # a capped member held by the cap of a domain whose tied members take turns falls
        # at least as fast as they do: it never catches up with them
        below = max(
            (
                left[m]
                for m in open_
                if left[m] < top
                and not (m in cap_of and cap_of[m] in mixed and left[m] == shared[cap_of[m]])
            ),
            default=0,
        )
        step = top - below
        for d in mixed:
            if turns[d] > 1 and any(m in cap_of and counted[m] == d for m in tied):
                # the capped ones stay tied while the cap leaves them more than their room
                step = min(step, (shared[d] - top) // (turns[d] - 1))
        step = max(step, 1)
        give = min(n - taken, len(tied) * step)
        each, extra = divmod(give, len(tied))
        given = 0
        for i, m in enumerate(tied):
            k = each + (1 if i < extra else 0)
            if m in cap_of:
                k = min(k, shared[cap_of[m]])
            if m in counted:
                shared[counted[m]] = max(shared[counted[m]] - k, 0)
            room[m] -= k
            given += k
        if not given:
            break
        taken += given
    return taken


def added_on(plan: MailboxPlan, day: dt.date) -> int:
    """What ``plan`` adds on ``day`` (its today: what is left of it; 0 before its today)."""
    k = (day - plan.days[0].date).days
    if not 0 <= k < len(plan.days):
        return 0
    return plan.days[k].cumulative - (plan.days[k - 1].cumulative if k else 0)
