"""``warmup db copy``: a solo ledger of 25,000 sends (five of the copy's 5,000-row batches per
table) moves to PostgreSQL and answers the same. The copy's speed at 100,000 sends is a bench
figure (bench/RESULTS.md), not something this test needs to pay for."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import at, ledger_digest
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api
from warmup.ledger import BounceIn, open_ledger
from warmup.ledger.sqlite import ts

pytest_plugins = ["tests.pgkit"]  # fixture: pg_url

BOXES = [f"box{i}@corp.example" for i in range(5)]
DAY = dt.date(2026, 11, 16)


def build(path: Path, days: int = 25, per_day: int = 200) -> int:
    """A ledger of ``len(BOXES) * days * per_day`` sends (25,000 by default), with bounces,
    suppressions, pauses and resumes; returns the number of sends.

    The sends go in through raw ``executemany`` in the formats the gate's fast path writes (a few
    seconds instead of a minute through the API); everything else through the library.
    """
    ledger = open_ledger(str(path))
    for n, box in enumerate(BOXES):
        api.add_mailbox(ledger, box, "exmail", cap=250 if n == 0 else None)
    boxes = [ledger.mailbox(b) for b in BOXES]
    start = DAY - dt.timedelta(days=days)
    rows = []
    for box in boxes:
        for k in range(days):
            day = start + dt.timedelta(days=k)
            for i in range(per_day):
                when = at(day, 8).add(seconds=150 * i, microseconds=box.id * 1000 + 7)
                rows.append(
                    (
                        box.id,
                        f"r{k}-{i}@ex{i % 9}.com",
                        f"<{box.id}-{k}-{i}@x>",
                        ts(when),
                        day.isoformat(),
                        "sent",
                        ts(when),
                        "import",
                        f"<{box.id}-{k}-{i}@x>|r{k}-{i}@ex{i % 9}.com",
                    )
                )
    con = sqlite3.connect(path)
    with con:
        con.executemany(
            "INSERT INTO send (mailbox_id, recipient, message_id, at, day, outcome, "
            "settled_at, source, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    con.close()
    with ledger.write() as conn:  # the raw inserts above bypassed the rollup
        ledger._rebuild_rollup(conn, [b.id for b in boxes])
    for box in boxes:
        bounces = [
            BounceIn(
                f"r{k}-{i}@ex{i % 9}.com",
                ("hard", "soft", "block", "complaint")[(k + i) % 4],
                at(start + dt.timedelta(days=k), 18),
                key=f"b{k}-{i}",
                status="5.1.1",
                message_id=f"<{box.id}-{k}-{i}@x>",
                source="import",
            )
            for k in range(0, days, 3)
            for i in range(0, per_day, 41)
        ]
        assert ledger.record(box, bounces=bounces).counted == len(bounces)
    ledger.suppress(["manual@example.com"], "manual", "asked", at=at(DAY, 1))
    ledger.suppress(["emptied@example.com"], "soft", "kept soft-bouncing", at=at(DAY, 1))
    assert ledger.unsuppress("emptied@example.com", at=at(DAY, 2))
    api.pause(ledger, BOXES[1], "review", at=at(DAY - dt.timedelta(days=2), 12))
    api.resume(ledger, BOXES[1], at=at(DAY - dt.timedelta(days=1), 9))
    api.pause(ledger, BOXES[2], "still paused", at=at(DAY - dt.timedelta(days=1), 9))
    ledger.close()
    return len(rows)


def quota_json(run, url: str, box: str, when: dt.datetime) -> list[dict]:  # type: ignore[no-untyped-def]
    res = run("quota", box, "--json", "--at", when.isoformat(), "--db", url)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.slow
def test_copy_of_25000_sends_to_postgresql_answers_the_same(run, tmp_path, pg_url):
    src = tmp_path / "solo.db"
    assert build(src) == 25_000
    lite = f"sqlite:///{src}"
    res = run("--db", lite, "db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output
    assert "verified: row counts and per-table checksums match" in res.output
    assert any(line.split()[:2] == ["send", "25000"] for line in res.output.splitlines())
    for when in (at(DAY, 12), at(DAY - dt.timedelta(days=1), 10), at(DAY, 7)):
        for box in BOXES:
            assert quota_json(run, lite, box, when) == quota_json(run, pg_url, box, when)
    statuses = {quota_json(run, pg_url, b, at(DAY, 12))[0]["status"] for b in BOXES}
    assert "paused" in statuses and len(statuses) > 1  # the pause and the bounces came across
    # The sequences were moved past the copied ids: new rows get new ids.
    assert (
        run("mailbox", "add", "new@corp.example", "--provider", "exmail", "--db", pg_url).exit_code
        == 0
    )
    assert (
        run(
            "record",
            "send",
            BOXES[0],
            "--to",
            "after@example.com",
            "--at",
            at(DAY, 13).isoformat(),
            "--db",
            pg_url,
        ).exit_code
        == 0
    )
    assert (
        run("suppress", "add", "later@example.com", "--reason", "x", "--db", pg_url).exit_code == 0
    )
    # A target with rows is refused, and --force replaces them.
    again = run("--db", lite, "db", "copy", "--to", pg_url)
    assert again.exit_code == 78
    assert "is not empty" in again.output and "--force" in again.output
    forced = run("--db", lite, "db", "copy", "--to", pg_url, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    tables = {t["table"]: t["rows"] for t in json.loads(forced.output)["tables"]}
    assert tables["send"] == 25_000 and tables["mailbox"] == len(BOXES)


def test_copy_between_sqlite_files_is_exact(run, tmp_path):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    build(src, days=10, per_day=20)
    res = run("--db", str(src), "db", "copy", "--to", str(dst), "--batch", "37")
    assert res.exit_code == 0, res.output
    copied, original = ledger_digest(dst), ledger_digest(src)
    del copied["warmup_migrations"], original["warmup_migrations"]  # each applied its own
    assert copied == original and len(copied["send"]) == 1000
    assert len(copied["suppression_removal"]) == 1


def test_copy_refuses_itself_and_reports_a_mismatch(run, tmp_path, monkeypatch):
    src, dst = tmp_path / "a.db", tmp_path / "b.db"
    build(src, days=3, per_day=5)
    assert run("--db", str(src), "db", "copy", "--to", str(src)).exit_code == 78
    from warmup.ledger import copy as ledger_copy

    real = ledger_copy.row_text
    seen: list[str] = []

    def flaky(table):  # type: ignore[no-untyped-def]
        line = real(table)
        seen.append(table.name)
        if seen.count("mailbox") == 1 and table.name == "mailbox":
            return lambda row: line(row) + b"x"  # the source side reads its rows differently
        return line

    monkeypatch.setattr(ledger_copy, "row_text", flaky)
    res = run("--db", str(src), "db", "copy", "--to", str(dst))
    assert res.exit_code == 65
    assert "does not match the source in mailbox" in res.output


@pytest.mark.parametrize("bad", ["under-a-file", "nosuch://x"])
def test_copy_to_an_unusable_target_fails_cleanly(run, tmp_path, bad):
    build(tmp_path / "a.db", days=1, per_day=1)
    if bad == "under-a-file":
        (tmp_path / "plain").write_text("")
        bad = str(tmp_path / "plain" / "x.db")  # its directory is a file: cannot be created
    res = run("--db", str(tmp_path / "a.db"), "db", "copy", "--to", bad)
    assert res.exit_code in (69, 78) and res.output.startswith("Error: ")


def test_copy_to_postgresql_carries_the_removals_a_soft_streak_counts_from(run, tmp_path, pg_url):
    """An address suppressed for a soft streak, then taken back (`suppress remove`): on the team
    server the copy leads to, the old streak lists it no more, as on the SQLite file."""
    src = tmp_path / "solo.db"
    box = "sales@corp.example"
    ledger = open_ledger(str(src))
    api.add_mailbox(ledger, box, "exmail")
    for day in (0, 4, 8):
        when = at(DAY + dt.timedelta(days=day), 9)
        api.record_send(ledger, box, ["full@example.com"], when)
        bounce = BounceIn(
            "full@example.com", "soft", when.add(minutes=5), key=f"b{day}", status="4.2.2"
        )
        assert ledger.record(ledger.mailbox(box), bounces=[bounce]).counted == 1
    assert [s.address for s in api.soft_streaks(ledger)] == ["full@example.com"]
    ledger.suppress(["full@example.com"], "soft", "kept soft-bouncing", at=at(DAY, 20))
    assert ledger.unsuppress("full@example.com", at=at(DAY, 21))
    ledger.close()

    res = run("--db", str(src), "db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output
    assert any(line.split()[:2] == ["suppression_removal", "1"] for line in res.output.splitlines())
    for url in (str(src), pg_url):
        listed = run("--db", url, "suppress", "soft", "--json")
        assert (listed.exit_code, json.loads(listed.output)) == (0, []), url


def test_a_copied_removal_sets_aside_the_copied_sends_and_no_later_one(run, tmp_path, pg_url):
    """A removal marks the last send id the ledger held; the copy keeps the send ids and the
    mark, and moves the team server's sequence past both: the copied sends stay set aside, and
    the gate's sends made there after it count, though a host's clock behind the operator's
    dates them before the removal."""
    from tests.test_removal_clocks import FULL as full
    from tests.test_removal_clocks import recorded_soft, soft_send

    src = tmp_path / "solo.db"
    box = "sales@corp.example"
    removed_at = at(DAY, 21)
    ledger = open_ledger(str(src))
    try:
        api.add_mailbox(ledger, box, "exmail")
        for hour in (9, 10):
            recorded_soft(ledger, box, at(DAY, hour))
        ledger.suppress([full], "soft", "kept soft-bouncing", at=at(DAY, 20))
        assert ledger.unsuppress(full, at=removed_at)
        assert ledger.last_removal(full) is not None
    finally:
        ledger.close()
    res = run("--db", str(src), "db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output

    ledger = open_ledger(pg_url)
    try:
        assert api.soft_streaks(ledger, sends=2, days=0) == []
        for minutes in (0, 10):  # a host whose clock is an hour behind
            soft_send(box, removed_at - dt.timedelta(hours=1, minutes=-minutes), db=pg_url)
        [streak] = api.soft_streaks(ledger, sends=2, days=0)
        assert (streak.address, streak.first) == (full, removed_at - dt.timedelta(hours=1))
    finally:
        ledger.close()


def test_a_slot_released_for_the_messages_size_is_final_on_the_team_server_too(
    run, tmp_path, pg_url
):
    """A worker died after the gate settled a try (one recipient sent, one whose server refused
    the message's size at RCPT TO: released) and before it wrote the message's state; the
    ledger then moved to PostgreSQL. The slot's reason came across: recovered there, the
    message is sent, not queued again for the recipient who would refuse it again."""
    from tests.test_outbox_races import recovers_sent, settled_too_big

    solo, mid, now = settled_too_big(tmp_path, "released")  # the SQLite ledger at $WARMUP_DB
    solo.close()
    res = run("db", "copy", "--to", pg_url)
    assert res.exit_code == 0, res.output
    ledger = open_ledger(pg_url)
    try:
        recovers_sent(ledger, mid, now)
    finally:
        ledger.close()


def test_copy_knows_every_table_the_migrations_create(tmp_path):
    import sqlalchemy as sa

    from warmup.ledger import copy as ledger_copy

    ledger = open_ledger(str(tmp_path / "l.db"))
    names = set(sa.inspect(ledger.engine).get_table_names())
    ledger.close()
    known = {t.name for t in ledger_copy.TABLES} | set(ledger_copy.DERIVED)
    assert names == known | {"warmup_migrations"}


def test_copy_of_an_older_schema_leaves_the_source_as_it_was(run, tmp_path):
    """'The source is only read': a source at an older schema (a team server that other hosts'
    older warmup still use) is refused with the way forward, not upgraded in place by a copy."""
    from tests.test_schema import _first_release

    src, dst = tmp_path / "old.db", tmp_path / "new.db"
    _first_release(f"sqlite:///{src}")
    before = src.read_bytes()
    res = run("--db", str(src), "db", "copy", "--to", str(dst))
    assert res.exit_code == 78, res.output
    assert "older schema" in res.output and "warmup db migrate" in res.output
    assert src.read_bytes() == before
    assert not dst.exists()


def test_copy_from_another_programs_sqlite_file_says_so(run, tmp_path):
    """A source that is no warmup ledger at all is not 'an older schema' to migrate (migrate
    would refuse it too): the refusal names the file's tables and asks for the right ledger."""
    src, dst = tmp_path / "other.db", tmp_path / "new.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    before = src.read_bytes()
    res = run("--db", str(src), "db", "copy", "--to", str(dst))
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: {src} holds another program's tables (notes) and no warmup schema: it is not "
        "a ledger to copy; point --db/WARMUP_DB at the warmup ledger to copy\n"
    )
    assert src.read_bytes() == before
    assert not dst.exists()


def test_copy_to_another_programs_sqlite_file_names_the_target_not_the_db_option(run, tmp_path):
    """The target is --to: 'point --db/WARMUP_DB at a new file' sent the user to the source."""
    build(tmp_path / "a.db", days=1, per_day=1)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()
    before = other.read_bytes()
    res = run("--db", str(tmp_path / "a.db"), "db", "copy", "--to", str(other))
    assert res.exit_code == 78, res.output
    assert res.output == (
        f"Error: ledger {other} holds another program's tables (notes) and no warmup schema; "
        "give warmup a new file (or an empty database) for its ledger instead\n"
    )
    assert other.read_bytes() == before


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_target_is_refused_not_read_as_the_default_ledger(
    run, tmp_path, ledger_path, blank
):
    """``db copy --to "$TEAM_DB"`` with the variable unset gave ``--to ''``, which fell back to
    $WARMUP_DB (or the personal default ledger) and copied the source into it when it was
    empty: 'Copied ... to <another ledger>', exit 0."""
    from tests.conftest import ledger_digest

    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    assert run("db", "migrate").exit_code == 0  # WARMUP_DB: an empty ledger, a valid target
    before = ledger_digest(ledger_path)
    res = run("--db", str(src), "db", "copy", "--to", blank)
    assert res.exit_code == 64, res.output
    assert "--to" in res.output and "blank" in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in res.output
    assert ledger_digest(ledger_path) == before


def test_a_nul_in_an_older_sqlite_ledger_stops_the_copy_to_postgresql_in_one_line(
    run, tmp_path, pg_url
):
    """SQLite keeps a NUL in text; PostgreSQL takes none. Ledgers written before imports and
    bounce syncs refused control characters may hold one (a DSN's diagnostic, an imported
    reason): the copy to the team server died in a psycopg traceback. It is refused naming the
    row and column and how to clean it, the target left empty."""
    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    with sqlite3.connect(src) as con:
        bounce_id = con.execute("SELECT min(id) FROM bounce").fetchone()[0]
        con.execute(
            "UPDATE bounce SET diagnostic = ? WHERE id = ?",
            ("smtp; 550 no\x00such user", bounce_id),
        )
    res = run("--db", str(src), "db", "copy", "--to", pg_url)
    assert res.exit_code == 65, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    for words in (f"bounce row (id {bounce_id})", "diagnostic", "NUL", f"sqlite3 {src} "):
        assert words in lines[0], (words, res.output)
    told = shlex.split(lines[0].split("e.g. ")[1].split(", then copy again")[0])
    assert told[:2] == ["sqlite3", str(src)], told
    sql = told[2]
    with sqlite3.connect(src) as con:
        con.execute(sql)  # the command given cleans the row
    target = open_ledger(pg_url)
    try:
        assert target.mailboxes() == []  # the copy's one transaction rolled back
        again = run("--db", str(src), "db", "copy", "--to", pg_url)
        assert again.exit_code == 0, again.output
        assert len(target.mailboxes()) == len(BOXES)
    finally:
        target.close()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (3_000_000_000, "out of range for type integer"),
        ("many", "invalid input syntax for type integer"),
    ],
)
def test_a_cell_postgresql_cannot_hold_stops_the_copy_in_one_line(
    run, tmp_path, pg_url, value, reason
):
    """SQLite keeps what a hand edit (or another tool) put in a cell: a number past PostgreSQL's
    ``integer``, text in a number's column. The copy to the team server died in a psycopg
    traceback (exit 1), as a NUL did: it is refused naming the row, the column and the server's
    reason, exit 65, nothing copied."""
    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    with sqlite3.connect(src) as con:
        send_id = con.execute("SELECT min(id) FROM send").fetchone()[0]
        con.execute("UPDATE send SET holder_pid = ? WHERE id = ?", (value, send_id))
    res = run("--db", str(src), "db", "copy", "--to", pg_url)
    assert res.exit_code == 65, res.output
    lines = res.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
    for words in (f"send row (id {send_id})", "holder_pid", reason, str(src), "nothing was copied"):
        assert words in lines[0], (words, res.output)
    target = open_ledger(pg_url)
    try:
        assert target.mailboxes() == []  # the copy's one transaction rolled back
    finally:
        target.close()


def test_a_source_with_no_ledger_or_an_old_one_gets_a_command_that_can_be_pasted(
    run, tmp_path, pg_url
):
    """An empty PostgreSQL schema given as the source was 'an older schema (15 migration(s)
    behind)' to upgrade, though it holds nothing to copy: it is no ledger (66, as a missing
    SQLite file is); and the upgrade's command was quoted inside quotes ('warmup db migrate
    --db '/a path/old.db''), which no shell reads back."""
    import shlex

    from tests.test_schema import _first_release

    res = run("--db", pg_url, "db", "copy", "--to", str(tmp_path / "to.db"))
    assert res.exit_code == 66, res.output
    assert res.output.startswith("Error: no ledger in postgresql+psycopg://"), res.output
    assert "older schema" not in res.output and not (tmp_path / "to.db").exists()
    old = tmp_path / "a path" / "old.db"
    old.parent.mkdir()
    _first_release(f"sqlite:///{old}")
    res = run("--db", str(old), "db", "copy", "--to", str(tmp_path / "new.db"))
    assert res.exit_code == 78, res.output
    said = res.output.strip().split("; upgrade it first, then copy: ", 1)[1]
    assert shlex.split(said) == ["warmup", "db", "migrate", "--db", str(old)]


@pytest.mark.parametrize(
    ("target", "code", "said"),
    [
        # A device that takes no byte or every byte and keeps none: no disk failed, the path
        # is wrong (a full disk is 74: tests/test_ledger_files.py)
        ("/dev/full", 78, "is not a regular file; name a file"),
        ("/dev/null", 78, "is not a regular file; name a file"),
    ],
)
def test_a_copy_to_a_device_says_what_failed_with_its_code(tmp_path, target, code, said):
    """'db copy --to /dev/full' exited 78 (configuration) for what is an I/O error (74); any
    SQLite 'disk I/O error' was "check the path and its permissions", 78, a failing disk
    included. The device is refused before SQLite opens it: its failed write left
    /dev/full-journal behind."""
    from tests.gatekit import cli

    journal = Path(f"{target}-journal")
    journal.unlink(missing_ok=True)  # an earlier run's (before the fix)
    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    before = ledger_digest(src)
    res = cli("--db", str(src), "db", "copy", "--to", target, "--quiet")
    assert (res.returncode, res.stdout) == (code, ""), res.stderr
    assert res.stderr.startswith(f"Error: ledger {target}") and res.stderr.count("\n") == 1
    assert said in res.stderr
    assert "Traceback" not in res.stderr
    assert ledger_digest(src) == before
    assert not journal.exists()


@pytest.mark.parametrize("to", ["sqlite", "postgresql"])
def test_a_damaged_source_is_named_not_the_new_file_the_copy_removed(run, tmp_path, to, request):
    """The source's rows are read inside the target's write transaction, whose error wording
    caught the source's SQLITE_CORRUPT first: "ledger new.db is not a warmup ledger or is
    corrupted", of the file the copy had just created (and then removed), while the damaged
    ledger, the one to restore from a backup, went unnamed."""
    from tests.test_ledger_files import _corrupt_send_table

    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    damaged = _corrupt_send_table(src)
    target = str(tmp_path / "new.db") if to == "sqlite" else request.getfixturevalue("pg_url")
    res = run("--db", str(src), "db", "copy", "--to", target)
    assert (res.exit_code, res.output) == (
        78,
        f"Error: ledger {src} is not a warmup ledger or is corrupted (database disk image is "
        f"malformed); point --db/WARMUP_DB at another file or restore a backup\n",
    )
    assert src.read_bytes() == damaged and not (tmp_path / "new.db").exists()


def test_an_older_target_with_rows_is_refused_before_it_is_upgraded(
    run,
    tmp_path,
    ledger_url,  # noqa: F811
):
    """A target of an older schema that holds rows was upgraded first, then refused as 'not
    empty': the refused command had changed the target (hosts still on the older warmup then
    refuse the team's ledger). It is refused as it is; --force upgrades and replaces it."""
    from tests.test_schema import FIRST_RELEASE_ROWS, _first_release

    def state() -> tuple[list[str], dict[str, list[tuple[object, ...]]]]:
        old = open_ledger(ledger_url, migrate=False)
        try:
            with old.read() as conn:
                md = sa.MetaData()
                md.reflect(conn)
                rows = {
                    n: sorted(map(tuple, conn.execute(sa.select(t))), key=repr)
                    for n, t in md.tables.items()
                }
            return old.pending_migrations(), rows
        finally:
            old.close()

    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    _first_release(ledger_url)
    before = state()
    assert before[0] and len(before[1]["mailbox"]) == len(FIRST_RELEASE_ROWS["mailbox"])
    res = run("--db", str(src), "db", "copy", "--to", ledger_url)
    assert res.exit_code == 78, res.output
    assert "is not empty (" in res.output and "--force" in res.output, res.output
    assert res.output.count("\n") == 1 and "Traceback" not in res.output
    assert state() == before
    forced = run("--db", str(src), "db", "copy", "--to", ledger_url, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert state()[0] == []


def test_a_target_whose_disk_fills_during_its_migration_says_so_and_is_removed(tmp_path):
    """A new target that the disk refuses while its schema is made (here RLIMIT_FSIZE): the
    migration rolls back, and the clean-up that removes the new file queried its tables to see
    whether the copy had left rows there. None existed, and that query's "no such table" came
    out instead of the disk's error: "lacks part of warmup's schema ... restore a backup", 78,
    a 4 KiB file left behind. Now the disk's 74, in one line, and no file."""
    from tests.test_faults import NO_BYTECODE, _limit_file_size, query

    src = tmp_path / "a.db"
    build(src, days=1, per_day=3)
    before = ledger_digest(src)
    target = tmp_path / "new.db"
    res = subprocess.run(
        [sys.executable, "-m", "warmup", "--db", str(src), "db", "copy", "--to", str(target)],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **NO_BYTECODE},
        preexec_fn=_limit_file_size(64 * 1024),  # the source's -shm fits; a schema does not
    )
    assert "Traceback" not in res.stderr, res.stderr
    lines = (res.stdout + res.stderr).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: ledger {target}: "), lines
    assert "disk" in lines[0] and "schema" not in lines[0], lines
    assert res.returncode == 74, res.returncode
    assert not list(tmp_path.glob("new.db*"))
    assert ledger_digest(src) == before and query(src, "SELECT count(*) FROM send") == [(15,)]
