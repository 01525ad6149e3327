"""A team on one PostgreSQL ledger: workers and relays in processes of their own, a server that
drops their connections mid-send."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter

import psycopg
import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import lines_until_retry, members_sink, pool_of, queue_plain, sent_once
from tests.pgkit import (  # noqa: F401  (pg_url: the fixture)
    PgProxy,
    drop_sessions,
    pg_server,
    pg_url,
    session_name,
)
from warmup.ledger import open_ledger


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 4) as s:
        yield s


def test_a_worker_whose_backend_is_terminated_mid_send_settles_the_message(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """pg_terminate_backend of the worker's session while its message is in DATA: the next use
    reconnects; every message is sent once and recorded sent."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(3)
    sink.hold_data_reply = threading.Event()
    app = session_name("atk-w")
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": f"{pg_url}&application_name={app}"}
    proc = _warmup(["run", "--once", "--no-sync", "--no-view"], env)
    try:
        assert sink.holding.wait(60)
        assert drop_sessions(app) >= 1
        sink.hold_data_reply.set()
        _, err = proc.communicate(timeout=120)
    finally:
        sink.hold_data_reply.set()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1, 1]
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    assert states == {mid: "sent" for mid in arrived}


def _warmup(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``warmup ARGS`` in a process of its own, its output read as text."""
    return subprocess.Popen(
        [*forkcli.command(), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_worker_whose_ledger_goes_down_while_it_sends_records_the_message_once_back(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """The team server restarts while a worker's message is with the SMTP server: the server
    took it (250), the worker could not write that down and exited 69 at once, leaving the
    message 'sending'; the next worker called it unknown, for a person to decide, though its
    reply had been known. Now the worker says so, tries again, and records it sent."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    proxy = PgProxy()
    sink.hold_data_reply = threading.Event()
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": proxy.url(pg_url)}
    proc = _warmup(["run", "--once", "--no-sync", "--no-view"], env)
    try:
        assert sink.holding.wait(60)
        proxy.down()  # the server restarts while the message is in DATA
        sink.hold_data_reply.set()
        said = lines_until_retry(proc)  # until the worker says it waits for the ledger
        assert said and "#1 left a@corp.example; recording it: " in said[-1], said
        proxy.up()
        out, err = proc.communicate(timeout=120)
    finally:
        sink.hold_data_reply.set()
        proxy.up()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    assert states == {mid: "sent" for mid in arrived}
    (quota,) = json.loads(cli("quota", "--json").stdout)
    assert quota["sent"] == 2


RELAY_CLIENT = """\
import json, os, smtplib, sys
env = os.environ
tag, n = sys.argv[1], int(sys.argv[2])
took, refused = [], []
for i in range(n):
    mid = f"<{tag}.{i}@corp.example>"
    s = smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=120)
    s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
    try:
        s.sendmail(env["WARMUP_MAILBOX"], [f"{tag}{i}@example.com"],
                   f"Message-ID: {mid}\\r\\nSubject: s\\r\\n\\r\\nhi\\r\\n")
        took.append(mid)
    except smtplib.SMTPException as exc:
        refused.append([mid, str(exc)[:200]])
    s.quit()
print(json.dumps({"took": took, "refused": refused}))
"""


def test_workers_and_relays_for_the_same_mailbox_share_its_quota_exactly(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """Two workers on a pool of three mailboxes and two relays ('warmup send a@... -- script')
    for the pool's first mailbox, in processes of their own on one PostgreSQL ledger: each
    mailbox sends exactly its quota, no Message-ID twice, every outcome as the ledger says."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    boxes = pool_of(sink.port, tmp_path, n=3, daily=8)
    queue_plain(40)
    script = tmp_path / "client.py"
    script.write_text(RELAY_CLIENT)
    env = {**os.environ, **PASSWORD_ENV}
    procs = [_warmup(["run", "--once", "--no-sync", "--no-view"], env) for _ in range(2)] + [
        _warmup(["send", boxes[0], "--", sys.executable, str(script), tag, "8"], env)
        for tag in ("x", "y")
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        print(p.returncode, out[-2000:], err[-2000:])
    assert all("Traceback" not in err for _, err in outs)
    assert [p.returncode for p in procs[:2]] == [0, 0]
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert [mid for mid, n in arrived.items() if n > 1] == []
    per_box = Counter(str(m.message["From"]) for m in sink.messages)
    assert per_box == {box: 8 for box in boxes}, per_box
    relayed = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs[2:]]
    took = {mid for r in relayed for mid in r["took"]}
    assert took == {mid for mid in arrived if mid.startswith(("<x.", "<y."))}
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    sent = {mid for mid, s in states.items() if s == "sent"}
    assert sent == {mid for mid in arrived if mid not in took}
    assert Counter(states.values())["queued"] == 40 - len(sent)
    (a,) = [q for q in json.loads(cli("quota", "--json").stdout) if q["mailbox"] == boxes[0]]
    assert a["sent"] == 8


def test_a_relay_whose_ledger_is_down_at_rcpt_defers_the_recipient(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """The team server goes away while 'warmup send ADDRESS -- script' relays: the suppression
    check of the script's next RCPT TO raised into aiosmtpd, which printed a traceback and
    answered '500 Error: (Unavailable) ...', a permanent failure the script would drop its lead
    for. A ledger unavailable is 'try later' (451), as at the end of DATA."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=8)
    script = tmp_path / "client.py"
    script.write_text(RELAY_CLIENT)
    proxy = PgProxy()
    sink.hold_data_reply = threading.Event()
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": proxy.url(pg_url)}
    proc = _warmup(["send", box, "--", sys.executable, str(script), "x", "2"], env)
    try:
        assert sink.holding.wait(60)
        proxy.down()  # for good: the second message's RCPT TO finds no ledger
        sink.hold_data_reply.set()
        out, err = proc.communicate(timeout=200)
    finally:
        sink.hold_data_reply.set()
        proxy.up()
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    relayed = json.loads(out.strip().splitlines()[-1])
    assert relayed["took"] == ["<x.0@corp.example>"]
    ((mid, why),) = relayed["refused"]
    assert mid == "<x.1@corp.example>"
    assert "(451, b'4.3.0 the ledger is unavailable: ledger postgresql+psycopg://" in why, why
    assert "warmup: 1 sent, 1 deferred (4xx), 0 refused (5xx)" in err
    assert [str(m.message["Message-ID"]) for m in sink.messages] == ["<x.0@corp.example>"]


def _waits_on_a_lock(app: str, holder: int | None = None) -> bool:
    """Whether the session named ``app`` waits on a lock (one backend ``holder`` holds)."""
    url = sa.engine.make_url(pg_server()).set(drivername="postgresql")
    which = "wait_event_type = 'Lock'" if holder is None else "%s = ANY(pg_blocking_pids(pid))"
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND {which}",
            (app,) if holder is None else (app, holder),
        ).fetchone()
    return bool(row and row[0])


def test_two_hosts_importing_one_log_at_once_both_succeed(pg_url, tmp_path):  # noqa: F811
    """Two hosts import the same log into a fresh team ledger at once: the one whose
    registration of the log's mailbox lost the race exited 65, 'mailbox ... exists already;
    change it with warmup mailbox set', though nothing was wrong with the file. It now uses the
    mailbox the other host registered, and adds nothing twice."""
    import time

    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider\n"
        "a@corp.example,lead1@example.com,2026-11-30T09:00:00+08:00,exmail\n"
        "a@corp.example,lead2@example.com,2026-11-30T09:10:00+08:00,\n"
    )
    other = open_ledger(pg_url)
    try:
        with other.write() as conn:  # the other host registers it, not yet committed
            other.add_mailbox("a@corp.example", "exmail", "Asia/Shanghai", conn=conn)
            app = session_name("atk-import")
            proc = _warmup(
                ["import", str(log)],
                {**os.environ, "WARMUP_DB": f"{pg_url}&application_name={app}"},
            )
            deadline = time.monotonic() + 60
            while not _waits_on_a_lock(app):  # its INSERT waits on our row
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Imported 2 new sends" in out, out
        with other.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM mailbox").scalar() == 1
            assert conn.exec_driver_sql("SELECT count(*) FROM send").scalar() == 2
    finally:
        other.close()


def test_two_hosts_queueing_one_message_at_once_refuse_the_second_in_one_line(
    pg_url,  # noqa: F811
    tmp_path,
):
    """Two hosts queue the same .eml (its Message-ID) at once: each looked for the Message-ID
    before the other had committed, and the one whose insert met the other's row printed a
    traceback (UniqueViolation, exit 1). It is refused as a message queued before is: one
    line, 65, naming the message queued; one message in the outbox."""
    import time

    from warmup import Outbox

    eml = tmp_path / "offer.eml"
    eml.write_bytes(
        b"From: a@corp.example\r\nTo: lead@example.com\r\nSubject: offer\r\n"
        b"Message-ID: <offer-1@corp.example>\r\n\r\nHi\r\n"
    )
    env = {**os.environ, "WARMUP_DB": pg_url}
    assert cli("mailbox", "add", "a@corp.example", "--provider", "exmail", env=env).returncode == 0
    other = open_ledger(pg_url)
    app = session_name("atk-queue")
    procs: list[subprocess.Popen[str]] = []

    def then_the_second_host() -> None:  # ours written, not yet committed
        procs.append(
            _warmup(
                ["queue", "add", "--mailbox", "a@corp.example", "--eml", str(eml)],
                {**env, "WARMUP_DB": f"{pg_url}&application_name={app}"},
            )
        )
        deadline = time.monotonic() + 60
        while not _waits_on_a_lock(app):  # its insert waits on our row
            assert procs[0].poll() is None, procs[0].communicate()
            assert time.monotonic() < deadline

    try:
        got = Outbox(other).add_many(
            [eml.read_bytes()], mailbox="a@corp.example", committing=then_the_second_host
        )
        out, err = procs[0].communicate(timeout=60)
        assert procs[0].returncode == 65, err
        assert "Traceback" not in err and out == "", err
        assert err == (
            f"Error: message <offer-1@corp.example> is in the outbox already (message "
            f"{got.ids[0]}, queued); a message is queued once: give it a new Message-ID\n"
        )
        with other.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar() == 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        other.close()


HELD_CLIENT = """\
import json, os, pathlib, smtplib, sys, time
env = os.environ
go = pathlib.Path(sys.argv[1])
said = []
s = smtplib.SMTP(env["WARMUP_SMTP_HOST"], int(env["WARMUP_SMTP_PORT"]), timeout=120)
s.login(env["WARMUP_SMTP_USER"], env["WARMUP_SMTP_PASSWORD"])
for rcpts, subject in ((["lead@example.com", "dead@example.com"], "one"), (["next@example.com"], "two")):
    try:  # no Message-ID: the relay gives each message its own, as most scripts leave it
        s.sendmail(env["WARMUP_MAILBOX"], rcpts, f"Subject: {subject}\\r\\n\\r\\nhi\\r\\n")
        said.append("taken")
    except smtplib.SMTPException as exc:
        said.append(str(exc)[:300])
    while not go.exists():  # the test brings the ledger back
        time.sleep(0.05)
s.quit()
print(json.dumps(said))
"""


@pytest.mark.parametrize("back", [True, False], ids=["back", "down-to-the-end"])
def test_a_relay_whose_ledger_goes_down_after_the_server_answered_keeps_what_it_said(
    back,
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """The team server goes away while the relay's message is with the SMTP server, which
    takes it for one recipient and refuses the other (550 5.1.1): writing that down failed, so
    the relay answered the script '451 unavailable', a script retried (a message without a
    Message-ID gets a new one: the lead mailed twice), and the hard bounce was never recorded.
    The relay answers what the server said, and writes it when the ledger is back."""
    import time

    monkeypatch.setenv("WARMUP_DB", pg_url)
    (box,) = pool_of(sink.port, tmp_path, n=1, daily=8)
    sink.reject_rcpt = {"dead@example.com": (550, "5.1.1 no such user")}
    script = tmp_path / "client.py"
    script.write_text(HELD_CLIENT)
    go = tmp_path / "go"
    proxy = PgProxy()
    sink.hold_data_reply = threading.Event()
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": proxy.url(pg_url)}
    proc = _warmup(["send", box, "--", sys.executable, str(script), str(go)], env)
    try:
        assert sink.holding.wait(60)
        proxy.down()  # while the first message is in DATA
        sink.hold_data_reply.set()
        deadline = time.monotonic() + 60
        while not proxy.refused:  # the server took it; the relay's record found no ledger
            assert time.monotonic() < deadline and proc.poll() is None
            threading.Event().wait(0.05)
        if back:
            proxy.up()
        go.touch()
        out, err = proc.communicate(timeout=120)
    finally:
        sink.hold_data_reply.set()
        proxy.up()
        go.touch()
        if proc.poll() is None:
            proc.kill()
    if not back:
        # Down to the end: the relay says what it could not write, naming the address a person
        # must suppress by hand; the first message was still answered as the server said. 74
        # (it went, not all of it written down), not 69: "unavailable" reads as "not sent".
        assert proc.returncode == 74, err
        assert "do not send it again" in err, err
        assert json.loads(out.strip().splitlines()[-1])[0] == "taken", out
        assert "suppress its hard bounces by hand: dead@example.com" in err, err
        assert "Traceback" not in err, err
        return
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert json.loads(out.strip().splitlines()[-1]) == ["taken", "taken"], out
    assert [m.rcpt_tos for m in sink.messages] == [("lead@example.com",), ("next@example.com",)]
    with sa.create_engine(pg_url).connect() as conn:
        rows = conn.exec_driver_sql("SELECT recipient, outcome FROM send ORDER BY id").all()
        suppressed = conn.exec_driver_sql("SELECT address FROM suppression").all()
    assert [tuple(r) for r in rows] == [
        ("lead@example.com", "sent"),
        ("dead@example.com", "hard"),
        ("next@example.com", "sent"),
    ]
    assert [tuple(r) for r in suppressed] == [("dead@example.com",)]


def test_an_import_whose_mailboxes_two_other_hosts_register_meanwhile_succeeds(
    pg_url,  # noqa: F811
    tmp_path,
):
    """A log of two mailboxes, each registered by another host while the import runs: the
    batch, tried again once after the first lost race, lost the second one too and exited 65
    ('mailbox ... exists already'). It tries again while each try finds one more mailbox
    registered meanwhile."""
    import time

    log = tmp_path / "log.csv"
    log.write_text(
        "mailbox,recipient,sent_at,provider\n"
        "a@corp.example,lead1@example.com,2026-11-30T09:00:00+08:00,exmail\n"
        "b@corp.example,lead2@example.com,2026-11-30T09:10:00+08:00,exmail\n"
    )
    hosts = [open_ledger(pg_url), open_ledger(pg_url)]
    proc = None
    try:
        with hosts[0].write() as first, hosts[1].write() as second:
            # each of the other hosts registers one of the mailboxes, not yet committed
            hosts[0].add_mailbox("a@corp.example", "exmail", "Asia/Shanghai", conn=first)
            hosts[1].add_mailbox("b@corp.example", "exmail", "Asia/Shanghai", conn=second)
            pids = [c.exec_driver_sql("SELECT pg_backend_pid()").scalar() for c in (first, second)]
            app = session_name("atk-import2")
            proc = _warmup(
                ["import", str(log)],
                {**os.environ, "WARMUP_DB": f"{pg_url}&application_name={app}"},
            )
            deadline = time.monotonic() + 60
            for conn, pid in zip((first, second), pids, strict=True):
                while not _waits_on_a_lock(app, pid):  # its INSERT waits on that row
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline
                conn.commit()  # that host's registration lands: the import's INSERT fails
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Imported 2 new sends" in out, out
        with hosts[0].engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM mailbox").scalar() == 2
            assert conn.exec_driver_sql("SELECT count(*) FROM send").scalar() == 2
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        for ledger in hosts:
            ledger.close()


def _daemon_through(proxy: PgProxy, pg_url: str, on_log):  # noqa: F811  (pg_url: a URL)
    """A ``warmup run`` worker (:meth:`Worker.run`, in this process) on the ledger behind
    ``proxy``: ``on_log(line)`` sees each line it logs; the sleep before a pass after the ledger
    was unavailable brings the proxy up, the first sleep not after a failure stops the worker.
    Returns its lines."""
    from warmup.outbox.worker import Worker

    lines: list[str] = []
    ledger = open_ledger(proxy.url(pg_url))
    worker: Worker

    def log(line: str) -> None:
        lines.append(line)
        on_log(line)

    def sleep(seconds: float) -> None:
        if "trying again" in lines[-1]:
            if "pass cut off: " in lines[-1]:
                proxy.up()  # the server is back for the worker's next pass
        else:
            worker.stop()

    try:
        with Worker(ledger, log=log, sleep=sleep) as worker:
            worker.run()
    finally:
        ledger.close()
    return lines


def test_a_running_worker_whose_ledger_restarts_between_messages_goes_on(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    password,
    monkeypatch,
    tmp_path,
):
    """The team server restarts (every connection cut, new ones refused a while) just after a
    ``warmup run`` worker sent its first message: its next claim failed and the worker exited
    69, a service down until someone restarted it; the first message's outcome, waiting to
    ride on that claim, was dropped, so the message stayed 'sending' and was called unknown
    by the next worker though it was known sent. Now the worker waits for the ledger, writes
    that outcome and goes on with the next message."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    proxy = PgProxy()

    def on_log(line: str) -> None:
        if " sent #" in line and len(sink.messages) == 1:
            proxy.down()

    lines = _daemon_through(proxy, pg_url, on_log)
    assert proxy.refused >= 1  # the worker did find the ledger away
    cut = [x for x in lines if " pass cut off: ledger postgresql+psycopg://" in x]
    assert cut and " is unavailable: " in cut[0] and cut[0].endswith("; trying again in 1 s")
    assert any("the ledger is back" in x for x in lines), lines
    sent_once(sink, 2)


def test_a_running_worker_whose_ledger_stays_away_past_its_patience_records_the_message(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    password,
    monkeypatch,
    tmp_path,
):
    """The server restarts while the message is in DATA and stays away longer than the
    worker waits to record a message the SMTP server took: ``warmup run`` exited 69, the
    message 'sending' (for the next worker to call unknown). Now the worker keeps waiting
    for the ledger, then records the message sent from its gate's held reply and sends the
    next one."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    proxy = PgProxy()
    sink.hold_data_reply = threading.Event()

    def cut() -> None:
        assert sink.holding.wait(60)
        proxy.down()
        assert sink.hold_data_reply is not None
        sink.hold_data_reply.set()

    cutter = threading.Thread(target=cut, daemon=True)
    cutter.start()
    try:
        lines = _daemon_through(proxy, pg_url, lambda line: None)
    finally:
        sink.hold_data_reply.set()
        proxy.up()
    assert any("but the ledger could not record it" in x for x in lines), lines
    assert any(" pass cut off: ledger " in x for x in lines), lines
    sent_once(sink, 2)


@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_an_import_interrupted_between_batches_says_what_it_wrote_and_what_to_do(
    pg_url,  # noqa: F811
    tmp_path,
    sig,
    code,
):
    """Ctrl-C while an import writes its batches (each its own transaction): it said
    "Aborted.", exit 130, and nothing else, while 2,000 of the file's rows were in the ledger
    and the rest not. Now one line says how many were written and that the same import
    completes it; run again, it does, adding nothing twice. SIGTERM (a service manager's stop,
    'timeout') ended it silently, exit 143: now it says the same, with 143; so does a hang-up
    (the SSH session closed), 129."""
    import signal
    import time

    first, second = "a@corp.example", "b@corp.example"
    for box in (first, second):
        assert cli("--db", pg_url, "mailbox", "add", box, "--provider", "exmail").returncode == 0
    rows = [  # a batch (2,000 rows) for each mailbox: the second waits on its mailbox's lock
        f"{first if i < 2000 else second},r{i}@example.com,"
        f"2026-11-{1 + i % 28:02d}T09:{i % 60:02d}:{i // 60 % 60:02d}Z"
        for i in range(4000)
    ]
    log = tmp_path / "log.csv"
    log.write_text("mailbox,recipient,sent_at\n" + "\n".join(rows) + "\n")
    other = open_ledger(pg_url)
    try:
        with other.write() as conn:  # another host holds the second mailbox's row
            conn.exec_driver_sql(f"SELECT id FROM mailbox WHERE address = '{second}' FOR UPDATE")
            holder = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            # A name of its own: the SIGINT and SIGTERM runs of this test, side by side on two
            # workers, each took the other's import waiting (under a shared name) for its own
            # and signalled its import while it started or checked the file (exit -15, or
            # 'Aborted.', or 'interrupted while it was checked').
            app = session_name("atk-import-int")
            proc = _warmup(
                ["import", str(log)],
                {**os.environ, "WARMUP_DB": f"{pg_url}&application_name={app}"},
            )
            deadline = time.monotonic() + 60
            while not _waits_on_a_lock(app, holder):  # the first batch is in, the second waits
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert out == ""
        assert err == (
            f"Error: import of {log} interrupted with the first 2000 of its 4000 rows in the "
            f"ledger; "
            "run the same import again to write the rest (a row already in the ledger is not "
            "added twice)\n"
        )
        with other.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM send").scalar() == 2000
        res = cli("--db", pg_url, "import", str(log))
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("Imported 2000 new sends and 0 new bounces"), res.stdout
        with other.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM send").scalar() == 4000
    finally:
        other.close()


def test_a_worker_for_a_pool_of_many_members_sends_from_each(
    pki,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """A worker kept each member's gate, and each gate its ledger connection, for its life: on
    a team ledger the 15th member's record waited 30 s for a connection the pool (15 at most)
    would never lend, then the worker died in a traceback, that message taken by its SMTP
    server and left 'sending'. Now the gates past the few most recent give theirs back."""
    from tests.gatekit import policy_file
    from tests.outboxkit import add_box
    from tests.peers.fixtures import SMTP_PASSWORD, SMTP_USER
    from tests.peers.smtp import SmtpSink

    monkeypatch.setenv("WARMUP_DB", pg_url)
    boxes = [f"m{i}@corp.example" for i in range(16)]
    accounts = {box: SMTP_PASSWORD for box in boxes}
    with SmtpSink("ssl", user=SMTP_USER, password=SMTP_PASSWORD, pki=pki, accounts=accounts) as s:
        policy = policy_file(tmp_path / "one.toml", daily=1)
        for box in boxes:
            add_box(box, s.port, str(policy))
        assert cli("pool", "add", "P", *boxes).returncode == 0
        queue_plain(len(boxes))
        proc = _warmup(["run", "--once", "--no-sync"], {**os.environ, **PASSWORD_ENV})
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert Counter(str(m.message["From"]) for m in s.messages) == {box: 1 for box in boxes}
        arrived = Counter(str(m.message["Message-ID"]) for m in s.messages)
    assert sorted(arrived.values()) == [1] * len(boxes)
    states = {
        m["message_id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)
    }
    assert states == {mid: "sent" for mid in arrived}
