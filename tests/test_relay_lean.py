"""The relay's own reading of a client's DATA and of its deadlines (warmup/relay.py ``_Session``),
against the real relay on loopback and the TLS sink upstream; and the upstream path quoting."""

from __future__ import annotations

import base64
import smtplib
import socket
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import test_relay
from tests.peers.fixtures import SMTP_USER

BOX = SMTP_USER
relay = test_relay.relay  # the relay tests' fixture: start(daily, **Relay options)


class Raw:
    """A client on a bare socket: it writes exactly the bytes it is given, pipelined or not."""

    def __init__(self, server) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=30)
        self.buf = b""
        assert self.reply()[0] == 220
        self.send(b"EHLO client.test\r\n")
        assert self.reply()[0] == 250
        login = base64.b64encode(f"\0{server.user}\0{server.password}".encode())
        self.send(b"AUTH PLAIN " + login + b"\r\n")
        assert self.reply()[0] == 235

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> tuple[int, bytes]:
        """The next reply (its last line's code, all its lines)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError(f"closed after {self.buf!r}")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"\r\n".join(lines)

    def close(self) -> None:
        self.sock.close()


def envelope(rcpt: str = "lead@example.com") -> bytes:
    return f"MAIL FROM:<{BOX}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()


def sends(ledger_path) -> list[tuple[str, str]]:
    con = sqlite3.connect(ledger_path)
    try:
        return con.execute("SELECT recipient, outcome FROM send ORDER BY id").fetchall()
    finally:
        con.close()


def test_dot_stuffed_lines_reach_the_server_as_the_client_meant_them(relay, smtp_ssl):
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    body = b"Subject: dots\r\n\r\n..one dot\r\n...two dots\r\n..\r\nmid.dle .\r\n. \r\n"
    c.send(body + b".\r\n")
    assert c.reply()[0] == 250
    c.close()
    got = smtp_ssl.messages[0].raw
    assert got.endswith(b"\r\n\r\n.one dot\r\n..two dots\r\n.\r\nmid.dle .\r\n \r\n")
    assert b"Subject: dots\r\n" in got


def test_an_empty_message_and_a_message_of_one_header_line(relay, smtp_ssl):
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b".\r\n")  # nothing: the relay adds From, Date and Message-ID, as for any message
    assert c.reply()[0] == 250
    c.send(envelope("second@example.com"))
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: only\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    first, second = (m.message for m in smtp_ssl.messages)
    assert first["From"] == BOX and first["Message-ID"] and first.get_payload() == ""
    assert second["Subject"] == "only"


def test_client_pipelining_envelope_data_and_quit_gets_every_reply_in_order(
    relay, smtp_ssl, ledger_path
):
    server = relay(50)
    c = Raw(server)
    c.send(envelope() + b"Subject: 1\r\n\r\none\r\n.\r\n" + envelope("b@example.com"))
    # The data was written before the 354: the relay reads it as the message all the same.
    assert [c.reply()[0] for _ in range(7)] == [250, 250, 354, 250, 250, 250, 354]
    c.send(b"Subject: 2\r\n\r\ntwo\r\n.\r\nQUIT\r\n")  # what follows the dot is a command
    assert c.reply()[0] == 250
    assert c.reply()[0] == 221
    c.close()
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["1", "2"]
    server.stop()  # the last message is settled by the next one or when the gate closes
    server.gate.close()
    assert sends(ledger_path) == [("lead@example.com", "sent"), ("b@example.com", "sent")]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"x" * 998, 250),  # 1,000 octets with its CRLF: RFC 5321's limit
        # 1,001 octets: aiosmtpd takes them (for a dot-stuffed line) and the relay forwarded
        # them to a provider that refuses the message at the end of DATA (or splits the line)
        (b"x" * 999, 500),
        (b"." + b"x" * 998, 250),  # dot-stuffed: 998 octets once its dot is removed
        (b".." + b"x" * 998, 500),  # 999 octets once unstuffed
        (b"x" * 1000, 500),
        (b"x" * 5000, 500),  # longer than the relay reads at once
    ],
)
def test_line_length_limit_refuses_the_message_and_keeps_the_session(
    relay, smtp_ssl, ledger_path, line, reply
):
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: long\r\n\r\n" + line + b"\r\n.\r\n")
    code, text = c.reply()
    assert code == reply
    if reply == 500:
        assert text == b"500 Line too long (see RFC5321 4.5.3.1.6)"
        assert smtp_ssl.messages == [] and sends(ledger_path) == []
    c.send(envelope("next@example.com"))  # the session goes on
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: short\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    assert smtp_ssl.messages[-1].rcpt_tos == ("next@example.com",)


_SENTENCES = b"".join(
    b"Line %d of a body whose lines end in a full stop.\r\n" % i for i in range(400)
)


@pytest.mark.parametrize(
    ("body", "reply", "upstream"),
    [
        # lines ending in ".<CRLF>", as sentences do: where the relay's read ahead stops
        (b"Thanks.\r\n..\r\nend.\r\n..x.\r\n", 250, b"Thanks.\r\n.\r\nend.\r\n.x.\r\n"),
        (_SENTENCES, 250, _SENTENCES),  # 24 KB: past aiosmtpd's reader's 1,001 octets
        (b"no dot at all\r\n" * 300, 250, b"no dot at all\r\n" * 300),
        (b"x" * 1001 + b"\r\n", 500, None),  # the longest line aiosmtpd's reader reads whole
        (b"x" * 1002 + b"\r\n", 500, None),  # the shortest it cuts
        (b"x" * 1001 + b"\r\nafter\r\n", 500, None),  # its CRLF across that cut
        (b"x" * 3000 + b"\n.\r\nstill data\r\n", 500, None),  # a long bare-LF line, a dot
    ],
)
@pytest.mark.parametrize("piece", [None, 1, 7, 1000])
def test_data_is_read_alike_however_its_bytes_arrive(
    relay, smtp_ssl, ledger_path, body, reply, upstream, piece
):
    """The relay reads ahead to each ".<CRLF>" and cuts lines itself: the message, its reply
    and the session after it are what reading line by line gave, written at once or in
    pieces (that split a CRLF, a stuffed dot or the final dot)."""
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    data = b"Subject: pieces\r\n\r\n" + body + b".\r\n"
    for at in range(0, len(data), piece or len(data)):
        c.send(data[at : at + (piece or len(data))])
    code, text = c.reply()
    assert code == reply, text
    c.send(b"NOOP\r\n")  # nothing of the message was left to be read as a command
    assert c.reply() == (250, b"250 OK")
    c.close()
    if upstream is None:
        assert smtp_ssl.messages == [] and sends(ledger_path) == []
    else:
        [got] = smtp_ssl.messages
        assert got.raw.split(b"\r\n\r\n", 1)[1] == upstream


def test_size_limit_refuses_the_message_with_552_and_nothing_is_reserved(
    relay, smtp_ssl, ledger_path
):
    server = relay(50, data_size_limit=2000)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 200 + b".\r\n")
    assert c.reply() == (552, b"552 Error: Too much mail data")
    c.close()
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


def test_a_message_the_added_headers_bring_over_the_size_limit_is_refused_too(
    relay, smtp_ssl, ledger_path
):
    """The client's bytes fit the limit; with the From, Date and Message-ID the relay adds
    they did not, and went upstream over it (where a provider's 552 reads as soft)."""
    server = relay(50, data_size_limit=2000)
    body = b"Subject: near the limit\r\n\r\n" + b"0123456789abcdef\r\n" * 108
    assert 1900 < len(body) <= 2000
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(body + b".\r\n")
    code, text = c.reply()
    assert code == 552 and b"5.3.4 the message with the From, Date and Message-ID" in text, text
    c.close()
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


def test_a_client_gone_mid_data_sends_nothing_and_the_relay_serves_the_next(
    relay, smtp_ssl, ledger_path
):
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: cut\r\n\r\nhalf a mess")
    c.close()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.sendmail(BOX, ["whole@example.com"], b"Subject: whole\r\n\r\nall of it\r\n")
    assert [m.message["Subject"] for m in smtp_ssl.messages] == ["whole"]
    server.stop()
    server.gate.close()
    assert sends(ledger_path) == [("whole@example.com", "sent")]
    assert server.tally.sent == 1


def test_hypothesis_judges_the_answers_not_the_time_they_took():
    """The property test below failed once in a full run with no wrong answer: one example over
    Hypothesis's default 200 ms deadline on a loaded machine (tests/conftest.py)."""
    from hypothesis import settings as current

    assert current.default.deadline is None


_ATOM = st.text("abcXYZ019!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=6)
_ODD = st.sampled_from(["", " ", "<", ">", '"', "(c)", "ü", "..", "@", "a b", "[1.2.3.4]"])


@given(
    st.lists(st.one_of(_ATOM, _ODD, st.just(".")), min_size=1, max_size=4).map("".join),
    st.lists(st.one_of(_ATOM, _ODD, st.just(".")), min_size=1, max_size=4).map("".join),
    st.sampled_from(["", "<>", "Name <{}>", "<{}>", " {} "]),
)
def test_paths_upstream_are_quoted_as_smtplib_quotes_them(local, domain, form):
    from warmup.smtp import quote

    address = f"{local}@{domain}"
    address = form.format(address) if "{}" in form else form or address
    assert quote(address) == smtplib.quoteaddr(address)


def test_blind_fields_are_removed_in_any_case_and_a_message_without_them_is_kept_as_is():
    from warmup.headers import without

    plain = b"To: a@example.com\r\nSubject: hello\r\n\r\nhi\r\n"
    assert without(plain) is plain  # not even copied
    body = b"To: a@example.com\r\nSubject: about bcc\r\n\r\nBcc: in the body stays\r\n"
    assert without(body) == body
    raw = (
        b"To: a@example.com\r\nbCC: x@example.com,\r\n y@example.com\r\nResent-BCC: z\r\n\r\nhi\r\n"
    )
    assert without(raw) == b"To: a@example.com\r\n\r\nhi\r\n"


@pytest.mark.parametrize(
    ("options", "body", "reply"),
    [
        ({}, b"x" * 1200 + b"\r\n", 500),
        ({}, b"x" * 70000 + b"\r\n", 500),  # longer than the reader's buffer
        ({"data_size_limit": 2000}, b"0123456789abcdef\r\n" * 200, 552),
    ],
)
def test_a_message_refused_while_reading_data_counts_in_the_summary(
    relay, smtp_ssl, options, body, reply
):
    # The summary said "0 sent, ... 0 refused (5xx)" for a run whose only message was refused
    # for a long line or its size: the script's author read it as nothing having gone wrong.
    server = relay(50, **options)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: refused\r\n\r\n" + body + b".\r\n")
    assert c.reply()[0] == reply
    c.close()
    assert (server.tally.sent, server.tally.refused) == (0, 1)
    assert server.summary().startswith("warmup: 0 sent, 0 deferred (4xx), 1 refused (5xx)")


def test_refusals_aiosmtpd_answers_before_data_count_in_the_summary(relay, smtp_ssl):
    # smtplib declares SIZE: a message over the limit is refused at MAIL FROM by aiosmtpd, not
    # the relay's hook, and the summary said "0 refused"; so for unknown parameters.
    server = relay(50, data_size_limit=2000)
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        with pytest.raises(smtplib.SMTPSenderRefused) as big:
            s.sendmail(BOX, ["lead@example.com"], b"Subject: big\r\n\r\n" + b"x" * 3000)
        s.rset()
        with pytest.raises(smtplib.SMTPSenderRefused) as odd:
            s.sendmail(BOX, ["lead@example.com"], b"Subject: s\r\n\r\nb\r\n", ["FOO=bar"])
        s.rset()
        assert s.mail(BOX)[0] == 250
        assert s.rcpt("lead@example.com", ["FOO=bar"])[0] == 555
    assert (big.value.smtp_code, odd.value.smtp_code) == (552, 555)
    assert server.summary() == (
        "warmup: 0 sent, 0 deferred (4xx), 3 refused (5xx), 0 recipients rejected upstream; "
        "2 refusals at MAIL FROM, 1 refusal at RCPT TO"
    )
    assert smtp_ssl.messages == []


def test_connections_turned_away_over_the_limit_are_named_in_the_summary(relay, smtp_ssl):
    # A script of 24 threads had 4 connections answered 421 before any message; the summary
    # said "5 sent, 15 deferred (4xx), 0 refused (5xx)", as if every message had been tried.
    server = relay(50, max_sessions=2)
    first, second = Raw(server), Raw(server)
    for _ in range(2):
        with pytest.raises(smtplib.SMTPConnectError) as crowded:
            smtplib.SMTP(server.host, server.port, timeout=30)
        assert crowded.value.smtp_code == 421
    first.close()
    second.close()
    assert server.summary() == (
        "warmup: 0 sent, 0 deferred (4xx), 0 refused (5xx), 0 recipients rejected upstream\n"
        "warmup: 2 connections turned away with 421: the command opened more than 2 at once; "
        "send over fewer connections"
    )
    assert smtp_ssl.messages == []


@pytest.mark.parametrize("head", [b"Date:\r\n", b"Message-ID: \r\n", b"Date: \r\n \r\n"])
def test_an_empty_date_or_message_id_is_refused_not_doubled(relay, smtp_ssl, ledger_path, head):
    # The relay took an empty header for a missing one and prepended its own: the message went
    # upstream with two Date (or Message-ID) headers, which RFC 5322 allows once.
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: s\r\n" + head + b"\r\nhello\r\n.\r\n")
    code, text = c.reply()
    c.close()
    assert code == 550 and text.startswith(b"550 5.6.0 header ") and b"is empty" in text
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


def test_a_message_with_bare_lf_lines_from_smtplib_is_taken_as_its_lines(relay, smtp_ssl):
    # `smtp.sendmail(a, b, msg.as_bytes())` writes the message's LF lines as they are (only a
    # str is given CRLFs) and doubles a dot that starts one. The relay read up to CRLF only: a
    # message over 1,001 bytes was one "line", refused as too long, and a shorter one kept the
    # doubled dot (delivered as "..sig"). LF ends a line as for the upstream server.
    import smtplib

    server = relay(50)
    lines = [f"line {i} of the body" for i in range(80)]
    raw = "Subject: lf\n\n" + "\n".join([*lines, ".sig", "..two", "end"]) + "\n"
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        assert s.sendmail(BOX, ["lead@example.com"], raw.encode()) == {}
        short = "Subject: lf2\n\n.sig\nend\n"
        assert s.sendmail(BOX, ["b@example.com"], short.encode()) == {}
    first, second = (m.raw.split(b"\r\n\r\n", 1)[1] for m in smtp_ssl.messages)
    # "end\n", then the CRLF smtplib adds to a message that does not end with one
    assert first == "\r\n".join([*lines, ".sig", "..two", "end", "", ""]).encode()
    assert second == b".sig\r\nend\r\n\r\n"


def test_a_bare_lf_line_over_the_limit_is_refused(relay, smtp_ssl, ledger_path):
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: long\n\n" + b"x" * 999 + b"\n" + b"y" * 1000 + b"\nend\r\n.\r\n")
    assert c.reply() == (500, b"500 Line too long (see RFC5321 4.5.3.1.6)")
    c.send(b"QUIT\r\n")
    c.close()
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


def test_only_a_dot_after_crlf_ends_the_data_never_one_after_a_bare_lf(relay, smtp_ssl):
    # SMTP smuggling: "\n.\r\n" or "\n.\n" must not end the message here, nor upstream.
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(b"Subject: s\r\n\r\nbody\n.\r\nRSET\n.\nMAIL FROM:<x@evil.example>\r\n.\r\n")
    assert c.reply()[0] == 250
    c.close()
    [got] = smtp_ssl.messages
    assert got.raw.endswith(b"\r\n\r\nbody\r\n\r\nRSET\r\n\r\nMAIL FROM:<x@evil.example>\r\n")


def test_a_message_of_body_text_only_goes_out_with_that_body(relay, smtp_ssl, ledger_path):
    # smtplib's sendmail(FROM, TO, "text"), as naive scripts call it: no header at all is all
    # body, as servers read it. The relay refused it: "550 5.6.0 header line 1 is not 'Name:
    # value'" (and prepending From/Date/Message-ID would have made the text header lines).
    server = relay(50)
    assert test_relay.submit(server, b"backup done\r\nall fine\r\n")[0] == 250
    [got] = smtp_ssl.messages
    assert got.message["From"] == BOX and got.message["Message-ID"]
    assert got.message.get_content().splitlines() == ["backup done", "all fine"]
    code, text = test_relay.submit(server, b"Hello team\r\nBcc: hidden@example.com\r\n\r\nhi\r\n")
    assert (code, text[:6]) == (550, "5.6.0 "), text
    assert len(smtp_ssl.messages) == 1


def test_a_submitted_return_path_and_content_length_are_left_out_upstream(
    relay, smtp_ssl, ledger_path
):
    # A script's Return-Path went upstream beside the one the delivering server writes from
    # the envelope, naming an address the bounces never reach; a Content-Length went on,
    # stale once the relay made the lines CRLF. Both are dropped, as Postfix does.
    server = relay(50)
    raw = (
        b"Return-Path: <bounces@elsewhere.example>\nFrom: " + BOX.encode() + b"\n"
        b"To: lead@example.com\nContent-Length: 3\nSubject: s\n\nline one\nline two\n"
    )
    assert test_relay.submit(server, raw)[0] == 250
    [got] = smtp_ssl.messages
    assert got.mail_from == BOX
    assert [k for k in got.message if k not in ("Date", "Message-ID")] == ["From", "To", "Subject"]
    assert got.message.get_content().startswith("line one\r\nline two\r\n")


def test_a_malformed_header_line_is_quoted_once_in_the_reply(relay, smtp_ssl, ledger_path):
    # Quoted twice (an escaped text through repr()), the reply showed a backslash as two and
    # any octet past ASCII as \\ufffd (escaped twice); now as the line has them, past ASCII as \\uNNNN.
    server = relay(50)
    raw = "To: lead@example.com\r\nbad\\line 用\r\n\r\nhi\r\n".encode()
    code, text = test_relay.submit(server, raw)
    said = "5.6.0 header line 2 is not 'Name: value' ('bad\\line \\u7528'); fix the message's"
    assert code == 550 and text.startswith(said), text
    assert smtp_ssl.connections == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"To: lead@example.com\r\nSubject: x\r\n\r\nhi\x00there\r\n",
        b"To: lead@example.com\r\nSubject: x\x00y\r\n\r\nhi\r\n",
    ],
)
def test_a_nul_byte_is_refused_before_anything_is_reserved(relay, smtp_ssl, ledger_path, raw):
    # No mail may carry a NUL (RFC 5322 text, RFC 2045 8bit data); it went upstream as it came,
    # where a server refusing it at the end of DATA spent the slot on a soft bounce.
    server = relay(50)
    code, text = test_relay.submit(server, raw)
    assert code == 550 and text.startswith("5.6.0 the message holds a NUL byte"), text
    assert smtp_ssl.connections == 0 and sends(ledger_path) == []
    assert server.tally.refused == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",  # the final dot at once
        b"short.\r\n",
        b"bare LF line\n\r\n",  # a bare LF line, then CRLF: the dot after it ends the data
        _SENTENCES,  # past the reader's limit: the final dot found beyond it
        b"y" * 3000 + b"\r\n",  # refused (500) but read to its final dot all the same
    ],
    ids=["empty", "short", "bare-lf", "long", "too-long"],
)
@pytest.mark.parametrize("piece", [None, 1, 3, 1000])
def test_commands_pipelined_after_the_final_dot_are_commands(relay, smtp_ssl, body, piece):
    """A client that writes RSET and the next message's envelope right behind the final dot (in
    the same segment, or cut anywhere): the relay's read-ahead stops at the dot, so they are
    neither taken into the message nor lost."""
    server = relay(50)
    c = Raw(server)
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    data = b"Subject: one\r\n\r\n" + body + b".\r\nRSET\r\n" + envelope("two@example.com")
    data += b"Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n"
    for at in range(0, len(data), piece or len(data)):
        c.send(data[at : at + (piece or len(data))])
    first = 500 if body.startswith(b"y") else 250
    assert [c.reply()[0] for _ in range(7)] == [first, 250, 250, 250, 354, 250, 221]
    c.close()
    assert [m.rcpt_tos for m in smtp_ssl.messages][-1] == ("two@example.com",)
    assert smtp_ssl.messages[-1].raw.endswith(b"\r\n\r\nsecond\r\n")
    assert len(smtp_ssl.messages) == (1 if first == 500 else 2)


def test_a_long_line_without_lf_is_read_in_linear_time(relay, smtp_ssl, ledger_path):
    """A naive script's one-line HTML body: 2 MB without a line break. The read-ahead searched
    each read for lines from every octet of the unfinished one to its end (a 256 KB read, ~35 s
    of the relay's one thread, every other session stalled): the 500 came minutes later, past
    the client's patience. Read in linear time, it comes at once."""
    server = relay(50)
    c = Raw(server)
    c.sock.settimeout(10)  # the seconds a linear read needs are a small fraction of it
    c.send(envelope())
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    chunk = b"<p>" + b"z" * 65533
    for _ in range(32):
        c.send(chunk)
    c.send(b"\r\n.\r\n")
    assert c.reply() == (500, b"500 Line too long (see RFC5321 4.5.3.1.6)")
    c.send(b"NOOP\r\n")  # the session goes on
    assert c.reply() == (250, b"250 OK")
    c.close()
    assert smtp_ssl.messages == [] and sends(ledger_path) == []


def test_lines_ending_cr_cr_lf_keep_their_header_and_never_show_the_bcc(relay, smtp_ssl):
    # CR CR LF: a CRLF file written again in text mode (Windows), or given to a client that
    # makes every LF a CRLF (s-nail attaching an .eml). Each CR before the CRLF was a line break
    # of its own, the first an empty line: the header ended after its first field, and To,
    # Subject and the Bcc naming the hidden recipient went to every recipient as body text.
    server = relay(50)
    c = Raw(server)
    c.send(f"MAIL FROM:<{BOX}>\r\nRCPT TO:<lead@example.com>\r\n".encode())
    c.send(b"RCPT TO:<hidden@example.com>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    c.send(
        b"From: " + BOX.encode() + b"\r\r\nTo: lead@example.com\r\r\n"
        b"Bcc: hidden@example.com\r\r\nSubject: crcr\r\r\n\r\r\nbody\r\r\n.\r\n"
    )
    assert c.reply()[0] == 250
    c.close()
    [got] = smtp_ssl.messages
    assert b"hidden" not in got.raw
    head, body = got.raw.split(b"\r\n\r\n", 1)
    assert head.endswith(b"\r\nFrom: a@corp.example\r\nTo: lead@example.com\r\nSubject: crcr")
    assert body == b"body\r\n"
    assert set(got.rcpt_tos) == {"lead@example.com", "hidden@example.com"}
