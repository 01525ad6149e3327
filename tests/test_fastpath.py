"""The gate's shortcuts give exactly the answers of the plain paths they replace."""

from __future__ import annotations

import datetime as dt
import random
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from warmup import api, open_ledger
from warmup.ledger import store
from warmup.policy import evaluate, load_policy

BOX = "a@corp.example"
T0 = dt.datetime(2026, 11, 1, 1, 0, tzinfo=dt.UTC)


def fill(seed: int, path: str | None = None) -> tuple[object, store.MailboxRow]:
    rng = random.Random(seed)
    ledger = open_ledger(path)
    box = api.add_mailbox(ledger, BOX, "exmail")
    with ledger.write() as conn:
        for k in range(rng.randint(1, 400)):
            at = T0 + dt.timedelta(minutes=rng.randint(0, 20 * 24 * 60))
            sid = store.record_send(conn, box, f"r{k}@example.com", at, f"<{k}@x>",
                                    outcome=rng.choice(["sent", "sent", "released", "unknown"]))
            if sid and rng.random() < 0.1:
                store.record_bounce(conn, box, f"r{k}@example.com",
                                    rng.choice(store.BOUNCE_KINDS),
                                    at + dt.timedelta(hours=rng.randint(0, 30)), f"b{k}")
        for _ in range(rng.randint(0, 3)):
            store.add_event(ledger, box.id, rng.choice(["pause", "resume"]),
                            T0 + dt.timedelta(days=rng.randint(0, 20)), "x", conn=conn)
    return ledger, box


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 22 * 24))
def test_sqlite_fast_path_equals_core(seed, hours):
    with tempfile.TemporaryDirectory() as tmp:
        _compare(seed, hours, f"{tmp}/l.db")


def _compare(seed: int, hours: int, path: str) -> None:
    ledger, box = fill(seed, path)
    as_of = T0 + dt.timedelta(hours=hours)
    with ledger.read() as conn:
        fast = store.history(ledger, box, as_of, conn=conn, fast=True)
        core = store.history(ledger, box, as_of, conn=conn, fast=False)
        gate_fast = store.history(ledger, box, as_of, conn=conn, everything=True, fast=True)
        gate_core = store.history(ledger, box, as_of, conn=conn, everything=True, fast=False)
    assert fast == core
    assert gate_fast == gate_core
    ledger.close()


def test_gate_history_reads_today_from_the_rollup(ledger_path):
    ledger, box = fill(5)
    end = T0 + dt.timedelta(days=40)  # after every row: both views see everything
    with ledger.read() as conn:
        raw = store.history(ledger, box, end, conn=conn)
        gate = store.history(ledger, box, end, conn=conn, everything=True)
    assert gate.days == raw.days and gate.last_send_at == raw.last_send_at


def test_cached_evaluation_equals_uncached(ledger_path):
    ledger, box = fill(11)
    spec, cache = load_policy("default"), {}
    rng = random.Random(2)
    now = T0 + dt.timedelta(days=18)
    for step in range(60):
        now += dt.timedelta(minutes=rng.randint(1, 90))
        with ledger.write() as conn:
            if rng.random() < 0.7:
                store.record_send(conn, box, f"n{step}@example.com", now)
            if rng.random() < 0.2:  # a late bounce for an earlier day changes the past
                store.record_bounce(conn, box, f"r{step}@example.com", "hard",
                                    now - dt.timedelta(days=rng.randint(0, 5)), f"late{step}")
        with ledger.read() as conn:
            hist = store.history(ledger, box, now, conn=conn, everything=True)
        assert evaluate(spec, hist, now, cache) == evaluate(spec, hist, now)
