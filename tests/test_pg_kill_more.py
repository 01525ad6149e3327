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
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli
from tests.test_pg_kill_points import PAUSED, MutedProxy, cut_at, one_line, scalars

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url


def cut_in_commit(
    name: str, n: int, *args: str, url: str, tmp: Path, landed: Callable[[], bool]
) -> subprocess.CompletedProcess[str]:
    """``warmup ARGS`` on ``url`` through a :class:`MutedProxy`, paused when it enters ``name``
    for the ``n``-th time (just before a COMMIT): then its connections muted, let go, and cut
    once ``landed()`` (read on the server itself) says the COMMIT was taken. Its result."""
    proxy = MutedProxy()
    where = tmp / f"muted-{name.replace(':', '-').replace('>', '-')}"
    where.mkdir()
    os.mkfifo(where / "go")
    env = {**os.environ, **PASSWORD_ENV, "WARMUP_DB": proxy.url(url)}
    proc = subprocess.Popen(
        [sys.executable, "-c", PAUSED, str(where), name, str(n), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
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
