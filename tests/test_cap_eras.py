"""A cap change judges the days from its own on, not the days already walked (warmup.policy.eras).

``warmup mailbox set ADDRESS --cap N`` changed a plain column and the walk replayed the whole
history under the cap now: the days sent at the old quota showed the new one (50 sent of a
quota of 20, "sent over quota"), and part-days that had not qualified toward warm-up under the
old quota qualified under the lower one, moving the mailbox's stage. A cap change is now a
``cap`` event, as a policy change is, on both backends, through the CLI.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADDED, policy_changes_at
from tests.gatekit import ANY_DAY
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_policy_eras import text
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.ledger.schema import EVENT, MAILBOX
from warmup.policy import eras

BOX = "c@corp.example"
UTC = "Etc/UTC"
FIRST = dt.date(2026, 10, 1)  # 30 days of sends before the day asked about
ASKED = "2026-10-31T12:00:00Z"

# Room to grow (10x the busiest day), no pacing: a day's quota is its stage's volume
POLICY = text(growth=10)


@contextlib.contextmanager
def _opened(url: str) -> Iterator[Ledger]:
    ledger = open_ledger(url)
    try:
        yield ledger
    finally:
        ledger.close()


def _json(run, *args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_past_quota_stays_after_a_cap_change(ledger_url, run):  # noqa: F811
    """The colleague's reproduction: five days of 50 sends, then --cap 20."""
    # asked at the real time last: not closed on a CN public holiday (2027-05-04 was one)
    add = ("mailbox", "add", BOX, "--provider", "exmail", "--timezone", UTC)
    assert run(*add, "--policy", str(ANY_DAY)).exit_code == 0
    for d in ("02", "03", "04", "05", "06"):
        to = [arg for i in range(50) for arg in ("--to", f"r{d}-{i}@x.example")]
        result = run("record", "send", BOX, *to, "--at", f"2026-11-{d}T09:00:00Z")
        assert result.exit_code == 0, result.output
    asked = ("report", "--at", "2026-11-07T12:00:00Z")
    before = run(*asked)
    assert [r["quota"] for r in _json(run, *asked)] == [50] * 6
    assert run("mailbox", "set", BOX, "--cap", "20").exit_code == 0
    # what quota said on each of those days, not the cap set after them
    assert [r["quota"] for r in _json(run, *asked)] == [50] * 6
    assert run(*asked).output == before.output
    assert _json(run, "quota", BOX, "--at", "2026-11-07T12:00:00Z")[0]["quota"] == 50
    # the change is a mailbox event that says both caps
    with _opened(ledger_url) as ledger, ledger.read() as conn:
        reasons = conn.execute(
            EVENT.select().with_only_columns(EVENT.c.reason).where(EVENT.c.kind == "cap")
        ).scalars()
        assert list(reasons) == ["cap 20 (was none)"]
    # and the cap applies from the change on (now, by the wall clock)
    now = _json(run, "quota", BOX)[0]
    assert now["quota"] == 20, now


@pytest.fixture
def part_days(ledger_url, run, tmp_path: Path) -> str:  # noqa: F811
    """:data:`BOX` on :data:`POLICY`: 50 sends a day in week 1, then 60 a day: a day of weeks
    2-4 qualifies (half its quota) while the ramp is at 120 or less. The ledger's URL."""
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    add = ("mailbox", "add", BOX, "--provider", "exmail", "--timezone", UTC, "--policy", str(path))
    assert run(*add).exit_code == 0
    with _opened(ledger_url) as ledger:
        box = ledger.mailbox(BOX)
        sends = []
        for k in range(30):
            noon = dt.datetime.combine(FIRST + dt.timedelta(days=k), dt.time(12), dt.UTC)
            n = 50 if k < 7 else 60
            sends += [
                SendIn(f"r{k}-{i}@x.example", noon + dt.timedelta(seconds=i)) for i in range(n)
            ]
        ledger.record(box, sends=sends)
    return ledger_url


def _stage(run, at: str) -> tuple[str, int, int]:
    [q] = _json(run, "quota", BOX, "--at", at)
    return q["stage"], q["day"], q["quota"]


def test_a_cap_change_does_not_move_the_stage_reached(part_days, run):
    before = _stage(run, ASKED)
    assert before[:1] == ("weeks 2-4",), before  # the part-days at 60 of 125+ did not qualify
    rows = _json(run, "report", "--at", ASKED)
    assert run("mailbox", "set", BOX, "--cap", "100").exit_code == 0
    # under a cap of 100 every day of 60 would have qualified: stable. Not so: judged then
    assert _stage(run, ASKED) == before
    assert _json(run, "report", "--at", ASKED) == rows
    assert _json(run, "plan", BOX, "--days", "1", "--at", ASKED)["days"][0]["day"] == before[1]


def test_the_day_of_a_change_and_after_are_under_the_new_cap(part_days, run):
    rows = _json(run, "report", "--at", ASKED)
    stage, day, quota = _stage(run, ASKED)
    assert quota > 100
    assert run("mailbox", "set", BOX, "--cap", "100").exit_code == 0
    with _opened(part_days) as ledger:
        policy_changes_at(ledger, dt.datetime(2026, 10, 31, 10, tzinfo=dt.UTC), kinds=("cap",))
    # the day of the change is judged under it (as quota answered once it was made), the days
    # before as they were; the warm-up day reached carries over
    assert _stage(run, ASKED) == (stage, day, 100)
    after = _json(run, "report", "--at", ASKED)
    assert after[:-1] == rows[:-1]
    assert after[-1]["quota"] == 100
    # a question about an instant before the change: the cap then (none)
    assert _stage(run, "2026-10-30T12:00:00Z")[2] > 100
    # quota, plan and report agree on the day after (60 more sent on the day of the change)
    with _opened(part_days) as ledger:
        noon = dt.datetime(2026, 10, 31, 12, tzinfo=dt.UTC)
        sends = [SendIn(f"s{i}@x.example", noon + dt.timedelta(seconds=i)) for i in range(60)]
        ledger.record(ledger.mailbox(BOX), sends=sends)
    nxt = "2026-11-01T12:00:00Z"
    got = _stage(run, nxt)
    assert got == (stage, day + 1, 100)  # 60 of a quota of 100 qualified, under the new cap
    assert _json(run, "report", "--at", nxt)[-1]["quota"] == 100
    assert _json(run, "plan", BOX, "--days", "1", "--at", nxt)["days"][0]["quota"] == 100


def test_a_ledger_without_cap_events_has_its_cap_now_on_every_day(ledger_url, run):  # noqa: F811
    """A cap set before cap events existed: every day under it, as before."""
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--timezone", UTC).exit_code == 0
    to = [arg for i in range(30) for arg in ("--to", f"r{i}@x.example")]
    assert run("record", "send", BOX, *to, "--at", "2026-11-02T09:00:00Z").exit_code == 0
    with _opened(ledger_url) as ledger, ledger.write() as conn:
        conn.execute(MAILBOX.update().values(cap=20, rev=MAILBOX.c.rev + 1))
    rows = _json(run, "report", "--at", "2026-11-03T12:00:00Z")
    assert [r["quota"] for r in rows] == [20, 20]


def test_a_cap_of_0_then_raised_pauses_the_days_it_held(ledger_url, run):  # noqa: F811
    """A ledger may still hold a cap of 0 (refused since): its days said quota 0, paused; a
    cap raised from it keeps them so, and the days from the change on are under the new one."""
    # asked at the real time last: not closed on a CN public holiday (2027-05-04 was one)
    add = ("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--timezone", UTC)
    assert run(*add, "--policy", str(ANY_DAY)).exit_code == 0
    with _opened(ledger_url) as ledger, ledger.write() as conn:
        conn.execute(MAILBOX.update().values(cap=0, rev=MAILBOX.c.rev + 1))
    then = "2026-11-03T12:00:00Z"
    [q] = _json(run, "quota", BOX, "--at", then)
    assert (q["quota"], q["status"]) == (0, "paused")
    assert run("mailbox", "set", BOX, "--cap", "20").exit_code == 0
    [q] = _json(run, "quota", BOX, "--at", then)
    assert (q["quota"], q["status"]) == (0, "paused"), q
    [q] = _json(run, "quota", BOX)
    assert (q["quota"], q["status"]) == (20, "ok"), q


@pytest.mark.parametrize(("cap", "was"), [(20, None), (None, 20), (1, 0), (300, 2_000_000_000)])
def test_cap_reasons_read_back(cap, was):
    assert eras.cap_refs(eras.cap_reason(cap, was)) == (cap, was)


def test_a_cap_reason_that_says_nothing_leaves_the_cap_now():
    from warmup.policy.walk import MailboxEvent

    at = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    events = [MailboxEvent("cap", at, reason="set by hand")]
    assert eras.cap_refs("set by hand") is None
    assert eras.cap_in_force(20, events, 0) == 20
    assert eras.cap_in_force(20, events, 1) == 20
