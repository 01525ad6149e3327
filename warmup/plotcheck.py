"""What a plot is checked for before any work: where it goes and how many mailboxes it draws.

Light on purpose (no pandas, no matplotlib): ``warmup plot``, ``warmup demo`` and ``warmup
report`` refuse a bad ``--out`` or too many mailboxes in the time it takes to read the
arguments, not after the second or more that loading pandas and matplotlib takes.
:mod:`warmup.reports` and :mod:`warmup.plots` re-export these for scripts and notebooks.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from warmup.errors import DataError, InvalidField, UnwritableField, UsageError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
# The rows one figure draws legibly: one per mailbox.
MAX_MAILBOXES = 12
WHERE = "give a file in a folder that exists and you may write to"
# A file that cannot take the bytes, wherever it is: no folder would help (exit 74, not 64).
WRITE_FAILED = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


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
    ``.png``, ``.svg`` or ``.pdf`` name in a folder that exists and takes it (else
    :class:`InvalidField` naming ``field``; :class:`UnwritableField` for a full disk)."""
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
    refused = _refusal(path)
    if refused is not None:
        why = refused.strerror or str(refused)
        if refused.errno in WRITE_FAILED:
            raise UnwritableField(field, "{field} {out}: cannot write it ({why})", out=out, why=why)
        raise InvalidField(
            field, "{field} {out}: cannot write it ({why}); " + WHERE, out=out, why=why
        )
    return path


def _refusal(path: Path) -> OSError | None:
    """Why ``path`` could not be written, found out before the work: a folder that exists but
    takes no new file (read-only, no permission, a pseudo file system such as ``/proc``, which
    even root cannot create in), a folder where the file should be, or a file that may not be
    written. A folder is asked by creating and removing an empty file in it, as the plot's own
    write would (``os.access`` says yes to root wherever the mode bits do); a file that exists
    is asked with ``os.access``, which also answers EROFS. None when it looks writable."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return exc
    if mode is not None:
        if stat.S_ISDIR(mode):
            return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        if os.access(path, os.W_OK):
            return None
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    try:
        fd, probe = tempfile.mkstemp(prefix=".warmup-probe-", dir=path.parent)
    except OSError as exc:
        return exc
    os.close(fd)
    os.unlink(probe)
    return None


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
