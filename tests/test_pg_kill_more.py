"""More of ``tests/test_pg_kill_points.py``: the commands it left out, cut at their named points
the same ways (a session terminated on the real server while the command, a real process, is
paused there; a proxy that passes a COMMIT and drops its answer), each then checked for the
exit code, one line and a ledger either unchanged or fully changed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.test_pg_kill_points import PAUSED, MutedProxy, cut_at, one_line, scalars

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url


def cut_in_commit(
    name: str,
    n: int,
    *args: str,
    url: str,
    tmp: Path,
    landed: Callable[[], bool],
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` on ``url`` through a :class:`MutedProxy`, paused when it enters ``name``
    for the ``n``-th time (just before a COMMIT): then its connections muted, let go, and cut
    once ``landed()`` (read on the server itself) says the COMMIT was taken. Its result. An
    argument ``{db}`` is the ledger's URL through the proxy."""
    proxy = MutedProxy()
    args = tuple(a.replace("{db}", proxy.url(url)) for a in args)
    where = tmp / f"muted-{name.replace(':', '-').replace('>', '-')}"
    where.mkdir()
    os.mkfifo(where / "go")
    full = {**os.environ, **PASSWORD_ENV, **(env or {}), "WARMUP_DB": proxy.url(url)}
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(where), name, str(n), *args],
        env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (where / "reached").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)  # a poll's pace, not a wait for time to pass
        proxy.mute()
        with open(where / "go", "w") as go:
            go.write("go")
        while not landed():  # the server committed; its answer is dropped
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proxy.cut()
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


RECORD = ["record", "send", BOX, "--to", "r@example.com"]
SENDS = "SELECT recipient FROM send"


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
def test_record_send_cut_in_its_commit_records_it_once(
    how, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """``warmup record send`` without --message-id (keyed on the instant it ran) cut in its
    COMMIT's round trip: before, exit 75 "try again", and the command run again recorded the
    send a second time (another instant) when the server had committed the first. Now it
    reads on a new connection whether the send landed, and writes it again only if not:
    exit 0, one send."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port)
    point = "record>base.py:_commit_impl"
    if how == "terminated":
        res = cut_at(point, 1, *RECORD, url=pg_url, tmp=tmp_path)
    else:
        res = cut_in_commit(
            point, 1, *RECORD, url=pg_url, tmp=tmp_path, landed=lambda: bool(scalars(pg_url, SENDS))
        )
    one_line(res)
    if res.returncode:  # what the user was told: try again
        assert cli(*RECORD).returncode == 0
    assert scalars(pg_url, SENDS) == ["r@example.com"]
    assert (res.returncode, res.stdout) == (0, f"Recorded 1 send for {BOX}.\n"), res.stderr


RUN = ["run", "--once", "--no-sync", "--no-view"]
STATES = "SELECT state FROM outbox ORDER BY id"


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
def test_run_once_cut_in_the_claim_carrying_an_outcome_sends_both_and_leaves_none_sending(
    how, sink, ssl_cert_env, pg_url, tmp_path, monkeypatch
):
    """``warmup run --once`` cut in its second claim, the one carrying the first message's
    outcome: before, exit 75, and (the COMMIT taken, its answer lost) the second message
    ``sending`` for a worker that had exited, until a later run called it a dead worker's
    (cut before the COMMIT: the first message written by the flush, the second left for
    the next run). Now the claim is made again on a new connection, or (cut in its COMMIT)
    read back: both messages sent once and ``sent`` by this run, exit 0."""
    from tests.outboxkit import pool_of, queue_plain

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    queue_plain(2)
    if how == "terminated":
        res = cut_at("claim>_settle_statement", 1, *RUN, url=pg_url, tmp=tmp_path)
    else:
        res = cut_in_commit(
            "claim>base.py:_commit_impl", 2, *RUN, url=pg_url, tmp=tmp_path,
            landed=lambda: scalars(pg_url, STATES) == ["sent", "sending"],
        )  # fmt: skip
    one_line(res)
    assert scalars(pg_url, STATES) == ["sent", "sent"]
    arrived = Counter(str(m.message["Message-ID"]) for m in sink.messages)
    assert sorted(arrived.values()) == [1, 1]
    assert Counter(scalars(pg_url, "SELECT outcome FROM send")) == {"sent": 2}
    assert res.returncode == 0, res.stderr


# Commands that change a mailbox, a pool or the queue in one transaction: (the set-up before,
# given the test's tmp path; the command; the ledger function whose COMMIT is cut; a read that
# is true once the command's transaction committed; what the ledger reads after it, once).
EDITS: dict[str, tuple[Callable[[Path], None], list[str], str, str, list[object]]] = {
    "mailbox pause": (
        lambda tmp: None,
        ["mailbox", "pause", BOX, "--reason", "review"],
        "add_event",
        "SELECT kind FROM event",
        ["pause"],
    ),
    "mailbox resume": (
        lambda tmp: _ok("mailbox", "pause", BOX, "--reason", "review"),
        ["mailbox", "resume", BOX],
        "add_event",
        "SELECT kind FROM event ORDER BY id",
        ["pause", "resume"],
    ),
    "pool add": (
        lambda tmp: None,
        ["pool", "add", "P", BOX],
        "add_pool",
        "SELECT p.name FROM pool p JOIN pool_member m ON m.pool_id = p.id",
        ["P"],
    ),
    "pool remove": (
        lambda tmp: _ok("pool", "add", "P", BOX),
        ["pool", "remove", "P"],
        "remove_pool",
        "SELECT count(*) = 0 FROM pool",
        [True],
    ),
    "pool remove member": (
        lambda tmp: _ok("pool", "add", "P", BOX),
        ["pool", "remove", "P", BOX],
        "remove_members",
        "SELECT count(*) = 0 FROM pool_member",
        [True],
    ),
    "pool overflow": (
        lambda tmp: _ok("pool", "add", "P", BOX),
        ["pool", "overflow", "P", "--host", "127.0.0.1", "--port", "2525", "--security", "none"],
        "set_overflow",
        "SELECT overflow_host FROM pool",
        ["127.0.0.1"],
    ),
    "queue cancel": (
        lambda tmp: _queued(),
        ["queue", "cancel", "1"],
        "cancel_messages",
        "SELECT state FROM outbox",
        ["cancelled"],
    ),
    "queue retry": (
        lambda tmp: (_queued(), _ok("queue", "cancel", "1")),
        ["queue", "retry", "1"],
        "requeue",
        "SELECT state FROM outbox",
        ["queued"],
    ),
    "queue mark": (
        lambda tmp: _unknown(),
        ["queue", "mark", "1", "unsent"],
        "decide_unknown",
        "SELECT state FROM outbox",
        ["cancelled"],
    ),
}


def _unknown() -> None:
    """Message 1 of unknown fate (as a worker killed mid-send leaves one)."""
    import sqlalchemy as sa

    from warmup.ledger import open_ledger

    _queued()
    ledger = open_ledger(migrate=False)
    try:
        with ledger.write() as conn:
            conn.execute(sa.text("UPDATE outbox SET state = 'unknown'"))
    finally:
        ledger.close()


def _ok(*args: str) -> None:
    res = cli(*args)
    assert res.returncode == 0, res.stderr


def _queued() -> None:
    from tests.outboxkit import queue_plain

    _ok("pool", "add", "P", BOX)
    assert queue_plain(1) == [1]


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
@pytest.mark.parametrize("command", sorted(EDITS))
def test_an_edit_cut_in_its_commit_is_made_once_and_says_so(
    command, how, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """Cut in its COMMIT's round trip, an edit was exit 75 "try again" whether or not the
    server had committed it; run again, one that had landed was refused (``queue cancel``:
    "message 1 is cancelled", 65; ``pool remove``: no such pool, 64) or made twice (``mailbox
    pause``: two pauses). Now the command asks the server whether its transaction committed
    (on a new connection), and makes it again only if not: exit 0, the ledger changed once."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port)
    setup, args, function, done, after = EDITS[command]
    setup(tmp_path)
    made_once(how, f"{function}>base.py:_commit_impl", 1, args, pg_url, tmp_path, done, after)


def made_once(
    how: str, point: str, n: int, args: Sequence[str], url: str, tmp: Path, done: str, after: Any
) -> None:
    """``args`` run, cut at the ``n``-th ``point`` (``how``: its session terminated, or the
    answer to its COMMIT lost): exit 0, no line on stderr, and ``done`` (a query) reads
    ``after`` — and had it said "try again", the retry it asks for leaves the ledger so too."""
    if how == "terminated":
        res = cut_at(point, n, *args, url=url, tmp=tmp)
    else:
        res = cut_in_commit(
            point, n, *args, url=url, tmp=tmp, landed=lambda: scalars(url, done) == after
        )
    one_line(res)
    if res.returncode:  # what the user was told: try again
        again = cli(*args)
        assert again.returncode == 0, again.stderr
    assert scalars(url, done) == after
    assert (res.returncode, res.stderr) == (0, ""), res.stderr


COPIED = "SELECT count(*) FROM send"
# Where ``db copy`` is cut: a batch's insert (the third); the COMMIT of the copy (the second
# in copy_ledger: the first ends its look at the source's tables).
COPY_POINTS = {
    "terminated mid-copy": ("copy_ledger>bulk_insert", 3),
    "terminated in its commit": ("copy_ledger>base.py:_commit_impl", 2),
    "answer lost": ("copy_ledger>base.py:_commit_impl", 2),
}


@pytest.mark.parametrize("how", sorted(COPY_POINTS))
def test_db_copy_cut_copies_once_and_verifies(how, smtp_ssl, pg_url, tmp_path, monkeypatch):
    """``db copy`` of a solo SQLite ledger to the team server, cut. Before: 75 "try again"
    whether or not the server had committed the copy; run again, one that had landed was
    refused ("not empty; add --force", 78). Now it is copied again on a new connection when
    cut before its COMMIT, and cut in it, the server is asked whether it committed: exit 0,
    the copy verified (its table of counts and checksums printed), every row there once."""
    solo = tmp_path / "solo.db"
    monkeypatch.setenv("WARMUP_DB", str(solo))
    add_box(smtp_ssl.port)
    for i in range(5):
        _ok("record", "send", BOX, "--to", f"r{i}@example.com")
    args = ["--db", str(solo), "db", "copy", "--to", "{db}", "--batch", "2", "--quiet"]
    point, n = COPY_POINTS[how]
    if how.startswith("terminated"):
        res = cut_at(point, n, *args, url=pg_url, tmp=tmp_path)
    else:
        res = cut_in_commit(
            point, n, *args, url=pg_url, tmp=tmp_path,
            landed=lambda: scalars(pg_url, COPIED) == [5],
        )  # fmt: skip
    one_line(res)
    if res.returncode:  # what the user was told: try again
        again = cli(*[a.replace("{db}", pg_url) for a in args])
        assert again.returncode == 0, again.stderr
    assert scalars(pg_url, COPIED) == [5]
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert "send" in res.stdout, res.stdout


@pytest.mark.parametrize("how", ["terminated", "answer lost"])
def test_queue_add_of_a_message_without_message_id_cut_in_its_commit_queues_it_once(
    how, smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """An .eml without a Message-ID is given one as it is queued (as a script's message
    through the queueing relay): cut in the COMMIT's round trip, ``queue add`` exited 75, and
    run again when the server had committed it, queued the message a second time under
    another Message-ID, for the worker to send twice. Now: exit 0, queued once."""
    monkeypatch.setenv("WARMUP_DB", pg_url)
    add_box(smtp_ssl.port)
    _ok("pool", "add", "P", BOX)
    eml = tmp_path / "offer.eml"
    eml.write_text("To: lead@example.com\nSubject: offer\n\nhello\n")
    args = ["queue", "add", "--pool", "P", "--eml", str(eml)]
    point, queued = "enqueue>base.py:_commit_impl", "SELECT recipients FROM outbox"
    if how == "terminated":
        res = cut_at(point, 1, *args, url=pg_url, tmp=tmp_path)
    else:
        res = cut_in_commit(
            point, 1, *args, url=pg_url, tmp=tmp_path, landed=lambda: bool(scalars(pg_url, queued))
        )
    one_line(res)
    if res.returncode:  # what the user was told: try again
        _ok(*args)
    assert scalars(pg_url, queued) == ["lead@example.com"]
    assert (res.returncode, res.stderr) == (0, ""), res.stderr


def test_queue_add_of_a_csv_cut_mid_transaction_is_queued_again_on_a_new_connection(
    smtp_ssl, pg_url, tmp_path, monkeypatch
):
    """Cut as it inserts the rows (test_pg_kill_points expected 75 and a second run): the
    transaction rolled back, the spooled messages are queued again on a new connection,
    exit 0, every row once."""
    from tests.outboxkit import leads, pool_of, template

    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(smtp_ssl.port, tmp_path)
    args = ["queue", "add", "--pool", "P", "--campaign", "dec"]
    args += ["--csv", str(leads(tmp_path / "leads.csv", 20))]
    args += ["--template", str(template(tmp_path / "t.toml"))]
    res = cut_at("postgres.py:insert_rows", 1, *args, url=pg_url, tmp=tmp_path)
    one_line(res, (0,))
    assert scalars(pg_url, "SELECT count(DISTINCT recipients) FROM outbox") == [20]
    assert scalars(pg_url, "SELECT count(*) FROM outbox") == [20]
