"""Gate.reserve's pipelined PostgreSQL transaction (warmup/ledger/pgpath.py: gate_read,
gate_write) reads what the Core statements read, and fails cleanly."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from tests.test_fastpath import BOX, T0, fill
from warmup import Gate, NotAllowed, api, open_ledger
from warmup import gate as gate_module
from warmup.errors import Unavailable
from warmup.ledger import pgpath, store
from warmup.ledger.store import SEND


def test_gate_read_equals_core_history_and_suppression(pg_url):  # noqa: F811
    for seed in (3, 11, 29):
        ledger, box = fill(seed, pg_url)
        with ledger.read() as conn:
            listed = sorted(store.suppressed(conn, [f"r{k}@example.com" for k in range(400)]))
        asked = [*listed[:3], "nobody@example.com"]
        with Gate(BOX, ledger=ledger) as gate:
            gate._conn = ledger.connect_for_writes()
            pg = pgpath.driver(gate._conn)
            for hours in (0, 5 * 24 + 7, 19 * 24 + 23, 40 * 24):
                when = T0 + dt.timedelta(hours=hours)
                bad, rows, last, events = pgpath.gate_read(pg, box.id, asked, [])
                fast = gate._pg_history(pg, when, rows, last, events)
                pg.rollback()
                with ledger.read() as conn:
                    core = store.history(ledger, box, when, conn=conn, everything=True,
                                         fast=False, provider_ceiling=gate.provider.daily_limit,
                                         provider_min_interval=gate.provider.min_interval)
                    assert bad == store.suppressed(conn, asked)
                assert fast == core
        with ledger.write() as conn:  # the next seed starts from an empty schema
            for table in ("bounce", "send", "event", "day_stat", "suppression", "mailbox"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
        ledger.close()


def flat(url: str, tmp_path) -> tuple[object, store.MailboxRow]:  # type: ignore[no-untyped-def]
    ledger = open_ledger(url)
    box = api.add_mailbox(ledger, BOX, "exmail",
                          policy=str(policy_file(tmp_path / "flat.toml", daily=50)))
    return ledger, box


def test_deferred_settlements_are_written_together_by_the_next_reservation(pg_url, tmp_path):  # noqa: F811
    ledger, box = flat(pg_url, tmp_path)
    now = T0 + dt.timedelta(days=25)
    with Gate(BOX, ledger=ledger) as gate:
        slots = [gate.reserve([f"n{i}@example.com", f"m{i}@example.com"], f"<n{i}@x>", now=now)
                 for i in range(3)]
        for i, slot in enumerate(slots):
            slot.settle("sent", now=now + dt.timedelta(seconds=i))
        assert len(gate._deferred) == 6
        gate.reserve(["last@example.com"], "<last@x>", now=now)  # writes the six
        assert gate._deferred == []
        with ledger.read() as conn:
            got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.settled_at).where(
                SEND.c.message_id.like("<n%"), SEND.c.outcome == "sent")).all())
        assert got == {f"{p}{i}@example.com": now + dt.timedelta(seconds=i)
                       for i in range(3) for p in "nm"}
    ledger.close()


def test_a_failure_inside_the_transaction_releases_the_lock(pg_url, tmp_path,  # noqa: F811
                                                            monkeypatch):
    ledger, box = flat(pg_url, tmp_path)
    now = T0 + dt.timedelta(days=25)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=now).settle("sent", now=now)

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("policy failed")

        with monkeypatch.context() as m:
            m.setattr(gate_module, "evaluate", boom)
            with pytest.raises(RuntimeError):
                gate.reserve(["b@example.com"], "<b@x>", now=now)
        assert len(gate._deferred) == 1  # rolled back: still to be written
        with ledger.write() as conn:  # nobody holds the mailbox's row
            conn.exec_driver_sql(f"SELECT id FROM mailbox WHERE id = {box.id} FOR UPDATE NOWAIT")
        gate.reserve(["c@example.com"], "<c@x>", now=now)
        assert gate._deferred == []
    with ledger.read() as conn:
        got = dict(conn.execute(sa.select(SEND.c.recipient, SEND.c.outcome).where(
            SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"]))).all())
    assert got == {"a@example.com": "sent", "c@example.com": "reserved"}
    ledger.close()


def test_a_dropped_connection_is_unavailable_then_replaced(pg_url, tmp_path):  # noqa: F811
    ledger, _ = flat(pg_url, tmp_path)
    now = T0 + dt.timedelta(days=25)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=now)
        pid = gate._pg.info.backend_pid
        with ledger.write() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(Unavailable):
            gate.reserve(["b@example.com"], "<b@x>", now=now)
        assert gate._pg is None
        gate.reserve(["c@example.com"], "<c@x>", now=now)  # a new connection
    with ledger.read() as conn:
        assert sorted(conn.execute(sa.select(SEND.c.recipient).where(
            SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"]))).scalars()) == [
            "a@example.com", "c@example.com"]
    assert psycopg  # the driver the path runs on
    ledger.close()


def test_domain_cap_counts_every_mailbox_of_the_domain(pg_url, tmp_path):  # noqa: F811
    policy = policy_file(tmp_path / "capped.toml", daily=50)
    policy.write_text(policy.read_text().replace('growth_factor', 'domain_cap = 5\ngrowth_factor'))
    ledger = open_ledger(pg_url)
    box = api.add_mailbox(ledger, BOX, "exmail", policy=str(policy))
    other = api.add_mailbox(ledger, "b@corp.example", "exmail", policy=str(policy))
    api.add_mailbox(ledger, "c@elsewhere.example", "exmail", policy=str(policy))
    now = T0 + dt.timedelta(hours=5)
    with ledger.write() as conn:
        for k in range(3):
            store.record_send(conn, other, f"o{k}@example.com", now, f"<o{k}@x>")
    with Gate(BOX, ledger=ledger) as gate:
        assert gate.spec.domain_cap == 5
        gate.reserve(["x@example.com"], "<x@x>", now=now)
        bad, rows, last, events = pgpath.gate_read(gate._pg, box.id, ["y@example.com"], [])
        fast = gate._pg_history(gate._pg, now, rows, last, events)
        gate._pg.rollback()
        with ledger.read() as conn:
            core = store.history(ledger, box, now, conn=conn, everything=True, fast=False,
                                 domain_cap=True, provider_ceiling=gate.provider.daily_limit,
                                 provider_min_interval=gate.provider.min_interval)
        assert fast == core and fast.domain_sent_today == 4
        gate.reserve(["y@example.com"], "<y@x>", now=now)  # the fifth of the domain
        with pytest.raises(NotAllowed):
            gate.reserve(["z@example.com"], "<z@x>", now=now)
    ledger.close()
