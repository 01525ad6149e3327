"""A server that answers with something that is no SMTP reply (RFC 5321 4.2): a line without a
code ("hello there"), a code no reply has (999, 1xx, "2500"), an intermediate 354 where a final
reply is due, a multi-line reply whose lines disagree (250 then 550). Found by the mail paths'
attack round: smtplib reads any line as a reply (no code: -1, its text from the fifth byte on),
and warmup classified it as the server's word. To RCPT TO it was the recipient's soft bounce,
counted in the mailbox's bounce rate; to the end of DATA it was a soft bounce too, exit 75, "try
again later", though the server may have taken the message: the retry could deliver it twice.
Now it ends the connection: before the data nothing was sent (released, no bounce), after the
data the message is ``unknown`` (counted, never sent again, exit 69), one line saying what the
server said. Real peers: a scripted server on 127.0.0.1 speaking implicit TLS."""

from __future__ import annotations

import sqlite3

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, warmup
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.imap import ImapScript
from tests.peers.smtp import Script, ScriptedServer
from tests.test_doctor import _doctor_against
from warmup.smtp import Session, Target

NOT_REPLIES = {
    "no code": b"hello there\r\n",
    "999": b"999 what\r\n",
    "1xx": b"150 go on\r\n",
    "354": b"354 more\r\n",
    "four digits": b"2500 ok\r\n",
    "lines disagree": b"250-2.0.0 OK\r\n550 5.1.1 <lead@example.com>: User unknown\r\n",
}
PIPELINING = b"250-scripted.test.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"


def _rows(db: str, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _send(server: ScriptedServer) -> tuple[int, str]:
    add_box(server.port)
    res = cli(
        "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
        env=PASSWORD_ENV,
    )  # fmt: skip
    return res.returncode, res.stderr


@pytest.mark.parametrize("said", list(NOT_REPLIES.values()), ids=list(NOT_REPLIES))
def test_no_reply_to_the_end_of_data_leaves_the_message_unknown(
    said, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """The data went: whatever the server did with it, warmup cannot tell. ``unknown``
    (counted, never sent again), no bounce, exit 69, one line quoting the server."""
    db = str(tmp_path / "ledger.db")
    monkeypatch.setenv("WARMUP_DB", db)
    with ScriptedServer(Script(replies={".": said}, tls=pki.server_ssl_context())) as server:
        code, err = _send(server)
    assert code == 69, err
    assert "Traceback" not in err
    assert "no SMTP reply" in err and "may have reached lead@example.com" in err, err
    assert _rows(db, "SELECT outcome FROM send") == [("unknown",)]
    assert _rows(db, "SELECT count(*) FROM bounce") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM suppression") == [(0,)]


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("said", list(NOT_REPLIES.values()), ids=list(NOT_REPLIES))
def test_no_reply_to_rcpt_is_no_bounce_of_the_recipient(
    said, pipelined, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """Before the data nothing left: the slot is released, the recipient neither bounced nor
    suppressed, and nothing is delivered (a pipelined DATA's 354 is abandoned by dropping the
    connection). Exit 69, not 75: the server is broken, not busy (as a reply that is no reply
    to EHLO, or after the data, is 69); 75 asked a script to try again at once, each try a new
    connection and login to a server that answers nothing it can read."""
    db = str(tmp_path / "ledger.db")
    monkeypatch.setenv("WARMUP_DB", db)
    replies = {"RCPT": said, **({"EHLO": PIPELINING} if pipelined else {})}
    with ScriptedServer(Script(replies=replies, tls=pki.server_ssl_context())) as server:
        code, err = _send(server)
        # none of the message's bytes reached the server (a pipelined DATA's 354 came, and the
        # connection was dropped: the scripted server lists what it read, nothing)
        assert not any(server.messages), server.messages
    assert code == 69, err
    assert "Traceback" not in err and "no SMTP reply" in err, err
    assert _rows(db, "SELECT outcome FROM send") == [("released",)]
    assert _rows(db, "SELECT count(*) FROM bounce") == [(0,)]
    assert _rows(db, "SELECT count(*) FROM suppression") == [(0,)]


def test_run_once_sets_a_member_answering_no_reply_aside_at_once_69(
    pki, ssl_cert_env, tmp_path, ledger_path
):
    """The worker took a reply that was no reply to RCPT TO for a cut under this message alone:
    its member stayed in the pass, the next message met the same broken server on a new
    connection and login, and ``run --once`` exited 0, as for a server that may come back by
    itself; and the gate, taking it for a connection dropped while idle, logged in again
    for the same message first. The member is set aside at once (one connection for the
    pass), its messages queued for a later try, and ``run --once`` exits 69, naming it."""
    from tests.gatekit import PASSWORD_ENV
    from tests.outboxkit import pool_of, queue_plain
    from tests.test_run_fault_holds import once

    script = Script(replies={"RCPT": NOT_REPLIES["no code"]}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        pool_of(server.port, tmp_path, n=1, daily=50)
        queue_plain(2)
        res = once(env=PASSWORD_ENV)
        connections = server.connections
    assert res.returncode == 69, (res.stdout, res.stderr)
    assert "no SMTP reply" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert connections == 1, (connections, res.stdout)
    assert _rows(str(ledger_path), "SELECT state FROM outbox") == [("queued",), ("queued",)]
    assert _rows(str(ledger_path), "SELECT count(*) FROM bounce") == [(0,)]


def test_a_reply_with_a_code_and_no_text_is_still_a_reply(pki, ssl_cert_env):
    """RFC 5321's grammar lets the text go: ``250`` alone, ending in a bare LF too, is taken."""
    replies = {"MAIL": b"250\r\n", "RCPT": b"250\n", ".": b"250\r\n"}
    with ScriptedServer(Script(replies=replies, tls=pki.server_ssl_context())) as server:
        session = Session(Target(("127.0.0.1",), server.port, "ssl", BOX, SMTP_PASSWORD))
        try:
            outcome = session.send(BOX, ["lead@example.com"], b"Subject: a\r\n\r\nA\r\n")
        finally:
            session.close()
    assert outcome.sent == ["lead@example.com"], outcome


BAD_CHALLENGES = {
    "CRAM-MD5": (b"CRAM-MD5", b"334 abc\r\n"),  # padding missing
    "LOGIN": (b"LOGIN", b"334 a\r\n"),  # one character: no base64 at all
}


@pytest.mark.parametrize("auth", list(BAD_CHALLENGES.values()), ids=list(BAD_CHALLENGES))
def test_an_auth_challenge_that_is_no_base64_fails_the_login_in_one_line(
    auth, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """smtplib decodes a 334 challenge unchecked: ``binascii.Error`` escaped every send path as
    a traceback, exit 1. Now the login failed (the server's answer, not the password): 69, one
    line, nothing sent or counted."""
    db = str(tmp_path / "ledger.db")
    monkeypatch.setenv("WARMUP_DB", db)
    mechanism, challenge = auth
    ehlo = b"250-scripted.test.example\r\n250 AUTH " + mechanism + b"\r\n"
    script = Script(replies={"EHLO": ehlo, "AUTH": challenge}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        add_box(server.port)
        res = warmup(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
            env=PASSWORD_ENV,
        )  # fmt: skip
    assert res.returncode == 69, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "AUTH challenge (its 334 reply) is not base64" in res.stderr, res.stderr
    assert _rows(db, "SELECT outcome FROM send") == [("released",)]
    assert _rows(db, "SELECT count(*) FROM bounce") == [(0,)]


def test_doctor_names_an_auth_challenge_that_is_no_base64():
    """``warmup doctor``'s own login: a traceback too, where it reports a failed step."""
    ehlo = b"250-scripted.test.example\r\n250 AUTH CRAM-MD5\r\n"
    rc, checks = _doctor_against(
        Script(replies={"EHLO": ehlo, "AUTH": b"334 abc\r\n"}), ImapScript()
    )
    auth = checks["smtp-auth"]
    assert (rc, auth["status"], auth["code"]) == (69, "fail", 69), auth
    assert auth["detail"] == "AUTH failed: the server's challenge (its 334 reply) is not base64"


HUGE = b"250-" + b"A" * 1020 + b"\r\n"  # a line of 1 KiB; 300 of them are past the bound


@pytest.mark.parametrize("verb", ["EHLO", "."])
def test_a_reply_past_its_bound_is_no_reply(verb, pki, ssl_cert_env, tmp_path, monkeypatch):
    """smtplib keeps every line of a reply, however many: a server streaming ``250-`` lines
    took a send past 1 GB of memory within its timeout. A reply longer than 256 KiB
    (:data:`~warmup.smtpconnect.REPLY_MAX`) ends the connection as one that is no reply: the
    opening fails (69, nothing sent), or after the data the message is ``unknown``."""
    db = str(tmp_path / "ledger.db")
    monkeypatch.setenv("WARMUP_DB", db)
    last = b"250 AUTH PLAIN LOGIN\r\n" if verb == "EHLO" else b"250 2.0.0 OK\r\n"
    said = HUGE * 300 + last
    with ScriptedServer(Script(replies={verb: said}, tls=pki.server_ssl_context())) as server:
        code, err = _send(server)
    assert code == 69, err
    assert "Traceback" not in err and "reply ran past 256 KiB" in err, err
    outcome = "released" if verb == "EHLO" else "unknown"
    assert _rows(db, "SELECT outcome FROM send") == [(outcome,)]


CHUNKING = (
    b"250-scripted.test.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN LOGIN\r\n"
)


@pytest.mark.parametrize("said", [b"999 what\r\n", b"354 more\r\n"], ids=["999", "354"])
def test_no_reply_to_bdat_leaves_the_message_unknown(
    said, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """With CHUNKING the data goes with the envelope (``BDAT <size> LAST``): an answer to it that
    is no reply leaves the message ``unknown`` too, where it was a soft bounce and exit 75."""
    db = str(tmp_path / "ledger.db")
    monkeypatch.setenv("WARMUP_DB", db)
    script = Script(replies={"EHLO": CHUNKING, "BDAT": said}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        code, err = _send(server)
        assert any(line.startswith(b"BDAT ") for c in server.commands for line in c)
    assert code == 69, err
    assert "no SMTP reply" in err and "may have reached lead@example.com" in err, err
    assert _rows(db, "SELECT outcome FROM send") == [("unknown",)]
    assert _rows(db, "SELECT count(*) FROM bounce") == [(0,)]
