"""``Gate.send`` and ``Outbox.add`` given an :class:`email.message.EmailMessage` read its text as
they read bytes: 8-bit text that names no charset goes out declared UTF-8, and such text in
another charset (GBK) is refused before anything is reserved or queued, with the error the
bytes path raises. The object path skipped the refusal: a script that parsed a GBK file
(``email.message_from_bytes``) and handed over the object sent it undeclared, mojibake in
every recipient's client, a slot spent."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from tests.gatekit import BOX, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import free_port
from tests.test_charset_declared import (
    BODY,
    GBK,
    GBK_PART,
    GBK_PLAIN,
    MIXED,
    PLAIN,
    UNDECLARED,
    check_mixed,
)
from tests.test_relay import ledger_sends
from warmup import Gate, Outbox, open_ledger
from warmup.errors import DataError
from warmup.headers import MalformedBody


@pytest.fixture
def box(smtp_ssl, ssl_cert_env, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(smtp_ssl.port, imap_port=free_port())


def parsed(raw: bytes) -> EmailMessage:
    """``raw`` as a script holds it after reading a file: the email package's object."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def built_gbk() -> EmailMessage:
    """A message a script builds around text it has as GBK bytes, naming no charset."""
    msg = EmailMessage()
    msg["To"] = "lead@example.cn"
    msg["Subject"] = "offer"
    msg["Content-Type"] = "text/plain"
    msg.set_payload(BODY.encode("gbk"))
    return msg


@pytest.mark.parametrize("eightbitmime", [True, False], ids=["8bitmime", "7bit-server"])
@pytest.mark.parametrize("what", ["no-content-type", "plain", "parts"])
def test_an_objects_undeclared_utf8_text_arrives_declared(
    box, smtp_ssl, ledger_path, what, eightbitmime
):
    smtp_ssl.eightbitmime = eightbitmime
    raw = {"no-content-type": UNDECLARED, "plain": PLAIN, "parts": MIXED}[what]
    with Gate(BOX) as gate:
        report = gate.send(parsed(raw))
    assert report.sent == ["lead@example.cn"]
    [got] = smtp_ssl.messages
    assert ("BODY=8BITMIME" in got.mail_options) == eightbitmime
    if what == "parts" and eightbitmime:
        check_mixed(got.raw)
        return
    charsets = [p.get_content_charset() for p in got.message.walk() if not p.is_multipart()]
    assert charsets == (["utf-8"] if what != "parts" else ["utf-8", "utf-8", "utf-8", None])
    text = next(p for p in got.message.walk() if not p.is_multipart()).get_content()
    assert text.replace("\r\n", "\n").rstrip("\n") == BODY.rstrip("\n")
    assert got.raw.isascii() != eightbitmime


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (lambda: parsed(GBK), "the body is 8-bit text that is not UTF-8 (byte 0xcd at octet "),
        (lambda: parsed(GBK_PLAIN), "the body is 8-bit text that is not UTF-8 (byte 0xcd"),
        (lambda: parsed(GBK_PART), "a MIME part's body is 8-bit text that is not UTF-8 (byte "),
        (built_gbk, "the body is 8-bit text that is not UTF-8 (byte 0xcd at octet "),
    ],
    ids=["no-content-type", "plain", "part", "built"],
)
def test_an_objects_undeclared_text_in_another_charset_is_refused_as_its_bytes_are(
    box, smtp_ssl, ledger_path, message, said
):
    """The same error as for the message's bytes (:class:`MalformedBody`, a DataError: exit
    65 for the CLI), nothing reserved, no connection to the server; declared, it goes."""
    with Gate(BOX) as gate:
        with pytest.raises(MalformedBody) as raised:
            gate.send(message())
        assert str(raised.value).startswith(said), raised.value
        assert "(Content-Type: text/plain; charset=gbk)" in str(raised.value)
        with pytest.raises(MalformedBody):  # the bytes path: the same class
            gate.send(GBK)
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []
    declared = message()
    for part in declared.walk():
        if part.get_content_maintype() == "text":
            part.set_param("charset", "gbk")
    with Gate(BOX) as gate:
        assert gate.send(declared).sent == ["lead@example.cn"]
    [got] = smtp_ssl.messages
    text = next(p for p in got.message.walk() if not p.is_multipart()).get_content()
    assert text.replace("\r\n", "\n").rstrip("\n") == BODY.rstrip("\n")


def queue_refusal(message: EmailMessage) -> str:
    """What ``Outbox.add`` says refusing ``message`` (a DataError), nothing queued."""
    ledger = open_ledger()
    try:
        with pytest.raises(DataError) as raised:
            Outbox(ledger).add(message, mailbox=BOX)
    finally:
        ledger.close()
    assert cli("queue", "list", "--json").stdout.strip() == "[]"
    return str(raised.value)


def test_the_outbox_refuses_an_objects_undeclared_text_in_another_charset(box, ledger_path):
    """``Outbox.add`` refuses it as it refuses the bytes (a DataError): nothing queued."""
    assert "the body is 8-bit text that is not UTF-8" in queue_refusal(parsed(GBK))


def text_object(part: bool) -> EmailMessage:
    """A script's message whose text is a ``str`` given with ``set_payload`` and no charset:
    the email package cannot write it (a UnicodeEncodeError deep in flattening); ``part``: as
    a MIME part's."""
    msg = EmailMessage()
    msg["To"] = "lead@example.cn"
    msg["Subject"] = "offer"
    if not part:
        msg.set_payload(BODY)
        return msg
    msg.set_content("see the part")
    text = EmailMessage()
    text.set_payload(BODY)
    msg.make_mixed()
    msg.attach(text)
    return msg


@pytest.mark.parametrize("part", [False, True], ids=["body", "part"])
def test_an_objects_text_payload_with_no_charset_is_the_bodys_fault(
    box, smtp_ssl, ledger_path, part
):
    """Refused as a body that cannot go (:class:`MalformedBody`), saying how to give it: it was
    "the message's one header cannot be read" though every header was fine. Nothing reserved
    or queued, no connection; written as it says, it goes."""
    where = "a MIME part's" if part else "the message's"
    with Gate(BOX) as gate:
        with pytest.raises(MalformedBody) as raised:
            gate.send(text_object(part))
    said = str(raised.value)
    assert said.startswith(f"{where} body is text with non-ASCII characters"), said
    assert "set_content(" in said and "charset" in said and "header" not in said
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []
    assert f"{where} body is text with non-ASCII characters" in queue_refusal(text_object(part))
    fixed = text_object(part)
    target = next(p for p in fixed.walk() if p.get_payload() == BODY)
    target.set_content(BODY)
    with Gate(BOX) as gate:
        assert gate.send(fixed).sent == ["lead@example.cn"]
    [got] = smtp_ssl.messages
    texts = [p.get_content() for p in got.message.walk() if not p.is_multipart()]
    assert BODY.rstrip("\n") in [t.replace("\r\n", "\n").rstrip("\n") for t in texts]


def test_a_multipart_whose_8bit_body_holds_no_part_is_said_to_lack_its_parts(
    box, smtp_ssl, ledger_path, tmp_path
):
    """A message saying multipart/alternative whose 8-bit body has no line opening a part was
    refused with "no charset ... set_payload(text)": advice for a Python object, given for a
    file, and about a charset that is not what is wrong. It names the missing boundary line,
    for the file (exit 65), the parsed message to the gate and to the outbox alike."""
    raw = (
        f"From: {BOX}\r\nTo: lead@example.cn\r\nSubject: hi\r\n"
        "Content-Type: multipart/alternative; boundary=b1\r\n\r\n正文\r\n"
    ).encode()
    said = "the message's Content-Type is multipart/alternative, but its body holds no part"
    eml = tmp_path / "m.eml"
    eml.write_bytes(raw)
    res = cli("queue", "add", "--eml", str(eml), "--mailbox", BOX)
    assert res.returncode == 65 and "(no line '--b1' opens one)" in res.stderr, res.stderr
    assert said in res.stderr and "set_payload" not in res.stderr, res.stderr
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert said in queue_refusal(message)
    with Gate(BOX) as gate, pytest.raises(MalformedBody, match=said):
        gate.send(message)
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []
