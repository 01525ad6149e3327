"""A raw message's header section read the way the most lenient mail server would read it.

Python's parser stops the header section at the first line that is not ``Name: value``: a
``From : ceo@corp.example`` (RFC 5322's obsolete syntax allows white space before the colon)
is not a header to it, yet upstream servers take it as one. The relay, which forwards the
client's bytes unchanged, reads headers with :func:`fields` instead: any of CRLF, LF or CR
ends a line (as :func:`warmup.smtp.dot_stuff` will send them), and a line that is neither
``Name: value`` nor a continuation, or has white space before its colon, is refused rather
than guessed at. :func:`without` reads as leniently but never refuses: ``Bcc :`` is a Bcc.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from warmup.errors import DataError

# The lines a server will see: dot_stuff turns each of these into CRLF.
EOL = re.compile(rb"\r\n|\n|\r")


# RFC 5322 field name (printable ASCII but the colon), then obs-FWS before the colon.
_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")


BLIND_FIELDS = ("bcc", "resent-bcc")
# Left out on the wire, as Postfix's message_drop_headers does by default: the blind fields;
# Return-Path, which the delivering server writes from the envelope (a script's own one named
# an address the bounces never go to, beside the server's); a Content-Length, stale once the
# message is made 7-bit or its lines' ends change.
DROPPED_FIELDS = (*BLIND_FIELDS, "return-path", "content-length")


class MalformedHeader(DataError):
    """A header line that is neither ``Name: value`` nor a continuation (exit 65)."""


class Field(NamedTuple):
    """One header field: its lower-case name, unfolded value and ``raw[start:end]`` span."""

    name: str
    value: str
    start: int
    end: int


def _lines(raw: bytes) -> Iterator[tuple[int, int, int]]:
    """(start, end of its text, end with its line break) for each line of ``raw``."""
    pos = 0
    while pos < len(raw):
        m = EOL.search(raw, pos)
        stop, after = (m.start(), m.end()) if m else (len(raw), len(raw))
        yield pos, stop, after
        pos = after


def _header_lines(raw: bytes) -> Iterable[tuple[int, int, int]]:
    """:func:`_lines` up to the first empty line (at least): in one split when every line
    break before it is a CRLF, as they are in what an SMTP client writes."""
    end = raw.find(b"\r\n\r\n") + 2
    if end < 2 or raw[:2] == b"\r\n":
        return _lines(raw)
    head = raw[:end]
    crlf = head.count(b"\r\n")
    if head.count(b"\r") != crlf or head.count(b"\n") != crlf:
        return _lines(raw)
    out = []
    start = 0
    for line in head.split(b"\r\n"):  # the last is the empty line
        stop = start + len(line)
        out.append((start, stop, stop + 2))
        start = stop + 2
    return out


def fields(raw: bytes) -> tuple[list[Field], int]:
    """The header fields of ``raw`` and the offset of the empty line that ends them (or its
    length); :class:`MalformedHeader` naming the first line that is not a header."""
    found: list[tuple[str, int, int, list[bytes]]] = []
    for number, (start, stop, after) in enumerate(_header_lines(raw), 1):
        line = raw[start:stop]
        if not line:
            return _fields(found), start
        if line[:1] in (b" ", b"\t"):
            if not found:
                raise MalformedHeader(
                    "the message's first line begins with white space: it "
                    "is not a header; start the message with 'Name: value' "
                    "headers"
                )
            name, first, _, parts = found[-1]
            found[-1] = (name, first, after, [*parts, line])
            continue
        m = _NAME.match(line)
        if not m:
            raise MalformedHeader(
                f"header line {number} is not 'Name: value' ({quoted_start(line)}); "
                f"fix the message's headers (an empty line must separate "
                f"them from the body)"
            )
        if m.end() - 1 > len(m.group(1)):
            # Obsolete syntax: mail software disagrees on whether it is a header at all.
            raise MalformedHeader(
                f"header line {number} has white space before its colon "
                f"({quoted_start(line)}); write '{m.group(1).decode()}:'"
            )
        found.append((m.group(1).decode().lower(), start, after, [line[m.end() :]]))
    return _fields(found), len(raw)


def body_only(raw: bytes) -> bool:
    """Whether ``raw`` is body text with no header section, as sendmail and Postfix read a
    message whose first line is not a header (``echo done | sendmail admin@...``): it starts
    with text, and no line before its first empty line looks like a header (``Name:``, white
    space before the colon too). A header-like line after a stray first line is not body: it
    stays :class:`MalformedHeader` (a ``Bcc:`` there would reach every recipient)."""
    for start, stop, _ in _lines(raw):
        line = raw[start:stop]
        if not line:
            return start > 0
        if _NAME.match(line):
            return False
    return bool(raw)


# An mbox "From_" line (``From sender@x Tue Dec  1 10:00:00 2026``): the envelope of a stored
# message, not a header. sendmail and Postfix's sendmail drop it when it comes first.
_FROM_LINE = re.compile(
    rb"From \S+ +[A-Za-z]{3} [A-Za-z]{3} +\d{1,2} \d\d?:\d\d[^\r\n]*(?:\r\n|\n|\r)?"
)


def without_from_line(raw: bytes) -> bytes:
    """The message without a first mbox ``From_`` line: Python's parser sets it aside, but
    :func:`fields` reads it as a malformed header."""
    match = _FROM_LINE.match(raw)
    return raw[match.end() :] if match else raw


# CRs just before a line's CRLF: a CRLF text written again in text mode (Windows), or given to
# a client that makes every LF a CRLF (s-nail attaching an .eml). Each of those CRs is a line
# break of its own to Python's parser and as DATA carries it: an empty line that ended the header
# at its first field, and the Bcc went to every recipient as body text.
_STRAY_CR = re.compile(rb"\r+(?=\r\n)")


def without_stray_cr(raw: bytes) -> bytes:
    """``raw`` with its lines ending CR CR LF (or more CRs) ending CR LF, as the text meant."""
    return _STRAY_CR.sub(b"", raw) if b"\r\r\n" in raw else raw


def line_start(line: bytes) -> str:
    r"""The first 40 octets of ``line``, printable, for an error message to quote: UTF-8 text
    as it is (a backslash too); an octet that is not UTF-8 as ``\xNN``, a control or format
    character as ``\xNN``/``\uNNNN``. Escaped once: quoted through repr() too, a backslash
    was shown doubled, and every octet past ASCII as ``\\ufffd``, naming neither what was sent
    nor the fault."""
    text = line[:40].decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def quoted_start(line: bytes) -> str:
    """:func:`line_start` in single quotes, for a message to quote."""
    return f"'{line_start(line)}'"


def _fields(found: list[tuple[str, int, int, list[bytes]]]) -> list[Field]:
    return [
        Field(name, b"".join(parts).decode("utf-8", "replace").strip(), start, end)
        for name, start, end, parts in found
    ]


_MENTIONS: dict[tuple[str, ...], re.Pattern[bytes]] = {}


def _mentions(raw: bytes, names: tuple[str, ...]) -> bool:
    """Whether any of ``names`` occurs in ``raw`` at all, in any case (a field needs its name)."""
    pattern = _MENTIONS.get(names)
    if pattern is None:
        pattern = re.compile(b"|".join(re.escape(n.encode()) for n in names), re.IGNORECASE)
        _MENTIONS[names] = pattern
    return pattern.search(raw) is not None


def without(raw: bytes, names: tuple[str, ...] = BLIND_FIELDS) -> bytes:
    """``raw`` minus the header fields called ``names`` (with their continuation lines).

    Tolerant, for the last step before the wire: a malformed line is kept and reading goes on
    to the first empty line, so no server that reads further than Python could find them.
    """
    if not _mentions(raw, names):  # the usual message: no Bcc anywhere, nothing to read
        return raw
    out: list[bytes] = []
    skipping = False
    for start, stop, after in _lines(raw):
        line = raw[start:stop]
        if not line:
            out.append(raw[start:])
            break
        if line[:1] not in (b" ", b"\t"):
            m = _NAME.match(line)
            skipping = m is not None and m.group(1).decode().lower() in names
        if not skipping:
            out.append(raw[start:after])
    return b"".join(out)
