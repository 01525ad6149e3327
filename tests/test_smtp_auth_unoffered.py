"""An SMTP server that advertises AUTH mechanisms, then answers each one 504 "mechanism not
supported" (found by the mail paths' attack round): smtplib raised the last refusal, which warmup
took for a refused password: exit 77 with the provider's password checklist, though no
mechanism ever checked the password. It is the server's set-up: one line naming the mechanisms
advertised and the 504, exit 69 (a service unavailable, as a server that refuses the sender
for good), for ``send``, ``run --once`` and ``doctor``. Real peers: a scripted server on
127.0.0.1 speaking implicit TLS (doctor's: plain)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.outboxkit import pool_of, queue_plain
from tests.peers.imap import ImapScript
from tests.peers.smtp import Script, ScriptedServer
from tests.test_doctor import _doctor_against
from tests.test_run_fault_holds import once

EHLO = b"250-scripted.test.example\r\n250 AUTH PLAIN LOGIN\r\n"
NOT_SUPPORTED = b"504 5.5.4 Unrecognized authentication type\r\n"
SAID = (
    "advertises AUTH PLAIN LOGIN, then refused PLAIN, LOGIN as not supported (504 5.5.4 "
    "Unrecognized authentication type): the server's set-up is at fault, not the password "
    "(never checked); ask its administrator"
)


def _rows(db: object, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(str(db)) as conn:
        return conn.execute(sql).fetchall()


def _script(pki: object) -> Script:
    return Script(
        replies={"EHLO": EHLO, "AUTH": NOT_SUPPORTED},
        tls=pki.server_ssl_context(),  # type: ignore[attr-defined]
    )


def test_send_to_a_server_refusing_every_mechanism_it_advertises_is_69_not_77(
    pki, ssl_cert_env, ledger_path
):
    with ScriptedServer(_script(pki)) as server:
        add_box(server.port)
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
            env=PASSWORD_ENV,
        )  # fmt: skip
        auths = [c.split(b" ")[:2] for c in server.commands[0] if c.upper().startswith(b"AUTH")]
    err = res.stderr.strip()
    assert (res.returncode, err) == (69, f"Error: 127.0.0.1 {SAID}"), err
    assert auths == [[b"AUTH", b"PLAIN"], [b"AUTH", b"LOGIN"]], auths  # each one was asked
    assert _rows(ledger_path, "SELECT outcome FROM send") == [("released",)]


def test_run_once_meets_it_as_a_fault_a_person_must_fix_69(pki, ssl_cert_env, tmp_path):
    """The worker sets the member aside, and ``run --once`` exits 69 naming it (a refused login
    exited 77 with the password checklist)."""
    with ScriptedServer(_script(pki)) as server:
        pool_of(server.port, tmp_path, n=1, daily=50)
        queue_plain(1)
        res = once(env=PASSWORD_ENV)
    assert res.returncode == 69, (res.stdout, res.stderr)
    assert SAID in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert "checklist" not in res.stderr.lower() and "password for" not in res.stderr, res.stderr


def test_doctor_says_the_server_is_at_fault_not_the_password():
    rc, checks = _doctor_against(
        Script(replies={"EHLO": EHLO, "AUTH": NOT_SUPPORTED}), ImapScript()
    )
    auth = checks["smtp-auth"]
    assert (rc, auth["status"], auth["code"]) == (69, "fail", 69), auth
    assert auth["detail"] == (
        "AUTH PLAIN LOGIN advertised, then PLAIN, LOGIN refused as not supported: 504 5.5.4 "
        "Unrecognized authentication type"
    ), auth
    assert "not the password" in auth["cause"] and not auth["steps"], auth


@pytest.mark.parametrize("unsupported", ["PLAIN", "LOGIN"])
def test_a_password_refused_by_one_mechanism_wins_over_another_not_supported(
    pki, ssl_cert_env, ledger_path, unsupported
):
    """One mechanism answered 504, the other 535: the password was checked and refused, so it is
    the password's checklist (77), whichever came last (smtplib raised the last one's answer,
    which made a 504 after a 535 read as the server's set-up)."""
    other = "LOGIN" if unsupported == "PLAIN" else "PLAIN"
    script = Script(
        replies={
            "EHLO": EHLO,
            f"AUTH {unsupported}": NOT_SUPPORTED,
            f"AUTH {other}": b"535 5.7.8 Error: authentication failed\r\n",
        },
        tls=pki.server_ssl_context(),
    )
    with ScriptedServer(script) as server:
        add_box(server.port)
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
            env=PASSWORD_ENV,
        )  # fmt: skip
        auths = [c.split(b" ")[1] for c in server.commands[0] if c.upper().startswith(b"AUTH")]
    assert auths == [b"PLAIN", b"LOGIN"], auths
    assert res.returncode == 77, res.stderr
    assert "535 5.7.8" in res.stderr and "not supported" not in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert _rows(ledger_path, "SELECT outcome FROM send") == [("released",)]
