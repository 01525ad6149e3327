"""The SQLite ledger file on the ``sqlite3`` driver: opening it (:func:`connect`,
:func:`setup_connection`: busy timeout, WAL, a read-only file read without locks, a file
swapped meanwhile noticed: :func:`check_unchanged`), keeping it private to its user
(:func:`private`), what a driver error means for the user (:func:`storage_error`), and how the
ledger's values are stored and bound (:func:`ts`, :func:`parse_ts`, :func:`parse_day`,
:data:`CHUNK`, :func:`qmarks`).

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
from pathlib import Path
from typing import Any

from warmup.errors import (
    ConfigError,
    IOFailure,
    LedgerVanished,
    NoLedger,
    ReadOnlyLedger,
    Unavailable,
    UsageError,
    WarmupError,
)

BUSY_TIMEOUT_S = 30.0
# Bound parameters per statement stay far below SQLite's limit (32,766; 999 before 3.32).
CHUNK = 500


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
    if made_up(path):
        raise ConfigError(
            f"ledger {path} is not a warmup ledger: its size says 0 bytes, yet it reads as "
            f"text the system makes up (a /proc or /sys file), where no ledger can be kept; "
            f"point --db/WARMUP_DB at a ledger file, e.g. ledger.db"
        )
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


def made_up(path: Path) -> bool:
    """Whether ``path`` is a regular file whose size says 0 bytes but which reads as some: a
    file of /proc or /sys, made up as it is read. Taken for an empty file, 'mailbox add' said
    "Created a new ledger" at /proc/self/status."""
    try:
        if not stat.S_ISREG((st := path.stat()).st_mode) or st.st_size:
            return False
        with path.open("rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


def empty_file(path: Path) -> bool:
    """``path`` is a regular file of 0 bytes with no write-ahead log beside it: SQLite would
    take it for a new database, and a read would make it one (WAL, then the schema). A ledger
    truncated, a file made by ``touch`` or ``mktemp``: only a command that creates a ledger may
    start one in it (not a /proc file, whose size says 0 too: :func:`made_up`)."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode) or st.st_size or made_up(path):
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
    if "unable to open" in text and not os.path.lexists(where):
        # Opened only if there (open_existing), and it was when the command began: removed or
        # renamed since, and what was written after that went with it.
        return LedgerVanished(
            f"ledger {where} vanished while warmup was running (removed or renamed): what "
            f"was written since went with it; put the file back (or a backup), then run again"
        )
    if "unable to open" in text and os.path.isdir(where):
        # Not a matter of permissions, as the line below would have the user think.
        return ConfigError(
            f"ledger {where} is a directory; name a file, e.g. {os.path.join(where, 'ledger.db')}"
        )
    beside_failed = "disk I/O error" in text or "unable to open" in text or "readonly" in text
    if beside_failed and _disk_full(where):
        # SQLite could not make the -wal or -shm beside the ledger (ENOSPC reaches it as an I/O
        # error, or as a read-only file): "check the disk, the system log says why" sent the
        # user to a log that says nothing, and "read-only here" to a mount that is fine.
        return IOFailure(
            f"ledger {where}: the disk that holds it is full; free space on it, then try "
            f"again (commands that only read the ledger, such as quota and report, work "
            f"as it is)"
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
        cause, fix = why
        return ReadOnlyLedger(
            f"ledger {where} is read-only here: {cause}; SQLite writes beside a ledger (its -wal "
            f"and -shm files) to change it: {fix} (commands that only read it, such as quota "
            f"and report, work as it is)",
            why=cause,
            fix=fix,
        )
    if "unable to open" in text or "readonly" in text or "disk" in text.lower():
        return ConfigError(f"ledger {where}: {text}; check the path and its permissions")
    if "database is locked" in text or "database is busy" in text:
        return LedgerBusy(
            f"ledger {where} is busy: another process has held its write lock for over "
            f"{BUSY_TIMEOUT_S:g} s ({text}); try again once it has finished"
        )
    if text.startswith(("no such table", "no such column")):
        # Migrations made every table and column: one gone was dropped or renamed by hand, or
        # a partial restore. 69 ("unavailable", a server to try again later) sent a script's
        # retry loop round for ever, and said nothing of what to do.
        return ConfigError(
            f"ledger {where} lacks part of warmup's schema ({text}): it was changed outside "
            f"warmup; restore a backup"
        )
    return Unavailable(f"ledger {where} is unavailable: {text}")


def _read_only(where: str) -> tuple[str, str] | None:
    """Why the ledger at ``where`` cannot be written by this process, and what to do: a
    read-only file system, or a folder this user may not write; None otherwise (a file of mode
    0444 in a folder the user writes is read, and a write says "readonly"). Commands that only
    read it still can (:func:`read_only_uri`); this is what a write says (a migration's is
    :meth:`warmup.ledger.core.Ledger.migrate`'s)."""
    why = _cannot_write_beside(where)
    if why is None:
        return None
    if why.startswith("on "):
        return why, "mount it read-write"
    return why, "run warmup as the ledger's owner or let this user write to the folder"


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
    if _disk_full(where) and _size(Path(beside[1])) < SHM_SIZE:
        # No room to make the -shm (or grow one a failed open left short): reads take the
        # file as it is, as on a read-only mount; a write says the disk is full (storage_error)
        return "on a full disk"
    if not os.access(folder, os.W_OK) and not all(os.access(f, os.W_OK) for f in beside):
        # (Both there and ours to write: SQLite needs to make neither, and writes as ever.)
        return f"this user may not write to its folder {folder}"
    return None


# Less room than this for this user on the ledger's file system is a full disk: SQLite's -shm
# alone takes 32 KiB, its -wal a header and a page or more.
FULL_BELOW = 64 * 1024
SHM_SIZE = 32 * 1024  # the -shm SQLite maps to read a WAL ledger: its first region


def _disk_full(where: str) -> bool:
    """Whether the file system that holds the ledger at ``where`` has no room left for what
    SQLite writes beside it (:data:`FULL_BELOW`), counting the blocks kept for root when this
    process is root."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(where)))
    except OSError:
        return False
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return (st.f_bfree if root else st.f_bavail) * st.f_frsize < FULL_BELOW


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


def names(where: str) -> int:
    """How many names (hard links) the regular file at ``where`` has; 0 when none is there.
    Opened under one of them, a ledger gets a WAL and an index of its own beside that name,
    which a process that opens it by another never reads: its writes unseen there, then
    checkpointed under that process's reads."""
    try:
        st = os.stat(where)
    except (OSError, ValueError):
        return 0
    return st.st_nlink if stat.S_ISREG(st.st_mode) else 0


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


def busy(exc: sqlite3.Error) -> bool:
    """Whether a driver error is a lock another connection held past the busy timeout
    (SQLITE_BUSY, SQLITE_LOCKED): the moment's, not the file's; waiting again waits as long."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def trigger_refusal(exc: BaseException) -> bool:
    """Whether a driver error is a trigger's ``RAISE(ABORT|FAIL|ROLLBACK, ...)``: warmup's
    tables carry no trigger of warmup's, so one that refuses a write was added by someone."""
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CONSTRAINT_TRIGGER


def open_existing(where: str | Path, **kwargs: Any) -> sqlite3.Connection:
    """A ``sqlite3`` connection (``kwargs``: :func:`sqlite3.connect`'s) to the ledger file at
    ``where``, which must be there: ``mode=rw``, never ``mode=rwc``. A plain connect creates a
    missing file, so a ledger removed while a worker ran became a new 0-byte ledger.db, which
    then "lacked part of warmup's schema"; only an open that creates a ledger (:func:`private`)
    makes the file. The path is literal: ``?``, ``%`` and ``#`` in it are percent-encoded."""
    uri = f"{Path(where).absolute().as_uri()}?mode=rw"
    return sqlite3.connect(uri, **{"timeout": BUSY_TIMEOUT_S, **kwargs}, uri=True)


def connect(where: str | Path) -> tuple[sqlite3.Connection, Stamp | None]:
    """A ``sqlite3`` connection to the ledger at ``where`` (read-only where this process
    cannot write beside it: :func:`read_only_uri`), and the stamp its reads must check."""
    ro = read_only_uri(str(where))
    if ro is None:
        return open_existing(where), None
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


def parse_day(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def qmarks(n: int) -> str:
    return ",".join("?" * n)
