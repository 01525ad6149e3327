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


def sent(run, path: str, raw: bytes, tmp_path):  # type: ignore[no-untyped-def]
    """``raw`` sent by BOX on ``path``: ``send --eml`` (a file, or ``-``: standard input),
    ``sendmail -t``, or ``queue add --eml`` then ``run --once``; the last command's result."""
    eml = tmp_path / "offer.eml"
    eml.write_bytes(raw)
    if path == "send --eml":
        return run("send", BOX, "--eml", str(eml))
    if path == "send --eml -":
        return run("send", BOX, "--eml", "-", input=raw)
    if path == "sendmail":
        return run("sendmail", "-t", "-f", BOX, input=raw)
    assert cli("queue", "add", "--mailbox", BOX, "--eml", str(eml)).returncode == 0
    return run("run", "--once")


PATHS = ["send --eml", "send --eml -", "sendmail", "queue add --eml"]


@pytest.mark.parametrize("eightbitmime", [True, False], ids=["8bitmime", "7bit-server"])
@pytest.mark.parametrize("path", PATHS)
def test_an_undeclared_utf8_body_goes_out_declared(
    box, run, smtp_ssl, tmp_path, path, eightbitmime
):
    smtp_ssl.eightbitmime = eightbitmime
    res = sent(run, path, UNDECLARED, tmp_path)
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


def test_a_declared_charset_is_the_scripts_own():
    # charset=gbk is right for its bytes (and so is any charset named): never touched.
    gbk = b"To: a@x.cn\r\nContent-Type: text/plain; charset=gbk\r\n\r\n" + BODY.encode("gbk")
    from warmup.downgrade import declared, for_server

    assert declared(gbk) == gbk
    assert for_server(gbk, eightbitmime=True, smtputf8=True) == (gbk, " BODY=8BITMIME")


# A text/* Content-Type without charset= is us-ascii as much as none at all (RFC 2045 5.2): a
# script writing "Content-Type: text/plain" over a UTF-8 body went out undeclared.
PLAIN = b"To: lead@example.cn\nSubject: offer\nContent-Type: text/plain\n\n" + BODY.encode()
# A multipart/alternative whose parts name no charset, a third part (no Content-Type at all)
# and an ASCII one that need nothing; preamble and epilogue as written.
MIXED = (
    b'To: lead@example.cn\nSubject: offer\nMIME-Version: 1.0\nContent-Type: multipart/mixed; '
    b'boundary="=b1"\n\nThis is a MIME message.\n--=b1\nContent-Type: text/plain; '
    b"format=flowed\nContent-Transfer-Encoding: 8bit\n\n" + BODY.encode() + b"--=b1\n"
    b"Content-Type: text/html\n\n<p>" + BODY.encode() + b"</p>\n--=b1\n\n" + BODY.encode()
    + b"--=b1\nContent-Type: text/plain\n\nASCII only\n--=b1--\nepilogue\n"
)  # fmt: skip
MIXED_DECLARED = (
    MIXED.replace(b"format=flowed\n", b"format=flowed; charset=utf-8\n")
    .replace(b"text/html\n", b"text/html; charset=utf-8\n")
    .replace(
        b"--=b1\n\n",
        b"--=b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
    )
)


@pytest.mark.parametrize(
    ("raw", "out"),
    [
        (PLAIN, PLAIN.replace(b"text/plain\n", b"text/plain; charset=utf-8\n")),
        # its other parameters kept, a trailing ';' not doubled, CRLF lines kept
        (b"To: a@x.cn\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n\r\n"
         + BODY.encode(),
         b"To: a@x.cn\r\nContent-Type: text/plain; format=flowed; delsp=yes; charset=utf-8\r\n"
         b"\r\n" + BODY.encode()),
        (b"To: a@x.cn\r\nContent-Type: text/plain;\r\n\r\n" + BODY.encode(),
         b"To: a@x.cn\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + BODY.encode()),
        # a line that would grow past 78 characters: the charset on one of its own
        (b"To: a@x.cn\r\nContent-Type: text/plain; name=\"" + b"n" * 50 + b".txt\"\r\n\r\n"
         + BODY.encode(),
         b"To: a@x.cn\r\nContent-Type: text/plain; name=\"" + b"n" * 50 + b".txt\";\r\n "
         b"charset=utf-8\r\n\r\n" + BODY.encode()),
        (MIXED, MIXED_DECLARED),
        # declared in the HTML itself, which clients read: left alone
        (b"To: a@x.cn\nContent-Type: text/html\n\n<meta charset=utf-8><p>"
         + BODY.encode(), None),
        # an attached message is its sender's, as it came
        (b"To: a@x.cn\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: "
         b"message/rfc822\n\nSubject: x\n\n" + BODY.encode() + b"--b--\n", None),
        # signed: a parameter added under the signature breaks it
        (b"DKIM-Signature: v=1; h=from:content-type; bh=x; b=y\n" + PLAIN, None),
    ],
    ids=["plain", "params-kept", "trailing-semicolon", "folded", "parts", "html-meta",
         "attached-message", "dkim"],
)  # fmt: skip
def test_a_text_type_without_charset_gets_charset_utf8_and_nothing_else(raw, out):
    from warmup.downgrade import declared, for_server

    assert declared(raw) == (raw if out is None else out)
    assert for_server(raw, eightbitmime=True, smtputf8=True) == (
        raw if out is None else out,
        " BODY=8BITMIME",
    )


def check_mixed(raw: bytes) -> None:
    """``raw`` as a recipient reads it: each text part UTF-8, and its MIME body (from the
    preamble to the epilogue) as MIXED_DECLARED's, byte for byte (CRLF lines)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    charsets = [p.get_content_charset() for p in msg.walk() if not p.is_multipart()]
    assert charsets == ["utf-8", "utf-8", "utf-8", None], raw
    body = MIXED_DECLARED.split(b"\n\n", 1)[1].replace(b"\n", b"\r\n")
    assert raw.endswith(b"\r\n\r\n" + body), raw


@pytest.mark.parametrize("what", ["plain", "parts"])
@pytest.mark.parametrize("path", PATHS)
def test_a_text_type_without_charset_goes_out_declared_on_every_path(
    box, run, smtp_ssl, tmp_path, path, what
):
    res = sent(run, path, PLAIN if what == "plain" else MIXED, tmp_path)
    assert res.exit_code == 0, res.output
    [got] = smtp_ssl.messages
    assert "BODY=8BITMIME" in got.mail_options
    if what == "plain":
        assert got.message.get_content_charset() == "utf-8"
        # the script's fields and body as written, the charset added (From, Date, Message-ID
        # added around them where the message had none)
        head = b"To: lead@example.cn\r\nSubject: offer\r\nContent-Type: text/plain; charset=utf-8"
        assert head + b"\r\n" in got.raw, got.raw
        assert got.raw.endswith(b"\r\n\r\n" + BODY.replace("\n", "\r\n").encode()), got.raw
        assert got.message.get_content().replace("\r\n", "\n") == BODY
    else:
        check_mixed(got.raw)


@pytest.mark.parametrize("eightbitmime", [True, False], ids=["8bitmime", "7bit-server"])
@pytest.mark.parametrize("what", ["plain", "parts"])
def test_the_relay_declares_a_text_type_without_charset(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    what,
    eightbitmime,
):
    raw = (PLAIN if what == "plain" else MIXED).replace(b"\n", b"\r\n")
    got = relayed(relay, smtp_ssl, raw, eightbitmime=eightbitmime)
    msg = got.message
    charsets = [p.get_content_charset() for p in msg.walk() if not p.is_multipart()]
    assert charsets == (["utf-8"] if what == "plain" else ["utf-8", "utf-8", "utf-8", None])
    texts = [p.get_content() for p in msg.walk() if not p.is_multipart()]
    assert texts[0].replace("\r\n", "\n").rstrip("\n") == BODY.rstrip("\n")
    if not eightbitmime:  # made 7-bit, declared as it was before
        assert got.raw.isascii()
    elif what == "plain":  # the script's bytes, the charset added: the rest as they came
        declared = raw.replace(b"text/plain\r\n", b"text/plain; charset=utf-8\r\n")
        assert got.raw.endswith(declared.split(b"\r\n", 1)[1]), got.raw
    else:
        check_mixed(got.raw)


# The same GBK text a script forgot to declare, with "Content-Type: text/plain" and as a part.
GBK_PLAIN = GBK.replace(b"\n\n", b"\nContent-Type: text/plain\n\n", 1)
GBK_PART = (
    b"To: lead@example.cn\nSubject: offer\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
    b"Content-Type: text/plain\n\n" + BODY.encode("gbk") + b"--b--\n"
)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (GBK_PLAIN, "the body is 8-bit text that is not UTF-8 (byte 0xcd at octet {at}: GBK? "
         "Latin-1?) and the message declares no charset"),
        (GBK_PART, "a MIME part's body is 8-bit text that is not UTF-8 (byte 0xcd at octet {at}: "
         "GBK? Latin-1?) and the part declares no charset"),
    ],
    ids=["plain", "part"],
)  # fmt: skip
def test_a_text_type_without_charset_over_another_charset_is_refused_as_no_content_type_is(
    box, run, smtp_ssl, tmp_path, ledger_path, raw, said
):
    said = said.format(at=raw.index(b"\xcd"))
    eml = tmp_path / "gbk.eml"
    eml.write_bytes(raw)
    for res in (
        run("send", BOX, "--eml", str(eml)),
        run("send", BOX, "--eml", "-", input=raw),
        run("sendmail", "-t", "-f", BOX, input=raw),
        run("queue", "add", "--mailbox", BOX, "--eml", str(eml)),
    ):
        assert res.exit_code == 65, res.output
        assert said in res.output and len(res.output.splitlines()) == 1, res.output
    assert cli("queue", "list", "--json").stdout.strip() == "[]"
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


def test_the_relay_refuses_a_text_part_without_charset_in_another_charset(
    relay,  # noqa: F811 (the fixture imported above)
    smtp_ssl,
    ledger_path,
):
    server = relay()
    for raw in (GBK_PLAIN, GBK_PART):
        code, text = submit(server, raw.replace(b"\n", b"\r\n"), ("lead@example.cn",))
        assert code == 550, text
        assert text.startswith("5.6.0 ") and "is 8-bit text that is not UTF-8" in text, text
    assert smtp_ssl.connections == 0 and ledger_sends(ledger_path) == []


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


def test_an_ideograph_is_told_by_its_code_point_at_every_blocks_edge():
    """The GBK guess counts CJK ideographs by code point (a regex class of the same blocks cost
    ~2.5 ms to compile at every start): each block's first and last are ideographs, the code
    points around them are not, and GBK text is still told from Latin-1."""
    from warmup.words import _IDEOGRAPHS, _ideograph, _looks_gbk

    for low, high in _IDEOGRAPHS:
        assert _ideograph(chr(low)) and _ideograph(chr(high)) and _ideograph(chr(low) + "a")
        assert not _ideograph(chr(low - 1)) and not _ideograph(chr(high + 1))
    assert not _ideograph("") and not _ideograph("a中")
    assert _looks_gbk(BODY.encode("gbk")) and not _looks_gbk("Jörg Müller, Grüße".encode("latin-1"))
