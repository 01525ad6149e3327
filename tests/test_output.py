"""Output controls (issue #16): --quiet, --verbose, quota --check silent, colour only on a
terminal and never with NO_COLOR. The colour test runs the command on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from email.message import EmailMessage

import pytest

from tests import forkcli
from tests.gatekit import ANY_DAY

BOX = "sales@corp.example"


def test_quiet_drops_confirmations_but_not_answers_or_errors(run):
    assert run("--quiet", "mailbox", "add", BOX, "--provider", "exmail").output == ""
    assert run("--quiet", "record", "send", BOX, "--to", "a@example.com").output == ""
    loud = run("record", "send", BOX, "--to", "b@example.com")
    assert loud.stdout.startswith("Recorded 1 send")
    assert BOX in run("--quiet", "quota", BOX).stdout  # the answer asked for
    err = run("--quiet", "quota", "nobody@corp.example")
    assert err.exit_code == 64 and "not found" in err.output


@pytest.mark.parametrize("flags", [["-q", "-v"], ["--verbose", "--quiet"], ["-qv"]])
def test_quiet_and_verbose_typed_together_are_refused(run, ledger_path, flags):
    """``warmup -q -v`` ran quiet without a word (the -v dropped), and 'config show' listed both
    as in force: contradictory flags are refused, exit 64, nothing written, as 'demo --plot X
    --no-plot' is. One from the config file, the other typed: the one typed wins (test_config)."""
    res = run(*flags, "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 64, res.output
    assert res.output.strip().splitlines() == [
        "Error: give -q/--quiet or -v/--verbose, not both: --quiet prints only answers, "
        "warnings and errors, --verbose prints more (see 'cli --help')"
    ]
    assert not ledger_path.exists()


def test_quiet_drops_every_commands_confirmation(run, tmp_path, monkeypatch):
    """'Queued N messages', 'Pool P: ...', 'Removed pool', 'Cancelled', 'Queued message N
    again', what 'notify set/clear' left and 'db migrate''s new ledger printed under --quiet,
    where 'Added', 'Recorded' and 'Imported' did not: a cron job's mail had them every run."""
    import datetime as dt

    from warmup import Outbox, open_ledger
    from warmup.instants import now_utc

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    (tmp_path / "t.toml").write_text('subject = "Hi"\ntext = "Hello"\n')
    (tmp_path / "l.csv").write_text("email\nx@example.com\n")
    csv = ("--csv", str(tmp_path / "l.csv"), "--template", str(tmp_path / "t.toml"))
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    steps: list[tuple[str, ...]] = [
        ("pool", "add", "P", BOX),
        ("pool", "overflow", "P", "--host", "smtp.esp.example"),
        ("pool", "overflow", "P", "--off"),
        ("queue", "add", "--pool", "P", "--campaign", "c", *csv),
        ("queue", "cancel", "--campaign", "c"),
        ("notify", "set", "--command", "true"),
        ("notify", "clear"),
    ]
    for args in steps:
        res = run("--quiet", *args)
        assert (res.exit_code, res.output) == (0, ""), (args, res.output)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(msg, mailbox=BOX)
        assert mid is not None
        assert ledger.expire_messages(now_utc() + dt.timedelta(days=4)) == 1
    finally:
        ledger.close()
    for args in (("queue", "retry", str(mid)), ("queue", "cancel", str(mid))):
        res = run("--quiet", *args)
        assert (res.exit_code, res.output) == (0, ""), (args, res.output)
    res = run("--quiet", "pool", "remove", "P", "--force")
    assert (res.exit_code, res.output) == (0, ""), res.output
    monkeypatch.setenv("WARMUP_DB", str(tmp_path / "new.db"))
    res = run("--quiet", "db", "migrate")
    assert (res.exit_code, res.output) == (0, ""), res.output


def test_quota_check_is_silent_unless_verbose(run):
    run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY))  # open now
    ok = run("quota", BOX, "--check")
    assert (ok.exit_code, ok.output) == (0, "")
    shown = run("--verbose", "quota", BOX, "--check")
    assert shown.exit_code == 0 and "STATUS" in shown.stdout and BOX in shown.stdout
    run("mailbox", "pause", BOX, "--reason", "list review")
    refused = run("quota", BOX, "--check")
    assert (refused.exit_code, refused.output) == (75, "")


def _on_a_terminal(*args: str, env: dict[str, str], stderr_too: bool = False) -> str:
    """Run ``warmup ARGS`` with a pseudo-terminal as its stdout (and stderr); what it
    printed there."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*forkcli.command(), *args],
        stdout=follower,
        stderr=follower if stderr_too else subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=180) == 0, proc.stderr.read() if proc.stderr else ""
    os.close(leader)
    return out.decode()


def _codes_before(word: str, text: str) -> list[str]:
    """The SGR codes (colour, bold) in force where ``word`` starts a table cell."""
    m = re.search(r"((?:\x1b\[[0-9;]*m)+)" + word + r"\b", text)
    assert m is not None, f"{word!r} is not styled in {text!r}"
    return re.findall(r"\x1b\[([0-9;]*)m", m.group(1))


@pytest.mark.slow
def test_statuses_are_coloured_on_a_terminal_only_and_never_with_no_color(run):
    run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY))  # ok now
    run("mailbox", "add", "ops@corp.example", "--provider", "exmail")
    run("mailbox", "pause", "ops@corp.example", "--reason", "review")
    env = {"TERM": "xterm-256color", "NO_COLOR": ""}
    tty = _on_a_terminal("quota", env=env)
    assert set(_codes_before("ok", tty)) >= {"32"}  # green: may send now
    assert set(_codes_before("paused", tty)) >= {"31", "1"}  # bold red: needs a person
    assert "\x1b[" not in _on_a_terminal("quota", env={**env, "NO_COLOR": "1"})
    assert "\x1b[" not in _on_a_terminal("quota", env={**env, "TERM": "dumb"})
    assert "\x1b[" not in run("quota").stdout  # not a terminal


def _log(path, rows: int) -> None:
    lines = ["mailbox,recipient,sent_at,provider"]
    lines += [
        f"box{i % 3}@corp.example,lead{i}@example.com,2026-01-01T{i // 3600 % 24:02d}:"
        f"{i // 60 % 60:02d}:{i % 60:02d}+08:00,exmail"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_import_draws_a_bar_with_total_and_eta_on_a_terminal_only(tmp_path, ledger_path):
    """Issue #16 acceptance 3, with 5,000 rows: on a terminal a bar with the total and an ETA;
    to a pipe no bar, one summary line."""
    log = tmp_path / "log.csv"
    _log(log, 5000)
    shown = _on_a_terminal("import", str(log), env={"TERM": "xterm-256color"}, stderr_too=True)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert "Checking log.csv" in plain and "Importing log.csv" in plain
    assert "5000/5000 rows" in plain and "ETA" in plain
    assert "Imported 5000 new sends" in plain
    ledger_path.unlink()
    piped = subprocess.run(
        [*forkcli.command(), "import", str(log)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.splitlines() == [
        "Imported 5000 new sends and 0 new bounces from "
        f"{log}. Registered 3 new mailboxes and 0 pause/resume events."
    ]
    assert piped.stderr == f"Created a new ledger at {ledger_path}.\n"


@pytest.mark.slow
def test_db_copy_draws_a_bar_per_table_with_its_total_on_a_terminal_only(run, tmp_path):
    """Issue #16: 'db copy' printed "send: 5000 rows" without a total, only on a terminal."""
    run("mailbox", "add", BOX, "--provider", "exmail")
    rcpts = [f"--to=r{i}@example.com" for i in range(30)]
    assert run("record", "send", BOX, *rcpts).exit_code == 0  # now: no date is in its future
    shown = _on_a_terminal(
        "db", "copy", "--to", str(tmp_path / "a.db"), env={"TERM": "xterm"}, stderr_too=True
    )
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"Copying send +\S+ 30/30 +rows", plain), plain
    assert "verified" in plain
    piped = run("db", "copy", "--to", str(tmp_path / "b.db"))
    assert piped.exit_code == 0 and "Copying" not in piped.output


@pytest.mark.slow
def test_demo_shows_its_days_on_a_terminal(tmp_path):
    shown = _on_a_terminal(
        "demo", "--days", "3", "--no-plot", env={"TERM": "xterm"}, stderr_too=True
    )
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)
    assert re.search(r"Simulating +\S+ 3/3 +days", plain), plain


def test_suppress_add_counts_an_address_given_twice_once(ledger_path):
    def warmup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*forkcli.command(), *args], check=False, capture_output=True, text=True, timeout=180
        )

    assert warmup("suppress", "add", "old@x.example", "--reason", "asked").returncode == 0
    # a@ twice (in two spellings) and old@ already suppressed: 2 new, not "3 already were"
    args = ["a@x.example", "b@x.example", "A@X.example", "old@x.example"]
    proc = warmup("suppress", "add", *args, "--reason", "asked")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "Suppressed 2 addresses (1 already was; 1 repeated).\n"
    again = warmup("suppress", "add", "b@x.example", "b@x.example", "--reason", "asked")
    assert again.stdout == "Suppressed 0 addresses (1 already was; 1 repeated).\n"


def test_record_send_names_a_repeated_recipient_as_repeated_not_already_recorded(run):
    """'--to a --to A' said '(1 already recorded)' of a send recorded nowhere before: read as
    a duplicate import, it sent the user looking for history that does not exist."""
    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    at = ("--at", "2026-12-01T10:00:00+08:00")
    args = (
        "record",
        "send",
        BOX,
        "--to",
        "a@x.example",
        "--to",
        "A@X.example",
        "--to",
        "b@x.example",
    )
    res = run(*args, *at)
    assert (res.exit_code, res.output) == (0, f"Recorded 2 sends for {BOX} (1 repeated).\n")
    res = run("record", "send", BOX, "--to", "a@x.example", "--to", "c@x.example", *at)
    assert (res.exit_code, res.output) == (0, f"Recorded 1 send for {BOX} (1 already recorded).\n")


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_chinese_text_on_a_stdout_that_cannot_encode_it_is_escaped_not_a_traceback(
    run, tmp_path, encoding
):
    """A host whose locale is Latin-1 or cp1252 (a team ledger's other machine) reading a
    Chinese stage name: quota, plan and quota --json were a UnicodeEncodeError traceback,
    exit 1, the whole answer lost. The table shows the name escaped (as Python's stderr
    does), its columns aligned on what is shown; the JSON is the same JSON, in escapes."""
    import json
    from importlib.resources import files

    preset = files("warmup.policy").joinpath("presets/exmail.toml").read_text(encoding="utf-8")
    policy = tmp_path / "cn.toml"
    policy.write_text(preset.replace('name = "week 1"', 'name = "第一周"', 1), encoding="utf-8")
    assert (
        run("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(policy)).exit_code == 0
    )
    command = forkcli.command()  # first: it starts the zygote the environment then names
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    for args in (["quota", BOX], ["plan", BOX, "--days", "2"], ["quota", "--json", BOX]):
        proc = subprocess.run(
            [*command, *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=env,
            timeout=180,
            check=False,
        )
        assert (proc.returncode, proc.stderr) == (0, b""), proc.stderr.decode(errors="replace")
        out = proc.stdout.decode(encoding)
        if "--json" in args:
            assert json.loads(out)[0]["stage"] == "第一周"
            continue
        lines = out.splitlines()
        assert "\\u7b2c\\u4e00\\u5468" in lines[1], out
        header, row = lines[0], lines[1]
        # the column after STAGE starts where its header does
        column = header.index("DAY" if args[0] == "quota" else "STATUS")
        assert row[column - 2 : column] == "  " and row[column] != " ", out


@pytest.mark.parametrize(
    ("args", "typed", "said", "done"),
    [
        (
            ["import", "-"],
            "mailbox,recipient,sent_at,provider\n"
            "sales@corp.example,a@example.com,2026-11-30T09:00:00+08:00,exmail\n",
            "Reading the sending log (CSV) from the terminal; end it with Ctrl-D",
            "Imported 1 new send",
        ),
        (
            ["suppress", "add", "--from", "-", "--reason", "asked"],
            "a@example.com\nb@example.com\n",
            "Reading the addresses (one a line) from the terminal; end it with Ctrl-D",
            "Suppressed 2",
        ),
        (
            ["bounces", "parse", "-"],
            "Subject: hi\n\nhello\n",
            "Reading the message from the terminal; end it with Ctrl-D",
            "standard input: not a bounce",
        ),
        (
            ["queue", "add", "--mailbox", BOX, "--eml", "-"],
            "To: lead@example.com\nSubject: hi\n\nhello\n",
            "Reading the message from the terminal; end it with Ctrl-D",
            "Queued 1 message",
        ),
        (
            ["queue", "add", "--mailbox", BOX, "--csv", "-", "--template", "TEMPLATE"],
            "email\nlead@example.com\n",
            "Reading the CSV from the terminal; end it with Ctrl-D",
            "Queued 1 message",
        ),
        (
            ["send", BOX, "--to", "lead@example.com", "--body-file", "-", "--dry-run"],
            "Hello\n",
            "Reading the body from the terminal; end it with Ctrl-D",
            "Would send to 1 recipient",
        ),
    ],
    ids=["import", "suppress", "bounces-parse", "queue-add-eml", "queue-add-csv", "send-body"],
)
def test_data_read_from_a_terminal_says_how_to_end_it(args, typed, said, done, tmp_path):
    """'warmup import -' typed without its pipe waited silently, as if it hung: nothing said it
    was reading the terminal, nor that Ctrl-D ends it; 'bounces parse -' and 'queue add --eml
    -' or '--csv -' say it alike."""
    env = {**os.environ, "WARMUP_DB": str(tmp_path / "ledger.db")}
    # 'send --dry-run' asks the plan at the real time: the exmail preset's is closed on CN holidays
    added = [*forkcli.command(), "mailbox", "add", BOX, "--provider", "exmail"]
    added += ["--policy", str(ANY_DAY)]
    assert subprocess.run(added, env=env, capture_output=True, timeout=180).returncode == 0
    (tmp_path / "t.toml").write_text('subject = "Hi"\ntext = "Hello"\n')
    args = [str(tmp_path / "t.toml") if a == "TEMPLATE" else a for a in args]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*forkcli.command(), *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    try:
        # Line by line as typed, then Ctrl-D on an empty line: the end of the input.
        os.write(leader, typed.encode() + b"\x04")
        out, err = proc.communicate(timeout=180)
    finally:
        os.close(leader)
    assert proc.returncode == 0, err
    assert err.decode().startswith(said), err
    assert done in out.decode() + err.decode(), (out, err)


def test_quiet_run_once_prints_nothing_when_nothing_is_wrong(run, tmp_path):
    """'warmup -q run --once' in cron printed "Done: 1 waiting.", "Waiting (1): ..." and
    "Next message due at ..." every run: cron mailed them each time. Quiet, it says nothing
    unless a person must act (that exit's Error line stays: tests/test_outbox.py)."""
    from tests.gatekit import cli

    assert run("mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    (tmp_path / "t.toml").write_text('subject = "Hi"\ntext = "Hello"\n')
    (tmp_path / "l.csv").write_text("email\nx@example.com\n")
    csv = ("--csv", str(tmp_path / "l.csv"), "--template", str(tmp_path / "t.toml"))
    assert run("queue", "add", "--mailbox", BOX, *csv).exit_code == 0
    assert run("mailbox", "pause", BOX, "--reason", "list review").exit_code == 0
    loud = cli("run", "--once", "--no-sync")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout.startswith("Done: 1 waiting.\nWaiting (1): "), loud.stdout
    quiet = cli("-q", "run", "--once", "--no-sync")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
