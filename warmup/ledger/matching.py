"""Which send a bounce answers: matching a recorded bounce to a send of its mailbox, now or
later (a report read before its send was recorded), and undoing a link when a slot is given
back (a mixin of :class:`warmup.ledger.Ledger`, through :class:`~warmup.ledger.records.Records`).

A bounce answers a send of its own mailbox only: by the Message-ID it names, else by recipient
and time, checked against the From and Date of the original it returns; a report is about one
message (:meth:`Matching._other_message`). Only the first counted bounce of a send counts
(DESIGN invariant 8); a hard bounce or complaint linked to a send suppresses its address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.reads import counts
from warmup.ledger.schema import BOUNCE, COUNTED, SEND, SUPPRESSION
from warmup.ledger.suppressions import Suppressions
from warmup.ledger.values import (
    MATCH_WINDOW,
    REPORT_SKEW,
    RETURNED_DATE_AFTER,
    RETURNED_DATE_BEFORE,
    MailboxRow,
    id_forms,
    local_day,
    match_window,
    named_only,
    utc,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

# Addresses per query of the sends to them (far below any backend's limit on parameters).
_ADDRESSES_PER_QUERY = 500


def _may_answer(
    box: MailboxRow,
    rows: Sequence[Any],
    sends: dict[str, list[tuple[str | None, dt.datetime]]],
    decided: dict[str, set[tuple[str, Any]]],
    sent_ids: set[str],
) -> set[int]:
    """The ids of the recorded bounces ``rows`` some send in ``sends`` (address -> its sends'
    (Message-ID, time)) might answer: a necessary condition of :meth:`Matching._match`, looser
    (either address of a bounce, without :meth:`Matching._addressed`'s choice between them;
    no preference among the candidates), so that only these need its queries. A send answers
    a bounce naming a Message-ID by having it; else, or when the send has none, by its time:
    within :func:`match_window` before the bounce or :data:`REPORT_SKEW` after it. ``decided``
    (a report -> the message, :func:`_message`, its linked bounces answer): a bounce of such a
    report answers only a send of that message (:meth:`Matching._other_message`), else the
    other recipients of a forged report were matched again, queries each, by every sync. A
    complaint whose recipient was redacted is tried when ``sent_ids`` (the Message-IDs, as
    sent, of the mailbox's sends) has the one it names (:meth:`Matching._unredacted`).

    One whose returned original disagrees with every send it would answer (``unverified``:
    why said once) is tried again only while a send could still answer it: never, when its
    original is from another sender; by time, only a send also made near the Date its
    original states (as :meth:`Matching._match` checks it). Else each was matched again by
    every sync, for ever: 10,000 forged reports naming the mailbox's leads, their original
    from anyone, cost each sync ~3 s before it read anything."""
    out: set[int] = set()
    for r in rows:
        forms = id_forms(r.message_id) if r.message_id else set()
        if r.redacted:  # matched by its Message-ID alone (``Matching._unredacted``)
            if forms & sent_ids:
                out.add(r.id)
            continue
        said_why = getattr(r, "unverified", None) is not None
        if said_why and r.original_from and not _from_box(r.original_from, box):
            continue
        near = _near(_dated(r.original_date)) if said_why else None
        low = r.at - match_window(r.kind, r.source, r.diagnostic)
        high = r.at + REPORT_SKEW
        candidates = [*sends.get(r.recipient or "", ()), *sends.get(r.original_recipient or "", ())]
        one = decided.get(r.report) if r.report else None
        if one is not None:
            candidates = [(mid, at) for mid, at in candidates if _message(mid, at) in one]
        if any(
            (mid is not None and mid in forms)
            or (
                (not r.message_id or mid is None)
                and low <= at <= high
                and (near is None or near[0] <= at <= near[1])
            )
            for mid, at in candidates
        ):
            out.add(r.id)
    return out


def _near(dated: dt.datetime | None) -> tuple[dt.datetime, dt.datetime] | None:
    """The times a send answered by recipient and time must be made between, for a report whose
    returned original is ``dated`` (None: no Date stated); none at the calendar's edge."""
    if dated is None:
        return None
    try:
        return dated - RETURNED_DATE_BEFORE, dated + RETURNED_DATE_AFTER
    except OverflowError:
        return (dt.datetime.max.replace(tzinfo=dt.UTC), dt.datetime.min.replace(tzinfo=dt.UTC))


def send_day_of(send_id: Any) -> Any:
    """``send.day`` of send ``send_id`` (a bind parameter or a column), as a scalar subquery:
    what ``bounce.send_day`` is set to with every write of ``bounce.send_id``, read from the
    send itself so that it is that send's day however the link was found."""
    return sa.select(SEND.c.day).where(SEND.c.id == send_id).scalar_subquery()


# What matching a recorded bounce to a send reads of it (a report matched again later).
_MATCHED_BY = (
    BOUNCE.c.id,
    BOUNCE.c.recipient,
    BOUNCE.c.original_recipient,
    BOUNCE.c.kind,
    BOUNCE.c.status,
    BOUNCE.c.message_id,
    BOUNCE.c.at,
    BOUNCE.c.original_from,
    BOUNCE.c.original_date,
    BOUNCE.c.source,
    BOUNCE.c.diagnostic,
    BOUNCE.c.report,
    BOUNCE.c.redacted,
)


def _dated(text: str | None) -> dt.datetime | None:
    """The stored Date of a bounce's returned original (ISO 8601 UTC), None if it had none."""
    return dt.datetime.fromisoformat(text) if text else None


def match_terms(
    sender: str | None,
    when: dt.datetime | None,
    stranger_complaint: bool = False,
    window: dt.timedelta = MATCH_WINDOW,
) -> dict[str, Any]:
    """The returned original's From and Date as :meth:`Matching._match` takes them, whether
    the bounce is a complaint read from a mailbox (matched only by the Message-ID it names),
    and how far back it answers a send by recipient and time (:func:`match_window`)."""
    return {
        "sender": sender or None,
        "dated": when,
        "named_only": stranger_complaint,
        "window": window,
    }


def _match_terms_of(r: Any) -> dict[str, Any]:
    """:func:`match_terms` of a stored bounce row (:data:`_MATCHED_BY`)."""
    return match_terms(
        r.original_from,
        _dated(r.original_date),
        named_only(r.kind, r.source, r.diagnostic),
        match_window(r.kind, r.source, r.diagnostic),
    )


class Matching(Suppressions):
    """Matching bounces to sends (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def read(self) -> AbstractContextManager[Connection]: ...
        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def _lock_mailboxes(self, conn: Connection, ids: Sequence[int]) -> None: ...
        def _bump(
            self, conn: Connection, box: MailboxRow, day: dt.date, column: str, by: int = 1
        ) -> None: ...
        def _give_back_domain(
            self, conn: Connection, box: MailboxRow, sid: int, day: dt.date
        ) -> None: ...

    def _who(self, conn: Connection, box: MailboxRow, r: Any) -> str:
        """The address the recorded bounce ``r`` (:data:`_MATCHED_BY`) is matched under: the
        recipient of the send its Message-ID names when its recipient was redacted, else
        :meth:`_addressed`'s."""
        if r.redacted:
            return self._unredacted(conn, box, r.message_id)
        return self._addressed(conn, box, r.recipient, r.original_recipient)

    @staticmethod
    def _unredacted(conn: Connection, box: MailboxRow, message_id: str | None) -> str:
        """The recipient of a complaint whose recipient the feedback loop redacted (RFC 6590):
        the one recipient of ``box``'s sends with the Message-ID it names, "" if it names none,
        no send of ``box`` has it, or that message went to several (which one complained is
        unknown). A Message-ID of ``box``'s is no stranger's guess: the report returns the
        message."""
        if not message_id:
            return ""
        found = conn.execute(
            sa.select(SEND.c.recipient)
            .where(
                SEND.c.mailbox_id == box.id,
                SEND.c.message_id.in_(sorted(id_forms(message_id))),
                COUNTED,
            )
            .distinct()
            .limit(2)
        ).all()
        return found[0].recipient if len(found) == 1 else ""

    def _of_report(
        self,
        conn: Connection,
        box: MailboxRow,
        r: Any,
        rcpt: str,
        found: tuple[int | None, dt.datetime | None],
        said: dict[str, Any],
        move: bool = True,
    ) -> tuple[int | None, dt.datetime | None]:
        """``found``, the send of ``box`` :meth:`_match` gave the bounce ``r`` to ``rcpt``, if
        it is the message ``r``'s report is about (:meth:`_other_message`); else the send of
        that message to ``rcpt`` when ``r`` names no Message-ID (matched by time, it took the
        latest send to ``rcpt``: one mailed again since the message to several recipients it
        is about); else ``found`` if its message answers every bounce of the report linked so
        far too (:meth:`_moved`: they are moved to it unless ``move`` is false); else (None,
        None)."""
        sid = found[0]
        if sid is None:
            return found
        other = self._other_message(conn, box, r.report, sid)
        if other is None:
            return found
        if r.message_id:
            return None, None
        if other[0]:
            alt, alt_at = self._match(conn, box, rcpt, other[0], r.at, **said)
            if alt is not None and _message(*self._message_of(conn, alt)) == _message(*other):
                return alt, alt_at
        return found if self._moved(conn, box, r.report, sid, move) else (None, None)

    def _moved(self, conn: Connection, box: MailboxRow, report: str, sid: int, move: bool) -> bool:
        """Whether the bounces of ``report`` linked so far (to the latest send to each of their
        recipients, naming no Message-ID: the first of them mailed again since the report's
        message) each answer a send of send ``sid``'s message too, their sends answered by no
        other bounce: the report is then about that message, which went to all of them, and
        with ``move`` they are linked to its sends (counted there, as they were where they
        were)."""
        mid, at = self._message_of(conn, sid)
        if not mid:
            return False
        linked = conn.execute(
            sa.select(*_MATCHED_BY, BOUNCE.c.send_id, BOUNCE.c.day, BOUNCE.c.counted).where(
                BOUNCE.c.mailbox_id == box.id,
                BOUNCE.c.report == report,
                BOUNCE.c.send_id.is_not(None),
            )
        ).all()
        moves = []
        for b in linked:
            if b.message_id:
                return False
            alt, sent_at = self._match(conn, box, b.recipient, mid, b.at, **_match_terms_of(b))
            if alt is None or _message(*self._message_of(conn, alt)) != _message(mid, at):
                return False
            moves.append((b, alt, sent_at))
        others = sa.exists().where(
            BOUNCE.c.send_id.in_(sorted({b.send_id for b in linked})),
            sa.or_(BOUNCE.c.report.is_(None), BOUNCE.c.report != report),
        )
        if not linked or conn.execute(sa.select(others)).scalar():
            return False
        for b, new_sid, sent_at in moves if move else ():
            conn.execute(
                BOUNCE.update()
                .where(BOUNCE.c.id == b.id)
                .values(send_id=None, send_day=None, counted=False)
            )
            if b.counted:
                self._bump(conn, box, b.day, b.kind, -1)
            self._link(conn, box, b, b.recipient, new_sid, sent_at)
        return True

    @staticmethod
    def _message_of(conn: Connection, sid: int) -> tuple[str | None, dt.datetime]:
        """(Message-ID, time) of send ``sid``."""
        got = conn.execute(sa.select(SEND.c.message_id, SEND.c.at).where(SEND.c.id == sid)).one()
        return got.message_id, got.at

    @classmethod
    def _other_message(
        cls, conn: Connection, box: MailboxRow, report: str | None, sid: int
    ) -> tuple[str | None, dt.datetime] | None:
        """(Message-ID, time) of a send of ``box`` that another bounce of ``report`` already
        answers, when it is another message than send ``sid``; else None. A report is about
        one message (RFC 3464: one DSN per message, several recipients only when that message
        went to several): the first of its recipients that answers a send (in the report's
        order; for one read before its sends were recorded, in the order they are linked)
        decides which, and the others answer only a send of that message. Else a forged
        report listing 800 of the mailbox's leads (one message each) counted 800 hard
        bounces, paused the mailbox and suppressed the leads. Two sends are one message when
        they have the same Message-ID, or, recorded without one, the same instant (one message
        to several recipients, imported). A bounce recorded before reports were kept
        (``report`` NULL) is judged alone, as before."""
        if not report:
            return None
        other = conn.execute(
            sa.select(SEND.c.message_id, SEND.c.at)
            .select_from(BOUNCE.join(SEND, SEND.c.id == BOUNCE.c.send_id))
            .where(BOUNCE.c.mailbox_id == box.id, BOUNCE.c.report == report, SEND.c.id != sid)
            .limit(1)
        ).first()
        if other is None or _message(*other) == _message(*cls._message_of(conn, sid)):
            return None
        return other.message_id, other.at

    @classmethod
    def _addressed(
        cls, conn: Connection, box: MailboxRow, recipient: str, original: str | None
    ) -> str:
        """The address a bounce is matched under: its failed recipient, or its original
        recipient when an alias forwarded the message (``box`` never mailed the one but did
        mail the other). The same rule now and at a late link."""
        if (
            original
            and original != recipient
            and not cls._mailed(conn, box, recipient)
            and cls._mailed(conn, box, original)
        ):
            return original
        return recipient

    @staticmethod
    def _mailed(conn: Connection, box: MailboxRow, recipient: str) -> bool:
        """Whether ``box`` has ever mailed ``recipient`` (a send that may have left)."""
        if not recipient:
            return False
        found = conn.execute(
            sa.select(SEND.c.id)
            .where(SEND.c.mailbox_id == box.id, SEND.c.recipient == recipient, COUNTED)
            .limit(1)
        ).first()
        return found is not None

    @staticmethod
    def _first_of_send(conn: Connection, sid: int, kind: str) -> bool:
        """Whether no counted bounce (or, for a complaint, no counted complaint) answers send
        ``sid`` yet: only the first of each counts."""
        same = BOUNCE.c.kind == "complaint" if kind == "complaint" else BOUNCE.c.kind != "complaint"
        return (
            conn.execute(
                sa.select(BOUNCE.c.id)
                .where(BOUNCE.c.send_id == sid, BOUNCE.c.counted, same)
                .limit(1)
            ).first()
            is None
        )

    def mailed_of(self, box: MailboxRow, bounces: Sequence[Any]) -> set[str]:
        """Which of the addresses ``bounces`` name (their recipient or original recipient)
        ``box`` has mailed, read outside any write transaction: a bounce naming no other
        answers no send."""
        with self.read() as conn:
            return set(self._sends_to(conn, box, bounces))

    def match_late(self, box: MailboxRow) -> int:
        """Link the unmatched bounces of ``box`` that answer a send recorded after them (a
        report read before `record send`, an import or a late settlement wrote its send),
        count the first of each send and suppress a hard bounce's or complaint's address, as
        :meth:`_bounce` would have; how many were linked. One such a send would answer but for
        its returned original (another From, a Date far from the send) gets the reason it is
        not counted (``unverified``), as :meth:`_bounce` gives it to one read after its send.

        Only bounces whose recipient (or original recipient, for a forwarded message) the
        mailbox has mailed are tried, under :meth:`_addressed`'s and :meth:`_match`'s rules (a
        report naming another Message-ID stays unmatched, however often it is tried); one
        linked under its original recipient is then recorded under it, as :meth:`_bounce`
        records it.
        """

        def mailed(address: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
            return sa.exists().where(
                SEND.c.mailbox_id == box.id, SEND.c.recipient == address, COUNTED
            )

        unmatched = (
            sa.select(*_MATCHED_BY, BOUNCE.c.unverified)
            .where(
                BOUNCE.c.mailbox_id == box.id,
                BOUNCE.c.send_id.is_(None),
                sa.or_(
                    sa.and_(BOUNCE.c.recipient != "", mailed(BOUNCE.c.recipient)),
                    mailed(BOUNCE.c.original_recipient),  # NULL: mailed by no send
                    sa.and_(BOUNCE.c.redacted == sa.true(), BOUNCE.c.message_id.is_not(None)),
                ),
            )
            .order_by(BOUNCE.c.id)
        )

        def answered(
            conn: Connection, r: Any, move: bool = True
        ) -> tuple[str, int | None, dt.datetime | None]:
            rcpt = self._who(conn, box, r)
            said = _match_terms_of(r)
            found = self._match(conn, box, rcpt, r.message_id, r.at, **said)
            return (rcpt, *self._of_report(conn, box, r, rcpt, found, said, move))

        def why_not(conn: Connection, r: Any) -> str | None:
            """Why ``r``, read before the send it would answer was recorded, is not linked to
            it (its returned original disagrees), as :meth:`_bounce` says it of one read
            after: else it was listed unmatched without a word. None when it does answer a
            send, and only its report's other recipients keep it from it."""
            rcpt = self._who(conn, box, r)
            said = _match_terms_of(r)
            if self._match(conn, box, rcpt, r.message_id, r.at, **said)[0] is not None:
                return None
            return self._unverified(conn, box, rcpt, r.message_id, r.at, **said)

        # Matched first in a read transaction: the reports that answer nothing (strangers'
        # mail about a recipient the mailbox wrote to) are tried again by every sync, and must
        # not hold the write lock a send waits for. Only those a send might answer are tried
        # (:func:`_may_answer`): a stranger's reports stay unmatched for ever, and matching
        # each costs queries.
        with self.read() as conn:
            rows = conn.execute(unmatched).all()
            hopeful = _may_answer(
                box,
                rows,
                self._sends_to(conn, box, rows),
                self._decided(conn, box, rows),
                self._sent_ids(conn, box, rows),
            )
            ids, reasons = [], {}
            for r in rows:
                if r.id not in hopeful:
                    continue
                if answered(conn, r, move=False)[1] is not None:
                    ids.append(r.id)
                elif r.unverified is None:  # said once: not asked again by every sync
                    why = why_not(conn, r)
                    if why is not None:
                        reasons[r.id] = why
        if not ids and not reasons:
            return 0  # the usual case: no write transaction

        def link(conn: Connection) -> int:
            linked = 0
            self._lock_mailboxes(conn, [box.id])
            for bid, why in reasons.items():
                conn.execute(
                    BOUNCE.update()
                    .where(BOUNCE.c.id == bid, BOUNCE.c.send_id.is_(None))
                    .values(unverified=why)
                )
            for r in conn.execute(unmatched.where(BOUNCE.c.id.in_(ids))).all():
                rcpt, sid, sent_at = answered(conn, r)
                if sid is None:
                    continue
                self._link(conn, box, r, rcpt, sid, sent_at)
                linked += 1
            return linked

        # Cut before its COMMIT, linked again on a new connection; cut in it, the server is
        # asked whether it landed (before: the sync exited 75 before reading a bounce).
        return self.write_once(link)

    @staticmethod
    def _sends_to(
        conn: Connection, box: MailboxRow, rows: Sequence[Any]
    ) -> dict[str, list[tuple[str | None, dt.datetime]]]:
        """(Message-ID, time) of the sends of ``box`` to each address ``rows`` (bounces)
        name as their recipient or original recipient, read in a few queries."""
        wanted = sorted({a for r in rows for a in (r.recipient, r.original_recipient) if a})
        out: dict[str, list[tuple[str | None, dt.datetime]]] = {}
        for i in range(0, len(wanted), _ADDRESSES_PER_QUERY):
            for s in conn.execute(
                sa.select(SEND.c.recipient, SEND.c.message_id, SEND.c.at).where(
                    SEND.c.mailbox_id == box.id,
                    SEND.c.recipient.in_(wanted[i : i + _ADDRESSES_PER_QUERY]),
                    COUNTED,
                )
            ):
                out.setdefault(s.recipient, []).append((s.message_id, s.at))
        return out

    @staticmethod
    def _decided(
        conn: Connection, box: MailboxRow, rows: Sequence[Any]
    ) -> dict[str, set[tuple[str, Any]]]:
        """The report of each of ``rows`` (bounces) that has a bounce linked to a send of
        ``box`` -> that send's message (:func:`_message`), on ``ix_bounce_report``."""
        reports = sorted({r.report for r in rows if r.report})
        out: dict[str, set[tuple[str, Any]]] = {}
        for i in range(0, len(reports), _ADDRESSES_PER_QUERY):
            for report, mid, at in conn.execute(
                sa.select(BOUNCE.c.report, SEND.c.message_id, SEND.c.at)
                .select_from(BOUNCE.join(SEND, SEND.c.id == BOUNCE.c.send_id))
                .where(
                    BOUNCE.c.mailbox_id == box.id,
                    BOUNCE.c.report.in_(reports[i : i + _ADDRESSES_PER_QUERY]),
                )
            ):
                out.setdefault(report, set()).add(_message(mid, at))
        return out

    @staticmethod
    def _sent_ids(conn: Connection, box: MailboxRow, rows: Sequence[Any]) -> set[str]:
        """The Message-IDs (as sent) of ``box``'s sends that the redacted complaints of
        ``rows`` name in any spelling."""
        forms = sorted(
            {f for r in rows if r.redacted and r.message_id for f in id_forms(r.message_id)}
        )
        out: set[str] = set()
        for i in range(0, len(forms), _ADDRESSES_PER_QUERY):
            out.update(
                conn.execute(
                    sa.select(SEND.c.message_id)
                    .where(
                        SEND.c.mailbox_id == box.id,
                        SEND.c.message_id.in_(forms[i : i + _ADDRESSES_PER_QUERY]),
                        COUNTED,
                    )
                    .distinct()
                ).scalars()
            )
        return out

    def _link(
        self,
        conn: Connection,
        box: MailboxRow,
        r: Any,
        rcpt: str,
        sid: int,
        sent_at: dt.datetime | None,
    ) -> None:
        """Link the recorded bounce ``r`` (its :data:`_MATCHED_BY` columns) to send ``sid``
        to ``rcpt``: counted on its day if it is the send's first of its kind, and a hard
        bounce or complaint suppresses the recipient."""
        at = max(r.at, sent_at) if sent_at is not None else r.at
        day = local_day(at, box.timezone)
        counted = counts(r.kind, r.diagnostic) and self._first_of_send(conn, sid, r.kind)
        conn.execute(
            BOUNCE.update()
            .where(BOUNCE.c.id == r.id)
            .values(
                send_id=sid,
                send_day=send_day_of(sid),
                recipient=rcpt,
                counted=counted,
                at=utc(at),
                day=day,
                unverified=None,
            )
        )
        if counted:
            self._bump(conn, box, day, r.kind)
        if r.kind in ("hard", "complaint"):
            reason = f"{r.kind} bounce {r.status or ''}".strip()
            self._suppress(conn, rcpt, r.kind, reason, box.id, at)

    def _released(self, conn: Connection, box: MailboxRow, sid: int, day: dt.date) -> None:
        """Slot ``sid`` of ``box`` (on ``day``) was just settled ``released``: nothing left, so
        it no longer counts against the day's quota, and no bounce read meanwhile answers it."""
        self._bump(conn, box, day, "sent", -1)
        self._give_back_domain(conn, box, sid, day)
        self._unanswer(conn, box, sid)

    def _unanswer(self, conn: Connection, box: MailboxRow, sid: int) -> None:
        """Slot ``sid`` of ``box`` was given back (``released``): nothing left, so no bounce
        answers it. A bounce matched to it while it was reserved (or of unknown fate) — one
        naming no Message-ID, which matches the latest send to its recipient — is unlinked and
        uncounted, then matched again as if read now (an earlier send to the recipient may be
        the one it answers). One read from a mailbox that answers nothing now no longer
        suppresses its address (DESIGN invariant 8): the suppression it made is removed."""
        rows = conn.execute(
            sa.select(*_MATCHED_BY, BOUNCE.c.day, BOUNCE.c.counted)
            .where(BOUNCE.c.send_id == sid, BOUNCE.c.mailbox_id == box.id)
            .order_by(BOUNCE.c.id)
        ).all()
        if not rows:
            return  # the usual case
        conn.execute(
            BOUNCE.update().where(BOUNCE.c.id.in_([r.id for r in rows])).values(
                send_id=None, send_day=None, counted=False
            )
        )  # fmt: skip
        for r in rows:
            if r.counted:
                self._bump(conn, box, r.day, r.kind, -1)
        for r in rows:
            rcpt = self._who(conn, box, r)
            said = _match_terms_of(r)
            found = self._match(conn, box, rcpt, r.message_id, r.at, **said)
            new_sid, sent_at = self._of_report(conn, box, r, rcpt, found, said)
            if new_sid is None:
                # Unless another bounce of the recipient still vouches for its suppression
                # (one that answers a send, or one a person recorded).
                vouched = sa.exists().where(
                    BOUNCE.c.recipient == r.recipient,
                    BOUNCE.c.kind.in_(("hard", "complaint")),
                    BOUNCE.c.id != r.id,
                    sa.or_(BOUNCE.c.send_id.is_not(None), BOUNCE.c.source != "imap"),
                )
                if (
                    r.source == "imap"
                    and r.kind in ("hard", "complaint")
                    and not conn.execute(sa.select(vouched)).scalar()
                ):
                    conn.execute(
                        SUPPRESSION.delete().where(
                            SUPPRESSION.c.address == r.recipient,
                            SUPPRESSION.c.mailbox_id == box.id,
                            SUPPRESSION.c.kind == r.kind,
                            SUPPRESSION.c.created_at == r.at,
                        )
                    )
                continue
            self._link(conn, box, r, rcpt, new_sid, sent_at)

    def _match(
        self,
        conn: Connection,
        box: MailboxRow,
        recipient: str,
        message_id: str | None,
        at: dt.datetime,
        sender: str | None = None,
        dated: dt.datetime | None = None,
        named_only: bool = False,
        window: dt.timedelta = MATCH_WINDOW,
    ) -> tuple[int | None, dt.datetime | None]:
        """(id, time) of the send of ``box`` a bounce answers: by original Message-ID (and
        recipient), whenever it was made; else the latest send to the recipient within
        ``window`` before ``at`` (:func:`~warmup.ledger.values.match_window`: a week for a
        report read from a mailbox), or failing one the first within :data:`REPORT_SKEW` after
        it (when the bounce names a Message-ID, only a send recorded without one: a send with
        another Message-ID is another message, and one another mailbox sent is that
        mailbox's); (None, None) if none.
        A released slot never left: nothing answers it. A bounce that names no recipient
        answers nothing, even when it quotes a send's Message-ID: it says nothing about that
        send's recipient.

        ``sender``, ``dated``: the From and Date of the original the report returns, when it
        shows them. Anyone can write a report about an address the mailbox mails; one whose
        original is from anyone but ``box`` answers none of its sends, and one dated answers,
        unless by a send's own Message-ID, only a send made near that Date
        (:data:`RETURNED_DATE_BEFORE` before it to :data:`RETURNED_DATE_AFTER` after it).

        ``named_only``: a complaint read from a mailbox answers only the send whose Message-ID
        it names. Every feedback loop returns the original (RFC 5965 requires it); one naming
        none, matched by recipient and time, let anyone who knows whom the mailbox wrote to
        charge it a complaint (a rate that pauses it at a fraction of a percent) and have a
        lead suppressed."""
        if not recipient or (sender is not None and not _from_box(sender, box)):
            return None, None
        if named_only and not message_id:
            return None, None
        if not self._mailed(conn, box, recipient):
            # Every way below needs a send to it: one look-up, not two to four, for each of the
            # 1,000 strangers' addresses a forged report may list.
            return None, None
        base = sa.select(SEND.c.id, SEND.c.at).where(SEND.c.mailbox_id == box.id, COUNTED)
        # The Date is checked where recipient and time alone would decide: a send's own
        # Message-ID is no stranger's guess, and a message its author dated may wait in the
        # outbox for weeks of quota (its reports were all unmatched, suppressing nothing).
        near: Any = None
        if dated is not None:
            try:
                low, high = dated - RETURNED_DATE_BEFORE, dated + RETURNED_DATE_AFTER
                near = sa.and_(SEND.c.at >= utc(low), SEND.c.at <= utc(high))
            except OverflowError:  # dated at the calendar's edge: no send was made near it
                near = sa.false()
        # A report is about a message a server accepted, never one our SMTP session saw refused
        # (its reply was that send's bounce): accepted sends first. A message deferred at RCPT
        # (4xx) and sent again keeps its Message-ID; a later message refused is no candidate
        # for a report naming none.
        refused = sa.case((SEND.c.outcome.in_(("soft", "hard", "block")), 1), else_=0)
        if message_id:
            forms = sorted(id_forms(message_id))
            found = conn.execute(
                base.where(
                    SEND.c.message_id.in_(forms),
                    SEND.c.recipient == recipient,
                )
                .order_by(refused, SEND.c.at.desc(), SEND.c.id.desc())
                .limit(1)
            ).first()
            if found is not None:
                return found.id, found.at
            # Another mailbox's message (one bounce address for several, or a copy): its
            # report, not one about a send of ``box`` recorded without a Message-ID.
            theirs = conn.execute(
                sa.select(SEND.c.id)
                .where(SEND.c.message_id.in_(forms), SEND.c.mailbox_id != box.id)
                .limit(1)
            ).first()
            if theirs is not None or named_only:
                return None, None
            # The bounce names its message, and no send of ``box`` to the recipient is that
            # message: it is about another (another mailbox's, or made up by whoever knows
            # whom the mailbox writes to). Only a send recorded without a Message-ID may
            # still be the one it answers.
            base = base.where(SEND.c.message_id.is_(None))
        if near is not None:
            base = base.where(near)
        to = base.where(SEND.c.recipient == recipient)
        row = conn.execute(
            to.where(SEND.c.at <= utc(at), SEND.c.at >= utc(at - window))
            .order_by(refused, SEND.c.at.desc())
            .limit(1)
        ).first()
        if row is None:  # dated a moment before its send (REPORT_SKEW): the first one after
            row = conn.execute(
                to.where(SEND.c.at > utc(at), SEND.c.at <= utc(at + REPORT_SKEW))
                .order_by(refused, SEND.c.at)
                .limit(1)
            ).first()
        return (row.id, row.at) if row else (None, None)

    def _unverified(
        self,
        conn: Connection,
        box: MailboxRow,
        recipient: str,
        message_id: str | None,
        at: dt.datetime,
        sender: str | None,
        dated: dt.datetime | None,
        named_only: bool = False,
        window: dt.timedelta = MATCH_WINDOW,
    ) -> str | None:
        """Why a bounce that answers no send (:meth:`_match` with its returned original's
        ``sender`` and ``dated``) is not tied to the send it would answer without them; None
        when no send would answer it anyway (or it returned no original's From or Date)."""
        if sender is None and dated is None:
            return None
        sid, sent_at = self._match(
            conn, box, recipient, message_id, at, named_only=named_only, window=window
        )
        if sid is None or sent_at is None:
            return None
        if sender is not None and not _from_box(sender, box):
            return f"its returned original is from {sender}, not {box.address}"
        assert dated is not None  # else the send would have matched
        return (
            f"its returned original is dated {dated:%Y-%m-%d %H:%M} UTC, the send to "
            f"{recipient} it would answer was made {utc(sent_at):%Y-%m-%d %H:%M} UTC"
        )


def _message(message_id: str | None, at: dt.datetime) -> tuple[str, Any]:
    """Which message a send was (:meth:`Matching._other_message`): its Message-ID in any
    spelling, else its instant."""
    return ("id", message_id.strip().strip("<>")) if message_id else ("at", utc(at))


def _from_box(sender: str, box: MailboxRow) -> bool:
    """Whether a returned original's From (its addresses, comma-separated) is ``box`` alone:
    the gate sends nothing whose From names anyone else."""
    return {a.strip().lower() for a in sender.split(",")} == {box.address.lower()}
