"""The IMAP IDLE watcher of ``warmup run`` against a hostile server (a proxy in front of the real
Dovecot that cuts, garbles, answers BAD or announces a literal of a terabyte): it says what the
server did in one line, connects again after a back-off the test passes in, and the run goes on,
recording each bounce once."""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from tests import forkcli
from tests.peers.dovecot import HUGE, LoginFaultProxy
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.smtp import SmtpSink
from tests.test_run_bounces import (
    LEAD,
    T0,
    Clock,
    add_pool,
    bounce_of,
    first_and_later,
    message,
    wait_for,
)
from warmup import Outbox
from warmup.bounces.idle import IdleWatcher, backoff
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

BOX = IMAP_USER


def watcher_via(
    proxy: LoginFaultProxy, woken: threading.Event, lines: list[str], delays: list[int]
):  # type: ignore[no-untyped-def]
    def retry(failures: int) -> float:
        delays.append(failures)
        return 0.0  # time is passed in: no waiting

    return IdleWatcher(
        BOX,
        hosts=(proxy.host,),
        port=proxy.port,
        security="ssl",
        password=IMAP_PASSWORD,
        wake=woken.set,
        log=lines.append,
        retry=retry,
    )


@pytest.mark.parametrize(
    ("session", "idle", "said"),
    [
        ("literal", "pass", f"the IMAP server announced {HUGE} bytes where at most"),
        ("garbled", "pass", None),  # refused by connect(): the interval's sync says so
        ("pass", "cut", "the server closed the connection"),
    ],
)
def test_the_idle_watcher_outlives_a_hostile_session_and_still_sees_new_mail(
    session, idle, said, dovecot_clean, ssl_cert_env, thread_errors
):
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(
        dovecot_clean, ["pass"], sessions=[session, "pass"], idle=[idle, "pass"]
    ) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        try:
            wait_for(
                lambda: watcher.failures == 1 and watcher.ready.is_set() or not watcher.is_alive()
            )
            assert watcher.is_alive(), lines
            dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
            assert woken.wait(20)
        finally:
            watcher.close()
    assert not watcher.is_alive() and thread_errors == []
    assert watcher.supported is True and delays == [1]
    if said is None:
        assert lines == []
        return
    (line,) = lines  # one line, naming the mailbox and what the server did
    assert line.startswith(f"IMAP IDLE for {BOX} failed: "), line
    assert said in line, line
    assert "trying again in 0 s (bounces are synced on the interval meanwhile)" in line
    assert IMAP_PASSWORD not in line and "Traceback" not in line


def test_mail_pushed_just_before_the_connection_drops_still_wakes_the_sync(
    dovecot_clean, ssl_cert_env
):
    """The push came, the IDLE's end never did: the wake-up was lost with the connection, and
    the mail waited for the interval (a new IDLE tells only of mail that comes after it)."""
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["push", "pass"]) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        try:
            wait_for(watcher.ready.is_set)
            dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
            assert woken.wait(20)
            wait_for(lambda: watcher.failures == 1 and watcher.ready.is_set())
        finally:
            watcher.close()
    assert proxy.idles == ["push", "pass"] and delays == [1]
    assert len(lines) == 1 and "the server closed the connection" in lines[0]


def test_a_server_that_states_idle_then_refuses_it_falls_back_to_the_interval_visibly(
    dovecot_clean, ssl_cert_env, thread_errors
):
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["bad"]) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        watcher.join(20)
        assert not watcher.is_alive()
        assert proxy.idles == ["bad"]  # asked once: a BAD is no passing trouble
    assert thread_errors == [] and watcher.supported is False and delays == []
    assert lines == [
        f"{BOX}: the IMAP server refused IDLE, which it offers (WIDLE BAD Hostile: no IDLE "
        f"today); bounces are synced on the interval"
    ]


def test_an_idle_the_server_ends_on_its_own_is_opened_again_and_still_sees_new_mail(
    dovecot_clean, ssl_cert_env, thread_errors
):
    """Some servers end an IDLE with a tagged OK of their own, before any DONE, and push no new
    mail after it. The watcher read the OK as one more line and went on waiting, ready, for a
    push that never came: deaf until its renewal (25 minutes), the new bounce left to the
    interval. The server's end is a failure like a cut: one line, a new connection after the
    back-off, and the sync woken there for what came meanwhile."""
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["ended", "pass"]) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        try:
            # [:1]: the watcher is back at once (no back-off here), and a poll that woke late
            # saw ["ended", "pass"] and waited out its timeout for a list that never comes back
            wait_for(lambda: proxy.idles[:1] == ["ended"])
            dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
            assert woken.wait(20)
            wait_for(lambda: watcher.failures == 1 and watcher.ready.is_set())
        finally:
            watcher.close()
    assert thread_errors == [] and proxy.idles == ["ended", "pass"] and delays == [1]
    assert lines == [
        f"IMAP IDLE for {BOX} failed: the server ended IDLE on its own (WIDLE OK Idle completed "
        f"(ended by the server)); trying again in 0 s (bounces are synced on the interval "
        f"meanwhile)"
    ]


def test_failures_in_a_row_are_one_line_and_wait_longer_each_time(dovecot_clean, ssl_cert_env):
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["cut", "cut", "cut", "pass"]) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        try:
            wait_for(lambda: watcher.failures == 3 and watcher.ready.is_set())
        finally:
            watcher.close()
    assert delays == [1, 2, 3] and len(lines) == 1
    assert [backoff(n) for n in (1, 2, 3, 20)] == [2.0, 4.0, 8.0, 600.0]


def _examine_refused_logs(dovecot, answer: bytes, text: bytes) -> str:  # type: ignore[no-untyped-def]
    """The one line the watcher logs when the server answers its EXAMINE ``answer`` (NO, BAD)
    with ``text``."""
    woken, lines, delays = threading.Event(), [], []
    with LoginFaultProxy(
        dovecot, ["pass"], refuse="EXAMINE", refuse_with=answer, refuse_text=text
    ) as proxy:
        watcher = watcher_via(proxy, woken, lines, delays)
        watcher.start()
        try:
            wait_for(lambda: watcher.failures >= 1)
        finally:
            watcher.close()
    (line,) = lines
    return line


def test_the_password_a_server_echoes_is_not_logged(dovecot_clean, ssl_cert_env):
    evil = b"LOGIN " + IMAP_PASSWORD.encode() + b" is not a command"
    line = _examine_refused_logs(dovecot_clean, b"BAD", evil)
    assert "LOGIN *** is not a command" in line and IMAP_PASSWORD not in line


@pytest.mark.parametrize("answer", [b"NO", b"BAD"])
def test_a_folder_the_server_will_not_open_is_logged_in_its_words_not_pythons_bytes(
    dovecot_clean, ssl_cert_env, answer
):
    """A NO or BAD to the watcher's EXAMINE was logged as Python shows bytes
    (``cannot open INBOX: [b'...']``), a server's words in UTF-8 as ``\\xe6\\x9c...``."""
    words = '[SERVERBUG] 服务器内部错误 it\'s "busy"'
    line = _examine_refused_logs(dovecot_clean, answer, words.encode())
    assert words in line and "b'" not in line and "\\x" not in line, line


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki) as s:
        yield s


def test_a_hostile_idle_and_fetch_leave_the_run_going_and_the_bounce_counted_once(
    dovecot_clean, sink, ssl_cert_env, tmp_path, monkeypatch, thread_errors
):
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["cut", "pass"]) as proxy:
        add_pool(sink, proxy.port, tmp_path)
        ledger = open_ledger()
        first, later = first_and_later(ledger)
        clock, lines = Clock(T0), []
        every = dt.timedelta(minutes=10)
        worker = Worker(
            open_ledger(), clock=clock, log=lines.append, sync_every=every, idle_retry=lambda n: 0.0
        )
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            wait_for(lambda: ledger.message(first).state == "sent")
            assert worker.bounces is not None
            (watcher,) = worker.bounces.watchers()
            wait_for(lambda: watcher.failures == 1 and watcher.ready.is_set())
            proxy.literal = HUGE  # the FETCH that follows the push announces a terabyte
            dovecot_clean.append("INBOX", bounce_of(ledger.message(first).message_id or ""))
            wait_for(lambda: any("bounce sync of" in line and "failed" in line for line in lines))
            assert ledger.bounces(None, None) == [] and watcher.is_alive()
            proxy.literal = None
            clock.at = T0 + every  # the interval's sync reads it
            worker.wake()
            wait_for(lambda: [s["address"] for s in ledger.suppressions()] == [LEAD])
            clock.at = T0 + dt.timedelta(hours=2)  # another sync, and the later message's turn
            worker.wake()
            wait_for(lambda: ledger.message(later).state != "queued")
            assert thread.is_alive() and watcher.is_alive()
        finally:
            worker.stop()
            thread.join(20)
            worker.close()
    assert not thread.is_alive() and thread_errors == []
    assert ledger.message(later).state == "cancelled"
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first"]
    assert [(b["recipient"], b["kind"], b["matched"]) for b in ledger.bounces(None, None)] == [
        (LEAD, "hard", True)
    ]
    told = [line for line in lines if "IMAP" in line or "bounce sync" in line]
    assert len(told) == 3, told
    assert f"IMAP IDLE for {BOX} failed: the server closed the connection" in told[0]
    assert f"bounce sync of {BOX} failed: the IMAP server announced {HUGE} bytes" in told[1]
    assert f"bounce sync of {BOX}: 1 new bounce, matched to its send" in told[2]
    assert not any(IMAP_PASSWORD in line for line in lines)


def test_sigterm_while_the_watcher_reconnects_ends_the_run_promptly(
    dovecot_clean, sink, ssl_cert_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    with LoginFaultProxy(dovecot_clean, ["pass"], idle=["cut"]) as proxy:
        add_pool(sink, proxy.port, tmp_path)
        Outbox(open_ledger()).add(message(LEAD, "first"), pool="P")
        proc = subprocess.Popen(
            [*forkcli.command(), "run"],
            env={**os.environ, "WARMUP_PASSWORD": IMAP_PASSWORD},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        said: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [said.put(x) for x in proc.stdout], daemon=True)  # type: ignore[union-attr]
        reader.start()
        out: list[str] = []
        try:
            while not any("IMAP IDLE for" in line for line in out):
                out.append(said.get(timeout=60))
            wait_for(lambda: len(sink.messages) == 1)  # the run's first sync is over
            # The first try again comes after 2 s: the next session's LOGIN never answered
            # (60 s), which nothing but the process's end interrupts.
            proxy.faults[:] = ["stall"]
            wait_for(lambda: "stall" in proxy.logins)
            assert proc.poll() is None
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(45)
            took = time.monotonic() - start
            reader.join(30)
            err = proc.stderr.read()  # type: ignore[union-attr]
        finally:
            proc.kill()
            proc.wait()
            reader.join(30)
            for stream in (proc.stdout, proc.stderr):  # not left to the garbage collector
                stream.close()  # type: ignore[union-attr]
    while not said.empty():
        out.append(said.get())
    assert proc.returncode == 0, err
    # The stalled LOGIN would hold it 60 s (the IMAP timeout); the bound leaves a loaded
    # machine time for the process's own stop (its threads, its atexit), which 10 s did not.
    assert took < 30, took
    assert out[-1].strip() == "Stopped.", out
    assert sum("IMAP IDLE for" in line for line in out) == 1, out
    assert "Traceback" not in err and IMAP_PASSWORD not in "".join(out) + err


def test_mail_that_came_while_dovecot_restarted_wakes_the_sync_when_the_watcher_is_back(
    dovecot_clean, ssl_cert_env, thread_errors
):
    """Dovecot restarted under the IDLE and the mail came before the watcher was back: a new
    IDLE tells only of mail that comes after it, so the watcher slept on, and the mail waited
    for the interval's sync (ten minutes in ``warmup run``)."""
    woken, lines, delays = threading.Event(), [], []
    restarted = threading.Event()

    def retry(failures: int) -> float:  # time is passed in: the mail comes "meanwhile"
        delays.append(failures)
        if failures == 1:
            assert restarted.wait(20)
            dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
        return 0.0

    watcher = IdleWatcher(
        BOX,
        hosts=(dovecot_clean.host,),
        port=dovecot_clean.port,
        security="ssl",
        password=IMAP_PASSWORD,
        wake=woken.set,
        log=lines.append,
        retry=retry,
    )
    watcher.start()
    try:
        wait_for(watcher.ready.is_set)
        assert not woken.is_set()  # the first connection: the run syncs at its start anyway
        dovecot_clean.restart()
        restarted.set()
        wait_for(lambda: watcher.failures == 1 and watcher.ready.is_set())
        assert woken.wait(20)
    finally:
        watcher.close()
    assert thread_errors == [] and delays == [1] and len(lines) == 1


@pytest.fixture
def chatty(pki):  # type: ignore[no-untyped-def]
    """A Dovecot that says "still here" to an idling client every second."""
    from tests.peers.dovecot import Dovecot

    with Dovecot(
        pki,
        user=BOX,
        password=IMAP_PASSWORD,
        extra_config="imap_idle_notify_interval = 1 secs\n",
    ) as server:
        yield server


def test_an_idle_whose_done_is_never_answered_is_given_up_and_opened_again(
    chatty, ssl_cert_env, thread_errors
):
    """A server (or a proxy in the way) that lets DONE go unanswered and goes on saying "still
    here": each keep-alive came in time, so the watcher waited for the end of the IDLE for as
    long as the run lasted, and no new mail ever woke the sync again."""
    woken = threading.Event()
    with LoginFaultProxy(chatty, ["pass"], idle=["nodone", "pass"]) as proxy:
        watcher = IdleWatcher(
            BOX,
            hosts=(proxy.host,),
            port=proxy.port,
            security="ssl",
            password=IMAP_PASSWORD,
            wake=woken.set,
            timeout=3.0,  # an answer to DONE, as to any command, within the timeout
            renew=0.2,  # at the server's next keep-alive
        )
        watcher.start()
        try:
            wait_for(lambda: proxy.idles[:2] == ["nodone", "pass"] and watcher.ready.is_set())
            chatty.append("INBOX", bounce_of("<x@corp.example>"))
            assert woken.wait(20)
        finally:
            watcher.close()
    assert not watcher.is_alive() and thread_errors == []


def test_a_done_met_by_silence_is_given_up_within_the_timeout(chatty, ssl_cert_env, thread_errors):
    """The answer to DONE was awaited on the socket timeout of the IDLE itself (the renewal
    plus a minute of silence, half an hour in all): a link that went silent just as the DONE
    was sent held the watcher that long, no IDLE held meanwhile. As any command's, the answer
    is awaited for the timeout."""
    woken = threading.Event()
    with LoginFaultProxy(chatty, ["pass"], idle=["mute", "pass"]) as proxy:
        watcher = IdleWatcher(
            BOX,
            hosts=(proxy.host,),
            port=proxy.port,
            security="ssl",
            password=IMAP_PASSWORD,
            wake=woken.set,
            timeout=3.0,
            renew=0.2,  # at the server's next keep-alive; SILENCE past it is a minute
        )
        watcher.start()
        try:
            wait_for(lambda: proxy.idles[:1] == ["mute"])
            chatty.append("INBOX", bounce_of("<x@corp.example>"))
            assert woken.wait(20)  # the new connection tells of the mail that came meanwhile
            wait_for(lambda: proxy.idles[:2] == ["mute", "pass"])  # IDLE held again
        finally:
            watcher.close()
    assert not watcher.is_alive() and thread_errors == []
