"""``warmup run`` syncs bounces over IMAP (interval, IMAP IDLE), against a real Dovecot and the
SMTP sink: a bounce in the inbox suppresses its recipient before the next send, with no other
command."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest

from tests import forkcli
from tests.gatekit import add_box, cli, policy_file
from tests.peers.dovecot import Dovecot
from tests.peers.fixtures import IMAP_PASSWORD, IMAP_USER
from tests.peers.smtp import SmtpSink
from tests.pgkit import PgProxy
from tests.test_bounces_sync import dsn
from warmup import Outbox
from warmup.bounces.idle import IdleWatcher
from warmup.errors import Unavailable
from warmup.ledger import Ledger, open_ledger
from warmup.outbox.bounces import BounceSync
from warmup.outbox.worker import Worker

BOX = IMAP_USER
LEAD = "lead@example.com"
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with SmtpSink("ssl", user=BOX, password=IMAP_PASSWORD, pki=pki) as s:
        yield s


def add_pool(sink: SmtpSink, imap_port: int, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Pool P of one mailbox: SMTP on the sink, IMAP on ``imap_port``, a flat quota of 100."""
    policy = str(policy_file(tmp_path / "p.toml", 100))
    add_box(sink.port, "--policy", policy, box=BOX, imap_port=imap_port)
    assert cli("pool", "add", "P", BOX).returncode == 0


@pytest.fixture
def pool(sink, dovecot_clean, ssl_cert_env, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    add_pool(sink, dovecot_clean.port, tmp_path)
    return dovecot_clean


def message(to: str, subject: str = "hi") -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, subject
    msg.set_content("hello")
    return msg


def first_and_later(ledger: Ledger) -> tuple[int, int]:
    """Two messages to LEAD in pool P: one due at T0, one an hour later (after the bounce)."""
    out = Outbox(ledger)
    first = out.add(message(LEAD, "first"), pool="P", now=T0)
    later = out.add(message(LEAD, "later"), pool="P", not_before=T0 + dt.timedelta(hours=1))
    assert first is not None and later is not None
    return first, later


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def bounce_of(message_id: str) -> bytes:
    return dsn(message_id, LEAD, "5.1.1", "550 5.1.1 <lead@example.com>: user unknown", 1)


def logins(dovecot) -> int:  # type: ignore[no-untyped-def]
    return dovecot.logs().count(f"Login: user=<{BOX}>")


def test_a_running_worker_learns_a_bounce_by_idle_and_does_not_mail_the_recipient_again(pool, sink):
    ledger = open_ledger()
    first, later = first_and_later(ledger)
    clock, lines = Clock(T0), []  # the clock stands still: no interval sync after the first
    worker = Worker(
        open_ledger(), clock=clock, log=lines.append, sync_every=dt.timedelta(minutes=10)
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: ledger.message(first).state == "sent")
        assert worker.bounces is not None
        wait_for(lambda: [w.ready.is_set() for w in worker.bounces.watchers()] == [True])
        (watcher,) = worker.bounces.watchers()
        pool.append("INBOX", bounce_of(ledger.message(first).message_id or ""))
        wait_for(lambda: [s["address"] for s in ledger.suppressions()] == [LEAD])
        clock.at = T0 + dt.timedelta(hours=2)
        worker.wake()
        wait_for(lambda: ledger.message(later).state != "queued")
    finally:
        worker.stop()
        thread.join(20)
        worker.close()
    assert not thread.is_alive()
    assert ledger.message(later).state == "cancelled"
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first"]
    assert [(b["recipient"], b["kind"], b["matched"]) for b in ledger.bounces(None, None)] == [
        (LEAD, "hard", True)
    ]
    assert any(f"bounce sync of {BOX}: 1 new bounce, matched to its send" in line for line in lines)
    assert not watcher.is_alive()  # the IDLE thread ended with the worker


def test_run_once_syncs_before_it_sends(pool, sink):
    ledger = open_ledger()
    Outbox(ledger).add(message(LEAD, "first"), pool="P")
    res = cli("run", "--once")
    assert res.returncode == 0, res.stderr
    assert len(sink.messages) == 1
    sent_id = str(sink.messages[0].message["Message-ID"])
    pool.append("INBOX", bounce_of(sent_id))
    later = Outbox(ledger).add(message(LEAD, "later"), pool="P")  # not suppressed yet
    assert later is not None

    res = cli("run", "--once")

    assert res.returncode == 0, res.stderr
    assert f"bounce sync of {BOX}: 1 new bounce, matched to its send" in res.stdout
    assert ledger.message(later).state == "cancelled"
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first"]
    assert [s["address"] for s in ledger.suppressions()] == [LEAD]


def test_no_sync_does_not_touch_imap(pool, sink):
    ledger = open_ledger()
    Outbox(ledger).add(message(LEAD, "first"), pool="P")
    assert cli("run", "--once", "--no-sync").returncode == 0
    pool.append("INBOX", bounce_of(str(sink.messages[0].message["Message-ID"])))
    Outbox(ledger).add(message(LEAD, "later"), pool="P")
    before = logins(pool)

    res = cli("run", "--once", "--no-sync")

    assert res.returncode == 0, res.stderr
    assert "bounce sync" not in res.stdout
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first", "later"]
    assert ledger.bounces(None, None) == [] and ledger.suppressions() == []
    assert logins(pool) == before


def test_imap_down_is_one_log_line_and_the_messages_still_go(
    sink, closed_port, ssl_cert_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    add_pool(sink, closed_port[1], tmp_path)
    ledger = open_ledger()
    for i in range(3):
        Outbox(ledger).add(message(f"lead{i}@example.com"), pool="P")

    res = cli("run", "--once")

    assert res.returncode == 0, res.stderr
    failed = [line for line in res.stdout.splitlines() if "bounce sync" in line]
    assert len(failed) == 1, res.stdout
    assert f"bounce sync of {BOX} failed: cannot reach the IMAP server" in failed[0]
    assert "next try at" in failed[0]
    assert IMAP_PASSWORD not in res.stdout + res.stderr
    assert len(sink.messages) == 3
    assert "Done: 3 sent." in res.stdout


def test_a_bad_sync_interval_is_a_usage_error():
    assert cli("suppress", "add", "x@example.com", "--reason", "test").returncode == 0
    res = cli("run", "--once", "--sync-every", "soon")
    assert res.returncode == 64, res.stderr
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: Invalid value for '--sync-every': 'soon' is not a duration; write")
    )


def test_a_bad_sync_interval_is_refused_with_no_sync_too():
    """'--no-sync --sync-every abc' ran: the typo waited for the day the flag is dropped."""
    assert cli("suppress", "add", "x@example.com", "--reason", "test").returncode == 0
    res = cli("run", "--once", "--no-sync", "--sync-every", "abc")
    assert res.returncode == 64, res.stderr
    assert res.stderr.startswith(
        "Error: Invalid value for '--sync-every': 'abc' is not a duration; write a number and a "
        "unit (s, m, h, d, w), at least 1m and at most 365d, e.g. 10m or 1h"
    ), res.stderr


@pytest.fixture
def no_idle(pki):  # type: ignore[no-untyped-def]
    """A Dovecot that does not offer IDLE."""
    with Dovecot(
        pki,
        user=IMAP_USER,
        password=IMAP_PASSWORD,
        extra_config="imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE\n",
    ) as server:
        yield server


@pytest.mark.slow
def test_without_idle_the_worker_syncs_on_its_interval(
    no_idle, sink, ssl_cert_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    add_pool(sink, no_idle.port, tmp_path)
    ledger = open_ledger()
    first, later = first_and_later(ledger)
    clock, lines = Clock(T0), []
    every = dt.timedelta(minutes=10)
    worker = Worker(open_ledger(), clock=clock, log=lines.append, sync_every=every)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: ledger.message(first).state == "sent")
        assert worker.bounces is not None
        (watcher,) = worker.bounces.watchers()
        wait_for(lambda: watcher.supported is False and not watcher.is_alive())
        no_idle.append("INBOX", bounce_of(ledger.message(first).message_id or ""))
        other = Outbox(ledger).add(message("other@example.com", "other"), pool="P", now=T0)
        worker.wake()  # a pass before the interval is up: it sends, and syncs nothing
        wait_for(lambda: ledger.message(other).state == "sent")
        assert ledger.suppressions() == []
        clock.at = T0 + every
        worker.wake()
        wait_for(lambda: [s["address"] for s in ledger.suppressions()] == [LEAD])
        clock.at = T0 + dt.timedelta(hours=2)
        worker.wake()
        wait_for(lambda: ledger.message(later).state != "queued")
    finally:
        worker.stop()
        thread.join(20)
        worker.close()
    assert ledger.message(later).state == "cancelled"
    assert [str(m.message["Subject"]) for m in sink.messages] == ["first", "other"]
    assert any("offers no IDLE; bounces are synced on the interval" in line for line in lines)


@pytest.fixture
def chatty(pki):  # type: ignore[no-untyped-def]
    """A Dovecot that says "still here" to an idling client every second."""
    with Dovecot(
        pki,
        user=IMAP_USER,
        password=IMAP_PASSWORD,
        extra_config="imap_idle_notify_interval = 1 secs\n",
    ) as server:
        yield server


@pytest.mark.slow
def test_idle_is_issued_again_on_the_same_connection_and_still_sees_new_mail(chatty, ssl_cert_env):
    woken = threading.Event()
    watcher = IdleWatcher(
        IMAP_USER,
        hosts=(chatty.host,),
        port=chatty.port,
        security="ssl",
        password=IMAP_PASSWORD,
        wake=woken.set,
        renew=0.2,  # RFC 2177: at most 29 minutes; here, at the server's next keep-alive
    )
    watcher.start()
    try:
        wait_for(lambda: watcher.renewals >= 2)
        assert chatty.sessions() == 1 and not woken.is_set()
        chatty.append("INBOX", bounce_of("<x@corp.example>"))
        assert woken.wait(20)
    finally:
        watcher.close()
    assert not watcher.is_alive()
    assert watcher.supported is True


@pytest.mark.slow
def test_sigterm_ends_the_idle_sessions_with_the_worker(pool, sink):
    Outbox(open_ledger()).add(message(LEAD, "first"), pool="P")
    proc = subprocess.Popen(
        [*forkcli.command(), "run"],
        env={**os.environ, "WARMUP_PASSWORD": IMAP_PASSWORD},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(sink.messages) == 1 and pool.sessions() == 1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "Stopped.", out
    wait_for(lambda: pool.sessions() == 0, timeout=30)


def test_imap_down_while_running_is_one_log_line_and_the_worker_still_sends_and_stops(
    sink, closed_port, ssl_cert_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    add_pool(sink, closed_port[1], tmp_path)
    ledger = open_ledger()
    ids = [Outbox(ledger).add(message(f"lead{i}@example.com"), pool="P", now=T0) for i in range(3)]
    lines: list[str] = []
    worker = Worker(
        open_ledger(), clock=Clock(T0), log=lines.append, sync_every=dt.timedelta(minutes=10)
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: all(ledger.message(i or 0).state == "sent" for i in ids))
    finally:
        worker.stop()
        thread.join(20)
        worker.close()
    assert not thread.is_alive()  # the IDLE watcher waiting to retry ends with it
    assert len(sink.messages) == 3
    assert [line for line in lines if "IMAP" in line or "bounce sync" in line] == [
        f"{T0:%Y-%m-%dT%H:%M:%SZ} bounce sync of {BOX} failed: cannot reach the IMAP server "
        f"(127.0.0.1:{closed_port[1]}: connection refused); try again later, or check the "
        f"mailbox's IMAP host and port; next try at {T0 + dt.timedelta(minutes=10):%Y-%m-%dT%H:%M:%SZ}"
    ]


def test_a_password_put_right_while_running_is_the_one_idle_logs_in_with(pool, monkeypatch):
    """The password changed at the provider, and warmup's copy was put right while ``warmup
    run`` ran: the interval's sync reads it afresh, but the IDLE watcher kept the old one and
    logged in with it for as long as the run lasted (refused logins every few minutes, and
    providers lock accounts for fewer), saying nothing and never watching again."""
    from warmup.outbox.bounces import BounceSync

    ledger = open_ledger()
    clock, lines, tries = Clock(T0), [], []
    every = dt.timedelta(minutes=10)

    def retry(failures: int) -> float:
        tries.append(failures)
        return 0.0  # time is passed in

    syncs = BounceSync(
        ledger, pool=ledger.pool("P"), every=every, clock=clock, log=lines.append,
        idle_retry=retry,
    )  # fmt: skip
    woken = threading.Event()
    monkeypatch.setenv("WARMUP_PASSWORD", "0ld-pass")
    try:
        syncs.run_due(T0)  # refused: logged
        syncs.watch(woken.set)
        (first,) = syncs.watchers()
        wait_for(lambda: not first.is_alive() or first.failures >= 2)
        assert not first.is_alive() and first.refused and tries == []
        monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)  # put right
        clock.at = T0 + every
        syncs.run_due(clock.at)
        (second,) = syncs.watchers()
        wait_for(second.ready.is_set)
        pool.append("INBOX", bounce_of("<x@corp.example>"))
        assert woken.wait(20)
    finally:
        syncs.close()
    failed, stopped, *rest = lines
    assert "bounce sync of" in failed and "refused the IMAP login" in failed, lines
    assert f"IMAP IDLE for {BOX} stopped: " in stopped and "0ld-pass" not in stopped, lines
    assert "it starts again once a sync logs in" in stopped and rest == [], lines


def test_the_pool_s_members_now_are_the_ones_synced_and_watched(pool):
    """``warmup run --pool P`` and P changing under it: the pool removed raised PoolNotFound
    out of the next round (the worker stopped) and the member's IDLE session stayed open; a
    member that joined waited for the next round (up to --sync-every) to be synced."""
    from warmup.outbox.bounces import BounceSync

    ledger = open_ledger()
    clock, lines = Clock(T0), []
    syncs = BounceSync(
        ledger, pool=ledger.pool("P"), every=dt.timedelta(minutes=10), clock=clock,
        log=lines.append,
    )  # fmt: skip
    try:
        syncs.run_due(T0)
        syncs.watch(lambda: None)
        (watcher,) = syncs.watchers()
        wait_for(watcher.ready.is_set)
        before = logins(pool)
        assert cli("pool", "remove", "P").returncode == 0
        clock.at = T0 + dt.timedelta(minutes=10)  # the next round
        syncs.run_due(clock.at)
        assert syncs.watchers() == []
        wait_for(lambda: not watcher.is_alive())
        assert logins(pool) == before  # a mailbox of no pool is not synced
        assert cli("pool", "add", "P", BOX).returncode == 0  # made again: it joins
        pool.append("INBOX", bounce_of("<x@corp.example>"))
        clock.at = T0 + dt.timedelta(minutes=11)  # the round after is 9 minutes away
        syncs.run_due(clock.at)
        assert logins(pool) > before
        assert ledger.bounces(ledger.mailbox(BOX)), lines  # synced at once, not at the next round
        (again,) = syncs.watchers()
        assert again is not watcher
    finally:
        syncs.close()
    assert not [line for line in lines if "failed" in line], lines


FULL = "full@example.com"


def full_for_a_week(pool) -> None:  # type: ignore[no-untyped-def]
    """BOX's three sends to FULL over eight days (through the sink, at given instants), each
    answered by a mailbox-full DSN in the Dovecot inbox, not yet synced."""
    from warmup import Gate

    start = T0 - dt.timedelta(days=20)
    reports = []
    with Gate(BOX) as gate:
        for n, day in enumerate((0, 4, 8), 1):
            report = gate.send(message(FULL), now=start + dt.timedelta(days=day))
            assert report.sent == [FULL]
            reports.append(dsn(report.message_id, FULL, "4.2.2", "452 4.2.2 Mailbox full", n))
    pool.append_many("INBOX", reports)


def test_a_runs_sync_names_the_addresses_that_keep_soft_bouncing(pool, sink):
    """The run's sync records the three mailbox-full bounces, and a log line says FULL keeps
    soft-bouncing: the next message to it still goes (a person decides)."""
    full_for_a_week(pool)
    ledger = open_ledger()
    later = Outbox(ledger).add(message(FULL, "later"), pool="P")

    res = cli("run", "--once")

    assert res.returncode == 0, res.stderr
    assert f"bounce sync of {BOX}: 3 new bounces" in res.stdout
    hint = [line for line in res.stdout.splitlines() if "soft-bouncing" in line]
    assert len(hint) == 1 and hint[0].endswith(
        f"{BOX}: 1 address keeps soft-bouncing (mailboxfull): 'warmup suppress soft' lists "
        "it, --apply suppresses it."
    ), res.stdout
    assert ledger.message(later).state == "sent"
    assert ledger.suppressions() == []


def test_run_suppress_soft_suppresses_them_before_it_sends(pool, sink):
    full_for_a_week(pool)
    ledger = open_ledger()
    later = Outbox(ledger).add(message(FULL, "later"), pool="P")
    sent = len(sink.messages)

    res = cli("run", "--once", "--suppress-soft")

    assert res.returncode == 0, res.stderr
    assert f"{BOX}: Suppressed 1 address that kept soft-bouncing (mailboxfull)." in res.stdout, (
        res.stdout
    )
    assert ledger.message(later).state == "cancelled"
    assert len(sink.messages) == sent  # nothing more went to FULL
    [row] = ledger.suppressions()
    assert (row["address"], row["kind"]) == (FULL, "soft")
    # nothing new the next time: not looked for, nothing said
    res = cli("run", "--once", "--suppress-soft")
    assert res.returncode == 0 and "soft-bouncing" not in res.stdout, res.stdout


def test_run_suppress_soft_suppresses_the_streaks_an_earlier_run_named(pool, sink):
    """The run without the flag named FULL and pointed at --apply; run again with
    --suppress-soft, its sync recorded nothing new, so it did not look, and the next message
    went to FULL, one more bounce: the flag acts on a mailbox's first sync, new bounces or not."""
    full_for_a_week(pool)
    ledger = open_ledger()
    named = cli("run", "--once")
    assert "1 address keeps soft-bouncing" in named.stdout, named.stdout
    later = Outbox(ledger).add(message(FULL, "later"), pool="P")
    sent = len(sink.messages)

    res = cli("run", "--once", "--suppress-soft")

    assert res.returncode == 0, res.stderr
    assert "new bounces" not in res.stdout  # nothing new was synced
    assert f"{BOX}: Suppressed 1 address that kept soft-bouncing (mailboxfull)." in res.stdout, (
        res.stdout
    )
    assert ledger.message(later).state == "cancelled"
    assert len(sink.messages) == sent
    assert [r["address"] for r in ledger.suppressions()] == [FULL]


def test_suppress_soft_with_no_sync_is_refused_the_config_files_is_not_applied(
    pool, sink, tmp_path, monkeypatch
):
    """'run --once --no-sync --suppress-soft' exited 0, looked for nothing and sent the
    message to FULL: the flag acts after the run's syncs, which --no-sync turns off. Refused
    (64, one line, nothing sent or read); the config file's suppress_soft under a typed
    --no-sync is a default that does not apply: the run goes on."""
    full_for_a_week(pool)
    ledger = open_ledger()
    later = Outbox(ledger).add(message(FULL, "later"), pool="P")
    sent = len(sink.messages)

    res = cli("run", "--once", "--no-sync", "--suppress-soft")

    assert (res.returncode, res.stdout) == (64, ""), res.stdout
    assert res.stderr == (
        "Error: --suppress-soft acts after the run's bounce syncs, which --no-sync turns off: "
        "drop one of them ('warmup suppress soft --apply' suppresses without a run)\n"
    )
    assert ledger.message(later).state == "queued" and len(sink.messages) == sent
    config = tmp_path / "config.toml"
    config.write_text("[commands.run]\nsuppress_soft = true\n")
    monkeypatch.setenv("WARMUP_CONFIG", str(config))
    assert cli("run", "--once", "--no-sync").returncode == 0
    assert ledger.message(later).state == "sent"


def test_a_bad_soft_measure_in_the_config_file_stops_the_run_before_it_sends(
    pool, sink, tmp_path, monkeypatch
):
    full_for_a_week(pool)
    config = tmp_path / "config.toml"
    config.write_text('[commands."suppress soft"]\ndays = -1\n')
    monkeypatch.setenv("WARMUP_CONFIG", str(config))
    ledger = open_ledger()
    later = Outbox(ledger).add(message(FULL, "later"), pool="P")
    sent = len(sink.messages)

    res = cli("run", "--once")

    assert res.returncode == 78, res.stderr
    [line] = res.stderr.splitlines()
    assert line.endswith('[commands."suppress soft"] days: -1 is not in the range 0<=x<=3650.')
    assert ledger.message(later).state == "queued" and len(sink.messages) == sent
    assert ledger.bounces(None, None) == []  # the sync did not run either
    # --no-sync reads no bounces: the measure is not needed, and the run sends
    assert cli("run", "--once", "--no-sync").returncode == 0
    assert ledger.message(later).state == "sent"


def test_suppress_soft_typed_under_the_config_files_no_sync_is_refused(tmp_path, monkeypatch):
    """'[commands.run] no_sync = true' in the config file and 'run --suppress-soft' typed: the
    run went on, looked for no streak and mailed the full mailboxes, the silent no-op the
    refusal of '--no-sync --suppress-soft' was made against. A flag typed is a request,
    whichever source turned the syncs off."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    config = tmp_path / "config.toml"
    config.write_text("[commands.run]\nno_sync = true\n")
    monkeypatch.setenv("WARMUP_CONFIG", str(config))

    res = cli("run", "--once", "--suppress-soft")

    assert (res.returncode, res.stdout) == (64, ""), res.stdout
    assert res.stderr == (
        "Error: --suppress-soft acts after the run's bounce syncs, which no_sync in the config "
        f"file {config} turns off: drop one of them ('warmup suppress soft --apply' suppresses "
        "without a run)\n"
    )
    assert cli("run", "--once").returncode == 0  # the config file's no_sync alone is fine


def test_a_sync_interval_with_no_sync_is_refused_as_a_contradiction(tmp_path, monkeypatch):
    """'run --once --no-sync --sync-every 5m' ran without a word: how often to sync, and no
    sync at all; one of them was not meant. Refused (64, one line, as '-q -v'), whether the
    syncs were turned off on the command line or by the config file's no_sync; the config
    file's sync_every under a typed --no-sync is a default that does not apply."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    res = cli("run", "--once", "--no-sync", "--sync-every", "5m")
    assert (res.returncode, res.stdout, res.stderr) == (
        64,
        "",
        "Error: --sync-every sets how often the run syncs bounces, which --no-sync turns off: "
        "drop one of them\n",
    )
    config = tmp_path / "config.toml"
    config.write_text("[commands.run]\nno_sync = true\n")
    monkeypatch.setenv("WARMUP_CONFIG", str(config))
    res = cli("run", "--once", "--sync-every", "5m")
    assert (res.returncode, res.stdout) == (64, ""), res.stdout
    assert res.stderr == (
        "Error: --sync-every sets how often the run syncs bounces, which no_sync in the config "
        f"file {config} turns off: drop one of them\n"
    )
    config.write_text('[commands.run]\nsync_every = "5m"\n')
    assert cli("run", "--once", "--no-sync").returncode == 0


@pytest.fixture
def pg_pool(sink, dovecot_clean, ssl_cert_env, tmp_path, monkeypatch, pg_url):  # type: ignore[no-untyped-def]
    """Pool P of one mailbox (SMTP on the sink, IMAP on Dovecot) on a team ledger; the
    ledger's URL."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    monkeypatch.setenv("WARMUP_PASSWORD", IMAP_PASSWORD)
    add_pool(sink, dovecot_clean.port, tmp_path)
    return pg_url


class CutClock(Clock):
    """A clock that cuts the ledger's proxy the first time it is read once armed: the sync
    reads it as it reads each report, between its IMAP fetch and its write to the ledger."""

    def __init__(self, at: dt.datetime, proxy) -> None:  # type: ignore[no-untyped-def]
        super().__init__(at)
        self.proxy = proxy
        self.armed = False

    def __call__(self) -> dt.datetime:
        if self.armed:
            self.armed = False
            self.proxy.down()
        return self.at


@contextlib.contextmanager
def syncs_behind_a_proxy(
    url: str, lines: list[str]
) -> Iterator[tuple[BounceSync, PgProxy, Ledger]]:
    """Pool P's :class:`BounceSync` on the ledger at ``url`` through a :class:`PgProxy` (its
    clock a :class:`CutClock` at T0), the proxy, and the ledger reached without it."""
    proxy = PgProxy()
    direct = open_ledger(url)
    ledger = open_ledger(proxy.url(url))
    syncs = BounceSync(
        ledger, pool=ledger.pool("P"), every=dt.timedelta(minutes=10),
        clock=CutClock(T0, proxy), log=lines.append,
    )  # fmt: skip
    try:
        yield syncs, proxy, direct
    finally:
        proxy.up()
        syncs.close()
        ledger.close()
        direct.close()


def test_a_ledger_cut_during_a_syncs_imap_round_syncs_again_at_the_next_pass(
    pg_pool, dovecot_clean
):
    """The ledger went away while the round's sync read INBOX (after the mailboxes were read):
    the sync failed as if the IMAP server had, one line, and the round counted as done, so
    the passes after it sent for --sync-every (10 minutes) without the bounce in the inbox."""
    dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
    lines: list[str] = []
    with syncs_behind_a_proxy(pg_pool, lines) as (syncs, proxy, direct):
        clock = syncs.clock
        assert isinstance(clock, CutClock)
        clock.armed = True
        try:
            syncs.run_due(T0)
        except Unavailable:
            pass  # the pass is cut off, as at any read of the ledger
        assert not clock.armed and proxy.is_down  # cut under the sync, not before it
        box = direct.mailbox(BOX)
        assert direct.bounces(box) == []
        proxy.up()
        clock.at = T0 + dt.timedelta(minutes=1)  # the next pass, well before the next round
        syncs.run_due(clock.at)
        assert len(direct.bounces(box)) == 1, lines


def test_an_idle_wake_up_outlives_a_pass_the_ledger_cut_off(pg_pool, dovecot_clean):
    """IDLE said INBOX has new mail; the next pass read the pool's members (to sync one that
    joined) while the ledger was away: the pass was cut off, and the wake-up was lost with it,
    the bounce left unread until the next round (--sync-every)."""
    lines: list[str] = []
    woke = threading.Event()
    with syncs_behind_a_proxy(pg_pool, lines) as (syncs, proxy, direct):
        syncs.run_due(T0)  # the round: nothing in INBOX yet
        syncs.watch(woke.set)
        (watcher,) = syncs.watchers()
        wait_for(watcher.ready.is_set)
        dovecot_clean.append("INBOX", bounce_of("<x@corp.example>"))
        wait_for(woke.is_set)
        box = direct.mailbox(BOX)
        proxy.down()
        with pytest.raises(Unavailable):
            syncs.run_due(T0 + dt.timedelta(minutes=1))
        proxy.up()
        syncs.run_due(T0 + dt.timedelta(minutes=2))  # the next pass, before the next round
        assert len(direct.bounces(box)) == 1, lines


def test_a_runs_sync_says_the_bounces_of_a_flood_it_did_not_keep(pool, sink):
    """'warmup run' synced a flood of forged reports about its one send and kept PER_SEND_KEPT
    of them: the rest were counted in its sync report and never said, where 'bounces sync'
    says "Not kept: ...". The run's log says it alike."""
    from tests.test_bounce_flood import forged
    from warmup.ledger.values import PER_SEND_KEPT, UNMATCHED_KEPT

    ledger = open_ledger()
    Outbox(ledger).add(message(LEAD, "first"), pool="P")
    assert cli("run", "--once").returncode == 0
    pool.append_many("INBOX", [forged(n, LEAD) for n in range(PER_SEND_KEPT + 5)])

    res = cli("run", "--once")

    assert res.returncode == 0, res.stderr
    said = [line for line in res.stdout.splitlines() if "Not kept" in line]
    assert len(said) == 1 and said[0].endswith(
        f"bounce sync of {BOX}: Not kept: 5 bounces counting nothing, past the "
        f"{UNMATCHED_KEPT:,} answering no send a mailbox keeps or the {PER_SEND_KEPT} of one "
        "send (a flood of forged reports?): nothing of them counts or suppresses"
    ), res.stdout
