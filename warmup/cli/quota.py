"""``warmup quota`` and ``warmup plan``: where mailboxes stand, and the ramp ahead."""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import click

from warmup import api
from warmup.cli import cli
from warmup.cli.common import (
    complete_mailbox,
    error_line,
    json_option,
    none_yet,
    pass_ledger,
    pass_reads,
    percent,
    print_json,
    print_table,
    typed_instant,
    verbosity,
)
from warmup.errors import ConfigError, UsageError
from warmup.instants import local_short
from warmup.ledger import Reads

if TYPE_CHECKING:
    from warmup.ledger import Ledger, MailboxRow
    from warmup.policy.plan import Plan
from warmup.words import plural, shown


def _when(ts: dt.datetime | None, tz: str, now: dt.datetime) -> str:
    """The next send, to the second rounded up, as the reasons say it: cut to the minute, a
    user who retried at the 14:47 shown for 14:47:22 was paced again. With its year when that
    is not the year of ``now`` (:func:`~warmup.instants.local_short`)."""
    if ts is None:
        return "-"
    if ts.microsecond:
        ts = ts.replace(microsecond=0) + dt.timedelta(seconds=1)
    return local_short(ts, tz, now, "%m-%d %H:%M:%S %Z")


def _one_blas_thread() -> None:
    """No thread pool for numpy's BLAS in this process, unless the user asked for one.

    Many mailboxes without walk memos are walked as arrays (numpy, imported by the ledger's
    read): OpenBLAS, which numpy's wheels carry, starts a thread per core as it loads, ~45 ms
    of CPU of a cold ``quota`` (1,000 mailboxes: ~7% of it), before the work is shared across
    the cores, for nothing: the command multiplies no matrices. Set in the command's own
    process only (it starts no program that would inherit it); a library caller's numpy is
    left as it is."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


@cli.command()
@click.argument("addresses", nargs=-1, shell_complete=complete_mailbox)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Evaluate as of this instant (ISO 8601; without an offset, the mailbox's local time); "
    "later history is ignored.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Print nothing (the table with --verbose, the JSON with --json); exit 75 if a named "
    "mailbox cannot send now.",
)
@json_option
@pass_reads
def quota(
    ledger: Reads, addresses: tuple[str, ...], at: str | None, check: bool, json_: bool
) -> int:
    """Today's quota, stage and status of mailboxes, with the reasons.

    \b
    Example:
        warmup quota sales@corp.example
        warmup quota --json
        warmup quota sales@corp.example --check && ./send-batch.sh
    """
    boxes = api.named_mailboxes(ledger, addresses) if addresses else ledger.mailboxes()
    when = typed_instant(at, boxes) if at is not None else api.live_now()
    if check and not addresses:
        raise UsageError("--check needs the mailbox address(es) to check")
    every = len(boxes)
    boxes, later = _added(ledger, boxes, when, at, addresses)
    _one_blas_thread()
    results, refusals = api.quotas_each(ledger, boxes, when, api.FORK_FROM)
    refusals = later + refusals
    if check and verbosity() <= 0 and not json_:  # a script's test: the exit code is the answer
        pass  # (--json asked for the answer too: 'quota X --check --json > state.json' was empty)
    elif json_:
        print_json([a.to_dict() for _, a in results])
    elif not results and refusals:
        pass
    elif not results:
        click.echo(none_yet(at if every else None))
    else:
        print_table(
            ["MAILBOX", "STAGE", "DAY", "QUOTA", "SENT", "LEFT", "STATUS", "NEXT SEND", "BOUNCES"],
            [
                [
                    a.mailbox,
                    a.stage,
                    a.day,
                    a.quota,
                    a.sent,
                    a.remaining,
                    a.status,
                    _when(a.next_send_at, b.timezone, when),
                    percent(a.bounce_rate),
                ]
                for b, a in results
            ],
            status_column="STATUS",
        )
        for _, a in results:
            # ledger text (a row any client of a team ledger wrote, a pause's reason): shown
            click.echo(f"\n{shown(a.mailbox)}:")
            for reason in a.reasons:
                click.echo(f"  - {shown(reason)}")
    # Every mailbox that can be answered is; each one that cannot says why, then the exit code
    # tells a script that something needs fixing (78 for a policy this warmup refuses).
    for refusal in refusals:
        click.echo(error_line(refusal.error), err=True)
    if refusals:
        return api.refusals_code(refusals)
    if check and any(not a.can_send for _, a in results):
        return 75
    return 0


def _added(
    ledger: Reads,
    boxes: list[MailboxRow],
    when: dt.datetime,
    at: str | None,
    named: tuple[str, ...],
) -> tuple[list[MailboxRow], list[api.Refusal]]:
    """The mailboxes of ``boxes`` already in the ledger ``--at`` ``when``, and a refusal for each
    one named that was not (:func:`warmup.api.added_by`, 65). Unnamed, one added later is left
    out: every mailbox as of then is every mailbox there was."""
    if at is None:
        return boxes, []
    kept, later = api.added_by(ledger, boxes, when, at)
    return kept, later if named else []


@cli.command()
@click.argument("addresses", nargs=-1, shell_complete=complete_mailbox)
@click.option(
    "--days",
    default=30,
    show_default=True,
    type=click.IntRange(1, 3650),
    help=f"How many days ahead (with --volume: look this far, default {api.VOLUME_HORIZON}).",
)
@click.option(
    "--volume",
    type=click.IntRange(1),
    metavar="N",
    help="On which day will N recipients have been sent across these mailboxes?",
)
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Plan as of this instant (ISO 8601; without an offset, the mailbox's local time).",
)
@json_option
@pass_ledger
def plan(
    ledger: Ledger,
    addresses: tuple[str, ...],
    days: int,
    volume: int | None,
    at: str | None,
    json_: bool,
) -> int:
    """Project each day's quota, and what the gate would let through, if the mailbox sends all
    it may, healthily.

    PLANNED is what goes out that day: the quota within the day's sending window at the
    policy's mean gap between sends, within the domain cap; 0 on public holidays and days the
    window does not open; today's includes what was already sent today. CUMULATIVE adds up what
    goes out from now on (today's sends so far left out, as --volume counts). NOTE says why
    PLANNED is below QUOTA. With --volume, exit 75 when it is not reached within the days
    looked at (the plan printed all the same). Every mailbox unless ADDRESSES are given.

    \b
    Example:
        warmup plan sales@corp.example --days 35
        warmup plan sales@corp.example bd@corp.example --volume 10000
        warmup plan --days 7
    """
    # Every mailbox unless named, as 'quota', 'report' and 'plot' answer without one: the rows
    # as read, never looked up again by their stored address (one a hand edit or another
    # version left malformed failed the lookup, and with it every other mailbox's plan).
    boxes = api.named_mailboxes(ledger, addresses) if addresses else ledger.mailboxes()
    if not addresses:
        if not boxes and volume is not None:
            # No mailbox reaches a volume, and waiting will not change that (75 said "try
            # later", and --json said nothing at all): a fault of the setup, told as one.
            raise ConfigError(
                f"no mailboxes to send {volume} recipients from; add one with "
                f"'warmup mailbox add ADDRESS --provider exmail'"
            )
        if not boxes and not json_:
            click.echo(
                "No mailboxes yet: add one with 'warmup mailbox add ADDRESS --provider exmail'."
            )
            return 0
    when = None
    later: list[api.Refusal] = []
    if at is not None:
        when = typed_instant(at, boxes)
        boxes, later = _added(ledger, boxes, when, at, addresses)
        if not boxes and not later:  # every mailbox added after --at, none named
            if volume is not None:
                raise ConfigError(f"no mailboxes as of --at {at} to send {volume} recipients from")
            if not json_:
                click.echo(none_yet(at))
                return 0
    # --days typed with --volume bounds the search ("within 60 days?"); else it goes far (a
    # config file's days is how many days a plan shows, not a question about the volume)
    given = click.get_current_context().get_parameter_source("days")
    source = click.core.ParameterSource
    within = days if given not in (source.DEFAULT, source.DEFAULT_MAP) else None
    result, refusals = api.plan_boxes(ledger, boxes, days, when, volume, within)
    # Every mailbox that can be planned is; each one that cannot says why (after the plan, as
    # 'quota' does), and the exit code tells a script that something needs fixing.
    refusals = later + refusals
    missed = _planned(result, volume, within, json_) if result.mailboxes or not refusals else 0
    for refusal in refusals:
        click.echo(error_line(refusal.error), err=True)
    return api.refusals_code(refusals) or missed


def _planned(result: Plan, volume: int | None, within: int | None, json_: bool) -> int:
    """Print ``warmup plan``'s answer; its exit code: 75 for a volume not reached."""
    # A volume not reached is the plan's answer, not a fault: printed whole, then exit 75
    # (EX_TEMPFAIL: not within these days), so 'plan --volume N --days 30 && launch' holds.
    missed = 75 if volume is not None and result.reached is None else 0
    if json_:
        print_json(result.to_dict())
        return missed
    several = len(result.mailboxes) > 1
    head = ["DATE", "DAY", "STAGE", "STATUS", "QUOTA", "PLANNED", "CUMULATIVE", "NOTE"]
    print_table(
        (["MAILBOX"] if several else []) + head,
        [
            ([m.mailbox] if several else [])
            + [d.date, d.day, d.stage, d.status, d.quota, d.planned, d.cumulative]
            + ["; ".join(d.notes) or "-"]
            for m in result.mailboxes
            for d in m.days
        ],
    )
    for m in result.mailboxes:
        for note in m.notes:
            click.echo(f"{m.mailbox}: {note}")
    if volume is None:
        return 0
    if result.reached:
        click.echo(
            f"{plural(volume, 'recipient')} reached on {result.reached} (day {result.reached_day} from "
            f"today) across {plural(len(result.mailboxes), 'mailbox', 'mailboxes')}."
        )
        return 0
    horizon = result.within or within or api.VOLUME_HORIZON
    line = (
        f"{plural(volume, 'recipient')} {'is' if volume == 1 else 'are'} not reached within {plural(horizon, 'day')} "
        f"({result.planned or 0} planned by then)"
    )
    if result.later is not None:
        line += f"; at this pace on {result.later[0]} (day {result.later[1]} from today)"
    elif horizon < api.VOLUME_HORIZON:
        line += f", nor within {api.VOLUME_HORIZON} days"
    click.echo(f"{line}.")
    return missed
