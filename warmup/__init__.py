"""warmup: plan and enforce the send-rate warm-up of business mailboxes.

Library first: the CLI is a thin layer over these functions.

    >>> from warmup import open_ledger, api
    >>> ledger = open_ledger("/tmp/ledger.db")
    >>> api.quota(ledger, "sales@corp.example")  # doctest: +SKIP
"""

from warmup.ledger import open_ledger
from warmup.policy import Allowance, evaluate, load_policy, project

__all__ = ["Allowance", "evaluate", "load_policy", "open_ledger", "project"]
