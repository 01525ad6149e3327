"""The ledger file in trouble, as a user meets it: a disk that fills up under a write.

The refusal said "database or disk is full; check the path and its permissions": the path and
the permissions were fine, the disk was not. It now says what to do: free space, then again; exit 74 (an I/O error), not 78 (configuration).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import BOX, cli, warmup


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs): a disk that fills up, as only root can make one."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the CI container runs as root)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_says_to_free_space_not_to_check_permissions(small_disk, tmp_path):
    db = small_disk / "ledger.db"
    env = {"WARMUP_DB": str(db)}
    assert cli("mailbox", "add", BOX, "--provider", "exmail", env=env).returncode == 0
    before = ledger_digest(db)
    listed = tmp_path / "unsubscribed.txt"
    listed.write_text("".join(f"user{i}@example.com\n" for i in range(30000)))
    res = cli("suppress", "add", "--from", str(listed), "--reason", "unsubscribed", env=env)
    assert (res.returncode, res.stdout) == (74, ""), res.stderr  # I/O (74), not set-up (78)
    assert res.stderr == (
        f"Error: ledger {db}: database or disk is full; free space on the disk that holds it, "
        f"then try again\n"
    )
    assert ledger_digest(db) == before  # nothing half-suppressed
    listing = cli("suppress", "list", env=env)  # reads still work on the full disk
    assert (listing.returncode, listing.stdout) == (0, "No suppressed addresses.\n")


def _corrupt_send_table(db: Path) -> bytes:
    """Overwrite the root page of the ledger's ``send`` table with garbage: a file that opens
    (its header and schema are whole) and breaks only when a send is read or written; its
    bytes after, to prove nothing more was written."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = con.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'send'")
    finally:
        con.close()
    with open(db, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * size)
    return db.read_bytes()


CORRUPT = (
    "ledger {db} is not a warmup ledger or is corrupted (database disk image is malformed); "
    "point --db/WARMUP_DB at another file or restore a backup"
)


def test_a_corrupt_page_met_by_the_gate_is_one_line_not_a_traceback(ledger_path):
    """The gate's own connection let sqlite3.DatabaseError (SQLITE_CORRUPT) through: only its
    OperationalError was worded. It is the same refusal as a corrupt file met on opening
    (78: the ledger named is no usable ledger; point at another or restore a backup)."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    before = _corrupt_send_table(ledger_path)
    env = {"WARMUP_PASSWORD": "not-used"}
    res = warmup("send", BOX, "--to", "lead@example.com", "--subject", "s", "--body", "b", env=env)
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr == f"Error: {CORRUPT.format(db=ledger_path)}\n"
    assert ledger_path.read_bytes() == before


def test_a_corrupt_page_met_by_the_relay_defers_the_message_in_one_line(ledger_path):
    """Through the relay the message is deferred (451: the script may try again once the
    ledger is restored), and the relay says why in one line, not 'internal error'."""
    assert cli("mailbox", "add", BOX, "--provider", "exmail").returncode == 0
    before = _corrupt_send_table(ledger_path)
    script = 'printf "Subject: x\\n\\nhi\\n" | sendmail lead@example.com; echo "shim=$?"'
    res = warmup("send", BOX, "--", "sh", "-c", script, env={"WARMUP_PASSWORD": "not-used"})
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    assert res.stdout == "shim=75\n"  # EX_TEMPFAIL: the relay's 451
    assert f"warmup: {CORRUPT.format(db=ledger_path)}\n" in res.stderr
    assert ledger_path.read_bytes() == before
