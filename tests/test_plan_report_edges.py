"""Edges a demanding user meets in the planning and reporting commands: a mailbox named twice,
a report opened in a spreadsheet, a plot that cannot be written, a demo given a bad --plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import at, ledger_digest

BOX = "a@corp.example"


def test_a_mailbox_named_twice_is_planned_once_and_its_volume_counted_once(run, today):
    """``plan A A --volume N`` summed A's ramp twice: the volume was "reached" days early
    "across 2 mailboxes"; a different case of the same address did the same."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    when = ("--at", at(today).isoformat())
    once = json.loads(run("plan", BOX, "--volume", "1000", "--json", *when).output)
    for twice in ([BOX, BOX], [BOX, BOX.upper()]):
        res = run("plan", *twice, "--volume", "1000", "--json", *when)
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == once
        text = run("plan", *twice, "--volume", "1000", *when).output
        assert "across 1 mailbox." in text and "MAILBOX" not in text
    # 50/day for 7 days (350), then 100, 105, ...: 1000 on day 13, alone.
    assert once["volume"]["days"] == 13 and len(once["mailboxes"]) == 1


def test_a_mailbox_named_twice_is_reported_and_counted_once(run, today):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    when = ("--at", at(today).isoformat())
    report = json.loads(run("report", BOX, BOX.upper(), "--json", *when).output)
    assert [r["mailbox"] for r in report] == [BOX]
    quota = json.loads(run("quota", BOX, BOX, "--json", *when).output)
    assert [q["mailbox"] for q in quota] == [BOX]
