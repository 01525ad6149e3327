"""The ledger failing after the SMTP server took a message: the message went, and says so.

A send reserves its slots, talks to the server, then writes "sent". When that last write fails
(the disk filled meanwhile, the team server went away, a lock held past the lock_timeout) the
slots stay ``reserved``: counted as sent, and settled ``unknown`` by the next reservation, so the
same message is never sent twice. What the command said must agree: "free space on the disk ...,
then try again", "ledger ... is unavailable" (69, read as "server unreachable") or a lock
timeout's 75 ("try later") alone made a message that went look unsent, and a script built it
again under a new Message-ID, to recipients who had it. Now exit 74 and a line that says it went.
Real processes, the TLS sink on loopback, a real full tmpfs, a real PostgreSQL behind a proxy.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import Counter
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, warmup
from tests.outboxkit import lines_until_retry, members_sink, pool_of, queue_plain
from tests.pgkit import PgProxy, pg_url  # noqa: F401  (the fixture)
from tests.test_faults import (  # noqa: F401  (full_tmpfs: a fixture)
    big_csv,
    fill,
    full_tmpfs,
    integrity,
    part_way,
    query,
    seeded,
)
from warmup.api import IMPORT_BATCH

WENT = "the server took what was sent to"
DO_NOT = "(it is counted as sent: do not send it again)"


def _start(args: list[str], env: dict[str, str], stdin: bool = False) -> subprocess.Popen[str]:
    """``warmup ARGS`` as a process of its own with the sink's password, its output read as
    text (``stdin``: a pipe to write the message to)."""
    return subprocess.Popen(
        [*forkcli.command(), *args],
        env={**os.environ, **PASSWORD_ENV, **env},
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _held_send(sink, args: list[str], env: dict[str, str], fault, stdin: str | None = None):  # type: ignore[no-untyped-def]
    """``warmup ARGS`` as a process of its own, ``fault()`` done while the server holds its
    message's end of DATA, then the server's 250; its exit code, stdout and stderr."""
    sink.hold_data_reply = threading.Event()
    proc = _start(args, env, stdin is not None)
    try:
        if stdin is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
            proc.stdin = None
        assert sink.holding.wait(60)
        fault()
        sink.hold_data_reply.set()
        out, err = proc.communicate(timeout=120)
    finally:
        sink.hold_data_reply.set()
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


MESSAGE = f"From: {BOX}\nTo: lead@example.com\nSubject: s\n\nhello\n"


@pytest.mark.parametrize("how", ["send", "sendmail"])
def test_a_message_whose_record_meets_a_full_disk_says_it_went_and_is_never_sent_again(
    how,
    full_tmpfs,  # noqa: F811
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    """The disk fills while the server holds the message: exit 74, one line saying the server
    took it, do not send it again; the ledger whole, the slot counted; once space is freed the
    same message again is refused (65), the server still has it once."""
    db = full_tmpfs / "ledger.db"
    env = {"WARMUP_DB": str(db)}
    monkeypatch.setenv("WARMUP_DB", str(db))
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=20)))
    if how == "send":
        eml = tmp_path / "m.eml"
        eml.write_text(f"Message-ID: <lead-1@corp.example>\n{MESSAGE}")
        args, stdin = ["send", BOX, "--eml", str(eml)], None
    else:  # no Message-ID: derived from the message, so its retry is known
        args, stdin = ["sendmail", "-f", BOX, "lead@example.com"], MESSAGE
    code, out, err = _held_send(smtp_ssl, args, env, lambda: fill(full_tmpfs), stdin)
    line = _one_error_line(err)
    assert code == 74, err
    assert WENT in line and "1 recipient" in line and DO_NOT in line, line
    assert "database or disk is full" in line, line
    for filler in full_tmpfs.glob("filler*"):
        filler.unlink()
    assert integrity(db) == "ok"
    assert query(db, "SELECT recipient, outcome FROM send") == [("lead@example.com", "reserved")]
    again = warmup(*args, env=env, stdin=stdin)
    assert again.returncode == 65, again.stderr
    assert "may already have reached" in again.stderr, again.stderr
    assert len(smtp_ssl.messages) == 1
    assert query(db, "SELECT outcome FROM send") == [("unknown",)]  # still counted


@pytest.mark.parametrize("fault", ["away", "locked"])
def test_a_message_whose_team_ledger_fails_before_its_record_says_it_went(
    fault,
    pg_url,  # noqa: F811
    smtp_ssl,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    """The team server goes away (exit 69, "unavailable": "server unreachable" to a script), or
    a session holds the send table past the lock_timeout (75, "try later"), while the server
    holds the message: both read as "not sent". Now exit 74 and a line saying the server took
    it, not to be sent again; the slot stays counted and the same message is refused."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=20)))
    eml = tmp_path / "m.eml"
    eml.write_text(f"Message-ID: <lead-1@corp.example>\n{MESSAGE}")
    proxy = PgProxy()
    engine = sa.create_engine(pg_url)
    holder = engine.connect()
    url = proxy.url(pg_url)
    if fault == "locked":  # the URL's options end with the search path: one option more
        url = pg_url + quote(" -clock_timeout=1500", safe="")

    def hold() -> None:
        holder.exec_driver_sql("LOCK TABLE send IN ACCESS EXCLUSIVE MODE")

    try:
        code, _, err = _held_send(
            smtp_ssl,
            ["send", BOX, "--eml", str(eml)],
            {"WARMUP_DB": url},
            proxy.down if fault == "away" else hold,
        )
    finally:
        proxy.up()
        holder.rollback()
        holder.close()
    line = _one_error_line(err)
    assert code == 74, err
    why = "is unavailable" if fault == "away" else "canceling statement due to lock timeout"
    assert WENT in line and DO_NOT in line and why in line, line
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT recipient, outcome FROM send").all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("lead@example.com", "reserved")]
    again = warmup("send", BOX, "--eml", str(eml))
    assert again.returncode == 65, again.stderr
    assert len(smtp_ssl.messages) == 1


def test_a_worker_whose_record_meets_a_full_disk_names_the_message_that_left(
    full_tmpfs,  # noqa: F811
    pki,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    """``run --once`` whose disk fills while the server holds its first message: a line naming
    the message that left and that it stays counted, exit 74 with one error line; after the
    space is freed the next run sends the other message and never the first again."""
    db = full_tmpfs / "ledger.db"
    monkeypatch.setenv("WARMUP_DB", str(db))
    with members_sink(pki, 1) as sink:
        pool_of(sink.port, tmp_path, n=1, daily=10)
        queue_plain(2)
        run = ["run", "--once", "--no-sync", "--no-view"]
        code, out, err = _held_send(sink, run, {"WARMUP_DB": str(db)}, lambda: fill(full_tmpfs))
        line = _one_error_line(err)
        assert code == 74, err
        assert "database or disk is full" in line, line
        [first] = sink.messages
        mid = first.message["Message-ID"]
        assert f"#1 {mid} left a@corp.example, but the ledger could not record it" in out, out
        for filler in full_tmpfs.glob("filler*"):
            filler.unlink()
        assert integrity(db) == "ok"
        again = warmup(*run, env=PASSWORD_ENV)
        assert again.returncode == 0, again.stderr
        arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    assert dict(query(db, "SELECT id, state FROM outbox")) == {1: "unknown", 2: "sent"}
    assert cli("quota", BOX, "--json").returncode == 0


@pytest.mark.slow
def test_an_import_whose_disk_fills_between_batches_says_what_it_wrote(ledger_path, tmp_path):
    """The disk fills after some of an import's batches were committed: the error said only
    "disk I/O error ..., then try again", as if nothing was imported. Now the same line says
    how many rows were written and that the same import writes the rest; it does."""
    env = {"WARMUP_DB": str(ledger_path)}
    seeded(env)
    log = big_csv(tmp_path / "bulk.csv", 3 * IMPORT_BATCH)
    total = 1 + 3 * IMPORT_BATCH  # the seeded send, then the log's
    res, sends = part_way(["import", str(log)], ledger_path, "SELECT count(*) FROM send", 1, total)
    assert sends - 1 in (IMPORT_BATCH, 2 * IMPORT_BATCH)  # whole batches, never part of one
    line = _one_error_line(res.stderr)
    assert res.returncode == 74, res.stderr
    assert line.endswith(
        f"; import of {log}: the first {sends - 1} of its {3 * IMPORT_BATCH} rows are in the "
        "ledger; the same import again writes the rest (a row already in the ledger is not added twice)"
    ), line
    assert integrity(ledger_path) == "ok"
    again = cli("import", str(log), env=env)
    assert again.returncode == 0, again.stderr
    assert query(ledger_path, "SELECT count(*) FROM send")[0][0] == 1 + 3 * IMPORT_BATCH


def test_a_worker_whose_record_waits_past_the_lock_timeout_tries_again_and_records_it(
    pki,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
    pg_url,  # noqa: F811
):
    """A session holds the team ledger's send table past the worker's lock_timeout while the
    server holds its message: the worker gave up at the first timeout (75, "try later"), the
    message left 'sending' for the next worker to call unknown though its reply was known. A
    lock timeout is the moment, as a server restarting is: it says so, tries again, records it."""
    url = pg_url + quote(" -clock_timeout=1000", safe="")
    monkeypatch.setenv("WARMUP_DB", url)
    engine = sa.create_engine(pg_url)
    holder = engine.connect()
    with members_sink(pki, 1) as sink:
        pool_of(sink.port, tmp_path, n=1, daily=10)
        queue_plain(2)
        sink.hold_data_reply = threading.Event()
        proc = _start(["run", "--once", "--no-sync", "--no-view"], {})
        try:
            assert sink.holding.wait(60)
            holder.exec_driver_sql("LOCK TABLE send IN ACCESS EXCLUSIVE MODE")
            sink.hold_data_reply.set()
            said = lines_until_retry(proc)  # until the worker says it waits for the lock
            assert said and "#1 left a@corp.example; recording it: " in said[-1], said
            assert "lock timeout" in said[-1], said
            holder.rollback()
            out, err = proc.communicate(timeout=120)
        finally:
            sink.hold_data_reply.set()
            holder.rollback()
            holder.close()
            if proc.poll() is None:
                proc.kill()
        arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert sorted(arrived.values()) == [1, 1]
    with engine.connect() as conn:
        states = conn.exec_driver_sql("SELECT state FROM outbox").scalars().all()
        outcomes = conn.exec_driver_sql("SELECT outcome FROM send").scalars().all()
    engine.dispose()
    assert states == ["sent", "sent"] and outcomes == ["sent", "sent"]


def test_a_worker_whose_ledger_is_removed_says_so_and_makes_no_new_one(
    pki,
    ssl_cert_env,
    tmp_path,
    monkeypatch,
):
    """The ledger's files removed while ``run --once`` waits for the server's reply to its
    first message: the worker's next connection made a new 0-byte ledger.db (sqlite3 creates a
    missing file), then exited 78 "lacks part of warmup's schema". Now it opens the ledger only
    if it is there: one line saying it vanished while running and which message's record went
    with it; no file made in its place."""
    db = tmp_path / "led?ger%41.db"  # a literal path: '?' and '%' are no URI syntax here
    monkeypatch.setenv("WARMUP_DB", str(db))

    def remove() -> None:
        for extra in ("", "-wal", "-shm"):
            os.unlink(f"{db}{extra}")

    with members_sink(pki, 1) as sink:
        pool_of(sink.port, tmp_path, n=1, daily=10)
        queue_plain(2)
        run = ["run", "--once", "--no-sync", "--no-view"]
        code, out, err = _held_send(sink, run, {"WARMUP_DB": str(db)}, remove)
        line = _one_error_line(err)
        [first] = sink.messages
    mid = first.message["Message-ID"]
    assert not db.exists() and not os.path.exists(f"{db}-wal"), os.listdir(tmp_path)
    assert code == 66, err
    assert line.startswith(f"Error: ledger {db} vanished while warmup was running"), line
    assert line.endswith(f"; among it the outcome of #1 {mid}: sent"), line
    assert f"sent #1 {mid} from a@corp.example" in out, out
