"""A worker's questions about a pool's members share one read transaction on PostgreSQL
(:meth:`warmup.ledger.Ledger.reading`): each member's row, policy, eras and history were a
transaction each (the pool's check of the connection, BEGIN and COMMIT: three waits for the
server apiece): sixteen transactions of the thirty-two of a paced pool's slot."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from warmup import Outbox, api
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.outbox.worker import Worker

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
BOXES = ["m0@corp0.example", "m1@corp1.example"]


@contextmanager
def transactions(ledger: Ledger) -> Iterator[list[list[str]]]:
    """The transactions ``ledger``'s pool runs meanwhile, each as its statements."""
    seen: list[list[str]] = []

    def begin(_conn):  # type: ignore[no-untyped-def]
        seen.append([])

    def note(_conn, _cursor, sql, *_):  # type: ignore[no-untyped-def]
        if seen:
            seen[-1].append(" ".join(sql.split()))

    sa.event.listen(ledger.engine, "begin", begin)
    sa.event.listen(ledger.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", note)
        sa.event.remove(ledger.engine, "begin", begin)


def _paced_pool(url: str, tmp_path) -> Ledger:  # type: ignore[no-untyped-def]
    """A pool of two mailboxes that sent a minute ago, one send an hour each, and ten
    messages queued to it, all due."""
    ledger = open_ledger(url)
    policy = policy_file(tmp_path / "p.toml", daily=1000, interval="1h")
    for b in BOXES:
        box = api.add_mailbox(ledger, b, "exmail", timezone="UTC", policy=str(policy))
        ledger.record(box, sends=[SendIn("old@example.com", NOW - dt.timedelta(minutes=1))])
    ledger.add_pool("P", BOXES, reply_to=None, now=NOW)
    for i in range(10):
        msg = EmailMessage()
        msg["To"] = f"lead{i}@example.com"
        msg["Subject"] = "hello"
        msg.set_content("Hello.\n")
        Outbox(ledger).add(msg, pool="P", now=NOW - dt.timedelta(hours=1))
    return ledger


def test_a_pass_asks_about_a_pools_members_in_one_transaction(pg_url, tmp_path):  # noqa: F811
    """A pass over a pool none of whose members may send yet: both members' rows, policies
    and histories are read in the transaction of the pass's look at the pool (the histories
    of all of them by one statement), and once more, in one, for when the next message is
    due: 6 transactions and 4 statements alone in the pass, 11 transactions before, 28 before
    that (the count of what the hold leaves waiting is made after the pass and only when
    something says it: ``run_once`` always does)."""
    ledger = _paced_pool(pg_url, tmp_path)
    try:
        with Worker(ledger, clock=lambda: NOW) as worker, transactions(ledger) as seen:
            done = worker.run_once()
        assert done.outcomes["waiting"] == 10
        asked = [t for t in seen if any("FROM policy WHERE policy.name" in s for s in t)]
        assert len(asked) == 2, asked  # the look at P (its row, both members'), the next due's
        # every member's history in ONE statement of it (a member's own, 6 statements each and
        # their row and policy again, were each gate's allowance asked in turn: 18 more round
        # trips a look at a pool of 2)
        assert all(sum("json_agg" in s for s in t) == 1 for t in asked), asked
        assert not any("FROM walk_memo WHERE walk_memo.mailbox_id" in s for t in seen for s in t)
        # 11 transactions before the one-statement reads ran alone (no BEGIN, no COMMIT) and
        # the pass's targets shared their looks' transaction
        begun = [t for t in seen if t[0].startswith("BEGIN ISOLATION")]
        alone = [t[0] for t in seen if not t[0].startswith("BEGIN ISOLATION")]
        assert all(len(t) == 1 for t in seen if t not in begun), seen
        # the clock's offset (once a minute), the expiry, the targets and the look at P, the
        # hold, the claim, the next due
        assert len(begun) == 6, [t[:2] for t in begun]
        # the migrations applied, the passwords found, the claims, the count of what waits
        assert [" ".join(a.split()[:3]) for a in alone] == [
            "SELECT warmup_migrations.name FROM",
            "SELECT setting.key, setting.value",
            "SELECT outbox.id, outbox.claimed_by,",
            "SELECT (SELECT count(*)",
        ], alone
    finally:
        ledger.close()
