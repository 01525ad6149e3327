"""Bounce parsing speed: messages/s of ``parse_bounces`` over the corpus samples, against
``email.message_from_bytes`` of the same messages (the stdlib parse it cannot avoid), rounds
interleaved in the same run so that machine noise hits both alike. Each figure is given in
wall-clock time and in CPU time (``time.process_time``: what the parser itself costs, which
another process's load on a shared machine changes much less).

    .venv/bin/python bench/bounce_parse.py [--rounds 7] [--tree PATH]

``--tree`` imports ``warmup`` from another checkout (e.g. a ``git worktree`` of main) to compare
before/after in one run: its rounds are interleaved too. Goal: >= 500 messages/s.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

GOAL = 500.0
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "tests" / "corpus").glob("*/**/*.eml"))


def rate(fn: Callable[[bytes], object], messages: list[bytes]) -> tuple[float, float]:
    """Messages per second of ``fn`` over ``messages``, one pass: (wall clock, CPU time)."""
    start, cpu = time.perf_counter(), time.process_time()
    for raw in messages:
        fn(raw)
    cpu = time.process_time() - cpu
    # process_time ticks coarsely on some systems: never divide by zero.
    return len(messages) / (time.perf_counter() - start), len(messages) / max(cpu, 1e-9)


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

    runs: dict[str, list[tuple[float, float]]] = {"stdlib": [], "this tree": []}
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
    print(f"  load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    med, cpu = {}, {}
    for k, v in runs.items():
        walls, cpus = [w for w, _ in v], [c for _, c in v]
        med[k], cpu[k] = statistics.median(walls), statistics.median(cpus)
        print(
            f"  {k:10}  {med[k]:8.0f} messages/s wall (median; min {min(walls):.0f}, "
            f"max {max(walls):.0f}), {cpu[k]:.0f}/s of CPU time (median; max {max(cpus):.0f})"
        )
    print(
        f"  this tree / stdlib parse: {med['this tree'] / med['stdlib']:.3f} wall, "
        f"{cpu['this tree'] / cpu['stdlib']:.3f} CPU"
    )
    if other is not None:
        print(
            f"  this tree / other tree:   {med['this tree'] / med['other tree']:.3f} wall, "
            f"{cpu['this tree'] / cpu['other tree']:.3f} CPU"
        )
        # Each round's two trees ran side by side: the median of their ratios, round by round,
        # cancels the load that drifts between rounds on a shared machine.
        pairs = list(zip(runs["this tree"], runs["other tree"], strict=True))
        print(
            "  the same, round by round (median of the rounds' ratios): "
            f"{statistics.median(t[0] / o[0] for t, o in pairs):.3f} wall, "
            f"{statistics.median(t[1] / o[1] for t, o in pairs):.3f} CPU"
        )
    verdict = "met" if med["this tree"] >= GOAL else "NOT met"
    print(f"  goal >= {GOAL:.0f} messages/s (wall): {verdict}")


if __name__ == "__main__":
    main()
