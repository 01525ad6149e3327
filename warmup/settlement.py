"""What a gate's settlement writes and what a send gives back.

The outcomes a reservation may be settled with (:data:`SETTLE_OUTCOMES`), one recipient's
result as the ledger writes it (:func:`ledger_outcome`), the pause a provider's throttle reply
puts on the mailbox and until when (:func:`throttle_event`), the report :meth:`Gate.send
<warmup.gate.Gate.send>` returns (:class:`SendReport`), and what a gate closing says of the
settlements it could not write (:func:`unrecorded`). When and on which connection they are
written is the gate's (:mod:`warmup.gate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmup.ledger import EventIn
from warmup.ledger.gatepath import Outcome
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.smtp import RcptResult

THROTTLE_BACKOFF = dt.timedelta(minutes=30)
# A throttle that says it counts per day holds until the next local day. NetEase, Tencent and
# Alibaba say it in Chinese: 当天 / 今日 / 每日 / 每天 (that day, today, daily), 24小时.
_DAILY_WORDS = (
    *("daily", "per day", "24 hour", "5.4.5", "quota exceeded", "sending limit"),
    *("当天", "今日", "今天", "每日", "每天", "24小时"),
)


@dataclass
class SendReport:
    """What :meth:`warmup.gate.Gate.send` did: the host used, those passed over, each
    recipient's result, the throttle reply and the error that stopped the message, if any,
    and the command the connection was lost at before the data left
    (:attr:`warmup.smtp.Outcome.lost_at`)."""

    message_id: str
    host: str | None
    failed_hosts: list[tuple[str, str]]
    results: dict[str, RcptResult]
    throttle: tuple[int, str] | None = None
    error: str | None = None
    lost_at: str | None = None
    garbled: bool = False  # ended on an answer that was no SMTP reply (Outcome.garbled)

    @property
    def sent(self) -> list[str]:
        return [r for r, v in self.results.items() if v.outcome == "sent"]


# What a reservation may be settled with (:meth:`warmup.gate.Reservation.settle`).
SETTLE_OUTCOMES = ("sent", "hard", "soft", "block", "unknown", "released")
# A slot given back because the server refuses the message's size (smtp.TooBig).
TOO_BIG = Outcome("released", reason="size")


def ledger_outcome(result: object) -> Outcome:
    """One recipient's settlement as the ledger writes it: a slot released by a reply refusing
    the message's size says so (``size``), as the worker reads that reply (final: the same
    message never reaches the recipient), so a worker's recovery reads it so from the slot. One
    that went needs no status: no bounce classifier imported for it."""
    if isinstance(result, str):
        return Outcome(result)
    if isinstance(result, Outcome):
        return result
    outcome = str(getattr(result, "outcome", "unknown"))
    code = getattr(result, "code", None)
    text = str(getattr(result, "text", "") or "")
    if outcome == "sent":
        return Outcome(outcome, code, text)
    from warmup.bounces.classify import extract_status, refuses_size

    size = outcome == "released" and isinstance(code, int) and refuses_size(code, text)
    return Outcome(outcome, code, text, extract_status(text) or None, "size" if size else None)


def throttle_until(text: str, now: dt.datetime, zone: str) -> dt.datetime:
    """When the pause a throttle reply (``text``) puts on a mailbox in time zone ``zone`` ends:
    the next local day for one that says it counts per day, else :data:`THROTTLE_BACKOFF`."""
    if any(w in text.lower() for w in _DAILY_WORDS):
        import pendulum

        return (
            pendulum.instance(now).in_timezone(zone).start_of("day").add(days=1).in_timezone("UTC")
        )
    return now + THROTTLE_BACKOFF


def throttle_event(throttle: tuple[int, str], now: dt.datetime, zone: str) -> EventIn:
    """The mailbox's pause for a throttle reply (``code``, ``text``) read at ``now``."""
    code, text = throttle
    return EventIn(
        "throttle",
        now,
        f"provider throttled: {code} {text}"[:500],
        until=throttle_until(text, now, zone),
    )


def unrecorded(
    address: str, held: Sequence[tuple[Any, dict[str, object], Any, Any]], why: object
) -> str:
    """Why a gate closing could not write what the server answered (held while the ledger was
    unavailable), naming the hard bounces a person must now suppress by hand."""
    hard = [
        r
        for _, outcomes, _, _ in held
        for r, o in outcomes.items()
        if (o if isinstance(o, str) else getattr(o, "outcome", None)) == "hard"
    ]
    note = f"; suppress its hard bounces by hand: {', '.join(hard)}" if hard else ""
    return (
        f"{address}: the outcome of {plural(len(held), 'message')} the server answered was not "
        f"recorded (counted as sent: do not send it again){note}: {why}"
    )


def unwritten(address: str, slots: int, why: object) -> str:
    """Why a gate closing could not write the "sent" of ``slots`` recipients the server took
    (deferred to the close): they stay counted as sent, and must not be sent again."""
    return (
        f"{address}: the server took what was sent to {plural(slots, 'recipient')}, but the "
        f"ledger did not record it as sent (it is counted as sent: do not send it again): {why}"
    )
