"""The gate against a real SMTP server on loopback: delivery, bounces, failover, secrets."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import AuthResult

from tests.conftest import policy_changes_at
from tests.gatekit import (
    BOX,
    PASSWORD_ENV,
    add_box,
    assert_reaped,
    cli,
    policy_file,
    rows,
    spawning,
    warmup,
)
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink
from warmup import Gate, NotAllowed, open_ledger
from warmup.errors import ConfigError, DataError
from warmup.gate import Suppressed
from warmup.ledger import DuplicateSend, MailboxNotFound


def send(
    *extra: str,
    to: str = "lead@example.com",
    env=PASSWORD_ENV,  # type: ignore[no-untyped-def]
    process: bool = False,
):
    """``warmup send``, in this process (click's runner) unless ``process``: the keyring tests
    need a process of their own (keyring picks its backend once per process)."""
    run = warmup if process else cli
    return run("send", BOX, "--to", to, "--subject", "Hello", "--body", "Hi there", *extra, env=env)


def test_send_over_implicit_tls_is_delivered_and_recorded(smtp_ssl, ssl_cert_env, ledger_path):
    add_box(smtp_ssl.port)
    res = send()
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Sent <") and "via 127.0.0.1" in res.stdout
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.com",) and got.mail_from == BOX
    assert got.auth_login == BOX
    [(rcpt, outcome, mid)] = rows(ledger_path, "SELECT recipient, outcome, message_id FROM send")
    assert (rcpt, outcome) == ("lead@example.com", "sent")
    assert mid == got.message["Message-ID"]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert (q["sent"], q["remaining"]) == (1, 49)


def test_starttls_preset(smtp_starttls, ssl_cert_env):
    add_box(smtp_starttls.port, "--auth", "password", provider="m365")  # m365's default: oauth
    res = send()
    assert res.returncode == 0, res.stderr
    assert len(smtp_starttls.messages) == 1


def test_untrusted_certificate_is_refused(pki, ssl_cert_env, ledger_path):
    from tests.peers.smtp import SmtpSink

    with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, untrusted=True) as sink:
        add_box(sink.port)
        res = send()
        assert res.returncode == 69, res.stderr
        assert "TLS certificate not trusted" in res.stderr
        assert sink.messages == []
    # Nothing left, so nothing counts.
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["sent"] == 0


@pytest.mark.parametrize("cert_file", ["test CA", "missing"])
def test_a_certificate_that_does_not_verify_says_what_to_do_not_check_the_network(
    cert_file, pki, ssl_cert_env, ledger_path, monkeypatch, tmp_path
):
    """The server was reached: its certificate is what failed, and "check the network and
    'warmup mailbox show'" sent the user after the wrong fault. One line, 69, nothing sent,
    verification never turned off; an SSL_CERT_FILE naming no file (OpenSSL skips it without a
    word) is named."""
    missing = tmp_path / "ca-bundle.pem"
    if cert_file == "missing":
        monkeypatch.setenv("SSL_CERT_FILE", str(missing))
    with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, untrusted=True) as sink:
        add_box(sink.port)
        res = send()
        assert sink.messages == []
    assert res.returncode == 69, res.stderr
    assert res.stderr.startswith(
        f"Error: the SMTP server's TLS certificate does not verify (127.0.0.1:{sink.port}: "
        "TLS certificate not trusted ("
    )
    assert "warmup never sends without verifying it: " in res.stderr
    assert "check the network" not in res.stderr and res.stderr.count("\n") == 1
    if cert_file == "missing":
        assert f"SSL_CERT_FILE names '{missing}', which is no file" in res.stderr
    else:
        assert "point SSL_CERT_FILE at the CA's certificate (PEM)" in res.stderr
        assert f"'warmup doctor {BOX}' checks each host" in res.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]


def test_hard_bounce_is_recorded_suppressed_and_refused_next_time(
    smtp_ssl, ssl_cert_env, ledger_path
):
    smtp_ssl.reject_rcpt = {
        "dead@example.com": (
            550,
            "5.1.1 <dead@example.com>: Recipient address rejected: User unknown",
        )
    }
    add_box(smtp_ssl.port)
    res = warmup(
        "send",
        BOX,
        "--to",
        "dead@example.com",
        "--to",
        "ok@example.com",
        "--subject",
        "x",
        "--body",
        "y",
        env=PASSWORD_ENV,
    )
    assert res.returncode == 65
    assert "dead@example.com: hard 550" in res.stderr and "(suppressed)" in res.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",)]
    [(kind, status, reply, matched)] = rows(
        ledger_path,
        "SELECT b.kind, b.status, b.reply, s.recipient FROM bounce b "
        "JOIN send s ON s.id = b.send_id",
    )
    assert (kind, status, reply, matched) == ("hard", "5.1.1", "550", "dead@example.com")
    assert rows(ledger_path, "SELECT address, kind FROM suppression") == [
        ("dead@example.com", "hard")
    ]
    before = smtp_ssl.connections
    again = send(to="dead@example.com")
    assert again.returncode == 65 and "suppressed" in again.stderr
    assert smtp_ssl.connections == before  # refused before any connection
    assert rows(ledger_path, "SELECT count(*) FROM send")[0][0] == 2  # nothing reserved


def test_wrong_password_exits_77_with_exmail_checklist(smtp_ssl, ssl_cert_env, ledger_path):
    add_box(smtp_ssl.port)
    res = send(env={"WARMUP_PASSWORD": "wrong-password"})
    assert res.returncode == 77
    assert "535" in res.stderr
    steps = ["Admin service scope", "IMAP/SMTP switch", "Secure Login", "Client-specific password"]
    positions = [res.stderr.index(s) for s in steps]
    assert positions == sorted(positions)
    # the error's own line has its control characters escaped; the checklist keeps its lines
    lines = res.stderr.splitlines()
    assert lines[-5].startswith("Check the ") and lines[-4].startswith("  1. "), res.stderr
    assert "\\n" not in res.stderr
    assert "Traceback" not in res.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]


def test_send_json_refused_at_login_or_unreachable_prints_its_outcome_as_json(
    smtp_ssl, ssl_cert_env, ledger_path, closed_port
):
    """'send --json' whose login the server refused (or whose server could not be reached)
    printed no JSON: only the error on stderr, where every other outcome of a send tried is
    one JSON object on stdout. Now the same object (each recipient's settlement, the error,
    the exit code); the error line and the exit code as without --json. A refusal before any
    slot (suppressed) is still the one line on stderr alone, as any command's refusal."""
    add_box(smtp_ssl.port)
    res = send("--json", env={"WARMUP_PASSWORD": "wrong-password"})
    assert res.returncode == 77, res.stderr
    got = json.loads(res.stdout)
    assert got["exit_code"] == 77 and got["mailbox"] == BOX and got["host"] is None
    assert got["error"].startswith("127.0.0.1 refused the login for a@corp.example: 535 ")
    assert got["recipients"] == [
        {"recipient": "lead@example.com", "outcome": "released", "code": None, "reply": None}
    ]
    assert got["message_id"].startswith("<") and got["throttle"] is None
    assert res.stderr.startswith("Error: 127.0.0.1 refused the login") and "wrong-password" not in res.stdout + res.stderr  # fmt: skip
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]
    assert cli("mailbox", "set", BOX, "--smtp-port", str(closed_port[1])).returncode == 0
    res = send("--json")
    assert res.returncode == 69, res.stderr
    got = json.loads(res.stdout)
    assert (got["exit_code"], got["recipients"][0]["outcome"]) == (69, "released")
    assert got["error"].startswith("cannot reach the SMTP server (127.0.0.1:")
    assert cli("suppress", "add", "lead@example.com", "--reason", "asked").returncode == 0
    res = send("--json")
    assert (res.returncode, res.stdout) == (65, "")
    assert "suppressed" in res.stderr and res.stderr.count("\n") == 1


def test_primary_unreachable_uses_backup(smtp_ssl, ssl_cert_env):
    add_box(smtp_ssl.port, hosts="127.0.0.2,127.0.0.1")
    res = send()
    assert res.returncode == 0, res.stderr
    assert (
        "127.0.0.2 unavailable (connection refused); used the backup host 127.0.0.1" in res.stderr
    )
    assert len(smtp_ssl.messages) == 1


def test_silent_server_times_out_then_backup(smtp_ssl, ssl_cert_env, silent_server):
    # The silent server listens on 127.0.0.1:P; the sink is on another port, so use the
    # silent one as the only host: a clear 69 after the timeout.
    add_box(silent_server.port)
    res = send("--timeout", "1")
    assert res.returncode == 69 and "timed out" in res.stderr


def test_throttle_reply_pauses_the_mailbox(smtp_ssl, ssl_cert_env, ledger_path):
    smtp_ssl.fail_after_mail = (421, "4.7.0 Too many messages, try again later")
    add_box(smtp_ssl.port)
    res = send()
    assert res.returncode == 75
    assert "throttled" in res.stderr
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["status"] == "paused" and q["next_send_at"] is not None
    assert any("421" in r for r in q["reasons"])
    assert q["sent"] == 0  # the message never left: its slot was released
    again = send()
    assert again.returncode == 75 and "paused" in again.stderr


def test_drop_mid_data_counts_as_unknown(smtp_ssl, ssl_cert_env, ledger_path):
    smtp_ssl.drop_mid_data = True
    add_box(smtp_ssl.port)
    res = send()
    assert res.returncode == 69
    assert len(smtp_ssl.messages) == 1  # the server has it; the client cannot know
    assert rows(ledger_path, "SELECT outcome FROM send") == [("unknown",)]
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["sent"] == 1
    # It said "Error: not sent": a user (or script) sent it again, and the lead got it twice.
    last = res.stderr.strip().splitlines()[-1]
    assert "not sent" not in last and "may have reached lead@example.com" in last, last
    assert "ask the recipient before sending it anew" in last, last


def test_an_eml_being_resent_goes_to_its_resent_recipients_not_its_first_ones(
    smtp_ssl, ssl_cert_env, ledger_path
):
    # Read as To/Cc/Bcc, as only 'warmup sendmail -t' did not: the first recipient got it a
    # second time, and those it was resent to (Resent-Bcc too) never got it.
    add_box(smtp_ssl.port)
    eml = (
        f"Resent-From: {BOX}\nResent-To: new@example.com\nResent-Bcc: hid@example.com\n"
        f"From: {BOX}\nTo: first@example.com\nSubject: again\n\nHello.\n"
    )
    res = cli("send", BOX, "--eml", "-", env=PASSWORD_ENV, stdin=eml)
    assert res.returncode == 0, res.stderr
    [msg] = smtp_ssl.messages
    assert sorted(msg.rcpt_tos) == ["hid@example.com", "new@example.com"]
    assert b"hid@example.com" not in msg.raw
    assert sorted(rows(ledger_path, "SELECT recipient FROM send")) == [
        ("hid@example.com",),
        ("new@example.com",),
    ]


def test_a_list_given_as_one_recipient_says_to_give_each_on_its_own(
    smtp_ssl, ssl_cert_env, ledger_path
):
    # It said "expected name@domain.tld" of two well-formed addresses: nothing to do about it.
    add_box(smtp_ssl.port)
    res = send(to="a@example.com, b@example.com")
    assert res.returncode == 65, res.stderr
    assert res.stderr == (
        "Error: --to: recipient 'a@example.com, b@example.com' is 2 addresses in one: give "
        "each on its own\n"
    )
    assert smtp_ssl.messages == [] and rows(ledger_path, "SELECT * FROM send") == []


def test_password_never_leaks(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    outputs = [send(), send(env={"WARMUP_PASSWORD": SMTP_PASSWORD + "x"})]
    smtp_ssl.reject_rcpt = {"dead@example.com": (550, "5.1.1 no such user")}
    outputs.append(send(to="dead@example.com"))
    outputs.append(cli("quota", BOX, "--json"))
    for out in outputs:
        assert SMTP_PASSWORD not in out.stdout + out.stderr
    for path in ledger_path.parent.glob("ledger.db*"):
        assert SMTP_PASSWORD.encode() not in path.read_bytes()


def test_password_command_and_its_failure(smtp_ssl, ssl_cert_env, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    ok = send("--password-command", f"printf '%s\\n' {SMTP_PASSWORD}", env={})
    assert ok.returncode == 0, ok.stderr
    bad = send("--password-command", f"echo {SMTP_PASSWORD}-leak; exit 3", env={})
    assert bad.returncode == 78 and "exit code 3" in bad.stderr
    assert SMTP_PASSWORD not in bad.stderr + bad.stdout


@pytest.mark.parametrize(
    ("how", "words"),
    [
        (("--password-command", r"printf 'ab\377cd\n'"), "not UTF-8 text"),
        (("--password-command", "printf 'p\303\244sswort\n'"), "other than ASCII"),
        ((), "other than ASCII"),
    ],
    ids=["command-not-utf8", "command-not-ascii", "env-not-ascii"],
)
def test_a_password_smtp_cannot_carry_is_one_line_exit_78(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, how, words
):
    """A password command printing bytes that are not UTF-8 was a UnicodeDecodeError traceback;
    a password with a character outside ASCII ('pässwort'), which smtplib's and imaplib's
    logins encode as ASCII, a UnicodeEncodeError traceback after connecting."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    res = send(*how, env={} if how else {"WARMUP_PASSWORD": "p\u00e4sswort"})
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 78, res.stderr
    assert res.stderr.startswith("Error: ") and words in res.stderr, res.stderr
    assert len(res.stderr.splitlines()) == 1 and "sswort" not in res.stderr, res.stderr
    assert smtp_ssl.messages == []
    assert rows(ledger_path, "SELECT outcome FROM send") == []  # refused before any slot


@pytest.mark.slow
def test_no_keyring_backend_names_the_alternatives(smtp_ssl, ssl_cert_env):
    add_box(smtp_ssl.port)
    res = send(env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}, process=True)
    assert res.returncode == 78
    assert "WARMUP_PASSWORD" in res.stderr and "--password-command" in res.stderr


@pytest.mark.slow
def test_keyring_login_then_send(smtp_ssl, ssl_cert_env, tmp_path):
    env = {
        "PYTHON_KEYRING_BACKEND": "tests.filekeyring.FileKeyring",
        "WARMUP_TEST_KEYRING": str(tmp_path / "keyring.json"),
    }
    add_box(smtp_ssl.port)
    login = warmup("mailbox", "login", BOX, env=env, stdin=SMTP_PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    res = send(env=env, process=True)
    assert res.returncode == 0, res.stderr
    assert len(smtp_ssl.messages) == 1


def test_dry_run_neither_reserves_nor_connects(smtp_ssl, ssl_cert_env, ledger_path):
    add_box(smtp_ssl.port)
    res = send("--dry-run")
    assert res.returncode == 0 and "Would send to 1 recipient:" in res.stdout
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_dry_run_reads_recipients_as_the_send_does(smtp_ssl, ssl_cert_env, ledger_path):
    """``--dry-run`` checked suppression on the recipients merely lower-cased and counted them as
    typed: ``--to '<Gone@example.com>'`` of a suppressed address 'would send' (the send refuses
    it, 65), and ``--to b --cc B`` 'would send to 2 recipients' (the send costs 1)."""
    add_box(smtp_ssl.port)
    assert cli("suppress", "add", "gone@example.com", "--reason", "left").returncode == 0
    res = send("--dry-run", to="<Gone@example.com>")
    assert res.returncode == 65, res.stderr
    # the same words as the send's refusal: why it is suppressed and how to undo it
    real = send(to="<Gone@example.com>")
    assert real.returncode == 65, real.stderr
    assert res.stderr == real.stderr.replace("Error: ", "Error: would refuse: ", 1)
    assert "gone@example.com (manual: left)" in res.stderr
    assert "'warmup suppress remove ADDRESS'" in res.stderr
    res = send("--cc", "Lead@Example.com", "--dry-run")
    assert res.returncode == 0 and "Would send to 1 recipient:" in res.stdout, res.stdout
    assert smtp_ssl.connections == 0
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]


def test_more_recipients_than_left_says_how_many_are_left(smtp_ssl, ssl_cert_env, tmp_path):
    # (More than the policy ever allows a day is exit 65: tests/test_send_limits.py.)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=3)))
    assert send(to="a@example.com").returncode == 0
    before = smtp_ssl.connections
    res = send("--to", "b@example.com", "--to", "c@example.com", "--dry-run")
    assert res.returncode == 75, res.stderr
    assert res.stderr == (
        f"Error: would not send now: {BOX}: only 2 of today's quota left (1 of 3 sent), 3 wanted; "
        "send to at most 2 or try tomorrow\n"
    )
    assert smtp_ssl.connections == before


def test_a_dry_run_says_would_wait_only_where_the_send_would_wait(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """'--dry-run' answered every "not now" with "would wait: ...": a paused mailbox, a used
    quota, a pacing gap without --wait, where the send exits 75 at once and nothing waits (a
    user read it as "it will go out later"). It says "would wait" for a slot later today with
    --wait, as the send does, and "would not send now" otherwise; exit 75 either way."""
    import zoneinfo

    # a zone where the next slot (2 min on) is still today, whatever the hour of the run
    def hour(zone: str) -> int:
        return dt.datetime.now(zoneinfo.ZoneInfo(zone)).hour

    zone = next(z for z in ("Asia/Shanghai", "America/New_York") if 1 <= hour(z) <= 22)
    policy = policy_file(tmp_path / "p.toml", daily=5, interval="2m")
    add_box(smtp_ssl.port, "--policy", str(policy), "--timezone", zone)
    assert send(to="first@example.com").returncode == 0
    paced = send("--dry-run")
    assert paced.returncode == 75, paced.stderr
    assert paced.stderr.startswith(f"Error: would not send now: {BOX}: pacing"), paced.stderr
    waits = send("--dry-run", "--wait")
    assert waits.returncode == 75, waits.stderr
    assert waits.stderr == paced.stderr.replace("would not send now", "would wait", 1)
    assert cli("mailbox", "pause", BOX, "--reason", "audit").returncode == 0
    for extra in ((), ("--wait",)):
        res = send("--dry-run", *extra)
        assert res.returncode == 75, res.stderr
        assert res.stderr.startswith(f"Error: would not send now: {BOX} is paused"), res.stderr
    assert len(smtp_ssl.messages) == 1
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(1,)]


def test_python_api_reserve_settle(smtp_ssl, ssl_cert_env, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=2)))
    now = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    with Gate(BOX) as gate:
        with gate.reserve(["a@example.com"], now=now):
            pass  # sent by other means: leaving the block settles "sent"
        with pytest.raises(RuntimeError), gate.reserve(["b@example.com"], now=now):
            raise RuntimeError("my SMTP library failed")
        with pytest.raises(NotAllowed) as exc:
            gate.reserve(["c@example.com"], now=now)
        assert exc.value.allowance.status == "exhausted"
        assert exc.value.exit_code == 75
    ledger = open_ledger()
    with ledger.read() as conn:
        got = sorted(conn.exec_driver_sql("SELECT recipient, outcome FROM send").all())
    assert got == [("a@example.com", "sent"), ("b@example.com", "unknown")]


def test_python_api_settles_a_recipient_named_as_it_was_reserved(smtp_ssl, ssl_cert_env, tmp_path):
    """A caller settles with the addresses it reserved: ``{"Dead@Example.com": "hard"}`` after
    ``reserve(["Dead@Example.com", ...])``. The reservation keys its slots lower-cased, so the
    hard bounce was silently settled ``unknown`` instead: never recorded, never suppressed, and
    the next message went to the dead address again."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    now = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    with Gate(BOX) as gate:
        slot = gate.reserve(["Dead@Example.com", "<Ok@Example.com>"], now=now)
        slot.settle({"Dead@Example.com": "hard", "<Ok@Example.com>": "sent"}, now=now)
        with pytest.raises(Suppressed):
            gate.reserve(["dead@example.com"], now=now)
        one = gate.reserve("Solo@Example.com", now=now)  # one address, not its characters
        assert one.recipients == ["solo@example.com"]
        one.settle("sent", now=now)
    got = rows(tmp_path / "ledger.db", "SELECT recipient, outcome FROM send ORDER BY id")
    assert got == [
        ("dead@example.com", "hard"),
        ("ok@example.com", "sent"),
        ("solo@example.com", "sent"),
    ]
    assert rows(tmp_path / "ledger.db", "SELECT address, kind FROM suppression") == [
        ("dead@example.com", "hard")
    ]


@pytest.mark.parametrize(
    "outcomes",
    ["delivered", {"a@example.com": "bogus"}, {"typo@example.com": "hard"}],
    ids=["unknown-outcome", "unknown-outcome-per-recipient", "not-reserved"],
)
def test_python_api_settle_refuses_what_no_reader_knows(smtp_ssl, ssl_cert_env, tmp_path, outcomes):
    """``slot.settle("delivered")`` wrote the outcome 'delivered' into the ledger, where no
    reader knows it (never settled again: only reserved/unknown slots are), and a key naming no
    recipient of the reservation was dropped without a word. Both are a one-line DataError now,
    nothing settled; leaving the block after it settles 'unknown' (counted, a person decides)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    now = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    with Gate(BOX) as gate:
        with pytest.raises(DataError) as exc, gate.reserve(["a@example.com"], now=now) as slot:
            slot.settle(outcomes, now=now)
    assert exc.value.exit_code == 65 and "\n" not in str(exc.value), str(exc.value)
    assert "nothing" in str(exc.value) or "expected one of sent, hard" in str(exc.value)
    assert rows(tmp_path / "ledger.db", "SELECT recipient, outcome FROM send") == [
        ("a@example.com", "unknown")
    ]


def test_python_api_sends_the_email_packages_older_messages_and_text(
    smtp_ssl, ssl_cert_env, tmp_path, monkeypatch
):
    """``gate.send(MIMEText(...))``, what most scripts build (and ``message_from_string``
    returns), was a bare ``AssertionError`` with no message (and a ``TypeError`` with a
    ``message_id``); so was the message as text. Both are read as an EmailMessage and
    delivered; what is no message at all is a one-line UsageError before anything is
    reserved."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    from warmup.errors import UsageError

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    text = MIMEText("Grüße", "plain", "utf-8")
    text["To"], text["Subject"] = "one@example.com", "Hallo"
    multi = MIMEMultipart()
    multi["To"], multi["Subject"] = "two@example.com", "Two"
    multi.attach(MIMEText("part"))
    raw = "To: three@example.com\r\nSubject: Three\r\n\r\nbody\r\n"
    with Gate(BOX) as gate:
        sent = [gate.send(text), gate.send(multi, message_id="<m2@corp.example>"), gate.send(raw)]
        for bad in (None, 42):
            with pytest.raises(UsageError) as exc:
                gate.send(bad)  # type: ignore[arg-type]
            assert "expected an email.message.EmailMessage, bytes or text" in str(exc.value)
    assert [r.sent for r in sent] == [
        ["one@example.com"],
        ["two@example.com"],
        ["three@example.com"],
    ]
    got = smtp_ssl.messages
    assert [m.rcpt_tos for m in got] == [
        ("one@example.com",),
        ("two@example.com",),
        ("three@example.com",),
    ]
    assert got[0].message.get_content().strip() == "Grüße" and got[0].mail_from == BOX
    assert rows(tmp_path / "ledger.db", "SELECT message_id FROM send ORDER BY id") == [
        (m.message["Message-ID"],) for m in got
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b" Subject: hi\r\nTo: one@example.com\r\n\r\nbody\r\n",
        "To: one@example.com\r\n: hi\r\nSubject: s\r\n\r\nbody\r\n",  # as text too
    ],
)
def test_a_header_line_python_would_drop_is_refused_by_gate_send_and_outbox_add(
    smtp_ssl, ssl_cert_env, tmp_path, monkeypatch, raw
):
    """``Gate.send`` and ``Outbox.add`` of bytes or text read it with Python's parser, which
    drops a line it cannot read as a header with only a defect: the message went (or was
    queued) without it, its Subject gone, where the relay refuses it (550) and ``send --eml``
    exits 65. Refused here too, nothing reserved, sent or queued."""
    from warmup import Outbox

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    with Gate(BOX) as gate, pytest.raises(DataError) as exc:
        gate.send(raw)
    assert "not a header" in str(exc.value) or "is not 'Name: value'" in str(exc.value)
    ledger = open_ledger()
    try:
        with pytest.raises(DataError) as exc:
            Outbox(ledger).add(raw, mailbox=BOX)
        assert str(exc.value).startswith("message 1: "), exc.value
    finally:
        ledger.close()
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0
    assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM send") == [(0,)]
    assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM outbox") == [(0,)]


@pytest.mark.parametrize(
    "head",
    [b"", b"From lead@example.com Tue Dec  1 10:00:00 2026\r\n"],  # a saved mbox message too
)
def test_gate_send_drops_a_byte_order_mark_before_bytes_as_before_text(
    smtp_ssl, ssl_cert_env, tmp_path, monkeypatch, head
):
    """A Windows editor's .eml starts with a UTF-8 BOM: ``send --eml``, ``queue add --eml``
    and ``Gate.send`` of text drop it, but ``Gate.send`` of the file's bytes refused the
    message as 'header line 1 is not Name: value' (before that, its headers went as the body)."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    raw = b"\xef\xbb\xbf" + head + b"To: one@example.com\r\nSubject: hi\r\n\r\nbody\r\n"
    with Gate(BOX) as gate:
        report = gate.send(raw)
    assert report.sent == ["one@example.com"]
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("one@example.com",) and got.message["Subject"] == "hi"
    assert got.message.get_content().strip() == "body"
    assert b"\xef\xbb\xbf" not in got.raw and not got.raw.startswith(b"From ")


def test_a_cap_set_while_a_gate_is_open_is_what_its_preview_says(smtp_ssl, ssl_cert_env, tmp_path):
    """A worker ranks a pool's members by preview: a cap lowered while it runs must count."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=4)))
    now = dt.datetime(2026, 11, 16, 2, 0, tzinfo=dt.UTC)
    with Gate(BOX) as gate:
        assert gate.preview(["a@example.com"], now)[0].quota == 4
        ledger = open_ledger()
        ledger.update_mailbox(BOX, cap=1)  # 'warmup mailbox set --cap 1' meanwhile
        policy_changes_at(ledger, now, kinds=("cap",))  # at the gate's clock
        allowance, refusal = gate.preview(["a@example.com", "b@example.com"], now)
        assert allowance.quota == 1 and refusal is not None and "only 1" in refusal
        assert gate.allowance(now).quota == 1
        with pytest.raises(NotAllowed):  # what the reservation says, as before
            gate.reserve(["a@example.com", "b@example.com"], now=now)


def test_deferred_settlements_survive_a_refused_reservation(tmp_path, ssl_cert_env, smtp_ssl):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=1)))
    # no settler thread: half a second idle (a slow machine) and it wrote the settlement
    # first, the refusal then had nothing to roll back
    with Gate(BOX, settle_after=None) as gate:
        with gate.reserve(["a@example.com"]) as slot:
            slot.settle("sent")  # deferred to the next transaction
        assert gate._db.pending
        with pytest.raises(NotAllowed):
            gate.reserve(["b@example.com"])  # refused: must not roll the settlement back
    ledger = open_ledger()
    with ledger.read() as conn:
        got = conn.exec_driver_sql("SELECT recipient, outcome FROM send").all()
    assert got == [("a@example.com", "sent")]


def test_a_released_slot_can_be_retried_with_its_message_id(tmp_path, ssl_cert_env, smtp_ssl):
    from warmup.errors import DataError

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    with Gate(BOX) as gate:
        gate.reserve(["a@example.com"], "<m1@corp.example>").settle("released")
        again = gate.reserve(["a@example.com"], "<m1@corp.example>")  # a slot of its own
        again.settle("sent")
        with pytest.raises(DataError, match="already sent") as dup:
            gate.reserve(["a@example.com"], "<m1@corp.example>")
        assert isinstance(dup.value, DuplicateSend) and dup.value.outcome == "sent"
        assert gate.allowance().sent == 1
    ledger = open_ledger()
    with ledger.read() as conn:
        got = conn.exec_driver_sql("SELECT outcome FROM send ORDER BY id").scalars().all()
    assert got == ["released", "sent"]  # the released try kept aside, uncounted


def test_a_resend_refusal_names_a_slot_in_flight_first_and_the_recipients_never_reached(
    tmp_path, ssl_cert_env, smtp_ssl
):
    # The relay answers 250 "already sent" to a DuplicateSend of a sent slot: it must know
    # when the message names a recipient still in flight (451 then) or one never reached.
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    with Gate(BOX) as gate:
        gate.reserve(["a@example.com"], "<m1@corp.example>").settle("sent")
        gate.reserve(["b@example.com"], "<m1@corp.example>")  # in flight
        with pytest.raises(DuplicateSend) as dup:
            gate.reserve(["a@example.com", "b@example.com"], "<m1@corp.example>")
        assert (dup.value.recipient, dup.value.outcome) == ("b@example.com", "reserved")
        assert dup.value.unsent == ()
        with pytest.raises(DuplicateSend) as dup:
            gate.reserve(["a@example.com", "c@example.com"], "<m1@corp.example>")
        assert (dup.value.outcome, dup.value.unsent) == ("sent", ("c@example.com",))


def test_a_duplicate_recipient_reserves_nothing(tmp_path, ssl_cert_env, smtp_ssl):
    from warmup.errors import DataError

    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    with Gate(BOX) as gate:
        gate.reserve(["b@example.com"], "<m2@corp.example>").settle("sent")
        with pytest.raises(DataError) as dup:
            gate.reserve(["a@example.com", "b@example.com"], "<m2@corp.example>")
        assert isinstance(dup.value, DuplicateSend)
        assert (dup.value.recipient, dup.value.outcome) == ("b@example.com", "sent")
        assert gate.allowance().sent == 1


# -- replies that concern one recipient, or that say "later" --------------------------------------

RCPT_REPLIES = [  # a temporary refusal of one recipient, and whether it throttles the mailbox
    ((451, "4.7.1 Greylisted, please try again later"), False),
    (
        (
            450,
            "4.2.0 <slow@example.net>: Recipient address rejected: Greylisted, see "
            "http://postgrey.schweikert.ch/help/example.net.html",
        ),
        False,
    ),
    ((451, "4.7.1 Greylisting in action, please come back later"), False),
    ((451, "4.7.1 Please try again later"), False),
    ((451, "4.3.0 Temporarily deferred, try again later"), False),
    (
        (
            450,
            "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
            "additional messages from being delivered.",
        ),
        False,
    ),
    ((451, "Ip frequency limited, try again later"), True),  # Tencent: our rate
    ((450, "MI:SFQ 发信人在15分钟内的发信数量超过限制"), True),  # NetEase
    ((451, "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)"), True),
    ((451, "4.7.650 The mail server [192.0.2.5] has been temporarily rate limited"), True),
    ((421, "4.7.0 Try again later, closing connection."), True),  # the session ends
    ((550, "5.4.5 Daily user sending quota exceeded."), True),
    ((452, "4.5.3 Too many recipients"), False),
]


@pytest.mark.parametrize(("reply", "throttled"), RCPT_REPLIES)
def test_which_rcpt_replies_throttle_the_mailbox(reply, throttled):
    from warmup.bounces import is_throttle

    assert is_throttle(*reply, stage="rcpt") is throttled
    assert not is_throttle(451, "4.7.1 Greylisted, please try again later")  # at any stage


@pytest.mark.parametrize(("reply", "throttled"), [RCPT_REPLIES[0], RCPT_REPLIES[6]])
def test_a_temporary_rcpt_refusal_defers_that_recipient_unless_it_is_throttling(
    reply, throttled, smtp_ssl, ssl_cert_env, ledger_path
):
    smtp_ssl.reject_rcpt = {"slow@example.net": reply}
    add_box(smtp_ssl.port)
    res = send("--to", "slow@example.net")  # and lead@example.com
    assert res.returncode == 75, res.stderr
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    events = rows(ledger_path, "SELECT kind FROM event")
    outcomes = sorted(rows(ledger_path, "SELECT recipient, outcome FROM send"))
    if throttled:
        assert smtp_ssl.messages == [] and q["status"] == "paused" and events == [("throttle",)]
        assert outcomes == [("lead@example.com", "released"), ("slow@example.net", "released")]
        return
    [got] = smtp_ssl.messages
    assert got.rcpt_tos == ("lead@example.com",)  # the others still go
    assert outcomes == [("lead@example.com", "sent"), ("slow@example.net", "soft")]
    assert q["status"] != "paused" and events == []  # the mailbox goes on sending
    assert f"slow@example.net: soft {reply[0]}" in res.stderr
    assert rows(ledger_path, "SELECT address FROM suppression") == []


class TempAuthSink(SmtpSink):
    """The sink, answering every AUTH with 454 4.7.0 (a server that cannot check just now)."""

    def _authenticate(self, *args: object) -> AuthResult:
        return AuthResult(
            success=False, handled=False, message="454 4.7.0 Temporary authentication failure"
        )


def test_a_temporary_auth_failure_exits_75_without_the_password_checklist(
    pki, ssl_cert_env, ledger_path
):
    with TempAuthSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki) as sink:
        add_box(sink.port)
        res = send()
    assert res.returncode == 75, res.stderr
    assert "454 4.7.0 Temporary authentication failure" in res.stderr
    assert "try again later" in res.stderr and res.stderr.count("\n") == 1
    assert "Client-specific password" not in res.stderr and "Traceback" not in res.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]
    assert sink.messages == []


@pytest.mark.parametrize("driver_level", [False, True], ids=["full-ledger", "gate-ledger"])
def test_a_gate_that_has_reserved_sees_a_suppression_recorded_since(driver_level, ledger_path):
    # Once a reservation has opened the gate's own connection, the relay's RCPT TO check reads
    # on it: it must see what other connections committed since, as the ledger's own read does.
    from warmup.ledger import open_gate_ledger

    add_box(2525)  # nothing is sent: reserving needs no server
    ledger = open_gate_ledger() if driver_level else open_ledger()
    try:
        with Gate(BOX, ledger=ledger) as gate:
            gate.reserve(["lead@example.com"]).settle("sent")
            assert gate.check_suppressed(["gone@example.com"]) == {}
            res = cli("record", "bounce", BOX, "--to", "gone@example.com", "--kind", "hard")
            assert res.returncode == 0, res.stderr
            bad = gate.check_suppressed(["gone@example.com", "lead@example.com"])
            assert list(bad) == ["gone@example.com"] and bad["gone@example.com"].startswith("hard")
            assert bad == ledger.suppressed(["gone@example.com", "lead@example.com"])
    finally:
        ledger.close()


def test_a_hard_refusal_before_a_throttle_at_rcpt_is_still_recorded(
    smtp_ssl, ssl_cert_env, ledger_path, monkeypatch
):
    # A recipient refused 550 5.1.1, then the next one's RCPT throttled: the whole message was
    # settled "released", so the server's hard refusal (a bounce it counts against the mailbox)
    # never reached the ledger and the dead address stayed unsuppressed.
    add_box(smtp_ssl.port)
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    smtp_ssl.reject_rcpt = {
        "dead@example.com": (550, "5.1.1 no such user"),
        "lead@example.com": (421, "4.7.0 too many messages from you, slow down"),
    }
    with Gate(BOX) as gate:
        report = gate.send(
            b"Subject: hi\r\n\r\nhello\r\n",
            ["dead@example.com", "lead@example.com"],
            message_id="<t1@corp.example>",
        )
    assert report.throttle is not None
    assert {r: v.outcome for r, v in report.results.items()} == {
        "dead@example.com": "hard",
        "lead@example.com": "released",
    }
    assert rows(ledger_path, "SELECT recipient, outcome FROM send ORDER BY recipient") == [
        ("dead@example.com", "hard"),
        ("lead@example.com", "released"),
    ]
    assert rows(ledger_path, "SELECT address FROM suppression") == [("dead@example.com",)]
    assert smtp_ssl.messages == []


def test_a_password_command_printing_without_end_is_refused_at_a_bound(monkeypatch):
    """Its whole output was kept in memory until it exited or the minute ran out: 'cat' of the
    wrong (large) file, or a command printing without end, filled the memory (GB/s for a
    minute), and 50 MB without a line break came back as the password."""
    from warmup import credentials
    from warmup.errors import ConfigError

    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, "head -c 50000000 /dev/zero | tr '\\0' x")
    assert str(err.value) == (
        "the password command printed more than 65,536 bytes; it should print the password "
        "on its first line"
    )
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, "yes")  # never ends: refused at the bound, not in a minute
    assert "more than 65,536 bytes" in str(err.value)


def test_a_password_command_that_outlives_its_answer_is_given_up_at_its_timeout(monkeypatch):
    from warmup import credentials
    from warmup.errors import ConfigError

    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    monkeypatch.setattr(credentials, "COMMAND_TIMEOUT", 0.5)
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, "echo pw; exec sleep 30 >&-")
    assert str(err.value) == "the password command did not finish within 0.5 s"


def test_a_password_with_a_nul_is_refused_before_any_login(monkeypatch):
    """AUTH PLAIN separates the user and the password with NULs: a password holding one was
    sent, and the server read another user name and password out of it."""
    from warmup import credentials
    from warmup.errors import ConfigError

    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, "printf 'pass\\000word\\n'")
    assert str(err.value) == (
        "the password from the password command holds a NUL character, which the SMTP and "
        "IMAP logins cannot send; check what the command prints"
    )


def test_a_password_command_killed_by_a_signal_names_the_signal(monkeypatch):
    """subprocess's return code -9 was printed as "exit code -9", which no shell shows."""
    from warmup import credentials
    from warmup.errors import ConfigError

    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, "echo pw-leak; kill -9 $$")
    assert str(err.value) == "the password command was killed by signal 9 (SIGKILL)"


@pytest.mark.parametrize(
    ("then", "words"),
    [
        ("exec sleep 300", "did not finish within 3 s"),
        ("exec yes", "printed more than 65,536 bytes"),
    ],
)
def test_a_password_command_killed_at_its_bound_leaves_no_child_running(
    monkeypatch, tmp_path, then, words
):
    """Only the shell was killed at the timeout (or past the output bound): what it had started
    ('sh -c \"helper & sleep 100\"') went on running, orphaned. The command now runs in a
    session of its own and its whole process group is killed."""
    from warmup import credentials
    from warmup.errors import ConfigError

    monkeypatch.delenv("WARMUP_PASSWORD", raising=False)
    monkeypatch.setattr(credentials, "COMMAND_TIMEOUT", 3.0)
    pidfile = tmp_path / "grandchild.pid"
    with pytest.raises(ConfigError) as err:
        credentials.get_password(BOX, spawning(pidfile, then))
    assert words in str(err.value)
    pid = int(pidfile.read_text())
    assert_reaped(pid)


def test_a_refusal_in_gbk_is_read_as_chinese(smtp_ssl, ssl_cert_env, ledger_path):
    """A Chinese server answering RCPT in GBK ("550 用户不存在": no such user), not UTF-8: its
    words were U+FFFD, so the refusal was a soft bounce and the dead address never
    suppressed; it is the hard bounce it says, suppressed, its words kept."""
    smtp_ssl.reject_rcpt = {"dead@example.cn": (550, "用户不存在".encode("gbk"))}
    add_box(smtp_ssl.port)
    res = send(to="dead@example.cn")
    assert res.returncode == 65, res.stderr
    assert "dead@example.cn: hard 550" in res.stderr and "(suppressed)" in res.stderr
    assert rows(ledger_path, "SELECT recipient, kind, diagnostic FROM bounce") == [
        ("dead@example.cn", "hard", "用户不存在")
    ]


@pytest.mark.parametrize(
    "reply",
    [
        (550, "发信频率过快，请稍后再试".encode()),  # Tencent Exmail "退信代码说明", UTF-8
        (451, "MI:DMC 当前连接发送的邮件数量超出限制".encode("gbk")),  # NetEase, in GBK
        # NetEase's temporary ban of the IP for mailing dead addresses: a soft bounce of the
        # recipient, and the next message went into the same ban
        (421, "HL:REP 该IP发送行为异常，存在接收者大量不存在情况，被临时禁止连接".encode()),
    ],
    ids=["exmail-utf8", "netease-gbk", "netease-ban"],
)
def test_a_chinese_rate_limit_at_rcpt_pauses_the_mailbox(
    reply, smtp_ssl, ssl_cert_env, ledger_path
):
    """ "发信频率过快" (sending too fast) and NetEase's MI:DMC (too many messages on one
    connection), as the providers' reply-code pages word them (tests/test_bounce_chinese.py:
    sources): the throttle words were English only, so the reply was a soft bounce of the
    recipient (exit 75 too, but nothing paused) and the mailbox went on sending into the limit.
    It is a throttle: exit 75 (try later), the mailbox paused, the recipient released and never
    suppressed, no bounce recorded."""
    smtp_ssl.reject_rcpt = {"lead@example.cn": reply}
    add_box(smtp_ssl.port)
    res = send(to="lead@example.cn")
    assert res.returncode == 75, res.stderr
    assert "throttled" in res.stderr
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["status"] == "paused" and q["sent"] == 0
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [
        ("lead@example.cn", "released")
    ]
    assert rows(ledger_path, "SELECT kind FROM event") == [("throttle",)]
    assert rows(ledger_path, "SELECT address FROM suppression") == []
    assert rows(ledger_path, "SELECT kind FROM bounce") == []


def test_a_netease_ip_block_at_rcpt_is_a_block_not_a_dead_address(
    smtp_ssl, ssl_cert_env, ledger_path
):
    """NetEase's "554 HL:IPB" (the sending IP is not allowed) judges the sender: it was an
    unknown reason, a soft bounce; it is a block (counted), and the address stays."""
    smtp_ssl.reject_rcpt = {"lead@example.cn": (554, "HL:IPB 该IP不在网易允许的发送地址列表里")}
    add_box(smtp_ssl.port)
    res = send(to="lead@example.cn")
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "lead@example.cn: block 554" in res.stderr, res.stderr
    assert rows(ledger_path, "SELECT recipient, kind FROM bounce") == [("lead@example.cn", "block")]
    assert rows(ledger_path, "SELECT address FROM suppression") == []


def test_a_chinese_daily_limit_pauses_until_the_next_local_day(smtp_ssl, ssl_cert_env, ledger_path):
    """NetEase's "550 RP:TRC 发件人当天内累计的收件人数量超过限制" (the sender's recipients
    *that day* over the limit: help.mail.163.com, "企业退信代码说明") is a daily limit: the
    words that move the back-off to the next local day were English only, so the mailbox was
    paused 30 minutes and then sent into the same limit again, all day."""
    reply = (550, "RP:TRC 发件人当天内累计的收件人数量超过限制")
    smtp_ssl.reject_rcpt = {"lead@example.cn": reply}
    add_box(smtp_ssl.port, zone="Asia/Shanghai")  # its days: the test is about their end
    before = dt.datetime.now(dt.UTC)
    res = send(to="lead@example.cn")
    after = dt.datetime.now(dt.UTC)
    assert res.returncode == 75, res.stderr
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["status"] == "paused"
    until = dt.datetime.fromisoformat(q["next_send_at"])
    shanghai = dt.timezone(dt.timedelta(hours=8))
    local = until.astimezone(shanghai)
    assert (local.hour, local.minute, local.second) == (0, 0, 0), q["next_send_at"]
    # the first Shanghai midnight after the send, which read the clock between these two (a
    # date read before it alone was a day off when the send fell after 16:00 UTC)
    assert before < until <= after + dt.timedelta(days=1), (before, until, after)


def test_a_mailbox_is_not_removed_while_the_gate_sends_for_it(smtp_ssl, ssl_cert_env, tmp_path):
    """``mailbox remove --force`` deleted the slot a sender had reserved: its settlement then
    found no row, and a hard bounce settled then was lost (never suppressed). While a slot of
    the last 15 minutes (the gate's expiry) is unsettled the removal is refused (75, one line,
    nothing removed); once it is settled the mailbox goes."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    with Gate(BOX) as gate:
        slot = gate.reserve(["dead@example.com"])  # now, by the wall clock
        refused = cli("mailbox", "remove", BOX, "--force")
        assert refused.returncode == 75, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "the gate is sending 1 message for it now" in refused.stderr, refused.stderr
        slot.settle({"dead@example.com": "hard"})
    assert rows(tmp_path / "ledger.db", "SELECT address, kind FROM suppression") == [
        ("dead@example.com", "hard")
    ]
    removed = cli("mailbox", "remove", BOX, "--force")
    assert removed.returncode == 0, removed.stderr
    assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM mailbox") == [(0,)]


def test_a_gate_follows_its_mailbox_removed_and_added_again(smtp_ssl, ssl_cert_env, tmp_path):
    """A relay or worker's gate, open while its mailbox is removed and added again (to change
    its provider, say): its next reservation said the mailbox was not found (exit 78) although
    ``warmup mailbox list`` shows it; the gate opens again on the mailbox as it is now."""
    policy = str(policy_file(tmp_path / "p.toml"))
    add_box(smtp_ssl.port, "--policy", policy)
    with Gate(BOX) as gate:
        gate.reserve(["a@example.com"]).settle({"a@example.com": "sent"})
        gate.flush()
        assert cli("mailbox", "remove", BOX, "--force").returncode == 0
        add_box(smtp_ssl.port, "--policy", policy, "--cap", "7")
        new_id = rows(tmp_path / "ledger.db", "SELECT id FROM mailbox")[0][0]
        gate.reserve(["b@example.com"]).settle({"b@example.com": "sent"})
        assert gate.box.id == new_id and gate.box.cap == 7
    assert rows(
        tmp_path / "ledger.db", "SELECT mailbox_id, recipient, outcome FROM send ORDER BY id"
    ) == [(new_id, "b@example.com", "sent")]


def test_a_gate_whose_mailbox_is_gone_says_so(smtp_ssl, ssl_cert_env, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    with Gate(BOX) as gate:
        assert cli("mailbox", "remove", BOX, "--force").returncode == 0
        with pytest.raises(MailboxNotFound):
            gate.reserve(["b@example.com"])
    assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM send") == [(0,)]


def _add_trigger(db, table: str = "send", when: str = "BEFORE INSERT", how: str = "ABORT") -> None:
    """A trigger as someone may add one to the ledger (an audit, a freeze) that refuses."""
    con = sqlite3.connect(db)
    try:
        con.execute(
            f"CREATE TRIGGER audit {when} ON {table} BEGIN SELECT RAISE({how}, 'frozen'); END"
        )
        con.commit()
    finally:
        con.close()


_REFUSED = "a trigger refused the write: frozen; warmup has no triggers, so one added to its tables"


@pytest.mark.parametrize("how", ["ABORT", "FAIL", "ROLLBACK"])
@pytest.mark.parametrize("driver_level", [False, True], ids=["full-ledger", "gate-ledger"])
def test_a_trigger_refusing_the_reservation_is_one_line_and_writes_nothing(
    how, driver_level, ledger_path, tmp_path
):
    """A trigger's RAISE on the send table reached the user as sqlite3.IntegrityError and its
    traceback. Now 78 with its words; the reservation and the settlement that rode on it rolled
    back (the settlement still to be written), the same gate working once the trigger goes."""
    from warmup.ledger import open_gate_ledger

    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml")))  # reserving needs no server
    ledger = open_gate_ledger() if driver_level else open_ledger()
    try:
        with Gate(BOX, ledger=ledger, settle_after=None) as gate:
            gate.reserve(["a@example.com"]).settle("sent")  # deferred to the next transaction
            _add_trigger(ledger_path, how=how)
            with pytest.raises(ConfigError) as caught:
                gate.reserve(["b@example.com"])
            said = str(caught.value)
            assert said.startswith(f"ledger {ledger_path}: {_REFUSED}"), said
            assert caught.value.exit_code == 78 and "\n" not in said
            assert len(gate._db._deferred) == 1
            assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [
                ("a@example.com", "reserved")
            ]
            con = sqlite3.connect(ledger_path)
            con.execute("DROP TRIGGER audit")
            con.commit()
            con.close()
            gate.reserve(["b@example.com"])
            assert gate._db._deferred == []
    finally:
        ledger.close()
    assert rows(ledger_path, "SELECT recipient, outcome FROM send ORDER BY id") == [
        ("a@example.com", "sent"),
        ("b@example.com", "reserved"),
    ]


@pytest.mark.parametrize("command", ["send", "record"])
def test_a_trigger_refusing_a_send_ends_the_command_with_one_line(
    command, smtp_ssl, ssl_cert_env, ledger_path
):
    """The same refusal through ``warmup send`` (before any SMTP) and ``warmup record send``:
    'Error: ...' and 78, never a traceback; nothing written, nothing delivered."""
    add_box(smtp_ssl.port)
    _add_trigger(ledger_path)
    res = send() if command == "send" else cli("record", "send", BOX, "--to", "lead@example.com")
    assert res.returncode == 78, (res.stdout, res.stderr)
    assert res.stderr.startswith(f"Error: ledger {ledger_path}: {_REFUSED}"), res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    assert smtp_ssl.messages == []


@pytest.mark.parametrize("how", ["ABORT", "ROLLBACK"])
def test_a_trigger_refusing_a_settlement_is_one_line_and_the_settlement_waits(
    how, ledger_path, tmp_path
):
    """A trigger refusing the UPDATE that settles a slot: its words and 78, not the error of a
    ROLLBACK after RAISE(ROLLBACK) had ended the transaction ("cannot rollback - no transaction
    is active", 69); the settlement still to be written, and written once the trigger goes."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml")))
    with Gate(BOX, settle_after=None) as gate:
        gate.reserve(["a@example.com"]).settle("sent")
        _add_trigger(ledger_path, when="BEFORE UPDATE", how=how)
        with pytest.raises(ConfigError) as caught:
            gate._db.flush()
        assert str(caught.value).startswith(f"ledger {ledger_path}: {_REFUSED}"), caught.value
        assert len(gate._db._deferred) == 1
        con = sqlite3.connect(ledger_path)
        con.execute("DROP TRIGGER audit")
        con.commit()
        con.close()
        gate._db.flush()
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [("a@example.com", "sent")]


def test_gates_in_threads_sharing_a_gate_ledger_open_its_full_backend_once(
    ledger_path, monkeypatch
):
    # One open_gate_ledger() shared by a script's worker threads: two that first needed the full
    # backend at once each opened one, and the first one opened was never closed (its engine and
    # connections leaked). Both opens are held at a barrier: before, both threads got there.
    import threading

    import warmup.ledger as ledger_module
    from warmup.ledger import open_gate_ledger

    add_box(2525)
    opened: list[object] = []
    both = threading.Barrier(2, timeout=1.0)
    real = ledger_module.open_ledger

    def opening(*args, **kwargs):
        try:
            both.wait()
        except threading.BrokenBarrierError:
            pass  # the other thread waits for this open instead of making its own
        full = real(*args, **kwargs)
        opened.append(full)
        return full

    monkeypatch.setattr(ledger_module, "open_ledger", opening)
    shared = open_gate_ledger()
    got: list[object] = []
    try:
        threads = [threading.Thread(target=lambda: got.append(shared.full())) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(opened) == 1
        assert got == [opened[0], opened[0]]
    finally:
        shared.close()
        for full in opened[1:]:
            full.close()  # type: ignore[attr-defined]


def test_a_typed_password_command_wins_over_a_stale_warmup_password(
    smtp_ssl, ssl_cert_env, tmp_path, ledger_path
):
    """'warmup send --password-command CMD' with a stale WARMUP_PASSWORD exported: the stale
    one was tried (77, login refused), the typed command never run. The password comes from a
    file, in no argv; a command from the config file still yields to WARMUP_PASSWORD."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    secret = tmp_path / "pw"
    secret.write_text(SMTP_PASSWORD + "\n")
    secret.chmod(0o600)
    stale = {"WARMUP_PASSWORD": "stale-" + SMTP_PASSWORD}
    ok = send("--password-command", f"cat {secret}", env=stale, process=True)
    assert ok.returncode == 0, ok.stderr
    assert len(smtp_ssl.messages) == 1
    assert SMTP_PASSWORD not in ok.stdout + ok.stderr
    config = tmp_path / "config.toml"
    config.write_text(f'[commands.send]\npassword-command = "cat {secret}"\n')
    config.chmod(0o600)
    filed = send(env={**stale, "WARMUP_CONFIG": str(config)}, process=True)
    assert filed.returncode == 77, filed.stderr
    assert SMTP_PASSWORD not in filed.stdout + filed.stderr
    assert len(smtp_ssl.messages) == 1


def test_an_answer_handed_to_a_first_send_is_judged_before_the_password_and_never_decides(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """``Gate.send(allowed=...)``: the plan's answer a moment ago (the worker's look at a
    pool's members), judged before a session's first login in place of asking the plan again.
    One that refuses the recipients is refused before the password command runs; one that
    allowed them and is stale by now (the mailbox paused since) reserves and sends nothing:
    the reservation decides on the history it reads, never on the answer handed to it."""
    import dataclasses

    from warmup import api

    add_box(smtp_ssl.port)
    ran = tmp_path / "ran"
    ledger = open_ledger(str(ledger_path))
    gate = Gate(BOX, ledger=ledger, password_command=f"echo x >> {ran}; echo {SMTP_PASSWORD}")
    try:
        ok = gate.allowance()
        assert ok.can_send and ok.remaining >= 1, ok
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = BOX, "lead@example.com", "Hello"
        msg.set_content("Hi there\n")
        spent = dataclasses.replace(ok, remaining=0, status="exhausted")
        with pytest.raises(NotAllowed):
            gate.send(msg, allowed=spent)
        assert not ran.exists()  # refused before the password was read

        api.pause(ledger, BOX, "by hand")
        with pytest.raises(NotAllowed) as refused:
            gate.send(msg, allowed=ok)  # allowed before the pause: stale
        assert refused.value.allowance.status == "paused"
        assert smtp_ssl.messages == []
        assert rows(ledger_path, "SELECT count(*) FROM send") == [(0,)]
    finally:
        gate.close()
        ledger.close()
