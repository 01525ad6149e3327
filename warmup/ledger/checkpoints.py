"""A SQLite ledger's WAL checkpoints on a thread of their own, for a connection whose commits run
on a thread that must not wait: the relay's event loop (issue #15).

SQLite copies the write-ahead log back into the database file (a checkpoint: the log synced, the
pages copied, the file synced) inside the commit that takes the log past ``wal_autocheckpoint``
pages (:data:`PAGES` by default): on the relay's loop thread, ~2 ms every ~30 messages, ~8% of
its time. :class:`Checkpointer` turns that off on the connection it watches (:meth:`watch`) and
runs the same checkpoint (``PASSIVE``: it never waits for, nor blocks, a writer or a reader) on a
connection and thread of its own, woken by :meth:`committed` after each commit once the log holds
``pages`` frames not yet copied back. What a crash can undo is what it was: each commit survives
the process (WAL, ``synchronous = NORMAL``), and the log is synced at each checkpoint, at the same
cadence. Other connections, in this process or another, keep their own autocheckpoint.

How long the log is comes from the header of the WAL index (the ``-shm`` file; its layout is
documented at https://www.sqlite.org/walformat.html): frames in the log (``mxFrame``) and frames
copied back (``nBackfill``), one ``pread`` (~1 us; asking SQLite would be a checkpoint itself).

Bounds. The log starts again from its beginning only once all of it is copied back, so a
checkpoint overtaken by a commit (frames appended while it synced) copies the rest at once, up to
:data:`RETRIES` times; if the log still reaches :data:`LAG` times ``pages`` frames (the thread
starved, a slow disk), the watched connection checkpoints itself, as SQLite would have: after
the thread's checkpoint in progress, if any, which it waits for (SQLite refuses a second
checkpoint while one runs, and the log grew by every commit until that one was done: 263
frames past the bound with the database file's syncs taking a second each). If the
checkpointer fails, the watched connection is put back on autocheckpoint and ``fallback`` is told
once: never an unbounded log.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading
from collections.abc import Callable

from warmup.ledger.sqlite_file import open_existing

PAGES = 1_000  # SQLite's default wal_autocheckpoint
LAG = 3  # the log's length, in ``pages``, at which the watched connection checkpoints itself
RETRIES = 8  # checkpoints in a row while commits keep overtaking them
_INDEX_VERSION = 3007000  # the WAL index's iVersion since SQLite 3.7.0
# iVersion (offset 0), mxFrame (16) in the first copy of the header, nBackfill (96) after both
# 48-byte copies; in the host's byte order.
_HEADER = struct.Struct("=I12xI76xI")
_CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"


class Checkpointer:
    """The checkpoints of the ledger file at ``path`` for a connection that :meth:`watch`\\ es;
    :meth:`start` it, call :meth:`committed` after each of that connection's commits (on its
    thread), :meth:`stop` it."""

    def __init__(self, path: str, fallback: Callable[[str], None], pages: int = PAGES) -> None:
        self.path = path
        self.pages = pages
        self.fallback = fallback
        self.failed: str | None = None  # why the thread stopped checkpointing
        self.checkpoints = 0  # by the thread
        self.inline = 0  # by the watched connection, the log at LAG * pages
        self._told = False
        self._con: sqlite3.Connection | None = None
        self._fd = -1
        self._wake = threading.Event()
        self._stopping = False
        # Held by the thread's checkpoints, and by the watched connection's at LAG (which the
        # thread then lets have it after its current checkpoint: ``_wanted``).
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Open the connection, the WAL index and the thread; False (nothing started: the
        watched connection keeps its autocheckpoint) where the ledger is not in WAL mode or its
        index is not the one read here."""
        try:
            con = open_existing(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return False
        try:
            con.execute("PRAGMA synchronous = NORMAL")  # the ledger's, for the checkpoint's syncs
            if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                con.close()
                return False
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the index
            fd = os.open(os.path.realpath(self.path) + "-shm", os.O_RDONLY | os.O_CLOEXEC)
        except (sqlite3.Error, OSError):
            con.close()
            return False
        self._con, self._fd = con, fd
        if self._frames() is None:
            self._close()
            return False
        self._thread = threading.Thread(target=self._run, name="warmup-checkpoints", daemon=True)
        self._thread.start()
        return True

    def watch(self, raw: sqlite3.Connection) -> None:
        """``raw``'s checkpoints are this checkpointer's (until it fails)."""
        raw.execute(f"PRAGMA wal_autocheckpoint = {0 if self.failed is None else self.pages}")

    def unwatch(self, raw: sqlite3.Connection) -> None:
        """``raw`` checkpoints by itself again (a connection going back to a pool)."""
        raw.execute(f"PRAGMA wal_autocheckpoint = {self.pages}")

    def committed(self, raw: sqlite3.Connection) -> None:
        """After a commit on ``raw``, the watched connection, on its thread: wake the thread
        when the log holds ``pages`` frames not copied back; checkpoint here at ``LAG`` times
        that (after the thread's checkpoint in progress); back to autocheckpoint once the
        thread has failed. Never raises: the commit stands."""
        if self._told:
            return
        try:
            frames = self._frames() if self.failed is None else None
        except OSError as exc:
            frames = None
            self.failed = f"the WAL index: {exc}"
        try:
            if frames is None:
                self.failed = self.failed or "the WAL index is not the format read here"
                raw.execute(f"PRAGMA wal_autocheckpoint = {self.pages}")
                self._told = True
                self.fallback(self.failed)
            elif frames[0] >= LAG * self.pages:
                self._wanted = True
                with self._lock:
                    self._wanted = False
                    raw.execute(_CHECKPOINT)
                self.inline += 1
            elif frames[1] >= self.pages:
                self._wake.set()
        except sqlite3.Error:
            pass  # the next commit tries again

    def stop(self) -> None:
        """Stop the thread (its checkpoint in progress done), then a last checkpoint: what was
        committed meanwhile is synced too. Nothing may commit on the watched connection then."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        try:
            if self.failed is None and self._con is not None:
                self._con.execute(_CHECKPOINT).fetchone()
            else:  # its connection may be what failed
                con = open_existing(self.path, isolation_level=None)
                try:
                    con.execute(_CHECKPOINT).fetchone()
                finally:
                    con.close()
        except sqlite3.Error:
            pass  # the ledger's last connection to close checkpoints too
        finally:
            self._close()

    def _frames(self) -> tuple[int, int] | None:
        """(frames in the log, frames not copied back yet); None: not an index read here."""
        head = os.pread(self._fd, _HEADER.size, 0)
        if len(head) < _HEADER.size:
            return None
        version, length, backfilled = _HEADER.unpack(head)
        if version != _INDEX_VERSION:
            return None
        return length, length - min(backfilled, length)

    def _run(self) -> None:
        con = self._con
        assert con is not None
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                with self._lock:
                    for _ in range(RETRIES):
                        busy, length, done = con.execute(_CHECKPOINT).fetchone()
                        self.checkpoints += 1
                        # busy: another process checkpoints; a reader's old snapshot holds the
                        # rest; wanted: the log reached LAG, the watched connection takes over
                        if busy or done >= length or self._stopping or self._wanted:
                            break
            except Exception as exc:  # any failure: the watched connection takes over
                self.failed = f"{type(exc).__name__}: {exc}"
                return

    def _close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
