"""warmup: plan and enforce the send-rate warm-up of business mailboxes.

Library first: the CLI is a thin layer over these functions.

    >>> from warmup import open_ledger, api
    >>> ledger = open_ledger("/tmp/ledger.db")
    >>> api.quota(ledger, "sales@corp.example")  # doctest: +SKIP

Names are imported on first use (PEP 562), so ``warmup quota`` loads only what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # explicit re-exports ("X as X"): what __getattr__ below provides
    from warmup.bounces import parse_bounces as parse_bounces
    from warmup.gate import Gate as Gate
    from warmup.gate import NotAllowed as NotAllowed
    from warmup.gate import Suppressed as Suppressed
    from warmup.ledger import open_ledger as open_ledger
    from warmup.outbox import Outbox as Outbox
    from warmup.policy import Allowance as Allowance
    from warmup.policy import evaluate as evaluate
    from warmup.policy import load_policy as load_policy
    from warmup.policy import project as project

_LAZY = {
    "Gate": "warmup.gate",
    "NotAllowed": "warmup.gate",
    "Suppressed": "warmup.gate",
    "open_ledger": "warmup.ledger",
    "Outbox": "warmup.outbox",
    "Allowance": "warmup.policy",
    "evaluate": "warmup.policy",
    "load_policy": "warmup.policy",
    "project": "warmup.policy",
    "parse_bounces": "warmup.bounces",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'warmup' has no attribute {name!r}")
