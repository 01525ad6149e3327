"""Shell completion (``warmup completion``) and "did you mean" for a mistyped mailbox.

The bash test sources the script ``warmup completion bash`` prints into a real bash and asks its
completion function what TAB offers, as bash itself would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ledger_digest
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)

BASH = shutil.which("bash")


def _bash_offers(queries: list[list[str]], env: dict[str, str]) -> list[list[str]]:
    """What bash's TAB offers after each of ``queries`` (the last word is being typed): the
    script ``warmup completion bash`` prints, sourced once into one real bash."""
    script = (
        'eval "$(warmup completion bash)"\n'
        'for q in "$@"; do\n'
        '  read -ra COMP_WORDS <<< "$q"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()\n'
        "  _warmup_completion warmup\n"
        '  printf "%s\\n" "${COMPREPLY[@]}" "--"\n'
        "done\n"
    )
    bindir = str(Path(sys.executable).parent)
    assert BASH is not None
    res = subprocess.run(
        [BASH, "-c", script, "bash", *(" ".join(words) for words in queries)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "PATH": bindir + os.pathsep + os.environ["PATH"]},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    answers = [[w for w in part.split("\n") if w] for part in res.stdout.split("--\n")]
    assert answers[-1] == [] and len(answers) == len(queries) + 1, res.stdout
    return answers[:-1]


def _offers(words: list[str], env: dict[str, str]) -> list[str]:
    """What the completion bash calls answers after ``words``, asked in-process: the same click
    machinery the script reaches through ``_WARMUP_COMPLETE=bash_complete``, without starting
    two interpreters per question (the bash test below goes through the real shell)."""
    from warmup.cli import cli

    res = CliRunner().invoke(
        cli,
        [],
        prog_name="warmup",
        env={
            **env,
            "_WARMUP_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert res.exit_code == 0, res.output
    return [line.split(",", 1)[1] for line in res.output.splitlines() if line]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
@pytest.mark.slow
def test_bash_completes_mailbox_addresses_from_the_ledger(run, ledger_path):
    for address in ("sales@corp.example", "sam@corp.example", "ops@corp.example"):
        assert run("mailbox", "add", address, "--provider", "exmail").exit_code == 0
    env = {"WARMUP_DB": str(ledger_path)}
    sa, provider = _bash_offers(
        [
            ["warmup", "quota", "sa"],
            ["warmup", "mailbox", "add", "x@y.example", "--provider", "ne"],
        ],
        env,
    )
    assert sorted(sa) == ["sales@corp.example", "sam@corp.example"]
    assert provider == ["netease"]
    assert _offers(["warmup", "quota", "sa"], env) == sa  # in-process: what bash was given


def test_completion_offers_mailboxes_pools_policies_and_commands(run, ledger_path):
    for address in ("sales@corp.example", "sam@corp.example", "ops@corp.example"):
        assert run("mailbox", "add", address, "--provider", "exmail").exit_code == 0
    env = {"WARMUP_DB": str(ledger_path)}
    assert _offers(["warmup", "quota", "sal"], env) == ["sales@corp.example"]
    assert _offers(["warmup", "mailbox", "show", "o"], env) == ["ops@corp.example"]
    assert "exmail" in _offers(
        ["warmup", "mailbox", "set", "ops@corp.example", "--policy", "e"], env
    )
    assert {"quota", "queue"} <= set(_offers(["warmup", "qu"], env))
    assert run("pool", "add", "outreach", "sales@corp.example").exit_code == 0
    assert run("pool", "add", "ops-team", "ops@corp.example").exit_code == 0
    assert _offers(["warmup", "run", "--pool", "ou"], env) == ["outreach"]
    assert _offers(["warmup", "pool", "show", "op"], env) == ["ops-team"]
    assert _offers(["warmup", "queue", "add", "--pool", "o"], env) == ["ops-team", "outreach"]


def test_completion_never_creates_a_ledger(tmp_path):
    missing = tmp_path / "nowhere" / "ledger.db"
    assert _offers(["warmup", "quota", "s"], {"WARMUP_DB": str(missing)}) == []
    assert not missing.parent.exists()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_each_shells_script(run, shell):
    res = run("completion", shell)
    assert res.exit_code == 0
    assert "_WARMUP_COMPLETE" in res.stdout
    assert f"{shell}_complete" in res.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error(run):
    res = run("completion", "tcsh")
    assert res.exit_code == 64
    assert "tcsh" in res.output


def test_a_mistyped_mailbox_gets_did_you_mean(run, ledger_path):
    assert run("mailbox", "add", "sales@corp.example", "--provider", "exmail").exit_code == 0
    before = ledger_digest(ledger_path)
    for args in (
        ("quota", "sale@corp.example"),
        ("mailbox", "show", "SALES@corp.exampel"),
        ("plan", "sales@corp.exmple"),
    ):
        res = run(*args)
        assert res.exit_code == 64, res.output
        assert "did you mean 'sales@corp.example'?" in res.output, res.output
    far = run("quota", "zed@other.example")
    assert far.exit_code == 64
    assert "did you mean" not in far.output
    assert "warmup mailbox add zed@other.example" in far.output
    assert ledger_digest(ledger_path) == before


def test_completion_with_a_broken_config_file_offers_and_prints_nothing_else(
    run, ledger_path, tmp_path
):
    """A config file that does not parse: every TAB wrote its "Error: config file ..." line
    into the command line being typed, exit 78, and offered nothing. Completion completes;
    the command, once run, still refuses the file (exit 78)."""
    from tests import forkcli

    assert run("mailbox", "add", "sales@corp.example", "--provider", "exmail").exit_code == 0
    broken = tmp_path / "config.toml"
    broken.write_text("this is not toml\n")
    command = forkcli.command()
    env = {**os.environ, "WARMUP_DB": str(ledger_path), "WARMUP_CONFIG": str(broken)}
    for words, offered in (
        (["warmup", "quota", "s"], ["plain,sales@corp.example"]),
        (["warmup", "quot"], ["plain,quota"]),
    ):
        asked = {
            "_WARMUP_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(words),
            "COMP_CWORD": str(len(words) - 1),
        }
        res = subprocess.run(
            command, capture_output=True, text=True, env={**env, **asked}, timeout=120, check=False
        )
        assert (res.returncode, res.stderr) == (0, ""), res.stderr
        assert res.stdout.splitlines() == offered
    res = subprocess.run(
        [*command, "quota"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert res.returncode == 78 and "config file" in res.stderr, res.stderr


def test_completion_offers_a_pool_or_policy_whose_name_has_capitals(run, ledger_path, tmp_path):
    """What was typed was lowered and compared with the names as stored: pool and policy names
    keep their case, so 'Outreach' (or 'Careful') was offered for nothing typed, never for
    "Out" (as the user reads it in 'pool list') nor "out"."""
    assert run("mailbox", "add", "sales@corp.example", "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "Outreach", "sales@corp.example").exit_code == 0
    policy = tmp_path / "careful.toml"
    policy.write_text(run("policy", "show", "exmail").stdout)
    assert run("policy", "add", "Careful", str(policy)).exit_code == 0, "policy add"
    env = {"WARMUP_DB": str(ledger_path)}
    for typed in ("Out", "out", "OUT"):
        assert _offers(["warmup", "pool", "show", typed], env) == ["Outreach"], typed
        assert _offers(["warmup", "run", "--pool", typed], env) == ["Outreach"], typed
    for typed in ("Car", "car"):
        offered = _offers(
            ["warmup", "mailbox", "set", "sales@corp.example", "--policy", typed], env
        )
        assert offered == ["Careful"], typed
    assert "exmail" in _offers(
        ["warmup", "mailbox", "set", "sales@corp.example", "--policy", "EX"], env
    )


def test_completion_never_upgrades_an_older_ledger(ledger_url):  # noqa: F811
    """A TAB opened an older ledger as a command does, upgrading it: a write (on a team's
    PostgreSQL ledger, under its migration lock) that hosts still on the older warmup then
    refuse, made by a keystroke. An older ledger offers nothing; 'warmup db migrate' (or any
    command) upgrades it."""
    from warmup.ledger import open_ledger

    old = open_ledger(ledger_url, migrate=False)
    old.migrate(upto="m001_initial")
    behind = len(old.pending_migrations())
    old.close()
    assert behind > 0
    env = {"WARMUP_DB": ledger_url}
    assert _offers(["warmup", "quota", "s"], env) == []
    assert _offers(["warmup", "pool", "show", "o"], env) == []
    assert _offers(["warmup", "mailbox", "set", "a@corp.example", "--policy", "ex"], env) == [
        "exmail"
    ]
    again = open_ledger(ledger_url, migrate=False)
    try:
        assert len(again.pending_migrations()) == behind
    finally:
        again.close()
