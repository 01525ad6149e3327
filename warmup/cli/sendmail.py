"""``warmup sendmail``: a sendmail-compatible entry point to the gate."""

from __future__ import annotations

import sys

import click

from warmup.cli import cli
from warmup.cli.common import ledger_from
from warmup.cli.send import _send_one
from warmup.errors import UsageError


@cli.command("sendmail", context_settings={"ignore_unknown_options": True})
@click.option("-t", "from_headers", is_flag=True, help="Read recipients from the headers.")
@click.option("-i", "ignore_dots", is_flag=True, help="Ignore lone dots (always on).")
@click.option("-f", "sender", metavar="FROM", help="Envelope sender: the mailbox.")
@click.option("-o", "options", multiple=True, hidden=True)
@click.argument("recipients", nargs=-1)
@click.pass_context
def sendmail(ctx: click.Context, from_headers: bool, ignore_dots: bool, sender: str | None,
             options: tuple[str, ...], recipients: tuple[str, ...]) -> int:
    """sendmail-compatible: gate and send the message on standard input.

    The mailbox is -f, else the From header, else $WARMUP_MAILBOX. Exit codes as sendmail
    (sysexits): 75 when the plan says later, 65 for suppressed recipients.

    \b
    Example:
        printf 'Subject: hi\\n\\nhello\\n' | warmup sendmail -f sales@corp.example lead@example.com
    """
    import email
    import email.policy
    import email.utils
    import os

    from warmup.gate import Gate

    raw = sys.stdin.buffer.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    mailbox = (sender or email.utils.parseaddr(str(msg.get("From", "")))[1]
               or os.environ.get("WARMUP_MAILBOX", ""))
    if not mailbox:
        raise UsageError("no mailbox: give -f ADDRESS, a From header, or $WARMUP_MAILBOX")
    rcpts = list(recipients)
    if from_headers or not rcpts:
        from warmup.gate import recipients_of

        rcpts += recipients_of(msg)  # type: ignore[arg-type]
    if not rcpts:
        raise UsageError("no recipients: give them as arguments or use -t")
    with Gate(mailbox, ledger=ledger_from(ctx)) as gate:
        return _send_one(gate, msg, rcpts, wait=False, dry_run=False)  # type: ignore[arg-type]
