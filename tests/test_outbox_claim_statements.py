"""A claim with no hold in force is one statement: the hold's test is part of the claim's own
(m035 made every claim read the hold table first, and every queueing delete from it: the
worker's statements a message rose by one, a pool's CPU a message ~1.1x). A claim that finds a
hold reads the holds and claims around them, as before: a held target's messages are never
claimed, whichever way the claim goes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import Ledger, OutboxIn, open_ledger

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


@contextmanager
def statements(ledger: Ledger) -> Iterator[list[str]]:
    """The statements ``ledger`` runs meanwhile, but its transactions' BEGIN."""
    seen: list[str] = []

    def note(_conn, _cursor, sql, *_):  # type: ignore[no-untyped-def]
        if sql.split()[0].upper() != "BEGIN":
            seen.append(sql)

    sa.event.listen(ledger.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", note)


def kinds(seen: list[str]) -> list[str]:
    """Each statement by what it does: ``claim``, ``holds`` (the hold table read alone),
    ``first due`` (each target's first due message), ``end hold``, or its first word."""
    out = []
    for sql in seen:
        head = " ".join(sql.split()[:2])
        if head == "UPDATE outbox" and "claimed_by" in sql and "LIMIT" in sql:
            out.append("claim")
        elif head == "DELETE FROM" and "outbox_hold" in sql:
            out.append("end hold")
        elif sql.split()[0] == "SELECT" and "AS tid" in sql:
            out.append("first due")
        elif sql.split()[0] == "SELECT" and "FROM outbox_hold" in sql.split("WHERE")[0]:
            out.append("holds")
        else:
            out.append(sql.split()[0])
    return out


def _outbox(url: str) -> tuple[Ledger, int, int, int]:
    """Mailboxes a and b, pool P of a; P's messages p0 (due 30 min ago) and p1 (bulk, 20
    min), b's own b0 (10 min): the ledger, P's id, a's, b's."""
    ledger = open_ledger(url)
    a = api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC").id
    b = api.add_mailbox(ledger, "b@corp.example", "exmail", timezone="UTC").id
    pid = ledger.add_pool("P", ["a@corp.example"], None, NOW)[0].id

    def item(name: str, ago: int, box: int | None, pool: int | None, bulk: bool) -> OutboxIn:
        at = NOW - ago * MINUTE
        data = b"Subject: hi\r\n\r\nhello\r\n"
        return OutboxIn(f"<{name}@corp.example>", (f"{name}@example.com",), data, at,
                        at + 9 * HOUR, box, pool, bulk=bulk)  # fmt: skip

    ledger.enqueue(
        [item("p0", 30, None, pid, False), item("p1", 20, None, pid, True),
         item("b0", 10, b, None, False)],
        NOW - HOUR,
    )  # fmt: skip
    ledger.clock_offset()  # measured once (PostgreSQL): not a claim's statement
    return ledger, pid, a, b


def _claimed(ledger: Ledger, pool_id: int | None = None) -> tuple[str | None, list[str]]:
    """What a claim of ``ledger`` takes (its recipient's name), and its statements."""
    with statements(ledger) as seen:
        row = ledger.claim("w", NOW, pool_id)
    return (None if row is None else row.recipients[0].split("@")[0]), kinds(seen)


def test_a_claim_with_no_hold_in_force_is_one_statement(ledger_url):  # noqa: F811
    """No hold in force (one past its time, one written over by a queueing): each claim of
    a worker serving every target, and of a --pool worker, is the claim's statement alone;
    the claim that finds none due reads the holds (once a pass) to know that none held it."""
    ledger, pid, a, b = _outbox(ledger_url)
    try:
        ledger.hold_messages(NOW - HOUR, NOW - HOUR, NOW - MINUTE, "past", mailbox_id=b)
        assert _claimed(ledger, pid) == ("p0", ["claim"])
        assert _claimed(ledger) == ("p1", ["claim"])
        assert _claimed(ledger) == ("b0", ["claim"])
        assert _claimed(ledger) == (None, ["claim", "holds"])
        assert _claimed(ledger, pid) == (None, ["claim", "holds"])
    finally:
        ledger.close()


def test_a_claim_with_a_hold_in_force_reads_the_holds_then_claims_around_them(ledger_url):  # noqa: F811
    """A hold in force: the first claim's own test finds it (nothing claimed), the holds are
    read and the claim made around them; the next claims read the holds first, as long as one
    is in force (the claim that tests them would claim nothing). Once none is, one statement
    again."""
    ledger, pid, a, b = _outbox(ledger_url)
    try:
        ledger.hold_messages(NOW, NOW, NOW + HOUR, "paced", pool_id=pid)
        assert _claimed(ledger) == ("b0", ["claim", "holds", "first due", "claim"])
        assert _claimed(ledger) == (None, ["holds", "first due"])
        assert _claimed(ledger, pid) == (None, ["holds"])
        ledger.hold_messages(NOW, NOW, NOW + HOUR, "paced", pool_id=pid, keep_bulk=True)
        assert _claimed(ledger, pid) == ("p1", ["holds", "claim"])
        ledger.release(ledger.mailbox("a@corp.example"), NOW)  # ends P's hold
        assert _claimed(ledger, pid) == ("p0", ["holds", "claim"])
    finally:
        ledger.close()


def test_a_held_target_is_not_claimed_by_the_claims_own_test(ledger_url):  # noqa: F811
    """Each claim by a ledger that has seen no hold (its first try is the claim that tests
    the holds itself): a held pool's messages are passed over for a mailbox's later one, a
    --pool worker of it claims nothing, or but its bulk message when the hold keeps those
    free; a hold past its time or another target's holds nothing of it."""
    first, pid, a, b = _outbox(ledger_url)

    def claim(pool_id: int | None = None) -> str | None:
        ledger = open_ledger(ledger_url)  # has seen no hold
        try:
            return _claimed(ledger, pool_id)[0]
        finally:
            ledger.close()

    def hold(minutes: int, keep_bulk: bool = False, box: int | None = None) -> None:
        target = {"mailbox_id": box} if box is not None else {"pool_id": pid}
        until = NOW + minutes * MINUTE
        first.hold_messages(NOW, NOW, until, "paced", keep_bulk=keep_bulk, **target)

    hold(60)
    assert claim(pid) is None
    assert claim() == "b0"
    assert claim() is None
    hold(60, keep_bulk=True)
    assert claim() == "p1"
    assert claim(pid) is None
    hold(-1)  # past
    hold(60, box=b)
    assert claim(pid) == "p0"
    states = {m.recipients[0].split("@")[0]: m.state for m in first.messages()}
    first.close()
    assert states == {"p0": "sending", "p1": "sending", "b0": "sending"}


def test_a_queueing_deletes_its_targets_hold_only_when_there_is_one(ledger_url):  # noqa: F811
    """A queueing ends its target's hold (the next pass asks the plan about the new message):
    the hold's row is read with the target, and deleted only when there is one, in force or
    past its time; a target with none costs no statement more."""
    ledger, pid, a, b = _outbox(ledger_url)

    def queue(name: str, box: int | None, pool: int | None) -> list[str]:
        data = b"Subject: hi\r\n\r\nhello\r\n"
        item = OutboxIn(f"<{name}@corp.example>", (f"{name}@example.com",), data, NOW,
                        NOW + HOUR, box, pool)  # fmt: skip
        with statements(ledger) as seen:
            ledger.enqueue([item], NOW)
        return kinds(seen)

    try:
        assert "end hold" not in queue("q0", None, pid)
        assert "end hold" not in queue("q1", a, None)
        ledger.hold_messages(NOW, NOW, NOW + HOUR, "paced", pool_id=pid)
        ledger.hold_messages(NOW, NOW, NOW - MINUTE, "past", mailbox_id=a)
        assert set(ledger.holds()) == {("pool", pid), ("mailbox", a)}
        assert queue("q2", None, pid).count("end hold") == 1
        assert set(ledger.holds()) == {("mailbox", a)}
        assert queue("q3", a, None).count("end hold") == 1
        assert ledger.holds() == {}
        assert "end hold" not in queue("q4", None, pid)
    finally:
        ledger.close()


def _claim_sql(ledger: Ledger, pool_id: int | None) -> tuple[str, Any]:
    """The claim's statement and parameters, as ``ledger.claim`` (finding nothing) sent it."""
    seen: list[tuple[str, Any]] = []

    def note(_c, _cur, sql, params, *_):  # type: ignore[no-untyped-def]
        seen.append((sql, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", note)
    try:
        assert ledger.claim("w", NOW, pool_id) is None
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", note)
    [claim] = [(sql, params) for sql, params in seen if kinds([sql]) == ["claim"]]
    return claim


def _vm_steps(ledger: Ledger, sql: str, params: Any) -> int:
    """How many instructions SQLite's virtual machine runs for ``sql`` (rolled back)."""
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    raw = ledger.engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        driver.set_progress_handler(step, 1)
        raw.cursor().execute(sql, params)
        driver.set_progress_handler(None, 1)
        raw.rollback()
    finally:
        raw.close()
    return steps[0]


def test_a_claim_that_finds_a_hold_reads_none_of_the_held_messages(ledger_url):  # noqa: F811
    """The claim's test of the holds is made once, before it reads the outbox: a term of its
    WHERE that names no column, SQLite (3.40) tested at every due message in turn, and a
    claim finding a paced pool held read its whole backlog (20 ms for 200,000). Asked of each
    backend: SQLite's virtual machine runs fewer instructions for the claim than the held
    pool has due messages; PostgreSQL's plan never executes the read of the outbox."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    pid = ledger.add_pool("P", ["a@corp.example"], None, NOW)[0].id
    backlog = 2000
    data = b"Subject: hi\r\n\r\nhello\r\n"
    ledger.enqueue(
        [
            OutboxIn(
                f"<m{k}@corp.example>",
                (f"r{k}@example.com",),
                data,
                NOW - HOUR,
                NOW + HOUR,
                None,
                pid,
            )
            for k in range(backlog)
        ],  # fmt: skip
        NOW - HOUR,
    )
    ledger.hold_messages(NOW, NOW, NOW + HOUR, "paced", pool_id=pid)
    ledger.clock_offset()
    try:
        for pool_id in (None, pid):
            ledger._claim_held = False  # a ledger that saw no hold: the claim tests them
            sql, params = _claim_sql(ledger, pool_id)
            if ledger.scheme == "postgresql":
                with ledger.write() as conn:
                    rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", params)
                    plan = [r[0] for r in rows]
                    conn.rollback()
                [scan] = [line for line in plan if "on outbox outbox_1" in line]
                assert "never executed" in scan, "\n".join(plan)
            else:
                assert 0 < _vm_steps(ledger, sql, params) < backlog
    finally:
        ledger.close()
