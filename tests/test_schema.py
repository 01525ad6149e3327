"""The schema is defined once (warmup/ledger/schema.py): a migrated ledger is exactly it, on both
backends; the SQLModel classes are derived from it; a ledger made by the first release upgrades
to it with every row kept; processes racing to create one ledger do not trip over each other."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import sqlite3
import traceback
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import at, ledger_digest
from tests.pgkit import ledger_url  # noqa: F401  (the fixture: each backend)
from warmup import api, models
from warmup.ledger import BounceIn, migrations, open_ledger, schema

RACERS = 4
DAY = dt.date(2026, 11, 10)


def _kind(t: Any) -> str:
    """A reflected or declared SQL type, as a comparable name."""
    t = getattr(t, "impl_instance", None) or getattr(t, "impl", t)
    if isinstance(t, type):
        t = t()
    name = type(t).__name__.upper()
    aliases = {
        "VARCHAR": "STRING",
        "INTEGER": "INTEGER",
        "BIGINT": "BIGINTEGER",
        "TIMESTAMP": "DATETIME",
        "BOOLEAN": "BOOLEAN",
        "TEXT": "TEXT",
        "DATE": "DATE",
        "BLOB": "LARGEBINARY",
        "BYTEA": "LARGEBINARY",
    }
    name = aliases.get(name, name)
    if name == "DATETIME":
        return f"DATETIME(tz={getattr(t, 'timezone', False)})"
    return name


def _condition(where: Any) -> str | None:
    """A partial index's condition as comparable text (PostgreSQL reflects it with casts and
    parentheses, SQLite as a text clause)."""
    if where is None:
        return None
    text = str(where).replace("::text", "").replace("(", "").replace(")", "")
    return " ".join(text.split()).lower()


def test_migrated_ledger_is_exactly_the_schema(ledger_url):  # noqa: F811
    ledger = open_ledger(ledger_url)
    insp = sa.inspect(ledger.engine)
    assert set(insp.get_table_names()) == set(schema.METADATA.tables)
    postgres = ledger.scheme == "postgresql"
    for name, table in schema.METADATA.tables.items():
        cols = {c["name"]: c for c in insp.get_columns(name)}
        assert list(cols) == [c.name for c in table.columns], name
        for col in table.columns:
            got = cols[col.name]
            where = f"{name}.{col.name}"
            assert bool(got["nullable"]) == bool(col.nullable), where
            want = _kind(col.type)
            if not postgres and want.startswith("DATETIME"):
                want = "DATETIME(tz=False)"  # SQLite has no time zone type: UTC text
            if not postgres and want == "BIGINTEGER":
                want = "BIGINTEGER"
            assert _kind(got["type"]) == want, where
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert sorted(pk) == sorted(c.name for c in table.primary_key.columns), name
        fks = {
            (tuple(f["constrained_columns"]), f["referred_table"])
            for f in insp.get_foreign_keys(name)
        }
        assert fks == {((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys}, name
        indexes = {
            i["name"]: tuple(i["column_names"])
            for i in insp.get_indexes(name)
            if not i["name"].startswith("sqlite_")
        }
        declared = {i.name: tuple(c.name for c in i.columns) for i in table.indexes}
        assert {
            k: v for k, v in indexes.items() if k in declared or k.startswith("ix_")
        } == declared, name
        # partial indexes: the condition each was created with is the one declared
        wheres = {
            i["name"]: _condition(i["dialect_options"].get(f"{ledger.scheme}_where"))
            for i in insp.get_indexes(name)
            if i["name"] in declared
        }
        assert wheres == {i.name: _condition(i.info.get("where")) for i in table.indexes}, name
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints(name)}
        for u in table.constraints:
            if isinstance(u, sa.UniqueConstraint):
                assert tuple(c.name for c in u.columns) in uniques, f"{name}: {u.name}"
    ledger.close()


def test_models_are_derived_from_the_schema():
    """Users' SQLModel classes have the schema's columns, types, keys and nullability."""
    for cls in (
        models.Mailbox,
        models.Send,
        models.Bounce,
        models.Suppression,
        models.SuppressionRemoval,
        models.Event,
        models.DayStat,
        models.SyncState,
        models.Pool,
        models.PoolMember,
        models.OutboxMessage,
    ):
        orm = cls.__table__  # type: ignore[attr-defined]
        core = schema.METADATA.tables[orm.name]
        assert [c.name for c in orm.columns] == [c.name for c in core.columns], orm.name
        for mine, theirs in zip(core.columns, orm.columns):
            assert _kind(mine.type) == _kind(theirs.type), f"{orm.name}.{mine.name}"
            assert (mine.nullable, mine.primary_key) == (theirs.nullable, theirs.primary_key)
            generated = mine.primary_key and mine.autoincrement is True  # ids: None until saved
            assert cls.model_fields[mine.name].is_required() == (  # type: ignore[attr-defined]
                not mine.nullable and not generated
            )


def applied(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT name, applied_at FROM warmup_migrations ORDER BY name"
        ).fetchall()
    finally:
        con.close()


def test_blank_ledger_gets_every_migration_once(ledger_path: Path):
    assert not ledger_path.exists()
    open_ledger().close()
    names = migrations.names()
    assert len(set(names)) == len(names) >= 3
    first = applied(ledger_path)
    assert sorted(n for n, _ in first) == sorted(names)
    ledger = open_ledger()
    assert ledger.pending_migrations() == []
    ledger.close()
    assert applied(ledger_path) == first  # same names, same applied_at


# Rows of the first release's schema (m001), one or more in every table: a mailbox with sends,
# a matched hard bounce, a second (duplicate) bounce of the same send, a complaint, an unmatched
# bounce (a forged report: must stop counting), a suppression, events and a sync position.
FIRST_RELEASE_ROWS: dict[str, list[dict[str, Any]]] = {
    "mailbox": [
        {
            "id": 1,
            "address": "a@corp.example",
            "provider": "exmail",
            "timezone": "Asia/Shanghai",
            "policy": "default",
            "cap": None,
            "started": None,
            "smtp_host": None,
            "smtp_port": None,
            "smtp_security": None,
            "imap_host": None,
            "imap_port": None,
            "imap_security": None,
            "created_at": at(DAY, 8),
        }
    ],
    "send": [
        {
            "id": i,
            "mailbox_id": 1,
            "recipient": f"r{i}@example.com",
            "message_id": f"<m{i}@x>",
            "at": at(DAY, 9, i),
            "day": DAY,
            "outcome": "sent",
            "settled_at": at(DAY, 9, i),
            "source": "gate",
            "key": f"<m{i}@x>|r{i}@example.com",
        }
        for i in range(1, 4)
    ],
    "bounce": [
        {
            "id": 1,
            "mailbox_id": 1,
            "send_id": 1,
            "recipient": "r1@example.com",
            "kind": "hard",
            "status": "5.1.1",
            "reply": "550",
            "diagnostic": "user unknown",
            "message_id": "<m1@x>",
            "at": at(DAY, 10),
            "day": DAY,
            "source": "smtp",
            "key": "smtp:1",
        },
        {
            "id": 2,
            "mailbox_id": 1,
            "send_id": 1,
            "recipient": "r1@example.com",
            "kind": "hard",
            "status": "5.1.1",
            "reply": None,
            "diagnostic": "dsn",
            "message_id": "<m1@x>",
            "at": at(DAY, 11),
            "day": DAY,
            "source": "imap",
            "key": "dsn:<d1@mta>|r1",
        },
        {
            "id": 3,
            "mailbox_id": 1,
            "send_id": 2,
            "recipient": "r2@example.com",
            "kind": "complaint",
            "status": None,
            "reply": None,
            "diagnostic": None,
            "message_id": "<m2@x>",
            "at": at(DAY, 12),
            "day": DAY,
            "source": "imap",
            "key": "dsn:<c1@fbl>|r2",
        },
        {
            "id": 4,
            "mailbox_id": 1,
            "send_id": None,
            "recipient": "stranger@example.com",
            "kind": "soft",
            "status": "4.2.2",
            "reply": None,
            "diagnostic": None,
            "message_id": None,
            "at": at(DAY, 13),
            "day": DAY,
            "source": "imap",
            "key": "imap:INBOX:7:3|stranger@example.com",
        },
    ],
    "suppression": [
        {
            "id": 1,
            "address": "r1@example.com",
            "kind": "hard",
            "reason": "hard bounce 5.1.1",
            "mailbox_id": 1,
            "created_at": at(DAY, 10),
        }
    ],
    "event": [
        {
            "id": 1,
            "mailbox_id": 1,
            "kind": "pause",
            "at": at(DAY, 14),
            "until": None,
            "reason": "list review",
        },
        {
            "id": 2,
            "mailbox_id": 1,
            "kind": "resume",
            "at": at(DAY, 15),
            "until": None,
            "reason": "resumed by hand",
        },
    ],
    # The first release's rollup counted every bounce: 2 hard, 1 complaint, 1 soft.
    "day_stat": [
        {"mailbox_id": 1, "day": DAY, "sent": 3, "hard": 2, "soft": 1, "block": 0, "complaint": 1}
    ],
    "sync_state": [
        {"mailbox_id": 1, "folder": "INBOX", "uidvalidity": 4_000_000_000, "last_uid": 3}
    ],
}


def _first_release(url: str) -> None:
    """A ledger as the first release left it: m001 only, with FIRST_RELEASE_ROWS."""
    ledger = open_ledger(url, migrate=False)
    ledger.migrate(upto="m001_initial")
    md = sa.MetaData()
    with ledger.write() as conn:
        md.reflect(conn)
        for name, rows in FIRST_RELEASE_ROWS.items():
            conn.execute(md.tables[name].insert(), rows)
        ledger.after_copy(conn, [md.tables[n] for n in FIRST_RELEASE_ROWS])
    ledger.close()


def test_first_release_ledger_upgrades_without_loss(ledger_url):  # noqa: F811
    _first_release(ledger_url)
    ledger = open_ledger(ledger_url)  # applies every later migration
    assert ledger.pending_migrations() == []
    with ledger.read() as conn:
        for name, rows in FIRST_RELEASE_ROWS.items():
            if name == "day_stat":  # the rollup is recomputed: checked below
                continue
            table = schema.METADATA.tables[name]
            cols = list(rows[0])
            got = [
                dict(zip(cols, r))
                for r in conn.execute(
                    sa.select(*(table.c[c] for c in cols)).order_by(*table.primary_key.columns)
                )
            ]
            assert got == rows, name
        counted = dict(conn.execute(sa.select(schema.BOUNCE.c.id, schema.BOUNCE.c.counted)).all())
        rollup = conn.execute(sa.select(schema.DAY_STAT)).one()
        rev = conn.execute(sa.select(schema.MAILBOX.c.rev)).scalar_one()
    # Only the first bounce of a send counts (and the complaint, apart); a bounce that matches
    # no send is kept but no longer counts; the rollup now counts what counts.
    assert counted == {1: True, 2: False, 3: True, 4: False}
    assert (rollup.sent, rollup.hard, rollup.soft, rollup.block, rollup.complaint) == (
        3,
        1,
        0,
        0,
        1,
    )
    assert rev == 0
    assert ledger.rollup_mismatches() == []
    box = ledger.mailbox("a@corp.example")
    assert ledger.history_size(box) == 7
    assert ledger.sync_position(box, "INBOX") == (4_000_000_000, 3)
    # and it works as a ledger of this release: record, gate, answer
    api.record_send(ledger, box.address, ["new@example.com"], at(DAY + dt.timedelta(days=1), 9))
    a = api.quota(ledger, box.address, at(DAY + dt.timedelta(days=2), 9))
    assert a.sent == 0 and a.quota == 50
    ledger.close()


def _race(path: str, n: int, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """One racer: wait for the others, then open (and so create and migrate) the ledger."""
    try:
        barrier.wait(timeout=60)
        ledger = open_ledger(path)
        api.add_mailbox(ledger, f"racer{n}@corp.example", "exmail")
        ledger.close()
        results.put((n, None))
    except BaseException:
        results.put((n, traceback.format_exc()))


def test_processes_racing_on_a_new_ledger(tmp_path: Path):
    # fork: the racers start with warmup already imported, so they reach open_ledger together.
    ctx = multiprocessing.get_context("fork")
    for round_ in range(3):  # a few rounds: a race that loses only sometimes still shows
        path = tmp_path / f"race{round_}.db"
        barrier, results = ctx.Barrier(RACERS), ctx.Queue()
        procs = [
            ctx.Process(target=_race, args=(str(path), n, barrier, results)) for n in range(RACERS)
        ]
        for p in procs:
            p.start()
        outcomes = dict(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert outcomes == {n: None for n in range(RACERS)}, outcomes
        assert all(p.exitcode == 0 for p in procs)
        assert sorted(n for n, _ in applied(path)) == sorted(migrations.names())
        con = sqlite3.connect(path)
        try:
            boxes = {r[0] for r in con.execute("SELECT address FROM mailbox")}
        finally:
            con.close()
        assert boxes == {f"racer{n}@corp.example" for n in range(RACERS)}


@pytest.mark.parametrize("found", ["missing", "empty"])
def test_of_two_opens_starting_one_ledger_only_the_one_that_gave_it_its_schema_made_it(
    found: str, tmp_path: Path
):
    """Two commands start one ledger at the same moment: the first makes the file (or finds the
    empty file a user made), the second migrates it before the first does. Both said "Created a
    new ledger", and the first, failing on bad input, removed (or emptied) the file the second
    was writing in: its schema, and what it wrote next, gone. Only the open that gave the
    ledger its schema made it."""
    path = tmp_path / "ledger.db"
    if found == "empty":
        path.touch()
    first = open_ledger(path, migrate=False)  # made the file, or found it empty
    assert first.created
    second = open_ledger(path)
    try:
        assert second.created  # it gave the ledger its schema
        assert first.migrate() == []
        assert not first.created
        assert first.discard_if_unused() is False
        assert path.stat().st_size > 0 and applied(path)
        with second.write() as conn:  # the second's ledger, whole
            conn.execute(sa.text("SELECT count(*) FROM mailbox"))
    finally:
        first.close()
        second.close()
    third = open_ledger(path)  # an open that found it there: never "created"
    try:
        assert not third.created and third.migrate() == []
    finally:
        third.close()


def test_a_new_ledger_is_private(tmp_path: Path):
    """Issue #10: created 0600 in a 0700 folder, whatever the umask; an existing one readable by
    others is reported."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "folder" / "ledger.db"
        ledger = open_ledger(str(path))
        api.add_mailbox(ledger, "a@corp.example", "exmail")
        ledger.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    for extra in path.parent.glob("ledger.db-*"):  # WAL and shared-memory files
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra
    assert open_ledger(str(path)).warnings == []
    path.chmod(0o644)
    warned = open_ledger(str(path)).warnings
    assert len(warned) == 1 and "readable by other users" in warned[0] and "chmod 600" in warned[0]


def test_the_cli_warns_about_a_ledger_others_can_read(ledger_path: Path, run):
    open_ledger().close()
    ledger_path.chmod(0o644)
    res = run("mailbox", "list")
    assert res.exit_code == 0
    assert "Warning: ledger" in res.stderr and "chmod 600" in res.stderr
    ledger_path.chmod(0o600)
    assert "Warning" not in run("mailbox", "list").stderr


def _older_outbox(url: str, upto: str, **message: Any):
    """A ledger at ``url`` built up to migration ``upto`` with pool P (id 1) and one message
    queued to it (id 1, ``message``'s columns on top), then opened (every migration applied)."""
    ledger = open_ledger(url, migrate=False)
    ledger.migrate(upto=upto)
    md = sa.MetaData()
    when = at(DAY, 9)
    with ledger.write() as conn:
        md.reflect(conn)
        conn.execute(md.tables["pool"].insert(), [{"id": 1, "name": "P", "created_at": when}])
        row = {
            "id": 1,
            "message_id": "<m1@corp.example>",
            "pool_id": 1,
            "recipients": "x@example.com",
            "data": b"Subject: s\r\n\r\nhi\r\n",
            "not_before": when,
            "next_attempt_at": when,
            "expires_at": when + dt.timedelta(days=3),
            "created_at": when,
            "updated_at": when,
        }
        conn.execute(md.tables["outbox"].insert(), [{**row, **message}])
        ledger.after_copy(conn, [md.tables["pool"], md.tables["outbox"]])
    ledger.close()
    ledger = open_ledger(url)
    assert ledger.pending_migrations() == []
    return ledger


def test_an_outbox_ledger_upgrades_to_the_overflow_channel(ledger_url):  # noqa: F811
    """m009 adds the pool's overflow channel and the outbox's bulk mark and channel: the
    messages and pools of an older ledger read as not bulk, sent by a member, no channel."""
    ledger = _older_outbox(ledger_url, "m008_outbox_tally", state="sent")
    row = ledger.message(1)
    assert (row.state, row.bulk, row.sent_via, row.pool_id) == ("sent", False, None, 1)
    assert ledger.pool("P").overflow is None
    assert [(c["state"], c["sent_via"], c["messages"]) for c in ledger.outbox_counts()] == [
        ("sent", None, 1)
    ]
    ledger.close()


def test_a_pool_of_an_older_ledger_gets_a_tag_its_next_change_moves(ledger_url):  # noqa: F811
    """m014 adds the pool's revision tag (the worker keeps its copy of a pool while claims
    read the same tag): an older ledger's pools read 0, and their first change moves it."""
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m013_send_message_id_partial")
    md = sa.MetaData()
    with ledger.write() as conn:
        md.reflect(conn)
        conn.execute(md.tables["pool"].insert(), [{"id": 1, "name": "P", "created_at": at(DAY)}])
        ledger.after_copy(conn, [md.tables["pool"]])
    ledger.close()
    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        assert ledger.pool("P").rev == 0
        ledger.add_pool("P", [], False, at(DAY))
        assert ledger.pool("P").rev != 0
    finally:
        ledger.close()


@pytest.mark.parametrize("args", [("quota", "--json"), ("db", "migrate"), ("mailbox", "list")])
def test_a_ledger_upgraded_by_a_newer_warmup_is_refused(ledger_path: Path, run, args):
    # It was read and written as if current ('db migrate': "up to date"): an older warmup would
    # write rows a newer schema may not expect, without a word.
    assert run("mailbox", "add", "a@corp.example", "--provider", "exmail").exit_code == 0
    con = sqlite3.connect(ledger_path)
    with con:
        con.execute(
            "INSERT INTO warmup_migrations (name, applied_at) VALUES ('m099_future', ?)",
            ("2027-01-01 00:00:00",),
        )
    con.close()
    before = ledger_digest(ledger_path)
    res = run(*args)
    assert res.exit_code == 78, res.output
    assert res.output.count("\n") == 1 and "m099_future" in res.output, res.output
    assert "upgrade warmup" in res.output
    assert ledger_digest(ledger_path) == before


def test_a_ledger_before_original_recipients_upgrades_and_links_forwarded_reports(
    ledger_url,  # noqa: F811
):
    """m012 adds ``bounce.original_recipient``: an older ledger's bounces are kept, with no
    original recipient (it was never stored), and a forwarded report recorded after the upgrade
    is linked late under the address mailed."""
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m011_mailbox_auth")
    md = sa.MetaData()
    with ledger.write() as conn:
        md.reflect(conn)
        for name in ("mailbox", "send", "bounce"):
            conn.execute(md.tables[name].insert(), FIRST_RELEASE_ROWS[name])
        # The rollup as m003 left it: only the first bounce (and complaint) of a send counts.
        conn.execute(
            md.tables["bounce"].update().where(md.tables["bounce"].c.id.in_([1, 3])),
            {"counted": True},
        )
        conn.execute(
            md.tables["day_stat"].insert(),
            [
                {
                    "mailbox_id": 1,
                    "day": DAY,
                    "sent": 3,
                    "hard": 1,
                    "soft": 0,
                    "block": 0,
                    "complaint": 1,
                }
            ],
        )
        ledger.after_copy(conn, [md.tables[n] for n in ("mailbox", "send", "bounce")])
    ledger.close()
    ledger = open_ledger(ledger_url)
    assert ledger.pending_migrations() == []
    old = FIRST_RELEASE_ROWS["bounce"]
    with ledger.read() as conn:
        cols = [schema.BOUNCE.c[c] for c in old[0]]
        got = [dict(zip(old[0], r)) for r in conn.execute(sa.select(*cols).order_by(cols[0]))]
        originals = conn.execute(sa.select(schema.BOUNCE.c.original_recipient)).scalars().all()
    assert got == old
    assert originals == [None] * len(old)
    box = ledger.mailbox("a@corp.example")
    later = at(DAY + dt.timedelta(days=1), 9)
    forwarded = BounceIn(
        "lead.private@forward.example",
        "hard",
        later,
        "dsn:<fwd@mta>|lead",
        message_id="<fwd@corp.example>",
        source="imap",
        trusted=False,
        original_recipient="lead@example.com",
    )
    ledger.record_synced(box, "INBOX", 4_000_000_000, 4, [forwarded])
    api.record_send(ledger, box.address, ["lead@example.com"], later, "<fwd@corp.example>")
    assert ledger.match_late(box) == 1
    [row] = [b for b in ledger.bounces(box) if b["message_id"] == "<fwd@corp.example>"]
    assert (row["recipient"], row["matched"], row["counted"]) == ("lead@example.com", True, True)
    assert ledger.match_late(box) == 0
    assert ledger.rollup_mismatches() == []
    ledger.close()


def _message_id_index(conn: sa.Connection, postgres: bool) -> str:
    if postgres:
        sql = (
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_send_message_id'"
            " AND schemaname = current_schema()"
        )
    else:
        sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_send_message_id'"
    return str(conn.exec_driver_sql(sql).scalar_one())


def test_the_message_id_index_holds_only_sends_with_one_and_serves_every_lookup(
    ledger_url,  # noqa: F811
):
    """m013: ``ix_send_message_id`` leaves out the sends without a Message-ID (an imported
    log's, each an entry for nothing), upgraded from a ledger before it with its rows kept, and
    the lookups on a Message-ID still go through it."""
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m012_bounce_original_recipient")
    postgres = ledger.scheme == "postgresql"
    md = sa.MetaData()
    with ledger.write() as conn:
        assert "WHERE" not in _message_id_index(conn, postgres).upper()
        md.reflect(conn)
        for name in ("mailbox", "send"):
            conn.execute(md.tables[name].insert(), FIRST_RELEASE_ROWS[name])
        ledger.after_copy(conn, [md.tables[n] for n in ("mailbox", "send")])
    ledger.close()
    ledger = open_ledger(ledger_url)
    assert ledger.pending_migrations() == []
    with ledger.read() as conn:
        assert "message_id is not null" in _message_id_index(conn, postgres).lower()
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.SEND)).scalar_one()
        assert count == len(FIRST_RELEASE_ROWS["send"])
        send = schema.SEND.c
        # gate_outcomes' lookup, and the IN list of a Message-ID written either way (a bounce's
        # match names its recipient too, and goes through ix_send_recipient, as before m013)
        queries = [
            sa.select(send.recipient, send.outcome).where(send.message_id == "<m@x>"),
            sa.select(send.id).where(send.message_id.in_(["<m@x>", "m@x"])),
        ]
        if postgres:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a few rows: scan otherwise
        for q in queries:
            sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
            plan = " ".join(str(r) for r in conn.exec_driver_sql(f"{prefix} {sql}"))
            assert "ix_send_message_id" in plan, (sql, plan)
    ledger.close()


def test_an_older_ledger_never_gives_a_removed_mailboxs_or_pools_id_again(ledger_url):  # noqa: F811
    """m015: a ledger whose newest mailboxes and pool were removed, their ids kept by outbox
    rows and a suppression, upgrades with every row and foreign key kept; its next mailbox and
    pool take ids that no row names (SQLite: AUTOINCREMENT, the sequence past those ids;
    PostgreSQL: the sequences moved past them), and go on not reusing ids."""
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m014_pool_rev")
    md = sa.MetaData()
    when = at(DAY, 9)
    with ledger.write() as conn:
        md.reflect(conn)
        t = md.tables
        for address in ("a@corp.example", "b@corp.example"):  # ids 1, 2
            conn.execute(
                t["mailbox"].insert(),
                [{"address": address, "provider": "exmail", "timezone": "UTC",
                  "policy": "default", "created_at": when}],
            )  # fmt: skip
        conn.execute(t["pool"].insert(), [{"name": "P", "created_at": when}])  # id 1
        conn.execute(t["pool_member"].insert(), [{"pool_id": 1, "mailbox_id": 2}])
        conn.execute(
            t["send"].insert(),
            [{"mailbox_id": 2, "recipient": "r@example.com", "at": when, "day": DAY,
              "outcome": "sent", "source": "gate", "key": "k"}],
        )  # fmt: skip
        kept = {"mailbox_id": 3, "pool_id": None, "sent_by": None}, {
            "mailbox_id": None, "pool_id": 4, "sent_by": 5,
        }  # fmt: skip
        conn.execute(
            t["outbox"].insert(),
            [
                {**ids, "message_id": f"<m{n}@corp.example>", "recipients": "x@example.com",
                 "data": b"Subject: s\r\n\r\nhi\r\n", "state": "sent", "not_before": when,
                 "next_attempt_at": when, "expires_at": when, "created_at": when,
                 "updated_at": when}
                for n, ids in enumerate(kept)
            ],
        )  # fmt: skip
        conn.execute(
            t["suppression"].insert(),
            [{"address": "x@example.com", "kind": "hard", "mailbox_id": 6, "created_at": when}],
        )
    ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        assert [(m.id, m.address) for m in ledger.mailboxes()] == [
            (1, "a@corp.example"),
            (2, "b@corp.example"),
        ]
        assert [m.address for m in ledger.pool("P").members] == ["b@corp.example"]
        assert ledger.history_size(ledger.mailbox("b@corp.example")) == 1
        assert len(ledger.messages()) == 2
        with ledger.read() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM suppression")).scalar() == 1
        api.add_mailbox(ledger, "c@corp.example", "exmail")
        assert ledger.mailbox("c@corp.example").id == 7  # past the suppression's 6
        ledger.add_pool("Q", [], False, at(DAY))
        assert ledger.pool("Q").id == 5  # past the outbox's pool 4 (sent_by 5 is a mailbox)
        ledger.remove_mailbox("c@corp.example")
        api.add_mailbox(ledger, "d@corp.example", "exmail")
        assert ledger.mailbox("d@corp.example").id == 8
        with pytest.raises(sa.exc.IntegrityError), ledger.write() as conn:  # keys still hold
            conn.execute(schema.POOL_MEMBER.insert(), [{"pool_id": 1, "mailbox_id": 99}])
        if ledger.scheme == "sqlite":
            with ledger.read() as conn:
                for name in schema.KEPT_IDS:
                    sql = conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
                    ).scalar()
                    assert "AUTOINCREMENT" in sql, name
    finally:
        ledger.close()


def test_an_older_rollup_is_kept_in_its_key_order(ledger_url):  # noqa: F811
    """m018: the day rows of an m017 ledger, written a day at a time across its mailboxes (as
    a ledger grows), upgrade with every row kept. On SQLite the table then keeps them in its
    key's order (WITHOUT ROWID: a mailbox's days together, not a page per few rows), and the
    cold ``quota``'s read of every day of a mailbox goes by that key alone, so that a mailbox
    with a row for every day is read without its days (``sqlite_days._in_key_order``);
    PostgreSQL's table is as it was. Sends are counted on it as before."""
    from warmup.ledger import SendIn, sqlite_days

    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m017_bounce_report")
    md = sa.MetaData()
    when = at(DAY, 9)
    days = [DAY - dt.timedelta(days=d) for d in range(4, 0, -1)]
    rows = [
        {"mailbox_id": m, "day": d, "sent": 10 * m + k, "hard": k % 2, "soft": 0, "block": m,
         "complaint": 0}
        for k, d in enumerate(days)
        for m in (1, 2)
    ]  # fmt: skip
    with ledger.write() as conn:
        md.reflect(conn)
        t = md.tables
        conn.execute(
            t["mailbox"].insert(),
            [{"address": f"{a}@corp.example", "provider": "exmail", "timezone": "UTC",
              "policy": "default", "created_at": when} for a in "ab"],
        )  # fmt: skip
        conn.execute(t["day_stat"].insert(), rows)
    ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        key = sorted((r["mailbox_id"], r["day"]) for r in rows)
        c = schema.DAY_STAT.c
        with ledger.read() as conn:
            got = conn.execute(sa.select(schema.DAY_STAT).order_by(c.mailbox_id, c.day)).all()
        assert [tuple(r) for r in got] == [
            (m, d, *(r[n] for n in schema.COUNT_COLUMNS))
            for m, d in key
            for r in rows
            if (r["mailbox_id"], r["day"]) == (m, d)
        ]
        if ledger.scheme == "sqlite":
            con = sqlite3.connect(ledger.where)
            try:
                sql = con.execute("SELECT sql FROM sqlite_master WHERE name = 'day_stat'")
                assert sql.fetchone()[0].rstrip().endswith("WITHOUT ROWID")
                assert sqlite_days._in_key_order(con.cursor(), [1, 2], DAY.isoformat(), None)
            finally:
                con.close()
        box = ledger.mailbox("a@corp.example")
        ledger.record(box, [SendIn("r@example.com", at(days[-1], 15, tz="UTC"))])
        with ledger.read() as conn:
            sent = conn.execute(
                sa.select(c.sent).where(c.mailbox_id == box.id, c.day == days[-1])
            ).scalar_one()
        assert sent == 10 * box.id + len(days) - 1 + 1
    finally:
        ledger.close()


def test_an_older_ledgers_bounces_get_the_days_of_their_sends(ledger_url):  # noqa: F811
    """m019: an m018 ledger's bounces get the day of the send each answers (``send_day``),
    NULL for one that answers none; the report's bounces by send day (now read from the bounce
    alone) are then those of the join it read before, and a bounce recorded after the upgrade
    has its send's day too."""
    from tests.test_bounce_send_day import assert_exact, send_days

    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m018_day_stat_in_key_order")
    md = sa.MetaData()
    sunday, monday = at(DAY - dt.timedelta(days=1), 9, tz="UTC"), at(DAY, 9, tz="UTC")
    with ledger.write() as conn:
        md.reflect(conn)
        t = md.tables
        conn.execute(
            t["mailbox"].insert(),
            [{"address": "a@corp.example", "provider": "exmail", "timezone": "UTC",
              "policy": "default", "created_at": sunday}],
        )  # fmt: skip
        conn.execute(
            t["send"].insert(),
            [{"mailbox_id": 1, "recipient": f"r{i}@example.com", "at": sunday,
              "day": sunday.date(), "outcome": "sent", "source": "record", "key": f"k{i}"}
             for i in range(3)],
        )  # fmt: skip
        conn.execute(
            t["bounce"].insert(),
            [{"mailbox_id": 1, "send_id": s, "recipient": f"r{i}@example.com", "kind": kind,
              "at": monday, "day": monday.date(), "source": "record", "key": f"b{i}",
              "counted": s is not None}
             for i, (s, kind) in enumerate([(1, "hard"), (2, "soft"), (None, "hard")])],
        )  # fmt: skip
    ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        assert [d for _, d, _ in send_days(ledger)] == [sunday.date(), sunday.date(), None]
        assert_exact(ledger, {("a@corp.example", sunday.date()): 2})
        api.record_bounce(ledger, "a@corp.example", "r2@example.com", "block", "5.7.1", monday)
        assert_exact(ledger, {("a@corp.example", sunday.date()): 3})
    finally:
        ledger.close()


def test_an_older_ledgers_outbox_gets_content_keys_for_what_is_queued_next(ledger_url):  # noqa: F811
    """m020: an m019 ledger's messages get no content key (NULL: not computed from their
    bytes), and what is queued after the upgrade is checked against the campaign by its key."""
    from warmup.ledger import OutboxIn

    ledger = _older_outbox(ledger_url, "m019_bounce_send_day", state="queued", campaign="dec")
    when = at(DAY, 9)
    with ledger.read() as conn:
        assert conn.execute(sa.select(schema.OUTBOX.c.content_key)).scalars().all() == [None]

    def item(mid: str) -> OutboxIn:
        end = when + dt.timedelta(days=3)
        return OutboxIn(mid, ("x@example.com",), b"Subject: s\r\n\r\nhi\r\n", when, end,
                        pool_id=1, campaign="dec", content_key="k1")  # fmt: skip

    first = ledger.enqueue([item("<m2@corp.example>")], when)
    again = ledger.enqueue([item("<m3@corp.example>")], when)
    assert (first.already, again.ids, again.already) == ([], [], [("<m3@corp.example>", 2)])
    assert [m.id for m in ledger.messages()] == [1, 2]
    ledger.close()


def test_an_older_ledgers_report_memos_are_dropped_and_kept_again_by_rev(ledger_url):  # noqa: F811
    """m022: a memo an m021 ledger kept (validated by a digest of the rollup rows) is dropped
    (it has no ``rev``); the next report keeps one at the mailbox's ``rev``, and a write on a
    day it covers drops it."""
    from tests.test_timeline_cache import _memos
    from warmup import reports

    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m021_feedback_notices")
    with ledger.write() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        conn.execute(
            md.tables["mailbox"].insert(),
            [{"address": "a@corp.example", "provider": "exmail", "timezone": "UTC",
              "policy": "default", "created_at": at(DAY, 9, tz="UTC")}],
        )  # fmt: skip
        conn.execute(
            md.tables["timeline_cache"].insert(),
            [{"mailbox_id": 1, "fingerprint": "f", "upto": DAY, "payload": "{}"}],
        )
    ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        with ledger.read() as conn:
            assert (
                conn.execute(sa.select(sa.func.count()).select_from(schema.TIMELINE_CACHE)).scalar()
                == 0
            )
        for k in range(5):
            api.record_send(
                ledger,
                "a@corp.example",
                [f"r{k}@example.com"],
                at(DAY + dt.timedelta(days=k), 9, tz="UTC"),
            )
        report_at = at(DAY + dt.timedelta(days=6), 9, tz="UTC")
        reports.daily(ledger, at=report_at)
        assert list(_memos(ledger)) == ["a@corp.example"]
        api.record_send(ledger, "a@corp.example", ["late@example.com"], at(DAY, 15, tz="UTC"))
        assert _memos(ledger) == {}
    finally:
        ledger.close()


def test_an_older_ledger_remembers_its_next_removals(ledger_url):  # noqa: F811
    """m025: an m024 ledger gets the table of removals, empty (its earlier removals were never
    kept: none is made up); its suppressions stay, and a removal from then on is remembered."""
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m024_policy_events_say_what_was_in_force")
    with ledger.write() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        assert "suppression_removal" not in md.tables
        conn.execute(
            md.tables["suppression"].insert(),
            [{"address": "full@example.com", "kind": "soft", "reason": "3 sends in a row",
              "mailbox_id": None, "created_at": at(DAY, 9, tz="UTC")}],
        )  # fmt: skip
    ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        removals = sa.select(schema.SUPPRESSION_REMOVAL)  # id, address, kind, reason, removed_at
        with ledger.read() as conn:
            assert conn.execute(removals).all() == []
        assert list(ledger.suppressed(["full@example.com"])) == ["full@example.com"]
        assert ledger.unsuppress("full@example.com", at=at(DAY, 12, tz="UTC"))
        with ledger.read() as conn:
            assert [tuple(r)[1:5] for r in conn.execute(removals)] == [
                ("full@example.com", "soft", "3 sends in a row", at(DAY, 12, tz="UTC"))
            ]
    finally:
        ledger.close()


def _older_removal(ledger: Any, missing: str, **row: Any) -> None:
    """A removal written as the warmup before the migration that added column ``missing``
    wrote it (its table has no such column yet)."""
    with ledger.write() as conn:
        md = sa.MetaData()
        md.reflect(conn)
        assert missing not in md.tables["suppression_removal"].c
        conn.execute(md.tables["suppression_removal"].insert(), [row])


def test_an_older_ledgers_removals_are_judged_by_their_time_and_new_ones_by_the_sends_held(
    ledger_url,  # noqa: F811
):
    """m026: a removal an m025 ledger kept has no mark of the sends it sets aside (none is made
    up): it sets aside those dated at or before it, as it did; a removal made after the upgrade
    sets aside the sends the ledger holds, whatever their dates."""
    from tests.test_removal_clocks import FULL as full
    from tests.test_removal_clocks import recorded_soft

    box = "sales@corp.example"
    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m025_suppression_removals")
    ledger.close()
    ledger = open_ledger(ledger_url, migrate=False)
    try:
        api.add_mailbox(ledger, box, "exmail")
        # a removal as m025's warmup wrote it, between days 4 and 8
        _older_removal(ledger, "last_send_id", address=full, kind="soft", reason="r",
                       removed_at=at(DAY + dt.timedelta(days=6), 9, tz="UTC"))  # fmt: skip
    finally:
        ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        # the sends, by today's writers (which fill tables an m025 ledger lacks, m030's)
        for day in (0, 4, 8, 12):
            recorded_soft(ledger, box, at(DAY + dt.timedelta(days=day), 9, tz="UTC"))
        with ledger.read() as conn:
            marks = conn.execute(sa.select(schema.SUPPRESSION_REMOVAL.c.last_send_id)).scalars()
            assert list(marks) == [None]
        # days 8 and 12 are after the old removal's time: a streak of two, from day 8
        [streak] = api.soft_streaks(ledger, sends=2, days=0)
        assert streak.first == at(DAY + dt.timedelta(days=8), 9, tz="UTC")
        ledger.suppress([full], "soft", "again")
        # taken back now, dated before every send: the sends held are set aside all the same
        assert ledger.unsuppress(full, at=at(DAY - dt.timedelta(days=1), 9, tz="UTC"))
        assert api.soft_streaks(ledger, sends=2, days=0) == []
    finally:
        ledger.close()


def _older_slot(url: str, tmp_path: Path, upto: str, missing: str, **slot: Any) -> str:
    """A ledger at ``url`` migrated through ``upto``, whose ``send`` has no column ``missing``
    yet, with mailbox sales@corp.example (a flat policy) and a gate slot of old@example.com for
    <old@x> (``slot``: its ``at``, ``outcome`` and more) as that version wrote it; the box."""
    from tests.gatekit import policy_file

    box = "sales@corp.example"
    ledger = open_ledger(url, migrate=False)
    ledger.migrate(upto=upto)
    ledger.close()
    ledger = open_ledger(url, migrate=False)
    try:
        api.add_mailbox(ledger, box, "exmail", policy=str(policy_file(tmp_path / "flat.toml")))
        with ledger.write() as conn:
            md = sa.MetaData()
            md.reflect(conn)
            assert missing not in md.tables["send"].c
            row = {"mailbox_id": ledger.mailbox(box).id, "recipient": "old@example.com",
                   "message_id": "<old@x>", "day": slot["at"].date(), "source": "gate",
                   "key": "<old@x>|old@example.com", **slot}  # fmt: skip
            conn.execute(md.tables["send"].insert(), [row])
    finally:
        ledger.close()
    return box


def test_an_older_ledgers_reservations_wait_for_the_expiry_and_new_ones_name_their_holder(
    ledger_url,  # noqa: F811
    tmp_path: Path,
):
    """m027: a slot an m026 ledger holds reserved names no holder (who held it is not known,
    none is made up): it stays in flight until the gate's expiry, as before; a slot reserved
    after the upgrade names this process."""
    import os
    import socket

    from warmup import Gate
    from warmup.errors import TempFail
    from warmup.ledger import holders

    now = dt.datetime.now(dt.UTC)
    # a reservation as m026's warmup wrote it, a moment ago
    box = _older_slot(ledger_url, tmp_path, "m026_removals_mark_the_last_send", "holder_pid",
                      at=now, outcome="reserved")  # fmt: skip

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        with pytest.raises(TempFail, match="the gate is sending 1 message for it now"):
            ledger.remove_mailbox(box, force=True)
        with Gate(box, ledger=ledger) as gate:
            gate.reserve(["new@example.com"], "<new@x>", now=now).settle("released")
            gate.reserve(["next@example.com"], "<next@x>", now=now)
            with ledger.read() as conn:
                got = conn.exec_driver_sql(
                    "SELECT recipient, outcome, holder_host, holder_pid, holder_start FROM send"
                    " ORDER BY recipient"
                ).all()
            assert [tuple(r) for r in got] == [
                ("new@example.com", "released", socket.gethostname(), os.getpid(),
                 holders.me().start),
                ("next@example.com", "reserved", socket.gethostname(), os.getpid(),
                 holders.me().start),
                ("old@example.com", "reserved", None, None, None),
            ]  # fmt: skip
    finally:
        ledger.close()


def test_an_older_ledgers_released_slots_give_no_reason_and_new_ones_say_size(
    ledger_url,  # noqa: F811
    tmp_path: Path,
):
    """m028: a slot an m027 ledger holds released says no reason (why it was given back is
    not known, none is made up); after the upgrade a slot released by a reply refusing the
    message's size says ``size``, one released otherwise nothing, and the message's retry
    takes a slot of its own, which says nothing."""
    from warmup import Gate
    from warmup.smtp import RcptResult

    now = dt.datetime.now(dt.UTC)
    # a slot as m027's warmup released it
    box = _older_slot(ledger_url, tmp_path, "m027_send_holder", "release_reason",
                      at=now, outcome="released", settled_at=now)  # fmt: skip

    def reasons() -> list[tuple[str, str, str | None]]:
        with ledger.read() as conn:
            got = conn.exec_driver_sql(
                "SELECT recipient, outcome, release_reason FROM send ORDER BY recipient, id"
            ).all()
        return [tuple(r) for r in got]

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        big = RcptResult("big@example.com", "released", 552, "5.3.4 Message size exceeds limit")
        other = RcptResult("next@example.com", "released", 452, "4.5.3 Too many recipients")
        with Gate(box, ledger=ledger) as gate:
            gate.reserve([big.recipient, other.recipient], "<new@x>", now=now).settle(
                {big.recipient: big, other.recipient: other}
            )
            assert reasons() == [
                ("big@example.com", "released", "size"),
                ("next@example.com", "released", None),
                ("old@example.com", "released", None),
            ]
            gate.reserve([big.recipient], "<new@x>", now=now)  # the same message again
            assert reasons()[:2] == [  # a slot of its own; the released one kept as it was
                ("big@example.com", "released", "size"),
                ("big@example.com", "reserved", None),
            ]
    finally:
        ledger.close()


def test_an_older_ledgers_removals_stay_out_of_the_lists_past_and_new_ones_count_in_it(
    ledger_url,  # noqa: F811
):
    """m029: a removal an m028 ledger kept has no time of its suppression (none is made up): the
    list's past leaves it out, as it did; a removal made after the upgrade keeps its
    suppression's time and mailbox, and its address counts on the days it was on the list."""
    from warmup import reports

    ledger = open_ledger(ledger_url, migrate=False)
    ledger.migrate(upto="m028_send_release_reason")
    ledger.close()
    ledger = open_ledger(ledger_url, migrate=False)
    try:
        # a removal as m028's warmup wrote it
        _older_removal(ledger, "suppressed_at", address="old@example.com", kind="hard",
                       reason="r", removed_at=at(DAY, 9, tz="UTC"), last_send_id=0)  # fmt: skip
    finally:
        ledger.close()

    ledger = open_ledger(ledger_url)
    try:
        assert ledger.pending_migrations() == []
        kept = sa.select(
            schema.SUPPRESSION_REMOVAL.c.address,
            schema.SUPPRESSION_REMOVAL.c.suppressed_at,
            schema.SUPPRESSION_REMOVAL.c.mailbox_id,
        ).order_by(schema.SUPPRESSION_REMOVAL.c.id)
        with ledger.read() as conn:
            assert [tuple(r) for r in conn.execute(kept)] == [("old@example.com", None, None)]
        assert reports.suppressions(ledger).empty
        api.add_mailbox(ledger, "sales@corp.example", "exmail", timezone="UTC")
        box = ledger.mailbox("sales@corp.example").id
        ledger.suppress_each([("new@example.com", "r", box)], "hard", at(DAY, 9, tz="UTC"))
        assert ledger.unsuppress("new@example.com", at=at(DAY + dt.timedelta(days=2), 9, tz="UTC"))
        with ledger.read() as conn:
            assert [tuple(r) for r in conn.execute(kept)][1:] == [
                ("new@example.com", at(DAY, 9, tz="UTC"), box)
            ]
        assert reports.suppressions(ledger)["total"].tolist() == [1, 0]
    finally:
        ledger.close()


def test_messages_held_the_old_way_wait_their_time_after_the_upgrade(ledger_url):  # noqa: F811
    """m035 holds a target in one row (``outbox_hold``) instead of writing its messages: a
    message an m033 worker held (its ``next_attempt_at`` moved to the members' next slot) is
    not due before it after the upgrade, and is then, with no hold of its pool in the way."""
    when = at(DAY, 9)
    later = when + dt.timedelta(hours=1)
    ledger = _older_outbox(
        ledger_url, "m033_outbox_pool_due", state="queued", next_attempt_at=later,
        last_reply="a@corp.example: next send at 10:00",
    )  # fmt: skip
    try:
        assert ledger.holds() == {}
        assert ledger.due_targets(when, when) == []
        assert ledger.claim("w", when) is None
        assert ledger.due_targets(later, later) == [(1, None)]
        claimed = ledger.claim("w", later)
        assert claimed is not None and claimed.id == 1
    finally:
        ledger.close()


def test_an_older_ledgers_queued_messages_expire_and_are_due_by_the_new_indexes(
    ledger_url,  # noqa: F811
):
    """m036 indexes the outbox by expiry (every queued message, each pool's, each mailbox's
    own): an m035 ledger's queued message is found by them after the upgrade, as its pool's
    first due and first expiring message, and expires by them past its time."""
    when = at(DAY, 9)
    ledger = _older_outbox(ledger_url, "m035_outbox_hold", state="queued")
    try:
        with ledger.read() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("outbox")}
        assert {"ix_outbox_expiry", "ix_outbox_pool_expiry", "ix_outbox_box_expiry"} <= names
        ends = when + dt.timedelta(days=3)
        assert ledger.next_due_each() == [(1, None, when, ends, None)]
        assert ledger.expire_messages(ends - dt.timedelta(seconds=1)) == 0
        assert ledger.expire_messages(ends) == 1
        assert ledger.message(1).state == "expired"
        assert ledger.next_due_each() == []
    finally:
        ledger.close()


def test_an_older_ledgers_waiting_messages_are_grouped_from_the_new_indexes(
    ledger_url,  # noqa: F811
):
    """m038 indexes the waiting messages (to one address; to several) with every column
    ``queue status`` groups them by: an m036 ledger's queued message is in the index after the
    upgrade and counted as it was, and leaves it when it is sent."""
    ledger = _older_outbox(ledger_url, "m036_outbox_expiry", state="queued", rcpt_count=1)
    try:
        with ledger.read() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("outbox")}
        assert {"ix_outbox_waiting", "ix_outbox_waiting_several"} <= names
        (group,) = ledger.outbox_waiting()
        assert (group["pool_id"], group["messages"], group["recipients"]) == (1, 1, 1)
        assert group["next_attempt_at"] == at(DAY, 9)
        with ledger.write() as conn:
            conn.execute(sa.text("UPDATE outbox SET state = 'sent' WHERE id = 1"))
        assert ledger.outbox_waiting() == []
    finally:
        ledger.close()


def test_an_older_ledgers_bulk_messages_are_found_by_the_new_index(ledger_url):  # noqa: F811
    """m039 indexes each pool's bulk messages (``ix_outbox_pool_bulk``): an m038 ledger's
    queued bulk message is in it after the upgrade, its pool held but for it due at the
    message's time and none of it counted as held; it leaves the index when it is sent."""
    when = at(DAY, 9)
    ledger = _older_outbox(ledger_url, "m038_outbox_waiting", state="queued", bulk=True)
    try:
        with ledger.read() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("outbox")}
        assert "ix_outbox_pool_bulk" in names
        ledger.hold_messages(when, when, when + dt.timedelta(hours=1), "paced", pool_id=1,
                             keep_bulk=True)  # fmt: skip
        ends = when + dt.timedelta(days=3)
        assert ledger.next_due_each() == [(1, None, when, ends, None)]
        assert ledger.held_waiting(when, pool_id=1, keep_bulk=True) == 0
        assert ledger.held_waiting(when, pool_id=1) == 1
        with ledger.write() as conn:
            conn.execute(sa.text("UPDATE outbox SET state = 'sent' WHERE id = 1"))
        assert ledger.next_due_each() == []
    finally:
        ledger.close()


def test_an_older_ledgers_waiting_messages_are_held_for_no_fault(ledger_url):  # noqa: F811
    """m041 adds ``outbox.fault`` and its index: an m040 ledger's message waiting for a later
    try (a hold or back-off an older worker wrote) reads as held for no fault after the
    upgrade, so 'run --once' says nothing of a fault it cannot know; its next try writes what
    it finds."""
    later = at(DAY, 9) + dt.timedelta(minutes=5)
    ledger = _older_outbox(
        ledger_url, "m040_outbox_due_by_id", state="queued", next_attempt_at=later,
        last_reply="a@corp.example: no password for a@corp.example",
    )  # fmt: skip
    try:
        with ledger.read() as conn:
            names = {i["name"] for i in sa.inspect(conn).get_indexes("outbox")}
        assert "ix_outbox_fault" in names
        assert ledger.fault_holds(at(DAY, 9)) == []
        with ledger.write() as conn:
            conn.execute(sa.text("UPDATE outbox SET fault = 78 WHERE id = 1"))
        (held,) = ledger.fault_holds(at(DAY, 9))
        assert (held.pool, held.messages, held.until, held.code) == ("P", 1, later, 78)
        assert held.why == "a@corp.example: no password for a@corp.example"
        assert ledger.fault_holds(later) == []  # its wait over: held no more
    finally:
        ledger.close()
