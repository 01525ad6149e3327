"""``warmup send`` when there is no password to be had: the password command fails, prints
nothing or is stopped while it runs, or none is given anywhere. One line, exit 78 (130 for a
Ctrl-C), and nothing in the ledger: no slot of any outcome for a message that could not leave,
so neither the quota nor the pacing of the next send moves. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import BOX, add_box, cli, cue
from warmup import open_ledger

pytest_plugins = ["tests.pgkit"]  # ledger_url: each test runs on SQLite and PostgreSQL

SEND = ("send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi there")


def written(url: str) -> dict[str, int]:
    """How many rows the tables a send writes hold."""
    ledger = open_ledger(url)
    try:
        with ledger.read() as conn:
            return {
                table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() or 0)
                for table in ("send", "day_stat", "event")
            }
    finally:
        ledger.close()


def quota() -> dict[str, object]:
    res = cli("quota", BOX, "--json")
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    return {k: row[k] for k in ("sent", "remaining", "status")}


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (("--password-command", "echo not-the-password >&2; exit 3"), "exit code 3"),
        (("--password-command", "true"), "the password command printed nothing"),
        ((), "set WARMUP_PASSWORD"),
    ],
    ids=["command-fails", "command-prints-nothing", "none-anywhere"],
)
def test_no_password_is_one_line_exit_78_and_no_slot(ledger_url, how, said):
    """It left a `released` slot: listed by every reader of sends, for a message that never
    could have gone."""
    add_box(2525)  # never connected to: the password is wanted first
    before, was = written(ledger_url), quota()
    res = cli(*SEND, *how, env={})
    assert res.returncode == 78, res.stderr
    assert res.stderr.startswith("Error: ") and said in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    assert written(ledger_url) == before
    assert quota() == was


# A store's own words on its standard error, as pass says them, with what a secret looks like
WHY = "Error: mail/sales is not in the password store. (token tok-4f1c9e)"
FAILING = f"echo '{WHY}' >&2; exit 1"


def _on_a_terminal(*args: str) -> tuple[int, str]:
    """``warmup ARGS`` as a process whose stdout and stderr are a pseudo-terminal: its exit
    status and what it printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*forkcli.command(), *args], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL
    )
    os.close(follower)
    out = b""
    try:
        while chunk := os.read(leader, 4096):
            out += chunk
    except OSError:  # EIO: every holder of the terminal closed it
        pass
    finally:
        os.close(leader)
    return proc.wait(timeout=120), out.decode(errors="replace")


def test_a_failing_password_commands_own_words_reach_its_terminal_only(ledger_url):
    """The command's standard error went nowhere: "failed with exit code 1" was all a person
    at the terminal learned of a store that said what was wrong. It goes to warmup's standard
    error when that is a terminal (a person who configured it, watching), as msmtp and git do;
    never to a pipe or a file (a service's journal, cron's mail), nor into the error line (a
    log, the ledger), nor the ledger."""
    add_box(2525)
    before = written(ledger_url)
    status, said = _on_a_terminal(*SEND, "--password-command", FAILING)
    assert status == 78, said
    assert WHY in said and "failed with exit code 1" in said, said
    assert said.index(WHY) < said.index("Error: the password command"), said  # its own line
    piped = subprocess.run(
        [*forkcli.command(), *SEND, "--password-command", FAILING],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 78 and "tok-4f1c9e" not in piped.stderr + piped.stdout
    assert written(ledger_url) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_send_stopped_while_its_password_command_runs_leaves_no_slot(
    ledger_url, tmp_path: Path, signum
):
    """Stopped while the password command ran (a store waiting to be unlocked): SIGTERM or a
    hang-up left a `reserved` slot, counted as sent until it expired and pacing the mailbox's
    next send 5-10 minutes away, though nothing could have left; Ctrl-C a `released` one."""
    add_box(2525)
    before, was = written(ledger_url), quota()
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [*forkcli.command(), *SEND, "--password-command", f"touch {started}; exec sleep 60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        cue(started, proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (-signum, 128 + signum), err
    assert "Traceback" not in err, err
    assert written(ledger_url) == before
    assert quota() == was


def test_what_the_ledger_alone_refuses_runs_no_password_command(ledger_url, tmp_path: Path):
    """Reading the password before the slot put it before the refusals too: a suppressed
    recipient, or the same message again, exited 78 for a password no send would have used
    (and ran the password command, a store to unlock, for nothing). They are 65 again, and
    the command is not run."""
    add_box(2525)
    assert cli("suppress", "add", "gone@example.com", "--reason", "asked").returncode == 0
    ran = tmp_path / "ran"
    command = f"touch {ran}; exit 3"
    before = written(ledger_url)
    res = cli("send", BOX, "--to", "gone@example.com", "--body", "Hi", "--password-command",
              command, env={})  # fmt: skip
    assert res.returncode == 65, res.stderr
    assert "suppressed recipient(s), not sent: gone@example.com" in res.stderr, res.stderr
    assert not ran.exists()
    assert written(ledger_url) == before


def test_a_message_with_no_recipients_is_said_so_before_the_password(ledger_url, tmp_path: Path):
    """Gate.send of a message naming no one: reading the password before the slot put it
    before reserve's "no recipients" too, so a script was told its password command failed
    (ConfigError, 78) for a message no password could send, and the command ran for it."""
    from email.message import EmailMessage

    from warmup import Gate
    from warmup.errors import ConfigError, DataError

    add_box(2525)
    ran = tmp_path / "ran"
    before = written(ledger_url)
    msg = EmailMessage()
    msg["Subject"] = "Hello"
    msg.set_content("Hi")
    with Gate(BOX, db=ledger_url, password_command=f"touch {ran}; exit 3") as gate:
        with pytest.raises(DataError, match="^no recipients$"):
            gate.send(msg)
        assert not ran.exists()
        # a message that names one reads the password, and says what it found
        msg["To"] = "lead@example.com"
        with pytest.raises(ConfigError, match="exit code 3"):
            gate.send(msg)
        assert ran.exists()
    assert written(ledger_url) == before


def test_a_refusal_of_the_plan_runs_no_password_command(ledger_url, tmp_path: Path):
    """A paused mailbox (or a used quota, a pacing gap) refuses a send whatever its password:
    with the password read first, a failing password command made it 78, not 75 (try later),
    and a script retrying on 75 ran its password command (an unlock prompt) at every try."""
    add_box(2525)
    assert cli("mailbox", "pause", BOX, "--reason", "holiday").returncode == 0
    ran = tmp_path / "ran"
    before = written(ledger_url)
    res = cli(*SEND, "--password-command", f"touch {ran}; exit 3", env={})
    assert res.returncode == 75, res.stderr
    assert "paused" in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    assert not ran.exists()
    assert written(ledger_url) == before


@pytest.mark.parametrize(
    ("command", "what"),
    [
        ("curl -su vault:S3cr3t-9d2 https://vault.example/pw", "the password in -su"),
        ("gpg -qd --passphrase S3cr3t-9d2 ~/.mail.gpg", "the value of --passphrase"),
        ("openssl enc -d -aes256 -pass pass:S3cr3t-9d2 -in pw.enc", "the pass phrase in -pass"),
    ],
)
def test_a_password_command_carrying_a_secret_is_warned_of(command, what):
    """A password command that holds a secret itself (a vault token, a pass phrase) put it in
    the arguments of the shell that runs it, which every user of the host reads (ps), as a
    --db URL's password on the command line (warned of) does: nothing said so. Now a warning
    naming what it looks like, never quoting it, on the command line or from the
    environment; a secret the shell takes from a variable, or a store's own command, is
    fine."""
    add_box(2525)
    given: list[tuple[tuple[str, ...], dict[str, str]]] = [
        (("--password-command", command), {}),
        ((), {"WARMUP_PASSWORD_COMMAND": command}),
    ]
    for args, env in given:
        res = cli(*SEND, "--dry-run", *args, env=env)
        warning, *_ = res.stderr.splitlines()
        assert warning.startswith(
            f"Warning: the password command carries what looks like a secret ({what}"
        ), res.stderr
        assert "9d2" not in res.stdout + res.stderr
    for fine in (
        "pass show mail/sales",
        'curl -s -H "X-Vault-Token: $VAULT_TOKEN" https://vault.example/v1/mail/sales',
        "gpg -qd --passphrase-file ~/.pp ~/.mail.gpg",
    ):
        res = cli(*SEND, "--dry-run", "--password-command", fine)
        assert "Warning" not in res.stderr, res.stderr
