"""``warmup send (ADDRESS | --pool NAME) --queue -- COMMAND``: the relay answers 250 "queued as
ID" at once and stores each message in the outbox; ``warmup run`` sends it later.

The acceptance test runs real processes (warmup wrapping a client script) against the TLS sink
of tests/peers; the guard tests talk SMTP to a queue relay started in this process.
"""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import subprocess
import sys
import textwrap

import pytest

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import cli
from tests.outboxkit import BOXES, pool_of
from tests.peers.fixtures import SMTP_PASSWORD
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

A, B = BOXES[:2]

# Sends 8 messages on one connection: From the first member, the second, none, and one with a
# Bcc; records every reply and how long the whole run took.
SCRIPT = textwrap.dedent("""\
    import json, os, smtplib, sys, time
    from email.message import EmailMessage

    env, seen, start = os.environ, [], time.monotonic()
    with smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60) as s:
        s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
        for i in range(8):
            msg = EmailMessage()
            if i % 3 == 0:
                msg["From"] = env["WARMUP_MAILBOX"]
            elif i % 3 == 1:
                msg["From"] = "Sales <b@corp.example>"
            msg["To"] = f"lead{i}@example.com"
            if i == 4:
                msg["Bcc"] = "hidden@example.com"
            msg["Subject"] = f"message {i}"
            msg["Message-ID"] = f"<q{i}@script.example>"
            msg.set_content("Hello.")
            try:
                s.send_message(msg, from_addr=env["WARMUP_MAILBOX"])
                seen.append({"code": 250})
            except smtplib.SMTPResponseException as e:
                seen.append({"code": e.smtp_code, "text": e.smtp_error.decode()})
    with open(sys.argv[1], "w") as f:
        json.dump({"replies": seen, "took": time.monotonic() - start}, f)
""")


def warmup(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` as its own process (inherits WARMUP_DB, SSL_CERT_FILE, ...)."""
    return subprocess.run(
        [*forkcli.command(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def sender(received) -> str:  # type: ignore[no-untyped-def]
    """The address of a received message's From (its display name aside)."""
    return str(received.message["From"].addresses[0].addr_spec)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.mark.slow
def test_a_script_queues_8_messages_at_once_and_the_worker_sends_them_from_the_pool(
    sink, ssl_cert_env, tmp_path, ledger_path, monkeypatch
):
    pool_of(sink.port, tmp_path, n=2, daily=5, interval="5m")  # a gap of minutes per member
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "out.json"

    res = warmup(
        "send", "--pool", "P", "--queue", "--campaign", "dec", "--", "python", str(script), str(out)
    )

    assert res.returncode == 0, res.stderr
    got = json.loads(out.read_text())
    assert [r["code"] for r in got["replies"]] == [250] * 8, got
    assert got["took"] < 20, got  # no pacing hold: a held reply waits for the 5-minute gap
    assert "queued 8 messages to pool P (campaign dec); 'warmup run' sends them" in res.stderr
    assert sink.messages == [] and sink.connections == 0  # nothing left for the provider
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert sorted(m["message_id"] for m in listed) == [f"<q{i}@script.example>" for i in range(8)]
    assert {(m["state"], m["pool"], m["campaign"]) for m in listed} == {("queued", "P", "dec")}
    [bcc] = [m for m in listed if m["message_id"] == "<q4@script.example>"]
    assert sorted(bcc["recipients"]) == ["hidden@example.com", "lead4@example.com"]

    monkeypatch.setenv("WARMUP_PASSWORD", SMTP_PASSWORD)
    once = cli("run", "--once")
    assert once.returncode == 0, once.stderr
    assert sorted(sender(m) for m in sink.messages) == [A, B]  # one per member
    start = dt.datetime.now(dt.UTC)
    with Worker(open_ledger(), clock=(clock := Clock(start))) as worker:
        for k in range(1, 4):  # the next slots, 5 minutes apart: time passed in, not slept
            clock.at = start + dt.timedelta(minutes=6 * k)
            worker.run_once()
    assert len(sink.messages) == 8
    assert sorted(m.message["Message-ID"] for m in sink.messages) == [
        f"<q{i}@script.example>" for i in range(8)
    ]
    by_from = [sender(m) for m in sink.messages]
    assert sorted(set(by_from)) == [A, B] and by_from.count(A) == by_from.count(B) == 4
    # The script's display name goes with whichever member sends its message (it was dropped).
    named = [m for m in sink.messages if int(m.message["Subject"].split()[-1]) % 3 == 1]
    assert {str(m.message["From"].addresses[0].display_name) for m in named} == {"Sales"}
    [hidden] = [m for m in sink.messages if m.message["Message-ID"] == "<q4@script.example>"]
    assert "hidden@example.com" in hidden.rcpt_tos and b"hidden" not in hidden.raw
    listed = json.loads(cli("queue", "list", "--json").stdout)
    assert {m["state"] for m in listed} == {"sent"}


@pytest.fixture
def queue_relay(sink, ssl_cert_env, tmp_path, ledger_path):
    """Returns start(**QueueRelay options): pool P of A and B, a queue relay in this process."""
    from warmup.outbox.relay import QueueRelay

    pool_of(sink.port, tmp_path, n=2, daily=5)
    started = []

    def start(**options):
        server = QueueRelay(open_ledger(), **{"pool": "P", **options}).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def submit(server, raw: bytes, sender: str = A, rcpts=("lead@example.com",)):
    """Log in and send ``raw``: the end-of-DATA reply (code, text), or the first refusal."""
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        try:
            s.sendmail(sender, list(rcpts), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return code, text.decode()
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code, exc.smtp_error.decode()
        return 250, ""


def queued() -> list:
    ledger = open_ledger()
    try:
        return ledger.messages()
    finally:
        ledger.close()


def test_a_from_naming_no_member_is_refused_and_nothing_is_queued(queue_relay, sink):
    server = queue_relay()
    raw = b"From: boss@elsewhere.example\r\nTo: lead@example.com\r\nSubject: x\r\n\r\nhi\r\n"
    code, text = submit(server, raw)
    assert code == 550 and text.startswith("5.7.1 header From"), text
    assert "pool P" in text
    code, text = submit(server, b"Subject: x\r\n\r\nhi\r\n", sender="boss@elsewhere.example")
    assert code == 553 and "a member of pool P" in text, text
    assert queued() == [] and sink.connections == 0
    assert "queued 0 messages to pool P" in server.summary()
    assert "2 refused (5xx)" in server.summary()


@pytest.mark.parametrize("head", [b"Message-ID:\r\n", b"Date: \r\n"])
def test_an_empty_date_or_message_id_is_refused_as_the_gating_relay_refuses_it(head, queue_relay):
    # Queued as it was: an empty Message-ID stored as '', and the next message with one was
    # refused as "queued already (outbox id 1)"; an empty Date went to the worker as it was.
    server = queue_relay()
    code, text = submit(server, head + b"Subject: x\r\n\r\nhi\r\n")
    label = head.split(b":")[0].decode()
    assert (code, text) == (
        550,
        f"5.6.0 header {label} is empty; give it a value or leave it out (warmup adds one)",
    )
    assert queued() == []


def test_any_member_or_no_from_is_queued_with_the_envelope(queue_relay):
    server = queue_relay()
    for head in (b"From: Bea <B@corp.example>\r\n", b"", f"From: {A}\r\n".encode()):
        raw = head + b"To: lead@example.com\r\nSubject: x\r\n\r\nhi\r\n"
        code, _ = submit(server, raw, sender=B, rcpts=("lead@example.com", "cc@example.com"))
        assert code == 250
    rows = queued()
    assert [r.state for r in rows] == ["queued"] * 3
    assert {r.recipients for r in rows} == {("lead@example.com", "cc@example.com")}
    assert server.queued == [r.id for r in rows]


def test_bulk_queues_every_message_as_bulk(queue_relay):
    plain, bulk = queue_relay(campaign="plain"), queue_relay(campaign="news", bulk=True)
    for server in (plain, bulk):
        assert submit(server, b"Subject: x\r\n\r\nhi\r\n")[0] == 250
    assert {r.campaign: r.bulk for r in queued()} == {"plain": False, "news": True}


def test_the_reply_names_the_outbox_id(queue_relay):
    server = queue_relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.mail(A)
        s.rcpt("lead@example.com")
        code, text = s.data(b"Subject: x\r\n\r\nhi\r\n")
    [row] = queued()
    assert (code, text.decode()) == (250, f"2.0.0 queued as {row.id}")


def test_a_suppressed_recipient_is_refused_at_rcpt_and_the_rest_queued(queue_relay):
    assert cli("suppress", "add", "gone@example.com", "--reason", "left").returncode == 0
    server = queue_relay()
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.mail(A)
        assert s.rcpt("gone@example.com")[0] == 550
        assert s.rcpt("lead@example.com")[0] == 250
        assert s.data(b"Subject: x\r\n\r\nhi\r\n")[0] == 250
    [row] = queued()
    assert row.recipients == ("lead@example.com",)


def test_a_single_mailbox_queues_only_as_itself(queue_relay):
    server = queue_relay(pool=None, mailbox=A)
    code, text = submit(server, f"From: {B}\r\n\r\nhi\r\n".encode())
    assert code == 550 and "5.7.1" in text, text
    assert submit(server, b"Subject: x\r\n\r\nhi\r\n")[0] == 250
    [row] = queued()
    assert row.pool_id is None and row.mailbox_id is not None
    ledger = open_ledger()
    assert b"From: " + A.encode() in (ledger.message(row.id).data or b"")  # the mailbox's own
    ledger.close()


@pytest.mark.parametrize(
    "args",
    [
        ["--queue", "--", "true"],  # neither ADDRESS nor --pool
        [A, "--pool", "P", "--queue", "--", "true"],  # both
        ["--pool", "P", "--queue", "--refuse", "--", "true"],
        ["--pool", "P", "--queue", "--wait", "--", "true"],
        ["--pool", "P", "--", "true"],  # --pool without --queue
        [A, "--bulk", "--", "true"],  # --bulk without --queue
        ["--pool", "P", "--queue"],  # no command
    ],
)
def test_usage_errors_exit_64_and_leave_the_ledger_untouched(
    args, run, sink, tmp_path, ledger_path
):
    pool_of(sink.port, tmp_path, n=2)
    before = ledger_digest(ledger_path)
    res = run("send", *args)
    assert res.exit_code == 64, res.output
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


def test_an_unknown_pool_or_a_bad_campaign_is_refused_before_the_command_runs(
    run, sink, tmp_path, ledger_path
):
    pool_of(sink.port, tmp_path, n=2)
    marker = tmp_path / "ran"
    res = run("send", "--pool", "nope", "--queue", "--", "touch", str(marker))
    assert res.exit_code != 0 and "nope" in res.stderr and not marker.exists()
    res = run("send", "--pool", "P", "--queue", "--campaign", "a b", "--", "touch", str(marker))
    assert res.exit_code == 64 and "--campaign" in res.stderr and not marker.exists()


ONE_MESSAGE = (
    "import os, smtplib; e = os.environ\n"
    "with smtplib.SMTP(e['WARMUP_SMTP_HOST'], int(e['WARMUP_SMTP_PORT']), timeout=60) as s:\n"
    "    s.login(e['WARMUP_SMTP_USER'], e['WARMUP_SMTP_PASSWORD'])\n"
    "    s.sendmail(e['WARMUP_MAILBOX'], ['lead@example.com'], b'Subject: x\\r\\n\\r\\nhi\\r\\n')\n"
)


def test_send_queue_bulk_queues_the_scripts_messages_as_bulk(sink, ssl_cert_env, tmp_path):
    pool_of(sink.port, tmp_path, n=2)
    res = warmup(
        "send", "--pool", "P", "--queue", "--bulk", "--campaign", "news", "--",
        sys.executable, "-c", ONE_MESSAGE,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert [(r.campaign, r.bulk) for r in queued()] == [("news", True)]


def test_a_message_of_body_text_only_is_queued_with_that_body(queue_relay):
    # As the gating relay takes it (smtplib's sendmail(FROM, TO, "text")): no header at all is
    # all body. It was refused "550 5.6.0 header line 1 is not 'Name: value'".
    import email
    import email.policy

    server = queue_relay(pool=None, mailbox=A)
    assert submit(server, b"backup done\r\nall fine\r\n") == (250, "")
    [row] = queued()
    ledger = open_ledger()
    try:
        data = ledger.message(row.id).data or b""
    finally:
        ledger.close()
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content().splitlines() == ["backup done", "all fine"]
    assert msg["From"] == A and row.recipients == ("lead@example.com",)


def test_a_message_sent_again_after_a_recipient_was_suppressed_is_queued_already(queue_relay):
    # The campaign's message to lead@ and cc@ is queued; cc@ hard-bounced elsewhere since and is
    # refused at RCPT on the re-run. The message is the same one (its envelope as the script
    # gave it): queued again, lead@ would have got it twice.
    server = queue_relay(campaign="dec")
    raw = b"Subject: x\r\n\r\nhi\r\n"
    rcpts = ("lead@example.com", "cc@example.com")
    assert submit(server, raw, rcpts=rcpts) == (250, "")
    [row] = queued()
    assert cli("suppress", "add", "cc@example.com", "--reason", "left").returncode == 0
    with smtplib.SMTP(server.host, server.port, timeout=30) as s:
        s.login(server.user, server.password)
        s.mail(A)
        assert s.rcpt("cc@example.com")[0] == 550
        assert s.rcpt("lead@example.com")[0] == 250
        code, text = s.data(raw)
    assert (code, text.decode()) == (250, f"2.0.0 already queued as {row.id}")
    assert [r.id for r in queued()] == [row.id]
    assert server.summary().startswith(
        "warmup: queued 1 message to pool P (campaign dec); 1 already queued, not queued again; "
        "'warmup run' sends it"  # one message: not "sends them"
    )
