"""Today's counts cost the same however busy the day: ``quota`` over many mailboxes and a
reservation under domain caps, against the number of sends already made today.

    .venv/bin/python bench/today_counts.py [--levels 100,1000,10000,50000] [--rounds 5]
                                           [--n 40] [--pg] [--uncapped]

One ledger per level (SQLite files in a temporary directory; with ``--pg``, a schema each on
the PostgreSQL server of ``WARMUP_TEST_PG``, as the tests make them, dropped after), each with
20 mailboxes of one domain (Asia/Shanghai, so the local day holds whatever UTC hour the bench
runs at) and LEVEL sends stamped since the local midnight, spread over the mailboxes and 50
recipient domains. The policy is flat (no pacing, a quota no bench reaches) with a domain cap
and ``[recipient_domains]`` caps, so both of the gate's domain counts are read (with
``--uncapped``, neither: what the rollups' upkeep costs a reservation that reads neither).

Each round, on every ledger in turn (rounds interleaved, levels in a new order each round):

- quota: :func:`warmup.api.quotas` of the 20 mailboxes (in-process, the walk memos kept: what a
  ``warmup quota`` of every mailbox reads after its start-up), timed over 5 calls;
- gate: N reserve + settle("sent") through one :class:`warmup.Gate` (one recipient each, on a
  capped domain), as a script sending a batch does.

Prints each level's per-call cost (this process's CPU time: the machine is shared, and the
statements run in-process on SQLite; on PostgreSQL the server's CPU is not in it) and its ratio
to the first (smallest) level, measured in the same rounds: the median of the per-round ratios.
Flat means ~1.0 at every level.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warmup import Gate, api, open_ledger
from warmup.ledger import SendIn
from warmup.ledger.values import day_start, local_day

TZ = "Asia/Shanghai"
BOXES = [f"m{k:02d}@corp.example" for k in range(20)]
DOMAINS = [f"d{k}.example" for k in range(50)]
POLICY = """name = "flat-capped"
ceiling = 1000000
growth_factor = 2.0
domain_cap = 1000000

[[stage]]
name = "flat"
days = 0
daily = 1000000
interval = "0s"

[recipient_domains]
default = 1000000
"d0.example" = 1000000
"""


def seed(url: str, policy: Path, level: int, now: dt.datetime) -> None:
    """A ledger at ``url`` with the 20 mailboxes and ``level`` sends today before ``now``."""
    ledger = open_ledger(url)
    for address in BOXES:
        api.add_mailbox(ledger, address, "exmail", policy=str(policy), timezone=TZ)
    start = day_start(local_day(now, TZ), TZ)
    span = (now - dt.timedelta(minutes=10) - start).total_seconds()
    rng = random.Random(level)
    for b, address in enumerate(BOXES):
        box = ledger.mailbox(address)
        count = level // len(BOXES) + (b < level % len(BOXES))
        sends = [
            SendIn(
                f"r{b}-{i}@{rng.choice(DOMAINS)}",
                start + dt.timedelta(seconds=span * (i + 0.5) / max(count, 1)),
                f"<{b}-{i}@seed>",
                "import",
            )
            for i in range(count)
        ]
        for k in range(0, len(sends), 5000):
            ledger.record(box, sends=sends[k : k + 5000])
    ledger.close()


def quota_cost(url: str, calls: int = 5) -> float:
    ledger = open_ledger(url)
    try:
        boxes = [ledger.mailbox(a) for a in BOXES]
        api.quotas(ledger, boxes, dt.datetime.now(dt.UTC))  # memos kept, connections warm
        t0 = time.process_time()
        for _ in range(calls):
            answers = api.quotas(ledger, boxes, dt.datetime.now(dt.UTC))
        elapsed = (time.process_time() - t0) / calls
        assert len(answers) == len(BOXES)
        return elapsed
    finally:
        ledger.close()


def gate_cost(url: str, n: int, tag: str) -> float:
    with Gate(BOXES[0], db=url, password="unused") as gate:
        gate.reserve([f"{tag}-warm@d0.example"]).settle("sent")
        t0 = time.process_time()
        for i in range(n):
            gate.reserve([f"{tag}-{i}@d{i % 3}.example"]).settle("sent")
        return (time.process_time() - t0) / n


def _pg(level: int) -> tuple[str, Any]:
    """A ledger URL in a fresh schema of the test server (``WARMUP_TEST_PG``), and its dropper."""
    from tests.pgkit import PgSchema

    schema = PgSchema(f"today{level}")
    return schema.url, schema.drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="100,1000,10000,50000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=40, help="reservations a round and level")
    parser.add_argument("--pg", action="store_true", help="on the test server (WARMUP_TEST_PG)")
    parser.add_argument(
        "--uncapped", action="store_true", help="a policy without domain or recipient caps"
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="warmup-today-"))
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    policy = tmp / "flat-capped.toml"
    text = POLICY
    if args.uncapped:
        text = text.split("[recipient_domains]")[0].replace("domain_cap = 1000000\n", "")
    policy.write_text(text)
    now = dt.datetime.now(dt.UTC)
    urls: dict[int, str] = {}
    drops = []
    for level in levels:
        if args.pg:
            urls[level], drop = _pg(level)
            drops.append(drop)
        else:
            urls[level] = str(tmp / f"today-{level}.db")
        t0 = time.perf_counter()
        seed(urls[level], policy, level, now)
        print(f"level {level}: seeded in {time.perf_counter() - t0:.1f} s", flush=True)
    quota: dict[int, list[float]] = {lv: [] for lv in levels}
    gate: dict[int, list[float]] = {lv: [] for lv in levels}
    try:
        for r in range(args.rounds):
            order = levels[r % len(levels) :] + levels[: r % len(levels)]
            for level in order:
                quota[level].append(quota_cost(urls[level]))
                gate[level].append(gate_cost(urls[level], args.n, f"r{r}"))
            print(
                f"round {r + 1}: "
                + "  ".join(
                    f"{lv}: quota {quota[lv][-1] * 1e3:.1f} ms gate {gate[lv][-1] * 1e6:.0f} us"
                    for lv in levels
                ),
                flush=True,
            )
    finally:
        for drop in drops:
            drop()
    m, base = statistics.median, levels[0]
    print(
        f"\nsends today | quota, 20 mailboxes (ms) | ÷ {base} | Gate reserve+settle (us) | ÷ {base}"
    )
    for level in levels:
        qr = m(q / b for q, b in zip(quota[level], quota[base], strict=True))
        gr = m(g / b for g, b in zip(gate[level], gate[base], strict=True))
        print(
            f"{level:>11} | {m(quota[level]) * 1e3:24.2f} | {qr:5.2f} | "
            f"{m(gate[level]) * 1e6:24.0f} | {gr:5.2f}"
        )


if __name__ == "__main__":
    main()
