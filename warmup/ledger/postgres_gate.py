"""The PostgreSQL backend's gate path (:class:`PostgresGate`, :meth:`PostgresLedger.gate
<warmup.ledger.postgres.PostgresLedger.gate>`): one reservation's transaction.

The gate's path (:class:`PostgresGate`) runs on the psycopg connection in two round trips, each
the statements sent together in libpq's pipeline mode and bound by the extended protocol (on a
loopback server the round trips and the work per statement are the cost), the big ones prepared
once per connection: (1) ``BEGIN``, the mailbox's row lock (under a domain cap
the domain's mailboxes' first; an outbox message's claim after), the expiry of reservations
left unsettled (once a minute), then one statement writing the deferred settlements and reading
the walk memo, the rollup's days since the memo's window, the last send, the events not in the
memo, the suppressed recipients and this Message-ID's slots; then the policy decides in Python
while the lock is held; (2) the insert and the rollup's bump (one statement: data-modifying
CTEs), the memo, ``COMMIT``. The read is its own statement after the lock's, never a CTE of it: at READ COMMITTED
a statement reads from a snapshot taken when it starts, so a read in the locking statement would
miss what the lock's previous holder committed while it waited (an over-send).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import select
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from warmup.errors import WarmupError
from warmup.ledger import holders
from warmup.ledger.gatepath import Decide, GatePolicy, GateRows, GateSession, Lean, Outcome
from warmup.ledger.reads import stamped
from warmup.ledger.values import (
    CLOCK_SKEW,
    Claim,
    ClaimLost,
    EventIn,
    MailboxNotFound,
    MailboxRow,
    local_day,
)
from warmup.policy.walk import WalkState, day_start

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from warmup.ledger.postgres import PostgresLedger


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # psycopg returns timestamptz in the session's TimeZone: the ledger speaks UTC.
    return None if value is None else value.astimezone(dt.UTC)


# The lock, and the plan cache mode for the statements after it. PostgreSQL plans a prepared
# statement afresh for every execution (it never finds the generic plan cheaper than a custom
# one), ~0.3 ms of server CPU while the mailbox's lock is held; the generic plan (per-recipient
# index lookups) is as good. set_config(..., true): for this transaction only (the connection may
# go back to a pool), and no statement of its own (each costs a cursor and a wait in the client).
_LOCK = (
    "SELECT rev, cap, started, set_config('plan_cache_mode', 'force_generic_plan', true) "
    "FROM mailbox WHERE id = %(mid)s FOR UPDATE"
)

# Under a domain cap, every reservation of the domain counts against every other: each locks all
# the domain's mailboxes, in id order (the one lock order: no deadlock with a single-row lock or
# another domain-wide one), before its own (already held, then).
_LOCK_DOMAIN_SQL = "SELECT id FROM mailbox WHERE address LIKE %(domain)s ORDER BY id FOR UPDATE"

# The fence of a send for an outbox message: its worker still holds the claim. FOR SHARE keeps
# the row so until COMMIT: a recovery (which locks it FOR UPDATE) waits, then sees the slots.
_CLAIMED_SQL = (
    "SELECT 1 FROM outbox WHERE id = %(claim_id)s AND state = 'sending' "
    "AND claimed_by = %(claim_worker)s FOR SHARE"
)

# Step 4 in one statement, built for the policy's shape (:func:`_read_sql`): the parts a domain
# cap or recipient-domain caps need are only in the statements of policies that have them. Left
# in behind a false one-time filter, they cost ~0.2 ms of server CPU a reservation (their nodes
# and hash tables are set up at every execution, run or not): half the statement, measured.
# Events: with a valid memo, those after midnight UTC two days before
# its day (at or before the start of the day before it in any zone: a superset of what the walk
# has not applied), plus the last pause/resume before that and back-offs still in force: three
# index searches (an OR of them reads every event of the mailbox), disjoint, appended with UNION
# ALL: a UNION set up a hash table to remove duplicates at every execution, as ``IN (SELECT ...)``
# did for the recipients' suppressions and slots, now ``= ANY`` of an array (index searches).
# Recipients travel as one comma-separated string (psycopg's list dumper costs more client CPU
# than the rest of the statement): a normalized address has no comma (warmup.addresses).
# The deferred "sent" settlements ride on it as a data-modifying CTE (ids and instants as
# comma-separated text, like the recipients): the statement's reads see those slots as they were
# before (``reserved``/``unknown``), which only :meth:`PostgresGate._read` corrects, for a retry of
# the same Message-ID; every other read treats reserved and sent alike.
_SETTLE_SENT_SQL = """
    UPDATE send SET outcome = 'sent', settled_at = p.at
    FROM unnest(string_to_array(%(sids)s::text, ',')::bigint[],
                string_to_array(%(sats)s::text, ',')::timestamptz[]) AS p(id, at)
    WHERE send.id = p.id AND send.mailbox_id = %(mid)s AND send.outcome IN ('reserved', 'unknown')
"""
_READ_SETTLE = f"""
WITH st AS ({_SETTLE_SENT_SQL})"""

# Under a domain cap: the stamp of the domain's other mailboxes (part of the memo's inputs).
_READ_STAMP = """, sx AS (
    SELECT md5(coalesce(string_agg(id::text || ':' || rev::text, ',' ORDER BY id), '')) AS stamp
    FROM mailbox WHERE address LIKE %(domain)s AND id <> %(mid)s
)"""

_READ_MEMO = """, w AS (
    SELECT w.upto, w.state, ((w.upto - 2)::timestamp AT TIME ZONE 'UTC') AS applied
    FROM walk_memo w JOIN mailbox m ON m.id = w.mailbox_id
    WHERE w.mailbox_id = %(mid)s AND w.rev = m.rev
      AND w.inputs = {inputs}
      AND w.upto <= %(today)s
)
SELECT (SELECT upto FROM w), (SELECT state FROM w),
       d.days, d.sent, d.hard, d.soft, d.block, d.complaint,
       (SELECT at FROM send WHERE mailbox_id = %(mid)s AND at <= %(horizon)s
          AND outcome <> 'released' ORDER BY at DESC LIMIT 1),
       e.kinds, e.ats, e.untils, e.reasons, s.addrs, s.skinds, s.sreasons,
       k.rcpts, k.ids, k.outcomes,
       EXISTS (SELECT 1 FROM walk_memo WHERE mailbox_id = %(mid)s AND upto > %(today)s)
       OR EXISTS (SELECT 1 FROM timeline_cache WHERE mailbox_id = %(mid)s AND upto > %(today)s)"""

_READ_FROM = """
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
            UNION ALL SELECT id, kind, at, until, reason FROM event WHERE mailbox_id = %(mid)s
              AND kind = 'throttle' AND until > %(now)s
              AND at <= coalesce((SELECT applied FROM w), '-infinity')
            UNION ALL SELECT id, kind, at, until, reason FROM event WHERE id = (
              SELECT id FROM event WHERE mailbox_id = %(mid)s
                AND kind IN ('pause', 'resume') AND at <= (SELECT applied FROM w)
              ORDER BY at DESC, id DESC LIMIT 1)) ev) e,
     (SELECT array_agg(address) AS addrs, array_agg(kind) AS skinds,
             array_agg(reason) AS sreasons
      FROM suppression WHERE address = ANY (string_to_array(%(rcpts)s::text, ','))) s,
     (SELECT array_agg(recipient) AS rcpts, array_agg(id) AS ids, array_agg(outcome) AS outcomes
      FROM send WHERE mailbox_id = %(mid)s
        AND key = ANY (ARRAY(SELECT %(msgid)s::text || '|' || r
                             FROM unnest(string_to_array(%(rcpts)s::text, ',')) AS r))) k"""

# Recipient-domain caps: today's sends to the message's recipients' domains, from the domain_day
# rollup unless the mailbox has a send stamped from tomorrow on (a clock ahead: the rows are
# counted with no end, the rollup's day ends); each branch behind a one-time filter.
_WANTED = """ANY (ARRAY(SELECT lower(substr(r, strpos(r, '@') + 1))
                              FROM unnest(string_to_array(%(rcpts)s::text, ',')) AS r))"""
_TOMORROWS = """(SELECT 1 FROM send WHERE mailbox_id = %(mid)s AND at >= %(tomorrow)s
                          AND outcome <> 'released')"""
_READ_RCAPS = (
    ", r.rdomains, r.rcounts",
    f""",
     (SELECT array_agg(d) AS rdomains, array_agg(n) AS rcounts
      FROM (SELECT domain AS d, sent::bigint AS n FROM domain_day
            WHERE mailbox_id = %(mid)s AND day = %(today)s AND sent > 0
              AND domain = {_WANTED} AND NOT EXISTS {_TOMORROWS}
            UNION ALL
            SELECT d, n FROM
              (SELECT lower(substr(recipient, strpos(recipient, '@') + 1)) AS d, count(*) AS n
               FROM send WHERE mailbox_id = %(mid)s AND at >= %(start)s
                 AND outcome <> 'released' GROUP BY 1) y
            WHERE d = {_WANTED} AND EXISTS {_TOMORROWS}) x) r""",
)

# A domain cap: today's sends of the whole domain, what its other mailboxes sent on each day the
# walk closes, the stamp. Today's sends from the day_stat rollup when every mailbox of the
# domain keeps this one's zone and none has a send stamped from tomorrow on (as
# sqlite_history.DOMAIN_SENT); else the rows (an InitPlan runs only when its CASE branch does).
_READ_DCAP = (
    """,
       (SELECT CASE WHEN EXISTS (SELECT 1 FROM mailbox WHERE address LIKE %(domain)s
                                   AND timezone <> %(tz)s)
                      OR EXISTS (SELECT 1 FROM send WHERE mailbox_id IN
                                   (SELECT id FROM mailbox WHERE address LIKE %(domain)s)
                                   AND at >= %(tomorrow)s AND outcome <> 'released')
               THEN (SELECT count(*) FROM send WHERE mailbox_id IN
                       (SELECT id FROM mailbox WHERE address LIKE %(domain)s)
                       AND at >= %(start)s AND outcome <> 'released')
               ELSE (SELECT coalesce(sum(sent), 0)::bigint FROM day_stat WHERE mailbox_id IN
                       (SELECT id FROM mailbox WHERE address LIKE %(domain)s)
                       AND day = %(today)s) END),
       dd.ddays, dd.dsent, (SELECT stamp FROM sx)""",
    """,
     (SELECT array_agg(day ORDER BY day) AS ddays, array_agg(n ORDER BY day) AS dsent
      FROM (SELECT day, sum(sent)::bigint AS n FROM day_stat
            WHERE mailbox_id IN (SELECT id FROM mailbox WHERE address LIKE %(domain)s)
              AND mailbox_id <> %(mid)s AND sent > 0 AND day < %(today)s
              AND day >= coalesce((SELECT upto FROM w), DATE '0001-01-01')
            GROUP BY day) x) dd""",
)


def _read_sql(domain_cap: bool, recipient_caps: bool) -> str:
    """Step 4's statement for a policy with (or without) a domain cap and recipient-domain caps:
    the common columns, then ``rdomains, rcounts`` (recipient caps), then ``domain count, ddays,
    dsent, stamp`` (a domain cap)."""
    inputs = "%(inputs)s || '|' || (SELECT stamp FROM sx)" if domain_cap else "%(inputs)s"
    columns, tables = "", ""
    for on, (column, table) in ((recipient_caps, _READ_RCAPS), (domain_cap, _READ_DCAP)):
        if on:
            columns, tables = columns + column, tables + table
    return (
        _READ_SETTLE
        + (_READ_STAMP if domain_cap else "")
        + _READ_MEMO.format(inputs=inputs)
        + columns
        + _READ_FROM
        + tables
        + "\n"
    )


# Step 3: the mailbox's reservations past the expiry (``before``), and those of processes gone
# from this host (``gone``: ids as comma-separated text), become ``unknown``; the statement
# returns the rest of this host's reservations (id, holder's pid and start), whose holders the
# gate then looks for (its snapshot is the one before the UPDATE: those it settles are left out).
_GONE = "string_to_array(%(gone)s::text, ',')::bigint[]"
_EXPIRE = f"""
WITH x AS (
    UPDATE send SET outcome = 'unknown', settled_at = %(now)s WHERE mailbox_id = %(mid)s
    AND outcome = 'reserved' AND (at < %(before)s OR id = ANY({_GONE}))
)
SELECT id, holder_pid, holder_start FROM send WHERE mailbox_id = %(mid)s
    AND outcome = 'reserved' AND holder_host = %(host)s AND at >= %(before)s
    AND NOT id = ANY({_GONE})
"""

_ASIDE_SQL = (
    "UPDATE send SET key = key || '#' || id "
    "WHERE id = ANY(string_to_array(%(aside)s::text, ',')::bigint[])"
)

# The insert and the rollups' bumps (day_stat, domain_day), in one statement; the caller checked
# under the lock that no recipient has a live slot for this Message-ID (an earlier released or
# soft one set aside). A memo that closed the day already (a clock ahead kept it: Records._touch)
# is dropped by _AHEAD, sent only when the read found one (its last column).
_RESERVE = """
WITH u AS (
    SELECT t.r, %(msgid)s::text || '|' || t.r AS k, t.n
    FROM unnest(string_to_array(%(rcpts)s::text, ',')) WITH ORDINALITY AS t(r, n)
), ins AS (
    INSERT INTO send AS s (mailbox_id, recipient, message_id, at, day, outcome, settled_at,
                           source, key, holder_host, holder_pid, holder_start)
    SELECT %(mid)s, u.r, %(msgid)s, %(now)s, %(day)s, 'reserved', NULL, %(source)s, u.k,
           %(host)s, %(pid)s, %(start)s
    FROM u ORDER BY u.n
    RETURNING s.id, s.recipient
), bump AS (
    INSERT INTO day_stat AS d (mailbox_id, day, sent, hard, soft, block, complaint)
    SELECT %(mid)s, %(day)s, count(*), 0, 0, 0, 0 FROM ins HAVING count(*) > 0
    ON CONFLICT (mailbox_id, day) DO UPDATE SET sent = d.sent + EXCLUDED.sent
), dbump AS (
    INSERT INTO domain_day AS x (mailbox_id, day, domain, sent)
    SELECT %(mid)s, %(day)s, lower(substr(ins.recipient, strpos(ins.recipient, '@') + 1)),
           count(*)
    FROM ins GROUP BY 3
    ON CONFLICT (mailbox_id, day, domain) DO UPDATE SET sent = x.sent + EXCLUDED.sent
)
SELECT id, recipient FROM ins
"""
# Memos that closed the reservation's day already, kept by a host whose clock ran ahead: two
# DELETEs in _RESERVE cost the server ~80 us a reservation (~10% of that statement; bench/
# RESULTS.md) where nearly every mailbox has none, so the read says whether one is there.
_AHEAD_SQL = """
WITH w AS (DELETE FROM walk_memo WHERE mailbox_id = %(mid)s AND upto > %(day)s)
DELETE FROM timeline_cache WHERE mailbox_id = %(mid)s AND upto > %(day)s
"""

_KEEP_MEMO_SQL = (
    "INSERT INTO walk_memo (mailbox_id, upto, rev, inputs, state) "
    "VALUES (%(mid)s, %(upto)s, %(rev)s, %(inputs)s, %(state)s) ON CONFLICT (mailbox_id) DO UPDATE SET "
    "upto = EXCLUDED.upto, rev = EXCLUDED.rev, inputs = EXCLUDED.inputs, "
    "state = EXCLUDED.state"
)

_TOUCH_SQL = "UPDATE mailbox SET rev = rev + 1 WHERE id = %(mid)s"


def _prepared(name: str, params: dict[str, str], sql: str) -> tuple[str, tuple[str, ...]]:
    """(the ``PREPARE`` of ``sql`` as ``name``, the names of its parameters in order): ``params``
    maps each ``%(param)s`` placeholder of ``sql`` to its SQL type."""
    body = _numbered(sql, tuple(params))
    return f"PREPARE {name} ({', '.join(params.values())}) AS {body}", tuple(params)


def _numbered(sql: str, names: Sequence[str]) -> str:
    """``sql`` with each ``%(name)s`` as ``$n``, ``n`` its place in ``names``."""
    for i, param in enumerate(names, 1):
        sql = sql.replace(f"%({param})s", f"${i}")
    assert "%(" not in sql, sql
    return sql


def _unnamed(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """A statement sent as it is (rare, or too small to be worth a prepared one): its text with
    ``$n`` placeholders and the names of its parameters in order."""
    names = tuple(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    return _numbered(sql, names).encode(), names


# The read's placeholders and their SQL types (each shape of it has the ones it names).
_READ_TYPES = {
    "sids": "text",
    "sats": "text",
    "mid": "bigint",
    "domain": "text",
    "inputs": "text",
    "today": "date",
    "rcpts": "text",
    "horizon": "timestamptz",
    "lookback": "int",
    "now": "timestamptz",
    "msgid": "text",
    "start": "timestamptz",
    "tz": "text",
    "tomorrow": "timestamptz",
}


def _read_statement(domain_cap: bool, recipient_caps: bool) -> tuple[str, str, tuple[str, ...]]:
    """(name, ``PREPARE``, parameter names) of step 4's statement for this shape of policy."""
    sql = _read_sql(domain_cap, recipient_caps)
    name = "warmup_gate_read" + "_d" * domain_cap + "_r" * recipient_caps
    types = {k: t for k, t in _READ_TYPES.items() if f"%({k})s" in sql}
    return (name, *_prepared(name, types, sql))


# The gate's statements, prepared once per connection (named for the server's
# pg_prepared_statements; the names are this module's) and bound by name in the round trips'
# pipelines (PostgresGate._exchange): no statement text for the server to parse, and the values
# go as they are, each through its type's input function. A simple query of ``EXECUTE name
# (literal, ...)`` statements, as before, cost the server ~60 us a reservation more (parsing the
# text, evaluating the literals) and the client ~50 us (quoting them, walking the result sets);
# psycopg's own pipeline mode sent each statement on its own (12 sendto and 22 poll calls a
# reservation, measured with strace). A gate prepares the one read its policy needs.
_PREPARED = {
    name: _prepared(name, params, sql)
    for name, params, sql in (
        ("warmup_gate_lock", {"mid": "bigint"}, _LOCK),
        (
            "warmup_gate_reserve",
            {
                "mid": "bigint",
                "rcpts": "text",
                "msgid": "text",
                "now": "timestamptz",
                "day": "date",
                "source": "text",
                "host": "text",
                "pid": "int",
                "start": "text",
            },
            _RESERVE,
        ),
        (
            "warmup_gate_expire",
            {
                "now": "timestamptz",
                "mid": "bigint",
                "before": "timestamptz",
                "gone": "text",
                "host": "text",
            },
            _EXPIRE,
        ),
    )
}
_PREPARED.update(
    (name, (prepare, names))
    for name, prepare, names in (
        _read_statement(d, r) for d in (False, True) for r in (False, True)
    )
)
# Round trip 1: the read is a statement after the lock's, so its snapshot is taken once the lock
# is granted (READ COMMITTED: it sees what the previous holder committed); under a domain cap the
# domain's mailboxes are locked first, and an outbox message's claim is checked (and kept) after.
_BEGIN = _unnamed("BEGIN ISOLATION LEVEL READ COMMITTED")
_COMMIT = _unnamed("COMMIT")
_LOCK_DOMAIN = _unnamed(_LOCK_DOMAIN_SQL)
_CLAIMED = _unnamed(_CLAIMED_SQL)
_ASIDE = _unnamed(_ASIDE_SQL)
_TOUCH = _unnamed(_TOUCH_SQL)
_KEEP_MEMO = _unnamed(_KEEP_MEMO_SQL)
_AHEAD = _unnamed(_AHEAD_SQL)
# PostgresGate.flush: the deferred settlements alone, under the mailbox's lock as a reservation
# writes them (unnamed: it runs once a message when the gate falls idle, or at close).
_LOCK_ONLY = _unnamed(_LOCK)
_SETTLE_SENT = _unnamed(_SETTLE_SENT_SQL)
# PostgresGate.expire: step 3 alone (unnamed: rare, before a reservation refused as a resend).
_EXPIRE_ONLY = _unnamed(_EXPIRE)


def _step(
    what: str | tuple[bytes, tuple[str, ...]], values: dict[str, Any]
) -> tuple[str | bytes, list[Any]]:
    """A step of a round trip: a prepared statement (its name) or an unnamed one, with the values
    of its parameters from ``values``."""
    if isinstance(what, str):
        return what, [values[n] for n in _PREPARED[what][1]]
    return what[0], [values[n] for n in what[1]]


def _deferred(pending: Sequence[tuple[int, dt.datetime]]) -> dict[str, str]:
    """The ``sids`` and ``sats`` of :data:`_SETTLE_SENT_SQL`: deferred settlements' slots and
    instants as comma-separated text."""
    return {
        "sids": ",".join(str(sid) for sid, _ in pending),
        "sats": ",".join(at.astimezone(dt.UTC).isoformat() for _, at in pending),
    }


def _text(value: Any, encoding: str) -> bytes | None:
    """A parameter's value in PostgreSQL's text form (the statement gives its type), in the
    connection's client encoding (a LATIN1 database's, unless something sets another)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode(encoding)
    if isinstance(value, dt.date):  # a datetime too: ISO 8601, its offset included
        return value.isoformat().encode()
    return str(value).encode()  # int


def _wait(fd: int, write: bool) -> bool:
    """Block (the GIL released) until the socket ``fd`` has something to read, or room to write
    if ``write``: whether it has something to read (an error or a hang-up too, which reading
    reports). By poll() where there is one: select() refuses a descriptor at or above its
    FD_SETSIZE (1024), which a process with many files and sockets open (a relay with many
    clients) gives its new connections; psycopg's own waits poll too."""
    if not hasattr(select, "poll"):  # Windows: its select() takes any socket
        readable, _, failed = select.select([fd], [fd] if write else [], [fd])
        return bool(readable or failed)
    poller = select.poll()
    poller.register(fd, select.POLLIN | (select.POLLOUT if write else 0))
    return any(events & ~select.POLLOUT for _, events in poller.poll())


_M = TypeVar("_M", bound=Callable[..., Any])


def _at_work(method: _M) -> _M:
    """A :class:`PostgresGate` method that works on the gate's connection: meanwhile the gate
    does not lend it (:meth:`PostgresGate.lend`), whichever thread asks."""

    @functools.wraps(method)
    def run(self: PostgresGate, *args: Any, **kw: Any) -> Any:
        with self._busy:
            self._depth += 1
            try:
                return method(self, *args, **kw)
            finally:
                self._depth -= 1

    return cast(_M, run)


class _CutInCommit(Exception):
    """The connection was cut in a reservation's second round trip, its COMMIT's: ``now``, the
    reservation's stamp; ``reserved``, whether it was writing a reservation (not a refusal);
    ``pending``, how many deferred settlements rode on it."""

    def __init__(self, now: dt.datetime, reserved: bool, pending: int) -> None:
        super().__init__("cut in commit")
        self.now, self.reserved, self.pending = now, reserved, pending


class PostgresGate(GateSession):
    """The gate's transaction in two round trips (see the module docstring)."""

    ledger: PostgresLedger

    def __init__(
        self, ledger: PostgresLedger, box: MailboxRow, policy: GatePolicy, expiry: dt.timedelta
    ) -> None:
        super().__init__(ledger, box, policy, expiry)
        self._conn: Connection | None = None
        self._pg: Any = None  # the psycopg connection under it
        self._tx: Any = None  # psycopg's loaders of its results
        self._prepared = False  # the server has the gate's statements for this connection
        self._memo_ahead = False  # the last read found a memo closed today or later (_AHEAD)
        self._read_name = _read_statement(policy.domain_cap, policy.recipient_caps)[0]
        self._busy = threading.RLock()  # held while a method works on the connection
        self._depth = 0  # how deep this gate's methods are in one another (see lend)
        self._pid = 0  # the process that checked the connection out (a forked child's is not)

    @_at_work
    def reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str = "gate",
        claim: Claim | None = None,
        lean: Lean | None = None,  # every reservation reads its rows: decide answers
    ) -> tuple[list[int], dt.datetime]:
        try:
            return self._reserve(recipients, message_id, decide, clock, source, claim)
        except _CutInCommit as cut:
            # The server cut the connection during round trip 2 (pg_terminate_backend, a
            # fail-over): whether its COMMIT got in is told by the rows, read on a new
            # connection. Committed: the reservation stands (its deferred settlements with
            # it). Not: nothing of it happened, and it is made once more. Either way exit 75
            # ("try again") for a message the gate could reserve was a message not sent.
            if cut.reserved:
                ids = self._landed(recipients, message_id, cut.now)
                if ids is not None:
                    del self._deferred[: cut.pending]
                    return ids, cut.now
            return self._reserve(recipients, message_id, decide, clock, source, claim)

    def _landed(
        self, recipients: Sequence[str], message_id: str, now: dt.datetime
    ) -> list[int] | None:
        """The ids of this process's reservation of ``message_id`` made at ``now``, in
        recipient order, if it was committed; None if not."""
        import sqlalchemy as sa

        host, pid, start = holders.me()
        with self.ledger.read() as conn:
            got: dict[str, int] = dict(
                conn.execute(
                    sa.text(
                        "SELECT recipient, id FROM send WHERE mailbox_id = :mid "
                        "AND key = ANY(:keys) AND at = :now AND holder_host = :host "
                        "AND holder_pid = :pid AND holder_start = :start"
                    ),
                    {
                        "mid": self.box.id,
                        "keys": [f"{message_id}|{r}" for r in recipients],
                        "now": now,
                        "host": host,
                        "pid": pid,
                        "start": start,
                    },
                ).all()
            )
        if not got:
            return None
        return [got[r] for r in recipients]

    def _reserve(
        self,
        recipients: Sequence[str],
        message_id: str,
        decide: Decide,
        clock: Callable[[], dt.datetime],
        source: str,
        claim: Claim | None,
    ) -> tuple[list[int], dt.datetime]:
        """:meth:`reserve`, once: :class:`_CutInCommit` when the connection was cut in its
        second round trip."""
        import psycopg

        pending = list(self._deferred)
        refusal: Exception | None = None
        ids: list[int] = []
        with self.ledger._errors():
            reused = self._pg is not None
            if not reused:
                self._connect()
            try:
                try:
                    if not self._prepared:
                        self._prepare()
                    rows, held, here = self._read(recipients, message_id, clock(), pending, claim)
                except psycopg.errors.InvalidSqlStatementName:
                    # Something on the connection dropped them (DEALLOCATE ALL, DISCARD ALL):
                    # nothing ran, prepare them again and start over once.
                    self._pg.rollback()
                    self._prepare()
                    rows, held, here = self._read(recipients, message_id, clock(), pending, claim)
                except psycopg.errors.FeatureNotSupported:
                    # "cached plan must not change result type": a column a statement returns
                    # changed its type since it was prepared (ALTER TABLE send ALTER id TYPE
                    # bigint, a migration), which the server refuses at every execution: nothing
                    # ran, prepare them all anew and start over once.
                    self._pg.rollback()
                    self._prepare(anew=True)
                    rows, held, here = self._read(recipients, message_id, clock(), pending, claim)
                except psycopg.OperationalError:
                    if not self._pg.broken:
                        raise
                    # The server dropped the connection while it idled (a restart, a fail-over),
                    # or cut it just after the pool's ping handed it out (pg_terminate_backend):
                    # this round trip commits nothing, so nothing of this transaction happened;
                    # once more on a new connection (which fails, 69, if the server is away).
                    self._abort()
                    self._connect()
                    rows, held, here = self._read(recipients, message_id, clock(), pending, claim)
                gone = self._gone_here(rows, here)
                now = clock()  # under the lock: reservations are stamped in order
                decision = decide(self._history(rows, now), rows.suppressed, now, rows.rev)
                refusal = decision.refusal
                if refusal is None and claim is not None and not held:
                    refusal = ClaimLost(claim)
                if refusal is None:
                    try:
                        aside = self._plan(recipients, message_id, rows.slots)
                    except WarmupError as exc:  # DuplicateSend
                        refusal = exc
                try:
                    ids = self._write(
                        recipients,
                        message_id,
                        now,
                        rows,
                        source,
                        aside if refusal is None else None,
                        self._memo_to_keep(decision, rows.memo),
                        gone,
                    )
                except psycopg.OperationalError as exc:
                    if not self._pg.broken:
                        raise
                    raise _CutInCommit(now, refusal is None, len(pending)) from exc
            except BaseException:
                self._abort()
                raise
        # Committed (deferred settlements included) even when the message is refused.
        del self._deferred[: len(pending)]
        if refusal is not None:
            raise refusal
        return ids, now

    def _gone_here(self, rows: GateRows, here: list[tuple[Any, ...]] | None) -> list[int]:
        """The reservations of processes gone from this host, of those step 3 returned
        (``here``; None: it did not run), which round trip 2 settles: when this Message-ID's
        own slots hold a reservation, they are looked for now (one round trip more, rare), and
        the slots read say ``unknown`` for those, as after the settlement."""
        if here is None and any(o == "reserved" for _, o in rows.slots.values()):
            values = self._expiry(dt.datetime.now(dt.UTC), "-infinity")  # settles nothing
            here = self._rows(self._exchange([_step("warmup_gate_expire", values)])[0])
        gone = self._gone(here or ())
        for r, (i, o) in rows.slots.items():
            if o == "reserved" and i in gone:
                rows.slots[r] = (i, "unknown")
        return gone

    def _expiry(
        self, now: dt.datetime, before: dt.datetime | str, gone: Sequence[int] = ()
    ) -> dict[str, Any]:
        """The values of step 3's statement."""
        return {
            "now": now,
            "mid": self.box.id,
            "before": before,
            "gone": ",".join(map(str, gone)),
            "host": holders.me().host,
        }

    def _connect(self) -> None:
        """Check a connection out for this gate: in autocommit mode (the gate's statements say
        BEGIN and COMMIT themselves), its statements prepared."""
        import psycopg
        from psycopg.adapt import Transformer

        self._conn = self.ledger.connect_for_writes()
        try:
            pg: Any = self._conn.connection.driver_connection
            if pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                pg.rollback()
            pg.autocommit = True
            self._pg, self._tx = pg, Transformer(pg)
            self._prepare()
        except BaseException:
            self._abort()
            raise
        self._pid = os.getpid()
        self.ledger._lent(self, True)

    def _prepare(self, anew: bool = False) -> None:
        """Prepare the gate's statements the server does not have for this connection: a pooled
        connection another gate of this process used has them, and psycopg's ROLLBACK sends
        DEALLOCATE ALL when it prepared statements of its own on the connection. A statement
        of that name but another text (another warmup version's, on a server connection a
        pooler passed on) is replaced: only the text says what its binding reads. ``anew``:
        every one is replaced (the server holds them, but a table changed under them)."""
        with self._pg.cursor() as cur:
            cur.execute(
                "SELECT name, md5(statement) FROM pg_prepared_statements "
                "WHERE name LIKE 'warmup_gate_%'"
            )
            have = dict(cur.fetchall())
            for name in (
                "warmup_gate_lock",
                self._read_name,
                "warmup_gate_reserve",
                "warmup_gate_expire",
            ):
                prepare = _PREPARED[name][0]
                if anew or have.get(name) != hashlib.md5(prepare.encode()).hexdigest():
                    if name in have:
                        cur.execute(f"DEALLOCATE {name}")
                    cur.execute(prepare)
        self._prepared = True

    def _exchange(self, steps: Sequence[tuple[str | bytes, Sequence[Any]]]) -> list[Any]:
        """One round trip: ``steps`` (a prepared statement's name, or an unnamed statement's
        text as bytes, each with its parameters' values) sent together in libpq's pipeline mode,
        bound by the extended protocol (no statement text to parse, no literal to evaluate: the
        server runs the types' input functions on the values); each step's result (None where
        it returns no rows), once all arrived. A failed step fails the ones after it (the
        transaction is aborted): its error is raised once the round trip is over."""
        import psycopg
        from psycopg import pq

        pgconn, encoding = self._pg.pgconn, self._pg.info.encoding
        # every value encoded before anything is sent: one the client encoding cannot carry
        # (a CJK Message-ID, a LATIN1 session) fails with nothing on the wire, the connection kept
        encoded = [(what, [_text(v, encoding) for v in values]) for what, values in steps]
        pgconn.enter_pipeline_mode()
        try:
            for what, params in encoded:
                if isinstance(what, bytes):
                    pgconn.send_query_params(what, params)
                else:
                    pgconn.send_query_prepared(what.encode(), params)
            pgconn.pipeline_sync()
            fd = pgconn.socket
            while pgconn.flush():  # more to send than the socket took at once
                # read what the server sent meanwhile (libpq's rule): it may be waiting for
                # room to write its results before it reads the rest
                if _wait(fd, write=True):
                    pgconn.consume_input()
            results: list[Any] = []
            failed: Any = None
            while True:
                if pgconn.is_busy():
                    _wait(fd, write=False)
                    pgconn.consume_input()  # raises OperationalError on a broken connection
                    continue
                res = pgconn.get_result()
                if res is None:  # the end of one step's results
                    if pgconn.status == pq.ConnStatus.BAD:
                        raise psycopg.OperationalError(pgconn.get_error_message())
                    continue
                if res.status == pq.ExecStatus.PIPELINE_SYNC:
                    break
                if res.status == pq.ExecStatus.FATAL_ERROR and failed is None:
                    failed = res
                results.append(res if res.status == pq.ExecStatus.TUPLES_OK else None)
        except BaseException:
            if pgconn.status != pq.ConnStatus.BAD:  # results left unread: nothing to go on with
                pgconn.finish()
            raise
        pgconn.exit_pipeline_mode()
        if failed is not None:
            raise psycopg.errors.error_from_result(failed, encoding=self._pg.info.encoding)
        return results

    def _rows(self, res: Any) -> list[tuple[Any, ...]]:
        """A step's rows, loaded as psycopg loads a cursor's."""
        self._tx.set_pgresult(res)
        return self._tx.load_rows(0, res.ntuples, tuple)

    def _read(
        self,
        recipients: Sequence[str],
        message_id: str,
        est: dt.datetime,
        pending: list[tuple[int, dt.datetime]],
        claim: Claim | None = None,
    ) -> tuple[GateRows, bool, list[tuple[Any, ...]] | None]:
        """Round trip 1: BEGIN, the lock (under a domain cap, the domain's mailboxes' first),
        then in one statement the deferred settlements and step 4's reads (``est``: the clock
        before the lock, for the few filters that need a time: a moment early at most); and
        whether ``claim`` still holds (its outbox row then locked until COMMIT; True without
        one); and this host's reservations left by step 3 (None: it was not due)."""
        box, p = self.box, self.policy
        tz = box.timezone
        today = local_day(est, tz)
        values = {
            **self._expiry(est, est - self.expiry),
            "claim_id": claim.message if claim is not None else None,
            "claim_worker": claim.worker if claim is not None else None,
            **_deferred(pending),
            "mid": box.id,
            "inputs": p.inputs,
            "today": today,
            "lookback": p.lookback,
            "rcpts": ",".join(recipients),
            "msgid": message_id,
            "now": est,
            "horizon": est + CLOCK_SKEW,
            "domain": f"%@{box.address.rsplit('@', 1)[1]}",
            "start": day_start(today, tz),
            "tz": tz,
            "tomorrow": day_start(today + dt.timedelta(days=1), tz),
        }
        steps = [_step(_BEGIN, values)]
        if p.caps_today:  # the domain's count is read under its every mailbox's lock
            steps.append(_step(_LOCK_DOMAIN, values))
        lock = len(steps)
        steps.append(_step("warmup_gate_lock", values))
        if claim is not None:
            steps.append(_step(_CLAIMED, values))
        # reservations left unsettled past the expiry are "unknown" before this one's read, as
        # on SQLite and the reference: a resend then hears "may already have reached", not
        # "is being sent right now"
        expire = None
        if self._expire_due(est):
            expire = len(steps)
            steps.append(_step("warmup_gate_expire", values))
        steps.append(_step(self._read_name, values))
        results = self._exchange(steps)
        here = None if expire is None else self._rows(results[expire])
        locked = self._rows(results[lock])
        if not locked:  # removed (by another process or host) since this gate opened
            raise MailboxNotFound(box.address)
        rev, cap, started, _ = locked[0]
        held = claim is None or bool(self._rows(results[lock + 1]))
        row = self._rows(results[-1])[0]
        (upto, state, days, sent, hard, soft, block, complaint, last) = row[:9]
        (kinds, ats, untils, reasons, addrs, skinds, sreasons, rcpts, sids, outcomes) = row[9:19]
        # a memo closed today or later (a clock ahead kept it): the write drops it (_AHEAD); the
        # read's today is the write's day or one before (its clock ran first): none missed
        self._memo_ahead = bool(row[19])
        # the shape's own columns (_read_sql): recipient caps', then a domain cap's
        rest: tuple[Any, ...] = row[20:]
        rcaps: tuple[Any, ...] = (None, None)
        dcap: tuple[Any, ...] = (None, None, None, None)
        if p.recipient_caps:
            rcaps, rest = rest[:2], rest[2:]
        if p.domain_cap:
            dcap = rest
        rdomains, rcounts = rcaps
        domain, ddays, dsent, stamp = dcap
        memo = WalkState.from_json(state) if upto is not None else None
        slots = {r: (i, o) for r, i, o in zip(rcpts, sids, outcomes)} if rcpts else {}
        if slots and pending:  # settled by this very statement, after its snapshot
            settled = {sid for sid, _ in pending}
            for r, (i, o) in slots.items():
                if i in settled and o in ("reserved", "unknown"):
                    slots[r] = (i, "sent")
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
            slots,
            domain,
            dict(zip(rdomains, rcounts))
            if rdomains
            else ({} if self.policy.recipient_caps else None),
            # what the domain's other mailboxes sent on each day the walk closes
            dict(zip(ddays, (int(n) for n in dsent), strict=True))
            if ddays
            else ({} if self.policy.domain_cap else None),
            stamp,
        )
        return rows, held, here

    def _write(
        self,
        recipients: Sequence[str],
        message_id: str,
        now: dt.datetime,
        rows: GateRows,
        source: str,
        aside: list[int] | None,
        memo: WalkState | None,
        gone: Sequence[int] = (),
    ) -> list[int]:
        """Round trip 2: the settlement of the ``gone`` holders' reservations, the
        reservation (``aside`` is None: refused), the memo, the COMMIT; the new slots' ids in
        recipient order."""
        box = self.box
        day = local_day(now, box.timezone)
        values: dict[str, Any] = {"mid": box.id, "now": now}
        steps = []
        if gone:  # step 3's statement, for these alone
            steps.append(_step("warmup_gate_expire", self._expiry(now, "-infinity", gone)))
        reserve = None
        if aside is not None:
            if aside:  # the retry takes a new slot (a deferred one stays counted)
                values["aside"] = ",".join(str(sid) for sid in aside)
                steps.append(_step(_ASIDE, values))
            values.update(rcpts=",".join(recipients), msgid=message_id, day=day, source=source)
            values.update(zip(("host", "pid", "start"), holders.me(), strict=True))
            reserve = len(steps)
            steps.append(_step("warmup_gate_reserve", values))
            if self._memo_ahead:
                steps.append(_step(_AHEAD, values))
            if day < self.ledger.real_today(box.timezone):  # a write on a past day (a test's clock)
                steps.append(_step(_TOUCH, values))
        if memo is not None:
            values.update(
                upto=memo.upto,
                rev=rows.rev,
                inputs=stamped(self.policy.inputs, rows.stamp),
                state=memo.to_json(),
            )
            steps.append(_step(_KEEP_MEMO, values))
        steps.append(_step(_COMMIT, values))
        results = self._exchange(steps)
        if reserve is None:
            return []
        got = {r: sid for sid, r in self._rows(results[reserve])}
        return [got[r] for r in recipients]

    @_at_work
    def flush(self) -> None:
        """Write deferred "sent" settlements now, in one round trip on the connection this gate
        holds (else through the ledger's pool, as a settlement of a bounce is). Through the
        pool, a process keeping as many gates on one ledger as its pool has connections (each
        holding one) waited for one that never came free: the gate's idle write (its settler
        thread, holding the gate's lock meanwhile) and its close() failed "busy" after 30 s."""
        import psycopg

        pending = list(self._deferred)
        if not pending or self._pg is None:
            super().flush()
            return
        values = {"mid": self.box.id, **_deferred(pending)}
        with self.ledger._errors():
            try:
                self._exchange(
                    [_step(what, values) for what in (_BEGIN, _LOCK_ONLY, _SETTLE_SENT, _COMMIT)]
                )
            except psycopg.OperationalError:
                broken = self._pg.broken
                self._abort()
                if not broken:
                    raise
                # The server dropped the connection while it idled (a restart, a fail-over):
                # nothing was written; through a new one from the pool instead.
                super().flush()
                return
            except BaseException:
                self._abort()
                raise
        del self._deferred[: len(pending)]

    @_at_work
    def settle(
        self,
        ids: dict[str, int],
        outcomes: dict[str, Outcome],
        message_id: str,
        throttle: EventIn | None,
        now: dt.datetime,
    ) -> None:
        """:meth:`GateSession.settle` on the connection this gate holds (else through the
        ledger's pool, as :meth:`flush`). Through the pool it needed a second connection: on a
        server with no slot left for it (max_connections, a CONNECTION LIMIT), a send the SMTP
        server never took (unreachable, refused) exited 75 with its slot left ``reserved``,
        counted as sent for 15 minutes, and a worker's message left ``sending``, for the next
        pass to call ``unknown`` (waiting for a person) though it never left."""
        import psycopg
        import sqlalchemy as sa

        pg, conn = self._pg, self._conn
        if pg is None or conn is None:
            super().settle(ids, outcomes, message_id, throttle, now)
            return
        pending = len(self._deferred)
        with self.ledger._errors():
            try:
                pg.autocommit = False  # SQLAlchemy's transaction: BEGIN with the first statement
                try:
                    with conn.begin():
                        self._settle_in(conn, ids, outcomes, message_id, throttle, now)
                finally:
                    if not pg.broken and not pg.closed:
                        pg.autocommit = True
            except (psycopg.OperationalError, sa.exc.OperationalError):
                broken = pg.broken
                self._abort()
                if not broken:
                    raise
                # The server dropped the connection while it idled (a restart, a fail-over):
                # through a new one from the pool instead (a slot settled already stays so).
                super().settle(ids, outcomes, message_id, throttle, now)
                return
            except BaseException:
                self._abort()
                raise
        del self._deferred[:pending]

    @_at_work
    def expire(self, now: dt.datetime) -> None:
        """See :meth:`GateSession.expire`: round trip 1 settles the expired reservations and
        returns this host's others, round trip 2 those of processes gone, as a reservation's
        own two do; on the connection this gate holds, a new one if the server dropped it."""
        import psycopg

        with self.ledger._errors():
            for again in (False, True):
                reused = self._pg is not None
                if not reused:
                    self._connect()
                try:
                    values = self._expiry(now, now - self.expiry)
                    first = [_step(w, values) for w in (_BEGIN, _LOCK_ONLY, _EXPIRE_ONLY)]
                    gone = self._gone(self._rows(self._exchange(first)[2]))
                    last = [_step(_COMMIT, values)]
                    if gone:
                        last.insert(0, _step(_EXPIRE_ONLY, self._expiry(now, "-infinity", gone)))
                    self._exchange(last)
                    return
                except psycopg.OperationalError:
                    broken = reused and self._pg is not None and self._pg.broken
                    self._abort()
                    if again or not broken:
                        raise
                    # dropped while it idled (a restart, a fail-over): nothing was written
                except BaseException:
                    self._abort()
                    raise

    def _abort(self) -> None:
        """After a failure: roll back (releasing the lock), or drop a broken connection (the next
        reservation opens another)."""
        pg, conn = self._pg, self._conn
        try:
            if pg is not None and not pg.broken and not pg.closed:
                self._prepared = False
                pg.rollback()
                return
        except Exception:
            pass
        self._conn = self._pg = self._tx = None
        self._prepared = False
        self.ledger._lent(self, False)
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    def lend(self) -> bool:
        """Give the connection this gate holds between reservations back to the ledger's pool
        (what it deferred written on it first), for the process's other work on a server with
        no slot for one more (:meth:`PostgresLedger._pool_connect
        <warmup.ledger.postgres.PostgresLedger._pool_connect>`); the next reservation checks
        one out again. Whether it did: never while a method of the gate works on it, in this
        thread or another, nor when what it deferred could not be written (it keeps it), nor
        in a forked child (the connection is its parent's)."""
        if not self._busy.acquire(blocking=False):
            return False
        try:
            if self._depth or self._pg is None or self._pid != os.getpid():
                return False
            try:
                self.flush()
            except WarmupError:
                return False
            if self._pg is None:  # dropped by the flush (cut), its rows written through the pool
                return False
            self._give_back()
            return True
        finally:
            self._busy.release()

    @_at_work
    def close(self) -> None:
        super().close()
        self._give_back()

    def _give_back(self) -> None:
        """Let go of the connection: back to the pool as the pool lent it."""
        pg, conn = self._pg, self._conn
        self._conn = self._pg = self._tx = None
        self.ledger._lent(self, False)
        if conn is None:
            return
        try:
            if not pg.broken and not pg.closed:
                pg.rollback()  # nothing is open between reservations: a no-op
                pg.autocommit = False  # as the pool gave it
        finally:
            conn.close()
