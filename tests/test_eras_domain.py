"""Policy eras x domain caps: every way of asking about a mailbox whose domain cap came and went
gives the same answer, on both backends (warmup.policy.eras, warmup.policies.capped_before).

Each test here was a disagreement or a wrong answer found by driving such ledgers through the
CLI and the library (``warmup quota``, one and many, reports, plans, the gate), cold and from
memos.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.conftest import SH, policy_changes_at
from tests.gatekit import cli
from tests.outboxkit import add_box, midday_zone, plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_outbox_worker import Clock
from tests.test_policy_eras import _file, eras_zone, text
from warmup import Outbox, api, instants, policies, reports
from warmup.gate import Gate
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.ledger.values import local_day
from warmup.outbox.worker import Worker
from warmup.policy.plan import MailboxPlan, PlanDay, combine

A, B = "a@corp.example", "b@corp.example"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _noons(first: dt.date, n: int, zone: dt.tzinfo | None = None) -> list[dt.datetime]:
    return [
        dt.datetime.combine(first + dt.timedelta(days=k), dt.time(12), zone or eras_zone())
        for k in range(n)
    ]


def _two_boxes(
    ledger: Ledger,
    policy: str | dict[str, str],
    per_day: dict[str, int],
    days: int = 10,
    before: int = 10,
) -> list[dt.datetime]:
    """``A`` and ``B`` on ``policy`` (or each on its own), each sending ``per_day[address]`` at
    noon (Shanghai) on each of ``days`` days from ``before`` days before today; those noons."""
    policy_of = policy if isinstance(policy, dict) else dict.fromkeys(per_day, policy)
    first = local_day(_now(), SH) - dt.timedelta(days=before)
    noons = _noons(first, days)
    for address, n in per_day.items():
        box = api.add_mailbox(
            ledger, address, "exmail", timezone=SH, policy=policy_of[address], started=first
        )
        ledger.record(
            box,
            sends=[
                SendIn(f"{address[0]}{k}-{i}@ex.example", at + dt.timedelta(minutes=i))
                for k, at in enumerate(noons)
                for i in range(n)
            ],
        )
    return noons


@pytest.mark.parametrize(
    "key",
    [
        '"domain\\u005fcap"',  # a basic-string key with an escape: the same key to TOML
        '"\\u0064omain_cap"',
        '"domain\\U0000005Fcap"',
    ],
)
def test_a_domain_cap_under_an_escaped_key_is_seen_in_the_versions_before(
    ledger_url,  # noqa: F811
    tmp_path: Path,
    key: str,
) -> None:
    """Version 1 caps the domain at 45 under a key TOML reads as ``domain_cap`` though its text
    does not spell it so; version 2 (three days ago) drops the cap. A (10 a day beside B's 30)
    qualified on each capped day (10 of the 15 left it): day 8, not day 1."""
    ledger = open_ledger(ledger_url)
    try:
        policies.add(ledger, "p", _file(tmp_path, "p", f"{key} = 45\n" + text()))
        assert policies.resolve(ledger, "p").domain_cap == 45
        noons = _two_boxes(ledger, "p", {A: 10, B: 30})
        policies.update(ledger, "p", _file(tmp_path, "p2", text()))
        policy_changes_at(ledger, noons[7])
        cold = api.quota(ledger, A, _now())
        assert (cold.day, cold.stage) == (8, "weeks 2-4"), cold.reasons
        batch = {a.mailbox: a for a in api.quotas(ledger, ledger.mailboxes(), _now())}
        assert batch[A].day == 8
        frame = reports.daily(ledger, [A], at=_now())
        assert int(frame["warmup_day"].iloc[-1]) == 8
        with Gate(A, ledger=ledger, password="x") as gate:
            assert gate.policy.domain_cap
    finally:
        ledger.close()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), eras_zone())


@pytest.mark.parametrize("change", [False, True], ids=["capped", "cap-dropped-later"])
def test_a_plan_counts_what_the_domain_sent_today_toward_tomorrow(
    ledger_url,  # noqa: F811
    tmp_path: Path,
    change: bool,
) -> None:
    """B sent 40 of the domain's 45 this morning: A (10 a day so far) can deliver 5 today, and
    the plan says so; once A sends them, tomorrow's ``warmup quota`` counts today as a
    qualifying day (5 of the 5 the cap left it). The plan's tomorrow said it would not, judging
    today as if the domain had sent nothing. Asked before a version that drops the cap
    (``--at``), too: the days then are the capped version's."""
    ledger = open_ledger(ledger_url)
    try:
        policies.add(ledger, "p", _file(tmp_path, "p", "domain_cap = 45\n" + text()))
        noons = _two_boxes(ledger, "p", {A: 10, B: 30}, days=10, before=14)
        day = noons[-1].date() + dt.timedelta(days=1)  # the day asked about, 4 days ago
        ledger.record(
            ledger.mailbox(B),
            sends=[SendIn(f"early{i}@ex.example", _at(day, 8, i)) for i in range(40)],
        )
        if change:
            policies.update(ledger, "p", _file(tmp_path, "p2", text()))
            policy_changes_at(ledger, _at(day + dt.timedelta(days=1), 12))
        today, tomorrow, _ = api.plan(ledger, A, 3, _at(day, 10))
        assert (today.day, today.quota, today.planned) == (11, 50, 5), today.notes
        if not change:  # what the plan counts, said beside the cap
            notes = api.mailbox_plan(ledger, ledger.mailbox(A), 3, _at(day, 10)).notes
            said = "today counts what the others sent so far, the days ahead this mailbox alone"
            assert any(said in n for n in notes), notes
        ledger.record(
            ledger.mailbox(A),
            sends=[SendIn(f"a{i}@ex.example", _at(day, 10, 30 + i)) for i in range(5)],
        )
        then = api.quota(ledger, A, _at(day + dt.timedelta(days=1), 9))
        assert then.day == 12, then.reasons  # today qualified: 5 of the 5 the cap left
        assert tomorrow.day == then.day
    finally:
        ledger.close()


@pytest.mark.parametrize("moved", [False, True], ids=["a-capped", "moved-three-days-ago"])
def test_a_pools_drain_counts_an_uncapped_siblings_sends_against_the_domain_cap(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path: Path,
    moved: bool,
) -> None:
    """A pool of A (its policy caps the domain at 45) and B (its policy has no cap), or the
    two swapped three days ago. The gate of the capped one counts every send of the domain,
    B's too, so once the other has sent 45 or more it lets nothing through: the worker sends
    60 (or 50) today, not 105 (or 95). ``queue status`` said the 90 queued all go today.

    'queue status' reads the real time: the worker's clock starts at it, the mailboxes in a
    zone where it is midday (at clear_of_midnight(), 3 hours back in the last hours of a
    Shanghai day, the worker sent on the day before the status's and the dates were a day off)."""
    zone, start = midday_zone(), _now().replace(microsecond=0)
    capped = _file(tmp_path, "c", "domain_cap = 45\n" + text())
    free = _file(tmp_path, "u", text())
    add_box(A, sink.port, str(capped), zone)
    add_box(B, sink.port, str(free), zone)
    assert cli("pool", "add", "P", A, B).returncode == 0
    ledger = open_ledger(ledger_url)
    try:
        first = local_day(start, zone) - dt.timedelta(days=10)
        noons = _noons(first, 10, instants.zone(zone))
        for address, n in ((A, 10), (B, 30)):
            ledger.record(
                ledger.mailbox(address),
                sends=[
                    SendIn(f"{address[0]}{k}-{i}@ex.example", at + dt.timedelta(minutes=i))
                    for k, at in enumerate(noons)
                    for i in range(n)
                ],
            )
        if moved:
            assert cli("mailbox", "set", A, "--policy", "u").returncode == 0
            assert cli("mailbox", "set", B, "--policy", "c").returncode == 0
            policy_changes_at(ledger, noons[7])
        outbox = Outbox(ledger)
        for i in range(90):
            outbox.add(plain(f"lead{i}@example.com"), pool="P", now=start)
        status = cli("queue", "status", "--json")
        assert status.returncode == 0, status.stderr
        [target] = json.loads(status.stdout)["targets"]
        today = local_day(start, zone)
        clock = Clock(start)
        with Worker(ledger, clock=clock) as worker:
            while worker.run_once().outcomes.get("sent"):
                clock.at += dt.timedelta(seconds=1)
        assert len(sink.messages) == (50 if moved else 60)
        assert api.quota(ledger, A, clock.at).remaining == 0
        assert api.quota(ledger, B, clock.at).remaining == 0
        # today's 60 (50), the rest tomorrow
        assert target["finish"] == (today + dt.timedelta(days=1)).isoformat(), target
    finally:
        ledger.close()


@pytest.mark.parametrize("moved", [False, True], ids=["a-capped", "moved-three-days-ago"])
def test_a_volume_counts_an_uncapped_siblings_sends_against_the_domain_cap(
    ledger_url,  # noqa: F811
    tmp_path: Path,
    moved: bool,
) -> None:
    """A (its policy caps the domain at 45) and B (no cap), or the two swapped three days ago:
    the capped one's gate counts B's sends too, and B, with more left, goes first as the
    worker takes them: 60 (50) today, not 105 (95). ``plan --volume 90`` said today, where
    ``queue status`` for a pool of the two says tomorrow."""
    ledger = open_ledger(ledger_url)
    try:
        policies.add(ledger, "c", _file(tmp_path, "c", "domain_cap = 45\n" + text()))
        policies.add(ledger, "u", _file(tmp_path, "u", text()))
        noons = _two_boxes(ledger, {A: "c", B: "u"}, {A: 10, B: 30})
        if moved:
            api.set_mailbox(ledger, A, policy="u")
            api.set_mailbox(ledger, B, policy="c")
            policy_changes_at(ledger, noons[7])
        plan, _ = api.plan_each(ledger, [A, B], volume=90)
        today = local_day(_now(), SH)
        assert plan.reached == today + dt.timedelta(days=1), plan.planned
        assert plan.reached_day == 2
    finally:
        ledger.close()


def test_capped_mailboxes_held_by_the_cap_leave_an_uncapped_sibling_its_turns() -> None:
    """A and C (cap 56, 53 and 59 to go) and B (no cap, 21 to go) of one domain, one day. The
    capped ones, held by the cap, lose one of what they have left at each send of either, so
    by the time they are down to B's 21 they have sent 35, and from then on B's turns use up
    the rest: about 56 in the day, one message at a time. Taken in runs, the capped ones were
    let spend the whole cap (56) before B sent its 21 beside it: 77."""
    day = dt.date(2026, 12, 7)

    def plan(address: str, cap: int | None, n: int) -> MailboxPlan:
        return MailboxPlan(address, "p", (PlanDay(day, 1, "s", n, n, n),), (), cap)

    plans = [plan(A, 56, 53), plan(B, None, 21), plan("c@corp.example", 56, 59)]
    got = combine(plans, 1000).planned
    assert got is not None and abs(got - 56) <= 2, got  # within a turn each of one at a time


def test_a_mailbox_whose_domain_cap_is_past_does_not_lock_its_domain(pg_url, tmp_path) -> None:
    """A mailbox whose policy capped the domain in an earlier version reads the domain's days
    (for the days the cap judged) but its sends today are bound by no cap: its reservations
    locked every mailbox of the domain all the same (PostgreSQL), each one waiting on any
    reservation of a sibling on another host. One goes through while a sibling is locked."""
    import threading

    import sqlalchemy as sa

    ledger = open_ledger(pg_url)
    try:
        policies.add(ledger, "p", _file(tmp_path, "p", "domain_cap = 45\n" + text()))
        _two_boxes(ledger, "p", {A: 10, B: 30}, days=10)
        policies.update(ledger, "p", _file(tmp_path, "p2", text()))
        policy_changes_at(ledger, _now() - dt.timedelta(days=3))
        holder = sa.create_engine(pg_url)
        done = threading.Event()
        errors: list[BaseException] = []
        with Gate(A, ledger=ledger, password="x", settle_after=None) as gate:
            assert gate.policy.domain_cap and not gate.policy.caps_today

            def reserve() -> None:
                try:
                    gate.reserve(["lead@example.com"], now=_now()).settle("released")
                except BaseException as exc:  # reaches the test's thread
                    errors.append(exc)
                finally:
                    done.set()

            with holder.connect() as conn, conn.begin():
                conn.execute(
                    sa.text("SELECT id FROM mailbox WHERE address = :b FOR UPDATE"), {"b": B}
                )
                racer = threading.Thread(target=reserve)
                racer.start()
                went = done.wait(timeout=30)  # the bound of a test waiting for a condition
            racer.join(timeout=60)
        holder.dispose()
        assert errors == []
        assert went, "the reservation waited on the lock of a sibling mailbox"
    finally:
        ledger.close()
