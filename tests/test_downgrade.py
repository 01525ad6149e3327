"""warmup.downgrade: what a server without 8BITMIME / SMTPUTF8 is sent."""

from __future__ import annotations

import pytest

from tests.test_relay import ledger_sends, relay, submit  # noqa: F401 (fixture)
from warmup.downgrade import for_server

HEAD = b"To: lead@example.com\r\nMIME-Version: 1.0\r\n"
# An attachment whose file name a script wrote in raw UTF-8 (its MIME part's header is body
# data: SMTPUTF8 does not cover it, only 8BITMIME does).
UTF8_FILENAME = (
    HEAD
    + b'Subject: report\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    + b"Content-Type: text/plain\r\n\r\nsee the attachment\r\n--b1\r\n"
    + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    + 'Content-Disposition: attachment; filename="季度报告.pdf"\r\n\r\nJVBERi0=\r\n--b1--\r\n'.encode()
)
# 8-bit text in a multipart's preamble (before the first boundary).
UTF8_PREAMBLE = (
    HEAD
    + b'Subject: report\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    + "本邮件为 MIME 格式\r\n".encode()
    + b"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n"
)
# A part that declares quoted-printable and holds raw UTF-8 (the encoding named, not applied).
UTF8_QP = (
    HEAD
    + b"Subject: report\r\nContent-Type: text/plain; charset=utf-8\r\n"
    + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    + "您好 =E2=9C=93\r\n".encode()
)
# A script's broken multipart (no boundary parameter) with a raw UTF-8 Subject.
NO_BOUNDARY = HEAD + "Subject: 季度报告\r\nContent-Type: multipart/mixed\r\n\r\n您好\r\n".encode()
# ... and one whose only part has no close delimiter (readers show the part), raw UTF-8 too.
NO_CLOSE = (
    HEAD
    + "Subject: 季度报告\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n".encode()
    + "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n您好\r\n".encode()
)


@pytest.mark.parametrize(
    "raw",
    [
        UTF8_FILENAME,
        UTF8_PREAMBLE,
        UTF8_QP,
    ],
    ids=["filename", "preamble", "declared-qp"],
)
def test_no_8bit_byte_goes_to_a_server_without_8bitmime(raw):
    # RFC 6152: a client must not send 8-bit data to a server that did not offer 8BITMIME.
    for smtputf8 in (False, True):
        data, params = for_server(raw, eightbitmime=False, smtputf8=smtputf8)
        head, _, body = data.partition(b"\r\n\r\n")
        assert body.isascii(), body
        assert "BODY=8BITMIME" not in params


@pytest.mark.parametrize("eightbitmime", [False, True])
def test_for_server_never_raises_on_what_the_relay_let_through(eightbitmime):
    # Session.send calls it after the gate reserved the slots: an exception settles them
    # 'unknown' (counted, the message waits for a person) though nothing left.
    data, params = for_server(NO_BOUNDARY, eightbitmime=eightbitmime, smtputf8=False)
    assert "SMTPUTF8" not in params  # not offered: never named


def test_the_relay_delivers_a_broken_multipart_to_a_server_without_smtputf8(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    ledger_path,
):
    server = relay()
    smtp_ssl.smtputf8 = False  # 8BITMIME offered, SMTPUTF8 not: most servers
    code, text = submit(server, NO_CLOSE)
    assert code == 250, (code, text)
    assert len(smtp_ssl.messages) == 1
    assert "unknown" not in [o for _, _, o in ledger_sends(ledger_path)]
    # one naming no boundary holds no part a reader can find: refused before any slot
    code, text = submit(server, NO_BOUNDARY)
    assert code // 100 == 5 and "names no boundary" in text, (code, text)
    assert len(smtp_ssl.messages) == 1 and len(ledger_sends(ledger_path)) == 1


def test_the_relay_sends_no_8bit_file_name_to_a_server_without_8bitmime(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
):
    server = relay()
    smtp_ssl.eightbitmime = False
    smtp_ssl.smtputf8 = False
    assert submit(server, UTF8_FILENAME)[0] == 250
    [got] = smtp_ssl.messages
    assert got.raw.isascii(), got.raw
    [_, pdf] = got.message.iter_parts()
    assert pdf.get_filename() == "季度报告.pdf"


# An attachment's file name a Windows script wrote in GBK (its MIME part's header: body data).
GBK_FILENAME = (
    HEAD
    + b'Subject: report\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    + b"Content-Type: text/plain\r\n\r\nsee the attachment\r\n--b1\r\n"
    + b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
    + 'Content-Disposition: attachment; filename="季度报告.pdf"\r\n\r\nJVBERi0=\r\n'.encode("gbk")
    + b"--b1--\r\n"
)
# A part that declares base64 and holds the raw bytes (the encoding named, never applied).
RAW_BASE64 = (
    HEAD
    + b'Subject: report\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    + b"Content-Type: text/plain\r\n\r\nsee the attachment\r\n--b1\r\n"
    + b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
    + b'Content-Disposition: attachment; filename="logo.png"\r\n\r\n'
    + b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\r\n--b1--\r\n"
)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (GBK_FILENAME, "5.6.0 header Content-Disposition of a MIME part is not UTF-8"),
        (RAW_BASE64, "5.6.0 a MIME part declared Content-Transfer-Encoding: base64 holds raw"),
    ],
    ids=["gbk-part-header", "raw-base64"],
)
@pytest.mark.parametrize("eightbitmime", [False, True])
def test_8bit_part_data_no_encoding_can_fix_is_refused_before_anything_is_reserved(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    ledger_path,
    raw,
    words,
    eightbitmime,
):
    """Both went to a server without 8BITMIME as raw 8-bit bytes (RFC 6152: a client must
    not), and to any server as data no reader decodes (GBK read as UTF-8; base64 decoders drop
    every byte outside its alphabet, RFC 2045 6.8). Neither can be made 7-bit faithfully (the
    charset cannot be told; what the raw bytes were meant to be cannot either), so the relay
    refuses it, as it refuses a GBK Subject: a 550 to its client, nothing reserved or sent."""
    server = relay()
    smtp_ssl.eightbitmime = eightbitmime
    smtp_ssl.smtputf8 = False
    code, text = submit(server, raw)
    assert code == 550, (code, text)
    assert text.startswith(words), text
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0
    assert ledger_sends(ledger_path) == []


def test_a_raw_base64_part_is_refused_by_send_and_queue_too(
    run, smtp_ssl, ssl_cert_env, ledger_path, tmp_path, monkeypatch
):
    from tests.conftest import ledger_digest
    from tests.gatekit import BOX, add_box
    from tests.peers.fixtures import SMTP_PASSWORD

    add_box(smtp_ssl.port)
    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    eml = tmp_path / "m.eml"
    eml.write_bytes(RAW_BASE64)
    before = ledger_digest(ledger_path)
    said = "a MIME part declared Content-Transfer-Encoding: base64 holds raw 8-bit bytes"
    res = run("send", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {said}") and res.output.count("\n") == 1, res.output
    res = run("queue", "add", "--mailbox", BOX, "--eml", str(eml))
    assert res.exit_code == 65, res.output
    assert res.output.startswith(f"Error: {eml}: {said}") and res.output.count("\n") == 1
    assert smtp_ssl.messages == [] and smtp_ssl.connections == 0
    assert ledger_digest(ledger_path) == before


@pytest.mark.parametrize(
    "head",
    [
        b"To: lead@example.com\r\nSubject: hi\r\n",  # no MIME header at all (a script's .eml)
        b"To: lead@example.com\r\nContent-Type: text/plain\r\n",  # no charset: us-ascii
    ],
)
def test_a_utf8_body_made_7bit_is_declared_mime_utf8_so_it_reads_back(head):
    # Made quoted-printable without MIME-Version (RFC 2045: without it, nothing says the body
    # is encoded: "=E6=82=A8" is what a strict reader shows) nor a charset (us-ascii by
    # default: each Chinese character read back as replacement characters).
    import email
    import email.policy

    data, params = for_server(head + "\r\n您好\r\n".encode(), eightbitmime=False, smtputf8=False)
    assert data.isascii() and params == ""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content().rstrip() == "您好"
