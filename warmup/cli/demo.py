"""``warmup demo``: a guided tour on a throw-away ledger."""

from __future__ import annotations

import os
import shlex
import stat
import tempfile
from pathlib import Path

import click

from warmup import api
from warmup.cli import cli
from warmup.cli.common import percent, print_table, typed_wins
from warmup.errors import UsageError
from warmup.ledger import open_ledger


@cli.command()
@click.option(
    "--days",
    default=40,
    show_default=True,
    type=click.IntRange(1, 365),
    help="How many days of history to simulate.",
)
@click.option(
    "--plot",
    "plot_to",
    metavar="FILE|DIR",
    help="Write the plot here: .png, .svg or .pdf, or a folder to write warmup-demo.png in "
    "(default: warmup-demo.png in a folder of yours, warmup-UID, in the system's temporary "
    "directory).",
)
@click.option("--no-plot", is_flag=True, help="Skip the plot (and pandas/matplotlib).")
def demo(days: int, plot_to: str | None, no_plot: bool) -> None:
    """Simulate an exmail mailbox's first weeks on a throw-away ledger; show today and the plan.

    Nothing touches your own ledger, and nothing is written to the current directory: the
    simulated ledger is deleted at the end, and the plot of the simulated mailbox goes to the
    system's temporary directory (its path is printed last) unless --plot says where.

    \b
    Example:
        warmup demo
        warmup demo --days 90 --plot ~/warmup-demo.png
    """
    from warmup.demo import describe, simulate

    if no_plot and plot_to is not None:
        dropped = typed_wins("no_plot", "plot_to")  # a default in the config file yields
        if not dropped:
            raise UsageError(
                f"give --plot {shlex.quote(plot_to)} or --no-plot, not both: --plot draws the "
                "plot there, --no-plot skips it"
            )
        plot_to, no_plot = (None, True) if "plot_to" in dropped else (plot_to, False)
    # No folder made for a plot that is not drawn: --no-plot left a fresh one at every run
    # when warmup-UID was taken.
    target = None
    if not no_plot:  # a path the plot cannot go to is refused before the simulation
        from warmup.plotcheck import check_plot_path, plot_folder  # light: loads no pandas

        # as 'warmup plot --out': a folder gets the default name ('--plot ~/Desktop' was
        # refused by click as a directory, with no word of what to give), and an empty one
        # (an unset $OUT) is named as empty, not as '.'
        folder = None if plot_to is None else plot_folder(plot_to, "plot_to")
        if plot_to is None or folder is not None:
            target = (folder or _own_temp()) / "warmup-demo.png"
        else:
            target = Path(plot_to)
        check_plot_path(target, "plot_to")
    with tempfile.TemporaryDirectory(prefix="warmup-demo-") as tmp:
        ledger = open_ledger(str(Path(tmp) / "demo.db"))
        click.echo(describe(days))
        from warmup.cli.progress import bars

        with bars("days") as update:
            box, log = simulate(ledger, days, progress=lambda k, of: update("Simulating", k, of))
        print_table(
            ["DATE", "DAY", "STAGE", "QUOTA", "SENT", "BOUNCED", "7-DAY RATE", "STATUS"],
            [
                [d, a.day, a.stage, a.quota, a.remaining, b, percent(a.bounce_rate), status]
                for d, a, b, status in log
            ],
            status_column="STATUS",
        )
        now = api.now_utc()
        a = api.quota_for(ledger, box, now)
        click.echo(
            f"\nToday, {box.address}: stage {a.stage}, warm-up day {a.day}, quota {a.quota}, "
            f"sent {a.sent}, remaining {a.remaining}, status {a.status}"
        )
        for reason in a.reasons:
            click.echo(f"  - {reason}")
        click.echo("\nPlan ahead (if it sends its full quota healthily):")
        rows = api.plan(ledger, box.address, 14, now)
        print_table(
            ["DATE", "DAY", "STAGE", "QUOTA", "CUMULATIVE"],
            [[r.date, r.day, r.stage, r.quota, r.cumulative] for r in rows],
        )
        if target is None:
            ledger.close()
            return
        from warmup import reports  # pandas/matplotlib: only when plotting, never on quota's path

        path = reports.plot(reports.daily(ledger, [box.address], at=now), target, "plot_to")
        ledger.close()
    click.echo("\nSends vs quota, bounce rate vs thresholds and stages, plotted to:")
    click.echo(str(path))


def _own_temp() -> Path:
    """A folder in the temporary directory only this user can write: ``warmup-UID`` (mode
    0700), or a fresh one when that name is taken by anything else. The plot went to
    ``$TMPDIR/warmup-demo.png``, a name any user of the host could plant first: a link there to
    root's ``~/.bashrc`` had ``sudo warmup demo`` write a PNG over it."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = Path(tempfile.gettempdir()) / (f"warmup-{uid}" if uid is not None else "warmup")
    try:
        base.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return base  # the plot's own check says why the folder cannot be written
    try:
        st = base.lstat()
    except OSError:
        return base
    # Windows has no owner or mode bits here (its temporary directory is the user's own)
    private = uid is None or (not st.st_mode & 0o077 and st.st_uid == uid)
    if not stat.S_ISDIR(st.st_mode) or not private:
        return Path(tempfile.mkdtemp(prefix="warmup-demo-"))
    return base
