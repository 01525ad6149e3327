"""A team ledger's upgrade that the server refuses: a statement past the role's
statement_timeout at every try, a role that may use warmup's tables but does not own them, a
migration rolled back after it queued its note. Each says what to do about the upgrade (not
what an everyday command's refusal says), nothing of it is written, and what a rolled-back
migration said is never printed as if it had run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.conftest import ledger_before
from tests.pgkit import PgSchema, pg_server, throwaway_role
from warmup.ledger import open_ledger

BOX = "a@corp.example"
M023 = "m023_unsubscribe_requests_uncounted"
M036 = "m036_outbox_expiry"
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


def _pending(url: str) -> list[str]:
    ledger = open_ledger(url, migrate=False)
    try:
        return ledger.pending_migrations()
    finally:
        ledger.close()


def _before(schema: PgSchema, name: str) -> None:
    """The schema's ledger as before migration ``name`` (a data migration: rerunnable)."""
    ledger_before(schema.url, name).close()


def _role_url(schema: PgSchema, role: str) -> str:
    """The schema's ledger URL, logging in as ``role`` (its password in $PGPASSWORD)."""
    owner = sa.engine.make_url(schema.server).username
    url = schema.url.replace(f"{owner}@", f"{role}@", 1)
    assert f"{role}@" in url
    return url


def _slow_upgrade(  # type: ignore[no-untyped-def]
    run, schema: PgSchema, url: str, connect: Callable[[], psycopg.Connection]
) -> None:
    """The ledger at ``url`` with m037 to apply, whose UPDATE takes 1.5 s at every try: an audit
    trigger (made through ``connect``, as the tables' owner) on its one outbox row m037 sets."""
    assert run("--db", url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    ledger_before(url, M037).close()
    now = dt.datetime.now(dt.UTC)
    with connect() as conn:
        conn.execute(
            f'INSERT INTO "{schema.name}".outbox (message_id, mailbox_id, recipients, data, '
            "state, attempts, not_before, next_attempt_at, expires_at, created_at, updated_at, "
            "last_reply) VALUES ('<m1@corp.example>', 1, 'lead@example.com', '\\x00', "
            "'queued', 1, %s, %s, %s, %s, %s, 'RCPT: soft 451 4.7.1 greylisted')",
            (now, now + dt.timedelta(hours=1), now + dt.timedelta(days=3), now, now),
        )
        conn.execute(
            f'CREATE FUNCTION "{schema.name}".audit() RETURNS trigger LANGUAGE plpgsql AS '
            "$$ BEGIN PERFORM pg_sleep(1.5); RETURN NEW; END $$"
        )
        conn.execute(
            f'CREATE TRIGGER audit BEFORE UPDATE ON "{schema.name}".outbox FOR EACH ROW '
            f'EXECUTE FUNCTION "{schema.name}".audit()'
        )


@pytest.mark.parametrize("set_by", ["url", "role"])
def test_an_upgrade_past_statement_timeout_at_every_try_exits_78_saying_how_to_run_it(
    run, schema, monkeypatch, set_by
):
    """A statement of the upgrade that takes longer than statement_timeout every time (here an
    audit trigger someone put on the outbox, 1.5 s a row; in life a big table's index) exited
    75, "try again later": cron retried it without end, each try cut at the same point. It is
    78, naming the limit, where it was set (the URL's options; ALTER ROLE ... SET on the
    role) and how to run the upgrade once without it; that done, the upgrade passes."""
    if set_by == "url":
        _slow_upgrade(run, schema, schema.url, lambda: _admin(schema))
        url = schema.url + "%20-cstatement_timeout%3D300"
        said = "300ms, set by the URL's options or $PGOPTIONS"
        _cut_then_passes(run, schema, url, said, lambda: _admin(schema))
        return
    with throwaway_role() as (role, password):
        try:
            with _admin(schema) as conn:
                conn.execute(f'GRANT USAGE, CREATE ON SCHEMA "{schema.name}" TO "{role}"')
            monkeypatch.setenv("PGPASSWORD", password)
            url = _role_url(schema, role)  # the role makes the ledger: it owns the tables

            def as_role() -> psycopg.Connection:
                plain = sa.engine.make_url(schema.server).set(
                    drivername="postgresql", username=role, password=password
                )
                return psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True)

            _slow_upgrade(run, schema, url, as_role)
            with _admin(schema) as conn:
                conn.execute(f"ALTER ROLE \"{role}\" SET statement_timeout = '300ms'")
            said = f"300ms, set for role {role}: ALTER ROLE ... SET"
            _cut_then_passes(run, schema, url, said, as_role)
        finally:
            schema.drop()  # the role's tables and privileges on the schema go with it
            schema.drop = lambda: None  # type: ignore[method-assign]


def _cut_then_passes(  # type: ignore[no-untyped-def]
    run, schema: PgSchema, url: str, said: str, connect: Callable[[], psycopg.Connection]
) -> None:
    for args in (("db", "migrate"), ("quota", BOX)):  # the explicit upgrade, and on first use
        res = run("--db", url, *args)
        assert res.exit_code == 78, res.output
        line = _one_line(res.output)
        assert (
            f": the upgrade ran past statement_timeout ({said}): canceling statement due to "
            "statement timeout; nothing of it was written, and every try takes as long"
        ) in line, line
        assert "'warmup db migrate' with -cstatement_timeout=0 in the URL's options" in line
    assert _pending(url) == [M037]
    res = run("--db", url + "%20-cstatement_timeout%3D0", "db", "migrate")  # as it says
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == f"Applied {M037}"
    with connect() as conn:
        row = conn.execute(f'SELECT backoff_until IS NOT NULL FROM "{schema.name}".outbox')
        assert row.fetchone() == (True,)


def test_an_upgrade_by_a_role_that_does_not_own_the_tables_names_their_owner(
    run, schema, monkeypatch
):
    """A role granted CREATE on the schema and every right on warmup's tables, but not their
    owner (an application role; the owner ran the first upgrade): the upgrade's CREATE INDEX is
    refused ("must be owner of table outbox"), and warmup said the role "needs CREATE on its
    schema", which it has. It says the owner must run the upgrade, and names it (77, a right
    the role lacks, as every refusal of one); the owner's upgrade then passes."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    indexes = ("ix_outbox_expiry", "ix_outbox_pool_expiry", "ix_outbox_box_expiry")
    with throwaway_role() as (role, password):
        with _admin(schema) as conn:
            owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
            for statement in (
                *(f'DROP INDEX "{schema.name}".{index}' for index in indexes),
                f"DELETE FROM \"{schema.name}\".warmup_migrations WHERE name = '{M036}'",
                f'GRANT USAGE, CREATE ON SCHEMA "{schema.name}" TO "{role}"',
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema.name}" '
                f'TO "{role}"',
                f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema.name}" TO "{role}"',
            ):
                conn.execute(statement)
        try:
            as_role = schema.url.replace(f"{owner}@", f"{role}@", 1)
            assert f"{role}@" in as_role
            monkeypatch.setenv("PGPASSWORD", password)
            for args in (("db", "migrate"), ("quota", BOX)):
                res = run("--db", as_role, *args)
                assert res.exit_code == 77, res.output
                line = _one_line(res.output)
                assert password not in line
                assert "needs CREATE" not in line, line
                assert line.endswith(
                    "the server refused: must be owner of table outbox; an upgrade changes "
                    f"warmup's tables, which only their owner may do, and they belong to role "
                    f"{owner}, not {role}: run the upgrade once as {owner} (warmup db migrate, "
                    f"its --db naming that role), or make {role} a member of it (GRANT {owner} "
                    f"TO {role})\n"
                ), line
            monkeypatch.undo()
            assert _pending(schema.url) == [M036]
            res = run("--db", schema.url, "db", "migrate")  # the owner
            assert (res.exit_code, res.output.splitlines()[0]) == (0, f"Applied {M036}")
        finally:
            schema.drop()  # the role's privileges on the schema go with it
            schema.drop = lambda: None  # type: ignore[method-assign]


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
    assert _pending(schema.url) == [M023, M037]
    res = run("--db", str(tmp_path / "new.db"), "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    assert "unsubscribe" not in res.output, res.output
    res = run("--db", url, "db", "migrate")  # the lock let go
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[:2] == [f"Applied {M023}", f"Applied {M037}"]
    assert (
        res.stderr == f"Warning: {NOTE} in the complaint rate (their addresses stay suppressed)\n"
    )
