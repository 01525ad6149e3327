"""Edges a demanding user meets in the planning and reporting commands: a mailbox named twice,
a report opened in a spreadsheet, a plot that cannot be written, a demo given a bad --plot."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests import forkcli
from tests.conftest import ADDED, at, ledger_digest
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)

BOX = "a@corp.example"


def test_a_mailbox_named_twice_is_planned_once_and_its_volume_counted_once(run, today):
    """``plan A A --volume N`` summed A's ramp twice: the volume was "reached" days early
    "across 2 mailboxes"; a different case of the same address did the same."""
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
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


def test_a_volume_across_time_zones_is_reached_on_one_date_whatever_the_order_named(run):
    """Mailboxes whose local today differs (04:00 in Shanghai is 15:00 the day before in New
    York) were added row by row, each plan's first row being its own today: ``plan SH NY
    --volume`` said one date and ``plan NY SH --volume`` the day before, and neither was the
    date by which the two had sent the volume. They are now added date by date."""
    sh, ny = "sh@corp.example", "ny@corp.example"
    assert (
        run("mailbox", "add", *ADDED, sh, "--provider", "exmail", "--policy", "default").exit_code
        == 0
    )
    assert (
        run("mailbox", "add", *ADDED, ny, "--provider", "gmail", "--timezone", "America/New_York",
            "--policy", "default").exit_code == 0
    )  # fmt: skip
    when = ("--at", "2026-11-16T20:00:00Z")  # Shanghai 2026-11-17 04:00, New York 11-16 15:00
    answers = []
    for order in ([sh, ny], [ny, sh]):
        res = run("plan", *order, "--volume", "275", "--json", *when)
        assert res.exit_code == 0, res.output
        answers.append(json.loads(res.output))
    # 50 a day each: New York 50 by 11-16, both 150 by 11-17, 250 by 11-18, 350 by 11-19.
    for shown in answers:
        reached = {k: shown["volume"][k] for k in ("recipients", "date", "days", "later")}
        assert reached == {"recipients": 275, "date": "2026-11-19", "days": 4, "later": None}
        assert shown["volume"]["planned"] == 350
        last = {d["mailbox"]: d["date"] for d in shown["days"]}
        assert last == {sh: "2026-11-19", ny: "2026-11-19"}
    text = run("plan", ny, sh, "--volume", "275", *when).output
    assert text.splitlines()[-1] == (
        "275 recipients reached on 2026-11-19 (day 4 from today) across 2 mailboxes."
    )


MINUTELY = """
name = "minutely{n}"
ceiling = 2000
growth_factor = 2.0
qualify = 0.5
[[stage]]
name = "only"
days = 0
daily = 1000
interval = ["1m", "1m"]
{window}
"""


def _minutely_box(run, tmp_path, box: str, n: int, window: str) -> str:  # type: ignore[no-untyped-def]
    """``box`` (exmail) added under policy ``minutely{n}`` (:data:`MINUTELY` with ``window``)."""
    policy = tmp_path / f"m{n}.toml"
    policy.write_text(MINUTELY.format(n=n, window=window))
    assert run("policy", "add", f"minutely{n}", str(policy)).exit_code == 0
    assert (
        run(
            "mailbox", "add", *ADDED, box, "--provider", "exmail", "--policy", f"minutely{n}"
        ).exit_code
        == 0
    )
    return box


def test_a_pause_ending_during_a_day_ahead_plans_what_fits_after_it(run, tmp_path):
    """The plan judged a future day's pause at noon alone: a pause until 10:30 planned the
    whole 09:00-12:00 window (180 at one a minute, where 90 fit after it), one until 18:00 of
    a day open until midnight planned nothing (360 fit). Each day now plans what its window
    fits from the pause's end."""
    import pendulum

    day = pendulum.now("Asia/Shanghai").date().add(days=3)
    for n, window, until, planned in (
        (1, '[window]\nhours = [["09:00", "12:00"]]', "10:30", 90),
        (2, "", "18:00", 360),
    ):
        box = _minutely_box(run, tmp_path, f"m{n}@corp.example", n, window)
        res = run("mailbox", "pause", box, "--reason", "review", "--until", f"{day}T{until}")
        assert res.exit_code == 0, res.output
        shown = json.loads(run("plan", box, "--days", "5", "--json").output)["days"]
        (row,) = [d for d in shown if d["date"] == day.isoformat()]
        assert (row["status"], row["planned"]) == ("ok", planned), row
        assert row["notes"][0].startswith(f"paused until {day} {until} CST: review"), row
        assert [d["status"] for d in shown if d["date"] < day.isoformat()] == ["paused"] * 3
        after = [d["planned"] for d in shown if d["date"] > day.isoformat()]
        assert after == [180 if window else 1000] * len(after)


def test_a_pause_ending_later_today_plans_what_fits_after_it(run, tmp_path, today, ledger_path):
    """Today's row of a mailbox paused until 10:30 planned nothing (quota says paused now):
    it plans what the window fits once the pause ends, as 'warmup quota' will allow then."""
    from warmup import api, open_ledger

    box = _minutely_box(
        run, tmp_path, "m@corp.example", 1, '[window]\nhours = [["09:00", "12:00"]]'
    )
    ledger = open_ledger(str(ledger_path))
    try:
        api.pause(ledger, box, "review", at=at(today, 9), until=at(today, 10, 30))
    finally:
        ledger.close()
    res = run("plan", box, "--days", "2", "--json", "--at", at(today, 9, 30).isoformat())
    first, second = json.loads(res.output)["days"]
    assert (first["status"], first["quota"], first["planned"]) == ("paused", 0, 90), first
    assert first["notes"][0].startswith(f"paused until {today} 10:30 CST: review"), first
    assert (second["status"], second["planned"]) == ("ok", 180)


UNPACED = """
name = "unpaced"
ceiling = 2000
growth_factor = 2.0
qualify = 0.5
[[stage]]
name = "only"
days = 0
daily = 1000
[window]
hours = [["09:00", "12:00"]]
"""


def test_a_pause_ending_after_an_unpaced_window_closes_plans_nothing_that_day(run, tmp_path):
    """With no interval between sends (the default), nothing paces the window: a pause ending
    during the day planned the whole quota even when it ended after the window had closed
    (until 20:00 of a 09:00-12:00 window: 1000 planned, none can go). Such a day is paused;
    one whose pause ends while the window is open sends its quota."""
    import pendulum

    day = pendulum.now("Asia/Shanghai").date().add(days=3)
    policy = tmp_path / "unpaced.toml"
    policy.write_text(UNPACED)
    assert run("policy", "add", "unpaced", str(policy)).exit_code == 0
    for n, until, status, planned in ((1, "20:00", "paused", 0), (2, "10:30", "ok", 1000)):
        box = f"u{n}@corp.example"
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", "unpaced")
        assert res.exit_code == 0, res.output
        res = run("mailbox", "pause", box, "--reason", "review", "--until", f"{day}T{until}")
        assert res.exit_code == 0, res.output
        shown = json.loads(run("plan", box, "--days", "5", "--json").output)["days"]
        (row,) = [d for d in shown if d["date"] == day.isoformat()]
        assert (row["status"], row["planned"]) == (status, planned), row
        assert row["notes"][0].startswith(f"paused until {day} {until} CST: review"), row
        after = [d["planned"] for d in shown if d["date"] > day.isoformat()]
        assert after == [1000] * len(after)


def test_a_plan_of_a_paused_mailbox_says_it_stays_paused_until_resumed(run):
    """A paused mailbox's plan was 0 a day with no word of what ends it: with --volume, 730
    rows and "not reached within 730 days", as if the policy never got there.

    A policy without a calendar: exmail's, planned at the real time from 29 December of a year
    whose next the holidays library has no schedule for, adds a note that says so."""
    res = run("mailbox", "add", BOX, "--provider", "exmail", "--policy", "default")
    assert res.exit_code == 0, res.output
    assert run("mailbox", "pause", BOX, "--reason", "list review").exit_code == 0  # now
    when: tuple[str, ...] = ()  # a pause takes effect now: so does the plan
    said = (
        "paused: the plan assumes it stays paused; 'warmup mailbox resume a@corp.example' "
        "resumes it"
    )
    res = run("plan", BOX, "--days", "3", *when)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == f"{BOX}: {said}"
    shown = json.loads(run("plan", BOX, "--days", "3", "--json", *when).output)
    assert shown["mailboxes"][0]["notes"] == [said]
    assert [d["status"] for d in shown["days"]] == ["paused"] * 3
    assert run("mailbox", "resume", BOX).exit_code == 0
    resumed = json.loads(run("plan", BOX, "--days", "3", "--json").output)
    assert resumed["mailboxes"][0]["notes"] == []


def test_a_mailbox_named_twice_is_reported_and_counted_once(run, today):
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    when = ("--at", at(today).isoformat())
    report = json.loads(run("report", BOX, BOX.upper(), "--json", *when).output)
    assert [r["mailbox"] for r in report] == [BOX]
    quota = json.loads(run("quota", BOX, BOX, "--json", *when).output)
    assert [q["mailbox"] for q in quota] == [BOX]


FORMULA = '=HYPERLINK("http://evil.example","x")'


def test_report_csv_cells_a_spreadsheet_would_run_as_formulas_are_quoted(run, today, tmp_path):
    """A mailbox address or a stage name starting with ``=``, ``+``, ``-`` or ``@`` is a formula
    to Excel and LibreOffice once the CSV is opened (CSV injection, OWASP): such a text cell is
    written with a leading apostrophe, which a spreadsheet shows as text and does not run.
    Numbers and dates are left as they are; JSON keeps the text exactly."""
    policy = tmp_path / "odd.toml"
    assert run("db", "migrate").exit_code == 0
    preset = run("policy", "show", "default").output
    assert 'name = "week 1"' in preset
    policy.write_text(preset.replace('name = "week 1"', f"name = '{FORMULA}'"))
    assert run("policy", "add", "odd", str(policy)).exit_code == 0
    for box in ("=cmd|calc@corp.example", "-x@corp.example", "+y@corp.example", BOX):
        res = run("mailbox", "add", *ADDED, "--provider", "exmail", "--policy", "odd", "--", box)
        assert res.exit_code == 0, res.output
    when = ("--at", at(today).isoformat())
    res = run("report", "--format", "csv", *when)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert [r["mailbox"] for r in rows] == [
        "'+y@corp.example",
        "'-x@corp.example",
        "'=cmd|calc@corp.example",
        BOX,
    ]
    assert {r["stage"] for r in rows} == {"'" + FORMULA}  # day 1: the first stage
    assert {r["quota"] for r in rows} == {"50"} and {r["date"] for r in rows} == {"2026-11-16"}
    data = json.loads(run("report", "--json", *when).output)
    assert {d["stage"] for d in data} == {FORMULA}
    assert "=cmd|calc@corp.example" in {d["mailbox"] for d in data}


def test_report_by_reason_csv_quotes_formula_cells_too(run, today):
    box = "=sum@corp.example"
    assert run("mailbox", "add", box, "--provider", "exmail").exit_code == 0
    sent = at(today.replace(day=today.day - 1)).isoformat()
    assert run("record", "send", box, "--to", "lead@example.com", "--at", sent).exit_code == 0
    res = run(
        "record", "bounce", box, "--to", "lead@example.com", "--kind", "hard", "--status", "5.1.1"
    )
    assert res.exit_code == 0, res.output
    out = run("report", "--by-reason", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["mailbox"] for r in rows] == ["'" + box]


def test_report_by_reason_csv_writes_truth_values_as_json_does_not_as_python(run, today):
    """--format csv printed pandas' True/False (Python's words) in counted and matched; a CSV
    reader (a spreadsheet's TRUE, a database's boolean) wants true/false, what --json says."""
    sent = at(today.replace(day=today.day - 1)).isoformat()
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("record", "send", BOX, "--to", "lead@example.com", "--at", sent).exit_code == 0
    # the day after the send: at the real time, 30 days (MATCH_WINDOW) after it, the bounce
    # answered no send and both rows said false (CI from 15 December 2026 on)
    bounced = at(today).isoformat()
    for rcpt in ("lead@example.com", "never-sent@example.com"):  # the second matches no send
        res = run(
            "record", "bounce", BOX, "--to", rcpt, "--kind", "hard", "--status", "5.1.1",
            "--at", bounced,
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    out = run("report", "--by-reason", "--format", "csv").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted((r["counted"], r["matched"]) for r in rows) == [
        ("false", "false"),
        ("true", "true"),
    ], out
    data = json.loads(run("report", "--by-reason", "--json").output)
    assert sorted((d["counted"], d["matched"]) for d in data) == [(False, False), (True, True)]


def _full_disk(tmp_path: Path) -> Path:
    """A plot path that takes no bytes: a link to /dev/full, as a full disk answers."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.fail("/dev/full is needed to stand for a full disk")
    link = tmp_path / "trend.png"
    link.symlink_to(full)
    return link


def test_a_plot_the_disk_cannot_take_is_one_line_and_exit_74(run, ledger_path, tmp_path):
    """README: 74 (EX_IOERR) when the output itself cannot be written. A full disk under
    ``--out`` was exit 64 saying to pick 'a folder that exists'."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    out = _full_disk(tmp_path)
    res = run("plot", "--out", str(out))
    assert res.exit_code == 74
    assert res.output.strip().splitlines() == [
        f"Error: --out {out}: cannot write it (No space left on device)"
    ]
    assert ledger_digest(ledger_path) == before


def test_demo_refuses_a_bad_plot_path_by_its_own_flag_before_simulating(run, tmp_path):
    """``demo --plot x.jpg`` simulated and printed the whole demo, then failed naming
    ``--out``, a flag demo does not have."""
    for bad, why in (
        (tmp_path / "demo.jpg", "expected a .png, .svg or .pdf file name"),
        (
            tmp_path / "no" / "such" / "demo.png",
            "cannot write it (No such file or directory); give a file in a folder that "
            "exists and you may write to",
        ),
    ):
        res = run("demo", "--days", "2", "--plot", str(bad))
        assert res.exit_code == 64
        assert res.output.strip().splitlines() == [f"Error: --plot {bad}: {why}"]


def test_a_folder_that_takes_no_file_is_refused_before_the_work(run, ledger_path):
    """``demo --plot /proc/x.png`` simulated and printed the whole demo (seconds), and ``plot
    --out`` loaded pandas and computed the report, before the write failed: the folder exists,
    so only its existence was checked. /proc takes no new file, even from root (for whom the
    mode bits of a read-only folder say nothing), so the folder is asked by a real create."""
    out = "/proc/warmup-trend.png"
    res = run("demo", "--days", "2", "--plot", out)
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        f"Error: --plot {out}: cannot write it (No such file or directory); give a file in a "
        "folder that exists and you may write to"
    ]
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("plot", "--out", out)
    assert res.exit_code == 64 and res.output.strip().splitlines() == [
        f"Error: --out {out}: cannot write it (No such file or directory); give a file in a "
        "folder that exists and you may write to"
    ]
    assert ledger_digest(ledger_path) == before


def test_demo_plots_into_a_folder_and_names_an_empty_plot_path(run, tmp_path):
    """``demo --plot DIR`` was refused by click ("File 'DIR' is a directory.", no word of what
    to give) where 'warmup plot --out DIR' writes its default name in it; ``--plot ""`` (an
    unset $OUT) was refused as '--plot .', a name the user never typed."""
    figs = tmp_path / "figs"
    figs.mkdir()
    for given in (str(figs), f"{figs}/"):
        res = run("demo", "--days", "2", "--plot", given)
        assert res.exit_code == 0, res.output
        written = figs / "warmup-demo.png"
        assert res.output.strip().splitlines()[-1] == str(written.resolve())
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        written.unlink()
    res = run("demo", "--days", "2", "--plot", "")
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        "Error: --plot is empty; give a .png, .svg or .pdf file name, or a folder"
    ]
    res = run("demo", "--days", "2", "--plot", f"{figs}/nope/")
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        f"Error: --plot {figs}/nope/: no such folder (No such file or directory); give a "
        "folder that exists, or a file name"
    ]
    assert list(figs.iterdir()) == []


def test_demo_refuses_plot_and_no_plot_together(run, tmp_path):
    """``demo --plot X --no-plot`` ran, drew nothing and said nothing of X: contradictory
    flags are refused before simulating, as elsewhere ("not both"), nothing written."""
    chosen = tmp_path / "demo.png"
    for args in (["--plot", str(chosen), "--no-plot"], ["--no-plot", "--plot", str(chosen)]):
        res = run("demo", "--days", "2", *args)
        assert res.exit_code == 64, res.output
        assert res.output.strip().splitlines() == [
            f"Error: give --plot {chosen} or --no-plot, not both: --plot draws the plot there, "
            "--no-plot skips it"
        ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("days", "said"),
    [
        (5, "(full quota daily, ~1% bounces)..."),
        (16, "(full quota daily, ~1% bounces)..."),
        (17, "a 20% bounce spike on day 17,"),
        (18, "a 20% bounce spike on days 17-18,"),
    ],
)
def test_demo_speaks_only_of_the_days_it_simulates(run, days, said):
    """``demo --days 5`` announced "a 20% bounce spike on days 17-18" that its five days never
    had: the spike is named only as far as it is simulated."""
    res = run("demo", "--days", str(days), "--no-plot")
    assert res.exit_code == 0, res.output
    first = res.output.split("...")[0] + "..."
    assert first.startswith(f"Simulating {days} days of a new Tencent Exmail mailbox")
    assert said in first
    if days < 17:
        assert "spike" not in res.output and "17" not in first and "resumed" not in first


def test_copy_to_a_corrupt_file_names_the_target_option_not_the_db_option(run, tmp_path):
    """A --to that is no database said 'point --db/WARMUP_DB at another file': the source's
    option, the one ledger the user had right."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    bad = tmp_path / "notes.db"
    bad.write_text("not a database, just notes\n" * 100)
    res = run("db", "copy", "--to", str(bad))
    assert res.exit_code == 78
    assert res.output == (
        f"Error: ledger {bad} is not a warmup ledger or is corrupted (file is not a database); "
        "point --to at another file or restore a backup\n"
    )
    assert bad.read_text() == "not a database, just notes\n" * 100


def test_copy_to_a_server_refusing_the_password_names_the_target_option(run):
    from tests.pgkit import pg_server

    server = pg_server()
    head, _, tail = server.partition("@")
    wrong = head.rsplit(":", 1)[0] + ":not-the-password@" + tail
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("db", "copy", "--to", wrong)
    assert res.exit_code == 77, res.output  # refused credentials: EX_NOPERM
    # the password on the command line is warned of too (masked), then the one error line
    warned, lines = res.output.strip().splitlines()[:-1], res.output.strip().splitlines()[-1:]
    masked = wrong.replace(":not-the-password@", ":***@")
    assert [w.split(" puts ")[0] for w in warned] == [f"Warning: --to {masked}"]
    assert len(lines) == 1 and "password authentication failed" in lines[0]
    assert lines[0].endswith("; check the URL in --to") and "not-the-password" not in res.output


def test_plot_checks_its_out_path_before_reading_the_ledger(run, tmp_path):
    """``plot --out x.jpg`` built the whole report (seconds for a year of many mailboxes), then
    said the name was wrong: the path is checked first, as ``demo --plot`` checks it."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    bad = tmp_path / "trend.jpg"
    res = run("plot", "nobody@corp.example", "--out", str(bad))
    assert res.exit_code == 64, res.output
    assert res.output.strip().splitlines() == [
        f"Error: --out {bad}: expected a .png, .svg or .pdf file name"
    ]


def test_report_at_an_instant_counts_that_day_only_up_to_it_as_quota_does(run, today):
    """``report --at`` of a morning showed the whole day's sends and bounces on its last row,
    those made after the instant too (a mailbox paused at 08:00 "sent 47" at 08:00), while
    ``quota --at`` the same instant counted those made by then: the two disagreed."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    for hour in (9, 15, 16):
        sent = at(today, hour).isoformat()
        res = run("record", "send", BOX, "--to", f"lead{hour}@example.com", "--at", sent)
        assert res.exit_code == 0, res.output
    res = run(
        "record", "bounce", BOX, "--to", "lead15@example.com", "--kind", "hard",
        "--status", "5.1.1", "--at", at(today, 17).isoformat(),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for hour, sent, hard in ((8, 0, 0), (12, 1, 0), (16, 3, 0), (20, 3, 1)):
        when = ("--at", at(today, hour).isoformat())
        rows = json.loads(run("report", BOX, "--json", *when).output)
        quota = json.loads(run("quota", BOX, "--json", *when).output)[0]
        assert rows[-1]["date"] == today.isoformat()
        assert (rows[-1]["sent"], rows[-1]["hard"]) == (quota["sent"], hard) == (sent, hard)
    # a later day's rows are not shown as of an earlier instant either
    later = ("--at", at(today, 12).isoformat())
    assert [r["date"] for r in json.loads(run("report", BOX, "--json", *later).output)] == [
        today.isoformat()
    ]


def test_bounce_tables_at_an_instant_count_only_the_bounces_made_by_it(run, today):
    """``report --by-reason --at`` (and the notebook's by-kind and by-domain tables) counted
    the whole local day of the instant, bounces that came after it too, where ``report --at``
    counts that day up to the instant."""
    from warmup import reports
    from warmup.ledger import open_ledger

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    for hour, kind, status in ((9, "hard", "5.1.1"), (15, "soft", "4.2.2")):
        to = f"lead{hour}@example.com"
        res = run("record", "send", BOX, "--to", to, "--at", at(today, hour).isoformat())
        assert res.exit_code == 0, res.output
        res = run(
            "record", "bounce", BOX, "--to", to, "--kind", kind, "--status", status,
            "--at", at(today, hour, 30).isoformat(),
        )  # fmt: skip
        assert res.exit_code == 0, res.output
    noon = at(today, 12)
    out = run("report", "--by-reason", "--json", "--at", noon.isoformat()).output
    assert [(r["kind"], r["bounces"]) for r in json.loads(out)] == [("hard", 1)]
    day = json.loads(run("report", "--json", "--at", noon.isoformat()).output)[-1]
    assert (day["sent"], day["hard"], day["soft"]) == (1, 1, 0)
    ledger = open_ledger(os.environ["WARMUP_DB"])
    try:
        kinds = reports.bounces_by_kind(ledger, [BOX], at=noon)
        assert list(kinds["kind"]) == ["hard"]
        domains = reports.bounces_by_domain(ledger, [BOX], at=noon)
        assert domains[["sends", "hard", "soft"]].sum().tolist() == [1, 1, 0]
    finally:
        ledger.close()


WIDE_STAGE = "第一周 预热"  # a stage named in Chinese, as an exmail user may well name it


def _wide_policy(run, tmp_path: Path) -> None:
    policy = tmp_path / "wide.toml"
    assert run("db", "migrate").exit_code == 0
    preset = run("policy", "show", "default").output
    policy.write_text(preset.replace('name = "week 1"', f'name = "{WIDE_STAGE}"'))
    assert run("policy", "add", "wide", str(policy)).exit_code == 0
    for box in (BOX, "b@corp.example"):
        res = run("mailbox", "add", "--provider", "exmail", "--policy", "wide", box)
        assert res.exit_code == 0, res.output


def test_report_table_columns_stay_aligned_with_chinese_stage_names(run, today, tmp_path):
    """A CJK character takes two columns on a terminal: counted as one, every column after
    a Chinese stage name was pushed right, out of line with its header."""
    import unicodedata

    _wide_policy(run, tmp_path)
    assert run("mailbox", "set", "b@corp.example", "--policy", "default").exit_code == 0
    # now, after the move: a report of a day before it shows that day under the policy then
    res = run("report")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert WIDE_STAGE in res.output and "week 1" in res.output

    def column(line: str, text: str) -> int:  # where ``text`` starts, in terminal columns
        before = line[: line.index(text)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in before)

    quota = column(lines[0], "QUOTA")
    assert [column(line, " 50 ") + 1 for line in lines[1:]] == [quota, quota]


def test_plot_of_chinese_stage_names_writes_no_warnings(run, today, tmp_path):
    """matplotlib's default font has no CJK glyph: ``warmup plot`` printed a UserWarning per
    character on stderr, each with the line of warmup's source that drew it."""
    _wide_policy(run, tmp_path)
    sent = at(today).isoformat()
    assert run("record", "send", BOX, "--to", "x@example.com", "--at", sent).exit_code == 0
    out = tmp_path / "trend.png"
    done = subprocess.run(
        [*forkcli.command(), "plot", "--out", str(out), "--at", sent],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and out.stat().st_size > 0
    assert done.stderr == ""


def test_by_reason_tells_a_second_bounce_of_one_send_from_an_unmatched_one(
    run,
    today,
    ledger_url,  # noqa: F811
):
    """A send bounced twice (a soft bounce, then the provider's retry bounced again) counts once:
    the second is matched but not counted. ``report --by-reason`` said 'no (unmatched)' of it,
    as of a bounce answering no send of the mailbox."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    sent = at(today.replace(day=today.day - 2))
    res = run("record", "send", BOX, "--to", "lead@example.com", "--at", sent.isoformat())
    assert res.exit_code == 0, res.output
    for hours, to in ((1, "lead@example.com"), (25, "lead@example.com"), (26, "stray@example.com")):
        when = (sent + dt.timedelta(hours=hours)).isoformat()
        res = run(
            "record", "bounce", BOX, "--to", to, "--kind", "soft", "--status", "4.2.2", "--at", when
        )
        assert res.exit_code == 0, res.output
    report = ("report", "--by-reason", "--at", at(today).isoformat())
    rows = [line.split(None, 4) for line in run(*report).stdout.splitlines()[1:]]
    assert sorted((r[3], r[4]) for r in rows) == [
        ("1", "no (repeats a counted bounce of its send)"),
        ("1", "no (unmatched)"),
        ("1", "yes"),
    ]
    data = json.loads(run(*report, "--json").stdout)
    assert sorted((r["counted"], r["matched"], r["bounces"]) for r in data) == [
        (False, False, 1),
        (False, True, 1),
        (True, True, 1),
    ]


_FILL_UP = """
import os, resource, signal, sys
from pathlib import Path

from warmup import api, reports
from warmup.errors import UnwritableField
from warmup.ledger import open_ledger

out = Path(sys.argv[1])
frame = reports.daily(open_ledger(os.environ["WARMUP_DB"]), at=api.now_utc())
reports.plot(frame, out)
print(out.read_bytes().hex())
# the disk fills up halfway through the next plot of it (a file may grow no further)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
sys.dont_write_bytecode = True  # a module first imported now: its .pyc would be written short
limit = out.stat().st_size // 2
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    reports.plot(frame, out)
except UnwritableField as exc:
    print(exc)
"""


@pytest.mark.parametrize("name", ["trend.png", "trend.svg"])
def test_a_plot_the_disk_fills_under_leaves_the_plot_it_replaces_whole(run, tmp_path, name):
    """A disk filling up while ``plot --out`` wrote over last week's plot left the head of the
    new one in its place (exit 74 all the same): the old plot lost, a corrupt file kept. It is
    written beside it and renamed over it: the old plot stays whole, nothing else is left."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("record", "send", BOX, "--to", "lead@example.com").exit_code == 0
    folder = tmp_path / "plots"
    folder.mkdir()
    out = folder / name
    res = subprocess.run(
        [os.sys.executable, "-c", _FILL_UP, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    first, said = res.stdout.splitlines()
    assert said == f"out {out}: cannot write it (File too large)"
    assert out.read_bytes() == bytes.fromhex(first) and list(folder.iterdir()) == [out]


def test_a_volume_of_one_recipient_is_said_in_the_singular(run, today):
    """``plan --volume 1`` said "1 recipients reached on ..." (and a paused mailbox "1
    recipients are not reached ...")."""
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    when = ("--at", at(today).isoformat())
    res = run("plan", BOX, "--volume", "1", *when)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[-1] == (
        f"1 recipient reached on {today} (day 1 from today) across 1 mailbox."
    )
    assert run("mailbox", "pause", BOX, "--reason", "list review").exit_code == 0
    res = run("plan", BOX, "--volume", "1", "--days", "2")
    assert res.exit_code == 75, res.output
    assert res.output.splitlines()[-1] == (
        "1 recipient is not reached within 2 days (0 planned by then), nor within 730 days."
    )
