"""A domain cap shared by several mailboxes must not stall their warm-up.

Under ``domain_cap`` the gate lets every mailbox of a domain send that many a day between them;
a day counts toward a mailbox's warm-up when it sent ``qualify`` of what it could deliver. What
it could deliver is also limited by what the domain's other mailboxes left it that day: three
mailboxes of quota 80 sharing a cap of 100 send ~33 each, and if each needed 40 (half of 80)
none would ever qualify and the warm-up would stall forever.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from tests.conftest import SH, at
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup.ledger.values import local_day

TODAY = dt.date(2026, 11, 16)  # a Monday
BOXES = ("a@corp.example", "b@corp.example", "c@corp.example")
SHARED = """
name = "shared"
ceiling = 300
growth_factor = 2.0
domain_cap = 100

[[stage]]
name = "start"
days = 7
daily = 80
interval = ["1m", "2m"]

[[stage]]
name = "ramp"
days = 14
daily = [100, 200]
interval = ["1m", "2m"]

[[stage]]
name = "stable"
days = 0
daily = 300
interval = ["30s", "1m"]

[health]
window_days = 7
min_sample = 20
hold_above = 0.03
step_back_above = 0.05
pause_above = 0.10
"""


def setup(run, tmp_path: Path, per_day: dict[str, list[int]], first: dt.date) -> None:
    """The three mailboxes under the shared policy, with ``per_day[box][k]`` sends on day
    ``first + k`` imported as the log a sending script would leave (one a minute from 09:00)."""
    policy = tmp_path / "shared.toml"
    policy.write_text(SHARED)
    for box in BOXES:
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy))
        assert res.exit_code == 0, res.output
    lines = ["mailbox,recipient,sent_at"]
    for b, box in enumerate(BOXES):
        for k, n in enumerate(per_day[box]):
            day = first + dt.timedelta(days=k)
            for i in range(n):
                t = at(day, 9 + b * 2, 0) + dt.timedelta(minutes=i)
                lines.append(f"{box},r{b}-{k}-{i}@example.com,{t.isoformat()}")
    log = tmp_path / "log.csv"
    log.write_text("\n".join(lines) + "\n")
    res = run("import", str(log))
    assert res.exit_code == 0, res.output


def quota(run, box: str, when: dt.datetime) -> dict:
    res = run("quota", box, "--json", "--at", when.isoformat())
    assert res.exit_code == 0, res.output
    return json.loads(res.output)[0]


def test_mailboxes_sharing_a_domain_cap_each_sending_their_share_warm_up(run, tmp_path):
    """Three mailboxes of quota 80 share a domain cap of 100: 33, 33 and 34 a day, the whole
    cap, for 10 days. Each sent all the domain left it, so each day counts: warm-up day 11,
    stage "ramp". Before the fix each needed 40 (half of 80) and stayed on day 1 forever."""
    first = TODAY - dt.timedelta(days=10)
    setup(run, tmp_path, {"a@corp.example": [33] * 10, "b@corp.example": [33] * 10,
                          "c@corp.example": [34] * 10}, first)  # fmt: skip
    for box in BOXES:
        q = quota(run, box, at(TODAY, 8))
        assert (q["day"], q["stage"]) == (11, "ramp"), (box, q)
        assert not [r for r in q["reasons"] if "too little sent" in r], q["reasons"]
    # the same answer from 'warmup quota' for every mailbox at once (the batch read)
    res = run("quota", "--json", "--at", at(TODAY, 8).isoformat())
    assert res.exit_code == 0, res.output
    assert {q["mailbox"]: (q["day"], q["stage"]) for q in json.loads(res.output)} == {
        box: (11, "ramp") for box in BOXES
    }


def test_a_trickle_under_a_domain_that_did_not_reach_its_cap_does_not_count(run, tmp_path):
    """The domain's others left c@ 60 of the cap (they sent 20 each), c@ sent 20: less than half
    of the 60 it could deliver, so c@'s days do not count (a trickle does not graduate); a@ and
    b@ sent 20 of 80 each, nor do theirs."""
    first = TODAY - dt.timedelta(days=10)
    setup(run, tmp_path, {box: [20] * 10 for box in BOXES}, first)
    for box in BOXES:
        q = quota(run, box, at(TODAY, 8))
        assert (q["day"], q["stage"]) == (1, "start"), (box, q)
    c = quota(run, "c@corp.example", at(TODAY, 8))
    assert any("(20 of 60 sent)" in r for r in c["reasons"]), c["reasons"]


def memo_upto(path: Path, box: str) -> dt.date | None:
    """The day of ``box``'s walk memo, if one is kept and current (at the mailbox's rev)."""
    con = sqlite3.connect(path)
    try:
        row = con.execute(
            "SELECT w.upto FROM walk_memo w JOIN mailbox m ON m.id = w.mailbox_id "
            "WHERE m.address = ? AND w.rev = m.rev",
            (box,),
        ).fetchone()
    finally:
        con.close()
    return dt.date.fromisoformat(row[0]) if row else None


def wall_clock() -> tuple[dt.datetime, dt.date]:
    """Now and today by the wall clock: walk memos are kept only for days before yesterday by
    it (``Ledger.real_today``), so a test of their reuse lives on the real calendar."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return now, local_day(now, SH)


def test_a_later_import_of_a_sibling_moves_a_mailbox_on_from_its_memo(run, tmp_path, ledger_path):
    """a@ and b@ sent 33 a day: the cap left a@ 67, it sent 33, under half: day 1, and its walk
    memo kept. c@'s log of the same days, imported later, says the domain reached its cap on
    each: a@ sent all it was left, so every day counts. a@'s memo, computed without c@'s
    sends, must not be resumed (c@'s import moved the revision of its domain's mailboxes)."""
    now, today = wall_clock()
    first = today - dt.timedelta(days=10)
    setup(run, tmp_path, {"a@corp.example": [33] * 10, "b@corp.example": [33] * 10,
                          "c@corp.example": [0] * 10}, first)  # fmt: skip
    assert quota(run, "a@corp.example", now)["day"] == 1
    assert memo_upto(ledger_path, "a@corp.example") == today - dt.timedelta(days=1)
    lines = ["mailbox,recipient,sent_at"]
    for k in range(10):
        for i in range(34):
            t = at(first + dt.timedelta(days=k), 14, 0) + dt.timedelta(minutes=i)
            lines.append(f"c@corp.example,late{k}-{i}@example.com,{t.isoformat()}")
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n")
    assert run("import", str(tmp_path / "c.csv")).exit_code == 0
    q = quota(run, "a@corp.example", now)
    assert (q["day"], q["stage"]) == (11, "ramp"), q


def test_a_back_dated_send_of_a_sibling_moves_a_mailbox_on_from_its_memo(
    run, tmp_path, ledger_path
):
    """As above with ``warmup record send --at`` on one past day: c@ sent nothing 5 days ago, so
    a@'s 33 of the 67 left did not count (day 10); a@'s memo (of yesterday) is kept. c@'s 34
    sends of that day, recorded later, fill the cap: a@ is on day 11, not the memo's 10."""
    now, today = wall_clock()
    first = today - dt.timedelta(days=10)
    c = [34] * 10
    c[5] = 0
    setup(run, tmp_path, {"a@corp.example": [33] * 10, "b@corp.example": [33] * 10,
                          "c@corp.example": c}, first)  # fmt: skip
    before = quota(run, "a@corp.example", now)
    assert before["day"] == 10, before
    assert memo_upto(ledger_path, "a@corp.example") == today - dt.timedelta(days=1)
    day = first + dt.timedelta(days=5)
    to = [x for i in range(34) for x in ("--to", f"late{i}@example.com")]
    res = run("record", "send", "c@corp.example", *to, "--at", at(day, 15).isoformat())
    assert res.exit_code == 0, res.output
    q = quota(run, "a@corp.example", now)
    assert (q["day"], q["stage"]) == (11, "ramp"), q


def test_the_report_walks_the_shared_cap_as_quota_does(run, tmp_path, ledger_path):
    """``reports.daily`` (the report's own walk, with and without its memos) counts the days a
    mailbox sent what the domain cap left it, as ``warmup quota`` does: a@ is on warm-up day
    11 today; and after c@'s back-dated sends change a past day, the report's memo of a@ is not
    resumed."""
    from warmup import reports
    from warmup.ledger import open_ledger

    now, today = wall_clock()
    first = today - dt.timedelta(days=10)
    c = [34] * 10
    c[5] = 0
    setup(run, tmp_path, {"a@corp.example": [33] * 10, "b@corp.example": [33] * 10,
                          "c@corp.example": c}, first)  # fmt: skip

    def report_day(cache: bool = True) -> int:
        ledger = open_ledger(str(ledger_path))
        try:
            frame = reports.daily(ledger, ["a@corp.example"], at=now, cache=cache)
        finally:
            ledger.close()
        return int(frame["warmup_day"].iloc[-1])

    assert report_day() == quota(run, "a@corp.example", now)["day"] == 10
    assert report_day() == 10  # from the report's memo
    day = first + dt.timedelta(days=5)
    to = [x for i in range(34) for x in ("--to", f"late{i}@example.com")]
    res = run("record", "send", "c@corp.example", *to, "--at", at(day, 15).isoformat())
    assert res.exit_code == 0, res.output
    assert report_day() == report_day(cache=False) == quota(run, "a@corp.example", now)["day"]
    assert report_day() == 11


def test_the_gate_reads_what_the_domain_s_others_sent_on_both_backends(ledger_url, run, tmp_path):  # noqa: F811
    """The reservation's own read (SQLite's driver-level path, PostgreSQL's one statement)
    gives the walk what the domain's others sent each past day, and resumes a walk memo only
    while they are unchanged: the history it decides on puts a@ on day 11, before and after a
    memo is kept, as ``warmup quota`` does; after c@'s back-dated sends the memo of before is
    not resumed."""
    from warmup.gate import Gate

    now, today = wall_clock()
    first = today - dt.timedelta(days=10)
    c = [34] * 10
    c[5] = 0
    setup(run, tmp_path, {"a@corp.example": [33] * 10, "b@corp.example": [33] * 10,
                          "c@corp.example": c}, first)  # fmt: skip

    def gate_day() -> tuple[int, object]:
        return _gate_look(Gate("a@corp.example", db=ledger_url), now)

    assert gate_day()[0] == quota(run, "a@corp.example", now)["day"] == 10
    day, memo = gate_day()
    assert day == 10 and memo is not None  # resumed from the memo it kept
    to = [x for i in range(34) for x in ("--to", f"late{i}@example.com")]
    when = at(first + dt.timedelta(days=5), 15).isoformat()
    assert run("record", "send", "c@corp.example", *to, "--at", when).exit_code == 0
    assert gate_day()[0] == quota(run, "a@corp.example", now)["day"] == 11


def test_a_memo_never_covers_a_day_a_sibling_far_behind_still_sends_on(run, tmp_path, ledger_path):
    """b@ in UTC+14 (Kiritimati) and s@ in UTC-11 (Pago Pago) share the cap: at 10:50 UTC b@
    is on Nov 17 and s@ still on Nov 15. b@ sent 30 on Nov 15, s@ 30 by then: the cap left b@
    70, 30 is under half. s@'s 30 more that evening (its today: no rev move) leave b@ 40, and
    its 30 count. The memo of b@'s yesterday covered Nov 15 and was resumed with the stale
    answer (day 11, where a walk without it says 12), by ``warmup quota``, the gate and the
    report."""
    from zoneinfo import ZoneInfo

    from warmup import api
    from warmup.gate import Gate
    from warmup.ledger import SendIn, open_ledger

    policy = tmp_path / "shared.toml"
    policy.write_text(SHARED)
    kiri, pago = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")
    for box, tz in (("b@corp.example", kiri), ("s@corp.example", pago)):
        res = run("mailbox", "add", box, "--provider", "exmail", "--policy", str(policy),
                  "--timezone", str(tz))  # fmt: skip
        assert res.exit_code == 0, res.output
    lines = ["mailbox,recipient,sent_at"]
    for k in range(6, 17):  # b@: 40 a day (30 on Nov 15), s@: 60 a day (30 on Nov 15)
        for box, tz, n in (("b@corp.example", kiri, 40), ("s@corp.example", pago, 60)):
            t = dt.datetime(2026, 11, k, 9, tzinfo=tz)
            for i in range(30 if k == 15 else n):
                sent = (t + dt.timedelta(minutes=i)).astimezone(dt.UTC).isoformat()
                lines.append(f"{box},{box[0]}{k}-{i}@example.com,{sent}")
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    assert run("import", str(tmp_path / "log.csv")).exit_code == 0
    now = dt.datetime(2026, 11, 16, 10, 50, tzinfo=dt.UTC)

    def opened():  # type: ignore[no-untyped-def]
        ledger = open_ledger(str(ledger_path))
        ledger.clock = lambda: now  # the wall clock memos are kept by
        return ledger

    con = sqlite3.connect(ledger_path)
    con.execute("DELETE FROM walk_memo")  # the import's, kept by today's real clock
    con.commit()
    con.close()

    def quota_day() -> int:
        ledger = opened()
        try:
            return api.quota(ledger, "b@corp.example", now).day
        finally:
            ledger.close()

    def gate_day() -> int:
        ledger = opened()
        try:
            return _gate_look(Gate("b@corp.example", ledger=ledger), now)[0]
        finally:
            ledger.close()

    def report_day() -> int:
        from warmup import reports

        ledger = opened()
        try:
            frame = reports.daily(ledger, ["b@corp.example"], at=now)
        finally:
            ledger.close()
        return int(frame["warmup_day"].iloc[-1])

    assert quota_day() == 11
    assert gate_day() == 11
    assert report_day() == 11
    ledger = opened()
    try:
        late = dt.datetime(2026, 11, 15, 23, 0, tzinfo=pago)
        sends = [SendIn(f"late{i}@example.com", late + dt.timedelta(seconds=i)) for i in range(30)]
        ledger.record(ledger.mailbox("s@corp.example"), sends=sends)
    finally:
        ledger.close()
    assert quota_day() == 12
    assert gate_day() == 12
    assert report_day() == 12


def _gate_look(gate, now: dt.datetime) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    """The warm-up day (and the walk memo it resumed from) the gate's own reservation read
    decides on at ``now``, nothing reserved; the gate closed after."""
    from warmup.ledger.gatepath import Decision
    from warmup.policy import evaluate

    seen = []

    def decide(hist, bad, at_, rev):  # type: ignore[no-untyped-def]
        a = evaluate(gate.spec, hist, at_)
        seen.append((a.day, hist.memo))
        return Decision(RuntimeError("look only"), a.memo)

    try:
        gate._db.reserve(["x@example.com"], "<look@x>", decide, lambda: now)
    except RuntimeError:
        pass
    finally:
        gate.close()
    return seen[0]
