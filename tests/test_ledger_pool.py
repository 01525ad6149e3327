"""A process whose every ledger connection is in use: the next one waited the pool's timeout and
then SQLAlchemy's ``TimeoutError`` came out as a traceback (exit 1) from any command, and
stopped ``warmup run``, which carries on after a busy ledger. Now it is one line, exit 75."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.errors import LedgerBusy
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

BOX = "a@corp.example"


def _fill(ledger) -> list[sa.Connection]:  # type: ignore[no-untyped-def]
    """Check out every connection the ledger's pool lends, its wait for one more cut short."""
    pool = ledger.engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    pool._timeout = 0.2  # the pool's own wait (30 s), not the behaviour under test
    return [ledger.connect_for_writes() for _ in range(pool.size() + pool._max_overflow)]


def test_a_full_connection_pool_is_one_line_exit_75(ledger_url, tmp_path):  # noqa: F811
    ledger = open_ledger(ledger_url)
    held: list[sa.Connection] = []
    try:
        api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "f.toml")))
        held = _fill(ledger)
        calls = [
            lambda: ledger.mailboxes(),
            lambda: ledger.suppressed(["x@example.com"]),
            lambda: ledger.connect_for_writes(),
            lambda: ledger.set_settings({"k": "v"}, dt.datetime.now(dt.UTC)),
        ]
        for call in calls:
            with pytest.raises(LedgerBusy) as caught:
                call()
            said = str(caught.value)
            assert caught.value.exit_code == 75
            assert "\n" not in said
            assert said.startswith(f"ledger {ledger.where} is busy: this process's connections")
            assert "try again later" in said
    finally:
        for conn in held:
            conn.close()
        ledger.close()


def test_a_worker_whose_pool_is_full_waits_and_goes_on(ledger_url, tmp_path):  # noqa: F811
    """``warmup run``'s worker takes a full pool as a busy ledger: the pass is cut off, one line,
    and the next pass goes on once connections are free again."""
    ledger = open_ledger(ledger_url)
    lines: list[str] = []
    held: list[sa.Connection] = []

    def sleep(seconds: float) -> None:  # the wait between passes: the connections come back
        for conn in held:
            conn.close()
        held.clear()
        worker.stop()

    try:
        api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "f.toml")))
        worker = Worker(ledger, sleep=sleep, log=lines.append)
        held.extend(_fill(ledger))
        worker.run()
        assert any(" pass cut off: ledger " in x and " is busy: " in x for x in lines), lines
        assert worker.run_once().next_due is None  # the ledger answers again
        worker.close()
    finally:
        for conn in held:
            conn.close()
        ledger.close()
