"""One odd row in the ledger (written by hand with sqlite3, by an older version, by another
host's) must not take a whole command down: a command about many mailboxes answers the healthy
ones; the odd one is answered as it stands when its row still answers (a malformed address is
only its name), or named on stderr with what to do and the command's exit code says so."""

from __future__ import annotations

import json
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.gatekit import ANY_DAY
from warmup import Outbox, api
from warmup.ledger import open_ledger

GOOD, ODD = "a@corp.example", "b@corp.example"


@pytest.fixture
def two(ledger_path: Path) -> Path:
    """GOOD and ODD, exmail mailboxes sending any day, in pool P, a message queued to P."""
    ledger = open_ledger()
    try:
        now = api.now_utc()
        for box in (GOOD, ODD):
            api.add_mailbox(ledger, box, "exmail", policy=str(ANY_DAY))
        ledger.add_pool("P", [GOOD, ODD], None, now)
        msg = EmailMessage()
        msg["To"] = "r@example.com"
        msg["Subject"] = "hi"
        msg.set_content("hello")
        assert Outbox(ledger).add(msg, campaign="c", now=now, pool="P") is not None
    finally:
        ledger.close()
    return ledger_path


def edit(path: Path, sql: str, *args: object) -> None:
    """What a hand edit (or another version) leaves: written past warmup."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, args)
    conn.close()


def mailbox_rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM mailbox ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("stored", ["not an address", " B@Corp.Example"])
def test_plan_of_every_mailbox_with_a_malformed_stored_address(run, two, stored):
    """`warmup plan` (every mailbox) looked each stored address up again and refused them all
    (exit 65, "malformed mailbox address", or 64 "not found" for one not in lower case), while
    `quota` and `report` answered both; it plans both now, as `quota` answers them."""
    edit(two, "UPDATE mailbox SET address = ? WHERE address = ?", stored, ODD)
    before = mailbox_rows(two)
    res = run("plan", "--days", "2", "--json")
    assert (res.exit_code, res.stderr) == (0, ""), res.output
    assert sorted(m["mailbox"] for m in json.loads(res.stdout)["mailboxes"]) == sorted(
        [GOOD, stored]
    )
    res = run("plan", "--days", "2", "--volume", "60")
    assert res.exit_code == 0, res.output
    assert "across 2 mailboxes" in res.stdout
    assert mailbox_rows(two) == before


@pytest.mark.parametrize("stored", ["not an address", " B@Corp.Example"])
def test_queue_status_with_a_malformed_stored_member(run, two, stored):
    """`queue status` planned the pool from its members' stored addresses, each looked up
    again: one malformed was the whole status's exit 65."""
    edit(two, "UPDATE mailbox SET address = ? WHERE address = ?", stored, ODD)
    res = run("queue", "status", "--json")
    assert (res.exit_code, res.stderr) == (0, ""), res.output
    assert [c["campaign"] for c in json.loads(res.stdout)["campaigns"]] == ["c"]
