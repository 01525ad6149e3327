"""A server that keeps the connection but does not answer the end of DATA within the timeout (a
slow content filter): ``warmup run`` ends the message ``unknown`` (it may have been delivered)
and says the server did not answer in time. It said "server closed the connection (Connection
unexpectedly closed: The read operation timed out)", smtplib's words for a read that timed
out, which sent the operator after a server that drops connections rather than to the
timeout; and a result without a reply code had two spaces in its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, rows, warmup


def test_a_reply_that_does_not_come_in_time_is_said_so_and_leaves_the_message_unknown(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path
):
    add_box(smtp_ssl.port)
    eml = tmp_path / "m.eml"
    eml.write_text("To: lead@example.com\nSubject: hi\n\nhello\n")
    assert cli("queue", "add", "--mailbox", BOX, "--eml", str(eml)).returncode == 0
    smtp_ssl.delay_data_reply = 3.0  # the data all there; the reply after the worker's 1 s
    res = warmup("run", "--once", "--no-sync", "--timeout", "1", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    lost = "connection lost in DATA: the server did not answer in time (timed out)"
    [(state, reply)] = rows(ledger_path, "SELECT state, last_reply FROM outbox")
    assert (state, reply) == (
        "unknown",
        f"lead@example.com: unknown {lost}; connection lost during DATA: the server did not "
        f"answer in time (timed out)",
    )
    assert "closed the connection" not in res.stdout + res.stderr
    assert f"to lead@example.com: lead@example.com: unknown {lost}" in res.stdout, res.stdout
    assert rows(ledger_path, "SELECT outcome FROM send") == [("unknown",)]  # counted


def test_a_message_whose_recipient_the_server_drops_the_connection_at_holds_up_no_other(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path
):
    """A server that cuts the session at one recipient (no reply to its RCPT TO: a blocklisted
    address, a filter) set the member aside for the pass, as a dead server is: the message
    queued after it was deferred untried, every pass, the one that cut first again each time,
    until both expired (72 h) and the good one was never sent. The cut message backs off; the
    next goes on a new connection."""
    add_box(smtp_ssl.port)
    smtp_ssl.drop_rcpt = "cut@example.com"
    for name, to in (
        ("cut.eml", "lead@example.com, cut@example.com"),
        ("ok.eml", "ok@example.com"),
    ):
        (tmp_path / name).write_text(f"To: {to}\nSubject: hi\n\nhello\n")
        assert cli("queue", "add", "--mailbox", BOX, "--eml", str(tmp_path / name)).returncode == 0
    res = warmup("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    states = rows(ledger_path, "SELECT id, state, attempts FROM outbox ORDER BY id")
    assert states == [(1, "queued", 1), (2, "sent", 1)], res.stdout
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",)]
    assert rows(ledger_path, "SELECT recipient, outcome FROM send ORDER BY id") == [
        ("lead@example.com", "released"),
        ("cut@example.com", "released"),
        ("ok@example.com", "sent"),
    ]


def test_a_server_that_cuts_every_envelope_is_not_reconnected_to_for_each_message(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path
):
    """A server that drops the session at every recipient (a rate limiter cutting sessions) got a
    new connection and login for each queued message in one pass once a cut was read as the
    message's: a burst of logins a provider locks an account for. The second cut of a pass is
    the server's, as before: the member is set aside, and the rest wait for the next pass."""
    add_box(smtp_ssl.port)
    cuts = tuple(f"cut{i}@example.com" for i in range(6))
    smtp_ssl.drop_rcpt = cuts
    for to in cuts:
        (tmp_path / "m.eml").write_text(f"To: {to}\nSubject: hi\n\nhello\n")
        assert (
            cli("queue", "add", "--mailbox", BOX, "--eml", str(tmp_path / "m.eml")).returncode == 0
        )
    smtp_ssl.connections = 0
    res = warmup("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    # Two messages tried, each a connection and the one reconnect of a lost session: 4, where
    # every one of the six was tried before (12).
    assert smtp_ssl.connections == 4, res.stdout
    assert smtp_ssl.messages == []
    assert [s for (s,) in rows(ledger_path, "SELECT state FROM outbox")] == ["queued"] * 6


@pytest.mark.parametrize("pipelining", [False, True], ids=["one by one", "pipelined"])
def test_a_message_whose_recipient_the_server_stalls_at_holds_up_no_other(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path, pipelining: bool
):
    """A server that keeps the session but never answers one recipient's RCPT TO (a filter
    that stalls a blocklisted address until the client gives up) set the member aside for the
    pass, as a server that is down is: the message queued after it was deferred untried (and
    counted a try), every pass, the stalled one first again each time, until both expired.
    As for a server that cuts the session there: the stalled message backs off, its try
    counted, and the next goes on a new connection."""
    add_box(smtp_ssl.port)
    smtp_ssl.pipelining = pipelining
    smtp_ssl.stall_rcpt = "slow@example.com"
    for name, to in (
        ("slow.eml", "lead@example.com, slow@example.com"),
        ("ok.eml", "ok@example.com"),
    ):
        (tmp_path / name).write_text(f"To: {to}\nSubject: hi\n\nhello\n")
        assert cli("queue", "add", "--mailbox", BOX, "--eml", str(tmp_path / name)).returncode == 0
    res = warmup("run", "--once", "--no-sync", "--timeout", "1", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    states = rows(ledger_path, "SELECT id, state, attempts FROM outbox ORDER BY id")
    assert states == [(1, "queued", 1), (2, "sent", 1)], res.stdout
    [(reply,)] = rows(ledger_path, "SELECT last_reply FROM outbox WHERE id = 1")
    assert "the server did not answer in time (timed out)" in reply, reply
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",)]
    assert rows(ledger_path, "SELECT recipient, outcome FROM send ORDER BY id") == [
        ("lead@example.com", "released"),
        ("slow@example.com", "released"),
        ("ok@example.com", "sent"),
    ]


def test_a_server_that_stalls_every_envelope_is_set_aside_after_a_second_message(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path
):
    """A server that answers no RCPT TO at all (too busy to, a rate limiter holding sessions)
    is the server failing, not each message: as for one that cuts every envelope, the second
    message it stalls in a pass sets the member aside, so a pass costs two messages' timeouts
    (and their connections), not one for every queued message. The messages after them were
    never tried: they wait as long as the tried ones, but no try is counted against them."""
    add_box(smtp_ssl.port)
    stalls = tuple(f"slow{i}@example.com" for i in range(6))
    smtp_ssl.stall_rcpt = stalls
    for to in stalls:
        (tmp_path / "m.eml").write_text(f"To: {to}\nSubject: hi\n\nhello\n")
        assert (
            cli("queue", "add", "--mailbox", BOX, "--eml", str(tmp_path / "m.eml")).returncode == 0
        )
    smtp_ssl.connections = 0
    res = warmup("run", "--once", "--no-sync", "--timeout", "1", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    # each of the two tried: a connection and the one reconnect of a lost session
    assert smtp_ssl.connections == 4, res.stdout
    assert smtp_ssl.messages == []
    tries = rows(ledger_path, "SELECT state, attempts FROM outbox ORDER BY id")
    assert tries == [("queued", 1)] * 2 + [("queued", 0)] * 4, res.stdout
    # every one backs off a first try's 5 minutes, tried or not (no retry every 5 s)
    waits = rows(
        ledger_path,
        "SELECT round((julianday(next_attempt_at) - julianday(updated_at)) * 1440) FROM outbox",
    )
    assert waits == [(5.0,)] * 6, waits


@pytest.mark.parametrize("fault", ["drop_mail", "stall_mail"], ids=["cut", "stalled"])
def test_a_server_that_fails_at_mail_from_is_set_aside_at_the_first_message(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path: Path, fault: str
):
    """A session cut or stalled at MAIL FROM, before any recipient, is the server's, not one
    message's (a cut there was taken for the message's, and the next message got a new
    connection and login): the member is set aside for the pass at once, and the message
    after it, never tried, is deferred without a try counted (it was counted one)."""
    add_box(smtp_ssl.port)
    setattr(smtp_ssl, fault, True)
    for to in ("a@example.com", "b@example.com"):
        (tmp_path / "m.eml").write_text(f"To: {to}\nSubject: hi\n\nhello\n")
        assert (
            cli("queue", "add", "--mailbox", BOX, "--eml", str(tmp_path / "m.eml")).returncode == 0
        )
    smtp_ssl.connections = 0
    res = warmup("run", "--once", "--no-sync", "--timeout", "1", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert smtp_ssl.connections == 2, res.stdout  # the first message's, and its one reconnect
    tries = rows(ledger_path, "SELECT state, attempts FROM outbox ORDER BY id")
    assert tries == [("queued", 1), ("queued", 0)], res.stdout
