"""The SQLite backend's quota-path reader: :class:`SQLiteReads`, a ledger opened on the ``sqlite3``
driver alone, and the reads of mailbox and policy rows it shares with the full backend.

Everything the quota path reads talks to the ``sqlite3`` driver alone, so ``warmup quota`` can
answer without importing SQLAlchemy (a third of a second or more of start-up, more than the
answers themselves for 1,000 mailboxes): :class:`SQLiteReads` opens a ledger whose schema is
current and answers :class:`~warmup.ledger.reads.Reads`; :func:`open_reads` falls back to the
full :class:`~warmup.ledger.sqlite.SQLiteLedger` (which migrates) whenever it cannot. The full
backend runs the same functions on its own connection (:func:`read_mailboxes` here,
:func:`~warmup.ledger.sqlite_history.read_histories`,
:func:`~warmup.ledger.sqlite_history.keep_memos`), so each of these reads is written once. The
file, its connection and its stored values: :mod:`warmup.ledger.sqlite_file`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from warmup.ledger.reads import MIGRATION_NAMES
from warmup.ledger.sqlite_file import (
    BUSY_TIMEOUT_S,
    CHUNK,
    Stamp,
    busy,
    check_unchanged,
    connect,
    empty_file,
    parse_ts,
    private,
    qmarks,
    read_only_uri,
    setup_connection,
    storage_error,
    stub,
)
from warmup.ledger.sqlite_history import due_memos, keep_memos, prepare, read_histories
from warmup.ledger.values import (
    Ask,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    local_day,
    mailbox_key,
    mailbox_row,
    readable,
    wall_clock,
)
from warmup.policy.walk import WalkState

# -- the quota path's reads --------------------------------------------------------------------

_MAILBOX_COLUMNS = (
    "id, address, provider, timezone, policy, cap, started, smtp_host, smtp_port, "
    "smtp_security, imap_host, imap_port, imap_security, created_at, auth"
)


_mailbox_row = mailbox_row  # the stored values checked: an odd one is an UnreadableMailbox


def read_mailboxes(cur: sqlite3.Cursor) -> list[MailboxRow]:
    """Every mailbox, by address."""
    sql = f"SELECT {_MAILBOX_COLUMNS} FROM mailbox ORDER BY address"
    return [_mailbox_row(r) for r in cur.execute(sql)]


def read_mailbox(cur: sqlite3.Cursor, address: str) -> MailboxRow:
    """The mailbox, or :class:`MailboxNotFound` saying how to add it."""
    sql = f"SELECT {_MAILBOX_COLUMNS} FROM mailbox WHERE address = ?"
    key = mailbox_key(address)
    r = cur.execute(sql, (key,)).fetchone()
    if r is None:
        raise MailboxNotFound(key, [a for (a,) in cur.execute("SELECT address FROM mailbox")])
    return readable(_mailbox_row(r))


def read_mailbox_rev(cur: sqlite3.Cursor, address: str) -> tuple[MailboxRow, int]:
    """The mailbox and its ``rev`` (bumped by every change to it or to its stored policy), read
    together; :class:`MailboxNotFound` saying how to add it."""
    sql = f"SELECT {_MAILBOX_COLUMNS}, rev FROM mailbox WHERE address = ?"
    key = mailbox_key(address)
    r = cur.execute(sql, (key,)).fetchone()
    if r is None:
        raise MailboxNotFound(key, [a for (a,) in cur.execute("SELECT address FROM mailbox")])
    return readable(_mailbox_row(r)), int(r[-1])


def read_policy_text(cur: sqlite3.Cursor, name: str) -> tuple[int, str] | None:
    """``(version, TOML text)`` of the newest version of a stored policy, or None."""
    if not name.isascii():  # no stored name is (policies.NAME); argv's undecoded bytes, say
        return None
    row = cur.execute(
        "SELECT version, text FROM policy WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
    ).fetchone()
    return (row[0], row[1]) if row else None


def read_policy_versions(
    cur: sqlite3.Cursor, wanted: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], str]:
    """The TOML text of each stored policy version ``(name, version)`` of ``wanted`` that is
    in the ledger."""
    wanted = set(wanted)
    names = sorted({n for n, _ in wanted})
    if not names:
        return {}
    rows = cur.execute(
        f"SELECT name, version, text FROM policy WHERE name IN ({qmarks(len(names))})", names
    )
    return {(n, v): t for n, v, t in rows if (n, v) in wanted}


def read_eras_naming(
    cur: sqlite3.Cursor, ids: Sequence[int], words: Sequence[str]
) -> tuple[dict[tuple[str, int], str], dict[int, list[str]]]:
    """See :meth:`warmup.ledger.Ledger.eras_naming`."""
    held = " OR ".join("instr(text, ?) > 0" for _ in words)
    rows = cur.execute(f"SELECT name, version, text FROM policy WHERE {held}", list(words))
    texts = {(n, v): t for n, v, t in rows}
    reasons: dict[int, list[str]] = {}
    if not texts:
        return texts, reasons
    for k in range(0, len(ids), CHUNK):
        part = list(ids[k : k + CHUNK])
        for mailbox_id, reason in cur.execute(
            "SELECT mailbox_id, reason FROM event WHERE kind = 'policy' "
            f"AND mailbox_id IN ({qmarks(len(part))})",
            part,
        ):
            reasons.setdefault(mailbox_id, []).append(reason)
    return texts, reasons


def read_first_sends(cur: sqlite3.Cursor, ids: Sequence[int]) -> dict[int, dt.datetime]:
    """See :meth:`warmup.ledger.Ledger.first_sends`."""
    out: dict[int, dt.datetime] = {}
    for k in range(0, len(ids), CHUNK):
        part = list(ids[k : k + CHUNK])
        rows = cur.execute(
            f"SELECT mailbox_id, MIN(at) FROM send WHERE mailbox_id IN ({qmarks(len(part))}) "
            "GROUP BY mailbox_id",
            part,
        )
        for i, at in rows:
            if (first := parse_ts(at)) is not None:
                out[i] = first
    return out


# -- the reader --------------------------------------------------------------------------------


def _path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL; None for anything else (in memory, options)."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
        return None
    path = rest[1:]
    if not path or path == ":memory:" or "?" in path or "%" in path:
        return None
    return Path(path)


# How long the quota path waits for the write lock to keep its memos (ms): they are optional.
MEMO_WAIT_MS = 250


class SQLiteReads:
    """A SQLite ledger opened on the ``sqlite3`` driver alone, for the quota path
    (:class:`~warmup.ledger.reads.Reads`). Use :meth:`open`."""

    created = False
    _stamp: Stamp | None = None  # read without locks: see read_only_uri

    def __init__(self, raw: sqlite3.Connection, where: str, warnings: list[str]) -> None:
        self._raw = raw
        self.where = where
        self.warnings = warnings
        # The wall clock, for the memo bookkeeping only (as Ledger.clock).
        self.clock: Callable[[], dt.datetime] = wall_clock

    @classmethod
    def open(cls, url: str) -> SQLiteReads | None:
        """The ledger at ``url`` if it is an existing SQLite file whose schema is current; None
        when the full backend must open it instead (to create, migrate, refuse or explain)."""
        path = _path(url)
        try:  # is_file() raises for a name too long (ENAMETOOLONG), EACCES on a folder
            if path is None or not path.is_file() or empty_file(path) or stub(path):
                return None  # an empty file: the full backend refuses it (or starts one in it)
        except OSError:
            return None  # the full backend words it
        try:
            raw, stamp = connect(path)
        except sqlite3.Error:
            return None
        try:
            setup_connection(raw)
            done = {n for (n,) in raw.execute("SELECT name FROM warmup_migrations")}
        except sqlite3.Error as exc:
            raw.close()
            if busy(exc):
                # Another process's lock, waited out for the whole busy timeout: the full
                # backend would wait it out again (twice the timeout) and then say the same.
                raise storage_error(exc, str(path)) from None
            return None
        if done != set(MIGRATION_NAMES):  # behind (to migrate) or ahead (refused): not here
            raw.close()
            return None
        reads = cls(raw, str(path), private(path, create=False)[1])
        reads._stamp = stamp
        return reads

    def real_today(self, tz: str) -> dt.date:
        """Today in zone ``tz`` by the wall clock: memos never cover it or yesterday."""
        return local_day(self.clock(), tz)

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        """One read transaction (one snapshot for the statements of a question)."""
        try:
            cur = self._raw.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                if self._raw.in_transaction:
                    self._raw.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise storage_error(exc, self.where) from None
        check_unchanged(self.where, self._stamp)

    def mailbox(self, address: str) -> MailboxRow:
        """The mailbox, or :class:`MailboxNotFound` saying how to add it."""
        with self._read() as cur:
            return read_mailbox(cur, address)

    def mailbox_rev(self, address: str) -> tuple[MailboxRow, int]:
        """The mailbox and its ``rev``, read together (see :meth:`Ledger.mailbox_rev`)."""
        with self._read() as cur:
            return read_mailbox_rev(cur, address)

    def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, by address."""
        with self._read() as cur:
            return read_mailboxes(cur)

    def policy_text(self, name: str) -> tuple[int, str] | None:
        """``(version, TOML text)`` of the newest version of a stored policy, or None."""
        with self._read() as cur:
            return read_policy_text(cur, name)

    def policy_versions(self, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """See :meth:`warmup.ledger.Ledger.policy_versions`."""
        with self._read() as cur:
            return read_policy_versions(cur, wanted)

    def eras_naming(
        self, ids: Sequence[int], words: Sequence[str]
    ) -> tuple[dict[tuple[str, int], str], dict[int, list[str]]]:
        """See :meth:`warmup.ledger.Ledger.eras_naming`."""
        with self._read() as cur:
            return read_eras_naming(cur, ids, words)

    def first_sends(self, ids: Sequence[int]) -> dict[int, dt.datetime]:
        """See :meth:`warmup.ledger.Ledger.first_sends`."""
        with self._read() as cur:
            return read_first_sends(cur, ids)

    def pool_names(self) -> list[str]:
        """See :meth:`warmup.ledger.Ledger.pool_names`."""
        with self._read() as cur:
            return [name for (name,) in cur.execute("SELECT name FROM pool ORDER BY name")]

    def policy_names(self) -> list[str]:
        """See :meth:`warmup.ledger.Ledger.policy_names`."""
        with self._read() as cur:
            return [n for (n,) in cur.execute("SELECT DISTINCT name FROM policy ORDER BY name")]

    def histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        """See :meth:`warmup.ledger.Ledger.histories`."""
        with self._read() as cur:
            return read_histories(cur, asks, as_of)

    def prepare(self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int:
        """See :meth:`warmup.ledger.Ledger.prepare`."""
        with self._read() as cur:
            return prepare(cur, asks, as_of)

    def keep_memos(self, memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]]) -> int:
        """See :meth:`warmup.ledger.Ledger.keep_memos`."""
        keep = due_memos(memos, self.real_today)
        if not keep:
            return 0
        try:
            cur = self._raw.cursor()
            # An answer's memo saves the next question a walk; it is worth no reader's wait
            # for another process's write (an import's batch, a long transaction): the busy
            # timeout's 30 s made `warmup quota` take 30 s to say what it knew at once.
            cur.execute(f"PRAGMA busy_timeout = {MEMO_WAIT_MS}")
            try:
                cur.execute("BEGIN IMMEDIATE")
            finally:
                cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            try:
                stored = keep_memos(cur, keep)
            except BaseException:
                self._raw.execute("ROLLBACK")
                raise
            self._raw.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise storage_error(exc, self.where) from None
        return stored

    def discard_if_unused(self) -> bool:
        """Never: this reader only opens a ledger that existed."""
        return False

    def reopen(self) -> SQLiteReads:
        """This ledger on a connection of its own, read-only (for a forked child, which must
        never use a connection its parent opened)."""
        try:
            ro = read_only_uri(self.where)
            uri = ro[0] if ro else f"{Path(self.where).absolute().as_uri()}?mode=ro"
            raw = sqlite3.connect(uri, timeout=BUSY_TIMEOUT_S, uri=True)
            raw.isolation_level = None
            raw.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        except sqlite3.DatabaseError as exc:
            raise storage_error(exc, self.where) from None
        reads = SQLiteReads(raw, self.where, [])
        reads._stamp = self._stamp  # the ledger as this process first read it
        return reads

    def close(self) -> None:
        self._raw.close()
