"""Today's counts read from the rollups, not by counting today's rows: ``warmup quota`` of many
mailboxes and a reservation under a domain cap cost as much late in a busy day as in its
morning (SQLite's VM steps), and give exactly the counts the rows give (SQLite and PostgreSQL):
released slots left out, sends a clock a little ahead stamped, each mailbox's own local day
(DST days included), a domain whose mailboxes keep different zones."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from tests.conftest import SH, at, ledger_before, vm_steps
from tests.outboxkit import midday_zone
from tests.test_pg_concurrency import _domain_worker, race_all
from warmup import Gate, NotAllowed, api, open_ledger
from warmup.ledger import SendIn
from warmup.ledger.schema import DOMAIN_DAY, MAILBOX, SEND
from warmup.ledger.values import Ask, day_start, local_day, made_by, utc

pytest_plugins = ["tests.pgkit"]  # ledger_url: SQLite and PostgreSQL

DAY = dt.date(2026, 11, 10)
MIN = dt.timedelta(minutes=1)
BOXES = [f"m{k}@corp.example" for k in range(5)]


def _send(ledger: Any, address: str, n: int, when: dt.datetime, tag: str) -> None:
    rcpts = [f"{tag}{k}@r{k % 7}.example" for k in range(n)]
    assert api.record_send(ledger, address, rcpts, when) == n


def _quotas(ledger: Any, when: dt.datetime) -> tuple[int, list[int]]:
    boxes = [ledger.mailbox(a) for a in BOXES]
    api.quotas(ledger, boxes, when)  # the walk memos kept: the next look is the warm one
    steps, answers = vm_steps(ledger, lambda: api.quotas(ledger, boxes, when))
    return steps, [a.sent for a in answers]


@pytest.mark.parametrize(
    "capped", [None, False, True], ids=["preset", "domain cap", "recipient-domain caps"]
)
def test_quota_of_many_mailboxes_late_in_a_busy_day_costs_what_one_in_the_morning_does(
    ledger_path, tmp_path, capped
):
    ledger = open_ledger()
    policy = None if capped is None else _capped(tmp_path, 10**5, recipients=capped)
    for address in BOXES:
        api.add_mailbox(ledger, address, "exmail", timezone=SH, policy=policy)
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


# Each mailbox's local day: Berlin (summer time ends on 25 October 2026: a day of 25 hours) and
# New York (its ends on 1 November); a domain in each zone (its count from the rollup) and one
# whose mailboxes keep both (their local days part: counted from the rows).
ZONES = {
    "a@corp.example": "Europe/Berlin",
    "b@corp.example": "Europe/Berlin",
    "c@ny.example": "America/New_York",
    "d@ny.example": "America/New_York",
    "x@mixed.example": "Europe/Berlin",
    "y@mixed.example": "America/New_York",
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
        when = [_instant(rng, tz) for _ in range(30)]
        for k, t in enumerate(when):
            rcpt = f"r{seed}-{k}@{rng.choice(['a.example', 'B.example', 'c.example'])}"
            assert api.record_send(ledger, address, [rcpt], t) == 1
        # Slots given back (released) through the gate: they count nowhere.
        with Gate(address, ledger=ledger, clock=lambda: clock[0], password="x") as gate:
            for k in range(9):
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


def _capped(tmp_path: Any, cap: int, recipients: bool = True) -> str:
    """A flat policy of a domain cap ``cap`` (and recipient-domain caps no test reaches)."""
    policy = tmp_path / f"dcap{cap}{'r' * recipients}.toml"
    text = FLAT_CAPPED.replace("domain_cap = 100000", f"domain_cap = {cap}")
    policy.write_text(text if recipients else text.split("[recipient_domains]")[0])
    return str(policy)


@pytest.mark.parametrize("recipients", [False, True], ids=["domain cap", "and recipient caps"])
def test_a_reservation_under_a_domain_cap_late_in_a_busy_day_costs_what_one_in_the_morning_does(
    ledger_path, tmp_path, recipients
):
    ledger = open_ledger()
    for address in BOXES:
        api.add_mailbox(
            ledger, address, "exmail", timezone=SH, policy=_capped(tmp_path, 10**5, recipients)
        )
        _send(ledger, address, 20, at(DAY, 9), "early")

    def look(when: dt.datetime, tag: str) -> int:
        """The steps of a reservation and its settlement by a new gate (the memo kept by one
        before)."""
        with Gate(BOXES[0], ledger=ledger, clock=lambda: when, password="x") as gate:
            gate.reserve([f"{tag}-warm@r1.example"]).settle("sent")

        def one() -> None:
            with Gate(BOXES[0], ledger=ledger, clock=lambda: when, password="x") as gate:
                gate.reserve([f"{tag}@r1.example"]).settle("sent")

        return vm_steps(ledger, one)[0]

    morning = look(at(DAY, 9, 30), "morning")
    for address in BOXES:
        _send(ledger, address, 1000, at(DAY, 10), "busy")
    evening = look(at(DAY, 18), "evening")
    # Counting the domain's rows (and the mailbox's per recipient domain) read each of today's
    # 5,000 more (~10 steps a row).
    assert evening < morning + 2000, (morning, evening)
    ledger.close()


@pytest.mark.parametrize("tomorrows", [False, True], ids=["today's only", "stamped tomorrow"])
def test_a_reservation_under_a_domain_cap_counts_what_the_rows_count(
    ledger_url, tmp_path, tomorrows
):
    """The gate counts the domain's sends stamped from the mailbox's midnight on (a send a
    clock ahead stamped after midnight too): the cap is reached exactly, released slots and
    yesterday's sends left out, on the day summer time ends."""
    ledger = open_ledger(ledger_url)
    day, tz = dt.date(2026, 10, 25), "Europe/Berlin"
    noon = pendulum.datetime(2026, 10, 25, 12, tz=tz).in_timezone("UTC")
    rows = 0
    for address in ("a@corp.example", "b@corp.example"):
        api.add_mailbox(ledger, address, "exmail", timezone=tz, policy=_capped(tmp_path, 10**5))
    b = ledger.mailbox("b@corp.example")
    # yesterday's last minutes (a 25-hour day after them), today's, and some given back
    api.record_send(ledger, b.address, ["y1@r.example", "y2@r.example"], at(day, 0, 0, tz) - MIN)
    api.record_send(ledger, b.address, [f"t{k}@r.example" for k in range(7)], at(day, 0, 30, tz))
    rows += 7
    with Gate(b.address, ledger=ledger, clock=lambda: noon - 60 * MIN, password="x") as gate:
        for k in range(3):
            gate.reserve([f"g{k}@r.example"]).settle("released" if k else "sent")
    rows += 1
    if tomorrows:  # stamped by a clock ahead, just after midnight: the gate counts it today
        api.record_send(ledger, b.address, ["z@r.example"], at(day + dt.timedelta(1), 0, 1, tz))
        rows += 1
    a = ledger.mailbox("a@corp.example")
    ledger.update_mailbox(a.address, policy=_capped(tmp_path, rows + 1))
    with Gate(a.address, ledger=ledger, clock=lambda: noon, password="x") as gate:
        gate.reserve(["ok@r.example"]).settle("sent")
        with pytest.raises(NotAllowed):
            gate.reserve(["over@r.example"])
    ledger.close()


def test_processes_racing_under_a_domain_cap_on_a_busy_day_reserve_exactly_the_cap(
    ledger_url, tmp_path
):
    """Workers of two mailboxes of a domain, in processes of their own, race for what the domain
    cap leaves of a day that already holds sends (some given back): the domain's sends today,
    as its rows count them, end exactly at the cap. The workers reserve at the real time, after
    the test's own read of it: the mailboxes live where it is midday (in Shanghai, a race that
    began after its midnight, 16:00 UTC, found the day empty and reserved the whole cap)."""
    cap, boxes = 40, BOXES[:2]
    now = dt.datetime.now(dt.UTC)
    zone = midday_zone(now)
    ledger = open_ledger(ledger_url)
    for address in boxes:
        api.add_mailbox(ledger, address, "exmail", timezone=zone, policy=_capped(tmp_path, cap))
    _send(ledger, boxes[1], 15, now - MIN, "before")
    with Gate(boxes[1], ledger=ledger, password="x") as gate:
        for k in range(4):
            gate.reserve([f"given-back{k}@r0.example"]).settle("released")
    ledger.close()
    ctx = multiprocessing.get_context("fork")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=_domain_worker, args=(ledger_url, box, f"{box[:2]}{n}", ready, go, results)
        )
        for box in boxes
        for n in range(3)
    ]
    outs = race_all(procs, ready, go, results)
    assert "".join(err for _, _, err in outs) == ""
    ledger = open_ledger(ledger_url)
    rows = _rows(ledger)
    ledger.close()
    start = day_start(local_day(now, zone), zone)
    today = [r for r in rows if r[3] != "released" and r[2] >= start]
    assert sum(got for _, got, _ in outs) == cap - 15
    assert len(today) == cap


def _domain_rollup(ledger: Any) -> dict[tuple[str, dt.date, str], int]:
    """The ``domain_day`` rows with sends: (mailbox address, day, domain) -> sent."""
    d, m = DOMAIN_DAY.c, MAILBOX.c
    with ledger.read() as conn:
        return {
            (a, day, dom): n
            for a, day, dom, n in conn.execute(
                sa.select(m.address, d.day, d.domain, d.sent)
                .join_from(DOMAIN_DAY, MAILBOX, d.mailbox_id == m.id)
                .where(d.sent != 0)
            )
        }


def _domain_rows(ledger: Any) -> dict[tuple[str, dt.date, str], int]:
    """The same counted from the send rows (every outcome but released)."""
    out: dict[tuple[str, dt.date, str], int] = {}
    for address, rcpt, when, outcome in _rows(ledger):
        if outcome != "released":
            key = (address, local_day(when, ledger.mailbox(address).timezone), _dom(rcpt))
            out[key] = out.get(key, 0) + 1
    return out


def _dom(rcpt: str) -> str:
    return rcpt.split("@", 1)[-1].lower()


def test_the_domain_rollup_follows_every_write_and_an_old_ledger_is_filled(ledger_url, tmp_path):
    """``domain_day`` (m030) counts each mailbox's sends per local day and recipient domain as
    the rows do, through records, imports, released slots, a time zone change and a mailbox's
    removal; a ledger from before m030 gets it filled from its sends."""
    rng = random.Random(5)
    ledger = open_ledger(ledger_url)
    for address, tz in ZONES.items():
        api.add_mailbox(ledger, address, "exmail", timezone=tz, policy=_capped(tmp_path, 10**5))
    clock = [dt.datetime(2026, 10, 24, tzinfo=dt.UTC)]
    for address, tz in ZONES.items():
        box = ledger.mailbox(address)
        rcpts = [f"r{k}@{rng.choice(['a.example', 'B.example'])}" for k in range(20)]
        ledger.record(box, sends=[SendIn(r, _instant(rng, tz), f"<{address}{r}>") for r in rcpts])
        api.record_send(ledger, address, ["one@C.example"], _instant(rng, tz))
        with Gate(address, ledger=ledger, clock=lambda: clock[0], password="x") as gate:
            for k in range(6):
                clock[0] = _instant(rng, tz)
                gate.reserve([f"g{k}@a.example", f"h{k}@D.example"]).settle(
                    "released" if k % 2 else "sent", now=clock[0]
                )
    log = tmp_path / "log.csv"
    lines = [f"{a},i{k}@E.example,{_instant(rng, tz).isoformat()}" for k in range(5)
             for a, tz in ZONES.items()]  # fmt: skip
    log.write_text("mailbox,recipient,sent_at\n" + "\n".join(lines) + "\n")
    assert api.import_csv(ledger, log).sends == len(lines)
    assert _domain_rollup(ledger) == _domain_rows(ledger)
    ledger.update_mailbox("c@ny.example", timezone="Asia/Tokyo")  # its days re-derived
    assert {k for k in _domain_rollup(ledger) if k[0] == "c@ny.example"}
    assert _domain_rollup(ledger) == _domain_rows(ledger)
    ledger.remove_mailbox("d@ny.example")
    assert _domain_rollup(ledger) == _domain_rows(ledger)
    assert ledger.rollup_mismatches() == []
    with ledger.write() as conn:  # a row gone wrong is reported (warmup's rollup check)
        conn.execute(DOMAIN_DAY.update().where(DOMAIN_DAY.c.domain == "c.example").values(sent=9))
    wrong = ledger.rollup_mismatches()
    assert wrong and all(len(k) == 3 and k[2] == "c.example" and r == (9,) for k, r, _ in wrong)
    ledger.close()

    # The same ledger as m029 left it (no domain_day): the migration fills it from the sends.
    ledger = ledger_before(ledger_url, "m030_domain_day")
    with ledger.write() as conn:
        conn.execute(sa.text("DROP TABLE domain_day"))
    ledger.close()
    ledger = open_ledger(ledger_url)
    assert ledger.pending_migrations() == []
    assert _domain_rollup(ledger) == _domain_rows(ledger) != {}
    ledger.close()
