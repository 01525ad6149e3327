"""The worker's look at the members of a pool before each message: what each member's gate would
decide for it now (:meth:`warmup.Gate.preview`), asked of all of them together.

Asked of each gate in turn, a member cost 9 statements in 4 transactions a message (its row, its
policy's text, the domain caps of its past policies, then its history): a pool of three was ~5x
one mailbox. Here every member's history is read in one transaction of a handful of statements
(:func:`warmup.api.recipient_checks`), and its row and policy are kept between messages as
long as the mailbox's ``rev`` is the one that transaction reads: ``rev`` moves with every change
to the mailbox or to the stored policy it names, by any process on any host, so a change
committed before the look is always seen by it (the kept ones are then read again, once).
Anything else (a member removed, a policy this warmup cannot read) is left to the gates' own
previews, which say it as they always did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from warmup import addresses, api
from warmup.errors import WarmupError
from warmup.gate import Gate, previewed
from warmup.ledger import Ledger
from warmup.policy import Allowance


class Looks:
    """The previews of a pool's members (:meth:`previews`), their rows and policies kept by
    address between messages (for the worker's life)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._kept: dict[str, api.Asked] = {}

    def previews(
        self, gates: Sequence[Gate], recipients: Sequence[str], now: dt.datetime
    ) -> list[tuple[Allowance, str | None]] | None:
        """Each gate's :meth:`~warmup.Gate.preview` of ``recipients`` at ``now``, the same
        answers; None when they must be asked one by one (a member gone or that cannot be
        asked, or changed again while it was read afresh): each gate's own preview then says
        what is wrong."""
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        for _ in range(2):
            try:
                boxes = self._asked(gates)
                answers = api.recipient_checks(self.ledger, boxes, rcpts, now)
            except WarmupError:  # MailboxNotFound, a policy or preset unknown: the gates say
                self._kept.clear()
                return None
            if answers is not None:
                return [
                    previewed(a, capped, len(rcpts), gate.box.timezone)
                    for (a, capped), gate in zip(answers, gates, strict=True)
                ]
            self._kept.clear()  # one changed since it was read: every member read again
        return None

    def _asked(self, gates: Sequence[Gate]) -> list[api.Asked]:
        """What is kept of each gate's mailbox; those not kept read now (its row by address,
        as a preview reads it)."""
        kept = self._kept
        fresh = [g.box.address for g in gates if g.box.address not in kept]
        if fresh:
            rows = [self.ledger.mailbox_rev(address) for address in fresh]
            for address, ask in zip(fresh, api.asked(self.ledger, rows), strict=True):
                kept[address] = ask
        return [kept[g.box.address] for g in gates]
