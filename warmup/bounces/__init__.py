"""Bounce (DSN / NDR / ARF) parsing and classification."""

from .classify import classify, classify_smtp_reply, is_throttle
from .parse import Bounce, parse_bounces, parse_report

__all__ = [
    "Bounce",
    "classify",
    "classify_smtp_reply",
    "is_throttle",
    "parse_bounces",
    "parse_report",
]
