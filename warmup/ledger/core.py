"""The ledger's interface and the part of it both backends share (SQLAlchemy Core statements).

:class:`Ledger` is what the rest of warmup talks to: domain questions and records, never SQL. Two
backends implement it, chosen once from the URL (:func:`warmup.ledger.open_ledger`):
:class:`~warmup.ledger.sqlite.SQLiteLedger` and :class:`~warmup.ledger.postgres.PostgresLedger`.
Each operation is written once: here on Core statements when both backends run the same SQL, in
the backend when it has to differ (opening, locking, transaction modes, the few dialect
expressions in :class:`Ledger`'s hooks) or is the gate's per-message path, which each backend runs
on its driver for speed (:meth:`Ledger.gate`). A slow reference of that path on Core lives in
``tests/reference.py``; ``tests/test_gate_paths.py`` checks both backends agree with it.

Design:
- Writes that must be atomic across processes take the write lock up front: SQLite
  ``BEGIN IMMEDIATE`` (WAL, 30 s busy timeout), PostgreSQL ``SELECT ... FOR UPDATE`` on the
  mailbox row, taken first in every transaction that writes a mailbox's rows (one lock order, no
  deadlocks), at READ COMMITTED; reads run at REPEATABLE READ (one snapshot per question).
- ``day_stat`` is a per-mailbox, per-local-day rollup, bumped in the same transaction as each
  send and counted bounce, so history is O(days) whatever the size of ``send``.
- A walk memo (``walk_memo``) keeps the policy walk's state per mailbox, so questions about today
  read O(1) rows, not O(days): valid while the mailbox's ``rev`` is the one it was computed at.
  Every write that lands on a day before the writer's today bumps ``rev`` (:meth:`_touch`);
  memos are only kept for days before yesterday, so writes to today and yesterday (every gated
  send) never need to; a write on today drops a memo that closed it already (one kept by a host
  whose clock ran ahead).
- Only bounces that answer a send of their mailbox count (``bounce.counted``), and only the first
  of each send: a forged or misdirected notification is kept and listed, never counted, and a rate
  can never exceed 100% because of it (DESIGN invariant 8).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warmup.errors import (
    ConnectionCut,
    DataError,
    LedgerBusy,
    NoLedger,
    ReadOnlyLedger,
    WarmupError,
)
from warmup.ledger import migrations
from warmup.ledger.history import Questions
from warmup.ledger.imports import Imports
from warmup.ledger.mailbox_store import MailboxStore
from warmup.ledger.outbox import OutboxStore
from warmup.ledger.outbox_edits import OutboxEdits
from warmup.ledger.policy_store import PolicyStore
from warmup.ledger.pools import PoolStore
from warmup.ledger.records import Records
from warmup.ledger.reports_sql import ReportQueries
from warmup.ledger.schema import KEPT_IDS, SETTING
from warmup.ledger.timeline_cache import TimelineMemos
from warmup.ledger.values import (
    DERIVE_KEY,
    DeriveKey,
    MailboxRow,
    local_day,
    utc,
    wall_clock,
)
from warmup.words import plural

_T = TypeVar("_T")

if TYPE_CHECKING:
    from warmup.ledger.gatepath import GatePolicy, GateSession


@contextmanager
def pool_errors(engine: Engine, where: str) -> Iterator[None]:
    """A full connection pool (SQLAlchemy's ``TimeoutError``: every connection this process may
    open to the ledger in use, none given back within the pool's timeout) as one line and exit
    75: it surfaced as a traceback from any command, and stopped ``warmup run``, which carries
    on after a busy ledger."""
    try:
        yield
    except sa.exc.TimeoutError:
        pool = engine.pool
        held = ""
        if isinstance(pool, sa.pool.QueuePool):
            held = f" (all {pool.size() + pool._max_overflow} of them) were in use for "
            held += f"{pool.timeout():g} s"
        else:
            held = " were in use"
        raise LedgerBusy(
            f"ledger {where} is busy: this process's connections to it{held} and none came "
            f"free; try again later, and if it keeps happening, report it: warmup should never "
            f"hold that many"
        ) from None


@contextmanager
def _dropped_if_interrupted(conn: Connection) -> Iterator[None]:
    """Close ``conn`` without a rollback when its transaction is interrupted (Ctrl-C, a
    ``SystemExit``), and let the interrupt through. It may land while the driver is half way
    through a conversation (psycopg's pipelined ``executemany``): psycopg then raises its own
    error instead ("cannot exit pipeline mode while busy"), a rollback fails the same way and
    replaces the interrupt, and the pool's reset prints a traceback: "ledger unavailable" (exit
    69) and pages of traceback instead of "Aborted." (exit 130). The server rolls back the
    transaction of a connection that closes, and SQLite one closed without a commit.

    An interrupt the transaction began under (a gate writing, as it closes, what a stop held
    while the server's answer was read) is not one that landed in it: the transaction's own
    error (a lock timeout) goes through, for the caller to say what went unwritten (74); it
    was that interrupt, and the record's loss went unsaid."""
    under = sys.exc_info()[1]
    try:
        yield
    except BaseException as exc:
        interrupt = _interrupt_in(exc, under)
        if interrupt is None:
            raise
        conn.invalidate()
        if interrupt is exc:
            raise
        raise interrupt from None


@contextmanager
def interrupt_first() -> Iterator[None]:
    """Let a Ctrl-C or exit through whatever error it caused on its way out: one landing in
    the pool's ping of a connection it hands out (SQLAlchemy's ``pre_ping``) left psycopg's
    connection busy, and the ping's restoring of ``autocommit`` raised "can't change
    'autocommit' now" instead: a traceback and exit 1, not "Aborted." (exit 130). One it
    began under is not one that landed in it (:func:`_dropped_if_interrupted`)."""
    under = sys.exc_info()[1]
    try:
        yield
    except BaseException as exc:
        interrupt = _interrupt_in(exc, under)
        if interrupt is None or interrupt is exc:
            raise
        raise interrupt from None


def _interrupt_in(exc: BaseException, under: BaseException | None = None) -> BaseException | None:
    """The Ctrl-C or exit that ``exc`` is, or was raised while handling, if any (``under``,
    the exception being handled as the work began, and what it was raised from, excepted)."""
    seen: set[int] = set()
    at: BaseException | None = exc
    while at is not None and id(at) not in seen and at is not under:
        if isinstance(at, KeyboardInterrupt | SystemExit):
            return at
        seen.add(id(at))
        at = at.__cause__ or at.__context__
    return None


def quiet_when_interrupted(record: logging.LogRecord) -> bool:
    """A logging filter for the driver's "error ignored ..." warnings (psycopg logs one when a
    pipeline's or transaction's cleanup fails under an exception it lets through): dropped while
    a Ctrl-C or exit unwinds, whose one line ("Aborted.") the CLI prints. A real Ctrl-C while a
    pipelined ``executemany`` waited on a lock printed "error ignored terminating
    <psycopg.Pipeline ...>: canceling statement due to user request" above it. So is a
    record that carries a Ctrl-C or exit itself (the pool's "Exception closing connection",
    "Exception during reset or similar": a second Ctrl-C while the first closed the ledger's
    connection printed both tracebacks), which the pool lets through after logging it."""
    logged = record.exc_info[1] if record.exc_info else None
    if logged is not None and _interrupt_in(logged) is not None:
        return False
    if not record.getMessage().startswith("error ignored"):
        return True
    handling = sys.exc_info()[1]
    return handling is None or _interrupt_in(handling) is None


def quiet_pool_when_interrupted(engine: Engine) -> None:
    """:func:`quiet_when_interrupted` on the logger of ``engine``'s pool (one per pool class,
    kept when the pool is made again: a filter on a parent logger would not see its records)."""
    logger = getattr(engine.pool, "logger", None)
    if isinstance(logger, logging.Logger):
        logger.addFilter(quiet_when_interrupted)  # once: a filter already there is not added


def highest_id(conn: Connection, table: sa.Table, among: Sequence[sa.Table]) -> int:
    """The highest id of ``table`` a row of ``among`` names: its own rows' and, for mailboxes
    and pools, the ids the outbox and suppressions keep of removed ones (:data:`KEPT_IDS`); 0
    if none. The next id must be above it."""
    names = {t.name for t in among}
    kept = [c for c in KEPT_IDS.get(table.name, ()) if c.table.name in names]
    columns = [table.c.id, *kept]
    return max(conn.execute(sa.select(sa.func.max(c))).scalar() or 0 for c in columns)


class CellError(DataError):
    """A cell of a row PostgreSQL cannot store: ``table``, ``column`` and the row's primary key
    (``key``: column name -> value) say which; ``what``, what is wrong with it."""

    def __init__(
        self, table: sa.Table, column: sa.Column[Any], row: Sequence[Any], what: str
    ) -> None:
        names = [c.name for c in table.columns]
        self.table, self.column = table.name, column.name
        self.key = {c.name: row[names.index(c.name)] for c in table.primary_key.columns}
        shown = ", ".join(f"{k} {v}" for k, v in self.key.items())
        super().__init__(f"{table.name} row ({shown}): its {column.name} {what}")


class NulInText(CellError):
    """A text cell holding a NUL, which PostgreSQL cannot store."""

    def __init__(self, table: sa.Table, column: sa.Column[Any], row: Sequence[Any]) -> None:
        super().__init__(table, column, row, "holds a NUL character, which PostgreSQL cannot store")


class CellRefused(CellError):
    """A cell PostgreSQL refused to store as its column's type (a number past ``integer``, text
    in a number's column: what a hand edit can leave in a SQLite ledger), ``reason`` the
    server's words."""

    def __init__(
        self, table: sa.Table, column: sa.Column[Any], row: Sequence[Any], reason: str
    ) -> None:
        value = row[[c.name for c in table.columns].index(column.name)]
        super().__init__(table, column, row, f"{value!r} cannot be stored in PostgreSQL: {reason}")


# Every engine of an open ledger: a forked child gives each a pool of its own (_after_fork).
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    """In a forked child (a script's ledger or Outbox, then os.fork or multiprocessing's fork
    workers): each engine's pool anew, its connections left unclosed (their sockets are the
    parent's, which a close would end). The child wrote on the parent's pooled connection:
    statements crossed on one socket, and the parent's failed ("connection in transaction
    status INTRANS")."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class Ledger(
    Records,
    Imports,
    Questions,
    ReportQueries,
    TimelineMemos,
    OutboxStore,
    OutboxEdits,
    PoolStore,
    MailboxStore,
    PolicyStore,
):
    """An open ledger. Use :func:`warmup.ledger.open_ledger`; never construct one directly.

    Operations, by topic (each documented where it is defined):

    - open and migrate: :meth:`migrate`, :meth:`pending_migrations`, :meth:`close`;
    - mailboxes: :meth:`add_mailbox`, :meth:`mailbox`, :meth:`mailboxes`, :meth:`update_mailbox`,
      :meth:`remove_mailbox`, :meth:`history_size` (:meth:`history_counts`):
      :mod:`warmup.ledger.mailbox_store`;
    - stored policies: :meth:`policies`, :meth:`policy_text`, :meth:`store_policy`, ...:
      :mod:`warmup.ledger.policy_store`;
    - what happened: :meth:`record` (sends, bounces, events of one mailbox),
      :meth:`import_batch` (several mailboxes, registering new ones), :meth:`add_event`;
    - suppression: :meth:`suppress` (:meth:`suppress_many`), :meth:`suppressed`, :meth:`suppressions`,
      :meth:`unsuppress` (remembered), :meth:`soft_bounced_sends`;
    - the engine's inputs: :meth:`history`, :meth:`keep_memo` (and for many mailboxes at once
      :meth:`histories`, :meth:`keep_memos`);
    - the gate: :meth:`gate` (reserve, settle, expire: one mailbox's per-message path);
    - bounce sync: :meth:`sync_position`, :meth:`record_synced`, :meth:`first_send_at`,
      :meth:`match_late`, :meth:`bounces`;
    - reports: :mod:`warmup.ledger.reports_sql`'s aggregates, :mod:`.timeline_cache`;
    - pools and the outbox: :mod:`warmup.ledger.pools`, :mod:`warmup.ledger.outbox` (queue,
      claim, settle, recover), :mod:`warmup.ledger.outbox_edits` (cancel, retry, mark);
    - settings: :meth:`settings`, :meth:`set_settings` (``warmup notify``);
    - copy: :func:`warmup.ledger.copy.copy_ledger`.
    """

    scheme: ClassVar[str]
    # Whether :meth:`reading` shares one read transaction (a server's ledger, whose every
    # transaction costs round trips) or leaves each read its own.
    _reads_shared: ClassVar[bool] = False
    created = False  # this open made a new ledger (SQLite: the file); the CLI says so once
    _derive_key: DeriveKey | None = None  # :meth:`message_id_key`, once read

    def __init__(self, engine: Engine, url: str, where: str) -> None:
        _ENGINES.add(engine)
        quiet_pool_when_interrupted(engine)
        self.engine = engine
        self.url = url
        self.where = where  # for messages: a path, or the URL without its password
        # Things the user should know about this ledger (e.g. a file readable by others): the
        # CLI prints them.
        self.warnings: list[str] = getattr(self, "warnings", [])
        # The wall clock, for the memo bookkeeping only (what a memo may cover must not depend on
        # an --at someone asked about); tests simulating weeks set it.
        self.clock: Callable[[], dt.datetime] = wall_clock

    def full(self) -> Ledger:
        """This ledger (see :class:`~warmup.ledger.gatepath.GateLedger`: it is the full backend)."""
        return self

    def real_today(self, tz: str) -> dt.date:
        """Today in zone ``tz`` by the wall clock: memos never cover it or yesterday."""
        return local_day(self.clock(), tz)

    def clock_offset(self) -> dt.timedelta | None:
        """How far the ledger server's clock is ahead of this host's (negative: behind), to the
        second; None for a ledger of one host (a SQLite file), which has no clock but the
        host's. What a stamp judged by other hosts (an outbox claim's age) is written and read
        with: :meth:`claim`, :meth:`claims`."""
        return None

    # -- backend hooks -----------------------------------------------------------------------

    def _read_conn(self, conn: Connection) -> None:
        """Set up a connection for a read transaction (PostgreSQL: REPEATABLE READ)."""

    def _write_conn(self, conn: Connection) -> Connection:
        """Set up a connection whose transactions take the write lock at once."""
        return conn

    def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None:
        """Lock these mailboxes' rows until the transaction ends (SQLite: already locked)."""

    def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None:
        """Hold a lock on ``name`` until the transaction ends: writers of one name (a campaign's
        recipients) take turns, so each sees what the previous one committed (SQLite: the write
        lock already serialises every write). ``shared``: only against holders of the
        exclusive lock."""

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, with ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
        raise NotImplementedError

    def _order_staged(self, conn: Connection, index: sa.Index) -> None:
        """Build ``index`` of a staging table once filled, so that the write which reads the
        table in its order sorts nothing under the write lock (SQLite's lock stops every
        send)."""
        index.create(conn)

    def _has_table(self, conn: Connection, name: str) -> bool:
        raise NotImplementedError

    def _errors(self) -> Any:
        """A context manager turning driver errors into warmup's (one line, an exit code)."""
        raise NotImplementedError

    def gate(
        self,
        box: MailboxRow,
        policy: GatePolicy | None = None,
        expiry: dt.timedelta = dt.timedelta(minutes=15),
    ) -> GateSession:
        """The gate's per-message path for ``box`` (see :mod:`warmup.ledger.gatepath`)."""
        raise NotImplementedError

    def foreign_tables(self) -> list[str]:
        """Tables of another program in a ledger without warmup's schema: it is refused."""
        return []

    def absent(self) -> WarmupError:
        """What a command that creates no ledger says of this one, which holds no warmup table
        (:func:`~warmup.ledger.open_ledger` with ``create=False``)."""
        return NoLedger(
            f"no ledger at {self.where} yet (no warmup tables in it); run 'warmup mailbox add' "
            f"to create one"
        )

    def bulk_insert(self, conn: Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (every column of ``table``, in order, ids included): the copy's write."""
        names = [c.name for c in table.columns]
        conn.execute(table.insert(), [dict(zip(names, r, strict=True)) for r in rows])

    def insert_rows(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert ``rows`` (values of ``columns``, in order) in one statement executed many
        times, nothing returned: the outbox's bulk write, and the staging of a list to
        suppress (each backend has a faster way of its own)."""
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])

    def after_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """After :func:`warmup.ledger.copy.copy_ledger` wrote ``tables`` with their ids."""

    def lock_for_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """Keep every other writer out of ``tables`` until the copy's transaction ends, so that
        the copy's check that the target is empty still holds when it writes (SQLite: the write
        lock taken at the transaction's start already does)."""

    def same_store(self, other: Ledger) -> bool:
        """Whether ``other`` is this very ledger, under another spelling of its URL."""
        return self.url == other.url

    def is_at(self, url: str) -> bool:
        """Whether the ledger ``url`` (resolved, not opened) names this very ledger, as far as
        can be told without opening it (a server's: by the URL; :meth:`same_store` asks it
        once open). Opening a SQLite file under a second name (a hard link) starts a second
        WAL beside it, left behind."""
        return self.url == url

    def _sql_day_number(self, column: Any) -> Any:
        """A DATE column as days since 1970-01-01, in the backend's SQL."""
        raise NotImplementedError

    def _rollup_arrays(
        self, conn: Connection, mailbox_ids: Sequence[int], since: dt.date | None = None
    ) -> dict[int, tuple[Any, Any]]:
        """:func:`warmup.ledger.reports_sql._day_stat_arrays` of these mailboxes, read in the
        way that suits the backend (reports only: numpy)."""
        from warmup.ledger.reports_sql import _day_stat_arrays

        return _day_stat_arrays(conn, mailbox_ids, self._sql_day_number, since)

    def _int_array(self, conn: Connection, stmt: Any) -> Any:
        """The integers of a one-column statement as one int64 array, read in the way that
        suits the backend (reports only: numpy)."""
        from warmup.ledger.reports_sql import _int_rows

        return _int_rows(conn, stmt)

    def _sql_domain(self, column: Any) -> Any:
        """The part of an address after '@', lower-cased, in the backend's SQL."""
        raise NotImplementedError

    def _sql_utc_day(self, column: Any) -> Any:
        """The UTC calendar day of an instant column, in the backend's SQL."""
        raise NotImplementedError

    def _sql_by_code_point(self, column: Any) -> Any:
        """A text column that orders as Python orders strings (by code point), in the
        backend's SQL."""
        raise NotImplementedError

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read transaction (one snapshot for the several statements of a question):
        within :meth:`reading`, that one's, on the thread that began it."""
        shared = self._shared()
        if shared is not None:
            with self._errors():  # its errors said as its own transaction's would be
                yield shared
            return
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        """A connection checked out for one transaction, in it: a write's (:meth:`_write_conn`)
        or a read's (:meth:`_read_conn`), committed at the end, rolled back on an error."""
        with interrupt_first(), self._errors(), pool_errors(self.engine, self.where):
            conn, begun = self._begun(write)
            with conn, begun, _dropped_if_interrupted(conn):
                yield conn

    def _begun(self, write: bool) -> tuple[Connection, sa.RootTransaction]:
        """A connection of the pool set up for a write (:meth:`_write_conn`) or a read
        (:meth:`_read_conn`), and its transaction begun."""
        conn = self._pool_connect()
        try:
            if write:
                self._write_conn(conn)
            else:
                self._read_conn(conn)
            return conn, conn.begin()
        except BaseException:
            conn.close()
            raise

    def _read_all(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows of one read-only statement, as :meth:`read` would give them (within
        :meth:`reading`, in that one's snapshot); a server's ledger runs it alone, in
        autocommit: one statement is one snapshot, and BEGIN and COMMIT are two round trips
        more (:meth:`~warmup.ledger.postgres.PostgresLedger._read_all`)."""
        with self.read() as conn:
            return list(conn.execute(stmt, params or {}).all())

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Meanwhile, this thread's reads share one read transaction (nested: the outer one's):
        one snapshot, and one connection's round trips (the pool's ping, BEGIN, COMMIT) for
        all of them instead of each. A question asked piecemeal (a mailbox's row, its
        policy, its eras, its history: four transactions a member's allowance, twenty a
        slot of a paced pool on PostgreSQL) asks it once. Writes go on in their own, as
        ever: a read after one within it does not see it. Only where a transaction costs
        round trips (:attr:`_reads_shared`: a server's): a SQLite reader held open beside
        the writes of its own process gains nothing, and a file without WAL would block them."""
        if not self._reads_shared or self._shared() is not None:
            yield
            return
        local = self._local()
        with self.read() as conn:
            local.shared = (os.getpid(), conn)
            try:
                yield
            finally:
                local.shared = None

    def _local(self) -> threading.local:
        """This ledger's per-thread state (:meth:`reading`'s transaction)."""
        local: threading.local | None = self.__dict__.get("_thread_state")
        if local is None:
            local = self.__dict__.setdefault("_thread_state", threading.local())
        return local

    def _shared(self) -> Connection | None:
        """:meth:`reading`'s connection, if this thread is within one (of this process: a child
        forked within one must never use its parent's connection)."""
        shared = getattr(self._local(), "shared", None)
        if shared is None or shared[0] != os.getpid():
            return None
        conn: Connection = shared[1]
        return conn

    @contextmanager
    def write(self, conn: Connection | None = None) -> Iterator[Connection]:
        """A write transaction holding the write lock from its start.

        ``conn``: a connection the caller keeps open (from :meth:`connect_for_writes`); otherwise
        one is checked out for the transaction.
        """
        if conn is not None:
            with self._errors(), conn.begin():
                yield conn
            return
        with self._transaction(write=True) as new:
            yield new

    def write_once(
        self,
        body: Callable[[Connection], _T],
        landed: Callable[[Connection, _T], bool] | None = None,
    ) -> _T:
        """``body``'s result, run in a write transaction that survives one cut connection (a
        team ledger's server ending warmup's session, :class:`ConnectionCut`): ``body`` must
        write nothing but through the connection it is given.

        Cut before its COMMIT, nothing of it was written, and ``body`` runs once more on a new
        connection. Cut in its COMMIT's round trip, the server may have committed without its
        answer coming back: ``landed(conn, result)``, read on a new connection, says whether
        it did (its result stands), else ``body`` runs once more. Without ``landed``, the
        server is asked whether the transaction committed (its id, taken at its start: one
        round trip more, for the writes a person makes). Told "try again" (75), a person or
        script ran the command anew, and what has no key of its own (a send recorded at
        "now", a pause) was written twice, or refused (a message "cancelled" already); a
        worker's claim committed unseen left its message ``sending`` for nobody."""
        done: list[_T] = []
        xid: list[int | None] = []
        session: list[object] = []

        def run(conn: Connection) -> _T:
            session[:] = [self._session_of(conn)]
            if landed is None:
                xid[:] = [self._transaction_id(conn)]
            return body(conn)

        try:
            with self.write() as conn:
                done.append(run(conn))
        except ConnectionCut:
            if done:  # body ran to its end: the cut came in the COMMIT's round trip
                # A COMMIT still on its way (held up in the network, being written) landed
                # after a look that found nothing: a claim made again took another message,
                # the first left "sending". The cut session's transaction is waited for.
                if not self._ended(session[0]):
                    raise
                with self.read() as conn:
                    if landed is not None:
                        committed: bool | None = landed(conn, done[0])
                    else:
                        committed = self._committed(conn, xid[0])
                if committed is None:  # the server has not finished with it: unknown
                    raise
                if committed:
                    return done[0]
            with self.write() as conn:
                return run(conn)
        return done[0]

    def _transaction_id(self, conn: Connection) -> int | None:
        """The id of the write transaction ``conn`` is in, for :meth:`_committed` (None where a
        connection is never cut under warmup: a file's)."""
        return None

    def _committed(self, conn: Connection, xid: int | None) -> bool | None:
        """Whether the transaction ``xid`` committed (None: not known yet)."""
        return None

    def _session_of(self, conn: Connection) -> object:
        """What names ``conn``'s session on the server, for :meth:`_ended` (read on the
        client: no round trip); None where a connection is never cut under warmup."""
        return None

    def _ended(self, session: object) -> bool:
        """Whether the transaction the cut ``session`` was in has ended on the server (waited
        for a while): only then does what it wrote, or not, stand."""
        return True

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection of its own for several transactions (``conn.begin()``, or
        :meth:`write` given it once ``_write_conn`` set it up). Closed, never given back to the
        pool, when anything fails on it (or when the caller invalidates it): its TEMP tables go
        with it."""
        with (
            interrupt_first(),
            self._errors(),
            pool_errors(self.engine, self.where),
            self._pool_connect() as conn,
        ):
            try:
                yield conn
            except BaseException:
                conn.invalidate()
                raise

    def connect_for_writes(self) -> Connection:
        """A long-lived connection whose transactions take the write lock at once."""
        with self._errors(), pool_errors(self.engine, self.where):
            return self._write_conn(self._pool_connect())

    def _pool_connect(self) -> Connection:
        """A connection of the pool (a server's ledger may first borrow back the idle one a
        gate of this process holds: :meth:`~warmup.ledger.postgres.PostgresLedger._pool_connect`)."""
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()

    def reopen(self) -> Ledger:
        """This ledger on a pool of its own (for a forked child, which must never use a
        connection its parent opened): only for reading, as :class:`Reads` is."""
        from warmup.ledger import open_ledger

        return open_ledger(self.url, migrate=False, create=False)

    def discard_if_unused(self) -> bool:
        """Remove the ledger if this open created it and it holds no row (a command that failed
        leaves nothing behind); whether it did. A server's database is never removed."""
        return False

    def damage(self, limit: int = 10) -> list[str] | None:
        """What is wrong with the ledger's storage, at most ``limit`` lines ([]: nothing found;
        None: nothing to check, a server's database keeps its own pages). Slow on a big ledger
        (every page is read): for ``warmup doctor``, never a send's path."""
        return None

    # -- schema ------------------------------------------------------------------------------

    def check_schema(self) -> None:
        """:class:`~warmup.errors.NewerLedger` when a newer warmup upgraded this ledger since
        it was opened (another host's, or this one's after an upgrade while this process ran):
        for a process that keeps writing to it (a relay, a worker), whose view of the schema
        is the one it opened with."""
        self.pending_migrations()

    def pending_migrations(self) -> list[str]:
        with self.read() as conn:
            return migrations.pending(conn, self._has_table, f"ledger {self.where}")

    def migrate(self, upto: str | None = None) -> list[str]:
        """Apply pending migrations (through ``upto``); the names applied ([] if up to date)."""
        todo = self.pending_migrations()
        if not todo:
            return []
        try:
            try:
                with self._migrating() as conn:
                    self._migration_lock(conn)
                    applied = migrations.migrate(conn, self._has_table, self, upto)
            except BaseException:
                # The notes of migrations rolled back are untrue: kept, the next ledger this
                # process upgraded printed them as if they had run (a retry: twice).
                migrations.NOTES.clear()
                raise
        except ReadOnlyLedger as exc:
            if todo == migrations.names():  # a new ledger: nothing older to keep to
                raise
            # Said as a write's refusal, it had the user run 'quota' or 'report', which "work
            # as it is": each failed the same way, as this version reads no older schema.
            raise ReadOnlyLedger(
                f"ledger {self.where} has an older schema ({plural(len(todo), 'migration')} "
                f"behind) that this warmup must upgrade before any command uses it, even one "
                f"that only reads, and it is read-only here ({exc.why}): {exc.fix}, then "
                f"upgrade it once: warmup db migrate",
                why=exc.why,
                fix=exc.fix,
            ) from None
        self.warnings.extend(migrations.NOTES)  # e.g. a policy file stored in the ledger
        migrations.NOTES.clear()
        return applied

    def _migrating(self) -> AbstractContextManager[Connection]:
        """The write transaction migrations run in."""
        return self.write()

    def never_reuse_ids(self, conn: Connection, table: sa.Table, name: str, above: int) -> None:
        """:meth:`warmup.ledger.migrations.Backend.never_reuse_ids` (m015)."""
        raise NotImplementedError

    def rows_in_key_order(self, conn: Connection, table: sa.Table, name: str) -> None:
        """:meth:`warmup.ledger.migrations.Backend.rows_in_key_order` (m018)."""
        raise NotImplementedError

    def sql_domain(self, column: Any) -> Any:
        """:meth:`warmup.ledger.migrations.Backend.sql_domain` (m030)."""
        return self._sql_domain(column)

    def _migration_lock(self, conn: Connection) -> None:
        """Serialise hosts migrating one ledger at once (SQLite: the write lock already does)."""

    # -- settings ----------------------------------------------------------------------------

    def settings(self, prefix: str = "") -> dict[str, str]:
        """Stored settings whose key starts with ``prefix`` (``notify.``), key -> value."""
        q = sa.select(SETTING.c.key, SETTING.c.value).where(
            SETTING.c.key.startswith(prefix, autoescape=True)
        )
        return {key: value for key, value in self._read_all(q)}

    def message_id_key(self) -> DeriveKey:
        """The ledger's key for the Message-IDs warmup derives of a message's bytes
        (:func:`warmup.outgoing.derived_message_id`): 32 random bytes, made by the first host to
        ask and kept in the ``setting`` table (DERIVE_KEY), so that a retry from any host derives
        the same ID and no recipient of the message can compute another's."""
        if self._derive_key is None:
            found = self.settings(DERIVE_KEY).get(DERIVE_KEY)
            if found is None:

                def make(conn: Connection) -> str:
                    self._lock_name(conn, f"setting {DERIVE_KEY}")  # hosts take turns
                    held = sa.select(SETTING.c.value).where(SETTING.c.key == DERIVE_KEY)
                    there: str | None = conn.execute(held).scalar()
                    if there is not None:
                        return there
                    made = utc(wall_clock())
                    value = DeriveKey(secrets.token_bytes(32), made).value()
                    conn.execute(
                        SETTING.insert().values(key=DERIVE_KEY, value=value, updated_at=made)
                    )
                    return value

                # Cut in its COMMIT, the key is read back: the one the server kept, if it did.
                found = self.write_once(make, lambda conn, value: self._derive_key_is(conn, value))
            self._derive_key = DeriveKey.of(found)
        return self._derive_key

    def _derive_key_is(self, conn: Connection, value: str) -> bool:
        """Whether the ledger keeps ``value`` as its Message-ID key."""
        held = sa.select(SETTING.c.value).where(SETTING.c.key == DERIVE_KEY)
        return bool(conn.execute(held).scalar() == value)

    def set_settings(self, values: dict[str, str | None], at: dt.datetime | None = None) -> None:
        """Store each ``key -> value`` in one transaction (None: forget the key)."""
        when = utc(at or dt.datetime.now(dt.UTC))

        def body(conn: Connection) -> None:
            for key in sorted(values):  # hosts setting one key take turns (in one order)
                self._lock_name(conn, f"setting {key}")
            for key, value in values.items():
                conn.execute(SETTING.delete().where(SETTING.c.key == key))
                if value is not None:
                    conn.execute(SETTING.insert().values(key=key, value=value, updated_at=when))

        def landed(conn: Connection, _: None) -> bool:
            held = sa.select(SETTING.c.value).where(SETTING.c.key == sa.bindparam("k"))
            return all(conn.execute(held, {"k": k}).scalar() == v for k, v in values.items())

        # A worker's notes (a mailbox without a password, a notification's state): cut, the
        # worker's step failed and was said in its log for nothing.
        self.write_once(body, landed)
