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

from tests.conftest import ledger_digest

BASH = shutil.which("bash")


def _offers(words: list[str], env: dict[str, str]) -> list[str]:
    """What bash's TAB offers after ``words`` (the last one is being typed)."""
    script = (
        'eval "$(warmup completion bash)"\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        "_warmup_completion warmup\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    bindir = str(Path(sys.executable).parent)
    assert BASH is not None
    res = subprocess.run(
        [BASH, "-c", script, "bash", *words],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "PATH": bindir + os.pathsep + os.environ["PATH"]},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return [line for line in res.stdout.splitlines() if line]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
def test_bash_completes_mailbox_addresses_from_the_ledger(run, ledger_path):
    for address in ("sales@corp.example", "sam@corp.example", "ops@corp.example"):
        assert run("mailbox", "add", address, "--provider", "exmail").exit_code == 0
    env = {"WARMUP_DB": str(ledger_path)}
    assert sorted(_offers(["warmup", "quota", "sa"], env)) == [
        "sales@corp.example",
        "sam@corp.example",
    ]
    assert _offers(["warmup", "quota", "sal"], env) == ["sales@corp.example"]
    assert _offers(["warmup", "mailbox", "show", "o"], env) == ["ops@corp.example"]
    assert _offers(["warmup", "mailbox", "add", "x@y.example", "--provider", "ne"], env) == [
        "netease"
    ]
    assert "exmail" in _offers(
        ["warmup", "mailbox", "set", "ops@corp.example", "--policy", "e"], env
    )
    assert {"quota", "queue"} <= set(_offers(["warmup", "qu"], env))
    assert run("pool", "add", "outreach", "sales@corp.example").exit_code == 0
    assert run("pool", "add", "ops-team", "ops@corp.example").exit_code == 0
    assert _offers(["warmup", "run", "--pool", "ou"], env) == ["outreach"]
    assert _offers(["warmup", "pool", "show", "op"], env) == ["ops-team"]
    assert _offers(["warmup", "queue", "add", "--pool", "o"], env) == ["ops-team", "outreach"]


@pytest.mark.skipif(BASH is None, reason="bash is not installed")
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
        assert res.exit_code == 78, res.output
        assert "did you mean 'sales@corp.example'?" in res.output, res.output
    far = run("quota", "zed@other.example")
    assert far.exit_code == 78
    assert "did you mean" not in far.output
    assert "warmup mailbox add zed@other.example" in far.output
    assert ledger_digest(ledger_path) == before
