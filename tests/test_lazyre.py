"""A pattern compiled on first use (warmup.lazyre) answers as the compiled pattern does."""

from __future__ import annotations

import re

from warmup.lazyre import compiled_later


def test_a_later_pattern_answers_as_the_pattern_and_keeps_its_methods():
    later = compiled_later(r"(\d+)([smh])", re.IGNORECASE)
    now = re.compile(r"(\d+)([smh])", re.IGNORECASE)
    assert vars(later) == {"_pattern": r"(\d+)([smh])", "_flags": re.IGNORECASE}  # not compiled
    for text in ("5m", "12H", "x", "3s and 4m"):
        got, want = later.fullmatch(text), now.fullmatch(text)
        assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))
        assert later.findall(text) == now.findall(text)
        assert later.sub("-", text) == now.sub("-", text)
    assert (later.pattern, later.flags, later.groups) == (now.pattern, now.flags, now.groups)
    assert later.fullmatch.__self__ is now  # the method kept is the compiled pattern's own
    assert "fullmatch" in vars(later) and repr(later) == repr(now)


def test_a_later_bytes_pattern():
    later = compiled_later(rb"[\x80-\xff]")
    assert later.search(b"abc\xe9").start() == 3  # type: ignore[union-attr]
