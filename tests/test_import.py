"""``warmup import`` registers unknown mailboxes (provider, timezone) and imports pause/resume rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ledger_digest
from warmup.policy.spec import preset_names

HEADER = (
    "mailbox,recipient,sent_at,bounce_kind,bounce_status,bounced_at,provider,timezone,event,reason"
)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join((HEADER, *lines)) + "\n", encoding="utf-8")
    return path


def test_import_on_an_empty_ledger_registers_mailboxes_and_events(run, tmp_path):
    log = write(
        tmp_path / "log.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+01:00,,,,gmail,Europe/Berlin,,",
        "a@corp.example,r2@example.com,2026-11-02T09:05:00+01:00,hard,5.1.1,,,,,",
        "b@corp.example,r3@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,",
        "a@corp.example,,2026-11-03T12:00:00+01:00,,,,,,pause,list review",
        "a@corp.example,,2026-11-04T08:00:00+01:00,,,,,,resume,",
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (
        f"Imported 3 new sends and 1 new bounce from {log}. "
        "Registered 2 new mailboxes and 2 pause/resume events."
    )
    assert res.stderr == f"Created a new ledger at {tmp_path / 'ledger.db'}.\n"  # said once
    boxes = {b["address"]: b for b in json.loads(run("mailbox", "list", "--json").output)}
    assert (boxes["a@corp.example"]["provider"], boxes["a@corp.example"]["timezone"]) == (
        "gmail",
        "Europe/Berlin",
    )
    assert boxes["b@corp.example"]["timezone"] == "Asia/Shanghai"  # the provider's zone
    # the provider's preset, as 'mailbox add' without --policy gives (it was always "default")
    assert (boxes["a@corp.example"]["policy"], boxes["b@corp.example"]["policy"]) == (
        "gmail",
        "exmail",
    )
    paused = json.loads(
        run("quota", "a@corp.example", "--json", "--at", "2026-11-03T15:00:00+01:00").output
    )[0]
    assert paused["status"] == "paused" and any("list review" in r for r in paused["reasons"])
    resumed = json.loads(
        run("quota", "a@corp.example", "--json", "--at", "2026-11-04T09:00:00+01:00").output
    )[0]
    assert resumed["status"] != "paused"
    again = run("import", str(log))
    assert again.output.strip() == f"Imported 0 new sends and 0 new bounces from {log}."


def test_unknown_mailbox_without_provider_rejects_the_file(run, tmp_path, ledger_path):
    log = write(
        tmp_path / "log.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,",
        "c@corp.example,r2@example.com,2026-11-02T09:00:00+08:00,,,,,,,",
    )
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert "line 3" in res.output and "c@corp.example" in res.output and "provider" in res.output
    after = ledger_digest(ledger_path)
    assert after.get("mailbox", []) == before.get("mailbox", []) and not after.get("send")


def test_bad_event_provider_or_timezone_names_the_line(run, tmp_path):
    cases = [
        ("a@corp.example,,2026-11-02T09:00:00+08:00,,,,exmail,,stop,", "event 'stop'"),
        (
            "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,nosuch,,,",
            "unknown provider 'nosuch'",
        ),
        (
            "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,Mars/Base,,",
            "unknown time zone 'Mars/Base'",
        ),
        (
            "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,resume,",
            "leave recipient",
        ),
    ]
    for line, message in cases:
        log = write(
            tmp_path / "bad.csv",
            "a@corp.example,ok@example.com,2026-11-01T09:00:00+08:00,,,,exmail,,,",
            line,
        )
        res = run("import", str(log))
        assert res.exit_code == 65, (line, res.output)
        assert "line 3" in res.output and message in res.output, res.output
    assert not (tmp_path / "ledger.db").exists()  # nothing imported: not even a new ledger


# -- hostile rows (issue #10 items 5 and 12): one line naming line and column, nothing imported --

OK_ROW = "a@corp.example,ok@example.com,2026-11-01T09:00:00+08:00,,,,exmail,,,"


def _future(days: int = 1) -> str:
    import datetime as dt

    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


HOSTILE = [
    (
        "sent_at year 1",
        "a@corp.example,r@example.com,0001-01-01T00:00:00+00:00,,,,,,,",
        ["sent_at", "out of range"],
    ),
    (
        "sent_at 9999",
        "a@corp.example,r@example.com,9999-12-31T23:59:59Z,,,,,,,",
        ["sent_at", "out of range"],
    ),
    (
        "sent_at 9999 west",
        "a@corp.example,r@example.com,9999-12-31T23:59:59-12:00,,,,,,,",
        ["sent_at", "out of range"],
    ),
    (
        "sent_at tomorrow",
        f"a@corp.example,r@example.com,{_future()},,,,,,,",
        ["sent_at", "in the future"],
    ),
    (
        "pause at 2200",
        "a@corp.example,,2200-01-01T00:00:00Z,,,,,,pause,x",
        ["sent_at", "out of range"],
    ),
    (
        "bounced_at year 1",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1,0001-01-01T00:00:00Z,,,,",
        ["bounced_at", "out of range"],
    ),
    (
        "bounced_at tomorrow",
        f"a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1,{_future()},,,,",
        ["bounced_at", "in the future"],
    ),
    (
        "bounced before sent",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1,"
        "2026-11-02T08:59:00+08:00,,,,",
        ["bounced_at", "before", "sent_at"],
    ),
    (
        "NUL in reason",
        "a@corp.example,,2026-11-02T09:00:00+08:00,,,,,,pause,list\x00review",
        ["reason", "control character"],
    ),
    (
        "ESC in bounce_status",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1\x1b[2J,,,,,",
        ["bounce_status", "control character"],
    ),
    (
        "custom without hosts",
        "c@lab.example,r@example.com,2026-11-02T09:00:00+08:00,,,,custom,,,",
        ["custom", "warmup mailbox add", "--smtp-host"],
    ),
]


@pytest.mark.parametrize(
    ("line", "words"),
    [(line, words) for _, line, words in HOSTILE],
    ids=[case for case, _, _ in HOSTILE],
)
def test_hostile_row_is_refused_naming_line_and_column(run, tmp_path, ledger_path, line, words):
    log = write(tmp_path / "bad.csv", OK_ROW, line)
    assert run("db", "migrate").exit_code == 0  # creates the empty ledger
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "line 3" in lines[0], res.output
    for w in words:
        assert w in lines[0], (w, res.output)
    assert ledger_digest(ledger_path) == before


def test_a_duplicated_header_column_is_refused(run, tmp_path, ledger_path):
    log = tmp_path / "dup.csv"
    log.write_text(
        "mailbox,recipient,sent_at,recipient\n"
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,s@example.com\n"
    )
    assert run("db", "migrate").exit_code == 0  # creates the empty ledger
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert "line 1" in res.output and "'recipient'" in res.output and "twice" in res.output
    assert ledger_digest(ledger_path) == before


def test_a_year_1_row_cannot_break_the_mailbox(run, tmp_path):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = write(
        tmp_path / "bad.csv", "a@corp.example,r@example.com,0001-01-01T00:00:00+00:00,,,,,,,"
    )
    assert run("import", str(log)).exit_code == 65
    for args in (("quota", "a@corp.example"), ("plan", "a@corp.example"), ("report",)):
        res = run(*args)
        assert res.exit_code == 0, (args, res.output)


def test_a_policy_column_registers_the_mailbox_with_that_policy(run, tmp_path):
    log = write(
        tmp_path / "log.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,",
    )
    text = log.read_text().splitlines()
    rows = [text[0] + ",policy", text[1] + ",gentle"]
    log.write_text("\n".join(rows) + "\n")
    assert run("import", str(log)).exit_code == 0
    (box,) = json.loads(run("mailbox", "list", "--json").output)
    assert box["policy"] == "gentle"

    other = tmp_path / "other.csv"
    other.write_text(
        text[0] + ",policy\n" + "b@corp.example,r@example.com,2026-11-02T09:00:00+08:00,"
        ",,,exmail,,,,nosuch\n"
    )
    res = run("import", str(other))
    assert res.exit_code == 65
    assert res.output == (
        f"Error: {other}: line 2: policy 'nosuch': no such preset ({', '.join(preset_names())}) "
        "nor stored policy; store it first with 'warmup policy add nosuch FILE'\n"
    )
    assert [b["address"] for b in json.loads(run("mailbox", "list", "--json").output)] == [
        "a@corp.example"
    ]


@pytest.mark.slow
def test_the_sample_generator_writes_the_shipped_sample_byte_for_byte(tmp_path):
    """data/generate_sample.py promises the same file every run (it had broken when the ledger's
    store module went away)."""
    import runpy

    out = tmp_path / "sample.csv"
    gen = runpy.run_path(str(Path(__file__).parents[1] / "data" / "generate_sample.py"))
    gen["generate"](out)
    assert out.read_bytes() == (Path(__file__).parents[1] / "data" / "sample.csv").read_bytes()
