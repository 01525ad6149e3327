"""PostgreSQL for the contract suite: every test gets a fresh, empty schema on the test server.

``WARMUP_TEST_PG`` (exported by ``scripts/test``) is the server's URL. Each test gets a schema of
its own (``CREATE SCHEMA``) and a ledger URL whose connections put it first on the search path
(``options=-csearch_path=...``), so tests never see each other's rows; the schema is dropped
afterwards. Without ``WARMUP_TEST_PG`` the PostgreSQL tests skip locally and FAIL under CI
(``CI=true``): a CI run that silently skipped the team backend would prove nothing.

    from tests.pgkit import ledger_url  # noqa: F401  (the fixture)

    def test_something(ledger_url): ...   # runs twice: sqlite, postgresql
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest

BACKENDS = ["sqlite", "postgresql"]


def pg_server() -> str:
    """The test server's URL, or skip (locally) / fail (under CI) when there is none."""
    url = os.environ.get("WARMUP_TEST_PG")
    if url:
        return url
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(
            "WARMUP_TEST_PG is not set under CI: the PostgreSQL contract tests must run "
            "(./scripts/test starts the server and exports it)"
        )
    pytest.skip("WARMUP_TEST_PG not set (./scripts/test sets it); PostgreSQL tests skipped")


def session_name(prefix: str) -> str:
    """An ``application_name`` for a test's own process that no other session on the test
    server shares. The server is one for every test running at once (xdist's workers, so the
    parametrisations of one test, and any other checkout's suite): a test that waits for "the
    session named X" to block, or terminates it, found another test's process under a fixed
    name, and signalled or cut its own before it got there."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def drop_sessions(app: str) -> int:
    """Terminate the test server's sessions named ``app`` (``application_name``: what a server
    restart or an administrator's pg_terminate_backend does to them); how many."""
    import psycopg
    import sqlalchemy as sa

    url = sa.engine.make_url(pg_server()).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            (app,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg
    import sqlalchemy as sa

    plain = sa.engine.make_url(url).set(drivername="postgresql")
    return psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True)


def _without_password(url: str) -> str:
    """``url`` without its password, which goes to libpq through $PGPASSWORD instead: a ledger
    URL given with ``--db`` is on the command line, where warmup warns of a password (as a user
    would be told: put it in $WARMUP_DB, the config file or ~/.pgpass)."""
    import sqlalchemy as sa

    given = sa.engine.make_url(url)
    if given.password is None:
        return url
    os.environ.setdefault("PGPASSWORD", str(given.password))
    return given._replace(password=None).render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(prefix: str, options: str = "") -> Iterator[tuple[str, str]]:
    """A new database of the test server (``CREATE DATABASE ... {options}``): its URL, password
    kept, and its name; dropped afterwards, with any session still in it. For what must not
    touch the shared test database: its advisory locks are every test's."""
    import sqlalchemy as sa

    server = pg_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" {options}')
    try:
        yield (
            sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False),
            name,
        )
    finally:
        with _admin(server) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextlib.contextmanager
def no_slot_left() -> Iterator[tuple[str, str]]:
    """A database of the test server that admits no connection (CONNECTION LIMIT 0, as a
    server whose slots are all taken): its URL without a password (see
    :func:`_without_password`) and its name; dropped afterwards."""
    with fresh_database("slots", "CONNECTION LIMIT 0") as (url, name):
        yield _without_password(url), name


@contextlib.contextmanager
def throwaway_role() -> Iterator[tuple[str, str]]:
    """A login role of its own on the test server (``CREATE ROLE``, which needs the test role's
    CREATEROLE, given by ``scripts/test``): its name and password; dropped afterwards (drop
    what it was granted on first: a schema's privileges go with the schema). Skips (locally)
    or fails (under CI) when the test role may not create roles."""
    server = pg_server()
    name, password = f"throwaway_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    with _admin(server) as conn:
        row = conn.execute("SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user")
        if not (row.fetchone() or (False,))[0]:
            message = "the test role lacks CREATEROLE (./scripts/test grants it)"
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(message)
            pytest.skip(message)
        conn.execute(f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    try:
        yield name, password
    finally:
        with _admin(server) as conn:
            conn.execute(f'DROP ROLE "{name}"')


def with_schema(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` first (libpq ``options``)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}', safe='')}"


class PgSchema:
    """A throw-away schema on the test server; :attr:`url` is a ledger URL inside it."""

    def __init__(self, prefix: str = "t", server: str | None = None) -> None:
        self.server = server or pg_server()  # or a database of :func:`fresh_database`
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with _admin(self.server) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        self.url = with_schema(_without_password(self.server), self.name)

    def drop(self) -> None:
        with _admin(self.server) as conn:
            conn.execute("SET lock_timeout = '20s'")  # fail, never hang, on a stray lock
            conn.execute(f'DROP SCHEMA "{self.name}" CASCADE')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A ledger URL in a fresh PostgreSQL schema (skips/fails like :func:`pg_server`)."""
    schema = PgSchema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(params=BACKENDS)
def ledger_url(
    request: pytest.FixtureRequest,
    ledger_path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """The contract suite's ledger: this test's SQLite file, or a fresh PostgreSQL schema.

    ``WARMUP_DB`` points at it too, so CLI runs and child processes use the same ledger.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{ledger_path}"
        monkeypatch.setenv("WARMUP_DB", url)
        yield url
        return
    schema = PgSchema()
    monkeypatch.setenv("WARMUP_DB", schema.url)
    try:
        yield schema.url
    finally:
        schema.drop()


def waiting_for_lock(url: str, app: str) -> bool:
    """Whether the session named ``app`` (its ``application_name``) waits for a lock on the
    server of the ledger ``url``: a test's cue that a racing process reached its lock."""
    import sqlalchemy as sa

    from warmup.ledger import open_ledger

    ledger = open_ledger(url, migrate=False)
    try:
        with ledger.read() as conn:
            return bool(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE application_name = :app AND wait_event_type = 'Lock'"
                    ),
                    {"app": app},
                ).scalar()
            )
    finally:
        ledger.close()


class PgProxy:
    """A TCP proxy on 127.0.0.1 to the test server; :meth:`down` cuts every connection and
    refuses new ones (a server restarting), :meth:`up` lets them through again."""

    def __init__(self) -> None:
        import socket

        import sqlalchemy as sa

        target = sa.engine.make_url(pg_server())
        self.target = (target.host or "127.0.0.1", target.port or 5432)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list = []
        self.is_down = False
        self.refused = 0  # connections refused while down
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        return str(url).replace(f"{self.target[0]}:{self.target[1]}", f"127.0.0.1:{self.port}")

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.is_down:
                client.close()
                self.refused += 1
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _forward(self, a, b, data: bytes) -> None:  # type: ignore[no-untyped-def]
        """Pass on what ``a`` sent to ``b``: a proxy that mutes or holds up drops or keeps it."""
        b.sendall(data)

    def _ends_both(self, a) -> bool:  # type: ignore[no-untyped-def]
        """Whether ``a`` at its end shuts its peer too (a held client's server waits)."""
        return True

    def _pump(self, a, b) -> None:  # type: ignore[no-untyped-def]
        import socket

        try:
            while data := a.recv(65536):
                self._forward(a, b, data)
        except OSError:
            pass
        if not self._ends_both(a):
            return
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self) -> None:
        import socket

        self.is_down = True
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.conns = []

    def up(self) -> None:
        self.is_down = False


def round_trips(ledger: Any, call: Callable[[], Any]) -> list[str]:
    """What ``call()`` sends to the server on ``ledger``'s one pooled connection, a line a
    round trip (libpq's trace: each ends with the server's ReadyForQuery): the first two words
    of each of the client's statements in it."""
    import psycopg

    raw = ledger.engine.raw_connection()  # the pool's one connection, as the call checks it out
    pg = raw.driver_connection
    assert pg is not None
    raw.close()
    with tempfile.TemporaryFile("w+") as trace:
        pg.pgconn.trace(trace.fileno())
        pg.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            call()
        finally:
            pg.pgconn.untrace()
        trace.seek(0)
        trips, sent = [], []
        for line in trace:
            if line.count("\t") < 3:  # a statement's text goes on over several lines
                continue
            side, _, kind, *rest = line.split("\t")
            if side == "F" and kind in ("Query", "Parse"):
                text = rest[0].split('"')[1 if kind == "Query" else 3]
                sent.append(" ".join(text.split()[:2]))
            elif side == "B" and kind == "ReadyForQuery":
                trips.append("; ".join(sent))
                sent = []
    return trips
