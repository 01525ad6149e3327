"""What happened: recording sends, bounces and events, and the rollup (a mixin of
:class:`warmup.ledger.Ledger`, on SQLAlchemy Core statements both backends run). Which send a
bounce answers is :mod:`warmup.ledger.matching`'s; who is never mailed again,
:mod:`warmup.ledger.suppressions`'.

Every write here lands in one transaction with the rollup it changes (``day_stat``, bumped for
each send and each *counted* bounce) and bumps the mailbox's ``rev`` when it lands on a day
before today (:meth:`Records._touch`), so no walk memo outlives the past it summarised (a memo
of an earlier day, which never read the day written, is carried to the new ``rev``). A bounce
counts only when it answers a send of its mailbox, and only the first of each send
(DESIGN invariant 8); one that answers nothing is kept and listed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError
from warmup.ledger.matching import Matching, match_terms, send_day_of
from warmup.ledger.outbox_targets import release_waiting
from warmup.ledger.reads import counts, rate_counts, rate_kind
from warmup.ledger.schema import (
    BOUNCE,
    COUNT_COLUMNS,
    COUNTED,
    DAY_STAT,
    DOMAIN_DAY,
    EVENT,
    MAILBOX,
    RECORDED_KINDS,
    SEND,
    SUPPRESSION,
    SYNC_STATE,
    TIMELINE_CACHE,
    WALK_MEMO,
)
from warmup.ledger.values import (
    PER_SEND_KEPT,
    UNMATCHED_KEPT,
    BounceIn,
    BounceResult,
    EventIn,
    MailboxRow,
    Recorded,
    SendIn,
    hashed_local,
    local_day,
    match_window,
    opt_out,
    other_message_id,
    send_key,
    utc,
)

_T = TypeVar("_T")

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from warmup.ledger.imports import SendRow

_STATEMENTS: dict[tuple[type, str, str], Any] = {}
_B = sa.bindparam

# Built once: an expression built per call (``SEND.c.key.in_(...)``) cost more than running it.
_SEND_IDS = sa.text("SELECT key, id FROM send WHERE mailbox_id = :mid AND key IN :keys").bindparams(
    sa.bindparam("keys", expanding=True)
)


class Records(Matching):
    """The write side of the ledger (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def real_today(self, tz: str) -> dt.date: ...
        def _lock_present(self, conn: Connection, boxes: Iterable[MailboxRow]) -> None: ...
        def _insert(self, table: sa.Table) -> Any: ...
        def _sql_domain(self, column: Any) -> Any: ...
        def _mailbox(self, conn: Connection, address: str) -> MailboxRow: ...
        def _insert_sends(self, conn: Connection, rows: list[SendRow]) -> None: ...

    def record(
        self,
        box: MailboxRow,
        sends: Sequence[SendIn] = (),
        bounces: Sequence[BounceIn] = (),
        events: Sequence[EventIn] = (),
        committing: Callable[[], object] | None = None,
    ) -> Recorded:
        """Record sends made elsewhere, bounces and events of ``box`` in one transaction.

        Idempotent: a send is keyed on Message-ID + recipient (else instant + recipient), a
        bounce on its ``key``, an event on (kind, instant); recording again adds nothing.
        ``committing``: called once the rows are written, before the COMMIT.
        """

        def body(conn: Connection) -> Recorded:
            self._lock_present(conn, [box])
            done = self._record(conn, box, sends, bounces, events)
            if committing is not None:
                committing()
            return done

        def landed(conn: Connection, _: Recorded) -> bool:
            return self._recorded(conn, box, sends, bounces, events)

        # A send recorded at "now" is keyed on that instant: the command run again after a cut
        # in this COMMIT (exit 75, "try again") recorded it twice.
        return self.write_once(body, landed)

    def _recorded(
        self,
        conn: Connection,
        box: MailboxRow,
        sends: Sequence[SendIn],
        bounces: Sequence[BounceIn],
        events: Sequence[EventIn],
    ) -> bool:
        """Whether everything :meth:`record` writes is in the ledger (its commit landed)."""
        keys = [
            (
                send_key(s.recipient, utc(s.at), s.message_id),
                f"{other_message_id(s.message_id)}|{s.recipient}" if s.message_id else "",
            )
            for s in sends
        ]
        have = self._send_ids(conn, box, [k for pair in keys for k in pair if k]) if keys else {}
        if any(key not in have and other not in have for key, other in keys):
            return False
        if bounces:
            found = conn.execute(
                sa.select(sa.func.count())
                .select_from(BOUNCE)
                .where(BOUNCE.c.mailbox_id == box.id, BOUNCE.c.key.in_({b.key for b in bounces}))
            ).scalar_one()
            if found < len({b.key for b in bounces}):
                return False
        return all(
            conn.execute(
                sa.select(EVENT.c.id).where(
                    EVENT.c.mailbox_id == box.id, EVENT.c.kind == e.kind, EVENT.c.at == utc(e.at)
                )
            ).first()
            for e in events
        )

    def add_event(
        self,
        box: MailboxRow,
        kind: str,
        at: dt.datetime,
        reason: str = "",
        until: dt.datetime | None = None,
    ) -> None:
        """A pause, resume or provider back-off of ``box`` at ``at``."""

        def body(conn: Connection) -> None:
            self._lock_present(conn, [box])
            self._event(conn, box, EventIn(kind, at, reason, until), once=False)
            if kind == "resume":  # what waited for the pause's end may go now
                release_waiting(conn, [box.id], at)

        return self.write_once(body)

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
        room: dict[int, int] = {}
        for b in bounces:
            out.add(self._bounce_result(self._bounce(conn, box, b, room=room)))
        for e in events:
            out.events += self._event(conn, box, e, once=True)
        return out

    def _sends(
        self, conn: Connection, box: MailboxRow, sends: Sequence[SendIn]
    ) -> tuple[int, dict[str, int]]:
        """Insert sends made elsewhere in one statement (idempotent on their keys) and count
        them in the rollup: how many were new, and their ids by key."""
        rows: dict[str, SendRow] = {}
        for s in sends:
            at = utc(s.at)
            key = send_key(s.recipient, at, s.message_id)
            if key not in rows:
                day = local_day(at, box.timezone)
                rows[key] = (box.id, s.recipient, s.message_id, at, day, "sent", s.source, key, at)
        # Which keys are new, read in one query, then a plain executemany: RETURNING every row
        # cost an import most of its time (SQLAlchemy's per-row "insertmanyvalues" work). The
        # mailbox is locked by the caller, so nothing else inserts these keys meanwhile.
        # A Message-ID written the other way (``<id>`` / ``id``) is the same message.
        other = {key: f"{other_message_id(r[2])}|{r[1]}" for key, r in rows.items() if r[2]}
        have = self._send_ids(conn, box, [*rows, *other.values()])
        fresh = [r for key, r in rows.items() if key not in have and other.get(key) not in have]
        if fresh:
            self._insert_sends(conn, fresh)
        per_day: dict[Any, int] = {}
        for r in fresh:
            per_day[r[4]] = per_day.get(r[4], 0) + 1
        if per_day:
            conn.execute(
                self._statement("bump", "sent"),
                [{"mid": box.id, "day": day, "by": n} for day, n in per_day.items()],
            )
            self._touch(conn, box, min(per_day))
            self._bump_domains(conn, ((box.id, r[4], r[1]) for r in fresh))
        linked = [send_key(s.recipient, s.at, s.message_id) for s in sends if s.bounce]
        ids = self._send_ids(conn, box, linked) if linked else {}
        return len(fresh), ids

    def _send_ids(self, conn: Connection, box: MailboxRow, keys: list[str]) -> dict[str, int]:
        """The ids of ``box``'s sends with these keys (those present)."""
        found = conn.execute(_SEND_IDS, {"mid": box.id, "keys": keys})
        return {row[0]: row[1] for row in found}

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

        The mailbox's ``rev`` moves (a gate reopens on it), once per mailbox and transaction (an
        import writes thousands of past rows). Its walk memo (and the report's memo, alike)
        holds the walk at the start of its ``upto``, from the days before: one of ``day`` or
        earlier did not read this write and stays valid, carried to the new ``rev``. Without that, a bounce synced this morning for
        a send of yesterday (every day, for most mailboxes) made the next question walk the
        mailbox's whole history again. A later write of the same transaction on an earlier day
        drops the memo it no longer matches.

        A write on today (or later) needs no new ``rev``: memos are kept only for days before
        yesterday. Only by the keeper's clock, though: a host whose clock ran days ahead kept
        one of a day still ahead here, which closed today without the sends made today; it is
        dropped (any memo that closed ``day``), or, once that day came, it was resumed as if the
        mailbox had been idle (``tests/test_memo_clock_ahead.py``)."""
        if day >= self.real_today(box.timezone):
            for memo in (WALK_MEMO, TIMELINE_CACHE):
                conn.execute(memo.delete().where(memo.c.mailbox_id == box.id, memo.c.upto > day))
            return
        txn = conn.get_transaction()
        seen: tuple[object, dict[int, dt.date]] | None = conn.info.get("warmup.touched")
        if seen is None or seen[0] is not txn:
            seen = conn.info["warmup.touched"] = (txn, {})
        earliest = seen[1].get(box.id)
        if earliest is None:
            seen[1][box.id] = day
            conn.execute(
                MAILBOX.update().where(MAILBOX.c.id == box.id).values(rev=MAILBOX.c.rev + 1)
            )
            rev_now = sa.select(MAILBOX.c.rev).where(MAILBOX.c.id == box.id).scalar_subquery()
            for memo in (WALK_MEMO, TIMELINE_CACHE):  # quota's memo and the report's
                w = memo.c
                conn.execute(
                    memo.update()
                    .where(w.mailbox_id == box.id, w.upto <= day, w.rev == rev_now - 1)
                    .values(rev=w.rev + 1)
                )
        elif day < earliest:
            seen[1][box.id] = day
            for memo in (WALK_MEMO, TIMELINE_CACHE):
                conn.execute(memo.delete().where(memo.c.mailbox_id == box.id, memo.c.upto > day))

    def _bump(
        self, conn: Connection, box: MailboxRow, day: dt.date, column: str, by: int = 1
    ) -> None:
        """Add ``by`` to one count of the day's rollup row (created if missing): ``sent``, or
        a counted bounce's kind, as :func:`rate_kind` counts it (a stored one this version
        lacks, matched again, was a KeyError)."""
        if column != "sent":
            counted = rate_kind(column)
            if counted is None:  # a kind never counted (a hand edit left it counted)
                return
            column = counted
        conn.execute(self._statement("bump", column), {"mid": box.id, "day": day, "by": by})
        self._touch(conn, box, day)

    def _bump_domains(
        self, conn: Connection, sends: Iterable[tuple[int, dt.date, str]], by: int = 1
    ) -> None:
        """Add ``by`` for each ``(mailbox id, day, recipient)`` to the ``domain_day`` rollup,
        one row per recipient domain (as SQL reads it from the address: ``_sql_domain``)."""
        counts = Counter((m, d, r.split("@", 1)[-1]) for m, d, r in sends)
        if counts:
            conn.execute(
                self._statement("bump_domain"),
                [
                    {"mid": m, "day": d, "domain": domain, "by": n * by}
                    for (m, d, domain), n in counts.items()
                ],
            )

    def _give_back_domain(self, conn: Connection, box: MailboxRow, sid: int, day: dt.date) -> None:
        """Slot ``sid`` of ``box`` (on ``day``) was released: its domain's row counts one less."""
        conn.execute(self._statement("unbump_domain"), {"mid": box.id, "on": day, "sid": sid})

    def _build_bump_domain(self, _: str) -> Any:
        ins = self._insert(DOMAIN_DAY).values(
            mailbox_id=_B("mid"),
            day=_B("day"),
            domain=sa.func.lower(_B("domain")),  # the backend's lower(), as _sql_domain's
            sent=_B("by"),
        )
        return ins.on_conflict_do_update(
            index_elements=["mailbox_id", "day", "domain"],
            set_={"sent": DOMAIN_DAY.c.sent + ins.excluded.sent},
        )

    def _build_unbump_domain(self, _: str) -> Any:
        d = DOMAIN_DAY.c
        slot = sa.select(self._sql_domain(SEND.c.recipient)).where(SEND.c.id == _B("sid"))
        return (
            DOMAIN_DAY.update()
            .where(d.mailbox_id == _B("mid"), d.day == _B("on"), d.domain == slot.scalar_subquery())
            .values(sent=d.sent - 1)
        )

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
                        "original_recipient",
                        "original_from",
                        "original_date",
                        "unverified",
                        "report",
                        "redacted",
                    )
                },
                send_day=send_day_of(_B("send_id")),
            )
            .on_conflict_do_nothing(index_elements=["mailbox_id", "key"])
            .returning(BOUNCE.c.id)
        )

    def _send_id(self, conn: Connection, box: MailboxRow, key: str) -> int | None:
        return conn.execute(
            sa.select(SEND.c.id).where(SEND.c.mailbox_id == box.id, SEND.c.key == key)
        ).scalar()

    def _bounce(
        self,
        conn: Connection,
        box: MailboxRow,
        b: BounceIn,
        send_id: int | None = None,
        room: dict[int, int] | None = None,
    ) -> BounceResult:
        """Insert one bounce (idempotent on its key); count it if it answers a send of ``box``
        no other counted bounce answers; suppress a hard bounce's or complaint's address.

        A delay warning (kind ``delayed``) or an ARF report that is no complaint (kind
        ``notice``) is matched and kept but never counted, nor suppresses: after a warning a failure
        reported later for the same send is its first counted bounce. A report whose failed
        recipient the mailbox never mailed, but whose original recipient it did (an alias
        forwarded the message), is recorded and matched under the address mailed. One read from
        a mailbox that counts nothing is not kept past the mailbox's UNMATCHED_KEPT answering no
        send, or its send's PER_SEND_KEPT (:meth:`_beyond_kept`); ``room``: how many more
        answering no send each mailbox keeps, as this transaction has counted them."""
        if b.kind not in RECORDED_KINDS:
            raise DataError(f"bounce kind {b.kind!r}: expected one of {', '.join(RECORDED_KINDS)}")
        sid = send_id if send_id is not None else b.send_id
        at = b.at
        recipient = b.recipient
        unverified = None
        redacted = b.redacted
        if sid is None:
            # A feedback report (a complaint, or a notice: auth-failure, not-spam) names the
            # message it is about: it answers that Message-ID only.
            by_id_only = (
                b.kind in ("complaint", "notice")
                and not b.trusted
                and not opt_out(b.kind, b.diagnostic)
            )
            # A feedback loop may redact by hashing the local part (RFC 6590): an address of
            # that form the mailbox never mailed is such a placeholder. One it did mail is an
            # address, matched as any: a complaint answers only the Message-ID it names.
            redacted = redacted or (
                by_id_only and hashed_local(recipient) and not self._mailed(conn, box, recipient)
            )
            if redacted:
                recipient = self._unredacted(conn, box, b.message_id)
            else:
                recipient = self._addressed(conn, box, recipient, b.original_recipient)
            window = match_window(b.kind, b.source, b.diagnostic)
            said = match_terms(b.original_from, b.original_date, by_id_only, window)
            sid, sent_at = self._match(conn, box, recipient, b.message_id, b.at, **said)
            if sid is None:
                unverified = self._unverified(conn, box, recipient, b.message_id, b.at, **said)
            else:  # None: listed with why (``history._why_not_counted``)
                sid, sent_at = self._of_report(conn, box, b, recipient, (sid, sent_at), said)
            if sent_at is not None and sent_at > at:
                at = sent_at  # a bounce never comes before the send it answers
        if b.untimed and self._recorded_by_hand(conn, box, b, sid, recipient):
            return BounceResult(False, sid is not None, False, recipient)

        counted = (
            sid is not None
            and counts(b.kind, b.diagnostic)
            and self._first_of_send(conn, sid, b.kind)
        )
        if not b.trusted and not counted and self._beyond_kept(conn, box, b, sid, recipient, room):
            fresh = conn.execute(
                sa.select(BOUNCE.c.id).where(BOUNCE.c.mailbox_id == box.id, BOUNCE.c.key == b.key)
            ).first()
            return BounceResult(False, sid is not None, False, recipient, dropped=fresh is None)
        day = local_day(at, box.timezone)
        new_id = conn.execute(
            self._statement("bounce"),
            {
                "mailbox_id": box.id,
                "send_id": sid,
                "recipient": recipient,
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
                "original_recipient": b.original_recipient or None,
                "original_from": b.original_from or None,
                "original_date": b.original_date.isoformat() if b.original_date else None,
                "unverified": unverified,
                "report": b.report,
                "redacted": redacted,
            },
        ).scalar()
        if new_id is None:
            return BounceResult(False, sid is not None, False, recipient)
        if sid is None and not b.trusted and room is not None and box.id in room:
            room[box.id] -= 1
        if counted:
            self._bump(conn, box, day, b.kind)
        if b.kind in ("hard", "complaint") and recipient and (sid is not None or b.trusted):
            self._suppress(
                conn, recipient, b.kind, f"{b.kind} bounce {b.status or ''}".strip(), box.id, at
            )
        return BounceResult(True, sid is not None, counted, recipient)

    def _beyond_kept(
        self,
        conn: Connection,
        box: MailboxRow,
        b: BounceIn,
        sid: int | None,
        recipient: str,
        room: dict[int, int] | None,
    ) -> bool:
        """Whether ``b``, read from a mailbox and counting nothing, is past what the ledger
        keeps: UNMATCHED_KEPT bounces of ``box`` read from a mailbox that answer no send, or
        PER_SEND_KEPT of send ``sid`` (unless it suppresses an address not yet suppressed)."""
        if sid is not None:
            if b.kind in ("hard", "complaint") and recipient:
                listed = sa.select(SUPPRESSION.c.id).where(SUPPRESSION.c.address == recipient)
                if conn.execute(listed).first() is None:
                    return False
            same = sa.select(BOUNCE.c.id).where(BOUNCE.c.send_id == sid).limit(PER_SEND_KEPT)
            return _count(conn, same) >= PER_SEND_KEPT
        left = room.get(box.id) if room is not None else None
        if left is None:
            kept = (
                sa.select(BOUNCE.c.id)
                .where(
                    BOUNCE.c.mailbox_id == box.id,
                    BOUNCE.c.send_id.is_(None),
                    BOUNCE.c.source == b.source,
                )
                .limit(UNMATCHED_KEPT)
            )
            left = UNMATCHED_KEPT - _count(conn, kept)
            if room is not None:
                room[box.id] = left
        return left <= 0

    def _recorded_by_hand(
        self, conn: Connection, box: MailboxRow, b: BounceIn, sid: int | None, recipient: str
    ) -> bool:
        """Whether a bounce recorded by hand answers send ``sid`` (None: answers no send, at
        ``recipient``) with ``b``'s kind and status: ``record bounce`` run again without
        ``--at`` stored a second row at a new "now", listed as a second report of its send."""
        same = sa.and_(
            BOUNCE.c.mailbox_id == box.id,
            BOUNCE.c.source == "record",
            BOUNCE.c.kind == b.kind,
            BOUNCE.c.status.is_not_distinct_from(b.status),
            BOUNCE.c.send_id == sid
            if sid is not None
            else sa.and_(BOUNCE.c.send_id.is_(None), BOUNCE.c.recipient == recipient),
        )
        return conn.execute(sa.select(BOUNCE.c.id).where(same).limit(1)).first() is not None

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

    def _rebuild_rollup(self, conn: Connection, ids: Sequence[int]) -> None:
        """Recompute ``day_stat`` and ``domain_day`` of these mailboxes from the raw rows."""
        conn.execute(DAY_STAT.delete().where(DAY_STAT.c.mailbox_id.in_(ids)))
        conn.execute(DOMAIN_DAY.delete().where(DOMAIN_DAY.c.mailbox_id.in_(ids)))
        domain = self._sql_domain(SEND.c.recipient)
        conn.execute(
            DOMAIN_DAY.insert().from_select(
                ["mailbox_id", "day", "domain", "sent"],
                sa.select(SEND.c.mailbox_id, SEND.c.day, domain, sa.func.count())
                .where(SEND.c.mailbox_id.in_(ids), COUNTED)
                .group_by(SEND.c.mailbox_id, SEND.c.day, domain),
            )
        )
        rows: dict[tuple[int, dt.date], dict[str, int]] = {}
        for m, d, n in conn.execute(
            sa.select(SEND.c.mailbox_id, SEND.c.day, sa.func.count())
            .where(SEND.c.mailbox_id.in_(ids), COUNTED)
            .group_by(SEND.c.mailbox_id, SEND.c.day)
        ):
            rows[(m, d)] = {"sent": n}
        counted = conn.execute(
            sa.select(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind, sa.func.count())
            .where(BOUNCE.c.mailbox_id.in_(ids), BOUNCE.c.counted)
            .group_by(BOUNCE.c.mailbox_id, BOUNCE.c.day, BOUNCE.c.kind)
        )
        for (m, d), by_kind in rate_counts(counted).items():  # a kind this version lacks too
            rows.setdefault((m, d), {}).update(by_kind)
        if rows:
            conn.execute(
                DAY_STAT.insert(),
                [
                    {"mailbox_id": m, "day": d, **{c: v.get(c, 0) for c in COUNT_COLUMNS}}
                    for (m, d), v in rows.items()
                ],
            )
        conn.execute(MAILBOX.update().where(MAILBOX.c.id.in_(ids)).values(rev=MAILBOX.c.rev + 1))

    def record_synced(
        self,
        box: MailboxRow,
        folder: str,
        uidvalidity: int,
        last_uid: int,
        bounces: Sequence[BounceIn] = (),
    ) -> Recorded:
        """Record a batch of bounces read from ``folder`` and the position reached, in one short
        transaction (a resumed sync goes on from there and records nothing twice). Cut before
        its COMMIT, written again on a new connection; cut in it, the server is asked whether
        it landed (before: exit 75, and the sync run again)."""

        def body(conn: Connection) -> Recorded:
            self._lock_present(conn, [box])
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

        return self.write_once(body)


def _count(conn: Connection, rows: sa.Select[Any]) -> int:
    """How many rows ``rows`` (a select bounded by its LIMIT) gives."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(rows.subquery())).scalar() or 0)
