"""``warmup import`` registers unknown mailboxes (provider, timezone) and imports pause/resume rows."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ledger_digest

HEADER = "mailbox,recipient,sent_at,bounce_kind,bounce_status,bounced_at,provider,timezone,event,reason"


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join((HEADER, *lines)) + "\n", encoding="utf-8")
    return path


def test_import_on_an_empty_ledger_registers_mailboxes_and_events(run, tmp_path):
    log = write(tmp_path / "log.csv",
                "a@corp.example,r1@example.com,2026-11-02T09:00:00+01:00,,,,gmail,Europe/Berlin,,",
                "a@corp.example,r2@example.com,2026-11-02T09:05:00+01:00,hard,5.1.1,,,,,",
                "b@corp.example,r3@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,",
                "a@corp.example,,2026-11-03T12:00:00+01:00,,,,,,pause,list review",
                "a@corp.example,,2026-11-04T08:00:00+01:00,,,,,,resume,")
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.output.strip() == (
        f"Imported 3 new send(s) and 1 new bounce(s) from {log}. "
        "Registered 2 new mailbox(es) and 2 pause/resume event(s).")
    boxes = {b["address"]: b for b in json.loads(run("mailbox", "list", "--json").output)}
    assert (boxes["a@corp.example"]["provider"], boxes["a@corp.example"]["timezone"]) == (
        "gmail", "Europe/Berlin")
    assert boxes["b@corp.example"]["timezone"] == "Asia/Shanghai"  # the provider's zone
    paused = json.loads(run("quota", "a@corp.example", "--json", "--at",
                            "2026-11-03T15:00:00+01:00").output)[0]
    assert paused["status"] == "paused" and any("list review" in r for r in paused["reasons"])
    resumed = json.loads(run("quota", "a@corp.example", "--json", "--at",
                             "2026-11-04T09:00:00+01:00").output)[0]
    assert resumed["status"] != "paused"
    again = run("import", str(log))
    assert again.output.strip() == f"Imported 0 new send(s) and 0 new bounce(s) from {log}."


def test_unknown_mailbox_without_provider_rejects_the_file(run, tmp_path, ledger_path):
    log = write(tmp_path / "log.csv",
                "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,",
                "c@corp.example,r2@example.com,2026-11-02T09:00:00+08:00,,,,,,,")
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert "line 3" in res.output and "c@corp.example" in res.output and "provider" in res.output
    after = ledger_digest(ledger_path)
    assert after.get("mailbox", []) == before.get("mailbox", []) and not after.get("send")


def test_bad_event_provider_or_timezone_names_the_line(run, tmp_path):
    cases = [
        ("a@corp.example,,2026-11-02T09:00:00+08:00,,,,exmail,,stop,", "event 'stop'"),
        ("a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,nosuch,,,",
         "unknown provider 'nosuch'"),
        ("a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,Mars/Base,,",
         "unknown time zone 'Mars/Base'"),
        ("a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,resume,",
         "leave recipient"),
    ]
    for line, message in cases:
        log = write(tmp_path / "bad.csv", "a@corp.example,ok@example.com,2026-11-01T09:00:00+08:00,"
                    ",,,exmail,,,", line)
        res = run("import", str(log))
        assert res.exit_code == 65, (line, res.output)
        assert "line 3" in res.output and message in res.output, res.output
    assert "No mailboxes" in run("mailbox", "list").output or run(
        "mailbox", "list", "--json").output.strip() == "[]"
