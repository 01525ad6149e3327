"""Times typed without an offset are the mailbox's local time; every printed time has its zone
(issue #12, acceptance 2 and 8)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ledger_digest

BOX = "a@corp.example"  # exmail: Asia/Shanghai


def quota(run, *args: str) -> dict:
    res = run("quota", BOX, "--json", *args)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)[0]


def sent_by_day(run, *addresses: str) -> dict[tuple[str, str], int]:
    res = run("report", *addresses, "--json", "--at", "2026-06-20T00:00:00Z")
    assert res.exit_code == 0, res.output
    return {(r["mailbox"], r["date"]): r["sent"] for r in json.loads(res.stdout) if r["sent"]}


def test_quota_at_without_offset_is_the_mailboxs_local_time(run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("record", "send", BOX, "--to", "x@example.com", "--at", "2026-06-11T08:58:00+08:00")
    naive = quota(run, "--at", "2026-06-11T09:00:00")
    assert naive == quota(run, "--at", "2026-06-11T09:00:00+08:00")
    assert naive["status"] == "paced" and naive["sent"] == 1  # read as UTC it would be 17:00
    assert quota(run, "--at", "2026-06-11T09:00:00Z")["status"] == "ok"


def test_a_date_alone_is_local_midnight(run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    at = ("--at", "2026-06-11T07:00:00+08:00")
    assert run("record", "send", BOX, "--to", "x@example.com", *at).exit_code == 0
    # Local midnight (16:00 UTC the day before), not 08:00: the 07:00 send has not happened yet.
    assert quota(run, "--at", "2026-06-11")["sent"] == 0
    assert quota(run, "--at", "2026-06-11T07:30:00")["sent"] == 1


def test_record_at_without_offset_lands_on_that_local_day(run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("record", "send", BOX, "--to", "x@example.com", "--at", "2026-06-12T20:00:00")
    assert res.exit_code == 0, res.output
    assert res.stderr == ""  # one mailbox in scope: no note about the machine's zone
    bounce = run(
        "record", "bounce", BOX, "--to", "x@example.com", "--kind", "hard", "--at", "2026-06-12"
    )
    assert bounce.exit_code == 0, bounce.output
    assert sent_by_day(run) == {(BOX, "2026-06-12"): 1}  # as UTC: 04:00 on the 13th
    listed = run("bounces", "list")
    assert listed.exit_code == 0, listed.output
    assert "2026-06-12 00:00 CST  a@corp.example  x@example.com  hard" in listed.stdout


def test_several_zones_read_in_the_machines_zone_and_say_so(run):
    """``TZ=UTC`` in the tests (conftest): the machine's zone is UTC."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run(
        "mailbox", "add", "b@corp.example", "--provider", "gmail", "--timezone", "Europe/Berlin"
    )
    res = run("quota", "--json", "--at", "2026-06-11T09:00:00")
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)) == 2  # stdout stays JSON
    assert res.stderr == (
        "Note: --at 2026-06-11T09:00:00 has no UTC offset and the mailboxes are in several "
        "zones: read in this machine's zone, UTC (= 2026-06-11T09:00:00Z).\n"
    )
    one = run("quota", BOX, "--at", "2026-06-11T09:00:00")
    assert one.exit_code == 0 and one.stderr == ""


def test_import_reads_times_without_offset_in_the_rows_mailbox_zone(run, tmp_path: Path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,timezone\n"
        f"{BOX},r1@example.com,2026-06-12T20:00:00,,\n"  # a known mailbox: Shanghai
        f"{BOX},r2@example.com,2026-06-13,,\n"  # a date alone: local midnight
        "b@corp.example,r3@example.com,2026-06-12T23:30:00,gmail,Europe/Berlin\n"  # registered
        "b@corp.example,r4@example.com,2026-06-12T23:40:00,,\n"  # ... in the zone of its first row
    )
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    assert sent_by_day(run) == {
        (BOX, "2026-06-12"): 1,
        (BOX, "2026-06-13"): 1,
        ("b@corp.example", "2026-06-12"): 2,  # as UTC: 01:30 and 01:40 on the 13th in Berlin
    }


def test_an_unreadable_import_time_is_bad_data_naming_line_and_column(run, tmp_path: Path):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    log = tmp_path / "log.csv"
    log.write_text(f"mailbox,recipient,sent_at\n{BOX},r1@example.com,next tuesday\n")
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {log}: line 2: sent_at")
    assert "next tuesday" in res.output and len(res.output.splitlines()) == 1


def test_bounces_list_since_and_limit(run, ledger_path):
    """Issue #16: --since (local time, as --at) and --limit; bad values exit 64, nothing
    written."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    for day in range(10, 16):
        to = f"r{day}@example.com"
        at = f"2026-06-{day}T09:00:00"
        assert run("record", "send", BOX, "--to", to, "--at", at).exit_code == 0
        assert run("record", "bounce", BOX, "--to", to, "--kind", "soft", "--at", at).exit_code == 0

    def listed(*args: str) -> list[str]:
        res = run("bounces", "list", "--json", *args)
        assert res.exit_code == 0, res.output
        return [b["recipient"] for b in json.loads(res.stdout)]

    assert len(listed()) == 6
    # 09:00 local on the 13th is 01:00 UTC: the 13th's bounce is in, the 12th's is not
    assert listed("--since", "2026-06-13T09:00:00") == [f"r{d}@example.com" for d in (15, 14, 13)]
    assert listed("--limit", "2") == ["r15@example.com", "r14@example.com"]
    assert len(listed("--limit", "0")) == 6  # 0: all
    assert listed("--since", "2026-06-14", "--limit", "1") == ["r15@example.com"]
    before = ledger_digest(ledger_path)
    for bad in (("--since", "last tuesday"), ("--limit", "-1")):
        res = run("bounces", "list", *bad)
        assert res.exit_code == 64, res.output
        assert f"Error: Invalid value for '{bad[0]}'" in res.output or bad[0] in res.output
        assert "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


def test_a_time_alone_is_that_time_of_the_mailboxs_own_today():
    """`queue add --not-before 09:00` (the command's own help example) took the machine's date:
    for a mailbox whose local day is already tomorrow (Asia/Shanghai after 16:00 UTC), 09:00
    meant yesterday's 09:00 there, a day in the past, so the message went at once. UTC+14 and
    UTC-11 cannot both share UTC's date, so one of the two zones always shows it."""
    import pendulum

    from warmup.instants import read_instant

    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Shanghai"):
        before = pendulum.now(zone).date()
        got = pendulum.instance(read_instant("09:00", [zone], "not_before").at).in_timezone(zone)
        after = pendulum.now(zone).date()
        assert (got.hour, got.minute) == (9, 0), got
        assert got.date() in (before, after), (zone, got, before)
        seconds = pendulum.instance(read_instant("09:00:30", [zone]).at).in_timezone(zone)
        assert (seconds.date(), seconds.second) == (got.date(), 30)
