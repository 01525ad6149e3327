"""A cheap necessary condition for a pattern: literal strings one of which every match contains.

A pattern of many alternatives ("mailbox (?:is )?full|over ?quota|...") costs the regex engine a
try of every alternative at each position of the text, and one alternative that does not start
with a literal ("\\bspf\\b", "(?:account|mailbox) ...") takes away its skip to the positions
where a match could start: such a rule costs ~20 µs on a 150-character diagnostic, a search for
its literals alone ~2. :class:`Screened` runs the pattern only where one of them occurs, so its
answer is the pattern's own. The literals are read off the compiled pattern: the rules stay
the only thing written.
"""

from __future__ import annotations

import re
import re._constants as _c  # type: ignore[import-not-found]
import re._parser as _sre  # type: ignore[import-not-found]
from typing import Any

__all__ = ["Screened", "contains_any", "required_literals", "screen"]

# A literal shorter than this occurs in almost any text (two CJK characters already are rare).
MIN_LITERAL = 3
MIN_WIDE_LITERAL = 2
_ZERO_WIDTH = {_c.AT, _c.ASSERT, _c.ASSERT_NOT}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}


def required_literals(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Strings one of which every match of ``pattern`` contains, or ``None`` if none is known.

    Only case-sensitive literals count; anything the reading does not know (a class, a
    repeat that may be absent, a case-insensitive group) is simply not used as evidence.
    """
    if pattern.flags & (re.IGNORECASE | re.LOCALE) or not isinstance(pattern.pattern, str):
        return None
    try:
        # re._parser is the standard library's own, but private: a tree this reading cannot
        # walk means no screen (the pattern is searched everywhere), not a failed import.
        # tests/test_bounce_screen.py holds the screens to the patterns on this Python.
        return _need(list(_sre.parse(pattern.pattern, pattern.flags)))
    except Exception:
        return None


def screen(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """The required literals of ``pattern`` when they screen texts out, else ``None`` (unknown,
    or one too short to be rare)."""
    need = required_literals(pattern)
    return need if need and all(map(_rare, need)) else None


class Screened:
    """``pattern`` searched only in texts that contain one of its required literals."""

    __slots__ = ("literals", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.literals = tuple(sorted(screen(pattern) or ()))

    def search(self, text: str) -> re.Match[str] | None:
        """``self.pattern.search(text)``, cheaply ``None`` where it cannot match."""
        if self.literals and not contains_any(text, self.literals):
            return None
        return self.pattern.search(text)


def contains_any(text: str, literals: tuple[str, ...]) -> bool:
    """Whether one of ``literals`` occurs in ``text`` (a loop: cheaper than ``any()``'s
    generator, and than a pattern of them all)."""
    for literal in literals:  # noqa: SIM110 (the loop is the point)
        if literal in text:
            return True
    return False


def _rare(literal: str) -> bool:
    wide = not literal.isascii()
    return len(literal) >= (MIN_WIDE_LITERAL if wide else MIN_LITERAL)


def _score(need: frozenset[str]) -> tuple[bool, int, int]:
    # Rare literals first; then the fewer, the cheaper to look for; then the longer.
    return all(map(_rare, need)), -len(need), min(map(len, need))


def _need(items: list[Any]) -> frozenset[str] | None:
    """Required literals of a sequence of parsed items: the best of those of its parts."""
    best: frozenset[str] | None = None
    run: list[str] = []

    def consider(need: frozenset[str] | None) -> None:
        nonlocal best
        if need and (best is None or _score(need) > _score(best)):
            best = need

    for op, av in items:
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if op in _ZERO_WIDTH:
            # Consumes nothing: the literals on either side are adjacent in the text.
            continue
        consider(frozenset(["".join(run)]) if run else None)
        run = []
        if op is _c.SUBPATTERN:
            _group, add_flags, _del_flags, sub = av
            if not add_flags & (_c.SRE_FLAG_IGNORECASE | _c.SRE_FLAG_LOCALE):
                consider(_need(list(sub)))
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            consider(_need(list(av)))
        elif op is _c.BRANCH:
            alternatives = [_need(list(alt)) for alt in av[1]]
            if all(alternatives):
                consider(frozenset(s for need in alternatives if need for s in need))
        elif op in _REPEATS and av[0] >= 1:
            consider(_need(list(av[2])))
    consider(frozenset(["".join(run)]) if run else None)
    return best
