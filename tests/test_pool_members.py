"""Taking a mailbox out of a pool: `warmup pool remove NAME ADDRESS...`. Before it, the only way
out was `mailbox remove`, which deletes the mailbox's warm-up history (a banned or retired
mailbox lost the record that its bounces and sends were judged on), and `pool remove P
bd@corp.example` was refused as an extra argument (exit 64)."""

from __future__ import annotations

import json

from tests.gatekit import PASSWORD_ENV, cli
from tests.outboxkit import BOXES, pool_of, queue_plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def members(pool: str) -> list[str]:
    res = cli("pool", "show", pool, "--json")
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout)["members"])


def test_a_member_taken_out_keeps_its_history_and_sends_no_more_for_the_pool(
    sink,
    ssl_cert_env,
    ledger_url,  # noqa: F811
    monkeypatch,
    tmp_path,
):
    monkeypatch.setenv("WARMUP_PASSWORD", PASSWORD_ENV["WARMUP_PASSWORD"])
    pool_of(sink.port, tmp_path, n=2, daily=10)
    queue_plain(2)
    ledger = open_ledger(ledger_url)
    worker = Worker(ledger)
    try:
        assert worker.run_once().outcomes["sent"] == 2  # one from each member
        res = cli("pool", "remove", "P", BOXES[1].upper())
        assert (res.returncode, res.stdout) == (0, f"Pool P: 1 mailbox: {BOXES[0]}.\n")
        assert [m.address for m in ledger.pool("P").members] == [BOXES[0]]
        queue_plain(4)  # r0..r3 again: r1 was mailed from the member that left
        assert worker.run_once().outcomes["sent"] == 4
    finally:
        worker.close()
        ledger.close()
    senders = [str(m.message["From"]) for m in sink.messages]
    assert senders[2:] == [BOXES[0]] * 4
    # Still registered, its sends still counted: only its membership went.
    quota = cli("quota", BOXES[1], "--json")
    assert quota.returncode == 0, quota.stderr
    assert '"sent": 1' in quota.stdout


def test_the_last_members_of_a_pool_with_waiting_messages_stay_unless_forced(ledger_path, tmp_path):
    pool_of(1, tmp_path, n=2)  # nothing listens: nothing is sent here
    queue_plain(1)
    res = cli("pool", "remove", "P", *BOXES[:2])
    assert res.returncode == 65
    assert res.stderr == (
        "Error: pool P has 1 queued message and would be left with no member to send it; add "
        "another member first ('warmup pool add P ADDRESS'), or add --force (its messages then "
        "wait for a member)\n"
    )
    assert members("P") == list(BOXES[:2])
    res = cli("pool", "remove", "P", *BOXES[:2], "--force")
    assert (res.returncode, res.stdout) == (0, "Pool P: 0 mailboxes: none.\n")
    assert cli("queue", "list", "--state", "queued").stdout.count("r0@example.com") == 1


def test_a_mailbox_that_is_no_member_is_one_line_and_nothing_changes(ledger_path, tmp_path):
    pool_of(1, tmp_path, n=3)
    cli("pool", "add", "Q", BOXES[0])
    res = cli("pool", "remove", "Q", BOXES[0], BOXES[2])
    assert res.returncode == 65
    assert res.stderr == (
        f"Error: mailbox {BOXES[2]} is not a member of pool Q (its members: {BOXES[0]}); see "
        "'warmup pool show Q'\n"
    )
    assert members("Q") == [BOXES[0]]
    res = cli("pool", "remove", "Q", "nobody@corp.example")
    assert res.returncode == 64
    assert "mailbox 'nobody@corp.example' not found" in res.stderr
