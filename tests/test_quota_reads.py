"""``warmup quota`` opens a SQLite ledger on the driver alone (issue #15,
:mod:`warmup.ledger.sqlite_reads`) only when its schema is current; anything else goes through
the full backend as every other command does: creating, migrating, refusing, warning."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SH, at, ledger_digest
from warmup import api, open_ledger
from warmup.ledger import migrations, open_reads
from warmup.ledger.core import Ledger
from warmup.ledger.reads import MIGRATION_NAMES
from warmup.ledger.sqlite_reads import SQLiteReads

BOX = "a@corp.example"


def test_the_driver_level_schema_check_knows_every_migration():
    assert list(MIGRATION_NAMES) == migrations.names()


def seed(n: int = 3) -> None:
    ledger = open_ledger()
    for k in range(n):
        api.add_mailbox(ledger, f"b{k}@corp.example", "exmail", timezone=SH)
        api.record_send(
            ledger, f"b{k}@corp.example", ["r@example.com"], at(dt.date(2026, 11, 9), 9)
        )
    ledger.close()


def test_the_reader_answers_what_the_full_backend_answers(ledger_path: Path):
    seed()
    reads, ledger = open_reads(), open_ledger()
    assert isinstance(reads, SQLiteReads)
    assert reads.mailboxes() == Ledger.mailboxes(ledger)
    assert reads.mailbox(" B1@corp.example") == Ledger.mailbox(ledger, "b1@corp.example")
    ledger.store_policy("mine", "[ramp]\n", None, replace=False)
    assert reads.policy_text("mine") == Ledger.policy_text(ledger, "mine") == (1, "[ramp]\n")
    assert reads.policy_text("nope") is None
    reads.close()
    ledger.close()


def test_quota_migrates_a_ledger_from_before_and_answers(ledger_path: Path, run):
    old = open_ledger(migrate=False)
    old.migrate(upto="m009_overflow_channel")
    old.close()
    assert SQLiteReads.open(f"sqlite:///{ledger_path}") is None  # not current: not on the driver
    res = run("quota", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == []
    con = sqlite3.connect(ledger_path)
    done = [n for (n,) in con.execute("SELECT name FROM warmup_migrations ORDER BY name")]
    con.close()
    assert done == sorted(MIGRATION_NAMES)


def test_quota_warns_about_a_ledger_others_can_read(ledger_path: Path, run):
    seed(1)
    ledger_path.chmod(0o644)
    res = run("quota", "--json", "--at", "2026-11-10T10:00+08:00")
    assert res.exit_code == 0, res.output
    assert "Warning: ledger" in res.stderr and "chmod 600" in res.stderr
    assert json.loads(res.stdout)[0]["mailbox"] == "b0@corp.example"


def test_quota_refuses_another_programs_file_untouched(ledger_path: Path, run):
    con = sqlite3.connect(ledger_path)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.commit()
    con.close()
    before = ledger_path.read_bytes()
    res = run("quota", "--json")
    assert res.exit_code == 78
    assert "another program's tables (notes)" in res.stderr
    assert ledger_path.read_bytes() == before


def test_quota_refuses_a_missing_ledger(ledger_path: Path, run):
    res = run("quota", "--json")
    assert res.exit_code == 66
    assert f"no ledger at {ledger_path}" in res.stderr
    assert not ledger_path.exists()


def test_quota_names_an_unknown_mailbox_with_the_close_one(ledger_path: Path, run):
    seed(1)
    res = run("quota", "b0@corp.exampel")
    assert res.exit_code == 64
    assert "did you mean 'b0@corp.example'?" in res.stderr


DAY_STAT = (
    "CREATE TABLE day_stat (mailbox_id INTEGER NOT NULL, day DATE NOT NULL, "
    "sent INTEGER NOT NULL, hard INTEGER NOT NULL, soft INTEGER NOT NULL, "
    "block INTEGER NOT NULL, complaint INTEGER NOT NULL{})"
)


def test_the_cold_batch_reads_the_rollup_as_the_rows_say_in_any_order():
    """A memo-less batch's rollup is read a column of numbers per mailbox
    (``sqlite_days.day_table``): it is the row-at-a-time read's matrix exactly, by mailbox and
    day, whether or not an index hands the rows over in order, with days before 1970, counts
    past 32 bits, mailboxes without rows, mailboxes with a row every day (read without their
    days where the primary key hands the rows over in order), and a count SQLite stored as a
    real (read as the driver reads it)."""
    import random

    import numpy as np

    from warmup.ledger import sqlite_days

    rng = random.Random(515)
    rows = []
    for box in (3, 7, 8, 12, 40):
        for d in rng.sample(range(-30, 400), 60):
            day = (dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat()
            big = rng.random() < 0.1
            rows.append(
                (
                    box,
                    day,
                    rng.randint(0, 5_000_000_000 if big else 50),
                    *rng.choices(range(9), k=4),
                )
            )
    for box, first, days in ((5, -3, 200), (9, 390, 1), (41, 100, 290)):  # a row every day
        for d in range(first, first + days):
            day = (dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat()
            rows.append((box, day, rng.randint(0, 60), *rng.choices(range(3), k=4)))
    rows.append((3, "1971-02-01", 5, 0, 0, 0, 0))  # after the day asked before: left out
    rng.shuffle(rows)
    group, before = [3, 7, 5, 8, 12, 40, 99, 41, 9], "1971-01-01"
    for key in (", PRIMARY KEY (mailbox_id, day)", ""):  # index order, and a sorter's order
        con = sqlite3.connect(":memory:")
        con.execute(DAY_STAT.format(key))
        con.executemany("INSERT INTO day_stat VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        cur = con.cursor()
        want = sqlite_days.day_rows(cur, group, before)
        assert len(want) == sum(1 for r in rows if r[1] < before) > 200
        got = sqlite_days.day_table(cur, group, before)
        assert got.dtype == np.int64 and np.array_equal(got, want)
        assert got[:, 1].min() < 0 and got[:, 2].max() > 2**31
        # the mailboxes with a row every day: without their days on the primary key only
        assert sqlite_days._in_key_order(cur, [5, 9, 41], before, None) == bool(key)
        for since in ("1970-01-01", "1970-05-01"):
            assert np.array_equal(
                sqlite_days.day_table(cur, group, before, since),
                sqlite_days.day_rows(cur, group, before, since),
            )
        con.execute("UPDATE day_stat SET soft = 2.5 WHERE rowid = 9")
        con.execute("UPDATE day_stat SET hard = 1.5 WHERE mailbox_id = 41 AND day = '1970-06-01'")
        assert np.array_equal(
            sqlite_days.day_table(cur, group, before), sqlite_days.day_rows(cur, group, before)
        )
        con.close()


# A foreign process that keeps the ledger locked: a rollback-journal file in an EXCLUSIVE
# transaction (readers are locked out too), or a WAL one in exclusive locking mode.
_HOLD = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
    "c.execute(sys.argv[2]); c.execute('BEGIN EXCLUSIVE'); c.execute('UPDATE mailbox SET cap = cap'); "
    "print('held', flush=True); sys.stdin.read()"
)


def _timed_while_held(ledger_path: Path, mode: str, call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result and its seconds, run while a foreign process (:data:`_HOLD`, in
    journal or locking ``mode``) holds the ledger's lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(ledger_path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        start = time.monotonic()
        res = call()
        return res, time.monotonic() - start
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.parametrize(
    "mode", ["PRAGMA journal_mode = DELETE", "PRAGMA locking_mode = EXCLUSIVE"]
)
@pytest.mark.parametrize("command", ["quota", "send"])
def test_a_foreign_lock_is_waited_out_once_not_twice(
    ledger_path: Path, run, monkeypatch: pytest.MonkeyPatch, mode: str, command: str
):
    """quota and send open the ledger on the driver (SQLiteReads.open): a lock held past the busy
    timeout there fell back to the full backend, which waited the whole timeout again, so
    'held its write lock for over 30 s' came after a minute."""
    from warmup.ledger import sqlite, sqlite_file, sqlite_reads

    timeout = 1.0  # the gate's and the checkpointer's connections: sqlite_file.open_existing
    for module in (sqlite, sqlite_file, sqlite_reads):
        monkeypatch.setattr(module, "BUSY_TIMEOUT_S", timeout)
    monkeypatch.setenv("WARMUP_PASSWORD", "not-used")
    add = ("mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1")
    assert run(*add, "--smtp-port", "9").exit_code == 0
    args = [command, BOX] if command == "quota" else [command, BOX, "--to", "r@example.com"]
    assert run(*args[:2], "--help").exit_code == 0  # the command's modules imported: not timed
    before = ledger_digest(ledger_path)
    res, waited = _timed_while_held(ledger_path, mode, lambda: run(*args))
    assert res.exit_code == 75, res.output
    assert res.stderr == (
        f"Error: ledger {ledger_path} is busy: another process has held its write lock for "
        f"over 1 s (database is locked); try again once it has finished\n"
    )
    assert timeout <= waited < 2 * timeout
    assert ledger_digest(ledger_path) == before


def test_quota_does_not_wait_on_another_writer_to_keep_an_optional_memo(
    ledger_path: Path, run, monkeypatch: pytest.MonkeyPatch
):
    # A WAL ledger another process holds a write transaction on (an import's batch, a long
    # transaction): quota read and answered at once, then waited the whole busy timeout (30 s)
    # to store the walk's memo, which is optional, and answered 30 s late.
    from warmup.ledger import sqlite, sqlite_file, sqlite_reads

    timeout = 3.0
    for module in (sqlite, sqlite_file, sqlite_reads):
        monkeypatch.setattr(module, "BUSY_TIMEOUT_S", timeout)
    add = ("mailbox", "add", BOX, "--provider", "exmail", "--started", "2026-10-01")
    assert run(*add).exit_code == 0
    for day in ("2026-10-05", "2026-10-12", "2026-10-19"):  # a walk of weeks: a memo to keep
        assert (
            run("record", "send", BOX, "--to", "r@example.com", "--at", f"{day}T10:00").exit_code
            == 0
        )
    assert run("quota", BOX, "--help").exit_code == 0  # the command's modules imported: not timed
    res, waited = _timed_while_held(
        ledger_path, "PRAGMA journal_mode = WAL", lambda: run("quota", BOX, "--json")
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["mailbox"] == BOX
    assert waited < 1.0, waited  # the memo's short wait (MEMO_WAIT_MS), not the 3 s timeout
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT count(*) FROM walk_memo").fetchone() == (0,)  # none kept
    finally:
        con.close()
