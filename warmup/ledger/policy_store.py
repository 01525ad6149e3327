"""Stored policies (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core statements
both backends run): the TOML text of each version under its name, the newest of each with the
mailboxes that follow it, the versions a mailbox's ``policy`` events name
(:mod:`warmup.policy.eras`), and storing a new policy or version, which marks the change on
each mailbox that follows it (a ``policy`` event; its memos go, its waiting messages are
released).
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, NotFound
from warmup.ledger.mailbox_store import MAILBOX_COLUMNS
from warmup.ledger.outbox_targets import release_waiting
from warmup.ledger.schema import EVENT, MAILBOX, POLICY
from warmup.ledger.values import EventIn, MailboxRow, mailbox_row, utc
from warmup.policy.eras import policy_reason

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

_IDS_CHUNK = 500  # mailbox ids per IN list
_T = TypeVar("_T")


class PolicyStore:
    """Stored policies (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...
        def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None: ...
        def _event(self, conn: Connection, box: MailboxRow, e: EventIn, once: bool) -> bool: ...

    def policy_names(self) -> list[str]:
        """Every stored policy's name, sorted (shell completion's)."""
        p = POLICY.c
        with self.read() as conn:
            return list(conn.execute(sa.select(p.name).distinct().order_by(p.name)).scalars())

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
        if not name.isascii():  # no stored name is (policies.NAME); argv's undecoded bytes, say
            return None
        p = POLICY.c
        with self.read() as conn:
            row = conn.execute(
                sa.select(p.version, p.text)
                .where(p.name == name)
                .order_by(p.version.desc())
                .limit(1)
            ).first()
        return (row.version, row.text) if row else None

    def policy_versions(self, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The TOML text of each stored policy version ``(name, version)`` of ``wanted`` that
        is in the ledger (the versions a mailbox's ``policy`` events name:
        :mod:`warmup.policy.eras`)."""
        wanted = set(wanted)
        names = sorted({n for n, _ in wanted})
        if not names:
            return {}
        p = POLICY.c
        with self.read() as conn:
            rows = conn.execute(sa.select(p.name, p.version, p.text).where(p.name.in_(names)))
            return {(n, v): t for n, v, t in rows if (n, v) in wanted}

    def eras_naming(
        self, ids: Sequence[int], words: Sequence[str]
    ) -> tuple[dict[tuple[str, int], str], dict[int, list[str]]]:
        """The stored policy versions whose TOML text holds one of ``words`` (``domain_cap``)
        and, only when there are any, the reasons of the ``policy`` events of the mailboxes
        ``ids`` (which policies each followed: :func:`warmup.policies.capped_before`). Usually
        one statement on the small policy table."""
        p, e = POLICY.c, EVENT.c
        with self.read() as conn:
            rows = conn.execute(
                sa.select(p.name, p.version, p.text).where(
                    sa.or_(*(p.text.contains(w, autoescape=True) for w in words))
                )
            )
            texts = {(n, v): t for n, v, t in rows}
            reasons: dict[int, list[str]] = {}
            if not texts:
                return texts, reasons
            for k in range(0, len(ids), _IDS_CHUNK):
                part = list(ids[k : k + _IDS_CHUNK])
                stmt = sa.select(e.mailbox_id, e.reason).where(
                    e.kind == "policy", e.mailbox_id.in_(part)
                )
                for mailbox_id, reason in conn.execute(stmt):
                    reasons.setdefault(mailbox_id, []).append(reason)
            return texts, reasons

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
        event at ``at``, so reports show when it changed), unless ``text`` is its newest version's
        (that version is returned, nothing stored); otherwise a new name, refused if taken.
        """
        when = utc(at or dt.datetime.now(dt.UTC))
        # Cut in its COMMIT's round trip, the version may be in: asked of the server (before:
        # exit 75, and run again, 'policy add' refused the policy it had stored: "exists").
        return self.write_once(
            lambda conn: self._store_policy(conn, name, text, source, replace, when)
        )

    def _store_policy(
        self,
        conn: Connection,
        name: str,
        text: str,
        source: str | None,
        replace: bool,
        when: dt.datetime,
    ) -> int:
        """:meth:`store_policy`, in its transaction."""
        following = sa.select(*MAILBOX_COLUMNS).where(MAILBOX.c.policy == name)
        self._lock_mailboxes(conn, [r.id for r in conn.execute(following)])
        # Read again under the locks: one removed meanwhile by another host got an event
        # naming a row that was gone (foreign key: a traceback).
        users = [mailbox_row(r) for r in conn.execute(following)]
        self._lock_name(conn, f"policy {name}")  # hosts storing one name take turns
        current = conn.execute(
            sa.select(sa.func.max(POLICY.c.version)).where(POLICY.c.name == name)
        ).scalar()
        if current is not None and not replace:
            raise DataError(
                f"policy {name!r} exists already; change it with "
                f"'warmup policy set {shlex.quote(name)} FILE'"
            )
        if current is None and replace:
            raise NotFound(
                f"policy {name!r} not found; add it with "
                f"'warmup policy add {shlex.quote(name)} FILE'"
            )
        newest = conn.execute(
            sa.select(POLICY.c.text).where(POLICY.c.name == name, POLICY.c.version == current)
        ).scalar()
        if replace and current is not None and newest == text:
            # the same text again: no new version, nor a change marked on its mailboxes
            return int(current)
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
            release_waiting(conn, [box.id], dt.datetime.now(dt.UTC))
            self._event(
                conn,
                box,
                EventIn("policy", when, policy_reason(name, version, (name, current))),
                once=False,
            )
        return version
