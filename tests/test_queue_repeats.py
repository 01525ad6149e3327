"""A recipient is mailed once per campaign: ``queue add --csv`` skips a row whose recipient an
earlier row of the file names, and a recipient the campaign has queued or sent already."""

from __future__ import annotations

import json

from tests.gatekit import cli
from tests.outboxkit import leads, pool_of, queue_csv, template

pytest_plugins = ["tests.pgkit"]  # fixture: ledger_url (each backend)


def queued_to(campaign: str | None = None) -> list[str]:
    args = ["queue", "list", "--json"] + (["--campaign", campaign] if campaign else [])
    return [m["recipients"][0] for m in json.loads(cli(*args).stdout)]


def test_a_recipient_named_twice_in_the_csv_is_queued_once_from_its_first_row(sink, tmp_path):
    """Two rows for one lead (its address compared lower-cased, as the outbox stores it) would
    mail it twice in one campaign, which hurts the sender's reputation: the first row is queued,
    a later one is skipped and named with its line on stderr, as suppressed recipients are."""
    pool_of(sink.port, tmp_path)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "email,name,company\n"
        "lead@example.com,First,A\n"
        "other@example.com,Other,B\n"
        " Lead@Example.COM ,Second,C\n",
        encoding="utf-8",
    )
    res = queue_csv(csv, template(tmp_path / "t.toml"))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 2 messages to pool P.\n"
    assert res.stderr == (
        f"Skipped 1 duplicate recipient: lead@example.com ({csv}: line 4); "
        f"each recipient is queued once, from its first row.\n"
    )
    assert queued_to() == ["lead@example.com", "other@example.com"]
    first = json.loads(cli("queue", "list", "--json").stdout)[0]["id"]
    shown = json.loads(cli("queue", "show", str(first), "--json").stdout)
    assert shown["headers"]["Subject"] == "Hello First"


def test_queueing_a_csv_again_in_its_campaign_queues_only_who_it_has_not_mailed(
    sink, tmp_path, ledger_url
):
    """Re-running 'queue add' after an interruption, or by mistake, queued the whole file again
    and mailed every lead twice. A recipient the campaign (the same campaign name to the same
    pool or mailbox) has queued, sent, bounced or left unknown is skipped and counted, so the
    re-run completes the campaign; one whose message was cancelled or expired never left and is
    queued again; another campaign name is another campaign and queues everyone. The lookup is
    one query per batch of rows on the outbox's campaign index."""
    pool_of(sink.port, tmp_path)
    tpl = template(tmp_path / "t.toml")
    first = queue_csv(leads(tmp_path / "a.csv", 2), tpl, "--campaign", "dec")
    assert first.returncode == 0, first.stderr
    cancelled = json.loads(cli("queue", "list", "--json").stdout)[1]
    assert cli("queue", "cancel", str(cancelled["id"])).returncode == 0

    res = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "dec")  # lead0..lead3
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Queued 3 messages to pool P (campaign dec).\n"
    assert res.stderr == (
        "Skipped 1 recipient already in campaign dec: lead0@example.com; "
        "a recipient is mailed once per campaign (another --campaign name queues it again).\n"
    )
    assert sorted(queued_to("dec")) == [
        "lead0@example.com",
        "lead1@example.com",  # cancelled
        "lead1@example.com",
        "lead2@example.com",
        "lead3@example.com",
    ]

    again = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "dec")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Queued 0 messages to pool P (campaign dec).\n"
    assert again.stderr.startswith("Skipped 4 recipients already in campaign dec: ")

    other = queue_csv(leads(tmp_path / "b.csv", 4), tpl, "--campaign", "jan")
    assert other.stdout == "Queued 4 messages to pool P (campaign jan).\n"
    assert other.stderr == ""
