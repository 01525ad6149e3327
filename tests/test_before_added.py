"""A question about an instant before a mailbox was added (``quota``, ``plan``, ``report``,
``plot`` ``--at``) is refused, 65, in one line naming the day it was added: it was answered with
a stage and a quota for a day the mailbox was not in the ledger. Runs on SQLite and (with
``WARMUP_TEST_PG``) PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import at

BOX = "a@corp.example"
ADDED = dt.date(2026, 11, 16)  # the day the tests' mailbox was added (Asia/Shanghai)
REPO = Path(__file__).resolve().parent.parent


def _rows(url: str) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Every row of every table of the ledger at ``url``: the same before and after a
    command that must leave the ledger untouched."""
    import sqlalchemy as sa

    from warmup.ledger.schema import METADATA

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                (t.name, [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))])
                for t in METADATA.sorted_tables
            ]
    finally:
        engine.dispose()


def _added_on(listed: str) -> dt.date:
    """The day (Asia/Shanghai) the one mailbox of ``mailbox list --json`` was added on."""
    (box,) = json.loads(listed)
    created = dt.datetime.fromisoformat(box["created_at"])
    return created.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def _refusal(day: dt.date, typed: str) -> str:
    return (
        f"Error: mailbox '{BOX}' was added on {day} (Asia/Shanghai); --at {typed} is before "
        f"it: give a time on or after that day\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("quota",),
        ("quota", "--json"),
        ("quota", "--check"),
        ("plan", "--days", "3"),
        ("report",),
        ("report", "--by-reason"),
        ("plot",),
    ],
)
def test_a_question_before_the_mailbox_was_added_is_refused(
    run, ledger_url, command, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a plot drawn (as it was) lands here
    # Added now, by the wall clock (2026-12-07 as this was written): 2025-01-01 was answered
    # "week 1, day 1" (a holiday's quota 0, or 50 a day), exit 0.
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = _rows(ledger_url)
    res = run(command[0], BOX, *command[1:], "--at", "2025-01-01")
    assert res.exit_code == 65, res.output
    added = _added_on(run("mailbox", "list", "--json").stdout)
    assert res.stderr == _refusal(added, "2025-01-01")
    assert res.stdout in ("", "[]\n")  # --json: no mailbox answered, as for a refused policy
    assert _rows(ledger_url) == before


def test_from_the_day_it_was_added_on_the_answers_are_as_before(run, ledger_url):
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--at", "2026-11-16T15:00").exit_code
        == 0
    )
    # Its whole local day counts (the ledger counts by days): 09:00 that day is answered.
    res = run("quota", BOX, "--json", "--at", at(ADDED, 9).isoformat())
    assert res.exit_code == 0, res.output
    (q,) = json.loads(res.stdout)
    assert (q["quota"], q["status"], q["stage"], q["day"]) == (50, "ok", "week 1", 1)
    typed = "2026-11-15T23:59:00+08:00"
    res = run("quota", BOX, "--at", typed)
    assert (res.exit_code, res.stderr) == (65, _refusal(ADDED, typed))
    plan = run("plan", BOX, "--days", "2", "--json", "--at", at(ADDED).isoformat())
    assert plan.exit_code == 0, plan.output
    assert [d["date"] for d in json.loads(plan.stdout)["days"]] == [
        "2026-11-16",
        "2026-11-17",
    ]
    report = run("report", BOX, "--format", "csv", "--at", at(ADDED).isoformat())
    assert report.exit_code == 0, report.output
    assert report.stdout.splitlines()[1].startswith(f"{BOX},2026-11-16,")


def test_history_older_than_the_mailbox_is_asked_about(run, ledger_url):
    # A mailbox added today whose log starts earlier (a send recorded --at a past time, as an
    # import does): the days of its history are answered, the days before them are not.
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    sent = at(ADDED, 9)
    res = run("record", "send", BOX, "--to", "r@example.com", "--at", sent.isoformat())
    assert res.exit_code == 0, res.output
    res = run("quota", BOX, "--json", "--at", at(ADDED, 12).isoformat())
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["sent"] == 1
    for command in (("quota",), ("plan",), ("report",)):
        res = run(*command, BOX, "--at", "2026-11-15")
        assert res.exit_code == 65, res.output
        assert res.stderr.startswith(
            f"Error: mailbox '{BOX}' has no history before 2026-11-16 (Asia/Shanghai: its first "
            f"send; it was added on "
        ), res.stderr
        assert res.stderr.endswith(
            "); --at 2026-11-15 is before it: give a time on or after that day\n"
        )


def test_every_mailbox_as_of_then_is_those_added_by_then(run, ledger_url):
    # Without a mailbox named, one added later is left out, not an error: the ledger as of
    # then had no such mailbox.
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--at", "2026-11-16").exit_code == 0
    assert run("mailbox", "add", "b@corp.example", "--provider", "exmail").exit_code == 0
    when = at(ADDED + dt.timedelta(days=1)).isoformat()
    res = run("quota", "--json", "--at", when)
    assert res.exit_code == 0, res.output
    assert [q["mailbox"] for q in json.loads(res.stdout)] == [BOX]
    res = run("plan", "--days", "1", "--json", "--at", when)
    assert res.exit_code == 0, res.output
    assert [m["mailbox"] for m in json.loads(res.stdout)["mailboxes"]] == [BOX]
    res = run("report", "--format", "json", "--at", when)
    assert res.exit_code == 0, res.output
    assert {r["mailbox"] for r in json.loads(res.stdout)} == {BOX}
    # Before either: none yet, said so.
    for command in ("quota", "plan", "report"):
        res = run(command, "--at", "2026-11-01")
        assert (res.exit_code, res.stdout) == (
            0,
            "No mailboxes yet as of --at 2026-11-01: each was added after that day.\n",
        ), res.output
    # Both named: the one that existed is answered, the other refused after it (exit 65).
    res = run("quota", BOX, "b@corp.example", "--json", "--at", when)
    assert res.exit_code == 65
    assert [q["mailbox"] for q in json.loads(res.stdout)] == [BOX]
    assert res.stderr.startswith("Error: mailbox 'b@corp.example' was added on ")


def test_report_by_reason_with_no_mailbox_yet_says_so_as_report_does(run):
    """'report --by-reason --at DATE' before any mailbox was added said 'No bounces in this
    period.', where 'report', 'quota' and 'plan' say that no mailbox existed yet; so did it
    over a ledger whose mailboxes are all removed, where they say to add one. It says the same
    as they do, exit 0 (a listing with nothing in it)."""
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--at", "2026-11-16").exit_code == 0
    for args in ((), ("--by-reason",)):
        res = run("report", *args, "--at", "2026-11-01")
        assert (res.exit_code, res.stdout) == (
            0,
            "No mailboxes yet as of --at 2026-11-01: each was added after that day.\n",
        ), res.output
    assert run("mailbox", "remove", BOX).exit_code == 0
    for args in ((), ("--by-reason",)):
        res = run("report", *args)
        assert (res.exit_code, res.stdout) == (
            0,
            "No mailboxes yet: add one with 'warmup mailbox add ADDRESS --provider exmail'.\n",
        ), res.output


def test_mailbox_add_at_a_time_ahead_is_refused(run, ledger_path):
    res = run("mailbox", "add", BOX, "--provider", "exmail", "--at", "2099-01-01")
    assert res.exit_code == 65
    assert res.stderr.startswith("Error: --at: 2098-12-31T16:00:00Z is in the future")
    assert not ledger_path.exists()  # nothing added: no ledger started for it


def test_a_real_process_asked_before_the_mailbox_was_added(ledger_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "WARMUP_DB": str(ledger_path)}

    def warmup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "warmup", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # Added now, asked about 2026-11-01: answered "week 1, day 1", exit 0.
    assert warmup("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    before = ledger_path.read_bytes()
    got = warmup("quota", BOX, "--at", "2026-11-01")
    assert (got.returncode, got.stdout, got.stderr) == (
        65,
        "",
        _refusal(_added_on(warmup("mailbox", "list", "--json").stdout), "2026-11-01"),
    )
    assert ledger_path.read_bytes() == before
