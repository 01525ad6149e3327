"""Copying a whole ledger to another one (``warmup db copy``): a solo user's SQLite file to the
team's PostgreSQL server, or back.

Every table is copied in dependency order (mailboxes before the rows that point at them), in
batches (``executemany``), ids included, inside one transaction on the target: a copy that fails
half way leaves the target as it was. The target is checked empty inside that transaction, once
other writers are locked out (:meth:`Ledger.lock_for_copy`), so none writes it in between.
Afterwards the target backend fixes what copied ids need (the id sequences are moved past them,
or the next insert would collide; those of mailboxes and pools also past the ids the outbox
keeps of removed ones, so that no id is given twice).

Derived memos (:data:`DERIVED`: the walk memos, the report's ``timeline_cache``, the worker's
holds of the outbox's targets) are emptied on the target rather than copied; they are rebuilt from
the copied rows on first use (a hold by the worker's next pass). A table this module does not
know (added by a later migration) stops the copy instead of being left behind.

The copy is then verified: for each table, the row count and a checksum (SHA-256 over the rows
ordered by primary key, rendered canonically by :func:`canonical`) are computed on both sides
through the same Python code and the same column types, so a timestamp that came back shifted, a
date read as text or a truncated string shows as a mismatch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from warmup.errors import ConfigError, DataError
from warmup.ledger.core import CellRefused, Ledger, NulInText
from warmup.ledger.schema import DATA_TABLES, DERIVED_TABLES, UTCDateTime, content
from warmup.stopwindow import StopWindow

T = TypeVar("T")

# Dependency order: every table after the tables its foreign keys name.
TABLES: tuple[sa.Table, ...] = DATA_TABLES
# Memos recomputed from the tables above when missing: emptied on the target, not copied.
DERIVED = tuple(t.name for t in DERIVED_TABLES)
BATCH = 5000


@dataclass(frozen=True)
class TableCopy:
    """One table's copy: rows on each side and their checksums."""

    table: str
    source_rows: int
    target_rows: int
    source_sha256: str
    target_sha256: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


def canonical(value: Any) -> str:
    """One cell as text, identical for equal values whatever the backend returned them from."""
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):  # before int: bool is an int
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):  # a queued message
        return bytes(value).hex()
    # Escape the separators so that ("a", "b|c") and ("a|b", "c") hash differently.
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _cell(column: sa.Column[Any]) -> Callable[[Any], str]:
    """:func:`canonical` for one column's values, its type's branch chosen once (a checksum
    renders every cell of the ledger twice)."""
    kind = column.type
    if isinstance(kind, sa.Integer) and not isinstance(kind, sa.Boolean):
        return lambda v: "\\N" if v is None else str(v)
    if isinstance(kind, sa.DateTime | UTCDateTime):
        utc = dt.UTC
        return lambda v: (
            "\\N" if v is None else v.astimezone(utc).isoformat(timespec="microseconds")
        )
    if isinstance(kind, sa.String):
        return _text
    return canonical


def _text(value: Any) -> str:
    if type(value) is str:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return canonical(value)


def row_text(table: sa.Table) -> Callable[[Sequence[Any]], bytes]:
    """A function rendering one row of ``table`` as its canonical line (what is hashed)."""
    cells = [_cell(c) for c in table.columns]
    return lambda row: ("\t".join([f(v) for f, v in zip(cells, row, strict=True)]) + "\n").encode()


def _ordered(table: sa.Table) -> sa.Select[Any]:
    return sa.select(table).order_by(*table.primary_key.columns)


def _rows(conn: Connection, table: sa.Table, batch: int) -> Iterable[Sequence[sa.Row[Any]]]:
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(_ordered(table))
    yield from result.partitions(batch)


def _read(source: Ledger, parts: Iterable[T]) -> Iterator[T]:
    """``parts`` read under ``source``'s own error wording: read inside the target's write
    transaction, a damaged source page was said of the target ("ledger new.db is corrupted"),
    a file the copy had just created and then removed."""
    with source._errors():
        yield from parts


def checksum(conn: Connection, table: sa.Table, batch: int = BATCH) -> tuple[int, str]:
    """(rows, SHA-256 of the rows in primary-key order, one canonical line each)."""
    digest, n, line = hashlib.sha256(), 0, row_text(table)
    for part in _rows(conn, table, batch):
        for row in part:
            digest.update(line(row))
        n += len(part)
    return n, digest.hexdigest()


def _clean(exc: NulInText, source: Ledger) -> str:
    """How to clean the source (a SQLite file: PostgreSQL holds no NUL) of the cell refused: the
    SQL drops its first NUL (a copy again names the next, if any)."""
    where = " AND ".join(
        f"{k} = {v}" if isinstance(v, int) else f"{k} = '{str(v).replace(chr(39), chr(39) * 2)}'"
        for k, v in exc.key.items()
    )
    # SQLite's replace() does not see a NUL (char(0) is an empty pattern to it); instr() does.
    c, nul = exc.column, f"instr({exc.column}, char(0))"
    sql = (
        f"UPDATE {exc.table} SET {c} = substr({c}, 1, {nul} - 1) || substr({c}, {nul} + 1) "
        f"WHERE {where}"
    )
    # In double quotes the SQL's own quotes read as written, unless the shell would expand it.
    shown = shlex.quote(sql) if set(sql) & set('$`\\"!') else f'"{sql}"'
    return (
        f"remove it from the source, e.g. sqlite3 {shlex.quote(source.where)} {shown}, then "
        f"copy again (nothing was copied)"
    )


def row_counts(
    conn: Connection, rows: Callable[[sa.Table], sa.Select[Any]] = sa.select
) -> dict[str, int]:
    """Each table's number of ``rows`` (all, or :func:`warmup.ledger.schema.content`)."""
    return {
        t.name: conn.execute(
            sa.select(sa.func.count()).select_from(rows(t).subquery())
        ).scalar_one()
        for t in TABLES
    }


def _refuse_rows(target: Ledger, counts: dict[str, int]) -> None:
    present = {k: v for k, v in counts.items() if v}
    if present:
        listed = ", ".join(f"{n} {t}" for t, n in present.items())
        raise ConfigError(
            f"ledger {target.where} is not empty ({listed}); copy into an empty "
            f"one, or add --force to replace its contents"
        )


def refuse_older_unless_empty(target: Ledger) -> None:
    """Refuse (:class:`ConfigError`) a target of an older schema that holds rows, before its
    upgrade: a refused copy leaves the target as it was, which upgraded it was not (hosts still on
    the older warmup then refuse it). Read through the tables the target has, as they are; a
    current target is checked by :func:`copy_ledger`, under its lock."""
    if not target.pending_migrations() or target.foreign_tables():
        return  # another program's tables: refused as such by the upgrade
    names = {t.name for t in TABLES}
    with target.read() as conn:
        held = sa.MetaData()
        held.reflect(conn, only=lambda name, _: name in names)
        counts = {
            t.name: conn.execute(
                sa.select(sa.func.count()).select_from(content(t).subquery())
            ).scalar_one()
            for t in (held.tables[n.name] for n in TABLES if n.name in held.tables)
        }
    _refuse_rows(target, counts)


def refuse_same(source: Ledger, url: str, force: bool = False) -> None:
    """Refuse (:class:`ConfigError`) a target ``url`` that names ``source`` itself, before the
    target is opened (a SQLite file under a second name, a hard link: opened, it got a WAL of
    its own beside the source's, left behind); and, unless ``force``, a SQLite file with
    several names (a hard link of another ledger, or that ledger's own name linked elsewhere):
    it is not opened under this name to see whether it is empty (a WAL of its own beside the
    other name's, unseen by whoever uses it there), so it counts as a target holding rows,
    refused as :func:`copy_ledger` refuses one, unless ``force``."""
    if source.is_at(url):
        raise ConfigError(_SAME)
    if force or not url.startswith("sqlite:"):
        return
    from warmup.ledger.sqlite_file import names

    where = sa.engine.make_url(url).database or ""
    linked = names(where)
    if linked > 1:
        raise ConfigError(
            f"ledger {where} is one file under {linked} names (hard links), another ledger "
            f"perhaps: it is not opened under a second name to see whether it is empty; copy "
            f"into a new file, or add --force to replace its contents"
        )


_SAME = "--to names the ledger being copied; give another ledger URL"


def copy_ledger(
    source: Ledger,
    target: Ledger,
    *,
    force: bool = False,
    batch: int = BATCH,
    progress: Callable[[str, int, int], None] | None = None,
    verifying: Callable[[], object] | None = None,
) -> list[TableCopy]:
    """Copy every row of ``source`` into ``target`` and verify it; one :class:`TableCopy` each.

    ``target`` must be empty (no mailbox, send, ... rows) unless ``force``, which deletes its rows
    first, in the same transaction. ``progress(table, rows so far, rows in all)`` is called after
    each batch; ``verifying()`` once the copy is committed, before it is verified (a stop that
    comes from its COMMIT on acts after that call: the caller can say the copy is in).
    Raises :class:`DataError` if the verification finds a difference (the target keeps the copy,
    so it can be inspected; copy again with ``force``).
    """
    if source.same_store(target):
        raise ConfigError(_SAME)
    with source.read() as conn:
        unknown = (
            set(sa.inspect(conn).get_table_names())
            - {t.name for t in TABLES}
            - set(DERIVED)
            - {"warmup_migrations"}
        )
    if unknown:  # a migration added a table this module does not know: never drop it silently
        raise ConfigError(
            f"ledger {source.where} has table(s) {', '.join(sorted(unknown))} "
            f"that 'warmup db copy' does not know; upgrade warmup"
        )
    with source.read() as src:

        def body(dst: Connection) -> dict[str, tuple[int, str]]:
            sums: dict[str, tuple[int, str]] = {}
            # Checked under the lock the rows are written under: checked before it, a target that
            # another copy (or a host) wrote meanwhile lost those rows, or the copy died of a
            # duplicate id.
            target.lock_for_copy(dst, [*TABLES, *DERIVED_TABLES])
            if not force:
                _refuse_rows(target, row_counts(dst, content))
            with source._errors():  # a source's fault said of the source, not of the target
                totals = row_counts(src) if progress else {}
            for derived in reversed(DERIVED_TABLES):
                dst.execute(derived.delete())
            for table in reversed(TABLES):
                dst.execute(table.delete())
            for table in TABLES:
                digest, n, line = hashlib.sha256(), 0, row_text(table)
                for part in _read(source, _rows(src, table, batch)):
                    for row in part:
                        digest.update(line(row))
                    try:
                        target.bulk_insert(dst, table, part)
                    except NulInText as exc:
                        raise DataError(f"{exc}; {_clean(exc, source)}") from None
                    except CellRefused as exc:
                        raise DataError(
                            f"{exc}; correct it in {source.where}, then copy again (nothing "
                            f"was copied)"
                        ) from None
                    n += len(part)
                    if progress:
                        progress(table.name, n, totals.get(table.name, n))
                sums[table.name] = (n, digest.hexdigest())
            target.after_copy(dst, TABLES)
            window.open()
            return sums

        # A stop that comes from the COMMIT on waits until ``verifying`` is told (see
        # warmup.stopwindow): acted on in between, the copy said "Aborted." alone of a target
        # that held the whole copy, which the next copy refused as not empty.
        window = StopWindow()
        try:
            # Cut as it commits, the copy may be in: asked of the server, never copied twice.
            sums = target.write_once(body)
            if verifying is not None:
                verifying()
        finally:
            window.close()
    with target.read() as conn:
        after = {t.name: checksum(conn, t, batch) for t in TABLES}
    report = [
        TableCopy(t.name, sums[t.name][0], after[t.name][0], sums[t.name][1], after[t.name][1])
        for t in TABLES
    ]
    bad = [c.table for c in report if not c.ok]
    if bad:
        raise DataError(
            f"copy to {target.where} does not match the source in {', '.join(bad)}; "
            f"nothing was lost from the source: copy again with --force"
        )
    return report
