"""A server that quotes the login back in a later refusal (MAIL's, RCPT's, the end of DATA's, or
an answer that is no reply at all): found by the mail paths' attack round. The AUTH reply was
cleaned of the password (in every form a server may quote it: as it is, AUTH PLAIN's base64),
but a refusal after the login went whole into the bounce's text in the ledger and the error
line, the password with it. Now every reply but a 2xx is cleaned where it is read. Real peers:
a scripted server on 127.0.0.1 speaking implicit TLS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.outboxkit import plain, pool_of
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Script, ScriptedServer
from warmup import Outbox
from warmup.ledger import open_ledger

PLAIN = base64.b64encode(f"\0{BOX}\0{SMTP_PASSWORD}".encode())  # AUTH PLAIN's response
FORMS = {"as it is": SMTP_PASSWORD.encode(), "AUTH PLAIN": PLAIN}
REPLIES = {
    "MAIL": b"550 5.7.1 sender refused, you logged in with %s\r\n",
    "RCPT": b"550 5.7.1 recipient refused, you logged in with %s\r\n",
    ".": b"451 4.3.0 try later, you logged in with %s\r\n",
    "no reply": b"you logged in with %s\r\n",
}


def _stored(db: Path) -> bytes:
    """Every byte of the SQLite ledger (its write-ahead log included)."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def _send_quoted_in_a_250(form: bytes, pki) -> subprocess.CompletedProcess[str]:
    """``send --json`` of one message to a server whose 250 at the end of DATA quotes ``form``
    back ("you logged in with ..."); the run's result."""
    said = b"250 2.0.0 queued, you logged in with %s\r\n" % form
    script = Script(replies={".": said}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        add_box(server.port)
        return cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
            "--json", env=PASSWORD_ENV,
        )  # fmt: skip


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
@pytest.mark.parametrize("said", list(REPLIES), ids=list(REPLIES))
def test_a_refusal_quoting_the_login_back_never_reaches_the_ledger_or_the_error(
    said, form, pki, ssl_cert_env, tmp_path, monkeypatch
):
    db = tmp_path / "ledger.db"
    monkeypatch.setenv("WARMUP_DB", str(db))
    verb = "." if said == "no reply" else said
    script = Script(replies={verb: REPLIES[said] % form}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        add_box(server.port)
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hello", "--body", "Hi",
            env=PASSWORD_ENV,
        )  # fmt: skip
    assert res.returncode in (65, 69, 75), res.stderr
    assert "you logged in with ***" in res.stderr, res.stderr
    for secret in (SMTP_PASSWORD.encode(), PLAIN):
        assert secret.decode() not in res.stderr + res.stdout
        assert secret not in _stored(db)


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_a_2xx_quoting_the_login_back_is_never_printed(form, pki, ssl_cert_env, tmp_path):
    """``send --json`` prints each recipient's reply, a 2xx too: one quoting the login back
    printed the password (or AUTH PLAIN's base64 of it)."""
    res = _send_quoted_in_a_250(form, pki)
    assert res.returncode == 0, res.stderr
    assert "you logged in with ***" in res.stdout, res.stdout
    for secret in (SMTP_PASSWORD, PLAIN.decode()):
        assert secret not in res.stdout + res.stderr


@pytest.mark.parametrize(
    "form",
    [SMTP_PASSWORD[:9].encode(), b"\0" + BOX.encode() + b"\0" + SMTP_PASSWORD[:9].encode()],
    ids=["as it is", "AUTH PLAIN decoded"],
)
def test_a_2xx_quoting_the_password_cut_short_is_never_printed_or_stored(
    form, pki, ssl_cert_env, tmp_path, monkeypatch
):
    """A 2xx is cleaned only when a quick look finds a tell of the login in it: the password
    quoted cut short (its first 9 characters), which the masking takes out of any refusal,
    was no tell, so the 250 was printed as it came by ``send --json``."""
    db = tmp_path / "ledger.db"
    monkeypatch.setenv("WARMUP_DB", str(db))
    res = _send_quoted_in_a_250(form, pki)
    assert res.returncode == 0, res.stderr
    assert "you logged in with ***" in res.stdout, res.stdout
    assert SMTP_PASSWORD[:8] not in res.stdout + res.stderr
    assert SMTP_PASSWORD[:8].encode() not in _stored(db)


def test_a_2xx_quoting_the_password_cut_short_never_reaches_the_queues_record(
    pki, ssl_cert_env, tmp_path
):
    """The same 250 to a message 'warmup run' sent: the worker keeps each recipient's reply
    with the message, so the start of the password went into the ledger, and 'queue show'
    and 'queue list' printed it."""
    said = b"250 2.0.0 queued, you logged in with %s\r\n" % SMTP_PASSWORD[:9].encode()
    script = Script(replies={".": said}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        pool_of(server.port, tmp_path, n=1, daily=50)
        mid = Outbox(open_ledger()).add(plain("lead@example.com"), pool="P")
        res = cli("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    shown = cli("queue", "show", str(mid), "--json").stdout + cli("queue", "list", "--json").stdout
    assert json.loads(cli("queue", "list", "--json").stdout)[0]["state"] == "sent"
    assert "you logged in with ***" in shown, shown
    assert SMTP_PASSWORD[:8] not in shown + res.stdout + res.stderr
    assert SMTP_PASSWORD[:8].encode() not in _stored(Path(os.environ["WARMUP_DB"]))
