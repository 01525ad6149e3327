"""PIPELINING upstream (RFC 2920): MAIL, RCPT and DATA in one write when the server offers it,
with the replies, refusals and resets of the one-command-at-a-time conversation."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, envelope_reads, policy_file
from tests.gatekit import smtp_session as session
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.smtp import SmtpSink
from warmup.smtp import PIPELINE_WINDOW

MESSAGE = b"From: a@corp.example\r\nSubject: hi\r\n\r\nA pipelined hello.\r\n"


@pytest.fixture
def piped(pki, ssl_cert_env) -> Iterator[SmtpSink]:
    with SmtpSink("ssl", user=BOX, password=SMTP_PASSWORD, pki=pki, pipelining=True) as sink:
        yield sink


def after_envelope(sink: SmtpSink) -> bytes:
    """Everything the client wrote after its last MAIL FROM."""
    stream = b"".join(sink.reads)
    return stream[stream.lower().rindex(b"mail from:") :]


def test_the_envelope_goes_in_one_write_when_offered_and_one_command_at_a_time_when_not(
    piped, smtp_ssl, ssl_cert_env
):
    rcpts = ["a@example.com", "b@example.com", "c@example.com"]
    for sink, together in ((piped, True), (smtp_ssl, False)):
        s = session(sink)
        try:
            assert s.smtp is not None and s.smtp.has_extn("pipelining") is together
            out = s.send(BOX, rcpts, MESSAGE)
        finally:
            s.close()
        assert out.sent == rcpts and out.error is None
        [got] = sink.messages
        assert got.rcpt_tos == tuple(rcpts) and b"A pipelined hello." in got.raw
        [first] = envelope_reads(sink)
        assert (b"DATA\r\n" in first) is together, first
        assert all(f"<{r}>".encode() in first for r in rcpts) is together, first
        assert b"A pipelined hello." not in first  # the data waits for its 354 either way


def test_partial_refusals_are_reported_per_recipient_and_the_others_get_the_message(piped):
    piped.reject_rcpt = {
        "dead@example.com": (550, "5.1.1 <dead@example.com>: User unknown"),
        "busy@example.com": (450, "4.2.1 mailbox busy"),
    }
    s = session(piped)
    out = s.send(BOX, ["ok@example.com", "dead@example.com", "busy@example.com"], MESSAGE)
    assert out.sent == ["ok@example.com"] and out.throttle is None
    assert {r: (v.outcome, v.code) for r, v in out.results.items()} == {
        "ok@example.com": ("sent", 250),
        "dead@example.com": ("hard", 550),
        "busy@example.com": ("soft", 450),
    }
    assert [m.rcpt_tos for m in piped.messages] == [("ok@example.com",)]
    assert b"DATA\r\n" in envelope_reads(piped)[0]
    # The connection serves the next message.
    again = s.send(BOX, ["ok2@example.com"], MESSAGE)
    s.close()
    assert again.sent == ["ok2@example.com"] and piped.connections == 1


def test_a_refused_mail_from_sends_no_data_resets_and_keeps_the_session(piped):
    piped.reject_mail = (550, "5.7.1 sender blocked")
    s = session(piped)
    out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
    assert out.error == "MAIL FROM refused: 550 5.7.1 sender blocked"
    assert {v.outcome for v in out.results.values()} == {"released"}
    tail = after_envelope(piped)
    assert b"DATA\r\n" in tail and tail.endswith(b"rset\r\n")  # DATA's 503 read, then RSET
    assert b"A pipelined hello." not in tail and piped.messages == piped.refused == []
    piped.reject_mail = None
    assert s.send(BOX, ["a@example.com"], MESSAGE).sent == ["a@example.com"]
    s.close()
    assert piped.connections == 1 and len(piped.messages) == 1


def test_every_recipient_refused_answers_data_sends_nothing_and_resets(piped):
    piped.reject_rcpt = {
        "x@example.com": (550, "5.1.1 no such user"),
        "y@example.com": (550, "5.1.1 no such user"),
    }
    s = session(piped)
    out = s.send(BOX, ["x@example.com", "y@example.com"], MESSAGE)
    assert {r: v.outcome for r, v in out.results.items()} == {
        "x@example.com": "hard",
        "y@example.com": "hard",
    }
    assert after_envelope(piped).endswith(b"DATA\r\nrset\r\n")  # 503 to DATA, then RSET
    assert s.send(BOX, ["z@example.com"], MESSAGE).sent == ["z@example.com"]
    s.close()
    assert piped.connections == 1
    assert [m.rcpt_tos for m in piped.messages] == [("z@example.com",)]


def test_a_throttled_rcpt_abandons_the_accepted_data_phase_by_closing(piped):
    """DATA was already written and accepted (354) for the recipient before the throttled one:
    the only way not to deliver is to drop the connection (a lone dot would send an empty
    message)."""
    piped.reject_rcpt = {"t@example.com": (451, "4.7.500 Server busy. Please try again later")}
    s = session(piped)
    out = s.send(BOX, ["ok@example.com", "t@example.com"], MESSAGE)
    assert out.throttle == (451, "4.7.500 Server busy. Please try again later")
    assert {v.outcome for v in out.results.values()} == {"released"}
    assert s.smtp is None  # closed: the next message opens a new connection
    assert piped.messages == piped.refused == []
    assert after_envelope(piped).endswith(b"DATA\r\n")


def test_more_recipients_than_one_write_holds_go_in_windows(piped):
    rcpts = [f"r{i}@example.com" for i in range(PIPELINE_WINDOW + 20)]
    piped.reject_rcpt = {rcpts[-3]: (550, "5.1.1 no such user")}
    s = session(piped)
    out = s.send(BOX, rcpts, MESSAGE)
    s.close()
    assert len(out.sent) == len(rcpts) - 1 and out.results[rcpts[-3]].outcome == "hard"
    first, second = (r for r in piped.reads if b"rcpt to:" in r)
    assert first.count(b"rcpt to:") == PIPELINE_WINDOW - 1  # after MAIL FROM
    assert second.count(b"rcpt to:") == 21 and second.endswith(b"DATA\r\n")
    [got] = piped.messages
    assert len(got.rcpt_tos) == len(rcpts) - 1


def test_a_server_closing_at_mail_from_releases_every_slot(piped):
    piped.fail_after_mail = (421, "4.7.0 Try again later, closing connection.")
    s = session(piped)
    out = s.send(BOX, ["a@example.com", "b@example.com"], MESSAGE)
    assert out.throttle == (421, "4.7.0 Try again later, closing connection.")
    assert {v.outcome for v in out.results.values()} == {"released"} and s.smtp is None


@pytest.mark.parametrize(
    ("reply", "exit_code", "outcome"),
    [((550, "5.1.1 no such user"), 65, "hard"), ((450, "4.2.0 greylisted"), 75, "soft")],
)
def test_warmup_send_with_a_refused_recipient_exits_as_before(
    reply, exit_code, outcome, piped, ledger_path
):
    piped.reject_rcpt = {"no@example.com": reply}
    add_box(piped.port)
    res = cli(
        "send",
        BOX,
        *("--to", "no@example.com", "--to", "yes@example.com"),
        *("--subject", "Hello", "--body", "Hi there"),
        env=PASSWORD_ENV,
    )
    assert res.returncode == exit_code, res.stderr
    assert f"no@example.com: {outcome} {reply[0]}" in res.stderr
    assert [m.rcpt_tos for m in piped.messages] == [("yes@example.com",)]
    assert b"DATA\r\n" in envelope_reads(piped)[0]
    con = sqlite3.connect(ledger_path)
    got = sorted(con.execute("SELECT recipient, outcome FROM send").fetchall())
    con.close()
    assert got == [("no@example.com", outcome), ("yes@example.com", "sent")]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["sent"] == 2  # both slots used, as without pipelining


def test_through_the_relay_partial_refusals_and_one_upstream_connection(
    piped, ledger_path, monkeypatch, tmp_path
):
    import smtplib

    from warmup import Gate
    from warmup.relay import Relay

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    piped.reject_rcpt = {"dead@example.com": (550, "5.1.1 <dead@example.com>: User unknown")}
    add_box(piped.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    gate = Gate(BOX)
    relay = Relay(gate, wait=False).start()
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=30) as c:
            c.login(relay.user, relay.password)
            replies = []
            for i in range(3):
                c.mail(BOX)
                rcpt = [c.rcpt(r)[0] for r in ("ok@example.com", "dead@example.com")]
                code, text = c.data(MESSAGE.replace(b"hi", f"hi {i}".encode()))
                replies.append((rcpt, code, text.decode()))
        tally = relay.tally
    finally:
        relay.stop()
        gate.close()
    # The first message meets the refusal upstream; then the address is suppressed, and the
    # relay refuses it at RCPT itself.
    assert replies[0][:2] == ([250, 250], 250)
    assert "sent to 1 of 2; rejected upstream: dead@example.com (550)" in replies[0][2]
    assert [r[:2] for r in replies[1:]] == [([250, 550], 250)] * 2
    assert [m.rcpt_tos for m in piped.messages] == [("ok@example.com",)] * 3
    assert tally.rejected_upstream == 1 and tally.suppressed == 2
    # One upstream connection for the session's messages, every envelope in one write.
    assert piped.connections == 1
    assert [b"DATA\r\n" in r for r in envelope_reads(piped)] == [True] * 3
