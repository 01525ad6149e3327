"""``warmup send ADDRESS -- COMMAND``: the loopback relay, as real processes against the real sink.

Each test starts ``python -m warmup send`` as a subprocess that wraps a small client script;
the client talks SMTP to the relay, the relay to the TLS sink of tests/peers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests import forkcli
from tests.gatekit import cli, policy_file
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.zonekit import kit_zone

BOX = SMTP_USER

# A client that sends N messages on one authenticated connection and records every reply.
CLIENT = textwrap.dedent("""\
    import json, os, smtplib, sys, time
    from email.message import EmailMessage

    n, out, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:] or ["lead@example.com"]
    env = os.environ
    seen = []
    with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60) as s:
        s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
        for i in range(n):
            msg = EmailMessage()
            msg["From"] = env["WARMUP_MAILBOX"]
            msg["To"] = ", ".join(rcpts)
            msg["Subject"] = f"message {i}"
            msg.set_content("Hello.")
            try:
                refused = s.send_message(msg)
                seen.append({"code": 250, "refused": {r: c for r, (c, _) in refused.items()}})
            except smtplib.SMTPResponseException as e:
                seen.append({"code": e.smtp_code, "text": e.smtp_error.decode()})
            seen[-1]["t"], seen[-1]["wall"] = time.monotonic(), time.time()
    with open(out, "w") as f:
        json.dump(seen, f)
    sys.exit(sum(1 for r in seen if r["code"] != 250))
""")


def warmup(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` as its own process (inherits WARMUP_DB, SSL_CERT_FILE, ...)."""
    return subprocess.run(
        [*forkcli.command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
        **kwargs,
    )


@pytest.fixture
def box(smtp_ssl, ssl_cert_env, tmp_path, monkeypatch):
    """Returns add(daily, interval): registers the mailbox on the sink with a flat policy.

    The password comes from a password command: with WARMUP_PASSWORD warmup re-executes itself
    before the command starts (a second interpreter per run), which tests/test_secrets.py tests.
    """
    monkeypatch.setenv("WARMUP_PASSWORD_COMMAND", f"printf %s {SMTP_PASSWORD}")

    def add(daily: int = 5, interval: str = "0s") -> None:
        policy = policy_file(tmp_path / "policy.toml", daily, interval)
        res = cli(
            "mailbox",
            "add",
            BOX,
            "--provider",
            "exmail",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(smtp_ssl.port),
            "--policy",
            str(policy),
            "--timezone",
            kit_zone(),
        )
        assert res.returncode == 0, res.stderr

    return add


@pytest.fixture
def client(tmp_path) -> Path:
    path = tmp_path / "client.py"
    path.write_text(CLIENT)
    return path


def wrapped(*command: str, refuse: bool = False, timeout: float = 60):
    flags = ["--refuse"] if refuse else []
    return warmup("send", BOX, *flags, "--", *command, timeout=timeout)


def ledger_sends(path: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT recipient, message_id, outcome FROM send ORDER BY id").fetchall()
    finally:
        con.close()


def quota(address: str = BOX) -> dict:
    res = warmup("quota", address, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)[0]


@pytest.mark.slow
def test_quota_of_five_lets_exactly_five_of_eight_through(
    box, client, smtp_ssl, tmp_path, ledger_path
):
    box(daily=5)
    out = tmp_path / "replies.json"
    res = wrapped(sys.executable, str(client), "8", str(out), refuse=True)
    replies = json.loads(out.read_text())
    assert [r["code"] for r in replies] == [250] * 5 + [451] * 3, replies
    assert all("4.7.1" in r["text"] for r in replies[5:])
    assert res.returncode == 3, res.stderr  # the client's own exit code (its 3 refusals)
    assert len(smtp_ssl.messages) == 5
    sends = ledger_sends(ledger_path)
    assert [o for _, _, o in sends] == ["sent"] * 5
    # The relay gave each message a Message-ID and the ledger keeps the same one.
    sink_ids = sorted(m.message["Message-ID"] for m in smtp_ssl.messages)
    assert all(sink_ids) and sink_ids == sorted(mid for _, mid, _ in sends)
    q = quota()
    assert (q["sent"], q["remaining"]) == (5, 0)
    assert "warmup: 5 sent, 3 deferred (4xx), 0 refused (5xx)" in res.stderr


@pytest.mark.slow
def test_three_wrapped_scripts_at_once_on_one_mailbox_get_exactly_its_quota(
    box, client, smtp_ssl, tmp_path, ledger_path
):
    # Three `warmup send -- script` processes, each with its own relay, race for the same 5
    # slots: 12 messages tried, exactly 5 sent, every other answered 451, none uncounted.
    box(daily=5)
    runs = [
        subprocess.Popen(
            [*forkcli.command(), "send", BOX, "--refuse", "--", sys.executable, str(client)]
            + ["4", str(tmp_path / f"replies{i}.json"), f"lead{i}@example.com"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for i in range(3)
    ]
    errors = [run.communicate(timeout=120)[1] for run in runs]
    codes = [
        r["code"] for i in range(3) for r in json.loads((tmp_path / f"replies{i}.json").read_text())
    ]
    assert sorted(codes) == [250] * 5 + [451] * 7, errors
    assert len(smtp_ssl.messages) == 5
    assert [o for _, _, o in ledger_sends(ledger_path)] == ["sent"] * 5
    assert sum(int(e.split("warmup: ")[-1].split(" sent")[0]) for e in errors) == 5


@pytest.mark.slow
def test_wait_holds_the_reply_until_the_paced_slot(box, client, smtp_ssl, tmp_path, ledger_path):
    box(daily=5, interval="2s")
    out = tmp_path / "replies.json"
    res = wrapped(sys.executable, str(client), "3", str(out))
    replies = json.loads(out.read_text())
    assert res.returncode == 0, res.stderr
    assert [r["code"] for r in replies] == [250, 250, 250]
    # Real pacing: each reservation 2 s after the previous one, and the relay held each reply
    # until its reservation (a reply's gap to the previous one may be shorter when the previous
    # upstream delivery was slow, so the gaps themselves are not the measure).
    con = sqlite3.connect(ledger_path)
    rows = con.execute("SELECT at FROM send ORDER BY id").fetchall()
    stamps = [dt.datetime.fromisoformat(a).replace(tzinfo=dt.UTC) for (a,) in rows]
    con.close()
    assert all((b - a).total_seconds() >= 1.99 for a, b in itertools.pairwise(stamps)), stamps
    assert all(r["wall"] >= s.timestamp() for r, s in zip(replies, stamps, strict=True))
    assert replies[-1]["t"] - replies[0]["t"] >= 2.0
    assert len(smtp_ssl.messages) == 3


PROBES = textwrap.dedent("""\
    import json, os, smtplib, sys
    env, out = os.environ, {}
    host, port = env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"])
    box, pw = env["WARMUP_MAILBOX"], env["WARMUP_SMTP_PASSWORD"]
    def client(login=True):
        s = smtplib.SMTP(host, port, timeout=30)
        if login:
            s.login(box, pw)
        return s
    s = client(login=False)
    try:
        s.login(box, "not-the-password")
    except smtplib.SMTPAuthenticationError as e:
        out["wrong_password"] = e.smtp_code
    try:
        s.login("someone@corp.example", pw)
    except smtplib.SMTPAuthenticationError as e:
        out["wrong_user"] = e.smtp_code
    out["no_auth_mail"] = s.mail(box)[0]
    s.quit()
    s = client()
    out["other_sender"] = s.mail("boss@corp.example")[0]
    s.rset()
    try:
        s.sendmail(box, ["lead@example.com"], "From: boss@corp.example\\r\\nSubject: x\\r\\n\\r\\nhi\\r\\n")
    except smtplib.SMTPDataError as e:
        out["other_header_from"] = [e.smtp_code, e.smtp_error.decode()]
    s.mail(box)
    out["malformed_rcpt"] = s.rcpt("not-an-address")[0]
    s.quit()
    out["host"] = host
    json.dump(out, open(sys.argv[1], "w"))
""")


def test_not_an_open_relay(box, smtp_ssl, tmp_path):
    box()
    probes, out = tmp_path / "probes.py", tmp_path / "probes.json"
    probes.write_text(PROBES)
    res = wrapped(sys.executable, str(probes), str(out))
    assert res.returncode == 0, res.stderr
    got = json.loads(out.read_text())
    assert got["host"] == "127.0.0.1"
    assert (got["wrong_password"], got["wrong_user"], got["no_auth_mail"]) == (535, 535, 530)
    assert got["other_sender"] == 553
    code, text = got["other_header_from"]
    assert code == 550 and "5.7.1" in text and "boss@corp.example" in text
    assert got["malformed_rcpt"] == 501
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0  # nothing went upstream
    # Every refusal the relay answered counts, whichever command it answered (issue #12).
    assert (
        "warmup: 0 sent, 0 deferred (4xx), 3 refused (5xx), 0 recipients rejected upstream; "
        "1 refusal at MAIL FROM, 1 refusal at RCPT TO\n"
    ) in res.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1", "localhost", "example.com"])
def test_binding_anything_but_loopback_is_refused(box, tmp_path, host):
    from warmup.gate import Gate
    from warmup.wrap import run_wrapped

    box()
    marker = tmp_path / "ran"
    with Gate(BOX) as gate, pytest.raises(ValueError, match="loopback"):
        run_wrapped(
            gate, [sys.executable, "-c", f"open({str(marker)!r}, 'w')"], wait=False, host=host
        )
    assert not marker.exists()  # refused before the command ran


@pytest.mark.slow
def test_suppressed_recipient_is_refused_alone(box, client, run, smtp_ssl, tmp_path, ledger_path):
    box()
    assert run("record", "bounce", BOX, "--to", "gone@example.com", "--kind", "hard").exit_code == 0
    out = tmp_path / "replies.json"
    res = wrapped(
        sys.executable, str(client), "1", str(out), "lead@example.com", "gone@example.com"
    )
    assert res.returncode == 0, res.stderr
    [reply] = json.loads(out.read_text())
    assert reply["code"] == 250 and reply["refused"] == {"gone@example.com": 550}
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com",)
    assert [(r, o) for r, _, o in ledger_sends(ledger_path)] == [("lead@example.com", "sent")]


@pytest.mark.slow
def test_sendmail_shim_reaches_the_sink_and_no_secret_reaches_the_command(
    box, smtp_ssl, tmp_path, monkeypatch
):
    box()
    monkeypatch.setenv("WARMUP_PASSWORD_COMMAND", f"printf %s {SMTP_PASSWORD}")
    script = (
        f'env > {tmp_path}/env.txt; tr "\\0" " " < /proc/$$/cmdline > {tmp_path}/argv.txt; '
        f"command -v sendmail > {tmp_path}/which.txt; "
        f'printf "Subject: x\\n\\nhi\\n" | sendmail -t -i lead@example.com'
    )
    res = wrapped("sh", "-c", script)
    assert res.returncode == 0, res.stderr
    [msg] = smtp_ssl.messages
    assert (msg.mail_from, msg.rcpt_tos) == (BOX, ("lead@example.com",))
    assert msg.message["Subject"] == "x" and msg.message["From"] == BOX
    assert msg.message["Message-ID"]
    assert "warmup-relay-" in (tmp_path / "which.txt").read_text()
    env = dict(
        line.split("=", 1)
        for line in (tmp_path / "env.txt").read_text().splitlines()
        if "=" in line
    )
    assert "WARMUP_PASSWORD" not in env and "WARMUP_PASSWORD_COMMAND" not in env
    assert env["SMTP_USER"] == env["WARMUP_SMTP_USER"] == BOX == env["WARMUP_MAILBOX"]
    assert env["SMTP_PASSWORD"] == env["WARMUP_SMTP_PASSWORD"] != SMTP_PASSWORD
    for text in (
        (tmp_path / "env.txt").read_text(),
        (tmp_path / "argv.txt").read_text(),
        res.stdout,
        res.stderr,
    ):
        assert SMTP_PASSWORD not in text


@pytest.mark.slow
def test_sendmail_shim_runs_warmup_not_a_warmup_module_of_the_scripts_project(
    box, smtp_ssl, tmp_path, ledger_path
):
    # The shim ran `python -m warmup`, which puts the working directory first on sys.path: a
    # script in a project with its own warmup.py ran that file instead (exit 0, nothing sent).
    box()
    project = tmp_path / "project"
    (project / "warmup").mkdir(parents=True)
    (project / "warmup.py").write_text("print('not warmup')\n")
    (project / "warmup" / "__main__.py").write_text("print('not warmup either')\n")
    script = f"cd {project} && printf 'Subject: x\\n\\nhi\\n' | sendmail lead@example.com"
    res = wrapped("sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert "not warmup" not in res.stdout
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com",)
    assert [(r, o) for r, _, o in ledger_sends(ledger_path)] == [("lead@example.com", "sent")]


@pytest.mark.slow
def test_one_time_credentials_differ_per_run(box, tmp_path):
    box()
    seen = []
    for i in range(2):
        path = tmp_path / f"pw{i}"
        assert wrapped("sh", "-c", f'printf %s "$SMTP_PASSWORD" > {path}').returncode == 0
        seen.append(path.read_text())
    assert len(set(seen)) == 2 and all(len(p) >= 20 for p in seen)


@pytest.mark.slow
def test_exit_code_of_the_command_is_returned(box, monkeypatch):
    box()
    # The password in the environment: warmup re-executes itself before the command starts;
    # the command's exit code and signals still come through.
    monkeypatch.delenv("WARMUP_PASSWORD_COMMAND")
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    res = wrapped("sh", "-c", "exit 3")
    assert res.returncode == 3
    assert (
        "warmup: 0 sent, 0 deferred (4xx), 0 refused (5xx), 0 recipients rejected upstream"
        in res.stderr
    )
    assert wrapped("sh", "-c", "kill -TERM $$").returncode == 128 + signal.SIGTERM
    assert wrapped("no-such-command-here").returncode == 127


@pytest.mark.parametrize("option", [["--subject", "Offer"], ["--to", "lead@example.com"]])
def test_message_options_with_a_command_are_refused_before_it_runs(
    option, box, run, tmp_path, ledger_path
):
    # --subject was taken and ignored: the command ran, its messages went out with their own
    # subjects, exit 0.
    box()
    marker = tmp_path / "ran"
    res = run("send", BOX, *option, "--", "touch", str(marker))
    assert res.exit_code == 64, res.output
    assert res.output.startswith("Error: with a COMMAND, give no ") and option[0] in res.output
    assert res.output.count("\n") == 1 and not marker.exists()
    assert ledger_sends(ledger_path) == []


@pytest.mark.parametrize("before", [[], ["--refuse"], ["--queue"]])
def test_nothing_after_the_dashes_is_a_missing_command(before, box, run, ledger_path):
    # "warmup send BOX --" was read as no command: "give exactly one of --body, --body-file,
    # --eml", which sent the user after the wrong thing.
    box()
    res = run("send", BOX, *before, "--")
    assert res.exit_code == 64, res.output
    assert res.output == (
        "Error: nothing after --: give the COMMAND to run behind the relay "
        "(warmup send ADDRESS -- python outreach.py)\n"
    )
    assert ledger_sends(ledger_path) == []


def test_a_command_that_cannot_be_executed_exits_as_a_shell_would(box, run, tmp_path):
    # Only a missing file and EACCES were caught: a file in no executable format (ENOEXEC) or a
    # path through a plain file (ENOTDIR) ended warmup in a traceback, exit 1.
    box()
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fELF not really")
    garbage.chmod(0o755)
    noexec = tmp_path / "noexec"  # no execute bit for anyone: refused even to root
    noexec.write_text("#!/bin/sh\n")
    for command, code, why in [
        (str(garbage), 126, "exec format error"),
        (str(garbage / "x"), 126, "not a directory"),
        (str(tmp_path), 126, "is a directory"),  # was "permission denied" (execve's EACCES)
        (str(noexec), 126, "permission denied"),
        ("no-such-command-here", 127, "command not found"),
    ]:
        res = run("send", BOX, "--", command)
        assert res.exit_code == code, res.output
        # One line, as sh's: no relay summary ("0 sent, ...") for a command that never ran.
        assert res.output == f"warmup: {command}: {why}\n", res.output


def test_a_script_whose_interpreter_is_missing_says_so_not_command_not_found(
    box, tmp_path, monkeypatch
):
    """execve() answers ENOENT for a script whose #! interpreter does not exist: 'warmup send
    BOX -- ./send.py' said "./send.py: command not found" of a file that was right there (bash:
    "cannot execute: required file not found"). It names the interpreter, or the carriage
    return a Windows editor left at the end of the #! line; 127 still, as a shell's."""
    box()
    elsewhere = tmp_path / "send.py"
    elsewhere.write_text("#!/opt/nowhere/bin/python3 -u\nprint('hi')\n")
    windows = tmp_path / "send.sh"
    windows.write_bytes(b"#!/bin/sh\r\necho hi\r\n")
    for script in (elsewhere, windows):
        script.chmod(0o755)
    res = wrapped(str(elsewhere))
    assert (res.returncode, res.stdout) == (127, ""), res.stderr
    assert res.stderr == (
        f"warmup: {elsewhere}: its interpreter '/opt/nowhere/bin/python3' (the #! line) is not "
        "found: install it, or change that line (#!/usr/bin/env python3 finds one on PATH)\n"
    )
    res = wrapped(str(windows))
    assert res.returncode == 127, res.stderr
    assert res.stderr == (
        f"warmup: {windows}: its #! line ends in a carriage return (Windows line ends), so its "
        f"interpreter '/bin/sh' is not found: convert the file (dos2unix {windows})\n"
    )
    # found on PATH, it is named as typed
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    res = wrapped("send.py")
    assert res.returncode == 127 and res.stderr.startswith("warmup: send.py: its interpreter ")
    # a file that is not there is still "command not found"
    res = wrapped(str(tmp_path / "gone.py"))
    assert (res.returncode, res.stderr) == (
        127,
        f"warmup: {tmp_path / 'gone.py'}: command not found\n",
    )


def test_a_command_not_found_is_named_without_the_secret_it_holds(box, run):
    """'warmup send BOX -- API_KEY=sk-... python send.py': the shell sets a variable only before
    a command, so after '--' the assignment is the command's name, and its line quoted it whole
    (a URL with its password alike), to stderr, a service's journal, cron's mail. Masked as a
    command line given as one word is, and the assignment says how to write one."""
    box()
    for command, shown in [
        ("API_KEY=sk-live-51Hx9", "API_KEY=***"),
        ("https://bot:hunter2-token@hooks.example/send", "https://hooks.example/..."),
    ]:
        res = run("send", BOX, "--", command, "python", "send.py")
        assert res.exit_code == 127, res.output
        assert "sk-live-51Hx9" not in res.output and "hunter2" not in res.output, res.output
        assert res.output.startswith(f"warmup: {shown}: command not found"), res.output
        assert res.output.count("\n") == 1, res.output
    res = run("send", BOX, "--", "API_KEY=sk-live-51Hx9", "python", "send.py")
    assert res.output == (
        "warmup: API_KEY=***: command not found; to set a variable for the command, write: "
        "env NAME=VALUE COMMAND\n"
    )


# A wrapped command's wait for signals. Not signal.pause(): a signal that arrives after the
# interpreter's last check for one and before pause() is entered leaves pause() waiting for the
# next, for ever (a test that sent SIGTERM right after the command's "int" hung so in CI). The
# C-level handler writes to the wakeup descriptor whenever the signal comes, so select() returns.
WAITS_FOR_SIGNALS = (
    "import os, select, signal, sys\n"
    "r, w = os.pipe()\n"
    "os.set_blocking(w, False)\n"
    "signal.set_wakeup_fd(w)\n"
    "def wait():\n"
    "    select.select([r], [], [])\n"
    "    os.read(r, 512)\n"
)


@pytest.mark.slow
def test_sigterm_is_forwarded_to_the_command(box, monkeypatch):
    box()
    monkeypatch.delenv("WARMUP_PASSWORD_COMMAND")
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)  # through warmup's re-execution
    child = (
        f"{WAITS_FOR_SIGNALS}"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    wait()\n"
    )
    proc = subprocess.Popen(
        [*forkcli.command(), "send", BOX, "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "ready\n"  # the command is up, its handler installed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 42  # the command handled it and chose its exit code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# The wrapped command: counts the SIGINTs it gets (saying "int" for each) and exits 40 + that
# count on SIGTERM.
COUNTS_SIGINT = (
    f"{WAITS_FOR_SIGNALS}"
    "seen = []\n"
    "signal.signal(signal.SIGINT, lambda *a: (seen.append(1), print('int', flush=True)))\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(40 + len(seen)))\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    wait()\n"
)


class _Terminal:
    """``python -m warmup ARGS`` as the foreground job of a terminal of its own (a pty whose
    controlling process it is), as a user runs it; ``expect`` reads the terminal's output up
    to a word (with a deadline, nothing slept)."""

    def __init__(self, *args: str) -> None:
        import pty

        self.master, slave = pty.openpty()
        ctty = (
            "import fcntl, os, sys, termios\n"
            "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
            "os.execv(sys.executable, [sys.executable, '-m', 'warmup', *sys.argv[1:]])\n"
        )
        env = {k: v for k, v in os.environ.items() if k != forkcli.ENV}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ctty, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # its own session, so the pty can be its terminal
            env=env,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, word: str, timeout: float = 60) -> None:
        import select
        import time

        deadline = time.monotonic() + timeout
        while word.encode() not in self.seen:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            assert ready, f"no {word!r} within {timeout} s; the terminal showed {self.seen!r}"
            try:
                self.seen += os.read(self.master, 4096)
            except OSError:  # EIO: every process of the terminal has exited
                raise AssertionError(f"no {word!r}; the terminal showed {self.seen!r}") from None
        self.seen = self.seen.split(word.encode(), 1)[1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.mark.slow
def test_a_sigint_from_another_process_reaches_a_command_run_in_a_terminal(box):
    """``kill -INT`` of a foreground ``warmup send ADDRESS -- COMMAND`` was swallowed: warmup
    took any SIGINT for a terminal's ^C (which reaches the command by itself) whenever it ran in
    the terminal's foreground process group. It is forwarded, as timeout(1) does; a ^C typed
    at the terminal still reaches the command once, not twice."""
    box()
    term = _Terminal("send", BOX, "--", sys.executable, "-c", COUNTS_SIGINT)
    try:
        term.expect("ready")
        os.kill(term.proc.pid, signal.SIGINT)  # another process's kill -INT
        term.expect("int")
        term.proc.send_signal(signal.SIGTERM)  # forwarded: the command says how many it got
        assert term.proc.wait(timeout=30) == 41
    finally:
        term.close()
    term = _Terminal("send", BOX, "--", sys.executable, "-c", COUNTS_SIGINT)
    try:
        term.expect("ready")
        os.write(term.master, b"\x03")  # ^C at the terminal: its foreground group gets SIGINT
        term.expect("int")
        term.proc.send_signal(signal.SIGTERM)  # after warmup's SIGINT, were it forwarded
        assert term.proc.wait(timeout=30) == 41
    finally:
        term.close()


# A client that hands the relay one message and waits for its reply (the test kills it then);
# it prints its parent's PID (warmup's) and its own first.
HANDS_OVER = textwrap.dedent("""\
    import os, smtplib, sys
    env = os.environ
    print(os.getppid(), os.getpid(), flush=True)
    s = smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60)
    s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
    s.sendmail(env["WARMUP_MAILBOX"], ["lead@example.com"], "Subject: s\\r\\n\\r\\nhi\\r\\n")
""")


@pytest.mark.slow
def test_a_sigterm_once_the_command_ended_waits_for_the_delivery_it_started(
    box, smtp_ssl, tmp_path, ledger_path
):
    """A SIGTERM reaching ``warmup send ADDRESS -- COMMAND`` after the command ended but while
    the relay still delivered the command's last message killed warmup there (the forwarding
    handlers were gone): the message left, the ledger kept it as a reservation, its outcome
    lost. The forwarded signals are held from before the relay starts until it has stopped, so
    the delivery is settled first; what arrives once the command ended is dropped."""
    import threading
    import time

    box()
    release = threading.Event()
    smtp_ssl.hold_data_reply = release
    script = tmp_path / "hand_over.py"
    script.write_text(HANDS_OVER)
    proc = subprocess.Popen(
        [*forkcli.command(), "send", BOX, "--", sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        warmup_pid, child = map(int, proc.stdout.readline().split())
        assert smtp_ssl.holding.wait(60)  # the relay is delivering; the sink holds the reply
        os.kill(child, signal.SIGKILL)  # the command ends, its message in flight
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{child}"):  # until warmup has reaped it (no sleep)
            assert time.monotonic() < deadline, "warmup never reaped its command"
        # ... and waits for the relay's thread (a futex): past the command, in relay.stop().
        wchan = Path(f"/proc/{warmup_pid}/task/{warmup_pid}/wchan")
        while not wchan.read_text().startswith(("futex", "0")):  # "0": the kernel hides it
            assert time.monotonic() < deadline, f"warmup is in {wchan.read_text()}"
        os.kill(warmup_pid, signal.SIGTERM)  # pending on return, if warmup still lives
        release.set()
        assert proc.wait(timeout=60) == 128 + signal.SIGKILL, proc.stderr.read()
        assert "warmup: 1 sent" in proc.stderr.read()
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert [outcome for _, _, outcome in ledger_sends(ledger_path)] == ["sent"]


@pytest.mark.slow
def test_upstream_connection_dropped_while_idle_is_reopened(box, client, smtp_ssl, tmp_path):
    box()
    script = tmp_path / "twice.py"
    # One message, the sink restarts (dropping the relay's upstream connection), another.
    script.write_text(
        textwrap.dedent(f"""\
        import subprocess, sys
        a = subprocess.run([sys.executable, {str(client)!r}, "1", {str(tmp_path / "a.json")!r}])
        sys.stdout.write("restart\\n"); sys.stdout.flush()
        sys.stdin.readline()
        b = subprocess.run([sys.executable, {str(client)!r}, "1", {str(tmp_path / "b.json")!r}])
        sys.exit(a.returncode or b.returncode)
    """)
    )
    proc = subprocess.Popen(
        [*forkcli.command(), "send", BOX, "--", sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "restart\n"
        smtp_ssl.stop()
        smtp_ssl.start()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(timeout=180) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(smtp_ssl.messages) == 2  # the second one went over a new connection
    assert json.loads((tmp_path / "b.json").read_text())[0]["code"] == 250


def test_child_env_never_carries_the_mailbox_secret(box, monkeypatch):
    from warmup.gate import Gate
    from warmup.relay import Relay

    box()
    monkeypatch.setenv("WARMUP_PASSWORD_COMMAND", "echo x")
    # The overflow channel's SMTP password and the OAuth app's secret are secrets too.
    monkeypatch.setenv("WARMUP_OVERFLOW_PASSWORD", "overflow-canary")
    monkeypatch.setenv("WARMUP_OAUTH_CLIENT_SECRET", "oauth-canary")
    with Gate(BOX) as gate:
        relay = Relay(gate, wait=False)
        env = relay.child_env("/tmp/shim")
        relay.stop()
    assert "WARMUP_PASSWORD" not in env and "WARMUP_PASSWORD_COMMAND" not in env
    assert not any("canary" in v for v in env.values()), sorted(env)
    assert env["PATH"].split(os.pathsep)[0] == "/tmp/shim"


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["unreachable", "login"])
def test_upstream_failure_defers_and_releases_the_slot(
    failure, run, client, tmp_path, ledger_path, monkeypatch, ssl_cert_env, smtp_ssl
):
    from tests.peers.smtp import free_port

    port = free_port() if failure == "unreachable" else smtp_ssl.port
    monkeypatch.setenv("WARMUP_PASSWORD", "wrong" if failure == "login" else SMTP_PASSWORD)
    policy = policy_file(tmp_path / "policy.toml", daily=5)
    assert (
        run(
            "mailbox",
            "add",
            BOX,
            "--provider",
            "exmail",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(port),
            "--policy",
            str(policy),
        ).exit_code
        == 0
    )
    out = tmp_path / "replies.json"
    res = wrapped(sys.executable, str(client), "1", str(out))
    [reply] = json.loads(out.read_text())
    expected = {"unreachable": (451, "4.4.1"), "login": (454, "4.7.0")}[failure]
    assert (reply["code"], reply["text"][:5]) == expected, reply
    assert [o for _, _, o in ledger_sends(ledger_path)] == ["released"]  # costs no quota
    assert quota()["sent"] == 0
    assert "0 sent, 1 deferred (4xx)" in res.stderr
    assert ("cannot reach" if failure == "unreachable" else "refused the login") in res.stderr
    assert SMTP_PASSWORD not in res.stderr


def test_a_wait_longer_than_the_hold_limit_answers_451_with_the_time(
    box, client, smtp_ssl, tmp_path, capfd
):
    from warmup.gate import Gate
    from warmup.wrap import run_wrapped

    box(daily=5, interval="1h")
    out = tmp_path / "replies.json"
    with Gate(BOX) as gate:
        code = run_wrapped(
            gate, [sys.executable, str(client), "2", str(out)], wait=True, max_hold=5.0
        )
    first, second = json.loads(out.read_text())
    assert (code, first["code"], second["code"]) == (1, 250, 451)
    assert second["text"].startswith("4.7.1 paced: next send at ")
    # The time told is when a retry is let through: rounded up to the second, as `warmup send`
    # and `warmup quota` say it, never truncated (a script retrying at 14:47:21 for a slot at
    # 14:47:21.6 was paced again).
    told = second["text"].removeprefix("4.7.1 paced: next send at ")
    # "pacing (": the gap's reason; late in the mailbox's day a "pacing: ... fits about" reason
    # (how many more sends the window has room for) is listed too.
    [reason] = [r for r in quota()["reasons"] if r.startswith("pacing (")]
    assert reason.endswith(f"next send at {told}"), (told, reason)
    assert len(smtp_ssl.messages) == 1
    assert "1 sent, 1 deferred (4xx)" in capfd.readouterr().err


# -- the relay in this process, for tests about its SMTP input -------------------------------

CORPUS = Path(__file__).parent / "fuzz_corpus" / "smtp"


@pytest.fixture
def relay(smtp_ssl, ssl_cert_env, tmp_path, monkeypatch):
    """Returns start(daily, interval, **Relay options): a relay for BOX in this process."""
    from warmup import api, open_ledger
    from warmup.gate import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    started = []

    def start(daily: int = 5, interval: str = "0s", policy_tail: str = "", **options):
        """``policy_tail``: TOML tables added to the flat policy."""
        policy = policy_file(tmp_path / "policy.toml", daily, interval)
        policy.write_text(policy.read_text() + policy_tail)
        ledger = open_ledger()
        api.add_mailbox(
            ledger,
            BOX,
            "exmail",
            smtp_host="127.0.0.1",
            smtp_port=smtp_ssl.port,
            policy=str(policy),
            timezone=kit_zone(),
        )
        ledger.close()
        gate = Gate(BOX)
        server = Relay(gate, **{"wait": False, **options}).start()
        started.append((server, gate))
        return server

    yield start
    for server, gate in started:
        server.stop()
        gate.close()


def submit(server, raw: bytes, rcpts: tuple[str, ...] = ("lead@example.com",)) -> tuple[int, str]:
    """Log in to the relay and send ``raw`` as it is; the end-of-DATA reply."""
    import smtplib

    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        try:
            s.sendmail(BOX, list(rcpts), raw)
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error.decode()
    return 250, ""


@pytest.mark.parametrize("path", sorted(CORPUS.glob("header-*.eml")), ids=lambda p: p.name)
def test_a_header_naming_another_sender_or_malformed_is_refused(path, relay, smtp_ssl, ledger_path):
    server = relay()
    code, text = submit(server, path.read_bytes())
    assert code == 550, (code, text)
    assert text.startswith(("5.7.1 header ", "5.6.0 ")), text
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0  # nothing went upstream
    assert ledger_sends(ledger_path) == []  # nothing reserved
    assert server.tally.refused == 1


def test_a_message_of_unknown_fate_is_refused_for_good_so_no_retry_sends_it_twice(
    relay, smtp_ssl, ledger_path
):
    # The connection broke after the data went up: it may have been delivered. The relay
    # answered 451, inviting the client to retry; a message without a Message-ID (the relay
    # adds one, new each time) then went out again, as a new message.
    server = relay(daily=5)
    smtp_ssl.drop_mid_data = True
    raw = b"Subject: no Message-ID\r\nTo: lead@example.com\r\n\r\nhi\r\n"
    code, text = submit(server, raw)
    assert code == 554, text
    assert text.startswith("5.4.2 upstream connection lost during DATA: the message may have"), text
    assert [o for _, _, o in ledger_sends(ledger_path)] == ["unknown"]
    assert server.tally.refused == 1 and server.tally.deferred == 0


def test_a_message_id_already_sent_is_not_answered_250_for_recipients_it_never_reached(
    relay, smtp_ssl, ledger_path
):
    # A script with a fixed Message-ID (a template's) sent it to a@ and b@, then to a@ and c@:
    # the relay answered 250 "already sent" to the second, and c@ never got anything.
    server = relay(daily=10)
    raw = b"Message-ID: <fixed@corp.example>\r\nSubject: s\r\n\r\nhi\r\n"
    assert submit(server, raw, ("a@example.com", "b@example.com")) == (250, "")
    assert submit(server, raw, ("b@example.com", "a@example.com")) == (250, "")  # a retry
    code, text = submit(server, raw, ("a@example.com", "c@example.com"))
    assert code == 550, text
    assert text.startswith("5.7.1 <fixed@corp.example> was already sent to a@example.com"), text
    assert "c@example.com" in text and "new Message-ID" in text, text
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("a@example.com", "b@example.com")]
    assert [r for r, _, _ in ledger_sends(ledger_path)] == ["a@example.com", "b@example.com"]
    # the retry's 250 was no new send: the summary says so apart
    assert (server.tally.sent, server.tally.already, server.tally.refused) == (1, 1, 1)
    assert server.summary().startswith("warmup: 1 sent, 1 already sent before (not again), 0 ")


def end_of_data(server, raw: bytes, rcpts: tuple[str, ...]) -> tuple[int, str]:
    """Log in to the relay and send ``raw``; the end-of-DATA reply, a 250's text too."""
    import smtplib

    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.mail(BOX)
        for rcpt in rcpts:
            assert s.rcpt(rcpt)[0] == 250
        code, text = s.data(raw)
    return code, text.decode()


def test_a_client_retrying_a_partly_deferred_message_without_message_id_reaches_only_the_rest(
    relay, smtp_ssl, ledger_path
):
    # The relay gave a message without a Message-ID a new random one each time: a client that
    # retried after "rejected upstream: grey@ (450)" mailed ok@ a second time. The relay's
    # Message-ID is now derived from the bytes, the envelope and the day, so it knows a retry.
    server = relay(daily=10)
    smtp_ssl.reject_rcpt = {"grey@example.com": (450, "4.2.0 greylisted, try again later")}
    raw = b"Subject: partly\r\n\r\nhi\r\n"
    both = ("ok@example.com", "grey@example.com")
    code, text = end_of_data(server, raw, both)
    assert code == 250 and "sent to 1 of 2; rejected upstream: grey@example.com (450)" in text
    # A client that reads no more than the 250 would never know: the summary names grey@.
    unreached = (
        "warmup: not reached (deferred upstream, 4xx, while others got the message): "
        "grey@example.com; send it to them again"
    )
    assert server.summary().splitlines()[-1] == unreached
    smtp_ssl.reject_rcpt = {}
    code, text = end_of_data(server, raw, both)
    assert code == 250, text
    assert " sent to 1 of 1 (1 more reached before: not sent again)" in text, text
    assert unreached not in server.summary()  # the retry reached it
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    # Another envelope is another message: a Message-ID of its own, sent to all.
    assert end_of_data(server, raw, ("ok@example.com",))[0] == 250
    assert smtp_ssl.messages[2].message["Message-ID"] != first.message["Message-ID"]
    ids = {m for _, m, _ in ledger_sends(ledger_path)}
    assert len(ids) == 2, ids


@pytest.mark.parametrize(
    "head",
    [
        b"From: Sales Team <A@Corp.Example>\r\n",
        b"From: =?utf-8?b?6ZSA5ZSu?= <a@corp.example>\r\nSender: a@corp.example\r\n",
        b"Subject: no From, so the relay adds it\r\n",
        b"From: a@corp.example\r\nX-Note: continued\r\n\tover two lines\r\n",
    ],
)
def test_headers_naming_only_the_mailbox_pass(head, relay, smtp_ssl):
    server = relay()
    assert submit(server, head + b"To: lead@example.com\r\n\r\nhello\r\n")[0] == 250
    [got] = smtp_ssl.messages
    assert got.raw.endswith(head + b"To: lead@example.com\r\n\r\nhello\r\n")  # bytes unchanged
    assert [a.addr_spec.lower() for a in got.message["From"].addresses] == [BOX]


@pytest.mark.parametrize(
    ("rcpt", "said"),
    [
        (
            "user@b\u00fccher.de",
            "international domain name; warmup sends without SMTPUTF8: write "
            "it as user@xn--bcher-kva.de",
        ),
        ("x" * 65 + "@example.com", "is too long: its part before the '@' has 65 characters"),
        ("no-domain", "malformed recipient 'no-domain': expected name@domain.tld"),
        # It named '??@example.com': which of a script's addresses was it?
        (
            "\u7528\u6237@example.com",
            "recipient '\\u7528\\u6237@example.com' has a name before the '@' that is not ASCII",
        ),
    ],
)
def test_a_recipient_refused_at_rcpt_is_told_why(rcpt, said, relay, smtp_ssl):
    # Every refusal said "malformed recipient: expected name@domain.tld", even for an
    # international domain (whose xn-- form is what to write) or a local part over 64 octets.
    import smtplib

    server = relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.mail(BOX)
        s.command_encoding = "utf-8"  # a client writing the address raw, SMTPUTF8 or not
        code, text = s.rcpt(rcpt)
    # RFC 6531 §3.7.4.1: a non-ASCII address without SMTPUTF8 (which the relay does not offer)
    want = (501, "5.1.3 ") if rcpt.isascii() else (553, "5.6.7 ")
    assert (code, text.decode()[:6]) == want, (code, text)
    assert said in text.decode(), text
    assert server.tally.early == {"RCPT TO": 1} and smtp_ssl.connections == 0


def test_the_relay_offers_no_smtputf8_so_a_client_keeps_a_non_ascii_address_to_itself(
    relay, smtp_ssl, ledger_path
):
    # The relay offered SMTPUTF8 and then refused every non-ASCII address (warmup sends with
    # ASCII addresses only): smtplib wrote the message's envelope with SMTPUTF8 and got a 501
    # at RCPT TO, where not offering it has the client say so itself, before any command.
    import smtplib

    server = relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        assert not s.has_extn("smtputf8") and s.has_extn("8bitmime")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = BOX, "\u7528\u6237@example.com", "hi"
        msg.set_content("hello")
        with pytest.raises(smtplib.SMTPNotSupportedError, match="SMTPUTF8"):
            s.send_message(msg)
        # the session goes on for ASCII recipients, 8-bit headers included (RFC 6152)
        msg.replace_header("To", "lead@example.com")
        msg.replace_header("Subject", "\u5b63\u5ea6\u62a5\u544a")
        assert s.send_message(msg) == {}
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("lead@example.com",)]
    assert [r for r, _, _ in ledger_sends(ledger_path)] == ["lead@example.com"]
    assert server.tally.early == {}


def test_mail_from_with_smtputf8_is_refused_with_555_saying_why(relay, smtp_ssl, ledger_path):
    # A client that declares SMTPUTF8 anyway (it is not offered) is told what to give instead.
    import smtplib

    server = relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.ehlo_or_helo_if_needed()
        code, text = s.docmd("MAIL", f"FROM:<{BOX}> SMTPUTF8")
        assert code == 555, (code, text)
        assert text.decode().startswith("5.5.4 SMTPUTF8 is not offered: warmup sends with ASCII")
        assert s.docmd("MAIL", f"FROM:<{BOX}>")[0] == 250  # nothing was left half-begun
    assert server.tally.early == {"MAIL FROM": 1} and server.tally.refused == 1
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


BCC_CLIENT = textwrap.dedent("""\
    import os, smtplib, subprocess
    env = os.environ
    raw = (b"From: " + env["WARMUP_MAILBOX"].encode() + b"\\r\\nTo: lead@example.com\\r\\n"
           b"bcc: hidden1@example.com,\\r\\n hidden2@example.com\\r\\n"
           b"Subject: relay\\r\\n\\r\\nhi\\r\\n")
    with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60) as s:
        s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
        s.sendmail(env["WARMUP_MAILBOX"], ["lead@example.com", "hidden1@example.com",
                                           "hidden2@example.com"], raw)
    # "Bcc : x" (white space before the colon) is refused on every path, the shim's too
    # (tests/test_sendmail.py): here the case differs from the usual, not the syntax.
    shim = b"To: lead@example.com\\nBCC: hidden3@example.com\\nSubject: shim\\n\\nhi\\n"
    subprocess.run(["sendmail", "-t", "-i", "hidden3@example.com"], input=shim, check=True)
""")


@pytest.mark.slow
def test_a_bcc_header_never_reaches_the_server_on_any_path(box, smtp_ssl, tmp_path):
    box(daily=20)
    script = tmp_path / "bcc.py"
    script.write_text(BCC_CLIENT)
    res = wrapped(sys.executable, str(script))
    assert res.returncode == 0, res.stderr
    eml = tmp_path / "one.eml"
    eml.write_bytes(
        b"To: lead@example.com\r\nBcc: hidden4@example.com\r\nResent-Bcc: "
        b"hidden5@example.com\r\nSubject: single\r\n\r\nhi\r\n"
    )
    single = warmup("send", BOX, "--eml", str(eml))
    assert single.returncode == 0, single.stderr
    relayed, shim, one = smtp_ssl.messages
    assert set(relayed.rcpt_tos) == {
        "lead@example.com",
        "hidden1@example.com",
        "hidden2@example.com",
    }
    assert set(shim.rcpt_tos) == {"lead@example.com", "hidden3@example.com"}
    # A Resent-* field makes it a resent message: it goes to its Resent-Bcc, as sendmail -t
    assert set(one.rcpt_tos) == {"hidden5@example.com"}
    for got in (relayed, shim, one):
        # no Bcc (Resent-Bcc) field: not "bcc" anywhere, which a Message-ID's random hex can hold
        header = got.raw.split(b"\r\n\r\n", 1)[0].lower()
        assert not re.search(rb"(?m)^(?:resent-)?bcc:", header), got.raw
        assert b"hidden" not in got.raw, got.raw
        assert got.message["To"] == "lead@example.com" and got.message.get_content().strip() == "hi"


def test_sessions_beyond_the_limit_are_refused_at_once(relay):
    import socket

    server = relay()
    socks, greetings = [], []
    try:
        for _ in range(60):  # idle, never logging in
            sock = socket.create_connection((server.host, server.port), timeout=10)
            socks.append(sock)
            greetings.append(sock.recv(200)[:3])
        accepted = greetings.count(b"220")
        assert 1 <= accepted <= 32 and greetings == [b"220"] * accepted + [b"421"] * (60 - accepted)
        assert all(s.recv(200) == b"" for s in socks[accepted:])  # refused and closed
        first = socks[0]
        first.sendall(b"QUIT\r\n")
        assert first.recv(200)[:3] == b"221" and first.recv(200) == b""
        again = socket.create_connection((server.host, server.port), timeout=10)
        socks.append(again)
        assert again.recv(200)[:3] == b"220"  # the slot it left is free again
    finally:
        for sock in socks:
            sock.close()


def _until_closed(sock, chatter: bytes = b"") -> float:
    """Seconds until the relay closes ``sock`` (sending ``chatter`` over and over meanwhile)."""
    import time

    start = time.monotonic()
    while time.monotonic() - start < 20:
        try:
            if chatter:
                sock.sendall(chatter)
            if sock.recv(4096) == b"":
                break
        except ConnectionError:  # closed while we wrote: reset, or a broken pipe
            break
    return time.monotonic() - start


@pytest.mark.slow
def test_idle_limits_cut_idle_clients_but_not_a_held_reply(relay, smtp_ssl):
    import smtplib
    import socket

    server = relay(interval="2s", wait=True, max_hold=10.0, login_timeout=0.5, idle_timeout=1.0)
    for chatter in (b"", b"NOOP\r\n"):  # NOOPs do not extend the time to log in
        with socket.create_connection((server.host, server.port), timeout=30) as sock:
            assert sock.recv(200)[:3] == b"220"
            assert 0.4 < _until_closed(sock, chatter) < 4.5
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        assert 0.9 < _until_closed(s.sock) < 5  # logged in: the idle limit
    # Two messages paced 2 s apart: the second reply is held longer than the idle limit.
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        for i in range(2):
            s.sendmail(BOX, ["lead@example.com"], f"Subject: {i}\r\n\r\nhi\r\n".encode())
    assert len(smtp_ssl.messages) == 2


@pytest.mark.slow
def test_stale_shim_folders_of_killed_runs_are_removed(box, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    box()
    # A wrapped run killed with SIGKILL (with its command) leaves its shim folder behind.
    proc = subprocess.Popen(
        [
            *forkcli.command(),
            "send",
            BOX,
            "--",
            "sh",
            "-c",
            'echo "$$ $PATH"; exec sleep 60',
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        child, path = proc.stdout.readline().split(" ", 1)
        killed = Path(path.split(os.pathsep)[0])
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    os.kill(int(child), signal.SIGKILL)
    assert killed.parent == tmp and killed.is_dir()
    # the killed run's certificate folder (warmup.relaytls) too
    (certs,) = tmp.glob(f"warmup-relay-{killed.name.split('-')[2]}-tls-*")
    ended = subprocess.Popen(["true"])
    ended.wait()  # its PID now names no process
    dead = tmp / f"warmup-relay-{ended.pid}-x1y2"
    live = tmp / f"warmup-relay-{os.getpid()}-live"  # this test's process is a live run
    legacy = tmp / "warmup-relay-k2j4h5"  # no owner in its name: never guessed at
    other = tmp / f"warmup-relay-{ended.pid}-notes.txt"  # not a folder
    for folder in (dead, live, legacy):
        folder.mkdir()
        (folder / "sendmail").write_text("#!/bin/sh\n")
    other.write_text("not a folder")
    res = wrapped("sh", "-c", 'echo "$PATH"')
    assert res.returncode == 0, res.stderr
    own = Path(res.stdout.split(os.pathsep)[0])
    assert own.parent == tmp and not own.exists()  # its own, removed on the way out
    assert not killed.exists() and not dead.exists() and not certs.exists()
    assert live.is_dir() and legacy.is_dir() and other.exists()


# -- the relay's own SMTP reading, and one thread for the sessions and the gate -----------------

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"


def _path_arg():
    """MAIL/RCPT arguments: mostly plain ``<local@domain> PARAMS``, with the forms around it
    (quoted or over-long local parts, comments, no brackets, blanks, 8-bit) mixed in."""
    from hypothesis import strategies as st

    atom = st.text(ATEXT, min_size=1, max_size=70)
    dotted = st.lists(atom, min_size=1, max_size=3).map(".".join)
    odd = st.sampled_from(['"a b"', "a..b", ".a", "ü", "(c)", " ", "", "@", "<", ">", "\t"])
    part = st.one_of(dotted, dotted, odd, st.tuples(dotted, odd, dotted).map("".join))
    params = st.sampled_from(["", " SIZE=100", "  BODY=8BITMIME", " (c) SIZE=1", "x", " ", "\t"])
    form = st.sampled_from(["<{}@{}>{}", "{}@{}{}", "<{}@{} >{}", "< {}@{}>{}"])
    return st.tuples(form, part, part, params).map(lambda t: t[0].format(*t[1:]))


@pytest.mark.slow
def test_paths_are_read_as_aiosmtpd_reads_them():
    """The relay's reading of a MAIL/RCPT path (a regex for ``<local@domain>``, the stdlib's
    parser for the rest) gives aiosmtpd's answer for every argument, plain or not: aiosmtpd
    served the relay before, and its reading is the reference."""
    from aiosmtpd.smtp import SMTP
    from hypothesis import example, given, settings

    from warmup.relayserver import read_path

    def aiosmtpds(limit: int, arg: str):  # type: ignore[no-untyped-def]
        session = SMTP.__new__(SMTP)  # _getaddr reads only the local-part limit
        session.local_part_limit = limit
        # the stdlib parser under aiosmtpd raises IndexError for some paths ('"a b"@'), where
        # aiosmtpd means None, None (malformed): the relay answers so, not 500 (IndexError)
        try:
            address, rest = SMTP._getaddr(session, arg)
        except IndexError:
            return None, ""
        return address, "" if address is None else rest

    checked = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(arg=_path_arg())
    @example(arg='"a b"@')
    @example(arg='<"a b"@>')
    def agrees(arg: str) -> None:
        for limit in (0, 64):
            assert read_path(arg, limit) == aiosmtpds(limit, arg), (arg, limit)
        checked.append(arg)

    agrees()
    for arg in ("<a@corp.example>", "<A.b@Corp.Example> SIZE=10", f"<{'x' * 65}@e.com>", "", "<>"):
        for limit in (0, 64):
            assert read_path(arg, limit) == aiosmtpds(limit, arg), (arg, limit)
    assert len(checked) > 100


def test_paths_with_parameters_comments_or_quotes_get_their_usual_replies(relay, smtp_ssl):
    import smtplib

    server = relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.ehlo()
        assert s.docmd("MAIL", "FROM:<A@Corp.Example> SIZE=100")[0] == 250
        assert s.docmd("RCPT", "TO:<lead@example.com>")[0] == 250
        assert s.docmd("RCPT", "TO:<lead2@example.com> (a comment)")[0] == 250
        assert s.docmd("RCPT", 'TO:<"two words"@example.com>')[0] == 501  # not name@domain.tld
        assert s.docmd("RCPT", "TO:<lead3@example.com> BOGUS=1")[0] == 555
        assert s.docmd("RSET")[0] == 250
        assert s.docmd("MAIL", "FROM:<other@corp.example>")[0] == 553  # only as the mailbox
        code, text = s.docmd("MAIL", "FROM:<>")  # a bounce's sender: not "not <<>>"
        assert (code, text.decode().endswith(", not the null sender <>")) == (553, True), text
        assert s.docmd("MAIL", "FROM:a@corp.example")[0] == 250  # no brackets: aiosmtpd's parser
        s.rcpt("lead@example.com")
        code, _ = s.data(b"Subject: hi\r\n\r\nhello\r\n")
    assert code == 250
    [got] = smtp_ssl.messages
    assert list(got.rcpt_tos) == ["lead@example.com"]


@pytest.mark.slow
def test_the_gate_runs_on_the_sessions_thread_and_a_held_reply_blocks_no_one(relay, smtp_ssl):
    """No thread hand-off on a message's path: the relay adds one thread, aiosmtpd's, which
    reserves, delivers and settles (and one that only checkpoints the ledger's log, woken now
    and then); a reply held for the next paced slot holds no other session."""
    import smtplib
    import threading
    import time

    before = threading.active_count()
    # 6 s between messages: a reply held that long is what a blocked NOOP would wait. The
    # bound on a NOOP below leaves a loaded machine 3 s for the delivery the relay's thread
    # does meanwhile (TLS, AUTH, DATA, the ledger); 2 s paced, bounded at 1 s, left it little.
    server = relay(daily=5, interval="6s", wait=True, max_hold=10.0)
    assert threading.active_count() == before + 2
    assert "warmup-checkpoints" in [t.name for t in threading.enumerate()]
    held: dict[str, float] = {}

    def second_message() -> None:
        with smtplib.SMTP(server.host, server.port, timeout=30) as s:
            s.login(server.user, server.password)
            s.sendmail(BOX, ["lead@example.com"], b"Subject: 1\r\n\r\nhi\r\n")
            held["done"] = time.monotonic()

    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.sendmail(BOX, ["lead@example.com"], b"Subject: 0\r\n\r\nhi\r\n")
        first = time.monotonic()
        sender = threading.Thread(target=second_message)
        sender.start()
        waits = []  # our commands' replies while the other session's reply is held
        while sender.is_alive():
            start = time.monotonic()
            assert s.noop()[0] == 250
            waits.append(time.monotonic() - start)
        assert threading.active_count() == before + 2  # the relay's threads: no worker added
        sender.join()
    assert held["done"] - first > 4.0  # paced 6 s after the first message
    assert len(waits) > 10 and max(waits) < 3.0, waits
    assert len(smtp_ssl.messages) == 2


def _shim_env(server, monkeypatch) -> None:
    """The environment `warmup sendmail` gets as the wrapped command's shim."""
    from warmup.cli.sendmail import RELAY_VARS

    env = server.child_env()
    for name in (*RELAY_VARS, "WARMUP_MAILBOX"):
        monkeypatch.setenv(name, env[name])


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("-f", BOX, "lé@example.com"), "recipient 'lé@example.com' has a name before the '@'"),
        (
            ("-f", "bøss@corp.example", "lead@example.com"),
            "sender 'bøss@corp.example' has a name before the '@'",
        ),
        (
            ("-f", BOX, "lead@example.com\r\nDATA"),
            "malformed recipient 'lead@example.com\\r\\nDATA': expected name@domain.tld",
        ),
    ],
)
def test_sendmail_shim_refuses_an_address_smtp_cannot_carry(
    args, shown, relay, run, smtp_ssl, monkeypatch, ledger_path
):
    # smtplib raised UnicodeEncodeError on a non-ASCII address (a traceback, exit 1) and
    # rewrote one with a line break into whatever its parser found in it.
    server = relay()
    _shim_env(server, monkeypatch)
    res = run("sendmail", *args, input="Subject: hi\n\nhello\n")
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {shown}") and res.output.count("\n") == 1, res.output
    assert smtp_ssl.messages == [] and ledger_sends(ledger_path) == []


def test_sendmail_shim_takes_r_as_the_sender_and_no_flag_value_as_a_recipient(
    relay, run, smtp_ssl, monkeypatch
):
    # `-r ADDR` (mailx, Postfix) and the values of -N/-V/-R/-X were read as recipients: the
    # message also went to the mailbox itself (and to "never"), using their slots.
    server = relay()
    _shim_env(server, monkeypatch)
    args = ("-r", BOX, "-N", "never", "-V", "env1", "-R", "hdrs", "-X", "/dev/null")
    res = run("sendmail", *args, "lead@example.com", input="Subject: hi\n\nhello\n")
    assert res.exit_code == 0, res.output
    [msg] = smtp_ssl.messages
    assert (msg.mail_from, msg.rcpt_tos) == (BOX, ("lead@example.com",))


def test_sendmail_shim_exits_as_direct_mode_when_the_server_refuses_a_recipient(
    relay, run, smtp_ssl, monkeypatch, ledger_path
):
    # Through the relay the shim exited 0, silently, though the server refused a recipient:
    # the relay answers 250 when any recipient was accepted, naming the others in its text.
    # Direct mode (`warmup sendmail` with no relay) says so and exits 65 (75 for a 4xx).
    server = relay(daily=50)
    smtp_ssl.reject_rcpt = {
        "gone@example.com": (550, "5.1.1 no such user"),
        "later@example.com": (450, "4.2.1 mailbox busy"),
    }
    _shim_env(server, monkeypatch)
    res = run(
        "sendmail", "-f", BOX, "lead@example.com", "gone@example.com", input="Subject: a\n\nb\n"
    )
    assert res.exit_code == 65, res.output
    assert res.output == "sendmail: gone@example.com: rejected upstream (550)\n"
    smtp_ssl.reject_rcpt["gone2@example.com"] = (550, "5.1.1 no such user")
    res = run(
        "sendmail",
        *("-f", BOX, "lead@example.com", "gone2@example.com", "later@example.com"),
        input="Subject: c\n\nd\n",
    )
    assert res.exit_code == 75, res.output
    assert res.output == (  # the temporary refusal named first
        "sendmail: later@example.com: rejected upstream (450)\n"
        "sendmail: gone2@example.com: rejected upstream (550)\n"
    )
    assert run("sendmail", "-f", BOX, "lead@example.com", input="Subject: e\n\nf\n").exit_code == 0
    # More refusals than the relay's reply of 400 characters can name: the temporary one,
    # last of the recipients, still reaches the shim, which exits 75 (retry), not 65.
    gone = [f"gone-recipient-number-{i:02d}@example.com" for i in range(12)]
    smtp_ssl.reject_rcpt.update({g: (550, "5.1.1 no such user") for g in gone})
    res = run(
        "sendmail",
        *("-f", BOX, "lead@example.com", *gone, "later@example.com"),
        input="Subject: g\n\nh\n",
    )
    assert res.exit_code == 75, res.output
    assert res.output.startswith("sendmail: later@example.com: rejected upstream (450)\n")


def test_sendmail_takes_h_as_sendmails_hop_count_not_as_help(relay, run, smtp_ssl, monkeypatch):
    # `sendmail -h 5` (sendmail(8)'s hop count) printed warmup's help and exited 0: a script
    # was told the message was sent, and nothing was.
    server = relay()
    _shim_env(server, monkeypatch)
    res = run("sendmail", "-h", "5", "-f", BOX, "lead@example.com", input="Subject: hi\n\nhello\n")
    assert (res.exit_code, res.output) == (0, "")
    [msg] = smtp_ssl.messages
    assert msg.rcpt_tos == ("lead@example.com",)
    assert "Usage:" in run("sendmail", "--help").output


# -- 8-bit headers and bodies for what the upstream server offers ------------------------------

UTF8_HEAD = "Subject: 季度报告 — 请查收\r\nTo: lead@example.com\r\n".encode()


def test_raw_utf8_headers_go_up_as_rfc2047_words_to_a_server_without_smtputf8(relay, smtp_ssl):
    # They went out raw: a server without SMTPUTF8 may refuse or mangle them, and `warmup send
    # FILE` writes the same message with RFC 2047 words.
    server = relay()
    smtp_ssl.smtputf8 = False
    assert submit(server, UTF8_HEAD + b"\r\nhello\r\n")[0] == 250
    [got] = smtp_ssl.messages
    head, _, body = got.raw.partition(b"\r\n\r\n")
    assert head.isascii(), head
    assert b"=?utf-8?" in head
    assert got.message["Subject"] == "季度报告 — 请查收"
    assert body == b"hello\r\n"
    assert "SMTPUTF8" not in got.mail_options


def test_raw_utf8_headers_pass_unchanged_with_smtputf8_to_a_server_that_offers_it(relay, smtp_ssl):
    server = relay()
    smtp_ssl.smtputf8 = True
    raw = b"From: a@corp.example\r\n" + UTF8_HEAD + b"\r\nhello\r\n"
    assert submit(server, raw)[0] == 250
    [got] = smtp_ssl.messages
    # The client's fields and body as they came, the charset they are in declared after its
    # fields (a client may read raw 8-bit fields in the body's charset, us-ascii undeclared);
    # a message with a DKIM-Signature goes byte for byte (tests/test_charset_declared.py).
    fields = b"From: a@corp.example\r\n" + UTF8_HEAD
    mime = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    assert got.raw.endswith(fields + mime + b"\r\nhello\r\n")
    assert "SMTPUTF8" in got.mail_options and "BODY=8BITMIME" in got.mail_options


def test_a_header_in_gbk_is_refused_before_anything_is_reserved(relay, smtp_ssl, ledger_path):
    # Kept as it came: neither RFC 2047 nor UTF-8, recipients' clients show mojibake.
    server = relay()
    raw = "Subject: 季度报告\r\nTo: lead@example.com\r\n\r\nhello\r\n".encode("gbk")
    code, text = submit(server, raw)
    assert code == 550, text
    assert text.startswith("5.6.0 header Subject is not UTF-8"), text
    assert "RFC 2047" in text
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0
    assert ledger_sends(ledger_path) == []


def test_an_8bit_body_goes_up_quoted_printable_to_a_server_without_8bitmime(relay, smtp_ssl):
    # RFC 6152: a client must not send 8-bit data to a server that did not offer 8BITMIME.
    server = relay()
    smtp_ssl.eightbitmime = False
    text = "您好，\r\n这是本季度的报告。\r\n"
    raw = (
        b"Subject: report\r\nTo: lead@example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + text.encode()
    )
    assert submit(server, raw)[0] == 250
    [got] = smtp_ssl.messages
    assert got.raw.isascii()
    assert got.message["Content-Transfer-Encoding"] == "quoted-printable"
    assert got.message.get_content() == text


def test_sendmail_shim_puts_f_full_name_in_the_from_it_adds(relay, run, smtp_ssl, monkeypatch):
    server = relay()
    _shim_env(server, monkeypatch)
    res = run("sendmail", "-F", "销售部 Sales", "lead@example.com", input="Subject: hi\n\nhello\n")
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    head = got.raw.partition(b"\r\n\r\n")[0]
    assert head.isascii(), head
    [sender] = got.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("销售部 Sales", BOX)
    assert len(got.message.get_all("From")) == 1


def test_sendmail_shim_says_an_address_in_f_is_f_s(relay, run, smtp_ssl, monkeypatch):
    server = relay()
    _shim_env(server, monkeypatch)
    res = run(
        "sendmail", "-F", "Bob <bob@b.example>", "lead@example.com", input="Subject: hi\n\nhello\n"
    )
    assert res.exit_code == 64, res.output
    assert res.output.startswith(
        "Error: -F 'Bob <bob@b.example>' (the sender's full name, in the From warmup adds) "
        "names bob@b.example, not the mailbox"
    ), res.output
    assert smtp_ssl.messages == []


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(("set", "--policy", "LOWER"), id="policy"),
        pytest.param(("set", "--cap", "1"), id="cap"),
        pytest.param(("pause", "--reason", "list under review"), id="pause"),
    ],
)
def test_a_change_to_the_mailbox_while_the_relay_runs_holds_its_next_message(
    change, relay, smtp_ssl, tmp_path
):
    """A relay keeps one gate for the life of its command (hours, days): a policy lowered, a cap
    lowered or a pause while it runs must hold its next message, not only a new relay's."""
    server = relay(daily=5)
    raw = b"From: %s\r\nTo: lead@example.com\r\nSubject: hi\r\n\r\nHello.\r\n" % BOX.encode()
    assert submit(server, raw)[0] == 250
    lower = policy_file(tmp_path / "lower.toml", 1, "0s")
    args = [str(lower) if a == "LOWER" else a for a in change]
    res = cli("mailbox", args[0], BOX, *args[1:])
    assert res.returncode == 0, res.stderr
    code, text = submit(server, raw)
    assert code // 100 == 4, (code, text)
    assert len(smtp_ssl.messages) == 1


def test_a_password_fixed_while_the_relay_runs_lets_its_next_message_go(
    relay, smtp_ssl, monkeypatch
):
    """The server refused the mailbox's password; the user stored the right one. The relay's
    gate reads it again after a refusal, so the command's next message goes without a new
    relay."""
    server = relay(daily=5)
    raw = b"From: %s\r\nTo: lead@example.com\r\nSubject: hi\r\n\r\nHello.\r\n" % BOX.encode()
    monkeypatch.setenv("WARMUP_PASSWORD", "not-the-password")
    code, text = submit(server, raw)
    assert code // 100 in (4, 5) and smtp_ssl.messages == [], (code, text)
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)  # the fix
    assert submit(server, raw) == (250, "")
    assert len(smtp_ssl.messages) == 1


def test_sendmail_shim_exits_65_as_direct_mode_for_more_recipients_than_the_provider_allows(
    smtp_ssl, ssl_cert_env, run, tmp_path, monkeypatch, ledger_path
):
    # The relay answers a Microsoft 365 mailbox's 501st RCPT "452 4.5.3 too many recipients"
    # (an SMTP client sends the rest in another transaction); the shim, all or nothing, exited
    # 75 "try later", and every retry of the same command line got the same answer. Direct mode
    # exits 65 for it.
    from warmup import api, open_ledger
    from warmup.gate import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    ledger = open_ledger()
    api.add_mailbox(
        ledger,
        BOX,
        "m365",
        auth="password",
        smtp_host="127.0.0.1",
        smtp_port=smtp_ssl.port,
        smtp_security="ssl",
        policy=str(policy_file(tmp_path / "policy.toml", 1000, "0s")),
    )
    ledger.close()
    with Gate(BOX) as gate:
        server = Relay(gate, wait=False).start()
        try:
            _shim_env(server, monkeypatch)
            rcpts = [f"lead{i}@example.com" for i in range(501)]
            res = run("sendmail", "-f", BOX, *rcpts, input="Subject: a\n\nb\n")
        finally:
            server.stop()
    assert res.exit_code == 65, res.output
    assert res.output == (
        "sendmail: lead500@example.com: 452 4.5.3 too many recipients: Microsoft 365 "
        "(Exchange Online) allows 500 per message\n"
    )
    assert smtp_ssl.messages == [] and ledger_sends(ledger_path) == []
    for name in (
        "WARMUP_SMTP_HOST",
        "WARMUP_SMTP_PORT",
        "WARMUP_SMTP_USER",
        "WARMUP_SMTP_PASSWORD",
    ):
        monkeypatch.delenv(name)
    direct = run("sendmail", "-f", BOX, *rcpts, input="Subject: a\n\nb\n")
    assert direct.exit_code == 65, direct.output


def test_more_recipients_than_the_mailbox_ever_sends_in_a_day_are_refused_at_rcpt_for_good(
    relay, run, smtp_ssl, monkeypatch, ledger_path
):
    # A message to more recipients than any day's quota (the policy's ceiling, 3) was
    # answered "451 4.7.1 only 3 of today's quota left ... try tomorrow": the shim exited 75
    # and a script retrying on 4xx retried for ever, where `send` and direct `sendmail` exit
    # 65. The relay answers the recipient past the ceiling as past a provider's per-message
    # limit: 452 4.5.3 (an SMTP client sends the rest in another transaction), exit 65.
    import smtplib

    server = relay(daily=3)
    rcpts = [f"lead{i}@example.com" for i in range(4)]
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        refused = s.sendmail(BOX, rcpts, b"Subject: a\r\n\r\nb\r\n")
    [(code, text)] = refused.values()
    assert list(refused) == ["lead3@example.com"] and code == 452, refused
    assert text.decode() == (
        "4.5.3 too many recipients: a@corp.example, sending to at most 3 a day (its "
        "policy's ceiling), allows 3 per message"
    )
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [tuple(rcpts[:3])]
    _shim_env(server, monkeypatch)
    res = run("sendmail", "-f", BOX, *[f"more{i}@example.com" for i in range(4)], input="x\n")
    assert res.exit_code == 65, res.output
    assert res.output.startswith("sendmail: more3@example.com: 452 4.5.3 too many recipients")
    assert len(smtp_ssl.messages) == 1 and len(ledger_sends(ledger_path)) == 3


def test_recipients_past_a_recipient_domain_cap_any_day_allows_are_refused_at_rcpt(
    relay, smtp_ssl, ledger_path
):
    # Past its policy's cap for their domain (2 a day to example.com; none to other domains),
    # the message was answered "451 ... send to example.com tomorrow" at the end of DATA, every
    # day: a client retrying on 4xx retried for ever. The recipient past the cap is 452 4.5.3,
    # as one past the day's top (the client sends it in another transaction), and one at a
    # domain the policy never mails is refused for good; the others go.
    import smtplib

    server = relay(daily=50, policy_tail='\n[recipient_domains]\ndefault = 0\n"example.com" = 2\n')
    rcpts = ["a@example.com", "b@example.com", "c@example.com", "d@elsewhere.example"]
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        refused = s.sendmail(BOX, rcpts, b"Subject: a\r\n\r\nb\r\n")
    said = {rcpt: (code, text.decode()) for rcpt, (code, text) in refused.items()}
    assert said == {
        "c@example.com": (
            452,
            "4.5.3 too many recipients at example.com: a@corp.example sends to at most 2 a day "
            "there (its policy's recipient-domain cap)",
        ),
        "d@elsewhere.example": (
            550,
            "5.7.1 a@corp.example never mails anyone at elsewhere.example (its policy's "
            "recipient-domain cap there is 0): not sent",
        ),
    }
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("a@example.com", "b@example.com")]
    assert [r for r, _, _ in ledger_sends(ledger_path)] == ["a@example.com", "b@example.com"]


def test_a_message_over_the_servers_size_is_refused_552_before_mail_from(
    relay, smtp_ssl, ledger_path
):
    # Forwarded anyway, the server refused it at the end of DATA: a soft bounce counted
    # against the recipient, a slot used, and a 4xx-looking retry loop for the client.
    smtp_ssl.stop()
    smtp_ssl.size_limit = 2000
    smtp_ssl.start()
    server = relay(daily=5)
    raw = b"Subject: big\r\nTo: lead@example.com\r\n\r\n" + (b"y" * 76 + b"\r\n") * 40
    code, text = submit(server, raw)
    assert code == 552, text
    assert text.startswith("5.3.4 the message is") and "SIZE" in text, text
    assert smtp_ssl.messages == [] and smtp_ssl.mail_commands == 0
    assert {o for _, _, o in ledger_sends(ledger_path)} <= {"released"}
    assert quota()["sent"] == 0


def test_a_client_that_skips_or_fails_the_login_is_told_apart_in_the_summary(relay, smtp_ssl):
    # Neither is counted (any local process may connect), and the summary said only "0 sent"
    # to a user whose script left out s.login() or used credentials of its own.
    import smtplib

    server = relay()
    with smtplib.SMTP(server.host, server.port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPSenderRefused):
            s.sendmail(BOX, ["lead@example.com"], b"Subject: x\r\n\r\nhi\r\n")
    with smtplib.SMTP(server.host, server.port, timeout=10) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(BOX, "not-the-relay-password")
    server.stop()
    first, *notes = server.summary().splitlines()
    assert first.startswith("warmup: 0 sent, 0 deferred (4xx), 0 refused (5xx)")
    assert [n.split(":")[1].strip() for n in notes] == [
        "a client sent MAIL FROM without logging in",
        "a client failed to log in",
    ]
    assert all("only this run's WARMUP_SMTP_USER and WARMUP_SMTP_PASSWORD" in n for n in notes)
    assert "not-the-relay-password" not in server.summary()
    assert smtp_ssl.messages == []


def test_warmup_send_inside_a_wrapped_command_is_told_to_use_the_relay(box, smtp_ssl):
    """A wrapped script calling 'warmup send ADDR --to ... --body ...' got "no system keyring
    ...; set WARMUP_PASSWORD", exit 78: the wrapper takes the password out of the command's
    environment on purpose, and the error sent the user to hand it back. It names the run's
    relay instead."""
    box()
    inner = [sys.executable, "-m", "warmup", "send", BOX, "--to", "a@example.com", "--body", "hi"]
    res = wrapped("sh", "-c", shlex.join(inner) + " 2>&1; echo inner-exit=$?")
    assert res.returncode == 0, res.stderr
    assert "inner-exit=78" in res.stdout, res.stdout
    assert "send through the run's relay instead" in res.stdout, res.stdout
    assert SMTP_PASSWORD not in res.stdout + res.stderr
    assert smtp_ssl.messages == []


def test_a_client_retrying_past_a_recipient_suppressed_since_reaches_only_the_deferred(
    relay, smtp_ssl, ledger_path
):
    """Deferred for grey@ (4xx), hard-bounced for gone@ (5xx, suppressed since): a client's
    retry of the same message (no Message-ID) is refused at RCPT TO for gone@ and goes on with
    the others. Its derived Message-ID counted only the recipients taken, so the retry was
    another message and ok@ got it twice; it counts those refused as suppressed too."""
    import smtplib

    server = relay(daily=10)
    smtp_ssl.reject_rcpt = {
        "grey@example.com": (450, "4.2.0 greylisted, try again later"),
        "gone@example.com": (550, "5.1.1 no such user"),
    }
    raw = b"Subject: partly\r\n\r\nhi\r\n"
    three = ["ok@example.com", "grey@example.com", "gone@example.com"]
    code, text = end_of_data(server, raw, tuple(three))
    assert code == 250 and " sent to 1 of 3;" in text, text
    smtp_ssl.reject_rcpt = {}
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        refused = s.sendmail(BOX, three, raw)
        reply = s.noop()  # the session goes on
    assert reply[0] == 250
    assert list(refused) == ["gone@example.com"] and refused["gone@example.com"][0] == 550
    first, retry = smtp_ssl.messages
    assert (first.rcpt_tos, retry.rcpt_tos) == (("ok@example.com",), ("grey@example.com",))
    assert first.message["Message-ID"] == retry.message["Message-ID"]
    server.stop()
    server.gate.flush()  # its "sent" settlement written
    assert sorted((r, o) for r, _, o in ledger_sends(ledger_path)) == [
        ("gone@example.com", "hard"),
        ("grey@example.com", "sent"),
        ("grey@example.com", "soft"),
        ("ok@example.com", "sent"),
    ]


def _in_envelope(server):
    """A raw socket logged in to the relay with one recipient accepted, and its command()."""
    import base64
    import socket

    sock = socket.create_connection((server.host, server.port), timeout=10)
    replies = sock.makefile("rb")
    assert replies.readline()[:3] == b"220"

    def command(line: bytes) -> bytes:
        sock.sendall(line + b"\r\n")
        while (got := replies.readline())[3:4] == b"-":
            pass
        return got

    assert command(b"EHLO client")[:3] == b"250"
    token = base64.b64encode(f"\0{server.user}\0{server.password}".encode())
    assert command(b"AUTH PLAIN " + token)[:3] == b"235"
    assert command(f"MAIL FROM:<{BOX}>".encode())[:3] == b"250"
    assert command(b"RCPT TO:<lead@example.com>")[:3] == b"250"
    return sock, replies, command


@pytest.mark.parametrize(
    "gone", ["mid-data", "mid-data-pipelined", "mid-data-reset", "before-data"]
)
def test_a_client_gone_before_the_end_of_data_sends_nothing_and_the_summary_says_so(
    gone, relay, smtp_ssl, ledger_path, caplog
):
    # A script killed (or timed out) in the middle of a message: nothing may go upstream or be
    # reserved, the relay goes on serving, and the summary said only "0 sent" of it.
    import logging
    import socket
    import struct

    caplog.set_level(logging.INFO)
    server = relay()
    sock, replies, command = _in_envelope(server)
    half = b"Subject: half\r\nTo: lead@example.com\r\n\r\nsome lines\r\nof a message\r\n"
    if gone == "mid-data-pipelined":  # DATA and part of the message at once, no 354 awaited
        sock.sendall(b"DATA\r\n" + half)
    elif gone != "before-data":
        assert command(b"DATA")[:3] == b"354"
        sock.sendall(half)
    if gone == "mid-data-reset":  # RST, not FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    replies.close()  # the file holds the socket open: closing only sock sends nothing
    sock.close()
    assert submit(server, b"Subject: whole\r\nTo: lead@example.com\r\n\r\nhi\r\n") == (250, "")
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["whole"]
    assert len(ledger_sends(ledger_path)) == 1  # the whole message's, none for the half one
    assert server.summary().splitlines() == [
        "warmup: 1 sent, 0 deferred (4xx), 0 refused (5xx), 0 recipients rejected upstream",
        "warmup: 1 message abandoned: the command closed the connection before the end of "
        "DATA; not sent, no quota used",
    ]
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


def test_a_client_gone_while_its_reply_is_held_for_pacing_sends_nothing(
    relay, smtp_ssl, ledger_path
):
    # Held for the next paced slot, nothing is reserved: a client that gives up then (its
    # timeout, a kill) costs nothing, and the summary says so and why. It said "abandoned:
    # the command closed the connection before the end of DATA", where the whole message had
    # come: swaks (30 s) and other clients with a timeout under the pacing gap end so.
    import smtplib

    server = relay(interval="5s", wait=True, max_hold=10.0)
    assert submit(server, b"Subject: first\r\n\r\nhi\r\n") == (250, "")
    sock, replies, command = _in_envelope(server)
    assert command(b"DATA")[:3] == b"354"
    sock.sendall(b"Subject: second\r\n\r\nhi\r\n.\r\n")  # whole: its reply is held
    replies.close()
    sock.close()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:  # a round trip after it
        assert s.noop()[0] == 250
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["first"]
    assert len(ledger_sends(ledger_path)) == 1
    assert server.summary().splitlines()[1:] == [
        "warmup: 1 message not sent: the command closed the connection while the relay held "
        "its reply for the next paced slot (no quota used); give its SMTP client a timeout "
        "longer than the pacing gap (the relay holds a reply up to 10 s), or answer 451 at "
        "once (--refuse)"
    ]


def test_a_client_that_broke_its_handshake_off_as_the_command_ended_is_still_told(relay):
    """A script that does not trust the run's certificate exits at once; the relay stopped
    with its alert unread (the loop busy elsewhere: a loaded machine) cancelled the handshake,
    and the note saying what to trust, the one line that explains the failure, was lost. The
    loop is held here while the alert arrives and the stop is asked, so the stop comes first."""
    import asyncio
    import socket
    import ssl
    import threading

    from warmup.relayserver import TRUST_NOTE

    server = relay()
    client = ssl.create_default_context().wrap_bio(
        incoming := ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname="127.0.0.1"
    )
    with socket.create_connection((server.host, server.tls_port), timeout=30) as sock:
        while True:
            try:
                client.do_handshake()
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                incoming.write(sock.recv(65536))
            except ssl.SSLCertVerificationError:
                break
        loop = server._server.loop
        held, go_on = threading.Event(), threading.Event()
        loop.call_soon_threadsafe(lambda: (held.set(), go_on.wait(30)))
        assert held.wait(30)
        sock.sendall(outgoing.read())  # the alert: unknown CA
    stopped = asyncio.run_coroutine_threadsafe(server._server._shutdown(), loop)
    go_on.set()
    stopped.result(30)
    assert server.tally.errors == [TRUST_NOTE.format(reason="TLSV1_ALERT_UNKNOWN_CA")]
