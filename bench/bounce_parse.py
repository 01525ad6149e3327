"""Bounce parsing speed: messages/s of ``parse_bounces`` over the corpus samples, against
``email.message_from_bytes`` of the same messages (the stdlib parse it cannot avoid), rounds
interleaved in the same run so that machine noise hits both alike.

    .venv/bin/python bench/bounce_parse.py [--rounds 7] [--tree PATH]

``--tree`` imports ``warmup`` from another checkout (e.g. a ``git worktree`` of main) to compare
before/after in one run: its rounds are interleaved too. Goal: >= 500 messages/s.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

GOAL = 500.0
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "tests" / "corpus").glob("*/**/*.eml"))


def rate(fn: Callable[[bytes], object], messages: list[bytes]) -> float:
    """Messages per second of ``fn`` over ``messages``, one pass."""
    start = time.perf_counter()
    for raw in messages:
        fn(raw)
    return len(messages) / (time.perf_counter() - start)


def load_parser(tree: str | None) -> Callable[[bytes], object]:
    """``parse_bounces`` from this checkout, or from ``tree`` (a fresh import of its package)."""
    if tree is None:
        from warmup.bounces import parse_bounces

        return parse_bounces
    for name in [m for m in sys.modules if m == "warmup" or m.startswith("warmup.")]:
        del sys.modules[name]
    sys.path.insert(0, str(Path(tree).resolve()))
    try:
        module = importlib.import_module("warmup.bounces")
    finally:
        sys.path.pop(0)
    print(f"other tree: {module.__file__}")
    return module.parse_bounces  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--tree", help="another checkout whose parser to time alongside")
    args = ap.parse_args()
    messages = [p.read_bytes() for p in SAMPLES]
    other = load_parser(args.tree) if args.tree else None
    for name in [m for m in sys.modules if m == "warmup" or m.startswith("warmup.")]:
        del sys.modules[name]
    ours = load_parser(None)

    def stdlib(raw: bytes) -> object:
        return email.message_from_bytes(raw, policy=email.policy.compat32)

    runs: dict[str, list[float]] = {"stdlib": [], "this tree": []}
    if other is not None:
        runs["other tree"] = []
    ours(messages[0]), stdlib(messages[0])  # warm-up: imports, compiled patterns
    if other is not None:
        other(messages[0])
    for _ in range(args.rounds):
        runs["stdlib"].append(rate(stdlib, messages))
        runs["this tree"].append(rate(ours, messages))
        if other is not None:
            runs["other tree"].append(rate(other, messages))
    print(f"{len(messages)} messages ({sum(map(len, messages)) // 1024} KiB), {args.rounds} rounds")
    med = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in med.items():
        print(
            f"  {k:10}  {v:8.0f} messages/s (median; min {min(runs[k]):.0f}, max {max(runs[k]):.0f})"
        )
    print(f"  this tree / stdlib parse: {med['this tree'] / med['stdlib']:.3f}")
    if other is not None:
        print(f"  this tree / other tree:   {med['this tree'] / med['other tree']:.3f}")
    verdict = "met" if med["this tree"] >= GOAL else "NOT met"
    print(f"  goal >= {GOAL:.0f} messages/s: {verdict}")


if __name__ == "__main__":
    main()
