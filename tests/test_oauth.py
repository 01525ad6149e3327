"""OAuth (XOAUTH2) logins against a real authorization server and SMTP server on loopback:
the device flow, sends with transparently refreshed tokens, and a revoked login (exit 77)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gatekit import BOX, add_box, cli, policy_file, warmup
from tests.peers.dovecot import Dovecot
from tests.peers.oauth import CANARY, CLIENT_ID, OAuthServer
from tests.peers.smtp import SmtpSink
from tests.peers.tls import TestPKI
from tests.test_bounces_sync import dsn
from tests.test_secrets import leak_forms
from warmup import Gate, api, oauth
from warmup.bounces.imap import SyncReport, sync
from warmup.errors import ConfigError, TempFail, WarmupError
from warmup.ledger import open_ledger
from warmup.providers import get_provider

LOGIN_AGAIN = f"'warmup mailbox login {BOX} --oauth'"


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as s:
        yield s


@pytest.fixture
def oauth_env(server: OAuthServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    env = {
        "WARMUP_OAUTH_ENDPOINT": server.url,
        "WARMUP_OAUTH_CLIENT_ID": CLIENT_ID,
        "PYTHON_KEYRING_BACKEND": "tests.filekeyring.FileKeyring",
        "WARMUP_TEST_KEYRING": str(tmp_path / "keyring.json"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def file_keyring(oauth_env: dict) -> Iterator[Path]:
    """The test keyring for this process too (keyring picks its backend once per process)."""
    import keyring

    from tests.filekeyring import FileKeyring

    old = keyring.get_keyring()
    keyring.set_keyring(FileKeyring())
    yield Path(oauth_env["WARMUP_TEST_KEYRING"])
    keyring.set_keyring(old)


@pytest.fixture
def oauth_sink(smtp_starttls: SmtpSink, server: OAuthServer) -> SmtpSink:
    smtp_starttls.oauth = server.valid
    return smtp_starttls


def _m365_box(sink: SmtpSink, tmp_path: Path) -> None:
    add_box(sink.port, "--policy", str(policy_file(tmp_path / "flat.toml")), provider="m365")


def _device_login(address: str = BOX) -> list[oauth.DeviceCode]:
    shown: list[oauth.DeviceCode] = []
    oauth.login(
        address,
        get_provider("m365"),
        shown.append,
        now=lambda: dt.datetime.now(dt.UTC),
        sleep=lambda s: None,
    )
    return shown


def _send_args() -> tuple[str, ...]:
    # --wait: the m365 preset paces sends 2 s apart (30 a minute); a fast machine sends the
    # next one sooner than that
    return ("send", BOX, "--to", "lead@example.com", "--subject", "Hi", "--body", "Hello", "--wait")


def _send(*, env: dict | None = None, process: bool = False):  # type: ignore[no-untyped-def]
    run = warmup if process else cli
    return run(*_send_args(), env=env)


@pytest.mark.slow
def test_login_send_refresh_and_revoke_as_a_user_would(
    oauth_sink, server, oauth_env, ssl_cert_env, tmp_path, ledger_path
):
    _m365_box(oauth_sink, tmp_path)
    outputs = []
    login = warmup("mailbox", "login", BOX, "--oauth")
    outputs.append(login)
    assert login.returncode == 0, login.stderr
    assert "open http://127.0.0.1/device in a browser and enter the code WDJB-MJHT" in login.stderr
    assert "Stored the OAuth login of a@corp.example in the keyring" in login.stdout
    assert server.grants.count("urn:ietf:params:oauth:grant-type:device_code") == 2  # pending, ok
    assert server.scopes == [
        "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All "
        "offline_access"
    ]

    first = _send(process=True)
    outputs.append(first)
    assert first.returncode == 0, first.stderr
    assert [m.auth_login for m in oauth_sink.messages] == [BOX]

    # The access token expires: the next send refreshes it without a prompt (stdin is closed).
    server.expire_access_tokens()
    second = _send(process=True)
    outputs.append(second)
    assert second.returncode == 0, second.stderr
    assert len(oauth_sink.messages) == 2
    assert server.grants.count("refresh_token") == 2
    assert oauth_sink.oauth_tokens[0] != oauth_sink.oauth_tokens[-1]

    server.revoke()
    third = _send(process=True)
    outputs.append(third)
    assert third.returncode == 77
    # one error line (a "waiting" line for the provider's pacing may come before it)
    assert [x for x in third.stderr.splitlines() if "waiting" not in x] == [
        f"Error: the OAuth login of {BOX} has expired or was revoked; log in again with "
        f"{LOGIN_AGAIN}"
    ]
    assert len(oauth_sink.messages) == 2

    # No access or refresh token in any output, argv or ledger file (the keyring holds one).
    tokens = server.secrets()
    assert tokens and all(t.startswith(CANARY) for t in tokens)
    for res in outputs:
        assert CANARY not in res.stdout + res.stderr + " ".join(res.args)
    for path in ledger_path.parent.glob(ledger_path.name + "*"):
        assert CANARY.encode() not in path.read_bytes(), path
    assert CANARY in Path(oauth_env["WARMUP_TEST_KEYRING"]).read_text()


def test_the_gate_caches_the_access_token_and_refreshes_it_a_minute_before_expiry(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    _m365_box(oauth_sink, tmp_path)
    shown = _device_login()
    assert [c.user_code for c in shown] == ["WDJB-MJHT"]
    t = [dt.datetime.now(dt.UTC)]
    with Gate(BOX, clock=lambda: t[0]) as gate:
        gate.send(b"Subject: 1\r\n\r\nHi\r\n", ["one@example.com"])
        gate.session().close()  # the next send logs in again
        t[0] += dt.timedelta(minutes=58)
        gate.send(b"Subject: 2\r\n\r\nHi\r\n", ["two@example.com"])
        assert server.grants.count("refresh_token") == 1  # still cached
        assert oauth_sink.oauth_tokens[0] == oauth_sink.oauth_tokens[1]
        gate.session().close()
        server.expire_access_tokens()
        t[0] += dt.timedelta(seconds=61)  # within a minute of the hour the token lives
        gate.send(b"Subject: 3\r\n\r\nHi\r\n", ["three@example.com"])
    assert server.grants.count("refresh_token") == 2
    assert len(oauth_sink.messages) == 3
    assert oauth_sink.oauth_tokens[-1] != oauth_sink.oauth_tokens[0]


def test_smtp_refusing_the_token_exits_77_naming_the_login_command(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    _m365_box(oauth_sink, tmp_path)
    _device_login()
    oauth_sink.oauth = lambda token: False
    res = _send()
    assert res.returncode == 77
    assert res.stderr.strip().splitlines() == [
        f"Error: the OAuth login of {BOX} was refused by 127.0.0.1 (535 5.7.8 Authentication "
        f"credentials invalid); log in again with {LOGIN_AGAIN}"
    ]
    assert oauth_sink.messages == []


def test_no_login_yet_says_how_to_log_in(oauth_sink, file_keyring, ssl_cert_env, tmp_path):
    """...before a slot is taken: a send with no login stored left a `released` row and a day's
    count, as a failing password command did."""
    from tests.test_send_no_password import written

    _m365_box(oauth_sink, tmp_path)
    before = written(os.environ["WARMUP_DB"])
    res = _send()
    assert res.returncode == 78
    assert res.stderr.strip() == (
        f"Error: no OAuth login for {BOX}: log in with 'warmup mailbox login {BOX} --oauth'"
    )
    assert written(os.environ["WARMUP_DB"]) == before


def test_login_without_a_client_id_says_what_to_set(file_keyring, monkeypatch):
    monkeypatch.delenv("WARMUP_OAUTH_CLIENT_ID")
    cli("mailbox", "add", BOX, "--provider", "gmail")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 78
    assert res.stderr.strip().splitlines() == [
        "Error: no OAuth client ID for Google Workspace (Gmail): register a public client "
        "application (device code flow) in your organisation and set WARMUP_OAUTH_CLIENT_ID "
        "to its ID"
    ]


def test_presets_default_to_oauth_and_auth_is_a_mailbox_setting(run):
    run("mailbox", "add", BOX, "--provider", "m365")
    run("mailbox", "add", "b@corp.example", "--provider", "exmail")
    assert "login oauth" in run("mailbox", "show", BOX).output
    assert "login password" in run("mailbox", "show", "b@corp.example").output
    assert run("mailbox", "set", BOX, "--auth", "password").exit_code == 0
    assert "login password" in run("mailbox", "show", BOX).output
    res = run("mailbox", "set", "b@corp.example", "--auth", "oauth")
    assert res.exit_code == 64
    assert res.output.strip().splitlines() == [
        "Error: --auth oauth: Tencent Enterprise Mail (exmail.qq.com) has no OAuth endpoints "
        "in warmup; use --auth password"
    ]


def test_the_xoauth2_responses_for_smtp_and_imap(file_keyring, server):
    """The SASL string both protocols send (RFC-less, as Google and Microsoft document it),
    byte for byte; the IMAP logins with it against Dovecot are at the end of this file."""
    assert oauth.sasl("a@b.example", "tok") == "user=a@b.example\x01auth=Bearer tok\x01\x01"
    cli("mailbox", "add", BOX, "--provider", "m365")
    _device_login()
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    token = bearer.token()
    respond = bearer.imap_response()
    first = respond(b"")
    assert first == f"user={BOX}\x01auth=Bearer {token}\x01\x01".encode()
    assert (
        base64.b64encode(first).decode()
        == base64.b64encode(oauth.sasl(BOX, token).encode()).decode()
    )
    assert respond(b'{"status":"401"}') == b""  # the empty answer to an error challenge
    assert CANARY not in repr(bearer) and token not in repr(oauth.Tokens(token, dt.datetime.now()))
    assert os.environ["WARMUP_OAUTH_CLIENT_ID"] == CLIENT_ID


def test_an_endpoint_off_loopback_must_be_https(file_keyring, monkeypatch):
    monkeypatch.setenv("WARMUP_OAUTH_ENDPOINT", "http://login.example.com")
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 78
    assert res.stderr.strip() == (
        "Error: OAuth endpoint 'http://login.example.com/organizations/oauth2/v2.0/devicecode' "
        "is not https; only loopback may use http"
    )


def test_doctor_logs_in_with_the_token_and_names_the_login_command_once_revoked(
    oauth_sink, server, file_keyring, ssl_cert_env, closed_port
):
    cli(
        "mailbox", "add", BOX, "--provider", "m365", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(oauth_sink.port), "--imap-host", "127.0.0.1",
        "--imap-port", str(closed_port[1]),
    )  # fmt: skip
    _device_login()

    def smtp_auth() -> tuple[int, dict]:
        res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
        report = json.loads(res.stdout)
        return res.returncode, next(c for c in report["checks"] if c["name"] == "smtp-auth")

    code, check = smtp_auth()
    assert code == 69  # IMAP's port is closed; SMTP's login is what this test is about
    assert check["status"] == "ok"
    assert f"XOAUTH2: login accepted for {BOX}; sends with " in check["detail"]
    server.revoke()
    code, check = smtp_auth()
    assert (code, check["status"], check["code"]) == (69, "fail", 77)  # 69: the first failure
    assert check["fix"] == f"log in again with {LOGIN_AGAIN}"
    assert CANARY not in json.dumps(check)


def _answering(server: OAuthServer, change) -> None:  # type: ignore[no-untyped-def]
    """Make ``server`` answer what ``change(path, status, body)`` returns instead."""
    handle = server.handle

    def changed(path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
        status, body = handle(path, form)
        return change(path, status, body)

    server.handle = changed  # type: ignore[method-assign]


def test_a_device_answer_without_its_codes_is_one_line_exit_69(file_keyring, server):
    """``body["user_code"]`` on an answer without one: a KeyError traceback, exit 1."""
    _answering(server, lambda p, s, b: (s, {k: v for k, v in b.items() if k != "user_code"}))
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 69, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"Error: the OAuth device endpoint {server.url}/organizations/oauth2/v2.0/devicecode "
        f"answered without a user code, device code or verification URL; try again later"
    ]
    assert not file_keyring.exists()


def test_numbers_an_endpoint_gets_wrong_never_crash_the_login_or_a_refresh(file_keyring, server):
    """A device code's ``expires_in: "abc"`` (ValueError), ``interval: -5`` (sleep() refused it)
    and a token's ``expires_in: 1e300`` (OverflowError in the timedelta) or ``"nan"`` were
    tracebacks; they now fall back to the default or to a bound."""

    def garbage(path: str, status: int, body: dict):  # type: ignore[no-untyped-def]
        if "device_code" in body:
            return status, {**body, "expires_in": "abc", "interval": -5}
        if "access_token" in body:
            lifetime = 1e300 if len(server.grants) == 1 else "nan"
            return status, {**body, "expires_in": lifetime}
        return status, body

    _answering(server, garbage)
    cli("mailbox", "add", BOX, "--provider", "m365")
    slept: list[float] = []
    shown: list[oauth.DeviceCode] = []
    oauth.login(
        BOX,
        get_provider("m365"),
        shown.append,
        now=lambda: dt.datetime.now(dt.UTC),
        sleep=slept.append,
    )
    assert (shown[0].expires_in, shown[0].interval) == (900.0, 0.0)
    assert slept and all(s >= 0 for s in slept)
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    assert bearer.token().startswith(CANARY)  # expires_in "nan": the default hour


class RawEndpoint:
    """A loopback HTTP endpoint that answers every request with ``answer``, raw bytes (a
    broken status line, a body shorter than its Content-Length), then closes. ``trickle``: one
    byte of it every this many seconds, as an endpoint that keeps each read short of a timeout."""

    def __init__(self, answer: bytes, trickle: float | None = None) -> None:
        self.answer = answer
        self.trickle = trickle
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/token"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed
                return
            with conn:
                try:
                    conn.recv(65536)
                    if self.trickle is None:
                        conn.sendall(self.answer)
                    for i in range(len(self.answer) if self.trickle else 0):
                        conn.sendall(self.answer[i : i + 1])
                        time.sleep(self.trickle)  # the peer's pace, not the test's clock
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(65536):  # until the client hangs up: no reset
                        pass
                except OSError:  # the client gave up first
                    pass

    def close(self) -> None:
        self.sock.close()


def _http(status: str, body: bytes, length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n".encode() + body


@pytest.mark.parametrize(
    "answer",
    [
        _http("200 OK", b'{"access_token": "x', length=1000),  # IncompleteRead
        _http("400 Bad Request", b'{"error": "inv', length=1000),  # IncompleteRead
        b"garbage\r\n\r\n",  # BadStatusLine
        _http("200 OK", b"[" * 100_000 + b"]" * 100_000),  # RecursionError in json
    ],
    ids=["short-200", "short-400", "bad-status-line", "deep-json"],
)
def test_a_broken_token_endpoint_answer_is_unavailable_not_a_traceback(answer):
    """http.client's IncompleteRead and BadStatusLine are not OSErrors, and json's
    RecursionError is not a ValueError: each escaped _post as a traceback of any command
    that refreshes a token (send, run, bounces sync, doctor)."""
    why = str(_refresh_refused(RawEndpoint(answer)))
    assert "127.0.0.1" in why and "refresh-token" not in why


def _refresh_refused(endpoint: RawEndpoint, **kwargs: float) -> oauth.Unavailable:
    """What a token refresh against ``endpoint`` raises (it must be Unavailable); the endpoint
    is closed after."""
    app = oauth.App(endpoint.url, endpoint.url, ("s",), CLIENT_ID)
    try:
        with pytest.raises(oauth.Unavailable) as err:
            oauth.refresh(app, "refresh-token", BOX, dt.datetime.now(dt.UTC), **kwargs)
    finally:
        endpoint.close()
    return err.value


def test_a_token_endpoint_that_trickles_its_answer_is_given_up_at_the_deadline():
    """The socket's timeout bounds each read, not the request: an endpoint sending a byte a
    little faster than that held a refresh (and the send, run or sync behind it) for as long as
    its answer lasted. The whole request, headers and body, has one deadline."""
    answer = _http("200 OK", b'{"access_token": "t", "expires_in": 3600}')
    endpoint = RawEndpoint(answer, trickle=0.2)  # all of it: ~16 s, each byte well within 0.5
    start = time.monotonic()
    why = _refresh_refused(endpoint, timeout=0.5)
    assert time.monotonic() - start < 6  # 0.5 s, not 16: the rest is a loaded machine's
    assert str(why) == (
        "cannot reach the OAuth endpoint 127.0.0.1:{} (no complete answer within 0.5 s); "
        "check the network and try again".format(endpoint.url.split(":")[2].split("/")[0])
    )


def test_a_socket_timeout_firing_before_the_deadline_is_named_as_the_deadline(monkeypatch):
    """The socket's timeout and the request's deadline are the same length and race: when the
    socket's fired first (seen in a CI run of doctor), the error said "(timed out)" instead of
    "no complete answer within 1 s". Here the deadline's timer is made late, so the socket's
    timeout always comes first."""
    from warmup import httpdeadline

    class Late(httpdeadline.Deadline):
        def __init__(self, seconds: float) -> None:
            super().__init__(seconds * 20)

    monkeypatch.setattr(oauth, "Deadline", Late)
    endpoint = RawEndpoint(_http("200 OK", b'{"access_token": "t"}'), trickle=3.0)
    why = _refresh_refused(endpoint, timeout=0.5)
    assert "(no complete answer within 0.5 s)" in str(why), why


def test_a_token_endpoint_redirecting_elsewhere_is_not_followed():
    """urllib followed a 301/302/303 to any host, http:// included (the https-only rule checked
    the first URL alone), as a GET, and took whatever that host answered for the tokens."""
    elsewhere = RawEndpoint(_http("200 OK", b'{"access_token": "planted", "expires_in": 3600}'))
    endpoint = RawEndpoint(
        f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}\r\nContent-Length: 0\r\n\r\n".encode()
    )
    try:
        why = _refresh_refused(endpoint)
    finally:
        elsewhere.close()
    assert str(why) == (
        f"the OAuth endpoint {endpoint.url} answered HTTP 302, a redirect (not followed); "
        f"check WARMUP_OAUTH_ENDPOINT and the network's proxy"
    )


HOSTILE_ERROR = "\x1b]0;PWNED\x07" + "bad\nline " * 10_000


def _refused_refresh(answer: bytes) -> WarmupError:
    """What a refresh against a token endpoint answering ``answer`` raises."""
    endpoint = RawEndpoint(answer)
    app = oauth.App(endpoint.url, endpoint.url, ("s",), CLIENT_ID)
    try:
        with pytest.raises(WarmupError) as err:
            oauth.refresh(app, "refresh-token", BOX, dt.datetime.now(dt.UTC))
    finally:
        endpoint.close()
    return err.value


@pytest.mark.parametrize("status", [400, 503])
def test_an_endpoint_error_code_is_shown_short_on_one_line_without_escapes(status):
    """The ``error`` of an endpoint's JSON went into the message as given: a terminal's escape
    sequences, line breaks and a hundred kilobytes printed after 'Error:'."""
    body = json.dumps({"error": HOSTILE_ERROR}).encode()
    text = str(_refused_refresh(_http(f"{status} Oops", body)))
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    assert len(text) < 400, text  # the error cut to 64 characters, and the advice after it
    assert "\\x1b]0;PWNED\\x07bad\\x0aline" in text


def test_the_device_codes_an_endpoint_sends_are_shown_without_a_terminals_escapes(
    file_keyring, server
):
    """The verification URL and user code went to the terminal as the endpoint sent them."""

    def hostile(path: str, status: int, body: dict):  # type: ignore[no-untyped-def]
        if "user_code" in body:
            return status, {
                **body,
                "verification_uri": "https://x\x1b]0;PWNED\x07",
                "user_code": "A\rB",
            }
        return status, body

    _answering(server, hostile)
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 0, res.stderr
    assert "open https://x\\x1b]0;PWNED\\x07 in a browser and enter the code A\\x0dB " in res.stderr
    assert "\x1b" not in res.stderr and "\r" not in res.stderr


@pytest.mark.parametrize("base", ["http://[::1", "http://127.0.0.1:port"])
def test_an_unreadable_oauth_endpoint_override_is_one_line_exit_78(file_keyring, monkeypatch, base):
    """urlsplit's ValueError ("Invalid IPv6 URL") was a traceback of 'mailbox login --oauth',
    and of every send of an OAuth mailbox."""
    monkeypatch.setenv("WARMUP_OAUTH_ENDPOINT", base)
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 78, res.stderr
    assert res.stderr == (
        f"Error: WARMUP_OAUTH_ENDPOINT {base!r} is not a URL like http://127.0.0.1:8080; "
        f"unset it (it is for tests)\n"
    )


def test_doctor_names_a_hanging_oauth_token_endpoint_not_the_mail_server(
    oauth_sink, server, file_keyring, ssl_cert_env, closed_port
):
    """A token endpoint that never answered held the login check until its 3 x --timeout ran
    out, and the report blamed the mail server ("keeps sending without finishing its answer:
    not a mail server on this port"), which had not been asked anything."""
    cli(
        "mailbox", "add", BOX, "--provider", "m365", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(oauth_sink.port), "--imap-host", "127.0.0.1",
        "--imap-port", str(closed_port[1]),
    )  # fmt: skip
    _device_login()
    release = threading.Event()

    def hang(path, status, body):  # type: ignore[no-untyped-def]
        release.wait(60)  # never set before the check has given up
        return status, body

    _answering(server, hang)
    try:
        began = time.monotonic()
        res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "1")
        elapsed = time.monotonic() - began
    finally:
        release.set()
    check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth")
    assert elapsed < 30  # the endpoint holds its answer 60 s
    host = server.url.removeprefix("http://")
    assert (check["status"], check["code"]) == ("fail", 69), check
    assert check["detail"] == (
        f"cannot reach the OAuth endpoint {host} (no complete answer within 1 s); check the "
        f"network and try again"
    ), check
    assert "not a mail server" not in json.dumps(check) and "log in again" not in check["fix"]
    assert "OAuth token endpoint" in check["cause"], check
    assert oauth_sink.messages == [] and CANARY not in res.stdout + res.stderr


@pytest.mark.parametrize(
    "body", [b'{"error": "too_many_requests"}', b"{}"], ids=["named", "unnamed"]
)
def test_a_throttled_token_endpoint_is_a_temporary_failure_not_a_configuration_one(body):
    """HTTP 429 (an endpoint throttling refreshes) was a ConfigError, exit 78: 'warmup send'
    told to fix a configuration that is right, and the worker held its messages as misconfigured
    instead of retrying them after a back-off."""
    err = _refused_refresh(_http("429 Too Many Requests", body))
    assert isinstance(err, TempFail), repr(err)
    assert err.exit_code == 75
    assert str(err).startswith("the OAuth token endpoint cannot refresh now (")
    assert "refresh-token" not in str(err)


def test_doctor_does_not_send_a_user_to_log_in_again_when_the_token_endpoint_is_down(
    oauth_sink, server, file_keyring, ssl_cert_env, closed_port
):
    """A token endpoint answering 503 temporarily_unavailable made the login check say "log in
    again with 'warmup mailbox login ... --oauth'": a device login for an endpoint that is down,
    whose stored login is fine."""
    cli(
        "mailbox", "add", BOX, "--provider", "m365", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(oauth_sink.port), "--imap-host", "127.0.0.1",
        "--imap-port", str(closed_port[1]),
    )  # fmt: skip
    _device_login()
    _answering(server, lambda p, s, b: (503, {"error": "temporarily_unavailable"}))
    res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
    check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth")
    assert (check["status"], check["code"]) == ("fail", 75), check
    assert "log in again" not in check["fix"], check
    assert "OAuth token endpoint" in check["cause"], check
    assert file_keyring.exists() and oauth_sink.messages == []
    assert CANARY not in res.stdout + res.stderr


def test_a_cached_token_the_server_ends_early_is_replaced_once_not_taken_for_a_lost_login(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    """A provider may end an access token before its expires_in (a revocation, continuous
    access evaluation), and a clock set back keeps a cached one past it: SMTP's 535 for it was
    LoginExpired, exit 77 "log in again", though the refresh token was fine."""
    _m365_box(oauth_sink, tmp_path)
    _device_login()
    t = [dt.datetime.now(dt.UTC)]
    with Gate(BOX, clock=lambda: t[0]) as gate:
        gate.send(b"Subject: 1\r\n\r\nHi\r\n", ["one@example.com"])
        gate.session().close()  # the next send logs in again
        server.expire_access_tokens()  # the clock hardly moves: the cached one looks current
        t[0] += dt.timedelta(seconds=3)  # past the preset's 2 s pacing
        gate.send(b"Subject: 2\r\n\r\nHi\r\n", ["two@example.com"])
    assert server.grants.count("refresh_token") == 2
    assert len(oauth_sink.messages) == 2
    assert len(oauth_sink.oauth_tokens) == 3  # the first, the one refused, its replacement
    assert oauth_sink.oauth_tokens[1] == oauth_sink.oauth_tokens[0] != oauth_sink.oauth_tokens[2]


# -- IMAP: Dovecot taking XOAUTH2, each token checked at the authorization server ---------------


@pytest.fixture
def oauth_dovecot(pki: TestPKI, server: OAuthServer) -> Iterator[Dovecot]:
    """Dovecot logging BOX in with XOAUTH2: its oauth2 passdb asks ``server`` (RFC 7662
    introspection) whether each token is active, as a provider's IMAP server checks them."""
    with Dovecot(pki, user=BOX, introspection_url=f"{server.url}/introspect") as imap:
        yield imap


def _imap_box(imap: Dovecot, closed_port: tuple[str, int]) -> None:
    res = cli(
        "mailbox", "add", BOX, "--provider", "m365", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(closed_port[1]), "--imap-host", "127.0.0.1",
        "--imap-port", str(imap.port),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    _device_login()


def _sync(bearer: oauth.Bearer) -> SyncReport:
    """One bounce sync of INBOX with ``bearer``, as the worker runs one after another."""
    ledger = open_ledger()
    box = ledger.mailbox(BOX)
    assert box is not None
    ep = api.endpoints(box)
    return sync(
        ledger, box, hosts=ep.imap_hosts, port=ep.imap_port, security=ep.imap_security,
        password=bearer, folders=["INBOX"], since=dt.date(2026, 1, 1),
    )  # fmt: skip


def test_a_cached_token_the_imap_server_ends_early_is_replaced_once_not_taken_for_a_lost_login(
    oauth_dovecot, server, file_keyring, ssl_cert_env, closed_port
):
    """The IMAP side of the SMTP test above: Dovecot's NO [AUTHENTICATIONFAILED] to a token
    the provider had ended before its expires_in was LoginExpired, "log in again" (exit 77),
    for the worker's and the IDLE watcher's next sync, though a refresh would have worked."""
    _imap_box(oauth_dovecot, closed_port)
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    assert _sync(bearer).scanned == 0
    oauth_dovecot.append("INBOX", dsn("<o-1@corp.example>", "gone@example.net", "5.1.1", "550", 1))
    server.expire_access_tokens()  # the clock hardly moves: the cached one looks current
    report = _sync(bearer)
    assert (report.scanned, report.bounces) == (1, 1)
    assert server.grants.count("refresh_token") == 2
    first, refused, fresh = server.introspected  # the first, the one refused, its replacement
    assert first == refused != fresh and server.valid(fresh)


def test_imap_retries_a_refused_token_once_and_never_a_fresh_one(
    oauth_dovecot, server, file_keyring, ssl_cert_env, closed_port
):
    """A token just refreshed and refused is the login's fault (here: IMAP access turned off
    for the mailbox): LoginExpired at once; a cached one refused is replaced once, not again."""
    _imap_box(oauth_dovecot, closed_port)
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    _sync(bearer)
    server.introspect_active = False
    with pytest.raises(oauth.LoginExpired) as cached:
        _sync(bearer)
    assert server.grants.count("refresh_token") == 2 and len(server.introspected) == 3
    with pytest.raises(oauth.LoginExpired) as fresh:
        _sync(oauth.Bearer(BOX, get_provider("m365")))
    assert server.grants.count("refresh_token") == 3 and len(server.introspected) == 4
    for exc in (cached.value, fresh.value):
        assert str(exc).startswith(f"the OAuth login of {BOX} was refused by 127.0.0.1 (")
        assert str(exc).endswith(f"log in again with {LOGIN_AGAIN}")
        assert CANARY not in str(exc)


def test_an_imap_server_offering_no_xoauth2_is_exit_78_not_log_in_again(
    dovecot_clean, server, file_keyring, ssl_cert_env, closed_port
):
    """Dovecot without XOAUTH2 answers AUTHENTICATE XOAUTH2 with NO [ALERT] Unsupported
    authentication mechanism: the sync said the OAuth login was refused, exit 77, "log in
    again", and doctor sent the user to log in again, which never fixes a server that offers
    no OAuth login. It is the configuration's problem (exit 78), and no token is sent."""
    _imap_box(dovecot_clean, closed_port)
    res = cli("bounces", "sync", BOX, "--timeout", "5")
    err = res.stderr.strip()
    assert res.returncode == 78, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("Error: the IMAP server offers no OAuth login (127.0.0.1:"), err
    assert "log in again" not in err and CANARY not in err, err
    res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
    check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "imap-login")
    assert (check["status"], check["code"]) == ("fail", 78), check
    assert "log in again" not in check["fix"] and "XOAUTH2" in check["cause"], check
    assert "AUTHENTICATE" not in dovecot_clean.logs()


# -- SMTP servers that take no XOAUTH2 -------------------------------------------------------


@pytest.mark.parametrize("named", [False, True], ids=["not-in-ehlo", "in-ehlo-then-504"])
def test_an_smtp_server_offering_no_xoauth2_is_exit_78_not_log_in_again(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path, closed_port, named
):
    """aiosmtpd taking passwords only: EHLO names AUTH PLAIN LOGIN, and AUTH XOAUTH2 gets 504
    5.5.4 Unrecognized authentication type. 'warmup send' said the OAuth login was refused,
    exit 77, and doctor sent the user to log in again, which never fixes a server that offers
    no OAuth login: a configuration problem (exit 78), as IMAP says. A server naming XOAUTH2
    in EHLO and answering 504 to it (``named``) is the same."""
    oauth_sink.xoauth2 = False
    if named:
        oauth_sink.auth_line = "LOGIN PLAIN XOAUTH2"
    cli(
        "mailbox", "add", BOX, "--provider", "m365", "--smtp-host", "127.0.0.1",
        "--smtp-port", str(oauth_sink.port), "--imap-host", "127.0.0.1",
        "--imap-port", str(closed_port[1]), "--policy", str(policy_file(tmp_path / "f.toml")),
    )  # fmt: skip
    _device_login()
    res = _send()
    err = res.stderr.strip()
    assert res.returncode == 78, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("Error: the SMTP server offers no OAuth login (127.0.0.1:"), err
    assert err.endswith(f"or log in with a password instead ('warmup mailbox login {BOX}')"), err
    assert "log in again" not in err and CANARY not in err, err
    assert oauth_sink.oauth_tokens == [] and oauth_sink.messages == []
    # Nothing counted: the reservation was released.
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["sent"] == 0

    res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
    check = next(c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth")
    assert (check["status"], check["code"]) == ("fail", 78), check
    assert "log in again" not in check["fix"] and "XOAUTH2" in check["cause"], check
    assert check["fix"].startswith("check the mailbox's SMTP host"), check
    assert ("504" in check["detail"]) is named, check
    assert oauth_sink.oauth_tokens == []


def test_a_host_offering_no_xoauth2_is_passed_over_for_one_that_does(
    server, file_keyring, tmp_path
):
    """Nothing was asked of the account: the backup host is tried, as for a host offering no
    AUTH at all; when none offers it, exit 78 naming each host."""
    from tests.peers.smtp import Script, ScriptedServer
    from warmup import smtp
    from warmup.errors import ConfigError

    _device_login()
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    plain = Script(replies={"EHLO": b"250-scripted.test.example\r\n250 AUTH PLAIN LOGIN\r\n"})
    both = Script(replies={"EHLO": b"250-scripted.test.example\r\n250 AUTH PLAIN XOAUTH2\r\n"})
    with ScriptedServer(plain, both) as peer:
        target = smtp.Target(("127.0.0.1", "localhost"), peer.port, "none", BOX, bearer, 5.0)
        session = smtp.Session(target)
        assert session.host == "localhost"
        assert session.failed == [
            ("127.0.0.1", "offers no OAuth login (XOAUTH2 is not among its AUTH mechanisms: "
             "PLAIN LOGIN)")
        ]  # fmt: skip
        session.close()
        assert not any(c.upper().startswith(b"AUTH") for c in peer.commands[0])
        assert any(c.startswith(b"AUTH XOAUTH2 ") for c in peer.commands[1])
    with ScriptedServer(plain) as peer:
        target = smtp.Target(("127.0.0.1", "localhost"), peer.port, "none", BOX, bearer, 5.0)
        with pytest.raises(ConfigError) as exc:
            smtp.Session(target)
        assert str(exc.value).startswith(
            f"the SMTP server offers no OAuth login (127.0.0.1:{peer.port}: offers no OAuth "
        )
        assert f"; localhost:{peer.port}: offers no OAuth login" in str(exc.value)


def test_the_relay_defers_a_message_to_a_server_offering_no_xoauth2_as_a_configuration_fault(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path, ledger_path
):
    """The relay answered its client 454 4.7.0 "upstream login failed" (a refused login) for
    a 504 to AUTH XOAUTH2; now 451 4.3.0 with the one line that names the host and the fix,
    and the slot released."""
    import smtplib

    from warmup.relay import Relay

    oauth_sink.xoauth2 = False
    oauth_sink.auth_line = "LOGIN PLAIN XOAUTH2"  # named, then refused with 504
    _m365_box(oauth_sink, tmp_path)
    _device_login()
    gate = Gate(BOX)
    relay = Relay(gate, wait=False).start()
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=30) as client:
            client.login(relay.user, relay.password)
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(BOX, ["lead@example.com"], b"Subject: Hi\r\n\r\nHello\r\n")
    finally:
        relay.stop()
        gate.close()
    text = refused.value.smtp_error.decode()
    assert refused.value.smtp_code == 451, text
    assert text.startswith("4.3.0 unavailable: the SMTP server offers no OAuth login (127.0.0.1:")
    assert "log in again" not in text and CANARY not in text, text
    assert oauth_sink.messages == []
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["sent"] == 0


_TOKEN_IN_A_PROCESS = """
import sys
from warmup.errors import WarmupError
from warmup.oauth import Bearer
from warmup.providers import get_provider
try:
    Bearer(sys.argv[1], get_provider("m365")).token()
except WarmupError as exc:
    print(exc, file=sys.stderr)
    sys.exit(exc.exit_code)
"""


def _waits_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` has the refresh lock file open: at the lock, which the first
    process holds (it polls for it, so /proc/locks shows no blocked waiter)."""
    lock = str(oauth.lock_path(BOX))
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd) == lock:
                return True
        except OSError:
            pass
    return False


def test_processes_refreshing_at_once_never_lose_the_rotated_refresh_token(
    server, file_keyring, oauth_env, tmp_path
):
    """Two processes of one mailbox (a send and a bounces sync, two sends of a pool) need an
    access token at the same moment. Both read the stored refresh token; the first refresh
    rotates it, and the second then sent the old one, refused as invalid_grant: exit 77 "log in
    again" for a login that was fine. One refresh at a time, each reading what the last stored."""
    import subprocess
    import sys

    _device_login()
    server.hold_refresh = threading.Event()
    env = {**os.environ, **oauth_env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = [sys.executable, "-c", _TOKEN_IN_A_PROCESS, BOX]
    procs = []
    try:
        procs.append(subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True))
        assert server.arrived.acquire(timeout=60), "the first process never asked for a token"
        procs.append(subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True))
        # The second one either asks the endpoint with the same refresh token, or waits for the
        # first one's refresh to end.
        while not server.arrived.acquire(timeout=0.02) and not _waits_on_a_lock(procs[1].pid):
            assert procs[1].poll() is None, procs[1].communicate()
        server.hold_refresh.set()
        results = [(p.wait(60), p.communicate()[1]) for p in procs]
    finally:
        server.hold_refresh.set()
        for p in procs:
            p.kill()
    assert results == [(0, ""), (0, "")]
    assert server.answers == ["ok", "ok"]
    stored = json.loads(json.loads(file_keyring.read_text())[f"warmup-oauth/{BOX}"])
    assert stored["refresh_token"] in server.refresh  # the one the provider honours now


@pytest.mark.parametrize("error", ["interaction_required", "login_required", "consent_required"])
def test_a_refresh_needing_the_user_at_the_provider_says_log_in_again_exit_77(error):
    """Microsoft answers a refresh with interaction_required once conditional access wants MFA
    again or the tenant's policy changed (AADSTS50076, 50079), and OpenID Connect names
    login_required and consent_required: each was a ConfigError, exit 78 "refused the refresh",
    sending the user to a configuration that is right instead of to the device login that
    fixes it, and the worker held the messages as misconfigured."""
    body = json.dumps({"error": error, "error_description": "AADSTS50076: MFA"}).encode()
    err = _refused_refresh(_http("400 Bad Request", body))
    assert isinstance(err, oauth.LoginExpired), repr(err)
    assert err.exit_code == 77
    assert LOGIN_AGAIN in str(err) and "refresh-token" not in str(err)


def test_a_user_declining_at_microsoft_is_a_refused_login_not_a_configuration_fault(
    file_keyring, server
):
    """Microsoft's device flow names a user's "No" authorization_declined, not RFC 8628's
    access_denied: it was exit 78 "the OAuth token endpoint refused the login", a configuration
    fault, for a user who pressed the wrong button."""
    _answering(
        server,
        lambda p, s, b: (
            (400, {"error": "authorization_declined"}) if p.endswith("token") else (s, b)
        ),
    )
    with pytest.raises(WarmupError) as err:
        _device_login()
    assert err.value.exit_code == 77, repr(err.value)
    assert str(err.value) == f"the login of {BOX} was refused at the provider"


@pytest.mark.parametrize(
    "answer",
    [(503, {"error": "temporarily_unavailable"}), (429, {"error": "too_many_requests"}), (502, {})],
    ids=["temporarily-unavailable", "throttled", "bad-gateway"],
)
def test_a_token_endpoint_hiccup_while_the_user_approves_does_not_end_the_login(
    file_keyring, server, answer
):
    """A poll answered 503 temporarily_unavailable (or 429, or a gateway's 502) while the user
    was still typing the code ended the login with exit 78 "refused the login": the user had to
    start over with a new code for an endpoint that answered the next poll."""
    hiccups = [answer]

    def once(path, status, body):  # type: ignore[no-untyped-def]
        if path.endswith("token") and hiccups:
            return hiccups.pop()
        return status, body

    _answering(server, once)
    _device_login()
    assert hiccups == []
    stored = json.loads(json.loads(file_keyring.read_text())[f"warmup-oauth/{BOX}"])
    assert stored["refresh_token"] in server.refresh


@pytest.mark.parametrize(
    "token", [f"{CANARY}-\u00f6", f"{CANARY}\r\nQUIT", f"{CANARY} x"], ids=["utf8", "crlf", "space"]
)
def test_an_access_token_that_is_no_bearer_token_is_one_line_exit_69(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path, token
):
    """A token endpoint handing out an access token with a character outside RFC 6750's
    b64token (UTF-8, a line break) made smtplib's ASCII encoding of the XOAUTH2 response raise
    UnicodeEncodeError mid-login: a traceback of 'warmup send'; a line break went into the
    SASL response as given."""
    _m365_box(oauth_sink, tmp_path)
    _device_login()

    def odd(path, status, body):  # type: ignore[no-untyped-def]
        return status, ({**body, "access_token": token} if "access_token" in body else body)

    _answering(server, odd)
    res = _send()
    assert res.returncode == 69, res.stderr
    assert res.stderr.splitlines() == [
        "Error: the OAuth endpoint "
        f"{server.url}/organizations/oauth2/v2.0/token answered with an access token that is not a "
        "bearer token; try again later"
    ]
    assert oauth_sink.messages == [] and CANARY not in res.stdout + res.stderr


def test_smtp_auth_turned_off_for_the_tenant_is_exit_78_naming_it_not_log_in_again(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    """Exchange Online refuses every XOAUTH2 login with 535 5.7.139 while authenticated SMTP is
    turned off for the tenant or the mailbox (Microsoft's default for new tenants). warmup said
    the login "was refused; log in again" and dropped the server's reply: the user logged in
    again, got the same, and never saw what to turn on."""
    _m365_box(oauth_sink, tmp_path)
    _device_login()
    oauth_sink.oauth = lambda token: False
    oauth_sink.oauth_refusal = (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
        "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
    )
    res = _send()
    assert res.returncode == 78, res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"Error: 127.0.0.1 does not take authenticated SMTP for {BOX} (535 ")
    assert "SmtpClientAuthentication is disabled for the Tenant" in line
    assert "log in again" not in line and "SmtpClientAuthenticationDisabled" in line
    assert oauth_sink.messages == [] and CANARY not in res.stdout + res.stderr


def test_a_refused_token_names_the_servers_reply(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    """The 535 for a fresh token was reported without the server's reply: nothing to tell a
    wrong scope or a blocked account from an expired login."""
    _m365_box(oauth_sink, tmp_path)
    _device_login()
    oauth_sink.oauth = lambda token: False
    oauth_sink.oauth_refusal = "535 5.7.3 Authentication unsuccessful"
    res = _send()
    assert res.returncode == 77, res.stderr
    assert res.stderr.strip().splitlines() == [
        f"Error: the OAuth login of {BOX} was refused by 127.0.0.1 (535 5.7.3 Authentication "
        f"unsuccessful); log in again with {LOGIN_AGAIN}"
    ]


def test_a_device_login_ends_when_its_code_expires_even_with_an_interval_of_zero(
    file_keyring, server
):
    """The poll counted the intervals it slept, not the time that passed: an endpoint saying
    interval 0 (or answering each poll slowly) and authorization_pending forever was polled
    without end, 'mailbox login --oauth' never returning. The code's lifetime is measured on
    the clock."""
    polls = []

    def pending(path, status, body):  # type: ignore[no-untyped-def]
        if not path.endswith("token"):
            return status, {**body, "interval": 0, "expires_in": 900}
        polls.append(1)
        if len(polls) > 50:  # the loop did not end on its own
            return 400, {"error": "access_denied"}
        return 400, {"error": "authorization_pending"}

    _answering(server, pending)
    t = [dt.datetime.now(dt.UTC)]

    def clock() -> dt.datetime:
        t[0] += dt.timedelta(seconds=100)  # each poll's answer takes 100 s
        return t[0]

    with pytest.raises(TempFail) as err:
        oauth.login(BOX, get_provider("m365"), lambda c: None, now=clock, sleep=lambda s: None)
    assert str(err.value).startswith("the code was not approved within 900 s")
    assert 8 <= len(polls) <= 10


def test_an_smtp_server_echoing_the_password_in_its_refusal_never_puts_it_in_the_error():
    """The SMTP server's reply to a refused password login went into the error as it came: a
    server quoting the password back put it in the message every command prints."""
    from tests.peers.smtp import Script, ScriptedServer
    from warmup import smtp
    from warmup.errors import PermissionFailure

    password = "pw-canary-8841"
    refusal = f"535 5.7.8 bad credentials {password}\r\n".encode()
    with ScriptedServer(Script(replies={"AUTH": refusal})) as peer:
        target = smtp.Target(("127.0.0.1",), peer.port, "none", BOX, password, 5.0)
        with pytest.raises(PermissionFailure) as exc:
            smtp.Session(target)
    assert password not in str(exc.value) and "bad credentials ***" in str(exc.value)


def test_a_keyring_refusing_the_rotated_refresh_token_says_so_and_what_to_do(
    oauth_sink, server, file_keyring, ssl_cert_env, tmp_path
):
    """The provider rotated the refresh token (the old one now refused) and the keyring would
    not store the new one: the send said "use WARMUP_PASSWORD or --password-command", advice
    for a password that an OAuth mailbox never reads, and the next command's "log in again"
    came with no word of the keyring. The message now says what was lost and the order of the
    fix."""
    import keyring

    from tests.filekeyring import ReadOnlyKeyring

    _m365_box(oauth_sink, tmp_path)
    _device_login()
    keyring.set_keyring(ReadOnlyKeyring())
    with Gate(BOX) as gate, pytest.raises(WarmupError) as err:
        gate.send(b"Subject: 1\r\n\r\nHi\r\n", ["one@example.com"])
    why = str(err.value)
    assert err.value.exit_code == 78, why
    assert "WARMUP_PASSWORD" not in why and "--password-command" not in why, why
    assert why == (
        f"the system keyring refused to store the new OAuth refresh token of {BOX} "
        f"(RuntimeError), and the provider may no longer take the old one; make the keyring "
        f"writable, then log in again with {LOGIN_AGAIN}"
    )
    assert CANARY not in why


@pytest.mark.parametrize(
    "answer",
    [(503, {"error": "temporarily_unavailable"}), (429, {"error": "too_many_requests"}), (502, {})],
    ids=["temporarily-unavailable", "throttled", "bad-gateway"],
)
def test_a_device_endpoint_that_cannot_answer_now_is_exit_75_not_a_wrong_client_id(
    file_keyring, server, answer
):
    """A device endpoint answering 503 temporarily_unavailable, 429 or a gateway's 502 made
    'mailbox login --oauth' exit 78 "check WARMUP_OAUTH_CLIENT_ID": a client ID that is right,
    for an endpoint that would answer a minute later."""
    _answering(server, lambda p, s, b: answer if not p.endswith("token") else (s, b))
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 75, res.stderr
    [line] = res.stderr.strip().splitlines()
    assert "WARMUP_OAUTH_CLIENT_ID" not in line and "try again later" in line, line
    assert not file_keyring.exists()


def test_an_smtp_server_echoing_a_password_with_runs_of_spaces_never_puts_it_in_the_error():
    """The reply's whitespace is folded to single spaces before the error is written: a
    password with two spaces (or a tab) in it, quoted back, was no longer the password masked
    and went into the message folded."""
    from tests.peers.smtp import Script, ScriptedServer
    from warmup import smtp
    from warmup.errors import PermissionFailure

    password = "pw  canary\t8841"
    refusal = f"535 5.7.8 bad credentials {password}\r\n".encode()
    with ScriptedServer(Script(replies={"AUTH": refusal})) as peer:
        target = smtp.Target(("127.0.0.1",), peer.port, "none", BOX, password, 5.0)
        with pytest.raises(PermissionFailure) as exc:
            smtp.Session(target)
    assert "canary" not in str(exc.value) and "bad credentials ***" in str(exc.value)


def test_smtp_auth_turned_off_is_a_configuration_fault_for_a_password_login_too():
    """Exchange Online answers a password login with the same 535 5.7.139 while authenticated
    SMTP is off for the mailbox or tenant: only the OAuth login was told it is the
    administrator's to turn on (78); a password login said the password was refused (77), and
    the user changed a password that was right."""
    from tests.peers.smtp import Script, ScriptedServer
    from warmup import smtp
    from warmup.errors import ConfigError

    refusal = (
        b"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
        b"the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.\r\n"
    )
    with ScriptedServer(Script(replies={"AUTH": refusal})) as peer:
        target = smtp.Target(("127.0.0.1",), peer.port, "none", BOX, "pw-right-1", 5.0)
        with pytest.raises(ConfigError) as exc:
            smtp.Session(target)
    assert exc.value.exit_code == 78
    assert str(exc.value).startswith(f"127.0.0.1 does not take authenticated SMTP for {BOX}")
    assert "SmtpClientAuthenticationDisabled" in str(exc.value)


def test_a_refresh_waits_for_another_processs_refresh_lock_only_so_long(
    server, file_keyring, oauth_env, tmp_path
):
    """The refresh lock was waited for without end: a process stopped or hung while it held it
    (Ctrl-Z on a send mid-refresh, a keyring prompt nobody answers) held every other process of
    the mailbox, a 'warmup run' worker among them, for as long. The wait is bounded by the
    refresh's timeout, then exit 75 naming the lock file."""
    import fcntl
    import subprocess
    import sys

    _device_login()
    script = _TOKEN_IN_A_PROCESS.replace(".token()", ".token(float(sys.argv[2]))")
    env = {**os.environ, **oauth_env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    path = oauth.lock_path(BOX)  # the conftest's XDG_DATA_HOME, inherited by the child
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process's refresh that never ends
        proc = subprocess.Popen(
            [sys.executable, "-c", script, BOX, "0.5"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            code, err = proc.wait(30), proc.communicate()[1]
        finally:
            proc.kill()
    assert code == 75, err
    [line] = err.strip().splitlines()
    assert line.startswith(f"another warmup process has been refreshing the OAuth login of {BOX}")
    assert str(path) in line
    assert server.answers == []  # it never refreshed from a token the holder may be rotating


def test_a_keyring_refusing_a_new_oauth_login_gives_no_password_advice(
    server, file_keyring, oauth_env
):
    """'warmup mailbox login --oauth' with a keyring that refuses to store the refresh token
    said "use WARMUP_PASSWORD or --password-command instead": advice for a password, which an
    OAuth login never reads; the keyring is the only place it is kept."""
    import keyring

    from tests.filekeyring import ReadOnlyKeyring

    keyring.set_keyring(ReadOnlyKeyring())
    with pytest.raises(ConfigError) as err:
        _device_login()
    why = str(err.value)
    assert err.value.exit_code == 78, why
    assert "WARMUP_PASSWORD" not in why and "--password-command" not in why, why
    assert why == (
        f"the system keyring refused to store the OAuth login of {BOX} (RuntimeError); an "
        f"OAuth login is kept only there: make the keyring writable (unlock it), then log in "
        f"again with {LOGIN_AGAIN}"
    )


def test_a_device_login_waits_between_polls_even_with_an_interval_of_zero(file_keyring, server):
    """An endpoint saying ``interval: 0`` (or a negative one, clamped to 0) was polled with no
    pause at all: against a loopback endpoint answering authorization_pending, 6,000 token
    requests in the 20 s the code lived; a provider throttles (or bans) an application's client
    ID for that. The poll waits at least a second, as RFC 8628 section 3.5 has a client wait."""
    _answering(server, lambda p, s, b: (s, {**b, "interval": 0}) if "device" in p else (s, b))
    t = [dt.datetime.now(dt.UTC)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        t[0] += dt.timedelta(seconds=seconds)

    oauth.login(BOX, get_provider("m365"), lambda c: None, now=lambda: t[0], sleep=sleep)
    assert server.grants.count(oauth.DEVICE_GRANT) == 2  # authorization_pending, then tokens
    assert len(slept) == 2 and min(slept) >= 1.0


def test_a_device_code_living_under_a_minute_and_a_half_is_shown_in_seconds(file_keyring, server):
    """A code valid 20 s was announced as "(valid 0 min)": a user reading that would not try."""

    def short(path, status, body):  # type: ignore[no-untyped-def]
        if not path.endswith("token"):
            return status, {**body, "expires_in": 20}
        return 400, {"error": "access_denied"}

    _answering(server, short)
    cli("mailbox", "add", BOX, "--provider", "m365")
    res = cli("mailbox", "login", BOX, "--oauth")
    assert res.returncode == 77, res.stderr
    assert "enter the code WDJB-MJHT (valid 20 s). Waiting..." in res.stderr, res.stderr


def test_doctor_never_shows_the_xoauth2_response_a_server_quotes_back(server, file_keyring):
    """SMTP and IMAP servers that quote the client's XOAUTH2 response back in their refusal,
    as it was sent (base64) and decoded (``user=...^Aauth=Bearer TOKEN``). The base64 form was
    printed by doctor as it came: anyone reading the report (or a ticket it was pasted in)
    could decode the access token and use it for the hour it lives. Both forms are masked."""
    from tests.peers.imap import ImapScript, ImapServer
    from tests.peers.smtp import Script, ScriptedServer

    smtp = Script(
        replies={
            "EHLO": b"250-scripted.test.example\r\n250 AUTH PLAIN XOAUTH2\r\n",
            "AUTH": b"535 5.7.3 Authentication unsuccessful: {said} ({decoded})\r\n",
        }
    )
    imap = ImapScript(
        replies={
            "AUTHENTICATE": [
                b"+ \r\n",
                b"{tag} NO [AUTHENTICATIONFAILED] invalid token {said} ({decoded})\r\n",
            ]
        }
    )
    with ScriptedServer(smtp) as s, ImapServer(imap) as i:
        cli(
            "mailbox", "add", BOX, "--provider", "m365",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(s.port), "--smtp-security", "none",
            "--imap-host", "127.0.0.1", "--imap-port", str(i.port), "--imap-security", "none",
        )  # fmt: skip
        _device_login()
        res = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
        sent = [line.split()[-1] for c in s.commands for line in c if line.startswith(b"AUTH")]
    assert sent, s.commands  # the servers did get (and quote) a response
    checks = {c["name"]: c for c in json.loads(res.stdout)["checks"]}
    smtp_auth, imap_login = checks["smtp-auth"], checks["imap-login"]
    assert smtp_auth["status"] == imap_login["status"] == "fail", (smtp_auth, imap_login)
    assert "Authentication unsuccessful: *** (" in smtp_auth["detail"], smtp_auth
    assert "invalid token *** (" in imap_login["detail"], imap_login
    out = res.stdout + res.stderr
    tokens = [t for t in server.secrets() if "-at-" in t]
    forms = [base64.b64encode(oauth.sasl(BOX, t).encode()).decode() for t in tokens]
    assert tokens and not [f for f in [*tokens, *forms] if f in out], out
    assert CANARY not in out, out


def test_a_token_no_longer_in_memory_is_masked_too_whole_or_cut_short(file_keyring, server):
    """A cached token refused and replaced by a fresh one is no longer in memory, but the
    server's first refusal may still be quoted: any ``auth=Bearer TOKEN`` and any base64 of this
    mailbox's XOAUTH2 response is masked, whichever token, even cut short by the server."""
    from warmup.words import scrubbed

    cli("mailbox", "add", BOX, "--provider", "m365")
    _device_login()
    bearer = oauth.Bearer(BOX, get_provider("m365"))
    held = bearer.token()
    old = "oauthcanary-at-0123456789abcdef01234567"
    response = base64.b64encode(oauth.sasl(BOX, old).encode()).decode()
    said = (
        f"NO invalid {response[:60]} / {response} ({oauth.sasl(BOX, old)}); "
        f"held {held}; 535 5.7.8 Authentication credentials invalid"
    )
    text = scrubbed(said, bearer)
    assert text == (
        "NO invalid *** / *** (user=a@corp.example\x01auth=Bearer ***\x01\x01); held ***; "
        "535 5.7.8 Authentication credentials invalid"
    ), text


@pytest.mark.parametrize(
    ("answer", "code", "advice"),
    [
        (_http("503 Service Unavailable", b"<html>down</html>"), 75, "; try again later"),
        (_http("502 Bad Gateway", b""), 75, "; try again later"),
        (_http("200 OK", b"<html>sign in to the wifi</html>"), 69, "check the network"),
        (_http("200 OK", b'{"token_type": "Bearer"}'), 69, "; try again later"),
        (_http("200 OK", b'{"access_token": "' + b"a" * (2 << 20) + b'"}'), 69, "over 1 MiB"),
        (_http("503 Service Unavailable", b"<html>" + b"x" * (2 << 20)), 75, "try again later"),
        (_http("401 Unauthorized", b'{"error": "invalid_client"}'), 78, LOGIN_AGAIN),
        (_http("400 Bad Request", b'{"error": "unauthorized_client"}'), 78, LOGIN_AGAIN),
        (_http("400 Bad Request", b'{"error": "no grant refresh-token"}'), 78, "(no grant ***)"),
    ],
    ids=[
        "html-503",
        "empty-502",
        "captive-portal",
        "no-access-token",
        "huge",
        "huge-503",
        "invalid-client",
        "unauth",
        "echoed-token",
    ],
)
def test_each_token_endpoint_refusal_says_what_to_do_with_the_exit_code_a_script_needs(
    answer, code, advice
):
    """An HTML or empty 5xx (the provider's outage page) was exit 69 while the same 5xx in
    JSON was 75 ("try again later"), and several refusals said what went wrong but not what to
    do: "answered without an access token", "refused the refresh (invalid_client)". An answer
    past the bytes read (1 MiB) was said to be no JSON, as if a captive portal had answered;
    an outage page that long is still an outage (75), not a network to check (69). An error
    code echoing the request's refresh token was quoted with it."""
    err = _refused_refresh(answer)
    text = str(err)
    assert (err.exit_code, "\n" in text) == (code, False), text
    assert advice in text, text
    assert "refresh-token" not in text


def test_an_oauth_login_for_a_provider_without_one_names_the_password_login(file_keyring):
    """'warmup mailbox login ADDR --oauth' for an Exmail mailbox said "log in with a password
    ('warmup mailbox set ADDR --auth password')", exit 78: the mailbox logs in with a password
    already, so the command changed nothing, and ADDR was left for the user to fill in."""
    cli("mailbox", "add", "b@corp.example", "--provider", "exmail")
    res = cli("mailbox", "login", "b@corp.example", "--oauth")
    assert res.returncode == 64, res.stderr
    assert res.stderr.strip().splitlines() == [
        "Error: --oauth: Tencent Enterprise Mail (exmail.qq.com) has no OAuth login in warmup; "
        "store the mailbox's password with 'warmup mailbox login b@corp.example' (without "
        "--oauth)"
    ]
    assert not file_keyring.exists()


def _echoed(form: dict[str, str], how: str) -> str:
    """What an endpoint (or a proxy before it) quoting the posted form back says, ``how``."""
    import urllib.parse

    token, secret = form["refresh_token"], form["client_secret"]
    return {
        "form": urllib.parse.urlencode(form),
        "token": "bad refresh_token=" + urllib.parse.quote(token, safe=""),
        "secret": "bad client_secret=" + urllib.parse.quote_plus(secret),
        "base64": "bad " + base64.b64encode(f"{token}:{secret}".encode()).decode(),
        "cut-short": f"bad token {token[:20]}... from client {secret[:12]}",
    }[how]


@pytest.mark.parametrize("how", ["form", "token", "secret", "base64", "cut-short"])
def test_a_token_endpoint_quoting_the_form_back_never_shows_the_token_or_client_secret(
    oauth_sink, server, oauth_env, file_keyring, ssl_cert_env, tmp_path, how
):
    """A refusal whose ``error`` quoted the form the refresh posted had only the refresh token
    and client secret masked as they are, whole: percent-encoded (a Google refresh token is
    '1//0g...'), in base64 or cut short, they went to the error line of the send."""
    secret = "cl/ient+secret=" + "s" * 20  # an app's secret, with what a form percent-encodes
    env = {"WARMUP_OAUTH_CLIENT_SECRET": secret}
    _m365_box(oauth_sink, tmp_path)
    issue = server._issue

    def issue_googles() -> dict:  # type: ignore[type-arg]
        body = issue()
        token = "1//0g" + body["refresh_token"] + "+rt/x"
        server.refresh.add(token)
        server.issued_refresh.append(token)
        return {**body, "refresh_token": token}

    server._issue = issue_googles  # type: ignore[method-assign]
    login = warmup("mailbox", "login", BOX, "--oauth", env=env)
    assert login.returncode == 0, login.stderr
    token = server.issued_refresh[-1]
    handle = server.handle

    def echoing(path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
        if form.get("grant_type") != "refresh_token":
            return handle(path, form)
        return 400, {"error": _echoed(form, how)}

    server.handle = echoing  # type: ignore[method-assign]
    res = warmup(*_send_args(), env=env)
    assert res.returncode == 78, res.stderr
    assert "refused the refresh" in res.stderr, res.stderr
    for shown in (res.stdout, res.stderr):
        assert not any(form in shown.encode() for form in leak_forms(token)), shown
        assert not any(form in shown.encode() for form in leak_forms(secret)), shown
        assert _pieces(shown, token) == _pieces(shown, secret) == [], shown


def _pieces(text: str, secret: str, size: int = 8) -> list[str]:
    """The pieces of ``secret`` ``size`` characters long that ``text`` holds: as they are,
    percent-decoded, or in base64 (what an error cut at 64 characters kept of a long run)."""
    import re
    import urllib.parse

    said = [text, urllib.parse.unquote_plus(text)]
    for run in re.findall(r"[A-Za-z0-9+/]{12,}", text):
        said.append(base64.b64decode(run[: len(run) // 4 * 4]).decode("utf-8", "replace"))
    found = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    return sorted(piece for piece in found if any(piece in s for s in said))


def test_an_authenticate_challenge_that_is_no_base64_fails_the_login_in_one_line(
    server, file_keyring
):
    """imaplib decodes a ``+`` continuation to AUTHENTICATE unchecked: a server answering
    XOAUTH2 with text that is no base64 raised ``binascii.Error`` through ``bounces sync`` and
    doctor (a traceback, exit 1). Found by the mail paths' attack round. It is the server's
    broken answer, not the token's fault: 69, one line; doctor reports a failed step."""
    from tests.peers.imap import ImapScript, ImapServer
    from tests.peers.smtp import Script, ScriptedServer

    smtp = Script(replies={"EHLO": b"250-scripted.test.example\r\n250 AUTH XOAUTH2\r\n"})
    imap = ImapScript(replies={"AUTHENTICATE": [b"+ abc\r\n", b"{tag} NO refused\r\n"]})
    with ScriptedServer(smtp) as s, ImapServer(imap) as i:
        cli(
            "mailbox", "add", BOX, "--provider", "m365",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(s.port), "--smtp-security", "none",
            "--imap-host", "127.0.0.1", "--imap-port", str(i.port), "--imap-security", "none",
        )  # fmt: skip
        _device_login()
        res = warmup("bounces", "sync", BOX, "--timeout", "5")
        doctor = cli("doctor", BOX, "--no-domain", "--json", "--timeout", "5")
    err = res.stderr.strip()
    assert res.returncode == 69, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "AUTHENTICATE challenge is not base64" in err, err
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["imap-login"]["status"] == "fail", checks["imap-login"]
    assert "AUTHENTICATE challenge is not base64" in checks["imap-login"]["detail"]
