"""The ledger file in trouble, as a user meets it: a disk that fills up under a write.

The refusal said "database or disk is full; check the path and its permissions": the path and
the permissions were fine, the disk was not. It now says what to do: free space, then again; exit 74 (an I/O error), not 78 (configuration).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ledger_digest
from tests.gatekit import ANY_DAY, BOX, cli, warmup


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
    assert (
        cli("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).returncode == 0
    )
    before = _corrupt_send_table(ledger_path)
    env = {"WARMUP_PASSWORD": "not-used"}
    res = warmup("send", BOX, "--to", "lead@example.com", "--subject", "s", "--body", "b", env=env)
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr == f"Error: {CORRUPT.format(db=ledger_path)}\n"
    assert ledger_path.read_bytes() == before


def test_a_corrupt_page_met_by_the_relay_defers_the_message_in_one_line(ledger_path):
    """Through the relay the message is deferred (451: the script may try again once the
    ledger is restored), and the relay says why in one line, not 'internal error'."""
    assert (
        cli("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).returncode == 0
    )
    before = _corrupt_send_table(ledger_path)
    script = 'printf "Subject: x\\n\\nhi\\n" | sendmail lead@example.com; echo "shim=$?"'
    res = warmup("send", BOX, "--", "sh", "-c", script, env={"WARMUP_PASSWORD": "not-used"})
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    assert res.stdout == "shim=75\n"  # EX_TEMPFAIL: the relay's 451
    assert f"warmup: {CORRUPT.format(db=ledger_path)}\n" in res.stderr
    assert ledger_path.read_bytes() == before


class ReadOnlyFolder:
    """A folder holding a ledger (one mailbox, one send) that this process cannot write, and
    why, as the lines say it: a read-only mount (tmpfs remounted ro) as root, whom file modes
    do not stop; as another user, a folder of mode 0555 (then the commands run as that user)."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.db = where / "ledger.db"
        self.root = os.geteuid() == 0
        self.why = (
            "on a read-only file system"
            if self.root
            else f"this user may not write to its folder {where}"
        )

    def writable(self, yes: bool) -> None:
        """Let this process write the folder again (a writer elsewhere), or stop it."""
        if self.root:
            mode = "remount,rw" if yes else "remount,ro"
            subprocess.run(["mount", "-o", mode, str(self.where)], check=True)
        else:
            self.where.chmod(0o755 if yes else 0o555)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.where.iterdir())


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[ReadOnlyFolder]:
    folder = ReadOnlyFolder(tmp_path / "ro")
    folder.where.mkdir()
    if folder.root:
        cmd = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder.where)]
        subprocess.run(cmd, check=True)
    env = {"WARMUP_DB": str(folder.db)}
    try:
        exmail = ("--provider", "exmail", "--policy", str(ANY_DAY))  # quota 50 now: not closed
        assert cli("mailbox", "add", BOX, *exmail, env=env).returncode == 0
        assert cli("record", "send", BOX, "--to", "a@example.com", env=env).returncode == 0
        assert folder.names() == ["ledger.db"]  # no -wal, no -shm
        folder.writable(False)
        yield folder
    finally:
        if folder.root:
            subprocess.run(["umount", str(folder.where)], check=True)
        else:
            folder.where.chmod(0o755)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("quota", BOX), f"{BOX}  week 1  1    50     1     49 "),
        (("plan", BOX, "--days", "2"), "week 1"),
        (("report", "--json"), '"sent": 1'),
        (("bounces", "list"), "No bounces."),
        (("mailbox", "list"), f"{BOX}  exmail "),
    ],
    ids=["quota", "plan", "report", "bounces-list", "mailbox-list"],
)
def test_a_ledger_that_cannot_be_written_here_still_answers_the_commands_that_read(
    read_only_folder, args, said
):
    """A ledger on a read-only mount (or in a folder the user may not write) refused even the
    commands that only read, exit 78: SQLite makes ledger.db-shm beside a WAL ledger to read it.
    With no -wal beside it the file alone is the ledger: read as it is, nothing written."""
    folder = read_only_folder
    before = folder.db.read_bytes()
    res = warmup(*args, env={"WARMUP_DB": str(folder.db)})
    assert (res.returncode, res.stderr) == (0, ""), res.stderr
    assert said in res.stdout, res.stdout
    assert folder.db.read_bytes() == before and folder.names() == ["ledger.db"]


def test_a_write_to_a_ledger_that_cannot_be_written_here_says_it_is_read_only(
    read_only_folder,
):
    folder = read_only_folder
    before = folder.db.read_bytes()
    res = warmup("record", "send", BOX, "--to", "b@x.org", env={"WARMUP_DB": str(folder.db)})
    fix = (
        "mount it read-write"
        if folder.root
        else "run warmup as the ledger's owner or let this user write to the folder"
    )
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr == (
        f"Error: ledger {folder.db} is read-only here: {folder.why}; SQLite writes beside a "
        f"ledger (its -wal and -shm files) to change it: {fix} (commands that only read it, "
        f"such as quota and report, work as it is)\n"
    )
    assert folder.db.read_bytes() == before and folder.names() == ["ledger.db"]


def test_a_ledger_of_an_older_warmup_that_cannot_be_written_here_says_it_needs_the_upgrade(
    read_only_folder,
):
    """A ledger an older warmup wrote, read-only here (a mount, a folder this user may not
    write): 'quota' and 'report' refused it, exit 78, saying that 'quota' and 'report' work as
    it is. No command of this version reads an older schema without upgrading it, so each says
    the ledger must be upgraded where it can be written; nothing is written to it."""
    folder = read_only_folder
    folder.writable(True)
    with sqlite3.connect(folder.db) as con:  # as before m036 (three indexes): an older warmup's
        for index in ("ix_outbox_expiry", "ix_outbox_pool_expiry", "ix_outbox_box_expiry"):
            con.execute(f"DROP INDEX {index}")
        con.execute("DELETE FROM warmup_migrations WHERE name = 'm036_outbox_expiry'")
    con.close()
    folder.writable(False)
    before = folder.db.read_bytes()
    fix = (
        "mount it read-write"
        if folder.root
        else "run warmup as the ledger's owner or let this user write to the folder"
    )
    for args in (("quota", BOX), ("report",), ("db", "migrate")):
        res = warmup(*args, env={"WARMUP_DB": str(folder.db)})
        assert (res.returncode, res.stdout) == (78, ""), res.stderr
        assert res.stderr == (
            f"Error: ledger {folder.db} has an older schema (1 migration behind) that this "
            f"warmup must upgrade before any command uses it, even one that only reads, and "
            f"it is read-only here ({folder.why}): {fix}, then upgrade it once: warmup db "
            f"migrate\n"
        ), args
    assert folder.db.read_bytes() == before and folder.names() == ["ledger.db"]


# A process that commits a change and dies before it closes the ledger: the change is in the
# -wal alone (with its -shm index), not yet in the file.
_DIES_AFTER_A_COMMIT = (
    "import os, sqlite3, sys\n"
    "con = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "con.execute('PRAGMA wal_autocheckpoint = 0')\n"
    "con.execute(\"UPDATE mailbox SET timezone = 'Europe/Paris'\")\n"
    "os._exit(0)\n"
)


@pytest.mark.parametrize("index", [True, False], ids=["wal-and-shm", "wal-alone"])
def test_a_write_ahead_log_beside_a_read_only_ledger_is_read_or_refused_never_missed(
    read_only_folder, index
):
    """Reading the file alone (``immutable``) where a -wal holds committed rows would answer
    from before them. With its -shm beside it SQLite reads the log read-only; without, the
    command refuses in one line, saying how to read it."""
    folder = read_only_folder
    folder.writable(True)
    import sys

    subprocess.run([sys.executable, "-c", _DIES_AFTER_A_COMMIT, str(folder.db)], check=True)
    assert folder.names() == ["ledger.db", "ledger.db-shm", "ledger.db-wal"]
    if not index:
        (folder.where / "ledger.db-shm").unlink()
    folder.writable(False)
    names = folder.names()
    for args in (("mailbox", "list"), ("quota", BOX)):  # the full backend, the quota path
        res = warmup(*args, env={"WARMUP_DB": str(folder.db)})
        if index:
            assert (res.returncode, res.stderr) == (0, ""), res.stderr
            # Paris's times, in winter or summer (" CEST" from late March: " CET" failed then)
            paris = ("Europe/Paris", " CET", " CEST")
            assert any(word in res.stdout for word in paris), res.stdout
        else:
            assert (res.returncode, res.stdout) == (78, ""), res.stderr
            assert res.stderr == (
                f"Error: ledger {folder.db} is read-only here ({folder.why}) and its "
                f"write-ahead log {folder.db}-wal holds changes not yet in the file, which "
                f"SQLite cannot read without writing an index ({folder.db}-shm) beside it: "
                f"open it once where it can be written (that merges the log), or read a copy "
                f"of both (cp {folder.db} {folder.db}-wal /tmp/, then --db /tmp/ledger.db)\n"
            )
        assert folder.names() == names


def test_a_ledger_written_while_it_is_read_without_locks_is_refused_not_answered(
    read_only_folder,
):
    """A ledger read as it is (no -shm can be made beside it, so no locks) and written
    meanwhile by a process that may (a read-write mount of the same disk, the folder's
    owner): each read checks the file did not change under it; one that did is refused, 75,
    try again, rather than answered from pages of two versions."""
    from warmup.ledger import open_ledger, open_reads
    from warmup.ledger.sqlite_file import LedgerBusy

    folder = read_only_folder
    readers = [open_reads(str(folder.db)), open_ledger(str(folder.db), create=False)]
    try:
        assert [[b.address for b in r.mailboxes()] for r in readers] == [[BOX], [BOX]]
        folder.writable(True)
        env = {"WARMUP_DB": str(folder.db)}
        assert cli("record", "send", BOX, "--to", "b@example.com", env=env).returncode == 0
        folder.writable(False)
        for reader in readers:
            with pytest.raises(LedgerBusy) as refused:
                reader.mailboxes()
            assert refused.value.exit_code == 75
            assert str(refused.value) == (
                f"ledger {folder.db} was written while it was read (read-only here, so the "
                f"read could not lock it against the writer); try again"
            )
    finally:
        for reader in readers:
            reader.close()


@pytest.mark.parametrize("damaged", [False, True], ids=["whole", "damaged"])
def test_doctor_checks_a_read_only_ledger_as_the_commands_read_it(read_only_folder, damaged):
    """Doctor's page check opened a ledger that cannot be written here read-write, which fails
    ("unable to open database file": no -shm can be made), and reported a whole ledger as
    damaged, with "restore the ledger from a backup". It reads it as the commands do now: a
    whole ledger passes, a damaged one still fails, and nothing is written."""
    from warmup.doctor import ledger_check
    from warmup.ledger import open_ledger

    folder = read_only_folder
    if damaged:
        folder.writable(True)
        _corrupt_send_table(folder.db)
        folder.writable(False)
    before, names = folder.db.read_bytes(), folder.names()
    ledger = open_ledger(str(folder.db))
    try:
        check = ledger_check(ledger)
    finally:
        ledger.close()
    assert check is not None
    if damaged:
        assert (check.status, check.code) == ("fail", 78), check
        assert check.detail.startswith("the ledger is damaged: "), check
        assert "unable to open" not in check.detail, check
    else:
        assert (check.status, check.detail) == ("ok", "the file's pages are whole (quick_check)")
    assert folder.db.read_bytes() == before and folder.names() == names


@pytest.mark.parametrize(
    "args",
    [("quota",), ("mailbox", "list"), ("mailbox", "add", BOX, "--provider", "exmail")],
)
@pytest.mark.parametrize("content", [b"\n", b"x", b"SQLite format 2"])
def test_a_file_shorter_than_a_sqlite_header_is_refused_not_made_a_ledger(tmp_path, args, content):
    """'echo > ledger.db' leaves one byte, which SQLite takes for a new database: 'warmup quota'
    answered "No mailboxes yet", exit 0, and the file was a fresh ledger (whoever's file it was,
    or a ledger cut short). It is refused, as a file of any other size that is no ledger is."""
    db = tmp_path / "ledger.db"
    db.write_bytes(content)
    res = cli(*args, env={"WARMUP_DB": str(db)})
    assert res.returncode == 78, res.stdout + res.stderr
    assert res.stdout == ""
    assert res.stderr == (
        f"Error: ledger {db} is not a warmup ledger or is corrupted ({len(content)} bytes, shorter "
        f"than a SQLite file's header); point --db/WARMUP_DB at another file or restore a backup\n"
    )
    assert db.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"]


@pytest.mark.parametrize(
    ("ddl", "said", "args"),
    [
        ("DROP TABLE day_stat", "no such table: day_stat", ("quota", BOX)),
        ("DROP TABLE day_stat", "no such table: day_stat", ("mailbox", "list")),
        (
            "DROP TABLE day_stat",
            "no such table: day_stat",
            ("record", "send", BOX, "--to", "lead@example.com"),
        ),
        ("ALTER TABLE outbox RENAME TO outbox_old", "no such table: outbox", ("queue", "list")),
        ("ALTER TABLE mailbox DROP COLUMN cap", "no such column: ", ("quota", BOX)),
    ],
    ids=["quota", "mailbox-list", "record-send", "queue-list", "column"],
)
def test_a_ledger_missing_a_table_or_column_is_a_set_up_fault_78_not_unavailable(
    ledger_path, ddl, said, args
):
    """A table or column of the schema dropped or renamed by hand: "ledger ... is unavailable:
    no such table: day_stat", 69, which a script retries as a server down, for ever. It is the
    ledger's set-up (78), saying what to do; nothing written."""
    assert (
        cli("mailbox", "add", BOX, "--provider", "exmail", "--policy", str(ANY_DAY)).returncode == 0
    )
    assert cli("queue", "add", "--mailbox", BOX, "--eml", "-", stdin=_EML).returncode == 0
    con = sqlite3.connect(ledger_path)
    try:
        con.execute(ddl)
        con.commit()
    finally:
        con.close()
    before = ledger_digest(ledger_path)
    res = warmup(*args)
    assert (res.returncode, res.stdout) == (78, ""), res.stderr
    assert res.stderr.startswith(f"Error: ledger {ledger_path} lacks part of warmup's schema (")
    assert said in res.stderr and res.stderr.endswith(
        "): it was changed outside warmup; restore a backup\n"
    )
    assert ledger_digest(ledger_path) == before


_EML = f"From: {BOX}\nTo: lead@example.com\nSubject: s\n\nhi\n"
