"""What became of a queued message, read from the gate's slots for its Message-ID: the states a
recipient's slot may leave it in (:data:`RETRYABLE`, :data:`MAYBE_LEFT`), the message's state
from them (:func:`fate`, :func:`finally_refused`), the last reply that says so, and which
messages count as their campaign's (:func:`in_campaign`). The worker settling a message, the
recovery of a stopped worker's (:meth:`warmup.ledger.outbox.OutboxStore.recover`) and a
person's retry and mark (:mod:`warmup.ledger.outbox_edits`) all judge by these."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.ledger.schema import BOUNCE, OUTBOX, SEND

# The last reply of a message cancelled by hand while a worker was sending it: the worker's
# outcome stands when the message went (or may have); "queued" becomes "cancelled".
CANCELLING = "cancelled by hand while it was being sent"


def recovered_reply(state: str, worker: str, message: int) -> str:
    """The last reply of message ``message`` settled as ``state`` from its gate slots after
    ``worker`` stopped while it held it (:meth:`OutboxStore.recover`): what became of it, and
    what a person may do."""
    if state == "cancelled":
        return CANCELLING
    return {
        "unknown": f"worker {worker} stopped while sending: it may have left; never re-sent "
        f"automatically ('warmup queue retry {message}' resends it)",
        "queued": f"worker {worker} stopped before the message left: queued again",
    }.get(state, f"worker {worker} stopped after the message was {state}")


def earlier_reply(state: str, message: int, message_id: str, again: Sequence[str] = ()) -> str:
    """The last reply of message ``message`` settled as ``state`` from gate slots its
    Message-ID ``message_id`` had before the worker tried it (sent by 'warmup send', another
    message or another mailbox): the gate never sends one Message-ID to a recipient twice."""
    if state == "cancelled":
        return CANCELLING
    return {
        "sent": f"not sent again: its Message-ID {message_id} had reached its recipients before "
        "this try (another 'warmup send', message or mailbox sent it); queue a message with a "
        "new Message-ID to send it again",
        "bounced": f"not sent again: its recipients refused its Message-ID {message_id} before "
        "this try (another 'warmup send', message or mailbox sent it)",
        "unknown": f"not sent again: its Message-ID {message_id} may have reached its recipients "
        f"before this try (an earlier send of it is of unknown fate); 'warmup queue retry "
        f"{message}' sends it again under a new Message-ID",
        "queued": f"queued again for {', '.join(again)} alone: its Message-ID {message_id} had "
        "reached the others before this try",
    }.get(state, f"its Message-ID {message_id} was sent before this try: {state}")


RETRYABLE = ("soft", "released")  # the gate's outcomes after which nothing reached the server


MAYBE_LEFT = ("reserved", "unknown")


# A message in one of these states counts as its campaign's for its recipient: queued, on its
# way, or done (cancelled and expired ones never left: see in_campaign for those that partly did).
IN_CAMPAIGN = ("queued", "sending", "sent", "bounced", "unknown")


def in_campaign() -> sa.ColumnElement[bool]:
    """The messages that count as their campaign's: in an :data:`IN_CAMPAIGN` state, or
    cancelled or expired after an earlier try reached some of their recipients (the worker
    queues a message again for those a 4xx deferred, alone: the rest had it). Queued anew by
    the campaign's script run again, such a message mailed those recipients a second time."""
    reached = sa.exists().where(
        SEND.c.message_id == OUTBOX.c.message_id, SEND.c.outcome.in_(("sent", *MAYBE_LEFT))
    )
    return sa.or_(
        OUTBOX.c.state.in_(IN_CAMPAIGN),
        sa.and_(OUTBOX.c.state.in_(("expired", "cancelled")), reached),
    )


def fate(outcomes: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """A message's state from its recipients' last gate outcomes (missing: no slot taken), and
    the recipients still to deliver when it goes back to the queue.

    Any slot that may have left (``reserved``, ``unknown``) makes it ``unknown``; recipients
    deferred or given back are retried (``queued``); otherwise ``sent`` when a recipient got it,
    ``bounced`` when every one refused it.
    """
    values = list(outcomes.values())
    if any(o in MAYBE_LEFT for o in values):
        return "unknown", ()
    again = tuple(r for r, o in outcomes.items() if o in (*RETRYABLE, "none"))
    if again:
        return "queued", again
    if any(o == "sent" for o in values):
        return "sent", ()
    return "bounced", ()


def finally_refused(
    conn: Connection,
    message_id: str,
    outcomes: dict[str, str],
    final: Callable[[int, str], bool] | None,
) -> dict[str, str]:
    """``outcomes`` with each recipient the same message will never reach as ``too big``, which
    :func:`fate` neither retries nor counts sent, as the worker makes of such a reply: one
    whose latest slot was released for the message's size (its ``release_reason``), or a
    ``soft`` one whose SMTP reply (the bounce the gate recorded of it) ``final(code, text)``
    holds final."""
    if not any(o in RETRYABLE for o in outcomes.values()):
        return outcomes
    last: dict[str, tuple[str, str | None, str | None, str]] = {}
    for rcpt, outcome, why, reply, status, text in conn.execute(
        sa.select(
            SEND.c.recipient,
            SEND.c.outcome,
            SEND.c.release_reason,
            BOUNCE.c.reply,
            BOUNCE.c.status,
            BOUNCE.c.diagnostic,
        )
        .outerjoin(BOUNCE, sa.and_(BOUNCE.c.send_id == SEND.c.id, BOUNCE.c.source == "smtp"))
        .where(SEND.c.message_id == message_id)
        .order_by(SEND.c.id)
    ):
        last[rcpt] = (outcome, why, reply, f"{status or ''} {text or ''}")
    out = dict(outcomes)
    for rcpt, (outcome, why, reply, text) in last.items():
        if out.get(rcpt) != outcome:
            continue
        size = outcome == "released" and why == "size"
        if outcome == "soft" and final is not None and reply and reply.isdigit():
            size = final(int(reply), text)
        if size:
            out[rcpt] = "too big"
    return out
