"""`queue retry` of a message whose pool or mailbox has been removed since it expired."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage

import pytest

from warmup import Outbox, open_ledger
from warmup.instants import now_utc

pytest_plugins = ["tests.pgkit"]  # ledger_url: each backend


def _expired(url, **target: str) -> int:  # type: ignore[no-untyped-def]
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    ledger = open_ledger(str(url))
    try:
        mid = Outbox(ledger).add(msg, **target)
        assert mid is not None
        assert ledger.expire_messages(now_utc() + dt.timedelta(days=4)) == 1
        return mid
    finally:
        ledger.close()


@pytest.mark.parametrize("kind", ["pool", "mailbox"])
def test_retry_of_a_message_whose_target_was_removed_is_refused(run, ledger_url, kind):
    """It was queued again ("Queued message 1 again", exit 0), listed as from "pool None",
    given a finish date, and the next 'warmup run' cancelled it: "pool '#1' not found;
    create it with 'warmup pool add '#1' ADDRESS...'"."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "P", "a@corp.example").exit_code == 0
    target = {"pool": "P"} if kind == "pool" else {"mailbox": "a@corp.example"}
    mid = _expired(ledger_url, **target)
    if kind == "pool":
        assert run("pool", "remove", "P").exit_code == 0
    else:
        assert run("pool", "remove", "P").exit_code == 0
        assert run("mailbox", "remove", "a@corp.example", "--force").exit_code == 0
    before = json.loads(run("queue", "list", "--json").output)
    res = run("queue", "retry", str(mid))
    assert res.exit_code == 65, res.output
    assert res.output == (
        f"Error: message {mid} was queued to a {kind} removed since; queue it again to one "
        f"that exists with 'warmup queue add'\n"
    )
    assert json.loads(run("queue", "list", "--json").output) == before
    assert before[0]["state"] == "expired"
    if kind == "pool":
        table = run("queue", "list").output
        assert "pool (removed)" in table and "None" not in table
