"""``warmup send`` of one message against what the server says it takes (EHLO's SIZE), on the
real loopback sink: a message the server would refuse costs no quota and no bounce."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import threading
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import (
    BOX,
    PASSWORD_ENV,
    add_box,
    cli,
    cli_to_full_disk,
    mute_server,
    policy_file,
    rows,
    warmup,
)
from tests.outboxkit import midday_zone
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Script, ScriptedServer, SmtpSink
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.zonekit import kit_zone
from warmup import open_ledger


def test_message_over_the_servers_size_is_refused_before_mail(pki, ssl_cert_env, ledger_path):
    # Sent anyway, it was refused at the end of DATA (552): each recipient recorded as a soft
    # bounce (counted in the bounce rate that holds the ramp back), its quota spent, and exit
    # 75 told the script to try again later: the same refusal, every time.
    with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, size_limit=2000) as sink:
        add_box(sink.port)
        res = cli(
            "send", BOX, "--to", "a1@example.com", "--to", "a2@example.com",
            "--subject", "big", "--body", "y" * 5000, env=PASSWORD_ENV,
        )  # fmt: skip
        assert res.returncode == 65, res.stderr
        [line] = res.stderr.splitlines()
        # sizes as people read them (words.byte_size), not "5432 octets ... at most 2000"
        assert re.fullmatch(
            r"Error: the message is [1-9],\d{3} bytes and 127\.0\.0\.1 takes at most 2 kB \(its "
            r"SIZE\): nothing was sent; make it smaller \(a link instead of an attachment\?\)",
            line,
        ), line
        assert sink.messages == [] and sink.mail_commands == 0
        assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]
        assert {o for (o,) in rows(ledger_path, "SELECT outcome FROM send")} <= {"released"}
        q = json.loads(cli("quota", BOX, "--json").stdout)[0]
        assert (q["sent"], q["remaining"]) == (0, 50)
        # One the server takes still goes, on the same set-up.
        ok = cli("send", BOX, "--to", "a1@example.com", "--body", "small", env=PASSWORD_ENV)
        assert ok.returncode == 0, ok.stderr
        assert [m.rcpt_tos for m in sink.messages] == [("a1@example.com",)]


@pytest.mark.parametrize("size", [b"\xb2", b"\xb9\xb3"], ids=["2", "13"])
def test_a_size_in_digits_that_are_no_ascii_is_no_limit_not_a_traceback(ledger_path, size):
    """EHLO's SIZE is a stranger's text, read as Latin-1 by smtplib: "SIZE \u00b2" passed
    str.isdigit() and int() raised ValueError, a traceback for 'warmup send' (RFC 1870's size
    is ASCII digits). Read as naming no limit, the message goes."""
    ehlo = b"250-scripted.test.example\r\n250-SIZE " + size + b"\r\n250 AUTH PLAIN LOGIN\r\n"
    with ScriptedServer(Script(replies={"EHLO": ehlo})) as server:
        add_box(server.port, "--smtp-security", "none")
        res = cli("send", BOX, "--to", "a1@example.com", "--body", "hi", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    assert [o for (o,) in rows(ledger_path, "SELECT outcome FROM send")] == ["sent"]


def test_a_mailbox_of_one_recipient_a_day_says_so_in_the_singular(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """ "split it into messages of at most 1 recipients"."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=1)))
    two = ["--to", "a@example.com", "--to", "b@example.com"]
    res = cli("send", BOX, *two, "--body", "hi", "--dry-run", env=PASSWORD_ENV)
    assert res.returncode == 65, res.stderr
    assert res.stderr.endswith("split it into messages of at most 1 recipient\n"), res.stderr


def test_more_recipients_than_the_mailbox_ever_sends_a_day_is_bad_data(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # Exit 75 said "try later", and "try tomorrow": no day of a policy whose ceiling is 3 ever
    # allows 4 recipients, so a script that retries on 75, as sysexits asks, retried for ever.
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=3)))
    many = ["--to", "a@example.com", "--to", "b@example.com", "--to", "c@example.com"]
    many += ["--cc", "d@example.com"]
    for extra in ((), ("--dry-run",)):
        res = cli("send", BOX, *many, "--body", "hi", *extra, env=PASSWORD_ENV)
        assert res.returncode == 65, res.stderr
        assert res.stderr == (
            f"Error: 4 recipients in one message; {BOX} never sends to more than 3 a day (its "
            f"policy's ceiling): split it into messages of at most 3 recipients\n"
        )
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    # Three fit (today's quota is all left): those go.
    res = cli("send", BOX, *many[:6], "--body", "hi", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    # A cap set on the mailbox bounds it too.
    assert cli("mailbox", "set", BOX, "--cap", "2").returncode == 0
    res = cli("send", BOX, *many[:6], "--body", "hi", "--dry-run", env=PASSWORD_ENV)
    assert res.returncode == 65 and "more than 2 a day (its cap)" in res.stderr, res.stderr


def test_more_recipients_than_any_bound_of_a_day_allows_is_bad_data_not_try_later(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # Only the policy's ceiling and the mailbox's cap were asked: a message past the policy's
    # top volume (a last stage below the ceiling), its domain cap, or its cap for one receiving
    # domain exited 75 "send to at most 20 or try tomorrow" every day, as sysexits' retry.
    top = tmp_path / "top.toml"
    top.write_text(
        'name = "top"\nceiling = 300\ngrowth_factor = 2.0\n\n'
        '[[stage]]\nname = "flat"\ndays = 0\ndaily = 2\ninterval = "0s"\n'
    )
    add_box(smtp_ssl.port, "--policy", str(top))
    three = ["--to", "a@example.com", "--to", "b@example.com", "--to", "c@other.example"]
    cases = [
        (
            "top",
            "3 recipients in one message; "
            f"{BOX} never sends to more than 2 a day (its policy's top volume): split it into "
            "messages of at most 2 recipients",
        ),
        (
            'domain_cap = 2\nname = "dc"\nceiling = 300\ngrowth_factor = 2.0\n\n'
            '[[stage]]\nname = "flat"\ndays = 0\ndaily = 300\ninterval = "0s"\n',
            f"3 recipients in one message; {BOX} never sends to more than 2 a day (its "
            "policy's domain cap, shared by the domain): split it into messages of at most 2 "
            "recipients",
        ),
        (
            'name = "rd"\nceiling = 300\ngrowth_factor = 2.0\n\n'
            '[[stage]]\nname = "flat"\ndays = 0\ndaily = 300\ninterval = "0s"\n\n'
            '[recipient_domains]\n"example.com" = 1\n',
            f"2 recipients at example.com in one message; {BOX} never sends to more than 1 a "
            "day there (its policy's recipient-domain cap): split it into messages of at most "
            "1 recipient at example.com",
        ),
        (
            'name = "rd0"\nceiling = 300\ngrowth_factor = 2.0\n\n'
            '[[stage]]\nname = "flat"\ndays = 0\ndaily = 300\ninterval = "0s"\n\n'
            '[recipient_domains]\ndefault = 0\n"example.com" = 5\n',
            f"{BOX} never mails anyone at other.example (its policy's recipient-domain cap "
            "there is 0): leave 1 recipient at other.example out",
        ),
    ]
    for text, said in cases:
        if text != "top":
            policy = tmp_path / "p.toml"
            policy.write_text(text)
            assert cli("mailbox", "set", BOX, "--policy", str(policy)).returncode == 0
        for extra in ((), ("--dry-run",)):
            res = cli("send", BOX, *three, "--body", "hi", *extra, env=PASSWORD_ENV)
            assert (res.returncode, res.stderr) == (65, f"Error: {said}\n"), res.stderr
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    # What fits goes.
    res = cli("send", BOX, "--to", "a@example.com", "--body", "hi", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr


def test_a_paced_refusal_names_the_second_of_the_next_send_not_a_minute_before(
    smtp_ssl, ssl_cert_env, tmp_path
):
    # "next send at 09:58" for a slot at 09:58:40: a script that retried at 09:58 was paced
    # again (exit 75 once more). The time is now to the second, never before the slot.
    policy = policy_file(tmp_path / "p.toml", daily=50, interval="10m")
    add_box(smtp_ssl.port, "--policy", str(policy))
    assert (
        cli("send", BOX, "--to", "a@example.com", "--body", "hi", env=PASSWORD_ENV).returncode == 0
    )
    res = cli("send", BOX, "--to", "b@example.com", "--body", "hi", env=PASSWORD_ENV)
    assert res.returncode == 75, res.stderr
    got = re.search(r"next send at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)\n", res.stderr)
    assert got is not None, res.stderr
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    slot = dt.datetime.fromisoformat(q["next_send_at"])
    zone = ZoneInfo(kit_zone())  # the mailbox's (add_box's default)
    said = dt.datetime.fromisoformat(got[1]).replace(tzinfo=zone)
    assert dt.timedelta(0) <= said - slot < dt.timedelta(seconds=1), (said, slot)


def test_dry_run_of_a_message_id_already_sent_says_the_send_would_refuse_it(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # --dry-run said "Would send to 1 recipient: allowed now" (exit 0); the send then refused
    # it, exit 65: the check a script runs first said yes to what could never go.
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    eml = tmp_path / "offer.eml"
    eml.write_text(f"From: {BOX}\nTo: x@example.com\nMessage-ID: <offer.1@corp.example>\n\nhi\n")
    assert cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV).returncode == 0
    res = cli("send", BOX, "--eml", str(eml), "--dry-run", env=PASSWORD_ENV)
    assert res.returncode == 65, res.stdout
    assert res.stderr == (
        "Error: would refuse: message <offer.1@corp.example> was already sent to x@example.com;"
        " warmup never sends it twice: a resend needs a new Message-ID\n"
    )
    # To a recipient it never reached, the same Message-ID goes (as the send does).
    res = cli("send", BOX, "--eml", str(eml), "--to", "new@example.com", "--dry-run")
    assert res.returncode == 0 and "Would send to 1 recipient" in res.stdout, res.stderr
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [("x@example.com", "sent")]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"hello\x00world\n", "the message holds a NUL byte"),
        (b"x" * 1200 + b"\n", "a line of the message is 1200 octets long"),
    ],
    ids=["nul", "long-line"],
)
def test_dry_run_of_a_message_no_server_takes_says_the_send_would_refuse_it(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, body, said
):
    """An --eml holding a NUL byte or a line over 998 octets: --dry-run said "Would send to 1
    recipient" (exit 0), and the send itself refused it (65), as queue add does: the dry run
    flattened the message without the send's checks of its bytes."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    eml = tmp_path / "m.eml"
    eml.write_bytes(f"From: {BOX}\nTo: x@example.com\nSubject: s\n\n".encode() + body)
    for extra in (("--dry-run",), ()):
        res = cli("send", BOX, "--eml", str(eml), *extra, env=PASSWORD_ENV)
        assert (res.returncode, res.stdout) == (65, ""), (extra, res.stdout, res.stderr)
        assert res.stderr.startswith(f"Error: {said}") and res.stderr.count("\n") == 1
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    assert smtp_ssl.messages == []


_GREY = {"grey@example.com": (450, "4.2.0 greylisted, try again later")}
_GONE = {"gone@example.com": (550, "5.1.1 no such user")}


def _mixed(
    smtp_ssl, tmp_path, n: int, refuse: dict, rcpts: str = "ok@example.com, grey@example.com"
):
    """A flat-policy mailbox, the sink refusing ``refuse`` at RCPT, and the message
    <mix.N@corp.example> to ``rcpts`` written to m.eml (its path)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    smtp_ssl.reject_rcpt = dict(refuse)
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: {rcpts}\nMessage-ID: <mix.{n}@corp.example>\n\nhi\n")
    return eml


def test_a_partly_deferred_message_says_how_to_send_the_rest(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # Exit 75 asked for a retry, and the same command then exited 65 "a resend needs a new
    # Message-ID": a new one would mail ok@ twice. The rest go under the same Message-ID to
    # the deferred recipients alone, which both messages now say.
    eml = _mixed(smtp_ssl, tmp_path, 1, _GREY)
    first = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert first.returncode == 75, first.stderr
    assert first.stderr.splitlines()[-1] == (
        "Not sent yet to grey@example.com: send it again to them alone (--to grey@example.com);"
        " it keeps its Message-ID"
    )
    smtp_ssl.reject_rcpt = {}
    rest = cli("send", BOX, "--eml", str(eml), "--to", "grey@example.com", env=PASSWORD_ENV)
    assert rest.returncode == 0, rest.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",), ("grey@example.com",)]


def test_the_whole_message_again_under_its_own_message_id_goes_to_those_not_reached(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # The same command again after exit 75 exited 65, "send it to them alone": a retry of a
    # message with its own Message-ID to the same recipients goes to those not reached (as a
    # derived Message-ID's does), and says so; to someone it never went to, it is refused.
    eml = _mixed(smtp_ssl, tmp_path, 2, _GREY)
    assert cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV).returncode == 75
    smtp_ssl.reject_rcpt = {}
    again = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr
    assert again.stderr == (
        "A retry of <mix.2@corp.example>: not sent again to ok@example.com, reached before; "
        "sent to those it had not reached\n"
    ), again.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",), ("grey@example.com",)]
    other = cli("send", BOX, "--eml", str(eml), "--to", "ok@example.com", "--to", "new@example.com")
    assert other.returncode == 65, other.stderr
    assert other.stderr.rstrip("\n").endswith(
        "; it has not reached new@example.com: send it to them alone (--to new@example.com)"
    ), other.stderr
    assert len(smtp_ssl.messages) == 2


def test_eml_dash_reads_the_message_from_standard_input(smtp_ssl, ssl_cert_env, tmp_path):
    # '--eml -' was "File '-' does not exist" (exit 64): a pipe needed /dev/stdin.
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    message = f"From: {BOX}\nTo: piped@example.com\nSubject: piped\n\nhello\n"
    res = cli("send", BOX, "--eml", "-", env=PASSWORD_ENV, stdin=message)
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("piped@example.com",) and got.message["Subject"] == "piped"


def _stopped_send(
    cue: threading.Event, sig: str, warmup: list[str] | None = None
) -> tuple[int, str, str]:
    """``warmup send BOX --to x@example.com`` (``warmup``: the command line that runs warmup)
    in a process of its own, sent ``sig`` once ``cue`` is set: its exit code, stdout, stderr."""
    import signal

    proc = subprocess.Popen(
        [*(warmup or forkcli.command()), "send", BOX, "--to", "x@example.com", "--body", "hi"],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert cue.wait(60)
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)], ids=str
)
def test_a_stop_during_the_data_counts_the_message_and_says_it_may_have_gone(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, sig, code
):
    # The ledger kept it 'unknown' (counted, never sent again), but the user read only
    # "Aborted." and could not tell it from a ^C before anything left. A SIGTERM ('timeout',
    # a service manager) or a hang-up killed it with no word at all. (Where it is midday:
    # 'quota' counts the send on the day the send read, not a Shanghai day begun since.)
    policy = str(policy_file(tmp_path / "p.toml"))
    add_box(smtp_ssl.port, "--policy", policy, "--timezone", midday_zone())
    smtp_ssl.hold_data_reply = threading.Event()
    try:
        returncode, _, err = _stopped_send(smtp_ssl.holding, sig)
    finally:
        smtp_ssl.hold_data_reply.set()
    assert returncode == code, err
    assert "Interrupted during delivery: the message may have reached x@example.com" in err, err
    assert "Traceback" not in err
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [
        ("x@example.com", "unknown")
    ]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["sent"] == 1


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [
        ("SIGINT", 130, "Aborted."),
        ("SIGTERM", 143, "Aborted (Terminated)."),
        ("SIGHUP", 129, "Aborted (Hangup)."),
    ],
    ids=str,
)
def test_a_stop_while_connecting_gives_the_slot_back(
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    sig,
    code,
    said,
):
    """'timeout 30 warmup send ...' against a server slow to greet, a service manager's stop,
    the SSH session closed: SIGTERM and SIGHUP killed the send where it stood, its slot left
    'reserved', then 'unknown' once its process was gone: counted as sent, pacing the next
    one and waiting for a person, though nothing had left. Now each stops it as Ctrl-C
    does: the slot released, one line, the exit code the shell gives that signal."""
    with mute_server() as (port, connected):
        add_box(port, "--policy", str(policy_file(tmp_path / "p.toml")))
        returncode, out, err = _stopped_send(connected, sig)
    assert (returncode, out, err.strip()) == (code, "", said)
    ledger = open_ledger(ledger_url)
    try:
        with ledger.read() as conn:
            slots = conn.execute(sa.text("SELECT recipient, outcome FROM send")).all()
    finally:
        ledger.close()
    assert [tuple(r) for r in slots] == [("x@example.com", "released")]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert (q["sent"], q["next_send_at"]) == (0, None)


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)], ids=str)
def test_a_stop_once_the_message_is_sent_and_recorded_says_so(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, sig, code
):
    """Ctrl-C or SIGTERM while the gate closes (the server's reply in, the "sent" written):
    the line said "Aborted." and the exit code a failure, so a script sent the message again,
    with a new Message-ID, to a lead who had it. The line now says it was sent."""
    import sys

    from tests.test_crash_points import HOOKED

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    args = ["send", BOX, "--to", "x@example.com", "--body", "hi"]
    proc = subprocess.run(
        [sys.executable, "-c", HOOKED, sig, "_close", "1", *args],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    [(mid,)] = rows(ledger_path, "SELECT message_id FROM send WHERE outcome = 'sent'")
    last = proc.stderr.strip().splitlines()[-1]
    assert last.endswith(f"; message {mid} was sent to 1 recipient: do not send it again"), last
    assert len(smtp_ssl.messages) == 1


def test_a_second_ctrl_c_while_the_ledger_connection_closes_prints_no_traceback(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """Ctrl-C during the data, then Ctrl-C again as the pool closes the ledger's connection
    (an impatient user): SQLAlchemy's pool logged "Exception closing connection" with both
    tracebacks, forty lines between "Interrupted during delivery" and "Aborted."."""
    import sys

    from tests.test_crash_points import HOOKED

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    smtp_ssl.hold_data_reply = threading.Event()
    # the second Ctrl-C: the process's own, as the pool closes a connection
    hooked = [sys.executable, "-c", HOOKED, "SIGINT", "do_close", "1"]
    try:
        returncode, _, err = _stopped_send(smtp_ssl.holding, "SIGINT", hooked)
    finally:
        smtp_ssl.hold_data_reply.set()
    assert returncode == 130, err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 2 and lines[-1] == "Aborted.", err
    assert lines[0].startswith("Interrupted during delivery: the message may have reached")
    assert rows(ledger_path, "SELECT outcome FROM send") in ([("unknown",)], [("reserved",)])


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("_complain", 1),  # while "Aborted." is written: a traceback from inside it
        ("_shutdown", 2),  # threads joined, then atexit's finalizers: "Exception ignored in
        ("_exitfunc", 2),  # atexit callback" and a KeyboardInterrupt traceback
    ],
)
def test_a_second_ctrl_c_as_the_interrupted_send_ends_ends_it_without_a_traceback(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, where, said
):
    """Ctrl-C during the data, then again while the command says so or the interpreter shuts
    down: the user asked twice, and the process ends by the signal, as by default, with the
    lines said by then and no traceback."""
    import signal
    import sys

    from tests.test_crash_points import HOOKED

    # HOOKED, but through warmup's main(), as 'python -m warmup' runs (not the click group)
    by_main = HOOKED.replace(
        'from warmup.cli import cli\ncli(sys.argv[4:], prog_name="warmup")',
        "sys.argv[1:] = sys.argv[4:]\nfrom warmup.cli import main\nmain()",
    )
    assert by_main != HOOKED
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    smtp_ssl.hold_data_reply = threading.Event()
    hooked = [sys.executable, "-c", by_main, "SIGINT", where, "1"]
    try:
        returncode, _, err = _stopped_send(smtp_ssl.holding, "SIGINT", hooked)
    finally:
        smtp_ssl.hold_data_reply.set()
    assert returncode in (130, -signal.SIGINT), err
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == said and lines[1:] in ([], ["Aborted."]), err
    assert lines[0].startswith("Interrupted during delivery: the message may have reached")
    assert rows(ledger_path, "SELECT outcome FROM send") == [("unknown",)]


def test_a_message_with_an_html_version_attachments_and_a_reply_to(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # An outreach message is rarely plain text alone: warmup send could not attach a price
    # list or carry the HTML version a mail client shows, so a script had to build the .eml
    # itself. Both now go, with the plain text as the HTML's alternative, and a Reply-To.
    add_box(smtp_ssl.port)
    html = tmp_path / "offer.html"
    html.write_text("<p>您好，<b>报价</b>见附件。</p>", encoding="utf-8")
    pdf = tmp_path / "报价.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 8)
    csv = tmp_path / "prices.csv"
    csv.write_bytes("item,price\n茶,12\n".encode())
    res = cli(
        "send", BOX, "--to", "lead@example.cn", "--subject", "报价", "--body", "您好，报价见附件。",
        "--html-file", str(html), "--attach", str(pdf), "--attach", str(csv),
        "--reply-to", "Sales <sales@corp.example>", env=PASSWORD_ENV,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    msg = got.message
    assert msg["Reply-To"] == "Sales <sales@corp.example>"
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(("plain",))
    assert body is not None and body.get_content().strip() == "您好，报价见附件。"
    shown = msg.get_body(("html",))
    assert shown is not None and "<b>报价</b>" in shown.get_content()
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    assert set(parts) == {"报价.pdf", "prices.csv"}
    assert parts["报价.pdf"].get_content_type() == "application/pdf"
    assert parts["报价.pdf"].get_content() == pdf.read_bytes()
    assert parts["prices.csv"].get_payload(decode=True) == csv.read_bytes()
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [("lead@example.cn", "sent")]


def test_what_cannot_be_composed_is_refused_before_any_slot(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    add_box(smtp_ssl.port)
    html = tmp_path / "offer.html"
    html.write_text("<p>hi</p>", encoding="utf-8")
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nTo: a@example.com\nSubject: x\n\nhi\n", encoding="utf-8")
    latin = tmp_path / "latin.html"
    latin.write_bytes("<p>ça</p>".encode("latin-1"))
    cases = [
        (["--html-file", str(html)], 64, "--html-file needs a plain-text version too"),
        (["--eml", str(eml), "--attach", str(html)], 64, "an --eml message is sent as it is"),
        # taken and ignored: the message went to the --cc address alone, its Subject unchanged
        (["--eml", str(eml), "--cc", "c@example.com"], 64, "an --eml message is sent as it is"),
        (["--eml", str(eml), "--subject", "new"], 64, "an --eml message is sent as it is"),
        (["--body", "hi", "--html-file", str(latin)], 65, "not UTF-8 text"),
        (["--body", "hi", "--reply-to", "a@b@c"], 65, "--reply-to"),
        (["--body", "hi", "--attach", str(tmp_path / "gone.pdf")], 66, "gone.pdf"),
    ]
    for args, code, words in cases:
        res = cli("send", BOX, "--to", "a@example.com", *args, env=PASSWORD_ENV)
        assert res.returncode == code, (args, res.stderr)
        assert res.stderr.count("\n") == 1 and words in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_a_reply_to_of_two_addresses_is_told_it_takes_one(smtp_ssl, ssl_cert_env, ledger_path):
    """--reply-to 'a@x, b@y' was told "is 2 addresses in one: give each on its own", and two
    --reply-to "given twice; it takes one value: give it once": each error sent the user to
    the other. It takes one address (the Reply-To a lead's answer goes to), and says so."""
    add_box(smtp_ssl.port)
    listed = "sales@corp.example, bd@corp.example"
    res = warmup(
        "send", BOX, "--to", "a@example.com", "--body", "hi", "--reply-to", listed,
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: --reply-to {listed!r} is 2 addresses in one; it takes one: the address "
        "replies go to\n"
    )
    twice = warmup(
        "send", BOX, "--to", "a@example.com", "--body", "hi",
        "--reply-to", "sales@corp.example", "--reply-to", "bd@corp.example", env=PASSWORD_ENV,
    )  # fmt: skip
    assert twice.returncode == 64 and "given twice" in twice.stderr, twice.stderr
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    # --to takes one each too, and may be repeated: its words are unchanged
    many = cli("send", BOX, "--to", listed, "--body", "hi", env=PASSWORD_ENV)
    assert (
        many.stderr
        == f"Error: --to: recipient {listed!r} is 2 addresses in one: give each on its own\n"
    )


def test_an_eml_naming_no_recipient_says_where_they_were_looked_for(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # It was "Error: no recipients", which did not say that the To, Cc and Bcc were read.
    add_box(smtp_ssl.port)
    eml = tmp_path / "m.eml"
    eml.write_text(f"From: {BOX}\nSubject: x\n\nhi\n", encoding="utf-8")
    for extra in ((), ("--dry-run",)):
        res = cli("send", BOX, "--eml", str(eml), *extra, env=PASSWORD_ENV)
        assert res.returncode == 65, res.stderr
        assert res.stderr == (
            "Error: no recipients: the message names none in To, Cc or Bcc; add one there, or "
            "give --to\n"
        )
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_an_empty_eml_is_named_empty(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    add_box(smtp_ssl.port)
    empty = tmp_path / "empty.eml"
    empty.write_text("\n\n")
    for args, stdin, where in (([str(empty)], None, str(empty)), (["-"], "", "standard input")):
        res = cli("send", BOX, "--eml", *args, env=PASSWORD_ENV, stdin=stdin)
        assert res.returncode == 65, res.stderr
        assert res.stderr == (
            f"Error: --eml {where}: the message is empty; give a whole RFC 5322 message\n"
        )
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


@pytest.mark.parametrize("json_", [(), ("--json",)])
def test_output_lost_after_the_send_says_the_message_went(
    smtp_ssl, ssl_cert_env, ledger_path, json_
):
    # '> /dev/full' (a full disk): "cannot write the output", exit 74, and nothing said the
    # message had gone; the script's retry (a new Message-ID) reached the recipient twice.
    add_box(smtp_ssl.port)
    proc = cli_to_full_disk("send", BOX, "--to", "lead@example.com", "--body", "hi", *json_)
    [got] = smtp_ssl.messages
    assert proc.returncode == 74
    assert proc.stderr == (
        "Error: cannot write the output: No space left on device; message "
        f"{got.message['Message-ID']} was sent to 1 recipient: do not send it again\n"
    )


@pytest.mark.parametrize("blank", ["", " \n\t\n"], ids=["empty", "white-space"])
def test_a_blank_body_is_refused_not_sent_as_an_empty_mail(
    blank, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # 'warmup send BOX --to lead --subject Offer --body "$BODY"' with BODY unset, or a
    # --body-file its generator left empty, sent the lead a message with nothing in it (a slot
    # spent, a message spam filters mark down), as 'send --eml' of an empty file no longer does.
    add_box(smtp_ssl.port)
    given = cli(
        "send", BOX, "--to", "lead@example.com", "--subject", "Offer", "--body", blank,
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert given.returncode == 64, given.stderr
    assert given.stderr == "Error: --body is blank: give the message's text (an unset variable?)\n"
    empty = tmp_path / "offer.txt"
    empty.write_text(blank)
    filed = cli(
        "send", BOX, "--to", "lead@example.com", "--subject", "Offer", "--body-file", str(empty),
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert filed.returncode == 65, filed.stderr
    assert filed.stderr == f"Error: --body-file {empty}: holds no text; give the message's text\n"
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


@pytest.mark.parametrize("blank", ["", " \n\t\n"], ids=["empty", "white-space"])
def test_a_blank_html_file_is_refused_not_sent_as_an_empty_mail(
    blank, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # An --html-file its generator left empty went as the message's HTML alternative, which
    # mail clients show instead of the text: the lead saw a blank message, a slot spent.
    add_box(smtp_ssl.port)
    page = tmp_path / "offer.html"
    page.write_text(blank)
    for extra in ((), ("--dry-run",)):
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Offer", "--body", "Hello",
            "--html-file", str(page), *extra, env=PASSWORD_ENV,
        )  # fmt: skip
        assert res.returncode == 65, res.stderr
        assert res.stderr == (
            f"Error: --html-file {page}: holds no text; give the HTML, or leave --html-file out "
            f"to send the text alone\n"
        )
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_a_blank_body_with_an_attachment_sends_the_attachment(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # The file is the message ('warmup send BOX --to boss --subject Report --body ""
    # --attach report.csv': --body, --body-file or --eml is required): not an empty mail, and
    # refused as one ("an unset variable?") it could be sent by no flag but a hand-made --eml.
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    report = tmp_path / "report.csv"
    report.write_bytes(b"day,sent\n2026-12-04,50\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    for body in (["--body", ""], ["--body-file", str(empty)]):
        res = cli(
            "send", BOX, "--to", "boss@example.com", "--subject", "Report", *body,
            "--attach", str(report), env=PASSWORD_ENV,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
    assert len(smtp_ssl.messages) == 2
    for got in smtp_ssl.messages:
        [part] = got.message.iter_attachments()
        assert part.get_filename() == "report.csv"
        assert part.get_payload(decode=True) == report.read_bytes()


def test_send_json_gives_each_recipients_outcome(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    # A script sending one message at a time read the outcome from exit codes and English
    # lines on stderr: which recipient bounced, with what reply, was not for a program.
    smtp_ssl.reject_rcpt = {"dead@example.com": (550, "5.1.1 no such user")}
    # where it is midday: the send and 'quota' read the real time, and after a Shanghai
    # midnight (16:00 UTC) between them 'quota' had the whole new day left (9, not 7)
    policy = str(policy_file(tmp_path / "p.toml", daily=9))
    add_box(smtp_ssl.port, "--policy", policy, "--timezone", midday_zone())
    res = cli(
        "send", BOX, "--to", "lead@example.com", "--to", "dead@example.com", "--body", "hi",
        "--json", env=PASSWORD_ENV,
    )  # fmt: skip
    assert res.returncode == 65, res.stderr
    assert res.stderr == ""
    got = json.loads(res.stdout)
    assert got["mailbox"] == BOX and got["exit_code"] == 65
    assert got["host"] == "127.0.0.1" and got["throttle"] is None and got["error"] is None
    assert got["message_id"] == smtp_ssl.messages[0].message["Message-ID"]
    by = {r["recipient"]: r for r in got["recipients"]}
    assert sorted(by) == ["dead@example.com", "lead@example.com"]
    assert (by["lead@example.com"]["outcome"], by["lead@example.com"]["code"]) == ("sent", 250)
    assert by["dead@example.com"] == {
        "recipient": "dead@example.com", "outcome": "hard", "code": 550,
        "reply": "5.1.1 no such user",
    }  # fmt: skip
    dry = cli("send", BOX, "--to", "x@example.com", "--body", "hi", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["recipients"] == ["x@example.com"]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert (json.loads(dry.stdout)["remaining"], q["remaining"]) == (7, 7)
    # A refusal before any send is still the one line on stderr, with its exit code.
    gone = cli("send", BOX, "--to", "dead@example.com", "--body", "hi", "--json")
    assert gone.returncode == 65 and gone.stdout == "", gone.stdout
    assert "suppressed" in gone.stderr and gone.stderr.count("\n") == 1


def test_the_size_is_declared_with_mail_from(pki, ssl_cert_env, ledger_path):
    # RFC 1870: a client declares the size with MAIL FROM where the server offers SIZE, so
    # that a recipient whose mailbox cannot take it is refused at RCPT, before the data goes.
    # warmup declared nothing: such a message went whole, to be refused at its end.
    for limit, declared in ((10_000_000, True), (0, False)):  # 0: EHLO offers no SIZE
        with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, size_limit=limit) as sink:
            add_box(sink.port)
            res = cli("send", BOX, "--to", "a@example.com", "--body", "hi\n" * 50, env=PASSWORD_ENV)
            assert res.returncode == 0, res.stderr
            [got] = sink.messages
            sizes = [o for o in got.mail_options if o.upper().startswith("SIZE=")]
            assert len(sizes) == int(declared), got.mail_options
            if declared:  # the octets as they go (CRLF lines), as the server counts them
                assert sizes == [f"SIZE={len(got.raw)}"], (sizes, len(got.raw))
            cli("mailbox", "remove", BOX, "--force")


def test_an_attached_eml_or_tar_gz_goes_under_a_type_that_says_what_its_bytes_are(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """--attach sends each file as base64 under the type its name suggests: a forwarded .eml
    went as message/rfc822 in base64, which RFC 2046 forbids (a reader shows it as garbage or
    drops it), and logs.tar.gz as application/x-tar, though its bytes are gzip's."""
    add_box(smtp_ssl.port)
    eml = tmp_path / "forwarded.eml"
    eml.write_bytes(b"From: a@example.com\r\nSubject: old\r\n\r\nthe thread\r\n")
    tgz = tmp_path / "logs.tar.gz"
    tgz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    res = cli(
        "send", BOX, "--to", "lead@example.cn", "--subject", "fwd", "--body", "see attached",
        "--attach", str(eml), "--attach", str(tgz), env=PASSWORD_ENV,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    [got] = smtp_ssl.messages
    parts = {p.get_filename(): p for p in got.message.iter_attachments()}
    for name, path in (("forwarded.eml", eml), ("logs.tar.gz", tgz)):
        part = parts[name]
        assert not part.get_content_type().startswith(("message/", "multipart/")), name
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_payload(decode=True) == path.read_bytes()
    assert parts["logs.tar.gz"].get_content_type() == "application/gzip"


def test_a_dry_run_of_the_whole_message_again_answers_as_its_retry_would(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # A retry under its own Message-ID goes to those not reached (a5af3f8), but '--dry-run' of
    # it still said "would refuse: message ... was already sent to ok@example.com" (exit 65):
    # not what the send does.
    eml = _mixed(smtp_ssl, tmp_path, 3, _GREY)
    assert cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV).returncode == 75
    smtp_ssl.reject_rcpt = {}
    dry = cli("send", BOX, "--eml", str(eml), "--dry-run", "--json", env=PASSWORD_ENV)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["recipients"] == ["grey@example.com"], dry.stdout
    assert len(smtp_ssl.messages) == 1  # nothing sent by the dry run
    again = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert again.returncode == 0, again.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",), ("grey@example.com",)]
    # to someone it never went to, it is refused as the send refuses it
    other = ("--to", "ok@example.com", "--to", "new@example.com")
    dry = cli("send", BOX, "--eml", str(eml), *other, "--dry-run", env=PASSWORD_ENV)
    assert dry.returncode == 65 and "would refuse: " in dry.stderr, dry.stderr


def test_a_dry_run_of_a_retry_past_a_hard_bounce_names_it_as_the_send_does(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    eml = _mixed(
        smtp_ssl, tmp_path, 4, _GREY | _GONE, "ok@example.com, grey@example.com, gone@example.com"
    )
    assert cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV).returncode == 75
    smtp_ssl.reject_rcpt = {}
    dry = cli("send", BOX, "--eml", str(eml), "--dry-run", env=PASSWORD_ENV)
    said = "gone@example.com: refused for good by the first attempt; not sent again\n"
    assert dry.returncode == 65 and dry.stderr == said, dry.stderr
    assert dry.stdout.startswith("Would send to 1 recipient: "), dry.stdout
    again = cli("send", BOX, "--eml", str(eml), env=PASSWORD_ENV)
    assert again.returncode == 65 and said in again.stderr, again.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages][-1] == ("grey@example.com",)


def test_send_json_of_a_retry_past_a_hard_bounce_names_the_one_left_out(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """With --json, a retry that left out a recipient refused for good by the first attempt
    exited 65 with nothing in its answer saying for whom (the text output names it)."""
    eml = _mixed(
        smtp_ssl, tmp_path, 5, _GREY | _GONE, "ok@example.com, grey@example.com, gone@example.com"
    )
    first = cli("send", BOX, "--eml", str(eml), "--json", env=PASSWORD_ENV)
    assert first.returncode == 75 and json.loads(first.stdout)["refused_before"] == []
    smtp_ssl.reject_rcpt = {}
    again = cli("send", BOX, "--eml", str(eml), "--json", env=PASSWORD_ENV)
    answer = json.loads(again.stdout)
    assert again.returncode == 65 == answer["exit_code"], again.stderr
    assert answer["refused_before"] == ["gone@example.com"], answer
    assert [r["recipient"] for r in answer["recipients"]] == ["grey@example.com"], answer


@pytest.mark.parametrize(
    "reply",
    [
        (552, "5.3.4 Message size exceeds fixed limit"),  # Postfix, Exchange
        (552, "Message size exceeds maximum permitted"),  # Exim: no status code
        (552, "Message too large"),  # no status code either
    ],
)
def test_a_size_refused_at_the_end_of_data_is_bad_data_not_try_later(
    smtp_ssl, ssl_cert_env, ledger_path, reply
):
    """A server whose SIZE is not named (or is lower than named) refuses the message at the end
    of DATA: exit 75 told the script to try later, and each try was refused again, a slot of
    the day spent every time. It is the message's fault, as at MAIL FROM: 65, one line, and no
    soft bounce counted against the recipient (it raised the bounce rate by one each try)."""
    add_box(smtp_ssl.port)
    smtp_ssl.data_reply = reply
    res = cli("send", BOX, "--to", "a1@example.com", "--body", "big", env=PASSWORD_ENV)
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        f"Error: 127.0.0.1 refuses the message's size at the end of DATA ({reply[0]} "
        f"{reply[1]}): nothing was delivered; make it smaller (a link instead of an "
        f"attachment?)\n"
    )
    # The recipient did nothing wrong: not suppressed, no bounce, the slot given back.
    assert rows(ledger_path, "SELECT count(*) FROM suppression") == [(0,)]
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]


def test_a_full_mailbox_at_the_end_of_data_is_still_try_later(smtp_ssl, ssl_cert_env, ledger_path):
    add_box(smtp_ssl.port)
    smtp_ssl.data_reply = (552, "5.2.2 Mailbox full")
    res = cli("send", BOX, "--to", "a1@example.com", "--body", "hi", env=PASSWORD_ENV)
    assert (res.returncode, res.stderr) == (75, "a1@example.com: soft 552 5.2.2 Mailbox full\n")


def test_dry_run_refuses_more_recipients_than_the_provider_takes_as_the_send_does(tmp_path):
    """The dry run made its own copy of the send's checks and left one out: 101 recipients to
    a Gmail mailbox (100 a message) were "Would send to 101 recipients", and the send then
    refused them, exit 65. It asks the gate's own checks now: the same line, the same code."""
    policy = str(policy_file(tmp_path / "p.toml", daily=500))
    add = ("mailbox", "add", BOX, "--provider", "gmail", "--auth", "password", "--policy", policy)
    assert cli(*add).returncode == 0
    many = [arg for i in range(101) for arg in ("--to", f"lead{i}@example.com")]
    said = "101 recipients in one message; Google Workspace (Gmail) allows 100"
    for dry in (["--dry-run"], []):
        res = cli("send", BOX, *many, "--body", "hi", *dry, env=PASSWORD_ENV)
        assert res.returncode == 65, (dry, res.stdout, res.stderr)
        assert said in res.stderr and res.stdout == "", (dry, res.stderr)
    assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM send") == [(0,)]


def test_a_refusal_under_the_domain_cap_names_the_domain_cap_not_the_quota(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    # The domain's other mailbox used the shared cap: the refusal said "today's quota is used
    # (0 of 300 sent)" (or "only 1 of today's quota left (0 of 300 sent)"), which reads as a
    # fault of this mailbox's plan; it names the cap that binds.
    policy = tmp_path / "dc.toml"
    policy.write_text(
        'domain_cap = 3\nname = "dc"\nceiling = 300\ngrowth_factor = 2.0\n\n'
        '[[stage]]\nname = "flat"\ndays = 0\ndaily = 300\ninterval = "0s"\n'
    )
    other = "other@" + BOX.rsplit("@", 1)[1]
    add_box(smtp_ssl.port, "--policy", str(policy))
    add_box(smtp_ssl.port, "--policy", str(policy), box=other)
    assert (
        cli("record", "send", other, "--to", "p@x.example", "--to", "q@x.example").returncode == 0
    )
    two = ["--to", "a@example.com", "--to", "b@example.com", "--body", "hi"]
    res = cli("send", BOX, *two, "--dry-run", env=PASSWORD_ENV)
    assert (res.returncode, res.stderr) == (
        75,
        f"Error: would not send now: {BOX}: only 1 of today's quota left (domain cap 3/day "
        "shared by "
        "the domain's mailboxes: 2 sent today), 2 wanted; send to at most 1 or try tomorrow\n",
    ), res.stderr
    assert cli("record", "send", other, "--to", "r@x.example").returncode == 0
    res = cli("send", BOX, "--to", "a@example.com", "--body", "hi", env=PASSWORD_ENV)
    assert res.returncode == 75, res.stderr
    zone_abbreviation = dt.datetime.now(ZoneInfo(kit_zone())).tzname()  # "-03" (a fixed offset)
    assert re.fullmatch(
        rf"Error: {re.escape(BOX)}: the domain cap is used \(3/day shared by the domain's "
        r"mailboxes: 3 sent today\); next allowed at \d{4}-\d\d-\d\d 00:00:00 "
        rf"{re.escape(zone_abbreviation)}\n",  # the mailbox's midnight, named in its zone
        res.stderr,
    ), res.stderr
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send WHERE mailbox_id = 1") == [(0,)]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("report\r\nBcc: x@evil.example.csv", "holds the control character U+000D"),
        ("report\x01.csv", "holds the control character U+0001"),
        (os.fsdecode(b"r\xe9sum\xe9.csv"), "is not UTF-8 (byte 0xe9)"),
    ],
    ids=["crlf", "control", "latin-1"],
)
def test_an_attachment_whose_file_name_no_header_can_carry_is_one_line_and_65(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, name, why
):
    """A file named with a line break (a name the shell or a script made) or in Latin-1 bytes
    (a file from an old Windows share) was a traceback, exit 1, from the email package; one with
    another control character went out with it raw in the part's header. Refused before any
    slot, saying what to do."""
    add_box(smtp_ssl.port)
    path = tmp_path / name
    path.write_bytes(b"day,sent\n")
    res = warmup(
        "send", BOX, "--to", "boss@example.com", "--subject", "Report", "--body", "attached",
        "--attach", str(path), env=PASSWORD_ENV,
    )  # fmt: skip
    assert res.returncode == 65, res.stderr
    [line] = res.stderr.splitlines()
    assert line.startswith("Error: --attach '") and "Traceback" not in res.stderr, res.stderr
    assert f"the file's name {why}, which an attachment's name cannot carry; " in line
    assert line.endswith("copy it to a plain UTF-8 name (cp FILE report.pdf) and attach that")
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    # A tab is white space a quoted name may hold: such a file still goes.
    tabbed = tmp_path / "day\treport.csv"
    tabbed.write_bytes(b"day,sent\n")
    ok = warmup(
        "send", BOX, "--to", "boss@example.com", "--body", "attached", "--attach", str(tabbed),
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    [got] = smtp_ssl.messages
    assert [p.get_filename() for p in got.message.iter_attachments()] == ["day\treport.csv"]
