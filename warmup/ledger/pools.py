"""Mailbox pools (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core statements both
backends run): a named set of mailboxes a campaign is queued to, one of which the worker picks
for each message (:mod:`warmup.ledger.outbox` holds the queue). A pool's ``rev`` moves with
every change to it or its members' messages
(:func:`~warmup.ledger.outbox_targets.bump_pools`), which a running worker reads to see a
change; a pool with queued messages is removed, or loses a member, only with ``force``
(:func:`~warmup.ledger.outbox_targets.refuse_while_queued`)."""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError
from warmup.ledger.mailbox_store import MAILBOX_COLUMNS
from warmup.ledger.outbox_holds import end_holds
from warmup.ledger.outbox_targets import (
    bump_pools,
    new_rev,
    refuse_while_queued,
    release_waiting,
    target_lock,
)
from warmup.ledger.schema import MAILBOX, OUTBOX, POOL, POOL_MEMBER
from warmup.ledger.values import (
    MailboxRow,
    Overflow,
    PoolNotFound,
    PoolRow,
    mailbox_row,
    utc,
)

_T = TypeVar("_T")

# A pool's row and its members' (by address) by the pool's id, in one statement: one snapshot
# of both (its tag and its members are of one moment), one round trip, built once. The worker
# asks it up to three times a pass of a paced pool (the pass's look, the hold after the slot's
# message, the next message due): three statements each, it cost ~1 ms of CPU a time on SQLite.
_ROW = (
    POOL.c.id,
    POOL.c.name,
    POOL.c.reply_to,
    POOL.c.created_at,
    POOL.c.overflow_host,
    POOL.c.overflow_port,
    POOL.c.overflow_security,
    POOL.c.overflow_user,
    POOL.c.rev,
)
_BY_ID = (
    sa.select(*_ROW, *MAILBOX_COLUMNS)
    .select_from(
        POOL.outerjoin(POOL_MEMBER, POOL_MEMBER.c.pool_id == POOL.c.id).outerjoin(
            MAILBOX, MAILBOX.c.id == POOL_MEMBER.c.mailbox_id
        )
    )
    .where(POOL.c.id == sa.bindparam("pool_id"))
    .order_by(MAILBOX.c.address)
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class PoolStore:
    """Pools of mailboxes (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _mailbox(self, conn: Connection, address: str) -> MailboxRow: ...
        def _lock_present(self, conn: Connection, boxes: Iterable[MailboxRow]) -> None: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...

    def add_pool(
        self, name: str, addresses: Sequence[str], reply_to: bool | None, now: dt.datetime
    ) -> tuple[PoolRow, int, bool | None]:
        """Create pool ``name`` (or extend it) with these mailboxes; the pool, how many
        members were new, and the Reply-To setting it had when this call changed it (else
        None). ``reply_to`` None keeps the pool's setting (new pool: True). A new
        name only a case apart from an existing pool's is refused (DataError): 'Sales' and
        'sales' were two pools, and every later command naming one of them was a guess."""

        def body(conn: Connection) -> tuple[PoolRow, int, bool | None]:
            boxes = [self._mailbox(conn, a) for a in addresses]
            # Hosts creating or extending it take turns, in any case: two creating 'Sales' and
            # 'sales' at once would each find no other.
            self._turn(conn, name)
            self._lock_present(conn, boxes)  # none removed while it waited, nor until it commits
            pid = conn.execute(sa.select(POOL.c.id).where(POOL.c.name == name)).scalar()
            was: bool | None = None  # the Reply-To setting this call changed
            if pid is None:
                # Pairs a case apart that an older warmup made are left as they are: each is
                # still named exactly; only a new one is refused.
                other = conn.execute(
                    sa.select(POOL.c.name)
                    .where(sa.func.lower(POOL.c.name) == name.lower())
                    .order_by(POOL.c.name)
                    .limit(1)
                ).scalar()
                if other is not None:
                    raise DataError(
                        f"pool {other!r} exists already (pool names differ by more than "
                        f"case); add to it with 'warmup pool add {shlex.quote(other)} "
                        f"ADDRESS...', or choose another name"
                    )
                pid = conn.execute(
                    POOL.insert()
                    .values(
                        name=name,
                        reply_to=reply_to is not False,
                        created_at=utc(now),
                        rev=new_rev(),
                    )
                    .returning(POOL.c.id)
                ).scalar_one()
            elif reply_to is not None:
                had = conn.execute(sa.select(POOL.c.reply_to).where(POOL.c.id == pid)).scalar()
                if bool(had) != reply_to:
                    was = bool(had)
                conn.execute(POOL.update().where(POOL.c.id == pid).values(reply_to=reply_to))
            have = set(
                conn.execute(
                    sa.select(POOL_MEMBER.c.mailbox_id).where(POOL_MEMBER.c.pool_id == pid)
                ).scalars()
            )
            new = [b.id for b in dict.fromkeys(boxes) if b.id not in have]
            if new:
                conn.execute(POOL_MEMBER.insert(), [{"pool_id": pid, "mailbox_id": m} for m in new])
            if new or reply_to is not None:
                bump_pools(conn, POOL.c.id == pid)
            if new:  # a member with its own quota: what waits for the others may go now
                release_waiting(conn, new, now)
            return self._pool(conn, name), len(new), was

        return self.write_once(body)

    def _turn(self, conn: Connection, name: str) -> None:
        """Wait for the other writes of pool ``name`` (any case; names are ASCII, outbox.NAME)
        to end, before it is read: every write of a pool takes this lock first. At READ
        COMMITTED a write that read the pool before another's commit acted on what was gone:
        two 'pool remove P' at once each said "Removed pool P.", and a removal racing a
        'pool add P ADDRESS' ended one of them in a traceback (a member row with no pool)."""
        self._lock_name(conn, f"pool {name.lower()}")

    def _pool(self, conn: Connection, name: str) -> PoolRow:
        # No pool's name is other than ASCII (outbox.NAME); argv's bytes that are no UTF-8
        # (surrogate escapes) could not even be put in the query.
        pid = (
            conn.execute(sa.select(POOL.c.id).where(POOL.c.name == name)).scalar()
            if name.isascii()
            else None
        )
        pool = self._pool_by_id(conn, pid) if pid is not None else None
        if pool is None:
            other = (
                conn.execute(
                    sa.select(POOL.c.name)
                    .where(sa.func.lower(POOL.c.name) == name.lower())
                    .order_by(POOL.c.name)
                    .limit(1)
                ).scalar()
                if name.isascii()
                else None
            )
            raise PoolNotFound(name, other)
        return pool

    @staticmethod
    def _pool_by_id(conn: Connection, pool_id: int) -> PoolRow | None:
        """Pool ``pool_id`` and its members (:data:`_BY_ID`); None when there is none."""
        rows = conn.execute(_BY_ID, {"pool_id": pool_id}).all()
        if not rows:
            return None
        n = len(_ROW)
        pid, name, reply_to, created_at, host, port, security, user, rev = rows[0][:n]
        # A pool without members is one row whose member columns are all NULL.
        members = tuple(mailbox_row(m[n:]) for m in rows if m[n] is not None)
        overflow = Overflow(host, port, security, user) if host is not None else None
        return PoolRow(pid, name, bool(reply_to), created_at, members, overflow, rev)

    def set_overflow(self, name: str, overflow: Overflow | None, now: dt.datetime) -> PoolRow:
        """Give pool ``name`` this overflow channel (None: none); the pool as it is now. Its
        queued bulk messages waiting for a later slot become due ``now``: the channel may
        take them today."""
        values = {
            "overflow_host": overflow.host if overflow else None,
            "overflow_port": overflow.port if overflow else None,
            "overflow_security": overflow.security if overflow else None,
            "overflow_user": overflow.user if overflow else None,
        }

        def body(conn: Connection) -> PoolRow:
            self._turn(conn, name)
            pool = self._pool(conn, name)
            conn.execute(POOL.update().where(POOL.c.id == pool.id).values(rev=new_rev(), **values))
            if overflow is not None:
                end_holds(conn, pool_ids=[pool.id])  # its bulk ones held with the rest
                conn.execute(
                    OUTBOX.update()
                    .where(
                        OUTBOX.c.pool_id == pool.id,
                        OUTBOX.c.state == "queued",
                        OUTBOX.c.bulk == sa.true(),
                        OUTBOX.c.next_attempt_at > utc(now),
                        OUTBOX.c.not_before <= utc(now),
                    )
                    .values(next_attempt_at=utc(now))
                )
            return self._pool(conn, name)

        return self.write_once(body)

    def pool(self, name: str) -> PoolRow:
        """The pool and its members, or :class:`PoolNotFound` saying how to create it."""
        with self.read() as conn:
            return self._pool(conn, name)

    def pool_by_id(self, pool_id: int) -> PoolRow:
        """The pool whose id is ``pool_id`` and its members, or :class:`PoolNotFound`."""
        with self.read() as conn:
            pool = self._pool_by_id(conn, pool_id)
        if pool is None:
            raise PoolNotFound(f"#{pool_id}")
        return pool

    def pool_names(self) -> list[str]:
        """Every pool's name, sorted (shell completion's: no members read)."""
        with self.read() as conn:
            return list(conn.execute(sa.select(POOL.c.name).order_by(POOL.c.name)).scalars())

    def pools(self) -> list[PoolRow]:
        """Every pool, by name."""
        with self.read() as conn:
            names = conn.execute(sa.select(POOL.c.name).order_by(POOL.c.name)).scalars().all()
            return [self._pool(conn, n) for n in names]

    def remove_pool(self, name: str, force: bool, now: dt.datetime) -> int:
        """Delete the pool (its mailboxes stay). Refused while messages are queued to it unless
        ``force``, which cancels them (how many it returns); refused while one is being sent."""

        def body(conn: Connection) -> int:
            self._turn(conn, name)
            pool = self._pool(conn, name)
            self._lock_name(conn, target_lock("pool", pool.id))  # see enqueue
            refuse_while_queued(conn, OUTBOX.c.pool_id == pool.id, f"pool {name!r}", "pool", force)
            cancelled = conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.pool_id == pool.id, OUTBOX.c.state == "queued")
                .values(state="cancelled", last_reply=f"pool {name} removed", updated_at=utc(now))
            ).rowcount
            conn.execute(POOL_MEMBER.delete().where(POOL_MEMBER.c.pool_id == pool.id))
            conn.execute(POOL.delete().where(POOL.c.id == pool.id))
            end_holds(conn, pool_ids=[pool.id])
            return int(cancelled)

        return self.write_once(body)

    def remove_members(self, name: str, addresses: Sequence[str], force: bool) -> PoolRow:
        """Take these mailboxes out of pool ``name`` (the pool, the mailboxes and their
        history stay); the pool as it is now. Before this, the only way out of a pool was
        'mailbox remove', which deletes the mailbox's warm-up history with it. Refused (unless
        ``force``) when it would leave the pool's queued messages with no member to send them."""

        def body(conn: Connection) -> PoolRow:
            self._turn(conn, name)
            pool = self._pool(conn, name)
            members = {m.id for m in pool.members}
            # Each looked up first: NotFound says how to add a mailbox this ledger lacks.
            leaving = {b.id: b.address for b in (self._mailbox(conn, a) for a in addresses)}
            for box_id, address in leaving.items():
                if box_id not in members:
                    names = ", ".join(m.address for m in pool.members) or "none"
                    raise DataError(
                        f"mailbox {address} is not a member of pool {pool.name} (its members: "
                        f"{names}); see 'warmup pool show {pool.name}'"
                    )
            if set(leaving) == members and not force:
                waiting = conn.execute(
                    sa.select(sa.func.count()).where(
                        OUTBOX.c.pool_id == pool.id, OUTBOX.c.state == "queued"
                    )
                ).scalar_one()
                if waiting:
                    from warmup.words import plural

                    them = "them" if waiting > 1 else "it"
                    raise DataError(
                        f"pool {pool.name} has {plural(waiting, 'queued message')} and would "
                        f"be left with no member to send {them}; add another member first "
                        f"('warmup pool add {pool.name} ADDRESS'), or add --force (its "
                        f"messages then wait for a member)"
                    )
            # A worker's copy of the pool must not offer a leaving member the next message.
            bump_pools(conn, POOL.c.id == pool.id)
            conn.execute(
                POOL_MEMBER.delete().where(
                    POOL_MEMBER.c.pool_id == pool.id,
                    POOL_MEMBER.c.mailbox_id.in_(list(leaving)),
                )
            )
            return self._pool(conn, name)

        return self.write_once(body)

    # -- queueing ----------------------------------------------------------------------------
