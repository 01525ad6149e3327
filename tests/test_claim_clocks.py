"""A worker's claim on an outbox message is stamped and judged on the shared ledger server's
clock, not on each host's: a host whose clock ran 20 minutes ahead took a live worker's message
mid-DATA for a dead one's ("unknown", for a person), and the live worker's result was lost.

Real processes on a real PostgreSQL ledger: the other host is a PID namespace of its own
(``unshare``: the claimant's pid says nothing there, as on another machine) whose clock is moved
by the clock shim of scripts/clock-sweep (``tests/clockshim``: the shift is an input, nothing
waits); the message is held in DATA by the test's SMTP server."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.gatekit import BOX, PASSWORD_ENV, cli
from tests.outboxkit import members_sink, pool_of, queue_plain
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from warmup.ledger import open_ledger

pytest_plugins = ["tests.pgkit"]  # ledger_url: the doctor's test runs on both backends

ROOT = Path(__file__).resolve().parent.parent
AHEAD = 20 * 60.0  # seconds: the other host's clock, 20 minutes ahead (past the 15 min lease)
NAMESPACE = ["unshare", "-Urpf", "--mount-proc"]  # another PID namespace: another PLACE


@pytest.fixture
def sink(pki):  # type: ignore[no-untyped-def]
    with members_sink(pki, 1) as s:
        yield s


def _elsewhere() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    if subprocess.run([*NAMESPACE, "true"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("no user and PID namespaces here")


def _env(shift: float) -> dict[str, str]:
    """This test's environment for a warmup process whose clock reads ``shift`` seconds away
    from the real time, PostgreSQL's (a scripts/clock-sweep run moves this test's own clock,
    never the server's)."""
    path = os.pathsep.join(
        [str(ROOT / "tests" / "clockshim"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    )
    return {
        **os.environ,
        **PASSWORD_ENV,
        "PYTHONPATH": path,
        "WARMUP_TEST_CLOCK_SHIFT": str(shift),
    }


def on_another_host(shift: float, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m warmup ARGS`` in a PID namespace of its own, its clock ``shift`` seconds
    away from the real time."""
    return subprocess.run(
        [*NAMESPACE, sys.executable, "-m", "warmup", *args],
        capture_output=True,
        text=True,
        env=_env(shift),
        stdin=subprocess.DEVNULL,
        timeout=180,
        check=False,
    )


def states() -> dict[int, str]:
    return {m["id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)}


def test_a_host_whose_clock_runs_ahead_leaves_a_live_workers_claim_alone(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """Worker A holds its message in DATA; worker B, on a host whose clock is 20 minutes
    ahead, runs ``run --once``. B judged A's claim by its own clock, older than the lease, and
    made the message ``unknown`` ("its worker ... is gone") while A lived; A's 250 then found no
    claim to settle. Now B judges it on the ledger server's clock, leaves it, and says once that
    its clock is off; A settles it ``sent``."""
    _elsewhere()
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    [mid] = queue_plain(1)
    sink.hold_data_reply = threading.Event()
    a = subprocess.Popen(
        [sys.executable, "-m", "warmup", "run", "--once", "--no-sync", "--no-view"],
        env=_env(0),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.holding.wait(60)
        b = on_another_host(AHEAD, "run", "--once", "--no-sync", "--no-view")
        assert states() == {mid: "sending"}  # still A's
        sink.hold_data_reply.set()
        out, err = a.communicate(timeout=120)
    finally:
        sink.hold_data_reply.set()
        if a.poll() is None:
            a.kill()
            a.wait()
    assert b.returncode == 0, b.stderr
    said = b.stdout + b.stderr
    assert "is gone" not in said, said
    skew = [line for line in said.splitlines() if "clock" in line]
    assert len(skew) == 1, said
    assert skew[0].endswith(
        " this host's clock is 20 min ahead of the ledger server's: fix this host's time sync"
    ), skew
    assert a.returncode == 0, err
    assert "lost" not in out + err and "clock" not in out + err, out + err
    assert states() == {mid: "sent"}
    assert len(sink.messages) == 1


def test_a_claim_older_than_the_lease_on_the_servers_clock_is_recovered_by_a_host_behind(
    sink,
    ssl_cert_env,
    pg_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    """A claim of a worker on another host, stamped 16 minutes ago by the server's clock (its
    worker gone, never to settle it), is recovered by a worker whose host's clock runs 20
    minutes behind: by its own clock the claim was made in its future, and it was left
    ``sending`` for 20 minutes more. Nothing reached SMTP: queued again, then sent."""
    _elsewhere()
    monkeypatch.setenv("WARMUP_DB", pg_url)
    pool_of(sink.port, tmp_path, n=1, daily=10)
    [mid] = queue_plain(1)
    far = "elsewhere.example:1234:abcdef012345:0123456789abcdef"
    ledger = open_ledger(pg_url)
    try:
        assert ledger.claim(far, dt.datetime.now(dt.UTC)) is not None
        with ledger.write() as conn:
            conn.execute(
                sa.text(
                    "UPDATE outbox SET claimed_at = clock_timestamp() - interval '16 minutes' "
                    "WHERE id = :id"
                ),
                {"id": mid},
            )
    finally:
        ledger.close()
    b = on_another_host(-AHEAD, "run", "--once", "--no-sync", "--no-view")
    assert b.returncode == 0, b.stderr
    said = b.stdout + b.stderr
    assert f"queued #{mid}: its worker {far} is gone" in said, said
    assert "this host's clock is 20 min behind the ledger server's" in said, said
    assert states() == {mid: "sent"}
    assert len(sink.messages) == 1


def test_doctor_reports_this_hosts_clock_against_a_shared_ledger_servers(ledger_url):
    """``warmup doctor`` on a PostgreSQL ledger says how far this host's clock is from the
    server's: a warning past 5 minutes, with the fix; on time, ok. A SQLite file has one
    host's clock: no such check."""
    add = cli("mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "smtp.corp.invalid")
    assert add.returncode == 0, add.stderr

    def clock_checks(shift: float) -> list[dict]:
        res = subprocess.run(
            [sys.executable, "-m", "warmup", "doctor", BOX, "--no-domain", "--json"]
            + ["--timeout", "1"],
            capture_output=True,
            text=True,
            env=_env(shift),
            stdin=subprocess.DEVNULL,
            timeout=180,
            check=False,
        )
        return [c for c in json.loads(res.stdout)["checks"] if c["name"] == "clock"]

    ahead, on_time = clock_checks(AHEAD), clock_checks(0)
    if ledger_url.startswith("sqlite"):
        assert ahead == on_time == []
        return
    [check] = ahead
    assert (check["status"], check["code"]) == ("warn", 0), check
    assert check["detail"] == "this host's clock is 20 min ahead of the ledger server's", check
    assert check["fix"].startswith("fix this host's time sync"), check
    [check] = on_time
    assert check["status"] == "ok", check
    assert check["detail"] == "this host's clock agrees with the ledger server's (to the second)"
