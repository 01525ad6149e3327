"""The ``warmup`` command line: thin click commands over :mod:`warmup.api`.

Errors follow sysexits (DESIGN.md): a :class:`~warmup.errors.WarmupError` prints one line
``Error: ...`` and exits with its code; click usage errors exit 64. No traceback for user errors.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from warmup.errors import WarmupError


class WarmupGroup(click.Group):
    """Maps library errors and click usage errors to one line and a sysexits code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except click.UsageError as exc:
            exc.show()
            sys.exit(64)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except WarmupError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(0)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=WarmupGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="warmup")
@click.option("--db", "db", metavar="URL|PATH", envvar="WARMUP_DB",
              help="Ledger: a SQLite file path or SQLAlchemy URL (default: $WARMUP_DB or "
                   "~/.local/share/warmup/ledger.db).")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """Plan and enforce the send-rate warm-up of business mailboxes.

    \b
    Example:
        warmup mailbox add sales@corp.example --provider exmail
        warmup quota sales@corp.example
        warmup plan sales@corp.example --days 30
    """
    ctx.ensure_object(dict)
    ctx.obj.setdefault("db", db)


def main() -> None:
    cli(prog_name="warmup")


from warmup.cli import mailbox, quota, record, providers, demo, send, sendmail, bounces, report, doctor, db  # noqa: F401
