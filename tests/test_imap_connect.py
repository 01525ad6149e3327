"""The IMAP connection and login (``warmup.bounces.imap.connect``), attacked with raw-socket
servers on loopback (:class:`tests.peers.imap.ImapServer`) and Dovecot: the hosts
``127.0.0.1`` and ``localhost`` reach one server, which plays one script to its first
connection (the primary) and another to the next (the backup), as Exmail's
``imap.exmail.qq.com`` and ``hwimap.exmail.qq.com``. Failover happens only before the account
was asked; a failure names every host tried in one line, with the sysexits code of its cause.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.gatekit import BOX, cli
from tests.peers.imap import ImapScript, ImapServer
from tests.peers.oauth import CLIENT_ID, OAuthServer
from tests.test_oauth import _device_login
from warmup import oauth
from warmup.bounces.imap import LoginFailed, connect
from warmup.errors import ConfigError, Unavailable, WarmupError
from warmup.providers import get_provider

HOSTS = ("127.0.0.1", "localhost")
PASSWORD = "imap-pass-1"
GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2] ready\r\n"
NO_OAUTH = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"
REFUSED = [b"+ eyJzdGF0dXMiOiI0MDAifQ==\r\n", b"{tag} NO [AUTHENTICATIONFAILED] failed\r\n"]


def login(port: int, password: str | oauth.Bearer = PASSWORD, **kw: object) -> tuple:
    imap, host = connect(HOSTS, port, str(kw.pop("security", "none")), BOX, password, **kw)  # type: ignore[arg-type]
    imap.shutdown()
    return imap, host


def one_line(exc: WarmupError) -> str:
    text = str(exc)
    assert "\n" not in text and "b'" not in text and "Traceback" not in text, text
    return text


@pytest.fixture
def bearer(tmp_path, monkeypatch) -> Iterator[tuple[oauth.Bearer, OAuthServer]]:  # type: ignore[no-untyped-def]
    """A real OAuth login of BOX (device flow against the loopback authorization server)."""
    import keyring

    from tests.filekeyring import FileKeyring

    with OAuthServer() as server:
        monkeypatch.setenv("WARMUP_OAUTH_ENDPOINT", server.url)
        monkeypatch.setenv("WARMUP_OAUTH_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.filekeyring.FileKeyring")
        monkeypatch.setenv("WARMUP_TEST_KEYRING", str(tmp_path / "keyring.json"))
        old = keyring.get_keyring()
        keyring.set_keyring(FileKeyring())
        try:
            _device_login()
            yield oauth.Bearer(BOX, get_provider("m365")), server
        finally:
            keyring.set_keyring(old)


# -- the login's answers --------------------------------------------------------------------


def test_a_server_offering_no_xoauth2_is_a_configuration_problem_not_a_login_to_renew(
    dovecot_clean, ssl_cert_env, bearer
):
    """Dovecot without XOAUTH2 (its auth_mechanisms are plain and login) answers AUTHENTICATE
    XOAUTH2 with NO [ALERT] Unsupported authentication mechanism: that was LoginExpired, exit
    77 "log in again", which no login would ever fix. Nothing is asked of the account: the
    host offers no OAuth login, exit 78, and the token is not even fetched."""
    token, server = bearer
    grants = len(server.grants)
    with pytest.raises(ConfigError) as got:
        connect(("127.0.0.1",), dovecot_clean.port, "ssl", BOX, token, timeout=5)
    text = one_line(got.value)
    assert "offers no OAuth login" in text and "AUTH=XOAUTH2" in text, text
    assert f"127.0.0.1:{dovecot_clean.port}" in text, text
    assert "log in again" not in text, text
    assert got.value.exit_code == 78
    assert len(server.grants) == grants  # no token refreshed for a server that cannot take it
    assert "AUTHENTICATE" not in dovecot_clean.logs()


def test_a_primary_without_xoauth2_is_passed_over_for_a_backup_with_it(bearer):
    token, _ = bearer
    plain = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"
    no_oauth = ImapScript(NO_OAUTH, replies={"CAPABILITY": plain})
    with ImapServer(no_oauth, ImapScript()) as server:
        _, host = login(server.port, token)
    assert host == "localhost"
    assert "AUTHENTICATE" not in server.verbs()[0]
    assert server.verbs()[1][:2] == ["CAPABILITY", "AUTHENTICATE"]


def test_a_bad_to_authenticate_is_not_a_login_to_renew(bearer):
    """A BAD is the server not understanding the command, as for LOGIN (which fails over):
    AUTHENTICATE's BAD was LoginExpired, exit 77 "log in again"."""
    token, _ = bearer
    bad = ImapScript(replies={"AUTHENTICATE": b"{tag} BAD [CLIENTBUG] invalid command\r\n"})
    with ImapServer(bad, ImapScript()) as server:
        _, host = login(server.port, token)
    assert host == "localhost" and server.connections == 2
    with ImapServer(bad) as server, pytest.raises(Unavailable) as got:
        login(server.port, token)
    text = one_line(got.value)
    assert "127.0.0.1:" in text and "localhost:" in text and "BAD" in text, text


def test_a_server_hanging_up_after_refusing_a_cached_token_is_asked_again_with_a_fresh_one(
    bearer,
):
    """A cached token refused is replaced by a fresh one on the same connection; a server
    that hangs up after its NO made that retry a lost connection, and the backup host was
    tried after the account was asked. The fresh token goes to the same host, reconnected."""
    token, server_ = bearer
    token.token()  # in memory now: the next one handed out is the cached one
    with ImapServer(
        ImapScript(replies={"AUTHENTICATE": [*REFUSED, "hangup"]}), ImapScript()
    ) as server:
        _, host = login(server.port, token)
    assert host == "127.0.0.1" and server.connections == 2
    assert server_.grants.count("refresh_token") == 2  # the first, then the fresh one


def test_a_fresh_token_refused_by_a_server_that_hangs_up_is_a_login_to_renew(bearer):
    token, _ = bearer
    with (
        ImapServer(ImapScript(replies={"AUTHENTICATE": [*REFUSED, "hangup"]})) as server,
        pytest.raises(oauth.LoginExpired) as got,
    ):
        login(server.port, token)
    assert server.connections == 1  # the backup is never asked after a refusal
    assert one_line(got.value).startswith(f"the OAuth login of {BOX} was refused by 127.0.0.1")


def test_a_refused_password_never_tries_the_backup():
    no = ImapScript(replies={"LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] bad password\r\n"})
    with ImapServer(no, ImapScript()) as server, pytest.raises(LoginFailed) as got:
        login(server.port)
    assert server.connections == 1 and got.value.exit_code == 77
    assert "bad password" in one_line(got.value)


def test_a_server_hanging_up_after_refusing_a_password_is_not_failed_over():
    """The account was asked: the backup host would only lock it faster."""
    no = ImapScript(replies={"LOGIN": [b"{tag} NO [AUTHENTICATIONFAILED] bad\r\n", "hangup"]})
    with ImapServer(no, ImapScript()) as server, pytest.raises(LoginFailed):
        login(server.port)
    assert server.connections == 1


# -- the opening ----------------------------------------------------------------------------


def test_a_greeting_trickled_a_byte_at_a_time_is_cut_at_the_timeout():
    """Each byte comes well within the socket's timeout: imaplib waited as long as the server
    kept sending (here 27 s), then tried the backup for as long."""
    slow = ImapScript(GREETING + b"* OK " + b"x" * 200 + b"\r\n", trickle=0.1)
    with ImapServer(slow) as server:
        started = time.monotonic()
        with pytest.raises(Unavailable) as got:
            login(server.port, timeout=1)
        took = time.monotonic() - started
    text = one_line(got.value)
    assert took < 10, took  # 1 s a host, not the 27 s a greeting (room for a loaded machine)
    assert "127.0.0.1:" in text and "localhost:" in text and "timed out" in text, text
    assert got.value.exit_code == 69


def test_a_bye_greeting_fails_over_and_is_told_in_the_servers_words():
    with ImapServer(ImapScript(b"* BYE Too many connections, try later\r\n"), ImapScript()) as s:
        imap, host = connect(HOSTS, s.port, "none", BOX, PASSWORD, timeout=5)
    imap.shutdown()
    with ImapServer(ImapScript(b"* BYE Too many connections, try later\r\n")) as s:
        with pytest.raises(Unavailable) as got:
            login(s.port, timeout=5)
    assert host == "localhost"
    text = one_line(got.value)
    assert "Too many connections, try later" in text and "localhost:" in text, text
    # reached and refused: "cannot reach the IMAP server" sent the user to the network
    assert text.startswith("the IMAP server refused the connection (127.0.0.1:"), text


def test_a_preauth_greeting_is_not_taken_for_the_mailbox():
    """PREAUTH: a session logged in already, as whoever the server decided. imaplib then
    refuses to send LOGIN ("illegal in state AUTH"), which was a refused login (exit 77, the
    password checklist) and stopped the failover. Nothing was asked of the account: the host is
    passed over, and the session never read as the mailbox's."""
    preauth = ImapScript(b"* PREAUTH [CAPABILITY IMAP4rev1] logged in as nobody\r\n")
    with ImapServer(preauth, ImapScript()) as server:
        _, host = login(server.port, timeout=5)
    assert host == "localhost"
    with ImapServer(preauth) as server, pytest.raises(Unavailable) as got:
        login(server.port, timeout=5)
    text = one_line(got.value)
    assert "PREAUTH" in text and "localhost:" in text, text


def test_a_starttls_endpoint_without_starttls_never_sends_the_password(pki, ssl_cert_env):
    bare = ImapScript(
        replies={"CAPABILITY": b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"}
    )
    with ImapServer(bare) as server, pytest.raises(Unavailable) as got:
        login(server.port, security="starttls", timeout=5)
    assert all("LOGIN" not in v for v in server.verbs())
    text = one_line(got.value)
    assert "STARTTLS" in text and "127.0.0.1:" in text and "localhost:" in text, text
    good = ImapScript(starttls=pki.server_ssl_context())
    with ImapServer(bare, good) as server:
        _, host = login(server.port, security="starttls", timeout=5)
    assert host == "localhost"


def test_a_certificate_for_another_name_is_refused_before_the_password(pki, ssl_cert_env):
    import ssl

    other = pki.ca.issue_cert("imap.other.example")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    other.configure_cert(ctx)
    with ImapServer(ImapScript(tls=ctx)) as server, pytest.raises(Unavailable) as got:
        login(server.port, security="ssl", timeout=5)
    text = one_line(got.value)
    assert "TLS certificate not trusted" in text and "localhost:" in text, text
    assert server.commands == [[], []]


def test_exmails_backup_host_is_the_one_failed_over_to(tmp_path):
    from warmup import api
    from warmup.ledger import open_ledger

    res = cli("mailbox", "add", BOX, "--provider", "exmail")
    assert res.returncode == 0, res.stderr
    ledger = open_ledger()
    try:
        box = ledger.mailbox(BOX)
        assert box is not None
        ep = api.endpoints(box)
    finally:
        ledger.close()
    assert ep.imap_hosts == ("imap.exmail.qq.com", "hwimap.exmail.qq.com")
    assert (ep.imap_port, ep.imap_security) == (993, "ssl")


def test_a_server_with_login_disabled_never_gets_the_password():
    """LOGINDISABLED (RFC 3501 6.2.3: a server without TLS yet, as Dovecot on a plaintext
    port): LOGIN was sent anyway, the password in clear text on the wire, and the NO
    [PRIVACYREQUIRED] that followed was a refused login (exit 77, the password checklist).
    Nothing is asked: the host is passed over, and with none left it is the configuration
    (exit 78, use TLS)."""
    caps = b"IMAP4rev1 LOGINDISABLED STARTTLS AUTH=XOAUTH2"
    disabled = ImapScript(
        b"* OK [CAPABILITY " + caps + b"] ready\r\n",
        replies={
            "CAPABILITY": b"* CAPABILITY " + caps + b"\r\n{tag} OK done\r\n",
            "LOGIN": b"{tag} NO [PRIVACYREQUIRED] Plaintext authentication disallowed\r\n",
        },
    )
    with ImapServer(disabled) as server, pytest.raises(ConfigError) as got:
        login(server.port, timeout=5)
    assert all("LOGIN" not in verbs for verbs in server.verbs()), server.commands
    text = one_line(got.value)
    assert "LOGINDISABLED" in text and "127.0.0.1:" in text and "localhost:" in text, text
    assert "--imap-security" in text, text
    with ImapServer(disabled, ImapScript()) as server:
        _, host = login(server.port, timeout=5)
    assert host == "localhost" and "LOGIN" not in server.verbs()[0]


def test_a_refused_login_on_the_backup_names_the_primary_passed_over():
    """The refusal said only the backup's words: the user was not told the primary had been
    tried at all, nor why it was passed over."""
    no = ImapScript(replies={"LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] bad password\r\n"})
    with ImapServer(ImapScript(None), no) as server, pytest.raises(LoginFailed) as got:
        login(server.port, timeout=5)
    text = one_line(got.value)
    assert text.startswith("localhost refused the IMAP login"), text
    assert f"(passed over: 127.0.0.1:{server.port}: " in text, text


def test_a_greeting_from_another_service_is_told_in_its_words_not_pythons():
    with ImapServer(ImapScript(b"HTTP/1.1 400 Bad Request\r\n")) as server:
        with pytest.raises(Unavailable) as got:
            login(server.port, timeout=5)
    text = one_line(got.value)
    assert "HTTP/1.1 400 Bad Request" in text and "localhost:" in text, text


def test_a_host_unreachable_again_after_refusing_a_cached_token_is_not_failed_over(bearer):
    token, _ = bearer
    token.token()
    refuses = ImapScript(replies={"AUTHENTICATE": [*REFUSED, "hangup"]})
    with ImapServer(refuses, ImapScript(None)) as server, pytest.raises(Unavailable) as got:
        login(server.port, token, timeout=5)
    assert server.connections == 2  # the host again; never the backup after the account's answer
    text = one_line(got.value)
    assert text.startswith("127.0.0.1 refused the cached OAuth token"), text


def test_a_server_echoing_the_token_or_password_in_its_refusal_never_puts_it_in_the_error(
    bearer,
):
    """The IMAP server's words after a refused login go into the error as they came: a server
    quoting the access token (or the password) back put the secret in the message, printed
    and logged by every command that logs in."""
    from tests.test_oauth import _answering

    token, server_ = bearer
    echoed = "oauthcanary-at-echoed"
    _answering(
        server_, lambda p, s, b: (s, {**b, "access_token": echoed} if "access_token" in b else b)
    )
    no = f"{{tag}} NO [AUTHENTICATIONFAILED] bad token {echoed}\r\n".encode()
    with (
        ImapServer(ImapScript(replies={"AUTHENTICATE": [REFUSED[0], no]})) as server,
        pytest.raises(oauth.LoginExpired) as got,
    ):
        login(server.port, token)
    assert echoed not in str(got.value) and "bad token ***" in str(got.value)
    no = f"{{tag}} NO [AUTHENTICATIONFAILED] wrong password {PASSWORD}\r\n".encode()
    with (
        ImapServer(ImapScript(replies={"LOGIN": no})) as server,
        pytest.raises(LoginFailed) as fail,
    ):
        login(server.port)
    assert PASSWORD not in str(fail.value) and "wrong password ***" in str(fail.value)


@pytest.mark.parametrize("echo", [b"{decoded}", b"{said}"])
def test_a_fresh_token_echoed_by_a_server_that_drops_the_connection_never_lands_in_the_error(
    bearer, echo
):
    """A cached token refused, the server hung up; on the new connection the fresh token was
    answered with a broken line quoting it back (imaplib: "unexpected response: ..."). The
    error said that line as it came: the token, or its XOAUTH2 response anyone can decode,
    printed and logged."""
    token, _ = bearer
    token.token()  # in memory now: the next one handed out is the cached one
    echoing = ImapScript(replies={"AUTHENTICATE": [b"+ \r\n", b"oops " + echo + b"\r\n"]})
    with (
        ImapServer(ImapScript(replies={"AUTHENTICATE": [*REFUSED, "hangup"]}), echoing) as server,
        pytest.raises(Unavailable) as got,
    ):
        login(server.port, token)
    assert server.connections == 2
    text = one_line(got.value)
    assert text.startswith("127.0.0.1 refused the cached OAuth token"), text
    fresh = token.held()
    assert fresh and fresh not in text and "b'" not in text, text
    assert "dXNlcj" not in text, text  # base64 of "user=...", the XOAUTH2 response


def test_a_password_with_a_backslash_echoed_in_a_refusal_never_lands_in_the_error():
    """imaplib's error for a NO is the reply's bytes, read through their repr: a backslash in
    the password came out doubled, so the echoed password was not found to be masked and went
    into the error whole but for one character."""
    password = r"pw\canary\8841"
    no = f"{{tag}} NO [AUTHENTICATIONFAILED] wrong password {password}\r\n".encode()
    with (
        ImapServer(ImapScript(replies={"LOGIN": no})) as server,
        pytest.raises(LoginFailed) as fail,
    ):
        login(server.port, password)
    text = one_line(fail.value)
    assert "canary" not in text and "wrong password ***" in text, text


@pytest.mark.parametrize("password", [r'pw"canary8841', r"pw\canary8841", r'p"w\canary8841'])
def test_a_password_echoed_as_login_quoted_it_never_lands_in_the_error(password):
    """imaplib's LOGIN sends the password as an IMAP quoted string, a quote or backslash in it
    escaped (``"pw\\"canary"``): a server quoting the command's argument back (``{said}``) put
    that form in its refusal, which is neither the password as it is nor its repr, so it went
    into the error unmasked."""
    no = b"{tag} NO [AUTHENTICATIONFAILED] wrong password {said}\r\n"
    with (
        ImapServer(ImapScript(replies={"LOGIN": no})) as server,
        pytest.raises(LoginFailed) as fail,
    ):
        login(server.port, password)
    text = one_line(fail.value)
    assert "canary" not in text and 'wrong password "***' in text, text


def test_a_login_answered_bad_quoting_the_password_never_puts_it_in_the_error():
    """A BAD to LOGIN is passed over as a bad command, its words kept for the error that
    names each host tried: a server quoting the password in it put the password there."""
    no = f"{{tag}} BAD [CLIENTBUG] cannot parse LOGIN {PASSWORD}\r\n".encode()
    with (
        ImapServer(ImapScript(replies={"LOGIN": no})) as server,
        pytest.raises(WarmupError) as fail,
    ):
        login(server.port)
    text = one_line(fail.value)
    assert PASSWORD not in text and "cannot parse LOGIN ***" in text, text


@pytest.mark.parametrize("option", ["--folder", "--move-to"])
def test_a_folder_name_that_is_not_text_is_refused_before_the_server_is_asked(option):
    """A folder typed in a terminal whose locale is not UTF-8 ("退信" in GBK) reaches warmup
    as undecodable bytes (surrogate escapes): the sync logged in, then its modified UTF-7
    encoding raised UnicodeEncodeError, a traceback and exit 1. Like a control character,
    such a name is refused first: exit 64, one line, the server never asked."""
    with ImapServer(ImapScript()) as server:
        cli(
            "mailbox", "add", BOX, "--provider", "custom", "--smtp-host", "127.0.0.1",
            "--imap-host", "127.0.0.1", "--imap-port", str(server.port), "--imap-security", "none",
        )  # fmt: skip
        gbk = "退信".encode("gbk").decode("utf-8", "surrogateescape")
        res = cli("bounces", "sync", BOX, option, gbk, env={"WARMUP_PASSWORD": PASSWORD})
        assert res.returncode == 64, res.stderr
        [line] = res.stderr.strip().splitlines()
        assert line.startswith(f"Error: {option} '\\xcd") and "UTF-8" in line, line
        assert server.verbs() == []
