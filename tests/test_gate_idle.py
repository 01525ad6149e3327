"""A library :class:`~warmup.Gate` kept open between sends paced minutes apart (the providers'
warm-up advice): what it delivered is written to the ledger as sent once the gate is idle, not
with its next reservation, so nothing that runs meanwhile (``mailbox remove``, a crash) takes it
for a message in flight or of unknown fate."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.gatekit import PASSWORD_ENV, add_box, policy_file, removed_while_paced, within
from tests.peers.fixtures import SMTP_USER
from tests.pgkit import PgProxy, ledger_url, pg_url  # noqa: F401  (the fixtures)
from warmup import Gate, gateprocess, open_ledger
from warmup.errors import InvalidFieldData, UsageError

BOX = SMTP_USER
ROOT = Path(__file__).resolve().parents[1]
SENT = ("lead@example.com", "sent")

# Sends one message through the library's Gate, says so in the file READY, then waits for the
# file GO with the gate open (the script "paces itself"), and closes it.
SCRIPT = textwrap.dedent("""\
    import os, sys, time
    from email.message import EmailMessage

    from warmup import Gate

    ready, go = sys.argv[1], sys.argv[2]
    with Gate(os.environ["BOX"]) as gate:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = os.environ["BOX"], "lead@example.com", "Hi"
        msg.set_content("Hello.")
        print(*gate.send(msg).sent, flush=True)
        open(ready, "w").close()
        while not os.path.exists(go):
            time.sleep(0.02)
    print("closed", flush=True)
""")


def outcomes(url: str) -> list[tuple[str, str]]:
    """The send rows of the ledger at ``url``, read on a connection of this process."""
    ledger = open_ledger(url)
    try:
        with ledger.read() as conn:
            return [
                (r, o)
                for r, o in conn.exec_driver_sql("SELECT recipient, outcome FROM send ORDER BY id")
            ]
    finally:
        ledger.close()


@pytest.mark.slow
def test_a_gate_kept_open_records_its_message_sent_once_idle(
    ledger_url,  # noqa: F811
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
):
    """A script's Gate wrote a delivered message's "sent" with its next reservation or its
    close: paced minutes apart, each message stayed ``reserved`` all that time, for a crash
    to turn into ``unknown`` and ``mailbox remove`` to refuse ("the gate is sending 1 message
    for it now"). Now the gate writes it once idle, while it stays open."""
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    ready, go = tmp_path / "ready", tmp_path / "go"
    env = {**os.environ, **PASSWORD_ENV, "BOX": BOX, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ready), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    # the other process's own write of its message as sent, while its gate is open
    out, err = removed_while_paced(proc, ready, go, lambda: outcomes(ledger_url) == [SENT])
    assert out.split() == ["lead@example.com", "closed"] and err == ""
    assert len(smtp_ssl.messages) == 1


@pytest.mark.parametrize("driver_level", [False, True], ids=["full-ledger", "gate-ledger"])
def test_the_thread_writes_on_either_sqlite_connection(driver_level, ledger_path, tmp_path):
    """The settler thread writes on the gate's own connection, which sqlite3 ties to the thread
    that opened it unless told otherwise: the driver-level ledger's (``warmup send``'s) as the
    full ledger's engine's."""
    from warmup.ledger import open_gate_ledger

    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    ledger = open_gate_ledger() if driver_level else open_ledger()
    try:
        with Gate(BOX, ledger=ledger) as gate:
            gate.reserve(["a@example.com"]).settle("sent")
            url = f"sqlite:///{ledger_path}"
            assert within(10, lambda: outcomes(url) == [("a@example.com", "sent")]), outcomes(url)
            assert not gate._db.pending
    finally:
        ledger.close()


def test_a_burst_keeps_one_settler_and_close_ends_it(ledger_path, tmp_path):
    """Messages back to back write their settlements with the next reservation (no thread per
    message); close() writes the last and ends the thread."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, settle_after=60) as gate:  # no pause of this test's counts as idle
        gate.reserve(["a0@example.com"]).settle("sent")
        settler = gate._settler.thread
        assert settler is not None and settler.is_alive()
        for i in range(1, 20):
            gate.reserve([f"a{i}@example.com"]).settle("sent")
            assert gate._settler.thread is settler
    assert not settler.is_alive()
    got = outcomes(f"sqlite:///{ledger_path}")
    assert got == [(f"a{i}@example.com", "sent") for i in range(20)]


def test_a_burst_keeps_its_thread_however_late_the_thread_first_looks(ledger_path, tmp_path):
    """The settler thread first looks at the gate when it gets the gate's lock: on a busy
    machine, only after the next message's reservation had written what waited. It found
    nothing to write and ended, and the message after started another thread: one per message
    (and the burst test above failed now and then). It waits for the gate to be idle first."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, settle_after=60) as gate:
        with gate._lock:  # the thread, started, waits for this lock
            gate.reserve(["a0@example.com"]).settle("sent")
            settler = gate._settler.thread
            slot = gate.reserve(["a1@example.com"])  # writes a0's: nothing waits now
        assert settler is not None
        # it has looked: it ended, or it waits on the gate's condition
        assert within(10, lambda: not settler.is_alive() or bool(gate._settler.idle._waiters))  # type: ignore[attr-defined]
        slot.settle("sent")
        assert gate._settler.thread is settler and settler.is_alive()
    assert not settler.is_alive()
    got = outcomes(f"sqlite:///{ledger_path}")
    assert got == [("a0@example.com", "sent"), ("a1@example.com", "sent")]


@pytest.mark.alone
def test_a_forked_child_is_not_held_by_the_lock_another_thread_held(ledger_path, tmp_path):
    """A fork copies only the calling thread: a gate's lock that another thread (its settler
    thread, writing) held at that instant stayed held for ever in the child, whose next use of
    the gate hung. The child is told at once that the gate is its parent's (it may not write
    on the parent's connection: tests/test_gate_shared.py), and its close() returns."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    gate = Gate(BOX, settle_after=None)
    gate.reserve(["a@example.com"]).settle("sent")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with gate._lock:
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    pid = os.fork()
    if pid == 0:  # the child: refused, closed (nothing written: the parent does) and out
        code = 1
        try:
            try:
                gate.flush()
            except UsageError:
                gate.close()
                code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the gate's lock")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    gate.close()
    assert outcomes(f"sqlite:///{ledger_path}") == [("a@example.com", "sent")]


@pytest.mark.parametrize("bad", [math.inf, math.nan, -1, -0.5], ids=["inf", "nan", "-1", "-0.5"])
def test_a_settle_after_that_is_no_wait_is_refused_naming_it(bad, ledger_path, tmp_path):
    """``settle_after=float("inf")``, meant as "never", started a thread whose wait the platform
    cannot take: an OverflowError traceback on stderr, and no settler for the gate's life; NaN
    and negative seconds were taken as "at once". Refused before anything is opened, in one
    line naming the parameter and what turns the thread off."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with pytest.raises(InvalidFieldData) as err:
        Gate(BOX, settle_after=bad)
    assert err.value.exit_code == 65
    assert str(err.value) == (
        f"settle_after: expected seconds, 0 or more, got {bad!r}; None writes deferred "
        "settlements only with the next reservation, flush() or close()"
    )


def test_a_settle_after_longer_than_a_thread_can_wait_keeps_its_thread(
    ledger_path, tmp_path, thread_errors
):
    """A finite idle time past what a thread's wait takes (threading.TIMEOUT_MAX, ~292 years):
    its thread ended at once in an OverflowError traceback. It waits (as long as it can), and
    close() writes the settlement and ends it."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    with Gate(BOX, settle_after=1e10) as gate:
        gate.reserve(["a@example.com"]).settle("sent")
        settler = gate._settler.thread
        assert settler is not None
        # the thread is waiting on the gate's condition, or it has ended
        assert within(10, lambda: bool(gate._settler.idle._waiters) or not settler.is_alive())  # type: ignore[attr-defined]
        assert settler.is_alive() and thread_errors == []
    assert not settler.is_alive() and thread_errors == []
    assert outcomes(f"sqlite:///{ledger_path}") == [("a@example.com", "sent")]


def test_as_many_gates_as_the_ledger_has_connections_each_write_once_idle(
    ledger_url,  # noqa: F811
    tmp_path,
):
    """A script keeping one gate per mailbox on one ledger, as many gates as the ledger's
    connection pool holds (each keeps one between its reservations). On PostgreSQL each gate's
    idle write checked one more out of the pool, which never came free: its thread waited 30 s
    for it holding the gate's lock (and the script's next reservation with it), wrote nothing,
    and close() failed "ledger ... is busy". A gate writes on the connection it holds."""
    from warmup import api

    ledger = open_ledger(ledger_url)
    pool = ledger.engine.pool
    n = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    policy = str(policy_file(tmp_path / "p.toml", daily=50))
    boxes = [f"m{i}@corp{i}.example" for i in range(n)]
    for box in boxes:
        api.add_mailbox(ledger, box, "exmail", policy=policy)
    gates = [Gate(box, ledger=ledger) for box in boxes]
    try:
        for i, gate in enumerate(gates):
            gate.reserve([f"r{i}@example.com"]).settle("sent")
        everyone = [(f"r{i}@example.com", "sent") for i in range(n)]
        assert within(20, lambda: outcomes(ledger_url) == everyone), outcomes(ledger_url)
        for i, gate in enumerate(gates):
            gate.reserve([f"s{i}@example.com"]).settle("sent")
    finally:
        for gate in gates:
            gate.close()
        ledger.close()
    assert outcomes(ledger_url) == everyone + [(f"s{i}@example.com", "sent") for i in range(n)]


@pytest.mark.alone
def test_a_fork_waits_for_the_settler_to_finish_its_write(ledger_path, tmp_path):
    """The settler thread writes inside SQLite's (or libpq's) own code, whose locks a fork copies
    held by a thread the child does not have: a child forked meanwhile (multiprocessing,
    os.fork) could hang at its first open of the ledger. A fork now waits for a write the
    thread has begun, and no write begins until it is over. Here the thread's write waits for
    a lock another connection holds, released only once the fork has begun: the child's copy
    of the gate must show the write done."""
    import sqlite3

    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    forking, done = threading.Event(), threading.Event()
    os.register_at_fork(before=lambda: None if done.is_set() else forking.set())  # runs first
    other = sqlite3.connect(ledger_path, isolation_level=None, check_same_thread=False)
    gate = Gate(BOX, settle_after=0)
    try:
        gate.reserve(["a@example.com"])
        slot = gate.reserve(["b@example.com"])
        other.execute("BEGIN IMMEDIATE")  # the settler's write now waits for this lock
        slot.settle("sent")

        def writing() -> bool:  # the thread has begun its write (not merely holds the lock
            return bool(gateprocess.writes()._writers)  # it keeps while it looks, before it)

        assert within(10, writing)
        releaser = threading.Thread(target=lambda: forking.wait(30) and other.execute("COMMIT"))
        releaser.start()
        pid = os.fork()
        if pid == 0:
            os._exit(3 if gate._db.pending else 0)
        done.set()
        releaser.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "forked in the middle of the write"
    finally:
        done.set()
        other.close()
        gate.close()
    assert outcomes(f"sqlite:///{ledger_path}") == [
        ("a@example.com", "reserved"),
        ("b@example.com", "sent"),
    ]


# A gate whose settler thread cannot start: no address space left for its stack.
NO_THREAD = textwrap.dedent("""\
    import resource, sys, threading
    from warmup import Gate

    gate = Gate(sys.argv[1])
    slot = gate.reserve(["lead@example.com"])
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        used = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used + 4 * 2**20, hard))  # a stack takes 8 MB
    try:
        threading.Thread(target=lambda: None).start()
        print("a thread starts")
    except RuntimeError:
        slot.settle("sent")
        print("settled")
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    gate.close()
    print("closed")
""")


def test_a_settler_thread_that_cannot_start_fails_neither_settle_nor_close(ledger_path, tmp_path):
    """A message that went, settled "sent" when no thread could be started (memory, a
    process limit): settle() raised "can't start new thread" for a message already delivered
    (send() with it: a caller retrying sends it twice), and close() then failed "cannot join
    thread before it is started", its settlement never written. The thread is only a way to
    write sooner: without it the settlement waits for close()."""
    add_box(2525, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    script = tmp_path / "script.py"
    script.write_text(NO_THREAD)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, str(script), BOX],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    if run.stdout.startswith("a thread starts"):
        pytest.skip("a thread still started under the address-space limit")
    assert (run.returncode, run.stdout, run.stderr) == (0, "settled\nclosed\n", "")
    assert outcomes(f"sqlite:///{ledger_path}") == [SENT]


@pytest.mark.slow
def test_what_the_server_said_while_the_ledger_was_away_is_written_by_the_idle_gate(
    smtp_ssl,
    ssl_cert_env,
    pg_url,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    """The team server goes away while a script's message is in DATA, and the SMTP server
    takes it for one recipient and refuses the other for good (550 5.1.1): the gate holds what
    it said (counted as sent meanwhile). The script then keeps the gate open and idle (paced
    sends): its thread tries again, longer apart, and once the server is back writes the hard
    bounce, its suppression and the "sent", without a reservation or close() to do it."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    for name, value in PASSWORD_ENV.items():
        monkeypatch.setenv(name, value)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=5)))
    smtp_ssl.reject_rcpt = {"dead@example.com": (550, "5.1.1 no such user")}
    smtp_ssl.hold_data_reply = threading.Event()
    proxy = PgProxy()

    def away_in_data() -> None:
        if smtp_ssl.holding.wait(60):
            proxy.down()  # while the message is in DATA
        smtp_ssl.hold_data_reply.set()

    taker = threading.Thread(target=away_in_data)
    taker.start()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = BOX, "lead@example.com, dead@example.com", "Hi"
    msg.set_content("Hello.")
    gate = Gate(BOX, db=proxy.url(pg_url))
    try:
        report = gate.send(msg)
        taker.join()
        assert report.sent == ["lead@example.com"]
        assert report.results["dead@example.com"].outcome == "hard"
        assert gate._held
        refused = proxy.refused
        assert within(30, lambda: proxy.refused > refused)  # the thread tried, in vain
        proxy.up()
        assert within(30, lambda: not gate._held and not gate._db.pending)
        assert outcomes(pg_url) == [SENT, ("dead@example.com", "hard")]
        ledger = open_ledger(pg_url)
        try:
            with ledger.read() as conn:
                assert conn.exec_driver_sql("SELECT address FROM suppression").all() == [
                    ("dead@example.com",)
                ]
        finally:
            ledger.close()
    finally:
        smtp_ssl.hold_data_reply.set()
        proxy.up()
        gate.close()
