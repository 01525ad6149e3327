"""A worker killed (kill -9, the OOM killer) whose parent has not reaped it yet is a zombie: it
still answers signal 0, so the next worker in the same place took it for alive and left its
message 'sending' for the lease (15 minutes). Found with two 'warmup run' processes started by
a script that waits for them only at its end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading

import pytest

from tests import forkcli
from tests.gatekit import PASSWORD_ENV
from tests.outboxkit import members_sink, pool_of, queue_plain
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def test_a_killed_worker_not_yet_reaped_is_gone(pki, ssl_cert_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    with members_sink(pki, 1) as sink:
        pool_of(sink.port, tmp_path, n=1, daily=10)
        (first,) = queue_plain(1)
        sink.hold_data_reply = threading.Event()
        env = {k: v for k, v in os.environ.items() if k != forkcli.ENV}  # its own process
        proc = subprocess.Popen(
            [*forkcli.command(), "run", "--no-sync", "--no-view"],
            env={**env, **PASSWORD_ENV},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert sink.holding.wait(60)  # the message is in DATA: reserved, claimed
            proc.kill()  # and not reaped: a zombie until proc.wait() below
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, left unreaped
            ledger = open_ledger()
            try:
                with Worker(ledger) as worker:
                    worker.run_once()
                row = ledger.message(first)
                # it may have left: unknown, for a person (never sent twice)
                assert row.state == "unknown", row
            finally:
                ledger.close()
        finally:
            sink.hold_data_reply.set()
            proc.kill()
            proc.wait()


# Run in a PID namespace whose /proc is its parent's ('unshare -p' without --mount-proc, as
# some sandboxes start a service): the pid numbers /proc lists are not this namespace's.
_INNER = """
import subprocess
from warmup.ledger.holders import alive as _alive, me
assert me().start is None  # a reservation made here names no start: never judged by its pid
gone = subprocess.Popen(["sleep", "60"])
gone.kill()
gone.wait()  # its number in the parent namespace is free: /proc has no entry under it
live = [subprocess.Popen(["sleep", "60"]) for _ in range(3)]
try:
    print(" ".join(str(_alive(p.pid)) for p in live))
finally:
    for p in live:
        p.kill()
        p.wait()
"""

_OUTER = """
import subprocess, sys
got = subprocess.run(["unshare", "-pf", sys.executable, "-c", sys.argv[1]], capture_output=True,
                     text=True, timeout=60)
print(got.stdout, got.stderr, end="")
"""


def test_a_live_worker_is_alive_under_a_proc_of_another_pid_namespace(tmp_path):
    """A worker whose /proc is another PID namespace's read another process's entry (or none)
    under its peer's pid: a live peer was taken for gone, its claim recovered mid-send."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1)")
    # the outer namespace its own /proc, so that the inner one's pids are predictable there
    cmd = ["unshare", "-Urpf", "--mount-proc", sys.executable, "-c", _OUTER, _INNER]
    probe = subprocess.run([*cmd[:3], "true"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("no user and PID namespaces here")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    got = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert got.stdout.split() == ["True", "True", "True"], (got.stdout, got.stderr)
