"""``warmup report`` and ``warmup plot``: the day-by-day record of mailboxes, as text or a figure.

pandas and matplotlib are imported inside the commands (through :mod:`warmup.reports`), never at
module import: every command module is imported by ``warmup quota``, which must stay light.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from warmup import api
from warmup.cli import cli
from warmup.cli.common import (
    complete_mailbox,
    error_line,
    json_option,
    none_yet,
    pass_ledger,
    percent,
    print_json,
    print_table,
    stream_table,
    typed_instant,
    typed_wins,
)
from warmup.errors import DataError, UsageError
from warmup.ledger import local_day
from warmup.plotcheck import check_count, check_plot_path, plot_folder

if TYPE_CHECKING:
    from warmup.ledger import Ledger, MailboxRow

_ADDRESSES = click.argument(
    "addresses", nargs=-1, metavar="[ADDRESS]...", shell_complete=complete_mailbox
)
_DAYS = click.option(
    "--days",
    type=click.IntRange(1, 3660),
    metavar="N",
    help="Only the last N local days (default: since each mailbox's first send).",
)
_AT = click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Report as of this instant (ISO 8601; without an offset, the mailboxes' local time; "
    "default now).",
)


def _rate(value: Any) -> float | None:
    """A trailing-window rate from the frame; NaN (too few sends to judge) is None."""
    return None if value != value else value


@cli.command()
@_ADDRESSES
@_DAYS
@_AT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"], case_sensitive=False),
    default="table",
    show_default=True,
    help="Output format (csv and json give exact rates).",
)
@click.option("--json", "json_", is_flag=True, help="Print JSON (the same as --format json).")
@click.option(
    "--by-reason",
    is_flag=True,
    help="Instead of the days: the period's bounces per mailbox by reason (user unknown, "
    "mailbox full, blocked, ...).",
)
@pass_ledger
def report(
    ledger: Ledger,
    addresses: tuple[str, ...],
    days: int | None,
    at: str | None,
    fmt: str,
    json_: bool,
    by_reason: bool,
) -> int:
    """Per mailbox and local day: sends, quota, bounces, trailing bounce rate, stage, status.

    Quota, stage and status are the policy's own verdict for each day (the walk 'warmup quota'
    replays); the bounce rate is the trailing window the policy judged the day on. All mailboxes
    unless ADDRESSes are given.

    \b
    Example:
        warmup report
        warmup report sales@corp.example --days 30
        warmup report --format csv > report.csv
        warmup report sales@corp.example --json
        warmup report --by-reason --days 30
    """
    # a typed '--format table' disagrees with --json as csv does; the default gives way to it
    typed = click.get_current_context().get_parameter_source("fmt")
    if json_ and (fmt != "json" and (fmt != "table" or typed is ParameterSource.COMMANDLINE)):
        dropped = typed_wins("json_", "fmt")  # a default in the config file yields to a flag
        if not dropped:
            raise UsageError(f"--json and --format {fmt} disagree: give one of them")
        json_ = "json_" not in dropped
    if json_:
        fmt = "json"
    # Everything the user may have got wrong is refused before pandas loads (a second or more).
    every = _scope(ledger, addresses)
    when = None if at is None else typed_instant(at, every)
    boxes, later = _added(ledger, every, when, at, addresses)
    if later and not boxes:
        return _refused(later)
    if by_reason:
        # a stored zone unknown here: its days cannot be told, the others' can
        boxes, unzoned = api.zoned(boxes)
        if not boxes and fmt == "table":  # no mailbox (as of --at): not "no bounces"
            if not unzoned:
                click.echo(none_yet(at if every else None))
            return _refused(later + unzoned)
        from warmup import reports

        frame = reports.bounces_by_reason(ledger, days=days, at=when, boxes=boxes)
        _by_reason(frame, fmt)
        return _refused(later + unzoned)
    # one mailbox on a policy this warmup refuses hides no other
    _, good, refusals = api.askable(ledger, boxes)
    refusals = later + refusals
    if refusals and not good:
        return _refused(refusals)
    from warmup import reports

    frame = reports.daily(ledger, days=days, at=when, boxes=good)
    if fmt != "table":
        for piece in reports.iter_text(frame, fmt):
            click.echo(piece, nl=False)
        return _refused(refusals)
    if frame.empty:
        click.echo(none_yet(at if every else None))
        return 0
    # A page of the frame's rows at a time, read twice (the widths, then the lines): the
    # cells of every row at once were most of a long report's memory (36,000 days: +30 MiB).
    stream_table(
        [
            "MAILBOX",
            "DATE",
            "DAY",
            "STAGE",
            "QUOTA",
            "SENT",
            "HARD",
            "SOFT",
            "BLOCK",
            "COMPL",
            "RATE",
            "STATUS",
        ],
        lambda: _pages(frame),
        _distinct(frame),
    )
    return _refused(refusals)


def _distinct(frame: Any) -> list[list[Any]]:
    """Each column's distinct values as :func:`_pages` shows them (a column's width is its
    widest): a few thousand, not a second pass over every row (which took 1.5x the CPU)."""
    return [
        [f"{d:%Y-%m-%d}" for d in frame[field].drop_duplicates()]
        if field == "date"
        else [percent(_rate(v)) for v in frame[field].drop_duplicates()]
        if field == "bounce_rate"
        else list(frame[field].drop_duplicates())
        for field in _FIELDS
    ]


_FIELDS = [
    "mailbox",
    "date",
    "warmup_day",
    "stage",
    "quota",
    "sent",
    "hard",
    "soft",
    "block",
    "complaints",
    "bounce_rate",
    "status",
]


def _pages(frame: Any, rows: int = 1_000) -> Iterator[list[list[Any]]]:
    """The report's lines of ``frame``, ``rows`` at a time (one pass of ``itertuples``)."""
    lines = (
        [
            r.mailbox,
            f"{r.date:%Y-%m-%d}",
            r.warmup_day,
            r.stage,
            r.quota,
            r.sent,
            r.hard,
            r.soft,
            r.block,
            r.complaints,
            percent(_rate(r.bounce_rate)),
            r.status,
        ]
        for r in frame.itertuples()
    )
    while page := list(islice(lines, rows)):
        yield page


def _scope(ledger: Ledger, addresses: tuple[str, ...]) -> list[MailboxRow]:
    """The mailboxes named (an unknown one refused), or all of them."""
    return api.named_mailboxes(ledger, addresses) if addresses else ledger.mailboxes()


def _added(
    ledger: Ledger,
    boxes: list[MailboxRow],
    when: dt.datetime | None,
    at: str | None,
    named: tuple[str, ...],
) -> tuple[list[MailboxRow], list[api.Refusal]]:
    """The mailboxes of ``boxes`` in the ledger by ``--at`` (``when``), and a refusal for each
    one named that was not (:func:`warmup.api.added_by`, 65); unnamed, one added later is left
    out, as ``quota --at`` leaves it. A report over days before a mailbox was added is fine
    (they had no sends); a report as of an instant before it would judge a day it did not
    exist."""
    if when is None:
        return boxes, []
    kept, later = api.added_by(ledger, boxes, when, at)
    return kept, later if named else []


def _refused(refusals: list[api.Refusal]) -> int:
    """One line on stderr per mailbox left out; the exit code (0 when none was)."""
    for refusal in refusals:
        click.echo(error_line(refusal.error), err=True)
    return api.refusals_code(refusals)


def _counted_text(counted: bool, kind: str, matched: bool) -> str:
    if counted:
        return "yes"
    if kind == "delayed":
        return "no (delay warning)"
    if kind == "notice":
        return "no (feedback, no complaint)"
    return "no (repeats a counted bounce of its send)" if matched else "no (unmatched)"


def _by_reason(frame: Any, fmt: str) -> None:
    from warmup import reports

    summary = reports.reasons_summary(frame)
    if fmt != "table":
        for piece in reports.iter_text(summary, fmt):
            click.echo(piece, nl=False)
        return
    if summary.empty:
        click.echo("No bounces in this period.")
        return
    print_table(
        ["MAILBOX", "REASON", "KIND", "BOUNCES", "COUNTED"],
        [
            [
                r.mailbox,
                r.reason,
                r.kind,
                r.bounces,
                _counted_text(bool(r.counted), str(r.kind), bool(r.matched)),
            ]
            for r in summary.itertuples()
        ],
    )


@cli.command()
@_ADDRESSES
@_DAYS
@_AT
@click.option(
    "--out",
    "out",
    metavar="FILE|DIR",
    help="Where to write it: .png, .svg or .pdf, or a folder to write warmup-plot-DATE.png in "
    "(default: ./warmup-plot-DATE.png).",
)
@json_option
@pass_ledger
def plot(
    ledger: Ledger,
    addresses: tuple[str, ...],
    days: int | None,
    at: str | None,
    out: str | None,
    json_: bool,
) -> int:
    """Draw sends vs quota, bounce rate vs thresholds and stage bands per mailbox; print the path.

    One row of three panels per mailbox (1 to 12, on one time axis): daily sends (bars) against
    the quota (step line; idle days leave a gap, days over quota are marked); the trailing bounce
    rate against the policy's hold, step-back and pause thresholds, on one scale for all; stage
    bands with the warm-up day. Paused days are hatched.

    \b
    Example:
        warmup plot
        warmup plot sales@corp.example --days 60 --out trend.png
    """
    # Everything the user may have got wrong is refused before pandas and matplotlib load.
    folder = plot_folder(out) if out is not None else Path.cwd()
    if (
        out is not None and folder is None
    ):  # a name it cannot write is told before the report is built
        check_plot_path(out)
    # one mailbox on a policy this warmup refuses hides no other
    _, every, refusals = api.askable(ledger, _scope(ledger, addresses))
    typed = None if at is None else typed_instant(at, every)
    boxes, later = _added(ledger, every, typed, at, addresses)
    refusals = later + refusals
    if refusals and not boxes:
        return _refused(refusals)
    if every and not boxes:
        raise DataError(f"nothing to plot as of --at {at}: each mailbox was added after that day")
    check_count(len(boxes))
    when = typed or api.live_now()
    from warmup import reports

    frame = reports.daily(ledger, days=days, at=when, boxes=boxes)
    # named for the last local day drawn (the mailboxes' day, not UTC's: 07:00 in Shanghai is
    # yesterday in UTC)
    day = max((local_day(when, b.timezone) for b in boxes), default=when.date())
    path = folder / f"warmup-plot-{day:%Y%m%d}.png" if folder else Path(str(out))
    written = reports.plot(frame, path).resolve()
    if json_:
        print_json(
            {
                "path": str(written),
                "mailboxes": sorted(set(frame["mailbox"])),
                "days": len(set(frame["date"])),
            }
        )
    else:
        click.echo(str(written))
    return _refused(refusals)
