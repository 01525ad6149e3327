"""A held target costs one row, whatever its backlog (``outbox_hold``, m035): a paced pool's
backlog was written again at every slot; every change that may let it send ends the hold."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.gatekit import cli, policy_file
from tests.outboxkit import (
    add_box,
    clear_of_midnight,
    members_sink,
    midday_zone,
    plain,
    pool_of,
)
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox
from warmup.ledger import Ledger, open_ledger
from warmup.outbox.worker import Worker

T0 = clear_of_midnight()
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def sink3(pki) -> Iterator[SmtpSink]:  # type: ignore[no-untyped-def]
    with members_sink(pki, 3) as s:
        yield s


def _rows(ledger: Ledger) -> dict[int, tuple[Any, ...]]:
    """Every message's written columns, by id."""
    return {
        m.id: (m.state, m.next_attempt_at, m.last_reply, m.updated_at, m.attempts)
        for m in ledger.messages()
    }


def _written(before: dict[int, tuple[Any, ...]], after: dict[int, tuple[Any, ...]]) -> int:
    return sum(before.get(i) != row for i, row in after.items())


def _paced_pool(
    port: int,
    tmp_path: Any,
    url: str,
    backlog: int,
    zone: str | None = None,
    start: dt.datetime = T0,
) -> tuple[Ledger, list[str]]:
    boxes = pool_of(port, tmp_path, n=2, daily=1000, interval="1h", zone=zone)
    ledger = open_ledger(url)
    outbox = Outbox(ledger)
    for i in range(backlog):
        outbox.add(plain(f"r{i}@example.com"), pool="P", now=start)
    return ledger, boxes


@pytest.mark.parametrize("backlog", [12, 120])
def test_a_paced_pools_slot_writes_the_messages_it_sends_not_its_backlog(
    backlog,
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A pool of 2, one send an hour each, a backlog: at each slot both members sent one and
    the worker wrote every other queued message again (its time and reason), so a slot cost
    grew with the backlog (50,000 messages: 0.44 s on SQLite). Now a slot writes the two it
    sent and the one whose claim found the pool unable to send, whatever the backlog, and the
    pool sends at every member's slot as before."""
    ledger, boxes = _paced_pool(sink.port, tmp_path, ledger_url, backlog)
    clock = [T0]
    try:
        with Worker(ledger, clock=lambda: clock[0]) as worker:
            assert worker.run_once().outcomes == {"sent": 2, "waiting": backlog - 2}
            for slot in (1, 2, 3):
                clock[0] = T0 + slot * HOUR - dt.timedelta(minutes=30)  # held: nothing
                before = _rows(ledger)
                assert worker.run_once().outcomes == {}
                assert _written(before, _rows(ledger)) == 0
                clock[0] = T0 + slot * HOUR  # the members' slot
                before = _rows(ledger)
                done = worker.run_once()
                assert done.outcomes == {"sent": 2, "waiting": backlog - 2 * (slot + 1)}
                assert _written(before, _rows(ledger)) == 3, slot
        froms = [str(m.message["From"]) for m in sink.messages]
        assert sorted(froms) == sorted(boxes * 4)  # each member at each of its slots
    finally:
        ledger.close()


def _release_by_hand(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    ledger.release(ledger.mailbox(boxes[1]), now)


def _new_member(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    add_box("c@corp.example", port)
    ledger.add_pool("P", ["c@corp.example"], None, now)


def _mailbox_set(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    ledger.update_mailbox(boxes[0], smtp_port=port)


def _resumed(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    from warmup import api

    api.resume(ledger, boxes[0], now)


def _retried(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    ledger.make_due(ledger.messages(state="queued")[-1].id, now)


def _queued(ledger: Ledger, boxes: list[str], now: dt.datetime, port: int) -> None:
    Outbox(ledger).add(plain("new@example.com"), pool="P", now=now)


@pytest.mark.parametrize(
    "release",
    [_release_by_hand, _new_member, _mailbox_set, _resumed, _retried, _queued],
    ids=["release", "new member", "mailbox set", "resume", "retry", "queue add"],
)
def test_every_change_that_may_let_a_held_pool_send_ends_its_hold(
    release: Callable[..., None],
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A held pool's messages are due at once after a change that may let them go: a login
    found (the worker's release), a new member, 'mailbox set', 'mailbox resume', 'queue
    retry' of one of them, a new message (asked about by the next pass)."""
    ledger, boxes = _paced_pool(sink.port, tmp_path, ledger_url, 6)
    pid = ledger.pool("P").id
    try:
        with Worker(ledger, clock=lambda: T0) as worker:
            assert worker.run_once().outcomes == {"sent": 2, "waiting": 4}
        assert list(ledger.holds()) == [("pool", pid)]
        now = T0 + dt.timedelta(minutes=1)
        assert ledger.due_targets(now, now) == []
        release(ledger, boxes, now, sink.port)
        assert ledger.holds() == {}
        assert ledger.due_targets(now, now) == [(pid, None)]
    finally:
        ledger.close()


def test_a_held_pool_is_passed_over_for_a_target_that_can_send_and_shown_held(
    sink3,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A worker serving every target, a held pool's backlog due before a mailbox's own
    message: the claim takes the mailbox's (the held pool's messages are not claimed, nor
    written), and 'queue list' says when and why the pool's wait.

    'queue list' reads the real time: the worker's clock starts at it (T0 may be 3 hours back,
    and the hold an hour past), the mailboxes in a zone where it is midday (one day)."""
    zone, start = midday_zone(), dt.datetime.now(dt.UTC).replace(microsecond=0)
    ledger, boxes = _paced_pool(sink3.port, tmp_path, ledger_url, 5, zone, start)
    flat = policy_file(tmp_path / "c.toml", daily=1000)
    add_box("c@corp.example", sink3.port, str(flat), zone)
    try:
        with Worker(ledger, clock=lambda: start) as worker:
            assert worker.run_once().outcomes == {"sent": 2, "waiting": 3}
        [hold] = ledger.holds().values()
        later = start + dt.timedelta(minutes=5)
        Outbox(ledger).add(plain("direct@example.com"), mailbox="c@corp.example", now=later)
        before = _rows(ledger)
        claims: list[Any] = []
        claim = ledger.claim

        def counted(*args: Any, **kwargs: Any) -> Any:
            claims.append(claim(*args, **kwargs))
            return claims[-1]

        ledger.claim = counted  # type: ignore[method-assign]
        with Worker(ledger, clock=lambda: later) as worker:
            assert worker.run_once().outcomes == {"sent": 1}
        assert [c.recipients for c in claims if c is not None] == [("direct@example.com",)]
        assert _written(before, _rows(ledger)) == 1
        listed = json.loads(cli("queue", "list", "--state", "queued", "--json").stdout)
        assert {m["due"] for m in listed} == {hold.until.isoformat()}
        table = cli("queue", "list", "--state", "queued").stdout
        assert table.count(hold.why[:40]) == 3, table
        res = cli("queue", "show", str(listed[0]["id"]), "--json")
        shown = json.loads(res.stdout)
        assert "waiting" in shown, (res.stdout, res.stderr)
        assert (shown["waiting"], shown["due"]) == (hold.why, hold.until.isoformat())
        assert f"waiting: {hold.why}" in cli("queue", "show", str(listed[0]["id"])).stdout
    finally:
        ledger.close()


def test_a_removed_pool_or_mailbox_leaves_no_hold(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A held pool removed (its messages cancelled with it) takes its hold with it; so does a
    held member removed from the ledger; cancel of a held message cancels it."""
    ledger, boxes = _paced_pool(sink.port, tmp_path, ledger_url, 4)
    try:
        with Worker(ledger, clock=lambda: T0) as worker:
            assert worker.run_once().outcomes == {"sent": 2, "waiting": 2}
        held = ledger.messages(state="queued")
        assert cli("queue", "cancel", str(held[0].id)).returncode == 0
        assert ledger.message(held[0].id).state == "cancelled"
        assert ledger.remove_pool("P", True, T0) == 1
        assert ledger.holds() == {}
    finally:
        ledger.close()


def _counts(ledger: Ledger) -> Any:
    """A context listing the statements ``ledger`` runs that count outbox messages."""
    import sqlalchemy as sa

    class Counts(list):  # type: ignore[type-arg]
        def __enter__(self) -> list[str]:
            sa.event.listen(ledger.engine, "before_cursor_execute", self.note)
            return self

        def __exit__(self, *exc: object) -> None:
            sa.event.remove(ledger.engine, "before_cursor_execute", self.note)

        def note(self, _conn, _cursor, sql, *_):  # type: ignore[no-untyped-def]
            if "count(*)" in sql and "FROM outbox" in sql:
                self.append(sql)

    return Counts()


def test_a_paused_pool_held_again_is_counted_only_for_the_line_that_says_it(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """'warmup run' over a pool whose members are paused until resumed: held again at every
    look (15 min), its backlog was counted each time (a read of every due message) for a line
    said once. Now what waits is counted for the line alone: the same one line, one count;
    and a worker that says none (``count_waiting=False``: 'run --quiet') counts none."""
    from warmup import api
    from warmup.outbox.due import LOOK_AGAIN

    ledger, boxes = _paced_pool(sink.port, tmp_path, ledger_url, 6)
    for box in boxes:
        api.pause(ledger, box, "by hand", at=T0 - HOUR)
    clock = [T0]
    lines: list[str] = []
    try:
        with (
            _counts(ledger) as counted,
            Worker(ledger, clock=lambda: clock[0], log=lines.append) as worker,
        ):
            passes = [0]

            def sleep(seconds: float) -> None:  # the next look again, 4 passes in all
                clock[0] += LOOK_AGAIN
                passes[0] += 1
                if passes[0] == 4:
                    worker.stop()

            worker._sleep = sleep
            worker.run()
        waiting = [line for line in lines if "waiting:" in line]
        assert len(waiting) == 1, lines
        assert "waiting: 6 messages: " in waiting[0], waiting
        assert len(counted) == 1, counted
        assert len(ledger.holds()) == 1  # held again at each look
        assert sink.messages == []
        clock[0] += LOOK_AGAIN
        with (
            _counts(ledger) as counted,
            Worker(ledger, clock=lambda: clock[0], count_waiting=False) as worker,
        ):
            assert worker.run_once().outcomes == {}
            clock[0] += LOOK_AGAIN
            done = worker.run_once()
        assert (done.outcomes, done.waiting, counted) == ({}, {}, [])
        with Worker(ledger, clock=lambda: clock[0]) as worker:
            assert worker.run_once().outcomes == {}  # held: nothing counted, as before
            clock[0] += LOOK_AGAIN
            assert worker.run_once().outcomes == {"waiting": 6}
    finally:
        ledger.close()
