"""Each reply after the opening is given the timeout in all, not each read: a server trickling
the AUTH reply, MAIL's, RCPT's, DATA's, the message's, or an IMAP command's answer a byte at a
time (each byte well within the socket timeout) held a send or a sync for as long as it went on
(:class:`warmup.neterr.Replies`). Raw-socket servers on loopback play the trickle; a reply cut
at the deadline ends as a reply that timed out does (the same outcome, exit code and line)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.peers.fixtures import SMTP_PASSWORD
from tests.peers.imap import ImapScript, ImapServer
from tests.peers.smtp import Script, ScriptedServer
from warmup.bounces.imap import connect
from warmup.errors import Unavailable
from warmup.smtp import Session, Target

MESSAGE = b"From: a@corp.example\r\nSubject: hi\r\n\r\nHello.\r\n"
PACE = 0.2  # between a reply's bytes: each within any socket timeout here
BOUND = 3.0  # a 1 s timeout, with room for a loaded machine; a trickled reply lasts 12 s


def _long(status: bytes) -> bytes:
    """A one-line reply ``status`` that takes 12 s at PACE."""
    return status + b" " + b"x" * 60 + b"\r\n"


REPLIES = {
    "AUTH": _long(b"235 2.7.0"),
    "MAIL": _long(b"250 2.1.0"),
    "RCPT": _long(b"250 2.1.5"),
    "DATA": _long(b"354"),
    ".": _long(b"250 2.0.0"),
}


@pytest.mark.parametrize("verb", list(REPLIES))
def test_a_reply_trickled_after_the_opening_is_cut_at_the_timeout(verb):
    """The login is refused to go on (the account was asked: no failover, exit 69); a reply
    before the data leaves nothing sent (released); the message's reply, after it was sent:
    ``unknown``, as a connection lost in DATA."""
    script = Script(replies={verb: REPLIES[verb]}, dribble={verb: PACE})
    with ScriptedServer(script) as server:
        target = Target(("127.0.0.1",), server.port, "none", BOX, SMTP_PASSWORD, timeout=1)
        started = time.monotonic()
        if verb == "AUTH":
            with pytest.raises(Unavailable) as got:
                Session(target)
            took = time.monotonic() - started
            text = str(got.value)
            assert "\n" not in text and "login failed" in text and "timed out" in text, text
            assert took < BOUND, took
            return
        session = Session(target)
        started = time.monotonic()
        outcome = session.send(BOX, ["lead@example.com"], MESSAGE)
        took = time.monotonic() - started
        session.close()
    assert took < BOUND, took
    [result] = outcome.results.values()
    assert outcome.error is not None and "timed out" in outcome.error, outcome.error
    if verb == ".":
        assert result.outcome == "unknown"
        assert outcome.error.startswith("connection lost during DATA"), outcome.error
    else:
        assert result.outcome == "released"
        assert outcome.error.startswith("connection lost before DATA"), outcome.error


def _rows(db) -> list[tuple]:  # type: ignore[no-untyped-def]
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT outcome FROM send").fetchall()


@pytest.mark.parametrize("how", ["silent", "trickled"])
def test_a_message_reply_cut_at_the_deadline_settles_as_one_that_timed_out(
    how, pki, ssl_cert_env, ledger_path
):
    """Through 'warmup send' (the gate, implicit TLS): a server that never answers the end of
    the data and one that trickles the answer end alike, within a bound of the timeout: exit
    69, one error line, the reservation settled ``unknown`` (it may have been delivered:
    counted)."""
    end = b"" if how == "silent" else REPLIES["."]  # silent: nothing, the client waits
    script = Script(replies={".": end}, dribble={".": PACE}, tls=pki.server_ssl_context())
    with ScriptedServer(script) as server:
        add_box(server.port)
        started = time.monotonic()
        res = cli(
            "send", BOX, "--to", "lead@example.com", "--subject", "Hi", "--body", "x",
            "--timeout", "1", env=PASSWORD_ENV,
        )  # fmt: skip
        took = time.monotonic() - started
    assert took < BOUND + 1, took
    assert res.returncode == 69, res.stderr
    # the recipient's line, then the one error line: as for any message whose fate is unknown
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in res.stderr, lines
    assert lines[0].startswith("lead@example.com: unknown connection lost in DATA: "), lines
    assert lines[1].startswith("Error: connection lost during DATA: "), lines
    assert "timed out); the message may have reached lead@example.com" in lines[1], lines
    assert _rows(ledger_path) == [("unknown",)]


# -- IMAP ------------------------------------------------------------------------------------


def _tagged_long(status: bytes) -> bytes:
    return b"{tag} " + status + b" " + b"x" * 60 + b"\r\n"


def test_an_imap_login_answer_trickled_is_cut_at_the_timeout():
    """The login's answer is given the timeout in all: imaplib waited 12 s here."""
    slow = ImapScript(replies={"LOGIN": _tagged_long(b"OK")}, dribble={"LOGIN": PACE})
    with ImapServer(slow) as server:
        started = time.monotonic()
        with pytest.raises(Unavailable) as got:
            connect(("127.0.0.1",), server.port, "none", BOX, "imap-pass", timeout=1)
        took = time.monotonic() - started
    text = str(got.value)
    assert took < BOUND, took
    assert "\n" not in text and "no answer to LOGIN within 1 s" in text, text
    assert got.value.exit_code == 69


@pytest.mark.parametrize("lines", [1, 200], ids=["one-line", "many-lines"])
def test_an_imap_command_answer_trickled_after_the_login_is_cut_at_the_timeout(lines):
    """SELECT (EXAMINE) and FETCH come after the login: a byte at a time, or an endless run
    of untagged lines each well within the socket timeout, held the sync as long."""
    answer = b"* 1 EXISTS\r\n" * (lines - 1) + _tagged_long(b"OK [READ-ONLY]")
    pace = PACE if lines == 1 else 0.01  # 200 lines: 24 s in all
    slow = ImapScript(replies={"EXAMINE": answer}, dribble={"EXAMINE": pace})
    with ImapServer(slow) as server:
        imap, _ = connect(("127.0.0.1",), server.port, "none", BOX, "imap-pass", timeout=1)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            imap.select("INBOX", readonly=True)
        took = time.monotonic() - started
        imap.shutdown()
    assert took < BOUND, took


def test_a_long_imap_answer_coming_steadily_is_waited_for_past_the_timeout():
    """A FETCH of megabytes over a slow link takes far longer than the timeout in all: an answer
    coming at MIN_RATE or faster earns the time it needs (here 48 KiB at 16 KiB/s: 3 s, with a
    1 s timeout), where a trickle does not (above)."""
    from warmup.bounces.imap import MIN_RATE

    lines = 4096  # 12 bytes each
    answer = b"* 1 EXISTS\r\n" * (lines - 1) + _tagged_long(b"OK [READ-ONLY]")
    step = 4096
    assert step / 0.25 >= 2 * MIN_RATE  # twice the slowest rate waited for
    slow = ImapScript(replies={"EXAMINE": answer}, dribble={"EXAMINE": 0.25}, step=step)
    with ImapServer(slow) as server:
        imap, _ = connect(("127.0.0.1",), server.port, "none", BOX, "imap-pass", timeout=1)
        started = time.monotonic()
        typ, _ = imap.select("INBOX", readonly=True)
        took = time.monotonic() - started
        imap.shutdown()
    assert typ == "OK"
    assert took > 2, took  # it did last longer than the timeout
