"""The SQLite backend's driver level: opening a connection, and the quota path's reads.

Everything here talks to the ``sqlite3`` driver alone, so ``warmup quota`` can answer without
importing SQLAlchemy (a third of a second or more of start-up, more than the answers themselves
for 1,000 mailboxes): :class:`SQLiteReads` opens a ledger whose schema is current and answers
:class:`~warmup.ledger.reads.Reads`; :func:`open_reads` falls back to the full
:class:`~warmup.ledger.sqlite.SQLiteLedger` (which migrates) whenever it cannot. The full backend
runs the same functions on its own connection (:func:`read_histories`, :func:`keep_memos`,
:func:`read_mailboxes`), so each of these reads is written once.

Instants are stored as SQLAlchemy stores them (naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` text, see
:func:`ts`), dates as ISO text: compared as text, they order as the values do.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

from warmup.errors import (
    ConfigError,
    IOFailure,
    NoLedger,
    Unavailable,
    UsageError,
    WarmupError,
)
from warmup.ledger.reads import (
    MIGRATION_NAMES,
    domain_since,
    events_of,
    memo_since,
    memo_valid,
    sibling_stamp,
    snapshot,
)
from warmup.ledger.values import (
    Ask,
    MailboxNotFound,
    MailboxRow,
    Snapshot,
    day_start,
    local_day,
    mailbox_key,
    wall_clock,
)
from warmup.policy.walk import GROWTH_DAYS, DayCounts, WalkState

BUSY_TIMEOUT_S = 30.0
# Bound parameters per statement stay far below SQLite's limit (32,766; 999 before 3.32).
_CHUNK = 500


# -- opening -----------------------------------------------------------------------------------


def setup_connection(raw: sqlite3.Connection) -> None:
    """Busy timeout, WAL (on a new ledger or ours, never on another program's file), ``synchronous
    = NORMAL``, foreign keys; transactions are begun by us (``isolation_level = None``)."""
    raw.isolation_level = None
    cur = raw.cursor()
    cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    ours = cur.execute(
        "SELECT count(*) = 0 OR sum(name = 'warmup_migrations') > 0 FROM sqlite_master"
    ).fetchone()[0]
    if ours:
        set_wal(cur)
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.close()


def set_wal(cur: sqlite3.Cursor) -> None:
    """Switch to WAL, waiting out a process that holds the file while it does the same.

    Changing the journal mode needs the file to itself and SQLite does not call the busy handler
    for it, so several processes opening a brand-new ledger at once could see "database is
    locked" here. The mode is persistent: once any of them has set it, done.
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


def private(path: Path, create: bool = True) -> tuple[list[Path], list[str]]:
    """Create the ledger's folder (0700) and file (0600) if missing (else, without ``create``,
    refuse: a mistyped path must not become an empty ledger); warn when an existing one is
    readable by other users (it holds who was mailed when). Returns (what was created: the file,
    then its new folders from the innermost, and the warnings)."""
    try:
        there = path.exists()
    except OSError as exc:  # exists() is False only for a name not there: it raises for these
        raise unusable(path, exc) from None
    if not there:
        if not create:
            raise NoLedger(f"no ledger at {path}; run 'warmup mailbox add' to create one")
        missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
        try:
            for folder in reversed(missing):  # each level private (mkdir(parents=True) is not)
                folder.mkdir(mode=0o700)
        except OSError as exc:
            raise ConfigError(f"ledger {path}: cannot create its folder ({exc.strerror})") from None
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:  # another process made it meanwhile: theirs, not ours
            return [], []
        except OSError as exc:
            raise ConfigError(f"ledger {path}: cannot create it ({exc.strerror})") from None
        return [path, *missing], []
    try:
        st = path.stat()
    except OSError:
        return [], []
    mode = st.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a folder: worded where it fails
        # A device or a FIFO: SQLite would make its journal beside it (/dev/full-journal),
        # left there by the failed write, and a ledger on one keeps nothing anyway.
        raise ConfigError(f"ledger {path} is not a regular file; name a file, e.g. ledger.db")
    if short := stub(path):
        raise ConfigError(
            f"ledger {path} is not a warmup ledger or is corrupted ({short} bytes, shorter than "
            f"a SQLite file's header); point --db/WARMUP_DB at another file or restore a backup"
        )
    if not create and empty_file(path):
        raise ConfigError(
            f"ledger {path} is an empty file (0 bytes), not a warmup ledger: if it held your "
            f"ledger, it was truncated: restore a backup; to start a new ledger in it, run "
            f"'warmup mailbox add'"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [], [
            f"ledger {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"make it private: chmod 600 {path}"
        ]
    return [], []


_HEADER = 100  # bytes: a SQLite file's header, which every database file holds whole


def stub(path: Path) -> int:
    """The size of ``path`` if it is a regular file of 1 to 99 bytes that does not start as a
    SQLite file, else 0. SQLite takes such a file for a new database ('echo > ledger.db' leaves
    one byte): a read command turned it, someone's file or a ledger cut short, into a fresh
    ledger and answered from it. One that cannot be read: 0 (SQLite says why)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size < _HEADER:
            return 0
        with path.open("rb") as f:
            return 0 if f.read(16) == b"SQLite format 3\x00" else st.st_size
    except OSError:
        return 0


def empty_file(path: Path) -> bool:
    """``path`` is a regular file of 0 bytes with no write-ahead log beside it: SQLite would
    take it for a new database, and a read would make it one (WAL, then the schema). A ledger
    truncated, a file made by ``touch`` or ``mktemp``: only a command that creates a ledger may
    start one in it."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size:
            return False
        wal = Path(f"{path}-wal")
        return not wal.exists() or wal.stat().st_size == 0
    except OSError:
        return False


def unusable(path: Path, exc: OSError) -> WarmupError:
    """A ledger path the system will not even look up: too long (ENAMETOOLONG, a usage error,
    64, as a too-long file name given to ``import`` or ``plot --out``), under a folder it may
    not search (EACCES) or a symlink loop (set-up, 78)."""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        return UsageError(
            f"ledger {path}: cannot use it ({why}); give --db/WARMUP_DB a shorter path "
            f"(at most 255 bytes a name, 4095 in all)"
        )
    fix = "the symbolic links on it" if exc.errno == errno.ELOOP else "the path and its permissions"
    return ConfigError(f"ledger {path}: cannot use it ({why}); check {fix}")


def storage_error(exc: Exception, where: str) -> WarmupError:
    """A driver error as warmup's: one line, the exit code of what the user can do about it."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
    if trigger_refusal(orig):
        # Warmup has no triggers: RAISE(ABORT|FAIL|ROLLBACK, 'text') in one added to its tables
        # (an audit, a freeze) is the ledger's set-up refusing the write. SQLite names no trigger.
        return ConfigError(
            f"ledger {where}: a trigger refused the write: {text}; warmup has no triggers, so "
            f"one added to its tables refused it (SELECT name, tbl_name FROM sqlite_master "
            f"WHERE type = 'trigger' lists them): drop it or ask whoever added it"
        )
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return ConfigError(
            f"ledger {where} is not a warmup ledger or is corrupted ({text}); "
            f"point --db/WARMUP_DB at another file or restore a backup"
        )
    if "unable to open" in text and os.path.isdir(where):
        # Not a matter of permissions, as the line below would have the user think.
        return ConfigError(
            f"ledger {where} is a directory; name a file, e.g. {os.path.join(where, 'ledger.db')}"
        )
    if "disk is full" in text:  # SQLITE_FULL: the path and permissions are fine, the disk not
        return IOFailure(
            f"ledger {where}: {text}; free space on the disk that holds it, then try again"
        )
    if "disk I/O error" in text and _device(where):  # /dev/null: no disk failed
        return ConfigError(f"ledger {where} is not a regular file; name a file, e.g. ledger.db")
    if "disk I/O error" in text:  # SQLITE_IOERR: a read or write failed under it (EIO)
        return IOFailure(
            f"ledger {where}: {text} (a read or write of the file failed); check the disk "
            f"that holds it (the system log says why), then try again"
        )
    why = _read_only(where) if "unable to open" in text or "readonly" in text else None
    if why is not None:
        return ConfigError(f"ledger {where} is read-only here: {why}")
    if "unable to open" in text or "readonly" in text or "disk" in text.lower():
        return ConfigError(f"ledger {where}: {text}; check the path and its permissions")
    if "database is locked" in text or "database is busy" in text:
        return LedgerBusy(
            f"ledger {where} is busy: another process has held its write lock for over "
            f"{BUSY_TIMEOUT_S:g} s ({text}); try again once it has finished"
        )
    return Unavailable(f"ledger {where} is unavailable: {text}")


def _read_only(where: str) -> str | None:
    """Why the ledger at ``where`` cannot be written by this process, and what to do: a
    read-only file system, or a folder this user may not write; None otherwise (a file of mode
    0444 in a folder the user writes is read, and a write says "readonly"). Commands that only
    read it still can (:func:`read_only_uri`); this is what a write, or a migration, says."""
    why = _cannot_write_beside(where)
    if why is None:
        return None
    if why.startswith("on "):
        fix = "mount it read-write"
    else:
        fix = "run warmup as the ledger's owner or let this user write to the folder"
    return (
        f"{why}; SQLite writes beside a ledger (its -wal and -shm files) to change it: {fix} "
        f"(commands that only read it, such as quota and report, work as it is)"
    )


def _cannot_write_beside(where: str) -> str | None:
    """Why this process cannot make files beside the ledger at ``where`` (its -wal, -shm), or
    None when it can: a read-only file system, or a folder this user may not write."""
    folder = os.path.dirname(os.path.abspath(where))
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    except OSError:
        return None
    beside = [f"{where}-wal", f"{where}-shm"]
    if not os.access(folder, os.W_OK) and not all(os.access(f, os.W_OK) for f in beside):
        # (Both there and ours to write: SQLite needs to make neither, and writes as ever.)
        return f"this user may not write to its folder {folder}"
    return None


Stamp = tuple[int, ...]


def read_only_uri(where: str) -> tuple[str, Stamp | None] | None:
    """How to read the ledger at ``where`` when this process cannot write beside it: its
    ``file:`` URI for :func:`sqlite3.connect`, and the stamp to check after each read (see
    :func:`check_unchanged`); None when it can (the ordinary open).

    SQLite reads a WAL ledger through its -shm index, which it makes beside the file on first
    use: on a read-only mount or in a folder the user may not write, even ``quota`` failed.
    Without a -wal holding rows, the file alone is the ledger, and ``immutable=1`` reads it
    without the index, but also without locks: a writer elsewhere (a read-write mount of the
    same disk, the folder's owner) is noticed by the file's stamp changing under the read,
    which then fails (exit 75: try again), never answered from a torn read. With a -wal that
    holds rows and its -shm beside it, SQLite reads both (``mode=ro``); without the -shm it
    could read only the file, missing rows committed in the log: refused."""
    why = _cannot_write_beside(where)
    if why is None:
        return None
    path = Path(where).absolute()
    uri = f"{path.as_uri()}?mode=ro"
    if _size(Path(f"{path}-wal")) > 0:
        if Path(f"{path}-shm").exists():
            return uri, None
        raise ConfigError(
            f"ledger {where} is read-only here ({why}) and its write-ahead log {where}-wal "
            f"holds changes not yet in the file, which SQLite cannot read without writing an "
            f"index ({where}-shm) beside it: open it once where it can be written (that merges "
            f"the log), or read a copy of both (cp {where} {where}-wal /tmp/, then --db "
            f"/tmp/{path.name})"
        )
    return f"{uri}&immutable=1", stamp_of(where)


def _size(path: Path) -> int:
    """The file's size, -1 when it is not there."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def stamp_of(where: str) -> Stamp:
    """What changes when anyone writes the ledger at ``where``: the file's identity, size and
    times, and its -wal's size (a log that starts to fill holds rows a read would miss)."""
    st = os.stat(where)
    return (
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        _size(Path(f"{where}-wal")),
    )


def check_unchanged(where: str, stamp: Stamp | None) -> None:
    """Refuse (75, try again) an answer read without locks from a ledger written meanwhile."""
    if stamp is not None and stamp_of(where) != stamp:
        raise LedgerBusy(
            f"ledger {where} was written while it was read (read-only here, so the read could "
            f"not lock it against the writer); try again"
        )


def ledger_fault(exc: sqlite3.DatabaseError) -> bool:
    """Whether a driver error is the file's or the moment's (a corrupt page met mid-statement,
    SQLITE_CORRUPT or SQLITE_NOTADB; a full disk, a lock held too long): said as
    :func:`storage_error` says it. Not a broken constraint or a bad statement: those are
    warmup's own bugs, and stay errors with their traceback; but a trigger's RAISE, which SQLite
    reports as a broken constraint, is the ledger's set-up (:func:`trigger_refusal`)."""
    return type(exc) in (sqlite3.DatabaseError, sqlite3.OperationalError) or trigger_refusal(exc)


def trigger_refusal(exc: BaseException) -> bool:
    """Whether a driver error is a trigger's ``RAISE(ABORT|FAIL|ROLLBACK, ...)``: warmup's
    tables carry no trigger of warmup's, so one that refuses a write was added by someone."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CONSTRAINT_TRIGGER


def connect(where: str | Path) -> tuple[sqlite3.Connection, Stamp | None]:
    """A ``sqlite3`` connection to the ledger at ``where`` (read-only where this process
    cannot write beside it: :func:`read_only_uri`), and the stamp its reads must check."""
    ro = read_only_uri(str(where))
    if ro is None:
        return sqlite3.connect(where, timeout=BUSY_TIMEOUT_S), None
    return sqlite3.connect(ro[0], timeout=BUSY_TIMEOUT_S, uri=True), ro[1]


def _device(path: str) -> bool:
    """Whether ``path`` is there and is no regular file (a device, a pipe)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class LedgerBusy(Unavailable):
    """Another process held the SQLite ledger's write lock past the busy timeout: nothing is
    wrong but the moment, so exit 75 (try later), not 69; still :class:`Unavailable` to every
    caller that carries on without a write (a read-only ledger's memo, a worker's settlement)."""

    exit_code = 75  # EX_TEMPFAIL


def ts(value: dt.datetime) -> str:
    """An aware instant as SQLAlchemy stores it on SQLite: naive UTC text."""
    # isoformat less its "+00:00": a fraction of strftime's time, the same text (SQLAlchemy pads
    # the year too).
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(" ", "microseconds")[:26]


def parse_ts(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


# -- the quota path's reads --------------------------------------------------------------------

_MAILBOX_COLUMNS = (
    "id, address, provider, timezone, policy, cap, started, smtp_host, smtp_port, "
    "smtp_security, imap_host, imap_port, imap_security, created_at, auth"
)
_COUNTED = "outcome != 'released'"


def _mailbox_row(r: Sequence[Any]) -> MailboxRow:
    created_at = parse_ts(r[13])
    assert created_at is not None
    return MailboxRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        _date(r[6]),
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
        r[12],
        created_at,
        r[14],
    )


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
    return _mailbox_row(r)


def read_mailbox_rev(cur: sqlite3.Cursor, address: str) -> tuple[MailboxRow, int]:
    """The mailbox and its ``rev`` (bumped by every change to it or to its stored policy), read
    together; :class:`MailboxNotFound` saying how to add it."""
    sql = f"SELECT {_MAILBOX_COLUMNS}, rev FROM mailbox WHERE address = ?"
    key = mailbox_key(address)
    r = cur.execute(sql, (key,)).fetchone()
    if r is None:
        raise MailboxNotFound(key, [a for (a,) in cur.execute("SELECT address FROM mailbox")])
    return _mailbox_row(r), int(r[-1])


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
        f"SELECT name, version, text FROM policy WHERE name IN ({_marks(len(names))})", names
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
    for k in range(0, len(ids), _CHUNK):
        part = list(ids[k : k + _CHUNK])
        for mailbox_id, reason in cur.execute(
            "SELECT mailbox_id, reason FROM event WHERE kind = 'policy' "
            f"AND mailbox_id IN ({_marks(len(part))})",
            part,
        ):
            reasons.setdefault(mailbox_id, []).append(reason)
    return texts, reasons


def _marks(n: int) -> str:
    return ",".join("?" * n)


# Mailboxes without a memo in one batch from which their days are read as arrays: numpy's import
# (~0.1 s) costs more than walking a few mailboxes' years in Python.
ARRAYS_FROM = 32
# ... and from this many days each on average: below, numpy's cost per mailbox (~0.3 ms) is more
# than the Python walk saves (1,000 mailboxes x 60 days: 1.03 s with arrays, 0.80 s without;
# x 365 days: 1.86 s against 2.86 s).
ARRAYS_DAYS = 150
_EPOCH = dt.date(1970, 1, 1).toordinal()


def _array_days(
    cur: sqlite3.Cursor,
    asks: Sequence[tuple[MailboxRow, Ask]],
    group: list[int],
    today_of: dict[str, dt.date],
    days: dict[int, list[DayCounts]],
    spans: dict[int, tuple[int, int, int]],
) -> dict[int, Callable[[int], Any]]:
    """The days before today of the mailboxes ``group`` (none with a memo) as arrays: for each,
    a function of the health window's length giving its day sums
    (:class:`_Batch`); and in ``days`` the last of them as
    :class:`DayCounts`, those today's verdict reads (the policy's look-back and the growth
    limit's week)."""
    import numpy as np

    table = day_table(cur, group, max(today_of.values()).isoformat(), spans=spans)
    box, ordinals, matrix = table[:, 0], table[:, 1] + _EPOCH, table[:, 2:]
    cuts = np.flatnonzero(box[1:] != box[:-1]) + 1
    where = {int(box[a]): (a, b) for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(box)])}
    out: dict[int, Callable[[int], Any]] = {}
    members = set(group)
    batch = _Batch()
    for b, ask in asks:
        if b.id not in members or b.id in out:
            continue
        assert ask.memo is not None
        a, z = where.get(b.id, (0, 0))
        today = today_of[b.timezone]
        z = a + int(np.searchsorted(ordinals[a:z], today.toordinal()))  # before its own today
        out[b.id] = partial(batch.sums, batch.add(ordinals[a:z], matrix[a:z], b.started))
        tail = a + int(
            np.searchsorted(ordinals[a:z], today.toordinal() - ask.memo[1] - GROWTH_DAYS - 1)
        )
        fromordinal = dt.date.fromordinal
        days[b.id] = [
            DayCounts(fromordinal(o), *row)
            for o, row in zip(ordinals[tail:z].tolist(), matrix[tail:z].tolist())
        ]
    return out


_DAY_OF = "CAST(julianday({}) - 2440587.5 AS INTEGER)"  # days since 1970-01-01
_DAY = _DAY_OF.format("day")


def day_table(
    cur: sqlite3.Cursor,
    group: Sequence[int],
    before: str | None = None,
    since: str | None = None,
    spans: dict[int, tuple[int, int, int]] | None = None,
) -> Any:
    """The rollup rows of the mailboxes ``group`` (days from ``since`` and before ``before``,
    ISO text, each if given) as an int64 matrix of (mailbox id, days since 1970-01-01, sent,
    hard, soft, block, complaint), by mailbox and day.

    A row per mailbox, each column of its days one text of numbers that numpy parses: the
    driver's cost per value (a Python int, a tuple per row) was most of a cold year's read
    (182,500 rows x 7 for 500 mailboxes). The columns' lists come from one aggregate step each,
    so their values line up row for row. A mailbox with a row for every day from its first to
    its last (most of them: a mailbox sends every day its window opens) is read without its
    days, which its first day and its count imply (the days' column was a quarter of the read's
    cost), where the aggregate is seen to visit each mailbox's rows in the primary key's order
    (:func:`_in_key_order`); the others' days are read and sorted here, whatever order the rows
    came in. ``spans``: :func:`_spans` of ``group`` with these bounds, if the caller has it."""
    import numpy as np

    if spans is None:
        spans = _spans(cur, group, before, since)
    dense = [i for i in group if i in spans and spans[i][0] == spans[i][2] - spans[i][1] + 1]
    if not dense or not _in_key_order(cur, dense, before, since):
        dense = []
    kept = set(dense)
    parts = [
        _concatenated(cur, part, before, since, spans if part is dense else None)
        for part in (dense, [i for i in group if i not in kept])
        if part
    ]
    if any(part is None for part in parts):
        # not all integers (SQLite types values, not columns), or rows written between the
        # two statements: as the driver gives them
        return day_rows(cur, group, before, since)
    if not parts:
        return np.empty((0, 7), np.int64)
    table = parts[0] if len(parts) == 1 else np.concatenate(parts)
    key = table[:, 0:2]
    n = len(table)
    if (
        n > 1
        and not (
            (key[1:, 0] > key[:-1, 0]) | ((key[1:, 0] == key[:-1, 0]) & (key[1:, 1] > key[:-1, 1]))
        ).all()
    ):
        table = table[np.lexsort((table[:, 1], table[:, 0]))]
    return table


def _spans(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None, since: str | None
) -> dict[int, tuple[int, int, int]]:
    """``{mailbox id: (rows, first day, last day)}`` of the mailboxes ``group`` that have rows
    (days since 1970-01-01), each found on the primary key's index: a count of its entries and
    two seeks per mailbox, not a pass over the rows."""
    where, args = "mailbox_id = m.column1", []
    for test, value in (("day < ?", before), ("day >= ?", since)):
        if value is not None:
            where += f" AND {test}"
            args.append(value)
    of = f"FROM day_stat WHERE {where}"
    rows = cur.execute(
        f"SELECT m.column1, (SELECT count(*) {of}), (SELECT {_DAY_OF.format('min(day)')} {of}), "
        f"(SELECT {_DAY_OF.format('max(day)')} {of}) "
        f"FROM (VALUES {','.join(['(?)'] * len(group))}) m",
        (*args, *args, *args, *group),
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows if r[1]}


# the primary key: the table itself since m018 (WITHOUT ROWID), its index before
_BY_KEY = (
    "SEARCH day_stat USING PRIMARY KEY (mailbox_id=?",
    "SEARCH day_stat USING INDEX sqlite_autoindex_day_stat_1 (mailbox_id=?",
)


def _in_key_order(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None, since: str | None
) -> bool:
    """Whether :func:`_concatenated`'s statement for ``group`` visits each mailbox's rows on the
    primary key (mailbox, day) with nothing sorted after: its lists are then in day order."""
    where, args = _day_where(group, before, since)
    plan = cur.execute(f"EXPLAIN QUERY PLAN {_concat_sql(where, False)}", args).fetchall()
    return len(plan) == 1 and str(plan[0][3]).startswith(_BY_KEY)


def _concat_sql(where: str, days: bool) -> str:
    return (
        f"SELECT mailbox_id, count(*), {f'group_concat({_DAY}), ' if days else ''}"
        "group_concat(sent), group_concat(hard), group_concat(soft), group_concat(block), "
        f"group_concat(complaint) FROM day_stat WHERE {where} GROUP BY mailbox_id "
        "ORDER BY mailbox_id"
    )


def _concatenated(
    cur: sqlite3.Cursor,
    group: Sequence[int],
    before: str | None,
    since: str | None,
    spans: dict[int, tuple[int, int, int]] | None,
) -> Any:
    """:func:`day_table`'s matrix of ``group`` from its one aggregate statement; with ``spans``
    (every mailbox of ``group`` in it, its days without a gap), the days not read but numbered
    from each mailbox's first. None if a value is not an integer, or a mailbox's rows are not
    those ``spans`` counted."""
    import numpy as np

    where, args = _day_where(group, before, since)
    groups = cur.execute(_concat_sql(where, spans is None), args).fetchall()
    lengths = [g[1] for g in groups]
    n = sum(lengths)
    table = np.empty((n, 7), np.int64)
    ids = [g[0] for g in groups]
    table[:, 0] = np.repeat(np.array(ids, np.int64), lengths)
    if spans is not None:
        if len(ids) != len(group) or any(
            spans[i][0] != g[1] for i, g in zip(ids, groups, strict=True)
        ):
            return None
        starts = np.zeros(len(groups) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        firsts = np.array([spans[i][1] for i in ids], np.int64)
        table[:, 1] = np.arange(n) - np.repeat(starts[:-1] - firsts, lengths)
    # the table's columns read, from the third of each row on (the day's first if read)
    for k, c in enumerate(range(1 if spans is None else 2, 7)):
        try:
            column = np.fromstring(",".join([g[2 + k] for g in groups]), np.int64, sep=",")
        except ValueError:
            return None
        if len(column) != n:
            return None
        table[:, c] = column
    return table


def day_rows(
    cur: sqlite3.Cursor, group: Sequence[int], before: str | None = None, since: str | None = None
) -> Any:
    """:func:`day_table` a row at a time."""
    import numpy as np

    where, args = _day_where(group, before, since)
    raw = cur.execute(
        f"SELECT mailbox_id, {_DAY}, sent, hard, soft, block, complaint FROM day_stat "
        f"WHERE {where} ORDER BY mailbox_id, day",
        args,
    ).fetchall()
    # numpy reads the ints one after the other twice as fast as it takes a list of tuples
    return np.fromiter(chain.from_iterable(raw), np.int64, len(raw) * 7).reshape(len(raw), 7)


def _day_where(
    group: Sequence[int], before: str | None, since: str | None
) -> tuple[str, tuple[Any, ...]]:
    where = [f"mailbox_id IN ({_marks(len(group))})"]
    args: list[Any] = [*group]
    for test, value in (("day < ?", before), ("day >= ?", since)):
        if value is not None:
            where.append(test)
            args.append(value)
    return " AND ".join(where), tuple(args)


class _Batch:
    """Day sums of many mailboxes, computed together (:func:`warmup.policy.steady.batch_sums`)
    when the first of them is asked for, for every mailbox not done yet with that health
    window's length (usually one for all: every preset's is 7 days)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, Any, dt.date | None]] = []
        self.done: dict[tuple[int, int], Any] = {}

    def add(self, ordinals: Any, counts: Any, started: dt.date | None) -> int:
        self.rows.append((ordinals, counts, started))
        return len(self.rows) - 1

    def sums(self, k: int, window_days: int) -> Any:
        got = self.done.get((k, window_days))
        if got is None:
            from warmup.policy.steady import batch_sums

            todo = [j for j in range(len(self.rows)) if (j, window_days) not in self.done]
            rows = [self.rows[j] for j in todo]
            made = batch_sums(
                [(o, c) for o, c, _ in rows], [s for _, _, s in rows], [window_days] * len(todo)
            )
            self.done.update(((j, window_days), d) for j, d in zip(todo, made, strict=True))
            got = self.done[(k, window_days)]
        return got


def _as_arrays(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], cold: list[int], last_day: str
) -> dict[int, tuple[int, int, int]] | None:
    """Whether the mailboxes ``cold`` of ``asks`` (those without a memo to resume from) are
    read as arrays: enough of them, with long enough histories before ``last_day``; if so,
    the :func:`_spans` of their days before it (which :func:`day_table` reads them by), else
    None."""
    if len(cold) < ARRAYS_FROM or not all(ask.memo is not None for _, ask in asks):
        return None
    spans = _spans(cur, cold, last_day, None)
    return spans if sum(n for n, _, _ in spans.values()) >= ARRAYS_DAYS * len(cold) else None


def _arrays_worth(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], cold: list[int], last_day: str
) -> bool:
    """Whether :func:`_as_arrays` reads ``cold`` as arrays, its rows counted only up to what
    that takes: on the index, a year of a thousand mailboxes' 365,000 entries were half of the
    cost (the spans are read again where the days are, in each child's part)."""
    if len(cold) < ARRAYS_FROM or not all(ask.memo is not None for _, ask in asks):
        return False
    need = ARRAYS_DAYS * len(cold)
    got = cur.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM day_stat WHERE mailbox_id IN ({_marks(len(cold))}) "
        "AND day < ? LIMIT ?)",
        (*cold, last_day, need),
    ).fetchone()[0]
    return bool(got >= need)


def prepare(cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime) -> int:
    """How many of ``asks`` have no valid walk memo (see :meth:`warmup.ledger.Ledger.prepare`);
    and if :func:`read_histories` will read them as arrays, numpy and the walk's stretches
    imported now: forked children that each read a part of them then share the import instead
    of paying it each (~0.1 s). Only the memos' keys are read."""
    today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
    last_day = max(today_of.values(), default=dt.date.min).isoformat()
    count, arrays = 0, False
    for k in range(0, len(asks), _CHUNK):
        part = asks[k : k + _CHUNK]
        ids = [b.id for b, _ in part]
        found = {
            r[0]: r
            for r in cur.execute(
                "SELECT m.id, m.rev, w.upto, w.rev, w.inputs FROM mailbox m LEFT JOIN walk_memo w "
                f"ON w.mailbox_id = m.id WHERE m.id IN ({_marks(len(ids))})",
                ids,
            )
        }
        cold = []
        for b, ask in part:
            row = found.get(b.id)
            if row is None:
                continue  # histories() will say it is gone
            stamp = None
            if ask.domain_cap:
                domain = f"%@{b.address.rsplit('@', 1)[1]}"
                stamp = sibling_stamp(cur.execute(SIBLINGS, (domain, b.id)).fetchall())
            _, rev, upto, memo_rev, inputs = row
            if not memo_valid(ask, _date(upto), memo_rev, rev, inputs, today_of[b.timezone], stamp):
                cold.append(b.id)
        count += len(cold)
        arrays = arrays or _arrays_worth(cur, part, cold, last_day)
    if arrays:
        import numpy  # noqa: F401

        import warmup.policy.steady  # noqa: F401
    return count


def read_histories(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
) -> list[Snapshot]:
    """:meth:`warmup.ledger.Ledger.history` of each mailbox of ``asks`` (with what its policy
    asks), a handful of statements per 500 mailboxes, in the transaction ``cur`` is in."""
    out: list[Snapshot] = []
    for k in range(0, len(asks), _CHUNK):
        out.extend(_histories(cur, asks[k : k + _CHUNK], as_of))
    return out


def _histories(
    cur: sqlite3.Cursor, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
) -> list[Snapshot]:
    cut = ts(as_of)
    today_of = {tz: local_day(as_of, tz) for tz in {b.timezone for b, _ in asks}}
    zones: dict[str, list[int]] = {}
    for b, _ in asks:
        zones.setdefault(b.timezone, []).append(b.id)
    ids = list({b.id: None for b, _ in asks})
    found = {
        r[0]: r
        for r in cur.execute(
            "SELECT m.id, m.rev, w.upto, w.rev, w.inputs, w.state FROM mailbox m "
            f"LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id IN ({_marks(len(ids))})",
            ids,
        )
    }
    revs: dict[int, int] = {}
    states: dict[int, WalkState | None] = {}
    since: dict[int, dt.date] = {}
    stamps: dict[int, str] = {}
    for b, ask in asks:
        if ask.domain_cap and b.id not in stamps:
            stamps[b.id] = sibling_stamp(
                cur.execute(SIBLINGS, (f"%@{b.address.rsplit('@', 1)[1]}", b.id)).fetchall()
            )
    for b, ask in asks:
        row = found.get(b.id)
        if row is None:
            raise MailboxNotFound(b.address)
        _, rev, upto, memo_rev, inputs, text = row
        valid = memo_valid(
            ask, _date(upto), memo_rev, rev, inputs, today_of[b.timezone], stamps.get(b.id)
        )
        state = WalkState.from_json(text) if valid else None
        revs[b.id], states[b.id] = rev, state
        since[b.id] = memo_since(state, ask)
    days: dict[int, list[DayCounts]] = {i: [] for i in ids}
    last_day = max(today_of.values()).isoformat()
    cold = [i for i in ids if since[i] == dt.date.min]
    # Many mailboxes without a memo (the first question after an upgrade or a policy edit):
    # their days as arrays, walked a stretch at a time in numpy (History.sums).
    sums: dict[int, Callable[[int], Any]] = {}
    spans = _as_arrays(cur, asks, cold, last_day)
    if spans is not None:
        sums = _array_days(cur, asks, cold, today_of, days, spans)
        cold = []
    for group in ([i for i in ids if since[i] != dt.date.min], cold):
        if not group:
            continue
        first = min(since[i] for i in group).isoformat()
        # a year of a thousand mailboxes without memos is 365,000 rows: one lookup per column
        date, counts = dt.date.fromisoformat, DayCounts
        for r in cur.execute(
            "SELECT mailbox_id, day, sent, hard, soft, block, complaint FROM day_stat "
            f"WHERE mailbox_id IN ({_marks(len(group))}) AND day < ? AND day >= ? "
            "ORDER BY mailbox_id, day",
            (*group, last_day, first),
        ):
            days[r[0]].append(counts(date(r[1]), r[2], r[3], r[4], r[5], r[6]))
    today_sent: dict[int, tuple[int, dt.datetime | None]] = {}
    kinds: dict[int, dict[str, int]] = {i: {} for i in ids}
    for tz, group in zones.items():
        today = today_of[tz]
        marks = _marks(len(group))
        start = ts(day_start(today, tz))
        for mailbox_id, n, at in cur.execute(
            f"SELECT mailbox_id, count(*), max(at) FROM send WHERE mailbox_id IN ({marks}) "
            f"AND at >= ? AND at <= ? AND {_COUNTED} GROUP BY mailbox_id",
            (*group, start, cut),
        ):
            today_sent[mailbox_id] = (n, parse_ts(at))
        for mailbox_id, kind, n in cur.execute(
            f"SELECT mailbox_id, kind, count(*) FROM bounce WHERE mailbox_id IN ({marks}) "
            "AND day = ? AND at <= ? AND counted = 1 GROUP BY mailbox_id, kind",
            (*group, today.isoformat(), cut),
        ):
            kinds[mailbox_id][kind] = n
    idle = [i for i in ids if not today_sent.get(i, (0, None))[0]]
    if idle:  # the last send may be on an earlier day: each maximum looked up on its index
        for mailbox_id, at in cur.execute(
            f"SELECT m.id, (SELECT max(at) FROM send WHERE mailbox_id = m.id AND at <= ? "
            f"AND {_COUNTED}) FROM mailbox m WHERE m.id IN ({_marks(len(idle))})",
            (cut, *idle),
        ):
            today_sent[mailbox_id] = (0, parse_ts(at))
    events: dict[int, list[Any]] = {i: [] for i in ids}
    for mailbox_id, id_, kind, at, until, reason in cur.execute(
        "SELECT mailbox_id, id, kind, at, until, reason FROM event "
        f"WHERE mailbox_id IN ({_marks(len(ids))}) AND (at <= ? OR kind = 'policy') "
        "ORDER BY mailbox_id, at, id",  # every policy change, as history.py's _UP_TO_CUT
        (*ids, cut),
    ):
        events[mailbox_id].append((mailbox_id, id_, kind, parse_ts(at), parse_ts(until), reason))
    domain_sent: dict[tuple[str, dt.datetime], int] = {}
    out = []
    cut_at = parse_ts(cut)
    assert cut_at is not None
    for b, ask in asks:
        tz, state = b.timezone, states[b.id]
        today = today_of[tz]
        start_at = day_start(today, tz)
        dsent, ddays = None, None
        if ask.domain_cap:
            key = (b.address.rsplit("@", 1)[1], start_at)
            if key not in domain_sent:
                domain_sent[key] = cur.execute(
                    "SELECT count(*) FROM send WHERE mailbox_id IN (SELECT id FROM mailbox "
                    f"WHERE address LIKE ?) AND at >= ? AND at <= ? AND {_COUNTED}",
                    (f"%@{key[0]}", ts(start_at), cut),
                ).fetchone()[0]
            dsent = domain_sent[key]
            ddays = {
                dt.date.fromisoformat(d): n
                for d, n in cur.execute(
                    DOMAIN_DAYS,
                    (f"%@{key[0]}", b.id, since_of(state), today.isoformat()),
                )
            }
        per_domain: dict[str, int] = {}
        if ask.recipient_caps:
            per_domain = dict(
                cur.execute(
                    "SELECT lower(substr(recipient, instr(recipient, '@') + 1)) AS d, count(*) "
                    f"FROM send WHERE mailbox_id = ? AND at >= ? AND at <= ? AND {_COUNTED} "
                    "GROUP BY d",
                    (b.id, ts(start_at), cut),
                ).fetchall()
            )
        box_days = [d for d in days[b.id] if since[b.id] <= d.day < today]
        out.append(
            snapshot(
                b,
                ask,
                today,
                revs[b.id],
                state,
                box_days,
                today_sent.get(b.id, (0, None)),
                kinds[b.id],
                events_of(events[b.id], state, tz, cut_at),
                dsent,
                per_domain,
                sums.get(b.id),
                ddays,
                stamps.get(b.id),
            )
        )
    return out


# What the other mailboxes of a domain sent on each day from a day to before another (the days
# a walk under a domain cap closes: History.domain_days).
DOMAIN_DAYS = (
    "SELECT day, sum(sent) FROM day_stat WHERE mailbox_id IN (SELECT id FROM mailbox "
    "WHERE address LIKE ?) AND mailbox_id != ? AND day >= ? AND day < ? AND sent > 0 "
    "GROUP BY day"
)


# The other mailboxes of a domain with their revisions, in id order (reads.sibling_stamp).
SIBLINGS = "SELECT id, rev FROM mailbox WHERE address LIKE ? AND id != ? ORDER BY id"


def since_of(state: WalkState | None) -> str:
    return domain_since(state).isoformat()


# Stored only while the mailbox is at the revision the memo was computed at, and only over an
# older memo or one of other inputs or another revision.
_KEEP_MEMO = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) "
    "SELECT ?, ?, ?, ?, ? WHERE (SELECT rev FROM mailbox WHERE id = ?) = ? "
    "ON CONFLICT (mailbox_id) DO UPDATE SET upto = excluded.upto, rev = excluded.rev, "
    "inputs = excluded.inputs, state = excluded.state "
    "WHERE walk_memo.rev != excluded.rev OR walk_memo.inputs != excluded.inputs "
    "OR walk_memo.upto < excluded.upto"
)


def keep_memos(
    cur: sqlite3.Cursor,
    memos: Sequence[tuple[MailboxRow, WalkState, str, int]],
) -> int:
    """Store each ``(box, state, inputs, rev)`` as the mailbox's walk memo where it may be (see
    :meth:`warmup.ledger.Ledger.keep_memos`), in the write transaction ``cur`` is in; how many
    were stored."""
    stored = 0
    for box, state, inputs, rev in memos:
        cur.execute(
            _KEEP_MEMO,
            (box.id, state.upto.isoformat(), rev, inputs, state.to_json(), box.id, rev),
        )
        stored += max(cur.rowcount, 0)
    return stored


def due_memos(
    memos: Sequence[tuple[MailboxRow, WalkState | None, str, int]],
    real_today: Callable[[str], dt.date],
) -> list[tuple[MailboxRow, WalkState, str, int]]:
    """The memos that may be kept: those before yesterday by this host's clock."""
    return [
        (box, state, inputs, rev)
        for box, state, inputs, rev in memos
        if state is not None and state.upto < real_today(box.timezone)
    ]


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
        except sqlite3.Error:
            raw.close()
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
            cur.execute("BEGIN IMMEDIATE")
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
