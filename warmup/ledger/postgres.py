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
- **Migrations** run under a transaction-scoped advisory lock: hosts upgrading at once apply
  each migration once.

The gate's path (:class:`PostgresGate`) runs on the psycopg connection in two pipelined round
trips (statements sent together, run in order, answered together; on a loopback server the round
trips are the cost): (1) ``BEGIN``, the mailbox's row lock, the deferred settlements, and one
statement reading the walk memo, the rollup's days since the memo's window, the last send, the
events not in the memo, the suppressed recipients and this Message-ID's slots; then the policy
decides in Python while the lock is held; (2) the expiry (once a minute), the insert and the
rollup's bump (one statement: data-modifying CTEs), the memo, ``COMMIT``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from warmup.errors import ConfigError, PermissionFailure, Unavailable, WarmupError
from warmup.ledger.core import Ledger
from warmup.ledger.gatepath import Decide, GatePolicy, GateRows, GateSession
from warmup.ledger.imports import SendRow
from warmup.ledger.schema import METADATA
from warmup.ledger.values import (
    CLOCK_SKEW,
    Claim,
    ClaimLost,
    MailboxNotFound,
    MailboxRow,
    local_day,
)
from warmup.policy.walk import WalkState, day_start

MIGRATION_LOCK = 7261001  # pg_advisory_xact_lock key: "warmup migrations"
# pg_advisory_xact_lock(int4, int4)'s first key for :meth:`PostgresLedger._lock_name` (the second
# is a hash of the name); PostgreSQL keeps the two-key locks apart from the one-key ones.
NAME_LOCKS = 7261002


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    from warmup.ledger import mask_url

    try:  # SQLAlchemy hides the user info's password; a query's ?password= is masked too
        return mask_url(sa.engine.make_url(url).render_as_string(hide_password=True))
    except sa.exc.ArgumentError:
        return "<invalid URL>"


class PostgresLedger(Ledger):
    scheme = "postgresql"

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
        # pool_pre_ping: a pooled connection is tested (one round trip) before a transaction
        # reuses it, so a long-lived process (``warmup run``) whose connections the server
        # dropped while it idled (a restart, a fail-over) reconnects instead of failing. The
        # gate's reservations keep their own connection and pay nothing for it.
        engine = sa.create_engine(url, pool_pre_ping=True)
        super().__init__(engine, url, safe_url(url))

    def _read_conn(self, conn: Connection) -> None:
        conn.execution_options(isolation_level="REPEATABLE READ")

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
        # Transaction-scoped, like the migrations' lock; two names sharing a 32-bit hash merely
        # take turns.
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big")
        lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        conn.execute(
            sa.text(f"SELECT {lock}(:ns, :key)"),
            {"ns": NAME_LOCKS, "key": key - 2**31},
        )

    def _migration_lock(self, conn: Connection) -> None:
        # Transaction-scoped: released at commit or when the client dies.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")

    def _insert(self, table: sa.Table) -> Any:
        return pg_insert(table)

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

    @contextmanager
    def _errors(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except (sa.exc.DBAPIError, psycopg.Error) as exc:
            orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig else exc
            refused = _refusal(orig, self.where)
            if refused is not None:
                raise refused from None
            if isinstance(exc, sa.exc.OperationalError | psycopg.OperationalError):
                # psycopg's own: the gate's transactions
                raise _storage_error(orig, self.where) from None
            # libpq's refusal of the URL's own options (?bogus=1, ?connect_timeout=abc) comes as a
            # ProgrammingError before any statement; any other error is a bug, raised as it is
            if isinstance(exc, sa.exc.ProgrammingError) and _BAD_OPTION.search(str(orig)):
                raise _storage_error(orig, self.where) from None
            raise

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
        """``COPY ... FROM STDIN`` on the transaction's own psycopg connection: measured on a
        100k-send ledger, a fifth of the time of batched INSERTs."""
        quote = conn.dialect.identifier_preparer.quote
        columns = ", ".join(quote(c.name) for c in table.columns)
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as cp,
        ):
            for row in rows:
                cp.write_row(row)

    def after_copy(self, conn: Connection, tables: Sequence[sa.Table]) -> None:
        """Move each serial id's sequence past the copied ids (or the next insert collides)."""
        for table in tables:
            if "id" not in table.c or not table.c.id.primary_key:
                continue
            # is_called=false on an empty table: the next id is 1, not 2.
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE(max(id), 1), max(id) IS NOT NULL) FROM {table.name}"
            )


# What libpq and psycopg say of a URL's options they cannot take: the URL is wrong (exit 78), not
# the server unavailable (69).
_BAD_OPTION = re.compile(
    r"invalid connection option|invalid URI query parameter|bad value for|invalid \w+ value"
)


def _storage_error(exc: BaseException, where: str) -> WarmupError:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if (
        "password authentication failed" in text
        or "does not exist" in text
        or _BAD_OPTION.search(text)
    ):
        return ConfigError(f"ledger {where}: {text}; check the URL in --db/WARMUP_DB")
    return Unavailable(f"ledger {where} is unavailable: {text}")


def _refusal(exc: BaseException, where: str) -> WarmupError | None:
    """The server's refusal to let this role do what warmup asked (no right to create the
    ledger's tables or to write them; a read-only server or session), as one line; None for any
    other error."""
    state = getattr(exc, "sqlstate", None)
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if state == "42501":  # insufficient_privilege
        return PermissionFailure(
            f"ledger {where}: the server refused: {text}; the ledger's role needs CREATE on its "
            f"schema to create the ledger, and SELECT, INSERT, UPDATE and DELETE on warmup's "
            f"tables (USAGE on their sequences) to use it"
        )
    if state == "25006":  # read_only_sql_transaction
        return ConfigError(
            f"ledger {where} is read-only: {text}; warmup writes to its ledger: use the primary "
            f"server, with a role whose transactions may write"
        )
    return None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # psycopg returns timestamptz in the session's TimeZone: the ledger speaks UTC.
    return None if value is None else value.astimezone(dt.UTC)


_IMPORT_SENDS = (
    "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, source, key, "
    "settled_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (mailbox_id, key) DO NOTHING"
)
_LOCK = "SELECT rev, cap, started FROM mailbox WHERE id = %s FOR UPDATE"
# Under a domain cap, every reservation of the domain counts against every other: each locks all
# the domain's mailboxes, in id order (the one lock order: no deadlock with a single-row lock or
# another domain-wide one), before its own (already held, then).
_LOCK_DOMAIN = "SELECT id FROM mailbox WHERE address LIKE %s ORDER BY id FOR UPDATE"

# PostgreSQL plans a prepared statement afresh for every execution (it never finds the generic
# plan cheaper than a custom one), ~0.3 ms of server CPU while the mailbox's lock is held; the
# generic plan (per-recipient index lookups) is as good. For this transaction only: the
# connection may go back to a pool.
_GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"

_SETTLE_SENT = (
    "UPDATE send SET outcome = 'sent', settled_at = %s WHERE id = %s "
    "AND outcome IN ('reserved', 'unknown')"
)

# Step 4 in one statement. Events: with a valid memo, those after midnight UTC two days before
# its day (at or before the start of the day before it in any zone: a superset of what the walk
# has not applied), plus the last pause/resume before that and back-offs still in force: three
# index searches (an OR of them reads every event of the mailbox).
# Recipients travel as one comma-separated string (psycopg's list dumper costs more client CPU
# than the rest of the statement): a normalized address has no comma (warmup.addresses).
_READ = """
WITH w AS (
    SELECT w.upto, w.state, ((w.upto - 2)::timestamp AT TIME ZONE 'UTC') AS applied
    FROM walk_memo w JOIN mailbox m ON m.id = w.mailbox_id
    WHERE w.mailbox_id = %(mid)s AND w.rev = m.rev AND w.inputs = %(inputs)s
      AND w.upto <= %(today)s
), u AS (
    SELECT r FROM unnest(string_to_array(%(rcpts)s::text, ',')) AS r
)
SELECT (SELECT upto FROM w), (SELECT state FROM w),
       d.days, d.sent, d.hard, d.soft, d.block, d.complaint,
       (SELECT at FROM send WHERE mailbox_id = %(mid)s AND at <= %(horizon)s
          AND outcome <> 'released' ORDER BY at DESC LIMIT 1),
       e.kinds, e.ats, e.untils, e.reasons, s.addrs, s.skinds, s.sreasons,
       k.rcpts, k.ids, k.outcomes,
       CASE WHEN %(dcap)s THEN (SELECT count(*) FROM send WHERE mailbox_id IN
            (SELECT id FROM mailbox WHERE address LIKE %(domain)s)
            AND at >= %(start)s AND outcome <> 'released') END,
       r.rdomains, r.rcounts
FROM (SELECT array_agg(day ORDER BY day) AS days, array_agg(sent ORDER BY day) AS sent,
             array_agg(hard ORDER BY day) AS hard, array_agg(soft ORDER BY day) AS soft,
             array_agg(block ORDER BY day) AS block,
             array_agg(complaint ORDER BY day) AS complaint
      FROM day_stat WHERE mailbox_id = %(mid)s
        AND day >= coalesce((SELECT upto FROM w) - %(lookback)s::int, DATE '0001-01-01')) d,
     (SELECT array_agg(kind ORDER BY at, id) AS kinds, array_agg(at ORDER BY at, id) AS ats,
             array_agg(until ORDER BY at, id) AS untils,
             array_agg(reason ORDER BY at, id) AS reasons
      FROM (SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = %(mid)s
              AND at > coalesce((SELECT applied FROM w), '-infinity')
            UNION SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = %(mid)s
              AND kind = 'throttle' AND until > %(now)s
            UNION SELECT id, kind, at, until, reason FROM event WHERE id = (
              SELECT id FROM event WHERE mailbox_id = %(mid)s
                AND kind IN ('pause', 'resume') AND at <= (SELECT applied FROM w)
              ORDER BY at DESC, id DESC LIMIT 1)) ev) e,
     (SELECT array_agg(address) AS addrs, array_agg(kind) AS skinds,
             array_agg(reason) AS sreasons
      FROM suppression WHERE address IN (SELECT r FROM u)) s,
     (SELECT array_agg(recipient) AS rcpts, array_agg(id) AS ids, array_agg(outcome) AS outcomes
      FROM send WHERE mailbox_id = %(mid)s
        AND key IN (SELECT %(msgid)s::text || '|' || r FROM u)) k,
     (SELECT array_agg(d) AS rdomains, array_agg(n) AS rcounts
      FROM (SELECT lower(substr(recipient, strpos(recipient, '@') + 1)) AS d, count(*) AS n
            FROM send WHERE %(rcaps)s AND mailbox_id = %(mid)s AND at >= %(start)s
              AND outcome <> 'released' GROUP BY 1) x
      WHERE d IN (SELECT lower(substr(r, strpos(r, '@') + 1)) FROM u)) r
"""

_EXPIRE = (
    "UPDATE send SET outcome = 'unknown', settled_at = %s WHERE mailbox_id = %s "
    "AND outcome = 'reserved' AND at < %s"
)

_ASIDE = "UPDATE send SET key = key || '#' || id WHERE id = %s"

# The insert (or the re-reservation of a released slot) and the rollup's bump, in one statement;
# the caller checked under the lock that no recipient has a live slot for this Message-ID.
_RESERVE = """
WITH u AS (
    SELECT t.r, %(msgid)s::text || '|' || t.r AS k, t.n
    FROM unnest(string_to_array(%(rcpts)s::text, ',')) WITH ORDINALITY AS t(r, n)
), ins AS (
    INSERT INTO send AS s (mailbox_id, recipient, message_id, at, day, outcome, settled_at,
                           source, key)
    SELECT %(mid)s, u.r, %(msgid)s, %(at)s, %(day)s, 'reserved', NULL, %(source)s, u.k
    FROM u ORDER BY u.n
    ON CONFLICT (mailbox_id, key) DO UPDATE
        SET outcome = 'reserved', at = EXCLUDED.at, day = EXCLUDED.day, settled_at = NULL,
            source = EXCLUDED.source
        WHERE s.outcome = 'released'
    RETURNING s.id, s.recipient
), bump AS (
    INSERT INTO day_stat AS d (mailbox_id, day, sent, hard, soft, block, complaint)
    SELECT %(mid)s, %(day)s, count(*), 0, 0, 0, 0 FROM ins HAVING count(*) > 0
    ON CONFLICT (mailbox_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent
)
SELECT id, recipient FROM ins
"""

_KEEP_MEMO = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (mailbox_id) DO UPDATE SET "
    "upto = EXCLUDED.upto, rev = EXCLUDED.rev, inputs = EXCLUDED.inputs, "
    "state = EXCLUDED.state"
)

# The fence of a send for an outbox message: its worker still holds the claim. FOR SHARE keeps
# the row so until COMMIT: a recovery (which locks it FOR UPDATE) waits, then sees the slots.
_CLAIMED = "SELECT 1 FROM outbox WHERE id = %s AND state = 'sending' AND claimed_by = %s FOR SHARE"

_TOUCH = "UPDATE mailbox SET rev = rev + 1 WHERE id = %s"


class PostgresGate(GateSession):
    """The gate's transaction in two pipelined round trips (see the module docstring)."""

    ledger: PostgresLedger

    def __init__(
        self, ledger: PostgresLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        super().__init__(ledger, box, policy, expiry)
        self._conn: Connection | None = None
        self._pg: Any = None  # the psycopg connection under it

    def reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str = "gate",
        claim: Claim | None = None,
    ) -> tuple[list[int], dt.datetime]:
        import psycopg

        reused = self._pg is not None
        pg, pending = self._connected(), list(self._deferred)
        refusal: Exception | None = None
        ids: list[int] = []
        with self.ledger._errors():
            try:
                try:
                    rows, held = self._read(pg, recipients, message_id, clock(), pending, claim)
                except psycopg.OperationalError:
                    if not (reused and pg.broken):
                        raise
                    # The server dropped the connection while it idled (a restart, a fail-over):
                    # nothing of this transaction happened; once more on a new connection.
                    self._abort()
                    pg = self._connected()
                    rows, held = self._read(pg, recipients, message_id, clock(), pending, claim)
                now = clock()  # under the lock: reservations are stamped in order
                decision = decide(self._history(rows, now), rows.suppressed, now)
                refusal = decision.refusal
                if refusal is None and claim is not None and not held:
                    refusal = ClaimLost(claim)
                if refusal is None:
                    try:
                        _, aside = self._plan(recipients, message_id, rows.slots)
                    except WarmupError as exc:  # DuplicateSend
                        refusal = exc
                ids = self._write(
                    pg,
                    recipients,
                    message_id,
                    now,
                    rows,
                    source,
                    aside if refusal is None else None,
                    self._memo_to_keep(decision, rows),
                )
            except BaseException:
                self._abort()
                raise
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[: len(pending)]
        if refusal is not None:
            raise refusal
        return ids, now

    def _connected(self) -> Any:
        """The gate's psycopg connection (opened on first use), at READ COMMITTED."""
        import psycopg

        if self._pg is None:
            self._conn = self.ledger.connect_for_writes()
            self._pg = self._conn.connection.driver_connection
        if self._pg.isolation_level != psycopg.IsolationLevel.READ_COMMITTED:
            self._pg.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
        return self._pg

    def _read(
        self,
        pg: Any,
        recipients: Sequence[str],
        message_id: str,
        est: dt.datetime,
        pending: list[tuple[int, dt.datetime]],
        claim: Claim | None = None,
    ) -> tuple[GateRows, bool]:
        """Round trip 1: BEGIN, the lock, the deferred settlements, step 4's reads (``est``: the
        clock before the lock, for the few filters that need a time: a moment early at most),
        and whether ``claim`` still holds (its outbox row then locked until COMMIT; True
        without one)."""
        box, p = self.box, self.policy
        tz = box.timezone
        today = local_day(est, tz)
        cur, lock, fence = pg.cursor(), pg.cursor(), pg.cursor()
        of_domain = f"%@{box.address.rsplit('@', 1)[1]}"  # LIKE: its mailboxes
        with pg.pipeline():
            if p.domain_cap:  # the domain's count is read under its every mailbox's lock
                pg.cursor().execute(_LOCK_DOMAIN, (of_domain,))
            lock.execute(_LOCK, (box.id,))  # first: the next statements start once it is granted
            pg.cursor().execute(_GENERIC)
            if claim is not None:
                fence.execute(_CLAIMED, (claim.message, claim.worker))
            if len(pending) == 1:  # the common case: executemany would open a nested pipeline
                ((sid, at),) = pending
                pg.cursor().execute(_SETTLE_SENT, (at.astimezone(dt.UTC), sid))
            elif pending:
                pg.cursor().executemany(
                    _SETTLE_SENT, [(at.astimezone(dt.UTC), sid) for sid, at in pending]
                )
            cur.execute(
                _READ,
                {
                    "mid": box.id,
                    "inputs": p.inputs,
                    "today": today,
                    "lookback": p.lookback,
                    "rcpts": ",".join(recipients),
                    "msgid": message_id,
                    "now": est,
                    "horizon": est + CLOCK_SKEW,
                    "dcap": p.domain_cap,
                    "rcaps": p.recipient_caps,
                    "domain": of_domain,
                    "start": day_start(today, tz),
                },
            )
        locked = lock.fetchone()
        if locked is None:  # removed (by another process or host) since this gate opened
            raise MailboxNotFound(box.address)
        rev, cap, started = locked
        held = claim is None or fence.fetchone() is not None
        (
            upto,
            state,
            days,
            sent,
            hard,
            soft,
            block,
            complaint,
            last,
            kinds,
            ats,
            untils,
            reasons,
            addrs,
            skinds,
            sreasons,
            rcpts,
            sids,
            outcomes,
            domain,
            rdomains,
            rcounts,
        ) = cur.fetchone()
        memo = WalkState.from_json(state) if upto is not None else None
        rows = GateRows(
            rev,
            cap,
            started,
            memo,
            list(zip(days, sent, hard, soft, block, complaint)) if days else [],
            _utc(last),
            [(k, _utc(a), _utc(u), why) for k, a, u, why in zip(kinds, ats, untils, reasons)]
            if kinds
            else [],
            {a: f"{k}: {why}" if why else k for a, k, why in zip(addrs, skinds, sreasons)}
            if addrs
            else {},
            {r: (i, o) for r, i, o in zip(rcpts, sids, outcomes)} if rcpts else {},
            domain,
            dict(zip(rdomains, rcounts))
            if rdomains
            else ({} if self.policy.recipient_caps else None),
        )
        return rows, held

    def _write(
        self,
        pg: Any,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        rows: GateRows,
        source: str,
        aside: list[int] | None,
        memo: WalkState | None,
    ) -> list[int]:
        """Round trip 2: the expiry, the reservation (``aside`` is None: refused), the memo, the
        COMMIT; the new slots' ids in recipient order."""
        box = self.box
        day = local_day(now, box.timezone)
        cur = pg.cursor()
        results = 0
        with pg.pipeline():
            if self._expire_due(now):
                pg.cursor().execute(_EXPIRE, (now, box.id, now - self.expiry))
            if aside is not None:
                if aside:  # a deferred (4xx) slot stays counted; the retry takes a new one
                    pg.cursor().executemany(_ASIDE, [(sid,) for sid in aside])
                cur.execute(
                    _RESERVE,
                    {
                        "mid": box.id,
                        "rcpts": ",".join(recipients),
                        "msgid": message_id,
                        "at": now,
                        "day": day,
                        "source": source,
                    },
                )
                results = 1
                if day < self.ledger.real_today(
                    box.timezone
                ):  # a write on a past day (a test's clock)
                    pg.cursor().execute(_TOUCH, (box.id,))
            if memo is not None:
                pg.cursor().execute(
                    _KEEP_MEMO, (box.id, memo.upto, rows.rev, self.policy.inputs, memo.to_json())
                )
            pg.commit()
        if not results:
            return []
        got = {r: sid for sid, r in cur.fetchall()}
        return [got[r] for r in recipients]

    def _abort(self) -> None:
        """After a failure: roll back (releasing the lock), or drop a broken connection (the next
        reservation opens another)."""
        pg, conn = self._pg, self._conn
        try:
            if pg is not None and not pg.broken and not pg.closed:
                pg.rollback()
                return
        except Exception:
            pass
        self._conn = self._pg = None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    def close(self) -> None:
        super().close()
        if self._conn is not None:
            self._conn.close()
            self._conn = self._pg = None
