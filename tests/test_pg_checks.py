"""The check of a pooled PostgreSQL connection rides on the first round trip of what uses it
(:meth:`warmup.ledger.postgres.PostgresLedger._checked_out`): a transaction's BEGIN, a read of
one statement alone in autocommit, a pool's look. The pool's ping (``;``) cost a round trip
of its own before each of them: 19 of a pool of 3's slot of ~106. A connection the server cut
while it idled in the pool (pg_terminate_backend, a restart) still costs nothing but a
reconnection: what used it runs again on a new one, as after a failed ping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tests.pgkit import drop_sessions, pg_url, round_trips, session_name  # noqa: F401  (the fixture)
from warmup import api
from warmup.ledger import Ledger, SendIn, open_ledger
from warmup.ledger.values import Ask

NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
BOXES = ["a@corp.example", "b@corp.example"]


def _ledger(url: str) -> Ledger:
    ledger = open_ledger(url)
    for b in BOXES:
        box = api.add_mailbox(ledger, b, "exmail", timezone="UTC")
        ledger.record(box, sends=[SendIn("old@example.com", NOW - dt.timedelta(minutes=1))])
    ledger.add_pool("P", BOXES, reply_to=None, now=NOW)
    ledger.engine.dispose()  # one connection in the pool from now on
    with ledger.read() as conn:
        conn.execute(sa.text("SELECT 1"))
    return ledger


def _uses(ledger: Ledger) -> dict[str, Callable[[], Any]]:
    boxes = [ledger.mailbox(b) for b in BOXES]
    asks = [(box, Ask()) for box in boxes]

    def look() -> Any:  # the worker's look at pool P's members before a message
        return ledger.pool_look([], ["x@example.com"], [b.id for b in boxes], asks, NOW)

    def read() -> Any:
        with ledger.read() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM mailbox")).scalar()

    def write() -> Any:
        ledger.set_settings({"x.y": "1"}, NOW)

    return {
        "read": read,
        "write": write,
        "settings": lambda: ledger.settings("x."),
        "claims": ledger.claims,
        "migrations": ledger.pending_migrations,
        "look": look,
    }


# Each use's round trips: its first is the connection's check (no ';' before it).
TRIPS = {
    "read": ["BEGIN ISOLATION", "SELECT count(*)", "COMMIT"],
    "write": ["BEGIN ISOLATION", "SELECT pg_advisory_xact_lock(hashtextextended($1,", "DELETE FROM",
              "INSERT INTO", "COMMIT"],
    "settings": ["SELECT setting.key,"],
    "claims": ["SELECT outbox.id,"],
    "migrations": ["SELECT warmup_migrations.name"],
    "look": ["SELECT NULL::int,"],
}  # fmt: skip


@pytest.mark.parametrize("use", sorted(TRIPS))
def test_the_check_of_a_pooled_connection_rides_on_its_first_round_trip(pg_url, use):  # noqa: F811
    """No ping (``;``) before a transaction's BEGIN, nor before a one-statement read or a
    pool's look, which run alone in autocommit (no BEGIN, no COMMIT): the pass's opening
    reads were 13 round trips (a ping, BEGIN, the statements, COMMIT each), now 3."""
    ledger = _ledger(pg_url)
    try:
        trips = round_trips(ledger, _uses(ledger)[use])
        if use == "write":  # the advisory lock's statement text, cut at two words
            trips = [t if not t.startswith("SELECT pg_advisory") else TRIPS[use][1] for t in trips]
        assert [t for t in trips if t] == TRIPS[use], trips
    finally:
        ledger.close()


@pytest.mark.parametrize("use", sorted(TRIPS))
def test_a_connection_the_server_cut_in_the_pool_is_replaced_without_a_word(pg_url, use):  # noqa: F811
    """The server ends the pooled connection's session (pg_terminate_backend) while it idles:
    the next use fails its first round trip, nothing of it having happened, and runs on a new
    connection: its answer, no error (the ping's work, without its round trip)."""
    app = session_name("pgcheck")
    ledger = _ledger(f"{pg_url}&application_name={app}")
    try:
        want = _uses(ledger)[use]()
        assert drop_sessions(app) == 1
        assert _uses(ledger)[use]() == want
        if use == "write":
            assert ledger.settings("x.") == {"x.y": "1"}
    finally:
        ledger.close()


def test_other_checkouts_are_still_pinged(pg_url):  # noqa: F811
    """A connection checked out for anything else (the gate's, a copy's, ``connection()``) is
    pinged as the pool's pre-ping did, and replaced when the server cut it."""
    app = session_name("pgcheck")
    ledger = _ledger(f"{pg_url}&application_name={app}")
    try:

        def use() -> None:
            with ledger.connection() as conn, conn.begin():
                assert conn.execute(sa.text("SELECT 1")).scalar() == 1

        assert round_trips(ledger, use)[0] == ";"
        assert drop_sessions(app) == 1
        use()
    finally:
        ledger.close()
