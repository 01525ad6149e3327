"""The SQLite backend: the default, one file per user (``sqlite:///path`` or a plain path).

Opening: WAL (readers never wait for the writer), ``synchronous = NORMAL`` (durable across
process crashes), a 30 s busy timeout, foreign keys on; every write transaction ``BEGIN
IMMEDIATE`` (it holds the file's write lock from its first statement, so a reservation's read and
write cannot interleave with another's). A new ledger file is created private to its user (0600
in a 0700 directory); an existing one readable by others is reported in :attr:`warnings`.

The gate's path (:class:`SQLiteGate`) runs its few statements on the raw ``sqlite3`` cursor of
the transaction it holds, writing the formats SQLAlchemy writes (naive UTC ``YYYY-MM-DD
HH:MM:SS.ffffff`` text, ISO dates), so rows are the same whichever path wrote them: measured on a
30-day ledger, the history read took 480 us through Core statements and ~60 us here.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from warmup.errors import ConfigError, DataError, WarmupError
from warmup.ledger.checkpoints import PAGES
from warmup.ledger.core import Ledger, highest_id, pool_errors
from warmup.ledger.gatepath import GatePolicy
from warmup.ledger.imports import BOUNCE_COLUMNS, SendRow
from warmup.ledger.reads import MIGRATION_NAMES
from warmup.ledger.schema import DATA_TABLES, KEPT_IDS, UTCDateTime, content
from warmup.ledger.sqlite_file import (
    BUSY_TIMEOUT_S,
    busy,
    check_unchanged,
    empty_file,
    ledger_fault,
    open_existing,
    private,
    read_only_uri,
    setup_connection,
    storage_error,
    trigger_refusal,
    ts,
)
from warmup.ledger.sqlite_gate import SQLiteGate, read_suppressed
from warmup.ledger.sqlite_history import (
    due_memos,
    keep_memos,
    prepare,
    read_histories,
    read_stays,
)
from warmup.ledger.sqlite_look import one_statement, read_look
from warmup.ledger.sqlite_reads import (
    read_eras_naming,
    read_mailbox,
    read_mailboxes,
    read_policy_text,
    read_policy_versions,
)
from warmup.ledger.values import Ask, MailboxRow, Parsed, Snapshot
from warmup.policy.walk import WalkState

_IN_CHUNK = 5000  # keys per IN list, well below SQLite's 32,766 variables


class SQLiteLedger(Ledger):
    scheme = "sqlite"

    def __init__(self, url: str, *, create: bool = True) -> None:
        parsed = sa.engine.make_url(url)
        path = parsed.database or ""
        if not path or path == ":memory:" or "mode=memory" in url:
            # A ledger in memory is gone when the command exits: "Added ...", "Copied ...
            # verified" for rows nobody will ever see again.
            raise ConfigError(
                f"ledger URL {url!r} names no file (a ledger in memory would be lost when the "
                f"command exits); give a path, e.g. --db ~/warmup.db or sqlite:////abs/path.db"
            )
        if parsed.query:
            # Ignored with a warning, or (uri=true) a file named 'l.db?mode=ro' beside l.db,
            # created and migrated by a read command and readable by all.
            raise ConfigError(
                f"ledger URL {url!r}: a SQLite ledger takes no options (?{url.partition('?')[2]}); "
                f"give the file alone, e.g. sqlite:////abs/path.db or the path itself"
            )
        self.warnings: list[str] = []
        self._made: list[Path] = []  # the file and folders this open created, in that order
        self._starter: bool | None = None  # whether this open gave the ledger its schema
        # An empty file the user made (touch, mktemp) becomes the ledger; left empty again by
        # discard_if_unused, never removed: it is theirs.
        self._filled = create and empty_file(Path(path))
        self._made, self.warnings = private(Path(path), create)
        self.created = bool(self._made) or self._filled
        ro = read_only_uri(path)  # a folder or mount this process cannot write: reads only
        self._read_only_uri = None if ro is None else ro[0]
        if ro is None:  # the file is there (made above if missing): never made again
            engine = sa.create_engine(
                url, creator=lambda: open_existing(path, check_same_thread=False)
            )
        else:
            uri, stamp = ro
            engine = sa.create_engine(
                url,
                creator=lambda: sqlite3.connect(
                    uri, timeout=BUSY_TIMEOUT_S, uri=True, check_same_thread=False
                ),
            )
            # Every read transaction ends by checking that no one wrote the file under it.
            event.listen(engine, "commit", lambda _conn: check_unchanged(path, stamp))
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        event.listen(engine, "checkin", _on_checkin)
        # The pooled connection the worker's look at a pool's members runs on (_look_statement)
        # and the process that checked it out; the lock: one caller at a time
        self._look: tuple[Any, sqlite3.Cursor, int] | None = None
        self._look_lock = threading.Lock()
        super().__init__(engine, url, path)

    def same_store(self, other: Ledger) -> bool:
        # One file under two names: a relative and an absolute path, a symlink, a hard link.
        if self.url == other.url:
            return True
        if not isinstance(other, SQLiteLedger):
            return False
        try:
            return os.path.samefile(self.where, other.where)
        except OSError:
            return False

    def is_at(self, url: str) -> bool:
        if self.url == url:
            return True
        if not url.startswith("sqlite:"):
            return False
        try:
            return os.path.samefile(self.where, sa.engine.make_url(url).database or "")
        except (OSError, ValueError, sa.exc.ArgumentError):
            return False  # none there yet (or no path): not this one

    def pending_migrations(self) -> list[str]:
        pending = super().pending_migrations()
        if self._starter is None and MIGRATION_NAMES[0] not in pending:
            self._started(False)  # the schema is there already: another open started it
        return pending

    def migrate(self, upto: str | None = None) -> list[str]:
        applied = super().migrate(upto)
        if self._starter is None:  # else another process started it while this one waited
            self._started(applied[:1] == [MIGRATION_NAMES[0]])
        return applied

    def _started(self, by_this_open: bool) -> None:
        """Whether this open gave the ledger its schema. A file (or an empty file) found missing
        (or empty) that got it from another process starting the ledger at the same moment is
        that one's: this one neither says it created it nor, failing on bad input, removes or
        empties the file under the other (the folders it made stay too)."""
        self._starter = by_this_open
        if not by_this_open:
            self._made, self._filled, self.created = [], False, False

    def discard_if_unused(self) -> bool:
        """Remove the ledger this open created (file, its WAL and the folders made for it) if it
        holds no row: a command that failed on bad input leaves nothing behind."""
        if not (self._made or self._filled):
            return False
        # Only the tables there: a migration that failed (a full disk, Ctrl-C) made none, and a
        # query of one missing ("no such table", 78: "restore a backup") told that instead of
        # what went wrong, the disk's 74 or the signal's 130.
        try:
            with self.read() as conn:
                if any(
                    conn.execute(content(t).limit(1)).first()
                    for t in DATA_TABLES
                    if self._has_table(conn, t.name)
                ):
                    return False
        except (sa.exc.SQLAlchemyError, WarmupError):
            return False  # unreadable now: it may hold what this command wrote; keep it
        self.close()
        file, *folders = self._made or [Path(self.where)]
        for extra in ("-wal", "-shm", "-journal"):
            Path(f"{file}{extra}").unlink(missing_ok=True)
        if self._filled:
            with suppress(OSError):  # a read-only mount: nothing was written to it either
                os.truncate(file, 0)
        else:
            file.unlink(missing_ok=True)
        for folder in folders:
            try:
                folder.rmdir()
            except OSError:
                break  # something else was put there meanwhile: keep it
        self._made, self._filled, self.created = [], False, False
        return True

    def damage(self, limit: int = 10) -> list[str] | None:
        # quick_check: every page's structure, not that each index matches its table
        # (integrity_check, several times slower); what a torn or overwritten page breaks.
        # A page met mid-statement only when a command reads it: a damaged history can answer
        # quota for weeks while a report of the same file fails.
        # On a connection of its own, outside a transaction: one that met a damaged page
        # fails its COMMIT too, and would go back to the pool so.
        # Read-only here, the check reads as the commands do (a plain open cannot make the
        # -shm: "unable to open database file", reported as damage with "restore a backup").
        with self._errors():
            if self._read_only_uri is None:
                con = open_existing(self.where)
            else:
                con = sqlite3.connect(self._read_only_uri, timeout=BUSY_TIMEOUT_S, uri=True)
        try:
            found = [row for (row,) in con.execute(f"PRAGMA quick_check({int(limit)})")]
        except sqlite3.DatabaseError as exc:  # a page the check itself cannot read
            if not ledger_fault(exc):
                raise
            if busy(exc):  # the moment's, not the file's: a lock held past the timeout (75)
                raise storage_error(exc, self.where) from None
            found = [str(exc)]
        finally:
            con.close()
        return [] if found == ["ok"] else found

    # -- the quota path's reads, on the driver (shared with SQLiteReads: .sqlite_history) --

    @contextmanager
    def _raw_read(self) -> Iterator[sqlite3.Cursor]:
        with self.read() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            cur = raw.cursor()
            try:
                yield cur
            finally:
                cur.close()

    @contextmanager
    def _raw_statement(self) -> Iterator[sqlite3.Cursor]:
        """A cursor of a pooled connection outside any transaction (no BEGIN: each statement is
        its own snapshot), its errors said as the ledger's."""
        with pool_errors(self.engine, self.where):
            pooled = self.engine.raw_connection()
        try:
            raw = pooled.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            with self._errors():
                yield raw.cursor()
        finally:
            pooled.close()

    @contextmanager
    def _look_statement(self) -> Iterator[sqlite3.Cursor]:
        """:meth:`_raw_statement` for the worker's look at a pool's members before each message,
        on a pooled connection kept checked out between looks (until :meth:`close`): the
        pool's checkout and check-in cost a pool of 3 a third of its look's Python calls. Only
        a statement whose rows are all read goes on it (no read snapshot stays open between
        looks); one that fails gives the connection back to the pool, and a forked child (a
        parent's connection), another thread meanwhile use the pool as before."""
        if not self._look_lock.acquire(blocking=False):
            with self._raw_statement() as cur:
                yield cur
            return
        try:
            held = self._look
            if held is None or held[2] != os.getpid():
                with pool_errors(self.engine, self.where):
                    pooled = self.engine.raw_connection()
                raw = pooled.driver_connection
                assert isinstance(raw, sqlite3.Connection)
                held = self._look = (pooled, raw.cursor(), os.getpid())
            done = False
            try:
                with self._errors():
                    yield held[1]
                done = True
            finally:
                if not done:
                    self._release_look()
        finally:
            self._look_lock.release()

    def _release_look(self) -> None:
        """Give the look's kept connection back to the pool (a forked child's is its parent's:
        only forgotten)."""
        held, self._look = self._look, None
        if held is not None and held[2] == os.getpid():
            with suppress(Exception):
                held[1].close()
                held[0].close()

    def close(self) -> None:
        with self._look_lock:
            self._release_look()
        super().close()

    def mailbox(self, address: str) -> MailboxRow:
        with self._raw_read() as cur:
            return read_mailbox(cur, address)

    def mailboxes(self) -> list[MailboxRow]:
        with self._raw_read() as cur:
            return read_mailboxes(cur)

    def policy_text(self, name: str) -> tuple[int, str] | None:
        with self._raw_read() as cur:
            return read_policy_text(cur, name)

    def policy_versions(self, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        with self._raw_read() as cur:
            return read_policy_versions(cur, wanted)

    def eras_naming(
        self, ids: Sequence[int], words: Sequence[str]
    ) -> tuple[dict[tuple[str, int], str], dict[int, list[str]]]:
        with self._raw_read() as cur:
            return read_eras_naming(cur, ids, words)

    def histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        with self._raw_read() as cur:
            return read_histories(cur, asks, as_of)

    def pool_look(
        self,
        threads: list[str],
        recipients: list[str],
        mailbox_ids: Sequence[int],
        asks: Sequence[tuple[MailboxRow, Ask]] | None,
        as_of: dt.datetime,
        kept: Parsed | None = None,
    ) -> tuple[int | None, list[Snapshot] | None]:
        if one_statement(asks):  # no transaction: one statement is its own snapshot
            with self._look_statement() as cur:
                got = read_look(cur, threads, recipients, mailbox_ids, asks, as_of, kept)
            if got is not None:
                return got
        with self._raw_read() as cur:
            stays = read_stays(cur, threads, recipients, mailbox_ids)
            if stays is not None or asks is None:
                return stays, None
            return None, read_histories(cur, asks, as_of)

    def prepare(self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int:
        with self._raw_read() as cur:
            return prepare(cur, asks, as_of)

    def keep_memos(self, memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]]) -> int:
        keep = due_memos(memos, self.real_today)
        if not keep:
            return 0
        with self.write() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            return keep_memos(raw.cursor(), keep)

    def _write_conn(self, conn: Connection) -> Connection:
        return conn.execution_options(warmup_begin="BEGIN IMMEDIATE")

    @contextmanager
    def _migrating(self) -> Iterator[Connection]:
        """The migrations' transaction, foreign keys off (SQLite's way to rebuild a table
        others refer to: dropping the old one would break their references, with nothing to
        mend them once the new one takes its name) and checked before it commits."""
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            raw.execute("PRAGMA foreign_keys = OFF")  # ignored inside a transaction: before it
            try:
                with self.write(self._write_conn(conn)) as tx:
                    yield tx
                    broken = tx.exec_driver_sql("PRAGMA foreign_key_check").first()
                    if broken is not None:
                        raise DataError(
                            f"ledger {self.where}: a row of {broken[0]} refers to a missing "
                            f"{broken[2]} row; nothing was migrated"
                        )
            finally:
                raw.execute("PRAGMA foreign_keys = ON")

    def never_reuse_ids(self, conn: Connection, table: sa.Table, name: str, above: int) -> None:
        """Rebuild table ``name`` as ``table`` (AUTOINCREMENT), every row kept, and give it
        ``name``; its sequence at ``above``. Frozen: m015's step."""
        run = conn.exec_driver_sql
        table.create(conn)
        cols = ", ".join(c.name for c in table.columns)
        run(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {name}")
        run(f"DROP TABLE {name}")
        run(f"ALTER TABLE {table.name} RENAME TO {name}")
        run("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        run("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, above))

    def rows_in_key_order(self, conn: Connection, table: sa.Table, name: str) -> None:
        """Rebuild table ``name`` as ``table`` (WITHOUT ROWID), every row kept, and give it
        ``name``. Frozen: m018's step."""
        run = conn.exec_driver_sql
        table.create(conn)
        cols = ", ".join(c.name for c in table.columns)
        keys = ", ".join(c.name for c in table.primary_key.columns)
        run(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {name} ORDER BY {keys}")
        run(f"DROP TABLE {name}")
        run(f"ALTER TABLE {table.name} RENAME TO {name}")

    def after_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """AUTOINCREMENT moved past the copied ids by itself; mailboxes and pools also past
        the ids kept of removed ones (:func:`highest_id`)."""
        if (
            conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).first()
            is None
        ):
            return  # a ledger before m015 (tests build them): no AUTOINCREMENT yet
        for table in tables:
            if table.name not in KEPT_IDS:
                continue
            seq = conn.exec_driver_sql(
                "SELECT seq FROM sqlite_sequence WHERE name = ?", (table.name,)
            ).scalar()
            conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table.name,))
            conn.exec_driver_sql(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                (table.name, max(seq or 0, highest_id(conn, table, tables))),
            )

    def _insert(self, table: sa.Table) -> Any:
        return sqlite_insert(table)

    def insert_rows(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """``executemany`` on the transaction's own ``sqlite3`` cursor, instants written as
        SQLAlchemy writes them (:func:`ts`): SQLAlchemy's per-row parameter processing cost
        more than the insert (``warmup queue add``, bench/RESULTS.md)."""
        stamps = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
        text: dict[dt.datetime, str] = {}  # a batch repeats the same few instants

        def row(values: Sequence[Any]) -> Sequence[Any]:
            out = list(values)
            for i in stamps:
                if out[i] is not None:
                    out[i] = text.get(out[i]) or text.setdefault(out[i], ts(out[i]))
            return out

        raw = conn.connection.driver_connection
        assert raw is not None
        marks = ", ".join("?" * len(columns))
        raw.executemany(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", map(row, rows)
        )

    def _has_table(self, conn: Connection, name: str) -> bool:
        return (
            conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).first()
            is not None
        )

    def _sql_day_number(self, column: Any) -> Any:
        return sa.cast(sa.func.julianday(column) - 2440587.5, sa.Integer)

    def _rollup_arrays(
        self, conn: Connection, mailbox_ids: Sequence[int], since: dt.date | None = None
    ) -> dict[int, tuple[Any, Any]]:
        # each mailbox's columns as texts of numbers numpy parses: a Python int per value and
        # a tuple per row were most of a cold year's read (reports_sql._sqlite_day_arrays)
        from warmup.ledger.reports_sql import _sqlite_day_arrays

        return _sqlite_day_arrays(conn, mailbox_ids, since)

    def _int_array(self, conn: Connection, stmt: Any) -> Any:
        # one group_concat text numpy parses: a Python int per row was most of the read
        from warmup.ledger.reports_sql import _sqlite_int_array

        return _sqlite_int_array(conn, stmt)

    def _sql_domain(self, column: Any) -> Any:
        return sa.func.lower(sa.func.substr(column, sa.func.instr(column, "@") + 1))

    def _sql_utc_day(self, column: Any) -> Any:
        return sa.func.substr(column, 1, 10)  # stored as 'YYYY-MM-DD HH:MM:SS...' UTC text

    def _sql_by_code_point(self, column: Any) -> Any:
        return column  # BINARY, the default collation: UTF-8 bytes order as code points

    def _insert_sends(self, conn: Connection, rows: list[SendRow]) -> None:
        # sqlite3's executemany on plain values: SQLAlchemy's per-row bind processing was most
        # of an import's time.
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.executemany(_IMPORT_SENDS, map(_send_values, rows))

    def _insert_bounces(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        # The driver's executemany on the values as SQLAlchemy would bind them (its bind
        # processing per row was most of a batch's bounce time).
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.executemany(_IMPORT_BOUNCES, map(_bounce_values, rows))

    def _insert_new_sends(
        self, conn: Connection, sends: dict[tuple[int, str], SendRow]
    ) -> tuple[dict[tuple[int, str], int], list[SendRow]]:
        # Insert them all, skipping keys present (ON CONFLICT DO NOTHING), and look up which
        # were present only if some were (a file imported again): the lookup first cost an
        # import of new rows a tenth of its write time. ids are max(id) + 1 (no AUTOINCREMENT),
        # so a row inserted now has an id above every row present before.
        if not sends:
            return {}, []
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        if not conn.info.get(_BULK):  # back to SQLite's default when the connection is checked in
            raw.execute(f"PRAGMA wal_autocheckpoint = {IMPORT_CHECKPOINT_PAGES}")
            conn.info[_BULK] = True
        last = raw.execute("SELECT max(id) FROM send").fetchone()[0] or 0
        added = raw.executemany(_IMPORT_SENDS, map(_send_values, sends.values())).rowcount
        if added == len(sends):
            return {}, list(sends.values())
        ids = self._present_keys(conn, "send", list(sends))
        present = {pair: i for pair, i in ids.items() if i <= last}
        return present, [r for pair, r in sends.items() if pair not in present]

    def import_done(self) -> None:
        # The WAL the import's batches left (up to IMPORT_CHECKPOINT_PAGES) synced and copied
        # back: a passive checkpoint waits for no reader and blocks no writer.
        with self._raw_statement() as cur:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _present_keys(
        self, conn: Connection, table: str, pairs: list[tuple[int, str]]
    ) -> dict[tuple[int, str], int]:
        # One indexed IN list per mailbox (uq_*_key leads with mailbox_id), on the raw cursor.
        assert table in ("send", "bounce")
        keys: dict[int, list[str]] = {}
        for m, k in pairs:
            keys.setdefault(m, []).append(k)
        raw = conn.connection.driver_connection
        assert raw is not None
        found: dict[tuple[int, str], int] = {}
        for m, ks in keys.items():
            for i in range(0, len(ks), _IN_CHUNK):
                part = ks[i : i + _IN_CHUNK]
                sql = (
                    f"SELECT key, id FROM {table} WHERE mailbox_id = ? "
                    f"AND key IN ({', '.join('?' * len(part))})"
                )
                for k, id_ in raw.execute(sql, (m, *part)):
                    found[(m, k)] = id_
        return found

    def foreign_tables(self) -> list[str]:
        """Tables of a file that is not (yet) a warmup ledger: never written into."""
        with self.read() as conn:
            if self._has_table(conn, "warmup_migrations"):
                return []
            return sorted(
                n
                for (n,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
                if not n.startswith("sqlite_")
            )

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise storage_error(exc, self.where) from None
        except sa.exc.DatabaseError as exc:
            if isinstance(exc.orig, sqlite3.DatabaseError) and (
                not isinstance(exc.orig, sqlite3.IntegrityError) or trigger_refusal(exc.orig)
            ):
                raise storage_error(exc, self.where) from None
            raise
        except sqlite3.DatabaseError as exc:  # the gate's raw cursor
            if not ledger_fault(exc):
                raise
            raise storage_error(exc, self.where) from None

    def gate(
        self,
        box: MailboxRow,
        policy: GatePolicy | None = None,
        expiry: dt.timedelta = dt.timedelta(minutes=15),
    ) -> SQLiteGate:
        return _EngineGate(self, box, policy or GatePolicy("", 0, False), expiry)

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        # On the driver: the relay asks this for every RCPT TO, and SQLAlchemy's expanding
        # ``IN`` (compiled per call) cost more than the statement.
        addrs = list(addresses)
        if not addrs:
            return {}
        with self._raw_statement() as cur:  # no BEGIN: a statement is its own snapshot
            return read_suppressed(cur, addrs)


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    setup_connection(dbapi_conn)


# An import's batches checkpoint the WAL every this many pages, not SQLite's 1,000: each
# 2,000-row batch rewrites ~900 pages of the send table's indexes, so the default checkpointed
# (two fsyncs, every page copied back) after nearly every batch; a checkpoint copies each page
# once however many batches rewrote it. Commits are as durable as before (WAL with synchronous
# NORMAL: each commit survives the process; the WAL is synced at a checkpoint), and the import
# ends with one (:meth:`SQLiteLedger.import_done`).
IMPORT_CHECKPOINT_PAGES = 10_000
_BULK = "warmup.bulk_checkpoint"


def _on_checkin(dbapi_conn: Any, record: Any) -> None:
    if record is not None and record.info.pop(_BULK, False) and dbapi_conn is not None:
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {PAGES}")


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("warmup_begin", "BEGIN"))


def _send_values(r: SendRow) -> tuple[Any, ...]:
    """A send's row as :data:`_IMPORT_SENDS` takes it: instants as SQLAlchemy stores them."""
    m, rcpt, mid, at, day, outcome, source, key, settled = r
    # A key without a Message-ID holds the same instant's text (send_key: "@<ISO UTC>|rcpt",
    # "T" for the space, a four-digit year): cut out of it, not formatted a second time.
    if mid is None and key[5:6] == "-" and key[27:28] == "|":
        stamp = f"{key[1:11]} {key[12:27]}"
    else:
        stamp = ts(at)
    done = stamp if settled is at else None if settled is None else ts(settled)
    return (m, rcpt, mid, stamp, _DAY_TEXT.get(day) or _day_text(day), outcome, source, key, done)


# A day as SQLAlchemy stores it, by day (a log's rows share a few hundred days): a dict's get
# costs a fraction of an lru_cache's call.
_DAY_TEXT: dict[dt.date, str] = {}


def _day_text(day: dt.date) -> str:
    if len(_DAY_TEXT) >= 4096:
        _DAY_TEXT.clear()
    text = _DAY_TEXT[day] = day.isoformat()
    return text


def _bounce_values(r: dict[str, Any]) -> tuple[Any, ...]:
    """A bounce's row as :data:`_IMPORT_BOUNCES` takes it: instants, days and flags as
    SQLAlchemy stores them."""
    day = r["day"]
    return (
        *(r[c] for c in BOUNCE_COLUMNS[:8]),
        ts(r["at"]),
        _DAY_TEXT.get(day) or _day_text(day),
        r["source"],
        r["key"],
        int(r["counted"]),
    )


# ``send_day``: the day of the send ``send_id`` names (the second parameter), read from it as
# :func:`warmup.ledger.matching.send_day_of` reads it.
_IMPORT_BOUNCES = (
    f"INSERT INTO bounce ({', '.join(BOUNCE_COLUMNS)}, send_day) "
    f"VALUES ({', '.join('?' * len(BOUNCE_COLUMNS))}, (SELECT day FROM send WHERE id = ?2)) "
    "ON CONFLICT (mailbox_id, key) DO NOTHING"
)
_IMPORT_SENDS = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, source, key, settled_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox_id, key) DO NOTHING"
)


class _EngineGate(SQLiteGate):
    """:class:`SQLiteGate` on a connection of the ledger's engine (kept for the gate's life)."""

    ledger: SQLiteLedger

    def __init__(
        self, ledger: SQLiteLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        super().__init__(ledger, box, policy, expiry)
        self._conn: Connection | None = None
        self._can_keep = isinstance(ledger.engine.pool, sa.pool.QueuePool)

    def _connect(self) -> sqlite3.Connection:
        self._conn = self.ledger.connect_for_writes()
        raw = self._conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
