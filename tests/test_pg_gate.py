"""The PostgreSQL gate path (warmup/ledger/postgres.py, PostgresGate): deferred settlements ride on
the next reservation, a failure inside the transaction releases the mailbox's lock, a dropped
connection is one clean error and then replaced, the domain cap counts every mailbox of the
domain. (Its answers and rows against the reference: tests/test_gate_paths.py.)"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.gatekit import policy_file
from tests.pgkit import pg_url  # noqa: F401  (the fixture)
from warmup import Gate, NotAllowed, api, open_ledger
from warmup import gate as gate_module
from warmup.ledger import SendIn
from warmup.ledger.schema import SEND

BOX = "a@corp.example"
NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def flat(url: str, tmp_path, **policy: object):  # type: ignore[no-untyped-def]
    ledger = open_ledger(url)
    ledger.clock = lambda: NOW
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "flat.toml", 50)))
    return ledger


@pytest.mark.slow
def test_deferred_settlements_are_written_together_by_the_next_reservation(pg_url, tmp_path):  # noqa: F811
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        slots = [
            gate.reserve([f"n{i}@example.com", f"m{i}@example.com"], f"<n{i}@x>", now=NOW)
            for i in range(3)
        ]
        for i, slot in enumerate(slots):
            slot.settle("sent", now=NOW + dt.timedelta(seconds=i))
        assert len(gate._db._deferred) == 6
        gate.reserve(["last@example.com"], "<last@x>", now=NOW)  # writes the six
        assert gate._db._deferred == []
        with ledger.read() as conn:
            got = dict(
                conn.execute(
                    sa.select(SEND.c.recipient, SEND.c.settled_at).where(
                        SEND.c.message_id.like("<n%"), SEND.c.outcome == "sent"
                    )
                ).all()
            )
        assert got == {
            f"{p}{i}@example.com": NOW + dt.timedelta(seconds=i) for i in range(3) for p in "nm"
        }
    ledger.close()


def test_a_failure_inside_the_transaction_releases_the_lock(pg_url, tmp_path, monkeypatch):  # noqa: F811
    ledger = flat(pg_url, tmp_path)
    box = ledger.mailbox(BOX)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW).settle("sent", now=NOW)

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("policy failed")

        with monkeypatch.context() as m:
            m.setattr(gate_module, "evaluate", boom)
            m.setattr(gate_module.Morning, "allows", boom)  # the decision's quick path too
            with pytest.raises(RuntimeError):
                gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert len(gate._db._deferred) == 1  # rolled back: still to be written
        with ledger.write() as conn:  # nobody holds the mailbox's row
            conn.exec_driver_sql(f"SELECT id FROM mailbox WHERE id = {box.id} FOR UPDATE NOWAIT")
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
        assert gate._db._deferred == []
    with ledger.read() as conn:
        got = dict(
            conn.execute(
                sa.select(SEND.c.recipient, SEND.c.outcome).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"])
                )
            ).all()
        )
    assert got == {"a@example.com": "sent", "c@example.com": "reserved"}
    ledger.close()


def test_a_connection_dropped_while_idle_is_replaced_for_the_next_reservation(
    pg_url,  # noqa: F811
    tmp_path,
):
    """The server dropped the gate's connection between two reservations (a restart, a
    fail-over, pg_terminate_backend): the next reservation failed (Unavailable) and a worker
    held the message back, though the server was there. Nothing of that reservation had
    happened, so it is made once more on a new connection."""
    ledger = flat(pg_url, tmp_path)
    with Gate(BOX, ledger=ledger) as gate:
        gate.reserve(["a@example.com"], "<a@x>", now=NOW)
        pid = gate._db._pg.info.backend_pid
        with ledger.write() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        gate.reserve(["b@example.com"], "<b@x>", now=NOW)
        assert gate._db._pg.info.backend_pid != pid  # a new connection
        gate.reserve(["c@example.com"], "<c@x>", now=NOW)
    with ledger.read() as conn:
        assert sorted(
            conn.execute(
                sa.select(SEND.c.recipient).where(
                    SEND.c.message_id.in_(["<a@x>", "<b@x>", "<c@x>"])
                )
            ).scalars()
        ) == ["a@example.com", "b@example.com", "c@example.com"]
    ledger.close()


def test_domain_cap_counts_every_mailbox_of_the_domain(pg_url, tmp_path):  # noqa: F811
    policy = policy_file(tmp_path / "capped.toml", daily=50)
    policy.write_text(policy.read_text().replace("growth_factor", "domain_cap = 5\ngrowth_factor"))
    ledger = open_ledger(pg_url)
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy))
    other = api.add_mailbox(ledger, "b@corp.example", "exmail", policy=str(policy))
    api.add_mailbox(ledger, "c@elsewhere.example", "exmail", policy=str(policy))
    now = NOW + dt.timedelta(hours=5)
    ledger.record(other, sends=[SendIn(f"o{k}@example.com", now, f"<o{k}@x>") for k in range(3)])
    ledger.record(
        ledger.mailbox("c@elsewhere.example"),
        sends=[SendIn(f"e{k}@example.com", now, f"<e{k}@x>") for k in range(9)],
    )
    with Gate(BOX, ledger=ledger) as gate:
        assert gate.spec.domain_cap == 5
        gate.reserve(["x@example.com"], "<x@x>", now=now)
        assert gate.allowance(now).remaining == 1  # 3 + 1 of the domain's 5 sent today
        gate.reserve(["y@example.com"], "<y@x>", now=now)  # the fifth of the domain
        with pytest.raises(NotAllowed):
            gate.reserve(["z@example.com"], "<z@x>", now=now)
    ledger.close()
