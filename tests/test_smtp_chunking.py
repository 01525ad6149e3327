"""CHUNKING upstream (RFC 3030): MAIL, RCPT and ``BDAT <size> LAST`` with the message in one
write when the server offers CHUNKING and PIPELINING (Gmail, Exchange Online): one round trip a
message. Every reply is read (the data is on its way whatever they say), and each recipient
ends as the server said, as in the DATA conversation of ``test_smtp_pipelining``."""

from __future__ import annotations

import json
import smtplib
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, envelope_reads, policy_file, warmup
from tests.gatekit import smtp_session as session
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink
from warmup.smtp import CHUNKED_MAX, PIPELINE_WINDOW

# Leading dots, a bare LF and no final newline: what DATA would stuff and fix, BDAT carries as
# they are (CRLF lines).
MESSAGE = b"From: a@corp.example\r\nSubject: hi\r\n\r\n.A chunked hello.\n..two dots\r\nend"
AS_RECEIVED = (
    b"From: a@corp.example\r\nSubject: hi\r\n\r\n.A chunked hello.\r\n..two dots\r\nend\r\n"
)


def sink_of(pki, **behaviours) -> SmtpSink:
    """A sink of ``BOX`` over implicit TLS offering PIPELINING and CHUNKING (and any of
    :class:`SmtpSink`'s behaviours)."""
    return SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, pipelining=True, **behaviours)


@pytest.fixture
def chunked(pki, ssl_cert_env) -> Iterator[SmtpSink]:
    with sink_of(pki, chunking=True) as sink:
        yield sink


def outcomes(out) -> dict[str, tuple[str, int | None]]:
    return {r: (v.outcome, v.code) for r, v in out.results.items()}


def test_envelope_and_data_go_in_one_write_and_arrive_as_data_would_bring_them(
    chunked, pki, ssl_cert_env
):
    rcpts = ["a@example.com", "b@example.com"]
    with sink_of(pki) as plain:
        for sink, bdat in ((chunked, True), (plain, False)):
            s = session(sink)
            try:
                assert s.smtp is not None and s.smtp.has_extn("chunking") is bdat
                out = s.send(BOX, rcpts, MESSAGE)
            finally:
                s.close()
            assert out.sent == rcpts and out.error is None
            [got] = sink.messages
            assert got.rcpt_tos == tuple(rcpts) and got.raw == AS_RECEIVED
            [first] = envelope_reads(sink)
            assert (f"BDAT {len(AS_RECEIVED)} LAST\r\n".encode() in first) is bdat, first
            assert first.endswith(AS_RECEIVED) is bdat  # the data in the envelope's write
            assert sink.bdat_commands == (1 if bdat else 0)


def test_without_pipelining_or_over_the_size_it_waits_for_data(pki, ssl_cert_env, chunked):
    big = b"From: a@corp.example\r\nSubject: big\r\n\r\n" + b"y" * 76 + b"\r\n"
    big += (b"y" * 76 + b"\r\n") * (CHUNKED_MAX // 78)
    assert len(big) > CHUNKED_MAX
    with SmtpSink(
        "ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, pipelining=False, chunking=True
    ) as lone:
        for sink, message in ((lone, MESSAGE), (chunked, big)):
            s = session(sink)
            try:
                assert s.send(BOX, ["a@example.com"], message).sent == ["a@example.com"]
            finally:
                s.close()
            assert sink.bdat_commands == 0 and len(sink.messages) == 1
            assert b"BDAT" not in b"".join(sink.reads)


def test_the_size_limit_counts_the_octets_that_go_bare_lfs_made_crlf(chunked):
    """3,330 lines of 77 octets and a bare LF: 259,740 octets as given (under CHUNKED_MAX),
    263,070 as sent (over it): DATA's path, as for any message over the limit."""
    lines = 3330
    body = (b"y" * 77 + b"\n") * lines
    assert len(body) <= CHUNKED_MAX < len(body) + lines
    s = session(chunked)
    try:
        assert s.send(BOX, ["a@example.com"], body).sent == ["a@example.com"]
        assert chunked.bdat_commands == 0
        assert s.send(BOX, ["b@example.com"], body[: 78 * 3000]).sent == ["b@example.com"]
        assert chunked.bdat_commands == 1  # 237,000 octets as sent: in the envelope's write
    finally:
        s.close()
    assert [len(m.raw) for m in chunked.messages] == [79 * lines, 79 * 3000]


def test_partial_refusals_per_recipient_the_others_get_it_and_the_session_goes_on(chunked):
    chunked.reject_rcpt = {
        "dead@example.com": (550, "5.1.1 <dead@example.com>: User unknown"),
        "busy@example.com": (450, "4.2.1 mailbox busy"),
    }
    s = session(chunked)
    out = s.send(BOX, ["ok@example.com", "dead@example.com", "busy@example.com"], MESSAGE)
    assert out.throttle is None and out.error is None
    assert outcomes(out) == {
        "ok@example.com": ("sent", 250),
        "dead@example.com": ("hard", 550),
        "busy@example.com": ("soft", 450),
    }
    assert [m.rcpt_tos for m in chunked.messages] == [("ok@example.com",)]
    again = s.send(BOX, ["ok2@example.com"], MESSAGE)
    s.close()
    assert again.sent == ["ok2@example.com"] and chunked.connections == 1
    assert chunked.bdat_commands == 2


def test_every_recipient_refused_reads_bdats_refusal_resets_and_keeps_the_session(chunked):
    chunked.reject_rcpt = {"x@example.com": (550, "5.1.1 no such user")}
    s = session(chunked)
    out = s.send(BOX, ["x@example.com"], MESSAGE)
    assert outcomes(out) == {"x@example.com": ("hard", 550)} and out.error is None
    stream = b"".join(chunked.reads)
    assert stream.endswith(AS_RECEIVED + b"rset\r\n")  # BDAT's 554 read, then RSET
    # the server read the chunk as data, not as commands: the next message goes through
    assert s.send(BOX, ["z@example.com"], MESSAGE).sent == ["z@example.com"]
    s.close()
    assert chunked.connections == 1
    assert [m.rcpt_tos for m in chunked.messages] == [("z@example.com",)]


def test_a_refused_mail_from_releases_every_slot_and_keeps_the_session(chunked):
    chunked.reject_mail = (550, "5.7.1 sender blocked")
    s = session(chunked)
    out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
    assert out.error == "MAIL FROM refused: 550 5.7.1 sender blocked"
    assert {v.outcome for v in out.results.values()} == {"released"}
    assert chunked.messages == chunked.refused == []
    assert b"".join(chunked.reads).endswith(b"rset\r\n")
    chunked.reject_mail = None
    assert s.send(BOX, ["a@example.com"], MESSAGE).sent == ["a@example.com"]
    s.close()
    assert chunked.connections == 1 and len(chunked.messages) == 1


@pytest.mark.parametrize("refused", ["mail", "rcpt"])
def test_a_server_that_reads_a_refused_chunk_as_commands_is_left_not_misread(
    pki, ssl_cert_env, refused
):
    """A server that leaves the chunk behind a refused MAIL (or every RCPT refused) unread
    answers each of the message's lines as a command: RSET's reply is then one of those, and
    the next message's replies would be read off that stream. The session is closed instead;
    the next message goes on a new connection, its outcome its own."""
    with sink_of(pki, chunking=True, bdat_discard=False) as broken:
        if refused == "mail":
            broken.reject_mail = (550, "5.7.1 sender blocked")
        else:
            broken.reject_rcpt = {"x@example.com": (550, "5.1.1 no such user")}
        s = session(broken)
        out = s.send(BOX, ["x@example.com"], MESSAGE)
        assert {v.outcome for v in out.results.values()} == (
            {"released"} if refused == "mail" else {"hard"}
        )
        assert s.smtp is None  # not reused after the stray replies
        broken.reject_mail, broken.reject_rcpt = None, {}
        again = session(broken)
        try:
            assert again.send(BOX, ["y@example.com"], MESSAGE).sent == ["y@example.com"]
        finally:
            again.close()
        assert [m.rcpt_tos for m in broken.messages] == [("y@example.com",)]
        assert broken.connections == 2


def test_a_throttled_recipient_is_released_and_the_accepted_one_still_gets_it(chunked):
    """DATA's path abandons the whole message at a throttled RCPT (it has not written the
    data yet); here the data went with the envelope, so the server's word on each recipient
    stands: the accepted one is sent, the throttled one's slot is not used."""
    chunked.reject_rcpt = {"t@example.com": (451, "4.7.500 Server busy. Please try again later")}
    s = session(chunked)
    out = s.send(BOX, ["ok@example.com", "t@example.com"], MESSAGE)
    s.close()
    assert out.throttle == (451, "4.7.500 Server busy. Please try again later")
    assert outcomes(out) == {"ok@example.com": ("sent", 250), "t@example.com": ("released", 451)}
    assert [m.rcpt_tos for m in chunked.messages] == [("ok@example.com",)]


def test_a_421_to_a_recipient_in_any_words_is_no_bounce_of_it(chunked):
    """A 421 ends the session (whatever its words): it was a soft bounce of the recipient, as
    on DATA's path before, counted against the mailbox."""
    chunked.reject_rcpt = {"t@example.com": (421, "4.3.0 closing")}
    s = session(chunked)
    out = s.send(BOX, ["ok@example.com", "t@example.com"], MESSAGE)
    s.close()
    assert outcomes(out)["t@example.com"] == ("released", 421)


def test_after_a_throttled_recipient_a_refused_message_is_still_the_bounce_it_is(chunked):
    chunked.reject_rcpt = {"t@example.com": (451, "4.7.500 Server busy. Please try again later")}
    chunked.data_reply = (550, "5.7.1 message content rejected")
    s = session(chunked)
    out = s.send(BOX, ["ok@example.com", "t@example.com"], MESSAGE)
    s.close()
    assert out.throttle == (451, "4.7.500 Server busy. Please try again later")
    assert outcomes(out) == {"ok@example.com": ("block", 550), "t@example.com": ("released", 451)}


@pytest.mark.parametrize(
    ("reply", "outcome", "throttled"),
    [
        ((550, "5.7.1 message content rejected"), "block", False),
        ((451, "4.3.0 temporary failure"), "soft", False),
        ((451, "4.7.500 Server busy. Please try again later"), "released", True),
    ],
)
def test_the_bdat_reply_is_the_messages_as_datas_final_reply(chunked, reply, outcome, throttled):
    chunked.data_reply = reply
    s = session(chunked)
    out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
    assert outcomes(out) == {r: (outcome, reply[0]) for r in ("a@example.com", "b@example.com")}
    assert out.throttle == (reply if throttled else None)
    assert b"".join(chunked.reads).endswith(b"rset\r\n")
    chunked.data_reply = None
    assert s.send(BOX, ["c@example.com"], MESSAGE).sent == ["c@example.com"]
    s.close()
    assert chunked.connections == 1


def test_a_connection_lost_after_the_data_left_makes_the_accepted_unknown(chunked):
    chunked.drop_mid_data = True  # the server stores the message, then drops without a reply
    chunked.reject_rcpt = {"dead@example.com": (550, "5.1.1 no such user")}
    s = session(chunked)
    out = s.send(BOX, ["a@example.com", "dead@example.com"], MESSAGE)
    assert outcomes(out) == {"a@example.com": ("unknown", None), "dead@example.com": ("hard", 550)}
    assert out.error is not None and out.error.startswith("connection lost during DATA")
    assert s.smtp is None and len(chunked.messages) == 1  # it was delivered: unknown, not released


def test_a_server_closing_at_mail_from_releases_every_slot(chunked):
    chunked.fail_after_mail = (421, "4.7.0 Try again later, closing connection.")
    s = session(chunked)
    out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
    assert out.throttle == (421, "4.7.0 Try again later, closing connection.")
    assert {v.outcome for v in out.results.values()} == {"released"} and s.smtp is None
    assert chunked.messages == []


def test_a_silently_closed_idle_connection_releases_and_the_gate_reopens_once(
    chunked, ledger_path, monkeypatch, tmp_path
):
    """The server went away while the session sat idle (no reply at all to the group): nothing
    was taken, so the slots are released and :meth:`Gate.send` reconnects once, as on the DATA
    path; the message is delivered once."""
    from email.message import EmailMessage

    from warmup import Gate

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(chunked.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    with Gate(BOX) as gate:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = BOX, "a@example.com", "one"
        msg.set_content("first")
        assert gate.send(msg).results["a@example.com"].outcome == "sent"
        session = gate.session()
        assert session.smtp is not None
        session.smtp.sock.shutdown(2)  # what a middlebox's idle timeout leaves behind
        second = EmailMessage()
        second["From"], second["To"], second["Subject"] = BOX, "b@example.com", "two"
        second.set_content("second")
        report = gate.send(second)
    assert report.results["b@example.com"].outcome == "sent"
    assert [m.rcpt_tos for m in chunked.messages] == [("a@example.com",), ("b@example.com",)]
    assert chunked.connections == 2


def test_more_recipients_than_one_write_holds_send_the_data_with_the_last_window(chunked):
    rcpts = [f"r{i}@example.com" for i in range(PIPELINE_WINDOW + 20)]
    chunked.reject_rcpt = {rcpts[-3]: (550, "5.1.1 no such user")}
    s = session(chunked)
    out = s.send(BOX, rcpts, MESSAGE)
    s.close()
    assert len(out.sent) == len(rcpts) - 1 and out.results[rcpts[-3]].outcome == "hard"
    first, second = (r for r in chunked.reads if b"rcpt to:" in r)
    assert first.count(b"rcpt to:") == PIPELINE_WINDOW - 1 and b"BDAT" not in first
    assert second.count(b"rcpt to:") == 21 and second.endswith(AS_RECEIVED)
    [got] = chunked.messages
    assert len(got.rcpt_tos) == len(rcpts) - 1 and got.raw == AS_RECEIVED


def test_warmup_send_records_each_recipient_as_the_server_said(chunked, ledger_path):
    chunked.reject_rcpt = {"no@example.com": (550, "5.1.1 no such user")}
    add_box(chunked.port)
    res = cli(
        "send",
        BOX,
        *("--to", "no@example.com", "--to", "yes@example.com"),
        *("--subject", "Hello", "--body", "Hi there"),
        env=PASSWORD_ENV,
    )
    assert res.returncode == 65, res.stderr
    assert "no@example.com: hard 550" in res.stderr
    assert [m.rcpt_tos for m in chunked.messages] == [("yes@example.com",)]
    assert chunked.bdat_commands == 1
    con = sqlite3.connect(ledger_path)
    got = sorted(con.execute("SELECT recipient, outcome FROM send").fetchall())
    con.close()
    assert got == [("no@example.com", "hard"), ("yes@example.com", "sent")]
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["sent"] == 2


def test_through_the_relay_one_upstream_write_per_message(
    chunked, ledger_path, monkeypatch, tmp_path
):
    from warmup import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(chunked.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    gate = Gate(BOX)
    relay = Relay(gate, wait=False).start()
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=30) as c:
            c.login(relay.user, relay.password)
            replies = [
                c.sendmail(BOX, ["ok@example.com"], MESSAGE.replace(b"hi", f"hi {i}".encode()))
                for i in range(3)
            ]
    finally:
        relay.stop()
        gate.close()
    assert replies == [{}] * 3
    assert [m.message["Subject"] for m in chunked.messages] == [f"hi {i}" for i in range(3)]
    assert chunked.connections == 1 and chunked.bdat_commands == 3
    # each message's envelope, BDAT and data in one write
    reads = envelope_reads(chunked)
    assert [(r.count(b" LAST\r\n"), r.endswith(b"\r\nend\r\n")) for r in reads] == [(1, True)] * 3


def test_no_reply_by_the_timeout_after_the_data_left_is_unknown_not_released(pki, ssl_cert_env):
    """Postfix (CHUNKING by default since 3.4) sends a pipelined group's replies together
    once its input is drained: for a small message, after BDAT LAST's data is queued (and its
    milters have run). A timeout before the first reply then says nothing about the message:
    the server may be queueing it. Released slots would have :meth:`Gate.send` send it again.
    """
    from warmup.smtp import Session, Target

    release = threading.Event()
    with sink_of(pki, chunking=True, buffer_replies=True) as sink:
        sink.hold_data_reply = release
        s = Session(Target(("127.0.0.1",), sink.port, "ssl", BOX, SMTP_PASSWORD, timeout=1.0))
        try:
            out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
        finally:
            release.set()
            s.close()
        # the server had the whole message when the client gave up (aiosmtpd then drops it;
        # Postfix's cleanup, which already has it, queues it)
        assert sink.holding.is_set() and sink.bdat_commands == 1
        assert b"".join(sink.reads).endswith(AS_RECEIVED)
    assert outcomes(out) == {"a@example.com": ("unknown", None), "b@example.com": ("unknown", None)}
    assert out.error is not None and "timed out" in out.error


def test_a_connection_lost_before_the_last_window_left_releases_the_accepted(chunked):
    """With more recipients than one write holds, the data goes with the last window: a
    connection lost while the first window's replies are read took no data, so nothing can
    have been delivered and the accepted recipients' slots are released, as on the DATA path."""
    rcpts = [f"r{i}@example.com" for i in range(PIPELINE_WINDOW + 20)]
    chunked.reject_rcpt = {rcpts[3]: (550, "5.1.1 no such user")}
    chunked.drop_rcpt = rcpts[10]
    s = session(chunked)
    out = s.send(BOX, rcpts, MESSAGE)
    assert s.smtp is None and chunked.messages == [] and chunked.bdat_commands == 0
    assert b"BDAT" not in b"".join(chunked.reads)
    assert out.results[rcpts[3]].outcome == "hard"
    assert {v.outcome for r, v in out.results.items() if r != rcpts[3]} == {"released"}
    assert out.error is not None and out.error.startswith("connection lost before DATA")
    assert out.lost_at == "RCPT TO"  # the worker's: this message's, not the server's


def test_through_the_relay_a_throttled_recipient_is_named_in_the_250(
    chunked, ledger_path, monkeypatch, tmp_path
):
    """With the data on its way with the envelope, a throttled recipient is not sent while the
    others are: the relay's 250 must name it, as it names a refused one, so that its client
    (and ``warmup sendmail``, which exits 75 for it) knows one recipient did not get it."""
    from warmup import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(chunked.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    chunked.reject_rcpt = {"t@example.com": (451, "4.7.500 Server busy. Please try again later")}
    gate = Gate(BOX)
    relay = Relay(gate, wait=False).start()
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=30) as c:
            c.login(relay.user, relay.password)
            c.mail(BOX)
            assert c.rcpt("ok@example.com")[0] == 250 and c.rcpt("t@example.com")[0] == 250
            code, reply = c.data(MESSAGE)
    finally:
        relay.stop()
        gate.close()
    assert [m.rcpt_tos for m in chunked.messages] == [("ok@example.com",)]
    assert code == 250 and b"sent to 1 of 2" in reply, reply
    assert b"; rejected upstream: t@example.com (451)" in reply, reply


@pytest.mark.parametrize("eightbitmime", [True, False])
def test_8bit_data_goes_by_bdat_declared_or_made_7bit_as_by_data(chunked, eightbitmime):
    """BDAT carries 8-bit data under BODY=8BITMIME (RFC 3030 leaves BODY to the sender) and
    what warmup.downgrade made 7-bit for a server without 8BITMIME; the size is the octets."""
    chunked.eightbitmime = eightbitmime
    message = (
        "From: a@corp.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n'
        "\r\n你好，世界\r\n"
    ).encode()
    s = session(chunked)
    try:
        assert s.send(BOX, ["a@example.com"], message).sent == ["a@example.com"]
    finally:
        s.close()
    [got] = chunked.messages
    assert chunked.bdat_commands == 1
    assert ("BODY=8BITMIME" in got.mail_options) is eightbitmime
    assert got.raw.isascii() is not eightbitmime
    assert got.message.get_content().rstrip() == "你好，世界"
    [first] = envelope_reads(chunked)
    assert f"BDAT {len(got.raw)} LAST\r\n".encode() + got.raw in first


def test_a_refused_mail_from_stops_before_the_window_that_carries_the_data(chunked):
    """More recipients than one write holds: a MAIL FROM refused in the first window's replies
    ends the message there, as on the DATA path; the data (and the other RCPTs) are not
    written for nothing, and the session goes on after RSET."""
    rcpts = [f"r{i}@example.com" for i in range(PIPELINE_WINDOW + 20)]
    chunked.reject_mail = (550, "5.7.1 sender blocked")
    s = session(chunked)
    out = s.send(BOX, rcpts, MESSAGE)
    assert out.error == "MAIL FROM refused: 550 5.7.1 sender blocked"
    assert {v.outcome for v in out.results.values()} == {"released"}
    stream = b"".join(chunked.reads)
    assert b"BDAT" not in stream and stream.count(b"rcpt to:") == PIPELINE_WINDOW - 1
    assert stream.endswith(b"rset\r\n")
    chunked.reject_mail = None
    assert s.send(BOX, ["a@example.com"], MESSAGE).sent == ["a@example.com"]
    s.close()
    assert chunked.connections == 1 and len(chunked.messages) == 1


def test_a_530_in_a_window_before_the_data_left_keeps_the_data_back(chunked):
    """More recipients than one write holds: a 530 (the server wants a login) in the first
    window's replies was read, then the last window went with the data all the same, and the
    recipients the server took before and after got the message without the login, leaving
    "send it again to the others alone" to the user. Known before the data left, it stays
    back, as after a refused MAIL FROM (RSET): nothing is sent, the taken are released, and a
    550 before the 530 stands."""
    from warmup.smtp import LoginWanted

    rcpts = [f"r{i}@example.com" for i in range(PIPELINE_WINDOW + 20)]
    chunked.reject_rcpt = {
        "r3@example.com": (550, "5.1.1 <r3@example.com>: user unknown"),
        "r5@example.com": (530, "5.7.0 Authentication required"),
    }
    s = session(chunked)
    with pytest.raises(LoginWanted) as got:
        s.send(BOX, rcpts, MESSAGE)
    assert "nothing was sent" in str(got.value), got.value
    kept = {r: v.outcome for r, v in got.value.results.items()}
    assert kept == {r: "hard" if r == "r3@example.com" else "released" for r in rcpts}
    assert chunked.messages == []
    stream = b"".join(chunked.reads)
    assert b"BDAT" not in stream and stream.count(b"rcpt to:") == PIPELINE_WINDOW - 1
    assert stream.endswith(b"rset\r\n")
    s.close()


def test_an_idle_connection_the_server_hung_up_releases_and_the_gate_reopens_once(
    chunked, ledger_path, monkeypatch, tmp_path
):
    """The server closed the idle connection: the envelope's write (with the data) succeeds,
    the read finds the connection closed. Unlike a timeout, that is a server that took
    nothing: released, and :meth:`Gate.send` sends it once on a new connection."""
    from email.message import EmailMessage

    from warmup import Gate

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    add_box(chunked.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    with Gate(BOX) as gate:
        for i, rcpt in enumerate(("a@example.com", "b@example.com")):
            if i:
                chunked.hang_up()
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = BOX, rcpt, f"m{i}"
            msg.set_content("hello")
            assert gate.send(msg).results[rcpt].outcome == "sent"
    assert [m.rcpt_tos for m in chunked.messages] == [("a@example.com",), ("b@example.com",)]
    assert chunked.connections == 2 and chunked.bdat_commands == 2


def _sent_by(sink: SmtpSink) -> int:
    s = session(sink)
    try:
        assert s.send(BOX, ["a@example.com"], MESSAGE).sent == ["a@example.com"]
    finally:
        s.close()
    assert sink.messages[-1].raw == AS_RECEIVED  # the same bytes arrive either way
    return sink.bdat_commands


def _send_one(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """``warmup send`` of one message to yes@example.com, with ``env`` besides the password."""
    return cli(
        "send",
        BOX,
        *("--to", "yes@example.com", "--subject", "Hello", "--body", "Hi there"),
        env={**PASSWORD_ENV, **env},
    )


@pytest.mark.parametrize(
    ("value", "bdat"), [("off", 0), ("0", 0), (" False ", 0), ("no", 0), ("on", 1), ("1", 1)]
)
def test_the_environment_turns_chunking_off_for_a_server_that_mishandles_it(
    chunked, monkeypatch, value, bdat
):
    monkeypatch.setenv("WARMUP_SMTP_CHUNKING", value)
    assert _sent_by(chunked) == bdat


def test_the_config_file_turns_it_off_and_the_environment_wins_over_it(
    chunked, monkeypatch, tmp_path
):
    conf = tmp_path / "config.toml"
    conf.write_text("[smtp]\nchunking = false\n", encoding="utf-8")
    monkeypatch.setenv("WARMUP_CONFIG", str(conf))
    monkeypatch.delenv("WARMUP_SMTP_CHUNKING", raising=False)
    assert _sent_by(chunked) == 0
    monkeypatch.setenv("WARMUP_SMTP_CHUNKING", "on")
    assert _sent_by(chunked) == 1


def test_warmup_send_with_chunking_off_in_the_config_file_goes_by_data(
    chunked, ledger_path, tmp_path
):
    conf = tmp_path / "config.toml"
    conf.write_text("[smtp]\nchunking = false\n", encoding="utf-8")
    add_box(chunked.port)
    res = _send_one({"WARMUP_CONFIG": str(conf)})
    assert res.returncode == 0, res.stderr
    assert [m.rcpt_tos for m in chunked.messages] == [("yes@example.com",)]
    assert chunked.bdat_commands == 0


@pytest.mark.parametrize("blank", ["", "  "])
def test_the_variable_set_empty_is_left_unset_and_the_config_file_decides(
    chunked, ledger_path, tmp_path, blank
):
    """README: an environment variable set empty is one left unset. 'export
    WARMUP_SMTP_CHUNKING="$CHUNKING"' with $CHUNKING unset stopped every send and 'config show'
    with exit 78 ("is '': expected on or off"), where the config file's chunking = false (kept
    for a server that mishandles BDAT) was to decide."""
    conf = tmp_path / "config.toml"
    conf.write_text("[smtp]\nchunking = false\n", encoding="utf-8")
    add_box(chunked.port)
    env = {"WARMUP_CONFIG": str(conf), "WARMUP_SMTP_CHUNKING": blank}
    res = warmup(
        "send", BOX, "--to", "yes@example.com", "--body", "Hi there", env={**PASSWORD_ENV, **env}
    )
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert [m.rcpt_tos for m in chunked.messages] == [("yes@example.com",)]
    assert chunked.bdat_commands == 0  # by DATA, as the config file says
    shown = warmup("config", "show", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)["settings"]
    [row] = [r for r in settings if r["key"] == "smtp.chunking"]
    assert (row["value"], row["source"]) == (False, "config file")


@pytest.mark.parametrize("conf", ["[smtp]\nchunking = 'off'\n", "[smtp]\nbdat = false\n"])
def test_a_wrong_smtp_table_in_the_config_file_is_a_config_error(
    chunked, ledger_path, tmp_path, conf
):
    path = tmp_path / "config.toml"
    path.write_text(conf, encoding="utf-8")
    add_box(chunked.port)
    res = _send_one({"WARMUP_CONFIG": str(path)})
    assert res.returncode == 78, res.stderr
    assert res.stderr.count("\n") == 1 and "smtp." in res.stderr, res.stderr
    assert chunked.messages == [] and chunked.connections == 0


def test_a_bad_value_in_the_environment_is_one_line_exit_78_and_nothing_is_sent(
    chunked, ledger_path
):
    add_box(chunked.port)
    res = _send_one({"WARMUP_SMTP_CHUNKING": "maybe"})
    assert res.returncode == 78, res.stderr
    assert res.stderr == (
        "Error: $WARMUP_SMTP_CHUNKING is 'maybe': expected on or off (1/0, true/false, yes/no)\n"
    ), res.stderr
    assert chunked.messages == [] and chunked.connections == 0
    con = sqlite3.connect(ledger_path)
    rows = con.execute("SELECT outcome FROM send").fetchall()
    con.close()
    assert rows == []  # no slot taken
