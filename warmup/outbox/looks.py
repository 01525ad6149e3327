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
previews, which say it as they always did. Whom a message stays with (its thread's sender, its
recipient's last) is read in the same transaction as the histories (:meth:`Looks.stays`); on
SQLite the whole look is one statement in no transaction (:mod:`warmup.ledger.sqlite_look`): a
pool of 3 cost 27.8 statements a message against one mailbox's 19.4, now 20.8.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from warmup import addresses, api
from warmup.errors import WarmupError
from warmup.gate import Gate, previewed
from warmup.ledger import Ledger, MailboxRow
from warmup.ledger.values import MailboxNotFound, Parsed, Snapshot
from warmup.policy import Allowance
from warmup.policy.engine import Walks


class Looks:
    """The previews of a pool's members (:meth:`previews`), their rows and policies kept by
    address between messages (for the worker's life)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._kept: dict[str, api.Asked] = {}
        # The histories read with the last stays(): for these members (as kept), at this instant
        self._read: tuple[list[api.Asked], dt.datetime, list[Snapshot]] | None = None
        # Each member's walk to today, walked again only from other inputs (a send, a bounce,
        # a change, a new day): see warmup.policy.engine.evaluate_steps
        self._walks: Walks = {}
        # Each member's last answer, given again while its history read afresh is the same and
        # the answer steady: only the member that sent (or that another process wrote to) is
        # worked out again (api.recipient_checks)
        self._answers: api.Answers = {}
        # Each member's snapshot, built again only from other rows than the last look's
        # (warmup.ledger.sqlite_look.look_snapshots): of 3 members, the one that sent
        self._parsed: Parsed = {}

    def stays(
        self,
        members: Sequence[MailboxRow],
        threads: list[str],
        recipients: list[str],
        at: dt.datetime,
    ) -> int | None:
        """The id of the member among ``members`` a pool's message stays with (the last sender
        of one of the Message-IDs ``threads`` its In-Reply-To/References name, else the last
        to mail one of its ``recipients``), else None; read in one transaction with each
        member's history at ``at`` when every member is kept (:meth:`Ledger.pool_look`), for
        the :meth:`previews` of them at ``at`` that follows."""
        self._read = None
        ids = [m.id for m in members]
        kept = [self._kept.get(m.address) for m in members]
        asked = [
            k for k, m in zip(kept, members, strict=True) if k is not None and k.box.id == m.id
        ]
        if len(asked) == len(members):
            try:
                stays, snaps = self.ledger.pool_look(
                    threads, recipients, ids, [(k.box, k.ask) for k in asked], at, self._parsed
                )
            except MailboxNotFound:  # one kept was removed: its preview says so
                self._kept.clear()
            else:
                if snaps is not None:
                    self._read = (asked, at, snaps)
                return stays
        return self.ledger.pool_look(threads, recipients, ids, None, at)[0]

    def previews(
        self, gates: Sequence[Gate], recipients: Sequence[str], now: dt.datetime
    ) -> list[tuple[Allowance, str | None]] | None:
        """Each gate's :meth:`~warmup.Gate.preview` of ``recipients`` at ``now``, the same
        answers; None when they must be asked one by one (a member gone or that cannot be
        asked, or changed again while it was read afresh): each gate's own preview then says
        what is wrong."""
        rcpts = list(dict.fromkeys(addresses.normalize(r, "recipient") for r in recipients))
        read, self._read = self._read, None
        for _ in range(2):
            try:
                boxes = self._asked(gates)
                snaps = read[2] if read is not None and _same(read, boxes, now) else None
                read = None  # once: a second round reads them afresh
                answers = api.recipient_checks(
                    self.ledger, boxes, rcpts, now, snaps, self._walks, self._answers
                )
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


def _same(
    read: tuple[list[api.Asked], dt.datetime, list[Snapshot]],
    boxes: list[api.Asked],
    at: dt.datetime,
) -> bool:
    """Whether the histories ``read`` with :meth:`Looks.stays` are those of ``boxes`` (as kept
    now) at ``at``."""
    asked, when, _ = read
    return when == at and len(asked) == len(boxes) and all(a is b for a, b in zip(asked, boxes))
