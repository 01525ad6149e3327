"""Whom a refusal blames: a reply to one transaction is about the message, and a reply that
says the transaction is too big is about no recipient. Found by the sending side's attack round:
a "550 5.1.1 <one@...>: User unknown" at the end of DATA suppressed every recipient of the
message, and a "452 4.5.3 Too many recipients" to RCPT TO counted a soft bounce against each
recipient past the server's limit, in the mailbox's bounce rate (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, warmup
from tests.outboxkit import midday_zone
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import open_ledger

THREE = ("c1@example.com", "c2@example.com", "c3@example.com")


def send(*rcpts: str) -> tuple[int, str]:
    to = [arg for r in rcpts for arg in ("--to", r)]
    res = cli("send", BOX, *to, "--subject", "Hello", "--body", "Hi there", env=PASSWORD_ENV)
    return res.returncode, res.stderr


def ledger_rows(url: str, sql: str) -> list[tuple[object, ...]]:
    ledger = open_ledger(url)
    try:
        with ledger.read() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    finally:
        ledger.close()


def relayed(tmp_path, rcpts: list[str]):  # type: ignore[no-untyped-def]
    """``warmup send BOX -- SCRIPT``: the script sends one message to ``rcpts`` through the
    relay with smtplib, and prints the reply to its end of DATA when it is a refusal."""
    script = tmp_path / "script.py"
    script.write_text(
        "import os, smtplib\n"
        "e = os.environ\n"
        "with smtplib.SMTP(e['WARMUP_SMTP_HOST'], int(e['WARMUP_SMTP_PORT'])) as c:\n"
        "    c.login(e['WARMUP_SMTP_USER'], e['WARMUP_SMTP_PASSWORD'])\n"
        "    try:\n"
        f"        c.sendmail(e['WARMUP_SMTP_USER'], {rcpts!r}, 'Subject: a\\r\\n\\r\\nA\\r\\n')\n"
        "    except smtplib.SMTPDataError as exc:\n"
        "        print(exc.smtp_code, exc.smtp_error.decode())\n"
    )
    return warmup("send", BOX, "--", sys.executable, str(script), env=PASSWORD_ENV)


def mail_from_refused(smtp_ssl, way: str, reply: tuple[int, str], tmp_path) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """``send`` to three, each MAIL FROM answered ``reply``, the commands going ``way``."""
    smtp_ssl.pipelining = way != "one-by-one"
    smtp_ssl.chunking = way == "chunked"
    smtp_ssl.reject_mail = reply
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    return send(*THREE)


def suppressed() -> list[str]:
    return sorted(s["address"] for s in json.loads(cli("suppress", "list", "--json").stdout))


def test_a_user_unknown_at_the_end_of_data_blames_only_the_recipient_it_names(
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """The end of DATA answers for every recipient at once: a 5.1.1 naming one of them is that
    one's hard bounce. The others did not get the message either, but nothing says their
    address is bad: released (no bounce, no suppression), and the retry reaches them."""
    smtp_ssl.data_reply = (550, "5.1.1 <c2@example.com>: Recipient address rejected: User unknown")
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    code, err = send(*THREE)
    assert code == 75, err  # try later: the retry reaches the others (and leaves c2 out)
    assert "c2@example.com: hard 550 5.1.1" in err and "(suppressed)" in err
    assert "c1@example.com: released 550" in err and "c3@example.com: released 550" in err
    assert "Not sent yet to c1@example.com, c3@example.com: send it again to them alone" in err
    assert suppressed() == ["c2@example.com"]
    outcomes = ledger_rows(ledger_url, "SELECT recipient, outcome FROM send ORDER BY recipient")
    assert outcomes == [
        ("c1@example.com", "released"),
        ("c2@example.com", "hard"),
        ("c3@example.com", "released"),
    ]
    bounces = ledger_rows(ledger_url, "SELECT recipient, kind FROM bounce")
    assert bounces == [("c2@example.com", "hard")]
    # The server takes the message once the bad address is gone: the others get it then.
    smtp_ssl.data_reply = None
    code, err = send("c1@example.com", "c3@example.com")
    assert code == 0, err
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com", "c3@example.com")]


def test_a_user_unknown_at_the_end_of_data_naming_no_one_suppresses_no_one(
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """Naming none of several recipients, it cannot tell whose address is bad: each is refused
    for good for this message (65, counted as a block), none suppressed for ever. One recipient
    alone is still that recipient's hard bounce."""
    smtp_ssl.data_reply = (550, "5.1.1 Recipient address rejected: User unknown")
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    code, err = send(*THREE)
    assert code == 65, err
    assert "(suppressed)" not in err
    assert suppressed() == []
    outcomes = ledger_rows(ledger_url, "SELECT outcome FROM send")
    assert sorted(outcomes) == [("block",)] * 3
    code, err = send("alone@example.com")
    assert code == 65 and "alone@example.com: hard 550 5.1.1" in err, err
    assert suppressed() == ["alone@example.com"]


@pytest.mark.parametrize(
    "reply",
    [
        (452, "4.5.3 Too many recipients"),
        (452, "4.5.3 Error: too many recipients"),  # Postfix
        (552, "5.5.3 Too many recipients"),  # RFC 5321 4.5.3.1.10: treat it as temporary
    ],
    ids=["452-4.5.3", "postfix", "552-5.5.3"],
)
@pytest.mark.parametrize("way", ["one-by-one", "pipelined", "chunked"])
def test_recipients_past_the_servers_limit_are_no_bounce_and_wait_for_a_retry(
    reply,
    way,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A server taking fewer recipients per message than warmup knew refuses the rest at RCPT
    TO "too many recipients" (RFC 5321 4.5.3.1.10): the client sends them in another
    transaction. The message goes to those taken; the others are released, not soft bounces in
    the mailbox's rate, and the send says to send it again to them."""
    smtp_ssl.pipelining = way != "one-by-one"
    smtp_ssl.chunking = way == "chunked"
    smtp_ssl.reject_rcpt = {"c2@example.com": reply, "c3@example.com": reply}
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    code, err = send(*THREE)
    assert code == 75, err
    assert "Not sent yet to c2@example.com, c3@example.com" in err
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com",)]
    assert smtp_ssl.bdat_commands == (way == "chunked")
    assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(0,)]
    outcomes = ledger_rows(ledger_url, "SELECT recipient, outcome FROM send ORDER BY recipient")
    assert outcomes == [
        ("c1@example.com", "sent"),
        ("c2@example.com", "released"),
        ("c3@example.com", "released"),
    ]
    q = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert q["sent"] == 1


def test_the_relay_names_recipients_past_the_servers_limit_as_deferred(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """Through the relay: the script's message reaches those the server took, and the 250 names
    the rest as deferred (4xx), not as bounces; the summary says they were not reached."""
    smtp_ssl.reject_rcpt = {"c3@example.com": (452, "4.5.3 Too many recipients")}
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    res = relayed(tmp_path, list(THREE))
    assert res.returncode == 0, res.stderr
    assert "not reached (deferred upstream, 4xx, while others got the message): c3@example.com" in (
        res.stderr
    )
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com", "c2@example.com")]
    assert ledger_rows(f"sqlite:///{ledger_path}", "SELECT count(*) FROM bounce") == [(0,)]


@pytest.mark.parametrize("way", ["one-by-one", "pipelined", "chunked"])
def test_a_sender_refused_for_good_at_mail_from_exits_69_not_try_later(
    way,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A 5xx to MAIL FROM (a disabled or blocked account) is the server refusing this sender
    for good: every message gets it. It exited 75, "try later", so a script retrying on 75 went
    on asking, each try another refusal from the provider. Now 69, one line saying so; nothing
    sent, nothing counted, no bounce."""
    code, err = mail_from_refused(
        smtp_ssl, way, (550, "5.7.1 Sender account is disabled"), tmp_path
    )
    assert code == 69, err
    assert err == (
        f"Error: not sent: 127.0.0.1 refuses mail from {BOX} (MAIL FROM: 550 5.7.1 Sender "
        "account is disabled), and will refuse a retry alike: ask the provider why (a disabled "
        "or blocked account?)\n"
    )
    assert smtp_ssl.messages == []
    outcomes = ledger_rows(ledger_url, "SELECT outcome FROM send")
    assert outcomes == [("released",)] * 3
    assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(0,)]
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["sent"] == 0


def test_the_relay_answers_a_sender_refused_for_good_with_a_5xx_and_the_shim_exits_69(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """Through the relay it was 451 4.4.2 to every message: a script retries a 4xx. Now 554
    naming the refusal, counted as refused; the sendmail shim exits 69, as direct mode does."""
    smtp_ssl.reject_mail = (550, "5.7.1 Sender account is disabled")
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    res = relayed(tmp_path, ["c1@example.com"])
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "554 5.7.1 upstream refused the sender: 550 5.7.1 Sender account is disabled\n"
    )
    assert "0 sent, 0 deferred (4xx), 1 refused (5xx)" in res.stderr
    shim = warmup(
        "send", BOX, "--", "sh", "-c",
        "printf 'Subject: b\\n\\nB\\n' | sendmail c2@example.com; echo $?",
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert shim.returncode == 0, shim.stderr
    assert shim.stdout == "69\n"
    assert smtp_ssl.messages == []
    assert ledger_rows(f"sqlite:///{ledger_path}", "SELECT DISTINCT outcome FROM send") == [
        ("released",)
    ]


def test_the_relay_answers_a_user_unknown_naming_one_of_several_with_a_4xx(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """Through the relay, the script got the server's 550 for the whole message: it gave the
    message up for every recipient, though only the one named was suppressed and the others,
    released, were to be sent again ('send' says so, exit 75). Now a 4xx naming the refused
    one: the script's retry is refused that one at RCPT TO (suppressed) and reaches the rest."""
    smtp_ssl.data_reply = (550, "5.1.1 <c2@example.com>: Recipient address rejected: User unknown")
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "flat.toml")))
    res = relayed(tmp_path, list(THREE))
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "451 4.3.0 not sent: upstream refused c2@example.com for good (550 5.1.1 "
        "<c2@example.com>: Recipient address rejected: User unknown); nothing says the others "
        "are bad: send it again (c1@example.com, c3@example.com)\n"
    )
    assert suppressed() == ["c2@example.com"]
    smtp_ssl.data_reply = None
    res = relayed(tmp_path, list(THREE))  # the script's retry: the same message
    assert (res.returncode, res.stdout) == (0, ""), res.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("c1@example.com", "c3@example.com")]
    shim = warmup(
        "send", BOX, "--", "sh", "-c",
        "printf 'Subject: b\\n\\nB\\n' | sendmail d1@example.com d2@example.com; echo $?",
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert shim.stdout == "0\n", shim.stderr  # the server takes it now
    smtp_ssl.data_reply = (550, "5.1.1 <d4@example.com>: Recipient address rejected: User unknown")
    shim = warmup(
        "send", BOX, "--", "sh", "-c",
        "printf 'Subject: c\\n\\nC\\n' | sendmail d3@example.com d4@example.com; echo $?",
        env=PASSWORD_ENV,
    )  # fmt: skip
    assert shim.stdout == "75\n", shim.stderr  # as 'send' exits: d3 is to be sent again


@pytest.mark.parametrize("way", ["one-by-one", "pipelined", "chunked"])
def test_a_size_refused_at_mail_from_is_the_messages_fault_not_the_senders(
    way,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """RFC 1870: a server refuses the SIZE declared with MAIL FROM over its limit for this
    sender ('552 5.3.4', below the SIZE its EHLO names). It was read as the sender refused for
    good: 69, "ask the provider why (a disabled or blocked account?)", and the relay's '554
    upstream refused the sender'. It is the message that is too big: 65, as over the EHLO's
    SIZE, the relay's 552 5.3.4, nothing sent or counted."""
    code, err = mail_from_refused(
        smtp_ssl, way, (552, "5.3.4 Message size exceeds fixed maximum message size"), tmp_path
    )
    assert code == 65, err
    assert err == (
        "Error: 127.0.0.1 refuses the message's size at MAIL FROM (552 5.3.4 Message size "
        "exceeds fixed maximum message size): nothing was sent; make it smaller (a link instead "
        "of an attachment?)\n"
    )
    assert smtp_ssl.messages == []
    assert ledger_rows(ledger_url, "SELECT DISTINCT outcome FROM send") == [("released",)]
    assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(0,)]
    if way == "one-by-one":
        res = relayed(tmp_path, ["c1@example.com"])
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("552 5.3.4 127.0.0.1 refuses the message's size"), res.stdout


@pytest.mark.parametrize(
    "reply",
    [
        (552, "5.3.4 Message size exceeds fixed maximum message size"),  # Postfix
        (552, "Message size exceeds maximum permitted"),  # Exim: no enhanced status
        (552, "Message too large"),
    ],
    ids=["5.3.4", "exim", "too-large"],
)
@pytest.mark.parametrize("way", ["one-by-one", "pipelined", "chunked"])
def test_a_size_refused_at_the_end_of_data_is_the_messages_fault_not_the_recipients(
    way,
    reply,
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A 552 5.3.4 to the end of DATA (or BDAT) was each recipient's soft bounce: three in the
    mailbox's bounce rate for one message too big, and a slot each spent. Nothing was
    delivered and no address is to blame, as for the same refusal at MAIL FROM: 65, each slot
    given back, no bounce; a recipient refused at RCPT TO keeps its hard bounce; the relay
    answers 552 5.3.4."""
    smtp_ssl.pipelining = way != "one-by-one"
    smtp_ssl.chunking = way == "chunked"
    smtp_ssl.data_reply = reply
    smtp_ssl.reject_rcpt = {"c3@example.com": (550, "5.1.1 User unknown")}
    # where it is midday: used() reads 'quota' at the real time, after the sends read theirs
    policy = str(policy_file(tmp_path / "flat.toml"))
    add_box(smtp_ssl.port, "--policy", policy, "--timezone", midday_zone())
    code, err = send(*THREE)
    assert code == 65, err
    assert err == (
        f"Error: 127.0.0.1 refuses the message's size at the end of "
        f"{'BDAT' if way == 'chunked' else 'DATA'} ({reply[0]} {reply[1]}): nothing was "
        f"delivered (c3@example.com refused for good at RCPT TO, recorded); make it smaller "
        f"(a link instead of an attachment?)\n"
    )
    outcomes = ledger_rows(ledger_url, "SELECT recipient, outcome FROM send ORDER BY recipient")
    assert outcomes == [
        ("c1@example.com", "released"),
        ("c2@example.com", "released"),
        ("c3@example.com", "hard"),
    ]
    assert ledger_rows(ledger_url, "SELECT recipient, kind FROM bounce") == [
        ("c3@example.com", "hard")
    ]
    assert suppressed() == ["c3@example.com"]
    assert used() == (1, 49)  # the hard bounce's slot alone
    if way == "one-by-one":  # the relay's client is told the message's fault, for good
        res = relayed(tmp_path, ["c1@example.com"])
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith(
            f"552 5.3.4 127.0.0.1 refuses the message's size at the end of DATA ({reply[0]} "
        ), res.stdout
        assert ledger_rows(ledger_url, "SELECT count(*) FROM bounce") == [(1,)]
        assert used() == (1, 49)  # nothing spent


def used() -> tuple[int, int]:
    """BOX's slots used today and those left, as 'warmup quota' counts them (at the real time:
    a mailbox asked this lives in ``midday_zone()``, or a Shanghai midnight, 16:00 UTC, after
    its sends gave it a new, unused day)."""
    [quota] = json.loads(cli("quota", BOX, "--json").stdout)
    return quota["sent"], quota["remaining"]
