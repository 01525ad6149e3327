"""warmup: plan and enforce the send-rate warm-up of business mailboxes.

Library first: the CLI is a thin layer over these functions.

    >>> from warmup import open_ledger, api
    >>> ledger = open_ledger("/tmp/ledger.db")
    >>> api.quota(ledger, "sales@corp.example")  # doctest: +SKIP
"""

from warmup.gate import Gate, NotAllowed, Suppressed
from warmup.ledger import open_ledger
from warmup.policy import Allowance, evaluate, load_policy, project

__all__ = ["Allowance", "Gate", "NotAllowed", "Suppressed", "evaluate", "load_policy",
           "open_ledger", "parse_bounces", "project"]


def __getattr__(name: str) -> object:
    if name == "parse_bounces":  # the parser is only imported by those who use it
        from warmup.bounces import parse_bounces

        return parse_bounces
    raise AttributeError(name)
