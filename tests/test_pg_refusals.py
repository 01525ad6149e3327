"""A team ledger whose server refuses what warmup asks: a role without the right to create the
ledger's tables or to write them, a read-only session. One line naming the ledger (its password
masked) and what the role needs, the sysexits code (77 for a right the role lacks, 78 for a
read-only server), no traceback, nothing written."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
import sqlalchemy as sa

from tests.pgkit import PgProxy, PgSchema, pg_server
from warmup import Gate
from warmup.errors import PermissionFailure, TempFail

BOX = "a@corp.example"


@pytest.fixture
def schema():  # type: ignore[no-untyped-def]
    s = PgSchema("refused")
    try:
        yield s
    finally:
        s.drop()


def _sql(schema: PgSchema, *statements: str) -> None:
    url = sa.engine.make_url(schema.server).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _one_line(output: str) -> str:
    assert output.count("\n") == 1, output
    assert "Traceback" not in output
    password = sa.engine.make_url(pg_server()).password
    assert password and password not in output, output
    return output


def test_a_role_that_may_not_create_tables_exits_77_in_one_line(run, schema):
    """A schema the role may not create tables in: every command (a read too, when reads
    created the ledger) printed psycopg's InsufficientPrivilege with a traceback and exited 1.
    A read creates no ledger now: it says there is none (66)."""
    _sql(schema, f'REVOKE CREATE ON SCHEMA "{schema.name}" FROM CURRENT_USER')
    read = run("--db", schema.url, "quota")
    assert read.exit_code == 66 and _one_line(read.output).startswith("Error: no ledger in ")
    for args in (
        ("mailbox", "add", BOX, "--provider", "exmail"),
        ("db", "migrate"),
    ):
        res = run("--db", schema.url, *args)
        assert res.exit_code == 77, res.output
        line = _one_line(res.output)
        assert line.startswith("Error: ledger postgresql+psycopg://warmup@"), line  # $PGPASSWORD
        assert f"the server refused: permission denied for schema {schema.name}; " in line
        assert "needs CREATE on its schema" in line
    with psycopg.connect(
        sa.engine.make_url(schema.server)
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    ) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema.name,)
        ).fetchone()
    assert tables == (0,)


def test_a_role_that_may_only_read_the_ledger_reads_it_and_is_refused_writes(run, schema):
    """A ledger whose role may read but not write (a reporting role): reads answer, each write
    (the CLI's, the gate's own psycopg path) is refused with exit 77 and leaves no row."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    _sql(
        schema,
        f'REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema.name}" FROM CURRENT_USER',
    )
    try:
        assert run("--db", schema.url, "quota", BOX).exit_code == 0
        res = run("--db", schema.url, "mailbox", "add", "b@corp.example", "--provider", "exmail")
        assert res.exit_code == 77, res.output
        assert "permission denied for table mailbox; " in _one_line(res.output)
        res = run("--db", schema.url, "record", "send", BOX, "--to", "lead@example.com")
        assert res.exit_code == 77, res.output
        assert "the server refused: permission denied for table " in _one_line(res.output)
        gate = Gate(BOX, db=schema.url)
        try:
            with pytest.raises(PermissionFailure, match="permission denied for table "):
                gate.reserve(["lead@example.com"], now=dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
        finally:
            gate.close()
    finally:
        _sql(schema, f'GRANT ALL ON ALL TABLES IN SCHEMA "{schema.name}" TO CURRENT_USER')
    res = run("--db", schema.url, "mailbox", "list", "--json")
    assert '"b@corp.example"' not in res.output
    assert run("--db", schema.url, "report", "--json").exit_code == 0


def test_a_read_only_session_exits_78_naming_the_primary(run, schema):
    """A read-only server (a hot standby) or session: a write printed a traceback."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    url = schema.url + "%20-cdefault_transaction_read_only%3Don"
    assert run("--db", url, "quota", BOX).exit_code == 0
    res = run("--db", url, "mailbox", "add", "b@corp.example", "--provider", "exmail")
    assert res.exit_code == 78, res.output
    line = _one_line(res.output)
    assert " is read-only: cannot execute INSERT in a read-only transaction; " in line
    assert "use the primary server" in line


def test_a_ledger_of_an_older_warmup_read_in_a_read_only_session_says_it_needs_the_upgrade(
    run, schema
):
    """A hot standby (or a read-only session) of a ledger an older warmup wrote: every command
    of this version upgrades it first, and 'quota' was refused as a write, "warmup writes to
    its ledger". It says the schema must be upgraded on the primary, and nothing changes."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    indexes = ("ix_outbox_expiry", "ix_outbox_pool_expiry", "ix_outbox_box_expiry")
    _sql(  # as before m036 (three indexes): an older warmup's ledger
        schema,
        *(f'DROP INDEX "{schema.name}".{index}' for index in indexes),
        f"DELETE FROM \"{schema.name}\".warmup_migrations WHERE name = 'm036_outbox_expiry'",
    )
    url = schema.url + "%20-cdefault_transaction_read_only%3Don"
    for args in (("quota", BOX), ("report",), ("db", "migrate")):
        res = run("--db", url, *args)
        assert res.exit_code == 78, res.output
        line = _one_line(res.output)
        assert " has an older schema (1 migration behind) that this warmup must upgrade " in line
        assert "read-only here (cannot execute CREATE INDEX in a read-only transaction): " in line
        assert line.endswith(
            ": use the primary server, with a role whose transactions may write, then upgrade "
            "it once: warmup db migrate\n"
        ), line
    res = run("--db", schema.url, "db", "migrate")
    assert (res.exit_code, res.output.splitlines()[0]) == (0, "Applied m036_outbox_expiry")


def test_another_programs_table_named_like_warmups_is_refused_untouched(run, schema):
    """A team database's schema holding another application's ``send`` table (and no warmup
    schema): the migrations skipped creating ``send``, then failed on it half-way with a
    traceback. It is refused like SQLite's foreign file (78, nothing created); tables of other
    names never stand in the way."""
    _sql(
        schema,
        f'CREATE TABLE "{schema.name}".send (x int)',
        f'CREATE TABLE "{schema.name}".notes (x int)',
    )
    for args in (("mailbox", "add", BOX, "--provider", "exmail"), ("db", "migrate")):
        res = run("--db", schema.url, *args)
        assert res.exit_code == 78, res.output
        line = _one_line(res.output)
        assert "holds another program's tables (send) and no warmup schema; " in line
    url = sa.engine.make_url(schema.server).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema.name,)
        ).fetchall()
    assert tables == [("notes",), ("send",)]
    _sql(schema, f'DROP TABLE "{schema.name}".send')
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        ("statement_timeout", "canceling statement due to statement timeout"),
        ("lock_timeout", "canceling statement due to lock timeout"),
    ],
)
def test_a_statement_the_server_times_out_exits_75_in_one_line(run, schema, setting, said):
    """A statement the server cancels after the role's statement_timeout (SQLSTATE 57014) or
    lock_timeout (55P03), here waiting for the mailbox's row that another session holds
    locked: it exited 69, 'unavailable', as if the server were down. A retry may well pass
    (the lock released, the load gone): 75, a temporary failure, naming the timeout."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    url = schema.url + f"%20-c{setting}%3D300"
    assert run("--db", url, "quota", BOX).exit_code == 0  # reads take no lock: unaffected
    holder = sa.engine.make_url(schema.server).set(drivername="postgresql")
    with psycopg.connect(holder.render_as_string(hide_password=False)) as conn:
        conn.execute(f'SELECT id FROM "{schema.name}".mailbox FOR UPDATE')  # held until exit
        res = run("--db", url, "record", "send", BOX, "--to", "lead@example.com")
        assert res.exit_code == 75, res.output
        line = _one_line(res.output)
        assert line.startswith("Error: ledger postgresql+psycopg://warmup@"), line  # $PGPASSWORD
        assert f"timed out: {said}; " in line, line
        assert "try again" in line and setting in line, line
        gate = Gate(BOX, db=url)  # the gate's own psycopg path
        try:
            with pytest.raises(TempFail, match=said):
                gate.reserve(["lead@example.com"], now=dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
        finally:
            gate.close()
        conn.rollback()
    res = run("--db", schema.url, "report", "--json")
    assert res.exit_code == 0 and "lead@example.com" not in res.output
    with psycopg.connect(holder.render_as_string(hide_password=False)) as conn:
        sends = conn.execute(f'SELECT count(*) FROM "{schema.name}".send').fetchone()
    assert sends == (0,)


def test_a_lock_held_by_an_idle_session_ends_in_the_lock_timeout_not_a_hang(
    run, schema, monkeypatch
):
    """A session left idle in a transaction holding a mailbox's row (a psql prompt after
    SELECT ... FOR UPDATE) held the command, the gate and ``db copy`` without a word and
    without end: the server had no lock_timeout. warmup sets one on its connections where the
    role, the database or the URL set none (LOCK_TIMEOUT_S, 30 s; 0.5 s here), as long as a
    SQLite ledger's busy timeout: exit 75, one line naming it. One the user set is kept."""
    import time

    from warmup.ledger import postgres

    # The set-up under the real timeout: on a loaded shared server a 0.5 s one could cut
    # `mailbox add`'s own tables (exit 75) before the test began.
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_S", 0.5)
    holder = sa.engine.make_url(schema.server).set(drivername="postgresql")
    with psycopg.connect(holder.render_as_string(hide_password=False)) as conn:
        conn.execute(f'SELECT id FROM "{schema.name}".mailbox FOR UPDATE')  # held until exit
        started = time.monotonic()
        res = run("--db", schema.url, "record", "send", BOX, "--to", "lead@example.com")
        took = time.monotonic() - started
        assert res.exit_code == 75, res.output
        line = _one_line(res.output)
        assert "canceling statement due to lock timeout" in line and "lock_timeout" in line, line
        assert took < 10, took
        gate = Gate(BOX, db=schema.url)  # the gate's own psycopg path, its own connection
        try:
            with pytest.raises(TempFail, match="lock timeout"):
                gate.reserve(["lead@example.com"], now=dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC))
        finally:
            gate.close()
        conn.rollback()
    from warmup.ledger import open_ledger

    for url, setting in ((schema.url, "500ms"), (schema.url + "%20-clock_timeout%3D7s", "7s")):
        ledger = open_ledger(url)
        try:
            with ledger.engine.connect() as c:
                assert c.exec_driver_sql("SHOW lock_timeout").scalar() == setting
        finally:
            ledger.close()
    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_S", 30)  # the lock let go: the send passes
    assert run("--db", schema.url, "record", "send", BOX, "--to", "lead@example.com").exit_code == 0


def test_a_search_path_naming_no_schema_that_exists_exits_78_in_one_line(run, schema):
    """A URL whose search_path names a schema that is not there (a typo, one dropped): the
    first command printed psycopg's InvalidSchemaName ('no schema has been selected to create
    in') with a traceback and exited 1."""
    url = schema.url.replace(schema.name, f"{schema.name}_typo")
    for args in (("quota",), ("mailbox", "add", BOX, "--provider", "exmail"), ("db", "migrate")):
        res = run("--db", url, *args)
        assert res.exit_code == 78, res.output
        line = _one_line(res.output)
        assert line.startswith("Error: ledger postgresql+psycopg://warmup@"), line
        assert "no schema has been selected to create in; " in line
        assert f"{schema.name}_typo" in line and "CREATE SCHEMA" in line


def test_a_password_the_server_refuses_exits_77_and_a_bad_url_78(run, monkeypatch):
    """A wrong password is refused credentials (77, EX_NOPERM, as an SMTP or IMAP login refused),
    not a configuration the URL's form got wrong: it exited 78 like a database that does not
    exist. Neither line prints the password."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    server = sa.engine.make_url(pg_server())
    wrong = server.set(password="WR0NG-secret").render_as_string(hide_password=False)
    res = run("--db", wrong, "quota")
    assert res.exit_code == 77, res.output
    error = res.output.splitlines()[-1]
    assert error.startswith("Error: ledger postgresql+psycopg://") and ":***@" in error, error
    assert "password authentication failed" in error, error
    assert "WR0NG-secret" not in res.output and "Traceback" not in res.output
    res = run(
        "--db", server.set(password="WR0NG-secret", port=99999).render_as_string(False), "quota"
    )
    assert res.exit_code == 78, res.output
    assert "WR0NG-secret" not in res.output


def test_a_server_with_no_connection_left_exits_75_saying_what_to_do(run):
    """A server whose connection slots are all taken (max_connections, or a role's or
    database's CONNECTION LIMIT: a team running more workers than it allows) refuses one more:
    warmup exited 69, 'unavailable', in libpq's words alone. The server is up and a retry may
    pass once a process ends: 75, saying what to do."""
    from tests.pgkit import no_slot_left

    with no_slot_left() as (url, name):
        res = run("--db", url, "quota")
    assert res.exit_code == 75, res.output
    line = _one_line(res.output)
    assert f'too many connections for database "{name}"; try again later; ' in line, line
    assert "run fewer warmup processes at once or raise the server's max_connections" in line


def test_a_client_stopped_inside_a_transaction_lets_go_of_the_mailbox(run, schema, monkeypatch):
    """A warmup client that stops between two statements of a transaction holding a mailbox's
    row (SIGSTOP, a frozen VM, a host cut off the network: the server hears of it hours later)
    held that mailbox for every other host: each send exited 75 at its lock_timeout, for as
    long. warmup's sessions now end when idle in a transaction past IDLE_IN_TRANSACTION_S
    (300 s; 1 s here), where the role, the database or the URL set no
    idle_in_transaction_session_timeout; one the user set is kept."""
    from warmup.errors import Unavailable
    from warmup.ledger import open_ledger, postgres

    # the ledger made first, with the default: its migrations, one transaction, may idle past
    # 1 s between statements on a loaded machine (the server ended it: exit 69, a flake)
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    monkeypatch.setattr(postgres, "IDLE_IN_TRANSACTION_S", 1.0)
    stopped = open_ledger(schema.url)
    try:
        with pytest.raises(Unavailable, match="idle-in-transaction timeout"), stopped.write() as c:
            c.exec_driver_sql("SELECT id FROM mailbox FOR UPDATE")  # then nothing more is said
            res = run("--db", schema.url, "record", "send", BOX, "--to", "lead@example.com")
            assert res.exit_code == 0, res.output  # went once the server ended that session
            c.exec_driver_sql("SELECT 1")
    finally:
        stopped.close()
    setting = "idle_in_transaction_session_timeout"
    for url, value in ((schema.url, "1s"), (schema.url + f"%20-c{setting}%3D7s", "7s")):
        ledger = open_ledger(url)
        try:
            with ledger.engine.connect() as c:
                assert c.exec_driver_sql(f"SHOW {setting}").scalar() == value
        finally:
            ledger.close()


@pytest.mark.parametrize("scheme", ["postgres", "POSTGRES+psycopg"])
def test_a_postgres_url_is_the_same_ledger_as_its_postgresql_spelling(run, schema, scheme):
    """libpq and hosting providers (Heroku's DATABASE_URL) spell the scheme postgres://;
    SQLAlchemy dropped that name, and warmup refused it as an unknown scheme (78)."""
    url = schema.url.split("://", 1)[1]
    res = run("--db", f"{scheme}://{url}", "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output
    res = run("--db", schema.url, "quota", BOX, "--json")
    assert res.exit_code == 0 and BOX in res.output, res.output


@pytest.mark.parametrize(
    ("ddl", "said", "args"),
    [
        ("DROP TABLE {s}.sync_state", 'relation "sync_state" does not exist', ("db", "copy")),
        (
            "ALTER TABLE {s}.outbox RENAME TO outbox_old",
            '"outbox" does not exist',
            ("queue", "list"),
        ),
        (
            "ALTER TABLE {s}.mailbox DROP COLUMN cap",
            "column mailbox.cap does not exist",
            ("quota",),
        ),
    ],
    ids=["db-copy", "queue-list", "column"],
)
def test_a_ledger_missing_a_table_or_column_is_a_set_up_fault_78_not_a_traceback(
    run, schema, tmp_path, ddl, said, args
):
    """A table or column of warmup's schema dropped or renamed by hand on the team server:
    psycopg's UndefinedTable or UndefinedColumn came out as a traceback (exit 1; ``db copy`` of
    such a ledger to a file, ``queue list``, ``quota``), where a SQLite ledger says it lacks part
    of warmup's schema, 78, restore a backup (README)."""
    assert run("--db", schema.url, "mailbox", "add", BOX, "--provider", "exmail").exit_code == 0
    _sql(schema, ddl.format(s=f'"{schema.name}"'))
    if args == ("db", "copy"):
        args = (*args, "--to", str(tmp_path / "copy.db"))
    res = run("--db", schema.url, *args)
    assert res.exit_code == 78, res.output
    line = _one_line(res.output)
    assert line.startswith("Error: ledger postgresql+psycopg://") and said in line, line
    assert line.endswith("): it was changed outside warmup; restore a backup\n"), line


class _NoSslServer(PgProxy):
    """The test server behind a proxy that answers a client's SSLRequest (or GSSENCRequest)
    with 'N', as a server without SSL does, and passes the rest on: whatever the test server's
    own ``ssl`` setting, a server that offers no SSL."""

    _ASKS = {80877103, 80877104}  # SSLRequest, GSSENCRequest

    def _forward(self, a, b, data: bytes) -> None:  # type: ignore[no-untyped-def]
        if len(data) == 8 and int.from_bytes(data[4:], "big") in self._ASKS:
            a.sendall(b"N")
            return
        b.sendall(data)


def test_a_url_demanding_ssl_of_a_server_without_it_exits_78_saying_what_to_do(run, schema):
    """``sslmode=require`` in the URL of a server that offers no SSL was 'unavailable' (69), in
    libpq's words alone, and `warmup run` waited 10 minutes for a server that had answered: no
    wait gives it SSL. One line, 78, saying the two ways out, at once, the password not shown."""
    proxy = _NoSslServer()
    url = sa.engine.make_url(proxy.url(schema.url))  # its password in $PGPASSWORD
    demanding = url.update_query_dict({"sslmode": "require"}).render_as_string(False)
    res = run("--db", demanding, "quota")
    assert res.exit_code == 78, res.output
    line = _one_line(res.output)
    assert line.startswith(f"Error: ledger postgresql+psycopg://warmup@127.0.0.1:{proxy.port}/")
    assert "&sslmode=require: the server offers no SSL, which the URL's sslmode " in line, line
    assert "turn SSL on at the server (ssl = on" in line and "sslmode=prefer" in line, line
    res = run("--db", demanding, "run", "--once", "--ledger-wait", "3s")
    assert res.exit_code == 78, res.output
    assert "trying again" not in res.output, res.output
    prefer = url.update_query_dict({"sslmode": "prefer"}).render_as_string(False)
    res = run("--db", prefer, "mailbox", "add", BOX, "--provider", "exmail")
    assert res.exit_code == 0, res.output  # the way out it says: the same server, without SSL
