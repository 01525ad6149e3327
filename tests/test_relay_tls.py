"""The relay speaks TLS (warmup/relaytls.py, warmup/relayserver.py): STARTTLS on its port,
implicit TLS on ``WARMUP_SMTPS_PORT``, with a certificate made for the run that the command's
clients can trust through ``WARMUP_SMTP_CAFILE``, ``SSL_CERT_FILE`` and ``NODE_EXTRA_CA_CERTS``.
A script written for the provider (``SMTP_SSL(host, 465)``, ``starttls()``, a verifying
context, curl, msmtp) changes only its host and port."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests import test_relay
from tests.peers.fixtures import SMTP_USER
from tests.test_relay import box, wrapped  # noqa: F401 (fixture)
from tests.test_relay_lean import Raw
from tests.test_relay_smtp import Client, plain

BOX = SMTP_USER
relay = test_relay.relay  # the relay tests' fixture: start(daily, **Relay options)

# Every way a script written for the provider reaches the relay, in one run: implicit TLS and
# STARTTLS, without verifying (smtplib's default) and verifying (the default context, which
# reads SSL_CERT_FILE, and one given the certificate's file), and plain SMTP as before.
SCRIPT = textwrap.dedent("""\
    import json, os, smtplib, ssl, sys
    from email.message import EmailMessage

    env = os.environ
    host, port, tls_port = env["SMTP_HOST"], int(env["SMTP_PORT"]), int(env["SMTPS_PORT"])
    user, password = env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"]

    def message(way):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = env["WARMUP_MAILBOX"], "lead@example.com", way
        msg.set_content("Hello.")
        return msg

    ways = {
        "smtps": lambda: smtplib.SMTP_SSL(host, tls_port, timeout=30),
        "smtps verified": lambda: smtplib.SMTP_SSL(
            host, tls_port, context=ssl.create_default_context(), timeout=30),
        "starttls": lambda: smtplib.SMTP(host, port, timeout=30),
        "starttls verified": lambda: smtplib.SMTP(host, port, timeout=30),
        "plain": lambda: smtplib.SMTP(host, port, timeout=30),
    }
    seen = {}
    for way, connect in ways.items():
        with connect() as s:
            if way == "starttls":
                s.starttls()
            elif way == "starttls verified":
                s.starttls(context=ssl.create_default_context(cafile=env["WARMUP_SMTP_CAFILE"]))
            elif way == "plain":
                s.ehlo()
                seen["plain offers"] = sorted(s.esmtp_features)
            s.login(user, password)
            s.send_message(message(way))
            seen[way] = "sent"
    seen["files"] = {k: env[k] for k in ("WARMUP_SMTP_CAFILE", "SSL_CERT_FILE")}
    json.dump(seen, open(sys.argv[1], "w"))
""")


def test_a_script_written_for_the_provider_sends_over_tls_changing_host_and_port_only(
    box,  # noqa: F811
    smtp_ssl,
    tmp_path,
):
    box(daily=50)
    script, out = tmp_path / "script.py", tmp_path / "seen.json"
    script.write_text(SCRIPT)
    res = wrapped(sys.executable, str(script), str(out))
    assert res.returncode == 0, res.stderr
    seen = json.loads(out.read_text())
    ways = ["smtps", "smtps verified", "starttls", "starttls verified", "plain"]
    assert [seen[w] for w in ways] == ["sent"] * 5
    assert "starttls" in seen["plain offers"] and "auth" in seen["plain offers"]
    assert sorted(m.message["Subject"] for m in smtp_ssl.messages) == sorted(ways)
    assert res.stderr.splitlines() == [
        "warmup: 5 sent, 0 deferred (4xx), 0 refused (5xx), 0 recipients rejected upstream"
    ]
    # the certificate and the bundle were the run's: removed with the relay
    assert not any(os.path.exists(p) for p in seen["files"].values())


DISTRUSTING = textwrap.dedent("""\
    import os, smtplib, ssl
    os.environ.pop("SSL_CERT_FILE")  # the script's own trust: not the relay's certificate
    try:
        smtplib.SMTP_SSL(os.environ["SMTP_HOST"], int(os.environ["SMTPS_PORT"]),
                         context=ssl.create_default_context(), timeout=30)
    except ssl.SSLCertVerificationError:
        raise SystemExit(3)
""")


def test_a_client_that_does_not_trust_the_certificate_is_told_what_to_trust(
    box,  # noqa: F811
    smtp_ssl,
    tmp_path,
):
    box()
    script = tmp_path / "script.py"
    script.write_text(DISTRUSTING)
    res = wrapped(sys.executable, str(script))
    assert res.returncode == 3, res.stderr
    assert res.stderr.splitlines()[1] == (
        "warmup: a client refused the relay's certificate (TLSV1_ALERT_UNKNOWN_CA): the relay "
        "makes one for each run, for 127.0.0.1 and localhost; have the command's SMTP client "
        "trust $WARMUP_SMTP_CAFILE (SSL_CERT_FILE and NODE_EXTRA_CA_CERTS, set for the command, "
        "hold it too)"
    )
    assert smtp_ssl.connections == 0


def test_curl_sends_over_implicit_tls_and_starttls(box, smtp_ssl, tmp_path):  # noqa: F811
    """curl with the certificate's file (``--cacert``), and with no trust option at all:
    curl reads SSL_CERT_FILE, the bundle the command gets."""
    box(daily=50)
    msg = tmp_path / "msg.eml"
    msg.write_text(f"From: {BOX}\r\nTo: lead@example.com\r\nSubject: curl\r\n\r\nHello.\r\n")
    curl = (
        f"curl -sS --mail-from {BOX} --mail-rcpt lead@example.com -T {msg}"
        ' --user "$WARMUP_SMTP_USER:$WARMUP_SMTP_PASSWORD"'
    )
    script = (
        f'{curl} --cacert "$WARMUP_SMTP_CAFILE" "smtps://127.0.0.1:$WARMUP_SMTPS_PORT"'
        f' && {curl} --ssl-reqd "smtp://localhost:$WARMUP_SMTP_PORT"'
    )
    res = wrapped("sh", "-c", script)
    assert res.returncode == 0, res.stderr
    assert len(smtp_ssl.messages) == 2
    assert "warmup: 2 sent," in res.stderr


def test_msmtp_with_tls_and_the_certificate_file_sends(box, smtp_ssl, tmp_path):  # noqa: F811
    """msmtp's defaults (auth on, which sends no password in clear) with STARTTLS, trusting
    the file the relay names; then implicit TLS (tls_starttls off) on the other port."""
    box(daily=50)
    rc = tmp_path / "msmtprc"
    # msmtp reads no variables in its file: the script writes the run's values in
    script = textwrap.dedent(f"""\
        umask 077
        cat > {rc} <<EOF
        defaults
        auth on
        tls on
        tls_trust_file $WARMUP_SMTP_CAFILE
        account relay
        host 127.0.0.1
        port $WARMUP_SMTP_PORT
        from {BOX}
        user $WARMUP_SMTP_USER
        password $WARMUP_SMTP_PASSWORD
        EOF
        printf 'Subject: msmtp\\n\\nHello.\\n' | msmtp -C {rc} -a relay lead@example.com
        printf 'Subject: msmtp 465\\n\\nHello.\\n' | msmtp -C {rc} -a relay \\
            --tls-starttls=off --port="$WARMUP_SMTPS_PORT" lead@example.com
    """)
    res = wrapped("sh", "-ec", script)
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(m.message["Subject"] for m in smtp_ssl.messages) == ["msmtp", "msmtp 465"]


def tls_client(server, greeting: int = 220) -> Client:
    """A bare client on the implicit TLS port, trusting the relay's certificate, past the
    greeting."""
    context = ssl.create_default_context(cafile=server.tls.cafile)
    c = Client.__new__(Client)
    raw = socket.create_connection((server.host, server.tls_port), timeout=30)
    c.sock, c.buf = context.wrap_socket(raw, server_hostname=server.host), b""
    assert c.reply()[0] == greeting
    return c


def test_commands_pipelined_after_starttls_are_dropped_not_run_over_tls(relay, smtp_ssl):
    """The STARTTLS command injection (CVE-2011-0411 and its kin): what comes in the clear in
    the same packet as STARTTLS must not be answered once TLS is up, as if the client had sent
    it encrypted."""
    server = relay(50)
    c = Client(server)
    assert c.ask(b"EHLO client.test")[0] == 250
    c.send(b"STARTTLS\r\nAUTH PLAIN " + plain(server) + b"\r\nNOOP\r\n")
    assert c.reply() == (220, b"220 2.0.0 Ready to start TLS")
    context = ssl.create_default_context(cafile=server.tls.cafile)
    c.sock = context.wrap_socket(c.sock, server_hostname="localhost")
    assert c.buf == b""  # nothing more came in the clear
    c.send(b"EHLO client.test\r\n")
    code, ehlo = c.reply()  # the first reply over TLS is EHLO's: neither 235 nor NOOP's 250 OK
    assert code == 250 and ehlo.startswith(b"250-localhost\r\n"), ehlo
    assert b"STARTTLS" not in ehlo and b"AUTH LOGIN PLAIN" in ehlo
    assert c.ask(f"MAIL FROM:<{BOX}>".encode())[0] == 530  # the injected AUTH did nothing
    assert c.ask(b"STARTTLS") == (503, b"503 5.5.1 Error: TLS already active")
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    c.close()
    assert smtp_ssl.messages == []


def test_starttls_resets_the_session(relay, smtp_ssl):
    """RFC 3207 §4.2: after TLS the client says EHLO again, and nothing it said before holds
    (not even its login)."""
    server = relay(50)
    c = Client(server)
    assert c.ask(b"STARTTLS") == (503, b"503 5.5.1 Error: send EHLO first")
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    assert c.ask(b"STARTTLS")[0] == 220
    c.sock = ssl.create_default_context(cafile=server.tls.cafile).wrap_socket(
        c.sock, server_hostname="127.0.0.1"
    )
    assert c.ask(f"MAIL FROM:<{BOX}>".encode())[0] == 503  # EHLO first
    assert c.ask(b"EHLO client.test")[0] == 250
    assert c.ask(f"MAIL FROM:<{BOX}>".encode())[0] == 530  # AUTH again
    c.close()


def test_implicit_tls_port_offers_no_starttls_and_sends(relay, smtp_ssl, ledger_path):
    server = relay(50)
    c = tls_client(server)
    code, ehlo = c.ask(b"EHLO client.test")
    assert code == 250 and b"STARTTLS" not in ehlo
    assert c.ask(b"STARTTLS")[0] == 503
    assert c.ask(b"AUTH PLAIN " + plain(server))[0] == 235
    c.send(
        f"MAIL FROM:<{BOX}>\r\nRCPT TO:<lead@example.com>\r\nDATA\r\n".encode()
        + b"Subject: over tls\r\n\r\nhi\r\n.\r\nQUIT\r\n"
    )
    assert [c.reply()[0] for _ in range(5)] == [250, 250, 354, 250, 221]
    c.close()
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["over tls"]


def test_tls_clients_take_part_in_the_connection_limit_and_leave_no_session(relay, smtp_ssl):
    server = relay(50, max_sessions=1)
    c = tls_client(server)
    with pytest.raises(ssl.SSLError):  # a second client's handshake, refused for its trust
        with socket.create_connection((server.host, server.tls_port), timeout=30) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname=server.host)
    c2 = tls_client(server, 421)  # the limit: told over TLS
    c.close()
    c2.close()
    server.stop()
    assert server.sessions == 0
    assert "1 connection turned away with 421" in server.summary()


def test_a_plain_client_on_the_tls_port_and_a_tls_one_on_the_plain_port_are_told_apart(
    relay, smtp_ssl
):
    import smtplib

    server = relay(50, login_timeout=0.5)
    with socket.create_connection((server.host, server.tls_port), timeout=30) as s:
        assert s.recv(100) == b""  # no greeting in the clear; closed at the deadline
    with pytest.raises(ssl.SSLError):
        smtplib.SMTP_SSL(server.host, server.port, timeout=10)
    server.stop()
    assert server.summary().splitlines()[1:] == [
        "warmup: a client connected to WARMUP_SMTPS_PORT and did not complete a TLS handshake "
        "within 0.5 s: that port speaks TLS at once; plain SMTP and STARTTLS are on "
        "WARMUP_SMTP_PORT",
        "warmup: a client started TLS at once on WARMUP_SMTP_PORT: for implicit TLS (SMTP_SSL, "
        "port 465 settings) give it WARMUP_SMTPS_PORT",
    ]
    assert server.sessions == 0


class HandDriven:
    """A TLS client driven by hand (:class:`ssl.MemoryBIO`): half its ClientHello sent at once,
    the rest of its handshake when the test says; on the implicit TLS port, or after STARTTLS."""

    def __init__(self, server, starttls: bool = False) -> None:
        self.connected = time.monotonic()
        if starttls:
            c = Client(server)
            assert c.ask(b"EHLO client.test")[0] == 250
            assert c.ask(b"STARTTLS")[0] == 220 and not c.buf
            self.sock = c.sock
        else:
            self.sock = socket.create_connection((server.host, server.tls_port), timeout=30)
        context = ssl.create_default_context(cafile=server.tls.cafile)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server.host)
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        hello = self.outgoing.read()
        self.sock.sendall(hello[: len(hello) // 2])
        self.rest = hello[len(hello) // 2 :]

    def finish(self) -> None:
        """The rest of the ClientHello, and the handshake to its end."""
        self.sock.sendall(self.rest)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.outgoing.read())
                data = self.sock.recv(65536)
                assert data, "closed during the handshake"
                self.incoming.write(data)
        self.sock.sendall(self.outgoing.read())
        self.rest = b""

    def closed_after(self, line: bytes) -> tuple[float, bytes]:
        """Send ``line`` over TLS, then :meth:`closed`."""
        self.tls.write(line)
        self.sock.sendall(self.outgoing.read())
        return self.closed()

    def closed(self) -> tuple[float, bytes]:
        """Seconds from connecting to the relay's closing the session (its close_notify, or
        the connection's end), and what it said over TLS before (nothing if the handshake
        never ended)."""
        said = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                break
            if self.rest:  # the handshake never ended: nothing to decrypt
                continue
            self.incoming.write(data)
            try:
                while chunk := self.tls.read():  # a record at a time
                    said += chunk
            except ssl.SSLWantReadError:
                continue
            except ssl.SSLZeroReturnError:  # close_notify: the relay ended the session
                pass
            break  # read() gives b"" once the session is ended too
        self.sock.close()
        return time.monotonic() - self.connected, said


def test_the_login_deadline_runs_from_connecting_through_the_tls_handshake(relay, smtp_ssl):
    """On the implicit TLS port the login deadline started at the greeting, once the handshake
    was done: a client that took nearly all of it to finish its handshake (half a ClientHello,
    the rest just in time) then had as long again, twice ``login_timeout`` (60 s by default)
    for a connection that never logs in. It runs from connecting, the handshake included, as
    it does on the plain port through STARTTLS. The clock: the relay's own idle deadline,
    shorter, closing a logged-in client (no sleep)."""
    login, idle = 2.0, 1.0
    server = relay(50, login_timeout=login, idle_timeout=idle)
    never = HandDriven(server)  # half a ClientHello and nothing more
    late = HandDriven(server)
    late_starttls = HandDriven(server, starttls=True)
    clock = Raw(server)
    assert clock.reply()[0] == 421  # idle for `idle` s: that much of the deadline is gone
    clock.close()
    late.finish()
    late_starttls.finish()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # each close timed as it comes
        closes = pool.map(lambda c: c.closed(), (never, late, late_starttls))
        (never_after, _), (late_after, greeting), (starttls_after, _) = closes
    assert greeting.startswith(b"220 ")  # the handshake ended: greeted, then timed out
    for after in (never_after, late_after, starttls_after):
        # closed at the deadline from connecting, not idle + login s after it
        assert login - 0.1 < after < login + idle / 2, (never_after, late_after, starttls_after)
    server.stop()
    assert server.sessions == 0


def test_connections_in_their_tls_handshake_are_bounded_too(relay, smtp_ssl):
    """On the implicit TLS port a connection became one of the relay's sessions only once
    greeted, after its handshake: any number of connections could each hold a socket (and a
    TLS object) through a handshake taking up to the login deadline. At most ``max_sessions``
    are in their handshake at once; one more is closed at once, and the summary says so."""
    server = relay(50, max_sessions=1, login_timeout=30.0)
    slow = HandDriven(server)  # half a ClientHello: in its handshake until the deadline
    with socket.create_connection((server.host, server.tls_port), timeout=10) as extra:
        assert extra.recv(100) == b""  # closed at once, not at the login deadline
    slow.finish()  # the first goes on: greeted over TLS
    after, greeting = slow.closed_after(b"QUIT\r\n")
    assert greeting.startswith(b"220 ")
    server.stop()
    assert server.sessions == 0 and server.handshaking == 0
    assert (
        "1 connection to WARMUP_SMTPS_PORT closed at once: 1 others were in their TLS "
        "handshake; send over fewer connections" in server.summary()
    )


def test_a_client_that_never_answers_the_relays_close_notify_is_dropped_soon(relay, smtp_ssl):
    """Ending a TLS session, the relay waits for the client's close_notify; asyncio's default
    wait is 30 s, and the connection stayed open and counted among the relay's sessions that
    long for a client that read its last reply and never answered. It waits
    ``tls_shutdown_timeout`` (5 s by default; here a fraction of a second)."""
    server = relay(50, login_timeout=1.0)
    server.tls_shutdown_timeout = 0.3
    mute = HandDriven(server)
    mute.finish()
    mute.sock.settimeout(10)
    said, ended = b"", None
    while ended is None:  # the greeting, the 421 at the deadline, then close_notify
        data = mute.sock.recv(65536)
        assert data, said
        mute.incoming.write(data)
        try:
            while chunk := mute.tls.read():
                said += chunk
        except ssl.SSLWantReadError:
            continue
        except ssl.SSLZeroReturnError:
            pass
        ended = time.monotonic()  # read() gives b"" (or raises) once close_notify came
    assert b"\r\n421 " in said
    # never answered with a close_notify of its own: the relay drops the connection
    assert mute.sock.recv(100) == b"" and time.monotonic() - ended < 5
    mute.sock.close()
    server.stop()
    assert server.sessions == 0


def test_the_certificate_is_the_runs_own_and_its_key_is_in_no_file(relay, smtp_ssl, monkeypatch):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    server = relay(50)
    folder = Path(server.tls.folder)
    assert folder.stat().st_mode & 0o777 == 0o700
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["relay-cert.pem", "ssl_cert_file.pem"]  # no key, by any name
    assert all(b"PRIVATE KEY" not in (folder / f).read_bytes() for f in files)
    cert = x509.load_pem_x509_certificate(Path(server.tls.cafile).read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    valid = cert.not_valid_after_utc - cert.not_valid_before_utc
    # a wrapped command may run for weeks; no longer than clients that cap a life take
    assert dt.timedelta(days=365) < valid <= dt.timedelta(days=398)
    from warmup.relaytls import RelayTLS

    again = RelayTLS.make(server.host)  # another run, another certificate
    assert Path(again.cafile).read_bytes() != Path(server.tls.cafile).read_bytes()
    again.close()
    server.stop()
    assert not folder.exists()


def test_the_command_keeps_its_own_trust_and_gets_the_relays(
    relay, smtp_ssl, tmp_path, monkeypatch
):
    """SSL_CERT_FILE (the test CA here: a user's private CA) and NODE_EXTRA_CA_CERTS keep what
    they named, with the relay's certificate after it; the command's other TLS peers (the sink
    here) are still trusted."""
    own = tmp_path / "corp-ca.pem"
    own.write_text(Path(os.environ["SSL_CERT_FILE"]).read_text())
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(own))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(own))
    server = relay(50)
    env = server.child_env()
    mine = Path(server.tls.cafile).read_bytes()
    bundle = Path(env["SSL_CERT_FILE"]).read_bytes()
    assert bundle == Path(os.environ["SSL_CERT_FILE"]).read_bytes() + mine
    assert Path(env["NODE_EXTRA_CA_CERTS"]).read_bytes() == own.read_bytes() + mine
    assert Path(env["CURL_CA_BUNDLE"]).read_bytes() == own.read_bytes() + mine
    assert env["WARMUP_SMTPS_PORT"] == env["SMTPS_PORT"] == str(server.tls_port)
    assert env["WARMUP_SMTP_CAFILE"] == env["SMTP_CAFILE"] == server.tls.cafile
    probe = (
        "import smtplib, ssl, sys\n"
        "for port in sys.argv[1:]:\n"
        "    smtplib.SMTP_SSL('127.0.0.1', int(port), context=ssl.create_default_context()).quit()"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(server.tls_port), str(smtp_ssl.port)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_without_a_system_bundle_ssl_cert_file_is_left_alone(relay, smtp_ssl, monkeypatch):
    """With no bundle file to start from, one of the relay's certificate alone would take the
    system's roots from the command's other TLS connections."""
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")  # no file: no bundle either
    monkeypatch.delenv("NODE_EXTRA_CA_CERTS", raising=False)
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nonexistent/ca.pem")
    server = relay(50)
    env = server.child_env()
    assert env["SSL_CERT_FILE"] == env["CURL_CA_BUNDLE"] == "/nonexistent/ca.pem"
    assert env["NODE_EXTRA_CA_CERTS"] == env["WARMUP_SMTP_CAFILE"]


@pytest.mark.parametrize("anonymous", [True, False], ids=["memfd", "unlinked file"])
def test_the_key_is_loaded_and_left_in_no_file(tmp_path, anonymous):
    """Where there is no memfd (not Linux), the key goes through a file of the run's 0700
    folder, unlinked once OpenSSL has read it."""
    from warmup import relaytls

    cert_pem, key_pem = relaytls._certificate("127.0.0.1", dt.datetime.now(dt.UTC))
    certfile = tmp_path / "cert.pem"
    certfile.write_bytes(cert_pem)
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    relaytls._load_key(context, str(certfile), key_pem, str(folder), anonymous)
    assert list(folder.iterdir()) == []
    client = ssl.create_default_context(cafile=str(certfile))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        served = concurrent.futures.ThreadPoolExecutor(1).submit(
            lambda: context.wrap_socket(listener.accept()[0], server_side=True)
        )
        with client.wrap_socket(
            socket.create_connection(listener.getsockname(), timeout=30),
            server_hostname="127.0.0.1",
        ) as tls:
            assert tls.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")
        served.result(timeout=30).close()
