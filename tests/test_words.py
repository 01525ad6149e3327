"""What warmup says agrees with what happened (issue #12, "Words that disagree")."""

from __future__ import annotations

import json

from tests.conftest import ledger_digest

BOX = "a@corp.example"


def test_resume_on_a_mailbox_that_is_not_paused_says_so_and_records_nothing(run, ledger_path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("mailbox", "resume", BOX)
    assert res.exit_code == 0, res.output
    assert res.output == f"{BOX} is not paused; nothing to resume. See 'warmup quota {BOX}'.\n"
    assert ledger_digest(ledger_path) == before
    assert run("mailbox", "pause", BOX, "--reason", "list review").exit_code == 0
    res = run("mailbox", "resume", BOX)
    assert res.exit_code == 0 and res.output.startswith(f"Resumed {BOX}.")


def test_report_json_is_the_json_format(run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    run("record", "send", BOX, "--to", "x@example.com", "--at", "2026-06-11T10:00:00+08:00")
    at = ("--at", "2026-06-12T12:00:00+08:00")
    res = run("report", BOX, "--json", *at)
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["date"], r["sent"], r["quota"]) for r in rows] == [
        ("2026-06-11", 1, 50),
        ("2026-06-12", 0, 50),
    ]
    assert res.stdout == run("report", BOX, "--format", "json", *at).stdout
    clash = run("report", "--json", "--format", "csv")
    assert clash.exit_code == 64 and clash.output == (
        "Error: --json and --format csv disagree: give one of them\n"
    )
    # a typed '--format table' disagrees as csv does (the JSON was printed without a word)
    clash = run("report", "--format", "table", "--json")
    assert clash.exit_code == 64 and clash.output == (
        "Error: --json and --format table disagree: give one of them\n"
    )
