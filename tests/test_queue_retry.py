"""`queue retry` of a message whose pool or mailbox has been removed since it expired."""

from __future__ import annotations

import datetime as dt
import json
from email.message import EmailMessage

import pytest

from warmup import Outbox, open_ledger
from warmup.instants import now_utc

pytest_plugins = ["tests.pgkit"]  # ledger_url: each backend


def _hello() -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = "lead@example.com"
    msg["Subject"] = "hi"
    msg.set_content("hello")
    return msg


def _expired(url, **target: str) -> int:  # type: ignore[no-untyped-def]
    ledger = open_ledger(str(url))
    try:
        mid = Outbox(ledger).add(_hello(), **target)
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
    before = _refused(
        run,
        mid,
        f"Error: message {mid} was queued to a {kind} removed since; queue it again to one "
        f"that exists with 'warmup queue add'\n",
    )
    assert before[0]["state"] == "expired"
    table = run("queue", "list").output  # it showed "-" for a removed mailbox
    assert f"{kind} (removed)" in table and "None" not in table


@pytest.mark.parametrize("kind", ["pool", "mailbox"])
def test_retry_of_an_expired_message_its_campaign_queued_again_is_refused(run, ledger_url, kind):
    """A campaign's message expired; the script run again queued it anew (an expired copy
    never left); 'queue retry' of the expired one then queued a second copy, and 'warmup run'
    mailed the lead twice. Refused (65), nothing changed; once the new copy is cancelled, the
    retry goes."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "P", "a@corp.example").exit_code == 0
    target = {"pool": "P"} if kind == "pool" else {"mailbox": "a@corp.example"}
    old = _expired(ledger_url, campaign="dec", **target)
    ledger = open_ledger(str(ledger_url))
    try:
        new = Outbox(ledger).add(_hello(), campaign="dec", **target)  # the re-run's copy
        assert new not in (None, old)
    finally:
        ledger.close()
    _refused_until_cancelled(run, old, new)


@pytest.mark.parametrize("kind", ["pool", "mailbox"])
def test_retry_of_an_expired_template_row_its_campaign_queued_again_is_refused(
    run, ledger_url, tmp_path, kind
):
    """A template's row has no content key (its recipient is its key: a campaign mails a
    lead once), and 'queue retry' checked only the content key: the CSV queued again after
    the row expired, then the expired row retried, and 'warmup run' mailed the lead twice."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    assert run("pool", "add", "P", "a@corp.example").exit_code == 0
    target = ("--pool", "P") if kind == "pool" else ("--mailbox", "a@corp.example")
    tpl = tmp_path / "t.toml"
    tpl.write_text('subject = "Hello {{ name }}"\ntext = "Dear {{ name }}"\n')
    rows = tmp_path / "leads.csv"
    rows.write_text("email,name\nlead@example.com,A\n")
    again = ("queue", "add", *target, "--campaign", "dec", "--csv", str(rows), "--template")
    res = run(*again, str(tpl))
    assert res.exit_code == 0, res.output
    (old,) = [m["id"] for m in json.loads(run("queue", "list", "--json").output)]
    ledger = open_ledger(str(ledger_url))
    try:
        assert ledger.expire_messages(now_utc() + dt.timedelta(days=4)) == 1
    finally:
        ledger.close()
    assert run(*again, str(tpl)).exit_code == 0  # an expired row never left: queued anew
    (new,) = [m["id"] for m in json.loads(run("queue", "list", "--json").output) if m["id"] != old]
    _refused_until_cancelled(
        run,
        old,
        new,
        f"is to lead@example.com, whom campaign dec has queued since as message {new} "
        f"(queued): a message without a content key (a template's row, or one queued before "
        f"warmup kept them) is judged by its recipient",
    )


def _refused_until_cancelled(run, old: int, new: int, why: str = "") -> None:  # type: ignore[no-untyped-def]
    """'queue retry OLD' refused while campaign dec's NEW is queued; retried once it is not."""
    why = why or f"is in campaign dec again as message {new} (queued)"
    _refused(
        run,
        old,
        f"Error: message {old} {why}; cancel that one first "
        f"('warmup queue cancel {new}') to send this one instead\n",
    )
    assert run("queue", "cancel", str(new)).exit_code == 0
    res = run("queue", "retry", str(old))
    assert res.exit_code == 0, res.output


def _refused(run, mid: int, output: str) -> list:  # type: ignore[no-untyped-def]
    """'queue retry MID' refused (65) with ``output``, the outbox as it was; its listing."""
    before = json.loads(run("queue", "list", "--json").output)
    res = run("queue", "retry", str(mid))
    assert res.exit_code == 65, res.output
    assert res.output == output
    assert json.loads(run("queue", "list", "--json").output) == before
    return before


def test_retry_of_a_keyless_message_refused_for_its_recipient_says_so(run, ledger_url):
    """A message queued before content keys (m020 left them NULL) is judged by its recipient,
    as a template's row is: a follow-up to the same lead refuses its retry. The refusal said it
    was "in campaign dec again as message N", which for a follow-up (other words) is untrue."""
    from warmup.ledger.schema import OUTBOX

    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    ledger = open_ledger(str(ledger_url))
    try:
        box = Outbox(ledger)
        old = box.add(_hello(), mailbox="a@corp.example", campaign="dec")
        with ledger.write() as conn:  # as queued before m020
            conn.execute(OUTBOX.update().where(OUTBOX.c.id == old).values(content_key=None))
        assert ledger.expire_messages(now_utc() + dt.timedelta(days=4)) == 1
        follow = _hello()
        follow.replace_header("Subject", "a week later")
        new = box.add(follow, mailbox="a@corp.example", campaign="dec")
        assert new not in (None, old)
    finally:
        ledger.close()
    _refused(
        run,
        old,
        f"Error: message {old} is to lead@example.com, whom campaign dec has queued since as "
        f"message {new} (queued): a message without a content key (a template's row, or one "
        f"queued before warmup kept them) is judged by its recipient; cancel that one first "
        f"('warmup queue cancel {new}') to send this one instead\n",
    )


def test_retry_of_a_queued_message_takes_the_expires_typed(run, ledger_url):
    """'queue retry ID --expires 7d' of a message still queued (about to expire, its server
    down all weekend) said "due now" and kept its old expiry: the --expires typed was
    dropped without a word, and the message expired unsent when the user had asked for a week
    more. It now expires that long after it is due; without --expires, its expiry stays."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    ledger = open_ledger(str(ledger_url))
    try:
        mid = Outbox(ledger).add(_hello(), mailbox="a@corp.example")
        assert mid is not None
        kept = ledger.message(mid).expires_at
    finally:
        ledger.close()
    assert run("queue", "retry", str(mid)).exit_code == 0
    assert _expiry(run, mid) == kept
    before = now_utc()
    res = run("queue", "retry", str(mid), "--expires", "7d")
    after = now_utc()
    assert res.exit_code == 0, res.output
    expires = _expiry(run, mid)
    assert before + dt.timedelta(days=7) <= expires <= after + dt.timedelta(days=7)
    stamp = expires.strftime("%Y-%m-%d %H:%M UTC")
    assert res.output == (
        f"Message {mid} is due now: the next pass of 'warmup run' sends it; it expires at "
        f"{stamp}.\n"
    )


def _expiry(run, mid: int) -> dt.datetime:  # type: ignore[no-untyped-def]
    row = next(m for m in json.loads(run("queue", "list", "--json").output) if m["id"] == mid)
    assert row["state"] == "queued"
    return dt.datetime.fromisoformat(row["expires_at"])


def test_retry_of_a_cancelled_message_keeps_its_not_before(run, ledger_url):
    """A message queued --not-before next month, cancelled, then 'queue retry' to undo the
    cancel: it was due at once, and the next 'warmup run' mailed it a month early, its expiry
    (72 h from the retry) before the time it was to go. A queued one's retry already waited
    for its --not-before."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    later = (now_utc() + dt.timedelta(days=30)).replace(microsecond=0)
    ledger = open_ledger(str(ledger_url))
    try:
        mid = Outbox(ledger).add(_hello(), mailbox="a@corp.example", not_before=later)
        assert mid is not None
    finally:
        ledger.close()
    assert run("queue", "cancel", str(mid)).exit_code == 0
    res = run("queue", "retry", str(mid))
    assert res.exit_code == 0, res.output
    row = next(m for m in json.loads(run("queue", "list", "--json").output) if m["id"] == mid)
    assert row["state"] == "queued"
    assert dt.datetime.fromisoformat(row["next_attempt_at"]) == later
    assert dt.datetime.fromisoformat(row["expires_at"]) == later + dt.timedelta(hours=72)
    assert res.output == (
        f"Queued message {mid} again as {row['message_id']}; it is due at "
        f"{later:%Y-%m-%dT%H:%M:%SZ}, its --not-before.\n"
    )


def test_retry_of_a_message_whose_every_recipient_is_suppressed_is_refused(run, ledger_url):
    """'run --suppress-soft' suppressed the one recipient of a queued message and the worker
    cancelled it; 'queue retry' said "Queued message 1 again" (exit 0), 'queue status' gave
    its campaign a finish date, and the next pass cancelled it again. Refused now, naming the
    suppressions and the way on; one recipient allowed again, it is retried (to that one)."""
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    msg = _hello()
    msg.replace_header("To", "lead@example.com, other@example.com")
    ledger = open_ledger(str(ledger_url))
    try:
        mid = Outbox(ledger).add(msg, mailbox="a@corp.example", campaign="dec")
        assert mid is not None
    finally:
        ledger.close()
    assert run("queue", "cancel", str(mid)).exit_code == 0
    for address in ("lead@example.com", "other@example.com"):
        assert run("suppress", "add", address, "--reason", "asked").exit_code == 0
    before = _refused(
        run,
        mid,
        f"Error: message {mid}: every recipient is suppressed (lead@example.com: manual, "
        f"other@example.com: manual), nothing to send; allow one again with 'warmup suppress "
        f"remove ADDRESS' to retry it\n",
    )
    assert before[0]["state"] == "cancelled"
    assert run("suppress", "remove", "other@example.com").exit_code == 0
    res = run("queue", "retry", str(mid))
    assert res.exit_code == 0, res.output
    assert json.loads(run("queue", "list", "--json").output)[0]["state"] == "queued"
