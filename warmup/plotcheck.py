"""What a plot is checked for before any work: where it goes and how many mailboxes it draws.

Light on purpose (no pandas, no matplotlib): ``warmup plot``, ``warmup demo`` and ``warmup
report`` refuse a bad ``--out`` or too many mailboxes in the time it takes to read the
arguments, not after the second or more that loading pandas and matplotlib takes.
:mod:`warmup.reports` and :mod:`warmup.plots` re-export these for scripts and notebooks.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from warmup.errors import DataError, InvalidField, UsageError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
# The rows one figure draws legibly: one per mailbox.
MAX_MAILBOXES = 12
WHERE = "give a file in a folder that exists and you may write to"


def check_count(n: int) -> None:
    """A figure has one row per mailbox: refuse none (:class:`DataError`) or more than
    :data:`MAX_MAILBOXES`, saying what to do (callers check before computing a report they
    could not draw)."""
    if n == 0:
        raise DataError(
            "nothing to plot: the ledger has no mailboxes yet; add one with "
            "'warmup mailbox add ADDRESS --provider exmail'"
        )
    if n > MAX_MAILBOXES:
        raise UsageError(
            f"{n} mailboxes: a figure shows at most {MAX_MAILBOXES} legibly; "
            f"name up to {MAX_MAILBOXES} of them (warmup plot ADDRESS ...)"
        )


def plot_folder(out: str, field: str = "out") -> Path | None:
    """The folder ``out`` names (an existing directory, or any name ending in ``/``), for
    :func:`warmup.reports.plot` to write its default file name in; None when ``out`` names a
    file. A name ending in ``/`` that is no folder is :class:`InvalidField` (``x.png/`` is not
    ``x.png``)."""
    if not out:  # Path("") is ".": an unset $OUT in --out "$OUT" wrote into the cwd
        raise InvalidField(
            field, "{field} is empty; give a .png, .svg or .pdf file name, or a folder"
        )
    path = Path(out)
    if _is_dir(path, out, field):
        return path
    if out.endswith(("/", os.sep)):
        code = errno.ENOTDIR if path.exists() else errno.ENOENT
        raise InvalidField(
            field,
            "{field} {out}: no such folder ({why}); give a folder that exists, or a file name",
            out=out,
            why=os.strerror(code),
        )
    return None


def check_plot_path(out: str | Path, field: str = "out") -> Path:
    """``out`` as a path :func:`warmup.reports.plot` can write, checked before any work: a
    ``.png``, ``.svg`` or ``.pdf`` name in a folder that exists (else :class:`InvalidField`
    naming ``field``)."""
    path = Path(out)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InvalidField(field, "{field} {out}: expected a .png, .svg or .pdf file name", out=out)
    folder = path.parent
    if not _is_dir(folder, out, field):
        code = errno.ENOTDIR if folder.exists() else errno.ENOENT
        raise InvalidField(
            field,
            "{field} {out}: cannot write it ({why}); " + WHERE,
            out=out,
            why=os.strerror(code),
        )
    return path


def _is_dir(path: Path, out: str | Path, field: str) -> bool:
    """Whether ``path`` is a folder; a name the system cannot even look up (ENAMETOOLONG: a
    name over 255 bytes, ELOOP) is :class:`InvalidField`, not the traceback of ``is_dir``,
    which answers False only for a name that is not there."""
    try:
        return path.is_dir()
    except OSError as exc:
        raise InvalidField(
            field,
            "{field} {out}: cannot use it ({why}); " + WHERE,
            out=str(out),
            why=exc.strerror or str(exc),
        ) from None
