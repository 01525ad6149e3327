"""A reservation's cost does not grow with the mailbox's history (issue #11: O(1) reservations).

    .venv/bin/python bench/gate_history.py [--n 2000] [--rounds 5] [--db postgresql+psycopg://...]

Two mailboxes in one ledger (SQLite by default): ``new@`` with one day of history, ``old@`` with
three years (1,095 days of 100 sends, bounces, pauses and resumes, provider back-offs). Each round
times N reserve + settle("sent") through the public API (``Gate.reserve`` then
``Reservation.settle``, one ``Gate`` per mailbox, as a script sending a batch does) on each
mailbox, interleaved; and, per process as ``warmup send`` runs, a new ``Gate`` per message
(open, reserve, settle, close). Prints the ratio old ÷ new for both. Goal ≤ 1.2.

The flat policy (no pacing, a quota no bench reaches) keeps the gate from refusing; the wall
clock is the real one, so the ledger keeps its walk memos as in production.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.gatekit import policy_file
from warmup import Gate, api, open_ledger
from warmup.ledger import BounceIn, EventIn, SendIn

NEW, OLD = "new@corp.example", "old@corp.example"
YEARS3 = 3 * 365


def fill(ledger, address: str, days: int, per_day: int = 100) -> None:  # type: ignore[no-untyped-def]
    """``days`` days of history ending yesterday, a day per transaction."""
    box = ledger.mailbox(address)
    today = dt.datetime.now(dt.UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    for k in range(days, 0, -1):
        day = today - dt.timedelta(days=k)
        sends = []
        for i in range(per_day):
            at = day + dt.timedelta(minutes=2 * i)
            bounce = (
                BounceIn(f"r{k}-{i}@example.com", "soft", at + dt.timedelta(minutes=5), f"b{k}-{i}")
                if i % 97 == 3
                else None
            )
            sends.append(
                SendIn(f"r{k}-{i}@example.com", at, f"<{address}-{k}-{i}@x>", "import", bounce)
            )
        events = []
        if k % 90 == 0:
            events = [
                EventIn("pause", day + dt.timedelta(hours=5), "review"),
                EventIn("resume", day + dt.timedelta(hours=6), "ok"),
            ]
        if k % 45 == 0:
            events.append(
                EventIn(
                    "throttle",
                    day + dt.timedelta(hours=7),
                    "421",
                    day + dt.timedelta(hours=7, minutes=30),
                )
            )
        ledger.record(box, sends=sends, events=events)


def batch(address: str, n: int, tag: str) -> float:
    with Gate(address, password="unused") as gate:
        start = time.perf_counter()
        for i in range(n):
            gate.reserve([f"{tag}-{i}@example.com"]).settle("sent")
        return (time.perf_counter() - start) / n


def per_process(address: str, n: int, tag: str) -> float:
    start = time.perf_counter()
    for i in range(n):
        with Gate(address, password="unused") as gate:
            gate.reserve([f"{tag}-{i}@example.com"]).settle("sent")
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", help="a ledger URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    import os

    os.environ["WARMUP_DB"] = args.db or str(tmp / "ledger.db")
    flat = str(policy_file(tmp / "flat.toml", daily=1_000_000))
    ledger = open_ledger()
    for address in (NEW, OLD):
        api.add_mailbox(ledger, address, "exmail", policy=flat)
    t0 = time.perf_counter()
    fill(ledger, NEW, 1)
    fill(ledger, OLD, YEARS3)
    print(
        f"history: {NEW} 1 day, {OLD} {YEARS3} days "
        f"({ledger.history_size(ledger.mailbox(OLD))} sends and bounces), "
        f"filled in {time.perf_counter() - t0:.0f} s"
    )
    ledger.close()
    batch(NEW, 50, "warm"), batch(OLD, 50, "warm")  # first use of the day: memos computed
    new, old, pnew, pold = [], [], [], []
    for r in range(args.rounds):
        new.append(batch(NEW, args.n, f"b{r}"))
        old.append(batch(OLD, args.n, f"b{r}"))
        pnew.append(per_process(NEW, args.n // 10, f"p{r}"))
        pold.append(per_process(OLD, args.n // 10, f"p{r}"))
        print(
            f"round {r + 1}: one Gate  new {new[-1] * 1e6:6.0f} us  old {old[-1] * 1e6:6.0f} us"
            f"   ratio {old[-1] / new[-1]:.2f}  |  Gate per message  new "
            f"{pnew[-1] * 1e6:6.0f} us  old {pold[-1] * 1e6:6.0f} us  "
            f"ratio {pold[-1] / pnew[-1]:.2f}"
        )
    m = statistics.median
    paired = m(o / n for o, n in zip(old, new, strict=True))
    ppaired = m(o / n for o, n in zip(pold, pnew, strict=True))
    print(
        f"reserve+settle, 3 years of history / 1 day: {m(old) / m(new):.2f} (ratio of medians),"
        f" {paired:.2f} (median of per-round ratios)  (goal <= 1.2)"
    )
    print(
        f"the same with a new Gate per message (as `warmup send`): {m(pold) / m(pnew):.2f}, "
        f"{ppaired:.2f}"
    )


if __name__ == "__main__":
    main()
