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
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from warmup.errors import WarmupError
from warmup.ledger.core import Ledger
from warmup.ledger.gatepath import (
    Decide,
    GatePolicy,
    GateRows,
    GateSession,
    Outcome,
    recipient_domains,
)
from warmup.ledger.imports import SendRow
from warmup.ledger.schema import DATA_TABLES, UTCDateTime
from warmup.ledger.sqlite_reads import (
    BUSY_TIMEOUT_S,
    due_memos,
    keep_memos,
    parse_ts,
    private,
    read_histories,
    read_mailbox,
    read_mailboxes,
    read_policy_text,
    setup_connection,
    storage_error,
    ts,
)
from warmup.ledger.values import CLOCK_SKEW, Ask, EventIn, MailboxRow, Snapshot, local_day
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState, day_start

_IN_CHUNK = 5000  # keys per IN list, well below SQLite's 32,766 variables


class SQLiteLedger(Ledger):
    scheme = "sqlite"

    def __init__(self, url: str, *, create: bool = True) -> None:
        path = sa.engine.make_url(url).database or ""
        self.warnings: list[str] = []
        self._made: list[Path] = []  # the file and folders this open created, in that order
        if path and path != ":memory:":
            self._made, self.warnings = private(Path(path), create)
            self.created = bool(self._made)
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _on_begin)
        super().__init__(engine, url, path)

    def discard_if_unused(self) -> bool:
        """Remove the ledger this open created (file, its WAL and the folders made for it) if it
        holds no row: a command that failed on bad input leaves nothing behind."""
        if not self._made:
            return False
        try:
            with self.read() as conn:
                if any(conn.execute(sa.select(t).limit(1)).first() for t in DATA_TABLES):
                    return False
        except sa.exc.SQLAlchemyError:
            pass  # not even the schema was made: nothing in it either
        self.close()
        file, *folders = self._made
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(f"{file}{extra}").unlink(missing_ok=True)
        for folder in folders:
            try:
                folder.rmdir()
            except OSError:
                break  # something else was put there meanwhile: keep it
        self._made, self.created = [], False
        return True

    # -- the quota path's reads, on the driver (:mod:`.sqlite_reads`, shared with SQLiteReads) --

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

    def mailbox(self, address: str) -> MailboxRow:
        with self._raw_read() as cur:
            return read_mailbox(cur, address)

    def mailboxes(self) -> list[MailboxRow]:
        with self._raw_read() as cur:
            return read_mailboxes(cur)

    def policy_text(self, name: str) -> tuple[int, str] | None:
        with self._raw_read() as cur:
            return read_policy_text(cur, name)

    def histories(
        self, asks: Sequence[tuple[MailboxRow, Ask]], as_of: dt.datetime
    ) -> list[Snapshot]:
        with self._raw_read() as cur:
            return read_histories(cur, asks, as_of)

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

    def _sql_domain(self, column: Any) -> Any:
        return sa.func.lower(sa.func.substr(column, sa.func.instr(column, "@") + 1))

    def _sql_utc_day(self, column: Any) -> Any:
        return sa.func.substr(column, 1, 10)  # stored as 'YYYY-MM-DD HH:MM:SS...' UTC text

    def _insert_sends(self, conn: Connection, rows: list[SendRow]) -> None:
        # sqlite3's executemany on plain values: SQLAlchemy's per-row bind processing was most
        # of an import's time. Instants as SQLAlchemy stores them (ts).
        raw = conn.connection.driver_connection
        assert raw is not None

        def row(r: SendRow) -> tuple[Any, ...]:
            m, rcpt, mid, at, day, outcome, source, key, settled = r
            stamp = ts(at)
            done = stamp if settled is at else None if settled is None else ts(settled)
            return (m, rcpt, mid, stamp, day.isoformat(), outcome, source, key, done)

        raw.executemany(_IMPORT_SENDS, map(row, rows))

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
            if isinstance(exc.orig, sqlite3.DatabaseError) and not isinstance(
                exc.orig, sqlite3.IntegrityError
            ):
                raise storage_error(exc, self.where) from None
            raise
        except sqlite3.OperationalError as exc:  # the gate's raw cursor
            raise storage_error(exc, self.where) from None

    def gate(
        self,
        box: MailboxRow,
        policy: GatePolicy | None = None,
        expiry: dt.timedelta = dt.timedelta(minutes=15),
    ) -> SQLiteGate:
        return SQLiteGate(self, box, policy or GatePolicy("", 0, False), expiry)

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        # On the driver: the relay asks this for every RCPT TO, and SQLAlchemy's expanding
        # ``IN`` (compiled per call) cost more than the statement.
        addrs = list(addresses)
        if not addrs:
            return {}
        marks = ",".join("?" * len(addrs))
        pooled = self.engine.raw_connection()  # one statement: its own snapshot, no BEGIN
        try:
            raw = pooled.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            with self._errors():
                rows = raw.execute(
                    f"SELECT address, kind, reason FROM suppression WHERE address IN ({marks})",
                    addrs,
                ).fetchall()
        finally:
            pooled.close()
        return {a: f"{k}: {r}" if r else k for a, k, r in rows}


def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    setup_connection(dbapi_conn)


def _on_begin(conn: Connection) -> None:
    conn.exec_driver_sql(conn.get_execution_options().get("warmup_begin", "BEGIN"))


# -- the gate's path ---------------------------------------------------------------------------


def _day_rows(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [(dt.date.fromisoformat(r[0]), *r[1:]) for r in rows]


def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


_MEMO = (
    "SELECT m.rev, m.cap, m.started, w.upto, w.rev, w.inputs, w.state FROM mailbox m "
    "LEFT JOIN walk_memo w ON w.mailbox_id = m.id WHERE m.id = ?"
)
_DAYS = (
    "SELECT day, sent, hard, soft, block, complaint FROM day_stat "
    "WHERE mailbox_id = ? AND day >= ? ORDER BY day"
)
# ORDER BY ... LIMIT 1, not max(at): with the outcome filter, max() would read every row.
_LAST = (
    "SELECT at FROM send WHERE mailbox_id = ? AND at <= ? AND outcome != 'released' "
    "ORDER BY at DESC LIMIT 1"
)
# The last send and the first one stamped after the window (the kept last send holds until then).
_LAST_AND_NEXT = (
    f"SELECT ({_LAST}), (SELECT at FROM send WHERE mailbox_id = ? AND at > ? "
    f"AND outcome != 'released' ORDER BY at LIMIT 1)"
)
_ALL_EVENTS = "SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = ? ORDER BY at, id"
# Three index searches (an OR of them would read every event of the mailbox): the events after
# the memo's day, the back-offs still in force, the last pause or resume before.
_NEW_EVENTS = (
    "SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = ? AND at > ? "
    "UNION SELECT id, kind, at, until, reason FROM event "
    "WHERE mailbox_id = ? AND kind = 'throttle' AND until > ? "
    "UNION SELECT id, kind, at, until, reason FROM event WHERE id = (SELECT id FROM event "
    "WHERE mailbox_id = ? AND kind IN ('pause', 'resume') AND at <= ? ORDER BY at DESC, id DESC "
    "LIMIT 1) ORDER BY at, id"
)
_DOMAIN_SENT = (
    "SELECT count(*) FROM send WHERE mailbox_id IN (SELECT id FROM mailbox WHERE "
    "address LIKE ?) AND at >= ? AND outcome != 'released'"
)
_EXPIRE = (
    "UPDATE send SET outcome = 'unknown', settled_at = ? WHERE mailbox_id = ? "
    "AND outcome = 'reserved' AND at < ?"
)
_SETTLE_SENT = (
    "UPDATE send SET outcome = 'sent', settled_at = ? WHERE id = ? "
    "AND outcome IN ('reserved', 'unknown')"
)
_INSERT = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, settled_at, "
    "source, key) VALUES (?, ?, ?, ?, ?, 'reserved', NULL, ?, ?)"
)
_IMPORT_SENDS = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, source, key, settled_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox_id, key) DO NOTHING"
)
_BUMP_SENT = (
    "INSERT INTO day_stat (mailbox_id, day, sent, hard, soft, block, complaint) "
    "VALUES (?, ?, ?, 0, 0, 0, 0) ON CONFLICT (mailbox_id, day) DO UPDATE SET "
    "sent = sent + excluded.sent"
)
_KEEP_MEMO = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (mailbox_id) DO UPDATE SET upto = excluded.upto, rev = excluded.rev, "
    "inputs = excluded.inputs, state = excluded.state"
)


@dataclass
class _Seen:
    """The mailbox's rows as this gate's last committed reservation left them (its own slot,
    rollup bump and stamp included): still true while no other connection has committed
    (``PRAGMA data_version`` unchanged), so the next reservation reads only what depends on its
    message. Kept for the same local day, the clock not gone back, no throttle back-off among
    the events (which one applies depends on the instant), and the last send only until the
    window ``now`` + CLOCK_SKEW reaches a send stamped later (``horizon``). ``past`` and
    ``events`` are the engine's objects for the days before today and the events. Updated in
    place after each of our own commits, which data_version does not count."""

    version: int
    now: dt.datetime
    today: dt.date
    rows: GateRows
    past: tuple[DayCounts, ...]
    events: tuple[MailboxEvent, ...]
    today_row: DayCounts | None
    last: dt.datetime | None
    horizon: dt.datetime | None

    def holds(self, version: int, now: dt.datetime, today: dt.date) -> bool:
        return (
            version == self.version
            and now >= self.now
            and today == self.today
            and (self.horizon is None or now + CLOCK_SKEW < self.horizon)
        )

    def took(self, now: dt.datetime, taken: int) -> None:
        """Our own reservation committed at ``now`` with ``taken`` slots."""
        self.now = now
        if taken:
            if self.last is None or now > self.last:
                self.last = now
            c = self.today_row
            if c is None:
                self.today_row = DayCounts(self.today, taken)
            else:
                self.today_row = DayCounts(
                    c.day, c.sent + taken, c.hard, c.soft, c.block, c.complaint
                )

    @classmethod
    def after(
        cls,
        version: int,
        now: dt.datetime,
        today: dt.date,
        rows: GateRows,
        hist: History,
        horizon: dt.datetime | None,
        taken: int,
    ) -> _Seen | None:
        if any(kind == "throttle" for kind, *_ in rows.events):
            return None
        today_row = next((c for c in hist.days if c.day == today), None)
        past = tuple(c for c in hist.days if c.day < today)
        r = rows
        # The days live on as ``past`` and ``today_row``, the last send as ``last``.
        kept = GateRows(r.rev, r.cap, r.started, r.memo, [], None, r.events, {}, {})
        seen = cls(version, now, today, kept, past, hist.events, today_row, r.last, horizon)
        seen.took(now, taken)
        return seen


class SQLiteGate(GateSession):
    """The gate's transaction on the raw ``sqlite3`` cursor (see :mod:`warmup.ledger.gatepath`)."""

    ledger: SQLiteLedger

    def __init__(
        self, ledger: SQLiteLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        super().__init__(ledger, box, policy, expiry)
        self._conn: Connection | None = None  # one connection for this gate's transactions
        self._raw: sqlite3.Connection | None = None  # the sqlite3 connection under it
        self._fixed: tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None = None
        self._seen: _Seen | None = None
        self._bumped_rev = False
        # Only when every other connection is another sqlite3 connection (data_version counts
        # their commits; a shared in-memory connection would hide them).
        self._can_keep = isinstance(ledger.engine.pool, sa.pool.QueuePool)

    def reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str = "gate",
    ) -> tuple[list[int], dt.datetime]:
        if self._raw is None:
            self._conn = self.ledger.connect_for_writes()
            raw = self._conn.connection.driver_connection
            assert isinstance(raw, sqlite3.Connection)
            self._raw = raw
        box = self.box
        pending = list(self._deferred)
        refusal: Exception | None = None
        ids: list[int] = []
        # The transaction runs on the sqlite3 connection itself, as the PostgreSQL path does on
        # psycopg's: SQLAlchemy's transaction bookkeeping cost more than the statements.
        seen, self._seen = self._seen, None  # kept again only once this one commits
        self._bumped_rev = False
        raw = self._raw
        with self.ledger._errors():
            cur = raw.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if pending:
                    cur.executemany(_SETTLE_SENT, [(ts(at), sid) for sid, at in pending])
                version = cur.execute("PRAGMA data_version").fetchone()[0]
                now = clock()  # under the lock: reservations are stamped in order
                if self._expire_due(now):
                    cur.execute(_EXPIRE, (ts(now), box.id, ts(now - self.expiry)))
                today = local_day(now, box.timezone)
                if seen is not None and seen.holds(version, now, today):
                    # Nobody else committed: the kept rows and this message's own.
                    r = seen.rows
                    rows = GateRows(
                        r.rev,
                        r.cap,
                        r.started,
                        r.memo,
                        r.days,
                        seen.last,
                        r.events,
                        *self._per_message(cur, recipients, message_id, now, today),
                    )
                    hist = self._kept_history(seen, rows)
                else:
                    seen = None
                    rows, horizon = self._read(cur, recipients, message_id, now, today)
                    hist = self._history(rows, now, today)
                decision = decide(hist, rows.suppressed, now)
                refusal = decision.refusal
                if refusal is None:
                    try:
                        ids = self._write(cur, recipients, message_id, now, rows, source, today)
                    except Exception as exc:  # DuplicateSend: nothing was written
                        if not isinstance(exc, WarmupError):
                            raise
                        refusal = exc
                memo = self._memo_to_keep(decision, rows)
                if memo is not None:
                    cur.execute(
                        _KEEP_MEMO,
                        (
                            box.id,
                            memo.upto.isoformat(),
                            rows.rev,
                            self.policy.inputs,
                            memo.to_json(),
                        ),
                    )
            except BaseException:
                if raw.in_transaction:
                    raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[: len(pending)]
        if memo is None and not self._bumped_rev and self._can_keep:
            if seen is not None:
                seen.took(now, len(ids))
                self._seen = seen
            else:
                self._seen = _Seen.after(version, now, today, rows, hist, horizon, len(ids))
        if refusal is not None:
            raise refusal
        return ids, now

    def _kept_history(self, seen: _Seen, rows: GateRows) -> History:
        """The engine's view from the kept rows: the same objects for the days before today and
        the events, today's counts as this gate's commits left them."""
        p, box = self.policy, self.box
        c = seen.today_row
        return History(
            box.address,
            box.timezone,
            (*seen.past, c) if c is not None else seen.past,
            seen.events,
            rows.last,
            rows.cap,
            p.provider_ceiling,
            p.provider_min_interval,
            rows.started,
            rows.domain_sent,
            rows.memo,
            rows.recipient_domains or {},
        )

    def _read(
        self,
        cur: sqlite3.Cursor,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        today: dt.date | None = None,
    ) -> tuple[GateRows, dt.datetime | None]:
        """Step 4's rows, and the first send stamped after ``now`` + CLOCK_SKEW (None: none)."""
        box, p = self.box, self.policy
        tz = box.timezone
        today = today or local_day(now, tz)
        rev, cap, started, upto, mrev, inputs, state = cur.execute(_MEMO, (box.id,)).fetchone()
        memo = None
        if upto is not None and mrev == rev and inputs == p.inputs and upto <= today.isoformat():
            memo = WalkState.from_json(state)
        since = (memo.upto - dt.timedelta(days=p.lookback)).isoformat() if memo else ""
        # Days before yesterday are fixed while the mailbox's rev holds (any write on a day
        # before the writer's today bumps it; yesterday may still take a write from a clock
        # a little behind): kept from the last reservation, only the last two days are read.
        fixed = (rev, since, today)
        settled = (today - dt.timedelta(days=1)).isoformat()
        if self._fixed is not None and self._fixed[0] == fixed:
            days = [*self._fixed[1], *_day_rows(cur.execute(_DAYS, (box.id, max(since, settled))))]
        else:
            days = _day_rows(cur.execute(_DAYS, (box.id, since)))
            self._fixed = (fixed, [d for d in days if d[0].isoformat() < settled])
        window = ts(now + CLOCK_SKEW)
        last, horizon = cur.execute(_LAST_AND_NEXT, (box.id, window, box.id, window)).fetchone()
        if memo is None:
            ev = cur.execute(_ALL_EVENTS, (box.id,))
        else:
            applied = ts(day_start(memo.upto - dt.timedelta(days=1), tz))
            ev = cur.execute(_NEW_EVENTS, (box.id, applied, box.id, ts(now), box.id, applied))
        events = [(k, parse_ts(a), parse_ts(u), r) for _, k, a, u, r in ev]
        rows = GateRows(
            rev,
            cap,
            _date(started),
            memo,
            days,
            parse_ts(last),
            events,
            *self._per_message(cur, recipients, message_id, now, today),
        )
        return rows, parse_ts(horizon)

    def _per_message(
        self,
        cur: sqlite3.Cursor,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        today: dt.date,
    ) -> tuple[dict[str, str], dict[str, tuple[int, str]], int | None, dict[str, int] | None]:
        """What depends on this message: suppressed recipients and earlier slots for this
        Message-ID (one statement), the domain counts the policy caps."""
        box = self.box
        marks = ",".join("?" * len(recipients))
        bad: dict[str, str] = {}
        slots: dict[str, tuple[int, str]] = {}
        for which, rcpt, a, b in cur.execute(
            f"SELECT 0, address, kind, reason FROM suppression WHERE address IN ({marks}) "
            f"UNION ALL SELECT 1, recipient, id, outcome FROM send WHERE mailbox_id = ? "
            f"AND key IN ({marks})",
            (*recipients, box.id, *(f"{message_id}|{r}" for r in recipients)),
        ):
            if which:
                slots[rcpt] = (a, b)
            else:
                bad[rcpt] = f"{a}: {b}" if b else a
        return (bad, slots, *self._domains(cur, recipients, today))

    def _domains(
        self, cur: sqlite3.Cursor, recipients: Sequence[str], today: dt.date
    ) -> tuple[int | None, dict[str, int] | None]:
        """Today's sends of the mailbox's domain and per recipient domain, when the policy caps
        them."""
        box, p, tz = self.box, self.policy, self.box.timezone
        domain = None
        if p.domain_cap:
            domain = cur.execute(
                _DOMAIN_SENT, (f"%@{box.address.rsplit('@', 1)[1]}", ts(day_start(today, tz)))
            ).fetchone()[0]
        per_domain = None
        if p.recipient_caps:
            domains = recipient_domains(recipients)
            per_domain = dict(
                cur.execute(
                    f"SELECT d, count(*) FROM (SELECT lower(substr(recipient, "
                    f"instr(recipient, '@') + 1)) AS d FROM send WHERE mailbox_id = ? "
                    f"AND at >= ? AND outcome != 'released') WHERE d IN "
                    f"({','.join('?' * len(domains))}) GROUP BY d",
                    (box.id, ts(day_start(today, tz)), *domains),
                ).fetchall()
            )
        return domain, per_domain

    def _write(
        self,
        cur: sqlite3.Cursor,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        rows: GateRows,
        source: str,
        day: dt.date,
    ) -> list[int]:
        box = self.box
        _, aside = self._plan(recipients, message_id, rows.slots)
        at = ts(now)
        d = day.isoformat()
        if aside:  # a deferred (4xx) slot stays counted; the retry takes a new one
            cur.executemany(
                "UPDATE send SET key = key || '#' || id WHERE id = ?", [(sid,) for sid in aside]
            )
        ids = []
        for rcpt in recipients:
            sid, outcome = rows.slots.get(rcpt, (None, ""))
            if sid is not None and outcome == "released":
                cur.execute(
                    "UPDATE send SET outcome = 'reserved', at = ?, day = ?, "
                    "settled_at = NULL, source = ? WHERE id = ?",
                    (at, d, source, sid),
                )
                ids.append(int(sid))
                continue
            cur.execute(_INSERT, (box.id, rcpt, message_id, at, d, source, f"{message_id}|{rcpt}"))
            ids.append(int(cur.lastrowid or 0))
        cur.execute(_BUMP_SENT, (box.id, d, len(ids)))
        self._bumped_rev = day < self.ledger.real_today(box.timezone)
        if self._bumped_rev:  # a write on a past day (a test's clock)
            cur.execute("UPDATE mailbox SET rev = rev + 1 WHERE id = ?", (box.id,))
        return ids

    def settle(
        self,
        ids: dict[str, int],
        outcomes: dict[str, Outcome],
        message_id: str,
        throttle: EventIn | None,
        now: dt.datetime,
    ) -> None:
        self._seen = None  # written on another connection, but drop the kept rows regardless
        super().settle(ids, outcomes, message_id, throttle, now)

    def close(self) -> None:
        super().close()
        # The next reservation may check out the very connection another write just committed
        # on, and data_version does not count a connection's own commits: forget the kept rows.
        self._seen = self._fixed = None
        if self._conn is not None:
            self._conn.close()
            self._conn = self._raw = None
