"""Today's counts read from the rollups, not by counting today's rows: ``warmup quota`` of many
mailboxes and a reservation under a domain cap cost as much late in a busy day as in its
morning (SQLite's VM steps), and give exactly the counts the rows give (SQLite and PostgreSQL):
released slots left out, sends a clock a little ahead stamped, each mailbox's own local day
(DST days included), a domain whose mailboxes keep different zones."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from tests.conftest import SH, at
from warmup import Gate, api, open_ledger
from warmup.ledger.schema import MAILBOX, SEND
from warmup.ledger.values import Ask, day_start, local_day, made_by, utc

pytest_plugins = ["tests.pgkit"]  # ledger_url: SQLite and PostgreSQL

DAY = dt.date(2026, 11, 10)
BOXES = [f"m{k}@corp.example" for k in range(5)]


def vm_steps(ledger: Any, fn: Callable[[], Any]) -> tuple[int, Any]:
    """(SQLite VM steps of the connections ``fn`` checks out of ``ledger``, what it returns)."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    def watch(dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_progress_handler(count, 1)

    sa.event.listen(ledger.engine, "checkout", watch)
    try:
        out = fn()
    finally:
        sa.event.remove(ledger.engine, "checkout", watch)
        ledger.engine.dispose()  # no connection keeps the handler
    return steps[0], out


def _send(ledger: Any, address: str, n: int, when: dt.datetime, tag: str) -> None:
    rcpts = [f"{tag}{k}@r{k % 7}.example" for k in range(n)]
    assert api.record_send(ledger, address, rcpts, when) == n


def _quotas(ledger: Any, when: dt.datetime) -> tuple[int, list[int]]:
    boxes = [ledger.mailbox(a) for a in BOXES]
    api.quotas(ledger, boxes, when)  # the walk memos kept: the next look is the warm one
    steps, answers = vm_steps(ledger, lambda: api.quotas(ledger, boxes, when))
    return steps, [a.sent for a in answers]


def test_quota_of_many_mailboxes_late_in_a_busy_day_costs_what_one_in_the_morning_does(
    ledger_path,
):
    ledger = open_ledger()
    for address in BOXES:
        api.add_mailbox(ledger, address, "exmail", timezone=SH)
        _send(ledger, address, 20, at(DAY, 9), "early")
    morning, sent = _quotas(ledger, at(DAY, 9, 30))
    assert sent == [20] * 5
    for address in BOXES:
        _send(ledger, address, 1000, at(DAY, 10), "busy")
    evening, sent = _quotas(ledger, at(DAY, 18))
    assert sent == [1020] * 5
    # Counting today's rows read each of them (~10 steps a row: 50,000 more).
    assert evening < morning + 2000, (morning, evening)
    ledger.close()


# Each mailbox's local day: two in Berlin (summer time ends on 25 October 2026: a day of 25
# hours), one in New York (its ends on 1 November), one of another domain.
ZONES = {
    "a@corp.example": "Europe/Berlin",
    "b@corp.example": "Europe/Berlin",
    "c@corp.example": "America/New_York",
    "x@other.example": "Europe/Berlin",
}
DST_DAYS = [dt.date(2026, 10, d) for d in (24, 25, 26)] + [
    dt.date(2026, 10, 31),
    dt.date(2026, 11, 1),
    dt.date(2026, 11, 2),
]
FLAT_CAPPED = """name = "flat-capped"
ceiling = 100000
growth_factor = 2.0
domain_cap = 100000

[[stage]]
name = "flat"
days = 0
daily = 100000
interval = "0s"

[recipient_domains]
default = 100000
"""


def _instant(rng: random.Random, tz: str) -> dt.datetime:
    """A random instant of one of DST_DAYS in ``tz``, often minutes from a local midnight."""
    day = rng.choice(DST_DAYS)
    if rng.random() < 0.4:
        midnight = pendulum.datetime(day.year, day.month, day.day, tz=tz)
        return midnight.add(seconds=rng.randint(-12 * 60, 12 * 60)).in_timezone("UTC")
    local = pendulum.datetime(day.year, day.month, day.day, tz=tz)
    return local.add(seconds=rng.randint(0, 25 * 3600 - 1)).in_timezone("UTC")


def _rows(ledger: Any) -> list[tuple[str, str, dt.datetime, str]]:
    """Every send row: (mailbox address, recipient, at, outcome)."""
    s, m = SEND.c, MAILBOX.c
    with ledger.read() as conn:
        return [
            (a, r, utc(t), o)
            for a, r, t, o in conn.execute(
                sa.select(m.address, s.recipient, s.at, s.outcome).join_from(
                    SEND, MAILBOX, s.mailbox_id == m.id
                )
            )
        ]


def _expected(
    rows: list[tuple[str, str, dt.datetime, str]], address: str, q: dt.datetime
) -> tuple[int, dt.datetime | None, int, dict[str, int]]:
    """What the rows say of ``address`` at ``q``: today's sends, the last send, the domain's
    sends today and today's sends per recipient domain (released slots left out)."""
    tz = ZONES[address]
    start = day_start(local_day(q, tz), tz)
    made, seen = made_by(q, tz)
    counted = [r for r in rows if r[3] != "released"]
    mine = [r for r in counted if r[0] == address]
    today = [r for r in mine if start <= r[2] <= made]
    domain = address.rsplit("@", 1)[1]
    dsent = sum(1 for r in counted if r[0].endswith("@" + domain) and start <= r[2] <= made)
    per: dict[str, int] = {}
    for r in today:
        d = r[1].rsplit("@", 1)[1].lower()
        per[d] = per.get(d, 0) + 1
    last = max((r[2] for r in mine if r[2] <= seen), default=None)
    return len(today), last, dsent, per


def _read(snap: Any, q: dt.datetime, tz: str) -> tuple[int, dt.datetime | None, int, dict]:
    h = snap.history
    today = local_day(q, tz)
    sent = next((d.sent for d in h.days if d.day == today), 0)
    last = None if h.last_send_at is None else utc(h.last_send_at)
    return sent, last, h.domain_sent_today, dict(h.recipient_domains_today)


@pytest.mark.parametrize("seed", [1, 2])
def test_todays_counts_are_the_rows_counts(ledger_url, tmp_path, seed):
    rng = random.Random(seed)
    ledger = open_ledger(ledger_url)
    policy = tmp_path / "flat-capped.toml"
    policy.write_text(FLAT_CAPPED)
    for address, tz in ZONES.items():
        api.add_mailbox(ledger, address, "exmail", timezone=tz, policy=str(policy))
    clock = [dt.datetime(2026, 10, 24, tzinfo=dt.UTC)]
    for address, tz in ZONES.items():
        when = [_instant(rng, tz) for _ in range(40)]
        for k, t in enumerate(when):
            rcpt = f"r{seed}-{k}@{rng.choice(['a.example', 'B.example', 'c.example'])}"
            assert api.record_send(ledger, address, [rcpt], t) == 1
        # Slots given back (released) through the gate: they count nowhere.
        with Gate(address, ledger=ledger, clock=lambda: clock[0], password="x") as gate:
            for k in range(12):
                clock[0] = _instant(rng, tz)
                gate.reserve([f"g{seed}-{k}@a.example"]).settle(
                    "released" if k % 3 else "sent", now=clock[0]
                )
    rows = _rows(ledger)
    assert any(r[3] == "released" for r in rows)
    asks = [(ledger.mailbox(a), Ask(domain_cap=True, recipient_caps=True)) for a in ZONES]
    for _ in range(25):
        q = _instant(rng, rng.choice(list(ZONES.values())))
        many = ledger.histories(asks, q)
        for (box, _), snap in zip(asks, many, strict=True):
            want = _expected(rows, box.address, q)
            assert _read(snap, q, box.timezone) == want, (box.address, q)
            one = ledger.history(box, q, domain_cap=True, recipient_caps=True)
            assert _read(one, q, box.timezone) == want, (box.address, q)
    ledger.close()
