"""A person's hand on the outbox (a mixin of :class:`warmup.ledger.Ledger`, on SQLAlchemy Core
statements both backends run): ``warmup queue cancel``, ``queue retry`` (a message back to
``queued``, to the recipients not reached), ``queue send-now`` and ``queue mark`` (a message of
``unknown`` fate decided: it went, or it did not). Each refuses what the ledger says cannot be:
a message being sent, one a server answered (a bounce naming its Message-ID), a retry of
recipients already reached. The queue itself, what the worker claims and settles, is
:mod:`warmup.ledger.outbox`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import DataError, NotFound
from warmup.ledger.mailbox_store import MAILBOX_COLUMNS
from warmup.ledger.outbox_fate import CANCELLING, MAYBE_LEFT, fate, finally_refused, in_campaign
from warmup.ledger.outbox_holds import end_hold, target_of
from warmup.ledger.outbox_targets import of_target, target_lock
from warmup.ledger.outbox_views import aware_utc, check_campaign_of, check_id
from warmup.ledger.schema import BOUNCE, MAILBOX, OUTBOX, POOL, SEND, SUPPRESSION
from warmup.ledger.values import MailboxRow, id_forms, mailbox_row, utc
from warmup.words import some

_T = TypeVar("_T")

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class OutboxEdits:
    """What a person does to queued messages (see the module docstring)."""

    if TYPE_CHECKING:  # what it needs of the Ledger it is part of

        def write(self, conn: Connection | None = None) -> AbstractContextManager[Connection]: ...
        def write_once(
            self,
            body: Callable[[Connection], _T],
            landed: Callable[[Connection, _T], bool] | None = None,
        ) -> _T: ...
        def _lock_name(self, conn: Connection, name: str, shared: bool = False) -> None: ...
        def _lock_mailboxes(self, conn: Connection, ids: Iterable[int]) -> None: ...
        def _released(self, conn: Connection, box: MailboxRow, sid: int, day: dt.date) -> None: ...
        def gate_outcomes(
            self, message_id: str, conn: Connection | None = None
        ) -> dict[str, Any]: ...

    def cancel_messages(
        self, now: dt.datetime, message: int | None = None, campaign: str | None = None
    ) -> tuple[int, int]:
        """Cancel queued messages: one (refused unless it is queued or being sent) or a
        campaign's; how many were cancelled, and how many are being sent now. Those are marked
        (:data:`CANCELLING`): the worker finishes the try, whose outcome stands when the
        message went (or may have); when it would go back to the queue it is cancelled."""
        if message is not None:
            check_id(message)

        def body(conn: Connection) -> tuple[int, int]:
            where = []
            if message is not None:
                state = conn.execute(
                    sa.select(OUTBOX.c.state).where(OUTBOX.c.id == message)
                ).scalar()
                if state is None:
                    raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
                if state not in ("queued", "sending"):
                    raise DataError(
                        f"message {message} is {state}: only a queued message can be cancelled"
                    )
                where.append(OUTBOX.c.id == message)
            if campaign is not None:  # a typo would read "Cancelled 0 messages." and exit 0
                check_campaign_of(conn, campaign)
                where.append(OUTBOX.c.campaign == campaign)
            cancelled = conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.state == "queued", *where)
                .values(state="cancelled", last_reply="cancelled by hand", updated_at=utc(now))
            ).rowcount
            # Claimed by a worker: it may be in its SMTP conversation. Marked, so that it is
            # not put back in the queue (sent again at its next try, after the user was told
            # the campaign was cancelled); its claim and state stay the worker's.
            marked = conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.state == "sending", *where)
                .values(last_reply=CANCELLING)
            ).rowcount
            return int(cancelled), int(marked)

        return self.write_once(body)

    def requeue(
        self,
        message: int,
        now: dt.datetime,
        expires: dt.timedelta,
        new: tuple[str, bytes] | None = None,
    ) -> dt.datetime:
        """Queue an ``unknown``, ``expired`` or ``cancelled`` message again, by hand, due now
        (never before its ``not_before``: a cancel undone goes when the message was to go),
        to expire ``expires`` after that; when it is due (``new``: a new Message-ID and the
        bytes carrying it). Refused when its campaign has
        queued the same message again since (:meth:`enqueue` leaves an expired or cancelled
        one out of the campaign: a
        script run again queues it anew), under the campaign's lock: both would go. A message
        without a content key to one recipient (a template's row, or one queued before m020)
        is the same as any message of its campaign to that recipient alone, as enqueue judges
        a row."""
        check_id(message)

        def body(conn: Connection) -> dt.datetime:
            r = conn.execute(
                sa.select(
                    OUTBOX.c.state,
                    OUTBOX.c.pool_id,
                    OUTBOX.c.mailbox_id,
                    OUTBOX.c.campaign,
                    OUTBOX.c.content_key,
                    OUTBOX.c.recipients,
                    OUTBOX.c.rcpt_count,
                    OUTBOX.c.not_before,
                ).where(OUTBOX.c.id == message)
            ).first()
            if r is None:
                raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
            state = r.state
            if state not in ("unknown", "expired", "cancelled"):
                raise DataError(
                    f"message {message} is {state}: only a queued, unknown, expired or cancelled "
                    f"message is retried by hand"
                )
            # enqueue's two checks: another message by its content key; a template's row
            # (no key: its recipient is its key) by a message to its one recipient alone
            same = (
                OUTBOX.c.content_key == r.content_key
                if r.content_key is not None
                else OUTBOX.c.recipients == r.recipients
                if r.rcpt_count == 1
                else None
            )
            if r.campaign is not None and same is not None:
                # enqueue's key: a pool's message names no mailbox there
                box = None if r.pool_id is not None else r.mailbox_id
                self._lock_name(conn, f"campaign {(r.campaign, box, r.pool_id)!r}")
                other = conn.execute(
                    sa.select(OUTBOX.c.id, OUTBOX.c.state)
                    .where(
                        same,
                        OUTBOX.c.campaign == r.campaign,
                        in_campaign(),
                        of_target(box, r.pool_id),
                        OUTBOX.c.id != message,
                    )
                    .order_by(OUTBOX.c.id)
                ).first()
                if other is not None:
                    # judged by its recipient, the other may be other words (a follow-up)
                    again = (
                        f"is in campaign {r.campaign} again as message {other.id} ({other.state}); "
                        if r.content_key is not None
                        else f"is to {r.recipients}, whom campaign {r.campaign} has queued "
                        f"since as message {other.id} ({other.state}): a message without a "
                        f"content key (a template's row, or one queued before warmup kept "
                        f"them) is judged by its recipient; "
                    )
                    raise DataError(
                        f"message {message} {again}"
                        + (
                            f"cancel that one first ('warmup queue cancel {other.id}') to send "
                            f"this one instead"
                            if other.state == "queued"
                            else "a message is sent once"
                        )
                    )
            # Its pool or mailbox may have been removed since it ended (removal cancels only
            # what is queued): queued again, the worker would cancel it for a pool '#1'.
            kind, tid = ("pool", r.pool_id) if r.pool_id is not None else ("mailbox", r.mailbox_id)
            self._lock_name(conn, target_lock(kind, tid), shared=True)
            table = POOL if kind == "pool" else MAILBOX
            if conn.execute(sa.select(table.c.id).where(table.c.id == tid)).first() is None:
                raise DataError(
                    f"message {message} was queued to a {kind} removed since; queue it again "
                    f"to one that exists with 'warmup queue add'"
                )
            # Cancelled because every recipient was suppressed (by hand, a hard bounce, or
            # 'run --suppress-soft' after it was queued): queued again, the next pass
            # cancelled it again, and 'queue status' meanwhile counted it as due.
            rcpts = r.recipients.split(",")
            gone = conn.execute(
                sa.select(SUPPRESSION.c.address, SUPPRESSION.c.kind)
                .where(SUPPRESSION.c.address.in_(rcpts))
                .order_by(SUPPRESSION.c.address)
            ).all()
            if len(gone) == len(rcpts):
                raise DataError(
                    f"message {message}: every recipient is suppressed "
                    f"({some([f'{a}: {k}' for a, k in gone])}), nothing to send; allow one "
                    f"again with 'warmup suppress remove ADDRESS' to retry it"
                )
            due = max(utc(now), aware_utc(r.not_before))
            values: dict[str, Any] = {
                "state": "queued",
                "next_attempt_at": due,
                "expires_at": due + expires,
                "attempts": 0,
                "last_reply": f"{state}: queued again by hand",
                "updated_at": utc(now),
                "sent_via": None,
            }
            if new is not None:
                values["message_id"], values["data"] = new
            # In the UPDATE, not only read above: a 'queue mark' (or another retry) committed
            # meanwhile (PostgreSQL: this waited for its row lock) is not overwritten, the
            # message marked sent queued again and mailed twice.
            if not conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == message, OUTBOX.c.state == state)
                .values(**values)
            ).rowcount:
                now_state = conn.execute(
                    sa.select(OUTBOX.c.state).where(OUTBOX.c.id == message)
                ).scalar()
                raise DataError(
                    f"message {message} changed meanwhile (it is {now_state} now); see "
                    f"'warmup queue show {message}'"
                )
            return due

        return self.write_once(body)

    def make_due(
        self, message: int, now: dt.datetime, expires: dt.timedelta | None = None
    ) -> tuple[dt.datetime, dt.datetime]:
        """Make a ``queued`` message due ``now`` (never before its ``not_before``), by hand: one
        backing off after a fault a person has fixed since (a refused login, a server moved)
        waited out its back-off (5 min, then doubling) for nothing. Its tries and Message-ID
        stay, and its expiry too unless ``expires`` is given: then it expires that long after
        it is due. Returns when it is due and when it expires; any other state is refused, as
        nothing of a message in flight or ended is for a worker to take again this way."""
        check_id(message)

        def body(conn: Connection) -> tuple[dt.datetime, dt.datetime]:
            r = conn.execute(
                sa.select(
                    OUTBOX.c.state,
                    OUTBOX.c.not_before,
                    OUTBOX.c.expires_at,
                    OUTBOX.c.pool_id,
                    OUTBOX.c.mailbox_id,
                ).where(OUTBOX.c.id == message)
            ).first()
            if r is None:
                raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
            if r.state != "queued":
                raise DataError(
                    f"message {message} is {r.state}: only a queued, unknown, expired or cancelled "
                    f"message is retried by hand"
                )
            due = max(utc(now), aware_utc(r.not_before))
            until = due + expires if expires is not None else aware_utc(r.expires_at)
            conn.execute(
                OUTBOX.update()
                .where(OUTBOX.c.id == message, OUTBOX.c.state == "queued")
                .values(
                    next_attempt_at=due, expires_at=until, updated_at=utc(now), backoff_until=None
                )
            )
            # its target's hold too: the next pass asks the plan again (one row written)
            end_hold(conn, target_of(r.pool_id, r.mailbox_id))
            return due, until

        return self.write_once(body)

    def decide_unknown(
        self,
        went: bool,
        now: dt.datetime,
        message: int | None = None,
        campaign: str | None = None,
        final: Callable[[int, str], bool] | None = None,
    ) -> list[tuple[int, str]]:
        """A person's word on ``unknown`` messages (one, or every one of ``campaign``): they
        ``went`` (their slots still ``reserved``/``unknown`` become ``sent``, so bounces match
        and count them as sends; the message's state is then :func:`fate`'s, as the worker
        would have written it: ``sent``, or ``queued`` again for recipients deferred by a 4xx;
        not for a recipient whose soft refusal ``final(code, text)`` holds final, as the
        worker holds a refusal of the message's size: the same message never goes to them),
        or they did not and are not to go (``cancelled``; those slots ``released``: the quota
        given back). The (id, new state) of each message changed, in one transaction.

        The state is checked in the UPDATE itself, not read first: a message another ``mark``
        or ``retry`` changed meanwhile (PostgreSQL: it waits for that one's row lock, then
        finds it no longer ``unknown``) is not changed twice. A message that did not go while a
        bounce naming its Message-ID answers one of its slots is refused (:class:`DataError`,
        nothing changed): that bounce says it left."""
        if message is not None:
            check_id(message)
        state = "sent" if went else "cancelled"
        said = (
            "marked sent by hand: it reached its recipients"
            if went
            else "marked unsent by hand: it did not go, and is not to be sent"
        )

        def body(conn: Connection) -> list[tuple[int, str]]:
            if campaign is not None:
                check_campaign_of(conn, campaign)
            where = OUTBOX.c.id == message if message is not None else OUTBOX.c.campaign == campaign
            rows = conn.execute(
                OUTBOX.update()
                .where(where, OUTBOX.c.state == "unknown")
                .values(state=state, last_reply=said, updated_at=utc(now))
                .returning(OUTBOX.c.id, OUTBOX.c.message_id, OUTBOX.c.recipients, OUTBOX.c.sent_via)
            ).all()
            if message is not None and not rows:
                _not_unknown(conn, message)
            rows = sorted(rows, key=lambda r: r.id)
            slots = {
                r.id: conn.execute(
                    sa.select(SEND.c.id, SEND.c.mailbox_id).where(
                        SEND.c.message_id == r.message_id,
                        SEND.c.recipient.in_(r.recipients.split(",")),
                        SEND.c.outcome.in_(MAYBE_LEFT),
                    )
                ).all()
                for r in rows
            }
            # locked at once, in order (as the gate locks one to settle its slots)
            ids = sorted({s.mailbox_id for found in slots.values() for s in found})
            self._lock_mailboxes(conn, ids)
            boxes = {
                b.id: mailbox_row(b)
                for b in conn.execute(sa.select(*MAILBOX_COLUMNS).where(MAILBOX.c.id.in_(ids)))
            }
            out = []
            for r in rows:
                mine = [s.id for s in slots[r.id]]
                if not went:
                    _refuse_if_answered(conn, r.id, r.message_id, mine)
                # only what is still of unknown fate under the mailboxes' locks
                settled = conn.execute(
                    SEND.update()
                    .where(SEND.c.id.in_(mine), SEND.c.outcome.in_(MAYBE_LEFT))
                    .values(outcome="sent" if went else "released", settled_at=utc(now))
                    .returning(SEND.c.id, SEND.c.mailbox_id, SEND.c.day)
                ).all()
                if went:
                    out.append((int(r.id), self._went(conn, r, now, final)))
                    continue
                for sid, box, day in settled:  # uncounted, as the gate releases a slot
                    self._released(conn, boxes[box], sid, day)
                out.append((int(r.id), state))
            return out

        return self.write_once(body)

    def _went(
        self, conn: Connection, r: Any, now: dt.datetime, final: Callable[[int, str], bool] | None
    ) -> str:
        """Message ``r``, marked ``sent`` with its slots: its state as the worker makes it of
        its recipients' outcomes (:func:`fate`); one sent through an overflow channel has no
        slot, and is ``sent``."""
        if r.sent_via == "overflow":
            return "sent"
        got = self.gate_outcomes(r.message_id, conn)
        rcpts = r.recipients.split(",")
        outcomes = {rcpt: got.get(rcpt, ("none", None))[0] for rcpt in rcpts}
        state, again = fate(finally_refused(conn, r.message_id, outcomes, final))
        if state != "sent":  # every recipient refused, or some deferred: as the worker
            values: dict[str, Any] = {"state": state}
            if again:
                values.update(
                    recipients=",".join(again),
                    rcpt_count=len(again),
                    next_attempt_at=utc(now),
                    sent_via=None,
                    last_reply=f"marked sent by hand; queued again for {', '.join(again)}, "
                    "whom it had not reached (deferred)",
                )
            conn.execute(OUTBOX.update().where(OUTBOX.c.id == r.id).values(**values))
        return state


_NOT_UNKNOWN = {
    "queued": "it has not been sent yet; 'warmup queue cancel {id}' cancels it",
    "sending": "a worker is sending it now, and writes what became of it",
    "sent": "it went: nothing to decide",
    "bounced": "its recipients refused it: nothing to decide",
    "expired": "it never left: nothing to decide ('warmup queue retry {id}' queues it again)",
    "cancelled": "it is not to be sent: nothing to decide ('warmup queue retry {id}' queues "
    "it again)",
}


def _not_unknown(conn: Connection, message: int) -> None:
    """Why message ``message`` cannot be marked: it is not there (:class:`NotFound`), or not
    ``unknown`` (:class:`DataError` naming its state and what to do instead)."""
    state = conn.execute(sa.select(OUTBOX.c.state).where(OUTBOX.c.id == message)).scalar()
    if state is None:
        raise NotFound(f"no message {message} in the outbox; see 'warmup queue list'")
    what = _NOT_UNKNOWN.get(state, "nothing to decide").format(id=message)
    raise DataError(f"message {message} is {state}: only an unknown message is marked; {what}")


def _refuse_if_answered(conn: Connection, message: int, message_id: str, slots: list[int]) -> None:
    """:class:`DataError` when a bounce naming ``message_id`` answers one of ``slots``: the
    message reached a server, whatever a person thinks (one matched by its time alone may
    answer an earlier send: released, the slot's bounce is matched again)."""
    if not slots:
        return
    found = conn.execute(
        sa.select(BOUNCE.c.recipient)
        .where(BOUNCE.c.send_id.in_(slots), BOUNCE.c.message_id.in_(sorted(id_forms(message_id))))
        .order_by(BOUNCE.c.id)
        .limit(1)
    ).scalar()
    if found is not None:
        raise DataError(
            f"message {message} went: a bounce from {found} names it; mark it sent "
            f"('warmup queue mark {message} sent')"
        )
