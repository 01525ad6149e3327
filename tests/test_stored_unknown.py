"""A ledger shared with a newer warmup may store, for one mailbox, a provider preset this warmup
does not know. Every command that reads many mailboxes answers the others, names that one
(the fix: upgrade here) and exits 78, as ``quota`` and ``report`` do; a command that reads it
only on the side (``queue add``'s expiry warning, ``warmup run``'s live view) is not failed
by it."""

from __future__ import annotations

import json
import sqlite3
from email.message import EmailMessage
from pathlib import Path

import pendulum
import pytest

from tests.gatekit import ANY_DAY
from warmup import Outbox, api
from warmup.ledger import open_ledger
from warmup.outbox.view import render, snapshot

NEW, OLD = "a@corp.example", "b@corp.example"  # NEW: stored with a newer warmup's preset
UNUSABLE = "not usable here"  # NEW's state in the run's view
SAID = (
    f"Error: mailbox '{NEW}' is stored with provider 'newer', which this warmup does not "
    f"know (a newer version's, from a shared ledger?); upgrade warmup here\n"
)


@pytest.fixture
def shared(ledger_path: Path) -> Path:
    """Two exmail mailboxes in pool P, a message queued to P and one to OLD alone; then NEW's
    provider changed as a newer warmup could have stored it. Their policy sends on CN holidays
    too: the tests ask OLD's quota now."""
    ledger = open_ledger()
    try:
        now = api.now_utc()
        for box in (NEW, OLD):
            api.add_mailbox(ledger, box, "exmail", policy=str(ANY_DAY))
        ledger.add_pool("P", [NEW, OLD], None, now)
        outbox = Outbox(ledger)
        for n, where in enumerate(({"pool": "P"}, {"mailbox": OLD})):
            msg = EmailMessage()
            msg["To"] = f"r{n}@example.com"
            msg["Subject"] = "hi"
            msg.set_content("hello")
            assert outbox.add(msg, campaign=f"c{n}", now=now, **where) is not None
    finally:
        ledger.close()
    with sqlite3.connect(ledger_path) as conn:
        conn.execute("UPDATE mailbox SET provider = 'newer' WHERE address = ?", (NEW,))
    conn.close()
    return ledger_path


def test_plan_answers_the_others_and_names_the_unknown_one(run, shared):
    """`plan OLD NEW` exited 78 with no plan at all."""
    res = run("plan", OLD, NEW, "--days", "2")
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("DATE ") and len(lines) == 3, res.stdout  # OLD's two days
    # As of tomorrow 09:00 in the mailboxes' zone: a whole day's window on each of the two days
    # (50 + 50 >= 60). Planned from now, the volume depended on the hour the test ran: after
    # ~22:50 in Shanghai what is left of today fits fewer than 10 sends, and 60 took 3 days.
    at = pendulum.now("Asia/Shanghai").add(days=1).at(9).isoformat()
    res = run("plan", OLD, NEW, "--days", "2", "--volume", "60", "--json", "--at", at)
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    got = json.loads(res.stdout)
    assert [m["mailbox"] for m in got["mailboxes"]] == [OLD]
    assert got["volume"]["days"] == 2
    res = run("plan", NEW)  # nothing else to answer: the error alone
    assert (res.exit_code, res.stdout, res.stderr) == (78, "", SAID)


def test_pool_show_answers_the_other_members(run, shared):
    res = run("pool", "show", "P")
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    assert res.stdout.splitlines()[2:] == [
        "MAILBOX         STATUS  SENT  QUOTA  LEFT",
        f"{OLD}  ok      0     50     50",
    ]
    res = run("pool", "show", "P", "--json")
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    got = json.loads(res.stdout)
    assert got["members"] == [NEW, OLD]
    assert [q["mailbox"] for q in got["quota"]] == [OLD]


def test_queue_status_gives_the_campaigns_and_names_the_unknown_member(run, shared):
    res = run("queue", "status")
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    assert [line.split()[:3] for line in res.stdout.splitlines()[1:3]] == [
        ["c0", "0", "1"],
        ["c1", "0", "1"],
    ]
    res = run("queue", "status", "--json")
    assert (res.exit_code, res.stderr) == (78, SAID), res.output
    got = json.loads(res.stdout)
    # P's message goes from OLD, as the worker sends it: a day, not "not within 2 years"
    assert all(c["finish"] for c in got["campaigns"]), got


def test_queue_add_elsewhere_is_not_failed_by_the_unknown_mailbox(run, shared, tmp_path):
    """`queue add` queued the messages, then exited 78 (its expiry warning plans the whole
    outbox): a script took that for a refusal."""
    (tmp_path / "t.toml").write_text('subject = "Hi"\ntext = "Hello"\n')
    (tmp_path / "l.csv").write_text("email\nx@example.com\n")
    for target in (("--mailbox", OLD), ("--pool", "P"), ("--mailbox", NEW)):
        res = run(
            "queue", "add", *target, "--csv", str(tmp_path / "l.csv"),
            "--template", str(tmp_path / "t.toml"),
        )  # fmt: skip
        assert (res.exit_code, res.stderr) == (0, ""), (target, res.output)
        assert res.stdout.startswith("Queued 1 message to "), res.stdout


def test_the_run_view_shows_the_others(shared):
    """`warmup run`'s live view read every mailbox's quota at once: the unknown preset's error
    ended the run on a terminal, where without the view it sends from the other member."""
    ledger = open_ledger()
    try:
        snap = snapshot(ledger, api.now_utc(), pool="P")
    finally:
        ledger.close()
    assert [(m["mailbox"], m["state"]) for m in snap["mailboxes"]] == [
        (NEW, UNUSABLE),
        (OLD, "sending"),
    ]
    assert f"{NEW}  {UNUSABLE}  -" in render(snap)
