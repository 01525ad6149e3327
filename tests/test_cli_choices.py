"""A choice among words (a kind, a format, a security) is taken in any case, as people type
it: `bounces list --kind HARD` was refused ("'HARD' is not one of 'hard', ..."), exit 64."""

from __future__ import annotations

import json

BOX = "sales@corp.example"


def test_a_choice_is_taken_in_any_case_and_kept_in_its_own(run):
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--smtp-security", "SSL").exit_code == 0
    )
    for kind, rcpt in (("Hard", "gone@example.com"), ("SOFT", "full@example.com")):
        res = run("record", "bounce", BOX, "--to", rcpt, "--kind", kind, "--status", "5.1.1")
        assert res.exit_code == 0, res.output
    res = run("bounces", "list", "--kind", "HARD", "--json")
    assert res.exit_code == 0, res.output
    assert [(b["recipient"], b["kind"]) for b in json.loads(res.output)] == [
        ("gone@example.com", "hard")
    ]
    res = run("report", "--format", "CSV")
    assert res.exit_code == 0 and res.output.startswith("mailbox,"), res.output
    shown = json.loads(run("mailbox", "show", BOX, "--json").output)
    assert shown["smtp_security"] == "ssl", shown
    res = run("queue", "list", "--state", "Queued", "--json")
    assert res.exit_code == 0 and json.loads(res.output) == [], res.output
