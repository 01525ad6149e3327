"""The policy's answers: today's allowance and every past day. Pure, no I/O.

:func:`evaluate` answers ``warmup quota`` and the gate; :func:`timeline` lists every past day as
:func:`evaluate` saw it that morning (reports); :func:`warmup.policy.plan.project` continues the
walk into the future (``warmup plan``). All three look at the one walk of
:mod:`warmup.policy.walk` (its rules in :mod:`warmup.policy.rules`), so none of them can
disagree with another.

Statuses, one vocabulary for every answer (quota, report, plan, JSON): ``ok``; ``hold`` (the
ramp is held: bounces or complaints above the hold line); ``step_back`` (above the step-back
line: one stage back, and held); ``paced`` (wait for the next slot or the window to open);
``exhausted`` (today's quota is used); ``closed`` (the window does not open today: a public
holiday, a day not in the window's weekdays or working days); ``paused`` (a pause, by hand, by
the health rules or by a provider back-off); and in reports, ``resumed``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import operator
import shlex
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warmup.instants import aware, zone
from warmup.policy import eras
from warmup.policy.calendar import fits, next_opening, ranges_on
from warmup.policy.inputs import ONE_DAY, History, WalkState, current_pause, day_start, local
from warmup.policy.rules import Verdict, mean_gap
from warmup.policy.spec import PolicySpec
from warmup.policy.summed import SummedWalk, drive
from warmup.policy.tables import DayRows, DaySums
from warmup.policy.walk import (
    begin_today_steps,
    finish_today,
    start,
    today_of,
    verdict_again,
    walk_to_steps,
)


@dataclass(frozen=True)
class Allowance:
    mailbox: str
    stage: str
    day: int
    quota: int
    sent: int
    remaining: int
    status: str  # ok | hold | step_back | paced | exhausted | closed | paused
    next_send_at: dt.datetime | None
    bounce_rate: float | None
    complaint_rate: float | None
    reasons: tuple[str, ...]
    # The walk's state at the start of yesterday (None when the walk did not pass it with an
    # active day behind it): what the ledger keeps so the next answer need not walk the past.
    memo: WalkState | None = field(default=None, compare=False, repr=False)
    # Asked with walks kept (evaluate_steps): the same history asked about at any instant from
    # the one asked until this one (exclusive) gets this same answer (None: none promised).
    steady: dt.datetime | None = field(default=None, compare=False, repr=False)

    @property
    def can_send(self) -> bool:
        return self.status in ("ok", "hold", "step_back")

    def to_dict(self) -> dict[str, object]:
        return {
            "mailbox": self.mailbox,
            "stage": self.stage,
            "day": self.day,
            "quota": self.quota,
            "sent": self.sent,
            "remaining": self.remaining,
            "status": self.status,
            "next_send_at": self.next_send_at.isoformat() if self.next_send_at else None,
            "bounce_rate": None if self.bounce_rate is None else round(self.bounce_rate, 6),
            "complaint_rate": None
            if self.complaint_rate is None
            else round(self.complaint_rate, 6),
            "reasons": list(self.reasons),
        }


def built_allowance(values: dict[str, Any]) -> Allowance:
    """``Allowance(**values)``, every field given (``values`` is taken, not copied), without the
    frozen dataclass's ``__init__``: its ``object.__setattr__`` for each of the 13 fields was
    ~25k instructions of the answer worked out again for a pool's member that sent, before
    each message (the worker's look, :func:`warmup.api.recipient_checks`); as
    :func:`warmup.policy.inputs.built_history` builds a History."""
    if values.keys() != _allowance_names():
        raise TypeError(
            f"Allowance's fields are {sorted(_allowance_names())}, not {sorted(values)}"
        )
    out = object.__new__(Allowance)
    out.__dict__.update(values)
    return out


@functools.cache
def _allowance_names() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(Allowance))


def gap_seconds(spec: PolicySpec, hist: History, stage_number: int) -> float:
    """Seconds after the last send before the next one (random within the stage's interval,
    seeded by the last send so every process draws the same)."""
    return gap_after(
        spec, hist.mailbox, hist.provider_min_interval, hist.last_send_at, stage_number
    )


def gap_after(
    spec: PolicySpec,
    mailbox: str,
    min_interval: float,
    last: dt.datetime | None,
    stage_number: int,
) -> float:
    """:func:`gap_seconds` from what it reads of the history: the mailbox, the provider's least
    interval and the last send."""
    stage = spec.stages[stage_number]
    lo, hi = stage.interval_min, stage.interval_max
    if last is None or hi <= 0 and min_interval <= 0 or hi == lo:  # no draw: lo + 0 * u is lo
        return max(lo, min_interval)
    seed = hashlib.blake2b(f"{mailbox}|{last.isoformat()}".encode(), digest_size=8).digest()
    u = int.from_bytes(seed, "big") / 2**64
    return max(lo + (hi - lo) * u, min_interval)


def _gap(spec: PolicySpec, hist: History, stage_number: int) -> tuple[float, str]:
    stage = spec.stages[stage_number]
    lo, hi = stage.interval_min, stage.interval_max
    gap = gap_seconds(spec, hist, stage_number)
    if hist.last_send_at is None or hi <= 0 and hist.provider_min_interval <= 0:
        return gap, ""
    if hist.provider_min_interval > hi:  # the provider's limit, not the stage's gap, paces
        span = f"the provider's {fmt_secs(hist.provider_min_interval)}"
    elif lo == hi:
        span = fmt_secs(lo)
    elif lo % 60 == 0 and hi % 60 == 0:
        span = f"random {lo / 60:g}-{hi / 60:g} min"
    else:
        span = f"random {fmt_secs(lo)}-{fmt_secs(hi)}"
    return gap, span


def fmt_secs(s: float) -> str:
    """``"7.5 min"``, ``"2 s"``."""
    return f"{s / 60:g} min" if s >= 60 and (s / 60) * 10 % 1 == 0 else f"{s:g} s"


def pacing_text(spec: PolicySpec, hist: History, number: int) -> str:
    """``"7.5 min on average (random 5-10 min)"``: the gap plans count with."""
    stage = spec.stages[number]
    gap = mean_gap(stage, hist)
    lo, hi = stage.interval_min, stage.interval_max
    if gap > (lo + hi) / 2:
        return f"{fmt_secs(gap)} (the provider's per-minute limit)"
    if lo == hi:
        return fmt_secs(gap)
    span = (
        f"random {lo / 60:g}-{hi / 60:g} min"
        if lo % 60 == 0 and hi % 60 == 0
        else f"random {fmt_secs(lo)}-{fmt_secs(hi)}"
    )
    return f"{fmt_secs(gap)} on average ({span})"


def evaluate(spec: PolicySpec, hist: History, now: dt.datetime) -> Allowance:
    """Where the mailbox stands at ``now`` (aware), and what it may send today, with reasons.

    The answer carries in :attr:`Allowance.memo` the walk's state at the start of yesterday, for
    the ledger to keep (see :mod:`warmup.policy.inputs`, "Memos"). A naive ``now`` is refused
    here: ``astimezone`` would read it as this machine's local time.
    """
    return drive(evaluate_steps(spec, hist, aware(now, "now")))


# What :func:`evaluate_steps` keeps of a mailbox's walk to today between answers, by address:
# the inputs it was walked from (:func:`_walk_key`) and the walk, today's verdict and the memo;
# then the walk to the start of today (never touched: copied for each use), the inputs it was
# walked from (the same but today's counts and the events after the day's start) and the memo.
Walks = dict[
    str,
    tuple[
        tuple[Any, ...],
        tuple[Any, Verdict, WalkState | None],
        tuple[tuple[Any, ...], Any, WalkState | None] | None,
    ],
]


def evaluate_steps(
    spec: PolicySpec, hist: History, now: dt.datetime, walks: Walks | None = None
) -> Generator[Any, int, Allowance]:
    """:func:`evaluate`, paused at each stretch of the walk (:func:`warmup.policy.summed.drive`):
    many mailboxes' answers at once walk their stretches together
    (:func:`warmup.policy.summed.drive_all`).

    ``walks``: kept by the caller between answers (the worker's look at a pool's members
    before each message): the walk to today is taken from it when it was walked from the same
    inputs (the policy object, the day, the events applied by ``now``, the history but what
    only the answer's last part reads: the last send, the domain's and the recipient domains'
    sends today), else walked and kept there. Only the member that sent since is walked again:
    its history holds one more send today. With ``walks``, the answer's
    :attr:`Allowance.steady` says until when the same history keeps this answer."""
    tz_zone = zone(hist.timezone)
    local_now = now.astimezone(tz_zone)
    today = local_now.date()
    key = None if walks is None else _walk_key(spec, hist, today, now)
    kept = None if walks is None or key is None else walks.get(hist.mailbox)
    if kept is not None and kept[0] == key:
        walk, v, memo = kept[1]
    elif walks is None or key is None:
        walk, v, memo = yield from walk_to_steps(spec, hist, today, now, checkpoint=today - ONE_DAY)
    else:
        # Another send today (the member that sent), a bounce today, an event since the day's
        # start: the walk to the day's start is the kept one, only today's verdict is new, and
        # the kept verdict itself when today's new counts cannot change it (most sends)
        begun_key = _begun_key(key, hist, today)
        begun = kept[2] if kept is not None else None
        again = None
        if kept is not None and begun is not None and begun[0] == begun_key:
            again = verdict_again(*kept[1][:2], begun[1], hist, today, now)
            walk, memo = today_of(begun[1], hist, today) if again is None else again[0], begun[2]
        else:
            walk, memo = yield from begin_today_steps(spec, hist, today, today - ONE_DAY)
            begun = (begun_key, walk, memo)
            walk = today_of(walk, hist, today)
        v = finish_today(walk, today, now) if again is None else again[1]
        walks[hist.mailbox] = (key, (walk, v, memo), begun)
    # today's rules: the policy in force at ``now``, the mailbox's own but when asked about an
    # instant before a change (warmup.policy.eras)
    spec = walk.spec
    reasons = list(v.reasons)
    sent = walk.count(today).sent
    quota = v.quota
    status = v.health if v.health in ("hold", "step_back") else "ok"
    next_at: dt.datetime | None = None
    tomorrow = dt.datetime.combine(today + ONE_DAY, dt.time(), tz_zone)
    window, calendar = spec.window, spec.calendar

    # Until when the answer holds, as a UTC instant: only compared (api._still), and an instant
    # in the mailbox's zone compared with a UTC one asks the zone its offset (~8k instructions
    # a comparison: a pool's look compared ~8 a message so)
    steady = _steady_events(hist, now, tomorrow.astimezone(dt.UTC)) if walks is not None else None
    pause = current_pause(hist.events, now)
    if pause is not None:
        quota, status = 0, "paused"
        next_at = pause.until
        since = local_minute_text(pause.at, hist.timezone)
        reasons.append(
            # A pause with an end (a provider back-off, 'mailbox pause --until') lifts itself:
            # its end comes first, as the one thing a reader wants to know.
            f"paused until {local_minute_text(pause.until, hist.timezone)} (since {since}): {pause.reason}"
            if pause.until
            else f"paused since {since}: {pause.reason}; run 'warmup mailbox resume' to go on"
        )
    elif walk.cap == 0:  # refused since; a ledger may still hold one (or held then)
        quota, status = 0, "paused"
        reasons.append(
            f"paused: the mailbox's cap is 0; raise it with "
            f"'warmup mailbox set {shlex.quote(hist.mailbox)} --cap N' (or --cap none)"
        )
    elif walk.health_paused:
        quota, status = 0, "paused"
        reasons.append(
            f"paused: {walk.health_paused}; run 'warmup mailbox resume "
            f"{shlex.quote(hist.mailbox)}' once the cause is fixed"
        )
    elif v.closed is not None:
        status = "closed"
        if hist.started is not None and hist.started > today:  # a mailbox planned ahead
            start = dt.datetime.combine(hist.started, dt.time(), tz_zone)
            next_at = next_opening(window, calendar, start) or start
        else:
            # None: open at tomorrow's midnight itself (an all-day window), the opening sought
            next_at = next_opening(window, calendar, tomorrow) or tomorrow
        if next_at is not None:
            reasons.append(f"next sending day opens {local_minute_text(next_at, hist.timezone)}")
    remaining = max(quota - sent, 0)
    domain_binds = False  # what the domain cap leaves is less than the quota leaves
    if status not in ("paused", "closed") and (
        spec.domain_cap is not None and hist.domain_sent_today is not None
    ):
        domain_left = max(spec.domain_cap - hist.domain_sent_today, 0)
        if domain_left < remaining:
            remaining, domain_binds = domain_left, True
            reasons.append(
                f"domain cap {spec.domain_cap}/day shared by the domain's mailboxes: "
                f"{hist.domain_sent_today} sent today"
            )
    if status in ("paused", "closed"):
        pass
    elif remaining == 0:
        status = "exhausted"
        next_at = next_opening(window, calendar, tomorrow) or tomorrow
        used = "nothing left of the domain cap" if domain_binds else f"sent {sent} of {quota}"
        reasons.append(f"{used} today: next send from {local_minute_text(next_at, hist.timezone)}")
    else:
        opening = next_opening(window, calendar, local_now)
        number = v.number
        gap, span = _gap(spec, hist, number)
        last = hist.last_send_at
        # a plain UTC datetime: pendulum drops a datetime.UTC zone in an addition (naive)
        # no gap, no pacing: a send another process stamped a moment after this clock's now
        # (counted as made: CLOCK_SKEW) is no reason to wait
        paced_until = _utc(last) + dt.timedelta(seconds=gap) if last and gap else None
        mean = mean_gap(spec.stages[number], hist)
        fit = fits(
            window,
            today,
            tz_zone,
            mean,
            after=max(local_now, paced_until) if paced_until else local_now,
        )
        if steady is not None:
            steady = _steady_open(steady, spec, today, now, tz_zone, opening, paced_until, mean)
        if fit is not None and fit < remaining:
            reasons.append(
                f"pacing: at {pacing_text(spec, hist, number)} between sends, what is left "
                f"of today's window ({window.describe()}) fits about {fit} more send{_s(fit)} "
                f"of the {remaining} left"
            )
        if opening is not None and (paced_until is None or paced_until <= opening):
            status, next_at = "paced", opening
            reasons.append(
                f"outside the sending window: opens {local_minute_text(opening, hist.timezone)}"
            )
        elif paced_until is not None and paced_until > now:
            if opening is not None:  # the gap outlasts the window's closing (a long interval)
                reasons.append(
                    f"outside the sending window: opens {local_minute_text(opening, hist.timezone)}"
                )
            # The gap may run past the window's end (or into a closed day): the next send is
            # then when the window next opens, not when the gap is over.
            shut_until = next_opening(window, calendar, paced_until.astimezone(tz_zone))
            status, next_at = "paced", shut_until or paced_until
            reasons.append(
                f"pacing ({span} between sends): next send at "
                f"{next_send_text(paced_until, hist.timezone)}"
                + (
                    f", when the window is shut: it opens {local_minute_text(shut_until, hist.timezone)}"
                    if shut_until is not None
                    else ""
                )
            )
    # a day the guess calls a working day may be a holiday, or a bridge day, once the year is
    # announced: said, as a closed day says it (and the plan, once a year)
    if (
        status != "closed"
        and (calendar.skip_holidays or window.working_days)
        and calendar.estimated(today.year)
    ):
        reasons.append(f"calendar: {calendar.estimate_note(today.year)}")
    if spec.recipient_domains:
        reasons.append(_recipient_domain_reason(spec, hist))
    return built_allowance(
        {
            "mailbox": hist.mailbox,
            "stage": v.stage,
            "day": v.day,
            "quota": quota,
            "sent": sent,
            "remaining": remaining if status not in ("paused", "closed") else 0,
            "status": status,
            "next_send_at": None if next_at is None else _utc(next_at),
            "bounce_rate": v.rate,
            "complaint_rate": v.complaint_rate,
            "reasons": tuple(reasons),
            "memo": memo,
            "steady": steady,
        }
    )


def _steady_events(hist: History, now: dt.datetime, tomorrow: dt.datetime) -> dt.datetime | None:
    """Until when the events and the day leave :func:`evaluate_steps`'s answer at ``now`` as
    it is: the next local day, the end of a pause or back-off (``until``); None when an event
    comes after ``now`` (it is applied, or starts a pause, once its time comes)."""
    until = tomorrow
    for e in hist.events:
        if e.at > now:
            return None
        if e.until is not None and e.until > now and e.until < until:
            until = e.until
    return until


def _steady_open(
    until: dt.datetime,
    spec: PolicySpec,
    today: dt.date,
    now: dt.datetime,
    tz: dt.tzinfo,
    opening: dt.datetime | None,
    paced_until: dt.datetime | None,
    mean: float,
) -> dt.datetime | None:
    """:func:`_steady_events`'s ``until`` for a mailbox of zone ``tz`` that may send today (its
    quota not used): no later than the window's next opening or, open, its range's end, and the
    pacing gap's end; None when what fits in the window's rest of today is counted from ``now``
    (a mean gap and no gap running: the count falls as time goes). Compared as ``now`` comes
    (UTC), not in the local zone: the same instants, without asking the zone its offset."""
    if paced_until is not None and paced_until > now:
        until = min(until, paced_until)
    elif mean > 0:
        return None
    if opening is not None:
        return min(until, opening)
    for a, b in ranges_on(spec.window, today, tz):
        if a <= now < b:
            return min(until, b)
    return None


def _walk_key(
    spec: PolicySpec, hist: History, today: dt.date, now: dt.datetime
) -> tuple[Any, ...] | None:
    """What :func:`walk_to_steps` walks ``hist`` to ``today`` at ``now`` from: the policy
    object itself (kept with it: its id is never another's meanwhile), the day, how many of
    the events it applies by ``now``, and every field of the history that compares (but the
    last send and today's domain counts: only :func:`evaluate_steps` after the walk reads
    them) with the policy texts its eras name, which do not; None when the history carries day
    sums, which do not compare either (never kept)."""
    if hist.sums is not None:
        return None
    events = eras.from_day_start(hist.events, hist.timezone) if hist.events else ()
    applied = sum(1 for e in events if e.at <= now)
    return (id(spec), spec, today, applied, *_walked_of(hist))


def _begun_key(key: tuple[Any, ...], hist: History, today: dt.date) -> tuple[Any, ...]:
    """What :func:`~warmup.policy.walk.begin_today_steps` walks ``hist`` to the start of
    ``today`` from: :func:`_walk_key`'s ``key`` without the number of events applied by now
    (those by the day's start are in the events and the day) and without today's counts."""
    at = _DAYS_AT + 4
    days = tuple(c for c in hist.days if c.day != today)
    return (*key[:3], *key[4:at], days, *key[at + 1 :])


@functools.cache
def _walked_fields() -> tuple[str, ...]:
    """The fields of :class:`History` a walk's inputs are compared by (:func:`_walk_key`):
    every one that compares but those only the answer's tail reads, and the policy texts."""
    tail = {"last_send_at", "domain_sent_today", "recipient_domains_today"}
    return (
        *(f.name for f in dataclasses.fields(History) if f.compare and f.name not in tail),
        "policy_texts",
    )


_DAYS_AT = _walked_fields().index("days")  # where History.days is among them
# Those fields of a history, as a tuple (one call: the worker keys the sender's walk by them
# before each pool message)
_walked_of = operator.attrgetter(*_walked_fields())


def _utc(ts: dt.datetime) -> dt.datetime:
    """``ts`` as a plain ``datetime`` in UTC, whatever aware type it came as (pendulum's
    instants in ``datetime.UTC`` turn naive when a timedelta is added)."""
    u = ts.astimezone(dt.UTC)
    return dt.datetime(
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=dt.UTC
    )


def local_minute_text(ts: dt.datetime, tz: str) -> str:
    """``ts`` as the mailbox's wall clock, to the minute, with its zone's abbreviation."""
    return local(ts, tz).strftime("%Y-%m-%d %H:%M %Z")


def next_send_text(ts: dt.datetime, tz: str) -> str:
    """A next send time to the second, rounded up: a gap of minutes ends mid-minute, and a
    script that retried at the minute (or the truncated second) it was told was paced again.
    Every "next send at" a client reads says it this way (the reasons, the relay's 451)."""
    if ts.microsecond:
        ts = ts.replace(microsecond=0) + dt.timedelta(seconds=1)
    return local(ts, tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def recipient_domain_refusal(
    spec: PolicySpec, hist: History, recipients: Sequence[str]
) -> str | None:
    """Why a message to ``recipients`` would break a recipient-domain cap today, or None.

    ``hist.recipient_domains_today`` must hold today's sends to the recipients' domains.
    """
    if not spec.recipient_domains:
        return None
    return recipient_domain_excess(spec, hist.mailbox, hist.recipient_domains_today, recipients)


def recipient_domain_excess(
    spec: PolicySpec, mailbox: str, sent_today: Mapping[str, int], recipients: Sequence[str]
) -> str | None:
    """:func:`recipient_domain_refusal` from what it reads of the history: the mailbox and
    today's sends per recipient domain (those of ``recipients`` at least)."""
    caps = spec.recipient_domains
    if not caps:
        return None
    for domain, n in sorted(per_domain(recipients).items()):
        cap = caps.cap_for(domain)
        sent = sent_today.get(domain, 0)
        if cap is not None and sent + n > cap:
            return (
                f"{mailbox}: recipient-domain cap: at most {cap} a day to {domain} from this "
                f"mailbox ({sent} sent today, {n} more wanted); send to {domain} tomorrow"
            )
    return None


def per_domain(recipients: Sequence[str]) -> dict[str, int]:
    """How many of ``recipients`` each receiving domain (lower case) has."""
    wanted: dict[str, int] = {}
    for rcpt in recipients:
        domain = rcpt.rsplit("@", 1)[-1].lower()
        wanted[domain] = wanted.get(domain, 0) + 1
    return wanted


def _recipient_domain_reason(spec: PolicySpec, hist: History) -> str:
    caps = spec.recipient_domains
    named = ", ".join(
        f"{d} {cap}/day ({hist.recipient_domains_today.get(d, 0)} sent)" for d, cap in caps.caps
    )
    parts = [named] if named else []
    if caps.default is not None:
        busiest = max(
            ((n, d) for d, n in hist.recipient_domains_today.items() if d not in dict(caps.caps)),
            default=None,
        )
        other = f"any other domain {caps.default}/day"
        if busiest:
            other += f" (most sent today: {busiest[1]} {busiest[0]})"
        parts.append(other)
    return "recipient-domain caps: " + "; ".join(parts)


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
    closed: bool = False  # the window did not open that day (quota 0): a holiday, a day off

    @property
    def status(self) -> str:
        """paused | resumed | closed | hold | step_back | ok, the policy's word for the day."""
        if self.resumed:
            return "resumed"
        if self.paused:
            return "paused"
        if self.closed:
            return "closed"
        return self.health if self.health in ("hold", "step_back") else "ok"


def timeline(
    spec: PolicySpec, hist: History, now: dt.datetime, *, explain: bool = True
) -> list[DayVerdict]:
    """Every local day from the first day with sends or bounces to today, from the walk :func:`evaluate` replays.

    Each past day carries what :func:`evaluate` answered at the start of that day (history before
    the day, events up to its start). A day that began paused and was resumed during the day
    carries the answer just after the resume (``resumed``). Today is :func:`evaluate`'s answer at
    ``now``. So a report built on this cannot disagree with what ``warmup quota`` said.
    ``explain=False``: the same days without reasons (much faster; a report table never shows
    them).
    """
    return walk_timeline(spec, hist, now, explain=explain)[0]


def walk_timeline(
    spec: PolicySpec,
    hist: History,
    now: dt.datetime,
    *,
    explain: bool = True,
) -> tuple[list[DayVerdict], WalkState]:
    """:func:`timeline`'s days, and the walk's state at the start of today.

    With ``hist.memo`` (a state this function returned for the same inputs at an earlier day) the
    days before ``memo.upto`` are not walked again nor listed (the caller has them), and the
    result is what a full walk gives from that day on; ``hist`` must still hold the counts of the
    days the windows look back on (:func:`~warmup.policy.walk.lookback`).
    """
    walk, day, today = _begin(spec, hist, now, explain)
    out: list[DayVerdict] = []
    while day < today:
        out.append(_step(walk, day))
        day += ONE_DAY
    state = walk.state(today)
    out.append(_today(walk, today, now))
    return out, state


def timeline_rows(
    spec: PolicySpec, hist: History, now: dt.datetime, days: DaySums | None = None
) -> tuple[DayRows, WalkState]:
    """:func:`walk_timeline` without reasons, as columns (what a report reads): the same days,
    field for field, and the same state. Runs of ordinary days are walked by
    :meth:`SummedWalk.run <warmup.policy.summed.SummedWalk.run>`, the others one by one as
    :func:`walk_timeline` does.

    ``days``: the counts as :class:`~warmup.policy.tables.DaySums` (days before ``hist.started``
    left out) instead of ``hist.days``, which is then ignored: a report holds them as arrays and
    builds no :class:`DayCounts` per day."""
    rows, state, _ = timeline_checkpoint(spec, hist, now, days, checkpoint=None)
    return rows, state


def timeline_checkpoint(
    spec: PolicySpec,
    hist: History,
    now: dt.datetime,
    days: DaySums | None = None,
    *,
    checkpoint: dt.date | None,
) -> tuple[DayRows, WalkState, WalkState | None]:
    """:func:`timeline_rows`, and the walk's state at the start of ``checkpoint`` as
    :func:`~warmup.policy.walk.replay` takes it (None unless the walk went through that day
    with an active day before it): a report keeps its memo of yesterday, which a write on
    yesterday (a bounce synced this morning) leaves valid."""
    return drive(timeline_checkpoint_steps(spec, hist, now, days, checkpoint=checkpoint))


def timeline_checkpoint_steps(
    spec: PolicySpec,
    hist: History,
    now: dt.datetime,
    days: DaySums | None = None,
    *,
    checkpoint: dt.date | None,
) -> Generator[Any, int, tuple[DayRows, WalkState, WalkState | None]]:
    """:func:`timeline_checkpoint`, paused at each stretch of the walk
    (:func:`warmup.policy.summed.drive`): a report of many mailboxes walks their stretches
    together, their rows filled as each one's own (:func:`warmup.policy.summed.drive_all`)."""
    walk, day, today = _begin(spec, hist, now, False, days)
    rows = DayRows()
    back = None
    while day < today:
        if day == checkpoint:
            back = walk.memo(day)
        stop = checkpoint if checkpoint is not None and day < checkpoint < today else today
        after = yield from walk.run_steps(day, stop, rows)
        if after > day:
            day = after
            continue
        _add(rows, _step(walk, day))
        day += ONE_DAY
    state = walk.state(today)
    if today == checkpoint:
        back = walk.memo(today)
    _add(rows, _today(walk, today, now))
    return rows, state, back


def _add(rows: DayRows, v: DayVerdict) -> None:
    rows.append(
        (
            v.date.toordinal(),
            v.day,
            v.stage,
            v.quota,
            v.health,
            v.rate,
            v.complaint_rate,
            v.paused,
            v.resumed,
            v.closed,
        )
    )


def _begin(
    spec: PolicySpec, hist: History, now: dt.datetime, explain: bool, days: DaySums | None = None
) -> tuple[SummedWalk, dt.date, dt.date]:
    """The walk, the first day to walk and today (local to the mailbox at ``now``)."""
    local_now = now.astimezone(zone(hist.timezone))
    today = dt.date(local_now.year, local_now.month, local_now.day)
    if days is not None:
        hist = dataclasses.replace(hist, days=())
    walk, day = start(spec, hist, today, cls=SummedWalk, explain=explain)
    assert isinstance(walk, SummedWalk)
    if hist.sums is None:  # else start() took the history's own
        walk.sum_up(days)
    if days is not None and not (hist.memo is not None and hist.memo.last_active is not None):
        first = days.first_counted(today.toordinal())  # as start() finds it in hist.days
        day = today if first is None else dt.date.fromordinal(first)
    return walk, day, today


def _step(walk: SummedWalk, day: dt.date) -> DayVerdict:
    """One past day of :func:`walk_timeline`: its verdict as the morning saw it; the walk
    moved past the day."""
    hist = walk.hist
    tz = hist.timezone
    begin = day_start(day, tz) if walk.events else None  # most mailboxes have no events
    if begin is not None:
        walk.apply_events(begin)
    pending = walk.events_done < len(walk.events)  # a resume may come during the day
    # On an active day the morning's verdict (today=True, the day's counts hidden) runs the
    # same steps on the same window as the replay's (the hidden day is outside the prior
    # window, and the window "including today" sums the same days), so one verdict serves
    # both. An idle day adjusts for idleness only in the morning's: look at it separately.
    entry = _morning(walk, day, begin) if pending or not walk.sent_on(day) else None
    if entry is not None and entry.paused and pending:
        end = day_start(day + ONE_DAY, tz)
        resumes = [
            e.at for e in walk.events[walk.events_done :] if e.kind == "resume" and e.at < end
        ]
        if resumes:
            later = dataclasses.replace(walk)
            later.apply_events(resumes[-1])
            after = _morning(later, day, resumes[-1])
            if not after.paused:
                entry = dataclasses.replace(after, paused=True, resumed=True)
    v = walk.verdict(day, today=False)
    if entry is None:
        paused = bool(walk.health_paused) or (
            begin is not None and current_pause(hist.events, begin) is not None
        )
        entry = _day_verdict(day, v, paused, False)
    walk.close_day(day, v)
    return entry


def _today(walk: SummedWalk, today: dt.date, now: dt.datetime) -> DayVerdict:
    """Today's verdict at ``now`` (events up to ``now`` applied)."""
    walk.apply_events(now)
    v = walk.verdict(today, today=True)
    paused = bool(walk.health_paused) or current_pause(walk.hist.events, now) is not None
    return _day_verdict(today, v, paused, False)


def _morning(walk: SummedWalk, day: dt.date, at: dt.datetime | None) -> DayVerdict:
    """What :func:`evaluate` says at ``at`` early on ``day`` (nothing sent yet), without moving
    the walk: its state is flat (counts and events are only read), so a shallow copy looks ahead.
    """
    look = dataclasses.replace(walk, hidden=day)  # the day's own sends come after the morning
    v = look.verdict(day, today=True)
    paused = bool(look.health_paused) or (
        at is not None and current_pause(walk.hist.events, at) is not None
    )
    return _day_verdict(day, v, paused, False)


def _day_verdict(day: dt.date, v: Verdict, paused: bool, resumed: bool) -> DayVerdict:
    return DayVerdict(
        day,
        v.day,
        v.stage,
        0 if paused and not resumed else v.quota,
        v.health,
        v.rate,
        v.complaint_rate,
        paused,
        resumed,
        tuple(v.reasons),
        v.closed is not None,
    )
