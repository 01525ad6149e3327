"""A stop once the server has answered part of a message's envelope, before its data.

A hard refusal at RCPT (the address is then suppressed), a throttle at RCPT (the mailbox is
then paused): replies that decide a recipient's outcome before the data. A Ctrl-C, SIGTERM or
hang-up landing once such a reply was read unwound the send before it was written: every slot
``unknown`` (counted, "may have reached", though nothing was sent), the dead address never
suppressed, the throttle never recorded. The stop still stops the message (nothing more goes
out), and what the server had answered is written first. Each test stops a real ``warmup``
process with a real signal it sends itself when a named function is entered
(:data:`tests.test_crash_points.HOOKED`), against the loopback sink over TLS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, rows
from tests.outboxkit import pool_of
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from tests.test_crash_points import HOOKED
from tests.test_settle_window import SIGNALS, STOPS, outbox_states, stopped
from warmup import Outbox, open_ledger
from warmup.stopwindow import StopWindow

DEAD = (
    "dead@example.com",
    (550, "5.1.1 <dead@example.com>: Recipient address rejected: User unknown"),
)
THROTTLE = (451, "Ip frequency limited, try again later")  # Tencent: our rate
# Entered once the first refusal's reply is read, before anything is made of it
AT_THE_REFUSAL = "_send>throttles"


def hooked(sig: str, where: str, *args: str, n: int = 1) -> subprocess.CompletedProcess[str]:
    """``warmup args`` signalled ``sig`` as ``where`` is entered the ``n``-th time."""
    return subprocess.run(
        [sys.executable, "-c", HOOKED, sig, where, str(n), *args],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("sig", "code", "aborted"), SIGNALS, ids=str)
def test_a_stop_after_a_hard_refusal_at_rcpt_records_it_and_sends_nothing(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, sig, code, aborted
):
    """It was every slot ``unknown``, "may have reached" both, the dead address not
    suppressed: the next send mailed it again."""
    smtp_ssl.reject_rcpt = dict([DEAD])
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    proc = hooked(sig, AT_THE_REFUSAL, "send", BOX, "--to", "dead@example.com", "--to",
                  "ok@example.com", "--body", "hi")  # fmt: skip
    assert smtp_ssl.messages == []  # stopped before the data: nothing went
    assert sorted(rows(ledger_path, "SELECT recipient, outcome FROM send")) == [
        ("dead@example.com", "hard"),
        ("ok@example.com", "released"),
    ]
    assert rows(ledger_path, "SELECT address FROM suppression") == [("dead@example.com",)]
    assert proc.returncode == code, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line] == [f"{aborted}."], proc.stderr


def test_a_stop_after_a_throttle_at_rcpt_pauses_the_mailbox(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """The throttle read, then Ctrl-C: the pause it asks for is recorded, the slots released."""
    smtp_ssl.reject_rcpt = {"slow@example.net": THROTTLE}
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    proc = hooked("SIGINT", AT_THE_REFUSAL, "send", BOX, "--to", "ok@example.com", "--to",
                  "slow@example.net", "--body", "hi")  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert smtp_ssl.messages == []
    assert rows(ledger_path, "SELECT kind FROM event") == [("throttle",)]
    assert sorted(rows(ledger_path, "SELECT outcome FROM send")) == [("released",)] * 2
    assert "may have reached" not in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(cli("quota", BOX, "--json").stdout)[0]["status"] == "paused"


def test_a_stop_while_the_server_is_still_to_answer_the_envelope_sends_nothing(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """SIGTERM as the envelope's first reply is awaited: nothing goes, every slot released
    (it was ``unknown``, counted, "may have reached")."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    proc = hooked("SIGTERM", "_send>reply", "send", BOX, "--to", "ok@example.com", "--body", "hi")
    assert proc.returncode == 143, proc.stderr
    assert smtp_ssl.messages == []
    assert rows(ledger_path, "SELECT outcome FROM send") == [("released",)]
    assert "may have reached" not in proc.stderr, proc.stderr


def test_a_chunked_message_stopped_before_bdats_reply_keeps_the_refusal_at_rcpt(
    pki, ssl_cert_env, ledger_path, tmp_path
):
    """BDAT goes in the envelope's write, so a stop while its replies are read comes after the
    data left: the recipient taken at RCPT may have it (``unknown``), but the one refused at RCPT
    cannot, and that refusal was read. Both slots were ``unknown``, the dead address not
    suppressed: the next campaign mailed it again."""
    # BDAT's reply comes late, so the stop lands before it whatever the machine's speed
    sink = SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, pipelining=True,
                    chunking=True, delay_data_reply=2.0)  # fmt: skip
    sink.reject_rcpt = dict([DEAD])
    with sink:
        add_box(sink.port, "--policy", str(policy_file(tmp_path / "p.toml")))
        # Ctrl-C once the refusal is read (the second reply: MAIL's, then dead's)
        proc = hooked("SIGINT", "_send_chunked>reply_text", "send", BOX, "--to", DEAD[0],
                      "--to", "ok@example.com", "--body", "hi", n=2)  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    assert sorted(rows(ledger_path, "SELECT recipient, outcome FROM send")) == [
        ("dead@example.com", "hard"),
        ("ok@example.com", "unknown"),
    ]
    assert rows(ledger_path, "SELECT address FROM suppression") == [("dead@example.com",)]
    assert "Traceback" not in proc.stderr, proc.stderr


def test_a_pipelined_envelope_cut_by_a_stop_reads_no_reply_from_the_tls_records(
    pki, ssl_cert_env, ledger_path, tmp_path
):
    """Pipelined, every RCPT's reply is on its way with the refusal's. The stop's cut shut the
    TLS socket down through ``SSLSocket.shutdown``, which drops the TLS layer: the next read
    took the encrypted bytes already received for a reply (code -1, binary text), and the good
    recipient was settled by what that garbage classified as. It is released: nothing went."""
    sink = SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, pipelining=True)
    sink.reject_rcpt = dict([DEAD])
    with sink:
        add_box(sink.port, "--policy", str(policy_file(tmp_path / "p.toml")))
        proc = hooked("SIGINT", AT_THE_REFUSAL, "send", BOX, "--to", DEAD[0], "--to",
                      "ok@example.com", "--body", "hi")  # fmt: skip
        assert sink.messages == []
    assert proc.returncode == 130, proc.stderr
    assert sorted(rows(ledger_path, "SELECT recipient, outcome FROM send")) == [
        ("dead@example.com", "hard"),
        ("ok@example.com", "released"),
    ]
    assert rows(ledger_path, "SELECT address FROM suppression") == [("dead@example.com",)]


def test_the_workers_first_sigterm_before_the_data_still_finishes_the_message(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    """'warmup run' takes its first SIGTERM as "finish the message in flight": one landing
    after a refusal at RCPT lets the message go to the others, then stops (exit 0)."""
    smtp_ssl.reject_rcpt = dict([DEAD])
    pool_of(smtp_ssl.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        raw = b"To: dead@example.com, ok@example.com\nSubject: s\n\nhi\n"
        Outbox(ledger).add(raw, pool="P")
    finally:
        ledger.close()
    proc = stopped([("SIGTERM", AT_THE_REFUSAL, 1)], "run", "--no-sync")
    assert proc.returncode == 0, proc.stderr
    assert "Stopping after the message in flight" in proc.stderr
    assert [m.rcpt_tos for m in smtp_ssl.messages] == [("ok@example.com",)]
    assert outbox_states() == ["sent"], proc.stdout + proc.stderr
    assert ("dead@example.com",) in rows(ledger_path, "SELECT address FROM suppression")


@pytest.mark.parametrize(
    ("also", "said"),
    [
        ((), "the server took what was sent to 1 recipient"),  # a "sent" deferred, unwritten
        (  # a refusal too: the settlement held while the ledger was away
            ("--to", DEAD[0]),
            "the server answered was not recorded (counted as sent: do not send it again); "
            "suppress its hard bounces by hand: dead@example.com",
        ),
    ],
    ids=["sent", "held"],
)
def test_a_stop_held_while_the_ledger_refuses_the_record_tells_one_story(
    pg_url,  # noqa: F811
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
    also,
    said,
):
    """The server took the message, the ledger could not write it (a lock held past its
    timeout, reads still served), a SIGTERM held meanwhile: the process said "the message may
    have reached x@example.com", then (74) that the server took it: do not send it again. One
    story now: the 74 line alone."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    smtp_ssl.reject_rcpt = dict([DEAD])
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    engine = sa.create_engine(pg_url)
    holder = engine.connect()
    smtp_ssl.hold_data_reply = threading.Event()
    url = pg_url + quote(" -clock_timeout=1500", safe="")
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPS, json.dumps([("SIGTERM", "_send>delivered", 1)]),
         "send", BOX, "--to", "x@example.com", *also, "--body", "hi"],
        env={**os.environ, **PASSWORD_ENV, "WARMUP_DB": url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert smtp_ssl.holding.wait(60)  # reserved, its DATA at the server
        holder.exec_driver_sql("LOCK TABLE send IN EXCLUSIVE MODE")  # reads go on
        smtp_ssl.hold_data_reply.set()
        _, err = proc.communicate(timeout=60)
    finally:
        smtp_ssl.hold_data_reply.set()
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    with engine.connect() as conn:
        got = conn.exec_driver_sql("SELECT recipient, outcome FROM send").all()
    engine.dispose()
    assert proc.returncode == 74, (err, got)
    lines = [line for line in err.splitlines() if line]
    assert "Traceback" not in err and "may have reached" not in err, err
    assert len(lines) == 1 and said in lines[0], err
    assert "do not send it again" in lines[0], lines[0]


# -- the envelope phase itself, in this process ----------------------------------------------


def test_a_stop_before_the_data_raises_once_the_window_closes_and_cuts_the_connection():
    cut: list[str] = []
    window = StopWindow()
    with pytest.raises(KeyboardInterrupt):
        with window:
            window.envelope(lambda: cut.append("cut"))
            signal.raise_signal(signal.SIGINT)
            assert cut == ["cut"] and window.stopped  # not raised yet: what was read is written
            assert not window.data()  # the data must not go
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_that_returns_lets_the_message_go_on():
    """``warmup run``'s first SIGTERM: "finish the message in flight"."""
    got: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda n, _f: got.append(n))
    try:
        with StopWindow() as window:
            window.envelope(lambda: pytest.fail("cut"))
            signal.raise_signal(signal.SIGTERM)
            assert got == [signal.SIGTERM] and not window.stopped and window.data()
    finally:
        signal.signal(signal.SIGTERM, before)
    assert got == [signal.SIGTERM]


def test_a_stop_while_the_data_goes_acts_at_once():
    with StopWindow() as window:
        window.envelope(lambda: pytest.fail("cut"))
        assert window.data()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
