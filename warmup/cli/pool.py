"""``warmup pool ...``: groups of mailboxes a queued message may go out from."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from warmup.cli import cli
from warmup.cli.common import (
    complete_pool,
    from_config_file,
    json_option,
    pass_ledger,
    print_json,
    print_table,
    read_password,
    say,
)
from warmup.errors import UsageError
from warmup.ledger import PoolRow
from warmup.providers import SECURITIES
from warmup.words import plural

if TYPE_CHECKING:
    from warmup.ledger import Ledger


def pool_dict(pool: PoolRow) -> dict[str, Any]:
    ov = pool.overflow
    return {
        "name": pool.name,
        "members": [m.address for m in pool.members],
        "reply_to": pool.reply_to,
        "created_at": pool.created_at.isoformat(),
        "overflow": {"host": ov.host, "port": ov.port, "security": ov.security, "user": ov.user}
        if ov
        else None,
    }


def overflow_text(pool: PoolRow) -> str:
    """The pool's overflow channel in a few words (never its password)."""
    ov = pool.overflow
    if ov is None:
        return "none"
    user = f", user {ov.user}" if ov.user else ", no login"
    return f"{ov.host}:{ov.port} ({ov.security}{user})"


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
    got, new, was = ledger.add_pool(
        name, [a.strip().lower() for a in addresses], reply_to, now_utc()
    )
    members = ", ".join(m.address for m in got.members)
    say(
        f"Pool {got.name}: {plural(len(got.members), 'mailbox', 'mailboxes')} ({new} new): {members}."
    )
    if was is not None:  # the setting changed: said, as 'pool overflow' says its channel's
        now = "now" if got.reply_to else "no longer"
        say(
            f"Pool {got.name}: Reply-To is {now} set to the sending member (it was{'' if was else ' not'})."
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
        ["POOL", "MAILBOXES", "REPLY-TO", "OVERFLOW"],
        [
            [
                p.name,
                ", ".join(m.address for m in p.members),
                "yes" if p.reply_to else "no",
                overflow_text(p),
            ]
            for p in pools
        ],
    )


@pool.command("show")
@click.argument("name", shell_complete=complete_pool)
@json_option
@pass_ledger
def show(ledger: Ledger, name: str, json_: bool) -> int:
    """Show a pool: its mailboxes and each one's quota now.

    \b
    Example:
        warmup pool show outreach
    """
    from warmup import api

    p = ledger.pool(name)
    # a member whose policy or provider preset this warmup does not know hides no other
    answers, refusals = api.quotas_each(ledger, p.members, api.live_now())
    quotas = [a for _, a in answers]
    if json_:
        print_json({**pool_dict(p), "quota": [a.to_dict() for a in quotas]})
    else:
        reply_to = "set to" if p.reply_to else "not set to"
        click.echo(f"Pool {p.name} (Reply-To {reply_to} the member)")
        click.echo(f"Overflow channel for bulk messages: {overflow_text(p)}")
        print_table(
            ["MAILBOX", "STATUS", "SENT", "QUOTA", "LEFT"],
            [[a.mailbox, a.status, a.sent, a.quota, a.remaining] for a in quotas],
        )
    for refusal in refusals:
        click.echo(f"Error: {refusal.error}", err=True)
    return api.refusals_code(refusals)


@pool.command("overflow")
@click.argument("name", shell_complete=complete_pool)
@click.option("--host", help="The ESP relay's SMTP host.")
@click.option("--port", type=int, help="Its port (default: 465 for ssl, 587 for starttls).")
@click.option(
    "--security",
    type=click.Choice(SECURITIES, case_sensitive=False),
    help="ssl (default), starttls, or none (only for a loopback host).",
)
@click.option("--user", help="Login name; its password is then read like 'mailbox login' does.")
@click.option("--off", is_flag=True, help="Remove the pool's overflow channel.")
@pass_ledger
def overflow(
    ledger: Ledger,
    name: str,
    host: str | None,
    port: int | None,
    security: str | None,
    user: str | None,
    off: bool,
) -> None:
    """Give pool NAME an overflow SMTP channel (an ESP relay) for its bulk messages
    ('queue add --bulk'): used only once every member's quota of the day is used; its sends
    never count as warm-up volume. With --user, the password is read from the terminal without
    echo (or one line of standard input) into the system keyring, never the ledger or argv;
    with WARMUP_OVERFLOW_PASSWORD set, nothing is read or stored (the worker reads it there).

    \b
    Example:
        warmup pool overflow outreach --host smtp.esp.example --security starttls --user api
        warmup pool overflow outreach --off
    """
    from warmup import credentials
    from warmup.outbox import overflow as channel

    channel_given = {
        n
        for n, v in (("host", host), ("port", port), ("security", security), ("user", user))
        if v is not None and v != ""
    }
    if off and channel_given:
        # a default in the config file ([commands."pool overflow"]) yields to a flag typed
        filed = {n for n in channel_given if from_config_file(n)}
        if filed == channel_given and not from_config_file("off"):
            host = port = security = user = None
        elif not filed and from_config_file("off"):
            off = False
        else:
            raise UsageError("--off takes no --host, --port, --security or --user")
    if off:
        got = channel.turn_off(ledger, name)
        say(f"Pool {got.name}: no overflow channel; its bulk messages wait for the members.")
        return
    if not host:
        raise UsageError("give --host HOST (or --off to remove the overflow channel)")
    found = ledger.pool(name)
    channel.check(host, port, security, user)
    # The worker takes the password from the environment first: set there (a server without
    # a keyring), nothing is read or stored, and the channel can still be configured.
    from_env = bool(user and os.environ.get(channel.PASSWORD_ENV))
    if from_env:  # refused here, not at the first bulk message's send, hours later
        credentials.usable(os.environ[channel.PASSWORD_ENV], channel.PASSWORD_ENV)
    if user and not from_env:
        prompt = f"Password of {user} on {host}"
        secret = read_password(prompt)
        where = credentials.store_password(
            channel.keyring_user(found.name),
            secret,
            fix=f"nothing stored: set {channel.PASSWORD_ENV} in the environment of 'warmup "
            f"run' (and of this command, which then stores nothing)",
        )
    got = channel.configure(ledger, found.name, host, port, security, user)
    stored = (
        f"; password from {channel.PASSWORD_ENV}, nothing stored"
        if from_env
        else f"; password stored in the keyring {where}"
        if user
        else ""
    )
    say(f"Pool {got.name}: overflow channel {overflow_text(got)}{stored}.")


@pool.command("remove")
@click.argument("name", shell_complete=complete_pool)
@click.argument("addresses", nargs=-1)
@click.option(
    "--force",
    is_flag=True,
    help="Also cancel the messages queued to it (with ADDRESSES: take out its last members "
    "even while messages wait for them).",
)
@pass_ledger
def remove(ledger: Ledger, name: str, addresses: tuple[str, ...], force: bool) -> None:
    """Remove a pool (its mailboxes stay). Refused while messages are queued to it, unless
    --force, which cancels them. With ADDRESSES: take those mailboxes out of the pool instead
    (the pool, the mailboxes and their history stay; its queued messages go from the others).

    \b
    Example:
        warmup pool remove outreach --force
        warmup pool remove outreach bd@corp.example
    """
    from warmup.instants import now_utc

    if addresses:
        got = ledger.remove_members(name, addresses, force)
        members = ", ".join(m.address for m in got.members) or "none"
        say(f"Pool {got.name}: {plural(len(got.members), 'mailbox', 'mailboxes')}: {members}.")
        return
    cancelled = ledger.remove_pool(name, force, now_utc())
    note = f"; cancelled {plural(cancelled, 'queued message')}" if cancelled else ""
    say(f"Removed pool {name}{note}.")
