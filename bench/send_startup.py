"""Whole-command cost of ``warmup send ADDRESS --to RCPT --subject S --body B`` (one message, a
new process, as scripts call it) against the lean sink (bench/leansink.py), wall and CPU, as a
ratio to ``python -c "import sqlmodel, click, pendulum"`` measured in the same rounds,
interleaved. With ``--old TREE`` (e.g. ``git worktree add /tmp/old main``) the same command
from that checkout joins each round, on a ledger of its own, for a before/after.

    .venv/bin/python bench/send_startup.py [--runs 15] [--warmups 2] [--old /tmp/old] [--calendar]

Every command reads bytecode from the bench's own cache, filled first (bench/bytecache.py: this
machine sets PYTHONDONTWRITEBYTECODE and the venv holds none); each tree's ``warmup`` is
run as ``python -m warmup`` from the tree's root. The policy is flat (no pacing, a quota far
above the runs), so every run is granted, sent and settled; with ``--calendar`` it has China's
calendar too (and sends on its holidays), as an exmail mailbox's has, its answers kept in the
run's own cache folder (``XDG_CACHE_HOME``) by the warm-ups.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from bytecache import cached_env, compiled
from leansink import LeanSink
from rounds import rounds, show

from tests.gatekit import policy_file
from tests.peers.tls import TestPKI

BOX = "sales@corp.example"
PASSWORD = "bench-password"
HERE = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--old", type=Path, help="another checkout to time in the same rounds")
    parser.add_argument("--calendar", action="store_true", help='[calendar] country = "CN"')
    args = parser.parse_args()
    py = sys.executable
    trees = {"new": HERE, **({"old": args.old.resolve()} if args.old else {})}
    # Bytecode as an installed package has it, for warmup and the baseline's packages alike
    # (bench/bytecache.py): without it the baseline compiled SQLAlchemy from source every run.
    compiled(cached_env(), list(trees.values()))
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        d = Path(tmp)
        pki = TestPKI(d / "pki")
        policy = policy_file(d / "policy.toml", daily=1_000_000)
        if args.calendar:
            policy.write_text(
                policy.read_text() + '\n[calendar]\ncountry = "CN"\nskip_holidays = false\n'
            )
        base = {k: v for k, v in cached_env().items() if not k.startswith(("SMTP_", "WARMUP_"))}
        base.update(SSL_CERT_FILE=str(pki.ca_pem_path), WARMUP_PASSWORD=PASSWORD)
        base.update(XDG_CACHE_HOME=str(d / "cache"))
        with LeanSink(pki, BOX, PASSWORD) as sink:
            envs = {}
            for name, tree in trees.items():
                envs[name] = {**base, "WARMUP_DB": str(d / f"{name}.db")}
                add = ["mailbox", "add", BOX, "--provider", "exmail", "--smtp-host", "127.0.0.1"]
                add += ["--smtp-port", str(sink.port), "--policy", str(d / "policy.toml")]
                subprocess.run([py, "-m", "warmup", *add], env=envs[name], cwd=tree, check=True)
            cmds = {
                name: [py, "-m", "warmup", "send", BOX, "--to", "lead@example.com"]
                + ["--subject", "Hello", "--body", "Hi there"]
                for name in trees
            }
            cmds["base"] = [py, "-c", "import sqlmodel, click, pendulum"]
            cwd = {**trees, "base": HERE}
            env = {**envs, "base": base}
            wall, cpu = rounds(cmds, env, cwd, args.runs, args.warmups)
    print(f"python: {py}; load: {os.getloadavg()[0]:.1f}")
    print(f"runs: {args.runs} each, interleaved, after {args.warmups} warm-ups", end="")
    print("; policy with China's calendar" if args.calendar else "")
    show(wall, cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
