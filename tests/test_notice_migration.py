"""m021: a ledger whose sync recorded ARF auth-failure and not-spam reports as complaints (before
they were notices) is corrected on upgrade, on SQLite and PostgreSQL.

The old ledger is built the way the sync before the change built it: the reports are parsed by
the parser and recorded by the sync's writer (``record_batch``), each of the two feedback types
as the kind it had then, ``complaint`` (its diagnostic was the same: the Feedback-Type as
written, then its text). A ledger made by that sync (commit 4409fdc) against Dovecot held
exactly these rows: kind complaint, counted, source imap, diagnostic "auth-failure: ...", each
recipient suppressed as ``complaint`` / "complaint bounce" at the report's instant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from tests import test_bounces_sync as kit
from tests.conftest import SH, ledger_before
from tests.gatekit import cli, policy_file
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounce_feedback import AUTH_FAILURE, arf
from warmup import api, reports
from warmup.bounces import parse_bounces
from warmup.bounces.identity import bounce_key, read_report
from warmup.bounces.imap import record_batch
from warmup.ledger import SendIn, open_ledger
from warmup.ledger.schema import WALK_MEMO
from warmup.ledger.values import local_day

BOX = kit.BOX  # the address the reports name as the sender
M021 = "m021_feedback_notices"
# The health of a flat 50 a day: bounces hold nothing, complaints do: above 10% of the week's
# sends the mailbox pauses (until 'warmup resume'), at 5% it is fine.
HEALTH = """
[health]
min_sample = 10
hold_above = 0.5
step_back_above = 0.6
pause_above = 0.7
complaint_hold_above = 0.06
complaint_pause_above = 0.1
"""


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), dt.timezone(dt.timedelta(hours=8)))


def _old(raw: bytes) -> list:  # type: ignore[type-arg]
    """The bounces the sync before m021 recorded for ``raw``: a notice was a complaint."""
    return [
        dataclasses.replace(b, kind="complaint") if b.kind == "notice" else b
        for b in parse_bounces(raw, mailbox=BOX)
    ]


def _sync_old(ledger, box, reports_: list[bytes], at: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    rows = []
    for raw in reports_:
        facts = read_report(raw)
        rows += [(bounce_key(facts, b, i), b, at) for i, b in enumerate(_old(raw))]
    record_batch(ledger, box, "INBOX", 1, len(reports_), rows, at)


def _old_ledger(url: str, tmp_path: Path, sends: int = 20) -> tuple[dt.date, dict[str, str]]:
    """A ledger with every migration but m021 (the writers below are today's) and ``sends``
    sends to lead0.. on a day three days ago (Shanghai); the day and the sends' Message-IDs."""
    ledger = ledger_before(url, M021)
    try:
        policy = policy_file(tmp_path / "complaints.toml", 50)  # a flat 50 a day
        policy.write_text(policy.read_text() + HEALTH)
        box = api.add_mailbox(ledger, BOX, "exmail", timezone=SH, policy=str(policy))
        day = local_day(dt.datetime.now(dt.UTC), SH) - dt.timedelta(days=3)
        ids = {f"lead{i}@example.com": f"<m{i}@corp.example>" for i in range(sends)}
        ledger.record(box, sends=[SendIn(r, _noon(day), m) for r, m in ids.items()])
    finally:
        ledger.close()
    return day, ids


def _complaints(ledger, day: dt.date) -> int:  # type: ignore[no-untyped-def]
    """The day's complaints in the rollup (0 without a row)."""
    return sum(r[6] for r in ledger.day_stats() if r[1] == day)


def _quota() -> dict:  # type: ignore[type-arg]
    res = cli("quota", BOX, "--json")
    assert res.returncode in (0, 75), res.stderr
    return json.loads(res.stdout)[0]


def test_feedback_that_is_no_complaint_is_no_longer_counted_nor_suppressing(
    ledger_url,  # noqa: F811
    tmp_path: Path,
) -> None:
    day, ids = _old_ledger(ledger_url, tmp_path)
    forged, wanted, complained, also = (f"lead{i}@example.com" for i in range(4))
    ledger = open_ledger(ledger_url, migrate=False)
    try:
        box = ledger.mailbox(BOX)
        _sync_old(
            ledger,
            box,
            [
                arf("auth-failure", ids[forged], forged, 1, AUTH_FAILURE),
                arf("not-spam", ids[wanted], wanted, 2),
                arf("abuse", ids[complained], complained, 3),
                arf("Auth-Failure", ids[also], also, 4, AUTH_FAILURE),
                # the forged-for address also bounced: suppressed for that
                kit.dsn(ids[forged], forged, "5.1.1", "550 5.1.1 no such user", 5),
            ],
            _noon(day) + dt.timedelta(hours=3),
        )
        # as the old sync left it: four complaints counted, each recipient suppressed
        assert _complaints(ledger, day) == 4
        assert {s["address"]: s["kind"] for s in ledger.suppressions()} == dict.fromkeys(
            (forged, wanted, complained, also), "complaint"
        )
        # 4 of 20 sends complained: the walk paused the mailbox; its memo keeps that
        paused = api.quotas(ledger, [box], dt.datetime.now(dt.UTC))[0]
        assert paused.status == "paused", paused
        with ledger.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(WALK_MEMO)).scalar() == 1
        frame = reports.daily(ledger, [BOX])  # keeps its timeline memo
        assert (frame["complaints"].iloc[0], frame["status"].iloc[-1]) == (4, "paused")
    finally:
        ledger.close()

    # the upgrade: the first command runs m021 and says what it changed
    res = cli("suppress", "list", "--json")
    assert res.returncode == 0, res.stderr
    assert (
        "3 feedback reports recorded as complaints (ARF auth-failure, not-spam) are now "
        "notices: no longer in the complaint rate; lifted the 2 suppressions only they made"
    ) in res.stderr
    kept = {s["address"]: (s["kind"], s["reason"]) for s in json.loads(res.stdout)}
    # the real complaint's address stays suppressed, and the hard-bounced one, now for that
    assert kept == {
        forged: ("hard", "hard bounce 5.1.1"),
        complained: ("complaint", "complaint bounce"),
    }, kept

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        assert _complaints(ledger, day) == 1
        assert ledger.rollup_mismatches() == []
        listed = {(b["recipient"], b["kind"]): b["counted"] for b in ledger.bounces(box)}
        assert listed == {
            (forged, "notice"): False,
            (wanted, "notice"): False,
            (also, "notice"): False,
            (complained, "complaint"): True,
            (forged, "hard"): True,
        }
        # the walk over that day again (its memo dropped): 1 of 20 is no pause
        now = dt.datetime.now(dt.UTC)
        warm = api.quotas(ledger, [box], now)[0]
        assert warm.status != "paused" and warm.complaint_rate == 1 / 20, warm
        with ledger.write() as conn:
            conn.execute(WALK_MEMO.delete())
        assert api.quotas(ledger, [box], now)[0] == warm
        frame = reports.daily(ledger, [BOX])
        fresh = reports.daily(ledger, [BOX], cache=False)
        assert frame.equals(fresh)
        assert frame["complaints"].iloc[0] == 1
        assert "paused" not in set(frame["status"]), frame
    finally:
        ledger.close()
    q = _quota()
    assert (q["status"], q["complaint_rate"]) == (warm.status, 1 / 20), q


def test_a_sends_next_complaint_counts_and_a_manual_suppression_stays(
    ledger_url,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A send whose first report was an auth-failure (counted then) and whose second a real
    complaint (not counted then: a send counts one complaint) counts that complaint now, on
    its own day; an address suppressed by hand before its auth-failure report stays so."""
    day, ids = _old_ledger(ledger_url, tmp_path)
    forged, manual = "lead0@example.com", "lead1@example.com"
    ledger = open_ledger(ledger_url, migrate=False)
    try:
        box = ledger.mailbox(BOX)
        api.suppress(ledger, [manual], "asked to be removed")
        _sync_old(
            ledger,
            box,
            [
                arf("auth-failure", ids[forged], forged, 1, AUTH_FAILURE),
                arf("auth-failure", ids[manual], manual, 2, AUTH_FAILURE),
            ],
            _noon(day) + dt.timedelta(hours=3),
        )
        later = day + dt.timedelta(days=1)
        _sync_old(ledger, box, [arf("abuse", ids[forged], forged, 3)], _noon(later))
        assert (_complaints(ledger, day), _complaints(ledger, later)) == (2, 0)
    finally:
        ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert (_complaints(ledger, day), _complaints(ledger, later)) == (0, 1)
        assert ledger.rollup_mismatches() == []
        kept = {s["address"]: s["kind"] for s in ledger.suppressions()}
        assert kept == {forged: "complaint", manual: "manual"}, kept
    finally:
        ledger.close()
