"""A pool member removed ('mailbox remove --force') while a worker runs, between the claim of a
message (which read the pool's tag before the removal committed) and the members' previews: the
preview asked the ledger for a mailbox that was gone, and MailboxNotFound, a usage error, ended
'warmup run' (exit 64, "mailbox ... not found") with the message left 'sending'. Found by two
workers on one team ledger whose pool lost a member mid-run (one of them died each time)."""

from __future__ import annotations

import datetime as dt

from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import BOXES, members_sink, pool_of, queue_plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def test_a_member_removed_between_claim_and_preview_is_passed_over(
    pki,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    with members_sink(pki, 3) as sink:
        pool_of(sink.port, tmp_path, n=3, daily=10)
        queue_plain(3)
        ledger = open_ledger(ledger_url)
        worker = Worker(ledger)
        try:
            assert worker.run_once().outcomes["sent"] == 3  # a gate kept for each member
            late = Outbox(ledger).add(b"To: late@example.com\nSubject: s\n\nhi\n", pool="P")
            pool_id = ledger.pool("P").id
            msg = ledger.claim(worker.id, dt.datetime.now(dt.UTC), pool_id)
            assert msg is not None and msg.id == late
            # Removed after the claim read the pool's tag, before the worker looks at the
            # members (the moment two workers found by chance; here, in order).
            res = cli("mailbox", "remove", BOXES[2], "--force")
            assert res.returncode == 0, res.stderr
            assert worker.delivery.deliver(msg) == "sent"
            worker.delivery.flush()
            (arrived,) = [m for m in sink.messages if m.rcpt_tos == ("late@example.com",)]
            assert str(arrived.message["From"]) in BOXES[:2]
            assert ledger.message(late).state == "sent"
        finally:
            worker.close()
            ledger.close()
