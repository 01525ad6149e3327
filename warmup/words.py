"""The small grammar of what warmup prints: counts with their nouns."""

from __future__ import annotations

import re


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 send``, ``2 sends``, ``0 sends``; ``nouns`` for a plural not made with -s
    (``plural(2, "mailbox", "mailboxes")``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def printable(text: str) -> str:
    """``text`` with each character that is not printable (controls, escapes, bidirectional
    overrides, line breaks) replaced by U+FFFD: what the bounce parser keeps of a stranger's
    words (:func:`shown` shows text on a terminal instead)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def not_utf8(sample: bytes) -> str:
    """Why a file is refused as not UTF-8, and what to do, guessing what it is from ``sample``
    (its bytes from the start of the line that failed): Excel saves a CSV in the system's code
    page (GBK on Chinese Windows) unless told 'CSV UTF-8', and 'Unicode Text' in UTF-16."""
    import codecs

    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        what = " (it is UTF-16, as Excel's 'Unicode Text' saves)"
    else:
        try:
            codecs.getincrementaldecoder("gb18030")().decode(sample[:4096], final=False)
            what = " (it looks like GBK/GB18030, as Excel's 'CSV' saves on Chinese Windows)"
        except UnicodeDecodeError:
            what = ""
    return f"not UTF-8 text{what}; save it as 'CSV UTF-8 (comma delimited)'"


# What a terminal acts on instead of showing: C0 and C1 controls and DEL (an escape sequence
# retitles the window or clears the screen, a CR overwrites the line), and the bidirectional
# controls that make text read in another order than it is stored. Other format characters
# (a zero-width joiner in an emoji or an Indic word) are text.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """``text`` as a terminal should show text that came from elsewhere (a bounce's recipient
    or diagnostic, a file name, a ledger row): every control character visible as an escape
    (``\\x1b``, ``\\u202e``), nothing else changed. :func:`printable` cleans what the bounce
    parser keeps instead."""
    return _UNSHOWN.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )
