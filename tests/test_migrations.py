"""Migrations: a blank ledger gets them all once; the result matches the models; data survives;
processes racing to create one ledger do not trip over each other."""

from __future__ import annotations

import multiprocessing
import sqlite3
import traceback
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

from tests.conftest import at
from warmup import api, migrations, models
from warmup.ledger import open_ledger

RACERS = 4


def applied(path: Path) -> list[tuple[str, str]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT name, applied_at FROM warmup_migrations ORDER BY name").fetchall()
    finally:
        con.close()


def test_blank_ledger_gets_every_migration(ledger_path: Path):
    assert not ledger_path.exists()
    open_ledger().close()
    assert migrations.MIGRATIONS, "no migrations registered"
    names = [name for name, _ in migrations.MIGRATIONS]
    assert len(set(names)) == len(names)
    assert sorted(n for n, _ in applied(ledger_path)) == sorted(names)


def test_reopening_applies_nothing(ledger_path: Path):
    open_ledger().close()
    first = applied(ledger_path)
    ledger = open_ledger()
    with ledger.read() as conn:
        assert migrations.pending(conn) == []
    ledger.close()
    assert applied(ledger_path) == first  # same names, same applied_at


def test_migrated_schema_matches_the_models(ledger_path: Path):
    ledger = open_ledger()
    insp = sa.inspect(ledger.engine)
    db_tables = set(insp.get_table_names()) - {"warmup_migrations"}
    model_tables = {t.name: t for t in SQLModel.metadata.sorted_tables
                    if t.name in {m.__tablename__ for m in (
                        models.Mailbox, models.Send, models.Bounce, models.Suppression,
                        models.Event, models.DayStat, models.SyncState)}}
    # timeline_cache is a derived memo with no SQLModel model: its Core table is the reference
    from warmup.ledger.timeline_cache import TIMELINE_CACHE

    assert db_tables == set(model_tables) | {TIMELINE_CACHE.name}
    model_tables[TIMELINE_CACHE.name] = TIMELINE_CACHE
    for name, table in model_tables.items():
        db_cols = {c["name"]: c for c in insp.get_columns(name)}
        assert set(db_cols) == {c.name for c in table.columns}, name
        pk = insp.get_pk_constraint(name)["constrained_columns"]
        assert sorted(pk) == sorted(c.name for c in table.primary_key.columns), name
    ledger.close()


def test_existing_ledger_keeps_its_data(ledger_path: Path):
    import datetime as dt

    ledger = open_ledger()
    api.add_mailbox(ledger, "a@corp.example", "exmail")
    day = dt.date(2026, 11, 10)
    api.record_send(ledger, "a@corp.example", ["r1@example.com", "r2@example.com"], at(day, 9))
    api.record_bounce(ledger, "a@corp.example", "r1@example.com", "hard", at=at(day, 10))
    before = api.quota(ledger, "a@corp.example", at(day + dt.timedelta(days=1)))
    ledger.close()

    again = open_ledger()
    assert [b.address for b in api.store.list_mailboxes(again)] == ["a@corp.example"]
    assert api.quota(again, "a@corp.example", at(day + dt.timedelta(days=1))) == before
    box = api.store.get_mailbox(again, "a@corp.example")
    assert api.store.count_history(again, box.id) == 3
    again.close()


def _race(path: str, n: int, barrier, results) -> None:
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
        procs = [ctx.Process(target=_race, args=(str(path), n, barrier, results))
                 for n in range(RACERS)]
        for p in procs:
            p.start()
        outcomes = dict(results.get(timeout=120) for _ in procs)
        for p in procs:
            p.join(timeout=60)
        assert outcomes == {n: None for n in range(RACERS)}, outcomes
        assert all(p.exitcode == 0 for p in procs)
        names = [n for n, _ in applied(path)]
        assert sorted(names) == sorted(name for name, _ in migrations.MIGRATIONS)
        con = sqlite3.connect(path)
        try:
            boxes = {r[0] for r in con.execute("SELECT address FROM mailbox")}
        finally:
            con.close()
        assert boxes == {f"racer{n}@corp.example" for n in range(RACERS)}


def test_core_tables_match_the_sqlmodel_classes():
    """The ledger runs SQL on plain Core tables; users see SQLModel classes: they must agree."""
    from warmup import models
    from warmup.ledger import tables

    classes = [models.Mailbox, models.Send, models.Bounce, models.Suppression, models.Event,
               models.DayStat, models.SyncState]
    for cls in classes:
        orm = cls.__table__  # type: ignore[attr-defined]
        core = tables.METADATA.tables[orm.name]
        assert [c.name for c in core.columns] == [c.name for c in orm.columns], orm.name
        for mine, theirs in zip(core.columns, orm.columns):
            where = f"{orm.name}.{mine.name}"
            def base(t: object) -> type:
                return getattr(t, "impl", t).python_type  # type: ignore[no-any-return]

            assert base(mine.type) is base(theirs.type), where
            assert type(mine.type).__name__ == type(theirs.type).__name__ or (
                type(theirs.type).__name__ == "AutoString"
                and type(mine.type).__name__ == "String"), where
            assert (mine.nullable, mine.primary_key) == (theirs.nullable, theirs.primary_key), where
