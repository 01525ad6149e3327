"""'queue status' DONE BY and 'queue add''s expiry warning: the plan's projection of how the
outbox drains, each test failing on the code before its fix."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.gatekit import cli, policy_file
from tests.outboxkit import leads, plain, template
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from warmup import Outbox, api
from warmup.ledger import open_ledger

BOX = "a@corp.example"
AT = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)  # early in a UTC mailbox's day


def _day(n: int) -> str:
    return (AT.date() + dt.timedelta(days=n)).isoformat()


def test_a_campaign_queued_not_before_next_month_is_done_its_days_after_that(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """200 messages at 50 a day queued --not-before 30 days ahead: DONE BY was the not-before
    day itself (the plan's 4 days counted from today, then floored at the not-before), though
    nothing goes before it and the plan needs 4 days from then."""
    from warmup.outbox.status import status

    ledger = open_ledger(ledger_url)
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    api.add_mailbox(ledger, BOX, "exmail", timezone="Etc/UTC", policy=str(policy))
    later = AT + dt.timedelta(days=30)
    outbox = Outbox(ledger)
    outbox.add_many(
        [plain(f"l{i}@example.com") for i in range(200)],
        mailbox=BOX,
        campaign="later",
        not_before=later,
        expires=dt.timedelta(days=10),
        now=AT,
    )
    outbox.add_many(
        [plain(f"n{i}@example.com") for i in range(60)], mailbox=BOX, campaign="now", now=AT
    )
    got = status(ledger, at=AT)
    finish = {c["campaign"]: c["finish"] for c in got["campaigns"]}
    # 'now' drains first (50 today, 10 tomorrow); 'later' from day 30 on: 50 a day, 4 days
    assert finish == {"later": _day(33), "now": _day(1)}, got
    assert [t["finish"] for t in got["targets"]] == [_day(33)]
    assert {c["campaign"]: c["expires_first"] for c in got["campaigns"]} == {
        "later": False,
        "now": False,
    }
    ledger.close()


def test_queue_add_warns_when_messages_not_before_next_month_expire_before_the_plan_sends_them(
    tmp_path: Path,
) -> None:
    """300 rows at 50 a day, --not-before 30 days ahead, --expires 2d: the warning compared
    the plan's finish counted from today (6 days) with the expiry (32 days ahead) and said
    nothing; from the not-before on the plan needs 6 days and 250 of them expire unsent."""
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", "Etc/UTC",
               "--policy", str(policy)).returncode == 0  # fmt: skip
    start = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%dT09:00Z")
    res = cli("queue", "add", "--mailbox", BOX, "--not-before", start, "--expires", "2d",
              "--csv", str(leads(tmp_path / "a.csv", 300)),
              "--template", str(template(tmp_path / "t.toml")))  # fmt: skip
    assert res.returncode == 0, res.stderr
    finish = json.loads(cli("queue", "status", "--json").stdout)["targets"][0]["finish"]
    first = dt.date.fromisoformat(start[:10])
    assert finish == (first + dt.timedelta(days=5)).isoformat()
    assert res.stderr.startswith(
        f"Warning: at the plan's pace mailbox {BOX} sends what is queued to it by {finish}, "
        f"after these messages expire ({first + dt.timedelta(days=2)} 09:00 UTC, --expires 2d)"
    ), res.stderr


def test_a_member_of_two_pools_is_not_counted_once_for_each(
    tmp_path: Path,
    ledger_url: str,  # noqa: F811
) -> None:
    """Pools P1 {a, b} and P2 {b, c}, 50 a day each, 300 messages queued to each (P1's
    first): DONE BY said the third day for both, b's 50 counted for P1 and again for P2.
    The worker takes the oldest due first from the member with the most left: P1 takes a's
    and b's day, P2 only c's until P1 is done."""
    from warmup.outbox.status import status

    ledger = open_ledger(ledger_url)
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    boxes = ["a@corp.example", "b@corp.example", "c@corp.example"]
    for box in boxes:
        api.add_mailbox(ledger, box, "exmail", timezone="Etc/UTC", policy=str(policy))
    ledger.add_pool("P1", boxes[:2], None, AT)
    ledger.add_pool("P2", boxes[1:], None, AT)
    outbox = Outbox(ledger)
    for n, (pool, campaign) in enumerate((("P1", "one"), ("P2", "two"))):
        outbox.add_many(
            [plain(f"{campaign}{i}@example.com") for i in range(300)],
            pool=pool,
            campaign=campaign,
            expires=dt.timedelta(days=30),
            now=AT + dt.timedelta(minutes=n),
        )
    at = AT + dt.timedelta(minutes=2)
    got = status(ledger, at=at)
    # P1: 100 a day (a, b) on days 0-2; P2: c's 50 a day on days 0-2, then b's and c's: 300 on
    # day 4
    assert {c["campaign"]: c["finish"] for c in got["campaigns"]} == {
        "one": _day(2),
        "two": _day(4),
    }, got
    assert {t["target"]: t["finish"] for t in got["targets"]} == {
        "pool P1": _day(2),
        "pool P2": _day(4),
    }
    # 'queue status --pool P2' counts what P1 takes of b too
    only = status(ledger, at=at, pool="P2")
    assert [(c["campaign"], c["finish"]) for c in only["campaigns"]] == [("two", _day(4))]
    ledger.close()


def test_a_message_queued_for_next_year_is_no_reason_to_warn_of_one_queued_for_today(
    tmp_path: Path,
) -> None:
    """One message --not-before 200 days ahead, then one for now: the second was warned of
    ("sends what is queued to it by <200 days ahead>, after these messages expire ...: those
    not sent by then expire unsent"), though workers claim the oldest due first and it goes
    today. What is due after these messages is no queue in front of them."""
    policy = policy_file(tmp_path / "flat.toml", daily=50)
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", "Etc/UTC",
               "--policy", str(policy)).returncode == 0  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    starts = {
        "later": ["--not-before", f"{now + dt.timedelta(days=200):%Y-%m-%dT09:00Z}"],
        "now": [],
        "past": ["--not-before", f"{now - dt.timedelta(hours=1):%Y-%m-%dT%H:%MZ}"],  # at once
    }
    for name, start in starts.items():
        eml = tmp_path / f"{name}.eml"
        eml.write_bytes(plain(f"{name}@example.com").as_bytes())
        res = cli("queue", "add", "--mailbox", BOX, "--eml", str(eml), *start)
        assert (res.returncode, res.stderr) == (0, ""), (name, res.stderr)


def test_queue_add_says_nothing_of_expiry_when_its_messages_are_gone_before_it_looks(
    tmp_path: Path, monkeypatch
) -> None:
    """A worker sent (or a person cancelled) what 'queue add' queued before it looked at the
    plan's finish: nothing waited for the target, which the projection answered as it answers
    "not within the plan's horizon", and a team under load read "sends what is queued to it
    not within 2 years, after these messages expire" for messages already gone."""
    import os

    import warmup.outbox as outbox_module

    policy = policy_file(tmp_path / "flat.toml", daily=50)
    assert cli("mailbox", "add", BOX, "--provider", "exmail", "--timezone", "Etc/UTC",
               "--policy", str(policy)).returncode == 0  # fmt: skip
    queue = outbox_module.Outbox.add_many

    def then_gone(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        got = queue(self, *args, **kwargs)
        other = open_ledger(os.environ["WARMUP_DB"])  # another process's cancel, meanwhile
        try:
            assert other.cancel_messages(dt.datetime.now(dt.UTC), campaign="gone") == (3, 0)
        finally:
            other.close()
        return got

    monkeypatch.setattr(outbox_module.Outbox, "add_many", then_gone)
    res = cli("queue", "add", "--mailbox", BOX, "--campaign", "gone",
              "--csv", str(leads(tmp_path / "a.csv", 3)),
              "--template", str(template(tmp_path / "t.toml")))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"Queued 3 messages to mailbox {BOX} (campaign gone)."), res.stdout
    assert "Warning" not in res.stderr, res.stderr
