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
from tests.gatekit import BOX, cli


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
