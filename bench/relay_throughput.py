"""Throughput of a sending script through the loopback relay ÷ the same script sending directly.

    .venv/bin/python bench/relay_throughput.py [--messages 200] [--rounds 3] [--chunking]
                                               [--rtt-ms MS]

One loopback TLS sink (bench/leansink.py: implicit TLS with a test CA, in its own process,
counting messages without parsing them) is the upstream server for both ways, measured in the
same run and interleaved:

- direct: the script connects to the sink itself (SMTP over TLS, AUTH) and sends N messages;
- relay: ``warmup send ADDRESS -- script`` — the script sends the same N messages to the relay
  (plain SMTP on 127.0.0.1, AUTH), which gates each one (reserve, send upstream over TLS,
  settle in a temporary SQLite ledger) before it answers.

Each round's messages are its own (the round in the Subject): the relay gives a message without
a Message-ID one derived from its bytes, recipients and day, so the same bytes to the same
recipient again the same day is a retry or a repeat, and a repeat costs a refused reservation,
a read and a second reservation (about 1 ms here); rounds that repeated the first round's
messages measured that instead of a script's sends. The script times only its own send loop on one connection (after connect and login), so Python
start-up and the relay's set-up do not count. The policy has no pacing (interval 0) and a quota
far above N. With ``--chunking`` the sink also offers CHUNKING (RFC 3030), as Gmail and
Exchange Online do: the relay then sends each message upstream in one write (MAIL, RCPT, BDAT
and the data), the direct script converses as before (smtplib has no BDAT). With ``--rtt-ms``
both ways reach the sink through bench/delayproxy.py (its own process), which delays every
byte by half that each way: the network to a provider, where the script and warmup run on one
host and the server is elsewhere (the script-to-relay hop stays on loopback). Prints msg/s for
each way per round, the ratio of the medians and the median of the per-round ratios (rounds are
interleaved, so the paired figure resists load drift). Goals: >= 0.4 (the first issue), >= 0.6
(#15).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from delayproxy import DelayProxy
from leansink import LeanSink

from tests.gatekit import policy_file
from tests.peers.tls import TestPKI

BOX, PASSWORD = "a@corp.example", "s3cret-pass"

SCRIPT = textwrap.dedent("""\
    import json, os, smtplib, ssl, sys, time
    from email.message import EmailMessage

    n, out = int(sys.argv[1]), sys.argv[2]
    env = os.environ
    host, port = env["SMTP_HOST"], int(env["SMTP_PORT"])
    if env.get("BENCH_TLS"):
        s = smtplib.SMTP_SSL(host, port, context=ssl.create_default_context(), timeout=60)
    else:
        s = smtplib.SMTP(host, port, timeout=60)
    s.login(env["SMTP_USER"], env["SMTP_PASSWORD"])
    start = time.perf_counter()
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = env["SMTP_USER"]
        msg["To"] = f"lead{i}@example.com"
        msg["Subject"] = f"bench {i} {os.path.basename(out)}"  # each round's its own
        msg.set_content("A short warm-up message.\\n")
        s.send_message(msg)
    elapsed = time.perf_counter() - start
    s.quit()
    json.dump({"n": n, "seconds": elapsed}, open(out, "w"))
""")


def run(cmd: list[str], env: dict[str, str]) -> None:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}\n{res.stderr}")


def rate(path: Path) -> float:
    data = json.loads(path.read_text())
    return data["n"] / data["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunking", action="store_true", help="the sink offers CHUNKING")
    parser.add_argument("--rtt-ms", type=float, default=0, help="round trip to the sink")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        d = Path(tmp)
        pki = TestPKI(d / "pki")
        (d / "script.py").write_text(SCRIPT)
        policy_file(d / "policy.toml", daily=1_000_000)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "WARMUP_"))}
        base.update(WARMUP_DB=str(d / "ledger.db"), SSL_CERT_FILE=str(pki.ca_pem_path))
        with contextlib.ExitStack() as stack:
            sink = stack.enter_context(LeanSink(pki, BOX, PASSWORD, chunking=args.chunking))
            port = sink.port
            if args.rtt_ms:
                port = stack.enter_context(DelayProxy(sink.port, args.rtt_ms)).port
            run(
                [
                    py,
                    "-m",
                    "warmup",
                    "mailbox",
                    "add",
                    BOX,
                    "--provider",
                    "exmail",
                    "--smtp-host",
                    "127.0.0.1",
                    "--smtp-port",
                    str(port),
                    "--policy",
                    str(d / "policy.toml"),
                ],
                base,
            )
            direct_env = {
                **base,
                "BENCH_TLS": "1",
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(port),
                "SMTP_USER": BOX,
                "SMTP_PASSWORD": PASSWORD,
            }
            relay_env = {**base, "WARMUP_PASSWORD": PASSWORD}
            direct, relayed = [], []
            for r in range(args.rounds):
                out = d / f"direct{r}.json"
                run([py, str(d / "script.py"), str(args.messages), str(out)], direct_env)
                direct.append(rate(out))
                out = d / f"relay{r}.json"
                run(
                    [
                        py,
                        "-m",
                        "warmup",
                        "send",
                        BOX,
                        "--refuse",
                        "--",
                        py,
                        str(d / "script.py"),
                        str(args.messages),
                        str(out),
                    ],
                    relay_env,
                )
                relayed.append(rate(out))
                print(
                    f"round {r + 1}: direct {direct[-1]:7.1f} msg/s   "
                    f"relay {relayed[-1]:7.1f} msg/s   ratio {relayed[-1] / direct[-1]:.2f}"
                )
        expected = 2 * args.rounds * args.messages
        if sink.received != expected:
            raise SystemExit(f"the sink received {sink.received} messages, not {expected}")
        if sink.chunked != (expected // 2 if args.chunking else 0):
            raise SystemExit(f"{sink.chunked} of the messages came with BDAT")
    md, mr = statistics.median(direct), statistics.median(relayed)
    print(
        f"median: direct {md:.1f} msg/s, relay {mr:.1f} msg/s "
        f"({1000 / md:.2f} vs {1000 / mr:.2f} ms/msg)"
    )
    paired = statistics.median(r / d for r, d in zip(relayed, direct, strict=True))
    print(
        f"(b) relay / direct throughput = {mr / md:.2f} (ratio of medians), "
        f"{paired:.2f} (median of per-round ratios)  (goal >= 0.4; issue #15: >= 0.6)"
    )


if __name__ == "__main__":
    main()
