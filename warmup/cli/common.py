"""Options and output helpers shared by every command."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

from warmup.ledger import Ledger, open_ledger

F = TypeVar("F", bound=Callable[..., Any])


def _store_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["db"] = value


def db_option(fn: F) -> F:
    """``--db`` on the command itself (it also works before the command name)."""
    return click.option(
        "--db",
        metavar="URL|PATH",
        expose_value=False,
        callback=_store_db,
        is_eager=True,
        help="Ledger URL or SQLite path (overrides $WARMUP_DB).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "json_", is_flag=True, help="Print JSON.")(fn)


def ledger_from(ctx: click.Context) -> Ledger:
    """The ledger for this invocation, opened once."""
    obj = ctx.find_root().ensure_object(dict)
    if "ledger" not in obj:
        obj["ledger"] = open_ledger(obj.get("db"))
        ctx.call_on_close(obj["ledger"].close)
        for warning in obj["ledger"].warnings:
            click.echo(f"Warning: {warning}", err=True)
    return obj["ledger"]


def pass_ledger(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(ledger_from(click.get_current_context()), *args, **kwargs)

    # Typed as the command itself so that click's decorators stack; the wrapper supplies the ledger.
    return cast(F, db_option(wrapper))


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def percent(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"
