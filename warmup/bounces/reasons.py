"""The reason vocabulary of bounces and the one table that turns a reason into a warmup kind.

A *reason* says why one recipient failed, in a vocabulary modelled on sisimai's (userunknown,
mailboxfull, blocked, ...). A *kind* is what warmup does about it:

- ``hard``: the address itself is bad: suppress it.
- ``soft``: transient, or about the recipient's mailbox but not its existence: retry later.
- ``block``: a signal about the sender (policy, spam, reputation, authentication, content):
  counts in the bounce rate, suppresses nothing.
- ``complaint``: the recipient complained (ARF) or asked to be removed: suppress it.

:data:`REASON_KIND` is the only place where that mapping is written. A :class:`Verdict` carries
the reason, its kind, the name of the rule that decided and the decision path, so an operator who
disagrees can see which rule to question (``warmup bounces parse --explain FILE``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REASON_KIND", "REASONS", "Verdict", "kind_of", "labelled"]


def labelled(text: str) -> dict[str, str]:
    """``label: name name ...`` lines -> {name: label} (``kind: reason ...`` here; a provider's
    ``reason: code ...`` in :mod:`warmup.bounces.providers`)."""
    out: dict[str, str] = {}
    for line in text.strip().splitlines():
        label, _, names = line.partition(":")
        out.update(dict.fromkeys(names.split(), label.strip()))
    return out


# reason -> kind. Reasons outside failures (delivered, vacation) never become bounces.
REASON_KIND: dict[str, str] = labelled("""
    hard: userunknown hostunknown hasmoved notaccept
    soft: mailboxfull mesgtoobig exceedlimit suspend onhold expired networkerror systemerror
    soft: systemfull toomanyconn speeding ratelimited syntaxerror undefined mailererror
    soft: contenterror
    block: blocked spamdetected policyviolation securityerror authfailure requireptr
    block: badreputation norelaying virusdetected notcompliantrfc filtered rejected
    complaint: feedback
    none: delivered vacation
""")
REASONS = frozenset(REASON_KIND)


def kind_of(reason: str, retried: bool = False) -> str:
    """The warmup kind of ``reason``; a failure that will be retried (a live 4xx) is never hard."""
    kind = REASON_KIND.get(reason, "soft")
    return "soft" if retried and kind == "hard" else kind


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why one recipient failed: ``reason``, its ``kind``, the ``rule`` that decided, the path."""

    reason: str
    kind: str
    rule: str
    steps: tuple[str, ...] = ()
