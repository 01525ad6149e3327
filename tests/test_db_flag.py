"""``--db``: only commands that write create a ledger; read commands refuse a missing one
(issue #12, acceptance 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

BOX = "a@corp.example"


@pytest.fixture
def run(run):
    """The CLI, with a ledger URL given as ``--db URL`` passed in $WARMUP_DB instead: these
    tests are about what is said of a URL, and a password on the command line also draws a
    warning of its own (tested at the end of this file)."""
    from click.testing import CliRunner

    from warmup.cli import cli

    def invoke(*args: str, input: str | None = None):
        if args[:1] == ("--db",) and "://" in args[1]:
            return CliRunner().invoke(
                cli, list(args[2:]), input=input, catch_exceptions=False, env={"WARMUP_DB": args[1]}
            )
        return run(*args, input=input)

    return invoke


READS = [
    ("quota",),
    ("quota", BOX, "--at", "2026-06-11T09:00:00"),
    ("plan", BOX),
    ("report", "--json"),
    ("mailbox", "list"),
    ("mailbox", "show", BOX),
    ("bounces", "list"),
    ("suppress", "list"),
    ("policy", "list"),
    ("record", "send", BOX, "--to", "x@example.com"),
    # every other command that only reads (or needs a ledger to act on): the same line, 66
    ("pool", "list"),
    ("queue", "list"),
    ("queue", "cancel", "1"),
    ("notify", "show"),
    ("notify", "clear"),
    ("mailbox", "resume", BOX),
    ("mailbox", "remove", BOX),
    ("bounces", "sync", BOX),
    ("run", "--once"),
]


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_command_refuses_a_ledger_that_does_not_exist(run, tmp_path: Path, args):
    missing = tmp_path / "nonexistent" / "x.db"  # the issue's /nonexistent/x.db, kept in tmp
    res = run("--db", str(missing), *args)
    assert res.exit_code == 66, res.output  # EX_NOINPUT: a file that is not there, as sysexits
    assert res.output == (
        f"Error: no ledger at {missing}; run 'warmup mailbox add' to create one\n"
    )
    assert not missing.parent.exists()  # nothing created, not even the folder


EMPTY = (
    "Error: ledger {db} is an empty file (0 bytes), not a warmup ledger: if it held your ledger, "
    "it was truncated: restore a backup; to start a new ledger in it, run 'warmup mailbox add'\n"
)


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_command_refuses_an_empty_file_and_leaves_it_empty(run, tmp_path: Path, args):
    """A 0-byte file (a ledger truncated, a ``touch``) silently became a new ledger that
    answered "No mailboxes yet", exit 0: a lost ledger looked like a fresh one. It is refused,
    78 (a file that is no ledger), and left as it was."""
    empty = tmp_path / "x.db"
    empty.touch()
    res = run("--db", str(empty), *args)
    assert (res.exit_code, res.output) == (78, EMPTY.format(db=empty))
    assert [p.name for p in tmp_path.iterdir()] == ["x.db"] and empty.stat().st_size == 0


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_command_refuses_a_team_schema_with_no_warmup_tables_and_creates_none(run, args):
    """``WARMUP_DB`` a new team database (or a search_path typed wrong): ``warmup pool list``
    created warmup's 18 tables there, unasked, and answered "No pools", where a missing SQLite
    file is refused. It is refused the same way (66), the schema left empty; a command that
    writes (``mailbox add``) still creates the ledger there."""
    from tests.pgkit import PgSchema, _admin

    schema = PgSchema()
    try:
        res = run("--db", schema.url, *args)
        assert res.exit_code == 66, res.output
        assert res.output.startswith("Error: no ledger in postgresql+psycopg://"), res.output
        assert res.output.count("\n") == 1 and "run 'warmup mailbox add'" in res.output
        with _admin(schema.server) as conn:
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema.name,)
            ).fetchone()
        assert tables == (0,)
        added = run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail")
        assert added.exit_code == 0, added.output
        assert run("--db", schema.url, "pool", "list").exit_code == 0
    finally:
        schema.drop()


def test_quota_refuses_an_empty_warmup_db_too(run, ledger_path: Path):
    ledger_path.touch(mode=0o600)
    res = run("quota")
    assert (res.exit_code, res.output) == (78, EMPTY.format(db=ledger_path))
    assert ledger_path.stat().st_size == 0


def test_mailbox_add_starts_a_ledger_in_an_empty_file_and_bad_input_leaves_it_empty(
    run, tmp_path: Path
):
    empty = tmp_path / "x.db"
    empty.touch(mode=0o600)
    bad = run("--db", str(empty), "mailbox", "add", BOX, "--provider", "nosuch")
    assert bad.exit_code == 64, bad.output
    assert [p.name for p in tmp_path.iterdir()] == ["x.db"] and empty.stat().st_size == 0
    res = run("--db", str(empty), "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"Created a new ledger at {empty}.\n"
    assert f"\n{BOX}  exmail " in run("--db", str(empty), "mailbox", "list").output


@pytest.mark.parametrize("made_up", ["/proc/self/status", "/proc/self/comm"])
def test_a_proc_file_whose_size_says_0_is_not_taken_for_an_empty_ledger(run, made_up):
    """/proc's files say 0 bytes and read as text: one was taken for an empty file, a new
    ledger to start ('quota' told the user to run 'mailbox add' to start one in it, and where
    the folder could be written 'mailbox add' said "Created a new ledger"). Refused as no
    ledger (78), by a command that creates and by one that reads."""
    real = str(Path(made_up).resolve())
    said = (
        f"Error: ledger {real} is not a warmup ledger: its size says 0 bytes, yet it reads as "
        "text the system makes up (a /proc or /sys file), where no ledger can be kept; point "
        "--db/WARMUP_DB at a ledger file, e.g. ledger.db\n"
    )
    for args in (["mailbox", "add", BOX, "--provider", "exmail"], ["quota"]):
        res = run("--db", made_up, *args)
        assert (res.exit_code, res.stdout, res.stderr) == (78, "", said)


def test_a_team_ledger_without_its_driver_names_the_pip_of_warmup_s_own_python(tmp_path):
    """README's set-up installs warmup into a clone's .venv; the error said "pip install
    'warmup[postgres]'", which a shell outside that venv runs with another pip (the driver
    installed where warmup never looks). It names this interpreter's pip now, in a process
    where psycopg cannot be imported."""
    import shlex
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['psycopg'] = None\n"  # an environment without the driver
        "from warmup.cli import main; sys.argv = ['warmup', 'quota']; main()"
    )
    env = {k: v for k, v in os.environ.items() if k != "WARMUP_CONFIG"}
    env.update(WARMUP_DB="postgresql+psycopg://warmup@127.0.0.1:1/warmup", HOME=str(tmp_path))
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 78, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "driver not installed" in proc.stderr
    assert proc.stderr.rstrip().endswith(
        f"{shlex.quote(sys.executable)} -m pip install 'warmup[postgres]'"
    ), proc.stderr


def test_a_read_command_refuses_a_missing_warmup_db_too(run, ledger_path: Path):
    res = run("quota")
    assert res.exit_code == 66 and f"no ledger at {ledger_path};" in res.output
    assert not ledger_path.exists()


def test_mailbox_add_creates_the_ledger_and_its_folder_and_says_so_once(run, tmp_path: Path):
    db = tmp_path / "new" / "dir" / "x.db"
    first = run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail")
    assert first.exit_code == 0, first.output
    assert first.stderr == f"Created a new ledger at {db}.\n"
    assert db.exists() and (db.parent.stat().st_mode & 0o777) == 0o700
    second = run("--db", str(db), "mailbox", "add", "b@corp.example", "--provider", "exmail")
    assert second.exit_code == 0 and second.stderr == ""
    listed = run("--db", str(db), "mailbox", "list")
    assert listed.exit_code == 0 and BOX in listed.stdout and listed.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ("mailbox", "add", BOX, "--provider", "exmail", "--cap", "0"),
        ("mailbox", "add", BOX, "--provider", "nosuch"),
        ("mailbox", "add", BOX, "--provider", "exmail", "--timezone", "Mars/Olympus"),
        ("policy", "add", "mine", "BROKEN"),
        ("suppress", "add", "not-an-address", "--reason", "asked"),
    ],
    ids=lambda a: " ".join(a[:2]) + ":" + a[-1],
)
def test_a_writing_command_refused_for_bad_input_leaves_no_new_ledger(run, tmp_path, args):
    """Bad input: the one-line error, and the ledger untouched, which for a ledger this very
    command would have created means no file and no folder left behind."""
    db = tmp_path / "new" / "x.db"
    broken = tmp_path / "broken.toml"
    broken.write_text("[stages\n")
    res = run("--db", str(db), *(str(broken) if a == "BROKEN" else a for a in args))
    assert res.exit_code in (64, 65, 78), res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: "), res.output
    assert not (tmp_path / "new").exists()


def test_a_gate_never_creates_a_ledger(run, tmp_path: Path, ledger_path: Path):
    """``Gate(address, db=...)`` on a mistyped path started an empty ledger there (and its
    folder): the library sent through a ledger no command had made, whose history, once the
    mailbox was added to it, began at zero. A gate is the send path; like ``warmup send`` and
    ``warmup run`` it refuses a ledger that does not exist (NoLedger, 66), naming the path, and
    creates nothing: only a write that starts one (``open_ledger``, ``mailbox add``) does."""
    from warmup import Gate
    from warmup.errors import NoLedger

    missing = tmp_path / "typo" / "x.db"
    with pytest.raises(NoLedger) as err:
        Gate(BOX, db=str(missing))
    assert str(err.value) == f"no ledger at {missing}; run 'warmup mailbox add' to create one"
    assert err.value.exit_code == 66
    assert not missing.parent.exists()
    with pytest.raises(NoLedger):
        Gate(BOX)  # $WARMUP_DB, which names no ledger yet
    assert not ledger_path.exists()
    # the CLI's send path says the same, and creates nothing either
    res = run("--db", str(missing), "send", BOX, "--to", "x@example.com", input="hi\n")
    assert res.exit_code == 66 and res.output.startswith(f"Error: no ledger at {missing};")
    assert not missing.parent.exists()


def test_a_failed_command_never_removes_a_ledger_that_holds_rows(run, tmp_path):
    db = tmp_path / "x.db"
    assert run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    bad = run(
        "--db", str(db), "mailbox", "add", "b@corp.example", "--provider", "exmail", "--cap", "0"
    )
    assert bad.exit_code == 64
    assert db.exists()
    assert BOX in run("--db", str(db), "mailbox", "list").stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # '/' and ':' are part of a password to SQLAlchemy: the mask stopped at the first '/'.
        ("postgresql+psycopg://u:top/se:cret@h:abc/d", "postgresql+psycopg://u:***@h:abc/d"),
        ("mysql://u:top/secret@h/d", "mysql://u:***@h/d"),
        # SQLAlchemy decodes a query's keys: 'pass%77ord' is the password libpq is given.
        (
            "postgresql+psycopg://u@127.0.0.1:99999/d?pass%77ord=secret",
            "postgresql+psycopg://u@127.0.0.1:99999/d?pass%77ord=***",
        ),
        (
            "postgresql+psycopg://u@h:abc/d?%50ASSWORD=secret",
            "postgresql+psycopg://u@h:abc/d?%50ASSWORD=***",
        ),
        (
            "postgresql+psycopg://u@h:abc/d?sslpass%77ord=secret",
            "postgresql+psycopg://u@h:abc/d?sslpass%77ord=***",
        ),
    ],
)
def test_a_refused_ledger_url_never_prints_its_password(run, tmp_path, url, shown):
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert "secret" not in res.output and "se:cret" not in res.output
    assert f"'{shown}'" in res.output and len(res.output.splitlines()) == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://warmup:se@cretPW/x@127.0.0.1:1/x",
        "postgresql+psycopg://warmup:se@cretPW?x@127.0.0.1:1/x",
    ],
)
def test_an_at_sign_before_a_slash_or_question_mark_in_the_password_never_reaches_dns(run, url):
    """The host SQLAlchemy reads then ends at the '/' or '?': it held no '@', so the check
    above let it through, the password's tail was looked up in DNS as the host name and came
    back in the error ("failed to resolve host 'cretPW'")."""
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert "cretPW" not in res.output, res.output
    assert res.output == (
        "Error: ledger URL 'postgresql+psycopg://warmup:***@127.0.0.1:1/x': its user name or "
        "password holds an '@'; write it as %40 in the URL\n"
    )


def test_a_password_given_as_a_query_parameter_is_masked_too(run, monkeypatch):
    """libpq takes ``?password=...`` (and ``sslpassword``) as well as ``user:password@``, and
    such a URL connects; its password was printed in full by ``config show`` and by every
    error naming the ledger (a wrong password: "ledger ...?password=WR0NG: connection
    failed")."""
    query = "?password={}&sslmode=disable&sslpassword={}"
    url = "postgresql+psycopg://warmup@127.0.0.1:1/x" + query.format("s3cretPW", "k3yPW")
    shown = "postgresql+psycopg://warmup@127.0.0.1:1/x" + query.format("***", "***")
    res = run("--db", url, "quota")
    assert res.exit_code == 69, res.output
    assert "s3cretPW" not in res.output and "k3yPW" not in res.output, res.output
    assert shown in res.output, res.output
    monkeypatch.setenv("WARMUP_DB", url)
    res = run("config", "show", "--json")
    assert "s3cretPW" not in res.output and "k3yPW" not in res.output, res.output
    db = next(row for row in json.loads(res.stdout)["settings"] if row["key"] == "db")
    assert db["value"] == shown


def test_an_unescaped_at_sign_in_the_password_is_refused_before_connecting(run):
    """SQLAlchemy ends the password at its first '@': the rest of it went to DNS as the host
    name and came back in the error ("failed to resolve host 'cretPW@127.0.0.1'")."""
    res = run("--db", "postgresql+psycopg://warmup:se@cretPW@127.0.0.1:1/x", "quota")
    assert res.exit_code == 78, res.output
    assert "cretPW" not in res.output
    assert res.output == (
        "Error: ledger URL 'postgresql+psycopg://warmup:***@127.0.0.1:1/x': its user name or "
        "password holds an '@'; write it as %40 in the URL\n"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://warmup:se@cr:etPW@127.0.0.1:5432/x",
        "postgresql+psycopg://warmup:se:cr@etPW:x@127.0.0.1:5432/x",
        "postgresql+psycopg://warmup:secretPW@127.0.0.1:5432x/x",
    ],
)
def test_a_ledger_url_whose_port_is_not_a_number_never_prints_the_password(run, url):
    """SQLAlchemy reads the port after the first '@' and its first ':', and its error quoted
    that text: with an unescaped '@' and ':' in the password, its tail ("invalid literal for
    int() with base 10: 'etPW@127.0.0.1:5432'")."""
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert "etPW" not in res.output and "cr" not in res.output.replace("psycopg", ""), res.output
    assert res.output.startswith(
        f"Error: ledger URL 'postgresql+psycopg://warmup:***@{url.rsplit('@', 1)[1]}'"
    )
    assert len(res.output.splitlines()) == 1
    if url.count("@") == 1:
        assert res.output.endswith(
            "is not valid: its port is not a number (write '@', ':' and '/' in the user name "
            "or password as %40, %3A and %2F)\n"
        )


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_ledger_in_memory_is_refused_rather_than_forgotten(run, ledger_path, url):
    """``--db sqlite://`` opened an in-memory database: "Added a@corp.example", and the mailbox
    was gone when the command exited; ``db copy --to sqlite://`` "verified" a copy to nowhere."""
    add = run("--db", url, "mailbox", "add", BOX, "--provider", "exmail")
    assert add.exit_code == 78, add.output
    assert add.output == (
        f"Error: ledger URL '{url}' names no file (a ledger in memory would be lost when the "
        f"command exits); give a path, e.g. --db ~/warmup.db or sqlite:////abs/path.db\n"
    )
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    copy = run("db", "copy", "--to", url)
    assert copy.exit_code == 78 and "names no file" in copy.output and "Copied" not in copy.output


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("sslmode=bogus", 'invalid sslmode value: "bogus"'),
        ("bogusopt=1", 'invalid connection option "bogusopt"'),
        ("connect_timeout=abc", "bad value for connect_timeout"),
    ],
)
def test_an_option_libpq_cannot_take_is_a_config_error_not_a_traceback(run, option, words):
    # An unknown option and a bad connect_timeout were tracebacks (psycopg's ProgrammingError),
    # a bad sslmode "unavailable" (69): the URL is what is wrong, and nothing is reached.
    res = run("--db", f"postgresql+psycopg://u:secret@127.0.0.1:1/x?{option}", "mailbox", "list")
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: ledger "), res.output
    assert words in res.output and "secret" not in res.output and "Traceback" not in res.output


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("-cnosuch_param%3D1", 'unrecognized configuration parameter "nosuch_param"'),
        ("-cstatement_timeout%3Dabc", 'invalid value for parameter "statement_timeout"'),
        ("-cjit%3Dmaybe", 'parameter "jit" requires a Boolean value'),
        ("-cwork_mem%3D1", 'outside the valid range for parameter "work_mem"'),
        # a space in a value is libpq's separator unless written '\\ ': half a search_path
        ("-csearch_path%3D%22Team%20A%22", 'invalid value for parameter "search_path"'),
        ("garbage", "invalid command-line argument for server process"),
    ],
)
def test_an_option_the_server_refuses_at_login_is_a_config_error_not_unavailable(
    run, option, words
):
    """The URL's ``options=-c NAME=VALUE`` that the server refuses as the session starts (an
    unknown or misspelt parameter, a value out of its range) was "is unavailable" (69, try
    later), and ``warmup run`` waited --ledger-wait (10 minutes) for a server that had answered:
    the URL is what is wrong, and no retry mends it (78, as ``sslmode=bogus``)."""
    from tests.pgkit import _without_password, pg_server

    url = f"{_without_password(pg_server())}?options={option}"
    res = run("--db", url, "mailbox", "list")
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: ledger "), res.output
    assert words in res.output and "unavailable" not in res.output, res.output


def test_several_hosts_in_libpqs_form_are_told_how_to_write_them():
    """``postgresql://u@h1:5432,h2:5432/db``, libpq's URL for a primary and its standby, is no
    URL SQLAlchemy reads: "its port is not a number (write '@', ':' and '/' in the user name or
    password as %40, %3A and %2F)" sent the user to escape a password that was fine. The line
    says to give the hosts in the query, the form that works (exit 78, as before)."""
    from click.testing import CliRunner

    from warmup.cli import cli

    url = "postgresql+psycopg://u:secret@db1.corp.example:5432,db2.corp.example:5432/warmup"
    res = CliRunner().invoke(cli, ["mailbox", "list"], env={"WARMUP_DB": url})
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and "secret" not in res.output, res.output
    assert "%40" not in res.output and "?host=h1:p1&host=h2:p2" in res.output, res.output


def test_ports_inside_a_host_list_of_the_query_are_told_how_to_write_them(run, pg_url):
    """``?host=127.0.0.1:1,127.0.0.1:5432`` reached libpq as one host list, the ports read as
    part of the names: "failed to resolve host '127.0.0.1:5432'", unavailable (69, try later).
    The URL is what is wrong: 78, one line giving the two forms that work, nothing created;
    and each form, written as said, reaches the real server past a first host that refuses."""
    import sqlalchemy as sa

    given = sa.engine.make_url(pg_url)
    host, port = given.host or "127.0.0.1", given.port or 5432
    bare = given._replace(host=None, port=None)

    def url(**query: str | tuple[str, ...]) -> str:
        return bare.update_query_dict(query).render_as_string(hide_password=False)

    res = run(
        "--db", url(host=f"127.0.0.1:1,{host}:{port}"), "mailbox", "add", BOX, "--provider", "gmail"
    )
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: ledger URL "), res.output
    assert "?host=h1:p1&host=h2:p2 (or ?host=h1,h2&port=p1,p2)" in res.output, res.output
    assert "resolve" not in res.output and str(given.password) not in res.output, res.output
    written = run(
        "--db",
        url(host=("127.0.0.1:1", f"{host}:{port}")),
        "mailbox",
        "add",
        BOX,
        "--provider",
        "gmail",
    )
    assert written.exit_code == 0, written.output
    listed = run("--db", url(host=f"127.0.0.1,{host}", port=f"1,{port}"), "mailbox", "list")
    assert listed.exit_code == 0 and BOX in listed.output, listed.output


def test_a_worker_given_an_option_the_server_refuses_stops_at_once(tmp_path):
    """``warmup run`` waits for a server that does not answer; one that answered "unrecognized
    configuration parameter" is no server restarting: exit 78 at once, as README says of a
    database that does not exist."""
    from tests.gatekit import warmup
    from tests.pgkit import _without_password, pg_server

    url = f"{_without_password(pg_server())}?options=-cnosuch_param%3D1"
    res = warmup("run", "--no-view", "--ledger-wait", "5s", env={"WARMUP_DB": url}, timeout=90)
    assert res.returncode == 78, res.stderr
    assert "trying again" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert 'unrecognized configuration parameter "nosuch_param"' in res.stderr


@pytest.mark.parametrize("where", ["before", "after", "config"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_db_is_refused_not_read_as_the_default_ledger(
    run, ledger_path: Path, tmp_path: Path, monkeypatch, where, value
):
    """``warmup --db "$TEAM_DB" ...`` with the variable unset gave ``--db ''``, which fell back
    to $WARMUP_DB or the personal default ledger without a word: the command read and wrote
    another ledger than the one meant (a blank one was taken as a path: "no ledger at ./ ")."""
    from tests.conftest import ledger_digest
    from warmup import config

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    add = ("mailbox", "add", "b@corp.example", "--provider", "exmail")
    if where == "config":
        path = tmp_path / "config.toml"
        path.write_text(f'db = "{value}"\n')
        monkeypatch.setenv("WARMUP_CONFIG", str(path))
        monkeypatch.delenv("WARMUP_DB")
        config._LOADED.clear()
        res = run(*add)
        config._LOADED.clear()
        assert res.exit_code == 78, res.output
        assert "db: expected a SQLite path or a ledger URL, not blank" in res.output, res.output
    else:
        args = ("--db", value, *add) if where == "before" else (*add, "--db", value)
        res = run(*args)
        assert res.exit_code == 64, res.output
        assert "--db" in res.output and "blank" in res.output, res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    "args", [("--db", "-", "quota"), ("db", "copy", "--to", "-")], ids=["db", "copy-to"]
)
def test_a_dash_for_a_ledger_is_refused_not_made_a_file_named_dash(
    run, ledger_path: Path, tmp_path: Path, monkeypatch, args
):
    """'-' reads as standard input or output; as a ledger it was a SQLite file named '-' made
    in the working directory (``db copy --to -`` copied the whole ledger into it)."""
    from tests.conftest import ledger_digest

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    monkeypatch.chdir(tmp_path)
    res = run(*args)
    assert res.exit_code == 64, res.output
    assert "'-' is no ledger" in res.output and res.output.count("\n") == 1, res.output
    assert not (tmp_path / "-").exists()
    assert ledger_digest(ledger_path) == before


LONG_NAMES = {
    "name": "a" * 300,  # one name over 255 bytes
    "path": "/".join(["b" * 200] * 21) + "/ledger.db",  # names that fit, over 4095 bytes in all
}


@pytest.mark.parametrize("too_long", list(LONG_NAMES))
@pytest.mark.parametrize(
    "args",
    [
        ("quota", BOX),
        ("send", BOX, "--to", "x@example.com"),
        ("mailbox", "add", BOX, "--provider", "exmail"),
    ],
    ids=["quota", "send", "add"],
)
def test_a_ledger_path_too_long_for_the_system_is_a_usage_error(run, tmp_path, args, too_long):
    """The quota and send paths' fast SQLite open asked ``Path.is_file()``, which raises for a
    name longer than the file system takes (ENAMETOOLONG): an OSError traceback, exit 1. Then
    the full backend's ``exists()`` raised it: exit 78, "ledger URL '...' is not valid: [Errno
    36] File name too long: '...'", the path twice. A name too long is a usage error (64), as
    it is for ``import`` and ``plot --out``, said once, with the limits to keep to."""
    path = tmp_path / LONG_NAMES[too_long]
    res = run("--db", str(path), *args)
    assert res.exit_code == 64, res.output
    [line] = res.output.splitlines()
    assert line.startswith(f"Error: ledger {tmp_path}/"), line
    assert line.endswith(
        ": cannot use it (File name too long); give --db/WARMUP_DB a shorter path "
        "(at most 255 bytes a name, 4095 in all)"
    ), line
    assert "Errno" not in line and "URL" not in line
    assert list(tmp_path.iterdir()) == []  # no folder of the path made


def test_a_ledger_path_through_a_symlink_loop_is_one_line_not_a_traceback(run, tmp_path):
    """``Path.resolve()`` raised RuntimeError("Symlink loop from ...") for a ledger path
    through a loop of symbolic links: a traceback, exit 1, for every command."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for args in (("quota",), ("mailbox", "add", BOX, "--provider", "exmail")):
        for db in (tmp_path / "a", tmp_path / "a" / "ledger.db"):
            res = run("--db", str(db), *args)
            assert (res.exit_code, res.output) == (
                78,
                f"Error: ledger {db}: cannot use it (Too many levels of symbolic links); "
                f"check the symbolic links on it\n",
            )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://warmup:se%00cretPW@127.0.0.1:1/x",
        "postgresql+psycopg://warmup@127.0.0.1:1/x?password=se%00cretPW",
    ],
)
def test_a_nul_in_a_postgresql_url_is_refused_before_connecting(run, url):
    """libpq reads its connection string as C text: a %00 in the password ended it there, so
    the options after it (port=1) were dropped and the start of the password went to the
    default server (127.0.0.1:5432, 'password authentication failed')."""
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert "cretPW" not in res.output and "5432" not in res.output, res.output
    assert res.output.endswith(
        ": it holds a NUL character (%00), which PostgreSQL cannot take; remove it\n"
    ), res.output
    assert len(res.output.splitlines()) == 1


@pytest.mark.parametrize("port", ["99999", "70000", "0", "-5"])
def test_a_ledger_url_whose_port_is_out_of_range_is_a_config_error(run, port):
    """A port libpq refuses ("invalid port number: 99999") came out as "unavailable" (69), as if
    the server were down: the URL is what is wrong (78). Port 0 reached the default port."""
    res = run("--db", f"postgresql+psycopg://warmup:secretPW@127.0.0.1:{port}/x", "quota")
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: ledger URL 'postgresql+psycopg://warmup:***@127.0.0.1:{port}/x': its port "
        f"{port} is invalid; give one from 1 to 65535 (PostgreSQL's is 5432)\n"
    )


@pytest.mark.parametrize("host", ["[bad", "bad..host", "a b", "-db.corp.example"])
def test_a_ledger_url_whose_host_is_malformed_is_a_config_error(run, monkeypatch, host):
    """psycopg resolves the host before connecting: '[bad' (an IPv6 address's bracket left
    open) came out as "failed to resolve host" and "unavailable" (69: try later), 'bad..host' as
    a traceback from the idna codec. No server answers to such a name: the URL is wrong (78)."""
    url = f"postgresql+psycopg://warmup:secretPW@{host}/x"
    said = (
        f"Error: ledger URL 'postgresql+psycopg://warmup:***@{host}/x': its host {host!r} is "
        f"not a host name or an IP address; fix the URL in --db/WARMUP_DB\n"
    )
    res = run("--db", url, "quota")
    assert (res.exit_code, res.output) == (78, said)
    monkeypatch.setenv("WARMUP_DB", url)
    res = run("quota")
    assert (res.exit_code, res.output) == (78, said)
    assert "secretPW" not in res.output


@pytest.mark.parametrize("host", ["127.0.0.1:1", "[::1]:1", "localhost,127.0.0.1:1"])
def test_a_well_formed_host_whose_server_is_down_stays_unavailable(run, host):
    """Only a malformed host is the URL's fault: a server not listening is 'try later' (69)."""
    res = run("--db", f"postgresql+psycopg://warmup:secretPW@{host}/x", "quota")
    assert res.exit_code == 69, res.output
    assert "is unavailable" in res.output and "secretPW" not in res.output, res.output


NO_USER = "~no-such-user-of-warmup"


@pytest.mark.parametrize(
    "args",
    [
        ("--db", f"{NO_USER}/x.db", "quota"),
        (
            "mailbox",
            "add",
            "b@corp.example",
            "--provider",
            "exmail",
            "--policy",
            f"{NO_USER}/p.toml",
        ),
    ],
    ids=["--db", "--policy"],
)
def test_a_path_under_a_user_that_does_not_exist_is_one_line_not_a_traceback(
    run, ledger_path: Path, args
):
    """'~bob/x.db' for a bob this machine lacks: Path.expanduser raised RuntimeError, a
    traceback and exit 1 (and a ledger created first, for mailbox add)."""
    from tests.conftest import ledger_digest

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    res = run(*args)
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1, res.output
    assert f"'{NO_USER}' names no user of this machine; write the path without it" in res.output
    assert ledger_digest(ledger_path) == before


def test_a_team_ledger_url_without_its_password_is_a_config_error_not_try_later(
    run, monkeypatch, tmp_path: Path
):
    """'fe_sendauth: no password supplied' (a URL that lost its password) exited 69,
    'unavailable', which a script retries for ever: the configuration gives no password (78;
    one the server refuses is a login refused, 77)."""
    import sqlalchemy as sa

    from tests.pgkit import pg_server

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    given = sa.engine.make_url(pg_server())
    url = (
        f"{given.drivername}://{given.username}@{given.host}:{given.port or 5432}/{given.database}"
    )
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and "no password supplied" in res.output, res.output
    assert res.output.endswith("; check the URL in --db/WARMUP_DB\n"), res.output


def test_a_new_ledger_s_odd_name_is_said_escaped_in_one_line(run, tmp_path: Path):
    """'Created a new ledger at ...' printed the path raw: a line break in the name split the
    notice in two, and click dropped an escape sequence from it on a pipe (on a terminal it
    would act), naming a file that is not there. Shown now as an error shows a path."""
    name = "\x1b[31mred\nx.db"
    db = tmp_path / name
    res = run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"Created a new ledger at {tmp_path}/\\x1b[31mred\\x0ax.db.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    copied = run("--db", str(db), "db", "copy", "--to", str(tmp_path / "b\rc.db"))
    assert copied.exit_code == 0, copied.output
    assert copied.stderr == f"Created a new ledger at {tmp_path}/b\\x0dc.db.\n"


@pytest.mark.parametrize("name", ["q?x=1.db", "p%41.db", "a?b"])
def test_a_path_is_taken_literally_not_as_a_url(run, tmp_path: Path, name):
    """A file name holding '?' or '%' (legal on every file system) was read as a URL: the
    ledger 'q?x=1.db' was created as 'q' (after a SQLAlchemy warning on stderr), 'p%41.db' as
    'pA.db', and the next command with the right name found none."""
    db = tmp_path / name
    res = run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"Created a new ledger at {db}.\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    listed = run("--db", str(db), "quota", BOX, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)[0]["mailbox"] == BOX


@pytest.mark.parametrize(
    "query", ["?mode=ro", "?uri=true&mode=ro", "?timeout=1", "?uri=true&mode=rw"]
)
@pytest.mark.parametrize("args", [("quota",), ("mailbox", "list")], ids=" ".join)
def test_options_on_a_sqlite_url_are_refused_not_ignored(run, tmp_path: Path, query, args):
    """'sqlite:///l.db?uri=true&mode=ro' made a read command create a second ledger named
    'l.db?mode=ro' beside l.db (readable by all, unlike a ledger warmup creates) and answer
    "No mailboxes yet" from it; '?mode=ro' alone printed a SQLAlchemy warning and was ignored."""
    db = tmp_path / "l.db"
    assert run("--db", str(db), "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("--db", f"sqlite:///{db}{query}", *args)
    assert res.exit_code == 78, res.output
    assert res.output.startswith(f"Error: ledger URL 'sqlite:///{db}{query}': ")
    assert res.output.count("\n") == 1 and "Warning" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("l.db-")) == ["l.db"]


@pytest.mark.parametrize(
    "args",
    [
        ("--db", "{url}", "quota"),
        ("quota", "--db", "{url}"),
        ("--db", "{url}", "db", "copy", "--to", "{url}"),
    ],
)
def test_a_password_on_the_command_line_is_warned_of_once_and_never_shown(args):
    """A ledger URL's password given with --db is in argv, where every user of the host reads it
    (ps, /proc/PID/cmdline) and the shell history keeps it: said, once, with what to use."""
    from click.testing import CliRunner

    from warmup.cli import cli

    url = "postgresql+psycopg://warmup:s3cretPW@127.0.0.1:1/x"
    res = CliRunner().invoke(cli, [a.format(url=url) for a in args], env={"WARMUP_DB": None})
    assert "s3cretPW" not in res.output, res.output
    warnings = [line for line in res.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: --db postgresql+psycopg://warmup:***@127.0.0.1:1/x puts the database password "
        "on the command line, where other users of this host (ps) and your shell history can "
        "read it; set WARMUP_DB, or db in the config file (warmup config), or leave the "
        "password out of the URL and put it in ~/.pgpass"
    ]


def test_a_password_in_db_copy_to_is_warned_of_with_the_fix_for_the_target(tmp_path):
    """'set WARMUP_DB' is the fix for --db, but for db copy's --to it names the source: a user
    who followed it copied the ledger onto itself. The target's own place in the config file is
    named instead."""
    from click.testing import CliRunner

    from warmup.cli import cli

    url = "postgresql+psycopg://warmup:s3cretPW@127.0.0.1:1/x"
    env = {"WARMUP_DB": str(tmp_path / "ledger.db")}
    res = CliRunner().invoke(cli, ["db", "copy", "--to", url], env=env)
    warnings = [line for line in res.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: --to postgresql+psycopg://warmup:***@127.0.0.1:1/x puts the database password "
        "on the command line, where other users of this host (ps) and your shell history can "
        'read it; set to under [commands."db copy"] in the config file (warmup config path), '
        "or leave the password out of the URL and put it in ~/.pgpass"
    ]


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("quota",), {"WARMUP_DB": "postgresql+psycopg://warmup:s3cretPW@127.0.0.1:1/x"}),
        (("--db", "postgresql+psycopg://warmup@127.0.0.1:1/x", "quota"), {}),
    ],
)
def test_no_warning_for_a_password_in_the_environment_or_a_url_without_one(args, env):
    from click.testing import CliRunner

    from warmup.cli import cli

    res = CliRunner().invoke(cli, list(args), env={"WARMUP_DB": None, **env})
    assert res.exit_code == 69, res.output  # the server is not there: the URL was used
    assert "Warning:" not in res.stderr and "s3cretPW" not in res.output, res.output


@pytest.mark.parametrize(
    "args", [("quota",), ("db", "migrate"), ("mailbox", "add", BOX, "--provider", "exmail")]
)
def test_a_ledger_path_that_is_a_directory_says_so(run, tmp_path: Path, args):
    """'unable to open database file; check the path and its permissions' sent the user to
    chmod a folder that was fine; the path is a folder (a --db given the data dir)."""
    folder = tmp_path / "data"
    folder.mkdir()
    res = run("--db", str(folder), *args)
    assert res.exit_code == 78, res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert f"{folder} is a directory" in res.output, res.output
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "url", ["postgresql+psycog://u@127.0.0.1:1/x", "postgresql+pg8000://u@127.0.0.1:1/x"]
)
def test_a_mistyped_postgresql_driver_names_the_one_warmup_uses(run, url):
    """SQLAlchemy's "Can't load plugin: sqlalchemy.dialects:postgresql.psycog" named no fix."""
    res = run("--db", url, "quota")
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output, res.output
    assert "postgresql+psycopg://" in res.output and "driver" in res.output, res.output


NOT_QUITE_URLS = {
    # libpq's key=value string, as psql and psycopg take it
    "conninfo": (
        "host=127.0.0.1 user=warmup password=s3cretPW dbname=x",
        "host=127.0.0.1 user=warmup password=*** dbname=x",
    ),
    "quoted": (
        "host=h password = 's3cret PW' sslpassword=s3cretPW",
        "host=h password = *** sslpassword=***",
    ),
    "no-scheme": ("warmup:s3cretPW@127.0.0.1:5432/x", "warmup:***@127.0.0.1:5432/x"),
    "no-slashes": ("postgresql+psycopg:warmup:s3cretPW@h/x", "postgresql+psycopg:warmup:***@h/x"),
    "one-slash": ("postgresql:/warmup:s3c/retPW@h/x", "postgresql:/warmup:***@h/x"),
    "no-colon": ("postgres//warmup:s3cretPW@[::1]/x", "postgres//warmup:***@[::1]/x"),
}


@pytest.mark.parametrize("given", ["--db", "env", "config", "copy-to"])
@pytest.mark.parametrize("kind", list(NOT_QUITE_URLS))
def test_a_postgresql_connection_string_that_is_no_url_is_refused_never_made_a_file(
    run, tmp_path: Path, monkeypatch, kind, given
):
    """Without '://' a ledger is a SQLite path: libpq's 'host=... password=...' string, or a
    URL missing its scheme or a slash, was created as a SQLite ledger (its folders too) named
    after the password, said in full in 'Created a new ledger at ...' and every error after,
    and the team's host went on writing a ledger of its own."""
    from tests.conftest import ledger_digest
    from warmup import config

    url, shown = NOT_QUITE_URLS[kind]
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "cfg" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text("")
    cfg.chmod(0o600)
    monkeypatch.setenv("WARMUP_CONFIG", str(cfg))
    config._LOADED.clear()
    args: tuple[str, ...] = ("mailbox", "add", BOX, "--provider", "exmail")
    if given == "--db":
        args = ("--db", url, *args)
    elif given == "env":
        monkeypatch.setenv("WARMUP_DB", url)
    elif given == "config":
        cfg.write_text(f"db = {json.dumps(url)}\n")
    else:
        source = tmp_path / "source.db"
        assert run("--db", str(source), *args).exit_code == 0
        args = ("--db", str(source), "db", "copy", "--to", url)
        before = ledger_digest(source)
    files = sorted(tmp_path.rglob("*"))
    try:
        res = run(*args)
    finally:
        config._LOADED.clear()
    assert res.exit_code == 78, res.output
    assert "s3cret" not in res.output and "retPW" not in res.output, res.output
    assert res.output.count("\n") == 1 and "Warning" not in res.output, res.output
    assert f"'{shown}' is " in res.output and "not a SQLite path" in res.output, res.output
    assert sorted(tmp_path.rglob("*")) == files  # no file or folder made, in cwd or beside cfg
    if given == "copy-to":
        assert ledger_digest(source) == before
