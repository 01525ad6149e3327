"""m023: a ledger that counted mail clients' unsubscribe requests as complaints (before they were
no longer counted) is corrected on upgrade, on SQLite and PostgreSQL.

The old ledger is built with today's writers (the parser and the sync's ``record_batch``,
through m021's test's ``_sync_old``: these reports are read as they were then), then
given what the writer before the change wrote besides: each request counted (the send's first
complaint) and in its day's ``day_stat`` complaint count. A real ARF complaint about the same
send, read after the request, was then the send's second complaint: recorded, not counted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.conftest import SH, ledger_before
from tests.gatekit import cli, policy_file
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from tests.test_bounce_feedback import arf
from tests.test_notice_migration import BOX, HEALTH, _complaints, _noon, _quota, _sync_old
from warmup import api
from warmup.ledger import SendIn, open_ledger
from warmup.ledger.schema import BOUNCE, DAY_STAT
from warmup.ledger.values import local_day

M023 = "m023_unsubscribe_requests_uncounted"


def unsubscribe(rcpt: str) -> bytes:
    """Apple Mail's unsubscribe request from ``rcpt``: anyone can write it in their name."""
    return (
        f"From: {rcpt}\r\nTo: {BOX}\r\nSubject: unsubscribe\r\nAuto-Submitted: auto-replied\r\n"
        "X-Apple-Unsubscribe: true\r\n\r\nApple Mail sent this email to unsubscribe.\r\n"
    ).encode()


def test_unsubscribe_requests_counted_before_no_longer_count(
    ledger_url,  # noqa: F811
    tmp_path: Path,
) -> None:
    ledger = ledger_before(ledger_url, M023)
    try:
        policy = policy_file(tmp_path / "complaints.toml", 50)
        policy.write_text(policy.read_text() + HEALTH)
        box = api.add_mailbox(ledger, BOX, "exmail", timezone=SH, policy=str(policy))
        day = local_day(dt.datetime.now(dt.UTC), SH) - dt.timedelta(days=3)
        ids = {f"lead{i}@example.com": f"<m{i}@corp.example>" for i in range(20)}
        ledger.record(box, sends=[SendIn(r, _noon(day), m) for r, m in ids.items()])
        asked, complained, also = "lead0@example.com", "lead1@example.com", "lead2@example.com"
        at = _noon(day) + dt.timedelta(hours=3)
        _sync_old(ledger, box, [unsubscribe(r) for r in (asked, complained, also)], at)
        # what the writer before the change wrote: each request its send's counted complaint
        with ledger.write() as conn:
            conn.execute(BOUNCE.update().values(counted=True))
            conn.execute(
                DAY_STAT.update()
                .where(DAY_STAT.c.mailbox_id == box.id, DAY_STAT.c.day == day)
                .values(complaint=3)
            )
        # a real complaint about lead1's message, read later: that send's second complaint
        _sync_old(ledger, box, [arf("abuse", ids[complained], complained, 1)], at)
        assert _complaints(ledger, day) == 3  # 3 of 20 sends: paused
        assert api.quotas(ledger, [box], dt.datetime.now(dt.UTC))[0].status == "paused"
    finally:
        ledger.close()

    res = cli("suppress", "list", "--json")  # the upgrade: the first command runs m023
    assert res.returncode == 0, res.stderr
    assert (
        "3 unsubscribe requests of a mail client recorded as complaints no longer count in the "
        "complaint rate (their addresses stay suppressed)"
    ) in res.stderr
    assert sorted(s["address"] for s in json.loads(res.stdout)) == [asked, complained, also]

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        assert _complaints(ledger, day) == 1  # the real complaint, counted now
        assert ledger.rollup_mismatches() == []
        listed = {(b["recipient"], b["diagnostic"][:12]): b["counted"] for b in ledger.bounces(box)}
        assert listed == {
            (asked, "unsubscribe:"): False,
            (complained, "unsubscribe:"): False,
            (also, "unsubscribe:"): False,
            (complained, "abuse: This "): True,
        }, listed
    finally:
        ledger.close()
    q = _quota()
    assert (q["status"], q["complaint_rate"]) == ("ok", 1 / 20), q
