"""Acceptance: user errors print one line naming the fault, exit with a sysexits code, show no
traceback, and leave the ledger exactly as it was.

A few cases run ``python -m warmup`` in a real process, so that "no traceback" and "one line" are
checked on the real streams; the rest go through the in-process ``run`` fixture.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY, rows
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)

BOX = "a@corp.example"
TS = "2026-11-10T09:00:00+08:00"
REPO = Path(__file__).resolve().parent.parent
FILE_KEYRING = "tests.filekeyring.FileKeyring"  # a keyring in a file (WARMUP_TEST_KEYRING)


def warmup_proc(ledger: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` in a fresh process on ``ledger``."""
    env = {**os.environ, "WARMUP_DB": str(ledger)}
    return subprocess.run(
        [*forkcli.command(), *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The whole output is one ``Error:`` line containing ``words``, and the exit code is ``code``."""
    assert "Traceback" not in proc.stderr, proc.stderr
    text = proc.stdout + proc.stderr
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("Error: "), text
    for w in words:
        assert w in lines[0], (w, text)
    assert proc.returncode == code, (proc.returncode, text)
    return lines[0]


def assert_error(res, code: int, *words: str) -> str:
    """Same check for an in-process (CliRunner) result."""
    lines = res.output.splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("Error: "), res.output
    for w in words:
        assert w in lines[0], (w, res.output)
    assert res.exit_code == code, (res.exit_code, res.output)
    return lines[0]


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger with one exmail mailbox and one recorded send, built once through the library
    (the set-up is not what these tests are about; issue #11). The send goes to the ledger
    itself: api.record_send refuses TS while the clock is before it (scripts/clock-sweep)."""
    from warmup import api
    from warmup.ledger import SendIn, open_ledger

    path = tmp_path_factory.mktemp("seeded") / "ledger.db"
    ledger = open_ledger(str(path))
    try:
        box = api.add_mailbox(ledger, BOX, "exmail")
        sent = SendIn("r0@example.com", api.parse_instant(TS))
        assert ledger.record(box, sends=[sent]).sends == 1
    finally:
        ledger.close()
    return path


@pytest.fixture
def seeded(seeded_file: Path, ledger_path: Path) -> Path:
    """A private copy of that ledger at ``$WARMUP_DB``."""
    shutil.copy(seeded_file, ledger_path)
    return ledger_path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


# -- real processes ------------------------------------------------------------------------------


def test_unknown_provider_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, "mailbox", "add", "b@corp.example", "--provider", "hotmailz")
    assert_one_line_error(proc, 64, "unknown provider 'hotmailz'", "exmail")
    assert ledger_digest(seeded) == before


def test_a_stored_provider_unknown_here_is_the_set_ups_fault_and_hides_no_other(run, seeded):
    """A ledger shared with a newer warmup may store a provider preset this one lacks. `quota`
    said "unknown provider 'newer'; choose one of exmail, ..." and exited 64, as if the user
    had typed it, where a stored policy this warmup does not know is 78 ('warmup run' already
    held such a member as a fault of its configuration). Now 78, naming the mailbox and the
    fix, and the other mailboxes are answered."""
    import sqlite3

    assert run("mailbox", "add", "b@corp.example", "--provider", "exmail").exit_code == 0
    with sqlite3.connect(seeded) as conn:
        conn.execute("UPDATE mailbox SET provider = 'newer' WHERE address = ?", (BOX,))
    conn.close()
    said = (
        f"Error: mailbox '{BOX}' is stored with provider 'newer', which this warmup does not "
        f"know (a newer version's, from a shared ledger?); upgrade warmup here\n"
    )
    for args in (
        ("quota", BOX),
        ("send", BOX, "--to", "x@example.com", "--body", "b", "--dry-run"),
    ):
        res = run(*args)
        assert (res.exit_code, res.output) == (78, said), args
    res = run("quota", "--json")
    assert res.exit_code == 78 and res.stderr == said, res.output
    assert [q["mailbox"] for q in json.loads(res.stdout)] == ["b@corp.example"]


def test_malformed_address_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, "mailbox", "add", "b@corp", "--provider", "exmail")
    assert_one_line_error(proc, 65, "malformed", "'b@corp'")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize("command", ["add", "set"])
def test_an_empty_timezone_is_refused_not_taken_as_the_default_process(seeded: Path, command):
    # '--timezone "$TZ"' with TZ unset: 'add' silently took the provider's zone (while 'set'
    # refused it), so a New York mailbox counted its days in Shanghai's.
    before = ledger_digest(seeded)
    args = ["--provider", "exmail"] if command == "add" else []
    address = "b@corp.example" if command == "add" else BOX
    proc = warmup_proc(seeded, "mailbox", command, address, *args, "--timezone", "")
    assert_one_line_error(proc, 64, "--timezone", "unknown time zone ''", "Asia/Shanghai")
    assert ledger_digest(seeded) == before


def _store_zone(ledger: Path, tz: str) -> None:
    """``tz`` stored for BOX as an older warmup or another host could have stored it."""
    import sqlite3

    with sqlite3.connect(ledger) as db:
        db.execute("UPDATE mailbox SET timezone = ? WHERE address = ?", (tz, BOX))
    db.close()


def test_a_zone_stored_in_other_letter_case_is_read_as_that_zone(run, seeded: Path):
    # 'mailbox add --timezone utc' stored 'utc' until it was refused; zoneinfo knows 'UTC'
    # only, so every command reading that mailbox was a ZoneInfoNotFoundError traceback.
    _store_zone(seeded, "utc")
    late = "2026-11-10T23:30:00+00:00"  # the send's day in UTC, the next day in Shanghai
    res = run("quota", BOX, "--at", late, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["sent"] == 1
    for args in (["mailbox", "list"], ["plan", BOX, "--days", "2"], ["report", "--at", late]):
        res = run(*args)
        assert res.exit_code == 0, (args, res.output)


def test_a_zone_this_machine_does_not_know_is_one_line_exit_78(run, seeded: Path):
    # A ledger shared with a host whose tz database is newer: a traceback on every command.
    _store_zone(seeded, "Mars/Olympus_Mons")
    before = ledger_digest(seeded)
    # The line names the mailbox (it said ADDRESS); the others would be answered, here none:
    # --json is still a JSON answer, the empty list.
    for args in (["quota", BOX], ["quota", "--json"], ["report"]):
        res = run(*args)
        if "--json" in args:
            assert json.loads(res.stdout) == [], res.output
            res = SimpleNamespace(output=res.stderr, exit_code=res.exit_code)
        assert_error(
            res, 78, "time zone 'Mars/Olympus_Mons'", f"warmup mailbox set {BOX} --timezone"
        )
    # `mailbox list` lists stored settings: the zone as stored, its pause state unknown ("?"),
    # as for a stored policy unknown here ('warmup quota' says why)
    res = run("mailbox", "list")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[1].split() == [
        BOX,
        "exmail",
        "Mars/Olympus_Mons",
        "exmail",
        "-",
        "?",
    ]
    res = run("record", "send", BOX, "--to", "r1@example.com")
    assert_error(res, 78, "'Mars/Olympus_Mons'")
    assert ledger_digest(seeded) == before
    assert run("mailbox", "set", BOX, "--timezone", "UTC").exit_code == 0
    assert run("quota", BOX).exit_code == 0


def test_a_stored_zone_reads_a_time_typed_without_offset(run, seeded: Path):
    # A time without an offset is read in the mailbox's zone, loaded by zoneinfo itself: the
    # stored 'utc' was still a ZoneInfoNotFoundError traceback there, an unknown one too.
    _store_zone(seeded, "utc")
    for args in (
        ["bounces", "list", BOX, "--since", "2026-11-01"],
        ["quota", BOX, "--at", "2026-11-10T23:30"],
    ):
        res = run(*args)
        assert res.exit_code == 0, (args, res.output)
    assert (
        json.loads(run("quota", BOX, "--at", "2026-11-10T23:30", "--json").output)[0]["sent"] == 1
    )
    _store_zone(seeded, "Mars/Olympus_Mons")
    before = ledger_digest(seeded)
    for args in (
        ["bounces", "list", BOX, "--since", "2026-11-01"],
        ["quota", BOX, "--at", "2026-11-10T23:30"],
    ):
        assert_error(run(*args), 78, "time zone 'Mars/Olympus_Mons'", "--timezone")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["bounces", "list", "--db", "sqlite:///x\ny/z.db"], 66, ["x\\ny/z.db"]),
        (["plot", "--out", "/nonexistent\rdir/x.png"], 64, ["/nonexistent\\rdir/x.png"]),
        (["quota", "a\tb@x\x01.com"], 65, ["'a\\tb@x\\x01.com'"]),
    ],
)
def test_a_control_character_in_a_quoted_value_keeps_the_error_one_line(
    seeded: Path, args, code, words
):
    # '--db "$(find . -name ledger.db)"' finding two files: the newline quoted back made the
    # error two lines, the second read as a line of its own (and a CR overwrote the first).
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, *args)
    line = assert_one_line_error(proc, code, *words)
    assert "\r" not in proc.stderr and "\t" not in line and "\x01" not in line
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy"], ["policy '"]),
        (["mailbox", "set", BOX, "--timezone"], ["unknown time zone '", "Asia/Shanghai"]),
        (["mailbox", "add", "b@corp.example", "--provider"], ["unknown provider '", "exmail"]),
    ],
)
def test_a_value_of_100_kb_is_cut_in_its_error_not_echoed_whole(seeded: Path, args, words):
    # A file's contents given as the value ('--policy "$(cat policy.toml)"' with the file
    # run together): the error quoted all 100,000 characters back, twice for a policy.
    before = ledger_digest(seeded)
    value = "p" * 100_000
    proc = warmup_proc(seeded, *args, value)
    line = assert_one_line_error(proc, 64, *words, ",8", " characters cut)...", "p" * 90)
    assert len(line) < 600, len(line)
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["plan", BOX, "--days", "0"],
            ["'--days'", "0 is not in the range", "'warmup plan --help'"],
        ),
        (["quota", BOX, "--format", "yaml"], ["No such option '--format'", "Did you mean"]),
        (["report", "--format", "yaml"], ["'yaml' is not one of", "'warmup report --help'"]),
        (["mailbox", "show"], ["Missing argument 'ADDRESS'", "'warmup mailbox show --help'"]),
        (["quota", "--frobnicate"], ["No such option '--frobnicate'", "'warmup quota --help'"]),
        (["qouta"], ["No such command 'qouta'. Did you mean 'quota'?", "'warmup --help'"]),
        (["completion", "fish2"], ["'fish2' is not one of", "'warmup completion --help'"]),
        # click's parser raises these without the command: they named no --help to look at
        (["quota", BOX, "--at"], ["'--at' requires an argument", "'warmup quota --help'"]),
        (["mailbox", "add", BOX, "--provider"], ["requires", "'warmup mailbox add --help'"]),
        (["--db"], ["'--db' requires an argument", "(see 'warmup --help')"]),
        # warmup's own options after a command: its --help does not list them; say where
        (
            ["mailbox", "list", "-q"],
            ["No such option '-q'; -q is an option of warmup itself", "'warmup -q mailbox list"],
        ),
        (["quota", BOX, "--verbose"], ["before the command ('warmup --verbose quota ...')"]),
    ],
)
def test_a_usage_error_is_one_line_too_process(seeded: Path, args, words):
    """click's own form was four lines (usage, "Try --help", a blank line, the error)."""
    before = ledger_digest(seeded)
    assert_one_line_error(warmup_proc(seeded, *args), 64, *words)
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "usage", "lists"),
    [
        ([], "Usage: warmup [OPTIONS] COMMAND [ARGS]...", "  quota "),
        (["mailbox"], "Usage: warmup mailbox [OPTIONS] COMMAND [ARGS]...", "  add "),
        (["-q", "pool"], "Usage: warmup pool [OPTIONS] COMMAND [ARGS]...", "  overflow "),
    ],
    ids=["warmup", "mailbox", "q-pool"],
)
def test_a_group_without_its_command_shows_its_help_as_help_exit_64(
    seeded: Path, args, usage, lists
):
    """``warmup`` alone (the first thing a new user types) or ``warmup mailbox``: the whole help
    was squeezed into one line, "Error: Usage: warmup [OPTIONS] ... Commands: bounces Parse,
    ...", unreadable. It is the help as --help prints it (on stderr: a usage error, exit 64)."""
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, *args)
    assert proc.returncode == 64, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == usage, proc.stderr
    assert any(line.startswith(lists) for line in lines), proc.stderr
    assert not proc.stderr.startswith("Error:"), proc.stderr
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "args",
    [
        ["quota"],
        ["quota", "--json", BOX],
        ["mailbox", "list"],
        ["--help"],
        ["quota", "--help"],
        ["suppress", "list", "--csv"],
    ],
    ids=" ".join,
)
def test_output_whose_reader_is_gone_exits_0_silently(seeded: Path, args):
    """'warmup quota | head -1', '| grep -q paused': the reader closes the pipe and the next
    write fails with EPIPE. click caught it before warmup's handler and exited 1 without a
    word, failing a 'set -o pipefail' script whose pipeline did what it asked."""
    proc = _to_a_gone_reader(seeded, list(args))
    assert (proc.returncode, proc.stderr) == (0, "")


def _to_a_gone_reader(ledger: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` with its stdout a pipe whose reader is gone before a byte is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        return _stderr_of(ledger, [*forkcli.command(), *args], stdout=write)
    finally:
        os.close(write)


def _stderr_of(
    ledger: Path, command: list[str], stdout: Any = None, stderr: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    """``command`` on ``ledger`` with ``stdout`` and ``stderr`` (read by default), no input."""
    return subprocess.run(
        command,
        stdout=stdout,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "WARMUP_DB": str(ledger)},
        cwd=REPO,
        timeout=180,
        check=False,
    )


def test_an_error_still_exits_with_its_code_when_the_reader_is_gone(seeded: Path):
    proc = _to_a_gone_reader(seeded, ["quota", "nobody@corp.example"])
    assert proc.returncode == 64, proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.parametrize(
    "args",
    [["quota"], ["report", "--json"], ["bounces", "list"], ["mailbox", "list"], ["--help"]],
    ids=" ".join,
)
def test_output_to_a_closed_stdout_is_one_line_and_exit_74(seeded: Path, args):
    """'warmup report --json >&-': Python starts with sys.stdout None and click printed the
    answer nowhere, exit 0, as if it had been read. Like 'echo hi >&-', a write to a closed
    standard output is an error: one line naming it, EX_IOERR."""
    # python -m warmup itself: the zygote's client cannot hand over a descriptor it lacks.
    proc = _stderr_of(seeded, ["sh", "-c", 'exec "$0" -m warmup "$@" >&-', sys.executable, *args])
    assert proc.returncode == 74, proc.stderr
    assert proc.stderr == "Error: cannot write the output: standard output is closed (>&-)\n"


def test_a_send_recorded_with_its_output_lost_says_it_was_recorded(seeded: Path):
    """'warmup record send ... > /dev/full' (a full disk under a script's log): the send was
    recorded, but the line said only "cannot write the output", and a script that ran it again
    on exit 74 recorded it twice, the quota of the day one short (without --message-id, each
    run is a new send)."""
    args = ["record", "send", BOX, "--to", "q1@example.com", "--to", "q2@example.com"]
    with open("/dev/full", "w") as full:
        proc = _stderr_of(seeded, [*forkcli.command(), *args], stdout=full)
    assert proc.returncode == 74, proc.stderr
    assert proc.stderr == (
        "Error: cannot write the output: No space left on device; 2 sends were recorded for "
        f"{BOX}: do not record them again\n"
    )
    assert rows(seeded, "SELECT count(*) FROM send WHERE recipient LIKE 'q_@example.com'") == [(2,)]


@pytest.mark.parametrize(
    ("rows", "code", "said"),
    [("2026-11-20T09:00:00+08:00", 0, "Imported 1 new send"), ("next tuesday", 65, "")],
    ids=["imported", "bad-row"],
)
def test_import_with_stderr_closed_ends_as_it_would_with_stderr_open(
    seeded: Path, tmp_path: Path, rows, code, said
):
    """'warmup import log.csv 2>&-' (cron discarding errors): Python starts with sys.stderr
    None, and asking it whether it is a terminal (for the progress bar) was an AttributeError,
    exit 1, the import never run, its traceback written nowhere. Now stderr is /dev/null."""
    log = tmp_path / "log.csv"
    log.write_text(f"mailbox,recipient,sent_at\n{BOX},new@example.com,{rows}\n")
    before = ledger_digest(seeded)
    command = ["sh", "-c", 'exec "$0" -m warmup "$@" 2>&-', sys.executable, "import", str(log)]
    proc = _stderr_of(seeded, command, stdout=subprocess.PIPE, stderr=None)
    assert proc.returncode == code
    assert proc.stdout.startswith(said) if said else proc.stdout == ""
    assert (ledger_digest(seeded) == before) == (code != 0)


def test_demo_with_stderr_closed_runs(tmp_path: Path):
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" -m warmup demo --days 2 --no-plot 2>&-', sys.executable],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0 and "Simulating 2 days" in proc.stdout, proc.stdout


@pytest.mark.parametrize(
    "args",
    [["quota"], ["report", "--format", "csv"], ["suppress", "list", "--csv"], ["mailbox", "list"]],
    ids=" ".join,
)
def test_output_to_a_full_disk_is_one_line_and_exit_74(seeded: Path, args):
    """'warmup suppress list --csv > /dev/full': the CSV writer wrote to stdout from its C
    code, so the failed write was a traceback and exit 1, not the one line and 74 every
    other listing gives."""
    with open("/dev/full", "w") as full:
        proc = _stderr_of(seeded, [*forkcli.command(), *args], stdout=full)
    assert proc.returncode == 74, proc.stderr
    assert proc.stderr == "Error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["quota", "nobody@corp.example"], 64),
        (["qouta"], 64),
        (["plan", BOX, "--days", "0"], 64),
        (["mailbox"], 64),
        (["record", "send", BOX, "--to", "not an address"], 65),
    ],
    ids=["unknown-mailbox", "unknown-command", "bad-value", "group-alone", "bad-recipient"],
)
def test_an_error_keeps_its_exit_code_with_stderr_on_a_full_disk(seeded: Path, args, code):
    """'warmup send ... 2>>warmup.log' from cron, the disk full: the error line cannot be
    written, and the failed write's traceback (which cannot be written either) made every
    error exit 1, so a script could not tell "try later" (75) or bad input (65) from a crash."""
    before = ledger_digest(seeded)
    with open("/dev/full", "w") as full:
        proc = _stderr_of(seeded, [*forkcli.command(), *args], subprocess.PIPE, full)
    assert (proc.returncode, proc.stdout) == (code, "")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "args",
    [["quota", "--at", "2026-12-01T10:00"], ["suppress", "list", "--limit", "1"]],
    ids=" ".join,
)
def test_a_note_stderr_cannot_take_leaves_the_answer_and_exit_0(run, seeded: Path, args):
    """'2> /dev/full' (a full disk under '2>> log'): the note on stderr (a time without an
    offset over mailboxes in two zones; a list cut at --limit) is lost, as with '2>&-', and
    the answer on stdout stands, exit 0. It was exit 74, "cannot write the output", and the
    quota table, after its note, was never printed."""
    assert run("mailbox", "add", "b@corp.example", "--provider", "gmail").exit_code == 0
    assert run("suppress", "add", "x@example.com", "y@example.com", "--reason", "r").exit_code == 0
    closed = _stderr_of(seeded, [*forkcli.command(), *args], subprocess.PIPE, subprocess.DEVNULL)
    assert closed.returncode == 0
    before = ledger_digest(seeded)  # after the walk memo 'quota' keeps
    with open("/dev/full", "w") as full:
        proc = _stderr_of(seeded, [*forkcli.command(), *args], subprocess.PIPE, full)
    assert (proc.returncode, proc.stdout) == (0, closed.stdout)
    assert proc.stdout.count("\n") >= 2, proc.stdout  # a header and a row at least
    assert ledger_digest(seeded) == before


def test_unknown_mailbox_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, "quota", "nobody@corp.example")
    assert_one_line_error(proc, 64, "'nobody@corp.example' not found", "warmup mailbox add")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("name", "code"),
    [("gone.csv", 66), ("a" * 300 + ".csv", 64), ("log.csv/inside.csv", 66)],
    ids=["missing", "too long", "under a file"],
)
def test_a_file_to_read_whose_name_names_nothing_is_not_bad_data(
    seeded: Path, tmp_path: Path, name, code
):
    # It was exit 65, "bad data". A file not there, or under a file taken for a folder
    # (ENOTDIR), is an input that is not there (66, EX_NOINPUT); a name too long for the system
    # (ENAMETOOLONG) names nothing, a usage error (64).
    (tmp_path / "log.csv").write_text("mailbox,recipient,sent_at\n")
    before = ledger_digest(seeded)
    for args in (
        ["import", str(tmp_path / name)],
        ["suppress", "add", "--reason", "x", "--from", str(tmp_path / name)],
    ):
        proc = warmup_proc(seeded, *args)
        assert_one_line_error(proc, code, "cannot read it (")
    assert ledger_digest(seeded) == before


def test_bad_csv_line_process(seeded: Path, tmp_path: Path):
    before = ledger_digest(seeded)
    log = write_csv(
        tmp_path / "log.csv",
        [
            ["mailbox", "recipient", "sent_at"],
            [BOX, "r1@example.com", TS],
            [BOX, "r2@example.com", TS],
            [BOX, "not-an-address", TS],
            [BOX, "r4@example.com", TS],
        ],
    )
    proc = warmup_proc(seeded, "import", str(log))
    assert_one_line_error(proc, 65, "line 4", "not-an-address")
    assert ledger_digest(seeded) == before


def test_corrupted_ledger_process(tmp_path: Path):
    path = tmp_path / "ledger.db"
    path.write_bytes(os.urandom(16384))
    raw = path.read_bytes()
    proc = warmup_proc(path, "quota", BOX)
    assert_one_line_error(proc, 78, str(path), "corrupted")
    assert path.read_bytes() == raw


@pytest.mark.slow
def test_bad_date_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, "quota", BOX, "--at", "next tuesday")
    assert_one_line_error(proc, 64, "--at", "'next tuesday'")
    assert ledger_digest(seeded) == before


# -- in-process ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45", "2026-11-31T09:00:00+08:00"])
def test_bad_at_date(run, seeded: Path, value: str):
    before = ledger_digest(seeded)
    assert_error(run("quota", BOX, "--at", value), 64, "--at")
    assert_error(run("record", "send", BOX, "--to", "x@example.com", "--at", value), 64, "--at")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "option", "command"),
    [
        (
            ("record", "send", BOX, "--to", "x@example.com", "--at", TS, "--at", "2026-11-11"),
            "--at",
            "record send",
        ),
        (("plan", BOX, "--days", "3", "--days=40"), "--days", "plan"),
        (("quota", BOX, "--at", TS, "--at", TS), "--at", "quota"),
        (("--db", "other.db", "--db", "x.db", "quota"), "--db", ""),
        (
            ("mailbox", "set", BOX, "--cap", "20", "--cap", "200", "--cap", "2"),
            "--cap",
            "mailbox set",
        ),
    ],
)
def test_a_single_valued_option_given_twice_is_a_usage_error(run, seeded, args, option, command):
    """click keeps the last of ``--at X --at Y`` silently: a send recorded at Y when X may have
    been meant (a wrapper's default before the user's own). Refused, 64, nothing written."""
    before = ledger_digest(seeded)
    res = run(*args)
    n = (
        "twice"
        if args.count(option) + sum(a.startswith(option + "=") for a in args) == 2
        else "3 times"
    )
    assert res.exit_code == 64, res.output
    (line,) = res.output.splitlines()
    assert line.startswith(f"Error: Option '{option}' given {n}; it takes one value: give it once")
    assert line.endswith(f"{' ' + command if command else ''} --help')")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "option", "said"),
    [
        (("mailbox", "set", BOX, "--smtp-port", "٣"), "Invalid value for '--smtp-port'", "'٣'"),
        (("mailbox", "set", BOX, "--cap", "２００"), "--cap", "'２００'"),  # N|none
        (("plan", BOX, "--days", "٣"), "Invalid value for '--days'", "'٣'"),  # an IntRange
        (("queue", "show", "٣"), "Invalid value for 'ID'", "'٣'"),  # an argument
        (("bounces", "sync", BOX, "--timeout", "٣"), "Invalid value for '--timeout'", "'٣'"),
        (("quota", BOX, "--at", "٢٠٢٦-١١-١٠"), "--at", "'٢٠٢٦-١١-١٠'"),  # pendulum took it
        (("mailbox", "pause", BOX, "--until", "٣d", "--reason", "x"), "--until", "'٣d'"),
        (
            ("queue", "add", "--mailbox", BOX, "--eml", "m.eml", "--expires", "٣d"),
            "Invalid value for '--expires'",
            "'٣d'",
        ),
    ],
    ids=["int", "full-width", "int-range", "argument", "seconds", "date", "span", "expiry"],
)
def test_a_number_in_digits_other_than_0_to_9_is_a_usage_error(
    run, seeded, tmp_path, monkeypatch, args, option, said
):
    """Python's int() and float(), pendulum's parser and re's \\d read every script's digits:
    '--smtp-port ٣' was port 3, '--until ٣d' three days. Refused, 64, saying what to write."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.eml").write_text(f"From: {BOX}\nTo: x@example.com\nSubject: Hi\n\nHi\n")
    before = ledger_digest(seeded)
    res = run(*args)
    assert res.exit_code == 64, res.output
    (line,) = res.output.splitlines()
    fixed = said.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩０１２３４５６７８９", "01234567890123456789"))
    assert line.startswith(f"Error: {option}: {said}: digits must be 0-9: write {fixed}"), line
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "option", "said", "fixed"),
    [
        (
            ("mailbox", "set", BOX, "--smtp-port", "+5"),
            "Invalid value for '--smtp-port'",
            "+5",
            "5",
        ),
        (("plan", BOX, "--days", "1_000"), "Invalid value for '--days'", "1_000", "1000"),
        (("plan", BOX, "--days", " 30"), "Invalid value for '--days'", " 30", "30"),
        (("queue", "show", "+1"), "Invalid value for 'ID'", "+1", "1"),  # an argument
        (("mailbox", "set", BOX, "--cap", "1_00"), "--cap", "1_00", "100"),  # N|none
    ],
    ids=["plus", "underscore", "space", "argument", "cap"],
)
def test_a_whole_number_in_a_spelling_only_python_reads_is_a_usage_error(
    run, seeded, args, option, said, fixed
):
    """The README says numbers take the digits 0-9 only; click's int() also read '+5', '1_000'
    and ' 30', so '--days 1_000' planned 1000 days. Refused, 64, saying what to write."""
    before = ledger_digest(seeded)
    res = run(*args)
    assert res.exit_code == 64, res.output
    (line,) = res.output.splitlines()
    assert line.startswith(
        f"Error: {option}: '{said}': write a whole number with the digits 0-9 alone: "
        f"write '{fixed}'"
    ), line
    assert ledger_digest(seeded) == before


def test_flags_and_list_options_may_repeat_and_sendmail_keeps_its_last(run, seeded: Path):
    """Only an option of one value is refused twice: a flag says the same thing again, a list
    option (``--to`` of record send) takes each, and the sendmail shim keeps sendmail(8)'s
    rule (the last ``-f`` wins: PHP's mail() appends one to a sendmail_path that has one)."""
    res = run("quota", BOX, "--json", "--json", "--at", TS)
    assert res.exit_code == 0 and json.loads(res.output)[0]["mailbox"] == BOX
    res = run("record", "send", BOX, "--to", "x@example.com", "--to", "y@example.com", "--at", TS)
    assert res.exit_code == 0, res.output
    res = run("sendmail", "-f", "x@corp.example", "-f", BOX, "--help")
    assert res.exit_code == 0 and "Usage:" in res.output


def test_empty_at_is_refused_not_taken_as_now(run, seeded: Path):
    # `--at "$WHEN"` with WHEN unset must not silently evaluate (or record) as of now.
    before = ledger_digest(seeded)
    assert_error(run("quota", BOX, "--at", ""), 64, "--at")
    assert_error(run("plan", BOX, "--at", ""), 64, "--at")
    assert_error(run("record", "send", BOX, "--to", "x@example.com", "--at", ""), 64, "--at")
    assert ledger_digest(seeded) == before


def test_bad_csv_line_names_its_line_and_imports_nothing(run, seeded: Path, tmp_path: Path):
    before = ledger_digest(seeded)
    rows = [["mailbox", "recipient", "sent_at", "message_id", "bounce_kind"]]
    rows += [[BOX, f"r{i}@example.com", TS, f"<{i}@x>", ""] for i in range(1, 6)]
    rows.append([BOX, "r9@example.com", TS, "<9@x>", "bogus"])  # line 7: unknown bounce kind
    log = write_csv(tmp_path / "log.csv", rows)
    assert_error(run("import", str(log)), 65, "line 7", "bogus")
    assert ledger_digest(seeded) == before


def test_csv_line_with_unknown_mailbox_rolls_back_earlier_lines(run, seeded: Path, tmp_path: Path):
    # The mailbox is looked up inside the write transaction, after earlier lines were inserted.
    before = ledger_digest(seeded)
    log = write_csv(
        tmp_path / "log.csv",
        [
            ["mailbox", "recipient", "sent_at"],
            [BOX, "r1@example.com", TS],
            [BOX, "r2@example.com", TS],
            ["ghost@corp.example", "r3@example.com", TS],
        ],
    )
    assert_error(run("import", str(log)), 65, "line 4", "ghost@corp.example")
    assert ledger_digest(seeded) == before


def test_csv_extra_field_names_its_line(run, seeded: Path, tmp_path: Path):
    before = ledger_digest(seeded)
    log = tmp_path / "log.csv"
    log.write_text(
        f"mailbox,recipient,sent_at\n{BOX},r1@example.com,{TS}\n{BOX},r2@example.com,{TS},surplus\n"
    )
    assert_error(run("import", str(log)), 65, "line 3")
    assert ledger_digest(seeded) == before


def test_csv_missing_header_column(run, seeded: Path, tmp_path: Path):
    before = ledger_digest(seeded)
    log = write_csv(tmp_path / "log.csv", [["mailbox", "recipient"], [BOX, "r1@example.com"]])
    assert_error(run("import", str(log)), 65, "line 1", "sent_at")
    assert ledger_digest(seeded) == before


def test_unknown_policy_preset(run, seeded: Path):
    before = ledger_digest(seeded)
    line = assert_error(
        run("mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", "turbo"),
        64,
        "'turbo'",
    )
    assert "default" in line and "gentle" in line  # the choices are named
    assert_error(run("mailbox", "set", BOX, "--policy", "turbo"), 64, "'turbo'")
    assert ledger_digest(seeded) == before


def test_policy_file_with_bad_key(run, seeded: Path, tmp_path: Path):
    from importlib import resources

    text = (resources.files("warmup.policy") / "presets" / "default.toml").read_text()
    bad = text.replace("daily = [100, 200]", 'daily = "lots"')
    assert bad != text
    path = tmp_path / "mine.toml"
    path.write_text(bad)
    before = ledger_digest(seeded)
    assert_error(
        run("mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", str(path)),
        78,
        "stage[2].daily",
        str(path),
    )
    assert_error(run("mailbox", "set", BOX, "--policy", str(path)), 78, "stage[2].daily")
    assert ledger_digest(seeded) == before


def test_policy_file_broken_after_registration(run, seeded: Path, tmp_path: Path):
    # The ledger keeps its own copy of a registered policy: a file edited into a bad state
    # later changes nothing, and storing it as a new version is refused with 78.
    path = tmp_path / "mine.toml"
    from importlib import resources

    good = (resources.files("warmup.policy") / "presets" / "default.toml").read_text()
    path.write_text(good)
    assert run("mailbox", "set", BOX, "--policy", str(path)).exit_code == 0
    quota_before = run("quota", BOX, "--json")
    path.write_text(good.replace("growth_factor = 2.0", "growth_factor = 0.5"))
    before = ledger_digest(seeded)
    after = run("quota", BOX, "--json")
    assert after.exit_code == 0 and after.output == quota_before.output
    assert_error(run("policy", "set", "mine", str(path)), 78, "growth_factor")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize("host", ["smtp.corp.example", "10.0.0.5", "0.0.0.0"])
def test_smtp_security_none_needs_loopback(run, seeded: Path, host: str):
    before = ledger_digest(seeded)
    assert_error(
        run(
            "mailbox",
            "add",
            "b@corp.example",
            "--provider",
            "custom",
            "--smtp-host",
            host,
            "--smtp-port",
            "25",
            "--smtp-security",
            "none",
            "--imap-host",
            "imap.corp.example",
            "--imap-port",
            "993",
        ),
        64,
        "--smtp-security none",
        "loopback",
    )
    assert_error(
        run("mailbox", "set", BOX, "--smtp-host", host, "--smtp-security", "none"),
        64,
        "--smtp-security none",
    )
    assert ledger_digest(seeded) == before


def test_smtp_security_none_on_loopback_is_allowed(run, seeded: Path):
    res = run(
        "mailbox",
        "add",
        "b@corp.example",
        "--provider",
        "custom",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        "2525",
        "--smtp-security",
        "none",
        "--imap-host",
        "127.0.0.1",
        "--imap-port",
        "1143",
    )
    assert res.exit_code == 0, res.output


def test_mailbox_set_checks_the_settings_it_leaves_not_only_those_it_is_given(run, seeded: Path):
    """``mailbox set`` checked its options against the provider's preset, not the mailbox: a
    custom mailbox could change nothing at all ("provider custom needs --smtp-host"), a stored
    loopback host did not allow --smtp-security none, and a new host for a mailbox already on
    security none moved its clear-text password to any host on the network."""
    loopback = ("--smtp-host", "127.0.0.1", "--smtp-port", "2525", "--smtp-security", "none")
    add = ("mailbox", "add", "b@lab.test", "--provider", "custom", *loopback)
    assert run(*add, "--imap-host", "127.0.0.1", "--imap-port", "1143").exit_code == 0
    for change in (("--cap", "50"), ("--smtp-port", "2526"), ("--imap-host", "localhost")):
        res = run("mailbox", "set", "b@lab.test", *change)
        assert res.exit_code == 0, (change, res.output)
    assert run("mailbox", "set", BOX, "--smtp-host", "127.0.0.1").exit_code == 0
    assert run("mailbox", "set", BOX, "--smtp-security", "none").exit_code == 0
    before = ledger_digest(seeded)
    for box in (BOX, "b@lab.test"):
        assert_error(
            run("mailbox", "set", box, "--smtp-host", "smtp.corp.example"),
            64,
            "--smtp-security none",
            "loopback",
        )
    assert ledger_digest(seeded) == before
    shown = json.loads(run("mailbox", "show", "b@lab.test", "--json").stdout)
    assert shown["smtp"] == {"hosts": ["127.0.0.1"], "port": 2526, "security": "none"}
    assert shown["imap"]["hosts"] == ["localhost"] and shown["cap"] == 50


@pytest.mark.parametrize("host", [",", " ", "smtp corp.example", "smtp.corp.example\nOK", "a_b@c"])
@pytest.mark.parametrize("command", ["add", "set"])
def test_a_host_that_is_no_host_name_is_refused(run, seeded: Path, host: str, command: str):
    """``--smtp-host ','`` was stored as no host at all (every send: "cannot reach the SMTP
    server ()"), and a space or a line break was stored as it was and printed so by
    ``mailbox list/show``."""
    before = ledger_digest(seeded)
    args = (
        ("mailbox", "add", "b@corp.example", "--provider", "exmail")
        if command == "add"
        else ("mailbox", "set", BOX)
    )
    # nothing but separators is no host at all (9dcba8a); anything else is no host name
    said = "no host in it" if not host.strip(" ,") else "host name or IP"
    line = assert_error(run(*args, "--smtp-host", host), 64, "--smtp-host", said)
    assert "\n" not in line
    assert ledger_digest(seeded) == before


def test_custom_provider_without_hosts(run, seeded: Path):
    before = ledger_digest(seeded)
    assert_error(
        run("mailbox", "add", "b@corp.example", "--provider", "custom"), 64, "custom", "--smtp-host"
    )
    assert_error(
        run(
            "mailbox",
            "add",
            "b@corp.example",
            "--provider",
            "custom",
            "--smtp-host",
            "smtp.corp.example",
            "--smtp-port",
            "465",
        ),
        64,
        "custom",
        "--imap-host",
    )
    assert ledger_digest(seeded) == before


def test_remove_mailbox_with_history_needs_force(run, seeded: Path):
    before = ledger_digest(seeded)
    assert_error(run("mailbox", "remove", BOX), 65, BOX, "--force")
    assert ledger_digest(seeded) == before


def test_quota_check_needs_an_address(run, seeded: Path):
    before = ledger_digest(seeded)
    assert_error(run("quota", "--check"), 64, "--check")
    assert ledger_digest(seeded) == before


def test_corrupted_ledger(run, ledger_path: Path):
    ledger_path.write_bytes(os.urandom(8192))
    raw = ledger_path.read_bytes()
    for args in (
        ("quota", BOX),
        ("mailbox", "list"),
        ("mailbox", "add", BOX, "--provider", "exmail"),
    ):
        assert_error(run(*args), 78, str(ledger_path))
    assert ledger_path.read_bytes() == raw


def test_unknown_mailbox_everywhere(run, seeded: Path):
    before = ledger_digest(seeded)
    ghost = "ghost@corp.example"
    for args in (
        ("quota", ghost),
        ("plan", ghost),
        ("mailbox", "show", ghost),
        ("mailbox", "set", ghost, "--cap", "5"),
        ("mailbox", "pause", ghost, "--reason", "x"),
        ("mailbox", "resume", ghost),
        ("mailbox", "remove", ghost),
        ("record", "send", ghost, "--to", "x@example.com"),
        ("record", "bounce", ghost, "--to", "x@example.com"),
    ):
        assert_error(run(*args), 64, repr(ghost))
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "rcpt",
    ["plain", "a@b", "two@@example.com", "sp ace@example.com", "a@corp.123", "a@corp.-cn"],
)
def test_malformed_recipient(run, seeded: Path, rcpt: str):
    before = ledger_digest(seeded)
    assert_error(
        run("record", "send", BOX, "--to", "ok@example.com", "--to", rcpt),
        65,
        "malformed recipient",
        repr(rcpt),
    )
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("rcpt", "ascii_form"),
    [("lead@例子.中国", "lead@xn--fsqu00a.xn--fiqs8s"), ("王 <Li@公司.cn>", "li@xn--55qx5d.cn")],
)
def test_an_international_domain_is_refused_naming_its_ascii_form(
    run, seeded: Path, tmp_path: Path, rcpt: str, ascii_form: str
):
    # "malformed recipient ...: expected name@domain.tld" for an address that is well formed:
    # the user could not tell what to write instead (the envelope needs the xn-- form without
    # SMTPUTF8, which warmup does not use).
    before = ledger_digest(seeded)
    said = (
        f"{rcpt!r} has an international domain name; warmup sends without SMTPUTF8: write it "
        f"as {ascii_form}"
    )
    res = run("send", BOX, "--to", rcpt, "--body", "hi", "--dry-run")
    assert_error(res, 65, f"--to: recipient {said}")
    leads = tmp_path / "leads.csv"
    leads.write_text(f'email\n"{rcpt}"\n', encoding="utf-8")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "s"\ntext = "t"\n', encoding="utf-8")
    res = run("queue", "add", "--mailbox", BOX, "--csv", str(leads), "--template", str(tpl))
    assert_error(res, 65, f"{leads}: line 2: recipient {said}")
    assert ledger_digest(seeded) == before
    # the dry run asks the plan now: the exmail preset's is closed on CN holidays
    assert run("mailbox", "set", BOX, "--policy", str(ANY_DAY)).exit_code == 0
    assert run("send", BOX, "--to", ascii_form, "--body", "hi", "--dry-run").exit_code == 0


def test_an_xn_label_that_is_no_idna_name_is_refused_where_an_address_is_given(
    run,
    ledger_url: str,  # noqa: F811
    tmp_path: Path,
):
    """'suppress add x@xn--zz.com' was taken: an xn-- label whose Punycode decodes to no IDNA
    name (a typo, a broken conversion) names a domain no registry issues, so its address is
    never mailed and never looked up by the domain a user reads. Refused, 65, as any
    malformed address, wherever one is given; valid A-labels (IDNA 2008's straße too) are
    taken, and a row an older warmup kept can still be removed."""
    from warmup.ledger import open_ledger

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    said = "has a domain label 'xn--zz' that is no valid international name"
    for given in ("x@xn--zz.com", "x@XN--ZZ.com", "x@mail.xn--zz.com"):
        assert_error(run("suppress", "add", given, "--reason", "r"), 65, repr(given), said)
    for label in ("xn--a", "xn--abc"):  # each decodes to control characters
        assert_error(run("suppress", "add", f"x@{label}.com", "--reason", "r"), 65, repr(label))
    assert_error(run("send", BOX, "--to", "x@xn--zz.com", "--body", "hi", "--dry-run"), 65, said)
    assert_error(run("mailbox", "add", "s@xn--zz.com", "--provider", "exmail"), 65, said)
    leads = write_csv(tmp_path / "leads.csv", [["email"], ["x@xn--zz.com"]])
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "s"\ntext = "t"\n', encoding="utf-8")
    res = run("queue", "add", "--mailbox", BOX, "--csv", str(leads), "--template", str(tpl))
    assert_error(res, 65, f"{leads}: line 2: recipient", said)
    assert json.loads(run("suppress", "list", "--json").output) == []
    assert json.loads(run("queue", "list", "--json").output) == []
    assert [m["address"] for m in json.loads(run("mailbox", "list", "--json").output)] == [BOX]
    for good in ("x@xn--bcher-kva.com", "x@xn--strae-oqa.de", "x@xn--55qx5d.xn--fiqs8s"):
        assert run("suppress", "add", good, "--reason", "r").exit_code == 0, good
    ledger = open_ledger(ledger_url)
    try:  # as an older warmup kept it
        ledger.suppress(["old@xn--zz.com"], "manual", "kept before")
    finally:
        ledger.close()
    res = run("suppress", "remove", "old@xn--zz.com")
    assert (res.exit_code, res.output) == (0, "old@xn--zz.com may be mailed again.\n")


# -- instants out of range (issue #10 items 5 and 10) -------------------------------------------


@pytest.mark.slow
def test_record_at_year_1_exits_65_and_quota_still_works_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(
        seeded, "record", "send", BOX, "--to", "x@example.com", "--at", "0001-01-01T00:00:00+00:00"
    )
    assert_one_line_error(
        proc, 65, "--at", "'0001-01-01T00:00:00+00:00'", "out of range", "2000-01-01"
    )
    assert ledger_digest(seeded) == before
    quota = warmup_proc(seeded, "quota", BOX)
    assert quota.returncode == 0, quota.stderr
    assert "Traceback" not in quota.stderr


OUT_OF_RANGE = [
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00",
    "1999-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31",
    "0001-01-01",
]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_instant_out_of_range_is_refused_everywhere(run, seeded: Path, value: str):
    before = ledger_digest(seeded)
    for args in (
        ("quota", BOX),
        ("plan", BOX),
        ("plan", BOX, "--volume", "100"),
        ("report", BOX),
        ("plot", BOX),
        ("record", "send", BOX, "--to", "x@example.com"),
        ("record", "bounce", BOX, "--to", "x@example.com"),
    ):
        assert_error(run(*args, "--at", value), 65, "--at", repr(value), "out of range")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("value", "read"),
    [
        ("2000-01-01", " (read as 1999-12-31T16:00:00Z)"),
        ("2000-01-01T00:00:00+08:00", ""),
        # a year out of range is the fault itself: its reading said 1899-12-31T15:54:17Z
        # (Shanghai's local mean time, +08:05:43, before 1901), which explained nothing
        ("1900-01-01", ""),
        ("2150-06-01", ""),
    ],
)
def test_a_local_time_just_out_of_range_says_the_instant_it_was_read_as(
    run, seeded: Path, value: str, read: str
):
    """``report --at 2000-01-01`` of a Shanghai mailbox said "'2000-01-01' is out of range:
    expected a time between 2000-01-01 and 2100-01-01": its local midnight is 1999 in UTC,
    which the message did not say. A time given with its offset is quoted as it is."""
    res = run("report", BOX, "--at", value)
    assert res.exit_code == 65
    assert res.output == (
        f"Error: --at: {value!r}{read} is out of range: expected a time between 2000-01-01 and "
        "2100-01-01 UTC\n"
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        # an offset no place uses names the range accepted (it said "not ISO 8601" alone)
        ("2026-11-10T09:00:00+99:00", "expected one from -12:00 to +14:00"),
        ("2026-11-10T09:00:00-24:00", "expected one from -12:00 to +14:00"),
        ("2026-11-10T25:00:00+08:00", "ISO 8601"),
    ],
)
def test_impossible_offset_or_hour_is_a_usage_error(run, seeded: Path, value: str, says: str):
    before = ledger_digest(seeded)
    for args in (("quota", BOX), ("record", "send", BOX, "--to", "x@example.com")):
        assert_error(run(*args, "--at", value), 64, "--at", repr(value), says)
    assert ledger_digest(seeded) == before


def test_a_record_in_the_future_is_refused_a_fast_clock_is_not(run, seeded: Path):
    import datetime as dt

    before = ledger_digest(seeded)
    now = dt.datetime.now(dt.UTC)
    tomorrow = (now + dt.timedelta(days=1)).isoformat()
    assert_error(
        run("record", "send", BOX, "--to", "x@example.com", "--at", tomorrow),
        65,
        "--at",
        "in the future",
        "5 minutes",
    )
    assert_error(
        run("record", "bounce", BOX, "--to", "r0@example.com", "--at", tomorrow),
        65,
        "--at",
        "in the future",
    )
    assert ledger_digest(seeded) == before
    # A sender's clock a minute fast is within the slack.
    soon = (now + dt.timedelta(minutes=1)).isoformat()
    res = run("record", "send", BOX, "--to", "x@example.com", "--at", soon)
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("value", ["0001-01-01", "1999-12-31", "9999-12-31"])
def test_started_and_since_dates_out_of_range(run, seeded: Path, value: str):
    before = ledger_digest(seeded)
    assert_error(
        run("mailbox", "add", "b@corp.example", "--provider", "exmail", "--started", value),
        65,
        "--started",
        repr(value),
        "out of range",
    )
    assert_error(run("bounces", "sync", BOX, "--since", value), 65, "--since", repr(value))
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("value", "code", "says"),
    [
        # No such day: not a date (64), saying which part the calendar lacks; it said "is
        # not an ISO 8601 date or time (e.g. ...)" of text that is one in form.
        ("2026-13-01", 64, "is no day of the calendar: there is no month 13 (a year has 12)"),
        ("2026-02-30", 64, "is no day of the calendar: February 2026 has 28 days, from 1 to 28"),
        ("2026-11-31 09:00", 64, "November 2026 has 30 days, from 1 to 30"),
        ("1999-12-31", 65, "out of range"),  # a date, out of bounds
        ("2200-01-01", 65, "out of range"),
    ],
)
def test_every_time_option_exits_as_at_does(
    run, seeded: Path, tmp_path: Path, value: str, code: int, says: str
):
    """DESIGN's 64 (usage) and 65 (data) for a time typed on the command line: one that cannot
    be read, 64; one read fine but out of bounds, 65; whichever option carries it (an attack
    read '--not-before 2026-13-01' exiting 64 beside another date's 65 as a disagreement: the
    first is no date at all). Nothing is written."""
    eml = tmp_path / "m.eml"
    eml.write_text("To: lead@example.com\nSubject: hi\n\nhello\n")
    before = ledger_digest(seeded)
    for args, option in (
        (("quota", BOX, "--at"), "--at"),
        (("queue", "add", "--mailbox", BOX, "--eml", str(eml), "--not-before"), "--not-before"),
        (("bounces", "list", "--since"), "--since"),
        (("mailbox", "pause", BOX, "--reason", "x", "--until"), "--until"),
    ):
        assert_error(run(*args, value), code, f"{option}: {value!r}", says)
    assert ledger_digest(seeded) == before


def test_a_pasted_to_line_of_named_addresses_is_said_to_be_several(run, seeded: Path):
    """``--to "A <a@x.example>, B <b@x.example>"`` was "malformed recipient ...: expected
    name@domain.tld" of two well-formed addresses, where the same list written bare was "2
    addresses in one": a To line copied from a mail client names them. Nothing is written."""
    pasted = "A <a@x.example>, B <b@x.example>"
    before = ledger_digest(seeded)
    res = run("record", "send", BOX, "--to", pasted)
    assert_error(res, 65, f"recipient {pasted!r} is 2 addresses in one: give each on its own")
    res = run("suppress", "add", pasted, "--reason", "unsubscribed")
    assert_error(res, 65, f"address {pasted!r} is 2 addresses in one: give each on its own")
    assert ledger_digest(seeded) == before


def test_library_errors_name_the_field_not_the_flag(ledger_path: Path):
    import datetime as dt

    from warmup import api
    from warmup.errors import DataError, FieldError, UsageError
    from warmup.ledger import open_ledger

    ledger = open_ledger(str(ledger_path))
    try:
        api.add_mailbox(ledger, BOX, "exmail")
        cases = [
            (
                lambda: api.add_mailbox(
                    ledger,
                    "b@corp.example",
                    "custom",
                    smtp_host="smtp.x.example",
                    smtp_port=465,
                    imap_host="imap.x.example",
                    smtp_security="bogus",
                ),
                "smtp_security",
                UsageError,
            ),
            (
                lambda: api.add_mailbox(ledger, "b@corp.example", "exmail", cap=-1),
                "cap",
                UsageError,
            ),
            (
                lambda: api.set_mailbox(
                    ledger, BOX, smtp_host="smtp.x.example", smtp_security="none"
                ),
                "smtp_security",
                UsageError,
            ),
            (
                lambda: api.record_send(
                    ledger, BOX, ["x@example.com"], dt.datetime(1999, 1, 1, tzinfo=dt.UTC)
                ),
                "at",
                DataError,
            ),
            (
                lambda: api.quota(ledger, BOX, dt.datetime(2200, 1, 1, tzinfo=dt.UTC)),
                "at",
                DataError,
            ),
            (lambda: api.parse_instant("soon"), "at", UsageError),
        ]
        for call, field, kind in cases:
            with pytest.raises(FieldError) as err:
                call()
            assert err.value.field == field and isinstance(err.value, kind), err.value
            assert str(err.value).startswith(field) and "--" not in str(err.value), err.value
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "args",
    [
        ("record", "send", BOX, "--to", "x@example.com", "--message-id", "<a\x00b@x>"),
        ("record", "bounce", BOX, "--to", "r0@example.com", "--status", "5.1.1\r\nX-Evil: 1"),
        ("mailbox", "pause", BOX, "--reason", "review\nStatus: resumed"),
    ],
    ids=["message-id-nul", "status-crlf", "reason-lf"],
)
def test_control_characters_in_stored_text_are_refused(run, seeded: Path, args):
    before = ledger_digest(seeded)
    flag = next(a for a in args if a in ("--message-id", "--status", "--reason"))
    assert_error(run(*args), 65, flag, "control character")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "status", ["9.9.9", "5.1", "550", "5.1.1 user unknown", "3.0.0", "5.1.1000"]
)
def test_a_status_that_is_not_an_enhanced_status_code_is_refused(run, seeded: Path, status: str):
    # The help says X.Y.Z; "9.9.9" and "550" were stored as they came.
    before = ledger_digest(seeded)
    args = ("record", "bounce", BOX, "--to", "r0@example.com", "--kind", "hard")
    assert_error(run(*args, "--status", status), 65, "--status", "enhanced status code")
    assert ledger_digest(seeded) == before
    assert run(*args, "--status", "5.1.1").exit_code == 0  # a real one still goes in


@pytest.mark.parametrize(
    "kind, status, says",
    [
        ("hard", "4.2.2", "temporary"),  # a full mailbox, retried: the address is good
        ("hard", "4.7.1", "temporary"),
        ("soft", "2.0.0", "success"),
        ("complaint", "2.1.5", "success"),
    ],
)
def test_a_status_that_contradicts_the_kind_is_refused(run, seeded: Path, kind, status, says):
    """'--kind hard --status 4.2.2' suppressed a good address on a temporary failure (the
    classifier never calls such a 4xx hard: it is retried), and a 2.x.x status (delivered) was
    kept as a bounce. One line, exit 65, the ledger untouched."""
    before = ledger_digest(seeded)
    args = ("record", "bounce", BOX, "--to", "r0@example.com", "--kind", kind, "--status", status)
    assert_error(run(*args), 65, "--status", status, says)
    assert ledger_digest(seeded) == before
    # A permanent failure that is not hard (a refusing or full mailbox) stays recordable.
    ok = ("record", "bounce", BOX, "--to", "r0@example.com", "--kind", "soft", "--status", "5.2.2")
    assert run(*ok).exit_code == 0


@pytest.mark.parametrize("status", ["4.1.1", "4.1.6"])
def test_an_address_verdict_under_a_4xx_may_be_recorded_hard(run, seeded: Path, status):
    """The last reply of a delivery given up on can be a 4.1.1 "user unknown" (the remote server
    answered so for days): the classifier reads such a report as hard, and so may the user."""
    args = ("record", "bounce", BOX, "--to", "r0@example.com", "--kind", "hard", "--status", status)
    res = run(*args)
    assert res.exit_code == 0, res.output
    assert "r0@example.com" in run("suppress", "list").output


# -- header injection through send's options (issue #10 item 10) ---------------------------------


def test_crlf_in_subject_is_one_line_and_a_sysexits_code_process(seeded: Path):
    before = ledger_digest(seeded)
    proc = warmup_proc(
        seeded,
        "send",
        BOX,
        "--to",
        "lead@example.com",
        "--subject",
        "Hello\r\nBcc: victim@example.com",
        "--body",
        "hi",
        "--dry-run",
    )
    assert_one_line_error(proc, 65, "--subject", "control character")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize("content", [b"caf\xe9 au lait\n", bytes(range(256))])
def test_a_body_file_that_is_not_utf8_is_one_line_and_65_process(
    seeded: Path, tmp_path: Path, content: bytes
):
    # Latin-1 text or a binary file raised UnicodeDecodeError: a traceback, exit 1.
    body = tmp_path / "body.txt"
    body.write_bytes(content)
    before = ledger_digest(seeded)
    args = ["--to", "lead@example.com", "--body-file", str(body), "--dry-run"]
    proc = warmup_proc(seeded, "send", BOX, *args)
    assert_one_line_error(proc, 65, "--body-file", "not UTF-8")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize("option", ["--subject", "--body"])
def test_gbk_bytes_in_send_options_are_one_line_and_65_process(seeded: Path, option: str):
    # A GBK terminal or script hands "关于" as b"\xb9\xd8\xd3\xda": Python reads argv as UTF-8
    # with surrogates. As --body it raised UnicodeEncodeError (a traceback, exit 1); as
    # --subject it went out as '=?unknown-8bit?q?=B9=D8=D3=DA?=', which no client shows.
    before = ledger_digest(seeded)
    args = {"--subject": "s", "--body": "b", option: b"\xb9\xd8\xd3\xda"}
    env = {**os.environ, "WARMUP_DB": str(seeded), "LC_ALL": "C.UTF-8"}
    proc = subprocess.run(
        [*forkcli.command(), "send", BOX, "--to", "lead@example.com", "--dry-run"]
        + [x for pair in args.items() for x in pair],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert_one_line_error(proc, 65, option, "not UTF-8 text (byte 0xb9", "iconv -f GBK")
    assert ledger_digest(seeded) == before


def test_a_nul_in_the_body_file_is_refused(run, seeded: Path, tmp_path: Path):
    # UTF-8 all right, but it went out raw under 'Content-Transfer-Encoding: 7bit' (RFC 2045
    # and RFC 5322 forbid a NUL in mail).
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello\x00world\n")
    before = ledger_digest(seeded)
    args = ["send", BOX, "--to", "lead@example.com", "--body-file", str(body), "--dry-run"]
    assert_error(run(*args), 65, f"--body-file {body}", "NUL")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "args",
    [
        ["send", f"{BOX}\nBcc: victim@example.com", "--to", "lead@example.com", "--body", "hi"],
        ["send", f"{BOX}\r\nX: y", "--", "true"],
    ],
)
def test_a_line_break_in_the_mailbox_address_is_one_line_and_65_process(
    seeded: Path, args: list[str]
):
    # The ADDRESS went into the From header as given (ValueError from the email package: a
    # traceback), or into the "not found" error, broken over two lines.
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, *args)
    assert_one_line_error(proc, 65, "malformed mailbox address")
    assert ledger_digest(seeded) == before


def test_an_eml_with_an_empty_from_is_one_line_and_65_process(seeded: Path, tmp_path: Path):
    # prepare() took "From:" for no From and added one: ValueError, a traceback.
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"From:\r\nTo: lead@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    before = ledger_digest(seeded)
    proc = warmup_proc(seeded, "send", BOX, "--eml", str(eml), "--dry-run")
    assert_one_line_error(proc, 65, "header From names no address")
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    "option,value",
    [
        ("--to", "lead@example.com\r\nBcc: victim@example.com"),
        ("--cc", "lead@example.com\nBcc: victim@example.com"),
        ("--subject", "Hello\nBcc: victim@example.com"),
        ("--subject", "Hello\x00"),
        # A line separator: Python's email package splits header values there too (ValueError
        # from EmailMessage: a traceback, exit 1).
        ("--subject", "Hello\u2028Bcc: victim@example.com"),
        ("--subject", "你好\u2029再见"),
    ],
)
def test_line_breaks_in_send_options_are_refused(run, seeded: Path, option: str, value: str):
    before = ledger_digest(seeded)
    args = ["send", BOX, "--to", "lead@example.com", "--body", "hi", "--dry-run", option, value]
    assert_error(run(*args), 65, option)
    assert ledger_digest(seeded) == before


# -- timeouts: the socket layer takes none of nan, inf, 0 or a negative number ------------------


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOOPBACK = "l@lab.test"
TIMEOUT_COMMANDS = {
    "send": ["send", LOOPBACK, "--to", "lead@example.com", "--subject", "s", "--body", "b"],
    "bounces sync": ["bounces", "sync", LOOPBACK],
    "doctor": ["doctor", LOOPBACK],
    "run": ["run", "--once", "--no-sync"],
}


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "1e400", "ten"])
@pytest.mark.parametrize("command", sorted(TIMEOUT_COMMANDS))
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(
    run, seeded: Path, monkeypatch, command: str, value: str
):
    # With type=float these reached socket.settimeout: a traceback for nan, inf and -1 (after
    # 'send' had reserved and released a slot), an instant failure for 0.
    port = str(closed_port())
    res = run(
        *["mailbox", "add", LOOPBACK, "--provider", "custom", "--smtp-host", "127.0.0.1"],
        *["--smtp-port", port, "--imap-host", "127.0.0.1", "--imap-port", port],
    )
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("WARMUP_PASSWORD", "x")
    before = ledger_digest(seeded)
    res = run(*TIMEOUT_COMMANDS[command], "--timeout", value)  # an exception fails the test
    assert res.exit_code == 64, res.output
    assert "Error: Invalid value for '--timeout'" in res.output, res.output
    assert ledger_digest(seeded) == before


# -- numbers past what the ledger's INTEGER or a timedelta holds --------------------------------

HUGE = "9" * 23  # > 2**63: sqlite3 raised OverflowError binding it


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["queue", "show", HUGE], 64, [f"no message {HUGE}"]),
        (["queue", "cancel", HUGE], 64, [f"no message {HUGE}"]),
        (["queue", "retry", HUGE], 64, [f"no message {HUGE}"]),
        (["mailbox", "set", BOX, "--cap", HUGE], 64, ["--cap", "from 1 to 1000000"]),
        (
            ["mailbox", "add", "b@corp.example", "--provider", "exmail", "--cap", HUGE],
            64,
            ["--cap"],
        ),
        (["queue", "retry", "1", "--expires", "99999999999d"], 64, ["--expires", "365d"]),
        (["run", "--once", "--sync-every", HUGE + "h"], 64, ["--sync-every"]),
    ],
)
def test_a_huge_number_is_a_clear_error(run, seeded: Path, args: list[str], code: int, words):
    before = ledger_digest(seeded)
    assert_error(run(*args), code, *words)  # an OverflowError fails the test
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("listing", "key"),
    [(["bounces", "list"], "recipient"), (["suppress", "list"], "address")],
)
def test_a_huge_limit_lists_everything(run, seeded: Path, listing: list[str], key: str):
    """Every ``--limit`` takes a number past SQL's INTEGER as "all" (``suppress list`` bound it
    as it was: an OverflowError traceback, exit 1)."""
    assert run("record", "bounce", BOX, "--to", "r0@example.com").exit_code == 0
    res = run(*listing, "--limit", HUGE, "--json")
    assert res.exit_code == 0, res.output
    assert [b[key] for b in json.loads(res.output)] == ["r0@example.com"]


@pytest.mark.parametrize("value", ["x", "99", HUGE])
def test_a_handover_fd_warmup_did_not_set_is_one_line_not_a_traceback(
    run, seeded: Path, monkeypatch, value: str
):
    """``$WARMUP_PASSWORD_FD`` is warmup's own (the pipe a wrapped command's gate reads its
    password from); one set by hand to a number past a C int raised OverflowError in fstat:
    a traceback, exit 1, where any other value that is no pipe is a set-up fault (78)."""
    monkeypatch.setenv("WARMUP_PASSWORD_FD", value)
    before = ledger_digest(seeded)
    assert_error(run("bounces", "sync", BOX), 78, "WARMUP_PASSWORD_FD=", "is not a pipe")
    assert ledger_digest(seeded) == before


# -- a blank value ("$VAR" with the variable unset) is refused, never read as the option left out

EML = "From: a@corp.example\nTo: r@example.com\nSubject: s\n\nhi\n"
SEND = ["send", BOX, "--to", "r@example.com", "--subject", "s", "--body", "hi"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", ""],
            ["--policy", "blank"],
        ),
        (
            ["mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", " "],
            ["--policy", "blank"],
        ),
        (["mailbox", "set", BOX, "--policy", ""], ["--policy", "blank"]),
        (
            ["mailbox", "add", "b@corp.example", "--provider", "exmail", "--started", ""],
            ["--started"],
        ),
        (
            ["queue", "add", "--mailbox", BOX, "--eml", "m.eml", "--not-before", ""],
            ["--not-before"],
        ),
        (["queue", "add", "--mailbox", "", "--eml", "m.eml"], ["--mailbox", "blank"]),
        (["report", BOX, "--at", ""], ["--at"]),
        (["plot", BOX, "--at", "", "--out", "p.png"], ["--at"]),
        (["bounces", "list", ""], ["mailbox address ''"]),
        ([*SEND, "--dry-run", "--pool", ""], ["--pool", "blank"]),
        ([*SEND, "--dry-run", "--campaign", ""], ["--campaign", "blank"]),
        ([*SEND, "--password-command", ""], ["--password-command", "blank"]),
        (["bounces", "sync", BOX, "--password-command", ""], ["--password-command", "blank"]),
        (["run", "--once", "--password-command", ""], ["--password-command", "blank"]),
        (["doctor", BOX, "--dns-server", ""], ["--dns-server", "blank"]),
    ],
    ids=[
        "add-policy",
        "add-policy-space",
        "set-policy",
        "add-started",
        "queue-not-before",
        "queue-mailbox",
        "report-at",
        "plot-at",
        "bounces-list",
        "send-pool",
        "send-campaign",
        "send-password-command",
        "sync-password-command",
        "run-password-command",
        "doctor-dns-server",
    ],
)
def test_a_blank_value_is_refused_not_taken_for_the_option_left_out(
    run, seeded: Path, tmp_path: Path, monkeypatch, args: list[str], words: list[str]
):
    """``mailbox add --policy ""`` put the mailbox on its provider's preset, ``--started ""``
    counted all its history, ``queue add --not-before ""`` queued to go at once, ``report --at
    ""`` reported as of now and ``bounces list ""`` listed every mailbox's bounces: each
    without a word, where ``mailbox set --policy ""`` and ``quota --at ""`` refuse. So did
    ``send --pool ""`` or ``--campaign ""`` (sent from ADDRESS, where a name says "with
    --queue"), ``--password-command ""`` (the keyring's password, or "no password": use
    --password-command) and ``doctor --dns-server ""`` (the system's resolver)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.eml").write_text(EML)
    before = ledger_digest(seeded)
    res = run(*args)
    assert_error(res, 65 if "mailbox address ''" in words else 64, *words)
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize("command", ["add", "set"])
def test_a_policy_name_too_long_for_a_file_name_is_not_found_not_a_traceback(
    run, seeded: Path, command: str
):
    """Whether ``--policy NAME`` named a file in the current folder was asked of the file
    system, which answered a name over 255 bytes with ENAMETOOLONG: a traceback, exit 1."""
    name = "b" * 300
    args = ["add", "b@corp.example", "--provider", "exmail"] if command == "add" else ["set", BOX]
    before = ledger_digest(seeded)
    assert_error(run("mailbox", *args, "--policy", name), 64, "no such preset")
    assert ledger_digest(seeded) == before


# -- keyring backends that do not encrypt (issue #10 item 16) ------------------------------------

PLAINTEXT_BACKENDS = [
    "keyrings.alt.file.PlaintextKeyring",
    "keyring.backends.chainer.ChainerBackend",
]


@pytest.mark.parametrize("backend", PLAINTEXT_BACKENDS, ids=["plaintext", "chain-of-plaintext"])
def test_login_refuses_a_keyring_that_does_not_encrypt(seeded: Path, tmp_path: Path, backend: str):
    # The chainer, with keyrings.alt installed and no desktop keyring, writes to PlaintextKeyring.
    import base64

    pytest.importorskip("keyrings.alt")
    data = tmp_path / "xdg-data"
    secret = "canary-Pl41n-" + os.urandom(6).hex()
    xdg = {"XDG_DATA_HOME": str(data), "XDG_CONFIG_HOME": str(tmp_path / "xdg-config")}
    proc = _login(seeded, backend, input=secret + "\n", env=xdg)
    assert_one_line_error(
        proc, 78, "PlaintextKeyring", "unencrypted", "WARMUP_PASSWORD", "--password-command"
    )
    encoded = base64.b64encode(secret.encode())
    for f in (p for p in tmp_path.rglob("*") if p.is_file()):
        raw = f.read_bytes()
        assert secret.encode() not in raw and encoded not in raw, f


def test_login_names_the_keyring_it_stored_in(seeded: Path, tmp_path: Path):
    proc = _login(seeded, FILE_KEYRING, keyring=tmp_path / "keyring.json")
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.strip() == f"Stored the password of {BOX} in the keyring "
        f"tests.filekeyring.FileKeyring."
    )


def test_login_refuses_a_password_the_logins_cannot_send(seeded: Path, tmp_path: Path):
    """Stored, a password with a character outside ASCII failed later, at every send, with a
    UnicodeEncodeError traceback from smtplib."""
    keyring = tmp_path / "keyring.json"
    proc = _login(seeded, FILE_KEYRING, input="p\u00e4sswort\n", keyring=keyring)
    assert_one_line_error(proc, 78, "other than ASCII", "app")
    assert "sswort" not in proc.stderr and not keyring.exists()


# -- a keyring that cannot be loaded, or fails ---------------------------------------------------


def _login(
    seeded: Path,
    backend: str,
    *args: str,
    input: str = "s3cret\n",
    stdin: IO[bytes] | None = None,
    keyring: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``warmup mailbox login BOX *args`` in a child on ``seeded``, with ``backend`` as its
    keyring (``keyring``: the file of tests.filekeyring's), reading ``input`` (or ``stdin``)."""
    env = {
        **os.environ,
        "WARMUP_DB": str(seeded),
        "PYTHON_KEYRING_BACKEND": backend,
        "PYTHONPATH": str(REPO),
        **({"WARMUP_TEST_KEYRING": str(keyring)} if keyring is not None else {}),
        **(env or {}),
    }
    return subprocess.run(
        [*forkcli.command(), "mailbox", "login", BOX, *args],
        **({"stdin": stdin} if stdin is not None else {"input": input}),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    "backend", ["no.such.Backend", "tests.filekeyring.UnloadableKeyring"], ids=["typo", "raises"]
)
@pytest.mark.parametrize("args", [(), ("--forget",)], ids=["login", "forget"])
def test_a_keyring_that_cannot_be_loaded_is_one_line_exit_78(seeded: Path, backend, args):
    """``keyring.get_keyring()`` raised (a PYTHON_KEYRING_BACKEND naming nothing, a backend
    failing as it is made): a traceback, exit 1, for login, send, doctor alike; ``--forget``
    even said it had forgotten."""
    proc = _login(seeded, backend, *args)
    assert_one_line_error(
        proc, 78, "keyring cannot be loaded", "PYTHON_KEYRING_BACKEND", "WARMUP_PASSWORD"
    )


def test_login_without_a_keyring_names_where_the_password_goes_instead(seeded: Path):
    """'mailbox login' on a server without a keyring said "use --password-command 'CMD'",
    which login does not take: the password is given when sending instead (send, run and
    doctor take it, or the environment)."""
    proc = _login(seeded, "keyring.backends.fail.Keyring")
    assert_one_line_error(
        proc,
        78,
        "no system keyring",
        "nothing stored",
        "WARMUP_PASSWORD_COMMAND",
        "on send, run and doctor",
    )


def test_login_with_the_keyring_turned_off_stores_nothing_and_says_so(seeded: Path):
    """'keyring --disable' selects the null backend, which keeps nothing: login said "Stored
    the password", and every send then said "no password: store it with 'mailbox login'"."""
    proc = _login(seeded, "keyring.backends.null.Keyring")
    assert_one_line_error(
        proc, 78, "keyring is turned off", "keyring --disable", "nothing stored", "WARMUP_PASSWORD"
    )
    assert "s3cret" not in proc.stderr + proc.stdout


def test_forget_never_says_forgotten_when_the_keyring_failed(seeded: Path):
    """Every failure of ``delete_password`` was swallowed as "nothing stored": "Forgot the
    stored password" while the keyring still held it."""
    proc = _login(seeded, "tests.filekeyring.BrokenKeyring", "--forget")
    assert_one_line_error(proc, 78, "keyring failed (RuntimeError)", "nothing was forgotten")


@pytest.mark.parametrize(
    "args",
    [
        ("mailbox", "login", BOX),
        ("pool", "overflow", "outreach", "--host", "h.example", "--user", "u"),
    ],
    ids=["mailbox-login", "pool-overflow"],
)
def test_a_password_prompt_with_stdin_closed_is_one_line_exit_78(seeded: Path, tmp_path, args):
    """A CI job started with its standard input closed (``<&-``, not /dev/null): Python sets
    ``sys.stdin`` to None, and asking it ``isatty()`` was a traceback, exit 1."""
    env = {
        **os.environ,
        "WARMUP_DB": str(seeded),
        "PYTHON_KEYRING_BACKEND": "tests.filekeyring.FileKeyring",
        "WARMUP_TEST_KEYRING": str(tmp_path / "keyring.json"),
        "PYTHONPATH": str(REPO),
    }
    if args[0] == "pool":
        assert warmup_proc(seeded, "pool", "add", "outreach", BOX).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert_one_line_error(proc, 78, "no standard input", "WARMUP_PASSWORD")
    assert not (tmp_path / "keyring.json").exists()


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (("send", BOX, "--eml", "-"), "give --eml its path"),
        (("sendmail", "-f", BOX, "lead@example.com"), "pipe the message in"),
        (("queue", "add", "--mailbox", BOX, "--eml", "-"), "pipe the data in"),
        (("import", "-"), "pipe the log in"),
        (("suppress", "add", "--reason", "manual", "--from", "-"), "pipe the list in"),
        (("policy", "add", "mine", "-"), "pipe the data in"),
        (("bounces", "parse", "-"), "pipe the message in"),
    ],
    ids=[
        "send-eml-dash",
        "sendmail",
        "queue-add",
        "import",
        "suppress-add",
        "policy-add",
        "bounces-parse",
    ],
)
def test_input_on_closed_stdin_is_one_line_exit_64_as_a_missing_file_and_the_ledger_untouched(
    seeded: Path, args, fix
):
    """A cron job or daemon runs ``warmup sendmail`` (or ``send --eml -``) with its standard
    input closed: Python sets ``sys.stdin`` to None, and reading the message from it was an
    AttributeError traceback, exit 1. Then each command gave the code of the data it reads:
    65 (a message, a log, a list), 78 (a policy), 64 (bounces parse); a file that cannot be
    opened is 64 in every one, and a closed standard input is the same mistake (the input was
    not given), so it is 64 in every one."""
    before = ledger_digest(seeded)
    proc = subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "WARMUP_DB": str(seeded), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=180,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert_one_line_error(proc, 64, "standard input", "closed", fix)
    assert ledger_digest(seeded) == before


def test_the_test_keyrings_never_break_keyring_s_own_detection():
    """keyring's detection makes an instance of every backend class its process has imported:
    the failing test keyrings broke every later test of an xdist worker that asked for the
    keyring (a clean-clone run: 7 errors, "cannot connect to the keyring daemon"), and an equal
    priority could have made the broken one the process's keyring."""
    probe = (
        "import tests.filekeyring, keyring.backend as b\n"
        "rings = b.get_all_keyring()\n"
        "chosen = max(rings, key=b.by_priority)\n"
        "print(type(chosen).__name__, sorted(type(r).__name__ for r in rings))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    chosen, _, found = proc.stdout.partition(" ")
    assert chosen not in ("BrokenKeyring", "UnloadableKeyring"), proc.stdout
    assert "UnloadableKeyring" not in found


def test_an_eml_saved_with_a_byte_order_mark_is_sent(run, tmp_path: Path):
    """A Windows editor's .eml starts with a UTF-8 BOM: its first header read as '\ufeffTo' and
    'send --eml' refused it as 'a header line that is not Name: value' (queue add skips it)."""
    assert (
        run(
            "mailbox", "add", "a@corp.example", "--provider", "exmail", "--policy", str(ANY_DAY)
        ).exit_code
        == 0
    )
    eml = tmp_path / "m.eml"
    eml.write_bytes(b"\xef\xbb\xbfTo: lead@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
    res = run("send", "a@corp.example", "--eml", str(eml), "--dry-run")
    assert res.exit_code == 0, res.output
    assert res.output.startswith("Would send to 1 recipient: allowed now"), res.output


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (
            ("pool", "add", "a b", BOX),
            64,
            "Error: NAME: 'a b' is not a name: use letters, digits, '.', '_' and '-' "
            "(at most 100, starting with a letter or digit)",
        ),
        (
            ("policy", "add", "bad name", "{file}"),
            64,
            "Error: NAME 'bad name': letters, digits, '.', '_' and '-', at most 64, "
            "starting with a letter or digit",
        ),
        (
            ("queue", "add", "--mailbox", BOX, "--campaign", "a b", "--eml", "{eml}"),
            64,
            "Error: --campaign: 'a b' is not a name",
        ),
    ],
    ids=["pool-add-name", "policy-add-name", "queue-add-campaign-option"],
)
def test_a_bad_positional_argument_is_named_as_typed_not_as_a_flag(
    run, seeded: Path, tmp_path: Path, args, code: int, error: str
):
    """A field given as an argument is called by its usage name (NAME), one given as an option
    by its flag: ``--name`` would send the user looking for an option the command lacks."""
    files = {"{file}": tmp_path / "p.toml", "{eml}": tmp_path / "m.eml"}
    files["{file}"].write_text(
        'name = "x"\nceiling = 120\ngrowth_factor = 2.0\n[[stage]]\nname = "s"\ndays = 0\ndaily = 40\ninterval = "0s"\n'
    )
    files["{eml}"].write_text(f"From: {BOX}\nTo: x@example.com\nSubject: s\n\nhi\n")
    before = ledger_digest(seeded)
    res = run(*(str(files.get(a, a)) for a in args))
    line = assert_error(res, code)
    assert line.startswith(error), line
    assert ledger_digest(seeded) == before


def test_a_malformed_name_is_a_usage_error_whichever_command_takes_it(seeded: Path, tmp_path):
    """A name that is not one (here with a byte no UTF-8 has, as a script's mangled variable
    gives) is a command-line argument in a form warmup cannot take: 64 for each. A pool's
    name and a campaign's were 65 ("bad data") where a policy's was 64."""
    policy = tmp_path / "p.toml"
    policy.write_text(
        'ceiling = 120\ngrowth_factor = 2.0\n[[stage]]\nname = "s"\ndays = 0\ndaily = 40\ninterval = "0s"\n'
    )
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: x@example.com\nSubject: s\n\nhi\n")
    before = ledger_digest(seeded)
    for args in (
        [b"pool", b"add", b"p\xff", BOX.encode()],
        [
            b"queue",
            b"add",
            b"--mailbox",
            BOX.encode(),
            b"--campaign",
            b"c\xff",
            b"--eml",
            bytes(eml),
        ],
        [b"policy", b"add", b"n\xff", bytes(policy)],
    ):
        command = [os.fsencode(a) for a in forkcli.command()] + args
        proc = _stderr_of(seeded, command, subprocess.PIPE)  # type: ignore[arg-type]
        assert_one_line_error(proc, 64, "\\xff")  # the byte, as ls -b shows it
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("args", "code", "suggested"),
    [
        (
            ("mailbox", "show", "o'brien@corp.example"),  # "a b" is no address: malformed, 65
            64,
            ["warmup", "mailbox", "add", "o'brien@corp.example", "--provider", "exmail"],
        ),
        (
            ("mailbox", "add", "b@corp.example", "--provider", "exmail", "--policy", "my pol"),
            64,
            ["warmup", "policy", "add", "my pol", "FILE"],
        ),
    ],
    ids=["mailbox", "policy"],
)
def test_a_suggested_command_with_a_user_value_is_shell_quoted(
    run, seeded: Path, args, code: int, suggested: list[str]
):
    """The command an error suggests can be pasted into a shell as it is printed: ``'warmup pool
    add a b ADDRESS...'`` would create pool ``a`` with mailbox ``b``."""
    line = assert_error(run(*args), code)
    start = line.index("'warmup ")
    assert shlex.split(line[start + 1 : line.index(suggested[-1], start) + len(suggested[-1])]) == (
        suggested
    ), line


@pytest.mark.parametrize("source", ["long-line", "dev-zero"])
def test_login_refuses_a_password_piped_without_end_at_a_bound(seeded: Path, tmp_path, source):
    """The first line of standard input was read whole: ``< /dev/zero`` never ended (and filled
    the memory), and a file without a line break was stored whole as the password."""
    keyring = tmp_path / "keyring.json"
    piped = tmp_path / "piped"
    piped.write_text("x" * 1_000_000)
    with open(piped if source == "long-line" else "/dev/zero", "rb") as stdin:
        proc = _login(seeded, FILE_KEYRING, stdin=stdin, keyring=keyring)
    assert_one_line_error(proc, 78, "longer than 65,536 characters", "first line")
    assert not keyring.exists()


@pytest.mark.parametrize("piped", ["", "\n", "\r\n"], ids=["nothing", "blank-line", "crlf"])
def test_login_given_an_empty_password_on_stdin_says_how_to_give_one(
    seeded: Path, tmp_path, piped: str
):
    """``warmup mailbox login ADDR < /dev/null`` (or ``echo "$PW" |`` with PW unset) said only
    "empty password: nothing stored": what was wrong, not what to do."""
    keyring = tmp_path / "keyring.json"
    proc = _login(seeded, FILE_KEYRING, input=piped, keyring=keyring)
    assert_one_line_error(proc, 78, "no password on standard input", "first line", "terminal")
    assert not keyring.exists()


def test_a_ledger_another_process_keeps_locked_is_busy_exit_75_and_untouched(
    run, ledger_path, monkeypatch
):
    """Past the busy timeout, a write lock another process holds was 'ledger ... is
    unavailable: database is locked', exit 69 (a server unreachable): the ledger is fine, the
    moment is not, and nothing said what to do."""
    import subprocess
    import sys

    from tests.conftest import ledger_digest
    from warmup.ledger import sqlite, sqlite_file

    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('held', flush=True); sys.stdin.read()",
            str(ledger_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for module in (sqlite, sqlite_file):
            monkeypatch.setattr(module, "BUSY_TIMEOUT_S", 0.3)
        res = run("mailbox", "add", "b@corp.example", "--provider", "exmail")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert res.exit_code == 75, res.output
    assert res.stderr.strip() == (
        f"Error: ledger {ledger_path} is busy: another process has held its write lock for "
        f"over 0.3 s (database is locked); try again once it has finished"
    )
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("rcpt", ["张三@qq.com", "张三@例子.中国"])
def test_a_chinese_name_before_the_at_is_refused_saying_so(run, seeded: Path, rcpt: str):
    # "malformed recipient '张三@qq.com': expected name@domain.tld" for a well-formed SMTPUTF8
    # address: the user could not tell what was wrong with it.
    before = ledger_digest(seeded)
    res = run("record", "send", BOX, "--to", rcpt)
    assert_error(
        res,
        65,
        f"recipient {rcpt!r} has a name before the '@' that is not ASCII, which only SMTPUTF8 "
        "can carry; warmup sends without SMTPUTF8: give an ASCII address instead",
    )
    assert ledger_digest(seeded) == before


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "\udcff\udcfeabc",  # argv's bytes ff fe 'abc', as Python decodes what is not UTF-8
            "Error: pool '\\xff\\xfeabc' not found; its name is not UTF-8 text (byte 0xff), as "
            "no pool's is: give it in UTF-8 (a GBK terminal or script: convert it, e.g. with "
            "iconv -f GBK -t UTF-8); the pools are in 'warmup pool list'",
        ),
        (
            "a b",
            "Error: pool 'a b' not found; no pool has such a name (letters, digits, '.', '_' "
            "and '-'); the pools are in 'warmup pool list'",
        ),
        ("nope", "Error: pool 'nope' not found; create it with 'warmup pool add nope ADDRESS...'"),
    ],
)
def test_a_pool_not_found_suggests_pool_add_only_for_a_name_it_takes(run, seeded: Path, name, said):
    """'pool show' with a name that is not UTF-8 said "pool '\\udcff\\udcfeabc' not found; create
    it with 'warmup pool add ...'": Python's escapes for the bytes, and a command that refuses
    the name (as it refuses 'a b')."""
    from warmup.ledger import values
    from warmup.outbox import NAME

    assert values._POOL_NAME.pattern == NAME.pattern  # the names 'pool add' takes
    line = assert_error(run("pool", "show", name), 64)
    assert line == said
