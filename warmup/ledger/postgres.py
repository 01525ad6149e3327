"""The PostgreSQL backend: team mode, several hosts sharing one ledger (``postgresql+psycopg://``).

- **No over-send across hosts.** Every transaction that writes a mailbox's rows first locks the
  mailbox's row (``SELECT ... FROM mailbox WHERE id = ... FOR UPDATE``): reservations for one
  mailbox queue on that lock across connections and hosts, other mailboxes proceed in parallel. A
  row lock rather than an advisory lock or SERIALIZABLE: it is released with the transaction
  whatever happens to the client, it names exactly what it protects, and nothing has to be
  retried. A mailbox whose policy caps its whole domain locks every mailbox of the domain (in id
  order): the domain's count it reads is then the count it adds to. Writes run at READ COMMITTED
  so that the statements after the lock see what the previous holder committed; one lock order
  (mailboxes first, by id), so no deadlocks.
- **Consistent reads.** Questions run at REPEATABLE READ: one snapshot for their statements.
- **Migrations** run under a transaction-scoped advisory lock of the ledger's (its schema's), so
  hosts upgrading one ledger at once apply each migration once, and the ledgers of other
  schemas of the database go on meanwhile (:mod:`~warmup.ledger.postgres_locks`).

The gate's path, :class:`~warmup.ledger.postgres_gate.PostgresGate`, is its own module.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from warmup.errors import (
    ConfigError,
    ConnectionCut,
    DataError,
    LedgerBusy,
    NoLedger,
    PermissionFailure,
    ReadOnlyLedger,
    Unavailable,
    WarmupError,
)
from warmup.ledger import migrations
from warmup.ledger.core import (
    CellRefused,
    Ledger,
    NulInText,
    highest_id,
    interrupt_first,
    pool_errors,
    quiet_when_interrupted,
)
from warmup.ledger.gatepath import GatePolicy
from warmup.ledger.imports import SendRow
from warmup.ledger.postgres_gate import PostgresGate
from warmup.ledger.postgres_locks import ledger_schema, lock_name, migration_lock
from warmup.ledger.postgres_look import read_look
from warmup.ledger.postgres_upgrade import UpgradeFacts, upgrade_facts, upgrade_refusal
from warmup.ledger.schema import METADATA
from warmup.ledger.sqlite_look import one_statement
from warmup.ledger.values import Ask, MailboxRow, Parsed, RowExists, Snapshot

_T = TypeVar("_T")


def _quiet_when_cut(record: logging.LogRecord) -> bool:
    """A logging filter for psycopg's "error ignored terminating <psycopg.Pipeline [BAD]>: the
    connection is lost": the cleanup of a pipeline whose connection the server cut, above the
    one line that says so (:func:`_cut`)."""
    text = record.getMessage()
    return not (text.startswith("error ignored") and _CUT.search(text))


for _name in ("psycopg", "psycopg.transaction"):  # the loggers of psycopg's cleanup warnings
    logging.getLogger(_name).addFilter(quiet_when_interrupted)
    logging.getLogger(_name).addFilter(_quiet_when_cut)

# How long a statement waits for a lock before the server cancels it (lock_timeout, SQLSTATE
# 55P03: exit 75, try later), unless the role, the database or the URL's options set one: as
# long as a SQLite ledger's busy timeout. Without it a session left idle in a transaction (a
# psql prompt after SELECT ... FOR UPDATE, a crashed client whose connection lingers) held every
# warmup command, the gate and ``db copy`` included, without a word and without end.
LOCK_TIMEOUT_S = 30.0
# How long one of warmup's own sessions may sit idle inside a transaction before the server ends
# it (idle_in_transaction_session_timeout), unless the role, the database or the URL's options
# set one. Warmup's transactions wait for nothing but the server and a moment of Python (the
# gate's decision between its two round trips); one left idle holds a client that stopped or
# vanished mid-transaction (a process stopped with SIGSTOP or frozen with its VM, a host cut off
# the network: TCP tells the server hours later). Its mailboxes' row locks stayed held, and
# every other host's send for them exited 75 at each lock_timeout, for as long.
IDLE_IN_TRANSACTION_S = 300.0
# How long a process keeps its measure of its clock against the server's (clock_offset) before
# it measures again: time sync steps or slews a host's clock rarely, and a measure costs a few
# round trips.
OFFSET_EVERY_S = 60.0


_CLOCK = sa.text("SELECT clock_timestamp()")  # the server's clock now (not its transaction's start)
# How long a write cut in its COMMIT waits for the cut session's transaction to end before
# calling its fate unknown (PostgresLedger._ended): a COMMIT held up in the network for longer is
# rare, and the command then exits 75 rather than writing it again.
_SESSION_WAIT = 10.0


def _bound_lock_waits(dbapi_conn: Any, record: Any) -> None:
    """On each new connection: lock_timeout = LOCK_TIMEOUT_S and
    idle_in_transaction_session_timeout = IDLE_IN_TRANSACTION_S, each where nothing set one;
    and no JIT compilation where the server's default stands (``jit``'s source is
    ``default``). A ledger's statements are short or read one index; the outbox's waiting
    messages ('queue status', the worker's waits) cost enough to be compiled, in every
    parallel worker: 1.5 of 2.1 s of that statement on 200,000 messages went to LLVM."""
    with dbapi_conn.cursor() as cur:
        cur.execute(
            "SELECT set_config('jit', 'off', false) FROM pg_settings "
            "WHERE name = 'jit' AND source = 'default'"
        )
        cur.execute(
            "SELECT set_config('lock_timeout', %s, false) "
            "WHERE current_setting('lock_timeout') IN ('0', '0ms')",
            (f"{int(LOCK_TIMEOUT_S * 1000)}ms",),
        )
        cur.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false) "
            "WHERE current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms')",
            (f"{int(IDLE_IN_TRANSACTION_S * 1000)}ms",),
        )
    dbapi_conn.commit()  # a SET in a transaction rolled back is undone


_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ"  # questions: one snapshot
# Writes: after waiting for a row lock each later statement sees what its holder committed.
_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"

# Set while PostgresLedger._checked_out checks a connection out: its first round trip is the
# check, and the pool pings none (a per-thread flag: each thread checks its own out).
_UNPINGED = threading.local()


def _ping_on_checkout(engine: sa.Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping`` but for the connections :meth:`PostgresLedger._checked_out`
    checks by their first round trip: a connection the pool hands out (but a new one) is
    pinged (``;``), and one that fails the ping sends the pool to new connections."""

    def connected(dbapi_conn: Any, record: Any) -> None:
        record.info["warmup_new"] = True

    def checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        new = record.info.pop("warmup_new", False)
        if new or getattr(_UNPINGED, "on", False):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if not engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise
            raise sa.exc.InvalidatePoolError() from None  # the pool reconnects (as pre-ping did)

    sa.event.listen(engine, "connect", connected)
    sa.event.listen(engine, "checkout", checked_out)


def _idle_in(pool: sa.pool.Pool) -> bool:
    """Whether ``pool`` has a connection to hand out without opening one."""
    return not isinstance(pool, sa.pool.QueuePool) or pool.checkedin() > 0


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    from warmup.ledger import mask_url

    try:  # SQLAlchemy hides the user info's password; a query's ?password= is masked too
        return mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    except sa.exc.ArgumentError:
        return "<invalid URL>"


class PostgresLedger(Ledger):
    scheme = "postgresql"
    _hold_filtered = True  # the claim's test of the holds: see OutboxStore._hold_filtered
    _reads_shared = True  # Ledger.reading: a transaction costs round trips
    _offset: tuple[float, dt.timedelta] | None = None  # (when measured, monotonic; the offset)
    _upgrade: UpgradeFacts | None = None  # the running upgrade's, once it holds its lock

    def recheck_outbox(self) -> None:
        """Nothing to look for: a ``timestamptz`` holds no text a hand edit left unreadable
        (:meth:`OutboxViews.recheck_outbox <warmup.ledger.outbox_views.OutboxViews.recheck_outbox>`
        is SQLite's), and a transaction a pass costs round trips."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        # ``create`` is moot: a server's database is made by its administrator (and a missing
        # one fails to connect); the schema is created by migrations on first use.
        self.warnings: list[str] = []
        if url.count("@") > 1:
            # SQLAlchemy ends the password at its first "@": the rest up to a ":", "/" or "?"
            # would be sent to DNS (and printed in the error) as the host name.
            from warmup.ledger import mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: its user name or password holds an '@'; "
                f"write it as %40 in the URL"
            )
        if "%00" in url or "\x00" in url:
            # libpq reads its connection string as C text: a NUL in the password ended it
            # there, dropping the options after it (the port), so the password's start went
            # to the default server.
            from warmup.ledger import mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: it holds a NUL character (%00), which "
                f"PostgreSQL cannot take; remove it"
            )
        driver = sa.engine.make_url(url).drivername.partition("+")[2]
        if driver not in ("", "psycopg"):
            # A typo (psycog) surfaced as SQLAlchemy's "Can't load plugin", and another driver
            # (psycopg2, pg8000) as "pip install 'warmup[postgres]'", which installs neither:
            # the backend speaks psycopg 3 only.
            from warmup.ledger import mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: driver {driver!r} is not one warmup uses; "
                f"write postgresql+psycopg://"
            )
        port = sa.engine.make_url(url).port  # a port that is not a number: open_ledger's
        if port is not None and not 0 < port < 65536:
            # libpq's "invalid port number" surfaced when connecting, as "unavailable" (69); port
            # 0 went to the default port. The URL is wrong, and no server was asked.
            from warmup.ledger import mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: its port {port} is invalid; give one from 1 to "
                f"65535 (PostgreSQL's is 5432)"
            )
        bad = _malformed_host(sa.engine.make_url(url).host)
        if bad is not None:
            # psycopg resolved it before connecting: '[bad' came out as "failed to resolve host",
            # "unavailable" (69, try later), and 'a..b' as a traceback from the idna codec. No
            # server can answer to such a name: the URL is what is wrong.
            from warmup.ledger import mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: its host {bad!r} is not a host name or an IP "
                f"address; fix the URL in --db/WARMUP_DB"
            )
        if _ports_in_a_host_list(sa.engine.make_url(url).query):
            # ?host=h1:p1,h2:p2 reached libpq as one host list, its ports taken for part of
            # the names: "failed to resolve host 'h2:p2'", unavailable (69, try later).
            from warmup.ledger import SEVERAL_HOSTS, mask_url

            raise ConfigError(
                f"ledger URL {mask_url(url)!r}: its host list gives ports inside a comma list "
                f"(host=h1:p1,h2:p2), read as part of the host names; write {SEVERAL_HOSTS}"
            )
        # A pooled connection is tested before it is used again, so a long-lived process
        # (``warmup run``) whose connections the server dropped while it idled (a restart, a
        # fail-over, pg_terminate_backend) reconnects instead of failing: by the ledger's own
        # transactions and one-statement reads in their first round trip
        # (:meth:`_checked_out`), by the pool's ping (one round trip more, SQLAlchemy's
        # pre-ping) for any other use (:func:`_ping_on_checkout`). The gate's reservations
        # keep their own connection and check it by their first round trip.
        engine = sa.create_engine(url)
        # The gates of this process that hold a connection between their reservations, and
        # whether the server has run out of slots for one more (see _pool_connect).
        self._lenders: weakref.WeakSet[PostgresGate] = weakref.WeakSet()
        self._lenders_lock = threading.Lock()
        self._scarce = False
        sa.event.listen(engine, "connect", _bound_lock_waits)
        _ping_on_checkout(engine)
        super().__init__(engine, url, safe_url(url))

    def same_store(self, other: Ledger) -> bool:
        # One schema of one database of one server under two URLs: localhost and 127.0.0.1, a
        # host name and its address, another role. Compared by the URL alone, 'db copy --to'
        # the source under another spelling, with --force, deleted the rows it was copying.
        if self.url == other.url:
            return True
        if not isinstance(other, PostgresLedger):
            return False
        try:
            return self._identity() == other._identity()
        except (sa.exc.SQLAlchemyError, OSError):
            return False  # the copy's own connection says what is wrong with the URL

    def clock_offset(self) -> dt.timedelta:
        """The server's clock minus this host's (see :meth:`Ledger.clock_offset`), measured
        again after :data:`OFFSET_EVERY_S`: the smallest of three round trips of ``SELECT
        clock_timestamp()``, its server time against the midpoint of this host's wall clock
        around it (as NTP does), rounded to the second (a round trip's noise against a lease
        of minutes)."""
        at = time.monotonic()
        if self._offset is None or at - self._offset[0] >= OFFSET_EVERY_S:
            best: tuple[float, float] | None = None
            with self.read() as conn:
                for _ in range(3):
                    before = time.time()
                    server = conn.execute(_CLOCK).scalar_one()
                    after = time.time()
                    if best is None or after - before < best[0]:
                        best = (after - before, server.timestamp() - (before + after) / 2)
            assert best is not None
            self._offset = (at, dt.timedelta(seconds=round(best[1])))
        return self._offset[1]

    def _identity(self) -> tuple[object, ...]:
        """The server's system identifier (set at initdb), the database and the schema the
        ledger's tables are in: the one its statements reach, not the search_path's first
        (``empty,ledger`` reaches the second's tables; current_schema() named the first)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT system_identifier, current_database() FROM pg_control_system()")
            ).one()
            return (*row, ledger_schema(conn))

    def _read_conn(self, conn: Connection) -> None:
        conn.execution_options(isolation_level="REPEATABLE READ")

    def _checked_out(self, first: Callable[[Connection], _T]) -> tuple[Connection, _T]:
        """A connection of the pool, in autocommit mode, and ``first(conn)``: its first round
        trip (or trips), which must write nothing, are the connection's check instead of the
        pool's ping. A connection the server cut while it idled in the pool (a restart, a
        fail-over, pg_terminate_backend) fails them: nothing happened, SQLAlchemy invalidates
        the pool's connections (as a failed ping did), and ``first`` runs again on a new one.
        The ping cost a round trip of its own before each transaction: 19 of a pool of 3's
        slot of ~106 (bench/outbox_slots.py --trips). It is raced no more than the ping was: a
        cut landing after the check fails the transaction either way."""
        for attempt in range(2):
            _UNPINGED.on = True
            try:
                conn = self._pool_connect()
            finally:
                _UNPINGED.on = False
            try:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                return conn, first(conn)
            except sa.exc.DBAPIError as exc:
                conn.close()  # an invalidated one is not given back to the pool
                if attempt or not exc.connection_invalidated:
                    raise
            except BaseException:
                conn.invalidate()  # a Ctrl-C mid-round trip: the connection's state is unknown
                conn.close()
                raise
        raise AssertionError("unreachable")

    def _pool_connect(self) -> Connection:
        """A connection of the pool. When the server has no slot for one more (its
        max_connections, a role's or database's CONNECTION LIMIT: one left for warmup) while
        gates of this process hold theirs idle between reservations, those are lent back to the
        pool first (:meth:`PostgresGate.lend`), and the pool asked again: a worker's gate held
        the one connection after its message left, and the claim that writes the message's
        outcome was refused a second (exit 75, the message stuck ``sending``). Once the server
        has refused one, the gates lend theirs before the pool opens another (a refused login
        costs the server a process and the password's check), for the process's life."""
        if self._scarce and self._lenders and not _idle_in(self.engine.pool):
            self._lend()
        try:
            return self.engine.connect()
        except sa.exc.OperationalError as exc:
            if not _NO_SLOT.search(str(exc.orig)) or not self._lend():
                raise
        self._scarce = True
        return self.engine.connect()

    def _lend(self) -> bool:
        """Whether any gate of this process gave the pool back the connection it held idle."""
        with self._lenders_lock:
            gates = list(self._lenders)
        return sum(gate.lend() for gate in gates) > 0

    def _lent(self, gate: PostgresGate, holds: bool) -> None:
        """``gate`` holds a connection of the pool between its reservations now, or no more."""
        with self._lenders_lock:
            if holds:
                self._lenders.add(gate)
            else:
                self._lenders.discard(gate)

    def _begun(self, write: bool) -> tuple[Connection, sa.RootTransaction]:
        # The BEGIN is this transaction's first round trip, sent by warmup on a connection in
        # autocommit mode (psycopg then adds none of its own, and its COMMIT and ROLLBACK go to
        # the server while a transaction is open there): the check of the connection rides on
        # it (_checked_out).
        begin = _BEGIN_WRITE if write else _BEGIN_READ

        def first(conn: Connection) -> sa.RootTransaction:
            begun = conn.begin()
            conn.exec_driver_sql(begin)
            return begun

        return self._checked_out(first)

    def _read_all(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        # Alone in autocommit: no BEGIN, no COMMIT, and the connection's check rides on it (a
        # read runs again on a new connection as well as a ping would).
        if self._shared() is not None:
            return super()._read_all(stmt, params)
        with interrupt_first(), self._errors(), pool_errors(self.engine, self.where):
            conn, rows = self._checked_out(lambda c: list(c.execute(stmt, params or {}).all()))
            conn.close()
        return rows

    def pending_migrations(self) -> list[str]:
        # The applied migrations' names in one statement alone (not whether the table exists,
        # then its names, in a transaction: five round trips of every worker's pass); a blank
        # ledger's refusal of it (no such table) asks as the other backend does.
        import psycopg

        if self._shared() is None:
            try:
                done = self._read_all(sa.select(migrations.MIGRATIONS_TABLE.c.name))
            except sa.exc.ProgrammingError as exc:
                if not isinstance(exc.orig, psycopg.errors.UndefinedTable):
                    raise
            except SchemaPartGone as exc:  # the table of migrations itself: a blank ledger
                if exc.state != "42P01":
                    raise
            else:
                return migrations.left({name for (name,) in done}, f"ledger {self.where}")
        return super().pending_migrations()

    def pool_look(
        self,
        threads: list[str],
        recipients: list[str],
        mailbox_ids: Sequence[int],
        asks: Sequence[tuple[MailboxRow, Ask]] | None,
        as_of: dt.datetime,
        kept: Parsed | None = None,
    ) -> tuple[int | None, list[Snapshot] | None]:
        # One statement in autocommit: no BEGIN, no COMMIT (warmup.ledger.postgres_look); within
        # reading(), in that one's snapshot, as each read of it. The check of the connection
        # (a session cut since it was given back) rides on it: _checked_out.
        if one_statement(asks) and self._shared() is None:
            with interrupt_first(), self._errors(), pool_errors(self.engine, self.where):
                conn, got = self._checked_out(
                    lambda c: read_look(c, threads, recipients, mailbox_ids, asks, as_of, kept)
                )
                conn.close()
            if got is not None:
                return got
        return super().pool_look(threads, recipients, mailbox_ids, asks, as_of, kept)

    def _histories_on(
        self, conn: Connection, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        # The look's one statement without whom it stays with, in the question's transaction:
        # one round trip for 5 (the quotas of a held pool's members, of next due's, of 'quota')
        if asks and one_statement(asks):
            got = read_look(conn, [], [], [], asks, as_of)
            if got is not None and got[1] is not None:
                return got[1]
        return super()._histories_on(conn, asks, as_of)

    def _write_conn(self, conn: Connection) -> Connection:
        # READ COMMITTED whatever the server's default: after waiting for a row lock each later
        # statement sees what the lock holder committed (REPEATABLE READ would read an older
        # snapshot).
        return conn.execution_options(isolation_level="READ COMMITTED")

    def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None:
        ids = sorted(ids)
        if ids:
            conn.execute(
                sa.text("SELECT id FROM mailbox WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"),
                {"ids": ids},
            )

    def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None:
        lock_name(conn, name, shared)

    def _migration_lock(self, conn: Connection) -> None:
        migration_lock(conn, self.where)
        self._upgrade = upgrade_facts(conn)

    @contextmanager
    def _migrating(self) -> Iterator[Connection]:
        """The migrations' transaction, whose refusals say what an upgrade needs
        (:mod:`~warmup.ledger.postgres_upgrade`) once it holds its lock: a wait for the lock is
        an everyday one."""
        self._upgrade = None
        with self.write() as conn:
            try:
                yield conn
            except sa.exc.DBAPIError as exc:
                facts, self._upgrade = self._upgrade, None
                refused = facts and upgrade_refusal(exc.orig or exc, facts, self.where)
                if refused:
                    raise refused from None
                raise

    def _insert(self, table: sa.Table) -> Any:
        return pg_insert(table)

    def _order_staged(self, conn: Connection, index: sa.Index) -> None:
        # No index: the write's sort costs no more than reading one (measured at a million
        # staged addresses: the same INSERT time either way), and the write holds no lock a
        # send waits for; building it took a tenth to a fifth of 'suppress add --from'.
        pass

    def _has_table(self, conn: Connection, name: str) -> bool:
        return bool(
            conn.execute(sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar()
        )

    def _sql_day_number(self, column: Any) -> Any:
        return column - sa.literal_column("DATE '1970-01-01'")

    def _sql_domain(self, column: Any) -> Any:
        return sa.func.lower(sa.func.substr(column, sa.func.strpos(column, "@") + 1))

    def _sql_utc_day(self, column: Any) -> Any:
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)

    def _sql_by_code_point(self, column: Any) -> Any:
        return sa.collate(column, "C")  # not the database's locale

    def foreign_tables(self) -> list[str]:
        """A team database may well hold other applications' tables: refused only when, with no
        warmup schema there, one in the schema the ledger would be created in bears the name of
        one of warmup's (the migrations would skip creating it, then fail on it half-way)."""
        with self.read() as conn:
            if self._has_table(conn, "warmup_migrations"):
                return []
            return list(
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                        "AND tablename = ANY(:ours) ORDER BY tablename"
                    ),
                    {"ours": sorted(METADATA.tables)},
                ).scalars()
            )

    def absent(self) -> WarmupError:
        with self.read() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        if schema is None:  # as the CREATE TABLE of a command that creates would be refused
            return ConfigError(
                f"ledger {self.where}: no schema has been selected to create in; {NO_SCHEMA_FIX}"
            )
        return NoLedger(
            f"no ledger in {self.where} yet (schema {schema!r} holds no warmup tables); run "
            f"'warmup mailbox add' to create one, or check the URL's database and search_path"
        )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except UnicodeEncodeError as exc:
            if not _from_psycopg(exc):
                raise
            # a value psycopg (or the gate, warmup.ledger.postgres_gate._text) could not put in
            # the connection's client encoding: nothing of it reached the server
            # in UTF-8 only a lone surrogate has none (text that was not UTF-8, read as if it were)
            other = ", or use the ledger with client_encoding UTF8 in a UTF8 database"
            other = "" if exc.encoding.replace("-", "") == "utf8" else other
            raise DataError(
                f"ledger {self.where}: {exc.object[exc.start : exc.end]!r} has no form in the "
                f"connection's client encoding ({exc.encoding}): give the value without it{other}"
            ) from None
        except (sa.exc.DBAPIError, psycopg.Error) as exc:
            orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig else exc
            refused = _refusal(orig, self.where)
            if refused is not None:
                raise refused from None
            if isinstance(exc, sa.exc.OperationalError | psycopg.OperationalError):
                # psycopg's own: the gate's transactions
                if _was_cut(exc, orig) and self._answers():
                    raise _cut(orig, self.where) from None
                raise _storage_error(orig, self.where) from None
            # libpq's refusal of the URL's own options (?bogus=1, ?connect_timeout=abc) comes as a
            # ProgrammingError before any statement; any other error is a bug, raised as it is
            if isinstance(exc, sa.exc.ProgrammingError) and _BAD_OPTION.search(str(orig)):
                raise _storage_error(orig, self.where) from None
            raise

    def _transaction_id(self, conn: Connection) -> int | None:
        return int(conn.execute(sa.text("SELECT txid_current()")).scalar_one())

    def _committed(self, conn: Connection, xid: int | None) -> bool | None:
        # 'in progress' (a COMMIT the server is still writing): not known yet; NULL (too old
        # to tell) does not happen to a transaction of a moment ago.
        status = conn.execute(sa.text("SELECT txid_status(:x)"), {"x": xid}).scalar()
        return {"committed": True, "aborted": False}.get(str(status))

    def _session_of(self, conn: Connection) -> object:
        dbapi = conn.connection.dbapi_connection
        return None if dbapi is None else dbapi.info.backend_pid

    def _ended(self, session: object) -> bool:
        # The backend of a cut connection may still be in its transaction: its COMMIT held up
        # on the way (a network delaying it, a proxy), or being written. Looked at on new
        # connections (a transaction's look at pg_stat_activity is a snapshot) until it has
        # ended, at most _SESSION_WAIT; a backend gone, or idle, has. A pid reused meanwhile
        # by a session in a transaction of its own is waited for too: no harm but the wait.
        if session is None:
            return True
        look = sa.text("SELECT xact_start IS NOT NULL FROM pg_stat_activity WHERE pid = :pid")
        deadline = time.monotonic() + _SESSION_WAIT
        while True:
            with self.read() as conn:
                busy = conn.execute(look, {"pid": session}).scalar()
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _answers(self) -> bool:
        """Whether the server takes a new connection now (one of its own, outside the pool,
        closed at once): after a connection of warmup's was cut, whether it is the server that
        is away (69) or only that connection (75)."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams.setdefault("connect_timeout", 10)
        try:
            self.engine.dialect.dbapi.connect(*cargs, **cparams).close()  # type: ignore[union-attr]
        except Exception:
            return False
        return True

    def gate(
        self,
        box: MailboxRow,
        policy: GatePolicy | None = None,
        expiry: dt.timedelta = dt.timedelta(minutes=15),
    ) -> PostgresGate:
        return PostgresGate(self, box, policy or GatePolicy("", 0, False), expiry)

    def _insert_sends(self, conn: Connection, rows: list[SendRow]) -> None:
        # psycopg's pipelined executemany on plain values (SQLAlchemy's bind processing per row
        # was most of an import's time).
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.executemany(_IMPORT_SENDS, rows)

    def _present_keys(
        self, conn: Connection, table: str, pairs: list[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        # One statement for every mailbox: the pairs as two arrays, joined on uq_*_key.
        assert table in ("send", "bounce")
        if not pairs:
            return {}
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            cur.execute(
                f"SELECT t.mailbox_id, t.key, t.id FROM {table} t "
                "JOIN unnest(%s::bigint[], %s::text[]) AS u(m, k) "
                "ON t.mailbox_id = u.m AND t.key = u.k",
                ([m for m, _ in pairs], [k for _, k in pairs]),
            )
            return {(m, k): i for m, k, i in cur}

    def bulk_insert(self, conn: Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
        """:meth:`insert_rows` of every column: measured on a 100k-send ledger, a fifth of the
        time of batched INSERTs."""
        import psycopg

        try:
            self.insert_rows(conn, table, [c.name for c in table.columns], rows)
        except psycopg.DataError as exc:
            # SQLite keeps a NUL in text, PostgreSQL none: a ledger written before warmup refused
            # control characters may hold one. Found after the fact: no cost per row.
            for row in rows:
                for column, value in zip(table.columns, row, strict=True):
                    if isinstance(value, str) and "\x00" in value:
                        raise NulInText(table, column, row) from None
            # Any other cell the server refused (an integer out of range, text in a number's
            # column): COPY names its line (1 = the batch's first row) and column.
            found = _COPY_PLACE.search(exc.diag.context or "")
            names = [c.name for c in table.columns]
            if found and int(found[1]) <= len(rows) and found[2] in names:
                raise CellRefused(
                    table,
                    table.columns[found[2]],
                    rows[int(found[1]) - 1],
                    exc.diag.message_primary or str(exc),
                ) from None
            raise

    def insert_rows(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """``COPY ... FROM STDIN`` on the transaction's own psycopg connection, values as psycopg
        dumps them: SQLAlchemy's ``executemany`` (its per-row parameter processing, then a
        many-row INSERT) took 2.3 s of a 100k-address ``suppress add --from``'s staging, COPY
        0.2-0.5 s (bench/RESULTS.md)."""
        import psycopg

        quote = conn.dialect.identifier_preparer.quote
        names = ", ".join(quote(c) for c in columns)
        raw = conn.connection.driver_connection
        assert raw is not None
        try:
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as cp,
            ):
                for row in rows:
                    cp.write_row(row)
        except psycopg.errors.UniqueViolation as exc:
            # Another process's row, committed between this transaction's look and its COPY
            # (two hosts queueing one message at once): a traceback, exit 1, before.
            found = _UNIQUE_KEY.match(exc.diag.message_detail or "")
            if found is None:
                raise
            raise RowExists(table.name, found[1], found[2]) from None

    def never_reuse_ids(self, conn: Connection, table: sa.Table, name: str, above: int) -> None:
        """A serial sequence never goes back: moved past ``above`` if it is not yet. Frozen:
        m015's step."""
        run = conn.exec_driver_sql
        seq = run(f"SELECT pg_get_serial_sequence('{name}', 'id')").scalar_one()
        last, called = run(f"SELECT last_value, is_called FROM {seq}").one()
        if above > (last if called else last - 1):
            run(f"SELECT setval('{seq}', {above}, true)")

    def rows_in_key_order(self, conn: Connection, table: sa.Table, name: str) -> None:
        """Nothing: a heap has no order to keep (the primary key's index serves the reads).
        Frozen: m018's step."""

    def lock_for_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        # EXCLUSIVE: readers go on; writers (another copy, a host's gate) wait for the commit.
        quote = conn.dialect.identifier_preparer.quote
        conn.exec_driver_sql(
            f"LOCK TABLE {', '.join(quote(t.name) for t in tables)} IN EXCLUSIVE MODE"
        )

    def after_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """Move each serial id's sequence past the copied ids (or the next insert collides)."""
        for table in tables:
            if "id" not in table.c or not table.c.id.primary_key:
                continue
            # Past the ids kept of removed mailboxes and pools too (highest_id); is_called=false
            # when there is none: the next id is 1, not 2.
            high = highest_id(conn, table, tables)
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"{max(high, 1)}, {'true' if high else 'false'})"
            )


# The server's DETAIL of a unique violation on one column: its name and the value met.
_UNIQUE_KEY = re.compile(r"Key \((\w+)\)=\((.*)\) already exists\.$", re.DOTALL)

# Where in a COPY the server met the value it refused (its error's CONTEXT).
_COPY_PLACE = re.compile(r"COPY \S+, line (\d+), column (\w+)")

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _malformed_host(hosts: str | None) -> str | None:
    """The first of the URL's hosts (libpq takes ``h1,h2``) that is neither a socket directory,
    an IP address nor a host name DNS could hold (labels of letters, digits, '-' and '_', an
    IDN's in its ASCII form); None when every one is."""
    import ipaddress

    for host in (hosts or "").split(","):
        if host.startswith(("/", "@")) or not host:  # a Unix socket's directory (or none)
            continue
        try:
            ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone: fe80::1%eth0
            continue
        except ValueError:
            pass
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return host
        if len(ascii_host) > 253 or not all(
            _HOST_LABEL.fullmatch(label) for label in ascii_host.removesuffix(".").split(".")
        ):
            return host
    return None


def _ports_in_a_host_list(query: Mapping[str, str | Sequence[str]]) -> bool:
    """Whether a ``host`` of the URL's query lists several hosts with a port inside the list
    (``h1:p1,h2:p2``; a bare IPv6 address's colons and a socket directory are no port)."""
    import ipaddress

    values = query.get("host", ())
    for value in (values,) if isinstance(values, str) else values:
        for host in value.split(",") if "," in value else ():
            if host.startswith(("/", "@")) or ":" not in host:
                continue
            try:
                ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                return True
    return False


# What libpq and psycopg say of a URL's options they cannot take: the URL is wrong (exit 78), not
# the server unavailable (69).
_BAD_OPTION = re.compile(
    r"invalid connection option|invalid URI query parameter|bad value for|invalid \w+ value"
)
# What the server says, as the session starts, of the URL's ``options=-c NAME=VALUE`` it refuses
# (a misspelt parameter, a value it cannot read or out of range, a bare word): it answered, so
# no wait mends it (78), where "unavailable" (69) had `warmup run` wait 10 minutes for it.
_REFUSED_OPTION = re.compile(
    r"FATAL:\s+(?:invalid value for parameter|unrecognized configuration parameter|"
    r"parameter \"[^\"]*\" (?:requires|cannot be changed)|.* is outside the valid range for "
    r"parameter|invalid command-line argument|permission denied to set parameter)"
)


# The server's refusal of the login (77): a wrong password, peer or ident authentication of
# another OS user, no pg_hba.conf line for this host, user or database. libpq's "no password
# supplied" is no refusal: the configuration gives none (78, as a mailbox without a password).
_NO_LOGIN = re.compile(r"authentication failed|no pg_hba\.conf entry", re.IGNORECASE)
_NO_PASSWORD = re.compile(r"no password supplied", re.IGNORECASE)
# The server's refusal of one more connection (SQLSTATE 53300, which libpq does not expose for a
# connection it refused): max_connections, the slots kept for superusers, or a role's or
# database's CONNECTION LIMIT used up. The server is up and a retry may pass: 75, not 69.
_NO_SLOT = re.compile(
    r"too many clients already|too many connections for (?:role|database)|"
    r"remaining connection slots are reserved",
    re.IGNORECASE,
)
# libpq's words for a URL whose sslmode (require, verify-ca, verify-full) demands SSL of a server
# that offers none: the server answered, and no wait gives it SSL (78, where "unavailable", 69,
# had `warmup run` wait 10 minutes for it).
_NO_SSL = re.compile(r"server does not support SSL, but SSL was required", re.IGNORECASE)


def _storage_error(exc: BaseException, where: str) -> WarmupError:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if _NO_LOGIN.search(text):  # no wait fixes a login the server refuses: not 'try later'
        # The credentials are refused (77, as an SMTP or IMAP login), not the URL's form (78).
        return PermissionFailure(f"ledger {where}: {text}; check the URL in --db/WARMUP_DB")
    if _NO_PASSWORD.search(text) or "does not exist" in text or _BAD_OPTION.search(text):
        return ConfigError(f"ledger {where}: {text}; check the URL in --db/WARMUP_DB")
    if _REFUSED_OPTION.search(text):
        return ConfigError(
            f"ledger {where}: {text}; check the options= of the URL in --db/WARMUP_DB "
            f"(-cNAME=VALUE, URL-encoded; a space inside a value is written '\\ ')"
        )
    if _NO_SSL.search(text):
        return ConfigError(
            f"ledger {where}: the server offers no SSL, which the URL's sslmode demands: turn "
            f"SSL on at the server (ssl = on, with a certificate, in postgresql.conf), or, on a "
            f"network you trust, give the URL sslmode=prefer (or no sslmode) in --db/WARMUP_DB"
        )
    if _NO_SLOT.search(text):
        return LedgerBusy(
            f"ledger {where}: the server has no connection left for warmup: {text}; try again "
            f"later; if it keeps refusing, run fewer warmup processes at once or raise the "
            f"server's max_connections (or the role's or database's CONNECTION LIMIT)"
        )
    return Unavailable(f"ledger {where} is unavailable: {text}")


# What libpq and psycopg say of a connection the server (or something between) ended under
# warmup: pg_terminate_backend (SQLSTATE 57P01, "terminating connection due to administrator
# command"), a restart or fail-over, a pooler's restart, a proxy's reset.
_CUT = re.compile(
    r"terminating connection|server closed the connection unexpectedly|the connection is lost|"
    r"consuming input failed|connection to server was lost|could not (?:receive|send) data "
    r"(?:from|to) server|SSL SYSCALL error|SSL connection has been closed unexpectedly",
    re.IGNORECASE,
)


def _was_cut(exc: BaseException, orig: BaseException) -> bool:
    """Whether ``exc`` ended a connection warmup had open (SQLAlchemy invalidated it, or the
    gate's psycopg connection says so), not one it was opening: a refused or dropped connect is
    the server away (69), and asking it once more only doubles a wait."""
    text = str(orig)
    if text.startswith("connection failed") or not _CUT.search(text):
        return False
    return not isinstance(exc, sa.exc.DBAPIError) or exc.connection_invalidated


def _cut(exc: BaseException, where: str) -> ConnectionCut:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return ConnectionCut(
        f"ledger {where}: the server cut warmup's connection ({text}) and takes new ones: the "
        f"transaction warmup was in was rolled back, unless the cut came as it committed; try "
        f"again"
    )


NO_SCHEMA_FIX = (
    "none of the schemas on the connection's search_path (the URL's "
    "options=-csearch_path=..., else the role's or the database's) exists: create it "
    "(CREATE SCHEMA) or fix the name"
)


def _refusal(exc: BaseException, where: str) -> WarmupError | None:
    """The server's refusal to let this role do what warmup asked (no right to create the
    ledger's tables or to write them; a read-only server or session; a statement it timed out),
    as one line; None for any other error."""
    state = getattr(exc, "sqlstate", None)
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if state == "42501":  # insufficient_privilege
        return PermissionFailure(
            f"ledger {where}: the server refused: {text}; the ledger's role needs CREATE on its "
            f"schema to create the ledger, and SELECT, INSERT, UPDATE and DELETE on warmup's "
            f"tables (USAGE on their sequences) to use it"
        )
    if state == "3F000":  # invalid_schema_name: no schema of the search_path exists
        return ConfigError(f"ledger {where}: {text}; {NO_SCHEMA_FIX}")
    if state == "25006":  # read_only_sql_transaction
        fix = "use the primary server, with a role whose transactions may write"
        return ReadOnlyLedger(
            f"ledger {where} is read-only: {text}; warmup writes to its ledger: {fix}",
            why=text,
            fix=fix,
        )
    if state == "25P03":  # idle_in_transaction_session_timeout: the session was ended
        return Unavailable(
            f"ledger {where} is unavailable: {text}; this process stopped in the middle of a "
            f"transaction for longer than the server waits (idle_in_transaction_session_timeout), "
            f"which it rolled back: try again"
        )
    if state == "22P05":  # untranslatable_character: the database's encoding lacks it
        return DataError(
            f"ledger {where}: {text}; the database's encoding cannot hold that character: give "
            f"the value without it, or keep the ledger in a UTF8 database"
        )
    if state in _TIMEOUTS:
        # The server is up and answered: a retry may pass once the lock is released or the
        # load gone (75, like a quota spent), not 'unavailable' (69: the server unreachable).
        return LedgerBusy(
            f"ledger {where}: a statement timed out: {text}; its transaction was rolled back: "
            f"try again later; if it keeps timing out, look for a long transaction holding "
            f"warmup's rows (pg_stat_activity) or raise the {_TIMEOUTS[state]} of warmup's role"
        )
    return _server_fault(exc, state, text, where)


class SchemaPartGone(ConfigError):
    """A table or column of warmup's schema the server does not find; ``state``: its SQLSTATE
    (42P01 a table, 42703 a column)."""

    def __init__(self, message: str, state: str) -> None:
        super().__init__(message)
        self.state = state


def _server_fault(
    exc: BaseException, state: str | None, text: str, where: str
) -> WarmupError | None:
    """The errors a server raises in warmup's statements that are not warmup's bugs, as one
    line (:func:`_refusal`'s others); None for any other error."""
    if state is not None and state.startswith("40"):
        # serialization_failure, deadlock_detected: the server gave up on the transaction and
        # says so; the server is up, and the same statements run anew may pass (75, not 69).
        return LedgerBusy(
            f"ledger {where}: the server rolled the transaction back: {text}; nothing of it was "
            f"written: try again"
        )
    if state in ("42P01", "42703"):  # undefined_table, undefined_column
        # Migrations made every table and column: one gone was dropped or renamed by hand, or a
        # partial restore (a traceback, exit 1; a SQLite ledger says so, 78).
        return SchemaPartGone(
            f"ledger {where} lacks part of warmup's schema ({text}): it was changed outside "
            f"warmup; restore a backup",
            state,
        )
    if state == "26000":  # invalid_sql_statement_name, after the gate prepared them anew
        return ConfigError(
            f"ledger {where}: {text}; warmup's prepared statements were gone from its "
            f"connection: a pooler in transaction mode between warmup and the server "
            f"(PgBouncer's pool_mode = transaction)? give warmup a pool in session mode, or the "
            f"server itself"
        )
    # Warmup has no functions of its own: an error raised in one (RAISE EXCEPTION in a trigger
    # a DBA added to the send table) is the database's set-up refusing warmup's write.
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    function = next((c for c in context.splitlines() if "function" in c), "")
    if (state or "").startswith("P0") or function:
        at = f" ({function.strip()})" if function else ""
        return ConfigError(
            f"ledger {where}: the server refused: {text}{at}; a trigger or function added to "
            f"warmup's tables refused it: ask whoever runs the database"
        )
    return None


def _from_psycopg(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while psycopg, or the gate's own dumping of values, encoded a
    parameter: not a UnicodeEncodeError of anything else done inside a ledger's transaction."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    code = tb.tb_frame.f_code
    gate = code.co_name == "_text" and code.co_filename.endswith("postgres_gate.py")
    return gate or "psycopg" in code.co_filename


# SQLSTATEs of a statement the server gave up on, and the setting that bounds it: query_canceled
# (statement_timeout; a pg_cancel_backend too) and lock_not_available (lock_timeout, NOWAIT).
_TIMEOUTS = {"57014": "statement_timeout", "55P03": "lock_timeout"}


_IMPORT_SENDS = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, source, key, "
    "settled_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (mailbox_id, key) DO NOTHING"
)
