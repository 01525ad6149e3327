"""Faults with real processes and servers on loopback: dropped connections, a failing disk, kill -9.

The IMAP side (the server drops every session mid-sync: the sync reconnects, resumes from the
saved UID and records nothing twice) is ``test_dropped_connection_resumes_without_duplicates``
in ``tests/test_bounces_sync.py``; it is not repeated here.
"""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import forkcli
from tests.conftest import ledger_digest
from tests.gatekit import BOX, PASSWORD_ENV, add_box, cli, policy_file, warmup


def query(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def integrity(db: Path) -> str:
    return query(db, "PRAGMA integrity_check")[0][0]


def counted(db: Path) -> int:
    return query(db, "SELECT count(*) FROM send WHERE outcome != 'released'")[0][0]


# -- the SMTP server drops the connection mid-DATA ----------------------------------------------


def test_drop_mid_data_with_several_recipients_counts_each_as_unknown(
    smtp_ssl, ssl_cert_env, ledger_path
):
    smtp_ssl.drop_mid_data = True
    add_box(smtp_ssl.port)
    rcpts = ["a1@example.com", "a2@example.net", "a3@example.org"]
    args = [a for r in rcpts for a in ("--to", r)]
    res = warmup("send", BOX, *args, "--subject", "s", "--body", "b", env=PASSWORD_ENV)
    assert res.returncode == 69, res.stderr
    assert "connection lost" in res.stderr and "Traceback" not in res.stderr
    [got] = smtp_ssl.messages  # the server has it; the client cannot know
    assert sorted(got.rcpt_tos) == rcpts
    rows = query(ledger_path, "SELECT recipient, outcome, message_id FROM send ORDER BY recipient")
    assert [(r, o) for r, o, _ in rows] == [(r, "unknown") for r in rcpts]  # counted, not lost
    assert {mid for *_, mid in rows} == {got.message["Message-ID"]}
    quota = json.loads(cli("quota", BOX, "--json").stdout)[0]
    assert quota["sent"] == 3
    assert query(ledger_path, "SELECT count(*) FROM bounce") == [(0,)]  # not taken for a bounce


# -- the ledger's disk write fails ---------------------------------------------------------------


def big_csv(path: Path, n: int) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mailbox", "recipient", "sent_at", "message_id"])
        for i in range(n):
            w.writerow(
                [
                    BOX,
                    f"bulk{i}@example.com",
                    "2026-11-10T09:00:00+08:00",
                    f"<bulk-{i}@corp.example>",
                ]
            )
    return path


def seeded(db_env: dict[str, str]) -> None:
    assert cli("mailbox", "add", BOX, "--provider", "exmail", env=db_env).returncode == 0
    assert cli("record", "send", BOX, "--to", "first@example.com", env=db_env).returncode == 0


def assert_clean_failure(
    res: subprocess.CompletedProcess[str],
    db: Path,
    before: dict[str, list[tuple[object, ...]]],
    free: Path | None = None,
) -> None:
    """One ``Error:`` line naming the ledger, exit 74 (EX_IOERR), and a ledger exactly as it was
    (checked once the filler files in ``free`` are gone: even reading needs a little room)."""
    assert "Traceback" not in res.stderr, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ledger "), lines
    assert str(db) in lines[0] and "disk" in lines[0], lines
    assert res.returncode == 74, res.returncode
    for filler in free.glob("filler*") if free else ():
        filler.unlink()
    assert integrity(db) == "ok"
    assert ledger_digest(db) == before  # nothing half-recorded


# A process whose file size is limited must not write bytecode caches: a module it imports for
# the first time (jinja2's environment, for queue add) had its .pyc written short (one write
# cut at the limit, then renamed into place), and every later import of it in the run failed,
# "marshal data too short" (a fresh clone's CI: 156 failures).
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}


def _limit_file_size(limit: int):  # type: ignore[no-untyped-def]
    def apply() -> None:
        # RLIMIT_FSIZE binds root too; ignoring SIGXFSZ turns the kill into an EFBIG error.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def warmup_limited(args: list[str], db, limit: int) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """``warmup ARGS`` on the ledger ``db`` as a process whose files may not grow past
    ``limit`` bytes (a disk that fills under it)."""
    return subprocess.run(
        [sys.executable, "-m", "warmup", *args],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "WARMUP_DB": str(db), **NO_BYTECODE},
        preexec_fn=_limit_file_size(limit),
    )


def part_way(args: list[str], db: Path, count: str, none: int, every: int):  # type: ignore[no-untyped-def]
    """``warmup ARGS`` on the ledger ``db`` (as it is now, again at each try) under a file
    size limit at which it writes part of what it writes: between one that leaves the query
    ``count`` at ``none`` and one that takes it to ``every`` (searched for: the WAL a batch
    takes depends on SQLite's version). Its result and ``count`` after it."""
    pristine = db.with_name(f"{db.name}.pristine")
    shutil.copy(db, pristine)
    lo, hi = 0, 64 << 20
    while True:
        mid = (lo + hi) // 2
        shutil.copy(pristine, db)
        for extra in ("-wal", "-shm"):  # the last try's: not this copy's
            Path(f"{db}{extra}").unlink(missing_ok=True)
        res = warmup_limited(args, db, mid)
        got = query(db, count)[0][0]
        if got == none:
            lo = mid
        elif got == every:
            hi = mid
        else:
            return res, got
        assert hi - lo > 4096, (lo, hi)


@pytest.mark.slow
def test_write_failure_file_size_limit_leaves_ledger_whole(ledger_path, tmp_path):
    env = {"WARMUP_DB": str(ledger_path)}
    seeded(env)
    before = ledger_digest(ledger_path)
    log = big_csv(tmp_path / "bulk.csv", 3000)  # far more WAL pages than the limit allows
    limit = max(ledger_path.stat().st_size, 64 * 1024)
    res = subprocess.run(
        [sys.executable, "-m", "warmup", "import", str(log)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env, **NO_BYTECODE},
        preexec_fn=_limit_file_size(limit),
    )
    assert_clean_failure(res, ledger_path, before)
    again = cli("import", str(log), env=env)  # the same file works once the disk is fine
    assert again.returncode == 0, again.stderr
    assert query(ledger_path, "SELECT count(*) FROM send")[0][0] == 3001


@pytest.mark.slow
def test_import_whose_temporary_file_cannot_be_written_is_one_line_and_imports_nothing(
    ledger_path, tmp_path
):
    """The checked rows spill to a temporary file past SPOOL_MEMORY; a disk that refuses it
    (here RLIMIT_FSIZE) is one line naming the folder, exit 74 (EX_IOERR), nothing imported."""
    env = {"WARMUP_DB": str(ledger_path)}
    seeded(env)
    before = ledger_digest(ledger_path)
    log = big_csv(tmp_path / "bulk.csv", 60_000)  # ~5 MiB of checked rows: past the 4 MiB
    res = subprocess.run(
        [sys.executable, "-m", "warmup", "import", str(log)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env, **NO_BYTECODE},
        preexec_fn=_limit_file_size(log.stat().st_size // 2),
    )
    assert "Traceback" not in res.stderr, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert len(lines) == 1 and "cannot write its temporary file" in lines[0], lines
    assert "TMPDIR" in lines[0] and res.returncode == 74
    assert ledger_digest(ledger_path) == before


@pytest.mark.slow
def test_queue_add_whose_temporary_file_cannot_be_written_is_one_line_and_queues_nothing(
    ledger_path, tmp_path
):
    """queue add spools the checked messages (SPOOL_BATCH at a time) to a temporary file
    before it takes the write lock; a disk that refuses it (here RLIMIT_FSIZE) was a traceback
    (OSError: File too large, twice: the file's close flushed it again). Now one line naming
    the folder, exit 74 (EX_IOERR), nothing queued."""
    env = {"WARMUP_DB": str(ledger_path)}
    seeded(env)
    before = ledger_digest(ledger_path)
    leads = tmp_path / "leads.csv"
    with leads.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "name"])
        w.writerows([f"lead{i}@example.com", "n" * 200] for i in range(2500))
    template = tmp_path / "intro.toml"
    template.write_text('subject = "Hi {{ name }}"\ntext = "Hello {{ name }}"\n')
    res = subprocess.run(
        [sys.executable, "-m", "warmup", "queue", "add", "--mailbox", BOX, "--campaign", "dec"]
        + ["--csv", str(leads), "--template", str(template)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env, **NO_BYTECODE},
        preexec_fn=_limit_file_size(64 * 1024),  # a batch of messages is far more
    )
    assert "Traceback" not in res.stderr, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert len(lines) == 1 and "cannot write its temporary file" in lines[0], lines
    assert "TMPDIR" in lines[0] and "nothing was queued" in lines[0], lines
    assert res.returncode == 74
    assert ledger_digest(ledger_path) == before
    again = cli(  # the same command works once the disk is fine
        "queue",
        "add",
        "--mailbox",
        BOX,
        "--campaign",
        "dec",
        "--csv",
        str(leads),
        "--template",
        str(template),
        env=env,
    )
    assert again.returncode == 0, again.stderr
    assert query(ledger_path, "SELECT count(*) FROM outbox")[0][0] == 2500


@pytest.fixture
def full_tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 16 MB tmpfs (needs root and mount rights; skipped without them)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({done.stderr.strip()}); the RLIMIT_FSIZE "
            f"test covers the failing write"
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> None:
    """Write until the filesystem is full (ENOSPC)."""
    try:
        with (folder / "filler").open("wb", buffering=0) as f:
            while True:
                f.write(b"\0" * 65536)
    except OSError:
        pass
    try:
        with (folder / "filler2").open("wb", buffering=0) as f:  # the last partial block
            while True:
                f.write(b"\0" * 512)
    except OSError:
        pass


def test_full_filesystem_send_refused_before_smtp(full_tmpfs, smtp_ssl, ssl_cert_env):
    db = full_tmpfs / "ledger.db"
    env = {"WARMUP_DB": str(db)}
    res = cli(
        "mailbox",
        "add",
        BOX,
        "--provider",
        "exmail",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(smtp_ssl.port),
        # no pacing: the send after the one recorded goes as far as its reservation (read from
        # the full disk's file as it is, then refused for want of room)
        "--policy",
        str(policy_file(full_tmpfs.parent / "flat.toml")),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert cli("record", "send", BOX, "--to", "first@example.com", env=env).returncode == 0
    before = ledger_digest(db)
    fill(full_tmpfs)
    sent = warmup(
        "send",
        BOX,
        "--to",
        "lead@example.com",
        "--subject",
        "s",
        "--body",
        "b",
        env={**env, **PASSWORD_ENV},
    )
    assert_clean_failure(sent, db, before, free=full_tmpfs)
    assert smtp_ssl.messages == []  # no reservation, so nothing may leave
    fill(full_tmpfs)
    imported = cli("import", str(big_csv(full_tmpfs.parent / "bulk.csv", 500)), env=env)
    assert_clean_failure(imported, db, before, free=full_tmpfs)


# -- kill -9 at random points --------------------------------------------------------------------

KILLS = 50


def _start(kind: str, n: int, tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if kind == "send":
        args = [
            "send",
            BOX,
            "--to",
            f"k{n}@example.com",
            "--to",
            f"k{n}b@example.org",
            "--subject",
            "s",
            "--body",
            "b",
        ]
    elif kind == "record":
        args = [
            "record",
            "send",
            BOX,
            "--to",
            f"r{n}@example.com",
            "--to",
            f"r{n}b@example.com",
            "--message-id",
            f"<rec-{n}@corp.example>",
        ]
    else:
        with (tmp_path / f"imp{n}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["mailbox", "recipient", "sent_at", "message_id"])
            w.writerows(
                [
                    BOX,
                    f"i{n}-{i}@example.com",
                    "2026-11-10T09:00:00+08:00",
                    f"<imp-{n}@corp.example>",
                ]
                for i in range(40)
            )
        args = ["import", str(tmp_path / f"imp{n}.csv")]
    return subprocess.Popen(
        [*forkcli.command(), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_fifty_kills_never_undercount_nor_corrupt(smtp_ssl, ssl_cert_env, ledger_path, tmp_path):
    add_box(smtp_ssl.port, "--policy", str(policy_file(tmp_path / "p.toml", daily=1000)))
    smtp_ssl.delay_data_reply = 0.3  # the server holds the data: kills land mid-conversation
    env = {**os.environ, **PASSWORD_ENV}
    # Kills are drawn over a send's whole life on this machine: a fixed window outlived a fast
    # machine's sends (a third of them finished before their kill) and a slow one's start-up.
    lives = []
    for n in range(2):
        begun = time.monotonic()
        assert _start("send", 1000 + n, tmp_path, env).wait() == 0
        lives.append(time.monotonic() - begun)
    window = 1.25 * min(lives)  # the first send also starts the forking server: not typical
    rng = random.Random(7)
    kinds = ["send"] * KILLS + ["record"] * 6 + ["import"] * 6
    rng.shuffle(kinds)
    killed = 0
    for i in range(0, len(kinds), 2):  # in pairs: two processes race on the same ledger
        pair = [
            (_start(kind, i + j, tmp_path, env), rng.uniform(0, window))
            for j, kind in enumerate(kinds[i : i + 2])
        ]
        start = time.monotonic()
        for proc, delay in sorted(pair, key=lambda p: p[1]):
            time.sleep(max(0.0, start + delay - time.monotonic()))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait()
    assert killed >= KILLS // 2  # most runs really died mid-way
    time.sleep(smtp_ssl.delay_data_reply + 0.5)  # let the sink finish what it was holding
    received = sum(len(m.rcpt_tos) for m in smtp_ssl.messages)
    assert integrity(ledger_path) == "ok"
    assert counted(ledger_path) >= received  # every recipient that may have left is counted
    sent_rows = dict(
        query(
            ledger_path,
            "SELECT recipient, outcome FROM send WHERE source != 'import' AND source != 'record'",
        )
    )
    for m in smtp_ssl.messages:
        for rcpt in m.rcpt_tos:
            assert sent_rows.get(rcpt) not in (None, "released"), (rcpt, sent_rows.get(rcpt))
    # A transaction is all or nothing: an import has all of its 40 rows or none.
    per_import = query(
        ledger_path,
        "SELECT message_id, count(*) FROM send WHERE source = 'import' GROUP BY message_id",
    )
    assert all(n == 40 for _, n in per_import), per_import
    per_record = query(
        ledger_path,
        "SELECT message_id, count(*) FROM send WHERE source = 'record' GROUP BY message_id",
    )
    assert all(n == 2 for _, n in per_record), per_record
    # The ledger still works: a fresh send goes through and is counted.
    smtp_ssl.delay_data_reply = 0
    after = warmup(
        "send", BOX, "--to", "after@example.com", "--subject", "s", "--body", "b", env=PASSWORD_ENV
    )
    assert after.returncode == 0, after.stderr


def test_a_long_lived_gate_through_a_full_disk_loses_no_settlement_and_goes_on(
    full_tmpfs, tmp_path
):
    """The relay's gate lives across messages, and a message's "sent" is written in the next
    reservation's transaction. A full disk fails that transaction at its writes or its COMMIT:
    the refusal is one line (74), no row is half written, the earlier message's settlement
    waits (never dropped, so never left 'reserved' to turn 'unknown'), and once space is freed
    the same gate goes on. (SQLite rolls back a COMMIT that fails on a full disk itself; this
    holds the gate to that.)"""
    from warmup import Gate, api, open_ledger
    from warmup.errors import IOFailure

    db = full_tmpfs / "ledger.db"
    ledger = open_ledger(str(db))
    api.add_mailbox(ledger, BOX, "exmail", policy=str(policy_file(tmp_path / "flat.toml")))
    ledger.close()
    gate = Gate(BOX, db=str(db), password="not-used", settle_after=None)
    try:
        with gate.reserve(["first@example.com"], message_id="<first@corp.example>") as r:
            r.settle("sent")  # deferred: written by the next reservation
        fill(full_tmpfs)
        for n in range(3):
            with pytest.raises(IOFailure) as err:
                gate.reserve([f"late{n}@example.com"], message_id=f"<late{n}@corp.example>")
            assert err.value.exit_code == 74
            assert str(err.value) == (
                f"ledger {db}: database or disk is full; free space on the disk that holds "
                "it, then try again"
            )
        for filler in full_tmpfs.glob("filler*"):
            filler.unlink()
        assert integrity(db) == "ok"
        assert query(db, "SELECT recipient, outcome FROM send") == [
            ("first@example.com", "reserved")  # its "sent" still held by the gate
        ]
        with gate.reserve(["next@example.com"], message_id="<next@corp.example>") as r:
            r.settle("sent")
    finally:
        gate.close()
    assert query(db, "SELECT recipient, outcome FROM send ORDER BY id") == [
        ("first@example.com", "sent"),
        ("next@example.com", "sent"),
    ]


@pytest.mark.parametrize("args", [["mailbox", "add", BOX, "--provider", "exmail"], ["import"]])
def test_a_new_ledger_whose_schema_the_disk_refuses_leaves_no_stub(tmp_path, args):
    """A command that creates a ledger (mailbox add, import) on a disk that filled while its
    schema was made (here RLIMIT_FSIZE): 74, and a 4 KiB file left behind, with the folders
    made for it, which later commands took for a ledger not started yet. Nothing is left."""
    if args == ["import"]:
        log = tmp_path / "log.csv"
        log.write_text(
            "mailbox,recipient,sent_at,provider\n"
            f"{BOX},lead@example.com,2026-11-30T09:00:00+08:00,exmail\n"
        )
        args = ["import", str(log)]
    db = tmp_path / "new" / "ledger.db"
    res = warmup_limited(args, db, 64 * 1024)
    assert "Traceback" not in res.stderr, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: ledger {db}: "), lines
    assert "disk" in lines[0] and res.returncode == 74, (lines, res.returncode)
    assert not (tmp_path / "new").exists(), list((tmp_path / "new").iterdir())
