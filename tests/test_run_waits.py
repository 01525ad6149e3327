"""What `warmup run --once` and `warmup queue` tell a user about what a message waits for: the
time it can really go, the reason as it is now, a campaign not done while a person must decide,
and a held message made due by hand."""

from __future__ import annotations

import json

from tests.gatekit import cli
from tests.outboxkit import plain, pool_of
from warmup import Outbox
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def test_queue_status_says_a_campaign_with_unknown_messages_is_not_done(
    sink, ssl_cert_env, password, tmp_path
):
    """Its one message left 'unknown' (the connection broke under the data): 'queue status'
    said "done" though a person must still decide whether it went."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="dec")
        sink.drop_mid_data = True  # the server has it; the client never hears back
        with Worker(ledger, timeout=2) as worker:
            assert worker.run_once().outcomes == {"unknown": 1}
    finally:
        ledger.close()
    res = cli("queue", "status")
    assert res.returncode == 0, res.stderr
    row = next(line for line in res.stdout.splitlines() if line.startswith("dec"))
    assert "done" not in row and "1 unknown" in row, res.stdout
    assert (
        "Campaign dec waits for a person: 1 message is unknown (it may have reached its "
        "recipients); 'warmup queue list --state unknown --campaign dec' lists it, "
        f"'warmup queue retry {mid}' sends it again." in res.stdout
    ), res.stdout
    data = json.loads(cli("queue", "status", "--json").stdout)
    assert data["campaigns"][0]["finished"] is False


def test_a_message_backing_off_after_a_refused_login_is_made_due_by_queue_retry(
    sink, ssl_cert_env, password, tmp_path
):
    """The server refused the login (a wrong $WARMUP_PASSWORD): the message backed off 5 min.
    With the password fixed, 'queue retry' refused it ("is queued: only an unknown or expired
    message ...") and 'run --once' sent nothing until the back-off ran out."""
    pool_of(sink.port, tmp_path, n=1, daily=50)
    ledger = open_ledger()
    try:
        mid = Outbox(ledger).add(plain("r@example.com"), pool="P", campaign="dec")
        assert mid is not None
        first = ledger.message(mid)
    finally:
        ledger.close()
    res = cli("run", "--once", env={"WARMUP_PASSWORD": "wrong"})
    assert res.returncode == 77 and "refused the login" in res.stderr, res.stderr
    assert not sink.messages
    res = cli("queue", "retry", str(mid))
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"Message {mid} is due now: the next pass of 'warmup run' sends it.\n"
    res = cli("run", "--once")  # the right password, from the environment
    assert res.returncode == 0, res.stderr
    assert "Done: 1 sent." in res.stdout, res.stdout
    assert [str(m.message["Message-ID"]) for m in sink.messages] == [first.message_id]
    ledger = open_ledger()
    try:
        sent = ledger.message(mid)
    finally:
        ledger.close()
    assert sent.state == "sent" and sent.attempts == 2  # the refused try counted, and this one
