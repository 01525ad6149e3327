"""The relay's own SMTP server (warmup/relayserver.py) from a bare socket: how the bytes arrive
(pipelined, cut anywhere), the command grammar's refusals, AUTH's exchanges, and the limits."""

from __future__ import annotations

import base64
import socket

import pytest

from tests import test_relay
from tests.peers.fixtures import SMTP_USER
from tests.test_relay_lean import Raw, envelope, sends

BOX = SMTP_USER
relay = test_relay.relay  # the relay tests' fixture: start(daily, **Relay options)


class Client(Raw):
    """:class:`tests.test_relay_lean.Raw` before EHLO and AUTH: the greeting read, no more."""

    def __init__(self, server) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=30)
        self.buf = b""
        assert self.reply()[0] == 220

    def ask(self, command: bytes) -> tuple[int, bytes]:
        self.send(command + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self.sock.recv(100) == b""


def b64(text: str) -> bytes:
    return base64.b64encode(text.encode())


def plain(server, password: str | None = None) -> bytes:
    return b64(f"\0{server.user}\0{password or server.password}")


def test_a_whole_session_pipelined_in_one_write_is_answered_in_order(relay, smtp_ssl, ledger_path):
    server = relay(50)
    c = Client(server)
    c.send(
        b"EHLO client.test\r\nAUTH PLAIN " + plain(server) + b"\r\n" + envelope()
        + b"Subject: one\r\n\r\nhi\r\n.\r\n"
        + envelope("b@example.com") + b"Subject: two\r\n\r\nho\r\n.\r\nQUIT\r\n"
    )  # fmt: skip
    codes = [c.reply()[0] for _ in range(11)]
    assert codes == [250, 235, 250, 250, 354, 250, 250, 250, 354, 250, 221]
    assert c.closed()
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["one", "two"]
    server.stop()
    server.gate.close()
    assert sends(ledger_path) == [("lead@example.com", "sent"), ("b@example.com", "sent")]


def test_commands_cut_anywhere_across_writes_are_read_whole(relay, smtp_ssl):
    server = relay(50)
    c = Client(server)
    session = (
        b"EHLO client.test\r\nAUTH PLAIN " + plain(server) + b"\r\n" + envelope()
        + b"Subject: cut\r\n\r\nhi\r\n.\r\nNOOP\r\n"
    )  # fmt: skip
    for i in range(len(session)):  # a byte a write: every command split, its CRLF too
        c.send(session[i : i + 1])
    assert [c.reply()[0] for _ in range(7)] == [250, 235, 250, 250, 354, 250, 250]
    c.close()
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("lead@example.com",)]


def test_a_command_line_over_the_limit_gets_500_and_the_session_goes_on(relay, smtp_ssl):
    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    assert c.ask(b"NOOP " + b"x" * 507) == (250, b"250 OK")  # 512 octets: the limit
    assert c.ask(b"NOOP " + b"x" * 508) == (500, b"500 Command line too long")
    # far past it, in pieces: dropped unread to its end, answered once
    c.send(b"RCPT TO:<" + b"y" * 5000)
    c.send(b"z" * 70000)
    assert c.ask(b"@example.com>") == (500, b"500 Command line too long")
    # MAIL takes 26 octets more after EHLO, for a SIZE parameter (RFC 1870)
    assert c.ask(f"MAIL FROM:<{BOX}> SIZE=100 ".encode() + b" " * 500)[0] == 250
    assert c.ask(b"QUIT")[0] == 221
    assert smtp_ssl.messages == []


def test_a_size_in_digits_that_are_no_ascii_is_a_syntax_error(relay, smtp_ssl):
    """'SIZE=\u00b2' passed str.isdigit() and int() raised: a 451 "internal error" (logged with
    a traceback) for a client's typo, where RFC 1870's size is ASCII digits: 501."""
    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    for size in ("\u00b2", "\u0663"):
        code, said = c.ask(f"MAIL FROM:<{BOX}> SIZE={size}".encode())
        assert code == 501, said
    assert c.ask(f"MAIL FROM:<{BOX}> SIZE=100".encode())[0] == 250
    c.close()
    assert "internal error" not in server.summary()


def test_auth_login_and_plain_with_their_challenges(relay, smtp_ssl):
    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[1].splitlines()[-2:] == [b"250-AUTH LOGIN PLAIN", b"250 HELP"]
    assert c.ask(b"AUTH LOGIN") == (334, b"334 VXNlcm5hbWU6")  # "Username:"
    assert c.ask(b64(server.user)) == (334, b"334 UGFzc3dvcmQ6")  # "Password:"
    assert c.ask(b64(server.password))[0] == 235
    assert c.ask(b"AUTH LOGIN") == (503, b"503 Already authenticated")
    assert c.ask(f"MAIL FROM:<{BOX}>".encode())[0] == 250
    c.close()
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH LOGIN " + b64(server.user)) == (334, b"334 UGFzc3dvcmQ6")
    assert c.ask(b64(server.password))[0] == 235
    c.close()
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"auth plain") == (334, b"334 ")  # mechanisms are case-blind (RFC 4954)
    assert c.ask(plain(server)) == (235, b"235 2.7.0 Authentication successful")
    c.close()


@pytest.mark.parametrize(
    ("exchange", "last"),
    [
        ([b"AUTH PLAIN !!!notbase64"], b"501 5.5.2 Can't decode base64"),
        ([b"AUTH PLAIN", b"!!!"], b"501 5.5.2 Can't decode base64"),
        ([b"AUTH PLAIN " + b64("no separators")], b"501 5.5.2 Can't split auth value"),
        ([b"AUTH LOGIN", b"*"], b"501 5.7.0 Auth aborted"),
        ([b"AUTH LOGIN", b64(SMTP_USER), b"%%%"], b"501 5.5.2 Can't decode base64"),
        ([b"AUTH LOGIN " + b64(SMTP_USER), b64("wrong")], b"535 5.7.8 Authentication credentials invalid"),
        ([b"AUTH PLAIN " + b64(f"\0{SMTP_USER}\0wrong")], b"535 5.7.8 Authentication credentials invalid"),
        ([b"AUTH CRAM-MD5"], b"504 5.5.4 Unrecognized authentication type"),
        ([b"AUTH"], b"501 Not enough value"),
        ([b"AUTH PLAIN a b"], b"501 Too many values"),
    ],
)  # fmt: skip
def test_a_failed_login_is_refused_and_mail_still_needs_one(relay, smtp_ssl, exchange, last):
    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    for line in exchange[:-1]:
        assert c.ask(line)[0] == 334
    assert c.ask(exchange[-1]) == (int(last[:3]), last)
    assert c.ask(f"MAIL FROM:<{BOX}>".encode()) == (530, b"530 5.7.0 Authentication required")
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235  # the session goes on
    c.close()
    assert smtp_ssl.messages == []


def test_the_command_grammar_gets_rfc_5321_refusals(relay, smtp_ssl):
    server = relay(50)
    c = Client(server)
    assert c.ask(f"MAIL FROM:<{BOX}>".encode()) == (503, b"503 Error: send HELO first")
    assert c.ask(b"AUTH PLAIN " + plain(server)) == (503, b"503 Error: send EHLO first")
    assert c.ask(b"HELO client.test") == (250, b"250 localhost")
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 500  # AUTH is an extension: EHLO first
    assert c.ask(b"EHLO") == (501, b"501 Syntax: EHLO hostname")
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    assert c.ask(b"RCPT TO:<lead@example.com>") == (503, b"503 Error: need MAIL command")
    assert c.ask(b"DATA") == (503, b"503 Error: need RCPT command")
    assert c.ask(b"MAIL <x@y>")[0] == 501
    assert c.ask(b"MAIL FROM:<a@b@c>") == (553, b"553 5.1.3 Error: malformed address")
    assert c.ask(f"MAIL FROM:<{BOX}> BODY=9BIT".encode())[0] == 501
    assert c.ask(f"MAIL FROM:<{BOX}>".encode())[0] == 250
    assert c.ask(f"MAIL FROM:<{BOX}>".encode()) == (503, b"503 Error: nested MAIL command")
    assert c.ask(b"RCPT TO:<lead@example.com>")[0] == 250
    assert c.ask(b"DATA now") == (501, b"501 Syntax: DATA")
    assert c.ask(b"RSET") == (250, b"250 OK")
    assert c.ask(b"DATA") == (503, b"503 Error: need RCPT command")  # RSET ended the envelope
    assert c.ask(b"EXPN list")[0] == 502
    assert c.ask(b"") == (500, b"500 Error: bad syntax")
    for _ in range(4):
        assert c.ask(b"XYZZY")[0] == 500
    assert c.ask(b"XYZZY")[0] == 502  # the fifth unknown command: not an SMTP client
    assert c.closed()
    assert server.summary() == (  # refusals to a logged-in client count, as the relay's own
        "warmup: 0 sent, 0 deferred (4xx), 5 refused (5xx), 0 recipients rejected upstream; "
        "4 refusals at MAIL FROM, 1 refusal at RCPT TO"
    )
    assert smtp_ssl.messages == []


def test_commands_pipelined_behind_a_held_reply_are_answered_after_it(relay, smtp_ssl, ledger_path):
    # The end-of-DATA reply held for the next paced slot (1 s): what the client wrote behind
    # the final dot is read meanwhile but answered after it, in order.
    server = relay(interval="1s", wait=True, max_hold=10.0)
    assert test_relay.submit(server, b"Subject: first\r\n\r\nhi\r\n") == (250, "")
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    c.send(envelope() + b"Subject: second\r\n\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n")
    assert [c.reply()[0] for _ in range(6)] == [250, 250, 354, 250, 250, 221]
    assert c.closed()
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["first", "second"]


@pytest.mark.parametrize("tail", [1, 2, 3, 4, 5])
def test_data_over_the_size_limit_is_dropped_as_it_comes_and_its_end_still_found(
    relay, smtp_ssl, ledger_path, tail
):
    # Past the limit the relay keeps no more of the message (a client cannot make it hold
    # more than the limit), but still finds the final dot, wherever the writes cut it: a
    # megabyte read in many pieces, then the end a byte a write from its ``tail``-th octet.
    server = relay(50, data_size_limit=2000)
    c = Client(server)
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    end = b"\r\n.\r\nNOOP\r\n"
    c.send(b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 60_000 + b"last" + end[: tail - 1])
    for octet in end[tail - 1 :]:
        c.send(bytes([octet]))
    assert c.reply() == (552, b"552 Error: Too much mail data")
    assert c.reply() == (250, b"250 OK")  # the NOOP behind the final dot: a command
    c.close()
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


@pytest.mark.parametrize("leaves", ["quit", "close"])
def test_a_client_that_greets_and_leaves_without_logging_in_is_named_in_the_summary(
    relay, smtp_ssl, leaves
):
    """What msmtp with "auth on" and "tls off" does (it sends no password without TLS: EHLO,
    then gone): the summary said "0 sent" and nothing else."""
    import smtplib

    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO localhost")[0] == 250
    if leaves == "quit":
        assert c.ask(b"QUIT")[0] == 221
    c.close()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:  # a round trip after them
        assert s.noop()[0] == 250
    assert server.summary().splitlines()[1:] == [
        "warmup: a client said EHLO and left without logging in: the relay takes AUTH PLAIN or "
        "LOGIN, with or without STARTTLS (msmtp's auth on needs tls on and tls_trust_file "
        "$WARMUP_SMTP_CAFILE)"
    ]
    assert smtp_ssl.connections == 0


def test_a_client_that_logs_in_or_tries_to_is_not_said_to_have_left_after_the_greeting(
    relay, smtp_ssl
):
    import smtplib

    server = relay(50)
    c = Client(server)  # logs in, leaves
    assert c.ask(b"EHLO localhost")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    assert c.ask(b"QUIT")[0] == 221
    c = Client(server)  # a wrong password: its own note
    assert c.ask(b"EHLO localhost")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server, "wrong"))[0] == 535
    c.close()
    c = Client(server)  # asks for STARTTLS, leaves before its handshake: its own note
    assert c.ask(b"EHLO localhost")[0] == 250
    assert c.ask(b"STARTTLS")[0] == 220
    c.close()
    c = Client(server)  # connects and says nothing: a port probe
    c.close()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:  # a round trip after them
        s.login(server.user, server.password)
    assert "left without logging in" not in server.summary()
    assert server.summary().splitlines()[2] == (
        "warmup: a client closed the connection during its TLS handshake with the relay: one "
        "that verifies the server must trust $WARMUP_SMTP_CAFILE"
    )
    assert len(server.summary().splitlines()) == 3  # the counts, the login's and TLS' notes


def test_a_logged_in_client_cut_off_for_idleness_is_named_in_the_summary(relay, smtp_ssl):
    """A script that sleeps between its sends on one connection (minutes, as the providers'
    warm-up advice asks) found it closed at its next send; the summary said nothing of it."""
    server = relay(50, idle_timeout=0.3)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    assert c.reply() == (421, b"421 4.4.2 timeout: closing the connection")  # no command since
    assert c.closed()
    assert server.summary().splitlines()[1:] == [
        "warmup: a client's connection was closed after 0.3 s without a command (421 4.4.2): "
        "a script that waits between its messages must connect again for the next (or send "
        "NOOP meanwhile)"
    ]
