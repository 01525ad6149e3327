"""A team ledger's server that drops its connections (a restart, a fail-over, an idle timeout
of a pooler, an administrator's pg_terminate_backend) while a long-lived warmup idles: the next
use reconnects instead of failing. A ``warmup run`` worker otherwise exited 69 on its next pass,
though the server was back."""

from __future__ import annotations

import datetime as dt

from tests.gatekit import policy_file
from tests.pgkit import drop_sessions, session_name
from warmup import api
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url

BOX = "a@corp.example"
NOW = dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC)


def test_a_worker_whose_connections_the_server_dropped_reconnects(pg_url, tmp_path):
    app = session_name("reconnect-worker")
    url = f"{pg_url}&application_name={app}"
    ledger = open_ledger(url)
    try:
        api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "f.toml")))
        clock = [NOW]
        worker = Worker(ledger, clock=lambda: clock[0], sleep=lambda s: None)
        assert worker.run_once().next_due is None
        assert drop_sessions(app) >= 1
        clock[0] += dt.timedelta(minutes=1)  # the worker's poll: its pooled connection is idle
        assert worker.run_once().next_due is None
        assert [b.address for b in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()
