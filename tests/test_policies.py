"""Policies live in the ledger (issue #12): a mailbox refers to its policy by name, so a policy
reads the same from any directory and on every host of a team; old ledgers that named a file
store it on first use and say so."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from tests import forkcli
from tests.conftest import ADDED, at
from warmup import api, open_ledger
from warmup.ledger import migrations

pytest_plugins = ["tests.pgkit"]  # fixtures: ledger_url (each backend), pg_url

BOX = "a@corp.example"
DAY = dt.date(2026, 11, 16)
CAREFUL = """name = "careful"
ceiling = 120
growth_factor = 2.0

[[stage]]
name = "slow"
days = 0
daily = 40
interval = "0s"
"""


def test_a_policy_file_whose_name_is_not_utf8_is_stored(run, tmp_path, ledger_path):
    """A file named in GBK (or any bytes that are no UTF-8) was read, then its path, kept as
    the stored policy's source, failed the ledger's write: a UnicodeEncodeError traceback."""
    import os

    file = os.fsdecode(os.fsencode(tmp_path) + "/策略".encode("gbk") + b".toml")
    with open(file, "w") as f:
        f.write(CAREFUL)
    res = run("mailbox", "add", BOX, "--provider", "exmail", "--policy", file)
    assert res.exit_code == 0, res.output
    listed = json.loads(run("policy", "list", "--json").stdout)
    [stored] = [p for p in listed if p["name"] == "policy"]
    assert stored["source"].endswith("\\xb2\\xdf\\xc2\\xd4.toml"), stored


def test_a_policy_file_given_by_a_relative_path_works_from_anywhere(
    ledger_url,
    run,
    tmp_path,
    monkeypatch,
):
    """Acceptance 3: `mailbox add ... --policy ./mine.toml`, then from `/`: quota and report
    work; `policy list` shows it; a second host on the same PostgreSQL ledger sees it."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mine.toml").write_text(CAREFUL)
    monkeypatch.chdir(work)
    res = run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "./mine.toml")
    assert res.exit_code == 0, res.output
    assert "stored policy file ./mine.toml in the ledger as 'mine'" in res.stderr.lower()
    (work / "mine.toml").unlink()  # the file is not needed any more
    monkeypatch.chdir("/")
    when = at(DAY, 10).isoformat()
    quota = json.loads(run("quota", "--json", "--at", when).output)
    assert [(q["mailbox"], q["quota"]) for q in quota] == [(BOX, 40)]
    report = run("report", "--format", "json", "--at", when)
    assert report.exit_code == 0, report.output
    listed = json.loads(run("policy", "list", "--json").output)
    mine = next(p for p in listed if p["name"] == "mine")
    assert (mine["version"], mine["mailboxes"], mine["preset"]) == (1, [BOX], False)
    assert {p["name"] for p in listed if p["preset"]} >= {"default", "gentle"}
    # another host: another connection to the same ledger, its own process state
    other = open_ledger(ledger_url)
    assert api.quota(other, BOX, at(DAY, 10)).quota == 40
    other.close()


def test_policy_set_makes_a_new_version_that_mailboxes_follow(run, tmp_path):
    path = tmp_path / "careful.toml"
    path.write_text(CAREFUL)
    assert run("policy", "add", "careful", str(path)).exit_code == 0
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "careful").exit_code
        == 0
    )
    when = at(DAY, 10)
    assert (
        json.loads(run("quota", BOX, "--json", "--at", when.isoformat()).output)[0]["quota"] == 40
    )
    path.write_text(CAREFUL.replace("daily = 40", "daily = 25"))
    res = run("policy", "set", "careful", str(path))
    assert res.exit_code == 0 and "version 2" in res.output and "1 mailbox uses it" in res.output
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert (
        json.loads(run("quota", BOX, "--json", "--at", later.isoformat()).output)[0]["quota"] == 25
    )
    shown = json.loads(run("policy", "show", "careful", "--json").output)
    assert shown["version"] == 2 and "daily = 25" in shown["text"]
    ledger = open_ledger()
    with ledger.read() as conn:
        kinds = conn.exec_driver_sql("SELECT kind, reason FROM event").fetchall()
    # reports show the change, and the walk reads what was in force before
    assert kinds == [("policy", "policy careful version 2 (was careful version 1)")]
    ledger.close()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("policy", "add", "default", "{file}"), 64, "built-in preset"),
        (("policy", "add", "bad name", "{file}"), 64, "letters, digits"),
        (("policy", "add", "careful", "{bad}"), 78, "stage[1].daily"),
        (("policy", "set", "nobody", "{file}"), 64, "not found"),
        (("policy", "set", "default", "{file}"), 64, "cannot change"),
        (("policy", "show", "nobody"), 64, "not found"),
        (
            ("mailbox", "add", BOX, "--provider", "exmail", "--policy", "nobody"),
            64,
            "no such preset",
        ),
        (("policy", "add", "mine", "{down}"), 78, "stage[2].daily: 20 is below the 40"),
        (
            ("mailbox", "add", BOX, "--provider", "exmail", "--policy", "{down}"),
            78,
            "stage[2].daily: 20 is below the 40",
        ),
        (("policy", "add", "mine", "{typo}"), 78, "ceilng: unknown key; did you mean ceiling?"),
        # A name with a byte of argv that is not UTF-8 (\udcff) was a UnicodeEncodeError in
        # the ledger's query: a traceback, exit 1.
        (
            ("mailbox", "add", BOX, "--provider", "exmail", "--policy", "p\udcff"),
            64,
            "no such preset",
        ),
        (("policy", "show", "p\udcff"), 64, "not found"),
        # stored beside the preset, 'Default' read as it in a listing; mailboxes follow one
        (
            ("policy", "add", "Default", "{file}"),
            64,
            "NAME 'Default' is the built-in preset 'default' in other letter case; use "
            "'default', or give your policy a name of its own",
        ),
        # A policy file that is not there is a missing input, as 'policy add NAME FILE' and
        # 'import FILE' say of theirs (66): --policy missing.toml was 78, a set-up fault.
        (
            ("mailbox", "add", BOX, "--provider", "exmail", "--policy", "{file}.gone.toml"),
            66,
            "good.toml.gone.toml: cannot read it (No such file or directory); check the path",
        ),
        (
            ("mailbox", "add", BOX, "--provider", "exmail", "--policy", "{file}/under.toml"),
            66,
            "good.toml/under.toml: cannot read it (Not a directory); check the path",
        ),
    ],
)
def test_bad_policy_commands_are_one_line_and_change_nothing(
    run, tmp_path, ledger_path, args, code, words
):
    from tests.conftest import ledger_digest

    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(CAREFUL)
    bad.write_text(CAREFUL.replace("daily = 40", 'daily = "forty"'))
    down, typo = tmp_path / "down.toml", tmp_path / "typo.toml"
    down.write_text(
        CAREFUL.replace("days = 0", "days = 3")
        + '\n[[stage]]\nname = "less"\ndays = 0\ndaily = 20\n'
    )
    typo.write_text(CAREFUL.replace("ceiling = 120", "ceilng = 120\nceiling = 120"))
    open_ledger().close()
    before = ledger_digest(ledger_path)
    res = run(*(a.format(file=good, bad=bad, down=down, typo=typo) for a in args))
    assert res.exit_code == code, res.output
    assert words in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


def test_a_policy_named_as_a_stored_one_in_other_letter_case_is_refused(run, tmp_path, ledger_path):
    """'Careful' was stored beside 'careful': two policies a listing shows as one name, each
    mailbox following whichever its --policy spelled."""
    from tests.conftest import ledger_digest

    path = tmp_path / "careful.toml"
    path.write_text(CAREFUL)
    assert run("policy", "add", "careful", str(path)).exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("policy", "add", "Careful", str(path))
    assert (res.exit_code, res.stdout) == (64, "")
    assert res.stderr == (
        "Error: NAME 'Careful' is the stored policy 'careful' in other letter case; 'warmup "
        "policy set careful FILE' stores a new version of it, or give your policy a name of "
        "its own\n"
    )
    assert ledger_digest(ledger_path) == before


def test_a_file_policy_of_an_old_ledger_is_stored_on_first_use(tmp_path, run, monkeypatch):
    """Issue #12: a ledger made before policies were stored named a file (relative to the
    directory it was typed in); opening it stores the file's text and says so."""
    path = tmp_path / "old.db"
    ledger = open_ledger(str(path), migrate=False)
    ledger.migrate(upto="m003_counted_bounces_and_walk_memo")
    ledger.close()
    (tmp_path / "careful.toml").write_text(CAREFUL)
    con = sqlite3.connect(path)
    with con:
        con.execute(
            "INSERT INTO mailbox (address, provider, timezone, policy, created_at, rev) "
            "VALUES (?, 'exmail', 'Asia/Shanghai', ?, '2026-11-01 00:00:00.000000', 0)",
            (BOX, str(tmp_path / "careful.toml")),
        )
        con.execute(
            "INSERT INTO mailbox (address, provider, timezone, policy, created_at, rev) "
            "VALUES ('b@corp.example', 'exmail', 'Asia/Shanghai', 'missing.toml', "
            "'2026-11-01 00:00:00.000000', 0)"
        )
    con.close()
    monkeypatch.setenv("WARMUP_DB", str(path))
    res = run("mailbox", "list", "--json")
    assert res.exit_code == 0
    assert "stored policy file" in res.stderr and "as policy 'careful'" in res.stderr
    assert "missing.toml of some mailboxes cannot be read" in res.stderr
    boxes = {b["address"]: b["policy"] for b in json.loads(res.stdout)}
    assert boxes == {BOX: "careful", "b@corp.example": "missing.toml"}
    (tmp_path / "careful.toml").unlink()
    monkeypatch.chdir("/")
    q = json.loads(run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat()).output)[0]
    assert q["quota"] == 40
    assert migrations.NOTES == []  # told once
    assert "stored policy file" not in run("mailbox", "list").stderr


def test_the_same_file_twice_is_one_policy(tmp_path):
    from warmup import policies

    ledger = open_ledger()
    (tmp_path / "mine.toml").write_text(CAREFUL)
    first = policies.adopt(ledger, str(tmp_path / "mine.toml"))
    again = policies.adopt(ledger, str(tmp_path / "mine.toml"))
    assert first[0] == again[0] == "mine" and again[1] is None
    (tmp_path / "mine.toml").write_text(CAREFUL.replace("40", "30"))
    other = policies.adopt(ledger, str(tmp_path / "mine.toml"))
    assert other[0] == "mine-2"
    ledger.close()


def test_policy_copy_keeps_policies(tmp_path, pg_url, run):
    """A solo ledger's stored policies move with `warmup db copy` to the team's server."""
    (tmp_path / "careful.toml").write_text(CAREFUL)
    assert run("policy", "add", "careful", str(tmp_path / "careful.toml")).exit_code == 0
    res = run("db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output
    other = open_ledger(pg_url)
    assert other.policy_text("careful") == (1, CAREFUL)
    other.close()


def test_a_missing_path_reference_still_names_the_file(tmp_path, run, ledger_path):
    """A path the migration could not store is still tried as a file, with a clear error."""
    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()
    con = sqlite3.connect(ledger_path)
    with con:
        con.execute("UPDATE mailbox SET policy = '/nowhere/gone.toml'")
    con.close()
    res = run("quota", BOX)
    assert res.exit_code == 78 and "/nowhere/gone.toml" in res.stderr


def test_a_policy_file_saved_with_a_byte_order_mark_is_stored(run, tmp_path):
    """Windows editors (Notepad before 2019, Excel's 'UTF-8' exports) start a UTF-8 file with a
    BOM: tomllib refused it as 'Invalid statement (at line 1, column 1)', an error that points
    at nothing the user can see. The CSV readers skip it; so do the policy files."""
    path = tmp_path / "careful.toml"
    path.write_text(CAREFUL, encoding="utf-8-sig")
    res = run("policy", "add", "careful", str(path))
    assert res.exit_code == 0, res.output
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "careful").exit_code
        == 0
    )
    quota = json.loads(run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat()).output)
    assert quota[0]["quota"] == 40
    shown = json.loads(run("policy", "show", "careful", "--json").output)
    assert shown["text"] == CAREFUL  # stored without the mark


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("command", ["policy add", "mailbox add"])
def test_a_policy_path_that_is_not_a_regular_file_is_refused_at_once(
    tmp_path, ledger_path, kind, command
):
    """``--policy /dev/zero`` read without end (memory without bound) and a named pipe blocked
    until a writer came: the command hung instead of saying what was wrong."""
    import os
    import subprocess
    from pathlib import Path

    from tests.conftest import ledger_digest

    if kind == "fifo":
        target = tmp_path / "pipe.toml"
        os.mkfifo(target)
    else:
        target = Path("/dev/zero")
    open_ledger().close()
    before = ledger_digest(ledger_path)
    args = (
        ["policy", "add", "mine", str(target)]
        if command == "policy add"
        else ["mailbox", "add", BOX, "--provider", "exmail", "--policy", str(target)]
    )
    proc = subprocess.run(
        [*forkcli.command(), *args],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "WARMUP_DB": str(ledger_path)},
        check=False,
    )
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith(f"Error: policy file {target}: not a regular file"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize("text", ["garbage\n", CAREFUL])
def test_a_file_named_like_a_preset_in_the_working_directory_is_not_the_preset(
    run, tmp_path, monkeypatch, text, today
):
    """load_policy looked for a file before the presets: a file called ``exmail`` (or
    ``default``) in the directory a command ran in replaced the preset of every mailbox using
    it: an error for a file that is no policy, another plan (quota 40) for one that is. Asked
    on a working day: the exmail preset itself, whose quota is 0 on a CN public holiday."""
    assert run("mailbox", "add", *ADDED, BOX, "--provider", "exmail").exit_code == 0
    quota = ("quota", BOX, "--json", "--at", at(today).isoformat())
    expected = json.loads(run(*quota).stdout)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exmail").write_text(text)
    res = run(*quota)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["quota"] == expected[0]["quota"] == 50


def test_a_stored_policy_that_no_longer_validates_says_how_to_replace_it(run, tmp_path):
    """A version stored before a stricter check (a stage of 0 a day held its mailboxes at day 1
    for good) is refused on use, exit 78, naming the key and the command that replaces it."""
    good = tmp_path / "careful.toml"
    good.write_text(CAREFUL)
    assert run("policy", "add", "careful", str(good)).exit_code == 0
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--policy", "careful").exit_code == 0
    ledger = open_ledger()  # as an older warmup stored it, unchecked by today's rules
    ledger.store_policy("careful", CAREFUL.replace("daily = 40", "daily = 0"), None, replace=True)
    ledger.close()
    res = run("quota", BOX)
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert "policy careful (version 2): stage[1].daily: 0 a day" in res.output
    assert "'warmup policy set careful FILE'" in res.output
    good.write_text(CAREFUL)
    assert run("policy", "set", "careful", str(good)).exit_code == 0
    assert run("quota", BOX).exit_code == 0


@pytest.mark.parametrize("change", ["policy set", "mailbox set --policy"])
def test_a_running_gate_follows_a_policy_change(ledger_url, tmp_path, change):
    """A Gate (the worker's per-mailbox gate, the relay's, a script's) read its policy once,
    when it opened: after 'policy set' lowered the quota from 40 to 5, it went on granting up
    to 40 (13 of 5 sent) while 'warmup quota' said 5. Every reservation follows the change."""
    from warmup import policies
    from warmup.errors import WarmupError
    from warmup.gate import Gate

    careful, tight = tmp_path / "careful.toml", tmp_path / "tight.toml"
    careful.write_text(CAREFUL)
    tight.write_text(CAREFUL.replace("40", "5"))
    ledger = open_ledger(ledger_url)
    policies.add(ledger, "careful", careful)
    api.add_mailbox(ledger, BOX, "exmail", policy="careful")
    gate = Gate(BOX, ledger=open_ledger(ledger_url))
    try:
        for n in range(3):
            gate.reserve([f"before{n}@example.com"])
        if change == "policy set":
            policies.update(ledger, "careful", tight)
        else:
            policies.add(ledger, "tight", tight)
            api.set_mailbox(ledger, BOX, policy="tight")
        assert api.quota(ledger, BOX).quota == 5
        granted = 0
        for n in range(10):
            try:
                gate.reserve([f"after{n}@example.com"])
            except WarmupError as exc:
                assert "quota is used (5 of 5 sent)" in str(exc), exc
                break
            granted += 1
        assert granted == 2  # 3 + 2 = the new quota of 5, not the old 40
    finally:
        gate.close()
        ledger.close()


def test_reasons_name_the_policy_the_mailbox_refers_to(run, tmp_path):
    """The TOML's own name = "..." was printed: a file copied from 'warmup policy show default'
    and stored as 'mine' said 'policy default ceiling: 30', as if the preset were in force."""
    copied = tmp_path / "mine.toml"
    copied.write_text(CAREFUL.replace('name = "careful"', 'name = "default"').replace("120", "30"))
    assert run("policy", "add", "mine", str(copied)).exit_code == 0
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "mine").exit_code
        == 0
    )
    res = run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat())
    assert res.exit_code == 0, res.output
    (answer,) = json.loads(res.output)
    assert "policy mine ceiling: 30" in answer["reasons"], answer["reasons"]
    assert not any("default" in r for r in answer["reasons"])


# Policies an older warmup stored without a word, that today's checks refuse.
OLD_BUT_REFUSED = {
    "a day of 0": ("daily = 40", "daily = 0", "stage[1].daily: 0 a day"),
    "a ramp that never runs": (
        "days = 0\ndaily = 40",
        "days = 1\ndaily = [10, 40]",
        "stage[1].daily: a ramp needs a stage of 2 days",
    ),
    "a growth factor that never lets the quota rise": (
        'growth_factor = 2.0\n\n[[stage]]\nname = "slow"\ndays = 0\ndaily = 40',
        'growth_factor = 1.01\n\n[[stage]]\nname = "slow"\ndays = 5\ndaily = 40\n'
        '\n[[stage]]\nname = "more"\ndays = 0\ndaily = 80',
        "growth_factor: 1.01 x 40",
    ),
    "complaint thresholds out of order": (
        'interval = "0s"\n',
        'interval = "0s"\n\n[health]\ncomplaint_hold_above = 0.01\ncomplaint_pause_above = 0.002\n',
        "health: expected complaint_hold_above <= complaint_pause_above",
    ),
}


@pytest.mark.parametrize("fault", OLD_BUT_REFUSED)
def test_a_refused_stored_policy_stops_only_its_own_mailboxes(run, tmp_path, fault):
    """One stored policy that today's checks refuse (written by an older warmup) stopped
    'warmup quota' for every mailbox, those on other policies too. Every other mailbox is
    answered; each one on the refused policy gets one line on stderr (mailbox, policy, what is
    wrong, both fixes); the exit code is 78 at the end."""
    old, new, words = OLD_BUT_REFUSED[fault]
    assert old in CAREFUL
    good = tmp_path / "careful.toml"
    good.write_text(CAREFUL)
    assert run("policy", "add", "careful", str(good)).exit_code == 0
    assert run("policy", "add", "fine", str(good)).exit_code == 0
    on_bad = [BOX, "c@corp.example"]
    for box in on_bad:
        assert (
            run(
                "mailbox", "add", *ADDED, box, "--provider", "exmail", "--policy", "careful"
            ).exit_code
            == 0
        )
    assert run("mailbox", "add", *ADDED, "b@corp.example", "--provider", "exmail").exit_code == 0
    assert (
        run(
            "mailbox", "add", *ADDED, "d@corp.example", "--provider", "exmail", "--policy", "fine"
        ).exit_code
        == 0
    )
    ledger = open_ledger()  # the row an older warmup stored, unchecked by today's rules
    ledger.store_policy("careful", CAREFUL.replace(old, new), None, replace=True)
    ledger.close()
    when = at(DAY, 10).isoformat()

    def refused_lines(stderr: str) -> list[str]:
        lines = stderr.strip().splitlines()
        assert len(lines) == len(on_bad), stderr
        for box, line in zip(on_bad, lines, strict=True):
            assert line.startswith(f"Error: mailbox {box}: policy careful (version 2): ")
            assert words in line, line
            assert "'warmup policy set careful FILE'" in line
            assert f"'warmup mailbox set {box} --policy NAME'" in line
        return lines

    res = run("quota", "--at", when)
    assert res.exit_code == 78, res.output
    assert "Traceback" not in res.output
    assert res.stdout.splitlines()[0].split()[0] == "MAILBOX"
    listed = [line.split()[0] for line in res.stdout.splitlines()[1:3]]
    assert listed == ["b@corp.example", "d@corp.example"], res.stdout
    assert BOX not in res.stdout
    refused_lines(res.stderr)

    res = run("quota", "--json", "--at", when)
    assert res.exit_code == 78, res.output
    answers = {q["mailbox"]: q["quota"] for q in json.loads(res.stdout)}
    assert answers == {"b@corp.example": 50, "d@corp.example": 40}
    refused_lines(res.stderr)

    # 'warmup report' (all) the same way: every other mailbox's days, a line per refused one
    res = run("report", "--days", "3", "--json", "--at", when)
    assert res.exit_code == 78, res.output
    assert {r["mailbox"] for r in json.loads(res.stdout)} == {"b@corp.example", "d@corp.example"}
    refused_lines(res.stderr)
    res = run("report", "--days", "3", "--at", when)
    assert res.exit_code == 78, res.output
    assert {line.split()[0] for line in res.stdout.splitlines()[1:]} == {
        "b@corp.example",
        "d@corp.example",
    }
    refused_lines(res.stderr)

    for args in (
        ("quota", BOX),
        ("quota", BOX, "--check"),
        ("plan", BOX),
        ("report", BOX),
        ("send", BOX, "--to", "x@example.com", "--subject", "Hi", "--body", "Hello"),
    ):
        res = run(*args)
        assert res.exit_code == 78, (args, res.output)
        assert res.stdout == "", args
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith(f"Error: mailbox {BOX}: policy careful (version 2): "), line
        assert words in line and "'warmup policy set careful FILE'" in line, line
    for args in (("quota", "d@corp.example"), ("plan", "d@corp.example")):
        assert run(*args).exit_code == 0, args
    # named with another mailbox: the other is answered, as quota answers it
    for command in ("quota", "report"):
        res = run(command, BOX, "d@corp.example", "--json", "--at", when)
        assert res.exit_code == 78, (command, res.output)
        assert {r["mailbox"] for r in json.loads(res.stdout)} == {"d@corp.example"}, command
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith(f"Error: mailbox {BOX}: policy careful (version 2): "), line
    out = str(tmp_path / "named.png")
    res = run("plot", BOX, "d@corp.example", "--json", "--at", when, "--out", out)
    assert res.exit_code == 78, res.output
    assert json.loads(res.stdout)["mailboxes"] == ["d@corp.example"]
    assert res.stderr.strip().startswith(f"Error: mailbox {BOX}: policy careful"), res.stderr
    # the second fix named: the mailbox moves to another policy, and is answered again
    assert run("mailbox", "set", BOX, "--policy", "fine").exit_code == 0
    res = run("quota", "--json", "--at", when)
    assert res.exit_code == 78
    assert {q["mailbox"] for q in json.loads(res.stdout)} == {
        BOX,
        "b@corp.example",
        "d@corp.example",
    }
    assert len(res.stderr.strip().splitlines()) == 1
    # the first: a corrected version of the policy
    assert run("policy", "set", "careful", str(good)).exit_code == 0
    res = run("quota", "--at", when)
    assert res.exit_code == 0 and res.stderr == "", res.output


def test_plot_of_all_mailboxes_plots_the_others_past_a_refused_policy(run, tmp_path):
    """'warmup plot' (all mailboxes) stopped at the first mailbox whose stored policy today's
    checks refuse, plotting none: like quota and report, it now plots every other mailbox,
    says one line on stderr per refused one (naming it) and exits 78."""
    old, new, words = OLD_BUT_REFUSED["a day of 0"]
    good = tmp_path / "careful.toml"
    good.write_text(CAREFUL)
    assert run("policy", "add", "careful", str(good)).exit_code == 0
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "careful").exit_code
        == 0
    )
    assert run("mailbox", "add", *ADDED, "b@corp.example", "--provider", "exmail").exit_code == 0
    ledger = open_ledger()
    ledger.store_policy("careful", CAREFUL.replace(old, new), None, replace=True)
    ledger.close()
    out = tmp_path / "trend.png"
    when = at(DAY, 10).isoformat()
    res = run("plot", "--days", "3", "--at", when, "--out", str(out), "--json")
    assert "Traceback" not in res.output
    assert res.exit_code == 78, res.output
    assert json.loads(res.stdout)["mailboxes"] == ["b@corp.example"]
    assert out.stat().st_size > 0
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"Error: mailbox {BOX}: policy careful (version 2): "), line
    assert words in line, line
    # only refused mailboxes: nothing to plot, the lines and 78 all the same
    assert run("mailbox", "remove", "b@corp.example", "--force").exit_code == 0
    out.unlink()
    res = run("plot", "--days", "3", "--at", when, "--out", str(out))
    assert res.exit_code == 78, res.output
    assert res.stdout == "" and not out.exists()
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"Error: mailbox {BOX}: "), line


def test_a_preset_can_be_shown_before_there_is_a_ledger(run, ledger_path):
    """README's first step to a policy of one's own, 'warmup policy show default > mine.toml',
    exited 78 ('no ledger ...; run warmup mailbox add') on a new machine, leaving mine.toml
    empty: a preset is built in and needs no ledger. A missing ledger is still not created, and
    'policy list' (which would answer "no stored policies") still refuses it (test_db_flag)."""
    shown = run("policy", "show", "default")
    assert shown.exit_code == 0, shown.output
    assert 'name = "default"' in shown.stdout
    missing = run("policy", "show", "careful")  # not a preset: it would be in the ledger
    assert missing.exit_code == 66
    assert missing.output == (
        f"Error: no ledger at {ledger_path}; run 'warmup mailbox add' to create one\n"
    )
    assert not ledger_path.exists()


def test_setting_a_policy_to_the_text_it_has_stores_nothing(run, tmp_path, ledger_path):
    """``policy set careful careful.toml`` run again with the same file (a deploy script, a
    habit) stored version 2, 3, ... of one text, and marked a policy change on every mailbox
    using it: an event in its report and plot, and its walk memos dropped."""
    from tests.conftest import ledger_digest

    mine = tmp_path / "careful.toml"
    mine.write_text(run("policy", "show", "default").output)
    assert run("policy", "add", "careful", str(mine)).exit_code == 0
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--policy", "careful").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run("policy", "set", "careful", str(mine))
    assert res.exit_code == 0, res.output
    assert res.output == f"Policy careful unchanged: {mine} holds its version 1; nothing stored.\n"
    assert ledger_digest(ledger_path) == before
    # another text is a new version, as before
    mine.write_text(mine.read_text() + "\n# v2\n")
    res = run("policy", "set", "careful", str(mine))
    assert res.stdout == "Stored version 2 of policy careful; 1 mailbox uses it.\n", res.output


def test_the_name_given_is_enough_and_a_file_name_line_that_differs_is_noted(
    run, tmp_path, ledger_path
):
    """'policy add NAME FILE' refused a FILE without a name = "..." line (78, "name: missing")
    although NAME, given, is the name the policy is stored and used under; a file naming itself
    otherwise (a copy of a preset) was stored without a word that its line is not in force."""
    bare = tmp_path / "bare.toml"
    bare.write_text(CAREFUL.replace('name = "careful"\n', ""))
    res = run("policy", "add", "careful", str(bare))
    assert res.exit_code == 0, res.output
    assert "note" not in res.stderr and "Stored policy careful (version 1)" in res.stdout
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "careful").exit_code
        == 0
    )
    (answer,) = json.loads(run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat()).output)
    assert answer["quota"] == 40, answer
    # a new version without a name line, then one that calls itself "default": stored as careful
    bare.write_text(CAREFUL.replace('name = "careful"\n', "").replace("daily = 40", "daily = 30"))
    res = run("policy", "set", "careful", str(bare))
    assert res.exit_code == 0 and res.stderr == "", res.output
    copied = tmp_path / "copy.toml"
    copied.write_text(CAREFUL.replace('name = "careful"', 'name = "default"').replace("120", "30"))
    res = run("policy", "set", "careful", str(copied))
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"note: {copied} names itself 'default' (its name line); stored as 'careful', the name "
        "given, which mailboxes use.\n"
    )
    assert "version 3" in res.stdout
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    (answer,) = json.loads(run("quota", BOX, "--json", "--at", later.isoformat()).output)
    assert "policy careful ceiling: 30" in answer["reasons"], answer["reasons"]
    # 'mailbox add --policy FILE' without a name line: stored under the file's name
    other = tmp_path / "other.toml"
    other.write_text(CAREFUL.replace('name = "careful"\n', ""))
    res = run(
        "mailbox", "add", *ADDED, "b@corp.example", "--provider", "exmail", "--policy", str(other)
    )
    assert res.exit_code == 0, res.output
    assert (
        json.loads(run("mailbox", "show", "b@corp.example", "--json").output)["policy"] == "other"
    )


def test_a_policy_piped_in_as_dash_is_stored_as_a_file_s_would_be(run, ledger_url):
    """'policy add NAME -' said "File '-' does not exist" (64), though README promises a '-'
    for every file of data a command reads: 'warmup policy show default | sed ... | warmup
    policy add mine -' needed a temporary file. Standard input is read as the file would be."""
    res = run("policy", "add", "careful", "-", input=CAREFUL)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("Stored policy careful (version 1) from standard input."), (
        res.output
    )
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--policy", "careful").exit_code
        == 0
    )
    (answer,) = json.loads(run("quota", BOX, "--json", "--at", at(DAY, 10).isoformat()).output)
    assert answer["quota"] == 40, answer
    listed = json.loads(run("policy", "list", "--json").output)
    assert {"name": "careful", "source": "standard input"}.items() <= next(
        p for p in listed if p["name"] == "careful"
    ).items()
    res = run("policy", "set", "careful", "-", input=CAREFUL.replace("daily = 40", "daily = 30"))
    assert res.exit_code == 0 and "Stored version 2 of policy careful" in res.stdout, res.output
    # checked as a file is: a bad one stores nothing, naming standard input
    res = run("policy", "set", "careful", "-", input="ceiling = [\n")
    assert res.exit_code == 78, res.output
    assert res.stderr.startswith("Error: policy standard input: not valid TOML"), res.output
    assert json.loads(run("policy", "show", "careful", "--json").output)["version"] == 2


def test_a_policy_name_a_letter_or_a_case_off_is_told_the_one_meant(run, ledger_url, tmp_path):
    """'--policy Default' (or 'exmal') was told "add it with 'warmup policy add Default FILE'":
    the fix offered stored a second policy under the typo, where the user meant the preset.
    The name meant is offered now, in 'mailbox add' as in an import's policy column; a name
    near none still gets the command that stores it."""
    (tmp_path / "careful.toml").write_text(CAREFUL)
    assert run("policy", "add", "careful", str(tmp_path / "careful.toml")).exit_code == 0
    for typed, meant in (("Default", "default"), ("exmal", "exmail"), ("Careful", "careful")):
        res = run("mailbox", "add", BOX, "--provider", "exmail", "--policy", typed)
        assert res.exit_code == 64, res.output
        assert f"did you mean {meant!r}? ('warmup policy list' lists them)" in res.stderr, (
            res.output
        )
        assert "policy add" not in res.stderr, res.output
    log = tmp_path / "log.csv"
    log.write_text(
        f"mailbox,recipient,sent_at,provider,policy\n{BOX},x@example.com,2026-11-16T09:00,exmail,Default\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 65 and "did you mean 'default'?" in res.stderr, res.output
    res = run("mailbox", "add", BOX, "--provider", "exmail", "--policy", "zzz")
    assert res.exit_code == 64 and "warmup policy add zzz FILE" in res.stderr, res.output
    assert run("mailbox", "list", "--json").output.strip() == "[]"


def test_a_policy_name_ending_in_toml_is_refused(run, tmp_path, ledger_path):
    """'policy add careful.toml careful.toml' stored a policy whose name --policy reads as a
    file: 'mailbox set ADDRESS --policy careful.toml' then took the stored text and ignored
    the file of that name the user had edited since, saying "Updated"."""
    from tests.conftest import ledger_digest

    (tmp_path / "careful.toml").write_text(CAREFUL)
    open_ledger().close()
    before = ledger_digest(ledger_path)
    res = run("policy", "add", "careful.toml", str(tmp_path / "careful.toml"))
    assert (res.exit_code, res.stdout) == (64, "")
    assert res.stderr == (
        "Error: NAME 'careful.toml' ends in .toml, which --policy reads as a file name; give "
        "the name without it ('careful')\n"
    )
    assert ledger_digest(ledger_path) == before


def test_a_stored_name_that_is_also_a_changed_file_here_is_refused(
    run, tmp_path, ledger_path, monkeypatch
):
    """A ledger from before such names were refused holds 'careful.toml'; the user edits the
    file careful.toml and gives --policy careful.toml: the stored text was taken, the file's
    plan (daily 20) ignored without a word. Now refused, nothing changed; the file unchanged
    (the same text as stored) still reads as the stored name."""
    from tests.conftest import ledger_digest

    monkeypatch.chdir(tmp_path)
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    ledger = open_ledger()
    ledger.store_policy("careful.toml", CAREFUL, "careful.toml", replace=False)
    ledger.close()
    (tmp_path / "careful.toml").write_text(CAREFUL)
    assert run("mailbox", "set", BOX, "--policy", "careful.toml").exit_code == 0
    (tmp_path / "careful.toml").write_text(CAREFUL.replace("daily = 40", "daily = 20"))
    before = ledger_digest(ledger_path)
    res = run("mailbox", "set", BOX, "--policy", "careful.toml")
    assert (res.exit_code, res.stdout) == (64, "")
    assert res.stderr == (
        "Error: --policy 'careful.toml' names both the policy stored under that name and the "
        "file careful.toml, which differs from it; for the file, store it with 'warmup policy "
        "set careful.toml careful.toml' first, or give the stored policy a name without .toml\n"
    )
    assert ledger_digest(ledger_path) == before


def test_an_imported_policy_cell_naming_a_file_is_told_the_name_to_store_it_as(
    run, tmp_path, ledger_path
):
    """The fix offered for a policy cell 'q9.toml' was 'warmup policy add q9.toml FILE': a
    name --policy reads as a file, now refused."""
    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider,policy\n"
        f"{BOX},a@x.example,2026-12-01T10:00,exmail,q9.toml\n"
    )
    res = run("import", str(log))
    assert res.exit_code == 65
    assert "store the file first with 'warmup policy add q9 q9.toml' and write q9" in res.stderr
