"""A recipient is mailed once per campaign: ``queue add --csv`` skips a row whose recipient an
earlier row of the file names, and a recipient the campaign has queued or sent already."""

from __future__ import annotations

import json

from tests.gatekit import cli
from tests.outboxkit import pool_of, queue_csv, template


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
