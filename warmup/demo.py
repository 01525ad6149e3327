"""A deterministic simulation of a mailbox's first weeks, for ``warmup demo`` and the tests."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from warmup import api
from warmup.ledger import BounceIn, Ledger, MailboxRow, SendIn
from warmup.policy import Allowance

DEMO_MAILBOX = "demo@corp.example"
# 1-based simulated days with a bounce spike (a bad list was uploaded); a day that sends nothing
# (a Chinese public holiday, exmail's calendar) passes the spike on to the next that sends: run
# on 1 March 2027, days 17-18 were Spring Festival's, and the demo told of a spike and a resume
# its table never showed
SPIKE_DAYS = (17, 18)
RESUME_AFTER = 2  # the paused morning on which the simulated operator resumes (a day paused whole)


def describe(days: int) -> str:
    """What a simulation of ``days`` days holds, as ``warmup demo`` announces it: the bounce
    spike (and the resume it may bring) only on the days simulated. A 5-day demo spoke of a
    spike on days 17-18 it never had."""
    spike = [d for d in SPIKE_DAYS if d <= days]
    what = "full quota daily, ~1% bounces"
    if spike:
        on = f"day {spike[0]}" if len(spike) == 1 else f"days {spike[0]}-{spike[-1]}"
        what += (
            f", a 20% bounce spike on {on},\nresumed by hand the morning after a day paused whole"
        )
    return f"Simulating {days} days of a new Tencent Exmail mailbox ({what})..."


def simulate(
    ledger: Ledger,
    days: int = 40,
    now: dt.datetime | None = None,
    address: str = DEMO_MAILBOX,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[MailboxRow, list[tuple[dt.date, Allowance, int, str]]]:
    """Register an exmail mailbox ``days`` days before ``now`` and send its full quota daily.

    Normal days bounce about 1%, the spike days about 20% (hard and block), which holds
    the ramp, steps it back a stage and then pauses it (a spike day that sends nothing, a
    holiday, moves the spike to the next that sends); on the second paused morning (a day
    paused whole behind it) the simulated operator resumes it and it ramps again. Returns the
    mailbox and, per day, (local date, the morning's allowance, bounces that day, the day's
    status as ``warmup report`` words it: the allowance's, ``resumed`` on the resume's day).
    ``progress(days done, days)`` after each day.
    """
    import pendulum

    rng = random.Random(seed)
    now = now or api.now_utc()
    tz = "Asia/Shanghai"
    first = pendulum.instance(now).in_timezone(tz).start_of("day").subtract(days=days)
    box = api.add_mailbox(ledger, address, "exmail", timezone=tz)
    log: list[tuple[dt.date, Allowance, int, str]] = []
    paused = 0
    spiked = 0  # spike days had: a day the calendar closes (a holiday) sends nothing to spike
    for k in range(days):
        morning = first.add(days=k, hours=9)
        allowance = api.quota_for(ledger, box, morning)
        status = allowance.status
        if allowance.status == "paused":
            paused += 1
            if paused == RESUME_AFTER:  # the operator cleaned the list and resumed
                api.resume(ledger, address, at=morning)
                morning = morning.add(minutes=1)
                allowance = api.quota_for(ledger, box, morning)
                status = "resumed"
        n = allowance.remaining
        spike = k + 1 >= SPIKE_DAYS[0] and spiked < len(SPIKE_DAYS) and n > 0
        spiked += spike
        rate = 0.20 if spike else 0.01
        bounced = 0
        sends = []
        for i in range(n):
            at = morning.add(seconds=int(i * 9 * 3600 / max(n, 1)))
            rcpt = f"lead{k:02d}-{i:03d}@example.com"
            bounce = None
            if rng.random() < rate:
                bounced += 1
                kind = "hard" if rng.random() < 0.7 else "block"
                bounce = BounceIn(
                    rcpt,
                    kind,
                    at.add(minutes=20),
                    key=f"demo:{k}:{i}",
                    status="5.1.1" if kind == "hard" else "5.7.1",
                    source="demo",
                )
            sends.append(SendIn(rcpt, at, f"<demo-{k}-{i}@corp.example>", "demo", bounce))
        ledger.record(box, sends=sends)
        log.append((morning.date(), allowance, bounced, status))
        if progress:
            progress(k + 1, days)
    return box, log
