"""'mailbox remove --force' of a mailbox that holds the only record that a queued message may
have left it: a worker killed while the server had the message's data, or a message left
``unknown``. Its slots went with its history, and the outbox then judged the message never
sent: the next worker queued it again and another pool member mailed it a second time, and
'queue mark ID sent' queued it again too. The removal is refused until a person has said
what became of such a message."""

from __future__ import annotations

import json
import os
import subprocess
import threading

from tests import forkcli
from tests.gatekit import PASSWORD_ENV, cli, warmup
from tests.outboxkit import pool_of, queue_plain
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup.ledger import open_ledger
from warmup.outbox.worker import Worker


def _states() -> dict[int, str]:
    return {m["id"]: m["state"] for m in json.loads(cli("queue", "list", "--json").stdout)}


def test_a_member_whose_dead_worker_may_have_sent_a_message_is_not_removed_under_it(
    sink, ssl_cert_env, tmp_path
):
    a, b = pool_of(sink.port, tmp_path, n=2, daily=50)
    [mid] = queue_plain(1)
    sink.hold_data_reply = threading.Event()  # the server has the data, its reply not given
    proc = subprocess.Popen(
        [*forkcli.command(), "run", "--no-sync", "--no-view"],
        env={**os.environ, **PASSWORD_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.holding.wait(60)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        sink.hold_data_reply.set()
    assert _states() == {mid: "sending"}

    res = warmup("mailbox", "remove", a, "--force")
    assert res.returncode == 65, res.stdout + res.stderr
    assert res.stderr == (
        f"Error: mailbox {a}: message {mid} may have left from it (its worker stopped while "
        f"sending it); removing the mailbox would forget that, and the message would be sent "
        f"again: 'warmup run --once' settles a stopped worker's message as unknown, then say "
        f"what became of it with 'warmup queue mark ID sent' (or unsent)\n"
    )
    assert [m["address"] for m in json.loads(cli("mailbox", "list", "--json").stdout)] == [a, b]

    res = warmup("pool", "remove", "P", "--force")
    assert (res.returncode, res.stderr) == (
        75,
        "Error: pool 'P': a worker is sending 1 of its messages; try again when 'warmup queue "
        "list --state sending' is empty (a worker that stopped while sending leaves its message "
        "so until the next 'warmup run' settles it)\n",
    )

    res = warmup("run", "--once", "--no-sync", env=PASSWORD_ENV)
    assert res.returncode == 0, res.stderr
    assert _states() == {mid: "unknown"}
    assert [m.mail_from for m in sink.messages] == []  # not sent again from b
    assert warmup("pool", "remove", "P", "--force").returncode == 0  # settled: nothing in flight


def test_an_unknown_message_keeps_its_mailbox_until_a_person_says_what_became_of_it(
    sink,
    ssl_cert_env,
    password,
    tmp_path,
    monkeypatch,
    ledger_url,  # noqa: F811
):
    monkeypatch.setenv("WARMUP_DB", ledger_url)
    a, _ = pool_of(sink.port, tmp_path, n=2, daily=50)
    [mid] = queue_plain(1)
    sink.drop_mid_data = True
    ledger = open_ledger()
    with Worker(ledger) as worker:
        assert worker.run_once().outcomes == {"unknown": 1}
    sink.drop_mid_data = False

    res = cli("mailbox", "remove", a, "--force")
    assert res.returncode == 65
    assert res.stderr.startswith(
        f"Error: mailbox {a}: message {mid} may have left from it (unknown); removing the "
        f"mailbox would forget that"
    ), res.stderr
    assert cli("queue", "mark", str(mid), "sent").returncode == 0
    assert cli("mailbox", "remove", a, "--force").returncode == 0
    assert _states() == {mid: "sent"}  # not queued again: its slots went with the mailbox
