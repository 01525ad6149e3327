"""Self-tests for the loopback peers in tests/peers (real SMTP, real Dovecot, real TLS)."""

from __future__ import annotations

import contextlib
import imaplib
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.peers.dovecot import Dovecot
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER, SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SilentServer, SmtpSink, free_port
from tests.peers.tls import TestPKI

MESSAGE = (
    b"From: A <a@corp.example>\r\nTo: b@x.test\r\nSubject: warm-up 1\r\n"
    b"Message-ID: <1@corp.example>\r\n\r\nHello.\r\n"
)
BOUNCE = (
    b"From: MAILER-DAEMON@x.test\r\nTo: bounces@corp.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n\r\n<dead@x.test>: User unknown\r\n"
)


def _ssl_client(sink: SmtpSink, pki: TestPKI) -> smtplib.SMTP_SSL:
    client = smtplib.SMTP_SSL(sink.host, sink.port, context=pki.client_ssl_context(), timeout=5)
    client.login(SMTP_USER, SMTP_PASSWORD)
    return client


def test_smtp_ssl_delivers_over_verified_tls(smtp_ssl: SmtpSink, pki: TestPKI) -> None:
    with _ssl_client(smtp_ssl, pki) as client:
        assert client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE) == {}
    [got] = smtp_ssl.messages
    assert (got.mail_from, got.rcpt_tos, got.auth_login) == (SMTP_USER, ("b@x.test",), SMTP_USER)
    assert got.raw == MESSAGE
    assert got.message["Subject"] == "warm-up 1"


def test_smtp_ssl_verifies_through_ssl_cert_file(smtp_ssl: SmtpSink, ssl_cert_env) -> None:
    context = ssl.create_default_context()  # picks up SSL_CERT_FILE
    with smtplib.SMTP_SSL(smtp_ssl.host, smtp_ssl.port, context=context, timeout=5) as client:
        client.login(SMTP_USER, SMTP_PASSWORD)
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    assert len(smtp_ssl.messages) == 1


def test_smtp_starttls_delivers(smtp_starttls: SmtpSink, pki: TestPKI) -> None:
    with smtplib.SMTP(smtp_starttls.host, smtp_starttls.port, timeout=5) as client:
        client.ehlo()
        assert client.has_extn("starttls") and not client.has_extn("auth")
        client.starttls(context=pki.client_ssl_context())
        client.ehlo()
        client.login(SMTP_USER, SMTP_PASSWORD)
        client.sendmail(SMTP_USER, ["b@x.test", "c@x.test"], MESSAGE)
    [got] = smtp_starttls.messages
    assert got.rcpt_tos == ("b@x.test", "c@x.test")


def test_smtp_plain_mode(smtp_plain: SmtpSink) -> None:
    with smtplib.SMTP(smtp_plain.host, smtp_plain.port, timeout=5) as client:
        client.login(SMTP_USER, SMTP_PASSWORD)
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    assert len(smtp_plain.messages) == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_wrong_password_is_535(smtp_ssl: SmtpSink, pki: TestPKI, mechanism: str) -> None:
    with smtplib.SMTP_SSL(
        smtp_ssl.host, smtp_ssl.port, context=pki.client_ssl_context(), timeout=5
    ) as client:
        client.ehlo()
        client.user, client.password = SMTP_USER, "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        assert err.value.smtp_code == 535
        assert err.value.smtp_error == b"5.7.8 Authentication credentials invalid"
        # and the right one works with the same mechanism
        client.password = SMTP_PASSWORD
        assert client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))[0] == 235


def test_smtp_reject_rcpt(smtp_ssl: SmtpSink, pki: TestPKI) -> None:
    text = "5.1.1 <dead@x.test>: Recipient address rejected: User unknown"
    smtp_ssl.reject_rcpt = {"dead@x.test": (550, text)}
    with _ssl_client(smtp_ssl, pki) as client:
        refused = client.sendmail(SMTP_USER, ["b@x.test", "dead@x.test"], MESSAGE)
    assert refused == {"dead@x.test": (550, text.encode())}
    assert smtp_ssl.messages[0].rcpt_tos == ("b@x.test",)


@pytest.mark.parametrize("fixture", ["smtp_ssl", "smtp_starttls"])
def test_smtp_drop_mid_data(request: pytest.FixtureRequest, pki: TestPKI, fixture: str) -> None:
    sink: SmtpSink = request.getfixturevalue(fixture)
    sink.drop_mid_data = True
    if sink.mode == "ssl":
        client = _ssl_client(sink, pki)
    else:
        client = smtplib.SMTP(sink.host, sink.port, timeout=5)
        client.starttls(context=pki.client_ssl_context())
        client.login(SMTP_USER, SMTP_PASSWORD)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    assert [m.raw for m in sink.messages] == [MESSAGE]  # the server has it anyway


def test_smtp_fail_after_mail_closes(smtp_ssl: SmtpSink, pki: TestPKI) -> None:
    smtp_ssl.fail_after_mail = (421, "4.7.0 Too many messages, try again later")
    smtp_ssl.fail_after_mail_count = 1  # the first message passes, the second is refused
    client = _ssl_client(smtp_ssl, pki)
    client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    with pytest.raises(smtplib.SMTPSenderRefused) as err:
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    assert err.value.smtp_code == 421
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()
    assert len(smtp_ssl.messages) == 1


def test_smtp_data_reply_and_delay(smtp_ssl: SmtpSink, pki: TestPKI) -> None:
    smtp_ssl.data_reply = (451, "4.7.1 Try again later")
    with _ssl_client(smtp_ssl, pki) as client, pytest.raises(smtplib.SMTPDataError) as err:
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)
    assert (err.value.smtp_code, smtp_ssl.messages, len(smtp_ssl.refused)) == (451, [], 1)

    smtp_ssl.data_reply, smtp_ssl.delay_data_reply = None, 2.0
    client = _ssl_client(smtp_ssl, pki)
    client.sock.settimeout(0.2)
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        client.sendmail(SMTP_USER, ["b@x.test"], MESSAGE)


def test_untrusted_certificate_fails_verification(pki: TestPKI) -> None:
    with SmtpSink("ssl", pki=pki, untrusted=True) as sink:
        with pytest.raises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL(sink.host, sink.port, context=pki.client_ssl_context(), timeout=5)
        assert sink.messages == []


def test_imap_peek_keeps_message_unseen(dovecot_clean: Dovecot, pki: TestPKI) -> None:
    uid = dovecot_clean.append("INBOX", BOUNCE)
    client = imaplib.IMAP4_SSL(
        dovecot_clean.host, dovecot_clean.port, ssl_context=pki.client_ssl_context(), timeout=5
    )
    try:
        assert client.login(IMAP_USER, IMAP_PASSWORD)[0] == "OK"
        typ, data = client.select("INBOX")
        assert (typ, data) == ("OK", [b"1"])
        typ, data = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == BOUNCE
    finally:
        client.logout()
    assert dovecot_clean.flags("INBOX") == {uid: set()}
    assert dovecot_clean.fetch("INBOX") == {uid: BOUNCE}


def test_imap_folders_flags_uidvalidity(dovecot_clean: Dovecot) -> None:
    uid = dovecot_clean.append("Bounces", BOUNCE, flags=["\\Seen"])
    assert dovecot_clean.flags("Bounces") == {uid: {"\\Seen"}}
    assert dovecot_clean.uidvalidity("Bounces") > 0


def test_imap_wrong_password(dovecot: Dovecot, pki: TestPKI) -> None:
    context = pki.client_ssl_context()
    with (
        imaplib.IMAP4_SSL(dovecot.host, dovecot.port, ssl_context=context, timeout=5) as client,
        pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"),
    ):
        client.login(IMAP_USER, "wrong")


def test_imap_kick_and_restart(dovecot_clean: Dovecot) -> None:
    uid = dovecot_clean.append("INBOX", BOUNCE)
    validity = dovecot_clean.uidvalidity()
    with closing_imap(dovecot_clean.connect()) as client:
        client.select("INBOX")
        dovecot_clean.kick()
        with pytest.raises(imaplib.IMAP4.abort):
            client.noop()

    port = dovecot_clean.port
    with closing_imap(dovecot_clean.connect()) as client:
        client.select("INBOX")
        dovecot_clean.restart()
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            client.noop()
    assert dovecot_clean.port == port
    assert dovecot_clean.flags() == {uid: set()}
    assert dovecot_clean.uidvalidity() == validity


def test_a_killed_dovecot_is_stopped_only_once_nothing_listens_on_its_port(
    dovecot_clean: Dovecot,
) -> None:
    """A killed login process may hold the listening socket for a moment after the master is
    reaped: a restart then saw that socket accept, returned before the new server had bound,
    and the next connection was refused (a watcher test failed so in CI)."""
    dovecot_clean.stop(graceful=False)
    try:
        holder = subprocess.Popen(  # plays the killed worker that still holds the port
            [sys.executable, "-c", HOLDER, str(dovecot_clean.port)], stdout=subprocess.PIPE
        )
        assert holder.stdout is not None and holder.stdout.readline() == b"listening\n"
        socket.create_connection((dovecot_clean.host, dovecot_clean.port), timeout=2).close()
        dovecot_clean._until_port_closed()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((dovecot_clean.host, dovecot_clean.port), timeout=2)
        assert holder.wait(5) == 0
    finally:
        dovecot_clean.start()
    for _ in range(3):  # and a restart is served at once, every time
        dovecot_clean.restart()
        with closing_imap(dovecot_clean.connect()) as client:
            assert client.noop()[0] == "OK"


def test_a_dovecot_killed_while_it_rewrote_its_instance_list_is_served_at_once(
    dovecot_clean: Dovecot,
) -> None:
    """A master killed in its first moments leaves state/instances.lock behind; the next one
    waited ~10 s for it to go stale, its port accepting but no TLS served meanwhile, and a
    client's handshake timed out (CI, after a restart right after a start)."""
    dovecot_clean.stop(graceful=False)
    lock = dovecot_clean.directory / "state" / "instances.lock"
    lock.write_text("1796399699\tleft by a killed master\n")
    dovecot_clean.start(timeout=5)  # the stall took 10 s
    with closing_imap(dovecot_clean.connect()) as client:
        assert client.noop()[0] == "OK"


HOLDER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(0.5)
"""


@contextlib.contextmanager
def closing_imap(client: imaplib.IMAP4) -> Iterator[imaplib.IMAP4]:
    try:
        yield client
    finally:
        client.shutdown()


def test_silent_server_times_out(silent_server: SilentServer) -> None:
    address = (silent_server.host, silent_server.port)
    with socket.create_connection(address, timeout=0.2) as sock, pytest.raises(TimeoutError):
        sock.recv(1)
    # smtplib turns the read timeout into SMTPServerDisconnected("... timed out")
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
        smtplib.SMTP(silent_server.host, silent_server.port, timeout=0.2)


def test_closed_port_refuses(closed_port: tuple[str, int]) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(closed_port, timeout=1).close()


def test_dns_server_moves_off_a_port_taken_for_tcp() -> None:
    """The UDP port the kernel gives may be taken for TCP (a flake seen in a full run): the
    server tries another pair instead of failing its test with "Address already in use"."""
    from dnslib import DNSRecord

    from tests.peers.dns import DnsServer

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        busy = taken.getsockname()[1]
        with DnsServer(udp_ports=(busy,)) as dns:
            assert dns.port != busy
            dns.records[("corp.example", "MX")] = ["10 mx1.corp.example."]
            ask = DNSRecord.question("corp.example", "MX")
            over_udp = DNSRecord.parse(ask.send("127.0.0.1", dns.port, timeout=5))
            over_tcp = DNSRecord.parse(ask.send("127.0.0.1", dns.port, tcp=True, timeout=5))
            assert [str(r.rdata) for r in over_udp.rr] == ["10 mx1.corp.example."]
            assert [str(r.rdata) for r in over_tcp.rr] == ["10 mx1.corp.example."]
    finally:
        taken.close()


def test_dovecot_moves_off_a_port_taken_before_it_binds(
    pki: TestPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port found free may be taken before Dovecot binds it (another test's client): the
    server starts on another instead of failing its test at start-up."""
    from tests.peers import dovecot

    taken = socket.socket()  # bound, not listening: as a client's port is
    taken.bind(("127.0.0.1", 0))
    busy = taken.getsockname()[1]
    offered = iter([busy])
    monkeypatch.setattr(dovecot, "free_port", lambda: next(offered, 0) or free_port())
    try:
        with Dovecot(pki, user=IMAP_USER, password=IMAP_PASSWORD) as server:
            assert server.port != busy
            with imaplib.IMAP4_SSL(
                "127.0.0.1", server.port, ssl_context=pki.client_ssl_context(), timeout=10
            ) as imap:
                assert imap.login(IMAP_USER, IMAP_PASSWORD)[0] == "OK"
    finally:
        taken.close()
