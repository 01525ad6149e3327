"""A recipient is mailed once per campaign: ``queue add --csv`` skips a row whose recipient an
earlier row of the file names, and a recipient the campaign has queued or sent already."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tests.gatekit import cli
from tests.outboxkit import leads, pool_of, queue_csv, template

pytest_plugins = ["tests.pgkit"]  # fixture: ledger_url (each backend)


def queued_to(campaign: str | None = None) -> list[str]:
    args = ["queue", "list", "--json"] + (["--campaign", campaign] if campaign else [])
    return [m["recipients"][0] for m in json.loads(cli(*args).stdout)]


def test_a_recipient_named_twice_in_the_csv_is_queued_once_from_its_first_row(sink, tmp_path):
    """Two rows for one lead (its address compared lower-cased, as the outbox stores it) would
    mail it twice in one campaign, which hurts the sender's reputation: the first row is queued,
    a later one is skipped and named with its line on stderr, as suppressed recipients are."""
    pool_of(sink.port, tmp_path)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "email,name,company\n"
        "lead@example.com,First,A\n"
        "other@example.com,Other,B\n"
        " Lead@Example.COM ,Second,C\n",
        encoding="utf-8",
    )
    res = queue_csv(csv, template(tmp_path / "t.toml"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 2 messages to pool P.\n"
    assert res.stderr == (
        f"Skipped 1 duplicate recipient: lead@example.com ({csv}: line 4); "
        f"each recipient is queued once, from its first row.\n"
    )
    assert queued_to() == ["lead@example.com", "other@example.com"]
    first = json.loads(cli("queue", "list", "--json").stdout)[0]["id"]
    shown = json.loads(cli("queue", "show", str(first), "--json").stdout)
    assert shown["headers"]["Subject"] == "Hello First"


def test_queueing_a_csv_again_in_its_campaign_queues_only_who_it_has_not_mailed(
    sink, tmp_path, ledger_url
):
    """Re-running 'queue add' after an interruption, or by mistake, queued the whole file again
    and mailed every lead twice. A recipient the campaign (the same campaign name to the same
    pool or mailbox) has queued, sent, bounced or left unknown is skipped and counted, so the
    re-run completes the campaign; one whose message was cancelled or expired never left and is
    queued again; another campaign name is another campaign and queues everyone. The lookup is
    one query per batch of rows on the outbox's campaign index."""
    pool_of(sink.port, tmp_path)
    tpl = template(tmp_path / "t.toml")
    first = queue_csv(leads(tmp_path / "a.csv", 2), tpl, "--campaign", "dec")
    assert first.returncode == 0, first.stderr
    cancelled = json.loads(cli("queue", "list", "--json").stdout)[1]
    assert cli("queue", "cancel", str(cancelled["id"])).returncode == 0

    res = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "dec")  # lead0..lead3
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 3 messages to pool P (campaign dec).\n"
    assert res.stderr == (
        "Skipped 1 recipient already in campaign dec: lead0@example.com; "
        "a recipient is mailed once per campaign (another --campaign name queues it again).\n"
    )
    assert sorted(queued_to("dec")) == [
        "lead0@example.com",
        "lead1@example.com",  # cancelled
        "lead1@example.com",
        "lead2@example.com",
        "lead3@example.com",
    ]

    again = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "dec")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Queued 0 messages to pool P (campaign dec).\n"
    assert again.stderr.startswith("Skipped 4 recipients already in campaign dec: ")

    other = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "jan")
    assert other.stdout == "Queued 4 messages to pool P (campaign jan).\n"
    assert other.stderr == ""


def held_runs(
    cmds: list[list[str]],
    env: dict[str, str],
    url: str,
    app: str,
    waiting: Callable[[list[int], str, str], bool] | None = None,
) -> list[subprocess.Popen[str]]:
    """Start ``cmds`` as processes on the ledger at ``url`` (their PostgreSQL sessions named
    ``app``) while the test holds the outbox's writes back (:func:`_write_lock`), released once
    every one of them waits for it (``waiting``, default :func:`_waiting_for_the_lock`): the
    race between them is run every time, not by chance."""
    waiting = waiting or _waiting_for_the_lock
    with _write_lock(url):
        procs = [
            subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in cmds
        ]
        try:
            deadline = time.monotonic() + 60
            while not waiting([p.pid for p in procs], url, app):
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, "the runs never waited for the lock"
                time.sleep(0.05)  # polling for the processes' state, not letting time pass
        except BaseException:
            for p in procs:
                p.kill()
            raise
    return procs


# clock_nanosleep, nanosleep (x86_64, aarch64): SQLite's busy handler sleeping between its tries
_SLEEPS = {"x86_64": {"230", "35"}, "aarch64": {"115", "101"}}


def _waiting_for_the_lock(pids: list[int], url: str, app: str) -> bool:
    """Whether every one of ``pids`` (``warmup queue add``) waits for a lock the test holds:
    SQLite's busy handler sleeping (the process's current system call), or PostgreSQL's
    sessions named ``app`` waiting on a lock."""
    if url.startswith("sqlite"):
        sleeps = _SLEEPS.get(os.uname().machine)
        if sleeps is None:
            pytest.fail(f"no sleeping system call known for {os.uname().machine}")
        calls = []
        for pid in pids:
            with open(f"/proc/{pid}/syscall", encoding="ascii") as f:
                calls.append(f.read().split(" ", 1)[0])
        return all(c in sleeps for c in calls)
    with psycopg.connect(_plain(url), autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = %s AND wait_event_type = 'Lock'",
            (app,),
        ).fetchone()
    return waiting is not None and waiting[0] == len(pids)


def _plain(url: str) -> str:
    return (
        sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


@contextlib.contextmanager
def _write_lock(url: str) -> Iterator[None]:
    """Hold the outbox's writes back (SQLite: the file's write lock; PostgreSQL: the outbox
    table locked against writes, reads still allowed) until the block ends."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sa.engine.make_url(url).database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    with psycopg.connect(_plain(url)) as pg:
        pg.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")
        yield
        pg.rollback()


@pytest.mark.slow
def test_two_runs_queueing_one_campaign_at_once_queue_each_recipient_once(
    sink, tmp_path, ledger_url
):
    """Two 'warmup queue add' of one campaign started together (two terminals, a retried cron
    job) both found no recipient in the campaign, then both wrote the whole file: every lead
    was mailed twice. The campaign's check is made in the writing transaction, under a lock
    the second run waits for, so it sees what the first queued. Real processes; both are held
    at their write (by a lock the test takes) until each has read the ledger, so the race is
    run every time, not by chance."""
    pool_of(sink.port, tmp_path)
    tpl = template(tmp_path / "t.toml")
    csv = leads(tmp_path / "a.csv", 20)
    app = f"queue-race-{uuid.uuid4().hex[:8]}"
    url = f"{ledger_url}&application_name={app}" if "?" in ledger_url else ledger_url
    cmd = [sys.executable, "-m", "warmup", "queue", "add", "--pool", "P", "--campaign", "dec"]
    cmd += ["--csv", str(csv), "--template", str(tpl)]
    procs = held_runs([cmd, cmd], {**os.environ, "WARMUP_DB": url}, ledger_url, app)
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted(out for out, _ in outs)
    assert said == [
        "Queued 0 messages to pool P (campaign dec).\n",
        "Queued 20 messages to pool P (campaign dec).\n",
    ], outs
    skipped = [err for _, err in outs if err]
    assert len(skipped) == 1 and skipped[0].startswith(
        "Skipped 20 recipients already in campaign dec: lead0@example.com, "
    ), outs
    assert sorted(queued_to("dec")) == sorted(f"lead{i}@example.com" for i in range(20))
