"""Times typed without an offset are the mailbox's local time; every printed time has its zone
(issue #12, acceptance 2 and 8)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ADDED, ledger_digest

pytest_plugins = ["tests.pgkit"]  # fixtures: ledger_url (each backend)

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
    sent = ("--to", "x@example.com", "--at", "2026-06-11T08:58:00+08:00")
    assert run("record", "send", BOX, *sent).exit_code == 0
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
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    assert run(
        "mailbox",
        "add",
        *ADDED,
        "b@corp.example",
        "--provider",
        "gmail",
        "--timezone",
        "Europe/Berlin",
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


NY = "America/New_York"


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        # New York, 8 March 2026: 02:00 EST is followed by 03:00 EDT. At 03:10 EDT the wall
        # clock is past 02:30 (as a window edge at 02:30 is): 02:30 is the jump, 03:00 EDT.
        ("2026-03-08T02:30:00", NY, "2026-03-08T03:00:00-04:00"),
        # Lord Howe Island, 4 October 2026: 02:00 +1030 is followed by 02:30 +11.
        ("2026-10-04T02:15", "Australia/Lord_Howe", "2026-10-04T02:30:00+11:00"),
        # 1 November 2026: 01:00-02:00 is read twice; the first time, as a window's edge is.
        ("2026-11-01T01:30:00", NY, "2026-11-01T01:30:00-04:00"),
        ("2026-04-05T01:45", "Australia/Lord_Howe", "2026-04-05T01:45:00+11:00"),
        ("2026-04-05T02:50", "Pacific/Chatham", "2026-04-05T02:50:00+13:45"),
        # Santiago, 6 September 2026: midnight is skipped (00:00 -04 -> 01:00 -03)
        ("2026-09-06", "America/Santiago", "2026-09-06T01:00:00-03:00"),
        # no transition: as written
        ("2026-11-01T03:30:00", NY, "2026-11-01T03:30:00-05:00"),
        ("2026-10-20T23:59:00", "America/Sao_Paulo", "2026-10-20T23:59:00-03:00"),
    ],
)
def test_a_local_time_the_clocks_skip_or_repeat_reads_as_a_window_edge_does(text, zone, expected):
    """`--at`, `--until`, `--since` and imported times without an offset near a DST change: a
    skipped time was read half an hour (an hour) past the jump, a repeated one the second time,
    while a [window] edge at the same wall time is the jump, or the first time: `quota --at
    01:15` on the fall-back day, with a window up to 01:30, said the window was shut."""
    from warmup.instants import read_instant, read_until
    from warmup.policy.calendar import wall_instant

    want = _utc(expected)
    assert read_instant(text, [zone]).at == want
    now = want - dt.timedelta(days=1)
    assert read_until(text, zone, now) == want
    local = dt.datetime.fromisoformat(text if "T" in text else text + "T00:00")
    assert wall_instant(local.date(), local.time(), ZoneInfo(zone)) == want


def test_a_local_time_the_clocks_skip_or_repeat_is_read_with_a_note(run):
    """`quota --at 02:30` on New York's spring-forward day answered for 03:00 EDT, and on the
    fall-back day for the first 01:30, without a word: the user could not know which instant
    the answer was for. A note on stderr says it; stdout stays the answer."""
    from warmup.instants import read_instant

    assert read_instant("2026-03-08T02:30", [NY]).wall == (
        "does not exist that day (the clocks jump forward): read as 03:00 EDT"
    )
    assert read_instant("2026-11-01T01:30", [NY]).wall == (
        "happens twice that day (the clocks go back): read as the first, 01:30 EDT"
    )
    assert read_instant("2026-11-01T03:30", [NY]).wall == ""
    assert read_instant("2026-11-01T01:30-05:00", [NY]).wall == ""  # its offset says which
    add = run("mailbox", "add", BOX, "--provider", "gmail", "--timezone", NY, *ADDED)
    assert add.exit_code == 0, add.output
    res = run("quota", BOX, "--json", "--at", "2026-03-08 02:30")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["mailbox"] == BOX
    assert res.stderr == (
        f"Note: --at 2026-03-08 02:30 in {NY} does not exist that day (the clocks jump "
        f"forward): read as 03:00 EDT.\n"
    )
    res = run("quota", BOX, "--json", "--at", "2026-03-09 02:30")
    assert (res.exit_code, res.stderr) == (0, "")


def test_quota_at_a_repeated_local_time_agrees_with_the_window(run, tmp_path: Path):
    policy = tmp_path / "night.toml"
    preset = Path(__file__).parents[1] / "warmup/policy/presets/default.toml"
    policy.write_text(
        preset.read_text().replace('name = "default"', 'name = "night"', 1)
        + '\n[window]\nhours = ["00:00", "01:30"]\n'
    )
    add = run(
        "mailbox",
        "add",
        *ADDED,
        BOX,
        "--provider",
        "gmail",
        "--timezone",
        NY,
        "--policy",
        str(policy),
    )
    assert add.exit_code == 0, add.output
    assert quota(run, "--at", "2026-11-01T01:15:00")["status"] == "ok"
    assert quota(run, "--at", "2026-11-01T01:15:00-04:00")["status"] == "ok"
    assert quota(run, "--at", "2026-11-01T01:15:00-05:00")["status"] == "paced"


@pytest.mark.parametrize(
    ("offset", "refused"),
    [
        ("+23:59", True),  # valid ISO 8601, read by Python and pendulum: no place's
        ("+80:00", True),  # was "not an ISO 8601 date or time", the offset unnamed
        ("+14:30", True),
        ("-13:00", True),
        ("+1500", True),
        ("+14:00", False),  # Kiribati's Line Islands
        ("-12:00", False),  # Baker Island
        ("+05:45", False),
    ],
)
def test_a_utc_offset_no_place_uses_is_refused_saying_the_range(run, offset, refused):
    """'+18:00' typed for '+08:00' read ten hours off without a word: an offset beyond -12:00
    to +14:00 is refused (64, a typo on the command line), for --at and --until alike."""
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    said = f"UTC offset of {offset[:3]}:{offset[-2:]}, which no place uses: expected one from "
    said += "-12:00 to +14:00 (e.g. +08:00)"
    for args in (
        ("quota", BOX, "--at", f"2026-11-20T09:00:00{offset}"),
        ("mailbox", "pause", BOX, "--reason", "x", "--until", f"2090-01-02T09:00{offset}"),
    ):
        res = run(*args)
        if refused:
            assert res.exit_code == 64, res.output
            assert res.output.count("\n") == 1 and said in res.output, res.output
        else:
            assert res.exit_code == 0, res.output
        run("mailbox", "resume", BOX)


def test_an_imported_time_with_an_offset_no_place_uses_is_bad_data(
    run, tmp_path: Path, ledger_url, monkeypatch
):
    """An import's time of '+23:59' (the fast path's fromisoformat reads it) or '+15:00'
    rejects the file naming its line, the ledger untouched, on every backend."""
    monkeypatch.setenv("WARMUP_DB", ledger_url)
    log = tmp_path / "log.csv"
    rows = ["2026-11-20T09:00:00+08:00", "2026-11-20T09:00:00+05:30"]
    for bad in ("2026-11-20T09:00:00+23:59", "2026-11-20T09:00:00.250000+15:00"):
        lines = [f"{BOX},r{i}@example.com,{t},exmail" for i, t in enumerate([*rows, bad])]
        log.write_text("mailbox,recipient,sent_at,provider\n" + "\n".join(lines) + "\n")
        res = run("import", str(log))
        assert res.exit_code == 65, res.output
        assert f"{log}: line 4: sent_at: {bad!r} has a UTC offset of " in res.output
        assert "expected one from -12:00 to +14:00" in res.output
    log.write_text("mailbox,recipient,sent_at,provider\n" + "\n".join(lines[:2]) + "\n")
    res = run("import", str(log))
    assert res.exit_code == 0, res.output
    # nothing was written by the refused files: both rows (and the mailbox) are new now
    assert res.stdout.startswith("Imported 2 new sends and 0 new bounces")
    assert "Registered 1 new mailbox" in res.stdout


def test_a_pause_until_a_time_of_day_already_past_is_tomorrows():
    """'mailbox pause --until 09:00' typed at 10:00 was refused as "not in the future" while
    'queue add --not-before 09:00' typed then means tomorrow's 09:00: one way of reading a time
    of day for both, the day after when today's has passed, of the ``now`` given (not of this
    machine's clock)."""
    from warmup.instants import read_until

    now = _utc("2030-03-10T10:00:00+08:00")
    assert read_until("09:00", "Asia/Shanghai", now) == _utc("2030-03-11T09:00:00+08:00")
    assert read_until("11:30", "Asia/Shanghai", now) == _utc("2030-03-10T11:30:00+08:00")
    # a date and time stays what it says: in the past, refused as before
    with pytest.raises(Exception, match="not in the future"):
        read_until("2030-03-10T09:00", "Asia/Shanghai", now)


def test_mailbox_pause_until_a_time_already_past_today_pauses_until_tomorrow(run):
    """The same through the CLI, on this machine's clock: a minute ago, as a time of day in the
    mailbox's zone, pauses it until that time tomorrow (exit 0), not a refusal (65)."""
    import pendulum

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    local = pendulum.now("Asia/Shanghai")
    # a minute ago, or this day's midnight in its first minute (a minute ago was yesterday)
    text = "00:00" if local.time() < dt.time(0, 1) else local.subtract(minutes=1).strftime("%H:%M")
    res = run("mailbox", "pause", BOX, "--reason", "night", "--until", text)
    assert res.exit_code == 0, res.output
    shown = json.loads(run("mailbox", "list", "--json").output)
    until = pendulum.parse(shown[0]["paused_until"]).in_timezone("Asia/Shanghai")
    assert until.strftime("%H:%M") == text
    assert until > pendulum.now("Asia/Shanghai"), until
    assert until < pendulum.now("Asia/Shanghai").add(days=1), until


@pytest.mark.parametrize("text", ["1.5", "10.30", "12.5", "1 5", "2026/12", "Dec 2026", "T1"])
def test_a_text_naming_no_whole_date_is_refused_not_completed_from_today(
    run, ledger_path, tmp_path: Path, text
):
    """pendulum's lenient reader (dateutil) filled in what a text left out from this machine's
    today: '10.30' (half past ten, as many write it) was recorded as a send on 10 December,
    '1.5' on the 1st of this month, '2026/12' on today's day of December; a pause ended and
    an import's send landed there alike. A text that names no year, month and day (and is no
    time alone) is refused, 64 (65 naming the line in an import), the ledger untouched."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    said = f"{text!r} is not a whole date: write the year, month and day"
    for args in (
        ("record", "send", BOX, "--to", "x@example.com", "--at", text),
        ("record", "bounce", BOX, "--to", "x@example.com", "--kind", "hard", "--at", text),
        ("mailbox", "pause", BOX, "--reason", "x", "--until", text),
        ("quota", BOX, "--at", text),
    ):
        res = run(*args)
        assert res.exit_code == 64, (args, res.output)
        assert res.output.count("\n") == 1 and said in res.output, res.output
    log = tmp_path / "log.csv"
    log.write_text(f"mailbox,recipient,sent_at\n{BOX},r1@example.com,{text}\n")
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {log}: line 2: sent_at") and said in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2026-06-11T09:00:00Z+08:00", "two UTC offsets or zones ('Z' and '+08:00')"),
        ("2026-06-11T09:00:00+08:00 -05:00", "two UTC offsets or zones ('+08:00' and '-05:00')"),
        ("2026-06-11 09:00 09:30", "two times of day ('09:00' and '09:30')"),
        ("2026-06-11 2026-06-15", "two years (2026 and 2026)"),
        ("-2026-06-11", "'-' separates nothing"),
        ("2026--06-11", "'--' separates nothing"),
        ("2026-06-11,,,", "',,,' separates nothing"),
    ],
)
def test_a_text_writing_a_part_twice_or_stray_marks_is_refused_not_misread(
    run, ledger_path, tmp_path: Path, text, said
):
    """dateutil (the reader of a text that is no ISO 8601) let a second time, year or offset
    overwrite the first and skipped stray signs: '...09:00:00Z+08:00' was 17:00 UTC (the Z a
    zone name, '+08:00' after it read as POSIX writes it, UTC-08:00: 16 hours off), two dates
    in one cell (a spreadsheet's merged cells) 20:26 at UTC-05:00, '-2026-06-11' that day.
    Refused, 64 (65 naming the line in an import), one line, the ledger untouched."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    for args in (
        ("record", "send", BOX, "--to", "x@example.com", "--at", text),
        ("quota", BOX, "--at", text),
    ):
        res = run(*args)
        assert res.exit_code == 64, (args, res.output)
        assert res.output.count("\n") == 1, res.output
        assert said in res.output, res.output
    log = tmp_path / "log.csv"
    log.write_text(f'mailbox,recipient,sent_at\n{BOX},r1@example.com,"{text}"\n')
    res = run("import", str(log))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {log}: line 2: sent_at") and said in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("Tue, 09 Jun 2026 10:00:00 +0800", "2026-06-09T02:00:00+00:00"),
        ("2026-06-09 9:30 p.m.", "2026-06-09T13:30:00+00:00"),
        ("2026-06-09 10:30am", "2026-06-09T02:30:00+00:00"),
        ("2026/06/09 10:00 Z", "2026-06-09T10:00:00+00:00"),
        ("9 June 2026 10:00", "2026-06-09T02:00:00+00:00"),
    ],
)
def test_a_text_in_another_form_writing_each_part_once_is_still_read(text, at):
    from warmup.instants import parse_instant

    assert parse_instant(text, tz="Asia/Shanghai") == dt.datetime.fromisoformat(at)


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026/6/3 9:00", "2026-06-03"), ("3 Jun 2026", "2026-06-03"), ("2026-6-3", "2026-06-03")],
)
def test_a_whole_date_in_another_form_is_still_read(run, text, day):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("record", "send", BOX, "--to", "x@example.com", "--at", text)
    assert res.exit_code == 0, res.output
    assert sent_by_day(run) == {(BOX, day): 1}


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("2026-06-11 10:00 PST", "the zone 'PST' is an abbreviation warmup does not read"),
        ("Jun 11 2026 10am CET", "the zone 'CET' is an abbreviation warmup does not read"),
        ("2026-06-11 10:00 GMT+8", "'GMT+8' is read by some as ahead of UTC and by others"),
        ("2026-06-11 10:00 UTC-05:00", "'UTC-05:00' is read by some as ahead of UTC and by"),
    ],
)
def test_a_zone_abbreviation_or_a_signed_gmt_is_refused_not_misread(run, ledger_path, text, said):
    """dateutil dropped a zone abbreviation it does not know, with a multi-line warning, and
    read the time as the mailbox's own ('10:00 PST' for a Shanghai mailbox: 16 hours off), and
    read 'GMT+8' as POSIX writes it, UTC-08:00. Refused, 64, one line, the ledger untouched."""
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("record", "send", BOX, "--to", "x@example.com", "--at", text)
    assert res.exit_code == 64, res.output
    assert res.output.count("\n") == 1 and said in res.output, res.output
    assert ledger_digest(ledger_path) == before
    assert quota(run, "--at", "2026-06-11 10:00 UTC")["sent"] == 0  # UTC and GMT still read


def test_a_printed_time_is_the_text_pendulum_gives_in_every_zone():
    """local_text converts with the standard library now (63 µs a call with pendulum, 4
    without): the same text for every zone this machine knows, around each of its changes of
    offset, for aware and naive (UTC) times, with each field a listing prints."""
    import random
    import zoneinfo

    import pendulum

    from warmup.instants import local_text

    rng = random.Random(7)
    start = dt.datetime(1995, 1, 1, tzinfo=dt.UTC)
    fmts = ("%Y-%m-%d %H:%M %Z", "%m-%d %H:%M %Z", "%Y", "%H:%M:%S %z %a %b")
    checked = 0
    for name in sorted(zoneinfo.available_timezones()):
        instants = [start + dt.timedelta(seconds=rng.randrange(60 * 365 * 86400)) for _ in range(3)]
        # the hours around a change of offset this zone had (a DST edge, where a slip shows)
        for year in (2007, 2026):
            jan, jul = (dt.datetime(year, m, 1, tzinfo=dt.UTC) for m in (1, 7))
            if (
                jan.astimezone(ZoneInfo(name)).utcoffset()
                != jul.astimezone(ZoneInfo(name)).utcoffset()
            ):
                lo, hi = jan, jul
                while hi - lo > dt.timedelta(minutes=1):
                    mid = lo + (hi - lo) / 2
                    same = (
                        mid.astimezone(ZoneInfo(name)).utcoffset()
                        == lo.astimezone(ZoneInfo(name)).utcoffset()
                    )
                    lo, hi = (mid, hi) if same else (lo, mid)
                instants += [hi + dt.timedelta(minutes=m) for m in (-61, -1, 0, 1, 61)]
        for ts in instants:
            for naive in (False, True):
                given = ts.replace(tzinfo=None) if naive else ts
                for fmt in fmts:
                    expected = pendulum.instance(ts).in_timezone(name).strftime(fmt)
                    assert local_text(given, name, fmt) == expected, (name, given, fmt)
                    checked += 1
    assert checked > 20_000


# Every option that takes a local date or time, as the command is run with it (its mailbox in
# the zone of the case).
_LOCAL_TIME_OPTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("quota", "--at"): ("quota", BOX, "--json"),
    ("plan", "--at"): ("plan", BOX, "--days", "1"),
    ("report", "--at"): ("report", BOX),
    ("plot", "--at"): ("plot", BOX, "--json"),
    ("record send", "--at"): ("record", "send", BOX, "--to", "x@example.com"),
    ("record bounce", "--at"): ("record", "bounce", BOX, "--to", "x@example.com", "--kind", "hard"),
    ("bounces list", "--since"): ("bounces", "list", BOX),
    ("queue add", "--not-before"): ("queue", "add", "--mailbox", BOX, "--eml", "EML"),
    ("mailbox add", "--at"): ("mailbox", "add", "b@corp.example", "--provider", "gmail"),
    ("mailbox pause", "--until"): ("mailbox", "pause", BOX, "--reason", "IP review"),
}
_LOCAL_TIME_METAVARS = {"DATETIME", "WHEN", "TIME"}


def test_every_option_taking_a_local_time_is_checked_for_its_note():
    """The note below is checked for each option whose value may be a local date-time: one
    added to a command is found here, from the click tree, and must join the list."""
    import click

    from tests.clitree import params

    found = {
        (command, param.opts[0])
        for command, param in params()
        if isinstance(param, click.Option) and param.metavar in _LOCAL_TIME_METAVARS
    }
    assert found == set(_LOCAL_TIME_OPTIONS)


def _change_day(zone: str, year: int, month: int) -> dt.date:
    """The day of ``month`` of ``year`` whose clocks change in ``zone``."""
    tz = ZoneInfo(zone)
    day = dt.date(year, month, 1)
    while (
        dt.datetime.combine(day, dt.time(12), tz).utcoffset()
        == dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), tz).utcoffset()
    ):
        day += dt.timedelta(days=1)
    return day


@pytest.mark.parametrize(
    ("zone", "month", "note"),
    [
        (NY, 3, "does not exist that day (the clocks jump forward): read as 03:00 EDT"),
        (
            "Europe/Berlin",
            10,
            "happens twice that day (the clocks go back): read as the first, 02:30 CEST",
        ),
    ],
    ids=["gap", "repeat"],
)
@pytest.mark.parametrize("option", list(_LOCAL_TIME_OPTIONS), ids=" ".join)
def test_a_local_time_the_clocks_skip_or_repeat_is_noted_by_every_option(
    run, tmp_path: Path, option: tuple[str, str], zone: str, month: int, note: str
):
    """`mailbox pause --until 02:30` on Berlin's fall-back day, or `mailbox add --at` in New
    York's spring-forward gap, took an instant without a word, where `--at` said which one it
    took: every option that reads a local time says it. Next year's change where the time must
    lie ahead (a pause's end, a queued message's start), 2026's where it must have passed."""
    tz = ("--timezone", zone)
    assert run("mailbox", "add", BOX, "--provider", "gmail", *tz, *ADDED).exit_code == 0
    eml = tmp_path / "offer.eml"
    eml.write_text(f"From: {BOX}\nTo: x@example.com\nSubject: Hi\n\nHello\n")
    args = [str(eml) if a == "EML" else a for a in _LOCAL_TIME_OPTIONS[option]]
    if option[0] == "mailbox add":
        args += tz
    if option[0] == "plot":
        args += ["--out", str(tmp_path / "plot.png")]
    ahead = option[0] in ("mailbox pause", "queue add")
    year = dt.date.today().year + 1 if ahead else 2026
    text = f"{_change_day(zone, year, month)} 02:30"
    res = run(*args, option[1], text)
    assert res.exit_code == 0, res.output
    assert f"Note: {option[1]} {text} in {zone} {note}." in res.stderr.splitlines()
