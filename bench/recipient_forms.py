"""How fast a huge To in other forms than plain addresses is refused, against a plain one.

    .venv/bin/python bench/recipient_forms.py [--runs 3] [--sizes 20000,100000] [--before TREE]
        [--timeout 300]

Each contender is a whole command run by this interpreter (``-m warmup``) with a tree first on
``PYTHONPATH``, on a ledger of one exmail mailbox (ceiling 300), that must exit 65 with
"N recipients in one message": ``warmup queue add --eml`` and ``warmup send --eml`` (refused
before any connection) of a message whose To names N addresses written

- plain (the baseline): ``user1@example.com, user2@example.com, ...``;
- quoted: ``"Doe1, John" <user1@example.com>, ...`` (a comma in each display name);
- encoded: ``=?utf-8?b?RMO2IDE=?= <user1@example.com>, ...`` (RFC 2047 display names);
- comment: ``user1@example.com (User 1), ...``;
- group: ``team: user1@example.com, ...;``;
- mixed: the four in turn, and a ``"Team": ...;`` group of them.

With ``--before TREE`` (``git archive main warmup | tar -x -C /tmp/old``) the same commands
from that tree, in the same rounds; a run over ``--timeout`` seconds is cut and counted as
that long (the header registry takes minutes for 100,000 of the non-plain forms).

Rounds interleave every contender, so the machine's noise hits them alike. Prints each one's
median and range, and each median as a ratio of the plain list's, same command, size and tree
(goal: a few seconds for 100,000, a small multiple of the plain list's).
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bytecache import cached_env, compiled

HERE = Path(__file__).resolve().parents[1]
BOX = "a@corp.example"
FORMS = ("plain", "quoted", "encoded", "comment", "group", "mixed")


def element(form: str, i: int) -> str:
    addr = f"user{i}@example.com"
    if form == "quoted":
        return f'"Doe{i}, John" <{addr}>'
    if form == "encoded":
        return f"=?utf-8?b?{base64.b64encode(f'Dö {i}'.encode()).decode()}?= <{addr}>"
    if form == "comment":
        return f"{addr} (User {i})"
    return addr


def to(form: str, n: int) -> str:
    if form == "group":
        return "team: " + ", ".join(element("plain", i) for i in range(n)) + ";"
    if form == "mixed":
        kinds = ("plain", "quoted", "encoded", "comment")
        half = n // 2
        listed = ", ".join(element(kinds[i % 4], i) for i in range(half))
        return (
            f'{listed}, "Team": '
            + ", ".join(element(kinds[i % 4], i) for i in range(half, n))
            + ";"
        )
    return ", ".join(element(form, i) for i in range(n))


def timed(cmd: list[str], env: dict[str, str], n: int, timeout: float) -> float:
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, check=False, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return timeout
    took = time.perf_counter() - start
    if proc.returncode != 65 or f"{n} recipients in one message" not in proc.stderr:
        raise SystemExit(f"{' '.join(cmd[2:])}: exit {proc.returncode}: {proc.stderr[-300:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="20000,100000")
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--before", type=Path, help="another checkout, timed in the same rounds")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    forms = ["plain", *(f for f in args.forms.split(",") if f != "plain")]
    trees = {"this": HERE, **({"before": args.before.resolve()} if args.before else {})}
    env = cached_env()
    env["PYTHONSAFEPATH"] = "1"  # -m put the working directory first, ahead of PYTHONPATH
    compiled(env, list(trees.values()))
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        ledger = str(Path(tmp) / "ledger.db")
        base = {**env, "WARMUP_DB": ledger}
        add = [sys.executable, "-m", "warmup", "mailbox", "add", BOX, "--provider", "exmail"]
        subprocess.run(add, env={**base, "PYTHONPATH": str(HERE)}, check=True, capture_output=True)
        files: dict[tuple[str, int], Path] = {}
        for form in forms:
            for n in sizes:
                path = Path(tmp) / f"{form}-{n}.eml"
                head = f"From: {BOX}\r\nTo: {to(form, n)}\r\nSubject: hi\r\n\r\nhello\r\n"
                path.write_bytes(head.encode())
                files[form, n] = path
        commands = {
            "queue add": ["queue", "add", "--mailbox", BOX, "--eml"],
            "send": ["send", BOX, "--eml"],
        }
        keys = [(t, c, f, n) for t in trees for c in commands for n in sizes for f in forms]
        times: dict[tuple[str, str, str, int], list[float]] = {k: [] for k in keys}
        for i in range(args.runs + 1):  # the first round warms the page cache, not counted
            for tree, command, form, n in keys:
                if i == 0 and form != "plain":
                    continue
                cmd = [sys.executable, "-m", "warmup", *commands[command], str(files[form, n])]
                env_of = {**base, "PYTHONPATH": str(trees[tree])}
                took = timed(cmd, env_of, n, args.timeout)
                if i:
                    times[tree, command, form, n].append(took)
    print(f"{args.runs} rounds, interleaved; exit 65 'N recipients in one message' from each")
    for tree, command, form, n in keys:
        got = times[tree, command, form, n]
        median = statistics.median(got)
        plain = statistics.median(times[tree, command, "plain", n])
        cut = " (cut at the timeout)" if max(got) >= args.timeout else ""
        print(
            f"{tree:6} {command:9} {form:8} {n:7}  median {median:7.2f} s  range "
            f"{min(got):6.2f}-{max(got):6.2f} s  / plain {median / plain:6.2f}{cut}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
