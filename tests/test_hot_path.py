"""The everyday commands stay light: ``quota``, ``mailbox list`` and ``plan`` never import pandas or
matplotlib (those are for reports and notebooks), nor HTTP code (only a webhook needs it).
Checked in a fresh process, since this test session may have imported them already."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADDED_AT, SH

BOX = "a@corp.example"
HEAVY = ("pandas", "matplotlib")
REPO = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from warmup.cli import cli
try:
    cli(sys.argv[1:], prog_name="warmup")
except SystemExit as exc:
    code = exc.code
print("PROBE " + json.dumps({"code": code, "loaded": sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("pandas", "matplotlib") or m in ("urllib.request", "http.client"))}))
"""


@pytest.fixture
def seeded(ledger_path: Path) -> Path:
    import datetime as dt

    from tests.conftest import at
    from warmup import api, open_ledger

    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "exmail", timezone=SH, added_at=ADDED_AT)
    day = dt.date(2026, 11, 10)
    api.record_send(ledger, BOX, ["r1@example.com", "r2@example.com"], at(day, 9))
    ledger.close()
    return ledger_path


def _probe(
    seeded: Path, probe: str, args: list[str], code: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``warmup ARGS`` under ``probe`` on the seeded ledger; it must exit ``code`` and load
    none of the probe's modules."""
    env = {**os.environ, "WARMUP_DB": str(seeded), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0][len("PROBE ") :])
    assert (result["code"] or 0) == code, proc.stdout + proc.stderr  # the command really ran
    assert result["loaded"] == [], f"{' '.join(args)} imported {result['loaded'][:5]}"
    return proc


@pytest.mark.parametrize(
    "args",
    [
        ["quota", BOX, "--json"],
        ["quota", BOX],
        ["mailbox", "list"],
        ["mailbox", "list", "--json"],
        ["plan", BOX, "--days", "10"],
        ["suppress", "soft", "--json"],
    ],
    ids=lambda a: " ".join(a),
)
def test_command_does_not_import_pandas_or_matplotlib(seeded: Path, args: list[str]):
    proc = _probe(seeded, PROBE, args)
    if args[-1] == "--json":
        json.loads(proc.stdout[: proc.stdout.index("PROBE ")])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["report", "--at", "yesterday"], "--at"),
        (["report", "nobody@corp.example"], "'nobody@corp.example' not found"),
        (["report", "--json", "--format", "csv"], "--json and --format csv disagree"),
        (["report", "--by-reason", "--at", "2026-13-01"], "--at"),
        (["report", "--at", "9999-12-31T00:00"], "out of range"),  # exit 65: bad data
        (["plot", "--out", "trend.jpg"], "expected a .png, .svg or .pdf"),
        (["plot", "--out", "no-such-folder/trend.png"], "cannot write it"),
        (["plot", "nobody@corp.example"], "'nobody@corp.example' not found"),
        (["plot", "--at", "yesterday"], "--at"),
        (["demo", "--plot", "demo.jpg"], "expected a .png, .svg or .pdf"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else "",
)
def test_report_and_plot_refuse_bad_input_before_loading_pandas(
    seeded: Path, args: list[str], said: str
):
    """A typo in ``report``/``plot``/``demo`` is told as soon as the arguments are read: loading
    pandas and matplotlib first made every refusal wait a second or more (ten on a loaded
    machine) for a one-line error."""
    proc = _probe(seeded, PROBE, args, code=65 if said == "out of range" else 64)
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("Error: ") and said in line, line


def test_plot_of_a_ledger_without_mailboxes_is_refused_before_loading_pandas(ledger_path: Path):
    from warmup import open_ledger

    open_ledger().close()  # a ledger, and no mailbox in it
    out = str(ledger_path.parent / "trend.png")
    proc = _probe(ledger_path, PROBE, ["plot", "--out", out], code=65)
    assert proc.stderr == (
        "Error: nothing to plot: the ledger has no mailboxes yet; add one with "
        "'warmup mailbox add ADDRESS --provider exmail'\n"
    )


@pytest.mark.parametrize(
    "args", [["quota", BOX, "--json"], ["quota", "--json"], ["quota"]], ids=lambda a: " ".join(a)
)
def test_quota_does_not_import_sqlalchemy(seeded: Path, args: list[str]):
    """On a SQLite ledger whose schema is current, ``warmup quota`` answers on the driver alone
    (issue #15: SQLAlchemy's import was ~0.4-0.6 s of the command); it still keeps memos."""
    probe = PROBE.replace('("pandas", "matplotlib")', '("sqlalchemy", "sqlmodel", "psycopg")')
    proc = _probe(seeded, probe, [*args, "--at", "2026-11-20T10:00+08:00"])
    assert BOX in proc.stdout
    con = sqlite3.connect(seeded)
    assert con.execute("SELECT count(*) FROM walk_memo").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize(
    "words", [["warmup", "quota", ""], ["warmup", "send", "a@"]], ids=["quota", "send"]
)
def test_completing_a_mailbox_does_not_import_sqlalchemy(seeded: Path, words: list[str]):
    """Every TAB on a mailbox address is a process of its own: opening the ledger through
    SQLAlchemy to list the addresses made it ~1.1 s (two thirds of it SQLAlchemy's import),
    with 1,000 mailboxes as with one; the driver-level reader answers it."""
    probe = PROBE.replace('("pandas", "matplotlib")', '("sqlalchemy", "sqlmodel", "psycopg")')
    env = {
        "_WARMUP_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(words),
        "COMP_CWORD": str(len(words) - 1),
    }
    proc = _probe(seeded, probe, [], env=env)
    assert f"plain,{BOX}" in proc.stdout.splitlines(), proc.stdout


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (["warmup", "run", "--pool", "out"], "outreach"),
        (["warmup", "queue", "add", "--pool", ""], "outreach"),
        (["warmup", "pool", "show", "o"], "outreach"),
        (["warmup", "mailbox", "set", BOX, "--policy", "car"], "careful"),
        (["warmup", "mailbox", "set", ""], BOX),
        (["warmup", "mailbox", "pause", ""], BOX),
        (["warmup", "bounces", "sync", ""], BOX),
        (["warmup", "record", "send", ""], BOX),
        (["warmup", "doctor", ""], BOX),
        (["warmup", "report", ""], BOX),
    ],
    ids=lambda w: " ".join(w[1:]) if isinstance(w, list) else None,
)
def test_completing_any_command_does_not_import_sqlalchemy(
    seeded: Path, tmp_path: Path, words: list[str], offered: str
):
    """A TAB on a pool's, a stored policy's or a mailbox's name in most commands imported
    SQLAlchemy (their modules imported the full ledger at the top; pools and policies were
    listed through it, every pool's members read): ~1.1-1.4 s a TAB."""
    from tests import forkcli

    policy = tmp_path / "careful.toml"
    policy.write_text(subprocess.run([*forkcli.command(), "policy", "show", "exmail"], capture_output=True, text=True, check=True).stdout)  # fmt: skip
    env = {**os.environ, "WARMUP_DB": str(seeded)}
    for args in (["pool", "add", "outreach", BOX], ["policy", "add", "careful", str(policy)]):
        made = subprocess.run([*forkcli.command(), *args], env=env, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
    probe = PROBE.replace('("pandas", "matplotlib")', '("sqlalchemy", "sqlmodel", "psycopg")')
    env = {
        "_WARMUP_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(words),
        "COMP_CWORD": str(len(words) - 1),
    }
    proc = _probe(seeded, probe, [], env=env)
    assert f"plain,{offered}" in proc.stdout.splitlines(), proc.stdout


def test_quota_imports_the_typo_hints_only_for_an_error(seeded: Path):
    """difflib (~2.5 ms of imports) names the mailbox or policy key meant by a typo: imported
    on the way to that error, not by every ``warmup quota``."""
    probe = PROBE.replace('("pandas", "matplotlib")', '("difflib",)')
    _probe(seeded, probe, ["quota", BOX, "--json"])
    typo = _probe(seeded, probe.replace('("difflib",)', "()"), ["quota", "x" + BOX], code=64)
    assert f"did you mean '{BOX}'?" in typo.stderr, typo.stderr


# What ``quota`` and one message's ``send`` never use: no CSV log is imported (warmup.importcsv,
# re-exported by warmup.api), no date text parsed (pendulum reads what the commands that take
# one are given), no shard forked (pickle), no day ahead projected (warmup.policy.plan, ~2 ms).
UNUSED = ("warmup.importcsv", "pickle", "warmup.policy.plan")


def test_quota_imports_neither_the_csv_import_nor_pendulum(seeded: Path):
    """They cost ~7 ms (warmup.importcsv with what it imports) and ~15 ms (pendulum) of every
    ``warmup quota``; an ``--at`` in another form than a full ISO instant still reads."""
    probe = PROBE.replace('("pandas", "matplotlib")', '("pendulum",)').replace(
        '("urllib.request", "http.client")', repr(UNUSED)
    )
    _probe(seeded, probe, ["quota", BOX, "--json"])
    _probe(seeded, probe, ["quota"])
    at = _probe(seeded, PROBE, ["quota", BOX, "--at", "2026-11-20 10:00"])
    assert BOX in at.stdout


def test_quota_reads_the_presets_without_importlib_resources(ledger_path: Path):
    """The presets and providers.toml are plain files next to their modules (in a wheel as in an
    editable install): importlib.resources' import (with zipfile and tempfile) was ~5 ms of
    every ``warmup quota``. A policy with no calendar, so that nothing else imports it."""
    from warmup import api, open_ledger

    ledger = open_ledger()
    api.add_mailbox(ledger, BOX, "gmail")
    ledger.close()
    probe = PROBE.replace('("urllib.request", "http.client")', '("importlib.resources",)')
    assert BOX in _probe(ledger_path, probe, ["quota", BOX, "--json"]).stdout


# The holidays library and what its import reads its version with: a calendar's answers come
# from the cache (warmup/policy/holidaycache.py) once a first command has kept them.
CALENDAR = ("holidays", "importlib.metadata", "importlib.resources")


def _without(probe: str, modules: tuple[str, ...]) -> str:
    """:data:`PROBE`, reporting any of ``modules`` (or their submodules) loaded instead."""
    old = (
        """m.split(".")[0] in ("pandas", "matplotlib") or m in ("urllib.request", "http.client")"""
    )
    assert old in probe
    return probe.replace(old, f"any(m == x or m.startswith(x + '.') for x in {modules!r})")


def test_quota_of_a_calendar_does_not_import_holidays(seeded: Path):
    """An exmail mailbox's policy has China's calendar: importing the holidays library to read
    the policy and judge today (its base classes, every calendar system, its version through
    importlib.metadata, the CN module) was ~40 ms of every ``warmup quota``. The first command
    keeps its answers; the next ones read them. The mailbox is moved to the test's midday zone
    (:func:`~tests.zonekit.kit_zone`): asked twice at the real time in Shanghai's, the answer
    differed across its midnight (16:00 UTC), and in its last hours, as "what is left of today's
    window fits about N more sends" counted down."""
    from tests.gatekit import cli
    from tests.zonekit import kit_zone

    assert cli("mailbox", "set", BOX, "--timezone", kit_zone()).returncode == 0
    first = _probe(seeded, PROBE, ["quota", BOX, "--json"])
    for args in (["quota", BOX, "--json"], ["quota"], ["quota", "--at", "2026-10-01 10:00"]):
        again = _probe(seeded, _without(PROBE, CALENDAR), args)
        if args[-1] == "--json":
            assert again.stdout == first.stdout
        elif "--at" in args:
            assert "closed" in again.stdout  # National Day, from the kept calendar


@pytest.mark.slow
def test_send_of_a_calendar_does_not_import_holidays(smtp_ssl, ssl_cert_env, ledger_path):
    """The same for one message's ``warmup send`` (previewed and sent) of a mailbox whose
    policy has a calendar (China's, sending on its holidays too: the test sends at the real
    time)."""
    from tests.gatekit import PASSWORD_ENV, add_box, warmup

    add_box(smtp_ssl.port)  # exmail-any-day: [calendar] country = "CN"
    assert warmup("quota", BOX).returncode == 0  # the calendar's answers kept
    lean = ("sqlalchemy", "sqlmodel", "psycopg", "pandas", "matplotlib", "cryptography")
    probe = _without(PROBE, (*lean, "pendulum", "warmup.bounces", *UNUSED, *CALENDAR))
    dry = _probe(
        ledger_path, probe, _send("--to", "one@example.com", "--dry-run"), env=PASSWORD_ENV
    )
    assert "Would send to 1 recipient" in dry.stdout
    sent = _probe(ledger_path, probe, _send("--to", "one@example.com"), env=PASSWORD_ENV)
    assert sent.stdout.startswith("Sent <")
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("one@example.com",)]


# cryptography: the relay's certificate (warmup.relaytls) is made for a wrapped command only
LEAN = PROBE.replace(
    '("pandas", "matplotlib")',
    '("sqlalchemy", "sqlmodel", "psycopg", "pandas", "matplotlib", "cryptography")',
).replace('("urllib.request", "http.client")', repr(UNUSED))
# A message that goes prints no local time (a refused one says when to try again: pendulum),
# and its 2xx replies need no bounce classifier (warmup.bounces: its wording rules).
GRANTED = LEAN.replace('"cryptography")', '"cryptography", "pendulum")').replace(
    repr(UNUSED), repr((*UNUSED, "warmup.bounces"))
)


def _send(*extra: str) -> list[str]:
    return ["send", BOX, "--subject", "Hi", "--body", "Hello", *extra]


@pytest.mark.slow
def test_send_does_not_import_sqlalchemy(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    """On a SQLite ledger whose schema is current, one message through ``warmup send`` (a new
    process per message in scripts) is gated, sent and settled on the driver alone: granted
    (``--to``, ``--eml``), previewed (``--dry-run``), refused (quota used, with ``--wait``;
    suppressed recipient)."""
    from tests.gatekit import PASSWORD_ENV, add_box, cli, policy_file

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=2)))
    assert cli("suppress", "add", "gone@example.com", "--reason", "asked").returncode == 0
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: two@example.com\nSubject: x\n\nbody\n")
    dry = _probe(
        ledger_path, GRANTED, _send("--to", "one@example.com", "--dry-run"), env=PASSWORD_ENV
    )
    assert "Would send to 1 recipient" in dry.stdout and smtp_ssl.messages == []
    sent = _probe(ledger_path, GRANTED, _send("--to", "one@example.com"), env=PASSWORD_ENV)
    assert sent.stdout.startswith("Sent <")
    _probe(ledger_path, GRANTED, ["send", BOX, "--eml", str(eml)], env=PASSWORD_ENV)
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("one@example.com",), ("two@example.com",)]
    used = _probe(ledger_path, LEAN, _send("--to", "three@example.com", "--wait"), 75, PASSWORD_ENV)
    assert "quota is used (2 of 2 sent)" in used.stderr
    gone = _probe(ledger_path, LEAN, _send("--to", "gone@example.com"), 65, PASSWORD_ENV)
    assert "suppressed" in gone.stderr and len(smtp_ssl.messages) == 2
    con = sqlite3.connect(ledger_path)
    rows = con.execute("SELECT recipient, outcome FROM send ORDER BY id").fetchall()
    con.close()
    assert rows == [("one@example.com", "sent"), ("two@example.com", "sent")]


@pytest.mark.slow
def test_rare_paths_of_a_lean_send_open_the_full_ledger(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """What the driver-level start leaves to the full backend still happens from it: a 5xx RCPT
    refusal is recorded as a hard bounce and suppresses the address; a throttle reply pauses the
    mailbox (and the next send is refused for it)."""
    from tests.gatekit import PASSWORD_ENV, add_box, cli, policy_file

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    smtp_ssl.reject_rcpt = {"dead@example.com": (550, "5.1.1 <dead@example.com>: User unknown")}
    args = _send("--to", "dead@example.com", "--to", "ok@example.com")
    bounced = _probe(ledger_path, PROBE, args, 65, PASSWORD_ENV)
    assert "dead@example.com: hard 550" in bounced.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",)]
    con = sqlite3.connect(ledger_path)
    assert con.execute(
        "SELECT b.kind, b.status, s.recipient, s.outcome FROM bounce b "
        "JOIN send s ON s.id = b.send_id"
    ).fetchall() == [("hard", "5.1.1", "dead@example.com", "hard")]
    assert con.execute("SELECT address, kind FROM suppression").fetchall() == [
        ("dead@example.com", "hard")
    ]
    smtp_ssl.fail_after_mail = (421, "4.7.0 Too many messages, try again later")
    throttled = _probe(ledger_path, PROBE, _send("--to", "x@example.com"), 75, PASSWORD_ENV)
    assert "throttled" in throttled.stderr
    assert con.execute("SELECT kind FROM event").fetchall() == [("throttle",)]
    assert con.execute("SELECT outcome FROM send WHERE recipient = 'x@example.com'").fetchall() == [
        ("released",)
    ]
    con.close()
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["status"] == "paused"
    again = _probe(ledger_path, LEAN, _send("--to", "y@example.com"), 75, PASSWORD_ENV)
    assert "paused" in again.stderr


def test_send_to_a_missing_ledger_is_refused_and_creates_nothing(tmp_path: Path):
    """The driver level opens only an existing ledger; the full backend refuses a missing one,
    as before (exit 66, EX_NOINPUT), and nothing is created."""
    missing = tmp_path / "nope" / "ledger.db"
    proc = _probe(missing, PROBE, _send("--to", "one@example.com"), 66)
    assert "no ledger at" in proc.stderr
    assert not missing.parent.exists()


# ``warmup`` as its entry point runs it (main()), or ``cli`` called as a program would (the tests)
GC_PROBE = PROBE.replace(
    'cli(sys.argv[1:], prog_name="warmup")',
    """import gc
    from warmup.cli import main
    how = sys.argv.pop(1)
    main() if how == "main" else cli(sys.argv[1:], prog_name="warmup")""",
).replace(
    'print("PROBE "',
    'print("GC " + json.dumps([gc.isenabled(), gc.get_freeze_count()]))\nprint("PROBE "',
)


@pytest.mark.parametrize("args", [["quota", BOX, "--json"], ["mailbox", "list"]], ids=" ".join)
def test_the_collector_is_held_only_while_the_command_is_imported(seeded: Path, args: list[str]):
    """``warmup`` (:func:`warmup.cli.main`) starts without the cyclic garbage collector and
    turns it back on, start-up frozen, once the command's module is imported: a worker or a
    relay runs for hours. A program calling ``cli`` itself keeps its collector as it was."""
    states = []
    for how in ("main", "cli"):
        proc = _probe(seeded, GC_PROBE, [how, *args])
        assert BOX in proc.stdout
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith("GC ")]
        states.append(json.loads(line[3:]))
    (on, frozen), (cli_on, cli_frozen) = states
    assert on and frozen > 10_000  # every module, class and function of the start-up
    assert cli_on and cli_frozen == 0


LATER_PROBE = PROBE.replace(
    'print("PROBE "',
    """from warmup.lazyre import _Later
compiled = sorted(
    f"{name}.{attr}" for name, module in list(sys.modules.items()) if name.startswith("warmup")
    for attr, value in vars(module).items() if isinstance(value, _Later) and len(vars(value)) > 2
)
print("COMPILED " + json.dumps(compiled))
print("PROBE \"""",
)


def test_quota_compiles_none_of_the_patterns_kept_for_later(seeded: Path):
    """The patterns that check typed times, pasted addresses, field text, pool and policy
    names (warmup.lazyre) were ~3.5 ms of compiling at every ``warmup quota``, which uses
    none of them."""
    proc = _probe(seeded, LATER_PROBE, ["quota", BOX, "--json"])
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("COMPILED ")]
    assert json.loads(line[len("COMPILED ") :]) == []
    typed = _probe(seeded, LATER_PROBE, ["quota", BOX, "--at", "2026-11-20 10:00"])
    assert '"warmup.instants._DAY_MONTH"' in typed.stdout  # the probe sees those compiled


@pytest.mark.parametrize("args", [["--version"], ["--bogus"], ["--db"], ["nosuchcommand"]])
def test_main_turns_the_collector_back_on_when_no_command_module_was_imported(args: list[str]):
    """``main()`` called in a program's own process (as a script embedding warmup may) left the
    cyclic collector off for good when click ended before a command's module was imported:
    ``--version``, an unknown option, an option without its value."""
    code = (
        "import gc, sys\n"
        "from warmup.cli import main\n"
        f"sys.argv = ['warmup', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('GC', gc.isenabled())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip().splitlines()[-1] == "GC True", (proc.stdout, proc.stderr)
