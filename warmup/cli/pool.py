"""``warmup pool ...``: groups of mailboxes a queued message may go out from."""

from __future__ import annotations

from typing import Any

import click

from warmup.cli import cli
from warmup.cli.common import json_option, pass_ledger, print_json, print_table
from warmup.ledger import Ledger, PoolRow
from warmup.words import plural


def pool_dict(pool: PoolRow) -> dict[str, Any]:
    return {
        "name": pool.name,
        "members": [m.address for m in pool.members],
        "reply_to": pool.reply_to,
        "created_at": pool.created_at.isoformat(),
    }


@cli.group()
def pool() -> None:
    """Pools of mailboxes: a message queued to a pool goes out from the member the plan allows
    soonest (a recipient already mailed from a member stays with it).

    \b
    Example:
        warmup pool add outreach sales@corp.example bd@corp.example
        warmup queue add --pool outreach --csv leads.csv --template intro.toml
    """


@pool.command("add")
@click.argument("name")
@click.argument("addresses", nargs=-1, required=True)
@click.option(
    "--reply-to/--no-reply-to",
    default=None,
    help="Set Reply-To to the sending member, as From is (default: yes).",
)
@pass_ledger
def add(ledger: Ledger, name: str, addresses: tuple[str, ...], reply_to: bool | None) -> None:
    """Create pool NAME with these mailboxes, or add them to it.

    \b
    Example:
        warmup pool add outreach sales@corp.example bd@corp.example
    """
    from warmup.instants import now_utc
    from warmup.outbox import check_name

    check_name(name, "name")
    got, new = ledger.add_pool(name, [a.strip().lower() for a in addresses], reply_to, now_utc())
    members = ", ".join(m.address for m in got.members)
    click.echo(
        f"Pool {got.name}: {plural(len(got.members), 'mailbox', 'mailboxes')} ({new} new): {members}."
    )


@pool.command("list")
@json_option
@pass_ledger
def list_(ledger: Ledger, json_: bool) -> None:
    """List pools and their mailboxes.

    \b
    Example:
        warmup pool list --json
    """
    pools = ledger.pools()
    if json_:
        print_json([pool_dict(p) for p in pools])
        return
    if not pools:
        click.echo("No pools; create one with 'warmup pool add NAME ADDRESS...'.")
        return
    print_table(
        ["POOL", "MAILBOXES", "REPLY-TO"],
        [
            [p.name, ", ".join(m.address for m in p.members), "yes" if p.reply_to else "no"]
            for p in pools
        ],
    )


@pool.command("show")
@click.argument("name")
@json_option
@pass_ledger
def show(ledger: Ledger, name: str, json_: bool) -> None:
    """Show a pool: its mailboxes and each one's quota now.

    \b
    Example:
        warmup pool show outreach
    """
    from warmup import api

    p = ledger.pool(name)
    now = api.now_utc()
    quotas = [api.quota_for(ledger, m, now) for m in p.members]
    if json_:
        print_json({**pool_dict(p), "quota": [a.to_dict() for a in quotas]})
        return
    click.echo(f"Pool {p.name} (Reply-To {'set to' if p.reply_to else 'not set to'} the member)")
    print_table(
        ["MAILBOX", "STATUS", "SENT", "QUOTA", "LEFT"],
        [[a.mailbox, a.status, a.sent, a.quota, a.remaining] for a in quotas],
    )


@pool.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Also cancel the messages queued to it.")
@pass_ledger
def remove(ledger: Ledger, name: str, force: bool) -> None:
    """Remove a pool (its mailboxes stay). Refused while messages are queued to it, unless
    --force, which cancels them.

    \b
    Example:
        warmup pool remove outreach --force
    """
    from warmup.instants import now_utc

    cancelled = ledger.remove_pool(name, force, now_utc())
    note = f"; cancelled {plural(cancelled, 'queued message')}" if cancelled else ""
    click.echo(f"Removed pool {name}{note}.")
