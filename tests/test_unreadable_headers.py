"""A header Python's own email parser cannot read is the message's fault: exit 65, one line
naming the header, nothing reserved, queued or sent — not a traceback.

The standard library's writer folds a long address list with a group after an encoded comma
(``=?utf-8?q?=2C?=``); reading that header back, its header registry raises
``AttributeError: 'Group' object has no attribute 'local_part'`` (found by the hypothesis test
in test_gate_headers.py). A script that built its message with the stdlib and wrote it to a file
gets exactly such a header.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import BOX, add_box

BROKEN_LIST = (
    "a@example.com,\n"
    " Team: =?utf-8?q?Zo=C3=AB_M=C3=BCller?= <b@example.com>;,\n"
    ' "Doe, John" <c@example.com>, undisclosed-recipients: Jo <d@example.com>;\n'
    " =?utf-8?q?=2C?= e@example.com"
)


def _registry_fails(name: str) -> bool:
    msg = email.message_from_string(f"{name}: {BROKEN_LIST}\n\nx\n", policy=email.policy.default)
    try:
        str(msg[name])
    except AttributeError:
        return True
    return False


pytestmark = pytest.mark.skipif(
    not _registry_fails("To"), reason="this Python's email parser reads the header"
)


def _eml(tmp_path, to: str = BROKEN_LIST, sender: str = BOX):
    path = tmp_path / "offer.eml"
    path.write_text(f"From: {sender}\nTo: {to}\nSubject: hi\n\nhello\n")
    return path


def _one_clean_line(res, header: str) -> None:
    assert res.exit_code == 65, res.output
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert f"{header} header cannot be read" in lines[0] and "rewrite it" in lines[0]


def test_send_eml_with_an_unreadable_to_exits_65_and_sends_nothing(
    run, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    add_box(smtp_ssl.port)
    before = ledger_digest(ledger_path)
    res = run("send", BOX, "--eml", str(_eml(tmp_path)))
    _one_clean_line(res, "To")
    assert smtp_ssl.messages == []
    assert ledger_digest(ledger_path) == before


def test_send_eml_with_an_unreadable_from_exits_65(
    run, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    assert _registry_fails("From")
    add_box(smtp_ssl.port)
    before = ledger_digest(ledger_path)
    res = run("send", BOX, "--eml", str(_eml(tmp_path, "lead@example.com", BROKEN_LIST)))
    _one_clean_line(res, "From")
    assert smtp_ssl.messages == []
    assert ledger_digest(ledger_path) == before


def test_queue_add_of_such_an_eml_names_the_file_and_queues_nothing(
    run, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    add_box(smtp_ssl.port)
    before = ledger_digest(ledger_path)
    eml = _eml(tmp_path)
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    _one_clean_line(res, "To")
    assert str(eml) in res.output or eml.name in res.output
    assert ledger_digest(ledger_path) == before


def test_sendmail_t_with_such_headers_exits_65(
    run, smtp_ssl, ssl_cert_env, ledger_path, monkeypatch
):
    add_box(smtp_ssl.port)
    monkeypatch.setenv("WARMUP_MAILBOX", BOX)
    before = ledger_digest(ledger_path)
    res = run("sendmail", "-t", "-i", input=f"To: {BROKEN_LIST}\nSubject: hi\n\nhello\n")
    _one_clean_line(res, "To")
    assert smtp_ssl.messages == []
    assert ledger_digest(ledger_path) == before
