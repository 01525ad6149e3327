"""A team ledger's upgrade that the server refuses: a statement past the role's
statement_timeout at every try, a role that may use warmup's tables but does not own them, a
migration rolled back after it queued its note. Each says what to do about the upgrade (not
what an everyday command's refusal says), nothing of it is written, and what a rolled-back
migration said is never printed as if it had run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.conftest import ledger_before
from tests.pgkit import PgSchema, pg_server
from warmup.ledger import open_ledger

BOX = "a@corp.example"
M023 = "m023_unsubscribe_requests_uncounted"
M037 = "m037_outbox_backoffs_kept"
NOTE = "1 unsubscribe request of a mail client recorded as complaints no longer count"


@pytest.fixture
def schema():  # type: ignore[no-untyped-def]
    s = PgSchema("upgrade")
    try:
        yield s
    finally:
        s.drop()


def _admin(schema: PgSchema) -> psycopg.Connection:
    url = sa.engine.make_url(schema.server).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _one_line(output: str) -> str:
    assert output.count("\n") == 1, output
    assert "Traceback" not in output
    password = sa.engine.make_url(pg_server()).password
    assert password and password not in output, output
    return output


def _pending(schema: PgSchema) -> list[str]:
    ledger = open_ledger(schema.url, migrate=False)
    try:
        return ledger.pending_migrations()
    finally:
        ledger.close()


def _before(schema: PgSchema, name: str) -> None:
    """The schema's ledger as before migration ``name`` (a data migration: rerunnable)."""
    ledger_before(schema.url, name).close()


def test_the_note_of_a_migration_rolled_back_is_never_printed(run, schema, tmp_path: Path):
    """m023 queues its note ("N unsubscribe requests ... no longer count"), then m037 waits for
    the outbox that another session holds locked, past lock_timeout: the upgrade is rolled
    back, m023 with it. Its note stayed in the process and was printed by the next ledger it
    upgraded, here a new SQLite one, as if that ledger's upgrade had run it. The note is
    printed once, by the upgrade that commits it."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    _before(schema, M023)
    now = dt.datetime.now(dt.UTC)
    with _admin(schema) as conn:
        conn.execute(f"DELETE FROM \"{schema.name}\".warmup_migrations WHERE name = '{M037}'")
        conn.execute(  # a mail client's unsubscribe request, counted as a complaint
            f'INSERT INTO "{schema.name}".bounce (mailbox_id, recipient, kind, diagnostic, at, '
            "day, source, key, counted) VALUES (1, 'lead@example.com', 'complaint', "
            "'unsubscribe: Apple Mail', %s, %s, 'imap', 'k1', true)",
            (now, now.date()),
        )
    url = schema.url + "%20-clock_timeout%3D300"
    with _admin(schema) as holder:
        with holder.transaction():
            holder.execute(f'LOCK TABLE "{schema.name}".outbox IN SHARE MODE')
            res = run("--db", url, "db", "migrate")
            assert res.exit_code == 75, res.output
            assert "canceling statement due to lock timeout" in _one_line(res.output)
    assert _pending(schema) == [M023, M037]
    res = run("--db", str(tmp_path / "new.db"), "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert "unsubscribe" not in res.output, res.output
    res = run("--db", url, "db", "migrate")  # the lock let go
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:2] == [f"Applied {M023}", f"Applied {M037}"]
    assert (
        res.stderr == f"Warning: {NOTE} in the complaint rate (their addresses stay suppressed)\n"
    )
