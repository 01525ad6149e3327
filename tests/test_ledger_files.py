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


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder holding a ledger (one mailbox, one send) that this process cannot write, and
    why, as the refusal says it: a read-only mount (tmpfs remounted ro) as root, whom file modes
    do not stop; as another user, a folder of mode 0555 (then the commands run as that user)."""
    where = tmp_path / "ro"
    where.mkdir()
    root = os.geteuid() == 0
    if root:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], check=True)
    env = {"WARMUP_DB": str(where / "ledger.db")}
    try:
        assert cli("mailbox", "add", BOX, "--provider", "exmail", env=env).returncode == 0
        assert cli("record", "send", BOX, "--to", "a@example.com", env=env).returncode == 0
        assert sorted(p.name for p in where.iterdir()) == ["ledger.db"]  # no -wal, no -shm
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
            yield where, "on a read-only file system; "
        else:
            where.chmod(0o555)
            yield where, f"this user may not write to its folder {where}; "
    finally:
        if root:
            subprocess.run(["umount", str(where)], check=True)
        else:
            where.chmod(0o755)


@pytest.mark.parametrize(
    "args",
    [("quota", BOX), ("report",), ("bounces", "list"), ("record", "send", BOX, "--to", "b@x.org")],
    ids=["quota", "report", "bounces-list", "record-send"],
)
def test_a_ledger_that_cannot_be_written_here_says_it_is_read_only_and_what_to_do(
    read_only_folder, args
):
    """A ledger on a read-only mount (or in a folder the user may not write) refused even the
    commands that only read (SQLite makes ledger.db-shm beside a WAL ledger to read it), with
    "unable to open database file; check the path and its permissions": the path and the
    permissions were fine. The line says the ledger is read-only here and what to do."""
    where, why = read_only_folder
    db = where / "ledger.db"
    before = db.read_bytes()
    res = warmup(*args, env={"WARMUP_DB": str(db)})
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr.startswith(
        f"Error: ledger {db} is read-only here: {why}SQLite writes beside a ledger (its -shm "
        f"file) even to read it: "
    ), res.stderr
    assert res.stderr.endswith(
        f"or read a copy of it (cp {db} /tmp/ledger.db, then --db /tmp/ledger.db)\n"
    ), res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert db.read_bytes() == before and sorted(p.name for p in where.iterdir()) == ["ledger.db"]
