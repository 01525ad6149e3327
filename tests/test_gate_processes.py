"""Concurrency and crash safety of the gate, with real processes against the loopback sink."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests import forkcli
from tests.gatekit import BOX, PASSWORD_ENV, add_box, policy_file

WORKER = r"""
import sys
from warmup.cli import cli
codes = []
for i in range(int(sys.argv[2])):
    try:
        cli(["send", sys.argv[1], "--to", f"w{sys.argv[3]}-{i}@example.com", "--subject", "s",
             "--body", "b"], prog_name="warmup")
    except SystemExit as exc:
        codes.append(int(exc.code or 0))
print(" ".join(map(str, codes)))
"""


def counted(db) -> int:  # type: ignore[no-untyped-def]
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*) FROM send WHERE outcome != 'released'").fetchone()[0]
    finally:
        con.close()


def outcomes(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """recipient -> outcome of its slot (each test mails a recipient once)."""
    con = sqlite3.connect(db)
    try:
        return dict(con.execute("SELECT recipient, outcome FROM send").fetchall())
    finally:
        con.close()


def received(sink) -> set[str]:  # type: ignore[no-untyped-def]
    return {r for m in sink.messages for r in m.rcpt_tos}


@pytest.mark.slow
def test_eight_processes_never_exceed_the_quota(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=50)))
    env = {**os.environ, **PASSWORD_ENV}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, BOX, "10", str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = [int(c) for out, _ in outs for c in out.strip().splitlines()[-1].split()]
    errors = "".join(err for _, err in outs)
    assert len(codes) == 80
    assert codes.count(0) == 50 and codes.count(75) == 30, (codes, errors)
    assert "database is locked" not in errors and "Traceback" not in errors
    assert len(smtp_ssl.messages) == 50
    assert counted(ledger_path) == 50
    # Every process exited and flushed its deferred settlements: every message the sink holds
    # is in the ledger as sent, and nothing is left reserved.
    slots = outcomes(ledger_path)
    assert {r for r, o in slots.items() if o == "sent"} == received(smtp_ssl)
    assert "reserved" not in slots.values(), slots


@pytest.mark.slow
def test_kill_9_mid_conversation_never_undercounts(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=500)))
    smtp_ssl.delay_data_reply = 1.0  # the server has the data; the client waits for the reply
    env = {**os.environ, **PASSWORD_ENV}
    rng = random.Random(3)
    for run in range(8):
        proc = subprocess.Popen(
            [
                *forkcli.command(),
                "send",
                BOX,
                "--to",
                f"k{run}@example.com",
                "--subject",
                "s",
                "--body",
                "b",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.6))  # a random point in start-up or the conversation
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(smtp_ssl.delay_data_reply + 0.5)  # let the sink finish what it received
    got = received(smtp_ssl)
    assert counted(ledger_path) >= len(smtp_ssl.messages)
    con = sqlite3.connect(ledger_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        con.close()
    # Every message the sink received is counted in the ledger (a killed process may have left
    # its slot reserved, or settled it sent; never released, never missing).
    slots = outcomes(ledger_path)
    assert got <= {r for r, o in slots.items() if o in ("reserved", "sent", "unknown")}, (
        got,
        slots,
    )
    # Killed reservations stay counted until they expire, then become "unknown" (still
    # counted): the next gate's reservation, past the expiry, relabels them; nothing is pending.
    from warmup import Gate
    from warmup.gate import DEFAULT_EXPIRY

    later = dt.datetime.now(dt.UTC) + DEFAULT_EXPIRY + dt.timedelta(minutes=1)
    with Gate(BOX) as gate:
        gate.reserve(["after@example.com"], now=later).settle("released")
    after = outcomes(ledger_path)
    assert "reserved" not in after.values(), after
    assert {r: o for r, o in after.items() if r != "after@example.com"} == {
        r: "unknown" if o == "reserved" else o for r, o in slots.items()
    }
    assert got <= {r for r, o in after.items() if o in ("sent", "unknown")}
