"""``warmup doctor`` against real loopback servers set up to fail at each step.

Each case builds a mailbox whose SMTP/IMAP point at a sink, Dovecot, a closed port, a silent
listener or an unresolvable ``.invalid`` name, runs ``python -m warmup doctor --json`` as a real
process, and checks the first failing step, its target, the exit code and — for a refused
login — the Tencent Exmail checklist steps it points at.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from tests.gatekit import add_box, cli, warmup
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.imap import ImapScript, ImapServer
from tests.peers.smtp import (
    BabblingServer,
    GreetingServer,
    Script,
    ScriptedServer,
    SilentServer,
    SmtpSink,
    free_port,
)
from tests.test_ledger_files import _corrupt_send_table
from warmup.doctor import _auth_advice
from warmup.providers import get_provider

pytest_plugins = ["tests.pgkit"]  # fixture: ledger_url

BOX = IMAP_USER  # the Dovecot user: SMTP and IMAP log in with the same address and password


@dataclass
class Case:
    """How to break the set-up, and what doctor must say."""

    smtp: Callable[[ExitStack, object], tuple[str, int, str]]  # -> host, port, security
    step: str | None  # the first failing check (None: healthy)
    kind: str = "SMTP"  # which service it is about
    code: int = 0
    words: tuple[str, ...] = ()  # in that check's detail + cause
    steps: tuple[int, ...] = ()  # exmail checklist steps named
    password: str | None = IMAP_PASSWORD
    imap_port: Callable[[object], int] | None = None
    timeout: str = "5"
    others: dict[str, str] = field(default_factory=dict)  # check name -> status expected


def sink(**kwargs: object) -> Callable[[ExitStack, object], tuple[str, int, str]]:
    def make(stack: ExitStack, pki: object) -> tuple[str, int, str]:
        mode = str(kwargs.pop("mode", "ssl"))
        password = str(kwargs.pop("password", IMAP_PASSWORD))
        s = stack.enter_context(
            SmtpSink(
                mode,
                user=BOX,
                password=password,
                pki=pki,  # type: ignore[arg-type]
                **kwargs,
            )
        )
        return "127.0.0.1", s.port, "ssl"

    return make


def unresolvable(stack: ExitStack, pki: object) -> tuple[str, int, str]:
    return "smtp.corp.invalid", 465, "ssl"


def refused(stack: ExitStack, pki: object) -> tuple[str, int, str]:
    return "127.0.0.1", free_port(), "ssl"


def silent(stack: ExitStack, pki: object) -> tuple[str, int, str]:
    return "127.0.0.1", stack.enter_context(SilentServer()).port, "ssl"


def silent_starttls(stack: ExitStack, pki: object) -> tuple[str, int, str]:
    return "127.0.0.1", stack.enter_context(SilentServer()).port, "starttls"


CASES = {
    "healthy": Case(
        sink(),
        None,
        others={"dns": "ok", "tcp": "ok", "tls": "ok", "smtp-auth": "ok", "imap-login": "ok"},
    ),
    "dns": Case(unresolvable, "dns", code=69, words=("does not resolve", "network/DNS")),
    "tcp-refused": Case(refused, "tcp", code=69, words=("connection refused",)),
    "tls-untrusted": Case(
        sink(untrusted=True), "tls", code=69, words=("not trusted", "SSL_CERT_FILE")
    ),
    "tls-on-plaintext": Case(
        sink(mode="plain"), "tls", code=69, words=("does not speak implicit TLS",)
    ),
    "silent-timeout": Case(
        silent, "tls", code=69, words=("timed out", "never answered"), timeout="1"
    ),
    # A STARTTLS port that never greets was "server closed the connection (Connection
    # unexpectedly closed: timed out)", the port said not to speak STARTTLS: smtplib's words.
    "silent-starttls-timeout": Case(
        silent_starttls,
        "tls",
        code=69,
        words=("no SMTP greeting within 1 s", "never answered", "--smtp-port"),
        timeout="1",
    ),
    # The same wrong password for both: the password itself or the IMAP/SMTP switch.
    "smtp-535-both": Case(
        sink(),
        "smtp-auth",
        code=77,
        words=("535", "same password"),
        steps=(2, 4),
        password="wrong-password",
        others={"imap-login": "fail"},
    ),
    # SMTP refuses what IMAP accepts: the password is right, SMTP is not enabled.
    "smtp-535-only": Case(
        sink(password="another-one"),
        "smtp-auth",
        code=77,
        words=("535", "IMAP accepted"),
        steps=(1, 2),
        others={"imap-login": "ok"},
    ),
    "imap-login": Case(
        sink(password="smtp-only-pass"),
        "imap-login",
        kind="IMAP",
        code=77,
        words=("AUTHENTICATIONFAILED", "refused the password"),
        steps=(2, 3, 4),
        password="smtp-only-pass",
        others={"smtp-auth": "ok"},
    ),
    "imap-refused": Case(
        sink(),
        "tcp",
        kind="IMAP",
        code=69,
        words=("connection refused",),
        imap_port=lambda dovecot: free_port(),
        others={"smtp-auth": "ok"},
    ),
    "no-password": Case(sink(), "smtp-auth", code=78, words=("no password",), password=None),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_doctor_names_the_failing_step(name, pki, ssl_cert_env, dovecot, tmp_path):
    case = CASES[name]
    if not dovecot.running:
        dovecot.start()
    with ExitStack() as stack:
        host, port, security = case.smtp(stack, pki)
        imap_port = case.imap_port(dovecot) if case.imap_port else dovecot.port
        added = cli(
            "mailbox",
            "add",
            BOX,
            "--provider",
            "exmail",
            "--smtp-host",
            host,
            "--smtp-port",
            str(port),
            "--smtp-security",
            security,
            "--imap-host",
            "127.0.0.1",
            "--imap-port",
            str(imap_port),
        )
        assert added.returncode == 0, added.stderr
        env = {
            "WARMUP_PASSWORD": case.password or "",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
        start = time.monotonic()
        res = warmup("doctor", BOX, "--no-domain", "--json", "--timeout", case.timeout, env=env)
        elapsed = time.monotonic() - start
    assert "Traceback" not in res.stderr, res.stderr
    assert elapsed < 20  # no step hangs beyond its timeout
    report = json.loads(res.stdout)
    checks = report["checks"]
    assert res.returncode == case.code == report["exit_code"], (res.returncode, checks)
    assert [c["name"] for c in checks if c["status"] != "skip"][:2] == ["dns", "dns"]
    assert all(c["ms"] >= 0 for c in checks)
    failed = [c for c in checks if c["status"] == "fail"]
    if case.step is None:
        assert failed == [] and all(c["status"] == "ok" for c in checks), checks
    else:
        first = failed[0]
        assert (first["name"], first["target"].split()[0]) == (case.step, case.kind), checks
        said = " ".join((first["detail"], first["cause"], first["fix"]))
        for word in case.words:
            assert word in said, (word, first)
        assert first["fix"], first
        assert tuple(first["steps"]) == case.steps, first
        if case.steps:  # the fix lists exactly those checklist steps, in the guide's order
            listed = [int(line.split(".")[0]) for line in first["fix"].splitlines()[1:]]
            assert listed == list(case.steps)
    status = {c["name"]: c["status"] for c in checks}
    for check, expected in case.others.items():
        assert status[check] == expected, (check, checks)
    assert IMAP_PASSWORD not in res.stdout + res.stderr


def test_doctor_table_output_and_warnings(pki, ssl_cert_env, dovecot):
    """The human form: a table, then the cause and fix of a failure; security none warns."""
    if not dovecot.running:
        dovecot.start()
    with SmtpSink("plain", user=BOX, password=IMAP_PASSWORD, pki=pki) as s:
        add_box(s.port, "--smtp-security", "none", box=BOX, imap_port=dovecot.port)
        res = warmup("doctor", BOX, "--no-domain", env={"WARMUP_PASSWORD": IMAP_PASSWORD})
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["STEP", "TARGET", "STATUS", "MS", "DETAIL"]
    tls_smtp = next(line for line in lines if line.startswith("tls") and "SMTP" in line)
    assert "WARN" in tls_smtp and "plaintext" in tls_smtp
    login = next(line for line in lines if line.startswith("smtp-auth"))
    assert "EHLO ok, AUTH LOGIN PLAIN XOAUTH2: login accepted" in login  # single-spaced
    assert lines[-1] == f"{BOX}: all checks passed, 1 warning."
    assert s.messages == []  # doctor never sends mail


def test_dns_failure_does_not_hang_and_prints_the_fix(ssl_cert_env):
    added = cli(
        "mailbox",
        "add",
        BOX,
        "--provider",
        "exmail",
        "--smtp-host",
        "smtp.corp.invalid,backup.corp.invalid",
        "--imap-host",
        "imap.corp.invalid",
    )
    assert added.returncode == 0, added.stderr
    start = time.monotonic()
    res = warmup("doctor", BOX, "--no-domain", "--timeout", "3", env={"WARMUP_PASSWORD": "x"})
    assert time.monotonic() - start < 15
    assert res.returncode == 69
    assert "dns failed for SMTP smtp.corp.invalid:465" in res.stderr
    assert "dns failed for SMTP backup.corp.invalid:465" in res.stderr
    assert res.stderr.count("likely cause: network/DNS") == 2  # once per service, not per host
    assert "not run" in res.stdout and "Traceback" not in res.stderr


@pytest.mark.parametrize("security", ["starttls", "none"])
def test_a_server_that_never_finishes_its_greeting_fails_within_three_timeouts(security):
    """Each line of an endless 220- greeting came within the socket timeout: doctor waited
    for as long as the server kept talking (for ever, for a server that never stops)."""
    with BabblingServer(seconds=10) as server:
        added = cli(
            "mailbox", "add", BOX, "--provider", "custom",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(server.port),
            "--smtp-security", security,
            "--imap-host", "127.0.0.1", "--imap-port", str(free_port()),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        res = warmup(
            "doctor", BOX, "--no-domain", "--json", "--timeout", "1",
            env={"WARMUP_PASSWORD": "x"},
        )  # fmt: skip
    assert res.returncode == 69 and "Traceback" not in res.stderr, res.stderr
    step = "tls" if security == "starttls" else "smtp-auth"
    target = f"SMTP 127.0.0.1:{server.port}"
    (check,) = (
        c for c in json.loads(res.stdout)["checks"] if (c["name"], c["target"]) == (step, target)
    )
    assert check["status"] == "fail"
    assert 3000 <= check["ms"] < 5000, check  # the server babbles for 10 s
    assert check["detail"] == "no complete answer within 3 s"
    assert "keeps sending" in check["cause"]


@pytest.mark.parametrize(
    ("security", "line", "detail", "cause"),
    [
        (
            "starttls",
            b"HTTP/1.1 400 Bad Request\r\n",
            "no SMTP greeting (the server said '.../1.1 400 Bad Request')",
            "is another service's (HTTP, IMAP, ...), not SMTP",
        ),
        (
            "none",
            b"554 5.7.1 Client host rejected\r\n",
            "the server refused the connection: 554 5.7.1 Client host rejected",
            "turns this client away",
        ),
    ],
    ids=["http-on-smtp-port", "greeting-554"],
)
def test_a_greeting_that_is_not_220_is_named_as_such(security, line, detail, cause):
    """smtplib's SMTPConnectError fell to the catch-all: 'TLS handshake failed: -1 /1.1 400
    Bad Request', likely cause 'the server broke off the TLS handshake'."""
    with GreetingServer(line) as server:
        added = cli(
            "mailbox", "add", BOX, "--provider", "custom",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(server.port),
            "--smtp-security", security,
            "--imap-host", "127.0.0.1", "--imap-port", str(free_port()),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        res = warmup(
            "doctor", BOX, "--no-domain", "--json", "--timeout", "2",
            env={"WARMUP_PASSWORD": "x"},
        )  # fmt: skip
    assert res.returncode == 69 and "Traceback" not in res.stderr, res.stderr
    step = "tls" if security == "starttls" else "smtp-auth"
    target = f"SMTP 127.0.0.1:{server.port}"
    (check,) = (
        c for c in json.loads(res.stdout)["checks"] if (c["name"], c["target"]) == (step, target)
    )
    assert (check["status"], check["detail"]) == ("fail", detail)
    assert cause in check["cause"]


@pytest.mark.parametrize(
    ("reply", "steps"),
    [
        ("535 5.7.8 Error: authentication failed: wrong password", (2, 3, 4)),
        ("535 Error: authentication failed, system busy", (2, 3, 4)),
        ("535 5.7.3 SMTP service is not enabled for this account", (1,)),
        ("550 User not allowed to use IMAP/SMTP clients", (1,)),
    ],
)
def test_exmail_refusals_map_to_checklist_steps(reply, steps):
    cause, fix, got = _auth_advice(reply, get_provider("exmail"))
    assert got == steps
    checklist = get_provider("exmail").checklist
    assert fix.splitlines()[1:] == [f"  {i}. {checklist[i - 1]}" for i in steps]
    assert cause


def test_exmail_fixes_name_the_menu_paths_of_the_setup_guide():
    """Issue #12: the checklist names the menus an Exmail administrator and user really see."""
    _, scope_fix, _ = _auth_advice("535 5.7.3 SMTP service is not enabled", get_provider("exmail"))
    assert (
        "WeCom admin console, Collaboration > Security Management > Client Access Restriction > "
        "Modify Exchange/IMAP/SMTP Service Scope"
    ) in scope_fix
    _, fix, _ = _auth_advice("535 5.7.8 wrong password", get_provider("exmail"))
    for words in (
        "Settings > Send/Receive Settings, 'Enable IMAP/SMTP Service'",
        "Settings > Mailbox Binding, 'Enable Secure Login'",
        "(16 digits)",
    ):
        assert words in fix, words


def test_generic_provider_without_admin_steps_lists_them_all():
    cause, fix, steps = _auth_advice("535 nope", get_provider("zoho"))
    assert steps == (1, 2) and "refused the password" in cause


@pytest.mark.parametrize(
    ("features", "env", "said"),
    [
        ({}, {}, "sends with 8BITMIME, SMTPUTF8, SIZE 32 MiB"),
        ({"pipelining": True}, {}, "sends with PIPELINING, 8BITMIME, SMTPUTF8, SIZE 32 MiB"),
        (
            {"pipelining": True, "chunking": True},
            {},
            "sends with PIPELINING, 8BITMIME, SMTPUTF8, CHUNKING, SIZE 32 MiB",
        ),
        (
            {"pipelining": True, "chunking": True},
            {"WARMUP_SMTP_CHUNKING": "off"},
            "CHUNKING (off: environment (WARMUP_SMTP_CHUNKING))",
        ),
        ({"chunking": True}, {}, "CHUNKING (not used without PIPELINING)"),
    ],
)
def test_doctor_says_how_sends_will_talk_to_the_server(
    pki, ssl_cert_env, dovecot, features, env, said
):
    """Which extensions the server offers that change warmup's conversation: the round trips a
    message costs (PIPELINING, CHUNKING), whether 8-bit text goes as it is, the size limit; and
    CHUNKING switched off, for a server that mishandles it."""
    if not dovecot.running:
        dovecot.start()
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki, **features) as s:
        add_box(s.port, box=BOX, imap_port=dovecot.port)
        res = warmup(
            "doctor", BOX, "--no-domain", "--json", env={"WARMUP_PASSWORD": IMAP_PASSWORD, **env}
        )
    assert res.returncode == 0, res.stdout + res.stderr
    [login] = [c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth"]
    assert said in login["detail"], login


@pytest.mark.parametrize(
    ("size", "said"),
    [(b"102400", "SIZE 100 KiB"), (b"524288", "SIZE 512 KiB"), (b"36700160", "SIZE 35 MiB")],
)
def test_doctor_names_a_size_limit_under_a_mebibyte_as_it_is(
    pki, ssl_cert_env, dovecot, size, said
):
    """A server taking messages of up to 100 KB was reported as 'SIZE 0 MiB': as if it took
    nothing."""
    if not dovecot.running:
        dovecot.start()
    ehlo = b"250-scripted.test.example\r\n250-SIZE " + size + b"\r\n250 AUTH PLAIN LOGIN\r\n"
    tls = pki.server_ssl_context()
    with ScriptedServer(Script(replies={"EHLO": ehlo}, tls=tls)) as s:
        add_box(s.port, box=BOX, imap_port=dovecot.port)
        res = warmup("doctor", BOX, "--no-domain", "--json", env={"WARMUP_PASSWORD": IMAP_PASSWORD})
    [login] = [c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth"]
    assert login["detail"].endswith(said), login
    assert "SIZE 0 " not in login["detail"]


def test_doctor_reads_a_size_in_digits_that_are_no_ascii_as_no_limit(pki, ssl_cert_env, dovecot):
    """'SIZE \u00b2' (Latin-1, as smtplib reads EHLO): str.isdigit() took it, int() raised."""
    if not dovecot.running:
        dovecot.start()
    ehlo = b"250-scripted.test.example\r\n250-SIZE \xb2\r\n250 AUTH PLAIN LOGIN\r\n"
    with ScriptedServer(Script(replies={"EHLO": ehlo}, tls=pki.server_ssl_context())) as s:
        add_box(s.port, box=BOX, imap_port=dovecot.port)
        res = warmup("doctor", BOX, "--no-domain", "--json", env={"WARMUP_PASSWORD": IMAP_PASSWORD})
    assert "Traceback" not in res.stderr, res.stderr
    [login] = [c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth"]
    assert login["status"] == "ok" and "SIZE" not in login["detail"], login


def test_doctor_with_a_bad_chunking_switch_fails_that_check_exit_78(pki, ssl_cert_env, dovecot):
    if not dovecot.running:
        dovecot.start()
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki, chunking=True) as s:
        add_box(s.port, box=BOX, imap_port=dovecot.port)
        res = warmup(
            "doctor",
            BOX,
            "--no-domain",
            env={"WARMUP_PASSWORD": IMAP_PASSWORD, "WARMUP_SMTP_CHUNKING": "perhaps"},
        )
    assert res.returncode == 78, res.stdout + res.stderr
    assert "smtp-auth failed for SMTP 127.0.0.1:" in res.stderr
    assert "$WARMUP_SMTP_CHUNKING is 'perhaps': expected on or off" in res.stderr
    assert "Traceback" not in res.stdout + res.stderr


def _doctor_against(
    smtp: Script, imap: ImapScript, password: str = "pw-canary-7781"
) -> tuple[int, dict[str, dict[str, object]]]:
    """``warmup doctor --json`` of a mailbox whose SMTP and IMAP are scripted peers (security
    none, so that the script's words are the server's): its exit code and checks by name."""
    with ScriptedServer(smtp) as s, ImapServer(imap) as i:
        added = cli(
            "mailbox", "add", BOX, "--provider", "custom",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(s.port), "--smtp-security", "none",
            "--imap-host", "127.0.0.1", "--imap-port", str(i.port), "--imap-security", "none",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        res = warmup(
            "doctor", BOX, "--no-domain", "--json", "--timeout", "5",
            env={"WARMUP_PASSWORD": password},
        )  # fmt: skip
    assert "Traceback" not in res.stderr and password not in res.stdout + res.stderr, (
        res.stdout + res.stderr
    )
    report = json.loads(res.stdout)
    return res.returncode, {c["name"]: c for c in report["checks"]}


@pytest.mark.parametrize(
    ("reply", "code", "said", "not_said"),
    [
        # A server quoting the password back: doctor printed it (a send's error masks it).
        (b"535 5.7.8 password pw-canary-7781 is wrong\r\n", 77, "password *** is wrong", ""),
        # 454: the server could not check just now. Doctor said the password was refused and
        # SMTP not enabled (77), where a send says "try again later" (75).
        (
            b"454 4.7.0 Temporary authentication failure\r\n",
            75,
            "temporary failure, not a refused password",
            "not enabled",
        ),
        # Exchange Online's 5.7.139: a send says an administrator must turn it on (78); doctor
        # pointed at the password (77), and the user changed a password that was right.
        (
            b"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
            b"for the Mailbox.\r\n",
            78,
            "SmtpClientAuthenticationDisabled",
            "refused the password",
        ),
        # smtplib returns a 503 as a login: doctor said "login accepted"
        (
            b"503 5.5.1 Error: authentication not enabled\r\n",
            77,
            "AUTH refused: 503",
            "login accepted",
        ),
    ],
    ids=["password-quoted-back", "454-temporary", "5.7.139-auth-off", "503-no-login"],
)
def test_doctor_reads_an_smtp_login_refusal_as_a_send_does(reply, code, said, not_said):
    rc, checks = _doctor_against(Script(replies={"AUTH": reply}), ImapScript())
    auth = checks["smtp-auth"]
    assert (rc, auth["status"], auth["code"]) == (code, "fail", code), auth
    text = " ".join(str(auth[k]) for k in ("detail", "cause", "fix"))
    assert said in text, auth
    assert not not_said or not_said not in text, auth
    assert checks["imap-login"]["status"] == "ok"


def test_doctor_masks_the_password_a_server_quotes_back_in_base64():
    """A server quoting AUTH PLAIN's response back as it came (base64 of ``^@user^@password``):
    doctor printed it, a password anyone can decode, where it masks the password as it is."""
    smtp = Script(
        replies={
            "EHLO": b"250-scripted.test.example\r\n250 AUTH PLAIN\r\n",
            "AUTH": b"535 5.7.8 bad credentials {said}\r\n",
        }
    )
    rc, checks = _doctor_against(smtp, ImapScript())
    auth = checks["smtp-auth"]
    assert (rc, auth["status"]) == (77, "fail"), auth
    assert auth["detail"] == "AUTH refused: 535 5.7.8 bad credentials ***", auth
    quoted = base64.b64encode(f"\0{BOX}\0pw-canary-7781".encode()).decode()
    assert quoted not in json.dumps(checks)


@pytest.mark.parametrize(
    ("mechanism", "reply"),
    [
        ("PLAIN", b"535 5.7.8 bad credentials {said:44}\r\n"),  # 11 of the password's characters
        ("PLAIN", b"535 5.7.8 bad credentials {decoded:31}\r\n"),  # decoded, NULs and all
        ("LOGIN", b"535 5.7.8 bad credentials {said:12}\r\n"),  # 9 of them
    ],
    ids=["plain-cut", "plain-decoded-cut", "login-cut"],
)
def test_doctor_masks_the_password_a_server_quotes_back_cut_short(mechanism, reply):
    """A server cutting the AUTH line it quotes back (at so many characters) left a run of
    base64 that decodes to the start of the password, not all of it: masked only whole, the
    start of the password went into doctor's report (and a send's error) for anyone to decode."""
    password = "pw-canary-7781"
    replies = {"EHLO": f"250-scripted.test.example\r\n250 AUTH {mechanism}\r\n".encode()}
    if mechanism == "PLAIN":
        replies["AUTH"] = reply
    else:
        replies["AUTH"] = b"334 UGFzc3dvcmQ6\r\n"  # "Password:"
        replies[base64.b64encode(password.encode()).decode().upper()] = reply  # its "verb"
    rc, checks = _doctor_against(Script(replies=replies), ImapScript(), password)
    auth = checks["smtp-auth"]
    assert (rc, auth["status"]) == (77, "fail"), auth
    assert auth["detail"].startswith("AUTH refused: 535 5.7.8 bad credentials ***"), auth
    assert "pw-canar" not in json.dumps(checks)
    for run in re.findall(r"[A-Za-z0-9+/]{8,}", json.dumps(checks)):
        assert "pw-canar" not in base64.b64decode(run[: len(run) // 4 * 4]).decode("latin-1")


def test_doctor_masks_the_password_an_imap_server_quotes_back_cut_short():
    """The same for IMAP: a NO quoting the LOGIN command's quoted password, cut short."""
    imap = ImapScript(replies={"LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] LOGIN {said:10}\r\n"})
    rc, checks = _doctor_against(Script(), imap)
    login = checks["imap-login"]
    assert (rc, login["status"]) == (77, "fail"), login
    assert "pw-canar" not in json.dumps(checks), login
    assert "LOGIN ***" in login["detail"] + login["cause"], login


@pytest.mark.parametrize("password", ["pw1", "x9Yz!"])
def test_doctor_masks_a_short_password_a_server_quotes_back_as_auth_login_sent_it(password):
    """AUTH LOGIN sends the password alone in base64: ``cHcx`` for ``pw1``, under the 8
    characters a run of base64 had to be to be decoded and masked. A server quoting it back
    had doctor print a password anyone can decode."""
    said = base64.b64encode(password.encode())
    smtp = Script(
        replies={
            "EHLO": b"250-scripted.test.example\r\n250 AUTH LOGIN\r\n",
            "AUTH": b"334 UGFzc3dvcmQ6\r\n",  # "Password:"
            said.decode().upper(): b"535 5.7.8 bad credentials {said}\r\n",  # its "verb"
        }
    )
    rc, checks = _doctor_against(smtp, ImapScript(), password)
    auth = checks["smtp-auth"]
    assert (rc, auth["status"]) == (77, "fail"), auth
    assert auth["detail"] == "AUTH refused: 535 5.7.8 bad credentials ***", auth
    assert said.decode() not in json.dumps(checks)
    assert said.decode().rstrip("=") not in json.dumps(checks)


def test_doctor_names_logindisabled_not_a_missing_oauth_login():
    """An IMAP server that takes no password without TLS (LOGINDISABLED) was failed with the
    cause 'the server offers no OAuth login (XOAUTH2)' and the fix 'log in with a password
    instead', to a mailbox that logs in with a password."""
    caps = b"IMAP4rev1 LOGINDISABLED STARTTLS"
    imap = ImapScript(
        greeting=b"* OK [CAPABILITY " + caps + b"] ready\r\n",
        replies={"CAPABILITY": b"* CAPABILITY " + caps + b"\r\n{tag} OK done\r\n"},
    )
    rc, checks = _doctor_against(Script(), imap)
    login = checks["imap-login"]
    assert (rc, login["status"]) == (78, "fail"), login
    assert "OAuth" not in login["cause"] + login["fix"], login
    assert "LOGINDISABLED" in login["cause"] and "--imap-security ssl" in login["fix"], login


def test_a_damaged_ledger_fails_doctor_with_the_command_code(
    pki, ssl_cert_env, dovecot, ledger_path
):
    """Doctor checked every host and login and never the ledger: a file with a page
    overwritten passed 'all checks passed' while `warmup report` on it failed and
    `warmup record send` went on writing into it. The ledger check reads every page
    (quick_check) and fails with 78, the code a command meeting the damage exits with."""
    if not dovecot.running:
        dovecot.start()
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki) as s:
        add_box(s.port, box=BOX, imap_port=dovecot.port)
        assert cli("record", "send", BOX, "--to", "lead@example.com").returncode == 0
        env = {"WARMUP_PASSWORD": IMAP_PASSWORD}
        healthy = warmup("doctor", BOX, "--no-domain", "--json", env=env)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        [ok] = [c for c in json.loads(healthy.stdout)["checks"] if c["name"] == "ledger"]
        assert (ok["status"], ok["target"]) == ("ok", str(ledger_path))
        damaged = _corrupt_send_table(ledger_path)
        res = warmup("doctor", BOX, "--no-domain", "--json", env=env)
        table = warmup("doctor", BOX, "--no-domain", env=env)
    assert res.returncode == 78, res.stdout + res.stderr
    report = json.loads(res.stdout)
    [failed] = [c for c in report["checks"] if c["status"] == "fail"]
    assert (failed["name"], failed["code"], report["exit_code"]) == ("ledger", 78, 78)
    assert failed["detail"].startswith("the ledger is damaged: "), failed
    assert "restore the ledger from a backup" in failed["fix"]
    assert (table.returncode, table.stderr.splitlines()[-1]) == (78, f"{BOX}: 1 failed.")
    assert f"ledger failed for {ledger_path}: the ledger is damaged" in table.stderr
    assert ledger_path.read_bytes() == damaged  # checked, never written


def test_the_ledger_check_is_sqlites_alone(ledger_url):
    """A PostgreSQL ledger has no file for warmup to read page by page: doctor said of it
    "the file's pages are whole (quick_check)", a check it never made."""
    add = cli("mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "smtp.corp.invalid")
    assert add.returncode == 0, add.stderr
    res = warmup("doctor", BOX, "--no-domain", "--json", "--timeout", "1")
    stored = [c for c in json.loads(res.stdout)["checks"] if c["name"] == "ledger"]
    if ledger_url.startswith("sqlite"):
        assert [(c["status"], c["detail"]) for c in stored] == [
            ("ok", "the file's pages are whole (quick_check)")
        ]
    else:
        assert stored == []


def test_a_ledger_locked_past_the_busy_timeout_is_not_called_damaged(ledger_path, monkeypatch):
    """A lock held past the busy timeout failed quick_check with "database is locked", which
    the ledger check reported as damage (78: "restore the ledger from a backup") of a whole
    file. Now the check says it could not run (warn), and a send's command would say busy."""
    import sqlite3

    import warmup.ledger.sqlite_file as sqlite_file
    from warmup.doctor import ledger_check
    from warmup.ledger import open_ledger

    ledger = open_ledger(str(ledger_path))
    ledger.engine.dispose()  # the ledger's own pooled connections hold no lock
    holder = sqlite3.connect(ledger_path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # in WAL: readers are shut out too
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("SELECT count(*) FROM mailbox").fetchall()
        monkeypatch.setattr(sqlite_file, "BUSY_TIMEOUT_S", 0.1)  # the wait, not the point
        check = ledger_check(ledger)
    finally:
        holder.close()
        ledger.close()
    assert check is not None
    assert (check.status, check.code) == ("warn", 0), check
    assert check.detail.startswith("not checked: ledger ") and "is busy" in check.detail, check
    assert ledger_check(open_ledger(str(ledger_path))).status == "ok"  # free again: whole


def test_a_password_command_that_fails_is_named_not_called_missing(smtp_ssl, ssl_cert_env):
    """A --password-command that failed (a store still locked, a wrong entry) was reported as
    "no password is available", with the fix "use --password-command 'CMD'": what the user had
    just done. The cause names the command, the fix says how to see why it failed."""
    add_box(smtp_ssl.port)
    res = warmup(
        "doctor", "a@corp.example", "--no-domain", "--timeout", "3", "--json",
        "--password-command", "echo locked >&2; exit 3",
    )  # fmt: skip
    got = json.loads(res.stdout)
    [auth] = [c for c in got["checks"] if c["name"] == "smtp-auth"]
    assert (auth["status"], auth["code"]) == ("fail", 78), auth
    assert auth["detail"] == "the password command failed with exit code 3"
    assert auth["cause"] == "the password command gave no password"
    assert auth["fix"] == (
        "run it by hand to see why (WARMUP_MAILBOX=a@corp.example sh -c 'CMD': its own error "
        "says it), or store the password with 'warmup mailbox login a@corp.example'"
    )
    assert "locked" not in res.stdout + res.stderr  # its stderr is no terminal's: dropped
    assert smtp_ssl.messages == []
    # With no password anywhere, the fix is still to give one.
    res = warmup("doctor", "a@corp.example", "--no-domain", "--timeout", "3", "--json")
    [auth] = [c for c in json.loads(res.stdout)["checks"] if c["name"] == "smtp-auth"]
    assert auth["cause"] == "no password is available"
    assert "--password-command 'CMD'" in auth["fix"]
