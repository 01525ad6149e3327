"""The addresses a file lists to suppress (``warmup suppress add --from FILE``), read as a stream.

A list may hold four million addresses (100 MB): read whole, its bytes, its text, its lines and
its addresses were each held at once (1.6 GB). It is read a line at a time instead, each address
checked as it comes (:func:`exact_address`) and handed on, so that the ledger stages it
(:meth:`warmup.ledger.Ledger.suppress_many`) before anything is kept. What it refuses, and in
which order, is what the whole read refused: a file over the limit before bytes that are no
UTF-8, those before a row's bad address, and a quote never closed before a bad address above it
(the reader goes on to the end after a bad row, unchecked, to find them).
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Generator, Iterator
from pathlib import PurePath
from typing import BinaryIO

from warmup import addresses
from warmup.errors import DataError, UsageError
from warmup.fields import unreadable
from warmup.files import StandardInput
from warmup.words import byte_size, from_spreadsheet_text

SUPPRESS_FILE_LIMIT = 100_000_000  # bytes: some four million addresses

_WILDCARD = re.compile(r"[*%?]")


def exact_address(address: str, *, limits: bool = True) -> str:
    """``address`` normalized, or :class:`DataError` when it is a pattern.

    '*', '%' and '?' are atext to RFC 5322, so '*@example.org' is a valid address: kept as that
    one, it left the user believing a whole domain suppressed while it went on being mailed.
    ``limits``: as :func:`warmup.addresses.normalize` takes it (False: any address the ledger
    may hold, as a bounce or a sending log's recipient).
    """
    try:
        clean = addresses.normalize(address, limits=limits)
    except DataError:
        if not _WILDCARD.search(address):
            raise
        clean = address.strip()
    if _WILDCARD.search(clean):
        raise DataError(
            f"{clean!r} looks like a pattern: warmup suppresses exact addresses, not wildcards "
            "or domains; list each address to suppress"
        )
    return clean


def addresses_in(path: PurePath) -> Iterator[str]:
    """The addresses the file at ``path`` lists (a :class:`~warmup.files.StandardInput`:
    standard input), normalized, in order, each checked as :func:`exact_address` checks it:
    one a line (blank lines and ``#`` comments skipped), or a CSV export (``,``, ``;`` or tab;
    Excel's ``sep=;`` line above the header says which) whose header names its column of
    addresses (:data:`warmup.addresses.ADDRESS_COLUMNS`). A line that is no address refuses the
    file, naming the line (:class:`DataError`, raised once the file is read to its end: a
    consumer keeps nothing it was given before)."""
    stdin = isinstance(path, StandardInput)
    if stdin and sys.stdin is None:
        raise UsageError(  # as a file that cannot be opened is (64)
            f"{path}: cannot read it (it is closed); pipe the list in, or give its path"
        )
    try:
        handle: BinaryIO = sys.stdin.buffer if stdin else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise unreadable(path, exc) from None
    try:
        if not stdin and os.fstat(handle.fileno()).st_size > SUPPRESS_FILE_LIMIT:
            raise _too_large(path)  # a regular file says its size: not one byte read
        lines = _lines(handle, path)
        try:
            found = yield from _listed_addresses(lines, path)
        except DataError:
            for _ in lines:  # a larger file, or bytes no UTF-8 further on, is said first
                pass
            raise
        if not found:
            raise DataError(
                f"{path}: no addresses in it; give one a line, or a CSV with an 'email' column"
            )
    finally:
        if not stdin:
            handle.close()


def _too_large(path: PurePath) -> DataError:
    # read whole, '--from /dev/zero' (or a multi-gigabyte log named by mistake) took all
    # memory until the kernel killed warmup: a traceback or nothing at all
    return DataError(
        f"{path}: larger than {byte_size(SUPPRESS_FILE_LIMIT)}; a list of addresses is "
        f"smaller: split it into several files"
    )


def _lines(handle: BinaryIO, path: PurePath) -> Iterator[str]:
    """The file's lines as the csv module counts them (``\\n``, ``\\r\\n``, ``\\r``; not
    splitlines' ``\\v``, ``\\f`` or U+2028), each with its end (a quoted cell may hold line
    breaks, which the reader must see), a BOM dropped. Past :data:`SUPPRESS_FILE_LIMIT` bytes,
    or at bytes that are no UTF-8 (named by the count of ``\\n`` before them), :class:`DataError`;
    the size first, as when the file was read whole."""
    size, number = 0, 0
    try:
        while raw := handle.readline(SUPPRESS_FILE_LIMIT + 1 - size):  # bounded: /dev/zero
            size += len(raw)
            if size > SUPPRESS_FILE_LIMIT:
                raise _too_large(path)
            number += 1
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                from warmup.words import not_utf8

                bad = raw + handle.read(4096)  # what not_utf8 looks at
                size += len(bad) - len(raw)
                while size <= SUPPRESS_FILE_LIMIT and (
                    more := handle.read(min(1 << 20, SUPPRESS_FILE_LIMIT + 1 - size))
                ):
                    size += len(more)
                if size > SUPPRESS_FILE_LIMIT:
                    raise _too_large(path) from None
                raise DataError(f"{path}: line {number}: {not_utf8(bad)}") from None
            if "\r" in text.rstrip("\r\n") or text.endswith("\r"):
                yield from io.StringIO(text, newline="").readlines()
            else:
                yield text
    except OSError as exc:
        raise unreadable(path, exc) from None


def _listed(line: str) -> bool:
    """Whether a line of a list to suppress says something: not blank, no ``#`` comment."""
    return bool(line.strip()) and not line.lstrip().startswith("#")


def _listed_addresses(lines: Iterator[str], path: PurePath) -> Generator[str, None, int]:
    """The addresses of ``lines`` (:func:`addresses_in`), checked; returns how many. After a
    bad row the rest is read unchecked (a quote never closed, a larger file or bytes that are
    no UTF-8 further on are said first, as when the file was read whole), then the bad row's
    :class:`DataError` is raised."""
    ahead: list[str] = []  # the lines read to find the header: blank lines, comments, sep=

    def listed_from(start: int) -> int | None:
        at = start
        while True:
            while at >= len(ahead):
                line = next(lines, None)
                if line is None:
                    return None
                ahead.append(line)
            if _listed(ahead[at].rstrip("\r\n")):
                return at
            at += 1

    at = listed_from(0) or 0
    first = ahead[at].rstrip("\r\n") if ahead else ""
    hint = addresses.SEP_LINE.fullmatch(first)
    if hint:  # Excel's 'sep=;' above the header: "no column of addresses among 'sep=', ''"
        ahead[at] = ""
        header = listed_from(at + 1)
        first = "" if header is None else ahead[header].rstrip("\r\n")
        at = at if header is None else header
    rows: Iterator[tuple[int, str, str]]
    if first and (hint or any(sep in first for sep in ",;\t")):
        delimiter = hint[1] if hint else addresses.delimiter(first)
        rows = _csv_rows(_chained(ahead, lines, at), at, delimiter, path)
    else:
        rows = _plain_rows(_chained(ahead, lines, 0))
    refused: DataError | None = None
    found = 0
    for n, address, column in rows:
        if refused is not None:
            continue  # read to the end, unchecked
        if column and not address.strip():  # a CSV row (a contact) without an address
            refused = DataError(
                f"{path}: line {n}: its {column!r} cell is empty; fill it in, or remove the line"
            )
            continue
        try:
            # Every address the ledger may hold: 'suppress list --csv' exports a bounce's
            # recipient with 65 characters before its '@' (as sent, as the DSN named it), and
            # the file it wrote was refused whole when read back into another ledger.
            clean = exact_address(address, limits=False)
        except DataError as exc:  # a list of them is no "malformed" address: one a line
            exc = addresses.several_in_one(address, "address", "line") or exc
            refused = DataError(f"{path}: line {n}: {exc}")
            continue
        found += 1
        yield clean
    if refused is not None:
        raise refused
    return found


def _chained(ahead: list[str], lines: Iterator[str], start: int) -> Iterator[str]:
    """The lines read ahead from ``start`` on, then the rest."""
    yield from ahead[start:]
    ahead.clear()
    yield from lines


def _plain_rows(lines: Iterator[str]) -> Iterator[tuple[int, str, str]]:
    """``(line number, address, "")`` of a list of one address a line; a one-column CSV's
    header (``email``) is no address."""
    first, header = True, None
    for n, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not _listed(text):
            continue
        cell = _unquoted(text)
        name = _header_cell(cell)
        if first and name in addresses.ADDRESS_COLUMNS:
            first, header = False, name
            continue
        first = False
        if name == header:  # the header again: two lists joined (cat a.csv b.csv), each its BOM
            continue
        yield n, cell, ""


def _header_cell(cell: str) -> str:
    """A cell as a header names its column: a second file's BOM (``cat a.csv b.csv``), white
    space and letter case aside."""
    return cell.strip().lstrip("\ufeff").strip().lower()


def _csv_rows(
    lines: Iterator[str], at: int, delimiter: str, path: PurePath
) -> Iterator[tuple[int, str, str]]:
    """``(line number a row starts on, its address cell, the column's name)`` of a CSV export
    whose header is the first of ``lines``, line ``at + 1`` of the file."""
    taken: list[str] = []  # the lines of the row being read: a quote never closed is its tail

    def tracked() -> Iterator[str]:
        for line in lines:
            taken.append(line)
            yield line

    reader = csv.reader(tracked(), delimiter=delimiter)
    start = at + 1
    try:
        names = [c.strip().lower() for c in next(reader)]
        column = addresses.address_column(names)
        if column is None:
            raise DataError(
                f"{path}: line {at + 1}: no column of addresses among "
                f"{', '.join(map(repr, names))}; name it 'email' (or give one address a line)"
            )
        if names.count(names[column]) > 1:  # only the first was read: the others' not suppressed
            raise DataError(
                f"{path}: line {at + 1}: column {names[column]!r} appears twice in the header; "
                f"keep one, or give each column of addresses a list of its own"
            )
        name = names[column]
        start = at + reader.line_num + 1  # the line a row starts on, as 'import' names it
        last, tail = start, ""  # the last row's first line, and its lines if it spans several
        while True:
            taken.clear()
            fields = next(reader, None)
            if fields is None:
                break
            cells = [_header_cell(f) for f in fields]
            while cells and not cells[-1]:
                cells.pop()
            if cells == [n for n in names if n] or cells == names:
                pass  # the header again: two exports joined (cat a.csv b.csv), each its BOM
            elif "".join(fields).strip():
                cell = fields[column] if column < len(fields) else ""
                yield start, from_spreadsheet_text(cell), name
            spans = any("\n" in f or "\r" in f for f in fields)
            tail = "".join(taken) if spans else ""
            start, last = at + reader.line_num + 1, start
    except csv.Error as exc:  # a cell over the csv module's limit: a quote never closed, often
        raise DataError(
            f"{path}: line {start}: {exc}; close the quote that line opens, or shorten the cell"
        ) from None
    if tail:  # a quote never closed takes the rest of the file: only the last row can
        addresses.check_tail_closed(tail, last, delimiter, path)


def _unquoted(cell: str) -> str:
    """A one-column export's cell without the quotes a CSV writer put around it ('"a@x.org"',
    csv.QUOTE_ALL); an address whose own name is quoted ('"a b"@x.org') is left as it is."""
    text = cell.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return next(csv.reader([text]))[0]
    return cell
