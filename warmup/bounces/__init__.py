"""Bounce (DSN / NDR / ARF) parsing and classification.

The report parser's names are imported on first use (PEP 562): the send path, which classifies
SMTP replies, loads no report parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .classify import classify, classify_smtp_reply, is_throttle

if TYPE_CHECKING:  # explicit re-exports ("X as X"): what __getattr__ below provides
    from .parse import parse_bounces as parse_bounces
    from .record import Bounce as Bounce
    from .reportfiles import parse_report as parse_report

_LAZY = {
    "Bounce": "warmup.bounces.record",
    "parse_bounces": "warmup.bounces.parse",
    "parse_report": "warmup.bounces.reportfiles",
}

__all__ = [
    "Bounce",
    "classify",
    "classify_smtp_reply",
    "is_throttle",
    "parse_bounces",
    "parse_report",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'warmup.bounces' has no attribute {name!r}")
