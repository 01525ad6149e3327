"""Two ``mailbox remove`` of one mailbox at once (two terminals, two hosts of a team ledger):
both printed "Removed", though the second removed nothing. It says the mailbox was removed
meanwhile (exit 64, as 'not found' a moment later); on SQLite it said "not found; add it
with 'warmup mailbox add ...'", of a mailbox it had just found. Real processes, both held at their write
by a lock the test takes until each has read the mailbox, so the race is run every time."""

from __future__ import annotations

import os
import sys
import uuid

from tests.gatekit import cli
from tests.pgkit import ledger_url  # noqa: F401  (the fixture)
from tests.test_queue_repeats import held_runs
from warmup import open_ledger

BOX = "sales@corp.example"


def test_the_second_of_two_removes_at_once_says_the_mailbox_was_removed_meanwhile(
    ledger_url,  # noqa: F811
    tmp_path,
):
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    app = f"remove-race-{uuid.uuid4().hex[:8]}"
    url = f"{ledger_url}&application_name={app}" if "?" in ledger_url else ledger_url
    env = {**os.environ, "WARMUP_DB": url, "XDG_CONFIG_HOME": str(tmp_path / "c")}
    cmd = [sys.executable, "-m", "warmup", "mailbox", "remove", BOX]
    procs = held_runs([cmd, cmd], env, ledger_url, app)
    outs = [p.communicate(timeout=60) for p in procs]
    said = sorted((p.returncode, *out) for p, out in zip(procs, outs, strict=True))
    assert said == [
        (0, f"Removed {BOX}.\n", ""),
        (
            64,
            "",
            f"Error: mailbox '{BOX}' was removed meanwhile (by another command or host); "
            f"nothing was written for it: see 'warmup mailbox list'\n",
        ),
    ], said
    ledger = open_ledger(ledger_url)
    try:
        assert ledger.mailboxes() == []
    finally:
        ledger.close()
