"""8-bit text that declares no charset goes out declared UTF-8, on every send path.

A message with no Content-Type is text/plain; charset=us-ascii (RFC 2045 5.2). A UTF-8 body
without MIME headers (``printf 'Subject: x\\n\\n您好' | sendmail``, an .eml a script wrote)
went out under BODY=8BITMIME with nothing declared, and a recipient's client could show it as
mojibake; ``charset=utf-8`` was added only when the server lacked 8BITMIME (the body then
re-encoded quoted-printable). A body in another 8-bit charset cannot be declared (which one it
is cannot be told from the bytes): it is refused before anything is reserved, as a header in
one is.
"""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.gatekit import BOX, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Received, free_port
from tests.test_relay import ledger_sends, relay, submit  # noqa: F401 (fixture)

BODY = "王先生您好，附件是报价。\n"
UNDECLARED = f"To: lead@example.cn\nSubject: 报价\n\n{BODY}".encode()
GBK = b"To: lead@example.cn\nSubject: offer\n\n" + BODY.encode("gbk")


@pytest.fixture
def box(smtp_ssl, ssl_cert_env, monkeypatch):
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(smtp_ssl.port, imap_port=free_port())


def check_declared(raw: bytes, eightbitmime: bool) -> None:
    """What a recipient's client reads: UTF-8 declared, the body as written; 8-bit data only
    with BODY=8BITMIME, quoted-printable otherwise."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Content-Transfer-Encoding"] == ("8bit" if eightbitmime else "quoted-printable")
    assert msg.get_content().replace("\r\n", "\n") == BODY


@pytest.mark.parametrize("eightbitmime", [True, False], ids=["8bitmime", "7bit-server"])
@pytest.mark.parametrize("path", ["send --eml", "send --eml -", "sendmail", "queue add --eml"])
def test_an_undeclared_utf8_body_goes_out_declared(
    box, run, smtp_ssl, tmp_path, path, eightbitmime
):
    smtp_ssl.eightbitmime = eightbitmime
    eml = tmp_path / "offer.eml"
    eml.write_bytes(UNDECLARED)
    if path == "send --eml":
        res = run("send", BOX, "--eml", str(eml))
    elif path == "send --eml -":
        res = run("send", BOX, "--eml", "-", input=UNDECLARED)
    elif path == "sendmail":
        res = run("sendmail", "-t", "-f", BOX, input=UNDECLARED)
    else:
        assert cli("queue", "add", "--mailbox", BOX, "--eml", str(eml)).returncode == 0
        res = run("run", "--once")
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert ("BODY=8BITMIME" in got.mail_options) == eightbitmime
    check_declared(got.raw, eightbitmime)


def relayed(start, smtp_ssl, raw: bytes, **offers: bool) -> Received:
    """What the sink got of ``raw``, submitted to a relay for BOX (``start``: the relay
    fixture) while the sink offers (or not) the extensions named in ``offers``
    (``eightbitmime``, ``smtputf8``)."""
    server = start()
    for name, offered in offers.items():
        setattr(smtp_ssl, name, offered)
    assert submit(server, raw, ("lead@example.cn",)) == (250, "")
    [got] = smtp_ssl.messages
    return got


@pytest.mark.parametrize("eightbitmime", [True, False], ids=["8bitmime", "7bit-server"])
def test_the_relay_declares_an_undeclared_utf8_body_and_keeps_the_scripts_fields(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    eightbitmime,
):
    raw = UNDECLARED.replace(b"\n", b"\r\n")
    got = relayed(relay, smtp_ssl, raw, eightbitmime=eightbitmime)
    check_declared(got.raw, eightbitmime)
    if eightbitmime:  # the script's bytes as they came (raw UTF-8 Subject: SMTPUTF8 offered)
        head, _, body = raw.partition(b"\r\n\r\n")
        assert got.raw.split(b"\r\n\r\n")[0].startswith(b"From: ")
        assert head in got.raw and got.raw.endswith(b"\r\n\r\n" + body)


@pytest.mark.parametrize("smtputf8", [True, False])
def test_a_raw_utf8_subject_over_an_ascii_body_is_declared_where_it_stays_raw(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    smtputf8,
):
    # With SMTPUTF8 the Subject goes as the script wrote it; a client that reads raw 8-bit
    # headers in the body's charset (us-ascii, undeclared) showed it garbled. Without, it goes
    # as RFC 2047 words, which carry their charset: the message is ASCII, nothing is added.
    raw = "To: lead@example.cn\r\nSubject: 报价\r\n\r\nHello\r\n".encode()
    got = relayed(relay, smtp_ssl, raw, smtputf8=smtputf8)
    assert ("SMTPUTF8" in got.mail_options) == smtputf8
    assert str(got.message["Subject"]) == "报价"
    assert (b"Subject: \xe6\x8a\xa5\xe4\xbb\xb7\r\n" in got.raw) == smtputf8
    charset = got.message.get_content_charset()
    assert charset == ("utf-8" if smtputf8 else None), got.raw
    assert got.message["Content-Transfer-Encoding"] is None  # the body is ASCII: 7bit


def test_a_dkim_signed_message_goes_byte_for_byte(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
):
    # A script that signs its own mail: a Content-Type added under the signature (most signers
    # sign it, present or not) makes the signature fail at the recipient.
    raw = (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=corp.example; s=s1; h=from:to:subject:date:"
        b"message-id:mime-version:content-type; bh=x; b=y\r\n"
        + f"From: {BOX}\r\nTo: lead@example.cn\r\nSubject: offer\r\n".encode()
        + b"Date: Tue, 01 Dec 2026 09:00:00 +0000\r\nMessage-ID: <signed.1@corp.example>\r\n\r\n"
        + BODY.replace("\n", "\r\n").encode()
    )
    assert relayed(relay, smtp_ssl, raw).raw == raw


def test_a_declared_content_type_is_the_scripts_own():
    # charset=gbk is right for its bytes; a Content-Type without charset is the script's to
    # fix (adding a parameter rewrites its field): neither is touched.
    gbk = b"To: a@x.cn\r\nContent-Type: text/plain; charset=gbk\r\n\r\n" + BODY.encode("gbk")
    bare = b"To: a@x.cn\r\nContent-Type: text/plain\r\n\r\n" + BODY.encode()
    from warmup.downgrade import declared, for_server

    for raw in (gbk, bare):
        assert declared(raw) == raw
        assert for_server(raw, eightbitmime=True, smtputf8=True) == (raw, " BODY=8BITMIME")


@pytest.mark.parametrize(
    ("raw", "added"),
    [
        # LF lines stay LF lines (dot_stuff makes them CRLF on the wire)
        (b"To: a@x.cn\n\n" + BODY.encode(), b"MIME-Version: 1.0\nContent-Type: text/plain; "
         b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n"),
        # a MIME-Version and an encoding given are kept, not doubled
        (b"To: a@x.cn\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
         + BODY.encode(), b"Content-Type: text/plain; charset=utf-8\r\n"),
        # headers only: the raw Subject declared, the message still ends after its fields
        ("To: a@x.cn\r\nSubject: 报价".encode(), b"\r\nMIME-Version: 1.0\r\nContent-Type: "
         b"text/plain; charset=utf-8\r\n"),
    ],
    ids=["lf", "mime-version-given", "headers-only"],
)  # fmt: skip
def test_declared_adds_after_the_fields_what_is_missing(raw, added):
    from warmup.downgrade import declared

    out = declared(raw)
    head, sep, body = raw.partition(b"\n\n" if b"\r" not in raw else b"\r\n\r\n")
    if sep:
        assert out == head + sep[: len(sep) // 2] + added + sep[len(sep) // 2 :] + body
    else:
        assert out == raw + added


SAID = "the body is 8-bit text that is not UTF-8 (byte 0xcd at octet 36: GBK? Latin-1?)"


def test_an_undeclared_body_in_another_charset_cannot_be_declared_so_it_is_refused(
    box, run, smtp_ssl, tmp_path, ledger_path
):
    eml = tmp_path / "gbk.eml"
    eml.write_bytes(GBK)
    for res in (
        run("send", BOX, "--eml", str(eml)),
        run("send", BOX, "--eml", "-", input=GBK),
        run("sendmail", "-t", "-f", BOX, input=GBK),
    ):
        assert res.exit_code == 65, res.output
        assert res.output.startswith(f"Error: {SAID}"), res.output
        assert res.output.endswith("(Content-Type: text/plain; charset=gbk)\n")
        assert len(res.output.splitlines()) == 1
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.exit_code == 65 and SAID in res.output, res.output
    assert len(res.output.splitlines()) == 1
    assert cli("queue", "list", "--json").stdout.strip() == "[]"
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []
    # declared, it goes as it is
    declared_gbk = GBK.replace(b"\n\n", b"\nContent-Type: text/plain; charset=gbk\n\n", 1)
    res = run("send", BOX, "--eml", "-", input=declared_gbk)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.message.get_content().replace("\r\n", "\n") == BODY


def test_the_relay_refuses_an_undeclared_body_in_another_charset(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    ledger_path,
):
    code, text = submit(relay(), GBK.replace(b"\n", b"\r\n"), ("lead@example.cn",))
    assert code == 550, text
    assert text.startswith("5.6.0 the body is 8-bit text that is not UTF-8 (byte 0xcd"), text
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


def test_send_builds_a_declared_message(box, run, smtp_ssl):
    res = run("send", BOX, "--to", "lead@example.cn", "--subject", "报价", "--body", BODY)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert got.message.get_content_charset() == "utf-8"
    assert got.message.get_content().replace("\r\n", "\n") == BODY
