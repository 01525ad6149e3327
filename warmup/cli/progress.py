"""Progress bars for long work (import, ...), on a terminal only.

Without a terminal on stderr (a pipe, a log file, cron), with ``--quiet`` or ``TERM=dumb``
nothing is drawn: the command's one summary line is the whole output. rich is imported only
when a bar is drawn.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from warmup.cli.common import verbosity

Update = Callable[[str, int, "int | None"], None]


def _drawn() -> bool:
    return sys.stderr.isatty() and verbosity() >= 0 and os.environ.get("TERM") != "dumb"


def _nothing(description: str, done: int, total: int | None = None) -> None:
    pass


@contextmanager
def bars(unit: str, show: bool = True) -> Iterator[Update]:
    """``update(description, done, total)`` draws one bar per description (``total`` None:
    not known yet, a pulse and the count), with the count, ``unit``, elapsed time and ETA.
    ``show`` False: none (the command's own --quiet or --json)."""
    if not (show and _drawn()):
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True, no_color=bool(os.environ.get("NO_COLOR")))
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:

        def update(description: str, done: int, total: int | None = None) -> None:
            if description not in tasks:
                tasks[description] = progress.add_task(description, total=total)
            progress.update(tasks[description], completed=done, total=total)

        yield update
