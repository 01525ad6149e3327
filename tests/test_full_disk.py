"""A SQLite ledger on a disk with no room left (a real tmpfs filled up, as root can make one).

SQLite reads a WAL ledger through the -shm index it makes beside it; on a full disk it could
not, and every command, ``quota`` included, exited 74 with "disk I/O error (a read or write of
the file failed); check the disk that holds it (the system log says why)": a log that says
nothing, for a disk that is merely full, and no answer from commands that only read. Now the
commands that read take the file as it is (as on a read-only mount), and a write says the
disk is full (74), its ledger untouched."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY, BOX, cli, rows, warmup
from tests.test_faults import fill
from tests.zonekit import kit_zone


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs holding a ledger of one mailbox and one send, closed (no -wal, no -shm)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        env = {"WARMUP_DB": str(mnt / "ledger.db")}
        # in the test's zone, not Shanghai's: the send and the quota asked after it, one day
        exmail = ("--provider", "exmail", "--policy", str(ANY_DAY), "--timezone", kit_zone())
        assert cli("mailbox", "add", BOX, *exmail, env=env).returncode == 0
        assert cli("record", "send", BOX, "--to", "a@example.com", env=env).returncode == 0
        assert sorted(p.name for p in mnt.iterdir()) == ["ledger.db"]
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


FULL = (
    "Error: ledger {db}: the disk that holds it is full; free space on it, then try again "
    "(commands that only read the ledger, such as quota and report, work as it is)\n"
)


@pytest.mark.parametrize("leftover", [False, True], ids=["nothing-beside", "short-shm-beside"])
def test_a_full_disk_is_said_to_be_full_and_the_commands_that_read_still_answer(
    small_disk, leftover
):
    """``leftover``: an -shm and -wal an open cut short by the full disk left beside it (SQLite
    made the files, then could not grow the -shm), as the next command finds them."""
    db = small_disk / "ledger.db"
    env = {"WARMUP_DB": str(db)}
    before = ledger_digest(db)
    if leftover:
        (small_disk / "ledger.db-shm").write_bytes(b"\0\0\0")
        (small_disk / "ledger.db-wal").write_bytes(b"")
    fill(small_disk)
    for args in (("quota", BOX), ("report", "--json"), ("queue", "list")):
        res = warmup(*args, env=env)
        assert (res.returncode, res.stderr) == (0, ""), (args, res.stderr)
    assert f"{BOX}  week 1  1    50     1     49 " in warmup("quota", BOX, env=env).stdout
    for args in (
        ("record", "send", BOX, "--to", "b@example.com"),
        ("mailbox", "pause", BOX, "--reason", "x"),
        ("run", "--once", "--no-sync"),
    ):
        res = warmup(*args, env=env)
        assert (res.returncode, res.stdout, res.stderr) == (74, "", FULL.format(db=db)), args
    for filler in small_disk.glob("filler*"):
        filler.unlink()
    assert ledger_digest(db) == before
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    res = warmup("record", "send", BOX, "--to", "b@example.com", env=env)  # room again
    assert res.returncode == 0, res.stderr
