"""``warmup db ...``: upgrade a ledger's schema, and move a ledger to another database."""

from __future__ import annotations

import shlex

import click

from warmup.cli import check_db, cli
from warmup.cli.common import (
    Stopped,
    db_option,
    json_option,
    print_json,
    print_table,
    say,
    say_created,
)
from warmup.errors import WarmupError
from warmup.ledger import copy as ledger_copy
from warmup.ledger import open_ledger, resolve_url, upgrade
from warmup.ledger.migrations import names as migration_names
from warmup.words import plural


@cli.group()
def db() -> None:
    """Manage the ledger database: migrate it, copy it to a team server.

    \b
    Example:
        warmup db migrate --db postgresql+psycopg://warmup@db.corp.example/warmup
        warmup db copy --to postgresql+psycopg://warmup@db.corp.example/warmup
    """


@db.command()
@db_option
@json_option
@click.pass_context
def migrate(ctx: click.Context, json_: bool) -> None:
    """Bring the ledger's schema up to date and print the migrations applied.

    Every command does this on first use; run it explicitly after an upgrade of warmup, e.g. once
    for a team's PostgreSQL ledger before the hosts pick up the new version.

    \b
    Example:
        warmup db migrate
        warmup db migrate --db postgresql+psycopg://warmup@db.corp.example/warmup
    """
    obj = ctx.find_root().ensure_object(dict)
    ledger = open_ledger(obj.get("db"), migrate=False)
    obj["ledger"] = ledger
    ctx.call_on_close(ledger.close)
    say_created(ledger)
    foreign = ledger.foreign_tables() if ledger.pending_migrations() else []
    if foreign:
        from warmup.errors import ConfigError

        raise ConfigError(
            f"ledger {ledger.where} holds another program's tables "
            f"({', '.join(foreign[:3])}) and no warmup schema; point --db/WARMUP_DB "
            f"at a new file (or an empty database) instead"
        )
    applied = ledger.migrate()
    if json_:
        print_json({"ledger": ledger.where, "applied": applied, "current": migration_names()})
    elif applied:
        # What this run applied, and all there are: racing runs said "29 migrations applied"
        # (the winner: one was applied before it) and "30 already applied" (the others).
        for name in applied:
            say(f"Applied {name}")
        say(
            f"Ledger {ledger.where} is up to date ({plural(len(applied), 'migration')} "
            f"applied now, {len(migration_names())} in all)."
        )
    else:
        say(
            f"Ledger {ledger.where} is up to date; nothing to apply "
            f"(all {plural(len(migration_names()), 'migration')} applied already)."
        )
    for warning in ledger.warnings:  # what the migrations want known, as every command says it
        click.echo(f"Warning: {warning}", err=True)


@db.command()
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL|PATH",
    callback=check_db,  # blank ("$TEAM_DB" unset) is refused, never the default ledger
    help="The target ledger (e.g. postgresql+psycopg://user@host/db); created and "
    "migrated if new, and it must be empty.",
)
@click.option("--force", is_flag=True, help="Replace the rows of a target that is not empty.")
@click.option(
    "--batch",
    default=ledger_copy.BATCH,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Rows per insert batch.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
@db_option
@json_option
@click.pass_context
def copy(ctx: click.Context, to: str, force: bool, batch: int, quiet: bool, json_: bool) -> None:
    """Copy the ledger to another database, ids included, and verify the copy.

    Copies every row of the ledger (--db / $WARMUP_DB) to the ledger --to. The way to move a solo user's SQLite ledger to the team's PostgreSQL server: the copy runs in
    one transaction on the target, then each table's rows are hashed on both sides (SHA-256 over
    the rows in id order, rendered the same way) and compared. A target that holds rows is
    refused (exit 78) unless --force. The source is only read.

    \b
    Example:
        warmup db copy --to postgresql+psycopg://warmup@db.corp.example/warmup
        warmup --db old.db db copy --to new.db --force
    """
    obj = ctx.find_root().ensure_object(dict)
    source = open_ledger(obj.get("db"), migrate=False, create=False)  # only read, never upgraded
    ctx.call_on_close(source.close)
    if source.pending_migrations():
        from warmup.errors import ConfigError

        foreign = source.foreign_tables()
        if foreign:  # not a warmup ledger at all: 'db migrate' would refuse it too
            raise ConfigError(
                f"{source.where} holds another program's tables ({', '.join(foreign[:3])}) and "
                f"no warmup schema: it is not a ledger to copy; point --db/WARMUP_DB at the "
                f"warmup ledger to copy"
            )
        pending = source.pending_migrations()  # (a blank one: refused by open_ledger, 66)
        # The command unquoted in the sentence: a quoted URL inside quotes could not be pasted.
        raise ConfigError(
            f"ledger {source.where} has an older schema ({len(pending)} migration(s) behind) and a "
            f"copy only reads it; upgrade it first, then copy: warmup db migrate --db "
            f"{shlex.quote(source.where)}"
        )
    try:
        # Before it is opened: the source's file under another name (a hard link) was opened
        # beside it, and its WAL left behind (an empty 'link.db-wal') when the copy was refused;
        # another ledger's, unless --force, written through that name without a word when empty.
        ledger_copy.refuse_same(source, resolve_url(to), force)
        target = open_ledger(resolve_url(to), migrate=False)
    except WarmupError as exc:  # the ledger layer names --db, the source's option: here it is --to
        raise _Retold(str(exc).replace("--db/WARMUP_DB", "--to"), exc.exit_code) from None
    ctx.call_on_close(target.close)
    from warmup.cli.progress import bars

    try:
        try:
            if not force:  # before the upgrade: a refused copy leaves an older target as it was
                ledger_copy.refuse_older_unless_empty(target)
            upgrade(target)
        except WarmupError as exc:
            raise _Retold(str(exc).replace("--db/WARMUP_DB", "--to"), exc.exit_code) from None
        copied: list[bool] = []
        try:
            with bars("rows", show=not (quiet or json_)) as update:
                report = ledger_copy.copy_ledger(
                    source,
                    target,
                    force=force,
                    batch=batch,
                    progress=lambda table, n, of: update(f"Copying {table}", n, of),
                    verifying=lambda: copied.append(True),
                )
        except KeyboardInterrupt as exc:
            if not copied:  # rolled back: the target holds nothing of it
                raise
            # Committed, not verified: "Aborted." alone read as nothing copied, and the next
            # copy refused the target as not empty.
            code = 128 + exc.signum if isinstance(exc, Stopped) else 130
            raise _Retold(
                f"db copy interrupted while the copy was verified: {target.where} holds the "
                f"whole copy of {source.where}, not verified; copy again with --force to copy "
                f"and verify it",
                code,
            ) from None
    except BaseException:
        target.discard_if_unused()  # a refused copy leaves no new empty ledger behind
        raise
    say_created(target)
    if json_:
        print_json(
            {
                "source": source.where,
                "target": target.where,
                "verified": True,
                "tables": [
                    {"table": c.table, "rows": c.target_rows, "sha256": c.target_sha256}
                    for c in report
                ],
            }
        )
        return
    print_table(
        ["TABLE", "ROWS", "SHA-256 (source = target)"],
        [[c.table, c.target_rows, c.target_sha256[:16]] for c in report],
    )
    total = sum(c.target_rows for c in report)
    say(
        f"Copied {total} rows from {source.where} to {target.where}; verified: row counts "
        f"and per-table checksums match on both sides."
    )


class _Retold(WarmupError):
    """A ledger error about the target, told with the option that named it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
