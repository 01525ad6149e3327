"""A big team's ledger (bench/big_team.py: 300 mailboxes, two years, an outbox of a million
messages): the reads its everyday commands make go through indexes that answer them alone, so
their cost follows what they show, not the ledger's size. Each backend's planner is asked."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa

from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Outbox, api
from warmup.ledger import Ledger, open_ledger

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)


def _plan(ledger: Ledger, statement: Any) -> str:
    """The planner's plan of ``statement`` on ``ledger``'s backend, as one string."""
    postgres = ledger.scheme == "postgresql"
    with ledger.read() as conn:
        if postgres:  # a test's few rows: a table scan otherwise, whatever the indexes
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        sql = str(statement.compile(conn, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
        return " ".join(str(r) for r in conn.exec_driver_sql(f"{prefix} {sql}"))


def _statements(ledger: Ledger, call: Any) -> list[str]:
    """The SQL statements ``call()`` sends to ``ledger``'s database."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = ledger.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    return seen


def _queued(ledger: Ledger) -> None:
    api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    msg = EmailMessage()
    msg["From"] = "a@corp.example"
    msg["To"] = "lead@example.com"
    msg["Subject"] = "hello"
    msg.set_content("Hello.\n")
    Outbox(ledger).add(msg, mailbox="a@corp.example", campaign="dec", now=NOW)


def test_the_outbox_tally_is_read_from_its_index_alone(ledger_url):  # noqa: F811
    """``queue status`` (and ``queue list``'s total, the worker's campaign summary) groups the
    whole outbox with each group's latest ``next_attempt_at``: with that column outside
    ``ix_outbox_tally`` every one of a million rows was read from the table (1.4 s on SQLite);
    in it, the index answers alone (0.17 s)."""
    ledger = open_ledger(ledger_url)
    _queued(ledger)
    (tally,) = [s for s in _statements(ledger, ledger.outbox_counts) if "outbox" in s]
    plan = _plan(ledger, sa.text(tally))
    expected = (
        "Index Only Scan using ix_outbox_tally"
        if ledger.scheme == "postgresql"
        else ("COVERING INDEX ix_outbox_tally")
    )
    assert expected in plan, plan
    ledger.close()
