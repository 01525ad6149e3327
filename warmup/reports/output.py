"""The frames written out: as CSV or JSON text (:func:`to_text`, :func:`iter_text`, safe to
open in a spreadsheet) and as a figure file (:func:`plot`, written whole or not at all).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from warmup.errors import InvalidField, UnwritableField
from warmup.plotcheck import WHERE, WRITE_FAILED, check_plot_path
from warmup.plots import figure, wide_text
from warmup.words import spreadsheet_text


def to_text(frame: pd.DataFrame, fmt: str) -> str:
    """The daily frame as ``csv`` or ``json`` (records; dates ISO; rates as fractions), ending
    in a newline. In CSV, a text cell starting with ``=``, ``+``, ``-`` or ``@`` gets a leading
    apostrophe (a spreadsheet would run it as a formula), and a truth value is ``true`` or
    ``false`` (as in JSON, not Python's ``True``); JSON keeps the text as it is."""
    return "".join(iter_text(frame, fmt))


def iter_text(frame: pd.DataFrame, fmt: str, rows: int = 5_000) -> Iterator[str]:
    """:func:`to_text` in pieces of ``rows`` rows, for a caller that writes them as they come:
    a year of 1,000 mailboxes (365,000 rows) as one JSON text took 1.7 GB at its peak (a dict
    per row, then the whole text), three times what the report itself needs."""
    if fmt == "json" and frame.empty:
        yield "[]\n"
        return
    # without its attrs (each mailbox's thresholds): pandas deep-copies them at every step,
    # once per piece, which took longer than writing the rows
    frame = frame.copy(deep=False)  # the same columns, not copied
    frame.attrs = {}
    for k, start in enumerate(range(0, max(len(frame), 1), rows)):
        out = frame.iloc[start : start + rows].copy()
        if "date" in out:
            out["date"] = out["date"].dt.strftime("%Y-%m-%d")
        if fmt == "csv":
            for column in out.columns:
                if pd.api.types.is_bool_dtype(out[column]):  # true/false, as --json writes them
                    out[column] = out[column].map({True: "true", False: "false"})
                elif not pd.api.types.is_numeric_dtype(out[column]):
                    out[column] = out[column].map(spreadsheet_text)
            yield str(out.to_csv(index=False, header=k == 0))
            continue
        # A line of text like every other output (the shell's prompt does not follow a bare
        # "]"), laid out and with text as written, as print_json writes it, and rates exact
        # (pandas' to_json rounds floats to 10 digits, writes "key":value and escapes non-ASCII
        # text). Each piece is the list's items of its rows, without the list's brackets.
        records = out.astype(object).where(out.notna(), None).to_dict(orient="records")
        text = json.dumps(records, indent=2, ensure_ascii=False, default=_json_value)
        yield ("[\n" if k == 0 else ",\n") + text[2:-2]
    if fmt == "json":
        yield "\n]\n"


def _json_value(value: Any) -> Any:
    """A numpy scalar left in an object column, as the Python number or bool it holds."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


def plot(frame: pd.DataFrame, out: str | Path, field: str = "out") -> Path:
    """Draw :func:`warmup.plots.figure` and write it (PNG, SVG or PDF by the suffix); the path
    written. ``field`` names ``out`` in errors (the option it came from)."""
    path = check_plot_path(out, field)
    try:
        with wide_text():
            _save_whole(figure(frame), path)
    except OSError as exc:
        why = exc.strerror or str(exc)
        if exc.errno in WRITE_FAILED:
            raise UnwritableField(
                field, "{field} {out}: cannot write it ({why})", out=out, why=why
            ) from None
        raise InvalidField(
            field, "{field} {out}: cannot write it ({why}); " + WHERE, out=out, why=why
        ) from None
    return path


def _save_whole(fig: Any, path: Path) -> None:
    """Write ``fig`` to ``path`` whole or not at all.

    A regular file (or a new name) is written beside itself under a temporary name and renamed
    over it: a disk filling up midway leaves the plot that was there as it was (matplotlib wrote
    in place, leaving the head of the new one: a corrupt file where the old plot was), and no
    temporary file. A link to a file replaces the file it points to, keeping the link. Anything
    else (a device, a pipe), or a file in a folder that takes no new name, is written in place.
    A temporary file a plot killed midway left (SIGKILL, a power cut) is removed by the next
    plot of the same file (:func:`_clear_stale`).
    """
    target = path.resolve()
    try:
        mode: int | None = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    kind = path.suffix.lower().lstrip(".")
    if mode is not None and not stat.S_ISREG(mode):
        # Drawn whole in memory, then written: matplotlib's PNG writer seeks back in what it
        # writes, which a pipe (a FIFO a viewer reads, /dev/stdout into one) cannot, and the
        # plot failed once all its work was done ("File or stream is not seekable", 64).
        import io

        drawn = io.BytesIO()
        fig.savefig(drawn, dpi=110, format=kind)
        with open(path, "wb") as f:
            f.write(drawn.getbuffer())
        return
    _clear_stale(target)
    try:
        fd, temp = _temp_beside(target)
    except OSError as exc:
        if mode is None or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        fig.savefig(path, dpi=110, format=kind)  # a file you may write in a folder you may not
        return
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=110, format=kind)
            f.flush()  # a full disk fails here, before the rename, as the close did
            if mode is not None:
                os.chmod(temp, stat.S_IMODE(mode))
            # Renamed while still open: closed first, its lock dropped, another plot starting
            # then took it for a killed plot's and removed it (the rename failed).
            os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# The temporary names _temp_beside gives: ".trend.png.1a2b3c4d.tmp" beside trend.png.
_TEMP_TAIL = re.compile(r"\.[0-9a-f]{8}\.tmp")


def _temp_beside(target: Path) -> tuple[int, Path]:
    """A new file beside ``target`` (``.NAME.XXXXXXXX.tmp``, mode 0o666 less the umask, as the
    file written in place had), open for writing and locked (``flock``) for as long as this
    process holds it: a lock the kernel drops however the process ends, so that a file left
    unlocked is one whose writer is gone (:func:`_clear_stale`)."""
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            import fcntl
        except ImportError:  # no flock (Windows): nothing is cleared either
            return fd, temp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: written all the same, never cleared
            return fd, temp
        except BaseException:
            os.close(fd)
            temp.unlink(missing_ok=True)
            raise
        # Another plot may have found it unlocked, between the open and the lock, and removed
        # it as stale: then it is no longer this name's file, and another is made.
        if _same_file(temp, os.fstat(fd)):
            return fd, temp
        os.close(fd)


def _same_file(path: Path, held: os.stat_result) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _clear_stale(target: Path) -> None:
    """Remove the temporary files of ``target`` (:func:`_temp_beside`'s names, no other) that
    no process holds any more: a plot killed between writing and renaming left one beside the
    plot, hidden, the size of a plot, at every kill. One still locked is another plot being
    written now, and is left to it. Never fails: what cannot be cleared is left."""
    try:
        import fcntl
    except ImportError:
        return
    prefix = f".{target.name}"
    try:
        names = [
            e.name
            for e in os.scandir(target.parent)
            if e.name.startswith(prefix) and _TEMP_TAIL.fullmatch(e.name, len(prefix))
        ]
    except OSError:
        return
    for name in names:
        path = target.with_name(name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            held = os.fstat(fd)
            if not stat.S_ISREG(held.st_mode):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: being written
            if _same_file(path, held):
                path.unlink()
        except OSError:
            continue
        finally:
            os.close(fd)
