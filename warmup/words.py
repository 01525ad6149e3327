"""The small grammar of what warmup prints: counts with their nouns."""

from __future__ import annotations


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 send``, ``2 sends``, ``0 sends``; ``nouns`` for a plural not made with -s
    (``plural(2, "mailbox", "mailboxes")``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"
