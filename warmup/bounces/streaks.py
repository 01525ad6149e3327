"""Addresses that keep soft-bouncing for a reason of their own: a mailbox full for a week, an
account disabled. A soft bounce suppresses nothing (it may pass), so such an address was
mailed for ever, each send another bounce in the mailbox's rate; ESPs suppress it after a few.

Found here from what the ledger keeps (:meth:`warmup.ledger.Ledger.soft_bounced_sends`), the
reason of each bounce read again from it (:func:`~warmup.bounces.classify.recorded_reason`);
suppressed only when a person asks (``warmup suppress soft --apply``). A person may take an
address back (``warmup suppress remove``: the mailbox was emptied): the ledger then gives only
its sends after that, so the streak that had it suppressed does not count again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

from warmup.words import plural

from .classify import recorded_reason

if TYPE_CHECKING:
    from warmup.ledger.suppressions import LastSend

# The reasons that are the address's own state, lasting until someone acts on the mailbox: full
# (over its quota) and suspended, disabled, inactive or discontinued. Not throttling, a network
# or system fault, a delivery given up on (expired), a message too big or unread words: those
# say nothing of the address.
ADDRESS_STATES = ("mailboxfull", "suspend")


@dataclass(frozen=True)
class SoftStreak:
    """``sends`` sends in a row from ``mailbox`` to ``address``, from ``first`` to ``last``,
    each answered by a soft bounce whose reason is one of :data:`ADDRESS_STATES`."""

    address: str
    mailbox: str
    mailbox_id: int
    timezone: str
    sends: int
    first: dt.datetime
    last: dt.datetime
    reasons: tuple[str, ...]  # distinct, in the order met

    @property
    def reason(self) -> str:
        """Why it is suppressed: the streak, in the mailbox's dates."""
        from warmup.instants import local_text

        first, last = (local_text(t, self.timezone, "%Y-%m-%d") for t in (self.first, self.last))
        return (
            f"{self.sends} sends in a row from {self.mailbox} soft-bounced "
            f"({', '.join(self.reasons)}), {first} to {last}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "mailbox": self.mailbox,
            "sends": self.sends,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "reasons": list(self.reasons),
        }


def soft_streaks(rows: Iterable[LastSend], sends: int, days: int) -> list[SoftStreak]:
    """The streaks among ``rows`` (each mailbox's last ``sends`` sends to a recipient, by
    mailbox, recipient and time): every one answered by a soft bounce for an address state,
    the first at least ``days`` days before the last."""
    found = []
    for (_, address), group in groupby(rows, key=lambda r: (r.mailbox_id, r.recipient)):
        run = list(group)
        reasons = [_state(r) for r in run]
        if len(run) < sends or None in reasons:
            continue
        first, last = run[0], run[-1]
        if last.at - first.at < dt.timedelta(days=days):
            continue
        found.append(
            SoftStreak(
                address,
                first.mailbox,
                first.mailbox_id,
                first.timezone,
                len(run),
                first.at,
                last.at,
                tuple(dict.fromkeys(r for r in reasons if r)),
            )
        )
    return found


def _state(row: LastSend) -> str | None:
    """The address state a send's bounce says, or None (no bounce, another kind or reason)."""
    if row.kind != "soft":
        return None
    reason = recorded_reason(row.kind, row.status or "", row.reply or "", row.diagnostic or "")
    return reason if reason in ADDRESS_STATES else None


def said_of(streaks: Iterable[SoftStreak], added: int | None) -> str:
    """The line after a sync about the addresses that keep soft-bouncing: how many and why,
    and what to do (``added`` None) or how many were suppressed."""
    streaks = list(streaks)
    count = len({s.address for s in streaks})
    why = ", ".join(dict.fromkeys(r for s in streaks for r in s.reasons))
    if added is None:
        them = "it" if count == 1 else "them"
        return (
            f"{plural(count, 'address', 'addresses')} {'keeps' if count == 1 else 'keep'} "
            f"soft-bouncing ({why}): 'warmup suppress soft' lists {them}, --apply "
            f"suppresses {them}."
        )
    old = count - added  # another process's meanwhile
    return (
        f"Suppressed {plural(added, 'address', 'addresses')} that kept soft-bouncing ({why})"
        + (f"; {old} already {'was' if old == 1 else 'were'}" if old else "")
        + "."
    )
