"""A worker killed (kill -9, the OOM killer) whose parent has not reaped it yet is a zombie: it
still answers signal 0, so the next worker in the same place took it for alive and left its
message 'sending' for the lease (15 minutes). Found with two 'warmup run' processes started by
a script that waits for them only at its end."""

from __future__ import annotations

import os
import subprocess
import threading

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
