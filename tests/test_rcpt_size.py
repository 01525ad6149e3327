"""A recipient's server refusing the message's size at RCPT TO (RFC 1870: the SIZE declared
with MAIL FROM is over that recipient's limit, "552 5.3.4"): the message's fault for that
recipient, not the address's. It was that recipient's soft bounce, in the mailbox's bounce
rate, and a slot spent; now its slot is given back, the others get the message, and no path
tries it again. A full mailbox refused at RCPT TO ("552 5.2.2") stays the recipient's soft
bounce. On the loopback TLS sink, every way the commands go."""

from __future__ import annotations

import datetime as dt
import sys
from email.message import EmailMessage

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, warmup
from tests.outboxkit import clear_of_midnight, midday_zone, plain, pool_of
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.test_smtp_blame import ledger_rows, used
from warmup import Gate, Outbox, open_ledger
from warmup.outbox.worker import Worker

SIZE_REPLIES = [
    (552, "5.3.4 Message size exceeds fixed limit"),  # Postfix, Exchange
    (552, "5.2.3 Message length exceeds administrative limit"),
    (552, "Message size exceeds maximum permitted"),  # Exim: no status code
]
FULL_REPLIES = [
    (552, "5.2.2 Mailbox full"),
    (552, "5.2.2 <c2@example.com>: message size exceeds remaining quota"),  # Dovecot-like
    (552, "Requested mail action aborted: exceeded storage allocation"),  # RFC 5321's 552
]
WAYS = ["one-by-one", "pipelined", "chunked"]


def send(*rcpts: str) -> tuple[int, str, str]:
    to = [arg for r in rcpts for arg in ("--to", r)]
    res = cli("send", BOX, *to, "--subject", "Hello", "--body", "Hi there", env=PASSWORD_ENV)
    return res.returncode, res.stdout, res.stderr


def on(smtp_ssl, way: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    smtp_ssl.pipelining = way != "one-by-one"
    smtp_ssl.chunking = way == "chunked"
    # where it is midday: used() reads 'quota' at the real time, after the sends read theirs
    policy = str(policy_file(tmp_path / "flat.toml"))
    add_box(smtp_ssl.port, "--policy", policy, "--timezone", midday_zone())


@pytest.mark.parametrize("reply", SIZE_REPLIES, ids=["5.3.4", "5.2.3", "exim"])
@pytest.mark.parametrize("way", WAYS)
def test_a_size_refused_at_rcpt_releases_that_recipient_and_the_others_get_it(
    way,
    reply,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """c2's server refuses the size: c2's slot is given back (no bounce, not counted, not
    suppressed), c1 and c3 get the message. 'send' names c2's refusal and exits 65, as for
    any recipient refused for good while others got the message (a hard one included): the
    same message to c2 is refused again, so it is not told to send it again."""
    on(smtp_ssl, way, tmp_path)
    smtp_ssl.reject_rcpt = {"c2@example.com": reply}
    code, out, err = send("c1@example.com", "c2@example.com", "c3@example.com")
    assert code == 65, err
    assert err == (
        f"c2@example.com: released {reply[0]} {reply[1]}\n"
        f"The server of c2@example.com refuses this message's size for good: sent again it is "
        f"refused again; make it smaller (a link instead of an attachment?)\n"
    )
    assert "Sent " in out and "to 2 recipients" in out, out
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com", "c3@example.com")]
    outcomes = ledger_rows(ledger_url, "SELECT recipient, outcome FROM send ORDER BY recipient")
    assert outcomes == [
        ("c1@example.com", "sent"),
        ("c2@example.com", "released"),
        ("c3@example.com", "sent"),
    ]
    assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(0,)]
    assert ledger_rows(ledger_url, "SELECT count(*) FROM suppression") == [(0,)]
    assert used() == (2, 48)


@pytest.mark.parametrize("way", WAYS)
def test_a_size_refused_at_rcpt_to_the_only_recipient_is_bad_data_and_costs_nothing(
    way,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Nobody got it: 65, as the size refused at MAIL FROM or at the end of DATA; nothing
    counted."""
    on(smtp_ssl, way, tmp_path)
    smtp_ssl.reject_rcpt = {"big@example.com": SIZE_REPLIES[0]}
    code, out, err = send("big@example.com")
    assert code == 65, err
    assert out == ""
    assert err == (
        "big@example.com: released 552 5.3.4 Message size exceeds fixed limit\n"
        "The server of big@example.com refuses this message's size for good: sent again it is "
        "refused again; make it smaller (a link instead of an attachment?)\n"
    )
    assert smtp_ssl.messages == []
    assert ledger_rows(ledger_url, "SELECT outcome FROM send") == [("released",)]
    assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(0,)]
    assert used() == (0, 50)


@pytest.mark.parametrize("reply", FULL_REPLIES, ids=["5.2.2", "quota", "storage"])
def test_a_full_mailbox_at_rcpt_stays_the_recipients_soft_bounce(
    reply, smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """A 552 that says the mailbox is full (5.2.2, "quota", RFC 5321's "exceeded storage
    allocation") is about the recipient, even in words of size: its soft bounce, counted, and
    the message may go tomorrow (75, send it again to them)."""
    on(smtp_ssl, "pipelined", tmp_path)
    smtp_ssl.reject_rcpt = {"c2@example.com": reply}
    code, _, err = send("c1@example.com", "c2@example.com")
    assert code == 75, err
    assert f"c2@example.com: soft {reply[0]} {reply[1]}\n" in err
    assert "Not sent yet to c2@example.com: send it again to them alone" in err
    url = f"sqlite:///{ledger_path}"
    assert ledger_rows(url, "SELECT recipient, kind FROM bounce") == [("c2@example.com", "soft")]
    assert used() == (2, 48)


def test_the_library_reports_the_recipient_released_with_the_servers_reply(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, monkeypatch
):
    """Gate.send: the refused recipient is ``released`` with the 552 and its words, for a
    script to tell it from one that was never tried."""
    on(smtp_ssl, "one-by-one", tmp_path)
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    smtp_ssl.reject_rcpt = {"c2@example.com": SIZE_REPLIES[0]}
    msg = EmailMessage()
    msg["To"] = "c1@example.com, c2@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    with Gate(BOX) as gate:
        report = gate.send(msg)
    assert report.sent == ["c1@example.com"]
    c2 = report.results["c2@example.com"]
    assert (c2.outcome, c2.code, c2.text) == ("released", *SIZE_REPLIES[0])


def relayed(tmp_path, rcpts: list[str]):  # type: ignore[no-untyped-def]
    """``warmup send BOX -- SCRIPT``: the script sends one message to ``rcpts`` through the
    relay with smtplib and prints the relay's reply to its end of DATA."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os, smtplib\n"
        "e = os.environ\n"
        "with smtplib.SMTP(e['WARMUP_SMTP_HOST'], int(e['WARMUP_SMTP_PORT'])) as c:\n"
        "    c.login(e['WARMUP_SMTP_USER'], e['WARMUP_SMTP_PASSWORD'])\n"
        "    c.mail(e['WARMUP_SMTP_USER'])\n"
        f"    for r in {rcpts!r}:\n"
        "        c.rcpt(r)\n"
        "    code, text = c.data(b'Subject: a\\r\\n\\r\\nA\\r\\n')\n"
        "    print(code, text.decode())\n"
    )
    return warmup("send", BOX, "--", sys.executable, str(script), env=PASSWORD_ENV)


def test_the_relay_answers_a_size_refused_at_rcpt_for_good(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """Through the relay: the 250 names c2 as rejected upstream with its 552 (not among those
    deferred, whom the summary tells a retry would reach); a message to c2 alone is answered
    552 5.3.4, a refusal for good, as the size refused at MAIL FROM or at the end of DATA."""
    on(smtp_ssl, "pipelined", tmp_path)
    smtp_ssl.reject_rcpt = {"c2@example.com": SIZE_REPLIES[2]}
    res = relayed(tmp_path, ["c1@example.com", "c2@example.com"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("250 2.0.0 OK "), res.stdout
    assert res.stdout.endswith(" sent to 1 of 2; rejected upstream: c2@example.com (552)\n")
    assert "not reached" not in res.stderr, res.stderr
    res = relayed(tmp_path, ["c2@example.com"])
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "552 5.3.4 upstream: the server of c2@example.com refuses the message's size (552 "
        "Message size exceeds maximum permitted): make it smaller\n"
    )
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com",)]
    url = f"sqlite:///{ledger_path}"
    assert ledger_rows(url, "SELECT count(*) FROM bounce") == [(0,)]
    assert used() == (1, 49)


def test_the_worker_does_not_retry_a_recipient_whose_server_refuses_the_size(
    sink, ssl_cert_env, password, tmp_path
):
    """The worker ends a recipient's refusal for good as it ends a hard one's: not queued
    again for that recipient (each try would take the message's upload and be refused again),
    the message ``sent`` when others got it, ``bounced`` when nobody did; no bounce counted."""
    [box] = pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"big@example.com": SIZE_REPLIES[0]}
    t0 = clear_of_midnight()
    ledger = open_ledger()
    outbox = Outbox(ledger)
    both = outbox.add(plain("ok@example.com, big@example.com"), pool="P", now=t0)
    alone = outbox.add(plain("big@example.com"), pool="P", now=t0)
    with Worker(ledger, clock=lambda: t0) as worker:
        assert worker.run_once().outcomes == {"sent": 1, "bounced": 1}
        assert worker.run_once().outcomes == {}  # nothing queued again
    assert ledger.message(both).state == "sent"
    row = ledger.message(alone)
    assert row.state == "bounced" and "5.3.4 Message size exceeds" in (row.last_reply or "")
    assert [m.rcpt_tos for m in sink.messages] == [("ok@example.com",)]
    assert not ledger.suppressed(["big@example.com"])
    with Gate(box, ledger=ledger) as gate:
        allowance, _ = gate.preview(["x@example.com"], now=t0 + dt.timedelta(minutes=1))
    assert allowance.remaining == 49  # ok@'s slot alone
