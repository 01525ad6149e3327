"""``warmup record send|bounce`` and ``warmup import``: history made outside the gate."""

from __future__ import annotations

import click

from warmup import api
from warmup.cli import cli
from warmup.cli.common import pass_ledger
from warmup.ledger import Ledger


@cli.group()
def record() -> None:
    """Record sends and bounces made outside 'warmup send'.

    \b
    Example:
        warmup record send sales@corp.example --to lead@example.com
        warmup record bounce sales@corp.example --to gone@example.com --kind hard
    """


@record.command("send")
@click.argument("address")
@click.option("--to", "to", multiple=True, required=True, metavar="RCPT",
              help="Recipient (repeatable); each counts one against the quota.")
@click.option("--at", "at", metavar="DATETIME", help="When it was sent (ISO 8601; default now).")
@click.option("--message-id", metavar="ID", help="Message-ID, for matching bounces later.")
@pass_ledger
def record_send(ledger: Ledger, address: str, to: tuple[str, ...], at: str | None,
                message_id: str | None) -> None:
    """Record a message ADDRESS sent to one or more recipients.

    \b
    Example:
        warmup record send sales@corp.example --to lead@example.com
    """
    n = api.record_send(ledger, address, list(to), api.parse_instant(at) if at is not None else None,
                        message_id)
    click.echo(f"Recorded {n} send(s) for {address.lower()}"
               + ("" if n == len(to) else f" ({len(to) - n} already recorded)") + ".")


@record.command("bounce")
@click.argument("address")
@click.option("--to", "to", required=True, metavar="RCPT", help="The recipient that bounced.")
@click.option("--kind", default="hard", show_default=True,
              type=click.Choice(["hard", "soft", "block", "complaint"]))
@click.option("--status", metavar="X.Y.Z", help="Enhanced status code, e.g. 5.1.1.")
@click.option("--at", "at", metavar="DATETIME", help="When it bounced (ISO 8601; default now).")
@pass_ledger
def record_bounce(ledger: Ledger, address: str, to: str, kind: str, status: str | None,
                  at: str | None) -> None:
    """Record a bounce (hard bounces and complaints also suppress the recipient).

    \b
    Example:
        warmup record bounce sales@corp.example --to gone@example.com --kind hard --status 5.1.1
    """
    new = api.record_bounce(ledger, address, to, kind, status,
                            api.parse_instant(at) if at is not None else None)
    click.echo(f"Recorded a {kind} bounce for {to.lower()}." if new else "Already recorded.")


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@pass_ledger
def import_(ledger: Ledger, file: str) -> None:
    """Import sends (and bounces) from an earlier sending log (CSV), in one transaction.

    Header: mailbox,recipient,sent_at and optionally
    message_id,bounce_kind,bounce_status,bounced_at (times ISO 8601 with an offset),
    provider,timezone (register a mailbox the ledger does not know yet) and
    event,reason (event=pause|resume: a pause or resume at sent_at; recipient empty).
    Importing the same file again adds nothing.

    \b
    Example:
        warmup import sent-log.csv
    """
    r = api.import_csv(ledger, file)
    extra = (f" Registered {r.mailboxes} new mailbox(es) and {r.events} pause/resume event(s)."
             if r.mailboxes or r.events else "")
    click.echo(f"Imported {r.sends} new send(s) and {r.bounces} new bounce(s) from {file}.{extra}")
