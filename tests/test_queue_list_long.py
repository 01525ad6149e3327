"""`queue list` for a campaign of tens of thousands of messages: a bounded, readable answer
(as `bounces list`: --limit, 1000 by default, 0 for all), saying what it left out, and one
message to many recipients does not widen every line of the table."""

from __future__ import annotations

import json
import subprocess
from email.message import EmailMessage

from tests import forkcli
from warmup import Outbox, open_ledger


def _queue(ledger_path, n: int, to: int = 1) -> None:  # type: ignore[no-untyped-def]
    def messages():  # type: ignore[no-untyped-def]
        for i in range(n):
            msg = EmailMessage()
            msg["To"] = ", ".join(f"r{i}-{j}@example.com" for j in range(to))
            msg["Subject"] = f"m{i}"
            msg.set_content("hi")
            yield msg

    ledger = open_ledger(str(ledger_path))
    try:
        Outbox(ledger).add_many(messages(), mailbox="a@corp.example", campaign="big")
    finally:
        ledger.close()


def test_queue_list_shows_the_first_1000_and_says_how_to_see_the_rest(run, ledger_path):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    _queue(ledger_path, 1005)
    res = run("queue", "list", "--campaign", "big")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 1 + 1000 and lines[1].split()[0] == "1"
    assert res.stderr == (
        "Showing the first 1000 messages (oldest first) of 1005; --limit 0 shows all, "
        "--state narrows them.\n"
    )
    got = json.loads(run("queue", "list", "--campaign", "big", "--json").stdout)
    assert [m["id"] for m in got] == list(range(1, 1001))  # the same rows as the table
    every = run("queue", "list", "--campaign", "big", "--limit", "0", "--json")
    assert len(json.loads(every.stdout)) == 1005 and every.stderr == ""
    few = run("queue", "list", "--limit", "3")
    assert len(few.stdout.splitlines()) == 4 and "of 1005" in few.stderr
    assert run("queue", "list", "--limit", "-1").exit_code == 64


def test_a_message_to_many_recipients_does_not_widen_every_line(run, ledger_path):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    _queue(ledger_path, 1, to=200)
    _queue(ledger_path, 3)
    res = run("queue", "list")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert "r0-0@example.com, r0-1@example.com and 198 more" in lines[1]
    assert max(len(line) for line in lines) < 200
    (row, *_) = json.loads(run("queue", "list", "--json").stdout)
    assert len(row["recipients"]) == 200


def test_a_long_table_whose_reader_goes_away_ends_without_a_traceback(run, ledger_path):
    """'warmup queue list --limit 0 | head -1': the write failing mid-table left the listing's
    read to the garbage collector, which closed its cursor after the ledger's connection, and
    SQLAlchemy printed "Error closing cursor" and a traceback (exit 0 all the same). A reader
    gone is not an error: nothing on stderr."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    _queue(ledger_path, 2000)  # some 170 KB of table: more than the pipe holds
    proc = subprocess.Popen(
        [*forkcli.command(), "queue", "list", "--limit", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline().startswith(b"ID ")
        proc.stdout.close()  # as head -1 does, the rest of the table unread
        err = proc.stderr.read().decode()
        assert (proc.wait(timeout=180), err) == (0, "")
    finally:
        proc.kill()
        proc.wait()
