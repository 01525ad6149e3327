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


def test_processes_racing_to_make_a_missing_key_all_get_the_one_kept(ledger_url):
    from warmup.ledger.schema import SETTING

    made = open_ledger(ledger_url)  # made with a key (m031): taken away, as by hand
    with made.write() as conn:
        conn.execute(SETTING.delete())
    made.close()
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


def test_a_ledger_from_before_the_key_gets_one_on_upgrade_and_keeps_it(ledger_url):
    from tests.conftest import ledger_before
    from warmup.ledger.schema import SETTING

    old = ledger_before(ledger_url, "m031_message_id_key")
    with old.write() as conn:  # as that version left it: no key
        conn.execute(SETTING.delete())
    old.close()
    led = open_ledger(ledger_url)  # upgrades
    try:
        made = led.settings(DERIVE_KEY)[DERIVE_KEY]
        assert led.message_id_key().key.hex() == made.split()[0]
        again = open_ledger(ledger_url)
        try:
            assert again.settings(DERIVE_KEY) == {DERIVE_KEY: made}  # made once, then kept
        finally:
            again.close()
    finally:
        led.close()
