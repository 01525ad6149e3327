"""Opening a ledger: URL resolution, engine settings per backend, migrations on first use."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from warmup import migrations
from warmup.errors import ConfigError, Unavailable

BUSY_TIMEOUT_S = 30.0
MIGRATION_LOCK = 7261001  # pg_advisory_xact_lock key: "warmup migrations"


def default_path() -> Path:
    """``$XDG_DATA_HOME/warmup/ledger.db`` (``~/.local/share/warmup/ledger.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "warmup" / "ledger.db"


def resolve_url(url: str | None = None) -> str:
    """``--db`` value, else ``$WARMUP_DB``, else the default file; paths become sqlite URLs."""
    raw = url or os.environ.get("WARMUP_DB") or str(default_path())
    if "://" in raw:
        return raw
    return f"sqlite:///{Path(raw).expanduser().resolve()}"


def _safe(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<invalid URL>"


class Ledger:
    """An open ledger. Use :func:`open_ledger`; methods live in :mod:`warmup.ledger.store`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        self.where = (engine.url.database or "") if self.dialect == "sqlite" else _safe(url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read transaction.

        On PostgreSQL REPEATABLE READ, so that the several statements of one question (the
        rollup, today's raw rows, the events) see one snapshot; a transaction that only reads
        never fails to serialize.
        """
        with self._errors(), self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self, conn: Connection | None = None) -> Iterator[Connection]:
        """A write transaction holding the write lock from its start (SQLite BEGIN IMMEDIATE).

        ``conn``: a connection the caller keeps open (the gate does, to skip a pool checkout
        per message); otherwise one is checked out for the transaction.
        """
        if conn is not None:
            with self._errors(), conn.begin():
                yield conn
            return
        with self._errors(), self.engine.connect() as new:
            self._for_writes(new)
            with new.begin():
                yield new

    def connect_for_writes(self) -> Connection:
        """A long-lived connection whose transactions take the write lock at once."""
        return self._for_writes(self.engine.connect())

    def _for_writes(self, conn: Connection) -> Connection:
        if self.dialect == "postgresql":
            # READ COMMITTED whatever the server's default: after waiting for a row lock
            # (slots.lock_mailbox) each later statement sees what the lock holder committed.
            # Under REPEATABLE READ the gate would read a snapshot older than the lock.
            conn.execution_options(isolation_level="READ COMMITTED")
        else:
            conn.execution_options(warmup_begin="BEGIN IMMEDIATE")
        return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise _storage_error(exc, self.where) from None
        except sa.exc.DatabaseError as exc:
            if isinstance(exc.orig, sqlite3.DatabaseError) and not isinstance(
                    exc.orig, sqlite3.IntegrityError):
                raise _storage_error(exc, self.where) from None
            raise

    def close(self) -> None:
        self.engine.dispose()


def _storage_error(exc: sa.exc.DBAPIError, where: str) -> Exception:
    text = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return ConfigError(f"ledger {where} is not a warmup ledger or is corrupted ({text}); "
                           f"point --db/WARMUP_DB at another file or restore a backup")
    if "unable to open" in text or "readonly" in text or "disk" in text.lower():
        return ConfigError(f"ledger {where}: {text}; check the path and its permissions")
    return Unavailable(f"ledger {where} is unavailable: {text}")


def _set_wal(cur: sqlite3.Cursor) -> None:
    """Switch to WAL, waiting out a process that holds the file while it does the same.

    Changing the journal mode needs the file to itself and SQLite does not call the busy
    handler for it, so several processes opening a brand-new ledger at once could see
    "database is locked" here. The mode is persistent: once any of them has set it, done.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: str) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # WAL is a property of the file: set it on a new ledger (or ours), never on a file of
        # another program that was pointed at by mistake (it is refused untouched).
        ours = cur.execute("SELECT count(*) = 0 OR sum(name = 'warmup_migrations') > 0 "
                           "FROM sqlite_master").fetchone()[0]
        if ours:
            _set_wal(cur)
        cur.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable across process crashes
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("warmup_begin", "BEGIN"))

    return engine


def open_ledger(url: str | None = None, *, migrate: bool = True) -> Ledger:
    """Open (creating and migrating on first use) the ledger at ``url`` (see :func:`resolve_url`)."""
    url = resolve_url(url)
    try:
        backend = sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError:
        raise ConfigError(f"ledger URL {_safe(url)!r} is not a valid SQLAlchemy URL") from None
    try:
        if backend == "sqlite":
            engine = _sqlite_engine(url)
        else:
            engine = sa.create_engine(url, pool_pre_ping=False)
    except (sa.exc.NoSuchModuleError, ModuleNotFoundError) as exc:
        raise ConfigError(f"ledger URL {_safe(url)!r}: driver not installed ({exc}); "
                          f"for PostgreSQL: pip install 'warmup[postgres]'") from None
    except OSError as exc:
        raise ConfigError(f"ledger {_safe(url)}: cannot create it ({exc.strerror})") from None
    ledger = Ledger(engine, url)
    if migrate:
        _ensure_schema(ledger)
    return ledger


def _ensure_schema(ledger: Ledger) -> list[str]:
    """Apply pending migrations; the names applied ([] when the ledger was up to date)."""
    try:
        with ledger.read() as conn:
            if not migrations.pending(conn):
                return []
            foreign = _foreign_tables(conn)
    except sa.exc.DBAPIError as exc:
        raise _storage_error(exc, ledger.where) from None
    if foreign:
        raise ConfigError(f"ledger {ledger.where} holds another program's tables "
                          f"({', '.join(foreign[:3])}) and no warmup schema; point --db/"
                          f"WARMUP_DB at a new file (or an empty database) instead")
    with ledger.write() as conn:
        if ledger.dialect == "postgresql":
            # Transaction-scoped: released at commit or when the client dies. Two processes
            # opening a new team ledger at once: the second waits, then finds nothing pending.
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        return migrations.migrate(conn)


def _foreign_tables(conn: Connection) -> list[str]:
    """Tables of a SQLite file that is not (yet) a warmup ledger: refuse to write into it.

    PostgreSQL is exempt: a team database may well hold other applications' tables.
    """
    if conn.dialect.name != "sqlite" or sa.inspect(conn).has_table("warmup_migrations"):
        return []
    names = sa.inspect(conn).get_table_names()
    return sorted(n for n in names if not n.startswith("sqlite_"))


def migrate_ledger(ledger: Ledger) -> list[str]:
    """Bring ``ledger`` up to the current schema (``warmup db migrate``); the names applied."""
    return _ensure_schema(ledger)
