"""Reading a user's small file (the config file, a policy) without hanging or reading without end."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path, PurePosixPath

from warmup.errors import ConfigError, MissingFile, UsageError
from warmup.words import byte_size


def missing_file(
    path: str | os.PathLike[str], label: str = "", exc: OSError | None = None
) -> MissingFile:
    """:class:`MissingFile` (exit 66) for the file ``path`` that a user gave to read and that is
    not there (``exc``: the failure that said so, :func:`missing`), in the one line every
    command says it with: ``label`` (``--csv``, ``policy file``) then the path, what failed
    and what to do; a relative path says where it was looked for (a command run from another
    folder than the file's is the usual cause)."""
    shown = os.fspath(path)
    why = (exc.strerror if exc is not None else None) or os.strerror(errno.ENOENT)
    fix = "check the path"
    if not os.path.isabs(shown):
        try:
            fix += f", relative to {os.getcwd()}"
        except OSError:  # the working directory was removed
            pass
    named = f"{label} {shown}" if label else shown
    error = MissingFile(f"{named}: cannot read it ({why}); {fix}")
    error.path = shown
    return error


def missing(exc: OSError) -> bool:
    """Whether a file given to read could not be because it is not there: no such name, or one
    under a file taken for a folder (:func:`missing_file`)."""
    return isinstance(exc, FileNotFoundError | NotADirectoryError)


def names_nothing(exc: OSError) -> bool:
    """Whether a file given to read could not be because its name names nothing: not there,
    under a file taken for a folder, or too long for the system (a usage error, 64), not a
    file that is there and fails (bad data, 65; the set-up, 78)."""
    unnamed = isinstance(exc, FileNotFoundError | NotADirectoryError)
    return unnamed or exc.errno == errno.ENAMETOOLONG


def home(path: str | Path, label: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; :class:`ConfigError` naming ``label``
    when there is no such user (``Path.expanduser`` raises RuntimeError: a traceback)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        user = str(path).split("/", 1)[0]
        raise ConfigError(
            f"{label} {str(path)!r}: {user!r} names no user of this machine; write the path "
            f"without it (e.g. ~/... or /home/...)"
        ) from None


def data_dir() -> Path:
    """warmup's data directory: ``$XDG_DATA_HOME/warmup`` (``~/.local/share/warmup``), where
    the default ledger and the OAuth refresh locks are. A relative ``$XDG_DATA_HOME`` is
    ignored, as the XDG spec and platformdirs say: it would make another one in every working
    directory. RuntimeError: no home directory."""
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "warmup"


def read_regular(path: str | Path, label: str, limit: int, hint: str, large: str = "") -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; else :class:`ConfigError`
    ``"{label}: not a regular file; {hint}"`` or ``"{label}: larger than {limit} bytes{large}"``.

    A named pipe is opened non-blocking (opening it would wait for a writer) and refused, and
    at most ``limit + 1`` bytes are read (``/dev/zero`` reads without end). An :class:`OSError`
    (missing, unreadable) is the caller's to word."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:  # before fdopen, which refuses a folder's fd with "[Errno 21] Is a directory: 3"
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        raise ConfigError(f"{label}: not a regular file; {hint}")
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ConfigError(f"{label}: larger than {byte_size(limit)}{large}")
    return data


class StandardInput(PurePosixPath):
    """A FILE given as ``-``: standard input. Errors name it "standard input", and
    :meth:`read_bytes` reads it, so code reading a file's bytes reads a pipe alike
    (``warmup import -``, ``bounces parse -``, ``queue add --csv -``)."""

    def __str__(self) -> str:
        return "standard input"

    @property
    def name(self) -> str:
        return str(self)

    def read_bytes(self, limit: int = -1) -> bytes:
        """Standard input to its end, or its first ``limit`` bytes. Closed (``<&-``, cron's or a daemon's child), Python has
        no ``sys.stdin``: :class:`UsageError` (64), as for a file that cannot be opened: the
        input was not given (a caller wording it as a file it read, 65 or 78, was another code
        for the same mistake)."""
        if sys.stdin is None:
            raise UsageError(
                "standard input: cannot read it (it is closed); pipe the data in, or give a file's path"
            )
        return sys.stdin.buffer.read(limit)


STANDARD_INPUT = StandardInput("-")


DataFile = Path | StandardInput  # a file of data a command reads: ``-`` is standard input


def read_head(path: DataFile, limit: int) -> bytes:
    """The bytes of ``path`` (a file, or standard input), at most ``limit + 1`` of them: a reader
    that holds the whole file tells one over ``limit`` by its length, without reading to the end
    of one that has none (``/dev/zero``, a binary log named by mistake)."""
    if isinstance(path, StandardInput):
        return path.read_bytes(limit + 1)
    with path.open("rb") as f:
        return f.read(limit + 1)


def data_path(text: str) -> DataFile:
    """The FILE a user gave: ``-`` is standard input (:data:`STANDARD_INPUT`), else a path."""
    return STANDARD_INPUT if text == "-" else Path(text)
