"""``warmup quota`` opens a SQLite ledger on the driver alone (issue #15,
:mod:`warmup.ledger.sqlite_reads`) only when its schema is current; anything else goes through
the full backend as every other command does: creating, migrating, refusing, warning."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from tests.conftest import SH, at
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
