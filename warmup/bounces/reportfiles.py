"""``warmup bounces parse``'s reading of report files: each file (or standard input) read as a
regular file, at most :data:`~warmup.bounces.message.MAX_INPUT` bytes of it, an mbox refused,
and its bounces as JSON objects (:func:`parse_report`).
"""

from __future__ import annotations

import os
import re
import stat

from .message import MAX_INPUT, read_up_to
from .parse import capped, parse_bounces
from .record import Bounce

__all__ = ["EMPTY", "parse_report"]

# The ``error`` of an input that holds nothing (an empty file, /dev/null, empty standard input):
# bad data (65), where the others are inputs that could not be read (64).
EMPTY = "empty"


def parse_report(paths: list[str], steps: bool = False) -> list[dict]:
    """Parse files for ``warmup bounces parse --json``: one object per file.

    Each bounce carries its ``reason`` and the ``rule`` that decided it, ``delayed`` (a delay
    warning: not a failure, recorded but never counted) and ``original_recipient`` (the address
    mailed, when the report names a forwarded-to one); ``steps=True`` adds the decision path
    (``--explain``).

    A file that cannot be read, or is no regular file (a named pipe would wait for a writer
    for ever, ``/dev/zero`` never ends), has no bounces and an ``error`` saying why, and so has
    one that holds nothing (:data:`EMPTY`: an empty file, ``/dev/null``, standard input); of a
    regular file only what the parser reads (:data:`MAX_INPUT` bytes) is read. A report that
    lists more than :data:`~warmup.bounces.record.MAX_RECIPIENTS` failed recipients has the
    first ones and ``"capped": true``. One longer than what is read (in bytes, in lines, or
    past the parser's multipart bound: :func:`~warmup.bounces.message.read_up_to`) whose first
    part names no failed recipient has ``"partial": true``, ``"size"`` (its bytes, None for
    standard input, not read to its end) and ``"cut"`` (the bound), as a sync lists such a report (a sync then asks the server
    for its parts; a file has none to ask for).
    """
    out: list[dict] = []
    for path in paths:
        raw, error, size = _read_file(path)
        order = (
            "recipient",
            "kind",
            "reason",
            "rule",
            "status",
            "reply",
            "message_id",
            "delayed",
            "original_recipient",
            "original_from",
            "original_date",
        )
        found, cut = capped(parse_bounces(raw))
        bounces = [
            {**{k: getattr(b, k) for k in order}, "diagnostic": b.diagnostic}
            | ({"redacted": True} if b.redacted else {})
            | ({"steps": [*b.steps, _returned_step(b)]} if steps else {})
            for b in found
        ]
        out.append(
            {"file": path, "bounces": bounces}
            | ({"error": error} if error else {})
            | ({"capped": True} if cut else {})
            | (
                {"partial": True, "size": size, "cut": cut_at}
                if not any(b.recipient for b in found) and (cut_at := _cut_at(raw, size))
                else {}
            )
        )
    return out


def _cut_at(raw: bytes, size: int | None) -> str | None:
    """Which bound the parser stopped the file at (:func:`~warmup.bounces.message.read_up_to`),
    ``"bytes"`` too for one longer than was read; None: read whole."""
    if size is None or size > len(raw):
        return "bytes"
    return read_up_to(raw)


def _returned_step(b: Bounce) -> str:
    """What a sync checks a report against before it counts, as a step of ``--explain``."""
    if not (b.original_from or b.original_date):
        return "no returned original's From or Date: a sync matches it by " + (
            "Message-ID" if b.message_id else "recipient and time alone"
        )
    # The Date is checked only where no send's own Message-ID decides (Matching._match).
    near = (
        " (or one sent without any, made near that Date)"
        if b.message_id
        else ", made near that Date"
    )
    said = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("From", b.original_from),
            ("Message-ID", b.message_id),
            ("Date", b.original_date),
        )
        if value
    )
    return (
        f"the returned original says {said}: a sync counts it only against a send from that "
        f"mailbox{', with that Message-ID' if b.message_id else ''}"
        f"{near if b.original_date else ''}"
    )


def _read_file(path: str) -> tuple[bytes, str, int | None]:
    """(the first :data:`MAX_INPUT` bytes of the regular file ``path``, or of standard input
    for ``-``, "", its size in bytes: None for standard input that holds more) or (b"", why
    not, 0)."""
    if path == "-":
        return _read_stdin()
    try:
        # Non-blocking: opening a named pipe would wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return b"", exc.strerror or "cannot be read", 0
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if stat.S_ISCHR(info.st_mode) and os.path.samestat(info, os.stat(os.devnull)):
            return b"", EMPTY, 0  # a script's "no input", as an empty file is
        if not stat.S_ISREG(info.st_mode):
            return b"", "not a regular file", 0
        try:
            data = f.read(MAX_INPUT)
        except OSError as exc:
            return b"", exc.strerror or "cannot be read", 0
    return _unless_mbox(data, max(info.st_size, len(data)))


def _unless_mbox(data: bytes, size: int | None) -> tuple[bytes, str, int | None]:
    if not data:  # a message was asked about and none given: not "not a bounce"
        return b"", EMPTY, 0
    if data.startswith(b"From ") and _MBOX_SEPARATOR.search(data):
        # Read as one message, all but the first of its reports would be silently left out.
        return b"", "an mbox of several messages; save each as a message file", 0
    return data, "", size


def _read_stdin() -> tuple[bytes, str, int | None]:
    """:func:`_read_file` of standard input: as of a file, only its first :data:`MAX_INPUT`
    bytes (``< /dev/zero`` never ends), and one more to tell whether there is more."""
    import sys

    if sys.stdin is None:  # closed ('<&-'): Python has no sys.stdin
        return b"", "standard input is closed; pipe the message in, or give its file", 0
    try:
        data = sys.stdin.buffer.read(MAX_INPUT + 1)
    except OSError as exc:
        return b"", exc.strerror or "cannot be read", 0
    return _unless_mbox(data[:MAX_INPUT], len(data) if len(data) <= MAX_INPUT else None)


# A message of an mbox begins with a "From " line after a blank line ("From " at the start of
# a line of a body is written ">From ").
_MBOX_SEPARATOR = re.compile(rb"\n\r?\nFrom \S+ [^\n]*\d\d:\d\d")
