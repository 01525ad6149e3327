"""A claim on PostgreSQL over a backlog queued at once: one probe of an index, not a scan and sort
of every due message (m040 and the hold's test as a one-time filter: 20-35 ms a claim at
10,000 queued, four claims a slot of a paced pool), and still never the same message twice
when processes race for it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa

from tests.pgkit import pg_url, round_trips  # noqa: F401  (the fixture)
from warmup import api
from warmup.ledger import Ledger, OutboxIn, open_ledger
from warmup.ledger.outbox import Settle

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _backlog(url: str, n: int) -> tuple[Ledger, int]:
    """Mailbox a, pool P of it, ``n`` messages queued to P at once (one due time), analysed
    as autovacuum would: the ledger and P's id."""
    ledger = open_ledger(url)
    api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    pid = ledger.add_pool("P", ["a@corp.example"], None, NOW)[0].id
    data = b"Subject: hi\r\n\r\nhello\r\n"
    at = NOW - HOUR
    ledger.enqueue(
        [
            OutboxIn(
                f"<m{i}@corp.example>", (f"m{i}@example.com",), data, at, at + 9 * HOUR, None, pid
            )
            for i in range(n)
        ],
        at,
    )
    with ledger.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE outbox")
    ledger.clock_offset()  # measured once: not a claim's round trip
    return ledger, pid


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for p in plan.get("Plans", ()) for n in _nodes(p))]


def test_a_claim_over_a_backlog_queued_at_once_reads_a_few_index_entries(pg_url):  # noqa: F811
    """The exact statements two claims send (a --pool worker's, then a worker's serving every
    target), explained with the values they were sent with: no sort, no scan of the outbox,
    a handful of pages. Before, the due messages' index ended at their due time, which the
    backlog shares, and PostgreSQL keeps equal keys in the order of the rows' places, not of
    their ids: every claim read and sorted the whole backlog (its LIMIT, a subquery testing
    the holds, also made it plan for a tenth of the due messages)."""
    ledger, pid = _backlog(pg_url, 6000)
    sent: list[tuple[str, Any]] = []

    def note(_conn, _cursor, sql, params, *_):  # type: ignore[no-untyped-def]
        if sql.startswith("UPDATE outbox") and "claimed_by" in sql and "LIMIT" in sql:
            sent.append((sql, params))

    sa.event.listen(ledger.engine, "before_cursor_execute", note)
    try:
        first = ledger.claim("w", NOW, pid)
        second = ledger.claim("w", NOW)
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", note)
    assert first is not None and second is not None
    assert (first.message_id, second.message_id) == ("<m0@corp.example>", "<m1@corp.example>")
    assert len(sent) == 2
    try:
        for sql, params in sent:
            with ledger.engine.connect() as conn:
                plan = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params
                ).scalar_one()[0]["Plan"]
                conn.rollback()  # the claim it ran is not kept
            nodes = _nodes(plan)
            assert [n["Node Type"] for n in nodes if "Sort" in n["Node Type"]] == [], plan
            scans = [n for n in nodes if n.get("Relation Name") == "outbox"]
            assert all(n["Node Type"] != "Seq Scan" for n in scans), plan
            pages = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
            assert pages < 60, plan  # the backlog is ~200 pages of rows, ~40 of each index
    finally:
        ledger.close()


CLAIMER = """
import datetime as dt, json, sys
from warmup.ledger import open_ledger
url, now, me = sys.argv[1], dt.datetime.fromisoformat(sys.argv[2]), sys.argv[3]
ledger = open_ledger(url, migrate=False)
ledger.clock_offset()
print("ready", flush=True)
sys.stdin.readline()  # all start together
took = []
while (row := ledger.claim(me, now)) is not None:
    took.append(row.id)
ledger.close()
print(json.dumps(took), flush=True)
"""


@pytest.mark.slow
def test_processes_claiming_one_backlog_at_once_never_take_a_message_twice(pg_url):  # noqa: F811
    """Three processes claim from one backlog queued at once (one due time) until none is
    left, started together: every message claimed once, by one of them, each in id order."""
    ledger, _ = _backlog(pg_url, 300)
    ids = [m.id for m in ledger.messages(state="queued", limit=1000)]
    ledger.close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, pg_url, NOW.isoformat(), f"w{k}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        for k in range(3)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline() == "ready\n"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    took = [json.loads(out.splitlines()[-1]) for out, _ in outs]
    assert all(t == sorted(t) for t in took)
    every = [i for t in took for i in t]
    assert len(every) == len(set(every)) == 300
    assert sorted(every) == sorted(ids)
    assert sum(1 for t in took if t) >= 2, [len(t) for t in took]  # they did race


def test_a_claim_with_the_last_outcome_is_fourround_trips(pg_url):  # noqa: F811
    """A worker's claim, its previous message's outcome written with it: BEGIN, the two
    statements (one of them the claim, whatever holds are in force or not), COMMIT. Pinned:
    each is a wait for the server, and a paced pool's slot makes four claims. Five before the
    check of the connection rode on the BEGIN (the pool's ping, ``;``, came first)."""
    ledger, pid = _backlog(pg_url, 50)
    try:
        first = ledger.claim("w", NOW)
        assert first is not None
        settle = Settle(first.id, "sent", NOW, reply="250 ok", sent_by=1)
        got: list[Any] = []
        trips = round_trips(ledger, lambda: got.append(ledger.claim("w", NOW, settle=settle)))
        assert got[0] is not None and got[0].id != first.id
        assert trips == ["BEGIN ISOLATION", "UPDATE outbox", "UPDATE outbox", "COMMIT"], trips
    finally:
        ledger.close()
