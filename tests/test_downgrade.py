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
    code, text = submit(server, NO_BOUNDARY)
    assert code == 250, (code, text)
    assert len(smtp_ssl.messages) == 1
    assert "unknown" not in [o for _, _, o in ledger_sends(ledger_path)]


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
