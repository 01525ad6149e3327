"""The worker as real processes: killed with SIGKILL at random moments, stopped with SIGTERM,
and (on PostgreSQL) four workers sharing one outbox. Nothing queued is lost, nothing is
delivered twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from email.message import EmailMessage

import pytest

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import members_sink, plain, pool_of, queue_plain
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from warmup import Outbox
from warmup.ledger import open_ledger


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 4) as s:
        yield s


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*forkcli.command(), "run", *args],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outbox_states() -> dict[str, str]:
    """Message-ID -> state."""
    return {m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)}


@pytest.mark.slow
def test_kill_9_at_random_moments_never_loses_nor_repeats_a_message(
    sink, ssl_cert_env, ledger_path, tmp_path
):
    """Acceptance 2: 50 messages, 10 workers killed at random moments, then one that finishes."""
    pool_of(sink.port, tmp_path, n=2, daily=500)
    queue_plain(50)
    sink.delay_data_reply = 0.2  # a kill often lands while the server has the data
    rng = random.Random(13)
    for _ in range(10):
        proc = worker()
        time.sleep(rng.uniform(0.6, 2.0))  # a random point: start-up, a claim, a conversation
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    last = worker("--once")
    out, err = last.communicate(timeout=120)
    assert last.returncode == 0, err
    time.sleep(sink.delay_data_reply + 0.5)  # let the sink finish what it received

    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert [mid for mid, n in arrived.items() if n > 1] == []
    states = outbox_states()
    assert len(states) == 50
    counts = Counter(states.values())
    assert counts["sent"] + counts["unknown"] + counts["queued"] == 50, counts
    assert counts["sending"] == 0
    # Whatever reached the server is sent or unknown, never queued (it would go again); every
    # message said sent is at the server.
    assert {mid: states[mid] for mid in arrived if states[mid] not in ("sent", "unknown")} == {}
    assert {mid for mid, s in states.items() if s == "sent"} <= set(arrived)
    assert counts["sent"] >= 30, counts  # the kills cost a few messages, not the campaign
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_finishes_the_message_in_flight_then_exits_0(sink, ssl_cert_env, tmp_path, sig):
    # SIGHUP (the terminal or SSH session of 'warmup run' closed) killed the worker in the
    # conversation, its message left 'sending' for the next run to call 'unknown' (a person's
    # to decide, though the server had taken it). It stops as SIGTERM's first does, even
    # when it comes twice (the terminal's and its shell's).
    pool_of(sink.port, tmp_path, n=1, daily=50)
    queue_plain(3)
    # The server holds the first message's DATA reply until the worker has taken the SIGTERM:
    # with a reply 1.5 s after MAIL, a starved test sent the signal after it, and the worker
    # had begun the second message by then (two sent).
    sink.hold_data_reply = threading.Event()
    proc = worker()
    try:
        assert sink.holding.wait(60) and proc.poll() is None  # the first message is in DATA
        proc.send_signal(sig)
        assert proc.stderr is not None
        said = proc.stderr.readline()
        assert said.startswith("Stopping after the message in flight"), said
        if sig == signal.SIGHUP:
            proc.send_signal(sig)  # a second hang-up is no second stop
            time.sleep(0.5)
    finally:
        sink.hold_data_reply.set()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("Stopped.")
    assert len(sink.messages) == 1
    states = outbox_states()
    assert states[str(sink.messages[0].message["Message-ID"])] == "sent"
    assert sorted(states.values()) == ["queued", "queued", "sent"]


def test_sigterm_while_waiting_says_no_message_was_in_flight_and_stops_at_once(
    sink, ssl_cert_env, tmp_path
):
    """A worker waiting for new messages (nothing queued) said "Stopping after the message in
    flight (SIGTERM or Ctrl-C again to stop at once)" to its SIGTERM: a message that was not
    there, and a second signal that was not needed. It says it was waiting, and stops, exit 0."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    proc = worker("--no-sync")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        while line and "nothing is queued: waiting for new messages" not in line:
            line = proc.stdout.readline()
        assert line, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        said = proc.stderr.readline()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.returncode is None:  # failed above: not left running
            proc.kill()
            proc.communicate()
    assert said == "Stopping now: the worker was waiting, no message in flight.\n", said + err
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("Stopped."), out
    assert sink.messages == []


@pytest.mark.slow
def test_four_workers_on_two_hosts_share_one_postgresql_outbox(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """Acceptance 4: 2 "hosts" (application names) x 2 workers, 200 messages, 4 mailboxes at a
    flat 30 a day: every slot used once, no Message-ID twice, no mailbox over its quota."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    boxes = pool_of(sink.port, tmp_path, n=4, daily=30)
    queue_plain(200)
    procs = []
    for host in ("host-a", "host-b"):
        env = {"WARMUP_DB": f"{pg_url}&application_name={host}"}
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [*forkcli.command(), "run", "--once"],
                    env={**os.environ, **PASSWORD_ENV, **env},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    assert all("Traceback" not in err for _, err in outs)
    assert sum("sent" in out for out, _ in outs) >= 2  # the work was shared

    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert [mid for mid, n in arrived.items() if n > 1] == []
    per_box = Counter(str(m.message["From"]) for m in sink.messages)
    assert per_box == {box: 30 for box in boxes}
    states = outbox_states()
    assert Counter(states.values()) == {"sent": 120, "queued": 80}
    assert {mid for mid, s in states.items() if s == "sent"} == set(arrived)


@pytest.mark.parametrize("reply", [(451, "4.7.1 Greylisted, please try again later"), (250, "OK")])
def test_a_campaign_cancelled_while_a_worker_sends_it_ends_with_that_message_too(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    reply,
):
    """'queue cancel --campaign' while a worker process is in the middle of the campaign's
    message (the server holds its DATA reply): the message in flight is finished, and its
    outcome stands when it is one (sent); when it would go back to the queue (a 4xx), it is
    cancelled instead. It was queued again, and sent at its next try after the user had
    been told the campaign was cancelled."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        msg = EmailMessage()
        msg["To"] = "lead@example.com"
        msg["Subject"] = "dec"
        msg.set_content("hello")
        first = Outbox(ledger).add(msg, pool="P", campaign="dec")
        others = queue_plain(2)  # no campaign: the cancel leaves them
    finally:
        ledger.close()
    sink.hold_data_reply = threading.Event()
    sink.data_reply = reply
    proc = worker("--once", "--no-sync")
    try:
        assert sink.holding.wait(60), proc.stderr
        res = cli("queue", "cancel", "--campaign", "dec")
        assert res.returncode == 0, res.stderr
        assert "being sent" in res.stdout
    finally:
        sink.hold_data_reply.set()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    rows = {m["id"]: m for m in json.loads(cli("queue", "list", "--json").stdout)}
    expected = "sent" if reply[0] == 250 else "cancelled"
    assert rows[first]["state"] == expected, rows[first]
    left = "sent" if reply[0] == 250 else "queued"  # the server deferred them too
    assert [rows[i]["state"] for i in others] == [left, left]
    again = worker("--once", "--no-sync")  # nothing of the campaign is tried again
    again.communicate(timeout=60)
    assert {m["id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)}[
        first
    ] == expected
    assert [m.rcpt_tos for m in sink.messages].count(("lead@example.com",)) == (reply[0] == 250)


@pytest.mark.slow
def test_a_second_sigterm_stops_at_once_and_the_first_says_what_it_waits_for(
    sink, ssl_cert_env, tmp_path
):
    """The first SIGTERM (Ctrl-C) while a server takes its time said nothing for up to the SMTP
    timeout, and a second did nothing: a user who saw no reaction reached for kill -9. Now the
    first says, in one line, that the message in flight is finished first and that a second
    stops at once; the second stops within a moment, the message settled from the gate's slots
    (its DATA went: unknown, never sent again), the rest left queued, no traceback."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    queue_plain(3)
    # The server never replies to DATA until the test is over (the SMTP timeout is 120 s):
    # the deadlines below only bound a hang, each far below that. Waiting for the server to
    # hold the DATA, not 0.5 s after MAIL, is what makes the message in flight "unknown": a
    # starved worker had not sent its DATA yet when the signals came.
    sink.hold_data_reply = threading.Event()
    proc = worker("--timeout", "120")
    try:
        assert sink.holding.wait(60) and proc.poll() is None  # its DATA is at the server
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        said = proc.stderr.readline()  # a line, at once: not after the reply that never comes
        assert said.startswith("Stopping after the message in flight"), said
        assert "again to stop at once" in said
        assert proc.poll() is None  # still finishing it
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=45)
    finally:
        sink.hold_data_reply.set()
        if proc.returncode is None:  # failed above: not left running
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and err.rstrip().endswith("Aborted."), err
    assert sorted(outbox_states().values()) == ["queued", "queued", "unknown"]
    # The message's line says what became of it and the way on, as 'queue show' does: it was
    # "unknown #1 <...>" alone, the last line before "Aborted.".
    [line] = [x for x in (out + err).splitlines() if " unknown #" in x]
    assert line.endswith(
        "stopped while sending: it may have left; never re-sent automatically "
        f"('warmup queue retry {line.split('#')[1].split()[0]}' resends it)"
    ), line


@pytest.mark.slow
def test_a_worker_started_under_nohup_does_not_hear_a_hang_up(sink, ssl_cert_env, tmp_path):
    """SIGHUP stops 'warmup run' as SIGTERM does (see above), unless it was started with the
    signal ignored (nohup): it keeps sending."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    queue_plain(3)
    sink.hold_data_reply = threading.Event()
    ignored = subprocess.Popen(
        # not the zygote's fork: it would not inherit the ignored signal
        [sys.executable, "-m", "warmup", "run", "--no-sync"],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # as nohup starts it
    )
    try:
        assert sink.holding.wait(60)
        ignored.send_signal(signal.SIGHUP)
        time.sleep(0.5)  # a stop would be taken at once
    finally:
        sink.hold_data_reply.set()
    deadline = time.monotonic() + 60
    while Counter(outbox_states().values())["sent"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ignored.poll() is None  # still running, all sent
    ignored.send_signal(signal.SIGTERM)
    out, err = ignored.communicate(timeout=60)
    assert ignored.returncode == 0, err
    assert sorted(outbox_states().values()) == ["sent"] * 3


@pytest.mark.parametrize(
    "reply",
    [
        (552, "5.3.4 Message size exceeds fixed limit"),
        (552, "Message size exceeds maximum permitted"),
    ],
)
def test_a_worker_killed_after_a_size_refusal_at_rcpt_to_never_mails_that_recipient_again(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    reply,
):
    """A recipient's server refused the message's size at RCPT TO (its slot released, no
    bounce) while the other recipient got it, and the worker was killed (SIGKILL) after the
    gate settled the slots but before it wrote the message's state. Recovered, the released
    slot read as "nothing left, retry": the message was queued again for that recipient and
    sent again, to be refused again, at every such crash. The slot says why it was released:
    recovered, the message is ``sent`` (to the other), as the live worker ends it."""
    from tests import test_crash_points as crash

    pool_of(sink.port, tmp_path, n=1, daily=50)
    sink.reject_rcpt = {"big@example.com": reply}
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("in@example.com, big@example.com"), pool="P")
    finally:
        ledger.close()
    # killed once the gate has settled the try, before the worker judges (and writes) it
    killed = crash.hooked("SIGKILL", "_too_big_is_final", 1, "run", "--once", "--no-sync",
                          env=PASSWORD_ENV)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (sink.mail_commands, [m.rcpt_tos for m in sink.messages]) == (1, [("in@example.com",)])
    assert outbox_states() == {next(iter(outbox_states())): "sending"}

    again = worker("--once", "--no-sync")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert sink.mail_commands == 1, out  # nobody mailed again
    [row] = json.loads(cli("queue", "list", "--json").stdout)
    assert (row["id"], row["state"]) == (mid, "sent"), row
    assert not open_ledger().suppressed(["big@example.com"])  # the address did nothing wrong


@pytest.mark.parametrize("where", ["MAIL FROM", "end of DATA"])
def test_a_worker_killed_after_the_server_refused_the_messages_size_does_not_send_it_again(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
    where,
):
    """The server refused the whole message for its size (552 5.3.4 at MAIL FROM, or at the
    end of DATA: the message uploaded in full), its slots released, and the worker was killed
    before writing the message's state: recovered, it was queued again and refused again
    (uploaded again) at every such crash. Its slots say why: it ends ``bounced``, as the live
    worker ends it, no recipient suppressed."""
    from tests import test_crash_points as crash

    pool_of(sink.port, tmp_path, n=1, daily=50)
    reply = (552, "5.3.4 Message size exceeds fixed limit")
    if where == "MAIL FROM":
        sink.reject_mail = reply
    else:
        sink.data_reply = reply
    [mid] = queue_plain(1)
    # the gate's settlement (Gate._settle) done, the worker's (delivery's _settle) not written
    killed = crash.hooked("SIGKILL", "deliver>_settle", 2, "run", "--once", "--no-sync",
                          env=PASSWORD_ENV)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sink.mail_commands == 1 and list(outbox_states().values()) == ["sending"]

    again = worker("--once", "--no-sync")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert (sink.mail_commands, len(sink.refused)) == (1, where != "MAIL FROM"), out
    [row] = json.loads(cli("queue", "list", "--json").stdout)
    assert (row["id"], row["state"]) == (mid, "bounced"), row
    assert not open_ledger().suppressed(["r0@example.com"])
