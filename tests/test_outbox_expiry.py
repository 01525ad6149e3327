"""A waiting message expires at its expiry (``--expires``), never before it, and is never sent
after it: the worker's clock passed in as ``now``, never slept through."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.gatekit import cli
from tests.outboxkit import (
    BOXES,
    add_box,
    clear_of_midnight,
    members_sink,
    midday_zone,
    plain,
    pool_of,
)
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.zonekit import kit_zone
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.ledger.values import day_start, local_day
from warmup.outbox.worker import Worker

T0 = clear_of_midnight(zone=kit_zone())  # hours before the pool's midnight (the kit's zone)


@pytest.fixture(autouse=True)
def _clock_starts_with_the_test() -> None:
    """T0 is taken again as each test starts. Taken once, at import, it lagged the real clock
    by as long as the tests before this one took: 40 minutes in a loaded CI run, where a
    mailbox the test adds by the CLI (at the real time) was still in the future of the
    worker's clock at T0 + 10 minutes and could send nothing."""
    global T0
    T0 = clear_of_midnight(zone=kit_zone())


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 2) as s:
        yield s


def _queue_three(
    ledger_url: str,  # noqa: F811
    expires: dt.timedelta,
    now: dt.datetime | None = None,
) -> list[int]:
    ledger = open_ledger(ledger_url)
    try:
        outbox = Outbox(ledger)
        ids = [
            outbox.add(plain(f"r{i}@example.com"), pool="P", expires=expires, now=now or T0)
            for i in range(3)
        ]
    finally:
        ledger.close()
    assert None not in ids
    return [i for i in ids if i is not None]


def test_a_message_whose_next_slot_is_after_its_expiry_waits_until_its_expiry(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A quota of 1 a day, three messages that expire an hour on, long before tomorrow's
    quota: one went, and the worker marked the two others expired at once, an hour before
    their expiry (up to a day before, when the quota is used in the morning). They wait until
    their expiry now, expired by the first pass at it, and are never sent."""
    pool_of(sink.port, tmp_path, n=1, daily=1)
    zone = kit_zone()  # the pool's
    midnight = day_start(local_day(T0, zone) + dt.timedelta(days=1), zone)
    expiry = T0 + dt.timedelta(hours=1)
    assert expiry < midnight  # the plan's next slot is after it
    first, second, third = _queue_three(ledger_url, dt.timedelta(hours=1))
    ledger = open_ledger(ledger_url)
    clock = [T0]  # the worker's clock, moved on by the test
    try:
        with Worker(ledger, clock=lambda: clock[0]) as worker:
            # the second is claimed and refused (quota used); the third is held with it
            assert worker.run_once().outcomes == {"sent": 1, "waiting": 2}
            row = ledger.message(second)  # put back by its own claim, until its expiry
            assert (row.state, row.next_attempt_at) == ("queued", expiry), row
            assert "quota" in (row.last_reply or ""), row.last_reply
            # the third not written: its pool is held (one row, m035) until tomorrow's quota
            assert ledger.message(third).updated_at == ledger.message(third).created_at
            [hold] = ledger.holds().values()
            assert hold.until == midnight and "quota" in hold.why, hold
            # 'queue list' and 'queue show' said it could go tomorrow, after its expiry
            listed = {m["id"]: m for m in json.loads(cli("queue", "list", "--json").stdout)}
            assert [(listed[m]["due"], listed[m]["expires_first"]) for m in (second, third)] == [
                (None, True),
                (None, True),
            ]
            table = cli("queue", "list").stdout
            assert f"expires {expiry.astimezone(dt.UTC):%Y-%m-%d %H:%M}" in table, table
            shown = cli("queue", "show", str(second)).stdout
            assert "due: not before its expiry: it waits until then and expires" in shown, shown
            clock[0] = expiry - dt.timedelta(seconds=1)
            assert worker.run_once().outcomes == {}  # not yet expired, not sent
            assert {ledger.message(m).state for m in (second, third)} == {"queued"}
            clock[0] = expiry
            assert worker.run_once().outcomes == {"expired": 2}
            clock[0] = midnight + dt.timedelta(minutes=1)  # tomorrow's quota: nothing to send
            assert worker.run_once().outcomes == {}
    finally:
        ledger.close()
    assert ledger.message(first).state == "sent"
    assert {ledger.message(m).state for m in (second, third)} == {"expired"}
    assert [m.rcpt_tos for m in sink.messages] == [("r0@example.com",)]


def test_a_message_waiting_for_tomorrow_goes_when_a_change_lets_it_before_its_expiry(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The two messages waiting for tomorrow's quota were expired at once; a member added to
    the pool ten minutes later (which makes the pool's waiting messages due) found nothing
    left to send, though both were still within their hour.

    The pool add runs at the real time and makes the messages due then, so the worker's clock
    starts at the real time too, in a zone where it is midday: from the last hours of a
    Shanghai day (after 13:00 UTC) moved back 3 hours, it met messages due in its future, and
    the test failed every afternoon."""
    zone = midday_zone()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pool_of(sink.port, tmp_path, n=1, daily=1, zone=zone)
    _queue_three(ledger_url, dt.timedelta(hours=1), now=start)
    ledger = open_ledger(ledger_url)
    clock = [start]  # the worker's clock, moved on by the test
    try:
        with Worker(ledger, clock=lambda: clock[0]) as worker:
            assert worker.run_once().outcomes == {"sent": 1, "waiting": 2}
            add_box(BOXES[1], sink.port, zone=zone)
            assert cli("pool", "add", "P", BOXES[1]).returncode == 0
            clock[0] = start + dt.timedelta(minutes=10)
            assert worker.run_once().outcomes == {"sent": 1, "waiting": 1}
    finally:
        ledger.close()
    assert len(sink.messages) == 2


def test_a_4xx_whose_back_off_ends_after_the_expiry_is_tried_once_more_before_it(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Two greylisted messages that expire in an hour, tried at 0, 5, 15 and 35 minutes: the
    next back-off (40 minutes) ends after their expiry, and the worker expired both at 35
    minutes, 25 minutes before their time. They are tried once more 5 minutes before their
    expiry (LAST_TRY): the one the server now takes goes; the other, refused again, has no
    try left before its expiry, waits until it, and expires there, never sent after it."""
    from warmup.outbox.delivery import LAST_TRY, backoff

    pool_of(sink.port, tmp_path, n=1, daily=50)
    greylisted = (450, "4.2.0 greylisted, try again later")
    sink.reject_rcpt = {"late@example.com": greylisted, "never@example.com": greylisted}
    ledger = open_ledger(ledger_url)
    try:
        outbox = Outbox(ledger)
        hour = dt.timedelta(hours=1)
        late = outbox.add(plain("late@example.com"), pool="P", expires=hour, now=T0)
        never = outbox.add(plain("never@example.com"), pool="P", expires=hour, now=T0)
        assert late is not None and never is not None
        expiry = T0 + hour
        lines: list[str] = []
        clock = [T0]  # the worker's clock, moved on by the test
        with Worker(ledger, clock=lambda: clock[0], log=lines.append) as worker:
            for at in (0, 5, 15, 35):  # minutes: tries after each back-off
                clock[0] = T0 + dt.timedelta(minutes=at)
                assert worker.run_once().outcomes == {"deferred": 2}
            assert clock[0] + backoff(4) > expiry  # the 4th back-off ends after the expiry
            last = expiry - LAST_TRY
            for mid in (late, never):
                row = ledger.message(mid)
                assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 4, last), row
                assert "greylisted" in (row.last_reply or "")
            assert any("its last try before its expiry" in line for line in lines), lines
            sink.reject_rcpt = {"never@example.com": greylisted}
            clock[0] = last
            assert worker.run_once().outcomes == {"sent": 1, "deferred": 1}
            row = ledger.message(never)
            # refused at its last try: none fits before its expiry, so it waits until it
            assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 5, expiry), row
            assert "no try fits before it" in lines[-1], lines[-1]
            listed = {m["id"]: m for m in json.loads(cli("queue", "list", "--json").stdout)}
            assert (listed[never]["due"], listed[never]["expires_first"]) == (None, True)
            clock[0] = expiry - dt.timedelta(seconds=1)
            assert worker.run_once().outcomes == {}  # neither tried nor expired
            sink.reject_rcpt = {}
            clock[0] = expiry
            assert worker.run_once().outcomes == {"expired": 1}  # at its expiry, not sent
    finally:
        ledger.close()
    assert [m.rcpt_tos for m in sink.messages] == [("late@example.com",)]
    gone = ledger.message(never)
    assert (gone.state, gone.attempts) == ("expired", 5)
    assert "greylisted" in (gone.last_reply or "")  # why it never went, kept
    assert ledger.message(late).state == "sent"


def _queue_one(ledger_url: str, expires: dt.timedelta) -> tuple[int, dt.datetime]:  # noqa: F811
    """A message to r@example.com queued now for pool P in campaign c: its id and expiry."""
    ledger = open_ledger(ledger_url)
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="c", expires=expires)
        assert mid is not None
        return mid, ledger.message(mid).expires_at
    finally:
        ledger.close()


def _three_agree(ledger_url: str, expiry: dt.datetime) -> None:  # noqa: F811
    """'run --once', 'queue status' and the live view of 'run' all say that campaign c's only
    waiting message expires (at ``expiry``) before it can go, not a time after it."""
    from warmup.outbox.view import render, snapshot
    from warmup.outbox.worker import due_stamp

    res = cli("run", "--once")
    assert res.returncode == 0, res.stderr
    assert "Next message due" not in res.stdout, res.stdout
    assert (
        f"Nothing queued can go before its expiry: the next message expires at "
        f"{due_stamp(expiry)}." in res.stdout
    ), res.stdout
    [campaign] = json.loads(cli("queue", "status", "--json").stdout)["campaigns"]
    day = local_day(expiry, kit_zone()).isoformat()  # the pool's day
    assert (campaign["expires_first"], campaign["expires_day"]) == (True, day), campaign
    assert f"expires {day}" in cli("queue", "status").stdout
    ledger = open_ledger(ledger_url)
    try:
        snap = snapshot(ledger, dt.datetime.now(dt.UTC))
    finally:
        ledger.close()
    assert [c["finish"] for c in snap["campaigns"]] == [f"expires {day}"]
    assert any(line.endswith(f"expires {day}") for line in render(snap)), render(snap)


def test_run_once_says_the_only_waiting_message_expires_before_its_mailbox_may_send(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Its one mailbox paused for two hours, a message that expires in one waits until its
    expiry: 'run --once' said "Next message due at" the pause's end, an hour after the
    message will have expired, where 'queue status' and the live view said it expires."""
    [box] = pool_of(sink.port, tmp_path, n=1, daily=50)
    assert cli("mailbox", "pause", box, "--reason", "x", "--until", "2h").returncode == 0
    _, expiry = _queue_one(ledger_url, dt.timedelta(hours=1))
    _three_agree(ledger_url, expiry)  # the first pass holds it until its expiry
    _three_agree(ledger_url, expiry)  # and a pass with nothing due says the same
    assert sink.messages == []


def test_run_once_says_a_message_with_no_try_left_before_its_expiry_expires_then(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A 4xx 3 minutes before its expiry: no try fits (the first back-off is 5 minutes), so
    the message waits until its expiry. 'run --once' said it was due then, as if it would go,
    and 'queue status' that the campaign would be done today."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"r@example.com": (450, "4.2.0 greylisted, try again later")}
    mid, expiry = _queue_one(ledger_url, dt.timedelta(minutes=3))
    _three_agree(ledger_url, expiry)
    ledger = open_ledger(ledger_url)
    try:
        row = ledger.message(mid)
    finally:
        ledger.close()
    assert (row.state, row.attempts, row.next_attempt_at) == ("queued", 1, expiry)


def test_run_once_names_the_next_message_that_can_still_go_not_one_that_expires_first(
    sink,
    ssl_cert_env,
    password,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Its mailbox paused for two hours: of two messages, the one that expires in an hour
    waits until its expiry, the other (three hours) goes when the pause ends. 'run --once'
    names that one, not the expiry of the first (nor a time after it)."""
    from warmup.outbox.worker import due_stamp

    [box] = pool_of(sink.port, tmp_path, n=1, daily=50)
    assert cli("mailbox", "pause", box, "--reason", "x", "--until", "2h").returncode == 0
    ledger = open_ledger(ledger_url)
    try:
        outbox = Outbox(ledger)
        for hours in (1, 3):
            outbox.add(plain(f"r{hours}@example.com"), pool="P", expires=dt.timedelta(hours=hours))
    finally:
        ledger.close()
    res = cli("run", "--once")
    assert res.returncode == 0, res.stderr
    until = dt.datetime.fromisoformat(
        json.loads(cli("quota", box, "--json").stdout)[0]["next_send_at"]
    )
    assert res.stdout.endswith(f"Next message due at {due_stamp(until)}.\n"), res.stdout
