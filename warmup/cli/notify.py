"""``warmup notify ...``: where notifications of pauses, holds, finished campaigns go."""

from __future__ import annotations

import click

from warmup.cli import cli
from warmup.cli.common import json_option, pass_ledger, print_json, say
from warmup.errors import Unavailable
from warmup.ledger import Ledger


@cli.group()
def notify() -> None:
    """Notifications: a webhook (JSON POST) and/or a command (JSON on its standard input),
    told when a mailbox is paused (throttle reply, bounce rate, by hand), held or stepped back,
    a campaign finishes, or 'warmup run' stops with messages queued.

    \b
    Example:
        warmup notify set --webhook https://hooks.example.com/warmup
        warmup notify test
    """


@notify.command("set")
@click.option("--webhook", metavar="URL", help="POST each event here ('' forgets it).")
@click.option("--command", metavar="CMD", help="Run this with each event on stdin ('' forgets it).")
@pass_ledger(create=True)
def set_(ledger: Ledger, webhook: str | None, command: str | None) -> None:
    """Store where notifications go, in the ledger ($WARMUP_NOTIFY_WEBHOOK and
    $WARMUP_NOTIFY_COMMAND take precedence).

    \b
    Example:
        warmup notify set --webhook https://hooks.example.com/warmup
        warmup notify set --command "/usr/local/bin/page-oncall"
    """
    from warmup import notify as lib

    if webhook is None and command is None:
        raise click.UsageError("give --webhook URL and/or --command CMD")
    lib.configure(ledger, webhook, command)
    _show(lib.shown(lib.targets(ledger)), False)


@notify.command("show")
@json_option
@pass_ledger
def show(ledger: Ledger, json_: bool) -> None:
    """Where notifications go (the webhook's path and query, which may hold a token, masked).

    \b
    Example:
        warmup notify show
    """
    from warmup import notify as lib

    _show(lib.shown(lib.targets(ledger)), json_)


@notify.command("clear")
@pass_ledger
def clear(ledger: Ledger) -> None:
    """Forget the stored webhook and command.

    \b
    Example:
        warmup notify clear
    """
    from warmup import notify as lib

    lib.configure(ledger, clear=True)
    _show(lib.shown(lib.targets(ledger)), False)


@notify.command("test")
@pass_ledger
def test(ledger: Ledger) -> None:
    """Send a test event now and say whether it arrived (exit 69 if not).

    \b
    Example:
        warmup notify test
    """
    from warmup import notify as lib
    from warmup.instants import now_utc

    lib.check_targets(ledger)
    notifier = lib.notifier_for(ledger, log=lambda line: click.echo(line, err=True))
    if not notifier.active:
        raise Unavailable("no notification target; set one with 'warmup notify set --webhook URL'")
    with notifier:
        notifier.send(lib.event("test", None, now_utc(), "a test from 'warmup notify test'"))
    if notifier.failed or notifier.given_up:
        raise Unavailable("the test event was not delivered (see above)")
    say("Test event delivered.")


def _show(found: dict[str, str], json_: bool) -> None:
    if json_:
        print_json(found)
        return
    if not found:
        click.echo("Notifications: none (set one with 'warmup notify set --webhook URL').")
    for name in ("webhook", "command"):
        if name in found:
            click.echo(f"{name.capitalize()}: {found[name]}")
