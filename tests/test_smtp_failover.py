"""Connecting with failover, against raw-socket servers on loopback (``ScriptedServer``): the
hosts ``127.0.0.1`` and ``localhost`` reach one server, which plays one script to the first
connection (the primary) and another to the next (the backup), as Exmail's
``smtp.exmail.qq.com`` and ``hwsmtp.exmail.qq.com``. Failover happens when a host cannot be
reached, greets with an error, cannot be spoken to, or fails its TLS handshake; never after
the server answered a login."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, rows
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Script, ScriptedServer, SmtpSink
from warmup.errors import TempFail, Unavailable
from warmup.smtp import AuthDeferred, AuthFailed, Session, Target

HOSTS = ("127.0.0.1", "localhost")
MESSAGE = b"From: a@corp.example\r\nSubject: hi\r\n\r\nHello.\r\n"


def target(port: int, security: str = "none", *, user: str = BOX, timeout: float = 5) -> Target:
    return Target(HOSTS, port, security, user, SMTP_PASSWORD, timeout=timeout)


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (Script(b"421 4.3.2 Service not available, try later\r\n"), "421 4.3.2 Service not"),
        (Script(b"554 5.7.1 Client host rejected\r\n"), "554 5.7.1 Client host rejected"),
        (Script(replies={"EHLO": None}), "server closed the connection"),
        (Script(replies={"EHLO": "rst"}), "server closed the connection"),
        (Script(None), "server closed the connection"),
        (Script(b""), "timed out"),  # connected, never greeted
    ],
    ids=[
        "greets-421",
        "greets-554",
        "closes-after-ehlo",
        "resets-after-ehlo",
        "closes-at-once",
        "never-greets",
    ],
)
def test_a_primary_that_cannot_be_spoken_to_fails_over_to_the_backup(first, reason):
    with ScriptedServer(first, Script()) as server:
        session = Session(target(server.port, timeout=1))
        try:
            assert session.host == "localhost"
            assert [h for h, _ in session.failed] == ["127.0.0.1"]
            assert reason in session.failed[0][1]
            outcome = session.send(BOX, ["lead@example.com"], MESSAGE)
        finally:
            session.close()
    assert outcome.sent == ["lead@example.com"] and len(server.messages) == 1


def test_a_refused_ehlo_falls_back_to_helo_and_the_message_goes():
    """RFC 5321 3.2: a server that refuses EHLO (500/502) is spoken to with HELO. warmup went
    on to MAIL FROM without having been greeted: a real server answers 503."""
    ehlo_refused = Script(replies={"EHLO": b"502 5.5.2 Error: command not recognized\r\n"})
    with ScriptedServer(ehlo_refused) as server:
        session = Session(target(server.port, user=""))  # a relay that takes mail by address
        try:
            outcome = session.send(BOX, ["lead@example.com"], MESSAGE)
        finally:
            session.close()
        verbs = [line.split()[0].upper() for line in server.commands[0]]
    assert outcome.sent == ["lead@example.com"], outcome
    assert verbs[:3] == [b"EHLO", b"HELO", b"MAIL"]
    assert len(server.messages) == 1


def test_a_host_that_refuses_ehlo_offers_no_login_and_the_backup_is_used(pki, ssl_cert_env):
    """Without EHLO there is no AUTH: nothing was asked of the account yet, so the host is as
    unusable as one that greets with an error. warmup failed the send at once (69, 'login
    failed: SMTP AUTH extension not supported') without trying the backup."""
    tls = pki.server_ssl_context()
    first = Script(replies={"EHLO": b"500 5.5.1 Command unrecognized\r\n"}, tls=tls)
    with ScriptedServer(first, Script(tls=tls)) as server:
        session = Session(target(server.port, "ssl"))
        try:
            assert session.host == "localhost"
            [(host, why)] = session.failed
            assert host == "127.0.0.1" and "500 5.5.1 Command unrecognized" in why, why
            outcome = session.send(BOX, ["lead@example.com"], MESSAGE)
        finally:
            session.close()
        assert not any(line.upper().startswith(b"AUTH") for line in server.commands[0])
    assert outcome.sent == ["lead@example.com"]


@pytest.mark.parametrize(
    ("auth", "error", "code"),
    [
        (b"535 5.7.8 Authentication credentials invalid\r\n", AuthFailed, 77),
        (b"454 4.7.0 Temporary authentication failure\r\n", AuthDeferred, 75),
        # smtplib returns a 503 as a login ('already authenticated', it assumes)
        (b"503 5.5.1 Error: authentication not enabled\r\n", AuthFailed, 77),
    ],
    ids=["535", "454", "503"],
)
def test_an_answered_login_never_fails_over(auth, error, code):
    """The docstring's promise: a refused login (535) would only lock the account faster on
    the backup; a deferred one (454) is the account's, not the host's, too."""
    with ScriptedServer(Script(replies={"AUTH": auth}), Script()) as server:
        with pytest.raises(error) as raised:
            Session(target(server.port))
        assert server.connections == 1
    assert raised.value.exit_code == code
    assert auth.decode().strip() in str(raised.value) and "\n" not in str(raised.value)


def test_a_login_answered_503_sends_nothing_and_bounces_nobody(ledger_path):
    """smtplib takes a 503 to AUTH for 'already authenticated': the send went on without a
    login, the server answered each RCPT '530 Authentication required', and warmup recorded
    that as the recipient's block bounce, counted in the mailbox's bounce rate (exit 65)."""
    refused = Script(
        replies={
            "AUTH": b"503 5.5.1 Error: authentication not enabled\r\n",
            "RCPT": b"530 5.7.0 Authentication required\r\n",
        }
    )
    with ScriptedServer(refused) as server:
        add_box(server.port, "--smtp-security", "none")
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hi", "--body", "x",
            env=PASSWORD_ENV,
        )  # fmt: skip
        verbs = [line.split()[0].upper() for line in server.commands[0]]
    assert res.returncode == 77, res.stdout + res.stderr
    assert "refused the login" in res.stderr and "503 5.5.1" in res.stderr
    assert b"MAIL" not in verbs, verbs
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT count(*) FROM bounce").fetchone() == (0,)
    finally:
        con.close()


_PIPELINED_EHLO = (
    b"250-scripted.test.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN\r\n"
)


@pytest.mark.parametrize("verb", ["MAIL", "RCPT"])
@pytest.mark.parametrize("ehlo", [None, _PIPELINED_EHLO], ids=["data", "pipelined-bdat"])
def test_a_530_to_mail_or_rcpt_is_the_mailbox_s_login_not_a_bounce(ledger_path, verb, ehlo):
    """'530 5.7.0 Authentication required' to MAIL or RCPT says the session has no login the
    server takes: the mailbox's fault (exit 77), nothing sent. Read as each recipient's block
    bounce (RCPT), it counted in the mailbox's bounce rate; as a refused MAIL, exit 75 'try
    again', which never helps."""
    replies: dict[str, bytes | str | None] = {verb: b"530 5.7.0 Authentication required\r\n"}
    if ehlo is not None:
        replies["EHLO"] = ehlo
    with ScriptedServer(Script(replies=replies)) as server:
        add_box(server.port, "--smtp-security", "none")
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--to", "other@example.net",
            "--subject", "Hi", "--body", "x", env=PASSWORD_ENV,
        )  # fmt: skip
    assert res.returncode == 77, res.stdout + res.stderr
    err = res.stderr.strip()
    assert "wants a login before" in err and "530 5.7.0" in err and "warmup doctor" in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT count(*) FROM bounce").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM suppression").fetchone() == (0,)
        outcomes = {o for (o,) in con.execute("SELECT outcome FROM send")}
    finally:
        con.close()
    assert outcomes <= {"released"}, outcomes  # no slot of today's quota spent


def test_a_login_cut_off_on_the_backup_names_every_host_tried():
    """The primary greets 421, the backup closes at AUTH: the one line named only the backup
    ('localhost: login failed: ...'), not why the primary was passed over."""
    with ScriptedServer(Script(b"421 4.3.2 Busy\r\n"), Script(replies={"AUTH": None})) as server:
        with pytest.raises(Unavailable) as raised:
            Session(target(server.port))
        assert server.connections == 2  # not retried after the login was cut off
    text = str(raised.value)
    assert f"127.0.0.1:{server.port}: 421 4.3.2 Busy" in text, text
    assert f"localhost:{server.port}: login failed: server closed the connection" in text, text
    assert "\n" not in text and raised.value.exit_code == 69


def test_a_refused_login_on_the_backup_says_why_the_primary_was_passed_over():
    with ScriptedServer(
        Script(b"554 5.7.1 No service\r\n"),
        Script(replies={"AUTH": b"535 5.7.8 Authentication credentials invalid\r\n"}),
    ) as server:
        with pytest.raises(AuthFailed) as raised:
            Session(target(server.port))
    text = str(raised.value)
    assert "localhost refused the login" in text and "535 5.7.8" in text
    assert f"127.0.0.1:{server.port}: 554 5.7.1 No service" in text and "\n" not in text


def test_a_greeting_trickled_a_byte_at_a_time_is_given_up_at_the_timeout():
    """Each byte came within the socket timeout, so the greeting held the send for as long as
    the server kept trickling (for ever, for a hostile one): 7 s for a 1 s timeout here."""
    slow = Script(b"220 " + b"x" * 60 + b" ESMTP\r\n", trickle=0.2)  # 13 s in all
    with ScriptedServer(slow, Script()) as server:
        start = time.monotonic()
        session = Session(target(server.port, timeout=1))
        took = time.monotonic() - start
        session.close()
    assert took < 3, took
    assert session.host == "localhost"
    [(host, why)] = session.failed
    assert host == "127.0.0.1" and "timed out" in why, why


def test_every_host_failing_is_one_line_exit_69_and_nothing_counts(pki, ssl_cert_env, ledger_path):
    """Through ``warmup send`` with Exmail's preset (primary and backup): every host and its
    reason in the one line, and the slot reserved before connecting released."""
    tls = pki.server_ssl_context()
    other = pki.ca.issue_cert("smtp.other.example")  # trusted, for another name
    wrong_name = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    other.configure_cert(wrong_name)
    with ScriptedServer(
        Script(tls=wrong_name), Script(b"421 4.7.0 Too busy\r\n", tls=tls)
    ) as server:
        add_box(server.port, hosts=",".join(HOSTS))
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hi", "--body", "x",
            env=PASSWORD_ENV,
        )  # fmt: skip
    assert res.returncode == 69, res.stderr
    [line] = res.stderr.splitlines()
    assert f"127.0.0.1:{server.port}: TLS certificate not trusted" in line
    assert f"localhost:{server.port}: 421 4.7.0 Too busy" in line
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("SELECT outcome FROM send").fetchall() == [("released",)]
    finally:
        con.close()
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["sent"] == 0


@pytest.mark.parametrize(
    ("greeting", "code", "said"),
    [
        (b"554 no service for you\r\n", 69, "the SMTP server refused the connection ("),
        (b"421 4.7.0 Too busy\r\n", 75, "the SMTP server turned the connection away for now ("),
    ],
    ids=["554", "421"],
)
def test_a_server_that_greets_with_a_refusal_says_it_refused(
    greeting, code, said, pki, ssl_cert_env, ledger_path
):
    """'554 no service for you' from every host: the server was reached and turned this client
    away, but the line said "cannot reach the SMTP server ...; check the network". A 421 is
    for now: try later (75), not unavailable (69)."""
    with ScriptedServer(Script(greeting, tls=pki.server_ssl_context())) as server:
        add_box(server.port, hosts=",".join(HOSTS))
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hi", "--body", "x",
            env=PASSWORD_ENV,
        )  # fmt: skip
    assert res.returncode == code, res.stderr
    [line] = res.stderr.splitlines()
    assert line.startswith(f"Error: {said}"), line
    reply = greeting.decode().strip()
    assert f"127.0.0.1:{server.port}: {reply}; localhost:{server.port}: {reply})" in line
    assert "network" not in line
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_starttls_to_an_implicit_tls_port_names_the_likely_mismatch(security, pki, ssl_cert_env):
    """Security starttls on port 465 (the commonest set-up slip): the server waits for the
    TLS handshake, the client for the greeting, and after the whole timeout the line said
    "timed out ...; check the network", nothing about the port's TLS; doctor named it."""
    with SmtpSink("ssl", pki=pki) as server:
        with pytest.raises(Unavailable) as caught:
            Session(Target(("127.0.0.1",), server.port, security, BOX, SMTP_PASSWORD, timeout=1))
    said = str(caught.value)
    assert "timed out" in said and said.endswith(
        ": connected, but the server never greeted; a port of implicit TLS (465) waits for the "
        "client's TLS first: if so, the mailbox's security is ssl ('warmup doctor' checks)); "
        "check the network and 'warmup mailbox show a@corp.example'"
    ), said


def test_a_host_that_is_not_there_is_not_said_to_want_tls():
    with ScriptedServer(Script(None)) as server:  # closes at once: no wait, no hint
        with pytest.raises(Unavailable) as caught:
            Session(target(server.port, timeout=1))
    assert "implicit TLS" not in str(caught.value)


def test_temp_fail_is_what_a_deferred_login_is():
    assert issubclass(AuthDeferred, TempFail)


def _gate_send(server: ScriptedServer, tmp_path, monkeypatch, to=("a@example.com",)):  # type: ignore[no-untyped-def]
    """One :meth:`Gate.send` through Exmail's preset (primary and backup on the scripted
    server); the report and the ledger's rows of the send."""
    from email.message import EmailMessage

    from tests.gatekit import policy_file
    from warmup import Gate

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(
        server.port, "--policy", str(policy_file(tmp_path / "flat.toml")), hosts=",".join(HOSTS)
    )
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = BOX, ", ".join(to), "one"
    msg.set_content("first")
    with Gate(BOX, timeout=5) as gate:
        report = gate.send(msg)
    return report, {r: v.outcome for r, v in report.results.items()}


@pytest.mark.parametrize(
    "gone",
    [b"421 4.4.2 scripted.test.example Error: timeout exceeded\r\n", "rst", None],
    ids=["421-idle-timeout", "reset", "silent-close"],
)
def test_a_connection_gone_at_mail_from_is_reopened_once_and_sent_once(
    gone, pki, ssl_cert_env, tmp_path, monkeypatch
):
    tls = pki.server_ssl_context()
    with ScriptedServer(Script(replies={"MAIL": gone}, tls=tls), Script(tls=tls)) as server:
        report, outcomes = _gate_send(server, tmp_path, monkeypatch)
    assert outcomes == {"a@example.com": "sent"} and report.throttle is None
    assert server.connections == 2 and len(server.messages) == 1


@pytest.mark.parametrize("gone", [None, "rst"], ids=["silent-close", "reset"])
def test_a_connection_lost_after_the_data_is_unknown_and_never_sent_again(
    gone, pki, ssl_cert_env, tmp_path, monkeypatch
):
    tls = pki.server_ssl_context()
    with ScriptedServer(Script(replies={".": gone}, tls=tls), Script(tls=tls)) as server:
        _, outcomes = _gate_send(server, tmp_path, monkeypatch)
    assert outcomes == {"a@example.com": "unknown"}
    assert server.connections == 1  # no second connection: the message may have arrived


@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA", "."])
def test_a_421_service_shutting_down_mid_session_releases_every_recipient(
    stage, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """421 at any step of the transaction, the final dot's reply included: the server closed
    the session without taking the message; nothing counts, nothing is retried at once."""
    tls = pki.server_ssl_context()
    shutting = b"421 4.3.2 scripted.test.example Service shutting down\r\n"
    with ScriptedServer(Script(replies={stage: shutting}, tls=tls), Script(tls=tls)) as server:
        report, outcomes = _gate_send(
            server, tmp_path, monkeypatch, to=("a@example.com", "b@example.com")
        )
    assert outcomes == {"a@example.com": "released", "b@example.com": "released"}, report
    assert server.messages == [] and server.connections == 1


@pytest.mark.parametrize("stage", ["RCPT", "DATA", "."])
@pytest.mark.parametrize(
    "text", [b"4.3.0 closing", b"4.4.2 scripted.test.example Error: timeout exceeded"]
)
def test_a_421_in_any_words_releases_every_recipient(
    stage, text, pki, ssl_cert_env, tmp_path, monkeypatch, ledger_path
):
    """To RCPT, DATA or the final dot, only a 421 worded as a throttle was released: any other
    (Postfix's idle timeout, a shutdown) was a soft bounce of every recipient, counted against
    the mailbox for a session the server ended without taking the message. (At MAIL FROM the
    connection is opened again: test_a_connection_gone_at_mail_from_is_reopened_once.)"""
    tls = pki.server_ssl_context()
    closing = b"421 " + text + b"\r\n"
    with ScriptedServer(Script(replies={stage: closing}, tls=tls)) as server:  # each connection
        report, outcomes = _gate_send(
            server, tmp_path, monkeypatch, to=("a@example.com", "b@example.com")
        )
    assert outcomes == {"a@example.com": "released", "b@example.com": "released"}, report
    assert report.throttle is None and server.messages == []
    assert rows(ledger_path, "SELECT COUNT(*) FROM bounce") == [(0,)]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_data_answered_250_instead_of_354_sends_nothing_and_counts_nothing(pipelining):
    """A broken server answering DATA with 250: no byte of the message left, yet every
    recipient was recorded as sent (the DATA reply was read as the message's)."""
    ehlo = b"250-scripted.test.example\r\n" + (b"250-PIPELINING\r\n" if pipelining else b"")
    broken = Script(replies={"EHLO": ehlo + b"250 8BITMIME\r\n", "DATA": b"250 2.0.0 OK\r\n"})
    with ScriptedServer(broken) as server:
        session = Session(target(server.port, user=""))
        try:
            outcome = session.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
        finally:
            session.close()
    assert {r: v.outcome for r, v in outcome.results.items()} == {
        "a@example.com": "released",
        "b@example.com": "released",
    }, outcome
    assert outcome.error is not None and "250 2.0.0 OK" in outcome.error
    assert server.messages == []


def test_a_starttls_endpoint_without_starttls_on_every_host_is_one_line_exit_69():
    """Never sent in the clear: each host is passed over, and the line names both."""
    with ScriptedServer(Script()) as server:
        with pytest.raises(Unavailable) as raised:
            Session(target(server.port, "starttls"))
        assert server.connections == 2
        assert not any(
            line.upper().startswith((b"AUTH", b"MAIL")) for c in server.commands for line in c
        )
    text = str(raised.value)
    for host in HOSTS:
        assert f"{host}:{server.port}: server does not offer STARTTLS" in text, text
    assert "\n" not in text and raised.value.exit_code == 69


_MODES = {
    "data": {},
    "pipelined-data": {"pipelining": True},
    "pipelined-bdat": {"pipelining": True, "chunking": True},
}
_LOGIN = (530, "5.7.0 Authentication required")
_UNKNOWN = (550, "5.1.1 <dead@example.com>: User unknown")


def _send_to(sink: SmtpSink, *rcpts: str) -> subprocess.CompletedProcess[str]:
    add_box(sink.port, "--smtp-security", "none")
    to = [arg for r in rcpts for arg in ("--to", r)]
    return cli("send", BOX, *to, "--subject", "Hi", "--body", "x", env=PASSWORD_ENV)


@pytest.mark.parametrize("mode", list(_MODES))
def test_a_hard_refusal_read_before_a_530_is_recorded_and_the_exit_stays_77(ledger_path, mode):
    """A recipient refused for good (550 5.1.1) before the server wanted a login for the next
    one (530): the send was taken for the login missing as a whole (77, every slot released)
    and the 550 was lost, so the address was mailed again, and refused again, once the login
    was fixed. What the server said about that address stands: its hard bounce, suppressing
    it; the exit stays 77 (the login is what to fix) and nothing was sent. A policy refusal
    (554 5.7.1 relay access denied) in the same transaction may be the missing login speaking:
    released, not a block bounce in the mailbox's rate."""
    refusals = {
        "dead@example.com": _UNKNOWN,
        "relay@example.org": (554, "5.7.1 Relay access denied"),
        "other@example.net": _LOGIN,
    }
    with SmtpSink("plain", user=BOX, password=SMTP_PASSWORD, **_MODES[mode]) as sink:  # type: ignore[arg-type]
        sink.reject_rcpt = refusals
        res = _send_to(sink, "dead@example.com", "relay@example.org", "other@example.net")
        assert sink.messages == []
    assert res.returncode == 77, res.stdout + res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "wants a login before RCPT TO (530 5.7.0" in err, err
    assert "dead@example.com" in err and "nothing was sent" in err, err
    assert rows(ledger_path, "SELECT recipient, kind FROM bounce") == [("dead@example.com", "hard")]
    assert rows(ledger_path, "SELECT address FROM suppression") == [("dead@example.com",)]
    assert sorted(rows(ledger_path, "SELECT recipient, outcome FROM send")) == [
        ("dead@example.com", "hard"),
        ("other@example.net", "released"),
        ("relay@example.org", "released"),
    ]


@pytest.mark.parametrize("mode", list(_MODES))
def test_a_server_that_wants_a_login_for_some_recipients_is_77(ledger_path, mode):
    """A server that takes one recipient (250) and wants a login for the next (530). With
    PIPELINING and CHUNKING the data goes with the envelope: the message reached the one
    taken, and warmup exited 75 ("try again later"), which no wait fixes. The exit is 77 in
    every mode. Where the data waits for DATA's 354, nothing is sent: the login is missing,
    and the message goes whole once it is fixed. Where it went with the envelope, what the
    server took is recorded as sent (it was) and the line says so; the others are released,
    for a retry to reach once the login is fixed."""
    with SmtpSink("plain", user=BOX, password=SMTP_PASSWORD, **_MODES[mode]) as sink:  # type: ignore[arg-type]
        sink.reject_rcpt = {"other@example.net": _LOGIN}
        res = _send_to(sink, "lead@example.com", "other@example.net")
        reached = [m.rcpt_tos for m in sink.messages]
    assert res.returncode == 77, res.stdout + res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "wants a login before RCPT TO (530 5.7.0" in err, err
    sent = rows(ledger_path, "SELECT recipient FROM send WHERE outcome = 'sent'")
    if mode == "pipelined-bdat":
        assert reached == [("lead@example.com",)]
        assert sent == [("lead@example.com",)]
        assert "went to lead@example.com with the envelope (CHUNKING), not to the oth" in err, err
        assert err.endswith("then send it again to the others alone"), err
    else:
        assert reached == [] and sent == []
        assert "nothing was sent" in err, err
    assert rows(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]
    assert rows(ledger_path, "SELECT outcome FROM send WHERE recipient = 'other@example.net'") == [
        ("released",)
    ]
