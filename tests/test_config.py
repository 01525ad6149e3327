"""The config file (issue #16): defaults below flags and the environment; ``config show``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY
from warmup import config

BOX = "sales@corp.example"


@pytest.fixture
def cfg(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Write the config file (``$WARMUP_CONFIG``) the next command reads."""
    path = tmp_path / "config.toml"
    path.write_text("")  # $WARMUP_CONFIG naming no file is an error
    monkeypatch.setenv("WARMUP_CONFIG", str(path))
    config._LOADED.clear()

    def write(text: str) -> None:
        path.write_text(text)
        config._LOADED.clear()

    yield write
    config._LOADED.clear()


def _show(run) -> dict[str, tuple[object, str]]:  # type: ignore[no-untyped-def]
    res = run("config", "show", "--json")
    assert res.exit_code == 0, res.output
    return {r["key"]: (r["value"], r["source"]) for r in json.loads(res.stdout)["settings"]}


def test_flag_then_environment_then_config_then_default(cfg, run, tmp_path, monkeypatch):
    from_file, from_env, from_flag = (tmp_path / f"{n}.db" for n in ("file", "env", "flag"))
    cfg(f'db = "{from_file}"\n')
    monkeypatch.delenv("WARMUP_DB")
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert from_file.exists()
    assert _show(run)["db"] == (str(from_file), "config file")
    monkeypatch.setenv("WARMUP_DB", str(from_env))
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert from_env.exists() and _show(run)["db"] == (str(from_env), "environment")
    assert run("--db", str(from_flag), "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert from_flag.exists()
    assert _show(run)["output.quiet"] == (False, "default")


def test_command_defaults_and_output_from_the_file(cfg, run):
    cfg("[output]\nquiet = true\n\n[commands.plan]\ndays = 3\n")
    assert run("mailbox", "add", BOX, "--provider", "exmail").output == ""  # quiet
    assert run("--verbose", "mailbox", "add", "b@corp.example", "--provider", "exmail").stdout
    plan = json.loads(run("plan", BOX, "--json").stdout)
    assert len(plan[0]["days"] if isinstance(plan, list) else plan["days"]) == 3
    longer = json.loads(run("plan", BOX, "--json", "--days", "5").stdout)
    assert len(longer[0]["days"] if isinstance(longer, list) else longer["days"]) == 5
    shown = _show(run)
    assert shown["commands.plan.days"] == (3, "config file")
    assert shown["output.quiet"] == (True, "config file")


def test_plan_days_from_the_file_does_not_bound_a_volume_search(cfg, run):
    """``[commands.plan] days = 3`` is how many days a plan shows; it bounded ``--volume``'s
    search as a typed ``--days`` does ("within 3 days?"), so every ``plan --volume`` exited 75
    "not reached within 3 days" for a volume weeks away."""
    cfg("[commands.plan]\ndays = 3\n")
    run("mailbox", "add", BOX, "--provider", "exmail")
    res = run("plan", BOX, "--volume", "1000", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["volume"]["date"] is not None
    typed = run("plan", BOX, "--volume", "1000", "--days", "3", "--json")
    assert typed.exit_code == 75 and json.loads(typed.stdout)["volume"]["within"] == 3


def test_notify_target_from_the_file_is_masked_and_below_the_environment(cfg, run, monkeypatch):
    monkeypatch.delenv("WARMUP_NOTIFY_WEBHOOK", raising=False)
    cfg('[notify]\nwebhook = "https://hooks.example/w?token=s3cr3t-tok"\n')
    run("mailbox", "add", BOX, "--provider", "exmail")
    value, source = _show(run)["notify.webhook"]
    assert source == "config file" and "s3cr3t-tok" not in str(value)
    assert "s3cr3t-tok" not in run("notify", "show").output
    assert "hooks.example" in run("notify", "show").output
    monkeypatch.setenv("WARMUP_NOTIFY_WEBHOOK", "https://other.example/hook")
    assert _show(run)["notify.webhook"][1] == "environment (WARMUP_NOTIFY_WEBHOOK)"


def test_secrets_in_a_command_s_table_are_masked_by_config_show(cfg, run):
    """A webhook token or a ledger password given as a command's option in the file
    (``[commands."notify set"] webhook``, ``[commands."db copy"] to``) was printed in full by
    ``config show``, which masks the same values under ``[notify]`` and ``db``."""
    cfg(
        '[commands."notify set"]\nwebhook = "https://hooks.example/w?token=s3cr3t-tok"\n\n'
        '[commands."db copy"]\nto = "postgresql+psycopg://warmup:pg-s3cr3t@127.0.0.1:1/x"\n'
    )
    run("mailbox", "add", BOX, "--provider", "exmail")
    shown = _show(run)
    assert shown["commands.notify set.webhook"] == ("https://hooks.example/...", "config file")
    assert shown["commands.db copy.to"] == (
        "postgresql+psycopg://warmup:***@127.0.0.1:1/x",
        "config file",
    )
    res = run("config", "show")
    assert res.exit_code == 0 and "s3cr3t" not in res.output
    assert "hooks.example" in res.output


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("dbb = 'x'\n", "dbb: unknown key"),
        ("[output]\nqiet = true\n", "output.qiet: unknown key"),
        ("[output]\nquiet = 'yes'\n", "output.quiet: expected a bool"),
        ("db = \n", "config.toml: Invalid"),
        ("[commands]\nplan = 3\n", "expected tables"),
        # Not text: the ledger ./5 of the working directory (a number is no path beside the file)
        ("[commands.quota]\ndb = 5\n", "[commands.quota] db: expected a SQLite path or a"),
        # A blank table name crashed every command with a traceback (ValueError, exit 1).
        ('[commands.""]\ndays = 3\n', '[commands.""]: expected a command name'),
        ('[commands."  "]\ndays = 3\n', '[commands."  "]: expected a command name'),
        # tomllib recursed once per level: a RecursionError traceback, exit 1, every command.
        ("x = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ],
)
def test_a_bad_file_is_one_line_exit_78_and_nothing_written(cfg, run, ledger_path, text, words):
    run("mailbox", "add", BOX, "--provider", "exmail")
    before = ledger_digest(ledger_path)
    cfg(text)
    res = run("quota", BOX)
    assert res.exit_code == 78, res.output
    assert res.output.startswith("Error: config file ") and words in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert ledger_digest(ledger_path) == before


def test_config_show_names_an_option_no_command_has(cfg, run):
    cfg("[commands.plan]\ndayz = 3\n")
    res = run("config", "show")
    assert res.exit_code == 78 and "[commands.plan] dayz" in res.output
    cfg('[commands."queue add"]\ncampaign = "nov"\n')
    assert _show(run)["commands.queue add.campaign"] == ("nov", "config file")


def test_config_path_follows_the_environment(cfg, run, tmp_path):
    assert run("config", "path").stdout.strip() == str(tmp_path / "config.toml")


@pytest.mark.parametrize("xdg", [None, "/srv/conf", "relative/dir"])
def test_the_default_path_is_platformdirs_own(monkeypatch, xdg):
    """On Linux the path is computed without importing platformdirs: it must be the same."""
    import platformdirs

    monkeypatch.delenv("WARMUP_CONFIG", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert config.path() == platformdirs.user_config_path("warmup") / "config.toml"


@pytest.mark.parametrize("xdg", [None, "/srv/data", "relative/dir", " "])
def test_the_default_ledger_path_follows_the_xdg_rule_like_platformdirs(monkeypatch, xdg):
    """A relative XDG_DATA_HOME is to be ignored (XDG base directory spec; platformdirs and
    config.path() do): it was used, so the default ledger was a different file in every
    working directory, each with its own history and its own quota."""
    import platformdirs

    from warmup.ledger import default_path

    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    assert default_path() == platformdirs.user_data_path("warmup") / "ledger.db"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[commands.plan]\ndays = "lots"\n', ["[commands.plan] days: 'lots'"]),
        ("[commands.plan]\ndays = -5\n", ["[commands.plan] days: -5"]),
        ("[commands.plan]\ndays = inf\n", ["[commands.plan] days: inf is not a finite number"]),
        ("[commands.plan]\ndays = nan\n", ["[commands.plan] days: nan is not a finite number"]),
        ('[commands."bounces list"]\nlimit = -1\n', ['[commands."bounces list"] limit: -1']),
        ("[commands.plan]\ndays = [30, 60]\n", ["[commands.plan] days: expected one value"]),
        ("[commands.plan]\ndays = {n = 30}\n", ["[commands.plan] days: expected a value, not"]),
        ("[commands.plan]\ndays = 2026-12-01\n", ["[commands.plan] days: '2026-12-01' is not"]),
        ("[commands.plan]\ndays = 10:00:00\n", ["[commands.plan] days: '10:00:00' is not"]),
    ],
)
def test_a_bad_value_in_the_config_file_is_a_config_error_naming_it(cfg, run, text, words):
    # It was "Invalid value for '--days'" with the usage text and exit 64, about a flag nobody
    # typed, and an OverflowError traceback for inf; a TypeError traceback, exit 1, for a TOML
    # list, table, date or time where click expects one value it can convert.
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    cfg(text)
    command = ["bounces", "list"] if "bounces" in text else ["plan", BOX]
    res = run(*command)  # an exception fails the test
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: config file "), res.output
    for w in words:
        assert w in res.output, res.output
    # The same value typed on the command line is still the usage error it always was.
    cfg("")
    res = (
        run("plan", BOX, "--days", "-5")
        if "plan" in text
        else run("bounces", "list", "--limit", "-1")
    )
    assert res.exit_code == 64 and "Invalid value for" in res.output, res.output


def _refused_78(cfg, run, ledger_path, text, command, words) -> None:  # type: ignore[no-untyped-def]
    """With a mailbox added, config ``text`` makes ``command`` exit 78 with one line holding
    ``words``, the ledger untouched."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg(text)
    res = run(*command)
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: config file "), res.output
    assert words in res.output, res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("text", "command", "words"),
    [
        ("[commands.plna]\ndays = 3\n", ["quota", BOX], "[commands.plna]: no such command"),
        ("[commands.plan]\ndayz = 3\n", ["plan", BOX], "[commands.plan] dayz: the command has no"),
        ('[commands."queue ad"]\ncampaign = "x"\n', ["queue", "list"], 'queue ad"]: no such'),
        ('[commands."queue add"]\ncampain = "x"\n', ["queue", "list"], "campain: the command"),
        # the nearest key named: the refusal listed every known key (or none: 'see warmup plan
        # --help') and left the user to spot that 'quite' was 'quiet'
        ("dbb = 'x'\n", ["quota", BOX], "did you mean 'db'?"),
        ("[outptu]\nquiet = true\n", ["quota", BOX], "did you mean 'output'?"),
        ("[output]\nquite = true\n", ["quota", BOX], "did you mean 'output.quiet'?"),
        ("[commands.plna]\ndays = 3\n", ["quota", BOX], "did you mean [commands.plan]?"),
        ("[commands.plan]\ndayz = 3\n", ["plan", BOX], "did you mean 'days'?"),
        ('[commands."queue ad"]\ncampaign = "x"\n', ["queue", "list"], "did you mean 'add'?"),
        ('[commands."queue add"]\ncampain = "x"\n', ["queue", "list"], "did you mean 'campaign'?"),
        ("[commands.plan]\ndayz = 3\n", ["config", "show"], "did you mean 'days'?"),
        # every word of a mistyped table mended: 'did you mean [commands."queue List"]?' named
        # a table as wrong as the one it mended
        ('[commands."Queue List"]\nlimit = 3\n', ["quota", BOX], '[commands."queue list"]?'),
        ('[commands."qeue lst"]\nlimit = 3\n', ["quota", BOX], '[commands."queue list"]?'),
    ],
)
def test_an_unknown_command_or_option_in_the_file_is_one_line_exit_78(
    cfg, run, ledger_path, text, command, words
):
    # They were ignored by every command but `config show`: a typo left the default in force
    # without a word, while README promised exit 78 for every command.
    _refused_78(cfg, run, ledger_path, text, command, words)


def test_a_repeatable_option_in_the_file_takes_a_list_and_a_date_reads_as_its_text(cfg, run):
    """A TOML date is handed to the command as the text the user wrote (``--since 2026-11-01``),
    and a repeatable option (``--eml``, ``--folder``) wants a list."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    cfg('[commands."bounces sync"]\nfolders = "Junk"\n')
    res = run("bounces", "sync", BOX)
    assert res.exit_code == 78, res.output
    assert '[commands."bounces sync"] folders: expected a list such as' in res.output, res.output
    assert res.output.count("\n") == 1, res.output
    cfg('[commands."mailbox add"]\nstarted = 2026-11-01\n')
    assert _show(run)["commands.mailbox add.started"] == ("2026-11-01", "config file")
    assert run("mailbox", "add", "b@corp.example", "--provider", "exmail").exit_code == 0
    assert json.loads(run("mailbox", "show", "b@corp.example", "--json").stdout)["started"] == (
        "2026-11-01"
    )


def test_a_table_for_another_group_s_subcommand_is_checked_when_that_group_runs(cfg, run):
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    cfg('[commands."queue add"]\ncampaign = "nov"\n[commands."bounces lst"]\nlimit = 3\n')
    res = run("plan", BOX)  # `bounces` is not imported for `plan`: `config show` checks it
    assert res.exit_code == 0, res.output
    res = run("bounces", "list")
    assert res.exit_code == 78 and '[commands."bounces lst"]: no such command' in res.output


def test_config_show_masks_the_password_of_the_ledger_url(cfg, run, monkeypatch):
    """``db`` was printed as given: a team ledger's password from $WARMUP_DB in plain text.
    The server being down (port 1) must not stop ``config show`` either: that is when one
    looks at where the ledger is."""
    cfg("")
    secret = "s3cret/Pw:x"  # '/' and ':' are a password's own (SQLAlchemy reads them so)
    monkeypatch.setenv("WARMUP_DB", f"postgresql+psycopg://warmup:{secret}@127.0.0.1:1/x")
    res = run("config", "show", "--json")
    assert res.exit_code == 0, res.output
    assert secret not in res.output and "s3cret" not in res.output
    db = next(row for row in json.loads(res.stdout)["settings"] if row["key"] == "db")
    assert db["value"] == "postgresql+psycopg://warmup:***@127.0.0.1:1/x"
    assert res.stderr.startswith("warning: ledger postgresql+psycopg://warmup:***@127.0.0.1:1/x")


@pytest.mark.parametrize("ledger", ["not-sqlite", "directory", "scheme", "password"])
def test_config_show_says_the_ledger_cannot_be_opened_and_shows_the_rest(
    cfg, run, monkeypatch, tmp_path, ledger
):
    """A ledger that cannot be opened was taken for "no ledger yet" (a file that is no ledger,
    a directory, an unknown scheme: shown as if in force, exit 0, without a word), or ended
    ``config show`` with nothing shown (a password the server refuses, 77): the command one
    runs to see why the others fail hid the reason, or showed nothing."""
    cfg("")
    if ledger == "not-sqlite":
        (tmp_path / "notes.db").write_text("not a ledger at all\n" * 10)
        url = str(tmp_path / "notes.db")
    elif ledger == "directory":
        url = str(tmp_path)
    elif ledger == "scheme":
        url = "mysql://warmup@127.0.0.1/warmup"
    else:
        import sqlalchemy as sa

        from tests.pgkit import pg_server

        url = sa.engine.make_url(pg_server()).set(password="wrong-pw").render_as_string(False)
    monkeypatch.setenv("WARMUP_DB", url)
    res = run("config", "show", "--json")
    assert res.exit_code == 0, res.output
    settings = {r["key"]: r for r in json.loads(res.stdout)["settings"]}
    assert settings["db"]["source"] == "environment"
    assert res.stderr.startswith("warning: ") and res.stderr.count("\n") == 1
    assert res.stderr.rstrip().endswith("; the ledger's settings are not shown")
    assert "wrong-pw" not in res.output


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_config_path_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    """Every command reads the config file: ``WARMUP_CONFIG`` naming a named pipe blocked every
    command until a writer came, and /dev/zero read without end (memory without bound)."""
    import os
    import subprocess
    from pathlib import Path

    target = {"fifo": tmp_path / "pipe.toml", "device": Path("/dev/zero"), "directory": tmp_path}
    if kind == "fifo":
        os.mkfifo(target[kind])
    proc = subprocess.run(
        [*forkcli.command(), "mailbox", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "WARMUP_CONFIG": str(target[kind])},
        check=False,
    )
    assert proc.returncode == 78, proc.stderr
    assert proc.stderr.startswith(f"Error: config file {target[kind]}: "), proc.stderr
    # A folder was "cannot read it ([Errno 21] Is a directory: 3)": the 3 a file descriptor.
    assert proc.stderr.endswith(": not a regular file; point WARMUP_CONFIG at one\n"), proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_a_config_path_of_dev_null_is_no_config(run, monkeypatch, ledger_path):
    """``WARMUP_CONFIG=/dev/null``, as git, pip and ``ssh -F`` take it, is no config file: it
    was "not a regular file; point WARMUP_CONFIG at one", exit 78, for every command."""
    monkeypatch.setenv("WARMUP_CONFIG", "/dev/null")
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    listed = run("mailbox", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[1].startswith("a@corp.example  exmail")
    shown = run("config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["file"] == "/dev/null"
    assert json.loads(shown.stdout)["exists"] is False


def test_an_option_is_named_in_the_file_as_on_the_command_line(cfg, run):
    """``mailbox add --timezone`` is the parameter ``tz`` in the code: ``timezone = ...`` (what
    --help shows) was "the command has no such option (see 'warmup mailbox add --help')", and
    only the undocumented ``tz`` worked."""
    cfg('[commands."mailbox add"]\ntimezone = "Europe/Berlin"\n')
    assert _show(run)["commands.mailbox add.timezone"] == ("Europe/Berlin", "config file")
    res = run("mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert json.loads(run("mailbox", "show", BOX, "--json").stdout)["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "[commands.plan]\ndays = true\n",
            "[commands.plan] days: expected a whole number, not true",
        ),
        ("[commands.plan]\ndays = 1.5\n", "[commands.plan] days: expected a whole number, not 1.5"),
        ('[commands."queue add"]\ncampaign = false\n', "campaign: expected text, not false"),
        # int() reads every script's digits: 'days = "٣"' planned 3 days
        (
            '[commands.plan]\ndays = "٣"\n',
            "[commands.plan] days: '٣': digits must be 0-9: write '3'",
        ),
        # and '1_000' (TOML's 1_000, unquoted, is the number 1000): planned 1000 days
        (
            '[commands.plan]\ndays = "1_000"\n',
            "[commands.plan] days: '1_000': write a whole number with the digits 0-9 alone: "
            "write '1000'",
        ),
    ],
)
def test_a_value_click_would_silently_bend_is_refused(cfg, run, ledger_path, text, words):
    """click converts with int() and str(): ``days = true`` planned 1 day, ``days = 1.5`` 1 day,
    ``campaign = false`` the campaign "False", each without a word."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg(text)
    res = run("queue", "list") if "queue" in text else run("plan", BOX)
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and res.output.startswith("Error: config file "), res.output
    assert words in res.output, res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("text", "command", "words"),
    [
        # An integer for an on/off flag reached click's str_to_bool: AttributeError, a
        # traceback and exit 1 for every 'suppress list'.
        (
            '[commands."suppress list"]\njson = 1\n',
            ["suppress", "list"],
            "json: expected true or false, not 1",
        ),
        ("[commands.quota]\njson = 0\n", ["quota", BOX], "json: expected true or false, not 0"),
        ('[commands.quota]\njson = "yes"\n', ["quota", BOX], "json: expected true or false"),
        # taken (bent by click) before the check: the way out is named, not "true, not 'true'"
        (
            '[commands.quota]\njson = "true"\n',
            ["quota", BOX],
            "json: expected true or false, not the text 'true': write it without quotes",
        ),
        ("[commands.quota]\njson = 1\n", ["config", "show"], "json: expected true or false"),
    ],
)
def test_a_flag_in_the_file_takes_true_or_false_only(cfg, run, ledger_path, text, command, words):
    _refused_78(cfg, run, ledger_path, text, command, words)
    cfg(
        text.replace("= 1", "= true")
        .replace("= 0", "= false")
        .replace('"yes"', "true")
        .replace('"true"', "true")
    )
    assert run(*command).exit_code == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "[commands.plan]\ndays = true\n",
            "[commands.plan] days: expected a whole number, not true",
        ),
        ('[commands."queue add"]\ncampaign = false\n', "campaign: expected text, not false"),
        ('[commands."queue add"]\ncampaign = ["a", "b"]\n', "campaign: expected one value"),
    ],
)
def test_config_show_refuses_a_value_the_commands_refuse(cfg, run, text, words):
    """``config show`` listed ``days = true`` as a setting in force while every other command
    refused it: the command a user runs to check the file said it was fine."""
    cfg(text)
    for args in (("config", "show"), ("config", "show", "--json")):
        res = run(*args)
        assert res.exit_code == 78, res.output
        assert res.output.count("\n") == 1, res.output
        assert res.output.startswith("Error: config file ") and words in res.output, res.output


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ('db = "postgresql+psycopg://warmup:s3cretPW@127.0.0.1:1/x"\n', "db"),
        ('db = "postgresql+psycopg://warmup@127.0.0.1:1/x?password=s3cretPW"\n', "db"),
        ('[notify]\nwebhook = "https://hooks.example/T0/s3cretPW"\n', "notify.webhook"),
        ('[notify]\nwebhook = "https://u:s3cretPW@hooks.example"\n', "notify.webhook"),
        (
            '[commands."notify set"]\nwebhook = "https://hooks.example/T0/s3cretPW"\n',
            "commands.notify set.webhook",
        ),
        (
            '[commands."db copy"]\nto = "postgresql+psycopg://warmup:s3cretPW@127.0.0.1:1/x"\n',
            "commands.db copy.to",
        ),
    ],
)
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_config_file_with_a_secret_readable_by_others_is_warned_of_once(
    cfg, run, tmp_path, text, keys, mode
):
    """Like ssh with a private key, but without refusing: a ledger password or a webhook token
    in a file the group or everyone may read was kept without a word."""
    cfg(text)
    where = tmp_path / "config.toml"
    where.chmod(mode)
    res = run("config", "path")
    assert res.exit_code == 0 and res.stdout == f"{where}\n", res.output
    assert res.stderr == (
        f"warning: config file {where} holds a secret ({keys}) and others can read it (mode "
        f"{mode:04o}); make it private with 'chmod 600 {where}'\n"
    )
    assert "s3cretPW" not in res.output
    where.chmod(0o600)
    config._LOADED.clear()
    assert run("config", "path").stderr == ""


@pytest.mark.parametrize("spelled", ["password-command", "password_command"])
def test_config_show_masks_a_secret_in_a_password_command(cfg, run, tmp_path, spelled):
    """'config show' masked the notify command's secrets but printed a password command as
    written: a vault token or a basic-authentication password in it ('curl -u me:TOKEN ...',
    'vault read -token=...') went to its table and its JSON."""
    cfg(
        f'[commands.send]\n{spelled} = "curl -s -u me:s3cretPW https://vault.example/pw"\n'
        f'[commands.run]\n{spelled} = "vault read -field=pw -token=s3cretPW kv/mail"\n'
    )
    (tmp_path / "config.toml").chmod(0o600)
    shown = _show(run)
    assert shown[f"commands.send.{spelled}"] == (
        "curl -s -u me:*** https://vault.example/pw",
        "config file",
    )
    assert shown[f"commands.run.{spelled}"] == (
        "vault read -field=pw -token=*** kv/mail",
        "config file",
    )
    table = run("config", "show")
    assert table.exit_code == 0 and "s3cretPW" not in table.output, table.output
    assert "curl -s -u me:*** https://vault.example/pw" in table.stdout, table.stdout


def test_a_config_file_without_a_secret_is_not_warned_of(cfg, run, tmp_path):
    cfg(
        'db = "postgresql+psycopg://warmup@127.0.0.1:1/x"\nmailbox = "a@corp.example"\n'
        '[notify]\nwebhook = "https://hooks.example"\ncommand = "notify-send warmup"\n'
    )
    (tmp_path / "config.toml").chmod(0o644)
    res = run("config", "path")
    assert res.exit_code == 0 and res.stderr == "", res.stderr


def test_a_config_path_under_a_user_that_does_not_exist_is_one_line(run, monkeypatch):
    """WARMUP_CONFIG=~bob/c.toml for a bob this machine lacks: a RuntimeError traceback, exit 1."""
    monkeypatch.setenv("WARMUP_CONFIG", "~no-such-user-of-warmup/c.toml")
    config._LOADED.clear()
    res = run("quota")
    assert res.exit_code == 78, res.output
    assert res.output == (
        "Error: $WARMUP_CONFIG '~no-such-user-of-warmup/c.toml': '~no-such-user-of-warmup' "
        "names no user of this machine; write the path without it (e.g. ~/... or /home/...)\n"
    )


@pytest.mark.parametrize(
    ("text", "command", "words"),
    [
        ('[commands.quota]\nat = "garbage"\n', ["quota"], "[commands.quota] at: 'garbage' is not"),
        (
            '[commands."queue add"]\nexpires = "bogus"\n',
            ["queue", "add", "--mailbox", BOX, "--eml", "m.eml"],
            "[commands.\"queue add\"] expires: 'bogus' is not a duration",
        ),
    ],
)
def test_a_value_the_command_itself_refuses_names_the_config_key_and_exits_78(
    cfg, run, ledger_path, tmp_path, monkeypatch, text, command, words
):
    """A value click accepts but the command refuses (a time, a duration) was reported as the
    flag ('--at: ...', exit 64) though the user typed no flag: README promises the key and 78."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.eml").write_text("To: x@example.com\nSubject: hi\n\nhello\n")
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg(text)
    res = run(*command)
    assert res.exit_code == 78, res.output
    assert res.output.startswith("Error: config file ") and res.output.count("\n") == 1
    assert words in res.output, res.output
    assert ledger_digest(ledger_path) == before


def test_a_relative_db_in_the_file_is_beside_the_file_not_in_the_working_directory(
    run, tmp_path, monkeypatch
):
    """``db = "ledger.db"`` was opened relative to wherever the command ran: a cron job (in
    $HOME) and a shell (in a project folder) silently kept two ledgers, each under quota."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.toml").write_text('db = "ledger.db"\n')
    monkeypatch.setenv("WARMUP_CONFIG", str(conf / "config.toml"))
    monkeypatch.delenv("WARMUP_DB")
    config._LOADED.clear()
    try:
        for where in ("one", "two"):
            (tmp_path / where).mkdir()
            monkeypatch.chdir(tmp_path / where)
            res = run("mailbox", "add", f"{where}@corp.example", "--provider", "exmail")
            assert res.exit_code == 0, res.output
            assert not (tmp_path / where / "ledger.db").exists()
        assert _show(run)["db"] == (str(conf / "ledger.db"), "config file")
        listed = run("mailbox", "list", "--json")
        assert {m["address"] for m in json.loads(listed.stdout)} == {
            "one@corp.example",
            "two@corp.example",
        }
    finally:
        config._LOADED.clear()


def test_a_file_saved_with_a_byte_order_mark_is_read(run, tmp_path, monkeypatch):
    """Windows Notepad (and PowerShell's Out-File) start UTF-8 with a byte order mark; tomllib
    refused the whole file with 'Invalid statement (at line 1, column 1)', a line that names
    nothing the user can see, and every command exited 78."""
    path = tmp_path / "config.toml"
    path.write_bytes(b'\xef\xbb\xbfmailbox = "sales@corp.example"\n')
    monkeypatch.setenv("WARMUP_CONFIG", str(path))
    config._LOADED.clear()
    try:
        assert _show(run)["mailbox"] == ("sales@corp.example", "config file")
    finally:
        config._LOADED.clear()


def test_a_bad_flag_value_in_the_file_is_named_as_the_user_wrote_it(cfg, run):
    """``[commands.quota] json = "x"`` was reported as 'json_' (the Python parameter's name),
    a key the file does not hold and that the user would look for in vain."""
    cfg('[commands.quota]\njson = "x"\n')
    res = run("quota")
    assert res.exit_code == 78, res.output
    assert "[commands.quota] json: " in res.output, res.output
    assert "json_" not in res.output


def test_a_malformed_mailbox_in_the_file_names_the_key_and_exits_78(cfg, run, ledger_path):
    """``mailbox = "sales"`` (warmup send's default) was refused as if typed: 'malformed
    mailbox address', exit 65, naming neither the file nor the key, which README promises
    (exit 78) for every value of the file that its option refuses."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg('mailbox = "sales"\n')
    res = run("send", "--to", "x@example.com", "--subject", "hi", "--body", "hello")
    assert res.exit_code == 78, res.output
    assert res.output.startswith(f"Error: config file {config.path()}: mailbox: ")
    assert "'sales'" in res.output and res.output.count("\n") == 1
    assert ledger_digest(ledger_path) == before


def test_a_table_for_a_db_subcommand_does_not_become_the_ledger(
    cfg, run, tmp_path, ledger_path, monkeypatch
):
    """click keeps the root's options and its groups' tables in one default_map, and the root's
    --db and the 'db' group share a name: '[commands."db migrate"] json = true' made every
    command's ledger the path "{'migrate': {'json': True}}" ('mailbox add' created it), and
    with 'db = ...' beside it every command died of a traceback (exit 1)."""
    monkeypatch.delenv("WARMUP_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    default = tmp_path / "data" / "warmup" / "ledger.db"
    cfg('[commands."db migrate"]\njson = true\n')
    res = run("mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert res.stderr == f"Created a new ledger at {default}.\n"
    res = run("db", "migrate")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ledger"] == str(default)
    cfg(f'db = "{ledger_path}"\n[commands."db migrate"]\njson = true\n')
    assert _show(run)["db"] == (str(ledger_path), "config file")
    res = run("db", "migrate")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ledger"] == str(ledger_path)


def test_a_relative_ledger_path_in_a_command_table_is_beside_the_file_too(
    run, tmp_path, monkeypatch
):
    """As the top-level 'db': '[commands."mailbox add"] db = "l.db"' and '[commands."db copy"]
    to = "backup.db"' were opened relative to wherever the command ran."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "config.toml").write_text(
        '[commands."mailbox add"]\ndb = "l.db"\n[commands."db copy"]\ndb = "l.db"\n'
        'to = "backup.db"\n'
    )
    monkeypatch.setenv("WARMUP_CONFIG", str(conf / "config.toml"))
    monkeypatch.delenv("WARMUP_DB")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    config._LOADED.clear()
    try:
        res = run("mailbox", "add", BOX, "--provider", "exmail")
        assert res.exit_code == 0, res.output
        res = run("db", "copy")
        assert res.exit_code == 0, res.output
        assert sorted(p.name for p in conf.iterdir() if p.suffix == ".db") == ["backup.db", "l.db"]
        assert list((tmp_path / "elsewhere").iterdir()) == []
    finally:
        config._LOADED.clear()


def test_config_show_names_where_the_chunking_switch_comes_from(cfg, run, monkeypatch):
    monkeypatch.delenv("WARMUP_SMTP_CHUNKING", raising=False)
    cfg("")
    assert _show(run)["smtp.chunking"] == (True, "default")
    cfg("[smtp]\nchunking = false\n")
    assert _show(run)["smtp.chunking"] == (False, "config file")
    monkeypatch.setenv("WARMUP_SMTP_CHUNKING", "on")
    assert _show(run)["smtp.chunking"] == (True, "environment (WARMUP_SMTP_CHUNKING)")
    monkeypatch.setenv("WARMUP_SMTP_CHUNKING", "sometimes")
    res = run("config", "show")
    assert res.exit_code == 78 and "WARMUP_SMTP_CHUNKING" in res.stderr, res.output
    assert res.stderr.count("\n") == 1


def test_a_mailbox_or_pool_the_file_names_that_is_not_there_is_the_files_fault_78(
    cfg, run, ledger_path
):
    """A mailbox or pool typed that names nothing is 64; one the config file holds (``mailbox``
    for 'warmup send', ``pool`` for 'warmup run') is a set-up found wrong: 78, naming the file."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg('mailbox = "ghost@corp.example"\npool = "ghostpool"\n')
    path = config.load().path
    res = run("send", "--to", "x@example.com", "--subject", "s", "--body", "b")
    assert res.exit_code == 78, res.output
    assert res.output.startswith(f"Error: config file {path}: mailbox 'ghost@corp.example' ")
    res = run("run", "--once", "--no-sync")
    assert res.exit_code == 78, res.output
    assert res.output.startswith(f"Error: config file {path}: pool 'ghostpool' not found")
    typed = run("send", "other@corp.example", "--to", "x@example.com", "--subject", "s")
    assert typed.exit_code == 64 and "config file" not in typed.output, typed.output
    assert ledger_digest(ledger_path) == before


def test_send_defaults_for_a_built_message_leave_a_command_and_an_eml_alone(
    cfg, run, tmp_path, ledger_path
):
    # A default subject made every 'send BOX -- CMD' exit 64 ("with a COMMAND, give no
    # --subject"), and a default cc sent an --eml message to that address alone.
    cfg('[commands.send]\nsubject = "Hello"\ncc = ["boss@example.com"]\n')
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).exit_code == 0
    )
    marker = tmp_path / "ran"
    res = run("send", BOX, "--", "touch", str(marker))
    assert res.exit_code == 0, res.output
    assert marker.exists()
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: lead@example.com\nSubject: own\n\nhi\n")
    res = run("send", BOX, "--eml", str(eml), "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["recipients"] == ["lead@example.com"]
    built = run("send", BOX, "--to", "lead@example.com", "--body", "hi", "--dry-run", "--json")
    assert json.loads(built.stdout)["recipients"] == ["lead@example.com", "boss@example.com"]
    # given as flags, they are still refused
    res = run("send", BOX, "--subject", "x", "--", "true")
    assert res.exit_code == 64 and "with a COMMAND, give no" in res.output
    res = run("send", BOX, "--eml", str(eml), "--cc", "c@example.com", "--dry-run")
    assert res.exit_code == 64 and "an --eml message is sent as it is" in res.output


@pytest.mark.parametrize(
    ("table", "args"),
    [
        ("wait = true", ["--queue", "--", "true"]),  # "--queue ... takes no --wait"
        ("wait = true", ["--refuse", "--", "true"]),  # "--wait and --refuse exclude each other"
        ("refuse = true", ["--wait", "--", "true"]),
        ("refuse = true", ["--to", "lead@example.com", "--body", "hi", "--dry-run"]),
        ('campaign = "nov"', ["--", "true"]),  # "--campaign goes with --queue"
        ('campaign = "nov"', ["--to", "lead@example.com", "--body", "hi", "--dry-run"]),
        ("queue = true", ["--to", "lead@example.com", "--body", "hi", "--dry-run"]),
    ],
)
def test_send_defaults_that_do_not_fit_the_form_given_are_left_out(cfg, run, table, args):
    # Each was refused (exit 64) as if given on the command line, for a form of 'send' it
    # did not apply to, or that a flag on the command line contradicted.
    cfg(f"[commands.send]\n{table}\n")
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).exit_code == 0
    )
    res = run("send", BOX, *args)
    assert res.exit_code == 0, res.output
    assert "Error" not in res.output


@pytest.mark.parametrize("written", ['"--to"', "TO", '"dry run"'])
def test_an_unknown_option_is_named_as_the_file_writes_it(cfg, run, ledger_path, written):
    """A key's dashes were turned into underscores before the check: ``"--to" = ...`` was
    reported as ``__to``, a key the file does not hold."""
    shown = written.strip('"')
    cfg(f'[commands.send]\n{written} = "lead@example.com"\n')
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("send", BOX, "--to", "lead@example.com", "--body", "hi", "--dry-run")
    assert res.exit_code == 78, res.output
    assert f"[commands.send] {shown}: the command has no such option" in res.output, res.output
    assert "__" not in res.output and res.output.count("\n") == 1, res.output
    res = run("config", "show")
    assert res.exit_code == 78 and f"[commands.send] {shown}: " in res.output, res.output


def test_a_dashed_option_name_in_the_file_still_works(cfg, run, tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("from the file\n")
    cfg(f'[commands.send]\n"body-file" = "{body}"\n')
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).exit_code == 0
    )
    res = run("send", BOX, "--to", "lead@example.com", "--subject", "s", "--dry-run", "--json")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("table", "flag"),
    [
        ("eml = {eml}", ["--body", "typed"]),
        ("eml = {eml}", ["--body-file", "{txt}"]),
        ("body = 'from the file'", ["--body-file", "{txt}"]),
        ("body-file = {txt}", ["--body", "typed"]),
    ],
)
def test_a_message_text_flag_wins_over_the_file_s_default_text(cfg, run, tmp_path, table, flag):
    """``eml = ...`` in [commands.send] plus ``--body`` on the command line was refused, "give
    exactly one of --body, --body-file, --eml": the flag typed wins over the file's default,
    as --eml typed already won over a body in the file."""
    eml, txt = tmp_path / "m.eml", tmp_path / "body.txt"
    eml.write_text(f"From: {BOX}\nTo: other@example.com\nSubject: own\n\nfrom the eml\n")
    txt.write_text("typed\n")
    names = {"eml": json.dumps(str(eml)), "txt": json.dumps(str(txt))}
    cfg(f"[commands.send]\n{table.format(**names)}\n".replace("body-file", '"body-file"'))
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).exit_code == 0
    )
    args = [a.format(txt=txt) for a in flag]
    res = run("send", BOX, "--to", "lead@example.com", *args, "--dry-run", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["recipients"] == ["lead@example.com"], res.output


@pytest.mark.parametrize(
    ("table", "typed", "shape"),
    [
        ('[commands.report]\nformat = "csv"', ["report", "--json"], "json"),
        ("[commands.report]\njson = true", ["report", "--format", "csv"], "csv"),
        ('[commands."suppress list"]\ncsv = true', ["suppress", "list", "--json"], "json"),
        ('[commands."suppress list"]\njson = true', ["suppress", "list", "--csv"], "csv"),
    ],
)
def test_an_output_flag_typed_wins_over_the_file_s_default_format(cfg, run, table, typed, shape):
    """``format = "csv"`` in [commands.report] made every 'warmup report --json' exit 64,
    "--json and --format csv disagree", as if the user had typed both (and so did ``csv = true``
    for 'suppress list --json'): the config file holds defaults below flags, so the format
    typed is the one printed."""
    cfg(f"{table}\n")
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("suppress", "add", "gone@example.com", "--reason", "asked").exit_code == 0
    res = run(*typed)
    assert res.exit_code == 0, res.output
    if shape == "json":
        assert json.loads(res.stdout)[0], res.output
    else:
        assert res.stdout.split(",")[0] in ("mailbox", "address"), res.output
    # Both typed is still refused: the user asked for two formats at once.
    both = ["suppress", "list", "--csv", "--json"]
    both = both if typed[0] == "suppress" else ["report", "--json", "--format", "csv"]
    res = run(*both)
    assert res.exit_code == 64 and ("not both" in res.output or "disagree" in res.output), (
        res.output
    )


@pytest.mark.parametrize("key", ['"dkim-selector"', "dkim_selector", "selectors"])
def test_a_dashed_key_whose_parameter_has_another_name_is_used(cfg, run, key):
    """Keys kept as written (1f297ee): ``"dkim-selector"`` reached click's default map as
    ``dkim_selector``, no parameter's name (``doctor --dkim-selector`` is ``selectors``), and was
    silently ignored, while ``config show`` listed it as in force. A selector no DNS name can
    be is refused before any check: proof the file's value is the one used."""
    cfg(f'[commands.doctor]\n{key} = ["a..b"]\n')
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    res = run("doctor", BOX, "--timeout", "1")
    assert res.exit_code == 64, res.output
    assert res.stderr.startswith("Error: --dkim-selector 'a..b': "), res.output


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("hooks.example.com/warmup?key=s3cr3t-tok", "hooks.example.com/..."),
        ("hooks.example.com", "hooks.example.com"),
        ("hooks.example.com:8443/s3cr3t-tok", "hooks.example.com:8443/..."),
        ("127.0.0.1:8080/hook/s3cr3t-tok", "127.0.0.1:8080/..."),
        ("s3cr3t-tok", "(URL without a host)"),  # a key pasted alone: nothing of it
        ("eyJhbGciOi.eyJzdWIiOi.s3cr3t-tok", "(URL without a host)"),  # a token with dots
        ("user:s3cr3t-tok@hooks.example.com/hook", "(URL without a host)"),
        ("mailto:s3cr3t-tok@example.com", "mailto:..."),
        ("https:hooks.example.com/s3cr3t-tok", "https:..."),
        ("https://hooks.example.com/s3cr3t-tok", "https://hooks.example.com/..."),
    ],
)
def test_a_webhook_without_a_scheme_or_host_is_masked_usefully(url, shown):
    """A webhook typed without its scheme was masked as ``://?/...``: nothing to recognise it
    by. Its host is shown when it looks like one (never the rest: it may be the token)."""
    assert config.mask(url) == shown
    assert "s3cr3t" not in config.mask(url)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "hooks.example.com/warmup?key=s3cr3t-tok",  # was shown as "://?/..."
            "hooks.example.com/... has no http:// or https:// in front",
        ),
        (
            "localhost:8080/hook?key=s3cr3t-tok",  # a "localhost" scheme to urlsplit
            "localhost:8080/... has no http:// or https:// in front",
        ),
        (
            "user:s3cr3t-tok@hooks.example.com/hook",  # a "user" scheme: nothing of it shown
            "(URL without a host) is not an http:// or https:// URL with a host",
        ),
        (
            "ftp://hooks.example.com/hook?key=s3cr3t-tok",
            "ftp://hooks.example.com/... is not an http:// or https:// URL with a host",
        ),
        (
            "https://hooks.example.com:99999/s3cr3t-tok",
            "(unreadable URL) has a host or port that cannot be read",
        ),
        ("   ", "expected an http:// or https:// URL, not blank; or remove the key"),
    ],
)
def test_a_webhook_in_the_file_that_is_no_http_url_is_refused_as_the_file_is_read(
    cfg, run, ledger_path, url, said
):
    """``[notify] webhook = "hooks.example.com/..."`` was taken, and only the first event, days
    later, found it undeliverable (logged in the worker's log, the pause it reported unheard).
    Refused as any bad key of the file is: every command, 'config show' and 'doctor' included,
    one line naming the file and the key, the token never shown, exit 78."""
    run("mailbox", "add", BOX, "--provider", "exmail")
    before = ledger_digest(ledger_path)
    cfg(f'[notify]\nwebhook = "{url}"\n')
    path = config.path()
    for args in (
        ("quota", BOX),
        ("config", "show"),
        ("doctor", BOX, "--no-domain", "--timeout", "1"),
    ):
        res = run(*args)
        assert res.exit_code == 78, (args, res.output)
        (line,) = res.output.splitlines()
        assert line.startswith(f"Error: config file {path}: notify.webhook: "), line
        assert said in line and "s3cr3t" not in line
    assert ledger_digest(ledger_path) == before
    cfg('[notify]\nwebhook = "https://hooks.example.com/warmup"\n')
    assert run("quota", BOX).exit_code == 0


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (
            "hooks.example.com/warmup?key=s3cr3t-tok",
            "hooks.example.com/... has no http:// or https:// in front",
        ),
        (
            "ftp://hooks.example.com/hook?key=s3cr3t-tok",
            "ftp://hooks.example.com/... is not an http:// or https:// URL with a host",
        ),
        (
            "https://hooks.example.com:99999/s3cr3t-tok",
            "(unreadable URL) has a host or port that cannot be read",
        ),
        ("   ", "expected an http:// or https:// URL, not blank; or unset it"),
    ],
)
def test_a_webhook_in_the_environment_that_is_no_http_url_is_refused_as_the_files_is(
    cfg, run, ledger_path, monkeypatch, url, said
):
    """``$WARMUP_NOTIFY_WEBHOOK`` was checked only when an event was sent (a worker's log,
    days later) while the file's webhook is refused as the file is read: now the variable is
    refused at that same point, in the same shape, naming it: every command, exit 78, one
    line, the token never shown, the ledger untouched."""
    run("mailbox", "add", BOX, "--provider", "exmail")
    before = ledger_digest(ledger_path)
    cfg('[notify]\nwebhook = "https://hooks.example.com"\n')  # good, and below the variable
    monkeypatch.setenv("WARMUP_NOTIFY_WEBHOOK", url)
    for args in (
        ("quota", BOX),
        ("config", "show"),
        ("notify", "show"),
        ("doctor", BOX, "--no-domain", "--timeout", "1"),
    ):
        res = run(*args)
        assert res.exit_code == 78, (args, res.output)
        (line,) = res.output.splitlines()
        assert line.startswith("Error: $WARMUP_NOTIFY_WEBHOOK: "), line
        assert said in line and "s3cr3t" not in line
        if url.strip():
            assert line.endswith("; give one like https://hooks.example.com/warmup"), line
    assert ledger_digest(ledger_path) == before
    monkeypatch.setenv("WARMUP_NOTIFY_WEBHOOK", "")  # empty: unset, as notify reads it
    assert run("quota", BOX).exit_code == 0
    monkeypatch.setenv("WARMUP_NOTIFY_WEBHOOK", "https://other.example/hook")
    assert run("quota", BOX).exit_code == 0


def test_a_config_variable_naming_no_file_is_one_line(run, monkeypatch, tmp_path, ledger_path):
    """WARMUP_CONFIG=/etc/warmup/cnofig.toml (a typo) ran every command with no config at all."""
    missing = tmp_path / "cnofig.toml"
    monkeypatch.setenv("WARMUP_CONFIG", str(missing))
    config._LOADED.clear()
    res = run("mailbox", "add", "a@corp.example", "--provider", "exmail")
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: $WARMUP_CONFIG names {missing}, which does not exist; fix the path or unset "
        "WARMUP_CONFIG\n"
    )
    assert not ledger_path.exists()


def test_the_default_config_file_may_be_missing(run, monkeypatch, tmp_path):
    monkeypatch.delenv("WARMUP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "nowhere"))
    config._LOADED.clear()
    res = run("config", "show")
    assert res.exit_code == 0, res.output
    assert f"Config file: {tmp_path / 'nowhere' / 'warmup' / 'config.toml'} (none)" in res.output


@pytest.mark.parametrize("text", ["bad = = toml\n", "[output]\nquiet = 3\n", "[commands.qouta]\n"])
def test_a_broken_config_file_still_lets_config_path_and_help_answer(cfg, run, tmp_path, text):
    """Every command exited 78 on a broken config file, 'config path' and '--help' too: the
    command that says where the file is, and the help that says what it may hold, were the
    two a user needs to fix it. Every other command still refuses, the ledger untouched."""
    cfg(text)
    res = run("config", "path")
    assert (res.exit_code, res.stdout) == (0, f"{tmp_path / 'config.toml'}\n"), res.output
    for args in (("--help",), ("quota", "--help"), ("mailbox", "add", "-h"), ("config", "--help")):
        res = run(*args)
        assert res.exit_code == 0 and res.stdout.startswith("Usage: "), (args, res.output)
    for args in (("quota",), ("config", "show"), ("mailbox", "add", BOX, "--provider", "exmail")):
        res = run(*args)
        assert res.exit_code == 78, (args, res.output)
        assert res.output.startswith(f"Error: config file {tmp_path / 'config.toml'}"), res.output


@pytest.mark.parametrize(
    "args",
    [
        ("queue", "list", "--campaign", "-h"),
        ("queue", "list", "--campaign", "--help"),
        ("sendmail", "-h"),  # sendmail's help is --help only: its -h is no help
        ("send", "--", "true", "-h"),
    ],
)
def test_a_help_word_that_is_no_help_option_does_not_run_past_a_broken_config_file(
    cfg, run, tmp_path, args
):
    """Any '-h' or '--help' among the words let a command run with the broken config file
    ignored, its 'db' too: 'queue list --campaign -h' read another ledger than the file names.
    Only a help option as click parses it (not an option's value) answers without the file."""
    cfg("bad = = toml\n")
    res = run(*args)
    assert res.exit_code == 78, (args, res.output)
    assert res.output.startswith(f"Error: config file {tmp_path / 'config.toml'}"), res.output
    assert not Path(os.environ["WARMUP_DB"]).exists()


@pytest.mark.parametrize(
    "args",
    [
        ("queue", "-h", "list"),
        ("queue", "list", "--state", "sent", "-h"),
        ("sendmail", "-t", "--help"),
    ],
)
def test_a_help_option_anywhere_click_reads_one_answers_with_a_broken_config_file(cfg, run, args):
    cfg("bad = = toml\n")
    res = run(*args)
    assert res.exit_code == 0 and res.stdout.startswith("Usage: "), (args, res.output)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("table", ["", "[commands.quota]\n"])
def test_a_ledger_the_config_file_names_wrong_is_said_to_be_fixed_there(
    cfg, run, tmp_path, monkeypatch, backend, table
):
    """A ledger URL from the config file's db that the server refused ('database "x" does not
    exist', 78) or a path too long for the system (64) said "check the URL in --db/WARMUP_DB":
    the user looked at a command line and an environment that held none. The line names the
    file, where the fix is; a --db typed still names --db."""
    if backend == "postgresql":
        from urllib.parse import urlsplit

        from tests.pgkit import pg_server

        url = urlsplit(pg_server())._replace(path="/warmup_no_such_database").geturl()
        code = 78
    else:
        url, code = str(tmp_path / ("a" * 300 + ".db")), 64
    monkeypatch.delenv("WARMUP_DB", raising=False)
    cfg(f"{table}db = {json.dumps(url)}\n")
    os.chmod(tmp_path / "config.toml", 0o600)  # a password in it: no warning about that
    res = run("quota")
    assert res.exit_code == code, res.output
    assert "--db/WARMUP_DB" not in res.stderr, res.stderr
    assert f"the config file's db ({tmp_path / 'config.toml'})" in res.stderr, res.stderr
    assert res.stderr.count("\n") == 1, res.stderr
    res = run("quota", "--db", url)
    assert res.exit_code == code and "--db/WARMUP_DB" in res.stderr, res.output


@pytest.mark.parametrize(
    "text",
    [
        'db = "a\\u0000b.db"',
        '[commands."mailbox add"]\ndb = "\\u0000"',
        '[commands."db copy"]\nto = "backup\\u0000.db"',
    ],
)
def test_a_ledger_path_in_the_file_holding_a_nul_is_one_line_78(cfg, run, monkeypatch, text):
    """TOML's "\\u0000" is the one way a NUL reaches a ledger path (no argument or environment
    variable can carry one): os.path's ValueError was a traceback, exit 1, for every command."""
    monkeypatch.delenv("WARMUP_DB")
    cfg(text)
    res = run("mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1, res.output
    said = "holds a NUL character (\\u0000), which no file name, URL, name or command can"
    assert said in res.output, res.output


@pytest.mark.parametrize(
    ("text", "key", "args"),
    [
        ('pool = "outreach\\u0000"', "pool", ["run", "--once"]),
        ('[notify]\ncommand = "page\\u0000 --token t0k3n"', "notify.command", ["notify", "test"]),
        (
            '[commands."queue add"]\ncampaign = "nov\\u0000"',
            '[commands."queue add"] campaign',
            ["queue", "add", "--mailbox", BOX, "--eml", "m.eml"],
        ),
        (
            '[commands."record send"]\nto = ["a@example.com", "b\\u0000@example.com"]',
            '[commands."record send"] to',
            ["record", "send", BOX],
        ),
        (
            'db = "postgresql+psycopg://warmup:s3cret@127.0.0.1/warmup\\u0000"',
            "db",
            ["quota", BOX],
        ),
    ],
)
def test_a_value_in_the_file_holding_a_nul_is_one_line_78_naming_the_key(
    cfg, run, ledger_path, tmp_path, monkeypatch, text, key, args
):
    """A NUL (TOML's "\\u0000") in any value of the file, not only a ledger path's: a notify
    command's was "embedded null byte" after 4 tries, exit 69; a campaign's was queued (its
    messages in a campaign no one can name), a pool's looked for and "not found". Refused as
    the file is read, whatever the command, naming the file and the key, never the value (it
    may hold a secret); nothing written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.eml").write_bytes(
        b"From: sales@corp.example\r\nTo: lead@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    cfg(text)
    if key == "db":
        monkeypatch.delenv("WARMUP_DB")
    res = run(*args)
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: config file {tmp_path / 'config.toml'}: {key}: holds a NUL character "
        "(\\u0000), which no file name, URL, name or command can; remove it\n"
    ), res.output
    assert ledger_digest(ledger_path) == before


def test_demo_s_plot_and_no_plot_typed_win_over_the_file_s(cfg, run, tmp_path):
    """``[commands.demo] plot = ...`` with ``demo --no-plot`` typed (or ``no-plot = true`` with
    ``--plot X`` typed) was refused, "not both": the flag typed wins over the file's default,
    as README says for every option. Both typed are still refused."""
    chosen = tmp_path / "figs" / "chosen.png"
    chosen.parent.mkdir()
    cfg(f"[commands.demo]\nplot = {json.dumps(str(chosen))}\n")
    res = run("demo", "--days", "2", "--no-plot")
    assert res.exit_code == 0, res.output
    assert "plotted to" not in res.output and not chosen.exists()
    cfg('[commands.demo]\n"no-plot" = true\n')
    res = run("demo", "--days", "2", "--plot", str(chosen))
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == str(chosen.resolve()) and chosen.exists()
    res = run("demo", "--days", "2", "--plot", str(chosen), "--no-plot")
    assert res.exit_code == 64 and "not both" in res.output


def test_pool_overflow_off_typed_wins_over_the_file_s_channel(cfg, run, ledger_path):
    """``[commands."pool overflow"] host = ...`` (the team's ESP relay, so that 'pool overflow
    P' needs no flags) made ``pool overflow P --off`` impossible: "--off takes no --host".
    The flag typed wins over the file's default; a --host typed with --off is still refused."""
    cfg('[commands."pool overflow"]\nhost = "127.0.0.1"\nsecurity = "none"\nport = 2525\n')
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "P", BOX).exit_code == 0
    res = run("pool", "overflow", "P")
    assert res.exit_code == 0, res.output
    assert json.loads(run("pool", "list", "--json").stdout)[0]["overflow"] is not None
    res = run("pool", "overflow", "P", "--off")
    assert res.exit_code == 0, res.output
    assert res.output == "Pool P: no overflow channel; its bulk messages wait for the members.\n"
    assert json.loads(run("pool", "list", "--json").stdout)[0]["overflow"] is None
    before = ledger_digest(ledger_path)
    for typed in (["--port", "25"], ["--host", "127.0.0.1"]):
        res = run("pool", "overflow", "P", "--off", *typed)
        assert res.exit_code == 64, res.output
        assert "--off takes no --host, --port, --security or --user" in res.output
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    ("text", "typed", "quiet", "verbose"),
    [
        (
            "[output]\nquiet = true\n",
            ["-v"],
            (False, "config file, overridden by output.verbose"),
            (True, "flag"),
        ),
        (
            "[output]\nverbose = true\n",
            ["-q"],
            (True, "flag"),
            (False, "config file, overridden by output.quiet"),
        ),
        (
            "[output]\nquiet = true\nverbose = true\n",
            [],
            (False, "config file, overridden by output.verbose"),
            (True, "config file"),
        ),
        ("[output]\nquiet = true\n", [], (True, "config file"), (False, "default")),
    ],
)
def test_config_show_lists_quiet_and_verbose_as_in_force(cfg, run, text, typed, quiet, verbose):
    """``quiet = true`` in the file with ``-v`` typed: the typed -v wins, yet 'config show'
    listed output.quiet True from the config file beside output.verbose True, as if both were
    in force. It lists what is heeded, and what the one set but not heeded yields to."""
    cfg(text)
    res = run(*typed, "config", "show", "--json")
    assert res.exit_code == 0, res.output
    shown = {r["key"]: (r["value"], r["source"]) for r in json.loads(res.stdout)["settings"]}
    assert (shown["output.quiet"], shown["output.verbose"]) == (quiet, verbose)
