"""The ledger's key for derived Message-IDs (:meth:`warmup.ledger.Ledger.message_id_key`): made
once, by whichever process asks first, and the same for every process and backend after."""

from __future__ import annotations

import subprocess
import sys

from warmup import open_ledger
from warmup.ledger import open_gate_ledger
from warmup.ledger.values import DERIVE_KEY

pytest_plugins = ["tests.pgkit"]  # ledger_url: SQLite and PostgreSQL

ASK = (
    "import sys\n"
    "from warmup.ledger import open_gate_ledger\n"
    "sys.stdin.readline()\n"  # all started: ask at once
    "print(open_gate_ledger(sys.argv[1]).message_id_key().key.hex())\n"
)


def test_processes_racing_for_a_new_ledgers_key_all_get_the_one_kept(ledger_url):
    open_ledger(ledger_url).close()  # a ledger without a key yet
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ASK, ledger_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    keys = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    led = open_ledger(ledger_url)
    try:
        stored = led.settings(DERIVE_KEY)
    finally:
        led.close()
    assert list(stored) == [DERIVE_KEY]
    assert keys == {stored[DERIVE_KEY].split()[0]}  # one key, the one kept
    assert len(keys.pop()) == 64
    # Read again by a fresh opening (SQLite: the driver-level one): the same.
    gate_ledger = open_gate_ledger(ledger_url)
    try:
        assert gate_ledger.message_id_key().key.hex() == stored[DERIVE_KEY].split()[0]
    finally:
        gate_ledger.close()
