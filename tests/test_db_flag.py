"""``--db``: only commands that write create a ledger; read commands refuse a missing one
(issue #12, acceptance 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

BOX = "a@corp.example"

READS = [
    ("quota",),
    ("quota", BOX, "--at", "2026-06-11T09:00:00"),
    ("plan", BOX),
    ("report", "--json"),
    ("mailbox", "list"),
    ("mailbox", "show", BOX),
    ("bounces", "list"),
    ("suppress", "list"),
    ("policy", "list"),
    ("record", "send", BOX, "--to", "x@example.com"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_command_refuses_a_ledger_that_does_not_exist(run, tmp_path: Path, args):
    missing = tmp_path / "nonexistent" / "x.db"  # the issue's /nonexistent/x.db, kept in tmp
    res = run("--db", str(missing), *args)
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: no ledger at {missing}; run 'warmup mailbox add' to create one\n"
    )
    assert not missing.parent.exists()  # nothing created, not even the folder


def test_a_read_command_refuses_a_missing_warmup_db_too(run, ledger_path: Path):
    res = run("quota")
    assert res.exit_code == 78 and f"no ledger at {ledger_path};" in res.output
    assert not ledger_path.exists()


def test_mailbox_add_creates_the_ledger_and_its_folder_and_says_so_once(run, tmp_path: Path):
    db = tmp_path / "new" / "dir" / "x.db"
    first = run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail")
    assert first.exit_code == 0, first.output
    assert first.stderr == f"Created a new ledger at {db}.\n"
    assert db.exists() and (db.parent.stat().st_mode & 0o777) == 0o700
    second = run("--db", str(db), "mailbox", "add", "b@corp.example", "--provider", "exmail")
    assert second.exit_code == 0 and second.stderr == ""
    listed = run("--db", str(db), "mailbox", "list")
    assert listed.exit_code == 0 and BOX in listed.stdout and listed.stderr == ""
