"""Ledgers in several schemas of one database, upgraded at once. The migrations' advisory lock
was one key for the whole database (7261001): a long upgrade of one schema's ledger made every
other schema's first ``mailbox add`` (or any open with migrations to apply) wait, then exit 75
after lock_timeout blaming "a long transaction holding warmup's rows". The lock is now the
ledger's own (its schema's), taken with the old key in SHARE mode so that a host still running
an older warmup and this one never upgrade one ledger at once (warmup/ledger/postgres_locks.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from tests import forkcli
from tests.pgkit import PgSchema, fresh_database, session_name, waiting_for_lock
from warmup.ledger import Ledger, migrations, open_ledger

BOX = "sales@corp.example"


class Database:
    """A database of its own on the test server, with three throw-away schemas: the migration
    locks of the shared test database are every test's (an older warmup's held there would hold
    up every test's new ledger), and another checkout's suite there (an older warmup!) would
    hold up these tests' ledgers."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.schemas = [PgSchema("miglock", url) for _ in range(3)]

    def connect(self) -> psycopg.Connection:
        """A session of its own in the database (an older warmup's, a test's)."""
        plain = sa.engine.make_url(self.url).set(drivername="postgresql")
        return psycopg.connect(plain.render_as_string(hide_password=False))


@pytest.fixture
def db() -> Iterator[Database]:
    with fresh_database("miglock") as (url, name):  # dropped with its schemas
        yield Database(url, name)


def _waiting_at_most(url: str, timeout: str) -> str:
    """``url`` whose connections wait ``timeout`` for a lock (a URL's own options win over
    warmup's 30 s)."""
    return url + f"%20-clock_timeout%3D{timeout}"


def _one_line(output: str) -> str:
    assert output.count("\n") == 1, output
    assert "Traceback" not in output
    return output


def _migrations_of(ledger: Ledger) -> list[str]:
    with ledger.read() as conn:
        return sorted(conn.execute(sa.select(migrations.MIGRATIONS_TABLE.c.name)).scalars())


def test_an_upgrade_under_way_in_one_schema_holds_up_no_other_schemas_ledger(run, db):
    """Another host is upgrading the ledger of schema A (its migration lock held, as during a
    long migration): creating the ledger of schema B, and upgrading C's, go ahead at once. Each
    waited for A's upgrade, then exited 75."""
    a, b, c = db.schemas
    names = migrations.names()
    behind = open_ledger(c.url, migrate=False)
    behind.migrate(upto=names[-2])
    behind.close()
    upgrading = open_ledger(a.url, migrate=False)
    try:
        with upgrading.write() as conn:
            upgrading._migration_lock(conn)  # A's upgrade, under way until the block ends
            res = run(
                "--db", _waiting_at_most(b.url, "2s"), "mailbox", "add", BOX, "--provider", "exmail"
            )
            assert res.exit_code == 0, res.output
            res = run("--db", _waiting_at_most(c.url, "2s"), "db", "migrate", "--json")
            assert res.exit_code == 0, res.output
            assert json.loads(res.output)["applied"] == names[-1:]
    finally:
        upgrading.close()
    for schema in (b, c):
        ledger = open_ledger(schema.url, migrate=False)
        try:
            assert _migrations_of(ledger) == sorted(names)
        finally:
            ledger.close()
    ledger = open_ledger(b.url, migrate=False)
    try:
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()


def test_an_upgrade_under_way_holds_up_its_own_ledger_and_says_so(run, db, tmp_path):
    """Two hosts upgrading one ledger still take turns: the second waits, and goes on once the
    first is done; past lock_timeout it exits 75 saying another warmup is upgrading this ledger,
    naming its schema and who holds it (not "look for a long transaction holding warmup's
    rows")."""
    a, _, _ = db.schemas
    upgrading = open_ledger(a.url, migrate=False)
    try:
        with upgrading.write() as conn:
            upgrading._migration_lock(conn)
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            res = run(
                "--db", _waiting_at_most(a.url, "1s"), "mailbox", "add", BOX, "--provider", "exmail"
            )
            assert res.exit_code == 75, res.output
            line = _one_line(res.output)
            assert line.startswith("Error: ledger postgresql+psycopg://warmup@"), line
            assert (
                f": another warmup (server process {pid} on 127.0.0.1, since " in line
                and f" UTC) is upgrading this ledger (schema '{a.name}'), and lock_timeout (1s) "
                f"passed waiting for it: try again once the upgrade is done\n"
                in line
            ), line
            app = session_name("upgrade-b")
            waiting = subprocess.Popen(
                [*forkcli.WARMUP, "mailbox", "add", BOX, "--provider", "exmail"],
                env={
                    **os.environ,
                    "WARMUP_DB": f"{a.url}&application_name={app}",
                    "XDG_CONFIG_HOME": str(tmp_path / "c"),
                },
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            while not waiting_for_lock(a.url, app):  # it waits for A's upgrade: let it end
                assert waiting.poll() is None, waiting.communicate()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
    finally:
        upgrading.close()
    ledger = open_ledger(a.url, migrate=False)
    try:
        assert _migrations_of(ledger) == sorted(migrations.names())  # each once
        assert [m.address for m in ledger.mailboxes()] == [BOX]
    finally:
        ledger.close()


def test_an_older_warmup_upgrading_any_schema_holds_up_this_ones_upgrades(run, db):
    """A host still running a warmup from before this change takes the one key 7261001 for an
    upgrade of any schema: this warmup waits for it (never upgrading a ledger at once with it),
    and past lock_timeout says an older warmup is upgrading a ledger of the database."""
    a, _, _ = db.schemas
    with db.connect() as old:
        old.execute("SELECT pg_advisory_xact_lock(7261001)")  # an older warmup's upgrade
        pid = old.info.backend_pid
        res = run(
            "--db", _waiting_at_most(a.url, "1s"), "mailbox", "add", BOX, "--provider", "exmail"
        )
        assert res.exit_code == 75, res.output
        line = _one_line(res.output)
        assert (
            f": an older warmup (server process {pid} on 127.0.0.1, since " in line
            and f" UTC) is upgrading a ledger of database '{db.name}' (versions before this "
            f"one hold every schema's upgrade meanwhile), and lock_timeout (1s) passed waiting "
            f"for it: try again once it is done, and upgrade warmup on every host using the "
            f"database\n"
            in line
        ), line
        old.rollback()
    assert (
        run(
            "--db", _waiting_at_most(a.url, "2s"), "mailbox", "add", BOX, "--provider", "exmail"
        ).exit_code
        == 0
    )


def test_this_warmups_upgrade_of_any_schema_holds_up_an_older_warmups(db):
    """The other way round: while this warmup upgrades the ledger of schema A, an older
    warmup's upgrade (of A, or of any schema: its key names none) waits for it."""
    a, _, _ = db.schemas
    upgrading = open_ledger(a.url, migrate=False)
    try:
        with upgrading.write() as conn, db.connect() as old:
            upgrading._migration_lock(conn)
            old.execute("SET lock_timeout = '300ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                old.execute("SELECT pg_advisory_xact_lock(7261001)")
            old.rollback()
        with db.connect() as old:  # A's upgrade done: the older warmup's goes ahead
            old.execute("SET lock_timeout = '2s'")
            old.execute("SELECT pg_advisory_xact_lock(7261001)")
            old.rollback()
    finally:
        upgrading.close()


def test_the_lock_is_the_ledgers_whatever_schema_the_search_path_creates_in(run, db):
    """Two hosts reaching one ledger through different search paths: A's, and one whose first
    schema (B) exists but holds no ledger (a role's own schema in ``"$user", public``). Both
    upgrade the ledger of A, so they take turns: the lock is keyed by the schema holding the
    ledger's migrations, not by the schema new tables would be created in."""
    a, b, _ = db.schemas
    names = migrations.names()
    behind = open_ledger(a.url, migrate=False)
    try:
        behind.migrate(upto=names[-2])  # the last migration still to apply
        via_b = a.url.replace(f"search_path%3D{a.name}", f"search_path%3D{b.name}%2C{a.name}")
        assert via_b != a.url
        with behind.write() as conn:
            behind._migration_lock(conn)
            res = run("--db", _waiting_at_most(via_b, "1s"), "db", "migrate")
            assert res.exit_code == 75, res.output
            assert f"is upgrading this ledger (schema '{a.name}')" in _one_line(res.output)
    finally:
        behind.close()
