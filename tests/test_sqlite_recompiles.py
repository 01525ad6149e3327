"""The worker's statements on a SQLite ledger are compiled once, not at every run.

SQLite (3.40) compares a statement's parameter with the constant of a partial index's
condition on the same column (``ix_outbox_waiting``'s ``state = 'queued' OR state =
'sending'``) and marks the statement to be compiled again whenever that parameter is bound:
the claim's ``outbox.state = ?`` was compiled anew at every message (``sqlite3Reprepare``,
~0.75M instructions, 17% of the worker's message). SQLite calls a connection's authorizer
only while it compiles a statement: after a first round of the worker's statements (each
compiled once, in Python's statement cache), a second round calls it not at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from warmup import api
from warmup.ledger import Ledger, OutboxIn, open_ledger

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


@contextmanager
def compiles(ledger: Ledger) -> Iterator[list[tuple[int, str | None]]]:
    """What each compile of a statement by ``ledger``'s connections asked the authorizer
    (its action and table), from each connection's first statement meanwhile on; but the
    COMMIT Python's sqlite3 compiles at each ``commit()`` (a transaction's, action 22: a few
    thousand instructions, not the statement's)."""
    asked: list[tuple[int, str | None]] = []
    watched: set[int] = set()

    def authorize(action: int, arg1: str | None, *_: object) -> int:
        if action != sqlite3.SQLITE_TRANSACTION:
            asked.append((action, arg1))
        return sqlite3.SQLITE_OK  # SQLITE_OK

    def watch(conn, *_):  # type: ignore[no-untyped-def]
        raw = conn.connection.driver_connection
        if id(raw) not in watched:
            watched.add(id(raw))
            raw.set_authorizer(authorize)

    sa.event.listen(ledger.engine, "before_cursor_execute", watch)
    try:
        yield asked
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", watch)


def _ledger(path: Path, count: int) -> tuple[Ledger, int]:
    """Mailboxes a and b, pool P of a; ``count`` messages queued to b and ``count`` to P, due
    an hour ago: the ledger and P's id."""
    ledger = open_ledger(str(path))
    api.add_mailbox(ledger, "a@corp.example", "exmail", timezone="UTC")
    b = api.add_mailbox(ledger, "b@corp.example", "exmail", timezone="UTC").id
    pid = ledger.add_pool("P", ["a@corp.example"], None, NOW)[0].id
    data = b"Subject: hi\r\n\r\nhello\r\n"
    due, ends = NOW - HOUR, NOW + 9 * HOUR
    items = [
        OutboxIn(
            f"<{kind}{k}@corp.example>", (f"{kind}{k}@example.com",), data, due, ends, box, pool
        )
        for k in range(count)
        for kind, box, pool in (("b", b, None), ("p", None, pid))
    ]
    ledger.enqueue(items, NOW - 2 * HOUR)
    ledger.clock_offset()
    return ledger, pid


def test_the_worker_s_statements_are_not_compiled_again_at_each_run(tmp_path: Path) -> None:
    """A worker's pass (expiry, the claims held, each target's next due) and its claims, of
    every target and of a pool, each run a second time: none compiled again."""
    ledger, pid = _ledger(tmp_path / "ledger.db", 2)
    steps: list[Callable[[], object]] = [
        lambda: ledger.expire_messages(NOW),
        ledger.claims,
        ledger.next_due_each,
        lambda: ledger.next_due_each(pid),
        lambda: ledger.claim("w", NOW),
        lambda: ledger.claim("w", NOW, pid),
    ]
    try:
        with compiles(ledger) as asked:
            for step in steps:  # each compiled once (the authorizer set expires any before)
                step()
            assert asked
            asked.clear()
            for step in steps:
                step()
            assert asked == []
    finally:
        ledger.close()
