"""The PostgreSQL backend's advisory locks: a name's (hosts writing one name take turns) and the
migrations' (hosts upgrading one ledger take turns). Both are transaction-scoped: released at
commit, or when the client dies.

**Migrations lock the ledger, not the database.** Advisory locks belong to a database, and a
database may hold several ledgers, one per schema (the URL's search_path). Warmup before this
module took one key for every upgrade, ``pg_advisory_xact_lock(7261001)``: a long upgrade of
one schema's ledger made every other schema's first command wait, then exit 75. Now an upgrade
takes, in this order:

1. ``pg_advisory_xact_lock_shared(7261001)``: the old key, in SHARE mode;
2. ``pg_advisory_xact_lock(7261001, h)``: the ledger's own, ``h`` a hash of the name of the
   schema holding its ``warmup_migrations`` (the schema it will be created in,
   ``current_schema()``, for a new one). That is the ledger whatever path leads to it: a host
   whose search_path starts with an empty schema of its own (``"$user", public``) upgrades the
   ledger in ``public`` and must wait for the host whose path names ``public`` alone.

Why that is correct for every mix of versions on one database:

- this warmup and this warmup, one ledger: both want the ledger's key exclusively, so they take
  turns (the second then finds nothing left to apply);
- this warmup and this warmup, two ledgers: SHARE locks of the old key do not conflict, and the
  ledgers' keys differ (two schema names sharing a 32-bit hash merely take turns);
- an older warmup and this one, on any ledger: the older one takes the old key exclusively,
  which conflicts with the SHARE this one holds for its whole upgrade. The older key names no
  schema, so this one cannot tell which ledger it upgrades and must wait for it whatever the
  schema; an upgrade of another ledger by an older warmup waits as it always did;
- two older warmups: unchanged.

No deadlock: every upgrade takes the old key before the ledger's, and the older warmups take
only the old key. Once no host runs a warmup older than this one, the SHARE lock costs nothing
but a round trip, only when there is something to upgrade.

A wait for either lock past ``lock_timeout`` says what it waited for, and who holds it when
the server tells (``pg_locks``, ``pg_stat_activity``): another warmup upgrading this ledger, or
an older warmup upgrading one of the database's, never "a long transaction holding warmup's
rows".
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import LedgerBusy

# pg_advisory_xact_lock's key "warmup migrations": alone, the database's (older warmups'); with
# a hash of a schema's name, a ledger's.
MIGRATION_LOCK = 7261001
# pg_advisory_xact_lock(int4, int4)'s first key for :func:`lock_name` (the second is a hash of
# the name); PostgreSQL keeps the two-key locks apart from the one-key ones.
NAME_LOCKS = 7261002

# The schema the ledger is in: the one its warmup_migrations is found in through the
# search_path, else the one a new ledger's tables would be created in (None: no schema of the
# path exists, which the upgrade's first CREATE TABLE refuses).
_LEDGER_SCHEMA = sa.text(
    "SELECT coalesce((SELECT n.nspname FROM pg_class c JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE c.oid = to_regclass('warmup_migrations')), "
    "current_schema())"
)
# Another session holding the advisory lock (classid, objid, objsubid) exclusively: its server
# process, client address and the start of its transaction, as far as this role may see them.
_HOLDER = sa.text(
    "SELECT l.pid, host(a.client_addr), "
    "to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
    "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' "
    "AND l.pid <> pg_backend_pid() "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = :classid AND l.objid::bigint = :objid "
    "AND l.objsubid = :objsubid "
    "ORDER BY a.xact_start NULLS LAST LIMIT 1"
)


def name_key(name: str) -> int:
    """``name`` as a signed 32-bit key: two names sharing it merely take turns."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big") - 2**31


def lock_name(conn: Connection, name: str, shared: bool = False) -> None:
    """:meth:`warmup.ledger.core.Ledger._lock_name` on PostgreSQL."""
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    conn.execute(sa.text(f"SELECT {lock}(:ns, :key)"), {"ns": NAME_LOCKS, "key": name_key(name)})


def ledger_schema(conn: Connection) -> str | None:
    """The name of the schema holding the ledger ``conn`` reaches (see ``_LEDGER_SCHEMA``)."""
    return conn.execute(_LEDGER_SCHEMA).scalar()


def migration_lock(conn: Connection, where: str) -> None:
    """Hold the migration lock of the ledger ``conn`` reaches until the transaction ends (see the
    module's docstring); :class:`LedgerBusy` naming who upgrades it when the wait passes
    ``lock_timeout``. ``where`` names the ledger."""
    schema = ledger_schema(conn) or ""
    if _waited_too_long(conn, f"SELECT pg_advisory_xact_lock_shared({MIGRATION_LOCK})"):
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        raise LedgerBusy(
            f"ledger {where}: an older warmup{_holder(conn, 0, MIGRATION_LOCK, 1)} is upgrading "
            f"a ledger of database {database!r} (versions before this one hold every schema's "
            f"upgrade meanwhile), and lock_timeout ({_lock_timeout(conn)}) passed waiting for "
            f"it: try again once it is done, and upgrade warmup on every host using the database"
        )
    key = name_key(schema)
    if _waited_too_long(conn, f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK}, {key})"):
        raise LedgerBusy(
            f"ledger {where}: another warmup{_holder(conn, MIGRATION_LOCK, key % 2**32, 2)} is "
            f"upgrading this ledger (schema {schema!r}), and lock_timeout "
            f"({_lock_timeout(conn)}) passed waiting for it: try again once the upgrade is done"
        )


def _waited_too_long(conn: Connection, statement: str) -> bool:
    """Run ``statement`` (a lock's) in a savepoint: whether the server cancelled it at its
    lock_timeout (the transaction goes on, to ask who holds the lock)."""
    import psycopg

    try:
        with conn.begin_nested():
            conn.exec_driver_sql(statement)
    except sa.exc.OperationalError as exc:
        if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
            return True
        raise
    return False


def _holder(conn: Connection, classid: int, objid: int, objsubid: int) -> str:
    """Who holds the advisory lock, for a message: `` (server process 123 on 10.0.0.5, since
    2026-12-06 03:22:01 UTC)``, what of it this role may see; "" when nobody does any more."""
    row = conn.execute(_HOLDER, {"classid": classid, "objid": objid, "objsubid": objsubid}).first()
    if row is None:
        return ""
    pid, client, since = row
    on = f" on {client}" if client else ""
    at = f", since {since} UTC" if since else ""
    return f" (server process {pid}{on}{at})"


def _lock_timeout(conn: Connection) -> str:
    return str(conn.exec_driver_sql("SHOW lock_timeout").scalar())
