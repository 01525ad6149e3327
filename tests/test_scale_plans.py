"""A big team's ledger (bench/big_team.py: 300 mailboxes, two years, an outbox of a million
messages): the reads its everyday commands make go through indexes that answer them alone, so
their cost follows what they show, not the ledger's size. Each backend's planner is asked."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Outbox, api
from warmup.ledger import Ledger, open_ledger

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _statements(ledger: Ledger, call: Any) -> list[tuple[str, Any]]:
    """The SQL statements ``call()`` sends to ``ledger``'s database, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    engine = ledger.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return seen


def _plan(ledger: Ledger, statement: tuple[str, Any]) -> str:
    """The planner's plan of a statement :func:`_statements` saw, as one string."""
    postgres = ledger.scheme == "postgresql"
    with ledger.read() as conn:
        if postgres:  # a test's few rows: a table scan otherwise, whatever the indexes
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        prefix = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
        sql, parameters = statement
        return " ".join(str(r) for r in conn.exec_driver_sql(f"{prefix} {sql}", parameters))


def _queued(ledger: Ledger) -> None:
    api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    msg = EmailMessage()
    msg["From"] = "a@corp.example"
    msg["To"] = "lead@example.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello.\n")
    Outbox(ledger).add(msg, mailbox="a@corp.example", campaign="dec", now=NOW)


def _backlog(ledger: Ledger, n: int) -> None:
    """``n`` messages more queued at once to mailbox a and ``n`` to pool P, none expired by
    NOW; analysed."""
    from warmup.ledger import OutboxIn

    box, pool = ledger.mailbox("a@corp.example").id, ledger.pool("P").id
    at, until = NOW - dt.timedelta(hours=1), NOW + dt.timedelta(days=1)
    data = b"Subject: hi\r\n\r\nhello\r\n"
    ledger.enqueue(
        [OutboxIn(f"<b{i}@x>", (f"b{i}@example.com",), data, at, until, box) for i in range(n)]
        + [
            OutboxIn(f"<p{i}@x>", (f"p{i}@example.com",), data, at, until, None, pool)
            for i in range(n)
        ],  # fmt: skip
        at,
    )
    with ledger.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE outbox")


def test_the_outbox_tally_is_read_from_its_index_alone(ledger_url):  # noqa: F811
    """``queue status`` (and ``queue list``'s total, the worker's campaign summary) groups the
    whole outbox with each group's latest ``next_attempt_at``: with that column outside
    ``ix_outbox_tally`` every one of a million rows was read from the table (1.4 s on SQLite);
    in it, the index answers alone (0.17 s)."""
    ledger = open_ledger(ledger_url)
    _queued(ledger)
    (tally,) = [s for s in _statements(ledger, ledger.outbox_counts) if "outbox" in s[0]]
    plan = _plan(ledger, tally)
    expected = (
        "Index Only Scan using ix_outbox_tally"
        if ledger.scheme == "postgresql"
        else ("COVERING INDEX ix_outbox_tally")
    )
    assert expected in plan, plan
    ledger.close()


def test_sends_per_domain_of_the_past_days_come_from_the_domain_rollup(ledger_url):  # noqa: F811
    """The notebook's bounces by domain counted every send of the period, row by row (60 days
    of 300 mailboxes: 1.9 s; a report from the start: every send of two years): the days
    before the cut's day are read from ``domain_day``, kept per mailbox, day and domain with
    every write, and only the cut's own day from the sends, up to the cut. Shown by a rollup
    row set apart from its sends: that is the count the report gives; the cut's day still
    counts its sends only up to the cut."""
    from warmup import reports
    from warmup.ledger import SendIn
    from warmup.ledger.schema import DOMAIN_DAY

    ledger = open_ledger(ledger_url)
    box = api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    cut = NOW  # 09:00 UTC
    sends = [SendIn(f"r{i}@Lead.example", cut - dt.timedelta(days=2, minutes=i)) for i in range(3)]
    sends += [
        SendIn(f"t{i}@lead.example", cut - dt.timedelta(hours=1, minutes=i)) for i in range(2)
    ]
    sends += [SendIn("late@lead.example", cut + dt.timedelta(hours=2))]  # after the cut
    ledger.record(box, sends=sends)
    d = DOMAIN_DAY.c
    with ledger.write() as conn:  # the rollup of two days ago, apart from its 3 sends
        conn.execute(
            DOMAIN_DAY.update()
            .where(d.mailbox_id == box.id, d.day == (cut - dt.timedelta(days=2)).date())
            .values(sent=40)
        )
    frame = reports.bounces_by_domain(ledger, ["a@corp.example"], days=7, at=cut)
    assert frame[["mailbox", "domain", "sends"]].values.tolist() == [
        ["a@corp.example", "lead.example", 40 + 2]
    ]
    # the cut's day from the sends through their index per mailbox and instant, bounded below
    # (a bound above only walked every send of the mailbox before the cut)
    read = _statements(
        ledger, lambda: reports.bounces_by_domain(ledger, ["a@corp.example"], days=7, at=cut)
    )
    (today,) = [s for s in read if "FROM send" in s[0]]
    plan = _plan(ledger, today)
    if ledger.scheme == "postgresql":
        assert "ix_send_mailbox_at" in plan and "at >=" in plan and "at <=" in plan, plan
    else:
        assert "ix_send_mailbox_at (mailbox_id=? AND at>? AND at<?)" in plan, plan
    ledger.close()


def test_a_pools_due_messages_are_found_by_their_pool(ledger_url):  # noqa: F811
    """The worker puts back a pool's due messages when none of its members can send (every
    pass of a paced pool): with only the index of every queued message by due time, each pool's
    hold looked at the due messages of every pool, 0.44 s a pool in a backlog of 300,000 (20
    pools: 24 s a pass, its writes included); by the index of a pool's messages, its own. Since
    m035 the hold writes one row, not the messages, and what waits is counted on that index
    (apart, only for a line that says it); with a hold in force a claim asks each target not
    held for its first due message, on the index of a pool's messages (a mailbox's own:
    ``ix_outbox_box_due``), not on every due one."""
    ledger = open_ledger(ledger_url)
    _queued(ledger)
    pool = ledger.add_pool("P", ["a@corp.example"], reply_to=None, now=NOW)[0]

    def hold() -> None:
        ledger.hold_messages(NOW, NOW, NOW + dt.timedelta(minutes=5), "paced", pool_id=pool.id)

    seen = _statements(ledger, hold)
    assert not [s for s in seen if "UPDATE outbox" in s[0]], seen
    assert not [s for s in seen if "FROM outbox" in s[0]], seen  # nor counted
    seen = _statements(ledger, lambda: ledger.held_waiting(NOW, pool_id=pool.id))
    (count,) = [s for s in seen if "count(" in s[0]]
    # by the pool's own entries: PostgreSQL's planner, with one row, costs its index by expiry
    # (m036) the same as its index by due time
    counted = _plan(ledger, count)
    assert "ix_outbox_pool_due" in counted or "ix_outbox_pool_expiry" in counted, counted
    firsts = [s for s in _statements(ledger, lambda: ledger.claim("w", NOW)) if "UNION ALL" in s[0]]
    plan = _plan(ledger, firsts[0])
    assert "ix_outbox_pool_due" in plan and "ix_outbox_box_due" in plan, plan
    ledger.close()


def test_the_plans_of_many_mailboxes_read_their_histories_together(ledger_url):  # noqa: F811
    """The notebook's days ahead (``reports.ahead``) and ``warmup plan`` of several mailboxes
    read each mailbox's row, policy, events, memo and counts on their own: 9 statements a
    mailbox, 2,700 round trips for 300 mailboxes (4.3 s on PostgreSQL). Their histories are
    read together now, as ``quota`` of many mailboxes reads them: as many statements for six
    mailboxes as for two, and the same plans as each mailbox's own."""
    from warmup import reports
    from warmup.ledger import SendIn

    ledger = open_ledger(ledger_url)
    addresses = [f"m{i}@corp{i}.example" for i in range(6)]
    counts = []
    for i, address in enumerate(addresses):
        box = api.add_mailbox(ledger, address, "exmail", timezone="UTC")
        sends = [SendIn(f"r{k}@lead.example", NOW - dt.timedelta(days=d, minutes=k))
                 for d in range(1, 4) for k in range(5 + i)]  # fmt: skip
        ledger.record(box, sends=sends)
        if i in (1, 5):  # every mailbox's days ahead, of two mailboxes and of six
            counts.append(len(_statements(ledger, lambda: reports.ahead(ledger, (), 7, NOW))))
    assert counts[0] == counts[1], counts
    frame = reports.ahead(ledger, (), 7, NOW)
    for address in addresses:
        own = [(p.date, p.quota, p.cumulative) for p in api.plan(ledger, address, 7, NOW)]
        mine = frame[frame["mailbox"] == address]
        assert [(d.date(), q, c) for d, q, c in mine[["date", "quota", "cumulative"]].values] == own
    # named, a few addresses are looked up one by one, more read at once (one statement), and
    # their histories read together: six cost no more statements than two
    plans = [len(_statements(ledger, lambda n=n: api.plan_each(ledger, addresses[:n], 7, NOW)))
             for n in (2, 6)]  # fmt: skip
    assert plans[1] <= plans[0], plans
    ledger.close()


def test_queue_status_plans_its_mailboxes_from_histories_read_together(ledger_url):  # noqa: F811
    """``queue status`` planned each mailbox of the outbox on its own (some twice: a horizon
    cut where the mailbox alone would be done): 11 statements a mailbox, 1.3 s for 101 on a
    big team's ledger. Their histories are read together now: 3 statements a mailbox (its
    row looked up by address among them), and each target's finish is still the day its own
    plan reaches its recipients."""
    from warmup.outbox import status

    ledger = open_ledger(ledger_url)
    addresses = [f"m{i}@corp{i}.example" for i in range(6)]
    counts = []
    for i, address in enumerate(addresses):
        api.add_mailbox(ledger, address, "exmail", timezone="UTC")
        msg = EmailMessage()
        msg["From"] = address
        msg["To"] = ", ".join(f"lead{k}@lead{i}.example" for k in range((i + 1) * 40))
        msg["Subject"] = "hello"
        msg.set_content("Hello.\n")
        Outbox(ledger).add(msg, mailbox=address, campaign="dec", now=NOW)
        if i in (1, 5):
            counts.append(len(_statements(ledger, lambda: status.status(ledger, NOW))))
    assert counts[1] - counts[0] <= 3 * 4, counts  # was 44: 11 a mailbox
    finish = {t["target"]: t["finish"] for t in status.status(ledger, NOW)["targets"]}
    for i, address in enumerate(addresses):
        days = api.plan(ledger, address, 30, NOW)
        reached = next(p.date for p in days if p.cumulative >= (i + 1) * 40)
        assert finish[f"mailbox {address}"] == reached.isoformat(), (address, finish)
    assert len(set(finish.values())) > 2  # the recipients spread the finishes over days
    ledger.close()


def test_a_pass_reads_each_targets_first_due_and_expiry_by_its_indexes(ledger_url):  # noqa: F811
    """Every worker pass expires the queued messages past their expiry and asks when each
    target's first message is due and first expires: an UPDATE that read every queued row from
    the table and a GROUP BY of every queued message (0.03 s and 0.1 s at each slot of a paced
    pool over a backlog of 50,000). The expired ones are found by ``ix_outbox_expiry`` now, and
    each pool's (mailbox's) first message and first expiry by one probe of its own indexes
    (m036)."""
    ledger = open_ledger(ledger_url)
    _queued(ledger)
    ledger.add_pool("P", ["a@corp.example"], reply_to=None, now=NOW)
    if ledger.scheme == "postgresql":
        # A queue to plan for, analysed: at one row the expiry's index and the due messages'
        # cost the same to PostgreSQL (m040 made the latter anew), and it took the newer.
        _backlog(ledger, 300)
    (expire,) = [
        s for s in _statements(ledger, lambda: ledger.expire_messages(NOW)) if "UPDATE" in s[0]
    ]
    assert "ix_outbox_expiry" in _plan(ledger, expire)
    read = _statements(ledger, ledger.next_due_each)
    (each,) = [s for s in read if "outbox" in s[0] and "outbox_hold" not in s[0]]
    plan = _plan(ledger, each)
    for index in ("pool_due", "box_due", "pool_expiry", "box_expiry"):
        assert f"ix_outbox_{index}" in plan, plan
    if ledger.scheme != "postgresql":
        assert "SCAN outbox" not in plan, plan
    ledger.close()


def test_queue_status_reads_its_mailboxes_rows_at_once(ledger_url):  # noqa: F811
    """``queue status`` looked up each mailbox of the outbox by address, one statement each,
    three times (the plannable senders, the plans, a mailbox target's time zone): 900
    statements for a team of 300, 1.1-1.8 s of its ~5.5 s on PostgreSQL. Every mailbox is
    read at once now: a target more costs its history's reads, no row lookup."""
    from warmup.outbox import status

    ledger = open_ledger(ledger_url)
    counts, looked_up = [], []
    for i in range(12):
        address = f"m{i}@corp{i}.example"
        api.add_mailbox(ledger, address, "exmail", timezone="UTC")
        msg = EmailMessage()
        msg["From"] = address
        msg["To"] = f"lead@lead{i}.example"
        msg["Subject"] = "hello"
        msg.set_content("Hello.\n")
        Outbox(ledger).add(msg, mailbox=address, campaign="dec", now=NOW)
        if i in (5, 11):
            seen = _statements(ledger, lambda: status.status(ledger, NOW))
            counts.append(len(seen))
            by_address = [s for s, _ in seen if "WHERE mailbox.address =" in " ".join(s.split())]
            looked_up.append(len(by_address))
    assert looked_up == [0, 0], looked_up  # was 3 a mailbox: 18, 36
    assert counts[1] - counts[0] <= 6, counts  # a history's read a mailbox, at most
    ledger.close()


def test_a_pool_held_but_for_its_bulk_messages_finds_them_by_their_own_index(ledger_url):  # noqa: F811
    """A pool with an overflow channel held but for its bulk messages: its claims looked for
    the first due bulk one along every due message of the pool (``ix_outbox_pool_due``, each
    row read for its bulk mark), its next due grouped every queued message by that mark, and
    its count of what waits read every due row: ~0.2 s a slot over 50,000 on SQLite. Each is
    now asked of ``ix_outbox_pool_bulk`` (m039, the pool's bulk messages alone): the claim of
    a ``--pool`` worker, a worker serving every target (its first due message of each target,
    then the claim), the next due and the count. SQLite's virtual machine runs fewer
    instructions for the claim than the pool has messages due before its bulk one."""
    from warmup.ledger import OutboxIn
    from warmup.ledger.schema import OUTBOX

    ledger = open_ledger(ledger_url)
    _queued(ledger)
    pid = ledger.add_pool("P", ["a@corp.example"], reply_to=None, now=NOW)[0].id
    hour = dt.timedelta(hours=1)
    data = b"Subject: hi\r\n\r\nhello\r\n"
    backlog = 400
    ledger.enqueue(
        [OutboxIn(f"<p{k}@corp.example>", (f"p{k}@example.com",), data, NOW - 2 * hour,
                  NOW + 9 * hour, None, pid, bulk=k == backlog) for k in range(backlog + 1)],
        NOW - 3 * hour,
    )  # fmt: skip
    with ledger.write() as conn:  # the bulk one last: every other due message comes first
        conn.execute(OUTBOX.update().where(OUTBOX.c.bulk).values(next_attempt_at=NOW - hour))
    ledger.hold_messages(NOW, NOW, NOW + hour, "paced", pool_id=pid, keep_bulk=True)
    ledger.clock_offset()
    postgres = ledger.scheme == "postgresql"

    def plans(call: Any) -> list[str]:
        """The plans of the statements ``call`` makes that ask for bulk (or other) messages."""
        seen = [s for s in _statements(ledger, call) if re.search(r"outbox\.bulk (=|IS)", s[0])]
        assert seen, "no statement asked for the bulk messages"
        return [_plan(ledger, s) for s in seen]

    def claimed(pool_id: int | None) -> None:
        ledger._claim_held = True  # the holds read first, as once one was found in force
        row = ledger.claim("w", NOW, pool_id)
        assert row is not None and row.bulk, row
        with ledger.write() as conn:  # back, for the next one
            conn.execute(OUTBOX.update().where(OUTBOX.c.id == row.id).values(state="queued"))

    try:
        by_pool, every = plans(lambda: claimed(pid)), plans(lambda: claimed(None))
        assert len(every) == 2, every  # each target's first due message, then the claim
        for plan in [*by_pool, *every]:
            assert "ix_outbox_pool_bulk" in plan, plan
        due_each = plans(lambda: ledger.next_due_each())
        assert ledger.next_due_each(pid) == [(pid, None, NOW - hour, NOW + 9 * hour, None)]
        count = plans(lambda: ledger.held_waiting(NOW, pool_id=pid, keep_bulk=True))
        assert ledger.held_waiting(NOW, pool_id=pid, keep_bulk=True) == backlog
        assert ledger.held_waiting(NOW, pool_id=pid) == backlog + 1
        for plan in [*by_pool, *every, *due_each, *count]:
            assert "ix_outbox_pool_bulk" in plan, plan
            if not postgres:
                assert "SCAN outbox" not in plan, plan
        if not postgres:
            from tests.test_outbox_claim_statements import _claim_sql, _vm_steps

            ledger._claim_held = True  # one claim: the bulk one around the hold
            with ledger.write() as conn:
                conn.execute(OUTBOX.update().where(OUTBOX.c.bulk).values(state="sent"))
            sql, params = _claim_sql(ledger, pid)  # held: the claim around it finds none
            assert "bulk = true" in sql, sql
            assert 0 < _vm_steps(ledger, sql, params) < backlog
    finally:
        ledger.close()
