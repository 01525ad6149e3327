"""Shared by the batches of written notices the classifier was not written against (issue #14):
tests/test_bounce_unseen.py (tests/corpus/unseen) and tests/test_bounce_unseen2.py
(tests/corpus/unseen2). Each batch is a table ``file -> [(recipient, kind, acceptable reasons)]``
in the report's order ([] = no bounce at all), and families of files printed with their misses.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from warmup.bounces import parse_bounces

Expected = Mapping[str, Sequence[tuple[str, str, frozenset[str]]]]


def check(corpus: Path, name: str, expected: Expected) -> None:
    """Assert that ``name`` parses to the recipients, kinds and reasons ``expected`` (the
    decision steps shown when it does not)."""
    got = parse_bounces((corpus / name).read_bytes())
    want = expected[name]
    assert [(b.recipient, b.kind) for b in got] == [(r, k) for r, k, _ in want], [
        b.steps for b in got
    ]
    for bounce, (_, _, reasons) in zip(got, want, strict=True):
        assert bounce.reason in reasons, bounce.steps


def as_expected(corpus: Path, name: str, expected: Expected) -> bool:
    """Whether :func:`check` would pass."""
    got = parse_bounces((corpus / name).read_bytes())
    want = expected[name]
    return [(b.recipient, b.kind) for b in got] == [(r, k) for r, k, _ in want] and all(
        b.reason in reasons for b, (_, _, reasons) in zip(got, want, strict=True)
    )


def check_families(
    label: str,
    corpus: Path,
    expected: Expected,
    families: Mapping[str, Sequence[str]],
    known: Collection[str] = (),
) -> None:
    """Print each family's misses (``pytest -s``) and assert they are the ``known`` ones (a
    miss left on purpose, its reason in the batch's README; one fixed is removed from it);
    every file of ``expected`` is in a family, and every family's file in ``expected``."""
    assert {n for names in families.values() for n in names} == set(expected)
    print(f"\n[{label}] misses per family")
    missed = []
    for family, names in families.items():
        misses = [n for n in names if not as_expected(corpus, n, expected)]
        print(f"  {family:36} {len(misses)}/{len(names)}")
        missed += misses
    assert sorted(set(missed)) == sorted(known), missed
