"""``warmup import`` registers unknown mailboxes (provider, timezone) and imports pause/resume rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.conftest import ledger_digest
from warmup import api, importcsv
from warmup.ledger import BounceIn, Recorded, SendIn, open_ledger
from warmup.ledger.schema import BOUNCE, BOUNCE_KINDS, DAY_STAT, MAILBOX, SEND, SUPPRESSION
from warmup.ledger.values import from_utc_text, send_key, utc_text
from warmup.policy.spec import preset_names

pytest_plugins = ["tests.pgkit"]  # fixtures: ledger_url (each backend)

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
    assert again.output.strip() == (
        f"Imported 0 new sends and 0 new bounces from {log}. 5 rows already recorded, skipped."
    )


def test_an_import_run_again_says_how_many_rows_were_recorded_already(ledger_url, run, tmp_path):
    """The same file imported again said "Imported 0 new sends and 0 new bounces" alone: not
    that every row was in the ledger already, which sent users looking for what went wrong.
    It says how many (a send or pause/resume row in the ledger before the import; a row
    repeating another of the same file is neither new nor one of them), in text and --json."""
    log = write(
        tmp_path / "log.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+01:00,,,,gmail,Europe/Berlin,,",
        "a@corp.example,r2@example.com,2026-11-02T09:05:00+01:00,hard,5.1.1,,,,,",
        "a@corp.example,r2@example.com,2026-11-02T09:05:00+01:00,hard,5.1.1,,,,,",  # a repeat
        "a@corp.example,,2026-11-03T12:00:00+01:00,,,,,,pause,list review",
    )
    first = run("import", str(log), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {
        "file": str(log),
        "sends": 2,
        "bounces": 1,
        "already_recorded": 0,
        "mailboxes": 1,
        "events": 1,
        "bounces_skipped": 0,
        "ignored_columns": [],
    }
    more = write(
        tmp_path / "more.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+01:00,,,,,,,",  # recorded already
        "a@corp.example,r3@example.com,2026-11-02T10:00:00+01:00,,,,,,,",
    )
    res = run("import", str(more))
    assert (res.exit_code, res.stdout) == (
        0,
        f"Imported 1 new send and 0 new bounces from {more}. 1 row already recorded, skipped.\n",
    )
    again = run("import", str(log), "--json")
    assert again.exit_code == 0, again.output
    said = json.loads(again.stdout)
    assert [said[k] for k in ("sends", "bounces", "events", "already_recorded")] == [0, 0, 0, 4]


def test_a_known_mailbox_the_file_gives_other_settings_keeps_its_own_and_says_so(run, tmp_path):
    """README's order (Quick start's 'mailbox add sales@corp.example --provider exmail', then
    Reports' 'import data/sample.csv', whose sales@ row says policy default): the file's policy
    was dropped without a word, and the plot then marked the sample's National Day sends over
    quota (exmail closes CN holidays). The ledger's settings stay; a note names the line, both
    values and the command that takes the file's."""
    assert run("mailbox", "add", "sales@corp.example", "--provider", "exmail").exit_code == 0
    assert run("mailbox", "add", "ops@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone,policy\n"
        "sales@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,,\n"
        "sales@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,exmail,Asia/Shanghai,default\n"
        "sales@corp.example,r3@example.com,2026-11-02T09:10:00+08:00,gmail,,\n"
        "ops@corp.example,r4@example.com,2026-11-02T09:00:00+08:00,exmail,Asia/Shanghai,exmail\n"
        "new@corp.example,r5@example.com,2026-11-02T09:00:00+01:00,gmail,Europe/Berlin,\n"
        "ops@corp.example,r6@example.com,2026-11-02T09:10:00+08:00,gmail,Europe/Berlin,\n",
        encoding="utf-8",
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stdout == (
        f"Imported 6 new sends and 0 new bounces from {log}. "
        "Registered 1 new mailbox and 0 pause/resume events.\n"
    )
    # one note per mailbox, for its first row giving settings (ops@'s agrees: none for it)
    assert res.stderr == (
        f"note: {log}: line 3 gives sales@corp.example policy 'default'; it was in the ledger "
        "already and keeps its own (policy 'exmail'): these columns only register new "
        "mailboxes; to follow the file: 'warmup mailbox set sales@corp.example --policy "
        "default'\n"
    )
    boxes = {b["address"]: b for b in json.loads(run("mailbox", "list", "--json").output)}
    assert [boxes["sales@corp.example"][k] for k in ("provider", "timezone", "policy")] == [
        "exmail",
        "Asia/Shanghai",
        "exmail",
    ]
    other = tmp_path / "other.csv"
    other.write_text(
        "mailbox,recipient,sent_at,provider,timezone,policy\n"
        "ops@corp.example,r7@example.com,2026-11-03T09:00:00+08:00,gmail,Europe/Berlin,\n",
        encoding="utf-8",
    )
    res = run("-q", "import", str(other))  # a note is no confirmation: --quiet keeps it
    assert res.exit_code == 0 and res.stdout == ""
    assert res.stderr == (
        f"note: {other}: line 2 gives ops@corp.example provider 'gmail', timezone "
        "'Europe/Berlin'; it was in the ledger already and keeps its own (provider 'exmail', "
        "timezone 'Asia/Shanghai'): these columns only register new mailboxes; to follow the "
        "file: 'warmup mailbox set ops@corp.example --timezone Europe/Berlin'\n"
    )


def test_a_mailbox_registered_in_an_etc_gmt_zone_is_told_its_sign_counts_backwards(run, tmp_path):
    """'mailbox add --timezone Etc/GMT+8' says that zone is UTC-08:00; a file registering a
    mailbox in it (a timezone column typed for China's UTC+8) said nothing, and the mailbox's
    days began 16 hours late. A mailbox the ledger knows keeps its zone: no note for it."""
    assert run("mailbox", "add", "old@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone\n"
        "new@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail,Etc/GMT+8\n"
        "new@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,,\n"
        "utc@corp.example,r3@example.com,2026-11-02T09:00:00+00:00,gmail,Etc/GMT+0\n"
        "old@corp.example,r4@example.com,2026-11-02T09:00:00+08:00,exmail,Etc/GMT+8\n",
        encoding="utf-8",
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[-1] + "\n" == (  # after the note that old@ keeps its zone
        "note: new@corp.example: Etc/GMT+8 is UTC-08:00 (the IANA Etc/GMT zones count the sign "
        "backwards); for UTC+08:00 write Etc/GMT-8, or better your city's zone (an IANA name "
        "like Asia/Shanghai)\n"
    )
    assert len(res.stderr.splitlines()) == 2 and "old@corp.example" in res.stderr.splitlines()[0]
    boxes = {b["address"]: b for b in json.loads(run("mailbox", "list", "--json").output)}
    assert boxes["new@corp.example"]["timezone"] == "Etc/GMT+8"  # taken as given


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
            "a resume row takes only mailbox, sent_at (when) and reason: leave recipient",
        ),
        (  # was "an pause row"
            "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,pause,",
            "a pause row takes only mailbox, sent_at (when) and reason: leave recipient",
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
        # A full mailbox (4.2.2) imported as hard suppressed a good address, which 'record
        # bounce --kind hard --status 4.2.2' refuses: the same rule for both
        "hard bounce of a 4.x.x",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,4.2.2,,,,,",
        ["line 3:", "bounce_status 4.2.2", "class 4", "bounce_kind soft"],
    ),
    (
        # "bounce_status/bounced_at given without bounce_kind": what to do was not said
        "bounce status without a kind",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,5.1.1,,,,,",
        ["line 3:", "bounce_status '5.1.1' but no bounce_kind", "(hard, soft, block or complaint)"],
    ),
    (
        "bounce of a 2.x.x",  # delivered: no bounce
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,soft,2.0.0,,,,,",
        ["line 3:", "bounce_status 2.0.0", "delivered"],
    ),
    (
        "custom without hosts",
        "c@lab.example,r@example.com,2026-11-02T09:00:00+08:00,,,,custom,,,",
        ["custom", "warmup mailbox add", "--smtp-host"],
    ),
    (
        "sent_at day/month/year",  # 3 November in Europe: was read as March 11, silently
        "a@corp.example,r@example.com,3/11/2026,,,,,,,",
        ["line 3:", "sent_at", "'3/11/2026'", "day/month or month/day", "year first"],
    ),
    (
        "bounced_at month/day/year",
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1,11/3/2026 9:00,,,,",
        ["line 3:", "bounced_at", "year first"],
    ),
    (
        "recipient across lines",  # a row is named by the line it starts on
        'a@corp.example,"r@example.com\r\nBcc: x@example.com",2026-11-02T09:00:00+08:00,,,,,,,',
        ["line 3:", "recipient"],
    ),
    (
        # A comma left out: refused as "sent_at: '' is not an ISO 8601 date", a cell the line
        # does not have, with nothing saying the line is short.
        "line short of fields",
        "a@corp.example,r@example.com",
        ["line 3:", "sent_at", "(the line has 2 fields, the header 10)"],
    ),
    (
        "unclosed quote",  # swallows lines until the csv module's field limit
        'a@corp.example,"r@example.com,2026-11-02T09:00:00+08:00,,,,,,,\n' + "x,y\n" * 40_000,
        ["line 3:", "field limit", "quote"],
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


@pytest.mark.parametrize(
    ("column", "meant"),
    [("bounce_knd", "bounce_kind"), ("Bounce_Kind", "bounce_kind"), ("bounced at", "bounced_at")],
)
def test_a_misspelt_column_is_refused_naming_the_one_meant(
    run, tmp_path, ledger_path, column, meant
):
    # It was ignored, so every bounce in the file was lost without a word.
    log = tmp_path / "typo.csv"
    log.write_text(
        f"mailbox,recipient,sent_at,{column}\n"
        "a@corp.example,r@example.com,2026-11-02T09:00:00+08:00,hard\n"
    )
    assert run("db", "migrate").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.output.count("\n") == 1 and "line 1" in res.output, res.output
    assert f"{column!r}" in res.output and f"did you mean {meant!r}" in res.output, res.output
    assert ledger_digest(ledger_path) == before


def test_columns_warmup_does_not_read_are_named_in_the_summary(run, tmp_path):
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "extra.csv"
    log.write_text(
        "mailbox,campaign,recipient,sent_at,subject\n"
        "a@corp.example,nov,r@example.com,2026-11-02T09:00:00+08:00,Hello\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert "Imported 1 new send" in res.output
    assert "Ignored 2 columns warmup does not read: campaign, subject." in res.output


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
    # A file's path in the column: the hint named the path as the policy's name, which
    # 'policy add' refuses; it now names the file's stem and says to write that in the column.
    other.write_text(
        text[0] + ",policy\n" + "b@corp.example,r@example.com,2026-11-02T09:00:00+08:00,"
        ",,,exmail,,,,policies/careful.toml\n"
    )
    res = run("import", str(other))
    assert res.exit_code == 65
    assert res.output.endswith(
        "store the file first with 'warmup policy add careful policies/careful.toml' and "
        "write careful in the policy column\n"
    ), res.output
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


# -- batches: the same ledger as row by row ----------------------------------------------------


def _log_rows(
    start: dt.datetime,
) -> list[tuple[str, str, dt.datetime, str, str, dt.datetime | None]]:
    """4,500 rows (three write batches) over three mailboxes: a bounce every 23rd row (each
    kind, some dated later than their send), rows repeated within a batch and across batches,
    an address hard-bounced by two mailboxes (in two batches), sends the ledger holds already."""
    rows = []
    for i in range(4500):
        box = ("a", "b", "c")[i % 3] + "@corp.example"
        when = start + dt.timedelta(minutes=3 * i)
        kind = BOUNCE_KINDS[(i // 23) % len(BOUNCE_KINDS)] if i % 23 == 0 else ""
        later = when + dt.timedelta(hours=1) if kind and i % 2 else None
        rows.append(
            (box, f"r{i % 1700}@example{i % 7}.com", when, kind, "5.1.1" if kind else "", later)
        )
    rows[700] = rows[92]  # a repeat in the same batch, with its bounce
    rows[3000] = rows[1196]  # and across batches
    rows[30] = ("b@corp.example", "twice@example.com", start, "hard", "5.1.1", None)
    rows[4002] = ("c@corp.example", "twice@example.com", start, "hard", "", None)
    rows[46] = ("a@corp.example", "old1@example.com", start, "soft", "", None)  # hard before
    rows[2300] = ("a@corp.example", "old2@example.com", start, "complaint", "", None)
    return rows


def _ledger_rows(ledger) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    """What an import leaves, keyed by addresses and keys (not ids), instants in UTC."""

    def norm(row: tuple[object, ...]) -> tuple[object, ...]:
        return tuple(v.astimezone(dt.UTC) if isinstance(v, dt.datetime) else v for v in row)

    box = {m.id: m.address for m in ledger.mailboxes()}
    with ledger.read() as conn:
        keys = dict(conn.execute(sa.select(SEND.c.id, SEND.c.key)).all())
        tables = {
            "send": [
                (box[r[0]], *r[1:])
                for r in conn.execute(
                    sa.select(
                        SEND.c.mailbox_id,
                        SEND.c.recipient,
                        SEND.c.message_id,
                        SEND.c.at,
                        SEND.c.day,
                        SEND.c.outcome,
                        SEND.c.source,
                        SEND.c.key,
                        SEND.c.settled_at,
                    )  # fmt: skip
                )
            ],
            "bounce": [
                (box[r[0]], keys.get(r[1]), *r[2:])
                for r in conn.execute(
                    sa.select(
                        BOUNCE.c.mailbox_id,
                        BOUNCE.c.send_id,
                        BOUNCE.c.recipient,
                        BOUNCE.c.kind,
                        BOUNCE.c.status,
                        BOUNCE.c.at,
                        BOUNCE.c.day,
                        BOUNCE.c.source,
                        BOUNCE.c.key,
                        BOUNCE.c.counted,
                    )  # fmt: skip
                )
            ],
            "suppression": [
                (r[0], r[1], r[2], box[r[3]], r[4])
                for r in conn.execute(
                    sa.select(
                        SUPPRESSION.c.address,
                        SUPPRESSION.c.kind,
                        SUPPRESSION.c.reason,
                        SUPPRESSION.c.mailbox_id,
                        SUPPRESSION.c.created_at,
                    )  # fmt: skip
                )
            ],
            "day_stat": [
                (box[r[0]], *r[1:])
                for r in conn.execute(sa.select(*DAY_STAT.c).where(DAY_STAT.c.sent > -1))
            ],
        }
    return {t: sorted((norm(r) for r in rows), key=repr) for t, rows in tables.items()}


def _rev(ledger) -> int:  # type: ignore[no-untyped-def]
    with ledger.read() as conn:
        return conn.execute(
            sa.select(MAILBOX.c.rev).where(MAILBOX.c.address == "a@corp.example")
        ).scalar_one()


def _seed(ledger) -> None:  # type: ignore[no-untyped-def]
    api.add_mailbox(ledger, "a@corp.example", "exmail")
    box = ledger.mailbox("a@corp.example")
    start = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    old1 = BounceIn("old1@example.com", "hard", start, "seeded", source="record")
    ledger.record(box, sends=[SendIn("old1@example.com", start, None, "record", old1)])
    ledger.record(box, sends=[SendIn("old2@example.com", start, None, "record")])


@pytest.mark.slow
def test_an_import_in_batches_writes_what_row_by_row_records_write(ledger_url, run, tmp_path):
    start = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    rows = _log_rows(start)
    log = tmp_path / "log.csv"
    with log.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["mailbox", "recipient", "sent_at", "bounce_kind", "bounce_status",
                      "bounced_at", "provider"])  # fmt: skip
        for box, rcpt, when, kind, status, later in rows:
            shown = when.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
            out.writerow([box, rcpt, shown, kind, status, later.isoformat() if later else "",
                          "exmail" if box != "a@corp.example" else ""])  # fmt: skip
    ledger = open_ledger(ledger_url)
    _seed(ledger)
    rev = _rev(ledger)
    res = run("import", str(log), "--db", ledger_url)
    assert res.exit_code == 0, res.output

    reference = open_ledger(f"sqlite:///{tmp_path / 'reference.db'}")
    _seed(reference)
    for b in ("b@corp.example", "c@corp.example"):
        api.add_mailbox(reference, b, "exmail")
    got = Recorded()
    boxes = {m.address: m for m in reference.mailboxes()}
    with reference.write() as conn:  # row by row (record()'s path), one transaction: faster
        for box, rcpt, when, kind, status, later in rows:
            key = f"import:{send_key(rcpt, when, None)}"
            bounce = (
                BounceIn(rcpt, kind, later or when, key, status=status or None, source="import")
                if kind
                else None
            )
            send = SendIn(rcpt, when, None, "import", bounce)
            got.add(reference._record(conn, boxes[box], [send], (), ()))
    assert res.stdout.startswith(
        f"Imported {got.sends} new sends and {got.bounces} new bounces from {log}."
    )
    assert got.counted < got.bounces  # some answered a send already answered
    assert _ledger_rows(ledger) == _ledger_rows(reference)
    assert _rev(ledger) > rev  # walk memos of its past are stale
    again = run("import", str(log), "--db", ledger_url)
    assert "Imported 0 new sends and 0 new bounces" in again.stdout
    ledger.close()
    reference.close()


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd (process substitution)")
def test_a_log_from_a_pipe_is_read_once(run, tmp_path):
    """``warmup import <(zcat log.csv.gz)``: the file is a pipe, which reads once. A first pass
    for the header alone left the rows' pass an empty (or half-read) file."""
    import os

    fds: list[int] = []

    def piped(data: bytes) -> str:
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        fds.append(r)
        return f"/dev/fd/{r}"

    log = "\n".join(
        (
            "mailbox,recipient,sent_at,provider,campaign",
            "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail,nov",
            "a@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,,nov",
        )
    )
    path = piped(f"{log}\n".encode())
    res = run("import", path)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (
        f"Imported 2 new sends and 0 new bounces from {path}. Registered 1 new mailbox and "
        "0 pause/resume events. Ignored 1 column warmup does not read: campaign."
    )
    path = piped(f"{log}\n".encode().replace(b"r2@", b"r\xff@"))
    res = run("import", path)
    assert res.exit_code == 65
    assert res.output == (
        f"Error: {path}: line 3: not UTF-8 text; save it as 'CSV UTF-8 (comma delimited)'\n"
    )
    for fd in fds:
        os.close(fd)


def test_a_message_id_with_or_without_its_angle_brackets_is_one_send(ledger_url, run, tmp_path):
    """The gate records Message-IDs as the header has them (``<id@host>``), logs and exports
    often write them bare. The same message imported the other way was a second send:
    every message counted twice in the day's sends (and in the bounce rates' denominators)."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    res = run(
        "record", "send", box, "--to", "r1@example.com", "--at", "2026-11-20T09:00:00+08:00",
        "--message-id", "<m1@corp.example>", "--db", ledger_url,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,message_id,bounce_kind,bounce_status\n"
        f"{box},r1@example.com,2026-11-20T09:00:00+08:00,m1@corp.example,hard,5.1.1\n"
        f"{box},r2@example.com,2026-11-20T09:05:00+08:00,<m2@corp.example>,,\n"
    )
    res = run("import", str(log), "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert "Imported 1 new send and 1 new bounce" in res.stdout
    flipped = tmp_path / "flipped.csv"  # the same log, brackets the other way round
    flipped.write_text(
        log.read_text()
        .replace(",m1@corp.example,", ",<m1@corp.example>,")
        .replace(",<m2@corp.example>,", ",m2@corp.example,")
    )
    res = run("import", str(flipped), "--db", ledger_url)
    assert "Imported 0 new sends and 0 new bounces" in res.stdout, res.output
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar() == 2
        stats = conn.execute(sa.select(DAY_STAT.c.sent, DAY_STAT.c.hard)).all()
        assert conn.execute(sa.select(BOUNCE.c.counted)).scalars().all() == [True]
    assert [tuple(s) for s in stats] == [(2, 1)]
    ledger.close()


def test_a_second_bounce_of_a_send_is_skipped_and_said(ledger_url, run, tmp_path):
    """One bounce per send is imported; a second (in the same file, or a later one) was dropped
    without a word: a soft bounce then the hard one left the address unsuppressed and the user
    believing it recorded. Now the summary counts them; the same bounce again (a file imported
    twice, one saved by Excel with its times cut) is nothing new and not counted."""
    box = "a@corp.example"
    head = "mailbox,recipient,sent_at,message_id,bounce_kind,bounce_status,bounced_at,provider\n"
    sent = "2026-11-20T09:00:00+08:00"
    first = tmp_path / "first.csv"
    first.write_text(
        head
        + f"{box},x@example.com,{sent},<m1@corp.example>,soft,4.2.2,2026-11-20T09:05:00.25+08:00,"
        "exmail\n"
        + f"{box},x@example.com,{sent},<m1@corp.example>,hard,5.1.1,2026-11-21T09:05:00+08:00,\n"
        + f"{box},y@example.com,{sent},,hard,5.1.1,2026-11-21T09:05:00+08:00,\n"
        + f"{box},y@example.com,{sent},,hard,5.1.1,2026-11-21T09:05:00+08:00,\n"  # same again
    )
    res = run("import", str(first), "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (
        f"Imported 2 new sends and 2 new bounces from {first}. Registered 1 new mailbox and 0 "
        "pause/resume events. 1 bounce skipped: its send has one already (record another with "
        "'warmup record bounce')."
    )
    later = tmp_path / "later.csv"  # another log: y's send bounced soft, x's hard
    later.write_text(
        head
        + f"{box},y@example.com,{sent},,soft,4.2.2,2026-11-22T09:05:00+08:00,\n"
        + f"{box},x@example.com,{sent},m1@corp.example,hard,5.1.1,2026-11-21T09:05:00+08:00,\n"
    )
    res = run("import", str(later), "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert "Imported 0 new sends and 0 new bounces" in res.stdout
    assert "2 bounces skipped: their sends have one already" in res.stdout
    # The first file again, and saved by Excel (times cut to the minute): only the second
    # bounce of x's send is said again; the same bounces are nothing new.
    cut = tmp_path / "cut.csv"
    cut.write_text(first.read_text().replace(":05:00.25+08:00", ":05+08:00"))
    for again in (first, cut):
        res = run("import", str(again), "--db", ledger_url)
        assert res.exit_code == 0, res.output
        assert res.stdout.strip() == (
            f"Imported 0 new sends and 0 new bounces from {again}. 1 bounce skipped: its send "
            "has one already (record another with 'warmup record bounce'). 4 rows already "
            "recorded, skipped."
        )
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        kinds = conn.execute(sa.select(BOUNCE.c.recipient, BOUNCE.c.kind)).all()
        assert sorted(tuple(k) for k in kinds) == [
            ("x@example.com", "soft"),
            ("y@example.com", "hard"),
        ]
    ledger.close()


def test_record_bounce_again_is_idempotent_and_another_status_refused(ledger_url, run):
    """``record bounce`` of a bounce recorded already (same recipient, kind and time) said
    "Already recorded." even when it gave another status, which was dropped: the same one is
    still nothing new (0), one contradicting it is refused (65), the ledger untouched. Another
    time is another report: kept, not counted again, and said so."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    res = run(
        "record", "send", box, "--to", "x@example.com", "--at", "2026-11-20T09:00:00+08:00",
        "--db", ledger_url,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    bounce = (
        "record",
        "bounce",
        box,
        "--to",
        "x@example.com",
        "--kind",
        "hard",
        "--db",
        ledger_url,
    )
    when = ("--at", "2026-11-20T10:00:00+08:00")
    res = run(*bounce, *when, "--status", "5.1.1")
    assert res.exit_code == 0 and res.output == "Recorded a hard bounce for x@example.com.\n"
    for same in (("--status", "5.1.1"), ()):  # no status contradicts none
        res = run(*bounce, *when, *same)
        assert (res.exit_code, res.output) == (0, "Already recorded.\n")
    res = run(*bounce, *when, "--status", "5.1.2")
    assert res.exit_code == 65, res.output
    assert res.output == (
        "Error: --status 5.1.2: a hard bounce for x@example.com at 2026-11-20 10:00:00 CST is "
        "recorded already with status 5.1.1; a bounce is recorded once (one of another time is "
        "another report)\n"
    )
    res = run(*bounce, "--at", "2026-11-20T11:00:00+08:00", "--status", "5.1.2")
    assert res.exit_code == 0, res.output
    assert "that an earlier bounce already counts in its bounce rate, so it does not count" in (
        res.output
    )
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        rows = conn.execute(sa.select(BOUNCE.c.status, BOUNCE.c.counted).order_by(BOUNCE.c.id))
        assert [tuple(r) for r in rows] == [("5.1.1", True), ("5.1.2", False)]
    ledger.close()


def test_record_bounce_without_at_run_again_is_already_recorded(ledger_url, run):
    """``record bounce`` without ``--at`` run twice (a script's retry, a command typed again)
    stored a second row at a new "now": listed as "a second report of a send whose failure is
    already counted" though it was the same bounce, and the rates, suppressions and the first
    row's reads said nothing of it. The repeat is "Already recorded." (exit 0, nothing
    written), for a send (same kind and status) and for an address never mailed; another
    kind, another status or a later send to the address is still recorded."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    res = run("record", "send", box, "--to", "x@example.com", "--db", ledger_url)
    assert res.exit_code == 0, res.output

    def bounce(to: str, *more: str) -> tuple[int, str]:
        res = run("record", "bounce", box, "--to", to, *more, "--db", ledger_url)
        return res.exit_code, res.output

    soft = ("--kind", "soft", "--status", "4.2.2")
    assert bounce("x@example.com", *soft) == (0, "Recorded a soft bounce for x@example.com.\n")
    assert bounce("x@example.com", *soft) == (0, "Already recorded.\n")
    code, said = bounce("x@example.com", "--kind", "soft", "--status", "4.2.1")
    assert code == 0 and "so it does not count again" in said, said  # another status: kept
    code, said = bounce("never@example.com")
    assert code == 0 and "it matches no send" in said, said
    assert bounce("never@example.com") == (0, "Already recorded.\n")
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        rows = conn.execute(
            sa.select(BOUNCE.c.recipient, BOUNCE.c.status, BOUNCE.c.counted).order_by(BOUNCE.c.id)
        )
        assert [tuple(r) for r in rows] == [
            ("x@example.com", "4.2.2", True),
            ("x@example.com", "4.2.1", False),
            ("never@example.com", None, False),
        ]
    ledger.close()
    listed = json.loads(run("bounces", "list", "--json", "--db", ledger_url).output)
    assert len(listed) == 3
    # the address mailed again: a bounce of that send is its own
    res = run("record", "send", box, "--to", "never@example.com", "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert bounce("never@example.com") == (0, "Recorded a hard bounce for never@example.com.\n")


def test_a_bounce_recorded_again_with_another_status_is_kept_and_counts_once(ledger_url, run):
    """``record bounce`` without ``--at`` run again with another ``--status`` (or kind) is
    another report of the same failure: kept and listed, said not to count again, and it does
    not: a bounce counts once per send, so the 7-day bounce rate stays 1 of 20 (not 2, nor 3),
    the rollup's day holds one hard bounce, the address is suppressed once. The same report
    once more is "Already recorded."; a hard report after a soft one still suppresses."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    leads = [f"r{i}@example.com" for i in range(20)]
    to = [a for lead in leads for a in ("--to", lead)]
    assert run("record", "send", box, *to, "--at", f"{yesterday}+00:00").exit_code == 0
    said = [
        run("record", "bounce", box, "--to", rcpt, *more).output
        for rcpt, *more in [
            ("r0@example.com", "--status", "5.1.1"),
            ("r0@example.com", "--status", "5.1.2"),  # another report: kept, not counted
            ("r0@example.com", "--kind", "soft", "--status", "4.2.2"),
            ("r0@example.com", "--status", "5.1.2"),  # that one again
            ("r1@example.com", "--kind", "soft", "--status", "4.2.2"),
            ("r1@example.com", "--status", "5.1.1"),  # the final verdict after a soft one
        ]
    ]
    again = "that an earlier bounce already counts in its bounce rate, so it does not count again."
    assert said[0] == "Recorded a hard bounce for r0@example.com.\n"
    assert said[1].endswith(again + "\n") and said[2].endswith(again + "\n"), said
    assert said[3] == "Already recorded.\n"
    assert said[4] == "Recorded a soft bounce for r1@example.com.\n"
    assert said[5].startswith("Recorded a hard bounce for r1@example.com;") and again in said[5]
    [q] = json.loads(run("quota", box, "--json").output)
    assert q["bounce_rate"] == 0.1  # r0 and r1: 2 of 20 sends, each counted once
    assert "7-day bounce rate 10.0% (2/20)" in " ".join(q["reasons"]), q["reasons"]
    listed = json.loads(run("bounces", "list", "--json").output)
    assert sorted((b["recipient"], b["status"], b["counted"]) for b in listed) == [
        ("r0@example.com", "4.2.2", False),
        ("r0@example.com", "5.1.1", True),
        ("r0@example.com", "5.1.2", False),
        ("r1@example.com", "4.2.2", True),
        ("r1@example.com", "5.1.1", False),
    ]
    ledger = open_ledger(ledger_url)
    try:
        with ledger.read() as conn:
            rolled = conn.execute(
                sa.select(sa.func.sum(DAY_STAT.c.hard), sa.func.sum(DAY_STAT.c.soft))
            ).one()
            suppressed = conn.execute(
                sa.select(SUPPRESSION.c.address).order_by(SUPPRESSION.c.address)
            ).scalars()
            assert tuple(rolled) == (1, 1)
            assert list(suppressed) == ["r0@example.com", "r1@example.com"]
    finally:
        ledger.close()


def test_record_send_knows_a_message_id_written_the_other_way(ledger_url, run):
    """``record send --message-id id`` of a message the gate (or a log) recorded as ``<id>``
    was a second send, as an import of it was."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    when = "2026-11-20T09:00:00+08:00"
    for mid, said in (("<m1@corp.example>", "Recorded 1 send"), ("m1@corp.example", "0 sends")):
        res = run(
            "record", "send", box, "--to", "r1@example.com", "--at", when,
            "--message-id", mid, "--db", ledger_url,
        )  # fmt: skip
        assert res.exit_code == 0 and said in res.output, res.output
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        assert conn.execute(sa.select(DAY_STAT.c.sent)).scalars().all() == [1]
    ledger.close()


def test_empty_angle_brackets_are_no_message_id(ledger_url, run, tmp_path):
    """A log that writes ``<>`` for a message without a Message-ID keyed every such row on
    ``<>|recipient``: two messages to one recipient were one send, the second "already
    recorded", by import and by ``record send`` alike: a history undercounted, a quota too high.
    ``<>`` is no Message-ID, as an empty cell is: the rows are keyed on their times."""
    box, log = "a@corp.example", tmp_path / "log.csv"
    rows = [f"{box},r1@example.com,2026-11-20T{h}:00:00+08:00,<>,exmail" for h in ("09", "10")]
    log.write_text("\n".join(["mailbox,recipient,sent_at,message_id,provider", *rows]) + "\n")
    res = run("import", str(log), "--db", ledger_url)
    assert res.exit_code == 0 and "Imported 2 new sends" in res.output, res.output
    for at in ("2026-11-20T11:00:00+08:00", "2026-11-20T12:00:00+08:00"):
        res = run(
            "record", "send", box, "--to", "r1@example.com", "--at", at,
            "--message-id", "< >", "--db", ledger_url,
        )  # fmt: skip
        assert res.exit_code == 0 and "Recorded 1 send for" in res.output, res.output
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        assert conn.execute(sa.select(DAY_STAT.c.sent)).scalars().all() == [4]
        assert conn.execute(sa.select(SEND.c.message_id)).scalars().all() == [None] * 4
    ledger.close()


@pytest.mark.parametrize(
    "args",
    [
        ("record", "send", "a@corp.example", "--to", "r1@example.com", "--message-id", ""),
        ("record", "bounce", "a@corp.example", "--to", "r1@example.com", "--kind", "hard",
         "--status", " "),
    ],
    ids=["message-id", "status"],
)  # fmt: skip
def test_a_record_option_given_blank_is_refused(run, ledger_path, args):
    """``--message-id "$MID"`` with the variable unset recorded a send with none, keyed on its
    time, so a script's retry recorded it twice; a blank ``--status`` a bounce with none. A
    value given blank is refused (64), as README says of every option, nothing recorded."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run(*args)
    option = args[-2]
    assert (res.exit_code, res.output) == (
        64,
        f"Error: Invalid value for '{option}': blank; give the value, or leave the option out "
        f"(see 'cli record {args[1]} --help')\n",
    )
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("encoding", "sep", "said"),
    [
        ("gbk", ",", "line 3: not UTF-8 text (it looks like GBK/GB18030, as Excel's 'CSV' saves "
                     "on Chinese Windows); save it as 'CSV UTF-8 (comma delimited)'"),
        ("gb18030", ",", "line 3: not UTF-8 text (it looks like GBK/GB18030"),
        ("utf-16", "\t", "line 1: not UTF-8 text (it is UTF-16, as Excel's 'Unicode Text' "
                         "saves); save it as 'CSV UTF-8 (comma delimited)'"),
        ("utf-8", ";", "line 1: its columns are separated by ';', not commas; save it as "
                       "'CSV UTF-8 (comma delimited)'"),
        ("utf-8", "\t", "line 1: its columns are separated by '\\t', not commas"),
    ],
)  # fmt: skip
def test_what_excel_saves_is_refused_saying_what_it_is(
    run, tmp_path, ledger_path, encoding, sep, said
):
    """Chinese Windows' Excel saves 'CSV' in GBK, 'Unicode Text' in UTF-16 with tabs, and a
    European one separates by semicolons: 'not UTF-8 text' or 'header lacks mailbox, ...'
    (over a header that has it) left the user guessing which of Excel's formats to pick."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    rows = [
        ["mailbox", "recipient", "sent_at", "event", "reason"],
        ["a@corp.example", "r1@example.com", "2026-11-02T09:00:00+08:00", "", ""],
        ["a@corp.example", "", "2026-11-03T09:00:00+08:00", "pause", "名单清理 张三"],
    ]
    log.write_bytes("\r\n".join(sep.join(r) for r in rows).encode(encoding))
    _refused(run, log, ledger_path, f"Error: {log}: {said}")


def test_a_latin1_log_is_not_said_to_look_like_gbk(run, tmp_path, ledger_path):
    """Western European Windows' Excel saves 'CSV' in Windows-1252: a pause reason 'Jörg'
    ('J\\xf6rg') was said to 'look like GBK/GB18030', sending the user after a Chinese code
    page. It is named for what its bytes show, and the advice stays."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_bytes(
        b"mailbox,recipient,sent_at,event,reason\r\n"
        b"a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,\r\n"
        b"a@corp.example,,2026-11-03T09:00:00+08:00,pause,J\xf6rg asked\r\n"
    )
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output == (
        f"Error: {log}: line 3: not UTF-8 text (it looks like Windows-1252/Latin-1, as Excel's "
        f"'CSV' saves on Western European Windows); save it as 'CSV UTF-8 (comma delimited)'\n"
    ), res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    "reason", ["张", "男", "张 asked", "by 王"], ids=["name", "gender", "then-ascii", "after-ascii"]
)
def test_a_gbk_log_with_one_ideograph_is_said_to_look_like_gbk(run, tmp_path, ledger_path, reason):
    """A GBK log whose only Chinese is one character (a surname, 男 in a gender column) was said
    to 'look like Windows-1252/Latin-1' ('张' is d5 c5: 'ÕÅ'), sending the user after a Western
    code page: an ideograph standing as a word of its own, not inside a Western word as
    accented letters are, is Chinese. The advice stays; nothing is imported."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_bytes(
        b"mailbox,recipient,sent_at,event,reason\r\n"
        b"a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,,\r\n"
        b"a@corp.example,,2026-11-03T09:00:00+08:00,pause," + reason.encode("gbk") + b"\r\n"
    )
    _refused(
        run,
        log,
        ledger_path,
        f"Error: {log}: line 3: not UTF-8 text (it looks like GBK/GB18030, as Excel's 'CSV' "
        f"saves on Chinese Windows); save it as 'CSV UTF-8 (comma delimited)'\n",
    )


def test_a_send_before_a_start_day_still_ahead_is_refused_by_record_and_import(
    run, tmp_path, ledger_path
):
    """A mailbox added with ``--started`` a day ahead is closed until then (quota 0), yet
    ``record send`` and ``import`` took sends dated before it, which the warm-up then ignored
    silently. They are refused (exit 65, the ledger untouched); a start day already reached (a
    re-bound mailbox) still takes its older history."""
    ahead, rebound = "ahead@corp.example", "rebound@corp.example"
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    start = today + dt.timedelta(days=10)
    for box, day in ((ahead, start), (rebound, today - dt.timedelta(days=3))):
        res = run("mailbox", "add", box, "--provider", "exmail", "--started", str(day))
        assert res.exit_code == 0, res.output
    before = ledger_digest(ledger_path)
    old = f"{today - dt.timedelta(days=20)}T09:00:00+08:00"
    for when in ((), ("--at", old)):
        res = run("record", "send", ahead, "--to", "r1@example.com", *when)
        assert res.exit_code == 65, res.output
        assert f"does not start until {start} (closed until then)" in res.output
        assert "nothing was recorded" in res.output and "Traceback" not in res.output
    log = write(
        tmp_path / "log.csv",
        f"{rebound},r1@example.com,{old},,,,,,,",
        f"{ahead},r2@example.com,{old},,,,,,,",
    )
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert "line 3" in res.output and f"{ahead!r} does not start until {start}" in res.output
    assert ledger_digest(ledger_path) == before
    res = run("record", "send", rebound, "--to", "r1@example.com", "--at", old)
    assert res.exit_code == 0 and "Recorded 1 send" in res.output, res.output


def test_an_import_leaves_every_walk_memo_current(run, tmp_path, ledger_path):
    """An import writes past days, so every walk memo it overtakes is stale, and the first
    question after it (``warmup quota``, a send, the worker) walked each mailbox's whole history:
    for a year of a thousand mailboxes, seconds. The import ends by walking each mailbox once
    and keeping its memo; what ``quota`` answers from it is what a walk from the first day
    answers."""
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    lines = [
        f"{box}@corp.example,r{k}-{i}@example.com,"
        f"{today - dt.timedelta(days=k)}T09:{i:02d}:00+08:00,"
        f"{'hard' if i == 7 and k % 3 == 0 else ''},,,exmail,,,"
        for box in ("a", "b")
        for k in range(60, 0, -1)
        for i in range(30)
    ]
    res = run("import", str(write(tmp_path / "log.csv", *lines)))
    assert res.exit_code == 0, res.output
    engine = sa.create_engine(f"sqlite:///{ledger_path}")
    memos = sa.text(
        "SELECT m.address, w.upto FROM walk_memo w JOIN mailbox m ON m.id = w.mailbox_id "
        "WHERE w.rev = m.rev ORDER BY m.address"
    )
    with engine.connect() as conn:
        kept = [tuple(r) for r in conn.execute(memos)]
    assert [a for a, _ in kept] == ["a@corp.example", "b@corp.example"]
    assert all(dt.date.fromisoformat(str(u)) >= today - dt.timedelta(days=1) for _, u in kept)
    warm = json.loads(run("quota", "--json").output)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM walk_memo"))
    engine.dispose()
    assert json.loads(run("quota", "--json").output) == warm
    assert warm[0]["day"] > 1 and warm[0]["bounce_rate"] is not None


def test_a_recipient_with_a_display_name_is_recorded_as_its_address(run, tmp_path, ledger_path):
    """A log exported from a mail client names recipients as it shows them: ``"Li, Wei"
    <li.wei@example.com>`` (quoted: the comma is the name's) or ``Li Wei <li.wei@example.com>``.
    The send counts for the address alone: a hard bounce suppresses that address, and the
    same send written bare is the same send."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,bounce_kind,bounce_status\n"
        f'{box},"""Li, Wei"" <Li.Wei@example.com>",2026-11-02T09:00:00+08:00,hard,5.1.1\n'
        f"{box},Li Wei <li.wei@example.com>,2026-11-02T10:00:00+08:00,,\n"
        f'{box},"Bo, Z <bo@example.com>",2026-11-02T11:00:00+08:00,,\n'
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert "Imported 3 new sends and 1 new bounce" in res.stdout, res.output
    with sqlite3.connect(ledger_path) as con:
        assert sorted(r for (r,) in con.execute("SELECT recipient FROM send")) == [
            "bo@example.com",
            "li.wei@example.com",
            "li.wei@example.com",
        ]
        assert con.execute("SELECT address FROM suppression").fetchall() == [
            ("li.wei@example.com",)
        ]
    bare = tmp_path / "bare.csv"  # the same log with the bare addresses: nothing new
    bare.write_text(
        "mailbox,recipient,sent_at\n"
        f"{box},li.wei@example.com,2026-11-02T09:00:00+08:00\n"
        f"{box},li.wei@example.com,2026-11-02T10:00:00+08:00\n"
    )
    assert "Imported 0 new sends" in run("import", str(bare)).stdout


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ('"li.wei@example.com, bo@example.com"', ["holds 2 addresses", "one recipient per row"]),
        ('"Li Wei <li.wei@example.com>; Bo <bo@example.com>"', ["holds 2 addresses", "a row"]),
        ("li.wei@example.com bo@example.com", ["holds 2 addresses", "one recipient per row"]),
        ("Li Wei", ["malformed recipient 'Li Wei'", "name@domain.tld"]),
        ("Li Wei <>", ["malformed recipient", "name@domain.tld"]),
    ],
)
def test_a_recipient_cell_that_is_not_one_address_is_refused(
    run, tmp_path, ledger_path, cell, words
):
    """A cell holding a list of recipients (as a mail client copies a To line) was refused as
    'malformed', which did not say what to do with it: one send per recipient, one row each."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at\n"
        f"{box},ok@example.com,2026-11-02T09:00:00+08:00\n"
        f"{box},{cell},2026-11-02T10:00:00+08:00\n"
    )
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.output.count("\n") == 1 and res.output.startswith(f"Error: {log}: line 3: ")
    for w in words:
        assert w in res.output, (w, res.output)
    assert ledger_digest(ledger_path) == before


def test_a_recipient_over_smtps_length_limits_is_imported_as_the_send_it_was(
    run, tmp_path, ledger_path
):
    """A log records sends that happened: a recipient of 65 octets before the '@' (over RFC
    5321's 64, which some servers take) is imported, where a new message to it is refused."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    long = "l" * 65 + "@example.com"
    log.write_text(
        "mailbox,recipient,sent_at\n"
        f"{box},{'l' * 64}@example.com,2026-11-02T09:00:00+08:00\n"
        f"{box},{long},2026-11-02T10:00:00+08:00\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert "Imported 2 new sends" in res.output
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT count(*) FROM send WHERE recipient = ?", (long,)).fetchone() == (
            1,
        )
    finally:
        con.close()


_LONG_LOCAL = "L" * 65 + "@Example.com"  # over RFC 5321's 64 octets before the '@'
_NOT_IDNA = "x@xn--zz.example"  # an xn-- label that decodes to no international name
_LONG_WHOLE = "l" * 64 + "@" + ".".join(["d" * 60] * 3) + ".example"  # 255 octets in all


@pytest.mark.parametrize(
    "rcpt, why",
    [
        (_LONG_LOCAL, None),
        (_NOT_IDNA, None),
        (_LONG_WHOLE, "is too long: 255 characters, and SMTP allows at most 254"),
        ("a@b.123", "': expected name@domain.tld"),
    ],
    ids=["local-65", "xn-no-idna", "whole-255", "malformed"],
)
def test_a_recipient_is_judged_alike_bare_or_named_by_import_and_by_record_send(
    rcpt, why, ledger_url, run, tmp_path
):
    """The import reads a bare address on a fast path of its own and one in a mail client's
    form (``Lead <...>``) through addresses.normalize: both must take or refuse the same
    addresses, as ``record send`` does for the same send. ``record send`` refused a local part
    over 64 octets (exit 65: "SMTP allows at most 64") that the import records as the send it
    was, so a send made was either recorded or not depending on the command. A refusal is
    exit 65, one line naming the row, nothing written."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    for n, cell in enumerate((rcpt, f'"Lead" <{rcpt}>')):
        log = tmp_path / f"log{n}.csv"
        log.write_text(f"mailbox,recipient,sent_at\n{box},{cell},2026-11-02T0{n}:00:00+08:00\n")
        before = _sent(ledger_url)
        res = run("import", str(log))
        if why is None:
            assert res.exit_code == 0, (cell, res.output)
            assert _sent(ledger_url) == (n + 1, n + 1, 0)
        else:
            assert res.exit_code == 65, (cell, res.output)
            [line] = res.output.splitlines()
            assert line.startswith(f"Error: {log}: line 2: ") and why in line, line
            assert _sent(ledger_url) == before
    recorded = run("record", "send", box, "--to", rcpt)
    if why is None:
        assert recorded.exit_code == 0, recorded.output
        assert recorded.output == f"Recorded 1 send for {box}.\n"
        assert _sent(ledger_url) == (3, 3, 0)
        ledger = open_ledger(ledger_url)
        try:
            with ledger.read() as conn:
                got = conn.execute(sa.select(SEND.c.recipient).distinct()).scalars().all()
        finally:
            ledger.close()
        assert got == [rcpt.lower()]
    else:
        assert recorded.exit_code == 65, recorded.output
        assert why in recorded.output and recorded.output.count("\n") == 1, recorded.output
        assert _sent(ledger_url) == (0, 0, 0)


def _sent(ledger_url: str) -> tuple[int, int, int]:
    """(send rows, sends in the rollup, bounce rows) of the ledger."""
    ledger = open_ledger(ledger_url)
    try:
        with ledger.read() as conn:
            sends = conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar()
            rolled = conn.execute(sa.select(sa.func.sum(DAY_STAT.c.sent))).scalar()
            bounces = conn.execute(sa.select(sa.func.count()).select_from(BOUNCE)).scalar()
    finally:
        ledger.close()
    return int(sends or 0), int(rolled or 0), int(bounces or 0)


EXCEL_BOX = "a@corp.example"
# The log as written: offsets dropped (the mailbox's zone, Asia/Shanghai), milliseconds kept.
EXCEL_FINE = [
    ("r1@example.com", "2026-11-03 09:14:27.318", ""),
    ("r2@example.com", "2026-11-03 09:14:59.902", "hard"),  # rounds up to 09:15:00
    ("r1@example.com", "2026-11-03 09:20:05.000", ""),  # the same recipient again, later
    ("r3@example.com", "2026-11-03 09:59:59.999", ""),  # rounds into the next hour
]


def _excel_log(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "mailbox,recipient,sent_at,bounce_kind\n"
        + "".join(f"{EXCEL_BOX},{r},{at},{kind}\n" for r, at, kind in rows)
    )
    return path


def _excel_saved(at: str, shown: str) -> str:
    """``at`` as Excel writes it back in a format showing ``shown`` (minutes or seconds):
    rounded to it, as Excel's display rounds."""
    t = dt.datetime.fromisoformat(at)
    unit = dt.timedelta(minutes=1) if shown == "minutes" else dt.timedelta(seconds=1)
    t = dt.datetime.min + round((t - dt.datetime.min) / unit) * unit
    return t.strftime("%Y-%m-%d %H:%M" if shown == "minutes" else "%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("shown", ["minutes", "seconds"])
@pytest.mark.parametrize("order", ["fine first", "excel first"])
def test_a_log_saved_by_excel_is_the_same_sends(ledger_url, run, tmp_path, shown, order):
    """A log opened and saved in Excel comes back with its times cut to the minute or the
    second. Rows without a Message-ID are keyed on their time, so each came back as a new send
    (and a new bounce): the mailbox's history counted twice, its rates halved."""
    assert (
        run("mailbox", "add", EXCEL_BOX, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    )
    fine = _excel_log(tmp_path / "fine.csv", EXCEL_FINE)
    coarse = _excel_log(
        tmp_path / "excel.csv", [(r, _excel_saved(at, shown), k) for r, at, k in EXCEL_FINE]
    )
    first, second = (fine, coarse) if order == "fine first" else (coarse, fine)
    res = run("import", str(first), "--db", ledger_url)
    assert res.exit_code == 0 and "Imported 4 new sends and 1 new bounce" in res.stdout, res.output
    assert _sent(ledger_url) == (4, 4, 1)
    res = run("import", str(second), "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert "Imported 0 new sends and 0 new bounces" in res.stdout, res.output
    assert _sent(ledger_url) == (4, 4, 1)
    # A send to the same recipient two minutes after one imported is a send of its own.
    later = _excel_log(tmp_path / "later.csv", [("r1@example.com", "2026-11-03 09:16:27", "")])
    res = run("import", str(later), "--db", ledger_url)
    assert "Imported 1 new send" in res.stdout, res.output
    assert _sent(ledger_url) == (5, 5, 1)
    # Two rows of one file are two sends, however close (a whole minute is no coarser log).
    pair = [
        ("r9@example.com", "2026-11-03 09:30:00", ""),
        ("r9@example.com", "2026-11-03 09:30:30", ""),
    ]
    res = run("import", str(_excel_log(tmp_path / "pair.csv", pair)), "--db", ledger_url)
    assert "Imported 2 new sends" in res.stdout, res.output


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-02T17:23:37.488000+00:00",
        "2026-10-02 17:23:37.488000+00:00",
        "2026-10-02T17:23:37+00:00",
        "2026-10-02 17:23:37+00:00",
        "2026-10-02T17:23:37.488+00:00",
        "2026-10-02T17:23:37.488000Z",
        "2026-10-03T01:23:37.488000+08:00",
        "2026-10-03T01:23:37+08:00",
        "2026-10-02T17:23:37.000000+00:00",
    ],
)
def test_a_time_column_gives_the_text_its_instant_is_keyed_by(text):
    """The ledger keys an import's sends on the UTC text the check pass gives it, cut out of
    the column when it is written in UTC already: it must be the text the instant formats to
    (else a log written with another offset, or recorded by hand, is the same sends twice)."""
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    at, text_ = importcsv._csv_instant(text, "sent_at", now, "Asia/Shanghai")
    assert text_ == utc_text(at)
    assert from_utc_text(text_) == at


def test_times_in_another_offset_share_their_hour_but_keep_their_minutes_and_bounds():
    """A time in an offset of whole hours takes its UTC hour from the first time of the same
    local hour and offset: the minutes, seconds and bounds stay each row's own."""
    now = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # 11:00 at +08:00
    read = [
        importcsv._csv_instant(t, "sent_at", now, "UTC")[1]
        for t in (
            "2026-10-03T01:00:00+08:00",
            "2026-10-03T01:59:59.999999+08:00",
            "2026-10-03T01:05:30-04:00",
            "2026-10-03T01:05:30+05:30",
            "2026-12-01T11:04:59.999999+08:00",  # within the 5 minutes a log may run ahead
        )
    ]
    assert read == [
        "2026-10-02T17:00:00.000000",
        "2026-10-02T17:59:59.999999",
        "2026-10-03T05:05:30.000000",
        "2026-10-02T19:35:30.000000",
        "2026-12-01T03:04:59.999999",
    ]
    for late in ("2026-12-01T11:05:00.000001+08:00", "2026-12-01T11:06:00+08:00"):
        with pytest.raises(api.DataError, match="future"):
            importcsv._csv_instant(late, "sent_at", now, "UTC")
    with pytest.raises(api.DataError, match="2000"):
        importcsv._csv_instant("2000-01-01T07:59:59+08:00", "sent_at", now, "UTC")
    assert importcsv._csv_instant("2000-01-01T08:00:00+08:00", "sent_at", now, "UTC")[1] == (
        "2000-01-01T00:00:00.000000"
    )


def test_a_log_in_utc_and_the_same_in_another_offset_are_the_same_sends(run, tmp_path):
    start = dt.datetime(2026, 11, 1, 8, 0, 0, 250000, tzinfo=dt.UTC)
    whens = [start + dt.timedelta(seconds=s) for s in (0, 0.75, 60)]
    whens.append(whens[-1].replace(microsecond=0))

    def write(name: str, offset: dt.timezone, sep: str) -> Path:
        log = tmp_path / name
        with log.open("w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["mailbox", "recipient", "sent_at", "bounce_kind", "bounced_at",
                          "provider"])  # fmt: skip
            for i, w in enumerate(whens):
                bounce = ["hard", (w + dt.timedelta(minutes=1)).astimezone(offset).isoformat(sep)]
                out.writerow(["a@corp.example", f"r{i}@example.com",
                              w.astimezone(offset).isoformat(sep), *(bounce if i == 1 else ["", ""]),
                              "exmail"])  # fmt: skip
        return log

    first = run("import", str(write("utc.csv", dt.UTC, "T")))
    assert first.exit_code == 0, first.output
    assert "Imported 4 new sends and 1 new bounce" in first.stdout
    for name, offset, sep in (
        ("utc-space.csv", dt.UTC, " "),
        ("east.csv", dt.timezone(dt.timedelta(hours=8)), "T"),
    ):
        again = run("import", str(write(name, offset, sep)))
        assert "Imported 0 new sends and 0 new bounces" in again.stdout, again.output


def _warmup(*args: str) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` in a process of its own (tests/forkcli.py), on ``$WARMUP_DB``."""
    return subprocess.run(
        [*forkcli.command(), *args], check=False, capture_output=True, text=True, timeout=180
    )


@pytest.mark.parametrize(
    ("later", "words"),
    [
        # the first row registers a@ in Asia/Tokyo; a later one says another zone: its time
        # without an offset would be read in Tokyo's, not the zone written beside it
        ("exmail,America/New_York,", ("line 3", "timezone 'America/New_York'", "Asia/Tokyo")),
        ("gmail,,", ("line 3", "provider 'gmail'", "exmail")),
        ("exmail,,gmail", ("line 3", "policy 'gmail'", "exmail")),
    ],
)
def test_rows_registering_one_new_mailbox_two_ways_are_refused(tmp_path, ledger_path, later, words):
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone,policy\n"
        "a@corp.example,r1@example.com,2026-11-02T09:00:00,exmail,Asia/Tokyo,\n"
        f"a@corp.example,r2@example.com,2026-11-02T10:00:00,{later}\n",
        encoding="utf-8",
    )
    proc = _warmup("import", str(log))
    assert "Traceback" not in proc.stderr and proc.stdout == "", proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert proc.returncode == 65
    assert not ledger_path.exists()  # nothing imported: not even a new ledger


def test_later_rows_may_repeat_or_leave_out_what_registers_a_new_mailbox(tmp_path, ledger_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone,policy\n"
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+09:00,EXMAIL,Asia/Tokyo,\n"
        "a@corp.example,r2@example.com,2026-11-02T10:00:00+09:00,exmail,Asia/Tokyo,exmail\n"
        "a@corp.example,r3@example.com,2026-11-02T11:00:00+09:00,,,\n"
        "b@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail,,\n"
        "b@corp.example,r2@example.com,2026-11-02T09:00:00+08:00,,Asia/Shanghai,\n",
        encoding="utf-8",
    )
    proc = _warmup("import", str(log))
    assert proc.returncode == 0, proc.stderr
    boxes = {b["address"]: b for b in json.loads(_warmup("mailbox", "list", "--json").stdout)}
    assert [(b["provider"], b["timezone"], b["policy"]) for b in boxes.values()] == [
        ("exmail", "Asia/Tokyo", "exmail"),
        ("exmail", "Asia/Shanghai", "exmail"),
    ]


def test_an_instant_written_another_way_is_the_same_send_and_ids_keep_sends_apart(
    ledger_url, run, tmp_path
):
    """Importing a log again, its times written with or without fractions, ``Z`` or an
    offset, a space for the ``T``, or local time in the mailbox's zone, adds nothing; two sends
    in the same second stay two when their Message-ID or recipient differ."""
    head = "mailbox,recipient,sent_at,message_id,bounce_kind,provider"
    first = [
        "a@corp.example,r1@example.com,2026-11-01T10:00:00+00:00,,,exmail",
        "a@corp.example,r2@example.com,2026-11-01T10:00:00+00:00,,hard,",
        "a@corp.example,r3@example.com,2026-11-01T18:00:00,,,",  # exmail: Asia/Shanghai
        "a@corp.example,r4@example.com,2026-11-01T10:00:00+00:00,<m1@x>,,",
        "a@corp.example,r4@example.com,2026-11-01T10:00:00+00:00,<m2@x>,,",
    ]
    second = [
        "a@corp.example,r1@example.com,2026-11-01T10:00:00.000+00:00,,,",
        "a@corp.example,r2@example.com,2026-11-01 10:00:00.000000Z,,hard,",
        "a@corp.example,r3@example.com,2026-11-01T18:00:00.000,,,",
        "a@corp.example,r4@example.com,2026-11-01T10:00:00.000000+00:00,m1@x,,",
        "a@corp.example,r4@example.com,2026-11-01T11:00:00.5+01:00,<m2@x>,,",
        "a@corp.example,r1@example.com,2026-11-01T18:00:00+08:00,,,",
    ]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("\n".join([head, *first]) + "\n", encoding="utf-8")
    b.write_text("\n".join([head, *second]) + "\n", encoding="utf-8")
    res = run("import", str(a), "--db", ledger_url)
    assert res.stdout.startswith(f"Imported 5 new sends and 1 new bounce from {a}."), res.output
    for log in (b, a, b):
        res = run("import", str(log), "--db", ledger_url)
        assert res.stdout.startswith(f"Imported 0 new sends and 0 new bounces from {log}.")
    engine = sa.create_engine(ledger_url)
    with engine.connect() as conn:
        got = sorted(conn.execute(sa.select(SEND.c.recipient, SEND.c.message_id)).all())
    engine.dispose()
    assert got == [
        ("r1@example.com", None),
        ("r2@example.com", None),
        ("r3@example.com", None),
        ("r4@example.com", "<m1@x>"),
        ("r4@example.com", "<m2@x>"),
    ]


def test_rows_of_empty_cells_that_excel_saves_are_blank_lines(run, tmp_path, ledger_path):
    """Excel saves the rows below the data that were ever formatted or cleared as rows of empty
    cells (``,,,,``), wider than the header when the sheet's used range is: such a file was
    refused as 'malformed mailbox ''' at its first empty row, though a blank line is skipped."""
    log = tmp_path / "excel.csv"
    log.write_bytes(
        b"\xef\xbb\xbfmailbox,recipient,sent_at,provider\r\n"
        b"a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail\r\n"
        b",,,\r\n"
        b"a@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,\r\n"
        b", ,,,,,\r\n"
        b",,,\r\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Imported 2 new sends and 0 new bounces from {log}."), res.output
    # a row that is not empty still needs its mailbox, named by its line
    log.write_bytes(log.read_bytes() + b",r3@example.com,2026-11-02T09:09:00+08:00,\r\n")
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output == f"Error: {log}: line 7: malformed mailbox '': expected name@domain.tld\n"
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("first", "said"),
    [
        ("", "line 1: the file is empty; its first line must be the header"),
        ("sep=;\r\n", "line 1: its columns are separated by ';', not commas"),
        ("sep=\t\r\n", "line 1: its columns are separated by '\\t', not commas"),
    ],
)
def test_an_empty_file_or_excels_separator_line_is_named_for_what_it_is(
    run, tmp_path, ledger_path, first, said
):
    """A 0-byte file was said to have a 'header [that] lacks mailbox, recipient, sent_at', and
    Excel's ``sep=;`` first line (the hint it writes and reads for the delimiter) the same, over
    a header that has them all."""
    assert run("db", "migrate").exit_code == 0
    log = tmp_path / "log.csv"
    rows = "mailbox;recipient;sent_at\r\na@corp.example;r@example.com;2026-11-02\r\n"
    log.write_text(first + rows.replace(";", first[4:5] or ";") if first else "", newline="")
    _refused(run, log, ledger_path, f"Error: {log}: {said}")


def test_excels_comma_separator_line_is_skipped(run, tmp_path):
    """``sep=,`` names the delimiter warmup reads: the header is the line after it (line
    numbers stay those of the file)."""
    log = tmp_path / "log.csv"
    log.write_text(
        "sep=,\r\nmailbox,recipient,sent_at,provider\r\n"
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail\r\n"
        "a@corp.example,r2@example.com,soon,\r\n",
        newline="",
    )
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output.startswith(f"Error: {log}: line 4: sent_at: 'soon'"), res.output
    log.write_text(log.read_text().replace("soon", "2026-11-02T09:05:00+08:00"), newline="")
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Imported 2 new sends and 0 new bounces from {log}.")


def test_a_log_on_standard_input_is_read_from_a_dash(tmp_path, ledger_path):
    """``zcat log.csv.gz | warmup import -``: '-' was looked for as a file named '-' ('cannot
    read it (No such file or directory)'). A bad row names its line under '-', nothing
    written."""
    log = (
        "mailbox,recipient,sent_at,provider\n"
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,exmail\n"
        "a@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,\n"
    )
    got = subprocess.run(
        [*forkcli.command(), "import", "-"],
        input="\ufeff" + log.replace("\n", "\r\n"),
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout == (
        "Imported 2 new sends and 0 new bounces from standard input. "
        "Registered 1 new mailbox and 0 pause/resume events.\n"
    )
    before = ledger_digest(ledger_path)
    bad = subprocess.run(
        [*forkcli.command(), "import", "-"],
        input=log + "a@corp.example,r3@example.com,later,\n",
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert bad.returncode == 65
    assert bad.stderr == (
        "Error: standard input: line 4: sent_at: 'later' is not an ISO 8601 date or time "
        "(e.g. 2026-11-29T09:30:00+08:00)\n"
    )
    assert ledger_digest(ledger_path) == before
    closed = subprocess.run(  # 'warmup import - <&-': no standard input at all
        # a process of its own: the zygote (tests/forkcli.py) hands a child its standard input
        ["bash", "-c", 'exec "$@" <&-', "warmup", sys.executable, "-m", "warmup", "import", "-"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert closed.returncode == 64  # as a file that cannot be opened, closed.stderr
    assert closed.stderr == (
        "Error: standard input: cannot read it (it is closed); pipe the log in, or give its path\n"
    )
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("gzip", "not UTF-8 text (it is gzip-compressed); decompress it first (gunzip it"),
        ("xlsx", "not UTF-8 text (it is a ZIP archive, as an Excel workbook (.xlsx) is); save"),
        ("xls", "not UTF-8 text (it is an Excel 97-2003 workbook (.xls)); save"),
    ],
)
def test_a_compressed_log_or_a_workbook_is_named_for_what_it_is(
    run, tmp_path, ledger_path, kind, said
):
    """A rotated log (``sent.csv.gz``) was told to be 'saved as CSV UTF-8', which no gzip file
    can be; a workbook imported as it is, the same without a word of what it is."""
    import gzip
    import zipfile

    assert run("db", "migrate").exit_code == 0
    csv_text = f"{HEADER}\na@corp.example,r@example.com,2026-11-02T09:00:00+08:00,,,,exmail,,,\n"
    log = tmp_path / f"log.{kind}"
    if kind == "gzip":
        log.write_bytes(gzip.compress(csv_text.encode() * 50))
    elif kind == "xlsx":
        with zipfile.ZipFile(log, "w", zipfile.ZIP_DEFLATED) as z:
            # a fixed time: the entry's DOS time is bytes of the file, and at some minutes of
            # the day (01:16-01:23) one of them is a newline, which moved "line 1" to "line 2"
            at = (2024, 1, 2, 3, 4, 6)
            z.writestr(
                zipfile.ZipInfo("[Content_Types].xml", at), "<Types/>" * 50, zipfile.ZIP_DEFLATED
            )
            z.writestr(
                zipfile.ZipInfo("xl/worksheets/sheet1.xml", at), csv_text * 50, zipfile.ZIP_DEFLATED
            )
    else:
        log.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 4)
    _refused(run, log, ledger_path, f"Error: {log}: line 1: {said}")


def test_two_exports_joined_into_one_file_import_as_one(run, tmp_path, ledger_path):
    """``cat october.csv november.csv > all.csv``: the second file's header (with Excel's BOM)
    was a row, refused as "malformed mailbox '\\ufeffmailbox'". A header repeating the first is
    skipped; one naming other columns is refused: its rows would be read in the wrong columns."""
    head = "\ufeffmailbox,recipient,sent_at,provider\r\n"
    october = head + "a@corp.example,r1@example.com,2026-10-02T09:00:00+08:00,exmail\r\n"
    november = head + "a@corp.example,r2@example.com,2026-11-02T09:00:00+08:00,\r\n"
    log = tmp_path / "all.csv"
    log.write_bytes((october + november).encode())
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"Imported 2 new sends and 0 new bounces from {log}."), res.output
    other = (
        "mailbox,sent_at,recipient\r\na@corp.example,2026-11-03T09:00:00+08:00,r3@example.com\r\n"
    )
    log.write_bytes((october + other).encode())
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output.startswith(
        f"Error: {log}: line 3: a second header, with other columns than line 1's"
    ), res.output
    assert res.output.count("\n") == 1
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("epoch", ["1790000000", "1790000000.25", "1759222800000"])
def test_a_unix_timestamp_is_named_as_one(run, tmp_path, ledger_path, epoch):
    """Logs from scripts often write seconds or milliseconds since 1970: seconds were 'not an
    ISO 8601 date or time', milliseconds 'out of range: expected a time between 2000-01-01 and
    2100-01-01', as if the instant, not its form, were wrong."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(f"mailbox,recipient,sent_at\na@corp.example,r@example.com,{epoch}\n")
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output == (
        f"Error: {log}: line 2: sent_at: {epoch!r} looks like a Unix time (seconds or "
        f"milliseconds since 1970); write it as ISO 8601 (e.g. 2026-11-29T09:30:00+08:00)\n"
    ), res.output
    assert ledger_digest(ledger_path) == before


def _refused(run, log, ledger_path, said: str) -> None:  # type: ignore[no-untyped-def]
    """``warmup import LOG`` is refused: exit 65, one line starting ``said``, the ledger as it
    was."""
    before = ledger_digest(ledger_path)
    res = run("import", str(log))
    assert res.exit_code == 65
    assert res.output.startswith(said), res.output
    assert res.output.count("\n") == 1
    assert ledger_digest(ledger_path) == before


def test_an_import_leaves_sqlites_checkpoint_interval_as_it_found_it(tmp_path):
    """The import's batches checkpoint the WAL less often; the connection goes back to SQLite's
    default when the pool takes it back, and the import ends with a checkpoint."""
    log = tmp_path / "log.csv"
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)
    with log.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mailbox", "recipient", "sent_at", "provider"])
        for i in range(4500):
            at = start + dt.timedelta(seconds=30 * i)
            w.writerow(["a@corp.example", f"r{i}@x.example", at.isoformat(), "exmail"])
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    seen = []
    insert = ledger._insert_new_sends

    def spy(conn, sends):
        out = insert(conn, sends)
        seen.append(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        return out

    ledger._insert_new_sends = spy
    assert api.import_csv(ledger, log).sends == 4500
    assert seen == [10_000] * 3
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        assert (busy, frames) == (0, copied)  # nothing left uncopied
    ledger.close()


def test_each_send_is_dated_on_its_mailboxs_local_day_in_any_zone(ledger_url, tmp_path):
    # An import dates a batch's sends by the UTC hour where a whole hour is one local day: zones
    # whose midnight is not on a UTC hour (+05:30, -03:30) and offset changes by half an hour
    # (Lord Howe) or at midnight must still give every send the day its own instant has there.
    zones = ["Asia/Kolkata", "America/St_Johns", "Australia/Lord_Howe", "America/Santiago",
             "Asia/Shanghai"]  # fmt: skip
    around = [dt.datetime(2025, 10, 4, 12, tzinfo=dt.UTC), dt.datetime(2026, 3, 7, 12, tzinfo=dt.UTC),
              dt.datetime(2026, 4, 4, 12, tzinfo=dt.UTC)]  # fmt: skip
    log = tmp_path / "log.csv"
    expected = {}
    with log.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["mailbox", "recipient", "sent_at", "provider", "timezone"])
        for z, tz in enumerate(zones):
            box = f"z{z}@corp.example"
            for start in around:
                for step in range(0, 48 * 60, 7):  # every 7 minutes for two days
                    at = start + dt.timedelta(minutes=step, microseconds=step)
                    rcpt = f"r{step}@example.com"
                    out.writerow([box, rcpt, at.isoformat(), "exmail", tz])
                    expected[(box, rcpt, utc_text(at))] = at.astimezone(ZoneInfo(tz)).date()
    ledger = open_ledger(ledger_url)
    got = api.import_csv(ledger, log)
    assert got.sends == len(expected)
    with ledger.read() as conn:
        rows = conn.execute(
            sa.select(MAILBOX.c.address, SEND.c.recipient, SEND.c.at, SEND.c.day).join(MAILBOX)
        ).all()
    days = {(box, rcpt, utc_text(at)): day for box, rcpt, at, day in rows}
    assert days == expected
    ledger.close()


def test_times_without_an_offset_at_a_clock_change_import_as_they_always_did(run, tmp_path):
    """'--at' and '--until' now read a local time the clocks skip as the jump and a repeated
    one as its first instant (as a window's edges do); an import must not follow: a log of
    wall times imported before, imported again, must match its earlier rows (the Excel-precision
    match allows under a minute), or the rows of those hours would be counted twice. Its times
    read as they always did: a skipped 02:30 shifted by the gap (03:30 EDT), a repeated 01:30
    the second time (EST)."""
    log = tmp_path / "wall.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone\n"
        "ny@corp.example,a@example.com,2026-03-08 02:30:00,exmail,America/New_York\n"
        "ny@corp.example,b@example.com,2026-11-01 01:30:00,exmail,America/New_York\n"
    )
    assert run("import", str(log)).exit_code == 0
    ledger = open_ledger()
    try:
        with ledger.read() as conn:
            got = sorted(conn.execute(sa.select(SEND.c.recipient, SEND.c.at)).all())
    finally:
        ledger.close()
    assert [(r, utc_text(at)) for r, at in got] == [
        ("a@example.com", "2026-03-08T07:30:00.000000"),  # 03:30 EDT
        ("b@example.com", "2026-11-01T06:30:00.000000"),  # 01:30 EST
    ]
    again = run("import", str(log))
    assert again.exit_code == 0 and "Imported 0 new sends" in again.output, again.output


def test_a_log_that_is_not_there_is_a_missing_input_as_a_missing_template_is(
    run, tmp_path, ledger_path
):
    """'warmup import nolog.csv' exited 65 (bad data): a path that names no file is an input
    that is not there (66, EX_NOINPUT, as for 'queue add --template nope.toml'), not bad data."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("import", str(tmp_path / "nolog.csv"))
    assert (res.exit_code, res.output) == (
        66,
        f"Error: {tmp_path / 'nolog.csv'}: cannot read it (No such file or directory); check "
        f"the path\n",
    )
    assert ledger_digest(ledger_path) == before


def test_a_log_that_fails_to_be_read_is_an_io_error_not_the_spool_s(tmp_path, ledger_path):
    """A file whose read fails under the reader (EIO: a failing disk, a network file system
    gone; /proc/self/mem fails every read so) was "cannot write its temporary file in /tmp ...
    free disk space there", exit 78: the wrong file, the wrong fix, the wrong code. Now it names
    the log and exits 74 (I/O error), the ledger untouched."""
    from tests.gatekit import cli

    assert cli("mailbox", "add", "a@corp.example", "--provider", "exmail").returncode == 0
    before = ledger_digest(ledger_path)
    res = cli("import", "/proc/self/mem")
    assert (res.returncode, res.stdout) == (74, ""), res.stderr
    assert res.stderr == (
        "Error: /proc/self/mem: cannot read it to its end (Input/output error; line 1 was being "
        "read); nothing was imported\n"
    )
    assert ledger_digest(ledger_path) == before


def test_a_file_without_line_ends_is_refused_not_read_whole_into_memory(tmp_path, ledger_path):
    """'warmup import /dev/zero' (or any large file without a line end) was read as one line,
    whole into memory, until the kernel killed warmup or its neighbours. Now a line past
    MAX_LINE is refused at once, naming the line; the ledger untouched. The process is given
    1 GiB of address space, so that the old behaviour fails here instead of filling the
    machine."""
    import resource

    from tests.gatekit import cli

    assert cli("mailbox", "add", "a@corp.example", "--provider", "exmail").returncode == 0
    before = ledger_digest(ledger_path)
    res = subprocess.run(  # python -m warmup itself: a forked zygote's child has no such limit
        [sys.executable, "-m", "warmup", "import", "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)),
    )
    assert (res.returncode, res.stdout) == (65, ""), res.stderr[-2000:]
    assert res.stderr == (
        "Error: /dev/zero: line 1: longer than 1,048,576 characters; a sending log's lines are "
        "short: is it the CSV export?\n"
    )
    assert ledger_digest(ledger_path) == before


def test_a_status_kept_as_it_came_is_listed_and_reported(ledger_url, run, tmp_path):
    """An imported ``bounce_status`` not written ``X.Y.Z`` is kept as it came ("5.1.1 user
    unknown", "5.x.1"); reading its reason back took it for a code and raised ValueError, so
    ``bounces list`` and ``report --by-reason`` died with a traceback on every later run, the
    whole ledger's bounces unlistable. Such a status says no code: the words decide."""
    log = write(
        tmp_path / "log.csv",
        "a@corp.example,r1@example.com,2026-11-02T09:00:00+08:00,hard,5.1.1 user unknown,,exmail,,,",
        "a@corp.example,r2@example.com,2026-11-02T09:05:00+08:00,soft,4.x.2,,,,,",
        "a@corp.example,r3@example.com,2026-11-02T09:10:00+08:00,block,5.7.1.,,,,,",
    )
    res = run("import", str(log), "--db", ledger_url)
    assert res.exit_code == 0, res.output
    res = run("bounces", "list", "--json", "--db", ledger_url)
    assert res.exit_code == 0, res.output
    rows = {b["recipient"]: (b["status"], b["reason"]) for b in json.loads(res.stdout)}
    assert rows == {
        "r1@example.com": ("5.1.1 user unknown", "userunknown"),
        "r2@example.com": ("4.x.2", "undefined"),
        "r3@example.com": ("5.7.1.", "undefined"),
    }
    res = run("report", "--by-reason", "--json", "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert "userunknown" in res.output


def test_a_named_pipe_whose_writer_comes_later_is_waited_for_and_read(tmp_path, ledger_path):
    """`mkfifo f; warmup import f & producer > f`: a reader waits for its writer, as `cat f`
    does. A named pipe with no writer yet was briefly refused ("nothing writes to it", 65) by
    a check that read end of file before the producer had opened it: a race a script loses."""
    import errno
    import os
    import time

    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [*forkcli.command(), "import", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # A writer's non-blocking open fails (ENXIO) until a reader has the pipe open: the
        # writer here comes only once warmup is reading, the order the old check refused.
        deadline = time.monotonic() + 60
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                assert exc.errno == errno.ENXIO and proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "warmup never opened the pipe"
                time.sleep(0.01)
        os.set_blocking(fd, True)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(HEADER + "\n")
            out.write("a@corp.example,r1@example.com,2026-11-02T09:00:00+01:00,,,,gmail,,,\n")
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout.strip() == (
        f"Imported 1 new send and 0 new bounces from {fifo}. "
        "Registered 1 new mailbox and 0 pause/resume events."
    )


def test_an_import_that_leaves_a_mailbox_paused_says_so(run, tmp_path):
    """An old log whose last event row is a pause stopped the mailbox's sending from then on;
    the summary said "1 pause/resume event" and nothing else, and sends were refused the next
    morning without the user knowing why. A mailbox that stays paused is told on stderr."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    paused = write(tmp_path / "p.csv", "a@corp.example,,2026-11-01T10:00:00+08:00,,,,,,pause,")
    res = run("import", str(paused))
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        "note: a@corp.example is paused since 2026-11-01 10:00 CST: imported from p.csv; run "
        "'warmup mailbox resume' to go on\n"
    )
    resumed = write(tmp_path / "r.csv", "a@corp.example,,2026-11-03T10:00:00+08:00,,,,,,resume,")
    res = run("import", str(resumed))
    assert (res.exit_code, res.stderr) == (0, "")
    assert res.stdout.startswith("Imported 0 new sends")


def test_record_send_to_a_suppressed_recipient_says_so(run):
    """'record send' of a message another tool sent to an address warmup had suppressed (a
    hard bounce) was recorded without a word: that tool went on mailing it, each bounce
    hurting the mailbox again. A send before the suppression is no news and says nothing."""
    box = "a@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    sent = run("record", "send", box, "--to", "gone@example.com", "--at", "2026-12-01T10:00")
    assert sent.exit_code == 0, sent.output
    res = run(
        "record", "bounce", box, "--to", "gone@example.com", "--status", "5.1.1",
        "--at", "2026-12-01T10:05",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = run("record", "send", box, "--to", "Gone@Example.com", "--to", "ok@example.com")
    assert (res.exit_code, res.stdout) == (0, f"Recorded 2 sends for {box}.\n")
    assert res.stderr == (
        "note: gone@example.com was suppressed (hard: hard bounce 5.1.1) when it was mailed: "
        "take it off the list of the tool that sent this ('warmup send' refuses it)\n"
    )
    res = run("record", "send", box, "--to", "gone@example.com", "--at", "2026-11-30T10:00")
    assert (res.exit_code, res.stderr) == (0, "")


def test_a_file_name_not_in_utf8_is_shown_by_its_bytes(tmp_path, ledger_path):
    """A name in Latin-1 (a file copied from an old Windows share) was shown as 'caf\\udce9.csv':
    Python's stand-in for the byte, not what any shell or `ls -b` shows. It is 'caf\\xe9.csv'."""
    name = tmp_path / os.fsdecode(b"caf\xe9.csv")  # the byte as os.fsdecode reads it
    proc = _warmup("import", str(name))
    assert proc.returncode == 66
    assert proc.stderr == (
        f"Error: {tmp_path}/caf\\xe9.csv: cannot read it (No such file or directory); check the "
        f"path\n"
    ), proc.stderr
