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
  send) never need to.
- Only bounces that answer a send of their mailbox count (``bounce.counted``), and only the first
  of each send: a forged or misdirected notification is kept and listed, never counted, and a rate
  can never exceed 100% because of it (DESIGN invariant 8).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from warmup.errors import ConfigError, DataError
from warmup.ledger import migrations
from warmup.ledger.reports_sql import ReportQueries
from warmup.ledger.schema import (
    BOUNCE,
    BOUNCE_KINDS,
    COUNT_COLUMNS,
    DAY_STAT,
    EVENT,
    MAILBOX,
    POLICY,
    SEND,
    SUPPRESSION,
    SYNC_STATE,
    TIMELINE_CACHE,
    WALK_MEMO,
)
from warmup.ledger.timeline_cache import TimelineMemos
from warmup.policy.walk import DayCounts, History, MailboxEvent, WalkState

if TYPE_CHECKING:
    from warmup.ledger.gatepath import GatePolicy, GateSession

COUNTED = SEND.c.outcome != "released"
_STATEMENTS: dict[tuple[type, str, str], Any] = {}
MATCH_WINDOW = dt.timedelta(days=30)
# A clock a little ahead on another host may stamp a send slightly in the future; a row further
# ahead than this is never "the last send" (it would pace the mailbox until then).
CLOCK_SKEW = dt.timedelta(minutes=5)
_B = sa.bindparam


class MailboxNotFound(ConfigError):
    """No mailbox with this address (exit 78); :attr:`address` is the one asked for."""

    def __init__(self, address: str) -> None:
        super().__init__(
            f"mailbox {address!r} not found; add it with "
            f"'warmup mailbox add {address} --provider exmail'"
        )
        self.address = address


class DuplicateSend(DataError):
    """This Message-ID already went (or may have gone) to this recipient: :attr:`outcome` is the
    earlier slot's (``sent``, ``reserved`` still in flight, ``unknown``, ``block``, ``hard``)."""

    def __init__(self, recipient: str, message_id: str, outcome: str) -> None:
        why = {
            "sent": "was already sent to",
            "reserved": "is being sent right now to",
            "unknown": "may already have reached",
        }.get(outcome, f"was refused ({outcome}) by")
        super().__init__(
            f"message {message_id} {why} {recipient}; warmup never sends it twice: "
            f"a resend needs a new Message-ID"
        )
        self.recipient, self.message_id, self.outcome = recipient, message_id, outcome


@dataclass(frozen=True)
class MailboxRow:
    id: int
    address: str
    provider: str
    timezone: str
    policy: str
    cap: int | None
    started: dt.date | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_security: str | None
    imap_host: str | None
    imap_port: int | None
    imap_security: str | None
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["started"] = self.started.isoformat() if self.started else None
        out["created_at"] = self.created_at.isoformat()
        del out["id"]
        return out


_MAILBOX_COLUMNS = tuple(MAILBOX.c[f.name] for f in fields(MailboxRow))


@dataclass(frozen=True)
class BounceIn:
    """A bounce (or complaint) to record: who, what, when, and the key that makes it idempotent.

    ``send_id``: the send it answers when the caller knows it (an SMTP reply, an import row);
    otherwise the ledger matches it by ``message_id`` (the original's), else by recipient and
    time. ``trusted``: the caller vouches for it (a reply from our own SMTP session, a user's
    record or import): it suppresses the address even unmatched. A bounce read from a mailbox is
    not trusted: it suppresses only when it answers a send of this mailbox.
    """

    recipient: str
    kind: str
    at: dt.datetime
    key: str
    status: str | None = None
    reply: str | None = None
    diagnostic: str | None = None
    message_id: str | None = None
    source: str = "record"
    send_id: int | None = None
    trusted: bool = True


@dataclass(frozen=True)
class BounceResult:
    new: bool  # False: recorded before (same key)
    matched: bool
    counted: bool
    recipient: str = ""


@dataclass(frozen=True)
class SendIn:
    """A send made outside the gate (a record, an import row), with its bounce if it had one."""

    recipient: str
    at: dt.datetime
    message_id: str | None = None
    source: str = "record"
    bounce: BounceIn | None = None


@dataclass(frozen=True)
class EventIn:
    kind: str  # pause | resume | throttle
    at: dt.datetime
    reason: str = ""
    until: dt.datetime | None = None


@dataclass
class Recorded:
    """What a batch added: new sends, bounces (and of those matched and counted), events."""

    sends: int = 0
    bounces: int = 0
    matched: int = 0
    counted: int = 0
    events: int = 0
    mailboxes: int = 0
    results: list[BounceResult] = field(default_factory=list)

    def add(self, other: Recorded) -> None:
        for f in ("sends", "bounces", "matched", "counted", "events", "mailboxes"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.results.extend(other.results)


@dataclass(frozen=True)
class Snapshot:
    """A :class:`History` and the mailbox revision it was read at (for :meth:`Ledger.keep_memo`)."""

    history: History
    rev: int


def utc(ts: dt.datetime) -> dt.datetime:
    """An aware instant in UTC, the storage form (naive datetimes are refused)."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one")
    return ts.astimezone(dt.UTC)


@functools.cache
def zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local_day(ts: dt.datetime, tz: str) -> dt.date:
    """Local calendar day of an aware instant in zone ``tz``."""
    return ts.astimezone(zone(tz)).date()


def day_start(day: dt.date, tz: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)


def send_key(recipient: str, at: dt.datetime, message_id: str | None) -> str:
    return (
        f"{message_id}|{recipient}"
        if message_id
        else f"@{utc(at):%Y-%m-%dT%H:%M:%S.%f}|{recipient}"
    )


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Ledger(ReportQueries, TimelineMemos):
    """An open ledger. Use :func:`warmup.ledger.open_ledger`; never construct one directly.

    Operations, by topic (each documented where it is defined):

    - open and migrate: :meth:`migrate`, :meth:`pending_migrations`, :meth:`close`;
    - mailboxes: :meth:`add_mailbox`, :meth:`mailbox`, :meth:`mailboxes`, :meth:`update_mailbox`,
      :meth:`remove_mailbox`, :meth:`history_size`;
    - what happened: :meth:`record` (sends, bounces, events of one mailbox),
      :meth:`import_batch` (several mailboxes, registering new ones), :meth:`add_event`;
    - suppression: :meth:`suppress`, :meth:`suppressed`, :meth:`suppressions`,
      :meth:`unsuppress`;
    - the engine's inputs: :meth:`history`, :meth:`keep_memo`;
    - the gate: :meth:`gate` (reserve, settle, expire: one mailbox's per-message path);
    - bounce sync: :meth:`sync_position`, :meth:`record_synced`, :meth:`first_send_at`,
      :meth:`bounces`;
    - reports: :mod:`warmup.ledger.reports_sql`'s aggregates, :mod:`.timeline_cache`;
    - copy: :func:`warmup.ledger.copy.copy_ledger`.
    """

    scheme: ClassVar[str]

    def __init__(self, engine: Engine, url: str, where: str) -> None:
        self.engine = engine
        self.url = url
        self.where = where  # for messages: a path, or the URL without its password
        # Things the user should know about this ledger (e.g. a file readable by others): the
        # CLI prints them.
        self.warnings: list[str] = getattr(self, "warnings", [])
        # The wall clock, for the memo bookkeeping only (what a memo may cover must not depend on
        # an --at someone asked about); tests simulating weeks set it.
        self.clock: Callable[[], dt.datetime] = _wall_clock

    def real_today(self, tz: str) -> dt.date:
        """Today in zone ``tz`` by the wall clock: memos never cover it or yesterday."""
        return local_day(self.clock(), tz)

    # -- backend hooks -----------------------------------------------------------------------

    def _read_conn(self, conn: Connection) -> None:
        """Set up a connection for a read transaction (PostgreSQL: REPEATABLE READ)."""

    def _write_conn(self, conn: Connection) -> Connection:
        """Set up a connection whose transactions take the write lock at once."""
        return conn

    def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None:
        """Lock these mailboxes' rows until the transaction ends (SQLite: already locked)."""

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, with ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
        raise NotImplementedError

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

    def after_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """After :func:`warmup.ledger.copy.copy_ledger` wrote ``tables`` with their ids."""

    def _sql_day_number(self, column: Any) -> Any:
        """A DATE column as days since 1970-01-01, in the backend's SQL."""
        raise NotImplementedError

    def _sql_domain(self, column: Any) -> Any:
        """The part of an address after '@', lower-cased, in the backend's SQL."""
        raise NotImplementedError

    def _sql_utc_day(self, column: Any) -> Any:
        """The UTC calendar day of an instant column, in the backend's SQL."""
        raise NotImplementedError

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read transaction (one snapshot for the several statements of a question)."""
        with self._errors(), self.engine.connect() as conn:
            self._read_conn(conn)
            with conn.begin():
                yield conn

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
        with self._errors(), self.engine.connect() as new:
            self._write_conn(new)
            with new.begin():
                yield new

    def connect_for_writes(self) -> Connection:
        """A long-lived connection whose transactions take the write lock at once."""
        return self._write_conn(self.engine.connect())

    def close(self) -> None:
        self.engine.dispose()

    # -- schema ------------------------------------------------------------------------------

    def pending_migrations(self) -> list[str]:
        with self.read() as conn:
            return migrations.pending(conn, self._has_table)

    def migrate(self, upto: str | None = None) -> list[str]:
        """Apply pending migrations (through ``upto``); the names applied ([] if up to date)."""
        if not self.pending_migrations():
            return []
        with self.write() as conn:
            self._migration_lock(conn)
            applied = migrations.migrate(conn, self._has_table, upto)
        self.warnings.extend(migrations.NOTES)  # e.g. a policy file stored in the ledger
        migrations.NOTES.clear()
        return applied

    def _migration_lock(self, conn: Connection) -> None:
        """Serialise hosts migrating one ledger at once (SQLite: the write lock already does)."""

    # -- mailboxes ---------------------------------------------------------------------------

    def add_mailbox(
        self,
        address: str,
        provider: str,
        timezone: str,
        policy: str = "default",
        *,
        created_at: dt.datetime | None = None,
        conn: Connection | None = None,
        **settings: Any,
    ) -> MailboxRow:
        """Register a mailbox (in ``conn``'s transaction when given, e.g. an import's)."""
        if conn is None:
            with self.write() as c:
                return self.add_mailbox(
                    address, provider, timezone, policy, created_at=created_at, conn=c, **settings
                )
        if conn.execute(sa.select(MAILBOX.c.id).where(MAILBOX.c.address == address)).first():
            raise DataError(
                f"mailbox {address!r} exists already; change it with "
                f"'warmup mailbox set {address} ...'"
            )
        conn.execute(
            MAILBOX.insert().values(
                address=address,
                provider=provider,
                timezone=timezone,
                policy=policy,
                created_at=utc(created_at or dt.datetime.now(dt.UTC)),
                **settings,
            )
        )
        return self._mailbox(conn, address)

    def _mailbox(self, conn: Connection, address: str) -> MailboxRow:
        r = conn.execute(
            sa.select(*_MAILBOX_COLUMNS).where(MAILBOX.c.address == address.strip().lower())
        ).first()
        if r is None:
            raise MailboxNotFound(address)
        return MailboxRow(*r)

    def mailbox(self, address: str) -> MailboxRow:
        """The mailbox, or :class:`MailboxNotFound` saying how to add it."""
        with self.read() as conn:
            return self._mailbox(conn, address)

    def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, by address."""
        with self.read() as conn:
            return [
                MailboxRow(*r)
                for r in conn.execute(sa.select(*_MAILBOX_COLUMNS).order_by(MAILBOX.c.address))
            ]

    def update_mailbox(self, address: str, **values: Any) -> MailboxRow:
        """Change settings; a new time zone re-derives the local days of the mailbox's history.

        Any change may change the walk, so the mailbox's memos stop being valid.
        """
        with self.write() as conn:
            box = self._mailbox(conn, address)
            self._lock_mailboxes(conn, [box.id])
            conn.execute(
                MAILBOX.update()
                .where(MAILBOX.c.id == box.id)
                .values(rev=MAILBOX.c.rev + 1, **values)
            )
            if "timezone" in values and values["timezone"] != box.timezone:
                for table in (SEND, BOUNCE):
                    rows = conn.execute(
                        sa.select(table.c.id, table.c.at).where(table.c.mailbox_id == box.id)
                    ).all()
                    if rows:
                        conn.execute(
                            table.update().where(table.c.id == _B("rid")).values(day=_B("newday")),
                            [
                                {"rid": r.id, "newday": local_day(r.at, values["timezone"])}
                                for r in rows
                            ],
                        )
                self._rebuild_rollup(conn, [box.id])
            return self._mailbox(conn, address)

    def history_size(self, box: MailboxRow) -> int:
        """How many sends and bounces the mailbox's history holds."""
        with self.read() as conn:
            return sum(
                conn.execute(
                    sa.select(sa.func.count()).select_from(t).where(t.c.mailbox_id == box.id)
                ).scalar_one()
                for t in (SEND, BOUNCE)
            )

    def remove_mailbox(self, address: str) -> None:
        """Delete the mailbox and its history (suppressions stay: they protect every mailbox)."""
        with self.write() as conn:
            box = self._mailbox(conn, address)
            self._lock_mailboxes(conn, [box.id])
            for table in (BOUNCE, SEND, EVENT, DAY_STAT, SYNC_STATE, WALK_MEMO, TIMELINE_CACHE):
                conn.execute(table.delete().where(table.c.mailbox_id == box.id))
            conn.execute(MAILBOX.delete().where(MAILBOX.c.id == box.id))

    # -- policies ----------------------------------------------------------------------------

    def policies(self) -> list[dict[str, Any]]:
        """Stored policies, newest version of each: name, version, source, created_at, and the
        addresses of the mailboxes that use it."""
        p, m = POLICY.c, MAILBOX.c
        newest = sa.select(p.name, sa.func.max(p.version).label("v")).group_by(p.name).subquery()
        with self.read() as conn:
            rows = conn.execute(
                sa.select(p.name, p.version, p.source, p.created_at)
                .join(newest, sa.and_(newest.c.name == p.name, newest.c.v == p.version))
                .order_by(p.name)
            ).all()
            users: dict[str, list[str]] = {}
            for name, address in conn.execute(sa.select(m.policy, m.address).order_by(m.address)):
                users.setdefault(name, []).append(address)
        return [
            {
                "name": r.name,
                "version": r.version,
                "source": r.source,
                "created_at": r.created_at.isoformat(),
                "mailboxes": users.get(r.name, []),
            }
            for r in rows
        ]

    def policy_text(self, name: str) -> tuple[int, str] | None:
        """``(version, TOML text)`` of the newest version of a stored policy, or None."""
        p = POLICY.c
        with self.read() as conn:
            row = conn.execute(
                sa.select(p.version, p.text)
                .where(p.name == name)
                .order_by(p.version.desc())
                .limit(1)
            ).first()
        return (row.version, row.text) if row else None

    def store_policy(
        self,
        name: str,
        text: str,
        source: str | None,
        *,
        replace: bool,
        at: dt.datetime | None = None,
    ) -> int:
        """Store a policy's TOML text under ``name`` (checked by the caller); its version.

        ``replace``: a new version of an existing policy (each mailbox using it gets a ``policy``
        event at ``at``, so reports show when it changed); otherwise a new name, refused if taken.
        """
        when = utc(at or dt.datetime.now(dt.UTC))
        with self.write() as conn:
            users = [
                MailboxRow(*r)
                for r in conn.execute(sa.select(*_MAILBOX_COLUMNS).where(MAILBOX.c.policy == name))
            ]
            self._lock_mailboxes(conn, [b.id for b in users])
            current = conn.execute(
                sa.select(sa.func.max(POLICY.c.version)).where(POLICY.c.name == name)
            ).scalar()
            if current is not None and not replace:
                raise DataError(
                    f"policy {name!r} exists already; change it with "
                    f"'warmup policy set {name} FILE'"
                )
            if current is None and replace:
                raise ConfigError(
                    f"policy {name!r} not found; add it with 'warmup policy add {name} FILE'"
                )
            version = (current or 0) + 1
            conn.execute(
                POLICY.insert().values(
                    name=name, version=version, text=text, source=source, created_at=when
                )
            )
            for box in users:  # the walk's inputs changed: memos go, reports show the event
                conn.execute(
                    MAILBOX.update().where(MAILBOX.c.id == box.id).values(rev=MAILBOX.c.rev + 1)
                )
                self._event(
                    conn,
                    box,
                    EventIn("policy", when, f"policy {name} version {version}"),
                    once=False,
                )
        return version

    # -- what happened -----------------------------------------------------------------------

    def record(
        self,
        box: MailboxRow,
        sends: Sequence[SendIn] = (),
        bounces: Sequence[BounceIn] = (),
        events: Sequence[EventIn] = (),
    ) -> Recorded:
        """Record sends made elsewhere, bounces and events of ``box`` in one transaction.

        Idempotent: a send is keyed on Message-ID + recipient (else instant + recipient), a
        bounce on its ``key``, an event on (kind, instant); recording again adds nothing.
        """
        with self.write() as conn:
            self._lock_mailboxes(conn, [box.id])
            return self._record(conn, box, sends, bounces, events)

    def add_event(
        self,
        box: MailboxRow,
        kind: str,
        at: dt.datetime,
        reason: str = "",
        until: dt.datetime | None = None,
    ) -> None:
        """A pause, resume or provider back-off of ``box`` at ``at``."""
        with self.write() as conn:
            self._lock_mailboxes(conn, [box.id])
            self._event(conn, box, EventIn(kind, at, reason, until), once=False)

    def _record(
        self,
        conn: Connection,
        box: MailboxRow,
        sends: Sequence[SendIn],
        bounces: Sequence[BounceIn],
        events: Sequence[EventIn],
    ) -> Recorded:
        out = Recorded()
        if sends:
            out.sends, ids = self._sends(conn, box, sends)
            for s in sends:
                if s.bounce is not None:
                    key = send_key(s.recipient, s.at, s.message_id)
                    sid = ids.get(key) or self._send_id(conn, box, key)
                    out.add(self._bounce_result(self._bounce(conn, box, s.bounce, sid)))
        for b in bounces:
            out.add(self._bounce_result(self._bounce(conn, box, b)))
        for e in events:
            out.events += self._event(conn, box, e, once=True)
        return out

    def _sends(
        self, conn: Connection, box: MailboxRow, sends: Sequence[SendIn]
    ) -> tuple[int, dict[str, int]]:
        """Insert sends made elsewhere in one statement (idempotent on their keys) and count
        them in the rollup: how many were new, and their ids by key."""
        params = []
        for s in sends:
            at = utc(s.at)
            params.append(
                {
                    "mid": box.id,
                    "recipient": s.recipient,
                    "message_id": s.message_id,
                    "at": at,
                    "day": local_day(at, box.timezone),
                    "outcome": "sent",
                    "source": s.source,
                    "key": send_key(s.recipient, at, s.message_id),
                    "settled_at": at,
                }
            )
        new = conn.execute(self._statement("sends"), params).all()
        per_day: dict[dt.date, int] = {}
        for _, _, day in new:
            per_day[day] = per_day.get(day, 0) + 1
        for day, n in per_day.items():
            self._bump(conn, box, day, "sent", n)
        return len(new), {key: sid for sid, key, _ in new}

    @staticmethod
    def _bounce_result(r: BounceResult) -> Recorded:
        return Recorded(
            bounces=int(r.new),
            matched=int(r.new and r.matched),
            counted=int(r.counted),
            results=[r],
        )

    def _touch(self, conn: Connection, box: MailboxRow, day: dt.date) -> None:
        """A write landed on ``day``: if that is before today, memos of ``box`` may be stale.

        Once per mailbox and transaction (an import writes thousands of past rows)."""
        if day >= self.real_today(box.timezone):
            return
        txn = conn.get_transaction()
        seen: tuple[object, set[int]] | None = conn.info.get("warmup.touched")
        if seen is None or seen[0] is not txn:
            seen = conn.info["warmup.touched"] = (txn, set())
        if box.id not in seen[1]:
            seen[1].add(box.id)
            conn.execute(
                MAILBOX.update().where(MAILBOX.c.id == box.id).values(rev=MAILBOX.c.rev + 1)
            )

    def _bump(
        self, conn: Connection, box: MailboxRow, day: dt.date, column: str, by: int = 1
    ) -> None:
        """Add ``by`` to one count of the day's rollup row (created if missing)."""
        conn.execute(self._statement("bump", column), {"mid": box.id, "day": day, "by": by})
        self._touch(conn, box, day)

    def _statement(self, name: str, arg: str = "") -> Any:
        """A write statement with bind parameters, built once per backend (building one costs
        more than running it: an import runs them for every row)."""
        key = (type(self), name, arg)
        stmt = _STATEMENTS.get(key)
        if stmt is None:
            stmt = _STATEMENTS[key] = getattr(self, f"_build_{name}")(arg)
        return stmt

    def _build_bump(self, column: str) -> Any:
        ins = self._insert(DAY_STAT).values(
            mailbox_id=_B("mid"),
            day=_B("day"),
            **{c: (_B("by") if c == column else 0) for c in COUNT_COLUMNS},
        )
        return ins.on_conflict_do_update(
            index_elements=["mailbox_id", "day"],
            set_={column: DAY_STAT.c[column] + ins.excluded[column]},
        )

    def _build_send(self, _: str) -> Any:
        return (
            self._insert(SEND)
            .values(
                mailbox_id=_B("mid"),
                recipient=_B("recipient"),
                message_id=_B("message_id"),
                at=_B("at"),
                day=_B("day"),
                outcome=_B("outcome"),
                source=_B("source"),
                key=_B("key"),
                settled_at=_B("settled_at"),
            )
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
            .returning(SEND.c.id)
        )

    def _build_sends(self, _: str) -> Any:
        # RETURNING with a list of parameters: SQLAlchemy's "insertmanyvalues" sends them as
        # multi-row INSERTs, a few statements for a whole batch of an import.
        return (
            self._insert(SEND)
            .values(
                mailbox_id=_B("mid"),
                recipient=_B("recipient"),
                message_id=_B("message_id"),
                at=_B("at"),
                day=_B("day"),
                outcome=_B("outcome"),
                source=_B("source"),
                key=_B("key"),
                settled_at=_B("settled_at"),
            )
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
            .returning(SEND.c.id, SEND.c.key, SEND.c.day)
        )

    def _build_bounce(self, _: str) -> Any:
        return (
            self._insert(BOUNCE)
            .values(
                **{
                    c: _B(c)
                    for c in (
                        "mailbox_id",
                        "send_id",
                        "recipient",
                        "kind",
                        "status",
                        "reply",
                        "diagnostic",
                        "message_id",
                        "at",
                        "day",
                        "source",
                        "key",
                        "counted",
                    )
                },
            )
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
            .returning(BOUNCE.c.id)
        )

    def _send(
        self,
        conn: Connection,
        box: MailboxRow,
        recipient: str,
        at: dt.datetime,
        message_id: str | None,
        source: str,
        outcome: str = "sent",
    ) -> int | None:
        """Insert one send (idempotent on its key); its id, or None if it was recorded before."""
        day = local_day(at, box.timezone)
        new_id = conn.execute(
            self._statement("send"),
            {
                "mid": box.id,
                "recipient": recipient,
                "message_id": message_id,
                "at": utc(at),
                "day": day,
                "outcome": outcome,
                "source": source,
                "key": send_key(recipient, at, message_id),
                "settled_at": None if outcome == "reserved" else utc(at),
            },
        ).scalar()
        if new_id is not None and outcome != "released":
            self._bump(conn, box, day, "sent")
        return new_id

    def _send_id(self, conn: Connection, box: MailboxRow, key: str) -> int | None:
        return conn.execute(
            sa.select(SEND.c.id).where(SEND.c.mailbox_id == box.id, SEND.c.key == key)
        ).scalar()

    def _bounce(
        self, conn: Connection, box: MailboxRow, b: BounceIn, send_id: int | None = None
    ) -> BounceResult:
        """Insert one bounce (idempotent on its key); count it if it answers a send of ``box``
        no other counted bounce answers; suppress a hard bounce's or complaint's address."""
        if b.kind not in BOUNCE_KINDS:
            raise DataError(f"bounce kind {b.kind!r}: expected one of {', '.join(BOUNCE_KINDS)}")
        sid = send_id if send_id is not None else b.send_id
        at = b.at
        if sid is None:
            sid, sent_at = self._match(conn, box, b.recipient, b.message_id, b.at)
            if sent_at is not None and sent_at > at:
                at = sent_at  # a bounce never comes before the send it answers

        same = (
            BOUNCE.c.kind == "complaint" if b.kind == "complaint" else BOUNCE.c.kind != "complaint"
        )
        counted = (
            sid is not None
            and conn.execute(
                sa.select(BOUNCE.c.id)
                .where(BOUNCE.c.send_id == sid, BOUNCE.c.counted, same)
                .limit(1)
            ).first()
            is None
        )
        day = local_day(at, box.timezone)
        new_id = conn.execute(
            self._statement("bounce"),
            {
                "mailbox_id": box.id,
                "send_id": sid,
                "recipient": b.recipient,
                "kind": b.kind,
                "status": b.status,
                "reply": b.reply,
                "diagnostic": b.diagnostic,
                "message_id": b.message_id,
                "at": utc(at),
                "day": day,
                "source": b.source,
                "key": b.key,
                "counted": counted,
            },
        ).scalar()
        if new_id is None:
            return BounceResult(False, sid is not None, False, b.recipient)
        if counted:
            self._bump(conn, box, day, b.kind)
        if b.kind in ("hard", "complaint") and b.recipient and (sid is not None or b.trusted):
            self._suppress(
                conn, b.recipient, b.kind, f"{b.kind} bounce {b.status or ''}".strip(), box.id, at
            )
        return BounceResult(True, sid is not None, counted, b.recipient)

    def _match(
        self,
        conn: Connection,
        box: MailboxRow,
        recipient: str,
        message_id: str | None,
        at: dt.datetime,
    ) -> tuple[int | None, dt.datetime | None]:
        """(id, time) of the send of ``box`` a bounce answers: by original Message-ID (and
        recipient), else the latest send to the recipient within :data:`MATCH_WINDOW` before
        ``at``; (None, None) if none. A released slot never left: nothing answers it. A bounce
        that names no recipient answers nothing, even when it quotes a send's Message-ID: it
        says nothing about that send's recipient."""
        if not recipient:
            return None, None
        base = sa.select(SEND.c.id, SEND.c.at).where(SEND.c.mailbox_id == box.id, COUNTED)
        if message_id:
            found = conn.execute(
                base.where(SEND.c.message_id == message_id, SEND.c.recipient == recipient).limit(1)
            ).first()
            if found is not None:
                return found.id, found.at
        row = conn.execute(
            base.where(
                SEND.c.recipient == recipient,
                SEND.c.at <= utc(at),
                SEND.c.at >= utc(at - MATCH_WINDOW),
            )
            .order_by(SEND.c.at.desc())
            .limit(1)
        ).first()
        return (row.id, row.at) if row else (None, None)

    def _event(self, conn: Connection, box: MailboxRow, e: EventIn, once: bool) -> bool:
        """Insert an event (unless ``once`` and the mailbox has one of this kind at this
        instant: imports are idempotent)."""
        if (
            once
            and conn.execute(
                sa.select(EVENT.c.id).where(
                    EVENT.c.mailbox_id == box.id, EVENT.c.kind == e.kind, EVENT.c.at == utc(e.at)
                )
            ).first()
        ):
            return False
        conn.execute(
            EVENT.insert().values(
                mailbox_id=box.id,
                kind=e.kind,
                at=utc(e.at),
                reason=e.reason,
                until=utc(e.until) if e.until else None,
            )
        )
        self._touch(conn, box, local_day(e.at, box.timezone))
        return True

    def import_batch(
        self, rows: Sequence[tuple[str, SendIn | EventIn]], register: dict[str, dict[str, Any]]
    ) -> Recorded:
        """One short transaction of an import: ``(mailbox address, send or event)`` rows, and
        the mailboxes to register first (address -> :meth:`add_mailbox` arguments) if the ledger
        does not know them yet."""
        out = Recorded()
        with self.write() as conn:
            boxes: dict[str, MailboxRow] = {}
            for address in dict.fromkeys(a for a, _ in rows):
                try:
                    boxes[address] = self._mailbox(conn, address)
                except MailboxNotFound:
                    if address not in register:
                        raise
                    boxes[address] = self.add_mailbox(address, conn=conn, **register[address])
                    out.mailboxes += 1
            self._lock_mailboxes(conn, sorted(b.id for b in boxes.values()))
            sends: dict[str, list[SendIn]] = {a: [] for a in boxes}
            events: dict[str, list[EventIn]] = {a: [] for a in boxes}
            for address, row in rows:
                (events if isinstance(row, EventIn) else sends)[address].append(row)  # type: ignore[arg-type]
            for address, box in boxes.items():
                out.add(self._record(conn, box, sends[address], (), events[address]))
        out.results.clear()
        return out

    def _rebuild_rollup(self, conn: Connection, ids: Sequence[int]) -> None:
        """Recompute ``day_stat`` of these mailboxes from the raw rows."""
        conn.execute(DAY_STAT.delete().where(DAY_STAT.c.mailbox_id.in_(ids)))
        rows: dict[tuple[int, dt.date], dict[str, int]] = {}
        for m, d, n in conn.execute(
            sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count())
            .where(SEND.c.mailbox_id.in_(ids), COUNTED)
            .group_by(SEND.c.mailbox_id, SEND.c.day)
        ):
            rows[(m, d)] = {"sent": n}
        for m, d, kind, n in conn.execute(
            sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, sa.func.count())
            .where(BOUNCE.c.mailbox_id.in_(ids), BOUNCE.c.counted)
            .group_by(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
        ):
            rows.setdefault((m, d), {})[kind] = n
        if rows:
            conn.execute(
                DAY_STAT.insert(),
                [
                    {"mailbox_id": m, "day": d, **{c: v.get(c, 0) for c in COUNT_COLUMNS}}
                    for (m, d), v in rows.items()
                ],
            )
        conn.execute(MAILBOX.update().where(MAILBOX.c.id.in_(ids)).values(rev=MAILBOX.c.rev + 1))

    # -- suppression -------------------------------------------------------------------------

    def _suppress(
        self,
        conn: Connection,
        address: str,
        kind: str,
        reason: str,
        mailbox_id: int | None,
        at: dt.datetime,
    ) -> bool:
        # Not rowcount: on PostgreSQL "ON CONFLICT DO NOTHING RETURNING" counts differently.
        return (
            conn.execute(
                self._insert(SUPPRESSION)
                .values(
                    address=address,
                    kind=kind,
                    reason=reason,
                    mailbox_id=mailbox_id,
                    created_at=utc(at),
                )
                .on_conflict_do_nothing(index_elements=["address"])
                .returning(SUPPRESSION.c.id)
            ).scalar()
            is not None
        )

    def suppress(
        self, addresses: Iterable[str], kind: str, reason: str, at: dt.datetime | None = None
    ) -> int:
        """Suppress addresses (never mailed again by any mailbox); how many were new."""
        when = at or dt.datetime.now(dt.UTC)
        with self.write() as conn:
            return sum(self._suppress(conn, a, kind, reason, None, when) for a in addresses)

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """Which of ``addresses`` are suppressed, with why."""
        addrs = list(addresses)
        if not addrs:
            return {}
        with self.read() as conn:
            rows = conn.execute(
                sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind, SUPPRESSION.c.reason).where(
                    SUPPRESSION.c.address.in_(addrs)
                )
            )
            return {a: f"{k}: {r}" if r else k for a, k, r in rows}

    def suppressions(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            return [
                {**r._asdict(), "created_at": r.created_at.isoformat()}
                for r in conn.execute(
                    sa.select(
                        SUPPRESSION.c.address,
                        SUPPRESSION.c.kind,
                        SUPPRESSION.c.reason,
                        SUPPRESSION.c.created_at,
                    ).order_by(SUPPRESSION.c.address)
                )
            ]

    def unsuppress(self, address: str) -> bool:
        with self.write() as conn:
            return bool(
                conn.execute(SUPPRESSION.delete().where(SUPPRESSION.c.address == address)).rowcount
            )

    # -- the engine's inputs -----------------------------------------------------------------

    def history(
        self,
        box: MailboxRow,
        as_of: dt.datetime,
        *,
        provider_ceiling: int | None = None,
        provider_min_interval: float = 0.0,
        domain_cap: bool = False,
        memo: tuple[str, int] | None = None,
        recipient_caps: bool = False,
    ) -> Snapshot:
        """Everything the policy engine needs about ``box`` as of ``as_of`` (aware): history
        before ``as_of`` only, so ``--at`` can cut a day at any instant.

        ``recipient_caps``: the policy caps recipient domains: count today's sends per domain.
        ``memo``: ``(inputs digest, lookback days)`` of the policy asking
        (:func:`warmup.policy.walk.inputs_digest`, :func:`~warmup.policy.walk.lookback`): a
        valid walk memo is then used and only the days and events after it are read.
        """
        tz = box.timezone
        today = local_day(as_of, tz)
        start, cut = day_start(today, tz), utc(as_of)
        with self.read() as conn:
            rev = conn.execute(sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == box.id)).scalar()
            if rev is None:
                raise MailboxNotFound(box.address)
            state = self._valid_memo(conn, box.id, rev, today, memo)
            since = (
                None if state is None else state.upto - dt.timedelta(days=memo[1] if memo else 0)
            )
            d = DAY_STAT.c
            stmt = (
                sa.select(d.day, *(d[c] for c in COUNT_COLUMNS))
                .where(d.mailbox_id == box.id, d.day < today)
                .order_by(d.day)
            )
            if since is not None:
                stmt = stmt.where(d.day >= since)
            days = [DayCounts(*r) for r in conn.execute(stmt)]
            sent_today, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(SEND.c.at)).where(
                    SEND.c.mailbox_id == box.id, SEND.c.at >= start, SEND.c.at <= cut, COUNTED
                )
            ).one()
            if not sent_today:  # the last send may be on an earlier day
                last = conn.execute(
                    sa.select(sa.func.max(SEND.c.at)).where(
                        SEND.c.mailbox_id == box.id, SEND.c.at <= cut, COUNTED
                    )
                ).scalar()
            kinds: dict[str, int] = dict(
                conn.execute(
                    sa.select(BOUNCE.c.kind, sa.func.count())
                    .where(
                        BOUNCE.c.mailbox_id == box.id,
                        BOUNCE.c.day == today,
                        BOUNCE.c.at <= cut,
                        BOUNCE.c.counted,
                    )
                    .group_by(BOUNCE.c.kind)
                ).all()
            )
            events = self._events(conn, box, state, cut, cut)
            domain_sent = self._domain_sent(conn, box, start, cut) if domain_cap else None
            domain = self._sql_domain(SEND.c.recipient)
            per_domain = {
                d: n
                for d, n in conn.execute(
                    sa.select(domain, sa.func.count())
                    .where(
                        SEND.c.mailbox_id == box.id, SEND.c.at >= start, SEND.c.at <= cut, COUNTED
                    )
                    .group_by(domain)
                )
            }
        if sent_today or kinds:
            days.append(DayCounts(today, sent_today, **{k: kinds.get(k, 0) for k in BOUNCE_KINDS}))
        hist = History(
            mailbox=box.address,
            timezone=tz,
            days=tuple(days),
            events=events,
            last_send_at=last,
            cap=box.cap,
            provider_ceiling=provider_ceiling,
            provider_min_interval=provider_min_interval,
            started=box.started,
            domain_sent_today=domain_sent,
            memo=state,
            recipient_domains_today=per_domain,
        )
        return Snapshot(hist, rev)

    def _valid_memo(
        self,
        conn: Connection,
        mailbox_id: int,
        rev: int,
        today: dt.date,
        memo: tuple[str, int] | None,
    ) -> WalkState | None:
        if memo is None:
            return None
        row = conn.execute(
            sa.select(
                WALK_MEMO.c.upto, WALK_MEMO.c.rev, WALK_MEMO.c.inputs, WALK_MEMO.c.state
            ).where(WALK_MEMO.c.mailbox_id == mailbox_id)
        ).first()
        if row is None or row.rev != rev or row.inputs != memo[0] or row.upto > today:
            return None
        return WalkState.from_json(row.state)

    def _events(
        self,
        conn: Connection,
        box: MailboxRow,
        memo: WalkState | None,
        cut: dt.datetime,
        now: dt.datetime,
    ) -> tuple[MailboxEvent, ...]:
        """Events up to ``cut``: all of them, or with a memo those the walk has not applied (after
        the start of the day before its day) and those still in force at ``now`` (the last pause
        or resume, back-offs not over)."""
        e = EVENT.c
        stmt = sa.select(e.kind, e.at, e.until, e.reason).where(e.mailbox_id == box.id, e.at <= cut)
        if memo is not None:
            applied = day_start(memo.upto - dt.timedelta(days=1), box.timezone)
            last_manual = (
                sa.select(e.id)
                .where(e.mailbox_id == box.id, e.kind.in_(("pause", "resume")), e.at <= applied)
                .order_by(e.at.desc(), e.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            stmt = stmt.where(
                sa.or_(
                    e.at > applied,
                    sa.and_(e.kind == "throttle", e.until > now),
                    e.id == last_manual,
                )
            )
        return tuple(
            MailboxEvent(k, a, u, r or "") for k, a, u, r in conn.execute(stmt.order_by(e.at, e.id))
        )

    def _domain_sent(
        self, conn: Connection, box: MailboxRow, start: dt.datetime, cut: dt.datetime | None
    ) -> int:
        """Sends of every mailbox of ``box``'s domain since ``start`` (the policy's domain cap)."""
        domain = box.address.rsplit("@", 1)[1]
        ids = sa.select(MAILBOX.c.id).where(MAILBOX.c.address.like(f"%@{domain}"))
        stmt = sa.select(sa.func.count()).where(
            SEND.c.mailbox_id.in_(ids), SEND.c.at >= start, COUNTED
        )
        if cut is not None:
            stmt = stmt.where(SEND.c.at <= cut)
        return int(conn.execute(stmt).scalar_one())

    def keep_memo(self, box: MailboxRow, state: WalkState | None, inputs: str, rev: int) -> bool:
        """Keep ``state`` (from :attr:`warmup.policy.Allowance.memo`, computed at revision
        ``rev`` for ``inputs``) as the mailbox's walk memo, if it may cover its days (before
        yesterday by this host's clock) and is newer than the one kept; True if stored."""
        if state is None or state.upto >= self.real_today(box.timezone):
            return False
        with self.write() as conn:
            return self._keep_memo(conn, box.id, state, inputs, rev)

    def _keep_memo(
        self, conn: Connection, mailbox_id: int, state: WalkState, inputs: str, rev: int
    ) -> bool:
        m = WALK_MEMO
        current = sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == mailbox_id).scalar_subquery()
        ins = self._insert(m).from_select(
            ["mailbox_id", "upto", "rev", "inputs", "state"],
            sa.select(
                sa.literal(mailbox_id),
                sa.literal(state.upto, sa.Date),
                sa.literal(rev),
                sa.literal(inputs),
                sa.literal(state.to_json()),
            ).where(current == rev),
        )
        ins = ins.on_conflict_do_update(
            index_elements=["mailbox_id"],
            set_={c: ins.excluded[c] for c in ("upto", "rev", "inputs", "state")},
            where=sa.or_(
                m.c.rev != ins.excluded.rev,
                m.c.inputs != ins.excluded.inputs,
                m.c.upto < ins.excluded.upto,
            ),
        )
        return bool(conn.execute(ins).rowcount)

    # -- bounce sync -------------------------------------------------------------------------

    def first_send_at(self, box: MailboxRow) -> dt.datetime | None:
        with self.read() as conn:
            return conn.execute(
                sa.select(sa.func.min(SEND.c.at)).where(SEND.c.mailbox_id == box.id)
            ).scalar()

    def sync_position(self, box: MailboxRow, folder: str) -> tuple[int, int] | None:
        """``(UIDVALIDITY, last UID)`` bounce sync stopped at in ``folder``, if it ever ran."""
        with self.read() as conn:
            row = conn.execute(
                sa.select(SYNC_STATE.c.uidvalidity, SYNC_STATE.c.last_uid).where(
                    SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder
                )
            ).first()
        return (int(row.uidvalidity), int(row.last_uid)) if row else None

    def record_synced(
        self,
        box: MailboxRow,
        folder: str,
        uidvalidity: int,
        last_uid: int,
        bounces: Sequence[BounceIn] = (),
    ) -> Recorded:
        """Record a batch of bounces read from ``folder`` and the position reached, in one short
        transaction (a resumed sync goes on from there and records nothing twice)."""
        with self.write() as conn:
            self._lock_mailboxes(conn, [box.id])
            out = self._record(conn, box, (), bounces, ())
            where = (SYNC_STATE.c.mailbox_id == box.id, SYNC_STATE.c.folder == folder)
            if (
                conn.execute(
                    SYNC_STATE.update()
                    .where(*where)
                    .values(uidvalidity=uidvalidity, last_uid=last_uid)
                ).rowcount
                == 0
            ):
                conn.execute(
                    SYNC_STATE.insert().values(
                        mailbox_id=box.id, folder=folder, uidvalidity=uidvalidity, last_uid=last_uid
                    )
                )
        return out

    def bounces(
        self, mailbox: MailboxRow | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Recorded bounces, newest first: ``matched`` (answers a send of the mailbox) and
        ``counted`` (in its rates)."""
        b = BOUNCE.c
        stmt = (
            sa.select(
                MAILBOX.c.address.label("mailbox"),
                b.recipient,
                b.kind,
                b.status,
                b.reply,
                b.at,
                b.source,
                b.message_id,
                b.send_id,
                b.diagnostic,
                b.counted,
            )
            .join(MAILBOX, MAILBOX.c.id == b.mailbox_id)
            .order_by(b.at.desc(), b.id.desc())
            .limit(limit)
        )
        if mailbox is not None:
            stmt = stmt.where(b.mailbox_id == mailbox.id)
        if kind:
            stmt = stmt.where(b.kind == kind)
        with self.read() as conn:
            return [
                {
                    **r._asdict(),
                    "counted": bool(r.counted),
                    "at": r.at.isoformat(),
                    "matched": r.send_id is not None,
                }
                for r in conn.execute(stmt)
            ]
