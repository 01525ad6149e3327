"""Every bad input of one ``queue add`` (``Outbox.add_many``) in one run: the rows of a CSV
that cannot be rendered or would not be accepted as messages, the ``.eml`` files that cannot be
read or sent. The first :data:`ROW_ERRORS` are named, one line each, the others counted; all or
nothing stays: with one of them, nothing is queued. One run used to stop at the first bad
message (too big once encoded, a NUL, no recipient): N bad files took N runs."""

from __future__ import annotations

import re

from warmup.errors import DataError

ROW_ERRORS = 20  # bad rows (messages) named in one run; the others counted

_SUFFIX = re.compile(r" \(nothing of the file was queued\)$")
_LINE = re.compile(r": line (\d+)(?=:|$)")


class InputErrors(DataError):
    """Bad rows of the CSV ``path`` (None: bad messages), every one found: ``named`` the
    first :data:`ROW_ERRORS`, each naming its row (or file), ``count`` in all. One alone is
    its own line, as it always was."""

    def __init__(self, named: list[str], count: int, path: str | None = None) -> None:
        self.named, self.count, self.path = named, count, path
        super().__init__(_text(named, count, path))


def _text(named: list[str], count: int, path: str | None) -> str:
    if count == 1:
        return named[0]
    what = "rows" if path is not None else "messages"
    more = f"\n  and {count - len(named)} more {what}" if count > len(named) else ""
    lines = "\n  ".join(_SUFFIX.sub("", b) for b in named)
    head = (
        f"{path}: {count} rows are wrong; nothing of the file was queued. Fix them and queue "
        f"it again:"
        if path is not None
        else f"{count} messages are wrong; nothing was queued. Fix them and queue them again:"
    )
    return f"{head}\n  {lines}{more}"


class Collector:
    """The bad inputs found so far (:meth:`add`, :meth:`merge`); :meth:`check` raises them."""

    def __init__(self) -> None:
        self.named: list[str] = []
        self.count = 0
        self.path: str | None = None

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, text: str, path: str | None = None) -> None:
        self.count += 1
        self.path = self.path or path
        if len(self.named) < ROW_ERRORS:
            self.named.append(text)

    def merge(self, exc: DataError) -> None:
        """Another finder's errors (a CSV's rows that could not be rendered) with these, in
        the order of their rows."""
        if not isinstance(exc, InputErrors):
            self.add(str(exc))
            return
        self.count += exc.count
        self.path = self.path or exc.path
        both = sorted([*self.named, *exc.named], key=_line)
        self.named = both[:ROW_ERRORS]

    def check(self) -> None:
        if self.count:
            raise InputErrors(self.named, self.count, self.path)


def _line(text: str) -> int:
    """The row a line names (a file-wide error: after every row)."""
    found = _LINE.search(text)
    return int(found[1]) if found else 1 << 62


def csv_path(where: str) -> str | None:
    """The CSV a rendered row's ``where`` ('leads.csv: line 3') names."""
    path, sep, _ = where.rpartition(": line ")
    return path if sep else None
