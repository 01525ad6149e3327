"""A stop between the server's reply to the end of DATA and the ledger's record of it.

The server has answered 250: the message is delivered, and what remains is to write so. A
Ctrl-C, SIGTERM or hang-up landing there unwound the send before the write: the slot ended
``unknown`` (counted, "may have reached"), though warmup knew the server had taken it, and the
person sent it again or took it for lost. Each test stops a real ``warmup`` process at that
point with a real signal, sent by the process itself when a named function is entered (the
hook of :data:`tests.test_crash_points.HOOKED`), against the loopback sink over TLS.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, rows
from tests.outboxkit import pool_of, queue_plain
from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import ledger_url, pg_url  # noqa: F401  (the fixtures)
from tests.test_crash_points import HOOKED
from warmup import Outbox, open_ledger
from warmup.stopwindow import StopWindow

# ``python -c STOPS POINTS warmup-args...``: :data:`HOOKED` with several stops, on every
# thread (the relay delivers on a thread of its own): POINTS is a JSON list of [SIGNAL,
# "[OUTER>]FUNCTION", N], each sent in turn when its function is entered for the N-th time.
STOPS = r"""
import json, os, signal, sys, threading
points = [(getattr(signal, s), *w.rpartition(">")[::2], n) for s, w, n in json.loads(sys.argv[1])]
calls, lock = [0], threading.Lock()
def under(frame, within):
    while frame is not None and frame.f_code.co_name != within:
        frame = frame.f_back
    return frame is not None
def hook(frame, event, arg):
    if event != "call" or not points:
        return
    sig, within, name, n = points[0]
    if frame.f_code.co_name == name and (not within or under(frame, within)):
        with lock:
            calls[0] += 1
            if calls[0] != n:
                return
            points.pop(0)
            calls[0] = 0
        os.kill(os.getpid(), sig)
threading.setprofile(hook)
sys.setprofile(hook)
from warmup.cli import cli
cli(sys.argv[2:], prog_name="warmup")
"""

SIGNALS = [("SIGINT", 130, "Aborted"), ("SIGTERM", 143, "Aborted (Terminated)"),
           ("SIGHUP", 129, "Aborted (Hangup)")]  # fmt: skip
# Where the stop lands: "delivered" is entered once the end of DATA's reply (or BDAT's) is
# read, in the SMTP session; "settle" as the gate settles the reservation, before the ledger
# is written.
POINTS = ["_send>delivered", "_send>settle"]
# A hang-up as a terminal's is: a suite started under nohup (SIGHUP ignored, and so in every
# child) had warmup keep ignoring it, as it does for a command run under nohup: exit 0, not 129.
HANGUP_AS_DEFAULT = "import signal; signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"


def hooked(sig: str, where: str, *args: str, n: int = 1) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` in a process of its own that sends itself ``sig`` when ``where`` is
    entered for the ``n``-th time."""
    return subprocess.run(
        [sys.executable, "-c", HANGUP_AS_DEFAULT + HOOKED, sig, where, str(n), *args],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("where", POINTS)
@pytest.mark.parametrize(("sig", "code", "aborted"), SIGNALS, ids=str)
def test_send_stopped_once_the_server_took_the_message_records_it_sent(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, sig, code, aborted, where
):
    """It was "Interrupted during delivery: the message may have reached x@example.com", the
    slot ``unknown`` (or ``reserved``, then ``unknown``): a person sent it again."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    proc = hooked(sig, where, "send", BOX, "--to", "x@example.com", "--body", "hi")
    assert len(smtp_ssl.messages) == 1
    assert rows(ledger_path, "SELECT recipient, outcome FROM send") == [("x@example.com", "sent")]
    [(mid,)] = rows(ledger_path, "SELECT message_id FROM send")
    assert proc.returncode == code, proc.stderr
    # one line (click's blank one before it aside): no "may have reached"
    assert [line for line in proc.stderr.splitlines() if line] == [
        f"{aborted}; message {mid} was sent to 1 recipient: do not send it again"
    ], proc.stderr


def stopped(points: list[tuple[str, str, int]], *args: str) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` in a process of its own that sends itself each of ``points``' signals
    (:data:`STOPS`)."""
    return subprocess.run(
        [sys.executable, "-c", HANGUP_AS_DEFAULT + STOPS, json.dumps(points), *args],
        env={**os.environ, **PASSWORD_ENV},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def outbox_states() -> list[str]:
    return [m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)]


@pytest.mark.parametrize("where", POINTS)
def test_run_stopped_at_once_after_the_server_took_the_message_records_it_sent(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, where
):
    """The first SIGTERM while the message is in flight, the second ("stop at once") once the
    server has answered 250: the message was settled as a crash leaves it, ``unknown``, for a
    person to decide. It is ``sent``, and its line says so."""
    pool_of(smtp_ssl.port, tmp_path, n=1, daily=50)
    queue_plain(2)
    proc = stopped([("SIGTERM", "_send>reserve", 1), ("SIGTERM", where, 1)], "run", "--no-sync")
    assert len(smtp_ssl.messages) == 1
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",)]
    assert sorted(outbox_states()) == ["queued", "sent"], proc.stdout + proc.stderr
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.rstrip().endswith("Aborted."), proc.stderr
    [line] = [x for x in (proc.stdout + proc.stderr).splitlines() if " sent #" in x]
    assert line.endswith("stopped after the message was sent"), line


@pytest.mark.parametrize("where", POINTS)
def test_run_stopped_once_after_the_server_took_the_message_finishes_it_then_stops(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, where
):
    """The first SIGTERM once the server has answered 250: the message is finished (the stop
    is not lost), the next one stays queued, exit 0."""
    pool_of(smtp_ssl.port, tmp_path, n=1, daily=50)
    queue_plain(2)
    proc = stopped([("SIGTERM", where, 1)], "run", "--no-sync")
    assert proc.returncode == 0, proc.stderr
    assert "Stopping after the message in flight" in proc.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",)]
    assert sorted(outbox_states()) == ["queued", "sent"]


# One message handed to the relay, then the command waits for its reply.
HANDS_OVER = textwrap.dedent("""\
    import os, smtplib
    env = os.environ
    s = smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=60)
    s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
    s.sendmail(env["WARMUP_MAILBOX"], ["x@example.com"], "Subject: s\\r\\n\\r\\nhi\\r\\n")
    s.quit()
""")


@pytest.mark.parametrize("where", POINTS)
@pytest.mark.parametrize(("sig", "code", "_"), SIGNALS, ids=str)
def test_a_wrapped_command_stopped_once_the_server_took_its_message_leaves_it_sent(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path, sig, code, _, where
):
    """The stop reaches warmup while its relay's gate is between the server's 250 and the
    ledger: forwarded to the command (which dies of it), the delivery settled first."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    script = tmp_path / "hand_over.py"
    script.write_text(HANDS_OVER)
    proc = stopped([(sig, where, 1)], "send", BOX, "--", sys.executable, str(script))
    assert len(smtp_ssl.messages) == 1
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",)]
    assert proc.returncode == code, proc.stderr
    assert "warmup: 1 sent" in proc.stderr, proc.stderr


def test_run_stopped_at_once_after_the_overflow_channel_took_the_message_records_it_sent(
    smtp_ssl, ssl_cert_env, keyring_file, ledger_path, tmp_path
):
    """The same through a pool's overflow channel (no gate slot: the message's own state),
    which the worker settled "unknown" (the worker stopped while sending via overflow)."""
    from tests.test_outbox_overflow import ESP_SECRET, ESP_USER, overflow_to

    pool_of(smtp_ssl.port, tmp_path, n=1, daily=1)
    with SmtpSink("plain", user=ESP_USER, password=ESP_SECRET) as esp:
        overflow_to(esp)
        ledger = open_ledger()
        try:
            for i in range(2):  # the first from the member, its quota then used
                raw = f"To: lead{i}@example.com\nSubject: s\n\nhi\n".encode()
                Outbox(ledger).add(raw, pool="P", bulk=True)
        finally:
            ledger.close()
        points = [("SIGTERM", "_overflow", 1), ("SIGTERM", "_send>delivered", 1)]
        proc = subprocess.run(
            [sys.executable, "-c", STOPS, json.dumps(points), "run", "--no-sync"],
            env={**os.environ, **PASSWORD_ENV, "WARMUP_OVERFLOW_PASSWORD": ESP_SECRET},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (len(smtp_ssl.messages), len(esp.messages)) == (1, 1), proc.stderr
    assert outbox_states() == ["sent", "sent"], proc.stdout + proc.stderr
    assert proc.returncode == 130, proc.stderr


def sends(url: str) -> list[tuple[str, str]]:
    """(recipient, outcome) of each slot of the ledger at ``url`` (either backend)."""
    ledger = open_ledger(url)
    try:
        with ledger.read() as conn:
            got = conn.execute(sa.text("SELECT recipient, outcome FROM send ORDER BY id")).all()
    finally:
        ledger.close()
    return [(r, o) for r, o in got]


def test_send_stopped_once_the_server_took_the_message_on_either_ledger(
    smtp_ssl,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    tmp_path,
):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    proc = stopped([("SIGTERM", "_send>delivered", 1)], "send", BOX, "--to", "x@example.com",
                   "--body", "hi")  # fmt: skip
    assert (proc.returncode, len(smtp_ssl.messages)) == (143, 1), proc.stderr
    assert sends(ledger_url) == [("x@example.com", "sent")]
    assert proc.stderr.rstrip().endswith("was sent to 1 recipient: do not send it again")


def test_a_chunked_message_stopped_once_the_server_took_it_records_it_sent(
    pki, ssl_cert_env, ledger_path, tmp_path
):
    """The same with the message sent in the envelope's write (BDAT): its reply is BDAT's."""
    sink = SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, pipelining=True,
                    chunking=True)  # fmt: skip
    with sink:
        add_box(sink.port, "--policy", str(policy_file(tmp_path / "p.toml")))
        proc = hooked("SIGINT", "_send>delivered", "send", BOX, "--to", "x@example.com",
                      "--to", "y@example.com", "--body", "hi")  # fmt: skip
        assert sink.bdat_commands == 1 and len(sink.messages) == 1
    assert proc.returncode == 130, proc.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",), ("sent",)]
    assert proc.stderr.rstrip().endswith("was sent to 2 recipients: do not send it again")


def test_sendmail_stopped_once_the_server_took_the_message_records_it_sent(
    smtp_ssl, ssl_cert_env, ledger_path, tmp_path
):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    message = f"From: {BOX}\nTo: x@example.com\nSubject: s\n\nhi\n"
    proc = subprocess.run(
        [sys.executable, "-c", HOOKED, "SIGTERM", "_send>delivered", "1", "sendmail", "-t"],
        env={**os.environ, **PASSWORD_ENV},
        input=message,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (proc.returncode, len(smtp_ssl.messages)) == (143, 1), proc.stderr
    assert rows(ledger_path, "SELECT outcome FROM send") == [("sent",)]
    assert "may have reached" not in proc.stderr
    assert proc.stderr.rstrip().endswith("was sent to 1 recipient: do not send it again")


def test_a_stop_held_while_a_lock_holds_the_record_ends_at_the_lock_timeout(
    pg_url,  # noqa: F811
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    """Held until the ledger's write is done, a stop waits no longer than that write may: a
    session holding the send table keeps the record from being written until the lock_timeout
    (1.5 s here), then the process ends, saying the server took the message (74, as for any
    record the ledger refused after the server's 250), never 'try later' nor a hang."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml")))
    engine = sa.create_engine(pg_url)
    holder = engine.connect()
    smtp_ssl.hold_data_reply = threading.Event()
    url = pg_url + quote(" -clock_timeout=1500", safe="")
    proc = subprocess.Popen(
        [sys.executable, "-c", STOPS, json.dumps([("SIGTERM", "_send>delivered", 1)]),
         "send", BOX, "--to", "x@example.com", "--body", "hi"],
        env={**os.environ, **PASSWORD_ENV, "WARMUP_DB": url},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert smtp_ssl.holding.wait(60)  # reserved, its DATA at the server
        holder.exec_driver_sql("LOCK TABLE send IN ACCESS EXCLUSIVE MODE")
        smtp_ssl.hold_data_reply.set()
        _, err = proc.communicate(timeout=60)
    finally:
        smtp_ssl.hold_data_reply.set()
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 74, err
    lines = [line for line in err.splitlines() if line]
    assert "Traceback" not in err and len(lines) == 1, err
    assert "the server took what was sent to" in lines[0], lines[0]
    assert "lock timeout" in lines[0] and "do not send it again" in lines[0], lines[0]
    with engine.connect() as conn:  # counted until a person or the next send settles it
        assert conn.exec_driver_sql("SELECT outcome FROM send").all() == [("reserved",)]
    engine.dispose()


# -- the window itself, in this process ------------------------------------------------------


@pytest.fixture
def caught():  # type: ignore[no-untyped-def]
    """SIGTERM and SIGHUP recorded by handlers of the test's own (the window acts through
    them), put back afterwards; the list they append to."""
    got: list[int] = []
    before = {
        s: signal.signal(s, lambda n, _f: got.append(n)) for s in (signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield got
    finally:
        for s, h in before.items():
            signal.signal(s, h)


def test_stops_in_the_window_act_when_it_closes_in_their_order(caught):
    window = StopWindow()
    window.open()
    signal.raise_signal(signal.SIGHUP)
    signal.raise_signal(signal.SIGTERM)
    assert caught == [] and window.stopped
    window.close()
    assert caught == [signal.SIGHUP, signal.SIGTERM]
    signal.raise_signal(signal.SIGTERM)  # the handlers are back
    assert caught == [signal.SIGHUP, signal.SIGTERM, signal.SIGTERM]


def test_ctrl_c_held_in_the_window_is_raised_as_it_closes():
    with pytest.raises(KeyboardInterrupt):
        with StopWindow() as window:
            window.open()
            signal.raise_signal(signal.SIGINT)
            assert window.stopped  # reached: not raised yet
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_window_never_opened_or_off_the_main_thread_holds_nothing(caught):
    with StopWindow():
        signal.raise_signal(signal.SIGTERM)
    assert caught == [signal.SIGTERM]
    elsewhere = StopWindow()
    opener = threading.Thread(target=elsewhere.open)
    opener.start()
    opener.join()
    signal.raise_signal(signal.SIGTERM)
    assert caught == [signal.SIGTERM, signal.SIGTERM] and not elsewhere.stopped
    elsewhere.close()


def test_an_ignored_stop_stays_ignored(caught):
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # started under nohup
    try:
        with StopWindow() as window:
            window.open()
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            signal.raise_signal(signal.SIGHUP)
            assert not window.stopped
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
    assert caught == []


def test_a_stop_after_one_was_held_past_the_hold_acts_at_once(caught):
    """A write stuck past any lock timeout: the first stop is held, another one once it has
    been held :data:`~warmup.stopwindow.HOLD_S` acts at once (the first with it)."""
    now = [100.0]
    window = StopWindow(hold=30.0, clock=lambda: now[0])
    window.open()
    signal.raise_signal(signal.SIGTERM)
    now[0] += 29.0
    signal.raise_signal(signal.SIGTERM)
    assert caught == []
    now[0] += 1.0
    signal.raise_signal(signal.SIGHUP)
    assert caught == [signal.SIGTERM, signal.SIGTERM, signal.SIGHUP]
    assert not window.stopped
    window.close()  # nothing more: done already
    assert len(caught) == 3
