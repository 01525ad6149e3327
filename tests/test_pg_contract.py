"""The ledger contract, run against every backend: SQLite always, PostgreSQL with WARMUP_TEST_PG.

Each test takes ``ledger_url`` (tests/pgkit.py), so it runs once per backend on a fresh ledger;
what must hold is the same on both. The last tests load the same history into both backends at
once and compare the answers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ADDED, at
from tests.gatekit import policy_file
from warmup import Gate, NotAllowed, api
from warmup.gate import Suppressed
from warmup.ledger import BounceIn, MailboxNotFound, migrations, open_ledger
from warmup.ledger.gatepath import Decision, GatePolicy
from warmup.ledger.schema import BOUNCE, BOUNCE_KINDS, DAY_STAT, MIGRATIONS, SEND

pytest_plugins = ["tests.pgkit"]  # fixtures: ledger_url (each backend), pg_url

BOX = "a@corp.example"
DAY = dt.date(2026, 11, 16)


def quota_json(run, url: str, when: dt.datetime, box: str = BOX) -> dict:  # type: ignore[no-untyped-def]
    res = run("quota", box, "--json", "--at", when.isoformat(), "--db", url)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)[0]


def write_log(path: Path, days: int = 20) -> Path:
    """A sending log: 2 mailboxes, ``days`` days, hard/soft bounces, a pause and a resume."""
    start = DAY - dt.timedelta(days=days)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "mailbox",
                "recipient",
                "sent_at",
                "message_id",
                "bounce_kind",
                "bounce_status",
                "bounced_at",
                "provider",
                "event",
                "reason",
            ]
        )
        for k in range(days):
            day = start + dt.timedelta(days=k)
            for box, n in ((BOX, 30 + k), ("b@corp.example", 12)):
                for i in range(n):
                    ts = at(day, 9).add(minutes=3 * i, microseconds=123457)
                    kind = "hard" if i % 17 == 3 else "soft" if i % 23 == 5 else ""
                    w.writerow(
                        [
                            box,
                            f"r{k}-{i}@example{i % 3}.com",
                            ts.isoformat(),
                            f"<{box}-{k}-{i}@x>",
                            kind,
                            "5.1.1" if kind == "hard" else ("4.2.2" if kind else ""),
                            ts.add(minutes=9).isoformat() if kind else "",
                            "exmail",
                            "",
                            "",
                        ]
                    )
            if k == days - 5:
                w.writerow(
                    [
                        "b@corp.example",
                        "",
                        at(day, 18).isoformat(),
                        "",
                        "",
                        "",
                        "",
                        "",
                        "pause",
                        "list review",
                    ]
                )
            if k == days - 3:
                w.writerow(
                    ["b@corp.example", "", at(day, 8).isoformat(), "", "", "", "", "", "resume", ""]
                )
    return path


# -- schema ------------------------------------------------------------------------------------


def test_blank_ledger_is_migrated_once(ledger_url, run):
    ledger = open_ledger(ledger_url)
    assert ledger.pending_migrations() == []
    with ledger.read() as conn:
        names = conn.execute(sa.select(MIGRATIONS.c.name)).scalars().all()
    assert sorted(names) == sorted(migrations.names()) and names
    insp = sa.inspect(ledger.engine)
    cols = {c["name"]: c["type"] for c in insp.get_columns("send")}
    if ledger.engine.dialect.name == "postgresql":  # instants are timestamptz, days are dates
        assert cols["at"].timezone is True and isinstance(cols["at"], sa.DateTime)
        assert isinstance(cols["day"], sa.Date)
    ledger.close()
    res = run("db", "migrate", "--db", ledger_url)
    assert res.exit_code == 0
    assert "nothing to apply" in res.output


def test_db_migrate_applies_and_reports(ledger_url, run):
    res = run("db", "migrate", "--db", ledger_url, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["applied"] == migrations.names() and out["applied"]
    again = json.loads(run("db", "migrate", "--db", ledger_url, "--json").output)
    assert again["applied"] == []


def test_instants_and_days_round_trip(ledger_url):
    ledger = open_ledger(ledger_url)
    box = api.add_mailbox(ledger, BOX, "exmail")  # Asia/Shanghai
    # 23:30 UTC is the next local day in Shanghai; microseconds must survive.
    when = dt.datetime(2026, 11, 15, 23, 30, 1, 654321, tzinfo=dt.UTC)
    api.record_send(ledger, BOX, ["r@example.com"], when, "<m1@x>")
    with ledger.read() as conn:
        row = conn.execute(sa.select(SEND.c.at, SEND.c.day, SEND.c.settled_at)).one()
    assert row.at == when and row.at.utcoffset() == dt.timedelta(0)
    assert row.day == dt.date(2026, 11, 16) and type(row.day) is dt.date
    assert box.created_at.tzinfo is not None
    ledger.close()


# -- through the CLI -----------------------------------------------------------------------------


def test_mailbox_quota_plan_through_the_cli(ledger_url, run):
    res = run("--db", ledger_url, "mailbox", "add", *ADDED, BOX, "--provider", "exmail")
    assert res.exit_code == 0 and res.stdout.startswith(f"Added {BOX} (")
    assert (
        run("mailbox", "add", *ADDED, BOX, "--provider", "exmail", "--db", ledger_url).exit_code
        == 65
    )
    q = quota_json(run, ledger_url, at(DAY))
    assert (q["quota"], q["status"], q["stage"], q["day"], q["sent"]) == (50, "ok", "week 1", 1, 0)
    res = run("plan", BOX, "--days", "9", "--json", "--at", at(DAY).isoformat(), "--db", ledger_url)
    plan = json.loads(res.output)["days"]  # one shape: {"mailboxes", "days", "volume"}
    assert [p["quota"] for p in plan] == [50] * 7 + [100, 105]
    assert plan[-1]["cumulative"] == 50 * 7 + 205
    for cmd in (["mailbox", "set", BOX, "--cap", "40"], ["mailbox", "pause", BOX, "--reason", "x"]):
        assert run(*cmd, "--db", ledger_url).exit_code == 0
    listed = json.loads(run("mailbox", "list", "--json", "--db", ledger_url).output)
    assert [(m["address"], m["cap"]) for m in listed] == [(BOX, 40)]
    now = json.loads(run("quota", BOX, "--json", "--db", ledger_url).output)[0]
    assert now["status"] == "paused"  # the pause was recorded at the real "now"
    assert run("mailbox", "resume", BOX, "--db", ledger_url).exit_code == 0
    assert run("mailbox", "remove", BOX, "--db", ledger_url).exit_code == 0
    assert run("mailbox", "show", BOX, "--db", ledger_url).exit_code == 64


def test_suppress_list_narrows_alike_on_both_backends(ledger_url, run):
    """An @DOMAIN is matched with LIKE, its own characters escaped (PostgreSQL's LIKE is case
    sensitive, SQLite's not: the addresses are stored lower case, the domain asked for too)."""
    added = ["a@example.com", "b@example.com", "c@myexample.com", "d@sub.example.com"]
    assert run("suppress", "add", *added, "--reason", "x", "--db", ledger_url).exit_code == 0

    def listed(*args: str) -> list[str]:
        res = run("suppress", "list", *args, "--json", "--db", ledger_url)
        assert res.exit_code == 0, res.output
        return [s["address"] for s in json.loads(res.stdout)]

    assert listed("@Example.COM") == ["a@example.com", "b@example.com"]
    assert listed("B@example.com") == ["b@example.com"]
    assert listed("--limit", "3") == added[:3]


def test_record_and_import_are_idempotent(ledger_url, run, tmp_path):
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    when = at(DAY, 9).isoformat()
    args = ("record", "send", BOX, "--to", "x@example.com", "--at", when, "--message-id", "<1@x>")
    assert "Recorded 1 send for" in run(*args, "--db", ledger_url).output
    assert "Recorded 0 sends for" in run(*args, "--db", ledger_url).output
    bounce = ("record", "bounce", BOX, "--to", "x@example.com", "--kind", "hard", "--at", when)
    assert "Recorded a hard bounce" in run(*bounce, "--db", ledger_url).output
    assert "Already recorded." in run(*bounce, "--db", ledger_url).output
    log = write_log(tmp_path / "log.csv", days=5)
    first = run("import", str(log), "--db", ledger_url)
    assert first.exit_code == 0, first.output
    assert "Registered 1 new mailbox and 2 pause/resume events" in first.output
    second = run("import", str(log), "--db", ledger_url)
    assert "Imported 0 new sends and 0 new bounces" in second.output
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        sends = conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar_one()
    assert sends == 1 + sum(30 + k + 12 for k in range(5))
    ledger.close()


# -- the gate ------------------------------------------------------------------------------------


def test_reserve_settle_release(ledger_url, tmp_path):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "p.toml", daily=3)))
    now = at(DAY, 10)
    with Gate(BOX, ledger=ledger) as gate:
        first = gate.reserve(["one@example.com", "two@example.com"], "<m1@x>", now=now)
        assert gate.allowance(now).remaining == 1  # reserved slots count at once
        first.settle({"one@example.com": "sent", "two@example.com": "released"}, now=now)
        assert gate.allowance(now).remaining == 2  # a released slot stops counting
        gate.reserve(["three@example.com"], "<m2@x>", now=now).settle("hard", now=now)
        gate.reserve(["four@example.com"], "<m3@x>", now=now).settle("sent", now=now)
        with pytest.raises(NotAllowed) as refused:
            gate.reserve(["five@example.com"], "<m4@x>", now=now)
        assert refused.value.allowance.remaining == 0 and refused.value.exit_code == 75
        with pytest.raises(Suppressed):  # the hard bounce suppressed three@
            gate.reserve(["three@example.com"], "<m5@x>", now=now)
    with ledger.read() as conn:
        outcomes = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome)).all())
        kinds = conn.execute(sa.select(BOUNCE.c.kind, BOUNCE.c.send_id)).all()
    assert outcomes == {
        "one@example.com": "sent",
        "two@example.com": "released",
        "three@example.com": "hard",
        "four@example.com": "sent",
    }
    assert [k for k, _ in kinds] == ["hard"] and kinds[0][1] is not None
    ledger.close()


def test_a_gate_whose_mailbox_was_removed_meanwhile_refuses_in_one_line(ledger_url, run):
    """A long-lived gate (a relay, a worker, a script) whose mailbox another process removed:
    its next reservation crashed with "TypeError: cannot unpack non-iterable NoneType" (the
    mailbox's row was gone). It is refused as a mailbox not found (64), in a transaction rolled
    back: the ledger takes writes at once."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.close()
    now = at(DAY, 10)
    with Gate(BOX, db=ledger_url) as gate:
        gate.reserve(["one@example.com"], "<m1@x>", now=now).settle("sent", now=now)
        assert run("mailbox", "remove", BOX, "--force", "--db", ledger_url).exit_code == 0
        with pytest.raises(MailboxNotFound) as gone:
            gate.reserve(["two@example.com"], "<m2@x>", now=now)
        assert gone.value.exit_code == 64
        assert str(gone.value).startswith(f"mailbox {BOX!r} not found; ")
        res = run("mailbox", "add", "b@corp.example", "--provider", "exmail", "--db", ledger_url)
        assert res.exit_code == 0, res.output
        # Added again under its address (a new id): the gate follows it; it said "not found".
        res = run("mailbox", "add", BOX, "--provider", "exmail", "--db", ledger_url)
        assert res.exit_code == 0, res.output
        gate.reserve(["two@example.com"], "<m2@x>", now=now).settle("sent", now=now)
    ledger = open_ledger(ledger_url)
    box = ledger.mailbox(BOX)
    with ledger.engine.connect() as conn:
        got = conn.execute(sa.select(SEND.c.mailbox_id, SEND.c.recipient)).all()
    assert [tuple(r) for r in got] == [(box.id, "two@example.com")]
    ledger.close()


def test_released_slot_retried_and_duplicate_refused(ledger_url, tmp_path):
    from warmup.errors import DataError

    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "p.toml", daily=9)))
    now = at(DAY, 10)
    with Gate(BOX, ledger=ledger) as gate:
        first = gate.reserve(["a@example.com", "b@example.com"], "<m1@x>", now=now)
        first.settle("released", now=now)
        again = gate.reserve(["a@example.com", "b@example.com"], "<m1@x>", now=now)
        # each try has slots of its own (newer ids: the latest try is the newest slot); the
        # released ones stay, uncounted
        assert min(again.ids.values()) > max(first.ids.values())
        again.settle("sent", now=now)
        with pytest.raises(DataError, match="already sent to b@example.com"):
            gate.reserve(["c@example.com", "b@example.com"], "<m1@x>", now=now)
        assert gate.allowance(now).sent == 2
    with ledger.read() as conn:  # the refused message wrote nothing, c@ included
        got = conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome).order_by(SEND.c.id)).all()
        assert [tuple(r) for r in got] == [
            ("a@example.com", "released"),
            ("b@example.com", "released"),
            ("a@example.com", "sent"),
            ("b@example.com", "sent"),
        ]
        assert conn.execute(sa.select(DAY_STAT.c.sent)).scalar_one() == 2
    ledger.close()


def test_expired_reservation_stays_counted(ledger_url, tmp_path):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "p.toml", daily=5)))
    t0 = at(DAY, 10)
    crashed = Gate(BOX, ledger=ledger)
    crashed.reserve(["lost@example.com"], "<m1@x>", now=t0)  # never settled: the process "died"
    crashed.close()  # lets go of its connection; closing a gate settles no open reservation
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["next@example.com"], "<m2@x>", now=t0.add(minutes=20)).settle("sent")
        assert gate.allowance(t0.add(minutes=21)).sent == 2
    with ledger.read() as conn:
        assert (
            conn.execute(
                sa.select(SEND.c.outcome).where(SEND.c.recipient == "lost@example.com")
            ).scalar_one()
            == "unknown"
        )
    ledger.close()


# -- bounces, suppressions, events, rollup -----------------------------------------------------


def test_suppression_list_and_remove(ledger_url, run):
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    assert (
        run("suppress", "add", "no@example.com", "--reason", "asked", "--db", ledger_url).exit_code
        == 0
    )
    listed = json.loads(run("suppress", "list", "--json", "--db", ledger_url).output)
    assert [s["address"] for s in listed] == ["no@example.com"]
    ledger = open_ledger(ledger_url)
    assert set(ledger.suppressed(["no@example.com", "yes@example.com"])) == {"no@example.com"}
    # a second suppression of one address is a no-op
    assert ledger.suppress(["no@example.com"], "hard", "again", at=at(DAY)) == 0
    assert ledger.suppressed(["no@example.com"]) == {"no@example.com": "manual: asked"}
    ledger.close()
    assert run("suppress", "remove", "no@example.com", "--db", ledger_url).exit_code == 0
    assert json.loads(run("suppress", "list", "--json", "--db", ledger_url).output) == []


def test_a_long_suppression_list_is_written_in_a_few_statements(ledger_url):
    """10,000 addresses at once (a list exported from a CRM) used to be one INSERT each inside
    the write transaction: about 1 ms apiece, so 100,000 held the write lock for nearly two
    minutes and every send meanwhile gave up (exit 75). Now a handful of batched statements."""
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    ledger.suppress(["u7@bulk.example"], "hard", "bounced")
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(ledger.engine, "before_cursor_execute", count)
    try:
        wanted = [f"u{i}@bulk.example" for i in range(10_000)] + ["u8@bulk.example"]
        added = api.suppress(ledger, wanted, "unsubscribed")
    finally:
        sa.event.remove(ledger.engine, "before_cursor_execute", count)
    assert added == 9_999  # u7 was suppressed already, u8 is given twice
    assert len(statements) < 50, len(statements)
    listed = {s["address"]: s for s in ledger.suppressions()}
    assert len(listed) == 10_000
    assert (listed["u7@bulk.example"]["kind"], listed["u7@bulk.example"]["reason"]) == (
        "hard",
        "bounced",
    )
    assert (listed["u9999@bulk.example"]["kind"], listed["u9@bulk.example"]["reason"]) == (
        "manual",
        "unsubscribed",
    )
    ledger.close()


def test_bounce_matching(ledger_url):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    api.record_send(ledger, BOX, ["r@example.com"], at(DAY, 9), "<old@x>")
    api.record_send(ledger, BOX, ["r@example.com"], at(DAY, 11), "<new@x>")
    api.record_send(ledger, BOX, ["s@example.com"], at(DAY, 11), "<new@x>")
    box = ledger.mailbox(BOX)
    with ledger.read() as conn:
        sent_at = dict(conn.execute(sa.select(SEND.c.id, SEND.c.at)).all())

    def matched(key: str, when: dt.datetime, message_id: str | None = None) -> int | None:
        """The send a bounce recorded now is linked to (its id), by the ledger's matching."""
        ledger.record(
            box, bounces=[BounceIn("r@example.com", "soft", when, key, message_id=message_id)]
        )
        with ledger.read() as conn:
            return conn.execute(sa.select(BOUNCE.c.send_id).where(BOUNCE.c.key == key)).scalar_one()

    by_id = matched("b1", at(DAY, 12), "<old@x>")
    assert sent_at[by_id] == at(DAY, 9)
    latest = matched("b2", at(DAY, 12))
    assert sent_at[latest] == at(DAY, 11) and latest != by_id
    assert sent_at[matched("b3", at(DAY, 10))] == at(DAY, 9)
    assert matched("b4", at(DAY + dt.timedelta(days=31), 12)) is None
    ledger.close()


def test_rollup_equals_group_by_over_raw_rows(ledger_url, run, tmp_path):
    assert run("import", str(write_log(tmp_path / "log.csv")), "--db", ledger_url).exit_code == 0
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        rolled = {
            (r.mailbox_id, r.day): (r.sent, r.hard, r.soft, r.block, r.complaint)
            for r in conn.execute(sa.select(DAY_STAT))
        }
        raw: dict[tuple[int, dt.date], list[int]] = {}
        for m, d, n in conn.execute(
            sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count())
            .where(SEND.c.outcome != "released")
            .group_by(SEND.c.mailbox_id, SEND.c.day)
        ):
            raw.setdefault((m, d), [0] * 5)[0] = n
        # Only counted bounces (matched to a send of the mailbox, the first of it) are in the
        # rollup: issue #10 item 1.
        for m, d, k, n in conn.execute(
            sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, sa.func.count())
            .where(BOUNCE.c.counted)
            .group_by(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
        ):
            raw.setdefault((m, d), [0] * 5)[1 + BOUNCE_KINDS.index(k)] = n
    assert rolled == {k: tuple(v) for k, v in raw.items()}
    assert sum(v[1] for v in rolled.values()) > 0 and len(rolled) == 40
    ledger.close()


def test_events_pause_and_resume(ledger_url):
    ledger = open_ledger(ledger_url)
    api.add_mailbox(ledger, BOX, "exmail")
    api.pause(ledger, BOX, "list review", at=at(DAY, 9))
    paused = api.quota(ledger, BOX, at(DAY, 10))
    assert paused.status == "paused" and paused.quota == 0 and not paused.can_send
    api.resume(ledger, BOX, at=at(DAY, 11))
    assert api.quota(ledger, BOX, at(DAY, 12)).status == "ok"
    assert api.quota(ledger, BOX, at(DAY, 10)).status == "paused"  # --at cuts the history
    ledger.close()


# -- the same history on both backends gives the same answers ---------------------------------


@pytest.mark.slow
def test_same_history_same_answers_on_both_backends(run, tmp_path, ledger_path, pg_url):
    log = write_log(tmp_path / "log.csv")
    lite = f"sqlite:///{ledger_path}"
    for url in (lite, pg_url):
        assert run("import", str(log), "--db", url).exit_code == 0
        assert (
            run(
                "record",
                "send",
                BOX,
                "--to",
                "late@example.com",
                "--at",
                at(DAY, 8).isoformat(),
                "--db",
                url,
            ).exit_code
            == 0
        )
    for when in (at(DAY, 7), at(DAY, 12), at(DAY - dt.timedelta(days=4), 20)):
        for box in (BOX, "b@corp.example"):
            assert quota_json(run, lite, when, box) == quota_json(run, pg_url, when, box)
    plans = [
        run("plan", BOX, "--json", "--at", at(DAY).isoformat(), "--db", u).output
        for u in (lite, pg_url)
    ]
    assert json.loads(plans[0]) == json.loads(plans[1])
    assert quota_json(run, pg_url, at(DAY, 12))["sent"] == 1


def test_unreachable_server_exits_69_and_hides_the_password(run, monkeypatch):
    monkeypatch.setenv("WARMUP_DB", "postgresql+psycopg://warmup:s3cret-pw@127.0.0.1:1/none")
    res = run("quota")
    assert res.exit_code == 69
    assert res.output.startswith("Error: ledger postgresql+psycopg://warmup:***@127.0.0.1:1/none")
    assert "s3cret-pw" not in res.output


class _Look(Exception):
    """Refuses a reservation once its history has been seen: nothing is written."""


@pytest.mark.slow
def test_gate_fast_paths_agree_with_core_statements(ledger_url, run, tmp_path):
    # The gate's own path (raw sqlite3 on SQLite, pipelined psycopg on PostgreSQL) must read
    # exactly what the Core statements of the reference (tests/reference.py) read.
    from tests.reference import ReferenceGate

    assert run("import", str(write_log(tmp_path / "log.csv")), "--db", ledger_url).exit_code == 0
    ledger = open_ledger(ledger_url)
    api.pause(ledger, BOX, "throttled", at=at(DAY, 7))

    def seen(session, when: dt.datetime):  # type: ignore[no-untyped-def]
        got = []

        def decide(hist, bad, now, rev):  # type: ignore[no-untyped-def]
            got.append((hist, bad, now))
            return Decision(_Look())

        with pytest.raises(_Look):
            session.reserve(
                ["x@example.com", "r0-3@example0.com"], "<look@x>", decide, lambda: when
            )
        session.close()
        return got[0]

    policy = GatePolicy("", 0, False)
    expiry = dt.timedelta(minutes=15)
    for address in (BOX, "b@corp.example"):
        box = ledger.mailbox(address)
        for when in (at(DAY, 12), at(DAY - dt.timedelta(days=6), 9)):
            fast = seen(ledger.gate(box, policy, expiry), when)
            core = seen(ReferenceGate(ledger, box, policy, expiry), when)
            assert fast == core
            assert fast[0].days and fast[0].last_send_at is not None
            assert fast[1] == {"r0-3@example0.com": "hard: hard bounce 5.1.1"}
    b = ledger.mailbox("b@corp.example")
    assert seen(ledger.gate(b, policy, expiry), at(DAY, 12))[0].events
    with ledger.read() as conn:  # refused every time: nothing was reserved
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(SEND).where(SEND.c.message_id == "<look@x>")
            ).scalar_one()
            == 0
        )
    ledger.close()


def test_a_thread_goes_to_the_member_that_last_sent_one_of_its_message_ids(ledger_url):
    ledger = open_ledger(ledger_url)
    try:
        a, b, c = (
            api.add_mailbox(ledger, box, "exmail")
            for box in ("a@corp.example", "b@corp.example", "c@corp.example")
        )
        day = dt.date(2026, 11, 10)
        api.record_send(ledger, a.address, ["r1@example.com"], at(day, 9), "<one@corp.example>")
        api.record_send(ledger, b.address, ["r2@example.com"], at(day, 10), "<two@corp.example>")
        api.record_send(ledger, c.address, ["r3@example.com"], at(day, 11), "<three@corp.example>")
        members = [a.id, b.id]
        assert ledger.thread_sender(["<one@corp.example>"], members) == a.id
        # Several named: the latest send among the members wins; c is not a member.
        both = ["<one@corp.example>", "<two@corp.example>", "<three@corp.example>"]
        assert ledger.thread_sender(both, members) == b.id
        assert ledger.thread_sender(["<three@corp.example>"], members) is None
        assert ledger.thread_sender(["<nobody@corp.example>"], members) is None
        assert ledger.thread_sender([], members) is None
    finally:
        ledger.close()


def test_a_message_id_over_998_octets_is_refused_before_anything_is_written(
    ledger_url, run, tmp_path
):
    """A Message-ID's bound was counted in characters: 950 CJK ones (2,850 octets) passed the
    check of the whole file, then PostgreSQL's index refused the row as its batch was written,
    exit 69 with the batches before it committed (SQLite took it). Both backends now refuse
    the file at that line, exit 65, nothing written; ``record send`` alike."""
    import random

    pick = random.Random(7)
    long_id = "<" + "".join(chr(pick.randrange(0x4E00, 0x9FA5)) for _ in range(950)) + "@x>"
    rows = [
        f"{BOX},r{i}@example.com,2026-11-01T09:{i % 60:02d}:{i // 60:02d}Z," for i in range(2100)
    ]
    rows[-1] += long_id
    log = tmp_path / "log.csv"
    log.write_text("mailbox,recipient,sent_at,message_id\n" + "\n".join(rows) + "\n")
    assert run("mailbox", "add", BOX, "--provider", "exmail", "--db", ledger_url).exit_code == 0
    res = run("import", str(log), "--db", ledger_url)
    assert res.exit_code == 65, res.output
    assert res.output == (
        f"Error: {log}: line 2101: message_id: {len(long_id.encode())} octets in UTF-8; at "
        "most 998 are kept (a header line's length)\n"
    )
    when = at(DAY, 9).isoformat()
    res = run("record", "send", BOX, "--to", "x@example.com", "--at", when, "--message-id",
              long_id, "--db", ledger_url)  # fmt: skip
    assert res.exit_code == 65 and "2854 octets in UTF-8" in res.output, res.output
    ledger = open_ledger(ledger_url)
    with ledger.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SEND)).scalar_one() == 0
    ledger.close()


def test_db_migrate_says_what_it_applied_and_all_there_are(ledger_url, run):
    # Racing runs said "29 migrations applied" (the winner: one was applied before it) and
    # "30 already applied" (the others), as if they disagreed on how many there are.
    old = open_ledger(ledger_url, migrate=False)
    old.migrate(upto="m001_initial")
    old.close()
    total = len(migrations.names())
    res = run("db", "migrate", "--db", ledger_url)
    assert res.exit_code == 0, res.output
    assert res.output.endswith(
        f" is up to date ({total - 1} migrations applied now, {total} in all).\n"
    ), res.output
    again = run("db", "migrate", "--db", ledger_url)
    assert again.output.endswith(
        f" is up to date; nothing to apply (all {total} migrations applied already).\n"
    ), again.output
