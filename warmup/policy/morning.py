"""Today's verdict kept: a reservation answered from the morning's walk. Pure, no I/O.

Within one local day, what :func:`~warmup.policy.engine.evaluate` derives from the days before
today is fixed (DESIGN invariant 3): the stage, today's quota, the health judged on the days
before, the walk memo. Only today's counters (sent, bounces, complaints), the last send, the
domain counts and the clock change from one reservation to the next. :func:`morning` walks the
past once; :meth:`Morning.allows` then answers a reservation with a few comparisons.

A gate that reuses the rows its last reservation read (nothing else committed since, the same
local day) has the morning's inputs unchanged by construction: it asks :meth:`Morning.allows_today`
with today's counts alone, never building a :class:`History` (``tests/test_lean_verdict.py``
checks it answers as :meth:`Morning.allows` and :func:`evaluate` on generated histories).

It only ever says *yes* when :func:`evaluate` would: whenever today could change the answer
beyond those counters (an event during the day, a pause, a closed day, today's bounces worsening
the health, the window shut or the pacing gap not over, too few slots left), it says "ask
:func:`evaluate`", which then gives the refusal and its reasons. ``tests/test_morning.py`` drives
random sequences against a gate and checks every answer against a fresh :func:`evaluate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from warmup.instants import zone
from warmup.policy.calendar import ranges_on
from warmup.policy.engine import gap_after
from warmup.policy.inputs import ONE_DAY, DayCounts, History, WalkState, current_pause, day_start
from warmup.policy.rules import SEVERITY, Walk
from warmup.policy.spec import PolicySpec
from warmup.policy.walk import walk_to


def _key(spec: PolicySpec, hist: History, today: dt.date) -> tuple[Any, ...]:
    """Every input of the morning's walk: the same key, the same morning."""
    return (
        id(spec),
        today,
        hist.mailbox,
        hist.timezone,
        tuple(c for c in hist.days if c.day < today),
        hist.events,
        hist.cap,
        hist.started,
        hist.provider_ceiling,
        hist.provider_min_interval,
        hist.memo,
        # what the domain's other mailboxes sent before today (read under a domain cap, now or
        # in an earlier policy): a day they sent less on left this one more (Walk.domain_left)
        tuple(sorted((d, n) for d, n in hist.domain_days.items() if d < today)),
    )


@dataclass
class Morning:
    """The walk at the start of one local day, for the inputs of :attr:`key`.

    ``walk`` is None when no reservation today can be answered without :func:`evaluate` (paused,
    closed, the mailbox's cap 0, events during the day)."""

    spec: PolicySpec
    key: tuple[Any, ...]
    today: dt.date
    zone: dt.tzinfo
    memo: WalkState | None  # what evaluate's answer carries (the state at the start of yesterday)
    walk: Walk | None = None
    health: str = "ok"
    quota: int = 0
    number: int = 0
    clean: bool = False  # the prior window holds no bounce nor complaint: sends alone keep it ok
    ranges: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    # What allows_today reads of the history besides today's counts (inputs of the key)
    counts_today: bool = True  # today is on or after the start day: its counts are read
    mailbox: str = ""
    min_interval: float = 0.0  # the provider's

    def holds(self, spec: PolicySpec, hist: History, now: dt.datetime) -> bool:
        """Whether this morning was walked from the same inputs as ``hist`` for ``now``'s day."""
        if spec is not self.spec:
            return False
        local_now = now.astimezone(self.zone)
        today = dt.date(local_now.year, local_now.month, local_now.day)
        return today == self.today and _key(spec, hist, today) == self.key

    def allows(self, hist: History, now: dt.datetime, wanted: int) -> bool:
        """True when :func:`evaluate` at ``now`` would let ``wanted`` recipients go
        (``can_send`` and ``remaining >= wanted``); False: ask :func:`evaluate`. ``hist`` must be
        one this morning :meth:`holds` for."""
        if self.walk is None:
            return False
        today, c = self.today, None
        for d in reversed(hist.days):
            if d.day == today:
                c = d
                break
        return self.allows_today(c, hist.last_send_at, hist.domain_sent_today, now, wanted)

    def allows_today(
        self,
        counts: DayCounts | None,
        last: dt.datetime | None,
        domain_sent: int | None,
        now: dt.datetime,
        wanted: int,
    ) -> bool:
        """:meth:`allows` from what changes within the day alone, for a history this morning
        holds for: ``counts``, its row for today's local day (None: no row), ``last`` and
        ``domain_sent``, its ``last_send_at`` and ``domain_sent_today``."""
        walk = self.walk
        if walk is None:
            return False
        spec = self.spec
        c = counts if self.counts_today else None
        judge = c is not None and (c.bounced or c.complaint) or not self.clean
        if judge and not self._same_health(walk, c):
            return False
        remaining = self.quota - (c.sent if c is not None else 0)
        if spec.domain_cap is not None and domain_sent is not None:
            remaining = min(remaining, spec.domain_cap - domain_sent)
        if remaining < max(wanted, 1):
            return False
        # The ranges are aware UTC instants: compared with ``now`` as instants, as
        # next_opening compares them with the local time (no zone conversion per message).
        for a, b in self.ranges:  # as next_opening reads today's ranges
            if a <= now < b:
                break
            if a > now:
                return False
        else:
            return False
        if last is not None:
            gap = gap_after(spec, self.mailbox, self.min_interval, last, self.number)
            if gap and last + dt.timedelta(seconds=gap) > now:  # no gap, no pacing (engine's)
                return False
        return True

    def _same_health(self, walk: Walk, c: DayCounts | None) -> bool:
        """Today's counts leave the verdict's health word as the morning's (the including-today
        window only replaces it when worse, or judged where the morning's was not)."""
        today, w = self.today, self.spec.health.window_days
        if c is None:
            walk.counts.pop(today, None)
        else:
            walk.counts[today] = c
        t_health = walk.judge(today - dt.timedelta(days=w), today, words=False)[0]
        health = self.health
        replaced = SEVERITY[t_health] > SEVERITY[health] or (
            health == "unjudged" and t_health != "unjudged"
        )
        return not replaced or (health == "unjudged" and t_health == "ok")


def morning(spec: PolicySpec, hist: History, now: dt.datetime) -> Morning:
    """The walk to the start of ``now``'s local day, from ``hist``'s days before it (today's
    counts are read per reservation by :meth:`Morning.allows`)."""
    tz = zone(hist.timezone)
    local_now = now.astimezone(tz)
    today = dt.date(local_now.year, local_now.month, local_now.day)
    key = _key(spec, hist, today)
    past = dataclasses.replace(hist, days=key[4])
    begin = day_start(today, hist.timezone)
    walk, v, memo = walk_to(spec, past, today, begin, checkpoint=today - ONE_DAY)
    m = Morning(spec, key, today, tz, memo)
    m.counts_today = hist.started is None or today >= hist.started
    m.mailbox, m.min_interval = hist.mailbox, hist.provider_min_interval
    if (
        walk.cap == 0
        or walk.health_paused
        or v.closed is not None
        or any(e.at > begin for e in hist.events)
        or current_pause(hist.events, begin) is not None
    ):
        return m
    h = spec.health
    w = h.window_days
    _, bounced, complaints = walk.window_rates(today - dt.timedelta(days=w), today - ONE_DAY)
    lines = (
        h.hold_above,
        h.step_back_above,
        h.pause_above,
        h.complaint_hold_above,
        h.complaint_pause_above,
    )
    m.walk, m.health, m.quota, m.number = walk, v.health, v.quota, v.number
    m.clean = not bounced and not complaints and min(lines) >= 0
    m.ranges = tuple(ranges_on(spec.window, today, tz))
    return m
