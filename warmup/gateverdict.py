"""The verdict of a gate's reservation: may these recipients have a slot now?

:class:`Verdicts` answers inside the reservation's transaction (:mod:`warmup.ledger.gatepath`
calls it with the history it read under its lock), for one mailbox and policy as a
:class:`~warmup.gate.Gate` opened them: from today's counts alone while the morning's verdict
holds for the rows the ledger kept (:mod:`warmup.policy.morning`), else from the morning on the
history, else :func:`warmup.policy.evaluate`'s; a recipient-domain cap may still refuse. It
reads nothing but the texts of the policy versions a history names. A rev other than the one
the gate opened at is :class:`Changed`: the gate looks whether to open again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from warmup import policies
from warmup.ledger import MailboxRow
from warmup.ledger.gatepath import Decision, GateLedger, Kept
from warmup.policy import History, evaluate
from warmup.policy.engine import recipient_domain_excess, recipient_domain_refusal
from warmup.policy.morning import Morning, morning
from warmup.policy.spec import PolicySpec
from warmup.policy.walk import MailboxEvent
from warmup.refusals import NotAllowed, refusal, suppressed_refusal


class Changed(Exception):
    """A reservation found the mailbox's rev moved since the gate read it (nothing reserved)."""

    def __init__(self, rev: int) -> None:
        super().__init__(f"mailbox rev {rev}")
        self.rev = rev


class Verdicts:
    """The verdicts on reservations for ``box`` under ``spec``, at the mailbox's ``rev`` the
    gate read with them (:attr:`rev`: the gate moves it on when a write only bumped it)."""

    def __init__(self, ledger: GateLedger, box: MailboxRow, spec: PolicySpec, rev: int) -> None:
        self.ledger = ledger
        self.box = box
        self.spec = spec
        self.rev = rev
        # Today's verdict from the days before today, kept while its inputs hold: a reservation
        # is answered from it and today's counters (warmup.policy.morning).
        self.morning: Morning | None = None
        # The kept rows (the ledger's Kept) the morning was found to hold for, the morning and
        # its yes: a reservation on the same rows is answered from today's counts alone.
        self.lean: tuple[Kept, Morning, Decision] | None = None
        self.recipient_caps = bool(spec.recipient_domains)
        # The events a history held and the policy texts they name (eras)
        self.texts: tuple[tuple[MailboxEvent, ...], Mapping[str, str]] | None = None

    def decide(
        self, rcpts: list[str], hist: History, bad: dict[str, str], at: dt.datetime, rev: int
    ) -> Decision:
        """The reservation's verdict on ``hist``: the morning's quick yes, else evaluate's."""
        if rev != self.rev:  # the mailbox or its policy may have changed: look first
            return Decision(Changed(rev))
        if bad:
            return Decision(suppressed_refusal(bad))
        hist = self.eras(hist)
        m = self.morning
        if m is None or not m.holds(self.spec, hist, at):
            m = self.morning = morning(self.spec, hist, at)
        # A yes here is evaluate's yes; only a recipient-domain cap may still refuse.
        if m.allows(hist, at, len(rcpts)) and not recipient_domain_refusal(self.spec, hist, rcpts):
            return Decision(None, m.memo)
        a = evaluate(self.spec, hist, at)
        if not a.can_send or a.remaining < len(rcpts):
            return Decision(NotAllowed(refusal(a, len(rcpts), self.box.timezone), a), a.memo)
        capped = recipient_domain_refusal(self.spec, hist, rcpts)
        if capped is not None:
            return Decision(NotAllowed(capped, a), a.memo)
        return Decision(None, a.memo)

    def eras(self, hist: History) -> History:
        """``hist`` with the texts of the policy versions its events name
        (:func:`warmup.policies.with_eras`), read once for as long as the events are the same
        object (the ledger keeps them from one reservation to the next)."""
        if not any(e.kind == "policy" for e in hist.events):
            return hist
        held = self.texts
        if held is None or held[0] is not hist.events:
            held = self.texts = (hist.events, policies.with_eras(self.ledger, hist).policy_texts)
        return dataclasses.replace(hist, policy_texts=held[1])

    def lean_decide(
        self, rcpts: list[str], kept: Kept, bad: dict[str, str], at: dt.datetime, rev: int
    ) -> Decision:
        """:meth:`decide` on rows the ledger kept from this gate's last reservation, without
        building their History where it can: once the morning held for the kept rows (checked
        on their History the first time), it holds for as long as the ledger gives the same
        ``kept`` (:class:`~warmup.ledger.gatepath.Kept`), and :meth:`Morning.allows_today`
        answers from today's counts. Any other answer is :meth:`decide`'s on the History."""
        known, m = self.lean, self.morning
        if known is not None and known[0] is kept and known[1] is m and rev == self.rev and not bad:
            assert m is not None
            if m.allows_today(kept.counts, kept.last, kept.domain_sent, at, len(rcpts)) and not (
                self.recipient_caps
                and recipient_domain_excess(
                    self.spec, self.box.address, kept.recipient_domains or {}, rcpts
                )
            ):
                return known[2]
            return self.decide(rcpts, kept.history(), bad, at, rev)
        hist = kept.history()
        decision = self.decide(rcpts, hist, bad, at, rev)
        m = self.morning
        if rev == self.rev and m is not None and m.holds(self.spec, hist, at):
            self.lean = (kept, m, Decision(None, m.memo))
        return decision
