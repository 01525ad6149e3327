"""The SMTP reply reader (``smtpconnect._Timed.getreply``), edge by edge: a reply is checked as
RFC 5321 4.2 writes one (a code from 2xx to 5xx, then a space, a hyphen or the line's end; every
line the same code; at most REPLY_MAX bytes in all) and cleaned of the login's secret. The common
reply, one line, is told by a look-up of its first four bytes, the rest line by line: each edge
that look-up touches is pinned here, so that it never takes what the line-by-line check refuses,
nor answers otherwise than it. Real peers: a scripted server on 127.0.0.1 speaking implicit TLS,
the reply read after a real login (AUTH PLAIN, the fixtures' password)."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.gatekit import BOX
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import Script, ScriptedServer
from tests.peers.tls import TestPKI
from warmup.smtp import BadReply, Session, Target
from warmup.smtpconnect import _LINE_MAX, REPLY_MAX

PLAIN = base64.b64encode(f"\0{BOX}\0{SMTP_PASSWORD}".encode())  # AUTH PLAIN's response


@contextmanager
def _noop_answered(said: bytes, pki: TestPKI) -> Iterator[Session]:
    """A session logged in to a server that answers NOOP with ``said``, its bytes as they are."""
    script = Script(replies={"NOOP": said}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        session = Session(Target(("127.0.0.1",), server.port, "ssl", BOX, SMTP_PASSWORD))
        try:
            yield session
        finally:
            session.close()


def _read(said: bytes, pki: TestPKI) -> tuple[int, bytes]:
    with _noop_answered(said, pki) as session:
        assert session.smtp is not None
        got = session.smtp.docmd("NOOP")
        assert not session.smtp.garbled  # type: ignore[attr-defined]
        return got


def _refused(said: bytes, pki: TestPKI) -> str:
    """The :class:`BadReply` ``said`` is; the connection dropped, the session marked garbled."""
    with _noop_answered(said, pki) as session:
        smtp = session.smtp
        assert smtp is not None
        with pytest.raises(BadReply) as caught:
            smtp.docmd("NOOP")
        assert smtp.garbled and smtp.sock is None  # type: ignore[attr-defined]
        return str(caught.value)


FULL = b"250-" + b"A" * (_LINE_MAX - 6) + b"\r\n"  # a line of _LINE_MAX bytes, more to follow

REPLIES = {
    "one line": (b"250 2.1.0 Ok\r\n", (250, b"2.1.0 Ok")),
    "DATA's 354": (
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        (354, b"End data with <CR><LF>.<CR><LF>"),
    ),
    "lowest code": (b"200 fine\r\n", (200, b"fine")),
    "highest code": (b"599 no\r\n", (599, b"no")),
    "a 4xx": (b"451 4.3.0 try later\r\n", (451, b"4.3.0 try later")),
    "code alone": (b"250\r\n", (250, b"")),
    "code alone, bare LF": (b"250\n", (250, b"")),
    "code and space": (b"250 \r\n", (250, b"")),
    "bare LF": (b"250 2.0.0 OK\n", (250, b"2.0.0 OK")),
    "blanks around the text": (b"250  \t spaced \t \r\n", (250, b"spaced")),
    "CR then text": (b"250\rOK\r\n", (250, b"OK")),
    "UTF-8 text": ("250 2.0.0 已接收 ✓\r\n".encode(), (250, "2.0.0 已接收 ✓".encode())),
    "GBK text": ("550 用户不存在\r\n".encode("gbk"), (550, "用户不存在".encode("gbk"))),
    "Latin-1 text": ("250 reçu\r\n".encode("latin-1"), (250, "reçu".encode("latin-1"))),
    "a line of _LINE_MAX": (
        b"250 " + b"B" * (_LINE_MAX - 6) + b"\r\n",
        (250, b"B" * (_LINE_MAX - 6)),
    ),
    "multi-line": (b"250-first\r\n250-second\r\n250 last\r\n", (250, b"first\nsecond\nlast")),
    "multi-line, bare LF": (b"250-first\n250 last\n", (250, b"first\nlast")),
    "multi-line, empty lines": (b"250-\r\n250\r\n", (250, b"\n")),
    "multi-line 5xx": (
        b"550-5.1.1 no\r\n550 5.1.1 such user\r\n",
        (550, b"5.1.1 no\n5.1.1 such user"),
    ),
    "exactly REPLY_MAX": (
        FULL * 31 + b"250-" + b"A" * (_LINE_MAX - 10) + b"\r\n" + b"250\n",
        (250, b"\n".join([b"A" * (_LINE_MAX - 6)] * 31 + [b"A" * (_LINE_MAX - 10), b""])),
    ),
}


@pytest.mark.parametrize("said,expected", list(REPLIES.values()), ids=list(REPLIES))
def test_a_reply_reads_as_smtplib_reads_it(said, expected, pki, ssl_cert_env):
    """A reply is read as smtplib's ``getreply`` read it: its code, and each line's text from
    the fifth byte on, blanks and line ends stripped, lines joined with LF; its bytes as they
    came, whatever their charset."""
    if said.startswith(FULL):
        assert len(said) == REPLY_MAX
    assert _read(said, pki) == expected


NOT_REPLIES = {
    "no code": b"hello there\r\n",
    "empty line": b"\r\n",
    "bare LF alone": b"\n",
    "code too low": b"199 x\r\n",
    "1xx": b"150 go on\r\n",
    "code too high": b"600 x\r\n",
    "999": b"999 what\r\n",
    "four digits": b"2500 ok\r\n",
    "two digits": b"25 ok\r\n",
    "a space first": b" 250 ok\r\n",
    "a sign first": b"+250 ok\r\n",
    "letter in the code": b"25O ok\r\n",
    "tab after the code": b"250\tok\r\n",
    "underscore in the code": b"2_0 ok\r\n",
    "lines disagree": b"250-2.0.0 OK\r\n550 5.1.1 no\r\n",
    "a later line with no code": b"250-2.0.0 OK\r\nhello there\r\n",
    "a later line with a tab": b"250-2.0.0 OK\r\n250\tok\r\n",
}


@pytest.mark.parametrize("said", list(NOT_REPLIES.values()), ids=list(NOT_REPLIES))
def test_an_answer_that_is_no_reply_drops_the_connection(said, pki, ssl_cert_env):
    assert "no SMTP reply" in _refused(said, pki)


def test_a_reply_one_byte_past_reply_max_is_no_reply(pki, ssl_cert_env):
    """Every line within _LINE_MAX, the whole one byte over REPLY_MAX."""
    said = FULL * 31 + b"250-" + b"A" * (_LINE_MAX - 9) + b"\r\n" + b"250\n"
    assert len(said) == REPLY_MAX + 1
    assert "reply ran past 256 KiB" in _refused(said, pki)


@pytest.mark.parametrize("lines", [1, 2], ids=["one line", "a later line"])
def test_a_line_past_line_max_is_smtplibs_line_too_long(lines, pki, ssl_cert_env):
    """One byte over _LINE_MAX, though it starts as a whole reply: smtplib's own refusal."""
    said = b"250-first\r\n" * (lines - 1) + b"250 " + b"B" * (_LINE_MAX - 5) + b"\r\n"
    with _noop_answered(said, pki) as session:
        smtp = session.smtp
        assert smtp is not None
        with pytest.raises(smtplib.SMTPResponseException) as caught:
            smtp.docmd("NOOP")
        assert (caught.value.smtp_code, caught.value.smtp_error) == (500, "Line too long.")
        assert smtp.sock is None


def test_a_reply_cut_short_is_a_lost_connection(pki, ssl_cert_env):
    """A multi-line reply whose last line never comes (the server closes): smtplib's error."""
    script = Script(replies={"NOOP": b"250-first\r\n", "QUIT": None}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        session = Session(Target(("127.0.0.1",), server.port, "ssl", BOX, SMTP_PASSWORD))
        assert session.smtp is not None
        session.smtp.putcmd("NOOP")
        session.smtp.putcmd("QUIT")  # answered by a close: the reply ends unfinished
        with pytest.raises(smtplib.SMTPServerDisconnected):
            session.smtp.getreply()
        session.close()


QUOTED = {
    "as it is": SMTP_PASSWORD.encode(),
    "AUTH PLAIN": PLAIN,
    "AUTH LOGIN's password": base64.b64encode(SMTP_PASSWORD.encode()),
}
SHAPES = {
    "a 2xx": (b"250 2.0.0 queued, you logged in with %s\r\n", 250),
    "a 354": (b"354 go on, you logged in with %s\r\n", 354),
    "a 5xx": (b"550 5.7.1 refused, you logged in with %s\r\n", 550),
    "a multi-line 2xx": (b"250-2.0.0 queued\r\n250 you logged in with %s\r\n", 250),
    "a multi-line 5xx": (b"550-5.7.1 refused\r\n550 you logged in with %s\r\n", 550),
    "bare LF": (b"250 you logged in with %s\n", 250),
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("form", list(QUOTED.values()), ids=list(QUOTED))
def test_a_reply_quoting_the_login_back_is_cleaned_of_it(shape, form, pki, ssl_cert_env):
    template, code = shape
    got_code, got = _read(template % form, pki)
    assert got_code == code
    assert got.endswith(b"you logged in with ***"), got
    assert SMTP_PASSWORD.encode() not in got and PLAIN not in got


def test_the_same_reply_is_looked_into_each_time(pki, ssl_cert_env):
    """Clean once, a reply quoting the login after it is still cleaned: nothing read before
    lets a later reply through unlooked."""
    said = b"250 2.0.0 OK\r\n"
    with _noop_answered(said, pki) as session:
        smtp = session.smtp
        assert smtp is not None
        for _ in range(3):
            assert smtp.docmd("NOOP") == (250, b"2.0.0 OK")
    quoting = b"250 2.0.0 OK " + SMTP_PASSWORD.encode() + b"\r\n"
    with _noop_answered(quoting, pki) as session:
        smtp = session.smtp
        assert smtp is not None
        for _ in range(3):
            assert smtp.docmd("NOOP") == (250, b"2.0.0 OK ***")
