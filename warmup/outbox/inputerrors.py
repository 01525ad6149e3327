"""Every bad input of one ``queue add`` (``Outbox.add_many``) in one run: the rows of a CSV
that cannot be rendered or would not be accepted as messages, the ``.eml`` files that cannot be
read or sent. The first :data:`ROW_ERRORS` are named, one line each, the others counted; all or
nothing stays: with one of them, nothing is queued. One run used to stop at the first bad
message (too big once encoded, a NUL, no recipient): N bad files took N runs."""

from __future__ import annotations

import re

from warmup.errors import DataError

ROW_ERRORS = 20  # bad rows (messages) named in one run; the others counted
OTHER_WAYS = 5  # rows past those named, each wrong a way none of them is: named too

_SUFFIX = re.compile(r" \(nothing of the file was queued\)$")
_LINE = re.compile(r": line (\d+)(?=:|$)")
_PLACE = re.compile(r": line \d+: ")  # a row's place, before what its error says
_QUOTED = re.compile(r"'[^']*'")  # a row's own value in what its error says


class InputErrors(DataError):
    """Bad rows of the CSV ``path`` (None: bad messages), every one found: ``named`` the
    first :data:`ROW_ERRORS`, each naming its row (or file), ``count`` in all. One alone is
    its own line, as it always was; so are rows all wrong the ``same`` way (what each says
    past its place: a template's own fault, such as an attribute it may not read)."""

    def __init__(
        self,
        named: list[str],
        count: int,
        path: str | None = None,
        same: str | None = None,
        others: list[str] | None = None,
    ) -> None:
        self.named, self.count, self.path, self.same = named, count, path, same
        self.others = others or []  # rows past ``named`` wrong another way (:class:`Collector`)
        super().__init__(_text([*named, *self.others], count, path, same))


def _text(named: list[str], count: int, path: str | None, same: str | None = None) -> str:
    if count == 1:
        return named[0]
    if path is not None and same is not None:  # 20 lines saying one thing: said once
        more = f" and {count - len(named)} more" if count > len(named) else ""
        return (
            f"{path}: {count} rows are wrong, each the same way (lines "
            f"{_spans(sorted(_line(n) for n in named))}{more}): "
            f"{_SUFFIX.sub('', same).rstrip('.')}; nothing of the file was queued"
        )
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


def _spans(lines: list[int]) -> str:
    """``2-5, 9``: line numbers, each run of consecutive ones as its ends."""
    runs: list[list[int]] = []
    for n in lines:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


class Collector:
    """The bad inputs found so far (:meth:`add`, :meth:`merge`); :meth:`check` raises them."""

    def __init__(self) -> None:
        self.named: list[str] = []
        self.count = 0
        self.path: str | None = None
        self.same: str | None = None  # what every row's error says past its place, if one
        # Rows past the first ROW_ERRORS wrong a way none named is (a bad address after 20 blank
        # subjects): named too, or "and 11 more rows" hid the one mistake not yet seen.
        self.others: list[str] = []
        self.ways: set[str] = set()  # the ways the rows named are wrong (:func:`_way`)

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, text: str, path: str | None = None) -> None:
        self._says(_PLACE.split(text, maxsplit=1)[-1] if _PLACE.search(text) else None)
        self.count += 1
        self.path = self.path or path
        self._keep(text)

    def _keep(self, text: str) -> None:
        """Name ``text`` if fewer than :data:`ROW_ERRORS` are, or if it is a row wrong a way
        none named is (up to :data:`OTHER_WAYS` such)."""
        if len(self.others) >= OTHER_WAYS:  # and so the named are all there are: no cost
            return
        way = _way(text)
        if len(self.named) < ROW_ERRORS:
            self.named.append(text)
        elif way is not None and way not in self.ways:  # room left: the return above
            self.others.append(text)
        else:
            return
        if way is not None:
            self.ways.add(way)

    def merge(self, exc: DataError) -> None:
        """Another finder's errors (a CSV's rows that could not be rendered) with these, in
        the order of their rows."""
        if not isinstance(exc, InputErrors):
            self.add(str(exc))
            return
        self._says(exc.same)
        self.count += exc.count
        self.path = self.path or exc.path
        both = sorted([*self.named, *self.others, *exc.named, *exc.others], key=_line)
        self.named, self.others, self.ways = [], [], set()
        for text in both:
            self._keep(text)

    def _says(self, reason: str | None) -> None:
        """One more error saying ``reason`` (None: one not of a row, or rows saying several)."""
        self.same = reason if not self.count or self.same == reason else None

    def check(self) -> None:
        if self.count:
            raise InputErrors(self.named, self.count, self.path, self.same, self.others)


def _way(text: str) -> str | None:
    """How a row is wrong: what its error says past its place, its own values ('bad@') left
    out; None for an error that names no row."""
    parts = _PLACE.split(text, maxsplit=1)
    return _QUOTED.sub("''", _SUFFIX.sub("", parts[1])) if len(parts) == 2 else None


def _line(text: str) -> int:
    """The row a line names (a file-wide error: after every row)."""
    found = _LINE.search(text)
    return int(found[1]) if found else 1 << 62


def csv_path(where: str) -> str | None:
    """The CSV a rendered row's ``where`` ('leads.csv: line 3') names."""
    path, sep, _ = where.rpartition(": line ")
    return path if sep else None
